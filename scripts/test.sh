#!/bin/sh
# test.sh - what CI runs (.ci/run): install the dependencies, build the test
# guest (cached), check formatting and lints, build every binary, run every
# test.  Tests that need a tool or a binary fail when it is missing
# (V2V_TEST_REQUIRE); none is skipped.  See docs/testing.md.
#
# The test guests (the first time ~4 min of debootstrap, then a few
# minutes for all of them, built in parallel) are built in the background
# while cargo lints and builds.
set -eu
cd "$(dirname "$0")/.."
t0=$(date +%s)
step() { echo "==> [$(( $(date +%s) - t0 ))s] $*" >&2; }

step "scripts/install-deps.sh"
sh scripts/install-deps.sh

# libguestfs: nested KVM hangs on our hosts; TCG is slow but works.
export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step "scripts/make-test-guest.sh --all (in the background)"
fx=$(mktemp /tmp/v2v-fixture.XXXXXX)
sh scripts/make-test-guest.sh --all >"$fx" 2>"$fx.err" &
fixture_pid=$!
trap 'rm -f "$fx" "$fx.err"' EXIT

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo build --workspace --bins"
cargo build --workspace --bins

step "waiting for the test guests"
if ! wait "$fixture_pid"; then
  cat "$fx.err" >&2
  echo "test.sh: the test guests could not be built" >&2
  exit 1
fi
cat "$fx.err" >&2
# The default guest (a cache hit now); the tests find the others the same way.
V2V_FIXTURE_DIR=$(sh scripts/make-test-guest.sh 2>/dev/null | tail -n 1)
export V2V_FIXTURE_DIR
step "fixture: $V2V_FIXTURE_DIR"

step "cargo test --workspace"
V2V_TEST_REQUIRE=${V2V_TEST_REQUIRE:-all} cargo test --workspace
step "all tests passed"
