//! `helper-v2v-output-local check|setup|final`: local disk files and a
//! libvirt domain XML (virt-v2v's `-o local`).  The command line is
//! helper-common's [`helper_common::output`]; this is [`Local`]'s part.

use helper_common::output::{OutputArgs, OutputType};
use helper_common::{message, Ctx, Failure, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use v2v_meta::{
    MetadataIn, OutputDisk, OutputJson, SourceDisk, V2vDir, CONTRACT_VERSION, OUTPUT_STORAGE,
};
use v2v_servers::{start, Nbdkit, QemuNbd};

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

/// `setup`'s options, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The output storage directory, canonical (absolute, no symlink, no `..`).
    pub output_storage: PathBuf,
    pub format: Format,
    pub alloc: Alloc,
    /// `-on`, when given (else the source's name).
    pub name: Option<String>,
}

/// `-o local`.
pub struct Local;

impl OutputType for Local {
    const NAME: &'static str = "local";
    const PROG: &'static str = "helper-v2v-output-local";
    const ABOUT: &'static str =
        "Output to local files: `setup` creates and serves the target disks, `final` writes NAME.xml";
    const SETUP: &'static str =
        "Create OUTDIR/NAME-sdX for every source disk, serve them as DIR/outN, write DIR/output.json";
    const FINAL: &'static str = "Write OUTDIR/NAME.xml from description.json and output.json";
    const OPTIONS: &'static str = "-o local: -os OUTDIR (required) is the directory for the disks \
        and NAME.xml; -of raw|qcow2 (default raw); -oa sparse|preallocated (default sparse); \
        -oc is accepted and ignored, as by virt-v2v; no -oo is supported.";
    type Options = Options;

    fn validate(args: &OutputArgs) -> Result<Options> {
        if let Some(o) = args.options.first() {
            let key = o.split('=').next().unwrap_or(o);
            return Err(Failure::usage(format!(
                "-o local: unknown output option ‘-oo {key}’ (-o local has no output options)"
            )));
        }
        let output_storage = match &args.output_storage {
            None => {
                return Err(Failure::usage(
                    "-o local: output directory was not specified, use ‘-os /dir’",
                ))
            }
            Some(os) => check_storage(os)?,
        };
        let format = match args.format.as_deref() {
            None | Some("raw") => Format::Raw,
            Some("qcow2") => Format::Qcow2,
            Some(f) => {
                return Err(Failure::usage(format!(
                    "-of {f}: -o local writes raw or qcow2 disks"
                )))
            }
        };
        let alloc = match args.alloc.as_deref() {
            None | Some("sparse") => Alloc::Sparse,
            Some("preallocated") => Alloc::Preallocated,
            Some(a) => {
                return Err(Failure::usage(format!(
                    "-oa {a}: output allocation must be sparse or preallocated"
                )))
            }
        };
        if let Some(n) = &args.name {
            check_name(n).map_err(|f| Failure::usage(format!("-on {n}: {}", f.message)))?;
        }
        Ok(Options {
            output_storage,
            format,
            alloc,
            name: args.name.clone(),
        })
    }

    fn setup(ctx: &Ctx, opts: Options) -> Result<()> {
        setup(ctx, &opts)
    }

    fn finalize(ctx: &Ctx) -> Result<()> {
        finalize(ctx)
    }
}

/// `-os` must be a directory we can create files in.  Returns its
/// canonical path.
fn check_storage(os: &Path) -> Result<PathBuf> {
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

/// `OUTDIR/NAME-sdX` for each source disk, by its index: the contract's
/// rule for created targets (`OutputJson::created_path`), which cleanup
/// checks before it removes one.
fn target_paths(os: &Path, name: &str, disks: &[SourceDisk]) -> Result<Vec<PathBuf>> {
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

fn setup(ctx: &Ctx, opts: &Options) -> Result<()> {
    let md: MetadataIn = ctx.dir.read_metadata_in()?;
    let name = opts.name.as_deref().unwrap_or(&md.source.name).to_string();
    check_name(&name)?;
    let os = &opts.output_storage;
    let (format, alloc) = (opts.format, opts.alloc);
    let paths = target_paths(os, &name, &md.source.disks)?;
    // Check everything before creating anything.
    for (d, p) in md.source.disks.iter().zip(&paths) {
        if p.symlink_metadata().is_ok() {
            return Err(Failure::failed(format!(
                "target {} already exists: refusing to overwrite it (remove it or use -on NAME)",
                p.display()
            ))
            .disk(d.index));
        }
    }
    let xml = os.join(format!("{name}.xml"));
    if xml.exists() {
        return Err(Failure::failed(format!(
            "target {} already exists: refusing to overwrite it",
            xml.display()
        )));
    }
    let mut disks: Vec<OutputDisk> = Vec::new();
    let result = (|| {
        for (d, p) in md.source.disks.iter().zip(&paths) {
            let n = d.index;
            create_disk(p, format, alloc, d.size).map_err(|f| f.disk(n))?;
            disks.push(OutputDisk {
                index: n,
                socket: V2vDir::out_name(n),
                path: Some(p.display().to_string()),
                format: format.name().into(),
                size: d.size,
                created: true,
            });
            // Record what we created at once, so cleanup can remove it even if
            // a later disk fails.
            v2v_meta::write_json(&ctx.dir.output_json(), &output_json(&name, os, &disks))?;
            message!(
                "Creating output disk {n}: {} ({})",
                p.display(),
                format.name()
            );
            serve(ctx, n, p, format).map_err(|f| f.disk(n))?;
        }
        Ok(())
    })();
    if let Err(f) = result {
        v2v_servers::stop_all(&ctx.dir);
        for d in &disks {
            if let Some(p) = &d.path {
                let _ = std::fs::remove_file(p);
            }
        }
        let _ = std::fs::remove_file(ctx.dir.output_json());
        return Err(f);
    }
    Ok(())
}

/// `output.json` for the targets created so far.
fn output_json(name: &str, os: &Path, disks: &[OutputDisk]) -> OutputJson {
    let mut options = BTreeMap::new();
    options.insert(OUTPUT_STORAGE.to_string(), os.display().to_string());
    OutputJson {
        version: CONTRACT_VERSION,
        output_type: Local::NAME.into(),
        name: name.into(),
        disks: disks.to_vec(),
        target_is_zero: true,
        request_size: None,
        options,
    }
}

fn create_disk(p: &Path, format: Format, alloc: Alloc, size: u64) -> Result<()> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "create".into(),
        "-q".into(),
        "-f".into(),
        format.name().into(),
    ];
    if alloc == Alloc::Preallocated {
        args.push("-o".into());
        args.push("preallocation=falloc".into());
    }
    args.push(p.as_os_str().to_owned());
    args.push(size.to_string().into());
    helper_common::run_cmd("qemu-img", &args)?;
    Ok(())
}

fn serve(ctx: &Ctx, n: u32, p: &Path, format: Format) -> Result<()> {
    let name = V2vDir::out_name(n);
    match format {
        Format::Raw => {
            let spec = Nbdkit::new("file")
                .param("file", p)
                .param("cache", "none")
                .verbose(ctx.common.verbose);
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

/// What `final` writes: OUTDIR/NAME.xml, rendered from description.json.
fn finalize(ctx: &Ctx) -> Result<()> {
    let oj = Local::read_output_json(ctx)?;
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
    let text = v2v_render::libvirt::domain(&desc, "kvm");
    let path = Path::new(os).join(format!("{}.xml", oj.name));
    let tmp = Path::new(os).join(format!(".{}.xml.tmp", oj.name));
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
    message!("Wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let p = target_paths(Path::new("/o"), "g", &src).unwrap();
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
        let oj = output_json("g", Path::new("/o"), &disks);
        for d in &oj.disks {
            assert_eq!(
                oj.created_path(d).unwrap(),
                Path::new(d.path.as_ref().unwrap())
            );
        }
        assert!(target_paths(Path::new("/o"), "g", &[source_disk(0)]).is_err());
    }

    fn args(os: Option<&Path>) -> OutputArgs {
        OutputArgs {
            dir: PathBuf::from("/nonexistent/v2v"),
            output_storage: os.map(Path::to_path_buf),
            ..Default::default()
        }
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
        let o = Local::validate(&a).unwrap();
        let real = std::fs::canonicalize(t.path()).unwrap();
        assert_eq!(o.output_storage, real);
        assert_eq!(
            (o.format, o.alloc, o.name.as_deref()),
            (Format::Qcow2, Alloc::Preallocated, Some("new"))
        );
        // Nothing was left behind by the writability probe.
        let left: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        let o = Local::validate(&args(Some(t.path()))).unwrap();
        assert_eq!((o.format, o.alloc), (Format::Raw, Alloc::Sparse));
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
        for (a, want) in [
            (
                args(None),
                "output directory was not specified, use ‘-os /dir’",
            ),
            (args(Some(&t.path().join("no"))), "-os "),
            (args(Some(&file)), "is not a directory"),
            (
                args(Some(Path::new("/proc"))),
                "-os /proc: the output directory is not writable",
            ),
            (with(|a| a.format = Some("vhdx".into())), "-of vhdx"),
            (with(|a| a.alloc = Some("thick".into())), "-oa thick"),
            (with(|a| a.name = Some("a/b".into())), "-on a/b: guest name"),
            (
                with(|a| a.options = vec!["bogus=1".into()]),
                "unknown output option ‘-oo bogus’",
            ),
        ] {
            let f = Local::validate(&a).unwrap_err();
            assert_eq!(f.code, 2, "{}", f.message);
            assert!(f.message.contains(want), "{} (want {want})", f.message);
        }
    }
}
