//! `helper-v2v-cleanup DIR`: end a run.  Stops every recorded server,
//! removes sockets and scratch files and, if the run did not finish,
//! the partial targets the output created: only files at the path the
//! contract lets an output create (see [`removable`]).  With
//! `--keep-conversion` it first keeps a finished conversion for
//! `--resume` ([`kept`]); `helper-v2v-resume` serves it again.

pub mod kept;

use helper_common::{debug, message, warning, CommonArgs, Ctx, Result};
use std::path::{Path, PathBuf};
use v2v_meta::{OutputDisk, OutputJson, Step};

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "helper-v2v-cleanup",
    version,
    about = "Stop the servers of a run; remove partial targets if the run did not finish"
)]
pub struct Args {
    /// The temp directory.
    pub dir: PathBuf,
    /// Keep target disks even if the run did not finish.
    #[arg(long = "keep-partial")]
    pub keep_partial: bool,
    /// If the run did not finish but the conversion did, keep the
    /// converted disks in DIR/kept/ (before the servers stop), so that
    /// `virt-v2v --resume DIR` need not convert again.
    #[arg(long = "keep-conversion")]
    pub keep_conversion: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `helper-v2v-resume DIR`: serve a kept conversion again.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "helper-v2v-resume",
    version,
    about = "Serve the converted disks a failed run kept (DIR/kept/inN.qcow2) as DIR/inN again, \
             so that the run can go on from the output setup"
)]
pub struct ResumeArgs {
    /// The temp directory of the run to resume.
    pub dir: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Whether the run finished: the output's `final` step is done.
pub fn run_finished(ctx: &Ctx) -> bool {
    ctx.dir.done_file(Step::OutputFinal).exists()
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let mut kept_err = None;
    if args.keep_conversion && !run_finished(ctx) {
        // Before the servers stop: the conversion lives in their overlays.
        if let Err(f) = kept::keep(&ctx.dir) {
            warning!("the conversion could not be kept; --resume will convert again");
            kept_err = Some(f);
        }
    }
    let n = v2v_servers::stop_all(&ctx.dir);
    debug!("stopped {n} process(es)");
    let _ = std::fs::remove_dir_all(ctx.dir.scratch_dir());
    if !(run_finished(ctx) || args.keep_partial) {
        remove_partial_targets(ctx);
    }
    // Reported after the servers stopped and the partial targets went.
    kept_err.map_or(Ok(()), Err)
}

/// Remove the targets `output.json` marks created, where [`removable`]
/// allows it.
fn remove_partial_targets(ctx: &Ctx) {
    let oj: OutputJson = match ctx.dir.read_output_json() {
        Ok(oj) => oj,
        Err(v2v_meta::ContractError::Missing { .. }) => return,
        Err(e) => {
            warning!("cannot tell which targets to remove: {e}");
            return;
        }
    };
    for d in oj.disks.iter().filter(|d| d.created) {
        match removable(&oj, d) {
            Ok(Some(p)) => match std::fs::remove_file(&p) {
                Ok(()) => message!("Removed partial target {}", p.display()),
                Err(e) => warning!("cannot remove partial target {}: {e}", p.display()),
            },
            Ok(None) => {}
            Err(why) => warning!(
                "{}: disk {}: {why}: left in place",
                ctx.dir.output_json().display(),
                d.index
            ),
        }
    }
}

/// Whether cleanup may remove target `d`, which `output.json` marks
/// `created`: only the path the contract lets an output create
/// (`OutputJson::created_path`: `OUTPUT_STORAGE/NAME-sdX`), and only a
/// regular file there (a symlink is removed by no one).  `Ok(None)`: it is
/// gone already.  `Err`: why the file named is left alone.
pub fn removable(oj: &OutputJson, d: &OutputDisk) -> std::result::Result<Option<PathBuf>, String> {
    let Some(path) = &d.path else {
        return Err("marked created but names no path".into());
    };
    let expected = oj.created_path(d).map_err(|why| format!("{path}: {why}"))?;
    if Path::new(path) != expected {
        return Err(format!(
            "{path} is not the target an output creates for it ({})",
            expected.display()
        ));
    }
    match std::fs::symlink_metadata(&expected) {
        Ok(m) if m.file_type().is_file() => Ok(Some(expected)),
        Ok(m) if m.file_type().is_symlink() => Err(format!("{path} is a symbolic link")),
        Ok(_) => Err(format!("{path} is not a regular file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{path}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use v2v_meta::{V2vDir, CONTRACT_VERSION, OUTPUT_STORAGE};

    fn oj(storage: &Path, path: &str) -> (OutputJson, OutputDisk) {
        let d = OutputDisk {
            index: 1,
            socket: V2vDir::out_name(1),
            path: Some(path.into()),
            format: "raw".into(),
            size: 1,
            created: true,
        };
        let mut options = BTreeMap::new();
        options.insert(OUTPUT_STORAGE.into(), storage.display().to_string());
        let oj = OutputJson {
            version: CONTRACT_VERSION,
            output_type: "local".into(),
            name: "g".into(),
            disks: vec![d.clone()],
            target_is_zero: true,
            request_size: None,
            options,
        };
        (oj, d)
    }

    #[test]
    fn only_the_created_regular_file_is_removable() {
        let t = tempfile::tempdir().unwrap();
        let os = t.path().join("out");
        std::fs::create_dir(&os).unwrap();
        let target = os.join("g-sda");
        let t_str = target.display().to_string();
        // Not there (yet, or any more): nothing to do.
        let (o, d) = oj(&os, &t_str);
        assert_eq!(removable(&o, &d), Ok(None));
        std::fs::write(&target, b"x").unwrap();
        assert_eq!(removable(&o, &d), Ok(Some(target.clone())));

        let other = t.path().join("precious");
        std::fs::write(&other, b"x").unwrap();
        let dotdot = format!("{}/../precious", os.display());
        let sibling = os.join("g-sdb").display().to_string();
        for (path, why) in [
            (
                other.display().to_string(),
                "is not the target an output creates",
            ),
            (dotdot, "is not the target an output creates"),
            (sibling, "is not the target an output creates"),
        ] {
            let (o, d) = oj(&os, &path);
            let e = removable(&o, &d).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        // A storage that is not absolute and normal is refused.
        let (o, d) = oj(Path::new("out"), "out/g-sda");
        assert!(removable(&o, &d).unwrap_err().contains("absolute"));
        // A symlink at the right place is left alone (and so is its target).
        std::fs::remove_file(&target).unwrap();
        std::os::unix::fs::symlink(&other, &target).unwrap();
        let (o, d) = oj(&os, &t_str);
        assert!(removable(&o, &d).unwrap_err().contains("symbolic link"));
        std::fs::remove_file(&target).unwrap();
        std::fs::create_dir(&target).unwrap();
        assert!(removable(&o, &d)
            .unwrap_err()
            .contains("not a regular file"));
        let (o, mut d) = oj(&os, &t_str);
        d.path = None;
        assert!(removable(&o, &d).is_err());
    }
}
