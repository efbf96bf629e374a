//! helper-v2v-input-vmx: a VMware guest described by a `.vmx` file, local
//! or (`-it ssh`) on an ESXi/Linux host reachable by ssh.  Serves each disk
//! as `DIR/inN` through a copy-on-write overlay and writes
//! `DIR/metadata.in`.  See `docs/helpers/helper-v2v-input-vmx.md`.
//! VMDK descriptors, serving and `metadata.in` are `v2v_input_kit`'s.

pub mod ssh;
pub mod vmx;

use helper_common::{message, warning, CommonArgs, Ctx, Failure, Result};
use std::path::{Path, PathBuf};
use v2v_input_kit::options::check_option_file;
use v2v_input_kit::vmdk::{self, descriptor_from_head, read_local_descriptor, VMDK_HEAD_BYTES};
use v2v_input_kit::{refs, safe, serve, InputArgs, Opt, Policy, Transport};
use v2v_meta::{Origin, V2vDir};

/// What `-i vmx` does with virt-v2v's input options: `-it ssh` reads the
/// guest over ssh, with `-ip` (password file) and `-io ssh-*` (ours:
/// virt-v2v takes no `-io` here); `-it vddk` is refused, as virt-v2v does;
/// `-if` and `-ic` are ignored.
pub const POLICY: Policy = Policy {
    input_type: "vmx",
    uses: &[Opt::Transport, Opt::Password, Opt::Options],
    refuses: &[],
};

/// Command line of `helper-v2v-input-vmx`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "helper-v2v-input-vmx",
    version,
    about = "Serve the disks of a VMware guest (.vmx) as DIR/inN and write DIR/metadata.in"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// The run's temp directory (created if missing).
    pub dir: PathBuf,
    /// The .vmx file, or ssh://[user@]host[:port]/path/guest.vmx with `-it ssh`.
    pub source: String,
}

/// What the check found.
#[derive(Debug)]
pub enum Checked {
    /// A local `.vmx`, parsed, and how each of its disks is served.
    Local {
        parsed: Box<vmx::ParsedVmx>,
        plans: Vec<Plan>,
    },
    /// A `.vmx` on an ssh host (read by the step: the check connects to
    /// nothing).
    Ssh(ssh::Remote),
}

/// Validate the options and arguments; for a local `.vmx`, read it, its
/// VMDK descriptors and check its disk files (no program run, no
/// network): the whole of `--check`, and the first thing the step does.
pub fn check(args: &Args) -> Result<Checked> {
    let transport = args.input.validate(&POLICY)?;
    let ssh_uri = args.source.starts_with("ssh://");
    match transport {
        Some(Transport::Vddk) => Err(Failure::usage(
            "-it vddk: not supported by -i vmx (only -it ssh)",
        )),
        Some(Transport::Ssh) if !ssh_uri => Err(Failure::usage(format!(
            "-it ssh: {}: expected ssh://[user@]host[:port]/path/guest.vmx",
            args.source
        ))),
        Some(Transport::Ssh) | None if ssh_uri => check_ssh(args).map(Checked::Ssh),
        _ => check_local(args, Path::new(&args.source)),
    }
}

fn check_local(args: &Args, file: &Path) -> Result<Checked> {
    if let Some(g) = args.input.given(Opt::Options) {
        return Err(Failure::usage(format!(
            "{g}: -io applies to -it ssh only (a local .vmx takes no input options)"
        )));
    }
    let file = helper_common::absolute(file);
    let text = safe::read_bounded(&file, "VMX")?;
    let parsed = parse(&text, &file.display().to_string(), &stem_of(&file))?;
    let mut plans = Vec::new();
    for (i, f) in parsed.disk_files.iter().enumerate() {
        let index = i as u32 + 1;
        let path = resolve_disk(&file, f).map_err(|e| e.disk(index))?;
        let desc = read_local_descriptor(&path).map_err(|e| e.disk(index))?;
        let mut plan = plan_disk(index, &path, &desc)?;
        if let Some(flat) = desc.single_flat_extent() {
            // Symlinks and all, the extent must lie beside the descriptor.
            plan.path = refs::resolve_beside(&path, "extent", flat).map_err(|e| e.disk(index))?;
        }
        serve::check_local(index, &plan.path, Some(plan.format))?;
        plans.push(plan);
    }
    Ok(Checked::Local {
        parsed: Box::new(parsed),
        plans,
    })
}

fn check_ssh(args: &Args) -> Result<ssh::Remote> {
    let uri = ssh::parse_uri(&args.source).map_err(Failure::usage)?;
    let opts = ssh::parse_options(
        &args.input.input_options,
        args.input.input_password.as_deref(),
    )?;
    if let Some(p) = &opts.password_file {
        check_option_file("-ip", p)?;
    }
    if let Some(p) = &opts.identity {
        check_option_file("-io ssh-identity", p)?;
    }
    match &opts.known_hosts {
        Some(p) if opts.verify_host => check_option_file("-io ssh-known-hosts", p)?,
        _ => {}
    }
    Ok(ssh::Remote { uri, opts })
}

/// The step: check, then serve every disk and write `metadata.in`.
pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let checked = check(args)?;
    args.input.warn_ignored(&POLICY);
    match checked {
        Checked::Local { parsed, plans } => {
            if let Some(g) = args.input.given(Opt::Password) {
                warning!("{g}: ignored for a local .vmx (it applies to -it ssh)");
            }
            run_local(ctx, *parsed, plans)
        }
        Checked::Ssh(remote) => run_ssh(ctx, args, remote),
    }
}

/// Find a disk file named in a `.vmx` (docs/security.md): it must resolve,
/// symlinks and all, to a regular file inside the `.vmx`'s directory (or
/// below it), like any file an image refers to ([`refs::resolve_beside`]).
/// An absolute path (`/vmfs/volumes/...` copied from ESXi) is looked for
/// beside the `.vmx` by its base name first.  A disk that is missing is
/// exit 3; one outside, or not a regular file, exit 5.
pub fn resolve_disk(vmx: &Path, file: &str) -> Result<PathBuf> {
    let p = Path::new(file);
    let dir = vmx.parent().unwrap_or(Path::new("/"));
    if p.is_absolute() {
        if let Some(b) = p.file_name() {
            if std::fs::symlink_metadata(dir.join(b)).is_ok() {
                return refs::resolve_beside(vmx, "disk", &b.to_string_lossy());
            }
        }
    }
    refs::resolve_beside(vmx, "disk", file)
}

/// How one disk is served: the file holding its data, and its format
/// (`raw` for a flat extent, `vmdk` for a sparse file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub path: PathBuf,
    pub format: &'static str,
}

/// Decide how disk `index` (its `.vmdk` at `vmdk_path`, descriptor `desc`)
/// is served; snapshots and multi-extent disks are refused.
pub fn plan_disk(index: u32, vmdk_path: &Path, desc: &vmdk::Descriptor) -> Result<Plan> {
    let shown = vmdk_path.display();
    if desc.has_parent() {
        return Err(Failure::unsupported(format!(
            "{shown} is a snapshot (parent {}): this guest has snapshots; remove or consolidate them in VMware first",
            desc.parent_file.as_deref().unwrap_or("?")
        ))
        .disk(index));
    }
    if let Some(flat) = desc.single_flat_extent() {
        let dir = vmdk_path.parent().unwrap_or(Path::new("/"));
        return Ok(Plan {
            path: dir.join(flat),
            format: "raw",
        });
    }
    match desc.extents.as_slice() {
        [e] if e.kind == "SPARSE" => Ok(Plan {
            path: vmdk_path.to_path_buf(),
            format: "vmdk",
        }),
        _ => Err(Failure::unsupported(format!(
            "{shown}: VMDK of type {} with {} extent(s) is not supported (convert it to monolithicSparse or monolithicFlat)",
            desc.create_type,
            desc.extents.len()
        ))
        .disk(index)),
    }
}

/// Parse the `.vmx` text read from `location` (for messages and origin).
fn parse(text: &str, location: &str, stem: &str) -> Result<vmx::ParsedVmx> {
    let origin = Origin {
        input_type: "vmx".into(),
        location: vec![location.to_string()],
    };
    vmx::parse_vmx(text, stem, origin)
        .map_err(|e| Failure::contract(format!("VMX {location}: {e}")))
}

fn say_source(parsed: &vmx::ParsedVmx) {
    message!(
        "Source guest {}: {} disk(s)",
        parsed.source.name,
        parsed.disk_files.len()
    );
}

fn stem_of(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "guest".into())
}

fn run_local(ctx: &Ctx, parsed: vmx::ParsedVmx, plans: Vec<Plan>) -> Result<()> {
    say_source(&parsed);
    serve::serve_and_write(ctx, parsed.source, |i, _| {
        let p = &plans[i];
        serve::serve_local(ctx, i as u32 + 1, &p.path, Some(p.format))
    })?;
    Ok(())
}

fn run_ssh(ctx: &Ctx, args: &Args, remote: ssh::Remote) -> Result<()> {
    let askpass = match &remote.opts.password_file {
        Some(p) => Some(ssh::write_askpass(&ctx.dir.askpass(), p)?),
        None => None,
    };
    let vmx_path = PathBuf::from(&remote.uri.path);
    let what = format!("VMX {}", args.source);
    let head = remote.read_head(
        &remote.uri.path,
        safe::MAX_DESCRIPTION_BYTES + 1,
        askpass.as_deref(),
    )?;
    let text = safe::read_bounded_from(&head[..], &what)?;
    let parsed = parse(&text, &args.source, &stem_of(&vmx_path))?;
    say_source(&parsed);
    let dir = vmx_path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut plans = Vec::new();
    for (i, f) in parsed.disk_files.iter().enumerate() {
        let index = i as u32 + 1;
        // On the remote host, absolute paths are taken as they are.
        let path = dir.join(f);
        let shown = path.display().to_string();
        let head = remote
            .read_head(&shown, VMDK_HEAD_BYTES, askpass.as_deref())
            .map_err(|e| e.disk(index))?;
        let what = format!("VMDK {shown} on {}", remote.uri.host);
        let desc = descriptor_from_head(&head, &what).map_err(|e| e.disk(index))?;
        let plan = plan_disk(index, &path, &desc)?;
        if plan.format == "vmdk" {
            // qemu opens it over NBD: it may refer to no other file.
            refs::refuse_any(&what, "vmdk", &head).map_err(|e| e.disk(index))?;
        }
        plans.push(plan);
    }
    let host = remote.uri.host.clone();
    serve::serve_and_write(ctx, parsed.source, |i, _| {
        let index = i as u32 + 1;
        let p = &plans[i];
        let remote_path = p.path.display().to_string();
        let label = format!("ssh://{host}{remote_path}");
        let spec = remote.nbdkit(&remote_path).verbose(ctx.common.verbose);
        if p.format == "raw" {
            return serve::serve_nbdkit_raw(ctx, index, spec, &label);
        }
        // A sparse VMDK: nbdkit reads the file (read-only) on a private
        // socket, qemu-nbd decodes it through a qcow2 overlay.
        let src = V2vDir::src_name(index);
        let srv = v2v_servers::start(&ctx.dir, ctx.step, &src, &spec.readonly(true), ctx.owner())
            .map_err(|f| f.disk(index))?;
        let json = serve::json_over_nbd("vmdk", &srv.socket);
        serve::serve_qemu_backing(ctx, index, &json, "vmdk", &label)
    })?;
    Ok(())
}
