#!/bin/sh
# usage: make-test-guest.sh [NAME]    build test guest NAME (default:
#                                     foreign-guest), or reuse the cached
#                                     build; print its directory (last line)
#        make-test-guest.sh --list    the guests and what each is
#
# The guests are the project's own: scripts/guests/NAME.sh describes one,
# scripts/guests/build.sh builds it (debootstrap, then libguestfs) and
# exports it as VMware would: NAME.raw, NAME.vmdk + NAME.vmx,
# NAME-disk1.vmdk, NAME.ova, a libvirt NAME.xml, and NAME.json (what a
# correct conversion shows when it boots; see scripts/boot-check.sh).
#
# A build is cached in $V2V_GUEST_CACHE/NAME-KEY (default /var/tmp/v2v-guests),
# KEY being a hash of the builder and the guest's file: it is reused while
# they are unchanged and every artefact is still there with the size it was
# built with.  A lock makes concurrent callers wait for one build.  The
# first build needs root and a Debian mirror; 10-15 minutes under TCG.
set -eu
guests=$(cd "$(dirname "$0")/guests" && pwd)
cache=${V2V_GUEST_CACHE:-/var/tmp/v2v-guests}

case ${1:-} in
  -h|--help) sed -n '2,/^set -eu/ { /^set -eu/d; s/^# \{0,1\}//; p; }' "$0"; exit 0 ;;
  --list)
    for f in "$guests"/*.sh; do
      n=$(basename "$f" .sh)
      case $n in build|export) continue ;; esac
      printf '%-16s %s\n' "$n" "$(sed -n 's/^DESCRIPTION="\(.*\)"$/\1/p' "$f")"
    done
    exit 0 ;;
  -*) echo "make-test-guest: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
name=${1:-foreign-guest}
case $name in build|export|*/*|'') echo "make-test-guest: no guest named '$name' (see --list)" >&2; exit 2 ;; esac
[ -f "$guests/$name.sh" ] || { echo "make-test-guest: no guest named '$name' (see --list)" >&2; exit 2; }

key=$(cat "$guests/build.sh" "$guests/export.sh" "$guests/$name.sh" | sha256sum | cut -c1-16)
out=$cache/$name-$key
stamp=$out/.complete
log=$cache/$name-$key.log
artefacts="$name.raw $name.vmdk $name-disk1.vmdk $name.ova $name.vmx $name.xml $name.json"

sizes() { (cd "$out" && for f in $artefacts; do stat -c '%n %s' "$f"; done) 2>/dev/null; }
cached() { [ -f "$stamp" ] && [ "$(sizes)" = "$(cat "$stamp")" ]; }

mkdir -p "$cache"
exec 9>"$cache/.lock-$name"
flock 9
if cached; then
  echo "make-test-guest: using $out" >&2
else
  echo "make-test-guest: building $name in $out (log $log; 10-15 min the first time)" >&2
  rm -rf "$out"
  if ! bash "$guests/build.sh" "$name" "$out" >"$log" 2>&1; then
    echo "make-test-guest: building $name failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  sizes >"$stamp.tmp" && mv "$stamp.tmp" "$stamp"
  cached || { echo "make-test-guest: $name: artefacts missing after the build" >&2; exit 1; }
  # Older builds of this guest are stale.
  for d in "$cache/$name"-????????????????*; do
    [ "$d" = "$out" ] || [ "$d" = "$log" ] || rm -rf "$d"
  done
fi
echo "$out"
