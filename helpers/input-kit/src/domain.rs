//! Parse a libvirt `<domain>` description into the source metadata
//! ([`v2v_meta::Source`]) and, for each disk, where its data lives.
//!
//! Pure function from text to structs: nothing is opened or probed here.
//! Disk sizes are left at 0 until the disks are served.

use crate::meta::{new_disk, new_source, Slot};
use crate::safe;
use roxmltree::Node;
use v2v_meta::{
    Bus, Cpu, CpuTopology, Firmware, NetworkKind, Nic, Origin, Removable, RemovableKind, Source,
};

/// Where one disk's data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskData {
    /// A local file (`<disk type='file'>`).
    File(String),
    /// A local block device (`<disk type='block'>`).
    Block(String),
    /// An NBD export (`<disk type='network'><source protocol='nbd'>`).
    Nbd {
        /// `nbd://host:port/export` or `nbd+unix:///export?socket=PATH`.
        uri: String,
    },
    /// A storage pool volume (`<disk type='volume'>`), resolved through libvirt.
    Volume { pool: String, volume: String },
}

/// A disk as the domain describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainDisk {
    pub data: DiskData,
    /// `<driver type='...'>`, when given.
    pub format: Option<String>,
    /// `<target dev='...'>`.
    pub dev: Option<String>,
}

/// A parsed domain: the metadata (disks have `size` 0 and `format` from the
/// XML or `"raw"`), and the data of each disk, in the same order.
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    pub source: Source,
    pub disks: Vec<DomainDisk>,
}

/// Parse a domain XML document.  `origin` goes into the metadata unchanged.
pub fn parse_domain(xml: &str, origin: Origin) -> Result<Domain, String> {
    let doc = safe::parse_xml(xml)?;
    let root = doc.root_element();
    if root.tag_name().name() != "domain" {
        return Err(format!(
            "root element is <{}>, expected <domain>",
            root.tag_name().name()
        ));
    }
    let name = text(child(root, "name")).ok_or("no <name>")?.to_string();
    let memory_bytes = match child(root, "memory") {
        Some(m) => memory(m)?,
        None => return Err("no <memory>".into()),
    };
    let vcpus = match text(child(root, "vcpu")) {
        Some(t) => t
            .parse::<u32>()
            .map_err(|_| format!("<vcpu>{t}</vcpu>: not a number"))?,
        None => 1,
    };
    let cpu = cpu(root)?;
    let (firmware, secure_boot) = firmware(root);
    let hypervisor = root.attribute("type").map(str::to_string);

    let mut source = new_source(name, origin, memory_bytes, vcpus);
    source.cpu = cpu;
    source.firmware = firmware;
    source.secure_boot = secure_boot;
    source.hypervisor = hypervisor;
    source.os_hint = os_hint(root);
    let mut disks = Vec::new();
    let Some(devices) = child(root, "devices") else {
        return Ok(Domain { source, disks });
    };
    let scsi_models = scsi_controller_models(devices);
    for d in devices.children().filter(Node::is_element) {
        match d.tag_name().name() {
            "disk" => disk(d, &scsi_models, &mut source, &mut disks)?,
            "interface" => source.nics.push(nic(d)),
            "video" if source.video.is_none() => {
                source.video = child(d, "model")
                    .and_then(|m| m.attribute("type"))
                    .map(str::to_string)
            }
            "sound" if source.sound.is_none() => {
                source.sound = d.attribute("model").map(str::to_string)
            }
            _ => {}
        }
    }
    Ok(Domain { source, disks })
}

/// [`parse_domain`], a parse error being a contract error (exit 3) that
/// names where the XML came from (`origin`'s location).
pub fn read_domain(xml: &str, origin: Origin) -> helper_common::Result<Domain> {
    let what = origin.location.join(" ");
    parse_domain(xml, origin)
        .map_err(|e| helper_common::Failure::contract(format!("libvirt XML {what}: {e}")))
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text<'a>(n: Option<Node<'a, '_>>) -> Option<&'a str> {
    n.and_then(|n| n.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Bytes in one unit of libvirt's `unit=` attribute (default KiB).
pub fn unit_bytes(unit: &str) -> Option<u64> {
    Some(match unit {
        "b" | "bytes" => 1,
        "KB" => 1000,
        "k" | "K" | "KiB" => 1 << 10,
        "MB" => 1000 * 1000,
        "M" | "MiB" => 1 << 20,
        "GB" => 1000 * 1000 * 1000,
        "G" | "GiB" => 1 << 30,
        "TB" => 1000 * 1000 * 1000 * 1000,
        "T" | "TiB" => 1 << 40,
        _ => return None,
    })
}

fn memory(m: Node) -> Result<u64, String> {
    let t = text(Some(m)).ok_or("<memory> is empty")?;
    let n: u64 = t
        .parse()
        .map_err(|_| format!("<memory>{t}</memory>: not a number"))?;
    let unit = m.attribute("unit").unwrap_or("KiB");
    let mult = unit_bytes(unit).ok_or_else(|| format!("<memory unit='{unit}'>: unknown unit"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("<memory>{t}</memory>: too large"))
}

fn cpu(root: Node) -> Result<Cpu, String> {
    let mut cpu = Cpu::default();
    let Some(c) = child(root, "cpu") else {
        return Ok(cpu);
    };
    cpu.vendor = text(child(c, "vendor")).map(str::to_string);
    cpu.model = text(child(c, "model")).map(str::to_string);
    if let Some(t) = child(c, "topology") {
        let get = |a: &str| -> Result<u32, String> {
            match t.attribute(a) {
                None => Ok(1),
                Some(v) => v
                    .parse()
                    .map_err(|_| format!("<topology {a}='{v}'>: not a number")),
            }
        };
        cpu.topology = Some(CpuTopology {
            sockets: get("sockets")?,
            // libvirt's dies multiply the cores of a socket.
            cores: get("cores")? * get("dies")?,
            threads: get("threads")?,
        });
    }
    Ok(cpu)
}

fn firmware(root: Node) -> (Firmware, bool) {
    let Some(os) = child(root, "os") else {
        return (Firmware::Unknown, false);
    };
    let loader = child(os, "loader");
    let mut secure = loader.and_then(|l| l.attribute("secure")) == Some("yes");
    if let Some(fw) = child(os, "firmware") {
        for f in fw.children().filter(|c| c.has_tag_name("feature")) {
            if f.attribute("name") == Some("secure-boot") && f.attribute("enabled") == Some("yes") {
                secure = true;
            }
        }
    }
    let efi = os.attribute("firmware") == Some("efi")
        || loader.is_some_and(|l| {
            l.attribute("type") == Some("pflash")
                || text(Some(l)).is_some_and(|p| {
                    let p = p.to_ascii_lowercase();
                    p.contains("ovmf") || p.contains("efi") || p.contains("aavmf")
                })
        });
    if efi {
        (Firmware::Uefi, secure)
    } else if os.attribute("firmware") == Some("bios") || text(child(os, "type")) == Some("hvm") {
        // libvirt boots an hvm guest with SeaBIOS unless told otherwise.
        (Firmware::Bios, false)
    } else {
        (Firmware::Unknown, false)
    }
}

/// `<metadata><libosinfo:libosinfo><libosinfo:os id='...'/>`.
fn os_hint(root: Node) -> Option<String> {
    let md = child(root, "metadata")?;
    md.descendants()
        .find(|n| {
            n.has_tag_name("os")
                && n.tag_name()
                    .namespace()
                    .is_some_and(|ns| ns.contains("libosinfo"))
        })
        .and_then(|n| n.attribute("id"))
        .map(str::to_string)
}

/// SCSI controller index -> model (`virtio-scsi`, `lsilogic`, ...).
fn scsi_controller_models(devices: Node) -> Vec<(u32, String)> {
    devices
        .children()
        .filter(|c| c.has_tag_name("controller") && c.attribute("type") == Some("scsi"))
        .map(|c| {
            (
                c.attribute("index")
                    .and_then(|i| i.parse().ok())
                    .unwrap_or(0),
                c.attribute("model").unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn bus_of(bus: &str, controller: u32, scsi_models: &[(u32, String)]) -> Option<Bus> {
    Some(match bus {
        "ide" => Bus::Ide,
        "sata" => Bus::Sata,
        "scsi" => {
            if scsi_models
                .iter()
                .any(|(i, m)| *i == controller && m == "virtio-scsi")
            {
                Bus::VirtioScsi
            } else {
                Bus::Scsi
            }
        }
        "virtio" => Bus::VirtioBlk,
        "xen" => Bus::Xen,
        "fdc" => Bus::Floppy,
        "nvme" => Bus::Nvme,
        _ => return None,
    })
}

fn disk(
    d: Node,
    scsi_models: &[(u32, String)],
    source: &mut Source,
    disks: &mut Vec<DomainDisk>,
) -> Result<(), String> {
    let device = d.attribute("device").unwrap_or("disk");
    let target = child(d, "target");
    let dev = target.and_then(|t| t.attribute("dev")).map(str::to_string);
    let addr = child(d, "address").filter(|a| a.attribute("type") == Some("drive"));
    let controller: Option<u32> = addr
        .and_then(|a| a.attribute("controller"))
        .and_then(|v| v.parse().ok());
    let unit: Option<u32> = addr
        .and_then(|a| a.attribute("unit"))
        .and_then(|v| v.parse().ok());
    let bus = target
        .and_then(|t| t.attribute("bus"))
        .and_then(|b| bus_of(b, controller.unwrap_or(0), scsi_models));
    let what = dev.as_deref().unwrap_or("(no target dev)");
    match device {
        "cdrom" | "floppy" => {
            source.removables.push(Removable {
                kind: if device == "cdrom" {
                    RemovableKind::Cdrom
                } else {
                    RemovableKind::Floppy
                },
                bus,
                unit,
            });
            return Ok(());
        }
        "disk" | "lun" => {}
        other => return Err(format!("disk {what}: device='{other}' is not supported")),
    }
    let src = child(d, "source");
    let attr = |a: &str| src.and_then(|s| s.attribute(a)).map(str::to_string);
    let kind = d.attribute("type").unwrap_or("file");
    let data = match kind {
        "file" => DiskData::File(
            attr("file").ok_or_else(|| format!("disk {what}: <source file=...> is missing"))?,
        ),
        "block" => DiskData::Block(
            attr("dev").ok_or_else(|| format!("disk {what}: <source dev=...> is missing"))?,
        ),
        "network" => {
            let proto = attr("protocol").unwrap_or_default();
            if proto != "nbd" {
                return Err(format!(
                    "disk {what}: network disks with protocol '{proto}' are not supported (only nbd)"
                ));
            }
            let export = attr("name").unwrap_or_default();
            let host = src.and_then(|s| child(s, "host"));
            let uri = match host {
                Some(h) if h.attribute("transport") == Some("unix") => {
                    let sock = h.attribute("socket").ok_or_else(|| {
                        format!("disk {what}: <host transport='unix'> has no socket")
                    })?;
                    format!("nbd+unix:///{export}?socket={sock}")
                }
                Some(h) => {
                    let name = h
                        .attribute("name")
                        .ok_or_else(|| format!("disk {what}: <host> has no name"))?;
                    let port = h.attribute("port").unwrap_or("10809");
                    let name = if name.contains(':') {
                        format!("[{name}]")
                    } else {
                        name.to_string()
                    };
                    format!("nbd://{name}:{port}/{export}")
                }
                None => return Err(format!("disk {what}: nbd <source> has no <host>")),
            };
            DiskData::Nbd { uri }
        }
        "volume" => DiskData::Volume {
            pool: attr("pool")
                .ok_or_else(|| format!("disk {what}: <source pool=...> is missing"))?,
            volume: attr("volume")
                .ok_or_else(|| format!("disk {what}: <source volume=...> is missing"))?,
        },
        other => return Err(format!("disk {what}: type='{other}' is not supported")),
    };
    let format = child(d, "driver")
        .and_then(|drv| drv.attribute("type"))
        .map(str::to_string);
    let index = source.disks.len() as u32 + 1;
    let location = match &data {
        DiskData::File(p) | DiskData::Block(p) => p.clone(),
        DiskData::Nbd { uri } => uri.clone(),
        DiskData::Volume { pool, volume } => format!("{pool}/{volume}"),
    };
    let format_in_md = format.as_deref().unwrap_or_else(|| guess_format(&location));
    let slot = Slot {
        bus,
        controller,
        unit,
    };
    source
        .disks
        .push(new_disk(index, format_in_md, 0, slot, location));
    disks.push(DomainDisk { data, format, dev });
    Ok(())
}

/// The format a disk without `<driver type=...>` most likely has, from
/// its name (only for the metadata: serving probes the real format).
fn guess_format(location: &str) -> &'static str {
    let l = location.to_ascii_lowercase();
    if l.ends_with(".vmdk") {
        "vmdk"
    } else if l.ends_with(".qcow2") {
        "qcow2"
    } else {
        "raw"
    }
}

fn nic(i: Node) -> Nic {
    let kind = i.attribute("type").unwrap_or("");
    let src = child(i, "source");
    let (network, network_kind) = match kind {
        "bridge" => (
            src.and_then(|s| s.attribute("bridge")).map(str::to_string),
            NetworkKind::Bridge,
        ),
        "network" => (
            src.and_then(|s| s.attribute("network")).map(str::to_string),
            NetworkKind::Network,
        ),
        _ => (None, NetworkKind::Network),
    };
    Nic {
        mac: child(i, "mac")
            .and_then(|m| m.attribute("address"))
            .map(str::to_ascii_lowercase),
        network,
        network_kind,
        model: child(i, "model")
            .and_then(|m| m.attribute("type"))
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            input_type: "libvirtxml".into(),
            location: vec!["g.xml".into()],
        }
    }

    const FULL: &str = r#"<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>web1</name>
  <uuid>0d3a5f7e-8c3b-4f0e-9a51-3c1e6f0d2b11</uuid>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/12"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='GiB'>2</memory>
  <vcpu placement='static' current='2'>4</vcpu>
  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <firmware><feature enabled='yes' name='secure-boot'/></firmware>
  </os>
  <cpu mode='custom' match='exact'>
    <model fallback='allow'>Skylake-Client</model>
    <vendor>Intel</vendor>
    <topology sockets='1' dies='1' cores='2' threads='2'/>
  </cpu>
  <devices>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web1.qcow2'/>
      <target dev='sda' bus='scsi'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/vg/web1-data'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='nbd' name='exp'><host name='nbd.example.com' port='10810'/></source>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='nbd'><host transport='unix' socket='/run/x.sock'/></source>
      <target dev='vdd' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sdb' bus='sata'/>
      <readonly/>
      <address type='drive' controller='0' bus='0' target='0' unit='1'/>
    </disk>
    <disk type='file' device='floppy'><target dev='fda' bus='fdc'/></disk>
    <interface type='network'>
      <mac address='52:54:00:AA:bb:01'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:aa:bb:02'/>
      <source bridge='br0'/>
      <model type='e1000e'/>
    </interface>
    <interface type='user'/>
    <sound model='ich9'/>
    <video><model type='qxl' ram='65536' vram='65536' heads='1'/></video>
  </devices>
</domain>"#;

    #[test]
    fn full_domain() {
        let d = parse_domain(FULL, origin()).unwrap();
        let s = &d.source;
        assert_eq!(s.name, "web1");
        assert_eq!(s.memory_bytes, 2 << 30);
        assert_eq!(s.vcpus, 4);
        assert_eq!(s.firmware, Firmware::Uefi);
        assert!(s.secure_boot);
        assert_eq!(s.cpu.model.as_deref(), Some("Skylake-Client"));
        assert_eq!(s.cpu.vendor.as_deref(), Some("Intel"));
        assert_eq!(
            s.cpu.topology,
            Some(CpuTopology {
                sockets: 1,
                cores: 2,
                threads: 2
            })
        );
        assert_eq!(s.os_hint.as_deref(), Some("http://debian.org/debian/12"));
        assert_eq!(s.hypervisor.as_deref(), Some("kvm"));
        assert_eq!(s.disks.len(), 4);
        assert_eq!(s.disks[0].bus, Some(Bus::VirtioScsi));
        assert_eq!((s.disks[0].controller, s.disks[0].unit), (Some(0), Some(0)));
        assert_eq!(s.disks[0].format, "qcow2");
        assert_eq!(s.disks[1].bus, Some(Bus::VirtioBlk));
        assert_eq!(s.disks[3].socket, "in4");
        assert_eq!(s.disks[3].format, "raw");
        assert_eq!(
            d.disks[0].data,
            DiskData::File("/var/lib/libvirt/images/web1.qcow2".into())
        );
        assert_eq!(d.disks[1].data, DiskData::Block("/dev/vg/web1-data".into()));
        assert_eq!(
            d.disks[2].data,
            DiskData::Nbd {
                uri: "nbd://nbd.example.com:10810/exp".into()
            }
        );
        assert_eq!(
            d.disks[3].data,
            DiskData::Nbd {
                uri: "nbd+unix:///?socket=/run/x.sock".into()
            }
        );
        assert_eq!(d.disks[3].format, None);
        assert_eq!(
            s.removables,
            vec![
                Removable {
                    kind: RemovableKind::Cdrom,
                    bus: Some(Bus::Sata),
                    unit: Some(1)
                },
                Removable {
                    kind: RemovableKind::Floppy,
                    bus: Some(Bus::Floppy),
                    unit: None
                }
            ]
        );
        assert_eq!(s.nics.len(), 3);
        assert_eq!(s.nics[0].mac.as_deref(), Some("52:54:00:aa:bb:01"));
        assert_eq!(s.nics[0].network.as_deref(), Some("default"));
        assert_eq!(s.nics[1].network_kind, NetworkKind::Bridge);
        assert_eq!(s.nics[1].network.as_deref(), Some("br0"));
        assert_eq!(s.nics[1].model.as_deref(), Some("e1000e"));
        assert_eq!(s.nics[2].network, None);
        assert_eq!(s.video.as_deref(), Some("qxl"));
        assert_eq!(s.sound.as_deref(), Some("ich9"));
    }

    #[test]
    fn minimal_and_units() {
        let d = parse_domain(
            "<domain type='qemu'><name>m</name><memory>1024</memory><os><type>hvm</type></os></domain>",
            origin(),
        )
        .unwrap();
        assert_eq!(d.source.memory_bytes, 1 << 20);
        assert_eq!(d.source.vcpus, 1);
        assert_eq!(d.source.firmware, Firmware::Bios);
        assert!(d.disks.is_empty());
        for (u, b) in [("b", 1), ("KB", 1000), ("MiB", 1 << 20), ("G", 1 << 30)] {
            let x = format!("<domain><name>m</name><memory unit='{u}'>3</memory></domain>");
            assert_eq!(
                parse_domain(&x, origin()).unwrap().source.memory_bytes,
                3 * b
            );
        }
        let d = parse_domain(
            "<domain><name>m</name><memory>1</memory><os><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader></os></domain>",
            origin(),
        )
        .unwrap();
        assert_eq!(d.source.firmware, Firmware::Uefi);
        assert!(!d.source.secure_boot);
    }

    #[test]
    fn errors() {
        let e = |x: &str| parse_domain(x, origin()).unwrap_err();
        assert!(e("<node/>").contains("expected <domain>"));
        assert!(e("<domain><memory>1</memory></domain>").contains("no <name>"));
        assert!(e("<domain><name>x</name></domain>").contains("no <memory>"));
        assert!(
            e("<domain><name>x</name><memory unit='parsecs'>1</memory></domain>")
                .contains("unknown unit")
        );
        assert!(e("<domain><name>x</name><memory>lots</memory></domain>").contains("not a number"));
        assert!(
            e("<domain><name>x</name><memory>1</memory><vcpu>two</vcpu></domain>")
                .contains("not a number")
        );
        assert!(e("<domain><name>x</name><memory>1</memory><devices><disk type='network'><source protocol='rbd' name='p/i'/><target dev='vda'/></disk></devices></domain>")
            .contains("protocol 'rbd'"));
        assert!(e("<domain><name>x</name><memory>1</memory><devices><disk type='file'><target dev='vda'/></disk></devices></domain>")
            .contains("disk vda: <source file"));
        assert!(e("not xml").len() > 3);
        let f = read_domain("<node/>", origin()).unwrap_err();
        assert_eq!(f.code, 3);
        assert!(
            f.message.starts_with("libvirt XML g.xml: root element"),
            "{}",
            f.message
        );
    }
}
