//! Safe, hand-written bindings to the parts of libnbd that v2v-helpers uses.
//!
//! This is the only crate in the workspace that touches libnbd. It targets
//! libnbd 1.14 (Debian 12); the `extern "C"` declarations in `sys` are written
//! by hand from `<libnbd.h>`, no bindgen. No libnbd type appears in the public
//! API.
//!
//! ```no_run
//! use v2v_nbd::Handle;
//!
//! # fn main() -> v2v_nbd::Result<()> {
//! let h = Handle::open("/tmp/v2v.XXXX/in1")?; // or "nbd+unix:///?socket=..."
//! let size = h.size()?;
//! for e in h.block_status(0, size)? {
//!     if !e.zero {
//!         let mut buf = vec![0u8; e.length.min(1 << 20) as usize];
//!         h.pread(&mut buf, e.offset)?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Threads and callbacks
//!
//! A [`Handle`] is `Send + Sync`: libnbd serialises calls on a handle with an
//! internal lock. Completion closures given to the `aio_*` methods run on
//! whichever thread drives the handle ([`Handle::poll`],
//! [`Handle::aio_notify_read`], or any other call on the same handle), with
//! that lock held: they must not call methods of the same `Handle`, or they
//! deadlock. A panic inside a closure never crosses into C: it is caught and
//! re-raised by the next method call on the handle that returns to Rust.

#![warn(missing_docs)]

mod sys;

use std::any::Any;
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libc::{c_char, c_int, c_void};

/// An error from libnbd (or from argument checks in this crate).
///
/// Displays as `context: message (errno N)`. For libnbd failures `message`
/// is `nbd_get_error()` and `errno` is `nbd_get_errno()` (0 if libnbd did not
/// set one), captured right after the failing call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{context}: {message} (errno {errno})")]
pub struct Error {
    /// What we were doing, e.g. `pread 4096 bytes at offset 0`.
    pub context: String,
    /// The message, usually libnbd's (it starts with the C function's name).
    pub message: String,
    /// The errno value, or 0 if unknown.
    pub errno: i32,
}

impl Error {
    /// An error not coming from libnbd.
    fn new(context: impl Into<String>, message: impl Into<String>, errno: i32) -> Self {
        Error {
            context: context.into(),
            message: message.into(),
            errno,
        }
    }

    /// The error of the last failed libnbd call on this thread.
    fn last(context: impl Into<String>) -> Self {
        // SAFETY: both functions read thread-local state; the returned string
        // (if not NULL) stays valid until the next libnbd call on this thread,
        // and we copy it at once.
        let (message, errno) = unsafe {
            let p = sys::nbd_get_error();
            let message = if p.is_null() {
                "unknown libnbd error".to_string()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            };
            (message, sys::nbd_get_errno())
        };
        Error {
            context: context.into(),
            message,
            errno,
        }
    }
}

/// `std::result::Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// One extent reported by [`Handle::block_status`] (the `base:allocation`
/// metadata context).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extent {
    /// First byte of the extent.
    pub offset: u64,
    /// Length in bytes (never 0).
    pub length: u64,
    /// The extent reads as zeroes (`NBD_STATE_ZERO`).
    pub zero: bool,
    /// The extent is not allocated (`NBD_STATE_HOLE`).
    pub hole: bool,
}

impl Extent {
    /// The byte just past the extent.
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// One extent of a named metadata context ([`Handle::block_status_of`]):
/// the raw 32-bit status word, whose meaning is the context's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContextExtent {
    /// First byte of the extent.
    pub offset: u64,
    /// Length in bytes (never 0).
    pub length: u64,
    /// The context's status (`qemu:allocation-depth`: the depth in the
    /// backing chain where the data lives, 0 = unallocated, 1 = the top
    /// image).
    pub flags: u32,
}

impl ContextExtent {
    /// The byte just past the extent.
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// qemu-nbd's allocation depth context (`qemu-nbd --allocation-depth`).
pub const CONTEXT_ALLOCATION_DEPTH: &str = "qemu:allocation-depth";

/// [`Handle::aio_get_direction`] bit: libnbd wants to read from the socket.
pub const DIRECTION_READ: u32 = sys::LIBNBD_AIO_DIRECTION_READ;
/// [`Handle::aio_get_direction`] bit: libnbd wants to write to the socket.
pub const DIRECTION_WRITE: u32 = sys::LIBNBD_AIO_DIRECTION_WRITE;

/// Largest buffer libnbd accepts for one [`Handle::aio_pread`] or
/// [`Handle::aio_pwrite`] (libnbd's `MAX_REQUEST_SIZE`, 64 MiB). Servers may
/// advertise less, and some disconnect above 32 MiB: see
/// [`Handle::max_request_size`].
pub const MAX_AIO_BUFFER: usize = 64 << 20;

/// Largest `count` libnbd accepts for one [`Handle::aio_zero`]: the NBD
/// wire field is 32 bits.
pub const MAX_AIO_ZERO: u64 = u32::MAX as u64;

/// Chunk used by the synchronous [`Handle::pread`]/[`Handle::pwrite`] when the
/// server does not advertise a smaller maximum.
const DEFAULT_IO_CHUNK: u64 = 32 << 20;

/// Chunk for synchronous zero/trim and for block status requests: the wire
/// field is 32 bits, and 2 GiB keeps every request aligned.
const BIG_CHUNK: u64 = 1 << 31;

/// A panic caught in a C callback, re-raised on the caller's thread.
#[derive(Default)]
struct PanicSlot {
    set: AtomicBool,
    payload: Mutex<Option<Box<dyn Any + Send>>>,
}

impl PanicSlot {
    fn store(&self, p: Box<dyn Any + Send>) {
        let mut g = self.payload.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(p);
            self.set.store(true, Ordering::Release);
        }
    }

    fn take(&self) -> Option<Box<dyn Any + Send>> {
        if !self.set.load(Ordering::Acquire) {
            return None;
        }
        let mut g = self.payload.lock().unwrap_or_else(|e| e.into_inner());
        self.set.store(false, Ordering::Release);
        g.take()
    }
}

/// A libnbd handle: one connection to one NBD export.
///
/// Closed (`nbd_close`) on drop. Commands still in flight at that point are
/// abandoned: their completion closures are dropped without being called.
pub struct Handle {
    h: NonNull<sys::nbd_handle>,
    panic: Arc<PanicSlot>,
}

// SAFETY: libnbd handles are thread-safe: every nbd_* call on a handle takes
// the handle's internal lock. The error string is thread-local and is read on
// the thread that made the call. Closures we hand to libnbd are `Send`.
unsafe impl Send for Handle {}
// SAFETY: see `Send`; all methods take `&self` and libnbd locks internally.
unsafe impl Sync for Handle {}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("h", &self.h).finish()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: we own the handle and nobody else can use it any more.
        unsafe { sys::nbd_close(self.h.as_ptr()) }
    }
}

/// A C string from Rust text; interior NULs are an `EINVAL` error.
fn cstring(context: &str, bytes: &[u8]) -> Result<CString> {
    CString::new(bytes)
        .map_err(|_| Error::new(context, "argument contains a NUL byte", libc::EINVAL))
}

/// Map a libnbd boolean (`1`/`0`/`-1`) to a `Result<bool>`.
fn bool_result(rc: c_int, context: &str) -> Result<bool> {
    match rc {
        -1 => Err(Error::last(context)),
        0 => Ok(false),
        _ => Ok(true),
    }
}

impl Handle {
    /// Create an unconnected handle (`nbd_create`) that will request the
    /// `base:allocation` metadata context when it connects, so that
    /// [`Handle::block_status`] works.
    pub fn new() -> Result<Handle> {
        // SAFETY: plain constructor.
        let raw = unsafe { sys::nbd_create() };
        let h = NonNull::new(raw).ok_or_else(|| Error::last("nbd_create"))?;
        let handle = Handle {
            h,
            panic: Arc::default(),
        };
        let ctx = sys::LIBNBD_CONTEXT_BASE_ALLOCATION
            .as_ptr()
            .cast::<c_char>();
        // SAFETY: valid handle, NUL-terminated static string.
        let rc = unsafe { sys::nbd_add_meta_context(handle.raw(), ctx) };
        if rc == -1 {
            return Err(Error::last("add_meta_context base:allocation"));
        }
        Ok(handle)
    }

    /// Create a handle and connect it to `target`: an NBD URI
    /// (`nbd://host[:port]/export`, `nbd+unix:///?socket=PATH`, `nbds://...`)
    /// when it starts with `nbd` and contains `://`, otherwise the path of a
    /// Unix socket.
    pub fn open(target: &str) -> Result<Handle> {
        Handle::open_with(target, &[])
    }

    /// [`Handle::open`], also requesting the metadata contexts `contexts`
    /// (e.g. [`CONTEXT_ALLOCATION_DEPTH`]) before connecting; see
    /// [`Handle::can_meta_context`] for whether the server agreed.
    pub fn open_with(target: &str, contexts: &[&str]) -> Result<Handle> {
        let h = Handle::new()?;
        for c in contexts {
            h.add_meta_context(c)?;
        }
        if target.starts_with("nbd") && target.contains("://") {
            h.connect_uri(target)?;
        } else {
            h.connect_unix(target)?;
        }
        Ok(h)
    }

    /// [`Handle::open`], but give up (errno `ETIMEDOUT`) when the server
    /// has not finished the NBD handshake within `limit`: a server that
    /// accepts the connection and never answers must not hang the caller.
    pub fn open_within(target: &str, limit: Duration) -> Result<Handle> {
        let deadline = Instant::now() + limit;
        let h = Handle::new()?;
        let context = format!("connect to {target}");
        let c = cstring(&context, target.as_bytes())?;
        // SAFETY: valid handle and NUL-terminated string.
        let rc = unsafe {
            if target.starts_with("nbd") && target.contains("://") {
                sys::nbd_aio_connect_uri(h.raw(), c.as_ptr())
            } else {
                sys::nbd_aio_connect_unix(h.raw(), c.as_ptr())
            }
        };
        if rc == -1 {
            return Err(Error::last(context));
        }
        // SAFETY (both closures): valid handle; the calls only read its state.
        h.poll_until(deadline, limit, &context, |h| unsafe {
            sys::nbd_aio_is_ready(h.raw()) == 1
        })?;
        Ok(h)
    }

    /// Read exactly `buf.len()` bytes (at most [`Handle::max_request_size`])
    /// at `offset`, giving up (`ETIMEDOUT`) after `limit`: for probing a
    /// server we do not trust to answer.
    pub fn pread_within(&self, buf: &mut [u8], offset: u64, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let context = format!("pread {} bytes at offset {offset}", buf.len());
        // The completion hands the buffer back with the result.
        type Done = Option<(Vec<u8>, std::result::Result<(), i32>)>;
        let slot: Arc<Mutex<Done>> = Arc::default();
        let done = Arc::clone(&slot);
        self.aio_pread(vec![0u8; buf.len()], offset, move |b, r| {
            *done.lock().unwrap_or_else(|e| e.into_inner()) = Some((b, r));
        })?;
        self.poll_until(deadline, limit, &context, |_| {
            slot.lock().unwrap_or_else(|e| e.into_inner()).is_some()
        })?;
        let taken = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        match taken {
            Some((b, Ok(()))) => {
                buf.copy_from_slice(&b);
                Ok(())
            }
            Some((_, Err(errno))) => Err(Error::new(context, "the server failed the read", errno)),
            None => unreachable!("poll_until returned before the read completed"),
        }
    }

    /// Poll until `ready(self)`, the connection dies, or `deadline`.
    fn poll_until(
        &self,
        deadline: Instant,
        limit: Duration,
        context: &str,
        ready: impl Fn(&Handle) -> bool,
    ) -> Result<()> {
        loop {
            if ready(self) {
                return Ok(());
            }
            // SAFETY: valid handle; these only read its state.
            let gone = unsafe {
                sys::nbd_aio_is_dead(self.raw()) == 1 || sys::nbd_aio_is_closed(self.raw()) == 1
            };
            if gone {
                return Err(Error::last(context));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::new(
                    context,
                    format!("no answer from the server within {} s", limit.as_secs_f64()),
                    libc::ETIMEDOUT,
                ));
            }
            self.poll(left.as_millis().clamp(1, 100) as i32)?;
        }
    }

    fn raw(&self) -> *mut sys::nbd_handle {
        self.h.as_ptr()
    }

    /// Re-raise a panic caught in one of our C callbacks.
    fn check_panic(&self) {
        if let Some(p) = self.panic.take() {
            resume_unwind(p);
        }
    }

    /// Name used in libnbd's debug messages (`nbd_set_handle_name`).
    pub fn set_handle_name(&self, name: &str) -> Result<()> {
        let c = cstring("set_handle_name", name.as_bytes())?;
        // SAFETY: valid handle and string; libnbd copies the string.
        let rc = unsafe { sys::nbd_set_handle_name(self.raw(), c.as_ptr()) };
        if rc == -1 {
            return Err(Error::last("set_handle_name"));
        }
        Ok(())
    }

    /// Whether libnbd zeroes a read buffer before every read
    /// (`nbd_set_pread_initialize`; libnbd's default is on).  Our buffers
    /// are Rust `Vec<u8>`s, always initialised, so turning it off is sound
    /// and saves a memset of every byte read.  The cost: libnbd 1.14 fails
    /// a read that got no data at all, but a broken server that answers
    /// only part of a read leaves the rest of the buffer as it was (bytes
    /// of an earlier read, never uninitialised memory).  nbdkit and
    /// qemu-nbd always answer the whole range.
    pub fn set_pread_initialize(&self, on: bool) -> Result<()> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_set_pread_initialize(self.raw(), on) };
        if rc == -1 {
            return Err(Error::last("set_pread_initialize"));
        }
        Ok(())
    }

    /// See [`Handle::set_pread_initialize`].
    pub fn pread_initialize(&self) -> bool {
        // SAFETY: valid handle; this call does not fail.
        unsafe { sys::nbd_get_pread_initialize(self.raw()) != 0 }
    }

    /// Turn libnbd's debug messages (to stderr) on or off (`nbd_set_debug`).
    pub fn set_debug(&self, debug: bool) -> Result<()> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_set_debug(self.raw(), debug) };
        if rc == -1 {
            return Err(Error::last("set_debug"));
        }
        Ok(())
    }

    /// Connect to the NBD server listening on the Unix socket `path`
    /// (`nbd_connect_unix`).
    pub fn connect_unix(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let context = format!("connect to unix socket {}", path.display());
        let c = cstring(&context, path.as_os_str().as_bytes())?;
        // SAFETY: valid handle and string.
        let rc = unsafe { sys::nbd_connect_unix(self.raw(), c.as_ptr()) };
        self.check_panic();
        if rc == -1 {
            return Err(Error::last(context));
        }
        Ok(())
    }

    /// Connect to an NBD URI (`nbd_connect_uri`), e.g. `nbd://localhost/`
    /// or `nbd+unix:///?socket=/tmp/sock`.
    pub fn connect_uri(&self, uri: &str) -> Result<()> {
        let context = format!("connect to {uri}");
        let c = cstring(&context, uri.as_bytes())?;
        // SAFETY: valid handle and string.
        let rc = unsafe { sys::nbd_connect_uri(self.raw(), c.as_ptr()) };
        self.check_panic();
        if rc == -1 {
            return Err(Error::last(context));
        }
        Ok(())
    }

    /// Run `argv` as a subprocess speaking NBD on its stdin/stdout and
    /// connect to it (`nbd_connect_command`), e.g.
    /// `["nbdkit", "-s", "--exit-with-parent", "memory", "1M"]`. libnbd
    /// reaps the subprocess when the handle is dropped.
    pub fn connect_command<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<()> {
        let context = format!(
            "connect to command {:?}",
            argv.iter()
                .map(|a| a.as_ref().to_string_lossy())
                .collect::<Vec<_>>()
        );
        if argv.is_empty() {
            return Err(Error::new(context, "empty command", libc::EINVAL));
        }
        let owned = argv
            .iter()
            .map(|a| cstring(&context, a.as_ref().as_bytes()))
            .collect::<Result<Vec<CString>>>()?;
        let mut ptrs: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr().cast_mut()).collect();
        ptrs.push(std::ptr::null_mut());
        // SAFETY: valid handle; NULL-terminated array of valid strings that
        // outlive the call (libnbd does not modify or keep them).
        let rc = unsafe { sys::nbd_connect_command(self.raw(), ptrs.as_mut_ptr()) };
        self.check_panic();
        if rc == -1 {
            return Err(Error::last(context));
        }
        Ok(())
    }

    /// Size of the export in bytes (`nbd_get_size`).
    pub fn size(&self) -> Result<u64> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_get_size(self.raw()) };
        if rc < 0 {
            return Err(Error::last("get_size"));
        }
        Ok(rc as u64)
    }

    /// The export is read-only (`nbd_is_read_only`).
    pub fn is_read_only(&self) -> Result<bool> {
        // SAFETY: valid handle.
        bool_result(unsafe { sys::nbd_is_read_only(self.raw()) }, "is_read_only")
    }

    /// The server supports flush (`nbd_can_flush`).
    pub fn can_flush(&self) -> Result<bool> {
        // SAFETY: valid handle.
        bool_result(unsafe { sys::nbd_can_flush(self.raw()) }, "can_flush")
    }

    /// The server supports trim (`nbd_can_trim`).
    pub fn can_trim(&self) -> Result<bool> {
        // SAFETY: valid handle.
        bool_result(unsafe { sys::nbd_can_trim(self.raw()) }, "can_trim")
    }

    /// The server supports write-zeroes (`nbd_can_zero`).
    pub fn can_zero(&self) -> Result<bool> {
        // SAFETY: valid handle.
        bool_result(unsafe { sys::nbd_can_zero(self.raw()) }, "can_zero")
    }

    /// The server supports fast zero requests (`nbd_can_fast_zero`); without
    /// it, `zero(.., fast = true, ..)` fails with `EINVAL` on the client side.
    pub fn can_fast_zero(&self) -> Result<bool> {
        // SAFETY: valid handle.
        bool_result(
            unsafe { sys::nbd_can_fast_zero(self.raw()) },
            "can_fast_zero",
        )
    }

    /// Several connections to this export see consistent data
    /// (`nbd_can_multi_conn`).
    pub fn can_multi_conn(&self) -> Result<bool> {
        // SAFETY: valid handle.
        bool_result(
            unsafe { sys::nbd_can_multi_conn(self.raw()) },
            "can_multi_conn",
        )
    }

    /// Request the metadata context `name` (`nbd_add_meta_context`); only
    /// before connecting.
    pub fn add_meta_context(&self, name: &str) -> Result<()> {
        let context = format!("add_meta_context {name}");
        let c = cstring(&context, name.as_bytes())?;
        // SAFETY: valid handle, NUL-terminated string (copied by libnbd).
        if unsafe { sys::nbd_add_meta_context(self.raw(), c.as_ptr()) } == -1 {
            return Err(Error::last(context));
        }
        Ok(())
    }

    /// The server agreed to the metadata context `name`
    /// (`nbd_can_meta_context`; after connecting).
    pub fn can_meta_context(&self, name: &str) -> Result<bool> {
        let context = format!("can_meta_context {name}");
        let c = cstring(&context, name.as_bytes())?;
        // SAFETY: valid handle, NUL-terminated string.
        bool_result(
            unsafe { sys::nbd_can_meta_context(self.raw(), c.as_ptr()) },
            &context,
        )
    }

    /// The server agreed to the `base:allocation` metadata context
    /// (`nbd_can_meta_context`).
    pub fn can_meta_context_base_allocation(&self) -> Result<bool> {
        let ctx = sys::LIBNBD_CONTEXT_BASE_ALLOCATION
            .as_ptr()
            .cast::<c_char>();
        // SAFETY: valid handle, NUL-terminated static string.
        bool_result(
            unsafe { sys::nbd_can_meta_context(self.raw(), ctx) },
            "can_meta_context base:allocation",
        )
    }

    /// The server's minimum block size, if it advertised one
    /// (`nbd_get_block_size(LIBNBD_SIZE_MINIMUM)`): libnbd refuses (`EINVAL`)
    /// requests whose offset or length is not a multiple of it, except a
    /// tail that ends at the export's end.
    pub fn min_block_size(&self) -> Result<Option<u64>> {
        self.block_size(sys::LIBNBD_SIZE_MINIMUM, "get_block_size minimum")
    }

    /// The server's preferred I/O block size, if it advertised one
    /// (`nbd_get_block_size(LIBNBD_SIZE_PREFERRED)`).
    pub fn preferred_block_size(&self) -> Result<Option<u64>> {
        self.block_size(sys::LIBNBD_SIZE_PREFERRED, "get_block_size preferred")
    }

    /// Largest buffer to use for one read or write on this connection: the
    /// server's advertised maximum, or 32 MiB if it advertised none (some
    /// servers disconnect above that), and never more than 32 MiB.
    pub fn max_request_size(&self) -> Result<usize> {
        let max = self.block_size(sys::LIBNBD_SIZE_MAXIMUM, "get_block_size maximum")?;
        Ok(max.map_or(DEFAULT_IO_CHUNK, |m| m.min(DEFAULT_IO_CHUNK)) as usize)
    }

    fn block_size(&self, which: c_int, context: &str) -> Result<Option<u64>> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_get_block_size(self.raw(), which) };
        match rc {
            n if n < 0 => Err(Error::last(context)),
            0 => Ok(None),
            n => Ok(Some(n as u64)),
        }
    }

    /// Read exactly `buf.len()` bytes at `offset` (`nbd_pread`), split into
    /// requests of at most [`Handle::max_request_size`].
    pub fn pread(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let chunk = self.max_request_size()?;
        let mut off = offset;
        for part in buf.chunks_mut(chunk) {
            // SAFETY: valid handle; `part` is valid for writes of its length.
            let rc = unsafe {
                sys::nbd_pread(
                    self.raw(),
                    part.as_mut_ptr().cast::<c_void>(),
                    part.len(),
                    off,
                    0,
                )
            };
            self.check_panic();
            if rc == -1 {
                return Err(Error::last(format!(
                    "pread {} bytes at offset {off}",
                    part.len()
                )));
            }
            off += part.len() as u64;
        }
        Ok(())
    }

    /// Write all of `buf` at `offset` (`nbd_pwrite`), split into requests of
    /// at most [`Handle::max_request_size`].
    pub fn pwrite(&self, buf: &[u8], offset: u64) -> Result<()> {
        let chunk = self.max_request_size()?;
        let mut off = offset;
        for part in buf.chunks(chunk) {
            // SAFETY: valid handle; `part` is valid for reads of its length.
            let rc = unsafe {
                sys::nbd_pwrite(
                    self.raw(),
                    part.as_ptr().cast::<c_void>(),
                    part.len(),
                    off,
                    0,
                )
            };
            self.check_panic();
            if rc == -1 {
                return Err(Error::last(format!(
                    "pwrite {} bytes at offset {off}",
                    part.len()
                )));
            }
            off += part.len() as u64;
        }
        Ok(())
    }

    /// Write zeroes over `count` bytes at `offset` (`nbd_zero`), in requests
    /// of at most 2 GiB. `fast`: fail (with `ENOTSUP`) rather than fall back
    /// to a slow write (`LIBNBD_CMD_FLAG_FAST_ZERO`; needs
    /// [`Handle::can_fast_zero`]). `may_trim`: the server may punch a hole
    /// instead of allocating zeroes (otherwise `LIBNBD_CMD_FLAG_NO_HOLE`).
    pub fn zero(&self, count: u64, offset: u64, fast: bool, may_trim: bool) -> Result<()> {
        let flags = zero_flags(fast, may_trim);
        self.big_op(count, offset, "zero", |n, off| {
            // SAFETY: valid handle.
            unsafe { sys::nbd_zero(self.raw(), n, off, flags) }
        })
    }

    /// Discard `count` bytes at `offset` (`nbd_trim`), in requests of at
    /// most 2 GiB. Afterwards the data reads as unspecified.
    pub fn trim(&self, count: u64, offset: u64) -> Result<()> {
        self.big_op(count, offset, "trim", |n, off| {
            // SAFETY: valid handle.
            unsafe { sys::nbd_trim(self.raw(), n, off, 0) }
        })
    }

    fn big_op(
        &self,
        count: u64,
        offset: u64,
        what: &str,
        mut op: impl FnMut(u64, u64) -> c_int,
    ) -> Result<()> {
        let end = checked_end(what, offset, count)?;
        let mut off = offset;
        while off < end {
            let n = (end - off).min(BIG_CHUNK);
            let rc = op(n, off);
            self.check_panic();
            if rc == -1 {
                return Err(Error::last(format!("{what} {n} bytes at offset {off}")));
            }
            off += n;
        }
        Ok(())
    }

    /// Ask the server to persist all completed writes (`nbd_flush`).
    pub fn flush(&self) -> Result<()> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_flush(self.raw(), 0) };
        self.check_panic();
        if rc == -1 {
            return Err(Error::last("flush"));
        }
        Ok(())
    }

    /// Disconnect cleanly (`nbd_shutdown`), after the commands in flight
    /// complete. The handle stays allocated until dropped.
    pub fn shutdown(&self) -> Result<()> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_shutdown(self.raw(), 0) };
        self.check_panic();
        if rc == -1 {
            return Err(Error::last("shutdown"));
        }
        Ok(())
    }

    /// Let the commands in flight complete (their closures run), then
    /// disconnect with `nbd_shutdown`, all within `limit`; past it the
    /// handle is left for `Drop` to close abruptly.  A client that closes
    /// while the server still answers reads crashes nbdkit 1.32 (an
    /// assertion in `raw_send_socket`), so a failed copy ends this way too.
    pub fn finish_within(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        while self.aio_in_flight()? > 0 && !self.gone() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::new(
                    "shutdown",
                    format!("commands still in flight after {} s", limit.as_secs()),
                    libc::ETIMEDOUT,
                ));
            }
            self.poll(left.as_millis().min(100) as i32)?;
        }
        if self.gone() {
            return Ok(());
        }
        self.shutdown()
    }

    /// Whether the connection is dead or closed.
    fn gone(&self) -> bool {
        // SAFETY: valid handle.
        unsafe { sys::nbd_aio_is_dead(self.raw()) == 1 || sys::nbd_aio_is_closed(self.raw()) == 1 }
    }

    /// Allocation status of `[offset, offset + count)`, as extents that cover
    /// the range exactly, in order, with neighbours of equal status merged.
    ///
    /// Loops over `nbd_block_status` (at most 2 GiB per request; the server
    /// may answer with less than asked), and clamps the last extent to the
    /// range end. If the server did not agree to `base:allocation`, returns
    /// one data extent (`zero: false, hole: false`) for the whole range.
    pub fn block_status(&self, offset: u64, count: u64) -> Result<Vec<Extent>> {
        let end = checked_end("block_status", offset, count)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        if !self.can_meta_context_base_allocation()? {
            return Ok(vec![Extent {
                offset,
                length: count,
                zero: false,
                hole: false,
            }]);
        }
        let mut out: Vec<Extent> = Vec::new();
        for e in self.context_extents("base:allocation", offset, end)? {
            push_merged(
                &mut out,
                Extent {
                    offset: e.offset,
                    length: e.length,
                    zero: e.flags & sys::LIBNBD_STATE_ZERO != 0,
                    hole: e.flags & sys::LIBNBD_STATE_HOLE != 0,
                },
            );
        }
        Ok(out)
    }

    /// The status of `[offset, offset + count)` in the metadata context
    /// `name` (requested before connecting, [`Handle::open_with`]), as
    /// extents that cover the range exactly, in order, neighbours of equal
    /// status merged.  An error (`ENOTSUP`) if the server did not agree to
    /// the context.
    pub fn block_status_of(
        &self,
        name: &str,
        offset: u64,
        count: u64,
    ) -> Result<Vec<ContextExtent>> {
        let end = checked_end("block_status", offset, count)?;
        if !self.can_meta_context(name)? {
            return Err(Error::new(
                format!("block_status {name}"),
                "the server did not agree to this metadata context",
                libc::ENOTSUP,
            ));
        }
        let mut out: Vec<ContextExtent> = Vec::new();
        for e in self.context_extents(name, offset, end)? {
            match out.last_mut() {
                Some(l) if l.end() == e.offset && l.flags == e.flags => l.length += e.length,
                _ => out.push(e),
            }
        }
        Ok(out)
    }

    /// The extents of context `name` over `[offset, end)`: loops over
    /// `nbd_block_status` (at most 2 GiB per request; the server may answer
    /// with less than asked) and clamps the last extent to `end`.
    fn context_extents(&self, name: &str, offset: u64, end: u64) -> Result<Vec<ContextExtent>> {
        let mut out = Vec::new();
        let mut pos = offset;
        while pos < end {
            let n = (end - pos).min(BIG_CHUNK);
            let context = || format!("block_status {n} bytes at offset {pos}");
            let mut got = ExtentCollector {
                name: name.as_bytes().to_vec(),
                ..Default::default()
            };
            let cb = sys::nbd_extent_callback {
                callback: Some(extent_trampoline),
                user_data: (&mut got as *mut ExtentCollector).cast::<c_void>(),
                free: None,
            };
            // SAFETY: valid handle; `got` outlives the synchronous call and the
            // callback is only called during it (no free function needed).
            let rc = unsafe { sys::nbd_block_status(self.raw(), n, pos, cb, 0) };
            self.check_panic();
            if rc == -1 {
                return Err(Error::last(context()));
            }
            if let Some(p) = got.panic {
                resume_unwind(p);
            }
            let mut at = pos;
            for pair in got.entries.chunks_exact(2) {
                if at >= end {
                    break;
                }
                let len = u64::from(pair[0]).min(end - at);
                if len == 0 {
                    continue;
                }
                out.push(ContextExtent {
                    offset: at,
                    length: len,
                    flags: pair[1],
                });
                at += len;
            }
            if at == pos {
                return Err(Error::new(
                    context(),
                    format!("server returned no {name} extents"),
                    libc::EPROTO,
                ));
            }
            pos = at;
        }
        Ok(out)
    }

    /// Box `done` as the `user_data` of a completion callback that calls it
    /// once and auto-retires the command; libnbd frees it exactly once.
    fn completion<F>(&self, done: F) -> sys::nbd_completion_callback
    where
        F: FnOnce(std::result::Result<(), i32>) + Send + 'static,
    {
        let state = Box::new(AioState {
            done: Some(done),
            panic: Arc::clone(&self.panic),
        });
        sys::nbd_completion_callback {
            callback: Some(aio_complete::<F>),
            user_data: Box::into_raw(state).cast::<c_void>(),
            free: Some(aio_free::<F>),
        }
    }

    fn cookie(&self, rc: i64, context: impl FnOnce() -> String) -> Result<u64> {
        // Read the error before anything else can overwrite it.
        let r = if rc < 0 {
            Err(Error::last(context()))
        } else {
            Ok(rc as u64)
        };
        self.check_panic();
        r
    }

    /// Start reading `buf.len()` bytes at `offset` into `buf`
    /// (`nbd_aio_pread`); returns the command's cookie.
    ///
    /// `done(buf, result)` is called once when the command completes, handing
    /// the buffer back; `result` is `Err(errno)` on failure, in which case the
    /// buffer's content is unspecified. If the command cannot be queued this
    /// returns `Err` and drops `done` and `buf` without calling `done`.
    /// `buf` must not be empty (libnbd rejects a zero count with `EINVAL`);
    /// `buf.len()` must be at most [`MAX_AIO_BUFFER`] (and should be at most
    /// [`Handle::max_request_size`]).
    pub fn aio_pread<F>(&self, buf: Vec<u8>, offset: u64, done: F) -> Result<u64>
    where
        F: FnOnce(Vec<u8>, std::result::Result<(), i32>) + Send + 'static,
    {
        let mut buf = buf;
        let len = buf.len();
        // The heap block does not move when `buf` moves into the closure.
        let ptr = buf.as_mut_ptr();
        let cb = self.completion(move |r| done(buf, r));
        // SAFETY: valid handle; `ptr` is valid for `len` bytes until the
        // closure owning the Vec is freed, which libnbd does only after the
        // command has completed or been abandoned.
        let rc =
            unsafe { sys::nbd_aio_pread(self.raw(), ptr.cast::<c_void>(), len, offset, cb, 0) };
        self.cookie(rc, || format!("aio_pread {len} bytes at offset {offset}"))
    }

    /// Start writing `buf` at `offset` (`nbd_aio_pwrite`); returns the
    /// command's cookie. `done(buf, result)` as for [`Handle::aio_pread`].
    pub fn aio_pwrite<F>(&self, buf: Vec<u8>, offset: u64, done: F) -> Result<u64>
    where
        F: FnOnce(Vec<u8>, std::result::Result<(), i32>) + Send + 'static,
    {
        let len = buf.len();
        let ptr = buf.as_ptr();
        let cb = self.completion(move |r| done(buf, r));
        // SAFETY: as in `aio_pread`; libnbd only reads the buffer.
        let rc =
            unsafe { sys::nbd_aio_pwrite(self.raw(), ptr.cast::<c_void>(), len, offset, cb, 0) };
        self.cookie(rc, || format!("aio_pwrite {len} bytes at offset {offset}"))
    }

    /// Start writing zeroes over `count` bytes at `offset` (`nbd_aio_zero`;
    /// flags as for [`Handle::zero`]); `count` must be at most
    /// [`MAX_AIO_ZERO`] (libnbd 1.14 fails larger counts with `ERANGE`) and
    /// not 0. `done(result)` is called once on completion.
    pub fn aio_zero<F>(
        &self,
        count: u64,
        offset: u64,
        fast: bool,
        may_trim: bool,
        done: F,
    ) -> Result<u64>
    where
        F: FnOnce(std::result::Result<(), i32>) + Send + 'static,
    {
        let cb = self.completion(done);
        let flags = zero_flags(fast, may_trim);
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_aio_zero(self.raw(), count, offset, cb, flags) };
        self.cookie(rc, || format!("aio_zero {count} bytes at offset {offset}"))
    }

    /// Start a flush (`nbd_aio_flush`). `done(result)` is called once on
    /// completion.
    pub fn aio_flush<F>(&self, done: F) -> Result<u64>
    where
        F: FnOnce(std::result::Result<(), i32>) + Send + 'static,
    {
        let cb = self.completion(done);
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_aio_flush(self.raw(), cb, 0) };
        self.cookie(rc, || "aio_flush".to_string())
    }

    /// Number of commands queued or in flight (`nbd_aio_in_flight`).
    pub fn aio_in_flight(&self) -> Result<u32> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_aio_in_flight(self.raw()) };
        if rc < 0 {
            return Err(Error::last("aio_in_flight"));
        }
        Ok(rc as u32)
    }

    /// Wait up to `timeout_ms` (-1: forever) for the socket and advance the
    /// state machine (`nbd_poll`); runs completion closures. Returns 1 if it
    /// made progress, 0 on timeout. Do not wait forever with nothing in
    /// flight.
    pub fn poll(&self, timeout_ms: i32) -> Result<i32> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_poll(self.raw(), timeout_ms) };
        let r = if rc < 0 {
            Err(Error::last("poll"))
        } else {
            Ok(rc)
        };
        self.check_panic();
        r
    }

    /// The socket's file descriptor, for a caller's own event loop
    /// (`nbd_aio_get_fd`). Owned by libnbd: do not close it.
    pub fn aio_get_fd(&self) -> Result<RawFd> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_aio_get_fd(self.raw()) };
        if rc < 0 {
            return Err(Error::last("aio_get_fd"));
        }
        Ok(rc)
    }

    /// What libnbd waits for on the socket: a mask of [`DIRECTION_READ`] and
    /// [`DIRECTION_WRITE`] (`nbd_aio_get_direction`).
    pub fn aio_get_direction(&self) -> u32 {
        // SAFETY: valid handle.
        unsafe { sys::nbd_aio_get_direction(self.raw()) }
    }

    /// Tell libnbd the socket is readable (`nbd_aio_notify_read`); runs
    /// completion closures.
    pub fn aio_notify_read(&self) -> Result<()> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_aio_notify_read(self.raw()) };
        let r = if rc < 0 {
            Err(Error::last("aio_notify_read"))
        } else {
            Ok(())
        };
        self.check_panic();
        r
    }

    /// Tell libnbd the socket is writable (`nbd_aio_notify_write`); runs
    /// completion closures.
    pub fn aio_notify_write(&self) -> Result<()> {
        // SAFETY: valid handle.
        let rc = unsafe { sys::nbd_aio_notify_write(self.raw()) };
        let r = if rc < 0 {
            Err(Error::last("aio_notify_write"))
        } else {
            Ok(())
        };
        self.check_panic();
        r
    }
}

fn zero_flags(fast: bool, may_trim: bool) -> u32 {
    let mut flags = 0;
    if fast {
        flags |= sys::LIBNBD_CMD_FLAG_FAST_ZERO;
    }
    if !may_trim {
        flags |= sys::LIBNBD_CMD_FLAG_NO_HOLE;
    }
    flags
}

fn checked_end(what: &str, offset: u64, count: u64) -> Result<u64> {
    offset.checked_add(count).ok_or_else(|| {
        Error::new(
            format!("{what} {count} bytes at offset {offset}"),
            "range overflows 64 bits",
            libc::EINVAL,
        )
    })
}

/// Append `e`, merging it into the previous extent if contiguous and equal.
fn push_merged(out: &mut Vec<Extent>, e: Extent) {
    if let Some(last) = out.last_mut() {
        if last.end() == e.offset && last.zero == e.zero && last.hole == e.hole {
            last.length += e.length;
            return;
        }
    }
    out.push(e);
}

/// `user_data` of one synchronous `nbd_block_status` call.
#[derive(Default)]
struct ExtentCollector {
    /// The metadata context wanted.
    name: Vec<u8>,
    /// Flattened (length, flags) pairs of its first reply.
    entries: Vec<u32>,
    seen: bool,
    panic: Option<Box<dyn Any + Send>>,
}

/// C extent callback: copies the entries of the context asked for.
unsafe extern "C" fn extent_trampoline(
    user_data: *mut c_void,
    metacontext: *const c_char,
    _offset: u64,
    entries: *mut u32,
    nr_entries: usize,
    _error: *mut c_int,
) -> c_int {
    // SAFETY: `user_data` is the `ExtentCollector` of the block_status call
    // that is running on this thread right now.
    let got = unsafe { &mut *user_data.cast::<ExtentCollector>() };
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: libnbd passes a valid NUL-terminated string.
        let name = unsafe { CStr::from_ptr(metacontext) };
        if got.seen || name.to_bytes() != got.name.as_slice() {
            return;
        }
        got.seen = true;
        if !entries.is_null() && nr_entries > 0 {
            // SAFETY: libnbd passes `nr_entries` valid u32s.
            let s = unsafe { std::slice::from_raw_parts(entries, nr_entries) };
            got.entries.extend_from_slice(s);
        }
    }));
    if let Err(p) = r {
        got.panic.get_or_insert(p);
    }
    0
}

/// `user_data` of one asynchronous command.
struct AioState<F> {
    done: Option<F>,
    panic: Arc<PanicSlot>,
}

/// C completion callback: calls the closure with the command's result and
/// returns 1 so libnbd retires the command.
unsafe extern "C" fn aio_complete<F>(user_data: *mut c_void, error: *mut c_int) -> c_int
where
    F: FnOnce(std::result::Result<(), i32>) + Send + 'static,
{
    // SAFETY: `user_data` is the live `AioState<F>` made by `completion`;
    // libnbd calls this at most once, before `aio_free`.
    let state = unsafe { &mut *user_data.cast::<AioState<F>>() };
    // SAFETY: libnbd passes a valid pointer.
    let err = if error.is_null() {
        0
    } else {
        unsafe { *error }
    };
    if let Some(done) = state.done.take() {
        let result = if err == 0 { Ok(()) } else { Err(err) };
        if let Err(p) = catch_unwind(AssertUnwindSafe(move || done(result))) {
            state.panic.store(p);
        }
    }
    1
}

/// C free callback: drops the closure (and the buffer it owns) if the
/// command never completed, then the state.
unsafe extern "C" fn aio_free<F>(user_data: *mut c_void)
where
    F: FnOnce(std::result::Result<(), i32>) + Send + 'static,
{
    // SAFETY: made by `Box::into_raw` in `completion`; libnbd calls free
    // exactly once.
    let state = unsafe { Box::from_raw(user_data.cast::<AioState<F>>()) };
    let slot = Arc::clone(&state.panic);
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(state))) {
        slot.store(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display() {
        let e = Error::new("pread 512 bytes at offset 0", "nbd_pread: boom", 5);
        assert_eq!(
            e.to_string(),
            "pread 512 bytes at offset 0: nbd_pread: boom (errno 5)"
        );
    }

    #[test]
    fn merge_extents() {
        let mut v = Vec::new();
        let d = |offset, length| Extent {
            offset,
            length,
            zero: false,
            hole: false,
        };
        push_merged(&mut v, d(0, 10));
        push_merged(&mut v, d(10, 5));
        push_merged(
            &mut v,
            Extent {
                zero: true,
                ..d(15, 5)
            },
        );
        assert_eq!(
            v,
            vec![
                d(0, 15),
                Extent {
                    zero: true,
                    ..d(15, 5)
                }
            ]
        );
    }

    #[test]
    fn flags() {
        assert_eq!(zero_flags(false, true), 0);
        assert_eq!(zero_flags(true, false), 0x12);
    }

    #[test]
    fn unconnected_handle_errors() {
        let h = Handle::new().unwrap();
        let e = h.size().unwrap_err();
        assert_eq!(e.context, "get_size");
        assert!(!e.message.is_empty());
        assert!(h.connect_uri("nbd://\0").is_err());
    }
}
