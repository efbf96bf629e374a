//! helper-v2v-output-null as a program: `check` follows virt-v2v's
//! `-o null` (only `-on`, `-of raw`, `-oa sparse`), touches nothing, and
//! `setup` runs the same check first.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-output-null");

fn run(args: &[&str], dir: &std::path::Path) -> Output {
    let start = std::time::Instant::now();
    let o = Command::new(BIN)
        .arg(args[0])
        .arg(dir)
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(
        start.elapsed().as_secs_f64() < 2.0,
        "{args:?} took too long"
    );
    o
}

#[test]
fn check_validates_options_without_side_effects() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    for good in [
        &["check"][..],
        &["check", "-on", "x", "-of", "raw", "-oa", "sparse", "-q"],
    ] {
        let o = run(good, &dir);
        assert!(
            o.status.success(),
            "{good:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for (args, want) in [
        (&["check", "-oo", "bogus=1"][..], "‘-oo bogus’"),
        (&["check", "-os", "/tmp"], "-os option"),
        (&["check", "-of", "qcow2"], "-of option"),
        (&["check", "-oa", "preallocated"], "-oa option"),
        (&["check", "-oc", "qemu:///system"], "-oc option"),
        (&["check", "--bogus"], "'--bogus'"),
    ] {
        let o = run(args, &dir);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("helper-v2v-output-null: error: ") && last.contains(want),
            "{args:?}: last line {last:?}, want {want:?}"
        );
    }
    assert!(!dir.exists(), "check created DIR");
}

#[test]
fn setup_refuses_what_check_refuses() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    std::fs::create_dir(&dir).unwrap();
    let md = serde_json::json!({"version": 1, "source": {"name": "g", "memory_bytes": 1,
        "vcpus": 1, "origin": {"input_type": "disk", "location": []},
        "disks": [{"index": 1, "socket": "in1", "format": "raw", "size": 1048576, "source": "/s"}]}});
    std::fs::write(dir.join("metadata.in"), md.to_string()).unwrap();
    let o = run(&["setup", "-oo", "x=y"], &dir);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.lines().last().unwrap().contains("‘-oo x’"), "{err}");
    assert!(!dir.join("out1").exists() && !dir.join("output.json").exists());
}
