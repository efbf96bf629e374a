//! virtio-win: where the drivers are looked for, and which of its files
//! suit a guest (by Windows version and architecture).

use std::path::{Path, PathBuf};

/// Where virtio-win is: `VIRTIO_WIN` (or its old name `VIRTIO_WIN_DIR`),
/// else `/usr/share/virtio-win/virtio-win.iso` when it exists, else
/// `/usr/share/virtio-win`.
pub fn locate(env: impl Fn(&str) -> Option<String>, datadir: &Path) -> PathBuf {
    if let Some(p) = env("VIRTIO_WIN").or_else(|| env("VIRTIO_WIN_DIR")) {
        return PathBuf::from(p);
    }
    let iso = datadir.join("virtio-win/virtio-win.iso");
    if iso.exists() {
        iso
    } else {
        datadir.join("virtio-win")
    }
}

/// The virtio-win directory name for an osinfo id (`win2k22` -> `2k22`).
pub fn os_dir(osinfo: &str) -> Option<&'static str> {
    Some(match osinfo {
        "winxp" => "xp",
        "win2k3" | "win2k3r2" => "2k3",
        "win2k8" | "winvista" => "2k8",
        "win7" => "w7",
        "win2k8r2" => "2k8r2",
        "win8" => "w8",
        "win2k12" => "2k12",
        "win8.1" => "w8.1",
        "win2k12r2" => "2k12r2",
        "win10" => "w10",
        "win11" => "w11",
        "win2k16" => "2k16",
        "win2k19" => "2k19",
        "win2k22" => "2k22",
        "win2k25" => "2k25",
        _ => return None,
    })
}

/// Does the file at `path` (relative to the virtio-win root, either
/// layout: `viostor/2k22/amd64/viostor.sys` on the ISO,
/// `drivers/by-os/amd64/2k22/viostor.sys` in /usr/share/virtio-win) suit
/// a guest of this `arch` and `osinfo`?  Debug symbols (`.pdb`) and the
/// SR-IOV files (which conflict with netkvm) never do.
pub fn matches_guest(path: &str, arch: &str, osinfo: &str) -> bool {
    let lc = path.trim_start_matches("./").to_ascii_lowercase();
    let elems: Vec<&str> = lc.split('/').collect();
    let dirs = &elems[..elems.len().saturating_sub(1)];
    let has = |e: &str| dirs.contains(&e);
    let p_arch = if has("x86") || has("i386") {
        "i386"
    } else if has("amd64") {
        "x86_64"
    } else {
        return false;
    };
    // The first OS directory in the path decides, as upstream checks them
    // in a fixed order.
    const ORDER: [&str; 15] = [
        "xp", "2k3", "2k8", "w7", "2k8r2", "w8", "2k12", "w8.1", "2k12r2", "w10", "w11", "2k16",
        "2k19", "2k22", "2k25",
    ];
    let Some(dir) = ORDER.iter().find(|d| has(d)) else {
        return false;
    };
    let sriov = lc.contains("vioprot.") || has("sriov");
    arch == p_arch && !sriov && !lc.ends_with(".pdb") && os_dir(osinfo) == Some(dir)
}

/// The QEMU guest agent installer for the guest's architecture?
pub fn is_qemu_ga(path: &str, arch: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    matches!(
        (arch, name.as_str()),
        (
            "i386",
            "qemu-ga-x86.msi" | "qemu-ga-i386.msi" | "rhev-qga.msi"
        ) | (
            "x86_64",
            "qemu-ga-x64.msi" | "qemu-ga-x86_64.msi" | "rhev-qga64.msi"
        )
    )
}

/// Every regular file below `dir` (following symlinks), relative, sorted.
pub fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(base: &Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
        let mut entries: Vec<_> =
            std::fs::read_dir(base.join(rel))?.collect::<std::io::Result<Vec<_>>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let md = std::fs::metadata(base.join(&r))?;
            if md.is_dir() {
                walk(base, &r, out)?;
            } else if md.is_file() {
                out.push(r);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_order() {
        let t = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        assert_eq!(locate(none, t.path()), t.path().join("virtio-win"));
        std::fs::create_dir_all(t.path().join("virtio-win")).unwrap();
        std::fs::write(t.path().join("virtio-win/virtio-win.iso"), b"").unwrap();
        assert_eq!(
            locate(none, t.path()),
            t.path().join("virtio-win/virtio-win.iso")
        );
        let old = |k: &str| (k == "VIRTIO_WIN_DIR").then(|| "/old".to_string());
        assert_eq!(locate(old, t.path()), PathBuf::from("/old"));
        let both = |k: &str| Some(format!("/{k}"));
        assert_eq!(locate(both, t.path()), PathBuf::from("/VIRTIO_WIN"));
    }

    #[test]
    fn drivers_chosen_by_version_and_arch() {
        let m = |p: &str, a: &str, o: &str| matches_guest(p, a, o);
        assert!(m("viostor/2k22/amd64/viostor.sys", "x86_64", "win2k22"));
        assert!(m("./NetKVM/2K22/AMD64/netkvm.inf", "x86_64", "win2k22"));
        assert!(m("drivers/by-os/amd64/w10/netkvm.cat", "x86_64", "win10"));
        assert!(m("viostor/w7/x86/viostor.sys", "i386", "win7"));
        // Decoys.
        assert!(!m("viostor/2k22/amd64/viostor.pdb", "x86_64", "win2k22"));
        assert!(!m("viostor/2k19/amd64/viostor.sys", "x86_64", "win2k22"));
        assert!(!m("viostor/2k22/x86/viostor.sys", "x86_64", "win2k22"));
        assert!(!m("NetKVM/2k22/amd64/vioprot.inf", "x86_64", "win2k22"));
        assert!(!m("sriov/2k22/amd64/vfnet.inf", "x86_64", "win2k22"));
        assert!(!m("virtio-win-guest-tools.exe", "x86_64", "win2k22"));
        assert!(!m("guest-agent/qemu-ga-x86_64.msi", "x86_64", "win2k22"));
        // 2k8r2 is not 2k8; w8.1 is not w8.
        assert!(m("viostor/2k8r2/amd64/viostor.sys", "x86_64", "win2k8r2"));
        assert!(!m("viostor/2k8r2/amd64/viostor.sys", "x86_64", "win2k8"));
        assert!(m("viostor/w8.1/amd64/viostor.sys", "x86_64", "win8.1"));
        assert!(!m("viostor/w8.1/amd64/viostor.sys", "x86_64", "win8"));
        assert!(!m("viostor/w10/amd64/viostor.sys", "x86_64", "unknown"));
    }

    #[test]
    fn guest_agent_by_arch() {
        assert!(is_qemu_ga("guest-agent/qemu-ga-x86_64.msi", "x86_64"));
        assert!(is_qemu_ga("guest-agent/QEMU-GA-X64.MSI", "x86_64"));
        assert!(!is_qemu_ga("guest-agent/qemu-ga-i386.msi", "x86_64"));
        assert!(is_qemu_ga("guest-agent/qemu-ga-i386.msi", "i386"));
    }

    #[test]
    fn lists_files_recursively() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/x.sys"), b"x").unwrap();
        std::fs::write(t.path().join("top.exe"), b"x").unwrap();
        assert_eq!(list_files(t.path()).unwrap(), ["a/b/x.sys", "top.exe"]);
    }
}
