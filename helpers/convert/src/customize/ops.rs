//! Apply the customisation operations to the mounted, converted guest, in
//! order, each logged; an error names the operation.  Commands run as
//! virt-customize runs them: with the guest's own `/bin/sh`, chrooted into
//! the guest by the appliance's daemon (`GuestFs::sh`).

use super::{firstboot, Op};
use crate::guest::GuestFs;
use crate::linux::Family;
use helper_common::{message, sh_quote, Failure, Result};
use std::os::unix::fs::PermissionsExt;
use v2v_meta::Change;

/// Apply `ops` in order.
pub fn apply(g: &dyn GuestFs, family: Family, ops: &[Op]) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for op in ops {
        message!("Customising: {op}");
        let t = std::time::Instant::now();
        let mut c = apply_one(g, family, op).map_err(|e| e.context(op))?;
        crate::apply::time_first(&mut c, t);
        changes.extend(c);
    }
    Ok(changes)
}

fn change(target: &str, op: &Op) -> Change {
    Change {
        kind: "customize".into(),
        target: target.into(),
        detail: op.to_string(),
        seconds: None,
    }
}

fn read_local(p: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| Failure::usage(format!("cannot read {}: {e}", p.display())))
}

fn apply_one(g: &dyn GuestFs, family: Family, op: &Op) -> Result<Vec<Change>> {
    Ok(match op {
        Op::Hostname(h) => hostname(g, family, h)?
            .iter()
            .map(|p| change(p, op))
            .collect(),
        Op::Firstboot(p) => {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "script".into());
            vec![firstboot::add(g, &name, &read_local(p)?)?]
        }
        Op::FirstbootCommand(c) => {
            vec![firstboot::add(
                g,
                "command",
                format!("#!/bin/sh\n{c}\n").as_bytes(),
            )?]
        }
        Op::Run(p) => {
            run(g, &read_local(p)?)?;
            vec![change("/", op)]
        }
        Op::RunCommand(c) => {
            run(g, format!("#!/bin/sh\n{c}\n").as_bytes())?;
            vec![change("/", op)]
        }
        Op::Upload { file, dest } => {
            let data = read_local(file)?;
            let mode = std::fs::metadata(file)
                .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?
                .permissions()
                .mode()
                & 0o7777;
            let is_dir = g.sh(&format!("if [ -d {} ]; then echo dir; fi", sh_quote(dest)))?;
            let target = if is_dir.trim() == "dir" {
                let base = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!("{}/{base}", dest.trim_end_matches('/'))
            } else {
                dest.clone()
            };
            g.write(&target, &data)?;
            g.sh(&format!("chmod {mode:04o} {}", sh_quote(&target)))?;
            vec![change(&target, op)]
        }
        Op::Mkdir(d) => {
            g.mkdir_p(d)?;
            vec![change(d, op)]
        }
        Op::Write { file, content } => {
            g.write(file, content.as_bytes())?;
            vec![change(file, op)]
        }
        Op::Delete(pattern) => {
            let paths = g.glob(pattern)?;
            if paths.is_empty() {
                message!("--delete {pattern}: nothing matches");
            }
            let words: Vec<String> = paths.iter().map(|p| sh_quote(p)).collect();
            if !words.is_empty() {
                g.sh(&format!("rm -rf -- {}", words.join(" ")))?;
            }
            paths.iter().map(|p| change(p, op)).collect()
        }
        Op::Timezone(tz) => {
            let zone = format!("/usr/share/zoneinfo/{tz}");
            if !g.exists(&zone)? {
                return Err(Failure::unsupported(format!(
                    "the guest has no time zone {tz} ({zone} does not exist)"
                )));
            }
            g.sh(&format!("ln -sf {} /etc/localtime", sh_quote(&zone)))?;
            let mut c = vec![change("/etc/localtime", op)];
            if family == Family::Debian || g.exists("/etc/timezone")? {
                g.write("/etc/timezone", format!("{tz}\n").as_bytes())?;
                c.push(change("/etc/timezone", op));
            }
            c
        }
    })
}

/// Run a script in the guest: copied to `/tmp`, made executable, run from
/// there (its `#!` line chooses the interpreter), removed.
fn run(g: &dyn GuestFs, script: &[u8]) -> Result<()> {
    let path = format!("/tmp/v2v-customize-{}.sh", std::process::id());
    g.mkdir_p("/tmp")?;
    g.write(&path, script)?;
    let out = g.sh(&format!(
        "chmod 0755 {p} && cd /tmp && {p}; rc=$?; rm -f {p}; exit $rc",
        p = sh_quote(&path)
    ))?;
    for l in out.lines() {
        helper_common::debug!("output: {l}");
    }
    Ok(())
}

/// Set the hostname: `/etc/hostname` (and `/etc/HOSTNAME` on SUSE), the
/// old name replaced in `/etc/hosts`, `HOSTNAME=` in
/// `/etc/sysconfig/network` where the guest has one.  The files changed.
fn hostname(g: &dyn GuestFs, family: Family, new: &str) -> Result<Vec<String>> {
    let old = g
        .read_string("/etc/hostname")?
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut files = vec!["/etc/hostname".to_string()];
    g.write("/etc/hostname", format!("{new}\n").as_bytes())?;
    if family == Family::Suse {
        g.write("/etc/HOSTNAME", format!("{new}\n").as_bytes())?;
        files.push("/etc/HOSTNAME".into());
    }
    if let Some(hosts) = g.read_string("/etc/hosts")? {
        let short_old = old.split('.').next().unwrap_or("");
        let replaced = replace_host(&hosts, &old, short_old, new);
        if replaced != hosts {
            g.write("/etc/hosts", replaced.as_bytes())?;
            files.push("/etc/hosts".into());
        }
    }
    if let Some(net) = g.read_string("/etc/sysconfig/network")? {
        if net.lines().any(|l| l.starts_with("HOSTNAME=")) {
            let t: Vec<String> = net
                .lines()
                .map(|l| {
                    if l.starts_with("HOSTNAME=") {
                        format!("HOSTNAME={new}")
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            g.write("/etc/sysconfig/network", (t.join("\n") + "\n").as_bytes())?;
            files.push("/etc/sysconfig/network".into());
        }
    }
    Ok(files)
}

/// `/etc/hosts` with the old name (and its short form) replaced by the new
/// one wherever it is a host name of a line; comments untouched.
pub fn replace_host(hosts: &str, old: &str, short_old: &str, new: &str) -> String {
    if old.is_empty() {
        return hosts.to_string();
    }
    let short_new = new.split('.').next().unwrap_or(new);
    let mut out: Vec<String> = Vec::new();
    for line in hosts.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let (data, comment) = match body.find('#') {
            Some(i) => (&body[..i], &body[i..]),
            None => (body, ""),
        };
        let mut words = data.split_whitespace();
        let Some(addr) = words.next() else {
            out.push(line.to_string());
            continue;
        };
        let names: Vec<&str> = words.collect();
        if !names.iter().any(|w| *w == old || *w == short_old) {
            out.push(line.to_string());
            continue;
        }
        let mut new_names: Vec<&str> = Vec::new();
        for w in names {
            let n = if w == old {
                new
            } else if w == short_old {
                short_new
            } else {
                w
            };
            if !new_names.contains(&n) {
                new_names.push(n);
            }
        }
        let sep = if comment.is_empty() { "" } else { " " };
        out.push(format!("{addr}\t{}{sep}{comment}{nl}", new_names.join(" ")));
    }
    out.concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::DirGuest;

    #[test]
    fn hosts_names_are_replaced() {
        let hosts = "127.0.0.1\tlocalhost\n127.0.1.1\told.example.com old # mine\n\
                     # old is here\n::1 localhost ip6-localhost\n";
        assert_eq!(
            replace_host(hosts, "old.example.com", "old", "new.lan"),
            "127.0.0.1\tlocalhost\n127.0.1.1\tnew.lan new # mine\n\
             # old is here\n::1 localhost ip6-localhost\n"
        );
        assert_eq!(
            replace_host(
                "127.0.1.1 foreign-guest\n",
                "foreign-guest",
                "foreign-guest",
                "n2"
            ),
            "127.0.1.1\tn2\n"
        );
        assert_eq!(replace_host(hosts, "", "", "x"), hosts);
    }

    #[test]
    fn operations_on_a_guest_tree() {
        let t = tempfile::tempdir().unwrap();
        let g = DirGuest::new(t.path())
            .with_output("if [ -d '/srv/d' ]", "dir\n")
            .with_output("if [ -d /srv/d ]", "dir\n");
        g.put("/etc/hostname", "foreign-guest\n");
        g.put("/etc/hosts", "127.0.1.1 foreign-guest\n");
        g.put("/usr/share/zoneinfo/Europe/Paris", "TZif");
        g.put("/var/log/a.log", "x");
        g.put("/var/log/b.log", "x");
        std::fs::create_dir_all(t.path().join("srv/d")).unwrap();
        let local = t.path().join("up.txt");
        std::fs::write(&local, "uploaded").unwrap();
        std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o640)).unwrap();
        let ops = vec![
            Op::Hostname("newname".into()),
            Op::Write {
                file: "/etc/motd".into(),
                content: "hello".into(),
            },
            Op::Mkdir("/srv/new/dir".into()),
            Op::Delete("/var/log/*.log".into()),
            Op::Timezone("Europe/Paris".into()),
            Op::Upload {
                file: local.clone(),
                dest: "/srv/d".into(),
            },
            Op::RunCommand("touch /ran".into()),
        ];
        let changes = apply(&g, Family::Debian, &ops).unwrap();
        assert_eq!(g.get("/etc/hostname").unwrap(), "newname\n");
        assert_eq!(g.get("/etc/hosts").unwrap(), "127.0.1.1\tnewname\n");
        assert_eq!(g.get("/etc/motd").unwrap(), "hello");
        assert!(t.path().join("srv/new/dir").is_dir());
        assert_eq!(g.get("/etc/timezone").unwrap(), "Europe/Paris\n");
        assert_eq!(g.get("/srv/d/up.txt").unwrap(), "uploaded");
        let cmds = g.commands();
        let want_rm = "rm -rf -- /var/log/a.log /var/log/b.log";
        assert!(cmds.iter().any(|c| c == want_rm), "{cmds:?}");
        assert!(cmds
            .iter()
            .any(|c| c == "ln -sf /usr/share/zoneinfo/Europe/Paris /etc/localtime"));
        assert!(
            cmds.iter().any(|c| c == "chmod 0640 /srv/d/up.txt"),
            "{cmds:?}"
        );
        assert!(cmds.iter().any(|c| c.contains("&& cd /tmp && ")));
        let kinds: Vec<&str> = changes.iter().map(|c| c.target.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "/etc/hostname",
                "/etc/hosts",
                "/etc/motd",
                "/srv/new/dir",
                "/var/log/a.log",
                "/var/log/b.log",
                "/etc/localtime",
                "/etc/timezone",
                "/srv/d/up.txt",
                "/"
            ]
        );
    }

    #[test]
    fn errors_name_the_operation() {
        let t = tempfile::tempdir().unwrap();
        let g = DirGuest::new(t.path()).with_failure("/tmp/v2v-customize-", "exit status 1");
        let e = apply(&g, Family::Debian, &[Op::Timezone("Mars/Olympus".into())]).unwrap_err();
        assert_eq!(
            e.message,
            "--timezone Mars/Olympus: the guest has no time zone Mars/Olympus \
             (/usr/share/zoneinfo/Mars/Olympus does not exist)"
        );
        let e = apply(&g, Family::Debian, &[Op::RunCommand("false".into())]).unwrap_err();
        assert!(
            e.message.starts_with("--run-command 'false': "),
            "{}",
            e.message
        );
        assert_eq!(
            g.get(&format!("/tmp/v2v-customize-{}.sh", std::process::id()))
                .unwrap(),
            "#!/bin/sh\nfalse\n"
        );
    }
}
