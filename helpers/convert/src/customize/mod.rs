//! virt-customize operations run after the conversion (`--hostname`,
//! `--firstboot`, `--run-command`, `--upload`, ...), in command-line order,
//! and `--mac MAC:ip:...` static addresses for Linux guests.
//!
//! The options and their checks are helper_common::customize's (the
//! runners check them too, before any work starts); [`ops::apply`] applies
//! them to the mounted guest, [`firstboot`] installs the first-boot
//! service and [`network`] writes the static addresses.

pub mod firstboot;
pub mod network;
pub mod ops;

use clap::Args;
use helper_common::customize::{self, Operations};
use helper_common::Result;

pub use helper_common::customize::{Op, StaticIp};

/// The customisation options (flattened into the helper's command line).
#[derive(Debug, Clone, Default, Args)]
pub struct Options {
    #[command(flatten)]
    pub operations: Operations,
    /// A static address for the NIC with MAC address MAC, written into the
    /// guest's network configuration: MAC:ip:ADDR[,GW[,LEN[,NS...]]]
    /// (repeatable).
    #[arg(long = "mac", value_name = "MAC:ip:ADDR[,GW[,LEN[,NS...]]]")]
    pub mac: Vec<String>,
}

impl Options {
    /// True when nothing is asked.
    pub fn is_empty(&self) -> bool {
        self.operations.in_order().is_empty() && self.mac.is_empty()
    }

    /// The operations in command-line order, checked (a usage error names
    /// the option; local files must be readable).
    pub fn ops(&self) -> Result<Vec<Op>> {
        self.operations.checked()
    }

    /// The `--mac MAC:ip:...` static addresses, checked (usage errors).
    pub fn static_ips(&self) -> Result<Vec<StaticIp>> {
        customize::static_ips(self.mac.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        o: Options,
    }

    fn parse(args: &[&str]) -> Options {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap()
            .o
    }

    #[test]
    fn options_are_checked_by_helper_common() {
        let o = parse(&["--hostname", "h", "--mac", "52:54:00:01:02:03:ip:10.0.0.5"]);
        assert!(!o.is_empty());
        assert!(parse(&[]).is_empty());
        assert_eq!(o.ops().unwrap(), [Op::Hostname("h".into())]);
        assert_eq!(o.static_ips().unwrap()[0].mac, "52:54:00:01:02:03");
        let bad = parse(&["--mac", "52:54:00:01:02:03:network:default"]);
        assert!(bad
            .static_ips()
            .unwrap_err()
            .message
            .contains("expected MAC:ip:"));
    }
}
