//! Inspection: which operating system (root) to convert, what it is, how it
//! boots.  The pure rules (`--root`, firmware from partition tables) are
//! separate from the libguestfs calls.

use helper_common::{Failure, OrFail, Result};
use std::str::FromStr;
use v2v_guestfs::Guestfs;
use v2v_meta::{Firmware, Inspection, Mountpoint};

/// `--root ask|single|first|/dev/X`: what to do with multi-boot guests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootChoice {
    /// Ask on the terminal when there are several roots (an error without one).
    Ask,
    /// Fail when there are several roots.
    Single,
    /// Take the first root.
    First,
    /// Take this root device.
    Dev(String),
}

impl FromStr for RootChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "ask" => Ok(RootChoice::Ask),
            "single" => Ok(RootChoice::Single),
            "first" => Ok(RootChoice::First),
            d if d.starts_with("/dev/") => Ok(RootChoice::Dev(d.to_string())),
            _ => Err(format!(
                "'{s}': expected ask, single, first or a root device (/dev/...)"
            )),
        }
    }
}

/// libguestfs names disks `/dev/sdX` in the appliance; users may say
/// `/dev/hdX`, `/dev/vdX` or `/dev/xvdX` for the same disk.
pub fn canonical_dev(d: &str) -> String {
    for p in ["/dev/hd", "/dev/vd", "/dev/xvd"] {
        if let Some(rest) = d.strip_prefix(p) {
            if rest.starts_with(|c: char| c.is_ascii_lowercase()) {
                return format!("/dev/sd{rest}");
            }
        }
    }
    d.to_string()
}

/// Asks which root to convert; `None` when it cannot ask.
pub type Prompt<'a> = dyn FnMut(&[(String, String)]) -> Option<usize> + 'a;

/// Choose the root to convert among `roots` (each with a description for
/// messages).  `ask` calls `prompt` when there are several roots; `prompt`
/// returns `None` when there is no terminal to ask on.
pub fn choose_root(
    roots: &[(String, String)],
    choice: &RootChoice,
    prompt: &mut Prompt<'_>,
) -> Result<String> {
    let list = || {
        roots
            .iter()
            .map(|(r, d)| format!("{r} ({d})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if roots.is_empty() {
        return Err(Failure::unsupported(
            "no operating system was found on the source disks (inspection found no root \
             filesystem); is this a data disk, or is the guest encrypted?",
        ));
    }
    match choice {
        RootChoice::Dev(d) => {
            let want = canonical_dev(d);
            roots
                .iter()
                .find(|(r, _)| *r == want || *r == *d)
                .map(|(r, _)| r.clone())
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "--root {d}: not a root of this guest; roots found: {}",
                        list()
                    ))
                })
        }
        _ if roots.len() == 1 => Ok(roots[0].0.clone()),
        RootChoice::First => Ok(roots[0].0.clone()),
        RootChoice::Single => Err(Failure::unsupported(format!(
            "multi-boot guest: {} operating systems found ({}); --root single refuses to \
             choose: use --root first or --root /dev/X",
            roots.len(),
            list()
        ))),
        RootChoice::Ask => match prompt(roots) {
            Some(i) if i < roots.len() => Ok(roots[i].0.clone()),
            Some(_) => Err(Failure::usage("--root ask: no such choice")),
            None => Err(Failure::unsupported(format!(
                "multi-boot guest: {} operating systems found ({}); --root ask needs a \
                 terminal to ask on: use --root first or --root /dev/X",
                roots.len(),
                list()
            ))),
        },
    }
}

/// Ask on the terminal (stderr/stdin), virt-v2v style.  `None` without a
/// terminal.
pub fn terminal_prompt(roots: &[(String, String)]) -> Option<usize> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let mut err = std::io::stderr();
    let _ = writeln!(err, "Dual- or multi-boot operating system detected. Choose the root filesystem\nthat contains the main operating system from the list below:\n");
    for (i, (r, d)) in roots.iter().enumerate() {
        let _ = writeln!(err, " [{}] {r} ({d})", i + 1);
    }
    loop {
        let _ = write!(
            err,
            "\nEnter a number between 1 and {}, or 'exit': ",
            roots.len()
        );
        let _ = err.flush();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim();
        if l == "exit" || l == "q" {
            return None;
        }
        if let Ok(n) = l.parse::<usize>() {
            if (1..=roots.len()).contains(&n) {
                return Some(n - 1);
            }
        }
    }
}

/// ESP partition type GUID.
pub const ESP_GUID: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

/// One partition: its table type (`gpt`, `msdos`), GPT type GUID or MBR id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub partition: String,
    pub table: String,
    pub gpt_type: Option<String>,
    pub mbr_id: Option<i32>,
}

/// UEFI when a disk has an EFI System Partition (GPT type ESP, or MBR id
/// 0xef), else BIOS.
pub fn firmware_of(parts: &[PartInfo]) -> Firmware {
    let esp = parts.iter().any(|p| {
        p.gpt_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(ESP_GUID))
            || p.mbr_id == Some(0xef)
    });
    if esp {
        Firmware::Uefi
    } else {
        Firmware::Bios
    }
}

/// Split an appliance partition name (`/dev/sda1`) into disk and number.
pub fn split_partition(p: &str) -> Option<(String, i32)> {
    let digits = p.chars().rev().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let (disk, n) = p.split_at(p.len() - digits);
    let disk = disk
        .strip_suffix('p')
        .filter(|d| d.ends_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(disk);
    Some((disk.to_string(), n.parse().ok()?))
}

/// Read the partition tables through libguestfs.
pub fn partitions(g: &Guestfs) -> Result<Vec<PartInfo>> {
    let mut v = Vec::new();
    let parts = g.list_partitions().or_fail(Failure::failed)?;
    let mut tables = std::collections::BTreeMap::new();
    for p in parts {
        let Some((disk, n)) = split_partition(&p) else {
            continue;
        };
        let table = match tables.get(&disk) {
            Some(t) => t,
            None => {
                let t = g.part_get_parttype(&disk).unwrap_or_default();
                tables.entry(disk.clone()).or_insert(t)
            }
        }
        .clone();
        let (gpt_type, mbr_id) = match table.as_str() {
            "gpt" => (g.part_get_gpt_type(&disk, n).ok(), None),
            "msdos" => (None, g.part_get_mbr_id(&disk, n).ok()),
            _ => (None, None),
        };
        v.push(PartInfo {
            partition: p,
            table,
            gpt_type,
            mbr_id,
        });
    }
    Ok(v)
}

/// The root of `roots` that is `root`, else the only one there is.
fn same_root<'a>(root: &str, roots: &'a [String]) -> Option<&'a str> {
    roots
        .iter()
        .find(|r| *r == root)
        .or_else(|| (roots.len() == 1).then(|| &roots[0]))
        .map(String::as_str)
}

fn opt(r: v2v_guestfs::Result<String>) -> Option<String> {
    r.ok().filter(|s| !s.is_empty() && s != "unknown")
}

/// The root's inspection data (kernels and firmware are filled in later).
pub fn inspect_root(g: &Guestfs, root: &str) -> Result<Inspection> {
    // libguestfs 1.48 has answered "root device not found" for the btrfs
    // root (`btrfsvol:/dev/sda1/@`) its own inspect_os had just returned
    // (twice in CI runs under load, never when run alone): inspect again
    // and retry, with the new inspection's root when it has only one; a
    // final failure lists the roots found.
    let (root, mountpoints) = match g.inspect_get_mountpoints(root) {
        Err(e) if e.to_string().contains("root device not found") => {
            helper_common::debug!("{root}: {e}; inspecting again");
            let roots = g.inspect_os().or_fail(Failure::failed)?;
            let again = same_root(root, &roots).unwrap_or(root).to_string();
            if again != root {
                helper_common::debug!("{root}: the new inspection names it {again}");
            }
            let mps = g.inspect_get_mountpoints(&again).map_err(|e| {
                Failure::failed(format!(
                    "{e} (inspection found the roots: {})",
                    roots.join(", ")
                ))
            })?;
            (again, Ok(mps))
        }
        other => (root.to_string(), other),
    };
    let root = root.as_str();
    let mut mountpoints: Vec<Mountpoint> = mountpoints
        .or_fail(Failure::failed)?
        .into_iter()
        .map(|(path, device)| Mountpoint { path, device })
        .collect();
    mountpoints.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Inspection {
        os_type: g.inspect_get_type(root).or_fail(Failure::failed)?,
        distro: g
            .inspect_get_distro(root)
            .unwrap_or_else(|_| "unknown".into()),
        product_name: g
            .inspect_get_product_name(root)
            .unwrap_or_else(|_| "unknown".into()),
        major_version: g.inspect_get_major_version(root).unwrap_or(0),
        minor_version: g.inspect_get_minor_version(root).unwrap_or(0),
        arch: g
            .inspect_get_arch(root)
            .unwrap_or_else(|_| "unknown".into()),
        root: root.to_string(),
        hostname: opt(g.inspect_get_hostname(root)),
        package_format: g.inspect_get_package_format(root).unwrap_or_default(),
        package_management: g.inspect_get_package_management(root).unwrap_or_default(),
        osinfo: opt(g.inspect_get_osinfo(root)),
        mountpoints,
        kernels: Vec::new(),
        firmware: Firmware::Unknown,
        windows: None,
    })
}

/// Mount the root's filesystems (shortest mountpoint first).  Failures
/// other than `/` become warnings.
pub fn mount_all(g: &Guestfs, mps: &[Mountpoint], readonly: bool) -> Result<Vec<String>> {
    let mut sorted: Vec<&Mountpoint> = mps.iter().collect();
    sorted.sort_by_key(|m| m.path.len());
    let mut warnings = Vec::new();
    for m in sorted {
        let r = if readonly {
            g.mount_ro(&m.device, &m.path)
        } else {
            g.mount(&m.device, &m.path)
        };
        if let Err(e) = r {
            if m.path == "/" {
                if e.message.contains("Windows") && e.message.contains("unsafe state") {
                    return Err(Failure::unsupported(format!(
                        "unable to mount the disk image for writing ({}): Windows Hibernation \
                         or Fast Restart is probably in use in this guest; disable it in the \
                         guest to convert it.  Original error: {e}",
                        m.device
                    )));
                }
                return Err(Failure::failed(format!(
                    "cannot mount the root filesystem {}: {e}",
                    m.device
                )));
            }
            warnings.push(format!("cannot mount {} on {}: {e}", m.device, m.path));
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_root_is_found_in_a_new_inspection() {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = v(&["/dev/sdb1", "btrfsvol:/dev/sda1/@"]);
        assert_eq!(
            same_root("btrfsvol:/dev/sda1/@", &r),
            Some("btrfsvol:/dev/sda1/@")
        );
        // Not there, two roots: none; one root: that one.
        assert_eq!(same_root("/dev/sdc1", &r), None);
        assert_eq!(
            same_root("btrfsvol:/dev/sda1/@", &v(&["btrfsvol:/dev/sda1/@root"])),
            Some("btrfsvol:/dev/sda1/@root")
        );
        assert_eq!(same_root("/dev/sdc1", &[]), None);
    }

    fn roots(n: usize) -> Vec<(String, String)> {
        (1..=n)
            .map(|i| (format!("/dev/sda{i}"), format!("OS {i}")))
            .collect()
    }

    #[test]
    fn parse_root_choice() {
        assert_eq!("ask".parse::<RootChoice>().unwrap(), RootChoice::Ask);
        assert_eq!(
            "/dev/vda2".parse::<RootChoice>().unwrap(),
            RootChoice::Dev("/dev/vda2".into())
        );
        assert!("sda2".parse::<RootChoice>().is_err());
        assert_eq!(canonical_dev("/dev/hda2"), "/dev/sda2");
        assert_eq!(canonical_dev("/dev/xvdb1"), "/dev/sdb1");
        assert_eq!(canonical_dev("/dev/mapper/vg-root"), "/dev/mapper/vg-root");
    }

    #[test]
    fn root_rules() {
        let mut no_tty = |_: &[(String, String)]| None;
        let mut pick2 = |_: &[(String, String)]| Some(1);
        // No OS: exit 5.
        let f = choose_root(&[], &RootChoice::Ask, &mut no_tty).unwrap_err();
        assert_eq!(f.code, 5);
        assert!(f.message.contains("no operating system"), "{}", f.message);
        // One root: every mode takes it, without asking.
        for c in [RootChoice::Ask, RootChoice::Single, RootChoice::First] {
            assert_eq!(
                choose_root(&roots(1), &c, &mut no_tty).unwrap(),
                "/dev/sda1"
            );
        }
        // Several roots.
        assert_eq!(
            choose_root(&roots(2), &RootChoice::First, &mut no_tty).unwrap(),
            "/dev/sda1"
        );
        let f = choose_root(&roots(2), &RootChoice::Single, &mut no_tty).unwrap_err();
        assert_eq!(f.code, 5);
        assert!(f.message.contains("multi-boot"), "{}", f.message);
        let f = choose_root(&roots(2), &RootChoice::Ask, &mut no_tty).unwrap_err();
        assert_eq!(f.code, 5);
        assert!(f.message.contains("needs a terminal"), "{}", f.message);
        assert_eq!(
            choose_root(&roots(2), &RootChoice::Ask, &mut pick2).unwrap(),
            "/dev/sda2"
        );
        // A named root, in any disk naming.
        assert_eq!(
            choose_root(&roots(2), &RootChoice::Dev("/dev/vda2".into()), &mut no_tty).unwrap(),
            "/dev/sda2"
        );
        let f =
            choose_root(&roots(2), &RootChoice::Dev("/dev/sdb1".into()), &mut no_tty).unwrap_err();
        assert_eq!(f.code, 2);
    }

    #[test]
    fn firmware_from_partitions() {
        let p = |t: &str, g: Option<&str>, m: Option<i32>| PartInfo {
            partition: "/dev/sda1".into(),
            table: t.into(),
            gpt_type: g.map(String::from),
            mbr_id: m,
        };
        assert_eq!(firmware_of(&[p("msdos", None, Some(0x83))]), Firmware::Bios);
        assert_eq!(firmware_of(&[p("msdos", None, Some(0xef))]), Firmware::Uefi);
        assert_eq!(
            firmware_of(&[
                p("gpt", Some("21686148-6449-6E6F-744E-656564454649"), None),
                p("gpt", Some("0FC63DAF-8483-4772-8E79-3D69D8477DE4"), None)
            ]),
            Firmware::Bios
        );
        assert_eq!(
            firmware_of(&[p("gpt", Some("c12a7328-f81f-11d2-ba4b-00a0c93ec93b"), None)]),
            Firmware::Uefi
        );
        assert_eq!(firmware_of(&[]), Firmware::Bios);
        assert_eq!(split_partition("/dev/sda12"), Some(("/dev/sda".into(), 12)));
        assert_eq!(
            split_partition("/dev/nvme0n1p2"),
            Some(("/dev/nvme0n1".into(), 2))
        );
        assert_eq!(split_partition("/dev/sda"), None);
    }
}
