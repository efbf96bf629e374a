//! Linux first boot, in virt-customize's layout (guestfs-tools
//! `mlcustomize/firstboot.ml`): scripts in `/usr/lib/virt-sysprep/scripts`
//! (`NNNN-name`, run in name order), a runner `firstboot.sh`, the systemd
//! unit `guestfs-firstboot.service` enabled in multi-user.target, a log in
//! `/root/virt-sysprep-firstboot.log`.  Each script runs once (then moves
//! to `scripts-done`); once none is left the unit disables itself.

use crate::guest::GuestFs;
use helper_common::{sh_quote, Result};
use v2v_meta::Change;

pub const DIR: &str = "/usr/lib/virt-sysprep";
pub const SCRIPTS: &str = "/usr/lib/virt-sysprep/scripts";
pub const RUNNER: &str = "/usr/lib/virt-sysprep/firstboot.sh";
pub const LOG: &str = "/root/virt-sysprep-firstboot.log";
pub const UNIT: &str = "/usr/lib/systemd/system/guestfs-firstboot.service";
pub const WANTS: &str = "/etc/systemd/system/multi-user.target.wants";
pub const UNIT_NAME: &str = "guestfs-firstboot.service";

/// The runner: every script of `SCRIPTS` in order, its output and exit
/// status in `LOG` (and on the console), moved to `scripts-done` after it
/// ran; then the unit disables itself.
pub fn runner() -> String {
    format!(
        r#"#!/bin/sh -
# Written by helper-v2v-convert (virt-v2v --firstboot, --firstboot-command):
# run each first-boot script once, in order, then disable this service.
d={DIR}
log={LOG}
mkdir -p "$d/scripts-done"
for f in "$d"/scripts/*; do
  [ -f "$f" ] || continue
  n=${{f##*/}}
  echo "=== Running $n ===" >>"$log"
  chmod 0755 "$f"
  "$f" >>"$log" 2>&1
  echo "=== $n exited $? ===" >>"$log"
  mv -f "$f" "$d/scripts-done/"
done
rm -f {WANTS}/{UNIT_NAME}
echo "=== first boot done ===" >>"$log"
"#
    )
}

/// The systemd unit.
pub fn unit() -> String {
    format!(
        "# Written by helper-v2v-convert: runs {RUNNER} (first-boot scripts) once.\n\
         [Unit]\nDescription=virt-v2v first-boot scripts\n\
         After=network.target\nBefore=getty.target\n\
         ConditionPathExists={RUNNER}\n\n\
         [Service]\nType=oneshot\nExecStart={RUNNER}\nRemainAfterExit=yes\n\
         StandardOutput=journal+console\nStandardError=inherit\nTimeoutStartSec=0\n\n\
         [Install]\nWantedBy=multi-user.target\n"
    )
}

/// A script file name: `NNNN-` then the name with anything but
/// letters, digits, `-`, `_` and `.` replaced by `-`.
pub fn script_name(n: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{n:04}-{clean}")
}

/// Add one first-boot script (installing the service the first time):
/// numbered after the scripts already there.
pub fn add(g: &dyn GuestFs, name: &str, content: &[u8]) -> Result<Change> {
    install(g)?;
    let n = g.glob(&format!("{SCRIPTS}/*"))?.len() + 1;
    let path = format!("{SCRIPTS}/{}", script_name(n, name));
    g.write(&path, content)?;
    g.sh(&format!("chmod 0755 {}", sh_quote(&path)))?;
    Ok(Change {
        kind: "customize".into(),
        target: path,
        detail: "first-boot script".into(),
        seconds: None,
    })
}

/// Install the runner and the unit, and enable it (idempotent).
fn install(g: &dyn GuestFs) -> Result<()> {
    g.mkdir_p(SCRIPTS)?;
    g.write(RUNNER, runner().as_bytes())?;
    g.mkdir_p(&UNIT[..UNIT.rfind('/').unwrap_or(0)])?;
    g.write(UNIT, unit().as_bytes())?;
    g.mkdir_p(WANTS)?;
    g.sh(&format!(
        "chmod 0755 {RUNNER} && ln -sf {UNIT} {WANTS}/{UNIT_NAME}"
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::DirGuest;

    #[test]
    fn scripts_are_numbered_in_order() {
        let t = tempfile::tempdir().unwrap();
        let g = DirGuest::new(t.path());
        let a = add(&g, "s1.sh", b"echo one\n").unwrap();
        let b = add(&g, "command", b"#!/bin/sh\necho two\n").unwrap();
        assert_eq!(a.target, "/usr/lib/virt-sysprep/scripts/0001-s1.sh");
        assert_eq!(b.target, "/usr/lib/virt-sysprep/scripts/0002-command");
        assert_eq!(g.get(&b.target).unwrap(), "#!/bin/sh\necho two\n");
        assert_eq!(g.get(RUNNER).unwrap(), runner());
        assert!(g
            .get(UNIT)
            .unwrap()
            .contains("ExecStart=/usr/lib/virt-sysprep/firstboot.sh\n"));
        assert!(g.commands().contains(
            &"chmod 0755 /usr/lib/virt-sysprep/firstboot.sh && ln -sf \
              /usr/lib/systemd/system/guestfs-firstboot.service \
              /etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service"
                .to_string()
        ));
        assert_eq!(script_name(12, "my script!.sh"), "0012-my-script-.sh");
    }

    /// The runner, run by a real shell over a scratch tree: each script
    /// once, in order, logged; the unit's link removed.
    #[test]
    fn the_runner_runs_each_script_once() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().to_str().unwrap();
        let script = runner()
            .replace(DIR, &format!("{root}{DIR}"))
            .replace(LOG, &format!("{root}{LOG}"))
            .replace(WANTS, &format!("{root}{WANTS}"));
        let scripts = format!("{root}{SCRIPTS}");
        std::fs::create_dir_all(&scripts).unwrap();
        std::fs::create_dir_all(format!("{root}/root")).unwrap();
        std::fs::create_dir_all(format!("{root}{WANTS}")).unwrap();
        std::fs::write(format!("{root}{WANTS}/{UNIT_NAME}"), "").unwrap();
        let out = format!("{root}/out");
        std::fs::write(
            format!("{scripts}/0002-b"),
            format!("#!/bin/sh\necho b >>{out}\nexit 3\n"),
        )
        .unwrap();
        std::fs::write(
            format!("{scripts}/0001-a"),
            format!("#!/bin/sh\necho a >>{out}\n"),
        )
        .unwrap();
        for _ in 0..2 {
            let s = std::process::Command::new("sh")
                .args(["-c", &script])
                .status()
                .unwrap();
            assert!(s.success());
        }
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "a\nb\n");
        let log = std::fs::read_to_string(format!("{root}{LOG}")).unwrap();
        assert!(log.contains("=== Running 0001-a ===\n=== 0001-a exited 0 ===\n=== Running 0002-b ===\n=== 0002-b exited 3 ===\n"), "{log}");
        assert!(std::path::Path::new(&format!("{root}{DIR}/scripts-done/0002-b")).exists());
        assert!(!std::path::Path::new(&format!("{root}{WANTS}/{UNIT_NAME}")).exists());
    }
}
