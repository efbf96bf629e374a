//! Interruptions at every step (docs/reliability.md): SIGINT, SIGTERM and
//! SIGKILL to virt-v2v and to scripts/virt-v2v.sh while the input, the
//! conversion (its appliance started), the output setup, the copy or the
//! output's final step runs.  Within 5 s no process of the run is left
//! (nbdkit, qemu-nbd, the appliance's qemu, helpers, guards), SIGINT and
//! SIGTERM exit 128+N after cleaning up, and `helper-v2v-cleanup DIR` run
//! twice afterwards on the kept directory succeeds both times and leaves
//! no partial target.  A helper run by hand and SIGKILLed leaves the
//! servers to their owner: cleanup stops them, and so does the owner's
//! death.  A run is paused at a step by a third-party input or output on
//! PATH (tests/tests/faults.rs), a slow source (nbdkit's delay filter) for
//! the copy, and the appliance's qemu appearing for the conversion.

use crate::faults::{
    entries, install_faulty_input, install_paused_output, run_processes, runners, source_disk,
    wait_run_gone,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use v2v_tests::*;

const SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGKILL];

/// Whether an appliance (qemu-system-*) runs among `procs`.
fn appliance_in(procs: &[(i32, String)]) -> bool {
    procs.iter().any(|(pid, _)| {
        fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("qemu-system"))
    })
}

/// The NBD servers among `procs`.
fn servers_in(procs: &[(i32, String)]) -> Vec<(i32, String)> {
    procs
        .iter()
        .filter(|(p, _)| {
            fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "nbdkit" || c.trim() == "qemu-nbd")
        })
        .cloned()
        .collect()
}

/// Whether the run is where `step` is to be interrupted.
fn paused(step: &str, mark: &Path, lines: &[String], root: &str) -> bool {
    match step {
        "copy" => lines.iter().any(|l| l.contains("\"disk-started\"")),
        "convert" => appliance_in(&run_processes(root)),
        _ => mark.exists(),
    }
}

/// Run every runner × signal with the run paused at `step`.
fn interrupt_at(step: &str) {
    let sb = Sandbox::new(&format!("intr-{step}"));
    install_faulty_input(&sb);
    install_paused_output(&sb);
    let (src, sum) = source_disk(&sb, "guest.raw");
    let root = sb.root().to_string_lossy().into_owned();
    let mark = sb.path("mark");
    let mut slowest = Duration::ZERO;
    for (who, runner) in runners() {
        for sig in SIGNALS {
            let what = format!("{who} {sig} at {step}");
            sb.clear_tmpdir();
            let _ = fs::remove_file(&mark);
            let out: PathBuf = sb.path(&format!("out-{who}-{sig}"));
            fs::create_dir(&out).unwrap();
            let mut cmd = runner(&sb);
            cmd.env("FAULT_PAUSE", step).env("FAULT_MARK", &mark);
            if step == "copy" {
                // One nbdkit thread: the 0.5 s reads come one at a time,
                // so the copy lasts seconds, not one round of 64 requests.
                cmd.env("FAULT_FILTERS", "--threads=1 --filter=delay")
                    .env("FAULT_PARAMS", "delay-read=500ms");
            }
            cmd.args(["--keep-tmpdir", "--events", "fd:1"]);
            if step != "convert" {
                cmd.arg("--no-convert");
            }
            cmd.args(["-i", "faulty"])
                .arg(&src)
                .args(["-o", "paused", "-os"])
                .arg(&out);
            let mut child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Both pipes are read by threads and the child reaped by
            // itself: the servers of a SIGKILLed runner watch its pid, and
            // keep its pipes open, until it is reaped.
            let lines = Arc::new(Mutex::new(Vec::<String>::new()));
            let stdout = child.stdout.take().unwrap();
            let l2 = Arc::clone(&lines);
            std::thread::spawn(move || {
                use std::io::BufRead;
                for l in std::io::BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                {
                    l2.lock().unwrap().push(l);
                }
            });
            let mut stderr_pipe = child.stderr.take().unwrap();
            let (tx, stderr_rx) = mpsc::channel();
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = stderr_pipe.read_to_end(&mut v);
                let _ = tx.send(String::from_utf8_lossy(&v).into_owned());
            });
            let stderr_of = |rx: &mpsc::Receiver<String>| {
                rx.recv_timeout(Duration::from_secs(10))
                    .unwrap_or_else(|_| "(stderr still open after 10 s)".into())
            };
            let t = Instant::now();
            while !paused(step, &mark, &lines.lock().unwrap(), &root) {
                if t.elapsed() > Duration::from_secs(120) || child.try_wait().unwrap().is_some() {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "{what}: never got there; stderr:\n{}",
                        stderr_of(&stderr_rx)
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let seen = run_processes(&root);
            assert!(
                !servers_in(&seen).is_empty(),
                "{what}: no server running: {seen:?}"
            );
            let sent = Instant::now();
            kill(Pid::from_raw(child.id() as i32), sig).unwrap();
            let status = child.wait().unwrap();
            let stderr = stderr_of(&stderr_rx);
            use std::os::unix::process::ExitStatusExt;
            if sig == Signal::SIGKILL {
                assert_eq!(status.signal(), Some(9), "{what}: {stderr}");
            } else {
                assert_eq!(
                    status.code(),
                    Some(128 + sig as i32),
                    "{what}: status {status:?}\n{stderr}"
                );
                assert!(
                    stderr.contains(&format!("interrupted by {sig}; cleaned up")),
                    "{what}: {stderr}"
                );
            }
            let left = wait_run_gone(&root, &seen, Duration::from_secs(5));
            assert!(left.is_empty(), "{what}: left running after 5 s: {left:?}");
            eprintln!(
                "{what}: all gone {:.1}s after the signal",
                sent.elapsed().as_secs_f64()
            );
            slowest = slowest.max(sent.elapsed());
            // The kept directory: cleanup twice, both fine, no partial target.
            let dir = sb.run_dir();
            for i in 1..=2 {
                let r = run(sb.cmd(bin("helper-v2v-cleanup")).arg(&dir));
                assert_eq!(r.code, 0, "{what}: cleanup #{i}\n{r}");
                assert!(dir.join("status/cleanup.done").is_file());
            }
            assert_eq!(
                entries(&out),
                Vec::<PathBuf>::new(),
                "{what}: partial target left"
            );
            assert!(run_processes(&root).is_empty(), "{what}: processes left");
            assert_eq!(sha256(&src), sum, "{what}: the source changed");
        }
    }
    eprintln!(
        "interrupt at {step}: 6 runs, all gone within {:.1}s of the signal",
        slowest.as_secs_f64()
    );
}

#[test]
fn at_input() {
    interrupt_at("input");
}

#[test]
fn at_convert() {
    interrupt_at("convert");
}

#[test]
fn at_output_setup() {
    interrupt_at("output-setup");
}

#[test]
fn at_copy() {
    interrupt_at("copy");
}

#[test]
fn at_output_final() {
    interrupt_at("output-final");
}

/// A process standing for the user's shell: killed and reaped on drop.
struct Owner(std::process::Child);

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Helpers run by hand with an owner (a stand-in for the user's shell):
/// the copy SIGKILLed mid-copy leaves the servers to their owner;
/// `helper-v2v-cleanup` stops them and removes the partial target, and
/// run again changes nothing.  Servers whose owner is SIGKILLed stop by
/// themselves within 5 s.
#[test]
fn sigkill_of_a_helper_run_by_hand() {
    let sb = Sandbox::new("byhand");
    let (src, sum) = source_disk(&sb, "guest.raw");
    let root = sb.root().to_string_lossy().into_owned();
    for owner_dies in [false, true] {
        let dir = sb.path(&format!("run-{owner_dies}"));
        let out = sb.path(&format!("out-{owner_dies}"));
        fs::create_dir(&out).unwrap();
        // The owner: a shell that waits (it names the sandbox, so the
        // sandbox's Drop ends it if the test fails).
        let mut owner = Owner(
            sb.cmd("sh")
                .args(["-c", "while :; do sleep 1; done", "owner"])
                .arg(sb.root())
                .spawn()
                .unwrap(),
        );
        let pid = owner.0.id().to_string();
        let helper = |args: &[&std::ffi::OsStr]| {
            let mut c = sb.cmd(bin(&args[0].to_string_lossy()));
            c.args(["--owner-pid", &pid]).args(&args[1..]);
            c
        };
        let os = |s: &str| std::ffi::OsString::from(s);
        run(&mut helper(&[
            &os("helper-v2v-input-disk"),
            dir.as_os_str(),
            src.as_os_str(),
        ]))
        .assert_ok();
        let mut setup = sb.cmd(bin("helper-v2v-output-local"));
        setup
            .args(["setup", "--owner-pid", &pid])
            .arg(&dir)
            .arg("-os")
            .arg(&out);
        run(&mut setup).assert_ok();
        let before = run_processes(&root);
        assert_eq!(servers_in(&before).len(), 2, "servers: {before:?}");
        if owner_dies {
            owner.0.kill().unwrap();
            owner.0.wait().unwrap();
            let left = wait_run_gone(&root, &before, Duration::from_secs(5));
            assert!(left.is_empty(), "servers outlived their owner: {left:?}");
        } else {
            let mut copy = helper(&[&os("helper-v2v-copy"), dir.as_os_str()]);
            let mut c = copy
                .arg("--machine-readable")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let stdout = c.stdout.take().unwrap();
            use std::io::BufRead;
            let mut lines = std::io::BufReader::new(stdout).lines();
            assert!(
                lines.any(|l| l.is_ok_and(|l| l.contains("\"disk-started\""))),
                "the copy never started"
            );
            c.kill().unwrap();
            c.wait().unwrap();
            // The servers are the owner's: still there for a cleanup.
            assert_eq!(servers_in(&run_processes(&root)).len(), 2);
        }
        for i in 1..=2 {
            let r = run(sb.cmd(bin("helper-v2v-cleanup")).arg(&dir));
            assert_eq!(r.code, 0, "cleanup #{i}\n{r}");
            let left = servers_in(&run_processes(&root));
            assert!(left.is_empty(), "cleanup #{i} left {left:?}");
            assert_eq!(entries(&out), Vec::<PathBuf>::new(), "partial target left");
        }
        drop(owner);
        assert_eq!(sha256(&src), sum);
    }
}
