//! virt-v2v-inspector and virt-v2v-in-place (docs/virt-v2v-inspector.md,
//! docs/virt-v2v-in-place.md) on the test guest.  Three appliance launches
//! and one boot in all: the inspector on the fixture and on a blank disk;
//! virt-v2v-in-place on a qcow2 overlay of a copy of the fixture (after a
//! failure mid-way whose appliance fails to start), the overlay committed
//! and the result booted on virtio.  Upstream's other options (`-b`, `-n`,
//! `--mac`, the customisations, `-m`, `--smp`, the refused ones) ride on
//! those runs, or are checked before any work (no appliance).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use v2v_tests::*;

const NAME: &str = "foreign-guest";

/// What the fixture is (NAME.json, written by scripts/make-test-guest.sh).
fn guest() -> serde_json::Value {
    let p = fixture_dir().join(format!("{NAME}.json"));
    serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap()
}

/// `/dev/vda1` as the appliance names it, `/dev/sda1`.
fn appliance_dev(d: &str) -> String {
    d.replacen("/dev/vd", "/dev/sd", 1)
}

/// Bytes `qemu-img map` reports as data in `path`, in the layers `layer`
/// accepts (depth 0: a qcow2 overlay itself, not its backing file).
fn qemu_img_data(path: &Path, layer: fn(u64) -> bool) -> u64 {
    let o = Command::new("qemu-img")
        .args(["map", "--output=json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "qemu-img map {}", path.display());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"] == true && layer(e["depth"].as_u64().unwrap()))
        .map(|e| e["length"].as_u64().unwrap())
        .sum()
}

/// Data held by a qcow2 overlay itself.
fn overlay_own_data(qcow2: &Path) -> u64 {
    qemu_img_data(qcow2, |depth| depth == 0)
}

/// The text of `parent`'s only child element `name`.
fn text<'a>(parent: roxmltree::Node<'a, 'a>, name: &str) -> &'a str {
    let mut it = parent.children().filter(|n| n.has_tag_name(name));
    let n = it
        .next()
        .unwrap_or_else(|| panic!("no <{name}> in <{}>", parent.tag_name().name()));
    assert!(it.next().is_none(), "two <{name}>");
    n.text().unwrap_or("")
}

/// Parse the `<v2v-inspection>` document and check it says what the
/// fixture is; returns each disk's (virtual size, allocated).
fn check_inspection(xml: &str, program: &str) -> Vec<(u64, Option<u64>)> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "v2v-inspection", "{xml}");
    assert_eq!(text(root, "program"), program);
    assert!(!text(root, "version").is_empty());
    let g = guest();
    let fw = root
        .children()
        .find(|n| n.has_tag_name("firmware"))
        .expect("<firmware>");
    assert_eq!(Some(fw.attribute("type").unwrap()), g["firmware"].as_str());
    let os = root
        .children()
        .find(|n| n.has_tag_name("operatingsystem"))
        .expect("<operatingsystem>");
    // Debian 12 (the description NAME.json gives), x86_64, deb/apt.
    assert!(g["description"].as_str().unwrap().starts_with("Debian 12"));
    assert_eq!(text(os, "name"), "linux");
    assert_eq!(text(os, "distro"), "debian");
    assert_eq!(text(os, "osinfo"), "debian12");
    assert_eq!(text(os, "arch"), "x86_64");
    assert_eq!(text(os, "major_version"), "12");
    assert!(text(os, "minor_version").parse::<u32>().is_ok());
    assert_eq!(text(os, "package_format"), "deb");
    assert_eq!(text(os, "package_management"), "apt");
    assert!(!text(os, "product_name").is_empty());
    let boot = &g["boot"];
    assert_eq!(
        text(os, "root"),
        appliance_dev(boot["root"].as_str().unwrap())
    );
    // boot.mounts is "PATH=DEV[,PATH=DEV...]".
    let want: Vec<(String, String)> = boot["mounts"]
        .as_str()
        .unwrap()
        .split(',')
        .map(|m| {
            let (p, d) = m.split_once('=').unwrap();
            (p.to_string(), appliance_dev(d))
        })
        .collect();
    let mps = os
        .children()
        .find(|n| n.has_tag_name("mountpoints"))
        .expect("<mountpoints>");
    let got: Vec<(String, String)> = mps
        .children()
        .filter(|n| n.has_tag_name("mountpoint"))
        .map(|n| {
            (
                n.text().unwrap().to_string(),
                n.attribute("dev").unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want, "{xml}");
    let disks = root
        .children()
        .find(|n| n.has_tag_name("disks"))
        .expect("<disks>");
    disks
        .children()
        .filter(|n| n.has_tag_name("disk"))
        .enumerate()
        .map(|(i, d)| {
            assert_eq!(d.attribute("index"), Some(i.to_string().as_str()));
            let alloc = d.children().find(|n| n.has_tag_name("allocated"));
            if let Some(a) = alloc {
                assert_eq!(a.attribute("estimated"), Some("true"));
            }
            (
                text(d, "virtual-size").parse().unwrap(),
                alloc.map(|a| a.text().unwrap().parse().unwrap()),
            )
        })
        .collect()
}

fn no_servers_left(sb: &Sandbox) {
    let left = wait_no_servers(&sb.root().to_string_lossy(), Duration::from_secs(10));
    assert!(left.is_empty(), "servers left running: {left:?}");
}

/// A run given `-n default:net1` (or `-n net1`) and `--mac
/// 52:54:00:0a:0b:0c:...` on `-i disk` (one NIC, no MAC, network
/// `default`) with `-x`: the mapping is shown, the `--mac` matching no NIC
/// is a warning; returns the convert step's traced command line.
fn mapped_then_converted(r: &Run) -> &str {
    assert!(
        r.stderr.contains(
            "Network mapping: interface 1 (no MAC address): network default → network net1"
        ),
        "{r}"
    );
    assert!(
        r.stderr
            .contains("--mac 52:54:00:0a:0b:0c: the source guest has no network interface"),
        "{r}"
    );
    r.stderr
        .lines()
        .find(|l| l.contains("run: ") && l.contains("helper-v2v-convert"))
        .unwrap_or_else(|| panic!("no convert command line traced:\n{r}"))
}

/// The inspector on the fixture writes upstream's XML with what the guest
/// is, the source untouched; on a blank disk it exits 5 and says why.
#[test]
fn inspector_describes_the_fixture_and_refuses_a_blank_disk() {
    require_tool("qemu-img");
    let raw = fixture_dir().join(format!("{NAME}.raw"));
    let mtime = fs::metadata(&raw).unwrap().modified().unwrap();
    let sb = Sandbox::new("inspector");
    let xml = sb.path("inspection.xml");
    // Forklift's command line (kubev2v/forklift's virt-v2v entrypoint).
    let r = run(sb
        .cmd(bin("virt-v2v-inspector"))
        .args(["-v", "-x", "-if", "raw", "-i", "disk", "-O"])
        .arg(&xml)
        .args(["--root", "first"])
        .arg(&raw));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.is_empty(), "-O FILE: nothing on stdout:\n{r}");
    let disks = check_inspection(&fs::read_to_string(&xml).unwrap(), "virt-v2v-inspector");
    let size = fs::metadata(&raw).unwrap().len();
    assert_eq!(disks, vec![(size, Some(qemu_img_data(&raw, |_| true)))]);
    assert_eq!(fs::metadata(&raw).unwrap().modified().unwrap(), mtime);
    no_servers_left(&sb);
    assert!(
        sb.run_dirs().is_empty(),
        "temp dir left: {:?}",
        sb.run_dirs()
    );

    // Upstream's other options ride on this run (its input step reads the
    // source's NIC, then the convert step finds no OS): the mapping is
    // shown for the -i disk NIC (no MAC, network "default"), the --mac
    // matching no NIC is a warning, the appliance gets -m and --smp, and
    // the guest changes are checked but not applied (never passed to the
    // inspection).
    let blank = sb.path("blank.img");
    fs::File::create(&blank).unwrap().set_len(64 << 20).unwrap();
    let r = run(sb
        .cmd(bin("virt-v2v-inspector"))
        .args([
            "-x",
            "-b",
            "br0",
            "-n",
            "default:net1",
            "--network",
            "other",
        ])
        .args(["--mac", "52:54:00:0a:0b:0c:bridge:br9"])
        .args([
            "--mac",
            "52:54:00:0a:0b:0d:ip:192.0.2.5,192.0.2.1,24,192.0.2.53",
        ])
        .args(["--hostname", "inspected", "-m", "1024", "--smp", "1"])
        .args(["--colours", "-i", "disk"])
        .arg(&blank));
    assert_eq!(r.code, 5, "{r}");
    assert!(r.stdout.is_empty(), "{r}");
    let last = r.last_err_line();
    assert!(
        last.contains("virt-v2v-inspector: error: convert: no operating system was found"),
        "{r}"
    );
    let convert = mapped_then_converted(&r);
    assert!(
        convert.contains("--inspect-only") && convert.contains("--memsize 1024 --smp 1"),
        "{convert}"
    );
    assert!(
        !convert.contains("--mac") && !convert.contains("--hostname"),
        "{convert}"
    );
    assert_eq!(allocated(&blank), 0, "the blank disk was written");
    no_servers_left(&sb);
}

/// Upstream's options checked before any work, by both programs: a bad
/// `--mac`, a duplicate mapping, a bad customisation are usage errors
/// naming the option, an option virt-v2v refuses is refused with its
/// reason, and no run directory is made; `--machine-readable` alone
/// prints the capability list.  No appliance.
#[test]
fn companions_check_upstreams_options_before_any_work() {
    let sb = Sandbox::new("companion-options");
    let img = sb.path("none.img");
    for program in ["virt-v2v-in-place", "virt-v2v-inspector"] {
        let cases: [(&[&str], &str); 5] = [
            (
                &["--mac", "52:54:00:01:02:zz:network:n1"],
                "error: cannot parse --mac \"52:54:00:01:02:zz:network:n1\" parameter",
            ),
            (
                &["--mac", "52:54:00:01:02:03:ip:not-an-address"],
                "error: cannot parse --mac ip ipaddr",
            ),
            (
                &["-b", "br0", "--bridge", "br1"],
                "error: duplicate -b/--bridge parameter",
            ),
            (&["--hostname", "a b"], "error: --hostname a b:"),
            (
                &["--collect", "guest"],
                "error: not supported by this build: --collect (",
            ),
        ];
        for (opts, want) in cases {
            let r = run(sb
                .cmd(bin(program))
                .args(opts)
                .args(["-i", "disk"])
                .arg(&img));
            assert_eq!(r.code, 2, "{program} {opts:?}: {r}");
            let last = r.last_err_line();
            assert!(
                last.starts_with(&format!("{program}: {want}")),
                "{program} {opts:?}: {r}"
            );
            assert_eq!(r.stderr.lines().count(), 1, "{program} {opts:?}: {r}");
            assert!(sb.run_dirs().is_empty(), "{program} {opts:?}: a run began");
        }
        let r = run(sb.cmd(bin(program)).arg("--machine-readable"));
        assert_eq!(r.code, 0, "{r}");
        let caps: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(caps[0], program, "{r}");
        for c in ["mac-option", "mac-ip-option", "customize-ops", "input:disk"] {
            assert!(caps.contains(&c), "{program}: no {c}: {r}");
        }
    }
}

/// virt-v2v-in-place in the documented flow: a qcow2 overlay of a copy of
/// the fixture.  A failure mid-way (the input served in place, then the
/// convert step failing) leaves the overlay empty and the base untouched;
/// a success converts the overlay only, and once committed the base boots
/// on virtio.
#[test]
fn in_place_converts_an_overlay_and_a_failure_commits_nothing() {
    require_tool("qemu-img");
    require_tool("qemu-system-x86_64");
    let sb = Sandbox::new("in-place");
    let base = sb.path("base.raw");
    let st = Command::new("cp")
        .arg("--sparse=always")
        .arg(fixture_dir().join(format!("{NAME}.raw")))
        .arg(&base)
        .status()
        .unwrap();
    assert!(st.success());
    let sha = sha256(&base);
    let overlay = |name: &str| {
        let ov = sb.path(name);
        let st = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw"])
            .arg(&ov)
            .status()
            .unwrap();
        assert!(st.success());
        ov
    };

    // --print-source: the input step only, nothing converted or written.
    let failed = overlay("failed.qcow2");
    let r = run(sb
        .cmd(bin("virt-v2v-in-place"))
        .args(["--print-source", "-i", "disk"])
        .arg(&failed));
    assert_eq!(r.code, 0, "{r}");
    assert!(
        r.stdout
            .starts_with("Source guest information (--print-source option):"),
        "{r}"
    );
    assert!(!r.stderr.contains("Finishing off"), "{r}");
    assert!(
        sb.run_dirs().is_empty(),
        "temp dir left: {:?}",
        sb.run_dirs()
    );

    // Mid-way: the disk is served writable, then the convert step cannot
    // start its appliance (its hypervisor fails at once: exit 4).  The
    // mapping, the static address, a customisation and the appliance's
    // options ride on it: the convert step's command line (-x) has what
    // upstream's conversion applies.
    let ip = "52:54:00:0a:0b:0d:ip:192.0.2.5,192.0.2.1,24,192.0.2.53";
    let r = run(sb
        .cmd(bin("virt-v2v-in-place"))
        .args(["-x", "-b", "br0", "-n", "net1", "--mac", ip])
        .args(["--mac", "52:54:00:0a:0b:0c:network:n2"])
        .args(["--hostname", "in-place", "--smp", "1", "--no-fstrim"])
        .args(["-i", "disk"])
        .arg(&failed)
        .env("LIBGUESTFS_HV", "/bin/false"));
    assert_eq!(r.code, 4, "{r}");
    let convert = mapped_then_converted(&r);
    assert!(
        convert.contains(&format!(
            "--smp 1 --no-fstrim --hostname in-place --mac {ip}"
        )),
        "{convert}"
    );
    assert!(!convert.contains("network:n2"), "{convert}");
    assert!(
        r.stderr
            .contains("virt-v2v-in-place: error: convert: the libguestfs appliance did not start"),
        "{r}"
    );
    assert!(r.stderr.contains("step convert failed"), "{r}");
    assert_eq!(overlay_own_data(&failed), 0, "the failed run wrote");
    no_servers_left(&sb);
    // Its log is kept, as virt-v2v keeps a failed run's.
    assert!(sb.run_dir().join("log").is_dir());
    sb.clear_tmpdir();

    let ov = overlay("ov.qcow2");
    let xml = sb.path("in-place.xml");
    let r = run(sb
        .cmd(bin("virt-v2v-in-place"))
        .args(["-i", "disk"])
        .arg(&ov)
        .arg("-O")
        .arg(&xml));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("Finishing off"), "{r}");
    let disks = check_inspection(&fs::read_to_string(&xml).unwrap(), "virt-v2v-in-place");
    assert_eq!(disks.len(), 1);
    assert_eq!(disks[0].0, fs::metadata(&base).unwrap().len());
    assert!(
        overlay_own_data(&ov) > 0,
        "nothing converted into the overlay"
    );
    no_servers_left(&sb);
    assert!(
        sb.run_dirs().is_empty(),
        "temp dir left: {:?}",
        sb.run_dirs()
    );
    assert_eq!(sha256(&base), sha, "the base changed before the commit");

    let st = Command::new("qemu-img")
        .args(["commit", "-q"])
        .arg(&ov)
        .status()
        .unwrap();
    assert!(st.success());
    fs::remove_file(&failed).unwrap();
    fs::remove_file(&ov).unwrap();
    let expect = fixture_dir().join(format!("{NAME}.json"));
    let r = run(boot_check_cmd()
        .args(["--timeout", "600", "--expect"])
        .arg(&expect)
        .arg(&base));
    assert!(
        r.code == 0 && r.stdout.contains("V2V-FIXTURE-BOOTED"),
        "the guest converted in place does not boot on virtio:\n{r}"
    );
    fs::remove_file(&base).unwrap();
}
