//! End-to-end with the real test guest (scripts/make-test-guest.sh): a
//! Debian guest that looks exported from VMware.  Converted by virt-v2v
//! (overlapped copy, checked as overlap.rs says) and by
//! scripts/virt-v2v.sh, it must boot on virtio (boot-check.sh);
//! -i ova / -i vmx / -i libvirtxml must serve the same guest data.  These tests need every helper and the
//! fixture: they fail, never skip, when one is missing.

use crate::common::*;
use crate::overlap::{assert_overlapped, gated_runner};
use std::process::Command;
use v2v_tests::*;

const NAME: &str = "foreign-guest";

#[test]
fn fixture_converted_by_supervisor_and_script_boots_on_virtio() {
    let fx = fixture_dir();
    let raw = fx.join(format!("{NAME}.raw"));
    assert!(raw.is_file(), "{} missing", raw.display());
    let sum_before = sha256(&raw);
    let sb_a = Sandbox::new("conv-v2v");
    let sb_b = Sandbox::new("conv-sh");
    let args = ["-i", "disk", raw.to_str().unwrap(), "-of", "qcow2"];
    // The supervisor's run is also issue 16's overlapped conversion
    // (overlap.rs): its copy's two passes and the target compared with
    // the converted overlay before `final`.
    // Both at once, so that one of the suite's longest tests does not hold
    // a test thread for two conversions in a row.
    let (a, b) = std::thread::scope(|s| {
        // Named as the test, for scripts/test.sh's time breakdown.
        let name = std::thread::current().name().unwrap_or("?").to_string();
        let b = std::thread::Builder::new()
            .name(name)
            .spawn_scoped(s, || {
                run_local(&sb_b, sb_b.script(), &args, &sb_b.path("out"))
            })
            .unwrap();
        let a = run_local(&sb_a, gated_runner(&sb_a), &args, &sb_a.path("out"));
        (a, b.join().unwrap())
    });
    assert_eq!(sha256(&raw), sum_before, "the source was modified");
    assert_overlapped(&sb_a, &a);

    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.dir.join("metadata.out")).unwrap())
            .unwrap();
    assert_eq!(m["converted"], true, "{m:#}");
    assert_eq!(m["inspection"]["distro"], "debian", "{m:#}");
    assert_eq!(m["target"]["block_bus"], "virtio-blk", "{m:#}");
    assert!(
        m["changes"].as_array().is_some_and(|c| !c.is_empty()),
        "no changes listed: {m:#}"
    );
    // Issue 16: each action's time, in metadata.out and as an event.
    let rebuilt = m["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "initramfs")
        .unwrap_or_else(|| panic!("no initramfs change: {m:#}"));
    let secs = rebuilt["seconds"].as_f64().unwrap_or(0.0);
    assert!(secs > 1.0, "initramfs rebuild time: {rebuilt}");
    assert!(
        events(&a.run.stdout).iter().any(|e| e["step"] == "convert"
            && e["event"] == "action-finished"
            && e["kind"] == "initramfs"
            && e["seconds"].as_f64() == Some(secs)),
        "no action-finished event for the initramfs:\n{}",
        a.run.stdout
    );
    // The fixture's /etc/default/grub and grub.cfg name the swap device
    // alike: grub.cfg is renamed in place, update-grub is not run (the
    // boot below shows the result boots).
    assert!(
        !m["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "bootloader"),
        "{m:#}"
    );
    // The conversion itself differs in timestamps (initramfs, logs), so the
    // disks are compared by size only; every contract file must agree.
    assert_same_result(&a, &b, false);
    for d in [&a, &b] {
        assert_xml_says_virtio(d);
        let target = d.out.join(format!("{NAME}-sda"));
        let info = run(Command::new("qemu-img").arg("info").arg(&target));
        assert!(info.stdout.contains("file format: qcow2"), "{info}");
        boot_check(&target);
    }
}

/// The libvirt XML of a converted guest puts its disks and NICs on virtio.
fn assert_xml_says_virtio(d: &Done) {
    let xml = std::fs::read_to_string(d.out.join(format!("{NAME}.xml"))).unwrap();
    assert!(xml.contains("bus='virtio'"), "disk not on virtio:\n{xml}");
    assert!(
        xml.contains("<model type='virtio'/>"),
        "NIC not virtio:\n{xml}"
    );
}

// Every input type converts a guest that boots on virtio; each
// conversion costs minutes of TCG, so each type is converted once, on the
// guest where it matters most: `-i disk` the fixture (by both runners,
// above), `-i libvirt` the fixture through the libvirt test driver into a
// libvirt pool (libvirt.rs), `-i ova` the UEFI/LVM guest, `-i vmx` the
// btrfs two-disk guest and `-i libvirtxml` the LUKS guest (guests.rs).
// What each input reads from the fixture's OVA, VMX and libvirt XML is
// checked without converting (below).

/// -i ova, -i vmx and -i libvirtxml of the fixture, copied unchanged, give
/// the fixture's own guest data.
#[test]
fn ova_vmx_and_libvirtxml_inputs_serve_the_fixture() {
    let fx = fixture_dir();
    let raw = fx.join(format!("{NAME}.raw"));
    let sb = Sandbox::new("inputs");
    // Type, file, the source bus of disk 1, the MAC of NIC 1.
    for (itype, file, bus, mac) in [
        ("ova", format!("{NAME}.ova"), "scsi", None),
        (
            "vmx",
            format!("{NAME}.vmx"),
            "scsi",
            Some("00:0c:29:12:34:56"),
        ),
        (
            "libvirtxml",
            format!("{NAME}.xml"),
            "sata",
            Some("52:54:00:12:34:56"),
        ),
    ] {
        let src = fx.join(&file);
        let sum = sha256(&src);
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
        assert_eq!(m["source"]["vcpus"], 1, "-i {itype}");
        assert_eq!(m["source"]["disks"][0]["bus"], bus, "-i {itype}");
        if let Some(mac) = mac {
            assert_eq!(m["source"]["nics"][0]["mac"], mac, "-i {itype}");
        }
        assert_eq!(sha256(&src), sum, "-i {itype}: {file} was modified");
        std::fs::remove_dir_all(&out).unwrap(); // 3 GiB virtual each
    }
}
