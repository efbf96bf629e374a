#!/bin/sh
# bench-overlap.sh - issue 16's overlapped-copy benchmark: one guest's disks
# converted three ways in one run, each `-i disk ... -o local -of qcow2`
# into its own directory with the page cache dropped first: our virt-v2v
# with the overlapped copy (the default), ours with --no-overlap, and
# Debian's /usr/bin/virt-v2v 2.2.
#
#   scripts/bench-overlap.sh [GUEST]     default: big-data (built by
#                                        scripts/make-test-guest.sh if not
#                                        cached; BIG_DATA_MIB sets its size)
#
# Prints a row per run (wall seconds, peak RSS in MiB), for each of our runs
# its step times from the event stream (`--events FILE`), how long copy
# pass 1 overlapped the conversion and what each copy pass wrote (pass 2's
# bytes are the delta), then the ratios ours/theirs and
# overlap/no-overlap against issue 16's targets (0.5 and 0.8).
#
# Env: ROUNDS=1 (each round runs the three, the order reversed every other
#      round; the ratios at the end are of the walls summed over rounds),
#      BOOT=1 boots each result on virtio (scripts/boot-check.sh --expect
#      GUEST.json; default 0), KEEP=1 keeps the converted disks (default:
#      each is removed once measured, and booted: they are GiBs),
#      WHO="overlap no-overlap theirs" (the runs, in a round's order; the
#      ratios of a run left out print as -), OVERLAP_ARGS (more options of
#      the overlapped run, e.g. "--bandwidth 1200M": pass 1 paced so the
#      copy leaves the conversion its CPU),
#      BIG_DATA_MIB (the big-data guest's size, default 4096),
#      OF, BENCH_DIR (default /var/tmp/v2v-bench-overlap),
#      LIBGUESTFS_BACKEND_SETTINGS (default force_tcg), as
#      scripts/bench-convert.sh.  Logs and event streams stay in BENCH_DIR.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
GUEST=${1:-big-data}
ROUNDS=${ROUNDS:-1}
BOOT=${BOOT:-0}
KEEP=${KEEP:-0}
WHO=${WHO:-overlap no-overlap theirs}
for who in $WHO; do
  case $who in overlap | no-overlap | theirs) ;; *) echo "bench-overlap: WHO: $who: not overlap, no-overlap or theirs" >&2; exit 2 ;; esac
done
command -v jq >/dev/null || { echo "bench-overlap: jq missing (scripts/install-deps.sh)" >&2; exit 2; }
case $ROUNDS in '' | *[!0-9]* | 0) echo "bench-overlap: ROUNDS=$ROUNDS: not a positive number" >&2; exit 2 ;; esac
# shellcheck source=scripts/bench-lib.sh
. "$top/scripts/bench-lib.sh"
bench_init bench-overlap /var/tmp/v2v-bench-overlap

guest_facts "$GUEST"
# shellcheck disable=SC2086
echo "guest $GUEST ($gd): $(du -sh --apparent-size $disks | awk '{ s = s (s ? " " : "") $1 } END { print s }') virtual," \
  "$(du -shc $disks | tail -n 1 | cut -f1) allocated; -of $OF; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# report NAME: our run's step times, the overlap and the copy passes, from
# its event stream $B/NAME.events.
report() {
  jq -rs '
    def r1: . * 10 | round / 10;
    def mib: . / 1048576 | round;
    # Number the copy passes: the events of the copy step after its Nth
    # step-started belong to pass N.
    [foreach .[] as $e (0;
       if $e.step == "copy" and $e.event == "step-started" then . + 1 else . end;
       $e + {pass: .})] as $ev
    | ($ev | map(select(.event == "step-finished" and .step != "virt-v2v"))
       | map(.step + (if .step == "copy" then "#\(.pass)" else "" end) + " \(.seconds | r1)")
       | join("  ")) as $steps
    | ($ev | map(select(.step == "convert")) | [(.[] | select(.event == "step-started") | .time)][0]) as $c0
    | ($ev | map(select(.step == "convert")) | [(.[] | select(.event == "step-finished") | .time)][0]) as $c1
    | ($ev | map(select(.step == "copy" and .pass == 1)) | [(.[] | select(.event == "step-started") | .time)][0]) as $p0
    | ($ev | map(select(.step == "copy" and .pass == 1)) | [(.[] | select(.event == "step-finished") | .time)][0]) as $p1
    | (if $c0 and $c1 and $p0 and $p1 then ([$c1, $p1] | min) - ([$c0, $p0] | max) | if . < 0 then 0 else . end
       else null end) as $ov
    | ($ev | map(select(.event == "disk-finished")) | group_by(.pass)
       | map("pass \(.[0].pass): copied \(map(.bytes_copied) | add | mib) MiB, zeroed \(map(.bytes_zeroed) | add | mib) MiB"
             + " (\(map(.bytes_copied + .bytes_zeroed) | add) bytes)")
       | join("; ")) as $passes
    | ($ev | map(select(.event == "disk-finished")) | group_by(.pass)
       | map(map(.bytes_copied + .bytes_zeroed) | add)) as $sums
    | "  steps (s): \($steps)",
      "  copy pass 1 overlapped convert: \(if $ov then "\($ov | r1) s of convert'"'"'s \($c1 - $c0 | r1) s" else "-" end)",
      "  copy: \($passes)",
      "  delta (pass 2 / pass 1): \(if ($sums | length) == 2 and $sums[0] > 0
         then "\($sums[1] / $sums[0] * 10000 | round / 100) %" else "- (one pass)" end)"
  ' "$B/$1.events"
}

# one_run WHO ROUND: converts the guest with WHO (overlap, no-overlap or
# theirs); prints its row and, for ours, its report; sets WHO's wall and
# RSS sums.
one_run() {
  who=$1 round=$2
  case $who in
    # shellcheck disable=SC2086
    overlap) set -- "$OURS" --events "$B/$who.events" ${OVERLAP_ARGS:-} ;;
    no-overlap) set -- "$OURS" --events "$B/$who.events" --no-overlap ;;
    theirs) set -- "$THEIRS" ;;
  esac
  rm -f "$B/$who.events" # appended to
  # shellcheck disable=SC2086
  r=$(run "$who" "$@" $extra -i disk $disks)
  case $r in failed*) exit 1 ;; esac
  w=${r% *}; m=${r#* }
  ok=-
  [ "$BOOT" != 1 ] || ok=$(boots "$who" "$json" "$fw")
  printf '%-6s %-12s %9s %13s %7s\n' "$round" "$who" "$w" "$((m / 1024))" "$ok"
  [ "$who" = theirs ] || report "$who"
  [ "$KEEP" = 1 ] || rm -rf "${B:?}/$who"
  k=$(echo "$who" | tr - _)
  eval "sw=\$sum_w_$k mm=\$max_m_$k"
  sw=$(awk -v a="$sw" -v b="$w" 'BEGIN { print a + b }')
  [ "$m" -le "$mm" ] || mm=$m
  eval "sum_w_$k=\$sw max_m_$k=\$mm"
}

sum_w_overlap=0 sum_w_no_overlap=0 sum_w_theirs=0
max_m_overlap=0 max_m_no_overlap=0 max_m_theirs=0
printf '%-6s %-12s %9s %13s %7s\n' round run wall_s peak_rss_MiB booted
i=1
while [ "$i" -le "$ROUNDS" ]; do
  order=$WHO
  # shellcheck disable=SC2086
  [ $((i % 2)) -eq 1 ] || order=$(printf '%s\n' $WHO | tac | paste -sd' ' -)
  for who in $order; do one_run "$who" "$i"; done
  i=$((i + 1))
done
echo "(theirs: $THEIRS $("$THEIRS" --version 2>/dev/null | head -n 1 | awk '{ print $2 }'); ratios of the walls summed over $ROUNDS round(s), of the peak RSS maxima)"
target() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "-") print "-"; else if (r + 0 <= t) print "met"; else print "missed" }'; }
x=$(ratio "$sum_w_overlap" "$sum_w_theirs")
printf 'ours (overlap)/theirs:     wall %s  peak RSS %s  (target wall <= 0.5: %s)\n' "$x" \
  "$(ratio "$max_m_overlap" "$max_m_theirs")" "$(target "$x" 0.5)"
printf 'ours (no-overlap)/theirs:  wall %s  peak RSS %s\n' "$(ratio "$sum_w_no_overlap" "$sum_w_theirs")" \
  "$(ratio "$max_m_no_overlap" "$max_m_theirs")"
x=$(ratio "$sum_w_overlap" "$sum_w_no_overlap")
printf 'overlap/no-overlap:        wall %s  peak RSS %s  (target wall <= 0.8: %s)\n' "$x" \
  "$(ratio "$max_m_overlap" "$max_m_no_overlap")" "$(target "$x" 0.8)"
