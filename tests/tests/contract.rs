//! Names read from contract files stay inside the run: a hand-made
//! `metadata.in` or `output.json` whose `socket` points outside the
//! temporary directory (`../x`, an absolute path, `in1/../../x`) is refused
//! by every helper that reads it, with exit 3 and a last line naming the
//! file and the field, and nothing connects to the server listening there.

use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use v2v_meta::{Step, V2vDir};
use v2v_tests::*;

/// A real NBD server (`nbdkit memory`) at `socket`, logging every client
/// (nbdkit's log filter writes `Preconnect` / `connection=N Connect` lines).
/// Dropping it kills it by its PID.
struct Decoy {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Decoy {
    fn start(socket: &Path, log: &Path) -> Decoy {
        require_tool("nbdkit");
        let child = Command::new("nbdkit")
            .arg("-f")
            .arg("-U")
            .arg(socket)
            .arg("--filter=log")
            .args(["memory", "1M"])
            .arg(format!("logfile={}", log.display()))
            .stdin(Stdio::null())
            .spawn()
            .expect("nbdkit");
        let d = Decoy {
            child,
            socket: socket.to_owned(),
            log: log.to_owned(),
        };
        let t = Instant::now();
        while !d.log_text().contains("Ready") {
            assert!(t.elapsed() < Duration::from_secs(30), "nbdkit not ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether any client has connected so far.
    fn connected(&self) -> bool {
        let l = self.log_text();
        l.contains("Preconnect") || l.contains("connection=")
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn source_disk(socket: &str) -> serde_json::Value {
    json!({"index": 1, "socket": socket, "format": "raw", "size": 1048576, "source": "/src"})
}

fn metadata_in(dir: &Path, socket: &str) {
    let md = json!({"version": 1, "source": {"name": "guest", "memory_bytes": 1073741824u64,
        "vcpus": 1, "origin": {"input_type": "disk", "location": []},
        "disks": [source_disk(socket)]}});
    fs::write(dir.join("metadata.in"), md.to_string()).unwrap();
}

fn output_json(dir: &Path, socket: &str) {
    let oj = json!({"version": 1, "output_type": "null", "name": "guest", "target_is_zero": true,
        "disks": [{"index": 1, "socket": socket, "format": "raw", "size": 1048576, "created": false}]});
    fs::write(dir.join("output.json"), oj.to_string()).unwrap();
}

/// Which file carries the bad name.
#[derive(Clone, Copy, Debug)]
enum Bad {
    MetadataIn,
    OutputJson,
}

#[test]
fn socket_names_outside_the_run_are_refused() {
    let sb = Sandbox::new("contract");
    let decoy = Decoy::start(&sb.path("x"), &sb.path("decoy.log"));
    let os = sb.path("out");
    fs::create_dir(&os).unwrap();
    let abs = decoy.socket.to_str().unwrap().to_string();
    // Each name reaches the decoy if joined onto DIR unchecked (DIR is
    // sb/run, and DIR/in1 is a directory so `in1/../../x` resolves too).
    let names = ["../x", abs.as_str(), "in1/../../x"];
    // (program, arguments with DIR and OS placeholders, the file with the
    // bad name, the step whose error file is written)
    let readers: [(&str, &[&str], Bad, Step); 6] = [
        (
            "helper-v2v-convert",
            &["DIR"],
            Bad::MetadataIn,
            Step::Convert,
        ),
        ("helper-v2v-copy", &["DIR"], Bad::MetadataIn, Step::Copy),
        ("helper-v2v-copy", &["DIR"], Bad::OutputJson, Step::Copy),
        (
            "helper-v2v-output-local",
            &["setup", "DIR", "-os", "OS"],
            Bad::MetadataIn,
            Step::OutputSetup,
        ),
        (
            "helper-v2v-output-null",
            &["setup", "DIR"],
            Bad::MetadataIn,
            Step::OutputSetup,
        ),
        (
            "helper-v2v-output-local",
            &["final", "DIR"],
            Bad::OutputJson,
            Step::OutputFinal,
        ),
    ];
    for name in names {
        for (prog, args, bad, step) in readers {
            let dir = sb.path("run");
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("in1")).unwrap();
            let (md_sock, oj_sock) = match bad {
                Bad::MetadataIn => (name, "out1"),
                Bad::OutputJson => ("in2", name),
            };
            metadata_in(&dir, md_sock);
            output_json(&dir, oj_sock);
            let mut cmd = sb.cmd(bin(prog));
            for a in args {
                match *a {
                    "DIR" => cmd.arg(&dir),
                    "OS" => cmd.arg(&os),
                    a => cmd.arg(a),
                };
            }
            let r = run(&mut cmd);
            let what = format!("{prog} {args:?} with {bad:?} socket {name:?}");
            assert_eq!(r.code, 3, "{what}\n{r}");
            let (file, field) = match bad {
                Bad::MetadataIn => ("metadata.in", "source.disks[0].socket"),
                Bad::OutputJson => ("output.json", "disks[0].socket"),
            };
            let last = r.last_err_line();
            assert!(
                last.starts_with(&format!("{prog}: error: "))
                    && last.contains(&format!("{file}: {field}: ‘{name}’ is not a file name")),
                "{what}: last line {last:?}\n{r}"
            );
            let err = V2vDir::new(&dir).error_file(step);
            let e: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(&err).unwrap()).unwrap();
            assert_valid("step-error.schema.json", &what, &e);
            assert_eq!(e["kind"], "contract", "{what}");
            assert!(!decoy.connected(), "{what}: connected to the decoy");
            assert_eq!(
                fs::read_dir(&os).unwrap().count(),
                0,
                "{what}: wrote to -os"
            );
        }
    }
    // The decoy does log a client: the checks above could fail.
    let st = Command::new("nbdinfo")
        .arg("--size")
        .arg(format!("nbd+unix:///?socket={abs}"))
        .output()
        .expect("nbdinfo");
    assert!(st.status.success());
    assert!(decoy.connected(), "decoy log: {}", decoy.log_text());
}
