//! The step gate between one run and the batch, through files in
//! `BATCHDIR/guests/NAME/gate/`.
//!
//! Each run gets `virt-v2v --step-gate 'exec virt-v2v-batch gate GUESTDIR'`,
//! so before each step `virt-v2v` runs `virt-v2v-batch gate GUESTDIR STEP
//! DIR` ([`wait`]).  For a step that takes a slot (`convert`: an appliance;
//! `copy`: a copy stream) it writes `gate/STEP.wait` and returns once the
//! batch has replaced it with `gate/STEP.go` ([`open`]); other steps pass at
//! once.  The batch frees the slot when it reads the step's `step-finished`
//! or `error` event, or when the run ends.  The gate gives up (exit 1) when
//! the batch (`V2V_BATCH_PID`) or its parent is gone, so it never outlives
//! either.

use nix::sys::signal::kill;
use nix::unistd::{getppid, Pid};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable naming the batch's pid, for the gate.
pub const BATCH_PID_ENV: &str = "V2V_BATCH_PID";

/// The limit a step takes a slot of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `--max-appliances`: the `convert` step.
    Appliance,
    /// `--max-copies`: the `copy` step.
    Copy,
}

/// The slot `step` needs, if any.
pub fn slot_of(step: &str) -> Option<Slot> {
    match step {
        "convert" => Some(Slot::Appliance),
        "copy" => Some(Slot::Copy),
        _ => None,
    }
}

/// `GUESTDIR/gate`.
pub fn gate_dir(guest_dir: &Path) -> PathBuf {
    guest_dir.join("gate")
}

fn gate_file(guest_dir: &Path, step: &str, ext: &str) -> PathBuf {
    gate_dir(guest_dir).join(format!("{step}.{ext}"))
}

/// Write `path` through `path.tmp` and a rename, so the reader never sees
/// it half written.
pub(crate) fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)
}

/// The run's side: wait until the batch opens the gate for `step`.
pub fn wait(guest_dir: &Path, step: &str) -> Result<(), String> {
    if slot_of(step).is_none() {
        return Ok(());
    }
    let batch = std::env::var(BATCH_PID_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
        .ok_or_else(|| format!("{BATCH_PID_ENV} is not set: run by virt-v2v-batch only"))?;
    let parent = getppid();
    let go = gate_file(guest_dir, step, "go");
    let waiting = gate_file(guest_dir, step, "wait");
    write_atomic(&waiting, &format!("{}\n", std::process::id()))
        .map_err(|e| format!("{}: {e}", waiting.display()))?;
    loop {
        if go.exists() {
            let _ = fs::remove_file(&go);
            return Ok(());
        }
        if kill(Pid::from_raw(batch), None).is_err() {
            return Err(format!("{step}: the batch (pid {batch}) is gone"));
        }
        if getppid() != parent {
            return Err(format!("{step}: the run that asked is gone"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The batch's side: the step a run waits to start, if any.
pub fn waiting(guest_dir: &Path) -> Option<String> {
    fs::read_dir(gate_dir(guest_dir))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .find_map(|n| n.strip_suffix(".wait").map(str::to_string))
}

/// The batch's side: let the run start `step`.
pub fn open(guest_dir: &Path, step: &str) -> io::Result<()> {
    fs::remove_file(gate_file(guest_dir, step, "wait"))?;
    write_atomic(&gate_file(guest_dir, step, "go"), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gated_step_waits_until_opened() {
        let t = tempfile::tempdir().unwrap();
        let g = t.path().to_path_buf();
        fs::create_dir(gate_dir(&g)).unwrap();
        std::env::set_var(BATCH_PID_ENV, std::process::id().to_string());
        // Not gated: passes at once, writes nothing.
        wait(&g, "input").unwrap();
        assert_eq!(waiting(&g), None);
        let g2 = g.clone();
        let run = std::thread::spawn(move || wait(&g2, "convert"));
        let t0 = std::time::Instant::now();
        while waiting(&g).is_none() {
            assert!(t0.elapsed() < Duration::from_secs(5), "no wait file");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(waiting(&g).as_deref(), Some("convert"));
        std::thread::sleep(Duration::from_millis(200));
        assert!(!run.is_finished(), "the gate opened by itself");
        open(&g, "convert").unwrap();
        run.join().unwrap().unwrap();
        assert_eq!(waiting(&g), None);
        assert_eq!(fs::read_dir(gate_dir(&g)).unwrap().count(), 0);
    }
}
