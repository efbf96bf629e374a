//! Bad input: each case exits with its documented code (docs/exit-codes.md)
//! and one last error line naming the step (or, when an end's check refuses
//! it before any step, the option or file) and the thing at fault, through
//! both virt-v2v and scripts/virt-v2v.sh; nothing is left running and the
//! source is unchanged.

use crate::common::{bad, At};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use v2v_tests::*;

fn small_disk(sb: &Sandbox, name: &str) -> (std::path::PathBuf, String) {
    let p = sb.path(name);
    make_ext4_disk(&p, 16, 9);
    let sum = sha256(&p);
    (p, sum)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn missing_unreadable_and_non_disk_sources() {
    let sb = Sandbox::new("badsrc");
    let nope = sb.path("nope.raw");
    bad(
        &sb,
        &["--no-convert", "-i", "disk", s(&nope), "-o", "null"],
        2,
        At::Check("input"),
        "nope.raw",
    );

    let adir = sb.path("adir.img");
    fs::create_dir(&adir).unwrap();
    bad(
        &sb,
        &["--no-convert", "-i", "disk", s(&adir), "-o", "null"],
        1,
        At::Check("input"),
        "adir.img",
    );

    let text = sb.path("notes.txt");
    fs::write(&text, "this is not a disk image\n").unwrap();
    bad(
        &sb,
        &["--no-convert", "-i", "disk", s(&text), "-o", "null"],
        5,
        At::Step("input"),
        "notes.txt",
    );
    assert_eq!(
        fs::read_to_string(&text).unwrap(),
        "this is not a disk image\n"
    );
}

#[test]
fn existing_target_is_refused_and_kept() {
    let sb = Sandbox::new("badtarget");
    let (src, sum) = small_disk(&sb, "guest.raw");
    let out = sb.path("out");
    fs::create_dir(&out).unwrap();
    let target = out.join("guest-sda");
    fs::write(&target, "precious").unwrap();
    bad(
        &sb,
        &[
            "--no-convert",
            "-i",
            "disk",
            s(&src),
            "-o",
            "local",
            "-os",
            s(&out),
        ],
        1,
        At::Step("output-setup"),
        "guest-sda",
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
    assert_eq!(sha256(&src), sum);
}

#[test]
fn unknown_types_are_usage_errors() {
    let sb = Sandbox::new("badtype");
    let (src, sum) = small_disk(&sb, "guest.raw");
    bad(
        &sb,
        &["--no-convert", "-i", "disk", s(&src), "-o", "bogus"],
        2,
        At::Usage,
        "-o bogus",
    );
    bad(
        &sb,
        &["--no-convert", "-i", "bogus", s(&src), "-o", "null"],
        2,
        At::Usage,
        "-i bogus",
    );
    bad(
        &sb,
        &["--no-convert", "-i", "disk", "-o", "null"],
        2,
        At::Usage,
        "-i disk",
    );
    assert_eq!(sha256(&src), sum);
}

/// Install a third-party input helper `helper-v2v-input-NAME` (found on
/// PATH): a shell script that accepts every `--check` (the smallest
/// correct check, docs/contract.md), skips the common flags, sets `dir` to
/// the temp directory (and `$2` to the first argument after it), runs
/// `body` and writes `status/input.done`.
fn install_input(sb: &Sandbox, name: &str, body: &str) {
    let p = sb.extra_bin().join(format!("helper-v2v-input-{name}"));
    let script = format!(
        r#"#!/bin/sh
case $1 in --check) exit 0 ;; esac
while [ $# -gt 0 ]; do
  case $1 in --owner-pid|--events-fd) shift 2 ;; -*) shift ;; *) break ;; esac
done
dir=$1
mkdir -p "$dir/status" "$dir/run" && chmod 700 "$dir"
{body}
printf '{{"version": 1, "step": "input", "seconds": 0}}\n' > "$dir/status/input.done"
"#
    );
    fs::write(&p, script).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// An input that writes a broken metadata.in (`WHAT`: corrupt, version2):
/// the next step refuses it with exit 3, naming the file.
fn install_broken_input(sb: &Sandbox) {
    install_input(
        sb,
        "broken",
        r#"case $2 in
  corrupt) printf '{"version": 1, "source": {"name": ' > "$dir/metadata.in" ;;
  version2) printf '{"version": 2, "source": {"name": "future"}}\n' > "$dir/metadata.in" ;;
esac"#,
    );
}

#[test]
fn corrupt_and_future_metadata_are_contract_errors() {
    let sb = Sandbox::new("badmeta");
    install_broken_input(&sb);
    let out = sb.path("out");
    fs::create_dir(&out).unwrap();
    let args = |what: &'static str| -> Vec<String> {
        [
            "--no-convert",
            "-i",
            "broken",
            what,
            "-o",
            "local",
            "-os",
            s(&out),
        ]
        .map(String::from)
        .to_vec()
    };
    let a = args("corrupt");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    bad(&sb, &a, 3, At::Step("output-setup"), "metadata.in");
    let a = args("version2");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    bad(&sb, &a, 3, At::Step("output-setup"), "version 2");
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        0,
        "a target was left behind"
    );
}

/// An input serving a 64 MiB disk whose read of the 2 MiB at 32 MiB fails
/// with EIO (nbdkit's eval plugin, a daemon named in `run/in1.pid`).
fn install_failing_input(sb: &Sandbox) {
    install_input(
        sb,
        "failing",
        r#"bad=33554432
nbdkit -U "$dir/in1" -P "$dir/run/in1.pid" eval get_size='echo 67108864' \
  pread="if [ \$4 -le $bad ] && [ \$((\$4 + \$3)) -gt $bad ]; then
           echo 'EIO bad sector' >&2; exit 1; fi; head -c \$3 /dev/urandom" || exit 4
i=0; while [ ! -s "$dir/run/in1.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
cat > "$dir/metadata.in" <<JSON
{"version": 1, "source": {"name": "failing",
 "origin": {"input_type": "failing", "location": []},
 "memory_bytes": 1073741824, "vcpus": 1,
 "disks": [{"index": 1, "socket": "in1", "format": "raw", "size": 67108864,
            "source": "failing disk"}]}}
JSON"#,
    );
}

/// A source that returns an I/O error mid-copy: the copy step fails with
/// exit code 1 naming the disk and the offset, the half-written target is
/// removed and the input's server stopped, through virt-v2v and the script.
#[test]
fn io_error_mid_copy_removes_the_partial_target() {
    let sb = Sandbox::new("badread");
    install_failing_input(&sb);
    let out = sb.path("out");
    fs::create_dir(&out).unwrap();
    bad(
        &sb,
        &[
            "--no-convert",
            "-i",
            "failing",
            "bad-sector",
            "-o",
            "local",
            "-os",
            s(&out),
        ],
        1,
        At::Step("copy"),
        "disk 1: reading in1 at offset 33554432 (2097152 bytes): Input/output error",
    );
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        0,
        "the partial target was left behind"
    );
}
