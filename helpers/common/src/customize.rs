//! virt-customize's operations (`--hostname`, `--firstboot`,
//! `--run-command`, `--upload`, ...) as virt-v2v and helper-v2v-convert
//! both take them: one clap struct, flattened into each command line, that
//! keeps the order of the operations across options.  helper-v2v-convert
//! checks and applies them; virt-v2v passes them on ([`Operations::to_args`]).

use clap::Args;
use std::ffi::OsString;
use std::sync::atomic::{AtomicU64, Ordering};

/// An option's value and its place on the command line.  Clap keeps each
/// option's values apart; the number, taken as clap parses (in
/// command-line order), puts the operations back in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub seq: u64,
    pub value: String,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Clap value parser: the value, numbered in parse order.
pub fn placed(s: &str) -> Result<Placed, String> {
    Ok(Placed {
        seq: NEXT.fetch_add(1, Ordering::Relaxed),
        value: s.to_string(),
    })
}

/// The operations, each repeatable.
#[derive(Debug, Clone, Default, Args)]
pub struct Operations {
    /// Set the guest's hostname.
    #[arg(long = "hostname", value_name = "HOSTNAME", value_parser = placed)]
    pub hostname: Vec<Placed>,
    /// Install SCRIPT (a local file) to run once at the guest's first boot.
    #[arg(long = "firstboot", value_name = "SCRIPT", value_parser = placed)]
    pub firstboot: Vec<Placed>,
    /// Run CMD (a shell command line) once at the guest's first boot.
    #[arg(long = "firstboot-command", value_name = "CMD", value_parser = placed)]
    pub firstboot_command: Vec<Placed>,
    /// Run SCRIPT (a local file) in the guest after converting it (in the
    /// appliance, chrooted into the guest).
    #[arg(long = "run", value_name = "SCRIPT", value_parser = placed)]
    pub run: Vec<Placed>,
    /// Run CMD (a shell command line) in the guest after converting it.
    #[arg(long = "run-command", value_name = "CMD", value_parser = placed)]
    pub run_command: Vec<Placed>,
    /// Copy local FILE into the guest as DEST (into DEST when it is a
    /// directory), keeping its permission bits.
    #[arg(long = "upload", value_name = "FILE:DEST", value_parser = placed)]
    pub upload: Vec<Placed>,
    /// Create directory DIR in the guest (and its parents).
    #[arg(long = "mkdir", value_name = "DIR", value_parser = placed)]
    pub mkdir: Vec<Placed>,
    /// Write CONTENT to FILE in the guest.
    #[arg(long = "write", value_name = "FILE:CONTENT", value_parser = placed)]
    pub write: Vec<Placed>,
    /// Delete PATH in the guest (recursively; a glob).
    #[arg(long = "delete", value_name = "PATH", value_parser = placed)]
    pub delete: Vec<Placed>,
    /// Set the guest's time zone (Europe/London: a name of /usr/share/zoneinfo).
    #[arg(long = "timezone", value_name = "TIMEZONE", value_parser = placed)]
    pub timezone: Vec<Placed>,
}

impl Operations {
    /// Every operation as (option, value), in command-line order.
    pub fn in_order(&self) -> Vec<(&'static str, &str)> {
        let lists: [(&'static str, &Vec<Placed>); 10] = [
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
        let mut v: Vec<(u64, &'static str, &str)> = lists
            .iter()
            .flat_map(|(flag, l)| l.iter().map(move |p| (p.seq, *flag, p.value.as_str())))
            .collect();
        v.sort_by_key(|x| x.0);
        v.into_iter().map(|(_, f, v)| (f, v)).collect()
    }

    /// The operations as arguments, in command-line order.
    pub fn to_args(&self) -> Vec<OsString> {
        self.in_order()
            .into_iter()
            .flat_map(|(f, v)| [OsString::from(f), OsString::from(v)])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        o: Operations,
    }

    #[test]
    fn command_line_order_is_kept_across_options() {
        let argv = [
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
        ];
        let o = Cli::try_parse_from(std::iter::once("x").chain(argv))
            .unwrap()
            .o;
        assert_eq!(o.to_args(), argv.map(OsString::from));
        assert!(Operations::default().in_order().is_empty());
    }
}
