//! A local disk image: checking it ([`check_file`], no external program),
//! probing its format with qemu-img ([`probe`]) and serving it as
//! `DIR/inN` through a copy-on-write overlay ([`serve_local_disk`]), as
//! `helper-v2v-input-disk` does and every input whose description names
//! local files.

use helper_common::{trace, Ctx, Failure, Result};
use std::path::Path;
use v2v_meta::{SourceDisk, V2vDir};
use v2v_servers::{make_overlay, start, Nbdkit, QemuNbd};

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

/// What qemu-img says about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub format: String,
    pub virtual_size: u64,
    pub actual_size: Option<u64>,
}

/// Parse `qemu-img info --output=json`.
pub fn parse_qemu_img_info(json: &str) -> std::result::Result<Probe, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let format = v["format"]
        .as_str()
        .ok_or("qemu-img info: no format")?
        .to_string();
    let virtual_size = v["virtual-size"]
        .as_u64()
        .ok_or("qemu-img info: no virtual-size")?;
    Ok(Probe {
        format,
        virtual_size,
        actual_size: v["actual-size"].as_u64(),
    })
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

/// [`check_file`], then probe the image with qemu-img (in `format` when
/// given).  Further exit codes: not a disk image or an unsupported format
/// 5, qemu-img failure 4.
pub fn probe(n: u32, path: &Path, format: Option<&str>) -> Result<Probe> {
    let shown = path.display();
    let meta = check_file(n, path)?;
    let mut args: Vec<std::ffi::OsString> = vec!["info".into(), "--output=json".into()];
    if let Some(f) = format {
        args.push("-f".into());
        args.push(f.into());
    }
    args.push(path.as_os_str().to_owned());
    let out = helper_common::run_cmd("qemu-img", &args)
        .map_err(|f| f.context(shown.to_string()).disk(n))?;
    let p = parse_qemu_img_info(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| Failure::external(format!("{shown}: {e}")).disk(n))?;
    if !FORMATS.contains(&p.format.as_str()) {
        return Err(Failure::unsupported(format!(
            "{shown}: format {} is not supported (supported: {})",
            p.format,
            FORMATS.join(", ")
        ))
        .disk(n));
    }
    // qemu-img rounds a raw file's size up to a sector: look at the file.
    let bytes = if meta.is_file() {
        meta.len()
    } else {
        p.virtual_size
    };
    if p.format == "raw" && (bytes < 512 || bytes % 512 != 0) {
        return Err(Failure::unsupported(format!(
            "{shown}: not a disk image ({bytes} bytes, not a whole number of 512-byte sectors)"
        ))
        .disk(n));
    }
    Ok(p)
}

fn is_block_device(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    m.file_type().is_block_device()
}

/// Serve local file `path` (already probed as `probe`) as `DIR/in<n>`
/// through an overlay: nbdkit file + cow for raw, qemu-nbd on a qcow2
/// overlay for other formats.  Returns the disk's metadata entry.
pub fn serve_local_disk(ctx: &Ctx, n: u32, path: &Path, probe: &Probe) -> Result<SourceDisk> {
    let name = V2vDir::in_name(n);
    let abs = helper_common::absolute(path);
    let srv = if probe.format == "raw" {
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
        let ov = make_overlay(&ctx.dir, n, &abs, &probe.format)?;
        start(
            &ctx.dir,
            ctx.step,
            &name,
            &QemuNbd::new(&ov, "qcow2"),
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
            Probe {
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
