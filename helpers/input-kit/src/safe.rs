//! Reading untrusted guest descriptions safely, shared by every input
//! helper (libvirt XML, OVF, VMX, VMDK descriptors): sizes are bounded
//! before anything is parsed, and XML is parsed without a DTD, so no
//! external entity is ever resolved and no entity expansion can blow up.

use helper_common::{Failure, Result};
use std::io::Read;
use std::path::Path;

/// Largest description file (XML, OVF, VMX, manifest, VMDK descriptor) we read.
pub const MAX_DESCRIPTION_BYTES: u64 = 4 * 1024 * 1024;

/// Largest number of XML nodes in a description (a real OVF has a few hundred).
pub const MAX_XML_NODES: u32 = 100_000;

/// Read a description file as UTF-8 text, refusing it if it is larger than
/// [`MAX_DESCRIPTION_BYTES`].  `what` names the thing for messages.
pub fn read_bounded(path: &Path, what: &str) -> Result<String> {
    let f = std::fs::File::open(path)
        .map_err(|e| Failure::contract(format!("{what} {}: {e}", path.display())))?;
    read_bounded_from(f, &format!("{what} {}", path.display()))
}

/// [`read_bounded`] for any reader (a tar member, a pipe).
pub fn read_bounded_from(r: impl Read, what: &str) -> Result<String> {
    let mut buf = Vec::new();
    r.take(MAX_DESCRIPTION_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Failure::contract(format!("{what}: {e}")))?;
    if buf.len() as u64 > MAX_DESCRIPTION_BYTES {
        return Err(Failure::unsupported(format!(
            "{what}: larger than {} MiB, refusing to parse it",
            MAX_DESCRIPTION_BYTES >> 20
        )));
    }
    String::from_utf8(buf).map_err(|e| Failure::contract(format!("{what}: not UTF-8 text: {e}")))
}

/// Parse XML without DTD support (so no entity, internal or external, is
/// expanded) and with a bounded node count.
pub fn parse_xml(text: &str) -> std::result::Result<roxmltree::Document<'_>, String> {
    if text.len() as u64 > MAX_DESCRIPTION_BYTES {
        return Err(format!(
            "larger than {} MiB, refusing to parse it",
            MAX_DESCRIPTION_BYTES >> 20
        ));
    }
    let opt = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
    };
    roxmltree::Document::parse_with_options(text, opt).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_entities_are_refused() {
        let xxe = r#"<?xml version="1.0"?>
<!DOCTYPE domain [ <!ENTITY x SYSTEM "file:///etc/passwd"> ]>
<domain><name>&x;</name></domain>"#;
        assert!(parse_xml(xxe).is_err());
        let laughs =
            r#"<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><l>&b;</l>"#;
        assert!(parse_xml(laughs).is_err());
        assert!(parse_xml("<domain><name>x</name></domain>").is_ok());
    }

    #[test]
    fn big_files_are_refused() {
        let big = vec![b' '; (MAX_DESCRIPTION_BYTES + 1) as usize];
        let e = read_bounded_from(&big[..], "OVF x.ovf").unwrap_err();
        assert_eq!(e.code, 5);
        assert!(
            e.message.contains("OVF x.ovf: larger than 4 MiB"),
            "{}",
            e.message
        );
        let ok = read_bounded_from(&b"abc"[..], "x").unwrap();
        assert_eq!(ok, "abc");
        let e = read_bounded_from(&[0xff, 0xfe][..], "x").unwrap_err();
        assert_eq!(e.code, 3);
        let t = tempfile::tempdir().unwrap();
        let e = read_bounded(&t.path().join("nope.xml"), "libvirt XML").unwrap_err();
        assert_eq!(e.code, 3);
    }
}
