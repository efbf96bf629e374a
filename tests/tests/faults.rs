//! Fault injection with real components (docs/reliability.md): the target
//! filling up (`-os` on a tmpfs smaller than the data), the source
//! returning EIO at a chosen offset (nbdkit's ddrescue filter), the
//! source's server dying mid-copy (SIGKILL by its pidfile; a slow source
//! through nbdkit's delay filter), the ssh input's connection dropping
//! (the test's own sshd killed with its sessions), each through virt-v2v and
//! scripts/virt-v2v.sh: the documented exit code, a last line naming the
//! step and the disk, the partial target removed, no process of the run
//! left, the source's sha256 unchanged.  A copy failed on a full target
//! resumes (`--resume`) to a target identical to an uninterrupted run's;
//! finished and foreign directories are refused.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use v2v_tests::*;

/// A runner: its name and its command in a sandbox.
pub type Runner = (&'static str, fn(&Sandbox) -> Command);

/// `virt-v2v` and `scripts/virt-v2v.sh`.
pub fn runners() -> [Runner; 2] {
    [
        ("virt-v2v", Sandbox::virt_v2v),
        ("virt-v2v.sh", Sandbox::script),
    ]
}

/// A tmpfs mounted for one test (the container runs tests as root);
/// unmounted on drop.
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    pub fn mount(path: &Path, mib: u64) -> Tmpfs {
        fs::create_dir_all(path).unwrap();
        let r = run(Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0755"),
                "tmpfs",
            ])
            .arg(path));
        assert_eq!(r.code, 0, "mount -t tmpfs (the tests need root): {r}");
        Tmpfs {
            path: path.to_path_buf(),
        }
    }

    pub fn resize(&self, mib: u64) {
        let r = run(Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.path));
        assert_eq!(r.code, 0, "remount {}: {r}", self.path.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The source disk of these tests: 64 MiB, raw, 24 MiB of noise from
/// 8 MiB on (the rest sparse).  Returns its path and sha256.
pub fn source_disk(sb: &Sandbox, name: &str) -> (PathBuf, String) {
    let p = sb.path(name);
    fs::File::create(&p).unwrap().set_len(64 << 20).unwrap();
    write_noise(&p, 8 << 20, 24 << 20, 42);
    let sum = sha256(&p);
    (p, sum)
}

/// Install `helper-v2v-<kind>-<name>` (a POSIX sh program) on the
/// sandbox's PATH.
fn install(sb: &Sandbox, name: &str, script: &str) {
    let p = sb.extra_bin().join(format!("helper-v2v-{name}"));
    fs::write(&p, script).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// `-i faulty FILE`: a third-party input (docs/contract.md) serving the raw
/// FILE as `in1` with nbdkit's file plugin under the cow filter, with
/// `$FAULT_FILTERS` / `$FAULT_PARAMS` (e.g. `--filter=delay`,
/// `delay-read=500ms`) in between, tied to the owner by the exitwhen
/// filter.  With `FAULT_PAUSE=input` it creates `$FAULT_MARK` and waits
/// for its owner to exit before finishing (an interruption's target).
pub fn install_faulty_input(sb: &Sandbox) {
    install(
        sb,
        "input-faulty",
        r#"#!/bin/sh
case $1 in --check) exit 0 ;; esac
owner=$PPID
while [ $# -gt 0 ]; do
  case $1 in --owner-pid) owner=$2; shift 2 ;; --events-fd) shift 2 ;; -*) shift ;; *) break ;; esac
done
dir=$1 src=$2
mkdir -p "$dir/status" "$dir/run" "$dir/log" && chmod 700 "$dir" || exit 3
# shellcheck disable=SC2086
nbdkit --log=stderr -U "$dir/in1" -P "$dir/run/in1.pid" --filter=exitwhen --filter=cow \
  ${FAULT_FILTERS:-} file file="$src" exit-when-process-exits="$owner" exit-when-poll=1 \
  ${FAULT_PARAMS:-} 2>>"$dir/log/01-input-in1.log" || exit 4
i=0; while [ ! -s "$dir/run/in1.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
cat > "$dir/metadata.in" <<JSON
{"version": 1, "source": {"name": "faulty",
 "origin": {"input_type": "faulty", "location": []},
 "memory_bytes": 1073741824, "vcpus": 1,
 "disks": [{"index": 1, "socket": "in1", "format": "raw", "size": $(stat -c %s "$src"),
            "source": "$src"}]}}
JSON
if [ "${FAULT_PAUSE:-}" = input ]; then
  : > "$FAULT_MARK"
  while kill -0 "$owner" 2>/dev/null; do sleep 0.1; done
  exit 1
fi
printf '{"version": 1, "step": "input", "seconds": 0}\n' > "$dir/status/input.done"
"#,
    );
}

/// `-o paused`: `-o local` (helper-v2v-output-local does every phase),
/// pausing like [`install_faulty_input`] after `setup` with
/// `FAULT_PAUSE=output-setup`, before `final` with
/// `FAULT_PAUSE=output-final`.
pub fn install_paused_output(sb: &Sandbox) {
    install(
        sb,
        "output-paused",
        r#"#!/bin/sh
phase=$1 owner=$PPID prev=
for a; do [ "$prev" = --owner-pid ] && owner=$a; prev=$a; done
pause() {
  : > "$FAULT_MARK"
  while kill -0 "$owner" 2>/dev/null; do sleep 0.1; done
  exit 1
}
[ "$phase-${FAULT_PAUSE:-}" != final-output-final ] || pause
helper-v2v-output-local "$@" || exit $?
[ "$phase-${FAULT_PAUSE:-}" != setup-output-setup ] || pause
exit 0
"#,
    );
}

/// Processes of a run: those whose command line names `root`, and their
/// descendants (an appliance's qemu, a server's guard).
pub fn run_processes(root: &str) -> Vec<(i32, String)> {
    let mut found = processes_mentioning(root);
    let mut parents: Vec<(i32, i32, String)> = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid ...
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let cmd = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if v2v_servers::alive(pid) {
            parents.push((pid, ppid, cmd));
        }
    }
    loop {
        let known: Vec<i32> = found.iter().map(|(p, _)| *p).collect();
        let more: Vec<(i32, String)> = parents
            .iter()
            .filter(|(pid, ppid, _)| known.contains(ppid) && !known.contains(pid))
            .map(|(pid, _, cmd)| (*pid, cmd.clone()))
            .collect();
        if more.is_empty() {
            return found;
        }
        found.extend(more);
    }
}

/// Wait up to `limit` until none of `seen` is alive and no process names
/// `root`; returns what is left.
pub fn wait_run_gone(root: &str, seen: &[(i32, String)], limit: Duration) -> Vec<(i32, String)> {
    let t = Instant::now();
    loop {
        let mut left: Vec<(i32, String)> = seen
            .iter()
            .filter(|(p, _)| v2v_servers::alive(*p))
            .cloned()
            .collect();
        for p in run_processes(root) {
            if !left.iter().any(|(q, _)| *q == p.0) {
                left.push(p);
            }
        }
        if left.is_empty() || t.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Files in a directory.
pub fn entries(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(d)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// A fault test's setting: where the target goes, the source and its
/// sha256.
struct Scene<'a> {
    sb: &'a Sandbox,
    out: &'a Path,
    src: &'a Path,
    sum: &'a str,
}

impl<'a> Scene<'a> {
    fn new(sb: &'a Sandbox, out: &'a Path, src: &'a Path, sum: &'a str) -> Self {
        Scene { sb, out, src, sum }
    }

    /// What every fault leaves: exit `code`, a last line
    /// `virt-v2v: error: STEP: disk 1: ...` naming each of `words`, a
    /// failure report, no partial target, no process of the sandbox
    /// within 5 s, the source unchanged.
    #[track_caller]
    fn assert_fault(&self, who: &str, r: &Run, code: i32, step: &str, words: &[&str]) {
        assert_eq!(r.code, code, "{who}: exit code\n{r}");
        let last = r.last_err_line();
        let want = format!("virt-v2v: error: {step}: disk 1: ");
        assert!(
            last.starts_with(&want) && words.iter().all(|w| last.contains(w)),
            "{who}: the last line should start with {want:?} and name {words:?}:\n{r}"
        );
        assert!(
            r.stderr
                .contains(&format!("virt-v2v: step {step} failed (exit {code}); see ")),
            "{who}: no failure report\n{r}"
        );
        assert_eq!(
            entries(self.out),
            Vec::<PathBuf>::new(),
            "{who}: partial target left\n{r}"
        );
        let root = self.sb.root().to_string_lossy().into_owned();
        let left = wait_run_gone(&root, &[], Duration::from_secs(5));
        assert!(left.is_empty(), "{who}: processes left: {left:?}");
        assert_eq!(sha256(self.src), self.sum, "{who}: the source changed");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The target fills up half-way (`-os` on an 8 MiB tmpfs, 24 MiB of
/// data): exit 1 naming the copy, disk 1 and ENOSPC; the partial target is
/// removed; the kept directory resumes, with the other runner and room
/// made, to a target identical to an uninterrupted run's.  Resuming it
/// again (finished) is refused with exit 2, a foreign directory with 3.
#[test]
fn full_target_fails_the_copy_and_the_run_resumes() {
    let sb = Sandbox::new("full");
    let (src, sum) = source_disk(&sb, "guest.raw");
    let out = sb.path("out");
    let fs8 = Tmpfs::mount(&out, 8);
    let scene = Scene::new(&sb, &out, &src, &sum);
    let args = [
        "--no-convert",
        "-i",
        "disk",
        s(&src),
        "-o",
        "local",
        "-os",
        s(&out),
    ];
    let reference = sb.path("reference");
    fs::create_dir(&reference).unwrap();
    let mut uninterrupted = sb.virt_v2v();
    run(uninterrupted
        .args(&args[..4])
        .args(["-o", "local", "-os", s(&reference)]))
    .assert_ok();
    let want = sha256(&reference.join("guest-sda"));
    assert_eq!(want, sum, "an uninterrupted run copies the source");

    let runners = runners();
    for (i, (who, first)) in runners.iter().enumerate() {
        let (other, second) = runners[1 - i];
        sb.clear_tmpdir();
        fs8.resize(8);
        let t = Instant::now();
        let r = run(first(&sb).arg("--keep-tmpdir").args(args));
        eprintln!(
            "{who}: full target: exit {} in {:.1}s",
            r.code,
            t.elapsed().as_secs_f64()
        );
        scene.assert_fault(
            who,
            &r,
            1,
            "copy",
            &["writing out1", "No space left on device"],
        );
        let dir = sb.run_dir();
        assert!(
            dir.join("status/copy.error.json").is_file() && dir.join("metadata.in").is_file(),
            "{who}: the kept directory lacks its files: {:?}",
            entries(&dir)
        );
        // Room made: the other runner goes on with it.
        fs8.resize(64);
        let t = Instant::now();
        let r = run(second(&sb)
            .args(["--keep-tmpdir", "--resume", s(&dir)])
            .args(args));
        r.assert_ok();
        eprintln!(
            "{other} resumed {who}'s run in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        assert!(r.stderr.contains("from the input step"), "{r}");
        let target = out.join("guest-sda");
        qemu_img_identical(&src, &target).unwrap();
        assert_eq!(sha256(&target), want, "{other}: resumed target differs");
        assert_eq!(sha256(&src), sum);
        // Finished: nothing to resume, with either runner.
        for (who, cmd) in runners {
            let r = run(cmd(&sb).args(["--resume", s(&dir)]).args(args));
            assert_eq!(r.code, 2, "{who}: resuming a finished run\n{r}");
            assert!(
                r.last_err_line().contains("nothing to resume"),
                "{who}\n{r}"
            );
        }
        assert!(target.is_file(), "refusing touched the target");
        for f in entries(&out) {
            fs::remove_file(f).unwrap();
        }
    }

    // Foreign directories: exit 3 (2 for what is not a directory).
    let plain = sb.path("plain");
    fs::create_dir(&plain).unwrap();
    let future = sb.path("future");
    fs::create_dir_all(future.join("status")).unwrap();
    fs::create_dir_all(future.join("log")).unwrap();
    fs::write(
        future.join("status/input.done"),
        r#"{"version": 2, "step": "input", "seconds": 1}"#,
    )
    .unwrap();
    let cases = [
        (sb.path("nope"), 2, "not a directory"),
        (plain, 3, "not a run directory"),
        (future, 3, "version 2"),
    ];
    for (dir, code, words) in &cases {
        for (who, cmd) in runners {
            let r = run(cmd(&sb).args(["--resume", s(dir)]).args(args));
            assert_eq!(r.code, *code, "{who} --resume {}\n{r}", dir.display());
            let last = r.last_err_line();
            assert!(
                last.starts_with(&format!("virt-v2v: error: --resume {}: ", dir.display()))
                    && last.contains(words),
                "{who}\n{r}"
            );
        }
    }
    assert_eq!(entries(&out), Vec::<PathBuf>::new());
    assert!(run_processes(&sb.root().to_string_lossy()).is_empty());
}

/// The source returns EIO for 1 MiB at 20 MiB (nbdkit's ddrescue filter
/// over the real file): exit 1, the copy step, disk 1 and the failed read
/// at an offset whose request covers the bad area.
#[test]
fn source_io_error_at_an_offset() {
    let sb = Sandbox::new("eio");
    install_faulty_input(&sb);
    let (src, sum) = source_disk(&sb, "guest.raw");
    let map = sb.path("guest.map");
    let (bad, bad_len) = (20u64 << 20, 1u64 << 20);
    fs::write(
        &map,
        format!(
            "# Mapfile. Created by a test\n0x0 +\n0x0 {bad:#x} +\n{bad:#x} {bad_len:#x} -\n{:#x} {:#x} +\n",
            bad + bad_len,
            (64 << 20) - bad - bad_len
        ),
    )
    .unwrap();
    let out = sb.path("out");
    fs::create_dir(&out).unwrap();
    let scene = Scene::new(&sb, &out, &src, &sum);
    for (who, runner) in runners() {
        sb.clear_tmpdir();
        let mut cmd = runner(&sb);
        let r = run(cmd
            .env("FAULT_FILTERS", "--filter=ddrescue")
            .env(
                "FAULT_PARAMS",
                format!("ddrescue-mapfile={}", map.display()),
            )
            .args([
                "--no-convert",
                "-i",
                "faulty",
                s(&src),
                "-o",
                "local",
                "-os",
                s(&out),
            ]));
        scene.assert_fault(
            who,
            &r,
            1,
            "copy",
            &["reading in1 at offset", "Input/output error"],
        );
        // "reading in1 at offset OFF (LEN bytes)": the request met the bad area.
        let last = r.last_err_line();
        let nums: Vec<u64> = last
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        let (off, len) = (nums[2], nums[3]);
        assert!(
            off < bad + bad_len && off + len > bad,
            "{who}: failed read [{off}, +{len}) misses the bad area: {last}"
        );
    }
}

/// Start `cmd` with its stdout read line by line; return once `ready`
/// says so for a line (or panic after 120 s).
pub fn start_until(
    mut cmd: Command,
    ready: impl Fn(&str) -> bool,
) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(120) {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(l) if ready(&l) => return (child, rx),
            _ => {}
        }
    }
    let _ = child.kill();
    let o = child.wait_with_output().unwrap();
    panic!(
        "never ready; stderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The source's server is killed (SIGKILL, by its pidfile `run/in1.pid`)
/// while the copy reads it (a slow source: nbdkit's delay filter, 0.5 s
/// per read): the copy fails naming disk 1 and `in1`.
#[test]
fn source_server_dies_mid_copy() {
    let sb = Sandbox::new("srvdies");
    install_faulty_input(&sb);
    let (src, sum) = source_disk(&sb, "guest.raw");
    let out = sb.path("out");
    fs::create_dir(&out).unwrap();
    let scene = Scene::new(&sb, &out, &src, &sum);
    for (who, runner) in runners() {
        sb.clear_tmpdir();
        let mut cmd = runner(&sb);
        cmd.env("FAULT_FILTERS", "--filter=delay")
            .env("FAULT_PARAMS", "delay-read=500ms")
            .args(["--events", "fd:1", "--no-convert", "-i", "faulty", s(&src)])
            .args(["-o", "local", "-os", s(&out)]);
        let (child, _rx) = start_until(cmd, |l| l.contains("\"disk-started\""));
        let dir = sb.run_dir();
        let pid = v2v_servers::read_pidfile(&dir.join("run/in1.pid")).expect("run/in1.pid");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let o = child.wait_with_output().unwrap();
        let r = Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        scene.assert_fault(who, &r, r.code.max(1), "copy", &["in1"]);
        assert!(matches!(r.code, 1 | 4), "{who}: exit code\n{r}");
        eprintln!(
            "{who}: source server killed: exit {}: {}",
            r.code,
            r.last_err_line()
        );
    }
}

/// A conversion is never done twice: the test guest is converted, the
/// copy fails on a full target (`--keep-tmpdir`), the conversion is kept
/// (`kept/in1.qcow2`), and the script resumes the supervisor's run with
/// another `-os`: from the output setup, the convert step's log and status
/// untouched, the target identical to the kept conversion (and not to the
/// unconverted source).
#[test]
fn resume_after_the_conversion_does_not_convert_again() {
    let sb = Sandbox::new("resume-conv");
    let fx = fixture_dir();
    let src = fx.join("foreign-guest.raw");
    let sum = sha256(&src);
    let out = sb.path("out");
    let _full = Tmpfs::mount(&out, 64);
    let scene = Scene::new(&sb, &out, &src, &sum);
    let t = Instant::now();
    // --no-overlap: the conversion finishes before the copy starts (an
    // overlapped copy would fail on the full target first and stop it).
    let r = run(sb.virt_v2v().args([
        "--keep-tmpdir",
        "--no-overlap",
        "-i",
        "disk",
        s(&src),
        "-o",
        "local",
        "-os",
        s(&out),
    ]));
    scene.assert_fault("virt-v2v", &r, 1, "copy", &["No space left on device"]);
    eprintln!(
        "converted, failed the copy and kept the conversion in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let dir = sb.run_dir();
    let kept = dir.join("kept/in1.qcow2");
    assert!(
        kept.is_file(),
        "no kept conversion: {:?}\n{r}\n--- log/06-cleanup.log ---\n{}",
        entries(&dir),
        fs::read_to_string(dir.join("log/06-cleanup.log")).unwrap_or_default()
    );
    let convert_log = fs::read(dir.join("log/02-convert.log")).unwrap();
    let convert_done = fs::read(dir.join("status/convert.done")).unwrap();

    let bigger = sb.path("bigger");
    fs::create_dir(&bigger).unwrap();
    let t = Instant::now();
    let r = run(sb
        .script()
        .args(["--keep-tmpdir", "--events", "fd:1", "--resume", s(&dir)])
        .args(["-i", "disk", s(&src), "-o", "local", "-os", s(&bigger)]));
    r.assert_ok();
    eprintln!(
        "resumed from the output setup in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    assert!(r.stderr.contains("from the output-setup step"), "{r}");
    assert!(
        !events(&r.stdout).iter().any(|e| e["step"] == "convert"),
        "the conversion ran again\n{r}"
    );
    assert_eq!(
        fs::read(dir.join("log/02-convert.log")).unwrap(),
        convert_log
    );
    assert_eq!(
        fs::read(dir.join("status/convert.done")).unwrap(),
        convert_done
    );
    let target = bigger.join("foreign-guest-sda");
    qemu_img_identical(&kept, &target).unwrap();
    assert!(
        qemu_img_identical(&src, &target).is_err(),
        "the target is the unconverted source"
    );
    assert!(bigger.join("foreign-guest.xml").is_file());
    validate_run_dir(&dir);
    assert!(run_processes(&sb.root().to_string_lossy()).is_empty());
    assert_eq!(sha256(&src), sum, "the source changed");
}

/// The ssh input drops (`-i vmx -it ssh` from an sshd of the test's own,
/// a 256 MiB flat VMDK of noise): once 32 MiB of the target are written, the sshd and
/// every session it serves are SIGKILLed; the run fails naming the copy
/// and disk 1, nothing of it is left, the source is unchanged.
#[test]
fn ssh_input_drops_mid_copy() {
    let sb = Sandbox::new("sshdrop");
    let g = sb.path("guest");
    fs::create_dir(&g).unwrap();
    let flat = g.join("guest-flat.vmdk");
    fs::File::create(&flat).unwrap().set_len(256 << 20).unwrap();
    write_noise(&flat, 0, 256 << 20, 11);
    fs::write(
        g.join("guest.vmdk"),
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
         createType=\"monolithicFlat\"\n\nRW 524288 FLAT \"guest-flat.vmdk\" 0\n",
    )
    .unwrap();
    let vmx = g.join("guest.vmx");
    fs::write(
        &vmx,
        ".encoding = \"UTF-8\"\nconfig.version = \"8\"\nvirtualHW.version = \"14\"\n\
         displayName = \"sshguest\"\nguestOS = \"debian10-64\"\nmemSize = \"1024\"\n\
         numvcpus = \"1\"\nscsi0.present = \"TRUE\"\nscsi0.virtualDev = \"pvscsi\"\n\
         scsi0:0.present = \"TRUE\"\nscsi0:0.deviceType = \"scsi-hardDisk\"\n\
         scsi0:0.fileName = \"guest.vmdk\"\n",
    )
    .unwrap();
    let sum = sha256(&flat);
    let out = sb.path("out");
    fs::create_dir(&out).unwrap();
    let scene = Scene::new(&sb, &out, &flat, &sum);
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    for (i, (who, runner)) in runners().into_iter().enumerate() {
        sb.clear_tmpdir();
        let keys = sb.path(&format!("ssh{i}"));
        fs::create_dir(&keys).unwrap();
        let mut sshd = v2v_test_support::Sshd::start(&keys);
        let uri = format!("ssh://{}@127.0.0.1:{}{}", user.trim(), sshd.port, s(&vmx));
        let mut cmd = runner(&sb);
        cmd.args([
            "--events",
            "fd:1",
            "--no-convert",
            "-i",
            "vmx",
            "-it",
            "ssh",
        ])
        .arg("-io")
        .arg(format!("ssh-identity={}", keys.join("id").display()))
        .arg("-io")
        .arg(format!(
            "ssh-known-hosts={}",
            keys.join("known_hosts").display()
        ))
        .arg(&uri)
        .args(["-o", "local", "-os", s(&out)]);
        let t = Instant::now();
        let (child, _rx) = start_until(cmd, |l| l.contains("\"disk-started\""));
        // Mid-copy: 32 MiB of the target written.
        let target = out.join("sshguest-sda");
        while allocated(&target) < 32 << 20 {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "{who}: the copy does not progress"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let copied = allocated(&target);
        let sessions = sshd.sessions();
        assert!(!sessions.is_empty(), "{who}: no ssh session while copying");
        assert!(sshd.kill(), "{who}: the sshd's sessions outlived SIGKILL");
        let o = child.wait_with_output().unwrap();
        let r = Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        eprintln!(
            "{who}: ssh dropped after {} MiB ({} sessions killed): exit {} in {:.1}s: {}",
            copied >> 20,
            sessions.len(),
            r.code,
            t.elapsed().as_secs_f64(),
            r.last_err_line()
        );
        scene.assert_fault(who, &r, 1, "copy", &["reading in1", "Input/output error"]);
    }
}
