//! CLI tests of helper-v2v-copy against real servers (nbdkit, qemu-nbd) and
//! real tools (qemu-img).  A missing tool fails the test, it never skips.

use std::fs::{self, File};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_helper-v2v-copy");
const K: u64 = 1024;
const M: u64 = 1024 * K;

fn require(tool: &str) {
    match Command::new(tool).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!("{tool} not found (install it: scripts/install-deps.sh)"),
    }
}

fn copy(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run helper-v2v-copy")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Deterministic pseudo-random bytes (xorshift), never all zero.
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// A sparse raw image of `size` bytes with random data written at each
/// `(offset, length)`, and written (allocated) zeroes at each `zeros` range.
fn make_image(path: &Path, size: u64, data: &[(u64, u64)], zeros: &[(u64, u64)]) {
    let f = File::create(path).unwrap();
    f.set_len(size).unwrap();
    for (i, &(off, len)) in zeros.iter().enumerate() {
        let _ = i;
        f.write_all_at(&vec![0u8; len as usize], off).unwrap();
    }
    for (i, &(off, len)) in data.iter().enumerate() {
        f.write_all_at(&random_bytes(len as usize, 7 + i as u64), off)
            .unwrap();
    }
    f.sync_all().unwrap();
}

fn qemu_img_compare(a: &Path, afmt: &str, b: &Path, bfmt: &str) {
    require("qemu-img");
    let o = Command::new("qemu-img")
        .args(["compare", "-U", "-f", afmt, "-F", bfmt])
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "qemu-img compare {} {}: {}{}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn allocated(p: &Path) -> u64 {
    fs::metadata(p).unwrap().blocks() * 512
}

/// A server child, killed (by its PID) when dropped.
struct Server {
    child: Child,
    sock: PathBuf,
}

impl Server {
    fn uri(&self) -> String {
        format!("nbd+unix:///?socket={}", self.sock.display())
    }
    fn wait(mut self) -> Self {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.sock.exists() {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("server for {} exited: {st}", self.sock.display());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not appear",
                self.sock.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nbdkit(sock: &Path, args: &[&str]) -> Server {
    require("nbdkit");
    let child = Command::new("nbdkit")
        .args(["-f", "-U"])
        .arg(sock)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .expect("nbdkit not found");
    Server {
        child,
        sock: sock.to_path_buf(),
    }
    .wait()
}

fn qemu_nbd(sock: &Path, args: &[&str], file: &Path) -> Server {
    require("qemu-nbd");
    let child = Command::new("qemu-nbd")
        .args(["-t", "--shared=0", "-k"])
        .arg(sock)
        .args(args)
        .arg(file)
        .stdin(Stdio::null())
        .spawn()
        .expect("qemu-nbd not found");
    Server {
        child,
        sock: sock.to_path_buf(),
    }
    .wait()
}

/// A source with every kind of region: data, a hole, written zeroes,
/// a zero run inside data, and an unaligned data tail.
fn mixed_source(path: &Path) -> u64 {
    let size = 40 * M + 12345; // not a multiple of 512 nor of any request size
    let data = [
        (0, 3 * M + 512),
        (4 * M + 4 * K, 100 * K),
        (20 * M, M),
        (21 * M + 128 * K, M), // leaves 128 KiB of written zeroes inside data
        (size - 3000, 3000),   // unaligned tail
    ];
    let zeros = [(8 * M, 8 * M), (21 * M, 2 * M)];
    make_image(path, size, &data, &zeros);
    size
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &["--no-such-flag", "/tmp"][..],
        &[][..],
        &["a", "b", "c"][..],
        &["--parallel", "0", "/tmp"][..],
        &["--request-size", "3", "/tmp"][..],
        &["--bandwidth", "fast", "/tmp"][..],
        &["--bandwidth", "10X", "/tmp"][..],
    ] {
        let o = copy(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn missing_dir_and_files_exit_3() {
    let t = tempfile::tempdir().unwrap();
    let o = copy(&[t.path().join("nope").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let o = copy(&[t.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let last = stderr(&o).lines().last().unwrap_or_default().to_string();
    assert!(last.contains("metadata.in"), "{last}");
    // metadata.in present, output.json invalid.
    write_metadata(t.path(), &[(1, 1024)], &["raw"], false);
    fs::write(t.path().join("output.json"), "{not json").unwrap();
    let o = copy(&[t.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("output.json"), "{}", stderr(&o));
    // Both valid, sockets missing.
    write_metadata(t.path(), &[(1, 1024)], &["raw"], false);
    let o = copy(&[t.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("in1: socket missing"), "{}", stderr(&o));
    assert!(t.path().join("status/copy.error.json").exists());
}

#[test]
fn local_files_holes_zeros_unaligned_tail() {
    require("nbdkit");
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src.img");
    let dst = t.path().join("dst.img");
    mixed_source(&src);
    for rs in ["64K", "1M", "3M"] {
        let _ = fs::remove_file(&dst);
        let o = copy(&[
            "--request-size",
            rs,
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{rs}: {}", stderr(&o));
        assert_eq!(
            fs::metadata(&dst).unwrap().len(),
            fs::metadata(&src).unwrap().len()
        );
        qemu_img_compare(&src, "raw", &dst, "raw");
        // Sparse: the written zeroes (10 MiB of them) are not allocated.
        let (a, s) = (allocated(&dst), allocated(&src));
        assert!(
            a + 9 * M <= s,
            "{rs}: target {a} bytes allocated, source {s}"
        );
    }
}

#[test]
fn bandwidth_paces_the_reads_and_its_file_changes_it_while_copying() {
    require("nbdkit");
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src.img");
    let dst = t.path().join("dst.img");
    // 24 MiB of data (holes are not read, so not paced).
    make_image(&src, 64 * M, &[(0, 24 * M)], &[]);
    // 64 Mbit/s = 8 MiB/s, one second of burst: >= 2 s for 24 MiB.
    let t0 = Instant::now();
    let o = copy(&[
        "--bandwidth",
        "64M",
        "--request-size",
        "1M",
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
    ]);
    let paced = t0.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    qemu_img_compare(&src, "raw", &dst, "raw");
    assert!(paced >= Duration::from_millis(1900), "{paced:?}");
    // The file's 0 lifts the flag's limit (24 MiB at 1 Mbit/s would take
    // over three minutes).
    let bw = t.path().join("bw");
    fs::write(&bw, "0\n").unwrap();
    fs::remove_file(&dst).unwrap();
    let t0 = Instant::now();
    let o = copy(&[
        "--bandwidth",
        "1M",
        "--bandwidth-file",
        bw.to_str().unwrap(),
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
    qemu_img_compare(&src, "raw", &dst, "raw");
}

#[test]
fn existing_target_gets_zeroes_written_over_old_data() {
    require("nbdkit");
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src.img");
    let dst = t.path().join("dst.img");
    let size = mixed_source(&src);
    // The target already holds data everywhere: zero runs must be zeroed.
    make_image(&dst, size, &[(0, size)], &[]);
    let o = copy(&[src.to_str().unwrap(), dst.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    qemu_img_compare(&src, "raw", &dst, "raw");
}

#[test]
fn nbd_to_nbd_multi_conn_with_events() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src.img");
    let dst = t.path().join("dst.img");
    let size = mixed_source(&src);
    File::create(&dst).unwrap().set_len(size).unwrap();
    let s = nbdkit(
        &t.path().join("in1"),
        &["--filter=cow", "file", &format!("file={}", src.display())],
    );
    let d = nbdkit(
        &t.path().join("out1"),
        &["file", &format!("file={}", dst.display())],
    );
    let o = copy(&["-v", "--machine-readable", &s.uri(), &d.uri()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("multi-conn true"), "{}", stderr(&o));
    qemu_img_compare(&src, "raw", &dst, "raw");
    let events = parse_events(&o);
    let fin = events
        .iter()
        .find(|e| e["event"] == "disk-finished")
        .expect("disk-finished event");
    let n = |k: &str| fin[k].as_u64().unwrap();
    assert_eq!(
        n("bytes_copied") + n("bytes_zeroed") + n("bytes_skipped"),
        size
    );
    assert!(n("bytes_skipped") >= 10 * M, "{fin}");
    let pct: Vec<&str> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains('/') && !l.starts_with('{'))
        .map(|_| "")
        .collect();
    assert!(!pct.is_empty(), "no N/100 lines");
    assert!(String::from_utf8_lossy(&o.stdout)
        .lines()
        .any(|l| l == "100/100"));
    // The copy is durable and the source unchanged by the cow filter.
    drop(s);
    drop(d);
}

fn parse_events(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Write metadata.in and output.json for disks `(index, size)`, targets
/// of the given formats.
fn write_metadata(dir: &Path, disks: &[(u32, u64)], fmts: &[&str], tz: bool) {
    let src: Vec<_> = disks
        .iter()
        .map(|&(i, size)| {
            serde_json::json!({"index": i, "socket": format!("in{i}"), "format": "raw",
                               "size": size, "source": format!("disk{i}")})
        })
        .collect();
    let meta = serde_json::json!({"version": 1, "source": {
        "name": "guest", "origin": {"input_type": "disk", "location": []},
        "memory_bytes": 1u64 << 30, "vcpus": 1, "disks": src}});
    fs::write(dir.join("metadata.in"), meta.to_string()).unwrap();
    let out: Vec<_> = disks
        .iter()
        .zip(fmts)
        .map(|(&(i, size), f)| {
            serde_json::json!({"index": i, "socket": format!("out{i}"), "format": f,
                               "size": size, "created": true})
        })
        .collect();
    let o = serde_json::json!({"version": 1, "output_type": "local", "name": "guest",
                               "disks": out, "target_is_zero": tz});
    fs::write(dir.join("output.json"), o.to_string()).unwrap();
}

#[test]
fn dir_mode_two_disks_at_once_raw_and_qcow2() {
    require("qemu-img");
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    fs::create_dir(&dir).unwrap();
    let work = t.path();
    // Disk 1: raw through nbdkit file + cow, to a raw target.
    let src1 = work.join("d1.img");
    let dst1 = work.join("t1.img");
    let size1 = mixed_source(&src1);
    File::create(&dst1).unwrap().set_len(size1).unwrap();
    // Disk 2: qcow2 through qemu-nbd --snapshot, to a qcow2 target.
    let raw2 = work.join("d2.raw");
    let src2 = work.join("d2.qcow2");
    let dst2 = work.join("t2.qcow2");
    let size2 = 64 * M + 512;
    make_image(
        &raw2,
        size2,
        &[(M, 5 * M), (40 * M, 2 * M + 512), (size2 - 512, 512)],
        &[(10 * M, 4 * M)],
    );
    let conv = Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(&raw2)
        .arg(&src2)
        .status()
        .unwrap();
    assert!(conv.success());
    let mk = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&dst2)
        .arg(size2.to_string())
        .status()
        .unwrap();
    assert!(mk.success());
    let _s1 = nbdkit(
        &dir.join("in1"),
        &["--filter=cow", "file", &format!("file={}", src1.display())],
    );
    let _d1 = nbdkit(
        &dir.join("out1"),
        &["file", &format!("file={}", dst1.display())],
    );
    let _s2 = qemu_nbd(&dir.join("in2"), &["--snapshot", "-f", "qcow2"], &src2);
    let _d2 = qemu_nbd(&dir.join("out2"), &["-f", "qcow2"], &dst2);
    write_metadata(&dir, &[(1, size1), (2, size2)], &["raw", "qcow2"], true);
    let o = copy(&[
        "--machine-readable",
        "--request-size",
        "256K",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("status/copy.done").exists());
    qemu_img_compare(&src1, "raw", &dst1, "raw");
    qemu_img_compare(&src2, "qcow2", &dst2, "qcow2");
    assert!(allocated(&dst1) + 9 * M <= allocated(&src1));
    assert!(
        allocated(&dst2) < 12 * M,
        "qcow2 target {} bytes",
        allocated(&dst2)
    );
    // Both disks were in flight at once.
    let events = parse_events(&o);
    let pos = |kind: &str, disk: u64| {
        events
            .iter()
            .position(|e| e["event"] == kind && e["disk"] == disk)
            .unwrap_or_else(|| panic!("no {kind} for disk {disk}: {events:?}"))
    };
    let last_start = pos("disk-started", 1).max(pos("disk-started", 2));
    let first_finish = pos("disk-finished", 1).min(pos("disk-finished", 2));
    assert!(last_start < first_finish, "{events:?}");
    assert!(events.iter().any(|e| e["event"] == "progress"));
    // With --parallel 1 they go one after the other.
    let o = copy(&[
        "--machine-readable",
        "--parallel",
        "1",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let events = parse_events(&o);
    let kinds: Vec<String> = events
        .iter()
        .filter(|e| e["event"].as_str().is_some_and(|k| k.starts_with("disk-")))
        .map(|e| format!("{}{}", e["event"].as_str().unwrap(), e["disk"]))
        .collect();
    assert_eq!(
        kinds,
        [
            "disk-started1",
            "disk-finished1",
            "disk-started2",
            "disk-finished2"
        ]
    );
    qemu_img_compare(&src2, "qcow2", &dst2, "qcow2");
}

/// A source whose reads fail from `fail_at` on (nbdkit eval plugin).
fn failing_source(sock: &Path, size: u64, fail_at: u64) -> Server {
    nbdkit(
        sock,
        &[
            "eval",
            &format!("get_size=echo {size}"),
            &format!(
                "pread=if [ $4 -ge {fail_at} ]; then echo 'EIO injected' >&2; exit 1; fi; \
                 head -c $3 /dev/urandom"
            ),
        ],
    )
}

#[test]
fn io_error_mid_copy_names_disk_and_offset() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    fs::create_dir(&dir).unwrap();
    let size = 64 * M;
    let dst = t.path().join("t1.img");
    File::create(&dst).unwrap().set_len(size).unwrap();
    let _s = failing_source(&dir.join("in1"), size, 32 * M);
    let _d = nbdkit(
        &dir.join("out1"),
        &["file", &format!("file={}", dst.display())],
    );
    write_metadata(&dir, &[(1, size)], &["raw"], true);
    let o = copy(&["--request-size", "1M", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("helper-v2v-copy: error: disk 1: reading in1 at offset "),
        "{err}"
    );
    let off: u64 = last
        .split("at offset ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(off >= 32 * M, "{last}");
    assert!(last.contains("Input/output error"), "{last}");
    let e: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("status/copy.error.json")).unwrap())
            .unwrap();
    assert_eq!(e["disk"], 1);
    assert_eq!(e["exit_code"], 1);
}

#[test]
fn error_filter_read_error_by_hand_removes_created_target() {
    let t = tempfile::tempdir().unwrap();
    let s = nbdkit(
        &t.path().join("src"),
        &["--filter=error", "pattern", "size=8M", "error-pread-rate=1"],
    );
    let dst = t.path().join("new.img");
    let o = copy(&[&s.uri(), dst.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("disk 1: reading nbd+unix"),
        "{}",
        stderr(&o)
    );
    assert!(!dst.exists(), "partial target left behind");
}

#[test]
fn target_too_small_fails() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src.img");
    let dst = t.path().join("dst.img");
    make_image(&src, 2 * M, &[(0, M)], &[]);
    File::create(&dst).unwrap().set_len(M).unwrap();
    let o = copy(&[src.to_str().unwrap(), dst.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("smaller"), "{}", stderr(&o));
}

#[test]
fn target_is_zero_flag_skips_zeroes() {
    let t = tempfile::tempdir().unwrap();
    let s = nbdkit(&t.path().join("src"), &["memory", "size=16M"]);
    // A memory target that cannot report zeroes: with --target-is-zero the
    // copier writes nothing at all.
    let d = nbdkit(
        &t.path().join("dst"),
        &["--filter=noextents", "memory", "size=16M"],
    );
    let o = copy(&["--machine-readable", "--target-is-zero", &s.uri(), &d.uri()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ev = parse_events(&o);
    let fin = ev.iter().find(|e| e["event"] == "disk-finished").unwrap();
    assert_eq!(fin["bytes_skipped"], 16 * M, "{fin}");
    let o = copy(&["--machine-readable", &s.uri(), &d.uri()]);
    let ev = parse_events(&o);
    let fin = ev.iter().find(|e| e["event"] == "disk-finished").unwrap();
    assert_eq!(fin["bytes_zeroed"], 16 * M, "{fin}");
}

/// A copy that fails with reads still in flight disconnects cleanly: the
/// source's nbdkit (file + cow, as `helper-v2v-input-disk` serves a raw
/// disk) keeps serving, so `helper-v2v-cleanup --keep-conversion` can still
/// read the converted disk.  Closing abruptly instead crashed nbdkit 1.32
/// (`raw_send_socket: Assertion 'sock >= 0' failed`).
#[test]
fn failed_copy_leaves_the_source_server_serving() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v2v");
    fs::create_dir(&dir).unwrap();
    let size = 256 * M;
    let src = t.path().join("src.img");
    fs::write(&src, random_bytes(size as usize, 7)).unwrap();
    for round in 0..5 {
        let mut s = nbdkit(
            &dir.join("in1"),
            &["--filter=cow", "file", &format!("file={}", src.display())],
        );
        let _d = nbdkit(&dir.join("out1"), &["full", &format!("size={size}")]);
        write_metadata(&dir, &[(1, size)], &["raw"], true);
        let o = copy(&[dir.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("No space left on device"),
            "{}",
            stderr(&o)
        );
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            s.child.try_wait().unwrap().is_none(),
            "round {round}: the source's nbdkit died after the failed copy"
        );
        let info = Command::new("qemu-img")
            .args(["info", "--output=json", "-f", "raw", &s.uri()])
            .output()
            .unwrap();
        assert!(info.status.success(), "round {round}: {}", stderr(&info));
        drop(s);
        let _ = fs::remove_dir_all(dir.join("status"));
        let _ = fs::remove_file(dir.join("in1"));
        let _ = fs::remove_file(dir.join("out1"));
    }
}
