//! The supervisor's command line: capabilities, helper discovery,
//! --print-source, a missing convert helper.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use v2v_tests::*;

#[test]
fn capability_list_comes_from_the_helpers_found() {
    let sb = Sandbox::new("caps");
    let third = sb.extra_bin().join("helper-v2v-output-mine");
    fs::write(&third, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&third, fs::Permissions::from_mode(0o755)).unwrap();

    let a = run(sb.virt_v2v().arg("--machine-readable"));
    a.assert_ok();
    let lines: Vec<&str> = a.stdout.lines().collect();
    // Upstream's first two lines (its list starts with the program name).
    assert_eq!(lines[..2], ["virt-v2v", "virt-v2v-2.0"], "{}", a.stdout);
    for want in [
        "input:disk",
        "input:libvirtxml",
        "input:libvirt",
        "input:ova",
        "input:vmx",
        "output:local",
        "output:null",
        "output:mine",
        "convert:linux",
        "convert:windows",
    ] {
        assert!(lines.contains(&want), "{want} missing from:\n{}", a.stdout);
    }
    let b = run(sb.script().arg("--machine-readable"));
    b.assert_ok();
    assert_eq!(
        a.stdout, b.stdout,
        "virt-v2v and the script list different capabilities"
    );
}

#[test]
fn missing_convert_helper_is_a_clear_error_and_no_convert_still_works() {
    let sb = Sandbox::new("noconvert");
    // An installation without helper-v2v-convert: virt-v2v and the other
    // helpers copied into one directory, which is all of PATH there is.
    let inst = sb.path("inst");
    fs::create_dir(&inst).unwrap();
    for name in [
        "virt-v2v",
        "helper-v2v-input-disk",
        "helper-v2v-output-null",
        "helper-v2v-copy",
        "helper-v2v-cleanup",
    ] {
        fs::copy(bin(name), inst.join(name)).unwrap();
    }
    let disk = sb.path("d.raw");
    make_ext4_disk(&disk, 16, 11);
    let path = format!(
        "{}:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        inst.display()
    );
    let r = run(sb
        .cmd(inst.join("virt-v2v"))
        .env("PATH", &path)
        .args(["-i", "disk"])
        .arg(&disk)
        .args(["-o", "null"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.last_err_line()
            .contains("helper-v2v-convert is not installed")
            && r.last_err_line().contains("--no-convert"),
        "{r}"
    );
    assert!(sb.run_dirs().is_empty());

    let r = run(sb
        .cmd(inst.join("virt-v2v"))
        .env("PATH", &path)
        .args(["--no-convert", "-i", "disk"])
        .arg(&disk)
        .args(["-o", "null"]));
    r.assert_ok();
    assert!(
        sb.run_dirs().is_empty(),
        "temp dir not removed after success"
    );
    let caps = run(sb
        .cmd(inst.join("virt-v2v"))
        .env("PATH", &path)
        .arg("--machine-readable"));
    assert!(!caps.stdout.contains("convert:linux") && caps.stdout.contains("input:disk"));
}

#[test]
fn print_source_human_and_json() {
    let sb = Sandbox::new("printsrc");
    let disk = sb.path("shown.raw");
    make_ext4_disk(&disk, 16, 12);
    let r = run(sb
        .virt_v2v()
        .args(["--print-source", "-i", "disk"])
        .arg(&disk));
    r.assert_ok();
    assert!(r.stdout.starts_with("Source guest information"), "{r}");
    assert!(r.stdout.contains("    source name: shown\n"), "{r}");
    assert!(
        r.stdout
            .contains(&format!("{} (16777216 bytes)", disk.display())),
        "{r}"
    );
    assert!(sb.run_dirs().is_empty(), "temp dir not removed");

    let r = run(sb
        .virt_v2v()
        .args(["--print-source", "--machine-readable", "-i", "disk"])
        .arg(&disk));
    r.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_valid("metadata.in.schema.json", "--print-source JSON", &v);
    assert_eq!(v["source"]["disks"][0]["size"], 16 << 20);
    assert!(wait_no_servers(
        sb.root().to_str().unwrap(),
        std::time::Duration::from_secs(5)
    )
    .is_empty());
}

/// scripts/virt-v2v.sh reads every JSON file with jq: without jq it stops
/// at once, saying so, before anything else.
#[test]
fn the_script_needs_jq() {
    let sb = Sandbox::new("nojq");
    let dash = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("dash"))
        .find(|p| p.is_file())
        .expect("dash not found");
    // A PATH with nothing on it: no jq (and no helper).
    let r = run(sb
        .cmd(&dash)
        .env("PATH", sb.extra_bin())
        .arg(repo_root().join("scripts/virt-v2v.sh"))
        .args(["-i", "disk", "x.img", "-o", "null"]));
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(
        r.stderr,
        "virt-v2v: error: jq is required (scripts/install-deps.sh installs it)\n"
    );
    assert!(sb.run_dirs().is_empty());
}
