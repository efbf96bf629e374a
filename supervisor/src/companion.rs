//! What `virt-v2v-inspector` and `virt-v2v-in-place` share: virt-v2v's
//! input options and the options upstream's companions take besides
//! (`-n`, `-b`, `--mac`, the virt-customize operations, `-m`, `--smp`,
//! `--no-fstrim`, `--colours`, `--machine-readable`...), parsed and checked
//! by virt-v2v's own code, and a run of the input helper then
//! `helper-v2v-convert` (no output, no copy), with `helper-v2v-cleanup`
//! whatever happens.  The steps are run by the same [`Runner`] as
//! virt-v2v's, so a failed step is reported, and signals are handled,
//! exactly as there.

use crate::args::{Args, GuestOpts, InputOpts, NetworkOpts, Upstream};
use crate::customize::{self, Customize};
use crate::{find, keys, need, prune_to_logs, signals, valid_type, Runner, Stop};
use clap::Parser;
use helper_common::log::{self, Level};
use helper_common::{message, warning, CommonArgs};
use std::ffi::OsString;
use std::fs;
use std::io::IsTerminal;
use std::path::PathBuf;
use v2v_meta::{exit_code, MetadataIn, NetworkKind, Source, Step, V2vDir};
use v2v_render::NetworkMap;

/// virt-v2v's input options, `--root`, `--key`, `--keys-from-stdin`,
/// `-n`, `-b`, `--mac`, the customisation operations, upstream's other
/// common options and `-v -x -q`, as virt-v2v spells them (`-if raw`).
#[derive(Debug, Clone, clap::Args)]
pub struct InputCli {
    /// -i, -ic, -it, -io, -if, -ip, as virt-v2v's.
    #[command(flatten)]
    pub inp: InputOpts,
    /// --root, --key, --keys-from-stdin, as virt-v2v's.
    #[command(flatten)]
    pub guest: GuestOpts,
    /// -n/--network, -b/--bridge, --mac, as virt-v2v's.
    #[command(flatten)]
    pub net: NetworkOpts,
    /// The virt-customize operations, as virt-v2v's.
    #[command(flatten)]
    pub customize: Customize,
    /// -m/--memsize, --smp, --no-fstrim, --colours, --wrap and the options
    /// virt-v2v refuses, as virt-v2v's.
    #[command(flatten)]
    pub upstream: Upstream,
    /// virt-v2v's --bandwidth and --bandwidth-file, taken as upstream's
    /// parser takes them and refused: these programs copy no disk.
    #[arg(long = "bandwidth", value_name = "BPS", hide = true)]
    bandwidth: Option<String>,
    #[arg(long = "bandwidth-file", value_name = "FILE", hide = true)]
    bandwidth_file: Option<String>,
    /// Alone: print the capability list.  In a run: messages on stdout,
    /// as virt-v2v's.
    #[arg(long = "machine-readable")]
    pub machine_readable: bool,
    /// Print debug messages (passed to every helper).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Trace every helper and external command (passed to every helper).
    #[arg(short = 'x')]
    pub trace: bool,
    /// Quiet: only warnings and errors.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Input arguments: the disk images (-i disk), the XML file (-i
    /// libvirtxml), the guest name (-i libvirt), the OVA (-i ova) or the
    /// VMX file (-i vmx).
    #[arg(value_name = "ARG")]
    pub args: Vec<OsString>,
}

impl InputCli {
    /// `--bandwidth` or `--bandwidth-file` given, as `OPTION (reason)`.
    fn copy_option(&self, program: &str) -> Option<String> {
        let given = if self.bandwidth.is_some() {
            "--bandwidth"
        } else if self.bandwidth_file.is_some() {
            "--bandwidth-file"
        } else {
            return None;
        };
        Some(format!("{given} ({program} copies no disk)"))
    }

    /// The same options as virt-v2v's [`Args`] (no output options), so
    /// that virt-v2v's own code builds the helpers' command lines.
    pub fn v2v_args(&self) -> Args {
        let mut a: Vec<OsString> = vec!["virt-v2v".into()];
        a.extend(self.inp.to_args());
        a.extend(self.guest.to_args());
        let flags = [
            (self.verbose, "-v"),
            (self.trace, "-x"),
            (self.quiet, "-q"),
            (self.machine_readable, "--machine-readable"),
        ];
        a.extend(flags.iter().filter(|f| f.0).map(|f| OsString::from(f.1)));
        a.push("--".into());
        a.extend(self.args.iter().cloned());
        let mut args = Args::parse_from(helper_common::virt_v2v_args(a));
        args.net = self.net.clone();
        args.customize = self.customize.clone();
        args.upstream = self.upstream.clone();
        args
    }

    fn common(&self) -> CommonArgs {
        CommonArgs {
            verbose: self.verbose,
            trace: self.trace,
            quiet: self.quiet,
            ..CommonArgs::default()
        }
    }
}

/// One companion run: which program, what the input helper and the
/// convert helper get besides virt-v2v's options.
pub struct Companion<'a> {
    /// `virt-v2v-inspector`, `virt-v2v-in-place` (messages, the log).
    pub program: &'static str,
    pub cli: &'a InputCli,
    /// Input types this program takes (`None`: any).
    pub input_types: Option<&'static [&'static str]>,
    /// Given to the input helper (and its check) first (`--in-place`).
    pub input_extra: Vec<OsString>,
    /// Given to helper-v2v-convert before DIR (`--inspect-only`,
    /// `--block-driver X`).
    pub convert_extra: Vec<OsString>,
    /// Whether the customisation operations and `--mac MAC:ip:` go to
    /// helper-v2v-convert (false: checked only; nothing is converted).
    pub changes_guest: bool,
    /// `--print-source`: print the source after the input step and stop.
    pub print_source: bool,
}

/// The helper programs of a companion run and the network mapping, found
/// and checked before anything starts.
struct Plan {
    input: PathBuf,
    convert: PathBuf,
    cleanup: PathBuf,
    network: NetworkMap,
}

/// Parse `program`'s command line (`-if` as `--if`) as virt-v2v parses
/// its own: `--machine-readable` alone prints the capability list
/// (upstream's `features`, then ours), an option virt-v2v refuses is one
/// error line (`Err`: the exit code).  Sets up the logger from `-v -x -q`,
/// `--colours`, `--wrap`, `--machine-readable`.
pub fn parse<P: Parser>(
    program: &'static str,
    features: &[&str],
    input_types: Option<&[&str]>,
    cli: fn(&P) -> &InputCli,
) -> Result<P, u8> {
    let raw: Vec<OsString> = std::env::args_os().collect();
    if raw.len() == 2 && raw[1] == "--machine-readable" {
        for c in capabilities(program, features, input_types, &find::search_dirs()) {
            println!("{c}");
        }
        return Err(0);
    }
    let until_end = raw.iter().skip(1).take_while(|a| *a != "--");
    if until_end.into_iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a.starts_with("--machine-readable="))
    }) {
        let why = crate::args::refusal("--machine-readable=FORMAT");
        eprintln!("{program}: error: not supported by this build: {why}");
        return Err(exit_code::USAGE);
    }
    let p = P::parse_from(helper_common::virt_v2v_args(raw));
    let c = cli(&p);
    if let Some(why) = c.upstream.refused().or_else(|| c.copy_option(program)) {
        eprintln!("{program}: error: not supported by this build: {why}");
        return Err(exit_code::USAGE);
    }
    init_log(program, c);
    for w in c.upstream.warnings() {
        warning!("{w}");
    }
    Ok(p)
}

/// `program`'s capability list: its name and `features` (upstream's
/// words), ours (`v2v-helpers`, the contract), then the input types
/// installed that it takes and `convert:linux|windows` when the convert
/// helper is.
pub fn capabilities(
    program: &str,
    features: &[&str],
    input_types: Option<&[&str]>,
    dirs: &[PathBuf],
) -> Vec<String> {
    let mut v: Vec<String> = std::iter::once(program)
        .chain(features.iter().copied())
        .map(String::from)
        .collect();
    v.push("v2v-helpers".into());
    v.push(format!("contract:{}", v2v_meta::CONTRACT_VERSION));
    let takes = |t: &String| input_types.is_none_or(|ts| ts.contains(&t.as_str()));
    v.extend(
        find::types_in(dirs, "input")
            .into_iter()
            .filter(takes)
            .map(|t| format!("input:{t}")),
    );
    if find::find_in(dirs, "helper-v2v-convert").is_some() {
        v.extend(["convert:linux".into(), "convert:windows".into()]);
    }
    v
}

/// The options a run checks before anything starts, as virt-v2v checks
/// them: `-n`, `-b`, `--mac` (parsed into the mapping), the customisation
/// operations and each `--mac MAC:ip:...`.  A usage error otherwise.
fn check_options(args: &Args) -> Result<NetworkMap, String> {
    let network = v2v_render::network_map(&args.net.network, &args.net.bridge, &args.net.mac)
        .map_err(|e| e.to_string())?;
    customize::check(&args.customize, &args.net.mac)?;
    Ok(network)
}

/// What the mapping makes of each of the source's NICs (messages, only
/// when a mapping was given), and a warning for each `--mac` matching no
/// NIC, as virt-v2v gives.
fn report_network(net: &NetworkMap, source: &Source) {
    if *net == NetworkMap::default() {
        return;
    }
    let kind = |k: NetworkKind| match k {
        NetworkKind::Network => "network",
        NetworkKind::Bridge => "bridge",
    };
    for (i, n) in source.nics.iter().enumerate() {
        let (k, to) = net.map(n.mac.as_deref(), n.network_kind, n.network.as_deref());
        message!(
            "Network mapping: interface {} ({}): {} {} → {} {}",
            i + 1,
            n.mac.as_deref().unwrap_or("no MAC address"),
            kind(n.network_kind),
            n.network.as_deref().unwrap_or("default"),
            kind(k),
            to.as_deref().unwrap_or("default"),
        );
    }
    let macs: Vec<Option<String>> = source.nics.iter().map(|n| n.mac.clone()).collect();
    for m in net.unknown_macs(&macs) {
        warning!("--mac {m}: the source guest has no network interface with this MAC address");
    }
}

/// Set up the logger for `program` from the command line's `-v -x -q`
/// (as the runner: its events, off here, would say `virt-v2v`),
/// `--colours`, `--wrap` and `--machine-readable` (messages on stdout), as
/// virt-v2v does.
fn init_log(program: &str, cli: &InputCli) {
    log::set_messages_to_stdout(cli.machine_readable);
    log::init(
        program,
        "virt-v2v",
        cli.common().stderr_level(),
        None,
        log::EventSink::None,
    );
    let tty = std::io::stderr().is_terminal();
    log::set_style(log::Style {
        colours: cli.upstream.colours || tty,
        wrap: cli.upstream.wrap || tty,
    });
}

impl Companion<'_> {
    /// Check the options, run input and convert, then `after` (while the
    /// disks are still served), and clean up.  Returns the exit code.
    pub fn run(&self, after: impl FnOnce(&V2vDir) -> Result<(), String>) -> u8 {
        let args = self.cli.v2v_args();
        let plan = match self.plan(&args) {
            Ok(p) => p,
            Err(msg) => {
                log::log(Level::Error, &msg);
                return exit_code::USAGE;
            }
        };
        let convert_stdin = match keys::convert_stdin(&args, &mut std::io::stdin()) {
            Ok(k) => k,
            Err(msg) => {
                log::log(Level::Error, &msg);
                return exit_code::USAGE;
            }
        };
        let dir = match crate::make_tmpdir() {
            Ok(d) => d,
            Err(msg) => {
                log::log(Level::Error, &msg);
                return exit_code::FAILED;
            }
        };
        crate::open_runner_log(&dir);
        signals::install();
        let common = self.cli.common();
        let runner = Runner {
            dir,
            common: common.to_args(),
            verbose: common.verbose || common.trace,
            run_start: crate::now_epoch(),
            convert_stdin,
            keep: false,
            converted: false,
            step_gate: None,
        };
        let root: OsString = runner.dir.root().as_os_str().to_owned();
        let mut input_args = self.input_extra.clone();
        input_args.extend(crate::input_args(&args, &root));
        let checked = runner.check(Step::Input, &plan.input, "--check", input_args.clone());
        let started = checked.is_ok();
        let mut printed = false;
        let outcome = checked.and_then(|()| {
            let outcome = (|| {
                runner.step(Step::Input, &plan.input, None, input_args)?;
                let meta: MetadataIn = v2v_meta::read_json(&runner.dir.metadata_in())
                    .map_err(|e| Stop::Fatal(e.to_string()))?;
                if self.print_source {
                    print_source(&meta, args.machine_readable).map_err(Stop::Fatal)?;
                    printed = true;
                    return Ok(());
                }
                report_network(&plan.network, &meta.source);
                let mut a: Vec<OsString> = self.convert_extra.clone();
                if let Some(r) = &args.guest.root {
                    a.extend(["--root".into(), r.into()]);
                }
                if runner.convert_stdin.is_some() {
                    a.push("--key-selectors-from-stdin".into());
                }
                a.extend(args.upstream.convert_options());
                if self.changes_guest {
                    a.extend(args.customize.convert_args(&args.net.mac));
                }
                a.push(root.clone());
                runner.step(Step::Convert, &plan.convert, None, a)?;
                after(&runner.dir).map_err(Stop::Fatal)
            })();
            runner.cleanup(&plan.cleanup);
            outcome
        });
        let dir = &runner.dir;
        if started && matches!(outcome, Err(Stop::Step(..)) | Err(Stop::Fatal(_))) {
            // The failure report (printed last) names the log kept here.
            prune_to_logs(dir);
        } else if let Err(e) = fs::remove_dir_all(dir.root()) {
            warning!("cannot remove {}: {e}", dir.root().display());
        }
        let stop = match outcome {
            Ok(()) => {
                if !printed {
                    message!("Finishing off");
                }
                return 0;
            }
            Err(stop) => stop,
        };
        let (code, msg) = match stop {
            Stop::Step(_, code, f) => (code, f.line),
            Stop::Check(code, msg) => (code, msg),
            Stop::Fatal(msg) => (exit_code::FAILED, msg),
            Stop::Signal(sig) => (
                128 + sig as u8,
                format!("interrupted by SIG{}; cleaned up", signals::name(sig)),
            ),
        };
        log::log(Level::Error, &msg);
        code
    }

    /// The options checked, the input, convert and cleanup helpers found,
    /// or a usage error.
    fn plan(&self, args: &Args) -> Result<Plan, String> {
        let network = check_options(args)?;
        let t = &args.inp.input;
        if !valid_type(t) {
            return Err(format!("-i {t}: not a valid input type"));
        }
        if let Some(types) = self.input_types.filter(|ts| !ts.contains(&t.as_str())) {
            return Err(format!(
                "-i {t}: {} takes -i {}",
                self.program,
                types.join(" or -i ")
            ));
        }
        let input = find::helper(&format!("input-{t}")).ok_or_else(|| {
            format!(
                "unknown input type ‘-i {t}’: there is no program helper-v2v-input-{t} next to \
                 {} or on PATH",
                self.program
            )
        })?;
        if args.args.is_empty() {
            return Err(format!(
                "-i {t}: nothing to inspect or convert: give the source after the options \
                 (for -i disk: the disk images)"
            ));
        }
        Ok(Plan {
            input,
            convert: need("convert", "")?,
            cleanup: need("cleanup", "")?,
            network,
        })
    }
}

/// `--print-source`: the source as virt-v2v prints it (JSON with
/// `--machine-readable`).
fn print_source(meta: &MetadataIn, machine_readable: bool) -> Result<(), String> {
    if machine_readable {
        let text = serde_json::to_string_pretty(meta).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", crate::source::human(&meta.source));
    }
    Ok(())
}

/// Every option of `cmd` appears in the page `doc` (relative to the
/// repository): `-ic ` for two-letter options, `--long` or `-s` otherwise.
#[cfg(test)]
pub fn assert_documented(cmd: clap::Command, doc: &str) {
    let path = format!("{}/../{doc}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    for a in cmd.get_arguments() {
        let name = match (a.get_long(), a.get_short()) {
            (Some(l), _) if helper_common::TWO_LETTER_OPTIONS.contains(&l) => format!("`-{l} "),
            (Some(l), _) => format!("`--{l}"),
            (None, Some(s)) => format!("`-{s}"),
            (None, None) => continue,
        };
        assert!(text.contains(&name), "{name}` is not documented in {doc}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        cli: InputCli,
    }

    fn parse(a: &[&str]) -> InputCli {
        let argv = std::iter::once("p")
            .chain(a.iter().copied())
            .map(OsString::from);
        Cli::parse_from(helper_common::virt_v2v_args(argv)).cli
    }

    #[test]
    fn options_reach_the_helpers_as_virt_v2v_gives_them() {
        let c = parse(&[
            "-v",
            "-x",
            "-if",
            "raw",
            "-i",
            "disk",
            "--root",
            "first",
            "-io",
            "a=1",
            "--key",
            "all:key:pw",
            "/d/a.img",
            "--",
            "-weird.img",
        ]);
        let a = c.v2v_args();
        assert_eq!(a.inp.input, "disk");
        assert_eq!(a.guest.root.as_deref(), Some("first"));
        assert_eq!(a.guest.keys, ["all:key:pw"]);
        assert_eq!(
            a.input_options(),
            ["-if", "raw", "-io", "a=1"].map(OsString::from).to_vec()
        );
        assert_eq!(
            a.args,
            ["/d/a.img", "-weird.img"].map(OsString::from).to_vec()
        );
        assert_eq!(a.common().to_args(), ["-v", "-x"]);
        assert_eq!(c.common().to_args(), ["-v", "-x"]);
        let q = parse(&["-q", "g"]);
        assert_eq!(q.v2v_args().inp.input, "libvirt");
        assert_eq!(q.common().to_args(), ["-q"]);
    }

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn network_mapping_and_upstreams_options_as_virt_v2v_takes_them() {
        let c = parse(&[
            "-b",
            "br0",
            "--bridge",
            "vmbr:br1",
            "-n",
            "net1:default",
            "--network=other",
            "--mac",
            "52:54:00:01:02:03:network:n2",
            "--mac",
            "52:54:00:01:02:04:bridge:br2",
            "--mac",
            "52:54:00:01:02:05:ip:10.0.0.5,10.0.0.1,24,10.0.0.2,10.0.0.3",
            "--hostname",
            "h1",
            "-m",
            "2048",
            "--smp",
            "2",
            "--no-fstrim",
            "--colours",
            "--machine-readable",
            "-i",
            "disk",
            "a.img",
        ]);
        let a = c.v2v_args();
        assert_eq!(a.net.bridge, ["br0", "vmbr:br1"]);
        assert_eq!(a.net.network, ["net1:default", "other"]);
        assert_eq!(a.net.mac.len(), 3);
        assert!(a.machine_readable && a.upstream.colours);
        let net = check_options(&a).unwrap();
        assert_eq!(net.default_bridge.as_deref(), Some("br0"));
        assert_eq!(net.bridges["vmbr"], "br1");
        assert_eq!(net.networks["net1"], "default");
        assert_eq!(net.default_network.as_deref(), Some("other"));
        assert_eq!(
            net.map(Some("52:54:00:01:02:04"), NetworkKind::Network, Some("x")),
            (NetworkKind::Bridge, Some("br2".into()))
        );
        // What helper-v2v-convert gets: the appliance's options, then the
        // customisations and the static address (not the mappings).
        assert_eq!(
            a.upstream.convert_options(),
            os(&["--memsize", "2048", "--smp", "2", "--no-fstrim"])
        );
        assert_eq!(
            a.customize.convert_args(&a.net.mac),
            os(&[
                "--hostname",
                "h1",
                "--mac",
                "52:54:00:01:02:05:ip:10.0.0.5,10.0.0.1,24,10.0.0.2,10.0.0.3"
            ])
        );
        assert_eq!(a.args, os(&["a.img"]));
        assert!(c.upstream.refused().is_none());
    }

    #[test]
    fn bad_options_are_usage_errors_naming_the_option() {
        let err = |a: &[&str]| check_options(&parse(a).v2v_args()).unwrap_err();
        assert_eq!(
            err(&["--mac", "52:54:00:01:02:zz:network:x", "a"]),
            "cannot parse --mac \"52:54:00:01:02:zz:network:x\" parameter"
        );
        assert_eq!(
            err(&["--mac", "52:54:00:01:02:03:wifi:x", "a"]),
            "cannot parse --mac \"52:54:00:01:02:03:wifi:x\" parameter"
        );
        assert!(err(&["--mac", "52:54:00:01:02:03:ip:notanip", "a"]).contains("--mac ip"));
        assert!(err(&["-b", "br0", "-b", "br1", "a"]).contains("-b/--bridge"));
        assert!(err(&["-n", ":", "a"]).contains("-n/--network"));
        assert!(err(&["--hostname", "a b", "a"]).starts_with("--hostname a b"));
        let refused = parse(&["--collect", "g", "a"]).upstream.refused().unwrap();
        assert!(refused.starts_with("--collect ("), "{refused}");
        let p = parse(&["--bandwidth", "10M", "a"]);
        assert_eq!(
            p.copy_option("virt-v2v-inspector").as_deref(),
            Some("--bandwidth (virt-v2v-inspector copies no disk)")
        );
        assert!(parse(&["--bandwidth-file", "/f", "a"])
            .copy_option("x")
            .is_some());
        assert!(parse(&["a"]).copy_option("x").is_none());
        assert!(check_options(&parse(&["a"]).v2v_args())
            .unwrap()
            .eq(&NetworkMap::default()));
    }

    #[test]
    fn capability_list_names_the_program_then_what_is_installed() {
        let d = tempfile::tempdir().unwrap();
        for h in ["helper-v2v-input-disk", "helper-v2v-input-ova"] {
            let p = d.path().join(h);
            fs::write(&p, "#!/bin/sh\n").unwrap();
            let mut perm = fs::metadata(&p).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
            fs::set_permissions(&p, perm).unwrap();
        }
        let dirs = [d.path().to_path_buf()];
        let caps = capabilities(
            "virt-v2v-in-place",
            crate::in_place::FEATURES,
            Some(crate::in_place::INPUT_TYPES),
            &dirs,
        );
        assert_eq!(caps[..2], ["virt-v2v-in-place", "virt-v2v-in-place-2.0"]);
        assert!(caps.contains(&"mac-ip-option".to_string()));
        assert!(caps.contains(&"input:disk".to_string()));
        assert!(!caps.contains(&"input:ova".to_string()));
        assert!(!caps.iter().any(|c| c.starts_with("convert:")));
        let caps = capabilities(
            "virt-v2v-inspector",
            crate::inspector::FEATURES,
            None,
            &dirs,
        );
        assert_eq!(caps[0], "virt-v2v-inspector");
        assert!(caps.contains(&"input:ova".to_string()));
    }
}
