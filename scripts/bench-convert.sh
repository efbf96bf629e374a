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
  GUESTS=${*:-$(sh "$top/scripts/make-test-guest.sh" --list | awk '!/\[bench only/ { print $1 }')}
  set --
  command -v jq >/dev/null || { echo "bench-convert: jq missing (scripts/install-deps.sh)" >&2; exit 2; }
fi
DISK=${1:-${V2V_FIXTURE:-}}
[ -n "$DISK" ] || [ -n "$GUESTS" ] || DISK=$(sh "$top/scripts/make-test-guest.sh" | tail -n 1)/foreign-guest.raw
RUNS=${RUNS:-1}
[ -n "$GUESTS" ] || [ -r "$DISK" ] || { echo "bench-convert: no disk $DISK (run scripts/make-test-guest.sh)" >&2; exit 2; }
# shellcheck source=scripts/bench-lib.sh
. "$top/scripts/bench-lib.sh"
bench_init bench-convert /var/tmp/v2v-bench-convert

one() { # one NAME CMD... -> prints "wall rss_kib"; a failure stops the run
  r=$(run "$@" -i disk "$DISK")
  case $r in failed*) exit 1 ;; esac
  echo "$r"
}

if [ -n "$GUESTS" ]; then
  printf '%-14s %8s %8s %8s %8s %7s %7s %6s %6s\n' guest ours_s theirs_s ours_MiB theirs_MiB wall_x rss_x ours_ok theirs_ok
  for g in $GUESTS; do
    guest_facts "$g"
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
