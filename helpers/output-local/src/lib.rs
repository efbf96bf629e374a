//! `helper-v2v-output-local setup|final`: local disk files and a libvirt
//! domain XML (virt-v2v's `-o local`).

pub mod xml;

use helper_common::{message, CommonArgs, Ctx, Failure, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use v2v_meta::{
    MetadataIn, MetadataOut, OutputDisk, OutputJson, Step, TargetMeta, CONTRACT_VERSION,
};
use v2v_servers::{start, Nbdkit, QemuNbd};

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "helper-v2v-output-local",
    version,
    about = "Output to local files: `setup` creates and serves the target disks, `final` writes NAME.xml"
)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Alloc {
    Sparse,
    Preallocated,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Cmd {
    /// Create OUTDIR/NAME-sdX for every source disk, serve them as DIR/outN,
    /// write DIR/output.json.
    Setup {
        /// The temp directory (metadata.in must be there).
        dir: PathBuf,
        /// Output storage: the directory for the disks and NAME.xml (also `-os`).
        #[arg(long = "os", value_name = "OUTDIR", required = true)]
        output_storage: PathBuf,
        /// Target format (also `-of`).
        #[arg(long = "of", value_enum, default_value = "raw")]
        format: Format,
        /// Target allocation (also `-oa`).
        #[arg(long = "oa", value_enum, default_value = "sparse")]
        alloc: Alloc,
        /// Target guest name (also `-on`; default: the source's name).
        #[arg(long = "on", value_name = "NAME")]
        name: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Write OUTDIR/NAME.xml from metadata.in, metadata.out and output.json.
    Final {
        /// The temp directory.
        dir: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
}

impl Cmd {
    /// The step, temp dir and common flags of this subcommand.
    pub fn step_dir_common(&self) -> (Step, PathBuf, CommonArgs) {
        match self {
            Cmd::Setup { dir, common, .. } => (Step::OutputSetup, dir.clone(), common.clone()),
            Cmd::Final { dir, common } => (Step::OutputFinal, dir.clone(), common.clone()),
        }
    }
}

pub fn run(ctx: &Ctx, cmd: &Cmd) -> Result<()> {
    match cmd {
        Cmd::Setup {
            output_storage,
            format,
            alloc,
            name,
            ..
        } => setup(ctx, output_storage, *format, *alloc, name.as_deref()),
        Cmd::Final { .. } => finalize(ctx),
    }
}

/// Disk device name for index `i` (0-based): `sda`, ..., `sdz`, `sdaa`, ...
pub fn drive_name(prefix: &str, i: usize) -> String {
    format!("{prefix}{}", v2v_meta::drive_letters(i))
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

fn target_paths(os: &Path, name: &str, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| os.join(format!("{name}-{}", drive_name("sd", i))))
        .collect()
}

fn setup(ctx: &Ctx, os: &Path, format: Format, alloc: Alloc, name: Option<&str>) -> Result<()> {
    let md: MetadataIn = v2v_meta::read_json(&ctx.dir.metadata_in())?;
    let name = name.unwrap_or(&md.source.name).to_string();
    check_name(&name)?;
    if !os.is_dir() {
        return Err(Failure::usage(format!(
            "-os {}: output storage is not a directory",
            os.display()
        )));
    }
    let os = helper_common::absolute(os);
    let paths = target_paths(&os, &name, md.source.disks.len());
    // Check everything before creating anything.
    for (i, p) in paths.iter().enumerate() {
        if p.symlink_metadata().is_ok() {
            return Err(Failure::failed(format!(
                "target {} already exists: refusing to overwrite it (remove it or use -on NAME)",
                p.display()
            ))
            .disk(i as u32 + 1));
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
                socket: format!("out{n}"),
                path: Some(p.display().to_string()),
                format: format.name().into(),
                size: d.size,
                created: true,
            });
            // Record what we created at once, so cleanup can remove it even if
            // a later disk fails.
            write_output_json(ctx, &name, &os, &disks)?;
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

fn write_output_json(ctx: &Ctx, name: &str, os: &Path, disks: &[OutputDisk]) -> Result<()> {
    let mut options = BTreeMap::new();
    options.insert("output_storage".to_string(), os.display().to_string());
    let oj = OutputJson {
        version: CONTRACT_VERSION,
        output_type: "local".into(),
        name: name.into(),
        disks: disks.to_vec(),
        target_is_zero: true,
        request_size: None,
        options,
    };
    v2v_meta::write_json(&ctx.dir.output_json(), &oj)?;
    Ok(())
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
    let name = format!("out{n}");
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

/// What `final` writes: OUTDIR/NAME.xml.
fn finalize(ctx: &Ctx) -> Result<()> {
    let md: MetadataIn = v2v_meta::read_json(&ctx.dir.metadata_in())?;
    let oj: OutputJson = v2v_meta::read_json(&ctx.dir.output_json())?;
    if oj.output_type != "local" {
        return Err(Failure::contract(format!(
            "{}: written by output type {:?}, not local",
            ctx.dir.output_json().display(),
            oj.output_type
        )));
    }
    let target = match v2v_meta::read_json::<MetadataOut>(&ctx.dir.metadata_out()) {
        Ok(mo) => mo.target,
        Err(v2v_meta::ContractError::Missing { .. }) => TargetMeta::unconverted(&md.source),
        Err(e) => return Err(e.into()),
    };
    let os = oj
        .options
        .get("output_storage")
        .ok_or_else(|| Failure::contract("output.json: no output_storage option".to_string()))?;
    let text = xml::domain(&oj.name, &md.source, &target, &oj.disks);
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
    fn drive_names() {
        assert_eq!(drive_name("sd", 0), "sda");
        assert_eq!(drive_name("vd", 25), "vdz");
        assert_eq!(drive_name("sd", 26), "sdaa");
        assert_eq!(drive_name("sd", 27), "sdab");
        assert_eq!(drive_name("sd", 26 + 26 * 26), "sdaaa");
    }

    #[test]
    fn names_checked() {
        assert!(check_name("fedora-40").is_ok());
        assert_eq!(check_name("a/b").unwrap_err().code, 2);
        assert!(check_name("").is_err());
        assert!(check_name(".hidden").is_err());
    }

    #[test]
    fn paths() {
        let p = target_paths(Path::new("/o"), "g", 2);
        assert_eq!(p, [PathBuf::from("/o/g-sda"), PathBuf::from("/o/g-sdb")]);
    }
}
