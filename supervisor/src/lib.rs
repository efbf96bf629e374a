//! virt-v2v: virt-v2v's command line on top of the v2v helper programs.
//!
//! It makes a temporary directory, checks both ends' options
//! (`helper-v2v-input-TYPE --check`, `helper-v2v-output-TYPE check`), runs
//! `helper-v2v-input-TYPE`,
//! `helper-v2v-convert` (unless `--no-convert`), `helper-v2v-output-TYPE
//! setup`, `helper-v2v-copy`, `helper-v2v-output-TYPE final` in order, and
//! always `helper-v2v-cleanup`, whatever happened (success, a failed step,
//! SIGINT, SIGTERM).  A failed step is reported as the step, the disk and
//! the message from `status/<step>.error.json`, and the run exits with that
//! step's exit code.  See docs/virt-v2v.md.

pub mod args;
pub mod companion;
pub mod customize;
pub mod events;
pub mod find;
pub mod in_place;
pub mod inspector;
pub mod keys;
pub mod resume;
pub mod signals;
pub mod source;

use args::Args;
use helper_common::log::{self, Level};
use helper_common::{debug, message, shell_quote, trace, warning};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use v2v_meta::{exit_code, EventKind, MetadataIn, Step, StepError, V2vDir};

/// Entry point of the `virt-v2v` binary.
pub fn main() -> ExitCode {
    let raw: Vec<OsString> = std::env::args_os().collect();
    if raw.len() == 2 && raw[1] == "--machine-readable" {
        use clap::CommandFactory;
        let options: Vec<String> = Args::command()
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        for c in find::capabilities(&find::search_dirs(), &options) {
            println!("{c}");
        }
        return ExitCode::SUCCESS;
    }
    let args = Args::from_env();
    let level = args.common().stderr_level();
    let events_fd = match args.events.open() {
        Ok(fd) => fd,
        Err(msg) => {
            log::init("virt-v2v", "virt-v2v", level, None, log::EventSink::None);
            log::log(Level::Error, &msg);
            return ExitCode::from(exit_code::USAGE);
        }
    };
    let sink = match events_fd {
        None => log::EventSink::None,
        Some(1) => log::EventSink::Stdout,
        Some(fd) => log::EventSink::Fd(fd),
    };
    // --machine-readable in a run: messages on stdout, as virt-v2v's
    // documents say (with --print-source stdout carries the document only).
    log::set_messages_to_stdout(args.machine_readable && !args.print_source);
    log::init("virt-v2v", "virt-v2v", level, None, sink);
    // virt-v2v's --colours and --wrap, on by themselves on a terminal.
    let tty = std::io::stderr().is_terminal();
    log::set_style(log::Style {
        colours: args.upstream.colours || tty,
        wrap: args.upstream.wrap || tty,
    });
    for w in args.upstream.warnings() {
        warning!("{w}");
    }
    ExitCode::from(run(&args, events_fd))
}

/// The helper programs a run needs, found before anything starts.
#[derive(Debug)]
pub struct Plan {
    pub input: PathBuf,
    pub convert: Option<PathBuf>,
    /// `None` with `--print-source`.
    pub output: Option<PathBuf>,
    pub copy: Option<PathBuf>,
    pub cleanup: PathBuf,
    /// helper-v2v-resume, with `--resume`.
    pub resume: Option<PathBuf>,
    /// `-n`, `-b` and `--mac`, parsed.
    pub network: v2v_render::NetworkMap,
}

fn valid_type(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn need(what: &str, hint: &str) -> Result<PathBuf, String> {
    find::helper(what).ok_or_else(|| {
        format!("helper-v2v-{what} is not installed (not next to virt-v2v nor on PATH){hint}")
    })
}

/// Check the command line and find every helper; a usage error (exit 2)
/// otherwise.
pub fn plan(args: &Args) -> Result<Plan, String> {
    if !valid_type(&args.inp.input) {
        return Err(format!("-i {}: not a valid input type", args.inp.input));
    }
    let input = find::helper(&format!("input-{}", args.inp.input)).ok_or_else(|| {
        format!(
            "unknown input type ‘-i {t}’: there is no program helper-v2v-input-{t} next to \
             virt-v2v or on PATH (see virt-v2v --machine-readable for the types installed)",
            t = args.inp.input
        )
    })?;
    if args.args.is_empty() {
        return Err(format!(
            "-i {}: nothing to convert: give the source after the options (for -i disk: the disk images)",
            args.inp.input
        ));
    }
    let cleanup = need("cleanup", "")?;
    let network = v2v_render::network_map(&args.net.network, &args.net.bridge, &args.net.mac)
        .map_err(|e| e.to_string())?;
    if args.print_source {
        if args.resume.is_some() {
            return Err("--print-source and --resume cannot be used together".into());
        }
        return Ok(Plan {
            input,
            convert: None,
            output: None,
            copy: None,
            cleanup,
            resume: None,
            network,
        });
    }
    if !valid_type(&args.output) {
        return Err(format!("-o {}: not a valid output type", args.output));
    }
    let output = find::helper(&format!("output-{}", args.output)).ok_or_else(|| {
        format!(
            "unknown output type ‘-o {t}’: there is no program helper-v2v-output-{t} next to \
             virt-v2v or on PATH (see virt-v2v --machine-readable for the types installed)",
            t = args.output
        )
    })?;
    let convert = if args.no_convert {
        customize::check_no_convert(&args.customize, &args.net.mac)?;
        None
    } else {
        let convert = need(
            "convert",
            "; install it, or use --no-convert to copy the disks unchanged",
        )?;
        // As helper-v2v-convert would check them, before anything starts.
        customize::check(&args.customize, &args.net.mac)?;
        Some(convert)
    };
    let copy = need("copy", "")?;
    let resume = match args.resume {
        Some(_) => Some(need("resume", "")?),
        None => None,
    };
    Ok(Plan {
        input,
        convert,
        output: Some(output),
        copy: Some(copy),
        cleanup,
        resume,
        network,
    })
}

/// The final error line of a failed step and the disk it names.
#[derive(Debug, PartialEq, Eq)]
struct StepFailure {
    line: String,
    disk: Option<u32>,
}

/// Why a run stopped early.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// A helper failed with this exit code (the "step failed; see LOG"
    /// line is printed at once; this error line last, after cleanup).
    Step(Step, u8, StepFailure),
    /// An end's check failed with this exit code and error message;
    /// nothing was started.
    Check(u8, String),
    /// The supervisor itself failed.
    Fatal(String),
    /// SIGINT / SIGTERM / SIGHUP.
    Signal(Signal),
}

fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The parent directory for the run's temp dir: `$VIRT_V2V_TMPDIR`, else `/var/tmp`.
fn tmp_parent() -> PathBuf {
    std::env::var_os("VIRT_V2V_TMPDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp"))
}

fn make_tmpdir() -> Result<V2vDir, String> {
    let parent = tmp_parent();
    let t = tempfile::Builder::new()
        .prefix("v2v.")
        .tempdir_in(&parent)
        .map_err(|e| {
            format!(
                "cannot make a temporary directory in {} (set VIRT_V2V_TMPDIR to a writable directory): {e}",
                parent.display()
            )
        })?;
    let root = t.keep();
    V2vDir::create(&root).map_err(|e| format!("{}: {e}", root.display()))
}

fn status_code(st: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => u8::try_from(c).unwrap_or(exit_code::FAILED),
        (None, Some(s)) => u8::try_from(128 + s).unwrap_or(exit_code::FAILED),
        _ => exit_code::FAILED,
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// One run: the temp directory and what every helper gets.
struct Runner {
    dir: V2vDir,
    /// `-v -x -q` as given, and `--events-fd N` with `--events`.
    common: Vec<String>,
    /// `-v` or `-x`: show all a failed check printed.
    verbose: bool,
    run_start: f64,
    /// `--key`, `--keys-from-stdin`: helper-v2v-convert's stdin.
    convert_stdin: Option<helper_common::keys::Secret>,
    /// Keep the directory for `--resume` when the run does not finish
    /// (`--keep-tmpdir`, or a resumed run): cleanup keeps the conversion.
    keep: bool,
    /// `--resume` after a kept conversion: serve it, do not convert.
    converted: bool,
    /// `--step-gate CMD`.
    step_gate: Option<String>,
}

impl Runner {
    /// `PROG [PHASE] COMMON --owner-pid PID ARGS...`: an output's phase
    /// word (`check`, `setup`, `final`) or the input's `--check` comes
    /// first, as the contract writes it.  A check gets the step's command
    /// line, `--owner-pid` included: it starts nothing, so it is unused.
    fn command(&self, prog: &Path, phase: Option<&str>, args: &[OsString]) -> Command {
        let mut cmd = Command::new(prog);
        cmd.args(phase)
            .args(&self.common)
            .arg("--owner-pid")
            .arg(std::process::id().to_string())
            .args(args)
            .env("V2V_RUN_START", format!("{:.6}", self.run_start));
        let argv: Vec<String> = std::iter::once(prog.as_os_str())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        trace!("run: {}", shell_quote(&argv));
        cmd
    }

    /// Check both ends' options before any step starts (only the input's
    /// with `--print-source`).  See docs/contract.md, "Checking options
    /// first".
    fn check_ends(&self, args: &Args, plan: &Plan) -> Result<(), Stop> {
        let dir: OsString = self.dir.root().as_os_str().to_owned();
        self.check(Step::Input, &plan.input, "--check", input_args(args, &dir))?;
        if let Some(output) = &plan.output {
            self.check(Step::OutputSetup, output, "check", output_args(args, &dir))?;
        }
        Ok(())
    }

    /// Run the check of `step`'s options with its stderr captured: on
    /// success its stderr is shown as it is; on failure see
    /// [`check_failure`]: the run's error is `STEP: MESSAGE`.
    fn check(&self, step: Step, prog: &Path, phase: &str, args: Vec<OsString>) -> Result<(), Stop> {
        if let Some(sig) = signals::pending() {
            return Err(Stop::Signal(sig));
        }
        debug!("check: {} {phase}", file_name(prog));
        let mut child = self
            .command(prog, Some(phase), &args)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Stop::Fatal(format!("{}: cannot run: {e}", prog.display())))?;
        let mut pipe = child.stderr.take().expect("piped stderr");
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        });
        let status = wait_forwarding(&mut child)
            .map_err(|e| Stop::Fatal(format!("waiting for {}: {e}", prog.display())));
        let stderr = reader.join().unwrap_or_default();
        let code = status_code(status?);
        if let Some(sig) = signals::pending() {
            eprint!("{stderr}");
            return Err(Stop::Signal(sig));
        }
        if code == 0 {
            eprint!("{stderr}");
            return Ok(());
        }
        let (shown, message) = check_failure(&stderr, &file_name(prog), phase, code, self.verbose);
        eprint!("{shown}");
        Err(Stop::Check(code, failure_line(step, None, &message)))
    }

    /// Run one step, forwarding SIGINT/SIGTERM to it.
    fn step(
        &self,
        step: Step,
        prog: &Path,
        phase: Option<&str>,
        args: Vec<OsString>,
    ) -> Result<(), Stop> {
        let mut child = self.spawn_step(step, prog, phase, args)?;
        let status = wait_forwarding(&mut child)
            .map_err(|e| Stop::Fatal(format!("waiting for {}: {e}", prog.display())))?;
        self.step_result(step, prog, status)
    }

    /// Start one step (after the step gate), its keys on its stdin.
    fn spawn_step(
        &self,
        step: Step,
        prog: &Path,
        phase: Option<&str>,
        args: Vec<OsString>,
    ) -> Result<Child, Stop> {
        if let Some(sig) = signals::pending() {
            return Err(Stop::Signal(sig));
        }
        self.gate(step)?;
        debug!("step {step}: {}", file_name(prog));
        log::event(EventKind::Message {
            message: format!("step {step}: running {}", file_name(prog)),
        });
        let mut cmd = self.command(prog, phase, &args);
        let keys = self
            .convert_stdin
            .as_ref()
            .filter(|_| step == Step::Convert);
        if keys.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Stop::Fatal(format!("{}: cannot run: {e}", prog.display())))?;
        if let (Some(k), Some(mut pipe)) = (keys, child.stdin.take()) {
            use std::io::Write;
            // A few lines: within the pipe's buffer.  A helper that exits
            // first is reported by its status.
            let _ = pipe.write_all(k.expose().as_bytes());
        }
        Ok(child)
    }

    /// What a finished step's exit status means for the run.
    fn step_result(&self, step: Step, prog: &Path, status: ExitStatus) -> Result<(), Stop> {
        if let Some(sig) = signals::pending() {
            return Err(Stop::Signal(sig));
        }
        let code = status_code(status);
        if code == 0 {
            return Ok(());
        }
        let failure = self.report(step, prog, code);
        Err(Stop::Step(step, code, failure))
    }

    /// The overlapped copy: `helper-v2v-convert` and pass 1 of
    /// `helper-v2v-copy` (the source as the overlay serves it, unmodified
    /// blocks and whatever the conversion has written so far) at once;
    /// when both finished, pass 2 (`--delta`) copies what the conversion
    /// wrote, zeroed or trimmed in the overlay.  When either fails the
    /// other is stopped (SIGTERM, SIGKILL 15 s later) and the failure is
    /// the run's (the conversion's first: a copy stopped because of it
    /// failed too).  See "Overlapped copy" in docs/architecture.md.
    fn overlapped(
        &self,
        convert: &Path,
        convert_args: Vec<OsString>,
        copy: &Path,
        copy_args: Vec<OsString>,
    ) -> Result<(), Stop> {
        let mut conv = self.spawn_step(Step::Convert, convert, None, convert_args)?;
        log::event(EventKind::Message {
            message: "step copy: pass 1 of 2, overlapped with convert".into(),
        });
        let mut pass1 = match self.spawn_step(Step::Copy, copy, None, copy_args.clone()) {
            Ok(c) => c,
            Err(e) => {
                let _ = wait_pair(&mut conv, None, true);
                return Err(e);
            }
        };
        let (cs, ps) = wait_pair(&mut conv, Some(&mut pass1), false)
            .map_err(|e| Stop::Fatal(format!("waiting for convert and copy: {e}")))?;
        self.step_result(Step::Convert, convert, cs)?;
        self.step_result(Step::Copy, copy, ps.expect("pass 1 waited for"))?;
        log::event(EventKind::Message {
            message: "step copy: pass 2 of 2, what the conversion changed".into(),
        });
        // Pass 1 drew virt-v2v's progress lines (each disk to 100%, what
        // orchestrators parse); pass 2 draws none, as the script.
        let mut a = vec![OsString::from("--delta")];
        let mut it = copy_args.into_iter();
        while let Some(x) = it.next() {
            if x == "--progress-lines" {
                it.next();
            } else {
                a.push(x);
            }
        }
        self.step(Step::Copy, copy, None, a)
    }
    /// `--step-gate CMD`: run `CMD STEP DIR` with sh (its stdout goes to
    /// stderr: stdout is virt-v2v's) and wait for it; a signal is
    /// forwarded to it.  Any exit status but 0 stops the run before the step.
    fn gate(&self, step: Step) -> Result<(), Stop> {
        let Some(gate) = &self.step_gate else {
            return Ok(());
        };
        log::event(EventKind::Message {
            message: format!("step {step}: waiting for the step gate"),
        });
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("{gate} \"$@\""))
            .arg("step-gate")
            .arg(step.name())
            .arg(self.dir.root())
            .stdout(std::io::stderr());
        trace!("run: sh -c {} step-gate {step} DIR", shell_quote(&[gate]));
        let waited = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| Stop::Fatal(format!("{step}: cannot run the step gate: {e}")))?;
        let status = wait_forwarding(&mut child)
            .map_err(|e| Stop::Fatal(format!("{step}: waiting for the step gate: {e}")))?;
        if let Some(sig) = signals::pending() {
            return Err(Stop::Signal(sig));
        }
        match status_code(status) {
            0 => {
                debug!(
                    "step {step}: the step gate opened after {:.1} s",
                    waited.elapsed().as_secs_f64()
                );
                Ok(())
            }
            code => Err(Stop::Fatal(format!(
                "{step}: the step gate did not open (--step-gate {gate} exited with status {code})"
            ))),
        }
    }

    /// The failure report, identical in scripts/virt-v2v.sh:
    /// `virt-v2v: step S failed (exit N); see DIR/log/NN-S.log` now, and
    /// the returned `virt-v2v: error: S: [disk N: ]MESSAGE`, which [`run`]
    /// prints last, after cleanup's messages.
    fn report(&self, step: Step, prog: &Path, code: u8) -> StepFailure {
        let (msg, disk) = match v2v_meta::read_json::<StepError>(&self.dir.error_file(step)) {
            Ok(e) => (e.message, e.disk),
            Err(e) => {
                debug!("{e}");
                (
                    format!(
                        "{} exited with status {code} without writing a valid status/{step}.error.json",
                        file_name(prog)
                    ),
                    None,
                )
            }
        };
        let line = failure_line(step, disk, &msg);
        eprintln!(
            "virt-v2v: step {step} failed (exit {code}); see {}",
            self.dir.step_log(step).display()
        );
        StepFailure { line, disk }
    }

    /// Run helper-v2v-cleanup (never interrupted by signals), then stop
    /// whatever a pidfile still names.
    fn cleanup(&self, prog: &Path) {
        let mut a: Vec<OsString> = Vec::new();
        if self.keep {
            a.push("--keep-conversion".into());
        }
        a.push(self.dir.root().as_os_str().to_owned());
        match self.command(prog, None, &a).status() {
            Ok(st) if st.success() => {}
            Ok(st) => warning!(
                "step cleanup failed (exit {}); see {}",
                status_code(st),
                self.dir.step_log(Step::Cleanup).display()
            ),
            Err(e) => warning!("{}: cannot run: {e}", prog.display()),
        }
        stop_leftovers(&self.dir);
    }

    /// Whether every source disk offers `qemu:allocation-depth` (qemu-nbd
    /// on an overlay): the map pass 2 of an overlapped copy needs.  Other
    /// servers (nbdkit's cow filter over ssh, vddk, a network disk) do not,
    /// and the run copies after converting.
    fn overlap_served(&self) -> bool {
        let meta: MetadataIn = match v2v_meta::read_json(&self.dir.metadata_in()) {
            Ok(m) => m,
            Err(e) => {
                debug!("no overlapped copy: {e}");
                return false;
            }
        };
        for (i, d) in meta.source.disks.iter().enumerate() {
            let offered = self.dir.source_socket(i, d).ok().and_then(|p| {
                let h = v2v_nbd::Handle::new().ok()?;
                h.add_meta_context(v2v_nbd::CONTEXT_ALLOCATION_DEPTH).ok()?;
                h.connect_unix(&p).ok()?;
                let r = h.can_meta_context(v2v_nbd::CONTEXT_ALLOCATION_DEPTH).ok();
                let _ = h.shutdown();
                r
            });
            if offered != Some(true) {
                message!(
                    "Disk {}: its server offers no allocation map: copying after the conversion",
                    d.index
                );
                return false;
            }
        }
        true
    }

    fn pipeline(&self, args: &Args, plan: &Plan) -> Result<(), Stop> {
        let dir: OsString = self.dir.root().as_os_str().to_owned();
        let overlap = overlap_allowed(args) && plan.convert.is_some() && !self.converted;
        debug!(
            "overlapped copy: {}",
            if overlap { "planned" } else { "no" }
        );

        if self.converted {
            // --resume after a kept conversion: serve it as the input.
            let resume = plan.resume.as_deref().expect("resume planned");
            self.step(Step::Input, resume, None, vec![dir.clone()])?;
        } else {
            let mut a = input_args(args, &dir);
            if overlap && MAP_INPUTS.contains(&args.inp.input.as_str()) {
                a.insert(0, "--allocation-depth".into());
            }
            self.step(Step::Input, &plan.input, None, a)?;
        }

        if args.print_source {
            let m: MetadataIn = v2v_meta::read_json(&self.dir.metadata_in())
                .map_err(|e| Stop::Fatal(e.to_string()))?;
            if args.machine_readable {
                let text =
                    serde_json::to_string_pretty(&m).map_err(|e| Stop::Fatal(e.to_string()))?;
                println!("{text}");
            } else {
                print!("{}", source::human(&m.source));
            }
            return Ok(());
        }

        let output = plan.output.as_deref().expect("output helper planned");
        // The output's check once more, now that metadata.in is there: an
        // output can refuse the source (-o vdsm: one UUID pair per disk)
        // or a target of the guest's name (from metadata.in when -on is not
        // given; -o libvirt: an existing domain or volume) before the
        // conversion.  A metadata.in we cannot read is left to the next
        // step to report.
        match v2v_meta::read_json::<MetadataIn>(&self.dir.metadata_in()) {
            Ok(m) => {
                let mut a = output_args(args, &dir);
                if args.output_name.is_none() {
                    a.extend(["-on".into(), m.source.name.into()]);
                }
                self.check(Step::OutputSetup, output, "check", a)?;
            }
            Err(e) => debug!("no second output check: {e}"),
        }

        let convert = plan.convert.as_ref().filter(|_| !self.converted);
        let overlap = convert.is_some() && overlap && self.overlap_served();
        let mut convert_args: Vec<OsString> = Vec::new();
        if let Some(convert) = convert {
            let a = &mut convert_args;
            if let Some(r) = &args.guest.root {
                a.extend(["--root".into(), r.into()]);
            }
            if self.convert_stdin.is_some() {
                a.push("--key-selectors-from-stdin".into());
            }
            if let Some(b) = &args.block_driver {
                a.extend(["--block-driver".into(), b.into()]);
            }
            a.extend(args.upstream.convert_options());
            a.extend(args.customize.convert_args(&args.net.mac));
            a.push(dir.clone());
            if !overlap {
                self.step(Step::Convert, convert, None, convert_args.clone())?;
            }
        }

        self.step(
            Step::OutputSetup,
            output,
            Some("setup"),
            output_args(args, &dir),
        )?;

        let mut a: Vec<OsString> = Vec::new();
        if let Some(n) = args.parallel {
            a.extend(["--parallel".into(), n.to_string().into()]);
        }
        if let Some(b) = args.bandwidth {
            a.extend(["--bandwidth".into(), b.to_string().into()]);
        }
        if let Some(f) = &args.bandwidth_file {
            // Absolute: the helpers need not run where virt-v2v was started.
            a.extend(["--bandwidth-file".into(), helper_common::absolute(f).into()]);
        }
        // virt-v2v's progress text (not with -q, as upstream).
        match (args.quiet, args.machine_readable) {
            (true, _) => {}
            (false, true) => a.extend(["--progress-lines".into(), "machine".into()]),
            (false, false) => a.extend(["--progress-lines".into(), "bar".into()]),
        }
        a.push(dir.clone());
        let copy = plan.copy.as_deref().expect("copy planned");
        match convert {
            Some(convert) if overlap => self.overlapped(convert, convert_args, copy, a)?,
            _ => self.step(Step::Copy, copy, None, a)?,
        }

        // description.json: the converted guest as the output renders it.
        let warnings = v2v_render::write_description(&self.dir, &plan.network)
            .map_err(|e| Stop::Fatal(format!("writing description.json: {e}")))?;
        for w in warnings {
            warning!("{w}");
        }
        self.step(Step::OutputFinal, output, Some("final"), vec![dir])?;
        Ok(())
    }
}

/// Outputs whose targets may be written before the conversion is known to
/// succeed (a failed run's targets are removed by helper-v2v-cleanup).
const OVERLAP_OUTPUTS: [&str; 5] = ["local", "qemu", "kubevirt", "libvirt", "null"];

/// Input types whose helper takes `--allocation-depth` (v2v-input-kit's
/// `InputArgs`); any other input's disks are probed as they are served.
const MAP_INPUTS: [&str; 5] = ["disk", "libvirtxml", "libvirt", "ova", "vmx"];

/// Whether the command line allows the overlapped copy: not
/// `--no-overlap`, `--no-convert`, `--print-source` or `--resume`, an
/// output of [`OVERLAP_OUTPUTS`], and no `-oo compressed` (a compressed
/// qcow2 cluster cannot be written twice).
fn overlap_allowed(args: &Args) -> bool {
    !args.no_overlap
        && !args.no_convert
        && !args.print_source
        && args.resume.is_none()
        && OVERLAP_OUTPUTS.contains(&args.output.as_str())
        && !args
            .output_options
            .iter()
            .any(|o| o == "compressed" || o.starts_with("compressed="))
}

/// `[INPUT OPTIONS] DIR ARGS...`: the input step's and its check's arguments.
fn input_args(args: &Args, dir: &OsStr) -> Vec<OsString> {
    let mut a = args.input_options();
    a.push(dir.to_owned());
    a.extend(args.args.iter().cloned());
    a
}

/// `DIR [OUTPUT OPTIONS]`: the output setup's and its check's arguments.
fn output_args(args: &Args, dir: &OsStr) -> Vec<OsString> {
    let mut a = vec![dir.to_owned()];
    a.extend(args.output_options());
    a
}

/// A failed check's stderr, split into what to show of it and the run's
/// error message.  When its last line is the contract's
/// `helper-v2v-X: error: MESSAGE`, MESSAGE is the run's error, and the
/// lines before it (causes, clap's usage text) are shown only when
/// `verbose` (`-v`, `-x`): the run prints one error line.  Otherwise all
/// of it is shown and the message says what happened: `PROG PHASE exited
/// with status N without an error line`.  scripts/virt-v2v.sh does the same.
pub fn check_failure(
    stderr: &str,
    prog: &str,
    phase: &str,
    code: u8,
    verbose: bool,
) -> (String, String) {
    let text = stderr.trim_end_matches('\n');
    let (before, last) = match text.rsplit_once('\n') {
        Some((b, l)) => (format!("{b}\n"), l),
        None => (String::new(), text),
    };
    match last
        .strip_prefix("helper-v2v-")
        .and_then(|rest| rest.split_once(": error: "))
    {
        Some((_, msg)) if verbose => (before, msg.to_string()),
        Some((_, msg)) => (String::new(), msg.to_string()),
        None => (
            stderr.to_string(),
            format!("{prog} {phase} exited with status {code} without an error line"),
        ),
    }
}

/// `S: [disk N: ]MESSAGE` (the disk is not repeated when the message
/// already starts with it).
pub fn failure_line(step: Step, disk: Option<u32>, msg: &str) -> String {
    match disk {
        Some(n) if !msg.starts_with(&format!("disk {n}")) => format!("{step}: disk {n}: {msg}"),
        _ => format!("{step}: {msg}"),
    }
}

/// Wait for a child; on SIGINT/SIGTERM pass the signal on, and SIGKILL it
/// if it is still there 15 s later.
fn wait_forwarding(child: &mut Child) -> std::io::Result<ExitStatus> {
    let mut forwarded: Option<Instant> = None;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(st);
        }
        match (signals::pending(), forwarded) {
            (Some(sig), None) => {
                debug!(
                    "forwarding signal {} to pid {}",
                    signals::name(sig),
                    child.id()
                );
                let _ = kill(Pid::from_raw(child.id() as i32), sig);
                forwarded = Some(Instant::now());
            }
            (_, Some(t)) if t.elapsed() > Duration::from_secs(15) => {
                let _ = child.kill();
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait for `a` and, if given, `b`, forwarding SIGINT/SIGTERM to both; when
/// one fails (or at once for `a` with `stop_a`) the other is sent SIGTERM,
/// and SIGKILL 15 s after any SIGTERM.
fn wait_pair(
    a: &mut Child,
    mut b: Option<&mut Child>,
    stop_a: bool,
) -> std::io::Result<(ExitStatus, Option<ExitStatus>)> {
    let mut sa: Option<ExitStatus> = None;
    let mut sb: Option<ExitStatus> = None;
    let mut term_a: Option<Instant> = None;
    let mut term_b: Option<Instant> = None;
    let term = |c: &Child, sig: Signal, t: &mut Option<Instant>| {
        if t.is_none() {
            debug!("sending {} to pid {}", signals::name(sig), c.id());
            let _ = kill(Pid::from_raw(c.id() as i32), sig);
            *t = Some(Instant::now());
        }
    };
    loop {
        if sa.is_none() {
            sa = a.try_wait()?;
        }
        if let (None, Some(c)) = (sb, b.as_deref_mut()) {
            sb = c.try_wait()?;
        }
        let b_done = b.is_none() || sb.is_some();
        if let (Some(s), true) = (sa, b_done) {
            return Ok((s, sb));
        }
        let failed = |s: Option<ExitStatus>| s.is_some_and(|s| !s.success());
        let sig = signals::pending();
        if sa.is_none() && (stop_a || failed(sb) || sig.is_some()) {
            term(a, sig.unwrap_or(Signal::SIGTERM), &mut term_a);
        }
        if let (None, Some(c)) = (sb, b.as_deref_mut()) {
            if failed(sa) || sig.is_some() {
                term(c, sig.unwrap_or(Signal::SIGTERM), &mut term_b);
            }
        }
        let late = |t: Option<Instant>| t.is_some_and(|t| t.elapsed() > Duration::from_secs(15));
        if sa.is_none() && late(term_a) {
            let _ = a.kill();
        }
        if let (None, Some(c)) = (sb, b.as_deref_mut()) {
            if late(term_b) {
                let _ = c.kill();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stop every server a pidfile still names, if its command line mentions
/// the temp directory (so a recycled pid is never hit), by the one rule
/// ([`v2v_servers::stop_pid`]).  helper-v2v-cleanup normally leaves nothing
/// to do here.
fn stop_leftovers(dir: &V2vDir) {
    let root = dir.root().to_string_lossy().into_owned();
    for pf in dir.pidfiles().unwrap_or_default() {
        let pid = v2v_servers::read_pidfile(&pf);
        let _ = fs::remove_file(&pf);
        let Some(pid) = pid else {
            continue;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains(&root) {
            continue;
        }
        warning!("stopping leftover server pid {pid} ({})", pf.display());
        v2v_servers::stop_pid(pid);
    }
}

/// After a failed step: remove everything but `log/` and `status/`, so the
/// log named in the error message can still be read.
fn prune_to_logs(dir: &V2vDir) {
    if let Ok(rd) = fs::read_dir(dir.root()) {
        for e in rd.flatten() {
            let name = e.file_name();
            if name == OsStr::new("log") || name == OsStr::new("status") {
                continue;
            }
            let p = e.path();
            let _ = if p.is_dir() && !p.is_symlink() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

/// Log to the run's `log/00-virt-v2v.log` too (when it can be opened).
fn open_runner_log(dir: &V2vDir) {
    if let Ok(f) = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.runner_log())
    {
        log::set_log_file(f);
    }
}

/// Run the whole conversion, the event stream (if any) on `events_fd`;
/// returns the exit code.
pub fn run(args: &Args, events_fd: Option<i32>) -> u8 {
    let plan = match plan(args) {
        Ok(p) => p,
        Err(msg) => {
            log::log(Level::Error, &msg);
            return exit_code::USAGE;
        }
    };
    let convert_stdin = match keys::convert_stdin(args, &mut std::io::stdin()) {
        Ok(k) => k,
        Err(msg) => {
            log::log(Level::Error, &msg);
            return exit_code::USAGE;
        }
    };
    let run_start = now_epoch();
    let resumed = match args.resume.as_deref().map(resume::assess) {
        Some(Ok(r)) => Some(r),
        Some(Err((code, msg))) => {
            log::log(Level::Error, &msg);
            return code;
        }
        None => None,
    };
    let converted = resumed.as_ref().is_some_and(|r| r.converted);
    let dir = match &resumed {
        Some(r) => r.dir.clone(),
        None => match make_tmpdir() {
            Ok(d) => d,
            Err(msg) => {
                log::log(Level::Error, &msg);
                return exit_code::FAILED;
            }
        },
    };
    open_runner_log(&dir);
    signals::install();
    log::event(EventKind::StepStarted);
    debug!(
        "virt-v2v {}: temporary directory {}",
        env!("CARGO_PKG_VERSION"),
        dir.root().display()
    );
    let mut common = args.common();
    // The helpers' --machine-readable is their JSON event stream on
    // stdout: they get the run's event stream (--events) as --events-fd
    // instead, and the copy helper virt-v2v's progress lines.
    common.machine_readable = false;
    common.events_fd = events_fd;
    let runner = Runner {
        dir,
        common: common.to_args(),
        verbose: common.verbose || common.trace,
        run_start,
        convert_stdin,
        keep: args.keep_tmpdir || resumed.is_some(),
        converted,
        step_gate: args.step_gate.clone(),
    };
    if let Some(r) = &resumed {
        message!(
            "Resuming {} from the {} step",
            r.dir.root().display(),
            if converted { "output-setup" } else { "input" }
        );
    }
    // A failed check started nothing: there is nothing to clean up, and
    // no log worth keeping.
    let checked = runner.check_ends(args, &plan);
    let started = checked.is_ok();
    let outcome = checked.and_then(|()| {
        if let Some(r) = &resumed {
            resume::reset(r);
        }
        let outcome = runner.pipeline(args, &plan);
        runner.cleanup(&plan.cleanup);
        outcome
    });

    let dir = &runner.dir;
    let root = dir.root().display().to_string();
    if args.keep_tmpdir || (resumed.is_some() && outcome.is_err()) {
        message!("temporary directory kept: {root}");
    } else if started && matches!(outcome, Err(Stop::Step(..)) | Err(Stop::Fatal(_))) {
        // The failure report (printed last) names the log kept here.
        prune_to_logs(dir);
    } else if let Err(e) = fs::remove_dir_all(dir.root()) {
        warning!("cannot remove {root}: {e}");
    }
    let Err(stop) = outcome else {
        let seconds = now_epoch() - run_start;
        log::event(EventKind::StepFinished { seconds });
        if !args.print_source {
            message!("Finishing off");
        }
        return 0;
    };
    let (code, message, disk) = match stop {
        Stop::Step(_, code, f) => (code, f.line, f.disk),
        Stop::Check(code, msg) => (code, msg, None),
        Stop::Fatal(msg) => (exit_code::FAILED, msg, None),
        Stop::Signal(sig) => (
            128 + sig as u8,
            format!("interrupted by SIG{}; cleaned up", signals::name(sig)),
            None,
        ),
    };
    // Last: the error event and line come after cleanup's messages.
    log::event(EventKind::Error {
        message: message.clone(),
        exit_code: code,
        disk,
    });
    log::log(Level::Error, &message);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_line_names_step_and_disk_once() {
        assert_eq!(
            failure_line(Step::Copy, Some(2), "nbd error"),
            "copy: disk 2: nbd error"
        );
        assert_eq!(
            failure_line(Step::Copy, Some(2), "disk 2: nbd error"),
            "copy: disk 2: nbd error"
        );
        assert_eq!(failure_line(Step::Input, None, "x"), "input: x");
    }

    #[test]
    fn exit_status_codes() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(
            status_code(ExitStatus::from_raw(Signal::SIGKILL as i32)),
            137
        );
    }

    #[test]
    fn check_failure_keeps_the_helpers_message() {
        let clap = "error: invalid value 'vhdx' for '--of <OF>'\n\n\
                    For more information, try '--help'.\n\
                    helper-v2v-output-local: error: invalid value 'vhdx' for '--of <OF>'\n";
        let out = "helper-v2v-output-local";
        let (shown, msg) = check_failure(clap, out, "check", 2, false);
        assert_eq!(shown, "");
        assert_eq!(msg, "invalid value 'vhdx' for '--of <OF>'");
        let (shown, _) = check_failure(clap, out, "check", 2, true);
        assert_eq!(
            shown,
            "error: invalid value 'vhdx' for '--of <OF>'\n\nFor more information, try '--help'.\n"
        );
        let (shown, msg) = check_failure(
            "helper-v2v-input-disk: error: -io x=1: -i disk does not take -io\n",
            "helper-v2v-input-disk",
            "--check",
            2,
            true,
        );
        assert_eq!(
            (shown.as_str(), msg.as_str()),
            ("", "-io x=1: -i disk does not take -io")
        );
        // No error line of the contract's form: everything is shown and the
        // message says what happened.
        let (shown, msg) = check_failure(
            "error: unexpected argument\n\nFor more information, try '--help'.\n",
            "helper-v2v-input-x",
            "--check",
            2,
            false,
        );
        assert!(shown.starts_with("error: unexpected") && shown.ends_with("'--help'.\n"));
        assert_eq!(
            msg,
            "helper-v2v-input-x --check exited with status 2 without an error line"
        );
        let (shown, msg) = check_failure("", "helper-v2v-output-y", "check", 1, false);
        assert_eq!(shown, "");
        assert!(msg.contains("status 1"), "{msg}");
    }

    #[test]
    fn overlap_only_where_the_output_allows() {
        let parse = |a: &[&str]| {
            let argv = ["virt-v2v", "-i", "disk", "/a.img"]
                .iter()
                .chain(a)
                .map(OsString::from);
            <Args as clap::Parser>::try_parse_from(helper_common::virt_v2v_args(argv)).unwrap()
        };
        for o in ["local", "qemu", "kubevirt", "libvirt", "null"] {
            assert!(overlap_allowed(&parse(&["-o", o])), "-o {o}");
        }
        assert!(overlap_allowed(&parse(&[])), "-o libvirt is the default");
        assert!(overlap_allowed(&parse(&["-o", "local", "-oo", "other=1"])));
        for refused in [
            &["-o", "json"][..],
            &["-o", "some-third-party"],
            &["-o", "local", "--no-overlap"],
            &["-o", "local", "--no-convert"],
            &["-o", "local", "--print-source"],
            &["-o", "local", "--resume", "/d"],
            &["-o", "local", "-of", "qcow2", "-oo", "compressed"],
            &["-o", "local", "-oo", "compressed=true"],
        ] {
            assert!(!overlap_allowed(&parse(refused)), "{refused:?}");
        }
    }

    #[test]
    fn type_names() {
        assert!(valid_type("disk") && valid_type("my-type_2"));
        assert!(!valid_type("") && !valid_type("../x") && !valid_type("a b"));
    }

    #[test]
    fn prune_keeps_logs_and_status() {
        let t = tempfile::tempdir().unwrap();
        let d = V2vDir::create(t.path().join("d")).unwrap();
        fs::write(d.metadata_in(), "{}").unwrap();
        fs::create_dir_all(d.scratch_dir()).unwrap();
        fs::write(d.scratch_dir().join("overlay"), "x").unwrap();
        fs::write(d.step_log(Step::Input), "log").unwrap();
        prune_to_logs(&d);
        assert!(d.step_log(Step::Input).exists());
        assert!(d.status_dir().is_dir());
        assert!(!d.metadata_in().exists() && !d.scratch_dir().exists() && !d.run_dir().exists());
    }
}
