# guests/luks.sh - Debian 12 on BIOS with its root ext4 inside LUKS2:
# /dev/sda1 ext4 /boot, /dev/sda2 LUKS (opened as sda2_crypt), unlocked at
# boot by a key file in the initramfs (cryptsetup-initramfs, KEYFILE_PATTERN,
# crypttab naming the key file), so it boots unattended.  The passphrase
# (key slot 0) is in NAME.json for the conversion's --key.  Sourced by
# guests/build.sh (see there for what a guest file defines).

DESCRIPTION="Debian 12, BIOS, ext4 /boot on /dev/sda1, ext4 root in LUKS2 on /dev/sda2 (key file in the initramfs; passphrase in NAME.json)"
DISKS=1280
FIRMWARE=bios
PACKAGES_EXTRA="cryptsetup-initramfs"
# xts needs ecb when the CPU has no AES-NI (qemu's TCG CPU), which the
# cryptsetup hook only adds when the build host lacks it too (Debian #883595).
MODULES_EXTRA="dm_mod dm_crypt xts ecb"
ROOT_DEVICE=/dev/mapper/sda2_crypt
PASSPHRASE=v2v-test-luks
LUKS_UUID=3d5e8c6f-2f4b-4c43-9a53-6b0e6c2a1f70

guest_disks() {
  partition "$DEV1" <<'SFDISK'
label: dos
start=2048, size=256MiB, type=83, bootable
type=83
SFDISK
  mkfs.ext4 -q -L boot "${DEV1}p1"
  head -c 64 /dev/urandom >"$WORK/root.key"
  luks_setup "${DEV1}p2" "$LUKS_UUID" "$PASSPHRASE" "$WORK/root.key"
  mkfs.ext4 -q -L root "$LUKS_PLAIN"
  mount "$LUKS_PLAIN" "$MNT"
  mkdir "$MNT/boot"
  mount "${DEV1}p1" "$MNT/boot"
}

guest_configure() {
  cat >"$TREE/etc/fstab" <<FSTAB
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/mapper/sda2_crypt /     ext4 errors=remount-ro 0 1
UUID=$(blkid -s UUID -o value "${DEV1}p1") /boot ext4 defaults 0 2
FSTAB
  install -d -m 0700 "$TREE/etc/keys"
  install -m 0400 "$WORK/root.key" "$TREE/etc/keys/root.key"
  echo "sda2_crypt UUID=$LUKS_UUID /etc/keys/root.key luks,discard,key-slot=1,initramfs" \
    >"$TREE/etc/crypttab"
  echo 'KEYFILE_PATTERN="/etc/keys/*.key"' >>"$TREE/etc/cryptsetup-initramfs/conf-hook"
  echo UMASK=0077 >>"$TREE/etc/initramfs-tools/initramfs.conf"
}

guest_expect() {
  echo '{"firmware": "bios", "root": "/dev/mapper/sda2_crypt",
    "mounts": "/=/dev/mapper/sda2_crypt,/boot=/dev/vda1"}'
}

guest_json() {
  jq -n --arg p "$PASSPHRASE" \
    '{virt_v2v_args: ["--key", ("/dev/sda2:key:" + $p)], luks: {device: "/dev/sda2", passphrase: $p}}'
}
