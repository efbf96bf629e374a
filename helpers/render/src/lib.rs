//! v2v-render: the converted guest's description and its renderings.
//!
//! [`describe`] derives `description.json` ([`v2v_meta::GuestDescription`])
//! from `metadata.in`, `metadata.out` (or the unconverted shape),
//! `output.json` and the network mapping; [`write_description`] does it in
//! a temp directory (the runner calls it before the output's `final`).
//! Each output renders the description: [`libvirt::domain`] (libvirt
//! domain XML, `-o local` and `-o libvirt`), and the other modules.

pub mod json;
pub mod kubevirt;
pub mod libvirt;
pub mod network;
pub mod qemu;

pub use network::{MapError, NetworkMap};

use v2v_meta::{
    ContractError, GuestDescription, GuestDisk, GuestFirmware, GuestNic, GuestOs, GuestRemovable,
    GuestSource, MetadataIn, MetadataOut, OutputJson, RemovableKind, TargetBlockBus, TargetMeta,
    V2vDir, CONTRACT_VERSION,
};

/// Device name for index `i` (0-based) with `prefix`: `sda`, ..., `sdz`,
/// `sdaa`, ...
pub fn drive_name(prefix: &str, i: usize) -> String {
    format!("{prefix}{}", v2v_meta::drive_letters(i))
}

/// The 0-based index of a device name (`sda` → 0, `hdc` → 2, `vdaa` →
/// 26): the inverse of [`drive_name`], after a two-letter prefix.
pub fn drive_index(dev: &str) -> usize {
    dev.bytes()
        .skip(2)
        .fold(0usize, |n, b| {
            n * 26 + usize::from(b.saturating_sub(b'a')) + 1
        })
        .saturating_sub(1)
}

/// The libvirt bus name and device-name prefix of a target block bus.
pub fn bus_names(bus: TargetBlockBus) -> (&'static str, &'static str) {
    match bus {
        TargetBlockBus::VirtioBlk => ("virtio", "vd"),
        TargetBlockBus::VirtioScsi => ("scsi", "sd"),
        TargetBlockBus::Sata => ("sata", "sd"),
        TargetBlockBus::Ide => ("ide", "hd"),
    }
}

/// The mapping of `-n`, `-b` and `--mac` arguments, in that order.
pub fn network_map(
    networks: &[String],
    bridges: &[String],
    macs: &[String],
) -> Result<NetworkMap, MapError> {
    let mut m = NetworkMap::default();
    for n in networks {
        m.add_network(n)?;
    }
    for b in bridges {
        m.add_bridge(b)?;
    }
    for x in macs {
        m.add_mac(x)?;
    }
    Ok(m)
}

/// Sound models libvirt (and so every output here) knows; another source
/// model is dropped.
const SOUND_MODELS: &[&str] = &["ac97", "es1370", "ich6", "ich9", "pcspk", "sb16", "usb"];

/// The description of the converted guest.  `md_out` is `None` with
/// `--no-convert`.  Returns the warnings to give (unknown `--mac`).
pub fn describe(
    md_in: &MetadataIn,
    md_out: Option<&MetadataOut>,
    oj: &OutputJson,
    net: &NetworkMap,
) -> (GuestDescription, Vec<String>) {
    let src = &md_in.source;
    let t = md_out
        .map(|m| m.target.clone())
        .unwrap_or_else(|| TargetMeta::unconverted(src));
    let vcpus = src.vcpus.max(1);
    let firmware = match t.firmware {
        v2v_meta::Firmware::Uefi => GuestFirmware::Uefi,
        _ => GuestFirmware::Bios,
    };
    let (_, prefix) = bus_names(t.block_bus);
    let disks: Vec<GuestDisk> = oj
        .disks
        .iter()
        .enumerate()
        .map(|(i, d)| GuestDisk {
            index: d.index,
            bus: t.block_bus,
            dev: drive_name(prefix, i),
            format: d.format.clone(),
            path: d.path.clone(),
            size: d.size,
        })
        .collect();
    // Removables go on a bus KVM always has: SATA on q35, IDE on pc; after
    // the disks when those use the same bus.
    let (rbus, rprefix) = if t.machine == "q35" {
        ("sata", "sd")
    } else {
        ("ide", "hd")
    };
    let disk_bus = bus_names(t.block_bus).0;
    let first = if rbus == disk_bus { disks.len() } else { 0 };
    let removables = src
        .removables
        .iter()
        .enumerate()
        .map(|(i, r)| match r.kind {
            RemovableKind::Cdrom => GuestRemovable {
                kind: r.kind,
                bus: rbus.into(),
                dev: drive_name(rprefix, first + i),
            },
            RemovableKind::Floppy => GuestRemovable {
                kind: r.kind,
                bus: "fdc".into(),
                dev: drive_name("fd", i),
            },
        })
        .collect();
    let nics = src
        .nics
        .iter()
        .map(|n| {
            let (kind, network) = net.map(n.mac.as_deref(), n.network_kind, n.network.as_deref());
            GuestNic {
                mac: n.mac.as_ref().map(|m| m.to_ascii_lowercase()),
                model: t.net_model,
                kind,
                network: network.unwrap_or_else(|| "default".into()),
                source_network: n.network.clone(),
                source_model: n.model.clone(),
            }
        })
        .collect();
    let macs: Vec<Option<String>> = src.nics.iter().map(|n| n.mac.clone()).collect();
    let warnings = net
        .unknown_macs(&macs)
        .into_iter()
        .map(|m| {
            format!("--mac {m}: the source guest has no network interface with this MAC address")
        })
        .collect();
    let os = md_out.and_then(|m| m.inspection.as_ref()).map(|i| GuestOs {
        os_type: i.os_type.clone(),
        distro: i.distro.clone(),
        product_name: i.product_name.clone(),
        major_version: i.major_version,
        minor_version: i.minor_version,
        osinfo: i.osinfo.clone(),
        arch: i.arch.clone(),
        root: i.root.clone(),
        package_format: i.package_format.clone(),
        package_management: i.package_management.clone(),
        mountpoints: i.mountpoints.clone(),
    });
    // virt-v2v's machine features: ACPI (with the APIC and PAE on x86),
    // SMM for secure boot.
    let x86 = matches!(t.arch.as_str(), "x86_64" | "i686" | "i386");
    let mut features: Vec<String> = Vec::new();
    if t.acpi {
        features.push("acpi".into());
    }
    if x86 {
        if t.acpi {
            features.push("apic".into());
        }
        features.push("pae".into());
    }
    if firmware == GuestFirmware::Uefi && src.secure_boot {
        features.push("smm".into());
    }
    let d = GuestDescription {
        version: CONTRACT_VERSION,
        name: oj.name.clone(),
        output_type: oj.output_type.clone(),
        memory_bytes: src.memory_bytes,
        vcpus,
        cpu: v2v_meta::Cpu {
            vendor: src.cpu.vendor.clone(),
            model: src.cpu.model.clone(),
            topology: src.cpu.topology.filter(|tp| {
                tp.sockets
                    .checked_mul(tp.cores)
                    .and_then(|x| x.checked_mul(tp.threads))
                    == Some(vcpus)
            }),
        },
        firmware,
        secure_boot: firmware == GuestFirmware::Uefi && src.secure_boot,
        machine: t.machine.clone(),
        arch: t.arch.clone(),
        acpi: t.acpi,
        features,
        rtc_utc: t.rtc_utc,
        disks,
        removables,
        nics,
        video: t.video.clone(),
        sound: src
            .sound
            .as_ref()
            .filter(|s| SOUND_MODELS.contains(&s.as_str()))
            .cloned(),
        rng: t.virtio_rng,
        balloon: t.virtio_balloon,
        pvpanic: t.pvpanic,
        vsock: t.virtio_socket,
        guest_agent: md_out.is_some_and(|m| m.converted),
        virtio_1_0: t.virtio_1_0,
        os,
        source: GuestSource {
            name: src.name.clone(),
            input_type: src.origin.input_type.clone(),
            hypervisor: src.hypervisor.clone(),
            os_hint: src.os_hint.clone(),
        },
        converted: md_out.is_some_and(|m| m.converted),
    };
    (d, warnings)
}

/// Describe the guest in `dir` and write `dir/description.json`.  Reads
/// `metadata.in`, `metadata.out` (absent: unconverted) and `output.json`.
/// Returns the warnings to give.
pub fn write_description(dir: &V2vDir, net: &NetworkMap) -> Result<Vec<String>, ContractError> {
    let md_in = dir.read_metadata_in()?;
    let md_out = match v2v_meta::read_json::<MetadataOut>(&dir.metadata_out()) {
        Ok(m) => Some(m),
        Err(ContractError::Missing { .. }) => None,
        Err(e) => return Err(e),
    };
    let oj = dir.read_output_json()?;
    let (d, warnings) = describe(&md_in, md_out.as_ref(), &oj, net);
    v2v_meta::write_json(&dir.description(), &d)?;
    Ok(warnings)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use v2v_meta::*;

    pub fn source() -> Source {
        Source {
            name: "g".into(),
            origin: Origin {
                input_type: "vmx".into(),
                location: vec![],
            },
            memory_bytes: 1 << 30,
            vcpus: 4,
            cpu: Cpu {
                topology: Some(CpuTopology {
                    sockets: 1,
                    cores: 2,
                    threads: 2,
                }),
                ..Default::default()
            },
            firmware: Firmware::Bios,
            secure_boot: false,
            disks: vec![],
            removables: vec![Removable {
                kind: RemovableKind::Cdrom,
                bus: None,
                unit: None,
            }],
            nics: vec![
                Nic {
                    mac: Some("00:0C:29:12:34:56".into()),
                    network: Some("VM <Network>".into()),
                    network_kind: NetworkKind::Network,
                    model: Some("e1000".into()),
                },
                Nic {
                    mac: Some("00:0c:29:12:34:57".into()),
                    network: Some("vmbr".into()),
                    network_kind: NetworkKind::Bridge,
                    model: Some("vmxnet3".into()),
                },
            ],
            video: None,
            sound: Some("ich6".into()),
            hypervisor: Some("vmware".into()),
            os_hint: None,
        }
    }

    pub fn output_json(n: u32) -> OutputJson {
        OutputJson {
            version: CONTRACT_VERSION,
            output_type: "local".into(),
            name: "g".into(),
            disks: (1..=n)
                .map(|i| OutputDisk {
                    index: i,
                    socket: V2vDir::out_name(i),
                    path: Some(format!("/o/g-sd{}", drive_letters(i as usize - 1))),
                    format: "qcow2".into(),
                    size: 1 << 30,
                    created: true,
                })
                .collect(),
            target_is_zero: true,
            request_size: None,
            options: Default::default(),
        }
    }

    pub fn converted() -> MetadataOut {
        let mut t = TargetMeta::unconverted(&source());
        t.block_bus = TargetBlockBus::VirtioBlk;
        t.net_model = TargetNetModel::Virtio;
        t.virtio_rng = true;
        t.virtio_balloon = true;
        MetadataOut {
            version: CONTRACT_VERSION,
            converted: true,
            inspection: Some(Inspection {
                os_type: "linux".into(),
                distro: "debian".into(),
                product_name: "Debian 12".into(),
                major_version: 12,
                osinfo: Some("debian12".into()),
                ..Default::default()
            }),
            target: t,
            changes: vec![],
            warnings: vec![],
        }
    }

    /// A converted guest with two disks and two NICs, mapped: `-n`
    /// renames the network, `--mac` turns the bridge NIC into a network.
    pub fn description() -> GuestDescription {
        let md_in = MetadataIn {
            version: CONTRACT_VERSION,
            source: source(),
        };
        let mut net = NetworkMap::default();
        net.add_network("VM <Network>:lan").unwrap();
        net.add_bridge("br-other").unwrap();
        net.add_mac("00:0c:29:12:34:57:network:dmz").unwrap();
        describe(&md_in, Some(&converted()), &output_json(2), &net).0
    }

    #[test]
    fn drive_names() {
        assert_eq!(drive_name("sd", 0), "sda");
        assert_eq!(drive_name("vd", 25), "vdz");
        assert_eq!(drive_name("sd", 26), "sdaa");
        assert_eq!(drive_name("sd", 27), "sdab");
        assert_eq!(drive_name("sd", 26 + 26 * 26), "sdaaa");
        for i in [0, 2, 25, 26, 27, 26 + 26 * 26] {
            assert_eq!(drive_index(&drive_name("hd", i)), i);
        }
    }

    #[test]
    fn describe_maps_and_names() {
        let d = description();
        assert_eq!(d.vcpus, 4);
        assert!(d.cpu.topology.is_some());
        assert_eq!(
            d.disks.iter().map(|d| d.dev.as_str()).collect::<Vec<_>>(),
            ["vda", "vdb"]
        );
        assert_eq!(d.removables[0].dev, "sda", "cdrom on sata (q35)");
        assert_eq!(d.nics[0].network, "lan");
        assert_eq!(d.nics[0].mac.as_deref(), Some("00:0c:29:12:34:56"));
        assert_eq!(d.nics[1].kind, NetworkKind::Network);
        assert_eq!(d.nics[1].network, "dmz");
        assert_eq!(d.nics[1].source_network.as_deref(), Some("vmbr"));
        assert_eq!(d.sound.as_deref(), Some("ich6"));
        assert_eq!(d.os.as_ref().unwrap().osinfo.as_deref(), Some("debian12"));
        assert!(d.guest_agent && d.converted && d.rng && d.balloon);
    }

    #[test]
    fn unconverted_and_warnings() {
        let mut s = source();
        s.vcpus = 3; // topology 1x2x2 no longer matches
        s.sound = Some("sb-unknown".into());
        let md_in = MetadataIn {
            version: CONTRACT_VERSION,
            source: s,
        };
        let mut net = NetworkMap::default();
        net.add_mac("52:54:00:00:00:09:bridge:x").unwrap();
        let (d, w) = describe(&md_in, None, &output_json(1), &net);
        assert!(d.cpu.topology.is_none());
        assert!(d.sound.is_none());
        assert!(!d.guest_agent && !d.converted);
        assert_eq!(d.disks[0].dev, "sda");
        assert_eq!(d.removables[0].dev, "sdb", "cdrom after the sata disk");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("52:54:00:00:00:09"), "{w:?}");
    }
}
