//! virt-customize operations run after the conversion (`--hostname`,
//! `--firstboot`, `--run-command`, `--upload`, ...), in command-line order,
//! with virt-customize's syntax (guestfs-tools `customize-options.pod`),
//! and `--mac MAC:ip:...` static addresses for Linux guests.
//!
//! Options are parsed here ([`Options::ops`]); [`ops::apply`] applies them
//! to the mounted guest, [`firstboot`] installs the first-boot service and
//! [`network`] writes the static addresses.

pub mod firstboot;
pub mod network;
pub mod ops;

use clap::Args;
use helper_common::customize::Operations;
use helper_common::{Failure, Result};
use std::fmt;
use std::path::PathBuf;

pub use network::StaticIp;

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

/// One customisation operation.
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

impl Options {
    /// True when nothing is asked.
    pub fn is_empty(&self) -> bool {
        self.operations.in_order().is_empty() && self.mac.is_empty()
    }

    /// The operations in command-line order, checked (a usage error names
    /// the option; local files must be readable).
    pub fn ops(&self) -> Result<Vec<Op>> {
        let mut out = Vec::new();
        for (flag, v) in self.operations.in_order() {
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

    /// The `--mac MAC:ip:...` static addresses, checked (usage errors).
    pub fn static_ips(&self) -> Result<Vec<StaticIp>> {
        self.mac
            .iter()
            .map(|m| StaticIp::parse(m).map_err(Failure::usage))
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
        o: Options,
    }

    fn parse(args: &[&str]) -> Options {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap()
            .o
    }

    #[test]
    fn operations_keep_command_line_order() {
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
            o.ops().unwrap(),
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
        assert!(!o.is_empty());
        assert!(parse(&[]).is_empty());
    }

    #[test]
    fn bad_operations_are_usage_errors_naming_the_option() {
        let err = |args: &[&str]| {
            let e = parse(args).ops().unwrap_err();
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
}
