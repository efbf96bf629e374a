#!/bin/sh
# bench-convert.sh - end-to-end conversion time and peak memory: our virt-v2v
# against Debian's /usr/bin/virt-v2v (2.2.0), same input, same output options,
# in one run.
#
#   scripts/bench-convert.sh [DISK]          one disk (default: the test fixture)
#   scripts/bench-convert.sh --guests [NAME...]
#                                            each test guest (default: all of
#                                            scripts/make-test-guest.sh --list)
#
# --guests converts every disk of each guest with `-i disk` and the guest's
# own extra arguments (NAME.json "virt_v2v_args", e.g. its --key), then boots
# each result on virtio (scripts/boot-check.sh --expect NAME.json, --uefi for
# UEFI guests) and prints one row per guest: wall time and peak RSS of both
# tools, the ratios, and whether each result booted with the expected marker.
#
# Env: RUNS=1 (rounds; each round runs both, alternating which goes first),
#      OF=qcow2 (-of), BENCH_DIR=/var/tmp/v2v-bench-convert,
#      BOOT=1 (--guests: 0 skips the boots),
#      LIBGUESTFS_BACKEND_SETTINGS (default force_tcg: nested KVM hangs here;
#      both tools get the same setting).
# Prints, per round, wall seconds and peak RSS (of the whole process tree, as
# /usr/bin/time reports for waited-for children) for both, our per-step times
# (from the event stream), and the ratio ours/theirs.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
GUESTS=
if [ "${1:-}" = --guests ]; then
  shift
  GUESTS=${*:-$(sh "$top/scripts/make-test-guest.sh" --list | awk '{ print $1 }')}
  set --
  command -v jq >/dev/null || { echo "bench-convert: jq missing (scripts/install-deps.sh)" >&2; exit 2; }
fi
DISK=${1:-${V2V_FIXTURE:-}}
[ -n "$DISK" ] || [ -n "$GUESTS" ] || DISK=$(sh "$top/scripts/make-test-guest.sh" | tail -n 1)/foreign-guest.raw
RUNS=${RUNS:-1}
OF=${OF:-qcow2}
B=${BENCH_DIR:-/var/tmp/v2v-bench-convert}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
THEIRS=/usr/bin/virt-v2v
[ -n "$GUESTS" ] || [ -r "$DISK" ] || { echo "bench-convert: no disk $DISK (run scripts/make-test-guest.sh)" >&2; exit 2; }
[ -x "$THEIRS" ] || { echo "bench-convert: $THEIRS not installed (scripts/install-deps.sh)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench-convert: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }
(cd "$top" && cargo build --release --workspace --bins -q)
OURS=$top/target/release/virt-v2v
PATH=$top/target/release:$PATH; export PATH
mkdir -p "$B"

# run NAME CMD... -- the tool's command line, then its input arguments:
# -o local into $B/NAME; prints "wall rss_kib" (rss 0 and wall "failed" if
# the tool failed).
run() {
  name=$1; shift
  out=$B/$name; rm -rf "$out"; mkdir -p "$out"
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  if /usr/bin/time -f '%e %M' -o "$B/$name.time" "$@" -o local -os "$out" -of "$OF" \
       >"$B/$name.stdout" 2>"$B/$name.stderr"; then
    cat "$B/$name.time"
  else
    echo "bench-convert: $name failed, see $B/$name.stderr" >&2
    tail -3 "$B/$name.stderr" >&2
    echo "failed 0"
  fi
}

one() { # one NAME CMD... -> prints "wall rss_kib"; a failure stops the run
  r=$(run "$@" -i disk "$DISK")
  case $r in failed*) exit 1 ;; esac
  echo "$r"
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

if [ -n "$GUESTS" ]; then
  printf '%-14s %8s %8s %8s %8s %7s %7s %6s %6s\n' guest ours_s theirs_s ours_MiB theirs_MiB wall_x rss_x ours_ok theirs_ok
  for g in $GUESTS; do
    gd=$(sh "$top/scripts/make-test-guest.sh" "$g" | tail -n 1)
    json=$gd/$g.json
    fw=$(jq -r .firmware "$json")
    disks=$(jq -r '.disks[]' "$json" | sed "s|^|$gd/|")
    extra=$(jq -r '(.virt_v2v_args // [])[]' "$json")
    # The extra arguments have no blanks (checked): split on purpose.
    case $extra in *" "*) echo "bench-convert: $g: blank in virt_v2v_args" >&2; exit 2 ;; esac
    # shellcheck disable=SC2086
    o=$(run "$g-ours" "$OURS" --events fd:1 $extra -i disk $disks)
    # shellcheck disable=SC2086
    t=$(run "$g-theirs" "$THEIRS" $extra -i disk $disks)
    ob=-; tb=-
    if [ "${BOOT:-1}" = 1 ]; then
      ob=$(boots "$g-ours" "$json" "$fw"); tb=$(boots "$g-theirs" "$json" "$fw")
    fi
    printf '%-14s %8s %8s %8s %8s %7s %7s %6s %6s\n' "$g" "${o% *}" "${t% *}" \
      "$((${o#* } / 1024))" "$((${t#* } / 1024))" "$(ratio "${o% *}" "${t% *}")" \
      "$(ratio "${o#* }" "${t#* }")" "$ob" "$tb"
  done
  echo "(wall_x, rss_x: ours/theirs; *_ok: booted on virtio with the marker NAME.json expects;"
  echo " logs, serial consoles and the converted disks in $B)"
  exit 0
fi

printf '%-6s %-10s %10s %12s\n' round tool wall_s peak_rss_MiB
i=1
while [ "$i" -le "$RUNS" ]; do
  if [ $((i % 2)) -eq 1 ]; then order="ours theirs"; else order="theirs ours"; fi
  for who in $order; do
    if [ "$who" = ours ]; then
      set -- "$OURS" --events fd:1
    else
      set -- "$THEIRS"
    fi
    r=$(one "$who" "$@")
    w=${r% *}; m=${r#* }
    eval "${who}_w=\$w; ${who}_m=\$m"
    printf '%-6s %-10s %10s %12s\n' "$i" "$who" "$w" "$((m / 1024))"
  done
  echo "per-step seconds (ours, from the event stream):"
  grep '"event":"step-finished"' "$B/ours.stdout" |
    sed -n 's/.*"step":"\([a-z-]*\)".*"seconds":\([0-9.]*\).*/  \1 \2/p' || true
  awk -v a="$ours_w" -v b="$theirs_w" -v c="$ours_m" -v d="$theirs_m" \
    'BEGIN { printf "ratio ours/theirs: wall %.2f  peak RSS %.2f\n", a / b, c / d }'
  i=$((i + 1))
done
