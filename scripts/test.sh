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
# Every command the e2e tests run appends "KIND SECONDS TEST" here (boot
# checks, runs that launched the appliance, the rest): summed below, for
# the time breakdown of docs/testing.md.
times=$(mktemp /tmp/v2v-test-times.XXXXXX)
trap 'rm -f "$fx" "$fx.err" "$times"' EXIT
rc=0
V2V_TEST_TIMES=$times V2V_TEST_REQUIRE=${V2V_TEST_REQUIRE:-all} cargo test --workspace || rc=$?
step "cargo test finished (exit $rc); time inside the e2e tests' commands, summed over the parallel tests:"
awk '{ n[$1]++; s[$1] += $2; t[$3] += $2; m = $3; sub(/::.*/, "", m); mod[m] += $2 }
     END {
       for (k in n) printf "  %-10s %4d runs %8.0f s\n", k, n[k], s[k]
       print "  per module (their commands, summed):"
       for (k in mod) printf "%8.0f s  %s\n", mod[k], k | "sort -rn"
       close("sort -rn")
       print "  slowest tests (their commands, summed):"
       for (k in t) printf "%8.0f s  %s\n", t[k], k | "sort -rn | head -12"
     }' "$times" >&2
[ "$rc" -eq 0 ] || exit "$rc"
step "all tests passed"
