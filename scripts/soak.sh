#!/bin/sh
# usage: soak.sh [GUEST] [N]
#
# Converts test guest GUEST (default foreign-guest; see make-test-guest.sh
# --list) N times (default 10) with `virt-v2v -i disk DISK... -o local`
# plus the guest's own virt_v2v_args, and boots every result on virtio
# with scripts/boot-check.sh --expect GUEST.json.  Prints one line per run
# and the pass/fail counts; exits 1 if any run failed.  Not part of CI: it
# hunts intermittent faults (a conversion that boots three times out of
# four).
#
# A passing run's files are removed; a failing run keeps everything under
# $SOAK_DIR/run-K (default /var/tmp/v2v-soak.XXXXXX): the converted disk
# (out/), virt-v2v's stderr and JSON events (virt-v2v.err, events.jsonl), every
# step log (tmp/, kept with --keep-tmpdir) and the serial console
# (console.log; boot-check's verdict in boot.txt).  Needs the binaries on
# PATH or in target/{release,debug}.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
guest=${1:-foreign-guest}
n=${2:-10}
case $n in '' | *[!0-9]*) echo "soak: N must be a number, not '$n'" >&2; exit 2 ;; esac
for d in "$top/target/release" "$top/target/debug"; do
  [ -x "$d/virt-v2v" ] && { PATH=$d:$PATH; break; }
done
command -v virt-v2v >/dev/null || { echo "soak: virt-v2v not found (cargo build --workspace --bins)" >&2; exit 2; }
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}

gdir=$(sh "$top/scripts/make-test-guest.sh" "$guest" | tail -n 1)
expect=$gdir/$guest.json
raws=$(jq -r --arg d "$gdir" '.disks[] | $d + "/" + .' "$expect")
extra=$(jq -r '.virt_v2v_args[]' "$expect")
soak=${SOAK_DIR:-$(mktemp -d /var/tmp/v2v-soak.XXXXXX)}
mkdir -p "$soak"
echo "soak: $guest x $n, failures kept in $soak" >&2

pass=0 fail=0 k=0
while [ "$k" -lt "$n" ]; do
  k=$((k + 1))
  run=$soak/run-$k
  mkdir -p "$run/out" "$run/tmp"
  t0=$(date +%s)
  why=
  # shellcheck disable=SC2086 # $raws, $extra: the disks, the guest's own arguments, one per word
  if ! VIRT_V2V_TMPDIR=$run/tmp virt-v2v --keep-tmpdir --events fd:1 -i disk $raws $extra \
    -o local -os "$run/out" >"$run/events.jsonl" 2>"$run/virt-v2v.err"; then
    why="conversion failed: $(tail -n 1 "$run/virt-v2v.err")"
  elif ! bash "$top/scripts/boot-check.sh" --expect "$expect" --log "$run/console.log" \
    "$run/out/$guest"-sd? >"$run/boot.txt" 2>&1; then
    why="boot: $(head -n 1 "$run/boot.txt")"
  fi
  secs=$(($(date +%s) - t0))
  if [ -z "$why" ]; then
    pass=$((pass + 1))
    echo "run $k: PASS (${secs}s)"
    rm -rf "$run"
  else
    fail=$((fail + 1))
    echo "run $k: FAIL (${secs}s): $why; kept in $run"
  fi
done
echo "soak: $guest: $pass passed, $fail failed of $n"
[ "$fail" -eq 0 ] || exit 1
[ -n "${SOAK_DIR:-}" ] || rmdir "$soak" 2>/dev/null || true
