//! helper-v2v-input-libvirtxml: a guest described by a libvirt domain XML
//! file.  Serves each disk as `DIR/inN` through a copy-on-write overlay and
//! writes `DIR/metadata.in`.  See `docs/helpers/helper-v2v-input-libvirtxml.md`.
//!
//! This crate also holds what every description-reading input shares:
//! [`safe`] (bounded reads, XML without DTDs) and [`serve`] (serving disks,
//! writing the metadata); `helper-v2v-input-libvirt`, `-ova` and `-vmx`
//! depend on it.

pub mod domain;
pub mod meta;
pub mod safe;
pub mod serve;

use domain::{DiskData, Domain};
use helper_common::{message, CommonArgs, Ctx, Failure, Result};
use std::path::{Path, PathBuf};
use v2v_meta::{Origin, Source};
use v2v_servers::Nbdkit;

/// Command line of `helper-v2v-input-libvirtxml`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "helper-v2v-input-libvirtxml",
    version,
    about = "Serve the disks of a guest described by a libvirt domain XML file as DIR/inN and write DIR/metadata.in"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The run's temp directory (created if missing).
    pub dir: PathBuf,
    /// The libvirt domain XML file.
    pub file: PathBuf,
}

/// How a caller resolves `<disk type='volume'>` (pool, volume) to a path.
pub type VolumeResolver<'a> = &'a dyn Fn(&str, &str) -> Result<PathBuf>;

/// The helper's body.
pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let xml = safe::read_bounded(&args.file, "libvirt XML")?;
    let file = helper_common::absolute(&args.file);
    let origin = Origin {
        input_type: "libvirtxml".into(),
        location: vec![file.display().to_string()],
    };
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    run_xml(ctx, &xml, origin, &base, None)?;
    Ok(())
}

/// Parse `xml` (from `origin`), serve its disks and write `metadata.in`.
/// Relative disk paths are taken relative to `base`.
pub fn run_xml(
    ctx: &Ctx,
    xml: &str,
    origin: Origin,
    base: &Path,
    volumes: Option<VolumeResolver>,
) -> Result<Source> {
    let what = origin.location.join(" ");
    let Domain { source, disks } = domain::parse_domain(xml, origin)
        .map_err(|e| Failure::contract(format!("libvirt XML {what}: {e}")))?;
    message!("Source guest {}: {} disk(s)", source.name, disks.len());
    serve::serve_and_write(ctx, source, |i, _| {
        let index = i as u32 + 1;
        let d = &disks[i];
        let fmt = d.format.as_deref();
        match &d.data {
            DiskData::File(p) | DiskData::Block(p) => {
                let p = base.join(p);
                serve::serve_local(ctx, index, &p, fmt)
            }
            DiskData::Volume { pool, volume } => match volumes {
                Some(resolve) => {
                    let p = resolve(pool, volume)?;
                    serve::serve_local(ctx, index, &p, fmt)
                }
                None => Err(Failure::unsupported(format!(
                    "<disk type='volume'> (pool {pool}, volume {volume}) needs libvirt: use helper-v2v-input-libvirt"
                ))),
            },
            DiskData::Nbd { uri } => match fmt {
                None | Some("raw") => {
                    serve::serve_nbdkit_raw(ctx, index, Nbdkit::new("nbd").param("uri", uri), uri)
                }
                Some(f) => serve::serve_qemu_backing(ctx, index, uri, f, uri),
            },
        }
    })
}
