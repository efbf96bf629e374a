//! Parse an OVF envelope (VMware ovftool and VirtualBox dialects) into the
//! source metadata plus, for each disk, the file that holds it.

use roxmltree::Node;
use v2v_input_kit::meta::{new_disk, new_source, Slot};
use v2v_input_kit::safe;
use v2v_meta::{
    Bus, Cpu, CpuTopology, Firmware, NetworkKind, Nic, Origin, Removable, RemovableKind, Source,
};

/// One disk's file in the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFile {
    /// `ovf:href` of the `<File>`.
    pub href: String,
    /// `ovf:compression` (`gzip`), if any.
    pub compression: Option<String>,
    /// `ovf:format` of the `<Disk>` (a URL ending in `#streamOptimized`...).
    pub format_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedOvf {
    pub source: Source,
    pub files: Vec<DiskFile>,
}

/// Largest disk capacity accepted: qemu's limit (an `off_t`).
pub const MAX_CAPACITY: u64 = i64::MAX as u64;

/// Bytes in one OVF allocation unit (`byte * 2^20`, `MegaBytes`, `GB`...).
pub fn alloc_units(u: &str) -> Option<u64> {
    let u = u.trim();
    let n: String = u.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(rest) = n.strip_prefix("byte*2^") {
        let p: u32 = rest.parse().ok()?;
        return 1u64.checked_shl(p);
    }
    if let Some(rest) = n.strip_prefix("byte*10^") {
        let p: u32 = rest.parse().ok()?;
        return 10u64.checked_pow(p);
    }
    Some(match n.to_ascii_lowercase().as_str() {
        "" | "byte" | "bytes" => 1,
        "kb" | "kilobytes" | "kib" => 1 << 10,
        "mb" | "megabytes" | "mib" => 1 << 20,
        "gb" | "gigabytes" | "gib" => 1 << 30,
        "tb" | "terabytes" | "tib" => 1 << 40,
        _ => return None,
    })
}

fn local<'a>(n: Node<'a, '_>) -> &'a str {
    n.tag_name().name()
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.is_element() && local(*c) == name)
}

fn ctext<'a>(n: Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(n, name)
        .and_then(|c| c.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// An attribute by local name, whatever its namespace (`ovf:href`, `vmw:key`).
fn attr<'a>(n: Node<'a, '_>, name: &str) -> Option<&'a str> {
    n.attributes().find(|a| a.name() == name).map(|a| a.value())
}

struct Controller {
    id: String,
    bus: Option<Bus>,
    address: Option<u32>,
}

/// Parse OVF text.
pub fn parse_ovf(xml: &str, origin: Origin) -> Result<ParsedOvf, String> {
    let doc = safe::parse_xml(xml)?;
    let env = doc.root_element();
    if local(env) != "Envelope" {
        return Err(format!(
            "root element is <{}>, expected <Envelope>",
            local(env)
        ));
    }
    let vs = env
        .descendants()
        .find(|n| n.is_element() && local(*n) == "VirtualSystem")
        .ok_or("no <VirtualSystem>")?;
    let name = ctext(vs, "Name")
        .or_else(|| attr(vs, "id"))
        .ok_or("<VirtualSystem> has no name")?
        .to_string();
    let hw = child(vs, "VirtualHardwareSection").ok_or("no <VirtualHardwareSection>")?;

    // References and disks.
    let mut refs = Vec::new();
    if let Some(r) = child(env, "References") {
        for f in r
            .children()
            .filter(|c| c.is_element() && local(*c) == "File")
        {
            refs.push((
                attr(f, "id").unwrap_or("").to_string(),
                attr(f, "href").unwrap_or("").to_string(),
                attr(f, "compression").map(str::to_string),
            ));
        }
    }
    struct OvfDisk<'a> {
        id: &'a str,
        file_ref: Option<&'a str>,
        capacity: u64,
        format: Option<&'a str>,
    }
    let mut ovf_disks = Vec::new();
    if let Some(ds) = child(env, "DiskSection") {
        for d in ds
            .children()
            .filter(|c| c.is_element() && local(*c) == "Disk")
        {
            let id = attr(d, "diskId").unwrap_or("");
            let cap: u64 = match attr(d, "capacity").map(str::trim) {
                None => 0,
                Some(c) => c.parse().map_err(|_| {
                    format!("disk {id:?}: capacity {c:?} is not a whole number of units")
                })?,
            };
            let unit = attr(d, "capacityAllocationUnits").unwrap_or("byte");
            let mult =
                alloc_units(unit).ok_or_else(|| format!("disk capacity unit {unit:?} unknown"))?;
            let capacity = cap
                .checked_mul(mult)
                .filter(|c| *c <= MAX_CAPACITY)
                .ok_or_else(|| {
                    format!("disk {id:?}: capacity {cap} × {unit:?} is more than 2^63 bytes")
                })?;
            ovf_disks.push(OvfDisk {
                id,
                file_ref: attr(d, "fileRef"),
                capacity,
                format: attr(d, "format"),
            });
        }
    }

    let items: Vec<Node> = hw
        .children()
        .filter(|c| {
            c.is_element()
                && (local(*c) == "Item"
                    || local(*c) == "StorageItem"
                    || local(*c) == "EthernetPortItem")
        })
        .collect();
    let rtype = |i: Node| ctext(i, "ResourceType").and_then(|t| t.parse::<u32>().ok());
    let mut controllers = Vec::new();
    for i in &items {
        let sub = ctext(*i, "ResourceSubType")
            .unwrap_or("")
            .to_ascii_lowercase();
        let bus = match rtype(*i) {
            Some(5) => Some(Bus::Ide),
            Some(6) => Some(Bus::Scsi),
            Some(20) if sub.contains("nvme") => Some(Bus::Nvme),
            Some(20) => Some(Bus::Sata),
            _ => continue,
        };
        controllers.push(Controller {
            id: ctext(*i, "InstanceID").unwrap_or("").to_string(),
            bus,
            address: ctext(*i, "Address").and_then(|a| a.parse().ok()),
        });
    }

    let mut memory_bytes = None;
    let mut vcpus: u32 = 1;
    let mut cpu = Cpu::default();
    let mut source_disks = Vec::new();
    let mut files = Vec::new();
    let mut removables = Vec::new();
    let mut nics = Vec::new();
    let mut video = None;
    let mut sound = None;
    for i in &items {
        let parent = ctext(*i, "Parent").and_then(|p| controllers.iter().find(|c| c.id == p));
        let unit = ctext(*i, "AddressOnParent").and_then(|a| a.parse().ok());
        match rtype(*i) {
            Some(3) => {
                vcpus = ctext(*i, "VirtualQuantity")
                    .and_then(|q| q.parse().ok())
                    .ok_or("vCPU item without a VirtualQuantity")?;
                if let Some(c) = child(*i, "CoresPerSocket")
                    .and_then(|c| c.text())
                    .and_then(|t| t.trim().parse::<u32>().ok())
                {
                    if c > 0 && vcpus % c == 0 {
                        cpu.topology = Some(CpuTopology {
                            sockets: vcpus / c,
                            cores: c,
                            threads: 1,
                        });
                    }
                }
            }
            Some(4) => {
                let q: u64 = ctext(*i, "VirtualQuantity")
                    .and_then(|q| q.parse().ok())
                    .ok_or("memory item without a VirtualQuantity")?;
                let u = ctext(*i, "AllocationUnits").unwrap_or("byte * 2^20");
                let m = alloc_units(u).ok_or_else(|| format!("memory unit {u:?} unknown"))?;
                memory_bytes = Some(q.saturating_mul(m));
            }
            Some(10) => {
                let model = ctext(*i, "ResourceSubType").map(|s| s.to_ascii_lowercase());
                nics.push(Nic {
                    mac: ctext(*i, "Address").map(|m| m.to_ascii_lowercase()),
                    network: ctext(*i, "Connection").map(str::to_string),
                    network_kind: NetworkKind::Network,
                    model,
                });
            }
            Some(14) => removables.push(Removable {
                kind: RemovableKind::Floppy,
                bus: Some(Bus::Floppy),
                unit,
            }),
            Some(15) | Some(16) => removables.push(Removable {
                kind: RemovableKind::Cdrom,
                bus: parent.and_then(|p| p.bus),
                unit,
            }),
            Some(17) => {
                let hr = ctext(*i, "HostResource").ok_or("disk item without a HostResource")?;
                let id = hr
                    .strip_prefix("ovf:/disk/")
                    .or_else(|| hr.strip_prefix("/disk/"))
                    .ok_or_else(|| format!("disk HostResource {hr:?} not understood"))?;
                let d = ovf_disks
                    .iter()
                    .find(|d| d.id == id)
                    .ok_or_else(|| format!("disk {id:?} not in <DiskSection>"))?;
                let fr = d
                    .file_ref
                    .ok_or_else(|| format!("disk {id:?} has no fileRef"))?;
                let (_, href, compression) = refs
                    .iter()
                    .find(|(rid, _, _)| rid == fr)
                    .ok_or_else(|| format!("file {fr:?} not in <References>"))?;
                let index = source_disks.len() as u32 + 1;
                let slot = Slot {
                    bus: parent.and_then(|p| p.bus),
                    controller: parent.and_then(|p| p.address),
                    unit,
                };
                source_disks.push(new_disk(index, "vmdk", d.capacity, slot, href.clone()));
                files.push(DiskFile {
                    href: href.clone(),
                    compression: compression.clone(),
                    format_url: d.format.map(str::to_string),
                });
            }
            Some(24) => video = video.or(ctext(*i, "ResourceSubType").map(str::to_string)),
            Some(35) => sound = sound.or(ctext(*i, "ResourceSubType").map(str::to_string)),
            _ => {}
        }
    }

    // Firmware: VMware's vmw:Config firmware=efi; VirtualBox's
    // <vbox:Machine><Hardware><BIOS>/<Firmware type="EFI"/>.
    let mut firmware = Firmware::Bios;
    let mut secure_boot = false;
    let mut hypervisor = None;
    for c in hw
        .descendants()
        .filter(|n| n.is_element() && local(*n) == "Config")
    {
        match (attr(c, "key"), attr(c, "value")) {
            (Some("firmware"), Some(v)) if v.eq_ignore_ascii_case("efi") => {
                firmware = Firmware::Uefi
            }
            (Some("uefi.secureBoot.enabled"), Some(v)) if v.eq_ignore_ascii_case("true") => {
                secure_boot = true
            }
            _ => {}
        }
    }
    if let Some(st) = hw
        .descendants()
        .find(|n| n.is_element() && local(*n) == "VirtualSystemType")
        .and_then(|n| n.text())
    {
        if st.trim().starts_with("vmx-") {
            hypervisor = Some("vmware".to_string());
        } else if st.contains("virtualbox") {
            hypervisor = Some("virtualbox".to_string());
        }
    }
    if let Some(m) = vs
        .descendants()
        .find(|n| n.is_element() && local(*n) == "Machine")
    {
        hypervisor = Some("virtualbox".to_string());
        vbox_macs(m, &mut nics);
        if let Some(f) = m
            .descendants()
            .find(|n| n.is_element() && local(*n) == "Firmware")
        {
            if attr(f, "type").is_some_and(|t| t.to_ascii_uppercase().starts_with("EFI")) {
                firmware = Firmware::Uefi;
            }
        }
    }
    // VMware's vmw:osType, VirtualBox's <vbox:OSType>, or the description.
    let os_hint = child(vs, "OperatingSystemSection").and_then(|o| {
        attr(o, "osType")
            .or_else(|| ctext(o, "OSType"))
            .or_else(|| ctext(o, "Description"))
            .map(str::to_string)
    });
    let secure_boot = secure_boot && firmware == Firmware::Uefi;

    let memory_bytes = memory_bytes.ok_or("no memory item (ResourceType 4)")?;
    let mut source = new_source(name, origin, memory_bytes, vcpus);
    source.cpu = cpu;
    source.firmware = firmware;
    source.secure_boot = secure_boot;
    source.disks = source_disks;
    source.removables = removables;
    source.nics = nics;
    source.video = video;
    source.sound = sound;
    source.hypervisor = hypervisor;
    source.os_hint = os_hint;
    Ok(ParsedOvf { source, files })
}

/// VirtualBox keeps the MAC addresses in its own section
/// (`<Adapter slot="0" enabled="true" MACAddress="080027AABBCC">`), not in
/// the OVF items: give them, in slot order, to the NICs that have none.
fn vbox_macs(machine: Node, nics: &mut [Nic]) {
    let mut adapters: Vec<(u32, String)> = machine
        .descendants()
        .filter(|n| n.is_element() && local(*n) == "Adapter")
        .filter(|a| attr(*a, "enabled") != Some("false"))
        .filter_map(|a| {
            let slot = attr(a, "slot").and_then(|s| s.parse().ok()).unwrap_or(0);
            let mac = attr(a, "MACAddress")?;
            if mac.len() != 12 || !mac.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            let mac = mac.to_ascii_lowercase();
            let pairs: Vec<&str> = (0..6).map(|i| &mac[2 * i..2 * i + 2]).collect();
            Some((slot, pairs.join(":")))
        })
        .collect();
    adapters.sort();
    for (nic, (_, mac)) in nics.iter_mut().zip(adapters) {
        if nic.mac.is_none() {
            nic.mac = Some(mac);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(alloc_units("byte * 2^20"), Some(1 << 20));
        assert_eq!(alloc_units("byte*2^30"), Some(1 << 30));
        assert_eq!(alloc_units("MegaBytes"), Some(1 << 20));
        assert_eq!(alloc_units("MB"), Some(1 << 20));
        assert_eq!(alloc_units("GB"), Some(1 << 30));
        assert_eq!(alloc_units("byte"), Some(1));
        assert_eq!(alloc_units("hertz * 10^6"), None);
        assert_eq!(alloc_units("byte * 2^99"), None);
    }

    #[test]
    fn refuses_entities_and_junk() {
        let o = Origin {
            input_type: "ova".into(),
            location: vec![],
        };
        assert!(parse_ovf(
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><Envelope>&e;</Envelope>",
            o.clone()
        )
        .is_err());
        assert!(parse_ovf("<Foo/>", o.clone())
            .unwrap_err()
            .contains("Envelope"));
        assert!(parse_ovf("<Envelope/>", o)
            .unwrap_err()
            .contains("VirtualSystem"));
    }
}
