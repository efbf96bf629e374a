//! `DirGuest`: the [`GuestFs`] test double.  A guest tree in a local
//! directory; files are real, commands are recorded and answered from
//! canned outputs.  Compiled for unit tests only (`#[cfg(test)]` in
//! `guest.rs`), never into the binary.

use super::GuestFs;
use helper_common::{Failure, Result};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

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
fn glob_match(pattern: &str, name: &str) -> bool {
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
    fn globbing() {
        assert!(glob_match("vmlinuz-*", "vmlinuz-6.1.0"));
        assert!(glob_match("ifcfg-eth?", "ifcfg-eth0"));
        assert!(!glob_match("*.conf", "x.conf.bak"));
    }
}
