#!/bin/sh
# bench-convert.sh - end-to-end conversion time and peak memory: our virt-v2v
# against Debian's /usr/bin/virt-v2v (2.2.0), same input, same output options,
# in one run.
#
#   scripts/bench-convert.sh [DISK]      (default: the test fixture)
#
# Env: RUNS=1 (rounds; each round runs both, alternating which goes first),
#      OF=qcow2 (-of), BENCH_DIR=/var/tmp/v2v-bench-convert,
#      LIBGUESTFS_BACKEND_SETTINGS (default force_tcg: nested KVM hangs here;
#      both tools get the same setting).
# Prints, per round, wall seconds and peak RSS (of the whole process tree, as
# /usr/bin/time reports for waited-for children) for both, our per-step times
# (from --machine-readable events), and the ratio ours/theirs.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
DISK=${1:-${V2V_FIXTURE:-}}
[ -n "$DISK" ] || DISK=$(sh "$top/scripts/make-test-guest.sh" | tail -n 1)/foreign-guest.raw
RUNS=${RUNS:-1}
OF=${OF:-qcow2}
B=${BENCH_DIR:-/var/tmp/v2v-bench-convert}
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
THEIRS=/usr/bin/virt-v2v
[ -r "$DISK" ] || { echo "bench-convert: no disk $DISK (run scripts/make-test-guest.sh)" >&2; exit 2; }
[ -x "$THEIRS" ] || { echo "bench-convert: $THEIRS not installed (scripts/install-deps.sh)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench-convert: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }
(cd "$top" && cargo build --release --workspace --bins -q)
OURS=$top/target/release/virt-v2v
PATH=$top/target/release:$PATH; export PATH
mkdir -p "$B"

one() { # one NAME CMD... -> prints "wall rss_kib"
  name=$1; shift
  out=$B/$name; rm -rf "$out"; mkdir -p "$out"
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -f '%e %M' -o "$B/$name.time" "$@" -i disk "$DISK" -o local -os "$out" -of "$OF" \
     >"$B/$name.stdout" 2>"$B/$name.stderr" || {
       echo "bench-convert: $name failed, see $B/$name.stderr" >&2; tail -5 "$B/$name.stderr" >&2; exit 1; }
  cat "$B/$name.time"
}

printf '%-6s %-10s %10s %12s\n' round tool wall_s peak_rss_MiB
i=1
while [ "$i" -le "$RUNS" ]; do
  if [ $((i % 2)) -eq 1 ]; then order="ours theirs"; else order="theirs ours"; fi
  for who in $order; do
    if [ "$who" = ours ]; then
      set -- "$OURS" --machine-readable
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
