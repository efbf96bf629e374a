#!/bin/bash
# guests/build.sh NAME OUTDIR - build test guest NAME (defined by
# scripts/guests/NAME.sh) into OUTDIR, as VMware would have exported it.
# Called by scripts/make-test-guest.sh, which caches the result; run that
# instead.  Needs root (debootstrap, chroot), libguestfs, qemu-img,
# dpkg-deb, jq and a Debian mirror the first time (the debootstrap tree and
# the downloaded packages are cached under $V2V_GUEST_CACHE).
#
# A guest file sets:
#   DESCRIPTION       one line, for --list
#   DISK_MIB          the first disk's size (MiB)
#   FIRMWARE          bios (only bios for now)
# and defines:
#   guest_configure   edits the tree in $TREE (fstab, boot loader defaults)
#   guest_disk_cmds   prints the guestfish commands that partition the disk
#                     and make the filesystems, mounting the root on /
#   guest_expect      prints the JSON object "boot" of NAME.json: what the
#                     marker line of a correctly converted guest shows
set -euo pipefail

NAME=$1
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${V2V_GUEST_CACHE:-/var/tmp/v2v-guests}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
# Nested KVM hangs on the hosts this project is developed on: TCG unless told.
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}
t0=$(date +%s)
say() { echo "[$(($(date +%s) - t0))s] build $NAME: $*" >&2; }
die() { echo "build $NAME: error: $*" >&2; exit 1; }

[ -f "$HERE/$NAME.sh" ] || die "no guest definition $HERE/$NAME.sh"
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot)"
for tool in debootstrap guestfish virt-copy-out qemu-img dpkg-deb jq lsinitramfs sha256sum; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/install-deps.sh)"
done

DESCRIPTION= DISK_MIB=3072 FIRMWARE=bios
# shellcheck source=/dev/null
. "$HERE/$NAME.sh"
[ "$FIRMWARE" = bios ] || die "firmware $FIRMWARE is not supported by this builder yet"

PACKAGES=linux-image-amd64,grub-pc,systemd-sysv,udev,kmod,initramfs-tools
WORK=$CACHE/work-$NAME
TREE=$WORK/tree
mkdir -p "$CACHE/debs" "$OUT"
rm -rf "$WORK"
mkdir -p "$WORK"

# --- the Debian tree ------------------------------------------------------
# One debootstrap per package list, reused by every guest and every build.
base=$CACHE/base-$SUITE-$(printf '%s' "$PACKAGES" | sha256sum | cut -c1-12)
if [ ! -f "$base.ok" ]; then
  say "debootstrap $SUITE into $base (a few minutes, once)"
  rm -rf "$base"
  debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$CACHE/debs" \
    "$SUITE" "$base" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  touch "$base.ok"
fi
cp -a "$base" "$TREE"
KVER=$(ls "$TREE/usr/lib/modules" | sort -V | tail -n 1)
say "kernel $KVER"

# --- what every guest has: VMware-era configuration -----------------------
configure_common() {
  echo "$NAME" >"$TREE/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$NAME" >"$TREE/etc/hosts"

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
  printf '%s\n' ata_piix ahci mptspi mptsas vmw_pvscsi sd_mod ext4 crc32c_generic \
    >"$TREE/etc/initramfs-tools/modules"

  # The NIC as VMware names it.
  mkdir -p "$TREE/etc/network"
  printf 'auto lo\niface lo inet loopback\n\nallow-hotplug ens33\niface ens33 inet dhcp\n' \
    >"$TREE/etc/network/interfaces"

  # The marker: one line on the serial console once the guest is up, then
  # power off.  boot-check.sh compares its fields with NAME.json.
  cat >"$TREE/usr/local/sbin/v2v-guest-marker" <<'EOF'
#!/bin/sh
fw=bios
[ -d /sys/firmware/efi ] && fw=uefi
mounts=$(findmnt -rn -o TARGET,SOURCE -t ext4,xfs,btrfs,vfat | sort | tr ' ' '=' | paste -sd, -)
drivers=$(cut -d' ' -f1 /proc/modules | grep '^virtio' | sort | paste -sd, -)
nics=$(ls /sys/class/net | grep -vx lo | paste -sd, -)
line="V2V-FIXTURE-BOOTED name=$(hostname) firmware=$fw root=$(findmnt -n -o SOURCE /) mounts=$mounts drivers=${drivers:-none} nics=${nics:-none} kernel=$(uname -r)"
echo "$line" >/dev/ttyS0
sync
systemctl --no-block poweroff
EOF
  chmod 755 "$TREE/usr/local/sbin/v2v-guest-marker"
  cat >"$TREE/etc/systemd/system/v2v-guest-marker.service" <<'EOF'
[Unit]
Description=Print the v2v test guest's marker line on ttyS0, then power off
After=local-fs.target
[Service]
Type=oneshot
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

say "configuring the tree"
configure_common
guest_configure
shrink

# --- the disk -------------------------------------------------------------
RAW=$OUT/$NAME.raw
say "making $RAW (libguestfs appliance: partition, mkfs, copy in, initramfs, GRUB)"
tar -C "$TREE" --numeric-owner -cf "$WORK/tree.tar" .
rm -f "$RAW"
qemu-img create -q -f raw "$RAW" "${DISK_MIB}M"
{
  echo run
  guest_disk_cmds
  echo "tar-in $WORK/tree.tar /"
  echo "command \"update-initramfs -u -k $KVER\""
  # Install to the disk GRUB itself finds /boot/grub on: the appliance's
  # kernel may name the guest disk sdb (its own disk sda), and GRUB trusts
  # the kernel's names, not libguestfs's.
  echo "sh \"grub-install --target=i386-pc \$(grub-probe -t disk /boot/grub)\""
  echo "command update-grub"
  echo "fstrim /"
  echo "umount-all"
} >"$WORK/disk.gf"
guestfish --rw -a "$RAW" -f "$WORK/disk.gf" >"$WORK/guestfish.log" 2>&1 ||
  { tail -n 30 "$WORK/guestfish.log" >&2; die "guestfish failed (commands: $WORK/disk.gf)"; }
rm -f "$WORK/tree.tar"

# The point of the guest: its initramfs cannot boot from virtio.
virt-copy-out -a "$RAW" "/boot/initrd.img-$KVER" "$WORK/"
lsinitramfs "$WORK/initrd.img-$KVER" >"$WORK/initrd.list"
if grep -E '/virtio_(blk|scsi|pci)\.ko' "$WORK/initrd.list"; then
  die "the initramfs holds virtio drivers"
fi
grep -q '/mptspi\.ko' "$WORK/initrd.list" || die "the initramfs lacks the VMware storage drivers"

# --- as VMware exports it -------------------------------------------------
say "exporting: VMDK, OVA, VMX, libvirt XML, $NAME.json"
cd "$OUT"
rm -f "$NAME-disk1.vmdk" "$NAME.vmdk" "$NAME.ova" "$NAME.ovf" "$NAME.mf"
qemu-img convert -O vmdk -o subformat=streamOptimized,adapter_type=lsilogic "$RAW" "$NAME-disk1.vmdk"
qemu-img convert -O vmdk -o subformat=monolithicSparse,adapter_type=lsilogic "$RAW" "$NAME.vmdk"
vmdk_size=$(stat -c %s "$NAME-disk1.vmdk")
# shellcheck source=/dev/null
. "$HERE/export.sh"
write_ovf >"$NAME.ovf"
printf 'SHA256(%s)= %s\n' "$NAME.ovf" "$(sha256sum <"$NAME.ovf" | cut -d' ' -f1)" >"$NAME.mf"
printf 'SHA256(%s)= %s\n' "$NAME-disk1.vmdk" "$(sha256sum <"$NAME-disk1.vmdk" | cut -d' ' -f1)" >>"$NAME.mf"
tar --format=ustar -cf "$NAME.ova" "$NAME.ovf" "$NAME.mf" "$NAME-disk1.vmdk"
rm -f "$NAME.ovf" "$NAME.mf"
write_vmx >"$NAME.vmx"
write_libvirt_xml >"$NAME.xml"
guest_expect | jq --arg name "$NAME" --arg d "$DESCRIPTION" --arg fw "$FIRMWARE" \
  '{name: $name, description: $d, firmware: $fw, disks: [$name + ".raw"],
    virt_v2v_args: [], boot: .}' >"$NAME.json"
rm -rf "$WORK"
say "done: $(du -sh "$RAW" | cut -f1) allocated of ${DISK_MIB} MiB"
