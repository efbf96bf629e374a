//! The libguestfs calls Windows conversion needs: the `hivex_*` calls
//! (registry hives opened inside the appliance), Windows inspection, and
//! the few file calls NTFS guests need (case-insensitive paths, copies).
//!
//! A hive is open on the handle between [`Guestfs::hivex_open`] and
//! [`Guestfs::hivex_close`]; node and value handles (`i64`) are valid
//! only while it is.  Node handle 0 means "no such node".

use super::{cstr, own_list, own_string, Guestfs, Result};
use libc::{c_char, c_int, c_void, size_t};

/// Registry value types (`REG_*`), as hivex numbers them.
pub const REG_SZ: i64 = 1;
pub const REG_EXPAND_SZ: i64 = 2;
pub const REG_BINARY: i64 = 3;
pub const REG_DWORD: i64 = 4;
pub const REG_MULTI_SZ: i64 = 7;
pub const REG_QWORD: i64 = 11;

mod sys {
    #![allow(non_camel_case_types)]
    pub use crate::sys::guestfs_h;
    use libc::{c_char, c_int, size_t};

    #[repr(C)]
    pub struct guestfs_hivex_open_argv {
        pub bitmask: u64,
        pub verbose: c_int,
        pub debug: c_int,
        pub write: c_int,
        pub unsafe_: c_int,
    }
    pub const HIVEX_OPEN_WRITE: u64 = 1 << 2;

    #[repr(C)]
    pub struct guestfs_hivex_handle {
        pub h: i64,
    }
    /// `guestfs_hivex_node_list` and `guestfs_hivex_value_list` share
    /// this layout.
    #[repr(C)]
    pub struct guestfs_hivex_list {
        pub len: u32,
        pub val: *mut guestfs_hivex_handle,
    }

    extern "C" {
        pub fn guestfs_hivex_open_argv(
            g: *mut guestfs_h,
            filename: *const c_char,
            optargs: *const guestfs_hivex_open_argv,
        ) -> c_int;
        pub fn guestfs_hivex_close(g: *mut guestfs_h) -> c_int;
        pub fn guestfs_hivex_commit(g: *mut guestfs_h, filename: *const c_char) -> c_int;
        pub fn guestfs_hivex_root(g: *mut guestfs_h) -> i64;
        pub fn guestfs_hivex_node_get_child(
            g: *mut guestfs_h,
            nodeh: i64,
            name: *const c_char,
        ) -> i64;
        pub fn guestfs_hivex_node_add_child(
            g: *mut guestfs_h,
            parent: i64,
            name: *const c_char,
        ) -> i64;
        pub fn guestfs_hivex_node_delete_child(g: *mut guestfs_h, nodeh: i64) -> c_int;
        pub fn guestfs_hivex_node_children(
            g: *mut guestfs_h,
            nodeh: i64,
        ) -> *mut guestfs_hivex_list;
        pub fn guestfs_hivex_node_name(g: *mut guestfs_h, nodeh: i64) -> *mut c_char;
        pub fn guestfs_hivex_node_get_value(
            g: *mut guestfs_h,
            nodeh: i64,
            key: *const c_char,
        ) -> i64;
        pub fn guestfs_hivex_node_values(g: *mut guestfs_h, nodeh: i64) -> *mut guestfs_hivex_list;
        pub fn guestfs_hivex_node_set_value(
            g: *mut guestfs_h,
            nodeh: i64,
            key: *const c_char,
            t: i64,
            val: *const c_char,
            val_size: size_t,
        ) -> c_int;
        pub fn guestfs_hivex_value_key(g: *mut guestfs_h, valueh: i64) -> *mut c_char;
        pub fn guestfs_hivex_value_type(g: *mut guestfs_h, valueh: i64) -> i64;
        pub fn guestfs_hivex_value_value(
            g: *mut guestfs_h,
            valueh: i64,
            size_r: *mut size_t,
        ) -> *mut c_char;

        pub fn guestfs_inspect_get_product_variant(
            g: *mut guestfs_h,
            root: *const c_char,
        ) -> *mut c_char;
        pub fn guestfs_inspect_get_windows_current_control_set(
            g: *mut guestfs_h,
            root: *const c_char,
        ) -> *mut c_char;
        pub fn guestfs_inspect_get_windows_software_hive(
            g: *mut guestfs_h,
            root: *const c_char,
        ) -> *mut c_char;
        pub fn guestfs_inspect_get_windows_system_hive(
            g: *mut guestfs_h,
            root: *const c_char,
        ) -> *mut c_char;
        pub fn guestfs_inspect_get_windows_systemroot(
            g: *mut guestfs_h,
            root: *const c_char,
        ) -> *mut c_char;
        pub fn guestfs_case_sensitive_path(g: *mut guestfs_h, path: *const c_char) -> *mut c_char;
        pub fn guestfs_find(g: *mut guestfs_h, directory: *const c_char) -> *mut *mut c_char;
        pub fn guestfs_is_file(g: *mut guestfs_h, path: *const c_char) -> c_int;
        pub fn guestfs_is_dir(g: *mut guestfs_h, path: *const c_char) -> c_int;
        pub fn guestfs_rm_rf(g: *mut guestfs_h, path: *const c_char) -> c_int;
        pub fn guestfs_rmdir(g: *mut guestfs_h, path: *const c_char) -> c_int;
        pub fn guestfs_umount(g: *mut guestfs_h, path: *const c_char) -> c_int;
        pub fn guestfs_mkdtemp(g: *mut guestfs_h, tmpl: *const c_char) -> *mut c_char;
        pub fn guestfs_cp(g: *mut guestfs_h, src: *const c_char, dest: *const c_char) -> c_int;
        pub fn guestfs_equal(
            g: *mut guestfs_h,
            file1: *const c_char,
            file2: *const c_char,
        ) -> c_int;
    }
}

/// Take ownership of a hivex node/value list.
unsafe fn own_handles(p: *mut sys::guestfs_hivex_list) -> Vec<i64> {
    // SAFETY: non-null list from libguestfs with `len` elements.
    let l = unsafe { &*p };
    let v = if l.val.is_null() || l.len == 0 {
        Vec::new()
    } else {
        // SAFETY: `len` valid elements.
        unsafe { std::slice::from_raw_parts(l.val, l.len as usize) }
            .iter()
            .map(|h| h.h)
            .collect()
    };
    // SAFETY: both the array and the struct were malloc'd by libguestfs
    // (guestfs_free_hivex_*_list frees exactly these two).
    unsafe {
        libc::free(l.val as *mut c_void);
        libc::free(p as *mut c_void);
    }
    v
}

macro_rules! int64 {
    ($self:ident, $name:expr, $e:expr) => {{
        // SAFETY: valid handle; arguments outlive the call.
        let r = unsafe { $e };
        if r == -1 {
            Err($self.error($name))
        } else {
            Ok(r)
        }
    }};
}

impl Guestfs {
    /// Open the hive file `path` (in the mounted guest); `write` allows
    /// changes, which [`hivex_commit`](Self::hivex_commit) saves.
    pub fn hivex_open(&self, path: &str, write: bool) -> Result<()> {
        let p = cstr(path);
        let o = sys::guestfs_hivex_open_argv {
            bitmask: sys::HIVEX_OPEN_WRITE,
            verbose: 0,
            debug: 0,
            write: write as c_int,
            unsafe_: 0,
        };
        check_int!(
            self,
            "guestfs_hivex_open",
            sys::guestfs_hivex_open_argv(self.g, p.as_ptr(), &o)
        )
        .map(drop)
    }
    pub fn hivex_close(&self) -> Result<()> {
        check_int!(
            self,
            "guestfs_hivex_close",
            sys::guestfs_hivex_close(self.g)
        )
        .map(drop)
    }
    /// Write the open hive's changes back to the file it was opened from.
    pub fn hivex_commit(&self) -> Result<()> {
        check_int!(
            self,
            "guestfs_hivex_commit",
            sys::guestfs_hivex_commit(self.g, std::ptr::null())
        )
        .map(drop)
    }
    pub fn hivex_root(&self) -> Result<i64> {
        int64!(self, "guestfs_hivex_root", sys::guestfs_hivex_root(self.g))
    }
    /// The child node named `name` (case-insensitive), 0 when there is none.
    pub fn hivex_node_get_child(&self, node: i64, name: &str) -> Result<i64> {
        let n = cstr(name);
        int64!(
            self,
            "guestfs_hivex_node_get_child",
            sys::guestfs_hivex_node_get_child(self.g, node, n.as_ptr())
        )
    }
    pub fn hivex_node_add_child(&self, parent: i64, name: &str) -> Result<i64> {
        let n = cstr(name);
        int64!(
            self,
            "guestfs_hivex_node_add_child",
            sys::guestfs_hivex_node_add_child(self.g, parent, n.as_ptr())
        )
    }
    /// Delete a node and everything below it.
    pub fn hivex_node_delete_child(&self, node: i64) -> Result<()> {
        check_int!(
            self,
            "guestfs_hivex_node_delete_child",
            sys::guestfs_hivex_node_delete_child(self.g, node)
        )
        .map(drop)
    }
    pub fn hivex_node_children(&self, node: i64) -> Result<Vec<i64>> {
        // SAFETY: valid handle.
        let p = unsafe { sys::guestfs_hivex_node_children(self.g, node) };
        if p.is_null() {
            return Err(self.error("guestfs_hivex_node_children"));
        }
        // SAFETY: non-null list we own.
        Ok(unsafe { own_handles(p) })
    }
    pub fn hivex_node_name(&self, node: i64) -> Result<String> {
        check_str!(
            self,
            "guestfs_hivex_node_name",
            sys::guestfs_hivex_node_name(self.g, node)
        )
    }
    /// The value named `key` of a node (`""`: the default value), 0 when
    /// there is none.
    pub fn hivex_node_get_value(&self, node: i64, key: &str) -> Result<i64> {
        let k = cstr(key);
        int64!(
            self,
            "guestfs_hivex_node_get_value",
            sys::guestfs_hivex_node_get_value(self.g, node, k.as_ptr())
        )
    }
    pub fn hivex_node_values(&self, node: i64) -> Result<Vec<i64>> {
        // SAFETY: valid handle.
        let p = unsafe { sys::guestfs_hivex_node_values(self.g, node) };
        if p.is_null() {
            return Err(self.error("guestfs_hivex_node_values"));
        }
        // SAFETY: non-null list we own.
        Ok(unsafe { own_handles(p) })
    }
    /// Create or replace value `key` of a node: type `t` (`REG_*`), raw bytes.
    pub fn hivex_node_set_value(&self, node: i64, key: &str, t: i64, val: &[u8]) -> Result<()> {
        let k = cstr(key);
        check_int!(
            self,
            "guestfs_hivex_node_set_value",
            sys::guestfs_hivex_node_set_value(
                self.g,
                node,
                k.as_ptr(),
                t,
                val.as_ptr() as *const c_char,
                val.len()
            )
        )
        .map(drop)
    }
    pub fn hivex_value_key(&self, value: i64) -> Result<String> {
        check_str!(
            self,
            "guestfs_hivex_value_key",
            sys::guestfs_hivex_value_key(self.g, value)
        )
    }
    pub fn hivex_value_type(&self, value: i64) -> Result<i64> {
        int64!(
            self,
            "guestfs_hivex_value_type",
            sys::guestfs_hivex_value_type(self.g, value)
        )
    }
    /// The value's raw bytes.
    pub fn hivex_value_value(&self, value: i64) -> Result<Vec<u8>> {
        let mut size: size_t = 0;
        // SAFETY: valid handle; size_r points to our local.
        let r = unsafe { sys::guestfs_hivex_value_value(self.g, value, &mut size) };
        if r.is_null() {
            return Err(self.error("guestfs_hivex_value_value"));
        }
        // SAFETY: `size` bytes in a malloc'd buffer we now own.
        let v = unsafe { std::slice::from_raw_parts(r as *const u8, size) }.to_vec();
        // SAFETY: freed once.
        unsafe { libc::free(r as *mut c_void) };
        Ok(v)
    }

    /// Add a local disk image or ISO read-only (before launch).
    pub fn add_drive_ro(&self, path: &std::path::Path) -> Result<()> {
        let o = super::DriveOpts {
            readonly: true,
            format: Some("raw".into()),
            protocol: None,
            server: Vec::new(),
            cachemode: None,
            discard: None,
        };
        self.add_drive(&path.to_string_lossy(), &o)
    }

    /// Copy a file inside the guest.
    pub fn cp(&self, src: &str, dest: &str) -> Result<()> {
        let (s, d) = (cstr(src), cstr(dest));
        check_int!(
            self,
            "guestfs_cp",
            sys::guestfs_cp(self.g, s.as_ptr(), d.as_ptr())
        )
        .map(drop)
    }
    /// Two files of the guest have the same content.
    pub fn equal(&self, a: &str, b: &str) -> Result<bool> {
        let (a, b) = (cstr(a), cstr(b));
        check_int!(
            self,
            "guestfs_equal",
            sys::guestfs_equal(self.g, a.as_ptr(), b.as_ptr())
        )
        .map(|r| r != 0)
    }
}

// `sys` here is this module's; the macro names `sys::<call>`.
one_string_arg! {
    /// `client`, `server` (Windows: the registry's InstallationType).
    text inspect_get_product_variant(root) = guestfs_inspect_get_product_variant;
    /// `ControlSet001`, ...
    text inspect_get_windows_current_control_set(root) = guestfs_inspect_get_windows_current_control_set;
    text inspect_get_windows_software_hive(root) = guestfs_inspect_get_windows_software_hive;
    text inspect_get_windows_system_hive(root) = guestfs_inspect_get_windows_system_hive;
    /// `/Windows` (as found on the filesystem).
    text inspect_get_windows_systemroot(root) = guestfs_inspect_get_windows_systemroot;
    /// The path as the (case-insensitive) guest filesystem spells it; the
    /// last element need not exist.
    text case_sensitive_path(path) = guestfs_case_sensitive_path;
    /// Every name below a directory, relative to it.
    list find(directory) = guestfs_find;
    bool is_file(path) = guestfs_is_file;
    bool is_dir(path) = guestfs_is_dir;
    unit rm_rf(path) = guestfs_rm_rf;
    unit rmdir(path) = guestfs_rmdir;
    unit umount(path) = guestfs_umount;
    /// Make a temporary directory from a template ending in `XXXXXX`.
    text mkdtemp(template) = guestfs_mkdtemp;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hivex_calls_need_a_launched_handle() {
        let g = Guestfs::new().unwrap();
        let e = g
            .hivex_open("/Windows/System32/config/SYSTEM", true)
            .unwrap_err();
        assert_eq!(e.call, "guestfs_hivex_open");
        assert!(e.message.contains("launch"), "{e}");
        let e = g.hivex_node_children(1).unwrap_err();
        assert_eq!(e.call, "guestfs_hivex_node_children");
    }
}
