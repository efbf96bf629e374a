//! The JSON documents of the temp-directory contract.
//!
//! Every document carries `"version": 1` (the contract's major version),
//! required by the readers ([`crate::read_json`]) and by the schemas.
//! Within a major version fields are only added, always as optional
//! (`#[serde(default)]`), and readers ignore fields they do not know.

use schemars::gen::SchemaGenerator;
use schemars::schema::{InstanceType, Schema, SchemaObject};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Step, CONTRACT_VERSION};

/// The schema of every document's `version`: required, exactly
/// [`CONTRACT_VERSION`] (what [`crate::from_json_str`] accepts).
pub(crate) fn version_schema(_: &mut SchemaGenerator) -> Schema {
    SchemaObject {
        instance_type: Some(InstanceType::Integer.into()),
        const_value: Some(CONTRACT_VERSION.into()),
        ..Default::default()
    }
    .into()
}

/// The schema of a name read from a contract file (a disk's `socket`): a
/// bare file name inside the temporary directory, as
/// [`crate::V2vDir::resolve`] accepts: not empty, not `.` or `..`, no `/`,
/// no NUL.
fn bare_name_schema(_: &mut SchemaGenerator) -> Schema {
    let mut s = SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        ..Default::default()
    };
    s.string().pattern = Some(r"^([^./\x00][^/\x00]*|\.[^./\x00][^/\x00]*|\.\.[^/\x00]+)$".into());
    s.into()
}

/// Firmware of a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// Legacy BIOS boot (MBR / GRUB in the boot sector).
    Bios,
    /// UEFI boot (an EFI System Partition).
    Uefi,
    /// The source description does not say; convert decides by inspection.
    #[default]
    Unknown,
}

/// Bus (controller type) a disk or removable is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Bus {
    Ide,
    Sata,
    Scsi,
    VirtioBlk,
    VirtioScsi,
    Nvme,
    Xen,
    Floppy,
}

/// `metadata.in`: written by `helper-v2v-input-<type>`, describes the source guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetadataIn {
    /// Contract major version: 1.
    #[schemars(schema_with = "version_schema")]
    pub version: u32,
    /// The source guest.
    pub source: Source,
}

/// The source guest, as described by (or guessed from) its input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Source {
    /// Guest name (the default target name).
    pub name: String,
    /// Where the guest came from.
    pub origin: Origin,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Number of virtual CPUs.
    pub vcpus: u32,
    /// CPU vendor, model and topology, where the source says.
    #[serde(default)]
    pub cpu: Cpu,
    /// Firmware the guest boots with (`unknown` when the source does not say).
    #[serde(default)]
    pub firmware: Firmware,
    /// UEFI secure boot enabled in the source.
    #[serde(default)]
    pub secure_boot: bool,
    /// The guest's disks, in order; disk N is served as socket `inN`.
    pub disks: Vec<SourceDisk>,
    /// CD-ROM and floppy drives (never copied).
    #[serde(default)]
    pub removables: Vec<Removable>,
    /// Network interfaces.
    #[serde(default)]
    pub nics: Vec<Nic>,
    /// Video adapter model (e.g. `vga`, `qxl`, `vmvga`), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<String>,
    /// Sound device model, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// Source hypervisor (`vmware`, `kvm`, `xen`, `hyperv`, `virtualbox`), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypervisor: Option<String>,
    /// Guest OS hint from the source description (e.g. VMware's `guestOS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_hint: Option<String>,
}

/// Where the source came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Origin {
    /// Input type (`disk`, `libvirtxml`, `libvirt`, `ova`, `vmx`).
    pub input_type: String,
    /// What the user named: files, a URI, a domain name.
    pub location: Vec<String>,
}

/// CPU description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct Cpu {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<CpuTopology>,
}

/// CPU topology: sockets × cores × threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CpuTopology {
    pub sockets: u32,
    pub cores: u32,
    pub threads: u32,
}

/// One source disk, served read/write through a copy-on-write overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceDisk {
    /// 1-based index: the disk is served as `in<index>`.
    pub index: u32,
    /// Socket file name inside the temp directory (`in1`, ...): a bare
    /// name, resolved with `V2vDir::source_socket`.
    #[schemars(schema_with = "bare_name_schema")]
    pub socket: String,
    /// Format of the source file (`raw`, `qcow2`, `vmdk`, `vpc`, `vhdx`).
    /// The socket always serves raw guest data.
    pub format: String,
    /// Virtual size in bytes.
    pub size: u64,
    /// Bytes allocated in the source, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated: Option<u64>,
    /// Bus in the source guest, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<Bus>,
    /// Controller number and unit on that bus (e.g. scsi0:1 = 0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<u32>,
    /// Where the data comes from (a path or a URI), for messages.
    pub source: String,
}

/// A CD-ROM or floppy drive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Removable {
    pub kind: RemovableKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<Bus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RemovableKind {
    Cdrom,
    Floppy,
}

/// A network interface of the source guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Nic {
    /// MAC address, lower case, colon separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Network or bridge name in the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Whether `network` names a network or a bridge.
    #[serde(default)]
    pub network_kind: NetworkKind,
    /// Device model in the source (`e1000`, `vmxnet3`, `virtio`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    #[default]
    Network,
    Bridge,
}

/// `metadata.out`: written by `helper-v2v-convert` (or by the supervisor
/// with `--no-convert`), read by outputs' `final`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetadataOut {
    /// Contract major version: 1.
    #[schemars(schema_with = "version_schema")]
    pub version: u32,
    /// False when the guest was copied unchanged (`--no-convert`).
    pub converted: bool,
    /// What inspection found; absent when nothing was inspected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection: Option<Inspection>,
    /// What the target should look like.
    pub target: TargetMeta,
    /// Every change made to the guest, in order.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Every warning raised during conversion.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// What inspection found in the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct Inspection {
    /// `linux`, `windows`, ...
    pub os_type: String,
    /// `debian`, `ubuntu`, `rhel`, `fedora`, `sles`, ...
    pub distro: String,
    pub product_name: String,
    pub major_version: i32,
    pub minor_version: i32,
    pub arch: String,
    /// Root device in the appliance's naming (`/dev/sda1`).
    pub root: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default)]
    pub package_format: String,
    #[serde(default)]
    pub package_management: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub osinfo: Option<String>,
    /// Mountpoints, sorted by path.
    #[serde(default)]
    pub mountpoints: Vec<Mountpoint>,
    /// Installed kernels (Linux).
    #[serde(default)]
    pub kernels: Vec<Kernel>,
    /// Firmware found by inspection.
    #[serde(default)]
    pub firmware: Firmware,
    /// Windows guests: what inspection found in the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<WindowsInspection>,
}

/// Windows inspection data (from the SOFTWARE and SYSTEM hives).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WindowsInspection {
    /// Installation type: `Server`, `Client`, ...
    pub product_variant: String,
    /// `CurrentBuildNumber` (`20348`), when the registry has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// `%SystemRoot%` as found on the filesystem (`/Windows`).
    pub systemroot: String,
    /// The current control set of the SYSTEM hive (`ControlSet001`).
    pub current_control_set: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Mountpoint {
    pub path: String,
    pub device: String,
}

/// An installed kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Kernel {
    pub version: String,
    pub vmlinuz: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<String>,
    /// The kernel ships virtio_blk and virtio_net (built in or as modules).
    pub virtio: bool,
    /// The kernel the converted guest boots by default.
    #[serde(default)]
    pub default: bool,
}

/// Block bus the converted guest's disks go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TargetBlockBus {
    VirtioBlk,
    VirtioScsi,
    Ide,
    Sata,
}

/// Network device model of the converted guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TargetNetModel {
    Virtio,
    E1000,
    Rtl8139,
}

/// What the target guest should look like (virt-v2v's guestcaps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetMeta {
    pub block_bus: TargetBlockBus,
    pub net_model: TargetNetModel,
    /// `q35`, `pc` (i440fx) or `virt`.
    pub machine: String,
    pub arch: String,
    pub firmware: Firmware,
    /// Video model (`vga`, `qxl`, `virtio`).
    pub video: String,
    #[serde(default)]
    pub virtio_rng: bool,
    #[serde(default)]
    pub virtio_balloon: bool,
    #[serde(default)]
    pub pvpanic: bool,
    #[serde(default)]
    pub virtio_socket: bool,
    /// The guest's drivers speak virtio 1.0 (modern devices).
    #[serde(default)]
    pub virtio_1_0: bool,
    #[serde(default = "yes")]
    pub acpi: bool,
    /// Hardware clock in UTC (false: local time, e.g. Windows).
    #[serde(default = "yes")]
    pub rtc_utc: bool,
}

pub(crate) fn yes() -> bool {
    true
}

impl TargetMeta {
    /// The target when nothing is converted: keep what the source had as
    /// far as KVM can emulate it (IDE-class disks, e1000 NIC, standard VGA).
    pub fn unconverted(source: &Source) -> Self {
        let firmware = if source.firmware == Firmware::Uefi {
            Firmware::Uefi
        } else {
            Firmware::Bios
        };
        let block_bus = match source.disks.first().and_then(|d| d.bus) {
            Some(Bus::VirtioBlk) => TargetBlockBus::VirtioBlk,
            Some(Bus::VirtioScsi) => TargetBlockBus::VirtioScsi,
            Some(Bus::Ide) => TargetBlockBus::Ide,
            _ => TargetBlockBus::Sata,
        };
        TargetMeta {
            block_bus,
            net_model: TargetNetModel::E1000,
            machine: if block_bus == TargetBlockBus::Ide {
                "pc".into()
            } else {
                "q35".into()
            },
            arch: "x86_64".into(),
            firmware,
            video: "vga".into(),
            virtio_rng: false,
            virtio_balloon: false,
            pvpanic: false,
            virtio_socket: false,
            virtio_1_0: false,
            acpi: true,
            rtc_utc: true,
        }
    }
}

/// One change made to the guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// `file`, `package`, `initramfs`, `bootloader`, `service`, `relabel`, `trim`.
    pub kind: String,
    /// The file, package or thing changed.
    pub target: String,
    /// What was done, in words.
    pub detail: String,
    /// How long the action took (seconds of wall time, the guest command's
    /// run included); absent where not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

/// `output.json`: written by `helper-v2v-output-<type> setup`, read by `final`
/// and by `helper-v2v-copy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutputJson {
    /// Contract major version: 1.
    #[schemars(schema_with = "version_schema")]
    pub version: u32,
    /// Output type (`local`, `null`, ...).
    pub output_type: String,
    /// Target guest name.
    pub name: String,
    /// Target disks; disk N is served as socket `outN`.
    pub disks: Vec<OutputDisk>,
    /// Every target disk reads as zeroes before the copy (freshly created),
    /// so the copier need not write zeroes.
    #[serde(default)]
    pub target_is_zero: bool,
    /// Preferred request size for the copy, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_size: Option<u64>,
    /// Output-specific settings `final` needs (e.g. `output_storage`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// The key of [`OutputJson::options`] naming the directory an output's
/// setup creates its target files in.
pub const OUTPUT_STORAGE: &str = "output_storage";

/// `NAME-sdX`: the file name an output gives target disk `index` (1-based:
/// `guest-sda`, `guest-sdb`, ... `guest-sdaa`), as virt-v2v's outputs do.
/// `None` for index 0.
pub fn target_file_name(name: &str, index: u32) -> Option<String> {
    let i = index.checked_sub(1)?;
    Some(format!("{name}-sd{}", crate::drive_letters(i as usize)))
}

impl OutputJson {
    /// The one path an output's setup may create for target `disk`, and so
    /// the one path `helper-v2v-cleanup` may remove:
    /// `OUTPUT_STORAGE/NAME-sdX`, where `OUTPUT_STORAGE` is
    /// `options.output_storage` (absolute, no `..`), `NAME` is `name` and
    /// `X` the letters of `disk.index`, and `NAME-sdX` is a bare file name.
    /// `Err` says why there is none.
    pub fn created_path(&self, disk: &OutputDisk) -> Result<PathBuf, String> {
        use std::path::Component;
        let storage = self
            .options
            .get(OUTPUT_STORAGE)
            .ok_or_else(|| format!("options.{OUTPUT_STORAGE} is missing"))?;
        let storage = Path::new(storage);
        if !storage.is_absolute() || storage.components().any(|c| c == Component::ParentDir) {
            return Err(format!(
                "options.{OUTPUT_STORAGE} ‘{}’ is not an absolute path without ‘..’",
                storage.display()
            ));
        }
        let file = target_file_name(&self.name, disk.index)
            .ok_or_else(|| "index 0 (disks are numbered from 1)".to_string())?;
        if !crate::dir::is_bare_name(&file) {
            return Err(format!(
                "name ‘{}’ does not make a file name",
                self.name.escape_debug()
            ));
        }
        Ok(storage.join(file))
    }
}

/// One target disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OutputDisk {
    pub index: u32,
    /// Socket file name inside the temp directory (`out1`, ...): a bare
    /// name, resolved with `V2vDir::target_socket`.
    #[schemars(schema_with = "bare_name_schema")]
    pub socket: String,
    /// Target file or volume, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Target format (`raw`, `qcow2`).
    pub format: String,
    /// Virtual size in bytes (equal to the source's).
    pub size: u64,
    /// The output created this target (and removes it if the run fails).
    #[serde(default)]
    pub created: bool,
}

/// `status/<step>.done`: the step finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepDone {
    /// Contract major version: 1.
    #[schemars(schema_with = "version_schema")]
    pub version: u32,
    /// The step that finished.
    pub step: Step,
    /// Wall-clock seconds the step took.
    pub seconds: f64,
}

/// `status/<step>.error.json`: the step failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepError {
    /// Contract major version: 1.
    #[schemars(schema_with = "version_schema")]
    pub version: u32,
    /// The step that failed.
    pub step: Step,
    /// Failure class, from the exit code.
    pub kind: FailureKind,
    /// The process exit code (see `exit_code`).
    pub exit_code: u8,
    /// The disk at fault (1-based), where one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<u32>,
    /// One-line message.
    pub message: String,
    /// Underlying causes, outermost first.
    #[serde(default)]
    pub causes: Vec<String>,
    /// The step's log file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// The class of a failure, as written in `status/<step>.error.json`, one
/// per exit code: `failed` (1, and any code not listed), `usage` (2: bad
/// options), `contract` (3: a missing or invalid contract file, name or
/// socket), `external` (4: an external program failed), `unsupported` (5:
/// the guest or source is not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    Failed,
    Usage,
    Contract,
    External,
    Unsupported,
}

impl FailureKind {
    /// The class of a (non-zero) exit code.
    pub fn of_exit_code(code: u8) -> Self {
        use crate::exit_code::*;
        match code {
            USAGE => FailureKind::Usage,
            CONTRACT => FailureKind::Contract,
            EXTERNAL => FailureKind::External,
            UNSUPPORTED => FailureKind::Unsupported,
            _ => FailureKind::Failed,
        }
    }
}

/// Who emitted an event: one of the steps, or the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EventStep {
    Step(Step),
    Runner(Runner),
}

/// The runner of the steps: `virt-v2v` (the supervisor, or
/// `scripts/virt-v2v.sh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Runner {
    #[serde(rename = "virt-v2v")]
    VirtV2v,
}

impl EventStep {
    /// The name as written in events (`output-setup`, `virt-v2v`).
    pub fn name(self) -> &'static str {
        match self {
            EventStep::Step(s) => s.name(),
            EventStep::Runner(Runner::VirtV2v) => "virt-v2v",
        }
    }

    /// The inverse of [`EventStep::name`].
    pub fn from_name(name: &str) -> Option<EventStep> {
        match name {
            "virt-v2v" => Some(EventStep::Runner(Runner::VirtV2v)),
            _ => Step::from_name(name).map(EventStep::Step),
        }
    }
}

/// One line of the event stream (`--machine-readable`, or `--events-fd`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// Contract major version: 1.
    #[schemars(schema_with = "version_schema")]
    pub version: u32,
    /// Seconds since the Unix epoch.
    pub time: f64,
    /// The step emitting the event, or the runner (`virt-v2v`).
    pub step: EventStep,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    /// The step started.
    StepStarted,
    /// The step finished successfully.
    StepFinished { seconds: f64 },
    /// A human message (what virt-v2v prints as `[  12.3] ...`).
    Message { message: String },
    /// A warning; the step goes on.
    Warning {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disk: Option<u32>,
    },
    /// The step failed.
    Error {
        message: String,
        exit_code: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disk: Option<u32>,
    },
    /// One action of the conversion finished (`helper-v2v-convert`): the
    /// change it made (as in `metadata.out`'s `changes`) and its time.
    ActionFinished {
        kind: String,
        target: String,
        seconds: f64,
    },
    /// Copying of one disk started.
    DiskStarted { disk: u32, size: u64 },
    /// Copy progress of one disk.
    Progress {
        disk: u32,
        bytes_done: u64,
        bytes_total: u64,
        /// Bytes per second since the disk started.
        rate: f64,
    },
    /// Copying of one disk finished.
    DiskFinished {
        disk: u32,
        /// Bytes read from the source and written.
        bytes_copied: u64,
        /// Bytes written as zero requests.
        bytes_zeroed: u64,
        /// Bytes neither read nor written (holes / zero extents on a zero target).
        bytes_skipped: u64,
        seconds: f64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oj(name: &str, storage: Option<&str>) -> OutputJson {
        OutputJson {
            version: CONTRACT_VERSION,
            output_type: "local".into(),
            name: name.into(),
            disks: Vec::new(),
            target_is_zero: true,
            request_size: None,
            options: storage
                .map(|s| (OUTPUT_STORAGE.to_string(), s.to_string()))
                .into_iter()
                .collect(),
        }
    }

    fn disk(index: u32) -> OutputDisk {
        OutputDisk {
            index,
            socket: crate::V2vDir::out_name(index),
            path: None,
            format: "raw".into(),
            size: 1,
            created: true,
        }
    }

    #[test]
    fn event_steps_are_the_steps_and_the_runner() {
        let all: Vec<EventStep> = Step::ALL
            .into_iter()
            .map(EventStep::Step)
            .chain([EventStep::Runner(Runner::VirtV2v)])
            .collect();
        for e in all {
            assert_eq!(EventStep::from_name(e.name()), Some(e));
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.name()));
            assert_eq!(serde_json::from_str::<EventStep>(&json).unwrap(), e);
        }
        assert_eq!(EventStep::from_name("supervisor"), None);
    }

    #[test]
    fn target_file_names() {
        assert_eq!(target_file_name("g", 1).as_deref(), Some("g-sda"));
        assert_eq!(target_file_name("g", 27).as_deref(), Some("g-sdaa"));
        assert_eq!(target_file_name("g", 0), None);
    }

    #[test]
    fn created_path_is_storage_slash_name_sdx() {
        let o = oj("guest", Some("/var/tmp/out"));
        assert_eq!(
            o.created_path(&disk(2)).unwrap(),
            Path::new("/var/tmp/out/guest-sdb")
        );
        for (o, d, why) in [
            (oj("guest", None), 1, "output_storage is missing"),
            (oj("guest", Some("out")), 1, "not an absolute path"),
            (oj("guest", Some("/o/../etc")), 1, "not an absolute path"),
            (oj("../guest", Some("/o")), 1, "does not make a file name"),
            (oj("a/b", Some("/o")), 1, "does not make a file name"),
            (oj("guest", Some("/o")), 0, "index 0"),
        ] {
            let e = o.created_path(&disk(d)).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
