//! `helper-v2v-input-disk`: serve local disk images as `DIR/inN` through a
//! copy-on-write overlay and write `DIR/metadata.in` with what virt-v2v's
//! `-i disk` guesses.  [`serve_local_disk`] is also used by other inputs.

use helper_common::{message, trace, CommonArgs, Ctx, Failure, Result};
use std::path::{Path, PathBuf};
use v2v_meta::{
    Cpu, Firmware, MetadataIn, NetworkKind, Nic, Origin, Source, SourceDisk, CONTRACT_VERSION,
};
use v2v_servers::{make_overlay, start, Nbdkit, QemuNbd};

/// Memory given to a guest whose source says nothing (as virt-v2v -i disk).
pub const DEFAULT_MEMORY: u64 = 2 << 30;
/// vCPUs given to a guest whose source says nothing.
pub const DEFAULT_VCPUS: u32 = 1;
/// Formats this input serves.
pub const FORMATS: [&str; 5] = ["raw", "qcow2", "vmdk", "vpc", "vhdx"];

/// Serve local disk images (virt-v2v's `-i disk`).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "helper-v2v-input-disk",
    version,
    about = "Serve local disk images as DIR/in1.. through a copy-on-write overlay; write DIR/metadata.in"
)]
pub struct Args {
    /// The temp directory (created, mode 0700, if missing).
    pub dir: PathBuf,
    /// Disk images, in guest order.
    #[arg(required = true, value_name = "DISK")]
    pub disks: Vec<PathBuf>,
    /// Format of every disk (default: probed with qemu-img). Also `-if`.
    #[arg(long = "format", visible_alias = "if", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Guest name (default: the first disk's file name without extension).
    #[arg(long = "name", value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
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

/// Check that `path` is a readable disk image and probe it.
/// Exit codes: missing 2, unreadable 1, not a disk image 5, qemu-img failure 4.
pub fn probe(n: u32, path: &Path, format: Option<&str>) -> Result<Probe> {
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
    // Opening it proves it is readable by us (root bypasses mode bits, not
    // everything else: FIFOs, sockets, ...).
    if !(meta.is_file() || is_block_device(&meta)) {
        return Err(
            Failure::unsupported(format!("{shown}: not a regular file or block device")).disk(n),
        );
    }
    std::fs::File::open(path)
        .map_err(|e| Failure::failed(format!("{shown}: cannot read: {e}")).disk(n))?;
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
    let name = format!("in{n}");
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

/// The guest name virt-v2v guesses from the first disk: its file name
/// without the extension.
pub fn guess_name(first: &Path) -> String {
    first
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "guest".into())
}

/// The metadata `-i disk` writes: defaults for everything the files cannot tell.
pub fn metadata(name: String, location: Vec<String>, disks: Vec<SourceDisk>) -> MetadataIn {
    MetadataIn {
        version: CONTRACT_VERSION,
        source: Source {
            name,
            origin: Origin {
                input_type: "disk".into(),
                location,
            },
            memory_bytes: DEFAULT_MEMORY,
            vcpus: DEFAULT_VCPUS,
            cpu: Cpu::default(),
            firmware: Firmware::Unknown,
            secure_boot: false,
            disks,
            removables: vec![],
            nics: vec![Nic {
                mac: None,
                network: Some("default".into()),
                network_kind: NetworkKind::Network,
                model: None,
            }],
            video: None,
            sound: None,
            hypervisor: None,
            os_hint: None,
        },
    }
}

/// Serve every disk of `args`; on any failure stop what was started.
pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    if let Some(f) = &args.format {
        if !FORMATS.contains(&f.as_str()) {
            return Err(Failure::usage(format!(
                "--format {f}: not supported (supported: {})",
                FORMATS.join(", ")
            )));
        }
    }
    // Check every disk before starting anything.
    let mut probes = Vec::new();
    for (i, d) in args.disks.iter().enumerate() {
        probes.push(probe(i as u32 + 1, d, args.format.as_deref())?);
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| guess_name(&args.disks[0]));
    let mut disks = Vec::new();
    for (i, (d, p)) in args.disks.iter().zip(&probes).enumerate() {
        let n = i as u32 + 1;
        message!(
            "Opening the source: disk {n} {} ({}, {} bytes)",
            d.display(),
            p.format,
            p.virtual_size
        );
        match serve_local_disk(ctx, n, d, p) {
            Ok(sd) => disks.push(sd),
            Err(f) => {
                v2v_servers::stop_all(&ctx.dir);
                return Err(f);
            }
        }
    }
    let location = args
        .disks
        .iter()
        .map(|d| helper_common::absolute(d).display().to_string())
        .collect();
    let md = metadata(name, location, disks);
    if let Err(e) = v2v_meta::write_json(&ctx.dir.metadata_in(), &md) {
        v2v_servers::stop_all(&ctx.dir);
        return Err(e.into());
    }
    Ok(())
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
    fn names_and_defaults() {
        assert_eq!(guess_name(Path::new("/a/b/fedora.qcow2")), "fedora");
        assert_eq!(guess_name(Path::new("disk")), "disk");
        let md = metadata("g".into(), vec!["/x".into()], vec![]);
        assert_eq!(md.source.memory_bytes, 2 << 30);
        assert_eq!(md.source.nics.len(), 1);
        assert_eq!(md.source.origin.input_type, "disk");
    }

    #[test]
    fn refuses_bad_paths() {
        let t = tempfile::tempdir().unwrap();
        let e = probe(1, &t.path().join("nope"), None).unwrap_err();
        assert_eq!((e.code, e.disk), (2, Some(1)));
        let e = probe(2, t.path(), None).unwrap_err();
        assert_eq!((e.code, e.disk), (1, Some(2)));
        assert!(e.message.contains("directory"));
    }
}
