//! Encrypted (LUKS) devices: open them with the keys given (`--key`,
//! `--keys-from-stdin` in the runners), as virt-v2v does before
//! inspection, then LVM inside them; and give each opened device the name
//! the guest's `/etc/crypttab` uses for it, so that the guest's own
//! initramfs tools (Debian's cryptroot hook) recognise the root device
//! when the initramfs is rebuilt.
//!
//! A device that needs a key and has none, or whose keys all fail, is
//! unsupported (exit 5) with a message naming the device.  No key is ever
//! logged: only the device, the UUID and how many keys were tried.

use helper_common::keys::{Keys, Secret};
use helper_common::{debug, message, Failure, OrFail, Result};
use v2v_guestfs::Guestfs;

/// A LUKS device opened as `/dev/mapper/MAPNAME`.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The encrypted device (`/dev/sda2`, or an LV).
    pub device: String,
    pub uuid: Option<String>,
    pub mapname: String,
    /// The key that opened it (to reopen it under another name).
    key: Secret,
}

/// The device-mapper name for an opened device: `luks-UUID`, else
/// `crypt` + the device name's letters and digits (virt-v2v's rule).
pub fn mapname(device: &str, uuid: Option<&str>) -> String {
    match uuid {
        Some(u) if !u.is_empty() => format!("luks-{u}"),
        _ => {
            let d = device.strip_prefix("/dev/").unwrap_or(device);
            let alnum: String = d.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            format!("crypt{alnum}")
        }
    }
}

/// Open every LUKS partition, then (after an LVM rescan) every LUKS
/// logical volume.  `readonly` for `--inspect-only`.
pub fn open_encrypted(g: &Guestfs, keys: &Keys, readonly: bool) -> Result<Vec<Opened>> {
    let parts = g.list_partitions().or_fail(Failure::failed)?;
    let mut opened = open_each(g, keys, &parts, readonly)?;
    if !opened.is_empty() {
        g.lvm_scan(true).or_fail(Failure::failed)?;
    }
    let lvs = g.lvs().unwrap_or_default();
    let more = open_each(g, keys, &lvs, readonly)?;
    if !more.is_empty() {
        g.lvm_scan(true).or_fail(Failure::failed)?;
    }
    opened.extend(more);
    Ok(opened)
}

fn open_each(g: &Guestfs, keys: &Keys, devices: &[String], readonly: bool) -> Result<Vec<Opened>> {
    let mut opened = Vec::new();
    for dev in devices {
        if g.vfs_type(dev).ok().as_deref() != Some("crypto_LUKS") {
            continue;
        }
        let uuid = g.luks_uuid(dev).ok().filter(|u| !u.is_empty());
        let about = match &uuid {
            Some(u) => format!("{dev} (LUKS UUID {u})"),
            None => dev.clone(),
        };
        let candidates = keys.for_device(dev, uuid.as_deref());
        if candidates.is_empty() {
            return Err(Failure::unsupported(format!(
                "the encrypted (LUKS) device {about} needs a key: give one with \
                 --key {dev}:key:PASSPHRASE, --key {dev}:file:FILE, --key all:... \
                 or --keys-from-stdin"
            )));
        }
        let name = mapname(dev, uuid.as_deref());
        let mut last = None;
        for (i, k) in candidates.iter().enumerate() {
            match g.cryptsetup_open(dev, k.expose(), &name, readonly) {
                Ok(()) => {
                    message!("Opened the encrypted device {about} as /dev/mapper/{name}");
                    debug!("{dev}: key {} of {} opened it", i + 1, candidates.len());
                    opened.push(Opened {
                        device: dev.clone(),
                        uuid: uuid.clone(),
                        mapname: name.clone(),
                        key: (*k).clone(),
                    });
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            return Err(Failure::unsupported(format!(
                "cannot open the encrypted (LUKS) device {about}: none of the {} key(s) given \
                 for it works",
                candidates.len()
            ))
            .cause(e.message));
        }
    }
    Ok(opened)
}

/// One line of `/etc/crypttab`: the mapped name and the source device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrypttabEntry {
    pub name: String,
    pub source: String,
}

/// Parse `/etc/crypttab` (comments and blank lines skipped).
pub fn parse_crypttab(text: &str) -> Vec<CrypttabEntry> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                return None;
            }
            let mut w = l.split_whitespace();
            Some(CrypttabEntry {
                name: w.next()?.to_string(),
                source: w.next()?.to_string(),
            })
        })
        .collect()
}

/// The name `/etc/crypttab` gives the device, when its source names it by
/// UUID (`UUID=`, `/dev/disk/by-uuid/`) or by its device name.
pub fn crypttab_name<'a>(
    entries: &'a [CrypttabEntry],
    device: &str,
    uuid: Option<&str>,
) -> Option<&'a str> {
    entries
        .iter()
        .find(|e| {
            let s = e.source.as_str();
            let by_uuid = s
                .strip_prefix("UUID=")
                .or_else(|| s.strip_prefix("/dev/disk/by-uuid/"))
                .map(|u| u.trim_matches('"'));
            match (by_uuid, uuid) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (Some(_), None) => false,
                (None, _) => s == device,
            }
        })
        .map(|e| e.name.as_str())
}

/// Give each opened device the name the guest's `/etc/crypttab` uses:
/// read the crypttab of every filesystem that has one, then close and
/// reopen the devices whose names differ.
/// The crypttabs are found without `inspect_os` (the conversion inspects
/// once, after this): each mountable filesystem is mounted read-only in
/// turn, which costs a few seconds where an inspection costs 15-30 under
/// TCG.
pub fn align_with_crypttab(g: &Guestfs, opened: &mut [Opened]) -> Result<()> {
    if opened.is_empty() {
        return Ok(());
    }
    let mut entries = Vec::new();
    for (fs, ty) in g.list_filesystems().or_fail(Failure::failed)? {
        if !may_hold_crypttab(&ty) || g.mount_ro(&fs, "/").is_err() {
            continue;
        }
        if let Ok(b) = g.read_file("/etc/crypttab") {
            debug!("{fs}: /etc/crypttab read");
            entries.extend(parse_crypttab(&String::from_utf8_lossy(&b)));
        }
        g.umount_all().or_fail(Failure::failed)?;
    }
    let renames: Vec<(usize, String)> = opened
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let want = crypttab_name(&entries, &o.device, o.uuid.as_deref())?;
            (want != o.mapname && valid_mapname(want)).then(|| (i, want.to_string()))
        })
        .collect();
    if renames.is_empty() {
        return Ok(());
    }
    // LVs on an opened device hold it open: deactivate them first.
    g.vg_activate_all(false).or_fail(Failure::failed)?;
    for (i, want) in renames {
        let o = &mut opened[i];
        debug!(
            "{}: /etc/crypttab names it {want}: reopening /dev/mapper/{} as /dev/mapper/{want}",
            o.device, o.mapname
        );
        g.cryptsetup_close(&format!("/dev/mapper/{}", o.mapname))
            .or_fail(Failure::failed)?;
        g.cryptsetup_open(&o.device, o.key.expose(), &want, false)
            .map_err(|e| Failure::failed(format!("reopening {} as {want}: {e}", o.device)))?;
        o.mapname = want;
    }
    g.lvm_scan(true).or_fail(Failure::failed)?;
    Ok(())
}

/// Whether a filesystem of type `ty` (`guestfs_list_filesystems`'s) can
/// be a Linux root: not swap, not a container (LUKS, LVM PV, RAID member),
/// not unknown, not a Windows or boot-only type.
fn may_hold_crypttab(ty: &str) -> bool {
    matches!(
        ty,
        "ext2" | "ext3" | "ext4" | "xfs" | "btrfs" | "jfs" | "reiserfs" | "f2fs"
    )
}

/// A device-mapper name we may create (no path, no odd characters).
fn valid_mapname(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 100
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_linux_root_filesystem_types_are_searched_for_a_crypttab() {
        for t in ["ext4", "xfs", "btrfs", "ext2"] {
            assert!(may_hold_crypttab(t), "{t}");
        }
        for t in [
            "swap",
            "crypto_LUKS",
            "LVM2_member",
            "unknown",
            "vfat",
            "ntfs",
            "",
        ] {
            assert!(!may_hold_crypttab(t), "{t}");
        }
    }

    #[test]
    fn map_names_as_virt_v2v() {
        assert_eq!(mapname("/dev/sda2", Some("ab-12")), "luks-ab-12");
        assert_eq!(mapname("/dev/sda2", None), "cryptsda2");
        assert_eq!(mapname("/dev/vg0/lv_crypt", Some("")), "cryptvg0lvcrypt");
    }

    #[test]
    fn crypttab_names_the_device_by_uuid_or_name() {
        let t = "# <target> <source> <key> <options>\n\
                 \n\
                 sda2_crypt UUID=0A1B-cafe /etc/keys/root.key luks,discard\n\
                 data_crypt /dev/sdb1 none luks\n\
                 swap /dev/disk/by-uuid/77 /dev/urandom swap\n";
        let e = parse_crypttab(t);
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[0],
            CrypttabEntry {
                name: "sda2_crypt".into(),
                source: "UUID=0A1B-cafe".into()
            }
        );
        assert_eq!(
            crypttab_name(&e, "/dev/sda2", Some("0a1b-CAFE")),
            Some("sda2_crypt")
        );
        assert_eq!(
            crypttab_name(&e, "/dev/sdb1", Some("99")),
            Some("data_crypt")
        );
        assert_eq!(crypttab_name(&e, "/dev/sdc1", Some("77")), Some("swap"));
        assert_eq!(crypttab_name(&e, "/dev/sdc1", None), None);
        assert!(valid_mapname("sda2_crypt") && !valid_mapname("../x") && !valid_mapname(""));
    }
}
