//! Parse a VMware `.vmx` file into the source metadata.
//!
//! Pure function from text to structs; the `.vmdk` files it names are
//! followed by the caller.  Keys are case-insensitive (VMware's own rule);
//! values are unquoted and `|XX` hex escapes decoded.

use std::collections::BTreeMap;
use v2v_input_kit::meta::{new_disk, new_source, Slot};
use v2v_meta::{
    Bus, Cpu, CpuTopology, Firmware, NetworkKind, Nic, Origin, Removable, RemovableKind, Source,
};

/// The key/value pairs of a `.vmx`, keys lower-cased.
pub type Vmx = BTreeMap<String, String>;

/// Parse the `key = "value"` lines.  A key given twice with different
/// values is refused: which one counts cannot be told.
pub fn parse_pairs(text: &str) -> Result<Vmx, String> {
    let mut m = Vmx::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected key = \"value\": {line}", n + 1))?;
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        let v = unescape(v);
        match m.get(&k) {
            Some(old) if *old != v => {
                return Err(format!(
                    "line {}: {k} given twice, as {old:?} and {v:?} \
                     (which one is meant cannot be told)",
                    n + 1
                ))
            }
            _ => {}
        }
        m.insert(k, v);
    }
    Ok(m)
}

/// Decode VMware's `|XX` escapes (`|22` is `"`, `|7C` is `|`).
fn unescape(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'|'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let hex = |c: u8| (c as char).to_digit(16).unwrap() as u8;
            out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_true(v: Option<&String>) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A parsed `.vmx`: the metadata (disk sizes 0, `format` "vmdk") and the
/// `fileName` of each disk, in the same order.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedVmx {
    pub source: Source,
    pub disk_files: Vec<String>,
}

/// Parse `.vmx` text.  `default_name` is used when there is no `displayName`.
pub fn parse_vmx(text: &str, default_name: &str, origin: Origin) -> Result<ParsedVmx, String> {
    let vmx = parse_pairs(text)?;
    let get = |k: &str| vmx.get(k);
    let num = |k: &str, default: u64| -> Result<u64, String> {
        match get(k) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("{k} = \"{v}\": not a number")),
        }
    };
    let memory_mib = num("memsize", 32)?;
    let vcpus = num("numvcpus", 1)? as u32;
    let mut cpu = Cpu::default();
    if let Some(cps) = get("cpuid.corespersocket") {
        let cores: u32 = cps
            .trim()
            .parse()
            .map_err(|_| format!("cpuid.coresPerSocket = \"{cps}\": not a number"))?;
        if cores > 0 && vcpus % cores == 0 {
            cpu.topology = Some(CpuTopology {
                sockets: vcpus / cores,
                cores,
                threads: 1,
            });
        }
    }
    let firmware = match get("firmware").map(|s| s.to_ascii_lowercase()) {
        Some(f) if f == "efi" => Firmware::Uefi,
        _ => Firmware::Bios,
    };
    let secure_boot = firmware == Firmware::Uefi && is_true(get("uefi.secureboot.enabled"));

    let name = get("displayname")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| default_name.to_string());
    let mut source = new_source(name, origin, memory_mib * 1024 * 1024, vcpus);
    source.cpu = cpu;
    source.firmware = firmware;
    source.secure_boot = secure_boot;
    source.sound = is_true(get("sound.present")).then(|| {
        get("sound.virtualdev")
            .cloned()
            .unwrap_or_else(|| "es1371".into())
    });
    source.hypervisor = Some("vmware".into());
    source.os_hint = get("guestos").cloned();

    // Disks and CD-ROMs: scsiN:M, nvmeN:M, sataN:M, ideN:M (virt-v2v's order).
    let mut disk_files = Vec::new();
    for (prefix, bus) in [
        ("scsi", Bus::Scsi),
        ("nvme", Bus::Nvme),
        ("sata", Bus::Sata),
        ("ide", Bus::Ide),
    ] {
        let mut slots: Vec<(u32, u32)> = vmx
            .keys()
            .filter_map(|k| {
                let rest = k.strip_prefix(prefix)?.strip_suffix(".present")?;
                let (c, u) = rest.split_once(':')?;
                Some((c.parse().ok()?, u.parse().ok()?))
            })
            .collect();
        slots.sort();
        for (c, u) in slots {
            let dev = format!("{prefix}{c}:{u}");
            let key = |f: &str| format!("{dev}.{f}");
            if !is_true(get(&key("present"))) {
                continue;
            }
            let dtype = get(&key("devicetype"))
                .map(|s| s.to_ascii_lowercase())
                .unwrap_or_default();
            let file = get(&key("filename")).cloned().unwrap_or_default();
            if dtype.contains("cdrom") {
                source.removables.push(Removable {
                    kind: RemovableKind::Cdrom,
                    bus: Some(bus),
                    unit: Some(u),
                });
                continue;
            }
            if !file.to_ascii_lowercase().ends_with(".vmdk") {
                // Passthrough devices, raw device maps without a
                // descriptor, empty slots: not disks we can copy.
                if !file.is_empty() || !dtype.is_empty() {
                    return Err(format!(
                        "{dev}: device type '{dtype}' with file '{file}' is not supported"
                    ));
                }
                continue;
            }
            let index = source.disks.len() as u32 + 1;
            let slot = Slot {
                bus: Some(bus),
                controller: Some(c),
                unit: Some(u),
            };
            source
                .disks
                .push(new_disk(index, "vmdk", 0, slot, file.clone()));
            disk_files.push(file);
        }
    }
    // Floppies.
    let mut floppies: Vec<u32> = vmx
        .keys()
        .filter_map(|k| {
            k.strip_prefix("floppy")?
                .strip_suffix(".present")?
                .parse()
                .ok()
        })
        .collect();
    floppies.sort();
    for f in floppies {
        if is_true(get(&format!("floppy{f}.present"))) {
            source.removables.push(Removable {
                kind: RemovableKind::Floppy,
                bus: Some(Bus::Floppy),
                unit: Some(f),
            });
        }
    }
    // NICs.
    let mut nics: Vec<u32> = vmx
        .keys()
        .filter_map(|k| {
            k.strip_prefix("ethernet")?
                .strip_suffix(".present")?
                .parse()
                .ok()
        })
        .collect();
    nics.sort();
    for n in nics {
        let key = |f: &str| format!("ethernet{n}.{f}");
        if !is_true(get(&key("present"))) {
            continue;
        }
        let atype = get(&key("addresstype"))
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default();
        let mac = if atype == "static" {
            get(&key("address"))
        } else {
            get(&key("generatedaddress")).or_else(|| get(&key("address")))
        };
        source.nics.push(Nic {
            mac: mac.map(|m| m.to_ascii_lowercase()),
            network: get(&key("networkname")).cloned(),
            network_kind: NetworkKind::Network,
            model: Some(
                get(&key("virtualdev"))
                    .cloned()
                    .unwrap_or_else(|| "vlance".into()),
            ),
        });
    }
    Ok(ParsedVmx { source, disk_files })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            input_type: "vmx".into(),
            location: vec!["/x/g.vmx".into()],
        }
    }

    #[test]
    fn pairs_and_escapes() {
        let m = parse_pairs("# c\nA.B = \"x|22y|7Cz\"\n  key=bare \nEmpty = \"\"\n").unwrap();
        assert_eq!(m["a.b"], "x\"y|z");
        assert_eq!(m["key"], "bare");
        assert_eq!(m["empty"], "");
        assert!(parse_pairs("no equals sign").is_err());
        assert_eq!(unescape("a|2"), "a|2");
        assert_eq!(unescape("|"), "|");
    }

    #[test]
    fn full_vmx() {
        let t = r#".encoding = "UTF-8"
displayName = "win srv"
guestOS = "windows2019srv-64"
memSize = "4096"
numvcpus = "4"
cpuid.coresPerSocket = "2"
firmware = "efi"
uefi.secureBoot.enabled = "TRUE"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:1.present = "TRUE"
scsi0:1.fileName = "data.vmdk"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "boot.vmdk"
scsi0:2.present = "FALSE"
scsi0:2.fileName = "gone.vmdk"
sata0.present = "TRUE"
sata0:0.present = "TRUE"
sata0:0.deviceType = "cdrom-image"
sata0:0.fileName = "/iso/x.iso"
nvme0:0.present = "TRUE"
nvme0:0.fileName = "fast.vmdk"
ide0:0.present = "TRUE"
ide0:0.fileName = "old.VMDK"
floppy0.present = "TRUE"
ethernet1.present = "TRUE"
ethernet1.virtualDev = "vmxnet3"
ethernet1.networkName = "Prod"
ethernet1.addressType = "static"
ethernet1.address = "00:50:56:AA:00:01"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "e1000e"
ethernet0.addressType = "generated"
ethernet0.generatedAddress = "00:0c:29:12:34:56"
ethernet2.present = "FALSE"
sound.present = "TRUE"
sound.virtualDev = "hdaudio"
"#;
        let p = parse_vmx(t, "dflt", origin()).unwrap();
        let s = &p.source;
        assert_eq!(s.name, "win srv");
        assert_eq!(s.memory_bytes, 4096 << 20);
        assert_eq!(s.vcpus, 4);
        assert_eq!(
            s.cpu.topology,
            Some(CpuTopology {
                sockets: 2,
                cores: 2,
                threads: 1
            })
        );
        assert_eq!(s.firmware, Firmware::Uefi);
        assert!(s.secure_boot);
        assert_eq!(
            p.disk_files,
            ["boot.vmdk", "data.vmdk", "fast.vmdk", "old.VMDK"]
        );
        let buses: Vec<_> = s.disks.iter().map(|d| d.bus.unwrap()).collect();
        assert_eq!(buses, [Bus::Scsi, Bus::Scsi, Bus::Nvme, Bus::Ide]);
        assert_eq!(s.disks[1].unit, Some(1));
        assert_eq!(s.disks[3].socket, "in4");
        assert_eq!(s.removables.len(), 2);
        assert_eq!(s.removables[0].kind, RemovableKind::Cdrom);
        assert_eq!(s.removables[1].kind, RemovableKind::Floppy);
        assert_eq!(s.nics.len(), 2);
        assert_eq!(s.nics[0].mac.as_deref(), Some("00:0c:29:12:34:56"));
        assert_eq!(s.nics[0].model.as_deref(), Some("e1000e"));
        assert_eq!(s.nics[1].mac.as_deref(), Some("00:50:56:aa:00:01"));
        assert_eq!(s.nics[1].network.as_deref(), Some("Prod"));
        assert_eq!(s.sound.as_deref(), Some("hdaudio"));
        assert_eq!(s.os_hint.as_deref(), Some("windows2019srv-64"));
    }

    #[test]
    fn defaults_and_errors() {
        let p = parse_vmx("config.version = \"8\"\n", "g", origin()).unwrap();
        assert_eq!(p.source.name, "g");
        assert_eq!(p.source.vcpus, 1);
        assert_eq!(p.source.memory_bytes, 32 << 20);
        assert_eq!(p.source.firmware, Firmware::Bios);
        assert!(parse_vmx("memsize = \"lots\"", "g", origin())
            .unwrap_err()
            .contains("memsize"));
        assert!(parse_vmx(
            "scsi0:0.present = \"TRUE\"\nscsi0:0.deviceType = \"scsi-passthru\"\nscsi0:0.fileName = \"/dev/sg1\"",
            "g",
            origin()
        )
        .unwrap_err()
        .contains("not supported"));
    }
}
