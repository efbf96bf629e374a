//! An sshd of the test's own on 127.0.0.1 (its own host key, client key
//! and config), killed by PID, with every connection it serves, on drop
//! or by [`Sshd::kill`] (the ssh connection dropping).

use crate::{gone, require, sh};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An sshd of the test's own; `dir` holds its keys, config, `known_hosts`
/// (for `-io ssh-known-hosts=`), the client key `id` (for
/// `-io ssh-identity=`) and its log `sshd.log`.
pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Sshd {
    /// Start it in `dir` (an existing directory) on a free port; returns
    /// once it accepts connections.
    pub fn start(dir: &Path) -> Sshd {
        require("/usr/sbin/sshd");
        require("/usr/lib/openssh/sftp-server");
        require("ssh");
        require("ssh-keygen");
        let d = dir.display();
        sh(&format!(
            "ssh-keygen -q -t ed25519 -N '' -f {d}/hostkey && ssh-keygen -q -t ed25519 -N '' -f {d}/id \
             && cp {d}/id.pub {d}/authorized_keys"
        ));
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "HostKey {d}/hostkey\nAuthorizedKeysFile {d}/authorized_keys\nStrictModes no\n\
                 ListenAddress 127.0.0.1\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nPermitRootLogin prohibit-password\nPidFile none\nUseDNS no\n\
                 Subsystem sftp /usr/lib/openssh/sftp-server\n"
            ),
        )
        .unwrap();
        // sshd's privilege separation directory (root only).
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-p", &port.to_string(), "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(10), "sshd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let hostpub = std::fs::read_to_string(dir.join("hostkey.pub")).unwrap();
        let key: Vec<&str> = hostpub.split_whitespace().take(2).collect();
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", key.join(" ")),
        )
        .unwrap();
        Sshd {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// The connections it serves: its descendants (per-connection sshd,
    /// sftp-server...), by pid.
    pub fn sessions(&self) -> Vec<i32> {
        let mut parent: Vec<(i32, i32)> = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            if let Some(ppid) = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok())
            {
                parent.push((pid, ppid));
            }
        }
        let mut found = vec![self.child.id() as i32];
        loop {
            let more: Vec<i32> = parent
                .iter()
                .filter(|(p, pp)| found.contains(pp) && !found.contains(p))
                .map(|(p, _)| *p)
                .collect();
            if more.is_empty() {
                found.remove(0);
                return found;
            }
            found.extend(more);
        }
    }

    /// Drop every connection: SIGKILL the listener (stopped first, so it
    /// forks no new session meanwhile) and its sessions, by pid; whether
    /// they are all gone within 10 s.
    pub fn kill(&mut self) -> bool {
        let listener = self.child.id() as i32;
        // SAFETY: kill(2) on the pid of our own child, a plain syscall.
        unsafe { libc::kill(listener, libc::SIGSTOP) };
        let sessions = self.sessions();
        for p in &sessions {
            // SAFETY: kill(2) on pids this sshd forked, a plain syscall.
            unsafe { libc::kill(*p, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let t0 = Instant::now();
        while !sessions.iter().all(|p| gone(*p)) {
            if t0.elapsed() > Duration::from_secs(10) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
