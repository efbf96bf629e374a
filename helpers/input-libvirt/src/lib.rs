//! helper-v2v-input-libvirt: a guest defined in libvirt (virt-v2v's
//! `-i libvirt`).  Asks `virsh` for the guest's state (a running guest is
//! refused) and its inactive XML, then goes on as
//! `helper-v2v-input-libvirtxml` (the shared `v2v_input_kit::domain` and
//! `v2v_input_kit::serve`), resolving `<disk type='volume'>` with
//! `virsh vol-path`.  See `docs/helpers/helper-v2v-input-libvirt.md`.

use helper_common::{debug, message, run_cmd, CommonArgs, Ctx, Failure, Result};
use std::path::PathBuf;
use v2v_input_kit::domain::read_domain;
use v2v_input_kit::{safe, serve, InputArgs, Opt, Policy};
use v2v_meta::Origin;

/// What `-i libvirt` does with virt-v2v's input options: `-ic` is the
/// connection; `-io` is refused (as virt-v2v does); `-if`, `-it` and
/// `-ip` are ignored (only local connections are supported, and they ask
/// for no password).
pub const POLICY: Policy = Policy {
    input_type: "libvirt",
    uses: &[Opt::Conn],
    refuses: &[Opt::Options],
};

/// Command line of `helper-v2v-input-libvirt`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "helper-v2v-input-libvirt",
    version,
    about = "Serve the disks of a shut-off libvirt guest as DIR/inN and write DIR/metadata.in"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// The run's temp directory (created if missing).
    pub dir: PathBuf,
    /// The libvirt domain name (or UUID).
    pub guest: String,
}

/// Validate the options and arguments without asking libvirt anything:
/// the whole of `--check`, and the first thing the step does.
pub fn check(args: &Args) -> Result<()> {
    args.input.validate(&POLICY)?;
    if let Some(u) = &args.input.input_conn {
        check_uri(u)?;
    }
    if args.guest.trim().is_empty() {
        return Err(Failure::usage("GUEST: empty guest name"));
    }
    Ok(())
}

/// The `virsh` arguments for `cmd` on connection `uri`.
pub fn virsh_args(uri: Option<&str>, cmd: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(u) = uri {
        v.push("-c".to_string());
        v.push(u.to_string());
    }
    v.extend(cmd.iter().map(|s| s.to_string()));
    v
}

/// Refuse connection URIs whose disks are not local files of this host
/// (`vpx://`, `esx://`, `xen+ssh://`, `qemu+ssh://host/...`): the disk
/// paths in their XML name files on another machine.
pub fn check_uri(uri: &str) -> Result<()> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(Failure::usage(format!(
            "-ic {uri}: not a libvirt URI (expected e.g. qemu:///system)"
        )));
    };
    let host = rest.split('/').next().unwrap_or("");
    if !host.is_empty() {
        return Err(Failure::unsupported(format!(
            "-ic {uri}: remote connections ({scheme}://{host}) are not supported: \
             the guest's disks must be local files (use -i vmx -it ssh for VMware hosts)"
        )));
    }
    Ok(())
}

/// Whether `virsh domstate` output allows copying the disks: only a guest
/// that is shut off (or crashed, which is off too) has quiet disks.
pub fn state_allows_copy(state: &str) -> bool {
    matches!(state.trim(), "shut off" | "crashed")
}

fn virsh(uri: Option<&str>, cmd: &[&str]) -> Result<String> {
    let out = run_cmd("virsh", &virsh_args(uri, cmd))?;
    safe::read_bounded_from(&out.stdout[..], &format!("virsh {}", cmd[0]))
}

/// The step: check, ask virsh for the guest's state and XML, then serve
/// every disk and write `metadata.in`.
pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    check(args)?;
    args.input.warn_ignored(&POLICY);
    let uri = args.input.input_conn.as_deref();
    let name = args.guest.as_str();
    let state = virsh(uri, &["domstate", name])?;
    let state = state.lines().next().unwrap_or("").trim().to_string();
    debug!("guest {name}: state {state:?}");
    if !state_allows_copy(&state) {
        return Err(Failure::unsupported(format!(
            "guest {name} is {state}: shut it down first (copying the disks of a running guest gives a corrupt copy)"
        )));
    }
    message!("Reading the definition of {name} from libvirt");
    let xml = virsh(uri, &["dumpxml", "--inactive", name])?;
    let mut location: Vec<String> = uri.map(str::to_string).into_iter().collect();
    location.push(name.to_string());
    let origin = Origin {
        input_type: "libvirt".into(),
        location,
    };
    let domain = read_domain(&xml, origin)?;
    let resolve = |pool: &str, volume: &str| -> Result<PathBuf> {
        let p = virsh(uri, &["vol-path", "--pool", pool, volume])?;
        let p = p.trim();
        if !p.starts_with('/') {
            return Err(Failure::unsupported(format!(
                "volume {volume} in pool {pool}: path {p:?} is not a local file"
            )));
        }
        Ok(PathBuf::from(p))
    };
    let base = std::env::current_dir()?;
    serve::check_domain(&domain, &base, true)?;
    serve::serve_domain(ctx, domain, &base, Some(&resolve))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert!(check_uri("qemu:///system").is_ok());
        assert!(check_uri("test:///var/tmp/node.xml").is_ok());
        assert_eq!(check_uri("vpx://vc/Datacenter/esxi").unwrap_err().code, 5);
        assert_eq!(check_uri("qemu+ssh://root@h/system").unwrap_err().code, 5);
        assert_eq!(check_uri("system").unwrap_err().code, 2);
        assert_eq!(
            virsh_args(Some("test:///default"), &["domstate", "g"]),
            ["-c", "test:///default", "domstate", "g"]
        );
        assert_eq!(virsh_args(None, &["dumpxml", "g"]), ["dumpxml", "g"]);
    }

    #[test]
    fn states() {
        assert!(state_allows_copy("shut off\n"));
        assert!(state_allows_copy("crashed"));
        for s in [
            "running",
            "paused",
            "in shutdown",
            "pmsuspended",
            "idle",
            "",
        ] {
            assert!(!state_allows_copy(s), "{s}");
        }
    }
}
