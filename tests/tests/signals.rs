//! Stopping a run in the middle of the copy: SIGKILL leaves no server
//! behind (they watch the owner's pid); SIGINT / SIGTERM are forwarded,
//! cleaned up (servers, partial target, temp dir) and exit 128+N.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::Duration;
use v2v_tests::*;

/// A 2 GiB sparse disk with 1 MiB of data every 8 MiB (256 MiB of data),
/// so the copy is still running when the test stops it.
fn big_disk(sb: &Sandbox) -> PathBuf {
    let p = sb.path("big.raw");
    sparse_noise_image(&p, 2 << 30, 256, 8 << 20, 1 << 20, 1000);
    p
}

/// Start `cmd` with --events fd:1 (events on stdout) and return once the copy
/// has started (a `disk-started` event).
fn start_until_copying(cmd: Command) -> (Child, mpsc::Receiver<String>) {
    crate::faults::start_until(cmd, |l| l.contains("\"disk-started\""))
}

fn copy_args(cmd: &mut Command, src: &Path, out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    cmd.args(["--events", "fd:1", "--no-convert", "-i", "disk"])
        .arg(src)
        .args(["-o", "local", "-os"])
        .arg(out);
}

#[test]
fn sigkill_of_the_supervisor_leaves_no_server() {
    let sb = Sandbox::new("sigkill");
    let src = big_disk(&sb);
    let mut cmd = sb.virt_v2v();
    copy_args(&mut cmd, &src, &sb.path("out"));
    let (mut child, _rx) = start_until_copying(cmd);
    let tmp = sb.tmpdir().to_string_lossy().into_owned();
    assert!(
        !servers_mentioning(&tmp).is_empty(),
        "no servers seen while copying"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let left = wait_no_servers(&tmp, Duration::from_secs(10));
    assert!(
        left.is_empty(),
        "servers outlived a SIGKILLed virt-v2v: {left:?}"
    );
    let t = std::time::Instant::now();
    while !processes_mentioning(&tmp).is_empty() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = processes_mentioning(&tmp);
    assert!(
        left.is_empty(),
        "helpers outlived a SIGKILLed virt-v2v: {left:?}"
    );
}

/// Send `sig` during the copy: exit 128+sig, no server, no temp dir, no
/// partial target.
fn interrupted(sb: &Sandbox, mut cmd: Command, sig: Signal) {
    let src = big_disk(sb);
    let out = sb.path("out");
    copy_args(&mut cmd, &src, &out);
    let (child, _rx) = start_until_copying(cmd);
    kill(Pid::from_raw(child.id() as i32), sig).unwrap();
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        o.status.code(),
        Some(128 + sig as i32),
        "status {:?} (signal {:?})\n{stderr}",
        o.status,
        o.status.signal()
    );
    assert!(stderr.contains("interrupted by SIG"), "{stderr}");
    let tmp = sb.tmpdir().to_string_lossy().into_owned();
    assert!(wait_no_servers(&tmp, Duration::from_secs(5)).is_empty());
    assert!(
        sb.run_dirs().is_empty(),
        "temp dir left: {:?}",
        sb.run_dirs()
    );
    let left = dir_entries(&out);
    assert!(left.is_empty(), "partial target left: {left:?}");
}

#[test]
fn sigint_to_the_supervisor_cleans_up() {
    let sb = Sandbox::new("sigint");
    interrupted(&sb, sb.virt_v2v(), Signal::SIGINT);
}

#[test]
fn sigterm_to_the_script_cleans_up() {
    let sb = Sandbox::new("sigterm");
    interrupted(&sb, sb.script(), Signal::SIGTERM);
}
