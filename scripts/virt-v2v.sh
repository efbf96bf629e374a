#!/bin/sh
# virt-v2v.sh - virt-v2v's pipeline in plain POSIX sh, written only against the
# documented temp-directory contract (docs/contract.md): the same steps in the
# same order, the same cleanup, failure report and exit code as the virt-v2v
# supervisor.  It is the proof that the contract is enough to write your own.
#
# usage: virt-v2v.sh [-v] [-x] [-q] [--machine-readable] [--events FILE|fd:N] [--keep-tmpdir]
#                    [--resume DIR] [--no-convert] [--no-overlap] [--parallel N] [--bandwidth BPS] [--bandwidth-file FILE] [--root ROOT]
#                    [--key SELECTOR]... [--keys-from-stdin]
#                    [--block-driver virtio-blk|virtio-scsi]
#                    [-m|--memsize MB] [--smp N] [--no-fstrim] [--colours] [--wrap]
#                    [-i TYPE] [-ic URI] [-it TRANSPORT] [-io OPT]... [-if FORMAT] [-ip FILE]
#                    [-o TYPE] [-os STORAGE] [-of FORMAT] [-oa sparse|preallocated]
#                    [-on NAME] [-oc URI] [-oo OPT]...
#                    [-n [IN:]OUT]... [-b [IN:]OUT]... [--mac MAC:network|bridge:OUT]...
#                    [--mac MAC:ip:ADDR[,GW[,LEN[,NS...]]]]... [--hostname NAME]
#                    [--firstboot SCRIPT]... [--firstboot-command CMD]... [--run SCRIPT]...
#                    [--run-command CMD]... [--upload FILE:DEST]... [--mkdir DIR]...
#                    [--write FILE:CONTENT]... [--delete PATH]... [--timezone TZ]
#                    ARG...
#        virt-v2v.sh --machine-readable      (capability list)
#        virt-v2v.sh -V|--version
# Every other option of virt-v2v 2.x is accepted or refused as by the
# supervisor (docs/virt-v2v.md, "Upstream options").
#
# Helpers are found on PATH.  Environment: VIRT_V2V_TMPDIR (default /var/tmp).
# Exit status: 0, or the failed check's or step's exit code (docs/exit-codes.md),
# 2 for a usage error, 128+N when stopped by signal N.  Needs jq (every JSON
# file is read with it) and a sleep that takes fractions (coreutils, busybox).
set -u
me=virt-v2v
command -v jq >/dev/null 2>&1 || {
  echo "$me: error: jq is required (scripts/install-deps.sh installs it)" >&2; exit 1; }
t0=$(date +%s.%N)

usage() { sed -n '/^# usage:/,/^[^#]/ s/^# \{0,1\}//p' "$0"; exit 0; }
die_usage() { echo "$me: error: $*" >&2; exit 2; }
# q WORD: WORD quoted for eval.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
elapsed() { awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }'; }
# message TEXT: timestamped, on stderr (stdout with --machine-readable, as
# virt-v2v's documents say; in colour with --colours).
message() {
  [ -n "$quiet" ] && return 0
  if [ -n "$mr" ]; then printf '[%6s] %s\n' "$(elapsed)" "$*"
  else printf '[%6s] %s%s%s\n' "$(elapsed)" "$c_msg" "$*" "$c_end" >&2; fi
}
# say LEVEL TEXT: "virt-v2v: LEVEL: TEXT" on stderr, in virt-v2v's style
# (--colours: warnings blue, errors red; --wrap: at 76 columns).
say() {
  l="$me: $1: $2"
  [ -z "$wrap" ] || l=$(printf '%s\n' "$l" | fold -s -w 75 | sed 's/ $//')
  case $1 in error) c=$c_err ;; *) c=$c_warn ;; esac
  printf '%s%s%s\n' "$c" "$l" "$c_end" >&2
}
# json_str TEXT: TEXT as a JSON string, quotes included.
json_str() { jq -n --arg s "$1" '$s'; }
# event KIND [JSON-FIELDS]: one event on the event stream (--events: fd 9).
event() {
  [ -n "$events" ] || return 0
  printf '{"version":1,"time":%s,"step":"virt-v2v","event":"%s"%s}\n' \
    "$(date +%s.%N)" "$1" "${2:+,$2}" >&9
}

# Capability list, as virt-v2v --machine-readable prints it: upstream's first
# lines and the names of the features whose options this script takes, then ours.
if [ $# -eq 1 ] && [ "$1" = --machine-readable ]; then
  printf '%s\n' virt-v2v virt-v2v-2.0 libguestfs-rewrite colours-option io/oo mac-option parallel-option customize-ops \
    block-driver-option no-convert-option v2v-helpers contract:1
  for kind in input output; do
    IFS=:
    for d in $PATH; do
      for f in "${d:-.}"/helper-v2v-$kind-*; do
        t=${f##*/helper-v2v-$kind-}
        case $t in *[!A-Za-z0-9_-]*|'') continue ;; esac
        [ -f "$f" ] && [ -x "$f" ] && echo "$kind:$t"
      done
    done
    unset IFS
  done | sort -u
  command -v helper-v2v-convert >/dev/null 2>&1 && printf 'convert:linux\nconvert:windows\n'
  # -o vdsm's: VDSM passes -oo vdsm-compat only when it sees this name.
  command -v helper-v2v-output-vdsm >/dev/null 2>&1 && printf 'vdsm-compat-option\novf:ovirt\novf:ovirtexp\n'
  exit 0
fi

itype=libvirt otype=libvirt
iopts= oopts= inargs= common= netopts=
no_convert= keep= mr= events= quiet= verbose= xtrace= parallel= root= resume= on_given= block_driver=
bandwidth= bandwidth_file=
no_overlap= compressed=
keys= have_keys= keys_stdin=
memsize= smp= no_fstrim= colours= wrap= c_msg= c_warn= c_err= c_end= oldopts=
# Customisation options and --mac MAC:ip:..., in order, for helper-v2v-convert.
custom=
nl='
'
need() { [ $# -ge 2 ] || die_usage "option $1 needs an argument"; }
# bps OPTION VALUE: VALUE is bits per second as virt-v2v takes them (10M).
bps() {
  case $2 in '' | *[!0-9bBkKmMgGtT]* | [!0-9]* | *[bBkKmMgGtT]?*) die_usage "$1: $2: not a bandwidth in bits per second (e.g. 10M)" ;; esac
}
# Upstream's options this build refuses (the supervisor's args::REFUSED).
refuse_opt() {
  case $1 in
    --collect|--collect-output) why="collecting guest files for diagnostics is not implemented" ;;
    --debug-gc) why="a check of OCaml's garbage collector; this build has no OCaml runtime" ;;
    --echo-keys) why="this build never prompts for a key; give keys with --key or --keys-from-stdin" ;;
    --in-place) why="replaced by the virt-v2v-in-place program, as in virt-v2v" ;;
    --long-options|--short-options) why="the option lists for bash completion are not provided; see --help" ;;
    --machine-readable=FORMAT) why="machine-readable output goes to stdout only: use --machine-readable" ;;
    -op) why="no output of this build takes a password (-o openstack and -o ovirt-upload are not built)" ;;
  esac
  die_usage "not supported by this build: $1 ($why)"
}
# number OPTION VALUE: VALUE is a whole number.
number() { case $2 in ''|*[!0-9]*) die_usage "$1 $2: not a number" ;; esac; }
# add_key SELECTOR: check a --key selector as helper_common::keys does
# (ID:key:KEY_STRING, ID:file:FILENAME; clevis refused) and keep it for
# helper-v2v-convert's stdin.  No message shows the key.
add_key() {
  kid=${1%%:*}
  case $1 in *:*) krest=${1#*:} ;; *) krest= ;; esac
  ktype=${krest%%:*}
  case $krest in *:*) kval=${krest#*:} kvalset=1 ;; *) kval= kvalset= ;; esac
  [ -n "$kid" ] || die_usage "--key: missing ID (a device such as /dev/sda2, a LUKS UUID, or all) before the first ':'"
  case $1 in *"$nl"*) die_usage "--key $kid:$ktype:...: the key contains a newline" ;; esac
  case $ktype in
    '') die_usage "--key $kid: missing TYPE (expected $kid:key:KEY_STRING, $kid:file:FILENAME or $kid:clevis)" ;;
    clevis)
      [ -z "$kvalset" ] || die_usage "--key $kid:clevis: too many fields"
      die_usage "not supported by this build: --key $kid:clevis (network-bound unlocking with Clevis/Tang needs networking in the appliance; give the passphrase with --key $kid:key:KEY_STRING or --key $kid:file:FILENAME)" ;;
    key) [ -n "$kvalset" ] || die_usage "--key $kid:key: missing KEY_STRING (after '$kid:key:')" ;;
    file)
      [ -n "$kval" ] || die_usage "--key $kid:file: missing FILENAME"
      [ -f "$kval" ] && [ -r "$kval" ] || die_usage "--key $kid:file:$kval: cannot read" ;;
    *) die_usage "--key $kid:$ktype: invalid TYPE '$ktype' (expected key, file or clevis)" ;;
  esac
  keys=$keys$1$nl have_keys=1
}
while [ $# -gt 0 ]; do
  case $1 in
    -i) need "$@"; itype=$2; shift ;;
    -o) need "$@"; otype=$2; shift ;;
    -if|-ic|-it|-ip|-io) need "$@"; iopts="$iopts $1 $(q "$2")"; shift ;;
    -os|-of|-oa|-on|-oc|-oo) need "$@"; oopts="$oopts $1 $(q "$2")"
      [ "$1" != -on ] || on_given=1
      case $1=$2 in -oo=compressed|-oo=compressed=*) compressed=1 ;; esac; shift ;;
    -n|--network|-b|--bridge|--mac) need "$@"; netopts="$netopts $1 $(q "$2")"
      case $1:$2 in --mac:?????????????????:ip:*) custom="$custom --mac $(q "$2")" ;; esac; shift ;;
    --hostname|--firstboot|--firstboot-command|--run|--run-command|--upload|--mkdir|--write|--delete|--timezone)
      need "$@"; custom="$custom $1 $(q "$2")"; shift ;;
    -v|--verbose) common="$common -v"; verbose=1 ;;
    -x) common="$common -x"; xtrace=1 verbose=1 ;;
    -q|--quiet) common="$common -q"; quiet=1 ;;
    --machine-readable) mr=1 ;;
    --events) need "$@"; events=$2; shift ;;
    --events=*) events=${1#*=} ;;
    --no-convert) no_convert=1 ;;
    --no-overlap) no_overlap=1 ;;
    --keep-tmpdir) keep=1 ;;
    --resume) need "$@"; resume=$2; shift ;;
    --resume=*) resume=${1#*=} ;;
    --parallel) need "$@"; parallel=$2; shift ;;
    --parallel=*) parallel=${1#*=} ;;
    --bandwidth) need "$@"; bps "$1" "$2"; bandwidth=$2; shift ;;
    --bandwidth=*) bps --bandwidth "${1#*=}"; bandwidth=${1#*=} ;;
    --bandwidth-file) need "$@"; bandwidth_file=$2; shift ;;
    --bandwidth-file=*) bandwidth_file=${1#*=} ;;
    --root) need "$@"; root=$2; shift ;;
    --root=*) root=${1#*=} ;;
    --key) need "$@"; add_key "$2"; shift ;;
    --key=*) add_key "${1#*=}" ;;
    --keys-from-stdin) keys_stdin=1 ;;
    --block-driver) need "$@"; block_driver=$2; shift ;;
    --block-driver=*) block_driver=${1#*=} ;;
    -h|--help) usage ;;
    -V|--version) v=$(helper-v2v-copy --version 2>/dev/null) || die_usage "helper-v2v-copy is not installed (not on PATH)"
      echo "virt-v2v ${v##* }"; exit 0 ;;
    # Upstream virt-v2v 2.x's other options (issue 14).
    -m|--memsize|--smp) need "$@"; number "$1" "$2"
      case $1 in --smp) smp=$2 ;; *) memsize=$2 ;; esac; shift ;;
    --memsize=*) number --memsize "${1#*=}"; memsize=${1#*=} ;;
    --smp=*) number --smp "${1#*=}"; smp=${1#*=} ;;
    --no-fstrim) no_fstrim=1 ;;
    --colours|--colors|--colour|--color) colours=1 ;;
    --wrap) wrap=1 ;;
    --compressed|--qemu-boot) oopts="$oopts -oo ${1#--}"; [ "$1" != --compressed ] || compressed=1 ;;
    --password-file) need "$@"; iopts="$iopts -ip $(q "$2")"; shift ;;
    --password-file=*) iopts="$iopts -ip $(q "${1#*=}")" ;;
    --vddk-config|--vddk-cookie|--vddk-libdir|--vddk-nfchostport|--vddk-port|--vddk-snapshot|--vddk-thumbprint|--vddk-transports)
      need "$@"; iopts="$iopts -io $(q "${1#--}=$2")"; shift ;;
    --vddk-config=*|--vddk-cookie=*|--vddk-libdir=*|--vddk-nfchostport=*|--vddk-port=*|--vddk-snapshot=*|--vddk-thumbprint=*|--vddk-transports=*)
      iopts="$iopts -io $(q "${1#--}")" ;;
    --vdsm-compat|--vdsm-image-uuid|--vdsm-vol-uuid|--vdsm-vm-uuid|--vdsm-ovf-output|--vdsm-ovf-flavour)
      need "$@"; oopts="$oopts -oo $(q "${1#--}=$2")"; shift ;;
    --vdsm-compat=*|--vdsm-image-uuid=*|--vdsm-vol-uuid=*|--vdsm-vm-uuid=*|--vdsm-ovf-output=*|--vdsm-ovf-flavour=*)
      oopts="$oopts -oo $(q "${1#--}")" ;;
    --no-trim|--vmtype) need "$@"; oldopts="$oldopts ${1#--}"; shift ;;
    --no-trim=*|--vmtype=*) o=${1%%=*}; oldopts="$oldopts ${o#--}" ;;
    --machine-readable=*) refuse_opt --machine-readable=FORMAT ;;
    --print-source) die_usage "not supported by this build: --print-source (scripts/virt-v2v.sh runs conversions only; use virt-v2v --print-source)" ;;
    --collect|--collect-output|--debug-gc|--echo-keys|--in-place|--long-options|--short-options|-op)
      refuse_opt "$1" ;;
    --collect=*|--collect-output=*|-op=*) refuse_opt "${1%%=*}" ;;
    --) shift; break ;;
    -*) die_usage "unknown option $1 (see $0 --help)" ;;
    *) inargs="$inargs $(q "$1")" ;;
  esac
  shift
done
for a in "$@"; do inargs="$inargs $(q "$a")"; done
# --events FILE|fd:N: the JSON event stream (ours and every helper's) on fd 9.
case $events in
  '') ;;
  fd:0|fd:2) die_usage "--events $events: fd 0 is stdin and fd 2 carries messages and errors; use fd:1 or a descriptor of your own" ;;
  fd:*[!0-9]*|fd:) die_usage "--events $events: N in fd:N is not a file descriptor number" ;;
  fd:*) { true >&"${events#fd:}"; } 2>/dev/null ||
          die_usage "--events $events: file descriptor ${events#fd:} is not open"
        eval "exec 9>&${events#fd:}" ;;
  *) { true >>"$events"; } 2>/dev/null || die_usage "--events $events: cannot open"
     exec 9>>"$events" ;;
esac
[ -z "$events" ] || common="$common --events-fd 9"
# virt-v2v's progress text from the copy (not with -q, as upstream).
progress=--progress-lines\ bar
[ -z "$mr" ] || progress=--progress-lines\ machine
[ -z "$quiet" ] || progress=
# --root: ask, single, first or a device, as virt-v2v takes it.
case $root in ''|ask|single|first|/dev/*) ;; *)
  die_usage "--root $root: expected ask, single, first or a device such as /dev/sda2" ;; esac
# --colours and --wrap (on by themselves when stderr is a terminal).
if [ -t 2 ]; then colours=1 wrap=1; fi
if [ -n "$colours" ]; then
  c_msg=$(printf '\033[0;32m') c_warn=$(printf '\033[1;34m') c_err=$(printf '\033[1;31m') c_end=$(printf '\033[0m')
fi
# virt-v2v 2.0-2.6's --no-trim and --vmtype: removed there, ignored.
for o in $oldopts; do say warning "the --$o option has been removed and now does nothing"; done
# --keys-from-stdin: every line a key, tried on every encrypted device.
if [ -n "$keys_stdin" ]; then
  n=0
  while IFS= read -r l || [ -n "$l" ]; do
    keys=${keys}all:key:$l$nl have_keys=1 n=$((n + 1))
  done
  [ "$n" -gt 0 ] || [ -n "$have_keys" ] || die_usage "--keys-from-stdin: stdin holds no key (one key per line)"
fi

# Find every helper before anything starts (a missing one is a usage error).
valid_type() { case $1 in ''|*[!A-Za-z0-9_-]*) return 1 ;; esac; }
valid_type "$itype" || die_usage "-i $itype: not a valid input type"
valid_type "$otype" || die_usage "-o $otype: not a valid output type"
input=helper-v2v-input-$itype output=helper-v2v-output-$otype
command -v "$input" >/dev/null 2>&1 ||
  die_usage "unknown input type ‘-i $itype’: there is no program $input on PATH"
[ -n "$inargs" ] ||
  die_usage "-i $itype: nothing to convert: give the source after the options (for -i disk: the disk images)"
command -v "$output" >/dev/null 2>&1 ||
  die_usage "unknown output type ‘-o $otype’: there is no program $output on PATH"
if [ -n "$no_convert" ] && [ -n "$custom" ]; then
  f=${custom# }; die_usage "${f%% *} changes the guest: it cannot be used with --no-convert"
fi
if [ -z "$no_convert" ]; then
  command -v helper-v2v-convert >/dev/null 2>&1 || die_usage \
    "helper-v2v-convert is not installed (not on PATH); install it, or use --no-convert to copy the disks unchanged"
fi
for h in helper-v2v-copy helper-v2v-cleanup v2v-describe ${resume:+helper-v2v-resume}; do
  command -v $h >/dev/null 2>&1 || die_usage "$h is not installed (not on PATH)"
done
# The network mapping (-n, -b, --mac), checked before anything starts.
errs=$(eval "v2v-describe --check $netopts /" 2>&1) || die_usage "${errs##*: error: }"
# The customisation options and --mac MAC:ip:... (helper-v2v-convert's own
# check; DIR is not used), checked before anything starts.
if [ -z "$no_convert" ] && [ -n "$custom" ]; then
  errs=$(eval "helper-v2v-convert --check $custom /" 2>&1) || die_usage "${errs##*: error: }"
fi

# --resume DIR: what is left to do in a kept run directory (docs/reliability.md;
# the supervisor's resume::assess).  Refused: not a directory, finished, in use
# (exit 2); not a run directory, another contract version, a finished
# conversion that was not kept (exit 3).
converted=
if [ -n "$resume" ]; then
  refuse() { echo "$me: error: --resume $resume: $2" >&2; exit "$1"; }
  [ -d "$resume" ] || refuse 2 "not a directory"
  [ -d "$resume/status" ] && [ -d "$resume/log" ] ||
    refuse 3 "not a run directory of virt-v2v (it has no status/ and log/)"
  resume=$(cd "$resume" && pwd -P)
  for f in "$resume"/status/*; do
    [ -e "$f" ] || continue
    n=${f##*/}
    case ${n%.done} in input|convert|output-setup|copy|output-final|cleanup) ;; *)
      case ${n%.error.json} in input|convert|output-setup|copy|output-final|cleanup) ;; *)
        refuse 3 "status/$n: not a status file of the v2v helpers" ;; esac ;;
    esac
    v=$(jq -r '.version' "$f" 2>/dev/null) || refuse 3 "$f: invalid JSON"
    [ "$v" = 1 ] || refuse 3 "$f: contract version $v is not supported (this program reads version 1)"
  done
  [ ! -f "$resume/status/output-final.done" ] ||
    refuse 2 "the run finished (status/output-final.done): nothing to resume"
  for pf in "$resume"/run/*.pid; do
    [ -f "$pf" ] || continue
    pid=$(cat "$pf")
    case $pid in ''|*[!0-9]*|0|1) continue ;; esac
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF "$resume"; then
      refuse 2 "in use: $pf names pid $pid, still running"
    fi
  done
  if [ -f "$resume/status/convert.done" ]; then
    disks=$(jq -er 'if .version == 1 then .source.disks[].index else error("version") end' \
      "$resume/metadata.in" 2>/dev/null) || refuse 3 "$resume/metadata.in: missing or not a contract-version-1 metadata.in"
    for i in $disks; do
      [ -f "$resume/kept/in$i.qcow2" ] || refuse 3 "the conversion finished but disk $i was not kept ($resume/kept/in$i.qcow2 is missing): only a run kept with --keep-tmpdir goes on without converting again"
    done
    converted=1
  fi
fi

# The temp directory (docs/contract.md).  Helpers create log/ run/ status/.
tmpbase=${VIRT_V2V_TMPDIR:-/var/tmp}
if [ -n "$resume" ]; then
  dir=$resume
else
  dir=$(mktemp -d "$tmpbase/v2v.XXXXXX" 2>/dev/null) || {
    echo "$me: error: cannot make a temporary directory in $tmpbase (set VIRT_V2V_TMPDIR to a writable directory)" >&2
    exit 1
  }
fi
chmod 0700 "$dir"
V2V_RUN_START=$t0; export V2V_RUN_START
child= sig= checked= failed= error_line= error_disk=

on_signal() {  # remember the signal; pass it on to the running helper
  [ -n "$sig" ] || sig=$1
  # (A background job of a non-interactive shell ignores SIGINT: send TERM.)
  # shellcheck disable=SC2086 # $child: one pid, or two while overlapped
  [ -z "$child" ] || kill -TERM $child 2>/dev/null
}
signum() { case $1 in HUP) echo 1 ;; INT) echo 2 ;; TERM) echo 15 ;; esac; }
stop_on_signal() {
  [ -n "$sig" ] || return 0
  n=$(signum "$sig")
  event error "\"message\":$(json_str "interrupted by SIG$sig; cleaned up"),\"exit_code\":$((128 + n))"
  say error "interrupted by SIG$sig; cleaned up"
  exit $((128 + n))
}
# stop_pid PID: SIGTERM, wait up to 5 s checking every 0.1 s, SIGKILL: the one
# rule for every pidfile (docs/contract.md; v2v_servers::stop_pid_sh is this line).
stop_pid() { kill -TERM "$1" 2>/dev/null || return 0; i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; kill -KILL "$1" 2>/dev/null; return 0; }

on_exit() {
  rc=$?
  trap '' INT TERM HUP
  set +x
  # Once the checks passed: stop the servers, remove a partial target
  # (helper-v2v-cleanup), whatever happened.  A failed check started nothing.
  if [ -n "$checked" ]; then
    # A kept (or resumed) run keeps a finished conversion for --resume.
    keepconv=; [ -z "$keep$resume" ] || keepconv=--keep-conversion
    # shellcheck disable=SC2086
    helper-v2v-cleanup $common --owner-pid $$ $keepconv "$dir" ||
      say warning "step cleanup failed (exit $?); see $dir/log/06-cleanup.log"
  fi
  for pf in "$dir"/run/*.pid; do   # anything a pidfile still names
    [ -f "$pf" ] || continue
    pid=$(cat "$pf"); rm -f "$pf"
    case $pid in ''|*[!0-9]*|0|1) continue ;; esac
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF "$dir"; then
      say warning "stopping leftover server pid $pid ($pf)"
      stop_pid "$pid"
    fi
  done
  if [ -n "$keep" ] || { [ -n "$resume" ] && [ "$rc" != 0 ]; }; then
    message "temporary directory kept: $dir"
  elif [ -n "$failed" ]; then
    # Keep log/ and status/: the error message points there.
    find "$dir" -mindepth 1 -maxdepth 1 ! -name log ! -name status -exec rm -rf {} +
  else
    rm -rf "$dir"
  fi
  if [ -n "$error_line" ]; then
    event error "\"message\":$(json_str "$error_line"),\"exit_code\":$rc${error_disk:+,\"disk\":$error_disk}"
    say error "$error_line"
  fi
  if [ "$rc" = 0 ]; then
    event step-finished "\"seconds\":$(elapsed)"
    message "Finishing off"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP
[ -z "$xtrace" ] || set -x
event step-started

# run_check STEP PROG PHASE ARGS: check STEP's options with `PROG PHASE
# COMMON --owner-pid PID ARGS` (ARGS is a string for eval), its stdout passed
# on and its stderr captured (docs/contract.md, "Checking options first").
# On success its stderr is shown as it is.  On failure the run exits with the
# check's code, and `STEP: MESSAGE`, MESSAGE from its last line
# `helper-v2v-X: error: MESSAGE`, is the run's error line; the lines before
# it are shown with -v or -x only.  Without such a line all of it is shown.
# virt-v2v's check_failure does the same.
run_check() {
  step=$1 prog=$2 phase=$3 args=$4
  stop_on_signal
  { errs=$(eval "\"\$prog\" $phase $common --owner-pid $$ $args" 2>&1 >&3 3>&-); rc=$?; } 3>&1
  stop_on_signal
  if [ "$rc" -eq 0 ]; then
    [ -z "$errs" ] || printf '%s\n' "$errs" >&2
    return 0
  fi
  last=$(printf '%s\n' "$errs" | tail -n 1)
  case $last in
    helper-v2v-*": error: "*)
      [ -z "$verbose" ] || printf '%s\n' "$errs" | sed '$d' >&2
      msg=${last#*": error: "} ;;
    *)
      [ -z "$errs" ] || printf '%s\n' "$errs" >&2
      msg="$prog $phase exited with status $rc without an error line" ;;
  esac
  error_line="$step: $msg"
  exit "$rc"
}

# run_step STEP NN PROGRAM PHASE ARGS: run one helper as
# `PROGRAM [PHASE] COMMON --owner-pid PID ARGS` (ARGS is a string for eval;
# PHASE is an output's setup/final); on failure print the report and exit
# with the helper's code.
run_step() {
  start_step "$@"
  wait "$child"; rc=$?
  # A trapped signal interrupts wait; wait again for the helper's own status.
  while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
  child=
  end_step "$1" "$2" "$3" "$rc"
}

# start_step STEP NN PROGRAM PHASE ARGS: start one helper in the background
# (its pid in $child).
start_step() {
  step=$1 nn=$2 prog=$3 phase=$4 args=$5
  stop_on_signal
  event message "\"message\":$(json_str "step $step: running $prog")"
  if [ "$step" = convert ] && [ -n "$have_keys" ]; then
    # The keys go to its stdin, through a builtin: never in an argv, nor
    # in -x's trace (off while they are expanded).
    { set +x; } 2>/dev/null
    eval "printf '%s' \"\$keys\" | \"\$prog\" $phase $common --owner-pid $$ $args &"
    child=$!
    [ -z "$xtrace" ] || set -x
  else
    eval "\"\$prog\" $phase $common --owner-pid $$ $args &"
    child=$!
  fi
}

# end_step STEP NN PROGRAM RC: on failure print the report and exit RC.
end_step() {
  step=$1 nn=$2 prog=$3 rc=$4
  stop_on_signal
  [ "$rc" -ne 0 ] || return 0
  failed=$step
  echo "$me: step $step failed (exit $rc); see $dir/log/$nn-$step.log" >&2
  ef=$dir/status/$step.error.json msg= disk=
  if [ -f "$ef" ] && [ "$(jq -r '.version' "$ef" 2>/dev/null)" = 1 ]; then
    msg=$(jq -r '.message // empty' "$ef" 2>/dev/null)
    disk=$(jq -r '.disk // empty' "$ef" 2>/dev/null)
  fi
  [ -n "$msg" ] ||
    msg="$prog exited with status $rc without writing a valid status/$step.error.json"
  line="$step: $msg"
  if [ -n "$disk" ]; then
    case $msg in "disk $disk"*) ;; *) line="$step: disk $disk: $msg" ;; esac
  fi
  # The error line comes last, after cleanup's messages (on_exit).
  error_line=$line error_disk=$disk
  exit "$rc"
}

# gone PID: the background helper PID has exited (reaped, or a zombie).
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# run_overlapped: helper-v2v-convert and the copy's pass 1 at once (when one
# fails the other gets SIGTERM), then pass 2, `helper-v2v-copy --delta`:
# what the conversion wrote, zeroed or trimmed in the overlays.
run_overlapped() {
  start_step convert 02 helper-v2v-convert "" "$convert_args"; cpid=$child
  event message "\"message\":$(json_str "step copy: pass 1 of 2, overlapped with convert")"
  start_step copy 04 helper-v2v-copy "" "$progress $copy_args"; ppid=$child
  child="$cpid $ppid" crc= prc=
  while [ -z "$crc" ] || [ -z "$prc" ]; do
    if [ -z "$crc" ] && gone "$cpid"; then
      wait "$cpid"; crc=$?
      [ "$crc" = 0 ] || [ -n "$prc" ] || kill -TERM "$ppid" 2>/dev/null
    fi
    if [ -z "$prc" ] && gone "$ppid"; then
      wait "$ppid"; prc=$?
      [ "$prc" = 0 ] || [ -n "$crc" ] || kill -TERM "$cpid" 2>/dev/null
    fi
    [ -n "$crc" ] && [ -n "$prc" ] || sleep 0.1
  done
  child=
  end_step convert 02 helper-v2v-convert "$crc"
  end_step copy 04 helper-v2v-copy "$prc"
  event message "\"message\":$(json_str "step copy: pass 2 of 2, what the conversion changed")"
  run_step copy 04 helper-v2v-copy "" "--delta $copy_args"
}

qdir=$(q "$dir")
# Both ends' options first, before any step starts.
run_check input "$input" --check "$iopts $qdir $inargs"
run_check output-setup "$output" check "$qdir $oopts"
checked=1
if [ -n "$resume" ]; then
  # Forget what the steps to run again left (the supervisor's resume::reset).
  from=input; [ -z "$converted" ] || from=output-setup
  message "Resuming $dir from the $from step"
  for s in input convert output-setup copy output-final cleanup; do
    [ -n "$converted" ] && [ $s = convert ] && continue
    rm -f "$dir/status/$s.done" "$dir/status/$s.error.json"
  done
  rm -f "$dir/output.json"
  [ -n "$converted" ] || rm -rf "$dir/metadata.in" "$dir/metadata.out" "$dir/kept"
fi
# The overlapped copy (docs/architecture.md): where the output allows
# writing before the conversion is known to succeed.
overlap=
case $otype in local|qemu|kubevirt|libvirt|null)
  [ -n "$no_overlap$no_convert$converted$resume$compressed" ] || overlap=1 ;;
esac
if [ -n "$converted" ]; then   # serve the kept conversion as the input
  run_step input 01 helper-v2v-resume "" "$qdir"
else
  # Our input types serve local disks with an allocation map when asked.
  map=; case $itype in disk|libvirtxml|libvirt|ova|vmx) map=$overlap ;; esac
  run_step input 01 "$input" "" "${map:+--allocation-depth }$iopts $qdir $inargs"
fi
# The output's check once more, now that metadata.in is there: an output
# can refuse the source (-o vdsm: one UUID pair per disk) or a target of
# the guest's name (from metadata.in when -on is not given; -o libvirt: an
# existing domain or volume) before the conversion.  A metadata.in we
# cannot read (not contract version 1, no name) is left to the next step
# to report, as the supervisor does.
if guest_name=$(jq -er 'select(.version == 1) | .source.name | strings' \
                  "$dir/metadata.in" 2>/dev/null); then
  if [ -n "$on_given" ]; then
    run_check output-setup "$output" check "$qdir $oopts"
  else
    run_check output-setup "$output" check "$qdir $oopts -on $(q "$guest_name")"
  fi
fi
convert_args="${root:+--root $(q "$root")}${have_keys:+ --key-selectors-from-stdin} ${block_driver:+--block-driver $(q "$block_driver")} ${memsize:+--memsize $memsize} ${smp:+--smp $smp} ${no_fstrim:+--no-fstrim}$custom $qdir"
case $bandwidth_file in '' | /*) ;; *) bandwidth_file=$PWD/$bandwidth_file ;; esac
copy_args="${parallel:+--parallel $(q "$parallel")}${bandwidth:+ --bandwidth $(q "$bandwidth")}${bandwidth_file:+ --bandwidth-file $(q "$bandwidth_file")} $qdir"
# The overlapped copy needs every inN served with an allocation map (qemu-nbd
# --allocation-depth, its pidfile's process): else copy after converting.
if [ -n "$overlap" ]; then
  for s in $(jq -r '.source.disks[].socket' "$dir/metadata.in"); do
    pid=$(cat "$dir/run/$s.pid" 2>/dev/null)
    if ! { [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
           tr '\0' '\n' < "/proc/$pid/cmdline" | grep -qx -- --allocation-depth; }; then
      message "$s: its server offers no allocation map: copying after the conversion"
      overlap=
      break
    fi
  done
fi
if [ -n "$overlap" ]; then
  run_step output-setup 03 "$output" setup "$qdir $oopts"
  run_overlapped
else
  [ -n "$no_convert" ] || [ -n "$converted" ] ||
    run_step convert 02 helper-v2v-convert "" "$convert_args"
  run_step output-setup 03 "$output" setup "$qdir $oopts"
  run_step copy 04 helper-v2v-copy "" "$progress $copy_args"
fi
# description.json: the converted guest as the output renders it.
eval "v2v-describe $netopts $qdir" || {
  rc=$?; failed=output-final
  error_line="output-final: v2v-describe could not write $dir/description.json (exit $rc)"
  exit "$rc"
}
run_step output-final 05 "$output" final "$qdir"
exit 0
