//! `-o libvirt` (virt-v2v's default output) against a private libvirt
//! daemon each test starts ([`v2v_tests::libvirtd::Libvirtd`]: session
//! mode, its own socket, stopped by pid at the end even when the test
//! fails).  The fixture is converted into a directory pool, its domain
//! passes virt-xml-validate and boots (marker line on its serial console);
//! an existing domain or volume, an unknown pool, an unreachable `-oc`, an
//! unknown `-oo` and the default `qemu:///system` with no daemon are
//! refused by the output's check, before any work; the volumes of a run
//! that did not finish are removed by helper-v2v-cleanup.

use crate::common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use v2v_tests::libvirtd::Libvirtd;
use v2v_tests::*;

const NAME: &str = "foreign-guest";
const POOL: &str = "v2v";

/// A daemon with the directory pool [`POOL`] in `SANDBOX/pool`.
fn daemon_with_pool(sb: &Sandbox) -> Libvirtd {
    let d = Libvirtd::start(sb);
    d.dir_pool(POOL, &sb.path("pool"));
    d
}

/// `runner --keep-tmpdir ARGS -o libvirt -oc URI -os POOL`, which must
/// succeed; returns the kept run directory.
fn convert(sb: &Sandbox, d: &Libvirtd, mut runner: Command, args: &[&str]) -> PathBuf {
    sb.clear_tmpdir();
    runner
        .arg("--keep-tmpdir")
        .args(args)
        .args(["-o", "libvirt", "-oc", &d.uri, "-os", POOL]);
    run(&mut runner).assert_ok();
    let dir = sb.run_dir();
    assert!(validate_run_dir(&dir) >= 4);
    let left = wait_no_servers(sb.root().to_str().unwrap(), Duration::from_secs(5));
    assert!(left.is_empty(), "servers left running: {left:?}");
    dir
}

/// `virsh dumpxml NAME` passes virt-xml-validate; returns the XML.
fn valid_domain(sb: &Sandbox, d: &Libvirtd, name: &str) -> String {
    let xml = d.virsh_ok(&["dumpxml", name]);
    let file = sb.path(&format!("{name}.dumpxml"));
    fs::write(&file, &xml).unwrap();
    require_tool("virt-xml-validate");
    let r = run(Command::new("virt-xml-validate").arg(&file).arg("domain"));
    assert_eq!(r.code, 0, "virt-xml-validate:\n{r}\n{xml}");
    xml
}

/// The volumes of pool [`POOL`] and their files.
fn volumes(d: &Libvirtd) -> Vec<(String, PathBuf)> {
    d.virsh_ok(&["vol-list", "--pool", POOL])
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), PathBuf::from(w.next()?)))
        })
        .collect()
}

/// The domain's XML made to boot here: TCG, its serial console into
/// `serial` (a file), its NICs on user networking (a session daemon has
/// no network `default`), no vsock (`nobody` cannot open
/// /dev/vhost-vsock).
fn bootable(xml: &str, serial: &Path) -> String {
    let mut out = String::new();
    // The element being dropped, until its end tag.
    let mut skip: Option<&str> = None;
    for line in xml.lines() {
        let t = line.trim_start();
        if let Some(end) = skip {
            if t.starts_with(end) {
                skip = None;
            }
            continue;
        }
        if let Some(tag) = ["serial", "console", "vsock"]
            .into_iter()
            .find(|tag| t.starts_with(&format!("<{tag} ")) || t.starts_with(&format!("<{tag}>")))
        {
            if tag == "serial" {
                out.push_str(&format!(
                    "<serial type='file'><source path='{}'/><target port='0'/></serial>\n",
                    serial.display()
                ));
            }
            if !t.ends_with("/>") {
                skip = Some(match tag {
                    "serial" => "</serial>",
                    "console" => "</console>",
                    _ => "</vsock>",
                });
            }
            continue;
        }
        if t.starts_with("<source network=") || t.starts_with("<source bridge=") {
            continue;
        }
        let l = line
            .replace("<domain type='kvm'", "<domain type='qemu'")
            .replace("<interface type='network'>", "<interface type='user'>")
            .replace("<interface type='bridge'>", "<interface type='user'>");
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Start domain `name` and wait for the test guest's marker line on its
/// serial console; compare it with the fixture's `"boot"` facts.
fn boots(sb: &Sandbox, d: &Libvirtd, name: &str, xml: &str, expect: &serde_json::Value) {
    let dir = sb.path("console");
    d.make_dir(&dir);
    let serial = dir.join("serial.log");
    let file = sb.path("bootable.xml");
    fs::write(&file, bootable(xml, &serial)).unwrap();
    d.virsh_ok(&["define", "--file", file.to_str().unwrap()]);
    let t = Instant::now();
    d.virsh_ok(&["start", name]);
    let line = loop {
        let text = fs::read_to_string(&serial).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains("V2V-FIXTURE-BOOTED")) {
            break l.trim_end_matches('\r').to_string();
        }
        let state = d.virsh_ok(&["domstate", name]);
        assert!(
            state.trim() == "running",
            "{name} is {state:?} with no marker; serial:\n{text}"
        );
        assert!(
            t.elapsed() < command_timeout(),
            "no marker after {:?}; serial:\n{text}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    eprintln!("{name} booted in {:?}: {line}", t.elapsed());
    for (k, v) in expect.as_object().expect("\"boot\" object") {
        let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
        assert!(
            line.split_whitespace().any(|f| f == format!("{k}={v}")),
            "marker has no {k}={v}: {line}"
        );
    }
}

/// Issue 13: the fixture converted to a libvirt pool by virt-v2v (and,
/// unconverted, by the script): volumes in the pool, a valid domain that
/// boots on TCG; then the refusals of a taken name, through both runners.
/// The converted run reads the fixture with `-i libvirt` from the libvirt
/// test driver (issue 12's input types: this is the one conversion of
/// `-i libvirt`, see convert.rs).
#[test]
fn fixture_converted_into_a_pool_boots() {
    let fx = fixture_dir();
    let raw = fx.join(format!("{NAME}.raw"));
    assert!(raw.is_file(), "{} missing", raw.display());
    let facts: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(fx.join(format!("{NAME}.json"))).unwrap())
            .unwrap();
    let sb = Sandbox::new("libvirt");
    let d = daemon_with_pool(&sb);
    let sum = sha256(&raw);
    let raw = raw.to_str().unwrap();

    let uri = test_driver_node(&fx, sb.root());
    let dir = convert(
        &sb,
        &d,
        sb.virt_v2v(),
        &["-i", "libvirt", "-ic", &uri, NAME, "-of", "qcow2"],
    );
    assert_eq!(
        sha256(Path::new(raw)),
        sum,
        "-i libvirt: the source was modified"
    );
    let m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("metadata.in")).unwrap()).unwrap();
    let s = &m["source"];
    assert_eq!(s["origin"]["input_type"], "libvirt");
    assert_eq!(s["memory_bytes"], 1u64 << 30, "{s:#}");
    assert_eq!(s["vcpus"], 1);
    assert_eq!(s["disks"][0]["bus"], "sata", "{s:#}");
    assert_eq!(s["nics"][0]["mac"], "52:54:00:12:34:56", "{s:#}");
    let oj: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("output.json")).unwrap()).unwrap();
    assert_eq!(oj["output_type"], "libvirt", "{oj:#}");
    let vols = volumes(&d);
    let pool_dir = fs::canonicalize(sb.path("pool")).unwrap();
    assert_eq!(
        vols,
        [(format!("{NAME}-sda"), pool_dir.join(format!("{NAME}-sda")))],
        "the pool's volumes"
    );
    let info = d.virsh_ok(&["vol-dumpxml", "--pool", POOL, &format!("{NAME}-sda")]);
    assert!(info.contains("<format type='qcow2'/>"), "{info}");

    let xml = valid_domain(&sb, &d, NAME);
    assert!(xml.contains("bus='virtio'"), "disk not on virtio:\n{xml}");
    let caps = d.virsh_ok(&["capabilities"]);
    let want = if caps.contains("<domain type='kvm'") {
        "kvm"
    } else {
        "qemu"
    };
    assert!(
        xml.starts_with(&format!("<domain type='{want}'")),
        "domain type is not what the hypervisor offers ({want}):\n{xml}"
    );
    assert!(xml.contains("<serial type='pty'>"), "{xml}");

    // The same output through the script (unconverted: no second appliance).
    let dir = convert(
        &sb,
        &d,
        sb.script(),
        &["--no-convert", "-i", "disk", raw, "-on", "by-script"],
    );
    let oj: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("output.json")).unwrap()).unwrap();
    assert_eq!(oj["disks"][0]["format"], "raw", "{oj:#}");
    valid_domain(&sb, &d, "by-script");
    let sizes = |v: &str| {
        d.virsh_ok(&["vol-info", "--bytes", "--pool", POOL, v])
            .lines()
            .find(|l| l.starts_with("Capacity:"))
            .map(str::to_string)
    };
    assert_eq!(sizes("by-script-sda"), sizes(&format!("{NAME}-sda")));

    // A name that is taken is refused before any work, by both runners:
    // given with -on, by the output's check; the source's own, by the
    // check the runners repeat after the input step (so before the
    // conversion: nothing but the input step ran, and it is cleaned up).
    let taken = format!(
        "a libvirt domain called ‘{NAME}’ already exists on {}",
        d.uri
    );
    let args = [
        "-i", "disk", raw, "-o", "libvirt", "-oc", &d.uri, "-os", POOL,
    ];
    let with_on: Vec<&str> = args.iter().copied().chain(["-on", NAME]).collect();
    bad(&sb, &with_on, 1, At::Check("output-setup"), &taken);
    let t = Instant::now();
    bad(&sb, &args, 1, At::Check("output-setup"), &taken);
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "the refusal took {:?}: did the conversion run?",
        t.elapsed()
    );

    boots(&sb, &d, NAME, &xml, &facts["boot"]);
}

/// Refusals before any work: an existing volume, an unknown pool, an
/// unreachable -oc, an unknown -oo, -oo compressed without qcow2, a bad
/// -of; each names what is at fault.
#[test]
fn refused_by_the_check() {
    let sb = Sandbox::new("libvirt-check");
    let d = daemon_with_pool(&sb);
    let g = sb.path("guest.raw");
    fs::File::create(&g).unwrap().set_len(1 << 20).unwrap();
    let g = g.to_str().unwrap();
    let base = |extra: &[&str]| -> Vec<String> {
        ["-i", "disk", g, "-o", "libvirt"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let check = |extra: &[&str], code: i32, fault: &str| {
        let a = base(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        bad(&sb, &a, code, At::Check("output-setup"), fault);
    };
    d.virsh_ok(&["vol-create-as", POOL, "taken-sdb", "1M", "--format", "raw"]);
    check(
        &["-oc", &d.uri, "-os", POOL, "-on", "taken"],
        1,
        &format!(
            "volume ‘taken-sdb’ already exists in storage pool ‘{POOL}’ on {}",
            d.uri
        ),
    );
    check(
        &["-oc", &d.uri, "-os", "nosuch"],
        2,
        &format!("-os nosuch: libvirt {} has no storage pool ‘nosuch’", d.uri),
    );
    let nowhere = format!(
        "qemu+unix:///session?socket={}",
        sb.path("no-daemon.sock").display()
    );
    check(
        &["-oc", &nowhere, "-os", POOL],
        4,
        &format!("cannot connect to libvirt at -oc {nowhere}"),
    );
    check(
        &["-oc", &d.uri, "-os", POOL, "-oo", "bogus=1"],
        2,
        "-o libvirt: unknown output option ‘-oo bogus’",
    );
    check(
        &["-oc", &d.uri, "-os", POOL, "-oo", "compressed"],
        2,
        "‘-oo compressed’ is only allowed when the output format is qcow2",
    );
    check(&["-oc", &d.uri, "-of", "vmdk"], 2, "-of vmdk");
}

/// With no `-o` virt-v2v uses -o libvirt on qemu:///system; with no daemon
/// there (here made sure of: /run is an empty tmpfs in a mount namespace of
/// its own) the run stops in the output's check, naming the URI.
#[test]
fn default_output_without_a_daemon_names_the_uri() {
    require_tool("unshare");
    let sb = Sandbox::new("libvirt-default");
    let g = sb.path("guest.raw");
    fs::File::create(&g).unwrap().set_len(1 << 20).unwrap();
    for (who, runner) in [("virt-v2v", sb.virt_v2v()), ("virt-v2v.sh", sb.script())] {
        sb.clear_tmpdir();
        let mut cmd = sb.cmd("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs v2v-test-run /run && exec \"$@\"")
            .arg("sh")
            .arg(runner.get_program())
            .args(runner.get_args())
            .args(["-i", "disk"])
            .arg(&g);
        let r = run(&mut cmd);
        assert_eq!(r.code, 4, "{who}: wrong exit code\n{r}");
        let last = r.last_err_line();
        assert!(
            last.starts_with(
                "virt-v2v: error: output-setup: cannot connect to libvirt at -oc qemu:///system"
            ),
            "{who}: {last}\n{r}"
        );
        assert!(
            !r.stderr.contains("virt-v2v: step "),
            "{who}: a step ran\n{r}"
        );
        assert!(sb.run_dirs().is_empty(), "{who}: temp dir left");
    }
}

/// A run that stops after the output's setup (here: by hand, no copy, no
/// final) leaves volumes that helper-v2v-cleanup removes; the pool does not
/// keep stale entries that would refuse the next run.
#[test]
fn cleanup_removes_the_volumes_of_an_unfinished_run() {
    let sb = Sandbox::new("libvirt-cleanup");
    let d = daemon_with_pool(&sb);
    let g = sb.path("guest.raw");
    fs::File::create(&g).unwrap().set_len(8 << 20).unwrap();
    let dir = sb.path("run");
    let helper = |prog: &str, args: &[&str]| {
        let mut c = sb.cmd(bin(prog));
        c.args(args);
        run(&mut c)
    };
    let dir_s = dir.to_str().unwrap();
    let out = ["-oc", &d.uri, "-os", POOL, "-on", "partial"];
    helper("helper-v2v-input-disk", &[dir_s, g.to_str().unwrap()]).assert_ok();
    let setup: Vec<&str> = ["setup", dir_s].iter().chain(&out).copied().collect();
    helper("helper-v2v-output-libvirt", &setup).assert_ok();
    let vol = sb.path("pool/partial-sda");
    assert!(vol.is_file(), "setup made no volume");
    assert_eq!(volumes(&d).len(), 1);
    helper("helper-v2v-cleanup", &[dir_s]).assert_ok();
    assert!(
        !vol.exists(),
        "cleanup left the volume of an unfinished run"
    );
    let check: Vec<&str> = ["check", dir_s].iter().chain(&out).copied().collect();
    helper("helper-v2v-output-libvirt", &check).assert_ok();
    // The next run's setup creates the volume again, and its cleanup
    // removes it again.
    fs::remove_dir_all(&dir).unwrap();
    helper("helper-v2v-input-disk", &[dir_s, g.to_str().unwrap()]).assert_ok();
    helper("helper-v2v-output-libvirt", &setup).assert_ok();
    assert!(vol.is_file(), "the second setup made no volume");
    helper("helper-v2v-cleanup", &[dir_s]).assert_ok();
    assert!(!vol.exists(), "cleanup left the volume of the second run");
    let left = wait_no_servers(sb.root().to_str().unwrap(), Duration::from_secs(5));
    assert!(left.is_empty(), "servers left running: {left:?}");
}
