//! Bad input: each case exits with its documented code (docs/exit-codes.md)
//! and one last error line naming the step and the thing at fault, through
//! both virt-v2v and scripts/virt-v2v.sh; nothing is left running and the
//! source is unchanged.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use v2v_tests::*;

/// The two failure lines both runners print (temp dir redacted).
fn report(sb: &Sandbox, r: &Run) -> Vec<String> {
    let tmp = sb.tmpdir().to_string_lossy().into_owned();
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("virt-v2v: step ") || l.starts_with("virt-v2v: error: "))
        .collect();
    lines
        .iter()
        .map(|l| {
            // v2v.XXXXXX differs between runs
            let l = redact(l, &[(&tmp, "[TMP]")]);
            match l.find("[TMP]/v2v.") {
                Some(i) => format!("{}[TMP]/v2v.X{}", &l[..i], &l[i + 16..]),
                None => l,
            }
        })
        .collect()
}

/// Run the bad case through virt-v2v and the script; both must fail with
/// `code` at `step`, name `fault` in the last line, print the same report,
/// and leave nothing running.
#[track_caller]
fn bad(sb: &Sandbox, args: &[&str], code: i32, step: Option<&str>, fault: &str) {
    let mut reports = Vec::new();
    for (who, mut cmd) in [("virt-v2v", sb.virt_v2v()), ("virt-v2v.sh", sb.script())] {
        sb.clear_tmpdir();
        let r = run(cmd.args(args));
        assert_eq!(r.code, code, "{who} {args:?}: wrong exit code\n{r}");
        let last = r.last_err_line();
        let want = match step {
            Some(s) => format!("virt-v2v: error: {s}: "),
            None => "virt-v2v: error: ".into(),
        };
        assert!(
            last.starts_with(&want) && last.contains(fault),
            "{who} {args:?}: the last line should start with {want:?} and name {fault:?}:\n{r}"
        );
        if let Some(s) = step {
            assert!(
                r.stderr
                    .contains(&format!("virt-v2v: step {s} failed (exit {code}); see ")),
                "{who}: no failure report\n{r}"
            );
            // The log the report points to is kept; the bulky rest is not.
            let dir = sb.run_dir();
            assert!(dir.join("log").is_dir() && dir.join("status").is_dir());
            assert!(!dir.join("tmp").exists() && !dir.join("run").exists());
            validate_run_dir(&dir);
        } else {
            assert!(
                sb.run_dirs().is_empty(),
                "{who}: usage error made a temp dir"
            );
        }
        let left = wait_no_servers(sb.root().to_str().unwrap(), Duration::from_secs(5));
        assert!(left.is_empty(), "{who}: servers left running: {left:?}");
        reports.push(report(sb, &r));
    }
    // (Usage errors are the runners' own: the script looks on PATH only.)
    if step.is_some() {
        assert_eq!(
            reports[0], reports[1],
            "virt-v2v and the script report differently"
        );
    }
}

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
        Some("input"),
        "nope.raw",
    );

    let adir = sb.path("adir.img");
    fs::create_dir(&adir).unwrap();
    bad(
        &sb,
        &["--no-convert", "-i", "disk", s(&adir), "-o", "null"],
        1,
        Some("input"),
        "adir.img",
    );

    let text = sb.path("notes.txt");
    fs::write(&text, "this is not a disk image\n").unwrap();
    bad(
        &sb,
        &["--no-convert", "-i", "disk", s(&text), "-o", "null"],
        5,
        Some("input"),
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
        Some("output-setup"),
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
        None,
        "-o bogus",
    );
    bad(
        &sb,
        &["--no-convert", "-i", "bogus", s(&src), "-o", "null"],
        2,
        None,
        "-i bogus",
    );
    bad(
        &sb,
        &["--no-convert", "-i", "disk", "-o", "null"],
        2,
        None,
        "-i disk",
    );
    bad(
        &sb,
        &["--no-convert", "-i", "disk", s(&src), "-o", "local"],
        2,
        None,
        "-os",
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
    bad(&sb, &a, 3, Some("output-setup"), "metadata.in");
    let a = args("version2");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    bad(&sb, &a, 3, Some("output-setup"), "version 2");
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
        Some("copy"),
        "disk 1: reading in1 at offset 33554432 (2097152 bytes): Input/output error",
    );
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        0,
        "the partial target was left behind"
    );
}
