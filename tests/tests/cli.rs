//! The supervisor's command line: capabilities, helper discovery,
//! --print-source, a missing convert helper.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};
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
        "output:vdsm",
        "vdsm-compat-option",
        "ovf:ovirtexp",
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

/// One row of docs/virt-v2v.md's "Upstream options" table.
struct UpstreamRow {
    option: String,
    examples: Vec<String>,
    /// `None`: implemented; `Some(reason)`: refused.
    refused: Option<String>,
    /// Refused by the script only (`implemented; the script: refused: REASON`).
    script_refused: Option<String>,
}

fn upstream_rows() -> Vec<UpstreamRow> {
    let doc = fs::read_to_string(repo_root().join("docs/virt-v2v.md")).unwrap();
    let table = doc
        .split("### Upstream options")
        .nth(1)
        .expect("docs/virt-v2v.md has no \"### Upstream options\" section");
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let rows: Vec<UpstreamRow> = table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 3, "bad row: {l}");
            let refused = match cells[2].strip_prefix("refused: ") {
                Some(r) => Some(r.to_string()),
                None => {
                    assert!(cells[2].starts_with("implemented"), "bad status: {l}");
                    None
                }
            };
            let script_refused = cells[2]
                .strip_prefix("implemented; the script: refused: ")
                .map(str::to_string);
            UpstreamRow {
                option: ticked(cells[0]).remove(0),
                examples: ticked(cells[1]),
                refused,
                script_refused,
            }
        })
        .collect();
    assert!(rows.len() > 50, "only {} rows", rows.len());
    rows
}

/// The command lines for a row: the option with each example argument
/// (`--opt=FORMAT` rows: `--opt=EXAMPLE`), then `-i disk MISSING -o null`
/// (less the option itself), so that an accepted option runs into the
/// missing disk, cheaply.
fn upstream_argvs(row: &UpstreamRow) -> Vec<Vec<String>> {
    let with: Vec<Vec<String>> = match (row.option.split_once('='), row.examples.is_empty()) {
        (_, true) => vec![vec![row.option.clone()]],
        (Some((name, _)), false) => row
            .examples
            .iter()
            .map(|e| vec![format!("{name}={e}")])
            .collect(),
        (None, false) => row
            .examples
            .iter()
            .map(|e| vec![row.option.clone(), e.clone()])
            .collect(),
    };
    with.into_iter()
        .map(|mut a| {
            if row.option != "-i" {
                a.extend(["-i".into(), "disk".into()]);
            }
            if row.option != "-o" {
                a.extend(["-o".into(), "null".into()]);
            }
            a.push("/nonexistent/v2v-upstream-option.img".into());
            a
        })
        .collect()
}

/// Every upstream virt-v2v 2.x option in docs/virt-v2v.md's table, through
/// the supervisor and the script: an implemented one gets past the parser
/// (no refusal, no usage error about it); a refused one gives exactly the
/// documented line and exit 2.
#[test]
fn every_upstream_option_is_accepted_or_refused_as_documented() {
    let sb = Sandbox::new("upstream-opts");
    let parser_errors = [
        "not supported by this build",
        "unexpected argument",
        "Usage:",
        "try '--help'",
        "unknown option",
        "needs an argument",
        "invalid value",
        "a value is required",
        "cannot be used multiple times",
        "not a number",
        "expected ask, single, first",
    ];
    let t = std::time::Instant::now();
    let rows = upstream_rows();
    let mut cases = Vec::new();
    for row in &rows {
        for argv in upstream_argvs(row) {
            for runner in ["virt-v2v", "script"] {
                cases.push((runner, argv.clone(), row));
            }
        }
    }
    // Four at a time: each run is a few processes that mostly wait.
    let per = cases.len().div_ceil(4);
    std::thread::scope(|s| {
        for chunk in cases.chunks(per) {
            let sb = &sb;
            s.spawn(move || {
                for (runner, argv, row) in chunk {
                    let mut cmd = match *runner {
                        "script" => sb.script(),
                        _ => sb.virt_v2v(),
                    };
                    let r = run(cmd.args(argv));
                    let refused = match *runner {
                        "script" => row.refused.as_ref().or(row.script_refused.as_ref()),
                        _ => row.refused.as_ref(),
                    };
                    match refused {
                        Some(why) => {
                            assert_eq!(r.code, 2, "{runner} {argv:?}: {r}");
                            assert_eq!(
                                r.stderr,
                                format!(
                                    "virt-v2v: error: not supported by this build: {} ({why})\n",
                                    row.option
                                ),
                                "{runner} {argv:?}"
                            );
                        }
                        None => {
                            for e in parser_errors {
                                assert!(
                                    !r.stderr.contains(e),
                                    "{runner} {argv:?}: refused by the parser ({e:?}): {r}"
                                );
                            }
                        }
                    }
                }
            });
        }
    });
    assert!(sb.run_dirs().is_empty(), "a run directory was left behind");
    eprintln!("{} runs in {:.1}s", cases.len(), t.elapsed().as_secs_f64());
}

/// virt-v2v's `--bandwidth` and `--bandwidth-file` reach helper-v2v-copy
/// through both runners and hold: 24 MiB of data at 64 Mbit/s (8 MiB/s,
/// one second of burst) take at least 2 s to copy, and the file's limit
/// replaces the flag's; a bad value is refused before any work (exit 2).
#[test]
fn bandwidth_reaches_the_copy_and_holds() {
    let sb = Sandbox::new("bandwidth");
    let src = sb.path("bw.raw");
    sparse_noise_image(&src, 128 << 20, 12, 8 << 20, 2 << 20, 70);
    let file = sb.path("bw");
    fs::write(&file, "64M\n").unwrap();
    for (runner, mut cmd) in [("virt-v2v", sb.virt_v2v()), ("script", sb.script())] {
        let r = run(cmd
            .args(["--bandwidth", "10X", "--no-convert", "-i", "disk"])
            .arg(&src)
            .args(["-o", "null"]));
        assert_eq!(r.code, 2, "{runner}: {r}");
        assert!(r.stderr.contains("--bandwidth"), "{runner}: {r}");
        assert!(sb.run_dirs().is_empty(), "{runner}: work started");
    }
    for (how, flags) in [
        ("--bandwidth", vec!["--bandwidth".to_string(), "64M".into()]),
        (
            "--bandwidth-file",
            vec![
                "--bandwidth".to_string(),
                "1G".into(),
                "--bandwidth-file".into(),
                file.display().to_string(),
            ],
        ),
    ] {
        for (runner, mut cmd) in [("virt-v2v", sb.virt_v2v()), ("script", sb.script())] {
            let out = sb.path(&format!("out-{runner}-{how}"));
            fs::create_dir_all(&out).unwrap();
            let t = Instant::now();
            let r = run(cmd
                .args(["-x", "--no-convert"])
                .args(&flags)
                .args(["-i", "disk"])
                .arg(&src)
                .args(["-o", "local", "-on", "bw", "-os"])
                .arg(&out));
            let took = t.elapsed();
            r.assert_ok();
            assert!(
                r.stderr
                    .lines()
                    .any(|l| l.contains("helper-v2v-copy") && l.contains(&format!("{how} "))),
                "{runner} {how}: not passed to the copy: {r}"
            );
            assert!(took >= Duration::from_secs(2), "{runner} {how}: {took:?}");
            qemu_img_identical(&src, &out.join("bw-sda")).unwrap();
        }
    }
}

/// `-m/--memsize` and `--smp` size the conversion appliance, as in
/// virt-v2v, and `--no-fstrim` reaches helper-v2v-convert: through both
/// runners, with a qemu that cannot start (the appliance fails at once,
/// after libguestfs took the settings, which its trace shows).
#[test]
fn memsize_smp_no_fstrim_reach_the_convert_step() {
    let sb = Sandbox::new("memsize");
    let disk = sb.path("m.raw");
    make_ext4_disk(&disk, 16, 13);
    for (runner, mut cmd) in [("virt-v2v", sb.virt_v2v()), ("script", sb.script())] {
        let r = run(cmd
            .env("LIBGUESTFS_BACKEND", "direct")
            .env("LIBGUESTFS_HV", "/bin/false")
            .args([
                "-x",
                "-m",
                "2048",
                "--smp",
                "3",
                "--no-fstrim",
                "-i",
                "disk",
            ])
            .arg(&disk)
            .args(["-o", "null"]));
        assert!(r.code != 0 && r.code != 2, "{runner}: {r}");
        assert!(
            r.stderr.contains("virt-v2v: error: convert: "),
            "{runner}: {r}"
        );
        let convert_line = r
            .stderr
            .lines()
            .find(|l| l.contains("helper-v2v-convert ") && l.contains("--memsize"))
            .unwrap_or_else(|| panic!("{runner}: no convert command line traced: {r}"));
        assert!(
            convert_line.contains("--memsize 2048 --smp 3 --no-fstrim"),
            "{runner}: {convert_line}"
        );
        for want in ["guestfs: set_memsize 2048", "guestfs: set_smp 3"] {
            assert!(r.stderr.contains(want), "{runner}: no {want:?}: {r}");
        }
        assert!(sb.run_dirs().iter().all(|d| !d.join("in1").exists()));
    }
}
