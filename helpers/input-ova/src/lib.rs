//! helper-v2v-input-ova: a guest packaged as an OVA (a tar file) or an
//! unpacked OVF directory.  Verifies the manifest before serving anything,
//! then serves each disk as `DIR/inN` straight out of the archive (qemu's
//! raw `offset` layer, or nbdkit's offset filter), unpacking only
//! compressed disks into `DIR/tmp`.  See `docs/helpers/helper-v2v-input-ova.md`.
//! Reading the description safely, VMDK descriptors and serving are
//! `v2v_input_kit`'s.

pub mod manifest;
pub mod ovf;
pub mod tar;

use helper_common::{debug, message, CommonArgs, Ctx, Failure, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use v2v_input_kit::{refs, safe, serve, vmdk, InputArgs, Opt, Policy};
use v2v_meta::Origin;
use v2v_servers::Nbdkit;

/// What `-i ova` does with virt-v2v's input options: `-io` is refused, the
/// others ignored (as virt-v2v does).
pub const POLICY: Policy = Policy {
    input_type: "ova",
    uses: &[],
    refuses: &[Opt::Options],
};

/// Command line of `helper-v2v-input-ova`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "helper-v2v-input-ova",
    version,
    about = "Serve the disks of an OVA (tar) or OVF directory as DIR/inN and write DIR/metadata.in"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// The run's temp directory (created if missing).
    pub dir: PathBuf,
    /// The .ova file, or a directory holding the .ovf, .mf and disks.
    pub source: PathBuf,
}

/// Where the package's files are.
pub enum Package {
    /// A tar file and its members.
    Tar {
        path: PathBuf,
        members: Vec<tar::Member>,
    },
    /// A directory.
    Dir(PathBuf),
}

/// One file of the package, opened for reading: (reader limited to the
/// file, its size).
impl Package {
    pub fn open(path: &Path) -> Result<Package> {
        let path = helper_common::absolute(path);
        if path.is_dir() {
            return Ok(Package::Dir(path));
        }
        let mut f = File::open(&path)
            .map_err(|e| Failure::contract(format!("OVA {}: {e}", path.display())))?;
        let members = tar::list(&mut f)
            .map_err(|e| Failure::unsupported(format!("OVA {}: {e}", path.display())))?;
        Ok(Package::Tar { path, members })
    }

    /// Names of the files in the package.
    pub fn names(&self) -> Result<Vec<String>> {
        match self {
            Package::Tar { members, .. } => Ok(members.iter().map(|m| m.name.clone()).collect()),
            Package::Dir(d) => {
                let mut v = Vec::new();
                for e in std::fs::read_dir(d)? {
                    let e = e?;
                    let ft = e.file_type()?;
                    if ft.is_file() {
                        v.push(e.file_name().to_string_lossy().into_owned());
                    }
                }
                v.sort();
                Ok(v)
            }
        }
    }

    /// Where a file's bytes are: (file on disk, offset, size).
    pub fn locate(&self, name: &str) -> Result<(PathBuf, u64, u64)> {
        tar::check_path(name).map_err(Failure::unsupported)?;
        match self {
            Package::Tar { path, members } => members
                .iter()
                .find(|m| m.name == name)
                .map(|m| (path.clone(), m.offset, m.size))
                .ok_or_else(|| {
                    Failure::contract(format!("OVA {}: no member {name:?}", path.display()))
                }),
            Package::Dir(d) => {
                let p = d.join(name);
                let md = std::fs::symlink_metadata(&p)
                    .map_err(|e| Failure::contract(format!("{}: {e}", p.display())))?;
                if !md.is_file() {
                    return Err(Failure::unsupported(format!(
                        "{}: not a regular file (links are refused)",
                        p.display()
                    )));
                }
                Ok((p, 0, md.len()))
            }
        }
    }

    /// A reader over one file's bytes.
    pub fn reader(&self, name: &str) -> Result<impl Read> {
        let (p, off, size) = self.locate(name)?;
        let mut f =
            File::open(&p).map_err(|e| Failure::contract(format!("{}: {e}", p.display())))?;
        f.seek(SeekFrom::Start(off))?;
        Ok(f.take(size))
    }

    fn describe(&self) -> String {
        match self {
            Package::Tar { path, .. } | Package::Dir(path) => path.display().to_string(),
        }
    }
}

/// What the check found: the package, its `.ovf` (name and parse).
pub struct Checked {
    pub pkg: Package,
    pub ovf_name: String,
    pub parsed: ovf::ParsedOvf,
}

/// Validate the options, open the package (a tar's member list is read,
/// no data), parse its one `.ovf` and find every disk file it names: the
/// whole of `--check`, and the first thing the step does.  Manifests are
/// verified by the step (hashing whole disks takes time).
pub fn check(args: &Args) -> Result<Checked> {
    args.input.validate(&POLICY)?;
    let pkg = Package::open(&args.source)?;
    let what = pkg.describe();
    let names = pkg.names()?;
    let ovfs: Vec<&String> = names
        .iter()
        .filter(|n| n.to_ascii_lowercase().ends_with(".ovf"))
        .collect();
    let ovf_name = match ovfs.as_slice() {
        [one] => (*one).clone(),
        [] => return Err(Failure::contract(format!("OVA {what}: no .ovf file"))),
        _ => {
            return Err(Failure::unsupported(format!(
                "OVA {what}: more than one .ovf file"
            )))
        }
    };
    let text = safe::read_bounded_from(pkg.reader(&ovf_name)?, &format!("OVF {ovf_name}"))?;
    let origin = Origin {
        input_type: "ova".into(),
        location: vec![what.clone()],
    };
    let parsed = ovf::parse_ovf(&text, origin)
        .map_err(|e| Failure::contract(format!("OVF {ovf_name} in {what}: {e}")))?;
    for (i, f) in parsed.files.iter().enumerate() {
        pkg.locate(&f.href).map_err(|e| e.disk(i as u32 + 1))?;
    }
    Ok(Checked {
        pkg,
        ovf_name,
        parsed,
    })
}

/// The step: check, verify every manifest, then serve every disk and
/// write `metadata.in`.
pub fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    let Checked {
        pkg,
        ovf_name,
        parsed,
    } = check(args)?;
    args.input.warn_ignored(&POLICY);
    let what = pkg.describe();
    for mf in pkg
        .names()?
        .iter()
        .filter(|n| n.to_ascii_lowercase().ends_with(".mf"))
    {
        let text = safe::read_bounded_from(pkg.reader(mf)?, &format!("manifest {mf}"))?;
        let entries = manifest::parse(&text)
            .map_err(|e| Failure::contract(format!("OVA {what}: manifest {mf}: {e}")))?;
        message!("Verifying the manifest {mf} ({} files)", entries.len());
        for e in &entries {
            manifest::verify(e, pkg.reader(&e.file)?)
                .map_err(|m| Failure::contract(format!("OVA {what}: manifest {mf}: {m}")))?;
        }
    }
    message!(
        "Source guest {} ({ovf_name}): {} disk(s)",
        parsed.source.name,
        parsed.files.len()
    );
    let files = parsed.files;
    serve::serve_and_write(ctx, parsed.source, |i, d| {
        let index = i as u32 + 1;
        serve_disk(ctx, &pkg, index, &files[i], d.size)
    })?;
    Ok(())
}

/// What the first bytes of a disk file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SparseVmdk,
    Qcow2,
    Descriptor,
    Gzip,
    Raw,
}

pub fn sniff(head: &[u8]) -> Kind {
    if head.starts_with(vmdk::SPARSE_MAGIC) {
        Kind::SparseVmdk
    } else if head.starts_with(b"QFI\xfb") {
        Kind::Qcow2
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Kind::Gzip
    } else if head.starts_with(b"# Disk DescriptorFile") {
        Kind::Descriptor
    } else {
        Kind::Raw
    }
}

fn serve_disk(
    ctx: &Ctx,
    pkg: &Package,
    index: u32,
    f: &ovf::DiskFile,
    capacity: u64,
) -> Result<v2v_meta::SourceDisk> {
    let (file, off, size) = pkg.locate(&f.href)?;
    let mut head = Vec::new();
    pkg.reader(&f.href)?.take(512).read_to_end(&mut head)?;
    let kind = sniff(&head);
    debug!(
        "disk {index}: {} is {kind:?} ({size} bytes at offset {off})",
        f.href
    );
    let label = format!("{}:{}", pkg.describe(), f.href);
    if kind == Kind::Gzip || f.compression.is_some() {
        // Cannot be served in place: unpack into DIR/tmp.
        std::fs::create_dir_all(ctx.dir.scratch_dir())?;
        let out = ctx.dir.unpacked(index);
        message!(
            "Unpacking compressed disk {} into {}",
            f.href,
            out.display()
        );
        let limit = inflate_limit(capacity, size);
        if let Err(e) = unpack(pkg, &f.href, &out, limit) {
            let _ = std::fs::remove_file(&out);
            return Err(match e {
                Unpack::TooBig => Failure::unsupported(format!(
                    "{label}: inflates to more than {limit} bytes, beyond the disk's declared \
                     capacity of {capacity} bytes (refused: a compressed disk may not inflate \
                     past its size)"
                )),
                Unpack::Failed(m) => Failure::external(format!("gzip -dc {}: {m}", f.href)),
                Unpack::Io(e) => e.into(),
            });
        }
        return serve::serve_unpacked(ctx, index, &out);
    }
    let tar = matches!(pkg, Package::Tar { .. });
    match kind {
        Kind::SparseVmdk | Kind::Qcow2 => {
            let fmt = if kind == Kind::Qcow2 { "qcow2" } else { "vmdk" };
            if tar {
                // A member has no directory of its own: it may refer to
                // no file (docs/security.md).
                let mut head = Vec::new();
                pkg.reader(&f.href)?
                    .take(refs::HEAD_BYTES)
                    .read_to_end(&mut head)?;
                refs::refuse_any(&label, fmt, &head)?;
                let json = serve::json_at_offset(fmt, &file, off, size);
                serve::serve_qemu_backing(ctx, index, &json, fmt, &label)
            } else {
                serve::serve_local(ctx, index, &file, Some(fmt))
            }
        }
        Kind::Descriptor => {
            let text = safe::read_bounded_from(pkg.reader(&f.href)?, &label)?;
            let d = vmdk::parse_descriptor(&text).map_err(|e| vmdk::parse_failure(&label, &e))?;
            if d.has_parent() {
                return Err(Failure::unsupported(format!(
                    "{label}: a snapshot disk (has a parent)"
                )));
            }
            let flat = d.single_flat_extent().ok_or_else(|| {
                Failure::unsupported(format!(
                    "{label}: VMDK with several extents is not supported in an OVA"
                ))
            })?;
            serve_raw(ctx, pkg, index, flat, &label)
        }
        _ => serve_raw(ctx, pkg, index, &f.href, &label),
    }
}

/// The most a compressed disk may inflate to: its declared capacity plus
/// room for a sparse format's metadata (1/64 and 1 MiB); with no declared
/// capacity, deflate's own bound (1032:1) over the compressed size.
pub fn inflate_limit(capacity: u64, compressed: u64) -> u64 {
    if capacity > 0 {
        capacity
            .saturating_add(capacity / 64)
            .saturating_add(1 << 20)
    } else {
        compressed.saturating_mul(1032).saturating_add(1 << 20)
    }
}

/// Why unpacking stopped.
enum Unpack {
    /// More than the limit came out: gzip was killed.
    TooBig,
    /// gzip failed (its status and stderr).
    Failed(String),
    Io(std::io::Error),
}

/// Inflate member `name` into `out` with `gzip -dc`, stopping (and killing
/// gzip) as soon as more than `limit` bytes come out, so that a gzip bomb
/// is refused in the time it takes to write `limit` bytes.
fn unpack(pkg: &Package, name: &str, out: &Path, limit: u64) -> std::result::Result<(), Unpack> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut input = pkg.reader(name).map_err(|f| Unpack::Failed(f.message))?;
    let mut gz = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Unpack::Failed(e.to_string()))?;
    let mut stdin = gz.stdin.take().expect("piped");
    // gzip stops reading when killed: a broken pipe here is expected.
    let feeder = std::thread::spawn(move || {
        let _ = std::io::copy(&mut input, &mut stdin);
    });
    let mut stdout = gz.stdout.take().expect("piped");
    let mut dst = File::create(out).map_err(Unpack::Io)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total: u64 = 0;
    let copied = loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(Unpack::Io(e)),
        };
        total += n as u64;
        if total > limit {
            break Err(Unpack::TooBig);
        }
        if let Err(e) = dst.write_all(&buf[..n]) {
            break Err(Unpack::Io(e));
        }
    };
    if copied.is_err() {
        let _ = gz.kill();
    }
    drop(stdout);
    let mut err = String::new();
    if let Some(mut e) = gz.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let st = gz.wait().map_err(Unpack::Io)?;
    let _ = feeder.join();
    copied?;
    if !st.success() {
        return Err(Unpack::Failed(format!("{st}: {}", err.trim())));
    }
    Ok(())
}

fn serve_raw(
    ctx: &Ctx,
    pkg: &Package,
    index: u32,
    name: &str,
    label: &str,
) -> Result<v2v_meta::SourceDisk> {
    let (file, off, size) = pkg.locate(name)?;
    match pkg {
        Package::Dir(_) => serve::serve_local(ctx, index, &file, Some("raw")),
        Package::Tar { .. } => {
            let spec = Nbdkit::new("file")
                .filter("offset")
                .param("file", &file)
                .param("offset", off.to_string())
                .param("range", size.to_string());
            let mut d = serve::serve_nbdkit_raw(ctx, index, spec, label)?;
            d.allocated = Some(size);
            Ok(d)
        }
    }
}
