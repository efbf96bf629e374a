//! The small trait conversion works through: read, write and find files in
//! the guest, and run shell commands inside it.  Implemented by the
//! libguestfs handle (the real thing) and by [`DirGuest`], a guest tree
//! in a local directory whose commands are recorded, not run (to test the
//! RHEL/SUSE/Debian plans without an appliance).

use helper_common::{Failure, Result};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use v2v_guestfs::Guestfs;

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

fn gfail(e: v2v_guestfs::Error) -> Failure {
    Failure::failed(e.to_string())
}

/// Separator of files in [`read_many_script`]'s output.
const FILE_MARK: &str = "\n@@v2v-convert-file@@ ";

/// One shell command that prints every existing regular file among
/// `paths` and `globs`, each after a [`FILE_MARK`] line.
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
        let out = Guestfs::sh(self, &read_many_script(paths, globs)).map_err(gfail)?;
        Ok(parse_read_many(&out))
    }
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.read_file(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_enoent() => Ok(None),
            Err(e) => {
                // Some daemons report a missing file without errno.
                if !self.exists(path).map_err(gfail)? {
                    Ok(None)
                } else {
                    Err(gfail(e))
                }
            }
        }
    }
    fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        Guestfs::write(self, path, data).map_err(gfail)
    }
    fn exists(&self, path: &str) -> Result<bool> {
        Guestfs::exists(self, path).map_err(gfail)
    }
    fn glob(&self, pattern: &str) -> Result<Vec<String>> {
        let mut v = self.glob_expand(pattern).map_err(gfail)?;
        v.sort();
        Ok(v)
    }
    fn touch(&self, path: &str) -> Result<()> {
        Guestfs::touch(self, path).map_err(gfail)
    }
    fn mkdir_p(&self, path: &str) -> Result<()> {
        Guestfs::mkdir_p(self, path).map_err(gfail)
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

/// A guest tree in a local directory.  Files are read and written there;
/// commands are recorded (see [`DirGuest::commands`]) and answered from
/// canned outputs.
pub struct DirGuest {
    root: PathBuf,
    commands: RefCell<Vec<String>>,
    outputs: Vec<(String, Result<String>)>,
    effects: Vec<(String, String, String)>,
}

impl DirGuest {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirGuest {
            root: root.into(),
            commands: RefCell::new(Vec::new()),
            outputs: Vec::new(),
            effects: Vec::new(),
        }
    }
    /// When a command containing `needle` runs, write `content` to `path`
    /// (what the real command would have done, e.g. a regenerated grub.cfg).
    pub fn with_effect(mut self, needle: &str, path: &str, content: &str) -> Self {
        self.effects
            .push((needle.into(), path.into(), content.into()));
        self
    }
    /// Answer commands containing `needle` with `output`.
    pub fn with_output(mut self, needle: &str, output: &str) -> Self {
        self.outputs.push((needle.into(), Ok(output.into())));
        self
    }
    /// Make commands containing `needle` fail.
    pub fn with_failure(mut self, needle: &str, message: &str) -> Self {
        self.outputs.push((
            needle.into(),
            Err(Failure::external(format!(
                "command in the guest failed: {message}"
            ))),
        ));
        self
    }
    /// Every command run so far, in order.
    pub fn commands(&self) -> Vec<String> {
        self.commands.borrow().clone()
    }
    fn host(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
    /// Write a file into the tree (test setup).
    pub fn put(&self, path: &str, content: &str) {
        let p = self.host(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    /// Read a file of the tree (test checks).
    pub fn get(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.host(path)).ok()
    }
}

impl GuestFs for DirGuest {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.host(path)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Failure::failed(format!("{path}: {e}"))),
        }
    }
    fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        std::fs::write(self.host(path), data).map_err(|e| Failure::failed(format!("{path}: {e}")))
    }
    fn exists(&self, path: &str) -> Result<bool> {
        Ok(self.host(path).symlink_metadata().is_ok())
    }
    fn glob(&self, pattern: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let parts: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
        glob_walk(&self.root, "", &parts, &mut out);
        out.sort();
        Ok(out)
    }
    fn touch(&self, path: &str) -> Result<()> {
        let p = self.host(path);
        if !p.exists() {
            std::fs::write(&p, b"").map_err(|e| Failure::failed(format!("{path}: {e}")))?;
        }
        Ok(())
    }
    fn mkdir_p(&self, path: &str) -> Result<()> {
        std::fs::create_dir_all(self.host(path))
            .map_err(|e| Failure::failed(format!("{path}: {e}")))
    }
    fn sh(&self, script: &str) -> Result<String> {
        self.commands.borrow_mut().push(script.to_string());
        for (needle, path, content) in &self.effects {
            if script.contains(needle.as_str()) {
                self.put(path, content);
            }
        }
        for (needle, out) in &self.outputs {
            if script.contains(needle.as_str()) {
                return match out {
                    Ok(s) => Ok(s.clone()),
                    Err(f) => Err(Failure::external(f.message.clone())),
                };
            }
        }
        Ok(String::new())
    }
}

fn glob_walk(base: &Path, prefix: &str, parts: &[&str], out: &mut Vec<String>) {
    let Some((first, rest)) = parts.split_first() else {
        out.push(if prefix.is_empty() {
            "/".into()
        } else {
            prefix.into()
        });
        return;
    };
    let dir = base.join(prefix.trim_start_matches('/'));
    if !first.contains(['*', '?', '[']) {
        let p = format!("{prefix}/{first}");
        if base
            .join(p.trim_start_matches('/'))
            .symlink_metadata()
            .is_ok()
        {
            glob_walk(base, &p, rest, out);
        }
        return;
    }
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        if !n.starts_with('.') && glob_match(first, &n) {
            glob_walk(base, &format!("{prefix}/{n}"), rest, out);
        }
    }
}

/// Shell-style match of one path component (`*`, `?`).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(&p, &n)
}

/// Quote one word for `/bin/sh`.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_guest_files_glob_and_commands() {
        let t = tempfile::tempdir().unwrap();
        let g = DirGuest::new(t.path()).with_output("rpm -qa", "kernel\nbash\n");
        g.put("/boot/vmlinuz-5.14.0-1", "k");
        g.put("/boot/vmlinuz-4.18.0-2", "k");
        g.put("/boot/config-4.18.0-2", "c");
        assert_eq!(
            g.glob("/boot/vmlinuz-*").unwrap(),
            vec!["/boot/vmlinuz-4.18.0-2", "/boot/vmlinuz-5.14.0-1"]
        );
        assert_eq!(g.glob("/nonexistent/*").unwrap(), Vec::<String>::new());
        assert_eq!(
            g.read_string("/boot/config-4.18.0-2").unwrap().as_deref(),
            Some("c")
        );
        assert_eq!(g.read("/etc/fstab").unwrap(), None);
        assert_eq!(g.sh("rpm -qa --qf x").unwrap(), "kernel\nbash\n");
        assert_eq!(g.commands(), vec!["rpm -qa --qf x"]);
    }

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

    #[test]
    fn globbing_and_quoting() {
        assert!(glob_match("vmlinuz-*", "vmlinuz-6.1.0"));
        assert!(glob_match("ifcfg-eth?", "ifcfg-eth0"));
        assert!(!glob_match("*.conf", "x.conf.bak"));
        assert_eq!(sh_quote("virtio_blk"), "virtio_blk");
        assert_eq!(sh_quote("a b"), "'a b'");
    }
}
