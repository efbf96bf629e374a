//! `NAME.json` of `-o json`: the format of virt-v2v 1.42 to 2.1
//! (`create_json.ml`, `"version": 1`): name, memory, vCPUs, CPU, firmware
//! (with the host's OVMF files for UEFI), features, machine, disks (device,
//! bus, format, file), removables, NICs, guestcaps, sound and what
//! inspection found.
//!
//! What this project does not know is written empty, not invented:
//! `inspect.applications` is `[]`, `product-variant` is `null`, the
//! `windows-*` fields are `""` (as upstream writes them for Linux), a UEFI
//! guest's `inspect.firmware.devices` is `[]`; `display` is left out (the
//! source's display is not recorded).  `inspect` is left out when the
//! guest was not inspected (`--no-convert`).  Keys are written sorted.

use serde_json::{json, Map, Value};
use v2v_meta::{GuestDescription, GuestFirmware, RemovableKind, TargetBlockBus, TargetNetModel};

/// The UEFI firmware files on this host, as the document names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UefiFirmware {
    pub code: String,
    pub vars: String,
    /// `secure_boot_required` for a secure-boot-only build.
    pub flags: Vec<String>,
}

/// Known OVMF/AAVMF CODE/VARS pairs, most usual first (Debian, Fedora,
/// SUSE layouts).
const UEFI_PAIRS: &[(&str, &str, &str)] = &[
    (
        "x86_64",
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
    (
        "x86_64",
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
    (
        "x86_64",
        "/usr/share/edk2/ovmf/OVMF_CODE.fd",
        "/usr/share/edk2/ovmf/OVMF_VARS.fd",
    ),
    (
        "x86_64",
        "/usr/share/qemu/ovmf-x86_64-code.bin",
        "/usr/share/qemu/ovmf-x86_64-vars.bin",
    ),
    (
        "aarch64",
        "/usr/share/AAVMF/AAVMF_CODE.fd",
        "/usr/share/AAVMF/AAVMF_VARS.fd",
    ),
    (
        "aarch64",
        "/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw",
        "/usr/share/edk2/aarch64/vars-template-pflash.raw",
    ),
];

/// The first known UEFI CODE/VARS pair for `arch` present on this host.
pub fn find_uefi_firmware(arch: &str) -> Option<UefiFirmware> {
    UEFI_PAIRS
        .iter()
        .filter(|(a, _, _)| *a == arch)
        .find(|(_, c, v)| std::path::Path::new(c).is_file() && std::path::Path::new(v).is_file())
        .map(|(_, c, v)| UefiFirmware {
            code: c.to_string(),
            vars: v.to_string(),
            flags: Vec::new(),
        })
}

/// virt-v2v's "unknown" is `null`; so is an empty string here.
fn known(s: &str) -> Value {
    if s.is_empty() || s == "unknown" {
        Value::Null
    } else {
        Value::String(s.into())
    }
}

/// The document.  `uefi` is the host's firmware (required for a UEFI
/// guest: the caller refuses one without it).
pub fn document(d: &GuestDescription, uefi: Option<&UefiFirmware>) -> Value {
    let mut doc = Map::new();
    doc.insert("version".into(), json!(1));
    doc.insert("name".into(), json!(d.name));
    doc.insert("memory".into(), json!(d.memory_bytes));
    doc.insert("vcpu".into(), json!(d.vcpus));
    if d.cpu.vendor.is_some() || d.cpu.model.is_some() || d.cpu.topology.is_some() {
        let mut cpu = Map::new();
        if let Some(v) = &d.cpu.vendor {
            cpu.insert("vendor".into(), json!(v));
        }
        if let Some(m) = &d.cpu.model {
            cpu.insert("model".into(), json!(m));
        }
        if let Some(t) = d.cpu.topology {
            cpu.insert(
                "topology".into(),
                json!({"sockets": t.sockets, "cores": t.cores, "threads": t.threads}),
            );
        }
        doc.insert("cpu".into(), Value::Object(cpu));
    }
    let firmware = match (d.firmware, uefi) {
        (GuestFirmware::Uefi, Some(u)) => json!({"type": "uefi", "uefi": {
            "code": u.code, "vars": u.vars, "flags": u.flags}}),
        (GuestFirmware::Uefi, None) => json!({"type": "uefi"}),
        (GuestFirmware::Bios, _) => json!({"type": "bios"}),
    };
    doc.insert("firmware".into(), firmware);
    doc.insert("features".into(), json!(d.features));
    doc.insert("machine".into(), json!(d.machine));
    let bus_name = |b: TargetBlockBus| match b {
        TargetBlockBus::VirtioBlk => "virtio",
        TargetBlockBus::Ide => "ide",
        TargetBlockBus::VirtioScsi => "scsi",
        TargetBlockBus::Sata => "sata",
    };
    let disks: Vec<Value> = d
        .disks
        .iter()
        .map(|k| {
            json!({"dev": k.dev, "bus": bus_name(k.bus), "format": k.format,
                   "file": k.path.as_deref().unwrap_or_default()})
        })
        .collect();
    doc.insert("disks".into(), Value::Array(disks));
    let removables: Vec<Value> = d
        .removables
        .iter()
        .map(|r| match r.kind {
            RemovableKind::Cdrom => json!({"type": "cdrom", "dev": r.dev, "bus": r.bus}),
            RemovableKind::Floppy => json!({"type": "floppy", "dev": r.dev}),
        })
        .collect();
    doc.insert("removables".into(), Value::Array(removables));
    let nics: Vec<Value> = d
        .nics
        .iter()
        .map(|n| {
            let mut o = Map::new();
            o.insert("vnet".into(), json!(n.network));
            let kind = match n.kind {
                v2v_meta::NetworkKind::Network => "network",
                v2v_meta::NetworkKind::Bridge => "bridge",
            };
            o.insert("vnet-type".into(), json!(kind));
            if let Some(m) = &n.source_model {
                o.insert("model".into(), json!(m));
            }
            if let Some(m) = &n.mac {
                o.insert("mac".into(), json!(m));
            }
            Value::Object(o)
        })
        .collect();
    doc.insert("nics".into(), Value::Array(nics));
    let block_bus = match d.disks.first().map(|k| k.bus) {
        Some(TargetBlockBus::Ide) => "ide",
        Some(TargetBlockBus::VirtioScsi) => "virtio-scsi",
        Some(TargetBlockBus::Sata) => "sata",
        _ => "virtio-blk",
    };
    let net_bus = match d.nics.first().map(|n| n.model) {
        Some(TargetNetModel::E1000) => "e1000",
        Some(TargetNetModel::Rtl8139) => "rtl8139",
        _ => "virtio-net",
    };
    let machine = match d.machine.as_str() {
        "pc" => "i440fx",
        m => m,
    };
    doc.insert(
        "guestcaps".into(),
        json!({
            "block-bus": block_bus, "net-bus": net_bus, "video": d.video,
            "machine": machine, "arch": d.arch, "virtio-rng": d.rng,
            "virtio-balloon": d.balloon, "isa-pvpanic": d.pvpanic,
            "virtio-socket": d.vsock, "acpi": d.acpi, "virtio-1-0": d.virtio_1_0,
        }),
    );
    if let Some(m) = &d.sound {
        doc.insert("sound".into(), json!({ "model": m }));
    }
    if let Some(os) = &d.os {
        let mountpoints: Map<String, Value> = os
            .mountpoints
            .iter()
            .map(|m| (m.path.clone(), json!(m.device)))
            .collect();
        let firmware = match d.firmware {
            GuestFirmware::Bios => json!({"type": "bios"}),
            GuestFirmware::Uefi => json!({"type": "uefi", "devices": []}),
        };
        doc.insert(
            "inspect".into(),
            json!({
                "root": os.root, "type": os.os_type, "distro": known(&os.distro),
                "osinfo": os.osinfo.as_deref().map_or(Value::Null, known),
                "arch": os.arch,
                "major-version": os.major_version, "minor-version": os.minor_version,
                "package-format": known(&os.package_format),
                "package-management": known(&os.package_management),
                "product-name": known(&os.product_name), "product-variant": null,
                "mountpoints": mountpoints, "applications": [],
                "windows-systemroot": "", "windows-software-hive": "",
                "windows-system-hive": "", "windows-current-control-set": "",
                "firmware": firmware,
            }),
        );
    }
    Value::Object(doc)
}

/// The JSON text (indented, with a final newline).
pub fn text(d: &GuestDescription, uefi: Option<&UefiFirmware>) -> String {
    let mut t = serde_json::to_string_pretty(&document(d, uefi)).expect("JSON value serializes");
    t.push('\n');
    t
}

/// The variables of `-oo json-disks-pattern`.
pub const PATTERN_VARIABLES: &[&str] = &["DiskNo", "DiskDeviceName", "GuestName"];

/// The default `-oo json-disks-pattern`.
pub const DEFAULT_PATTERN: &str = "%{GuestName}-%{DiskDeviceName}";

/// Check a disks pattern: every `%{VAR}` must be one of
/// [`PATTERN_VARIABLES`].  `Err` is virt-v2v's message.
pub fn check_pattern(p: &str) -> Result<(), String> {
    let mut rest = p;
    while let Some(i) = rest.find("%{") {
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "-o json: -oo json-disks-pattern: invalid variable %{{{after}"
            ));
        };
        let var = &after[..end];
        let valid = !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(format!(
                "-o json: -oo json-disks-pattern: invalid variable %{{{var}}}"
            ));
        }
        if !PATTERN_VARIABLES.contains(&var) {
            return Err(format!(
                "-o json: -oo json-disks-pattern: unhandled variable %{{{var}}}"
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// A disk's file name by the pattern: disk `i` (0-based) of guest `name`
/// (`%{DiskDeviceName}` is `sdX`, as virt-v2v names it).
pub fn expand_pattern(p: &str, name: &str, i: usize) -> String {
    p.replace("%{DiskNo}", &(i + 1).to_string())
        .replace("%{DiskDeviceName}", &crate::drive_name("sd", i))
        .replace("%{GuestName}", name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::description;

    #[test]
    fn document_has_upstreams_fields() {
        let d = description();
        let v = document(&d, None);
        assert_eq!(v["version"], 1);
        assert_eq!(v["memory"], 1u64 << 30);
        assert_eq!(v["vcpu"], 4);
        assert_eq!(v["cpu"]["topology"]["cores"], 2);
        assert_eq!(v["firmware"]["type"], "bios");
        assert_eq!(v["machine"], "q35");
        assert_eq!(v["features"], json!(["acpi", "apic", "pae"]));
        assert_eq!(
            v["disks"][1],
            json!({"dev": "vdb", "bus": "virtio", "format": "qcow2", "file": "/o/g-sdb"})
        );
        assert_eq!(
            v["removables"][0],
            json!({"type": "cdrom", "dev": "sda", "bus": "sata"})
        );
        assert_eq!(
            v["nics"][1],
            json!({"vnet": "dmz", "vnet-type": "network", "model": "vmxnet3",
                   "mac": "00:0c:29:12:34:57"})
        );
        assert_eq!(v["guestcaps"]["block-bus"], "virtio-blk");
        assert_eq!(v["guestcaps"]["net-bus"], "virtio-net");
        assert_eq!(v["sound"]["model"], "ich6");
        assert_eq!(v["inspect"]["osinfo"], "debian12");
        assert_eq!(v["inspect"]["package-format"], Value::Null);
        let u = UefiFirmware {
            code: "/c".into(),
            vars: "/v".into(),
            flags: vec![],
        };
        let mut d = d;
        d.firmware = GuestFirmware::Uefi;
        let v = document(&d, Some(&u));
        assert_eq!(
            v["firmware"],
            json!({"type": "uefi", "uefi": {"code": "/c", "vars": "/v", "flags": []}})
        );
    }

    #[test]
    fn patterns() {
        assert!(check_pattern(DEFAULT_PATTERN).is_ok());
        assert!(check_pattern("disks/%{DiskNo}.img").is_ok());
        let e = check_pattern("%{Foo}").unwrap_err();
        assert!(e.contains("unhandled variable %{Foo}"), "{e}");
        let e = check_pattern("%{a b}").unwrap_err();
        assert!(e.contains("invalid variable"), "{e}");
        assert_eq!(expand_pattern(DEFAULT_PATTERN, "g", 1), "g-sdb");
        assert_eq!(expand_pattern("%{GuestName}/%{DiskNo}", "g", 0), "g/1");
    }
}
