//! `helper-v2v-output-libvirt check|setup|final`: volumes in a libvirt
//! storage pool and a defined domain (virt-v2v's `-o libvirt`, its default
//! output).  The command line is helper-common's
//! [`helper_common::output`]; this is [`Libvirt`]'s part.  libvirt is
//! reached through [`virsh`].

pub mod virsh;

use helper_common::output::{OutputArgs, OutputType};
use helper_common::{message, warning, Ctx, Failure, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use v2v_meta::{MetadataIn, OutputDisk, OutputJson, V2vDir, CONTRACT_VERSION, OUTPUT_STORAGE};
use v2v_output_kit::{self as kit, check_name, oo_bool, split_oo, unknown_oo, Alloc, Format};
use virsh::{Pool, Virsh};

/// `-oc` when none is given (virt-v2v's `-o libvirt` as root).
pub const DEFAULT_URI: &str = "qemu:///system";
/// `-os` when none is given.
pub const DEFAULT_POOL: &str = "default";
/// `output.json` options naming the connection and pool for `final`.
pub const OPT_URI: &str = "libvirt_uri";
pub const OPT_POOL: &str = "libvirt_pool";

/// `setup`'s options, validated (and the connection checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub virsh: Virsh,
    pub pool: String,
    /// The pool's directory, as libvirt names it.
    pub pool_dir: PathBuf,
    pub format: Format,
    pub alloc: Alloc,
    /// `-oo compressed`: compressed qcow2 clusters.
    pub compressed: bool,
    /// `-on`, when given (else the source's name).
    pub name: Option<String>,
}

/// `-o libvirt`.
pub struct Libvirt;

impl OutputType for Libvirt {
    const NAME: &'static str = "libvirt";
    const PROG: &'static str = "helper-v2v-output-libvirt";
    const ABOUT: &'static str = "Output to libvirt: `setup` creates the volumes NAME-sdX in a \
        storage pool and serves them, `final` defines the domain";
    const SETUP: &'static str = "Create volume NAME-sdX in pool -os for every source disk, serve \
        them as DIR/outN, write DIR/output.json";
    const FINAL: &'static str =
        "Define the libvirt domain NAME from description.json and output.json";
    const OPTIONS: &'static str = "-o libvirt: -oc URI is the libvirt connection (default \
        qemu:///system); -os POOL the storage pool (default ‘default’; a directory pool, \
        type='dir', active, whose directory is local); -of raw|qcow2 (default raw); \
        -oa sparse|preallocated (default sparse); -on NAME; -oo compressed (with -of qcow2) \
        compresses the volumes.  The check \
        connects to libvirt (each virsh call bounded to 20 s) and refuses a missing pool, an \
        existing domain NAME and existing volumes NAME-sdX (when -on names the guest; the \
        runners check again with the source's name after the input step).";
    type Options = Options;

    fn validate(args: &OutputArgs) -> Result<Options> {
        validate(args)
    }

    fn setup(ctx: &Ctx, opts: Options) -> Result<()> {
        setup(ctx, &opts)
    }

    fn finalize(ctx: &Ctx) -> Result<()> {
        finalize(ctx)
    }
}

/// The options, then the connection: the URI answers, the pool is a
/// local directory pool and is active, and (with `-on`) no domain or
/// volume of that name exists.  Reads libvirt only.
fn validate(args: &OutputArgs) -> Result<Options> {
    let otype = Libvirt::NAME;
    let mut compressed = false;
    for o in &args.options {
        match split_oo(o) {
            ("compressed", v) => compressed = oo_bool(otype, "compressed", v)?,
            (k, _) => return Err(unknown_oo(otype, k)),
        }
    }
    let format = match args.format.as_deref() {
        None | Some("raw") => Format::Raw,
        Some("qcow2") => Format::Qcow2,
        Some(f) => {
            return Err(Failure::usage(format!(
                "-of {f}: -o libvirt writes raw or qcow2 volumes"
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
    if compressed && format != Format::Qcow2 {
        return Err(Failure::usage(
            "‘-oo compressed’ is only allowed when the output format is qcow2 (‘-of qcow2’)",
        ));
    }
    if let Some(n) = &args.name {
        check_name(n).map_err(|f| Failure::usage(format!("-on {n}: {}", f.message)))?;
    }
    let uri = args.conn.as_deref().unwrap_or(DEFAULT_URI);
    if uri.is_empty() {
        return Err(Failure::usage("-oc: empty libvirt URI"));
    }
    let pool = match &args.output_storage {
        None => DEFAULT_POOL.to_string(),
        Some(p) => p.to_string_lossy().into_owned(),
    };
    let virsh = Virsh::new(uri);
    virsh.connect()?;
    let pool_dir = check_pool(&virsh, &pool)?;
    let opts = Options {
        virsh,
        pool,
        pool_dir,
        format,
        alloc,
        compressed,
        name: args.name.clone(),
    };
    if let Some(n) = &opts.name {
        check_target_free(&opts, n)?;
    }
    Ok(opts)
}

/// Pool `name` on the connection must be an active directory pool whose
/// directory is here: returns that directory.
fn check_pool(virsh: &Virsh, name: &str) -> Result<PathBuf> {
    let uri = &virsh.uri;
    let Some(Pool { kind, path, .. }) = virsh.pool(name)? else {
        return Err(Failure::usage(format!(
            "-os {name}: libvirt {uri} has no storage pool ‘{name}’ (see `virsh -c {uri} pool-list --all`)"
        )));
    };
    if kind != "dir" {
        return Err(Failure::usage(format!(
            "-os {name}: storage pool ‘{name}’ on {uri} is of type ‘{kind}’: -o libvirt writes \
             to directory pools (type='dir') only"
        )));
    }
    let dir = match path {
        Some(p) if p.is_absolute() && p.is_dir() => p,
        _ => {
            return Err(Failure::usage(format!(
                "-os {name}: the directory of storage pool ‘{name}’ on {uri} is not a local \
                 directory here"
            )))
        }
    };
    if !virsh.pool_active(name)? {
        return Err(Failure::usage(format!(
            "-os {name}: storage pool ‘{name}’ on {uri} is not active (start it: `virsh -c {uri} \
             pool-start {name}`)"
        )));
    }
    Ok(dir)
}

/// Refuse an existing domain `name`, and any file `name-sdX` in the pool's
/// directory (a volume, or a file libvirt has not listed yet): virt-v2v
/// never overwrites.
fn check_target_free(opts: &Options, name: &str) -> Result<()> {
    let uri = &opts.virsh.uri;
    if opts.virsh.domains()?.iter().any(|d| d == name) {
        return Err(Failure::failed(format!(
            "a libvirt domain called ‘{name}’ already exists on {uri}: use -on to choose \
             another name, or remove it (`virsh -c {uri} undefine {name}`)"
        )));
    }
    let taken = volumes_named(&opts.pool_dir, name)
        .map_err(|e| Failure::failed(format!("{}: {e}", opts.pool_dir.display())))?;
    if let Some(v) = taken.first() {
        return Err(Failure::failed(format!(
            "volume ‘{v}’ already exists in storage pool ‘{}’ on {uri} ({}): refusing to \
             overwrite it (use -on to choose another name, or delete it: `virsh -c {uri} \
             vol-delete --pool {} {v}`)",
            opts.pool,
            opts.pool_dir.join(v).display(),
            opts.pool
        )));
    }
    Ok(())
}

/// The entries `NAME-sdX` (X: drive letters) of directory `dir`, sorted.
fn volumes_named(dir: &Path, name: &str) -> std::io::Result<Vec<String>> {
    let prefix = format!("{name}-sd");
    let mut v: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|f| {
            f.strip_prefix(&prefix)
                .is_some_and(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_lowercase()))
        })
        .collect();
    v.sort();
    Ok(v)
}

fn setup(ctx: &Ctx, opts: &Options) -> Result<()> {
    let md: MetadataIn = ctx.dir.read_metadata_in()?;
    let name = opts.name.as_deref().unwrap_or(&md.source.name).to_string();
    check_name(&name)?;
    let (virsh, pool) = (&opts.virsh, opts.pool.as_str());
    // libvirt's list of volumes may be out of date (a file removed by
    // helper-v2v-cleanup after a failed run): reread the directory first.
    virsh.pool_refresh(pool)?;
    check_target_free(opts, &name)?;
    let vols: Vec<String> = md
        .source
        .disks
        .iter()
        .map(|d| {
            v2v_meta::target_file_name(&name, d.index).ok_or_else(|| {
                Failure::contract("metadata.in: source disk with index 0 (disks count from 1)")
            })
        })
        .collect::<Result<_>>()?;
    // How v2v-output-kit serves a target file (only format and
    // compression matter to it).
    let serving = kit::LocalOptions {
        output_storage: opts.pool_dir.clone(),
        format: opts.format,
        alloc: opts.alloc,
        compressed: opts.compressed,
        create: true,
        name: Some(name.clone()),
    };
    let mut created: Vec<&str> = Vec::new();
    let mut disks: Vec<OutputDisk> = Vec::new();
    let result = (|| {
        for (d, vol) in md.source.disks.iter().zip(&vols) {
            let n = d.index;
            virsh
                .vol_create(
                    pool,
                    vol,
                    d.size,
                    opts.format.name(),
                    opts.alloc == Alloc::Preallocated,
                )
                .map_err(|f| {
                    f.context(format!("creating volume {vol} in pool {pool}"))
                        .disk(n)
                })?;
            created.push(vol);
            let path = virsh.vol_path(pool, vol).map_err(|f| f.disk(n))?;
            // The volume is the file cleanup may remove after a failed
            // run: OUTPUT_STORAGE/NAME-sdX (docs/contract.md).
            if path != opts.pool_dir.join(vol) {
                return Err(Failure::failed(format!(
                    "volume {vol} of pool {pool} is {}, not in the pool's directory {}",
                    path.display(),
                    opts.pool_dir.display()
                ))
                .disk(n));
            }
            disks.push(OutputDisk {
                index: n,
                socket: V2vDir::out_name(n),
                path: Some(path.display().to_string()),
                format: opts.format.name().into(),
                size: d.size,
                created: true,
            });
            v2v_meta::write_json(&ctx.dir.output_json(), &output_json(&name, opts, &disks))?;
            message!(
                "Creating output disk {n}: volume {vol} in pool {pool} ({})",
                opts.format.name()
            );
            kit::serve(ctx, n, &path, &serving).map_err(|f| f.disk(n))?;
        }
        Ok(())
    })();
    if let Err(f) = result {
        v2v_servers::stop_all(&ctx.dir);
        for vol in created {
            if let Err(e) = virsh.vol_delete(pool, vol) {
                warning!("cannot delete volume {vol} of pool {pool}: {e}");
            }
        }
        let _ = std::fs::remove_file(ctx.dir.output_json());
        return Err(f);
    }
    Ok(())
}

/// `output.json` for the volumes created so far.
fn output_json(name: &str, opts: &Options, disks: &[OutputDisk]) -> OutputJson {
    let mut options = BTreeMap::new();
    options.insert(
        OUTPUT_STORAGE.to_string(),
        opts.pool_dir.display().to_string(),
    );
    options.insert(OPT_URI.to_string(), opts.virsh.uri.clone());
    options.insert(OPT_POOL.to_string(), opts.pool.clone());
    OutputJson {
        version: CONTRACT_VERSION,
        output_type: Libvirt::NAME.into(),
        name: name.into(),
        disks: disks.to_vec(),
        target_is_zero: true,
        request_size: None,
        options,
    }
}

/// `final`: tell libvirt the volumes' new contents, then define the domain.
fn finalize(ctx: &Ctx) -> Result<()> {
    let oj = Libvirt::read_output_json(ctx)?;
    let opt = |k: &str| {
        oj.options.get(k).cloned().ok_or_else(|| {
            Failure::contract(format!(
                "{}: no options.{k}",
                ctx.dir.output_json().display()
            ))
        })
    };
    let virsh = Virsh::new(&opt(OPT_URI)?);
    let pool = opt(OPT_POOL)?;
    check_name(&oj.name).map_err(|f| {
        Failure::contract(format!("{}: name: {}", ctx.dir.output_json().display(), f))
    })?;
    if let Err(e) = virsh.pool_refresh(&pool) {
        warning!("could not refresh libvirt pool ‘{pool}’: {e}");
    }
    let desc = ctx.dir.read_description()?;
    let caps = virsh.capabilities()?;
    let Some(domain_type) = virsh::domain_type(&caps, &desc.arch) else {
        return Err(Failure::unsupported(format!(
            "libvirt {} runs no {} guests (neither kvm nor qemu in its capabilities)",
            virsh.uri, desc.arch
        )));
    };
    let xml = v2v_render::libvirt::domain(&desc, domain_type);
    helper_common::debug!("domain XML for {}:\n{xml}", virsh.uri);
    if virsh.domains()?.contains(&oj.name) {
        return Err(Failure::failed(format!(
            "a libvirt domain called ‘{}’ appeared on {} during the run: not replacing it",
            oj.name, virsh.uri
        )));
    }
    let scratch = ctx.dir.scratch_dir();
    v2v_servers::make_private_dir(&scratch)
        .map_err(|e| Failure::failed(format!("{}: {e}", scratch.display())))?;
    let mut file = tempfile::Builder::new()
        .prefix("domain.")
        .suffix(".xml")
        .tempfile_in(&scratch)
        .map_err(|e| Failure::failed(format!("{}: {e}", scratch.display())))?;
    std::io::Write::write_all(&mut file, xml.as_bytes())
        .map_err(|e| Failure::failed(format!("{}: {e}", file.path().display())))?;
    virsh.define(file.path()).map_err(|f| {
        f.context(format!(
            "defining domain {} on {} (its XML is in this step's log)",
            oj.name, virsh.uri
        ))
    })?;
    message!("Defined libvirt domain {} on {}", oj.name, virsh.uri);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_volume_names() {
        let t = tempfile::tempdir().unwrap();
        for f in [
            "g-sdb",
            "g-sda",
            "g-sd",
            "g-sdA",
            "g-sda.xml",
            "gg-sda",
            "h-sda",
        ] {
            std::fs::write(t.path().join(f), b"").unwrap();
        }
        std::fs::create_dir(t.path().join("g-sdaa")).unwrap();
        assert_eq!(
            volumes_named(t.path(), "g").unwrap(),
            ["g-sda", "g-sdaa", "g-sdb"]
        );
        assert!(volumes_named(t.path(), "x").unwrap().is_empty());
        assert!(volumes_named(&t.path().join("none"), "g").is_err());
    }
}
