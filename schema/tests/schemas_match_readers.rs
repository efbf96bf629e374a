//! The published schemas say what the readers accept, in both directions:
//! every sample a schema accepts, the reader accepts; every sample the
//! reader rejects, the schema rejects too, except the few documented
//! checks a JSON Schema cannot state (docs/contract.md, "Versions").
//!
//! The readers are the ones the helpers use: `V2vDir::read_metadata_in` /
//! `read_output_json` (which also check the socket names) and
//! `from_json_str` for the other documents.

use serde_json::{json, Value};
use std::path::Path;
use v2v_meta::{Event, MetadataOut, StepDone, StepError, V2vDir};

/// Which document a sample is.
#[derive(Clone, Copy, Debug)]
enum Doc {
    MetadataIn,
    MetadataOut,
    OutputJson,
    StepDone,
    StepError,
    Event,
}

impl Doc {
    fn schema_file(self) -> &'static str {
        match self {
            Doc::MetadataIn => "metadata.in.schema.json",
            Doc::MetadataOut => "metadata.out.schema.json",
            Doc::OutputJson => "output.json.schema.json",
            Doc::StepDone => "step-done.schema.json",
            Doc::StepError => "step-error.schema.json",
            Doc::Event => "event.schema.json",
        }
    }

    /// The reader's verdict: `Err` with its message when it refuses.
    fn read(self, text: &str) -> Result<(), String> {
        let t = tempfile::tempdir().unwrap();
        let dir = V2vDir::new(t.path());
        let p = Path::new("sample.json");
        let r = match self {
            Doc::MetadataIn => {
                std::fs::write(dir.metadata_in(), text).unwrap();
                dir.read_metadata_in().map(drop)
            }
            Doc::OutputJson => {
                std::fs::write(dir.output_json(), text).unwrap();
                dir.read_output_json().map(drop)
            }
            Doc::MetadataOut => v2v_meta::from_json_str::<MetadataOut>(p, text).map(drop),
            Doc::StepDone => v2v_meta::from_json_str::<StepDone>(p, text).map(drop),
            Doc::StepError => v2v_meta::from_json_str::<StepError>(p, text).map(drop),
            Doc::Event => v2v_meta::from_json_str::<Event>(p, text).map(drop),
        };
        r.map_err(|e| e.to_string())
    }
}

fn metadata_in() -> Value {
    json!({"version": 1, "source": {
        "name": "guest", "origin": {"input_type": "disk", "location": ["/g.img"]},
        "memory_bytes": 1073741824u64, "vcpus": 2,
        "cpu": {"topology": {"sockets": 1, "cores": 2, "threads": 1}},
        "firmware": "bios",
        "disks": [{"index": 1, "socket": "in1", "format": "raw", "size": 1048576,
                   "bus": "sata", "source": "/g.img"}],
        "removables": [{"kind": "cdrom", "bus": "ide"}],
        "nics": [{"mac": "52:54:00:01:02:03", "network": "default", "network_kind": "network"}]}})
}

fn metadata_out() -> Value {
    json!({"version": 1, "converted": true,
        "inspection": {"os_type": "linux", "distro": "debian", "product_name": "Debian 12",
            "major_version": 12, "minor_version": 0, "arch": "x86_64", "root": "/dev/sda1"},
        "target": {"block_bus": "virtio-blk", "net_model": "virtio", "machine": "q35",
            "arch": "x86_64", "firmware": "bios", "video": "vga"},
        "changes": [{"kind": "file", "target": "/etc/fstab", "detail": "device names"}],
        "warnings": []})
}

fn output_json() -> Value {
    json!({"version": 1, "output_type": "local", "name": "guest",
        "disks": [{"index": 1, "socket": "out1", "path": "/o/guest-sda", "format": "raw",
                   "size": 1048576, "created": true}],
        "target_is_zero": true, "options": {"output_storage": "/o"}})
}

fn step_done() -> Value {
    json!({"version": 1, "step": "output-setup", "seconds": 1.5})
}

fn step_error() -> Value {
    json!({"version": 1, "step": "copy", "kind": "external", "exit_code": 4, "disk": 2,
        "message": "nbdkit died", "causes": ["x"], "log": "/d/log/04-copy.log"})
}

fn event() -> Value {
    json!({"version": 1, "time": 1732250000.12, "step": "copy", "event": "progress",
        "disk": 1, "bytes_done": 10, "bytes_total": 20, "rate": 1.5})
}

/// `base` with the JSON pointer `ptr` set to `v` (or removed when `v` is None).
fn with(mut base: Value, ptr: &str, v: Option<Value>) -> Value {
    let (parent, key) = ptr.rsplit_once('/').unwrap();
    let target = base.pointer_mut(parent).unwrap_or_else(|| panic!("{ptr}"));
    match (target, v) {
        (Value::Object(m), Some(v)) => {
            m.insert(key.into(), v);
        }
        (Value::Object(m), None) => {
            m.remove(key);
        }
        (Value::Array(a), Some(v)) => a[key.parse::<usize>().unwrap()] = v,
        _ => panic!("{ptr}"),
    }
    base
}

/// What the reader should do with a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    Accept,
    Reject,
    /// Rejected by a check a JSON Schema cannot state; listed in
    /// docs/contract.md.
    RejectSemantic,
}
use Want::*;

fn samples() -> Vec<(&'static str, Doc, String, Want)> {
    let j = |v: Value| v.to_string();
    let mut v = vec![
        ("metadata.in", Doc::MetadataIn, j(metadata_in()), Accept),
        ("metadata.out", Doc::MetadataOut, j(metadata_out()), Accept),
        ("output.json", Doc::OutputJson, j(output_json()), Accept),
        ("step done", Doc::StepDone, j(step_done()), Accept),
        ("step error", Doc::StepError, j(step_error()), Accept),
        ("event", Doc::Event, j(event()), Accept),
        (
            "runner event",
            Doc::Event,
            j(json!({"version": 1, "time": 1.0, "step": "virt-v2v", "event": "step-started"})),
            Accept,
        ),
        (
            "unknown fields ignored",
            Doc::MetadataIn,
            j(with(metadata_in(), "/future", Some(json!({"x": 1})))),
            Accept,
        ),
        (
            "optional null",
            Doc::StepError,
            j(with(step_error(), "/disk", Some(Value::Null))),
            Accept,
        ),
        (
            "dotted socket name",
            Doc::MetadataIn,
            j(with(
                metadata_in(),
                "/source/disks/0/socket",
                Some(json!(".in1")),
            )),
            Accept,
        ),
        (
            "three dots",
            Doc::OutputJson,
            j(with(output_json(), "/disks/0/socket", Some(json!("...")))),
            Accept,
        ),
        (
            "u32 at its maximum",
            Doc::StepError,
            j(with(step_error(), "/disk", Some(json!(u32::MAX)))),
            Accept,
        ),
        ("not JSON", Doc::StepDone, "{nope".into(), Reject),
        (
            "step done: version 2",
            Doc::StepDone,
            j(with(step_done(), "/version", Some(json!(2)))),
            Reject,
        ),
        (
            "version as a string",
            Doc::StepDone,
            j(with(step_done(), "/version", Some(json!("1")))),
            Reject,
        ),
        (
            "version 1.0",
            Doc::StepDone,
            j(with(step_done(), "/version", Some(json!(1.0)))),
            RejectSemantic,
        ),
        (
            "size beyond u64",
            Doc::MetadataIn,
            with(metadata_in(), "/source/disks/0/size", Some(json!(0)))
                .to_string()
                .replace("\"size\":0", "\"size\":18446744073709551616"),
            RejectSemantic,
        ),
        (
            "unknown step",
            Doc::StepDone,
            j(with(step_done(), "/step", Some(json!("bogus")))),
            Reject,
        ),
        (
            "runner name in a status file",
            Doc::StepError,
            j(with(step_error(), "/step", Some(json!("virt-v2v")))),
            Reject,
        ),
        (
            "unknown kind",
            Doc::StepError,
            j(with(step_error(), "/kind", Some(json!("ok")))),
            Reject,
        ),
        (
            "exit code 256",
            Doc::StepError,
            j(with(step_error(), "/exit_code", Some(json!(256)))),
            Reject,
        ),
        (
            "negative disk",
            Doc::StepError,
            j(with(step_error(), "/disk", Some(json!(-1)))),
            Reject,
        ),
        (
            "disk beyond u32",
            Doc::Event,
            j(with(event(), "/disk", Some(json!(u64::from(u32::MAX) + 1)))),
            Reject,
        ),
        (
            "unknown event",
            Doc::Event,
            j(with(event(), "/event", Some(json!("nope")))),
            Reject,
        ),
        (
            "event missing its field",
            Doc::Event,
            j(with(event(), "/bytes_done", None)),
            Reject,
        ),
        (
            "unknown event step",
            Doc::Event,
            j(with(event(), "/step", Some(json!("supervisor")))),
            Reject,
        ),
        (
            "missing required field",
            Doc::OutputJson,
            j(with(output_json(), "/name", None)),
            Reject,
        ),
        (
            "null for a list",
            Doc::MetadataIn,
            j(with(metadata_in(), "/source/nics", Some(Value::Null))),
            Reject,
        ),
        (
            "unknown bus",
            Doc::MetadataIn,
            j(with(
                metadata_in(),
                "/source/disks/0/bus",
                Some(json!("usb")),
            )),
            Reject,
        ),
        (
            "unknown firmware",
            Doc::MetadataOut,
            j(with(
                metadata_out(),
                "/target/firmware",
                Some(json!("coreboot")),
            )),
            Reject,
        ),
        (
            "major version beyond i32",
            Doc::MetadataOut,
            j(with(
                metadata_out(),
                "/inspection/major_version",
                Some(json!(1u64 << 31)),
            )),
            Reject,
        ),
    ];
    for doc in [
        Doc::MetadataIn,
        Doc::MetadataOut,
        Doc::OutputJson,
        Doc::StepDone,
        Doc::StepError,
        Doc::Event,
    ] {
        let base = match doc {
            Doc::MetadataIn => metadata_in(),
            Doc::MetadataOut => metadata_out(),
            Doc::OutputJson => output_json(),
            Doc::StepDone => step_done(),
            Doc::StepError => step_error(),
            Doc::Event => event(),
        };
        v.push(("no version", doc, j(with(base, "/version", None)), Reject));
    }
    for bad in ["../x", "/tmp/x", "in1/../../x", "", ".", "..", "a\u{0}b"] {
        v.push((
            "socket not a bare name (metadata.in)",
            Doc::MetadataIn,
            j(with(
                metadata_in(),
                "/source/disks/0/socket",
                Some(json!(bad)),
            )),
            Reject,
        ));
        v.push((
            "socket not a bare name (output.json)",
            Doc::OutputJson,
            j(with(output_json(), "/disks/0/socket", Some(json!(bad)))),
            Reject,
        ));
    }
    v
}

#[test]
fn schema_valid_is_accepted_and_rejected_is_schema_invalid() {
    let schemas: std::collections::HashMap<_, _> = v2v_meta::schema::all()
        .into_iter()
        .map(|(name, s)| {
            let v = serde_json::to_value(&s).unwrap();
            (
                name,
                jsonschema::validator_for(&v).expect("schema compiles"),
            )
        })
        .collect();
    let mut failures = Vec::new();
    for (what, doc, text, want) in samples() {
        let read = doc.read(&text);
        let instance: Option<Value> = serde_json::from_str(&text).ok();
        let valid = instance
            .as_ref()
            .is_some_and(|i| schemas[doc.schema_file()].is_valid(i));
        let ok = match want {
            Accept => read.is_ok() && valid,
            Reject => read.is_err() && !valid,
            RejectSemantic => read.is_err() && valid,
        };
        if !ok {
            failures.push(format!(
                "{what} ({doc:?}): want {want:?}, reader {read:?}, schema-valid {valid}: {text}"
            ));
        }
        // The two directions, whatever the sample was meant to show.
        if valid && read.is_err() && want != RejectSemantic {
            failures.push(format!("{what}: schema-valid but the reader refuses it"));
        }
        if !valid && read.is_ok() {
            failures.push(format!(
                "{what}: the reader accepts what the schema refuses"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The socket refusal names the file and the field.
#[test]
fn a_bad_socket_is_refused_naming_file_and_field() {
    let t = tempfile::tempdir().unwrap();
    let dir = V2vDir::new(t.path());
    let md = with(metadata_in(), "/source/disks/0/socket", Some(json!("../x")));
    std::fs::write(dir.metadata_in(), md.to_string()).unwrap();
    let e = dir.read_metadata_in().unwrap_err().to_string();
    assert!(
        e.contains("metadata.in: source.disks[0].socket: ‘../x’"),
        "{e}"
    );
    let oj = with(output_json(), "/disks/0/socket", Some(json!("/tmp/x")));
    std::fs::write(dir.output_json(), oj.to_string()).unwrap();
    let e = dir.read_output_json().unwrap_err().to_string();
    assert!(e.contains("output.json: disks[0].socket: ‘/tmp/x’"), "{e}");
}
