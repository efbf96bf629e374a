//! Golden tests: `.vmx` files in the styles ESXi and VMware Workstation
//! write parse into the expected `metadata.in` (the parser's output,
//! nothing served).  `V2V_BLESS=1 cargo test -p helper-v2v-input-vmx
//! --test golden` rewrites `tests/golden/*/expected.json`.

#[test]
fn vmx_parses_into_expected_metadata() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    v2v_test_support::golden(&root, ".vmx", |input| {
        let text = std::fs::read_to_string(input).unwrap();
        let stem = input.file_stem().unwrap().to_string_lossy();
        let origin = v2v_test_support::golden_origin("vmx", input);
        let p = input_vmx::vmx::parse_vmx(&text, &stem, origin)
            .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        v2v_test_support::as_metadata(p.source)
    });
}
