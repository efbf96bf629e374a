//! `virt-v2v-in-place`: convert the given disks in place.  The input
//! helper serves the disks themselves, writable (`--in-place`: no
//! copy-on-write overlay), `helper-v2v-convert` converts them, and there
//! is no output and no copy step.  With `-O FILE`, the `<v2v-inspection>`
//! XML of the converted guest.  See docs/virt-v2v-in-place.md.

use crate::companion::{self, Companion, InputCli};
use crate::inspector::{to_stdout, write_xml};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// The input types whose helpers can serve their disks in place.
pub const INPUT_TYPES: &[&str] = &["disk", "libvirtxml"];

/// Upstream's capability words for virt-v2v-in-place, those this build
/// has (`collect-option`: --collect is refused).
pub const FEATURES: &[&str] = &[
    "virt-v2v-in-place-2.0",
    "libguestfs-rewrite",
    "colours-option",
    "in-place",
    "io",
    "mac-option",
    "mac-ip-option",
    "customize-ops",
    "output-xml-option",
    "block-driver-option",
];

/// Convert a guest's disks to run on KVM in place: the disks are changed,
/// with no copy and no backup.  Normally you should use virt-v2v.
#[derive(Debug, Parser)]
#[command(
    name = "virt-v2v-in-place",
    version,
    after_help = "Two-letter options (-ic -it -io -if -ip) are written with one dash, as in \
                  virt-v2v.  This program modifies the guest's disks with no backup: convert \
                  a qcow2 overlay and commit it on success (docs/virt-v2v-in-place.md)."
)]
pub struct Args {
    #[command(flatten)]
    pub cli: InputCli,
    /// Windows guests: virtio-blk (default) or virtio-scsi.
    #[arg(
        long = "block-driver",
        value_name = "virtio-blk|virtio-scsi",
        value_parser = ["virtio-blk", "virtio-scsi"]
    )]
    pub block_driver: Option<String>,
    /// After the conversion, write the guest's inspection XML (as
    /// virt-v2v-inspector's) to FILE (`-`: stdout).
    #[arg(short = 'O', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the source guest's metadata and stop, converting nothing
    /// (JSON with --machine-readable).
    #[arg(long = "print-source")]
    pub print_source: bool,
}

/// Entry point of the `virt-v2v-in-place` binary.
pub fn main() -> ExitCode {
    let program = "virt-v2v-in-place";
    let args: Args = match companion::parse(program, FEATURES, Some(INPUT_TYPES), |a: &Args| &a.cli)
    {
        Ok(a) => a,
        Err(code) => return ExitCode::from(code),
    };
    if args.print_source || args.output.as_deref().is_some_and(|o| to_stdout(Some(o))) {
        // stdout carries the document only.
        helper_common::log::set_messages_to_stdout(false);
    }
    let mut convert_extra = Vec::new();
    if let Some(b) = &args.block_driver {
        convert_extra.extend(["--block-driver".into(), b.into()]);
    }
    let c = Companion {
        program,
        cli: &args.cli,
        input_types: Some(INPUT_TYPES),
        input_extra: vec!["--in-place".into()],
        convert_extra,
        changes_guest: true,
        print_source: args.print_source,
    };
    ExitCode::from(c.run(|dir| match &args.output {
        Some(o) => write_xml(program, dir, Some(o)),
        None => Ok(()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_documented() {
        use clap::CommandFactory;
        crate::companion::assert_documented(Args::command(), "docs/virt-v2v-in-place.md");
    }
}
