//! v2v-output-kit: what the outputs that write local files share
//! (`-o local`, `-o qemu`, `-o kubevirt`, `-o json`): validating `-os -of
//! -oa -on -oc -oo` the way virt-v2v's `output_to_local_file` outputs do,
//! creating and serving the target disks in `setup`, and writing the one
//! file `final` renders from `description.json`.
//!
//! A type's crate keeps only what is its own: its `-oo` keys, how it names
//! the disks, and its renderer (crate `v2v-render`).

use helper_common::{message, Ctx, Failure, Result};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use v2v_meta::{
    GuestDescription, MetadataIn, OutputDisk, OutputJson, SourceDisk, V2vDir, CONTRACT_VERSION,
    OUTPUT_STORAGE,
};
use v2v_servers::{start, Nbdkit, QemuNbd, ServerSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Raw,
    Qcow2,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alloc {
    Sparse,
    Preallocated,
}

/// The validated options of a local-file output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOptions {
    /// The output storage directory, canonical (absolute, no symlink, no `..`).
    pub output_storage: PathBuf,
    pub format: Format,
    pub alloc: Alloc,
    /// `-oo compressed`: write compressed qcow2 clusters.
    pub compressed: bool,
    /// False with `-oo create=false`: the target files exist already.
    pub create: bool,
    /// `-on`, when given (else the source's name).
    pub name: Option<String>,
}

/// An `-oo KEY[=VALUE]` split at the first `=` (`KEY` alone: empty value).
pub fn split_oo(o: &str) -> (&str, &str) {
    o.split_once('=').unwrap_or((o, ""))
}

/// An `-oo KEY[=BOOL]` value: empty is true; else `true` or `false`, as
/// OCaml's `bool_of_string` in virt-v2v.
pub fn oo_bool(otype: &str, key: &str, v: &str) -> Result<bool> {
    match v {
        "" | "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Failure::usage(format!(
            "-o {otype}: -oo {key}={v}: the value must be true or false"
        ))),
    }
}

/// The unknown-option error, in virt-v2v's words.
pub fn unknown_oo(otype: &str, key: &str) -> Failure {
    Failure::usage(format!("-o {otype}: unknown output option ‘-oo {key}’"))
}

/// Validate `-os -of -oa -on -oc` (and check `-oo compressed` goes with
/// `-of qcow2`).  `oo` sees every `-oo KEY, VALUE` first, in order, and
/// sets what it knows in the options (an unknown key is its error, see
/// [`unknown_oo`]).  `oc_allowed`: `-oc` is accepted and ignored (else
/// refused, as virt-v2v's `-o json` does).
pub fn validate(
    args: &helper_common::output::OutputArgs,
    otype: &str,
    oc_allowed: bool,
    mut oo: impl FnMut(&str, &str, &mut LocalOptions) -> Result<()>,
) -> Result<LocalOptions> {
    let mut opts = LocalOptions {
        output_storage: PathBuf::new(),
        format: Format::Raw,
        alloc: Alloc::Sparse,
        compressed: false,
        create: true,
        name: args.name.clone(),
    };
    for o in &args.options {
        let (k, v) = split_oo(o);
        oo(k, v, &mut opts)?;
    }
    if !oc_allowed && args.conn.is_some() {
        return Err(Failure::usage(format!(
            "-o {otype}: -oc option cannot be used in this output mode"
        )));
    }
    opts.output_storage = match &args.output_storage {
        None => {
            return Err(Failure::usage(format!(
                "-o {otype}: output directory was not specified, use ‘-os /dir’"
            )))
        }
        Some(os) => check_storage(os)?,
    };
    opts.format = match args.format.as_deref() {
        None | Some("raw") => Format::Raw,
        Some("qcow2") => Format::Qcow2,
        Some(f) => {
            return Err(Failure::usage(format!(
                "-of {f}: -o {otype} writes raw or qcow2 disks"
            )))
        }
    };
    opts.alloc = match args.alloc.as_deref() {
        None | Some("sparse") => Alloc::Sparse,
        Some("preallocated") => Alloc::Preallocated,
        Some(a) => {
            return Err(Failure::usage(format!(
                "-oa {a}: output allocation must be sparse or preallocated"
            )))
        }
    };
    if opts.compressed && opts.format != Format::Qcow2 {
        return Err(Failure::usage(
            "‘-oo compressed’ is only allowed when the output format is a local \
             qcow2-format file, i.e. ‘-of qcow2’",
        ));
    }
    if let Some(n) = &args.name {
        // One line, whatever the name holds.
        check_name(n)
            .map_err(|f| Failure::usage(format!("-on {}: {}", n.escape_debug(), f.message)))?;
    }
    Ok(opts)
}

/// `-os` must be a directory we can create files in.  Returns its
/// canonical path.
pub fn check_storage(os: &Path) -> Result<PathBuf> {
    let not_dir = || {
        Failure::usage(format!(
            "-os {}: output directory does not exist or is not a directory",
            os.display()
        ))
    };
    if !os.is_dir() {
        return Err(not_dir());
    }
    let canonical = std::fs::canonicalize(os).map_err(|_| not_dir())?;
    // A real probe (root passes every permission check): an unnamed
    // O_TMPFILE file, gone when closed, leaves nothing behind.
    tempfile::tempfile_in(&canonical).map_err(|e| {
        Failure::usage(format!(
            "-os {}: the output directory is not writable (creating a file there failed: {e})",
            os.display()
        ))
    })?;
    Ok(canonical)
}

/// A guest name must be usable as a file name and a libvirt name.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.contains('/')
        || name.starts_with('.')
        || name.chars().any(char::is_control)
    {
        return Err(Failure::usage(format!(
            "guest name {name:?} cannot be used as a file name (use -on NAME)"
        )));
    }
    Ok(())
}

/// The target name: `-on`, else the source's; checked.
pub fn target_name(opts: &LocalOptions, md: &MetadataIn) -> Result<String> {
    let name = opts.name.as_deref().unwrap_or(&md.source.name).to_string();
    check_name(&name)?;
    Ok(name)
}

/// `OUTDIR/NAME-sdX` for each source disk, by its index: the contract's
/// rule for created targets (`OutputJson::created_path`), which cleanup
/// checks before it removes one.
pub fn standard_paths(os: &Path, name: &str, disks: &[SourceDisk]) -> Result<Vec<PathBuf>> {
    disks
        .iter()
        .map(|d| {
            v2v_meta::target_file_name(name, d.index)
                .map(|f| os.join(f))
                .ok_or_else(|| {
                    Failure::contract("metadata.in: source disk with index 0 (disks count from 1)")
                })
        })
        .collect()
}

/// A relative path under `os` (an `-oo` disk name or pattern result): no
/// `..`, not absolute unless already under `os`.
pub fn path_under(os: &Path, p: &str, what: &str) -> Result<PathBuf> {
    let rel = Path::new(p);
    if p.is_empty() || rel.components().any(|c| c == Component::ParentDir) {
        return Err(Failure::usage(format!(
            "{what} ‘{p}’: must name a file, without ‘..’"
        )));
    }
    Ok(if rel.is_absolute() {
        rel.to_path_buf()
    } else {
        os.join(rel)
    })
}

/// `setup` of a local-file output: check that none of `paths` (one per
/// source disk) nor `finals` (the files `final` writes) exists (with
/// `-oo create=false`: that every path does), then create each disk,
/// serve it as `outN` and record it in `output.json`.  A target is marked
/// `created` when setup created it at the contract's path
/// (`OUTDIR/NAME-sdX`, so cleanup may remove it); on failure setup removes
/// every file it created itself.
pub fn setup(
    ctx: &Ctx,
    otype: &str,
    opts: &LocalOptions,
    md: &MetadataIn,
    name: &str,
    paths: &[PathBuf],
    finals: &[PathBuf],
) -> Result<()> {
    let os = &opts.output_storage;
    if paths.len() != md.source.disks.len() {
        return Err(Failure::usage(format!(
            "-o {otype}: {} target paths for {} source disks",
            paths.len(),
            md.source.disks.len()
        )));
    }
    let standard = standard_paths(os, name, &md.source.disks)?;
    // Check everything before creating anything.
    for (d, p) in md.source.disks.iter().zip(paths) {
        let exists = p.symlink_metadata().is_ok();
        if opts.create && exists {
            return Err(Failure::failed(format!(
                "target {} already exists: refusing to overwrite it (remove it or use -on NAME)",
                p.display()
            ))
            .disk(d.index));
        }
        if !opts.create && !exists {
            return Err(Failure::failed(format!(
                "target {} does not exist (-oo create=false uses existing disks)",
                p.display()
            ))
            .disk(d.index));
        }
    }
    for f in finals {
        if f.exists() {
            return Err(Failure::failed(format!(
                "target {} already exists: refusing to overwrite it",
                f.display()
            )));
        }
    }
    let mut disks: Vec<OutputDisk> = Vec::new();
    let mut made: Vec<PathBuf> = Vec::new();
    let result = (|| {
        for ((d, p), std_path) in md.source.disks.iter().zip(paths).zip(&standard) {
            let n = d.index;
            if opts.create {
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        Failure::failed(format!("{}: {e}", parent.display())).disk(n)
                    })?;
                }
                create_disk(p, opts, d.size).map_err(|f| f.disk(n))?;
                made.push(p.clone());
            }
            disks.push(OutputDisk {
                index: n,
                socket: V2vDir::out_name(n),
                path: Some(p.display().to_string()),
                format: opts.format.name().into(),
                size: d.size,
                created: opts.create && p == std_path,
            });
            // Record what we created at once, so cleanup can remove it even if
            // a later disk fails.
            v2v_meta::write_json(
                &ctx.dir.output_json(),
                &output_json(otype, name, os, &disks, opts.create),
            )?;
            let verb = if opts.create { "Creating" } else { "Using" };
            message!(
                "{verb} output disk {n}: {} ({})",
                p.display(),
                opts.format.name()
            );
            serve(ctx, n, p, opts).map_err(|f| f.disk(n))?;
        }
        Ok(())
    })();
    if let Err(f) = result {
        v2v_servers::stop_all(&ctx.dir);
        for p in &made {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_file(ctx.dir.output_json());
        return Err(f);
    }
    Ok(())
}

/// `output.json` for the targets set up so far.
pub fn output_json(
    otype: &str,
    name: &str,
    os: &Path,
    disks: &[OutputDisk],
    created: bool,
) -> OutputJson {
    let mut options = BTreeMap::new();
    options.insert(OUTPUT_STORAGE.to_string(), os.display().to_string());
    OutputJson {
        version: CONTRACT_VERSION,
        output_type: otype.into(),
        name: name.into(),
        disks: disks.to_vec(),
        target_is_zero: created,
        request_size: None,
        options,
    }
}

fn create_disk(p: &Path, opts: &LocalOptions, size: u64) -> Result<()> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "create".into(),
        "-q".into(),
        "-f".into(),
        opts.format.name().into(),
    ];
    if opts.alloc == Alloc::Preallocated {
        args.push("-o".into());
        args.push("preallocation=falloc".into());
    }
    args.push(p.as_os_str().to_owned());
    args.push(size.to_string().into());
    helper_common::run_cmd("qemu-img", &args)?;
    Ok(())
}

/// qemu-nbd serving a qcow2 file through qemu's `compress` filter
/// (`-oo compressed`): every cluster written is compressed, as virt-v2v
/// does it.
struct CompressedQcow2 {
    file: PathBuf,
}

impl ServerSpec for CompressedQcow2 {
    fn argv(&self, socket: &Path, pidfile: &Path, _owner: u32) -> Vec<String> {
        let file = self.file.display().to_string().replace(',', ",,");
        vec![
            "qemu-nbd".into(),
            "--persistent".into(),
            "--shared=8".into(),
            format!("--socket={}", socket.display()),
            format!("--pid-file={}", pidfile.display()),
            "--image-opts".into(),
            format!(
                "driver=compress,file.driver=qcow2,file.file.driver=file,file.file.filename={file}"
            ),
        ]
    }
    fn needs_guard(&self) -> bool {
        true
    }
    fn program(&self) -> &'static str {
        "qemu-nbd"
    }
}

/// Serve target file `p` as `DIR/outN`: nbdkit for raw, qemu-nbd for
/// qcow2 (through the `compress` filter with `-oo compressed`).
pub fn serve(ctx: &Ctx, n: u32, p: &Path, opts: &LocalOptions) -> Result<()> {
    let name = V2vDir::out_name(n);
    match opts.format {
        Format::Raw => {
            let spec = Nbdkit::new("file")
                .param("file", p)
                .param("cache", "none")
                .verbose(ctx.common.verbose);
            start(&ctx.dir, ctx.step, &name, &spec, ctx.owner())?;
        }
        Format::Qcow2 if opts.compressed => {
            let spec = CompressedQcow2 { file: p.into() };
            start(&ctx.dir, ctx.step, &name, &spec, ctx.owner())?;
        }
        Format::Qcow2 => {
            // Through the page cache (qemu-nbd's default, as virt-v2v runs
            // it); the copier's final flush makes the target durable.
            // Measured (docs/benchmarks.md): `--cache=none --aio=native`
            // took 1.4x as long, as O_DIRECT allocating writes to a qcow2
            // file go one at a time.
            let spec = QemuNbd::new(p, "qcow2")
                .discard(true)
                .cache("writeback")
                .aio("threads");
            start(&ctx.dir, ctx.step, &name, &spec, ctx.owner())?;
        }
    }
    Ok(())
}

/// `setup` of an output whose `final` writes `OUTDIR/NAME.EXT`: the
/// target name, the disks' paths (`paths(OUTDIR, NAME, metadata.in)`: a
/// type's own naming and name rules), then [`setup`].
pub fn setup_for(
    ctx: &Ctx,
    otype: &str,
    opts: &LocalOptions,
    ext: &str,
    paths: impl FnOnce(&Path, &str, &MetadataIn) -> Result<Vec<PathBuf>>,
) -> Result<()> {
    let md = ctx.dir.read_metadata_in()?;
    let name = target_name(opts, &md)?;
    let os = &opts.output_storage;
    let disks = paths(os, &name, &md)?;
    let file = os.join(format!("{name}.{ext}"));
    setup(ctx, otype, opts, &md, &name, &disks, &[file])
}

/// `final` of such an output: render `description.json` and write it to
/// `OUTDIR/NAME.EXT` (`oj`: this type's `output.json`) with permission
/// bits `mode`.  Returns the file's path.
pub fn write_final(
    ctx: &Ctx,
    oj: &OutputJson,
    ext: &str,
    mode: u32,
    render: impl FnOnce(&GuestDescription) -> Result<String>,
) -> Result<PathBuf> {
    let desc = ctx.dir.read_description()?;
    let os = oj.options.get(OUTPUT_STORAGE).ok_or_else(|| {
        Failure::contract(format!(
            "{}: no options.{OUTPUT_STORAGE}",
            ctx.dir.output_json().display()
        ))
    })?;
    check_name(&oj.name).map_err(|f| {
        Failure::contract(format!("{}: name: {}", ctx.dir.output_json().display(), f))
    })?;
    let path = Path::new(os).join(format!("{}.{ext}", oj.name));
    write_file(&path, &render(&desc)?, mode)?;
    Ok(path)
}

/// Write `text` to `path` atomically (a hidden temporary file in the same
/// directory, renamed), with permission bits `mode`.
pub fn write_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)))
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Failure::failed(format!("{}: {e}", path.display()))
        })?;
    message!("Wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use helper_common::output::OutputArgs;

    #[test]
    fn names_checked() {
        assert!(check_name("fedora-40").is_ok());
        assert_eq!(check_name("a/b").unwrap_err().code, 2);
        assert!(check_name("").is_err());
        assert!(check_name(".hidden").is_err());
    }

    fn source_disk(index: u32) -> SourceDisk {
        SourceDisk {
            index,
            socket: V2vDir::in_name(index),
            format: "raw".into(),
            size: 1 << 20,
            allocated: None,
            bus: None,
            controller: None,
            unit: None,
            source: "/src".into(),
        }
    }

    /// The paths setup creates are the ones the contract lets cleanup remove.
    #[test]
    fn paths_follow_the_created_path_rule() {
        let src = [source_disk(1), source_disk(2)];
        let p = standard_paths(Path::new("/o"), "g", &src).unwrap();
        assert_eq!(p, [PathBuf::from("/o/g-sda"), PathBuf::from("/o/g-sdb")]);
        let disks: Vec<OutputDisk> = src
            .iter()
            .zip(&p)
            .map(|(d, p)| OutputDisk {
                index: d.index,
                socket: V2vDir::out_name(d.index),
                path: Some(p.display().to_string()),
                format: "raw".into(),
                size: d.size,
                created: true,
            })
            .collect();
        let oj = output_json("local", "g", Path::new("/o"), &disks, true);
        for d in &oj.disks {
            assert_eq!(
                oj.created_path(d).unwrap(),
                Path::new(d.path.as_ref().unwrap())
            );
        }
        assert!(standard_paths(Path::new("/o"), "g", &[source_disk(0)]).is_err());
    }

    fn args(os: Option<&Path>) -> OutputArgs {
        OutputArgs {
            dir: PathBuf::from("/nonexistent/v2v"),
            output_storage: os.map(Path::to_path_buf),
            ..Default::default()
        }
    }

    /// `-oo compressed` as -o qemu takes it.
    fn qemu_like(k: &str, v: &str, o: &mut LocalOptions) -> Result<()> {
        match k {
            "compressed" => o.compressed = oo_bool("t", k, v)?,
            _ => return Err(unknown_oo("t", k)),
        }
        Ok(())
    }

    #[test]
    fn validate_accepts_good_options() {
        let t = tempfile::tempdir().unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(t.path(), &link).unwrap();
        let mut a = args(Some(&link.join(".")));
        a.format = Some("qcow2".into());
        a.alloc = Some("preallocated".into());
        a.name = Some("new".into());
        a.conn = Some("qemu:///system".into());
        a.options = vec!["compressed".into()];
        let o = validate(&a, "t", true, qemu_like).unwrap();
        let real = std::fs::canonicalize(t.path()).unwrap();
        assert_eq!(o.output_storage, real);
        assert_eq!(
            (o.format, o.alloc, o.compressed, o.name.as_deref()),
            (Format::Qcow2, Alloc::Preallocated, true, Some("new"))
        );
        // Nothing was left behind by the writability probe.
        let left: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        let o = validate(&args(Some(t.path())), "t", false, qemu_like).unwrap();
        assert_eq!((o.format, o.alloc), (Format::Raw, Alloc::Sparse));
        assert!(o.create && !o.compressed);
    }

    #[test]
    fn validate_names_the_bad_option() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let good = || args(Some(t.path()));
        let with = |f: fn(&mut OutputArgs)| {
            let mut a = good();
            f(&mut a);
            a
        };
        for (a, oc, want) in [
            (
                args(None),
                true,
                "-o t: output directory was not specified, use ‘-os /dir’",
            ),
            (args(Some(&t.path().join("no"))), true, "-os "),
            (args(Some(&file)), true, "is not a directory"),
            (
                args(Some(Path::new("/proc"))),
                true,
                "-os /proc: the output directory is not writable",
            ),
            (with(|a| a.format = Some("vhdx".into())), true, "-of vhdx"),
            (with(|a| a.alloc = Some("thick".into())), true, "-oa thick"),
            (
                with(|a| a.name = Some("a/b".into())),
                true,
                "-on a/b: guest name",
            ),
            (
                with(|a| a.options = vec!["bogus=1".into()]),
                true,
                "-o t: unknown output option ‘-oo bogus’",
            ),
            (
                with(|a| a.options = vec!["compressed=maybe".into()]),
                true,
                "-oo compressed=maybe: the value must be true or false",
            ),
            (
                with(|a| a.options = vec!["compressed".into()]),
                true,
                "i.e. ‘-of qcow2’",
            ),
            (
                with(|a| a.conn = Some("qemu:///system".into())),
                false,
                "-o t: -oc option cannot be used",
            ),
        ] {
            let f = validate(&a, "t", oc, qemu_like).unwrap_err();
            assert_eq!(f.code, 2, "{}", f.message);
            assert!(f.message.contains(want), "{} (want {want})", f.message);
        }
    }

    #[test]
    fn paths_under_storage() {
        let os = Path::new("/o");
        assert_eq!(
            path_under(os, "a/b.img", "x").unwrap(),
            Path::new("/o/a/b.img")
        );
        assert_eq!(path_under(os, "/abs/d", "x").unwrap(), Path::new("/abs/d"));
        assert!(path_under(os, "../d", "-oo disk").is_err());
        assert!(path_under(os, "", "-oo disk").is_err());
    }

    #[test]
    fn written_files_replace_atomically() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("g.sh");
        write_file(&p, "#!/bin/sh\n", 0o755).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "#!/bin/sh\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1);
    }
}
