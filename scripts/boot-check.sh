#!/bin/bash
# usage: boot-check.sh [--uefi] [--bus virtio|pvscsi|sata|ide] [--timeout S]
#                      [--expect NAME.json] [--log FILE] [--writable] DISK...
#
# Boots DISK... (raw or qcow2; the first disk boots) under qemu and waits for
# the test guest's marker line on the serial console:
#   V2V-FIXTURE-BOOTED name=... firmware=... root=... mounts=... drivers=...
#     nics=... addrs=IF:ADDR/PREFIX,...|none kernel=...
# Prints PASS and the line (exit 0), or FAIL, why, and the last console
# lines (exit 1); exit 2 for a usage error.
#
#   --bus virtio   virtio-blk disks and a virtio-net NIC (a converted guest;
#                  the default); pvscsi: VMware's paravirtual SCSI
#                  controller + e1000; sata: AHCI + e1000; ide: IDE +
#                  e1000.  The e1000 is in PCIe slot 33, so an unconverted
#                  guest sees ens33 as on VMware.  On pvscsi, sata and ide
#                  Linux probes the disks in parallel: with several, sda and
#                  sdb may come up swapped (virtio-blk keeps vda, vdb in
#                  PCI order).
#   --uefi         boot with OVMF (Debian's ovmf package), on a fresh copy
#                  of its variable store; BIOS (SeaBIOS) otherwise.
#   --expect F     also compare the marker with F's "boot" object (written
#                  by scripts/make-test-guest.sh): every key there must have
#                  that value in the marker line; an "addrs" value without
#                  interface names (192.168.122.50/24) matches the
#                  marker's addresses on whichever interfaces.
#   --timeout S    give up after S seconds (default 600).
#   --log FILE     keep the whole serial console output in FILE.
#   --writable     the guest writes to the disks (a second boot sees what
#                  the first did, e.g. first-boot scripts already run).
#
# Unless --writable, the disks are opened with snapshot=on: they are never
# modified.  It stops
# early when the console shows the initramfs or systemd giving up.
# Env: ACCEL (default tcg: nested KVM hangs on the hosts this project is
# developed on; set kvm where it works), QEMU, MEM_MB (1024), MACHINE (q35).
set -uo pipefail

usage() { sed -n '2,/^set -uo/ { /^set -uo/d; s/^# \{0,1\}//; p; }' "$0" >&2; exit 2; }
uefi= bus=virtio timeout=600 expect= log= snapshot=on
disks=()
while [ $# -gt 0 ]; do
  case $1 in
    --uefi) uefi=1 ;;
    --bus) bus=${2:-}; shift ;;
    --timeout) timeout=${2:-}; shift ;;
    --expect) expect=${2:-}; shift ;;
    --log) log=${2:-}; shift ;;
    --writable) snapshot=off ;;
    -h|--help) usage ;;
    -*) echo "boot-check: unknown option $1" >&2; usage ;;
    *) disks+=("$1") ;;
  esac
  shift
done
[ ${#disks[@]} -ge 1 ] || usage
case $bus in virtio|pvscsi|sata|ide) ;; *) echo "boot-check: --bus $bus: not virtio, pvscsi, sata or ide" >&2; exit 2 ;; esac
case $timeout in ''|*[!0-9]*) echo "boot-check: --timeout $timeout: not a number of seconds" >&2; exit 2 ;; esac
if [ -n "$expect" ]; then
  jq -e '.boot | type == "object"' "$expect" >/dev/null 2>&1 ||
    { echo "boot-check: --expect $expect: no \"boot\" object" >&2; exit 2; }
  # A UEFI guest boots with OVMF even when --uefi was forgotten.
  [ "$(jq -r .boot.firmware "$expect")" = uefi ] && uefi=1
fi
fw=bios
[ -n "$uefi" ] && fw=uefi
QEMU=${QEMU:-qemu-system-x86_64}
command -v "$QEMU" >/dev/null || { echo "boot-check: $QEMU not found" >&2; exit 2; }

MARKER=V2V-FIXTURE-BOOTED
GIVE_UP='Dropping to a shell|\(initramfs\) |Kernel panic - not syncing|emergency mode|Failed to start .*[Ff]ile [Ss]ystem'
work=$(mktemp -d /tmp/boot-check.XXXXXX)
serial=$work/serial.log
: >"$serial"
qpid=
finish() {
  [ -n "$qpid" ] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
  [ -z "$log" ] || tr -d '\r' <"$serial" >"$log"
  rm -rf "$work"
}
trap finish EXIT

args=(-accel "${ACCEL:-tcg}" -machine "${MACHINE:-q35}" -m "${MEM_MB:-1024}" -smp 1
  -display none -vga none -monitor none -parallel none -no-reboot
  -serial "file:$serial")
if [ -n "$uefi" ]; then
  code= vars=
  for c in /usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/OVMF/OVMF_CODE.fd; do
    [ -f "$c" ] && { code=$c; vars=${c/CODE/VARS}; break; }
  done
  [ -n "$code" ] && [ -f "$vars" ] ||
    { echo "boot-check: OVMF not found in /usr/share/OVMF (install Debian's ovmf)" >&2; exit 2; }
  cp "$vars" "$work/vars.fd"
  args+=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$code"
    -drive "if=pflash,format=raw,unit=1,file=$work/vars.fd")
fi
[ "$bus" = sata ] && args+=(-device ahci,id=ahci)
[ "$bus" = pvscsi ] && args+=(-device pvscsi,id=pvscsi)
i=0
for d in "${disks[@]}"; do
  [ -r "$d" ] || { echo "boot-check: cannot read $d" >&2; exit 2; }
  fmt=$(qemu-img info --output=json "$d" | jq -r .format) ||
    { echo "boot-check: $d: cannot read its format" >&2; exit 2; }
  drive="file=$d,format=$fmt,snapshot=$snapshot,cache=unsafe"
  case $bus in
    virtio) args+=(-drive "$drive,if=virtio") ;;
    ide) args+=(-drive "$drive,if=ide,index=$i") ;;
    sata) args+=(-drive "$drive,if=none,id=d$i" -device "ide-hd,drive=d$i,bus=ahci.$i") ;;
    pvscsi) args+=(-drive "$drive,if=none,id=d$i" -device "scsi-hd,drive=d$i,bus=pvscsi.0,scsi-id=$i") ;;
  esac
  i=$((i + 1))
done
# Unconverted, the NIC sits where VMware puts it: behind a PCIe root port
# in slot 33, so the guest names it ens33 as it did on VMware.
case $bus in
  virtio) args+=(-netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0) ;;
  *) args+=(-netdev user,id=n0,restrict=on
    -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off
    -device pcie-root-port,id=rp33,bus=pcie.0,chassis=33,slot=33
    -device e1000,netdev=n0,bus=rp33) ;;
esac

start=$(date +%s)
"$QEMU" "${args[@]}" </dev/null >"$work/qemu.log" 2>&1 &
qpid=$!
why=
while :; do
  grep -aq "$MARKER" "$serial" && break
  if grep -aqE "$GIVE_UP" "$serial"; then sleep 2; why="the guest gave up booting"; break; fi
  kill -0 "$qpid" 2>/dev/null || { why="qemu exited: $(tail -n 3 "$work/qemu.log")"; break; }
  [ $(($(date +%s) - start)) -lt "$timeout" ] || { why="no marker after ${timeout}s"; break; }
  sleep 1
done
seconds=$(($(date +%s) - start))
if [ -z "$why" ]; then
  # Let the guest power itself off.
  for _ in $(seq 20); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.5; done
fi

line=$(grep -a -m1 "$MARKER" "$serial" | tr -d '\r')
if [ -z "$why" ] && [ -n "$expect" ]; then
  # Each expected key=value must appear as a field of the marker line.
  while IFS=$'\t' read -r k v; do
    got=$(printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$k=//p")
    # Addresses expected without an interface name match on any interface.
    if [ "$k" = addrs ] && [ "${v#*:}" = "$v" ]; then
      got=$(printf '%s\n' "$got" | tr ',' '\n' | sed 's/^[^:]*://' | sort | paste -sd, -)
    fi
    [ "$got" = "$v" ] || why="${why:+$why; }$k is '$got', expected '$v'"
  done < <(jq -r '.boot | to_entries[] | [.key, (.value | tostring)] | @tsv' "$expect")
fi
if [ -z "$why" ]; then
  echo "PASS bus=$bus firmware=$fw seconds=$seconds disk=${disks[0]}"
  echo "$line"
  exit 0
fi
echo "FAIL bus=$bus firmware=$fw seconds=$seconds disk=${disks[0]}: $why"
[ -n "$line" ] && echo "$line"
echo "--- last console lines ---"
tr -d '\r' <"$serial" | tail -n 25
exit 1
