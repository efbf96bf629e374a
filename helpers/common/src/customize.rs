//! virt-customize's operations (`--hostname`, `--firstboot`,
//! `--run-command`, `--upload`, ...) as virt-v2v and helper-v2v-convert
//! both take them: one clap struct, flattened into each command line, that
//! keeps the order of the operations across options, and their checks
//! ([`Operations::checked`], [`StaticIp::parse`] for `--mac MAC:ip:...`),
//! with virt-customize's syntax (guestfs-tools `customize-options.pod`).
//! Both runners check them before any work starts (a usage error naming
//! the option); helper-v2v-convert checks them again and applies them;
//! virt-v2v passes them on ([`Operations::to_args`]).

use crate::{Failure, Result};
use clap::Args;
use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
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
pub fn placed(s: &str) -> std::result::Result<Placed, String> {
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

/// One customisation operation, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Hostname(String),
    Firstboot(PathBuf),
    FirstbootCommand(String),
    Run(PathBuf),
    RunCommand(String),
    Upload { file: PathBuf, dest: String },
    Mkdir(String),
    Write { file: String, content: String },
    Delete(String),
    Timezone(String),
}

impl fmt::Display for Op {
    /// The operation as given (`--upload FILE:DEST`), for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Hostname(h) => write!(f, "--hostname {h}"),
            Op::Firstboot(p) => write!(f, "--firstboot {}", p.display()),
            Op::FirstbootCommand(c) => write!(f, "--firstboot-command '{c}'"),
            Op::Run(p) => write!(f, "--run {}", p.display()),
            Op::RunCommand(c) => write!(f, "--run-command '{c}'"),
            Op::Upload { file, dest } => write!(f, "--upload {}:{dest}", file.display()),
            Op::Mkdir(d) => write!(f, "--mkdir {d}"),
            Op::Write { file, content } => {
                let short: String = content.chars().take(40).collect();
                let more = if short.len() < content.len() {
                    "..."
                } else {
                    ""
                };
                write!(f, "--write {file}:{short}{more}")
            }
            Op::Delete(p) => write!(f, "--delete {p}"),
            Op::Timezone(t) => write!(f, "--timezone {t}"),
        }
    }
}

/// Split `A:B` at the first colon not escaped with a backslash; `\:` in A
/// stands for a colon (virt-customize's rule for `--upload`, `--write`).
pub fn split_pair(s: &str) -> Option<(String, String)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if b.get(i + 1) == Some(&b':') => i += 2,
            b':' => return Some((s[..i].replace("\\:", ":"), s[i + 1..].to_string())),
            _ => i += 1,
        }
    }
    None
}

fn guest_path(flag: &str, p: &str) -> Result<String> {
    if !p.starts_with('/') {
        return Err(Failure::usage(format!(
            "{flag} {p}: the path in the guest must be absolute"
        )));
    }
    Ok(p.to_string())
}

impl Operations {
    /// The operations in command-line order, checked (a usage error names
    /// the option; local files must be readable).  No side effect.
    pub fn checked(&self) -> Result<Vec<Op>> {
        let mut out = Vec::new();
        for (flag, v) in self.in_order() {
            let local = |p: &str| -> Result<PathBuf> {
                let path = PathBuf::from(p);
                std::fs::File::open(&path)
                    .map_err(|e| Failure::usage(format!("{flag} {p}: cannot read: {e}")))?;
                Ok(path)
            };
            let pair = || {
                split_pair(v).ok_or_else(|| {
                    Failure::usage(format!(
                        "{flag} {v}: expected {}",
                        if flag == "--upload" {
                            "FILE:DEST"
                        } else {
                            "FILE:CONTENT"
                        }
                    ))
                })
            };
            out.push(match flag {
                "--hostname" => {
                    let ok = !v.is_empty()
                        && v.len() <= 253
                        && v.split('.').all(|l| {
                            !l.is_empty()
                                && l.len() <= 63
                                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        });
                    if !ok {
                        return Err(Failure::usage(format!(
                            "--hostname {v}: not a valid hostname (letters, digits, '-', dot-separated)"
                        )));
                    }
                    Op::Hostname(v.to_string())
                }
                "--firstboot" => Op::Firstboot(local(v)?),
                "--firstboot-command" => Op::FirstbootCommand(v.to_string()),
                "--run" => Op::Run(local(v)?),
                "--run-command" => Op::RunCommand(v.to_string()),
                "--upload" => {
                    let (file, dest) = pair()?;
                    Op::Upload {
                        file: local(&file)?,
                        dest: guest_path(flag, &dest)?,
                    }
                }
                "--mkdir" => Op::Mkdir(guest_path(flag, v)?),
                "--write" => {
                    let (file, content) = pair()?;
                    Op::Write {
                        file: guest_path(flag, &file)?,
                        content,
                    }
                }
                "--delete" => Op::Delete(guest_path(flag, v)?),
                "--timezone" => {
                    let ok = !v.is_empty()
                        && !v.starts_with('/')
                        && v.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
                    if !ok {
                        return Err(Failure::usage(format!(
                            "--timezone {v}: not a time zone name (such as Europe/London)"
                        )));
                    }
                    Op::Timezone(v.to_string())
                }
                _ => unreachable!("every flag of Operations::in_order is handled"),
            });
        }
        Ok(out)
    }
}

/// `MAC:ip:...` (a static address for helper-v2v-convert to write), not a
/// network mapping (`MAC:network:OUT`, `MAC:bridge:OUT`).
pub fn is_static_ip(mac: &str) -> bool {
    mac.get(17..).is_some_and(|r| r.starts_with(":ip:"))
}

/// One `--mac MAC:ip:...` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticIp {
    /// Lower case, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    pub addr: IpAddr,
    pub gateway: Option<IpAddr>,
    /// The prefix length; when not given, 24 (IPv4) or 64 (IPv6).
    pub prefix: u8,
    pub nameservers: Vec<IpAddr>,
}

impl StaticIp {
    /// Parse virt-v2v's `MAC:ip:ADDR[,GW[,LEN[,NS,NS...]]]` (empty GW or
    /// LEN fields allowed, as upstream).
    pub fn parse(arg: &str) -> std::result::Result<StaticIp, String> {
        let bad = |why: &str| format!("cannot parse --mac \"{arg}\" parameter: {why}");
        let mac = arg.get(..17).ok_or_else(|| bad("no MAC address"))?;
        let mac_ok = mac.split(':').count() == 6
            && mac
                .split(':')
                .all(|o| o.len() == 2 && o.bytes().all(|b| b.is_ascii_hexdigit()));
        if !mac_ok {
            return Err(bad("not a MAC address (aa:bb:cc:dd:ee:ff)"));
        }
        let rest = arg[17..]
            .strip_prefix(":ip:")
            .ok_or_else(|| bad("expected MAC:ip:ADDR[,GW[,LEN[,NS...]]]"))?;
        let mut fields = rest.split(',');
        let ip = |what: &str, s: &str| {
            s.parse::<IpAddr>()
                .map_err(|_| format!("cannot parse --mac ip {what}: \"{s}\" is not an IP address"))
        };
        let addr = ip("ipaddr", fields.next().unwrap_or(""))?;
        let gateway = match fields.next().unwrap_or("") {
            "" => None,
            g => Some(ip("gw", g)?),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match fields.next().unwrap_or("") {
            "" => {
                if addr.is_ipv4() {
                    24
                } else {
                    64
                }
            }
            l => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => {
                    return Err(format!(
                        "--mac ip prefix length field is not an integer from 0 to {max}: {l}"
                    ))
                }
            },
        };
        let nameservers = fields
            .map(|n| ip("nameserver", n))
            .collect::<std::result::Result<_, _>>()?;
        Ok(StaticIp {
            mac: mac.to_ascii_lowercase(),
            addr,
            gateway,
            prefix,
            nameservers,
        })
    }
}

/// Each `--mac MAC:ip:...` of `macs` parsed (a usage error names the
/// first bad one).
pub fn static_ips<'a>(macs: impl IntoIterator<Item = &'a str>) -> Result<Vec<StaticIp>> {
    macs.into_iter()
        .map(|m| StaticIp::parse(m).map_err(Failure::usage))
        .collect()
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

    fn parse(args: &[&str]) -> Operations {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap()
            .o
    }

    #[test]
    fn operations_are_checked_in_command_line_order() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("s1.sh");
        std::fs::write(&f, "echo hi\n").unwrap();
        let fs = f.to_str().unwrap();
        let o = parse(&[
            "--run-command",
            "echo 1",
            "--hostname",
            "new-name.example",
            "--firstboot",
            fs,
            "--run-command",
            "echo 2",
            "--upload",
            &format!("{fs}:/root/"),
            "--write",
            "/etc/motd:a:b c",
            "--mkdir",
            "/srv/x",
            "--delete",
            "/var/log/*.log",
            "--timezone",
            "Europe/London",
            "--firstboot-command",
            "touch /x",
        ]);
        assert_eq!(
            o.checked().unwrap(),
            vec![
                Op::RunCommand("echo 1".into()),
                Op::Hostname("new-name.example".into()),
                Op::Firstboot(f.clone()),
                Op::RunCommand("echo 2".into()),
                Op::Upload {
                    file: f.clone(),
                    dest: "/root/".into()
                },
                Op::Write {
                    file: "/etc/motd".into(),
                    content: "a:b c".into()
                },
                Op::Mkdir("/srv/x".into()),
                Op::Delete("/var/log/*.log".into()),
                Op::Timezone("Europe/London".into()),
                Op::FirstbootCommand("touch /x".into()),
            ]
        );
    }

    #[test]
    fn bad_operations_are_usage_errors_naming_the_option() {
        let err = |args: &[&str]| {
            let e = parse(args).checked().unwrap_err();
            assert_eq!(e.code, v2v_meta::exit_code::USAGE, "{e}");
            e.message
        };
        assert_eq!(
            err(&["--hostname", "bad_name"]),
            "--hostname bad_name: not a valid hostname (letters, digits, '-', dot-separated)"
        );
        assert!(err(&["--firstboot", "/nonexistent/s"])
            .starts_with("--firstboot /nonexistent/s: cannot read"));
        assert_eq!(
            err(&["--write", "/etc/x"]),
            "--write /etc/x: expected FILE:CONTENT"
        );
        assert_eq!(
            err(&["--mkdir", "relative"]),
            "--mkdir relative: the path in the guest must be absolute"
        );
        assert_eq!(
            err(&["--timezone", "../../etc/passwd"]),
            "--timezone ../../etc/passwd: not a time zone name (such as Europe/London)"
        );
    }

    #[test]
    fn pairs_split_at_the_first_unescaped_colon() {
        assert_eq!(split_pair("a:b:c"), Some(("a".into(), "b:c".into())));
        assert_eq!(split_pair("a\\:b:c"), Some(("a:b".into(), "c".into())));
        assert_eq!(split_pair("abc"), None);
        let w = Op::Write {
            file: "/f".into(),
            content: "x".repeat(50),
        };
        assert_eq!(w.to_string(), format!("--write /f:{}...", "x".repeat(40)));
    }

    #[test]
    fn static_ips_in_upstream_syntax() {
        let ip =
            StaticIp::parse("52:54:00:AB:cd:01:ip:10.0.2.77,10.0.2.2,24,1.1.1.1,9.9.9.9").unwrap();
        assert_eq!(ip.mac, "52:54:00:ab:cd:01");
        assert_eq!(ip.addr.to_string(), "10.0.2.77");
        assert_eq!(ip.gateway.unwrap().to_string(), "10.0.2.2");
        assert_eq!(ip.prefix, 24);
        assert_eq!(ip.nameservers.len(), 2);
        let ip = StaticIp::parse("52:54:00:ab:cd:01:ip:10.0.2.77").unwrap();
        assert_eq!((ip.gateway, ip.prefix), (None, 24));
        let ip = StaticIp::parse("52:54:00:ab:cd:01:ip:fd00::5,,").unwrap();
        assert_eq!((ip.gateway, ip.prefix), (None, 64));
        assert!(StaticIp::parse("52:54:00:ab:cd:01:ip:10.0.2.400")
            .unwrap_err()
            .contains("\"10.0.2.400\" is not an IP address"));
        assert!(StaticIp::parse("52:54:00:ab:cd:01:ip:10.0.2.4,,33")
            .unwrap_err()
            .contains("from 0 to 32: 33"));
        assert!(StaticIp::parse("52:54:00:ab:cd:01:network:default")
            .unwrap_err()
            .contains("expected MAC:ip:"));
        assert!(StaticIp::parse("zz:54:00:ab:cd:01:ip:10.0.0.1").is_err());
        assert!(is_static_ip("52:54:00:ab:cd:01:ip:10.0.0.1"));
        assert!(!is_static_ip("52:54:00:ab:cd:01:network:default"));
        let e = static_ips(["52:54:00:ab:cd:01:ip:notanip"]).unwrap_err();
        assert_eq!(e.code, v2v_meta::exit_code::USAGE);
        assert_eq!(
            e.message,
            "cannot parse --mac ip ipaddr: \"notanip\" is not an IP address"
        );
    }
}
