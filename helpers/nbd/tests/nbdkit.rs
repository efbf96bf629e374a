//! Tests of `v2v-nbd` against a real nbdkit (no mocks).
//!
//! Most tests start a throwaway `nbdkit -s --exit-with-parent` on the
//! handle's own stdin/stdout with `connect_command`; `unix_socket_file`
//! starts nbdkit on a Unix socket with a pidfile and kills it by PID.
//! If nbdkit is not installed these tests fail, they do not skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use v2v_nbd::{Extent, Handle};

const K: u64 = 1024;
const M: u64 = 1024 * K;
const G: u64 = 1024 * M;

/// Panic unless nbdkit can be run.
fn require_nbdkit() {
    match Command::new("nbdkit").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "nbdkit not found: `nbdkit --version` exited with {}",
            o.status
        ),
        Err(e) => panic!("nbdkit not found: {e}"),
    }
}

/// A handle connected to `nbdkit -s --exit-with-parent [extra...] memory size=SIZE [params...]`.
fn nbdkit_memory(size: &str, extra: &[&str], params: &[&str]) -> Handle {
    require_nbdkit();
    let size = format!("size={size}");
    let mut argv = vec!["nbdkit", "-s", "--exit-with-parent"];
    argv.extend_from_slice(extra);
    argv.push("memory");
    argv.push(&size);
    argv.extend_from_slice(params);
    let h = Handle::new().unwrap();
    h.set_handle_name("test").unwrap();
    h.connect_command(&argv)
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    h
}

/// Poll until nothing is in flight (with a generous deadline).
fn drain(h: &Handle) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.aio_in_flight().unwrap() > 0 {
        assert!(Instant::now() < deadline, "aio commands did not complete");
        h.poll(1000).unwrap();
    }
}

/// Extents must be sorted, contiguous, non-empty and cover `[offset, offset+count)`.
fn assert_covers(extents: &[Extent], offset: u64, count: u64) {
    assert!(!extents.is_empty());
    assert_eq!(extents[0].offset, offset, "{extents:?}");
    let mut at = offset;
    for e in extents {
        assert_eq!(e.offset, at, "gap or overlap in {extents:?}");
        assert!(e.length > 0, "empty extent in {extents:?}");
        at += e.length;
    }
    assert_eq!(
        at,
        offset + count,
        "extents do not end at the range end: {extents:?}"
    );
}

/// Is `[offset, offset+len)` entirely data (not zero) according to `extents`?
fn is_data(extents: &[Extent], offset: u64, len: u64) -> bool {
    extents
        .iter()
        .filter(|e| e.offset < offset + len && e.end() > offset)
        .all(|e| !e.zero && !e.hole)
}

/// Is `[offset, offset+len)` entirely zero according to `extents`?
fn is_zero(extents: &[Extent], offset: u64, len: u64) -> bool {
    extents
        .iter()
        .filter(|e| e.offset < offset + len && e.end() > offset)
        .all(|e| e.zero)
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(31).wrapping_add(seed * 7 + 1) % 251) as u8 | 1)
        .collect()
}

#[test]
fn memory_basics() {
    let h = nbdkit_memory("4M", &[], &[]);
    assert_eq!(h.size().unwrap(), 4 * M);
    assert!(!h.is_read_only().unwrap());
    assert!(h.can_flush().unwrap());
    assert!(h.can_trim().unwrap());
    assert!(h.can_zero().unwrap());
    assert!(h.can_meta_context_base_allocation().unwrap());
    // Just check these answer; their values depend on the nbdkit version.
    h.can_fast_zero().unwrap();
    h.can_multi_conn().unwrap();
    h.preferred_block_size().unwrap();
    assert!(h.max_request_size().unwrap() >= 64 * K as usize);

    // Round trip, unaligned.
    let data = pattern(1, 100_000);
    h.pwrite(&data, 12_345).unwrap();
    let mut back = vec![0u8; data.len()];
    h.pread(&mut back, 12_345).unwrap();
    assert_eq!(back, data);

    // Zero part of it, without and with trimming allowed.
    h.zero(4096, 20_000, false, false).unwrap();
    h.zero(4096, 30_000, false, true).unwrap();
    h.pread(&mut back, 12_345).unwrap();
    let mut expect = data.clone();
    expect[20_000 - 12_345..24_096 - 12_345].fill(0);
    expect[30_000 - 12_345..34_096 - 12_345].fill(0);
    assert_eq!(back, expect);
    if h.can_fast_zero().unwrap() {
        h.zero(64 * K, 0, true, true).unwrap();
    }
    // count 0 is a no-op, not an error.
    h.zero(0, 0, false, false).unwrap();

    h.flush().unwrap();
    // Trimmed data reads as unspecified, so only check it succeeds.
    h.trim(M, M).unwrap();
    h.trim(0, 0).unwrap();

    // A buffer larger than one request is split.
    let big = pattern(2, 3 * M as usize + 17);
    h.pwrite(&big, 100).unwrap();
    let mut big_back = vec![0u8; big.len()];
    h.pread(&mut big_back, 100).unwrap();
    assert!(big_back == big);

    // Without libnbd's pre-initialisation a read still overwrites the
    // whole buffer, including a hole (sent by nbdkit as a hole chunk).
    assert!(h.pread_initialize());
    h.set_pread_initialize(false).unwrap();
    assert!(!h.pread_initialize());
    let mut stale = vec![0xa5u8; big.len()];
    h.pread(&mut stale, 100).unwrap();
    assert!(stale == big);
    h.trim(3 * M + 1024, 64 * K).unwrap();
    h.zero(3 * M, 512 * K, false, false).unwrap();
    let mut stale = vec![0xa5u8; 512 * K as usize];
    h.pread(&mut stale, 3 * M).unwrap();
    assert!(stale.iter().all(|&b| b == 0));

    h.shutdown().unwrap();
}

#[test]
fn block_status_sparse() {
    let h = nbdkit_memory("64M", &[], &[]);
    let size = h.size().unwrap();

    // Untouched memory disk: all zero, one merged extent.
    let e = h.block_status(0, size).unwrap();
    assert_covers(&e, 0, size);
    assert!(is_zero(&e, 0, size), "{e:?}");

    // Data at two places.
    h.pwrite(&pattern(3, M as usize), M).unwrap();
    h.pwrite(&pattern(4, 256 * K as usize), 40 * M).unwrap();

    let e = h.block_status(0, size).unwrap();
    assert_covers(&e, 0, size);
    assert!(is_data(&e, M, M), "{e:?}");
    assert!(is_data(&e, 40 * M, 256 * K), "{e:?}");
    assert!(is_zero(&e, 0, M), "{e:?}");
    assert!(is_zero(&e, 4 * M, 32 * M), "{e:?}");
    assert!(is_zero(&e, 48 * M, size - 48 * M), "{e:?}");
    assert!(
        e.iter().any(|x| x.hole),
        "memory plugin should report holes: {e:?}"
    );

    // A range starting and ending inside extents is clamped exactly.
    let (off, len) = (M + 123, 39 * M + 1000);
    let e = h.block_status(off, len).unwrap();
    assert_covers(&e, off, len);
    assert!(is_data(&e, off, M - 123), "{e:?}");
    assert!(is_data(&e, 40 * M, 1000 + 123), "{e:?}");

    // Tiny ranges.
    let e = h.block_status(M + 1, 1).unwrap();
    assert_eq!(
        e,
        vec![Extent {
            offset: M + 1,
            length: 1,
            zero: false,
            hole: false
        }]
    );
    assert!(h.block_status(0, 0).unwrap().is_empty());

    // Zeroing data turns it back into zero extents.
    h.zero(M, M, false, true).unwrap();
    let e = h.block_status(0, 4 * M).unwrap();
    assert_covers(&e, 0, 4 * M);
    assert!(is_zero(&e, 0, 4 * M), "{e:?}");

    // Beyond the end is an error.
    let err = h.block_status(size - 10, 20).unwrap_err();
    assert!(!err.message.is_empty());
}

#[test]
fn block_status_over_4g() {
    let h = nbdkit_memory("10G", &[], &[]);
    let size = h.size().unwrap();
    assert_eq!(size, 10 * G);
    let spots = [0, 3 * G - 4 * K, 5 * G, 9 * G + 512 * M, size - 64 * K];
    for (i, &off) in spots.iter().enumerate() {
        h.pwrite(&pattern(i as u64, 64 * K as usize), off).unwrap();
    }
    let e = h.block_status(0, size).unwrap();
    assert_covers(&e, 0, size);
    for &off in &spots {
        assert!(is_data(&e, off, 64 * K), "{off}: {e:?}");
    }
    assert!(is_zero(&e, 64 * K, 2 * G), "{e:?}");
    assert!(is_zero(&e, 5 * G + 64 * K, 4 * G), "{e:?}");
    // The whole disk except a few pages is zero.
    let data: u64 = e.iter().filter(|x| !x.zero).map(|x| x.length).sum();
    assert!(data < 64 * M, "too much data: {data}");

    // An odd range crossing several 2 GiB request boundaries.
    let (off, len) = (G + 1, 8 * G + 3);
    let e = h.block_status(off, len).unwrap();
    assert_covers(&e, off, len);
    assert!(is_data(&e, 5 * G, 64 * K), "{e:?}");
}

#[test]
fn block_status_without_meta_context() {
    // --no-sr: no structured replies, hence no metadata contexts.
    let h = nbdkit_memory("8M", &["--no-sr"], &[]);
    assert!(!h.can_meta_context_base_allocation().unwrap());
    let e = h.block_status(K, 6 * M).unwrap();
    assert_eq!(
        e,
        vec![Extent {
            offset: K,
            length: 6 * M,
            zero: false,
            hole: false
        }]
    );
}

#[test]
fn aio_many_in_flight() {
    let h = nbdkit_memory("64M", &[], &[]);
    const N: u64 = 256;
    const LEN: usize = 64 * 1024;

    // Write N buffers without waiting.
    let ok = Arc::new(AtomicUsize::new(0));
    let returned = Arc::new(Mutex::new(Vec::new()));
    for i in 0..N {
        let ok = Arc::clone(&ok);
        let returned = Arc::clone(&returned);
        h.aio_pwrite(pattern(i, LEN), i * LEN as u64, move |buf, r| {
            r.unwrap();
            ok.fetch_add(1, Ordering::SeqCst);
            returned.lock().unwrap().push(buf);
        })
        .unwrap();
    }
    drain(&h);
    assert_eq!(ok.load(Ordering::SeqCst), N as usize);
    // The buffers come back intact, ready for reuse.
    let mut bufs = std::mem::take(&mut *returned.lock().unwrap());
    assert_eq!(bufs.len(), N as usize);
    assert!(bufs.iter().all(|b| b.len() == LEN));

    // Zero one of them, flush, then read everything back reusing the buffers.
    let zeroed = 7;
    let flags = Arc::new(Mutex::new(Vec::new()));
    let f = Arc::clone(&flags);
    h.aio_zero(LEN as u64, zeroed * LEN as u64, false, true, move |r| {
        f.lock().unwrap().push(("zero", r))
    })
    .unwrap();
    drain(&h);
    let f = Arc::clone(&flags);
    h.aio_flush(move |r| f.lock().unwrap().push(("flush", r)))
        .unwrap();
    drain(&h);
    assert_eq!(
        *flags.lock().unwrap(),
        vec![("zero", Ok(())), ("flush", Ok(()))]
    );

    let results = Arc::new(Mutex::new(Vec::new()));
    let mut cookies = Vec::new();
    for i in 0..N {
        let mut buf = bufs.pop().unwrap();
        buf.fill(0xAA);
        let results = Arc::clone(&results);
        let cookie = h
            .aio_pread(buf, i * LEN as u64, move |buf, r| {
                results.lock().unwrap().push((i, buf, r));
            })
            .unwrap();
        cookies.push(cookie);
    }
    cookies.sort_unstable();
    cookies.dedup();
    assert_eq!(cookies.len(), N as usize, "cookies are unique");
    drain(&h);
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    assert_eq!(results.len(), N as usize);
    results.sort_by_key(|r| r.0);
    for (i, buf, r) in results {
        r.unwrap();
        if i == zeroed {
            assert!(buf.iter().all(|&b| b == 0), "block {i} not zeroed");
        } else {
            assert!(buf == pattern(i, LEN), "block {i} differs");
        }
    }
}

#[test]
fn aio_own_event_loop() {
    // Drive libnbd with libc::poll on its fd, as a copier's event loop would.
    let h = nbdkit_memory("1M", &[], &[]);
    let fd = h.aio_get_fd().unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..16u64 {
        let done = Arc::clone(&done);
        h.aio_pwrite(vec![i as u8 + 1; 4096], i * 4096, move |_, r| {
            r.unwrap();
            done.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.aio_in_flight().unwrap() > 0 {
        assert!(Instant::now() < deadline);
        let dir = h.aio_get_direction();
        let mut events = 0;
        if dir & v2v_nbd::DIRECTION_READ != 0 {
            events |= libc::POLLIN;
        }
        if dir & v2v_nbd::DIRECTION_WRITE != 0 {
            events |= libc::POLLOUT;
        }
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 1000) };
        assert!(n >= 0);
        if pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            h.aio_notify_read().unwrap();
        } else if pfd.revents & libc::POLLOUT != 0 {
            h.aio_notify_write().unwrap();
        }
    }
    assert_eq!(done.load(Ordering::SeqCst), 16);
    let mut b = vec![0u8; 4096];
    h.pread(&mut b, 15 * 4096).unwrap();
    assert!(b.iter().all(|&x| x == 16));
}

#[test]
fn errors() {
    let h = nbdkit_memory("1M", &[], &[]);
    let mut buf = vec![0u8; 4096];

    // Past the end: rejected by libnbd before it reaches the server.
    let e = h.pread(&mut buf, M - 100).unwrap_err();
    assert!(!e.message.is_empty());
    assert_ne!(e.errno, 0);
    assert!(
        e.to_string().starts_with("pread 4096 bytes at offset"),
        "{e}"
    );
    assert!(e.to_string().contains("(errno "), "{e}");
    let e = h
        .aio_pread(buf.clone(), M, |_, _| panic!("must not be called"))
        .unwrap_err();
    assert_ne!(e.errno, 0);
    assert_eq!(h.aio_in_flight().unwrap(), 0);
    // The handle still works after errors.
    h.pread(&mut buf, 0).unwrap();

    // Unknown socket.
    let e = Handle::open("/nonexistent/v2v-nbd.sock").unwrap_err();
    assert!(e.context.contains("/nonexistent/v2v-nbd.sock"), "{e}");
    assert_ne!(e.errno, 0);
}

#[test]
fn server_error_reaches_completion() {
    // The error filter fails every read with EIO: the completion closure
    // must see Err(EIO), and the synchronous call must return Err.
    let h = nbdkit_memory(
        "1M",
        &["--filter=error"],
        &["error-pread=EIO", "error-pread-rate=100%"],
    );
    let got = Arc::new(Mutex::new(None));
    let g = Arc::clone(&got);
    h.aio_pread(vec![0u8; 512], 0, move |buf, r| {
        *g.lock().unwrap() = Some((buf.len(), r));
    })
    .unwrap();
    drain(&h);
    assert_eq!(*got.lock().unwrap(), Some((512, Err(libc::EIO))));

    let e = h.pread(&mut [0u8; 512], 0).unwrap_err();
    assert_eq!(e.errno, libc::EIO, "{e}");
    // Writes still work.
    h.pwrite(&[1u8; 512], 0).unwrap();
}

#[test]
fn panic_in_completion_is_reraised() {
    let h = nbdkit_memory("1M", &[], &[]);
    h.aio_pwrite(vec![1u8; 512], 0, |_, _| panic!("boom from callback"))
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drain(&h)));
    let payload = r.expect_err("panic must be re-raised");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom from callback"));
    // The command was still retired and the handle is usable.
    assert_eq!(h.aio_in_flight().unwrap(), 0);
    let mut b = [0u8; 512];
    h.pread(&mut b, 0).unwrap();
    assert_eq!(b, [1u8; 512]);
}

#[test]
fn dropped_with_commands_in_flight() {
    // Closures of abandoned commands are dropped (freeing their buffers),
    // never called.
    let h = nbdkit_memory("1M", &["--filter=delay"], &["delay-read=1"]);
    let called = Arc::new(AtomicUsize::new(0));
    let tracker = Arc::new(());
    for i in 0..4u64 {
        let called = Arc::clone(&called);
        let t = Arc::clone(&tracker);
        h.aio_pread(vec![0u8; 512], i * 512, move |_, _| {
            let _t = t;
            called.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    assert!(h.aio_in_flight().unwrap() > 0);
    drop(h);
    assert_eq!(called.load(Ordering::SeqCst), 0);
    assert_eq!(Arc::strong_count(&tracker), 1, "closures were freed");
}

#[test]
fn send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Handle>();

    let h = Arc::new(nbdkit_memory("8M", &[], &[]));
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let h = Arc::clone(&h);
            std::thread::spawn(move || {
                for i in 0..50u64 {
                    let off = t * 4 * M + i * 8 * K;
                    let data = pattern(t * 1000 + i, 8 * K as usize);
                    h.pwrite(&data, off).unwrap();
                    let mut back = vec![0u8; data.len()];
                    h.pread(&mut back, off).unwrap();
                    assert!(back == data);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // The handle can also move to another thread wholesale.
    let h = Arc::try_unwrap(h).unwrap();
    std::thread::spawn(move || assert_eq!(h.size().unwrap(), 8 * M))
        .join()
        .unwrap();
}

/// An nbdkit serving a file on a Unix socket; killed by PID on drop.
struct UnixServer {
    child: Child,
    pidfile: PathBuf,
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(&self.pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<libc::pid_t>().ok())
            .unwrap_or(self.child.id() as libc::pid_t);
        // SAFETY: plain kill(2) of the server we started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Wait (up to 30 s) until a server we started has made its socket.
fn wait_for_socket(sock: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_unix_server(dir: &Path, img: &Path) -> (UnixServer, PathBuf) {
    require_nbdkit();
    let sock = dir.join("sock");
    let pidfile = dir.join("nbdkit.pid");
    let child = Command::new("nbdkit")
        .arg("--unix")
        .arg(&sock)
        .arg("--pidfile")
        .arg(&pidfile)
        .args(["-f", "--exit-with-parent", "file"])
        .arg(format!("file={}", img.display()))
        .spawn()
        .expect("nbdkit not found");
    let server = UnixServer { child, pidfile };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = std::fs::read_to_string(&server.pidfile)
            .map(|s| !s.trim().is_empty())
            .unwrap_or(false);
        if ready && sock.exists() {
            break;
        }
        assert!(Instant::now() < deadline, "nbdkit did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, sock)
}

#[test]
fn unix_socket_file() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 * M)
        .unwrap();
    let (server, sock) = start_unix_server(dir.path(), &img);

    {
        let h = Handle::new().unwrap();
        h.connect_unix(&sock).unwrap();
        assert_eq!(h.size().unwrap(), 16 * M);
        h.pwrite(b"hello, nbd", 5 * M).unwrap();
        h.flush().unwrap();
        let e = h.block_status(0, 16 * M).unwrap();
        assert_covers(&e, 0, 16 * M);
        h.shutdown().unwrap();
    }

    // Handle::open with a path and with an nbd+unix URI.
    let h = Handle::open(sock.to_str().unwrap()).unwrap();
    let mut b = [0u8; 10];
    h.pread(&mut b, 5 * M).unwrap();
    assert_eq!(&b, b"hello, nbd");
    drop(h);
    let uri = format!("nbd+unix:///?socket={}", sock.display());
    let h = Handle::open(&uri).unwrap();
    h.pread(&mut b, 5 * M).unwrap();
    assert_eq!(&b, b"hello, nbd");
    drop(h);

    // The write reached the file.
    let content = std::fs::read(&img).unwrap();
    assert_eq!(&content[5 * M as usize..5 * M as usize + 10], b"hello, nbd");

    let pid: libc::pid_t = std::fs::read_to_string(dir.path().join("nbdkit.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    drop(server);
    // SAFETY: signal 0 only checks whether the process exists.
    assert_ne!(unsafe { libc::kill(pid, 0) }, 0, "nbdkit still running");
}

/// `open_within` and `pread_within` give up on a server that accepts and
/// never answers (the handshake) or never answers a read, in bounded time.
#[test]
fn bounded_open_and_read() {
    require_nbdkit();
    let dir = tempfile::tempdir().unwrap();

    // A socket that accepts connections (the kernel's backlog) and never
    // says a word: the handshake never starts.
    let silent = dir.path().join("silent");
    let _listener = std::os::unix::net::UnixListener::bind(&silent).unwrap();
    let t = Instant::now();
    let Err(e) = Handle::open_within(silent.to_str().unwrap(), Duration::from_millis(500)) else {
        panic!("a silent server was accepted");
    };
    assert_eq!(e.errno, libc::ETIMEDOUT, "{e}");
    assert!(e.to_string().contains("no answer"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // A server that shakes hands but delays every read by 30 s.
    let sock = dir.path().join("slow");
    let pidfile = dir.path().join("slow.pid");
    let child = Command::new("nbdkit")
        .arg("--unix")
        .arg(&sock)
        .arg("--pidfile")
        .arg(&pidfile)
        .args([
            "-f",
            "--exit-with-parent",
            "--filter=delay",
            "memory",
            "1M",
            "rdelay=30",
        ])
        .spawn()
        .expect("nbdkit");
    let _server = UnixServer { child, pidfile };
    wait_for_socket(&sock, "nbdkit");
    let h = Handle::open_within(sock.to_str().unwrap(), Duration::from_secs(10)).unwrap();
    assert_eq!(h.size().unwrap(), M);
    let mut b = [0u8; 512];
    let t = Instant::now();
    let e = h
        .pread_within(&mut b, 0, Duration::from_millis(500))
        .unwrap_err();
    assert_eq!(e.errno, libc::ETIMEDOUT, "{e}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // An ordinary server answers within the limit.
    let h = nbdkit_memory("1M", &[], &[]);
    h.pwrite(b"bounded", 4096).unwrap();
    let mut b = [0u8; 7];
    h.pread_within(&mut b, 4096, Duration::from_secs(10))
        .unwrap();
    assert_eq!(&b, b"bounded");
}

/// qemu-nbd behind qemu's `compress` filter announces a minimum block size
/// of one qcow2 cluster, and libnbd then refuses unaligned writes; nbdkit's
/// memory plugin announces none or 1.
#[test]
fn min_block_size_of_compressed_qcow2() {
    let h = nbdkit_memory("1M", &[], &[]);
    assert!(matches!(h.min_block_size().unwrap(), None | Some(1)));
    drop(h);

    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.qcow2");
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&img)
        .arg("4M")
        .status()
        .expect("qemu-img not found");
    assert!(st.success());
    let sock = dir.path().join("sock");
    let pidfile = dir.path().join("qemu-nbd.pid");
    let opts = format!(
        "driver=compress,file.driver=qcow2,file.file.driver=file,file.file.filename={}",
        img.display()
    );
    let child = Command::new("qemu-nbd")
        .arg("-k")
        .arg(&sock)
        .arg("--pid-file")
        .arg(&pidfile)
        .args(["-t", "--image-opts", &opts])
        .spawn()
        .expect("qemu-nbd not found");
    let _server = UnixServer { child, pidfile };
    wait_for_socket(&sock, "qemu-nbd");
    let h = Handle::new().unwrap();
    h.connect_unix(&sock).unwrap();
    assert_eq!(h.min_block_size().unwrap(), Some(64 * K));
    let e = h.pwrite(&[1u8; 4096], 0).unwrap_err();
    assert!(e.to_string().contains("unaligned"), "{e}");
    h.pwrite(&pattern(3, 64 * K as usize), 64 * K).unwrap();
    h.shutdown().unwrap();
}

/// `qemu:allocation-depth` from qemu-nbd --allocation-depth on a qcow2
/// overlay over a raw backing (as the inputs serve a disk for the
/// overlapped copy): 1 where the overlay was written or zeroed, 2 where
/// the backing holds the data; a context not asked for is an error.
#[test]
fn allocation_depth_of_an_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    std::fs::write(&base, pattern(9, 4 * M as usize)).unwrap();
    let ov = dir.path().join("ov.qcow2");
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&base)
        .arg(&ov)
        .status()
        .expect("qemu-img not found");
    assert!(st.success());
    let sock = dir.path().join("sock");
    let pidfile = dir.path().join("qemu-nbd.pid");
    let child = Command::new("qemu-nbd")
        .arg("-k")
        .arg(&sock)
        .arg("--pid-file")
        .arg(&pidfile)
        .args([
            "-f",
            "qcow2",
            "--allocation-depth",
            "--persistent",
            "--shared=2",
        ])
        .arg(&ov)
        .spawn()
        .expect("qemu-nbd not found");
    let _server = UnixServer { child, pidfile };
    wait_for_socket(&sock, "qemu-nbd");
    let ctx = v2v_nbd::CONTEXT_ALLOCATION_DEPTH;

    let plain = Handle::open(&sock.display().to_string()).unwrap();
    assert!(!plain.can_meta_context(ctx).unwrap());
    assert!(plain.block_status_of(ctx, 0, M).is_err());
    plain.shutdown().unwrap();

    let h = Handle::open_with(&sock.display().to_string(), &[ctx]).unwrap();
    assert!(h.can_meta_context(ctx).unwrap());
    assert!(h.can_meta_context_base_allocation().unwrap());
    h.pwrite(&pattern(1, 64 * K as usize), M).unwrap();
    h.zero(128 * K, 3 * M, false, false).unwrap();
    let depth: Vec<(u64, u64, u32)> = h
        .block_status_of(ctx, 0, 4 * M)
        .unwrap()
        .iter()
        .map(|e| (e.offset, e.length, e.flags))
        .collect();
    assert_eq!(
        depth,
        vec![
            (0, M, 2),
            (M, 64 * K, 1),
            (M + 64 * K, 2 * M - 64 * K, 2),
            (3 * M, 128 * K, 1),
            (3 * M + 128 * K, M - 128 * K, 2),
        ]
    );
    // base:allocation still works on the same handle.
    let ext = h.block_status(0, 4 * M).unwrap();
    assert_covers(&ext, 0, 4 * M);
    assert!(is_zero(&ext, 3 * M, 128 * K));
    h.shutdown().unwrap();
}
