#!/bin/sh
# usage: make-test-guest.sh [NAME...]  build test guest NAME (default:
#                                     foreign-guest), or reuse the cached
#                                     build; print its directory (last line)
#        make-test-guest.sh --all     build every test guest (not the
#                                     bench-only ones: BENCH_ONLY=1)
#        make-test-guest.sh --list    the guests and what each is
#
# The guests are the project's own: scripts/guests/NAME.sh describes one,
# scripts/guests/build.sh builds it natively (debootstrap; loop devices,
# mkfs, LVM, LUKS on the host; initramfs and GRUB in a chroot) and exports
# it as VMware would: NAME.raw (and NAME_1.raw... for more disks),
# NAME.vmdk + NAME.vmx (NAME_1.vmdk...), NAME-disk1.vmdk..., NAME.ova, a
# libvirt NAME.xml, and NAME.json (the disks, the extra virt-v2v arguments
# the guest needs, and what a correct conversion shows when it boots; see
# scripts/boot-check.sh).
#
# With several names (or --all) the guests are built in parallel, and their
# directories printed in the order given, one a line.
#
# A build is cached in $V2V_GUEST_CACHE/NAME-KEY (default /var/tmp/v2v-guests),
# KEY being a hash of the builder and the guest's file (and of the
# variables its KEY_ENV line names, e.g. big-data's BIG_DATA_MIB): it is reused while
# they are unchanged and every file is still there with the size it was
# built with.  A lock makes concurrent callers wait for one build.  Needs
# root and loop devices; the first build also a Debian mirror (debootstrap,
# ~4 min once), then about a minute a guest.
set -eu
guests=$(cd "$(dirname "$0")/guests" && pwd)
cache=${V2V_GUEST_CACHE:-/var/tmp/v2v-guests}

# all [--bench]: the test guests (with --bench, also the bench-only ones).
all() {
  for f in "$guests"/*.sh; do
    n=$(basename "$f" .sh)
    case $n in build | export) continue ;; esac
    [ "${1:-}" = --bench ] || ! bench_only "$n" || continue
    echo "$n"
  done
}
bench_only() { grep -qx 'BENCH_ONLY=1' "$guests/$1.sh"; }
case ${1:-} in
  -h | --help) sed -n '2,/^set -eu/ { /^set -eu/d; s/^# \{0,1\}//; p; }' "$0"; exit 0 ;;
  --list)
    for n in $(all --bench); do
      b=; ! bench_only "$n" || b="[bench only, not in --all] "
      printf '%-16s %s%s\n' "$n" "$b" "$(sed -n 's/^DESCRIPTION="\(.*\)"$/\1/p' "$guests/$n.sh")"
    done
    exit 0 ;;
  --all) set -- $(all) ;;
  -*) echo "make-test-guest: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
[ $# -gt 0 ] || set -- foreign-guest
for name in "$@"; do
  case $name in build | export | */* | '' | -*) echo "make-test-guest: no guest named '$name' (see --list)" >&2; exit 2 ;; esac
  [ -f "$guests/$name.sh" ] || { echo "make-test-guest: no guest named '$name' (see --list)" >&2; exit 2; }
done

# build_one NAME: build or reuse NAME; print its directory.
build_one() {
  name=$1
  key=$({
    cat "$guests/build.sh" "$guests/export.sh" "$guests/$name.sh"
    for v in $(sed -n 's/^KEY_ENV="\(.*\)"$/\1/p' "$guests/$name.sh"); do
      case $v in '' | *[!A-Za-z0-9_]*) echo "make-test-guest: $name: bad KEY_ENV $v" >&2; exit 2 ;; esac
      eval "echo \"$v=\${$v:-}\""
    done
  } | sha256sum | cut -c1-16)
  out=$cache/$name-$key
  stamp=$out/.complete
  log=$cache/$name-$key.log

  mkdir -p "$cache"
  exec 9>"$cache/.lock-$name"
  flock 9
  if cached; then
    echo "make-test-guest: using $out" >&2
  else
    echo "make-test-guest: building $name in $out (log $log)" >&2
    rm -rf "$out"
    if ! bash "$guests/build.sh" "$name" "$out" >"$log" 2>&1; then
      echo "make-test-guest: building $name failed; last lines of $log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    sizes >"$stamp.tmp" && mv "$stamp.tmp" "$stamp"
    cached || { echo "make-test-guest: $name: artefacts missing after the build" >&2; exit 1; }
    echo "make-test-guest: built $name: $(tail -n 1 "$log")" >&2
    # Older builds of this guest are stale, once untouched for an hour
    # (another checkout, with another version of the builder, may be
    # building or using one).
    find "$cache" -mindepth 1 -maxdepth 1 -name "$name-????????????????*" -mmin +60 |
      while read -r d; do
        [ "$d" = "$out" ] || [ "$d" = "$log" ] || rm -rf "$d"
      done
  fi
  echo "$out"
}
# Every file of the build and its size (NAME.json lists the disks).
sizes() { (cd "$out" && for f in *; do stat -c '%n %s' "$f"; done) 2>/dev/null; }
cached() {
  [ -f "$stamp" ] && [ "$(sizes)" = "$(cat "$stamp")" ] && [ -f "$out/$name.json" ] &&
    [ -f "$out/$name.raw" ] && [ -f "$out/$name.xml" ] &&
    { raw_only "$name" || { [ -f "$out/$name.ova" ] && [ -f "$out/$name.vmx" ]; }; }
}
# raw_only NAME: NAME's guest file asks for no VMware exports (EXPORTS=raw).
raw_only() { grep -qx 'EXPORTS=raw' "$guests/$1.sh"; }

if [ $# = 1 ]; then
  build_one "$1"
  exit 0
fi
# Several: in parallel, each printing into its own file.
tmp=$(mktemp -d /tmp/make-test-guest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pids=
for name in "$@"; do
  (build_one "$name" >"$tmp/$name") &
  pids="$pids $!"
done
rc=0
for p in $pids; do wait "$p" || rc=1; done
[ $rc = 0 ] || { echo "make-test-guest: some guests failed to build" >&2; exit 1; }
for name in "$@"; do cat "$tmp/$name"; done
