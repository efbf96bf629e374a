//! Golden tests: OVF files in the styles VMware ovftool, VirtualBox and
//! OVF 2.0 tools write parse into the expected `metadata.in` (the
//! parser's output, nothing served).  `V2V_BLESS=1 cargo test -p
//! helper-v2v-input-ova --test golden` rewrites `tests/golden/*/expected.json`.

#[test]
fn ovf_parses_into_expected_metadata() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    v2v_test_support::golden(&root, ".ovf", |input| {
        let text = std::fs::read_to_string(input).unwrap();
        let origin = v2v_test_support::golden_origin("ova", input);
        let p = input_ova::ovf::parse_ovf(&text, origin)
            .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        v2v_test_support::as_metadata(p.source)
    });
}
