//! virt-v2v's input options, accepted by every input helper: a runner
//! passes them as the user gave them (`-if FMT -ic URI -it TRANSPORT
//! -ip FILE -io KEY=VALUE...`), and each input type uses, ignores or
//! refuses each one as virt-v2v's input module of the same name does
//! (libguestfs/virt-v2v `input/input_*.ml`): an option virt-v2v ignores
//! for a type is ignored with a warning, one it refuses is a usage error
//! (exit 2) naming it.  `-it` must be a transport virt-v2v knows (`ssh`,
//! `vddk`) whatever the type, as virt-v2v checks it before choosing one.

use helper_common::{warning, Failure, Result};
use std::path::{Path, PathBuf};

/// The input options and `--check`, flattened into every input helper's
/// command line.  The one-dash spellings (`-if`) work through
/// `helper_common::virt_v2v_args`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InputArgs {
    /// Only check the options and arguments, then exit (0, or the step's
    /// exit code): no side effect, DIR is not created, no server, no network.
    #[arg(long = "check")]
    pub check: bool,
    /// virt-v2v's -if: the input format (also -if).
    #[arg(long = "if", value_name = "FORMAT")]
    pub input_format: Option<String>,
    /// virt-v2v's -ic: the libvirt connection URI (also -ic).
    #[arg(long = "ic", value_name = "URI")]
    pub input_conn: Option<String>,
    /// virt-v2v's -it: the input transport, ssh or vddk (also -it).
    #[arg(long = "it", value_name = "TRANSPORT")]
    pub input_transport: Option<String>,
    /// virt-v2v's -ip: a file holding the password (also -ip).
    #[arg(long = "ip", value_name = "FILE")]
    pub input_password: Option<PathBuf>,
    /// virt-v2v's -io: an input option KEY=VALUE, repeatable (also -io).
    #[arg(long = "io", value_name = "KEY=VALUE")]
    pub input_options: Vec<String>,
    /// Serve every local disk, raw ones too, through qemu-nbd on a qcow2
    /// overlay offering `qemu:allocation-depth`, so what the conversion
    /// writes can be found again (the runners' overlapped copy).
    #[arg(long = "allocation-depth")]
    pub allocation_depth: bool,
}

/// One of virt-v2v's input options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    /// `-if`
    Format,
    /// `-ic`
    Conn,
    /// `-it`
    Transport,
    /// `-ip`
    Password,
    /// `-io`
    Options,
}

impl Opt {
    /// All of them, in virt-v2v's order.
    pub const ALL: [Opt; 5] = [
        Opt::Format,
        Opt::Conn,
        Opt::Transport,
        Opt::Password,
        Opt::Options,
    ];

    /// The option as virt-v2v spells it (`-if`).
    pub fn flag(self) -> &'static str {
        match self {
            Opt::Format => "-if",
            Opt::Conn => "-ic",
            Opt::Transport => "-it",
            Opt::Password => "-ip",
            Opt::Options => "-io",
        }
    }
}

/// What an input type does with each option: the ones it `uses`, the ones
/// it `refuses` (exit 2); every other one is ignored with a warning.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// The type, as in `-i TYPE` (for messages).
    pub input_type: &'static str,
    pub uses: &'static [Opt],
    pub refuses: &'static [Opt],
}

/// A transport virt-v2v knows (`-it`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ssh,
    Vddk,
}

impl InputArgs {
    /// The option `o` as given (`-io a=1`), the first one for `-io`.
    pub fn given(&self, o: Opt) -> Option<String> {
        let value = match o {
            Opt::Format => self.input_format.clone(),
            Opt::Conn => self.input_conn.clone(),
            Opt::Transport => self.input_transport.clone(),
            Opt::Password => self
                .input_password
                .as_ref()
                .map(|p| p.display().to_string()),
            Opt::Options => self.input_options.first().cloned(),
        };
        value.map(|v| format!("{} {v}", o.flag()))
    }

    /// `-it`, checked against the transports virt-v2v knows.
    pub fn transport(&self) -> Result<Option<Transport>> {
        match self.input_transport.as_deref() {
            None => Ok(None),
            Some("ssh") => Ok(Some(Transport::Ssh)),
            Some("vddk") => Ok(Some(Transport::Vddk)),
            Some(t) => Err(Failure::usage(format!(
                "-it {t}: unknown input transport (virt-v2v knows ssh and vddk)"
            ))),
        }
    }

    /// Check the options against `policy`: `-it` is a known transport and
    /// no refused option is given.  Returns the transport.
    /// Also records `--allocation-depth` for serving
    /// ([`crate::disk::set_allocation_depth`]): every step calls this first.
    pub fn validate(&self, policy: &Policy) -> Result<Option<Transport>> {
        crate::disk::set_allocation_depth(self.allocation_depth);
        let transport = self.transport()?;
        for o in policy.refuses {
            if let Some(g) = self.given(*o) {
                return Err(Failure::usage(format!(
                    "{g}: -i {} does not take {} (see helper-v2v-input-{})",
                    policy.input_type,
                    o.flag(),
                    policy.input_type
                )));
            }
        }
        Ok(transport)
    }

    /// The options given that `policy` neither uses nor refuses.
    pub fn ignored(&self, policy: &Policy) -> Vec<String> {
        Opt::ALL
            .into_iter()
            .filter(|o| !policy.uses.contains(o) && !policy.refuses.contains(o))
            .filter_map(|o| self.given(o))
            .collect()
    }

    /// Warn about every option the type ignores (as virt-v2v does).
    pub fn warn_ignored(&self, policy: &Policy) {
        for g in self.ignored(policy) {
            warning!("{g}: ignored by -i {}", policy.input_type);
        }
    }
}

/// Check that a file named by option `flag` (`-ip`, `-io ssh-identity`)
/// exists and is readable: a usage error (exit 2) naming the option if not.
pub fn check_option_file(flag: &str, path: &Path) -> Result<()> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Failure::usage(format!("{flag} {shown}: no such file"))
        } else {
            Failure::usage(format!("{flag} {shown}: {e}"))
        }
    })?;
    if meta.is_dir() {
        return Err(Failure::usage(format!(
            "{flag} {shown}: is a directory, not a file"
        )));
    }
    std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("{flag} {shown}: cannot read: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        input: InputArgs,
    }

    fn parse(args: &[&str]) -> InputArgs {
        let argv = std::iter::once("prog").chain(args.iter().copied());
        Cli::parse_from(helper_common::virt_v2v_args(argv.map(Into::into))).input
    }

    const DISK: Policy = Policy {
        input_type: "disk",
        uses: &[Opt::Format],
        refuses: &[Opt::Options],
    };

    #[test]
    fn one_dash_spellings_parse() {
        let a = parse(&[
            "-if",
            "qcow2",
            "-ic",
            "qemu:///system",
            "-it",
            "ssh",
            "-ip",
            "/pw",
            "-io",
            "a=1",
            "-io",
            "b=2",
            "--check",
        ]);
        assert!(a.check);
        assert_eq!(a.input_format.as_deref(), Some("qcow2"));
        assert_eq!(a.input_conn.as_deref(), Some("qemu:///system"));
        assert_eq!(a.transport().unwrap(), Some(Transport::Ssh));
        assert_eq!(a.input_password, Some(PathBuf::from("/pw")));
        assert_eq!(a.input_options, ["a=1", "b=2"]);
        assert_eq!(a.given(Opt::Options).as_deref(), Some("-io a=1"));
    }

    #[test]
    fn policy_refuses_ignores_and_uses() {
        let a = parse(&["-if", "raw", "-ic", "qemu:///system", "-ip", "/pw"]);
        assert_eq!(a.validate(&DISK).unwrap(), None);
        assert_eq!(a.ignored(&DISK), ["-ic qemu:///system", "-ip /pw"]);
        let e = parse(&["-io", "x=1"]).validate(&DISK).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.message.starts_with("-io x=1: -i disk does not take -io"),
            "{}",
            e.message
        );
        let e = parse(&["-it", "carrier-pigeon"])
            .validate(&DISK)
            .unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.message.contains("-it carrier-pigeon"), "{}", e.message);
        assert_eq!(
            parse(&["-it", "vddk"]).validate(&DISK).unwrap(),
            Some(Transport::Vddk)
        );
        assert!(parse(&[]).ignored(&DISK).is_empty());
    }

    #[test]
    fn option_files() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("pw");
        std::fs::write(&f, "secret\n").unwrap();
        assert!(check_option_file("-ip", &f).is_ok());
        let e = check_option_file("-ip", &t.path().join("nope")).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.message.starts_with("-ip ") && e.message.ends_with("no such file"));
        let e = check_option_file("-ip", t.path()).unwrap_err();
        assert!(e.message.contains("is a directory"), "{}", e.message);
    }
}
