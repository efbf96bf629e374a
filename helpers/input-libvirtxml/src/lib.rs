//! helper-v2v-input-libvirtxml: a guest described by a libvirt domain XML
//! file.  Serves each disk as `DIR/inN` through a copy-on-write overlay and
//! writes `DIR/metadata.in`.  See `docs/helpers/helper-v2v-input-libvirtxml.md`.
//! Parsing the XML and serving its disks is `v2v_input_kit::domain` and
//! `v2v_input_kit::serve`, shared with `helper-v2v-input-libvirt`.

use helper_common::{CommonArgs, Ctx, Result};
use std::path::{Path, PathBuf};
use v2v_input_kit::disk::Serving;
use v2v_input_kit::domain::{read_domain, Domain};
use v2v_input_kit::{safe, serve, InputArgs, Policy};
use v2v_meta::Origin;

/// What `-i libvirtxml` does with virt-v2v's input options: ignores them
/// all (virt-v2v does, `-io` included).
pub const POLICY: Policy = Policy {
    input_type: "libvirtxml",
    uses: &[],
    refuses: &[],
};

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
    #[command(flatten)]
    pub input: InputArgs,
    /// Serve the local disks themselves, writable, without the
    /// copy-on-write overlay: what the next steps write changes the disks
    /// (virt-v2v-in-place).  A network disk is refused.
    #[arg(long = "in-place")]
    pub in_place: bool,
    /// The run's temp directory (created if missing).
    pub dir: PathBuf,
    /// The libvirt domain XML file.
    pub file: PathBuf,
}

/// What the check found: the parsed domain, and the directory its
/// relative disk paths are taken from (the XML file's).
#[derive(Debug)]
pub struct Checked {
    pub domain: Domain,
    pub base: PathBuf,
}

/// Validate the options, read and parse the XML, check every local disk
/// it names: the whole of `--check`, and the first thing the step does.
pub fn check(args: &Args) -> Result<Checked> {
    args.input.validate(&POLICY)?;
    let xml = safe::read_bounded(&args.file, "libvirt XML")?;
    let file = helper_common::absolute(&args.file);
    let origin = Origin {
        input_type: "libvirtxml".into(),
        location: vec![file.display().to_string()],
    };
    let domain = read_domain(&xml, origin)?;
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    serve::check_domain(&domain, &base, false)?;
    Ok(Checked { domain, base })
}

/// The step: check, then serve every disk and write `metadata.in`.
pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let Checked { domain, base } = check(args)?;
    args.input.warn_ignored(&POLICY);
    let serving = if args.in_place {
        Serving::InPlace
    } else {
        Serving::Overlay
    };
    serve::serve_domain_as(ctx, domain, &base, None, serving)?;
    Ok(())
}
