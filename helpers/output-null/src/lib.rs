//! `helper-v2v-output-null check|setup|final`: a sink output.  Data copied
//! to `outN` is discarded by `nbdkit null`.

use helper_common::{CommonArgs, Ctx, Failure, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use v2v_meta::{MetadataIn, OutputDisk, OutputJson, V2vDir, CONTRACT_VERSION};
use v2v_servers::{start, Nbdkit};

/// The program name: the prefix of its error lines.
pub const PROG: &str = "helper-v2v-output-null";

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "helper-v2v-output-null",
    version,
    about = "Output to nowhere: the copied data is discarded (for tests and benchmarks)"
)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// The arguments of `setup` and `check`: the common output options, of
/// which `-o null` takes only `-on` (and `-of raw`, `-oa sparse`), as
/// virt-v2v's `-o null` does.
#[derive(Debug, Clone, clap::Args)]
pub struct SetupArgs {
    /// The temp directory (metadata.in must be there; `check` does not look at it).
    pub dir: PathBuf,
    /// Output storage (also `-os`): refused, `-o null` stores nothing.
    #[arg(long = "os", value_name = "STORAGE")]
    pub output_storage: Option<String>,
    /// Target format (also `-of`): only raw.
    #[arg(long = "of", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Target allocation (also `-oa`): only sparse.
    #[arg(long = "oa", value_name = "ALLOC")]
    pub alloc: Option<String>,
    /// Target guest name (also `-on`; default: the source's name), written to output.json.
    #[arg(long = "on", value_name = "NAME")]
    pub name: Option<String>,
    /// Output connection (also `-oc`): refused.
    #[arg(long = "oc", value_name = "URI")]
    pub conn: Option<String>,
    /// Output option (also `-oo`): refused, `-o null` has none.
    #[arg(long = "oo", value_name = "OPTION")]
    pub options: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Cmd {
    /// Check the options of `setup` without doing anything (DIR is not
    /// looked at, nothing is written): exit 0, or 2 naming the bad option.
    Check(SetupArgs),
    /// Serve one nbdkit null sink per source disk as DIR/outN; write output.json.
    Setup(SetupArgs),
    /// Check output.json; nothing is written.
    Final {
        /// The temp directory.
        dir: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
}

impl SetupArgs {
    /// Validate every option, with no side effect (the `check`
    /// subcommand; `setup` runs it first).  Errors are usage errors (exit
    /// 2) naming the option.
    pub fn validate(&self) -> Result<()> {
        let refused = |opt: &str| {
            Err(Failure::usage(format!(
                "-o null: {opt} option cannot be used in this output mode"
            )))
        };
        if let Some(o) = self.options.first() {
            let key = o.split('=').next().unwrap_or(o);
            return Err(Failure::usage(format!(
                "-o null: unknown output option ‘-oo {key}’ (-o null has no output options)"
            )));
        }
        match self.alloc.as_deref() {
            None | Some("sparse") => {}
            Some(_) => return refused("-oa"),
        }
        if self.conn.is_some() {
            return refused("-oc");
        }
        match self.format.as_deref() {
            None | Some("raw") => {}
            Some(_) => return refused("-of"),
        }
        if self.output_storage.is_some() {
            return refused("-os");
        }
        Ok(())
    }
}

/// `helper-v2v-output-null check ...`: exit 0, or the failure's code
/// after one line `helper-v2v-output-null: error: MESSAGE`.
pub fn check(args: &SetupArgs) -> ExitCode {
    match args.validate() {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{PROG}: error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

pub fn run(ctx: &Ctx, cmd: &Cmd) -> Result<()> {
    match cmd {
        Cmd::Check(a) => a.validate(),
        Cmd::Setup(a) => {
            a.validate()?;
            setup(ctx, a.name.as_deref())
        }
        Cmd::Final { .. } => {
            let oj: OutputJson = ctx.dir.read_output_json()?;
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

fn setup(ctx: &Ctx, name: Option<&str>) -> Result<()> {
    let md: MetadataIn = ctx.dir.read_metadata_in()?;
    let mut disks = Vec::new();
    for d in &md.source.disks {
        let socket = V2vDir::out_name(d.index);
        let spec = Nbdkit::new("null").param("size", d.size.to_string());
        if let Err(f) = start(&ctx.dir, ctx.step, &socket, &spec, ctx.owner()) {
            v2v_servers::stop_all(&ctx.dir);
            return Err(f.disk(d.index));
        }
        disks.push(OutputDisk {
            index: d.index,
            socket,
            path: None,
            format: "raw".into(),
            size: d.size,
            created: false,
        });
    }
    let oj = OutputJson {
        version: CONTRACT_VERSION,
        output_type: "null".into(),
        name: name.unwrap_or(&md.source.name).to_string(),
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

    fn args() -> SetupArgs {
        SetupArgs {
            dir: PathBuf::from("/nonexistent/v2v"),
            output_storage: None,
            format: None,
            alloc: None,
            name: None,
            conn: None,
            options: Vec::new(),
            common: CommonArgs::default(),
        }
    }

    #[test]
    fn validate_follows_virt_v2v_null() {
        let mut a = args();
        assert!(a.validate().is_ok());
        a.format = Some("raw".into());
        a.alloc = Some("sparse".into());
        a.name = Some("x".into());
        assert!(a.validate().is_ok());
        let with = |f: fn(&mut SetupArgs)| {
            let mut a = args();
            f(&mut a);
            a
        };
        for (a, want) in [
            (with(|a| a.options = vec!["k=v".into()]), "‘-oo k’"),
            (
                with(|a| a.alloc = Some("preallocated".into())),
                "-oa option",
            ),
            (
                with(|a| a.conn = Some("qemu:///system".into())),
                "-oc option",
            ),
            (with(|a| a.format = Some("qcow2".into())), "-of option"),
            (
                with(|a| a.output_storage = Some("/tmp".into())),
                "-os option",
            ),
        ] {
            let f = a.validate().unwrap_err();
            assert_eq!(f.code, 2);
            assert!(f.message.contains(want), "{} (want {want})", f.message);
        }
    }
}
