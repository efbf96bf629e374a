//! VMDK descriptors: the text that says what a `.vmdk` is made of.
//!
//! A descriptor is either a small text file of its own (`monolithicFlat`,
//! `vmfs`, `twoGbMaxExtent*`: the data is in `-flat.vmdk` / `-sNNN.vmdk`
//! extents), or embedded in a sparse file (`monolithicSparse`,
//! `streamOptimized`, magic `KDMV`).  Used by `helper-v2v-input-vmx` and
//! `helper-v2v-input-ova`.

use crate::safe;
use helper_common::Failure;
use std::io::Read;
use std::path::Path;

/// One extent line: `RW 6291456 FLAT "guest-flat.vmdk" 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extent {
    /// `RW`, `RDONLY` or `NOACCESS`.
    pub access: String,
    /// Size in 512-byte sectors.
    pub sectors: u64,
    /// `FLAT`, `SPARSE`, `VMFS`, `VMFSSPARSE`, `ZERO`, ...
    pub kind: String,
    /// The extent's file (relative to the descriptor), absent for `ZERO`.
    pub file: Option<String>,
    /// Offset in sectors inside that file (FLAT extents).
    pub offset: u64,
}

/// A parsed descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// `createType` (`monolithicSparse`, `vmfs`, `streamOptimized`, ...).
    pub create_type: String,
    /// `parentCID` (`ffffffff` when there is no parent).
    pub parent_cid: Option<String>,
    /// `parentFileNameHint`: set for snapshot (delta) disks.
    pub parent_file: Option<String>,
    pub extents: Vec<Extent>,
    /// `ddb.adapterType` (`lsilogic`, `ide`, `pvscsi`, ...).
    pub adapter_type: Option<String>,
}

impl Descriptor {
    /// Virtual size in bytes (the sum of the extents).
    pub fn size(&self) -> u64 {
        self.extents.iter().map(|e| e.sectors * 512).sum()
    }

    /// True when this disk is a snapshot (delta) of a parent disk.
    pub fn has_parent(&self) -> bool {
        self.parent_file.is_some()
            || self
                .parent_cid
                .as_deref()
                .is_some_and(|c| !c.eq_ignore_ascii_case("ffffffff"))
    }

    /// The single raw extent file holding all the data (`FLAT` / `VMFS`
    /// at offset 0 covering the whole disk), if the disk is just that.
    pub fn single_flat_extent(&self) -> Option<&str> {
        match self.extents.as_slice() {
            [e] if (e.kind == "FLAT" || e.kind == "VMFS") && e.offset == 0 => e.file.as_deref(),
            _ => None,
        }
    }
}

/// Magic of a sparse VMDK (`KDMV`, little-endian "VMDK").
pub const SPARSE_MAGIC: &[u8; 4] = b"KDMV";

/// Where the embedded descriptor of a sparse VMDK is: (byte offset, byte
/// length), read from the 512-byte header.  `None` if `header` is not a
/// sparse VMDK header or has no descriptor (stream-optimized files from
/// some tools keep it elsewhere).
pub fn embedded_descriptor_range(header: &[u8]) -> Option<(u64, u64)> {
    if header.len() < 44 || &header[0..4] != SPARSE_MAGIC {
        return None;
    }
    let u64_at = |o: usize| u64::from_le_bytes(header[o..o + 8].try_into().unwrap());
    let off = u64_at(28);
    let len = u64_at(36);
    if off == 0 || len == 0 {
        return None;
    }
    Some((off.checked_mul(512)?, len.checked_mul(512)?))
}

/// Parse descriptor text.  Unknown lines are ignored; a descriptor without
/// any extent is refused.
pub fn parse_descriptor(text: &str) -> Result<Descriptor, String> {
    let text = text.trim_end_matches('\0');
    let mut d = Descriptor::default();
    if !text.contains("# Disk DescriptorFile") && !text.contains("createType") {
        return Err("not a VMDK descriptor (no '# Disk DescriptorFile' / createType)".into());
    }
    for line in text.lines() {
        let line = line.trim().trim_end_matches('\0');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let k = k.trim();
            let v = v.trim().trim_matches('"').to_string();
            match k {
                "createType" => d.create_type = v,
                "parentCID" => d.parent_cid = Some(v),
                "parentFileNameHint" => d.parent_file = Some(v),
                "ddb.adapterType" => d.adapter_type = Some(v),
                _ => {}
            }
            continue;
        }
        if let Some(e) = parse_extent(line)? {
            d.extents.push(e);
        }
    }
    if d.extents.is_empty() {
        return Err("VMDK descriptor lists no extent".into());
    }
    Ok(d)
}

/// How much of a `.vmdk` is read to find its descriptor: a descriptor
/// file whole, or the header and embedded descriptor of a sparse file.
pub const VMDK_HEAD_BYTES: u64 = 1 << 20;

/// The descriptor of a `.vmdk`, from the first [`VMDK_HEAD_BYTES`] of the
/// file: embedded in a sparse file, or the whole (small) text file.
/// `what` names the file for messages.
pub fn descriptor_from_head(head: &[u8], what: &str) -> helper_common::Result<Descriptor> {
    let text = match embedded_descriptor_range(head) {
        Some((off, len)) => {
            let end = off.saturating_add(len);
            if end > head.len() as u64 {
                return Err(Failure::unsupported(format!(
                    "{what}: embedded descriptor at {off}+{len} is beyond the first {} bytes",
                    head.len()
                )));
            }
            // NUL-padded to its region: the text is what precedes the
            // first NUL, as qemu reads it.
            let region = &head[off as usize..end as usize];
            let text = region.split(|b| *b == 0).next().unwrap_or_default();
            safe::read_bounded_from(text, what)?
        }
        None if head.starts_with(SPARSE_MAGIC) => {
            return Err(Failure::unsupported(format!(
                "{what}: sparse VMDK without an embedded descriptor"
            )))
        }
        None if head.len() as u64 >= VMDK_HEAD_BYTES => {
            return Err(Failure::contract(format!(
                "{what}: not a VMDK (neither a sparse VMDK nor a descriptor)"
            )))
        }
        // qemu-img pads a descriptor file with NULs: the same rule.
        None => safe::read_bounded_from(head.split(|b| *b == 0).next().unwrap_or_default(), what)?,
    };
    parse_descriptor(&text).map_err(|e| parse_failure(what, &e))
}

/// The failure for [`parse_descriptor`]'s error `e` about `what`: a
/// reference the policy refuses is an unsupported source (exit 5), as in
/// every input (docs/security.md); anything else a bad description (exit 3).
pub fn parse_failure(what: &str, e: &str) -> Failure {
    let m = format!("{what}: {e}");
    if e.contains(crate::refs::REFUSED) {
        Failure::unsupported(m)
    } else {
        Failure::contract(m)
    }
}

/// Read the descriptor of a local `.vmdk` (a missing or unreadable file
/// is a contract error: a description named it).
pub fn read_local_descriptor(path: &Path) -> helper_common::Result<Descriptor> {
    let what = format!("VMDK {}", path.display());
    let f = std::fs::File::open(path).map_err(|e| Failure::contract(format!("{what}: {e}")))?;
    let mut head = Vec::new();
    f.take(VMDK_HEAD_BYTES)
        .read_to_end(&mut head)
        .map_err(|e| Failure::contract(format!("{what}: {e}")))?;
    descriptor_from_head(&head, &what)
}

fn parse_extent(line: &str) -> Result<Option<Extent>, String> {
    let (access, rest) = match line.split_once(char::is_whitespace) {
        Some(x) => x,
        None => return Ok(None),
    };
    if !matches!(access, "RW" | "RDONLY" | "NOACCESS") {
        return Ok(None);
    }
    let rest = rest.trim_start();
    let (sectors, rest) = rest
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("bad extent line: {line}"))?;
    let sectors: u64 = sectors
        .parse()
        .map_err(|_| format!("bad extent size in: {line}"))?;
    let rest = rest.trim_start();
    let (kind, rest) = match rest.split_once(char::is_whitespace) {
        Some((k, r)) => (k.to_string(), r.trim_start()),
        None => (rest.to_string(), ""),
    };
    let (file, rest) = if let Some(r) = rest.strip_prefix('"') {
        let end = r
            .find('"')
            .ok_or_else(|| format!("unterminated file name in: {line}"))?;
        (Some(r[..end].to_string()), r[end + 1..].trim())
    } else {
        (None, rest)
    };
    let offset = match rest.split_whitespace().next() {
        Some(o) => o
            .parse()
            .map_err(|_| format!("bad extent offset in: {line}"))?,
        None => 0,
    };
    if let Some(f) = &file {
        if f.contains('/') || f == ".." {
            return Err(format!(
                "extent ‘{f}’ is not a file name beside the descriptor ({})",
                crate::refs::REFUSED
            ));
        }
    }
    Ok(Some(Extent {
        access: access.into(),
        sectors,
        kind,
        file,
        offset,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAT: &str = r#"# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=fffffffe
parentCID=ffffffff
isNativeSnapshot="no"
createType="vmfs"

# Extent description
RW 41943040 VMFS "web1-flat.vmdk"

# The Disk Data Base
#DDB

ddb.adapterType = "lsilogic"
ddb.geometry.cylinders = "2610"
ddb.virtualHWVersion = "13"
"#;

    #[test]
    fn flat_descriptor() {
        let d = parse_descriptor(FLAT).unwrap();
        assert_eq!(d.create_type, "vmfs");
        assert_eq!(d.size(), 41943040 * 512);
        assert!(!d.has_parent());
        assert_eq!(d.single_flat_extent(), Some("web1-flat.vmdk"));
        assert_eq!(d.adapter_type.as_deref(), Some("lsilogic"));
    }

    #[test]
    fn split_and_snapshot() {
        let t = "# Disk DescriptorFile\nCID=1\nparentCID=27d12603\ncreateType=\"vmfsSparse\"\nparentFileNameHint=\"web1.vmdk\"\nRW 2048 VMFSSPARSE \"web1-000001-delta.vmdk\"\n";
        let d = parse_descriptor(t).unwrap();
        assert!(d.has_parent());
        assert_eq!(d.single_flat_extent(), None);
        let t = "# Disk DescriptorFile\ncreateType=\"twoGbMaxExtentFlat\"\nRW 4192256 FLAT \"g-f001.vmdk\" 0\nRW 100 FLAT \"g-f002.vmdk\" 0\nRW 8 ZERO\n";
        let d = parse_descriptor(t).unwrap();
        assert_eq!(d.extents.len(), 3);
        assert_eq!(d.extents[2].file, None);
        assert_eq!(d.size(), (4192256 + 108) * 512);
        assert_eq!(d.single_flat_extent(), None);
    }

    #[test]
    fn bad_descriptors() {
        assert!(parse_descriptor("hello").is_err());
        assert!(parse_descriptor("# Disk DescriptorFile\ncreateType=\"vmfs\"\n").is_err());
        assert!(parse_descriptor("# Disk DescriptorFile\nRW x FLAT \"a\" 0\n").is_err());
        assert!(
            parse_descriptor("# Disk DescriptorFile\nRW 8 FLAT \"../../etc/shadow\" 0\n")
                .unwrap_err()
                .contains("is not a file name beside the descriptor")
        );
        assert!(parse_descriptor("# Disk DescriptorFile\nRW 8 FLAT \"/etc/shadow\" 0\n").is_err());
    }

    #[test]
    fn sparse_header() {
        let mut h = vec![0u8; 512];
        h[0..4].copy_from_slice(SPARSE_MAGIC);
        h[28..36].copy_from_slice(&1u64.to_le_bytes());
        h[36..44].copy_from_slice(&20u64.to_le_bytes());
        assert_eq!(embedded_descriptor_range(&h), Some((512, 20 * 512)));
        h[0] = b'X';
        assert_eq!(embedded_descriptor_range(&h), None);
        assert_eq!(embedded_descriptor_range(&h[..10]), None);
    }

    #[test]
    fn descriptors_from_heads() {
        let d = descriptor_from_head(FLAT.as_bytes(), "VMDK x").unwrap();
        assert_eq!(d.single_flat_extent(), Some("web1-flat.vmdk"));
        // A sparse header whose descriptor follows it.
        let mut h = vec![0u8; 512];
        h[0..4].copy_from_slice(SPARSE_MAGIC);
        h[28..36].copy_from_slice(&1u64.to_le_bytes());
        h[36..44].copy_from_slice(&1u64.to_le_bytes());
        let mut desc =
            b"# Disk DescriptorFile\ncreateType=\"monolithicSparse\"\nRW 8 SPARSE \"s.vmdk\"\n"
                .to_vec();
        desc.resize(512, 0);
        h.extend(&desc);
        let d = descriptor_from_head(&h, "VMDK s").unwrap();
        assert_eq!(d.extents[0].kind, "SPARSE");
        // The descriptor is said to lie beyond what was read.
        let e = descriptor_from_head(&h[..600], "VMDK s").unwrap_err();
        assert_eq!(e.code, 5);
        h[28] = 0;
        let e = descriptor_from_head(&h, "VMDK s").unwrap_err();
        assert!(
            e.message.contains("without an embedded descriptor"),
            "{}",
            e.message
        );
        let e = descriptor_from_head(b"hello", "VMDK t").unwrap_err();
        assert_eq!(e.code, 3);
        assert!(
            e.message.starts_with("VMDK t: not a VMDK descriptor"),
            "{}",
            e.message
        );
        let e = read_local_descriptor(Path::new("/nonexistent/x.vmdk")).unwrap_err();
        assert_eq!(e.code, 3);
    }
}
