//! `--key SELECTOR` and `--keys-from-stdin` (virt-v2v's LUKS options):
//! checked before anything starts (a bad selector, `clevis` or an
//! unreadable key file is a usage error), then given to
//! `helper-v2v-convert` on its stdin (`--key-selectors-from-stdin`), one
//! selector per line: no key is ever in a process's command line, a log or
//! the temporary directory.

use crate::args::Args;
use helper_common::keys::{self, KeySelector, Keys, Secret};
use std::io::Read;

/// The selectors of `--key`, then one `all:key:LINE` per line of `stdin`
/// with `--keys-from-stdin`, as the convert helper's stdin; `None`
/// without keys.
pub fn convert_stdin(args: &Args, stdin: &mut dyn Read) -> Result<Option<Secret>, String> {
    let mut selectors = Vec::new();
    for s in &args.guest.keys {
        selectors.push(KeySelector::parse(s)?);
    }
    if args.guest.keys_from_stdin {
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .map_err(|e| format!("--keys-from-stdin: reading stdin: {e}"))?;
        let text = Secret::new(text);
        selectors.extend(text.expose().lines().map(KeySelector::all_devices));
        if selectors.is_empty() {
            return Err("--keys-from-stdin: stdin holds no key (one key per line)".into());
        }
    }
    // Key files are read now, so that an unreadable one stops the run
    // before it starts.
    Keys::load(&selectors)?;
    Ok((!selectors.is_empty()).then(|| Secret::new(keys::to_lines(&selectors))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(a: &[&str]) -> Args {
        let argv = std::iter::once("virt-v2v")
            .chain(a.iter().copied())
            .map(std::ffi::OsString::from);
        Args::try_parse_from(helper_common::virt_v2v_args(argv)).unwrap()
    }

    #[test]
    fn keys_become_the_convert_helpers_stdin() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("k");
        std::fs::write(&f, "pw\n").unwrap();
        let file_sel = format!("all:file:{}", f.display());
        let a = args(&[
            "--key",
            "/dev/sda2:key:a b",
            "--key",
            &file_sel,
            "-i",
            "disk",
            "x",
        ]);
        let s = convert_stdin(&a, &mut std::io::empty()).unwrap().unwrap();
        assert_eq!(s.expose(), format!("/dev/sda2:key:a b\n{file_sel}\n"));
        let a = args(&["--keys-from-stdin", "--key", "u-1:key:k", "x"]);
        let s = convert_stdin(&a, &mut "one\ntwo:2\n".as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(s.expose(), "u-1:key:k\nall:key:one\nall:key:two:2\n");
        assert!(convert_stdin(&args(&["x"]), &mut std::io::empty())
            .unwrap()
            .is_none());
    }

    #[test]
    fn bad_keys_stop_the_run_without_showing_a_key() {
        for (a, says) in [
            (
                vec!["--key", "/dev/sda2:clevis"],
                "not supported by this build",
            ),
            (vec!["--key", "/dev/sda2:pw:secret1"], "invalid TYPE"),
            (vec!["--key", "all:file:/nonexistent/k"], "cannot read"),
            (vec!["--keys-from-stdin"], "stdin holds no key"),
        ] {
            let mut argv = a.clone();
            argv.push("x");
            let e = convert_stdin(&args(&argv), &mut std::io::empty()).unwrap_err();
            assert!(e.contains(says), "{a:?}: {e}");
            assert!(!e.contains("secret1"), "{e}");
        }
    }
}
