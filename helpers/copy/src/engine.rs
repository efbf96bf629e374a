//! The copy engine: per disk, N connection pairs (source, target), each
//! driven by one thread running its own libnbd aio loop with a bounded
//! number of requests and buffers in flight; a shared planner walks the
//! source's block status window by window and hands out work items.

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use v2v_meta::{exit_code, EventKind};
use v2v_nbd::Handle;

use crate::plan::{self, Item, PlanOpts};

/// Default request size (bytes) when neither `--request-size` nor
/// `output.json` says.
pub const DEFAULT_REQUEST_SIZE: u64 = 2 << 20;
/// Default commands in flight per connection.
pub const DEFAULT_REQUESTS: usize = 64;
/// Default bound on the data buffers of all connections of all disks.
pub const DEFAULT_QUEUE_BYTES: u64 = 32 << 20;
/// Most connections per disk chosen by default (see [`default_connections`]).
pub const DEFAULT_CONNECTIONS: usize = 4;
/// Connections per disk when both servers allow multi-conn: one per two
/// CPUs, at most [`DEFAULT_CONNECTIONS`].  Measured on a 2-vCPU machine,
/// extra connections cost more server CPU than they gain (case A: 9.4 s
/// with 1 connection, 12.7 s with 4).
pub fn default_connections() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus / 2).clamp(1, DEFAULT_CONNECTIONS)
}
/// Block status is asked for this much of the disk at a time.
const WINDOW: u64 = 1 << 31;

/// One end of a copy.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// An NBD URI (`nbd+unix:///?socket=...`) or the path of a Unix socket.
    Nbd(String),
    /// A local file, served by `nbdkit -s --exit-with-parent file` over
    /// the handle's own stdin/stdout (read-only for a source).
    File { path: PathBuf, write: bool },
}

impl Endpoint {
    /// A new connection.
    pub fn connect(&self) -> v2v_nbd::Result<Handle> {
        self.connect_with(&[])
    }

    /// A new connection that also asks for the metadata contexts
    /// `contexts`.
    pub fn connect_with(&self, contexts: &[&str]) -> v2v_nbd::Result<Handle> {
        match self {
            Endpoint::Nbd(t) => Handle::open_with(t, contexts),
            Endpoint::File { path, write } => {
                let h = Handle::new()?;
                for c in contexts {
                    h.add_meta_context(c)?;
                }
                let mut argv = vec![
                    "nbdkit".to_string(),
                    "-s".into(),
                    "--exit-with-parent".into(),
                ];
                if !write {
                    argv.push("-r".into());
                }
                argv.push("file".into());
                argv.push(format!("file={}", path.display()));
                helper_common::trace!("run: {}", helper_common::shell_quote(&argv));
                h.connect_command(&argv)?;
                Ok(h)
            }
        }
    }
}

/// One disk to copy.
#[derive(Debug, Clone)]
pub struct Disk {
    /// 1-based disk number (events, messages).
    pub index: u32,
    pub src: Endpoint,
    pub dst: Endpoint,
    /// Names for messages (`in1`, a URI, a path).
    pub src_name: String,
    pub dst_name: String,
}

/// Tuning, from flags and `output.json`.
#[derive(Debug, Clone)]
pub struct Options {
    pub request_size: Option<u64>,
    pub target_is_zero: bool,
    pub connections: Option<usize>,
    pub requests: usize,
    pub queue_bytes: u64,
    /// Disks copied at once.
    pub parallel: usize,
    /// Pass 2 of an overlapped copy: only the extents the source's top
    /// image holds (`qemu:allocation-depth` 1), see [`plan::plan_delta`].
    pub delta: bool,
    /// `--bandwidth`/`--bandwidth-file`: paces the source reads of every
    /// disk and connection together.
    pub rate: Option<Arc<crate::rate::Limiter>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            request_size: None,
            target_is_zero: false,
            connections: None,
            requests: DEFAULT_REQUESTS,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            parallel: usize::MAX,
            delta: false,
            rate: None,
        }
    }
}

/// Counters of one disk, shared with the progress thread.
#[derive(Debug, Default)]
pub struct Stats {
    pub index: u32,
    pub total: AtomicU64,
    pub copied: AtomicU64,
    pub zeroed: AtomicU64,
    pub skipped: AtomicU64,
    pub started: OnceLock<Instant>,
    pub finished: OnceLock<f64>,
}

impl Stats {
    pub fn new(index: u32) -> Self {
        Stats {
            index,
            ..Default::default()
        }
    }
    /// Bytes of the disk dealt with so far.
    pub fn done(&self) -> u64 {
        self.copied.load(Ordering::Relaxed)
            + self.zeroed.load(Ordering::Relaxed)
            + self.skipped.load(Ordering::Relaxed)
    }
}

/// Why a copy failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyError {
    pub disk: u32,
    pub code: u8,
    pub message: String,
}

impl CopyError {
    fn new(disk: u32, code: u8, message: impl Into<String>) -> Self {
        CopyError {
            disk,
            code,
            message: message.into(),
        }
    }
}

fn errno_text(e: i32) -> String {
    std::io::Error::from_raw_os_error(e).to_string()
}

/// Copy every disk, at most `opts.parallel` at once.  The first failure
/// stops the others and is returned.
pub fn copy_all(disks: &[Disk], opts: &Options, stats: &[Arc<Stats>]) -> Result<(), CopyError> {
    let abort = AtomicBool::new(false);
    let next = Mutex::new(0usize);
    let runners = opts.parallel.clamp(1, disks.len().max(1));
    let first_err: Mutex<Option<CopyError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..runners {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    let i = *n;
                    *n += 1;
                    i
                };
                if i >= disks.len() || abort.load(Ordering::Relaxed) {
                    return;
                }
                if let Err(e) = copy_disk(&disks[i], opts, &stats[i], &abort, runners) {
                    let mut fe = first_err.lock().unwrap();
                    // An "aborted" disk only reports if nothing else did.
                    if fe.is_none() {
                        *fe = Some(e);
                    }
                    abort.store(true, Ordering::Relaxed);
                    return;
                }
            });
        }
    });
    match first_err.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What a connection pair knows about its target.
#[derive(Debug, Clone, Copy)]
struct Caps {
    request_size: u64,
    can_zero: bool,
    can_fast_zero: bool,
    max_bufs: usize,
    max_ops: usize,
}

struct Conn {
    src: Handle,
    dst: Handle,
}

fn copy_disk(
    disk: &Disk,
    opts: &Options,
    stats: &Stats,
    abort: &AtomicBool,
    active_disks: usize,
) -> Result<(), CopyError> {
    let n = disk.index;
    let failed = |m: String| CopyError::new(n, exit_code::FAILED, m);
    let src_contexts: &[&str] = if opts.delta {
        &[v2v_nbd::CONTEXT_ALLOCATION_DEPTH]
    } else {
        &[]
    };
    let connect = |e: &Endpoint, name: &str, contexts: &[&str]| -> Result<Handle, CopyError> {
        let h = e.connect_with(contexts).map_err(|err| {
            CopyError::new(
                n,
                exit_code::EXTERNAL,
                format!("cannot connect to {name}: {err}"),
            )
        })?;
        let _ = h.set_handle_name(name);
        // Our read buffers are always initialised (see `Worker::buffer`):
        // skip libnbd's memset of every buffer before every read.
        let _ = h.set_pread_initialize(false);
        Ok(h)
    };
    let first = Conn {
        src: connect(&disk.src, &disk.src_name, src_contexts)?,
        dst: connect(&disk.dst, &disk.dst_name, &[])?,
    };
    if opts.delta
        && !first
            .src
            .can_meta_context(v2v_nbd::CONTEXT_ALLOCATION_DEPTH)
            .unwrap_or(false)
    {
        finish(std::slice::from_ref(&first));
        return Err(CopyError::new(
            n,
            exit_code::CONTRACT,
            format!(
                "--delta: source {} does not offer {} (not served by qemu-nbd --allocation-depth \
                 on an overlay): its delta cannot be found",
                disk.src_name,
                v2v_nbd::CONTEXT_ALLOCATION_DEPTH
            ),
        ));
    }
    let nbd = |what: &str, e: v2v_nbd::Error| failed(format!("{what}: {e}"));
    let size = first.src.size().map_err(|e| nbd(&disk.src_name, e))?;
    let dsize = first.dst.size().map_err(|e| nbd(&disk.dst_name, e))?;
    if dsize < size {
        return Err(failed(format!(
            "target {} is smaller ({dsize} bytes) than source {} ({size} bytes)",
            disk.dst_name, disk.src_name
        )));
    }
    if first.dst.is_read_only().unwrap_or(false) {
        return Err(failed(format!("target {} is read-only", disk.dst_name)));
    }
    let multi =
        first.src.can_multi_conn().unwrap_or(false) && first.dst.can_multi_conn().unwrap_or(false);
    let conns = match opts.connections {
        Some(c) => c.max(1),
        None if multi => default_connections(),
        None => 1,
    };
    let max_rs = first
        .src
        .max_request_size()
        .unwrap_or(32 << 20)
        .min(first.dst.max_request_size().unwrap_or(32 << 20)) as u64;
    // Requests start and end on the target's minimum block size (qemu's
    // compress filter: one cluster), else libnbd refuses them.
    let align = first
        .dst
        .min_block_size()
        .map_err(|e| nbd(&disk.dst_name, e))?
        .unwrap_or(1)
        .max(1);
    let request_size = opts
        .request_size
        .unwrap_or(DEFAULT_REQUEST_SIZE)
        .clamp(512, max_rs.max(512));
    let request_size = (request_size / align * align).max(align);
    let per_conn = opts.queue_bytes / request_size / (conns * active_disks) as u64;
    let caps = Caps {
        request_size,
        can_zero: first.dst.can_zero().unwrap_or(false),
        can_fast_zero: first.dst.can_fast_zero().unwrap_or(false),
        max_bufs: (per_conn as usize).clamp(2, opts.requests.max(2)),
        max_ops: opts.requests.max(2),
    };
    let can_flush = first.dst.can_flush().unwrap_or(false);
    helper_common::debug!(
        "disk {n}: {} -> {}: {size} bytes, multi-conn {multi}, {conns} connection(s), \
         request size {request_size}, alignment {align}, {} buffers and {} requests per connection, \
         zero {} fast-zero {} flush {can_flush}, target-is-zero {}",
        disk.src_name,
        disk.dst_name,
        caps.max_bufs,
        caps.max_ops,
        caps.can_zero,
        caps.can_fast_zero,
        opts.target_is_zero
    );
    let mut pairs = vec![first];
    for _ in 1..conns {
        pairs.push(Conn {
            src: connect(&disk.src, &disk.src_name, src_contexts)?,
            dst: connect(&disk.dst, &disk.dst_name, &[])?,
        });
    }
    stats.total.store(size, Ordering::Relaxed);
    let t0 = *stats.started.get_or_init(Instant::now);
    helper_common::log::event(EventKind::DiskStarted { disk: n, size });
    let planner = Mutex::new(Planner {
        size,
        pos: 0,
        pending: VecDeque::new(),
        delta: opts.delta,
        opts: PlanOpts {
            request_size,
            // Pass 2 writes over pass 1's copy.
            target_is_zero: opts.target_is_zero && !opts.delta,
            can_zero: caps.can_zero,
            align,
            disk_size: size,
        },
    });
    let results: Vec<Result<(), CopyError>> = std::thread::scope(|s| {
        let hs: Vec<_> = pairs
            .iter()
            .map(|c| {
                let planner = &planner;
                s.spawn(move || {
                    let rate = opts.rate.as_deref();
                    let r = Worker::new(c, disk, caps, stats, planner, abort, rate).run();
                    if r.is_err() {
                        abort.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(failed("copy thread panicked".into())))
            })
            .collect()
    });
    // Report a real error rather than "aborted" if there is one.
    let mut errs: Vec<CopyError> = results.into_iter().filter_map(|r| r.err()).collect();
    errs.sort_by_key(|e| e.message == ABORTED);
    if let Some(e) = errs.into_iter().next() {
        finish(&pairs);
        return Err(e);
    }
    if can_flush {
        pairs[0]
            .dst
            .flush()
            .map_err(|e| failed(format!("flushing {}: {e}", disk.dst_name)))?;
    }
    finish(&pairs);
    let seconds = t0.elapsed().as_secs_f64();
    let _ = stats.finished.set(seconds);
    helper_common::log::event(EventKind::DiskFinished {
        disk: n,
        bytes_copied: stats.copied.load(Ordering::Relaxed),
        bytes_zeroed: stats.zeroed.load(Ordering::Relaxed),
        bytes_skipped: stats.skipped.load(Ordering::Relaxed),
        seconds,
    });
    Ok(())
}

const ABORTED: &str = "aborted because another copy failed";

/// Disconnect every connection cleanly, also after a failure: the
/// commands still in flight complete first (see
/// [`v2v_nbd::Handle::finish_within`]), so the input's server lives on for
/// `helper-v2v-cleanup --keep-conversion` and a resumed run.
fn finish(pairs: &[Conn]) {
    for p in pairs {
        for (h, what) in [(&p.src, "source"), (&p.dst, "target")] {
            if let Err(e) = h.finish_within(FINISH_LIMIT) {
                helper_common::debug!("{what} connection: {e}");
            }
        }
    }
}

/// How long a disconnect may wait for the commands in flight.
const FINISH_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Walks the source's block status and hands out work items.
struct Planner {
    size: u64,
    pos: u64,
    pending: VecDeque<Item>,
    opts: PlanOpts,
    /// Plan with [`plan::plan_delta`].
    delta: bool,
}

impl Planner {
    /// Move up to `n` items into `out`, asking block status (on `c`) for
    /// the next window when none are pending.  Returns false when the disk
    /// has no more work.
    fn fill(
        &mut self,
        c: &Conn,
        out: &mut VecDeque<Item>,
        n: usize,
        stats: &Stats,
    ) -> v2v_nbd::Result<bool> {
        while self.pending.is_empty() && self.pos < self.size {
            let len = (self.size - self.pos).min(WINDOW);
            if self.delta {
                let depth =
                    c.src
                        .block_status_of(v2v_nbd::CONTEXT_ALLOCATION_DEPTH, self.pos, len)?;
                let (items, skipped) = plan::plan_delta(&depth, &self.opts);
                stats.skipped.fetch_add(skipped, Ordering::Relaxed);
                self.pending.extend(items);
                self.pos += len;
                continue;
            }
            let src = c.src.block_status(self.pos, len)?;
            let dst = if self.opts.target_is_zero {
                None
            } else {
                Some(c.dst.block_status(self.pos, len)?)
            };
            let (items, skipped) = plan::plan(&src, dst.as_deref(), &self.opts);
            stats.skipped.fetch_add(skipped, Ordering::Relaxed);
            self.pending.extend(items);
            self.pos += len;
        }
        for _ in 0..n {
            match self.pending.pop_front() {
                Some(i) => out.push_back(i),
                None => break,
            }
        }
        Ok(!out.is_empty() || !self.pending.is_empty() || self.pos < self.size)
    }
}

/// A completed command, queued by its completion closure (which runs with
/// a handle lock held and so must not call libnbd itself).
enum Done {
    Read {
        buf: Vec<u8>,
        off: u64,
        dst_zero: bool,
        r: Result<(), i32>,
    },
    Write {
        buf: Vec<u8>,
        off: u64,
        r: Result<(), i32>,
    },
    Zero {
        off: u64,
        len: u64,
        fast: bool,
        r: Result<(), i32>,
    },
}

type DoneQueue = Arc<Mutex<Vec<Done>>>;

struct Worker<'a> {
    c: &'a Conn,
    disk: &'a Disk,
    caps: Caps,
    stats: &'a Stats,
    planner: &'a Mutex<Planner>,
    abort: &'a AtomicBool,
    rate: Option<&'a crate::rate::Limiter>,
    done: DoneQueue,
    local: VecDeque<Item>,
    pool: Vec<Vec<u8>>,
    ops: usize,
    bufs: usize,
}

impl<'a> Worker<'a> {
    fn new(
        c: &'a Conn,
        disk: &'a Disk,
        caps: Caps,
        stats: &'a Stats,
        planner: &'a Mutex<Planner>,
        abort: &'a AtomicBool,
        rate: Option<&'a crate::rate::Limiter>,
    ) -> Self {
        Worker {
            c,
            disk,
            caps,
            stats,
            planner,
            abort,
            rate,
            done: Arc::default(),
            local: VecDeque::new(),
            pool: Vec::new(),
            ops: 0,
            bufs: 0,
        }
    }

    fn err(&self, m: String) -> CopyError {
        CopyError::new(self.disk.index, exit_code::FAILED, m)
    }

    fn nbd_err(&self, e: v2v_nbd::Error) -> CopyError {
        self.err(format!(
            "{} -> {}: {e}",
            self.disk.src_name, self.disk.dst_name
        ))
    }

    /// A buffer of `len` bytes (at most the request size), from the pool:
    /// every pooled buffer was made by `vec![0u8; request_size]`.
    fn buffer(&mut self, len: usize) -> Vec<u8> {
        self.bufs += 1;
        let rs = self.caps.request_size as usize;
        let mut b = self.pool.pop().unwrap_or_else(|| vec![0u8; rs]);
        b.truncate(len);
        b
    }

    /// Give a buffer back to the pool (restoring its full length).
    fn recycle(&mut self, mut buf: Vec<u8>) {
        self.bufs -= 1;
        let rs = self.caps.request_size as usize;
        if buf.capacity() == rs && self.pool.len() < self.caps.max_bufs {
            // SAFETY: every buffer here was made by `vec![0u8; n]` or
            // `to_vec()`, whose capacity equals the initialised length, so
            // capacity `rs` means `rs` initialised bytes; `truncate` never
            // de-initialises them.
            unsafe { buf.set_len(rs) };
            self.pool.push(buf);
        }
    }

    fn run(mut self) -> Result<(), CopyError> {
        let mut more = true;
        loop {
            if self.abort.load(Ordering::Relaxed) {
                return Err(self.err(ABORTED.into()));
            }
            // Issue new work while there is room.
            while self.ops < self.caps.max_ops {
                if self.local.is_empty() {
                    if !more {
                        break;
                    }
                    let mut p = self.planner.lock().unwrap();
                    more = p
                        .fill(self.c, &mut self.local, 8, self.stats)
                        .map_err(|e| self.nbd_err(e))?;
                    drop(p);
                    if self.local.is_empty() {
                        break;
                    }
                }
                let item = self.local[0];
                let needs_buf = !matches!(item, Item::Zero { .. });
                if needs_buf && self.bufs >= self.caps.max_bufs {
                    break;
                }
                self.local.pop_front();
                self.issue(item).map_err(|e| self.nbd_err(e))?;
            }
            let events = std::mem::take(&mut *self.done.lock().unwrap());
            if events.is_empty() {
                if self.ops == 0 && self.local.is_empty() && !more {
                    return Ok(());
                }
                poll_both(&self.c.src, &self.c.dst, 200).map_err(|e| self.nbd_err(e))?;
                continue;
            }
            for ev in events {
                self.ops -= 1;
                self.complete(ev)?;
            }
        }
    }

    fn issue(&mut self, item: Item) -> v2v_nbd::Result<()> {
        match item {
            Item::Data { off, len, dst_zero } => {
                self.pace(len);
                let buf = self.buffer(len as usize);
                let d = Arc::clone(&self.done);
                self.c.src.aio_pread(buf, off, move |buf, r| {
                    d.lock().unwrap().push(Done::Read {
                        buf,
                        off,
                        dst_zero,
                        r,
                    })
                })?;
            }
            Item::Zero { off, len } => self.zero(off, len, self.caps.can_fast_zero)?,
            Item::WriteZero { off, len } => {
                let buf = vec![0u8; len as usize];
                self.bufs += 1;
                self.write(buf, off)?;
            }
        }
        self.ops += 1;
        Ok(())
    }

    /// Wait as `--bandwidth` requires before reading `len` bytes, in
    /// slices, so an abort (a signal, another disk's failure) is not held up.
    fn pace(&self, len: u64) {
        let Some(rate) = self.rate else {
            return;
        };
        let mut wait = rate.take(len);
        while !wait.is_zero() && !self.abort.load(Ordering::Relaxed) {
            let slice = wait.min(std::time::Duration::from_millis(200));
            std::thread::sleep(slice);
            wait -= slice;
        }
    }

    fn write(&self, buf: Vec<u8>, off: u64) -> v2v_nbd::Result<()> {
        let d = Arc::clone(&self.done);
        self.c.dst.aio_pwrite(buf, off, move |buf, r| {
            d.lock().unwrap().push(Done::Write { buf, off, r })
        })?;
        Ok(())
    }

    fn zero(&self, off: u64, len: u64, fast: bool) -> v2v_nbd::Result<()> {
        let d = Arc::clone(&self.done);
        self.c.dst.aio_zero(len, off, fast, true, move |r| {
            d.lock().unwrap().push(Done::Zero { off, len, fast, r })
        })?;
        Ok(())
    }

    fn complete(&mut self, ev: Done) -> Result<(), CopyError> {
        match ev {
            Done::Read {
                buf,
                off,
                r: Err(e),
                ..
            } => Err(self.err(format!(
                "reading {} at offset {off} ({} bytes): {}",
                self.disk.src_name,
                buf.len(),
                errno_text(e)
            ))),
            Done::Write {
                buf,
                off,
                r: Err(e),
            } => Err(self.err(format!(
                "writing {} at offset {off} ({} bytes): {}",
                self.disk.dst_name,
                buf.len(),
                errno_text(e)
            ))),
            Done::Zero {
                off,
                len,
                fast: true,
                r: Err(e),
            } if e == Errno::ENOTSUP as i32 || e == Errno::EOPNOTSUPP as i32 => {
                // Fast zero refused: zero the slow way.
                self.zero(off, len, false).map_err(|e| self.nbd_err(e))?;
                self.ops += 1;
                Ok(())
            }
            Done::Zero {
                off,
                len,
                r: Err(e),
                ..
            } => Err(self.err(format!(
                "zeroing {} at offset {off} ({len} bytes): {}",
                self.disk.dst_name,
                errno_text(e)
            ))),
            Done::Write { buf, .. } => {
                self.stats
                    .copied
                    .fetch_add(buf.len() as u64, Ordering::Relaxed);
                self.recycle(buf);
                Ok(())
            }
            Done::Zero { len, .. } => {
                self.stats.zeroed.fetch_add(len, Ordering::Relaxed);
                Ok(())
            }
            Done::Read {
                buf,
                off,
                dst_zero,
                r: Ok(()),
            } => self
                .got_data(buf, off, dst_zero)
                .map_err(|e| self.nbd_err(e)),
        }
    }

    /// Data read: write it, except runs of zeroes, which become zero
    /// requests (or nothing if the target already reads as zeroes).
    fn got_data(&mut self, buf: Vec<u8>, off: u64, dst_zero: bool) -> v2v_nbd::Result<()> {
        let runs = plan::zero_runs(&buf);
        if runs.len() == 1 && !runs[0].2 {
            self.ops += 1;
            return self.write(buf, off);
        }
        let mut keep: Option<usize> = None;
        for &(a, b, z) in &runs {
            let (o, n) = (off + a as u64, (b - a) as u64);
            if z {
                if dst_zero {
                    self.stats.skipped.fetch_add(n, Ordering::Relaxed);
                } else if self.caps.can_zero {
                    self.zero(o, n, self.caps.can_fast_zero)?;
                    self.ops += 1;
                } else {
                    self.bufs += 1;
                    self.write(buf[a..b].to_vec(), o)?;
                    self.ops += 1;
                }
            } else if a == 0 {
                keep = Some(b);
            } else {
                self.bufs += 1;
                self.write(buf[a..b].to_vec(), o)?;
                self.ops += 1;
            }
        }
        match keep {
            Some(end) => {
                let mut buf = buf;
                buf.truncate(end);
                self.ops += 1;
                self.write(buf, off)
            }
            None => {
                self.recycle(buf);
                Ok(())
            }
        }
    }
}

/// Wait for either socket (up to `timeout_ms`) and let libnbd advance.
fn poll_both(src: &Handle, dst: &Handle, timeout_ms: u16) -> v2v_nbd::Result<()> {
    fn events(dir: u32) -> PollFlags {
        let mut e = PollFlags::empty();
        if dir & v2v_nbd::DIRECTION_READ != 0 {
            e |= PollFlags::POLLIN;
        }
        if dir & v2v_nbd::DIRECTION_WRITE != 0 {
            e |= PollFlags::POLLOUT;
        }
        e
    }
    let hs = [src, dst];
    let (sfd, dfd) = (src.aio_get_fd()?, dst.aio_get_fd()?);
    // SAFETY: both descriptors belong to the libnbd handles, which are
    // borrowed for this whole call and close them only when dropped.
    let (sfd, dfd) = unsafe { (BorrowedFd::borrow_raw(sfd), BorrowedFd::borrow_raw(dfd)) };
    let mut fds = [
        PollFd::new(sfd, events(src.aio_get_direction())),
        PollFd::new(dfd, events(dst.aio_get_direction())),
    ];
    if !matches!(poll(&mut fds, PollTimeout::from(timeout_ms)), Ok(n) if n > 0) {
        // Timeout or EINTR: the caller loops.
        return Ok(());
    }
    for (h, p) in hs.iter().zip(fds.iter()) {
        let r = p.revents().unwrap_or(PollFlags::empty());
        if r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            h.aio_notify_read()?;
        }
        if r.contains(PollFlags::POLLOUT) {
            h.aio_notify_write()?;
        }
    }
    Ok(())
}
