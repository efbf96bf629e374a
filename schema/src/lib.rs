//! v2v-meta: the contract between the v2v-helpers programs.
//!
//! One place for everything the helpers share through the temp directory:
//! the JSON document types ([`types`]), the directory layout ([`V2vDir`]),
//! the exit codes ([`exit_code`]), atomic JSON writes and version-checked
//! reads ([`read_json`], [`write_json`]).  See `docs/contract.md`.

pub mod description;
pub mod dir;
pub mod exit_code;
pub mod schema;
pub mod types;

pub use description::*;
pub use dir::{NameError, Step, V2vDir};
pub use types::*;

use serde::{de::DeserializeOwned, Serialize};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The contract's major version.  Every JSON file carries it as `"version"`.
pub const CONTRACT_VERSION: u32 = 1;

/// An error reading or writing a contract file (always exit code 3 for
/// readers: the contract was broken).
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("{path}: missing (was the previous step run?)")]
    Missing { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: has no \"version\" field (expected \"version\": {expected})")]
    NoVersion { path: PathBuf, expected: u32 },
    #[error(
        "{path}: \"version\" is {found}, not a whole number (expected \"version\": {expected})"
    )]
    BadVersion {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    #[error(
        "{path}: contract version {found} is not supported (this program reads version {expected})"
    )]
    Version {
        path: PathBuf,
        found: u64,
        expected: u32,
    },
    /// A name in the file (a socket) points outside the temporary directory.
    #[error(transparent)]
    Name(#[from] NameError),
}

/// Disk letters as the kernel and libvirt name disks: `0 → a`, `25 → z`,
/// `26 → aa` (used for target names `NAME-sdX` and device names `vdX`).
pub fn drive_letters(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).expect("ASCII")
}

/// Read a contract JSON file: refuse a missing file, invalid JSON, a missing
/// version or an unknown major version; ignore unknown fields.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ContractError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ContractError::Missing {
                path: path.to_owned(),
            })
        }
        Err(e) => {
            return Err(ContractError::Io {
                path: path.to_owned(),
                source: e,
            })
        }
    };
    from_json_str(path, &text)
}

/// Parse a contract document from a string (see [`read_json`]); `path` is
/// used only in error messages.
pub fn from_json_str<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ContractError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ContractError::Json {
        path: path.to_owned(),
        source: e,
    })?;
    let version = value.get("version");
    match version.map(|v| v.as_u64()) {
        None => {
            return Err(ContractError::NoVersion {
                path: path.to_owned(),
                expected: CONTRACT_VERSION,
            })
        }
        Some(None) => {
            return Err(ContractError::BadVersion {
                path: path.to_owned(),
                found: version.map(|v| v.to_string()).unwrap_or_default(),
                expected: CONTRACT_VERSION,
            })
        }
        Some(Some(v)) if v != u64::from(CONTRACT_VERSION) => {
            return Err(ContractError::Version {
                path: path.to_owned(),
                found: v,
                expected: CONTRACT_VERSION,
            })
        }
        Some(Some(_)) => {}
    }
    serde_json::from_value(value).map_err(|e| ContractError::Json {
        path: path.to_owned(),
        source: e,
    })
}

/// Write `value` as pretty JSON to `path` atomically: a `.tmp` file in the
/// same directory (mode 0600), fsync, rename.  A reader never sees half a file.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ContractError> {
    let io = |e| ContractError::Io {
        path: path.to_owned(),
        source: e,
    };
    let mut text = serde_json::to_string_pretty(value).map_err(|e| ContractError::Json {
        path: path.to_owned(),
        source: e,
    })?;
    text.push('\n');
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_checks() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        let done = StepDone {
            version: CONTRACT_VERSION,
            step: Step::Copy,
            seconds: 1.5,
        };
        write_json(&p, &done).unwrap();
        assert!(!d.path().join("x.json.tmp").exists());
        let back: StepDone = read_json(&p).unwrap();
        assert_eq!(back, done);

        // unknown fields are ignored
        let back: StepDone = from_json_str(
            &p,
            r#"{"version":1,"step":"copy","seconds":2,"future":"x"}"#,
        )
        .unwrap();
        assert_eq!(back.seconds, 2.0);

        let e = from_json_str::<StepDone>(&p, r#"{"version":2,"step":"copy","seconds":2}"#)
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("version 2") && msg.contains("version 1"),
            "{msg}"
        );
        let e = from_json_str::<StepDone>(&p, r#"{"step":"copy","seconds":2}"#).unwrap_err();
        assert!(matches!(e, ContractError::NoVersion { .. }));
        let e = from_json_str::<StepDone>(&p, r#"{"version":"1","step":"copy","seconds":2}"#)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains(r#""version" is "1", not a whole number"#),
            "{e}"
        );
        let e = from_json_str::<StepDone>(&p, "{not json").unwrap_err();
        assert!(matches!(e, ContractError::Json { .. }));
        let e = read_json::<StepDone>(&d.path().join("nope.json")).unwrap_err();
        assert!(matches!(e, ContractError::Missing { .. }));
    }

    #[test]
    fn drive_letter_names() {
        assert_eq!(drive_letters(0), "a");
        assert_eq!(drive_letters(25), "z");
        assert_eq!(drive_letters(26), "aa");
        assert_eq!(drive_letters(27), "ab");
        assert_eq!(drive_letters(26 + 26 * 26), "aaa");
    }

    #[test]
    fn written_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("y.json");
        write_json(&p, &serde_json::json!({"version": 1})).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
