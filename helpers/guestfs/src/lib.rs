//! v2v-guestfs: a small, safe binding to the libguestfs calls that
//! v2v-helpers uses, written by hand (see `sys.rs`).
//!
//! - [`Guestfs`] owns one `guestfs_h`; dropping it closes the handle (and
//!   kills the appliance if it still runs).  It is `Send` (libguestfs
//!   handles may move between threads; they are not used from two threads
//!   at once, which `&mut self`/ownership guarantees here).
//! - Every failing call returns an [`Error`] with the call's name,
//!   libguestfs's message and errno.
//! - [`Guestfs::route_events_to_log`] sends libguestfs's library, appliance,
//!   trace, warning and progress events to the step log through
//!   `helper_common::debug!` / `trace!`.
//! - [`Guestfs::add_drive_nbd`] attaches `DIR/inN` as an NBD drive.
//! - [`kvm`] decides whether the appliance can use KVM on this host.
//! - `storage.rs`: filesystem types, LUKS and LVM calls.

pub mod kvm;
pub mod sys;

use libc::{c_char, c_int, c_void, size_t};
use nix::errno::Errno;
use std::ffi::{CStr, CString};
use std::fmt;
use std::path::Path;
use std::ptr;

/// A libguestfs failure: which call, libguestfs's message, and errno
/// (0 when libguestfs did not set one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub call: &'static str,
    pub message: String,
    pub errno: i32,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.call, self.message)?;
        if self.errno != 0 {
            let e = std::io::Error::from_raw_os_error(self.errno);
            write!(f, " (errno {}: {e})", self.errno)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The call failed because the path does not exist.
    pub fn is_enoent(&self) -> bool {
        self.errno == Errno::ENOENT as i32
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// One libguestfs event, as passed to a callback.
#[derive(Debug)]
struct Event<'a> {
    /// `GUESTFS_EVENT_*` bit.
    kind: u64,
    /// The text (log line fragments, trace lines); may be empty.
    buf: &'a [u8],
    /// Numbers (for progress: proc_nr, serial, position, total).
    array: &'a [u64],
}

type Callback = Box<dyn FnMut(&Event<'_>) + Send>;

/// Options for [`Guestfs::add_drive`].
#[derive(Debug)]
struct DriveOpts {
    readonly: bool,
    format: Option<String>,
    protocol: Option<String>,
    server: Vec<String>,
    cachemode: Option<String>,
    discard: Option<String>,
}

/// `statvfs` of a path in the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatVfs {
    pub bsize: i64,
    pub blocks: i64,
    pub bfree: i64,
    pub bavail: i64,
    pub files: i64,
    pub ffree: i64,
}

impl StatVfs {
    /// Bytes available to an unprivileged user.
    pub fn avail_bytes(&self) -> i64 {
        self.bsize.saturating_mul(self.bavail)
    }
}

/// A libguestfs handle.
pub struct Guestfs {
    g: *mut sys::guestfs_h,
    /// Boxed twice so the (thin) pointer given to C stays valid while we
    /// own it, even when the Vec reallocates.
    #[allow(clippy::vec_box)]
    callbacks: Vec<Box<Callback>>,
}

// SAFETY: a guestfs_h may be used from any thread as long as it is not used
// from two threads at once; every method takes `&self`/`&mut self` on an
// owned, non-Sync value.
unsafe impl Send for Guestfs {}

fn cstr(s: &str) -> CString {
    // Interior NULs cannot occur in the paths/commands we build; replace
    // them rather than panic.
    CString::new(s.replace('\0', "?")).expect("no NUL")
}

/// Take ownership of a malloc'd C string.
unsafe fn own_string(p: *mut c_char) -> String {
    // SAFETY: caller passes a non-null malloc'd NUL-terminated string.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: libguestfs allocated it with malloc; we free it once.
    unsafe { libc::free(p as *mut c_void) };
    s
}

/// Take ownership of a malloc'd NULL-terminated array of malloc'd strings.
unsafe fn own_list(p: *mut *mut c_char) -> Vec<String> {
    let mut v = Vec::new();
    let mut i = 0;
    loop {
        // SAFETY: the array is NULL-terminated.
        let s = unsafe { *p.add(i) };
        if s.is_null() {
            break;
        }
        // SAFETY: each element is a malloc'd string.
        v.push(unsafe { own_string(s) });
        i += 1;
    }
    // SAFETY: the array itself was malloc'd.
    unsafe { libc::free(p as *mut c_void) };
    v
}

/// A NULL-terminated `char *const *` built from Rust strings; keep it alive
/// while C uses the pointer.
struct CStrArray {
    _owned: Vec<CString>,
    ptrs: Vec<*mut c_char>,
}

impl CStrArray {
    fn new<S: AsRef<str>>(items: &[S]) -> Self {
        let owned: Vec<CString> = items.iter().map(|s| cstr(s.as_ref())).collect();
        let mut ptrs: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        ptrs.push(ptr::null_mut());
        CStrArray {
            _owned: owned,
            ptrs,
        }
    }
    fn as_ptr(&self) -> *const *mut c_char {
        self.ptrs.as_ptr()
    }
}

unsafe extern "C" fn event_trampoline(
    _g: *mut sys::guestfs_h,
    opaque: *mut c_void,
    event: u64,
    _event_handle: c_int,
    _flags: c_int,
    buf: *const c_char,
    buf_len: size_t,
    array: *const u64,
    array_len: size_t,
) {
    let cb = opaque as *mut Callback;
    let buf: &[u8] = if buf.is_null() || buf_len == 0 {
        &[]
    } else {
        // SAFETY: libguestfs passes buf_len valid bytes.
        unsafe { std::slice::from_raw_parts(buf as *const u8, buf_len) }
    };
    let array: &[u64] = if array.is_null() || array_len == 0 {
        &[]
    } else {
        // SAFETY: libguestfs passes array_len valid numbers.
        unsafe { std::slice::from_raw_parts(array, array_len) }
    };
    let ev = Event {
        kind: event,
        buf,
        array,
    };
    // Never unwind into C.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: opaque is the Box<Callback> we registered and still own.
        let f = unsafe { &mut *cb };
        f(&ev);
    }));
}

macro_rules! check_int {
    ($self:ident, $name:expr, $e:expr) => {{
        // SAFETY: the handle is valid; arguments are valid C strings that
        // outlive the call.
        let r = unsafe { $e };
        if r == -1 {
            Err($self.error($name))
        } else {
            Ok(r)
        }
    }};
}

macro_rules! check_str {
    ($self:ident, $name:expr, $e:expr) => {{
        // SAFETY: as above; a non-null result is a malloc'd string we own.
        let p = unsafe { $e };
        if p.is_null() {
            Err($self.error($name))
        } else {
            Ok(unsafe { own_string(p) })
        }
    }};
}

macro_rules! check_list {
    ($self:ident, $name:expr, $e:expr) => {{
        // SAFETY: as above; a non-null result is a malloc'd string list we own.
        let p = unsafe { $e };
        if p.is_null() {
            Err($self.error($name))
        } else {
            Ok(unsafe { own_list(p) })
        }
    }};
}

mod storage;

impl Guestfs {
    /// Create a handle.  The environment (`LIBGUESTFS_BACKEND`,
    /// `LIBGUESTFS_BACKEND_SETTINGS`, `LIBGUESTFS_DEBUG`, ...) is read as
    /// libguestfs always does.  libguestfs's default error printing to
    /// stderr is turned off: errors come back as [`Error`].
    pub fn new() -> Result<Self> {
        // SAFETY: plain constructor; no varargs passed after flags.
        let g = unsafe { sys::guestfs_create_flags(sys::GUESTFS_CREATE_NO_CLOSE_ON_EXIT) };
        if g.is_null() {
            return Err(Error {
                call: "guestfs_create",
                message: "cannot create libguestfs handle".into(),
                errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            });
        }
        // SAFETY: valid handle; a NULL callback disables printing.
        unsafe { sys::guestfs_set_error_handler(g, None, ptr::null_mut()) };
        Ok(Guestfs {
            g,
            callbacks: Vec::new(),
        })
    }

    fn error(&self, call: &'static str) -> Error {
        // SAFETY: valid handle; the returned string is owned by the handle.
        let (msg, errno) = unsafe {
            let m = sys::guestfs_last_error(self.g);
            let m = if m.is_null() {
                "unknown error".to_string()
            } else {
                CStr::from_ptr(m).to_string_lossy().into_owned()
            };
            (m, sys::guestfs_last_errno(self.g))
        };
        Error {
            call,
            message: msg.trim_end().to_string(),
            errno,
        }
    }

    /// Call `f` for every event in `mask` (`sys::GUESTFS_EVENT_*` bits).
    fn set_event_callback(
        &mut self,
        mask: u64,
        f: impl FnMut(&Event<'_>) + Send + 'static,
    ) -> Result<()> {
        let mut cb: Box<Callback> = Box::new(Box::new(f));
        let opaque = &mut *cb as *mut Callback as *mut c_void;
        check_int!(
            self,
            "guestfs_set_event_callback",
            sys::guestfs_set_event_callback(self.g, event_trampoline, mask, 0, opaque)
        )?;
        self.callbacks.push(cb);
        Ok(())
    }

    /// Route libguestfs's events into the step log: library and appliance
    /// messages and warnings as debug lines, API traces and progress as
    /// trace lines.  `verbose` turns on libguestfs's verbose mode (the
    /// appliance's console: large, but what a post-mortem needs).
    pub fn route_events_to_log(&mut self, verbose: bool) -> Result<()> {
        let mask = sys::GUESTFS_EVENT_LIBRARY
            | sys::GUESTFS_EVENT_APPLIANCE
            | sys::GUESTFS_EVENT_TRACE
            | sys::GUESTFS_EVENT_WARNING
            | sys::GUESTFS_EVENT_PROGRESS;
        let mut lines = LineBuffer::default();
        self.set_event_callback(mask, move |ev| match ev.kind {
            sys::GUESTFS_EVENT_APPLIANCE => {
                for l in lines.push(ev.buf) {
                    helper_common::debug!("appliance: {l}");
                }
            }
            sys::GUESTFS_EVENT_LIBRARY => {
                helper_common::debug!("libguestfs: {}", text(ev.buf))
            }
            sys::GUESTFS_EVENT_WARNING => {
                helper_common::debug!("libguestfs warning: {}", text(ev.buf))
            }
            sys::GUESTFS_EVENT_TRACE => helper_common::trace!("guestfs: {}", text(ev.buf)),
            sys::GUESTFS_EVENT_PROGRESS => {
                if let [_, _, pos, total] = ev.array {
                    helper_common::trace!("guestfs progress: {pos}/{total}");
                }
            }
            _ => {}
        })?;
        self.set_verbose(verbose)?;
        self.set_trace(true)
    }

    fn set_verbose(&self, on: bool) -> Result<()> {
        check_int!(
            self,
            "guestfs_set_verbose",
            sys::guestfs_set_verbose(self.g, on as c_int)
        )
        .map(drop)
    }

    fn set_trace(&self, on: bool) -> Result<()> {
        check_int!(
            self,
            "guestfs_set_trace",
            sys::guestfs_set_trace(self.g, on as c_int)
        )
        .map(drop)
    }

    /// Appliance memory in MiB.
    pub fn set_memsize(&self, mib: i32) -> Result<()> {
        check_int!(
            self,
            "guestfs_set_memsize",
            sys::guestfs_set_memsize(self.g, mib)
        )
        .map(drop)
    }

    /// Appliance vCPUs.
    pub fn set_smp(&self, n: i32) -> Result<()> {
        check_int!(self, "guestfs_set_smp", sys::guestfs_set_smp(self.g, n)).map(drop)
    }

    /// Replace every backend setting (`["force_tcg"]`).
    pub fn set_backend_settings<S: AsRef<str>>(&self, settings: &[S]) -> Result<()> {
        let a = CStrArray::new(settings);
        check_int!(
            self,
            "guestfs_set_backend_settings",
            sys::guestfs_set_backend_settings(self.g, a.as_ptr())
        )
        .map(drop)
    }

    /// Add a drive with options (before [`launch`](Self::launch)).
    fn add_drive(&self, filename: &str, o: &DriveOpts) -> Result<()> {
        let f = cstr(filename);
        let format = o.format.as_deref().map(cstr);
        let protocol = o.protocol.as_deref().map(cstr);
        let cachemode = o.cachemode.as_deref().map(cstr);
        let discard = o.discard.as_deref().map(cstr);
        let server = CStrArray::new(&o.server);
        let p = |c: &Option<CString>| c.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        let mut bits = sys::ADD_DRIVE_READONLY;
        for (set, bit) in [
            (format.is_some(), sys::ADD_DRIVE_FORMAT),
            (protocol.is_some(), sys::ADD_DRIVE_PROTOCOL),
            (!o.server.is_empty(), sys::ADD_DRIVE_SERVER),
            (cachemode.is_some(), sys::ADD_DRIVE_CACHEMODE),
            (discard.is_some(), sys::ADD_DRIVE_DISCARD),
        ] {
            if set {
                bits |= bit;
            }
        }
        let args = sys::guestfs_add_drive_opts_argv {
            bitmask: bits,
            readonly: o.readonly as c_int,
            format: p(&format),
            iface: ptr::null(),
            name: ptr::null(),
            label: ptr::null(),
            protocol: p(&protocol),
            server: server.as_ptr(),
            username: ptr::null(),
            secret: ptr::null(),
            cachemode: p(&cachemode),
            discard: p(&discard),
            copyonread: 0,
            blocksize: 0,
        };
        check_int!(
            self,
            "guestfs_add_drive_opts",
            sys::guestfs_add_drive_opts_argv(self.g, f.as_ptr(), &args)
        )
        .map(drop)
    }

    /// Add the NBD server listening on Unix socket `socket` as a raw drive.
    /// Writable drives allow discard (so `fstrim` reaches the overlay) and
    /// use cache=unsafe (the overlay is scratch space; the appliance is shut
    /// down cleanly before anyone reads it).
    pub fn add_drive_nbd(&self, socket: &Path, readonly: bool) -> Result<()> {
        self.add_drive("", &nbd_drive_opts(socket, readonly))
    }

    /// Boot the appliance.
    pub fn launch(&self) -> Result<()> {
        check_int!(self, "guestfs_launch", sys::guestfs_launch(self.g)).map(drop)
    }

    /// Shut the appliance down cleanly (flushes every write to the drives).
    pub fn shutdown(&self) -> Result<()> {
        check_int!(self, "guestfs_shutdown", sys::guestfs_shutdown(self.g)).map(drop)
    }

    pub fn inspect_os(&self) -> Result<Vec<String>> {
        check_list!(self, "guestfs_inspect_os", sys::guestfs_inspect_os(self.g))
    }

    /// Mountpoints of a root as (mountpoint, device) pairs.
    pub fn inspect_get_mountpoints(&self, root: &str) -> Result<Vec<(String, String)>> {
        let r = cstr(root);
        let flat = check_list!(
            self,
            "guestfs_inspect_get_mountpoints",
            sys::guestfs_inspect_get_mountpoints(self.g, r.as_ptr())
        )?;
        Ok(pairs(flat))
    }

    pub fn mount(&self, device: &str, mountpoint: &str) -> Result<()> {
        let (d, m) = (cstr(device), cstr(mountpoint));
        check_int!(
            self,
            "guestfs_mount",
            sys::guestfs_mount(self.g, d.as_ptr(), m.as_ptr())
        )
        .map(drop)
    }
    pub fn mount_ro(&self, device: &str, mountpoint: &str) -> Result<()> {
        let (d, m) = (cstr(device), cstr(mountpoint));
        check_int!(
            self,
            "guestfs_mount_ro",
            sys::guestfs_mount_ro(self.g, d.as_ptr(), m.as_ptr())
        )
        .map(drop)
    }
    pub fn umount_all(&self) -> Result<()> {
        check_int!(self, "guestfs_umount_all", sys::guestfs_umount_all(self.g)).map(drop)
    }

    /// The whole file (binary safe).
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let p = cstr(path);
        let mut size: size_t = 0;
        // SAFETY: valid handle and path; size_r points to our local.
        let r = unsafe { sys::guestfs_read_file(self.g, p.as_ptr(), &mut size) };
        if r.is_null() {
            return Err(self.error("guestfs_read_file"));
        }
        // SAFETY: libguestfs returns `size` bytes in a malloc'd buffer.
        let v = unsafe { std::slice::from_raw_parts(r as *const u8, size) }.to_vec();
        // SAFETY: we own the buffer.
        unsafe { libc::free(r as *mut c_void) };
        Ok(v)
    }
    /// Create or replace a file with `content`.
    pub fn write(&self, path: &str, content: &[u8]) -> Result<()> {
        let p = cstr(path);
        check_int!(
            self,
            "guestfs_write",
            sys::guestfs_write(
                self.g,
                p.as_ptr(),
                content.as_ptr() as *const c_char,
                content.len()
            )
        )
        .map(drop)
    }
    /// Run `/bin/sh -c COMMAND` in the guest (chrooted into the mounted
    /// root); returns stdout.  A non-zero exit is an error whose message
    /// holds the command's stderr.
    pub fn sh(&self, command: &str) -> Result<String> {
        let c = cstr(command);
        check_str!(self, "guestfs_sh", sys::guestfs_sh(self.g, c.as_ptr()))
    }
    /// Discard unused blocks of the filesystem mounted at `mountpoint`.
    pub fn fstrim(&self, mountpoint: &str) -> Result<()> {
        let m = cstr(mountpoint);
        let args = sys::guestfs_fstrim_argv {
            bitmask: 0,
            offset: 0,
            length: 0,
            minimumfreeextent: 0,
        };
        check_int!(
            self,
            "guestfs_fstrim",
            sys::guestfs_fstrim_argv(self.g, m.as_ptr(), &args)
        )
        .map(drop)
    }
    pub fn statvfs(&self, path: &str) -> Result<StatVfs> {
        let p = cstr(path);
        // SAFETY: valid handle and path.
        let s = unsafe { sys::guestfs_statvfs(self.g, p.as_ptr()) };
        if s.is_null() {
            return Err(self.error("guestfs_statvfs"));
        }
        // SAFETY: non-null result points to a struct we own.
        let r = unsafe {
            let v = &*s;
            let r = StatVfs {
                bsize: v.bsize,
                blocks: v.blocks,
                bfree: v.bfree,
                bavail: v.bavail,
                files: v.files,
                ffree: v.ffree,
            };
            sys::guestfs_free_statvfs(s);
            r
        };
        Ok(r)
    }
    pub fn list_partitions(&self) -> Result<Vec<String>> {
        check_list!(
            self,
            "guestfs_list_partitions",
            sys::guestfs_list_partitions(self.g)
        )
    }
    /// Every mountable with its filesystem type (`ext4`, `swap`,
    /// `unknown`, ...), as `guestfs_list_filesystems`: no mounting, no
    /// inspection.
    pub fn list_filesystems(&self) -> Result<Vec<(String, String)>> {
        let flat = check_list!(
            self,
            "guestfs_list_filesystems",
            sys::guestfs_list_filesystems(self.g)
        )?;
        Ok(pairs(flat))
    }
    pub fn part_get_gpt_type(&self, device: &str, partnum: i32) -> Result<String> {
        let d = cstr(device);
        check_str!(
            self,
            "guestfs_part_get_gpt_type",
            sys::guestfs_part_get_gpt_type(self.g, d.as_ptr(), partnum)
        )
    }
    pub fn part_get_mbr_id(&self, device: &str, partnum: i32) -> Result<i32> {
        let d = cstr(device);
        check_int!(
            self,
            "guestfs_part_get_mbr_id",
            sys::guestfs_part_get_mbr_id(self.g, d.as_ptr(), partnum)
        )
    }
}

/// Methods wrapping libguestfs calls that take the handle and one string,
/// by what they return: `text` (an owned string), `int`, `bool` (a
/// predicate), `unit`, `list` (owned strings).
macro_rules! one_string_arg {
    ($($(#[$doc:meta])* $kind:ident $name:ident($arg:ident) = $ffi:ident;)*) => {
        impl Guestfs {
            $(one_string_arg!(@$kind $(#[$doc])* $name $arg $ffi);)*
        }
    };
    (@text $(#[$doc:meta])* $name:ident $arg:ident $ffi:ident) => {
        $(#[$doc])*
        pub fn $name(&self, $arg: &str) -> Result<String> {
            let a = cstr($arg);
            check_str!(self, stringify!($ffi), sys::$ffi(self.g, a.as_ptr()))
        }
    };
    (@list $(#[$doc:meta])* $name:ident $arg:ident $ffi:ident) => {
        $(#[$doc])*
        pub fn $name(&self, $arg: &str) -> Result<Vec<String>> {
            let a = cstr($arg);
            check_list!(self, stringify!($ffi), sys::$ffi(self.g, a.as_ptr()))
        }
    };
    (@int $(#[$doc:meta])* $name:ident $arg:ident $ffi:ident) => {
        $(#[$doc])*
        pub fn $name(&self, $arg: &str) -> Result<i32> {
            let a = cstr($arg);
            check_int!(self, stringify!($ffi), sys::$ffi(self.g, a.as_ptr()))
        }
    };
    (@bool $(#[$doc:meta])* $name:ident $arg:ident $ffi:ident) => {
        $(#[$doc])*
        pub fn $name(&self, $arg: &str) -> Result<bool> {
            let a = cstr($arg);
            check_int!(self, stringify!($ffi), sys::$ffi(self.g, a.as_ptr())).map(|r| r != 0)
        }
    };
    (@unit $(#[$doc:meta])* $name:ident $arg:ident $ffi:ident) => {
        $(#[$doc])*
        pub fn $name(&self, $arg: &str) -> Result<()> {
            let a = cstr($arg);
            check_int!(self, stringify!($ffi), sys::$ffi(self.g, a.as_ptr())).map(drop)
        }
    };
}

one_string_arg! {
    text inspect_get_type(root) = guestfs_inspect_get_type;
    text inspect_get_distro(root) = guestfs_inspect_get_distro;
    text inspect_get_product_name(root) = guestfs_inspect_get_product_name;
    int inspect_get_major_version(root) = guestfs_inspect_get_major_version;
    int inspect_get_minor_version(root) = guestfs_inspect_get_minor_version;
    text inspect_get_arch(root) = guestfs_inspect_get_arch;
    text inspect_get_hostname(root) = guestfs_inspect_get_hostname;
    text inspect_get_package_format(root) = guestfs_inspect_get_package_format;
    text inspect_get_package_management(root) = guestfs_inspect_get_package_management;
    text inspect_get_osinfo(root) = guestfs_inspect_get_osinfo;
    bool exists(path) = guestfs_exists;
    unit touch(path) = guestfs_touch;
    unit mkdir_p(path) = guestfs_mkdir_p;
    list glob_expand(pattern) = guestfs_glob_expand;
    /// `msdos`, `gpt`, ...
    text part_get_parttype(device) = guestfs_part_get_parttype;
    /// The filesystem type of a device or mountable (`crypto_LUKS`,
    /// `LVM2_member`, `btrfs`, `xfs`, ...).
    text vfs_type(mountable) = guestfs_vfs_type;
    /// The UUID of a LUKS device's header.
    text luks_uuid(device) = guestfs_luks_uuid;
}

// After the macros it uses.
pub mod hivex;

impl Drop for Guestfs {
    fn drop(&mut self) {
        // SAFETY: we own the handle; callbacks are still alive during close
        // (a CLOSE event may fire) and are dropped after.
        unsafe { sys::guestfs_close(self.g) };
        self.g = ptr::null_mut();
    }
}

/// The `add_drive` options for an NBD Unix socket.
fn nbd_drive_opts(socket: &Path, readonly: bool) -> DriveOpts {
    DriveOpts {
        readonly,
        format: Some("raw".into()),
        protocol: Some("nbd".into()),
        server: vec![format!("unix:{}", socket.display())],
        cachemode: if readonly {
            None
        } else {
            Some("unsafe".into())
        },
        discard: if readonly {
            None
        } else {
            Some("besteffort".into())
        },
    }
}

/// `[k1, v1, k2, v2, ...]` (libguestfs's hash lists) as pairs.
fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut it = flat.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end().to_string()
}

/// Splits a stream of byte chunks (appliance console output) into lines.
#[derive(Default)]
struct LineBuffer {
    partial: Vec<u8>,
}

impl LineBuffer {
    fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(i) = self.partial.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            let s = String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            // Strip terminal escape sequences the appliance prints.
            let s: String = strip_escapes(&s);
            if !s.trim().is_empty() {
                out.push(s);
            }
        }
        out
    }
}

fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            if it.peek() == Some(&'[') {
                it.next();
                for d in it.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c.is_control() && c != '\t' {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_buffer_splits_chunks() {
        let mut b = LineBuffer::default();
        assert!(b.push(b"hello ").is_empty());
        assert_eq!(
            b.push(b"world\r\nnext\n\x1b[1;1Hx"),
            vec!["hello world", "next"]
        );
        assert_eq!(b.push(b"y\n"), vec!["xy"]);
    }

    #[test]
    fn hash_lists_become_pairs() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            pairs(l(&["/dev/sda1", "ext4", "/dev/sda2", "swap"])),
            [
                ("/dev/sda1".to_string(), "ext4".to_string()),
                ("/dev/sda2".to_string(), "swap".to_string())
            ]
        );
        // A dangling key (never from libguestfs) is dropped.
        assert_eq!(pairs(l(&["/dev/sda1"])), []);
        assert_eq!(pairs(vec![]), []);
    }

    #[test]
    fn nbd_options() {
        let o = nbd_drive_opts(Path::new("/tmp/d/in1"), false);
        assert_eq!(o.server, vec!["unix:/tmp/d/in1"]);
        assert_eq!(o.protocol.as_deref(), Some("nbd"));
        assert_eq!(o.format.as_deref(), Some("raw"));
        assert_eq!(o.discard.as_deref(), Some("besteffort"));
        assert!(nbd_drive_opts(Path::new("/x"), true).discard.is_none());
    }

    #[test]
    fn errors_carry_message_and_errno() {
        let g = Guestfs::new().expect("libguestfs handle");
        // Not launched: every daemon call fails with a clear message.
        let e = g.exists("/etc").unwrap_err();
        assert_eq!(e.call, "guestfs_exists");
        assert!(e.message.contains("launch"), "{e}");
        // A bad option value: libguestfs's own message, errno EINVAL.
        let e = g.set_memsize(-5).unwrap_err();
        assert!(!e.message.is_empty(), "{e}");
        let e = Error {
            call: "guestfs_read_file",
            message: "open: /x: No such file or directory".into(),
            errno: Errno::ENOENT as i32,
        };
        assert!(e.is_enoent());
        assert!(e.to_string().contains("errno 2"), "{e}");
    }

    #[test]
    fn handle_is_send_and_events_are_delivered() {
        fn is_send<T: Send>() {}
        is_send::<Guestfs>();
        let mut g = Guestfs::new().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        g.set_event_callback(sys::GUESTFS_EVENT_TRACE, move |ev| {
            s2.lock()
                .unwrap()
                .push(String::from_utf8_lossy(ev.buf).into_owned())
        })
        .unwrap();
        g.set_trace(true).unwrap();
        g.set_memsize(700).unwrap();
        let v = seen.lock().unwrap().clone();
        assert!(v.iter().any(|l| l.contains("set_memsize 700")), "{v:?}");
        // Moves to another thread and drops (closes) there.
        std::thread::spawn(move || drop(g)).join().unwrap();
    }
}
