//! What orchestrators scrape from virt-v2v's output, checked with their own
//! parsers: the regular expressions below are copied, as facts, from
//! their sources, and run the way those sources run them over the
//! combined stdout and stderr of a `--no-convert` run of two disks,
//! through virt-v2v and through scripts/virt-v2v.sh.  See docs/forklift.md.

use regex::Regex;
use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use v2v_tests::*;

/// kubev2v/forklift, cmd/virt-v2v-monitor/virt-v2v-monitor.go (Go RE2
/// syntax, which these patterns share with the regex crate).
const FORKLIFT_COPY_DISK_RE: &str = r"^.*Copying disk (\d+)/(\d+)";
const FORKLIFT_DISK_PROGRESS_RE: &str = r".+ (\d+)% \[[*-]+\]";
const FORKLIFT_FINISHED_RE: &str = r"^\[[ .0-9]*\] Finishing off";

/// oVirt vdsm, lib/vdsm/v2v.py, class OutputParser (Python `re.match`:
/// anchored at the start).
const VDSM_COPY_DISK_RE: &str = r".*(Copying disk (\d+)/(\d+)).*";
const VDSM_DISK_PROGRESS_RE: &str = r"\s+\((\d+).*";

/// Python's `re.match`: the pattern matched at the start of `text`.
fn match_start<'t>(re: &Regex, text: &'t str) -> Option<regex::Captures<'t>> {
    re.captures(text).filter(|c| c.get(0).unwrap().start() == 0)
}

/// What Forklift's monitor reads: lines split at `\r` or `\n` (its
/// ScanLines), each tried against the three patterns in its order.
/// Returns the disk count announced, the highest progress each disk
/// reached before the finishing line, and whether that line was seen.
pub(crate) fn forklift(out: &str) -> (u64, BTreeMap<u64, u64>, bool) {
    let copy = Regex::new(FORKLIFT_COPY_DISK_RE).unwrap();
    let progress = Regex::new(FORKLIFT_DISK_PROGRESS_RE).unwrap();
    let finished = Regex::new(FORKLIFT_FINISHED_RE).unwrap();
    let (mut disk, mut disks, mut seen) = (0u64, 0u64, BTreeMap::new());
    for line in out.split(['\r', '\n']) {
        if let Some(c) = copy.captures(line) {
            disk = c[1].parse().unwrap();
            disks = c[2].parse().unwrap();
            seen.entry(disk).or_insert(0);
        } else if let Some(c) = progress.captures(line) {
            let p: u64 = c[1].parse().unwrap();
            // The monitor only counts progress once a disk is announced.
            if disk != 0 {
                let e = seen.entry(disk).or_insert(0);
                *e = (*e).max(p);
            }
        } else if finished.is_match(line) {
            return (disks, seen, true);
        }
    }
    (disks, seen, false)
}

/// What VDSM's OutputParser reads: lines (split at `\n`) until one holds
/// `Copying disk`, which must match its pattern; then chunks ending in
/// `\r` or `\n` until one says 100; the stream ending first is its
/// "copy-disk stream closed unexpectedly" error.  Returns `(disk, count)`
/// for each disk that reached 100, in order.
fn vdsm(out: &str) -> Result<Vec<(u64, u64)>, String> {
    let copy = Regex::new(VDSM_COPY_DISK_RE).unwrap();
    let progress = Regex::new(VDSM_DISK_PROGRESS_RE).unwrap();
    let mut done = Vec::new();
    let mut rest = out;
    while let Some(nl) = rest.find('\n') {
        let line = &rest[..=nl];
        rest = &rest[nl + 1..];
        if !line.contains("Copying disk") {
            continue;
        }
        let c = match_start(&copy, line)
            .ok_or_else(|| format!("unexpected format in \"Copying disk\", line: {line:?}"))?;
        let disk = (c[2].parse().unwrap(), c[3].parse().unwrap());
        loop {
            let Some(end) = rest.find(['\r', '\n']) else {
                return Err(format!(
                    "copy-disk stream closed unexpectedly (disk {disk:?})"
                ));
            };
            let chunk = &rest[..=end];
            rest = &rest[end + 1..];
            let p: Option<u64> = match_start(&progress, chunk).map(|c| c[1].parse().unwrap());
            if p == Some(100) {
                done.push(disk);
                break;
            }
        }
    }
    Ok(done)
}

/// Run `prog ARGS` with stdout and stderr into one pipe, in order (as
/// Forklift pipes virt-v2v into its monitor and VDSM reads it with
/// stderr=STDOUT).
fn combined(sb: &Sandbox, prog: &[&str], args: &[&str]) -> Run {
    let mut c: Command = sb.cmd("sh");
    c.args(["-c", "exec \"$@\" 2>&1", "sh"])
        .args(prog)
        .args(args);
    let r = run(&mut c);
    r.assert_ok();
    r
}

fn disks(sb: &Sandbox) -> [String; 2] {
    let mut v = Vec::new();
    for (name, fill) in [("a.img", 0x5au8), ("b.img", 0xa5)] {
        let p = sb.path(name);
        let mut data = vec![0u8; 32 << 20];
        // Data in both halves, holes between: a real copy, quickly.
        data[..4 << 20].fill(fill);
        data[20 << 20..24 << 20].fill(fill);
        fs::write(&p, data).unwrap();
        v.push(p.to_string_lossy().into_owned());
    }
    [v[0].clone(), v[1].clone()]
}

/// `OPTIONS... --no-convert -i disk A B -o null`: the two-disk run.
fn two_disks<'a>(options: &[&'a str], [a, b]: &'a [String; 2]) -> Vec<&'a str> {
    let mut v = options.to_vec();
    v.extend(["--no-convert", "-i", "disk", a, b, "-o", "null"]);
    v
}

/// Nothing in the run's output that looks like a JSON event.
#[track_caller]
fn assert_no_json(who: &str, r: &Run) {
    assert!(
        !r.stdout.lines().any(|l| l.trim_start().starts_with('{')),
        "{who}: JSON in the output\n{r}"
    );
}

fn runners() -> [(&'static str, Vec<String>); 2] {
    let v2v = bin("virt-v2v").to_string_lossy().into_owned();
    let script = repo_root()
        .join("scripts/virt-v2v.sh")
        .to_string_lossy()
        .into_owned();
    require_tool("dash");
    [
        ("virt-v2v", vec![v2v]),
        ("virt-v2v.sh", vec!["dash".into(), script]),
    ]
}

/// Forklift's monitor over a run as Forklift starts it (`-v -x`, human
/// output, not a terminal): both disks announced as `Copying disk N/2`,
/// each reaching 100% on its own bar, then the finishing line; no JSON
/// anywhere in the output, the events going to `--events FILE` only.
#[test]
fn forklift_monitor_sees_every_disk_reach_100_and_the_end() {
    let sb = Sandbox::new("forklift");
    let disks = disks(&sb);
    for (who, prog) in runners() {
        let prog: Vec<&str> = prog.iter().map(String::as_str).collect();
        let ev = sb.path(&format!("events-{who}.jsonl"));
        let args = two_disks(&["-v", "-x", "--events", ev.to_str().unwrap()], &disks);
        let r = combined(&sb, &prog, &args);
        let (count, seen, finished) = forklift(&r.stdout);
        assert_eq!(count, 2, "{who}: disk count\n{r}");
        assert_eq!(
            seen,
            BTreeMap::from([(1, 100), (2, 100)]),
            "{who}: progress per disk\n{r}"
        );
        assert!(finished, "{who}: no finishing line\n{r}");
        assert_no_json(who, &r);
        let events = events(&fs::read_to_string(&ev).unwrap());
        let copied: Vec<_> = events
            .iter()
            .filter(|e| e["event"] == "disk-finished")
            .map(|e| e["disk"].as_u64().unwrap())
            .collect();
        assert_eq!(copied.len(), 2, "{who}: events {events:?}");
        assert_eq!(events.last().unwrap()["event"], "step-finished", "{who}");
    }
}

/// VDSM's parser over a run as VDSM starts it (`-v -x --machine-readable`,
/// stderr into stdout): disk 1/2 then 2/2, each read to 100 before the
/// next; upstream's documented `N/100` lines are on stdout too; the
/// finishing line comes last.
#[test]
fn vdsm_parser_reads_both_disks_to_100() {
    let sb = Sandbox::new("vdsm");
    let disks = disks(&sb);
    // Upstream's documented progress lines; the finishing message.
    let pct = Regex::new(r"^[0-9]+/[0-9]+$").unwrap();
    let finishing = Regex::new(FORKLIFT_FINISHED_RE).unwrap();
    for (who, prog) in runners() {
        let prog: Vec<&str> = prog.iter().map(String::as_str).collect();
        let args = two_disks(&["-v", "-x", "--machine-readable"], &disks);
        let r = combined(&sb, &prog, &args);
        assert_eq!(
            vdsm(&r.stdout),
            Ok(vec![(1, 2), (2, 2)]),
            "{who}: VDSM's parser\n{r}"
        );
        assert_no_json(who, &r);
        // Upstream's documented machine-readable progress, on stdout alone.
        let mut c: Command = sb.cmd(prog[0]);
        c.args(&prog[1..]).args(&args);
        let alone = run(&mut c);
        alone.assert_ok();
        let fractions: Vec<&str> = alone.stdout.lines().filter(|l| pct.is_match(l)).collect();
        assert_eq!(
            fractions.iter().filter(|l| **l == "100/100").count(),
            2,
            "{who}: N/100 lines on stdout\n{alone}"
        );
        assert!(
            alone
                .stdout
                .lines()
                .last()
                .is_some_and(|l| finishing.is_match(l)),
            "{who}: the finishing message is the last status line on stdout\n{alone}"
        );
    }
}

/// The parsers themselves: what they accept and refuse, so the runs above
/// cannot pass by accident.
#[test]
fn the_parsers_reject_what_their_programs_reject() {
    // A bar that never reaches 100: Forklift stays below, VDSM errors.
    let partial = "[   0.1] Copying disk 1/1\n\u{259d}  42% [*****-----]\r[   0.2] Finishing off\n";
    assert_eq!(forklift(partial), (1, BTreeMap::from([(1, 42)]), true));
    assert!(vdsm(partial).unwrap_err().contains("closed unexpectedly"));
    // A `Copying disk` line without N/M is VDSM's parse error.
    assert!(vdsm("Copying disk 1 (in1 -> out1)\n")
        .unwrap_err()
        .contains("unexpected format"));
    // qemu-img's form is what VDSM reads; a bare N/100 is not.
    assert_eq!(
        vdsm("[ 1.0] Copying disk 1/1\n100/100\n    (100.00/100%)\n"),
        Ok(vec![(1, 1)])
    );
    assert!(vdsm("[ 1.0] Copying disk 1/1\n100/100\n").is_err());
}

/// An OVA directory as VDSM imports one (`-i ova PATH`): `hostile.ovf`
/// (the hostile corpus's OVF: 1 vCPU, 512 MiB) naming the two raw disks,
/// plus one NIC on "VM Network".
fn ova_dir(sb: &Sandbox, [a, b]: &[String; 2]) -> std::path::PathBuf {
    let dir = sb.path("ova");
    fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (i, src) in [a, b].into_iter().enumerate() {
        fs::copy(src, dir.join(format!("disk{i}.img"))).unwrap();
        files.push((
            format!("disk{i}.img"),
            fs::metadata(src).unwrap().len().to_string(),
        ));
    }
    let refs: Vec<(&str, &str, &str, &str)> = files
        .iter()
        .map(|(f, cap)| (f.as_str(), cap.as_str(), "byte", ""))
        .collect();
    let nic = "<Item><rasd:AddressOnParent>7</rasd:AddressOnParent>\
        <rasd:Connection>VM Network</rasd:Connection>\
        <rasd:ElementName>Network adapter 1</rasd:ElementName>\
        <rasd:InstanceID>20</rasd:InstanceID><rasd:ResourceSubType>E1000</rasd:ResourceSubType>\
        <rasd:ResourceType>10</rasd:ResourceType></Item>\n</VirtualHardwareSection>";
    let ovf = v2v_tests::hostile::ovf_disks(&refs).replace("</VirtualHardwareSection>", nic);
    fs::write(dir.join("hostile.ovf"), ovf).unwrap();
    dir
}

/// oVirt's storage domain UUID (the last component of `-os`) and the
/// image, volume and VM UUIDs the engine gives VDSM.
const SD_UUID: &str = "5e1f0bd6-8f4c-4b6e-9d3a-2f1c0a9b8e7d";
const IMAGES: [&str; 2] = [
    "0f3c9a52-7d1e-4c8b-a6f0-1b2c3d4e5f60",
    "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
];
const VOLS: [&str; 2] = [
    "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
    "d2e3f4a5-b6c7-4d8e-9f0a-1b2c3d4e5f60",
];
const VM_UUID: &str = "9b8a7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d";

/// oVirt vdsm, lib/vdsm/v2v.py: `V2VCommand.__init__` (the base command,
/// and `-oo vdsm-compat=` when `virt-v2v --machine-readable` lists
/// `vdsm-compat-option`), `OvaCommand._command` and `_disk_parameters`,
/// the argument order theirs.  `-os` is the storage domain: the volume
/// path prepareImage returns, 3 levels up.  `--no-convert` is ours: the
/// disks have no OS to convert (it comes right after the base command).
fn vdsm_ova_command(caps: &str, ova: &str, sd: &str, ovf_dir: &str, disks: usize) -> Vec<String> {
    let input = ["--no-convert", "-i", "ova", ova];
    vdsm_command(caps, &input, sd, ovf_dir, disks, "qcow2")
}

/// [`vdsm_ova_command`] with other input words (`[--no-convert] -i ...`)
/// and `-of FORMAT` (VDSM passes the job's disk format, raw or qcow2).
fn vdsm_command(
    caps: &str,
    input: &[&str],
    sd: &str,
    ovf_dir: &str,
    disks: usize,
    format: &str,
) -> Vec<String> {
    let mut cmd: Vec<String> = vec!["-v".into(), "-x".into()];
    if caps.lines().any(|l| l == "vdsm-compat-option") {
        cmd.extend(["-oo".into(), "vdsm-compat=1.1".into()]);
    }
    let rest = [
        "-o",
        "vdsm",
        "-of",
        format,
        "-oa",
        "sparse",
        "-oo",
        &format!("vdsm-vm-uuid={VM_UUID}"),
        "-oo",
        &format!("vdsm-ovf-output={ovf_dir}"),
        "--machine-readable",
        "-os",
        sd,
    ];
    for w in input.iter().chain(&rest) {
        cmd.push(w.to_string());
    }
    for i in 0..disks {
        cmd.extend([
            "-oo".into(),
            format!("vdsm-image-uuid={}", IMAGES[i]),
            "-oo".into(),
            format!("vdsm-vol-uuid={}", VOLS[i]),
        ]);
    }
    cmd
}

/// `PROG --machine-readable` with no run: the capability list VDSM reads.
fn capabilities(sb: &Sandbox, prog: &[&str]) -> Run {
    let mut c: Command = sb.cmd(prog[0]);
    c.args(&prog[1..]).arg("--machine-readable");
    let caps = run(&mut c);
    caps.assert_ok();
    caps
}

/// `qemu-img info --output=json PATH`.
fn qemu_img_info(p: &std::path::Path) -> serde_json::Value {
    let info = run(Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(p));
    info.assert_ok();
    serde_json::from_str(&info.stdout).unwrap()
}

/// Exit 2 with upstream's message for a guest of `disks` disks given
/// another number of image/volume UUID pairs.
#[track_caller]
fn assert_uuid_count_refused(who: &str, r: &Run, disks: usize) {
    assert_eq!(r.code, 2, "{who}: the wrong number of UUIDs\n{r}");
    assert!(
        r.stdout
            .contains("‘-oo vdsm-image-uuid’ and ‘-oo vdsm-vol-uuid’")
            && r.stdout.contains(&format!("(for this guest: {disks})")),
        "{who}\n{r}"
    );
}

/// The files under `dir`, relative, sorted.
fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                v.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    v.sort();
    v
}

/// VDSM's OVA import command line, run unchanged by both runners into a
/// made-up file storage domain (`mnt/SD_UUID/images/IMAGE/`, made by VDSM
/// before it runs virt-v2v): each disk becomes `images/IMAGE/VOL` (qcow2,
/// compat 1.1 as VDSM asked, equal to the source) with its `.meta`; the
/// OVF `VM_UUID.ovf` in the OVF directory parses with the guest in it;
/// VDSM's parser reads both disks to 100.  For the script, VDSM has
/// prepared the first volume and its `.meta` already (as prepareImage
/// does): both are replaced.  Then one UUID pair short: exit 2 naming
/// the options, nothing created.
#[test]
fn vdsm_ova_import_writes_the_storage_domain_and_ovf() {
    let sb = Sandbox::new("vdsm-o");
    let disks = disks(&sb);
    let ova = ova_dir(&sb, &disks);
    let ova = ova.to_str().unwrap();
    for (who, prog) in runners() {
        let prog: Vec<&str> = prog.iter().map(String::as_str).collect();
        let caps = capabilities(&sb, &prog);
        for want in ["output:vdsm", "vdsm-compat-option", "ovf:ovirtexp"] {
            assert!(
                caps.stdout.lines().any(|l| l == want),
                "{who}: {want}\n{caps}"
            );
        }
        let sd = sb.path(&format!("{who}/rhev/data-center/mnt/nfs:_export/{SD_UUID}"));
        let ovf_dir = sb.path(&format!("{who}/run/vdsm/v2v"));
        fs::create_dir_all(&ovf_dir).unwrap();
        for img in IMAGES {
            fs::create_dir_all(sd.join("images").join(img)).unwrap();
        }
        let vol = |i: usize| sd.join("images").join(IMAGES[i]).join(VOLS[i]);
        let meta = |i: usize| {
            sd.join("images")
                .join(IMAGES[i])
                .join(format!("{}.meta", VOLS[i]))
        };
        if who == "virt-v2v.sh" {
            fs::write(vol(0), vec![0xeeu8; 1 << 20]).unwrap();
            fs::write(meta(0), "DOMAIN=prepared-by-vdsm\nEOF\n").unwrap();
        }
        let (sd_s, ovf_s) = (sd.to_str().unwrap(), ovf_dir.to_str().unwrap());

        // One image/volume pair short: a usage error naming the options,
        // before any volume or .meta is written.
        let short = vdsm_ova_command(&caps.stdout, ova, sd_s, ovf_s, 1);
        let short: Vec<&str> = short.iter().map(String::as_str).collect();
        let before = tree(&sd);
        let r = combined_any(&sb, &prog, &short);
        assert_uuid_count_refused(who, &r, 2);
        assert_eq!(
            tree(&sd),
            before,
            "{who}: the failed run changed the domain"
        );
        assert!(tree(&ovf_dir).is_empty(), "{who}");
        // A failed run keeps its directory (for --resume): not this test's.
        sb.clear_tmpdir();

        let args = vdsm_ova_command(&caps.stdout, ova, sd_s, ovf_s, 2);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = combined(&sb, &prog, &args);
        assert_eq!(vdsm(&r.stdout), Ok(vec![(1, 2), (2, 2)]), "{who}\n{r}");
        let want: Vec<String> = (0..2)
            .flat_map(|i| {
                let v = format!("images/{}/{}", IMAGES[i], VOLS[i]);
                [v.clone(), format!("{v}.meta")]
            })
            .collect();
        assert_eq!(tree(&sd), want, "{who}: the storage domain");
        assert_eq!(tree(&ovf_dir), [format!("{VM_UUID}.ovf")], "{who}");

        for (i, src) in disks.iter().enumerate() {
            qemu_img_identical(std::path::Path::new(src), &vol(i)).unwrap();
            let info = qemu_img_info(&vol(i));
            assert_eq!(info["format"], "qcow2", "{who}");
            assert_eq!(info["format-specific"]["data"]["compat"], "1.1", "{who}");
            let size = fs::metadata(src).unwrap().len();
            let text = fs::read_to_string(meta(i)).unwrap();
            let kv: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
            assert_eq!(text.lines().last(), Some("EOF"), "{who}: {text}");
            assert_eq!(kv["DOMAIN"], SD_UUID, "{who}: {text}");
            assert_eq!(kv["IMAGE"], IMAGES[i], "{who}: {text}");
            assert_eq!(kv["SIZE"], (size / 512).to_string(), "{who}: {text}");
            assert_eq!(
                (kv["FORMAT"], kv["TYPE"], kv["VOLTYPE"], kv["LEGALITY"]),
                ("COW", "SPARSE", "LEAF", "LEGAL"),
                "{who}: {text}"
            );
        }

        // The OVF (the export domain flavour, upstream's default).
        let xml = fs::read_to_string(ovf_dir.join(format!("{VM_UUID}.ovf"))).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        const OVF: &str = "http://schemas.dmtf.org/ovf/envelope/1/";
        const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
        let env = doc.root_element();
        assert!(env.has_tag_name((OVF, "Envelope")), "{who}");
        let section = |parent: roxmltree::Node<'_, '_>, ty: &str| {
            parent
                .children()
                .find(|c| c.has_tag_name("Section") && c.attribute((XSI, "type")) == Some(ty))
                .unwrap_or_else(|| panic!("{who}: no {ty} section"))
                .id()
        };
        let text = |n: roxmltree::Node<'_, '_>, tag: &str| -> String {
            n.children()
                .find(|c| c.tag_name().name() == tag)
                .and_then(|c| c.text())
                .unwrap_or_default()
                .to_string()
        };
        let disk_sec = doc.get_node(section(env, "ovf:DiskSection_Type")).unwrap();
        let ovf_disks: Vec<_> = disk_sec
            .children()
            .filter(|c| c.has_tag_name("Disk"))
            .map(|d| {
                let a = |k: &str| d.attribute((OVF, k)).unwrap().to_string();
                (
                    a("diskId"),
                    a("fileRef"),
                    a("capacity"),
                    a("volume-format"),
                    a("boot"),
                )
            })
            .collect();
        let want: Vec<_> = (0..2)
            .map(|i| {
                (
                    VOLS[i].to_string(),
                    format!("{}/{}", IMAGES[i], VOLS[i]),
                    fs::metadata(&disks[i]).unwrap().len().to_string(),
                    "COW".to_string(),
                    if i == 0 { "True" } else { "False" }.to_string(),
                )
            })
            .collect();
        assert_eq!(ovf_disks, want, "{who}: disks\n{xml}");
        let content = env.children().find(|c| c.has_tag_name("Content")).unwrap();
        assert_eq!(text(content, "Name"), "hostile", "{who}");
        let os = doc
            .get_node(section(content, "ovf:OperatingSystemSection_Type"))
            .unwrap();
        assert_eq!(os.attribute((OVF, "id")), Some(VM_UUID), "{who}");
        let hw = doc
            .get_node(section(content, "ovf:VirtualHardwareSection_Type"))
            .unwrap();
        assert_eq!(text(hw, "Info"), "1 CPU, 512 Memory", "{who}\n{xml}");
        let by_type = |rt: &str| -> Vec<roxmltree::Node<'_, '_>> {
            hw.children()
                .filter(|i| i.has_tag_name("Item") && text(*i, "ResourceType") == rt)
                .collect()
        };
        assert_eq!(text(by_type("4")[0], "VirtualQuantity"), "512", "{who}");
        let drives = by_type("17");
        assert_eq!(drives.len(), 2, "{who}");
        assert_eq!(
            text(drives[1], "HostResource"),
            format!("{}/{}", IMAGES[1], VOLS[1])
        );
        assert_eq!(text(drives[0], "StorageId"), SD_UUID, "{who}");
        let nics = by_type("10");
        assert_eq!(nics.len(), 1, "{who}\n{xml}");
        assert_eq!(text(nics[0], "Connection"), "VM Network", "{who}");
        assert_eq!(sb.run_dirs(), Vec::<std::path::PathBuf>::new(), "{who}");
    }
}

/// [`combined`] without the success check.
fn combined_any(sb: &Sandbox, prog: &[&str], args: &[&str]) -> Run {
    let mut c: Command = sb.cmd("sh");
    c.args(["-c", "exec \"$@\" 2>&1", "sh"])
        .args(prog)
        .args(args);
    run(&mut c)
}

/// Loop devices attached by a test, detached when it ends, passed or not.
struct Loops(Vec<std::path::PathBuf>);

impl Loops {
    /// `losetup -f --show FILE`: the device.
    fn attach(&mut self, file: &std::path::Path) -> std::path::PathBuf {
        let r = run(Command::new("losetup").args(["-f", "--show"]).arg(file));
        r.assert_ok();
        let dev = std::path::PathBuf::from(r.stdout.trim());
        self.0.push(dev.clone());
        dev
    }
}

impl Drop for Loops {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = Command::new("losetup").arg("-d").arg(d).status();
        }
    }
}

/// `dev` filled with byte `b` through the device, flushed.
fn fill_device(dev: &std::path::Path, b: u8) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new().write(true).open(dev).unwrap();
    let len = fs::File::open(dev)
        .and_then(|mut r| std::io::Seek::seek(&mut r, std::io::SeekFrom::End(0)))
        .unwrap();
    f.write_all(&vec![b; len as usize]).unwrap();
    f.sync_all().unwrap();
}

/// A block storage domain as VDSM prepares one (`SD/images/IMAGE/VOL` a
/// symbolic link to the logical volume, here a loop device holding old
/// data): VDSM's command line, raw and qcow2, through both runners,
/// writes each disk into its device (equal to the source, the holes'
/// zeroes too), the `.meta` beside the link, the OVF; the links and
/// devices are still there.  qcow2 takes a device smaller than the
/// virtual size (a thin volume: the second disk's is half of it); raw
/// does not: exit 1 naming the volume, before the copy, nothing written.
#[test]
fn vdsm_block_storage_domain_is_written_into_its_devices() {
    require_tool("losetup");
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test attaches loop devices: run it as root"
    );
    let sb = Sandbox::new("vdsm-b");
    let mut loops = Loops(Vec::new());
    let disks = disks(&sb);
    let ova = ova_dir(&sb, &disks);
    let ova = ova.to_str().unwrap();
    let size = fs::metadata(&disks[0]).unwrap().len();
    // Two logical volumes of the disks' size, one half as big.
    let devs: Vec<std::path::PathBuf> = [size, size, size / 2]
        .iter()
        .enumerate()
        .map(|(i, len)| {
            let f = sb.path(&format!("lv{i}.img"));
            fs::File::create(&f).unwrap().set_len(*len).unwrap();
            loops.attach(&f)
        })
        .collect();
    let is_block = |p: &std::path::Path| {
        use std::os::unix::fs::FileTypeExt;
        fs::metadata(p).unwrap().file_type().is_block_device()
    };
    for (who, prog) in runners() {
        let prog: Vec<&str> = prog.iter().map(String::as_str).collect();
        let caps = capabilities(&sb, &prog);
        for format in ["raw", "qcow2"] {
            let sd = sb.path(&format!(
                "{who}-{format}/rhev/data-center/mnt/blockSD/{SD_UUID}"
            ));
            let ovf_dir = sb.path(&format!("{who}-{format}/run/vdsm/v2v"));
            fs::create_dir_all(&ovf_dir).unwrap();
            let vol = |i: usize| sd.join("images").join(IMAGES[i]).join(VOLS[i]);
            // The logical volume of disk i.
            let lv = |i: usize| &devs[if i == 1 && format == "qcow2" { 2 } else { i }];
            for (i, img) in IMAGES.iter().enumerate() {
                fs::create_dir_all(sd.join("images").join(img)).unwrap();
                std::os::unix::fs::symlink(lv(i), vol(i)).unwrap();
                fill_device(lv(i), 0xee);
            }
            let (sd_s, ovf_s) = (sd.to_str().unwrap(), ovf_dir.to_str().unwrap());
            let input = ["--no-convert", "-i", "ova", ova];
            let args = vdsm_command(&caps.stdout, &input, sd_s, ovf_s, 2, format);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = combined(&sb, &prog, &args);
            assert_eq!(vdsm(&r.stdout), Ok(vec![(1, 2), (2, 2)]), "{who}\n{r}");
            for (i, src) in disks.iter().enumerate() {
                let ctx = format!("{who} -of {format}, disk {}", i + 1);
                assert_eq!(&fs::read_link(vol(i)).unwrap(), lv(i), "{ctx}");
                assert!(is_block(lv(i)), "{ctx}");
                qemu_img_identical(std::path::Path::new(src), &vol(i))
                    .unwrap_or_else(|e| panic!("{ctx}: {e}\n{r}"));
                let info = qemu_img_info(&vol(i));
                assert_eq!(info["format"], format, "{ctx}");
                let meta = fs::read_to_string(format!("{}.meta", vol(i).display())).unwrap();
                let want = if format == "raw" { "RAW" } else { "COW" };
                assert!(
                    meta.lines().any(|l| l == format!("FORMAT={want}")),
                    "{ctx}: {meta}"
                );
            }
            assert_eq!(tree(&ovf_dir), [format!("{VM_UUID}.ovf")], "{who}");
            assert_eq!(sb.run_dirs(), Vec::<std::path::PathBuf>::new(), "{who}");
            if format == "qcow2" {
                continue;
            }

            // The second raw volume on the small device: refused, naming
            // it, before anything is written.
            fs::remove_file(vol(1)).unwrap();
            std::os::unix::fs::symlink(&devs[2], vol(1)).unwrap();
            fill_device(&devs[2], 0xee);
            fs::remove_file(ovf_dir.join(format!("{VM_UUID}.ovf"))).unwrap();
            let metas: Vec<String> = (0..2)
                .map(|i| fs::read_to_string(format!("{}.meta", vol(i).display())).unwrap())
                .collect();
            let first = fs::read(&devs[0]).unwrap();
            let r = combined_any(&sb, &prog, &args);
            assert_eq!(r.code, 1, "{who}: small device\n{r}");
            assert!(
                r.stdout.contains(&format!(
                    "volume {} is a block device of {} bytes, smaller than disk 2",
                    vol(1).display(),
                    size / 2
                )),
                "{who}\n{r}"
            );
            // At the output's second check (`-v -x` traces every program
            // run): the copy never started.
            assert!(
                r.stdout.contains("helper-v2v-output-vdsm check")
                    && !r.stdout.contains("helper-v2v-copy"),
                "{who}: not refused at the check\n{r}"
            );
            for (i, before) in metas.iter().enumerate() {
                let m = fs::read_to_string(format!("{}.meta", vol(i).display())).unwrap();
                assert_eq!(&m, before, "{who}: .meta {i} rewritten");
            }
            assert_eq!(
                fs::read(&devs[0]).unwrap(),
                first,
                "{who}: device 1 written"
            );
            assert!(
                fs::read(&devs[2]).unwrap().iter().all(|b| *b == 0xee),
                "{who}: the small device was written"
            );
            assert!(tree(&ovf_dir).is_empty(), "{who}");
            assert!(is_block(&devs[2]) && fs::read_link(vol(1)).unwrap() == devs[2]);
            assert_eq!(sb.run_dirs(), Vec::<std::path::PathBuf>::new(), "{who}");
        }
    }
    drop(loops);
    assert!(
        servers_mentioning(sb.root().to_str().unwrap()).is_empty(),
        "servers left behind"
    );
}

/// VDSM's OVA import of the fixture's OVA with one image/volume UUID pair
/// too many for its one disk, without `--no-convert`, with and without
/// `-on`: both runners stop with exit 2 and upstream's message at the output's second check,
/// right after the input step, so before any conversion (no convert step
/// started, well under a minute where the conversion takes minutes);
/// nothing written in the domain.
#[test]
fn vdsm_wrong_uuid_count_fails_before_the_conversion() {
    let sb = Sandbox::new("vdsm-n");
    let ova = fixture_dir().join("foreign-guest.ova");
    let ova = ova.to_str().unwrap();
    for (who, prog) in runners() {
        let prog: Vec<&str> = prog.iter().map(String::as_str).collect();
        let sd = sb.path(&format!("{who}/rhev/data-center/mnt/nfs:_export/{SD_UUID}"));
        let ovf_dir = sb.path(&format!("{who}/run/vdsm/v2v"));
        fs::create_dir_all(&ovf_dir).unwrap();
        for img in IMAGES {
            fs::create_dir_all(sd.join("images").join(img)).unwrap();
        }
        let (sd_s, ovf_s) = (sd.to_str().unwrap(), ovf_dir.to_str().unwrap());
        // As VDSM runs it, and with -on (the runners add none then).
        for on in [&[][..], &["-on", "imported"][..]] {
            let who = &format!("{who} {on:?}");
            let mut args = vdsm_command("", &["-i", "ova", ova], sd_s, ovf_s, 2, "raw");
            args.extend(on.iter().map(|w| w.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let t = std::time::Instant::now();
            let r = combined_any(&sb, &prog, &args);
            let took = t.elapsed();
            assert_uuid_count_refused(who, &r, 1);
            assert!(took.as_secs() < 60, "{who}: took {took:?}\n{r}");
            // `-v -x` traces every program run: the input step ran, then the
            // output's check refused, and no convert step started.
            let input = r.stdout.find("helper-v2v-input-ova -v -x");
            let check = r.stdout.rfind("helper-v2v-output-vdsm check");
            assert!(
                input.is_some() && check > input,
                "{who}: not refused at the check after the input step\n{r}"
            );
            assert!(
                !r.stdout.contains("helper-v2v-convert"),
                "{who}: a convert step started\n{r}"
            );
            assert!(tree(&sd).is_empty(), "{who}: the domain was written");
            assert!(tree(&ovf_dir).is_empty(), "{who}");
            // Nothing had started but the input, cleaned up: no directory kept.
            assert_eq!(sb.run_dirs(), Vec::<std::path::PathBuf>::new(), "{who}");
        }
    }
}

/// VDSM's OVA import of a real guest, its command line unchanged (no
/// `--no-convert`): the fixture's OVA converted by `virt-v2v` into a
/// made-up file storage domain, raw as VDSM asks for a raw disk.  VDSM's
/// parser reads the disk to 100; the volume holds the converted guest (a
/// bootable disk of the source's size; the -o local conversions of the
/// same guest are booted elsewhere); the OVF names the guest's OS and puts
/// its disk and NIC on virtio.  One appliance run; the script's -o vdsm is
/// the other vdsm tests'.
#[test]
fn vdsm_ova_import_of_the_test_guest_converts_it() {
    let sb = Sandbox::new("vdsm-c");
    let ova = fixture_dir().join("foreign-guest.ova");
    let raw = fixture_dir().join("foreign-guest.raw");
    let sd = sb.path(&format!("rhev/data-center/mnt/nfs:_export/{SD_UUID}"));
    let ovf_dir = sb.path("run/vdsm/v2v");
    fs::create_dir_all(&ovf_dir).unwrap();
    fs::create_dir_all(sd.join("images").join(IMAGES[0])).unwrap();
    let prog = bin("virt-v2v").to_string_lossy().into_owned();
    let caps = capabilities(&sb, &[&prog]);
    let args = vdsm_command(
        &caps.stdout,
        &["-i", "ova", ova.to_str().unwrap()],
        sd.to_str().unwrap(),
        ovf_dir.to_str().unwrap(),
        1,
        "raw",
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let before = sha256(&raw);
    let r = combined(&sb, &[&prog], &args);
    assert_eq!(vdsm(&r.stdout), Ok(vec![(1, 1)]), "{r}");
    assert!(
        r.stdout.contains("helper-v2v-convert"),
        "no conversion ran\n{r}"
    );
    assert_eq!(sha256(&raw), before, "the source changed");
    let vol = sd.join("images").join(IMAGES[0]).join(VOLS[0]);
    assert_eq!(
        fs::metadata(&vol).unwrap().len(),
        fs::metadata(&raw).unwrap().len()
    );
    assert_eq!(qemu_img_info(&vol)["format"], "raw");
    // The converted disk differs from the source (the conversion wrote).
    assert!(qemu_img_identical(&raw, &vol).is_err(), "nothing converted");
    let xml = fs::read_to_string(ovf_dir.join(format!("{VM_UUID}.ovf"))).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    const OVF: &str = "http://schemas.dmtf.org/ovf/envelope/1/";
    let disk = doc
        .descendants()
        .find(|n| n.has_tag_name("Disk"))
        .expect("a Disk");
    assert_eq!(
        disk.attribute((OVF, "disk-interface")),
        Some("VirtIO"),
        "{xml}"
    );
    // The OS section: inspection's product name (for Debian, libguestfs
    // gives /etc/debian_version's) and oVirt's OS id for Debian ≥ 7.
    let os = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Section" && n.attribute((OVF, "id")) == Some(VM_UUID))
        .expect("an OperatingSystemSection");
    let child = |tag: &str| {
        os.children()
            .find(|c| c.tag_name().name() == tag)
            .and_then(|i| i.text())
            .unwrap_or_default()
            .to_string()
    };
    assert!(child("Info").starts_with("12"), "{xml}");
    assert_eq!(child("Description"), "debian_7", "{xml}");
    assert!(
        xml.contains("<model>virtio</model>") || xml.contains("<Device>virtio</Device>"),
        "no virtio device\n{xml}"
    );
    assert_eq!(sb.run_dirs(), Vec::<std::path::PathBuf>::new());
    let left = wait_no_servers(
        &sb.root().to_string_lossy(),
        std::time::Duration::from_secs(10),
    );
    assert!(left.is_empty(), "servers left running: {left:?}");
}

/// Forklift's OVA line, unchanged (kubev2v/forklift
/// pkg/virt-v2v/conversion/conversion.go, `addVirtV2vArgs` with
/// `virtV2vOVAArgs`: `-v -x -o kubevirt -os WORKDIR -on NEWNAME -i ova
/// PATH`), on the test guest's OVA, stdout and stderr into one pipe as
/// Forklift feeds its monitor: the monitor sees the disk reach 100% and
/// the finishing line; the VirtualMachine YAML is named by -on with its
/// disk on virtio, the disk beside it.  One appliance run (the
/// conversions of this guest are booted elsewhere).
#[test]
fn forklift_ova_line_converts_the_test_guest() {
    let sb = Sandbox::new("forklift-ova");
    let ova = fixture_dir().join("foreign-guest.ova");
    let work = sb.path("var/tmp/v2v");
    fs::create_dir_all(&work).unwrap();
    let prog = bin("virt-v2v").to_string_lossy().into_owned();
    let (w, o) = (work.to_str().unwrap(), ova.to_str().unwrap());
    let args = [
        "-v", "-x", "-o", "kubevirt", "-os", w, "-on", "fk-ova", "-i", "ova", o,
    ];
    let r = combined(&sb, &[&prog], &args);
    let (count, seen, finished) = forklift(&r.stdout);
    assert_eq!(count, 1, "disk count\n{r}");
    assert_eq!(seen, BTreeMap::from([(1, 100)]), "progress\n{r}");
    assert!(finished, "no finishing line\n{r}");
    assert!(
        r.stdout.contains("helper-v2v-convert"),
        "no conversion ran\n{r}"
    );
    assert_no_json("virt-v2v", &r);
    let yaml = fs::read_to_string(work.join("fk-ova.yaml")).unwrap();
    let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(y["metadata"]["name"].as_str(), Some("fk-ova"), "{yaml}");
    let disks = &y["spec"]["template"]["spec"]["domain"]["devices"]["disks"];
    assert_eq!(disks[0]["disk"]["bus"].as_str(), Some("virtio"), "{yaml}");
    assert!(work.join("fk-ova-sda").is_file(), "{:?}", tree(&work));
    assert_eq!(sb.run_dirs(), Vec::<std::path::PathBuf>::new());
}
