//! `helper-v2v-input-disk`: serve local disk images as `DIR/inN` through a
//! copy-on-write overlay and write `DIR/metadata.in` with what virt-v2v's
//! `-i disk` guesses.  Checking, probing and serving a local disk is
//! `v2v_input_kit::disk`, shared with the other inputs.

use helper_common::{CommonArgs, Ctx, Result};
use std::path::{Path, PathBuf};
use v2v_input_kit::meta::{new_disk, new_source, Slot};
use v2v_input_kit::refs::Scope;
use v2v_input_kit::{disk, serve, InputArgs, Opt, Policy};
use v2v_meta::{NetworkKind, Nic, Origin, Source};

/// Memory given to a guest whose source says nothing (as virt-v2v -i disk).
pub const DEFAULT_MEMORY: u64 = 2 << 30;
/// vCPUs given to a guest whose source says nothing.
pub const DEFAULT_VCPUS: u32 = 1;

/// What `-i disk` does with virt-v2v's input options: `-if` is the format
/// of every disk; `-io` is refused, the others ignored (as virt-v2v does).
pub const POLICY: Policy = Policy {
    input_type: "disk",
    uses: &[Opt::Format],
    refuses: &[Opt::Options],
};

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
    /// The same as -if (kept for existing scripts; -if is the spelling).
    #[arg(
        long = "format",
        value_name = "FORMAT",
        conflicts_with = "input_format"
    )]
    pub format: Option<String>,
    /// Guest name (default: the first disk's file name without extension).
    #[arg(long = "name", value_name = "NAME")]
    pub name: Option<String>,
    /// Serve the disks themselves, writable, without the copy-on-write
    /// overlay: what the next steps write changes the disks
    /// (virt-v2v-in-place).
    #[arg(long = "in-place")]
    pub in_place: bool,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl Args {
    /// The format of every disk, and the flag that named it (`-if`, `--format`).
    pub fn format(&self) -> Option<(&'static str, &str)> {
        match (&self.input.input_format, &self.format) {
            (Some(f), _) => Some(("-if", f)),
            (None, Some(f)) => Some(("--format", f)),
            (None, None) => None,
        }
    }
}

/// Validate the options and every disk without running anything: the
/// whole of `--check`, and the first thing the step does.
pub fn check(args: &Args) -> Result<()> {
    args.input.validate(&POLICY)?;
    if let Some((flag, f)) = args.format() {
        disk::check_format(flag, f)?;
    }
    let format = args.format().map(|(_, f)| f);
    for (i, d) in args.disks.iter().enumerate() {
        disk::check_image(i as u32 + 1, d, format, Scope::Beside)?;
    }
    Ok(())
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

/// The source `-i disk` describes (its disks added once probed): defaults
/// for everything the files cannot tell, one NIC on the default network.
pub fn source(name: String, location: Vec<String>) -> Source {
    let origin = Origin {
        input_type: "disk".into(),
        location,
    };
    let mut s = new_source(name, origin, DEFAULT_MEMORY, DEFAULT_VCPUS);
    s.nics.push(Nic {
        mac: None,
        network: Some("default".into()),
        network_kind: NetworkKind::Network,
        model: None,
    });
    s
}

/// The step: check, probe every disk, then serve them all and write
/// `metadata.in` (on any failure, stopping what was started).
pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    check(args)?;
    args.input.warn_ignored(&POLICY);
    let format = args.format().map(|(_, f)| f);
    let mut probes = Vec::new();
    for (i, d) in args.disks.iter().enumerate() {
        probes.push(disk::probe(i as u32 + 1, d, format)?);
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| guess_name(&args.disks[0]));
    let paths: Vec<String> = args
        .disks
        .iter()
        .map(|d| helper_common::absolute(d).display().to_string())
        .collect();
    let mut src = source(name, paths.clone());
    for (i, (p, path)) in probes.iter().zip(paths).enumerate() {
        let n = i as u32 + 1;
        src.disks.push(new_disk(
            n,
            &p.format,
            p.virtual_size,
            Slot::default(),
            path,
        ));
    }
    serve::serve_and_write(ctx, src, |i, _| {
        let serving = if args.in_place {
            disk::Serving::InPlace
        } else {
            disk::Serving::Overlay
        };
        disk::serve_local_disk_as(ctx, i as u32 + 1, &args.disks[i], &probes[i], serving)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> std::result::Result<Args, clap::Error> {
        let argv = std::iter::once("helper-v2v-input-disk").chain(args.iter().copied());
        Args::try_parse_from(helper_common::virt_v2v_args(argv.map(Into::into)))
    }

    #[test]
    fn names_and_defaults() {
        assert_eq!(guess_name(Path::new("/a/b/fedora.qcow2")), "fedora");
        assert_eq!(guess_name(Path::new("disk")), "disk");
        let s = source("g".into(), vec!["/x".into()]);
        assert_eq!(s.memory_bytes, 2 << 30);
        assert_eq!(s.nics.len(), 1);
        assert_eq!(s.origin.input_type, "disk");
    }

    #[test]
    fn format_spellings() {
        let a = parse(&["d", "x.img", "-if", "qcow2"]).unwrap();
        assert_eq!(a.format(), Some(("-if", "qcow2")));
        let a = parse(&["d", "x.img", "--format", "raw"]).unwrap();
        assert_eq!(a.format(), Some(("--format", "raw")));
        assert!(parse(&["d", "x.img", "--format", "raw", "-if", "raw"]).is_err());
        let a = parse(&["d", "x.img", "-if", "vdi"]).unwrap();
        let e = check(&a).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.message.starts_with("-if vdi:"), "{}", e.message);
    }
}
