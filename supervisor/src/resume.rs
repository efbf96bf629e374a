//! `--resume DIR`: which steps of a kept run directory are left to do.
//!
//! A run directory can be resumed when it is ours (it has `log/` and
//! `status/`, every status file is a contract-version-1 `<step>.done` or
//! `<step>.error.json`), the run did not finish (no
//! `status/output-final.done`) and nothing runs on it any more.  A finished
//! conversion (`status/convert.done`) is never redone: its disks must have
//! been kept (`kept/inN.qcow2`, by `helper-v2v-cleanup --keep-conversion`),
//! and are served again by `helper-v2v-resume`.  Every other step is run
//! again from the input step or, after a kept conversion, from the output
//! setup: the servers a finished input or output setup started are gone,
//! and so is the partial target.  See docs/reliability.md.

use std::fs;
use std::path::Path;
use v2v_meta::{exit_code, Step, StepDone, StepError, V2vDir};

/// A run directory that can be resumed.
#[derive(Debug)]
pub struct Resume {
    pub dir: V2vDir,
    /// The conversion finished and was kept: go on from the output setup.
    pub converted: bool,
}

/// Why a directory cannot be resumed: the exit code (2: finished or in
/// use; 3: not a run directory of ours, another contract version, a
/// missing or broken file) and the message.
pub type Refusal = (u8, String);

/// Check `path` and say where a resumed run starts.
pub fn assess(path: &Path) -> Result<Resume, Refusal> {
    let shown = path.display();
    let usage = |m: String| (exit_code::USAGE, format!("--resume {shown}: {m}"));
    let contract = |m: String| (exit_code::CONTRACT, format!("--resume {shown}: {m}"));
    if !path.is_dir() {
        return Err(usage("not a directory".into()));
    }
    let dir = V2vDir::new(helper_common::absolute(path));
    if !dir.status_dir().is_dir() || !dir.log_dir().is_dir() {
        return Err(contract(
            "not a run directory of virt-v2v (it has no status/ and log/)".into(),
        ));
    }
    let entries = fs::read_dir(dir.status_dir()).map_err(|e| contract(e.to_string()))?;
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let checked = if let Some(step) = name.strip_suffix(".done") {
            Step::from_name(step)
                .map(|_| v2v_meta::read_json::<StepDone>(&p).map(drop))
                .ok_or(())
        } else if let Some(step) = name.strip_suffix(".error.json") {
            Step::from_name(step)
                .map(|_| v2v_meta::read_json::<StepError>(&p).map(drop))
                .ok_or(())
        } else {
            Err(())
        };
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(contract(e.to_string())),
            Err(()) => {
                return Err(contract(format!(
                    "status/{name}: not a status file of the v2v helpers"
                )))
            }
        }
    }
    if dir.done_file(Step::OutputFinal).exists() {
        return Err(usage(
            "the run finished (status/output-final.done): nothing to resume".into(),
        ));
    }
    let root = dir.root().to_string_lossy().into_owned();
    for pf in dir.pidfiles().unwrap_or_default() {
        let Some(pid) = v2v_servers::read_pidfile(&pf) else {
            continue;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if v2v_servers::alive(pid) && String::from_utf8_lossy(&cmdline).contains(&root) {
            return Err(usage(format!(
                "in use: {} names pid {pid}, still running",
                pf.display()
            )));
        }
    }
    let converted = dir.done_file(Step::Convert).exists();
    if converted {
        let meta = dir
            .read_metadata_in()
            .map_err(|e| contract(e.to_string()))?;
        for d in &meta.source.disks {
            let kept = dir.kept(d.index);
            if !kept.is_file() {
                return Err(contract(format!(
                    "the conversion finished but disk {} was not kept ({} is missing): \
                     only a run kept with --keep-tmpdir goes on without converting again",
                    d.index,
                    kept.display()
                )));
            }
        }
    }
    Ok(Resume { dir, converted })
}

/// Forget what the steps to run again left: their status files, the
/// output's `output.json` and, when starting from the input step, the
/// input's and the conversion's files.
pub fn reset(r: &Resume) {
    let dir = &r.dir;
    for step in Step::ALL {
        if r.converted && matches!(step, Step::Convert) {
            continue;
        }
        let _ = fs::remove_file(dir.done_file(step));
        let _ = fs::remove_file(dir.error_file(step));
    }
    let _ = fs::remove_file(dir.output_json());
    if !r.converted {
        let _ = fs::remove_file(dir.metadata_in());
        let _ = fs::remove_file(dir.metadata_out());
        let _ = fs::remove_dir_all(dir.kept_dir());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use v2v_meta::CONTRACT_VERSION;

    fn done(dir: &V2vDir, step: Step) {
        let d = StepDone {
            version: CONTRACT_VERSION,
            step,
            seconds: 1.0,
        };
        v2v_meta::write_json(&dir.done_file(step), &d).unwrap();
    }

    #[test]
    fn refusals_and_starting_points() {
        let t = tempfile::tempdir().unwrap();
        let code = |p: &Path| assess(p).map(|r| r.converted).map_err(|e| e.0);
        assert_eq!(code(&t.path().join("nope")), Err(2));
        let plain = t.path().join("plain");
        fs::create_dir(&plain).unwrap();
        assert_eq!(code(&plain), Err(3));

        let dir = V2vDir::create(t.path().join("run")).unwrap();
        fs::create_dir_all(dir.log_dir()).unwrap();
        assert_eq!(code(dir.root()), Ok(false));
        done(&dir, Step::Input);
        assert_eq!(code(dir.root()), Ok(false));
        // Converted, but nothing kept: refused, never converted again.
        done(&dir, Step::Convert);
        fs::write(
            dir.metadata_in(),
            r#"{"version": 1, "source": {"name": "g",
                "origin": {"input_type": "disk", "location": []},
                "memory_bytes": 1073741824, "vcpus": 1,
                "disks": [{"index": 1, "socket": "in1", "format": "raw",
                           "size": 1048576, "source": "g.img"}]}}"#,
        )
        .unwrap();
        let e = assess(dir.root()).unwrap_err();
        assert_eq!(e.0, 3);
        assert!(e.1.contains("was not kept"), "{}", e.1);
        fs::create_dir_all(dir.kept_dir()).unwrap();
        let meta = dir.read_metadata_in().unwrap();
        for d in &meta.source.disks {
            fs::write(dir.kept(d.index), "x").unwrap();
        }
        assert_eq!(code(dir.root()), Ok(true));
        // Another contract version, or a stranger in status/.
        fs::write(dir.error_file(Step::Copy), r#"{"version": 2}"#).unwrap();
        let e = assess(dir.root()).unwrap_err();
        assert_eq!(e.0, 3);
        assert!(e.1.contains("version 2"), "{}", e.1);
        fs::remove_file(dir.error_file(Step::Copy)).unwrap();
        fs::write(dir.status_dir().join("notes.txt"), "").unwrap();
        assert_eq!(code(dir.root()), Err(3));
        fs::remove_file(dir.status_dir().join("notes.txt")).unwrap();
        // Finished.
        done(&dir, Step::OutputFinal);
        let e = assess(dir.root()).unwrap_err();
        assert_eq!(e.0, 2);
        assert!(e.1.contains("nothing to resume"), "{}", e.1);
    }

    #[test]
    fn reset_keeps_a_kept_conversion() {
        let t = tempfile::tempdir().unwrap();
        let dir = V2vDir::create(t.path().join("run")).unwrap();
        for s in [Step::Input, Step::Convert, Step::OutputSetup] {
            done(&dir, s);
        }
        fs::write(dir.output_json(), "{}").unwrap();
        reset(&Resume {
            dir: dir.clone(),
            converted: true,
        });
        assert!(dir.done_file(Step::Convert).exists());
        assert!(!dir.done_file(Step::Input).exists());
        assert!(!dir.done_file(Step::OutputSetup).exists());
        assert!(!dir.output_json().exists());
    }
}
