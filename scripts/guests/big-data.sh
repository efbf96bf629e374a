# guests/big-data.sh - a benchmark guest, not a test guest (BENCH_ONLY:
# `make-test-guest.sh --all`, hence CI, never builds it): foreign-guest's
# Debian 12 on BIOS with an ext4 root on /dev/sda1, plus a second disk with
# an ext4 /data mounted from /dev/sdb1 (by device name in fstab), and
# BIG_DATA_MIB MiB (default 4096) of incompressible data over both disks:
# a quarter of it, at most 1 GiB, in the root filesystem
# (/var/lib/v2v-bench), the rest in /data.  The data is AES-CTR of zeros
# (random to any compressor or zero detection, made at hundreds of MB/s
# where /dev/urandom gives tens).  scripts/bench-overlap.sh converts it.
# Sourced by guests/build.sh (see there for what a guest file defines).

DESCRIPTION="Debian 12, BIOS, ext4 root /dev/sda1 + ext4 /data on /dev/sdb1, BIG_DATA_MIB (default 4096) MiB of incompressible data over both"
BENCH_ONLY=1
# Only the raw disks (the bench reads nothing else): tens of GiB of data
# would need three times that for VMDKs and an OVA.
EXPORTS=raw
# Part of the cache key (make-test-guest.sh): another size is another build.
KEY_ENV="BIG_DATA_MIB"
FIRMWARE=bios

BIG_DATA_MIB=${BIG_DATA_MIB:-4096}
case $BIG_DATA_MIB in '' | *[!0-9]*) die "BIG_DATA_MIB=$BIG_DATA_MIB: not a number of MiB" ;; esac
ROOT_DATA_MIB=$((BIG_DATA_MIB / 4))
[ $ROOT_DATA_MIB -le 1024 ] || ROOT_DATA_MIB=1024
DATA_DATA_MIB=$((BIG_DATA_MIB - ROOT_DATA_MIB))
# The root disk: foreign-guest's 3 GiB plus the root's share; the data
# disk: 8 GiB, or more when the data needs it (ext4's overhead + room).
DATA_DISK_MIB=$((DATA_DATA_MIB + DATA_DATA_MIB / 8 + 512))
[ $DATA_DISK_MIB -ge 8192 ] || DATA_DISK_MIB=8192
DISKS="$((3072 + ROOT_DATA_MIB)) $DATA_DISK_MIB"

guest_disks() {
  command -v openssl >/dev/null || die "openssl not found (it makes the guest's data)"
  partition "$DEV1" <<'SFDISK'
label: dos
start=2048, type=83, bootable
SFDISK
  partition "$DEV2" <<'SFDISK'
label: dos
start=2048, type=83
SFDISK
  mkfs.ext4 -q -L root "${DEV1}p1"
  mkfs.ext4 -q -L data "${DEV2}p1"
  mount "${DEV1}p1" "$MNT"
  mkdir "$MNT/data"
  mount "${DEV2}p1" "$MNT/data"
}

# blobs DIR MIB TAG: MIB MiB of incompressible data in DIR, in files of at
# most 256 MiB, each from its own key (no two files alike).
blobs() {
  local dir=$1 left=$2 tag=$3 n=0 mib
  mkdir -p "$dir"
  while [ "$left" -gt 0 ]; do
    mib=$left
    [ "$mib" -le 256 ] || mib=256
    n=$((n + 1))
    head -c "${mib}M" /dev/zero |
      openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:v2v-$tag-$n-$RANDOM" \
        >"$dir/blob-$(printf %03d $n)"
    left=$((left - mib))
  done
}

guest_configure() {
  cat >"$TREE/etc/fstab" <<'FSTAB'
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/sda1       /             ext4   errors=remount-ro 0 1
/dev/sdb1       /data         ext4   defaults          0 2
FSTAB
  say "writing $ROOT_DATA_MIB MiB of data in / and $DATA_DATA_MIB MiB in /data"
  blobs "$TREE/var/lib/v2v-bench" "$ROOT_DATA_MIB" root
  blobs "$TREE/data" "$DATA_DATA_MIB" data
  echo "v2v bench data: $BIG_DATA_MIB MiB over / and /data" >"$TREE/data/README"
}

guest_expect() {
  echo '{"firmware": "bios", "root": "/dev/vda1", "mounts": "/=/dev/vda1,/data=/dev/vdb1"}'
}
