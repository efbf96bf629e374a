//! helper-v2v-output-local setup/final as programs, with real qemu-img,
//! nbdkit and qemu-nbd, and the XML checked by libvirt's own tools.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-output-local");

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn metadata_in(dir: &Path, sizes: &[u64]) {
    std::fs::create_dir_all(dir).unwrap();
    let disks: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            serde_json::json!({"index": i + 1, "socket": format!("in{}", i + 1),
            "format": "raw", "size": s, "source": "/src"})
        })
        .collect();
    let md = serde_json::json!({"version": 1, "source": {"name": "guest", "memory_bytes": 1073741824u64,
        "vcpus": 2, "origin": {"input_type": "disk", "location": []}, "disks": disks,
        "nics": [{"mac": "52:54:00:01:02:03", "network": "default"}]}});
    std::fs::write(dir.join("metadata.in"), md.to_string()).unwrap();
}

fn tool_ok(prog: &str, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let o = Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{prog} not found ({e}): run scripts/install-deps.sh"));
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn setup(dir: &Path, os: &Path, of: &str) -> Output {
    run(&[
        "setup".as_ref(),
        dir.as_os_str(),
        "--os".as_ref(),
        os.as_os_str(),
        "--of".as_ref(),
        of.as_ref(),
    ])
}

#[test]
fn setup_then_final_gives_valid_libvirt_xml() {
    for of in ["raw", "qcow2"] {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("v2v");
        let os = t.path().join("out");
        std::fs::create_dir(&os).unwrap();
        metadata_in(&dir, &[8 << 20, 4 << 20]);
        let o = setup(&dir, &os, of);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for (n, size) in [(1, 8u64 << 20), (2, 4 << 20)] {
            let sock = dir.join(format!("out{n}"));
            assert!(sock.exists());
            // The target is served and writable.
            let (ok, msg) = tool_ok(
                "qemu-io",
                &[
                    "-f".as_ref(),
                    "raw".as_ref(),
                    "-c".as_ref(),
                    "write -P 0x55 0 64k".as_ref(),
                    format!("nbd+unix:///?socket={}", sock.display()).as_ref(),
                ],
            );
            assert!(ok, "{msg}");
            let target = os.join(format!("guest-sd{}", if n == 1 { 'a' } else { 'b' }));
            let (ok, info) = tool_ok(
                "qemu-img",
                &["info".as_ref(), "-U".as_ref(), target.as_os_str()],
            );
            assert!(ok && info.contains(&format!("file format: {of}")), "{info}");
            assert!(info.contains(&format!("({size} bytes)")), "{info}");
        }
        let oj: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("output.json")).unwrap())
                .unwrap();
        assert_eq!(oj["target_is_zero"], true);
        assert_eq!(oj["disks"][1]["created"], true);
        // The runner's part: description.json, which final renders.
        v2v_render::write_description(&v2v_meta::V2vDir::new(&dir), &Default::default()).unwrap();
        let o = run(&["final".as_ref(), dir.as_os_str()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let xml = os.join("guest.xml");
        let text = std::fs::read_to_string(&xml).unwrap();
        assert!(text.contains(&format!("type='{of}'")));
        assert!(text.contains("<mac address='52:54:00:01:02:03'/>"));
        let (ok, msg) = tool_ok("virt-xml-validate", &[xml.as_os_str(), "domain".as_ref()]);
        assert!(ok, "virt-xml-validate: {msg}\n{text}");
        let (ok, msg) = tool_ok(
            "virsh",
            &[
                "-c".as_ref(),
                "test:///default".as_ref(),
                "define".as_ref(),
                xml.as_os_str(),
            ],
        );
        assert!(ok, "virsh define: {msg}");
        stop(&dir);
    }
}

fn stop(dir: &Path) {
    for e in std::fs::read_dir(dir.join("run")).unwrap() {
        let p: PathBuf = e.unwrap().path();
        if let Ok(pid) = std::fs::read_to_string(&p).unwrap().trim().parse::<i32>() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

#[test]
fn refuses_existing_target_and_bad_storage() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    let os = t.path().join("out");
    std::fs::create_dir(&os).unwrap();
    metadata_in(&dir, &[1 << 20, 1 << 20]);
    std::fs::write(os.join("guest-sdb"), b"precious").unwrap();
    let o = setup(&dir, &os, "raw");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines()
            .last()
            .unwrap()
            .contains("guest-sdb already exists"),
        "{err}"
    );
    assert_eq!(std::fs::read(os.join("guest-sdb")).unwrap(), b"precious");
    assert!(
        !os.join("guest-sda").exists(),
        "created a disk before refusing"
    );
    assert!(!dir.join("out1").exists());
    let o = setup(&dir, &t.path().join("nowhere"), "raw");
    assert_eq!(o.status.code(), Some(2));
    // A corrupt or future metadata.in is a contract error.
    std::fs::write(dir.join("metadata.in"), "{ nope").unwrap();
    assert_eq!(setup(&dir, &os, "raw").status.code(), Some(3));
    std::fs::write(dir.join("metadata.in"), r#"{"version": 2, "source": {}}"#).unwrap();
    let o = setup(&dir, &os, "raw");
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("version 2"), "{err}");
}

/// `check` takes `setup`'s arguments, touches nothing (DIR is never
/// created), and refuses each bad option within 2 s with exit 2 and a last
/// line naming it.
#[test]
fn check_validates_options_without_side_effects() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    let os = t.path().join("out");
    std::fs::create_dir(&os).unwrap();
    let file = t.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let check = |extra: &[&str]| {
        let start = std::time::Instant::now();
        let o = Command::new(BIN)
            .arg("check")
            .arg(&dir)
            .args(extra)
            .output()
            .unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert!(secs < 2.0, "check {extra:?} took {secs:.1}s");
        o
    };
    let os_s = os.to_str().unwrap();
    for good in [
        &["-os", os_s][..],
        &[
            "-os",
            os_s,
            "-of",
            "qcow2",
            "-oa",
            "preallocated",
            "-on",
            "new",
        ],
        &[
            "-os",
            os_s,
            "-oc",
            "qemu:///system",
            "-v",
            "--machine-readable",
        ],
        &["--os", os_s, "--of=raw", "-oa=sparse"],
    ] {
        let o = check(good);
        assert!(
            o.status.success(),
            "{good:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.stdout.is_empty(), "{good:?}: printed on stdout");
    }
    let bad_os = [
        (
            vec!["-of", "raw"],
            "-o local: output directory was not specified, use ‘-os /dir’",
        ),
        (
            vec!["-os", "/nonexistent/out"],
            "-os /nonexistent/out: output directory does not exist",
        ),
        (vec!["-os", file.to_str().unwrap()], "is not a directory"),
        (
            vec!["-os", "/proc"],
            "-os /proc: the output directory is not writable",
        ),
    ];
    let bad_opt = [
        (vec!["-of", "vhdx"], "-of vhdx"),
        (vec!["-oa", "thick"], "-oa thick"),
        (vec!["-oo", "bogus=1"], "‘-oo bogus’"),
        (vec!["-on", "a/b"], "-on a/b"),
        (vec!["--bogus"], "'--bogus'"),
    ];
    let bad = bad_os
        .into_iter()
        .chain(bad_opt.into_iter().map(|(mut a, w)| {
            a.extend(["-os", os_s]);
            (a, w)
        }));
    for (args, want) in bad {
        let o = check(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("helper-v2v-output-local: error: ") && last.contains(want),
            "{args:?}: last line {last:?}, want {want:?}"
        );
    }
    assert!(!dir.exists(), "check created DIR");
    assert_eq!(
        std::fs::read_dir(&os).unwrap().count(),
        0,
        "check wrote in -os"
    );
}

/// `setup` runs the same validation first: a bad option fails before
/// metadata.in is read or anything is created.
#[test]
fn setup_validates_like_check() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    let os = t.path().join("out");
    std::fs::create_dir(&os).unwrap();
    metadata_in(&dir, &[1 << 20]);
    for (args, want) in [
        (&["-oo", "x=y"][..], "‘-oo x’"),
        (&["-of", "vhdx"], "-of vhdx"),
    ] {
        let o = Command::new(BIN)
            .arg("setup")
            .arg(&dir)
            .arg("-os")
            .arg(&os)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.lines().last().unwrap().contains(want), "{err}");
        let e: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("status/output-setup.error.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(e["kind"], "usage");
    }
    assert_eq!(std::fs::read_dir(&os).unwrap().count(), 0);
    assert!(!dir.join("out1").exists());
}
