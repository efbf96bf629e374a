//! virt-v2v's virt-customize options (`--hostname`, `--firstboot`,
//! `--run-command`, `--upload`, ...; helper_common::customize) and
//! `--mac MAC:ip:...`: accepted with upstream's syntax, checked before any
//! work starts ([`check`]), and passed to helper-v2v-convert, which applies
//! them after the conversion, in command-line order
//! (docs/helpers/helper-v2v-convert.md).

use clap::Args;
use helper_common::customize::{self, is_static_ip, Operations};
use std::ffi::OsString;

/// The customisation options (Linux guests; see helper-v2v-convert).
#[derive(Debug, Clone, Default, Args)]
pub struct Customize {
    #[command(flatten)]
    pub operations: Operations,
}

impl Customize {
    /// helper-v2v-convert's arguments: each operation as given, in
    /// command-line order, then `--mac` for each `MAC:ip:...` of `macs`
    /// (the other `--mac` forms are network mappings, not for convert).
    pub fn convert_args(&self, macs: &[String]) -> Vec<OsString> {
        let mut a = self.operations.to_args();
        for m in macs.iter().filter(|m| is_static_ip(m)) {
            a.extend(["--mac".into(), m.into()]);
        }
        a
    }
}

/// Check the operations and each `MAC:ip:...` of `macs` as
/// helper-v2v-convert does (same usage error text), before anything starts.
pub fn check(c: &Customize, macs: &[String]) -> Result<(), String> {
    c.operations.checked().map_err(|f| f.message)?;
    customize::static_ips(macs.iter().map(String::as_str).filter(|m| is_static_ip(m)))
        .map_err(|f| f.message)?;
    Ok(())
}

/// With `--no-convert` nothing would apply them: a usage error naming
/// the first.
pub fn check_no_convert(c: &Customize, macs: &[String]) -> Result<(), String> {
    match c.convert_args(macs).first() {
        Some(flag) => Err(format!(
            "{} changes the guest: it cannot be used with --no-convert",
            flag.to_string_lossy()
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        c: Customize,
    }

    #[test]
    fn passed_to_convert_with_the_static_addresses() {
        let c = Cli::try_parse_from(["virt-v2v", "--run-command", "echo 1", "--hostname", "h"])
            .unwrap()
            .c;
        let macs = [
            "52:54:00:01:02:03:network:default".to_string(),
            "52:54:00:01:02:04:ip:10.0.0.5,10.0.0.1,24".to_string(),
        ];
        let a: Vec<String> = c
            .convert_args(&macs)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        assert_eq!(
            a,
            [
                "--run-command",
                "echo 1",
                "--hostname",
                "h",
                "--mac",
                "52:54:00:01:02:04:ip:10.0.0.5,10.0.0.1,24"
            ]
        );
        assert!(Customize::default().convert_args(&macs[..1]).is_empty());
        assert_eq!(
            check_no_convert(&c, &[]).unwrap_err(),
            "--run-command changes the guest: it cannot be used with --no-convert"
        );
        assert!(check_no_convert(&Customize::default(), &macs[..1]).is_ok());
        assert!(check_no_convert(&Customize::default(), &macs[1..]).is_err());
    }

    #[test]
    fn checked_as_convert_checks_them() {
        let c = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("virt-v2v").chain(args.iter().copied()))
                .unwrap()
                .c
        };
        let ok = c(&["--hostname", "h", "--mkdir", "/srv"]);
        let macs = ["52:54:00:01:02:03:network:default".to_string()];
        assert!(check(&ok, &macs).is_ok());
        assert_eq!(
            check(&c(&["--hostname", "a b"]), &[]).unwrap_err(),
            "--hostname a b: not a valid hostname (letters, digits, '-', dot-separated)"
        );
        let bad_ip = ["52:54:00:01:02:03:ip:notanip".to_string()];
        assert_eq!(
            check(&ok, &bad_ip).unwrap_err(),
            "cannot parse --mac ip ipaddr: \"notanip\" is not an IP address"
        );
    }
}
