//! v2v-input-kit: what the input helpers (`helper-v2v-input-disk`,
//! `-libvirtxml`, `-libvirt`, `-ova`, `-vmx`) share, so that no helper
//! crate depends on another (`tests/tests/layout.rs` checks it):
//!
//! - [`options`]: virt-v2v's input options (`-if -ic -it -ip -io`) and
//!   `--check`, accepted by every input helper, and which of them each
//!   input type uses, ignores or refuses;
//! - [`step`]: running the helper, either as `--check` (validation only,
//!   no side effect) or as the input step, with one validation function;
//! - [`safe`]: bounded reads and DTD-free XML for untrusted descriptions;
//! - [`disk`]: checking and probing a local disk image, serving it as
//!   `DIR/inN` through a copy-on-write overlay;
//! - [`refs`]: what a disk image may refer to (backing files, data
//!   files, extents: only files beside it) and opening exactly that;
//! - [`serve`]: serving the disks a description names and writing
//!   `DIR/metadata.in`, stopping every server on failure;
//! - [`meta`]: the `metadata.in` entries every description fills in;
//! - [`domain`]: libvirt domain XML (`-i libvirtxml`, `-i libvirt`);
//! - [`vmdk`]: VMDK descriptors (`-i vmx`, `-i ova`).

pub mod disk;
pub mod domain;
pub mod meta;
pub mod options;
pub mod refs;
pub mod safe;
pub mod serve;
pub mod step;
pub mod vmdk;

pub use options::{InputArgs, Opt, Policy, Transport};
