//! Cross-binary and end-to-end tests: virt-v2v, scripts/virt-v2v.sh and the
//! helpers run together on real nbdkit / qemu-nbd / libguestfs.  One test
//! binary (like ripgrep's tests/tests.rs); see docs/testing.md.

mod bad_input;
mod check;
mod cli;
mod common;
mod contract;
mod convert;
mod copy;
mod docs;
mod hostile;
mod layout;
mod signals;
mod windows;
