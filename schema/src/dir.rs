//! The temp directory's layout: every path any helper reads or writes.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{ContractError, MetadataIn, OutputDisk, OutputJson, SourceDisk};

/// A pipeline step.  Its name is used for `log/NN-<name>.log` and
/// `status/<name>.done` / `status/<name>.error.json`, and in those files'
/// `step` field.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Input,
    Convert,
    OutputSetup,
    Copy,
    OutputFinal,
    Cleanup,
}

impl Step {
    /// All steps in pipeline order.
    pub const ALL: [Step; 6] = [
        Step::Input,
        Step::Convert,
        Step::OutputSetup,
        Step::Copy,
        Step::OutputFinal,
        Step::Cleanup,
    ];

    /// The step's name (`input`, `convert`, `output-setup`, `copy`, `output-final`, `cleanup`).
    pub fn name(self) -> &'static str {
        match self {
            Step::Input => "input",
            Step::Convert => "convert",
            Step::OutputSetup => "output-setup",
            Step::Copy => "copy",
            Step::OutputFinal => "output-final",
            Step::Cleanup => "cleanup",
        }
    }

    /// Position in the pipeline, 1-based (used as the log file's `NN-` prefix).
    pub fn number(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap() + 1
    }

    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name read from a contract file that is not a bare file name inside
/// the temporary directory (a readers' contract error: exit 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}: {field}: ‘{}’ is not a file name inside the temporary directory \
     (only bare names such as in1 or out1 are allowed)",
    file.display(),
    name.escape_debug()
)]
pub struct NameError {
    pub file: PathBuf,
    pub field: String,
    pub name: String,
}

/// A bare file name: not empty, not `.` or `..`, no `/`, no NUL.
pub(crate) fn is_bare_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// The temp directory shared by the helpers of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2vDir {
    root: PathBuf,
}

impl V2vDir {
    /// Refer to a directory (nothing is checked or created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        V2vDir { root: root.into() }
    }

    /// Create the directory (mode 0700) and its `run/`, `log/`, `status/`
    /// subdirectories if missing.  An existing directory is kept, and
    /// tightened to 0700.
    pub fn create(root: impl Into<PathBuf>) -> io::Result<Self> {
        let d = V2vDir::new(root);
        let mut b = fs::DirBuilder::new();
        b.recursive(true).mode(0o700);
        b.create(&d.root)?;
        fs::set_permissions(&d.root, fs::Permissions::from_mode(0o700))?;
        for sub in [d.run_dir(), d.log_dir(), d.status_dir()] {
            b.create(sub)?;
        }
        Ok(d)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `inN`: the name (not the path) of the socket serving source disk N,
    /// as written in `metadata.in`'s `socket` field.
    pub fn in_name(n: u32) -> String {
        format!("in{n}")
    }

    /// `outN`: the name of the socket serving target disk N, as written in
    /// `output.json`'s `socket` field.
    pub fn out_name(n: u32) -> String {
        format!("out{n}")
    }

    /// `inN`: NBD socket serving source disk N (1-based) through an overlay.
    pub fn in_socket(&self, n: u32) -> PathBuf {
        self.root.join(Self::in_name(n))
    }

    /// `outN`: NBD socket serving target disk N (1-based).
    pub fn out_socket(&self, n: u32) -> PathBuf {
        self.root.join(Self::out_name(n))
    }

    /// Resolve a name read from a contract file (e.g. a disk's `socket` in
    /// `metadata.in` or `output.json`) to a path inside the directory.
    /// Anything but a bare file name is refused: an empty name, `.`, `..`,
    /// a name with `/` or NUL in it, an absolute path.  `file` and `field`
    /// name where the value was read, for the error message (exit 3).
    pub fn resolve(&self, file: &Path, field: &str, name: &str) -> Result<PathBuf, NameError> {
        if is_bare_name(name) {
            Ok(self.root.join(name))
        } else {
            Err(NameError {
                file: file.to_owned(),
                field: field.to_owned(),
                name: name.to_owned(),
            })
        }
    }

    /// Read `metadata.in` (see [`crate::read_json`]) and check every name
    /// in it: a socket that is not a bare name is refused (exit 3) before
    /// anything connects to it.
    pub fn read_metadata_in(&self) -> Result<MetadataIn, ContractError> {
        let md: MetadataIn = crate::read_json(&self.metadata_in())?;
        for (i, d) in md.source.disks.iter().enumerate() {
            self.source_socket(i, d)?;
        }
        Ok(md)
    }

    /// Read `output.json` and check every name in it (see
    /// [`V2vDir::read_metadata_in`]).
    pub fn read_output_json(&self) -> Result<OutputJson, ContractError> {
        let oj: OutputJson = crate::read_json(&self.output_json())?;
        for (i, d) in oj.disks.iter().enumerate() {
            self.target_socket(i, d)?;
        }
        Ok(oj)
    }

    /// The socket of `metadata.in`'s `source.disks[i]`, resolved inside
    /// the directory (see [`V2vDir::resolve`]).
    pub fn source_socket(&self, i: usize, d: &SourceDisk) -> Result<PathBuf, ContractError> {
        let field = format!("source.disks[{i}].socket");
        Ok(self.resolve(&self.metadata_in(), &field, &d.socket)?)
    }

    /// The socket of `output.json`'s `disks[i]`, resolved inside the
    /// directory (see [`V2vDir::resolve`]).
    pub fn target_socket(&self, i: usize, d: &OutputDisk) -> Result<PathBuf, ContractError> {
        let field = format!("disks[{i}].socket");
        Ok(self.resolve(&self.output_json(), &field, &d.socket)?)
    }

    /// `log/00-virt-v2v.log`: a runner's (supervisor's) own log.
    pub fn runner_log(&self) -> PathBuf {
        self.log_dir().join("00-virt-v2v.log")
    }

    /// `run/<name>-guard.pid`: the guard process that stops server `<name>`
    /// when the run's owner exits (servers without an `exitwhen` of their own).
    pub fn guard_pidfile(&self, name: &str) -> PathBuf {
        self.pidfile(&format!("{name}-guard"))
    }

    /// Whether a pidfile is a guard's (see [`V2vDir::guard_pidfile`]).
    pub fn is_guard_pidfile(p: &Path) -> bool {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with("-guard.pid"))
    }

    /// `srcN`: a private socket an input serves source disk N's raw bytes on
    /// when another server decodes them into `inN` (e.g. a VMDK read over
    /// ssh by nbdkit, decoded by qemu-nbd).
    pub fn src_name(n: u32) -> String {
        format!("src{n}")
    }

    /// `tmp/askpass`: the program ssh runs (`SSH_ASKPASS`) to read `-ip`'s
    /// password file.
    pub fn askpass(&self) -> PathBuf {
        self.scratch_dir().join("askpass")
    }

    /// `tmp/diskN.unpacked`: source disk N unpacked (a compressed OVA member).
    pub fn unpacked(&self, n: u32) -> PathBuf {
        self.scratch_dir().join(format!("disk{n}.unpacked"))
    }

    /// `tmp/overlayN.qcow2`: a qcow2 copy-on-write overlay over source disk N.
    pub fn overlay(&self, n: u32) -> PathBuf {
        self.scratch_dir().join(format!("overlay{n}.qcow2"))
    }

    /// `metadata.in`, written by the input helper.
    pub fn metadata_in(&self) -> PathBuf {
        self.root.join("metadata.in")
    }

    /// `metadata.out`, written by convert.
    pub fn metadata_out(&self) -> PathBuf {
        self.root.join("metadata.out")
    }

    /// `output.json`, written by the output's `setup`.
    pub fn output_json(&self) -> PathBuf {
        self.root.join("output.json")
    }

    /// `description.json`: the converted guest as outputs render it,
    /// written by the runner before the output's `final`.
    pub fn description(&self) -> PathBuf {
        self.root.join("description.json")
    }

    /// Read `description.json` (see [`crate::read_json`]).
    pub fn read_description(&self) -> Result<crate::GuestDescription, ContractError> {
        crate::read_json(&self.description())
    }

    /// `run/`: pidfiles of servers left running.
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// `run/<name>.pid`.
    pub fn pidfile(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.pid"))
    }

    /// `log/`.
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }

    /// `log/NN-<step>.log`: the step's debug log.
    pub fn step_log(&self, step: Step) -> PathBuf {
        self.log_dir()
            .join(format!("{:02}-{}.log", step.number(), step.name()))
    }

    /// `log/NN-<step>-<name>.log`: stderr of a server or program a step ran.
    pub fn server_log(&self, step: Step, name: &str) -> PathBuf {
        self.log_dir()
            .join(format!("{:02}-{}-{name}.log", step.number(), step.name()))
    }

    /// `status/`.
    pub fn status_dir(&self) -> PathBuf {
        self.root.join("status")
    }

    /// `status/<step>.done`.
    pub fn done_file(&self, step: Step) -> PathBuf {
        self.status_dir().join(format!("{}.done", step.name()))
    }

    /// `status/<step>.error.json`.
    pub fn error_file(&self, step: Step) -> PathBuf {
        self.status_dir()
            .join(format!("{}.error.json", step.name()))
    }

    /// Scratch space a helper may use (overlays, unpacked files): `tmp/`.
    pub fn scratch_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// All pidfiles currently recorded in `run/`, sorted by name.
    pub fn pidfiles(&self) -> io::Result<Vec<PathBuf>> {
        let mut v = Vec::new();
        match fs::read_dir(self.run_dir()) {
            Ok(rd) => {
                for e in rd {
                    let p = e?.path();
                    if p.extension().is_some_and(|x| x == "pid") {
                        v.push(p);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        v.sort();
        Ok(v)
    }

    /// Socket files `inN` / `outN` that exist, in order.
    pub fn sockets(&self, prefix: &str) -> Vec<PathBuf> {
        (1..)
            .map(|n| self.root.join(format!("{prefix}{n}")))
            .take_while(|p| p.exists())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let d = V2vDir::new("/t");
        assert_eq!(d.in_socket(1), Path::new("/t/in1"));
        assert_eq!(d.out_socket(12), Path::new("/t/out12"));
        assert_eq!(d.metadata_in(), Path::new("/t/metadata.in"));
        assert_eq!(d.metadata_out(), Path::new("/t/metadata.out"));
        assert_eq!(d.output_json(), Path::new("/t/output.json"));
        assert_eq!(d.description(), Path::new("/t/description.json"));
        assert_eq!(d.pidfile("in1"), Path::new("/t/run/in1.pid"));
        assert_eq!(d.step_log(Step::Input), Path::new("/t/log/01-input.log"));
        assert_eq!(d.step_log(Step::Copy), Path::new("/t/log/04-copy.log"));
        assert_eq!(
            d.server_log(Step::Input, "in1"),
            Path::new("/t/log/01-input-in1.log")
        );
        assert_eq!(
            d.done_file(Step::OutputSetup),
            Path::new("/t/status/output-setup.done")
        );
        assert_eq!(
            d.error_file(Step::Convert),
            Path::new("/t/status/convert.error.json")
        );
        for s in Step::ALL {
            assert_eq!(Step::from_name(s.name()), Some(s));
        }
        assert_eq!(V2vDir::in_name(3), "in3");
        assert_eq!(V2vDir::out_name(3), "out3");
        assert_eq!(d.runner_log(), Path::new("/t/log/00-virt-v2v.log"));
        assert_eq!(d.guard_pidfile("out1"), Path::new("/t/run/out1-guard.pid"));
        assert!(V2vDir::is_guard_pidfile(&d.guard_pidfile("out1")));
        assert!(!V2vDir::is_guard_pidfile(&d.pidfile("out1")));
        assert_eq!(d.overlay(2), Path::new("/t/tmp/overlay2.qcow2"));
        assert_eq!(V2vDir::src_name(2), "src2");
        assert_eq!(d.askpass(), Path::new("/t/tmp/askpass"));
        assert_eq!(d.unpacked(3), Path::new("/t/tmp/disk3.unpacked"));
    }

    #[test]
    fn resolve_accepts_only_bare_names() {
        let d = V2vDir::new("/t");
        let f = Path::new("/t/metadata.in");
        assert_eq!(
            d.resolve(f, "source.disks[0].socket", "in1").unwrap(),
            Path::new("/t/in1")
        );
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "/tmp/x",
            "in1/../../x",
            "a/b",
            "x\0y",
        ] {
            let e = d.resolve(f, "source.disks[0].socket", bad).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("/t/metadata.in") && msg.contains("source.disks[0].socket"),
                "{msg}"
            );
        }
    }

    #[test]
    fn create_is_private_and_idempotent() {
        let t = tempfile::tempdir().unwrap();
        let d = V2vDir::create(t.path().join("v2v")).unwrap();
        V2vDir::create(d.root()).unwrap();
        let mode = fs::metadata(d.root()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(d.run_dir().is_dir() && d.log_dir().is_dir() && d.status_dir().is_dir());
        fs::write(d.pidfile("b"), "1").unwrap();
        fs::write(d.pidfile("a"), "2").unwrap();
        fs::write(d.run_dir().join("junk"), "").unwrap();
        assert_eq!(d.pidfiles().unwrap(), vec![d.pidfile("a"), d.pidfile("b")]);
    }
}
