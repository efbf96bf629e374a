//! Windows conversion (virt-v2v's `convert_windows` with
//! `inject_virtio_win` and `firstboot`): virtio drivers from virtio-win
//! copied in and the boot driver bound in the SYSTEM hive, the first-boot
//! service and its scripts (pnputil, VMware Tools removal, the guest
//! agent), DevicePath in SOFTWARE, the UEFI boot manager fixed; the
//! target's devices follow the drivers injected.
//!
//! The pure parts are in [`registry`] (the edits), [`virtio`] (lookup and
//! file choice) and [`firstboot`] (the scripts); this file applies them
//! through the libguestfs handle.

pub mod firstboot;
pub mod registry;
pub mod virtio;

use crate::customize::StaticIp;
use crate::inspect;
use helper_common::{debug, message, Failure, OrFail, Result};
use registry::{Binding, Edit, Hive};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use v2v_guestfs::Guestfs;
use v2v_meta::{
    Change, Firmware, Inspection, TargetBlockBus, TargetMeta, TargetNetModel, WindowsInspection,
};

/// `--block-driver`: the virtio block driver to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum BlockDriver {
    #[default]
    #[value(name = "virtio-blk")]
    VirtioBlk,
    #[value(name = "virtio-scsi")]
    VirtioScsi,
}

/// What was installed, deciding the target's devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// `viostor`, `vioscsi`, ... or `None` (emulated disk).
    pub block: Option<String>,
    pub net: bool,
    pub rng: bool,
    pub balloon: bool,
    pub pvpanic: bool,
    pub vsock: bool,
}

impl Installed {
    /// Nothing: emulated devices.
    pub fn none() -> Self {
        Installed {
            block: None,
            net: false,
            rng: false,
            balloon: false,
            pvpanic: false,
            vsock: false,
        }
    }
    /// From the (lower-case) names of the driver files copied.
    pub fn from_files(names: &[String], priority: &[&str]) -> Self {
        let has = |n: &str| names.iter().any(|x| x == n);
        Installed {
            block: priority
                .iter()
                .find(|d| has(&format!("{d}.sys")))
                .map(|d| d.to_string()),
            net: has("virtio_net.inf") || has("netkvm.inf"),
            rng: has("viorng.inf"),
            balloon: has("balloon.inf"),
            pvpanic: has("pvpanic.inf"),
            vsock: has("viosock.inf"),
        }
    }
}

/// The block drivers looked for, in order.
pub fn block_priority(b: BlockDriver) -> Vec<&'static str> {
    let mut v = vec!["virtio_blk", "vrtioblk", "viostor"];
    if b == BlockDriver::VirtioScsi {
        v.insert(0, "vioscsi");
    }
    v
}

/// The converted guest's devices.
pub fn target(
    arch: &str,
    major: i32,
    firmware: Firmware,
    inst: &Installed,
    rtc_utc: bool,
) -> TargetMeta {
    let machine = match arch {
        "i386" | "x86_64" if major < 6 => "pc",
        "i386" | "x86_64" => "q35",
        _ => "virt",
    };
    TargetMeta {
        block_bus: match inst.block.as_deref() {
            Some("vioscsi") => TargetBlockBus::VirtioScsi,
            Some(_) => TargetBlockBus::VirtioBlk,
            // q35 has no IDE controller: the emulated disk is on SATA.
            None if machine == "q35" => TargetBlockBus::Sata,
            None => TargetBlockBus::Ide,
        },
        net_model: if inst.net {
            TargetNetModel::Virtio
        } else {
            TargetNetModel::Rtl8139
        },
        machine: machine.into(),
        arch: arch.into(),
        firmware: if firmware == Firmware::Uefi {
            Firmware::Uefi
        } else {
            Firmware::Bios
        },
        video: "vga".into(),
        virtio_rng: inst.rng,
        virtio_balloon: inst.balloon,
        pvpanic: inst.pvpanic,
        virtio_socket: inst.vsock,
        virtio_1_0: true,
        acpi: true,
        rtc_utc,
    }
}

/// Where the guest's Windows is and what it is (libguestfs inspection).
struct Win {
    root: String,
    arch: String,
    major: i32,
    minor: i32,
    osinfo: String,
    variant: String,
    /// `/Windows`, as spelt on the filesystem.
    systemroot: String,
    /// `ControlSet001`.
    ccs: String,
    system_hive: String,
    software_hive: String,
}

/// The conversion's running record.
struct Run<'a> {
    g: &'a Guestfs,
    win: Win,
    changes: Vec<Change>,
    warnings: Vec<String>,
    /// First-boot scripts (file name, CRLF text), in order.
    scripts: Vec<(String, String)>,
}

impl Run<'_> {
    fn change(&mut self, kind: &str, target: impl Into<String>, detail: impl Into<String>) {
        let c = Change {
            kind: kind.into(),
            target: target.into(),
            detail: detail.into(),
            seconds: None,
        };
        debug!("{}: {}: {}", c.kind, c.target, c.detail);
        self.changes.push(c);
    }
    fn add_script(&mut self, prio: u32, name: &str, text: String) {
        let n = self.scripts.len() as u32 + 1;
        self.scripts
            .push((firstboot::script_name(prio, n, name), text));
    }
    /// `C:\Windows` for `/Windows`.
    fn systemroot_win(&self) -> String {
        format!("C:{}", self.win.systemroot.replace('/', "\\"))
    }
    /// Directory `base/rel` (`base` exists), each element of `rel` spelt
    /// as on the (case-insensitive) disk when it exists, else created.
    fn mkdir(&self, base: &str, rel: &str) -> Result<String> {
        let mut dir = base.trim_end_matches('/').to_string();
        for e in rel.split('/').filter(|e| !e.is_empty()) {
            let p = format!("{dir}/{e}");
            dir = self
                .g
                .case_sensitive_path(&p)
                .map_err(|err| Failure::failed(format!("{p}: {err}")))?;
            self.g.mkdir_p(&dir).map_err(gf(&dir))?;
        }
        Ok(dir)
    }
}

fn gf(what: &str) -> impl Fn(v2v_guestfs::Error) -> Failure + '_ {
    move |e| Failure::failed(format!("{what}: {e}"))
}

/// virtio-win, opened: a directory, an ISO (read through a second,
/// read-only appliance, as upstream does), or nothing.
enum Source {
    Dir(PathBuf),
    Iso(PathBuf, Guestfs),
    Missing(PathBuf),
}

impl Source {
    fn open(path: PathBuf) -> Result<Source> {
        if path.is_dir() {
            return Ok(Source::Dir(path));
        }
        if !path.exists() {
            return Ok(Source::Missing(path));
        }
        message!("Opening virtio-win ISO {}", path.display());
        let g2 = Guestfs::new().map_err(|e| Failure::external(e.to_string()))?;
        let fail = |e: v2v_guestfs::Error| {
            Failure::external(format!(
                "{}: cannot open the virtio-win ISO: {e}",
                path.display()
            ))
        };
        g2.add_drive_ro(&path).map_err(fail)?;
        g2.launch().map_err(fail)?;
        g2.mount_ro("/dev/sda", "/").map_err(fail)?;
        Ok(Source::Iso(path, g2))
    }
    fn path(&self) -> &Path {
        match self {
            Source::Dir(p) | Source::Iso(p, _) | Source::Missing(p) => p,
        }
    }
    /// Every file, relative to the root.
    fn files(&self) -> Result<Vec<String>> {
        match self {
            Source::Dir(p) => virtio::list_files(p)
                .map_err(|e| Failure::failed(format!("virtio-win {}: {e}", p.display()))),
            Source::Iso(p, g2) => {
                let all = g2
                    .find("/")
                    .map_err(|e| Failure::failed(format!("virtio-win ISO {}: {e}", p.display())))?;
                let mut v = Vec::new();
                for f in all {
                    if g2.is_file(&format!("/{f}")).unwrap_or(false) {
                        v.push(f);
                    }
                }
                Ok(v)
            }
            Source::Missing(_) => Ok(Vec::new()),
        }
    }
    fn read(&self, rel: &str) -> Result<Vec<u8>> {
        match self {
            Source::Dir(p) => std::fs::read(p.join(rel))
                .map_err(|e| Failure::failed(format!("{}: {e}", p.join(rel).display()))),
            Source::Iso(p, g2) => g2
                .read_file(&format!("/{rel}"))
                .map_err(|e| Failure::failed(format!("{}:/{rel}: {e}", p.display()))),
            Source::Missing(p) => Err(Failure::failed(format!("{}: missing", p.display()))),
        }
    }
}

fn basename(p: &str) -> String {
    p.rsplit('/').next().unwrap_or(p).to_ascii_lowercase()
}

/// Windows inspection data beyond libguestfs's common fields: the
/// installation type, system root and control set (libguestfs), the build
/// number (SOFTWARE's `CurrentBuildNumber`; libguestfs 1.48 has no call
/// for it).
pub fn inspect(g: &Guestfs, root: &str) -> Result<WindowsInspection> {
    let software = g
        .inspect_get_windows_software_hive(root)
        .map_err(gf("inspection: the SOFTWARE hive"))?;
    let build = Hive::with(g, &software, false, |h| {
        match h.node(&["Microsoft", "Windows NT", "CurrentVersion"])? {
            Some(n) => h.string(n, "CurrentBuildNumber"),
            None => Ok(None),
        }
    })?;
    Ok(WindowsInspection {
        product_variant: g.inspect_get_product_variant(root).unwrap_or_default(),
        build,
        systemroot: g
            .inspect_get_windows_systemroot(root)
            .map_err(gf("inspection: the Windows system root"))?,
        current_control_set: g.inspect_get_windows_current_control_set(root).map_err(gf(
            "inspection: the current control set (HKLM\\SYSTEM\\Select)",
        ))?,
    })
}

/// Convert the mounted Windows guest.  Returns the changes and the
/// target; warnings are added to `warnings`.
pub fn convert(
    g: &Guestfs,
    insp: &Inspection,
    firmware: Firmware,
    block_driver: BlockDriver,
    ips: &[StaticIp],
    warnings: &mut Vec<String>,
) -> Result<(Vec<Change>, TargetMeta)> {
    let env = |k: &str| std::env::var(k).ok();
    let r = &insp.root;
    let w = match &insp.windows {
        Some(w) => w.clone(),
        None => inspect(g, r)?,
    };
    let win = Win {
        root: r.clone(),
        arch: insp.arch.clone(),
        major: insp.major_version,
        minor: insp.minor_version,
        osinfo: insp.osinfo.clone().unwrap_or_default(),
        variant: w.product_variant,
        systemroot: w.systemroot,
        ccs: w.current_control_set,
        system_hive: g
            .inspect_get_windows_system_hive(r)
            .map_err(gf("inspection: the SYSTEM hive"))?,
        software_hive: g
            .inspect_get_windows_software_hive(r)
            .map_err(gf("inspection: the SOFTWARE hive"))?,
    };
    debug!(
        "windows: root {} {}.{} {} {} {} systemroot {} control set {}",
        win.root, win.major, win.minor, win.arch, win.variant, win.osinfo, win.systemroot, win.ccs
    );
    // Fail before changing anything.
    let tools = firstboot::tools_dir(env);
    let Some(wrapper) = firstboot::find_wrapper(&tools) else {
        return Err(Failure::unsupported(format!(
            "cannot install the Windows first-boot service: neither {} nor {} is in {} \
             (VIRT_TOOLS_DATA_DIR); one of them is needed to run the first-boot scripts \
             (installing the drivers, removing VMware Tools).  Build rhsrvany from \
             https://github.com/rwmjones/rhsrvany and put rhsrvany.exe there",
            firstboot::WRAPPERS[0],
            firstboot::WRAPPERS[1],
            tools.display()
        )));
    };
    let source = Source::open(virtio::locate(env, Path::new("/usr/share")))?;

    let mut run = Run {
        g,
        win,
        changes: Vec::new(),
        warnings: Vec::new(),
        scripts: Vec::new(),
    };

    // SOFTWARE: the VMware Tools uninstallers; DevicePath.
    let uninstalls = software_hive(&mut run)?;

    // The drivers.
    let (installed, copied) = copy_drivers(&mut run, &source, block_driver)?;

    // First-boot scripts, in upstream's order.
    run.add_script(2000, "pnputil install drivers", firstboot::pnputil_script());
    if !ips.is_empty() {
        static_ips(&mut run, ips)?;
    }
    install_qemu_ga(&mut run, &source)?;
    if copied.iter().any(|n| n == "blnsvr.exe") {
        let exe = format!("{}\\Drivers\\VirtIO\\blnsvr.exe", run.systemroot_win());
        run.add_script(5000, "install-blnsvr", firstboot::blnsvr_script(&exe));
    } else {
        run.warnings.push(format!(
            "Balloon Server (blnsvr.exe) not found in {}: you may want to install it in the guest after conversion",
            source.path().display()
        ));
    }
    for (name, cmd) in &uninstalls {
        let text = firstboot::uninstall_script(name, &registry::uninstall_command(cmd));
        run.add_script(5000, "uninstall VMware Tools", text);
    }
    install_firstboot(&mut run, &tools, wrapper)?;

    // SYSTEM: the first-boot service, AutoReboot, the boot driver.
    let rtc_utc = system_hive(&mut run, wrapper, installed.block.as_deref())?;

    if firmware == Firmware::Uefi {
        fix_esp(&mut run)?;
    }
    let t = target(&run.win.arch, run.win.major, firmware, &installed, rtc_utc);
    warnings.append(&mut run.warnings);
    Ok((run.changes, t))
}

/// Read the VMware Tools Uninstall entries, append to DevicePath.
fn software_hive(run: &mut Run<'_>) -> Result<Vec<(String, String)>> {
    let file = run.win.software_hive.clone();
    let (uninstalls, changed, warn) = Hive::with(run.g, &file, true, |h| {
        let mut found = Vec::new();
        if let Some(un) = h.node(&["Microsoft", "Windows", "CurrentVersion", "Uninstall"])? {
            for n in h.children(un)? {
                let Some(name) = h.string(n, "DisplayName")? else {
                    continue;
                };
                if !name.contains("VMware Tools") {
                    continue;
                }
                match h.string(n, "UninstallString")? {
                    Some(cmd) => found.push((name, cmd)),
                    None => {
                        let key = h.name(n)?;
                        return Ok((found, None, Some(format!(
                            "cannot uninstall {name}: registry key HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{key} has no UninstallString"
                        ))));
                    }
                }
            }
        }
        let Some(cv) = h.node(&["Microsoft", "Windows", "CurrentVersion"])? else {
            return Ok((found, None, Some(
                "could not find registry key HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion".to_string(),
            )));
        };
        let mut changed = None;
        if let Some((t, data)) = h.value(cv, "DevicePath")? {
            if let Some(new) = registry::append_device_path(&data) {
                h.set(cv, "DevicePath", t, &new)?;
                changed = Some(registry::from_utf16(&new));
            }
        }
        Ok((found, changed, None))
    })?;
    if let Some(w) = warn {
        run.warnings.push(w);
    }
    if let Some(v) = changed {
        run.change(
            "registry",
            "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\DevicePath",
            format!("appended {} (now {v})", registry::DEVICE_PATH_APPEND),
        );
    }
    Ok(uninstalls)
}

/// Copy the matching virtio-win files to `%SystemRoot%\Drivers\VirtIO`
/// and the block driver to `system32\drivers`.
fn copy_drivers(
    run: &mut Run<'_>,
    source: &Source,
    block_driver: BlockDriver,
) -> Result<(Installed, Vec<String>)> {
    let (arch, osinfo) = (run.win.arch.clone(), run.win.osinfo.clone());
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    for f in source.files()? {
        if virtio::matches_guest(&f, &arch, &osinfo) {
            chosen.insert(basename(&f), f);
        }
    }
    if chosen.contains_key("fwcfg.inf") {
        chosen.retain(|n, _| !n.starts_with("qemufwcfg."));
    }
    let describe = format!(
        "{}.{} {} {} {}",
        run.win.major, run.win.minor, run.win.arch, run.win.variant, run.win.osinfo
    );
    if chosen.is_empty() {
        run.warnings.push(format!(
            "there are no virtio drivers available for this version of Windows ({describe}) in {}: the guest is given slower emulated devices (see VIRTIO_WIN)",
            source.path().display()
        ));
        return Ok((Installed::none(), Vec::new()));
    }
    message!(
        "Copying {} virtio-win files for {} from {}",
        chosen.len(),
        run.win.osinfo,
        source.path().display()
    );
    let dir = run.mkdir(&run.win.systemroot, "Drivers/VirtIO")?;
    for (name, rel) in &chosen {
        let data = source.read(rel)?;
        let dest = format!("{dir}/{name}");
        run.g.write(&dest, &data).map_err(gf(&dest))?;
    }
    let names: Vec<String> = chosen.keys().cloned().collect();
    run.change(
        "file",
        dir.clone(),
        format!(
            "copied the virtio drivers for {} from {}: {}",
            run.win.osinfo,
            source.path().display(),
            names.join(", ")
        ),
    );
    let inst = Installed::from_files(&names, &block_priority(block_driver));
    match &inst.block {
        Some(b) => {
            let sys32 = run.mkdir(&run.win.systemroot, "system32/drivers")?;
            let target = format!("{sys32}/{b}.sys");
            run.g
                .cp(&format!("{dir}/{b}.sys"), &target)
                .map_err(gf(&target))?;
            run.change("file", target, format!("the boot disk driver {b}.sys"));
        }
        None => run.warnings.push(format!(
            "there is no virtio block device driver for this version of Windows ({describe}) in {}: the guest is given a slower emulated disk",
            source.path().display()
        )),
    }
    if !inst.net {
        run.warnings.push(format!(
            "there is no virtio network driver for this version of Windows ({describe}) in {}: the guest is given a slower emulated network card",
            source.path().display()
        ));
    }
    Ok((inst, names))
}

/// The first-boot directory in the guest, created.
fn firstboot_dir(run: &Run<'_>) -> Result<String> {
    run.mkdir("", firstboot::DIR)
}

/// The QEMU guest agent MSIs to `Firstboot\Temp`, and their installer.
fn install_qemu_ga(run: &mut Run<'_>, source: &Source) -> Result<()> {
    let msis: Vec<String> = source
        .files()?
        .into_iter()
        .filter(|f| virtio::is_qemu_ga(f, &run.win.arch))
        .collect();
    if msis.is_empty() {
        run.warnings.push(format!(
            "QEMU Guest Agent MSI not found in {}: you may want to install the guest agent after conversion",
            source.path().display()
        ));
        return Ok(());
    }
    let temp = format!("{}/Temp", firstboot_dir(run)?);
    run.g.mkdir_p(&temp).map_err(gf(&temp))?;
    let mut wins = Vec::new();
    for m in &msis {
        let name = basename(m);
        run.g
            .write(&format!("{temp}/{name}"), &source.read(m)?)
            .map_err(gf(&temp))?;
        wins.push(format!("{}\\Temp\\{name}", firstboot::DIR_WIN));
    }
    let ps1 = "install-qemu-ga.ps1";
    run.g
        .write(
            &format!("{temp}/{ps1}"),
            firstboot::qemu_ga_ps1(&wins).as_bytes(),
        )
        .map_err(gf(&temp))?;
    run.change(
        "file",
        temp,
        format!("the QEMU guest agent installer {}", wins.join(", ")),
    );
    let bat = firstboot::powershell_script(&format!("{}\\Temp\\{ps1}", firstboot::DIR_WIN));
    run.add_script(5000, "install-qemu-ga", bat);
    Ok(())
}

/// `--mac MAC:ip:...`: a first-boot PowerShell script that waits for the
/// virtio-net driver and sets each address on the NIC with that MAC (after
/// the drivers are installed: priority 2500).
fn static_ips(run: &mut Run<'_>, ips: &[StaticIp]) -> Result<()> {
    let temp = format!("{}/Temp", firstboot_dir(run)?);
    run.g.mkdir_p(&temp).map_err(gf(&temp))?;
    let ps1 = "v2v-static-ip.ps1";
    run.g
        .write(
            &format!("{temp}/{ps1}"),
            firstboot::static_ip_ps1(ips).as_bytes(),
        )
        .map_err(gf(&temp))?;
    let list: Vec<String> = ips
        .iter()
        .map(|i| format!("{} {}/{}", i.mac, i.addr, i.prefix))
        .collect();
    run.change(
        "firstboot",
        format!("{temp}/{ps1}"),
        format!("static addresses at first boot: {}", list.join(", ")),
    );
    let bat = firstboot::powershell_script(&format!("{}\\Temp\\{ps1}", firstboot::DIR_WIN));
    run.add_script(2500, "static-ip", bat);
    Ok(())
}

/// The wrapper, firstboot.bat and the scripts.
fn install_firstboot(run: &mut Run<'_>, tools: &Path, wrapper: &str) -> Result<()> {
    let dir = firstboot_dir(run)?;
    let scripts = format!("{dir}/scripts");
    run.g.mkdir_p(&scripts).map_err(gf(&scripts))?;
    run.g.rm_rf(&format!("{dir}/complete")).map_err(gf(&dir))?;
    let exe = std::fs::read(tools.join(wrapper))
        .or_fail(Failure::failed)
        .map_err(|e| e.context(format!("reading {}", tools.join(wrapper).display())))?;
    run.g
        .write(&format!("{dir}/{wrapper}"), &exe)
        .map_err(gf(&dir))?;
    run.g
        .write(
            &format!("{dir}/firstboot.bat"),
            firstboot::control_script(wrapper).as_bytes(),
        )
        .map_err(gf(&dir))?;
    for (name, text) in run.scripts.clone() {
        let p = format!("{scripts}/{name}");
        run.g.write(&p, text.as_bytes()).map_err(gf(&p))?;
    }
    let names: Vec<String> = run.scripts.iter().map(|(n, _)| n.clone()).collect();
    run.change(
        "firstboot",
        dir,
        format!(
            "first-boot service files ({wrapper}, firstboot.bat) and scripts: {}",
            names.join(", ")
        ),
    );
    Ok(())
}

/// SYSTEM hive edits; returns whether the RTC is in UTC.
fn system_hive(run: &mut Run<'_>, wrapper: &str, block: Option<&str>) -> Result<bool> {
    let file = run.win.system_hive.clone();
    let ccs = run.win.ccs.clone();
    let arch = run.win.arch.clone();
    let mut edits = registry::firstboot_service_edits(&ccs, firstboot::DIR_WIN, wrapper);
    let (rtc_utc, autoreboot, binding, block_edits) = Hive::with(run.g, &file, true, |h| {
        let rtc_utc = match h.node(&[&ccs, "Control", "TimeZoneInformation"])? {
            Some(n) => match h.value(n, "RealTimeIsUniversal")? {
                Some((_, d)) => d.first() == Some(&1) && d[1..].iter().all(|&b| b == 0),
                None => false,
            },
            None => false,
        };
        let autoreboot = match h.node(&[&ccs, "Control", "CrashControl"])? {
            Some(n) => {
                h.set(
                    n,
                    "AutoReboot",
                    v2v_guestfs::hivex::REG_DWORD,
                    &0u32.to_le_bytes(),
                )?;
                true
            }
            None => false,
        };
        let mut block_edits: Vec<Edit> = Vec::new();
        let mut binding = None;
        if let Some(b) = block {
            let bd = if h.node(&["DriverDatabase"])?.is_some() {
                Binding::DriverDatabase
            } else {
                Binding::CriticalDeviceDatabase
            };
            block_edits = registry::block_driver_edits(&ccs, b, bd, &arch);
            binding = Some(bd);
        }
        edits.extend(block_edits.iter().cloned());
        h.import(&edits)?;
        Ok((rtc_utc, autoreboot, binding, block_edits))
    })?;
    run.change(
        "service",
        format!("HKLM\\SYSTEM\\{ccs}\\Services\\firstboot"),
        format!(
            "first-boot service running {}\\{wrapper} -s firstboot",
            firstboot::DIR_WIN
        ),
    );
    if autoreboot {
        run.change(
            "registry",
            format!("HKLM\\SYSTEM\\{ccs}\\Control\\CrashControl\\AutoReboot"),
            "set to 0: a crash (0x7B) stays on screen",
        );
    }
    if let (Some(b), Some(bd)) = (block, binding) {
        let keys: Vec<String> = block_edits
            .iter()
            .map(|e| registry::key_name("SYSTEM", &e.path))
            .collect();
        run.change(
            "registry",
            format!("HKLM\\SYSTEM\\{ccs}\\Services\\{b}"),
            format!(
                "boot-start service {b}, its PCI IDs bound through the {}: {}",
                match bd {
                    Binding::DriverDatabase => "DriverDatabase",
                    Binding::CriticalDeviceDatabase => "CriticalDeviceDatabase",
                },
                keys.join(", ")
            ),
        );
    }
    debug!(
        "windows: the guest's RTC is in {}",
        if rtc_utc { "UTC" } else { "local time" }
    );
    Ok(rtc_utc)
}

/// UEFI: on each ESP, remove `graphicsmodedisabled` from the default boot
/// entry of the BCD and put the Windows boot manager in the fallback path.
fn fix_esp(run: &mut Run<'_>) -> Result<()> {
    let esps: Vec<String> = inspect::partitions(run.g)?
        .into_iter()
        .filter(|p| inspect::firmware_of(std::slice::from_ref(p)) == Firmware::Uefi)
        .map(|p| p.partition)
        .collect();
    let efi_arch = match run.win.arch.as_str() {
        "x86_64" => Some("x64"),
        "i386" => Some("ia32"),
        "aarch64" => Some("aa64"),
        _ => None,
    };
    let temp = run.mkdir(&run.win.systemroot, "Temp")?;
    for dev in esps {
        let mp = run
            .g
            .mkdtemp(&format!("{temp}/ESP_XXXXXX"))
            .map_err(gf(&temp))?;
        run.g.mount(&dev, &mp).map_err(gf(&dev))?;
        let r = fix_one_esp(run, &dev, &mp, efi_arch);
        let u = run.g.umount(&mp).map_err(gf(&mp));
        let _ = run.g.rmdir(&mp);
        r?;
        u?;
    }
    Ok(())
}

/// The BCD's boot manager object and its default-entry element.
const BOOTMGR: &str = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}";

fn fix_one_esp(run: &mut Run<'_>, dev: &str, mp: &str, efi_arch: Option<&str>) -> Result<()> {
    let bcd = format!("{mp}/EFI/Microsoft/Boot/BCD");
    if run.g.is_file(&bcd).unwrap_or(false) {
        let removed = Hive::with(run.g, &bcd, true, |h| {
            let Some(link) = h.node(&["Objects", BOOTMGR, "Elements", "23000003"])? else {
                return Ok(None);
            };
            let Some(entry) = h.string(link, "Element")? else {
                return Ok(None);
            };
            match h.node(&["Objects", &entry, "Elements", "16000046"])? {
                Some(n) => {
                    h.delete(n)?;
                    Ok(Some(entry))
                }
                None => Ok(None),
            }
        })?;
        if let Some(entry) = removed {
            run.change(
                "bootloader",
                format!("{dev}:/EFI/Microsoft/Boot/BCD"),
                format!("removed graphicsmodedisabled (element 16000046) from the default entry {entry}"),
            );
        }
    }
    let Some(a) = efi_arch else { return Ok(()) };
    let bootmgfw = format!("{mp}/efi/microsoft/boot/bootmgfw.efi");
    if !run.g.is_file(&bootmgfw).unwrap_or(false) {
        return Ok(());
    }
    let bootdir = format!("{mp}/efi/boot");
    let fallback = format!("{bootdir}/boot{a}.efi");
    let same = run.g.is_file(&fallback).unwrap_or(false)
        && run.g.equal(&fallback, &bootmgfw).map_err(gf(&fallback))?;
    if !same {
        message!("Fixing UEFI bootloader");
        run.g.rm_rf(&bootdir).map_err(gf(&bootdir))?;
        run.g.mkdir_p(&bootdir).map_err(gf(&bootdir))?;
        run.g.cp(&bootmgfw, &fallback).map_err(gf(&fallback))?;
        run.change(
            "bootloader",
            format!("{dev}:/EFI/Boot/boot{a}.efi"),
            "the fallback boot loader is now the Windows boot manager (bootmgfw.efi)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_follow_the_drivers() {
        let names: Vec<String> = [
            "viostor.sys",
            "vioscsi.sys",
            "netkvm.inf",
            "viorng.inf",
            "balloon.inf",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let blk = Installed::from_files(&names, &block_priority(BlockDriver::VirtioBlk));
        assert_eq!(blk.block.as_deref(), Some("viostor"));
        assert!(blk.net && blk.rng && blk.balloon && !blk.pvpanic && !blk.vsock);
        let scsi = Installed::from_files(&names, &block_priority(BlockDriver::VirtioScsi));
        assert_eq!(scsi.block.as_deref(), Some("vioscsi"));
        let t = target("x86_64", 10, Firmware::Uefi, &blk, false);
        assert_eq!(t.block_bus, TargetBlockBus::VirtioBlk);
        assert_eq!(t.net_model, TargetNetModel::Virtio);
        assert_eq!((t.machine.as_str(), t.firmware), ("q35", Firmware::Uefi));
        assert!(t.virtio_rng && t.virtio_balloon && !t.pvpanic && !t.rtc_utc);
        assert_eq!(
            target("x86_64", 10, Firmware::Bios, &scsi, true).block_bus,
            TargetBlockBus::VirtioScsi
        );
        // No drivers: emulated devices, SATA on q35, IDE on i440fx.
        let none = target("x86_64", 6, Firmware::Unknown, &Installed::none(), false);
        assert_eq!(
            (none.block_bus, none.net_model),
            (TargetBlockBus::Sata, TargetNetModel::Rtl8139)
        );
        assert_eq!(none.firmware, Firmware::Bios);
        let xp = target("i386", 5, Firmware::Bios, &Installed::none(), false);
        assert_eq!(
            (xp.machine.as_str(), xp.block_bus),
            ("pc", TargetBlockBus::Ide)
        );
    }
}
