//! helper-v2v-output-vdsm as a program, with real qemu-img and nbdkit: a
//! `setup` checks every volume path first; one that fails part-way removes
//! what it created, stops what it started, and leaves what VDSM prepared.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-output-vdsm");
const SD: &str = "12345678-1234-1234-1234-123456789abc";

/// `DIR/metadata.in`: a guest of two 1 MiB disks.
fn metadata_in(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let disk = |n: u32| {
        format!(r#"{{"index":{n},"socket":"in{n}","format":"raw","size":1048576,"source":"/s"}}"#)
    };
    let md = format!(
        r#"{{"version":1,"source":{{"name":"guest","memory_bytes":1073741824,"vcpus":1,
        "origin":{{"input_type":"disk","location":[]}},"disks":[{},{}]}}}}"#,
        disk(1),
        disk(2)
    );
    std::fs::write(dir.join("metadata.in"), md).unwrap();
}

fn setup(t: &Path) -> std::process::Output {
    Command::new(BIN)
        .arg("setup")
        .arg(t.join("v2v"))
        .arg("-os")
        .arg(t.join(SD))
        .args(["-oo", "vdsm-image-uuid=I1", "-oo", "vdsm-vol-uuid=V1"])
        .args(["-oo", "vdsm-image-uuid=I2", "-oo", "vdsm-vol-uuid=V2"])
        .args(["-oo", "vdsm-vm-uuid=VM", "-oo"])
        .arg(format!("vdsm-ovf-output={}", t.display()))
        .output()
        .unwrap()
}

/// A storage domain with two image directories; VDSM prepared volume 1.
fn domain() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for i in ["I1", "I2"] {
        std::fs::create_dir_all(t.path().join(SD).join("images").join(i)).unwrap();
    }
    std::fs::write(t.path().join(SD).join("images/I1/V1"), b"prepared").unwrap();
    metadata_in(&t.path().join("v2v"));
    t
}

#[test]
fn a_volume_path_that_is_no_file_is_refused_before_anything_is_written() {
    let t = domain();
    let images = t.path().join(SD).join("images");
    std::fs::create_dir(images.join("I2/V2")).unwrap();
    let o = setup(t.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("I2/V2 exists and is neither a regular file nor a block device"),
        "{err}"
    );
    assert_eq!(std::fs::read(images.join("I1/V1")).unwrap(), b"prepared");
    assert!(!images.join("I1/V1.meta").exists());
    assert!(!t.path().join("v2v/output.json").exists());
}

#[test]
fn failed_setup_removes_what_it_made_and_keeps_what_vdsm_prepared() {
    let t = domain();
    let dir = t.path().join("v2v");
    let images = t.path().join(SD).join("images");
    // Disk 2 cannot be served: its socket's name is taken.
    std::fs::create_dir_all(dir.join("out2/x")).unwrap();
    let o = setup(t.path());
    let err = String::from_utf8_lossy(&o.stderr);
    // A taken socket name in DIR is a contract error.
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("out2: already exists"), "{err}");
    // Disk 1 was set up and served, disk 2 created, before the failure.
    let log = std::fs::read_to_string(dir.join("log/03-output-setup.log")).unwrap();
    assert!(log.contains("out1: nbdkit ready"), "{log}");
    assert!(log.contains("Creating output disk 2"), "{log}");
    for f in ["I1/V1.meta", "I2/V2", "I2/V2.meta"] {
        assert!(!images.join(f).exists(), "{f} is left");
    }
    assert!(images.join("I1/V1").is_file(), "VDSM's volume is kept");
    assert!(!dir.join("output.json").exists());
    // Disk 1's server is stopped.
    assert!(log.contains("stopping pid"), "{log}");
    for e in std::fs::read_dir(dir.join("run"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let pid = std::fs::read_to_string(e.path()).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "{} still runs",
                e.path().display()
            );
        }
    }
}
