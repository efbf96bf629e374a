//! The hostile-input corpus of issue 11 (docs/security.md): every case is
//! generated here at run time (qemu-img, gzip and this code; no binary
//! blob is committed), each in a directory of its own, with the command
//! that feeds it to a runner and the outcome we expect.
//!
//! [`write_corpus`] writes the corpus under a directory and lists the
//! cases in `cases.json` there, so that `tests/tests/hostile.rs` and
//! `scripts/hostile-compare.sh` (through the `v2v-hostile-corpus` binary)
//! run the same cases.  Arguments hold two placeholders: [`OUT`], the
//! output directory a runner makes for the case, and [`RUN_DIR`], a
//! scratch copy of the case directory (for the contract-file cases, which
//! run a helper on a temp dir of our own layout).

use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Replaced by the output directory (`-os`) a runner makes for a case.
pub const OUT: &str = "@OUT@";
/// Replaced by a scratch copy of the case directory (contract-file cases).
pub const RUN_DIR: &str = "@RUN_DIR@";

/// What a case expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Refused: this exit code, and a last stderr line holding these words
    /// (the step, the thing at fault).
    Refused(i32, Vec<String>),
    /// Accepted: exit 0, and the one target equals the guest data of this
    /// file of the case directory.
    Target(String),
}

/// Who runs a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// `virt-v2v ARGS` (ours with `--no-convert`; upstream as it is).
    VirtV2v,
    /// One of our helpers on [`RUN_DIR`]: contract files have no
    /// counterpart upstream.
    Helper(String),
}

/// One case of the corpus.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// `ova`, `ovf`, `vmx`, `disk`, `libvirtxml`, `output-name`, `contract`.
    pub group: &'static str,
    pub runner: Runner,
    pub args: Vec<String>,
    pub want: Want,
    /// Why this outcome is right (docs/security.md).
    pub why: &'static str,
}

/// A generated corpus.
pub struct Corpus {
    pub root: PathBuf,
    /// A line repeated in the host file no output may ever hold.
    pub marker_text: String,
    /// The host file (1 MiB of `marker_text`), outside every case directory.
    pub marker: PathBuf,
    /// A Unix socket path outside every case directory that cases name (a
    /// test may listen there to see that nothing connects).
    pub socket: PathBuf,
    pub cases: Vec<Case>,
}

impl Case {
    /// The case's directory in the corpus.
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join("cases").join(&self.name)
    }

    /// The arguments with the placeholders replaced.
    pub fn argv(&self, out: &Path, run_dir: &Path) -> Vec<String> {
        self.args
            .iter()
            .map(|a| {
                a.replace(OUT, &out.to_string_lossy())
                    .replace(RUN_DIR, &run_dir.to_string_lossy())
            })
            .collect()
    }

    fn to_json(&self) -> Value {
        let (expect, code, words, target) = match &self.want {
            Want::Refused(c, w) => ("refused", Some(*c), w.clone(), None),
            Want::Target(t) => ("accepted", None, Vec::new(), Some(t.clone())),
        };
        let runner = match &self.runner {
            Runner::VirtV2v => "virt-v2v".to_string(),
            Runner::Helper(h) => h.clone(),
        };
        json!({"name": self.name, "group": self.group, "runner": runner, "args": self.args,
               "expect": expect, "exit": code, "words": words, "target": target, "why": self.why})
    }
}

// ---------------------------------------------------------------- builders

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn sh(script: &str) -> Vec<u8> {
    let out = Command::new("sh")
        .args(["-c", script])
        .stderr(Stdio::inherit())
        .output()
        .expect("sh");
    assert!(out.status.success(), "{script}: {}", out.status);
    out.stdout
}

fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img");
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 1 MiB of recognisable data.
fn data(seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; 1 << 20];
    crate::Noise::new(seed).fill(&mut v);
    v
}

/// A qcow2 of 1 MiB whose backing name is `backing` (not opened).
fn qcow2_on(p: &Path, backing: &str, fmt: &str) {
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-u",
        "-F",
        fmt,
        "-b",
        backing,
        s(p),
        "1M",
    ]);
}

fn descriptor(extent: &str) -> String {
    format!(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
         createType=\"monolithicFlat\"\n\n# Extent description\nRW 2048 FLAT \"{extent}\" 0\n\n\
         # The Disk Data Base\nddb.adapterType = \"lsilogic\"\n"
    )
}

fn vmx_with(disk_line: &str) -> String {
    format!(
        ".encoding = \"UTF-8\"\nconfig.version = \"8\"\nvirtualHW.version = \"14\"\n\
         displayName = \"hostile\"\nguestOS = \"debian10-64\"\nmemSize = \"512\"\n\
         scsi0.present = \"TRUE\"\nscsi0.virtualDev = \"lsilogic\"\n\
         scsi0:0.present = \"TRUE\"\nscsi0:0.deviceType = \"scsi-hardDisk\"\n{disk_line}"
    )
}

fn vmx(disk: &str) -> String {
    vmx_with(&format!("scsi0:0.fileName = \"{disk}\"\n"))
}

/// An OVF naming one disk file `href` of `capacity` in `units`, with
/// `file_attrs` added to its `<File>`.
fn ovf(href: &str, capacity: &str, units: &str, file_attrs: &str) -> String {
    ovf_disks(&[(href, capacity, units, file_attrs)])
}

/// An OVF naming the disk files `(href, capacity, units, file_attrs)`, in order
/// (guest `hostile`: 1 vCPU, 512 MiB, no NIC).
pub fn ovf_disks(disks: &[(&str, &str, &str, &str)]) -> String {
    let mut refs = String::new();
    let mut section = String::new();
    let mut items = String::new();
    for (i, (href, cap, units, attrs)) in disks.iter().enumerate() {
        let href = xml_escape(href);
        refs.push_str(&format!(
            "<File ovf:href=\"{href}\" ovf:id=\"file{i}\" {attrs}/>\n"
        ));
        section.push_str(&format!(
            "<Disk ovf:capacity=\"{cap}\" ovf:capacityAllocationUnits=\"{units}\" \
             ovf:diskId=\"d{i}\" ovf:fileRef=\"file{i}\" \
             ovf:format=\"http://en.wikipedia.org/wiki/Byte\"/>\n"
        ));
        items.push_str(&format!(
            "<Item><rasd:AddressOnParent>{i}</rasd:AddressOnParent>\
             <rasd:HostResource>ovf:/disk/d{i}</rasd:HostResource>\
             <rasd:InstanceID>{}</rasd:InstanceID><rasd:Parent>3</rasd:Parent>\
             <rasd:ResourceType>17</rasd:ResourceType></Item>\n",
            10 + i
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
<References>
{refs}</References>
<DiskSection><Info>Disks</Info>
{section}</DiskSection>
<VirtualSystem ovf:id="hostile">
<Info>A virtual machine</Info><Name>hostile</Name>
<VirtualHardwareSection><Info>Hardware</Info>
<Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
<Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>512</rasd:VirtualQuantity></Item>
<Item><rasd:Address>0</rasd:Address><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
{items}</VirtualHardwareSection>
</VirtualSystem>
</Envelope>
"#
    )
}

fn xml_escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Tar member types.
const REG: u8 = b'0';
const HARDLINK: u8 = b'1';
const SYMLINK: u8 = b'2';
const CHARDEV: u8 = b'3';
const DIRECTORY: u8 = b'5';
const FIFO: u8 = b'6';

/// A ustar archive written by hand, so members can be anything.
#[derive(Default)]
struct Tar(Vec<u8>);

impl Tar {
    fn header(&mut self, name: &str, size: u64, typeflag: u8, link: &str) {
        let mut h = [0u8; 512];
        let n = name.as_bytes();
        h[..n.len().min(100)].copy_from_slice(&n[..n.len().min(100)]);
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = typeflag;
        let l = link.as_bytes();
        h[157..157 + l.len().min(100)].copy_from_slice(&l[..l.len().min(100)]);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|b| *b as u64).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        self.0.extend_from_slice(&h);
    }

    fn data(&mut self, d: &[u8]) {
        self.0.extend_from_slice(d);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
    }

    fn file(mut self, name: &str, d: &[u8]) -> Tar {
        self.header(name, d.len() as u64, REG, "");
        self.data(d);
        self
    }

    fn special(mut self, name: &str, typeflag: u8, link: &str) -> Tar {
        self.header(name, 0, typeflag, link);
        self
    }

    /// A pax extended header setting the next member's path.
    fn pax_path(mut self, path: &str) -> Tar {
        let rec = |len: usize| format!("{len} path={path}\n");
        let mut len = rec(0).len();
        while rec(len).len() != len {
            len = rec(len).len();
        }
        let body = rec(len);
        self.header("PaxHeaders/x", body.len() as u64, b'x', "");
        self.data(body.as_bytes());
        self
    }

    /// A GNU long name for the next member.
    fn gnu_long_name(mut self, name: &str) -> Tar {
        let mut body = name.as_bytes().to_vec();
        body.push(0);
        self.header("././@LongLink", body.len() as u64, b'L', "");
        self.data(&body);
        self
    }

    fn end(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        self.0
    }
}

/// The member list of a well-formed OVA around disk `d`: OVF, manifest,
/// disk.
fn good_ova(d: &[u8]) -> Tar {
    let o = ovf("disk.img", "1", "byte * 2^20", "");
    let mf = format!(
        "SHA256(hostile.ovf)= {}\nSHA256(disk.img)= {}\n",
        sha256_hex(o.as_bytes()),
        sha256_hex(d)
    );
    Tar::default()
        .file("hostile.ovf", o.as_bytes())
        .file("hostile.mf", mf.as_bytes())
        .file("disk.img", d)
}

/// A gzip stream of `n` × 64 MiB of zeros, made of `n` copies of one
/// member (a gzip file may hold several, inflated one after another):
/// 64 KiB on disk per 64 MiB inflated.
fn gzip_bomb(n: usize) -> Vec<u8> {
    let one = sh("head -c 67108864 /dev/zero | gzip -9 -c");
    one.repeat(n)
}

fn libvirt_xml(name: &str, disks: &str) -> String {
    format!(
        "<domain type='kvm'>\n<name>{name}</name>\n<memory unit='KiB'>524288</memory>\n\
         <vcpu>1</vcpu>\n<os><type arch='x86_64'>hvm</type></os>\n<devices>\n{disks}</devices>\n</domain>\n"
    )
}

fn file_disk(path: &str) -> String {
    format!(
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>\
         <source file='{path}'/><target dev='sda' bus='scsi'/></disk>\n"
    )
}

/// A valid `metadata.in` for one disk on socket `in1`, as text.
fn metadata_in(socket: &str) -> Value {
    json!({
        "version": 1,
        "source": {
            "name": "hostile", "origin": {"input_type": "disk", "location": ["x"]},
            "memory_bytes": 536870912u64, "vcpus": 1,
            "firmware": "bios",
            "disks": [{"index": 1, "socket": socket, "format": "raw", "size": 1048576,
                       "source": "hostile.raw"}],
            "removables": [], "nics": []
        }
    })
}

fn output_json(socket: &str) -> Value {
    json!({
        "version": 1, "output_type": "null", "name": "hostile",
        "disks": [{"index": 1, "socket": socket, "format": "raw", "size": 1048576}],
        "target_is_zero": true
    })
}

/// `v` as JSON text with `n` spaces before its closing brace: valid, and
/// as large as wanted.
fn padded(v: Value, n: usize) -> Vec<u8> {
    let mut b = v.to_string().into_bytes();
    let close = b.pop();
    b.extend(std::iter::repeat_n(b' ', n));
    b.extend(close);
    b
}

fn deep_json(n: usize) -> String {
    format!(
        "{{\"version\": 1, \"x\": {}{}}}",
        "[".repeat(n),
        "]".repeat(n)
    )
}

// ---------------------------------------------------------------- the cases

/// How a case's directory is filled.
type Make = Box<dyn Fn(&Path, &Corpus)>;

/// A description's text, made for a case directory.
type Text = Box<dyn Fn(&Path, &Corpus) -> String>;

struct Spec {
    name: &'static str,
    group: &'static str,
    /// `-i` type and the file given to it (relative to the case dir); or a
    /// helper and its arguments after the run dir.
    how: How,
    make: Make,
    want: Want,
    why: &'static str,
}

enum How {
    Input(&'static str, &'static str),
    /// `-i disk FILE -on NAME`.
    OutName(&'static str),
    Helper(&'static str),
}

fn refused(code: i32, words: &[&str]) -> Want {
    Want::Refused(code, words.iter().map(|w| w.to_string()).collect())
}

fn target(f: &str) -> Want {
    Want::Target(f.to_string())
}

fn w(p: &Path, name: &str, b: impl AsRef<[u8]>) {
    fs::write(p.join(name), b).unwrap();
}

fn spec(
    name: &'static str,
    group: &'static str,
    how: How,
    make: impl Fn(&Path, &Corpus) + 'static,
    want: Want,
    why: &'static str,
) -> Spec {
    Spec {
        name,
        group,
        how,
        make: Box::new(make),
        want,
        why,
    }
}

fn ova_specs() -> Vec<Spec> {
    use How::Input;
    let g = "ova";
    let bad_member = |name: &'static str, t: Tar, word: &'static str, why| {
        spec(
            name,
            g,
            Input("ova", "x.ova"),
            move |d, _| w(d, "x.ova", t.0.clone()),
            refused(5, &["input:", "x.ova", word]),
            why,
        )
    };
    let ovf1 = ovf("disk.img", "1", "byte * 2^20", "");
    let base = || Tar::default().file("hostile.ovf", ovf1.as_bytes());
    let d = data(21);
    vec![
        spec(
            "ova-good",
            g,
            Input("ova", "x.ova"),
            |d, _| {
                w(d, "disk.img", data(20));
                w(d, "x.ova", good_ova(&data(20)).end());
            },
            target("disk.img"),
            "a well-formed OVA with a SHA256 manifest: the baseline",
        ),
        bad_member(
            "ova-member-dotdot",
            base().file("../disk.img", &d),
            "contains '..'",
            "a member climbing out with ..",
        ),
        bad_member(
            "ova-member-absolute",
            base().file("/tmp/disk.img", &d),
            "absolute path",
            "an absolute member name",
        ),
        spec(
            "ova-member-symlink",
            g,
            Input("ova", "x.ova"),
            |d, c| {
                let t = Tar::default()
                    .file(
                        "hostile.ovf",
                        ovf("disk.img", "1", "byte * 2^20", "").as_bytes(),
                    )
                    .special("disk.img", SYMLINK, s(&c.marker));
                w(d, "x.ova", t.end())
            },
            refused(5, &["input:", "x.ova", "is a link"]),
            "a symbolic link member (to a host file)",
        ),
        spec(
            "ova-member-hardlink",
            g,
            Input("ova", "x.ova"),
            |d, c| {
                let t = Tar::default()
                    .file(
                        "hostile.ovf",
                        ovf("disk.img", "1", "byte * 2^20", "").as_bytes(),
                    )
                    .special("disk.img", HARDLINK, s(&c.marker));
                w(d, "x.ova", t.end())
            },
            refused(5, &["input:", "x.ova", "is a link"]),
            "a hard link member (to a host file)",
        ),
        bad_member(
            "ova-member-chardev",
            base().special("disk.img", CHARDEV, ""),
            "unsupported type",
            "a character device member",
        ),
        bad_member(
            "ova-member-fifo",
            base().special("disk.img", FIFO, ""),
            "unsupported type",
            "a FIFO member",
        ),
        bad_member(
            "ova-member-twice",
            base().file("disk.img", &d).file("disk.img", &data(22)),
            "appears twice",
            "two members of one name: which one is meant cannot be told",
        ),
        spec(
            "ova-truncated",
            g,
            Input("ova", "x.ova"),
            |d, _| {
                let mut v = good_ova(&data(23)).end();
                v.truncate(v.len() - 1024 - 300 * 1024);
                w(d, "x.ova", v)
            },
            refused(5, &["input:", "x.ova", "truncated"]),
            "a tar cut short in the disk's data",
        ),
        bad_member(
            "ova-size-absurd",
            {
                let mut t = base();
                t.header("disk.img", 0o77_777_777_777, REG, "");
                t.data(&d);
                t
            },
            "truncated",
            "a member claiming 8 GiB in a small file",
        ),
        bad_member(
            "ova-pax-path-dotdot",
            base().pax_path("../../disk.img").file("x", &d),
            "contains '..'",
            "a pax header renaming a member to a .. path",
        ),
        bad_member(
            "ova-gnu-longname-absolute",
            base()
                .gnu_long_name(&format!("/{}/disk.img", "a".repeat(120)))
                .file("x", &d),
            "absolute path",
            "a GNU long name that is absolute",
        ),
        spec(
            "ova-not-tar",
            g,
            Input("ova", "x.ova"),
            |d, _| w(d, "x.ova", data(24)),
            refused(5, &["input:", "x.ova", "not a tar file"]),
            "random bytes named .ova",
        ),
        spec(
            "ova-empty",
            g,
            Input("ova", "x.ova"),
            |d, _| w(d, "x.ova", b""),
            refused(3, &["input:", "x.ova", "no .ovf"]),
            "an empty file",
        ),
        bad_member(
            "ova-two-ovf",
            base()
                .file("other.ovf", ovf1.as_bytes())
                .file("disk.img", &d),
            "more than one .ovf",
            "two descriptions: which one is meant cannot be told",
        ),
        spec(
            "ova-dir-named-like-disk",
            g,
            Input("ova", "x.ova"),
            |d, _| {
                let t = Tar::default()
                    .file(
                        "hostile.ovf",
                        ovf("disk.img", "1", "byte * 2^20", "").as_bytes(),
                    )
                    .special("disk.img/", DIRECTORY, "")
                    .file("disk.img/x", &data(25));
                w(d, "x.ova", t.end())
            },
            refused(3, &["input:", "disk.img"]),
            "the disk's name is a directory in the tar",
        ),
        spec(
            "ova-manifest-mismatch",
            g,
            Input("ova", "x.ova"),
            |d, _| {
                let o = ovf("disk.img", "1", "byte * 2^20", "");
                let mf = format!("SHA256(disk.img)= {}\n", sha256_hex(b"other"));
                let t = Tar::default()
                    .file("hostile.ovf", o.as_bytes())
                    .file("hostile.mf", mf.as_bytes())
                    .file("disk.img", &data(26));
                w(d, "x.ova", t.end())
            },
            refused(3, &["input:", "manifest hostile.mf", "disk.img"]),
            "a disk whose digest is not the manifest's",
        ),
        spec(
            "ova-manifest-absent-file",
            g,
            Input("ova", "x.ova"),
            |d, _| {
                let o = ovf("disk.img", "1", "byte * 2^20", "");
                let mf = format!(
                    "SHA256(disk.img)= {}\nSHA256(gone.img)= {}\n",
                    sha256_hex(&data(27)),
                    sha256_hex(b"")
                );
                let t = Tar::default()
                    .file("hostile.ovf", o.as_bytes())
                    .file("hostile.mf", mf.as_bytes())
                    .file("disk.img", &data(27));
                w(d, "x.ova", t.end())
            },
            refused(3, &["input:", "gone.img"]),
            "a manifest listing a file the package lacks",
        ),
        spec(
            "ova-manifest-malformed",
            g,
            Input("ova", "x.ova"),
            |d, _| {
                let o = ovf("disk.img", "1", "byte * 2^20", "");
                let t = Tar::default()
                    .file("hostile.ovf", o.as_bytes())
                    .file("hostile.mf", b"this is not a manifest\n\x01\x02")
                    .file("disk.img", &data(28));
                w(d, "x.ova", t.end())
            },
            refused(3, &["input:", "manifest hostile.mf", "not understood"]),
            "a manifest that is not ALG(file)= hex lines",
        ),
        spec(
            "ova-manifest-md5",
            g,
            Input("ova", "x.ova"),
            |d, _| {
                let o = ovf("disk.img", "1", "byte * 2^20", "");
                let mf = format!("MD5(disk.img)= {}\n", &sha256_hex(b"x")[..32]);
                let t = Tar::default()
                    .file("hostile.ovf", o.as_bytes())
                    .file("hostile.mf", mf.as_bytes())
                    .file("disk.img", &data(29));
                w(d, "x.ova", t.end())
            },
            refused(3, &["input:", "manifest hostile.mf", "\"MD5\""]),
            "a digest we cannot check is not taken as checked",
        ),
        spec(
            "ova-manifest-sha1",
            g,
            Input("ova", "x.ova"),
            |d, _| {
                use sha1::Digest;
                let disk = data(30);
                let hex: String = sha1::Sha1::digest(&disk)
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect();
                let o = ovf("disk.img", "1", "byte * 2^20", "");
                let mf = format!("SHA1(disk.img)= {hex}\n");
                let t = Tar::default()
                    .file("hostile.ovf", o.as_bytes())
                    .file("hostile.mf", mf.as_bytes())
                    .file("disk.img", &disk);
                w(d, "disk.img", &disk);
                w(d, "x.ova", t.end())
            },
            target("disk.img"),
            "a right SHA1 manifest (older ovftool) is accepted",
        ),
        spec(
            "ova-gzip-bomb",
            g,
            Input("ova", "x.ova"),
            |d, _| {
                let o = ovf(
                    "disk.img.gz",
                    "1",
                    "byte * 2^20",
                    "ovf:compression=\"gzip\"",
                );
                let t = Tar::default()
                    .file("hostile.ovf", o.as_bytes())
                    .file("disk.img.gz", &gzip_bomb(64));
                w(d, "x.ova", t.end())
            },
            refused(5, &["input:", "disk.img.gz", "inflates"]),
            "a gzip member inflating to 4 GiB for a 1 MiB disk",
        ),
        spec(
            "ova-gzip-bomb-sniffed",
            g,
            Input("ova", "x.ova"),
            |d, _| {
                let o = ovf("disk.img", "1", "byte * 2^20", "");
                let t = Tar::default()
                    .file("hostile.ovf", o.as_bytes())
                    .file("disk.img", &gzip_bomb(64));
                w(d, "x.ova", t.end())
            },
            refused(5, &["input:", "disk.img", "inflates"]),
            "the same bomb without ovf:compression (found by its magic)",
        ),
        spec(
            "ova-gzip-corrupt",
            g,
            Input("ova", "x.ova"),
            |d, _| {
                let mut gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03".to_vec();
                gz.extend_from_slice(&data(31)[..4096]);
                let o = ovf("disk.img", "1", "byte * 2^20", "ovf:compression=\"gzip\"");
                let t = Tar::default()
                    .file("hostile.ovf", o.as_bytes())
                    .file("disk.img", &gz);
                w(d, "x.ova", t.end())
            },
            refused(4, &["input:", "disk.img", "gzip"]),
            "a gzip member that does not inflate",
        ),
        spec(
            "ova-qcow2-backing-host",
            g,
            Input("ova", "x.ova"),
            |d, c| {
                qcow2_on(&d.join("m.qcow2"), s(&c.marker), "raw");
                let q = fs::read(d.join("m.qcow2")).unwrap();
                fs::remove_file(d.join("m.qcow2")).unwrap();
                let o = ovf("disk.img", "1", "byte * 2^20", "");
                let t = Tar::default()
                    .file("hostile.ovf", o.as_bytes())
                    .file("disk.img", &q);
                w(d, "x.ova", t.end())
            },
            refused(5, &["input:", "disk.img", "backing file"]),
            "a qcow2 member naming a host backing file",
        ),
        spec(
            "ova-descriptor-extent-host",
            g,
            Input("ova", "x.ova"),
            |d, c| {
                let o = ovf("disk.vmdk", "1", "byte * 2^20", "");
                let t = Tar::default()
                    .file("hostile.ovf", o.as_bytes())
                    .file("disk.vmdk", descriptor(s(&c.marker)).as_bytes());
                w(d, "x.ova", t.end())
            },
            refused(
                5,
                &[
                    "input:",
                    "disk.vmdk",
                    "not a file name beside the descriptor",
                ],
            ),
            "a VMDK descriptor member whose extent is a host file",
        ),
    ]
}

fn ovf_specs() -> Vec<Spec> {
    use How::Input;
    let g = "ovf";
    // An OVA holding this OVF text and a 1 MiB disk.img.
    let ova = |name: &'static str, text: Vec<u8>, want: Want, why| {
        spec(
            name,
            g,
            Input("ova", "x.ova"),
            move |d, _| {
                let t = Tar::default()
                    .file("hostile.ovf", &text)
                    .file("disk.img", &data(40));
                w(d, "x.ova", t.end())
            },
            want,
            why,
        )
    };
    let good = ovf("disk.img", "1", "byte * 2^20", "");
    let with_body = |body: &str| good.replace("<Name>hostile</Name>", body).into_bytes();
    let utf16: Vec<u8> = {
        let t = good.replace("encoding=\"UTF-8\"", "encoding=\"UTF-16\"");
        let mut v = vec![0xff, 0xfe];
        for u in t.encode_utf16() {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v
    };
    let many_disks = vec![("disk.img", "1", "byte * 2^20", ""); 3000];
    let thousands = ovf_disks(&many_disks);
    vec![
        ova(
            "ovf-external-entity",
            good.replace(
                "<Envelope ",
                "<!DOCTYPE Envelope [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<Envelope ",
            )
            .replace("<Name>hostile</Name>", "<Name>&x;</Name>")
            .into_bytes(),
            refused(3, &["input:", "OVF hostile.ovf", "DTD"]),
            "an external entity: DTDs are never processed",
        ),
        ova(
            "ovf-entity-expansion",
            good.replace(
                "<Envelope ",
                "<!DOCTYPE Envelope [<!ENTITY a \"aaaaaaaaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]>\n<Envelope ",
            )
            .replace("<Name>hostile</Name>", "<Name>&c;</Name>")
            .into_bytes(),
            refused(3, &["input:", "OVF hostile.ovf", "DTD"]),
            "billion laughs: DTDs are never processed",
        ),
        ova(
            "ovf-deep-100k",
            with_body(&format!(
                "<Name>hostile</Name>{}{}",
                "<x>".repeat(100_000),
                "</x>".repeat(100_000)
            )),
            refused(3, &["input:", "OVF hostile.ovf", "nested more than 256 deep"]),
            "100,000 nested elements (overflowed the stack before)",
        ),
        ova(
            "ovf-huge-text",
            with_body(&format!("<Name>{}</Name>", "A".repeat(5 << 20))),
            refused(5, &["input:", "OVF hostile.ovf", "larger than 4 MiB"]),
            "a 5 MiB OVF",
        ),
        ova(
            "ovf-many-nodes",
            with_body(&format!("<Name>hostile</Name>{}", "<x/>".repeat(200_000))),
            refused(3, &["input:", "OVF hostile.ovf", "nodes"]),
            "200,000 elements in 1 MB",
        ),
        ova(
            "ovf-not-utf8",
            with_body("<Name>h\u{e9}</Name>")
                .into_iter()
                .flat_map(|b| if b == 0xc3 { vec![] } else { vec![b] })
                .collect(),
            refused(3, &["input:", "OVF hostile.ovf", "not UTF-8"]),
            "ISO-8859-1 bytes in a document declared UTF-8",
        ),
        ova(
            "ovf-utf16",
            utf16,
            refused(3, &["input:", "OVF hostile.ovf", "NUL byte"]),
            "UTF-16: no OVF tool writes it; refused rather than guessed",
        ),
        ova(
            "ovf-not-xml",
            b"this is { not xml".to_vec(),
            refused(3, &["input:", "OVF hostile.ovf"]),
            "text that is not XML",
        ),
        ova(
            "ovf-no-virtualsystem",
            good.replace("VirtualSystem", "VirtualThing").into_bytes(),
            refused(3, &["input:", "OVF hostile.ovf", "no <VirtualSystem>"]),
            "no <VirtualSystem>",
        ),
        ova(
            "ovf-href-dotdot",
            ovf("../../etc/passwd", "1", "byte * 2^20", "").into_bytes(),
            refused(5, &["input:", "\"../../etc/passwd\"", "'..'"]),
            "a disk href climbing out",
        ),
        ova(
            "ovf-href-absolute",
            ovf("/etc/passwd", "1", "byte * 2^20", "").into_bytes(),
            refused(5, &["input:", "\"/etc/passwd\"", "absolute path"]),
            "a disk href that is a host path",
        ),
        ova(
            "ovf-href-url",
            ovf("http://127.0.0.1:9/disk.img", "1", "byte * 2^20", "").into_bytes(),
            refused(3, &["input:", "http://127.0.0.1:9/disk.img"]),
            "a disk href that is a URL: never fetched, no such member",
        ),
        ova(
            "ovf-capacity-absurd",
            ovf("disk.img", "18446744073709551615", "byte * 2^30", "").into_bytes(),
            refused(3, &["input:", "capacity"]),
            "a capacity beyond 2^64 bytes",
        ),
        ova(
            "ovf-capacity-negative",
            ovf("disk.img", "-1", "byte * 2^20", "").into_bytes(),
            refused(3, &["input:", "capacity"]),
            "a negative capacity",
        ),
        ova(
            "ovf-units-unknown",
            ovf("disk.img", "1", "hertz * 10^6", "").into_bytes(),
            refused(3, &["input:", "unit \"hertz * 10^6\" unknown"]),
            "a capacity in unknown units",
        ),
        ova(
            "ovf-thousands-of-disks",
            thousands.into_bytes(),
            refused(5, &["input:", "has 3000 disks"]),
            "3000 disks",
        ),
        spec(
            "ovf-dir-href-dotdot",
            g,
            Input("ova", "pkg"),
            |d, _| {
                fs::create_dir(d.join("pkg")).unwrap();
                w(
                    &d.join("pkg"),
                    "hostile.ovf",
                    ovf("../../host/marker", "1", "byte * 2^20", ""),
                );
            },
            refused(5, &["input:", "\"../../host/marker\"", "'..'"]),
            "an OVF directory whose href climbs out",
        ),
        spec(
            "ovf-dir-disk-symlink-out",
            g,
            Input("ova", "pkg"),
            |d, c| {
                fs::create_dir(d.join("pkg")).unwrap();
                w(
                    &d.join("pkg"),
                    "hostile.ovf",
                    ovf("disk.img", "1", "byte * 2^20", ""),
                );
                symlink(&c.marker, d.join("pkg/disk.img")).unwrap();
            },
            refused(5, &["input:", "disk.img", "not a regular file"]),
            "an OVF directory whose disk is a symlink to a host file",
        ),
    ]
}

fn vmx_specs() -> Vec<Spec> {
    use How::Input;
    let g = "vmx";
    let one = |name: &'static str, text: Vec<u8>, want: Want, why| {
        spec(
            name,
            g,
            Input("vmx", "g.vmx"),
            move |d, _| {
                w(d, "g-flat.vmdk", data(50));
                w(d, "g.vmdk", descriptor("g-flat.vmdk"));
                w(d, "g.vmx", &text);
            },
            want,
            why,
        )
    };
    let mut dup = vmx("g.vmdk");
    dup.push_str("scsi0:0.fileName = \"other.vmdk\"\n");
    vec![
        spec(
            "vmx-extent-beside",
            g,
            Input("vmx", "g.vmx"),
            |d, _| {
                w(d, "g-flat.vmdk", data(13));
                w(d, "g.vmdk", descriptor("g-flat.vmdk"));
                w(d, "g.vmx", vmx("g.vmdk"));
            },
            target("g-flat.vmdk"),
            "the baseline: a .vmx, its descriptor and flat extent side by side",
        ),
        spec(
            "vmx-extent-host-file",
            g,
            Input("vmx", "g.vmx"),
            |d, c| {
                w(d, "g.vmdk", descriptor(s(&c.marker)));
                w(d, "g.vmx", vmx("g.vmdk"));
            },
            refused(
                5,
                &["input:", "g.vmdk", "extent ‘/", "beside the descriptor"],
            ),
            "a descriptor whose extent is a host file",
        ),
        spec(
            "vmx-extent-symlink-out",
            g,
            Input("vmx", "g.vmx"),
            |d, c| {
                symlink(&c.marker, d.join("g-flat.vmdk")).unwrap();
                w(d, "g.vmdk", descriptor("g-flat.vmdk"));
                w(d, "g.vmx", vmx("g.vmdk"));
            },
            refused(5, &["input:", "g.vmdk", "extent ‘g-flat.vmdk’", "outside"]),
            "an extent beside the descriptor that is a symlink out",
        ),
        spec(
            "vmx-disk-dotdot",
            g,
            Input("vmx", "vm/g.vmx"),
            |d, _| {
                fs::create_dir(d.join("vm")).unwrap();
                w(d, "g-flat.vmdk", data(51));
                w(d, "g.vmdk", descriptor("g-flat.vmdk"));
                w(&d.join("vm"), "g.vmx", vmx("../g.vmdk"));
            },
            refused(
                5,
                &["input:", "‘../g.vmdk’", "outside the image's directory"],
            ),
            "a disk path climbing out of the .vmx's directory",
        ),
        spec(
            "vmx-disk-absolute-host",
            g,
            Input("vmx", "vm/g.vmx"),
            |d, _| {
                fs::create_dir(d.join("vm")).unwrap();
                w(d, "g-flat.vmdk", data(52));
                w(d, "g.vmdk", descriptor("g-flat.vmdk"));
                let abs = d.join("g.vmdk");
                w(&d.join("vm"), "g.vmx", vmx(s(&abs)));
            },
            refused(5, &["input:", "g.vmdk’", "outside the image's directory"]),
            "an absolute disk path to a file outside the .vmx's directory",
        ),
        spec(
            "vmx-disk-datastore-path",
            g,
            Input("vmx", "g.vmx"),
            |d, _| {
                w(d, "g-flat.vmdk", data(53));
                w(d, "g.vmdk", descriptor("g-flat.vmdk"));
                w(d, "g.vmx", vmx("/vmfs/volumes/datastore1/g/g.vmdk"));
            },
            target("g-flat.vmdk"),
            "an ESXi datastore path: its base name beside the .vmx is used",
        ),
        spec(
            "vmx-disk-datastore-absent",
            g,
            Input("vmx", "g.vmx"),
            |d, _| w(d, "g.vmx", vmx("/vmfs/volumes/datastore1/g/gone.vmdk")),
            refused(3, &["input:", "gone.vmdk"]),
            "an ESXi datastore path whose file is not beside the .vmx",
        ),
        spec(
            "vmx-disk-symlink-out",
            g,
            Input("vmx", "vm/g.vmx"),
            |d, _| {
                fs::create_dir(d.join("vm")).unwrap();
                w(d, "g-flat.vmdk", data(54));
                w(d, "g.vmdk", descriptor("g-flat.vmdk"));
                symlink(d.join("g.vmdk"), d.join("vm/g.vmdk")).unwrap();
                w(&d.join("vm"), "g.vmx", vmx("g.vmdk"));
            },
            refused(5, &["input:", "‘g.vmdk’", "outside the image's directory"]),
            "a disk beside the .vmx that is a symlink out of its directory",
        ),
        one(
            "vmx-shell-metachars",
            vmx("$(touch pwned)`touch pwned`;touch pwned|.vmdk").into_bytes(),
            refused(3, &["input:", "$(touch pwned)"]),
            "shell metacharacters in a disk name: a name, never run",
        ),
        one(
            "vmx-nul-bytes",
            vmx("g.vmdk\0../../etc/passwd").into_bytes(),
            refused(3, &["input:", "g.vmx", "NUL byte"]),
            "a NUL byte in the .vmx",
        ),
        one(
            "vmx-10mb-line",
            format!(
                "{}displayName = \"{}\"\n",
                vmx("g.vmdk"),
                "x".repeat(10 << 20)
            )
            .into_bytes(),
            refused(5, &["input:", "g.vmx", "larger than 4 MiB"]),
            "a 10 MB line",
        ),
        one(
            "vmx-duplicate-keys",
            dup.into_bytes(),
            refused(3, &["input:", "g.vmx", "scsi0:0.filename", "twice"]),
            "a key given twice with different values: which is meant cannot be told",
        ),
        one(
            "vmx-binary-garbage",
            data(55),
            refused(3, &["input:", "g.vmx"]),
            "random bytes named .vmx",
        ),
        one(
            "vmx-no-disks",
            b"displayName = \"x\"\n".to_vec(),
            refused(5, &["input:", "the source has no disks"]),
            "a .vmx with no disk",
        ),
    ]
}

fn disk_specs() -> Vec<Spec> {
    use How::Input;
    let g = "disk";
    vec![
        spec(
            "disk-backing-host-file",
            g,
            Input("disk", "a.qcow2"),
            |d, c| qcow2_on(&d.join("a.qcow2"), s(&c.marker), "raw"),
            refused(
                5,
                &[
                    "input:",
                    "a.qcow2",
                    "backing file ‘/",
                    "outside the image's directory",
                ],
            ),
            "a qcow2 whose backing file is a host file",
        ),
        spec(
            "disk-backing-dotdot",
            g,
            Input("disk", "a.qcow2"),
            |d, _| qcow2_on(&d.join("a.qcow2"), "../../host/marker", "raw"),
            refused(5, &["input:", "a.qcow2", "‘../../host/marker’", "outside"]),
            "a qcow2 whose backing file climbs out",
        ),
        spec(
            "disk-json-backing-host-file",
            g,
            Input("disk", "a.qcow2"),
            |d, c| {
                let j = format!(
                    r#"json:{{"driver":"raw","file":{{"driver":"file","filename":"{}"}}}}"#,
                    s(&c.marker)
                );
                qcow2_on(&d.join("a.qcow2"), &j, "raw")
            },
            refused(
                5,
                &["input:", "a.qcow2", "backing file ‘json:{", "protocol name"],
            ),
            "a json: backing name on a host file",
        ),
        spec(
            "disk-json-backing-nbd-socket",
            g,
            Input("disk", "a.qcow2"),
            |d, c| {
                let j = format!(
                    r#"json:{{"driver":"raw","file":{{"driver":"nbd","server":{{"type":"unix","path":"{}"}}}}}}"#,
                    s(&c.socket)
                );
                qcow2_on(&d.join("a.qcow2"), &j, "raw")
            },
            refused(
                5,
                &["input:", "a.qcow2", "backing file ‘json:{", "protocol name"],
            ),
            "a json: backing name on an NBD socket",
        ),
        spec(
            "disk-nbd-uri-backing",
            g,
            Input("disk", "a.qcow2"),
            |d, c| {
                let uri = format!("nbd+unix:///?socket={}", s(&c.socket));
                qcow2_on(&d.join("a.qcow2"), &uri, "raw")
            },
            refused(
                5,
                &[
                    "input:",
                    "a.qcow2",
                    "‘nbd+unix:///?socket=",
                    "protocol name",
                ],
            ),
            "an nbd+unix:// backing name",
        ),
        spec(
            "disk-data-file-host-file",
            g,
            Input("disk", "d.qcow2"),
            |d, c| {
                // qemu-img creates the data file: let it make a scratch
                // one outside, then the name points beside the marker.
                let data = c.marker.with_file_name(format!(
                    "data-{}.raw",
                    d.file_name().unwrap().to_string_lossy()
                ));
                let o = format!("data_file={},data_file_raw=on", s(&data));
                qemu_img(&[
                    "create",
                    "-q",
                    "-f",
                    "qcow2",
                    "-o",
                    &o,
                    s(&d.join("d.qcow2")),
                    "1M",
                ]);
                fs::copy(&c.marker, &data).unwrap();
            },
            refused(
                5,
                &["input:", "d.qcow2", "external data file ‘/", "outside"],
            ),
            "a qcow2 whose external data file is a host file",
        ),
        spec(
            "disk-vmdk-extent-host-file",
            g,
            Input("disk", "e.vmdk"),
            |d, c| w(d, "e.vmdk", descriptor(s(&c.marker))),
            refused(
                5,
                &["input:", "e.vmdk", "extent ‘/", "beside the descriptor"],
            ),
            "a VMDK descriptor whose extent is a host file",
        ),
        spec(
            "disk-vmdk-extent-dotdot",
            g,
            Input("disk", "e.vmdk"),
            |d, _| w(d, "e.vmdk", descriptor("../../etc/shadow")),
            refused(5, &["input:", "e.vmdk", "extent ‘../../etc/shadow’"]),
            "a VMDK descriptor whose extent is ../../etc/shadow",
        ),
        spec(
            "disk-vmdk-extent-symlink-out",
            g,
            Input("disk", "e.vmdk"),
            |d, c| {
                symlink(&c.marker, d.join("e-flat.vmdk")).unwrap();
                w(d, "e.vmdk", descriptor("e-flat.vmdk"));
            },
            refused(5, &["input:", "e.vmdk", "extent ‘e-flat.vmdk’", "outside"]),
            "an extent beside the descriptor that is a symlink out",
        ),
        spec(
            "disk-vmdk-parent-hint",
            g,
            Input("disk", "e.vmdk"),
            |d, c| {
                w(d, "e-flat.vmdk", data(60));
                let t = descriptor("e-flat.vmdk").replace(
                    "parentCID=ffffffff",
                    &format!(
                        "parentCID=12345678\nparentFileNameHint=\"{}\"",
                        s(&c.marker)
                    ),
                );
                w(d, "e.vmdk", t);
            },
            refused(5, &["input:", "e.vmdk", "parent"]),
            "a VMDK whose parent is a host file",
        ),
        spec(
            "disk-backing-loop",
            g,
            Input("disk", "a.qcow2"),
            |d, _| {
                qcow2_on(&d.join("b.qcow2"), "a.qcow2", "qcow2");
                qcow2_on(&d.join("a.qcow2"), "b.qcow2", "qcow2");
            },
            refused(
                5,
                &[
                    "input:",
                    "a.qcow2",
                    "backing image",
                    "b.qcow2",
                    "loops back",
                ],
            ),
            "a backing chain that loops",
        ),
        spec(
            "disk-backing-symlink-out",
            g,
            Input("disk", "a.qcow2"),
            |d, c| {
                symlink(&c.marker, d.join("base.raw")).unwrap();
                qcow2_on(&d.join("a.qcow2"), "base.raw", "raw");
            },
            refused(
                5,
                &["input:", "a.qcow2", "backing file ‘base.raw’", "outside"],
            ),
            "a backing file beside the image that is a symlink out",
        ),
        spec(
            "disk-backing-beside",
            g,
            Input("disk", "top.qcow2"),
            |d, _| {
                w(d, "base.raw", data(11));
                let top = d.join("top.qcow2");
                qemu_img(&[
                    "create",
                    "-q",
                    "-f",
                    "qcow2",
                    "-F",
                    "raw",
                    "-b",
                    "base.raw",
                    s(&top),
                ]);
                let out = Command::new("qemu-io")
                    .args(["-f", "qcow2", "-c", "write -P 0x5a 65536 65536", s(&top)])
                    .output()
                    .unwrap();
                assert!(out.status.success());
            },
            target("top.qcow2"),
            "a backing file beside the image is followed",
        ),
        spec(
            "disk-vmdk-extent-beside",
            g,
            Input("disk", "g.vmdk"),
            |d, _| {
                w(d, "g-flat.vmdk", data(12));
                w(d, "g.vmdk", descriptor("g-flat.vmdk"));
            },
            target("g-flat.vmdk"),
            "a VMDK extent beside the descriptor is followed",
        ),
        spec(
            "disk-qcow2-truncated",
            g,
            Input("disk", "t.qcow2"),
            |d, _| {
                let p = d.join("t.qcow2");
                qemu_img(&["create", "-q", "-f", "qcow2", s(&p), "8M"]);
                let out = Command::new("qemu-io")
                    .args(["-f", "qcow2", "-c", "write -P 0x33 0 4M", s(&p)])
                    .output()
                    .unwrap();
                assert!(out.status.success());
                let len = fs::metadata(&p).unwrap().len();
                fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            },
            refused(5, &["input:", "t.qcow2", "truncated"]),
            "a qcow2 cut in half: refused at the input step",
        ),
        spec(
            "disk-qcow2-huge-virtual",
            g,
            Input("disk", "h.qcow2"),
            |d, _| qemu_img(&["create", "-q", "-f", "qcow2", s(&d.join("h.qcow2")), "4T"]),
            target("h.qcow2"),
            "a 4 TiB sparse qcow2: copied sparse, nothing but zeroes",
        ),
        spec(
            "disk-fifo",
            g,
            Input("disk", "f.img"),
            |d, _| {
                nix::unistd::mkfifo(
                    &d.join("f.img"),
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                )
                .unwrap()
            },
            refused(5, &["input:", "f.img", "not a regular file"]),
            "a FIFO as the disk: never opened for reading",
        ),
        spec(
            "disk-garbage",
            g,
            Input("disk", "g.img"),
            |d, _| w(d, "g.img", b"#!/bin/sh\nrm -rf /\n"),
            refused(5, &["input:", "g.img"]),
            "a few bytes of text: not a disk",
        ),
    ]
}

fn libvirtxml_specs() -> Vec<Spec> {
    use How::Input;
    let g = "libvirtxml";
    let lx = |name: &'static str, text: Text, want: Want, why| {
        spec(
            name,
            g,
            Input("libvirtxml", "g.xml"),
            move |d, c| {
                w(d, "disk.raw", data(70));
                w(d, "g.xml", text(d, c));
            },
            want,
            why,
        )
    };
    let with_name = |n: &'static str| -> Text {
        Box::new(move |d, _| libvirt_xml(n, &file_disk(s(&d.join("disk.raw")))))
    };
    vec![
        lx(
            "lx-good",
            with_name("hostile"),
            target("disk.raw"),
            "the baseline: a file disk",
        ),
        lx(
            "lx-not-xml",
            Box::new(|_, _| "{\"domain\": 1}".into()),
            refused(3, &["input:", "g.xml"]),
            "JSON, not XML",
        ),
        lx(
            "lx-external-entity",
            Box::new(|d, _| {
                format!(
                    "<!DOCTYPE domain [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n{}",
                    libvirt_xml("&x;", &file_disk(s(&d.join("disk.raw"))))
                )
            }),
            refused(3, &["input:", "g.xml", "DTD"]),
            "an external entity in the name",
        ),
        lx(
            "lx-entity-expansion",
            Box::new(|d, _| {
                format!(
                    "<!DOCTYPE domain [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">]>\n{}",
                    libvirt_xml("&b;", &file_disk(s(&d.join("disk.raw"))))
                )
            }),
            refused(3, &["input:", "g.xml", "DTD"]),
            "entity expansion",
        ),
        lx(
            "lx-deep",
            Box::new(|d, _| {
                libvirt_xml("hostile", &file_disk(s(&d.join("disk.raw")))).replace(
                    "<vcpu>",
                    &format!("{}{}<vcpu>", "<x>".repeat(50_000), "</x>".repeat(50_000)),
                )
            }),
            refused(3, &["input:", "g.xml", "nested more than 256 deep"]),
            "50,000 nested elements",
        ),
        lx(
            "lx-network-nbd-closed",
            Box::new(|_, _| {
                libvirt_xml(
                    "hostile",
                    "<disk type='network' device='disk'><driver name='qemu' type='raw'/>\
                     <source protocol='nbd'><host name='127.0.0.1' port='9'/></source>\
                     <target dev='sda' bus='scsi'/></disk>\n",
                )
            }),
            refused(4, &["input:", "disk 1", "nbd"]),
            "an NBD network disk whose server refuses: bounded, exit 4",
        ),
        lx(
            "lx-network-http",
            Box::new(|_, _| {
                libvirt_xml(
                    "hostile",
                    "<disk type='network' device='disk'><driver name='qemu' type='raw'/>\
                     <source protocol='http' name='/disk.img'><host name='127.0.0.1' port='9'/></source>\
                     <target dev='sda' bus='scsi'/></disk>\n",
                )
            }),
            refused(3, &["input:", "g.xml", "protocol 'http' are not supported"]),
            "an http network disk: never fetched",
        ),
        lx(
            "lx-block-dev-zero",
            Box::new(|_, _| {
                libvirt_xml(
                    "hostile",
                    "<disk type='block' device='disk'><driver name='qemu' type='raw'/>\
                     <source dev='/dev/zero'/><target dev='sda' bus='scsi'/></disk>\n",
                )
            }),
            refused(5, &["input:", "/dev/zero"]),
            "a host character device as a block disk",
        ),
        lx(
            "lx-name-slash",
            with_name("../../escape"),
            refused(
                2,
                &["output-setup:", "guest name \"../../escape\"", "file name"],
            ),
            "a guest name with / and ..: it names output files",
        ),
        lx(
            "lx-name-newline",
            with_name("a\nb"),
            refused(2, &["output-setup:", "guest name \"a\\nb\"", "file name"]),
            "a guest name with a newline",
        ),
        lx(
            "lx-name-dotdot",
            with_name(".."),
            refused(2, &["output-setup:", "guest name \"..\"", "file name"]),
            "a guest name that is ..",
        ),
    ]
}

fn out_name_specs() -> Vec<Spec> {
    let g = "output-name";
    let on = |name: &'static str, n: &'static str, why| {
        spec(
            name,
            g,
            How::OutName(n),
            |d, _| w(d, "disk.raw", data(80)),
            refused(2, &["output-setup: -on", "cannot be used as a file name"]),
            why,
        )
    };
    vec![
        on("on-dotdot", "../escape", "-on climbing out of -os"),
        on("on-absolute", "/tmp/escape", "an absolute -on"),
        on("on-slash", "a/b", "-on with a /"),
        on("on-newline", "a\nb", "-on with a newline"),
        on("on-dot", ".", "-on ."),
        on("on-empty", "", "an empty -on"),
    ]
}

fn contract_specs() -> Vec<Spec> {
    let g = "contract";
    let meta = |name: &'static str, mk: Make, words: &'static [&'static str], why| Spec {
        name,
        group: g,
        how: How::Helper("helper-v2v-copy"),
        make: Box::new(move |d: &Path, c: &Corpus| {
            w(d, "output.json", output_json("out1").to_string());
            mk(d, c)
        }),
        want: refused(3, words),
        why,
    };
    let outj = |name: &'static str, mk: Make, words: &'static [&'static str], why| Spec {
        name,
        group: g,
        how: How::Helper("helper-v2v-copy"),
        make: Box::new(move |d: &Path, c: &Corpus| {
            w(d, "metadata.in", metadata_in("in1").to_string());
            mk(d, c)
        }),
        want: refused(3, words),
        why,
    };
    vec![
        meta(
            "meta-huge",
            Box::new(|d, _| w(d, "metadata.in", padded(metadata_in("in1"), 17 << 20))),
            &["metadata.in", "larger than"],
            "a 17 MiB metadata.in",
        ),
        meta(
            "meta-deep",
            Box::new(|d, _| w(d, "metadata.in", deep_json(100_000))),
            &["metadata.in", "recursion limit"],
            "arrays nested 100,000 deep",
        ),
        meta(
            "meta-wrong-types",
            Box::new(|d, _| {
                let mut v = metadata_in("in1");
                v["source"]["disks"][0]["size"] = json!("big");
                v["source"]["vcpus"] = json!(-1);
                w(d, "metadata.in", v.to_string())
            }),
            &["metadata.in", "invalid type"],
            "a string where a number goes",
        ),
        meta(
            "meta-symlink-host",
            Box::new(|d, c| symlink(&c.marker, d.join("metadata.in")).unwrap()),
            &["metadata.in", "not a regular file"],
            "metadata.in a symlink to a host file",
        ),
        meta(
            "meta-symlink-dev-zero",
            Box::new(|d, _| symlink("/dev/zero", d.join("metadata.in")).unwrap()),
            &["metadata.in", "not a regular file"],
            "metadata.in a symlink to /dev/zero (endless)",
        ),
        meta(
            "meta-fifo",
            Box::new(|d, _| {
                nix::unistd::mkfifo(
                    &d.join("metadata.in"),
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                )
                .unwrap()
            }),
            &["metadata.in", "not a regular file"],
            "metadata.in a FIFO nobody writes",
        ),
        meta(
            "meta-socket-outside",
            Box::new(|d, c| w(d, "metadata.in", metadata_in(s(&c.socket)).to_string())),
            &["metadata.in", "source.disks[0].socket"],
            "a source socket outside the directory",
        ),
        meta(
            "meta-socket-dotdot",
            Box::new(|d, _| w(d, "metadata.in", metadata_in("../in1").to_string())),
            &["metadata.in", "source.disks[0].socket", "../in1"],
            "a source socket climbing out",
        ),
        outj(
            "outjson-huge",
            Box::new(|d, _| w(d, "output.json", padded(output_json("out1"), 17 << 20))),
            &["output.json", "larger than"],
            "a 17 MiB output.json",
        ),
        outj(
            "outjson-deep",
            Box::new(|d, _| w(d, "output.json", deep_json(100_000))),
            &["output.json", "recursion limit"],
            "objects nested 100,000 deep",
        ),
        outj(
            "outjson-wrong-types",
            Box::new(|d, _| {
                let mut v = output_json("out1");
                v["disks"] = json!({"a": 1});
                w(d, "output.json", v.to_string())
            }),
            &["output.json", "invalid type"],
            "an object where a list goes",
        ),
        outj(
            "outjson-symlink",
            Box::new(|d, c| symlink(&c.marker, d.join("output.json")).unwrap()),
            &["output.json", "not a regular file"],
            "output.json a symlink to a host file",
        ),
        outj(
            "outjson-socket-outside",
            Box::new(|d, c| w(d, "output.json", output_json(s(&c.socket)).to_string())),
            &["output.json", "disks[0].socket"],
            "a target socket outside the directory",
        ),
    ]
}

/// Write the corpus under `root` (which must be empty or absent) and
/// `root/cases.json`; needs qemu-img, qemu-io and gzip.
pub fn write_corpus(root: &Path) -> Corpus {
    fs::create_dir_all(root.join("host")).unwrap();
    fs::create_dir_all(root.join("cases")).unwrap();
    let root = fs::canonicalize(root).unwrap();
    let marker = root.join("host/marker");
    let marker_text = format!(
        "V2V-HOSTILE-MARKER-{}-{}\n",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut m = marker_text.repeat((1 << 20) / marker_text.len() + 1);
    m.truncate(1 << 20);
    fs::write(&marker, m).unwrap();
    let mut corpus = Corpus {
        socket: root.join("host/nbd.sock"),
        root: root.clone(),
        marker,
        marker_text,
        cases: Vec::new(),
    };
    let specs = [
        ova_specs(),
        ovf_specs(),
        vmx_specs(),
        disk_specs(),
        libvirtxml_specs(),
        out_name_specs(),
        contract_specs(),
    ];
    let mut cases = Vec::new();
    for sp in specs.into_iter().flatten() {
        let dir = root.join("cases").join(sp.name);
        fs::create_dir_all(&dir).unwrap();
        (sp.make)(&dir, &corpus);
        let (runner, args) = match sp.how {
            How::Input(t, f) => (
                Runner::VirtV2v,
                vec![
                    "-i".into(),
                    t.into(),
                    s(&dir.join(f)).into(),
                    "-o".into(),
                    "local".into(),
                    "-os".into(),
                    OUT.into(),
                ],
            ),
            How::OutName(n) => (
                Runner::VirtV2v,
                vec![
                    "-i".into(),
                    "disk".into(),
                    s(&dir.join("disk.raw")).into(),
                    "-o".into(),
                    "local".into(),
                    "-os".into(),
                    OUT.into(),
                    "-on".into(),
                    n.into(),
                ],
            ),
            How::Helper(h) => (Runner::Helper(h.into()), vec![RUN_DIR.into()]),
        };
        cases.push(Case {
            name: sp.name.into(),
            group: sp.group,
            runner,
            args,
            want: sp.want,
            why: sp.why,
        });
    }
    let list: Vec<Value> = cases.iter().map(Case::to_json).collect();
    let doc = json!({"marker": s(&corpus.marker), "marker_text": corpus.marker_text.trim_end(),
                     "socket": s(&corpus.socket), "cases": list});
    fs::write(
        root.join("cases.json"),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
    corpus.cases = cases;
    corpus
}

/// Where a case's directory is.
pub fn case_dir(root: &Path, name: &str) -> PathBuf {
    root.join("cases").join(name)
}
