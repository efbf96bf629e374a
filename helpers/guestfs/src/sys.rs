//! Raw declarations, written by hand from `/usr/include/guestfs.h`
//! (libguestfs 1.48).  Only the calls v2v-helpers uses.

#![allow(non_camel_case_types)]

use libc::{c_char, c_int, c_uint, c_void, size_t};

#[repr(C)]
pub struct guestfs_h {
    _private: [u8; 0],
}

pub type guestfs_event_callback = unsafe extern "C" fn(
    g: *mut guestfs_h,
    opaque: *mut c_void,
    event: u64,
    event_handle: c_int,
    flags: c_int,
    buf: *const c_char,
    buf_len: size_t,
    array: *const u64,
    array_len: size_t,
);

pub type guestfs_error_handler_cb =
    Option<unsafe extern "C" fn(g: *mut guestfs_h, opaque: *mut c_void, msg: *const c_char)>;

pub const GUESTFS_CREATE_NO_CLOSE_ON_EXIT: c_uint = 1 << 1;

pub const GUESTFS_EVENT_CLOSE: u64 = 0x0001;
pub const GUESTFS_EVENT_SUBPROCESS_QUIT: u64 = 0x0002;
pub const GUESTFS_EVENT_LAUNCH_DONE: u64 = 0x0004;
pub const GUESTFS_EVENT_PROGRESS: u64 = 0x0008;
pub const GUESTFS_EVENT_APPLIANCE: u64 = 0x0010;
pub const GUESTFS_EVENT_LIBRARY: u64 = 0x0020;
pub const GUESTFS_EVENT_TRACE: u64 = 0x0040;
pub const GUESTFS_EVENT_ENTER: u64 = 0x0080;
pub const GUESTFS_EVENT_WARNING: u64 = 0x0200;

#[repr(C)]
pub struct guestfs_add_drive_opts_argv {
    pub bitmask: u64,
    pub readonly: c_int,
    pub format: *const c_char,
    pub iface: *const c_char,
    pub name: *const c_char,
    pub label: *const c_char,
    pub protocol: *const c_char,
    pub server: *const *mut c_char,
    pub username: *const c_char,
    pub secret: *const c_char,
    pub cachemode: *const c_char,
    pub discard: *const c_char,
    pub copyonread: c_int,
    pub blocksize: c_int,
}
pub const ADD_DRIVE_READONLY: u64 = 1 << 0;
pub const ADD_DRIVE_FORMAT: u64 = 1 << 1;
pub const ADD_DRIVE_PROTOCOL: u64 = 1 << 5;
pub const ADD_DRIVE_SERVER: u64 = 1 << 6;
pub const ADD_DRIVE_CACHEMODE: u64 = 1 << 9;
pub const ADD_DRIVE_DISCARD: u64 = 1 << 10;

#[repr(C)]
pub struct guestfs_cryptsetup_open_argv {
    pub bitmask: u64,
    pub readonly: c_int,
    pub crypttype: *const c_char,
}
pub const CRYPTSETUP_OPEN_READONLY: u64 = 1 << 0;

#[repr(C)]
pub struct guestfs_fstrim_argv {
    pub bitmask: u64,
    pub offset: i64,
    pub length: i64,
    pub minimumfreeextent: i64,
}

#[repr(C)]
pub struct guestfs_statvfs {
    pub bsize: i64,
    pub frsize: i64,
    pub blocks: i64,
    pub bfree: i64,
    pub bavail: i64,
    pub files: i64,
    pub ffree: i64,
    pub favail: i64,
    pub fsid: i64,
    pub flag: i64,
    pub namemax: i64,
}

extern "C" {
    pub fn guestfs_create_flags(flags: c_uint, ...) -> *mut guestfs_h;
    pub fn guestfs_close(g: *mut guestfs_h);
    pub fn guestfs_last_error(g: *mut guestfs_h) -> *const c_char;
    pub fn guestfs_last_errno(g: *mut guestfs_h) -> c_int;
    pub fn guestfs_set_error_handler(
        g: *mut guestfs_h,
        cb: guestfs_error_handler_cb,
        opaque: *mut c_void,
    );
    pub fn guestfs_set_event_callback(
        g: *mut guestfs_h,
        cb: guestfs_event_callback,
        event_bitmask: u64,
        flags: c_int,
        opaque: *mut c_void,
    ) -> c_int;

    pub fn guestfs_set_memsize(g: *mut guestfs_h, memsize: c_int) -> c_int;
    pub fn guestfs_set_smp(g: *mut guestfs_h, smp: c_int) -> c_int;
    pub fn guestfs_set_backend_settings(g: *mut guestfs_h, settings: *const *mut c_char) -> c_int;
    pub fn guestfs_set_verbose(g: *mut guestfs_h, verbose: c_int) -> c_int;
    pub fn guestfs_set_trace(g: *mut guestfs_h, trace: c_int) -> c_int;
    pub fn guestfs_add_drive_opts_argv(
        g: *mut guestfs_h,
        filename: *const c_char,
        optargs: *const guestfs_add_drive_opts_argv,
    ) -> c_int;
    pub fn guestfs_launch(g: *mut guestfs_h) -> c_int;
    pub fn guestfs_shutdown(g: *mut guestfs_h) -> c_int;

    pub fn guestfs_inspect_os(g: *mut guestfs_h) -> *mut *mut c_char;
    pub fn guestfs_inspect_get_type(g: *mut guestfs_h, root: *const c_char) -> *mut c_char;
    pub fn guestfs_inspect_get_distro(g: *mut guestfs_h, root: *const c_char) -> *mut c_char;
    pub fn guestfs_inspect_get_product_name(g: *mut guestfs_h, root: *const c_char) -> *mut c_char;
    pub fn guestfs_inspect_get_major_version(g: *mut guestfs_h, root: *const c_char) -> c_int;
    pub fn guestfs_inspect_get_minor_version(g: *mut guestfs_h, root: *const c_char) -> c_int;
    pub fn guestfs_inspect_get_arch(g: *mut guestfs_h, root: *const c_char) -> *mut c_char;
    pub fn guestfs_inspect_get_hostname(g: *mut guestfs_h, root: *const c_char) -> *mut c_char;
    pub fn guestfs_inspect_get_package_format(
        g: *mut guestfs_h,
        root: *const c_char,
    ) -> *mut c_char;
    pub fn guestfs_inspect_get_package_management(
        g: *mut guestfs_h,
        root: *const c_char,
    ) -> *mut c_char;
    pub fn guestfs_inspect_get_osinfo(g: *mut guestfs_h, root: *const c_char) -> *mut c_char;
    pub fn guestfs_inspect_get_mountpoints(
        g: *mut guestfs_h,
        root: *const c_char,
    ) -> *mut *mut c_char;

    pub fn guestfs_mount(g: *mut guestfs_h, mountable: *const c_char, mp: *const c_char) -> c_int;
    pub fn guestfs_mount_ro(
        g: *mut guestfs_h,
        mountable: *const c_char,
        mp: *const c_char,
    ) -> c_int;
    pub fn guestfs_umount_all(g: *mut guestfs_h) -> c_int;

    pub fn guestfs_exists(g: *mut guestfs_h, path: *const c_char) -> c_int;
    pub fn guestfs_read_file(
        g: *mut guestfs_h,
        path: *const c_char,
        size_r: *mut size_t,
    ) -> *mut c_char;
    pub fn guestfs_write(
        g: *mut guestfs_h,
        path: *const c_char,
        content: *const c_char,
        size: size_t,
    ) -> c_int;
    pub fn guestfs_touch(g: *mut guestfs_h, path: *const c_char) -> c_int;
    pub fn guestfs_mkdir_p(g: *mut guestfs_h, path: *const c_char) -> c_int;
    pub fn guestfs_glob_expand(g: *mut guestfs_h, pattern: *const c_char) -> *mut *mut c_char;
    pub fn guestfs_sh(g: *mut guestfs_h, command: *const c_char) -> *mut c_char;

    pub fn guestfs_fstrim_argv(
        g: *mut guestfs_h,
        mountpoint: *const c_char,
        optargs: *const guestfs_fstrim_argv,
    ) -> c_int;
    pub fn guestfs_statvfs(g: *mut guestfs_h, path: *const c_char) -> *mut guestfs_statvfs;
    pub fn guestfs_free_statvfs(s: *mut guestfs_statvfs);

    pub fn guestfs_list_partitions(g: *mut guestfs_h) -> *mut *mut c_char;
    pub fn guestfs_list_filesystems(g: *mut guestfs_h) -> *mut *mut c_char;
    pub fn guestfs_vfs_type(g: *mut guestfs_h, mountable: *const c_char) -> *mut c_char;
    pub fn guestfs_luks_uuid(g: *mut guestfs_h, device: *const c_char) -> *mut c_char;
    pub fn guestfs_cryptsetup_open_argv(
        g: *mut guestfs_h,
        device: *const c_char,
        key: *const c_char,
        mapname: *const c_char,
        optargs: *const guestfs_cryptsetup_open_argv,
    ) -> c_int;
    pub fn guestfs_cryptsetup_close(g: *mut guestfs_h, device: *const c_char) -> c_int;
    pub fn guestfs_lvm_scan(g: *mut guestfs_h, activate: c_int) -> c_int;
    pub fn guestfs_vg_activate_all(g: *mut guestfs_h, activate: c_int) -> c_int;
    pub fn guestfs_lvs(g: *mut guestfs_h) -> *mut *mut c_char;
    pub fn guestfs_part_get_parttype(g: *mut guestfs_h, device: *const c_char) -> *mut c_char;
    pub fn guestfs_part_get_gpt_type(
        g: *mut guestfs_h,
        device: *const c_char,
        partnum: c_int,
    ) -> *mut c_char;
    pub fn guestfs_part_get_mbr_id(
        g: *mut guestfs_h,
        device: *const c_char,
        partnum: c_int,
    ) -> c_int;
}
