//! `-it ssh`: a `.vmx` and its disks on a host reachable by ssh (an ESXi
//! host with ssh enabled, or any Unix host).  Descriptions are read with
//! `ssh HOST head -c N -- PATH` (bounded); disk data is read by nbdkit's
//! ssh plugin (sftp), so nothing is copied to local storage.

use helper_common::{Failure, Result};
use std::path::{Path, PathBuf};
use v2v_servers::Nbdkit;

/// `ssh://[user@]host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshUri {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// Absolute path on the remote host (percent-decoded).
    pub path: String,
}

fn percent_decode(s: &str) -> std::result::Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad %-escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?}: not UTF-8 once decoded"))
}

/// Parse an `ssh://` URI.
pub fn parse_uri(uri: &str) -> std::result::Result<SshUri, String> {
    let rest = uri
        .strip_prefix("ssh://")
        .ok_or_else(|| format!("{uri}: expected ssh://[user@]host[:port]/path/guest.vmx"))?;
    let (auth, path) = rest
        .split_once('/')
        .ok_or_else(|| format!("{uri}: no path after the host"))?;
    let path = format!("/{}", percent_decode(path)?);
    if path == "/" {
        return Err(format!("{uri}: no path after the host"));
    }
    let (user, hostport) = match auth.rsplit_once('@') {
        Some((u, h)) => (Some(percent_decode(u)?), h),
        None => (None, auth),
    };
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        // [ipv6]:port
        let (h, p) = h
            .split_once(']')
            .ok_or_else(|| format!("{uri}: unterminated [ in host"))?;
        (h.to_string(), p.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(format!("{uri}: no host"));
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse().map_err(|_| format!("{uri}: bad port {p:?}"))?),
    };
    if user.as_deref() == Some("") {
        return Err(format!("{uri}: empty user name"));
    }
    Ok(SshUri {
        user,
        host,
        port,
        path,
    })
}

/// How to authenticate and check the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOptions {
    /// `-io ssh-identity=FILE`: private key to use.
    pub identity: Option<PathBuf>,
    /// `-io ssh-known-hosts=FILE`: known-hosts file to check the host key against.
    pub known_hosts: Option<PathBuf>,
    /// `-io ssh-verify-host=false` turns host key checking off.
    pub verify_host: bool,
    /// `-ip FILE`: file holding the password.
    pub password_file: Option<PathBuf>,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            identity: None,
            known_hosts: None,
            verify_host: true,
            password_file: None,
        }
    }
}

/// Parse the `-io KEY=VALUE` options of `-it ssh`.
pub fn parse_options(io: &[String], password_file: Option<&Path>) -> Result<SshOptions> {
    let mut o = SshOptions {
        password_file: password_file.map(helper_common::absolute),
        ..Default::default()
    };
    for kv in io {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("-io {kv}: expected KEY=VALUE")))?;
        match k {
            "ssh-identity" => o.identity = Some(helper_common::absolute(Path::new(v))),
            "ssh-known-hosts" => o.known_hosts = Some(helper_common::absolute(Path::new(v))),
            "ssh-verify-host" => {
                o.verify_host = match v {
                    "true" | "yes" | "1" | "on" => true,
                    "false" | "no" | "0" | "off" => false,
                    _ => return Err(Failure::usage(format!("-io {kv}: expected true or false"))),
                }
            }
            _ => {
                return Err(Failure::usage(format!(
                    "-io {k}: unknown option for -it ssh (known: ssh-identity, ssh-known-hosts, ssh-verify-host)"
                )))
            }
        }
    }
    Ok(o)
}

/// Quote `s` for the remote (POSIX) shell.
pub fn remote_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A remote host and the options to reach it.
#[derive(Debug, Clone)]
pub struct Remote {
    pub uri: SshUri,
    pub opts: SshOptions,
}

impl Remote {
    /// `user@host` (or `host`).
    fn destination(&self) -> String {
        match &self.uri.user {
            Some(u) => format!("{u}@{}", self.uri.host),
            None => self.uri.host.clone(),
        }
    }

    /// The argv (program first) running `remote_cmd` on the host.  With a
    /// password file, ssh reads it through `SSH_ASKPASS` (`askpass` is
    /// the script that prints it).
    pub fn ssh_argv(&self, remote_cmd: &str, askpass: Option<&Path>) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        if let Some(a) = askpass {
            v.extend([
                "env".into(),
                format!("SSH_ASKPASS={}", a.display()),
                "SSH_ASKPASS_REQUIRE=force".into(),
            ]);
        }
        v.push("ssh".into());
        if askpass.is_none() {
            v.extend(["-o".into(), "BatchMode=yes".into()]);
        }
        v.extend(["-o".into(), "ConnectTimeout=30".into()]);
        if let Some(p) = self.uri.port {
            v.extend(["-p".into(), p.to_string()]);
        }
        if let Some(i) = &self.opts.identity {
            v.extend(["-i".into(), i.display().to_string()]);
            v.extend(["-o".into(), "IdentitiesOnly=yes".into()]);
        }
        if !self.opts.verify_host {
            v.extend([
                "-o".into(),
                "StrictHostKeyChecking=no".into(),
                "-o".into(),
                "UserKnownHostsFile=/dev/null".into(),
            ]);
        } else {
            if let Some(k) = &self.opts.known_hosts {
                v.extend(["-o".into(), format!("UserKnownHostsFile={}", k.display())]);
            }
            v.extend(["-o".into(), "StrictHostKeyChecking=yes".into()]);
        }
        v.push("--".into());
        v.push(self.destination());
        v.push(remote_cmd.into());
        v
    }

    /// Read at most `max` bytes from the start of the remote file `path`.
    pub fn read_head(&self, path: &str, max: u64, askpass: Option<&Path>) -> Result<Vec<u8>> {
        let cmd = format!("head -c {max} -- {}", remote_quote(path));
        let argv = self.ssh_argv(&cmd, askpass);
        let out = helper_common::run_cmd(&argv[0], &argv[1..])
            .map_err(|f| f.context(format!("reading {path} on {} over ssh", self.uri.host)))?;
        Ok(out.stdout)
    }

    /// An nbdkit ssh plugin reading the remote file `path` (raw).
    pub fn nbdkit(&self, path: &str) -> Nbdkit {
        let mut n = Nbdkit::new("ssh")
            .param("host", &self.uri.host)
            .param("path", path);
        if let Some(p) = self.uri.port {
            n = n.param("port", p.to_string());
        }
        if let Some(u) = &self.uri.user {
            n = n.param("user", u);
        }
        if let Some(i) = &self.opts.identity {
            n = n.param("identity", i);
        }
        match &self.opts.known_hosts {
            _ if !self.opts.verify_host => n = n.param("verify-remote-host", "false"),
            Some(k) => n = n.param("known-hosts", k),
            None => {}
        }
        if let Some(p) = &self.opts.password_file {
            n = n.param("password", format!("+{}", p.display()));
        }
        n
    }
}

/// Write the program at `p` (`DIR/tmp/askpass`, 0700) that prints the
/// password file, for ssh's `SSH_ASKPASS`.
pub fn write_askpass(p: &Path, password_file: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let p = p.to_path_buf();
    let q = remote_quote(&password_file.display().to_string());
    std::fs::write(&p, format!("#!/bin/sh\nexec head -n 1 {q}\n"))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use v2v_servers::ServerSpec;

    #[test]
    fn uris() {
        let u = parse_uri("ssh://root@esxi.example.com/vmfs/volumes/datastore1/g/g.vmx").unwrap();
        assert_eq!(u.user.as_deref(), Some("root"));
        assert_eq!(u.host, "esxi.example.com");
        assert_eq!(u.port, None);
        assert_eq!(u.path, "/vmfs/volumes/datastore1/g/g.vmx");
        let u = parse_uri("ssh://127.0.0.1:2222/tmp/my%20guest/g.vmx").unwrap();
        assert_eq!((u.user, u.port), (None, Some(2222)));
        assert_eq!(u.path, "/tmp/my guest/g.vmx");
        let u = parse_uri("ssh://a@[::1]:22/x.vmx").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", Some(22)));
        for bad in [
            "/local/x.vmx",
            "ssh://host",
            "ssh://host/",
            "ssh:///x.vmx",
            "ssh://h:port/x",
            "ssh://@h/x",
            "ssh://h/%zz",
        ] {
            assert!(parse_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_and_argv() {
        let io = vec![
            "ssh-identity=/k/id".to_string(),
            "ssh-known-hosts=/k/kh".to_string(),
        ];
        let o = parse_options(&io, None).unwrap();
        assert!(o.verify_host);
        let r = Remote {
            uri: parse_uri("ssh://root@h:2022/d/g.vmx").unwrap(),
            opts: o,
        };
        let v = r.ssh_argv("head -c 10 -- '/d/g.vmx'", None);
        assert_eq!(v[0], "ssh");
        assert!(v.windows(2).any(|w| w == ["-p", "2022"]));
        assert!(v.windows(2).any(|w| w == ["-i", "/k/id"]));
        assert!(v.contains(&"UserKnownHostsFile=/k/kh".to_string()));
        assert!(v.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert_eq!(
            &v[v.len() - 3..],
            ["--", "root@h", "head -c 10 -- '/d/g.vmx'"]
        );
        let n = r
            .nbdkit("/d/g-flat.vmdk")
            .argv(Path::new("/s"), Path::new("/p"), 1);
        for want in [
            "ssh",
            "host=h",
            "port=2022",
            "user=root",
            "identity=/k/id",
            "known-hosts=/k/kh",
        ] {
            assert!(n.contains(&want.to_string()), "{want}: {n:?}");
        }
        let o = parse_options(&["ssh-verify-host=false".into()], Some(Path::new("/pw"))).unwrap();
        assert!(!o.verify_host);
        let r = Remote {
            uri: parse_uri("ssh://h/g.vmx").unwrap(),
            opts: o,
        };
        let v = r.ssh_argv("true", Some(Path::new("/d/tmp/askpass")));
        assert_eq!(
            &v[..3],
            [
                "env",
                "SSH_ASKPASS=/d/tmp/askpass",
                "SSH_ASKPASS_REQUIRE=force"
            ]
        );
        assert!(!v.contains(&"BatchMode=yes".to_string()));
        let n = r
            .nbdkit("/g.vmdk")
            .argv(Path::new("/s"), Path::new("/p"), 1);
        assert!(n.contains(&"verify-remote-host=false".to_string()));
        assert!(n.contains(&"password=+/pw".to_string()));
        assert_eq!(parse_options(&["x=1".into()], None).unwrap_err().code, 2);
        assert_eq!(
            parse_options(&["ssh-verify-host=maybe".into()], None)
                .unwrap_err()
                .code,
            2
        );
        assert_eq!(remote_quote("a'b"), "'a'\\''b'");
    }
}
