//! Issue 13: the outputs that render the guest description.  Each converts
//! the test guest once (appliance time is precious): `-o qemu` (its script
//! boots the guest under TCG), `-o kubevirt` (from a libvirt XML with three
//! NICs mapped by -n, -b and --mac; the YAML checked against KubeVirt's
//! VirtualMachine API), `-o json` through scripts/virt-v2v.sh (the format
//! of virt-v2v 1.42–2.1); the example sh output from PATH copies unchanged.

use crate::common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use v2v_tests::*;

const NAME: &str = "foreign-guest";

/// The run's description.json (validated against its schema by
/// `run_output`, with the other contract files).
fn description(d: &Done) -> v2v_meta::GuestDescription {
    v2v_meta::read_json(&d.dir.join("description.json")).unwrap()
}

/// Boot the guest through `-o qemu`'s script (ACCEL=tcg, no display), its
/// serial console on the script's stdout, until the fixture's marker line,
/// and compare the marker with the fixture's "boot" facts, as
/// scripts/boot-check.sh does.
fn boot_through_script(script: &Path, work: &Path) -> String {
    const MARKER: &str = "V2V-FIXTURE-BOOTED";
    const GIVE_UP: [&str; 4] = [
        "Dropping to a shell",
        "(initramfs) ",
        "Kernel panic - not syncing",
        "emergency mode",
    ];
    let serial = work.join("serial.log");
    let qlog = work.join("qemu.log");
    let mut child = Command::new(script)
        .args(["-display", "none"])
        .env("ACCEL", "tcg")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&serial).unwrap())
        .stderr(fs::File::create(&qlog).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let why = loop {
        let text = String::from_utf8_lossy(&fs::read(&serial).unwrap_or_default()).into_owned();
        if text.contains(MARKER) {
            break None;
        }
        if let Some(g) = GIVE_UP.iter().find(|g| text.contains(*g)) {
            break Some(format!("the guest gave up booting ({g})"));
        }
        if let Ok(Some(st)) = child.try_wait() {
            break Some(format!(
                "qemu exited ({st}): {}",
                fs::read_to_string(&qlog).unwrap_or_default()
            ));
        }
        if start.elapsed() > Duration::from_secs(600) {
            break Some("no marker after 600 s".into());
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    // The fixture powers itself off after the marker; give it 10 s.
    for _ in 0..20 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&fs::read(&serial).unwrap_or_default()).replace('\r', "");
    if let Some(why) = why {
        let tail: Vec<&str> = text.lines().rev().take(25).collect();
        panic!(
            "{} did not boot the guest: {why}\n--- last console lines ---\n{}",
            script.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let line = text
        .lines()
        .find(|l| l.contains(MARKER))
        .unwrap()
        .to_string();
    let fx: Value = serde_json::from_str(
        &fs::read_to_string(fixture_dir().join(format!("{NAME}.json"))).unwrap(),
    )
    .unwrap();
    for (k, v) in fx["boot"].as_object().expect("fixture boot facts") {
        let want = format!("{k}={}", v.as_str().unwrap_or_default());
        assert!(
            line.split_whitespace().any(|f| f == want),
            "marker lacks {want}: {line}"
        );
    }
    line
}

#[test]
fn qemu_output_script_boots_the_converted_guest() {
    require_tool("qemu-system-x86_64");
    let raw = fixture_dir().join(format!("{NAME}.raw"));
    let sb = Sandbox::new("out-qemu");
    let out = sb.path("out");
    let d = run_output(
        &sb,
        sb.virt_v2v(),
        &[
            "-i",
            "disk",
            raw.to_str().unwrap(),
            "-o",
            "qemu",
            "-of",
            "qcow2",
        ],
        &out,
    );
    let script = out.join(format!("{NAME}.sh"));
    let text = fs::read_to_string(&script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&script).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let disk = out.join(format!("{NAME}-sda"));
    assert!(
        text.contains(&format!("-drive file={},format=qcow2", disk.display())),
        "{text}"
    );
    assert!(
        text.contains("-device virtio-blk-pci,drive=drive-vblk-0,bootindex=1"),
        "{text}"
    );
    assert!(text.contains("-serial stdio"), "{text}");
    let desc = description(&d);
    assert_eq!(desc.output_type, "qemu");
    assert!(desc.converted);
    let line = boot_through_script(&script, sb.root());
    assert!(line.contains("V2V-FIXTURE-BOOTED"), "{line}");
}

/// The subset of KubeVirt's `kubevirt.io/v1` API that `-o kubevirt`
/// writes, as facts from its OpenAPI schema: every field path, its type,
/// and which fields are required.
#[derive(Debug)]
enum Api {
    Obj(Vec<(&'static str, bool, Api)>),
    /// A map of string keys to this (`metadata.labels`).
    MapOf(Box<Api>),
    List(Box<Api>),
    Str,
    /// A string from this set.
    Enum(&'static [&'static str]),
    /// A resource.Quantity (e.g. `1024Mi`).
    Quantity,
    Int,
    Bool,
    /// An empty object (`bios: {}`, `rng: {}`, `masquerade: {}` ...).
    Empty,
}

fn obj(fields: Vec<(&'static str, bool, Api)>) -> Api {
    Api::Obj(fields)
}

fn list(a: Api) -> Api {
    Api::List(Box::new(a))
}

fn virtual_machine_api() -> Api {
    use Api::*;
    let timer_policy = || {
        obj(vec![(
            "tickPolicy",
            false,
            Enum(&["delay", "catchup", "merge", "discard"]),
        )])
    };
    let domain = obj(vec![
        (
            "firmware",
            false,
            obj(vec![(
                "bootloader",
                false,
                obj(vec![
                    ("bios", false, obj(vec![("useSerial", false, Bool)])),
                    (
                        "efi",
                        false,
                        obj(vec![
                            ("secureBoot", false, Bool),
                            ("persistent", false, Bool),
                        ]),
                    ),
                ]),
            )]),
        ),
        ("machine", false, obj(vec![("type", false, Str)])),
        (
            "clock",
            false,
            obj(vec![
                ("utc", false, obj(vec![("offsetSeconds", false, Int)])),
                (
                    "timer",
                    false,
                    obj(vec![
                        (
                            "hpet",
                            false,
                            obj(vec![("present", false, Bool), ("tickPolicy", false, Str)]),
                        ),
                        ("hyperv", false, obj(vec![("present", false, Bool)])),
                        ("pit", false, timer_policy()),
                        ("rtc", false, timer_policy()),
                    ]),
                ),
            ]),
        ),
        (
            "resources",
            false,
            obj(vec![(
                "requests",
                false,
                obj(vec![("memory", false, Quantity)]),
            )]),
        ),
        (
            "features",
            false,
            obj(vec![
                ("acpi", false, Empty),
                ("apic", false, Empty),
                ("smm", false, Empty),
            ]),
        ),
        (
            "cpu",
            false,
            obj(vec![
                ("model", false, Str),
                ("sockets", false, Int),
                ("cores", false, Int),
                ("threads", false, Int),
            ]),
        ),
        (
            "devices",
            true,
            obj(vec![
                (
                    "sound",
                    false,
                    obj(vec![
                        ("name", true, Str),
                        ("model", false, Enum(&["ich9", "ac97"])),
                    ]),
                ),
                ("rng", false, Empty),
                ("useVirtioTransitional", false, Bool),
                (
                    "disks",
                    false,
                    list(obj(vec![
                        ("name", true, Str),
                        ("bootOrder", false, Int),
                        (
                            "disk",
                            false,
                            obj(vec![(
                                "bus",
                                false,
                                Enum(&["virtio", "sata", "scsi", "usb"]),
                            )]),
                        ),
                    ])),
                ),
                (
                    "interfaces",
                    false,
                    list(obj(vec![
                        ("name", true, Str),
                        ("bridge", false, Empty),
                        ("masquerade", false, Empty),
                        ("macAddress", false, Str),
                        (
                            "model",
                            false,
                            Enum(&["e1000", "e1000e", "ne2k_pci", "pcnet", "rtl8139", "virtio"]),
                        ),
                    ])),
                ),
            ]),
        ),
    ]);
    let spec = obj(vec![
        ("domain", true, domain),
        (
            "volumes",
            false,
            list(obj(vec![
                ("name", true, Str),
                (
                    "hostDisk",
                    false,
                    obj(vec![
                        ("path", true, Str),
                        ("type", true, Enum(&["Disk", "DiskOrCreate"])),
                        ("capacity", false, Quantity),
                    ]),
                ),
            ])),
        ),
        (
            "networks",
            false,
            list(obj(vec![
                ("name", true, Str),
                ("pod", false, obj(vec![("vmNetworkCIDR", false, Str)])),
                (
                    "multus",
                    false,
                    obj(vec![("networkName", true, Str), ("default", false, Bool)]),
                ),
            ])),
        ),
        ("terminationGracePeriodSeconds", false, Int),
    ]);
    obj(vec![
        ("apiVersion", true, Enum(&["kubevirt.io/v1"])),
        ("kind", true, Enum(&["VirtualMachine"])),
        (
            "metadata",
            true,
            obj(vec![
                ("name", true, Str),
                ("labels", false, Api::MapOf(Box::new(Str))),
            ]),
        ),
        (
            "spec",
            true,
            obj(vec![
                ("running", false, Bool),
                ("runStrategy", false, Str),
                (
                    "template",
                    true,
                    obj(vec![("metadata", false, obj(vec![])), ("spec", true, spec)]),
                ),
            ]),
        ),
    ])
}

/// Every path of `v` exists in `api` with its type, and required fields
/// are present; returns the problems.
fn check_api(v: &serde_yaml_ng::Value, api: &Api, path: &str, errs: &mut Vec<String>) {
    let mut bad = |what: &str| errs.push(format!("{path}: {what}, found {v:?}"));
    match api {
        Api::Obj(_) | Api::MapOf(_) if !v.is_mapping() => bad("not an object"),
        Api::Obj(fields) => {
            let m = v.as_mapping().unwrap();
            for (k, val) in m {
                let Some(k) = k.as_str() else {
                    errs.push(format!("{path}: key {k:?} not a string"));
                    continue;
                };
                match fields.iter().find(|(n, _, _)| *n == k) {
                    Some((_, _, a)) => check_api(val, a, &format!("{path}.{k}"), errs),
                    None => errs.push(format!("{path}.{k}: no such field in the API")),
                }
            }
            for (n, required, _) in fields {
                if *required && !m.contains_key(*n) {
                    errs.push(format!("{path}.{n}: required, missing"));
                }
            }
        }
        Api::MapOf(a) => {
            for (k, val) in v.as_mapping().unwrap() {
                check_api(val, a, &format!("{path}[{k:?}]"), errs);
            }
        }
        Api::List(a) => match v.as_sequence() {
            Some(s) => {
                for (i, item) in s.iter().enumerate() {
                    check_api(item, a, &format!("{path}[{i}]"), errs);
                }
            }
            None => bad("not a list"),
        },
        Api::Str if !v.is_string() => bad("not a string"),
        Api::Enum(set) if !v.as_str().is_some_and(|s| set.contains(&s)) => {
            bad(&format!("not one of {set:?}"))
        }
        Api::Quantity
            if !v.as_str().is_some_and(|s| {
                let n = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
                !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && ["", "Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"].contains(&&s[n.len()..])
            }) =>
        {
            bad("not a quantity")
        }
        Api::Int if !v.is_u64() && !v.is_i64() => bad("not an integer"),
        Api::Bool if !v.is_bool() => bad("not a boolean"),
        Api::Empty if !v.as_mapping().is_some_and(|m| m.is_empty()) => bad("not {}"),
        _ => {}
    }
}

/// A libvirt XML of the fixture with three NICs: network `vmnet`, bridge
/// `br-src`, network `other`.
fn three_nic_xml(dir: &Path) -> PathBuf {
    let raw = fixture_dir().join(format!("{NAME}.raw"));
    let p = dir.join("three-nics.xml");
    fs::write(
        &p,
        format!(
            r#"<domain type='kvm'>
  <name>{NAME}</name>
  <memory unit='KiB'>1048576</memory>
  <vcpu>2</vcpu>
  <cpu><topology sockets='1' cores='2' threads='1'/></cpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <devices>
{disk}    <interface type='network'>
      <mac address='52:54:00:00:00:01'/>
      <source network='vmnet'/>
      <model type='e1000'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:00:00:02'/>
      <source bridge='br-src'/>
      <model type='e1000'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:00:00:03'/>
      <source network='other'/>
      <model type='e1000'/>
    </interface>
  </devices>
</domain>
"#,
            disk = sata_disk_xml(&raw, "    ")
        ),
    )
    .unwrap();
    p
}

/// `-o kubevirt` with -n, -b and --mac network mappings: the YAML read
/// back against KubeVirt's API.  `--no-convert`: the mapping and the
/// document's shape do not depend on the conversion (the disk stays on
/// the source's bus); a converted guest through Forklift's `-o kubevirt`
/// line, on virtio, is customize.rs's.
#[test]
fn kubevirt_output_with_network_mapping_matches_the_api() {
    let sb = Sandbox::new("out-kubevirt");
    let xml = three_nic_xml(sb.root());
    let out = sb.path("out");
    let d = run_output(
        &sb,
        sb.virt_v2v(),
        &[
            "--no-convert",
            "-i",
            "libvirtxml",
            xml.to_str().unwrap(),
            "-o",
            "kubevirt",
            "-n",
            "vmnet:lan",
            "-n",
            "ignored",
            "-b",
            "br-src:br0",
            "--mac",
            "52:54:00:00:00:03:bridge:br-mac",
            "--mac",
            "52:54:00:ff:ff:ff:network:nowhere",
        ],
        &out,
    );
    assert!(
        d.run.stderr.contains("52:54:00:ff:ff:ff")
            && d.run.stderr.contains("no network interface with this MAC"),
        "no warning for the unknown --mac:\n{}",
        d.run.stderr
    );
    // The description: the three NICs mapped by -n, -b and --mac.
    let desc = description(&d);
    let nets: Vec<(String, v2v_meta::NetworkKind, Option<String>)> = desc
        .nics
        .iter()
        .map(|n| (n.network.clone(), n.kind, n.mac.clone()))
        .collect();
    use v2v_meta::NetworkKind::{Bridge, Network};
    let mac = |i: u8| Some(format!("52:54:00:00:00:0{i}"));
    assert_eq!(
        nets,
        [
            ("lan".to_string(), Network, mac(1)),
            ("br0".to_string(), Bridge, mac(2)),
            ("br-mac".to_string(), Bridge, mac(3)),
        ]
    );
    // The YAML, read back with a YAML library.
    let text = fs::read_to_string(out.join(format!("{NAME}.yaml"))).unwrap();
    let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut errs = Vec::new();
    check_api(&y, &virtual_machine_api(), "", &mut errs);
    assert!(
        errs.is_empty(),
        "not a KubeVirt VirtualMachine:\n{}\n{text}",
        errs.join("\n")
    );
    let spec = &y["spec"]["template"]["spec"];
    let domain = &spec["domain"];
    // What Forklift reads back: firmware and boot order.
    assert!(
        domain["firmware"]["bootloader"]["bios"].is_mapping(),
        "{text}"
    );
    let disks = domain["devices"]["disks"].as_sequence().unwrap();
    assert_eq!(disks.len(), 1);
    assert_eq!(disks[0]["bootOrder"].as_u64(), Some(1));
    assert_eq!(disks[0]["disk"]["bus"].as_str(), Some("sata"));
    assert_eq!(
        domain["machine"]["type"].as_str(),
        Some(desc.machine.as_str())
    );
    assert_eq!(
        domain["resources"]["requests"]["memory"].as_str(),
        Some("1024Mi")
    );
    assert_eq!(domain["cpu"]["cores"].as_u64(), Some(2));
    // Every disk has its volume, every interface its network.
    let names = |v: &serde_yaml_ng::Value| -> Vec<String> {
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&domain["devices"]["disks"]), names(&spec["volumes"]));
    assert_eq!(
        names(&domain["devices"]["interfaces"]),
        names(&spec["networks"])
    );
    let vol = spec["volumes"][0]["hostDisk"]["path"].as_str().unwrap();
    assert_eq!(Path::new(vol), out.join(format!("{NAME}-sda")));
    let targets: Vec<&str> = spec["networks"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|n| n["multus"]["networkName"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["lan", "br0", "br-mac"]);
    let macs: Vec<&str> = domain["devices"]["interfaces"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|n| n["macAddress"].as_str().unwrap())
        .collect();
    assert_eq!(
        macs,
        [
            "52:54:00:00:00:01",
            "52:54:00:00:00:02",
            "52:54:00:00:00:03"
        ]
    );
    // The same description rendered for libvirt and qemu carries the mapping.
    let x = v2v_render::libvirt::domain(&desc, "kvm");
    assert!(x.contains("<source network='lan'/>"), "{x}");
    assert!(x.contains("<source bridge='br0'/>"), "{x}");
    assert!(x.contains("<source bridge='br-mac'/>"), "{x}");
    let q = v2v_render::qemu::script(&desc);
    for i in 1..=3 {
        assert!(q.contains(&format!("mac=52:54:00:00:00:0{i}")), "{q}");
    }
}

/// The facts of virt-v2v 1.42–2.1's `-o json` document that this output
/// writes (create_json.ml), as a JSON Schema.
fn json_format_schema() -> Value {
    let s = json!({"type": "string"});
    let b = json!({"type": "boolean"});
    let i = json!({"type": "integer"});
    let s_or_null = json!({"type": ["string", "null"]});
    let guestcaps = json!({"type": "object", "additionalProperties": false,
                "required": ["block-bus", "net-bus", "video", "machine", "arch", "virtio-rng",
                             "virtio-balloon", "isa-pvpanic", "virtio-socket", "acpi", "virtio-1-0"],
                "properties": {"block-bus": s, "net-bus": s, "video": s,
                    "machine": {"enum": ["i440fx", "q35", "virt"]}, "arch": s, "virtio-rng": b,
                    "virtio-balloon": b, "isa-pvpanic": b, "virtio-socket": b, "acpi": b,
                    "virtio-1-0": b}});
    let inspect = json!({"type": "object", "additionalProperties": false,
                "required": ["root", "type", "distro", "osinfo", "arch", "major-version",
                    "minor-version", "package-format", "package-management", "product-name",
                    "product-variant", "mountpoints", "applications", "windows-systemroot",
                    "windows-software-hive", "windows-system-hive",
                    "windows-current-control-set", "firmware"],
                "properties": {"root": s, "type": s, "distro": s_or_null, "osinfo": s_or_null,
                    "arch": s, "major-version": i, "minor-version": i,
                    "package-format": s_or_null, "package-management": s_or_null,
                    "product-name": s_or_null, "product-variant": s_or_null,
                    "mountpoints": {"type": "object", "additionalProperties": s},
                    "applications": {"type": "array"}, "windows-systemroot": s,
                    "windows-software-hive": s, "windows-system-hive": s,
                    "windows-current-control-set": s,
                    "firmware": {"type": "object", "required": ["type"]}}});
    json!({
        "type": "object",
        "required": ["version", "name", "memory", "vcpu", "firmware", "features", "machine",
                     "disks", "removables", "nics", "guestcaps", "inspect"],
        "additionalProperties": false,
        "properties": {
            "version": {"const": 1}, "name": s, "memory": i, "vcpu": i,
            "cpu": {"type": "object", "additionalProperties": false, "properties": {
                "vendor": s, "model": s,
                "topology": {"type": "object", "required": ["sockets", "cores", "threads"],
                             "additionalProperties": false,
                             "properties": {"sockets": i, "cores": i, "threads": i}}}},
            "firmware": {"type": "object", "required": ["type"], "properties": {
                "type": {"enum": ["bios", "uefi"]},
                "uefi": {"type": "object", "required": ["code", "vars", "flags"]}}},
            "features": {"type": "array", "items": s},
            "machine": {"enum": ["pc", "q35", "virt"]},
            "disks": {"type": "array", "items": {"type": "object",
                "required": ["dev", "bus", "format", "file"], "additionalProperties": false,
                "properties": {"dev": s, "bus": s, "format": s, "file": s}}},
            "removables": {"type": "array", "items": {"type": "object", "required": ["type", "dev"],
                "properties": {"type": {"enum": ["cdrom", "floppy"]}, "dev": s, "bus": s}}},
            "nics": {"type": "array", "items": {"type": "object",
                "required": ["vnet", "vnet-type"], "additionalProperties": false,
                "properties": {"vnet": s, "vnet-type": {"enum": ["network", "bridge"]},
                               "model": s, "mac": s}}},
            "guestcaps": guestcaps,
            "sound": {"type": "object", "required": ["model"], "properties": {"model": s}},
            "inspect": inspect
        }
    })
}

#[test]
fn json_output_through_the_script() {
    let raw = fixture_dir().join(format!("{NAME}.raw"));
    let sb = Sandbox::new("out-json");
    let out = sb.path("out");
    let d = run_output(
        &sb,
        sb.script(),
        &[
            "-i",
            "disk",
            raw.to_str().unwrap(),
            "-o",
            "json",
            "-oo",
            "json-disks-pattern=%{GuestName}/disk%{DiskNo}.img",
        ],
        &out,
    );
    let disk = out.join(NAME).join("disk1.img");
    assert!(disk.is_file(), "{} missing", disk.display());
    let v: Value =
        serde_json::from_str(&fs::read_to_string(out.join(format!("{NAME}.json"))).unwrap())
            .unwrap();
    let schema = json_format_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errs: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errs.is_empty(), "{}\n{v:#}", errs.join("\n"));
    assert_eq!(v["name"], NAME);
    assert_eq!(
        v["disks"],
        json!([{"dev": "vda", "bus": "virtio", "format": "raw",
                "file": disk.to_str().unwrap()}])
    );
    assert_eq!(v["guestcaps"]["block-bus"], "virtio-blk");
    assert_eq!(v["guestcaps"]["net-bus"], "virtio-net");
    assert_eq!(v["firmware"]["type"], "bios");
    assert_eq!(v["inspect"]["type"], "linux");
    assert_eq!(v["inspect"]["distro"], "debian");
    assert_eq!(v["inspect"]["mountpoints"]["/"], v["inspect"]["root"]);
    // The disk is not at OUTDIR/NAME-sdX: not cleanup's to remove.
    let oj: Value =
        serde_json::from_str(&fs::read_to_string(d.dir.join("output.json")).unwrap()).unwrap();
    assert_eq!(oj["disks"][0]["created"], false);
    assert_eq!(description(&d).output_type, "json");
}

#[test]
fn example_sh_output_from_path() {
    // -i disk gives the guest one NIC on "default": -n lan maps it.
    let raw = fixture_dir().join(format!("{NAME}.raw"));
    let sb = Sandbox::new("out-example");
    let helper = sb.extra_bin().join("helper-v2v-output-example");
    fs::copy(
        repo_root().join("scripts/examples/helper-v2v-output-example"),
        &helper,
    )
    .unwrap();
    // Listed as an output, with the new outputs and --mac.
    let caps = run(sb.virt_v2v().arg("--machine-readable"));
    caps.assert_ok();
    for c in [
        "output:example",
        "output:qemu",
        "output:kubevirt",
        "output:json",
        "mac-option",
    ] {
        assert!(caps.stdout.lines().any(|l| l == c), "{c} missing:\n{caps}");
    }
    // Its check refuses what it does not take, before anything runs.
    let r = run(sb
        .virt_v2v()
        .args(["-i", "disk", raw.to_str().unwrap(), "-o", "example", "-os"])
        .arg(sb.root())
        .args(["-oo", "bogus=1"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.last_err_line()
            .contains("-o example: unknown output option ‘-oo bogus’"),
        "{r}"
    );
    assert!(
        sb.run_dirs().is_empty(),
        "a failed check left a run directory"
    );
    let out = sb.path("out");
    let d = run_output(
        &sb,
        sb.virt_v2v(),
        &[
            "--no-convert",
            "-i",
            "disk",
            raw.to_str().unwrap(),
            "-o",
            "example",
            "-n",
            "lan",
        ],
        &out,
    );
    let target = out.join(format!("{NAME}-sda"));
    assert_eq!(sha256(&target), sha256(&raw), "the copy differs");
    let txt = fs::read_to_string(out.join(format!("{NAME}.txt"))).unwrap();
    let desc = description(&d);
    assert!(!desc.converted);
    let want = format!(
        "name: {NAME}\nmemory_mib: {}\nvcpus: {}\nfirmware: bios\nmachine: {}\nos: unknown\n\
         converted: false\ndisk: sda sata raw {}\nnic: - e1000 network lan\n",
        desc.memory_bytes / 1048576,
        desc.vcpus,
        desc.machine,
        target.display()
    );
    assert_eq!(txt, want);
    assert!(d.dir.join("status/output-final.done").is_file());
    assert!(
        wait_no_servers(&d.dir.to_string_lossy(), Duration::from_secs(10)).is_empty(),
        "servers left running"
    );
}

/// `qemu-img info`'s format of an image.
fn qemu_img_format(p: &Path) -> String {
    let r = run(Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(p));
    assert_eq!(r.code, 0, "qemu-img info {}: {r}", p.display());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    v["format"].as_str().expect("format").to_string()
}

/// `(allocated, compressed)` clusters of a qcow2 file (`qemu-img check`).
fn qcow2_clusters(p: &Path) -> (u64, u64) {
    let r = run(Command::new("qemu-img")
        .args(["check", "--output=json"])
        .arg(p));
    assert_eq!(r.code, 0, "qemu-img check {}: {r}", p.display());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let allocated = v["allocated-clusters"]
        .as_u64()
        .unwrap_or_else(|| panic!("allocated-clusters in {v}"));
    // qemu-img leaves the field out when there are none.
    (allocated, v["compressed-clusters"].as_u64().unwrap_or(0))
}

/// Issue 13's "the same outputs through scripts/virt-v2v.sh": a small
/// generated disk copied with `--no-convert` by both runners into each
/// output (local, qemu, kubevirt, json, the example from PATH, kubevirt
/// with `-of qcow2`, qemu with `-oa preallocated`, local with `-of qcow2
/// -oo compressed`, every cluster compressed): the same
/// files, the guest data of the source in every target, the rendered
/// NAME.xml/.sh/.yaml/.json/.txt equal after redaction, nothing left
/// running.  `-o null` (which takes no `-os`): the same run files.
#[test]
fn every_output_through_both_runners() {
    require_tool("qemu-img");
    let sb = Sandbox::new("out-both");
    let src = sb.path("both.img");
    const SIZE_MIB: u64 = 32;
    make_ext4_disk(&src, SIZE_MIB, 13);
    let src_sum = sha256(&src);
    fs::copy(
        repo_root().join("scripts/examples/helper-v2v-output-example"),
        sb.extra_bin().join("helper-v2v-output-example"),
    )
    .unwrap();
    let cases: [(&str, &[&str], &str); 8] = [
        ("local", &["-o", "local"], "both.xml"),
        ("qemu", &["-o", "qemu"], "both.sh"),
        ("kubevirt", &["-o", "kubevirt"], "both.yaml"),
        ("json", &["-o", "json"], "both.json"),
        ("example", &["-o", "example"], "both.txt"),
        ("qcow2", &["-o", "kubevirt", "-of", "qcow2"], "both.yaml"),
        (
            "prealloc",
            &["-o", "qemu", "-oa", "preallocated"],
            "both.sh",
        ),
        (
            "compressed",
            &["-o", "local", "-of", "qcow2", "-oo", "compressed"],
            "both.xml",
        ),
    ];
    for (label, oargs, rendered) in cases {
        let mut args = vec!["--no-convert", "-i", "disk", src.to_str().unwrap()];
        args.extend(oargs);
        let a = run_output(&sb, sb.virt_v2v(), &args, &sb.path(&format!("{label}-bin")));
        let b = run_output(&sb, sb.script(), &args, &sb.path(&format!("{label}-sh")));
        // Files, redacted renderings and run files equal; the disks (qcow2
        // clusters land in either order) each hold the source's data.
        assert_same_result(&a, &b, false);
        assert!(a.out.join(rendered).is_file(), "{label}: no {rendered}");
        let (ta, tb) = (a.targets(), b.targets());
        assert_eq!((ta.len(), tb.len()), (1, 1), "{label}: {ta:?} {tb:?}");
        for t in [&ta[0], &tb[0]] {
            assert!(t.parent() == Some(&a.out) || t.parent() == Some(&b.out));
            if let Err(e) = qemu_img_identical(&src, t) {
                panic!("{label}: {e}");
            }
            match label {
                "qcow2" => {
                    assert_eq!(qemu_img_format(t), "qcow2", "{label}: {}", t.display());
                    assert_eq!(qcow2_clusters(t).1, 0, "{label}: compressed clusters");
                }
                // qemu stores a cluster uncompressed when it does not
                // shrink: the disk's 4 MiB of noise (64 clusters) at most.
                "compressed" => {
                    let (allocated, compressed) = qcow2_clusters(t);
                    assert!(
                        compressed > 0 && compressed + 64 >= allocated,
                        "{label}: {compressed} of {allocated} clusters compressed in {}",
                        t.display()
                    );
                }
                "prealloc" => assert!(
                    allocated(t) >= SIZE_MIB << 20,
                    "{label}: only {} bytes allocated",
                    allocated(t)
                ),
                _ => assert!(
                    allocated(t) < SIZE_MIB << 20,
                    "{label}: the target is not sparse"
                ),
            }
        }
        for d in [&a, &b] {
            assert!(
                wait_no_servers(&d.dir.to_string_lossy(), Duration::from_secs(10)).is_empty(),
                "{label}: servers left running for {}",
                d.dir.display()
            );
        }
    }
    // -o null refuses -os: the run files alone.
    let null = |who: &str, mut runner: Command| -> PathBuf {
        let parent = sb.path(&format!("tmp-null-{who}"));
        fs::create_dir_all(&parent).unwrap();
        let r = run(runner
            .env("VIRT_V2V_TMPDIR", &parent)
            .args(["--keep-tmpdir", "--events", "fd:1", "--no-convert"])
            .args(["-i", "disk", src.to_str().unwrap(), "-o", "null"]));
        r.assert_ok();
        events(&r.stdout);
        let dir = fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        assert!(validate_run_dir(&dir) >= 4, "{}", dir.display());
        assert!(
            wait_no_servers(&dir.to_string_lossy(), Duration::from_secs(10)).is_empty(),
            "-o null: servers left running for {}",
            dir.display()
        );
        dir
    };
    let (da, db) = (null("bin", sb.virt_v2v()), null("sh", sb.script()));
    let (ra, rb) = (da.to_string_lossy(), db.to_string_lossy());
    for name in ["metadata.in", "output.json"] {
        assert_eq!(
            json_redacted(&da.join(name), &[(&ra, "[TMPDIR]")]),
            json_redacted(&db.join(name), &[(&rb, "[TMPDIR]")]),
            "-o null: {name} differs between the runners"
        );
    }
    assert_eq!(sha256(&src), src_sum, "the source changed");
}

/// `-oo qemu-boot` runs the written `NAME.sh` once the output is final
/// (in the background, as upstream): a stand-in `qemu-system-x86_64` first
/// on PATH records its arguments, which must boot the target disk.  Both
/// runners; no appliance, no real boot.
#[test]
fn qemu_boot_option_runs_the_script() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new("out-qemu-boot");
    let raw = sb.path("small.img");
    let mut data = vec![0u8; 8 << 20];
    data[..4096].fill(0x5a);
    fs::write(&raw, &data).unwrap();
    let fake = sb.extra_bin().join("qemu-system-x86_64");
    let record = sb.path("qemu-args");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}.part' && mv '{0}.part' '{0}'\n",
            record.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    for (who, runner) in [("bin", sb.virt_v2v()), ("sh", sb.script())] {
        let _ = fs::remove_file(&record);
        let out = sb.path(&format!("out-{who}"));
        let d = run_output(
            &sb,
            runner,
            &[
                "--no-convert",
                "-i",
                "disk",
                raw.to_str().unwrap(),
                "-o",
                "qemu",
                "-oo",
                "qemu-boot",
            ],
            &out,
        );
        assert!(
            d.run.stderr.contains("Booting the guest: "),
            "{who}: {}",
            d.run
        );
        let t = Instant::now();
        while !record.exists() && t.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = fs::read_to_string(&record)
            .unwrap_or_else(|_| panic!("{who}: -oo qemu-boot did not run qemu:\n{}", d.run));
        let target = out.join("small-sda");
        assert!(
            args.lines()
                .any(|a| a.contains(&format!("file={}", target.display()))),
            "{who}: qemu not given the target:\n{args}"
        );
        assert!(args.lines().any(|a| a.contains("accel=")), "{who}: {args}");
    }
}
