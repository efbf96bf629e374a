//! Golden tests: libvirt domain XML files, in the styles virt-install,
//! `virsh -c esx:// dumpxml` and old libvirt write, parse into the
//! expected `metadata.in` (the parser's output, nothing served).
//! `V2V_BLESS=1 cargo test -p helper-v2v-input-libvirtxml --test golden`
//! rewrites `tests/golden/*/expected.json`.

mod support;

#[test]
fn libvirt_xml_parses_into_expected_metadata() {
    support::golden(".xml", |input| {
        let xml = std::fs::read_to_string(input).unwrap();
        let origin = support::golden_origin("libvirtxml", input);
        let d = input_libvirtxml::domain::parse_domain(&xml, origin)
            .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        support::as_metadata(d.source)
    });
}
