//! virt-v2v's command line.

use crate::events::EventsArgs;
use clap::Parser;
use helper_common::CommonArgs;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// virt-v2v's input options, shared by `virt-v2v` and its companions
/// (virt-v2v-inspector, virt-v2v-in-place).
#[derive(Debug, Clone, clap::Args)]
pub struct InputOpts {
    /// Input type: disk, libvirtxml, libvirt, ova, vmx, or NAME for a
    /// helper-v2v-input-NAME program.
    #[arg(short = 'i', value_name = "TYPE", default_value = "libvirt")]
    pub input: String,
    /// Input connection URI (-i libvirt).
    #[arg(long = "ic", value_name = "URI")]
    pub input_conn: Option<String>,
    /// Input transport (-i vmx: ssh).
    #[arg(long = "it", value_name = "TRANSPORT")]
    pub input_transport: Option<String>,
    /// Input option, passed to the input helper (repeatable).
    #[arg(long = "io", value_name = "OPTION")]
    pub input_options: Vec<String>,
    /// Input disk format (-i disk), e.g. raw or qcow2 (default: probed).
    #[arg(long = "if", value_name = "FORMAT")]
    pub input_format: Option<String>,
    /// Input password file (-i vmx -it ssh).
    #[arg(long = "ip", value_name = "FILE")]
    pub input_password: Option<PathBuf>,
}

/// How the source guest is opened, shared by `virt-v2v` and its
/// companions: which root, and the keys of its encrypted devices.
#[derive(Debug, Clone, clap::Args)]
pub struct GuestOpts {
    /// Root filesystem to convert when the guest has several: ask, single,
    /// first or a device (passed to helper-v2v-convert).
    #[arg(long = "root", value_name = "ROOT", value_parser = root_choice)]
    pub root: Option<String>,
    /// A key for an encrypted (LUKS) device (repeatable):
    /// DEVICE:key:KEY_STRING or DEVICE:file:FILENAME, DEVICE being a device
    /// (/dev/sda2), a LUKS UUID or all.  Given to helper-v2v-convert on its
    /// stdin, never on a command line.
    #[arg(long = "key", value_name = "SELECTOR")]
    pub keys: Vec<String>,
    /// Read keys from stdin, one per line, each tried on every encrypted
    /// device.
    #[arg(long = "keys-from-stdin")]
    pub keys_from_stdin: bool,
}

/// The network mapping and static addresses, shared by `virt-v2v` and
/// its companions.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NetworkOpts {
    /// Map source network IN to target network OUT (OUT alone: every
    /// other network); repeatable.
    #[arg(short = 'n', long = "network", value_name = "[IN:]OUT")]
    pub network: Vec<String>,
    /// Map source bridge IN to target bridge OUT (OUT alone: every other
    /// bridge); repeatable.
    #[arg(short = 'b', long = "bridge", value_name = "[IN:]OUT")]
    pub bridge: Vec<String>,
    /// Map the NIC with MAC address MAC to network or bridge OUT
    /// (MAC:network:OUT or MAC:bridge:OUT), or give it a static address
    /// in the guest (MAC:ip:ADDR[,GW[,LEN[,NS...]]]); repeatable.
    #[arg(long = "mac", value_name = "MAC:network|bridge|ip:OUT")]
    pub mac: Vec<String>,
}

impl GuestOpts {
    /// The options as given on a command line.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        if let Some(r) = &self.root {
            a.extend(["--root".into(), r.into()]);
        }
        for k in &self.keys {
            a.extend(["--key".into(), k.into()]);
        }
        if self.keys_from_stdin {
            a.push("--keys-from-stdin".into());
        }
        a
    }
}

impl InputOpts {
    /// The options as given on a command line (`-i TYPE -ic URI ...`).
    pub fn to_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["-i".into(), (&self.input).into()];
        let once = [
            ("-ic", self.input_conn.as_ref().map(OsString::from)),
            ("-it", self.input_transport.as_ref().map(OsString::from)),
            ("-if", self.input_format.as_ref().map(OsString::from)),
            ("-ip", self.input_password.as_ref().map(OsString::from)),
        ];
        for (flag, v) in once {
            if let Some(v) = v {
                a.extend([flag.into(), v]);
            }
        }
        for o in &self.input_options {
            a.extend(["-io".into(), o.into()]);
        }
        a
    }
}

/// Convert a guest to run on KVM, by running the v2v helper programs in
/// order: input, convert, output setup, copy, output final, cleanup.
#[derive(Debug, Parser)]
#[command(
    name = "virt-v2v",
    version,
    after_help = "Two-letter options (-ic -it -io -if -ip -oc -of -oa -on -oo -os) \
                  are written with one dash, as in virt-v2v.\n\
                  Input and output types are programs: -i NAME runs helper-v2v-input-NAME, \
                  -o NAME runs helper-v2v-output-NAME (found next to virt-v2v, then on PATH).\n\
                  See docs/virt-v2v.md and docs/contract.md."
)]
pub struct Args {
    /// -i, -ic, -it, -io, -if, -ip.
    #[command(flatten)]
    pub inp: InputOpts,

    /// Output type: local, null, or NAME for a helper-v2v-output-NAME program.
    #[arg(short = 'o', value_name = "TYPE", default_value = "libvirt")]
    pub output: String,
    /// Output connection URI.
    #[arg(long = "oc", value_name = "URI")]
    pub output_conn: Option<String>,
    /// Output disk format: raw or qcow2.
    #[arg(long = "of", value_name = "FORMAT")]
    pub output_format: Option<String>,
    /// Output allocation: sparse or preallocated.
    #[arg(long = "oa", value_name = "ALLOCATION")]
    pub output_alloc: Option<String>,
    /// Name of the converted guest (default: the source's name).
    #[arg(long = "on", value_name = "NAME")]
    pub output_name: Option<String>,
    /// Output option, passed to the output helper (repeatable).
    #[arg(long = "oo", value_name = "OPTION")]
    pub output_options: Vec<String>,
    /// Output storage (-o local: the directory the disks and XML go to).
    #[arg(long = "os", value_name = "STORAGE")]
    pub output_storage: Option<String>,

    /// -n, -b, --mac.
    #[command(flatten)]
    pub net: NetworkOpts,
    #[command(flatten)]
    pub customize: crate::customize::Customize,

    /// Copy the disks unchanged: do not run helper-v2v-convert.
    #[arg(long = "no-convert")]
    pub no_convert: bool,
    /// Print the source guest's metadata and stop (JSON with --machine-readable).
    #[arg(long = "print-source")]
    pub print_source: bool,
    /// --root, --key, --keys-from-stdin.
    #[command(flatten)]
    pub guest: GuestOpts,
    /// Windows guests: virtio-blk (default) or virtio-scsi (passed to
    /// helper-v2v-convert).
    #[arg(long = "block-driver", value_name = "virtio-blk|virtio-scsi")]
    pub block_driver: Option<String>,
    /// Copy at most N disks at a time (passed to helper-v2v-copy).
    #[arg(long = "parallel", value_name = "N")]
    pub parallel: Option<u32>,
    /// Limit the copy's reads of the source to BPS bits per second, all
    /// disks together (suffixes K, M, G, e.g. 100M; passed to
    /// helper-v2v-copy).
    #[arg(long = "bandwidth", value_name = "BPS", value_parser = helper_common::units::parse_bps)]
    pub bandwidth: Option<u64>,
    /// Take the limit from FILE (as --bandwidth), re-read every second
    /// while copying, so it can be changed during the run.
    #[arg(long = "bandwidth-file", value_name = "FILE")]
    pub bandwidth_file: Option<PathBuf>,
    /// Do not copy while converting: convert first, then copy (by default
    /// the copy starts with the conversion where the output allows it,
    /// and the conversion's changes are copied again after it).
    #[arg(long = "no-overlap")]
    pub no_overlap: bool,
    /// Keep the temporary directory after the run (its path is printed);
    /// after a failure, a finished conversion is kept in it for --resume.
    #[arg(long = "keep-tmpdir")]
    pub keep_tmpdir: bool,
    /// Go on with the failed run kept in DIR (by --keep-tmpdir): run again
    /// only what did not finish, never a finished conversion.  Give the
    /// run's options and arguments again (the output's may differ).
    #[arg(long = "resume", value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Before each step, run `CMD STEP DIR` with sh and start the step
    /// only once it exits 0 (an orchestrator's limit on steps across runs).
    #[arg(long = "step-gate", value_name = "CMD")]
    pub step_gate: Option<String>,

    /// Print debug messages (passed to every helper).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Trace every helper and external command (passed to every helper).
    #[arg(short = 'x')]
    pub trace: bool,
    /// Quiet: only warnings and errors.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Alone: print the capability list.  In a run: messages and `N/100`
    /// progress lines on stdout, errors on stderr (as virt-v2v documents).
    #[arg(long = "machine-readable")]
    pub machine_readable: bool,
    #[command(flatten)]
    pub events: EventsArgs,

    /// Upstream virt-v2v's other options (-m, --smp, --no-fstrim, ...).
    #[command(flatten)]
    pub upstream: Upstream,

    /// Input arguments: the disk images (-i disk), the XML file (-i
    /// libvirtxml), the guest name (-i libvirt), the OVA (-i ova) or the
    /// VMX file or ssh:// URI (-i vmx).
    #[arg(value_name = "ARG")]
    pub args: Vec<OsString>,
}

impl Args {
    /// Parse the process's arguments (turning `-os X` into `--os X` and
    /// upstream's old spellings into today's first); an upstream option
    /// this build refuses ends the process with one error line, exit 2.
    pub fn from_env() -> Self {
        let argv = helper_common::virt_v2v_args(upstream_spellings(std::env::args_os()));
        let a = Args::parse_from(argv);
        if let Some(why) = a.upstream.refused() {
            eprintln!("virt-v2v: error: not supported by this build: {why}");
            std::process::exit(2);
        }
        a
    }

    /// The flags every helper gets (`-v -x -q --machine-readable`), as
    /// the helpers' own [`CommonArgs`] (without `--owner-pid`).
    pub fn common(&self) -> CommonArgs {
        CommonArgs {
            verbose: self.verbose,
            trace: self.trace,
            quiet: self.quiet,
            machine_readable: self.machine_readable,
            ..CommonArgs::default()
        }
    }

    /// Options for `helper-v2v-input-TYPE [--check]`, in virt-v2v's
    /// spelling, which every input helper accepts: `-if -ic -it -ip`, then
    /// `-io` for each input option.
    pub fn input_options(&self) -> Vec<OsString> {
        flag_args(
            [
                ("-if", self.inp.input_format.as_deref().map(OsStr::new)),
                ("-ic", self.inp.input_conn.as_deref().map(OsStr::new)),
                ("-it", self.inp.input_transport.as_deref().map(OsStr::new)),
                (
                    "-ip",
                    self.inp.input_password.as_deref().map(Path::as_os_str),
                ),
            ],
            "-io",
            &self.inp.input_options,
        )
    }

    /// Options for `helper-v2v-output-TYPE check|setup DIR ...`, in
    /// virt-v2v's spelling, which every output helper accepts:
    /// `-os -of -oa -on -oc`, then `-oo` for each output option.
    pub fn output_options(&self) -> Vec<OsString> {
        flag_args(
            [
                ("-os", self.output_storage.as_deref().map(OsStr::new)),
                ("-of", self.output_format.as_deref().map(OsStr::new)),
                ("-oa", self.output_alloc.as_deref().map(OsStr::new)),
                ("-on", self.output_name.as_deref().map(OsStr::new)),
                ("-oc", self.output_conn.as_deref().map(OsStr::new)),
            ],
            "-oo",
            &self.output_options,
        )
    }
}

// ---- Upstream virt-v2v 2.x's other options (issue 14) ----
// docs/virt-v2v.md's "Upstream options" table lists every option of
// virt-v2v 2.x; tests/tests/cli.rs checks this parser against it.

/// Upstream's options this build refuses, as `OPTION (reason)`: one error
/// line, exit 2.
pub const REFUSED: &[(&str, &str)] = &[
    (
        "--collect",
        "collecting guest files for diagnostics is not implemented",
    ),
    (
        "--collect-output",
        "collecting guest files for diagnostics is not implemented",
    ),
    (
        "--debug-gc",
        "a check of OCaml's garbage collector; this build has no OCaml runtime",
    ),
    (
        "--echo-keys",
        "this build never prompts for a key; give keys with --key or --keys-from-stdin",
    ),
    (
        "--in-place",
        "replaced by the virt-v2v-in-place program, as in virt-v2v",
    ),
    (
        "--long-options",
        "the option lists for bash completion are not provided; see --help",
    ),
    (
        "--short-options",
        "the option lists for bash completion are not provided; see --help",
    ),
    (
        "--machine-readable=FORMAT",
        "machine-readable output goes to stdout only: use --machine-readable",
    ),
    (
        "-op",
        "no output of this build takes a password (-o openstack and -o ovirt-upload are not built)",
    ),
];

/// `OPTION (reason)` for a refused option.
pub fn refusal(option: &str) -> String {
    let (o, why) = REFUSED
        .iter()
        .find(|(o, _)| *o == option)
        .unwrap_or_else(|| panic!("{option} is not in REFUSED"));
    format!("{o} ({why})")
}

/// Upstream virt-v2v's options beyond the ones above: implemented, or
/// accepted by the parser only to be refused (hidden; see [`REFUSED`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Upstream {
    /// Memory of the conversion appliance in MB (passed to
    /// helper-v2v-convert), as in virt-v2v: the guest keeps its own.
    #[arg(short = 'm', long = "memsize", value_name = "MB")]
    pub memsize: Option<u32>,
    /// vCPUs of the conversion appliance (passed to helper-v2v-convert),
    /// as in virt-v2v: the guest keeps its own.
    #[arg(long = "smp", value_name = "N")]
    pub smp: Option<u32>,
    /// Do not trim the guest's filesystems after converting (passed to
    /// helper-v2v-convert): the copy then copies their free space too.
    #[arg(long = "no-fstrim")]
    pub no_fstrim: bool,
    /// Colour virt-v2v's own messages, warnings and errors with ANSI
    /// sequences even when stderr is not a terminal.
    #[arg(long = "colours", visible_aliases = ["colors", "colour", "color"])]
    pub colours: bool,
    /// Wrap virt-v2v's own warnings and errors at 76 columns even when
    /// stderr is not a terminal.
    #[arg(long = "wrap")]
    pub wrap: bool,
    /// virt-v2v 2.0-2.6's --no-trim: removed there, ignored with a warning.
    #[arg(long = "no-trim", value_name = "ARG", hide = true)]
    pub no_trim: Option<String>,
    /// virt-v2v 2.0-2.6's --vmtype: removed there, ignored with a warning.
    #[arg(long = "vmtype", value_name = "ARG", hide = true)]
    pub vmtype: Option<String>,

    // Refused (REFUSED says why).
    #[arg(long = "collect", value_name = "GUEST[:LOCAL]", hide = true)]
    collect: Vec<String>,
    #[arg(long = "collect-output", value_name = "FILE", hide = true)]
    collect_output: Option<String>,
    #[arg(long = "debug-gc", hide = true)]
    debug_gc: bool,
    #[arg(long = "echo-keys", hide = true)]
    echo_keys: bool,
    #[arg(long = "in-place", hide = true)]
    in_place: bool,
    #[arg(long = "long-options", hide = true)]
    long_options: bool,
    #[arg(long = "short-options", hide = true)]
    short_options: bool,
    #[arg(long = "op", value_name = "FILE", hide = true)]
    output_password: Option<String>,
}

impl Upstream {
    /// The first refused option given, as `OPTION (reason)`.
    pub fn refused(&self) -> Option<String> {
        [
            ("--collect", !self.collect.is_empty()),
            ("--collect-output", self.collect_output.is_some()),
            ("--debug-gc", self.debug_gc),
            ("--echo-keys", self.echo_keys),
            ("--in-place", self.in_place),
            ("--long-options", self.long_options),
            ("--short-options", self.short_options),
            ("-op", self.output_password.is_some()),
        ]
        .into_iter()
        .find(|(_, given)| *given)
        .map(|(o, _)| refusal(o))
    }

    /// The warnings for upstream's removed no-op options.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.no_trim.is_some() {
            w.push("the --no-trim option has been removed and now does nothing".into());
        }
        if self.vmtype.is_some() {
            w.push("the --vmtype option has been removed and now does nothing".into());
        }
        w
    }

    /// `--memsize MB --smp N --no-fstrim` for helper-v2v-convert (those given).
    pub fn convert_options(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        if let Some(m) = self.memsize {
            a.extend(["--memsize".into(), m.to_string().into()]);
        }
        if let Some(n) = self.smp {
            a.extend(["--smp".into(), n.to_string().into()]);
        }
        if self.no_fstrim {
            a.push("--no-fstrim".into());
        }
        a
    }
}

/// virt-v2v 2.0-2.6's spellings of input and output options (upstream's
/// `set_input_option_compat`/`set_output_option_compat`), as today's.
const INPUT_COMPAT: &[&str] = &[
    "vddk-config",
    "vddk-cookie",
    "vddk-libdir",
    "vddk-nfchostport",
    "vddk-port",
    "vddk-snapshot",
    "vddk-thumbprint",
    "vddk-transports",
];
const OUTPUT_COMPAT: &[&str] = &[
    "vdsm-compat",
    "vdsm-image-uuid",
    "vdsm-vol-uuid",
    "vdsm-vm-uuid",
    "vdsm-ovf-output",
    "vdsm-ovf-flavour",
];

/// Upstream's other spellings, rewritten before parsing (up to `--`):
/// `--compressed` and `--qemu-boot` are `-oo compressed`/`-oo qemu-boot`,
/// `--password-file F` is `-ip F`, `--vddk-K V` is `-io vddk-K=V`,
/// `--vdsm-K V` is `-oo vdsm-K=V`, `-op F` is `--op F`.  A
/// `--machine-readable=FORMAT` ends the process (refused).
pub fn upstream_spellings<I: IntoIterator<Item = OsString>>(args: I) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let Some(s) = a.to_str().map(str::to_owned) else {
            out.push(a);
            continue;
        };
        if s == "--" {
            out.push(a);
            out.extend(it.by_ref());
            break;
        }
        if s.starts_with("--machine-readable=") {
            eprintln!(
                "virt-v2v: error: not supported by this build: {}",
                refusal("--machine-readable=FORMAT")
            );
            std::process::exit(2);
        }
        let (name, inline) = match s.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(OsString::from(v))),
            None => (s.clone(), None),
        };
        let mut value = |inline: Option<OsString>| inline.or_else(|| it.next());
        match name.as_str() {
            "--compressed" | "--qemu-boot" if inline.is_none() => {
                out.extend(["--oo".into(), name[2..].into()]);
            }
            "--password-file" => match value(inline) {
                Some(v) => out.extend(["--ip".into(), v]),
                None => out.push(a),
            },
            "-op" => {
                out.push("--op".into());
                out.extend(inline);
            }
            n if n.starts_with("--")
                && (INPUT_COMPAT.contains(&&n[2..]) || OUTPUT_COMPAT.contains(&&n[2..])) =>
            {
                let flag = if INPUT_COMPAT.contains(&&n[2..]) {
                    "--io"
                } else {
                    "--oo"
                };
                match value(inline) {
                    Some(v) => {
                        let mut kv = OsString::from(format!("{}=", &n[2..]));
                        kv.push(v);
                        out.extend([flag.into(), kv]);
                    }
                    None => out.push(a),
                }
            }
            _ => out.push(a),
        }
    }
    out
}

/// `--root`'s value, as virt-v2v takes it: ask, single, first or a device
/// (`/dev/...`).
fn root_choice(s: &str) -> Result<String, String> {
    match s {
        "ask" | "single" | "first" => Ok(s.into()),
        d if d.starts_with("/dev/") => Ok(s.into()),
        _ => Err("expected ask, single, first or a device such as /dev/sda2".into()),
    }
}

/// `FLAG VALUE` for each value given, in order, then `REPEATED VALUE` for
/// each of `values`.
fn flag_args<'a>(
    once: impl IntoIterator<Item = (&'a str, Option<&'a OsStr>)>,
    repeated: &str,
    values: &[String],
) -> Vec<OsString> {
    let once = once
        .into_iter()
        .filter_map(|(flag, val)| val.map(|v| (flag, v)));
    let repeated = values.iter().map(|v| (repeated, OsStr::new(v)));
    once.chain(repeated)
        .flat_map(|(flag, val)| [OsString::from(flag), val.to_owned()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        let argv = std::iter::once("virt-v2v")
            .chain(args.iter().copied())
            .map(OsString::from);
        Args::try_parse_from(helper_common::virt_v2v_args(argv)).unwrap()
    }

    #[test]
    fn two_letter_options() {
        let a = parse(&[
            "-i", "disk", "-if", "qcow2", "/a.img", "-o", "local", "-os", "/out", "-of", "raw",
            "-oa", "sparse", "-on", "new", "-oo", "x=1", "-oo", "y=2",
        ]);
        assert_eq!(a.inp.input, "disk");
        assert_eq!(a.args, vec![OsString::from("/a.img")]);
        assert_eq!(a.output, "local");
        assert_eq!(a.output_storage.as_deref(), Some("/out"));
        assert_eq!(
            a.output_options(),
            [
                "-os", "/out", "-of", "raw", "-oa", "sparse", "-on", "new", "-oo", "x=1", "-oo",
                "y=2"
            ]
            .map(OsString::from)
            .to_vec()
        );
        assert_eq!(
            a.input_options(),
            ["-if", "qcow2"].map(OsString::from).to_vec()
        );
    }

    #[test]
    fn every_input_gets_virt_v2v_spelling() {
        let a = parse(&[
            "-i",
            "vmx",
            "-it",
            "ssh",
            "-ip",
            "/pw",
            "ssh://h/g.vmx",
            "-o",
            "null",
        ]);
        assert_eq!(
            a.input_options(),
            ["-it", "ssh", "-ip", "/pw"].map(OsString::from).to_vec()
        );
        let a = parse(&[
            "-i",
            "libvirt",
            "-io",
            "a=1",
            "-ic",
            "qemu:///system",
            "-if",
            "raw",
            "-io",
            "b=2",
            "guest",
        ]);
        assert_eq!(
            a.input_options(),
            [
                "-if",
                "raw",
                "-ic",
                "qemu:///system",
                "-io",
                "a=1",
                "-io",
                "b=2"
            ]
            .map(OsString::from)
            .to_vec()
        );
        assert_eq!(a.output, "libvirt");
        assert!(a.output_options().is_empty());
    }

    /// Every option is documented in docs/virt-v2v.md.
    #[test]
    fn every_option_is_documented() {
        use clap::CommandFactory;
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/virt-v2v.md"))
                .unwrap();
        for a in Args::command().get_arguments() {
            let name = match (a.get_long(), a.get_short()) {
                (Some(l), _) if helper_common::TWO_LETTER_OPTIONS.contains(&l) => format!("`-{l} "),
                (Some("op"), _) => "`-op`".into(),
                (Some(l), _) => format!("`--{l}"),
                (None, Some(s)) => format!("`-{s}"),
                (None, None) => continue,
            };
            assert!(
                doc.contains(&name),
                "{name}` is not documented in docs/virt-v2v.md"
            );
        }
    }

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn old_spellings_become_todays() {
        let got = upstream_spellings(os(&[
            "virt-v2v",
            "--compressed",
            "--password-file=/pw",
            "--vddk-thumbprint",
            "aa:bb",
            "--vdsm-compat=1.1",
            "-op",
            "/p",
            "--qemu-boot",
            "--",
            "--compressed",
        ]));
        assert_eq!(
            got,
            os(&[
                "virt-v2v",
                "--oo",
                "compressed",
                "--ip",
                "/pw",
                "--io",
                "vddk-thumbprint=aa:bb",
                "--oo",
                "vdsm-compat=1.1",
                "--op",
                "/p",
                "--oo",
                "qemu-boot",
                "--",
                "--compressed",
            ])
        );
        let argv = helper_common::virt_v2v_args(upstream_spellings(os(&[
            "virt-v2v",
            "--vdsm-vm-uuid",
            "U",
            "-oo",
            "x",
            "--compressed",
            "a.img",
        ])));
        let a = Args::try_parse_from(argv).unwrap();
        assert_eq!(a.output_options, ["vdsm-vm-uuid=U", "x", "compressed"]);
    }

    #[test]
    fn upstream_options() {
        let a = parse(&[
            "-m",
            "2048",
            "--smp",
            "3",
            "--no-fstrim",
            "--colors",
            "--wrap",
            "a",
        ]);
        assert_eq!(
            a.upstream.convert_options(),
            os(&["--memsize", "2048", "--smp", "3", "--no-fstrim"])
        );
        assert!(a.upstream.colours && a.upstream.wrap);
        assert!(a.upstream.refused().is_none() && a.upstream.warnings().is_empty());
        assert!(parse(&["a"]).upstream.convert_options().is_empty());
        let a = parse(&["--no-trim", "all", "--vmtype", "server", "a"]);
        assert_eq!(a.upstream.warnings().len(), 2);
        let a = parse(&["--collect", "g", "--op", "/pw", "a"]);
        assert_eq!(
            a.upstream.refused().unwrap(),
            "--collect (collecting guest files for diagnostics is not implemented)"
        );
        for root in ["ask", "single", "first", "/dev/sda2", "/dev/VG/LV"] {
            assert_eq!(
                parse(&["--root", root, "a"]).guest.root.as_deref(),
                Some(root)
            );
        }
        for bad in ["", "second", "sda2"] {
            let argv = os(&["virt-v2v", "--root", bad, "a"]);
            assert!(Args::try_parse_from(argv).is_err(), "--root {bad:?}");
        }
    }

    #[test]
    fn common_flags() {
        use helper_common::log::Level;
        let a = parse(&["-v", "-x", "--machine-readable", "-i", "disk", "a"]);
        assert_eq!(a.common().to_args(), ["-v", "-x", "--machine-readable"]);
        assert_eq!(a.common().stderr_level(), Level::Trace);
        let q = parse(&["-q", "a"]);
        assert_eq!(q.common().to_args(), ["-q"]);
        assert_eq!(q.common().stderr_level(), Level::Warning);
        assert_eq!(parse(&["a"]).common().stderr_level(), Level::Message);
    }
}
