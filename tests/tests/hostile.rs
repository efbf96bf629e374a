//! Disk images that point at host files (docs/security.md): a qcow2 whose
//! backing file, `json:` backing name or external data file is a host
//! file, a VMDK whose extent is one, a `json:` backing on an NBD socket, a
//! backing loop, a symlink beside the image leading out: each refused by
//! `virt-v2v --no-convert` within 15 s with one error line naming the image
//! and the reference, no byte of the host file in any output, nothing left
//! running, every source file unchanged.  Legitimate references (a backing
//! file, a VMDK extent beside the image) are followed: the target holds the
//! full guest data.  The images are made by qemu-img at run time.

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use v2v_tests::*;

/// Every case must be decided within this.
const LIMIT: Duration = Duration::from_secs(15);

/// What a case expects.
enum Want {
    /// Refused with this exit code, the last line naming these.
    Refused(i32, &'static [&'static str]),
    /// Accepted; the target equals this image's guest data.
    Accepted(&'static str),
}

/// One case: a directory of its own holding the image(s), made by `make`.
struct Case {
    name: &'static str,
    /// `-i` type, and the file given to it (inside the case directory).
    input: (&'static str, &'static str),
    make: fn(&Path, &Host),
    want: Want,
}

/// The host file an image must never leak, and an NBD socket nothing may
/// connect to, both outside every image directory.
struct Host {
    marker: PathBuf,
    text: String,
    socket: PathBuf,
}

fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A raw disk of 1 MiB with recognisable data.
fn data_disk(p: &Path, seed: u64) {
    fs::File::create(p).unwrap();
    write_noise(p, 0, 1 << 20, seed);
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

fn vmx(disk: &str) -> String {
    format!(
        ".encoding = \"UTF-8\"\nconfig.version = \"8\"\nvirtualHW.version = \"14\"\n\
         displayName = \"hostile\"\nguestOS = \"debian10-64\"\nmemSize = \"512\"\n\
         scsi0.present = \"TRUE\"\nscsi0.virtualDev = \"lsilogic\"\n\
         scsi0:0.present = \"TRUE\"\nscsi0:0.deviceType = \"scsi-hardDisk\"\n\
         scsi0:0.fileName = \"{disk}\"\n"
    )
}

const CASES: &[Case] = &[
    Case {
        name: "backing-host-file",
        input: ("disk", "a.qcow2"),
        make: |d, h| qcow2_on(&d.join("a.qcow2"), s(&h.marker), "raw"),
        want: Want::Refused(
            5,
            &[
                "a.qcow2",
                "backing file ‘/",
                "outside the image's directory",
            ],
        ),
    },
    Case {
        name: "backing-dotdot",
        input: ("disk", "a.qcow2"),
        make: |d, _| qcow2_on(&d.join("a.qcow2"), "../host/marker", "raw"),
        want: Want::Refused(5, &["a.qcow2", "‘../host/marker’", "outside"]),
    },
    Case {
        name: "json-backing-host-file",
        input: ("disk", "a.qcow2"),
        make: |d, h| {
            let j = format!(
                r#"json:{{"driver":"raw","file":{{"driver":"file","filename":"{}"}}}}"#,
                s(&h.marker)
            );
            qcow2_on(&d.join("a.qcow2"), &j, "raw")
        },
        want: Want::Refused(5, &["a.qcow2", "backing file ‘json:{", "protocol name"]),
    },
    Case {
        name: "json-backing-nbd-socket",
        input: ("disk", "a.qcow2"),
        make: |d, h| {
            let j = format!(
                r#"json:{{"driver":"raw","file":{{"driver":"nbd","server":{{"type":"unix","path":"{}"}}}}}}"#,
                s(&h.socket)
            );
            qcow2_on(&d.join("a.qcow2"), &j, "raw")
        },
        want: Want::Refused(5, &["a.qcow2", "backing file ‘json:{", "protocol name"]),
    },
    Case {
        name: "nbd-uri-backing",
        input: ("disk", "a.qcow2"),
        make: |d, h| {
            let uri = format!("nbd+unix:///?socket={}", s(&h.socket));
            qcow2_on(&d.join("a.qcow2"), &uri, "raw")
        },
        want: Want::Refused(5, &["a.qcow2", "‘nbd+unix:///?socket=", "protocol name"]),
    },
    Case {
        name: "data-file-host-file",
        input: ("disk", "d.qcow2"),
        make: |d, h| {
            // qemu-img creates the data file: let it make a scratch one
            // outside, then point the name at the marker's directory.
            let data = h.marker.with_file_name("data.raw");
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
            fs::copy(&h.marker, &data).unwrap();
        },
        want: Want::Refused(5, &["d.qcow2", "external data file ‘/", "outside"]),
    },
    Case {
        name: "vmdk-extent-host-file",
        input: ("disk", "e.vmdk"),
        make: |d, h| fs::write(d.join("e.vmdk"), descriptor(s(&h.marker))).unwrap(),
        want: Want::Refused(5, &["e.vmdk", "extent ‘/", "beside the descriptor"]),
    },
    Case {
        name: "vmdk-extent-dotdot",
        input: ("disk", "e.vmdk"),
        make: |d, _| fs::write(d.join("e.vmdk"), descriptor("../host/marker")).unwrap(),
        want: Want::Refused(5, &["e.vmdk", "extent ‘../host/marker’"]),
    },
    Case {
        name: "vmdk-extent-symlink-out",
        input: ("disk", "e.vmdk"),
        make: |d, h| {
            std::os::unix::fs::symlink(&h.marker, d.join("e-flat.vmdk")).unwrap();
            fs::write(d.join("e.vmdk"), descriptor("e-flat.vmdk")).unwrap();
        },
        want: Want::Refused(5, &["e.vmdk", "extent ‘e-flat.vmdk’", "outside"]),
    },
    Case {
        name: "backing-loop",
        input: ("disk", "a.qcow2"),
        make: |d, _| {
            qcow2_on(&d.join("b.qcow2"), "a.qcow2", "qcow2");
            qcow2_on(&d.join("a.qcow2"), "b.qcow2", "qcow2");
        },
        want: Want::Refused(5, &["a.qcow2", "backing image", "b.qcow2", "loops back"]),
    },
    Case {
        name: "backing-symlink-out",
        input: ("disk", "a.qcow2"),
        make: |d, h| {
            std::os::unix::fs::symlink(&h.marker, d.join("base.raw")).unwrap();
            qcow2_on(&d.join("a.qcow2"), "base.raw", "raw");
        },
        want: Want::Refused(5, &["a.qcow2", "backing file ‘base.raw’", "outside"]),
    },
    Case {
        name: "backing-beside",
        input: ("disk", "top.qcow2"),
        make: |d, _| {
            data_disk(&d.join("base.raw"), 11);
            qemu_img(&[
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                "raw",
                "-b",
                "base.raw",
                s(&d.join("top.qcow2")),
            ]);
            let top = d.join("top.qcow2");
            let w = ["-f", "qcow2", "-c", "write -P 0x5a 65536 65536", s(&top)];
            assert!(Command::new("qemu-io")
                .args(w)
                .output()
                .unwrap()
                .status
                .success());
        },
        want: Want::Accepted("top.qcow2"),
    },
    Case {
        name: "vmdk-extent-beside",
        input: ("disk", "g.vmdk"),
        make: |d, _| {
            data_disk(&d.join("g-flat.vmdk"), 12);
            fs::write(d.join("g.vmdk"), descriptor("g-flat.vmdk")).unwrap();
        },
        want: Want::Accepted("g-flat.vmdk"),
    },
    Case {
        name: "vmx-extent-beside",
        input: ("vmx", "g.vmx"),
        make: |d, _| {
            data_disk(&d.join("g-flat.vmdk"), 13);
            fs::write(d.join("g.vmdk"), descriptor("g-flat.vmdk")).unwrap();
            fs::write(d.join("g.vmx"), vmx("g.vmdk")).unwrap();
        },
        want: Want::Accepted("g-flat.vmdk"),
    },
    Case {
        name: "vmx-extent-host-file",
        input: ("vmx", "g.vmx"),
        make: |d, h| {
            fs::write(d.join("g.vmdk"), descriptor(s(&h.marker))).unwrap();
            fs::write(d.join("g.vmx"), vmx("g.vmdk")).unwrap();
        },
        want: Want::Refused(5, &["g.vmdk", "extent ‘/", "beside the descriptor"]),
    },
    Case {
        name: "vmx-extent-symlink-out",
        input: ("vmx", "g.vmx"),
        make: |d, h| {
            std::os::unix::fs::symlink(&h.marker, d.join("g-flat.vmdk")).unwrap();
            fs::write(d.join("g.vmdk"), descriptor("g-flat.vmdk")).unwrap();
            fs::write(d.join("g.vmx"), vmx("g.vmdk")).unwrap();
        },
        want: Want::Refused(5, &["g.vmdk", "extent ‘g-flat.vmdk’", "outside"]),
    },
];

/// Every regular file under `dir` (not following symlinks).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            v.extend(files_under(&e.path()));
        } else if ft.is_file() {
            v.push(e.path());
        }
    }
    v.sort();
    v
}

/// Files under `dir` that contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|f| {
            let b = fs::read(f).unwrap_or_default();
            b.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

fn sums(dir: &Path) -> Vec<(PathBuf, String)> {
    files_under(dir)
        .into_iter()
        .map(|f| {
            let h = sha256(&f);
            (f, h)
        })
        .collect()
}

#[test]
fn images_referring_to_host_files_are_refused() {
    require_tool("qemu-img");
    require_tool("qemu-nbd");
    require_tool("qemu-io");
    let sb = Sandbox::new("hostile");
    fs::create_dir_all(sb.path("host")).unwrap();
    let marker = sb.path("host/marker");
    let text = format!(
        "V2V-HOSTILE-MARKER-{}-{:?}\n",
        std::process::id(),
        Instant::now()
    );
    fs::write(&marker, text.repeat((1 << 20) / text.len() + 1)).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&marker)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let socket = sb.path("host/nbd.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    listener.set_nonblocking(true).unwrap();
    let host = Host {
        marker: marker.clone(),
        text,
        socket,
    };
    let (mut refused, mut accepted) = (0, 0);
    let mut failures = Vec::new();
    for c in CASES {
        let dir = sb.path(&format!("case-{}", c.name));
        fs::create_dir_all(&dir).unwrap();
        (c.make)(&dir, &host);
        let before = sums(&dir);
        let marker_sum = sha256(&host.marker);
        let out = sb.path(&format!("out-{}", c.name));
        fs::create_dir_all(&out).unwrap();
        sb.clear_tmpdir();
        let t = Instant::now();
        let r = run(sb
            .virt_v2v()
            .args(["--no-convert", "-i", c.input.0])
            .arg(dir.join(c.input.1))
            .args(["-o", "local", "-os"])
            .arg(&out));
        let took = t.elapsed();
        println!(
            "{}: exit {} in {took:.1?}: {}",
            c.name,
            r.code,
            r.last_err_line()
        );
        let mut fail = |m: String| failures.push(format!("{}: {m}\n{r}", c.name));
        match &c.want {
            Want::Refused(code, words) => {
                let last = r.last_err_line();
                if r.code != *code {
                    fail(format!("exit {} (want {code})", r.code));
                } else if !last.starts_with("virt-v2v: error: input: ")
                    || !words.iter().all(|w| last.contains(w))
                {
                    fail(format!("last line should name {words:?}: {last}"));
                } else {
                    refused += 1;
                }
                let errors = r
                    .stderr
                    .lines()
                    .filter(|l| l.starts_with("virt-v2v: error"))
                    .count();
                if errors != 1 {
                    fail(format!("{errors} virt-v2v error lines"));
                }
            }
            Want::Accepted(data) => {
                let targets = files_under(&out)
                    .into_iter()
                    .filter(|f| f.extension().is_none())
                    .collect::<Vec<_>>();
                if r.code != 0 || targets.len() != 1 {
                    fail(format!("not accepted: targets {targets:?}"));
                } else if let Err(e) = qemu_img_identical(&dir.join(data), &targets[0]) {
                    fail(format!("target differs from {data}: {e}"));
                } else {
                    accepted += 1;
                }
            }
        }
        if took > LIMIT {
            fail(format!("took {took:?}"));
        }
        for place in [&out, &sb.tmpdir()] {
            let leaked = holding(place, host.text.as_bytes());
            if !leaked.is_empty() {
                fail(format!("host file bytes in {leaked:?}"));
            }
        }
        let left = wait_no_servers(s(sb.root()), Duration::from_secs(5));
        let others = processes_mentioning(s(sb.root()));
        if !left.is_empty() || !others.is_empty() {
            fail(format!("left running: {left:?} {others:?}"));
        }
        if sums(&dir) != before || sha256(&host.marker) != marker_sum {
            fail("a source file changed".into());
        }
    }
    let connected = listener.accept().is_ok();
    println!(
        "hostile images: {refused} refused, {accepted} accepted-safe, {} failed",
        failures.len()
    );
    assert!(!connected, "something connected to the NBD socket");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(refused + accepted, CASES.len());
}
