#!/bin/sh
# bench-batch.sh - N conversions of the test guest three ways: virt-v2v-batch
# (global limits), N virt-v2v runs in sequence, N virt-v2v runs all at once.
#
#   scripts/bench-batch.sh [DISK]        (default: the test guest's raw disk)
#
# Env: N=8 (guests), MAX_APPLIANCES=2, MAX_COPIES=2 (the batch's limits;
#      its appliance vCPUs are its default, CPUs / MAX_APPLIANCES),
#      NO_CONVERT=1 (copy-only runs: --no-convert; fast, no appliance),
#      MODES="batch sequence parallel", BENCH_DIR=/var/tmp/v2v-bench-batch,
#      PROFILE=release (or dev: the debug build, as the tests use),
#      LIBGUESTFS_BACKEND_SETTINGS (default force_tcg).
# Every guest converts the same source disk (read through its own
# copy-on-write overlay) to its own -o local directory, removed after each
# mode.  Prints per mode: wall seconds; peak memory, the largest sum of the
# RSS of every process under the mode's runs, sampled every 0.5 s (shared
# pages count once per process: an upper bound); and the most convert and
# copy steps running at once, from the helpers' step-started/step-finished
# events (so the limits are checked by what ran, not by what the batch
# says).  Then the ratios batch/sequence and batch/parallel.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
DISK=${1:-}
[ -n "$DISK" ] || DISK=$(sh "$top/scripts/make-test-guest.sh" | tail -n 1)/foreign-guest.raw
N=${N:-8}
MAX_APPLIANCES=${MAX_APPLIANCES:-2}
MAX_COPIES=${MAX_COPIES:-2}
MODES=${MODES:-batch sequence parallel}
B=${BENCH_DIR:-/var/tmp/v2v-bench-batch}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
[ -r "$DISK" ] || { echo "bench-batch: no disk $DISK (run scripts/make-test-guest.sh)" >&2; exit 2; }
command -v jq >/dev/null || { echo "bench-batch: jq missing (scripts/install-deps.sh)" >&2; exit 2; }
PROFILE=${PROFILE:-release}
(cd "$top" && cargo build --profile "$PROFILE" --workspace --bins -q)
bin=${CARGO_TARGET_DIR:-$top/target}/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
PATH=$bin:$PATH; export PATH
NC=
[ "${NO_CONVERT:-0}" = 1 ] && NC=--no-convert
rm -rf "$B"; mkdir -p "$B"
VIRT_V2V_TMPDIR=$B; export VIRT_V2V_TMPDIR

# args I: one guest's virt-v2v arguments, one per line.
args() {
  [ -n "$NC" ] && echo "$NC"
  printf '%s\n' -i disk "$DISK" -o local -on "g$1" -os "$B/out/g$1"
}

# rss_tree PID: the summed RSS (KiB) of PID and all its descendants.
rss_tree() {
  ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
    { pp[$1] = $2; rss[$1] = $3 }
    END { for (p in pp) { q = p; while (q != "" && q != root && q in pp && q != 1) q = pp[q];
                          if (q == root) s += rss[p] } print s + 0 }'
}

# sample PID FILE: the peak of rss_tree PID, written to FILE, until PID exits.
sample() {
  peak=0
  while kill -0 "$1" 2>/dev/null; do
    r=$(rss_tree "$1"); [ "$r" -gt "$peak" ] && peak=$r
    echo "$peak" > "$2"; sleep 0.5
  done
}

# most_at_once STEP EVENTFILE...: the most STEP steps running at once.
most_at_once() {
  step=$1; shift
  cat "$@" | grep '^{' | jq -r --arg s "$step" \
    'select(.step == $s and (.event == "step-started" or .event == "step-finished"))
     | "\(.time) \(if .event == "step-started" then 1 else -1 end)"' |
    sort -n | awk '{ n += $2; if (n > m) m = n } END { print m + 0 }'
}

run_mode() { # run_mode MODE: runs it in the background of a subshell, prints "wall peak_kib"
  mode=$1; rm -rf "$B/out" "$B/$mode"; mkdir -p "$B/$mode"
  i=1; while [ "$i" -le "$N" ]; do mkdir -p "$B/out/g$i"; i=$((i + 1)); done
  sync
  t0=$(date +%s.%N)
  case $mode in
    sequence)
      ( i=1; while [ "$i" -le "$N" ]; do
          args "$i" | tr '\n' '\0' | xargs -0 virt-v2v --events fd:1 \
            >"$B/$mode/g$i.events" 2>"$B/$mode/g$i.stderr" || echo "g$i failed" >> "$B/$mode/failed"
          i=$((i + 1)); done ) &
      ;;
    parallel)
      ( i=1; while [ "$i" -le "$N" ]; do
          ( args "$i" | tr '\n' '\0' | xargs -0 virt-v2v --events fd:1 \
            >"$B/$mode/g$i.events" 2>"$B/$mode/g$i.stderr" || echo "g$i failed" >> "$B/$mode/failed" ) &
          i=$((i + 1)); done; wait ) &
      ;;
    batch)
      i=1; { echo '{"guests": ['
             while [ "$i" -le "$N" ]; do
               [ "$i" -gt 1 ] && echo ','
               args "$i" | jq -R . | jq -s -c --arg n "g$i" '{name: $n, args: .}'
               i=$((i + 1)); done
             echo ']}'; } > "$B/jobs.json"
      ( virt-v2v-batch --dir "$B/$mode/dir" --max-appliances "$MAX_APPLIANCES" \
          --max-copies "$MAX_COPIES" "$B/jobs.json" 2>"$B/$mode/stderr" ||
          echo "batch exit $?" >> "$B/$mode/failed"
        for d in "$B/$mode/dir/guests"/*; do cp "$d/events.jsonl" "$B/$mode/$(basename "$d").events"; done ) &
      ;;
  esac
  pid=$!
  sample "$pid" "$B/$mode/peak" &
  spid=$!
  wait "$pid"; wait "$spid" || true
  t1=$(date +%s.%N)
  if [ -e "$B/$mode/failed" ]; then
    echo "bench-batch: $mode: $(cat "$B/$mode/failed"); see $B/$mode" >&2; exit 1
  fi
  echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }' > "$B/$mode/wall"
  rm -rf "$B/out"
}

echo "bench-batch: $(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "$PROFILE build, N=$N${NC:+ $NC}, batch limits: $MAX_APPLIANCES appliances, $MAX_COPIES copies"
printf '%-9s %8s %14s %13s %11s\n' mode wall_s peak_mem_MiB converts_max copies_max
for m in $MODES; do
  run_mode "$m"
  printf '%-9s %8s %14s %13s %11s\n' "$m" "$(cat "$B/$m/wall")" "$(( $(cat "$B/$m/peak") / 1024 ))" \
    "$(most_at_once convert "$B/$m"/g*.events)" "$(most_at_once copy "$B/$m"/g*.events)"
done
for m in sequence parallel; do
  [ -e "$B/batch/wall" ] && [ -e "$B/$m/wall" ] || continue
  awk -v a="$(cat "$B/batch/wall")" -v b="$(cat "$B/$m/wall")" \
      -v c="$(cat "$B/batch/peak")" -v d="$(cat "$B/$m/peak")" -v m="$m" \
      'BEGIN { printf "batch/%s: wall %.2f  peak memory %.2f\n", m, a / b, c / d }'
done
if [ -e "$B/batch/wall" ]; then
  echo "batch appliance vCPUs: $(jq -r .limits.appliance_cpus "$B/batch/dir/report.json") each (its report.json)"
  ca=$(most_at_once convert "$B/batch"/g*.events); co=$(most_at_once copy "$B/batch"/g*.events)
  if [ "$ca" -le "$MAX_APPLIANCES" ] && [ "$co" -le "$MAX_COPIES" ]; then
    echo "batch limits held: converts at once $ca <= $MAX_APPLIANCES, copies at once $co <= $MAX_COPIES"
  else
    echo "batch limits EXCEEDED: converts at once $ca (limit $MAX_APPLIANCES), copies $co (limit $MAX_COPIES)"; exit 1
  fi
fi
