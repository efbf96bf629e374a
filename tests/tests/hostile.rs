//! The hostile-input corpus (issue 11, docs/security.md): every case of
//! `v2v_tests::hostile` — OVA/tar, OVF, VMX, disk images that point at host
//! files, libvirt XML, `-on` names, contract files — run through
//! `virt-v2v --no-convert ... -o local` (or, for contract files, the
//! helper that reads them).  Each must end as the case expects: refused
//! with its exit code and one last line naming the step and the thing at
//! fault, or accepted with the target equal to the guest data; and in
//! every case within 15 s, with no byte of the host marker file in any
//! output or temp dir, nothing written outside the output directory,
//! nothing left running, nothing connecting to the host socket, and every
//! source file unchanged.  No appliance is launched.

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use v2v_tests::hostile::{write_corpus, Case, Runner, Want};
use v2v_tests::*;

/// Every case must be decided within this.
const LIMIT: Duration = Duration::from_secs(15);

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every regular file under `dir` (not following symlinks).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            v.extend(files_under(&e.path()));
        } else if ft.is_file() {
            v.push(e.path());
        }
    }
    v.sort();
    v
}

/// Every entry under `dir` (not following symlinks), files or not.
fn entries_under(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        v.push(e.path());
        if e.file_type().unwrap().is_dir() {
            v.extend(entries_under(&e.path()));
        }
    }
    v.sort();
    v
}

/// Files under `dir` that contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|f| {
            let b = fs::read(f).unwrap_or_default();
            b.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

/// (entry, size, mtime) of everything under `dir`: a cheap fingerprint
/// that sees any file added, removed, grown or rewritten.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    entries_under(dir)
        .into_iter()
        .map(|p| {
            let m = fs::symlink_metadata(&p).unwrap();
            (p, m.len(), m.mtime(), m.mtime_nsec())
        })
        .collect()
}

/// Small files' sha256 (the big ones are covered by the fingerprint).
fn sums(dir: &Path) -> Vec<(PathBuf, String)> {
    files_under(dir)
        .into_iter()
        .filter(|f| fs::metadata(f).unwrap().len() <= 8 << 20)
        .map(|f| {
            let h = sha256(&f);
            (f, h)
        })
        .collect()
}

/// Run one case; returns the failures found.
fn run_case(sb: &Sandbox, c: &Case, root: &Path, marker: &Path, text: &str) -> Vec<String> {
    let dir = c.dir(root);
    let before = (fingerprint(&dir), sums(&dir));
    let marker_sum = sha256(marker);
    let parent = sb.path(&format!("out-{}", c.name));
    let out = parent.join("os");
    fs::create_dir_all(&out).unwrap();
    let run_dir = sb.path(&format!("run-{}", c.name));
    sb.clear_tmpdir();
    let mut cmd = match &c.runner {
        Runner::VirtV2v => {
            let mut v = sb.virt_v2v();
            v.arg("--no-convert");
            v
        }
        Runner::Helper(h) => {
            // The helper writes its log and status into the dir: give it
            // a copy (links, FIFOs and all).
            let st = std::process::Command::new("cp")
                .arg("-a")
                .arg(&dir)
                .arg(&run_dir)
                .status()
                .unwrap();
            assert!(st.success());
            sb.cmd(bin(h))
        }
    };
    cmd.args(c.argv(&out, &run_dir)).current_dir(&parent);
    let t = Instant::now();
    let r = run(&mut cmd);
    let took = t.elapsed();
    println!(
        "{}: exit {} in {took:.1?}: {}",
        c.name,
        r.code,
        r.last_err_line()
    );
    let mut failures = Vec::new();
    let mut fail = |m: String| failures.push(format!("{}: {m}\n{r}", c.name));
    match &c.want {
        Want::Refused(code, words) => {
            let last = r.last_err_line();
            if r.code != *code {
                fail(format!("exit {} (want {code})", r.code));
            } else if !words.iter().all(|w| last.contains(w.as_str())) {
                fail(format!("last line should name {words:?}: {last}"));
            }
            let prog = match &c.runner {
                Runner::VirtV2v => "virt-v2v: error",
                Runner::Helper(h) => &format!("{h}: error"),
            };
            let errors = r.stderr.lines().filter(|l| l.starts_with(prog)).count();
            if errors != 1 {
                fail(format!("{errors} error lines"));
            }
        }
        Want::Target(data) => {
            let targets = files_under(&out)
                .into_iter()
                .filter(|f| f.extension().is_none())
                .collect::<Vec<_>>();
            if r.code != 0 || targets.len() != 1 {
                fail(format!("not accepted: targets {targets:?}"));
            } else if let Err(e) = qemu_img_identical(&dir.join(data), &targets[0]) {
                fail(format!("target differs from {data}: {e}"));
            }
        }
    }
    if took > LIMIT {
        fail(format!("took {took:?}"));
    }
    for place in [&parent, &sb.tmpdir(), &run_dir] {
        let leaked = holding(place, text.as_bytes());
        if !leaked.is_empty() {
            fail(format!("host file bytes in {leaked:?}"));
        }
    }
    let outside: Vec<PathBuf> = entries_under(&parent)
        .into_iter()
        .filter(|p| !p.starts_with(&out))
        .collect();
    if !outside.is_empty() {
        fail(format!("written outside -os: {outside:?}"));
    }
    let left = wait_no_servers(s(sb.root()), Duration::from_secs(5));
    let others = processes_mentioning(s(sb.root()));
    if !left.is_empty() || !others.is_empty() {
        fail(format!("left running: {left:?} {others:?}"));
    }
    if (fingerprint(&dir), sums(&dir)) != before || sha256(marker) != marker_sum {
        fail("a source file changed".into());
    }
    // Free the space of a case's output at once.
    let _ = fs::remove_dir_all(&parent);
    let _ = fs::remove_dir_all(&run_dir);
    failures
}

#[test]
fn hostile_inputs_are_refused_or_accepted_safely() {
    for t in ["qemu-img", "qemu-nbd", "qemu-io", "nbdkit", "gzip", "cp"] {
        require_tool(t);
    }
    let sb = Sandbox::new("hostile");
    let corpus = write_corpus(&sb.path("corpus"));
    let listener = UnixListener::bind(&corpus.socket).unwrap();
    listener.set_nonblocking(true).unwrap();
    let (mut refused, mut accepted) = (0, 0);
    let mut failures = Vec::new();
    let only = std::env::var("V2V_HOSTILE_ONLY").ok();
    for c in &corpus.cases {
        if only.as_deref().is_some_and(|o| !c.name.contains(o)) {
            continue;
        }
        let f = run_case(&sb, c, &corpus.root, &corpus.marker, &corpus.marker_text);
        if f.is_empty() {
            match c.want {
                Want::Refused(..) => refused += 1,
                Want::Target(_) => accepted += 1,
            }
        }
        failures.extend(f);
    }
    let connected = listener.accept().is_ok();
    let pwned = entries_under(sb.root())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "pwned"))
        .collect::<Vec<_>>();
    println!(
        "hostile: {refused} refused, {accepted} accepted-safe, {} failed",
        failures.len()
    );
    assert!(!connected, "something connected to the host socket");
    assert!(pwned.is_empty(), "a shell ran a disk name: {pwned:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    if only.is_none() {
        assert!(refused + accepted >= 60);
        assert_eq!(refused + accepted, corpus.cases.len());
    }
}
