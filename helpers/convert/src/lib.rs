//! helper-v2v-convert: inspect the guest served as `DIR/in1..inN` and
//! convert it to boot on KVM (virtio), writing `DIR/metadata.out`.
//!
//! One libguestfs appliance per run: inspection, every change and the
//! final fstrim share it.  The per-distro plan is computed by pure
//! functions ([`linux::plan`]) from facts read through the small
//! [`guest::GuestFs`] trait, and applied through the same trait
//! ([`apply::apply`]).

pub mod apply;
pub mod customize;
pub mod devices;
pub mod guest;
pub mod inspect;
pub mod linux;
pub mod luks;
pub mod windows;

use clap::Parser;
use guest::GuestFs;
use helper_common::keys::{self, KeySelector, Keys};
use helper_common::{debug, message, warning, CommonArgs, Ctx, Failure, OrFail, Result};
use inspect::RootChoice;
use linux::{Family, KernelInfo};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use v2v_guestfs::Guestfs;
use v2v_meta::{
    Change, Firmware, Inspection, Kernel, MetadataIn, MetadataOut, Mountpoint, TargetBlockBus,
    TargetMeta, TargetNetModel, CONTRACT_VERSION,
};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "helper-v2v-convert",
    version,
    about = "Inspect the guest served as DIR/in1..inN and convert it to boot on KVM; write DIR/metadata.out"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only check the options, then exit 0 or 2: the customisation
    /// options and --mac, as the step checks them first.  No side effect:
    /// DIR is neither read nor touched, no appliance.
    #[arg(long = "check")]
    pub check: bool,
    /// Inspect only: change nothing (the drives are attached read-only),
    /// write the inspection to DIR/metadata.out with "converted": false.
    #[arg(long = "inspect-only")]
    pub inspect_only: bool,
    /// Multi-boot guests: ask (on a terminal; an error without one), single
    /// (fail), first, or the root device to convert (/dev/sda2).
    #[arg(
        long = "root",
        value_name = "ask|single|first|/dev/X",
        default_value = "ask"
    )]
    pub root: RootChoice,
    /// A key for an encrypted (LUKS) device, as virt-v2v's --key
    /// (repeatable): DEVICE:key:KEY_STRING or DEVICE:file:FILENAME, DEVICE
    /// being a device (/dev/sda2), a LUKS UUID or all.
    #[arg(long = "key", value_name = "SELECTOR")]
    pub keys: Vec<String>,
    /// Read more --key selectors from stdin, one per line (how the runners
    /// pass keys: never in a process's command line).
    #[arg(long = "key-selectors-from-stdin")]
    pub key_selectors_from_stdin: bool,
    /// Windows: the virtio block driver to install (virtio-scsi: vioscsi,
    /// when virtio-win has it).
    #[arg(
        long = "block-driver",
        value_name = "virtio-blk|virtio-scsi",
        default_value = "virtio-blk"
    )]
    pub block_driver: windows::BlockDriver,
    /// The appliance's memory in MiB, as virt-v2v's --memsize (default:
    /// LIBGUESTFS_MEMSIZE, else 1536).
    #[arg(long = "memsize", value_name = "MB", value_parser = clap::value_parser!(i32).range(1..))]
    pub memsize: Option<i32>,
    /// The appliance's vCPUs, as virt-v2v's --smp (default:
    /// V2V_APPLIANCE_SMP, else the host's CPUs, at most 4).
    #[arg(long = "smp", value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    pub smp: Option<i32>,
    /// Do not trim the filesystems after converting, as virt-v2v's
    /// --no-fstrim (the copy then copies their free space too).
    #[arg(long = "no-fstrim")]
    pub no_fstrim: bool,
    /// virt-customize operations and `--mac MAC:ip:...` (Linux guests),
    /// applied after the conversion in command-line order.
    #[command(flatten)]
    pub customize: customize::Options,
    /// The temp directory (made by helper-v2v-input-<type>).
    pub dir: PathBuf,
}

/// Appliance memory (MiB) unless LIBGUESTFS_MEMSIZE says otherwise:
/// update-initramfs / dracut under TCG are faster with room for page cache.
pub const DEFAULT_MEMSIZE: i32 = 1536;

/// How long the KVM probe may take before we decide KVM hangs.
pub const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(4);

/// Free space a conversion needs on a filesystem (bytes), by mountpoint.
pub fn needed_space(mountpoint: &str) -> Option<u64> {
    const MIB: u64 = 1024 * 1024;
    match mountpoint {
        "/" => Some(100 * MIB),
        "/boot" => Some(50 * MIB),
        "/usr" | "/var" => Some(20 * MIB),
        _ => None,
    }
}

/// Decide KVM or TCG for the appliance.  `LIBGUESTFS_BACKEND_SETTINGS`
/// from the user wins (libguestfs has read it already).
fn choose_accel(g: &Guestfs) -> Result<()> {
    if let Some(s) = std::env::var_os("LIBGUESTFS_BACKEND_SETTINGS") {
        debug!(
            "LIBGUESTFS_BACKEND_SETTINGS={} set by the user: not probing KVM",
            s.to_string_lossy()
        );
        return Ok(());
    }
    let t = Instant::now();
    let (r, cached) = v2v_guestfs::kvm::probe_cached(KVM_PROBE_TIMEOUT);
    let how = if cached {
        "remembered for this boot".to_string()
    } else {
        format!("probed in {:.1}s", t.elapsed().as_secs_f64())
    };
    match r {
        Ok(()) => debug!("KVM works ({how}): the appliance uses it"),
        Err(why) => {
            message!("KVM is not usable on this host ({why}; {how}): the appliance runs under TCG, which is slower");
            g.set_backend_settings(&["force_tcg"])
                .or_fail(Failure::failed)?;
        }
    }
    Ok(())
}

/// Create the handle, attach every `inN`, and launch (the one launch of
/// this run).
fn open_appliance(ctx: &Ctx, args: &Args, meta: &MetadataIn, readonly: bool) -> Result<Guestfs> {
    let gf = |e: v2v_guestfs::Error| Failure::failed(e.to_string());
    let mut g = Guestfs::new().map_err(|e| Failure::external(e.to_string()))?;
    // The appliance's verbose console costs seconds per call under TCG
    // (every byte is an emulated serial write): only with -v or
    // LIBGUESTFS_DEBUG=1.
    let verbose = ctx.common.verbose || std::env::var("LIBGUESTFS_DEBUG").is_ok_and(|v| v == "1");
    g.route_events_to_log(verbose).map_err(gf)?;
    choose_accel(&g)?;
    if let Some(m) = args.memsize {
        g.set_memsize(m).map_err(gf)?;
    } else if std::env::var_os("LIBGUESTFS_MEMSIZE").is_none() {
        g.set_memsize(DEFAULT_MEMSIZE).map_err(gf)?;
    }
    let smp = args
        .smp
        .or_else(|| std::env::var("V2V_APPLIANCE_SMP").ok()?.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get().min(4) as i32)
                .unwrap_or(1)
        });
    g.set_smp(smp).map_err(gf)?;
    for (i, d) in meta.source.disks.iter().enumerate() {
        let sock = ctx.dir.source_socket(i, d)?;
        g.add_drive_nbd(&sock, readonly)
            .map_err(|e| Failure::failed(e.to_string()).disk(d.index))?;
    }
    let t = Instant::now();
    g.launch().map_err(|e| {
        Failure::external(format!("the libguestfs appliance did not start: {e}"))
            .cause("rerun with -v -x, or run libguestfs-test-tool")
    })?;
    debug!("appliance launched in {:.1}s", t.elapsed().as_secs_f64());
    Ok(g)
}

fn check_sockets(ctx: &Ctx, meta: &MetadataIn) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    if meta.source.disks.is_empty() {
        return Err(Failure::contract(format!(
            "{}: the source has no disks",
            ctx.dir.metadata_in().display()
        )));
    }
    for (i, d) in meta.source.disks.iter().enumerate() {
        let p = ctx
            .dir
            .source_socket(i, d)
            .map_err(|e| Failure::from(e).disk(d.index))?;
        match std::fs::metadata(&p) {
            Ok(m) if m.file_type().is_socket() => {}
            Ok(_) => {
                return Err(
                    Failure::contract(format!("{}: not a socket", p.display())).disk(d.index)
                )
            }
            Err(e) => {
                return Err(Failure::contract(format!(
                    "{}: {e} (is the input helper's NBD server running?)",
                    p.display()
                ))
                .disk(d.index))
            }
        }
    }
    Ok(())
}

fn kernels_for_metadata(ks: &[KernelInfo], chosen: Option<&str>) -> Vec<Kernel> {
    ks.iter()
        .map(|k| Kernel {
            version: k.version.clone(),
            vmlinuz: k.vmlinuz.clone(),
            initrd: k.initrd_exists.then(|| k.initrd.clone()),
            virtio: k.virtio(),
            default: Some(k.version.as_str()) == chosen,
        })
        .collect()
}

/// The converted guest's devices, from the kernel it boots.
pub fn target_for(kernel: &KernelInfo, arch: &str, firmware: Firmware) -> TargetMeta {
    let (maj, min) = kernel.major_minor();
    TargetMeta {
        block_bus: TargetBlockBus::VirtioBlk,
        net_model: TargetNetModel::Virtio,
        machine: match arch {
            "aarch64" | "armv7l" | "riscv64" => "virt".into(),
            "x86_64" | "i386" | "i486" | "i586" | "i686" => "q35".into(),
            _ => "pc".into(),
        },
        arch: arch.into(),
        firmware: bios_unless_uefi(firmware),
        video: "vga".into(),
        virtio_rng: kernel.has("virtio_rng"),
        virtio_balloon: kernel.has("virtio_balloon"),
        pvpanic: kernel.has("pvpanic") || kernel.has("pvpanic_pci"),
        virtio_socket: kernel.has("vmw_vsock_virtio_transport"),
        virtio_1_0: (maj, min) >= (3, 8),
        acpi: true,
        rtc_utc: true,
    }
}

/// Check free space on the mounted filesystems (exit 5 when short).
fn check_free_space(g: &Guestfs, insp: &Inspection) -> Result<()> {
    for m in &insp.mountpoints {
        let Some(need) = needed_space(&m.path) else {
            continue;
        };
        let st = match g.statvfs(&m.path) {
            Ok(s) => s,
            Err(e) => {
                debug!("statvfs {}: {e}", m.path);
                continue;
            }
        };
        let avail = st.avail_bytes().max(0) as u64;
        debug!("{}: {} MiB free", m.path, avail >> 20);
        if avail < need {
            return Err(Failure::unsupported(format!(
                "not enough free space for conversion on filesystem {} ({}): {} MiB free, {} MiB needed",
                m.path,
                m.device,
                avail >> 20,
                need >> 20
            )));
        }
        if st.files > 0 && st.ffree < 100 {
            return Err(Failure::unsupported(format!(
                "not enough free inodes for conversion on filesystem {} ({}): {} free",
                m.path, m.device, st.ffree
            )));
        }
    }
    Ok(())
}

/// The LUKS keys of `--key` and `--key-selectors-from-stdin` (a bad
/// selector or an unreadable key file is a usage error); device names in
/// any disk naming (`/dev/vda2`) are the appliance's (`/dev/sda2`).
fn load_keys(args: &Args) -> Result<Keys> {
    let mut selectors = Vec::new();
    for s in &args.keys {
        selectors.push(KeySelector::parse(s).map_err(Failure::usage)?);
    }
    if args.key_selectors_from_stdin {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
            Failure::usage(format!("--key-selectors-from-stdin: reading stdin: {e}"))
        })?;
        selectors.extend(keys::from_lines(&text).map_err(Failure::usage)?);
    }
    let mut keys = Keys::load(&selectors).map_err(Failure::usage)?;
    keys.map_ids(inspect::canonical_dev);
    Ok(keys)
}

/// The checks of the options that need neither DIR nor the guest
/// (`--check`, and the step's first action): the customisation options,
/// checked.
pub fn check(args: &Args) -> Result<Custom> {
    let custom = Custom {
        ops: args.customize.ops()?,
        ips: args.customize.static_ips()?,
    };
    if args.inspect_only && !args.customize.is_empty() {
        return Err(Failure::usage(
            "--inspect-only changes nothing: it cannot be given with customisation options",
        ));
    }
    Ok(custom)
}

/// The step body.
pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let t0 = Instant::now();
    let custom = check(args)?;
    let keys = load_keys(args)?;
    let meta: MetadataIn = v2v_meta::read_json(&ctx.dir.metadata_in())?;
    check_sockets(ctx, &meta)?;
    let out_path = ctx.dir.metadata_out();
    let _ = std::fs::remove_file(&out_path);

    message!("Opening the source");
    let g = open_appliance(ctx, args, &meta, args.inspect_only)?;
    let mut opened = luks::open_encrypted(&g, &keys, args.inspect_only)?;
    drop(keys);
    if !args.inspect_only {
        luks::align_with_crypttab(&g, &mut opened)?;
    }

    message!("Inspecting the source");
    let found = inspect_source(&g, &meta, args)?;
    if args.inspect_only {
        let out = inspection_only(&g, &meta, found)?;
        v2v_meta::write_json(&out_path, &out)?;
        message!("Inspection written to {}", out_path.display());
        return Ok(());
    }
    let out = if found.insp.os_type == "windows" {
        if !custom.ops.is_empty() {
            return Err(Failure::unsupported(
                "customisation options (--hostname, --firstboot, --run, ...) \
                 are supported on Linux guests only by this build",
            ));
        }
        convert_windows(&g, found, args.block_driver, &custom.ips)?
    } else {
        convert(&g, &meta, found, &custom)?
    };
    v2v_meta::write_json(&out_path, &out)?;
    message!(
        "Converted in {:.1}s: {} changes, {} warnings; wrote {}",
        t0.elapsed().as_secs_f64(),
        out.changes.len(),
        out.warnings.len(),
        out_path.display()
    );
    Ok(())
}

/// The checked customisation options.
pub struct Custom {
    pub ops: Vec<customize::Op>,
    pub ips: Vec<customize::StaticIp>,
}

/// What inspection found, before anything changes.
struct Found {
    insp: Inspection,
    /// The distribution family, when it is one we convert.
    family: Option<Family>,
    kernels: Vec<KernelInfo>,
    /// The firmware the target boots with ([`target_firmware`]).
    firmware: Firmware,
    warnings: Vec<String>,
    /// Trim the filesystems at the end (not with `--no-fstrim`).
    fstrim: bool,
}

/// Choose the root to convert, inspect it, mount its filesystems
/// (read-only with `--inspect-only`) and list its kernels.
fn inspect_source(g: &Guestfs, meta: &MetadataIn, args: &Args) -> Result<Found> {
    let roots = g.inspect_os().or_fail(Failure::failed)?;
    let described: Vec<(String, String)> = roots
        .iter()
        .map(|r| {
            let name = g
                .inspect_get_product_name(r)
                .unwrap_or_else(|_| "unknown".into());
            (r.clone(), name)
        })
        .collect();
    let root = inspect::choose_root(&described, &args.root, &mut inspect::terminal_prompt)?;
    let mut insp = inspect::inspect_root(g, &root)?;
    debug!(
        "root {root}: {} {} {}.{} {} ({})",
        insp.os_type,
        insp.distro,
        insp.major_version,
        insp.minor_version,
        insp.arch,
        insp.product_name
    );
    let mut warnings = inspect::mount_all(g, &insp.mountpoints, args.inspect_only)?;
    if insp.os_type == "windows" {
        insp.windows = Some(windows::inspect(g, &root)?);
    }
    insp.firmware = inspect::firmware_of(&inspect::partitions(g)?);
    let family = Family::of(&insp.distro);
    let kernels = if insp.os_type == "linux" {
        linux::list_kernels(g, family.unwrap_or(Family::Debian))?
    } else {
        Vec::new()
    };
    let firmware = target_firmware(meta.source.firmware, insp.firmware, &mut warnings);
    Ok(Found {
        insp,
        family,
        kernels,
        firmware,
        warnings,
        fstrim: !args.no_fstrim,
    })
}

/// The firmware to boot the target with: the source's when it says,
/// else what inspection found.  A disagreement is a warning.
fn target_firmware(source: Firmware, inspected: Firmware, warnings: &mut Vec<String>) -> Firmware {
    match source {
        Firmware::Unknown => inspected,
        f => {
            if inspected != f {
                warnings.push(format!(
                    "the source says the guest boots with {f:?} firmware, inspection found {inspected:?}; using the source's"
                ));
            }
            f
        }
    }
}

/// UEFI stays UEFI; anything else boots with BIOS.
fn bios_unless_uefi(f: Firmware) -> Firmware {
    if f == Firmware::Uefi {
        Firmware::Uefi
    } else {
        Firmware::Bios
    }
}

/// `--inspect-only`: the inspection, the source's devices, no change.
fn inspection_only(g: &Guestfs, meta: &MetadataIn, found: Found) -> Result<MetadataOut> {
    let Found {
        mut insp,
        kernels,
        firmware,
        warnings,
        ..
    } = found;
    insp.kernels = kernels_for_metadata(
        &kernels,
        linux::choose_kernel(&kernels).map(|k| k.version.as_str()),
    );
    let mut target = TargetMeta::unconverted(&meta.source);
    target.firmware = bios_unless_uefi(firmware);
    if insp.arch != "unknown" {
        target.arch = insp.arch.clone();
    }
    for w in &warnings {
        warning!("{w}");
    }
    finish(g)?;
    Ok(MetadataOut {
        version: CONTRACT_VERSION,
        converted: false,
        inspection: Some(insp),
        target,
        changes: Vec::new(),
        warnings,
    })
}

/// Convert the inspected guest: check it can be, plan, apply, trim.
fn convert(g: &Guestfs, meta: &MetadataIn, found: Found, custom: &Custom) -> Result<MetadataOut> {
    let Found {
        mut insp,
        family,
        kernels,
        firmware,
        mut warnings,
        fstrim,
    } = found;
    if insp.os_type != "linux" {
        return Err(Failure::unsupported(format!(
            "cannot convert {} ({} guest): only Linux and Windows guests are supported",
            insp.product_name, insp.os_type
        )));
    }
    let Some(family) = family else {
        return Err(Failure::unsupported(format!(
            "cannot convert {}: distribution '{}' is not supported (Debian/Ubuntu, \
             RHEL/Fedora/CentOS/Rocky/Alma/Oracle, SUSE are)",
            insp.product_name, insp.distro
        )));
    };
    // Fail before touching anything (the plan says the same).
    linux::boot_kernel(&kernels)
        .map_err(|e| e.context(format!("cannot convert {}", display_name(&insp))))?;
    message!("Checking for sufficient free disk space in the guest");
    check_free_space(g, &insp)?;

    message!("Converting {} to run on KVM", display_name(&insp));
    let facts = linux::gather(
        g,
        family,
        &insp.distro,
        insp.major_version,
        &insp.arch,
        &meta.source.disks,
        &meta.source.nics,
        firmware == Firmware::Uefi,
    )?;
    let plan = linux::plan(&facts)?;
    debug!(
        "plan: kernel {} ({} actions): {:#?}",
        plan.kernel.version,
        plan.actions.len(),
        plan.actions.iter().map(|a| a.change()).collect::<Vec<_>>()
    );
    message!(
        "This guest has virtio drivers installed (kernel {})",
        plan.kernel.version
    );
    let t = Instant::now();
    alias_virtio_names(g);
    let outcome = apply::apply(g, &plan)?;
    debug!("conversion applied in {:.1}s", t.elapsed().as_secs_f64());
    let mut changes = outcome.changes;
    warnings.extend(outcome.warnings);
    changes.extend(customize::network::apply(g, &custom.ips)?);
    changes.extend(customize::ops::apply(g, family, &custom.ops)?);

    insp.kernels = kernels_for_metadata(&facts.kernels, Some(&plan.kernel.version));
    let target = target_for(&plan.kernel, &insp.arch, firmware);
    converted(g, insp, target, changes, warnings, fstrim)
}

/// The end of every conversion: trim (unless `fstrim` is false), report
/// the warnings, shut the appliance down; the metadata.out of a converted
/// guest.
fn converted(
    g: &Guestfs,
    insp: Inspection,
    target: TargetMeta,
    mut changes: Vec<Change>,
    warnings: Vec<String>,
    fstrim: bool,
) -> Result<MetadataOut> {
    if fstrim {
        message!("Mapping filesystem data to avoid copying unused and blank areas");
        let t = Instant::now();
        let mut trimmed = trim(g, &insp.mountpoints);
        apply::time_first(&mut trimmed, t);
        changes.extend(trimmed);
    } else {
        debug!("--no-fstrim: the filesystems are not trimmed");
    }
    for w in &warnings {
        warning!("{w}");
    }
    finish(g)?;
    Ok(MetadataOut {
        version: CONTRACT_VERSION,
        converted: true,
        inspection: Some(insp),
        target,
        changes,
        warnings,
    })
}

/// The guest's files name its disks `/dev/vdX` once renamed (crypttab,
/// the resume device), and tools run in it read them: update-initramfs's
/// cryptroot hook skips a crypttab entry whose source device does not
/// exist, and the initramfs would not unlock the root.  The appliance's
/// disks are `/dev/sdX`, in the same order: give each disk and partition
/// its virtio name too, as a symlink in the appliance's `/dev` (bound into
/// the guest for each command; not a change to the guest).
fn alias_virtio_names(g: &Guestfs) {
    const SCRIPT: &str = "cd /dev && for d in sd*; do [ -b \"$d\" ] || continue; \
                          v=vd${d#sd}; [ -e \"$v\" ] || ln -s \"$d\" \"$v\"; done";
    if let Err(e) = GuestFs::sh(g, SCRIPT) {
        debug!(
            "virtio names in the appliance's /dev: {} (ignored)",
            e.message
        );
    }
}

/// Convert the inspected Windows guest ([`windows::convert`]), trim.
fn convert_windows(
    g: &Guestfs,
    found: Found,
    block: windows::BlockDriver,
    ips: &[customize::StaticIp],
) -> Result<MetadataOut> {
    let Found {
        insp,
        firmware,
        mut warnings,
        fstrim,
        ..
    } = found;
    message!("Converting {} to run on KVM", display_name(&insp));
    let (changes, target) = windows::convert(g, &insp, firmware, block, ips, &mut warnings)?;
    converted(g, insp, target, changes, warnings, fstrim)
}

/// Discard the free space of every mounted filesystem, so copying skips
/// it; a filesystem that cannot be trimmed is skipped.
fn trim(g: &Guestfs, mountpoints: &[Mountpoint]) -> Vec<Change> {
    let mut changes = Vec::new();
    for m in mountpoints {
        match g.fstrim(&m.path) {
            Ok(()) => changes.push(Change {
                kind: "trim".into(),
                target: m.path.clone(),
                detail: format!("discarded free space of {}", m.device),
                seconds: None,
            }),
            Err(e) => debug!("fstrim {}: {e} (ignored)", m.path),
        }
    }
    changes
}

/// A name for messages: libguestfs's product name, with the distro in
/// front when the product name is only a version (`debian 12.15`).
pub fn display_name(i: &Inspection) -> String {
    if i.product_name.chars().any(|c| c.is_alphabetic()) {
        i.product_name.clone()
    } else {
        format!("{} {}", i.distro, i.product_name)
    }
}

/// Unmount and shut the appliance down cleanly: every write reaches the
/// overlay before metadata.out says the conversion is done.
fn finish(g: &Guestfs) -> Result<()> {
    g.umount_all().or_fail(Failure::failed)?;
    g.shutdown()
        .map_err(|e| Failure::external(format!("appliance shutdown failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(ver: &str, modules: &[&str]) -> KernelInfo {
        KernelInfo {
            version: ver.into(),
            vmlinuz: format!("/boot/vmlinuz-{ver}"),
            initrd: format!("/boot/initrd.img-{ver}"),
            initrd_exists: true,
            modules: modules.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn target_follows_the_kernel() {
        let k = kernel(
            "6.1.0-50-amd64",
            &[
                "virtio_blk",
                "virtio_net",
                "virtio_rng",
                "pvpanic_pci",
                "vmw_vsock_virtio_transport",
            ],
        );
        let t = target_for(&k, "x86_64", Firmware::Unknown);
        assert_eq!(t.block_bus, TargetBlockBus::VirtioBlk);
        assert_eq!(t.net_model, TargetNetModel::Virtio);
        assert_eq!((t.machine.as_str(), t.firmware), ("q35", Firmware::Bios));
        assert!(t.virtio_rng && t.pvpanic && t.virtio_socket && t.virtio_1_0);
        assert!(!t.virtio_balloon);
        let old = kernel("2.6.32-754.el6.x86_64", &["virtio_blk", "virtio_net"]);
        let t = target_for(&old, "aarch64", Firmware::Uefi);
        assert_eq!((t.machine.as_str(), t.firmware), ("virt", Firmware::Uefi));
        assert!(!t.virtio_1_0);
        assert_eq!(needed_space("/boot"), Some(50 << 20));
        assert_eq!(needed_space("/home"), None);
    }

    #[test]
    fn the_source_firmware_wins_with_a_warning() {
        let mut w = Vec::new();
        assert_eq!(
            target_firmware(Firmware::Unknown, Firmware::Uefi, &mut w),
            Firmware::Uefi
        );
        assert_eq!(
            target_firmware(Firmware::Bios, Firmware::Bios, &mut w),
            Firmware::Bios
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            target_firmware(Firmware::Uefi, Firmware::Bios, &mut w),
            Firmware::Uefi
        );
        assert_eq!(
            w,
            ["the source says the guest boots with Uefi firmware, inspection found Bios; using the source's"]
        );
        assert_eq!(bios_unless_uefi(Firmware::Unknown), Firmware::Bios);
    }

    #[test]
    fn names_for_messages() {
        let mut i = Inspection {
            distro: "debian".into(),
            product_name: "12.15".into(),
            ..Default::default()
        };
        assert_eq!(display_name(&i), "debian 12.15");
        i.product_name = "Rocky Linux 9.3 (Blue Onyx)".into();
        assert_eq!(display_name(&i), "Rocky Linux 9.3 (Blue Onyx)");
    }
}
