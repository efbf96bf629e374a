//! helper-v2v-input-vmx run as a program: a `.vmx` with a monolithicSparse
//! and a monolithicFlat VMDK, read locally and over ssh from an sshd of
//! the test's own on 127.0.0.1 (its own host key, client key and config;
//! killed by PID at the end).

use std::path::{Path, PathBuf};
use std::process::Command;
use v2v_test_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-input-vmx");

const VMX: &str = r#".encoding = "UTF-8"
config.version = "8"
virtualHW.version = "14"
displayName = "vmxguest"
guestOS = "debian10-64"
memSize = "2048"
numvcpus = "4"
cpuid.coresPerSocket = "2"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:0.present = "TRUE"
scsi0:0.deviceType = "scsi-hardDisk"
scsi0:0.fileName = "sparse.vmdk"
sata0.present = "TRUE"
sata0:1.present = "TRUE"
sata0:1.fileName = "flat.vmdk"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.networkName = "VM Network"
ethernet0.addressType = "generated"
ethernet0.generatedAddress = "00:0C:29:01:02:03"
ethernet1.present = "TRUE"
ethernet1.virtualDev = "e1000"
ethernet1.addressType = "static"
ethernet1.address = "00:50:56:00:00:42"
"#;

/// `t/guest/` with `vmxguest.vmx`, `sparse.vmdk` (monolithicSparse) and
/// `flat.vmdk` + `flat-flat.vmdk`; returns (vmx, raw of disk 1, raw of disk 2).
fn make_guest(t: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let g = t.join("guest");
    std::fs::create_dir(&g).unwrap();
    let r1 = t.join("d1.raw");
    let r2 = t.join("d2.raw");
    make_raw(&r1, 4, "vmx-sparse");
    make_raw(&r2, 2, "vmx-flat");
    sh(&format!(
        "qemu-img convert -f raw -O vmdk {} {g}/sparse.vmdk && \
         qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat {} {g}/flat.vmdk",
        r1.display(),
        r2.display(),
        g = g.display()
    ));
    assert!(g.join("flat-flat.vmdk").exists());
    let vmx = g.join("vmxguest.vmx");
    std::fs::write(&vmx, VMX).unwrap();
    (vmx, r1, r2)
}

fn sums(vmx: &Path) -> Vec<String> {
    let g = vmx.parent().unwrap();
    ["vmxguest.vmx", "sparse.vmdk", "flat.vmdk", "flat-flat.vmdk"]
        .iter()
        .map(|f| sha256(&g.join(f)))
        .collect()
}

fn check_metadata(dir: &Path, input_type_location: &str) {
    let md = metadata_in(dir);
    let s = &md["source"];
    assert_eq!(s["name"], "vmxguest");
    assert_eq!(s["origin"]["input_type"], "vmx");
    assert_eq!(s["origin"]["location"][0], input_type_location);
    assert_eq!(s["memory_bytes"], 2u64 << 30);
    assert_eq!(s["vcpus"], 4);
    assert_eq!(s["cpu"]["topology"]["sockets"], 2);
    assert_eq!(s["disks"][0]["bus"], "scsi");
    assert_eq!(s["disks"][0]["format"], "vmdk");
    assert_eq!(s["disks"][0]["size"], 4 << 20);
    assert_eq!(s["disks"][1]["bus"], "sata");
    assert_eq!(s["disks"][1]["unit"], 1);
    assert_eq!(s["disks"][1]["format"], "raw");
    assert_eq!(s["disks"][1]["size"], 2 << 20);
    assert_eq!(s["nics"][0]["mac"], "00:0c:29:01:02:03");
    assert_eq!(s["nics"][0]["model"], "vmxnet3");
    assert_eq!(s["nics"][1]["mac"], "00:50:56:00:00:42");
    assert_eq!(s["os_hint"], "debian10-64");
}

#[test]
fn local_vmx_with_sparse_and_flat_disks() {
    let t = tempfile::tempdir().unwrap();
    let (vmx, r1, r2) = make_guest(t.path());
    let before = sums(&vmx);
    let owner = Owner::new();
    let dir = t.path().join("v2v");
    let out = run(BIN, &owner, &[&dir, &vmx]);
    assert_ok(&out);
    assert_serves(&dir, 1, &r1);
    assert_serves(&dir, 2, &r2);
    check_metadata(&dir, &vmx.display().to_string());
    cleanup(&dir);
    assert_eq!(sums(&vmx), before, "source modified");

    // A guest with a snapshot is refused (exit 5), nothing left running.
    let g = vmx.parent().unwrap();
    sh(&format!(
        "cd {} && qemu-img create -q -f vmdk -b sparse.vmdk -F vmdk snap-000001.vmdk",
        g.display()
    ));
    let snap = g.join("snap.vmx");
    std::fs::write(
        &snap,
        VMX.replace("\"sparse.vmdk\"", "\"snap-000001.vmdk\""),
    )
    .unwrap();
    let dir = t.path().join("snap");
    let out = run(BIN, &owner, &[&dir, &snap]);
    assert_fails(&out, 5, "snapshot");
    assert_nothing_left(&dir);

    // A disk file that is missing: contract error, nothing left running.
    let missing = g.join("missing.vmx");
    std::fs::write(&missing, VMX.replace("\"flat.vmdk\"", "\"nope.vmdk\"")).unwrap();
    let dir = t.path().join("missing");
    let out = run(BIN, &owner, &[&dir, &missing]);
    assert_fails(&out, 3, "nope.vmdk");
    assert_nothing_left(&dir);

    let out = run(BIN, &owner, &[&"-it", &"vddk", &t.path().join("x"), &vmx]);
    assert_fails(&out, 2, "-it vddk");
}

#[test]
fn vmx_over_ssh_copies_correctly() {
    let t = tempfile::tempdir().unwrap();
    let (vmx, r1, r2) = make_guest(t.path());
    let before = sums(&vmx);
    let keys = t.path().join("ssh");
    std::fs::create_dir(&keys).unwrap();
    let sshd = Sshd::start(&keys);
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let uri = format!(
        "ssh://{}@127.0.0.1:{}{}",
        user.trim(),
        sshd.port,
        vmx.display()
    );
    let identity = format!("ssh-identity={}", sshd.dir.join("id").display());
    let known = format!("ssh-known-hosts={}", sshd.dir.join("known_hosts").display());
    let owner = Owner::new();
    let dir = t.path().join("v2v");
    let out = run(
        BIN,
        &owner,
        &[
            &"-it", &"ssh", &"-io", &identity, &"-io", &known, &dir, &uri,
        ],
    );
    assert_ok(&out);
    assert_serves(&dir, 1, &r1);
    assert_serves(&dir, 2, &r2);
    check_metadata(&dir, &uri);
    let md = metadata_in(&dir);
    assert!(md["source"]["disks"][1]["source"]
        .as_str()
        .unwrap()
        .ends_with("/guest/flat-flat.vmdk"));
    cleanup(&dir);
    assert_eq!(sums(&vmx), before, "source modified");

    // A host key that does not match known_hosts: ssh refuses (exit 4).
    let other = t.path().join("other_known_hosts");
    std::fs::write(
        &other,
        format!(
            "[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIILkWLhg3ml28+JtUlG0PCemdp0YAL8ISik5EsrrUdRn\n",
            sshd.port
        ),
    )
    .unwrap();
    let known = format!("ssh-known-hosts={}", other.display());
    let dir = t.path().join("badkey");
    let out = run(
        BIN,
        &owner,
        &[
            &"-it", &"ssh", &"-io", &identity, &"-io", &known, &dir, &uri,
        ],
    );
    assert_fails(&out, 4, "ssh failed");
    assert_nothing_left(&dir);

    // With host key checking off, the same known_hosts does not matter.
    let dir = t.path().join("noverify");
    let out = run(
        BIN,
        &owner,
        &[
            &"-io",
            &identity,
            &"-io",
            &known,
            &"-io",
            &"ssh-verify-host=false",
            &dir,
            &uri,
        ],
    );
    assert_ok(&out);
    assert_serves(&dir, 1, &r1);
    cleanup(&dir);
    drop(sshd);
}

#[test]
fn check_validates_without_side_effects() {
    let t = tempfile::tempdir().unwrap();
    let (vmx, _, _) = make_guest(t.path());
    let dir = t.path().join("v2v");
    let pw = t.path().join("pw");
    std::fs::write(&pw, "secret\n").unwrap();
    let pw = pw.display().to_string();
    // -if and -ic are ignored; so is -ip for a local .vmx.
    let virt_v2v = virt_v2v_options(&["-it"]);
    assert_check_accepts(BIN, &dir, &[&dir, &vmx], &[&[], &virt_v2v]);
    let refused: [(&[&str], &str); 3] = [
        (&["-it", "vddk"], "-it vddk"),
        (&["-io", "x=1"], "-io x=1"),
        (&["-it", "ssh"], "-it ssh"),
    ];
    assert_check_refuses(BIN, &dir, &[&dir, &vmx], &refused);
    // Over ssh the check connects to nothing: a host that cannot exist passes.
    let remote = "ssh://root@host.invalid/vmfs/volumes/ds1/g/g.vmx";
    let identity = format!("ssh-identity={pw}");
    let nokey = format!("ssh-identity={}", t.path().join("nokey").display());
    let ssh = ["-it", "ssh", "-ip", &pw, "-io", &identity];
    assert_check_accepts(BIN, &dir, &[&dir, &remote], &[&ssh]);
    let refused: [(&[&str], &str); 3] = [
        (&["-io", "bogus=1"], "-io bogus"),
        (&["-io", &nokey], "-io ssh-identity"),
        (&["-ip", "/nonexistent"], "-ip /nonexistent"),
    ];
    assert_check_refuses(BIN, &dir, &[&dir, &remote], &refused);
    assert_check_fails(BIN, &dir, &[&dir, &"ssh://host.invalid"], 2, "no path");
    // Files: the .vmx and what it names (exit 3, as the step).
    let nope = t.path().join("nope.vmx");
    assert_check_fails(BIN, &dir, &[&dir, &nope], 3, "nope.vmx");
    let g = vmx.parent().unwrap();
    let missing = g.join("missing.vmx");
    std::fs::write(&missing, VMX.replace("\"flat.vmdk\"", "\"nope.vmdk\"")).unwrap();
    assert_check_fails(BIN, &dir, &[&dir, &missing], 3, "nope.vmdk");
    std::fs::rename(g.join("flat-flat.vmdk"), g.join("moved.vmdk")).unwrap();
    assert_check_fails(BIN, &dir, &[&dir, &vmx], 3, "flat-flat.vmdk");
}
