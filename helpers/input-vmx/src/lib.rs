//! helper-v2v-input-vmx: a VMware guest described by a `.vmx` file, local
//! or (`-it ssh`) on an ESXi/Linux host reachable by ssh.  Serves each disk
//! as `DIR/inN` through a copy-on-write overlay and writes
//! `DIR/metadata.in`.  See `docs/helpers/helper-v2v-input-vmx.md`.
//!
//! [`vmdk`] (VMDK descriptors) is also used by `helper-v2v-input-ova`.

pub mod ssh;
pub mod vmdk;
pub mod vmx;

use helper_common::{message, warning, CommonArgs, Ctx, Failure, Result};
use input_libvirtxml::{safe, serve};
use std::io::Read;
use std::path::{Path, PathBuf};
use v2v_meta::Origin;

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
    /// Input transport: `ssh` to read SOURCE (an ssh:// URI) over ssh.
    #[arg(long = "it", value_name = "TRANSPORT")]
    pub it: Option<String>,
    /// File holding the ssh password (`-it ssh`); default: ssh agent / keys.
    #[arg(long = "ip", value_name = "PASSWORD_FILE")]
    pub ip: Option<PathBuf>,
    /// Input option KEY=VALUE (`-it ssh`: ssh-identity=FILE, ssh-known-hosts=FILE,
    /// ssh-verify-host=false).
    #[arg(long = "io", value_name = "KEY=VALUE")]
    pub io: Vec<String>,
    /// The run's temp directory (created if missing).
    pub dir: PathBuf,
    /// The .vmx file, or ssh://[user@]host[:port]/path/guest.vmx with `-it ssh`.
    pub source: String,
}

/// The helper's body.
pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let ssh_uri = args.source.starts_with("ssh://");
    match args.it.as_deref() {
        None if ssh_uri => run_ssh(ctx, args),
        None => {
            if args.ip.is_some() || !args.io.is_empty() {
                warning!("-ip and -io apply to -it ssh only: ignored for a local .vmx");
            }
            run_local(ctx, Path::new(&args.source))
        }
        Some("ssh") if ssh_uri => run_ssh(ctx, args),
        Some("ssh") => Err(Failure::usage(format!(
            "-it ssh: {}: expected ssh://[user@]host[:port]/path/guest.vmx",
            args.source
        ))),
        Some(t) => Err(Failure::usage(format!(
            "-it {t}: unknown transport (only 'ssh' is supported)"
        ))),
    }
}

/// How much of a `.vmdk` is read to find its descriptor: a descriptor
/// file whole, or the header and embedded descriptor of a sparse file.
pub const VMDK_HEAD_BYTES: u64 = 1 << 20;

/// The descriptor of a `.vmdk`, from the first [`VMDK_HEAD_BYTES`] of the
/// file: embedded in a sparse file, or the whole (small) text file.
pub fn descriptor_from_head(head: &[u8], what: &str) -> Result<vmdk::Descriptor> {
    let text = match vmdk::embedded_descriptor_range(head) {
        Some((off, len)) => {
            let end = off.saturating_add(len);
            if end > head.len() as u64 {
                return Err(Failure::unsupported(format!(
                    "{what}: embedded descriptor at {off}+{len} is beyond the first {} bytes",
                    head.len()
                )));
            }
            safe::read_bounded_from(&head[off as usize..end as usize], what)?
        }
        None if head.starts_with(vmdk::SPARSE_MAGIC) => {
            return Err(Failure::unsupported(format!(
                "{what}: sparse VMDK without an embedded descriptor"
            )))
        }
        None if head.len() as u64 >= VMDK_HEAD_BYTES => {
            return Err(Failure::contract(format!(
                "{what}: not a VMDK (neither a sparse VMDK nor a descriptor)"
            )))
        }
        None => safe::read_bounded_from(head, what)?,
    };
    vmdk::parse_descriptor(&text).map_err(|e| Failure::contract(format!("{what}: {e}")))
}

/// Read the descriptor of a local `.vmdk`.
pub fn read_local_descriptor(path: &Path) -> Result<vmdk::Descriptor> {
    let what = format!("VMDK {}", path.display());
    let f = std::fs::File::open(path).map_err(|e| Failure::contract(format!("{what}: {e}")))?;
    let mut head = Vec::new();
    f.take(VMDK_HEAD_BYTES)
        .read_to_end(&mut head)
        .map_err(|e| Failure::contract(format!("{what}: {e}")))?;
    descriptor_from_head(&head, &what)
}

/// Find a disk file named in a `.vmx`: relative to the `.vmx`; an absolute
/// path that does not exist here (`/vmfs/volumes/...` copied from ESXi) is
/// looked for next to the `.vmx` by its base name.
pub fn resolve_disk(vmx_dir: &Path, file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() {
        if p.exists() {
            return p.to_path_buf();
        }
        if let Some(b) = p.file_name() {
            return vmx_dir.join(b);
        }
    }
    vmx_dir.join(p)
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
    let parsed = vmx::parse_vmx(text, stem, origin)
        .map_err(|e| Failure::contract(format!("VMX {location}: {e}")))?;
    message!(
        "Source guest {}: {} disk(s)",
        parsed.source.name,
        parsed.disk_files.len()
    );
    Ok(parsed)
}

fn stem_of(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "guest".into())
}

fn run_local(ctx: &Ctx, file: &Path) -> Result<()> {
    let file = helper_common::absolute(file);
    let text = safe::read_bounded(&file, "VMX")?;
    let parsed = parse(&text, &file.display().to_string(), &stem_of(&file))?;
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    // Check every disk before serving any.
    let mut plans = Vec::new();
    for (i, f) in parsed.disk_files.iter().enumerate() {
        let index = i as u32 + 1;
        let path = resolve_disk(&dir, f);
        let desc = read_local_descriptor(&path).map_err(|e| e.disk(index))?;
        plans.push(plan_disk(index, &path, &desc)?);
    }
    serve::serve_and_write(ctx, parsed.source, |i, _| {
        let p = &plans[i];
        serve::serve_local(ctx, i as u32 + 1, &p.path, Some(p.format))
    })?;
    Ok(())
}

fn run_ssh(ctx: &Ctx, args: &Args) -> Result<()> {
    let uri = ssh::parse_uri(&args.source).map_err(Failure::usage)?;
    let opts = ssh::parse_options(&args.io, args.ip.as_deref())?;
    let askpass = match &opts.password_file {
        Some(p) => Some(ssh::write_askpass(&ctx.dir.scratch_dir(), p)?),
        None => None,
    };
    let remote = ssh::Remote { uri, opts };
    let vmx_path = PathBuf::from(&remote.uri.path);
    let what = format!("VMX {}", args.source);
    let head = remote.read_head(
        &remote.uri.path,
        safe::MAX_DESCRIPTION_BYTES + 1,
        askpass.as_deref(),
    )?;
    let text = safe::read_bounded_from(&head[..], &what)?;
    let parsed = parse(&text, &args.source, &stem_of(&vmx_path))?;
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
        let desc = descriptor_from_head(&head, &format!("VMDK {shown} on {}", remote.uri.host))
            .map_err(|e| e.disk(index))?;
        plans.push(plan_disk(index, &path, &desc)?);
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
        let src = format!("src{index}");
        let srv = v2v_servers::start(&ctx.dir, ctx.step, &src, &spec.readonly(true), ctx.owner())
            .map_err(|f| f.disk(index))?;
        let json = serve::json_over_nbd("vmdk", &srv.socket);
        serve::serve_qemu_backing(ctx, index, &json, "vmdk", &label)
    })?;
    Ok(())
}
