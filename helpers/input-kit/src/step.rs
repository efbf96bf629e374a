//! Running an input helper: with `--check`, only the helper's validation
//! function, with no side effect at all (`DIR` is neither created nor
//! touched, no log or status file, no server); otherwise the input step
//! through [`helper_common::run`], whose body starts with the same
//! validation function, so the check and the step never disagree.
//! See "Checking options first" in docs/contract.md.

use helper_common::{CommonArgs, Ctx, DirMode, Failure, Result};
use std::path::Path;
use std::process::ExitCode;
use v2v_meta::Step;

/// Parse the process's arguments (virt-v2v's one-dash `-if` spellings
/// included).  A usage error exits 2 after clap's message and a last line
/// `PROGRAM: error: MESSAGE` naming the argument, as every other failure
/// of the step or of `--check` ends; `--help` and `--version` exit 0.
pub fn parse_args<A: clap::Parser>(program: &str) -> A {
    helper_common::parse_args(program, std::env::args_os()).unwrap_or_else(|code| {
        let usage = i32::from(v2v_meta::exit_code::USAGE);
        std::process::exit(if code == ExitCode::SUCCESS { 0 } else { usage })
    })
}

/// The `main` of an input helper: `check` alone when `check_only`
/// (`--check`), else the input step `step` (which calls `check` first).
pub fn run_input(
    program: &str,
    dir: &Path,
    common: &CommonArgs,
    check_only: bool,
    check: impl FnOnce() -> Result<()>,
    step: impl FnOnce(&Ctx) -> Result<()>,
) -> ExitCode {
    if check_only {
        run_check(program, dir, check)
    } else {
        helper_common::run(program, Step::Input, dir, DirMode::Create, common, step)
    }
}

/// Run `check` (and check that `dir` could be used) with no side effect:
/// exit 0, or the failure's exit code after the last stderr line
/// `PROGRAM: error: MESSAGE`, as the step would print it.
pub fn run_check(program: &str, dir: &Path, check: impl FnOnce() -> Result<()>) -> ExitCode {
    helper_common::check_only(program, Step::Input, || {
        check_dir(dir).and_then(|()| check())
    })
}

/// The input step creates `dir` if missing: an existing `dir` must be a
/// directory we can write into (exit 3 otherwise, as the step would).
pub fn check_dir(dir: &Path) -> Result<()> {
    use nix::unistd::{access, AccessFlags};
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::contract(format!("{shown}: {e}"))),
        Ok(m) if !m.is_dir() => Err(Failure::contract(format!(
            "{shown}: exists and is not a directory"
        ))),
        Ok(_) => access(dir, AccessFlags::W_OK | AccessFlags::X_OK)
            .map_err(|e| Failure::contract(format!("{shown}: cannot write into it: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_checks() {
        let t = tempfile::tempdir().unwrap();
        assert!(check_dir(t.path()).is_ok());
        assert!(check_dir(&t.path().join("new/deeper")).is_ok());
        let f = t.path().join("file");
        std::fs::write(&f, "").unwrap();
        let e = check_dir(&f).unwrap_err();
        assert_eq!(e.code, 3);
        assert!(e.message.contains("not a directory"), "{}", e.message);
        // Nothing was created.
        assert!(!t.path().join("new").exists());
    }
}
