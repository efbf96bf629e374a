//! helper-v2v-copy: copies every source disk `DIR/inN` to its target
//! `DIR/outN` over NBD, or one source to one destination by hand
//! (`SRC DST`: NBD URIs, socket paths or local files), like nbdcopy.
//!
//! See `docs/helpers/helper-v2v-copy.md`.  The engine is in [`engine`], the
//! extent planning in [`plan`], progress reporting in [`progress`].

pub mod engine;
pub mod plan;
pub mod progress;
pub mod rate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use clap::Parser;
use helper_common::units::{parse_bps, parse_size};
use helper_common::{log, message, CommonArgs, Ctx, DirMode, Failure};
use v2v_meta::{exit_code, EventKind, MetadataIn, OutputJson, Step};

use engine::{CopyError, Disk, Endpoint, Options, Stats};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "helper-v2v-copy",
    version,
    about = "Copy every source disk DIR/inN to its target DIR/outN (or SRC to DST) over NBD",
    long_about = "Copy every source disk DIR/inN to its target DIR/outN over NBD: only allocated \
                  data is read, zero runs become zero requests (or nothing on a fresh target), \
                  several connections and many requests per disk, all disks at once.\n\n\
                  With two arguments, copy SRC to DST by hand (NBD URIs, socket paths or local \
                  files), without a temp directory."
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Copy at most N disks at once (default: all disks of the guest).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: Option<u32>,
    /// Bytes per read/write request (suffixes K, M: binary); default: the
    /// target's request_size in output.json, else 2M.
    #[arg(long = "request-size", value_name = "BYTES", value_parser = parse_request_size)]
    pub request_size: Option<u64>,
    /// The target reads as zeroes already (freshly created): never write
    /// zeroes to it.  Default: output.json target_is_zero.
    #[arg(long = "target-is-zero")]
    pub target_is_zero: bool,
    /// NBD connections per disk (default: when both servers advertise
    /// multi-conn, one per two CPUs, at most 4; else 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub connections: Option<u32>,
    /// Requests in flight per connection (default 64).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=1024))]
    pub requests: Option<u32>,
    /// Upper bound on data buffers in flight, all disks together (default
    /// 32M; suffixes K, M, G).
    #[arg(long = "queue-size", value_name = "BYTES", value_parser = parse_queue_size)]
    pub queue_size: Option<u64>,
    /// Pass 2 of an overlapped copy: copy only the extents the source's
    /// top image holds (`qemu:allocation-depth` 1: what the conversion
    /// wrote, zeroed or trimmed in its overlay; zeroes become zero
    /// requests) over a target that already holds the unconverted disk
    /// (pass 1, an ordinary copy).  The source must offer the context
    /// (`qemu-nbd --allocation-depth`), else exit 3.
    #[arg(long)]
    pub delta: bool,
    /// Read the sources at most BPS bits per second, all disks together
    /// (virt-v2v's flag: suffixes K, M, G binary, e.g. 100M; 0: no limit).
    #[arg(long, value_name = "BPS", value_parser = parse_bps)]
    pub bandwidth: Option<u64>,
    /// Take the limit from FILE (as --bandwidth), re-read every second
    /// while the copy runs; it replaces --bandwidth once read.
    #[arg(long = "bandwidth-file", value_name = "FILE")]
    pub bandwidth_file: Option<PathBuf>,
    /// DIR (the temp directory), or SRC DST.
    /// Print virt-v2v's text progress, which orchestrators parse:
    /// `bar` (the disks in turn, each `Copying disk N/M` then nbdcopy's
    /// `NN% [****----]` bar on stderr, also when it is not a terminal) or
    /// `machine` (the same on stdout as virt-v2v's --machine-readable run
    /// prints it: `N/100` lines).  Replaces the interactive bars.
    #[arg(long = "progress-lines", value_name = "bar|machine")]
    pub progress_lines: Option<progress::Lines>,
    #[arg(value_name = "DIR | SRC DST", num_args = 1..=2, required = true)]
    pub paths: Vec<String>,
}

fn parse_request_size(s: &str) -> Result<u64, String> {
    let n = parse_size(s)?;
    if !(512..=32 << 20).contains(&n) {
        return Err(format!("{s}: must be between 512 and 32M"));
    }
    Ok(n)
}

fn parse_queue_size(s: &str) -> Result<u64, String> {
    let n = parse_size(s)?;
    if n < 64 << 10 {
        return Err(format!("{s}: must be at least 64K"));
    }
    Ok(n)
}

impl Args {
    fn options(&self, out: Option<&OutputJson>) -> Options {
        let d = Options::default();
        Options {
            request_size: self.request_size.or(out.and_then(|o| o.request_size)),
            target_is_zero: self.target_is_zero || out.is_some_and(|o| o.target_is_zero),
            connections: self.connections.map(|c| c as usize),
            requests: self.requests.map_or(d.requests, |r| r as usize),
            queue_bytes: self.queue_size.unwrap_or(d.queue_bytes),
            parallel: self.parallel.map_or(d.parallel, |p| p as usize),
            delta: self.delta,
            rate: (self.bandwidth.is_some_and(|b| b > 0) || self.bandwidth_file.is_some()).then(
                || {
                    Arc::new(rate::Limiter::new(
                        self.bandwidth,
                        self.bandwidth_file.clone(),
                    ))
                },
            ),
        }
    }
}

/// Entry point of the binary.
pub fn main(args: &Args) -> ExitCode {
    const PROG: &str = "helper-v2v-copy";
    if args.progress_lines == Some(progress::Lines::Machine) {
        log::set_messages_to_stdout(true);
    }
    match args.paths.as_slice() {
        [dir] => helper_common::run(
            PROG,
            Step::Copy,
            Path::new(dir),
            DirMode::Existing,
            &args.common,
            |ctx| run_dir(ctx, args),
        ),
        [src, dst] => run_bare(PROG, &args.common, || run_pair(args, src, dst)),
        _ => unreachable!("clap allows 1 or 2 paths"),
    }
}

/// The disks of a temp directory: source `inN` (metadata.in) to target
/// `outN` (output.json), matched by index.
pub fn dir_disks(dir: &v2v_meta::V2vDir) -> helper_common::Result<(Vec<Disk>, OutputJson)> {
    // Both files are read, and every socket name in them checked, before
    // anything connects.
    let meta: MetadataIn = dir.read_metadata_in()?;
    let out: OutputJson = dir.read_output_json()?;
    let mut disks = Vec::new();
    for (i, s) in meta.source.disks.iter().enumerate() {
        let Some((j, t)) = out
            .disks
            .iter()
            .enumerate()
            .find(|(_, t)| t.index == s.index)
        else {
            return Err(Failure::contract(format!(
                "{}: no target disk for source disk {} (metadata.in lists {}, output.json {})",
                dir.output_json().display(),
                s.index,
                meta.source.disks.len(),
                out.disks.len()
            ))
            .disk(s.index));
        };
        let src = dir.source_socket(i, s)?;
        let dst = dir.target_socket(j, t)?;
        for p in [&src, &dst] {
            if !p.exists() {
                return Err(Failure::contract(format!(
                    "{}: socket missing (is its server running?)",
                    p.display()
                ))
                .disk(s.index));
            }
        }
        disks.push(Disk {
            index: s.index,
            src: Endpoint::Nbd(src.display().to_string()),
            dst: Endpoint::Nbd(dst.display().to_string()),
            src_name: s.socket.clone(),
            dst_name: t.socket.clone(),
        });
    }
    if disks.is_empty() {
        return Err(Failure::contract(format!(
            "{}: the source has no disks",
            dir.metadata_in().display()
        )));
    }
    Ok((disks, out))
}

/// `helper-v2v-copy DIR`.
pub fn run_dir(ctx: &Ctx, args: &Args) -> helper_common::Result<()> {
    let (disks, out) = dir_disks(&ctx.dir)?;
    let opts = args.options(Some(&out));
    copy(
        &disks,
        &opts,
        &ctx.common,
        ctx.progress_bar(),
        args.progress_lines,
    )
}

/// `helper-v2v-copy SRC DST`.
pub fn run_pair(args: &Args, src: &str, dst: &str) -> helper_common::Result<()> {
    let s = endpoint(src, false);
    let mut d = endpoint(dst, true);
    let mut created: Option<PathBuf> = None;
    if let Endpoint::File { path, .. } = &s {
        std::fs::metadata(path).map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
    }
    // A missing local destination is created, as large as the source.
    if !is_uri(dst) && !Path::new(dst).exists() {
        let size = s
            .connect()
            .and_then(|h| h.size())
            .map_err(|e| Failure::external(format!("{src}: {e}")))?;
        let f = std::fs::File::create(dst)
            .map_err(|e| Failure::failed(format!("{dst}: cannot create: {e}")))?;
        f.set_len(size)
            .map_err(|e| Failure::failed(format!("{dst}: cannot set size: {e}")))?;
        created = Some(PathBuf::from(dst));
        d = Endpoint::File {
            path: PathBuf::from(dst),
            write: true,
        };
    }
    let disk = Disk {
        index: 1,
        src: s,
        dst: d,
        src_name: src.to_string(),
        dst_name: dst.to_string(),
    };
    let use_bar = {
        use std::io::IsTerminal;
        !args.common.quiet && std::io::stderr().is_terminal()
    };
    let r = copy(
        &[disk],
        &args.options(None),
        &args.common,
        use_bar,
        args.progress_lines,
    );
    if r.is_err() {
        if let Some(p) = created {
            let _ = std::fs::remove_file(p);
        }
    }
    r
}

fn is_uri(s: &str) -> bool {
    s.starts_with("nbd") && s.contains("://")
}

/// An argument as an endpoint: an NBD URI, a Unix socket, or a local file.
pub fn endpoint(s: &str, write: bool) -> Endpoint {
    use std::os::unix::fs::FileTypeExt;
    if is_uri(s) {
        return Endpoint::Nbd(s.to_string());
    }
    match std::fs::metadata(s) {
        Ok(m) if m.file_type().is_socket() => Endpoint::Nbd(s.to_string()),
        _ => Endpoint::File {
            path: PathBuf::from(s),
            write,
        },
    }
}

fn to_failure(e: CopyError) -> Failure {
    let f = match e.code {
        exit_code::EXTERNAL => Failure::external(e.message),
        exit_code::CONTRACT => Failure::contract(e.message),
        _ => Failure::failed(e.message),
    };
    f.disk(e.disk)
}

/// Copy `disks` with progress, then report per disk.
fn copy(
    disks: &[Disk],
    opts: &Options,
    common: &CommonArgs,
    bars: bool,
    lines: Option<progress::Lines>,
) -> helper_common::Result<()> {
    let stats: Vec<Arc<Stats>> = disks
        .iter()
        .map(|d| Arc::new(Stats::new(d.index)))
        .collect();
    if opts.delta {
        message!("Copying what the conversion changed (pass 2, --delta)");
    }
    if lines.is_some() {
        // The progress lines announce each disk (`Copying disk N/M`).
    } else if disks.len() > 1 {
        message!(
            "Copying {} disks ({} at once)",
            disks.len(),
            opts.parallel.min(disks.len())
        );
    } else {
        message!(
            "Copying disk {} ({} -> {})",
            disks[0].index,
            disks[0].src_name,
            disks[0].dst_name
        );
    }
    let reporter = progress::Reporter::start(stats.clone(), bars, common.machine_readable, lines);
    let r = engine::copy_all(disks, opts, &stats);
    reporter.finish();
    r.map_err(to_failure)?;
    for s in &stats {
        let mib = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64 / 1048576.0;
        message!(
            "disk {}: {:.1} MiB copied, {:.1} MiB zeroed, {:.1} MiB skipped in {:.1} s",
            s.index,
            mib(&s.copied),
            mib(&s.zeroed),
            mib(&s.skipped),
            s.finished.get().copied().unwrap_or(0.0)
        );
    }
    Ok(())
}

/// Run a step without a temp directory (the `SRC DST` form): same logger,
/// events and last error line as [`helper_common::run`], no status files.
fn run_bare(
    program: &str,
    common: &CommonArgs,
    body: impl FnOnce() -> helper_common::Result<()>,
) -> ExitCode {
    common.init_log(program, Step::Copy);
    let start = std::time::Instant::now();
    log::event(EventKind::StepStarted);
    match body() {
        Ok(()) => {
            log::event(EventKind::StepFinished {
                seconds: start.elapsed().as_secs_f64(),
            });
            ExitCode::SUCCESS
        }
        Err(f) => {
            log::event(EventKind::Error {
                message: f.message.clone(),
                exit_code: f.code,
                disk: f.disk,
            });
            for (i, c) in f.causes.iter().enumerate() {
                eprintln!("  {}: {c}", i + 1);
            }
            let disk = f.disk.map(|n| format!("disk {n}: ")).unwrap_or_default();
            log::log(log::Level::Error, &format!("{disk}{}", f.message));
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_queue_sizes() {
        assert!(parse_request_size("100").is_err());
        assert!(parse_request_size("64M").is_err());
        assert_eq!(parse_request_size("4M"), Ok(4 << 20));
    }

    #[test]
    fn args_and_options() {
        let a = Args::parse_from(["c", "--parallel", "2", "--request-size", "1M", "/d"]);
        assert_eq!(a.paths, ["/d"]);
        let out = OutputJson {
            version: 1,
            output_type: "local".into(),
            name: "g".into(),
            disks: vec![],
            target_is_zero: true,
            request_size: Some(4 << 20),
            options: Default::default(),
        };
        let o = a.options(Some(&out));
        assert_eq!(
            (o.parallel, o.request_size, o.target_is_zero),
            (2, Some(1 << 20), true)
        );
        let a = Args::parse_from(["c", "nbd+unix:///?socket=/a", "/tmp/b"]);
        let o = a.options(None);
        assert_eq!(
            (o.request_size, o.target_is_zero, o.parallel),
            (None, false, usize::MAX)
        );
        assert!(Args::try_parse_from(["c", "a", "b", "c"]).is_err());
        assert!(Args::try_parse_from(["c"]).is_err());
        assert!(Args::try_parse_from(["c", "--parallel", "0", "d"]).is_err());
    }

    #[test]
    fn endpoints() {
        assert!(matches!(
            endpoint("nbd+unix:///?socket=/x", false),
            Endpoint::Nbd(_)
        ));
        assert!(matches!(
            endpoint("/nonexistent/file", true),
            Endpoint::File { write: true, .. }
        ));
    }
}
