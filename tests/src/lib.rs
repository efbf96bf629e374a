//! Test support for the cross-binary and end-to-end tests (tests/tests/).
//!
//! The binaries under test are found in the parent of this test's `deps/`
//! directory (as ripgrep's tests/util.rs does), which `cargo build
//! --workspace --bins` fills; that directory is put first on `PATH`.  A
//! missing binary or external tool is a test failure, never a skip.
//! Every test works in its own [`Sandbox`] under /var/tmp, whose `Drop`
//! stops any server left running there.

pub mod hostile;
pub mod libvirtd;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The directory holding the workspace's binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut d = exe.parent().expect("exe dir").to_path_buf();
    if d.ends_with("deps") {
        d.pop();
    }
    d
}

/// A workspace binary; panics (test failure) when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{name} not found in {}: run `cargo build --workspace --bins` first",
        bin_dir().display()
    );
    p
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// Panic ("X not found") when an external tool is missing.
pub fn require_tool(name: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} not found (install it with scripts/install-deps.sh)"
    );
}

/// `PATH` with the workspace binaries first.
pub fn test_path() -> OsString {
    let mut dirs = vec![bin_dir()];
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).expect("PATH")
}

/// A private directory for one test, under /var/tmp (sparse images, big
/// files).  On drop it kills any process whose command line mentions it.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new(name: &str) -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix(&format!("v2v-test-{name}."))
            .tempdir_in("/var/tmp")
            .expect("sandbox");
        let s = Sandbox { dir };
        fs::create_dir_all(s.tmpdir()).unwrap();
        fs::create_dir_all(s.extra_bin()).unwrap();
        s
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `VIRT_V2V_TMPDIR` for runs in this sandbox.
    pub fn tmpdir(&self) -> PathBuf {
        self.path("tmp")
    }

    /// A directory on `PATH` (after the workspace binaries) for third-party helpers.
    pub fn extra_bin(&self) -> PathBuf {
        self.path("bin")
    }

    /// The run directories (`v2v.*`) that virt-v2v or the script made in
    /// [`Sandbox::tmpdir`].
    pub fn run_dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.tmpdir())
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The only run directory kept (by --keep-tmpdir or a failure).
    pub fn run_dir(&self) -> PathBuf {
        let v = self.run_dirs();
        assert_eq!(v.len(), 1, "expected one run directory, found {v:?}");
        v.into_iter().next().unwrap()
    }

    /// A command with this sandbox's environment.
    pub fn cmd(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(prog);
        let mut path = vec![bin_dir(), self.extra_bin()];
        if let Some(p) = std::env::var_os("PATH") {
            path.extend(std::env::split_paths(&p));
        }
        c.env("PATH", std::env::join_paths(path).unwrap())
            .env("VIRT_V2V_TMPDIR", self.tmpdir())
            .env("LIBGUESTFS_BACKEND", "direct")
            .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
            .env_remove("V2V_RUN_START")
            .stdin(Stdio::null());
        c
    }

    /// `virt-v2v` (the supervisor).
    pub fn virt_v2v(&self) -> Command {
        self.cmd(bin("virt-v2v"))
    }

    /// `scripts/virt-v2v.sh`, run by dash (POSIX sh).  SIGINT and SIGQUIT
    /// get their default action back first: a test run started as a
    /// background job of a non-interactive shell (`cargo test &`) inherits
    /// them ignored, and a shell cannot trap a signal ignored on entry, so
    /// the interruption tests would see the script ignore SIGINT.
    pub fn script(&self) -> Command {
        use std::os::unix::process::CommandExt;
        require_tool("dash");
        let mut c = self.cmd("dash");
        c.arg(repo_root().join("scripts/virt-v2v.sh"));
        // SAFETY: signal(2) is async-signal-safe; nothing else runs here.
        unsafe {
            c.pre_exec(|| {
                for s in [Signal::SIGINT, Signal::SIGQUIT] {
                    nix::sys::signal::signal(s, nix::sys::signal::SigHandler::SigDfl)
                        .map_err(std::io::Error::from)?;
                }
                Ok(())
            });
        }
        c
    }

    /// Make a fresh, empty run's temp dir parent (so [`Sandbox::run_dir`]
    /// finds one run).
    pub fn clear_tmpdir(&self) {
        let _ = fs::remove_dir_all(self.tmpdir());
        fs::create_dir_all(self.tmpdir()).unwrap();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let root = self.root().to_string_lossy().into_owned();
        for (pid, _) in processes_mentioning(&root) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// What a finished command did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The last non-empty line of stderr.
    pub fn last_err_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn to_run(o: Output) -> Run {
    use std::os::unix::process::ExitStatusExt;
    Run {
        code: o
            .status
            .code()
            .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// How long one command of a test may run before it counts as hung:
/// `V2V_TEST_TIMEOUT` seconds, default 900 (a conversion under TCG takes
/// several minutes).
pub fn command_timeout() -> Duration {
    let secs = std::env::var("V2V_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(900);
    Duration::from_secs(secs)
}

/// Run to completion, capturing stdout and stderr.  A command still running
/// after [`command_timeout`] is killed with its whole process group and the
/// test fails (a hang must not eat CI's time).
pub fn run(cmd: &mut Command) -> Run {
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let pid = child.id() as i32;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let limit = command_timeout();
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > limit && !timed_out {
            timed_out = true;
            // The process group made for the child.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let r = to_run(Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    });
    assert!(
        !timed_out,
        "{cmd:?} still running after {}s: killed\n{r}",
        limit.as_secs()
    );
    record_time(cmd, &r, start.elapsed());
    r
}

/// What a finished command was, for the CI time breakdown: a boot check,
/// a run that launched the appliance (its convert step started), or other.
fn time_kind(cmd: &Command, r: &Run) -> &'static str {
    let boots = cmd
        .get_args()
        .any(|a| a.to_string_lossy().ends_with("boot-check.sh"));
    if boots {
        "boot"
    } else if r.stderr.contains("Inspecting the source") {
        "appliance"
    } else {
        "other"
    }
}

/// With `V2V_TEST_TIMES=FILE` (scripts/test.sh sets it), append one line
/// per command run by [`run`]: `KIND SECONDS TEST`, where TEST is the
/// test's thread name.  scripts/test.sh sums them at the end.
fn record_time(cmd: &Command, r: &Run, took: Duration) {
    let Some(file) = std::env::var_os("V2V_TEST_TIMES") else {
        return;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("?")
        .replace(char::is_whitespace, "_");
    let line = format!("{} {:.1} {test}\n", time_kind(cmd, r), took.as_secs_f64());
    // O_APPEND: lines from parallel tests do not interleave.
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(file) {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Processes whose command line contains `needle` (pid, command line).
pub fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        // (A zombie is gone in all but name.)
        if cmd.contains(needle) && v2v_servers::alive(pid) {
            v.push((pid, cmd));
        }
    }
    v
}

/// nbdkit and qemu-nbd processes whose command line contains `needle`.
pub fn servers_mentioning(needle: &str) -> Vec<(i32, String)> {
    processes_mentioning(needle)
        .into_iter()
        .filter(|(pid, _)| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let comm = comm.trim();
            comm == "nbdkit" || comm == "qemu-nbd"
        })
        .collect()
}

/// The paths in directory `dir` (a run's `-os`: what a failed run left).
pub fn dir_entries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect()
}

/// Wait up to `timeout` for no nbdkit/qemu-nbd mentioning `needle`; returns
/// those still running.
pub fn wait_no_servers(needle: &str, timeout: Duration) -> Vec<(i32, String)> {
    let t = Instant::now();
    loop {
        let v = servers_mentioning(needle);
        if v.is_empty() || t.elapsed() > timeout {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A small deterministic generator of non-zero, incompressible-ish data.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed | 1)
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            // xorshift64
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let b = self.0.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
    }
}

/// A sparse file of `size` bytes holding `chunks` runs of noise of `len`
/// bytes, one every `stride` bytes from offset 0 (seeds `seed`, `seed + 1`...):
/// a source whose copy reads `chunks * len` bytes.
pub fn sparse_noise_image(path: &Path, size: u64, chunks: u64, stride: u64, len: usize, seed: u64) {
    fs::File::create(path).unwrap().set_len(size).unwrap();
    for i in 0..chunks {
        write_noise(path, i * stride, len, seed + i);
    }
}

/// Write `len` bytes of noise at `offset` of an existing file.
pub fn write_noise(path: &Path, offset: u64, len: usize, seed: u64) {
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut n = Noise::new(seed);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let k = left.min(buf.len());
        n.fill(&mut buf[..k]);
        f.write_all(&buf[..k]).unwrap();
        left -= k;
    }
}

/// A sparse raw disk of `size_mib` holding a real ext4 filesystem (made
/// with `mkfs.ext4 -d` from a few files) plus noise at scattered offsets in
/// the last quarter (beyond the filesystem's data).
pub fn make_ext4_disk(path: &Path, size_mib: u64, seed: u64) {
    require_tool("mkfs.ext4");
    let tree = path.with_extension("tree");
    fs::create_dir_all(tree.join("etc")).unwrap();
    fs::write(tree.join("etc/hostname"), format!("test-{seed}\n")).unwrap();
    let mut buf = vec![0u8; 3 << 20];
    Noise::new(seed).fill(&mut buf);
    fs::write(tree.join("blob.bin"), &buf).unwrap();
    fs::File::create(path)
        .unwrap()
        .set_len(size_mib << 20)
        .unwrap();
    let r = run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-E", "root_owner=0:0,lazy_itable_init=1", "-d"])
        .arg(&tree)
        .arg(path));
    r.assert_ok();
    fs::remove_dir_all(&tree).unwrap();
    let size = size_mib << 20;
    for (i, frac) in [0.80f64, 0.87, 0.93, 0.985].iter().enumerate() {
        let off = ((size as f64 * frac) as u64) & !0xffff;
        let len = (256 << 10).min(size - off) as usize;
        write_noise(path, off, len, seed + i as u64 + 1);
    }
    assert_eq!(fs::metadata(path).unwrap().len(), size);
}

/// `qemu-img convert -O FORMAT SRC DST`.
pub fn qemu_img_convert(src: &Path, dst: &Path, format: &str) {
    require_tool("qemu-img");
    run(Command::new("qemu-img")
        .args(["convert", "-O", format])
        .arg(src)
        .arg(dst))
    .assert_ok();
}

/// `qemu-img compare A B` (any formats): true when the guest data is identical.
pub fn qemu_img_identical(a: &Path, b: &Path) -> Result<(), String> {
    require_tool("qemu-img");
    let r = run(Command::new("qemu-img").arg("compare").arg(a).arg(b));
    if r.code == 0 {
        Ok(())
    } else {
        Err(format!(
            "qemu-img compare {} {}: {r}",
            a.display(),
            b.display()
        ))
    }
}

/// SHA-256 of a file, hex.
pub fn sha256(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes allocated on disk.
pub fn allocated(path: &Path) -> u64 {
    fs::metadata(path).unwrap().blocks() * 512
}

fn validator(schema_file: &str) -> jsonschema::Validator {
    let p = repo_root().join("schema").join(schema_file);
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Validate one JSON value against `schema/<schema_file>`.
#[track_caller]
pub fn assert_valid(schema_file: &str, what: &str, value: &serde_json::Value) {
    let v = validator(schema_file);
    let errors: Vec<String> = v.iter_errors(value).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{what} does not match schema/{schema_file}:\n  {}\n{value:#}",
        errors.join("\n  ")
    );
}

/// Validate every contract file in a run directory (metadata.in,
/// metadata.out, output.json, status/*) against its schema; returns how
/// many files were checked.
pub fn validate_run_dir(dir: &Path) -> usize {
    let mut files: Vec<PathBuf> = [
        "metadata.in",
        "metadata.out",
        "output.json",
        "description.json",
    ]
    .iter()
    .map(|n| dir.join(n))
    .filter(|p| p.exists())
    .collect();
    if let Ok(rd) = fs::read_dir(dir.join("status")) {
        files.extend(rd.flatten().map(|e| e.path()));
    }
    let mut n = 0;
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let Some(schema) = v2v_meta::schema::for_file(&name) else {
            continue;
        };
        let text = fs::read_to_string(&f).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}\n{text}", f.display()));
        assert_valid(schema, &f.display().to_string(), &value);
        n += 1;
    }
    n
}

/// virt-v2v's documented progress line, `N/M`.
fn is_progress_line(l: &str) -> bool {
    l.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

/// Parse and validate every line of an event stream (`--events`, or a
/// helper's `--machine-readable` stdout) as an event (besides the
/// helpers' `N/M` progress lines); returns them.
pub fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty() && !is_progress_line(l.trim()))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("event line is not JSON ({e}): {l}"));
            assert_valid("event.schema.json", "event", &v);
            v
        })
        .collect()
}

/// Replace each `from` with `to` (paths that differ between runs).
pub fn redact(text: &str, subs: &[(&str, &str)]) -> String {
    let mut t = text.to_string();
    for (from, to) in subs {
        if !from.is_empty() {
            t = t.replace(from, to);
        }
    }
    t
}

/// Parse a JSON file, redacting paths first.
pub fn json_redacted(path: &Path, subs: &[(&str, &str)]) -> serde_json::Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&redact(&text, subs)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The directory of the built test guest (scripts/make-test-guest.sh,
/// cached; builds it if needed).  `V2V_FIXTURE_DIR` overrides.
pub fn fixture_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("V2V_FIXTURE_DIR") {
        return PathBuf::from(d);
    }
    make_test_guest(&[])
}

/// The directory of test guest `name` (`scripts/make-test-guest.sh NAME`:
/// cached; built if needed).
pub fn guest_dir(name: &str) -> PathBuf {
    make_test_guest(&[name])
}

fn make_test_guest(args: &[&str]) -> PathBuf {
    let r = run(Command::new("sh")
        .arg(repo_root().join("scripts/make-test-guest.sh"))
        .args(args)
        .stdin(Stdio::null()));
    assert_eq!(
        r.code, 0,
        "scripts/make-test-guest.sh {args:?} failed:\n{r}"
    );
    PathBuf::from(r.stdout.lines().last().expect("guest dir").trim())
}

/// `scripts/boot-check.sh [--expect NAME.json] DISK` (virtio, TCG): boots a
/// converted test guest and checks the marker line on its serial console.
/// The returned command runs it with bash; add the arguments.
pub fn boot_check_cmd() -> Command {
    let script = repo_root().join("scripts/boot-check.sh");
    assert!(script.is_file(), "{} not found", script.display());
    let mut c = Command::new("bash");
    c.arg(script);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_and_non_zero() {
        let mut a = vec![0u8; 100];
        let mut b = vec![0u8; 100];
        Noise::new(7).fill(&mut a);
        Noise::new(7).fill(&mut b);
        assert_eq!(a, b);
        assert!(a.iter().filter(|x| **x == 0).count() < 10);
    }

    #[test]
    fn progress_lines() {
        assert!(is_progress_line("100/100") && is_progress_line("0/100"));
        assert!(!is_progress_line("/100") && !is_progress_line("{\"a\":\"1/2\"}"));
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("/var/tmp/x/out/g-sda", &[("/var/tmp/x", "[SANDBOX]")]),
            "[SANDBOX]/out/g-sda"
        );
    }

    #[test]
    fn schemas_reject_bad_documents() {
        let v = validator("step-done.schema.json");
        assert!(v.is_valid(&serde_json::json!({"version": 1, "step": "copy", "seconds": 1.0})));
        assert!(!v.is_valid(&serde_json::json!({"version": 1, "step": "copy"})));
    }
}
