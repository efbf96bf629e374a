//! Cross-binary and end-to-end tests: virt-v2v, scripts/virt-v2v.sh and the
//! helpers run together on real nbdkit / qemu-nbd / libguestfs.  One test
//! binary (like ripgrep's tests/tests.rs); see docs/testing.md.

mod bad_input;
mod batch;
mod check;
mod cli;
mod common;
mod contract;
mod convert;
mod copy;
mod customize;
mod docs;
mod faults;
mod guests;
mod hostile;
mod interrupt;
mod layout;
mod libvirt;
mod orchestrators;
mod outputs;
mod overlap;
mod programs;
mod signals;
mod windows;
