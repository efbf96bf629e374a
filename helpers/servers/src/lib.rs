//! v2v-servers: the NBD servers of a run.
//!
//! A server is described by a builder ([`Nbdkit`] or [`QemuNbd`]) whose
//! argv can be inspected without starting anything, then started on
//! `DIR/<name>` by [`start`].  Every server:
//! - listens on a Unix socket inside the temp directory, mode 0600;
//! - writes `DIR/run/<name>.pid` (what `helper-v2v-cleanup` stops);
//! - sends its stderr to `DIR/log/NN-<step>-<name>.log`;
//! - exits when the owner of the run exits, even if the owner is
//!   SIGKILLed (nbdkit: the exitwhen filter; qemu-nbd: a guard process).
//!
//! It also holds the one rule for stopping the process a pidfile names
//! ([`stop_pid`]: SIGTERM, up to [`STOP_GRACE`] checking every
//! [`STOP_POLL`], then SIGKILL), used by `helper-v2v-cleanup` (through
//! [`stop_all`]), the `virt-v2v` supervisor and, as [`stop_pid_sh`], by the
//! qemu-nbd guard and `scripts/virt-v2v.sh`.

use helper_common::{debug, trace, Failure, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};
use v2v_meta::{Step, V2vDir};

/// How long a server may take to become ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a process being stopped gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often a process being stopped is checked during [`STOP_GRACE`].
pub const STOP_POLL: Duration = Duration::from_millis(100);

/// A server description: what to run, given the socket, pidfile and owner.
pub trait ServerSpec {
    /// The full argv (program first).
    fn argv(&self, socket: &Path, pidfile: &Path, owner: u32) -> Vec<String>;
    /// Whether this server needs a guard process to die with the owner.
    fn needs_guard(&self) -> bool;
    /// Short name for messages (`nbdkit`, `qemu-nbd`).
    fn program(&self) -> &'static str;
    /// Whether the started process forks the server and exits.
    fn daemonises(&self) -> bool {
        false
    }
}

/// An nbdkit command: plugin, filters, parameters.
#[derive(Debug, Clone)]
pub struct Nbdkit {
    plugin: String,
    filters: Vec<String>,
    params: Vec<(String, String)>,
    readonly: bool,
    verbose: bool,
}

impl Nbdkit {
    pub fn new(plugin: &str) -> Self {
        Nbdkit {
            plugin: plugin.into(),
            filters: Vec::new(),
            params: Vec::new(),
            readonly: false,
            verbose: false,
        }
    }
    /// Add a filter (outermost first, as on nbdkit's command line).
    pub fn filter(mut self, f: &str) -> Self {
        self.filters.push(f.into());
        self
    }
    /// Add a `key=value` parameter (plugin or filter).
    pub fn param(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.params
            .push((k.into(), v.as_ref().to_string_lossy().into_owned()));
        self
    }
    pub fn readonly(mut self, ro: bool) -> Self {
        self.readonly = ro;
        self
    }
    /// Pass `-v` to nbdkit (its debug goes to the server log).
    pub fn verbose(mut self, v: bool) -> Self {
        self.verbose = v;
        self
    }
}

impl ServerSpec for Nbdkit {
    fn argv(&self, socket: &Path, pidfile: &Path, owner: u32) -> Vec<String> {
        // Not --foreground: nbdkit 1.32 then sets PR_SET_PDEATHSIG and dies
        // with the helper that started it, long before the run ends.  It
        // daemonises instead (keeping stderr with --log=stderr), and the
        // exitwhen filter ties it to the owner of the run.
        let mut v: Vec<String> = vec!["nbdkit".into(), "--log=stderr".into()];
        v.push(format!("--unix={}", socket.display()));
        v.push(format!("--pidfile={}", pidfile.display()));
        if self.readonly {
            v.push("--readonly".into());
        }
        if self.verbose {
            v.push("-v".into());
        }
        v.push("--filter=exitwhen".into());
        for f in &self.filters {
            v.push(format!("--filter={f}"));
        }
        v.push(self.plugin.clone());
        for (k, val) in &self.params {
            v.push(format!("{k}={val}"));
        }
        v.push(format!("exit-when-process-exits={owner}"));
        v.push("exit-when-poll=1".into());
        v
    }
    fn needs_guard(&self) -> bool {
        false
    }
    fn program(&self) -> &'static str {
        "nbdkit"
    }
    fn daemonises(&self) -> bool {
        true
    }
}

/// A qemu-nbd command serving one image file.
#[derive(Debug, Clone)]
pub struct QemuNbd {
    file: String,
    format: String,
    shared: u32,
    discard: bool,
    readonly: bool,
    cache: Option<String>,
    aio: Option<String>,
    allocation_depth: bool,
}

impl QemuNbd {
    pub fn new(file: impl AsRef<Path>, format: &str) -> Self {
        QemuNbd {
            file: file.as_ref().display().to_string(),
            format: format.into(),
            shared: 8,
            discard: false,
            readonly: false,
            cache: None,
            aio: None,
            allocation_depth: false,
        }
    }
    /// `--allocation-depth`: also offer the `qemu:allocation-depth`
    /// metadata context (1 where the top image, e.g. an overlay, holds
    /// the data: written, zeroed or trimmed there).
    pub fn allocation_depth(mut self, on: bool) -> Self {
        self.allocation_depth = on;
        self
    }
    /// Number of clients allowed at once (default 8).
    pub fn shared(mut self, n: u32) -> Self {
        self.shared = n;
        self
    }
    /// Pass trims/zeroes down as discards (keeps targets sparse).
    pub fn discard(mut self, d: bool) -> Self {
        self.discard = d;
        self
    }
    pub fn readonly(mut self, ro: bool) -> Self {
        self.readonly = ro;
        self
    }
    /// `--cache=` mode (`none`, `writeback`, ...).
    pub fn cache(mut self, c: &str) -> Self {
        self.cache = Some(c.into());
        self
    }
    /// `--aio=` mode (`threads`, `native`, `io_uring`).
    pub fn aio(mut self, a: &str) -> Self {
        self.aio = Some(a.into());
        self
    }
}

impl ServerSpec for QemuNbd {
    fn argv(&self, socket: &Path, pidfile: &Path, _owner: u32) -> Vec<String> {
        let mut v: Vec<String> = vec![
            "qemu-nbd".into(),
            "--persistent".into(),
            format!("--shared={}", self.shared),
            format!("--socket={}", socket.display()),
            format!("--pid-file={}", pidfile.display()),
            format!("--format={}", self.format),
        ];
        if self.readonly {
            v.push("--read-only".into());
        }
        if self.discard {
            v.push("--discard=unmap".into());
            v.push("--detect-zeroes=unmap".into());
        }
        if let Some(c) = &self.cache {
            v.push(format!("--cache={c}"));
        }
        if let Some(a) = &self.aio {
            v.push(format!("--aio={a}"));
        }
        if self.allocation_depth {
            v.push("--allocation-depth".into());
        }
        v.push(self.file.clone());
        v
    }
    fn needs_guard(&self) -> bool {
        true
    }
    fn program(&self) -> &'static str {
        "qemu-nbd"
    }
}

/// The guard that stops a server when the owner exits: a POSIX sh loop,
/// so it is visible in `ps` and needs nothing but the shell.  It watches
/// both pids every second (as nbdkit's `exit-when-poll=1`), then stops the
/// server by the one rule, [`stop_pid_sh`].
pub fn guard_argv(owner: u32, server_pid: u32) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "{}\nwhile kill -0 \"$1\" 2>/dev/null && kill -0 \"$2\" 2>/dev/null; do sleep 1; done\n\
             stop_pid \"$2\"",
            stop_pid_sh()
        ),
        "v2v-server-guard".into(),
        owner.to_string(),
        server_pid.to_string(),
    ]
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    pub name: String,
    pub pid: u32,
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    pub log: PathBuf,
}

/// Start `spec` serving `DIR/<name>`; returns once the socket accepts
/// connections.  On failure nothing is left running and the error quotes
/// the tail of the server's log.
pub fn start(
    dir: &V2vDir,
    step: Step,
    name: &str,
    spec: &dyn ServerSpec,
    owner: u32,
) -> Result<Server> {
    let socket = dir.root().join(name);
    let pidfile = dir.pidfile(name);
    let log = dir.server_log(step, name);
    let scratch = dir.scratch_dir();
    make_private_dir(&scratch)?;
    fs::create_dir_all(dir.run_dir())?;
    if socket.exists() {
        return Err(Failure::contract(format!(
            "{}: already exists (is a server from an earlier run still there? run helper-v2v-cleanup)",
            socket.display()
        )));
    }
    let _ = fs::remove_file(&pidfile);
    let argv = spec.argv(&socket, &pidfile, owner);
    trace!("start {name}: {}", helper_common::shell_quote(&argv));
    let logf = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| Failure::failed(format!("{}: {e}", log.display())))?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        // The cow filter and qemu put temporary overlays in TMPDIR: keep
        // them inside the private temp directory.
        .env("TMPDIR", &scratch);
    // SAFETY: umask(2) is async-signal-safe; sockets and pidfiles become 0600.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        Failure::external(format!(
            "{}: cannot run: {e} (is it installed? see scripts/install-deps.sh)",
            spec.program()
        ))
    })?;
    if let Err(f) = wait_ready(&mut child, &socket, &pidfile, &log, spec.program(), name) {
        let _ = child.kill();
        let _ = child.wait();
        stop_pidfile(&pidfile);
        let _ = fs::remove_file(&socket);
        return Err(f);
    }
    if spec.daemonises() {
        // nbdkit 1.32's first process sets PR_SET_PDEATHSIG(SIGTERM), forks
        // the server and exits.  Were this helper gone before it, its SIGTERM
        // handler would write the quit pipe it shares with the server, whose
        // accept loop then spins and never accepts (seen under load, with
        // `quit` unset in the server).  It is gone within moments of the fork.
        let _ = child.wait();
    }
    let pid = fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or_else(|| child.id());
    // Some servers ignore the umask for their socket: make it private.
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(&socket, fs::Permissions::from_mode(0o600));
        let _ = fs::set_permissions(&pidfile, fs::Permissions::from_mode(0o600));
    }
    if spec.needs_guard() {
        let g = guard_argv(owner, pid);
        let guard = Command::new(&g[0])
            .args(&g[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match guard {
            Ok(gc) => {
                let gp = dir.guard_pidfile(name);
                let _ = fs::write(&gp, format!("{}\n", gc.id()));
                use std::os::unix::fs::PermissionsExt;
                let _ = fs::set_permissions(&gp, fs::Permissions::from_mode(0o600));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::external(format!("cannot start server guard: {e}")));
            }
        }
    }
    debug!(
        "{name}: {} ready, pid {pid}, socket {}",
        spec.program(),
        socket.display()
    );
    // The child outlives us on purpose: it belongs to the run, not to this
    // helper.  Dropping `Child` does not kill or wait for it.
    drop(child);
    Ok(Server {
        name: name.into(),
        pid,
        socket,
        pidfile,
        log,
    })
}

fn wait_ready(
    child: &mut Child,
    socket: &Path,
    pidfile: &Path,
    log: &Path,
    program: &str,
    name: &str,
) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let pid_ok = fs::read_to_string(pidfile)
            .map(|s| s.trim().parse::<u32>().is_ok())
            .unwrap_or(false);
        if pid_ok && socket.exists() {
            return Ok(());
        }
        let pid_alive = || read_pidfile(pidfile).is_some_and(alive);
        if let Ok(Some(st)) = child.try_wait() {
            // A daemonising server's first process exits 0 once it has forked.
            if st.success() && (!pid_ok || pid_alive()) && t0.elapsed() <= START_TIMEOUT {
                sleep(Duration::from_millis(20));
                continue;
            }
            return Err(Failure::external(format!(
                "{program} for {name} exited before it was ready ({st}): {}",
                log_tail(log, 3)
            ))
            .cause(format!("log: {}", log.display())));
        }
        if t0.elapsed() > START_TIMEOUT {
            return Err(Failure::external(format!(
                "{program} for {name} not ready after {}s: {}",
                START_TIMEOUT.as_secs(),
                log_tail(log, 3)
            )));
        }
        sleep(Duration::from_millis(20));
    }
}

/// The last `n` non-empty lines of a log, joined with " / ".
fn log_tail(log: &Path, n: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(n)..];
    if tail.is_empty() {
        "(no output)".into()
    } else {
        tail.join(" / ")
    }
}

/// Whether process `pid` is running: it exists (signal 0 can reach it)
/// and is not a zombie.
pub fn alive(pid: i32) -> bool {
    pid > 0 && kill(Pid::from_raw(pid), None).is_ok() && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

/// The pid a pidfile names; `None` when it is missing, empty, not a number
/// or names no ordinary process (0, 1, negative).
pub fn read_pidfile(pidfile: &Path) -> Option<i32> {
    fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|p| *p > 1)
}

/// Stop process `pid`, the one rule for every pidfile of a run: SIGTERM,
/// then wait up to [`STOP_GRACE`], checking every [`STOP_POLL`], then
/// SIGKILL.  Returns true when the process was running and was signalled.
/// [`stop_pid_sh`] is the same rule in sh.
pub fn stop_pid(pid: i32) -> bool {
    if pid <= 1 || !alive(pid) {
        return false;
    }
    debug!("stopping pid {pid}");
    let p = Pid::from_raw(pid);
    if kill(p, Signal::SIGTERM).is_err() {
        return false;
    }
    let t0 = Instant::now();
    while alive(pid) && t0.elapsed() < STOP_GRACE {
        sleep(STOP_POLL);
    }
    if alive(pid) {
        debug!(
            "pid {pid} still running {}s after SIGTERM: SIGKILL",
            STOP_GRACE.as_secs()
        );
        let _ = kill(p, Signal::SIGKILL);
    }
    true
}

/// [`stop_pid`] in POSIX sh, as a function `stop_pid PID` (same grace,
/// same polling; `kill -0` cannot tell a zombie, which only a process's
/// own parent leaves).  The qemu-nbd guard runs it, and
/// `scripts/virt-v2v.sh` and docs/contract.md carry this exact line (a
/// test checks them).
pub fn stop_pid_sh() -> String {
    let polls = STOP_GRACE.as_millis() / STOP_POLL.as_millis();
    format!(
        "stop_pid() {{ kill -TERM \"$1\" 2>/dev/null || return 0; i=0; \
         while kill -0 \"$1\" 2>/dev/null && [ $i -lt {polls} ]; do sleep {}; i=$((i + 1)); done; \
         kill -KILL \"$1\" 2>/dev/null; return 0; }}",
        STOP_POLL.as_secs_f64()
    )
}

/// Stop the process named in `pidfile` ([`stop_pid`]), then remove the
/// pidfile.  Returns true if a process was signalled.  A missing or stale
/// pidfile is not an error.
pub fn stop_pidfile(pidfile: &Path) -> bool {
    let signalled = read_pidfile(pidfile).is_some_and(stop_pid);
    let _ = fs::remove_file(pidfile);
    signalled
}

/// Stop every server recorded in `DIR/run/` (guards first, so they do not
/// race us), and remove the `inN`/`outN` sockets.  Returns how many
/// processes were signalled.
pub fn stop_all(dir: &V2vDir) -> usize {
    let mut files = dir.pidfiles().unwrap_or_default();
    files.sort_by_key(|p| !V2vDir::is_guard_pidfile(p));
    let n = files.iter().filter(|p| stop_pidfile(p)).count();
    for prefix in ["in", "out"] {
        for s in dir.sockets(prefix) {
            let _ = fs::remove_file(s);
        }
    }
    n
}

/// Create a directory (mode 0700) if it is missing.
pub fn make_private_dir(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nbdkit_argv() {
        let s = Nbdkit::new("file")
            .filter("cow")
            .param("file", "/src/a b.img")
            .readonly(false);
        let v = s.argv(Path::new("/d/in1"), Path::new("/d/run/in1.pid"), 77);
        assert_eq!(
            v,
            [
                "nbdkit",
                "--log=stderr",
                "--unix=/d/in1",
                "--pidfile=/d/run/in1.pid",
                "--filter=exitwhen",
                "--filter=cow",
                "file",
                "file=/src/a b.img",
                "exit-when-process-exits=77",
                "exit-when-poll=1"
            ]
        );
        assert!(!s.needs_guard());
        let v = Nbdkit::new("null")
            .readonly(true)
            .argv(Path::new("/s"), Path::new("/p"), 1);
        assert!(v.contains(&"--readonly".to_string()));
    }

    #[test]
    fn qemu_nbd_argv() {
        let s = QemuNbd::new("/d/tmp/overlay1.qcow2", "qcow2").discard(true);
        let v = s.argv(Path::new("/d/in1"), Path::new("/d/run/in1.pid"), 5);
        assert_eq!(v[0], "qemu-nbd");
        assert!(v.contains(&"--socket=/d/in1".to_string()));
        assert!(v.contains(&"--pid-file=/d/run/in1.pid".to_string()));
        assert!(v.contains(&"--format=qcow2".to_string()));
        assert!(v.contains(&"--discard=unmap".to_string()));
        assert_eq!(v.last().unwrap(), "/d/tmp/overlay1.qcow2");
        assert!(s.needs_guard());
        let g = guard_argv(10, 20);
        assert_eq!(&g[g.len() - 2..], ["10", "20"]);
    }

    #[test]
    fn tail_of_log() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("l");
        fs::write(&p, "a\n\nb\nc\nd\n").unwrap();
        assert_eq!(log_tail(&p, 2), "c / d");
        assert_eq!(log_tail(&t.path().join("none"), 2), "(no output)");
    }

    /// `sh -c 'trap "" TERM; exec sleep 60'` when `ignore_term`: a process
    /// that only SIGKILL stops.
    fn victim(ignore_term: bool) -> std::process::Child {
        let script = if ignore_term {
            "trap '' TERM; exec sleep 60"
        } else {
            "exec sleep 60"
        };
        let c = Command::new("sh").args(["-c", script]).spawn().unwrap();
        // Let the shell reach its trap and exec.
        sleep(Duration::from_millis(200));
        c
    }

    #[test]
    fn stop_pid_terms_at_once_and_kills_after_the_grace() {
        let mut quick = victim(false);
        let t0 = Instant::now();
        assert!(stop_pid(quick.id() as i32));
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        assert!(!alive(quick.id() as i32));
        quick.wait().unwrap();

        let mut stubborn = victim(true);
        let t0 = Instant::now();
        assert!(stop_pid(stubborn.id() as i32));
        let took = t0.elapsed();
        assert!(
            took >= STOP_GRACE && took < STOP_GRACE + Duration::from_secs(1),
            "{took:?}"
        );
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            stubborn.wait().unwrap().signal(),
            Some(Signal::SIGKILL as i32)
        );
        assert!(
            !stop_pid(stubborn.id() as i32),
            "a reaped pid is not stopped twice"
        );
    }

    #[test]
    fn stop_pid_sh_follows_the_same_rule() {
        let f = stop_pid_sh();
        assert!(
            f.contains("[ $i -lt 50 ]") && f.contains("sleep 0.1;"),
            "{f}"
        );
        let mut stubborn = victim(true);
        let t0 = Instant::now();
        let st = Command::new("sh")
            .args(["-c", &format!("{f}\nstop_pid \"$1\""), "sh"])
            .arg(stubborn.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
        assert!(t0.elapsed() >= STOP_GRACE, "{:?}", t0.elapsed());
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            stubborn.wait().unwrap().signal(),
            Some(Signal::SIGKILL as i32)
        );
        // A pid that is gone: nothing to do, still success.
        let st = Command::new("sh")
            .args(["-c", &format!("{f}\nstop_pid 999999999"), "sh"])
            .status()
            .unwrap();
        assert!(st.success());
    }

    #[test]
    fn the_script_the_guard_and_the_contract_carry_the_rule() {
        for file in ["scripts/virt-v2v.sh", "docs/contract.md"] {
            let path = format!("{}/../../{file}", env!("CARGO_MANIFEST_DIR"));
            let text = fs::read_to_string(&path).unwrap();
            assert!(
                text.lines().any(|l| l.trim() == stop_pid_sh()),
                "{file} must define stop_pid as the line\n{}",
                stop_pid_sh()
            );
        }
        assert!(guard_argv(1, 2)[2].starts_with(&stop_pid_sh()));
    }

    #[test]
    fn stale_pidfile_is_harmless() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x.pid");
        fs::write(&p, "999999999\n").unwrap();
        assert!(!stop_pidfile(&p));
        assert!(!p.exists());
        fs::write(&p, "garbage").unwrap();
        assert!(!stop_pidfile(&p));
    }
}
