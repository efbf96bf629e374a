//! Issue 12's test guests (scripts/make-test-guest.sh NAME), each converted
//! by `virt-v2v ... -o local` through another input type and booted on
//! virtio (scripts/boot-check.sh --expect NAME.json, UEFI when NAME.json
//! says so): `uefi-lvm` from its OVA, `btrfs-data` (two disks) from its
//! VMX, `luks` from its libvirt XML with `--key DEVICE:key:`.  The LUKS
//! guest also: without a key, exit 5 naming the encrypted device; with
//! `--key all:file:` (scripts/virt-v2v.sh) and `--keys-from-stdin` (each
//! its own test, so the harness runs them beside the others) it
//! converts (`-o local`) and boots.  Every source file's sha256 is unchanged, and the
//! passphrase is in no output, log or file of a run.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use v2v_tests::*;

/// A built test guest and its NAME.json.
struct Guest {
    name: String,
    dir: PathBuf,
    json: serde_json::Value,
}

impl Guest {
    fn new(name: &str) -> Guest {
        let dir = guest_dir(name);
        let json_path = dir.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&json_path)
            .unwrap_or_else(|e| panic!("{}: {e}", json_path.display()));
        Guest {
            name: name.into(),
            dir,
            json: serde_json::from_str(&text).unwrap(),
        }
    }
    fn file(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }
    fn expect(&self) -> PathBuf {
        self.file(&format!("{}.json", self.name))
    }
    /// The raw disks, in order (NAME.json's `disks`).
    fn raws(&self) -> Vec<PathBuf> {
        let v: Vec<PathBuf> = self.json["disks"]
            .as_array()
            .expect("NAME.json: disks")
            .iter()
            .map(|d| self.file(d.as_str().expect("disk file name")))
            .collect();
        assert!(!v.is_empty(), "{}: no disks", self.name);
        v
    }
    /// The VMX's VMDKs: one per raw disk, same base name.
    fn vmdks(&self) -> Vec<PathBuf> {
        self.raws()
            .iter()
            .map(|r| r.with_extension("vmdk"))
            .collect()
    }
    /// NAME.json's `luks` object: (device, passphrase).
    fn luks(&self) -> (String, String) {
        let l = &self.json["luks"];
        (
            l["device"].as_str().expect("luks.device").into(),
            l["passphrase"].as_str().expect("luks.passphrase").into(),
        )
    }
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").into()
}

fn sums(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|f| sha256(f)).collect()
}

/// `virt-v2v -i ITYPE ARGS... -o local`, sources checked unchanged.
fn convert_local(sb: &Sandbox, itype: &str, args: &[String], sources: &[PathBuf]) -> Done {
    let before = sums(sources);
    let mut argv: Vec<&str> = vec!["-i", itype];
    argv.extend(args.iter().map(String::as_str));
    let d = run_local(sb, sb.virt_v2v(), &argv, &sb.path(&format!("out-{itype}")));
    assert_eq!(sums(sources), before, "-i {itype}: a source file changed");
    d
}

fn metadata_out(d: &Done) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(d.dir.join("metadata.out")).unwrap()).unwrap()
}

/// Boot every converted disk on virtio; the marker must match NAME.json.
/// Up to 20 minutes: a UEFI boot under TCG on a loaded host passes 10.
fn boot(g: &Guest, d: &Done) {
    require_tool("qemu-system-x86_64");
    let t = std::time::Instant::now();
    let r = run(boot_check_cmd()
        .args(["--timeout", "1200", "--expect"])
        .arg(g.expect())
        .args(d.targets()));
    assert!(
        r.code == 0 && r.stdout.contains("V2V-FIXTURE-BOOTED"),
        "converted {} does not boot on virtio as {} says:\n{r}",
        g.name,
        g.expect().display()
    );
    eprintln!("{}: booted in {:.0}s", g.name, t.elapsed().as_secs_f64());
}

fn has_change(m: &serde_json::Value, target: &str, detail: &str) -> bool {
    m["changes"].as_array().is_some_and(|c| {
        c.iter().any(|x| {
            x["target"] == target && x["detail"].as_str().is_some_and(|d| d.contains(detail))
        })
    })
}

/// UEFI, ESP, separate /boot, XFS root on LVM, ifupdown static address on
/// ens33: from the OVA; converted UEFI (metadata.out, the XML loads OVMF),
/// boots with OVMF with its address up.
#[test]
fn uefi_lvm_from_ova_boots_with_uefi() {
    let g = Guest::new("uefi-lvm");
    let sb = Sandbox::new("guest-uefi-lvm");
    let ova = g.file(&format!("{}.ova", g.name));
    let d = convert_local(&sb, "ova", &[path_str(&ova)], std::slice::from_ref(&ova));
    let m = metadata_out(&d);
    assert_eq!(m["target"]["firmware"], "uefi", "{m:#}");
    assert_eq!(m["inspection"]["firmware"], "uefi", "{m:#}");
    let xml = std::fs::read_to_string(d.out.join(format!("{}.xml", g.name))).unwrap();
    assert!(xml.contains("<os firmware='efi'>"), "no OVMF:\n{xml}");
    assert!(
        has_change(
            &m,
            "/etc/systemd/network/70-v2v-ens33.link",
            "keeps the name ens33"
        ),
        "{m:#}"
    );
    boot(&g, &d);
}

/// btrfs root with @ and @home, a second disk mounted from /dev/sdb1 and
/// swap on /dev/sdb2, networkd address matched by Name=ens33: from the VMX
/// (two VMDKs); both disks boot on virtio with every mount.
#[test]
fn btrfs_two_disks_from_vmx_boot_on_virtio() {
    let g = Guest::new("btrfs-data");
    let sb = Sandbox::new("guest-btrfs");
    let vmx = g.file(&format!("{}.vmx", g.name));
    let mut sources = vec![vmx.clone()];
    sources.extend(g.vmdks());
    assert!(sources.len() >= 3, "two disks expected: {sources:?}");
    let d = convert_local(&sb, "vmx", &[path_str(&vmx)], &sources);
    let m = metadata_out(&d);
    assert_eq!(d.targets().len(), 2, "{m:#}");
    assert!(
        has_change(&m, "/etc/fstab", "/dev/sdb1 → /dev/vdb1"),
        "fstab's second disk not renamed: {m:#}"
    );
    boot(&g, &d);
}

/// No file of a kept run directory, and no output, holds the passphrase.
fn assert_no_key(pass: &str, dir: &Path, r: &Run) {
    assert!(
        !r.stdout.contains(pass) && !r.stderr.contains(pass),
        "the key is in the output"
    );
    let out = run(Command::new("grep").args(["-rlF", "--", pass]).arg(dir));
    assert_eq!(out.code, 1, "files hold the key: {}", out.stdout);
}

/// The LUKS guest: without a key exit 5 naming the device; with --key
/// DEVICE:key: from its libvirt XML it converts and boots.
#[test]
fn luks_needs_a_key_and_boots_with_a_key_string() {
    let g = Guest::new("luks");
    let (dev, pass) = g.luks();
    let raws = g.raws();
    let sb = Sandbox::new("guest-luks");
    let disk_args: Vec<String> = raws.iter().map(|r| path_str(r)).collect();
    let before = sums(&raws);

    // No key: exit 5, the device named, before any copy.
    let r = run(sb
        .virt_v2v()
        .args(["-i", "disk"])
        .args(&disk_args)
        .args(["-o", "null"]));
    assert_eq!(r.code, 5, "{r}");
    assert!(
        r.last_err_line().contains(&dev) && r.last_err_line().contains("needs a key"),
        "{r}"
    );

    // --key DEVICE:key:PASSPHRASE, -i libvirtxml, -o local: boots.
    let xml = g.file(&format!("{}.xml", g.name));
    let mut sources = raws.clone();
    sources.push(xml.clone());
    let t = std::time::Instant::now();
    let d = convert_local(
        &sb,
        "libvirtxml",
        &["--key".into(), format!("{dev}:key:{pass}"), path_str(&xml)],
        &sources,
    );
    eprintln!(
        "luks: --key {dev}:key: converted in {:.0}s",
        t.elapsed().as_secs_f64()
    );
    assert_no_key(&pass, &d.dir, &d.run);
    boot(&g, &d);
    assert_eq!(sums(&raws), before, "a LUKS source disk changed");
}

/// The LUKS guest converted (`-o local`) with a key given another way,
/// then booted: `runner` is `Sandbox::script` or `Sandbox::virt_v2v`;
/// `key_args` the key options; `stdin` what the run reads
/// (`--keys-from-stdin`).
fn luks_boots_with(
    what: &str,
    runner: fn(&Sandbox) -> Command,
    key_args: impl Fn(&Sandbox, &str) -> Vec<String>,
    stdin: impl Fn(&Sandbox, &str) -> Option<PathBuf>,
) {
    let g = Guest::new("luks");
    let (_, pass) = g.luks();
    let raws = g.raws();
    let sb = Sandbox::new("guest-luks");
    let before = sums(&raws);
    let out = sb.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut cmd = runner(&sb);
    cmd.arg("--keep-tmpdir")
        .args(key_args(&sb, &pass))
        .args(["-i", "disk"])
        .args(raws.iter().map(|r| path_str(r)))
        .args(["-o", "local", "-os"])
        .arg(&out);
    if let Some(f) = stdin(&sb, &pass) {
        cmd.stdin(Stdio::from(std::fs::File::open(f).unwrap()));
    }
    let t = std::time::Instant::now();
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{what}: {r}");
    eprintln!(
        "luks: {what} converted in {:.0}s",
        t.elapsed().as_secs_f64()
    );
    let dir = sb.run_dir();
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.out")).unwrap()).unwrap();
    assert_eq!(m["converted"], true, "{what}: {m:#}");
    assert_no_key(&pass, &dir, &r);
    assert_eq!(sums(&raws), before, "{what}: a LUKS source disk changed");
    boot(&g, &Done { run: r, dir, out });
}

/// `--key all:file:FILE`, by the script.
#[test]
fn luks_boots_with_a_key_file_by_the_script() {
    luks_boots_with(
        "script --key all:file:",
        Sandbox::script,
        |sb, pass| {
            let keyfile = sb.path("luks.key");
            std::fs::write(&keyfile, format!("{pass}\n")).unwrap();
            vec!["--key".into(), format!("all:file:{}", keyfile.display())]
        },
        |_, _| None,
    );
}

/// `--keys-from-stdin` (a wrong key first), by the supervisor.
#[test]
fn luks_boots_with_keys_from_stdin() {
    luks_boots_with(
        "--keys-from-stdin",
        Sandbox::virt_v2v,
        |_, _| vec!["--keys-from-stdin".into()],
        |sb, pass| {
            let f = sb.path("stdin.keys");
            std::fs::write(&f, format!("not-the-key\n{pass}\n")).unwrap();
            Some(f)
        },
    );
}
