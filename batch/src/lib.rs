//! virt-v2v-batch: many `virt-v2v` runs under global limits.
//!
//! Each guest of the job list ([`jobs`]) is one `virt-v2v --events fd:1
//! --step-gate ...` run with its stdout (the events) in
//! `BATCHDIR/guests/NAME/events.jsonl` and its stderr in `.../stderr.log`.
//! At most `--max-jobs` runs exist at once; through the step gate
//! ([`gate`]) at most `--max-appliances` of them are in the `convert` step
//! and at most `--max-copies` in the `copy` step.  A slot is freed when the
//! step's `step-finished` or `error` event arrives or the run ends.
//! `BATCHDIR/report.json` ([`report`]) is rewritten after every change.
//! See docs/virt-v2v-batch.md.

pub mod gate;
pub mod jobs;
pub mod report;

use clap::{Parser, Subcommand};
use gate::Slot;
use helper_common::log::{self, Level};
use helper_common::{debug, message, shell_quote, warning};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use report::{GuestReport, Limits, Report, Status};
use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use v2v_meta::exit_code;
use virt_v2v::signals;

/// Memory one conversion appliance needs (~1.3 GiB), for the default
/// `--max-appliances`.
const APPLIANCE_BYTES: u64 = 1300 << 20;

/// How long runs get to clean up after the batch passed a signal on,
/// before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(60);

/// Convert many guests with virt-v2v, under global limits: conversion
/// appliances, copy streams and runs at once.
#[derive(Debug, Parser)]
#[command(
    name = "virt-v2v-batch",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "JOBS lists the guests: {\"guests\": [{\"name\": N, \"args\": [virt-v2v arguments...]}]} \
                  (JSON, or YAML for .yaml/.yml).  See docs/virt-v2v-batch.md."
)]
pub struct Args {
    /// The batch directory: per guest logs and events, report.json.
    #[arg(long = "dir", value_name = "BATCHDIR", required = true)]
    pub dir: Option<PathBuf>,
    /// Conversions (appliances, ~1.3 GiB of memory each) at once
    /// [default: the machine's CPUs, at most available memory / 1.3 GiB,
    /// at least 1].
    #[arg(long = "max-appliances", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_appliances: Option<u32>,
    /// vCPUs of each run's appliance (virt-v2v's --smp, given to runs
    /// whose arguments have no --smp) [default: the machine's CPUs /
    /// max-appliances, at least 1].
    #[arg(long = "appliance-cpus", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub appliance_cpus: Option<u32>,
    /// Copy steps at once.
    #[arg(long = "max-copies", value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_copies: u32,
    /// Bits per second of all copies together (suffixes K, M, G, e.g.
    /// 1G): shared equally among the copies running, through each run's
    /// --bandwidth-file [default: no limit].
    #[arg(long = "max-bandwidth", value_name = "BPS", value_parser = helper_common::units::parse_bps)]
    pub max_bandwidth: Option<u64>,
    /// virt-v2v runs at once [default: max-appliances + max-copies].
    #[arg(long = "max-jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_jobs: Option<u32>,
    /// Continue the batch in BATCHDIR: skip the guests its report marks
    /// done, run the others again from the start.
    #[arg(long = "resume")]
    pub resume: bool,
    /// The job list (JSON, or YAML for .yaml / .yml).
    #[arg(value_name = "JOBS", required = true)]
    pub jobs: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// The step gate a run calls before each step (virt-v2v --step-gate):
    /// waits for the batch's slot for `convert` and `copy`.
    Gate {
        /// The guest's directory, BATCHDIR/guests/NAME.
        guest_dir: PathBuf,
        /// The step about to start.
        step: String,
        /// The run's temporary directory (unused).
        run_dir: Option<PathBuf>,
    },
}

/// Entry point of the `virt-v2v-batch` binary.
pub fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Cmd::Gate {
        guest_dir, step, ..
    }) = &args.command
    {
        return match gate::wait(guest_dir, step) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("virt-v2v-batch gate: error: {e}");
                ExitCode::from(exit_code::FAILED)
            }
        };
    }
    log::init(
        "virt-v2v-batch",
        "virt-v2v",
        Level::Message,
        None,
        log::EventSink::None,
    );
    ExitCode::from(run(&args))
}

/// The limits from the options and the machine.
pub fn limits(args: &Args) -> Limits {
    limits_for(args, cpus(), mem_available())
}

/// [`limits`] on a machine of `cpus` CPUs and `mem` bytes available.  An
/// appliance keeps its vCPUs busy for most of a conversion (the guest's
/// own tools run in it), so by default there are no more appliances than
/// CPUs, and the CPUs are divided among them: measured on 2 CPUs under
/// TCG (docs/benchmarks.md), 2 appliances of 1 vCPU converted 8 guests in
/// 168 s, 3 of 2 vCPUs in 219 s.
fn limits_for(args: &Args, cpus: usize, mem: u64) -> Limits {
    let max_appliances = args
        .max_appliances
        .map(|n| n as usize)
        .unwrap_or_else(|| cpus.min((mem / APPLIANCE_BYTES) as usize).max(1));
    let max_copies = args.max_copies as usize;
    Limits {
        max_appliances,
        max_copies,
        max_jobs: args
            .max_jobs
            .map(|n| n as usize)
            .unwrap_or(max_appliances + max_copies),
        appliance_cpus: args
            .appliance_cpus
            .map(|n| n as usize)
            .unwrap_or((cpus / max_appliances).max(1)),
        max_bandwidth: args.max_bandwidth.filter(|&b| b > 0),
    }
}

/// `GUESTDIR/bandwidth`: the run's `--bandwidth-file` under `--max-bandwidth`.
pub fn bandwidth_file(guest_dir: &Path) -> PathBuf {
    guest_dir.join("bandwidth")
}

/// A run's share of `total` bits per second while `copies` runs copy: a
/// copying run gets total / copies, one not copying yet the share it will
/// have when it starts, total / (copies + 1).  Never 0 (no limit).
pub fn bandwidth_share(total: u64, copies: usize, copying: bool) -> u64 {
    let n = if copying { copies } else { copies + 1 };
    (total / n.max(1) as u64).max(1)
}

/// Whether the job sets its own limit (the batch leaves it alone).
fn own_bandwidth(args: &[String]) -> bool {
    args.iter().any(|a| {
        ["--bandwidth", "--bandwidth-file"]
            .iter()
            .any(|o| a == o || a.starts_with(&format!("{o}=")))
    })
}

/// The CPUs this process may run on (1 if unknown).
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `MemAvailable` of /proc/meminfo in bytes (0 if unreadable).
fn mem_available() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `BATCHDIR/report.json`.
pub fn report_path(dir: &Path) -> PathBuf {
    dir.join("report.json")
}

/// `BATCHDIR/guests/NAME`.
pub fn guest_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join("guests").join(name)
}

/// What a run's stdout reader sends to the main loop.
enum Msg {
    Line(usize, String),
    Eof(usize),
}

/// One `virt-v2v` run in progress.
struct Running {
    /// Index into the job list and the report.
    idx: usize,
    child: Child,
    /// Exit code, once it exited.
    exited: Option<(u8, Instant)>,
    /// Its stdout reached end of file.
    eof: bool,
    /// The step whose slot it holds.
    holding: Option<(String, Slot)>,
    /// A gate request seen: (step, slot, when).
    asked: Option<(String, Slot, f64)>,
}

/// The whole batch.
struct Batch {
    dir: PathBuf,
    virt_v2v: PathBuf,
    jobs: Vec<jobs::Job>,
    report: Report,
    running: Vec<Running>,
    /// Gate requests in arrival order (indices into `running` by job idx).
    queue: VecDeque<usize>,
    /// The number of copies running when the bandwidth files were last
    /// written.
    shared_among: Option<usize>,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
}

/// Run the batch; returns the exit code.
pub fn run(args: &Args) -> u8 {
    match setup(args) {
        Ok(mut b) => {
            signals::install();
            b.main_loop()
        }
        Err(msg) => {
            log::log(Level::Error, &msg);
            exit_code::USAGE
        }
    }
}

fn setup(args: &Args) -> Result<Batch, String> {
    let dir = args.dir.clone().expect("--dir is required");
    let jobs = jobs::load(args.jobs.as_deref().expect("JOBS is required"))?;
    let virt_v2v = virt_v2v::find::find_in(&virt_v2v::find::search_dirs(), "virt-v2v")
        .ok_or("virt-v2v is not installed (not next to virt-v2v-batch nor on PATH)")?;
    let limits = limits(args);
    let path = report_path(&dir);
    let previous: Option<Report> = match (args.resume, path.exists()) {
        (false, true) => {
            return Err(format!(
                "--dir {}: holds a batch already (report.json): use --resume to continue it, \
                 or another directory",
                dir.display()
            ))
        }
        (true, true) => Some(v2v_meta::read_json(&path).map_err(|e| e.to_string())?),
        (_, false) => None,
    };
    fs::create_dir_all(dir.join("guests")).map_err(|e| format!("{}: {e}", dir.display()))?;
    if let Ok(f) = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("batch.log"))
    {
        log::set_log_file(f);
    }
    let guests = jobs
        .iter()
        .map(|j| {
            previous
                .as_ref()
                .and_then(|p| p.guests.iter().find(|g| g.name == j.name))
                .filter(|g| g.status == Status::Done)
                .cloned()
                .unwrap_or_else(|| GuestReport::pending(&j.name))
        })
        .collect();
    let (tx, rx) = mpsc::channel();
    let b = Batch {
        dir,
        virt_v2v,
        jobs,
        report: Report {
            version: 1,
            limits,
            guests,
            peak_appliances: 0,
            peak_copies: 0,
            peak_jobs: 0,
        },
        running: Vec::new(),
        queue: VecDeque::new(),
        shared_among: None,
        tx,
        rx,
    };
    b.save();
    Ok(b)
}

impl Batch {
    fn save(&self) {
        if let Err(e) = v2v_meta::write_json(&report_path(&self.dir), &self.report) {
            warning!("{e}");
        }
    }

    fn held(&self, slot: Slot) -> usize {
        self.running
            .iter()
            .filter(|r| matches!(r.holding, Some((_, s)) if s == slot))
            .count()
    }

    fn limit(&self, slot: Slot) -> usize {
        match slot {
            Slot::Appliance => self.report.limits.max_appliances,
            Slot::Copy => self.report.limits.max_copies,
        }
    }

    fn main_loop(&mut self) -> u8 {
        let started = Instant::now();
        let mut stopping: Option<(Signal, Instant)> = None;
        let done = self
            .report
            .guests
            .iter()
            .filter(|g| g.status == Status::Done)
            .count();
        message!(
            "{} guests ({done} done before); at most {} appliances, {} copies, {} runs at once; {}",
            self.jobs.len(),
            self.report.limits.max_appliances,
            self.report.limits.max_copies,
            self.report.limits.max_jobs,
            self.dir.display()
        );
        loop {
            match self.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(m) => {
                    self.on_msg(m);
                    while let Ok(m) = self.rx.try_recv() {
                        self.on_msg(m);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("we hold a sender"),
            }
            if let (Some(sig), None) = (signals::pending(), stopping) {
                warning!(
                    "SIG{}: stopping {} runs",
                    signals::name(sig),
                    self.running.len()
                );
                for r in &self.running {
                    let _ = kill(Pid::from_raw(r.child.id() as i32), sig);
                }
                stopping = Some((sig, Instant::now()));
            }
            if let Some((_, t)) = stopping {
                if t.elapsed() > STOP_GRACE {
                    for r in &mut self.running {
                        warning!("run of {} still there: killing it", self.jobs[r.idx].name);
                        let _ = r.child.kill();
                    }
                }
            }
            self.reap(stopping.is_some());
            if stopping.is_none() {
                self.open_gates();
                self.start_runs();
            }
            self.share_bandwidth();
            if self.running.is_empty()
                && (stopping.is_some()
                    || !self
                        .report
                        .guests
                        .iter()
                        .any(|g| g.status == Status::Pending))
            {
                break;
            }
        }
        self.save();
        eprint!("{}", report::table(&self.report));
        message!(
            "batch finished in {:.1} s; report: {}",
            started.elapsed().as_secs_f64(),
            report_path(&self.dir).display()
        );
        if let Some((sig, _)) = stopping {
            return 128 + sig as u8;
        }
        if self.report.guests.iter().all(|g| g.status == Status::Done) {
            0
        } else {
            exit_code::FAILED
        }
    }

    /// `--max-bandwidth`: when the number of copies running changed, give
    /// every run its new share ([`bandwidth_share`]) in its bandwidth file;
    /// each copy reads its file again within a second.
    fn share_bandwidth(&mut self) {
        let Some(total) = self.report.limits.max_bandwidth else {
            return;
        };
        let copies = self.held(Slot::Copy);
        if self.shared_among == Some(copies) {
            return;
        }
        self.shared_among = Some(copies);
        debug!("bandwidth: {total} bits/s shared among {copies} copies");
        for r in &self.running {
            let f = bandwidth_file(&guest_dir(&self.dir, &self.jobs[r.idx].name));
            let copying = matches!(r.holding, Some((_, Slot::Copy)));
            let share = bandwidth_share(total, copies, copying);
            if f.exists() {
                if let Err(e) = gate::write_atomic(&f, &format!("{share}\n")) {
                    warning!("{}: {e}", f.display());
                }
            }
        }
    }

    /// Start pending guests up to `--max-jobs`, in the job list's order.
    fn start_runs(&mut self) {
        while self.running.len() < self.report.limits.max_jobs {
            let Some(idx) = self
                .report
                .guests
                .iter()
                .position(|g| g.status == Status::Pending)
            else {
                return;
            };
            match self.spawn(idx) {
                Ok(r) => {
                    let g = &mut self.report.guests[idx];
                    g.status = Status::Running;
                    g.started = Some(now_epoch());
                    self.running.push(r);
                    self.report.peak_jobs = self.report.peak_jobs.max(self.running.len());
                }
                Err(e) => {
                    let g = &mut self.report.guests[idx];
                    g.status = Status::Failed;
                    g.error = Some(e);
                }
            }
            self.save();
        }
    }

    /// `virt-v2v --events fd:1 --no-overlap --step-gate GATE ARGS...`, in its own
    /// process group (a terminal's Ctrl-C reaches the batch only, which
    /// passes it on), killed with SIGTERM if the batch dies.
    fn spawn(&self, idx: usize) -> Result<Running, String> {
        let job = &self.jobs[idx];
        let gdir = guest_dir(&self.dir, &job.name);
        let at = |e: std::io::Error| format!("{}: {e}", gdir.display());
        if gdir.exists() {
            fs::remove_dir_all(&gdir).map_err(at)?;
        }
        fs::create_dir_all(gate::gate_dir(&gdir)).map_err(at)?;
        let stderr = fs::File::create(gdir.join("stderr.log")).map_err(at)?;
        let stdout = fs::File::create(gdir.join("stdout.log")).map_err(at)?;
        let events = fs::File::create(gdir.join("events.jsonl")).map_err(at)?;
        let me = std::env::current_exe().map_err(|e| format!("virt-v2v-batch: {e}"))?;
        let gate_cmd = format!(
            "exec {}",
            shell_quote(&[
                me.to_string_lossy().as_ref(),
                "gate",
                gdir.to_string_lossy().as_ref()
            ])
        );
        let mut cmd = Command::new(&self.virt_v2v);
        if !job
            .args
            .iter()
            .any(|a| a == "--events" || a.starts_with("--events="))
        {
            cmd.args(["--events", "fd:1"]);
        }
        // The gate holds one slot per run at a time (a step's slot is
        // freed when the run asks for the next): a run copying while it
        // converts would hold two.  The batch overlaps copies and
        // conversions across guests instead (docs/virt-v2v-batch.md).
        if !job.args.iter().any(|a| a == "--no-overlap") {
            cmd.arg("--no-overlap");
        }
        cmd.arg("--step-gate").arg(&gate_cmd);
        if !job
            .args
            .iter()
            .any(|a| a == "--smp" || a.starts_with("--smp="))
        {
            cmd.arg("--smp")
                .arg(self.report.limits.appliance_cpus.to_string());
        }
        if let Some(total) = self.report.limits.max_bandwidth {
            if !own_bandwidth(&job.args) {
                let f = bandwidth_file(&gdir);
                let share = bandwidth_share(total, self.held(Slot::Copy), false);
                gate::write_atomic(&f, &format!("{share}\n")).map_err(at)?;
                cmd.arg("--bandwidth-file").arg(&f);
            }
        }
        cmd.args(&job.args)
            .env(gate::BATCH_PID_ENV, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between
        // fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        debug!(
            "{}: {} --step-gate {} {}",
            job.name,
            self.virt_v2v.display(),
            shell_quote(&[&gate_cmd]),
            shell_quote(&job.args)
        );
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: cannot run: {e}", self.virt_v2v.display()))?;
        message!("{}: started (pid {})", job.name, child.id());
        let out = child.stdout.take().expect("piped stdout");
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let (mut stdout, mut events) = (stdout, events);
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = writeln!(stdout, "{line}");
                // Progress lines (`N/M`) are not events.
                if line.starts_with('{') {
                    let _ = writeln!(events, "{line}");
                }
                if tx.send(Msg::Line(idx, line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Msg::Eof(idx));
        });
        Ok(Running {
            idx,
            child,
            exited: None,
            eof: false,
            holding: None,
            asked: None,
        })
    }

    fn on_msg(&mut self, m: Msg) {
        let (idx, line) = match m {
            Msg::Eof(idx) => {
                if let Some(r) = self.running.iter_mut().find(|r| r.idx == idx) {
                    r.eof = true;
                }
                return;
            }
            Msg::Line(idx, line) => (idx, line),
        };
        let Ok(ev) = serde_json::from_str::<serde_json::Value>(&line) else {
            return;
        };
        let step = ev["step"].as_str().unwrap_or_default();
        let event = ev["event"].as_str().unwrap_or_default();
        let g = &mut self.report.guests[idx];
        if step == "virt-v2v" {
            if event == "error" {
                g.error = ev["message"].as_str().map(str::to_string);
            }
            return;
        }
        let times = g.steps.entry(step.to_string()).or_default();
        match event {
            "step-started" => times.started = ev["time"].as_f64(),
            "step-finished" => times.seconds = ev["seconds"].as_f64(),
            _ => {}
        }
        if matches!(event, "step-finished" | "error") {
            if let Some(r) = self.running.iter_mut().find(|r| r.idx == idx) {
                if matches!(&r.holding, Some((s, _)) if s == step) {
                    debug!("{}: {step} ended: slot freed", self.jobs[idx].name);
                    r.holding = None;
                }
            }
        }
        self.save();
    }

    /// Note new gate requests, then open gates in arrival order while
    /// their slot has room.
    fn open_gates(&mut self) {
        for r in &mut self.running {
            if r.asked.is_some() {
                continue;
            }
            let gdir = guest_dir(&self.dir, &self.jobs[r.idx].name);
            let Some(step) = gate::waiting(&gdir) else {
                continue;
            };
            let Some(slot) = gate::slot_of(&step) else {
                continue;
            };
            // Steps run one after the other: asking for the next frees
            // the last one's slot.
            r.holding = None;
            r.asked = Some((step, slot, now_epoch()));
            self.queue.push_back(r.idx);
        }
        let mut i = 0;
        while i < self.queue.len() {
            let idx = self.queue[i];
            let Some(pos) = self.running.iter().position(|r| r.idx == idx) else {
                self.queue.remove(i);
                continue;
            };
            let (step, slot, since) = self.running[pos].asked.clone().expect("queued");
            if self.held(slot) >= self.limit(slot) {
                i += 1;
                continue;
            }
            let name = &self.jobs[idx].name;
            if let Err(e) = gate::open(&guest_dir(&self.dir, name), &step) {
                warning!("{name}: cannot open the gate for {step}: {e}");
            }
            let waited = now_epoch() - since;
            debug!("{name}: {step} may start (waited {waited:.1} s)");
            let r = &mut self.running[pos];
            r.asked = None;
            r.holding = Some((step.clone(), slot));
            self.report.guests[idx]
                .steps
                .entry(step)
                .or_default()
                .waited = Some(waited);
            let held = self.held(slot);
            let peak = match slot {
                Slot::Appliance => &mut self.report.peak_appliances,
                Slot::Copy => &mut self.report.peak_copies,
            };
            *peak = (*peak).max(held);
            self.queue.remove(i);
            self.save();
        }
    }

    /// Finish the runs that exited (and whose events are all read).
    fn reap(&mut self, stopping: bool) {
        for r in &mut self.running {
            if r.exited.is_none() {
                if let Ok(Some(st)) = r.child.try_wait() {
                    r.exited = Some((status_code(st), Instant::now()));
                }
            }
        }
        let mut i = 0;
        while i < self.running.len() {
            let r = &self.running[i];
            let done = match r.exited {
                // A server that kept the pipe open must not hold the run.
                Some((_, t)) => r.eof || t.elapsed() > Duration::from_secs(5),
                None => false,
            };
            if !done {
                i += 1;
                continue;
            }
            let r = self.running.remove(i);
            let (code, _) = r.exited.expect("exited");
            let gdir = guest_dir(&self.dir, &self.jobs[r.idx].name);
            let g = &mut self.report.guests[r.idx];
            g.exit_code = Some(code);
            g.seconds = g.started.map(|t| now_epoch() - t);
            g.status = match code {
                0 => Status::Done,
                _ if stopping => Status::Interrupted,
                _ => Status::Failed,
            };
            if code != 0 && g.error.is_none() {
                g.error = last_line(&gdir.join("stderr.log"));
            }
            message!(
                "{}: {} (exit {code}){}",
                g.name,
                g.status.name(),
                g.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
            let _ = fs::remove_dir_all(gate::gate_dir(&gdir));
            self.save();
        }
    }
}

fn status_code(st: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => u8::try_from(c).unwrap_or(exit_code::FAILED),
        (None, Some(s)) => u8::try_from(128 + s).unwrap_or(exit_code::FAILED),
        _ => exit_code::FAILED,
    }
}

/// The last non-empty line of a file.
fn last_line(p: &Path) -> Option<String> {
    fs::read_to_string(p)
        .ok()?
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn defaults_follow_the_limits() {
        let a =
            Args::try_parse_from(["b", "--dir", "/d", "--max-appliances", "2", "j.json"]).unwrap();
        assert_eq!(
            limits_for(&a, 8, 64 << 30),
            Limits {
                max_appliances: 2,
                max_copies: 2,
                max_jobs: 4,
                appliance_cpus: 4,
                max_bandwidth: None,
            }
        );
        let a = Args::try_parse_from(["b", "--dir", "/d", "j.json"]).unwrap();
        assert!(limits(&a).max_appliances >= 1);
        // By default one appliance per CPU, memory permitting, and the
        // CPUs shared among them.
        let gib = 1 << 30;
        let l = limits_for(&a, 2, 24 * gib);
        assert_eq!((l.max_appliances, l.appliance_cpus, l.max_jobs), (2, 1, 4));
        let l = limits_for(&a, 16, 4 * gib);
        assert_eq!((l.max_appliances, l.appliance_cpus), (3, 5));
        let l = limits_for(&a, 4, 0);
        assert_eq!((l.max_appliances, l.appliance_cpus), (1, 4));
        let a = Args::try_parse_from([
            "b",
            "--dir",
            "/d",
            "--max-appliances",
            "3",
            "--appliance-cpus",
            "2",
            "j.json",
        ])
        .unwrap();
        let l = limits_for(&a, 2, 24 * gib);
        assert_eq!((l.max_appliances, l.appliance_cpus), (3, 2));
        let a = Args::try_parse_from(["b", "--dir", "/d", "--max-appliances", "3", "j"]).unwrap();
        assert_eq!(limits_for(&a, 2, 24 * gib).appliance_cpus, 1);
        assert!(Args::try_parse_from(["b", "--dir", "/d", "--max-copies", "0", "j"]).is_err());
        assert!(Args::try_parse_from(["b", "j.json"]).is_err());
        let a = Args::try_parse_from(["b", "--dir", "/d", "--max-bandwidth", "1G", "j"]).unwrap();
        assert_eq!(limits_for(&a, 2, 24 * gib).max_bandwidth, Some(1 << 30));
        let a = Args::try_parse_from(["b", "--dir", "/d", "--max-bandwidth", "0", "j"]).unwrap();
        assert_eq!(limits_for(&a, 2, 24 * gib).max_bandwidth, None);
        assert!(Args::try_parse_from(["b", "--dir", "/d", "--max-bandwidth", "1X", "j"]).is_err());
        let g = Args::try_parse_from(["b", "gate", "/g", "convert", "/tmp/v2v.x"]).unwrap();
        assert!(matches!(g.command, Some(Cmd::Gate { ref step, .. }) if step == "convert"));
    }

    #[test]
    fn the_bandwidth_is_shared_among_the_copies() {
        let g = 1 << 30;
        assert_eq!(bandwidth_share(g, 0, false), g, "the first copy gets all");
        assert_eq!(bandwidth_share(g, 1, true), g, "a lone copy gets all");
        assert_eq!(bandwidth_share(g, 4, true), g / 4);
        assert_eq!(
            bandwidth_share(g, 3, false),
            g / 4,
            "the share it will have"
        );
        assert_eq!(
            bandwidth_share(3, 4, true),
            1,
            "never 0, which means no limit"
        );
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(own_bandwidth(&s(&["-i", "disk", "--bandwidth", "10M"])));
        assert!(own_bandwidth(&s(&["--bandwidth-file=/f"])));
        assert!(!own_bandwidth(&s(&["-i", "disk", "--bandwidthx"])));
    }

    /// Every option is documented in docs/virt-v2v-batch.md.
    #[test]
    fn every_option_is_documented() {
        let doc = fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/virt-v2v-batch.md"
        ))
        .unwrap();
        for a in Args::command().get_arguments() {
            if let Some(l) = a.get_long() {
                assert!(
                    doc.contains(&format!("`--{l}")),
                    "--{l} is not documented in docs/virt-v2v-batch.md"
                );
            }
        }
        assert!(doc.contains("`virt-v2v-batch gate"));
    }
}
