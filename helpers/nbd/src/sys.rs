//! Raw `extern "C"` declarations for the subset of libnbd we use.
//!
//! Written by hand from `/usr/include/libnbd.h` of libnbd 1.14.2 (Debian 12).
//! Every signature here must match that header exactly; nothing outside this
//! crate sees these types.

#![allow(non_camel_case_types)]

use libc::{c_char, c_int, c_uint, c_void};

/// C `size_t`.
type size_t = usize;

/// Opaque `struct nbd_handle`.
#[repr(C)]
pub struct nbd_handle {
    _private: [u8; 0],
}

/// `LIBNBD_SIZE_MINIMUM`.
pub const LIBNBD_SIZE_MINIMUM: c_int = 0;
/// `LIBNBD_SIZE_PREFERRED`.
pub const LIBNBD_SIZE_PREFERRED: c_int = 1;
/// `LIBNBD_SIZE_MAXIMUM`.
pub const LIBNBD_SIZE_MAXIMUM: c_int = 2;

/// `LIBNBD_CMD_FLAG_NO_HOLE`.
pub const LIBNBD_CMD_FLAG_NO_HOLE: u32 = 0x02;
/// `LIBNBD_CMD_FLAG_FAST_ZERO`.
pub const LIBNBD_CMD_FLAG_FAST_ZERO: u32 = 0x10;

/// `LIBNBD_STATE_HOLE` (base:allocation flag bit).
pub const LIBNBD_STATE_HOLE: u32 = 1;
/// `LIBNBD_STATE_ZERO` (base:allocation flag bit).
pub const LIBNBD_STATE_ZERO: u32 = 2;

/// `LIBNBD_AIO_DIRECTION_READ`.
pub const LIBNBD_AIO_DIRECTION_READ: c_uint = 1;
/// `LIBNBD_AIO_DIRECTION_WRITE`.
pub const LIBNBD_AIO_DIRECTION_WRITE: c_uint = 2;

/// `LIBNBD_CONTEXT_BASE_ALLOCATION`, NUL-terminated.
pub const LIBNBD_CONTEXT_BASE_ALLOCATION: &[u8] = b"base:allocation\0";

/// `nbd_completion_callback`, passed by value.
#[repr(C)]
pub struct nbd_completion_callback {
    pub callback: Option<unsafe extern "C" fn(user_data: *mut c_void, error: *mut c_int) -> c_int>,
    pub user_data: *mut c_void,
    pub free: Option<unsafe extern "C" fn(user_data: *mut c_void)>,
}

/// `nbd_extent_callback` (libnbd 1.14: 32-bit entries), passed by value.
#[repr(C)]
pub struct nbd_extent_callback {
    pub callback: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            metacontext: *const c_char,
            offset: u64,
            entries: *mut u32,
            nr_entries: size_t,
            error: *mut c_int,
        ) -> c_int,
    >,
    pub user_data: *mut c_void,
    pub free: Option<unsafe extern "C" fn(user_data: *mut c_void)>,
}

extern "C" {
    pub fn nbd_create() -> *mut nbd_handle;
    pub fn nbd_close(h: *mut nbd_handle);
    pub fn nbd_get_error() -> *const c_char;
    pub fn nbd_get_errno() -> c_int;

    pub fn nbd_set_debug(h: *mut nbd_handle, debug: bool) -> c_int;
    pub fn nbd_set_handle_name(h: *mut nbd_handle, handle_name: *const c_char) -> c_int;
    pub fn nbd_set_pread_initialize(h: *mut nbd_handle, request: bool) -> c_int;
    pub fn nbd_get_pread_initialize(h: *mut nbd_handle) -> c_int;
    pub fn nbd_add_meta_context(h: *mut nbd_handle, name: *const c_char) -> c_int;

    pub fn nbd_connect_uri(h: *mut nbd_handle, uri: *const c_char) -> c_int;
    pub fn nbd_connect_unix(h: *mut nbd_handle, unixsocket: *const c_char) -> c_int;
    pub fn nbd_connect_command(h: *mut nbd_handle, argv: *mut *mut c_char) -> c_int;
    pub fn nbd_aio_connect_uri(h: *mut nbd_handle, uri: *const c_char) -> c_int;
    pub fn nbd_aio_connect_unix(h: *mut nbd_handle, unixsocket: *const c_char) -> c_int;
    pub fn nbd_aio_is_ready(h: *mut nbd_handle) -> c_int;
    pub fn nbd_aio_is_dead(h: *mut nbd_handle) -> c_int;
    pub fn nbd_aio_is_closed(h: *mut nbd_handle) -> c_int;

    pub fn nbd_is_read_only(h: *mut nbd_handle) -> c_int;
    pub fn nbd_can_flush(h: *mut nbd_handle) -> c_int;
    pub fn nbd_can_trim(h: *mut nbd_handle) -> c_int;
    pub fn nbd_can_zero(h: *mut nbd_handle) -> c_int;
    pub fn nbd_can_fast_zero(h: *mut nbd_handle) -> c_int;
    pub fn nbd_can_multi_conn(h: *mut nbd_handle) -> c_int;
    pub fn nbd_can_meta_context(h: *mut nbd_handle, metacontext: *const c_char) -> c_int;
    pub fn nbd_get_size(h: *mut nbd_handle) -> i64;
    pub fn nbd_get_block_size(h: *mut nbd_handle, size_type: c_int) -> i64;

    pub fn nbd_pread(
        h: *mut nbd_handle,
        buf: *mut c_void,
        count: size_t,
        offset: u64,
        flags: u32,
    ) -> c_int;
    pub fn nbd_pwrite(
        h: *mut nbd_handle,
        buf: *const c_void,
        count: size_t,
        offset: u64,
        flags: u32,
    ) -> c_int;
    pub fn nbd_shutdown(h: *mut nbd_handle, flags: u32) -> c_int;
    pub fn nbd_flush(h: *mut nbd_handle, flags: u32) -> c_int;
    pub fn nbd_trim(h: *mut nbd_handle, count: u64, offset: u64, flags: u32) -> c_int;
    pub fn nbd_zero(h: *mut nbd_handle, count: u64, offset: u64, flags: u32) -> c_int;
    pub fn nbd_block_status(
        h: *mut nbd_handle,
        count: u64,
        offset: u64,
        extent_callback: nbd_extent_callback,
        flags: u32,
    ) -> c_int;

    pub fn nbd_poll(h: *mut nbd_handle, timeout: c_int) -> c_int;
    pub fn nbd_aio_pread(
        h: *mut nbd_handle,
        buf: *mut c_void,
        count: size_t,
        offset: u64,
        completion_callback: nbd_completion_callback,
        flags: u32,
    ) -> i64;
    pub fn nbd_aio_pwrite(
        h: *mut nbd_handle,
        buf: *const c_void,
        count: size_t,
        offset: u64,
        completion_callback: nbd_completion_callback,
        flags: u32,
    ) -> i64;
    pub fn nbd_aio_flush(
        h: *mut nbd_handle,
        completion_callback: nbd_completion_callback,
        flags: u32,
    ) -> i64;
    pub fn nbd_aio_zero(
        h: *mut nbd_handle,
        count: u64,
        offset: u64,
        completion_callback: nbd_completion_callback,
        flags: u32,
    ) -> i64;
    pub fn nbd_aio_get_fd(h: *mut nbd_handle) -> c_int;
    pub fn nbd_aio_get_direction(h: *mut nbd_handle) -> c_uint;
    pub fn nbd_aio_notify_read(h: *mut nbd_handle) -> c_int;
    pub fn nbd_aio_notify_write(h: *mut nbd_handle) -> c_int;
    pub fn nbd_aio_in_flight(h: *mut nbd_handle) -> c_int;
}
