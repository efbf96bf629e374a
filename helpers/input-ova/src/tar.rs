//! Just enough of tar (ustar, GNU long names, pax headers) to list the
//! members of an OVA with their data offsets, so disks are served in place.
//! A member whose path is absolute, contains `..`, or that is a link or
//! device is refused: the whole archive is rejected.

use std::io::{Read, Seek, SeekFrom};

/// A regular file inside the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    /// Byte offset of the data in the archive.
    pub offset: u64,
    pub size: u64,
}

fn octal(field: &[u8]) -> Result<u64, String> {
    // GNU base-256 for large sizes.
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = (field[0] & 0x7f) as u64;
        for b in &field[1..] {
            v = v.checked_mul(256).ok_or("size overflow")? + *b as u64;
        }
        return Ok(v);
    }
    let s: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).map_err(|_| format!("bad octal field {s:?}"))
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Check a member path: relative, no `..`.
pub fn check_path(name: &str) -> Result<(), String> {
    if name.starts_with('/') {
        return Err(format!("member {name:?} has an absolute path"));
    }
    if name.split('/').any(|c| c == "..") {
        return Err(format!("member {name:?} contains '..'"));
    }
    Ok(())
}

/// List the regular-file members of a tar archive.
pub fn list<R: Read + Seek>(r: &mut R) -> Result<Vec<Member>, String> {
    let mut out: Vec<Member> = Vec::new();
    let len = r.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    let mut pos: u64 = 0;
    let mut long_name: Option<String> = None;
    let mut zero_blocks = 0;
    loop {
        let mut h = [0u8; 512];
        r.seek(SeekFrom::Start(pos)).map_err(|e| e.to_string())?;
        match r.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.to_string()),
        }
        if h.iter().all(|b| *b == 0) {
            zero_blocks += 1;
            if zero_blocks == 2 {
                break;
            }
            pos += 512;
            continue;
        }
        zero_blocks = 0;
        // Header checksum: bytes summed with the checksum field as spaces.
        let want = octal(&h[148..156])
            .map_err(|_| format!("bad tar header at offset {pos} (not a tar file?)"))?;
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    *b as u64
                }
            })
            .sum();
        if want != sum {
            return Err(format!(
                "bad tar header checksum at offset {pos} (not a tar file?)"
            ));
        }
        let size = octal(&h[124..136])?;
        let typeflag = h[156];
        let mut name = cstr(&h[0..100]);
        if &h[257..262] == b"ustar" {
            let prefix = cstr(&h[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let data = pos + 512;
        let next = data + size.div_ceil(512) * 512;
        match typeflag {
            b'L' | b'x' => {
                // GNU long name / pax extended header: read its (small) data.
                if size > 1 << 20 {
                    return Err(format!("oversized extended header at offset {pos}"));
                }
                let mut buf = vec![0u8; size as usize];
                r.seek(SeekFrom::Start(data)).map_err(|e| e.to_string())?;
                r.read_exact(&mut buf).map_err(|e| e.to_string())?;
                if typeflag == b'L' {
                    long_name = Some(cstr(&buf));
                } else {
                    let text = String::from_utf8_lossy(&buf);
                    for rec in text.lines() {
                        if let Some(p) = rec.split_once(" path=") {
                            long_name = Some(p.1.to_string());
                        }
                    }
                }
            }
            b'g' => {}
            b'0' | 0 | b'7' => {
                let name = long_name.take().unwrap_or(name);
                let name = name.strip_prefix("./").unwrap_or(&name).to_string();
                check_path(&name)?;
                if out.iter().any(|m| m.name == name) {
                    return Err(format!(
                        "member {name:?} appears twice (which one is meant cannot be told)"
                    ));
                }
                if data.saturating_add(size) > len {
                    return Err(format!(
                        "member {name:?} is truncated: {size} bytes at offset {data}, \
                         the archive ends at {len}"
                    ));
                }
                out.push(Member {
                    name,
                    offset: data,
                    size,
                });
            }
            b'5' => {
                let n = long_name.take().unwrap_or(name);
                check_path(&n)?;
            }
            b'1' | b'2' => {
                let n = long_name.take().unwrap_or(name);
                return Err(format!("member {n:?} is a link"));
            }
            t => {
                let n = long_name.take().unwrap_or(name);
                return Err(format!("member {n:?} has unsupported type {:?}", t as char));
            }
        }
        pos = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn header(name: &str, size: u64, typeflag: u8) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = typeflag;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|b| *b as u64).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    fn archive(entries: &[(&str, &[u8], u8)]) -> Vec<u8> {
        let mut v = Vec::new();
        for (n, d, t) in entries {
            v.extend_from_slice(&header(n, d.len() as u64, *t));
            v.extend_from_slice(d);
            v.resize(v.len().div_ceil(512) * 512, 0);
        }
        v.extend_from_slice(&[0u8; 1024]);
        v
    }

    #[test]
    fn lists_members_with_offsets() {
        let a = archive(&[
            ("g.ovf", b"<x/>", b'0'),
            ("./g.mf", b"abc", b'0'),
            ("d", b"", b'5'),
        ]);
        let m = list(&mut Cursor::new(&a)).unwrap();
        assert_eq!(
            m,
            vec![
                Member {
                    name: "g.ovf".into(),
                    offset: 512,
                    size: 4
                },
                Member {
                    name: "g.mf".into(),
                    offset: 1536,
                    size: 3
                },
            ]
        );
        assert_eq!(&a[1536..1539], b"abc");
    }

    #[test]
    fn refuses_hostile_members() {
        for (n, t) in [
            ("../etc/passwd", b'0'),
            ("/etc/passwd", b'0'),
            ("a/../../b", b'0'),
            ("l", b'2'),
            ("h", b'1'),
            ("dev", b'3'),
        ] {
            let a = archive(&[(n, b"x", t)]);
            assert!(list(&mut Cursor::new(&a)).is_err(), "{n}");
        }
        let a = archive(&[("d.vmdk", b"x", b'0'), ("./d.vmdk", b"y", b'0')]);
        let e = list(&mut Cursor::new(&a)).unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
        let mut a = archive(&[("d.vmdk", &[7u8; 2000], b'0')]);
        a.truncate(1024);
        let e = list(&mut Cursor::new(&a)).unwrap_err();
        assert!(e.contains("is truncated"), "{e}");
        let mut a = archive(&[("g.ovf", b"x", b'0')]);
        a[0] = b'h';
        assert!(list(&mut Cursor::new(&a)).unwrap_err().contains("checksum"));
    }

    #[test]
    fn gnu_long_names() {
        let long = "x".repeat(150) + ".vmdk";
        let a = archive(&[
            ("././@LongLink", long.as_bytes(), b'L'),
            ("short", b"data", b'0'),
        ]);
        let m = list(&mut Cursor::new(&a)).unwrap();
        assert_eq!(m[0].name, long);
        let a = archive(&[
            ("././@LongLink", b"../evil", b'L'),
            ("short", b"data", b'0'),
        ]);
        assert!(list(&mut Cursor::new(&a)).is_err());
    }
}
