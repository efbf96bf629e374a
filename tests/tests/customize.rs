//! virt-customize operations and `--mac MAC:ip:` on the default test guest
//! (issue 14): one conversion with Forklift's `-o kubevirt` command line,
//! `-v -x` included, read by Forklift's monitor (and the customisation
//! options), two boots
//! on virtio (scripts/boot-check.sh --writable, so the second boot sees the
//! first's changes).  First boot: the new hostname and the static address
//! in the marker line, each first-boot script's marker on the console once,
//! in order.  Second boot: no first-boot marker.  The file operations are
//! read from the converted disk with debugfs (no appliance).

use std::path::{Path, PathBuf};
use std::process::Command;
use v2v_tests::*;

const HOSTNAME: &str = "v2v-custom";
const MAC: &str = "52:54:00:12:34:56"; // qemu's first NIC (boot-check.sh's)
const ADDR: &str = "10.0.2.77";
const VM: &str = "custom-vm"; // -on

/// debugfs on the converted disk's first partition (the guest's ext4
/// root, scripts/guests/foreign-guest.sh).
struct Root(String);

impl Root {
    fn new(disk: &Path) -> Root {
        let o = Command::new("sfdisk")
            .arg("--json")
            .arg(disk)
            .output()
            .unwrap();
        assert!(o.status.success(), "sfdisk --json {}", disk.display());
        let t: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let start = t["partitiontable"]["partitions"][0]["start"]
            .as_u64()
            .unwrap();
        let sector = t["partitiontable"]["sectorsize"].as_u64().unwrap_or(512);
        Root(format!("{}?offset={}", disk.display(), start * sector))
    }
    fn debugfs(&self, req: &str) -> String {
        let o = Command::new("debugfs")
            .args(["-R", req, &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    }
    /// The file's content; `None` when debugfs does not find it.
    fn cat(&self, path: &str) -> Option<String> {
        let s = self.debugfs(&format!("stat {path}"));
        if s.contains("File not found") {
            return None;
        }
        let o = Command::new("debugfs")
            .args(["-R", &format!("cat {path}"), &self.0])
            .output()
            .unwrap();
        Some(String::from_utf8_lossy(&o.stdout).into_owned())
    }
}

fn boot(disk: &Path, expect: &Path, log: &Path) -> Run {
    run(boot_check_cmd()
        .args(["--writable", "--timeout", "1200", "--expect"])
        .arg(expect)
        .arg("--log")
        .arg(log)
        .arg(disk))
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn customize_hostname_firstboot_run_files_and_static_ip_then_boot_twice() {
    require_tool("qemu-system-x86_64");
    require_tool("debugfs");
    require_tool("sfdisk");
    let raw = fixture_dir().join("foreign-guest.raw");
    let sb = Sandbox::new("customize");
    let out = sb.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let s1 = sb.path("s1.sh");
    std::fs::write(
        &s1,
        "#!/bin/sh\necho \"V2V-FIRSTBOOT-S1 $(hostname)\" >/dev/ttyS0\n",
    )
    .unwrap();
    let upload = sb.path("uploaded.txt");
    std::fs::write(&upload, "uploaded by --upload\n").unwrap();
    let arg = |p: &PathBuf| p.to_str().unwrap().to_string();
    let mac_ip = format!("{MAC}:ip:{ADDR},10.0.2.2,24");
    // Forklift's line, unchanged (pkg/virt-v2v/conversion/conversion.go:
    // -v -x -o kubevirt -os DIR -on NAME --root first --hostname --memsize
    // --smp --mac MAC:ip:), stdout and stderr in one stream as its monitor
    // reads them.  The customisation options follow.
    let a: Vec<String> = [
        "-v",
        "-x",
        "-o",
        "kubevirt",
        "-os",
        &arg(&out),
        "-on",
        VM,
        "--root",
        "first",
        "--hostname",
        HOSTNAME,
        "--memsize",
        "2048",
        "--smp",
        "2",
        "--firstboot",
        &arg(&s1),
        "--firstboot-command",
        "echo V2V-FIRSTBOOT-C2 >/dev/ttyS0",
        "--run-command",
        "echo ran >/etc/v2v-run-command && touch /etc/v2v-delete-me",
        "--upload",
        &format!("{}:/root/", arg(&upload)),
        "--mkdir",
        "/srv/v2v-made/sub",
        "--write",
        "/etc/v2v-written:a:b c",
        "--delete",
        "/etc/v2v-delete-*",
        "--timezone",
        "Europe/Paris",
        "--mac",
        &mac_ip,
        "-i",
        "disk",
        &arg(&raw),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let before = sha256(&raw);
    let r = run(sb
        .cmd("sh")
        .args(["-c", "exec \"$@\" 2>&1", "sh"])
        .arg(bin("virt-v2v"))
        .args(&a));
    r.assert_ok();
    assert_eq!(sha256(&raw), before, "the source changed");
    // What Forklift's virt-v2v-monitor sees: the one disk to 100%, then
    // the finishing line; and -v -x's debug and trace lines.
    let (disks, seen, finished) = crate::orchestrators::forklift(&r.stdout);
    assert_eq!(disks, 1, "disk count\n{r}");
    assert_eq!(seen.get(&1), Some(&100), "progress {seen:?}\n{r}");
    assert!(finished, "no finishing line\n{r}");
    assert!(
        r.stdout.contains("trace: guestfs: launch"),
        "no libguestfs trace with -x\n{r}"
    );
    // Applied in command-line order, each logged.
    let log = &r.stdout;
    let order = [
        "Customising: --hostname v2v-custom",
        "Customising: --firstboot ",
        "Customising: --firstboot-command ",
        "Customising: --run-command ",
        "Customising: --upload ",
        "Customising: --mkdir /srv/v2v-made/sub",
        "Customising: --write /etc/v2v-written:a:b c",
        "Customising: --delete /etc/v2v-delete-*",
        "Customising: --timezone Europe/Paris",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|m| log.find(m).unwrap_or_else(|| panic!("no {m:?} in:\n{r}")))
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "out of order: {pos:?}");
    let disk = out.join(format!("{VM}-sda"));
    assert!(disk.is_file(), "{} missing", disk.display());
    // The VirtualMachine Forklift creates from: named by -on, the disk on
    // virtio (its API is checked by outputs::kubevirt_output_...).
    let yaml = std::fs::read_to_string(out.join(format!("{VM}.yaml"))).unwrap();
    let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(y["metadata"]["name"].as_str(), Some(VM), "{yaml}");
    let vdisks = &y["spec"]["template"]["spec"]["domain"]["devices"]["disks"];
    assert_eq!(vdisks[0]["disk"]["bus"].as_str(), Some("virtio"), "{yaml}");

    // Two boots, the second seeing the first's changes.
    let expect = sb.path("expect.json");
    std::fs::write(
        &expect,
        serde_json::json!({"boot": {
            "name": HOSTNAME, "root": "/dev/vda1", "addrs": format!("{ADDR}/24")
        }})
        .to_string(),
    )
    .unwrap();
    let (log1, log2) = (sb.path("boot1.log"), sb.path("boot2.log"));
    let b1 = boot(&disk, &expect, &log1);
    assert_eq!(b1.code, 0, "first boot:\n{b1}");
    let c1 = std::fs::read_to_string(&log1).unwrap();
    assert_eq!(
        count(&c1, &format!("V2V-FIRSTBOOT-S1 {HOSTNAME}")),
        1,
        "{c1}"
    );
    assert_eq!(count(&c1, "V2V-FIRSTBOOT-C2"), 1, "{c1}");
    assert!(c1.find("V2V-FIRSTBOOT-S1") < c1.find("V2V-FIRSTBOOT-C2"));
    let b2 = boot(&disk, &expect, &log2);
    assert_eq!(b2.code, 0, "second boot:\n{b2}");
    let c2 = std::fs::read_to_string(&log2).unwrap();
    assert_eq!(
        count(&c2, "V2V-FIRSTBOOT"),
        0,
        "first-boot scripts ran again:\n{c2}"
    );

    // The guest's files, read from the converted disk.
    let g = Root::new(&disk);
    assert_eq!(g.cat("/etc/hostname").as_deref(), Some("v2v-custom\n"));
    assert!(g
        .cat("/etc/hosts")
        .unwrap()
        .contains("127.0.1.1\tv2v-custom\n"));
    assert_eq!(g.cat("/etc/v2v-run-command").as_deref(), Some("ran\n"));
    assert_eq!(g.cat("/etc/v2v-delete-me"), None);
    assert_eq!(
        g.cat("/root/uploaded.txt").as_deref(),
        Some("uploaded by --upload\n")
    );
    assert!(g
        .debugfs("stat /srv/v2v-made/sub")
        .contains("Type: directory"));
    assert_eq!(g.cat("/etc/v2v-written").as_deref(), Some("a:b c"));
    assert_eq!(g.cat("/etc/timezone").as_deref(), Some("Europe/Paris\n"));
    assert!(g
        .debugfs("stat /etc/localtime")
        .contains("Fast link dest: \"/usr/share/zoneinfo/Europe/Paris\""));
    let fb = g
        .cat("/root/virt-sysprep-firstboot.log")
        .expect("first-boot log");
    assert_eq!(count(&fb, "=== Running 0001-s1.sh ==="), 1, "{fb}");
    assert_eq!(count(&fb, "=== Running 0002-command ==="), 1, "{fb}");
    assert_eq!(count(&fb, "=== first boot done ==="), 1, "{fb}");
    assert_eq!(
        g.cat("/etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service"),
        None,
        "the first-boot service did not disable itself"
    );
}

/// A bad customisation option or `--mac MAC:ip:` value is a usage error
/// (exit 2) of either runner before any work starts: the message names
/// the option and comes from the runner's own check (no `convert:` step
/// prefix), within a second or two, with no run directory made (a failed
/// run keeps its own), no server and nothing in `-os`.  No test guest is
/// needed: nothing reads the disk.
#[test]
fn bad_customize_options_fail_before_any_work() {
    let sb = Sandbox::new("customize-bad");
    let disk = sb.path("disk.raw");
    make_ext4_disk(&disk, 16, 14);
    let out = sb.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--hostname", "a b"],
            "--hostname a b: not a valid hostname",
        ),
        (
            &["--firstboot", "/nonexistent/s.sh"],
            "--firstboot /nonexistent/s.sh: cannot read",
        ),
        (
            &["--mac", "52:54:00:01:02:03:ip:notanip"],
            "cannot parse --mac ip ipaddr: \"notanip\" is not an IP address",
        ),
        (
            &["--upload", "relative:path"],
            "--upload relative: cannot read",
        ),
        (
            &["--hostname", "ok", "--write", "/etc/x"],
            "--write /etc/x: expected FILE:CONTENT",
        ),
    ];
    type Runner = fn(&Sandbox) -> Command;
    let runners: [(&str, Runner); 2] = [
        ("virt-v2v", Sandbox::virt_v2v),
        ("virt-v2v.sh", Sandbox::script),
    ];
    for (name, runner) in runners {
        for (opts, msg) in cases {
            let mut cmd = runner(&sb);
            cmd.args(opts)
                .args(["-o", "local", "-os"])
                .arg(&out)
                .args(["-i", "disk"])
                .arg(&disk);
            let t = std::time::Instant::now();
            let r = run(&mut cmd);
            let took = t.elapsed();
            let what = format!("{name} {opts:?}");
            assert_eq!(r.code, 2, "{what}\n{r}");
            assert!(
                r.last_err_line()
                    .starts_with(&format!("virt-v2v: error: {msg}")),
                "{what}: the runner's own usage error expected\n{r}"
            );
            // Far less than an input step and an appliance; a loose bound
            // (CI runs TCG appliances beside it): what shows that no work
            // started is the absence of a run directory and of servers.
            assert!(took.as_secs_f64() < 10.0, "{what}: took {took:?}");
            assert!(sb.run_dirs().is_empty(), "{what}: a run was started\n{r}");
            assert!(servers_mentioning(&sb.root().to_string_lossy()).is_empty());
            assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "{what}");
        }
    }
}
