#!/bin/bash
# usage: build.sh NAME OUT    build phony Windows guest NAME (NAME.sh here)
#                             into directory OUT
#
# Called by scripts/make-windows-guest.sh (which caches the result).  No
# appliance and no Windows: the disk is partitioned with sfdisk, the NTFS
# filesystem made with mkntfs on a file and filled through ntfs-3g (FUSE),
# the ESP made with mkfs.vfat and filled with mtools.  The registry hives
# are empty hives (bin.pl) merged with this directory's .reg text by
# hivexregedit.  OUT gets:
#   NAME.raw       the disk
#   NAME.ova       the disk as VMware exports it (OVF + manifest + VMDK)
#   NAME.json      what the guest is (name, description, firmware)
#   virtio-win/    a fake virtio-win tree laid out as the ISO is
#                  (DRIVER/OS/ARCH/FILE), with decoys that must not be
#                  copied into this guest: .pdb files, other Windows
#                  versions, x86, the SR-IOV protocol driver
#   virtio-win.iso the same tree as an ISO
#   virt-tools/rhsrvany.exe   a fake service wrapper (a PE32 header)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=$1
out=$2
[ -f "$here/$name.sh" ] || { echo "build.sh: no Windows guest named $name" >&2; exit 2; }
mkdir -p "$out"
work=$(mktemp -d "$out/work.XXXXXX")
mnt=$work/mnt
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
  rm -rf "$work"
}
trap cleanup EXIT
: >"$work/system-extra.reg"
# shellcheck source=/dev/null
. "$here/$name.sh"
# What the guest is: SOFTWARE\Microsoft\Windows NT\CurrentVersion.
{
  echo '[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]'
  echo "\"ProductName\"=str(1):\"$PRODUCT\""
  echo "\"EditionID\"=str(1):\"$EDITION\""
  echo "\"InstallationType\"=str(1):\"$INSTALLATION_TYPE\""
  echo "\"CurrentVersion\"=str(1):\"$CURRENT_VERSION\""
  if [ -n "$MAJOR" ]; then
    printf '"CurrentMajorVersionNumber"=dword:%08x\n' "$MAJOR"
    printf '"CurrentMinorVersionNumber"=dword:%08x\n' "$MINOR"
  fi
  echo "\"CurrentBuild\"=str(1):\"$BUILD\""
  echo "\"CurrentBuildNumber\"=str(1):\"$BUILD\""
  echo '"SystemRoot"=str(1):"C:\\Windows"'
} >"$work/software-version.reg"
if [ -n "$RTC_UTC" ]; then
  cat >>"$work/system-extra.reg" <<'REG'

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\TimeZoneInformation]
"RealTimeIsUniversal"=dword:00000001
REG
fi

disk=$out/$name.raw
size_mib=160
sig=5eed2022                                  # MBR disk signature
ntfs_guid=6d2a0b5e-4c3f-4e7a-9b1d-2f8e7c6a5b40 # GPT partition GUID of C:
rm -f "$disk"
truncate -s ${size_mib}M "$disk"
if [ "$FIRMWARE" = uefi ]; then
  esp_start=2048 esp_sectors=$((64 * 2048))
  ntfs_start=$((esp_start + esp_sectors))
  ntfs_sectors=$(( (size_mib - 1) * 2048 - ntfs_start ))
  sfdisk -q "$disk" <<SF
label: gpt
start=$esp_start, size=$esp_sectors, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system partition"
start=$ntfs_start, size=$ntfs_sectors, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, uuid=$ntfs_guid, name="Basic data partition"
SF
  # MountedDevices for GPT: "DMIO:ID:" + the partition GUID (mixed endian).
  g=$(echo "$ntfs_guid" | tr -d -)
  le() { echo "$1" | sed 's/../&\n/g' | sed '/^$/d' | tac | tr -d '\n'; }
  hexguid=$(le "${g:0:8}")$(le "${g:8:4}")$(le "${g:12:4}")${g:16:16}
  blob=$(printf 'DMIO:ID:' | od -An -tx1 | tr -d ' \n')$hexguid
else
  ntfs_start=2048
  ntfs_sectors=$(( (size_mib - 1) * 2048 - ntfs_start ))
  sfdisk -q "$disk" <<SF
label: dos
label-id: 0x$sig
start=$ntfs_start, size=$ntfs_sectors, type=7, bootable
SF
  # MountedDevices for MBR: disk signature + partition offset in bytes (LE).
  blob=$(printf '%s' "$sig" | sed 's/../&\n/g' | sed '/^$/d' | tac | tr -d '\n')
  blob=$blob$(printf '%016x' $((ntfs_start * 512)) | sed 's/../&\n/g' | sed '/^$/d' | tac | tr -d '\n')
fi
commas() { echo "$1" | sed 's/../&,/g; s/,$//'; }

# The hives.
cat >>"$work/system-extra.reg" <<REG

[HKEY_LOCAL_MACHINE\\SYSTEM\\MountedDevices]
"\\\\DosDevices\\\\C:"=hex(3):$(commas "$blob")

[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\Tcpip\\Parameters]
"Hostname"=str(1):"$HOSTNAME"
REG
for f in "$here/system.reg" "$here/$SYSTEM_EXTRA" "$work/system-extra.reg"; do cat "$f"; echo; done >"$work/system.reg"
for f in "$here/software.reg" "$work/software-version.reg"; do cat "$f"; echo; done >"$work/software.reg"
perl "$here/bin.pl" hive "$work/SYSTEM"
perl "$here/bin.pl" hive "$work/SOFTWARE"
hivexregedit --merge "$work/SYSTEM" --prefix 'HKEY_LOCAL_MACHINE\SYSTEM' "$work/system.reg"
hivexregedit --merge "$work/SOFTWARE" --prefix 'HKEY_LOCAL_MACHINE\SOFTWARE' "$work/software.reg"

# C: (NTFS).
part=$work/ntfs.img
truncate -s $((ntfs_sectors * 512)) "$part"
mkntfs -F -Q -q -s 512 -p "$ntfs_start" -H 255 -S 63 -L Windows "$part" 2>/dev/null
mkdir "$mnt"
ntfs-3g "$part" "$mnt"
sr=$mnt/Windows
mkdir -p "$sr/System32/config" "$sr/System32/drivers" "$sr/Temp" "$sr/INF" \
  "$mnt/Program Files/VMware/VMware Tools" "$mnt/Users"
cp "$work/SYSTEM" "$work/SOFTWARE" "$sr/System32/config/"
perl "$here/bin.pl" pe64 "$sr/System32/cmd.exe"
for d in lsi_sas vmxnet3 vm3dmp; do echo "phony $d driver" >"$sr/System32/drivers/$d.sys"; done
echo "phony VMware Tools" >"$mnt/Program Files/VMware/VMware Tools/vmtoolsd.exe"
printf 'phony page file\r\n' >"$mnt/pagefile.sys"
umount "$mnt"
dd if="$part" of="$disk" bs=1M seek=$((ntfs_start * 512 / 1048576)) conv=notrunc,sparse status=none

# The ESP, with the BCD store.
if [ "$FIRMWARE" = uefi ]; then
  esp=$work/esp.img
  truncate -s $((esp_sectors * 512)) "$esp"
  mkfs.vfat -F 32 -n SYSTEM "$esp" >/dev/null
  perl "$here/bin.pl" hive "$work/BCD"
  hivexregedit --merge "$work/BCD" --prefix 'HKEY_LOCAL_MACHINE\BCD00000000' "$here/bcd.reg"
  printf 'phony bootmgfw.efi (Windows Boot Manager)\n' >"$work/bootmgfw.efi"
  printf 'phony bootx64.efi from another loader\n' >"$work/bootx64.efi"
  export MTOOLS_SKIP_CHECK=1
  mmd -i "$esp" ::/EFI ::/EFI/Boot ::/EFI/Microsoft ::/EFI/Microsoft/Boot
  mcopy -i "$esp" "$work/BCD" "$work/bootmgfw.efi" ::/EFI/Microsoft/Boot/
  mcopy -i "$esp" "$work/bootx64.efi" ::/EFI/Boot/
  dd if="$esp" of="$disk" bs=1M seek=$((esp_start * 512 / 1048576)) conv=notrunc,sparse status=none
fi

# As VMware exports it: NAME.ova (OVF, SHA256 manifest, streamOptimized
# VMDK), with the Linux test guests' OVF writer.
# export.sh's inputs: the disk sizes (MiB) and the OVA's VMDKs (names in $work).
NAME=$name DISKS=$size_mib
OVA_VMDKS=("$name-disk1.vmdk")
qemu-img convert -O vmdk -o subformat=streamOptimized,adapter_type=lsilogic "$disk" "$work/$name-disk1.vmdk"
# shellcheck source=/dev/null
. "$here/../export.sh"
(
  cd "$work"
  write_ovf >"$name.ovf"
  for f in "$name.ovf" "$name-disk1.vmdk"; do
    printf 'SHA256(%s)= %s\n' "$f" "$(sha256sum <"$f" | cut -d' ' -f1)"
  done >"$name.mf"
  tar --format=ustar -cf "$out/$name.ova" "$name.ovf" "$name.mf" "$name-disk1.vmdk"
)

cat >"$out/$name.json" <<JSON
{
  "name": "$name",
  "description": "$DESCRIPTION",
  "os": "windows",
  "firmware": "$FIRMWARE",
  "hostname": "$HOSTNAME"
}
JSON

# The fake virtio-win tree (as on the ISO: DRIVER/OS/ARCH/FILE).
vw=$out/virtio-win
rm -rf "$vw"
for os in 2k22 2k19 w10 w11 w7; do
  for arch in amd64 x86; do
    for drv in viostor:viostor vioscsi:vioscsi NetKVM:netkvm Balloon:balloon viorng:viorng \
               pvpanic:pvpanic vioserial:vioser vioinput:vioinput; do
      dir=$vw/${drv%%:*}/$os/$arch
      mkdir -p "$dir"
      for ext in sys inf cat pdb; do
        echo "phony ${drv#*:}.$ext for $os/$arch" >"$dir/${drv#*:}.$ext"
      done
    done
    echo "phony blnsvr.exe for $os/$arch" >"$vw/Balloon/$os/$arch/blnsvr.exe"
    # The SR-IOV protocol driver conflicts with netkvm: never copied.
    echo "phony vioprot.inf for $os/$arch" >"$vw/NetKVM/$os/$arch/vioprot.inf"
    mkdir -p "$vw/sriov/$os/$arch"
    echo "phony vfnet.inf for $os/$arch" >"$vw/sriov/$os/$arch/vfnet.inf"
  done
done
mkdir -p "$vw/guest-agent"
echo "phony qemu-ga x86_64 MSI" >"$vw/guest-agent/qemu-ga-x86_64.msi"
echo "phony qemu-ga i386 MSI" >"$vw/guest-agent/qemu-ga-i386.msi"
echo "phony virtio-win-guest-tools.exe" >"$vw/virtio-win-guest-tools.exe"

# The same tree as an ISO, as virtio-win ships (Rock Ridge + Joliet).
genisoimage -quiet -R -J -V virtio-win -o "$out/virtio-win.iso" "$vw"

mkdir -p "$out/virt-tools"
perl "$here/bin.pl" pe32 "$out/virt-tools/rhsrvany.exe"
