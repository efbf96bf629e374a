//! Shared steps of the e2e tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use v2v_tests::*;

/// A finished run: its (kept) temp directory, output directory, output.json.
pub struct Done {
    pub run: Run,
    pub dir: PathBuf,
    pub out: PathBuf,
}

impl Done {
    /// Target disk paths, from output.json.
    pub fn targets(&self) -> Vec<PathBuf> {
        let o: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(self.dir.join("output.json")).unwrap())
                .unwrap();
        o["disks"]
            .as_array()
            .expect("output.json disks")
            .iter()
            .map(|d| PathBuf::from(d["path"].as_str().expect("disk path")))
            .collect()
    }
}

/// Run `runner ARGS... -o local -os OUT --keep-tmpdir --events fd:1`
/// (see [`run_output`]).
pub fn run_local(sb: &Sandbox, runner: Command, args: &[&str], out: &Path) -> Done {
    let mut a = args.to_vec();
    a.extend(["-o", "local"]);
    run_output(sb, runner, &a, out)
}

/// Run `runner ARGS... -os OUT --keep-tmpdir --events fd:1` (ARGS
/// give `-o`) in a fresh temp dir parent; asserts success, validates every
/// JSON file and event; returns the run.
pub fn run_output(sb: &Sandbox, mut runner: Command, args: &[&str], out: &Path) -> Done {
    // A temp dir parent of its own, so earlier runs' kept directories stay.
    let parent = sb.path(&format!(
        "tmp-{}",
        out.file_name().unwrap().to_string_lossy()
    ));
    fs::create_dir_all(&parent).unwrap();
    fs::create_dir_all(out).unwrap();
    runner
        .env("VIRT_V2V_TMPDIR", &parent)
        .args(["--keep-tmpdir", "--events", "fd:1"])
        .args(args)
        .arg("-os")
        .arg(out);
    let r = run(&mut runner);
    r.assert_ok();
    let dirs: Vec<_> = fs::read_dir(&parent)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 1, "expected one kept run directory: {dirs:?}");
    let dir = dirs[0].clone();
    let n = validate_run_dir(&dir);
    assert!(n >= 4, "only {n} contract files in {}", dir.display());
    let ev = events(&r.stdout);
    let first = ev.first().expect("events on stdout");
    assert_eq!(
        (first["step"].as_str(), first["event"].as_str()),
        (Some("virt-v2v"), Some("step-started")),
        "{}",
        r.stdout
    );
    let last = ev.last().unwrap();
    assert_eq!(
        (last["step"].as_str(), last["event"].as_str()),
        (Some("virt-v2v"), Some("step-finished")),
        "{}",
        r.stdout
    );
    Done {
        run: r,
        dir,
        out: out.to_path_buf(),
    }
}

/// `metadata.out` without its changes' `seconds` (each run's own times;
/// checked to be times, and to be in both runs' changes alike).
fn without_action_times(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(changes) = v["changes"].as_array_mut() {
        for c in changes.iter_mut().filter_map(|c| c.as_object_mut()) {
            if let Some(s) = c.get_mut("seconds") {
                assert!(s.as_f64().is_some_and(|s| s >= 0.0), "bad seconds: {s}");
                *s = serde_json::Value::Bool(true);
            }
        }
    }
    v
}

/// Two runs of the same conversion agree: contract files equal after
/// redacting their temp and output directories, the same output files,
/// target disks with equal checksums (or, with `same_disks` false, only
/// equal in number and size).
pub fn assert_same_result(a: &Done, b: &Done, same_disks: bool) {
    let da = a.dir.to_string_lossy().into_owned();
    let oa = a.out.to_string_lossy().into_owned();
    let db = b.dir.to_string_lossy().into_owned();
    let ob = b.out.to_string_lossy().into_owned();
    let sa = [(da.as_str(), "[TMPDIR]"), (oa.as_str(), "[OUT]")];
    let sb = [(db.as_str(), "[TMPDIR]"), (ob.as_str(), "[OUT]")];
    for name in ["metadata.in", "metadata.out", "output.json"] {
        let (pa, pb) = (a.dir.join(name), b.dir.join(name));
        assert_eq!(pa.exists(), pb.exists(), "{name} in one run only");
        if pa.exists() {
            assert_eq!(
                without_action_times(json_redacted(&pa, &sa)),
                without_action_times(json_redacted(&pb, &sb)),
                "{name} differs between the runs"
            );
        }
    }
    let names = |d: &Path| {
        let mut v: Vec<String> = fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&a.out), names(&b.out), "output directories differ");
    let targets = a.targets();
    for name in names(&a.out) {
        let (fa, fb) = (a.out.join(&name), b.out.join(&name));
        if targets.contains(&fa) {
            if same_disks {
                assert_eq!(sha256(&fa), sha256(&fb), "{name}: disks differ");
            } else {
                assert_eq!(
                    virtual_size(&fa),
                    virtual_size(&fb),
                    "{name}: virtual sizes differ"
                );
            }
        } else {
            let ta = redact(&fs::read_to_string(&fa).unwrap(), &sa);
            let tb = redact(&fs::read_to_string(&fb).unwrap(), &sb);
            assert_eq!(ta, tb, "{name} differs between the runs");
        }
    }
}

/// A disk image's virtual size (qcow2 files differ in length with their
/// allocation, so two conversions are compared by this).
pub fn virtual_size(p: &Path) -> u64 {
    let r = run(Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(p));
    assert_eq!(r.code, 0, "qemu-img info {}: {r}", p.display());
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v["virtual-size"].as_u64().expect("virtual-size")
}

/// Steps that wrote `status/<step>.done`.
pub fn done_steps(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir.join("status"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".done"))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Where a bad run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The runner's own usage error, before anything runs (the two runners
    /// word it differently: the script looks on PATH only).
    Usage,
    /// An end's check (`--check` / `check`) of this step's options: nothing
    /// started, no temp dir left, and both runners print `STEP: ` and the
    /// helper's message alike.
    Check(&'static str),
    /// This step failed: the report names its log, kept with `status/`.
    Step(&'static str),
}

/// The failure lines both runners print (`virt-v2v: step ...`,
/// `virt-v2v: error: ...`), the temp dir redacted.
pub fn report(sb: &Sandbox, r: &Run) -> Vec<String> {
    let tmp = sb.tmpdir().to_string_lossy().into_owned();
    r.stderr
        .lines()
        .filter(|l| l.starts_with("virt-v2v: step ") || l.starts_with("virt-v2v: error: "))
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
/// `code` where `at` says, name `fault` in the last line, leave nothing
/// running, and (but for a usage error) print the same report.
#[track_caller]
pub fn bad(sb: &Sandbox, args: &[&str], code: i32, at: At, fault: &str) {
    let mut reports = Vec::new();
    for (who, mut cmd) in [("virt-v2v", sb.virt_v2v()), ("virt-v2v.sh", sb.script())] {
        sb.clear_tmpdir();
        let r = run(cmd.args(args));
        assert_eq!(r.code, code, "{who} {args:?}: wrong exit code\n{r}");
        let last = r.last_err_line();
        let want = match at {
            At::Step(s) | At::Check(s) => format!("virt-v2v: error: {s}: "),
            At::Usage => "virt-v2v: error: ".into(),
        };
        assert!(
            last.starts_with(&want) && last.contains(fault),
            "{who} {args:?}: the last line should start with {want:?} and name {fault:?}:\n{r}"
        );
        if let At::Step(s) = at {
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
                !r.stderr.contains("virt-v2v: step "),
                "{who}: a step ran\n{r}"
            );
            assert!(
                sb.run_dirs().is_empty(),
                "{who}: {at:?} left a temp dir: {:?}",
                sb.run_dirs()
            );
        }
        let left = wait_no_servers(sb.root().to_str().unwrap(), Duration::from_secs(5));
        assert!(left.is_empty(), "{who}: servers left running: {left:?}");
        reports.push(report(sb, &r));
    }
    if at != At::Usage {
        assert_eq!(
            reports[0], reports[1],
            "virt-v2v and the script report differently"
        );
    }
}

/// Boots a converted disk of the fixture (foreign-guest) on virtio; its
/// marker must match what the guest builder wrote in foreign-guest.json
/// (firmware, root device, mounts).
pub fn boot_check(disk: &Path) {
    require_tool("qemu-system-x86_64");
    let expect = fixture_dir().join("foreign-guest.json");
    let r = run(boot_check_cmd()
        .args(["--timeout", "600", "--expect"])
        .arg(&expect)
        .arg(disk));
    assert!(
        r.code == 0 && r.stdout.contains("V2V-FIXTURE-BOOTED"),
        "converted guest does not boot on virtio as {} says:\n{r}",
        expect.display()
    );
}

/// A libvirt test-driver node holding the fixture's domain (foreign-guest:
/// 1 GiB, 1 vCPU, its disk on SATA, an e1000 NIC 52:54:00:12:34:56), shut
/// off; returns its `test://` URI.
pub fn test_driver_node(fx: &Path, dir: &Path) -> String {
    let node = dir.join("node.xml");
    std::fs::write(
        &node,
        format!(
            r#"<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>foreign-guest</name>
    <memory unit='KiB'>1048576</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
    <devices>
{disk}      <interface type='network'>
        <mac address='52:54:00:12:34:56'/>
        <source network='default'/>
        <model type='e1000'/>
      </interface>
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
</node>
"#,
            disk = sata_disk_xml(&fx.join("foreign-guest.raw"), "      ")
        ),
    )
    .unwrap();
    format!("test://{}", node.display())
}

/// A libvirt `<disk>` element: raw file `raw` as `sda` on SATA, each line
/// indented by `indent`.
pub fn sata_disk_xml(raw: &Path, indent: &str) -> String {
    [
        "<disk type='file' device='disk'>".to_string(),
        "  <driver name='qemu' type='raw'/>".to_string(),
        format!("  <source file='{}'/>", raw.display()),
        "  <target dev='sda' bus='sata'/>".to_string(),
        "</disk>".to_string(),
    ]
    .iter()
    .map(|l| format!("{indent}{l}\n"))
    .collect()
}

/// `scripts/make-windows-guest.sh NAME` (cached): the guest's directory.
pub fn windows_guest(name: &str) -> PathBuf {
    for t in [
        "mkntfs",
        "ntfs-3g",
        "mkfs.vfat",
        "mmd",
        "sfdisk",
        "hivexregedit",
        "genisoimage",
        "qemu-img",
    ] {
        require_tool(t);
    }
    let r = run(Command::new("sh")
        .arg(repo_root().join("scripts/make-windows-guest.sh"))
        .arg(name)
        .stdin(Stdio::null()));
    assert_eq!(r.code, 0, "make-windows-guest.sh {name}:\n{r}");
    PathBuf::from(r.stdout.lines().last().expect("guest dir").trim())
}
