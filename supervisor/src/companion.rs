//! What `virt-v2v-inspector` and `virt-v2v-in-place` share: virt-v2v's
//! input options, and a run of the input helper then `helper-v2v-convert`
//! (no output, no copy), with `helper-v2v-cleanup` whatever happens.  The
//! steps are run by the same [`Runner`] as virt-v2v's, so a failed step is
//! reported, and signals are handled, exactly as there.

use crate::args::{Args, GuestOpts, InputOpts};
use crate::{find, keys, need, prune_to_logs, signals, valid_type, Runner, Stop};
use clap::Parser;
use helper_common::log::{self, Level};
use helper_common::{message, warning, CommonArgs};
use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;
use v2v_meta::{exit_code, Step, V2vDir};

/// virt-v2v's input options, `--root`, `--key`, `--keys-from-stdin` and
/// `-v -x -q`, as virt-v2v spells them (`-if raw`).
#[derive(Debug, Clone, clap::Args)]
pub struct InputCli {
    /// -i, -ic, -it, -io, -if, -ip, as virt-v2v's.
    #[command(flatten)]
    pub inp: InputOpts,
    /// --root, --key, --keys-from-stdin, as virt-v2v's.
    #[command(flatten)]
    pub guest: GuestOpts,
    /// Print debug messages (passed to every helper).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Trace every helper and external command (passed to every helper).
    #[arg(short = 'x')]
    pub trace: bool,
    /// Quiet: only warnings and errors.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Input arguments: the disk images (-i disk), the XML file (-i
    /// libvirtxml), the guest name (-i libvirt), the OVA (-i ova) or the
    /// VMX file (-i vmx).
    #[arg(value_name = "ARG")]
    pub args: Vec<OsString>,
}

impl InputCli {
    /// The same options as virt-v2v's [`Args`] (no output options), so
    /// that virt-v2v's own code builds the helpers' command lines.
    pub fn v2v_args(&self) -> Args {
        let mut a: Vec<OsString> = vec!["virt-v2v".into()];
        a.extend(self.inp.to_args());
        a.extend(self.guest.to_args());
        let flags = [(self.verbose, "-v"), (self.trace, "-x"), (self.quiet, "-q")];
        a.extend(flags.iter().filter(|f| f.0).map(|f| OsString::from(f.1)));
        a.push("--".into());
        a.extend(self.args.iter().cloned());
        Args::parse_from(helper_common::virt_v2v_args(a))
    }

    fn common(&self) -> CommonArgs {
        CommonArgs {
            verbose: self.verbose,
            trace: self.trace,
            quiet: self.quiet,
            ..CommonArgs::default()
        }
    }
}

/// One companion run: which program, what the input helper and the
/// convert helper get besides virt-v2v's options.
pub struct Companion<'a> {
    /// `virt-v2v-inspector`, `virt-v2v-in-place` (messages, the log).
    pub program: &'static str,
    pub cli: &'a InputCli,
    /// Input types this program takes (`None`: any).
    pub input_types: Option<&'static [&'static str]>,
    /// Given to the input helper (and its check) first (`--in-place`).
    pub input_extra: Vec<OsString>,
    /// Given to helper-v2v-convert before DIR (`--inspect-only`,
    /// `--block-driver X`).
    pub convert_extra: Vec<OsString>,
}

/// Set up the logger for `program` from the command line's `-v -x -q`
/// (as the runner: its events, off here, would say `virt-v2v`).
pub fn init_log(program: &str, cli: &InputCli) {
    log::init(
        program,
        "virt-v2v",
        cli.common().stderr_level(),
        None,
        log::EventSink::None,
    );
}

impl Companion<'_> {
    /// Check the options, run input and convert, then `after` (while the
    /// disks are still served), and clean up.  Returns the exit code.
    pub fn run(&self, after: impl FnOnce(&V2vDir) -> Result<(), String>) -> u8 {
        let args = self.cli.v2v_args();
        let (input, convert, cleanup) = match self.plan(&args) {
            Ok(p) => p,
            Err(msg) => {
                log::log(Level::Error, &msg);
                return exit_code::USAGE;
            }
        };
        let convert_stdin = match keys::convert_stdin(&args, &mut std::io::stdin()) {
            Ok(k) => k,
            Err(msg) => {
                log::log(Level::Error, &msg);
                return exit_code::USAGE;
            }
        };
        let dir = match crate::make_tmpdir() {
            Ok(d) => d,
            Err(msg) => {
                log::log(Level::Error, &msg);
                return exit_code::FAILED;
            }
        };
        crate::open_runner_log(&dir);
        signals::install();
        let common = self.cli.common();
        let runner = Runner {
            dir,
            common: common.to_args(),
            verbose: common.verbose || common.trace,
            run_start: crate::now_epoch(),
            convert_stdin,
            keep: false,
            converted: false,
            step_gate: None,
        };
        let root: OsString = runner.dir.root().as_os_str().to_owned();
        let mut input_args = self.input_extra.clone();
        input_args.extend(crate::input_args(&args, &root));
        let checked = runner.check(Step::Input, &input, "--check", input_args.clone());
        let started = checked.is_ok();
        let outcome = checked.and_then(|()| {
            let outcome = (|| {
                runner.step(Step::Input, &input, None, input_args)?;
                let mut a: Vec<OsString> = self.convert_extra.clone();
                if let Some(r) = &args.guest.root {
                    a.extend(["--root".into(), r.into()]);
                }
                if runner.convert_stdin.is_some() {
                    a.push("--key-selectors-from-stdin".into());
                }
                a.push(root.clone());
                runner.step(Step::Convert, &convert, None, a)?;
                after(&runner.dir).map_err(Stop::Fatal)
            })();
            runner.cleanup(&cleanup);
            outcome
        });
        let dir = &runner.dir;
        if started && matches!(outcome, Err(Stop::Step(..)) | Err(Stop::Fatal(_))) {
            // The failure report (printed last) names the log kept here.
            prune_to_logs(dir);
        } else if let Err(e) = fs::remove_dir_all(dir.root()) {
            warning!("cannot remove {}: {e}", dir.root().display());
        }
        let stop = match outcome {
            Ok(()) => {
                message!("Finishing off");
                return 0;
            }
            Err(stop) => stop,
        };
        let (code, msg) = match stop {
            Stop::Step(_, code, f) => (code, f.line),
            Stop::Check(code, msg) => (code, msg),
            Stop::Fatal(msg) => (exit_code::FAILED, msg),
            Stop::Signal(sig) => (
                128 + sig as u8,
                format!("interrupted by SIG{}; cleaned up", signals::name(sig)),
            ),
        };
        log::log(Level::Error, &msg);
        code
    }

    /// The input, convert and cleanup helpers, or a usage error.
    fn plan(&self, args: &Args) -> Result<(PathBuf, PathBuf, PathBuf), String> {
        let t = &args.inp.input;
        if !valid_type(t) {
            return Err(format!("-i {t}: not a valid input type"));
        }
        if let Some(types) = self.input_types.filter(|ts| !ts.contains(&t.as_str())) {
            return Err(format!(
                "-i {t}: {} takes -i {}",
                self.program,
                types.join(" or -i ")
            ));
        }
        let input = find::helper(&format!("input-{t}")).ok_or_else(|| {
            format!(
                "unknown input type ‘-i {t}’: there is no program helper-v2v-input-{t} next to \
                 {} or on PATH",
                self.program
            )
        })?;
        if args.args.is_empty() {
            return Err(format!(
                "-i {t}: nothing to inspect or convert: give the source after the options \
                 (for -i disk: the disk images)"
            ));
        }
        Ok((input, need("convert", "")?, need("cleanup", "")?))
    }
}

/// Every option of `cmd` appears in the page `doc` (relative to the
/// repository): `-ic ` for two-letter options, `--long` or `-s` otherwise.
#[cfg(test)]
pub fn assert_documented(cmd: clap::Command, doc: &str) {
    let path = format!("{}/../{doc}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    for a in cmd.get_arguments() {
        let name = match (a.get_long(), a.get_short()) {
            (Some(l), _) if helper_common::TWO_LETTER_OPTIONS.contains(&l) => format!("`-{l} "),
            (Some(l), _) => format!("`--{l}"),
            (None, Some(s)) => format!("`-{s}"),
            (None, None) => continue,
        };
        assert!(text.contains(&name), "{name}` is not documented in {doc}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        cli: InputCli,
    }

    fn parse(a: &[&str]) -> InputCli {
        let argv = std::iter::once("p")
            .chain(a.iter().copied())
            .map(OsString::from);
        Cli::parse_from(helper_common::virt_v2v_args(argv)).cli
    }

    #[test]
    fn options_reach_the_helpers_as_virt_v2v_gives_them() {
        let c = parse(&[
            "-v",
            "-x",
            "-if",
            "raw",
            "-i",
            "disk",
            "--root",
            "first",
            "-io",
            "a=1",
            "--key",
            "all:key:pw",
            "/d/a.img",
            "--",
            "-weird.img",
        ]);
        let a = c.v2v_args();
        assert_eq!(a.inp.input, "disk");
        assert_eq!(a.guest.root.as_deref(), Some("first"));
        assert_eq!(a.guest.keys, ["all:key:pw"]);
        assert_eq!(
            a.input_options(),
            ["-if", "raw", "-io", "a=1"].map(OsString::from).to_vec()
        );
        assert_eq!(
            a.args,
            ["/d/a.img", "-weird.img"].map(OsString::from).to_vec()
        );
        assert_eq!(a.common().to_args(), ["-v", "-x"]);
        assert_eq!(c.common().to_args(), ["-v", "-x"]);
        let q = parse(&["-q", "g"]);
        assert_eq!(q.v2v_args().inp.input, "libvirt");
        assert_eq!(q.common().to_args(), ["-q"]);
    }
}
