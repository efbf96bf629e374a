//! helper-v2v-output-libvirt as a program, with no libvirt daemon: `check`
//! refuses bad options before it connects, names the URI it cannot reach,
//! and touches nothing.  (Against a real daemon: tests/tests/libvirt.rs.)

use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-output-libvirt");

fn check(dir: &std::path::Path, args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let o = Command::new(BIN)
        .arg("check")
        .arg(dir)
        .args(args)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap();
    (o, t.elapsed())
}

#[test]
fn check_refuses_with_the_option_or_uri_named() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    let nowhere = format!(
        "qemu+unix:///session?socket={}",
        t.path().join("no.sock").display()
    );
    for (args, code, want) in [
        (
            &["-oo", "bogus=1"][..],
            2,
            "-o libvirt: unknown output option ‘-oo bogus’".to_string(),
        ),
        (&["-oo", "compressed"], 2, "‘-oo compressed’".into()),
        (&["-oo", "compressed=maybe"], 2, "compressed=maybe".into()),
        (&["-of", "vmdk"], 2, "-of vmdk".into()),
        (&["-oa", "thick"], 2, "-oa thick".into()),
        (&["-on", "a/b"], 2, "-on a/b".into()),
        (&["-oc", ""], 2, "-oc: empty libvirt URI".into()),
        (
            &["-oc", &nowhere, "-os", "p"],
            4,
            format!("cannot connect to libvirt at -oc {nowhere}: "),
        ),
    ] {
        let (o, took) = check(&dir, args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(took < Duration::from_secs(2), "{args:?} took {took:?}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("helper-v2v-output-libvirt: error: ") && last.contains(&want),
            "{args:?}: {last:?} should name {want:?}"
        );
    }
    assert!(!dir.exists(), "check created DIR");
}
