//! `helper-v2v-output-kubevirt check|setup|final`: local disk files and
//! `NAME.yaml`, a KubeVirt `VirtualMachine` (virt-v2v's `-o kubevirt`).

use helper_common::output::{OutputArgs, OutputType};
use helper_common::{Ctx, Failure, Result};
use std::path::PathBuf;
use v2v_output_kit::{self as kit, oo_bool, unknown_oo, LocalOptions};

/// `-o kubevirt`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub local: LocalOptions,
    /// `-oo disk=PATH`, one per source disk (absolute), else none: the
    /// disks are OUTDIR/NAME-sdX.
    pub disks: Vec<PathBuf>,
}

/// `-o kubevirt`.
pub struct Kubevirt;

/// virt-v2v's message for a name KubeVirt refuses.
const BAD_NAME: &str = "-o kubevirt: the guest name must contain only lowercase alphanumeric \
    characters, '-' or '.', and must start and end with an alphanumeric character.  Rerun \
    virt-v2v with the '-on name' option to rename it.";

impl OutputType for Kubevirt {
    const NAME: &'static str = "kubevirt";
    const PROG: &'static str = "helper-v2v-output-kubevirt";
    const ABOUT: &'static str = "Output to local files and a KubeVirt VirtualMachine: `setup` \
        creates and serves the target disks, `final` writes NAME.yaml";
    const SETUP: &'static str = "Create OUTDIR/NAME-sdX (or each -oo disk=PATH) for every source \
        disk, serve them as DIR/outN, write DIR/output.json";
    const FINAL: &'static str = "Write OUTDIR/NAME.yaml from description.json";
    const OPTIONS: &'static str = "-o kubevirt: -os OUTDIR (required) is the directory for the \
        disks and NAME.yaml; -of raw|qcow2 (default raw); -oa sparse|preallocated (default \
        sparse); -oo compressed (with -of qcow2) compresses the disks; -oo create=false uses \
        existing disks; -oo disk=PATH names a disk's file (once per disk, in order); -oc is \
        accepted and ignored.  NAME must be an RFC 1123 name (lowercase).";
    type Options = Options;

    fn validate(args: &OutputArgs) -> Result<Options> {
        let mut disks: Vec<PathBuf> = Vec::new();
        let local = kit::validate(args, Self::NAME, true, |k, v, o| {
            match k {
                "compressed" => o.compressed = oo_bool(Self::NAME, k, v)?,
                "create" => o.create = oo_bool(Self::NAME, k, v)?,
                "disk" => {
                    let p = std::path::absolute(v)
                        .ok()
                        .filter(|_| !v.is_empty())
                        .ok_or_else(|| {
                            Failure::usage(format!("-o kubevirt: -oo disk={v}: not a file name"))
                        })?;
                    disks.push(p);
                }
                _ => return Err(unknown_oo(Self::NAME, k)),
            }
            Ok(())
        })?;
        if let Some(n) = &args.name {
            if !v2v_render::kubevirt::valid_name(n) {
                return Err(Failure::usage(BAD_NAME));
            }
        }
        Ok(Options { local, disks })
    }

    fn setup(ctx: &Ctx, opts: Options) -> Result<()> {
        kit::setup_for(ctx, Self::NAME, &opts.local, "yaml", |os, name, md| {
            if !v2v_render::kubevirt::valid_name(name) {
                return Err(Failure::usage(BAD_NAME));
            }
            let n = md.source.disks.len();
            if opts.disks.is_empty() {
                kit::standard_paths(os, name, &md.source.disks)
            } else if opts.disks.len() != n {
                Err(Failure::usage(format!(
                    "incorrect number of '-oo disk' parameters.  This guest has {n} disks, but \
                     the parameter was used {} times.",
                    opts.disks.len()
                )))
            } else {
                Ok(opts.disks.clone())
            }
        })
    }

    /// OUTDIR/NAME.yaml, rendered from description.json.
    fn finalize(ctx: &Ctx) -> Result<()> {
        let oj = Self::read_output_json(ctx)?;
        kit::write_final(ctx, &oj, "yaml", 0o644, |d| {
            Ok(v2v_render::kubevirt::yaml(d))
        })
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_virt_v2vs() {
        let t = tempfile::tempdir().unwrap();
        let mut a = OutputArgs {
            dir: PathBuf::from("/nonexistent/v2v"),
            output_storage: Some(t.path().to_path_buf()),
            options: vec!["create=false".into(), "disk=/d/1".into(), "disk=rel".into()],
            name: Some("web-1".into()),
            ..Default::default()
        };
        let o = Kubevirt::validate(&a).unwrap();
        assert!(!o.local.create);
        assert_eq!(o.disks[0], PathBuf::from("/d/1"));
        assert!(o.disks[1].is_absolute() && o.disks[1].ends_with("rel"));
        for (name, oo, want) in [
            (
                "Web",
                "create",
                "the guest name must contain only lowercase",
            ),
            (
                "web",
                "qemu-boot",
                "-o kubevirt: unknown output option ‘-oo qemu-boot’",
            ),
            ("web", "disk=", "-oo disk=: not a file name"),
            ("web", "compressed", "i.e. ‘-of qcow2’"),
        ] {
            a.name = Some(name.into());
            a.options = vec![oo.into()];
            let f = Kubevirt::validate(&a).unwrap_err();
            assert_eq!(f.code, 2);
            assert!(f.message.contains(want), "{}", f.message);
        }
    }
}
