#!/bin/sh
# usage: make-windows-guest.sh NAME     build phony Windows guest NAME, or
#                                       reuse the cached build; print its
#                                       directory (last line)
#        make-windows-guest.sh --list   the guests and what each is
#
# The guests are the project's own, with no Windows at hand: a disk with an
# NTFS C: holding Windows\System32\config\SYSTEM and SOFTWARE hives made from
# the .reg text in scripts/guests/windows/, a System32\cmd.exe that is a
# PE32+ header, a "VMware Tools" Uninstall entry; see
# scripts/guests/windows/build.sh for what the directory holds (NAME.raw,
# NAME.json, a fake virtio-win/ tree and virt-tools/rhsrvany.exe).  Needs
# root (ntfs-3g mounts through FUSE), mkntfs, mkfs.vfat, mtools, sfdisk,
# hivexregedit; a few seconds, no appliance.
#
# Cached in $V2V_GUEST_CACHE/NAME-KEY (default /var/tmp/v2v-guests), KEY a
# hash of every file in scripts/guests/windows/ and of scripts/guests/export.sh.
set -eu
guests=$(cd "$(dirname "$0")/guests/windows" && pwd)
cache=${V2V_GUEST_CACHE:-/var/tmp/v2v-guests}
case ${1:-} in
  -h|--help|'') sed -n '2,/^set -eu/ { /^set -eu/d; s/^# \{0,1\}//; p; }' "$0"; [ -n "${1:-}" ]; exit $? ;;
  --list)
    for f in "$guests"/*.sh; do
      n=$(basename "$f" .sh)
      [ "$n" = build ] && continue
      printf '%-16s %s\n' "$n" "$(sed -n 's/^DESCRIPTION="\(.*\)"$/\1/p' "$f")"
    done
    exit 0 ;;
  -*) echo "make-windows-guest: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
name=$1
case $name in build|*/*) name= ;; esac
[ -n "$name" ] && [ -f "$guests/$name.sh" ] || { echo "make-windows-guest: no Windows guest named '$1' (see --list)" >&2; exit 2; }
# The key covers the OVF writer shared with the Linux guests (export.sh) too.
key=$(cd "$guests" && cat $(ls) ../export.sh | sha256sum | cut -c1-16)
out=$cache/$name-$key
mkdir -p "$cache"
exec 9>"$cache/.lock-$name"
flock 9
if [ -f "$out/.complete" ] && [ -f "$out/$name.raw" ]; then
  echo "make-windows-guest: using $out" >&2
else
  echo "make-windows-guest: building $name in $out" >&2
  rm -rf "$out"
  if ! bash "$guests/build.sh" "$name" "$out" >"$out.log" 2>&1; then
    echo "make-windows-guest: building $name failed; last lines of $out.log:" >&2
    tail -n 20 "$out.log" >&2
    rm -rf "$out"
    exit 1
  fi
  touch "$out/.complete"
  for d in "$cache/$name"-????????????????*; do
    [ "$d" = "$out" ] || [ "$d" = "$out.log" ] || rm -rf "$d"
  done
fi
echo "$out"
