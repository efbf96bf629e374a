//! `helper-v2v-output-local check|setup|final`: local disk files and a
//! libvirt domain XML (virt-v2v's `-o local`).  The command line is
//! helper-common's [`helper_common::output`], the disks and files
//! `v2v-output-kit`'s; this is [`Local`]'s part.

use helper_common::output::{OutputArgs, OutputType};
use helper_common::{Ctx, Result};
use v2v_output_kit::{self as kit, oo_bool, unknown_oo, LocalOptions};

/// `-o local`.
pub struct Local;

impl OutputType for Local {
    const NAME: &'static str = "local";
    const PROG: &'static str = "helper-v2v-output-local";
    const ABOUT: &'static str =
        "Output to local files: `setup` creates and serves the target disks, `final` writes NAME.xml";
    const SETUP: &'static str =
        "Create OUTDIR/NAME-sdX for every source disk, serve them as DIR/outN, write DIR/output.json";
    const FINAL: &'static str = "Write OUTDIR/NAME.xml from description.json and output.json";
    const OPTIONS: &'static str = "-o local: -os OUTDIR (required) is the directory for the disks \
        and NAME.xml; -of raw|qcow2 (default raw); -oa sparse|preallocated (default sparse); \
        -oo compressed (with -of qcow2) compresses the disks; -oc is accepted and ignored, \
        as by virt-v2v.";
    type Options = LocalOptions;

    fn validate(args: &OutputArgs) -> Result<LocalOptions> {
        kit::validate(args, Self::NAME, true, |k, v, o| {
            match k {
                "compressed" => o.compressed = oo_bool(Self::NAME, k, v)?,
                _ => return Err(unknown_oo(Self::NAME, k)),
            }
            Ok(())
        })
    }

    fn setup(ctx: &Ctx, opts: LocalOptions) -> Result<()> {
        kit::setup_for(ctx, Self::NAME, &opts, "xml", |os, name, md| {
            kit::standard_paths(os, name, &md.source.disks)
        })
    }

    /// OUTDIR/NAME.xml, rendered from description.json.
    fn finalize(ctx: &Ctx) -> Result<()> {
        let oj = Self::read_output_json(ctx)?;
        kit::write_final(ctx, &oj, "xml", 0o644, |d| {
            Ok(v2v_render::libvirt::domain(d, "kvm"))
        })
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    #[test]
    fn options_are_virt_v2vs() {
        let t = tempfile::tempdir().unwrap();
        let mut a = OutputArgs {
            dir: PathBuf::from("/nonexistent/v2v"),
            output_storage: Some(t.path().to_path_buf()),
            format: Some("qcow2".into()),
            conn: Some("qemu:///system".into()),
            options: vec!["compressed=true".into()],
            ..Default::default()
        };
        let o = Local::validate(&a).unwrap();
        assert!(o.compressed);
        a.options = vec!["qemu-boot".into()];
        let f = Local::validate(&a).unwrap_err();
        assert!(
            f.message
                .contains("-o local: unknown output option ‘-oo qemu-boot’"),
            "{}",
            f.message
        );
        a.output_storage = None;
        a.options.clear();
        let f = Local::validate(&a).unwrap_err();
        assert!(f
            .message
            .contains("-o local: output directory was not specified"));
        assert!(Path::new(&t.path()).exists());
    }
}
