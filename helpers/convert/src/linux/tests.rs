//! Plans for RHEL, SUSE, Debian/Ubuntu and Xen guests computed from guest
//! trees made for the test (no appliance): which commands would run, which
//! files change, and what applying the plan writes.

use super::*;
use crate::apply::apply;
use crate::guest::DirGuest;
use v2v_meta::{Bus, NetworkKind};

fn disk(i: u32, bus: Option<Bus>) -> SourceDisk {
    SourceDisk {
        index: i,
        socket: format!("in{i}"),
        format: "raw".into(),
        size: 1 << 30,
        allocated: None,
        bus,
        controller: None,
        unit: None,
        source: format!("/images/d{i}.img"),
    }
}

fn nic(mac: Option<&str>) -> Nic {
    Nic {
        mac: mac.map(String::from),
        network: Some("default".into()),
        network_kind: NetworkKind::Network,
        model: Some("vmxnet3".into()),
    }
}

/// A kernel in the tree: vmlinuz, modules.dep (+ builtin), initrd.
fn put_kernel(g: &DirGuest, ver: &str, virtio: bool, initrd: Option<&str>) {
    g.put(&format!("/boot/vmlinuz-{ver}"), "kernel");
    let mut dep = String::from("kernel/drivers/scsi/mpt3sas/mpt3sas.ko.xz: kernel/x.ko\n");
    if virtio {
        dep.push_str(
            "kernel/drivers/block/virtio_blk.ko.xz:\n\
             kernel/drivers/net/virtio_net.ko.xz: kernel/net/core/failover.ko.xz\n\
             kernel/drivers/scsi/virtio_scsi.ko.xz:\n\
             kernel/drivers/char/hw_random/virtio-rng.ko.xz:\n\
             kernel/drivers/virtio/virtio_balloon.ko.xz:\n",
        );
    }
    g.put(&format!("/lib/modules/{ver}/modules.dep"), &dep);
    let builtin = if virtio {
        "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\n"
    } else {
        "kernel/drivers/ata/libata.ko\n"
    };
    g.put(&format!("/lib/modules/{ver}/modules.builtin"), builtin);
    if let Some(i) = initrd {
        g.put(i, "initrd");
    }
}

fn rhel_tree(t: &std::path::Path) -> DirGuest {
    let g = DirGuest::new(t)
        .with_output(
            "command -v",
            "/usr/sbin/dracut\n/usr/sbin/grub2-mkconfig\n/usr/sbin/grubby\n/usr/bin/rpm\n/usr/bin/systemctl\n",
        )
        .with_output(
            "rpm -qa",
            "bash\nkernel-core\nopen-vm-tools\nopen-vm-tools-desktop\nhyperv-daemons\nvim-minimal\n",
        );
    put_kernel(
        &g,
        "5.14.0-70.13.1.el9_0.x86_64",
        true,
        Some("/boot/initramfs-5.14.0-70.13.1.el9_0.x86_64.img"),
    );
    put_kernel(
        &g,
        "4.18.0-80.el8.x86_64",
        true,
        Some("/boot/initramfs-4.18.0-80.el8.x86_64.img"),
    );
    g.put(
        "/etc/fstab",
        "UUID=0a1b2c3d / xfs defaults 0 0\n/dev/sda1 /boot xfs defaults 0 0\n\
         /dev/sda2 swap swap defaults 0 0\n/dev/sdb1 /data ext4 defaults 0 2\n",
    );
    g.put(
        "/etc/default/grub",
        "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"crashkernel=auto resume=/dev/sda2 console=hvc0 rhgb quiet\"\n",
    );
    g.put(
        "/boot/grub2/grub.cfg",
        "menuentry 'RHEL' {\n  linux16 /vmlinuz-5.14.0-70.13.1.el9_0.x86_64 root=UUID=0a1b2c3d resume=/dev/sda2 console=hvc0\n}\n",
    );
    g.put("/boot/grub2/device.map", "(hd0)      /dev/sda\n");
    g.put(
        "/etc/selinux/config",
        "SELINUX=enforcing\nSELINUXTYPE=targeted\n",
    );
    g.put(
        "/etc/sysconfig/network-scripts/ifcfg-ens192",
        "TYPE=Ethernet\nBOOTPROTO=dhcp\nNAME=ens192\nDEVICE=ens192\nONBOOT=yes\n",
    );
    g.put(
        "/etc/modprobe.d/vmware.conf",
        "alias scsi_hostadapter vmw_pvscsi\n",
    );
    g
}

fn rhel_facts(g: &DirGuest) -> Facts {
    gather(
        g,
        Family::Rhel,
        "rhel",
        9,
        "x86_64",
        &[disk(1, Some(Bus::Scsi)), disk(2, Some(Bus::Scsi))],
        &[nic(Some("00:50:56:aa:bb:cc"))],
        false,
    )
    .unwrap()
}

#[test]
fn rhel_plan_commands_and_files() {
    let t = tempfile::tempdir().unwrap();
    let g = rhel_tree(t.path());
    let f = rhel_facts(&g);
    assert_eq!(f.kernels.len(), 2);
    assert!(f.tools.contains("dracut") && f.tools.contains("grubby"));
    let p = plan(&f).unwrap();
    assert_eq!(p.kernel.version, "5.14.0-70.13.1.el9_0.x86_64");
    let scripts: Vec<String> = p
        .scripts()
        .iter()
        .map(|s| {
            s.trim_start_matches("PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH; ")
                .to_string()
        })
        .collect();
    assert_eq!(
        scripts,
        vec![
            "rpm -e hyperv-daemons open-vm-tools open-vm-tools-desktop".to_string(),
            on_scratch_tmpfs(
                "dracut -f --add-drivers 'virtio virtio_ring virtio_pci virtio_blk virtio_scsi virtio_net' \
                 /boot/initramfs-5.14.0-70.13.1.el9_0.x86_64.img 5.14.0-70.13.1.el9_0.x86_64"
            ),
        ]
    );
    let fstab = p.file("/etc/fstab").unwrap();
    assert!(fstab.contains("UUID=0a1b2c3d / xfs"));
    assert!(fstab.contains("/dev/vda1 /boot"));
    assert!(fstab.contains("/dev/vda2 swap"));
    assert!(fstab.contains("/dev/vdb1 /data"));
    let grub = p.file("/etc/default/grub").unwrap();
    assert!(
        grub.contains("resume=/dev/vda2 console=ttyS0 rhgb"),
        "{grub}"
    );
    // grub.cfg got the same edits as /etc/default/grub: no grub2-mkconfig.
    let cfg = p.file("/boot/grub2/grub.cfg").unwrap();
    assert!(cfg.contains("resume=/dev/vda2 console=ttyS0"), "{cfg}");
    assert_eq!(
        p.file("/boot/grub2/device.map").unwrap(),
        "(hd0)      /dev/vda\n"
    );
    assert_eq!(
        p.file("/etc/modprobe.d/vmware.conf").unwrap(),
        "alias scsi_hostadapter virtio_blk\n"
    );
    let link = p.file("/etc/systemd/network/70-v2v-ens192.link").unwrap();
    assert!(link.contains("Driver=virtio_net") && link.contains("Name=ens192"));
    assert!(p
        .actions
        .iter()
        .any(|a| matches!(a, Action::Touch { path, .. } if path == "/.autorelabel")));
    // No initramfs-tools file on RHEL.
    assert!(p.file("/etc/initramfs-tools/modules").is_none());

    // Applying it writes the files and runs the commands in plan order.
    let out = apply(&g, &p).unwrap();
    assert_eq!(
        g.commands()[2..],
        p.scripts()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()[..]
    );
    assert!(g.get("/etc/fstab").unwrap().contains("/dev/vdb1 /data"));
    assert!(g.get("/.autorelabel").is_some());
    assert!(g.get("/etc/systemd/network/70-v2v-ens192.link").is_some());
    let kinds: Vec<&str> = out.changes.iter().map(|c| c.kind.as_str()).collect();
    for k in ["package", "file", "initramfs", "relabel"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    // One change per action, each with the action's time.
    assert_eq!(out.changes.len(), p.actions.len());
    assert!(
        out.changes
            .iter()
            .all(|c| c.seconds.is_some_and(|s| s >= 0.0)),
        "{:?}",
        out.changes
    );
}

#[test]
fn newest_kernel_without_virtio_is_not_chosen() {
    let t = tempfile::tempdir().unwrap();
    let g = rhel_tree(t.path());
    put_kernel(
        &g,
        "6.0.0-1.custom.x86_64",
        false,
        Some("/boot/initramfs-6.0.0-1.custom.x86_64.img"),
    );
    let p = plan(&rhel_facts(&g)).unwrap();
    assert_eq!(p.kernel.version, "5.14.0-70.13.1.el9_0.x86_64");
    assert!(p
        .scripts()
        .iter()
        .any(|s| s.ends_with("grubby --set-default=/boot/vmlinuz-5.14.0-70.13.1.el9_0.x86_64")));
}

#[test]
fn no_virtio_kernel_is_unsupported() {
    let t = tempfile::tempdir().unwrap();
    let g = DirGuest::new(t.path()).with_output("command -v", "/usr/bin/dracut\n/usr/bin/rpm\n");
    put_kernel(
        &g,
        "2.6.18-8.el5",
        false,
        Some("/boot/initrd-2.6.18-8.el5.img"),
    );
    let f = gather(
        &g,
        Family::Rhel,
        "rhel",
        5,
        "x86_64",
        &[disk(1, None)],
        &[],
        false,
    )
    .unwrap();
    let e = plan(&f).unwrap_err();
    assert_eq!(e.code, 5);
    assert!(
        e.message.contains("no installed kernel has virtio"),
        "{}",
        e.message
    );
    assert!(e.message.contains("2.6.18-8.el5"), "{}", e.message);
}

#[test]
fn suse_with_zypper_and_dracut() {
    let t = tempfile::tempdir().unwrap();
    let g = DirGuest::new(t.path())
        .with_output(
            "command -v",
            "/usr/bin/dracut\n/usr/sbin/grub2-mkconfig\n/bin/rpm\n/usr/bin/zypper\n/usr/bin/systemctl\n",
        )
        .with_output("rpm -qa", "open-vm-tools\nlibvmtools0\nvirtualbox-guest-tools\nvirtualbox-kmp-default\nkernel-default\n");
    put_kernel(
        &g,
        "5.14.21-150500.53-default",
        true,
        Some("/boot/initrd-5.14.21-150500.53-default"),
    );
    g.put(
        "/etc/fstab",
        "/dev/sda2 / btrfs defaults 0 0\n/dev/sda1 swap swap defaults 0 0\n",
    );
    g.put(
        "/etc/default/grub",
        "GRUB_CMDLINE_LINUX_DEFAULT=\"splash=silent resume=/dev/sda1 quiet\"\n",
    );
    g.put(
        "/boot/grub2/grub.cfg",
        "linux /boot/vmlinuz root=UUID=x resume=/dev/sda1\n",
    );
    g.put(
        "/etc/sysconfig/bootloader",
        "LOADER_TYPE=\"grub2\"\nDEFAULT_APPEND=\"resume=/dev/sda1 splash=silent\"\n",
    );
    g.put(
        "/etc/sysconfig/network/ifcfg-eth0",
        "BOOTPROTO='dhcp'\nSTARTMODE='auto'\n",
    );
    let f = gather(
        &g,
        Family::Suse,
        "sles",
        15,
        "x86_64",
        &[disk(1, Some(Bus::Sata))],
        &[nic(None)],
        false,
    )
    .unwrap();
    let p = plan(&f).unwrap();
    let s = p.scripts().join("\n");
    assert!(s.contains(
        "zypper --non-interactive --no-refresh remove libvmtools0 open-vm-tools virtualbox-guest-tools virtualbox-kmp-default"
    ), "{s}");
    assert!(s.contains("dracut -f --add-drivers 'virtio virtio_ring virtio_pci virtio_blk virtio_scsi virtio_net' /boot/initrd-5.14.21-150500.53-default 5.14.21-150500.53-default"), "{s}");
    // The same rename in /etc/default/grub and grub.cfg: not regenerated.
    assert!(!s.contains("grub2-mkconfig"), "{s}");
    assert!(p
        .file("/boot/grub2/grub.cfg")
        .unwrap()
        .contains("resume=/dev/vda1"));
    assert!(p
        .file("/etc/sysconfig/bootloader")
        .unwrap()
        .contains("resume=/dev/vda1"));
    assert!(p
        .file("/etc/fstab")
        .unwrap()
        .starts_with("/dev/vda2 / btrfs"));
    let link = p.file("/etc/systemd/network/70-v2v-eth0.link").unwrap();
    assert!(link.contains("Driver=virtio_net"), "{link}");
    // No SELinux config: no relabel.
    assert!(!p.actions.iter().any(|a| matches!(a, Action::Touch { .. })));
}

#[test]
fn old_suse_uses_mkinitrd_and_initrd_modules() {
    let t = tempfile::tempdir().unwrap();
    let g = DirGuest::new(t.path())
        .with_output("command -v", "/sbin/mkinitrd\n/bin/rpm\n")
        .with_output("rpm -qa", "xen-kmp-default\nkernel-default\n");
    put_kernel(
        &g,
        "3.0.101-63-default",
        true,
        Some("/boot/initrd-3.0.101-63-default"),
    );
    g.put(
        "/etc/sysconfig/kernel",
        "INITRD_MODULES=\"mptspi processor thermal\"\nDOMU_INITRD_MODULES=\"xennet xenblk\"\n",
    );
    g.put(
        "/boot/grub/menu.lst",
        "kernel /boot/vmlinuz root=/dev/xvda2 console=xvc0\n",
    );
    g.put(
        "/etc/inittab",
        "x0:12345:respawn:/sbin/agetty -L 9600 xvc0 xterm\n",
    );
    g.put("/etc/securetty", "console\nxvc0\n");
    let f = gather(
        &g,
        Family::Suse,
        "sles",
        11,
        "x86_64",
        &[disk(1, Some(Bus::Xen))],
        &[],
        false,
    )
    .unwrap();
    let p = plan(&f).unwrap();
    let s = p.scripts().join("\n");
    assert!(s.contains("rpm -e xen-kmp-default"), "{s}");
    assert!(s.contains("mkinitrd -m 'virtio_pci virtio_blk virtio_scsi virtio_net' -i /boot/initrd-3.0.101-63-default -k /boot/vmlinuz-3.0.101-63-default"), "{s}");
    assert_eq!(
        p.file("/etc/sysconfig/kernel")
            .unwrap()
            .lines()
            .next()
            .unwrap(),
        "INITRD_MODULES=\"mptspi processor thermal virtio_pci virtio_blk virtio_scsi virtio_net\""
    );
    assert_eq!(
        p.file("/boot/grub/menu.lst").unwrap(),
        "kernel /boot/vmlinuz root=/dev/vda2 console=ttyS0\n"
    );
    assert!(p.file("/etc/inittab").unwrap().contains("ttyS0"));
    assert!(p.file("/etc/securetty").unwrap().ends_with("ttyS0\n"));
    // No systemd: the network name cannot be kept, but nothing names one here.
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

fn debian_tree(t: &std::path::Path) -> DirGuest {
    let g = DirGuest::new(t)
        .with_output(
            "command -v",
            "/usr/sbin/update-initramfs\n/usr/sbin/update-grub\n/usr/bin/dpkg\n/usr/bin/apt-get\n/usr/bin/systemctl\n",
        )
        .with_output(
            "dpkg-query",
            "ii  bash\nii  open-vm-tools\nrc  virtualbox-guest-utils\nii  linux-image-6.1.0-50-amd64\n",
        );
    put_kernel(
        &g,
        "6.1.0-50-amd64",
        true,
        Some("/boot/initrd.img-6.1.0-50-amd64"),
    );
    g.put(
        "/etc/fstab",
        "/dev/sda1 / ext4 errors=remount-ro 0 1\n/dev/sda2 none swap sw 0 0\n",
    );
    g.put(
        "/etc/default/grub",
        "GRUB_CMDLINE_LINUX=\"console=ttyS0 resume=/dev/sda2\"\n",
    );
    g.put(
        "/boot/grub/grub.cfg",
        "linux /boot/vmlinuz root=UUID=abc ro console=ttyS0 resume=/dev/sda2\n",
    );
    g.put(
        "/etc/initramfs-tools/modules",
        "ata_piix\nmptspi\n# virtio_blk\n",
    );
    g.put("/etc/initramfs-tools/conf.d/resume", "RESUME=/dev/sda2\n");
    g.put(
        "/etc/netplan/01-netcfg.yaml",
        "network:\n  version: 2\n  ethernets:\n    ens33:\n      dhcp4: true\n",
    );
    g
}

/// Debian 12 with one disk on the default bus and no NICs.
fn debian_facts(g: &DirGuest) -> Facts {
    gather(
        g,
        Family::Debian,
        "debian",
        12,
        "x86_64",
        &[disk(1, None)],
        &[],
        false,
    )
    .unwrap()
}

#[test]
fn debian_plan_and_regenerated_grub_check() {
    let t = tempfile::tempdir().unwrap();
    // update-grub "regenerates" grub.cfg with an old name in it.
    let g = debian_tree(t.path()).with_effect(
        "update-grub",
        "/boot/grub/grub.cfg",
        "linux /boot/vmlinuz root=/dev/sda1 ro resume=/dev/vda2\n",
    );
    let f = gather(
        &g,
        Family::Debian,
        "ubuntu",
        22,
        "x86_64",
        &[disk(1, None)],
        &[nic(None)],
        false,
    )
    .unwrap();
    assert!(
        !f.packages.contains(&"virtualbox-guest-utils".to_string()),
        "rc = removed"
    );
    let p = plan(&f).unwrap();
    let s = p.scripts().join("\n");
    assert!(
        s.contains("DEBIAN_FRONTEND=noninteractive dpkg --purge open-vm-tools"),
        "{s}"
    );
    assert!(s.contains("update-initramfs -u -k 6.1.0-50-amd64"), "{s}");
    assert!(s.ends_with("update-grub"), "{s}");
    assert_eq!(
        p.file("/etc/initramfs-tools/modules").unwrap(),
        "ata_piix\nmptspi\n# virtio_blk\n# virtio drivers, added by helper-v2v-convert\n\
         virtio_pci\nvirtio_blk\nvirtio_scsi\nvirtio_net\n"
    );
    assert_eq!(
        p.file("/etc/initramfs-tools/conf.d/resume").unwrap(),
        "RESUME=/dev/vda2\n"
    );
    assert!(p.file("/etc/systemd/network/70-v2v-ens33.link").is_some());
    let out = apply(&g, &p).unwrap();
    // The regenerated file was checked and fixed, with a warning.
    assert_eq!(
        g.get("/boot/grub/grub.cfg").unwrap(),
        "linux /boot/vmlinuz root=/dev/vda1 ro resume=/dev/vda2\n"
    );
    assert!(
        out.warnings.iter().any(|w| w.contains("/dev/sda1")),
        "{:?}",
        out.warnings
    );
    assert!(out
        .changes
        .iter()
        .any(|c| c.detail.contains("left by the boot loader tool")));
}

#[test]
fn failed_removal_is_a_warning_failed_initramfs_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let g = debian_tree(t.path()).with_failure("dpkg --purge", "dependency problems");
    let p = plan(&debian_facts(&g)).unwrap();
    let out = apply(&g, &p).unwrap();
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("dependency problems")),
        "{:?}",
        out.warnings
    );
    let t = tempfile::tempdir().unwrap();
    let g = debian_tree(t.path()).with_failure("update-initramfs", "mkinitramfs failed");
    let p = plan(&debian_facts(&g)).unwrap();
    let e = apply(&g, &p).unwrap_err();
    assert_eq!(e.code, 4);
    assert!(e.message.contains("mkinitramfs failed"), "{}", e.message);
}

#[test]
fn helpers() {
    assert_eq!(
        compare_versions("5.14.0-70", "4.18.0-80"),
        Ordering::Greater
    );
    assert_eq!(
        compare_versions("6.1.0-9-amd64", "6.1.0-10-amd64"),
        Ordering::Less
    );
    assert_eq!(compare_versions("3.10.0", "3.10.0"), Ordering::Equal);
    assert_eq!(
        parse_dpkg_query("ii  bash\nrc  old-pkg\nun  never\niU  half\nii  libc6:amd64\n"),
        vec!["bash", "half", "libc6"]
    );
    assert!(selinux_enabled("# x\nSELINUX=permissive\n"));
    assert!(!selinux_enabled("SELINUX=disabled\n"));
    assert_eq!(
        foreign_packages(&[
            "bash".into(),
            "open-vm-tools-desktop".into(),
            "prl-tools".into()
        ]),
        vec![
            ("open-vm-tools-desktop".to_string(), "VMware Tools"),
            ("prl-tools".to_string(), "Parallels Tools")
        ]
    );
    let (t, d) = fix_modprobe_aliases("alias eth0 e1000\nalias eth1 virtio_net\noptions x y\n");
    assert_eq!(
        t,
        "alias eth0 virtio_net\nalias eth1 virtio_net\noptions x y\n"
    );
    assert_eq!(d, vec!["eth0 e1000 → virtio_net"]);
    let mut files = BTreeMap::new();
    files.insert(
        "/etc/network/interfaces".to_string(),
        "auto lo\niface lo inet loopback\nallow-hotplug ens33\niface ens33 inet dhcp\n".to_string(),
    );
    files.insert(
        "/etc/systemd/network/10-ens33.network".to_string(),
        "[Match]\nName=ens33 eth0\n[Network]\nDHCP=yes\n".to_string(),
    );
    let units = configured_interfaces(&files);
    assert_eq!(units.len(), 2);
    let (name, unmet) = primary_interface(&units).unwrap();
    assert_eq!(name, "ens33");
    assert!(unmet.is_empty());
    assert_eq!(Family::of("rocky"), Some(Family::Rhel));
    assert_eq!(Family::of("opensuse"), Some(Family::Suse));
    assert_eq!(Family::of("windows"), None);
}

mod sections;

/// Debian 12 as the project's test guests are: UEFI with grub-efi (and
/// shim) in the ESP but no fallback loader, LUKS root named in crypttab
/// by device, a second SCSI disk mounted and swapped on by device name,
/// resume= in the grub defaults, ens33 in ifupdown and in networkd.
fn debian_uefi_tree(t: &std::path::Path) -> DirGuest {
    let g = DirGuest::new(t)
        .with_output(
            "command -v",
            "/usr/sbin/update-initramfs\n/usr/sbin/update-grub\n/usr/bin/dpkg\n/usr/bin/systemctl\n",
        )
        .with_output("dpkg-query", "ii  open-vm-tools\nii  cryptsetup-initramfs\n")
        .with_effect(
            "update-grub",
            "/boot/grub/grub.cfg",
            "linux /vmlinuz-6.1.0-28-amd64 root=/dev/mapper/sda2_crypt ro resume=/dev/vdb2\n",
        );
    put_kernel(
        &g,
        "6.1.0-28-amd64",
        true,
        Some("/boot/initrd.img-6.1.0-28-amd64"),
    );
    g.put(
        "/etc/fstab",
        "/dev/mapper/sda2_crypt / ext4 errors=remount-ro 0 1\n\
         UUID=77aa /boot ext4 defaults 0 2\n\
         UUID=1B2C-3D4E /boot/efi vfat umask=0077 0 1\n\
         /dev/sdb1 /data ext4 defaults 0 2\n\
         /dev/sdb2 none swap sw 0 0\n",
    );
    g.put(
        "/etc/crypttab",
        "sda2_crypt /dev/sda2 /etc/keys/root.key luks,discard\n",
    );
    g.put(
        "/etc/default/grub",
        "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX=\"console=ttyS0 resume=/dev/sdb2\"\n",
    );
    g.put(
        "/boot/efi/EFI/debian/grub.cfg",
        "search.fs_uuid 77aa root\nset prefix=($root)'/grub'\nconfigfile $prefix/grub.cfg\n",
    );
    for f in [
        "grubx64.efi",
        "shimx64.efi",
        "mmx64.efi",
        "fbx64.efi",
        "BOOTX64.CSV",
    ] {
        g.put(&format!("/boot/efi/EFI/debian/{f}"), "efi");
    }
    g.put(
        "/etc/network/interfaces",
        "auto lo\niface lo inet loopback\nauto ens33\niface ens33 inet static\n  address 192.0.2.10/24\n",
    );
    g.put(
        "/etc/systemd/network/10-static.network",
        "[Match]\nName=ens33\n\n[Network]\nAddress=198.51.100.7/24\n",
    );
    g
}

/// The facts of a Debian 12 x86_64 tree.
fn debian12(g: &DirGuest, disks: &[SourceDisk], nics: &[Nic], uefi: bool) -> Facts {
    gather(g, Family::Debian, "debian", 12, "x86_64", disks, nics, uefi).unwrap()
}

#[test]
fn debian_uefi_two_disks_luks_and_static_network() {
    let t = tempfile::tempdir().unwrap();
    let g = debian_uefi_tree(t.path());
    let disks = [disk(1, Some(Bus::Scsi)), disk(2, Some(Bus::Scsi))];
    let f = debian12(&g, &disks, &[nic(Some("00:0c:29:aa:bb:cc"))], true);
    let p = plan(&f).unwrap();
    // Every disk's names, in every file that names them.
    let fstab = p.file("/etc/fstab").unwrap();
    assert!(fstab.contains("/dev/vdb1 /data") && fstab.contains("/dev/vdb2 none swap"));
    assert!(fstab.contains("/dev/mapper/sda2_crypt / ext4"), "{fstab}");
    assert_eq!(
        p.file("/etc/crypttab").unwrap(),
        "sda2_crypt /dev/vda2 /etc/keys/root.key luks,discard\n"
    );
    assert!(p
        .file("/etc/default/grub")
        .unwrap()
        .contains("resume=/dev/vdb2\""));
    // The ESP's stub is not the grub configuration: update-grub writes
    // /boot/grub/grub.cfg, which is checked afterwards.
    assert_eq!(grub_config_path(&f), "/boot/grub/grub.cfg");
    let s = p.scripts();
    let i_initramfs = s
        .iter()
        .position(|c| c.contains("update-initramfs -u -k 6.1.0-28-amd64"))
        .unwrap();
    let i_grub = s.iter().position(|c| c.ends_with("update-grub")).unwrap();
    assert!(i_initramfs < i_grub, "{s:?}");
    // The fallback loader: shim as BOOTX64.EFI, with grub, MokManager and
    // the stub grub.cfg beside it (not fbx64.efi).
    let efi = s.iter().find(|c| c.contains("BOOTX64.EFI")).unwrap();
    assert!(
        efi.ends_with(
            "mkdir -p /boot/efi/EFI/BOOT && cp /boot/efi/EFI/debian/shimx64.efi \
             /boot/efi/EFI/BOOT/BOOTX64.EFI && cp /boot/efi/EFI/debian/grubx64.efi \
             /boot/efi/EFI/BOOT/ && cp /boot/efi/EFI/debian/mmx64.efi /boot/efi/EFI/BOOT/ \
             && cp /boot/efi/EFI/debian/grub.cfg /boot/efi/EFI/BOOT/"
        ),
        "{efi}"
    );
    // Both network configurations name ens33: one .link keeps it, whatever
    // MAC the target gets.
    let link = p.file("/etc/systemd/network/70-v2v-ens33.link").unwrap();
    assert!(link.contains("[Match]\nDriver=virtio_net\n") && link.contains("Name=ens33"));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // Applied: the .link is written before the initramfs (which copies it)
    // is rebuilt; grub.cfg regenerated and checked.
    let out = apply(&g, &p).unwrap();
    assert!(g.get("/etc/systemd/network/70-v2v-ens33.link").is_some());
    let cmds = g.commands();
    assert!(cmds.iter().any(|c| c.contains("BOOTX64.EFI")), "{cmds:?}");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);

    // With a fallback loader already there, or on BIOS: nothing to copy.
    g.put("/boot/efi/EFI/BOOT/bootx64.efi", "efi");
    let f2 = debian12(&g, &disks, &[], true);
    assert!(!plan(&f2)
        .unwrap()
        .scripts()
        .iter()
        .any(|c| c.contains("BOOTX64")));
    let f3 = debian12(&g, &disks, &[], false);
    assert!(f3.efi_files.is_empty());
}

#[test]
fn uefi_without_a_loader_to_copy_is_a_warning() {
    let t = tempfile::tempdir().unwrap();
    let g = debian_uefi_tree(t.path());
    std::fs::remove_dir_all(t.path().join("boot/efi/EFI/debian")).unwrap();
    g.put("/boot/efi/EFI/debian/grub.cfg", "configfile x\n");
    let f = debian12(&g, &[disk(1, None)], &[], true);
    let p = plan(&f).unwrap();
    assert!(!p.scripts().iter().any(|c| c.contains("BOOTX64")));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("without /boot/efi/EFI/BOOT/BOOTX64.EFI")),
        "{:?}",
        p.warnings
    );
}

/// `/etc/default/grub` edited in a way `grub.cfg` was not (here: grub.cfg
/// never had the console the defaults name): the config is regenerated;
/// edited alike: it is not.
#[test]
fn grub_config_regenerated_only_when_the_edits_differ() {
    let t = tempfile::tempdir().unwrap();
    let g = rhel_tree(t.path());
    let mkconfig = |g: &DirGuest| {
        plan(&rhel_facts(g))
            .unwrap()
            .scripts()
            .iter()
            .any(|s| s.ends_with("grub2-mkconfig -o /boot/grub2/grub.cfg"))
    };
    assert!(!mkconfig(&g));
    g.put(
        "/boot/grub2/grub.cfg",
        "menuentry 'RHEL' {\n  linux16 /vmlinuz-5.14.0-70.13.1.el9_0.x86_64 root=UUID=0a1b2c3d resume=/dev/sda2\n}\n",
    );
    assert!(mkconfig(&g));
    // A grub.cfg with nothing to rename: regenerated from the new defaults.
    g.put("/boot/grub2/grub.cfg", "menuentry 'RHEL' {}\n");
    assert!(mkconfig(&g));
}
