#!/bin/sh
# make-test-guest.sh - build the test guest once and print the directory that
# holds it (the last line of stdout).
#
# Runs ../shared/fixtures/make-foreign-guest.sh (relative to the repository's
# root) and caches its output under /var/tmp/v2v-fixture/out-KEY, where KEY is
# a content hash of the fixture scripts: a cached build is reused while the
# scripts are unchanged and every artefact is still there with the size it
# was built with.  A lock makes concurrent callers wait for one build.
#
# Env: V2V_FIXTURES (fixture scripts directory), V2V_FIXTURE_CACHE (default
#      /var/tmp/v2v-fixture), V2V_FIXTURE_LOG (build log; default CACHE/build.log).
# Needs root (debootstrap, chroot), libguestfs, qemu-utils, network access to
# a Debian mirror the first time (the debootstrap tree is cached too).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
root=$(git -C "$top" rev-parse --show-toplevel 2>/dev/null || echo "$top")
fixtures=${V2V_FIXTURES:-$root/../shared/fixtures}
[ -f "$fixtures/make-foreign-guest.sh" ] || {
  echo "make-test-guest: $fixtures/make-foreign-guest.sh not found" >&2; exit 1; }
fixtures=$(cd "$fixtures" && pwd)
cache=${V2V_FIXTURE_CACHE:-/var/tmp/v2v-fixture}
key=$(cat "$fixtures"/*.sh | sha256sum | cut -c1-16)
out=$cache/out-$key
stamp=$out/.v2v-fixture-complete
log=${V2V_FIXTURE_LOG:-$cache/build-$key.log}
ARTEFACTS="foreign-guest.raw foreign-guest-disk1.vmdk foreign-guest.ova
 foreign-guest.vmdk foreign-guest.vmx foreign-guest.xml"

sizes() { (cd "$out" && for f in $ARTEFACTS; do stat -c '%n %s' "$f"; done) 2>/dev/null; }
cached() { [ -f "$stamp" ] && [ "$(sizes)" = "$(cat "$stamp")" ]; }

mkdir -p "$cache"
exec 9>"$cache/.lock-$key"
flock 9
if cached; then
  echo "make-test-guest: using cached fixture $out (key $key)" >&2
else
  [ "$(id -u)" = 0 ] || { echo "make-test-guest: building the fixture needs root" >&2; exit 1; }
  echo "make-test-guest: building the fixture in $out (key $key; log $log; 10-15 min)" >&2
  rm -rf "$out"
  mkdir -p "$out"
  if ! WORKDIR=$cache OUTDIR=$out bash "$fixtures/make-foreign-guest.sh" >"$log" 2>&1; then
    echo "make-test-guest: make-foreign-guest.sh failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  sizes > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
  cached || { echo "make-test-guest: artefacts missing after the build" >&2; exit 1; }
  # Keep the cache small: other keys' outputs are stale.
  for d in "$cache"/out-*; do
    [ "$d" = "$out" ] || rm -rf "$d"
  done
fi
echo "$out"
