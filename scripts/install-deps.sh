#!/bin/sh
# install-deps.sh - install everything v2v-helpers needs to build, run and test
# on Debian 12.  Idempotent: re-running it on a ready machine changes nothing.
#
# qemu-utils and qemu-system-x86 must be the same Debian version for libguestfs;
# some machines ship a newer qemu-utils (backports), so both are pinned to
# qemu-system-x86's candidate version (downgrading qemu-utils if needed).
set -eu

need_root() { [ "$(id -u)" = 0 ] || { echo "install-deps: must run as root" >&2; exit 1; }; }

PKGS="nbdkit nbdkit-plugin-libvirt libnbd-dev libnbd-bin libnbd0 \
 libguestfs-tools libguestfs-dev libguestfs0 guestfish \
 libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-system \
 qemu-system-x86 qemu-utils linux-image-amd64 \
 virt-v2v debootstrap dpkg-dev openssh-server openssh-client \
 fdisk xfsprogs btrfs-progs lvm2 cryptsetup-bin dosfstools mtools ovmf \
 pkg-config gcc make jq time procps psmisc xz-utils libxml2-utils \
 ntfs-3g libwin-hivex-perl genisoimage"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing="$missing $p"
done
qver_sys=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
qver_utl=$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)

if [ -z "$missing" ] && [ -n "$qver_sys" ] && [ "$qver_sys" = "$qver_utl" ]; then
  echo "install-deps: all packages present"
  exit 0
fi
need_root
export DEBIAN_FRONTEND=noninteractive
if [ ! -e /var/lib/apt/lists/lock ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock | head -1)" ] \
   || [ -z "$(apt-cache policy qemu-system-x86 2>/dev/null | sed -n 's/ *Candidate: //p' | grep -v none)" ]; then
  apt-get update -q
fi
want=$(apt-cache policy qemu-system-x86 | sed -n 's/ *Candidate: //p')
[ -n "$want" ] && [ "$want" != "(none)" ] || { echo "install-deps: no qemu-system-x86 candidate" >&2; exit 1; }
# Install everything, pinning the qemu pair to one version.
pkgs=""
for p in $PKGS; do
  case $p in
    qemu-utils|qemu-system-x86) pkgs="$pkgs $p=$want" ;;
    *) pkgs="$pkgs $p" ;;
  esac
done
# qemu-block-extra and qemu-system-common must follow the same version
# (qemu-system-data is arch-independent and follows by dependency).
extra="qemu-block-extra=$want qemu-system-common=$want"
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends --allow-downgrades $pkgs $extra
# libguestfs needs a readable kernel in /boot to build its appliance.
chmod 0644 /boot/vmlinuz-* 2>/dev/null || true
echo "install-deps: done"
