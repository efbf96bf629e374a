//! virt-v2v's virt-customize options (`--hostname`, `--firstboot`,
//! `--run-command`, `--upload`, ...) and `--mac MAC:ip:...`: accepted with
//! upstream's syntax and passed to helper-v2v-convert, which checks and
//! applies them after the conversion, in command-line order
//! (docs/helpers/helper-v2v-convert.md).

use clap::Args;
use std::ffi::OsString;
use std::sync::atomic::{AtomicU64, Ordering};

/// An option's value and its place among all the values of this struct
/// (clap parses in command-line order; the number restores it across
/// options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed(u64, String);

static NEXT: AtomicU64 = AtomicU64::new(0);

fn placed(s: &str) -> Result<Placed, String> {
    Ok(Placed(NEXT.fetch_add(1, Ordering::Relaxed), s.to_string()))
}

/// The customisation options (Linux guests; see helper-v2v-convert).
#[derive(Debug, Clone, Default, Args)]
pub struct Customize {
    /// Set the converted guest's hostname.
    #[arg(long = "hostname", value_name = "HOSTNAME", value_parser = placed)]
    pub hostname: Vec<Placed>,
    /// Run local SCRIPT once at the converted guest's first boot.
    #[arg(long = "firstboot", value_name = "SCRIPT", value_parser = placed)]
    pub firstboot: Vec<Placed>,
    /// Run command line CMD once at the converted guest's first boot.
    #[arg(long = "firstboot-command", value_name = "CMD", value_parser = placed)]
    pub firstboot_command: Vec<Placed>,
    /// Run local SCRIPT in the guest after converting it.
    #[arg(long = "run", value_name = "SCRIPT", value_parser = placed)]
    pub run: Vec<Placed>,
    /// Run command line CMD in the guest after converting it.
    #[arg(long = "run-command", value_name = "CMD", value_parser = placed)]
    pub run_command: Vec<Placed>,
    /// Copy local FILE to DEST in the guest.
    #[arg(long = "upload", value_name = "FILE:DEST", value_parser = placed)]
    pub upload: Vec<Placed>,
    /// Create directory DIR in the guest.
    #[arg(long = "mkdir", value_name = "DIR", value_parser = placed)]
    pub mkdir: Vec<Placed>,
    /// Write CONTENT to FILE in the guest.
    #[arg(long = "write", value_name = "FILE:CONTENT", value_parser = placed)]
    pub write: Vec<Placed>,
    /// Delete PATH (a glob, recursively) in the guest.
    #[arg(long = "delete", value_name = "PATH", value_parser = placed)]
    pub delete: Vec<Placed>,
    /// Set the guest's time zone (a name such as Europe/London).
    #[arg(long = "timezone", value_name = "TIMEZONE", value_parser = placed)]
    pub timezone: Vec<Placed>,
}

impl Customize {
    /// helper-v2v-convert's arguments: each operation as given, in
    /// command-line order, then `--mac` for each `MAC:ip:...` of `macs`
    /// (the other `--mac` forms are network mappings, not for convert).
    pub fn convert_args(&self, macs: &[String]) -> Vec<OsString> {
        let lists: [(&str, &Vec<Placed>); 10] = [
            ("--hostname", &self.hostname),
            ("--firstboot", &self.firstboot),
            ("--firstboot-command", &self.firstboot_command),
            ("--run", &self.run),
            ("--run-command", &self.run_command),
            ("--upload", &self.upload),
            ("--mkdir", &self.mkdir),
            ("--write", &self.write),
            ("--delete", &self.delete),
            ("--timezone", &self.timezone),
        ];
        let mut all: Vec<(u64, &str, &str)> = lists
            .iter()
            .flat_map(|(f, l)| l.iter().map(move |p| (p.0, *f, p.1.as_str())))
            .collect();
        all.sort_by_key(|x| x.0);
        let mut a: Vec<OsString> = Vec::new();
        for (_, flag, v) in all {
            a.extend([flag.into(), v.into()]);
        }
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
    fn passed_to_convert_in_command_line_order() {
        let c = Cli::try_parse_from([
            "virt-v2v",
            "--run-command",
            "echo 1",
            "--hostname",
            "h",
            "--firstboot",
            "/s1",
            "--run-command",
            "echo 2",
            "--write",
            "/f:a:b",
            "--timezone",
            "UTC",
        ])
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
                "--firstboot",
                "/s1",
                "--run-command",
                "echo 2",
                "--write",
                "/f:a:b",
                "--timezone",
                "UTC",
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
    }
}
