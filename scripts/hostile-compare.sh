#!/bin/sh
# hostile-compare.sh: run the hostile-input corpus (tests/src/hostile.rs,
# written by the v2v-hostile-corpus binary) against our virt-v2v and
# another virt-v2v (Debian's /usr/bin/virt-v2v), and print a table per
# tool: cases tried, refused (within 15 s, or later), accepted, hangs,
# host-file reads, leaks, writes outside -os, sources changed, processes
# left behind.  See docs/benchmarks.md ("Hostile inputs").
#
# usage: scripts/hostile-compare.sh [-t SECONDS] [-o PATTERN] [-k] [-r FILE] [WORKDIR]
#   -t SECONDS  kill a case still running after this long (default 300):
#               "undecided" (a hang, or a conversion still under way)
#   -o PATTERN  only the cases whose name matches this (grep -E) pattern
#   -k          keep WORKDIR (default: removed, unless given)
#   -r FILE     only print the table of a results file (WORKDIR/results.tsv
#               of earlier runs, concatenated: several -o runs in parallel)
#   WORKDIR     where the corpus and the runs go (default: mktemp under /var/tmp)
# Environment: OURS (default target/debug/virt-v2v, run with --no-convert),
# THEIRS (default /usr/bin/virt-v2v; "none" to skip), BIN_DIR (where
# v2v-hostile-corpus and the helpers are; default target/debug).
# Needs jq, timeout, and for THEIRS libguestfs (LIBGUESTFS_BACKEND=direct,
# force_tcg are set here).
set -eu

limit=300
keep=
only=
report=
while getopts t:o:r:k o; do
    case $o in
        t) limit=$OPTARG ;;
        o) only=$OPTARG ;;
        r) report=$OPTARG ;;
        k) keep=1 ;;
        *) echo "usage: $0 [-t SECONDS] [-o PATTERN] [-k] [-r FILE] [WORKDIR]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
summary() { # results label
    awk -F'\t' -v l="$2" '
        $1 == l && $4 != "n/a" { tried++; o[$4]++; if ($7 == "yes") rd++; if ($8 == "yes") lk++;
            if ($9 == "yes") ws++; if ($10 == "yes") ls++; left += $11 }
        $1 == l && $4 == "n/a" { na++ }
        END { printf "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n", l, tried,
            o["refused"], o["refused-late"], o["accepted"], o["hang"], rd, lk, ws, ls, left, na }' "$1"
}

table() { # results cases
    echo
    echo "Hostile corpus: $2 cases, $(date -u +%Y-%m-%d), limit ${limit}s a case; results in $1"
    echo
    echo "| tool | tried | refused ≤15 s | refused >15 s | accepted | undecided at ${limit} s (killed) | read the host file | leaks (host bytes in output) | writes outside -os | source changed | processes left | n/a |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    summary "$1" ours
    if grep -q '^theirs' "$1"; then summary "$1" theirs; fi
}

if [ -n "$report" ]; then
    table "$report" "$(cut -f3 "$report" | sort -u | wc -l)"
    exit 0
fi

root=$(cd "$(dirname "$0")/.." && pwd)
BIN_DIR=${BIN_DIR:-$root/target/debug}
OURS=${OURS:-$BIN_DIR/virt-v2v}
THEIRS=${THEIRS:-/usr/bin/virt-v2v}
if [ $# -gt 0 ]; then work=$1; keep=1; mkdir -p "$work"
else work=$(mktemp -d /var/tmp/v2v-hostile-compare.XXXXXX); fi
work=$(cd "$work" && pwd)
for t in jq timeout "$OURS" "$BIN_DIR/v2v-hostile-corpus"; do
    command -v "$t" >/dev/null || { echo "$0: $t not found" >&2; exit 2; }
done
[ "$THEIRS" = none ] || command -v "$THEIRS" >/dev/null ||
    { echo "$0: $THEIRS not found (THEIRS=none to skip)" >&2; exit 2; }

cleanup() { [ -n "$keep" ] || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
# The appliance cache stays where it is, whatever TMPDIR a case gets.
export LIBGUESTFS_CACHEDIR=${LIBGUESTFS_CACHEDIR:-/var/tmp}
PATH=$BIN_DIR:$PATH

corpus=$work/corpus
[ -f "$corpus/cases.json" ] || "$BIN_DIR/v2v-hostile-corpus" "$corpus" >&2
cases=$corpus/cases.json
marker=$(jq -r .marker "$cases")
marker_text=$(jq -r .marker_text "$cases")
n=$(jq '.cases | length' "$cases")
results=$work/results.tsv
: > "$results"

# A fingerprint of a directory: names, sizes, mtimes and file contents.
fingerprint() {
    (cd "$1" && find . -printf '%p %y %s %T@\n' | sort &&
        find . -type f -size -16M -exec sha256sum {} + | sort) | sha256sum
}

# Processes (pid) whose command line mentions $1, but not this script's.
mentioning() {
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$pid" = $$ ] && continue
        tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -qF -- "$1" && echo "$pid"
    done
    return 0
}

run_case() { # tool-label program i
    label=$1 prog=$2 i=$3
    name=$(jq -r ".cases[$i].name" "$cases")
    group=$(jq -r ".cases[$i].group" "$cases")
    runner=$(jq -r ".cases[$i].runner" "$cases")
    src=$corpus/cases/$name
    base=$work/run/$label/$name
    rm -rf "$base"; mkdir -p "$base/os" "$base/tmp"
    out=$base/os
    if [ "$runner" != virt-v2v ]; then
        [ "$label" = ours ] || { printf '%s\t%s\t%s\tn/a\t-\t-\t-\t-\t-\t-\t-\n' \
            "$label" "$group" "$name" >> "$results"; return 0; }
        cp -a "$src" "$base/dir"
        set -- "$BIN_DIR/$runner" "$base/dir"
    else
        eval "set -- $(jq -r --arg out "$out" ".cases[$i].args | map(gsub(\"@OUT@\"; \$out)) | @sh" "$cases")"
        if [ "$label" = ours ]; then set -- "$prog" --no-convert "$@"; else set -- "$prog" "$@"; fi
    fi
    before=$(fingerprint "$src")
    msum=$(stat -c '%s %Y' "$marker")
    touch -a -d 2000-01-01 "$marker"
    t0=$(date +%s.%N)
    rc=0
    (cd "$base" && TMPDIR=$base/tmp VIRT_V2V_TMPDIR=$base/tmp \
        timeout -k 10 "$limit" "$@" </dev/null >"$base/stdout" 2>"$base/stderr") || rc=$?
    t1=$(date +%s.%N)
    secs=$(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')
    read_host=no
    [ "$(stat -c %X "$marker")" -gt 946684800 ] && read_host=yes
    case $rc in
        0) outcome=accepted ;;
        124|137) outcome=hang ;;
        *) if awk "BEGIN{exit !($secs <= 15)}"; then outcome=refused; else outcome=refused-late; fi ;;
    esac
    leak=no
    grep -rlqF -- "$marker_text" "$base/os" "$base/tmp" 2>/dev/null && leak=yes
    [ -d "$base/dir" ] && grep -rlqF -- "$marker_text" "$base/dir" 2>/dev/null && leak=yes
    outside=no
    for e in "$base"/* "$base"/.[!.]*; do
        [ -e "$e" ] || [ -L "$e" ] || continue
        case ${e##*/} in os|tmp|dir|stdout|stderr) ;; *) outside=yes ;; esac
    done
    [ -z "$(find "$work" -name pwned)" ] || outside=yes
    lost=no
    [ "$(fingerprint "$src")" = "$before" ] && [ "$(stat -c '%s %Y' "$marker")" = "$msum" ] || lost=yes
    left=0
    k=0
    while [ $k -lt 10 ]; do
        pids=$(mentioning "$base")
        [ -z "$pids" ] && break
        sleep 0.5; k=$((k + 1))
    done
    if [ -n "$pids" ]; then
        left=$(echo "$pids" | wc -l)
        for p in $pids; do kill -9 "$p" 2>/dev/null || :; done
    fi
    last=$(grep -v '^[[:space:]]*$' "$base/stderr" | tail -1 | tr '\t' ' ' | cut -c1-160)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$group" "$name" \
        "$outcome" "$rc" "$secs" "$read_host" "$leak" "$outside" "$lost" "$left" "$last" >> "$results"
    printf '%-6s %-34s %-12s exit %-3s %6ss read-host=%s leak=%s\n' "$label" "$name" \
        "$outcome" "$rc" "$secs" "$read_host" "$leak" >&2
    # Free the space at once (the outputs of accepted cases).
    rm -rf "$base/os" "$base/tmp" "$base/dir"
}

i=0
while [ $i -lt "$n" ]; do
    if [ -n "$only" ] && ! jq -r ".cases[$i].name" "$cases" | grep -qE -- "$only"; then
        i=$((i + 1)); continue
    fi
    run_case ours "$OURS" $i
    [ "$THEIRS" = none ] || run_case theirs "$THEIRS" $i
    i=$((i + 1))
done

table "$results" "$n"
