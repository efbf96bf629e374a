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

/// Deepest element nesting in a description (a real OVF or libvirt domain
/// is under 10 deep).  The XML parser recurses once per level, so without
/// a bound a document nested 100,000 deep would overflow the stack.
pub const MAX_XML_DEPTH: usize = 256;

/// Read a description file as UTF-8 text, refusing it if it is larger than
/// [`MAX_DESCRIPTION_BYTES`].  `what` names the thing for messages.
pub fn read_bounded(path: &Path, what: &str) -> Result<String> {
    let f = std::fs::File::open(path)
        .map_err(|e| Failure::contract(format!("{what} {}: {e}", path.display())))?;
    read_bounded_from(f, &format!("{what} {}", path.display()))
}

/// [`read_bounded`] for any reader (a tar member, a pipe).  A NUL byte is
/// refused too: no description holds one, and parsers of C strings (qemu,
/// VMware) would stop there while we would not.
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
    if let Some(at) = buf.iter().position(|b| *b == 0) {
        return Err(Failure::contract(format!(
            "{what}: a NUL byte at offset {at}: not a text file, refusing to parse it"
        )));
    }
    String::from_utf8(buf).map_err(|e| Failure::contract(format!("{what}: not UTF-8 text: {e}")))
}

/// Parse XML without DTD support (so no entity, internal or external, is
/// expanded), with a bounded node count and nesting depth.
pub fn parse_xml(text: &str) -> std::result::Result<roxmltree::Document<'_>, String> {
    if text.len() as u64 > MAX_DESCRIPTION_BYTES {
        return Err(format!(
            "larger than {} MiB, refusing to parse it",
            MAX_DESCRIPTION_BYTES >> 20
        ));
    }
    let depth = xml_depth(text);
    if depth > MAX_XML_DEPTH {
        return Err(format!(
            "elements nested more than {MAX_XML_DEPTH} deep, refusing to parse it"
        ));
    }
    let opt = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
    };
    roxmltree::Document::parse_with_options(text, opt).map_err(|e| e.to_string())
}

/// How deep elements nest in `text`, counted without parsing it (so it
/// cannot recurse): start tags open a level, end tags close one, and
/// comments, CDATA sections, processing instructions, declarations and
/// quoted attribute values are skipped.  It stops counting as soon as the
/// depth passes [`MAX_XML_DEPTH`].  Malformed XML gives some number; the
/// parser reports the error afterwards.
fn xml_depth(text: &str) -> usize {
    let b = text.as_bytes();
    let find = |from: usize, pat: &[u8]| {
        b[from.min(b.len())..]
            .windows(pat.len())
            .position(|w| w == pat)
            .map_or(b.len(), |p| from + p + pat.len())
    };
    let (mut i, mut depth, mut max) = (0, 0usize, 0usize);
    while let Some(p) = b[i..].iter().position(|&c| c == b'<') {
        let t = i + p + 1;
        let rest = &b[t..];
        i = if rest.starts_with(b"!--") {
            find(t, b"-->")
        } else if rest.starts_with(b"![CDATA[") {
            find(t, b"]]>")
        } else if rest.starts_with(b"?") {
            find(t, b"?>")
        } else if rest.starts_with(b"!") {
            find(t, b">")
        } else if rest.starts_with(b"/") {
            depth = depth.saturating_sub(1);
            find(t, b">")
        } else {
            // A start tag: to its '>' outside quotes; "/>" closes it at once.
            let mut j = t;
            let mut quote = None;
            while j < b.len() {
                match (quote, b[j]) {
                    (None, b'"' | b'\'') => quote = Some(b[j]),
                    (Some(q), c) if c == q => quote = None,
                    (None, b'>') => break,
                    _ => {}
                }
                j += 1;
            }
            if j <= t || b[j - 1] != b'/' {
                depth += 1;
                max = max.max(depth);
                if max > MAX_XML_DEPTH {
                    return max;
                }
            }
            j + 1
        };
        if i >= b.len() {
            break;
        }
    }
    max
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
    fn deep_nesting_is_refused_without_recursion() {
        assert_eq!(xml_depth("<a><b/><c x='>' y=\"/>\"><d></d></c></a>"), 3);
        assert_eq!(
            xml_depth("<?xml version='1.0'?><!-- <x><y> --><a><![CDATA[<b><c>]]></a>"),
            1
        );
        let deep = |n: usize| format!("<x>{}{}</x>", "<a>".repeat(n), "</a>".repeat(n));
        assert!(parse_xml(&deep(MAX_XML_DEPTH - 1)).is_ok());
        // 100,000 levels overflowed the stack before the depth check.
        let e = parse_xml(&deep(100_000)).unwrap_err();
        assert!(e.contains("nested more than 256 deep"), "{e}");
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
