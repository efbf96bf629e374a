//! Block-device calls: LUKS (`cryptsetup_open/close`; `vfs_type` and
//! `luks_uuid` are with the one-string calls in lib.rs) and LVM (`lvm_scan`, `lvs`), for guests whose root is
//! encrypted or on a logical volume.
//!
//! A LUKS key is passed to libguestfs only: its trace shows a key argument
//! as `***` (a test below checks), and nothing here logs it.

use crate::{cstr, own_list, sys, Guestfs, Result};
use libc::c_int;

impl Guestfs {
    /// Open the LUKS device with `key`, creating `/dev/mapper/MAPNAME`
    /// (read-only when `readonly`).
    pub fn cryptsetup_open(
        &self,
        device: &str,
        key: &str,
        mapname: &str,
        readonly: bool,
    ) -> Result<()> {
        let (d, k, m) = (cstr(device), cstr(key), cstr(mapname));
        let args = sys::guestfs_cryptsetup_open_argv {
            bitmask: sys::CRYPTSETUP_OPEN_READONLY,
            readonly: readonly as c_int,
            crypttype: std::ptr::null(),
        };
        check_int!(
            self,
            "guestfs_cryptsetup_open",
            sys::guestfs_cryptsetup_open_argv(self.g, d.as_ptr(), k.as_ptr(), m.as_ptr(), &args)
        )
        .map(drop)
    }

    /// Close an opened LUKS device (`/dev/mapper/MAPNAME`).
    pub fn cryptsetup_close(&self, device: &str) -> Result<()> {
        let d = cstr(device);
        check_int!(
            self,
            "guestfs_cryptsetup_close",
            sys::guestfs_cryptsetup_close(self.g, d.as_ptr())
        )
        .map(drop)
    }

    /// Rescan for LVM physical volumes, volume groups and logical volumes,
    /// activating them when `activate`.
    pub fn lvm_scan(&self, activate: bool) -> Result<()> {
        check_int!(
            self,
            "guestfs_lvm_scan",
            sys::guestfs_lvm_scan(self.g, activate as c_int)
        )
        .map(drop)
    }

    /// Activate (or deactivate) every logical volume of every volume group.
    pub fn vg_activate_all(&self, activate: bool) -> Result<()> {
        check_int!(
            self,
            "guestfs_vg_activate_all",
            sys::guestfs_vg_activate_all(self.g, activate as c_int)
        )
        .map(drop)
    }

    /// The logical volumes (`/dev/VG/LV`).
    pub fn lvs(&self) -> Result<Vec<String>> {
        check_list!(self, "guestfs_lvs", sys::guestfs_lvs(self.g))
    }
}

#[cfg(test)]
mod tests {
    use crate::Guestfs;

    #[test]
    fn a_key_never_reaches_the_trace() {
        let mut g = Guestfs::new().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        g.set_event_callback(crate::sys::GUESTFS_EVENT_TRACE, move |ev| {
            s2.lock()
                .unwrap()
                .push(String::from_utf8_lossy(ev.buf).into_owned())
        })
        .unwrap();
        g.set_trace(true).unwrap();
        // Not launched: the call fails, after tracing its arguments.
        let e = g
            .cryptsetup_open("/dev/sda2", "hunter2-secret", "luks-x", true)
            .unwrap_err();
        assert_eq!(e.call, "guestfs_cryptsetup_open");
        assert!(!e.message.contains("hunter2"), "{e}");
        let v = seen.lock().unwrap().clone();
        assert!(
            v.iter()
                .any(|l| l.contains("cryptsetup_open") && l.contains("/dev/sda2")),
            "{v:?}"
        );
        assert!(!v.iter().any(|l| l.contains("hunter2")), "{v:?}");
        assert!(g.lvs().is_err() && g.vfs_type("/dev/sda").is_err());
    }
}
