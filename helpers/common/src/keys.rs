//! LUKS keys given with virt-v2v's `--key SELECTOR` and `--keys-from-stdin`
//! (libguestfs-common's key-option.pod): `ID:key:KEY_STRING`,
//! `ID:file:FILENAME`, `ID:clevis`, where ID is a device name
//! (`/dev/sda2`), a LUKS UUID, or `all` (any encrypted device).
//!
//! Shared by the runners (which check the selectors before anything
//! starts, then pass them to `helper-v2v-convert` on its stdin, one per
//! line, never in a process's argv) and by `helper-v2v-convert` (which
//! opens the devices).  No message, `Debug` output or error of this module
//! contains a key.

use std::fmt;
use std::path::PathBuf;

/// A passphrase: never printed (`Debug` shows `***`), zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The passphrase itself (for the one call that needs it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        for b in bytes.iter_mut() {
            // SAFETY: `b` is a valid, exclusive reference into `bytes`.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// Where a selector's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `ID:key:KEY_STRING`.
    Key(Secret),
    /// `ID:file:FILENAME`: the file's first line.
    File(PathBuf),
}

/// One `--key` selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySelector {
    /// A device name, a LUKS UUID, or `all`.
    pub id: String,
    pub source: KeySource,
}

/// The ID that matches every encrypted device.
pub const ALL: &str = "all";

impl KeySelector {
    /// Parse `ID:key:KEY_STRING` or `ID:file:FILENAME`.  `ID:clevis` is
    /// refused as not supported by this build.  A KEY_STRING or FILENAME
    /// may contain `:` (virt-v2v refuses it), not a newline.  The error
    /// (a usage error) never quotes the key.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut it = s.splitn(3, ':');
        let id = it.next().unwrap_or_default();
        let kind = it.next();
        let rest = it.next();
        if id.is_empty() {
            return Err("--key: missing ID (a device such as /dev/sda2, a LUKS UUID, or all) before the first ':'".into());
        }
        let what = |k: &str| format!("--key {id}:{k}");
        let source = match (kind, rest) {
            (Some("clevis"), None) => {
                return Err(format!(
                    "not supported by this build: --key {id}:clevis (network-bound \
                     unlocking with Clevis/Tang needs networking in the appliance; give the \
                     passphrase with --key {id}:key:KEY_STRING or --key {id}:file:FILENAME)"
                ))
            }
            (Some("key"), Some(k)) if !k.contains(['\n', '\r']) => KeySource::Key(Secret::new(k)),
            (Some("key"), Some(_)) => {
                return Err(format!("{}:...: the key contains a newline", what("key")))
            }
            (Some("file"), Some(f)) if !f.is_empty() && !f.contains(['\n', '\r']) => {
                KeySource::File(PathBuf::from(f))
            }
            (Some("file"), _) => return Err(format!("{}: missing FILENAME", what("file"))),
            (Some("key"), None) => {
                return Err(format!("{}: missing KEY_STRING (after '{id}:key:')", what("key")))
            }
            (Some("clevis"), Some(_)) => {
                return Err(format!("{}: too many fields", what("clevis")))
            }
            (None, _) => {
                return Err(format!(
                    "--key {id}: missing TYPE (expected {id}:key:KEY_STRING, {id}:file:FILENAME or {id}:clevis)"
                ))
            }
            (Some(t), _) => {
                return Err(format!(
                    "--key {id}:{t}: invalid TYPE '{t}' (expected key, file or clevis)"
                ))
            }
        };
        Ok(KeySelector {
            id: id.to_string(),
            source,
        })
    }

    /// `ID:key:KEY_STRING` for a line of `--keys-from-stdin`: tried on
    /// every encrypted device.
    pub fn all_devices(key: &str) -> Self {
        KeySelector {
            id: ALL.into(),
            source: KeySource::Key(Secret::new(key.trim_end_matches(['\n', '\r']))),
        }
    }

    /// The selector as written on the command line, for one line of the
    /// stdin channel (parsed back by [`KeySelector::parse`]).
    pub fn to_line(&self) -> String {
        match &self.source {
            KeySource::Key(k) => format!("{}:key:{}", self.id, k.expose()),
            KeySource::File(f) => format!("{}:file:{}", self.id, f.display()),
        }
    }

    /// The key: the string, or the file's first line (without its newline).
    pub fn load(&self) -> Result<Secret, String> {
        match &self.source {
            KeySource::Key(k) => Ok(k.clone()),
            KeySource::File(f) => {
                let data = std::fs::read(f).map_err(|e| {
                    format!("--key {}:file:{}: cannot read: {e}", self.id, f.display())
                })?;
                let text = String::from_utf8(data).map_err(|_| {
                    format!(
                        "--key {}:file:{}: the key is not UTF-8 text",
                        self.id,
                        f.display()
                    )
                })?;
                let line = text.split('\n').next().unwrap_or_default();
                Ok(Secret::new(line.trim_end_matches('\r')))
            }
        }
    }
}

/// Every selector, in the stdin channel's form: one per line.
pub fn to_lines(selectors: &[KeySelector]) -> String {
    selectors.iter().map(|s| s.to_line() + "\n").collect()
}

/// Parse the stdin channel ([`to_lines`]); empty lines are skipped.
pub fn from_lines(text: &str) -> Result<Vec<KeySelector>, String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(KeySelector::parse)
        .collect()
}

/// Keys read from the selectors, by ID.
#[derive(Debug, Default)]
pub struct Keys {
    entries: Vec<(String, Secret)>,
}

impl Keys {
    /// Read every selector's key (files now: an unreadable one fails early).
    pub fn load(selectors: &[KeySelector]) -> Result<Self, String> {
        let mut entries = Vec::new();
        for s in selectors {
            entries.push((s.id.clone(), s.load()?));
        }
        Ok(Keys { entries })
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The keys to try on `device` (whose LUKS UUID is `uuid`), in the
    /// order given: those for `all`, the device's name or its UUID.
    pub fn for_device(&self, device: &str, uuid: Option<&str>) -> Vec<&Secret> {
        self.entries
            .iter()
            .filter(|(id, _)| id == ALL || id == device || Some(id.as_str()) == uuid)
            .map(|(_, k)| k)
            .collect()
    }
    /// Rename every ID with `f` (e.g. `/dev/vda2` to the appliance's `/dev/sda2`).
    pub fn map_ids(&mut self, f: impl Fn(&str) -> String) {
        for (id, _) in &mut self.entries {
            *id = f(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_as_virt_v2v_writes_them() {
        let s = KeySelector::parse("/dev/sda2:key:s3cret").unwrap();
        assert_eq!(s.id, "/dev/sda2");
        assert_eq!(s.source, KeySource::Key(Secret::new("s3cret")));
        assert_eq!(s.to_line(), "/dev/sda2:key:s3cret");
        let s = KeySelector::parse("all:file:/root/k:ey").unwrap();
        assert_eq!(s.source, KeySource::File("/root/k:ey".into()));
        assert_eq!(
            KeySelector::parse("a1b2-c3:key:").unwrap().source,
            KeySource::Key(Secret::new(""))
        );
        assert_eq!(
            KeySelector::parse("all:key:a:b").unwrap().to_line(),
            "all:key:a:b"
        );
        for (bad, says) in [
            (":key:x", "missing ID"),
            ("/dev/sda2", "missing TYPE"),
            ("/dev/sda2:key", "missing KEY_STRING"),
            ("/dev/sda2:file", "missing FILENAME"),
            ("/dev/sda2:file:", "missing FILENAME"),
            ("/dev/sda2:clevis:x", "too many fields"),
            ("/dev/sda2:tpm:x", "invalid TYPE 'tpm'"),
            (
                "/dev/sda2:clevis",
                "not supported by this build: --key /dev/sda2:clevis",
            ),
            ("all:key:a\nb", "contains a newline"),
        ] {
            let e = KeySelector::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn no_message_shows_a_key() {
        let s = KeySelector::parse("/dev/sda2:key:hunter2").unwrap();
        assert!(!format!("{s:?}").contains("hunter2"), "{s:?}");
        let e = KeySelector::parse("/dev/sda2:key:hunter2\nx").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let keys = Keys::load(&[s]).unwrap();
        assert!(!format!("{keys:?}").contains("hunter2"));
    }

    #[test]
    fn keys_by_device_uuid_or_all() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("key");
        std::fs::write(&f, "from-file\nsecond line\n").unwrap();
        let sels = vec![
            KeySelector::parse("/dev/sda2:key:one").unwrap(),
            KeySelector::parse(&format!("all:file:{}", f.display())).unwrap(),
            KeySelector::parse("1234-uuid:key:three").unwrap(),
            KeySelector::all_devices("from-stdin\n"),
        ];
        let lines = to_lines(&sels);
        assert_eq!(from_lines(&lines).unwrap(), sels);
        let keys = Keys::load(&sels).unwrap();
        let got = |d, u| {
            keys.for_device(d, u)
                .iter()
                .map(|k| k.expose().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(got("/dev/sda2", None), ["one", "from-file", "from-stdin"]);
        assert_eq!(
            got("/dev/sdb1", Some("1234-uuid")),
            ["from-file", "three", "from-stdin"]
        );
        let missing = KeySelector::parse("all:file:/nonexistent/key").unwrap();
        let e = Keys::load(&[missing]).unwrap_err();
        assert!(e.contains("all:file:/nonexistent/key: cannot read"), "{e}");
        let mut k = Keys::load(&[KeySelector::parse("/dev/vda2:key:x").unwrap()]).unwrap();
        k.map_ids(|d| d.replace("/dev/vd", "/dev/sd"));
        assert_eq!(k.for_device("/dev/sda2", None).len(), 1);
        assert!(Keys::default().is_empty());
    }
}
