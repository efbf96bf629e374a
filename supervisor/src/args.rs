//! virt-v2v's command line.

use clap::Parser;
use helper_common::CommonArgs;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

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

    /// Map source network IN to target network OUT (OUT alone: every
    /// other network); repeatable.
    #[arg(short = 'n', long = "network", value_name = "[IN:]OUT")]
    pub network: Vec<String>,
    /// Map source bridge IN to target bridge OUT (OUT alone: every other
    /// bridge); repeatable.
    #[arg(short = 'b', long = "bridge", value_name = "[IN:]OUT")]
    pub bridge: Vec<String>,
    /// Map the NIC with MAC address MAC to network or bridge OUT
    /// (MAC:network:OUT or MAC:bridge:OUT); repeatable.
    #[arg(long = "mac", value_name = "MAC:network|bridge:OUT")]
    pub mac: Vec<String>,

    /// Copy the disks unchanged: do not run helper-v2v-convert.
    #[arg(long = "no-convert")]
    pub no_convert: bool,
    /// Print the source guest's metadata and stop (JSON with --machine-readable).
    #[arg(long = "print-source")]
    pub print_source: bool,
    /// Root filesystem to convert when the guest has several: ask, single,
    /// first or a device (passed to helper-v2v-convert).
    #[arg(long = "root", value_name = "ROOT")]
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
    /// Windows guests: virtio-blk (default) or virtio-scsi (passed to
    /// helper-v2v-convert).
    #[arg(long = "block-driver", value_name = "virtio-blk|virtio-scsi")]
    pub block_driver: Option<String>,
    /// Copy at most N disks at a time (passed to helper-v2v-copy).
    #[arg(long = "parallel", value_name = "N")]
    pub parallel: Option<u32>,
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
    /// Alone: print the capability list.  In a run: print one JSON event
    /// per line on stdout.
    #[arg(long = "machine-readable")]
    pub machine_readable: bool,

    /// Input arguments: the disk images (-i disk), the XML file (-i
    /// libvirtxml), the guest name (-i libvirt), the OVA (-i ova) or the
    /// VMX file or ssh:// URI (-i vmx).
    #[arg(value_name = "ARG")]
    pub args: Vec<OsString>,
}

impl Args {
    /// Parse the process's arguments (turning `-os X` into `--os X` first).
    pub fn from_env() -> Self {
        Args::parse_from(helper_common::virt_v2v_args(std::env::args_os()))
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
                ("-if", self.input_format.as_deref().map(OsStr::new)),
                ("-ic", self.input_conn.as_deref().map(OsStr::new)),
                ("-it", self.input_transport.as_deref().map(OsStr::new)),
                ("-ip", self.input_password.as_deref().map(Path::as_os_str)),
            ],
            "-io",
            &self.input_options,
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
        assert_eq!(a.input, "disk");
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
