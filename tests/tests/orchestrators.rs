//! What orchestrators scrape from virt-v2v's output, checked with their own
//! parsers: the regular expressions below are copied, as facts, from
//! their sources, and run the way those sources run them over the
//! combined stdout and stderr of a `--no-convert` run of two disks,
//! through virt-v2v and through scripts/virt-v2v.sh.  See docs/forklift.md.

use regex::Regex;
use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use v2v_tests::*;

/// kubev2v/forklift, cmd/virt-v2v-monitor/virt-v2v-monitor.go (Go RE2
/// syntax, which these patterns share with the regex crate).
const FORKLIFT_COPY_DISK_RE: &str = r"^.*Copying disk (\d+)/(\d+)";
const FORKLIFT_DISK_PROGRESS_RE: &str = r".+ (\d+)% \[[*-]+\]";
const FORKLIFT_FINISHED_RE: &str = r"^\[[ .0-9]*\] Finishing off";

/// oVirt vdsm, lib/vdsm/v2v.py, class OutputParser (Python `re.match`:
/// anchored at the start).
const VDSM_COPY_DISK_RE: &str = r".*(Copying disk (\d+)/(\d+)).*";
const VDSM_DISK_PROGRESS_RE: &str = r"\s+\((\d+).*";

/// Python's `re.match`: the pattern matched at the start of `text`.
fn match_start<'t>(re: &Regex, text: &'t str) -> Option<regex::Captures<'t>> {
    re.captures(text).filter(|c| c.get(0).unwrap().start() == 0)
}

/// What Forklift's monitor reads: lines split at `\r` or `\n` (its
/// ScanLines), each tried against the three patterns in its order.
/// Returns the disk count announced, the highest progress each disk
/// reached before the finishing line, and whether that line was seen.
fn forklift(out: &str) -> (u64, BTreeMap<u64, u64>, bool) {
    let copy = Regex::new(FORKLIFT_COPY_DISK_RE).unwrap();
    let progress = Regex::new(FORKLIFT_DISK_PROGRESS_RE).unwrap();
    let finished = Regex::new(FORKLIFT_FINISHED_RE).unwrap();
    let (mut disk, mut disks, mut seen) = (0u64, 0u64, BTreeMap::new());
    for line in out.split(['\r', '\n']) {
        if let Some(c) = copy.captures(line) {
            disk = c[1].parse().unwrap();
            disks = c[2].parse().unwrap();
            seen.entry(disk).or_insert(0);
        } else if let Some(c) = progress.captures(line) {
            let p: u64 = c[1].parse().unwrap();
            // The monitor only counts progress once a disk is announced.
            if disk != 0 {
                let e = seen.entry(disk).or_insert(0);
                *e = (*e).max(p);
            }
        } else if finished.is_match(line) {
            return (disks, seen, true);
        }
    }
    (disks, seen, false)
}

/// What VDSM's OutputParser reads: lines (split at `\n`) until one holds
/// `Copying disk`, which must match its pattern; then chunks ending in
/// `\r` or `\n` until one says 100; the stream ending first is its
/// "copy-disk stream closed unexpectedly" error.  Returns `(disk, count)`
/// for each disk that reached 100, in order.
fn vdsm(out: &str) -> Result<Vec<(u64, u64)>, String> {
    let copy = Regex::new(VDSM_COPY_DISK_RE).unwrap();
    let progress = Regex::new(VDSM_DISK_PROGRESS_RE).unwrap();
    let mut done = Vec::new();
    let mut rest = out;
    while let Some(nl) = rest.find('\n') {
        let line = &rest[..=nl];
        rest = &rest[nl + 1..];
        if !line.contains("Copying disk") {
            continue;
        }
        let c = match_start(&copy, line)
            .ok_or_else(|| format!("unexpected format in \"Copying disk\", line: {line:?}"))?;
        let disk = (c[2].parse().unwrap(), c[3].parse().unwrap());
        loop {
            let Some(end) = rest.find(['\r', '\n']) else {
                return Err(format!(
                    "copy-disk stream closed unexpectedly (disk {disk:?})"
                ));
            };
            let chunk = &rest[..=end];
            rest = &rest[end + 1..];
            let p: Option<u64> = match_start(&progress, chunk).map(|c| c[1].parse().unwrap());
            if p == Some(100) {
                done.push(disk);
                break;
            }
        }
    }
    Ok(done)
}

/// Run `prog ARGS` with stdout and stderr into one pipe, in order (as
/// Forklift pipes virt-v2v into its monitor and VDSM reads it with
/// stderr=STDOUT).
fn combined(sb: &Sandbox, prog: &[&str], args: &[&str]) -> Run {
    let mut c: Command = sb.cmd("sh");
    c.args(["-c", "exec \"$@\" 2>&1", "sh"])
        .args(prog)
        .args(args);
    let r = run(&mut c);
    r.assert_ok();
    r
}

fn disks(sb: &Sandbox) -> [String; 2] {
    let mut v = Vec::new();
    for (name, fill) in [("a.img", 0x5au8), ("b.img", 0xa5)] {
        let p = sb.path(name);
        let mut data = vec![0u8; 32 << 20];
        // Data in both halves, holes between: a real copy, quickly.
        data[..4 << 20].fill(fill);
        data[20 << 20..24 << 20].fill(fill);
        fs::write(&p, data).unwrap();
        v.push(p.to_string_lossy().into_owned());
    }
    [v[0].clone(), v[1].clone()]
}

/// `OPTIONS... --no-convert -i disk A B -o null`: the two-disk run.
fn two_disks<'a>(options: &[&'a str], [a, b]: &'a [String; 2]) -> Vec<&'a str> {
    let mut v = options.to_vec();
    v.extend(["--no-convert", "-i", "disk", a, b, "-o", "null"]);
    v
}

/// Nothing in the run's output that looks like a JSON event.
#[track_caller]
fn assert_no_json(who: &str, r: &Run) {
    assert!(
        !r.stdout.lines().any(|l| l.trim_start().starts_with('{')),
        "{who}: JSON in the output\n{r}"
    );
}

fn runners() -> [(&'static str, Vec<String>); 2] {
    let v2v = bin("virt-v2v").to_string_lossy().into_owned();
    let script = repo_root()
        .join("scripts/virt-v2v.sh")
        .to_string_lossy()
        .into_owned();
    require_tool("dash");
    [
        ("virt-v2v", vec![v2v]),
        ("virt-v2v.sh", vec!["dash".into(), script]),
    ]
}

/// Forklift's monitor over a run as Forklift starts it (`-v -x`, human
/// output, not a terminal): both disks announced as `Copying disk N/2`,
/// each reaching 100% on its own bar, then the finishing line; no JSON
/// anywhere in the output, the events going to `--events FILE` only.
#[test]
fn forklift_monitor_sees_every_disk_reach_100_and_the_end() {
    let sb = Sandbox::new("forklift");
    let disks = disks(&sb);
    for (who, prog) in runners() {
        let prog: Vec<&str> = prog.iter().map(String::as_str).collect();
        let ev = sb.path(&format!("events-{who}.jsonl"));
        let args = two_disks(&["-v", "-x", "--events", ev.to_str().unwrap()], &disks);
        let r = combined(&sb, &prog, &args);
        let (count, seen, finished) = forklift(&r.stdout);
        assert_eq!(count, 2, "{who}: disk count\n{r}");
        assert_eq!(
            seen,
            BTreeMap::from([(1, 100), (2, 100)]),
            "{who}: progress per disk\n{r}"
        );
        assert!(finished, "{who}: no finishing line\n{r}");
        assert_no_json(who, &r);
        let events = events(&fs::read_to_string(&ev).unwrap());
        let copied: Vec<_> = events
            .iter()
            .filter(|e| e["event"] == "disk-finished")
            .map(|e| e["disk"].as_u64().unwrap())
            .collect();
        assert_eq!(copied.len(), 2, "{who}: events {events:?}");
        assert_eq!(events.last().unwrap()["event"], "step-finished", "{who}");
    }
}

/// VDSM's parser over a run as VDSM starts it (`-v -x --machine-readable`,
/// stderr into stdout): disk 1/2 then 2/2, each read to 100 before the
/// next; upstream's documented `N/100` lines are on stdout too; the
/// finishing line comes last.
#[test]
fn vdsm_parser_reads_both_disks_to_100() {
    let sb = Sandbox::new("vdsm");
    let disks = disks(&sb);
    // Upstream's documented progress lines; the finishing message.
    let pct = Regex::new(r"^[0-9]+/[0-9]+$").unwrap();
    let finishing = Regex::new(FORKLIFT_FINISHED_RE).unwrap();
    for (who, prog) in runners() {
        let prog: Vec<&str> = prog.iter().map(String::as_str).collect();
        let args = two_disks(&["-v", "-x", "--machine-readable"], &disks);
        let r = combined(&sb, &prog, &args);
        assert_eq!(
            vdsm(&r.stdout),
            Ok(vec![(1, 2), (2, 2)]),
            "{who}: VDSM's parser\n{r}"
        );
        assert_no_json(who, &r);
        // Upstream's documented machine-readable progress, on stdout alone.
        let mut c: Command = sb.cmd(prog[0]);
        c.args(&prog[1..]).args(&args);
        let alone = run(&mut c);
        alone.assert_ok();
        let fractions: Vec<&str> = alone.stdout.lines().filter(|l| pct.is_match(l)).collect();
        assert_eq!(
            fractions.iter().filter(|l| **l == "100/100").count(),
            2,
            "{who}: N/100 lines on stdout\n{alone}"
        );
        assert!(
            alone
                .stdout
                .lines()
                .last()
                .is_some_and(|l| finishing.is_match(l)),
            "{who}: the finishing message is the last status line on stdout\n{alone}"
        );
    }
}

/// The parsers themselves: what they accept and refuse, so the runs above
/// cannot pass by accident.
#[test]
fn the_parsers_reject_what_their_programs_reject() {
    // A bar that never reaches 100: Forklift stays below, VDSM errors.
    let partial = "[   0.1] Copying disk 1/1\n\u{259d}  42% [*****-----]\r[   0.2] Finishing off\n";
    assert_eq!(forklift(partial), (1, BTreeMap::from([(1, 42)]), true));
    assert!(vdsm(partial).unwrap_err().contains("closed unexpectedly"));
    // A `Copying disk` line without N/M is VDSM's parse error.
    assert!(vdsm("Copying disk 1 (in1 -> out1)\n")
        .unwrap_err()
        .contains("unexpected format"));
    // qemu-img's form is what VDSM reads; a bare N/100 is not.
    assert_eq!(
        vdsm("[ 1.0] Copying disk 1/1\n100/100\n    (100.00/100%)\n"),
        Ok(vec![(1, 1)])
    );
    assert!(vdsm("[ 1.0] Copying disk 1/1\n100/100\n").is_err());
}
