//! helper-v2v-input-disk run as a program, against real nbdkit and qemu-nbd.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-input-disk");

fn sh(cmd: &str) {
    let st = Command::new("sh").args(["-c", cmd]).status().unwrap();
    assert!(st.success(), "failed: {cmd}");
}

fn pid_of(dir: &Path, name: &str) -> u32 {
    std::fs::read_to_string(dir.join("run").join(format!("{name}.pid")))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn gone(pid: u32, secs: u64) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.contains(") Z") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn serves_raw_and_qcow2_after_exit_and_dies_with_owner() {
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("guest.img");
    let qcow = t.path().join("second.qcow2");
    sh(&format!(
        "qemu-img create -q -f raw {r} 8M && printf hello | dd of={r} bs=1 seek=1048576 conv=notrunc 2>/dev/null \
         && qemu-img convert -O qcow2 {r} {q}",
        r = raw.display(),
        q = qcow.display()
    ));
    let before = std::fs::read(&raw).unwrap();
    let mut owner = Command::new("sleep").arg("300").spawn().unwrap();
    let dir = t.path().join("v2v");
    let out = Command::new(BIN)
        .arg(format!("--owner-pid={}", owner.id()))
        .arg(&dir)
        .arg(&raw)
        .arg(&qcow)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The helper has exited: its servers must still be there.
    for n in 1..=2 {
        let sock = dir.join(format!("in{n}"));
        let st = Command::new("qemu-img")
            .args(["compare", "-f", "raw", "-F", "raw"])
            .arg(format!("nbd+unix:///?socket={}", sock.display()))
            .arg(&raw)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "in{n}: {}",
            String::from_utf8_lossy(&st.stdout)
        );
    }
    let md: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.in")).unwrap()).unwrap();
    assert_eq!(md["version"], 1);
    assert_eq!(md["source"]["name"], "guest");
    assert_eq!(md["source"]["disks"][1]["format"], "qcow2");
    assert_eq!(md["source"]["disks"][0]["size"], 8 << 20);
    assert!(dir.join("status/input.done").exists());
    let (p1, p2) = (pid_of(&dir, "in1"), pid_of(&dir, "in2"));
    owner.kill().unwrap();
    owner.wait().unwrap();
    assert!(gone(p1, 10), "nbdkit outlived the owner");
    assert!(gone(p2, 10), "qemu-nbd outlived the owner");
    assert_eq!(std::fs::read(&raw).unwrap(), before, "source modified");
}

#[test]
fn bad_disks_fail_with_documented_codes_and_leave_nothing() {
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good.img");
    sh(&format!("qemu-img create -q -f raw {} 1M", good.display()));
    let text = t.path().join("notes.txt");
    std::fs::write(&text, "not a disk\n").unwrap();
    let cases: [(&Path, i32, &str); 3] = [
        (&t.path().join("missing.img"), 2, "no such file"),
        (t.path(), 1, "directory"),
        (&text, 5, "not a disk image"),
    ];
    for (i, (bad, code, words)) in cases.iter().enumerate() {
        let dir = t.path().join(format!("v2v{i}"));
        let out = Command::new(BIN)
            .arg(&dir)
            .arg(&good)
            .arg(bad)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{err}");
        let last = err.lines().last().unwrap();
        assert!(
            last.starts_with("helper-v2v-input-disk: error: disk 2:") && last.contains(words),
            "{last}"
        );
        assert!(!dir.join("in1").exists(), "in1 left behind");
        assert!(std::fs::read_dir(dir.join("run")).unwrap().next().is_none());
        let e: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("status/input.error.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(e["disk"], 2);
    }
    let out = Command::new(BIN).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
