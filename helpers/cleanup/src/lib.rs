//! `helper-v2v-cleanup DIR`: end a run.  Stops every recorded server,
//! removes sockets and scratch files and, if the run did not finish,
//! the partial targets the output created.

use helper_common::{debug, message, warning, CommonArgs, Ctx, Result};
use std::path::PathBuf;
use v2v_meta::{OutputJson, Step};

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
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Whether the run finished: the output's `final` step is done.
pub fn run_finished(ctx: &Ctx) -> bool {
    ctx.dir.done_file(Step::OutputFinal).exists()
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let n = v2v_servers::stop_all(&ctx.dir);
    debug!("stopped {n} process(es)");
    let _ = std::fs::remove_dir_all(ctx.dir.scratch_dir());
    if run_finished(ctx) || args.keep_partial {
        return Ok(());
    }
    let oj: OutputJson = match v2v_meta::read_json(&ctx.dir.output_json()) {
        Ok(oj) => oj,
        Err(v2v_meta::ContractError::Missing { .. }) => return Ok(()),
        Err(e) => {
            warning!("cannot tell which targets to remove: {e}");
            return Ok(());
        }
    };
    for d in oj.disks.iter().filter(|d| d.created) {
        if let Some(p) = &d.path {
            match std::fs::remove_file(p) {
                Ok(()) => message!("Removed partial target {p}"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => warning!("cannot remove partial target {p}: {e}"),
            }
        }
    }
    Ok(())
}
