//! End-to-end with the real test guest (scripts/make-test-guest.sh): a
//! Debian guest that looks exported from VMware.  Converted by virt-v2v
//! and by scripts/virt-v2v.sh (at the same time, to share the wall clock),
//! it must boot on virtio (boot-check.sh); -i ova / -i vmx / -i libvirtxml
//! must serve the same guest data.  These tests need every helper and the
//! fixture: they fail, never skip, when one is missing.

use crate::common::*;
use std::path::Path;
use std::process::Command;
use v2v_tests::*;

const NAME: &str = "foreign-guest";

#[test]
fn fixture_converted_by_supervisor_and_script_boots_on_virtio() {
    let fx = fixture_dir();
    let raw = fx.join(format!("{NAME}.raw"));
    assert!(raw.is_file(), "{} missing", raw.display());
    let mtime_before = std::fs::metadata(&raw).unwrap().modified().unwrap();
    let sb_a = Sandbox::new("conv-v2v");
    let sb_b = Sandbox::new("conv-sh");
    let args = ["-i", "disk", raw.to_str().unwrap()];
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run_local(&sb_a, sb_a.virt_v2v(), &args, &sb_a.path("out")));
        let b = s.spawn(|| run_local(&sb_b, sb_b.script(), &args, &sb_b.path("out")));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(
        std::fs::metadata(&raw).unwrap().modified().unwrap(),
        mtime_before
    );

    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.dir.join("metadata.out")).unwrap())
            .unwrap();
    assert_eq!(m["converted"], true, "{m:#}");
    assert_eq!(m["inspection"]["distro"], "debian", "{m:#}");
    assert_eq!(m["target"]["block_bus"], "virtio-blk", "{m:#}");
    // The conversion itself differs in timestamps (initramfs, logs), so the
    // disks are compared by size only; every contract file must agree.
    assert_same_result(&a, &b, false);

    let target = a.out.join(format!("{NAME}-sda"));
    boot_check(&target);
}

fn boot_check(disk: &Path) {
    require_tool("qemu-system-x86_64");
    let r = run(Command::new("bash")
        .arg(fixture_scripts().join("boot-check.sh"))
        .arg(disk)
        .args(["virtio", "600"]));
    assert!(
        r.code == 0 && r.stdout.contains("V2V-FIXTURE-BOOTED"),
        "converted guest does not boot on virtio:\n{r}"
    );
}

/// -i ova, -i vmx and -i libvirtxml of the fixture, copied unchanged, give
/// the fixture's own guest data.
#[test]
fn ova_vmx_and_libvirtxml_inputs_serve_the_fixture() {
    let fx = fixture_dir();
    let raw = fx.join(format!("{NAME}.raw"));
    let sb = Sandbox::new("inputs");
    for (itype, file) in [
        ("ova", format!("{NAME}.ova")),
        ("vmx", format!("{NAME}.vmx")),
        ("libvirtxml", format!("{NAME}.xml")),
    ] {
        let src = fx.join(&file);
        let out = sb.path(&format!("out-{itype}"));
        let d = run_local(
            &sb,
            sb.virt_v2v(),
            &["--no-convert", "-i", itype, src.to_str().unwrap()],
            &out,
        );
        let t = d.targets();
        assert_eq!(t, [out.join(format!("{NAME}-sda"))], "-i {itype}");
        qemu_img_identical(&raw, &t[0]).unwrap_or_else(|e| panic!("-i {itype}: {e}"));
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.dir.join("metadata.in")).unwrap())
                .unwrap();
        assert_eq!(m["source"]["name"], NAME, "-i {itype}");
        assert_eq!(m["source"]["origin"]["input_type"], itype);
        assert_eq!(m["source"]["memory_bytes"], 1u64 << 30, "-i {itype}");
        std::fs::remove_dir_all(&out).unwrap(); // 3 GiB virtual each
    }
}
