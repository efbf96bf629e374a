//! A local disk image: checking it ([`check_file`], no external program),
//! probing its format with qemu-img ([`probe`]) and serving it as
//! `DIR/inN` through a copy-on-write overlay ([`serve_local_disk`]), as
//! `helper-v2v-input-disk` does and every input whose description names
//! local files, or in place ([`Serving::InPlace`], for virt-v2v-in-place).

use crate::refs::{self, Image, Scope};
use helper_common::{debug, trace, Ctx, Failure, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use v2v_meta::{SourceDisk, V2vDir};
use v2v_servers::{start, Nbdkit, QemuNbd};

/// Formats a local disk is served in.
pub const FORMATS: [&str; 5] = ["raw", "qcow2", "vmdk", "vpc", "vhdx"];

/// Check a format the user named with `flag` (`-if`): a usage error
/// (exit 2) naming it when it is not one of [`FORMATS`].
pub fn check_format(flag: &str, format: &str) -> Result<()> {
    if FORMATS.contains(&format) {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "{flag} {format}: not supported (supported: {})",
            FORMATS.join(", ")
        )))
    }
}

/// What qemu-img says about an image, and the image vetted
/// ([`refs::vet`]): the files qemu is allowed to open for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub format: String,
    pub virtual_size: u64,
    pub actual_size: Option<u64>,
    pub image: Image,
}

/// The fields of `qemu-img info --output=json` we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub format: String,
    pub virtual_size: u64,
    pub actual_size: Option<u64>,
}

/// Parse `qemu-img info --output=json`.
pub fn parse_qemu_img_info(json: &str) -> std::result::Result<Info, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let format = v["format"]
        .as_str()
        .ok_or("qemu-img info: no format")?
        .to_string();
    let virtual_size = v["virtual-size"]
        .as_u64()
        .ok_or("qemu-img info: no virtual-size")?;
    Ok(Info {
        format,
        virtual_size,
        actual_size: v["actual-size"].as_u64(),
    })
}

/// How long one qemu-img run may take (a hostile image must not hang
/// the input step).
pub const QEMU_IMG_TIMEOUT: Duration = Duration::from_secs(30);

/// Run `qemu-img ARGS`, killed after [`QEMU_IMG_TIMEOUT`]: a failure
/// (exit 4) quotes the end of its stderr, or says it timed out.
pub fn qemu_img<S: AsRef<OsStr>>(args: &[S]) -> Result<Output> {
    helper_common::run_cmd_within("qemu-img", args, QEMU_IMG_TIMEOUT)
}

/// Check that `path` (disk `n`) is a readable regular file or block
/// device, without running anything.  Exit codes: missing 2, a directory
/// or unreadable 1, neither a file nor a block device 5.
pub fn check_file(n: u32, path: &Path) -> Result<std::fs::Metadata> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Failure::usage(format!("{shown}: no such file"))
        } else {
            Failure::failed(format!("{shown}: {e}"))
        }
        .disk(n)
    })?;
    if meta.is_dir() {
        return Err(Failure::failed(format!("{shown}: is a directory, not a disk image")).disk(n));
    }
    if !(meta.is_file() || is_block_device(&meta)) {
        return Err(
            Failure::unsupported(format!("{shown}: not a regular file or block device")).disk(n),
        );
    }
    // Opening it proves it is readable by us (root bypasses mode bits, not
    // everything else).
    std::fs::File::open(path)
        .map_err(|e| Failure::failed(format!("{shown}: cannot read: {e}")).disk(n))?;
    Ok(meta)
}

/// [`check_file`], then read the image's header and vet what it refers
/// to ([`refs::vet`]; a format not served, or a reference that may not be
/// followed, exit 5), without running anything.  `format` is the one the
/// user or a description gave, else the header tells.
pub fn check_image(
    n: u32,
    path: &Path,
    format: Option<&str>,
    scope: Scope,
) -> Result<(std::fs::Metadata, Image)> {
    let meta = check_file(n, path)?;
    let shown = path.display().to_string();
    let head = refs::read_head(path)
        .map_err(|e| Failure::failed(format!("{shown}: cannot read: {e}")).disk(n))?;
    let format = refs::format_of(&shown, format, &head).map_err(|f| f.disk(n))?;
    let image = refs::vet(path, &format, scope).map_err(|f| f.disk(n))?;
    Ok((meta, image))
}

/// [`check_image`] (references beside the image only), then probe it with
/// qemu-img, which opens the vetted files and nothing else.  Further exit
/// codes: not a disk image 5, qemu-img failure or timeout 4.
pub fn probe(n: u32, path: &Path, format: Option<&str>) -> Result<Probe> {
    probe_in(n, path, format, Scope::Beside)
}

/// [`probe`] with the references allowed by `scope`.
pub fn probe_in(n: u32, path: &Path, format: Option<&str>, scope: Scope) -> Result<Probe> {
    let shown = path.display();
    let (meta, image) = check_image(n, path, format, scope)?;
    // qemu-img info opens no backing file (and refuses one given).
    let top = Image {
        backing: None,
        ..image.clone()
    };
    let args = [
        "info".to_string(),
        "--output=json".into(),
        "-U".into(),
        top.qemu_filename(),
    ];
    let out = qemu_img(&args).map_err(|f| f.context(shown.to_string()).disk(n))?;
    let info = parse_qemu_img_info(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| Failure::external(format!("{shown}: {e}")).disk(n))?;
    // qemu-img rounds a raw file's size up to a sector: look at the file.
    let bytes = if meta.is_file() {
        meta.len()
    } else {
        info.virtual_size
    };
    if image.format == "qcow2" && meta.is_file() {
        check_qcow2_end(&top.qemu_filename(), meta.len())
            .map_err(|f| f.context(shown.to_string()).disk(n))?;
    }
    if image.format == "raw" && (bytes < 512 || bytes % 512 != 0) {
        return Err(Failure::unsupported(format!(
            "{shown}: not a disk image ({bytes} bytes, not a whole number of 512-byte sectors)"
        ))
        .disk(n));
    }
    Ok(Probe {
        format: image.format.clone(),
        virtual_size: info.virtual_size,
        actual_size: info.actual_size,
        image,
    })
}

/// Refuse a qcow2 whose data lies past the end of its file (a truncated
/// copy): qemu would read zeroes there and the guest would arrive with
/// holes.  `qemu-img map` lists where each allocated range lies.
fn check_qcow2_end(filename: &str, file_len: u64) -> Result<()> {
    let args = ["map", "--output=json", "-U", filename];
    let out = qemu_img(&args)?;
    let end = qcow2_data_end(&String::from_utf8_lossy(&out.stdout)).map_err(Failure::external)?;
    if end > file_len {
        return Err(Failure::unsupported(format!(
            "truncated qcow2: its data runs to byte {end}, but the file ends at {file_len}"
        )));
    }
    Ok(())
}

/// The end of the last host range `qemu-img map --output=json` lists.
pub fn qcow2_data_end(json: &str) -> std::result::Result<u64, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("qemu-img map: {e}"))?;
    let ranges = v.as_array().ok_or("qemu-img map: not a list")?;
    Ok(ranges
        .iter()
        .filter_map(|r| Some(r["offset"].as_u64()?.saturating_add(r["length"].as_u64()?)))
        .max()
        .unwrap_or(0))
}

fn is_block_device(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    m.file_type().is_block_device()
}

/// `--allocation-depth` given ([`crate::InputArgs::validate`] records it).
static ALLOCATION_DEPTH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Serve local raw disks through qemu-nbd on a qcow2 overlay too (not
/// nbdkit file + cow), so every disk offers `qemu:allocation-depth`.
pub fn set_allocation_depth(on: bool) {
    ALLOCATION_DEPTH.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`set_allocation_depth`] asked for qcow2 overlays everywhere.
pub fn allocation_depth() -> bool {
    ALLOCATION_DEPTH.load(std::sync::atomic::Ordering::Relaxed)
}

/// How a local disk is served: through a copy-on-write overlay (the
/// source is never written), or in place (`--in-place`: the disk itself,
/// writable, for virt-v2v-in-place).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Serving {
    /// Every write lands in an overlay in `DIR/tmp` (the default).
    #[default]
    Overlay,
    /// Writes go to the disk itself (a qcow2's backing files stay
    /// read-only: only the top image is written).
    InPlace,
}

/// Serve local file `path` (already probed as `probe`) as `DIR/in<n>`
/// through an overlay: nbdkit file + cow for raw (unless
/// [`allocation_depth`]), qemu-nbd on a qcow2 overlay for other formats,
/// offering `qemu:allocation-depth` (1: written, zeroed or trimmed in the
/// overlay).  Returns the disk's metadata entry.
pub fn serve_local_disk(ctx: &Ctx, n: u32, path: &Path, probe: &Probe) -> Result<SourceDisk> {
    serve_local_disk_as(ctx, n, path, probe, Serving::Overlay)
}

/// [`serve_local_disk`], or with [`Serving::InPlace`] the disk itself,
/// writable: nbdkit file for raw, qemu-nbd on the vetted image for other
/// formats.
pub fn serve_local_disk_as(
    ctx: &Ctx,
    n: u32,
    path: &Path,
    probe: &Probe,
    serving: Serving,
) -> Result<SourceDisk> {
    let name = V2vDir::in_name(n);
    let abs = helper_common::absolute(path);
    let srv = if serving == Serving::InPlace {
        debug!("disk {n}: served in place (writable, no overlay)");
        if probe.format == "raw" {
            let spec = Nbdkit::new("file")
                .param("file", &abs)
                .param("cache", "none")
                .readonly(false)
                .verbose(ctx.common.verbose);
            start(&ctx.dir, ctx.step, &name, &spec, ctx.owner())
        } else {
            let spec = QemuNbd::new(probe.image.qemu_filename(), &probe.format).readonly(false);
            start(&ctx.dir, ctx.step, &name, &spec, ctx.owner())
        }
    } else if probe.format == "raw" && !allocation_depth() {
        let spec = Nbdkit::new("file")
            .filter("cow")
            .param("file", &abs)
            .param("cache", "none")
            // A copy reads the disk front to back: more readahead (case D
            // of scripts/bench-copy.sh, median of 5: 2.87 s vs 3.27 s).
            .param("fadvise", "sequential")
            .verbose(ctx.common.verbose);
        start(&ctx.dir, ctx.step, &name, &spec, ctx.owner())
    } else {
        // qemu-nbd opens a blank overlay over the vetted chain (a raw
        // file alone included), spelt out: no name in any header is
        // looked up by qemu.
        let ov = blank_overlay(&ctx.dir, n, probe.virtual_size)?;
        let file = refs::overlay_filename(&ov, &probe.image);
        start(
            &ctx.dir,
            ctx.step,
            &name,
            &QemuNbd::new(&file, "qcow2").allocation_depth(true),
            ctx.owner(),
        )
    }
    .map_err(|f| f.disk(n))?;
    trace!(
        "disk {n}: {} served on {}",
        abs.display(),
        srv.socket.display()
    );
    Ok(SourceDisk {
        index: n,
        socket: name,
        format: probe.format.clone(),
        size: probe.virtual_size,
        allocated: probe.actual_size,
        bus: None,
        controller: None,
        unit: None,
        source: abs.display().to_string(),
    })
}

/// `DIR/tmp/overlayN.qcow2`: a blank qcow2 of `size` bytes, without a
/// backing file (qemu-nbd is given the backing at open,
/// [`refs::overlay_filename`]).
pub fn blank_overlay(dir: &V2vDir, n: u32, size: u64) -> Result<PathBuf> {
    let ov = dir.overlay(n);
    std::fs::create_dir_all(dir.scratch_dir())?;
    let _ = std::fs::remove_file(&ov);
    let size = size.to_string();
    let args: [&OsStr; 6] = [
        "create".as_ref(),
        "-q".as_ref(),
        "-f".as_ref(),
        "qcow2".as_ref(),
        ov.as_os_str(),
        size.as_ref(),
    ];
    qemu_img(&args).map_err(|f| f.context("creating overlay").disk(n))?;
    Ok(ov)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_img_info() {
        let p = parse_qemu_img_info(
            r#"{"virtual-size": 1073741824, "filename": "x", "format": "qcow2", "actual-size": 200704, "dirty-flag": false}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            Info {
                format: "qcow2".into(),
                virtual_size: 1 << 30,
                actual_size: Some(200704)
            }
        );
        assert!(parse_qemu_img_info("{}").is_err());
        assert!(parse_qemu_img_info("nope").is_err());
    }

    #[test]
    fn refuses_bad_paths() {
        let t = tempfile::tempdir().unwrap();
        let e = probe(1, &t.path().join("nope"), None).unwrap_err();
        assert_eq!((e.code, e.disk), (2, Some(1)));
        let e = probe(2, t.path(), None).unwrap_err();
        assert_eq!((e.code, e.disk), (1, Some(2)));
        assert!(e.message.contains("directory"));
        let e = check_file(3, Path::new("/dev/null")).unwrap_err();
        assert_eq!((e.code, e.disk), (5, Some(3)));
        let f = t.path().join("disk.img");
        std::fs::write(&f, [0u8; 512]).unwrap();
        assert!(check_file(1, &f).unwrap().is_file());
    }

    #[test]
    fn formats() {
        assert!(check_format("-if", "qcow2").is_ok());
        let e = check_format("-if", "vdi").unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.message.starts_with("-if vdi: not supported"),
            "{}",
            e.message
        );
    }
}
