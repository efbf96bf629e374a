//! Property tests (issue 11): mutated OVF envelopes, manifests and tar
//! archives fed to the OVA parsers never panic and each case is decided
//! within `mutate::PER_CASE`.

use input_ova::{manifest, ovf, tar};
use proptest::prelude::*;
use std::sync::OnceLock;
use v2v_meta::Origin;
use v2v_test_support::mutate::{config, mutated, mutated_text, within};

fn origin() -> Origin {
    Origin {
        input_type: "ova".into(),
        location: vec!["x.ova".into()],
    }
}

/// The OVF of the golden VMware case (ovftool's dialect).
fn ovf_seed() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/ovftool-vmware/centos-web.ovf");
        std::fs::read_to_string(p).unwrap()
    })
}

/// A small tar made by tar(1): an OVF, a manifest, a long-named disk.
fn tar_seed() -> &'static [u8] {
    static S: OnceLock<Vec<u8>> = OnceLock::new();
    S.get_or_init(|| {
        let t = tempfile::tempdir().unwrap();
        let long = format!("{}.vmdk", "d".repeat(120));
        std::fs::write(t.path().join("g.ovf"), "<Envelope/>").unwrap();
        std::fs::write(t.path().join("g.mf"), "SHA256(g.ovf)= 00\n").unwrap();
        std::fs::write(t.path().join(&long), vec![7u8; 1500]).unwrap();
        let out = std::process::Command::new("tar")
            .args(["--format=gnu", "-cf", "-", "g.ovf", "g.mf", &long])
            .current_dir(t.path())
            .output()
            .expect("tar");
        assert!(out.status.success());
        out.stdout
    })
}

const MANIFEST: &str =
    "SHA256(g.ovf)= 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\
SHA1(g-disk1.vmdk)= 0123456789abcdef0123456789abcdef01234567\n";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ovf_envelope(text in mutated_text(ovf_seed())) {
        within("parse_ovf", || ovf::parse_ovf(&text, origin()))?;
    }

    #[test]
    fn manifest_lines(text in mutated_text(MANIFEST)) {
        within("manifest::parse", || manifest::parse(&text))?;
    }

    #[test]
    fn tar_archive(bytes in mutated(tar_seed())) {
        within("tar::list", || tar::list(&mut std::io::Cursor::new(&bytes)))?;
    }
}
