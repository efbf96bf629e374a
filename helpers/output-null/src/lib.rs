//! `helper-v2v-output-null check|setup|final`: a sink output.  Data copied
//! to `outN` is discarded by `nbdkit null`.  The command line is
//! helper-common's [`helper_common::output`]; this is [`Null`]'s part.

use helper_common::output::{OutputArgs, OutputType};
use helper_common::{Ctx, Failure, Result};
use v2v_meta::{MetadataIn, OutputDisk, OutputJson, V2vDir, CONTRACT_VERSION};
use v2v_servers::{start, Nbdkit};

/// `-o null`.  Its options are the common output options, of which it
/// takes only `-on` (and `-of raw`, `-oa sparse`), as virt-v2v's `-o null`
/// does.
pub struct Null;

impl OutputType for Null {
    const NAME: &'static str = "null";
    const PROG: &'static str = "helper-v2v-output-null";
    const ABOUT: &'static str =
        "Output to nowhere: the copied data is discarded (for tests and benchmarks)";
    const SETUP: &'static str =
        "Serve one nbdkit null sink per source disk as DIR/outN; write output.json";
    const FINAL: &'static str = "Check output.json; nothing is written";
    const OPTIONS: &'static str = "-o null: -on NAME is written to output.json; -of only raw, \
        -oa only sparse; -os, -oc and -oo are refused, as by virt-v2v.";
    /// `-on`, when given (else the source's name).
    type Options = Option<String>;

    fn validate(args: &OutputArgs) -> Result<Option<String>> {
        let refused = |opt: &str| {
            Err(Failure::usage(format!(
                "-o null: {opt} option cannot be used in this output mode"
            )))
        };
        if let Some(o) = args.options.first() {
            let key = o.split('=').next().unwrap_or(o);
            return Err(Failure::usage(format!(
                "-o null: unknown output option ‘-oo {key}’ (-o null has no output options)"
            )));
        }
        match args.alloc.as_deref() {
            None | Some("sparse") => {}
            Some(_) => return refused("-oa"),
        }
        if args.conn.is_some() {
            return refused("-oc");
        }
        match args.format.as_deref() {
            None | Some("raw") => {}
            Some(_) => return refused("-of"),
        }
        if args.output_storage.is_some() {
            return refused("-os");
        }
        Ok(args.name.clone())
    }

    fn setup(ctx: &Ctx, name: Option<String>) -> Result<()> {
        setup(ctx, name.as_deref())
    }

    fn finalize(ctx: &Ctx) -> Result<()> {
        Null::read_output_json(ctx).map(drop)
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
        output_type: Null::NAME.into(),
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

    fn args() -> OutputArgs {
        OutputArgs {
            dir: "/nonexistent/v2v".into(),
            ..Default::default()
        }
    }

    #[test]
    fn validate_follows_virt_v2v_null() {
        let mut a = args();
        assert!(Null::validate(&a).is_ok());
        a.format = Some("raw".into());
        a.alloc = Some("sparse".into());
        a.name = Some("x".into());
        assert!(Null::validate(&a).is_ok());
        let with = |f: fn(&mut OutputArgs)| {
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
            let f = Null::validate(&a).unwrap_err();
            assert_eq!(f.code, 2);
            assert!(f.message.contains(want), "{} (want {want})", f.message);
        }
    }
}
