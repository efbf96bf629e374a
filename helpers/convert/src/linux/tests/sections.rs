//! Each section of [`plan`] alone, on a guest tree made for the test: what
//! it adds (actions, edits, warnings) and when it adds nothing.

use super::{disk, nic, put_kernel};
use crate::guest::DirGuest;
use crate::linux::*;
use std::path::Path;
use v2v_meta::Bus;

/// A tree whose PATH has `tools` and whose package database lists
/// `packages` (dpkg for Debian, rpm otherwise).
fn tree(t: &Path, family: Family, tools: &[&str], packages: &[&str]) -> DirGuest {
    let tools: String = tools.iter().map(|t| format!("/usr/bin/{t}\n")).collect();
    let (query, listed): (&str, String) = match family {
        Family::Debian => (
            "dpkg-query",
            packages.iter().map(|p| format!("ii  {p}\n")).collect(),
        ),
        _ => (
            "rpm -qa",
            packages.iter().map(|p| format!("{p}\n")).collect(),
        ),
    };
    DirGuest::new(t)
        .with_output("command -v", &tools)
        .with_output(query, &listed)
}

/// The facts of `g`: one SCSI disk, `nics`.
fn facts(g: &DirGuest, family: Family, nics: &[Nic]) -> Facts {
    let distro = match family {
        Family::Debian => "debian",
        Family::Rhel => "rhel",
        Family::Suse => "sles",
    };
    gather(
        g,
        family,
        distro,
        9,
        "x86_64",
        &[disk(1, Some(Bus::Scsi))],
        nics,
        false,
    )
    .unwrap()
}

/// Facts of a tree with `tools`, no packages, one virtio kernel.
fn facts_with(family: Family, tools: &[&str], setup: impl Fn(&DirGuest)) -> Facts {
    let t = tempfile::tempdir().unwrap();
    let g = tree(t.path(), family, tools, &[]);
    put_kernel(&g, "5.14.0-1", true, Some("/boot/initramfs-5.14.0-1.img"));
    setup(&g);
    facts(&g, family, &[])
}

/// The files the edits write: path → (content, what changed).
fn written(edits: Edits) -> Vec<(String, String, String)> {
    edits
        .into_actions()
        .into_iter()
        .map(|a| match a {
            Action::Write {
                path,
                content,
                change,
            } => (path, content, change.detail),
            other => panic!("edits make writes only: {other:?}"),
        })
        .collect()
}

fn script(a: &Action) -> &str {
    match a {
        Action::Run { script, .. } => script
            .strip_prefix(GUEST_PATH)
            .expect("every command sets PATH"),
        other => panic!("not a command: {other:?}"),
    }
}

#[test]
fn boot_kernel_is_the_newest_with_virtio_or_names_those_found() {
    let t = tempfile::tempdir().unwrap();
    let g = tree(t.path(), Family::Rhel, &["rpm"], &[]);
    put_kernel(&g, "6.0.0-1", false, None);
    put_kernel(&g, "5.14.0-2", true, None);
    put_kernel(&g, "5.14.0-1", true, None);
    let f = facts(&g, Family::Rhel, &[]);
    assert_eq!(boot_kernel(&f.kernels).unwrap().version, "5.14.0-2");

    let e = boot_kernel(&f.kernels[2..]).unwrap_err();
    assert_eq!(e.code, 5);
    assert!(e.message.contains(": 6.0.0-1; install"), "{}", e.message);
    let e = boot_kernel(&[]).unwrap_err();
    assert!(
        e.message.contains("no kernels found in /boot"),
        "{}",
        e.message
    );
}

#[test]
fn foreign_packages_are_removed_with_the_family_tool() {
    let cases = [
        (
            Family::Debian,
            &["dpkg"][..],
            "DEBIAN_FRONTEND=noninteractive dpkg --purge open-vm-tools",
            "removed VMware Tools with dpkg --purge",
        ),
        (
            Family::Rhel,
            &["rpm", "zypper"][..],
            "rpm -e open-vm-tools",
            "removed VMware Tools with rpm -e",
        ),
        (
            Family::Suse,
            &["rpm", "zypper"][..],
            "zypper --non-interactive --no-refresh remove open-vm-tools",
            "removed VMware Tools with zypper remove",
        ),
        (
            Family::Suse,
            &["rpm"][..],
            "rpm -e open-vm-tools",
            "removed VMware Tools with rpm -e",
        ),
    ];
    for (family, tools, want, detail) in cases {
        let t = tempfile::tempdir().unwrap();
        let g = tree(t.path(), family, tools, &["bash", "open-vm-tools"]);
        let a = remove_foreign_packages(&facts(&g, family, &[])).unwrap();
        assert_eq!(script(&a), want, "{family:?}");
        assert_eq!(a.change().target, "open-vm-tools");
        assert_eq!(a.change().detail, detail);
        assert!(matches!(
            a,
            Action::Run {
                on_error: OnError::Warn,
                ..
            }
        ));
    }
    let t = tempfile::tempdir().unwrap();
    let g = tree(t.path(), Family::Rhel, &["rpm"], &["bash", "kernel"]);
    assert_eq!(remove_foreign_packages(&facts(&g, Family::Rhel, &[])), None);
}

#[test]
fn tarball_uninstallers_run_each_its_own_way() {
    let t = tempfile::tempdir().unwrap();
    let g = tree(t.path(), Family::Rhel, &["rpm"], &[]);
    g.put("/usr/bin/vmware-uninstall-tools.pl", "");
    g.put("/opt/VBoxGuestAdditions-7.0.10/uninstall.sh", "");
    g.put("/usr/lib/parallels-tools/install", "");
    let actions = run_foreign_uninstallers(&facts(&g, Family::Rhel, &[]));
    let scripts: Vec<&str> = actions.iter().map(script).collect();
    assert_eq!(
        scripts,
        vec![
            "/usr/bin/vmware-uninstall-tools.pl",
            "/opt/VBoxGuestAdditions-7.0.10/uninstall.sh",
            "/usr/lib/parallels-tools/install --uninstall",
        ]
    );
    assert_eq!(
        actions[1].change().detail,
        "ran the uninstaller of VirtualBox Guest Additions"
    );
    let t = tempfile::tempdir().unwrap();
    let g = tree(t.path(), Family::Rhel, &["rpm"], &[]);
    assert!(run_foreign_uninstallers(&facts(&g, Family::Rhel, &[])).is_empty());
}

#[test]
fn devices_are_renamed_in_boot_and_mount_files_only() {
    let f = facts_with(Family::Rhel, &["rpm"], |g| {
        g.put("/etc/fstab", "/dev/sda1 / xfs defaults 0 0\n");
        g.put("/etc/crypttab", "luks UUID=x none\n");
        g.put(
            "/boot/loader/entries/a.conf",
            "options root=/dev/sda1 resume=/dev/sda2\n",
        );
        // Not a file whose device names are remapped.
        g.put("/etc/modprobe.d/x.conf", "# /dev/sda1\n");
    });
    let mut edits = Edits::default();
    remap_devices(&f, &DeviceMap::for_disks(&f.disks), &mut edits);
    assert_eq!(
        written(edits),
        vec![
            (
                "/boot/loader/entries/a.conf".to_string(),
                "options root=/dev/vda1 resume=/dev/vda2\n".to_string(),
                "renamed block devices: /dev/sda1 → /dev/vda1, /dev/sda2 → /dev/vda2".to_string()
            ),
            (
                "/etc/fstab".to_string(),
                "/dev/vda1 / xfs defaults 0 0\n".to_string(),
                "renamed block devices: /dev/sda1 → /dev/vda1".to_string()
            ),
        ]
    );
}

#[test]
fn serial_console_moves_to_ttys0_after_earlier_edits() {
    let f = facts_with(Family::Suse, &["rpm"], |g| {
        g.put(
            "/etc/default/grub",
            "GRUB_CMDLINE_LINUX=\"root=/dev/sda1 console=xvc0\"\n",
        );
        g.put(
            "/etc/inittab",
            "x0:12345:respawn:/sbin/agetty -L 9600 hvc0 xterm\n",
        );
        g.put("/etc/securetty", "console\nxvc0");
        g.put("/etc/fstab", "/dev/sda1 / ext4 defaults,console=hvc0 0 0\n");
    });
    let mut edits = Edits::default();
    remap_devices(&f, &DeviceMap::for_disks(&f.disks), &mut edits);
    serial_console(&f, &mut edits);
    let w = written(edits);
    let (path, content, detail) = &w[0];
    assert_eq!(path, "/etc/default/grub");
    assert_eq!(
        content, "GRUB_CMDLINE_LINUX=\"root=/dev/vda1 console=ttyS0\"\n",
        "the console fix edits the renamed text"
    );
    assert_eq!(
        detail,
        "renamed block devices: /dev/sda1 → /dev/vda1; serial console: xvc0/hvc0 → ttyS0"
    );
    assert_eq!(w[1].0, "/etc/fstab");
    assert!(w[1].1.contains("console=hvc0"), "fstab has no command line");
    assert_eq!(
        (w[2].0.as_str(), w[2].1.as_str(), w[2].2.as_str()),
        (
            "/etc/inittab",
            "x0:12345:respawn:/sbin/agetty -L 9600 ttyS0 xterm\n",
            "serial console getty on ttyS0"
        )
    );
    assert_eq!(
        (w[3].0.as_str(), w[3].1.as_str(), w[3].2.as_str()),
        (
            "/etc/securetty",
            "console\nxvc0\nttyS0\n",
            "root may log in on ttyS0"
        )
    );
    assert_eq!(w.len(), 4);

    // Already a serial console: nothing to do.
    let f = facts_with(Family::Suse, &["rpm"], |g| {
        g.put("/etc/securetty", "console\nxvc0\nttyS0\n");
        g.put("/boot/grub/menu.lst", "kernel /vmlinuz console=ttyS0\n");
    });
    let mut edits = Edits::default();
    serial_console(&f, &mut edits);
    assert!(written(edits).is_empty());
}

#[test]
fn modprobe_aliases_point_at_virtio() {
    let f = facts_with(Family::Rhel, &["rpm"], |g| {
        g.put(
            "/etc/modprobe.conf",
            "alias eth0 e1000\nalias scsi_hostadapter mptspi\n",
        );
        g.put("/etc/modprobe.d/ok.conf", "alias eth1 virtio_net\n");
        g.put(
            "/etc/modprobe.d/vmware.conf",
            "alias scsi_hostadapter vmw_pvscsi\n",
        );
        g.put("/etc/modules.conf", "alias scsi_hostadapter1 BusLogic\n");
    });
    let mut edits = Edits::default();
    modprobe_aliases(&f, &mut edits);
    let w = written(edits);
    let paths: Vec<&str> = w.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/etc/modprobe.conf",
            "/etc/modprobe.d/vmware.conf",
            "/etc/modules.conf"
        ]
    );
    assert_eq!(
        w[0],
        (
            "/etc/modprobe.conf".to_string(),
            "alias eth0 virtio_net\nalias scsi_hostadapter virtio_blk\n".to_string(),
            "module aliases: eth0 e1000 → virtio_net, scsi_hostadapter mptspi → virtio_blk"
                .to_string()
        )
    );
    assert_eq!(w[2].1, "alias scsi_hostadapter1 virtio_blk\n");
}

#[test]
fn initramfs_module_lists_get_the_missing_drivers() {
    let drivers = ["virtio_blk", "virtio_net"];
    // Debian: appended after the existing list, which may lack a newline.
    let f = facts_with(Family::Debian, &["dpkg"], |g| {
        g.put("/etc/initramfs-tools/modules", "virtio_net\nata_piix");
    });
    let mut edits = Edits::default();
    initramfs_module_list(&f, &drivers, &mut edits);
    assert_eq!(
        written(edits),
        vec![(
            "/etc/initramfs-tools/modules".to_string(),
            "virtio_net\nata_piix\n# virtio drivers, added by helper-v2v-convert\nvirtio_blk\n"
                .to_string(),
            "added virtio_blk to the initramfs module list".to_string()
        )]
    );
    // Debian without the file: created.
    let f = facts_with(Family::Debian, &["dpkg"], |_| {});
    let mut edits = Edits::default();
    initramfs_module_list(&f, &drivers, &mut edits);
    assert_eq!(
        written(edits)[0].1,
        "# virtio drivers, added by helper-v2v-convert\nvirtio_blk\nvirtio_net\n"
    );
    // SUSE with mkinitrd: INITRD_MODULES; with dracut: nothing.
    let suse = |tools: &[&str]| {
        let f = facts_with(Family::Suse, tools, |g| {
            g.put("/etc/sysconfig/kernel", "INITRD_MODULES=\"mptspi\"\n");
        });
        let mut edits = Edits::default();
        initramfs_module_list(&f, &drivers, &mut edits);
        written(edits)
    };
    assert_eq!(
        suse(&["rpm", "mkinitrd"]),
        vec![(
            "/etc/sysconfig/kernel".to_string(),
            "INITRD_MODULES=\"mptspi virtio_blk virtio_net\"\n".to_string(),
            "INITRD_MODULES += virtio_blk virtio_net".to_string()
        )]
    );
    assert!(suse(&["rpm", "dracut"]).is_empty());
    // RHEL: dracut is told on its command line.
    let f = facts_with(Family::Rhel, &["rpm"], |_| {});
    let mut edits = Edits::default();
    initramfs_module_list(&f, &drivers, &mut edits);
    assert!(written(edits).is_empty());
}

#[test]
fn interface_name_kept_by_a_link_file_or_warned_about() {
    let setup = |g: &DirGuest| {
        g.put(
            "/etc/sysconfig/network-scripts/ifcfg-ens192",
            "DEVICE=ens192\nONBOOT=yes\n",
        );
        g.put(
            "/etc/NetworkManager/system-connections/b.nmconnection",
            "[connection]\ninterface-name=ens192\n",
        );
        g.put(
            "/etc/NetworkManager/system-connections/old.nmconnection",
            "[connection]\ninterface-name=eth0\n",
        );
    };
    let with_nics = |tools: &[&str], nics: &[Nic]| {
        let mut f = facts_with(Family::Rhel, tools, setup);
        f.nics = nics.to_vec();
        let mut warnings = Vec::new();
        (keep_interface_name(&f, &mut warnings), warnings)
    };

    let (a, w) = with_nics(&["rpm", "systemctl"], &[nic(Some("00:50:56:01:02:03"))]);
    let Some(Action::Write { path, content, .. }) = a else {
        panic!("{a:?}")
    };
    assert_eq!(path, "/etc/systemd/network/70-v2v-ens192.link");
    assert_eq!(content, link_file("ens192"));
    assert_eq!(
        w,
        vec![
            "network configuration /etc/NetworkManager/system-connections/old.nmconnection (eth0) \
             names another interface than ens192; it will not match on KVM"
        ]
    );

    let (a, w) = with_nics(&["rpm"], &[nic(None)]);
    assert_eq!(a, None);
    assert!(w[0].contains("no systemd to keep it"), "{w:?}");
    let (a, w) = with_nics(&["rpm", "systemctl"], &[nic(None), nic(None)]);
    assert_eq!(a, None);
    assert!(w[0].contains("the guest has 2 NICs"), "{w:?}");

    // No network configuration: nothing to keep, nothing to say.
    let f = facts_with(Family::Rhel, &["rpm", "systemctl"], |_| {});
    let mut warnings = Vec::new();
    assert_eq!(keep_interface_name(&f, &mut warnings), None);
    assert!(warnings.is_empty());
}

#[test]
fn default_kernel_changes_only_when_the_newest_lacks_virtio() {
    let kernels = |tools: &[&str], newest_virtio: bool| {
        let t = tempfile::tempdir().unwrap();
        let g = tree(t.path(), Family::Rhel, tools, &[]);
        put_kernel(&g, "5.14.0-1", true, None);
        put_kernel(&g, "6.0.0-1", newest_virtio, None);
        let f = facts(&g, Family::Rhel, &[]);
        let kernel = boot_kernel(&f.kernels).unwrap().clone();
        let mut warnings = Vec::new();
        (set_default_kernel(&f, &kernel, &mut warnings), warnings)
    };
    assert_eq!(kernels(&["rpm", "grubby"], true), (None, vec![]));
    let (a, w) = kernels(&["rpm", "grubby"], false);
    assert_eq!(
        script(a.as_ref().unwrap()),
        "grubby --set-default=/boot/vmlinuz-5.14.0-1"
    );
    assert!(w.is_empty());
    let (a, w) = kernels(&["rpm"], false);
    assert_eq!(a, None);
    assert!(
        w[0].contains("choose kernel 5.14.0-1 in the boot menu"),
        "{w:?}"
    );
}

#[test]
fn initramfs_rebuilt_with_the_tool_the_guest_has() {
    let drivers = ["virtio_blk", "virtio_net"];
    let rebuild = |family: Family, tools: &[&str], initrd: Option<&str>| {
        let t = tempfile::tempdir().unwrap();
        let g = tree(t.path(), family, tools, &[]);
        put_kernel(&g, "5.14.0-1", true, initrd);
        let f = facts(&g, family, &[]);
        rebuild_initramfs(&f, &f.kernels[0], &drivers)
    };
    let cases = [
        (
            Family::Debian,
            &["dpkg", "dracut"][..],
            Some("/boot/initrd.img-5.14.0-1"),
            "update-initramfs -u -k 5.14.0-1",
        ),
        (
            Family::Debian,
            &["dpkg"][..],
            None,
            "update-initramfs -c -k 5.14.0-1",
        ),
        (
            Family::Rhel,
            &["rpm", "dracut", "mkinitrd"][..],
            Some("/boot/initramfs-5.14.0-1.img"),
            "dracut -f --add-drivers 'virtio virtio_ring virtio_blk virtio_net' \
             /boot/initramfs-5.14.0-1.img 5.14.0-1",
        ),
        (
            Family::Rhel,
            &["rpm", "mkinitrd"][..],
            None,
            "mkinitrd -f --with=virtio_blk --with=virtio_net /boot/initramfs-5.14.0-1.img 5.14.0-1",
        ),
        (
            Family::Suse,
            &["rpm", "mkinitrd"][..],
            Some("/boot/initrd-5.14.0-1"),
            "mkinitrd -m 'virtio_blk virtio_net' -i /boot/initrd-5.14.0-1 -k /boot/vmlinuz-5.14.0-1",
        ),
    ];
    for (family, tools, initrd, want) in cases {
        let a = rebuild(family, tools, initrd).unwrap();
        assert_eq!(script(&a), on_scratch_tmpfs(want));
        assert!(matches!(
            a,
            Action::Run {
                on_error: OnError::Fail,
                ..
            }
        ));
    }
    let e = rebuild(Family::Rhel, &["rpm"], None).unwrap_err();
    assert_eq!(e.code, 5);
    assert_eq!(
        e.message,
        "cannot rebuild the initramfs of rhel 9: no update-initramfs, dracut or mkinitrd in the guest"
    );
}

#[test]
fn grub_config_regenerated_only_after_its_defaults_changed() {
    let regen = |family: Family, tools: &[&str], uefi: bool, changed: bool| {
        let mut f = facts_with(family, tools, |g| {
            g.put(
                "/boot/efi/EFI/redhat/grub.cfg",
                "configfile /boot/grub2/grub.cfg\n",
            );
            g.put("/boot/efi/EFI/fedora/grub.cfg", "menuentry 'x' {}\n");
        });
        f.uefi = uefi;
        regenerate_grub_config(&f, changed).map(|a| {
            let Action::Run { ref verify, .. } = a else {
                panic!("{a:?}")
            };
            (script(&a).to_string(), verify.clone())
        })
    };
    let cfg = |p: &str| vec![p.to_string()];
    assert_eq!(
        regen(
            Family::Debian,
            &["dpkg", "update-grub", "grub-mkconfig"],
            false,
            true
        ),
        Some(("update-grub".into(), cfg("/boot/grub/grub.cfg")))
    );
    assert_eq!(
        regen(Family::Debian, &["dpkg", "grub-mkconfig"], false, true),
        Some((
            "grub-mkconfig -o /boot/grub/grub.cfg".into(),
            cfg("/boot/grub/grub.cfg")
        ))
    );
    assert_eq!(
        regen(Family::Rhel, &["rpm", "grub2-mkconfig"], false, true),
        Some((
            "grub2-mkconfig -o /boot/grub2/grub.cfg".into(),
            cfg("/boot/grub2/grub.cfg")
        ))
    );
    // UEFI: the real config on the ESP, not RHEL's stub.
    assert_eq!(
        regen(Family::Rhel, &["rpm", "grub2-mkconfig"], true, true),
        Some((
            "grub2-mkconfig -o /boot/efi/EFI/fedora/grub.cfg".into(),
            cfg("/boot/efi/EFI/fedora/grub.cfg")
        ))
    );
    assert_eq!(
        regen(Family::Rhel, &["rpm", "grub2-mkconfig"], false, false),
        None
    );
    assert_eq!(
        regen(Family::Suse, &["rpm", "update-grub"], false, true),
        None
    );
}

#[test]
fn selinux_relabel_when_enabled() {
    let relabel = |config: Option<&str>| {
        let f = facts_with(Family::Rhel, &["rpm"], |g| {
            if let Some(c) = config {
                g.put("/etc/selinux/config", c);
            }
        });
        selinux_relabel(&f)
    };
    let a = relabel(Some("SELINUX=\"permissive\"\n")).unwrap();
    assert!(matches!(&a, Action::Touch { path, .. } if path == "/.autorelabel"));
    assert_eq!(a.change().kind, "relabel");
    assert_eq!(relabel(Some("SELINUX=disabled\n")), None);
    assert_eq!(relabel(None), None);
}

/// The tmpfs wrapper, run by a real shell with stand-in `mount`/`umount`
/// (the real ones would mount over this host's /var/tmp): the command runs
/// once when all goes well or when no tmpfs can be mounted, and again on
/// the disk when it fails on the tmpfs; its exit status is the last run's.
#[test]
fn initramfs_tmpfs_wrapper_falls_back_to_the_guest_disk() {
    let t = tempfile::tempdir().unwrap();
    let bin = t.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let put = |name: &str, body: &str| {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let log = t.path().join("log");
    put("umount", &format!("echo umount >> {}", log.display()));
    // `build N`: logs each run; fails its first N runs.
    put(
        "build",
        &format!(
            "echo build >> {l}; n=$(grep -c build {l}); [ \"$n\" -gt \"$1\" ]",
            l = log.display()
        ),
    );
    let run = |mount_ok: bool, fails: u32| -> (bool, String) {
        let _ = std::fs::remove_file(&log);
        put(
            "mount",
            &format!(
                "echo mount >> {}; exit {}",
                log.display(),
                if mount_ok { 0 } else { 1 }
            ),
        );
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(on_scratch_tmpfs(&format!("build {fails}")))
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        let l = std::fs::read_to_string(&log).unwrap().replace('\n', " ");
        (ok, l)
    };
    assert_eq!(run(true, 0), (true, "mount build umount ".into()));
    assert_eq!(run(false, 0), (true, "mount build ".into()));
    assert_eq!(
        run(true, 1),
        (true, "mount build umount build ".into()),
        "a failure on the tmpfs runs it again on the disk"
    );
    assert_eq!(run(true, 2), (false, "mount build umount build ".into()));
}
