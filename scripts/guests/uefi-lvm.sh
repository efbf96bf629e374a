# guests/uefi-lvm.sh - Debian 12 on UEFI only: GPT with an ESP (vfat,
# /boot/efi) and grub-efi-amd64 (no BIOS boot partition), a separate ext4
# /boot, the root XFS on LVM (VG vg0, LV root, /dev/mapper/vg0-root in
# fstab), and a static IPv4 address on ens33 with ifupdown.  Sourced by
# guests/build.sh (see there for what a guest file defines).

DESCRIPTION="Debian 12, UEFI + grub-efi, ESP, ext4 /boot, XFS root on LVM vg0/root, static IPv4 on ens33 (ifupdown)"
DISKS=3072
FIRMWARE=uefi
PACKAGES_EXTRA="grub-efi-amd64 lvm2 xfsprogs dosfstools ifupdown"
MODULES_EXTRA="xfs dm_mod"
ADDRESS=192.168.122.50/24
ROOT_DEVICE=/dev/mapper/vg0-root

guest_disks() {
  partition "$DEV1" <<'SFDISK'
label: gpt
size=128MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI System Partition"
size=256MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
type=E6D6D379-F507-44C2-A23C-238F2A3DF928
SFDISK
  mkfs.vfat -F 32 -n EFI "${DEV1}p1" >/dev/null
  mkfs.ext4 -q -L boot "${DEV1}p2"
  lvm_setup "${DEV1}p3" vg0 root
  mkfs.xfs -q -L root "$LV_DEV"
  mount "$LV_DEV" "$MNT"
  mkdir "$MNT/boot"
  mount "${DEV1}p2" "$MNT/boot"
  mkdir "$MNT/boot/efi"
  ESP=${DEV1}p1
}

guest_configure() {
  cat >"$TREE/etc/fstab" <<FSTAB
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/mapper/vg0-root /         xfs  defaults  0 0
UUID=$(blkid -s UUID -o value "${DEV1}p2") /boot ext4 defaults 0 2
UUID=$(blkid -s UUID -o value "${DEV1}p1") /boot/efi vfat umask=0077 0 1
FSTAB
  cat >"$TREE/etc/network/interfaces" <<IFACES
auto lo
iface lo inet loopback

allow-hotplug ens33
iface ens33 inet static
	address $ADDRESS
	gateway 192.168.122.1
IFACES
}

guest_expect() {
  jq -n --arg a "$ADDRESS" '{firmware: "uefi", root: "/dev/mapper/vg0-root",
    mounts: "/=/dev/mapper/vg0-root,/boot=/dev/vda2,/boot/efi=/dev/vda1", addrs: $a}'
}
