# guests/btrfs-data.sh - Debian 12 on BIOS, two disks: the root btrfs on
# /dev/sda1 with subvolumes @ (/) and @home (/home), mounted by subvolume in
# fstab; on the second disk an ext4 /data mounted from /dev/sdb1 and swap
# on /dev/sdb2, both named by device in fstab; a static IPv4 address on
# ens33 with systemd-networkd (matched by Name=, no ifupdown).  Sourced by
# guests/build.sh (see there for what a guest file defines).

DESCRIPTION="Debian 12, BIOS, btrfs root (subvolumes @, @home), second disk: /data on /dev/sdb1, swap /dev/sdb2, static IPv4 (systemd-networkd)"
DISKS="3072 1024"
FIRMWARE=bios
PACKAGES_EXTRA="btrfs-progs"
MODULES_EXTRA="btrfs"
ADDRESS=192.168.122.60/24

guest_disks() {
  partition "$DEV1" <<'SFDISK'
label: dos
start=2048, type=83, bootable
SFDISK
  partition "$DEV2" <<'SFDISK'
label: dos
start=2048, size=768MiB, type=83
type=82
SFDISK
  mkfs.btrfs -q -L root "${DEV1}p1"
  mkdir "$WORK/top"
  mount "${DEV1}p1" "$WORK/top"
  btrfs -q subvolume create "$WORK/top/@"
  btrfs -q subvolume create "$WORK/top/@home"
  umount "$WORK/top"
  mount -o subvol=@ "${DEV1}p1" "$MNT"
  mkdir "$MNT/home" "$MNT/data"
  mount -o subvol=@home "${DEV1}p1" "$MNT/home"
  mkfs.ext4 -q -L data "${DEV2}p1"
  mkswap -L swap "${DEV2}p2" >/dev/null
  mount "${DEV2}p1" "$MNT/data"
}

guest_configure() {
  local uuid
  uuid=$(blkid -s UUID -o value "${DEV1}p1")
  cat >"$TREE/etc/fstab" <<FSTAB
# <file system> <mount point> <type> <options> <dump> <pass>
UUID=$uuid /     btrfs defaults,subvol=@     0 0
UUID=$uuid /home btrfs defaults,subvol=@home 0 0
/dev/sdb1 /data ext4 defaults 0 2
/dev/sdb2 none  swap sw       0 0
FSTAB
  echo "v2v test data on /dev/sdb1" >"$TREE/data/README"
  # systemd-networkd, not ifupdown.
  rm -f "$TREE/etc/network/interfaces"
  cat >"$TREE/etc/systemd/network/10-ens33.network" <<NETWORK
[Match]
Name=ens33

[Network]
Address=$ADDRESS
Gateway=192.168.122.1
NETWORK
  chroot "$TREE" systemctl -q enable systemd-networkd.service
}

guest_expect() {
  jq -n --arg a "$ADDRESS" '{firmware: "bios", root: "/dev/vda1[/@]",
    mounts: "/=/dev/vda1[/@],/data=/dev/vdb1,/home=/dev/vda1[/@home]", addrs: $a}'
}
