//! helper-v2v-cleanup as a program: stops real servers, removes partial
//! targets only when the run did not finish, and is safe to run twice.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-cleanup");

fn start_null(dir: &Path, name: &str) -> u32 {
    let st = Command::new("nbdkit")
        .arg(format!("--unix={}/{name}", dir.display()))
        .arg(format!("--pidfile={}/run/{name}.pid", dir.display()))
        .args(["null", "size=1M"])
        .status()
        .expect("nbdkit not found");
    assert!(st.success());
    for _ in 0..100 {
        if let Ok(s) = std::fs::read_to_string(dir.join(format!("run/{name}.pid"))) {
            if let Ok(p) = s.trim().parse() {
                return p;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no pidfile");
}

/// An output.json as `-o local` writes it, with output storage `os`, whose
/// created disk 1 names `target`.
fn output_json_naming(dir: &Path, os: &Path, target: &str) {
    let oj = serde_json::json!({"version": 1, "output_type": "local", "name": "g",
        "disks": [{"index": 1, "socket": "out1", "path": target, "format": "raw", "size": 1048576, "created": true}],
        "options": {"output_storage": os}});
    std::fs::write(dir.join("output.json"), oj.to_string()).unwrap();
}

/// The output.json of a `-o local` run into `target`'s directory.
fn output_json(dir: &Path, target: &Path) {
    output_json_naming(dir, target.parent().unwrap(), target.to_str().unwrap());
}

#[test]
fn unfinished_run_loses_its_targets_and_servers() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    std::fs::create_dir_all(dir.join("run")).unwrap();
    let pid = start_null(&dir, "out1");
    let target = t.path().join("g-sda");
    std::fs::write(&target, vec![0u8; 4096]).unwrap();
    output_json(&dir, &target);
    for _ in 0..2 {
        let out = Command::new(BIN).arg(&dir).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "server still running"
    );
    assert!(!dir.join("out1").exists());
    assert!(!target.exists(), "partial target kept");
}

#[test]
fn finished_run_keeps_its_targets() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    std::fs::create_dir_all(dir.join("status")).unwrap();
    let target = t.path().join("g-sda");
    std::fs::write(&target, b"x").unwrap();
    output_json(&dir, &target);
    std::fs::write(
        dir.join("status/output-final.done"),
        r#"{"version":1,"step":"output-final","seconds":0.1}"#,
    )
    .unwrap();
    let out = Command::new(BIN).arg(&dir).output().unwrap();
    assert!(out.status.success());
    assert!(target.exists());
    // --keep-partial keeps them on an unfinished run too.
    std::fs::remove_file(dir.join("status/output-final.done")).unwrap();
    assert!(Command::new(BIN)
        .arg("--keep-partial")
        .arg(&dir)
        .status()
        .unwrap()
        .success());
    assert!(target.exists());
}

#[test]
fn missing_dir_is_a_contract_error() {
    let out = Command::new(BIN)
        .arg("/nonexistent/v2v.dir")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("helper-v2v-cleanup: error:"),
        "{err}"
    );
}

/// A hand-made output.json can make cleanup remove only the file the
/// output would have created: a file outside the storage, a `../` path to
/// one, a symlink inside the storage, all survive, each with a warning.
#[test]
fn removes_nothing_but_what_output_setup_created() {
    let t = tempfile::tempdir().unwrap();
    let t = std::fs::canonicalize(t.path()).unwrap();
    let dir = t.join("v2v");
    let os = t.join("out");
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::create_dir(&os).unwrap();
    let precious = t.join("precious");
    let link = os.join("g-sda");
    let cases: [(&str, String, &str); 4] = [
        (
            "outside",
            precious.display().to_string(),
            "is not the target",
        ),
        (
            "dotdot",
            format!("{}/../precious", os.display()),
            "is not the target",
        ),
        (
            "other name",
            os.join("g-sdb").display().to_string(),
            "is not the target",
        ),
        ("symlink", link.display().to_string(), "symbolic link"),
    ];
    for (what, path, why) in cases {
        std::fs::write(&precious, b"precious").unwrap();
        std::fs::write(os.join("g-sdb"), b"precious").unwrap();
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&precious, &link).unwrap();
        output_json_naming(&dir, &os, &path);
        let out = Command::new(BIN).arg(&dir).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{what}: {err}");
        assert!(
            err.contains("warning:") && err.contains(why) && err.contains("left in place"),
            "{what}: {err}"
        );
        assert_eq!(std::fs::read(&precious).unwrap(), b"precious", "{what}");
        assert_eq!(
            std::fs::read(os.join("g-sdb")).unwrap(),
            b"precious",
            "{what}"
        );
        assert!(link.symlink_metadata().is_ok(), "{what}: symlink removed");
    }
}
