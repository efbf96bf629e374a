//! Issue 16: the overlapped copy (docs/architecture.md, "Overlapped
//! copy").  The copy's pass 1 runs while the conversion does; pass 2
//! (`helper-v2v-copy --delta`) copies what the conversion wrote.  The
//! fixture's overlapped conversion, checked identical to the converted
//! overlay ([`assert_overlapped`]), is convert.rs's supervisor run (which
//! boots it); here, a conversion that fails (no target, no process left).

use crate::common::*;
use std::time::Duration;
use v2v_tests::*;

/// Step events of `step` with `event` from a run's event stream.
fn of<'a>(ev: &'a [serde_json::Value], step: &str, event: &str) -> Vec<&'a serde_json::Value> {
    ev.iter()
        .filter(|e| e["step"] == step && e["event"] == event)
        .collect()
}

fn time(e: &serde_json::Value) -> f64 {
    e["time"].as_f64().expect("event time")
}

/// A `--step-gate` that, before the output's `final` (the conversion done,
/// both passes copied, every server still up), compares what `in1` serves
/// (the source through the conversion's overlay) with what `out1` serves
/// (the target) and writes qemu-img compare's exit status to `rc`.
fn compare_gate(sb: &Sandbox) -> String {
    let gate = sb.path("gate.sh");
    std::fs::write(
        &gate,
        format!(
            "if [ \"$1\" = output-final ]; then\n\
             qemu-img compare -f raw -F raw \"nbd+unix:///?socket=$2/in1\" \"nbd+unix:///?socket=$2/out1\" \
             > {log} 2>&1\n echo $? > {rc}\nfi\nexit 0\n",
            log = sb.path("compare.log").display(),
            rc = sb.path("compare.rc").display()
        ),
    )
    .unwrap();
    format!("sh {}", gate.display())
}

/// A runner whose `--step-gate` compares, before the output's `final`,
/// what `in1` serves with what `out1` holds (see [`assert_overlapped`]).
pub fn gated_runner(sb: &Sandbox) -> std::process::Command {
    let mut runner = sb.virt_v2v();
    runner.args(["--step-gate", &compare_gate(sb)]);
    runner
}

/// The run `d` of [`gated_runner`] (`-o local`, the default overlapped
/// copy) copied disk 1 in two passes: pass 1 during the conversion, pass 2
/// (the delta) after it and far smaller; and the target equals the
/// converted overlay (`qemu-img compare` in the gate).  The fixture's
/// overlapped conversion is convert.rs's supervisor run, which also boots
/// it: one conversion serves both tests' checks.
pub fn assert_overlapped(sb: &Sandbox, d: &Done) {
    let ev = events(&d.run.stdout);
    let conv_done = of(&ev, "convert", "step-finished");
    assert_eq!(conv_done.len(), 1, "{}", d.run.stdout);
    let copy_started = of(&ev, "copy", "disk-started");
    let copy_done = of(&ev, "copy", "disk-finished");
    assert_eq!(
        (copy_started.len(), copy_done.len()),
        (2, 2),
        "two copy passes of disk 1 expected:\n{}",
        d.run.stdout
    );
    // Pass 1 started (and here, on a small disk, finished) while the
    // conversion ran.
    let (p1, c1) = (time(copy_started[0]), time(conv_done[0]));
    eprintln!(
        "copy pass 1 started {:.1} s before convert finished",
        c1 - p1
    );
    assert!(
        p1 < c1,
        "copy pass 1 did not overlap the conversion:\n{}",
        d.run.stdout
    );
    assert!(
        time(copy_started[1]) >= c1,
        "pass 2 started before convert finished"
    );
    let copied = |e: &serde_json::Value| e["bytes_copied"].as_u64().unwrap();
    let zeroed = |e: &serde_json::Value| e["bytes_zeroed"].as_u64().unwrap();
    let (pass1, pass2) = (copied(copy_done[0]), copied(copy_done[1]));
    eprintln!(
        "pass 1: {pass1} bytes copied; pass 2 (delta): {pass2} bytes copied, {} zeroed",
        zeroed(copy_done[1])
    );
    assert!(pass2 > 0, "the conversion's changes were not copied");
    // The conversion rewrites the initramfs (tens of MiB on the fixture),
    // in 64 KiB overlay clusters: measured 12 % of pass 1 here.
    assert!(
        pass2 * 4 < pass1,
        "pass 2 copied {pass2} bytes, not far fewer than pass 1's {pass1}"
    );

    let rc = std::fs::read_to_string(sb.path("compare.rc")).expect("the gate ran");
    let log = std::fs::read_to_string(sb.path("compare.log")).unwrap_or_default();
    assert_eq!(
        rc.trim(),
        "0",
        "the target differs from the converted overlay:\n{log}"
    );
}

#[test]
fn failed_overlapped_conversion_leaves_no_target_and_no_process() {
    let sb = Sandbox::new("overlap-fail");
    // A disk with no operating system: the conversion refuses it (exit 5)
    // after the copy's pass 1 started.
    let blank = sb.path("blank.img");
    make_ext4_disk(&blank, 64, 7);
    for (who, mut runner) in [("supervisor", sb.virt_v2v()), ("script", sb.script())] {
        let out = sb.path(&format!("out-{who}"));
        std::fs::create_dir_all(&out).unwrap();
        let r = run(runner
            .args(["--events", "fd:1", "-i", "disk"])
            .arg(&blank)
            .args(["-o", "local", "-os"])
            .arg(&out));
        assert_eq!(r.code, 5, "{who}: {r}");
        assert!(r.last_err_line().contains("convert"), "{who}: {r}");
        let ev = events(&r.stdout);
        assert!(
            !of(&ev, "copy", "step-started").is_empty(),
            "{who}: the copy did not start with the conversion:\n{}",
            r.stdout
        );
        assert!(
            of(&ev, "copy", "disk-started").len() <= 1,
            "{who}: pass 2 ran after a failed conversion:\n{}",
            r.stdout
        );
        let left = dir_entries(&out);
        assert!(left.is_empty(), "{who}: targets left behind: {left:?}");
        let root = sb.root().to_string_lossy().into_owned();
        let servers = wait_no_servers(&root, Duration::from_secs(10));
        assert!(servers.is_empty(), "{who}: servers left: {servers:?}");
        let procs = processes_mentioning(&root);
        assert!(procs.is_empty(), "{who}: processes left: {procs:?}");
    }
}
