//! helper-v2v-input-ova run as a program on a small OVA made by the test:
//! a streamOptimized VMDK, a VMware-style OVF and a SHA256 manifest, as a
//! tar file and as a directory; then tampered and hostile packages.
//!
//! Exit codes: a manifest that does not match (or names a missing file)
//! is a contract error, 3; a package we refuse to open (a member that is
//! a link, absolute, or climbs out with `..`) is unsupported, 5.

use std::path::{Path, PathBuf};
use v2v_test_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-input-ova");

const OVF: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <References>
    <File ovf:href="ovaguest-disk1.vmdk" ovf:id="file1"/>
    <File ovf:href="ovaguest-disk2.img" ovf:id="file2"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="4" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
    <Disk ovf:capacity="2" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk2" ovf:fileRef="file2" ovf:format="http://en.wikipedia.org/wiki/Byte"/>
  </DiskSection>
  <VirtualSystem ovf:id="ovaguest">
    <Info>A virtual machine</Info>
    <Name>ovaguest</Name>
    <OperatingSystemSection ovf:id="96" vmw:osType="debian10_64Guest"><Info>OS</Info></OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System><vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType></System>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>1024</rasd:VirtualQuantity></Item>
      <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>6</rasd:InstanceID><rasd:ResourceType>5</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>1</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk2</rasd:HostResource><rasd:InstanceID>7</rasd:InstanceID><rasd:Parent>6</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:Address>00:50:56:AB:CD:EF</rasd:Address><rasd:Connection>VM Network</rasd:Connection><rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceSubType>E1000</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#;

/// Make `t/pkg/` (ovf, a streamOptimized vmdk, a raw disk, manifest) and
/// `t/ovaguest.ova` from it; returns (package dir, ova, raw image disk 1
/// holds).  Disk 2 is `pkg/ovaguest-disk2.img` itself.
fn make_package(t: &Path) -> (PathBuf, PathBuf, PathBuf) {
    require("tar");
    let raw = t.join("disk.raw");
    make_raw(&raw, 4, "ova");
    let pkg = t.join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    make_raw(&pkg.join("ovaguest-disk2.img"), 2, "ova-raw");
    let vmdk = pkg.join("ovaguest-disk1.vmdk");
    sh(&format!(
        "qemu-img convert -f raw -O vmdk -o subformat=streamOptimized {} {}",
        raw.display(),
        vmdk.display()
    ));
    let ovf = pkg.join("ovaguest.ovf");
    std::fs::write(&ovf, OVF).unwrap();
    write_manifest(&pkg);
    let ova = t.join("ovaguest.ova");
    sh(&format!(
        "tar -C {} -cf {} ovaguest.ovf ovaguest.mf ovaguest-disk1.vmdk ovaguest-disk2.img",
        pkg.display(),
        ova.display()
    ));
    (pkg, ova, raw)
}

fn write_manifest(pkg: &Path) {
    let mf = format!(
        "SHA256(ovaguest.ovf)= {}\nSHA256(ovaguest-disk1.vmdk)= {}\nSHA1(ovaguest-disk2.img)= {}\n",
        sha256(&pkg.join("ovaguest.ovf")),
        sha256(&pkg.join("ovaguest-disk1.vmdk")),
        sha1(&pkg.join("ovaguest-disk2.img"))
    );
    std::fs::write(pkg.join("ovaguest.mf"), mf).unwrap();
}

/// SHA-1 of a file, hex (OVAs from older tools carry SHA1 manifests).
fn sha1(path: &Path) -> String {
    let out = std::process::Command::new("sha1sum")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "sha1sum not found");
    String::from_utf8_lossy(&out.stdout)[..40].to_string()
}

fn check_metadata(dir: &Path) {
    let md = metadata_in(dir);
    let s = &md["source"];
    assert_eq!(s["name"], "ovaguest");
    assert_eq!(s["origin"]["input_type"], "ova");
    assert_eq!(s["memory_bytes"], 1u64 << 30);
    assert_eq!(s["vcpus"], 2);
    assert_eq!(s["disks"][0]["bus"], "scsi");
    assert_eq!(s["disks"][0]["format"], "vmdk");
    assert_eq!(s["disks"][0]["size"], 4 << 20);
    assert_eq!(s["disks"][1]["bus"], "ide");
    assert_eq!(s["disks"][1]["unit"], 1);
    assert_eq!(s["disks"][1]["format"], "raw");
    assert_eq!(s["disks"][1]["size"], 2 << 20);
    assert_eq!(s["nics"][0]["mac"], "00:50:56:ab:cd:ef");
    assert_eq!(s["nics"][0]["model"], "e1000");
    assert_eq!(s["nics"][0]["network"], "VM Network");
    assert_eq!(s["hypervisor"], "vmware");
}

#[test]
fn ova_tar_and_directory_are_served() {
    let t = tempfile::tempdir().unwrap();
    let (pkg, ova, raw) = make_package(t.path());
    let sums = [sha256(&ova), sha256(&pkg.join("ovaguest-disk1.vmdk"))];
    let owner = Owner::new();
    for (name, src) in [("tar", &ova), ("dir", &pkg)] {
        let dir = t.path().join(name);
        let out = run(BIN, &owner, &[&dir, src]);
        assert_ok(&out);
        assert_serves(&dir, 1, &raw);
        assert_serves(&dir, 2, &pkg.join("ovaguest-disk2.img"));
        check_metadata(&dir);
        // Writes land in the overlay.
        sh(&format!(
            "qemu-io -f raw -c 'write -P 0x55 0 64k' 'nbd+unix:///?socket={}' >/dev/null",
            v2v_meta::V2vDir::new(&dir).in_socket(1).display()
        ));
        cleanup(&dir);
    }
    assert_eq!(
        [sha256(&ova), sha256(&pkg.join("ovaguest-disk1.vmdk"))],
        sums,
        "source modified"
    );
}

#[test]
fn tampered_and_hostile_packages_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let (pkg, _ova, _raw) = make_package(t.path());
    let owner = Owner::new();
    let refuse = |name: &str, src: &Path, code: i32, words: &str| {
        let dir = t.path().join(name);
        let out = run(BIN, &owner, &[&dir, &src]);
        assert_fails(&out, code, words);
        assert_nothing_left(&dir);
        assert!(!dir.join("metadata.in").exists());
    };

    // Tampered disk: the manifest no longer matches (directory and tar).
    let bad = t.path().join("tampered");
    sh(&format!("cp -r {} {}", pkg.display(), bad.display()));
    sh(&format!(
        "printf X | dd of={} bs=1 seek=70000 conv=notrunc 2>/dev/null",
        bad.join("ovaguest-disk1.vmdk").display()
    ));
    refuse("tampered-dir", &bad, 3, "does not match");
    let bad_ova = t.path().join("tampered.ova");
    sh(&format!(
        "tar -C {} -cf {} ovaguest.ovf ovaguest.mf ovaguest-disk1.vmdk ovaguest-disk2.img",
        bad.display(),
        bad_ova.display()
    ));
    refuse("tampered-tar", &bad_ova, 3, "does not match");

    // A manifest naming a file that is not there.
    let gone = t.path().join("gone");
    sh(&format!("cp -r {} {}", pkg.display(), gone.display()));
    std::fs::OpenOptions::new()
        .append(true)
        .open(gone.join("ovaguest.mf"))
        .and_then(|mut f| {
            use std::io::Write;
            writeln!(f, "SHA256(extra.iso)= {}", "0".repeat(64))
        })
        .unwrap();
    refuse("manifest-missing-file", &gone, 3, "extra.iso");

    // Hostile members: `..`, absolute, symlink.
    std::fs::write(t.path().join("outside.txt"), "x").unwrap();
    let dotdot = t.path().join("dotdot.ova");
    sh(&format!(
        "cd {} && tar -cPf {} ovaguest.ovf ../outside.txt",
        pkg.display(),
        dotdot.display()
    ));
    refuse("dotdot", &dotdot, 5, "'..'");
    let abs = t.path().join("abs.ova");
    sh(&format!(
        "tar -cPf {} {}",
        abs.display(),
        pkg.join("ovaguest.ovf").display()
    ));
    refuse("absolute", &abs, 5, "absolute path");
    let linked = t.path().join("linked");
    std::fs::create_dir(&linked).unwrap();
    std::fs::copy(pkg.join("ovaguest.ovf"), linked.join("ovaguest.ovf")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", linked.join("ovaguest-disk1.vmdk")).unwrap();
    let link_ova = t.path().join("link.ova");
    sh(&format!(
        "tar -C {} -cf {} ovaguest.ovf ovaguest-disk1.vmdk",
        linked.display(),
        link_ova.display()
    ));
    refuse("symlink-tar", &link_ova, 5, "is a link");
    refuse("symlink-dir", &linked, 5, "links are refused");

    // Not a tar file at all.
    let junk = t.path().join("junk.ova");
    std::fs::write(&junk, vec![b'j'; 2048]).unwrap();
    refuse("junk", &junk, 5, "not a tar file");

    // An OVF nested 100,000 elements deep (it overflowed the parser's
    // stack, exit 134): refused, fast, with the reason.
    let deep = t.path().join("deep");
    std::fs::create_dir(&deep).unwrap();
    let n = 100_000;
    std::fs::write(
        deep.join("deep.ovf"),
        format!(
            "<Envelope>{}{}</Envelope>",
            "<a>".repeat(n),
            "</a>".repeat(n)
        ),
    )
    .unwrap();
    let deep_ova = t.path().join("deep.ova");
    sh(&format!(
        "tar -C {} -cf {} deep.ovf",
        deep.display(),
        deep_ova.display()
    ));
    let t0 = std::time::Instant::now();
    refuse("deep", &deep_ova, 3, "nested more than 256 deep");
    assert!(t0.elapsed().as_secs() < 15, "took {:?}", t0.elapsed());
}

#[test]
fn check_validates_without_side_effects() {
    let t = tempfile::tempdir().unwrap();
    let (pkg, ova, _raw) = make_package(t.path());
    let dir = t.path().join("v2v");
    // -if, -ic, -it and -ip are ignored, as virt-v2v does; -io is refused.
    let virt_v2v = virt_v2v_options(&[]);
    assert_check_accepts(BIN, &dir, &[&dir, &ova], &[&[], &virt_v2v]);
    assert_check_accepts(BIN, &dir, &[&dir, &pkg], &[&[]]);
    assert_check_refuses(BIN, &dir, &[&dir, &ova], &[(&["-io", "x=1"], "-io x=1")]);
    // Files: the package and what its OVF names (the step's exit codes).
    let nope = t.path().join("nope.ova");
    assert_check_fails(BIN, &dir, &[&dir, &nope], 3, "nope.ova");
    let junk = t.path().join("junk.ova");
    std::fs::write(&junk, vec![b'j'; 2048]).unwrap();
    assert_check_fails(BIN, &dir, &[&dir, &junk], 5, "not a tar file");
    std::fs::remove_file(pkg.join("ovaguest-disk2.img")).unwrap();
    assert_check_fails(BIN, &dir, &[&dir, &pkg], 3, "ovaguest-disk2.img");
}
