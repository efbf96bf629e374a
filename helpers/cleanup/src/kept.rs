//! Keeping a finished conversion for `--resume`, and serving it again.
//!
//! When a run fails after `helper-v2v-convert` finished, the converted
//! disks live only in the input's copy-on-write overlays, which die with
//! the input servers.  [`keep`] (helper-v2v-cleanup `--keep-conversion`)
//! reads each `inN` before the servers are stopped and writes it, sparse,
//! to `DIR/kept/inN.qcow2`, a standalone image (no backing file: it does
//! not depend on the source staying unchanged).  [`serve`]
//! (helper-v2v-resume) serves those files read-only as `inN` again, so a
//! resumed run goes on from the output setup without converting again.

use helper_common::{message, Ctx, Failure, Result};
use std::path::Path;
use v2v_meta::{MetadataIn, Step, V2vDir};
use v2v_servers::{start, QemuNbd};

/// Whether the conversion finished (`status/convert.done`).
pub fn converted(dir: &V2vDir) -> bool {
    dir.done_file(Step::Convert).exists()
}

/// `json:` filename for qemu-img: the raw guest data served on `socket`.
fn nbd_source(socket: &Path) -> String {
    let v = serde_json::json!({
        "driver": "raw",
        "file": { "driver": "nbd", "server": { "type": "unix", "path": socket } }
    });
    format!("json:{v}")
}

/// Write every converted disk, still served as `inN`, to `kept/inN.qcow2`
/// (a disk already kept there, e.g. served from it by a resumed run, is
/// left as it is).  Call it before the servers stop; a no-op when the
/// conversion did not finish.  Returns how many disks were written.
pub fn keep(dir: &V2vDir) -> Result<usize> {
    if !converted(dir) {
        return Ok(0);
    }
    let meta: MetadataIn = dir.read_metadata_in()?;
    std::fs::create_dir_all(dir.kept_dir())?;
    let mut n = 0;
    for (i, d) in meta.source.disks.iter().enumerate() {
        let kept = dir.kept(d.index);
        if kept.exists() {
            continue;
        }
        let socket = dir.source_socket(i, d)?;
        let part = kept.with_extension("qcow2.part");
        let _ = std::fs::remove_file(&part);
        let args = [
            "convert".into(),
            "-q".into(),
            "-f".into(),
            "raw".into(),
            "-O".into(),
            "qcow2".into(),
            nbd_source(&socket),
            part.display().to_string(),
        ];
        if let Err(f) = helper_common::run_cmd("qemu-img", &args) {
            let _ = std::fs::remove_file(&part);
            return Err(f.context("keeping the conversion").disk(d.index));
        }
        std::fs::rename(&part, &kept)?;
        message!("Kept converted disk {} as {}", d.index, kept.display());
        n += 1;
    }
    Ok(n)
}

/// Serve each kept converted disk `kept/inN.qcow2` read-only as `inN`
/// (qemu-nbd, `run/inN.pid`, owned by the run's owner).  A contract error
/// (exit 3) when the conversion did not finish or a disk was not kept.
pub fn serve(ctx: &Ctx) -> Result<()> {
    let dir = &ctx.dir;
    if !converted(dir) {
        return Err(Failure::contract(format!(
            "{}: missing: the conversion did not finish, there is nothing kept to serve",
            dir.done_file(Step::Convert).display()
        )));
    }
    let meta: MetadataIn = dir.read_metadata_in()?;
    for d in &meta.source.disks {
        let kept = dir.kept(d.index);
        if !kept.is_file() {
            return Err(Failure::contract(format!(
                "{}: missing: the converted disk was not kept (keep it with helper-v2v-cleanup --keep-conversion)",
                kept.display()
            ))
            .disk(d.index));
        }
    }
    for d in &meta.source.disks {
        let name = V2vDir::in_name(d.index);
        let spec = QemuNbd::new(dir.kept(d.index), "qcow2").readonly(true);
        start(dir, ctx.step, &name, &spec, ctx.owner()).map_err(|f| f.disk(d.index))?;
        message!(
            "Serving converted disk {} from {}",
            d.index,
            dir.kept(d.index).display()
        );
    }
    Ok(())
}
