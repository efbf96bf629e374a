//! Building the metadata entries every input fills in (libvirt XML, OVF,
//! VMX, local disks), so that each names only what its source says.

use v2v_meta::{Bus, Cpu, Firmware, Origin, Source, SourceDisk, V2vDir};

/// A source with what every description gives (name, origin, memory,
/// vCPUs); firmware unknown, no devices, no hints.
pub fn new_source(name: String, origin: Origin, memory_bytes: u64, vcpus: u32) -> Source {
    Source {
        name,
        origin,
        memory_bytes,
        vcpus,
        cpu: Cpu::default(),
        firmware: Firmware::Unknown,
        secure_boot: false,
        disks: Vec::new(),
        removables: Vec::new(),
        nics: Vec::new(),
        video: None,
        sound: None,
        hypervisor: None,
        os_hint: None,
    }
}

/// Where a disk sits in the source guest: bus, controller, unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slot {
    pub bus: Option<Bus>,
    pub controller: Option<u32>,
    pub unit: Option<u32>,
}

/// Disk `index` (1-based, served as `in<index>`) as a description gives
/// it: `format` and `size` are what the description says (serving
/// replaces them with what the file holds), `source` names the data.
pub fn new_disk(index: u32, format: &str, size: u64, slot: Slot, source: String) -> SourceDisk {
    SourceDisk {
        index,
        socket: V2vDir::in_name(index),
        format: format.into(),
        size,
        allocated: None,
        bus: slot.bus,
        controller: slot.controller,
        unit: slot.unit,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let o = Origin {
            input_type: "x".into(),
            location: vec![],
        };
        let s = new_source("g".into(), o, 1 << 30, 2);
        assert_eq!(
            (s.firmware, s.vcpus, s.disks.len()),
            (Firmware::Unknown, 2, 0)
        );
        let d = new_disk(3, "vmdk", 0, Slot::default(), "a.vmdk".into());
        assert_eq!((d.socket.as_str(), d.bus), ("in3", None));
    }
}
