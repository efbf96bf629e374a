//! v2v-test-support: what the input helpers' tests share (a dev-dependency
//! of each input crate, never shipped): small images with a known pattern,
//! a process standing for the run's owner, running a helper (and its
//! `--check`), checking what it serves and leaves behind, validating
//! `metadata.in` against the schema, golden cases, an sshd of the test's
//! own ([`Sshd`]).
//!
//! Real tools only: a missing tool panics ("X not found"), never skips.

pub mod mutate;
mod ssh;

pub use ssh::Sshd;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};
use v2v_meta::V2vDir;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// Panic when an external tool is missing.
pub fn require(tool: &str) {
    let found = if tool.contains('/') {
        Path::new(tool).exists()
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
            .unwrap_or(false)
    };
    assert!(found, "{tool} not found (run scripts/install-deps.sh)");
}

/// Run a shell command, panic on failure.
#[track_caller]
pub fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "failed: {cmd}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A raw image of `mib` MiB with a known pattern written at a few offsets.
pub fn make_raw(path: &Path, mib: u64, tag: &str) {
    require("qemu-img");
    sh(&format!(
        "qemu-img create -q -f raw '{p}' {mib}M && \
         printf 'first sector {tag}' | dd of='{p}' bs=1 conv=notrunc 2>/dev/null && \
         printf 'middle {tag}' | dd of='{p}' bs=1 seek={mid} conv=notrunc 2>/dev/null && \
         printf 'last {tag}' | dd of='{p}' bs=1 seek={last} conv=notrunc 2>/dev/null",
        p = path.display(),
        mid = mib * 1024 * 512 + 3,
        last = mib * 1024 * 1024 - 4096
    ));
}

/// SHA-256 of a file, hex.
pub fn sha256(path: &Path) -> String {
    use sha2::Digest;
    let data = std::fs::read(path).unwrap();
    sha2::Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `qemu-img compare` of what socket `DIR/inN` serves with a raw file.
#[track_caller]
pub fn assert_serves(dir: &Path, n: u32, raw: &Path) {
    let sock = V2vDir::new(dir).in_socket(n);
    let out = Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "raw"])
        .arg(format!("nbd+unix:///?socket={}", sock.display()))
        .arg(raw)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} differs from {}: {}{}",
        V2vDir::in_name(n),
        raw.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A process standing for the owner of the run: the servers exit when it
/// does.  Dropping it kills it.
pub struct Owner(pub Child);

impl Owner {
    pub fn new() -> Owner {
        Owner(Command::new("sleep").arg("600").spawn().unwrap())
    }
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Default for Owner {
    fn default() -> Self {
        Owner::new()
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run a helper binary with `--owner-pid` and the given arguments.
pub fn run(bin: &str, owner: &Owner, args: &[&dyn AsRef<OsStr>]) -> Output {
    let mut c = Command::new(bin);
    c.arg(format!("--owner-pid={}", owner.pid()));
    for a in args {
        c.arg(a);
    }
    c.output().unwrap()
}

/// The longest an input helper's `--check` may take (docs/contract.md).
pub const CHECK_LIMIT: Duration = Duration::from_secs(2);

/// Run `BIN --check ARGS...` (the same arguments as the input step) and
/// assert that it returned within [`CHECK_LIMIT`].
#[track_caller]
pub fn check(bin: &str, args: &[&dyn AsRef<OsStr>]) -> Output {
    let mut c = Command::new(bin);
    c.arg("--check");
    for a in args {
        c.arg(a);
    }
    let t0 = Instant::now();
    let out = c.output().unwrap();
    let took = t0.elapsed();
    assert!(took < CHECK_LIMIT, "{bin} --check took {took:?}");
    out
}

/// Assert that `--check` with `args` (whose first one is DIR, absent
/// before) succeeds, printing nothing, and leaves DIR absent.
#[track_caller]
pub fn assert_check_ok(bin: &str, dir: &Path, args: &[&dyn AsRef<OsStr>]) {
    assert!(!dir.exists(), "{} exists before the check", dir.display());
    let out = check(bin, args);
    assert_ok(&out);
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "--check printed something:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.exists(), "--check created {}", dir.display());
}

/// virt-v2v's input options with a value each (`-if raw`, `-ic
/// qemu:///system`, `-it ssh`, `-ip /nonexistent`), but those in `except`:
/// what a runner may pass to any input type (the password file does not
/// exist: a type that ignores `-ip` does not look at it).
pub fn virt_v2v_options(except: &[&str]) -> Vec<&'static str> {
    const ALL: [(&str, &str); 4] = [
        ("-if", "raw"),
        ("-ic", "qemu:///system"),
        ("-it", "ssh"),
        ("-ip", "/nonexistent"),
    ];
    ALL.iter()
        .filter(|(f, _)| !except.contains(f))
        .flat_map(|(f, v)| [*f, *v])
        .collect()
}

/// `opts` then `tail`, as one argument list.
fn joined(opts: &[&str], tail: &[&dyn AsRef<OsStr>]) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = opts.iter().map(Into::into).collect();
    v.extend(tail.iter().map(|a| a.as_ref().to_owned()));
    v
}

fn refs(v: &[std::ffi::OsString]) -> Vec<&dyn AsRef<OsStr>> {
    v.iter().map(|a| a as &dyn AsRef<OsStr>).collect()
}

/// Assert that `--check OPTS TAIL...` succeeds without side effects for
/// each OPTS of `accepted` (`tail`: DIR and the arguments; DIR absent).
#[track_caller]
pub fn assert_check_accepts(
    bin: &str,
    dir: &Path,
    tail: &[&dyn AsRef<OsStr>],
    accepted: &[&[&str]],
) {
    for opts in accepted {
        assert_check_ok(bin, dir, &refs(&joined(opts, tail)));
    }
}

/// Assert that `--check OPTS TAIL...` exits 2 naming WORDS, DIR left
/// absent, for each (OPTS, WORDS) of `refused`, and for what every input
/// helper refuses: an unknown flag, a transport virt-v2v does not know.
#[track_caller]
pub fn assert_check_refuses(
    bin: &str,
    dir: &Path,
    tail: &[&dyn AsRef<OsStr>],
    refused: &[(&[&str], &str)],
) {
    let every: [(&[&str], &str); 2] = [
        (&["--bogus"], "--bogus"),
        (&["-it", "pigeon"], "-it pigeon"),
    ];
    for (opts, words) in every.iter().chain(refused) {
        assert_check_fails(bin, dir, &refs(&joined(opts, tail)), 2, words);
    }
}

/// Assert that `--check` with `args` fails with `code`, its last stderr
/// line naming `words`, and leaves DIR (`dir`, absent before) absent.
#[track_caller]
pub fn assert_check_fails(
    bin: &str,
    dir: &Path,
    args: &[&dyn AsRef<OsStr>],
    code: i32,
    words: &str,
) {
    assert!(!dir.exists(), "{} exists before the check", dir.display());
    let out = check(bin, args);
    assert_fails(&out, code, words);
    assert!(!dir.exists(), "--check created {}", dir.display());
}

/// Assert success, showing stderr otherwise.
#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Assert a failure with `code` whose last stderr line contains `words`.
#[track_caller]
pub fn assert_fails(out: &Output, code: i32, words: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.contains(": error: ") && last.contains(words),
        "last line {last:?} lacks {words:?}\n{err}"
    );
}

/// The pids recorded in `DIR/run/`.
pub fn pids(dir: &Path) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir(V2vDir::new(dir).run_dir()) else {
        return vec![];
    };
    rd.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Whether process `pid` is gone (or a zombie).
pub fn gone(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty() || stat.contains(") Z")
}

/// Wait up to `limit` for every process of `pids` to be gone; whether
/// they all are.
pub fn wait_gone(pids: &[i32], limit: Duration) -> bool {
    let t0 = Instant::now();
    while !pids.iter().all(|p| gone(*p)) {
        if t0.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Stop every server of `dir` (as `helper-v2v-cleanup` does) and check
/// that none is left running and no socket is left behind.
#[track_caller]
pub fn cleanup(dir: &Path) {
    let before = pids(dir);
    v2v_servers::stop_all(&V2vDir::new(dir));
    wait_gone(&before, Duration::from_secs(10));
    for p in before {
        assert!(gone(p), "pid {p} still running after stop_all");
    }
    assert!(!V2vDir::new(dir).in_socket(1).exists(), "in1 left behind");
}

/// Check that nothing was started: no socket, no pidfile.
#[track_caller]
pub fn assert_nothing_left(dir: &Path) {
    assert!(!V2vDir::new(dir).in_socket(1).exists(), "in1 left behind");
    assert!(pids(dir).is_empty(), "pidfiles left: {:?}", pids(dir));
}

/// Read `DIR/metadata.in` and validate it against the schema.
#[track_caller]
pub fn metadata_in(dir: &Path) -> serde_json::Value {
    let p = V2vDir::new(dir).metadata_in();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_valid(&v);
    v
}

/// Validate a `metadata.in` value against `schema/metadata.in.schema.json`.
#[track_caller]
pub fn assert_valid(v: &serde_json::Value) {
    let p = repo_root().join("schema/metadata.in.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let val = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = val.iter_errors(v).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "metadata.in does not match the schema:\n  {}\n{v:#}",
        errors.join("\n  ")
    );
}

/// Where two JSON values differ, one line per difference (`/a/0/b: x != y`).
pub fn json_diff(
    path: &str,
    got: &serde_json::Value,
    want: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value::{Array, Object};
    match (got, want) {
        (Object(g), Object(w)) => {
            let keys: std::collections::BTreeSet<&String> = g.keys().chain(w.keys()).collect();
            for k in keys {
                let p = format!("{path}/{k}");
                match (g.get(k), w.get(k)) {
                    (Some(a), Some(b)) => json_diff(&p, a, b, out),
                    (Some(a), None) => out.push(format!("{p}: unexpected {a}")),
                    (None, Some(b)) => out.push(format!("{p}: missing (expected {b})")),
                    (None, None) => {}
                }
            }
        }
        (Array(g), Array(w)) => {
            for i in 0..g.len().max(w.len()) {
                let p = format!("{path}/{i}");
                match (g.get(i), w.get(i)) {
                    (Some(a), Some(b)) => json_diff(&p, a, b, out),
                    (Some(a), None) => out.push(format!("{p}: unexpected {a}")),
                    (None, Some(b)) => out.push(format!("{p}: missing (expected {b})")),
                    (None, None) => {}
                }
            }
        }
        (a, b) if a != b => out.push(format!("{path}: got {a}, expected {b}")),
        _ => {}
    }
}

/// Run every golden case under `root` (a crate's `tests/golden/`): each
/// directory holds one input file (the first whose name ends in `ext`)
/// and `expected.json`.  `parse(input)` returns the metadata; it is
/// validated against the schema and compared, as JSON values, with
/// `expected.json`.  `V2V_BLESS=1` rewrites `expected.json` instead.
pub fn golden(root: &Path, ext: &str, parse: impl Fn(&Path) -> v2v_meta::MetadataIn) {
    let bless = std::env::var_os("V2V_BLESS").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases in {}", root.display());
    let mut failures = Vec::new();
    for case in &cases {
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(case)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(ext))
            .collect();
        inputs.sort();
        let input = inputs
            .first()
            .unwrap_or_else(|| panic!("{}: no *{ext} file", case.display()));
        let md = parse(input);
        let got = serde_json::to_value(&md).unwrap();
        assert_valid(&got);
        let exp_path = case.join("expected.json");
        if bless {
            // Written from the struct, so fields keep the contract's order.
            let text = serde_json::to_string_pretty(&md).unwrap() + "\n";
            std::fs::write(&exp_path, text).unwrap();
            continue;
        }
        let want: serde_json::Value = match std::fs::read_to_string(&exp_path) {
            Ok(t) => serde_json::from_str(&t).unwrap(),
            Err(e) => {
                failures.push(format!(
                    "{}: {e} (V2V_BLESS=1 writes it)",
                    exp_path.display()
                ));
                continue;
            }
        };
        let mut diff = Vec::new();
        json_diff("", &got, &want, &mut diff);
        if !diff.is_empty() {
            failures.push(format!(
                "{}:\n    {}",
                case.file_name().unwrap().to_string_lossy(),
                diff.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (V2V_BLESS=1 to accept):\n  {}",
        failures.join("\n  ")
    );
}

/// The origin golden cases use, so expected files do not hold temp paths.
pub fn golden_origin(input_type: &str, input: &Path) -> v2v_meta::Origin {
    let case = input
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();
    let file = input.file_name().unwrap().to_string_lossy();
    v2v_meta::Origin {
        input_type: input_type.into(),
        location: vec![format!("golden/{case}/{file}")],
    }
}

/// Wrap a parsed source as the `metadata.in` golden files hold.
pub fn as_metadata(source: v2v_meta::Source) -> v2v_meta::MetadataIn {
    v2v_meta::MetadataIn {
        version: v2v_meta::CONTRACT_VERSION,
        source,
    }
}
