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

/// virt-v2v's `--machine-readable` capability list: upstream's first
/// lines (`virt-v2v`, `virt-v2v-2.0`, `libguestfs-rewrite`), then each of
/// upstream's feature names whose option this build's parser has
/// (`options`: its long option names), then ours (`v2v-helpers`,
/// `contract:N`, `no-convert-option`), then `input:`/`output:` for each
/// helper installed and `convert:linux`, `convert:windows` with
/// helper-v2v-convert, and with helper-v2v-output-vdsm upstream's
/// `vdsm-compat-option`, `ovf:ovirt`, `ovf:ovirtexp`.  Upstream's names
/// for what this build lacks (`vcenter-https`, `xen-ssh`, `vddk`,
/// `collect-option`) are not printed: callers such as VDSM choose their
/// command line by them.
pub fn capabilities(dirs: &[PathBuf], options: &[String]) -> Vec<String> {
    let has = |o: &str| options.iter().any(|x| x == o);
    let mut v: Vec<String> = ["virt-v2v", "virt-v2v-2.0", "libguestfs-rewrite"]
        .map(String::from)
        .to_vec();
    // (feature, the options that make it), in upstream's order.
    let features: [(&str, &[&str]); 7] = [
        ("colours-option", &["colours"]),
        ("io/oo", &["io", "oo"]),
        ("mac-option", &["mac"]),
        ("parallel-option", &["parallel"]),
        (
            "customize-ops",
            &["hostname", "firstboot", "run", "run-command", "upload"],
        ),
        ("block-driver-option", &["block-driver"]),
        ("no-convert-option", &["no-convert"]),
    ];
    for (name, opts) in features {
        if opts.iter().all(|o| has(o)) {
            v.push(name.to_string());
        }
    }
    v.push("v2v-helpers".to_string());
    v.push(format!("contract:{}", v2v_meta::CONTRACT_VERSION));
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
    // -o vdsm's: VDSM passes -oo vdsm-compat only when it sees this name.
    if find_in(dirs, "helper-v2v-output-vdsm").is_some() {
        v.extend(["vdsm-compat-option", "ovf:ovirt", "ovf:ovirtexp"].map(String::from));
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
        let opts: Vec<String> = ["mac", "io", "oo", "parallel", "no-convert", "colours"]
            .map(String::from)
            .to_vec();
        let caps = capabilities(&dirs, &opts);
        assert_eq!(
            caps[..3],
            ["virt-v2v", "virt-v2v-2.0", "libguestfs-rewrite"]
        );
        for c in ["colours-option", "io/oo", "mac-option", "parallel-option"] {
            assert!(caps.contains(&c.to_string()), "{c}");
        }
        // Only what the parser has.
        assert!(!caps
            .iter()
            .any(|c| c == "customize-ops" || c == "block-driver-option"));
        assert!(caps.contains(&"input:disk".to_string()));
        assert!(caps.contains(&"input:mine".to_string()));
        assert!(caps.contains(&"output:null".to_string()));
        assert!(!caps
            .iter()
            .any(|c| c.starts_with("output:local") || c.contains(".d")));
        assert!(!caps.contains(&"convert:linux".to_string()));
        exe(&b.path().join("helper-v2v-convert"));
        assert!(capabilities(&dirs, &opts).contains(&"convert:linux".to_string()));
        // VDSM's names come with -o vdsm only.
        assert!(!caps
            .iter()
            .any(|c| c.contains("vdsm") || c.starts_with("ovf:")));
        exe(&b.path().join("helper-v2v-output-vdsm"));
        let caps = capabilities(&dirs, &opts);
        for c in [
            "output:vdsm",
            "vdsm-compat-option",
            "ovf:ovirt",
            "ovf:ovirtexp",
        ] {
            assert!(caps.contains(&c.to_string()), "{c}");
        }
    }
}
