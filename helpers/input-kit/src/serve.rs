//! Serving source disks as `DIR/inN` and writing `DIR/metadata.in`,
//! shared by the input helpers (disk, libvirtxml, libvirt, ova, vmx).
//!
//! Every disk is served through a copy-on-write layer: nbdkit's cow filter,
//! or qemu-nbd on a qcow2 overlay in `DIR/tmp`.  The source is opened
//! read-only and never written, unless an input serves it in place
//! ([`Serving::InPlace`], `--in-place`, for virt-v2v-in-place).

use crate::disk::{self, Serving};
use crate::domain::{DiskData, Domain};
use crate::meta::{new_disk, Slot};
use crate::refs::{self, Scope};
use helper_common::{debug, message, Ctx, Failure, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;
use v2v_meta::{MetadataIn, Source, SourceDisk, V2vDir, CONTRACT_VERSION};
use v2v_servers::{start, Nbdkit, QemuNbd, ServerSpec};

/// How long an input waits for an NBD server (ours, or a network disk's
/// behind it) to finish the handshake or answer a probing read: a server
/// that accepts and never answers must not hang the input step.
pub const NBD_TIMEOUT: Duration = Duration::from_secs(8);

/// Virtual size of what a socket serves, asked over NBD.
pub fn served_size(ctx: &Ctx, index: u32) -> Result<u64> {
    let sock = ctx.dir.in_socket(index);
    v2v_nbd::Handle::open_within(&sock.to_string_lossy(), NBD_TIMEOUT)
        .and_then(|h| h.size())
        .map_err(|e| Failure::external(format!("{}: {e}", sock.display())).disk(index))
}

/// Serve a local file or block device named by a guest description (the
/// format probed when `None`), exactly as `helper-v2v-input-disk` does
/// ([`disk::probe`], [`disk::serve_local_disk`]).
/// A missing file is a contract error here (exit 3): the description
/// names it, the user did not.  The image may refer to files beside it
/// only ([`refs`]).
pub fn serve_local(ctx: &Ctx, index: u32, path: &Path, format: Option<&str>) -> Result<SourceDisk> {
    serve_local_in(ctx, index, path, format, Scope::Beside, Serving::Overlay)
}

/// [`serve_local`] for a disk unpacked from an archive into `DIR/tmp`: it
/// may refer to no file at all.
pub fn serve_unpacked(ctx: &Ctx, index: u32, path: &Path) -> Result<SourceDisk> {
    serve_local_in(ctx, index, path, None, Scope::Alone, Serving::Overlay)
}

fn serve_local_in(
    ctx: &Ctx,
    index: u32,
    path: &Path,
    format: Option<&str>,
    scope: Scope,
    serving: Serving,
) -> Result<SourceDisk> {
    let probe = disk::probe_in(index, path, format, scope).map_err(|f| described(f, index))?;
    disk::serve_local_disk_as(ctx, index, path, &probe, serving)
        .map_err(|f| undouble_disk(f, index))
}

/// Check a local file a guest description names as disk `index` (in
/// `format` when it says) without running anything: it exists, is
/// readable, and refers to no file it may not ([`disk::check_image`]),
/// with [`serve_local`]'s exit codes: what `--check` can know.
pub fn check_local(index: u32, path: &Path, format: Option<&str>) -> Result<()> {
    disk::check_image(index, path, format, Scope::Beside)
        .map(drop)
        .map_err(|f| described(f, index))
}

/// A failure about a file a description named: missing is a contract
/// error (exit 3), not a usage error.
fn described(mut f: Failure, index: u32) -> Failure {
    if f.code == v2v_meta::exit_code::USAGE {
        f.code = v2v_meta::exit_code::CONTRACT;
    }
    undouble_disk(f, index)
}

/// `helper_common::run` prefixes the last error line with `disk N: ` when
/// a failure names its disk: drop the same prefix from the message.
fn undouble_disk(mut f: Failure, index: u32) -> Failure {
    let prefix = format!("disk {index}: ");
    if f.disk == Some(index) {
        if let Some(rest) = f.message.strip_prefix(&prefix) {
            f.message = rest.to_string();
        }
    }
    f
}

/// Serve what an nbdkit plugin reads (raw guest data); the spec must not
/// contain the cow filter: it is added here, next to the plugin, so every
/// write lands in the overlay and none reaches the plugin.
pub fn serve_nbdkit_raw(ctx: &Ctx, index: u32, spec: Nbdkit, source: &str) -> Result<SourceDisk> {
    let spec = spec.filter("cow").readonly(false);
    start_disk(ctx, index, &spec, "raw", source)
}

/// Serve an image qemu opens from `backing`, a `json:{...}` filename made
/// by [`json_at_offset`], [`json_over_nbd`] or [`json_nbd_uri`] (which cut
/// the image's backing chain: `"backing": null`), in `format`, through a
/// qcow2 overlay in `DIR/tmp` served by qemu-nbd.  The caller has checked
/// the image's header with [`refs::refuse_any`] (no data file, no extent).
pub fn serve_qemu_backing(
    ctx: &Ctx,
    index: u32,
    backing: &str,
    format: &str,
    source: &str,
) -> Result<SourceDisk> {
    let ov = overlay_on(ctx, index, backing, format)?;
    let spec = QemuNbd::new(&ov, "qcow2")
        .shared(8)
        .readonly(false)
        .allocation_depth(true);
    start_disk(ctx, index, &spec, format, source)
}

/// Start `spec` on `DIR/in<index>` and describe what it serves (its size
/// asked over NBD).
fn start_disk(
    ctx: &Ctx,
    index: u32,
    spec: &dyn ServerSpec,
    format: &str,
    source: &str,
) -> Result<SourceDisk> {
    let name = V2vDir::in_name(index);
    start(&ctx.dir, ctx.step, &name, spec, ctx.owner()).map_err(|f| f.disk(index))?;
    let size = served_size(ctx, index)?;
    debug!(
        "disk {index}: {source} ({format}) served by {}, {size} bytes",
        spec.program()
    );
    Ok(new_disk(
        index,
        format,
        size,
        Slot::default(),
        source.into(),
    ))
}

/// `DIR/tmp/overlayN.qcow2` on a backing qemu names by `json:`.
fn overlay_on(ctx: &Ctx, index: u32, backing: &str, format: &str) -> Result<PathBuf> {
    let ov = ctx.dir.overlay(index);
    std::fs::create_dir_all(ctx.dir.scratch_dir())?;
    let _ = std::fs::remove_file(&ov);
    let args = ["create", "-q", "-f", "qcow2", "-F", format, "-b", backing];
    let mut args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    args.push(ov.as_os_str());
    disk::qemu_img(&args).map_err(|f| f.context("creating overlay").disk(index))?;
    Ok(ov)
}

/// `json:` filename for qemu: an image of `format` stored at `offset`
/// (`size` bytes) inside the local file `file` (e.g. a disk in an OVA).
pub fn json_at_offset(format: &str, file: &Path, offset: u64, size: u64) -> String {
    let v = serde_json::json!({
        "driver": format,
        "file": {
            "driver": "raw",
            "offset": offset,
            "size": size,
            "file": { "driver": "file", "filename": helper_common::absolute(file) }
        },
        "backing": null
    });
    format!("json:{v}")
}

/// `json:` filename for qemu: an image of `format` read from the NBD
/// server on the Unix socket `socket` (e.g. nbdkit's ssh plugin).
pub fn json_over_nbd(format: &str, socket: &Path) -> String {
    let v = serde_json::json!({
        "driver": format,
        "file": {
            "driver": "nbd",
            "server": { "type": "unix", "path": socket }
        },
        "backing": null
    });
    format!("json:{v}")
}

/// `json:` filename for qemu: an image of `format` read from the NBD URI
/// `uri` as a libvirt description spells it (`nbd://HOST:PORT/EXPORT`,
/// `nbd+unix:///EXPORT?socket=PATH`), its backing chain cut.
pub fn json_nbd_uri(format: &str, uri: &str) -> Result<String> {
    let bad = || Failure::unsupported(format!("{uri}: not an NBD URI qemu can be given"));
    let (server, export) = if let Some(rest) = uri.strip_prefix("nbd+unix:///") {
        let (export, sock) = rest.split_once("?socket=").ok_or_else(bad)?;
        (serde_json::json!({ "type": "unix", "path": sock }), export)
    } else if let Some(rest) = uri.strip_prefix("nbd://") {
        let (hostport, export) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (
            serde_json::json!({ "type": "inet", "host": host, "port": port }),
            export,
        )
    } else {
        return Err(bad());
    };
    let v = serde_json::json!({
        "driver": format,
        "file": { "driver": "nbd", "server": server, "export": export },
        "backing": null
    });
    Ok(format!("json:{v}"))
}

/// The first [`refs::HEAD_BYTES`] of what the NBD server at `uri` serves.
pub fn head_over_nbd(uri: &str) -> Result<Vec<u8>> {
    let ext = |e: v2v_nbd::Error| Failure::external(format!("{uri}: {e}"));
    let h = v2v_nbd::Handle::open_within(uri, NBD_TIMEOUT).map_err(ext)?;
    let mut head = vec![0u8; h.size().map_err(ext)?.min(refs::HEAD_BYTES) as usize];
    h.pread_within(&mut head, 0, NBD_TIMEOUT).map_err(ext)?;
    Ok(head)
}

/// Serve every disk of `source` with `serve(i)` (0-based position), keep
/// what the description said about each disk (bus, controller, unit) and
/// take what serving found (socket, format, size, where the data is read
/// from), then write `DIR/metadata.in`.  On any failure every server started so far is
/// stopped, so nothing is left running.
pub fn serve_and_write(
    ctx: &Ctx,
    mut source: Source,
    mut serve: impl FnMut(usize, &SourceDisk) -> Result<SourceDisk>,
) -> Result<Source> {
    let n = source.disks.len();
    check_disk_count(n)?;
    let result = (|| {
        for i in 0..n {
            let d = &source.disks[i];
            message!("Opening the source disk {}/{n}: {}", i + 1, d.source);
            let served = serve(i, d).map_err(|f| {
                if f.disk.is_none() {
                    f.disk(i as u32 + 1)
                } else {
                    f
                }
            })?;
            let d = &mut source.disks[i];
            d.socket = served.socket;
            d.format = served.format;
            d.size = served.size;
            d.allocated = served.allocated.or(d.allocated);
            d.source = served.source;
        }
        let meta = MetadataIn {
            version: CONTRACT_VERSION,
            source: source.clone(),
        };
        v2v_meta::write_json(&ctx.dir.metadata_in(), &meta)?;
        Ok(())
    })();
    match result {
        Ok(()) => Ok(source),
        Err(f) => {
            v2v_servers::stop_all(&ctx.dir);
            Err(f)
        }
    }
}

/// Most disks a source may have: each is one server.  No hypervisor we
/// convert from gives a guest this many (vSphere 8, the most generous,
/// about 440: 256 PVSCSI, 120 SATA, 60 NVMe, 4 IDE).
pub const MAX_DISKS: usize = 512;

/// A source with no disk, or with more than [`MAX_DISKS`], is refused
/// (exit 5) before any server starts.
pub fn check_disk_count(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Failure::unsupported("the source has no disks"));
    }
    if n > MAX_DISKS {
        return Err(Failure::unsupported(format!(
            "the source has {n} disks, more than the {MAX_DISKS} supported"
        )));
    }
    Ok(())
}

/// How a caller resolves `<disk type='volume'>` (pool, volume) to a path.
pub type VolumeResolver<'a> = &'a dyn Fn(&str, &str) -> Result<PathBuf>;

/// Check the disks of a parsed libvirt domain without running anything:
/// every local file exists and is readable ([`check_local`]), and, when
/// volumes cannot be resolved (`volumes` false), there is no volume.
pub fn check_domain(domain: &Domain, base: &Path, volumes: bool) -> Result<()> {
    for (i, d) in domain.disks.iter().enumerate() {
        let index = i as u32 + 1;
        match &d.data {
            DiskData::File(p) | DiskData::Block(p) => {
                check_local(index, &base.join(p), d.format.as_deref())?
            }
            DiskData::Volume { pool, volume } if !volumes => {
                return Err(volume_needs_libvirt(pool, volume).disk(index))
            }
            DiskData::Volume { .. } | DiskData::Nbd { .. } => {}
        }
    }
    Ok(())
}

fn volume_needs_libvirt(pool: &str, volume: &str) -> Failure {
    Failure::unsupported(format!(
        "<disk type='volume'> (pool {pool}, volume {volume}) needs libvirt: use helper-v2v-input-libvirt"
    ))
}

/// Serve the disks of a parsed libvirt domain and write `metadata.in`.
/// Relative disk paths are taken relative to `base`; volumes are resolved
/// with `volumes` (refused without it: only libvirt knows its pools).
pub fn serve_domain(
    ctx: &Ctx,
    domain: Domain,
    base: &Path,
    volumes: Option<VolumeResolver>,
) -> Result<Source> {
    serve_domain_as(ctx, domain, base, volumes, Serving::Overlay)
}

/// [`serve_domain`], the local disks served as `serving` says.  In place
/// ([`Serving::InPlace`]) only local files, block devices and volumes can
/// be served: a network disk is refused (exit 5) before any server starts.
pub fn serve_domain_as(
    ctx: &Ctx,
    domain: Domain,
    base: &Path,
    volumes: Option<VolumeResolver>,
    serving: Serving,
) -> Result<Source> {
    let Domain { source, disks } = domain;
    if serving == Serving::InPlace {
        if let Some((i, uri)) = disks.iter().enumerate().find_map(|(i, d)| match &d.data {
            DiskData::Nbd { uri } => Some((i, uri)),
            _ => None,
        }) {
            return Err(Failure::unsupported(format!(
                "{uri}: a network disk cannot be converted in place (only local files and block devices)"
            ))
            .disk(i as u32 + 1));
        }
    }
    message!("Source guest {}: {} disk(s)", source.name, disks.len());
    serve_and_write(ctx, source, |i, _| {
        let index = i as u32 + 1;
        let d = &disks[i];
        let fmt = d.format.as_deref();
        match &d.data {
            DiskData::File(p) | DiskData::Block(p) => {
                serve_local_in(ctx, index, &base.join(p), fmt, Scope::Beside, serving)
            }
            DiskData::Volume { pool, volume } => match volumes {
                Some(resolve) => {
                    let path = resolve(pool, volume)?;
                    serve_local_in(ctx, index, &path, fmt, Scope::Beside, serving)
                }
                None => Err(volume_needs_libvirt(pool, volume)),
            },
            DiskData::Nbd { uri } => match fmt {
                None | Some("raw") => {
                    serve_nbdkit_raw(ctx, index, Nbdkit::new("nbd").param("uri", uri), uri)
                }
                Some(f) => {
                    refs::refuse_any(uri, f, &head_over_nbd(uri)?)?;
                    serve_qemu_backing(ctx, index, &json_nbd_uri(f, uri)?, f, uri)
                }
            },
        }
    })
}
