//! `helper-v2v-output-vdsm check|setup|final`: virt-v2v's `-o vdsm`, the
//! output oVirt's VDSM asks for when it imports a guest.  `-os` is a
//! storage domain directory `.../SD-UUID`; disk N goes to
//! `SD/images/IMAGE-UUID-N/VOL-UUID-N` with its `.meta` (a file, or on a
//! block storage domain a link to the logical volume, written into);
//! `final` writes the OVF to `vdsm-ovf-output/VM-UUID.ovf` (upstream's
//! `output_vdsm.ml`).

pub mod ovf;

use helper_common::output::{OutputArgs, OutputType};
use helper_common::{message, warning, Ctx, Failure, Result};
use ovf::Flavour;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use v2v_meta::{MetadataIn, MetadataOut, OutputDisk, OutputJson, V2vDir, CONTRACT_VERSION};
use v2v_output_kit::{self as kit, unknown_oo, Alloc, Format, LocalOptions};

/// `-oo vdsm-compat`: the qcow2 compatibility level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compat {
    V0_10,
    V1_1,
}

impl Compat {
    pub fn name(self) -> &'static str {
        match self {
            Compat::V0_10 => "0.10",
            Compat::V1_1 => "1.1",
        }
    }
}

/// `-o vdsm`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `-os` (canonical), `-of`, `-oa`, `-on`.
    pub local: LocalOptions,
    /// The storage domain's UUID: `-os`'s last component.
    pub sd_uuid: String,
    /// One of each per disk, in order.
    pub image_uuids: Vec<String>,
    pub vol_uuids: Vec<String>,
    pub vm_uuid: String,
    /// `-oo vdsm-ovf-output` (default `.`), absolute.
    pub ovf_output: PathBuf,
    pub compat: Compat,
    pub flavour: Flavour,
}

impl Options {
    /// `SD/images`, where each disk's image directory is.
    pub fn images_dir(&self) -> PathBuf {
        self.local.output_storage.join("images")
    }

    /// Disk `i`'s volume (0-based): `SD/images/IMAGE/VOL`.
    pub fn volume(&self, i: usize) -> PathBuf {
        self.images_dir()
            .join(&self.image_uuids[i])
            .join(&self.vol_uuids[i])
    }
}

/// `-o vdsm`.
pub struct Vdsm;

/// `output.json` keys of what `final` needs besides the disks.
const K_SD: &str = "vdsm_sd_uuid";
const K_VM: &str = "vdsm_vm_uuid";
const K_OVF_OUTPUT: &str = "vdsm_ovf_output";
const K_FLAVOUR: &str = "vdsm_ovf_flavour";
const K_ALLOC: &str = "vdsm_alloc";
const K_IMAGES: &str = "vdsm_image_uuids";
const K_VOLS: &str = "vdsm_vol_uuids";

/// Upstream refuses more disks than this for -o vdsm.
const MAX_DISKS: usize = 23;

/// An `-oo` value used as a file name: one path component.
fn component(key: &str, v: &str) -> Result<String> {
    if v.is_empty() || v == "." || v == ".." || v.contains('/') || v.contains('\0') {
        return Err(Failure::usage(format!(
            "-o vdsm: -oo {key}={v}: must be a single file name component (a UUID)"
        )));
    }
    Ok(v.to_string())
}

/// Every `-oo vdsm-*` option, as upstream's `parse_options` reads them.
#[derive(Default)]
struct Raw {
    vm_uuid: Option<String>,
    ovf_output: Option<String>,
    compat: Option<Compat>,
    flavour: Option<Flavour>,
    images: Vec<String>,
    vols: Vec<String>,
}

impl Raw {
    fn take(&mut self, k: &str, v: &str) -> Result<()> {
        let once = |slot: &mut Option<String>, v: String| {
            if slot.is_some() {
                return Err(Failure::usage(format!(
                    "-o vdsm: -oo {k} set more than once"
                )));
            }
            *slot = Some(v);
            Ok(())
        };
        match k {
            "vdsm-compat" => {
                self.compat = Some(match v {
                    "0.10" => Compat::V0_10,
                    "1.1" => Compat::V1_1,
                    _ => {
                        return Err(Failure::usage(format!(
                            "-o vdsm: unknown vdsm-compat level ‘{v}’"
                        )))
                    }
                })
            }
            "vdsm-vm-uuid" => once(&mut self.vm_uuid, component(k, v)?)?,
            "vdsm-ovf-output" => once(&mut self.ovf_output, v.to_string())?,
            "vdsm-ovf-flavour" => {
                self.flavour = Some(Flavour::parse(v).ok_or_else(|| {
                    Failure::usage(format!(
                        "-o vdsm: -oo vdsm-ovf-flavour={v}: unknown OVF flavour (use {})",
                        Flavour::NAMES.join(" or ")
                    ))
                })?)
            }
            "vdsm-image-uuid" => self.images.push(component(k, v)?),
            "vdsm-vol-uuid" => self.vols.push(component(k, v)?),
            _ => return Err(unknown_oo(Vdsm::NAME, k)),
        }
        Ok(())
    }
}

fn not_dir(what: &str, d: &Path) -> Failure {
    Failure::usage(format!(
        "{what} ({}) does not exist or is not a directory",
        d.display()
    ))
}

impl OutputType for Vdsm {
    const NAME: &'static str = "vdsm";
    const PROG: &'static str = "helper-v2v-output-vdsm";
    const ABOUT: &'static str = "Output to an oVirt storage domain as VDSM asks: `setup` \
        creates and serves the volumes SD/images/IMAGE/VOL with their .meta files, `final` \
        writes the OVF";
    const SETUP: &'static str = "Write SD/images/IMAGE/VOL.meta and create SD/images/IMAGE/VOL \
        for every source disk (on a block storage domain: write into the device it links to), \
        serve them as DIR/outN, write DIR/output.json";
    const FINAL: &'static str = "Write VDSM-OVF-OUTPUT/VM-UUID.ovf from description.json";
    const OPTIONS: &'static str = "-o vdsm: -os SD (required) is the storage domain directory, \
        its last component the domain's UUID; -of raw|qcow2 (default raw); -oa \
        sparse|preallocated (default sparse); -oo vdsm-image-uuid=UUID and -oo \
        vdsm-vol-uuid=UUID once each per disk, in order (SD/images/IMAGE must exist); -oo \
        vdsm-vm-uuid=UUID (required); -oo vdsm-ovf-output=DIR (default .; must exist); -oo \
        vdsm-compat=0.10|1.1 (qcow2 compat, default 0.10); -oo vdsm-ovf-flavour=ovirt|ovirtexp \
        (default ovirtexp); -oc is accepted and ignored.";
    type Options = Options;

    fn validate(args: &OutputArgs) -> Result<Options> {
        let mut raw = Raw::default();
        let local = kit::validate(args, Self::NAME, true, |k, v, _| raw.take(k, v))?;
        if raw.images.is_empty() {
            return Err(Failure::usage(
                "-o vdsm: -oo vdsm-image-uuid was not specified",
            ));
        }
        if raw.vols.is_empty() {
            return Err(Failure::usage(
                "-o vdsm: -oo vdsm-vol-uuid was not specified",
            ));
        }
        if raw.images.len() != raw.vols.len() {
            return Err(Failure::usage(format!(
                "-o vdsm: -oo vdsm-image-uuid was given {} times and -oo vdsm-vol-uuid {} \
                 times: give one of each per guest disk",
                raw.images.len(),
                raw.vols.len()
            )));
        }
        let vm_uuid = raw
            .vm_uuid
            .ok_or_else(|| Failure::usage("-o vdsm: -oo vdsm-vm-uuid was not specified"))?;
        // The domain's UUID is -os's last component, as given (upstream
        // checks its length only).
        let os = args.output_storage.as_deref().unwrap_or(Path::new(""));
        let sd_uuid = os
            .to_str()
            .and_then(|s| s.trim_end_matches('/').rsplit('/').next())
            .filter(|u| u.len() == 36)
            .ok_or_else(|| {
                Failure::usage(format!(
                    "vdsm: invalid -os parameter does not contain a valid UUID: {}",
                    os.display()
                ))
            })?
            .to_string();
        let ovf_output =
            helper_common::absolute(Path::new(raw.ovf_output.as_deref().unwrap_or(".")));
        let opts = Options {
            local,
            sd_uuid,
            image_uuids: raw.images,
            vol_uuids: raw.vols,
            vm_uuid,
            ovf_output,
            compat: raw.compat.unwrap_or(Compat::V0_10),
            flavour: raw.flavour.unwrap_or(Flavour::OvirtExp),
        };
        // VDSM creates these directories; we only check them.
        for image in &opts.image_uuids {
            let d = opts.images_dir().join(image);
            if !d.is_dir() {
                return Err(not_dir("image directory", &d));
            }
        }
        if !opts.ovf_output.is_dir() {
            return Err(not_dir("OVF (metadata) directory", &opts.ovf_output));
        }
        Ok(opts)
    }

    /// The disk count and sizes, then what each volume path holds (a
    /// block device too small): found by the runners' second check,
    /// before the conversion, and by `setup` again.
    fn check_source(opts: &Options, md: &MetadataIn) -> Result<()> {
        check_disks(opts, md)?;
        probe_all(opts, md).map(drop)
    }

    fn setup(ctx: &Ctx, opts: Options) -> Result<()> {
        let md = ctx.dir.read_metadata_in()?;
        let name = kit::target_name(&opts.local, &md)?;
        check_disks(&opts, &md)?;
        let now = now();
        let mut made: Vec<PathBuf> = Vec::new();
        let result = create_all(ctx, &opts, &md, &name, now, &mut made);
        if result.is_err() {
            v2v_servers::stop_all(&ctx.dir);
            for p in made.iter().rev() {
                let _ = std::fs::remove_file(p);
            }
            let _ = std::fs::remove_file(ctx.dir.output_json());
        }
        result
    }

    /// VDSM-OVF-OUTPUT/VM-UUID.ovf, from description.json.
    fn finalize(ctx: &Ctx) -> Result<()> {
        let oj = Self::read_output_json(ctx)?;
        let desc = ctx.dir.read_description()?;
        let get = |k: &str| {
            oj.options.get(k).map(String::as_str).ok_or_else(|| {
                Failure::contract(format!(
                    "{}: no options.{k}",
                    ctx.dir.output_json().display()
                ))
            })
        };
        let bad = |k: &str| {
            Failure::contract(format!(
                "{}: options.{k}: not written by -o vdsm's setup",
                ctx.dir.output_json().display()
            ))
        };
        let flavour = Flavour::parse(get(K_FLAVOUR)?).ok_or_else(|| bad(K_FLAVOUR))?;
        let alloc = match get(K_ALLOC)? {
            "sparse" => Alloc::Sparse,
            "preallocated" => Alloc::Preallocated,
            _ => return Err(bad(K_ALLOC)),
        };
        let vm_uuid = component(K_VM, get(K_VM)?).map_err(|_| bad(K_VM))?;
        let images: Vec<&str> = get(K_IMAGES)?.split('/').collect();
        let vols: Vec<&str> = get(K_VOLS)?.split('/').collect();
        if images.len() != oj.disks.len() || vols.len() != oj.disks.len() {
            return Err(bad(K_IMAGES));
        }
        let format = match oj.disks.first().map(|d| d.format.as_str()) {
            Some("qcow2") => Format::Qcow2,
            _ => Format::Raw,
        };
        // The boot disk: the description's first (disks are in boot order).
        let boot = desc.disks.first().map(|d| d.index);
        let volumes = oj
            .disks
            .iter()
            .zip(images.iter().zip(&vols))
            .map(|(d, (img, vol))| {
                let bus = desc
                    .disks
                    .iter()
                    .find(|g| g.index == d.index)
                    .map(|g| g.bus)
                    .ok_or_else(|| {
                        Failure::contract(format!(
                            "{}: no disk {}",
                            ctx.dir.description().display(),
                            d.index
                        ))
                    })?;
                Ok(ovf::Volume {
                    image_uuid: img.to_string(),
                    vol_uuid: vol.to_string(),
                    size: d.size,
                    bus,
                    boot: Some(d.index) == boot,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let params = ovf::Params {
            flavour,
            name: &desc.name,
            vm_uuid: &vm_uuid,
            sd_uuid: get(K_SD)?,
            format,
            alloc,
            volumes,
            os: ovf::Os::new(&desc, product_variant(&ctx.dir)),
            now: now(),
            uuid: &uuidgen,
        };
        let (text, warnings) = ovf::ovf(&desc, &params);
        for w in warnings {
            warning!("{w}");
        }
        let path = Path::new(get(K_OVF_OUTPUT)?).join(format!("{vm_uuid}.ovf"));
        kit::write_file(&path, &text, 0o644)
    }
}

/// One image and one volume UUID per source disk; sizes oVirt can take.
fn check_disks(opts: &Options, md: &MetadataIn) -> Result<()> {
    let n = md.source.disks.len();
    if opts.image_uuids.len() != n || opts.vol_uuids.len() != n {
        return Err(Failure::usage(format!(
            "the number of ‘-oo vdsm-image-uuid’ and ‘-oo vdsm-vol-uuid’ parameters passed on \
             the command line has to match the number of guest disk images (for this guest: {n})"
        )));
    }
    if n > MAX_DISKS {
        return Err(Failure::unsupported(format!(
            "-o vdsm: this output does not support copying more than {MAX_DISKS} disks \
             (this guest has {n})"
        )));
    }
    for d in &md.source.disks {
        if d.size % 512 != 0 {
            return Err(Failure::unsupported(format!(
                "-o vdsm: the virtual size of the input disk {} is not an exact multiple of \
                 512 bytes ({} bytes): oVirt counts volumes in sectors",
                d.index, d.size
            ))
            .disk(d.index));
        }
    }
    Ok(())
}

/// What a volume's path holds before `setup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Nothing: `setup` creates the file.
    Absent,
    /// A regular file (a file storage domain's volume VDSM prepared):
    /// replaced by `qemu-img create`.
    File,
    /// A block device of this many bytes, the path or a symbolic link to it
    /// (a block storage domain's logical volume): written into, never
    /// replaced or removed.
    Block(u64),
}

/// What is at volume path `p` (symbolic links followed), or a failure
/// naming it: anything but a regular file or a block device is refused.
pub fn probe_volume(p: &Path) -> Result<Existing> {
    use std::os::unix::fs::FileTypeExt;
    if let Err(e) = p.symlink_metadata() {
        if e.kind() == std::io::ErrorKind::NotFound {
            return Ok(Existing::Absent);
        }
        return Err(Failure::failed(format!("{}: {e}", p.display())));
    }
    let m = std::fs::metadata(p).map_err(|e| {
        Failure::failed(format!(
            "{}: {e} (a symbolic link to nothing?)",
            p.display()
        ))
    })?;
    if m.is_file() {
        return Ok(Existing::File);
    }
    if !m.file_type().is_block_device() {
        return Err(Failure::failed(format!(
            "{} exists and is neither a regular file nor a block device: -o vdsm writes \
             the volumes of file and block storage domains only",
            p.display()
        )));
    }
    // A block device's size: where its end is.
    let size = std::fs::File::open(p)
        .and_then(|mut f| {
            use std::io::Seek;
            f.seek(std::io::SeekFrom::End(0))
        })
        .map_err(|e| Failure::failed(format!("{}: block device size: {e}", p.display())))?;
    Ok(Existing::Block(size))
}

/// Check every disk's volume and `.meta` path; refuse a block device
/// smaller than its raw disk.
fn probe_all(opts: &Options, md: &MetadataIn) -> Result<Vec<Existing>> {
    let mut v = Vec::new();
    for (i, d) in md.source.disks.iter().enumerate() {
        let vol = opts.volume(i);
        let meta = meta_path(&vol);
        match meta.symlink_metadata() {
            Err(_) => {}
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(Failure::failed(format!(
                    "{} exists and is not a regular file",
                    meta.display()
                ))
                .disk(d.index))
            }
        }
        let kind = probe_volume(&vol).map_err(|f| f.disk(d.index))?;
        // A raw volume is the disk; a qcow2 one holds what is written
        // (qemu-img makes a qcow2 of any virtual size on a device).
        if let Existing::Block(size) = kind {
            if size < d.size && opts.local.format == Format::Raw {
                return Err(Failure::failed(format!(
                    "volume {} is a block device of {size} bytes, smaller than disk {}'s \
                     virtual size ({} bytes)",
                    vol.display(),
                    d.index,
                    d.size
                ))
                .disk(d.index));
            }
        }
        v.push(kind);
    }
    Ok(v)
}

/// Write each `.meta`, create each volume (a raw one on a block device is
/// written as it is), serve it; record them in `output.json` as they are
/// made.  `made`: the files this run created (not those VDSM had
/// prepared), for the caller to remove on failure.
fn create_all(
    ctx: &Ctx,
    opts: &Options,
    md: &MetadataIn,
    name: &str,
    now: u64,
    made: &mut Vec<PathBuf>,
) -> Result<()> {
    // Check every path before writing anything.
    let kinds = probe_all(opts, md)?;
    // A raw block device holds whatever was there: the copy must write
    // the zeroes too.
    let zero = opts.local.format == Format::Qcow2
        || !kinds.iter().any(|k| matches!(k, Existing::Block(_)));
    let mut disks: Vec<OutputDisk> = Vec::new();
    for (i, (d, kind)) in md.source.disks.iter().zip(kinds).enumerate() {
        let n = d.index;
        let vol = opts.volume(i);
        let meta = meta_path(&vol);
        if !meta.exists() {
            made.push(meta.clone());
        }
        if kind == Existing::Absent {
            made.push(vol.clone());
        }
        let text = ovf::meta(
            &opts.sd_uuid,
            &opts.image_uuids[i],
            d.size,
            opts.local.format,
            opts.local.alloc,
            now,
        )
        .ok_or_else(|| Failure::unsupported("disk size not a multiple of 512").disk(n))?;
        kit::write_file(&meta, &text, 0o644).map_err(|f| f.disk(n))?;
        let block = matches!(kind, Existing::Block(_));
        if !(block && opts.local.format == Format::Raw) {
            create_volume(&vol, opts, d.size, block).map_err(|f| f.disk(n))?;
        }
        disks.push(OutputDisk {
            index: n,
            socket: V2vDir::out_name(n),
            path: Some(vol.display().to_string()),
            format: opts.local.format.name().into(),
            size: d.size,
            // Not OUTPUT_STORAGE/NAME-sdX: the contract's cleanup leaves
            // them (VDSM removes the volumes of an import that failed).
            created: false,
        });
        let mut oj = output_json(opts, name, &disks);
        oj.target_is_zero = zero;
        v2v_meta::write_json(&ctx.dir.output_json(), &oj)?;
        message!(
            "{} output disk {n}: {} ({}{})",
            if block { "Writing" } else { "Creating" },
            vol.display(),
            opts.local.format.name(),
            if block { ", block device" } else { "" }
        );
        kit::serve(ctx, n, &vol, &opts.local).map_err(|f| f.disk(n))?;
    }
    Ok(())
}

/// `VOL.meta`.
pub fn meta_path(vol: &Path) -> PathBuf {
    let mut s = vol.as_os_str().to_owned();
    s.push(".meta");
    PathBuf::from(s)
}

/// `qemu-img create` of one volume, replacing what VDSM prepared there
/// (as upstream does): qcow2 with `-oo vdsm-compat`'s level.  On a block
/// device (qcow2 only) qemu-img writes the qcow2 header into it, without
/// `-oa preallocated`'s `preallocation=falloc`, which qemu cannot do on a
/// device (the logical volume is allocated already).
fn create_volume(p: &Path, opts: &Options, size: u64, block: bool) -> Result<()> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "create".into(),
        "-q".into(),
        "-f".into(),
        opts.local.format.name().into(),
    ];
    let mut o = Vec::new();
    if opts.local.format == Format::Qcow2 {
        o.push(format!("compat={}", opts.compat.name()));
    }
    if opts.local.alloc == Alloc::Preallocated && !block {
        o.push("preallocation=falloc".to_string());
    }
    if !o.is_empty() {
        args.push("-o".into());
        args.push(o.join(",").into());
    }
    args.push(p.as_os_str().to_owned());
    args.push(size.to_string().into());
    helper_common::run_cmd("qemu-img", &args)?;
    Ok(())
}

/// `output.json` for the volumes set up so far.
pub fn output_json(opts: &Options, name: &str, disks: &[OutputDisk]) -> OutputJson {
    let os = &opts.local.output_storage;
    let mut oj = kit::output_json(Vdsm::NAME, name, os, disks, true);
    let mut o = BTreeMap::new();
    o.insert(K_SD, opts.sd_uuid.clone());
    o.insert(K_VM, opts.vm_uuid.clone());
    o.insert(K_OVF_OUTPUT, opts.ovf_output.display().to_string());
    o.insert(K_FLAVOUR, opts.flavour.name().to_string());
    o.insert(
        K_ALLOC,
        match opts.local.alloc {
            Alloc::Sparse => "sparse",
            Alloc::Preallocated => "preallocated",
        }
        .to_string(),
    );
    o.insert(K_IMAGES, opts.image_uuids.join("/"));
    o.insert(K_VOLS, opts.vol_uuids.join("/"));
    oj.options
        .extend(o.into_iter().map(|(k, v)| (k.to_string(), v)));
    debug_assert_eq!(oj.version, CONTRACT_VERSION);
    oj
}

/// Windows' product variant, which only `metadata.out`'s inspection has
/// (the OVF's VM type and OS id depend on it); none when not inspected.
fn product_variant(dir: &V2vDir) -> Option<String> {
    v2v_meta::read_json::<MetadataOut>(&dir.metadata_out())
        .ok()?
        .inspection?
        .windows
        .map(|w| w.product_variant)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random UUID, from the kernel.
fn uuidgen() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| {
            // No /proc: a UUID-shaped id from the time, the pid and a
            // counter, unique within one OVF.
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                t >> 32,
                t as u16,
                std::process::id() & 0xfff,
                (n >> 48) & 0xfff,
                n & 0xffff_ffff_ffff
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SD: &str = "12345678-1234-1234-1234-123456789abc";

    /// A made-up storage domain `T/SD` with `images/IMG1`, `images/IMG2`
    /// and an OVF directory `T/ovf`.
    fn domain() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for d in ["images/IMG1", "images/IMG2"] {
            std::fs::create_dir_all(t.path().join(SD).join(d)).unwrap();
        }
        std::fs::create_dir(t.path().join("ovf")).unwrap();
        t
    }

    fn args(t: &Path, oo: &[&str]) -> OutputArgs {
        OutputArgs {
            dir: PathBuf::from("/nonexistent/v2v"),
            output_storage: Some(t.join(SD)),
            options: oo.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn good(t: &Path) -> Vec<String> {
        [
            "vdsm-image-uuid=IMG1",
            "vdsm-vol-uuid=VOL1",
            "vdsm-image-uuid=IMG2",
            "vdsm-vol-uuid=VOL2",
            "vdsm-vm-uuid=VM",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("vdsm-ovf-output={}", t.join("ovf").display())])
        .collect()
    }

    #[test]
    fn options_are_upstreams_and_paths_its_layout() {
        let t = domain();
        let oo = good(t.path());
        let oo: Vec<&str> = oo.iter().map(String::as_str).collect();
        let mut a = args(t.path(), &oo);
        a.format = Some("qcow2".into());
        let o = Vdsm::validate(&a).unwrap();
        let real = std::fs::canonicalize(t.path()).unwrap();
        assert_eq!(o.sd_uuid, SD);
        assert_eq!((o.compat, o.flavour), (Compat::V0_10, Flavour::OvirtExp));
        assert_eq!(o.local.format, Format::Qcow2);
        assert_eq!(o.volume(0), real.join(SD).join("images/IMG1/VOL1"));
        assert_eq!(o.volume(1), real.join(SD).join("images/IMG2/VOL2"));
        assert_eq!(
            meta_path(&o.volume(1)),
            real.join(SD).join("images/IMG2/VOL2.meta")
        );
        assert_eq!(o.ovf_output, t.path().join("ovf"));
        // A trailing slash on -os, the other compat and flavour.
        let mut more = oo.clone();
        more.extend(["vdsm-compat=1.1", "vdsm-ovf-flavour=ovirt"]);
        let mut a = args(t.path(), &more);
        a.output_storage = Some(PathBuf::from(format!("{}/{SD}/", t.path().display())));
        let o = Vdsm::validate(&a).unwrap();
        assert_eq!((o.compat, o.flavour), (Compat::V1_1, Flavour::Ovirt));
        assert_eq!(o.sd_uuid, SD);
        // output.json carries what final needs.
        let oj = output_json(&o, "g", &[]);
        assert_eq!(oj.options[K_IMAGES], "IMG1/IMG2");
        assert_eq!(oj.options[K_VOLS], "VOL1/VOL2");
        assert_eq!(oj.options[K_FLAVOUR], "ovirt");
        assert_eq!(oj.options[K_SD], SD);
    }

    #[test]
    fn bad_options_are_usage_errors_naming_the_option() {
        let t = domain();
        let base = good(t.path());
        let without = |k: &str| -> Vec<String> {
            base.iter().filter(|o| !o.starts_with(k)).cloned().collect()
        };
        let with = |extra: &str| -> Vec<String> {
            base.iter().cloned().chain([extra.to_string()]).collect()
        };
        let missing_ovf_dir = format!("vdsm-ovf-output={}", t.path().join("nope").display());
        for (oo, want) in [
            (
                without("vdsm-image-uuid"),
                "-oo vdsm-image-uuid was not specified",
            ),
            (
                without("vdsm-vol-uuid"),
                "-oo vdsm-vol-uuid was not specified",
            ),
            (
                without("vdsm-vm-uuid"),
                "-oo vdsm-vm-uuid was not specified",
            ),
            (
                with("vdsm-image-uuid=IMG1"),
                "-oo vdsm-image-uuid was given 3 times and -oo vdsm-vol-uuid 2 times",
            ),
            (
                with("vdsm-vm-uuid=X"),
                "-oo vdsm-vm-uuid set more than once",
            ),
            (with("vdsm-compat=2"), "unknown vdsm-compat level ‘2’"),
            (
                with("vdsm-ovf-flavour=rhvexp"),
                "vdsm-ovf-flavour=rhvexp: unknown OVF flavour",
            ),
            (
                with("compressed"),
                "-o vdsm: unknown output option ‘-oo compressed’",
            ),
            (
                with("vdsm-vol-uuid=../x"),
                "-oo vdsm-vol-uuid=../x: must be a single",
            ),
            (
                [without("vdsm-ovf-output"), vec![missing_ovf_dir]].concat(),
                "OVF (metadata) directory",
            ),
        ] {
            let oo: Vec<&str> = oo.iter().map(String::as_str).collect();
            let f = Vdsm::validate(&args(t.path(), &oo)).unwrap_err();
            assert_eq!(f.code, 2, "{}", f.message);
            assert!(f.message.contains(want), "{} (want {want})", f.message);
        }
        // An image directory VDSM did not make.
        let mut oo = base.clone();
        oo[2] = "vdsm-image-uuid=IMG3".into();
        let oo: Vec<&str> = oo.iter().map(String::as_str).collect();
        let f = Vdsm::validate(&args(t.path(), &oo)).unwrap_err();
        assert!(f.message.starts_with("image directory ("), "{}", f.message);
        assert!(
            f.message.contains("images/IMG3) does not exist"),
            "{}",
            f.message
        );
        // -os whose last component is not a UUID.
        let mut a = args(t.path(), &oo);
        a.output_storage = Some(t.path().join("ovf"));
        let f = Vdsm::validate(&a).unwrap_err();
        assert!(
            f.message.contains("does not contain a valid UUID"),
            "{}",
            f.message
        );
        assert_eq!(f.code, 2);
    }

    fn md(sizes: &[u64]) -> MetadataIn {
        serde_json::from_value(serde_json::json!({
            "version": 1,
            "source": {
                "name": "g", "origin": {"input_type": "disk", "location": []},
                "memory_bytes": 1073741824u64, "vcpus": 1,
                "disks": sizes.iter().enumerate().map(|(i, s)| serde_json::json!({
                    "index": i + 1, "socket": format!("in{}", i + 1), "format": "raw",
                    "size": s, "source": "/src"
                })).collect::<Vec<_>>()
            }
        }))
        .unwrap()
    }

    #[test]
    fn setup_checks_the_disks_first() {
        let t = domain();
        let oo = good(t.path());
        let oo: Vec<&str> = oo.iter().map(String::as_str).collect();
        let o = Vdsm::validate(&args(t.path(), &oo)).unwrap();
        check_disks(&o, &md(&[1 << 20, 1 << 20])).unwrap();
        let f = check_disks(&o, &md(&[1 << 20])).unwrap_err();
        assert_eq!(f.code, 2);
        assert!(
            f.message
                .contains("‘-oo vdsm-image-uuid’ and ‘-oo vdsm-vol-uuid’")
                && f.message.contains("(for this guest: 1)"),
            "{}",
            f.message
        );
        let f = check_disks(&o, &md(&[1 << 20, 1000])).unwrap_err();
        assert_eq!(f.code, 5);
        assert!(f
            .message
            .contains("input disk 2 is not an exact multiple of 512"));
        // The check hook: the same refusals, then the volume paths.
        assert_eq!(Vdsm::check_source(&o, &md(&[1 << 20])).unwrap_err().code, 2);
        Vdsm::check_source(&o, &md(&[1 << 20, 1 << 20])).unwrap();
        std::fs::create_dir(o.volume(1)).unwrap();
        let f = Vdsm::check_source(&o, &md(&[1 << 20, 1 << 20])).unwrap_err();
        assert_eq!((f.code, f.disk), (1, Some(2)), "{}", f.message);
        assert!(
            f.message
                .contains("VOL2 exists and is neither a regular file nor a block device"),
            "{}",
            f.message
        );
    }

    #[test]
    fn volume_paths_are_files_block_devices_or_nothing() {
        let t = tempfile::tempdir().unwrap();
        let p = |n: &str| t.path().join(n);
        assert_eq!(probe_volume(&p("none")).unwrap(), Existing::Absent);
        std::fs::write(p("file"), b"x").unwrap();
        assert_eq!(probe_volume(&p("file")).unwrap(), Existing::File);
        // Links are followed: to a file, to nothing, to a directory.
        std::os::unix::fs::symlink(p("file"), p("to-file")).unwrap();
        assert_eq!(probe_volume(&p("to-file")).unwrap(), Existing::File);
        std::os::unix::fs::symlink(p("none"), p("dangling")).unwrap();
        let f = probe_volume(&p("dangling")).unwrap_err();
        assert_eq!(f.code, 1);
        assert!(
            f.message.contains("a symbolic link to nothing"),
            "{}",
            f.message
        );
        std::os::unix::fs::symlink(t.path(), p("to-dir")).unwrap();
        let f = probe_volume(&p("to-dir")).unwrap_err();
        assert!(
            f.message
                .contains("to-dir exists and is neither a regular file nor a block device"),
            "{}",
            f.message
        );
        // A character device is no volume either.
        let f = probe_volume(Path::new("/dev/null")).unwrap_err();
        assert_eq!(f.code, 1, "{}", f.message);
    }
}
