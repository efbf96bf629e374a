//! helper-v2v-input-libvirtxml run as a program on small real images.

use std::path::Path;
use v2v_test_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-input-libvirtxml");

fn domain(raw: &Path, qcow: &Path) -> String {
    format!(
        r#"<domain type='kvm'>
  <name>xmlguest</name>
  <memory unit='MiB'>1536</memory>
  <vcpu placement='static'>3</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{}'/>
      <target dev='sda' bus='sata'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{}'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:11:22:33'/>
      <source network='default'/>
      <model type='e1000'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:11:22:34'/>
      <source bridge='br0'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>"#,
        raw.display(),
        // Relative to the XML file's directory.
        qcow.file_name().unwrap().to_string_lossy()
    )
}

#[test]
fn serves_raw_and_qcow2_disks_of_an_xml() {
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("a.raw");
    let qcow = t.path().join("b.qcow2");
    let braw = t.path().join("b.raw");
    make_raw(&raw, 4, "xml-a");
    make_raw(&braw, 2, "xml-b");
    sh(&format!(
        "qemu-img convert -f raw -O qcow2 {} {}",
        braw.display(),
        qcow.display()
    ));
    let xml = t.path().join("guest.xml");
    std::fs::write(&xml, domain(&raw, &qcow)).unwrap();
    let sums = [sha256(&raw), sha256(&qcow), sha256(&xml)];
    let owner = Owner::new();
    let dir = t.path().join("v2v");
    let out = run(BIN, &owner, &[&dir, &xml]);
    assert_ok(&out);
    assert_serves(&dir, 1, &raw);
    assert_serves(&dir, 2, &braw);
    let md = metadata_in(&dir);
    let s = &md["source"];
    assert_eq!(s["name"], "xmlguest");
    assert_eq!(s["origin"]["input_type"], "libvirtxml");
    assert_eq!(s["memory_bytes"], 1536u64 << 20);
    assert_eq!(s["vcpus"], 3);
    assert_eq!(s["disks"][0]["bus"], "sata");
    assert_eq!(s["disks"][0]["format"], "raw");
    assert_eq!(s["disks"][0]["size"], 4 << 20);
    assert_eq!(s["disks"][1]["bus"], "virtio-blk");
    assert_eq!(s["disks"][1]["format"], "qcow2");
    assert_eq!(s["disks"][1]["source"], qcow.display().to_string());
    assert_eq!(s["nics"][0]["mac"], "52:54:00:11:22:33");
    assert_eq!(s["nics"][1]["mac"], "52:54:00:11:22:34");
    assert_eq!(s["nics"][1]["network_kind"], "bridge");
    assert!(dir.join("status/input.done").exists());
    // Writes go to the overlay, never to the source.
    sh(&format!(
        "qemu-io -f raw -c 'write -P 0xaa 0 64k' 'nbd+unix:///?socket={}' >/dev/null",
        v2v_meta::V2vDir::new(&dir).in_socket(1).display()
    ));
    cleanup(&dir);
    assert_eq!(
        [sha256(&raw), sha256(&qcow), sha256(&xml)],
        sums,
        "source modified"
    );
}

#[test]
fn bad_descriptions_are_refused_and_leave_nothing_running() {
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("a.raw");
    make_raw(&raw, 1, "x");
    let owner = Owner::new();
    let cases: [(&str, String, i32, &str); 4] = [
        (
            "xxe",
            "<?xml version='1.0'?><!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><domain><name>&x;</name></domain>".into(),
            3,
            "libvirt XML",
        ),
        (
            "missing-disk",
            format!(
                "<domain><name>g</name><memory>1024</memory><devices>\
                 <disk type='file' device='disk'><source file='{}'/><target dev='sda' bus='sata'/></disk>\
                 <disk type='file' device='disk'><source file='/nonexistent/disk.img'/><target dev='sdb' bus='sata'/></disk>\
                 </devices></domain>",
                raw.display()
            ),
            3,
            "/nonexistent/disk.img",
        ),
        (
            "rbd",
            "<domain><name>g</name><memory>1024</memory><devices><disk type='network'><source protocol='rbd' name='p/i'/><target dev='vda'/></disk></devices></domain>".into(),
            3,
            "protocol 'rbd'",
        ),
        ("not-xml", "hello".into(), 3, "libvirt XML"),
    ];
    for (name, text, code, words) in cases {
        let xml = t.path().join(format!("{name}.xml"));
        std::fs::write(&xml, text).unwrap();
        let dir = t.path().join(name);
        let out = run(BIN, &owner, &[&dir, &xml]);
        assert_fails(&out, code, words);
        assert_nothing_left(&dir);
        assert!(
            !dir.join("metadata.in").exists(),
            "{name}: metadata.in written"
        );
        assert!(dir.join("status/input.error.json").exists());
    }
    // A network disk whose NBD server accepts and never answers: refused
    // within 15 s (exit 4), nothing left running (it used to hang).
    let silent = t.path().join("silent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&silent).unwrap();
    let xml = t.path().join("silent.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain><name>g</name><memory>1024</memory><devices><disk type='network' device='disk'>\
             <driver name='qemu' type='raw'/><source protocol='nbd'><host transport='unix' socket='{}'/>\
             </source><target dev='sda' bus='sata'/></disk></devices></domain>",
            silent.display()
        ),
    )
    .unwrap();
    let dir = t.path().join("silent");
    let t0 = std::time::Instant::now();
    let out = run(BIN, &owner, &[&dir, &xml]);
    assert_fails(&out, 4, "no answer from the server");
    assert!(t0.elapsed().as_secs() < 15, "took {:?}", t0.elapsed());
    assert_nothing_left(&dir);

    let dir = t.path().join("nofile");
    let out = run(BIN, &owner, &[&dir, &t.path().join("nope.xml")]);
    assert_fails(&out, 3, "nope.xml");
    let out = std::process::Command::new(BIN)
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_validates_without_side_effects() {
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("a.raw");
    make_raw(&raw, 1, "check");
    let write = |name: &str, disk: &str| {
        let xml = t.path().join(name);
        let text = format!(
            "<domain><name>g</name><memory>1024</memory><devices>{disk}</devices></domain>"
        );
        std::fs::write(&xml, text).unwrap();
        xml
    };
    let file_disk = |p: &str| {
        format!("<disk type='file' device='disk'><source file='{p}'/><target dev='sda'/></disk>")
    };
    let good = write("good.xml", &file_disk(&raw.display().to_string()));
    let dir = t.path().join("v2v");
    // virt-v2v ignores every input option for -i libvirtxml (-io too).
    let mut virt_v2v = virt_v2v_options(&[]);
    virt_v2v.extend(["-io", "x=1"]);
    assert_check_accepts(BIN, &dir, &[&dir, &good], &[&[], &virt_v2v]);
    assert_check_refuses(BIN, &dir, &[&dir, &good], &[]);
    // The file, and what it names: the step's exit codes.
    let nope = t.path().join("nope.xml");
    assert_check_fails(BIN, &dir, &[&dir, &nope], 3, "nope.xml");
    let bad = write("bad.xml", "<disk type='file'><target dev='vda'/></disk>");
    assert_check_fails(BIN, &dir, &[&dir, &bad], 3, "<source file");
    let missing = write("missing.xml", &file_disk("/nonexistent/disk.img"));
    assert_check_fails(BIN, &dir, &[&dir, &missing], 3, "/nonexistent/disk.img");
    let volume = write(
        "volume.xml",
        "<disk type='volume' device='disk'><source pool='p' volume='v'/><target dev='vda'/></disk>",
    );
    assert_check_fails(BIN, &dir, &[&dir, &volume], 5, "needs libvirt");
}
