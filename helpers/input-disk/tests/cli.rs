//! helper-v2v-input-disk run as a program, against real nbdkit and qemu-nbd.

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use v2v_test_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-input-disk");

#[test]
fn serves_raw_and_qcow2_after_exit_and_dies_with_owner() {
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("guest.img");
    let qcow = t.path().join("second.qcow2");
    make_raw(&raw, 8, "disk");
    sh(&format!(
        "qemu-img convert -O qcow2 {} {}",
        raw.display(),
        qcow.display()
    ));
    let before = sha256(&raw);
    let owner = Owner::new();
    let dir = t.path().join("v2v");
    let out = run(BIN, &owner, &[&dir, &raw, &qcow]);
    assert_ok(&out);
    // The helper has exited: its servers must still be there.
    assert_serves(&dir, 1, &raw);
    assert_serves(&dir, 2, &raw);
    let md = metadata_in(&dir);
    assert_eq!(md["version"], 1);
    assert_eq!(md["source"]["name"], "guest");
    assert_eq!(md["source"]["disks"][1]["format"], "qcow2");
    assert_eq!(md["source"]["disks"][0]["size"], 8 << 20);
    assert_eq!(md["source"]["nics"][0]["network"], "default");
    assert!(dir.join("status/input.done").exists());
    let servers = pids(&dir);
    assert!(servers.len() >= 2, "{servers:?}");
    drop(owner);
    assert!(
        wait_gone(&servers, Duration::from_secs(10)),
        "a server outlived the owner"
    );
    assert_eq!(sha256(&raw), before, "source modified");
}

#[test]
fn bad_disks_fail_with_documented_codes_and_leave_nothing() {
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good.img");
    make_raw(&good, 1, "good");
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
        assert_fails(&out, *code, &format!("disk 2: {}", bad.display()));
        assert_fails(&out, *code, words);
        assert_nothing_left(&dir);
        let e: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("status/input.error.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(e["disk"], 2);
    }
    let out = Command::new(BIN).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_validates_without_side_effects() {
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good.img");
    make_raw(&good, 1, "check");
    let dir = t.path().join("v2v");
    // -if (or --format) is the format; -ic, -it and -ip are ignored.
    let virt_v2v = virt_v2v_options(&[]);
    let accepted: [&[&str]; 3] = [&[], &virt_v2v, &["--format", "qcow2"]];
    assert_check_accepts(BIN, &dir, &[&dir, &good], &accepted);
    let refused: [(&[&str], &str); 4] = [
        (&["-if", "vdi"], "-if vdi"),
        (&["--format", "vdi"], "--format vdi"),
        (&["-io", "x=1"], "-io x=1"),
        (&["-if", "raw", "--format", "raw"], "--format"),
    ];
    assert_check_refuses(BIN, &dir, &[&dir, &good], &refused);
    // Files: the step's own exit codes, naming the file.
    let missing = t.path().join("missing.img");
    assert_check_fails(
        BIN,
        &dir,
        &[&dir, &good, &missing],
        2,
        "missing.img: no such file",
    );
    assert_check_fails(BIN, &dir, &[&dir, &t.path()], 1, "is a directory");
    // DIR itself: a file where DIR should be is a contract error.
    let file = t.path().join("file");
    std::fs::write(&file, "").unwrap();
    assert_fails(&check(BIN, &[&file, &good]), 3, "not a directory");
    // The step refuses the same options the same way (and records it).
    let out = Command::new(BIN)
        .args(["-io", "x=1"])
        .arg(&dir)
        .arg(&good)
        .output()
        .unwrap();
    assert_fails(&out, 2, "-io x=1");
    assert!(dir.join("status/input.error.json").exists());
    assert_nothing_left(&dir);
}
