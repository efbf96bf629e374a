//! The small trait conversion works through: read, write and find files in
//! the guest, and run shell commands inside it.  Implemented by the
//! libguestfs handle (the real thing) and, in unit tests only, by
//! `DirGuest` (`guest/dir.rs`), a guest tree in a local directory whose
//! commands are recorded, not run (to test the RHEL/SUSE/Debian plans
//! without an appliance).

use helper_common::{sh_quote, Failure, OrFail, Result};
use std::collections::BTreeMap;
use v2v_guestfs::Guestfs;

#[cfg(test)]
mod dir;
#[cfg(test)]
pub(crate) use dir::DirGuest;

/// What conversion needs from a mounted guest.
pub trait GuestFs {
    /// The file's bytes; `None` when it does not exist.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>>;
    /// Create or replace a file.
    fn write(&self, path: &str, data: &[u8]) -> Result<()>;
    fn exists(&self, path: &str) -> Result<bool>;
    /// Paths matching a shell glob, sorted.
    fn glob(&self, pattern: &str) -> Result<Vec<String>>;
    fn touch(&self, path: &str) -> Result<()>;
    fn mkdir_p(&self, path: &str) -> Result<()>;
    /// Run `/bin/sh -c script` inside the guest; stdout.  Non-zero exit is
    /// an error (exit class 4) quoting the command's stderr.
    fn sh(&self, script: &str) -> Result<String>;

    /// Read every existing regular file among `paths` and the matches of
    /// `globs` (small text files), as text.  The default reads them one by
    /// one; the libguestfs handle does it in one guest call.
    fn read_many(&self, paths: &[&str], globs: &[&str]) -> Result<BTreeMap<String, String>> {
        let mut m = BTreeMap::new();
        let mut all: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        for g in globs {
            all.extend(self.glob(g)?);
        }
        for p in all {
            if let Some(t) = self.read_string(&p)? {
                m.insert(p, t);
            }
        }
        Ok(m)
    }

    /// The file as text (lossy UTF-8); `None` when it does not exist.
    fn read_string(&self, path: &str) -> Result<Option<String>> {
        Ok(self
            .read(path)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }
}

/// Separator of files in [`read_many_script`]'s output.
const FILE_MARK: &str = "\n@@v2v-convert-file@@ ";

/// One shell command that prints every existing regular file among
/// `paths` and `globs`, each after a `FILE_MARK` line.
pub fn read_many_script(paths: &[&str], globs: &[&str]) -> String {
    let words: Vec<String> = paths
        .iter()
        .map(|p| sh_quote(p))
        .chain(globs.iter().map(|g| g.to_string()))
        .collect();
    format!(
        "for f in {}; do [ -f \"$f\" ] || continue; printf '{}%s\\n' \"$f\"; cat \"$f\"; done",
        words.join(" "),
        FILE_MARK.replace('\n', "\\n")
    )
}

/// Parse the output of [`read_many_script`].
pub fn parse_read_many(out: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for chunk in out.split(FILE_MARK).skip(1) {
        if let Some((path, content)) = chunk.split_once('\n') {
            m.insert(path.to_string(), content.to_string());
        }
    }
    m
}

impl GuestFs for Guestfs {
    fn read_many(&self, paths: &[&str], globs: &[&str]) -> Result<BTreeMap<String, String>> {
        let out = Guestfs::sh(self, &read_many_script(paths, globs)).or_fail(Failure::failed)?;
        Ok(parse_read_many(&out))
    }
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.read_file(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_enoent() => Ok(None),
            Err(e) => {
                // Some daemons report a missing file without errno.
                if !self.exists(path).or_fail(Failure::failed)? {
                    Ok(None)
                } else {
                    Err(Failure::failed(e.to_string()))
                }
            }
        }
    }
    fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        Guestfs::write(self, path, data).or_fail(Failure::failed)
    }
    fn exists(&self, path: &str) -> Result<bool> {
        Guestfs::exists(self, path).or_fail(Failure::failed)
    }
    fn glob(&self, pattern: &str) -> Result<Vec<String>> {
        let mut v = self.glob_expand(pattern).or_fail(Failure::failed)?;
        v.sort();
        Ok(v)
    }
    fn touch(&self, path: &str) -> Result<()> {
        Guestfs::touch(self, path).or_fail(Failure::failed)
    }
    fn mkdir_p(&self, path: &str) -> Result<()> {
        Guestfs::mkdir_p(self, path).or_fail(Failure::failed)
    }
    fn sh(&self, script: &str) -> Result<String> {
        helper_common::debug!("guest: sh -c {script:?}");
        let out = Guestfs::sh(self, script).map_err(|e| {
            Failure::external(format!(
                "command in the guest failed: {script}: {}",
                e.message
            ))
        })?;
        if !out.trim().is_empty() {
            helper_common::debug!("guest: output: {}", out.trim_end());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_many_in_one_shell_call() {
        let t = tempfile::tempdir().unwrap();
        let g = DirGuest::new(t.path());
        g.put("/etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n");
        g.put("/etc/modprobe.d/a.conf", "alias eth0 e1000");
        g.put("/etc/modprobe.d/b.conf", "\n\nx\n");
        std::fs::create_dir_all(t.path().join("etc/dir.conf")).unwrap();
        let want = g
            .read_many(&["/etc/fstab", "/etc/missing"], &["/etc/modprobe.d/*.conf"])
            .unwrap();
        assert_eq!(want.len(), 3);
        // The same through a real shell, chrooted by hand (cd + relative paths).
        let script = read_many_script(
            &["etc/fstab", "etc/missing"],
            &["etc/modprobe.d/*.conf", "etc/*.conf"],
        );
        let o = std::process::Command::new("sh")
            .args(["-c", &script])
            .current_dir(t.path())
            .output()
            .unwrap();
        let got = parse_read_many(&String::from_utf8_lossy(&o.stdout));
        let got: BTreeMap<String, String> =
            got.into_iter().map(|(k, v)| (format!("/{k}"), v)).collect();
        assert_eq!(got, want);
    }
}
