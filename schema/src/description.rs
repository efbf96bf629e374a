//! `description.json`: the converted guest as every output renders it.
//!
//! One document derived from `metadata.in`, `metadata.out` (or the
//! unconverted shape), `output.json` and the runner's network mapping
//! (`-n`, `-b`, `--mac`): the runner writes it (crate `v2v-render`'s
//! `describe`, or its `v2v-describe` program) after the output's `setup`
//! and before its `final`; an output's `final` renders it (libvirt XML, a
//! qemu script, KubeVirt YAML, ...).  Everything here is already decided:
//! an output never looks at `metadata.in` or `metadata.out` again.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::{Cpu, Mountpoint, NetworkKind, RemovableKind, TargetBlockBus, TargetNetModel};

/// Firmware of the converted guest (never unknown here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GuestFirmware {
    Bios,
    Uefi,
}

/// `description.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuestDescription {
    /// Contract major version: 1.
    #[schemars(schema_with = "crate::types::version_schema")]
    pub version: u32,
    /// Target guest name (`-on`, else the source's).
    pub name: String,
    /// Output type that created the disks (`local`, `qemu`, ...).
    pub output_type: String,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Number of virtual CPUs (at least 1).
    pub vcpus: u32,
    /// CPU vendor, model and topology, where the source says; a topology
    /// is present only when sockets × cores × threads = `vcpus`.
    pub cpu: Cpu,
    pub firmware: GuestFirmware,
    /// UEFI secure boot (only with `uefi`).
    #[serde(default)]
    pub secure_boot: bool,
    /// Machine type: `q35`, `pc` (i440fx) or `virt`.
    pub machine: String,
    /// Guest architecture (`x86_64`, `aarch64`, ...).
    pub arch: String,
    #[serde(default = "crate::types::yes")]
    pub acpi: bool,
    /// Machine features the guest gets (`acpi`, `apic`, `pae`, `smm`), as
    /// virt-v2v lists them.
    #[serde(default)]
    pub features: Vec<String>,
    /// Hardware clock in UTC (false: local time, e.g. Windows).
    #[serde(default = "crate::types::yes")]
    pub rtc_utc: bool,
    /// Target disks, in boot order.
    pub disks: Vec<GuestDisk>,
    /// CD-ROM and floppy drives (empty, no media).
    #[serde(default)]
    pub removables: Vec<GuestRemovable>,
    /// Network interfaces, in order, with the network mapping applied.
    #[serde(default)]
    pub nics: Vec<GuestNic>,
    /// Video model (`vga`, `qxl`, `virtio`, `cirrus`).
    pub video: String,
    /// Sound device model, where the source had one (`ich6`, `ac97`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// virtio-rng device (backed by /dev/urandom).
    #[serde(default)]
    pub rng: bool,
    /// virtio memory balloon.
    #[serde(default)]
    pub balloon: bool,
    /// pvpanic device.
    #[serde(default)]
    pub pvpanic: bool,
    /// virtio-vsock device.
    #[serde(default)]
    pub vsock: bool,
    /// A virtio-serial channel for the QEMU guest agent
    /// (`org.qemu.guest_agent.0`).
    #[serde(default)]
    pub guest_agent: bool,
    /// The guest's drivers speak virtio 1.0 (modern devices only).
    #[serde(default)]
    pub virtio_1_0: bool,
    /// The guest OS, where inspection found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<GuestOs>,
    /// Facts about the source.
    pub source: GuestSource,
    /// False when the guest was copied unchanged (`--no-convert`).
    pub converted: bool,
}

/// One target disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GuestDisk {
    /// 1-based index: the disk was copied through socket `out<index>`.
    pub index: u32,
    /// Bus of the converted guest.
    pub bus: TargetBlockBus,
    /// Device name on that bus (`vda`, `sda`, `hda`, ...).
    pub dev: String,
    /// Target format (`raw`, `qcow2`).
    pub format: String,
    /// Target file, volume or path as the output named it, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Virtual size in bytes.
    pub size: u64,
}

/// A CD-ROM or floppy drive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GuestRemovable {
    pub kind: RemovableKind,
    /// `sata`, `ide` or `fdc`.
    pub bus: String,
    /// Device name on that bus (`sdb`, `hdc`, `fda`, ...).
    pub dev: String,
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GuestNic {
    /// MAC address, lower case, colon separated, where the source had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Device model of the converted guest.
    pub model: TargetNetModel,
    /// Whether `network` names a network or a bridge.
    pub kind: NetworkKind,
    /// Network or bridge on the target, after mapping (`default` when the
    /// source named none and nothing mapped it).
    pub network: String,
    /// The network or bridge the source named, before mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_network: Option<String>,
    /// Device model in the source, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_model: Option<String>,
}

/// The guest OS as inspection found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GuestOs {
    /// `linux`, `windows`, ...
    pub os_type: String,
    pub distro: String,
    pub product_name: String,
    pub major_version: i32,
    pub minor_version: i32,
    /// libosinfo short id (e.g. `debian12`), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub osinfo: Option<String>,
    /// Guest architecture inspection found.
    #[serde(default)]
    pub arch: String,
    /// Root device in the appliance's naming (`/dev/sda1`).
    #[serde(default)]
    pub root: String,
    /// `rpm`, `deb`, ... (empty: unknown).
    #[serde(default)]
    pub package_format: String,
    /// `dnf`, `apt`, ... (empty: unknown).
    #[serde(default)]
    pub package_management: String,
    /// Mountpoints, sorted by path.
    #[serde(default)]
    pub mountpoints: Vec<Mountpoint>,
}

/// Facts about the source guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GuestSource {
    /// Source guest name.
    pub name: String,
    /// Input type (`disk`, `libvirtxml`, `libvirt`, `ova`, `vmx`).
    pub input_type: String,
    /// Source hypervisor (`vmware`, `kvm`, ...), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypervisor: Option<String>,
    /// Guest OS hint from the source description, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_hint: Option<String>,
}
