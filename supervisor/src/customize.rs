//! virt-v2v's virt-customize options (`--hostname`, `--firstboot`,
//! `--run-command`, `--upload`, ...; helper_common::customize) and
//! `--mac MAC:ip:...`: accepted with upstream's syntax and passed to
//! helper-v2v-convert, which checks and applies them after the conversion,
//! in command-line order (docs/helpers/helper-v2v-convert.md).

use clap::Args;
use helper_common::customize::Operations;
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

/// `MAC:ip:...` (a static address for helper-v2v-convert to write), not a
/// network mapping.
pub fn is_static_ip(mac: &str) -> bool {
    mac.get(17..).is_some_and(|r| r.starts_with(":ip:"))
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
}
