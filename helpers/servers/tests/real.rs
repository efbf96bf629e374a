//! v2v-servers against real nbdkit and qemu-nbd.

use std::process::{Child, Command};
use std::time::{Duration, Instant};
use v2v_meta::{Step, V2vDir};
use v2v_servers::*;

fn require(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "{tool} not found: run scripts/install-deps.sh");
}

/// The NBD URI of a server's socket.
fn uri(srv: &Server) -> String {
    format!("nbd+unix:///?socket={}", srv.socket.display())
}

fn wait_gone(pid: u32, secs: u64) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if !alive(pid as i32) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A stand-in owner process we can kill.
fn owner() -> Child {
    Command::new("sleep").arg("600").spawn().unwrap()
}

#[test]
fn nbdkit_cow_serves_and_protects_source_and_dies_with_owner() {
    require("nbdkit");
    let t = tempfile::tempdir().unwrap();
    let dir = V2vDir::create(t.path().join("d")).unwrap();
    let img = t.path().join("src.img");
    std::fs::write(&img, vec![7u8; 1 << 20]).unwrap();
    let mut own = owner();
    let spec = Nbdkit::new("file").filter("cow").param("file", &img);
    let srv = start(&dir, Step::Input, "in1", &spec, own.id()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&srv.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket must be private");
    assert!(dir.pidfile("in1").exists());
    {
        let h = v2v_nbd::Handle::open(&uri(&srv)).unwrap();
        assert_eq!(h.size().unwrap(), 1 << 20);
        h.pwrite(&[1u8; 512], 0).unwrap();
        let mut b = [0u8; 512];
        h.pread(&mut b, 0).unwrap();
        assert_eq!(b, [1u8; 512]);
    }
    assert_eq!(std::fs::read(&img).unwrap()[0], 7, "source modified");
    // SIGKILL the owner: the server must go by itself.
    own.kill().unwrap();
    own.wait().unwrap();
    assert!(wait_gone(srv.pid, 10), "nbdkit outlived its owner");
    let _ = std::fs::remove_file(&srv.socket);
}

#[test]
fn qemu_nbd_overlay_and_guard() {
    require("qemu-nbd");
    require("qemu-img");
    let t = tempfile::tempdir().unwrap();
    let dir = V2vDir::create(t.path().join("d")).unwrap();
    let img = t.path().join("src.qcow2");
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&img)
        .arg("4M")
        .status()
        .unwrap();
    assert!(st.success());
    let before = std::fs::read(&img).unwrap();
    // A qcow2 overlay over the source, as an input makes one.
    std::fs::create_dir_all(dir.scratch_dir()).unwrap();
    let ov = dir.overlay(1);
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(&img)
        .arg(&ov)
        .status()
        .unwrap();
    assert!(st.success());
    let mut own = owner();
    let srv = start(
        &dir,
        Step::Input,
        "in1",
        &QemuNbd::new(&ov, "qcow2"),
        own.id(),
    )
    .unwrap();
    {
        let h = v2v_nbd::Handle::open(&uri(&srv)).unwrap();
        assert_eq!(h.size().unwrap(), 4 << 20);
        h.pwrite(&[9u8; 4096], 8192).unwrap();
        h.flush().unwrap();
    }
    assert_eq!(std::fs::read(&img).unwrap(), before, "source modified");
    use std::os::unix::fs::PermissionsExt;
    for p in [dir.pidfile("in1"), dir.guard_pidfile("in1")] {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} must be private", p.display());
    }
    own.kill().unwrap();
    own.wait().unwrap();
    assert!(wait_gone(srv.pid, 10), "qemu-nbd outlived its owner");
}

#[test]
fn stop_all_stops_everything_and_is_idempotent() {
    require("nbdkit");
    let t = tempfile::tempdir().unwrap();
    let dir = V2vDir::create(t.path().join("d")).unwrap();
    let me = std::process::id();
    let a = start(
        &dir,
        Step::OutputSetup,
        "out1",
        &Nbdkit::new("memory").param("size", "1M"),
        me,
    )
    .unwrap();
    let b = start(
        &dir,
        Step::OutputSetup,
        "out2",
        &Nbdkit::new("memory").param("size", "1M"),
        me,
    )
    .unwrap();
    assert_eq!(stop_all(&dir), 2);
    assert!(wait_gone(a.pid, 5) && wait_gone(b.pid, 5));
    assert!(!a.socket.exists() && !b.socket.exists());
    assert!(dir.pidfiles().unwrap().is_empty());
    assert_eq!(stop_all(&dir), 0);
}

#[test]
fn failed_start_reports_log_tail_and_leaves_nothing() {
    require("nbdkit");
    let t = tempfile::tempdir().unwrap();
    let dir = V2vDir::create(t.path().join("d")).unwrap();
    let spec = Nbdkit::new("file").param("file", t.path().join("missing.img"));
    let e = start(&dir, Step::Input, "in1", &spec, std::process::id()).unwrap_err();
    assert_eq!(e.code, 4);
    assert!(e.message.contains("nbdkit for in1"), "{}", e.message);
    assert!(
        e.message.contains("missing.img"),
        "log tail not quoted: {}",
        e.message
    );
    assert!(!dir.pidfile("in1").exists());
    assert!(!dir.in_socket(1).exists());
}
