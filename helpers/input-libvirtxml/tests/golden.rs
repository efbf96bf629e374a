//! Golden tests: libvirt domain XML files, in the styles virt-install,
//! `virsh -c esx:// dumpxml` and old libvirt write, parse into the
//! expected `metadata.in` (the parser's output, nothing served).
//! `V2V_BLESS=1 cargo test -p helper-v2v-input-libvirtxml --test golden`
//! rewrites `tests/golden/*/expected.json`.

#[test]
fn libvirt_xml_parses_into_expected_metadata() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    v2v_test_support::golden(&root, ".xml", |input| {
        let xml = std::fs::read_to_string(input).unwrap();
        let origin = v2v_test_support::golden_origin("libvirtxml", input);
        let d = v2v_input_kit::domain::parse_domain(&xml, origin)
            .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        v2v_test_support::as_metadata(d.source)
    });
}
