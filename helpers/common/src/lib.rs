//! helper-common: what every v2v helper shares — the common flags, the
//! logger and event stream, the [`Failure`] type and [`run`], which turns a
//! step's result into status files, a last error line and an exit code;
//! [`output`]: the command line and `main` every output helper shares;
//! [`keys`]: virt-v2v's `--key` selectors (LUKS), for the runners and convert.

pub mod customize;
pub mod failure;
pub mod keys;
pub mod log;
pub mod output;
pub mod units;

pub use failure::{Failure, OrFail, Result};

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::time::{Duration, Instant};
use v2v_meta::{
    exit_code, EventKind, FailureKind, Step, StepDone, StepError, V2vDir, CONTRACT_VERSION,
};

/// Flags every helper takes (and the supervisor passes through).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// Print debug messages on stderr (the step log always has them).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Trace every external command and NBD operation on stderr.
    #[arg(short = 'x')]
    pub trace: bool,
    /// Quiet: only warnings and errors on stderr, no progress bar.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Print machine-readable events (one JSON object per line) on stdout.
    #[arg(long = "machine-readable")]
    pub machine_readable: bool,
    /// Write machine-readable events to this file descriptor instead of stdout.
    #[arg(long = "events-fd", value_name = "FD")]
    pub events_fd: Option<i32>,
    /// Servers started by this helper exit when this process exits
    /// (default: the helper's parent, the owner of the run).
    #[arg(long = "owner-pid", value_name = "PID")]
    pub owner_pid: Option<u32>,
}

impl CommonArgs {
    /// The PID whose exit ends every server of the run.
    pub fn owner(&self) -> u32 {
        self.owner_pid
            .unwrap_or_else(std::os::unix::process::parent_id)
    }

    /// What stderr shows: the ladder trace (`-x`) > debug (`-v`) > warnings
    /// only (`-q`) > messages, the first flag given winning.  Helpers and
    /// the supervisor both use it.
    pub fn stderr_level(&self) -> log::Level {
        if self.trace {
            log::Level::Trace
        } else if self.verbose {
            log::Level::Debug
        } else if self.quiet {
            log::Level::Warning
        } else {
            log::Level::Message
        }
    }

    /// Set up the logger for `program` running `step` as these flags say:
    /// [`CommonArgs::stderr_level`], events to `--events-fd`, else to
    /// stdout with `--machine-readable`; no log file yet.
    pub fn init_log(&self, program: &str, step: Step) {
        let sink = match (self.events_fd, self.machine_readable) {
            (Some(fd), _) => log::EventSink::Fd(fd),
            (None, true) => log::EventSink::Stdout,
            (None, false) => log::EventSink::None,
        };
        log::init(program, step.name(), self.stderr_level(), None, sink);
    }

    /// The flags as arguments, to pass on to another helper, in the form
    /// docs/contract.md gives (`--events-fd FD`, `--owner-pid PID`: an
    /// option and its value as two arguments, which a helper written in sh
    /// parses most simply).
    pub fn to_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.verbose {
            v.push("-v".into());
        }
        if self.trace {
            v.push("-x".into());
        }
        if self.quiet {
            v.push("-q".into());
        }
        if self.machine_readable {
            v.push("--machine-readable".into());
        }
        if let Some(fd) = self.events_fd {
            v.extend(["--events-fd".into(), fd.to_string()]);
        }
        if let Some(p) = self.owner_pid {
            v.extend(["--owner-pid".into(), p.to_string()]);
        }
        v
    }
}

/// How [`run`] treats the temp directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirMode {
    /// Create it if missing (the input step).
    Create,
    /// It must exist already (every later step).
    Existing,
}

/// What a step's body gets.
pub struct Ctx {
    pub dir: V2vDir,
    pub step: Step,
    pub common: CommonArgs,
}

impl Ctx {
    /// The owner PID for servers started by this step.
    pub fn owner(&self) -> u32 {
        self.common.owner()
    }
    /// Whether to draw a progress bar (stderr is a terminal, not `-q`).
    pub fn progress_bar(&self) -> bool {
        use std::io::IsTerminal;
        !self.common.quiet && std::io::stderr().is_terminal()
    }
}

/// Run one helper step: set up the directory and log, call `body`, then
/// write `status/<step>.done` or `status/<step>.error.json`, print the last
/// error line, and return the exit code.
pub fn run(
    program: &str,
    step: Step,
    dir: &Path,
    mode: DirMode,
    common: &CommonArgs,
    body: impl FnOnce(&Ctx) -> Result<()>,
) -> ExitCode {
    common.init_log(program, step);
    die_with_owner(common);
    let start = Instant::now();

    let vdir = match open_dir(dir, mode) {
        Ok(d) => d,
        Err(f) => return report(None, step, f),
    };
    if let Ok(f) = open_log(&vdir.step_log(step)) {
        log::set_log_file(f);
    }
    let _ = fs::remove_file(vdir.error_file(step));
    let _ = fs::remove_file(vdir.done_file(step));
    debug!(
        "{program} {} (contract version {CONTRACT_VERSION})",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    log::event(EventKind::StepStarted);
    let ctx = Ctx {
        dir: vdir.clone(),
        step,
        common: common.clone(),
    };
    match body(&ctx) {
        Ok(()) => {
            let seconds = start.elapsed().as_secs_f64();
            let done = StepDone {
                version: CONTRACT_VERSION,
                step,
                seconds,
            };
            if let Err(e) = v2v_meta::write_json(&vdir.done_file(step), &done) {
                return report(Some(&vdir), step, e.into());
            }
            log::event(EventKind::StepFinished { seconds });
            debug!("{} done in {seconds:.1}s", step.name());
            ExitCode::SUCCESS
        }
        Err(f) => report(Some(&vdir), step, f),
    }
}

/// A helper's option check (`--check`): run `check` with no side effect
/// (no directory, no log file, no events) and return 0, or the failure's
/// exit code after the last stderr line `PROGRAM: error: MESSAGE`, as the
/// step would print it.
pub fn check_only(program: &str, step: Step, check: impl FnOnce() -> Result<()>) -> ExitCode {
    log::init(
        program,
        step.name(),
        log::Level::Warning,
        None,
        log::EventSink::None,
    );
    match check() {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(None, step, f),
    }
}

fn open_dir(dir: &Path, mode: DirMode) -> Result<V2vDir> {
    // Servers need absolute socket paths (qemu-nbd refuses relative ones).
    let dir = &absolute(dir);
    match mode {
        DirMode::Create => V2vDir::create(dir)
            .map_err(|e| Failure::contract(format!("{}: cannot create: {e}", dir.display()))),
        DirMode::Existing => {
            if !dir.is_dir() {
                return Err(Failure::contract(format!(
                    "{}: not a directory (create it with helper-v2v-input-<type> first)",
                    dir.display()
                )));
            }
            V2vDir::create(dir).map_err(|e| Failure::contract(format!("{}: {e}", dir.display())))
        }
    }
}

fn open_log(path: &Path) -> std::io::Result<File> {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Print the failure (numbered causes, a hint), write `status/<step>.error.json`
/// and emit an `error` event.  Returns the exit code.
fn report(dir: Option<&V2vDir>, step: Step, f: Failure) -> ExitCode {
    let log_path = dir.map(|d| d.step_log(step));
    for (i, c) in f.causes.iter().enumerate() {
        log::log(log::Level::Debug, &format!("cause {}: {c}", i + 1));
    }
    log::event(EventKind::Error {
        message: f.message.clone(),
        exit_code: f.code,
        disk: f.disk,
    });
    if let Some(d) = dir {
        let e = StepError {
            version: CONTRACT_VERSION,
            step,
            kind: FailureKind::of_exit_code(f.code),
            exit_code: f.code,
            disk: f.disk,
            message: f.message.clone(),
            causes: f.causes.clone(),
            log: log_path.as_ref().map(|p| p.display().to_string()),
        };
        let _ = v2v_meta::write_json(&d.error_file(step), &e);
    }
    let prog = log::program();
    for (i, c) in f.causes.iter().enumerate() {
        eprintln!("  {}: {c}", i + 1);
    }
    if let Some(p) = &log_path {
        eprintln!("{prog}: rerun with -v -x for more; log: {}", p.display());
    }
    // Written last: the final line of stderr is always the error.
    let disk = f.disk.map(|n| format!("disk {n}: ")).unwrap_or_default();
    log::log(log::Level::Error, &format!("{disk}{}", f.message));
    ExitCode::from(f.code)
}

/// When the owner of the run is our parent, die with it (so a SIGKILLed
/// supervisor does not leave a copy running against its servers).
fn die_with_owner(common: &CommonArgs) {
    use nix::sys::signal::Signal;
    let owner = common.owner();
    if owner == std::os::unix::process::parent_id() && owner > 1 {
        if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM) {
            debug!("prctl(PR_SET_PDEATHSIG): {e}");
        }
        // The parent may have died before prctl took effect.
        if std::os::unix::process::parent_id() != owner {
            std::process::exit(128 + Signal::SIGTERM as i32);
        }
    }
}

/// Run `prog ARGS` with its output captured; a failure (exit 4) quotes
/// the end of its stderr and has the command line as its cause.
pub fn run_cmd<S: AsRef<OsStr>>(prog: &str, args: &[S]) -> Result<Output> {
    run_cmd_until(prog, args, None)
}

/// [`run_cmd`], but the program is killed (exit 4, "did not finish within
/// N s") when it runs longer than `limit`: for programs that read what a
/// user handed us (a hostile image must not hang a step).
pub fn run_cmd_within<S: AsRef<OsStr>>(prog: &str, args: &[S], limit: Duration) -> Result<Output> {
    run_cmd_until(prog, args, Some(limit))
}

fn run_cmd_until<S: AsRef<OsStr>>(
    prog: &str,
    args: &[S],
    limit: Option<Duration>,
) -> Result<Output> {
    use std::io::Read;
    use std::process::Stdio;
    let argv: Vec<String> = std::iter::once(prog.to_string())
        .chain(
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned()),
        )
        .collect();
    trace!("run: {}", shell_quote(&argv));
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::external(format!("{prog}: cannot run: {e} (is it installed?)")))?;
    // Both pipes are drained while we wait, so a chatty program never blocks.
    fn drain(r: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = limit.map(|l| Instant::now() + l);
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::external(format!(
                "{prog} did not finish within {} s (killed)",
                limit.unwrap_or_default().as_secs_f64().ceil()
            ))
            .cause(shell_quote(&argv)));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let text = String::from_utf8_lossy(&stderr);
    if !text.trim().is_empty() {
        debug!("{prog} stderr: {}", text.trim_end());
    }
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(3).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(
            Failure::external(format!("{prog} failed ({status}): {}", tail.join(" / ")))
                .cause(shell_quote(&argv)),
        );
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Quote one word for `/bin/sh` (left bare when it needs no quoting).
pub fn sh_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Quote an argv for logs, so it can be pasted into a shell.
pub fn shell_quote<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| sh_quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// virt-v2v's two-letter options, accepted with one dash as virt-v2v does.
pub const TWO_LETTER_OPTIONS: [&str; 11] = [
    "ic", "if", "io", "ip", "it", "oa", "oc", "of", "on", "oo", "os",
];

/// Rewrite virt-v2v style `-os X` / `-os=X` to `--os X` / `--os=X` so clap
/// (which has one-letter shorts only) parses them as long options.
pub fn virt_v2v_args<I: IntoIterator<Item = std::ffi::OsString>>(
    args: I,
) -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    let mut after_dashdash = false;
    for a in args {
        if after_dashdash {
            out.push(a);
            continue;
        }
        if a == "--" {
            after_dashdash = true;
            out.push(a);
            continue;
        }
        let rewritten = a.to_str().and_then(|s| {
            let body = s.strip_prefix('-')?;
            if body.starts_with('-') {
                return None;
            }
            let name = body.split('=').next()?;
            TWO_LETTER_OPTIONS
                .contains(&name)
                .then(|| std::ffi::OsString::from(format!("-{s}")))
        });
        out.push(rewritten.unwrap_or(a));
    }
    out
}

/// Absolute form of a user-given path (for metadata and messages).
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Parse a helper's command line (virt-v2v's `-os` spelling too, see
/// [`virt_v2v_args`]).  On a usage error, print clap's message and then the
/// contract's last line `PROGRAM: error: MESSAGE`, and return exit code 2
/// (`--help` and `--version` print and return 0).
pub fn parse_args<P: clap::Parser>(
    program: &str,
    argv: impl IntoIterator<Item = std::ffi::OsString>,
) -> std::result::Result<P, ExitCode> {
    parse_command(program, P::command(), argv)
}

/// [`parse_args`] with a command built at run time (for instance one
/// renamed for the program, as [`output::command`] does).
pub fn parse_command<P: clap::FromArgMatches>(
    program: &str,
    mut command: clap::Command,
    argv: impl IntoIterator<Item = std::ffi::OsString>,
) -> std::result::Result<P, ExitCode> {
    command
        .try_get_matches_from_mut(virt_v2v_args(argv))
        .and_then(|m| P::from_arg_matches(&m))
        .map_err(|e| {
            let e = e.format(&mut command);
            let text = e.render().to_string();
            if !e.use_stderr() {
                print!("{text}");
                return ExitCode::SUCCESS;
            }
            eprint!("{text}");
            eprintln!("{program}: error: {}", usage_summary(&text));
            ExitCode::from(exit_code::USAGE)
        })
}

/// The first paragraph of a clap error, on one line, without `error: `
/// (e.g. "the following required arguments were not provided: <DIR>").
fn usage_summary(text: &str) -> String {
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    para.join(" ").trim_start_matches("error: ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_letter_options() {
        let v: Vec<std::ffi::OsString> =
            ["prog", "-os", "/x", "-of=qcow2", "-o", "local", "--", "-os"]
                .iter()
                .map(Into::into)
                .collect();
        let got = virt_v2v_args(v);
        let got: Vec<&str> = got.iter().map(|s| s.to_str().unwrap()).collect();
        assert_eq!(
            got,
            [
                "prog",
                "--os",
                "/x",
                "--of=qcow2",
                "-o",
                "local",
                "--",
                "-os"
            ]
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote(&["nbdkit", "file=/a b"]), "nbdkit 'file=/a b'");
        assert_eq!(shell_quote(&["it's"]), "'it'\\''s'");
        assert_eq!(shell_quote(&[""]), "''");
    }

    #[test]
    fn common_args_round_trip() {
        let c = CommonArgs {
            verbose: true,
            trace: true,
            owner_pid: Some(42),
            ..Default::default()
        };
        assert_eq!(c.to_args(), vec!["-v", "-x", "--owner-pid", "42"]);
        assert_eq!(c.owner(), 42);
    }

    #[test]
    fn run_cmd_reports_external_failure() {
        let f = run_cmd("sh", &["-c", "echo oops >&2; exit 3"]).unwrap_err();
        assert_eq!(f.code, exit_code::EXTERNAL);
        assert!(f.message.contains("oops"), "{}", f.message);
        let f = run_cmd("/nonexistent/prog", &["x"]).unwrap_err();
        assert_eq!(f.code, exit_code::EXTERNAL);
        assert!(run_cmd("true", &[] as &[&str]).is_ok());
    }

    #[test]
    fn usage_summaries() {
        let text = "error: the following required arguments were not provided:\n  <DISK>...\n\nUsage: x <DIR> <DISK>...\n";
        assert_eq!(
            usage_summary(text),
            "the following required arguments were not provided: <DISK>..."
        );
        assert_eq!(
            usage_summary("error: unexpected argument '--bogus' found\n\n  tip: ...\n"),
            "unexpected argument '--bogus' found"
        );
    }

    #[test]
    fn bounded_runs_are_killed() {
        let t = std::time::Instant::now();
        let e = run_cmd_within("sleep", &["10"], Duration::from_millis(200)).unwrap_err();
        assert_eq!(e.code, 4);
        assert!(e.message.contains("did not finish within"), "{}", e.message);
        assert!(t.elapsed() < Duration::from_secs(5));
        let e = run_cmd_within(
            "sh",
            &["-c", "echo oops >&2; exit 3"],
            Duration::from_secs(30),
        )
        .unwrap_err();
        assert!(e.message.contains("oops"), "{}", e.message);
        let out = run_cmd_within("echo", &["hi"], Duration::from_secs(30)).unwrap();
        assert_eq!(out.stdout, b"hi\n");
    }

    #[test]
    fn run_writes_status_files() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        let c = CommonArgs::default();
        let code = run(
            "helper-v2v-test",
            Step::Input,
            &d,
            DirMode::Create,
            &c,
            |_| Ok(()),
        );
        assert_eq!(code, ExitCode::SUCCESS);
        let v = V2vDir::new(&d);
        let done: StepDone = v2v_meta::read_json(&v.done_file(Step::Input)).unwrap();
        assert_eq!(done.step, Step::Input);
        let code = run(
            "helper-v2v-test",
            Step::Copy,
            &d,
            DirMode::Existing,
            &c,
            |_| Err(Failure::external("nbdkit died").disk(2)),
        );
        assert_eq!(code, ExitCode::from(4));
        let e: StepError = v2v_meta::read_json(&v.error_file(Step::Copy)).unwrap();
        assert_eq!(
            (e.exit_code, e.disk, e.kind),
            (4, Some(2), FailureKind::External)
        );
        let code = run(
            "helper-v2v-test",
            Step::Copy,
            &t.path().join("missing"),
            DirMode::Existing,
            &c,
            |_| Ok(()),
        );
        assert_eq!(code, ExitCode::from(3));
    }
}
