//! virt-v2v-inspector and virt-v2v-in-place (docs/virt-v2v-inspector.md,
//! docs/virt-v2v-in-place.md) on the test guest.  Three appliance launches
//! and one boot in all: the inspector on the fixture and on a blank disk;
//! virt-v2v-in-place on a qcow2 overlay of a copy of the fixture (after a
//! failure mid-way whose appliance fails to start), the overlay committed
//! and the result booted on virtio.

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

    let blank = sb.path("blank.img");
    fs::File::create(&blank).unwrap().set_len(64 << 20).unwrap();
    let r = run(sb
        .cmd(bin("virt-v2v-inspector"))
        .args(["-i", "disk"])
        .arg(&blank));
    assert_eq!(r.code, 5, "{r}");
    assert!(r.stdout.is_empty(), "{r}");
    let last = r.last_err_line();
    assert!(
        last.starts_with("virt-v2v-inspector: error: convert: no operating system was found"),
        "{r}"
    );
    assert_eq!(allocated(&blank), 0, "the blank disk was written");
    no_servers_left(&sb);
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

    // Mid-way: the disk is served writable, then the convert step cannot
    // start its appliance (its hypervisor fails at once: exit 4).
    let failed = overlay("failed.qcow2");
    let r = run(sb
        .cmd(bin("virt-v2v-in-place"))
        .args(["-i", "disk"])
        .arg(&failed)
        .env("LIBGUESTFS_HV", "/bin/false"));
    assert_eq!(r.code, 4, "{r}");
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
