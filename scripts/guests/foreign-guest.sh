# guests/foreign-guest.sh - the default test guest: Debian 12 on BIOS, one
# disk, MBR, ext4 root on /dev/sda1 and swap on /dev/sda2, both named by
# kernel device name in fstab and on the kernel command line, as guests
# installed on VMware's LSI Logic controller often are.  Sourced by
# guests/build.sh (see there for what a guest file defines).

DESCRIPTION="Debian 12, BIOS + GRUB, ext4 root on /dev/sda1, swap /dev/sda2 (the default)"
DISKS=3072
FIRMWARE=bios
SWAP_MIB=256

guest_disks() {
  partition "$DEV1" <<SFDISK
label: dos
start=2048, size=$(((3072 - SWAP_MIB) * 2048 - 2048)), type=83, bootable
type=82
SFDISK
  mkfs.ext4 -q -L root "${DEV1}p1"
  mkswap -L swap "${DEV1}p2" >/dev/null
  mount "${DEV1}p1" "$MNT"
}

guest_configure() {
  cat >"$TREE/etc/fstab" <<'FSTAB'
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/sda1       /             ext4   errors=remount-ro 0 1
/dev/sda2       none          swap   sw                0 0
FSTAB
  sed -i 's|^GRUB_CMDLINE_LINUX="\(.*\)"|GRUB_CMDLINE_LINUX="\1 resume=/dev/sda2"|' \
    "$TREE/etc/default/grub"
  echo RESUME=/dev/sda2 >"$TREE/etc/initramfs-tools/conf.d/resume"
}

guest_expect() {
  echo '{"firmware": "bios", "root": "/dev/vda1", "mounts": "/=/dev/vda1"}'
}
