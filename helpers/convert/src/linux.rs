//! Linux conversion, after virt-v2v's `convert_linux.ml` (what it does, not
//! how): gather [`Facts`] from the mounted guest through [`GuestFs`], then
//! compute a [`Plan`] with pure functions ([`plan`]), then apply it
//! (`crate::apply`).
//!
//! Families: Debian/Ubuntu (dpkg, initramfs-tools, update-grub),
//! RHEL/Fedora/CentOS/Rocky/Alma/Oracle (rpm, dracut, grub2-mkconfig,
//! grubby) and SUSE (rpm/zypper, dracut or mkinitrd, grub2-mkconfig).

use crate::devices::{remap_text, stale_names, DeviceMap};
use crate::guest::GuestFs;
use helper_common::{sh_quote, Failure, Result};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use v2v_meta::{Change, Nic, SourceDisk};

mod network;
pub use network::{configured_interfaces, link_file, primary_interface};

/// A Linux distribution family we can convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Debian,
    Rhel,
    Suse,
}

impl Family {
    /// The family of a libguestfs distro name, or `None` (not convertible).
    pub fn of(distro: &str) -> Option<Family> {
        Some(match distro {
            "debian" | "ubuntu" | "linuxmint" | "kalilinux" => Family::Debian,
            "rhel" | "centos" | "fedora" | "rocky" | "almalinux" | "oraclelinux"
            | "scientificlinux" | "redhat-based" | "circle" | "openeuler" | "kylin" => Family::Rhel,
            "sles" | "suse-based" | "opensuse" => Family::Suse,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Family::Debian => "Debian/Ubuntu",
            Family::Rhel => "RHEL/Fedora",
            Family::Suse => "SUSE",
        }
    }
}

/// Modules the initramfs must carry so the guest finds its disks on virtio.
pub const INITRAMFS_VIRTIO: &[&str] = &["virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net"];

/// An installed kernel and the modules it has (loadable or built in;
/// names normalised with `_`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelInfo {
    pub version: String,
    pub vmlinuz: String,
    /// The initramfs path (existing, or where the family puts it).
    pub initrd: String,
    pub initrd_exists: bool,
    pub modules: BTreeSet<String>,
}

impl KernelInfo {
    pub fn has(&self, module: &str) -> bool {
        self.modules.contains(&module.replace('-', "_"))
    }
    /// virtio-blk and virtio-net drivers: the guest can boot on virtio.
    pub fn virtio(&self) -> bool {
        self.has("virtio_blk") && self.has("virtio_net")
    }
    fn is_debug(&self) -> bool {
        self.version.contains("debug") || self.version.ends_with("+debug")
    }
    fn is_xen_only(&self) -> bool {
        self.version.ends_with("xen") || self.version.contains("xenU")
    }
    /// (major, minor) of the kernel version.
    pub fn major_minor(&self) -> (u32, u32) {
        let mut it = self
            .version
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    }
}

/// Compare version strings chunk by chunk (digits numerically).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut v = Vec::new();
        let mut start = 0;
        let b = s.as_bytes();
        for i in 1..=b.len() {
            if i == b.len() || b[i].is_ascii_digit() != b[start].is_ascii_digit() {
                v.push((b[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        v
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let o = match (x.0, y.0) {
            (true, true) => {
                let (p, q) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
                p.len().cmp(&q.len()).then(p.cmp(q))
            }
            _ => x.1.cmp(y.1),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len())
}

/// The kernel to boot: the newest with virtio drivers, preferring non-debug
/// and non-Xen-only kernels.
pub fn choose_kernel(kernels: &[KernelInfo]) -> Option<&KernelInfo> {
    kernels.iter().filter(|k| k.virtio()).max_by(|a, b| {
        (!a.is_debug() && !a.is_xen_only())
            .cmp(&(!b.is_debug() && !b.is_xen_only()))
            .then_with(|| compare_versions(&a.version, &b.version))
    })
}

fn module_name(path: &str) -> Option<String> {
    let base = path.rsplit('/').next()?;
    let stem = base.split(".ko").next()?;
    if stem.len() == base.len() {
        return None;
    }
    Some(stem.replace('-', "_"))
}

/// Module names from `modules.dep` (or `modules.builtin`) text.
pub fn parse_module_list(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| module_name(l.split(':').next()?.trim()))
        .collect()
}

/// Where the family keeps the initramfs of kernel `ver`.
pub fn initrd_candidates(ver: &str) -> Vec<String> {
    vec![
        format!("/boot/initrd.img-{ver}"),
        format!("/boot/initramfs-{ver}.img"),
        format!("/boot/initrd-{ver}"),
        format!("/boot/initrd-{ver}.img"),
    ]
}

fn default_initrd(family: Family, ver: &str) -> String {
    match family {
        Family::Debian => format!("/boot/initrd.img-{ver}"),
        Family::Rhel => format!("/boot/initramfs-{ver}.img"),
        Family::Suse => format!("/boot/initrd-{ver}"),
    }
}

/// List the installed kernels and their modules.
pub fn list_kernels(g: &dyn GuestFs, family: Family) -> Result<Vec<KernelInfo>> {
    let mut v = Vec::new();
    for vmlinuz in g.glob("/boot/vmlinuz-*")? {
        let version = vmlinuz.trim_start_matches("/boot/vmlinuz-").to_string();
        if version.ends_with(".hmac") || version.contains("rescue") {
            continue;
        }
        let mut moddir = None;
        for d in [
            format!("/lib/modules/{version}"),
            format!("/usr/lib/modules/{version}"),
        ] {
            if g.exists(&d)? {
                moddir = Some(d);
                break;
            }
        }
        let Some(moddir) = moddir else {
            helper_common::debug!("{vmlinuz}: no modules directory; ignored");
            continue;
        };
        let mut modules = BTreeSet::new();
        if let Some(dep) = g.read_string(&format!("{moddir}/modules.dep"))? {
            modules.extend(parse_module_list(&dep));
        } else {
            for p in g.glob(&format!("{moddir}/kernel/drivers/*/virtio*"))? {
                modules.extend(module_name(&p));
            }
            for p in g.glob(&format!("{moddir}/kernel/drivers/virtio/*"))? {
                modules.extend(module_name(&p));
            }
        }
        if let Some(b) = g.read_string(&format!("{moddir}/modules.builtin"))? {
            modules.extend(parse_module_list(&b));
        }
        let mut initrd = None;
        for c in initrd_candidates(&version) {
            if g.exists(&c)? {
                initrd = Some(c);
                break;
            }
        }
        v.push(KernelInfo {
            initrd_exists: initrd.is_some(),
            initrd: initrd.unwrap_or_else(|| default_initrd(family, &version)),
            version,
            vmlinuz,
            modules,
        });
    }
    v.sort_by(|a, b| compare_versions(&a.version, &b.version));
    Ok(v)
}

/// Put before every command run in the guest: its sbin directories first.
const GUEST_PATH: &str = "PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH; ";

/// Everything the plan depends on, read from the guest.
#[derive(Debug, Clone)]
pub struct Facts {
    pub family: Family,
    pub distro: String,
    pub major: i32,
    pub arch: String,
    /// Installed package names.
    pub packages: Vec<String>,
    pub kernels: Vec<KernelInfo>,
    /// Contents of the configuration files that exist (see [`FILES`], [`GLOBS`]).
    pub files: BTreeMap<String, String>,
    /// Programs found in the guest's PATH (see [`TOOLS`]).
    pub tools: BTreeSet<String>,
    /// Uninstall scripts of tarball-installed guest tools that exist.
    pub uninstallers: Vec<String>,
    pub disks: Vec<SourceDisk>,
    pub nics: Vec<Nic>,
    /// The firmware the target boots with is UEFI.
    pub uefi: bool,
    /// Files in the ESP's vendor directories (`/boot/efi/EFI/*/*`).
    pub efi_files: Vec<String>,
}

impl Facts {
    /// The program (one of [`TOOLS`]) is in the guest's PATH.
    pub fn has_tool(&self, tool: &str) -> bool {
        self.tools.contains(tool)
    }
}

/// Configuration files read (when present).
pub const FILES: &[&str] = &[
    "/etc/fstab",
    "/etc/crypttab",
    "/etc/default/grub",
    "/boot/grub/grub.cfg",
    "/boot/grub2/grub.cfg",
    "/boot/grub/menu.lst",
    "/boot/grub/grub.conf",
    "/boot/grub/device.map",
    "/boot/grub2/device.map",
    "/boot/grub2/grubenv",
    "/etc/initramfs-tools/modules",
    "/etc/initramfs-tools/conf.d/resume",
    "/etc/sysconfig/bootloader",
    "/etc/sysconfig/kernel",
    "/etc/network/interfaces",
    "/etc/selinux/config",
    "/etc/inittab",
    "/etc/securetty",
    "/etc/modprobe.conf",
    "/etc/modules.conf",
];

/// Configuration file globs read (when present).
pub const GLOBS: &[&str] = &[
    "/etc/modprobe.d/*.conf",
    "/etc/default/grub.d/*.cfg",
    "/etc/network/interfaces.d/*",
    "/etc/systemd/network/*.network",
    "/etc/sysconfig/network-scripts/ifcfg-*",
    "/etc/sysconfig/network/ifcfg-*",
    "/etc/NetworkManager/system-connections/*.nmconnection",
    "/etc/netplan/*.yaml",
    "/boot/loader/entries/*.conf",
    "/boot/efi/EFI/*/grub.cfg",
];

/// Programs whose presence changes the plan.
pub const TOOLS: &[&str] = &[
    "update-initramfs",
    "update-grub",
    "grub-mkconfig",
    "grub2-mkconfig",
    "grubby",
    "dracut",
    "mkinitrd",
    "dpkg",
    "apt-get",
    "rpm",
    "zypper",
    "systemctl",
    "restorecon",
];

/// Uninstallers of tools installed from tarballs.
pub const UNINSTALLER_GLOBS: &[&str] = &[
    "/usr/bin/vmware-uninstall-tools.pl",
    "/opt/VBoxGuestAdditions-*/uninstall.sh",
    "/usr/lib/parallels-tools/install",
];

/// Read the facts from a mounted guest.
#[allow(clippy::too_many_arguments)]
pub fn gather(
    g: &dyn GuestFs,
    family: Family,
    distro: &str,
    major: i32,
    arch: &str,
    disks: &[SourceDisk],
    nics: &[Nic],
    uefi: bool,
) -> Result<Facts> {
    let tools_out = g.sh(&format!(
        "{GUEST_PATH}for t in {}; do command -v \"$t\" || true; done",
        TOOLS.join(" ")
    ))?;
    let tools: BTreeSet<String> = tools_out
        .lines()
        .filter_map(|l| l.trim().rsplit('/').next())
        .filter(|t| TOOLS.contains(t))
        .map(String::from)
        .collect();
    let packages = if family == Family::Debian || tools.contains("dpkg") && !tools.contains("rpm") {
        let out = g.sh(&format!(
            "{GUEST_PATH}dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}}\\n'"
        ))?;
        parse_dpkg_query(&out)
    } else {
        let out = g.sh(&format!("{GUEST_PATH}rpm -qa --qf '%{{NAME}}\\n'"))?;
        out.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    };
    let files = g.read_many(FILES, GLOBS)?;
    let mut uninstallers = Vec::new();
    for pat in UNINSTALLER_GLOBS {
        uninstallers.extend(g.glob(pat)?);
    }
    Ok(Facts {
        family,
        distro: distro.into(),
        major,
        arch: arch.into(),
        packages,
        kernels: list_kernels(g, family)?,
        files,
        tools,
        uninstallers,
        disks: disks.to_vec(),
        nics: nics.to_vec(),
        uefi,
        efi_files: if uefi {
            g.glob(&format!("{ESP_EFI}/*/*"))?
        } else {
            Vec::new()
        },
    })
}

/// Installed packages from `dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n'`.
pub fn parse_dpkg_query(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let (status, name) = l.trim().split_once(' ')?;
            // Second letter: the package's state; n = not installed,
            // c = only config files left.
            match status.chars().nth(1) {
                Some('n') | Some('c') | None => None,
                _ => Some(name.trim().split(':').next()?.to_string()),
            }
        })
        .collect()
}

/// Other hypervisors' guest tools, by package name: (prefix or exact name,
/// whose tools).  A name ending in `*` is a prefix.
pub const FOREIGN_PACKAGES: &[(&str, &str)] = &[
    ("open-vm-tools*", "VMware Tools"),
    ("open-vm-toolbox*", "VMware Tools"),
    ("vmware-tools*", "VMware Tools"),
    ("VMwareTools*", "VMware Tools"),
    ("kmod-vmware-tools*", "VMware Tools"),
    ("vmware-open-vm-tools*", "VMware Tools"),
    ("libvmtools*", "VMware Tools"),
    ("virtualbox-guest-*", "VirtualBox Guest Additions"),
    ("VirtualBox-guest-*", "VirtualBox Guest Additions"),
    ("virtualbox-kmp-*", "VirtualBox Guest Additions"),
    ("kmod-VirtualBox*", "VirtualBox Guest Additions"),
    ("kmod-xenpv*", "Xen PV drivers"),
    ("xen-kmp-*", "Xen PV drivers"),
    ("xenpv-*", "Xen PV drivers"),
    ("xe-guest-utilities*", "Xen guest utilities"),
    ("hyperv-daemons*", "Hyper-V daemons"),
    ("hypervkvpd", "Hyper-V daemons"),
    ("hypervvssd", "Hyper-V daemons"),
    ("hypervfcopyd", "Hyper-V daemons"),
    ("hyperv-tools", "Hyper-V daemons"),
    ("hv-kvp-daemon-init", "Hyper-V daemons"),
    ("microsoft-hyper-v*", "Hyper-V daemons"),
    ("kmod-microsoft-hyper-v*", "Hyper-V daemons"),
    ("parallels-tools*", "Parallels Tools"),
    ("prl-tools*", "Parallels Tools"),
];

/// The installed packages to remove, each with whose tools it is.
pub fn foreign_packages(installed: &[String]) -> Vec<(String, &'static str)> {
    let mut v = Vec::new();
    for p in installed {
        for (pat, what) in FOREIGN_PACKAGES {
            let m = match pat.strip_suffix('*') {
                Some(prefix) => p.starts_with(prefix),
                None => p == pat,
            };
            if m {
                v.push((p.clone(), *what));
                break;
            }
        }
    }
    v.sort();
    v.dedup();
    v
}

/// What to do when an action fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    Fail,
    Warn,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run a shell command inside the guest.  After it, every file in
    /// `verify` is checked for old device names (a regenerated boot loader
    /// config), which are fixed with a warning.
    Run {
        script: String,
        change: Change,
        on_error: OnError,
        verify: Vec<String>,
    },
    /// Write a file (creating its directory if needed).
    Write {
        path: String,
        content: String,
        change: Change,
    },
    /// Create an empty file.
    Touch { path: String, change: Change },
}

impl Action {
    pub fn change(&self) -> &Change {
        match self {
            Action::Run { change, .. }
            | Action::Write { change, .. }
            | Action::Touch { change, .. } => change,
        }
    }
}

/// The conversion plan for one guest.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub kernel: KernelInfo,
    pub actions: Vec<Action>,
    pub warnings: Vec<String>,
    pub device_map: DeviceMap,
}

impl Plan {
    /// The shell commands, in order (for tests and logs).
    pub fn scripts(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Run { script, .. } => Some(script.as_str()),
                _ => None,
            })
            .collect()
    }
    /// The new content of a file the plan writes.
    pub fn file(&self, path: &str) -> Option<&str> {
        self.actions.iter().find_map(|a| match a {
            Action::Write {
                path: p, content, ..
            } if p == path => Some(content.as_str()),
            _ => None,
        })
    }
}

fn change(kind: &str, target: &str, detail: impl Into<String>) -> Change {
    Change {
        kind: kind.into(),
        target: target.into(),
        detail: detail.into(),
        seconds: None,
    }
}

/// Edits of text files, merged per file, in first-edit order: a later
/// section edits what an earlier one left, and each file is written once.
#[derive(Default)]
struct Edits {
    order: Vec<String>,
    /// Path → (new text, what changed, one entry per edit).
    text: BTreeMap<String, (String, Vec<String>)>,
}

impl Edits {
    /// The file's text after the edits so far (`files` holds the originals).
    fn current<'a>(&'a self, files: &'a BTreeMap<String, String>, path: &str) -> Option<&'a str> {
        self.text
            .get(path)
            .map(|(t, _)| t.as_str())
            .or_else(|| files.get(path).map(String::as_str))
    }
    /// Replace the file's text, saying what changed.
    fn set(&mut self, path: &str, text: String, detail: String) {
        match self.text.get_mut(path) {
            Some((t, d)) => {
                *t = text;
                d.push(detail);
            }
            None => {
                self.order.push(path.to_string());
                self.text.insert(path.to_string(), (text, vec![detail]));
            }
        }
    }
    /// `/etc/default/grub` or one of its drop-ins is edited.
    fn changes_grub_defaults(&self) -> bool {
        self.order
            .iter()
            .any(|p| p == "/etc/default/grub" || p.starts_with("/etc/default/grub.d/"))
    }
    /// `/etc/default/grub` (and its drop-ins) changed only by edits also
    /// made, word for word, to the boot loader config `grub_cfg` (the same
    /// device renames, the same console change): regenerating `grub_cfg`
    /// from them would give what the edited `grub_cfg` already says, so
    /// `update-grub` (a minute under TCG) is not needed.  Any other edit
    /// of the defaults, or a `grub_cfg` not edited alike: false.
    fn grub_cfg_follows_defaults(&self, grub_cfg: &str) -> bool {
        let Some((_, cfg)) = self.text.get(grub_cfg) else {
            return false;
        };
        self.text
            .iter()
            .filter(|(p, _)| *p == "/etc/default/grub" || p.starts_with("/etc/default/grub.d/"))
            .all(|(_, (_, details))| details.iter().all(|d| cfg.contains(d)))
    }
    /// One [`Action::Write`] per edited file.
    fn into_actions(mut self) -> Vec<Action> {
        self.order
            .iter()
            .map(|p| {
                let (content, details) = self.text.remove(p).unwrap();
                Action::Write {
                    path: p.clone(),
                    content,
                    change: change("file", p, details.join("; ")),
                }
            })
            .collect()
    }
}

/// Files whose block device names are remapped.
fn is_remap_target(path: &str) -> bool {
    matches!(
        path,
        "/etc/fstab"
            | "/etc/crypttab"
            | "/etc/default/grub"
            | "/boot/grub/grub.cfg"
            | "/boot/grub2/grub.cfg"
            | "/boot/grub/menu.lst"
            | "/boot/grub/grub.conf"
            | "/boot/grub/device.map"
            | "/boot/grub2/device.map"
            | "/etc/initramfs-tools/conf.d/resume"
            | "/etc/sysconfig/bootloader"
    ) || path.starts_with("/etc/default/grub.d/")
        || path.starts_with("/boot/loader/entries/")
        || (path.starts_with("/boot/efi/EFI/") && path.ends_with("/grub.cfg"))
}

/// Files carrying a kernel command line (console fix).
fn has_cmdline(path: &str) -> bool {
    matches!(
        path,
        "/etc/default/grub"
            | "/boot/grub/grub.cfg"
            | "/boot/grub2/grub.cfg"
            | "/boot/grub/menu.lst"
            | "/boot/grub/grub.conf"
            | "/etc/sysconfig/bootloader"
    ) || path.starts_with("/etc/default/grub.d/")
        || path.starts_with("/boot/loader/entries/")
        || (path.starts_with("/boot/efi/EFI/") && path.ends_with("/grub.cfg"))
}

/// Rewrite Xen/Hyper-V console names to the serial console ttyS0.
pub fn fix_console_text(text: &str) -> (String, usize) {
    let mut n = 0;
    let mut out = text.to_string();
    for old in ["console=xvc0", "console=hvc0"] {
        n += out.matches(old).count();
        out = out.replace(old, "console=ttyS0");
    }
    (out, n)
}

/// Drivers of other hypervisors' emulated disks/NICs named in modprobe
/// aliases.
const FOREIGN_BLOCK_DRIVERS: &[&str] = &[
    "mptspi",
    "mptscsih",
    "mptsas",
    "vmw_pvscsi",
    "BusLogic",
    "ata_piix",
    "ahci",
    "megaraid_sas",
    "xenblk",
    "xen_blkfront",
    "xen-vbd",
    "hv_storvsc",
    "sym53c8xx",
    "lsi_sas",
];
const FOREIGN_NET_DRIVERS: &[&str] = &[
    "vmxnet3",
    "vmxnet",
    "e1000",
    "e1000e",
    "pcnet32",
    "xennet",
    "xen_netfront",
    "xen-vnif",
    "hv_netvsc",
    "8139cp",
    "8139too",
    "ne2k_pci",
    "rtl8139",
];

/// Point `alias scsi_hostadapter*` and `alias ethN` at virtio drivers.
pub fn fix_modprobe_aliases(text: &str) -> (String, Vec<String>) {
    let mut done = Vec::new();
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() == 3 && w[0] == "alias" {
                let new = if w[1].starts_with("scsi_hostadapter")
                    && FOREIGN_BLOCK_DRIVERS.contains(&w[2])
                {
                    Some("virtio_blk")
                } else if w[1].starts_with("eth") && FOREIGN_NET_DRIVERS.contains(&w[2]) {
                    Some("virtio_net")
                } else {
                    None
                };
                if let Some(new) = new {
                    done.push(format!("{} {} → {new}", w[1], w[2]));
                    return format!("alias {} {new}", w[1]);
                }
            }
            l.to_string()
        })
        .collect();
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    (out, done)
}

/// SELinux is enabled (enforcing or permissive) in `/etc/selinux/config`.
pub fn selinux_enabled(config: &str) -> bool {
    config.lines().any(|l| {
        let l = l.trim();
        matches!(
            l.strip_prefix("SELINUX=")
                .map(|v| v.trim().trim_matches('"')),
            Some("enforcing") | Some("permissive")
        )
    })
}

/// Compute the conversion plan: the sections below, in the order their
/// actions run.  Fails (exit 5) when no kernel has virtio or the initramfs
/// cannot be rebuilt.
pub fn plan(f: &Facts) -> Result<Plan> {
    let kernel = boot_kernel(&f.kernels)?.clone();
    let drivers = initramfs_drivers(&kernel);
    let device_map = DeviceMap::for_disks(&f.disks);
    let mut actions: Vec<Action> = remove_foreign_packages(f)
        .into_iter()
        .chain(run_foreign_uninstallers(f))
        .collect();

    let mut edits = Edits::default();
    remap_devices(f, &device_map, &mut edits);
    serial_console(f, &mut edits);
    modprobe_aliases(f, &mut edits);
    initramfs_module_list(f, &drivers, &mut edits);
    let grub_cfg = grub_config_path(f);
    let regenerate_grub =
        edits.changes_grub_defaults() && !edits.grub_cfg_follows_defaults(&grub_cfg);
    if edits.changes_grub_defaults() && !regenerate_grub {
        helper_common::debug!(
            "{grub_cfg} edited as /etc/default/grub was: not regenerated (same result)"
        );
    }
    actions.extend(edits.into_actions());

    let mut warnings = Vec::new();
    actions.extend(keep_interface_name(f, &mut warnings));
    actions.extend(set_default_kernel(f, &kernel, &mut warnings));
    actions.push(rebuild_initramfs(f, &kernel, &drivers)?);
    actions.extend(regenerate_grub_config(f, regenerate_grub));
    actions.extend(uefi_fallback_loader(f, &mut warnings));
    actions.extend(selinux_relabel(f));
    Ok(Plan {
        kernel,
        actions,
        warnings,
        device_map,
    })
}

/// The kernel the converted guest boots ([`choose_kernel`]), or the
/// failure (exit 5) that lists the kernels found.
pub fn boot_kernel(kernels: &[KernelInfo]) -> Result<&KernelInfo> {
    choose_kernel(kernels).ok_or_else(|| {
        let list = if kernels.is_empty() {
            "no kernels found in /boot".to_string()
        } else {
            kernels
                .iter()
                .map(|k| k.version.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Failure::unsupported(format!(
            "no installed kernel has virtio drivers (virtio_blk and virtio_net): {list}; \
             install a kernel with virtio support in the guest first"
        ))
    })
}

/// The virtio drivers of [`INITRAMFS_VIRTIO`] that `kernel` has.
fn initramfs_drivers(kernel: &KernelInfo) -> Vec<&'static str> {
    INITRAMFS_VIRTIO
        .iter()
        .copied()
        .filter(|m| kernel.has(m))
        .collect()
}

/// Remove other hypervisors' guest tools installed as packages, with the
/// family's package manager (a failure is a warning).
fn remove_foreign_packages(f: &Facts) -> Option<Action> {
    let foreign = foreign_packages(&f.packages);
    if foreign.is_empty() {
        return None;
    }
    let names: Vec<&str> = foreign.iter().map(|(p, _)| p.as_str()).collect();
    let mut whats: Vec<&str> = foreign.iter().map(|(_, w)| *w).collect();
    whats.dedup();
    let words = names
        .iter()
        .map(|n| sh_quote(n))
        .collect::<Vec<_>>()
        .join(" ");
    let (script, how) = match f.family {
        Family::Debian => (
            format!("{GUEST_PATH}DEBIAN_FRONTEND=noninteractive dpkg --purge {words}"),
            "dpkg --purge",
        ),
        Family::Rhel => (format!("{GUEST_PATH}rpm -e {words}"), "rpm -e"),
        Family::Suse if f.has_tool("zypper") => (
            format!("{GUEST_PATH}zypper --non-interactive --no-refresh remove {words}"),
            "zypper remove",
        ),
        Family::Suse => (format!("{GUEST_PATH}rpm -e {words}"), "rpm -e"),
    };
    Some(Action::Run {
        script,
        change: change(
            "package",
            &names.join(" "),
            format!("removed {} with {how}", whats.join(", ")),
        ),
        on_error: OnError::Warn,
        verify: vec![],
    })
}

/// Run the uninstallers of guest tools installed from tarballs (a failure
/// is a warning).
fn run_foreign_uninstallers(f: &Facts) -> Vec<Action> {
    f.uninstallers
        .iter()
        .map(|u| {
            let (script, what) = if u.ends_with("vmware-uninstall-tools.pl") {
                (format!("{GUEST_PATH}{u}"), "VMware Tools (tarball install)")
            } else if u.contains("VBoxGuestAdditions") {
                (format!("{GUEST_PATH}{u}"), "VirtualBox Guest Additions")
            } else {
                (format!("{GUEST_PATH}{u} --uninstall"), "Parallels Tools")
            };
            Action::Run {
                script,
                change: change("package", u, format!("ran the uninstaller of {what}")),
                on_error: OnError::Warn,
                verify: vec![],
            }
        })
        .collect()
}

/// Rename the source's block devices (`sda1` → `vda1`) in the files that
/// name them ([`is_remap_target`]).
fn remap_devices(f: &Facts, map: &DeviceMap, edits: &mut Edits) {
    for (p, text) in f.files.iter().filter(|(p, _)| is_remap_target(p)) {
        let (new, n) = remap_text(text, map);
        if n == 0 {
            continue;
        }
        let pairs: Vec<String> = stale_names(text, map)
            .iter()
            .map(|o| format!("{o} → {}", remap_text(o, map).0))
            .collect();
        edits.set(
            p,
            new,
            format!("renamed block devices: {}", pairs.join(", ")),
        );
    }
}

/// Move Xen/Hyper-V consoles (`xvc0`, `hvc0`) to the serial console
/// `ttyS0`: kernel command lines, the inittab getty, and securetty.
fn serial_console(f: &Facts, edits: &mut Edits) {
    for p in f.files.keys().filter(|p| has_cmdline(p)) {
        let cur = edits.current(&f.files, p).unwrap_or_default().to_string();
        let (new, n) = fix_console_text(&cur);
        if n > 0 {
            edits.set(p, new, "serial console: xvc0/hvc0 → ttyS0".into());
        }
    }
    if let Some(t) = f.files.get("/etc/inittab") {
        if t.contains("xvc0") || t.contains("hvc0") {
            let new = t.replace("xvc0", "ttyS0").replace("hvc0", "ttyS0");
            edits.set("/etc/inittab", new, "serial console getty on ttyS0".into());
        }
    }
    if let Some(t) = f.files.get("/etc/securetty") {
        if (t.contains("xvc0") || t.contains("hvc0")) && !t.lines().any(|l| l.trim() == "ttyS0") {
            let mut new = t.clone();
            if !new.ends_with('\n') {
                new.push('\n');
            }
            new.push_str("ttyS0\n");
            edits.set("/etc/securetty", new, "root may log in on ttyS0".into());
        }
    }
}

/// Point modprobe aliases of other hypervisors' disk and NIC drivers at
/// virtio ([`fix_modprobe_aliases`]).
fn modprobe_aliases(f: &Facts, edits: &mut Edits) {
    let is_modprobe_conf = |p: &str| {
        p == "/etc/modprobe.conf" || p == "/etc/modules.conf" || p.starts_with("/etc/modprobe.d/")
    };
    for (p, text) in f.files.iter().filter(|(p, _)| is_modprobe_conf(p)) {
        let (new, done) = fix_modprobe_aliases(text);
        if !done.is_empty() {
            edits.set(p, new, format!("module aliases: {}", done.join(", ")));
        }
    }
}

/// Make the initramfs tool include `drivers` where it reads a module list:
/// `/etc/initramfs-tools/modules` (Debian, created when missing) and
/// SUSE's `INITRD_MODULES` (for mkinitrd, when there is no dracut).
fn initramfs_module_list(f: &Facts, drivers: &[&str], edits: &mut Edits) {
    if f.family == Family::Debian {
        let p = "/etc/initramfs-tools/modules";
        let cur = f.files.get(p).cloned().unwrap_or_default();
        let present: BTreeSet<&str> = cur
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| !w.starts_with('#'))
            .collect();
        let missing: Vec<&str> = drivers
            .iter()
            .copied()
            .filter(|m| !present.contains(m))
            .collect();
        if !missing.is_empty() {
            let mut new = cur.clone();
            if !new.is_empty() && !new.ends_with('\n') {
                new.push('\n');
            }
            new.push_str("# virtio drivers, added by helper-v2v-convert\n");
            for m in &missing {
                new.push_str(m);
                new.push('\n');
            }
            edits.set(
                p,
                new,
                format!("added {} to the initramfs module list", missing.join(", ")),
            );
        }
    }
    if f.family == Family::Suse && !f.has_tool("dracut") {
        if let Some(t) = f.files.get("/etc/sysconfig/kernel") {
            if let Some(new) = add_suse_initrd_modules(t, drivers) {
                edits.set(
                    "/etc/sysconfig/kernel",
                    new,
                    format!("INITRD_MODULES += {}", drivers.join(" ")),
                );
            }
        }
    }
}

/// Keep the interface name the guest's network configuration uses: a
/// systemd `.link` file giving the virtio NIC that name, matched by its
/// driver (the guest has one NIC; the target may get another MAC than the
/// source's, and a MAC match would then miss).  Where that cannot
/// work (no systemd, several NICs) or some configuration names another
/// interface, a warning says what to check.
fn keep_interface_name(f: &Facts, warnings: &mut Vec<String>) -> Option<Action> {
    let (name, unmet) = primary_interface(&configured_interfaces(&f.files))?;
    if !f.has_tool("systemctl") {
        warnings.push(format!(
            "the guest's network configuration names interface {name}; the virtio NIC \
             will probably get another name (no systemd to keep it): check the network \
             configuration after the first boot"
        ));
        return None;
    }
    if f.nics.len() > 1 {
        warnings.push(format!(
            "the guest has {} NICs and its network configuration names {name}: NIC names \
             may change on virtio; check the network configuration after the first boot",
            f.nics.len()
        ));
        return None;
    }
    let path = format!("/etc/systemd/network/70-v2v-{name}.link");
    for u in unmet {
        warnings.push(format!(
            "network configuration {u} names another interface than {name}; it will not match on KVM"
        ));
    }
    Some(Action::Write {
        content: link_file(name.as_str()),
        change: change(
            "file",
            &path,
            format!("network: the virtio NIC keeps the name {name} (matched by driver virtio_net)"),
        ),
        path,
    })
}

/// When the newest kernel is not the one to boot (it has no virtio), make
/// `kernel` the default with grubby, or warn that the user must choose it.
fn set_default_kernel(
    f: &Facts,
    kernel: &KernelInfo,
    warnings: &mut Vec<String>,
) -> Option<Action> {
    let ver = &kernel.version;
    let newest = f
        .kernels
        .iter()
        .max_by(|a, b| compare_versions(&a.version, &b.version));
    if newest.map(|k| &k.version) == Some(ver) {
        return None;
    }
    if !f.has_tool("grubby") {
        warnings.push(format!(
            "the newest kernel has no virtio drivers; choose kernel {ver} in the boot menu \
             (or make it the default) after conversion"
        ));
        return None;
    }
    Some(Action::Run {
        script: format!(
            "{GUEST_PATH}grubby --set-default={}",
            sh_quote(&kernel.vmlinuz)
        ),
        change: change(
            "bootloader",
            &kernel.vmlinuz,
            format!("default kernel set to {ver} (the newest with virtio)"),
        ),
        on_error: OnError::Warn,
        verify: vec![],
    })
}

/// `cmd` (a shell command line) run with the guest's `/var/tmp` on a
/// tmpfs, in the appliance's memory, for the command's time only.  The
/// initramfs tools build their tree there (update-initramfs, dracut: by
/// default `/var/tmp`): thousands of small files that, written through the
/// guest's filesystem and the copy-on-write overlay, cost about a third of
/// the rebuild under TCG.  Nothing the guest keeps is written there.  When
/// the tmpfs cannot be mounted, or the command fails on it (say, out of
/// memory for a large tree), the command runs again as the guest would
/// run it.
pub fn on_scratch_tmpfs(cmd: &str) -> String {
    format!(
        "if [ -d /var/tmp ] && mount -t tmpfs -o mode=1777 v2v-scratch /var/tmp 2>/dev/null; then \
         {cmd}; rc=$?; umount /var/tmp || umount -l /var/tmp; [ $rc -eq 0 ] && exit 0; \
         echo 'failed on a tmpfs /var/tmp: again on the guest disk' >&2; fi; {cmd}"
    )
}

/// Rebuild `kernel`'s initramfs with the virtio `drivers`, with the tool
/// the guest has (update-initramfs, dracut, mkinitrd), its build tree on a
/// tmpfs ([`on_scratch_tmpfs`]).  A failure stops the conversion; no tool
/// at all is unsupported (exit 5).
fn rebuild_initramfs(f: &Facts, kernel: &KernelInfo, drivers: &[&str]) -> Result<Action> {
    let (ver, initrd) = (&kernel.version, &kernel.initrd);
    let list = drivers.join(" ");
    let (script, how) = match f.family {
        Family::Debian => (
            format!(
                "update-initramfs -{} -k {}",
                if kernel.initrd_exists { "u" } else { "c" },
                sh_quote(ver)
            ),
            "update-initramfs",
        ),
        _ if f.has_tool("dracut") => (
            format!(
                "dracut -f --add-drivers {} {} {}",
                sh_quote(&format!("virtio virtio_ring {list}")),
                sh_quote(initrd),
                sh_quote(ver)
            ),
            "dracut",
        ),
        Family::Rhel if f.has_tool("mkinitrd") => (
            format!(
                "mkinitrd -f {} {} {}",
                drivers
                    .iter()
                    .map(|m| format!("--with={m}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                sh_quote(initrd),
                sh_quote(ver)
            ),
            "mkinitrd",
        ),
        Family::Suse if f.has_tool("mkinitrd") => (
            format!(
                "mkinitrd -m {} -i {} -k {}",
                sh_quote(&list),
                sh_quote(initrd),
                sh_quote(&kernel.vmlinuz)
            ),
            "mkinitrd",
        ),
        _ => {
            return Err(Failure::unsupported(format!(
                "cannot rebuild the initramfs of {} {}: no update-initramfs, dracut or mkinitrd in the guest",
                f.distro, f.major
            )))
        }
    };
    Ok(Action::Run {
        script: format!("{GUEST_PATH}{}", on_scratch_tmpfs(&script)),
        change: change(
            "initramfs",
            initrd,
            format!("rebuilt with {how} for kernel {ver}, with {list}"),
        ),
        on_error: OnError::Fail,
        verify: vec![],
    })
}

/// When `/etc/default/grub` (or a drop-in) changed, regenerate the grub2
/// configuration from it; afterwards the regenerated file is checked for
/// old device names (see `crate::apply`).  Nothing without a tool to do it.
fn regenerate_grub_config(f: &Facts, grub_defaults_changed: bool) -> Option<Action> {
    if !grub_defaults_changed {
        return None;
    }
    let grub_cfg = grub_config_path(f);
    let script = match f.family {
        Family::Debian if f.has_tool("update-grub") => format!("{GUEST_PATH}update-grub"),
        Family::Debian if f.has_tool("grub-mkconfig") => {
            format!("{GUEST_PATH}grub-mkconfig -o {}", sh_quote(&grub_cfg))
        }
        _ if f.has_tool("grub2-mkconfig") => {
            format!("{GUEST_PATH}grub2-mkconfig -o {}", sh_quote(&grub_cfg))
        }
        _ => return None,
    };
    Some(Action::Run {
        script,
        change: change(
            "bootloader",
            &grub_cfg,
            "regenerated from /etc/default/grub and checked for old device names",
        ),
        on_error: OnError::Warn,
        verify: vec![grub_cfg.clone()],
    })
}

/// The ESP's `EFI` directory, where the guest mounts it.
pub const ESP_EFI: &str = "/boot/efi/EFI";

/// UEFI firmware with empty NVRAM (a new VM's copy of OVMF's variables)
/// boots the ESP's removable-media loader `\EFI\BOOT\BOOT<ARCH>.EFI`.
/// When the guest has none (grub-efi installed with an NVRAM entry only),
/// copy its distribution's loader there: shim when present (with grub and
/// MokManager beside it), else grub, and the directory's `grub.cfg` (the
/// stub a signed grub reads from its own directory).  A failure is a
/// warning.
fn uefi_fallback_loader(f: &Facts, warnings: &mut Vec<String>) -> Option<Action> {
    if !f.uefi {
        return None;
    }
    let arch = match f.arch.as_str() {
        "x86_64" => "x64",
        "aarch64" => "aa64",
        "i386" | "i486" | "i586" | "i686" => "ia32",
        "riscv64" => "riscv64",
        _ => return None,
    };
    let boot_dir = format!("{ESP_EFI}/BOOT");
    let fallback = format!("BOOT{}.EFI", arch.to_uppercase());
    let in_dir = |p: &str| -> Option<(String, String)> {
        let rest = p.strip_prefix(ESP_EFI)?.strip_prefix('/')?;
        let (dir, file) = rest.split_once('/')?;
        Some((dir.to_string(), file.to_string()))
    };
    let files: Vec<(String, String)> = f.efi_files.iter().filter_map(|p| in_dir(p)).collect();
    if files
        .iter()
        .any(|(d, n)| d.eq_ignore_ascii_case("BOOT") && n.eq_ignore_ascii_case(&fallback))
    {
        return None;
    }
    let vendor = |name: &str| {
        files
            .iter()
            .find(|(d, n)| !d.eq_ignore_ascii_case("BOOT") && n.eq_ignore_ascii_case(name))
    };
    let (shim, grub) = (format!("shim{arch}.efi"), format!("grub{arch}.efi"));
    let Some((dir, loader)) = vendor(&shim).or_else(|| vendor(&grub)) else {
        warnings.push(format!(
            "UEFI guest without {ESP_EFI}/BOOT/{fallback} and without a shim or grub loader              in {ESP_EFI}/*/: it may not boot with fresh UEFI variables; install grub-efi with              --removable in the guest"
        ));
        return None;
    };
    let companions: Vec<String> = [grub.as_str(), &format!("mm{arch}.efi"), "grub.cfg"]
        .iter()
        .filter_map(|want| {
            files
                .iter()
                .find(|(d, n)| d == dir && n != loader && n.eq_ignore_ascii_case(want))
                .map(|(_, n)| n.clone())
        })
        .collect();
    let src = |n: &str| sh_quote(&format!("{ESP_EFI}/{dir}/{n}"));
    let mut script = format!(
        "{GUEST_PATH}mkdir -p {} && cp {} {}",
        sh_quote(&boot_dir),
        src(loader),
        sh_quote(&format!("{boot_dir}/{fallback}"))
    );
    for c in &companions {
        script.push_str(&format!(" && cp {} {}/", src(c), sh_quote(&boot_dir)));
    }
    let mut copied = vec![format!("{loader} as {fallback}")];
    copied.extend(companions);
    Some(Action::Run {
        script,
        change: change(
            "bootloader",
            &format!("{boot_dir}/{fallback}"),
            format!(
                "UEFI fallback loader: copied {} from {ESP_EFI}/{dir}/ (firmware with fresh                  variables boots it)",
                copied.join(", ")
            ),
        ),
        on_error: OnError::Warn,
        verify: vec![],
    })
}

/// With SELinux enabled, have the filesystems relabelled on the first boot.
fn selinux_relabel(f: &Facts) -> Option<Action> {
    let config = f.files.get("/etc/selinux/config")?;
    selinux_enabled(config).then(|| Action::Touch {
        path: "/.autorelabel".into(),
        change: change(
            "relabel",
            "/.autorelabel",
            "SELinux relabels the filesystems on the first boot",
        ),
    })
}

/// The grub2 configuration file the boot loader reads.
pub fn grub_config_path(f: &Facts) -> String {
    if f.uefi {
        // A real config on the ESP (not the small stub RHEL 9 puts there).
        if let Some((p, _)) = f.files.iter().find(|(p, t)| {
            p.starts_with("/boot/efi/EFI/") && p.ends_with("/grub.cfg") && !t.contains("configfile")
        }) {
            return p.clone();
        }
    }
    if f.family == Family::Debian {
        "/boot/grub/grub.cfg".into()
    } else {
        "/boot/grub2/grub.cfg".into()
    }
}

/// Add modules to SUSE's `INITRD_MODULES="..."` (for mkinitrd).
pub fn add_suse_initrd_modules(text: &str, modules: &[&str]) -> Option<String> {
    let mut changed = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if let Some(v) = l.strip_prefix("INITRD_MODULES=") {
                let cur: Vec<&str> = v.trim_matches('"').split_whitespace().collect();
                let mut all: Vec<&str> = cur.clone();
                for m in modules {
                    if !all.contains(m) {
                        all.push(m);
                        changed = true;
                    }
                }
                format!("INITRD_MODULES=\"{}\"", all.join(" "))
            } else {
                l.to_string()
            }
        })
        .collect();
    changed.then(|| lines.join("\n") + "\n")
}

#[cfg(test)]
mod tests;
