//! A private libvirt daemon for one test: `libvirtd` in session mode
//! (`qemu:///session`) running as `nobody`, with its home, runtime
//! directory and socket inside the test's [`Sandbox`] (its configuration
//! and guests' sockets in a short temporary directory in /tmp), reached by root's
//! helpers through `qemu+unix:///session?socket=...`.  No system daemon is
//! needed or touched.  Its `Drop` destroys the domains it runs and stops
//! the daemon by its pid (SIGTERM, 5 s, SIGKILL), even when the test fails;
//! the sandbox's own `Drop` then kills anything still naming the sandbox.

use crate::{require_tool, run, Run, Sandbox};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{chown, Pid, User};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user the daemon and its guests run as.
const USER: &str = "nobody";

pub struct Libvirtd {
    child: Child,
    /// Its `XDG_CONFIG_HOME`: short, in /tmp, as guests' monitor and
    /// channel sockets go below it and a socket path has 107 bytes at most.
    _config_home: tempfile::TempDir,
    /// `SANDBOX/libvirt`: the daemon's home, runtime dir, log.
    root: PathBuf,
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
    /// `qemu+unix:///session?socket=...`
    pub uri: String,
}

impl Libvirtd {
    /// Start the daemon; returns once it answers on its socket.
    pub fn start(sb: &Sandbox) -> Libvirtd {
        require_tool("virsh");
        let daemon = Path::new("/usr/sbin/libvirtd");
        assert!(
            daemon.is_file(),
            "libvirtd not found (install it with scripts/install-deps.sh)"
        );
        let user = User::from_name(USER)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("user {USER} not found"));
        // The daemon (not root) must reach its directories in the sandbox.
        fs::set_permissions(sb.root(), fs::Permissions::from_mode(0o711)).unwrap();
        let root = sb.path("libvirt");
        let (home, runtime) = (root.join("home"), root.join("run"));
        let config_home = tempfile::Builder::new()
            .prefix("v2v-lv.")
            .tempdir_in("/tmp")
            .unwrap();
        let config = config_home.path().join("libvirt");
        fs::create_dir_all(&config).unwrap();
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&runtime).unwrap();
        // Guests' consoles and logs go to files (no virtlogd outliving the
        // test); libvirtd's own configuration is empty.
        fs::write(config.join("qemu.conf"), "stdio_handler = \"file\"\n").unwrap();
        let conf = root.join("libvirtd.conf");
        fs::write(&conf, "").unwrap();
        for d in [&root, &home, &runtime] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o700)).unwrap();
        }
        chown_tree(&root, user.uid, user.gid);
        chown_tree(config_home.path(), user.uid, user.gid);
        let log = fs::File::create(root.join("libvirtd.log")).unwrap();
        let socket = runtime.join("libvirt/libvirt-sock");
        let child = Command::new("setpriv")
            .arg(format!("--reuid={}", user.uid))
            .arg(format!("--regid={}", user.gid))
            .arg("--clear-groups")
            .arg(daemon)
            .arg("--config")
            .arg(&conf)
            // Exit on its own if a test run is killed before Drop runs.
            .args(["--timeout", "3600"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("XDG_CONFIG_HOME", config_home.path())
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot run setpriv (util-linux)");
        let mut d = Libvirtd {
            child,
            _config_home: config_home,
            uri: format!("qemu+unix:///session?socket={}", socket.display()),
            root,
            uid: user.uid,
            gid: user.gid,
        };
        let t = Instant::now();
        loop {
            if socket.exists() && d.virsh(&["uri"]).code == 0 {
                break;
            }
            if let Ok(Some(st)) = d.child.try_wait() {
                panic!("libvirtd exited ({st}) at start:\n{}", d.log());
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "libvirtd did not answer on {} within 30 s:\n{}",
                socket.display(),
                d.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("libvirtd.log")).unwrap_or_default()
    }

    /// `virsh -c URI ARGS...`.
    pub fn virsh(&self, args: &[&str]) -> Run {
        run(Command::new("virsh")
            .arg("-q")
            .arg("-c")
            .arg(&self.uri)
            .args(args)
            .stdin(Stdio::null()))
    }

    /// [`Libvirtd::virsh`], which must succeed: its stdout.
    #[track_caller]
    pub fn virsh_ok(&self, args: &[&str]) -> String {
        let r = self.virsh(args);
        assert_eq!(r.code, 0, "virsh {args:?} failed:\n{r}");
        r.stdout
    }

    /// A directory (owned by the daemon's user) for its guests' files.
    pub fn make_dir(&self, p: &Path) {
        fs::create_dir_all(p).unwrap();
        chown(p, Some(self.uid), Some(self.gid)).unwrap();
    }

    /// Define and start directory pool `name` on directory `dir` (created).
    pub fn dir_pool(&self, name: &str, dir: &Path) {
        self.make_dir(dir);
        let dir = dir.to_str().unwrap();
        self.virsh_ok(&["pool-define-as", name, "dir", "--target", dir]);
        self.virsh_ok(&["pool-start", name]);
    }
}

fn chown_tree(p: &Path, uid: nix::unistd::Uid, gid: nix::unistd::Gid) {
    chown(p, Some(uid), Some(gid)).unwrap();
    if p.is_dir() {
        for e in fs::read_dir(p).unwrap().flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

impl Drop for Libvirtd {
    fn drop(&mut self) {
        // Running guests outlive libvirtd: stop them first.
        let r = self.virsh(&["list", "--name"]);
        for name in r
            .stdout
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
        {
            let _ = self.virsh(&["destroy", name]);
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let t = Instant::now();
        while t.elapsed() < v2v_servers::STOP_GRACE {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(v2v_servers::STOP_POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
