//! helper-v2v-input-libvirt run as a program against libvirt's test
//! driver (`test:///path/node.xml`): a node file of the test's own
//! defines a shut-off guest (`<test:runstate>5</test:runstate>`) with a
//! file disk and a pool volume, and a running guest.

use std::path::Path;
use v2v_test_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-input-libvirt");

fn node(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>stopped</name>
    <memory unit='MiB'>768</memory>
    <vcpu>2</vcpu>
    <os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='raw'/>
        <source file='{d}/disk1.raw'/>
        <target dev='sda' bus='scsi'/>
        <address type='drive' controller='0' bus='0' target='0' unit='0'/>
      </disk>
      <disk type='volume' device='disk'>
        <driver name='qemu' type='qcow2'/>
        <source pool='images' volume='disk2.qcow2'/>
        <target dev='vdb' bus='virtio'/>
      </disk>
      <controller type='scsi' index='0' model='virtio-scsi'/>
      <interface type='network'>
        <mac address='52:54:00:aa:bb:cc'/>
        <source network='default'/>
        <model type='virtio'/>
      </interface>
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
  <domain type='test'>
    <name>running</name>
    <memory>524288</memory>
    <os><type>hvm</type></os>
  </domain>
  <pool type='dir'>
    <name>images</name>
    <target><path>{d}</path></target>
    <volume type='file'>
      <name>disk2.qcow2</name>
      <key>{d}/disk2.qcow2</key>
      <capacity unit='MiB'>2</capacity>
      <target><path>{d}/disk2.qcow2</path></target>
    </volume>
  </pool>
</node>"#
    )
}

#[test]
fn test_driver_guests() {
    require("virsh");
    let t = tempfile::tempdir().unwrap();
    let raw1 = t.path().join("disk1.raw");
    let raw2 = t.path().join("disk2.raw");
    let qcow = t.path().join("disk2.qcow2");
    make_raw(&raw1, 4, "libvirt-1");
    make_raw(&raw2, 2, "libvirt-2");
    sh(&format!(
        "qemu-img convert -f raw -O qcow2 {} {}",
        raw2.display(),
        qcow.display()
    ));
    let nodefile = t.path().join("node.xml");
    std::fs::write(&nodefile, node(t.path())).unwrap();
    let uri = format!("test://{}", nodefile.display());
    let sums = [sha256(&raw1), sha256(&qcow)];
    let owner = Owner::new();

    // A running guest is refused (exit 5), nothing started.
    let dir = t.path().join("running");
    let out = run(BIN, &owner, &[&"-ic", &uri, &dir, &"running"]);
    assert_fails(&out, 5, "guest running is running: shut it down first");
    assert_nothing_left(&dir);

    // An unknown guest: virsh fails (exit 4), naming it.
    let dir = t.path().join("nosuch");
    let out = run(BIN, &owner, &[&"-ic", &uri, &dir, &"nosuch"]);
    assert_fails(&out, 4, "nosuch");
    assert_nothing_left(&dir);

    // A remote URI is refused before virsh is asked anything.
    let dir = t.path().join("remote");
    let out = run(
        BIN,
        &owner,
        &[&"-ic", &"qemu+ssh://root@host/system", &dir, &"g"],
    );
    assert_fails(&out, 5, "remote connections");

    // The shut-off guest is served, its volume resolved through the pool.
    let dir = t.path().join("stopped");
    let out = run(BIN, &owner, &[&"-ic", &uri, &dir, &"stopped"]);
    assert_ok(&out);
    assert_serves(&dir, 1, &raw1);
    assert_serves(&dir, 2, &raw2);
    let md = metadata_in(&dir);
    let s = &md["source"];
    assert_eq!(s["name"], "stopped");
    assert_eq!(s["origin"]["input_type"], "libvirt");
    assert_eq!(s["origin"]["location"], serde_json::json!([uri, "stopped"]));
    assert_eq!(s["memory_bytes"], 768u64 << 20);
    assert_eq!(s["vcpus"], 2);
    assert_eq!(s["disks"][0]["bus"], "virtio-scsi");
    assert_eq!(s["disks"][0]["unit"], 0);
    assert_eq!(s["disks"][1]["bus"], "virtio-blk");
    assert_eq!(s["disks"][1]["format"], "qcow2");
    assert_eq!(s["disks"][1]["source"], qcow.display().to_string());
    assert_eq!(s["nics"][0]["mac"], "52:54:00:aa:bb:cc");
    cleanup(&dir);
    assert_eq!([sha256(&raw1), sha256(&qcow)], sums, "source modified");
}

#[test]
fn check_validates_without_side_effects() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    // -ic is used; -if, -it and -ip are ignored, as virt-v2v does.
    let virt_v2v = virt_v2v_options(&[]);
    assert_check_accepts(BIN, &dir, &[&dir, &"guest"], &[&[], &virt_v2v]);
    let refused: [(&[&str], &str); 2] = [
        (&["-io", "x=1"], "-io x=1"),
        (&["-ic", "system"], "-ic system"),
    ];
    assert_check_refuses(BIN, &dir, &[&dir, &"g"], &refused);
    let remote = ["-ic", "qemu+ssh://root@host/system"];
    assert_check_fails(
        BIN,
        &dir,
        &[&remote[0], &remote[1], &dir, &"g"],
        5,
        "remote connections",
    );
    assert_check_fails(BIN, &dir, &[&dir, &""], 2, "GUEST");
    assert_check_fails(BIN, &dir, &[&dir], 2, "<GUEST>");
    // The check asks libvirt nothing: a virsh that leaves a mark is not run.
    let bin = t.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let mark = t.path().join("virsh-ran");
    let virsh = format!("#!/bin/sh\ntouch '{}'\nexit 1\n", mark.display());
    std::fs::write(bin.join("virsh"), virsh).unwrap();
    std::fs::set_permissions(bin.join("virsh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let helper = |check: bool| {
        let mut c = std::process::Command::new(BIN);
        c.env("PATH", &path);
        if check {
            c.arg("--check");
        }
        c.args(["-ic", "test:///default"]).arg(&dir).arg("nosuch");
        c.output().unwrap()
    };
    assert_ok(&helper(true));
    assert!(!mark.exists(), "--check ran virsh");
    assert!(!dir.exists());
    // The step does ask it (and fails with virsh's exit).
    assert_fails(&helper(false), 4, "virsh");
    assert!(mark.exists(), "the step did not run virsh");
}
