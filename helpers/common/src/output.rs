//! What every output helper shares: its command line
//!
//! ```text
//! helper-v2v-output-TYPE check|setup [COMMON] DIR [-os S] [-of F] [-oa A] [-on N] [-oc URI] [-oo OPT]...
//! helper-v2v-output-TYPE final [COMMON] DIR
//! ```
//!
//! and its `main`.  An output type says only what is its own, by
//! implementing [`OutputType`] (its validation rules, `setup`, `final`);
//! its `main.rs` is `helper_common::output::main::<Type>()`.

use crate::{CommonArgs, Ctx, DirMode, Failure, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use v2v_meta::{MetadataIn, OutputJson, Step, V2vDir};

/// The arguments of `setup` and `check` (the same, as the contract says):
/// virt-v2v's output options.  Which of them a type takes, and what it does
/// with them, is [`OutputType::validate`]'s business.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputArgs {
    /// The temp directory (metadata.in must be there; `check` reads it when
    /// present, nothing else).
    pub dir: PathBuf,
    /// Output storage (also `-os`).
    #[arg(long = "os", value_name = "STORAGE")]
    pub output_storage: Option<PathBuf>,
    /// Target format (also `-of`).
    #[arg(long = "of", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Target allocation (also `-oa`).
    #[arg(long = "oa", value_name = "ALLOC")]
    pub alloc: Option<String>,
    /// Target guest name (also `-on`; default: the source's name).
    #[arg(long = "on", value_name = "NAME")]
    pub name: Option<String>,
    /// Output connection (also `-oc`).
    #[arg(long = "oc", value_name = "URI")]
    pub conn: Option<String>,
    /// Output option KEY[=VALUE] (also `-oo`, repeatable).
    #[arg(long = "oo", value_name = "OPTION")]
    pub options: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// An output helper's phases.  Each type's `--help` replaces the `setup`
/// and `final` descriptions with its own ([`OutputType::SETUP`],
/// [`OutputType::FINAL`]).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum OutputCmd {
    /// Check the options of `setup` without doing anything (DIR/metadata.in
    /// is read when present, nothing else; nothing is written): exit 0, or
    /// 2 naming the bad option.
    Check(OutputArgs),
    /// Create the targets, serve them as DIR/outN, write DIR/output.json.
    Setup(OutputArgs),
    /// Finish the output from metadata.in, metadata.out and output.json.
    Final {
        /// The temp directory.
        dir: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// The whole command line; its name and texts are the type's (see [`command`]).
#[derive(Debug, Clone, clap::Parser)]
#[command(version)]
pub struct OutputCli {
    #[command(subcommand)]
    pub cmd: OutputCmd,
}

/// What an output type is made of.
pub trait OutputType {
    /// The type's name, as in `-o NAME` and `output.json`'s `output_type`.
    const NAME: &'static str;
    /// The program, `helper-v2v-output-TYPE`: its name in `--help` and the
    /// prefix of its error lines.
    const PROG: &'static str;
    /// `--help`'s first line: what this output makes.
    const ABOUT: &'static str;
    /// `setup --help`'s first line: what `setup` creates and serves.
    const SETUP: &'static str;
    /// `final --help`'s first line: what `final` writes.
    const FINAL: &'static str;
    /// Shown after the flags of `check --help` and `setup --help`: which
    /// options this type takes and what it does with them.
    const OPTIONS: &'static str;
    /// `setup`'s options, validated.
    type Options;
    /// Validate every option, with no side effect (the `check` phase;
    /// `setup` runs it first, so the two never disagree).  A bad option is
    /// a usage error (exit 2) naming it.
    fn validate(args: &OutputArgs) -> Result<Self::Options>;
    /// What `check` checks of the options against the source, once the
    /// input step has written `DIR/metadata.in` (the runners check again
    /// then, before the conversion): e.g. `-o vdsm`'s one image and one
    /// volume UUID per disk.  No side effect, as [`OutputType::validate`];
    /// `setup` must refuse the same things.  Default: nothing to check.
    fn check_source(_opts: &Self::Options, _md: &MetadataIn) -> Result<()> {
        Ok(())
    }
    /// The `setup` step, after [`OutputType::validate`].
    fn setup(ctx: &Ctx, opts: Self::Options) -> Result<()>;
    /// The `final` step.
    fn finalize(ctx: &Ctx) -> Result<()>;

    /// `DIR/output.json`, refused (exit 3) unless this type's `setup` wrote it.
    fn read_output_json(ctx: &Ctx) -> Result<OutputJson> {
        let oj: OutputJson = ctx.dir.read_output_json()?;
        if oj.output_type != Self::NAME {
            return Err(Failure::contract(format!(
                "{}: written by output type {:?}, not {}",
                ctx.dir.output_json().display(),
                oj.output_type,
                Self::NAME
            )));
        }
        Ok(oj)
    }
}

/// The clap command of output type `T`: [`OutputCli`] under `T`'s name
/// and texts.
pub fn command<T: OutputType>() -> clap::Command {
    use clap::CommandFactory;
    OutputCli::command()
        .name(T::PROG)
        .bin_name(T::PROG)
        .about(T::ABOUT)
        .mut_subcommand("check", |c| c.after_help(T::OPTIONS))
        .mut_subcommand("setup", |c| c.about(T::SETUP).after_help(T::OPTIONS))
        .mut_subcommand("final", |c| c.about(T::FINAL))
}

/// The `main` of output type `T`.
pub fn main<T: OutputType>() -> ExitCode {
    run_main::<T>(std::env::args_os())
}

/// [`main`] on the given command line (its first word is the program).
pub fn run_main<T: OutputType>(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli: OutputCli = match crate::parse_command(T::PROG, command::<T>(), argv) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cli.cmd {
        OutputCmd::Check(a) => check::<T>(&a),
        OutputCmd::Setup(a) => crate::run(
            T::PROG,
            Step::OutputSetup,
            &a.dir,
            DirMode::Existing,
            &a.common,
            |ctx| T::setup(ctx, T::validate(&a)?),
        ),
        OutputCmd::Final { dir, common } => crate::run(
            T::PROG,
            Step::OutputFinal,
            &dir,
            DirMode::Existing,
            &common,
            T::finalize,
        ),
    }
}

/// `helper-v2v-output-TYPE check ...`: [`OutputType::validate`], then
/// [`OutputType::check_source`] when `DIR/metadata.in` exists, with no side
/// effect (no log, no status file, nothing else in DIR read): exit 0, or
/// the failure's code after one line `helper-v2v-output-TYPE: error: MESSAGE`.
pub fn check<T: OutputType>(args: &OutputArgs) -> ExitCode {
    let checked = T::validate(args).and_then(|opts| {
        let dir = V2vDir::new(&args.dir);
        if dir.metadata_in().exists() {
            T::check_source(&opts, &dir.read_metadata_in()?)?;
        }
        Ok(opts)
    });
    match checked {
        Ok(_) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{}: error: {}", T::PROG, f.message);
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static CALLED: Cell<&'static str> = const { Cell::new("") };
    }

    /// A type that takes only `-on`, and records which phase ran.
    struct Toy;

    impl OutputType for Toy {
        const NAME: &'static str = "toy";
        const PROG: &'static str = "helper-v2v-output-toy";
        const ABOUT: &'static str = "Output to a toy";
        const SETUP: &'static str = "Serve toy targets";
        const FINAL: &'static str = "Write the toy's report";
        const OPTIONS: &'static str = "-o toy takes -on only.";
        type Options = Option<String>;
        fn validate(a: &OutputArgs) -> Result<Option<String>> {
            if a.output_storage.is_some() {
                return Err(Failure::usage("-o toy: -os option cannot be used"));
            }
            Ok(a.name.clone())
        }
        /// One disk only, named after the source when -on is not given.
        fn check_source(name: &Option<String>, md: &MetadataIn) -> Result<()> {
            let n = md.source.disks.len();
            if n != 1 {
                return Err(Failure::usage(format!("-o toy: one disk only, not {n}")));
            }
            if name.as_deref().is_some_and(|g| g != md.source.name) {
                return Err(Failure::usage("-o toy: -on must be the source's name"));
            }
            Ok(())
        }
        fn setup(_: &Ctx, name: Option<String>) -> Result<()> {
            assert_eq!(name.as_deref(), Some("g"));
            CALLED.set("setup");
            Ok(())
        }
        fn finalize(ctx: &Ctx) -> Result<()> {
            CALLED.set("final");
            Self::read_output_json(ctx).map(drop)
        }
    }

    fn argv(words: &[&str]) -> Vec<std::ffi::OsString> {
        std::iter::once(Toy::PROG)
            .chain(words.iter().copied())
            .map(Into::into)
            .collect()
    }

    #[test]
    fn help_names_the_type() {
        let mut c = command::<Toy>();
        let top = c.render_help().to_string();
        assert!(top.starts_with("Output to a toy"), "{top}");
        assert!(
            top.contains("Usage: helper-v2v-output-toy <COMMAND>"),
            "{top}"
        );
        let setup = c.find_subcommand_mut("setup").unwrap();
        let text = setup.render_help().to_string();
        assert!(text.starts_with("Serve toy targets"), "{text}");
        assert!(text.contains("--os <STORAGE>") && text.contains("--owner-pid"));
        assert!(
            text.trim_end().ends_with("-o toy takes -on only."),
            "{text}"
        );
    }

    /// `metadata.in` of a source named `g` with `disks` disks.
    fn metadata_in(disks: usize) -> String {
        let disks: Vec<serde_json::Value> = (1..=disks)
            .map(|i| {
                serde_json::json!({"index": i, "socket": format!("in{i}"), "format": "raw",
                    "size": 1048576, "source": "/src"})
            })
            .collect();
        serde_json::json!({"version": 1, "source": {"name": "g",
            "origin": {"input_type": "disk", "location": []},
            "memory_bytes": 1073741824u64, "vcpus": 1, "disks": disks}})
        .to_string()
    }

    #[test]
    fn check_checks_the_source_once_metadata_in_is_there() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().to_str().unwrap();
        let md = t.path().join("metadata.in");
        let check = |opt: &str, v: &str| run_main::<Toy>(argv(&["check", d, opt, v]));
        // No metadata.in: the options alone.
        assert_eq!(check("-on", "h"), ExitCode::SUCCESS);
        std::fs::write(&md, metadata_in(1)).unwrap();
        assert_eq!(check("-on", "g"), ExitCode::SUCCESS);
        assert_eq!(check("-on", "h"), ExitCode::from(2));
        std::fs::write(&md, metadata_in(2)).unwrap();
        assert_eq!(check("-on", "g"), ExitCode::from(2));
        // A bad option is still found first; the source is not read then.
        std::fs::write(&md, "{").unwrap();
        assert_eq!(check("-os", "/x"), ExitCode::from(2));
        // A metadata.in that is not one: the contract's exit code.
        assert_eq!(check("-on", "g"), ExitCode::from(3));
        // Nothing but metadata.in was ever in DIR.
        let names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["metadata.in"], "check wrote in DIR");
        assert_eq!(CALLED.get(), "", "check ran a step");
    }

    #[test]
    fn phases_run_the_type() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().to_str().unwrap();
        assert_eq!(
            run_main::<Toy>(argv(&["check", d, "-on", "g"])),
            ExitCode::SUCCESS
        );
        assert_eq!(CALLED.get(), "", "check ran a step");
        assert!(
            std::fs::read_dir(t.path()).unwrap().next().is_none(),
            "check wrote in DIR"
        );
        // virt-v2v's one-dash spelling; setup validates first.
        assert_eq!(
            run_main::<Toy>(argv(&["check", d, "-os", "/x"])),
            ExitCode::from(2)
        );
        assert_eq!(
            run_main::<Toy>(argv(&["setup", d, "-os", "/x"])),
            ExitCode::from(2)
        );
        assert_eq!(CALLED.get(), "");
        assert_eq!(
            run_main::<Toy>(argv(&["setup", d, "-on", "g"])),
            ExitCode::SUCCESS
        );
        assert_eq!(CALLED.get(), "setup");
        assert!(t.path().join("status/output-setup.done").exists());
        // final reads only the output.json of its own type.
        assert_eq!(run_main::<Toy>(argv(&["final", d])), ExitCode::from(3));
        assert_eq!(CALLED.get(), "final");
        let oj = |t: &str| OutputJson {
            version: v2v_meta::CONTRACT_VERSION,
            output_type: t.into(),
            name: "g".into(),
            disks: vec![],
            target_is_zero: true,
            request_size: None,
            options: Default::default(),
        };
        let path = t.path().join("output.json");
        v2v_meta::write_json(&path, &oj("null")).unwrap();
        assert_eq!(run_main::<Toy>(argv(&["final", d])), ExitCode::from(3));
        let e = std::fs::read_to_string(t.path().join("status/output-final.error.json")).unwrap();
        assert!(
            e.contains(r#"written by output type \"null\", not toy"#),
            "{e}"
        );
        v2v_meta::write_json(&path, &oj("toy")).unwrap();
        assert_eq!(run_main::<Toy>(argv(&["final", d])), ExitCode::SUCCESS);
        assert_eq!(run_main::<Toy>(argv(&["bogus", d])), ExitCode::from(2));
        let missing = t.path().join("missing");
        let missing = missing.to_str().unwrap();
        assert_eq!(
            run_main::<Toy>(argv(&["final", missing])),
            ExitCode::from(3)
        );
    }
}
