//! Property tests (issue 11): mutated and arbitrary JSON fed to the
//! contract readers (`metadata.in`, `metadata.out`, `output.json`) never
//! panics and each case is decided within `mutate::PER_CASE`; a file
//! that is a symlink, a FIFO or too large is refused without being read.

use proptest::prelude::*;
use serde_json::{json, Value};
use v2v_meta::{from_json_str, MetadataIn, MetadataOut, OutputJson, TargetMeta, V2vDir};
use v2v_test_support::mutate::{config, mutated_text, within};

fn metadata_in() -> Value {
    json!({"version": 1, "source": {
        "name": "g", "origin": {"input_type": "disk", "location": ["/d/g.img"]},
        "memory_bytes": 1073741824u64, "vcpus": 2, "firmware": "uefi",
        "cpu": {"topology": {"sockets": 1, "cores": 2, "threads": 1}},
        "disks": [{"index": 1, "socket": "in1", "format": "raw", "size": 1048576,
                   "source": "/d/g.img", "bus": "scsi", "unit": 0}],
        "removables": [{"kind": "cdrom", "bus": "ide"}],
        "nics": [{"mac": "52:54:00:01:02:03", "network": "default", "network_kind": "network"}]}})
}

fn output_json() -> Value {
    json!({"version": 1, "output_type": "local", "name": "g", "target_is_zero": true,
           "disks": [{"index": 1, "socket": "out1", "format": "raw", "size": 1048576,
                      "path": "/o/g-sda", "created": true}]})
}

fn metadata_out() -> Value {
    let md: MetadataIn = serde_json::from_value(metadata_in()).unwrap();
    let target = serde_json::to_value(TargetMeta::unconverted(&md.source)).unwrap();
    json!({"version": 1, "converted": false, "target": target, "changes": []})
}

/// Arbitrary JSON, up to a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "version", "source", "disks", "socket", "name", "size", "x"
                ])
                .prop_map(String::from),
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn read_all(text: &str) {
    let p = std::path::Path::new("x.json");
    let _ = from_json_str::<MetadataIn>(p, text);
    let _ = from_json_str::<MetadataOut>(p, text);
    let _ = from_json_str::<OutputJson>(p, text);
}

/// Through the directory readers, which also check the socket names.
fn read_in_dir(text: &str) {
    let t = tempfile::tempdir().unwrap();
    let d = V2vDir::new(t.path());
    std::fs::write(d.metadata_in(), text).unwrap();
    std::fs::write(d.output_json(), text).unwrap();
    let _ = d.read_metadata_in();
    let _ = d.read_output_json();
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_metadata_in(text in mutated_text(&metadata_in().to_string())) {
        within("metadata.in", || read_in_dir(&text))?;
    }

    #[test]
    fn mutated_output_json(text in mutated_text(&output_json().to_string())) {
        within("output.json", || read_in_dir(&text))?;
    }

    #[test]
    fn mutated_metadata_out(text in mutated_text(&metadata_out().to_string())) {
        within("metadata.out", || read_all(&text))?;
    }

    #[test]
    fn arbitrary_json(v in any_json()) {
        within("any JSON", || read_all(&v.to_string()))?;
    }
}

#[test]
fn special_files_are_refused_unread() {
    use std::os::unix::fs::symlink;
    let t = tempfile::tempdir().unwrap();
    let d = V2vDir::new(t.path());
    let valid = metadata_in().to_string();
    let host = t.path().join("host.json");
    std::fs::write(&host, &valid).unwrap();
    symlink(&host, d.metadata_in()).unwrap();
    let e = d.read_metadata_in().unwrap_err().to_string();
    assert!(e.contains("not a regular file (a symbolic link)"), "{e}");
    std::fs::remove_file(d.metadata_in()).unwrap();
    nix_mkfifo(&d.metadata_in());
    let e = d.read_metadata_in().unwrap_err().to_string();
    assert!(e.contains("not a regular file (a FIFO)"), "{e}");
    std::fs::remove_file(d.metadata_in()).unwrap();
    let mut big = valid.clone().into_bytes();
    big.pop();
    big.resize((v2v_meta::MAX_CONTRACT_BYTES + 1) as usize, b' ');
    big.push(b'}');
    std::fs::write(d.metadata_in(), big).unwrap();
    let e = d.read_metadata_in().unwrap_err().to_string();
    assert!(e.contains("larger than 16 MiB"), "{e}");
    std::fs::write(d.metadata_in(), valid).unwrap();
    d.read_metadata_in().unwrap();
}

fn nix_mkfifo(p: &std::path::Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}
