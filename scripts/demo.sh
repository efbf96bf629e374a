#!/bin/sh
# demo.sh [DISK] - the whole job on a fresh Debian 12 machine (as root):
# install the dependencies, build v2v-helpers (--release), and convert DISK
# with `virt-v2v -i disk DISK -o local -os OUT`.
#
# Without DISK it converts the demo guest (a Debian guest exported from
# "VMware", built once by scripts/make-test-guest.sh, 10-15 min the first
# time) and boots the result on virtio to show it works.  If the demo guest
# cannot be built (no network for debootstrap, say), it makes a tiny disk
# with an ext4 filesystem on the spot and copies it with --no-convert (there
# is no OS on it to convert).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cargo build --release --workspace --bins
PATH=${CARGO_TARGET_DIR:-$PWD/target}/release:$PATH
# helper-v2v-convert uses KVM where it works and falls back to TCG by itself
# (a bounded probe) where KVM is present but hangs, as on nested hosts.
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}

work=$(mktemp -d /var/tmp/v2v-demo.XXXXXX)
out=$work/converted
mkdir "$out"
noconvert= boot=
if [ $# -ge 1 ]; then
  disk=$1
elif fixture=$(sh scripts/make-test-guest.sh); then
  disk=$fixture/foreign-guest.raw
  boot=1
else
  echo "demo: the demo guest could not be built; copying a tiny disk instead" >&2
  mkdir -p "$work/tree/etc"
  echo demo > "$work/tree/etc/hostname"
  disk=$work/demo.raw
  truncate -s 64M "$disk"
  mkfs.ext4 -q -F -d "$work/tree" "$disk"
  rm -rf "$work/tree"
  noconvert=--no-convert
fi

echo "demo: virt-v2v $noconvert -i disk $disk -o local -os $out" >&2
virt-v2v $noconvert -i disk "$disk" -o local -os "$out"
ls -ls "$out"
if [ -n "$boot" ]; then
  echo "demo: booting the converted guest on virtio (TCG, 1-3 min)" >&2
  bash scripts/boot-check.sh --expect "$fixture/foreign-guest.json" "$out/foreign-guest-sda"
fi
echo "demo: the converted guest is in $out"
