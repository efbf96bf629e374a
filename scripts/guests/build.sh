#!/bin/bash
# guests/build.sh NAME OUTDIR - build test guest NAME (defined by
# scripts/guests/NAME.sh) into OUTDIR, as VMware would have exported it.
# Called by scripts/make-test-guest.sh, which caches the result; run that
# instead.  Needs root with loop devices (losetup, partx), debootstrap,
# sfdisk, the mkfs of the guest's filesystems, qemu-img, dpkg-deb, jq and a
# Debian mirror the first time (the debootstrap trees and the downloaded
# packages are cached under $V2V_GUEST_CACHE).
#
# Everything happens on the host, natively: the disk images are attached to
# loop devices, partitioned, formatted (LVM, LUKS, btrfs...) and mounted;
# the Debian tree is copied in; the initramfs and GRUB are made in a chroot
# of the mounted guest with a private /dev holding only its own devices.
#
# A guest file sets:
#   DESCRIPTION       one line, for --list
#   DISKS             the disks' sizes in MiB, first (boot) disk first
#   FIRMWARE          bios (GRUB for i386-pc in the MBR gap) or uefi (GRUB
#                     for x86_64-efi on the ESP, the partition ESP names)
#   ROOT_DEVICE       the root= GRUB gives the kernel, when it is not the
#                     root filesystem's UUID (LVM, LUKS)
#   PACKAGES_EXTRA    Debian packages added to the common tree
#   MODULES_EXTRA     kernel modules added to the initramfs's list
#   EXPORTS           vmware (default: the VMDKs, OVA and VMX below) or raw
#                     (only the raw disks, the libvirt XML and NAME.json: a
#                     bench guest of tens of GiB would need three times its
#                     size for exports nothing reads)
# and defines:
#   guest_disks       partitions $DEV1, $DEV2... (loop devices of the disks)
#                     with the helpers below, makes the filesystems and
#                     mounts the root on $MNT, the others under it
#   guest_configure   edits the guest's tree in $TREE (= $MNT): fstab,
#                     crypttab, network, boot loader defaults
#   guest_expect      prints the JSON object "boot" of NAME.json: what the
#                     marker line of a correctly converted guest shows
# and may define:
#   guest_json        prints a JSON object merged into NAME.json (e.g.
#                     virt_v2v_args)
set -euo pipefail

NAME=$1
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${V2V_GUEST_CACHE:-/var/tmp/v2v-guests}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
t0=$(date +%s)
say() { echo "[$(($(date +%s) - t0))s] build $NAME: $*" >&2; }
die() { echo "build $NAME: error: $*" >&2; exit 1; }

[ -f "$HERE/$NAME.sh" ] || die "no guest definition $HERE/$NAME.sh"
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, loop devices)"
for tool in debootstrap losetup partx sfdisk blkid mkfs.ext4 qemu-img dpkg-deb jq lsinitramfs \
  sha256sum flock fstrim cryptsetup lvm mkfs.xfs mkfs.btrfs mkfs.vfat mcopy; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/install-deps.sh)"
done

DESCRIPTION= DISKS=3072 FIRMWARE=bios PACKAGES_EXTRA= MODULES_EXTRA=
EXPORTS=vmware
guest_json() { echo '{}'; }
# shellcheck source=/dev/null
. "$HERE/$NAME.sh"
case $FIRMWARE in bios | uefi) ;; *) die "firmware $FIRMWARE: not bios or uefi" ;; esac

PACKAGES=linux-image-amd64,grub-pc,systemd-sysv,udev,kmod,initramfs-tools
# Every guest: iproute2 for the marker's addresses.
EXTRA=$(printf '%s\n' iproute2 $PACKAGES_EXTRA | sort -u | paste -sd' ' -)
# Beside OUT: builds of other versions of the builder (other checkouts
# share the cache) never share it.
WORK=$OUT.work
MNT=$WORK/mnt
TREE=$MNT
mkdir -p "$CACHE/debs" "$OUT"
rm -rf "$WORK"
mkdir -p "$WORK" "$MNT"

# --- cleanup: whatever the build attached is released ----------------------
LOOPS=()
cleanup() {
  local rc=$? i
  set +e
  if mountpoint -q "$MNT"; then
    umount -R "$MNT" 2>/dev/null || { sleep 1; umount -R -l "$MNT"; }
  fi
  for ((i = ${#LOOPS[@]} - 1; i >= 0; i--)); do
    partx -d "${LOOPS[$i]}" 2>/dev/null
    losetup -d "${LOOPS[$i]}"
  done
  [ $rc = 0 ] || echo "build $NAME: failed (exit $rc); its loop devices are released" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers for guest_disks ------------------------------------------------
# No device-mapper is needed (the hosts this runs on may have none): LVM
# volumes are reached through loop devices at their extents, and the LUKS
# volume is encrypted in place, offline, once its content is complete.

# partition DEV < sfdisk-script: writes the partition table and makes the
# kernel show DEVpN.
partition() {
  local dev=$1 n
  sfdisk -q --wipe always "$dev" >/dev/null
  partx -a "$dev" 2>/dev/null || partx -u "$dev"
  for n in $(partx -g -o NR "$dev"); do
    for _ in $(seq 50); do [ -b "${dev}p$n" ] && break; sleep 0.1; done
    [ -b "${dev}p$n" ] || die "partition ${dev}p$n did not appear"
  done
}
# loop [losetup options] FILE-OR-DEV: attach a loop device (detached on
# exit), named in LOOP.
loop() {
  LOOP=$(losetup -f --show "$@") || die "losetup $*: failed"
  LOOPS+=("$LOOP")
}
export LVM_SUPPRESS_FD_WARNINGS=1
lvm() {
  command lvm "$1" --driverloaded n --config "devices { obtain_device_list_from_udev = 0
    global_filter = [ \"a|^$LVM_PV\$|\", \"r|.*|\" ] }" "${@:2}" 2>&1 |
    { grep -v 'Activation disabled\|not zeroed' >&2 || true; }
}
# lvm_setup PV VG LV: a volume group VG on PV with one linear LV using all
# of it; sets LV_DEV, a loop device on the LV's extents (what
# /dev/mapper/VG-LV is once the guest runs).
lvm_setup() {
  LVM_PV=$1
  local vg=$2 lv=$3 pe_start ranges size
  lvm pvcreate -q "$LVM_PV"
  lvm vgcreate -q "$vg" "$LVM_PV"
  lvm lvcreate -q -y -an -Zn -n "$lv" -l 100%FREE "$vg"
  pe_start=$(command lvm pvs --driverloaded n --noheadings --nosuffix --units b -o pe_start \
    --config "devices { global_filter = [ \"a|^$LVM_PV\$|\", \"r|.*|\" ] }" "$LVM_PV" 2>/dev/null | tr -d ' ')
  read -r ranges size < <(command lvm lvs --driverloaded n --noheadings --nosuffix --units b \
    -o seg_pe_ranges,lv_size \
    --config "devices { global_filter = [ \"a|^$LVM_PV\$|\", \"r|.*|\" ] }" "$vg/$lv" 2>/dev/null)
  case $ranges in "$LVM_PV:0-"*) ;; *) die "LV $vg/$lv: unexpected extents '$ranges'" ;; esac
  loop -o "$pe_start" --sizelimit "$size" "$LVM_PV"
  LV_DEV=$LOOP
}
# luks_setup DEV UUID PASSPHRASE KEYFILE: DEV becomes LUKS2 (UUID), its
# passphrase in key slot 0 and KEYFILE in slot 1; sets LUKS_PLAIN, the loop
# device of a file standing for the decrypted volume until luks_finish
# encrypts it into DEV.  Meanwhile DEV holds a LUKS header with the final
# UUID and cipher, for the initramfs's cryptsetup hook to inspect.  The key
# derivation is cheap on purpose: the guest unlocks it at every boot, under
# TCG.
LUKS_KDF=(--pbkdf argon2id --pbkdf-memory 32768 --pbkdf-parallel 1 --pbkdf-force-iterations 4)
LUKS_SHIFT_MIB=32
luks_setup() {
  LUKS_DEV=$1 LUKS_UUID=$2 LUKS_PASS=$3 LUKS_KEYFILE=$4
  printf '%s' "$LUKS_PASS" | cryptsetup luksFormat -q --type luks2 --uuid "$LUKS_UUID" \
    "${LUKS_KDF[@]}" --key-file - "$LUKS_DEV"
  local bytes
  bytes=$(blockdev --getsize64 "$LUKS_DEV")
  rm -f "$WORK/luks-plain.img"
  truncate -s $((bytes - LUKS_SHIFT_MIB * 1048576)) "$WORK/luks-plain.img"
  loop "$WORK/luks-plain.img"
  LUKS_PLAIN=$LOOP
}
luks_finish() {
  say "encrypting $LUKS_DEV (LUKS2, offline)"
  dd if="$WORK/luks-plain.img" of="$LUKS_DEV" bs=4M conv=notrunc status=none
  rm -f "$WORK/luks-plain.img"
  printf '%s' "$LUKS_PASS" | cryptsetup reencrypt -q --encrypt --type luks2 --uuid "$LUKS_UUID" \
    --reduce-device-size "${LUKS_SHIFT_MIB}M" "${LUKS_KDF[@]}" --key-file - "$LUKS_DEV"
  printf '%s' "$LUKS_PASS" | cryptsetup luksAddKey -q "${LUKS_KDF[@]}" --key-file - \
    --new-key-slot 1 "$LUKS_DEV" "$LUKS_KEYFILE"
}

# --- the Debian tree ------------------------------------------------------
# One debootstrap per package list, then one copy of it per list of extra
# packages; both reused by every guest and every build (locked: guests are
# built in parallel).
base=$CACHE/base-$SUITE-$(printf '%s' "$PACKAGES" | sha256sum | cut -c1-12)
exec 8>"$CACHE/.lock-base"
flock 8
if [ ! -f "$base.ok" ]; then
  say "debootstrap $SUITE into $base (a few minutes, once)"
  rm -rf "$base"
  debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$CACHE/debs" \
    "$SUITE" "$base" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  touch "$base.ok"
fi
flock -u 8
tree=$base-x$(printf '%s' "$EXTRA" | sha256sum | cut -c1-12)
exec 8>"$tree.lock"
flock 8
if [ ! -f "$tree.ok" ]; then
  say "adding $EXTRA to a copy of the tree (once)"
  rm -rf "$tree"
  cp -a "$base" "$tree"
  cp /etc/resolv.conf "$tree/etc/resolv.conf"
  mount -t proc proc "$tree/proc"
  # No daemon starts, and no initramfs is made for nothing (the build makes it).
  printf '#!/bin/sh\nexit 101\n' >"$tree/usr/sbin/policy-rc.d"
  chmod 755 "$tree/usr/sbin/policy-rc.d"
  echo update_initramfs=no >>"$tree/etc/initramfs-tools/update-initramfs.conf"
  # shellcheck disable=SC2086
  if ! chroot "$tree" /usr/bin/env DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c "apt-get -q update && apt-get -q -y -o Dir::Cache::archives=/var/cache/apt/archives \
      install --no-install-recommends $EXTRA" >"$WORK/apt.log" 2>&1; then
    umount "$tree/proc"
    tail -n 20 "$WORK/apt.log" >&2
    die "installing $EXTRA failed"
  fi
  umount "$tree/proc"
  sed -i '/^update_initramfs=no$/d' "$tree/etc/initramfs-tools/update-initramfs.conf"
  rm -f "$tree/usr/sbin/policy-rc.d"
  chroot "$tree" apt-get clean
  touch "$tree.ok"
fi
flock -u 8
exec 8>&-
KVER=$(ls "$tree/usr/lib/modules" | sort -V | tail -n 1)
say "kernel $KVER"

# --- the disks ------------------------------------------------------------
RAWS=()
i=0
for mib in $DISKS; do
  if [ $i = 0 ]; then raw=$OUT/$NAME.raw; else raw=$OUT/${NAME}_$i.raw; fi
  rm -f "$raw"
  qemu-img create -q -f raw "$raw" "${mib}M"
  loop "$raw"
  RAWS+=("$raw")
  i=$((i + 1))
  eval "DEV$i=\$LOOP"
done
say "disks on ${LOOPS[*]}: partitioning, mkfs"
guest_disks
mountpoint -q "$MNT" || die "guest_disks did not mount the root on $MNT"

say "copying the tree in"
cp -a "$tree/." "$MNT/"
# Smaller images copy and convert faster: no documentation, and no kernel
# modules for hardware a test guest never sees (virtio, storage, e1000 stay).
shrink() {
  rm -rf "$TREE"/usr/share/doc/* "$TREE"/usr/share/man/* "$TREE"/usr/share/info/* \
    "$TREE"/var/cache/apt/archives/*.deb "$TREE"/var/cache/apt/*.bin \
    "$TREE"/var/lib/apt/lists/* "$TREE"/var/log/*.log
  local m=$TREE/usr/lib/modules/$KVER/kernel
  local d
  for d in sound net/wireless net/mac80211 net/bluetooth drivers/bluetooth \
    drivers/media drivers/infiniband drivers/staging drivers/iio drivers/isdn \
    drivers/mtd drivers/gpu/drm/amd drivers/gpu/drm/i915 drivers/gpu/drm/nouveau \
    drivers/gpu/drm/radeon drivers/net/wireless drivers/comedi; do
    rm -rf "${m:?}/$d"
  done
  find "$m/drivers/net/ethernet" -mindepth 1 -maxdepth 1 ! -name intel -exec rm -rf {} +
  chroot "$TREE" /sbin/depmod -a "$KVER"
}
shrink

# --- what every guest has: VMware-era configuration -----------------------
configure_common() {
  echo "$NAME" >"$TREE/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$NAME" >"$TREE/etc/hosts"
  : >"$TREE/etc/resolv.conf"

  # GRUB talks to the serial console, so does the kernel (boot checks read it).
  cat >"$TREE/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_RECOVERY=true
GRUB_DISABLE_OS_PROBER=true
EOF

  # The initramfs of a guest that ran on VMware's LSI Logic / PVSCSI / SATA
  # controllers: those drivers only, no virtio (a conversion must add it).
  sed -i -e 's/^MODULES=.*/MODULES=list/' -e 's/^COMPRESS=.*/COMPRESS=gzip/' \
    "$TREE/etc/initramfs-tools/initramfs.conf"
  # shellcheck disable=SC2086
  printf '%s\n' ata_piix ahci mptspi mptsas vmw_pvscsi sd_mod ext4 crc32c_generic $MODULES_EXTRA \
    >"$TREE/etc/initramfs-tools/modules"

  # The NIC as VMware names it (ifupdown is not installed unless a guest
  # asks for it).
  mkdir -p "$TREE/etc/network"
  printf 'auto lo\niface lo inet loopback\n\nallow-hotplug ens33\niface ens33 inet dhcp\n' \
    >"$TREE/etc/network/interfaces"

  # Under TCG on a busy host udev can take minutes to show the disks:
  # systemd's 90 s for a device in fstab sends a healthy guest to emergency
  # mode (seen on 2 cores shared by several boots).
  mkdir -p "$TREE/etc/systemd/system.conf.d"
  printf '[Manager]\nDefaultDeviceTimeoutSec=300s\n' >"$TREE/etc/systemd/system.conf.d/v2v-test-guest.conf"

  # The marker: one line on the serial console once the guest is up (every
  # boot job done, so the network too), then power off.  boot-check.sh
  # compares its fields with NAME.json.
  cat >"$TREE/usr/local/sbin/v2v-guest-marker" <<'EOF'
#!/bin/sh
systemctl is-system-running --wait >/dev/null 2>&1
fw=bios
[ -d /sys/firmware/efi ] && fw=uefi
mounts=$(findmnt -rn -o TARGET,SOURCE -t ext4,xfs,btrfs,vfat | sort | tr ' ' '=' | paste -sd, -)
drivers=$(cut -d' ' -f1 /proc/modules | grep '^virtio' | sort | paste -sd, -)
nics=$(ls /sys/class/net | grep -vx lo | paste -sd, -)
addrs=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $2 ":" $4}' | sort | paste -sd, -)
line="V2V-FIXTURE-BOOTED name=$(hostname) firmware=$fw root=$(findmnt -n -o SOURCE /) mounts=$mounts drivers=${drivers:-none} nics=${nics:-none} addrs=${addrs:-none} kernel=$(uname -r)"
printf '\n%s\n' "$line" >/dev/ttyS0
sync
systemctl --no-block poweroff
EOF
  chmod 755 "$TREE/usr/local/sbin/v2v-guest-marker"
  # Type=exec: it waits for the end of the boot, which waits for it if oneshot.
  cat >"$TREE/etc/systemd/system/v2v-guest-marker.service" <<'EOF'
[Unit]
Description=Print the v2v test guest's marker line on ttyS0, then power off
Wants=network-online.target
After=local-fs.target network-online.target
[Service]
Type=exec
ExecStart=/usr/local/sbin/v2v-guest-marker
[Install]
WantedBy=multi-user.target
EOF
  ln -sf /etc/systemd/system/v2v-guest-marker.service \
    "$TREE/etc/systemd/system/multi-user.target.wants/v2v-guest-marker.service"

  # A stand-in for open-vm-tools: the package name and files a conversion
  # must find and remove (it holds no VMware code).
  local pkg=$WORK/open-vm-tools
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/etc/vmware-tools"
  cat >"$pkg/DEBIAN/control" <<'EOF'
Package: open-vm-tools
Version: 2:12.2.0-1+v2vtest
Architecture: amd64
Maintainer: v2v-helpers tests <nobody@example.invalid>
Priority: optional
Section: admin
Description: stand-in for VMware's guest tools (v2v-helpers test guest)
 Empty marker package: conversions must detect and remove it.
EOF
  printf '#!/bin/sh\necho "vmware-toolbox-cmd: stand-in"\n' >"$pkg/usr/bin/vmware-toolbox-cmd"
  chmod 755 "$pkg/usr/bin/vmware-toolbox-cmd"
  printf '[logging]\nlog = false\n' >"$pkg/etc/vmware-tools/tools.conf"
  echo /etc/vmware-tools/tools.conf >"$pkg/DEBIAN/conffiles"
  dpkg-deb --root-owner-group -b "$pkg" "$TREE/tmp/open-vm-tools.deb" >/dev/null

  cat >"$TREE/tmp/inside.sh" <<'EOF'
#!/bin/sh
set -e
export PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
echo root:v2v-test | chpasswd
dpkg -i /tmp/open-vm-tools.deb >/dev/null
: >/etc/machine-id
EOF
  chmod 755 "$TREE/tmp/inside.sh"
  chroot "$TREE" /tmp/inside.sh
  rm -f "$TREE/tmp/inside.sh" "$TREE/tmp/open-vm-tools.deb"
}

say "configuring the tree"
configure_common
guest_configure

# --- initramfs and boot loader, in a chroot of the guest ------------------
# A private /dev: the guest's own loop devices and partitions only, and
# /dev/disk/by-uuid for them, so grub-mkconfig names the root by UUID as on
# a real installation.  Where the root is on LVM or LUKS, it is mounted from
# a loop device here: ROOT_DEVICE (set by the guest file) is the name GRUB
# gives the kernel instead.
chroot_dev() {
  local d=$MNT/dev n u
  mount -t tmpfs -o mode=755,size=16m v2v-dev "$d"
  cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty "$d/"
  mkdir -p "$d/pts" "$d/shm" "$d/disk/by-uuid"
  ln -s /proc/self/fd "$d/fd"
  for l in "${LOOPS[@]}"; do
    for n in "$l" "$l"p*; do
      [ -b "$n" ] || continue
      cp -a "$n" "$d/"
      u=$(blkid -s UUID -o value "$n" || true)
      [ -z "$u" ] || ln -sf "../../${n#/dev/}" "$d/disk/by-uuid/$u"
    done
  done
}
mount --bind /proc "$MNT/proc"
mount --bind /sys "$MNT/sys"
mount -t tmpfs -o mode=755 v2v-run "$MNT/run"
chroot_dev
inchroot() { chroot "$MNT" /usr/bin/env PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

# What grub-install --target=x86_64-efi does, by hand: it insists on a
# mounted FAT ESP, and the hosts this runs on may have no vfat driver.  So
# the core image is made with grub-mkimage (the modules to find /boot/grub,
# and a load.cfg pointing at it, as grub-install writes) and put on the ESP
# ($ESP, set by the guest file) with mtools: where Debian installs it,
# \EFI\debian\grubx64.efi, and at the removable-media path OVMF boots on a
# fresh variable store, \EFI\BOOT\BOOTX64.EFI.
install_grub_efi() {
  [ -n "${ESP:-}" ] || die "a uefi guest must set ESP"
  local uuid rel fs pm d=/usr/lib/grub/x86_64-efi
  uuid=$(inchroot grub-probe -t fs_uuid /boot/grub)
  rel=$(inchroot grub-mkrelpath /boot/grub)
  fs=$(inchroot grub-probe -t fs /boot/grub)
  pm=$(inchroot grub-probe -t partmap /boot/grub)
  mkdir -p "$MNT/boot/grub/x86_64-efi"
  cp "$MNT$d"/*.mod "$MNT$d"/*.lst "$MNT/boot/grub/x86_64-efi/"
  printf 'search.fs_uuid %s root\nset prefix=($root)%s\n' "$uuid" "'$rel'" \
    >"$MNT/boot/grub/x86_64-efi/load.cfg"
  inchroot grub-mkimage -O x86_64-efi -d "$d" -c /boot/grub/x86_64-efi/load.cfg -p '' \
    -o /tmp/grubx64.efi "part_$pm" "$fs" search_fs_uuid
  inchroot grub-editenv /boot/grub/grubenv create
  export MTOOLS_SKIP_CHECK=1
  {
    mmd -i "$ESP" ::EFI ::EFI/debian ::EFI/BOOT
    mcopy -i "$ESP" "$MNT/tmp/grubx64.efi" ::EFI/debian/grubx64.efi
    mcopy -i "$ESP" "$MNT/tmp/grubx64.efi" ::EFI/BOOT/BOOTX64.EFI
  } 2> >(grep -v '^Could not get geometry' >&2)
  rm -f "$MNT/tmp/grubx64.efi"
}

say "initramfs, GRUB ($FIRMWARE)"
inchroot update-initramfs -u -k "$KVER" >"$WORK/initramfs.log" 2>&1 ||
  { tail -n 20 "$WORK/initramfs.log" >&2; die "update-initramfs failed"; }
sed 's/^/  /' "$WORK/initramfs.log" >&2
case $FIRMWARE in
  bios) inchroot grub-install --target=i386-pc "$DEV1" ;;
  uefi) install_grub_efi ;;
esac
if [ -n "${ROOT_DEVICE:-}" ]; then
  # For this run of grub-mkconfig only (it reads this after probing).
  mkdir -p "$MNT/etc/default/grub.d"
  printf 'GRUB_DEVICE=%s\nGRUB_DISABLE_LINUX_UUID=true\n' "$ROOT_DEVICE" \
    >"$MNT/etc/default/grub.d/zz-v2v-build.cfg"
fi
inchroot update-grub 2>&1 | sed 's/^/  /' >&2
rm -f "$MNT/etc/default/grub.d/zz-v2v-build.cfg"
grep -q "^[[:space:]]*linux.* root=${ROOT_DEVICE:-UUID=}" "$MNT/boot/grub/grub.cfg" ||
  die "grub.cfg does not boot root=${ROOT_DEVICE:-UUID=...}"

# The point of the guest: its initramfs cannot boot from virtio.
lsinitramfs "$MNT/boot/initrd.img-$KVER" >"$WORK/initrd.list"
if grep -E '/virtio_(blk|scsi|pci)\.ko' "$WORK/initrd.list"; then
  die "the initramfs holds virtio drivers"
fi
grep -q '/mptspi\.ko' "$WORK/initrd.list" || die "the initramfs lacks the VMware storage drivers"
for m in $MODULES_EXTRA; do
  grep -q "/${m//_/[-_]}\.ko" "$WORK/initrd.list" || die "the initramfs lacks module $m"
done

umount "$MNT/dev" "$MNT/run" "$MNT/sys" "$MNT/proc"
findmnt -rn -o TARGET -R "$MNT" | while read -r m; do
  case $(findmnt -n -o FSTYPE "$m") in ext4 | xfs | btrfs | vfat) fstrim "$m" ;; esac
done
umount -R "$MNT"
[ -z "${LUKS_DEV:-}" ] || luks_finish
for ((i = ${#LOOPS[@]} - 1; i >= 0; i--)); do
  partx -d "${LOOPS[$i]}" 2>/dev/null || true
  losetup -d "${LOOPS[$i]}"
done
LOOPS=()

# --- as VMware exports it -------------------------------------------------
case $EXPORTS in vmware | raw) ;; *) die "EXPORTS=$EXPORTS: not vmware or raw" ;; esac
cd "$OUT"
# shellcheck source=/dev/null
. "$HERE/export.sh"
if [ "$EXPORTS" = vmware ]; then
  say "exporting: VMDK, OVA, VMX, libvirt XML, $NAME.json"
  VMDKS=() OVA_VMDKS=()
  i=0
  for raw in "${RAWS[@]}"; do
    i=$((i + 1))
    base_raw=$(basename "$raw" .raw)
    ova_vmdk=$NAME-disk$i.vmdk
    rm -f "$ova_vmdk" "$base_raw.vmdk"
    qemu-img convert -O vmdk -o subformat=streamOptimized,adapter_type=lsilogic "$raw" "$ova_vmdk"
    qemu-img convert -O vmdk -o subformat=monolithicSparse,adapter_type=lsilogic "$raw" "$base_raw.vmdk"
    VMDKS+=("$base_raw.vmdk")
    OVA_VMDKS+=("$ova_vmdk")
  done
  rm -f "$NAME.ova" "$NAME.ovf" "$NAME.mf"
  write_ovf >"$NAME.ovf"
  for f in "$NAME.ovf" "${OVA_VMDKS[@]}"; do
    printf 'SHA256(%s)= %s\n' "$f" "$(sha256sum <"$f" | cut -d' ' -f1)"
  done >"$NAME.mf"
  tar --format=ustar -cf "$NAME.ova" "$NAME.ovf" "$NAME.mf" "${OVA_VMDKS[@]}"
  rm -f "$NAME.ovf" "$NAME.mf"
  write_vmx >"$NAME.vmx"
else
  say "exporting: libvirt XML, $NAME.json (EXPORTS=raw: no VMDK, OVA or VMX)"
fi
write_libvirt_xml >"$NAME.xml"
raws_json=$(for r in "${RAWS[@]}"; do basename "$r"; done | jq -R . | jq -s .)
guest_expect | jq --arg name "$NAME" --arg d "$DESCRIPTION" --arg fw "$FIRMWARE" \
  --argjson disks "$raws_json" --argjson extra "$(guest_json)" \
  '{name: $name, description: $d, firmware: $fw, disks: $disks, virt_v2v_args: [], boot: .} + $extra' \
  >"$NAME.json"
rm -rf "$WORK"
say "done: $(du -shc "${RAWS[@]}" | tail -n 1 | cut -f1) allocated of $(echo "$DISKS" | tr ' ' '+') MiB"
