# shellcheck shell=sh disable=SC2034 # OURS and friends: for the sourcing script
# bench-lib.sh - what the conversion benchmarks share (sourced by
# scripts/bench-convert.sh and scripts/bench-overlap.sh; POSIX sh).
#
# bench_init NAME DEFAULT_DIR: checks the tools, builds our release binaries,
# sets OURS, THEIRS (Debian's /usr/bin/virt-v2v 2.2), OF (-of, default
# qcow2), B (BENCH_DIR, default DEFAULT_DIR, created), BENCH (NAME, for
# messages), and the libguestfs environment (force_tcg unless set: nested
# KVM hangs here; every tool gets the same setting).  The caller sets top
# (the repository).
bench_init() {
  BENCH=$1
  OF=${OF:-qcow2}
  B=${BENCH_DIR:-$2}
  export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}"
  export LIBGUESTFS_BACKEND="${LIBGUESTFS_BACKEND:-direct}"
  THEIRS=/usr/bin/virt-v2v
  [ -x "$THEIRS" ] || { echo "$BENCH: $THEIRS not installed (scripts/install-deps.sh)" >&2; exit 2; }
  [ -x /usr/bin/time ] || { echo "$BENCH: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }
  (cd "${top:?}" && cargo build --release --workspace --bins -q)
  OURS=$top/target/release/virt-v2v
  PATH=$top/target/release:$PATH; export PATH
  mkdir -p "$B"
}

# guest_facts NAME: builds test guest NAME (or reuses it) and sets gd (its
# directory), json (NAME.json), fw (its firmware), disks (its raw disks,
# boot disk first) and extra (its own virt-v2v arguments); neither holds a
# blank (checked), so both split on purpose.
guest_facts() {
  gd=$(sh "$top/scripts/make-test-guest.sh" "$1" | tail -n 1)
  json=$gd/$1.json
  fw=$(jq -r .firmware "$json")
  disks=$(jq -r '.disks[]' "$json" | sed "s|^|$gd/|")
  extra=$(jq -r '(.virt_v2v_args // [])[]' "$json")
  case $gd$extra in *" "*) echo "$BENCH: $1: blank in virt_v2v_args or in $gd" >&2; exit 2 ;; esac
}

# run NAME CMD... -- the tool's command line, then its input arguments:
# -o local into $B/NAME, the page cache dropped first; prints "wall rss_kib"
# (peak RSS of the process tree, as /usr/bin/time reports it for
# waited-for children; rss 0 and wall "failed" if the tool failed).
run() {
  name=$1; shift
  out=$B/$name; rm -rf "$out"; mkdir -p "$out"
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  if /usr/bin/time -f '%e %M' -o "$B/$name.time" "$@" -o local -os "$out" -of "$OF" \
       >"$B/$name.stdout" 2>"$B/$name.stderr"; then
    cat "$B/$name.time"
  else
    echo "$BENCH: $name failed, see $B/$name.stderr" >&2
    tail -3 "$B/$name.stderr" >&2
    echo "failed 0"
  fi
}

# boots NAME JSON FIRMWARE -> yes|no: the converted disks of $B/NAME boot
# on virtio and print the marker NAME.json expects.
boots() {
  set -- "$1" "$2" "$3" "$(ls "$B/$1"/*-sd? 2>/dev/null | sort)"
  [ -n "$4" ] || { echo no; return; }
  uefi=; [ "$3" = uefi ] && uefi=--uefi
  # shellcheck disable=SC2086 # the disk list and $uefi split on purpose
  if bash "$top/scripts/boot-check.sh" $uefi --timeout 420 --expect "$2" \
       --log "$B/$1.serial" $4 >"$B/$1.boot" 2>&1; then echo yes; else echo no; fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'; }
