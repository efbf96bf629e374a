//! `helper-v2v-output-null setup|final`: a sink output.  Data copied to
//! `outN` is discarded by `nbdkit null`.

use helper_common::{CommonArgs, Ctx, Failure, Result};
use std::path::PathBuf;
use v2v_meta::{MetadataIn, OutputDisk, OutputJson, Step, CONTRACT_VERSION};
use v2v_servers::{start, Nbdkit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// Serve one nbdkit null sink per source disk as DIR/outN; write output.json.
    Setup,
    /// Check output.json; nothing is written.
    Final,
}

impl Phase {
    pub fn step(self) -> Step {
        match self {
            Phase::Setup => Step::OutputSetup,
            Phase::Final => Step::OutputFinal,
        }
    }
}

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "helper-v2v-output-null",
    version,
    about = "Output to nowhere: the copied data is discarded (for tests and benchmarks)"
)]
pub struct Args {
    /// `setup` or `final`.
    #[arg(value_enum)]
    pub phase: Phase,
    /// The temp directory.
    pub dir: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn run(ctx: &Ctx, phase: Phase) -> Result<()> {
    match phase {
        Phase::Setup => setup(ctx),
        Phase::Final => {
            let oj: OutputJson = v2v_meta::read_json(&ctx.dir.output_json())?;
            if oj.output_type != "null" {
                return Err(Failure::contract(format!(
                    "{}: written by output type {:?}, not null",
                    ctx.dir.output_json().display(),
                    oj.output_type
                )));
            }
            Ok(())
        }
    }
}

fn setup(ctx: &Ctx) -> Result<()> {
    let md: MetadataIn = v2v_meta::read_json(&ctx.dir.metadata_in())?;
    let mut disks = Vec::new();
    for d in &md.source.disks {
        let name = format!("out{}", d.index);
        let spec = Nbdkit::new("null").param("size", d.size.to_string());
        if let Err(f) = start(&ctx.dir, ctx.step, &name, &spec, ctx.owner()) {
            v2v_servers::stop_all(&ctx.dir);
            return Err(f.disk(d.index));
        }
        disks.push(OutputDisk {
            index: d.index,
            socket: name,
            path: None,
            format: "raw".into(),
            size: d.size,
            created: false,
        });
    }
    let oj = OutputJson {
        version: CONTRACT_VERSION,
        output_type: "null".into(),
        name: md.source.name.clone(),
        disks,
        target_is_zero: true,
        request_size: None,
        options: Default::default(),
    };
    v2v_meta::write_json(&ctx.dir.output_json(), &oj)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_map_to_steps() {
        assert_eq!(Phase::Setup.step(), Step::OutputSetup);
        assert_eq!(Phase::Final.step(), Step::OutputFinal);
    }
}
