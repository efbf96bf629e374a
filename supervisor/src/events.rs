//! `--events FILE|fd:N`: where the run's JSON event stream goes (the
//! supervisor's events and every helper's), kept apart from virt-v2v's own
//! output so that nothing expecting upstream's stdout sees JSON.

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use std::os::fd::IntoRawFd;

/// The `--events` option (flattened into [`crate::args::Args`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EventsArgs {
    /// Write the JSON event stream (one object per line, see
    /// schema/event.schema.json), the supervisor's and every helper's, to
    /// FILE (appended to, created if missing) or to the open file
    /// descriptor N (fd:N, e.g. fd:3; fd:1 is stdout).
    #[arg(long = "events", value_name = "FILE|fd:N")]
    pub events: Option<String>,
}

impl EventsArgs {
    /// Open the event stream: the file descriptor the supervisor writes
    /// to and the helpers get as `--events-fd N` (inherited: not
    /// close-on-exec).  `None` without `--events`.
    pub fn open(&self) -> Result<Option<i32>, String> {
        let Some(spec) = self.events.as_deref() else {
            return Ok(None);
        };
        let fd = match spec.strip_prefix("fd:") {
            Some(n) => {
                let fd: i32 = n.parse().ok().filter(|&fd| fd >= 0).ok_or_else(|| {
                    format!("--events {spec}: N in fd:N is not a file descriptor number")
                })?;
                if fd == 0 || fd == 2 {
                    return Err(format!(
                        "--events {spec}: fd 0 is stdin and fd 2 carries messages and errors; use fd:1 or a descriptor of your own"
                    ));
                }
                fcntl(fd, FcntlArg::F_GETFD).map_err(|e| {
                    format!("--events {spec}: file descriptor {fd} is not open: {e}")
                })?;
                fd
            }
            None => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(spec)
                .map_err(|e| format!("--events {spec}: cannot open: {e}"))?
                .into_raw_fd(),
        };
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()))
            .map_err(|e| format!("--events {spec}: {e}"))?;
        Ok(Some(fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> EventsArgs {
        EventsArgs {
            events: Some(s.into()),
        }
    }

    #[test]
    fn file_and_fd_forms() {
        assert_eq!(EventsArgs::default().open(), Ok(None));
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("ev.jsonl");
        let fd = ev(p.to_str().unwrap()).open().unwrap().unwrap();
        assert!(p.exists() && fd > 2);
        let flags = fcntl(fd, FcntlArg::F_GETFD).unwrap();
        assert_eq!(flags & FdFlag::FD_CLOEXEC.bits(), 0, "inherited by helpers");
        nix::unistd::close(fd).unwrap();
        for bad in ["fd:x", "fd:-1", "fd:0", "fd:2", "fd:987"] {
            let e = ev(bad).open().unwrap_err();
            assert!(e.starts_with(&format!("--events {bad}: ")), "{e}");
        }
        let e = ev("/nonexistent/dir/ev").open().unwrap_err();
        assert!(e.contains("cannot open"), "{e}");
    }
}
