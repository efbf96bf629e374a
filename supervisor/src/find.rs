//! Finding helper programs, as git finds `git-NAME`: first next to the
//! `virt-v2v` executable, then on `PATH`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Directories searched for helpers, in order: the directory holding this
/// executable, then each `PATH` entry.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(d);
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path).filter(|d| !d.as_os_str().is_empty()));
    }
    dirs
}

fn is_executable(p: &Path) -> bool {
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first executable called `name` in `dirs`.
pub fn find_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

/// The helper program `helper-v2v-<what>` (e.g. `input-disk`, `copy`).
pub fn helper(what: &str) -> Option<PathBuf> {
    find_in(&search_dirs(), &format!("helper-v2v-{what}"))
}

/// Every `NAME` for which an executable `helper-v2v-<kind>-NAME` exists in
/// `dirs` (kind = `input` or `output`), sorted.
pub fn types_in(dirs: &[PathBuf], kind: &str) -> BTreeSet<String> {
    let prefix = format!("helper-v2v-{kind}-");
    let mut set = BTreeSet::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        for e in rd.flatten() {
            let name: OsString = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(t) = name.strip_prefix(&prefix) else {
                continue;
            };
            // Skip cargo's `.d` files and editor backups.
            if t.is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                continue;
            }
            if is_executable(&e.path()) {
                set.insert(t.to_string());
            }
        }
    }
    set
}

/// virt-v2v's `--machine-readable` capability list, built from the helpers
/// that are installed.
pub fn capabilities(dirs: &[PathBuf]) -> Vec<String> {
    let mut v = vec![
        "virt-v2v-2.0".to_string(),
        "v2v-helpers".to_string(),
        format!("contract:{}", v2v_meta::CONTRACT_VERSION),
        "parallel-option".to_string(),
        "no-convert-option".to_string(),
        "mac-option".to_string(),
    ];
    v.extend(
        types_in(dirs, "input")
            .into_iter()
            .map(|t| format!("input:{t}")),
    );
    v.extend(
        types_in(dirs, "output")
            .into_iter()
            .map(|t| format!("output:{t}")),
    );
    if find_in(dirs, "helper-v2v-convert").is_some() {
        v.push("convert:linux".to_string());
        v.push("convert:windows".to_string());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn exe(p: &Path) {
        fs::write(p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn finds_first_and_lists_types() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        exe(&a.path().join("helper-v2v-input-disk"));
        exe(&b.path().join("helper-v2v-input-disk"));
        exe(&b.path().join("helper-v2v-input-mine"));
        exe(&b.path().join("helper-v2v-output-null"));
        // not executable, or not a type name: ignored
        fs::write(b.path().join("helper-v2v-output-local"), "").unwrap();
        exe(&b.path().join("helper-v2v-output-x.d"));
        let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(
            find_in(&dirs, "helper-v2v-input-disk"),
            Some(a.path().join("helper-v2v-input-disk"))
        );
        assert_eq!(find_in(&dirs, "helper-v2v-output-local"), None);
        let caps = capabilities(&dirs);
        assert_eq!(caps[0], "virt-v2v-2.0");
        assert!(caps.contains(&"input:disk".to_string()));
        assert!(caps.contains(&"input:mine".to_string()));
        assert!(caps.contains(&"output:null".to_string()));
        assert!(!caps
            .iter()
            .any(|c| c.starts_with("output:local") || c.contains(".d")));
        assert!(!caps.contains(&"convert:linux".to_string()));
        exe(&b.path().join("helper-v2v-convert"));
        assert!(capabilities(&dirs).contains(&"convert:linux".to_string()));
    }
}
