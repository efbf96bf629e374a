//! What a source disk image may refer to, and how qemu is made to open
//! exactly that (docs/security.md).
//!
//! A qcow2 image can name a backing file and an external data file, a
//! VMDK descriptor names extent files and a parent (`parentFileNameHint`);
//! qemu follows them all, to any host path, `json:` or protocol name
//! (`nbd:`, `http:`, `file:`...).  A source image comes from whoever made
//! it, so before qemu opens anything we read the headers ourselves
//! ([`qcow2_refs`], [`vmdk_refs`]) and follow a reference only when it
//! resolves, symlinks and all, to a regular file inside the image's own
//! directory, is no `json:` or protocol name, and the chain neither loops
//! nor goes deeper than [`MAX_CHAIN_DEPTH`] ([`vet`]).  Then qemu is given
//! the vetted chain spelt out ([`Image::qemu_json`]: every node's driver,
//! file, backing and data file, `"backing": null` at the end), so it opens
//! nothing it would find by itself.
//!
//! An image inside an archive (an OVA member) or unpacked from one has no
//! directory of its own: it may refer to nothing ([`Scope::Alone`]).

use crate::vmdk;
use helper_common::{Failure, Result};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The longest backing chain followed (the image itself not counted).
pub const MAX_CHAIN_DEPTH: usize = 16;

/// How much of an image is read to find what it refers to: a qcow2
/// header, its extensions and backing name all lie in the first cluster
/// (at most 2 MiB); a VMDK descriptor file is read up to 1 MiB, as qemu does.
pub const HEAD_BYTES: u64 = 2 << 20;

/// Formats an image may be served in, and a backing file may have.
const FORMATS: [&str; 5] = crate::disk::FORMATS;

/// What qemu reads of a VMDK descriptor to find `parentFileNameHint`
/// (`DESC_SIZE` in qemu's block/vmdk.c).
const VMDK_DESC_SIZE: usize = 20 * 512;

/// What an image says it is made of, as read from its header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs {
    /// qcow2 backing file or VMDK `parentFileNameHint`.
    pub backing: Option<String>,
    /// The backing file's format when the image says it (qcow2's
    /// backing-format extension; a VMDK parent is always `vmdk`).
    pub backing_format: Option<String>,
    /// qcow2 external data file.
    pub data_file: Option<String>,
    /// VMDK extent files.
    pub extents: Vec<String>,
}

/// Where an image's references may point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Inside the (canonical) directory of the image.
    Beside,
    /// Nowhere: an archive member, or a disk unpacked from one.
    Alone,
}

/// A vetted image and the vetted files it refers to (canonical paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub path: PathBuf,
    pub format: String,
    pub backing: Option<Box<Image>>,
    pub data_file: Option<PathBuf>,
    pub extents: Vec<PathBuf>,
}

impl Image {
    /// The block graph qemu opens for this image: driver, file, data file
    /// and backing chain spelt out, ending in `"backing": null`.
    pub fn qemu_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "driver": self.format,
            "file": file_node(&self.path),
        });
        if self.format != "raw" {
            v["backing"] = match &self.backing {
                Some(b) => b.qemu_json(),
                None => serde_json::Value::Null,
            };
        }
        if let Some(d) = &self.data_file {
            v["data-file"] = file_node(d);
        }
        v
    }

    /// [`Image::qemu_json`] as a qemu `json:` filename.
    pub fn qemu_filename(&self) -> String {
        format!("json:{}", self.qemu_json())
    }

    /// The files of the chain, this image first.
    pub fn files(&self) -> Vec<&Path> {
        let mut v = vec![self.path.as_path()];
        v.extend(self.data_file.iter().map(PathBuf::as_path));
        v.extend(self.extents.iter().map(PathBuf::as_path));
        if let Some(b) = &self.backing {
            v.extend(b.files());
        }
        v
    }
}

fn file_node(p: &Path) -> serde_json::Value {
    serde_json::json!({ "driver": "file", "filename": p.display().to_string() })
}

/// `json:{"driver":"qcow2","file":OVERLAY,"backing":IMAGE}`: a blank qcow2
/// overlay over the vetted `image`, for qemu-nbd (nothing is written in
/// the overlay's header, so no name length limit applies).
pub fn overlay_filename(overlay: &Path, image: &Image) -> String {
    let v = serde_json::json!({
        "driver": "qcow2",
        "file": file_node(overlay),
        "backing": image.qemu_json(),
    });
    format!("json:{v}")
}

fn be32(h: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_be_bytes(h.get(o..o + 4)?.try_into().ok()?))
}

fn be64(h: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_be_bytes(h.get(o..o + 8)?.try_into().ok()?))
}

/// qcow2 magic, `QFI\xfb`.
pub const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";
/// qcow2 header extension: the backing file's format.
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
/// qcow2 header extension: the external data file's name.
const EXT_DATA_FILE: u32 = 0x4441_5441;
/// qcow2 incompatible feature bit: the data is in an external file.
const INCOMPAT_DATA_FILE: u64 = 1 << 2;

/// What a qcow2 header (the first bytes of the image, up to its first
/// cluster) refers to: the backing file (`backing_file_offset/size`), its
/// format (extension `0xe2792aca`) and, when the external-data-file
/// feature bit is set, the data file (extension `0x44415441`).
pub fn qcow2_refs(head: &[u8]) -> std::result::Result<Refs, String> {
    if !head.starts_with(QCOW2_MAGIC) {
        return Err("not a qcow2 image (no QFI\\xfb magic)".into());
    }
    let short = || "qcow2 header is truncated".to_string();
    let version = be32(head, 4).ok_or_else(short)?;
    if version != 2 && version != 3 {
        return Err(format!("qcow2 version {version} is not supported"));
    }
    let backing_offset = be64(head, 8).ok_or_else(short)?;
    let backing_size = be32(head, 16).ok_or_else(short)? as u64;
    let cluster_bits = be32(head, 20).ok_or_else(short)?;
    if !(9..=21).contains(&cluster_bits) {
        return Err(format!("qcow2 cluster_bits {cluster_bits} is invalid"));
    }
    let cluster = 1u64 << cluster_bits;
    let mut r = Refs::default();
    if backing_offset != 0 && backing_size != 0 {
        // qemu refuses names over 1023 bytes or beyond the first cluster.
        let end = backing_offset.checked_add(backing_size).ok_or_else(short)?;
        if backing_size > 1023 || end > cluster {
            return Err("qcow2 backing file name is out of bounds".into());
        }
        let name = head
            .get(backing_offset as usize..end as usize)
            .ok_or_else(short)?;
        r.backing = Some(name_of(name)?);
    }
    let (incompat, ext_start) = if version == 3 {
        (
            be64(head, 72).ok_or_else(short)?,
            be32(head, 100).ok_or_else(short)? as u64,
        )
    } else {
        (0, 72)
    };
    // Extensions run from the end of the header to the backing name (or
    // the end of the first cluster), as qemu reads them.
    let ext_end = if backing_offset != 0 {
        backing_offset.min(cluster)
    } else {
        cluster
    };
    let mut data_file = None;
    let mut off = ext_start;
    while off + 8 <= ext_end {
        let (Some(kind), Some(len)) = (be32(head, off as usize), be32(head, off as usize + 4))
        else {
            return Err(short());
        };
        if kind == 0 {
            break;
        }
        let data = off + 8;
        let end = data + len as u64;
        if end > ext_end {
            return Err(format!("qcow2 header extension {kind:#x} is out of bounds"));
        }
        let bytes = head.get(data as usize..end as usize).ok_or_else(short)?;
        match kind {
            EXT_BACKING_FORMAT => r.backing_format = Some(name_of(bytes)?),
            EXT_DATA_FILE => data_file = Some(name_of(bytes)?),
            _ => {}
        }
        off = end.div_ceil(8) * 8;
    }
    if incompat & INCOMPAT_DATA_FILE != 0 {
        r.data_file = Some(data_file.ok_or("qcow2 external data file without a name")?);
    }
    Ok(r)
}

fn name_of(b: &[u8]) -> std::result::Result<String, String> {
    let b = b.split(|c| *c == 0).next().unwrap_or_default();
    String::from_utf8(b.to_vec()).map_err(|_| "a file name in the header is not UTF-8".into())
}

/// What a VMDK refers to: the extents of a descriptor file, and the
/// parent named by `parentFileNameHint` wherever qemu would find it (a
/// plain substring search of the descriptor: a sparse file's at byte 512,
/// a descriptor file's from its start).
pub fn vmdk_refs(head: &[u8]) -> std::result::Result<Refs, String> {
    let sparse = head.starts_with(vmdk::SPARSE_MAGIC) || head.starts_with(b"COWD");
    let desc_at = if sparse { 512 } else { 0 };
    let desc = head.get(desc_at..).unwrap_or_default();
    let window = &desc[..desc.len().min(VMDK_DESC_SIZE)];
    let window = window.split(|c| *c == 0).next().unwrap_or_default();
    let mut r = Refs::default();
    if let Some(i) = find(window, b"parentFileNameHint") {
        // qemu skips `parentFileNameHint="` and reads up to the next quote.
        let rest = window.get(i + 20..).unwrap_or_default();
        let end = rest
            .iter()
            .position(|c| *c == b'"')
            .ok_or("parentFileNameHint without a closing quote")?;
        let name = name_of(&rest[..end])?;
        if !name.is_empty() {
            r.backing = Some(name);
            r.backing_format = Some("vmdk".into());
        }
    }
    if !sparse {
        let text = std::str::from_utf8(head.split(|c| *c == 0).next().unwrap_or_default())
            .map_err(|_| "VMDK descriptor is not UTF-8 text".to_string())?;
        let d = vmdk::parse_descriptor(text)?;
        r.extents = d.extents.into_iter().filter_map(|e| e.file).collect();
    }
    Ok(r)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The format qemu would probe from the first bytes of a file (`None`:
/// raw).  Only formats that can refer to other files need to be exact
/// (qcow2 and VMDK, whose probes this mirrors); the others are named so
/// that they are refused rather than served raw.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    let at = |o: usize, m: &[u8]| head.get(o..o + m.len()) == Some(m);
    if head.starts_with(QCOW2_MAGIC) {
        return Some(if be32(head, 4) == Some(1) {
            "qcow"
        } else {
            "qcow2"
        });
    }
    if head.starts_with(vmdk::SPARSE_MAGIC) || head.starts_with(b"COWD") || vmdk_text(head) {
        return Some("vmdk");
    }
    let known: [(usize, &[u8], &'static str); 8] = [
        (0, b"conectix", "vpc"),
        (0, b"vhdxfile", "vhdx"),
        (0, b"QED\0", "qed"),
        (0x40, &[0x7f, 0x10, 0xda, 0xbe], "vdi"),
        (0, b"LUKS\xba\xbe", "luks"),
        (0, b"WithoutFreeSpace", "parallels"),
        (0, b"WithouFreSpacExt", "parallels"),
        (0, b"Bochs Virtual HD Image", "bochs"),
    ];
    known.iter().find(|(o, m, _)| at(*o, m)).map(|k| k.2)
}

/// qemu's probe of a VMDK descriptor file: after `#` comment lines and
/// blank lines, a line `version=1`, `2` or `3`.
fn vmdk_text(head: &[u8]) -> bool {
    let mut rest = &head[..head.len().min(2048)];
    loop {
        match rest.first() {
            Some(b'#') => {
                let nl = rest.iter().position(|c| *c == b'\n');
                rest = nl.map(|i| &rest[i + 1..]).unwrap_or_default();
            }
            Some(b' ') => {
                let sp = rest.iter().take_while(|c| **c == b' ').count();
                let mut r = &rest[sp..];
                if r.first() == Some(&b'\r') {
                    r = &r[1..];
                }
                match r.first() {
                    Some(b'\n') => rest = &r[1..],
                    _ => return false,
                }
            }
            Some(_) => {
                return [b'1', b'2', b'3'].iter().any(|v| {
                    let mut l = b"version=".to_vec();
                    l.push(*v);
                    rest.starts_with(&[l.as_slice(), b"\n"].concat())
                        || rest.starts_with(&[l.as_slice(), b"\r\n"].concat())
                })
            }
            None => return false,
        }
    }
}

/// What [`refs_of`] found in the bytes `head` of an image in `format`.
pub fn refs_of(format: &str, head: &[u8]) -> std::result::Result<Refs, String> {
    match format {
        // Not a qcow2 header at all: qemu refuses to open it as qcow2.
        "qcow2" if !head.starts_with(QCOW2_MAGIC) => Ok(Refs::default()),
        "qcow2" => qcow2_refs(head),
        "vmdk" => vmdk_refs(head),
        // raw has no references; qemu opens no parent of a vpc or vhdx
        // (differencing images are not supported by it).
        _ => Ok(Refs::default()),
    }
}

/// True when qemu would take `name` as a `json:` or protocol name
/// (`nbd:`, `http://`, `file:`...) rather than a file: a `:` before any `/`.
pub fn is_protocol(name: &str) -> bool {
    name.starts_with("json:")
        || name
            .find([':', '/'])
            .is_some_and(|i| name.as_bytes()[i] == b':')
}

/// Why a reference is refused, in every such message.
pub const REFUSED: &str = "refused: a source image may only refer to files beside it";

/// Read up to [`HEAD_BYTES`] of `path`.
pub fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    std::fs::File::open(path)?
        .take(HEAD_BYTES)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// The format an image is opened in: the one given (`-if`, a description's
/// format), else the one its first bytes show; refused (exit 5) when it is
/// not one of the formats served.
pub fn format_of(shown: &str, given: Option<&str>, head: &[u8]) -> Result<String> {
    let f = given.or_else(|| sniff(head)).unwrap_or("raw");
    if FORMATS.contains(&f) {
        Ok(f.to_string())
    } else {
        Err(Failure::unsupported(format!(
            "{shown}: format {f} is not supported (supported: {})",
            FORMATS.join(", ")
        )))
    }
}

/// Vet the image at `path`, opened in `format`, and everything it refers
/// to (exit 5 for every refusal, naming the image and the reference).
pub fn vet(path: &Path, format: &str, scope: Scope) -> Result<Image> {
    let shown = path.display().to_string();
    let top = path
        .canonicalize()
        .map_err(|e| Failure::failed(format!("{shown}: {e}")))?;
    let root = top.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut v = Vetter {
        shown,
        root,
        scope,
        seen: vec![top.clone()],
    };
    let head = read_head(&top).map_err(|e| Failure::failed(format!("{}: {e}", v.shown)))?;
    v.image(top, format.to_string(), &head, 0)
}

/// Where the reference `name` (a `kind`: `extent`, ...) of the image at
/// `image` leads, when it may be followed: [`vet`]'s rule for one
/// reference (a regular file inside the image's directory, exit 5 if not).
pub fn resolve_beside(image: &Path, kind: &str, name: &str) -> Result<PathBuf> {
    let shown = image.display().to_string();
    let top = image
        .canonicalize()
        .map_err(|e| Failure::failed(format!("{shown}: {e}")))?;
    let v = Vetter {
        shown,
        root: top.parent().unwrap_or(Path::new("/")).to_path_buf(),
        scope: Scope::Beside,
        seen: vec![top.clone()],
    };
    v.resolve(&top, kind, name)
}

struct Vetter {
    /// The image as the user or description named it.
    shown: String,
    root: PathBuf,
    scope: Scope,
    /// Canonical paths of the chain so far.
    seen: Vec<PathBuf>,
}

impl Vetter {
    fn refuse(&self, at: &Path, what: impl std::fmt::Display) -> Failure {
        let within = if self.seen.first().map(PathBuf::as_path) == Some(at) {
            String::new()
        } else {
            format!(": backing image {}", at.display())
        };
        Failure::unsupported(format!("{}{within}: {what}", self.shown))
    }

    fn image(&mut self, path: PathBuf, format: String, head: &[u8], depth: usize) -> Result<Image> {
        let r = refs_of(&format, head).map_err(|e| self.refuse(&path, e))?;
        let data_file = match &r.data_file {
            Some(n) => Some(self.resolve(&path, "external data file", n)?),
            None => None,
        };
        let mut extents = Vec::new();
        for n in &r.extents {
            let p = self.resolve(&path, "extent", n)?;
            let h = read_head(&p).map_err(|e| self.refuse(&path, format!("extent ‘{n}’: {e}")))?;
            if let Some(f @ ("qcow2" | "vmdk")) = sniff(&h) {
                if !h.starts_with(vmdk::SPARSE_MAGIC) {
                    return Err(self.refuse(
                        &path,
                        format!("extent ‘{n}’ is itself a {f} image that may refer to other files"),
                    ));
                }
            }
            extents.push(p);
        }
        let backing = match &r.backing {
            None => None,
            Some(n) => {
                let p = self.resolve(&path, "backing file", n)?;
                if self.seen.contains(&p) {
                    return Err(self.refuse(
                        &path,
                        format!("backing file ‘{n}’ loops back to {} (refused)", p.display()),
                    ));
                }
                if depth + 1 > MAX_CHAIN_DEPTH {
                    return Err(self.refuse(
                        &path,
                        format!("backing chain is deeper than {MAX_CHAIN_DEPTH} images (refused)"),
                    ));
                }
                self.seen.push(p.clone());
                let h = read_head(&p)
                    .map_err(|e| self.refuse(&path, format!("backing file ‘{n}’: {e}")))?;
                let f = r
                    .backing_format
                    .clone()
                    .unwrap_or_else(|| sniff(&h).unwrap_or("raw").to_string());
                if !FORMATS.contains(&f.as_str()) {
                    return Err(self.refuse(
                        &path,
                        format!("backing file ‘{n}’ has format {f}, which is not supported"),
                    ));
                }
                Some(Box::new(self.image(p, f, &h, depth + 1)?))
            }
        };
        Ok(Image {
            path,
            format,
            backing,
            data_file,
            extents,
        })
    }

    /// Where the reference `name` of the image at `from` leads, if it may
    /// be followed: a regular file inside the image's directory.
    fn resolve(&self, from: &Path, kind: &str, name: &str) -> Result<PathBuf> {
        if self.scope == Scope::Alone {
            return Err(self.refuse(
                from,
                format!(
                    "{kind} ‘{name}’ (refused: an image in an archive may not refer to any file)"
                ),
            ));
        }
        if is_protocol(name) {
            return Err(self.refuse(
                from,
                format!("{kind} ‘{name}’ is a json: or protocol name, not a file ({REFUSED})"),
            ));
        }
        let dir = from.parent().unwrap_or(Path::new("/"));
        let joined = dir.join(OsStr::from_bytes(name.as_bytes()));
        let p = joined.canonicalize().map_err(|e| {
            let mut f = self.refuse(from, format!("{kind} ‘{name}’: {e}"));
            if e.kind() == std::io::ErrorKind::NotFound {
                // As for any file a description names and is missing.
                f.code = v2v_meta::exit_code::CONTRACT;
            }
            f
        })?;
        if !p.starts_with(&self.root) {
            return Err(self.refuse(
                from,
                format!(
                    "{kind} ‘{name}’ is outside the image's directory {} ({REFUSED})",
                    self.root.display()
                ),
            ));
        }
        let is_file = std::fs::metadata(&p).map(|m| m.is_file()).unwrap_or(false);
        if !is_file {
            return Err(self.refuse(
                from,
                format!("{kind} ‘{name}’ is not a regular file ({REFUSED})"),
            ));
        }
        Ok(p)
    }
}

/// Refuse an image held in an archive (`what` names it) if its header
/// refers to any file: it has no directory of its own.
pub fn refuse_any(what: &str, format: &str, head: &[u8]) -> Result<()> {
    let r = refs_of(format, head).map_err(|e| Failure::unsupported(format!("{what}: {e}")))?;
    let named = r
        .backing
        .iter()
        .map(|n| ("backing file", n))
        .chain(r.data_file.iter().map(|n| ("external data file", n)))
        .chain(r.extents.iter().map(|n| ("extent", n)))
        .next();
    match named {
        None => Ok(()),
        Some((kind, n)) => Err(Failure::unsupported(format!(
            "{what}: {kind} ‘{n}’ (refused: an image in an archive may not refer to any file)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A qcow2 v3 header (64 KiB clusters) naming `backing` (at 512),
    /// with `exts` (type, data) after the 104-byte header, and the
    /// incompatible feature bits `incompat`.
    fn qcow2(backing: Option<&str>, exts: &[(u32, &[u8])], incompat: u64) -> Vec<u8> {
        let mut h = vec![0u8; 4096];
        h[0..4].copy_from_slice(QCOW2_MAGIC);
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        if let Some(b) = backing {
            h[8..16].copy_from_slice(&512u64.to_be_bytes());
            h[16..20].copy_from_slice(&(b.len() as u32).to_be_bytes());
            h[512..512 + b.len()].copy_from_slice(b.as_bytes());
        }
        h[20..24].copy_from_slice(&16u32.to_be_bytes());
        h[72..80].copy_from_slice(&incompat.to_be_bytes());
        h[100..104].copy_from_slice(&104u32.to_be_bytes());
        let mut off = 104;
        for (kind, data) in exts {
            h[off..off + 4].copy_from_slice(&kind.to_be_bytes());
            h[off + 4..off + 8].copy_from_slice(&(data.len() as u32).to_be_bytes());
            h[off + 8..off + 8 + data.len()].copy_from_slice(data);
            off += 8 + data.len().div_ceil(8) * 8;
        }
        h
    }

    #[test]
    fn qcow2_headers() {
        let r = qcow2_refs(&qcow2(None, &[], 0)).unwrap();
        assert_eq!(r, Refs::default());
        let r = qcow2_refs(&qcow2(
            Some("/etc/passwd"),
            &[(EXT_BACKING_FORMAT, b"raw")],
            0,
        ))
        .unwrap();
        assert_eq!(r.backing.as_deref(), Some("/etc/passwd"));
        assert_eq!(r.backing_format.as_deref(), Some("raw"));
        assert_eq!(r.data_file, None);
        // The data file counts only with its feature bit, and the bit
        // without a name is refused.
        let h = qcow2(None, &[(EXT_DATA_FILE, b"data.raw")], 0);
        assert_eq!(qcow2_refs(&h).unwrap().data_file, None);
        let h = qcow2(None, &[(EXT_DATA_FILE, b"data.raw")], INCOMPAT_DATA_FILE);
        assert_eq!(
            qcow2_refs(&h).unwrap().data_file.as_deref(),
            Some("data.raw")
        );
        let e = qcow2_refs(&qcow2(None, &[], INCOMPAT_DATA_FILE)).unwrap_err();
        assert!(e.contains("without a name"), "{e}");
        // Malformed headers.
        assert!(qcow2_refs(b"QFI\xfb").is_err());
        assert!(qcow2_refs(b"nope").is_err());
        let mut h = qcow2(None, &[], 0);
        h[7] = 1;
        assert!(qcow2_refs(&h).unwrap_err().contains("version 1"));
        let mut h = qcow2(Some("x"), &[], 0);
        h[16..20].copy_from_slice(&5000u32.to_be_bytes());
        assert!(qcow2_refs(&h).unwrap_err().contains("out of bounds"));
        let mut h = qcow2(None, &[(EXT_DATA_FILE, b"d")], INCOMPAT_DATA_FILE);
        h[108..112].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(qcow2_refs(&h).is_err());
        // A version 2 header: extensions right after its 72 bytes.
        let mut h = qcow2(Some("b.qcow2"), &[], 0);
        h[4..8].copy_from_slice(&2u32.to_be_bytes());
        h[72..80].copy_from_slice(&[0; 8]);
        h[72..76].copy_from_slice(&EXT_BACKING_FORMAT.to_be_bytes());
        h[76..80].copy_from_slice(&5u32.to_be_bytes());
        h[80..85].copy_from_slice(b"qcow2");
        let r = qcow2_refs(&h).unwrap();
        assert_eq!(r.backing.as_deref(), Some("b.qcow2"));
        assert_eq!(r.backing_format.as_deref(), Some("qcow2"));
    }

    #[test]
    fn vmdk_references() {
        let d = b"# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"g-flat.vmdk\" 0\n";
        let r = vmdk_refs(d).unwrap();
        assert_eq!(r.extents, ["g-flat.vmdk"]);
        assert_eq!(r.backing, None);
        // qemu finds parentFileNameHint anywhere, even in a comment.
        let d = b"# Disk DescriptorFile\n# parentFileNameHint=\"/etc/passwd\"\nversion=1\ncreateType=\"vmfs\"\nRW 8 VMFS \"g-flat.vmdk\"\n";
        let r = vmdk_refs(d).unwrap();
        assert_eq!(r.backing.as_deref(), Some("/etc/passwd"));
        assert_eq!(r.backing_format.as_deref(), Some("vmdk"));
        let e = vmdk_refs(b"# Disk DescriptorFile\nRW 8 FLAT \"/etc/passwd\" 0\n").unwrap_err();
        assert!(e.contains("‘/etc/passwd’"), "{e}");
        // A sparse file: its embedded descriptor at 512.
        let mut h = vec![0u8; 1024];
        h[0..4].copy_from_slice(vmdk::SPARSE_MAGIC);
        let hint = b"# Disk DescriptorFile\nparentFileNameHint=\"base.vmdk\"";
        h[512..512 + hint.len()].copy_from_slice(hint);
        let r = vmdk_refs(&h).unwrap();
        assert_eq!(r.backing.as_deref(), Some("base.vmdk"));
        assert!(r.extents.is_empty());
        h[512 + hint.len() - 1] = b' ';
        assert!(vmdk_refs(&h).is_err());
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(&qcow2(None, &[], 0)), Some("qcow2"));
        assert_eq!(sniff(b"KDMV\x01\0\0\0"), Some("vmdk"));
        assert_eq!(sniff(b"# Disk DescriptorFile\nversion=1\n"), Some("vmdk"));
        // As qemu: an empty line is neither a comment nor blank spaces.
        assert_eq!(sniff(b"# Disk DescriptorFile\n\nversion=1\n"), None);
        assert_eq!(sniff(b"   \r\nversion=2\r\n"), Some("vmdk"));
        assert_eq!(sniff(b"# c\nCID=1\nversion=1\n"), None);
        assert_eq!(sniff(b"conectix\0\0"), Some("vpc"));
        assert_eq!(sniff(b"vhdxfile"), Some("vhdx"));
        assert_eq!(sniff(b"QED\0...."), Some("qed"));
        assert_eq!(sniff(&[0u8; 512]), None);
        let mut h = qcow2(None, &[], 0);
        h[4..8].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(sniff(&h), Some("qcow"));
    }

    #[test]
    fn protocol_names() {
        for p in [
            "json:{}",
            "nbd:unix:/tmp/s",
            "nbd+unix:///?socket=/s",
            "http://h/x",
            "file:/etc/passwd",
            "ssh://h/x",
            "a:b",
        ] {
            assert!(is_protocol(p), "{p}");
        }
        for p in ["b.qcow2", "/etc/passwd", "./a:b", "dir/x:y", "../x"] {
            assert!(!is_protocol(p), "{p}");
        }
    }

    /// A qcow2 header file at `p` naming `backing`.
    fn write_qcow2(p: &Path, backing: &str, format: Option<&str>) {
        let exts: Vec<(u32, &[u8])> = format
            .iter()
            .map(|f| (EXT_BACKING_FORMAT, f.as_bytes()))
            .collect();
        std::fs::write(p, qcow2(Some(backing), &exts, 0)).unwrap();
    }

    #[test]
    fn vetting_chains() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir(&src).unwrap();
        let host = t.path().join("host-secret");
        std::fs::write(&host, b"secret").unwrap();
        std::fs::write(src.join("base.raw"), [0u8; 512]).unwrap();
        let top = src.join("a.qcow2");
        let vet_a = |backing: &str| {
            write_qcow2(&top, backing, None);
            vet(&top, "qcow2", Scope::Beside)
        };
        // Beside (relative or absolute): followed, format sniffed.
        let img = vet_a("base.raw").unwrap();
        let base = src.canonicalize().unwrap().join("base.raw");
        assert_eq!(img.backing.as_ref().unwrap().path, base);
        assert_eq!(img.backing.as_ref().unwrap().format, "raw");
        assert!(vet_a(&base.display().to_string()).is_ok());
        let j = img.qemu_json();
        assert_eq!(j["backing"]["file"]["filename"], base.display().to_string());
        assert_eq!(j["backing"].get("backing"), None, "raw has no backing");
        assert!(vet(&src.join("base.raw"), "raw", Scope::Beside)
            .unwrap()
            .qemu_json()
            .get("backing")
            .is_none());
        // Outside, through .., by a symlink, protocol names, directories:
        // refused (exit 5), naming the image and the name; a missing file
        // is a contract error (exit 3), as in a description.
        for (name, why) in [
            (
                host.display().to_string(),
                "is outside the image's directory",
            ),
            ("../host-secret".into(), "is outside the image's directory"),
            ("json:{\"driver\":\"raw\"}".into(), "json: or protocol name"),
            (
                "nbd+unix:///?socket=/tmp/s".into(),
                "json: or protocol name",
            ),
            ("nope.qcow2".into(), "No such file"),
            (".".into(), "is not a regular file"),
        ] {
            let e = vet_a(&name).unwrap_err();
            assert_eq!(e.code, if name == "nope.qcow2" { 3 } else { 5 }, "{name}");
            assert!(
                e.message
                    .starts_with(&format!("{}: backing file ‘{name}’", top.display()))
                    && e.message.contains(why),
                "{name}: {}",
                e.message
            );
        }
        std::os::unix::fs::symlink(&host, src.join("link")).unwrap();
        assert!(vet_a("link").unwrap_err().message.contains("outside"));
        // Archive members refer to nothing.
        write_qcow2(&top, "base.raw", None);
        let e = vet(&top, "qcow2", Scope::Alone).unwrap_err();
        assert!(e.message.contains("in an archive"), "{}", e.message);
        // A loop a -> b -> a, and a chain deeper than the bound.
        write_qcow2(&src.join("b.qcow2"), "a.qcow2", Some("qcow2"));
        let e = vet_a("b.qcow2").unwrap_err();
        assert!(
            e.message.contains("backing image") && e.message.contains("loops back"),
            "{}",
            e.message
        );
        for i in 0..=MAX_CHAIN_DEPTH {
            write_qcow2(&src.join(format!("c{i}")), &format!("c{}", i + 1), None);
        }
        std::fs::write(src.join(format!("c{}", MAX_CHAIN_DEPTH + 1)), [0u8; 512]).unwrap();
        let e = vet(&src.join("c0"), "qcow2", Scope::Beside).unwrap_err();
        assert!(e.message.contains("deeper than 16"), "{}", e.message);
        assert!(vet(&src.join("c1"), "qcow2", Scope::Beside).is_ok());
        // A backing format we do not serve.
        write_qcow2(&top, "base.raw", Some("qed"));
        assert!(vet(&top, "qcow2", Scope::Beside)
            .unwrap_err()
            .message
            .contains("format qed"));
        // refuse_any: for archive members.
        assert!(refuse_any("m", "qcow2", &qcow2(None, &[], 0)).is_ok());
        let e = refuse_any("m", "qcow2", &qcow2(Some("/etc/passwd"), &[], 0)).unwrap_err();
        assert!(
            e.message.starts_with("m: backing file ‘/etc/passwd’"),
            "{}",
            e.message
        );
        // resolve_beside: one reference.
        assert_eq!(resolve_beside(&top, "extent", "base.raw").unwrap(), base);
        assert!(resolve_beside(&top, "extent", "link").is_err());
    }

    #[test]
    fn vetting_vmdk() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("g.vmdk");
        std::fs::write(t.path().join("g-flat.vmdk"), [0u8; 4096]).unwrap();
        let desc = |extent: &str| {
            format!("# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"{extent}\" 0\n")
        };
        std::fs::write(&d, desc("g-flat.vmdk")).unwrap();
        let img = vet(&d, "vmdk", Scope::Beside).unwrap();
        assert_eq!(img.extents.len(), 1);
        assert_eq!(img.files().len(), 2);
        std::fs::write(&d, desc("missing-flat.vmdk")).unwrap();
        assert!(vet(&d, "vmdk", Scope::Beside).is_err());
        // An extent that is itself a qcow2 image: refused.
        std::fs::write(t.path().join("q-flat.vmdk"), qcow2(None, &[], 0)).unwrap();
        std::fs::write(&d, desc("q-flat.vmdk")).unwrap();
        let e = vet(&d, "vmdk", Scope::Beside).unwrap_err();
        assert!(e.message.contains("itself a qcow2"), "{}", e.message);
    }
}
