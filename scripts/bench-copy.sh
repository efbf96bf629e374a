#!/bin/bash
# bench-copy.sh - helper-v2v-copy side by side with nbdcopy and qemu-img,
# between the same NBD servers, in one run.
#
# Usage:  scripts/bench-copy.sh setup            # make the images (~17 GB of disk, sparse)
#         scripts/bench-copy.sh run              # cases, rows, rounds from the environment
#         scripts/bench-copy.sh par2             # two disks of A: parallel vs serial
#         scripts/bench-copy.sh all              # run + par2, then the issue-4 targets, in one run
#         scripts/bench-copy.sh targets          # the targets again, from the logs of the last runs
#         scripts/bench-copy.sh clean
# Environment:
#   BENCH=/var/tmp/v2v-bench-copy   images, targets, logs
#   COPIER=target/release/helper-v2v-copy   our binary (build it with --release)
#   CASES="A B C D B4 B64"    A dense 4 GiB random raw; B (=B16) 16 GiB virtual with 1 GiB of
#                             scattered data; C the same as qcow2 -> qcow2; D 4 GiB of written
#                             zeros with 64 MiB of data; B4/B64 = B at 4/64 GiB virtual
#   ROWS="ours nbdcopy qemu-img"   rows to run (ours, nbdcopy, qemu-img; ours-* variants below)
#   ROUNDS=5                  runs per cell; rows alternate inside each round
#   FLOORS="A D"              cases that also get the row read-floor (source -> nbdkit null),
#                             and for A write-floor (nbdkit pattern -> target): what the disk
#                             and servers allow; par2 always gets its floor (two write-floors at once)
#   OURS_FLAGS=""             extra flags for our copier (e.g. --request-size 1M)
#   SRV_CACHE=none            nbdkit file plugin cache= on both raw servers (virt-v2v: none)
#   SRC_FADVISE=sequential    nbdkit file plugin fadvise= on the source (virt-v2v: sequential)
#   SRC_COW=1                 cow filter on the raw source (the overlay protecting the source)
#   QCOW2_DST_FLAGS="--cache=writeback --aio=threads"   qemu-nbd flags of a qcow2 target
#                             (as helper-v2v-output-local)
#
# Every timed run: evict the source from the page cache, fresh empty target (truncate / qemu-img
# create), start the servers (as virt-v2v does), run the copier, sync, stop the servers.
# "wall" = copier + sync (durable output); "cpu" and "rss" = the copier process alone
# (/usr/bin/time); "srv cpu" = both servers.  Every output is checked with qemu-img compare and
# its allocation is printed (sparse check).  Prints per case median (min-max) per row and the
# ratios ours/nbdcopy, ours/qemu-img and ours/(faster peer).
set -euo pipefail

BENCH=${BENCH:-/var/tmp/v2v-bench-copy}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COPIER=${COPIER:-$HERE/../target/release/helper-v2v-copy}
CASES=${CASES:-A B C D}
ROWS=${ROWS:-ours nbdcopy qemu-img}
ROUNDS=${ROUNDS:-5}
FLOORS=${FLOORS-A D}
OURS_FLAGS=${OURS_FLAGS:-}
SRV_CACHE=${SRV_CACHE:-none}
SRC_FADVISE=${SRC_FADVISE:-sequential}
SRC_COW=${SRC_COW:-1}
QCOW2_DST_FLAGS=${QCOW2_DST_FLAGS:---cache=writeback --aio=threads}
OUT=$BENCH/out
LOGS=$BENCH/logs
mkdir -p "$OUT" "$LOGS"

case_def() { # -> source-file source-format target-format
  case $1 in
    A) echo "A.raw raw raw" ;;
    A2) echo "A2.raw raw raw" ;;
    B|B16) echo "B16.raw raw raw" ;;
    B4) echo "B4.raw raw raw" ;;
    B64) echo "B64.raw raw raw" ;;
    C) echo "C16.qcow2 qcow2 qcow2" ;;
    D) echo "D.raw raw raw" ;;
    *) echo "unknown case $1" >&2; return 1 ;;
  esac
}

row_cmd() { # row -> command template ({src} {dst} are NBD URIs)
  case $1 in
    ours) echo "$COPIER -q $OURS_FLAGS {src} {dst}" ;;
    ours-rs256k) echo "$COPIER -q --request-size 256K {src} {dst}" ;;
    ours-rs2m) echo "$COPIER -q --request-size 2M {src} {dst}" ;;
    ours-rs1m) echo "$COPIER -q --request-size 1M {src} {dst}" ;;
    ours-rs4m) echo "$COPIER -q --request-size 4M {src} {dst}" ;;
    ours-rs8m) echo "$COPIER -q --request-size 8M {src} {dst}" ;;
    ours-tz) echo "$COPIER -q --target-is-zero {src} {dst}" ;;
    read-floor|write-floor) echo "$COPIER -q {src} {dst}" ;;
    ours-c1) echo "$COPIER -q --connections 1 {src} {dst}" ;;
    ours-c2) echo "$COPIER -q --connections 2 {src} {dst}" ;;
    ours-q64m) echo "$COPIER -q --queue-size 64M {src} {dst}" ;;
    nbdcopy) echo "nbdcopy --flush {src} {dst}" ;;
    qemu-img) echo "qemu-img convert -n --target-is-zero -W -m 16 -f raw -O raw {src} {dst}" ;;
    *) echo "unknown row $1" >&2; return 1 ;;
  esac
}

mkimages() { # python: sparse OUT VIRT_GIB DATA_MIB SEED | zerodata OUT SIZE_GIB DATA_MIB SEED
  python3 - "$@" <<'PY'
import os, random, sys
K64 = 64 * 1024
def sparse(out, virt_gib, data_mib, seed):
    virt, target = virt_gib << 30, data_mib << 20
    rng = random.Random(seed); lens = []; tot = 0
    while tot < target:
        n = max(1, int(2 ** rng.uniform(0, 7))) * K64
        n = min(n, target - tot) if target - tot >= K64 else K64
        lens.append(n); tot += n
    prng = random.Random(seed + 1)
    w = [prng.random() for _ in range(len(lens) + 1)]
    free_units = (virt - tot) // K64; sw = sum(w)
    gaps = [int(free_units * x / sw) for x in w]
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); os.ftruncate(fd, virt)
    crng = random.Random(seed + 2); off = 0
    for i, n in enumerate(lens):
        off += gaps[i] * K64; os.pwrite(fd, crng.randbytes(n), off); off += n
    os.fsync(fd); os.close(fd)
def zerodata(out, size_gib, data_mib, seed):
    size = size_gib << 30
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); z = bytes(8 << 20)
    for off in range(0, size, len(z)): os.pwrite(fd, z, off)
    rng = random.Random(seed); slot = size // data_mib
    for i in range(data_mib):
        off = i * slot + rng.randint(0, (slot - (1 << 20)) // K64) * K64
        os.pwrite(fd, rng.randbytes(1 << 20), off)
    os.fsync(fd); os.close(fd)
kind, out, a, b, seed = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
{"sparse": sparse, "zerodata": zerodata}[kind](out, a, b, seed)
PY
}

setup() {
  cd "$BENCH"
  [ -f A.raw ] || nbdkit -U - random size=4G seed=1 --run 'nbdcopy "$uri" A.raw'
  [ -f A2.raw ] || cp A.raw A2.raw
  for v in 4 16 64; do [ -f B$v.raw ] || mkimages sparse B$v.raw $v 1024 42; done
  [ -f C16.qcow2 ] || qemu-img convert -f raw -O qcow2 B16.raw C16.qcow2
  [ -f D.raw ] || mkimages zerodata D.raw 4 64 7
  sync; ls -ls "$BENCH"
}

PIDS=()
wait_ready() { local i; for i in $(seq 1 1000); do [ -s "$1" ] && [ -S "$2" ] && return 0; sleep 0.01; done
  echo "server did not start ($2)" >&2; return 1; }
start_src() { # FILE FMT SOCK: nbdkit file (+cow) for raw, qemu-nbd --snapshot otherwise
  local cow=; [ "$SRC_COW" = 1 ] && cow=--filter=cow
  rm -f "$3" "$3.pid"
  case $2 in
    raw) nbdkit -f -U "$3" --pidfile "$3.pid" $cow file file="$1" fadvise=$SRC_FADVISE cache=$SRV_CACHE & ;;
    *) qemu-nbd -t --shared=0 --snapshot -f "$2" -k "$3" --pid-file "$3.pid" "$1" & ;;
  esac
  PIDS+=($!); wait_ready "$3.pid" "$3"
}
start_dst() { # FILE FMT SOCK: nbdkit file for raw, qemu-nbd for qcow2 (flags as helper-v2v-output-local)
  rm -f "$3" "$3.pid"
  case $2 in
    raw) nbdkit -f -U "$3" --pidfile "$3.pid" file file="$1" cache=$SRV_CACHE & ;;
    # as helper-v2v-output-local serves a qcow2 target
    *) qemu-nbd -t --shared=0 -f "$2" $QCOW2_DST_FLAGS --discard=unmap --detect-zeroes=unmap \
         -k "$3" --pid-file "$3.pid" "$1" & ;;
  esac
  PIDS+=($!); wait_ready "$3.pid" "$3"
}
start_other() { # SOCK PLUGIN ARGS...: an nbdkit server with no disk behind it (floors)
  local sock=$1; shift; rm -f "$sock" "$sock.pid"
  nbdkit -f -U "$sock" --pidfile "$sock.pid" "$@" & PIDS+=($!); wait_ready "$sock.pid" "$sock"; }
srv_cpu() { # sum of utime+stime (s) of the running servers
  local p t=0; for p in "${PIDS[@]}"; do
    t=$(awk -v t="$t" '{print t + ($14 + $15) / 100}' "/proc/$p/stat" 2>/dev/null || echo "$t"); done; echo "$t"; }
stop_servers() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; PIDS=(); }
evict() { dd if="$1" iflag=nocache count=0 status=none 2>/dev/null || true; }
vsize() { qemu-img info --output=json -f "$2" "$1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["virtual-size"])'; }
new_target() { # FILE FMT SIZE
  rm -f "$1"; case $2 in raw) truncate -s "$3" "$1" ;; *) qemu-img create -q -f "$2" "$1" "$3" ;; esac; }

# run1 CASE ROW -> appends "wall cpu rss srvcpu verify allocMiB" to $LOGS/CASE.ROW
run1() {
  local c=$1 row=$2 sfile sfmt dfmt size dst sd tmpl cmd s e rc=0 ver alloc
  read -r sfile sfmt dfmt < <(case_def "$c"); sfile=$BENCH/$sfile
  size=$(vsize "$sfile" "$sfmt"); dst=$OUT/$c.$row.$dfmt; sd=$(mktemp -d /tmp/bc.XXXXXX)
  new_target "$dst" "$dfmt" "$size"; sync; evict "$sfile"
  case $row in
    # Floors: the same copy with one side replaced by a server that costs no disk I/O:
    # read-floor = source -> nbdkit null (reads only), write-floor = nbdkit pattern -> target
    # (writes only; a dense source, so meaningful for case A).  The copy can't beat the slower.
    read-floor) start_src "$sfile" "$sfmt" "$sd/in"; start_other "$sd/out" null size="$size" ;;
    write-floor) start_other "$sd/in" pattern size="$size"; start_dst "$dst" "$dfmt" "$sd/out" ;;
    *) start_src "$sfile" "$sfmt" "$sd/in"; start_dst "$dst" "$dfmt" "$sd/out" ;;
  esac
  tmpl=$(row_cmd "$row"); cmd=${tmpl//\{src\}/nbd+unix:///?socket=$sd/in}; cmd=${cmd//\{dst\}/nbd+unix:///?socket=$sd/out}
  echo "$cmd" > "$LOGS/$c.$row.cmd"
  s=$(date +%s.%N)
  /usr/bin/time -f '%U %S %M' -o "$sd/time" $cmd > "$LOGS/$c.$row.out" 2>&1 || rc=$?
  sync; e=$(date +%s.%N)
  local scpu; scpu=$(srv_cpu); stop_servers
  if [ $rc != 0 ]; then ver="FAIL($rc)"
  elif [[ $row == *-floor ]]; then ver=n/a
  elif qemu-img compare -q -f "$sfmt" -F "$dfmt" "$sfile" "$dst" 2>/dev/null; then ver=ok; else ver=FAIL; fi
  alloc=$(du -B1M "$dst" | cut -f1)
  echo "$(awk -v s="$s" -v e="$e" 'BEGIN{printf "%.3f", e-s}') $(awk '{printf "%.2f %.1f", $1+$2, $3/1024}' "$sd/time") $scpu $ver $alloc" >> "$LOGS/$c.$row"
  rm -rf "$sd" "$dst"
}

stat3() { sort -g | awk '{a[NR]=$1} END{if(!NR){print "-"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f %.2f %.2f\n", m, a[1], a[NR]}'; }
med() { stat3 | cut -d' ' -f1; }

rows_for() { # CASE -> the rows run for it: $ROWS, plus the floors for the cases in $FLOORS
  # (write-floor writes the whole disk: only meaningful for a dense case, A)
  if [[ " $FLOORS " != *" $1 "* ]]; then echo "$ROWS"
  elif [ "$1" = A ]; then echo "$ROWS read-floor write-floor"; else echo "$ROWS read-floor"; fi; }

run() {
  local c row r rows
  for c in $CASES; do for row in $(rows_for "$c"); do rm -f "$LOGS/$c.$row"; done; done
  for r in $(seq 1 "$ROUNDS"); do
    for c in $CASES; do
      rows=$(rows_for "$c"); [ $((r % 2)) = 0 ] && rows=$(echo $rows | tr ' ' '\n' | tac | tr '\n' ' ')
      for row in $rows; do echo "round $r/$ROUNDS case $c row $row" >&2; run1 "$c" "$row"; done
    done
  done
  printf '\n%-5s %-12s %-24s %-8s %-9s %-8s %-8s %s\n' case row "wall s med (min-max)" "cpu s" "rss MiB" "srv cpu" "out MiB" verify
  for c in $CASES; do for row in $(rows_for "$c"); do
    local f=$LOGS/$c.$row
    printf '%-5s %-12s %-24s %-8s %-9s %-8s %-8s %s\n' "$c" "$row" \
      "$(cut -d' ' -f1 "$f" | stat3 | awk '{printf "%s (%s-%s)", $1, $2, $3}')" \
      "$(cut -d' ' -f2 "$f" | med)" "$(cut -d' ' -f3 "$f" | sort -g | tail -1)" \
      "$(cut -d' ' -f4 "$f" | med)" "$(cut -d' ' -f6 "$f" | sort -g | tail -1)" \
      "$(cut -d' ' -f5 "$f" | sort -u | tr '\n' ' ')"
  done; done
  if [[ " $ROWS " == *" ours "* ]]; then
    printf '\n%-5s %-14s %-14s %-16s %s\n' case ours/nbdcopy ours/qemu-img "ours/faster-peer" "ours peak rss MiB"
    for c in $CASES; do
      local o n q rss; o=$(cut -d' ' -f1 "$LOGS/$c.ours" | med)
      n=$( [[ " $ROWS " == *" nbdcopy "* ]] && cut -d' ' -f1 "$LOGS/$c.nbdcopy" | med || echo 0)
      q=$( [[ " $ROWS " == *" qemu-img "* ]] && cut -d' ' -f1 "$LOGS/$c.qemu-img" | med || echo 0)
      rss=$(cut -d' ' -f3 "$LOGS/$c.ours" | sort -g | tail -1)
      awk -v c="$c" -v o="$o" -v n="$n" -v q="$q" -v r="$rss" 'BEGIN{
        f = (n>0 && (q==0 || n<q)) ? n : q
        printf "%-5s %-14s %-14s %-16s %s\n", c, (n>0)?sprintf("%.2f",o/n):"-", (q>0)?sprintf("%.2f",o/q):"-", (f>0)?sprintf("%.2f",o/f):"-", r }'
    done
    if [ -f "$LOGS/B4.ours" ] && [ -f "$LOGS/B64.ours" ]; then
      awk -v a="$(cut -d' ' -f1 "$LOGS/B4.ours" | med)" -v b="$(cut -d' ' -f1 "$LOGS/B64.ours" | med)" \
        'BEGIN{printf "B64/B4 (ours): %.2f\n", b/a}'
    fi
  fi
}

# Two disks of A through one temp dir (metadata.in + output.json): our copier
# copies both at once (default) or one after the other (--parallel 1).
par1() { # MODE(par|ser|floor) -> appends "wall cpu rss verify" to $LOGS/par2.MODE
  # floor: both disks at once from nbdkit pattern (no reads): the writes alone
  local mode=$1 d size i flags=; d=$(mktemp -d /tmp/bp.XXXXXX); size=$(stat -c %s "$BENCH/A.raw")
  [ "$mode" = ser ] && flags="--parallel 1"
  for i in 1 2; do new_target "$OUT/par$i.raw" raw "$size"; done; sync
  evict "$BENCH/A.raw"; evict "$BENCH/A2.raw"
  if [ "$mode" = floor ]; then
    start_other "$d/in1" pattern size="$size"; start_other "$d/in2" pattern size="$size"
  else start_src "$BENCH/A.raw" raw "$d/in1"; start_src "$BENCH/A2.raw" raw "$d/in2"; fi
  start_dst "$OUT/par1.raw" raw "$d/out1"; start_dst "$OUT/par2.raw" raw "$d/out2"
  python3 - "$d" "$size" <<'PY'
import json, sys
d, size = sys.argv[1], int(sys.argv[2])
disks = [{"index": i, "socket": f"in{i}", "format": "raw", "size": size, "source": f"A{i}"} for i in (1, 2)]
json.dump({"version": 1, "source": {"name": "bench", "origin": {"input_type": "disk", "location": []},
           "memory_bytes": 1 << 30, "vcpus": 1, "disks": disks}}, open(f"{d}/metadata.in", "w"))
outs = [{"index": i, "socket": f"out{i}", "format": "raw", "size": size} for i in (1, 2)]
json.dump({"version": 1, "output_type": "local", "name": "bench", "disks": outs, "target_is_zero": True},
          open(f"{d}/output.json", "w"))
PY
  local s e rc=0 ver=ok; s=$(date +%s.%N)
  /usr/bin/time -f '%U %S %M' -o "$d/time" "$COPIER" -q $OURS_FLAGS $flags "$d" > "$LOGS/par2.$mode.out" 2>&1 || rc=$?
  sync; e=$(date +%s.%N); stop_servers
  if [ "$mode" = floor ]; then ver=n/a
  else for i in 1 2; do qemu-img compare -q -f raw -F raw "$BENCH/A.raw" "$OUT/par$i.raw" || ver=FAIL; done; fi
  [ $rc = 0 ] || ver="FAIL($rc)"
  echo "$(awk -v s="$s" -v e="$e" 'BEGIN{printf "%.3f", e-s}') $(awk '{printf "%.2f %.1f", $1+$2, $3/1024}' "$d/time") $ver" >> "$LOGS/par2.$mode"
  rm -rf "$d" "$OUT"/par?.raw
}
par2() {
  rm -f "$LOGS/par2.par" "$LOGS/par2.ser" "$LOGS/par2.floor"
  local r; for r in $(seq 1 "$ROUNDS"); do
    echo "round $r/$ROUNDS par2" >&2
    if [ $((r % 2)) = 1 ]; then par1 par; par1 ser; par1 floor; else par1 floor; par1 ser; par1 par; fi
  done
  printf '\n%-9s %-24s %-8s %-9s %s\n' mode "wall s med (min-max)" "cpu s" "rss MiB" verify
  local m; for m in par ser floor; do
    printf '%-9s %-24s %-8s %-9s %s\n' "$m" "$(cut -d' ' -f1 "$LOGS/par2.$m" | stat3 | awk '{printf "%s (%s-%s)", $1, $2, $3}')" \
      "$(cut -d' ' -f2 "$LOGS/par2.$m" | med)" "$(cut -d' ' -f3 "$LOGS/par2.$m" | sort -g | tail -1)" \
      "$(cut -d' ' -f4 "$LOGS/par2.$m" | sort -u | tr '\n' ' ')"
  done
  awk -v p="$(cut -d' ' -f1 "$LOGS/par2.par" | med)" -v s="$(cut -d' ' -f1 "$LOGS/par2.ser" | med)" \
    'BEGIN{printf "parallel/serial: %.2f\n", p/s}'
}

# The issue-4 targets from the logs of the last run/par2.
targets() {
  local f=$LOGS ok=1
  m() { [ -f "$f/$1" ] && cut -d' ' -f1 "$f/$1" | med || echo 0; }
  check() { # NAME VALUE LIMIT
    awk -v n="$1" -v v="$2" -v l="$3" 'BEGIN{ if (v+0 == 0) { printf "%-34s %-6s <= %-5s %s\n", n, "-", l, "not run"; exit 0 }
      printf "%-34s %-6.2f <= %-5s %s\n", n, v, l, (v <= l) ? "met" : "NOT met" }'
  }
  faster() { awk -v a="$(m "$1.nbdcopy")" -v b="$(m "$1.qemu-img")" 'BEGIN{print (a>0 && (b==0 || a<b)) ? a : b}'; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN{print (a>0 && b>0) ? a/b : 0}'; }
  printf '\n%-34s %-6s    %-5s %s\n' target value limit verdict
  check "A: ours/nbdcopy" "$(ratio "$(m A.ours)" "$(m A.nbdcopy)")" 0.67
  if [ -f "$f/A.read-floor" ] && [ -f "$f/A.write-floor" ]; then
    awk -v r="$(m A.read-floor)" -v w="$(m A.write-floor)" -v n="$(m A.nbdcopy)" -v o="$(m A.ours)" 'BEGIN{
      fl = (r > w) ? r : w
      printf "  A floor: reads alone %.2f s, writes alone %.2f s: no copy beats %.2f s = %.2f x nbdcopy (ours %.2f x the floor)\n", r, w, fl, (n>0)?fl/n:0, (fl>0)?o/fl:0 }'
  fi
  local c; for c in B C D; do
    check "$c: ours/faster peer" "$(ratio "$(m $c.ours)" "$(faster $c)")" 1.00
    if [ -f "$f/$c.read-floor" ]; then
      awk -v c="$c" -v r="$(m $c.read-floor)" -v p="$(faster $c)" -v o="$(m $c.ours)" 'BEGIN{
        printf "  %s floor: reads alone %.2f s = %.2f x the faster peer (ours %.2f x the floor)\n", c, r, (p>0)?r/p:0, (r>0)?o/r:0 }'
    fi
  done
  check "B64/B4 (ours)" "$(ratio "$(m B64.ours)" "$(m B4.ours)")" 1.20
  check "par2: parallel/serial" "$(ratio "$(m par2.par)" "$(m par2.ser)")" 0.85
  if [ -f "$f/par2.floor" ]; then
    awk -v w="$(m par2.floor)" -v s="$(m par2.ser)" -v p="$(m par2.par)" 'BEGIN{
      printf "  par2 floor: both disks written at once (no reads) %.2f s = %.2f x serial (parallel %.2f x the floor)\n", w, (s>0)?w/s:0, (w>0)?p/w:0 }'
  fi
  check "peak RSS of ours, MiB" "$(cat "$f"/*.ours "$f"/par2.par "$f"/par2.ser 2>/dev/null | cut -d' ' -f3 | sort -g | tail -1)" 64
  grep -l FAIL "$f"/*.ours "$f"/*.nbdcopy "$f"/*.qemu-img "$f"/par2.* 2>/dev/null | sed 's/^/verify FAILED: /' || echo "every output verified identical (qemu-img compare)"
}

trap stop_servers EXIT
cmd=${1:-run}; shift || true
case $cmd in
  setup) setup ;;
  run) run ;;
  run1) run1 "$@" ;;
  par2) par2 ;;
  all) echo "bench-copy all: $(date -u '+%F %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
       run; par2; targets
       echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" ;;
  targets) targets ;;
  clean) rm -rf "$OUT" "$BENCH"/*.raw "$BENCH"/*.qcow2 ;;
  *) awk 'NR > 1 && /^set -e/ { exit } NR > 1' "$0"; exit 2 ;;
esac
