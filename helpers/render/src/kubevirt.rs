//! `NAME.yaml` of `-o kubevirt`: a KubeVirt `VirtualMachine` with the
//! fields virt-v2v's `create_kubevirt_yaml.ml` writes: labels (virt-v2v
//! version, osinfo, source hypervisor), the firmware's bootloader (BIOS, or
//! EFI with a persistent variable store), memory, machine features, CPU,
//! sound (ich9/ac97 only), RNG, `useVirtioTransitional` for guests without
//! virtio 1.0, the disks with their bus and boot order as `hostDisk`
//! volumes, the interfaces and their networks, and (Windows) the clock.
//!
//! Where upstream's document does not match KubeVirt's API, the field is
//! written where the API has it: `features` and `clock` under `domain`
//! (upstream puts them under `resources`), `cpu.threads` (upstream:
//! `thread`), a network's name under `multus.networkName` (upstream: a
//! top-level `networkName`); only the features KubeVirt knows (`acpi`,
//! `apic`, `smm`) are listed.  Also beyond upstream: `machine.type`, EFI
//! `secureBoot` (KubeVirt's default is on), disks on SATA/SCSI buses, and
//! a target network named `default` of kind network is the pod network
//! (`pod: {}`, `masquerade` binding); other NICs use `bridge` binding on a
//! Multus network.  Interface names are made unique.

use std::fmt::Write;
use v2v_meta::{GuestDescription, GuestFirmware, NetworkKind, TargetBlockBus};

/// A YAML value, written in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Y {
    Str(String),
    Int(u64),
    Bool(bool),
    Map(Vec<(String, Y)>),
    List(Vec<Y>),
}

fn s(v: &str) -> Y {
    Y::Str(v.into())
}

fn map(kv: Vec<(&str, Y)>) -> Y {
    Y::Map(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn empty() -> Y {
    Y::Map(Vec::new())
}

/// A string as a YAML double-quoted scalar (JSON's escaping is valid there).
fn quote(v: &str) -> String {
    let mut o = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn scalar(v: &Y) -> Option<String> {
    match v {
        Y::Str(x) => Some(quote(x)),
        Y::Int(n) => Some(n.to_string()),
        Y::Bool(b) => Some(b.to_string()),
        Y::Map(m) if m.is_empty() => Some("{}".into()),
        Y::List(l) if l.is_empty() => Some("[]".into()),
        _ => None,
    }
}

fn emit_map(out: &mut String, m: &[(String, Y)], indent: usize, first_inline: bool) {
    for (i, (k, v)) in m.iter().enumerate() {
        let pad = if i == 0 && first_inline {
            String::new()
        } else {
            " ".repeat(indent)
        };
        match scalar(v) {
            Some(sc) => {
                let _ = writeln!(out, "{pad}{k}: {sc}");
            }
            None => {
                let _ = writeln!(out, "{pad}{k}:");
                emit(out, v, indent + 2);
            }
        }
    }
}

fn emit(out: &mut String, v: &Y, indent: usize) {
    match v {
        Y::Map(m) => emit_map(out, m, indent, false),
        Y::List(l) => {
            for item in l {
                let pad = " ".repeat(indent);
                match (scalar(item), item) {
                    (Some(sc), _) => {
                        let _ = writeln!(out, "{pad}- {sc}");
                    }
                    (None, Y::Map(m)) => {
                        let _ = write!(out, "{pad}- ");
                        emit_map(out, m, indent + 2, true);
                    }
                    (None, _) => {
                        let _ = writeln!(out, "{pad}-");
                        emit(out, item, indent + 2);
                    }
                }
            }
        }
        _ => {
            let _ = writeln!(
                out,
                "{}{}",
                " ".repeat(indent),
                scalar(v).unwrap_or_default()
            );
        }
    }
}

/// The document as a tree.
pub fn document(d: &GuestDescription) -> Y {
    let mut labels = vec![(
        "libguestfs.org/virt-v2v-version",
        s(env!("CARGO_PKG_VERSION")),
    )];
    if let Some(id) = d.os.as_ref().and_then(|o| o.osinfo.as_deref()) {
        labels.push(("libguestfs.org/osinfo", s(id)));
    }
    if let Some(hv) = &d.source.hypervisor {
        labels.push(("libguestfs.org/source", s(hv)));
    }
    let bootloader = match d.firmware {
        GuestFirmware::Bios => map(vec![("bios", empty())]),
        GuestFirmware::Uefi => map(vec![(
            "efi",
            map(vec![
                ("persistent", Y::Bool(true)),
                ("secureBoot", Y::Bool(d.secure_boot)),
            ]),
        )]),
    };
    let mut domain: Vec<(&str, Y)> = vec![
        ("firmware", map(vec![("bootloader", bootloader)])),
        ("machine", map(vec![("type", s(&d.machine))])),
    ];
    if d.os.as_ref().is_some_and(|o| o.os_type == "windows") {
        domain.push((
            "clock",
            map(vec![
                (
                    "timer",
                    map(vec![
                        ("hpet", map(vec![("present", Y::Bool(false))])),
                        ("hyperv", empty()),
                        ("pit", map(vec![("tickPolicy", s("delay"))])),
                        ("rtc", map(vec![("tickPolicy", s("catchup"))])),
                    ]),
                ),
                ("utc", empty()),
            ]),
        ));
    }
    domain.push((
        "resources",
        map(vec![(
            "requests",
            map(vec![(
                "memory",
                s(&format!("{}Mi", d.memory_bytes / 1024 / 1024)),
            )]),
        )]),
    ));
    let features: Vec<(&str, Y)> = d
        .features
        .iter()
        .filter_map(|f| match f.as_str() {
            "acpi" => Some(("acpi", empty())),
            "apic" => Some(("apic", empty())),
            "smm" => Some(("smm", empty())),
            _ => None,
        })
        .collect();
    domain.push(("features", map(features)));
    let mut cpu: Vec<(&str, Y)> = Vec::new();
    if let Some(m) = &d.cpu.model {
        cpu.push(("model", s(m)));
    }
    match d.cpu.topology {
        None => cpu.push(("cores", Y::Int(d.vcpus.into()))),
        Some(t) => {
            cpu.push(("sockets", Y::Int(t.sockets.into())));
            cpu.push(("cores", Y::Int(t.cores.into())));
            cpu.push(("threads", Y::Int(t.threads.into())));
        }
    }
    domain.push(("cpu", map(cpu)));

    let mut devices: Vec<(&str, Y)> = Vec::new();
    if let Some(m @ ("ich9" | "ac97")) = d.sound.as_deref() {
        devices.push(("sound", map(vec![("name", s("sound")), ("model", s(m))])));
    }
    if d.rng {
        devices.push(("rng", empty()));
    }
    if !d.virtio_1_0 {
        devices.push(("useVirtioTransitional", Y::Bool(true)));
    }
    let mut disks = Vec::new();
    let mut volumes = Vec::new();
    for (i, k) in d.disks.iter().enumerate() {
        let bus = match k.bus {
            TargetBlockBus::VirtioBlk => "virtio",
            TargetBlockBus::VirtioScsi => "scsi",
            // KubeVirt has no IDE: SATA is the emulated bus it offers.
            TargetBlockBus::Sata | TargetBlockBus::Ide => "sata",
        };
        let name = format!("disk-{}", k.index.saturating_sub(1));
        disks.push(map(vec![
            ("disk", map(vec![("bus", s(bus))])),
            ("bootOrder", Y::Int(i as u64 + 1)),
            ("name", s(&name)),
        ]));
        volumes.push(map(vec![
            (
                "hostDisk",
                map(vec![
                    ("path", s(k.path.as_deref().unwrap_or_default())),
                    ("type", s("Disk")),
                ]),
            ),
            ("name", s(&name)),
        ]));
    }
    let mut interfaces = Vec::new();
    let mut networks = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut pod_used = false;
    for n in &d.nics {
        let base = format!("net_{}", n.network);
        let mut name = base.clone();
        let mut k = 1;
        while names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        names.push(name.clone());
        let pod = n.kind == NetworkKind::Network && n.network == "default" && !pod_used;
        pod_used |= pod;
        let mut nic = vec![("name", s(&name))];
        nic.push(if pod {
            ("masquerade", empty())
        } else {
            ("bridge", empty())
        });
        if let Some(mac) = &n.mac {
            nic.push(("macAddress", s(mac)));
        }
        nic.push(("model", s(crate::libvirt::nic_model(n.model))));
        interfaces.push(map(nic));
        networks.push(if pod {
            map(vec![("name", s(&name)), ("pod", empty())])
        } else {
            map(vec![
                ("name", s(&name)),
                ("multus", map(vec![("networkName", s(&n.network))])),
            ])
        });
    }
    if !disks.is_empty() {
        devices.push(("disks", Y::List(disks)));
    }
    if !interfaces.is_empty() {
        devices.push(("interfaces", Y::List(interfaces)));
    }
    if !devices.is_empty() {
        domain.push(("devices", map(devices)));
    }
    let mut spec = vec![("domain", map(domain))];
    if !volumes.is_empty() {
        spec.push(("volumes", Y::List(volumes)));
    }
    if !networks.is_empty() {
        spec.push(("networks", Y::List(networks)));
    }
    spec.push(("terminationGracePeriodSeconds", Y::Int(0)));
    map(vec![
        ("apiVersion", s("kubevirt.io/v1")),
        ("kind", s("VirtualMachine")),
        (
            "metadata",
            map(vec![("name", s(&d.name)), ("labels", map(labels))]),
        ),
        (
            "spec",
            map(vec![("template", map(vec![("spec", map(spec))]))]),
        ),
    ])
}

/// The YAML text.
pub fn yaml(d: &GuestDescription) -> String {
    let mut out = format!("# generated by v2v-helpers {}\n", env!("CARGO_PKG_VERSION"));
    emit(&mut out, &document(d), 0);
    out
}

/// Whether `name` is a valid KubeVirt (RFC 1123 subdomain) name, as
/// virt-v2v requires for `-o kubevirt`.
pub fn valid_name(name: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !name.is_empty() && name.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::description;

    #[test]
    fn emits_yaml_blocks() {
        let v = map(vec![
            ("a", s("x\"y")),
            (
                "b",
                Y::List(vec![map(vec![("c", Y::Int(1)), ("d", empty())])]),
            ),
            ("e", map(vec![("f", Y::Bool(true))])),
        ]);
        let mut o = String::new();
        emit(&mut o, &v, 0);
        assert_eq!(o, "a: \"x\\\"y\"\nb:\n  - c: 1\n    d: {}\ne:\n  f: true\n");
    }

    #[test]
    fn names() {
        assert!(valid_name("fedora-40.example"));
        for n in ["Fedora", "-a", "a-", "a_b", "", "a..b"] {
            assert!(!valid_name(n), "{n}");
        }
    }

    #[test]
    fn document_fields() {
        let d = description();
        let y = yaml(&d);
        assert!(y.contains("kind: \"VirtualMachine\""), "{y}");
        assert!(y.contains("bootOrder: 2"));
        assert!(y.contains("bios: {}"));
        assert!(y.contains("networkName: \"lan\""));
        assert!(y.contains("networkName: \"dmz\""));
        assert!(y.contains("libguestfs.org/osinfo: \"debian12\""));
        assert!(y.contains("threads: 2"));
        // The converted guest of the tests has no virtio 1.0 drivers.
        assert!(y.contains("useVirtioTransitional: true"), "{y}");
    }
}
