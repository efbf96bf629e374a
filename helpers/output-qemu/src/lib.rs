//! `helper-v2v-output-qemu check|setup|final`: local disk files and
//! `NAME.sh`, a script that boots them in qemu (virt-v2v's `-o qemu`).
//! `-oo qemu-boot` runs the script at the end of `final`.

use helper_common::output::{OutputArgs, OutputType};
use helper_common::{message, Ctx, Failure, Result};
use v2v_output_kit::{self as kit, oo_bool, unknown_oo, LocalOptions};

/// `-o qemu`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub local: LocalOptions,
    /// `-oo qemu-boot`: run NAME.sh in the background after `final`.
    pub qemu_boot: bool,
}

/// The `-oo` key `final` reads back from `output.json`'s options.
const QEMU_BOOT: &str = "qemu_boot";

/// `-o qemu`.
pub struct Qemu;

impl OutputType for Qemu {
    const NAME: &'static str = "qemu";
    const PROG: &'static str = "helper-v2v-output-qemu";
    const ABOUT: &'static str =
        "Output to local files and a qemu script: `setup` creates and serves the target disks, \
         `final` writes NAME.sh";
    const SETUP: &'static str =
        "Create OUTDIR/NAME-sdX for every source disk, serve them as DIR/outN, write DIR/output.json";
    const FINAL: &'static str =
        "Write OUTDIR/NAME.sh from description.json (and run it with -oo qemu-boot)";
    const OPTIONS: &'static str = "-o qemu: -os OUTDIR (required) is the directory for the disks \
        and NAME.sh; -of raw|qcow2 (default raw); -oa sparse|preallocated (default sparse); \
        -oo compressed (with -of qcow2) compresses the disks; -oo qemu-boot boots the guest \
        after conversion; -oc is accepted and ignored, as by virt-v2v.";
    type Options = Options;

    fn validate(args: &OutputArgs) -> Result<Options> {
        let mut qemu_boot = false;
        let local = kit::validate(args, Self::NAME, true, |k, v, o| {
            match k {
                "compressed" => o.compressed = oo_bool(Self::NAME, k, v)?,
                "qemu-boot" => qemu_boot = oo_bool(Self::NAME, k, v)?,
                _ => return Err(unknown_oo(Self::NAME, k)),
            }
            Ok(())
        })?;
        Ok(Options { local, qemu_boot })
    }

    fn setup(ctx: &Ctx, opts: Options) -> Result<()> {
        kit::setup_for(ctx, Self::NAME, &opts.local, "sh", |os, name, md| {
            kit::standard_paths(os, name, &md.source.disks)
        })?;
        if opts.qemu_boot {
            // Recorded for `final`, which gets no options.
            let mut oj = ctx.dir.read_output_json()?;
            oj.options.insert(QEMU_BOOT.into(), "true".into());
            v2v_meta::write_json(&ctx.dir.output_json(), &oj)?;
        }
        Ok(())
    }

    /// OUTDIR/NAME.sh, rendered from description.json; run with -oo qemu-boot.
    fn finalize(ctx: &Ctx) -> Result<()> {
        let oj = Self::read_output_json(ctx)?;
        let path = kit::write_final(ctx, &oj, "sh", 0o755, |d| Ok(v2v_render::qemu::script(d)))?;
        if oj.options.get(QEMU_BOOT).is_some_and(|v| v == "true") {
            message!("Booting the guest: {} &", path.display());
            std::process::Command::new(&path)
                .stdin(std::process::Stdio::null())
                .spawn()
                .map_err(|e| Failure::external(format!("{}: cannot run: {e}", path.display())))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn options_are_virt_v2vs() {
        let t = tempfile::tempdir().unwrap();
        let mut a = OutputArgs {
            dir: PathBuf::from("/nonexistent/v2v"),
            output_storage: Some(t.path().to_path_buf()),
            format: Some("qcow2".into()),
            options: vec!["compressed".into(), "qemu-boot=true".into()],
            ..Default::default()
        };
        let o = Qemu::validate(&a).unwrap();
        assert!(o.qemu_boot && o.local.compressed);
        a.options = vec!["qemu-boot=false".into()];
        assert!(!Qemu::validate(&a).unwrap().qemu_boot);
        for (oo, want) in [
            (
                "json-disks-pattern=x",
                "-o qemu: unknown output option ‘-oo json-disks-pattern’",
            ),
            (
                "qemu-boot=yes",
                "-oo qemu-boot=yes: the value must be true or false",
            ),
        ] {
            a.options = vec![oo.into()];
            let f = Qemu::validate(&a).unwrap_err();
            assert_eq!(f.code, 2);
            assert!(f.message.contains(want), "{}", f.message);
        }
        a.options.clear();
        a.output_storage = None;
        let f = Qemu::validate(&a).unwrap_err();
        assert!(f
            .message
            .contains("-o qemu: output directory was not specified"));
    }
}
