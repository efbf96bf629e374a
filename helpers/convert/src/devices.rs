//! Block device renaming: the source's `hd*` / `sd*` / `xvd*` disks become
//! `vd*` on virtio-blk.  Pure functions over text.

use std::collections::BTreeMap;
use v2v_meta::{Bus, SourceDisk};

/// Disk names (without `/dev/` and partition number): old → new.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceMap {
    pub map: BTreeMap<String, String>,
}

pub use v2v_meta::drive_letters;

impl DeviceMap {
    /// The map for the source disks, in order: disk N becomes `vd<N>`.
    /// The names it may have had in the source follow its bus: IDE disks
    /// were `hdX` (old IDE driver) or `sdX` (libata); SATA and SCSI disks
    /// `sdX`; Xen disks `xvdX`.  A disk whose bus is unknown may have had
    /// any of them, at its position.
    pub fn for_disks(disks: &[SourceDisk]) -> Self {
        let mut map = BTreeMap::new();
        let (mut ide, mut sd, mut xen) = (0usize, 0usize, 0usize);
        for (i, d) in disks.iter().enumerate() {
            let new = format!("vd{}", drive_letters(i));
            let mut add = |old: String| {
                map.entry(old).or_insert_with(|| new.clone());
            };
            match d.bus {
                Some(Bus::Ide) => {
                    add(format!("hd{}", drive_letters(ide)));
                    add(format!("sd{}", drive_letters(sd)));
                    ide += 1;
                    sd += 1;
                }
                Some(Bus::Sata) | Some(Bus::Scsi) | Some(Bus::VirtioScsi) => {
                    add(format!("sd{}", drive_letters(sd)));
                    sd += 1;
                }
                Some(Bus::Xen) => {
                    add(format!("xvd{}", drive_letters(xen)));
                    xen += 1;
                }
                Some(Bus::VirtioBlk) => {}
                Some(Bus::Nvme) | Some(Bus::Floppy) | None => {
                    add(format!("sd{}", drive_letters(i)));
                    add(format!("hd{}", drive_letters(i)));
                    add(format!("xvd{}", drive_letters(i)));
                }
            }
        }
        // vd names that move (a virtio disk behind others) are not remapped:
        // virtio names are assigned in the same order.
        DeviceMap { map }
    }

    /// The new name of a disk (`sda` → `vda`), if it is renamed.
    pub fn get(&self, disk: &str) -> Option<&str> {
        self.map.get(disk).map(String::as_str)
    }
}

/// Split `sda1` into (`sda`, `1`) / `xvdb` into (`xvdb`, ``) when it is a
/// Linux disk name of the kinds we rename.
fn split_disk(name: &str) -> Option<(&str, &str)> {
    let prefix = ["xvd", "hd", "sd", "vd"]
        .into_iter()
        .find(|p| name.starts_with(p))?;
    let rest = &name[prefix.len()..];
    let letters = rest.chars().take_while(|c| c.is_ascii_lowercase()).count();
    if letters == 0 {
        return None;
    }
    let digits = &rest[letters..];
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((&name[..prefix.len() + letters], digits))
}

/// Replace `/dev/<old>[N]` by `/dev/<new>[N]` everywhere in `text`.
/// UUID=, LABEL= and /dev/disk/by-* names are left alone.  Returns the new
/// text and how many names changed.
pub fn remap_text(text: &str, map: &DeviceMap) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut n = 0;
    let mut rest = text;
    while let Some(i) = rest.find("/dev/") {
        out.push_str(&rest[..i + 5]);
        rest = &rest[i + 5..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let word = &rest[..end];
        match split_disk(word).and_then(|(disk, part)| map.get(disk).map(|new| (new, part))) {
            Some((new, part)) => {
                out.push_str(new);
                out.push_str(part);
                n += 1;
            }
            None => out.push_str(word),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    (out, n)
}

/// Old-style device names (`/dev/sdX`, `/dev/hdX`, `/dev/xvdX`) still in
/// `text` that the map would rename: what a regenerated boot loader config
/// must not contain.
pub fn stale_names(text: &str, map: &DeviceMap) -> Vec<String> {
    let mut v = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("/dev/") {
        rest = &rest[i + 5..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        if let Some((disk, _)) = split_disk(&rest[..end]) {
            if map.get(disk).is_some() {
                let name = format!("/dev/{}", &rest[..end]);
                if !v.contains(&name) {
                    v.push(name);
                }
            }
        }
        rest = &rest[end..];
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(i: u32, bus: Option<Bus>) -> SourceDisk {
        SourceDisk {
            index: i,
            socket: format!("in{i}"),
            format: "raw".into(),
            size: 1,
            allocated: None,
            bus,
            controller: None,
            unit: None,
            source: "x".into(),
        }
    }

    #[test]
    fn letters() {
        assert_eq!(drive_letters(0), "a");
        assert_eq!(drive_letters(25), "z");
        assert_eq!(drive_letters(26), "aa");
        assert_eq!(drive_letters(27), "ab");
        assert_eq!(drive_letters(701), "zz");
        assert_eq!(drive_letters(702), "aaa");
    }

    #[test]
    fn map_follows_buses() {
        let m = DeviceMap::for_disks(&[disk(1, Some(Bus::Ide)), disk(2, Some(Bus::Scsi))]);
        assert_eq!(m.get("hda"), Some("vda"));
        assert_eq!(m.get("sda"), Some("vda"));
        assert_eq!(m.get("sdb"), Some("vdb"));
        assert_eq!(m.get("hdb"), None);
        let m = DeviceMap::for_disks(&[disk(1, Some(Bus::Xen)), disk(2, Some(Bus::Xen))]);
        assert_eq!(m.get("xvdb"), Some("vdb"));
        let m = DeviceMap::for_disks(&[disk(1, None), disk(2, None)]);
        for (o, n) in [("sda", "vda"), ("hdb", "vdb"), ("xvdb", "vdb")] {
            assert_eq!(m.get(o), Some(n));
        }
    }

    #[test]
    fn remaps_only_device_names() {
        let m = DeviceMap::for_disks(&[disk(1, None), disk(2, None)]);
        let fstab = "/dev/sda1 / ext4 defaults 0 1\n\
                     UUID=1234-abcd /boot ext4 defaults 0 2\n\
                     LABEL=data /data xfs defaults 0 0\n\
                     /dev/sdb /srv ext4 defaults 0 0\n\
                     /dev/sdc1 /x ext4 defaults 0 0\n\
                     /dev/disk/by-id/ata-VMware_sda1 /y ext4 defaults 0 0\n\
                     /dev/mapper/vg-root /z xfs defaults 0 0\n\
                     /dev/sr0 /media/cdrom auto noauto 0 0\n";
        let (t, n) = remap_text(fstab, &m);
        assert_eq!(n, 2);
        assert!(t.starts_with("/dev/vda1 / ext4"));
        assert!(t.contains("/dev/vdb /srv"));
        assert!(
            t.contains("/dev/sdc1 /x"),
            "disk 3 does not exist: left alone"
        );
        assert!(t.contains("UUID=1234-abcd"));
        assert!(t.contains("/dev/disk/by-id/ata-VMware_sda1"));
        let (t, n) = remap_text("root=/dev/hda2 ro resume=/dev/xvdb1 console=ttyS0", &m);
        assert_eq!(
            (t.as_str(), n),
            ("root=/dev/vda2 ro resume=/dev/vdb1 console=ttyS0", 2)
        );
        let (t, _) = remap_text("(hd0) /dev/sda\n", &m);
        assert_eq!(t, "(hd0) /dev/vda\n");
        assert_eq!(
            stale_names(
                "linux /vmlinuz root=/dev/sda1 resume=/dev/sda2 x=/dev/sda1",
                &m
            ),
            vec!["/dev/sda1", "/dev/sda2"]
        );
        assert!(stale_names("root=UUID=x /dev/vda1", &m).is_empty());
    }
}
