//! CLI tests of helper-v2v-convert.  The last one converts the real fixture
//! guest and boots it: it launches the libguestfs appliance four times
//! (fixture conversion, a guest without a virtio kernel inspected and
//! converted, a disk without an OS) and boots the fixture twice under TCG,
//! all in ONE test function so the launches are not multiplied.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use v2v_meta::{MetadataIn, MetadataOut, Origin, Source, SourceDisk, CONTRACT_VERSION};

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-convert");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run helper-v2v-convert")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_flags_exit_2() {
    let o = run(&["--root", "sda2", "/nonexistent"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("expected ask, single, first"),
        "{}",
        stderr(&o)
    );
    let o = run(&[]);
    assert_eq!(code(&o), 2);
    let o = run(&["--bogus", "/tmp"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn missing_dir_metadata_or_socket_exit_3() {
    let o = run(&["/nonexistent/v2v-dir"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let t = tempfile::tempdir().unwrap();
    let o = run(&[t.path().to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("metadata.in"), "{}", stderr(&o));
    write_metadata_in(t.path(), &[("/images/x.raw", 1 << 30)]);
    let o = run(&[t.path().to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let last = stderr(&o).lines().last().unwrap_or("").to_string();
    assert!(
        last.contains("helper-v2v-convert: error: disk 1:") && last.contains("in1"),
        "{last}"
    );
    assert!(t.path().join("status/convert.error.json").exists());
    assert!(!t.path().join("metadata.out").exists());
}

#[test]
fn help_and_docs_cover_every_flag() {
    let o = run(&["--help"]);
    assert_eq!(code(&o), 0);
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/helpers/helper-v2v-convert.md"),
    )
    .expect("docs/helpers/helper-v2v-convert.md");
    for sec in [
        "## NAME",
        "## SYNOPSIS",
        "## DESCRIPTION",
        "## OPTIONS",
        "## READS",
        "## WRITES",
        "## EXIT STATUS",
        "## ENVIRONMENT",
        "## EXAMPLES",
        "## SEE ALSO",
    ] {
        assert!(doc.contains(sec), "doc lacks {sec}");
    }
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches([',', '.']))
        .map(|w| w.split(['=', '<']).next().unwrap())
        .collect();
    assert!(
        flags.contains(&"--inspect-only") && flags.contains(&"--root"),
        "{help}"
    );
    for f in flags {
        if f == "--help" || f == "--version" {
            continue;
        }
        assert!(
            doc.contains(f),
            "docs/helpers/helper-v2v-convert.md does not mention {f}"
        );
    }
}

// ---------------------------------------------------------------- helpers

fn write_metadata_in(dir: &Path, disks: &[(&str, u64)]) {
    let meta = MetadataIn {
        version: CONTRACT_VERSION,
        source: Source {
            name: "test-guest".into(),
            origin: Origin {
                input_type: "disk".into(),
                location: disks.iter().map(|(p, _)| p.to_string()).collect(),
            },
            memory_bytes: 1 << 30,
            vcpus: 1,
            cpu: Default::default(),
            firmware: Default::default(),
            secure_boot: false,
            disks: disks
                .iter()
                .enumerate()
                .map(|(i, (p, size))| SourceDisk {
                    index: i as u32 + 1,
                    socket: format!("in{}", i + 1),
                    format: "raw".into(),
                    size: *size,
                    allocated: None,
                    bus: None,
                    controller: None,
                    unit: None,
                    source: p.to_string(),
                })
                .collect(),
            removables: vec![],
            nics: vec![],
            video: None,
            sound: None,
            hypervisor: None,
            os_hint: None,
        },
    };
    v2v_meta::write_json(&dir.join("metadata.in"), &meta).unwrap();
}

fn need(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{tool} not found (install it: scripts/install-deps.sh)");
}

fn sh(cmd: &str) -> Output {
    let o = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A temp directory with `in1` served by qemu-nbd through a qcow2 overlay
/// of `image`; qemu-nbd is stopped on drop.
struct Served {
    dir: tempfile::TempDir,
    overlay: PathBuf,
    nbd: Child,
}

impl Served {
    fn new(image: &Path) -> Served {
        let dir = tempfile::Builder::new()
            .prefix("v2v-conv-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let overlay = dir.path().join("overlay.qcow2");
        sh(&format!(
            "qemu-img create -q -f qcow2 -b '{}' -F raw '{}'",
            image.display(),
            overlay.display()
        ));
        let sock = dir.path().join("in1");
        let nbd = Command::new("qemu-nbd")
            .arg(format!("--socket={}", sock.display()))
            .args([
                "--format=qcow2",
                "--persistent",
                "--shared=4",
                "--discard=unmap",
            ])
            .arg(&overlay)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-nbd not found");
        let t = Instant::now();
        while !sock.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "qemu-nbd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let size = std::fs::metadata(image).unwrap().len();
        write_metadata_in(dir.path(), &[(image.to_str().unwrap(), size)]);
        Served { dir, overlay, nbd }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn convert(&self, extra: &[&str]) -> Output {
        let mut a: Vec<&str> = extra.to_vec();
        a.push(self.path().to_str().unwrap());
        run(&a)
    }
    fn metadata_out(&self) -> MetadataOut {
        v2v_meta::read_json(&self.path().join("metadata.out")).unwrap()
    }
    /// The overlay has no data of its own (nothing was written).
    fn overlay_untouched(&self) -> bool {
        let o = sh(&format!(
            "qemu-img map --output=json -U '{}'",
            self.overlay.display()
        ));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .all(|e| e["depth"].as_u64() != Some(0) || e["data"] == false)
    }
    fn stop(&mut self) {
        let _ = self.nbd.kill();
        let _ = self.nbd.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

fn validate_schema(file: &Path) {
    let schema_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/metadata.out.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&schema_path).unwrap()).unwrap();
    let value: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(file).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{} does not validate against {}:\n  {}",
        file.display(),
        schema_path.display(),
        errors.join("\n  ")
    );
}

/// The project's boot check (scripts/boot-check.sh), run with bash.
fn boot_check() -> Command {
    let mut c = Command::new("bash");
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/boot-check.sh"));
    c
}

/// Byte offset of the first partition of a raw image.
fn first_partition_offset(raw: &Path) -> u64 {
    let o = sh(&format!("sfdisk --json '{}'", raw.display()));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let start = v["partitiontable"]["partitions"][0]["start"]
        .as_u64()
        .unwrap();
    let sector = v["partitiontable"]["sectorsize"].as_u64().unwrap_or(512);
    start * sector
}

/// A file of the ext4 filesystem at `offset` of `raw` (None if absent).
fn guest_file(raw: &Path, offset: u64, path: &str) -> Option<String> {
    let o = Command::new("debugfs")
        .args(["-R", &format!("cat {path}")])
        .arg(format!("{}?offset={offset}", raw.display()))
        .output()
        .expect("debugfs not found");
    let err = String::from_utf8_lossy(&o.stderr);
    if err.contains("not found") {
        return None;
    }
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// A small disk whose one partition holds a Debian-like root without a
/// shell, with one kernel that has no virtio drivers.
fn make_guest_without_virtio(dir: &Path) -> PathBuf {
    let root = dir.join("tree");
    let ver = "6.1.0-1-amd64";
    for d in ["etc", "bin", "sbin", "usr/bin", "boot", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let w = |p: &str, s: &str| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    };
    w("etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n");
    w("etc/debian_version", "12.5\n");
    w(
        "etc/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
    );
    w("etc/hostname", "novirtio\n");
    w(&format!("boot/vmlinuz-{ver}"), "not a kernel\n");
    w(
        &format!("lib/modules/{ver}/modules.dep"),
        "kernel/drivers/scsi/mpt3sas/mpt3sas.ko:\nkernel/drivers/ata/ata_piix.ko:\n",
    );
    w(
        &format!("lib/modules/{ver}/modules.builtin"),
        "kernel/fs/ext4/ext4.ko\n",
    );
    let raw = dir.join("novirtio.raw");
    sh(&format!("truncate -s 160M '{}'", raw.display()));
    sh(&format!(
        "echo 'start=2048, type=83, bootable' | sfdisk -q '{}'",
        raw.display()
    ));
    sh(&format!(
        "mke2fs -q -t ext4 -F -d '{}' -E offset=1048576 '{}' 150M",
        root.display(),
        raw.display()
    ));
    raw
}

// ---------------------------------------------------------------- real guest

/// The tools these tests run, and the fixture guest (checked to exist).
fn real_guest_setup() -> PathBuf {
    for t in [
        "qemu-img",
        "qemu-nbd",
        "qemu-system-x86_64",
        "sfdisk",
        "mke2fs",
        "debugfs",
    ] {
        need(t);
    }
    let fixture = fixture_raw();
    assert!(
        fixture.exists(),
        "fixture guest {} not found: build it with scripts/make-test-guest.sh \
         (root, debootstrap and libguestfs: 10-15 min the first time), \
         or point V2V_FIXTURE at it",
        fixture.display()
    );
    fixture
}

fn work_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("v2v-conv-work-")
        .tempdir_in("/var/tmp")
        .unwrap()
}

// The three tests below are apart so that the harness runs them two at a
// time: together they were one thread's 5 minutes with the other idle.

/// Unconverted, the fixture does not boot on virtio.
#[test]
fn fixture_guest_does_not_boot_on_virtio_unconverted() {
    let fixture = real_guest_setup();
    let t = Instant::now();
    let o = boot_check()
        .args(["--timeout", "240"])
        .arg(&fixture)
        .output()
        .unwrap();
    eprintln!(
        "before conversion ({:.0}s): {}",
        t.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
    );
    assert_eq!(
        code(&o),
        1,
        "the unconverted fixture booted on virtio?\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// Converted by the helper alone, on an overlay the test serves: the
/// metadata and the guest's files say what changed; the source is
/// untouched.
#[test]
fn fixture_guest_converted_by_the_helper_alone() {
    let fixture = real_guest_setup();
    let work = work_dir();
    let t_all = Instant::now();
    let mut s = Served::new(&fixture);
    let t = Instant::now();
    let o = s.convert(&[]);
    let secs = t.elapsed().as_secs_f64();
    eprintln!("conversion: {secs:.1}s\n{}", stderr(&o));
    assert_eq!(code(&o), 0, "conversion failed:\n{}", stderr(&o));
    let mo = s.path().join("metadata.out");
    validate_schema(&mo);
    let m = s.metadata_out();
    assert!(m.converted);
    let insp = m.inspection.as_ref().unwrap();
    assert_eq!(
        (
            insp.os_type.as_str(),
            insp.distro.as_str(),
            insp.major_version
        ),
        ("linux", "debian", 12)
    );
    assert_eq!(insp.root, "/dev/sda1");
    assert_eq!(insp.firmware, v2v_meta::Firmware::Bios);
    assert_eq!(insp.package_format, "deb");
    assert!(
        insp.kernels.iter().any(|k| k.virtio && k.default),
        "{:?}",
        insp.kernels
    );
    assert_eq!(m.target.block_bus, v2v_meta::TargetBlockBus::VirtioBlk);
    assert_eq!(m.target.net_model, v2v_meta::TargetNetModel::Virtio);
    assert_eq!(m.target.machine, "q35");
    let has = |kind: &str, target: &str| {
        m.changes
            .iter()
            .any(|c| c.kind == kind && c.target.contains(target))
    };
    assert!(has("package", "open-vm-tools"), "{:#?}", m.changes);
    assert!(has("file", "/etc/fstab"), "{:#?}", m.changes);
    assert!(
        has("file", "/etc/initramfs-tools/modules"),
        "{:#?}",
        m.changes
    );
    assert!(has("initramfs", "/boot/initrd.img-"), "{:#?}", m.changes);
    assert!(has("trim", "/"), "{:#?}", m.changes);
    assert!(s.path().join("status/convert.done").exists());
    s.stop();

    // The guest's files afterwards.
    let raw = work.path().join("converted.raw");
    sh(&format!(
        "qemu-img convert -O raw '{}' '{}'",
        s.overlay.display(),
        raw.display()
    ));
    let off = first_partition_offset(&raw);
    let fstab = guest_file(&raw, off, "/etc/fstab").unwrap();
    assert!(
        fstab.contains("/dev/vda1") && fstab.contains("/dev/vda2"),
        "{fstab}"
    );
    assert!(!fstab.contains("/dev/sda"), "{fstab}");
    let modules = guest_file(&raw, off, "/etc/initramfs-tools/modules").unwrap();
    for m in ["virtio_blk", "virtio_pci", "virtio_net", "virtio_scsi"] {
        assert!(
            modules.lines().any(|l| l.trim() == m),
            "{m} missing:\n{modules}"
        );
    }
    let grub = guest_file(&raw, off, "/etc/default/grub").unwrap();
    assert!(grub.contains("resume=/dev/vda2"), "{grub}");
    let resume = guest_file(&raw, off, "/etc/initramfs-tools/conf.d/resume").unwrap();
    assert_eq!(resume.trim(), "RESUME=/dev/vda2");
    let status = guest_file(&raw, off, "/var/lib/dpkg/status").unwrap();
    assert!(
        !status.contains("Package: open-vm-tools\n"),
        "open-vm-tools still installed"
    );
    assert!(guest_file(&raw, off, "/usr/bin/vmware-toolbox-cmd").is_none());
    // The source was not written.
    let o = Command::new("qemu-img")
        .args(["compare", "-q", "-f", "raw", "-F", "raw"])
        .arg(&fixture)
        .arg(&raw)
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "converted image equals the source?");

    // That the converted guest boots on virtio is shown end to end
    // (tests/tests/convert.rs boots the same conversion, made by virt-v2v
    // and by scripts/virt-v2v.sh): one boot fewer here.
    std::fs::remove_file(&raw).unwrap();
    eprintln!(
        "fixture conversion test: {:.0}s",
        t_all.elapsed().as_secs_f64()
    );
}

/// A guest whose only kernel lacks virtio: inspection works (and writes
/// nothing); conversion ends with exit 5.  A disk with no operating
/// system: exit 5.
#[test]
fn guests_that_cannot_be_converted_exit_5() {
    real_guest_setup();
    let work = work_dir();
    let img = make_guest_without_virtio(work.path());
    let s = Served::new(&img);
    let o = s.convert(&["--inspect-only"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    validate_schema(&s.path().join("metadata.out"));
    let m = s.metadata_out();
    assert!(!m.converted && m.changes.is_empty());
    let insp = m.inspection.unwrap();
    assert_eq!((insp.distro.as_str(), insp.major_version), ("debian", 12));
    assert_eq!(insp.hostname.as_deref(), Some("novirtio"));
    assert_eq!(insp.kernels.len(), 1);
    assert!(!insp.kernels[0].virtio);
    assert!(s.overlay_untouched(), "--inspect-only wrote to the overlay");
    let o = s.convert(&[]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    let last = stderr(&o).lines().last().unwrap_or("").to_string();
    assert!(
        last.contains("no installed kernel has virtio drivers"),
        "{last}"
    );
    assert!(!s.path().join("metadata.out").exists());
    drop(s);

    // A disk with no operating system.
    let empty = work.path().join("data.raw");
    sh(&format!(
        "truncate -s 64M '{}' && mke2fs -q -t ext4 -F '{}'",
        empty.display(),
        empty.display()
    ));
    let s = Served::new(&empty);
    let o = s.convert(&[]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    let last = stderr(&o).lines().last().unwrap_or("").to_string();
    assert!(last.contains("no operating system was found"), "{last}");
    drop(s);
}

/// The test guest: `V2V_FIXTURE` (a file), else `V2V_FIXTURE_DIR/foreign-guest.raw`
/// (set by scripts/test.sh), else what scripts/make-test-guest.sh builds or has cached.
fn fixture_raw() -> PathBuf {
    if let Some(f) = std::env::var_os("V2V_FIXTURE") {
        return PathBuf::from(f);
    }
    let dir = match std::env::var_os("V2V_FIXTURE_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-test-guest.sh");
            let out = std::process::Command::new("sh")
                .arg(&script)
                .stdin(std::process::Stdio::null())
                .output()
                .expect("sh");
            assert!(
                out.status.success(),
                "{} failed: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            PathBuf::from(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim(),
            )
        }
    };
    dir.join("foreign-guest.raw")
}
