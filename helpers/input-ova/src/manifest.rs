//! OVF manifests (`.mf`): `SHA1(file)= hex` / `SHA256(file)= hex` lines.

use sha1::Digest;
use std::io::Read;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `SHA1` or `SHA256`.
    pub algorithm: String,
    pub file: String,
    /// Lower-case hex digest.
    pub digest: String,
}

/// Parse manifest text.  Blank lines are skipped; any other line that is
/// not `ALG(file)= hex` with a known algorithm is an error.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut v = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = || format!("line not understood: {line:?}");
        let (alg, rest) = line.split_once('(').ok_or_else(bad)?;
        let (file, rest) = rest.rsplit_once(")=").ok_or_else(bad)?;
        let alg = alg.trim().to_ascii_uppercase();
        let digest = rest.trim().to_ascii_lowercase();
        let want_len = match alg.as_str() {
            "SHA1" => 40,
            "SHA256" => 64,
            _ => return Err(format!("unsupported digest algorithm {alg:?}")),
        };
        if digest.len() != want_len || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("bad {alg} digest for {file:?}"));
        }
        v.push(Entry {
            algorithm: alg,
            file: file.trim().to_string(),
            digest,
        });
    }
    Ok(v)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn digest<D: Digest>(mut r: impl Read) -> std::io::Result<String> {
    let mut h = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Check one entry against the file's bytes.
pub fn verify(e: &Entry, r: impl Read) -> Result<(), String> {
    let got = match e.algorithm.as_str() {
        "SHA1" => digest::<sha1::Sha1>(r),
        _ => digest::<sha2::Sha256>(r),
    }
    .map_err(|err| format!("{}: {err}", e.file))?;
    if got != e.digest {
        return Err(format!(
            "{} checksum of {} does not match (manifest {}, file {got})",
            e.algorithm, e.file, e.digest
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_verify() {
        let t = "SHA1(a.ovf)= a9993e364706816aba3e25717850c26c9cd0d89d\n\nSHA256(d (1).vmdk)= BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\n";
        let v = parse(t).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].file, "d (1).vmdk");
        verify(&v[0], &b"abc"[..]).unwrap();
        verify(&v[1], &b"abc"[..]).unwrap();
        let e = verify(&v[1], &b"abd"[..]).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        assert!(parse("MD5(x)= 900150983cd24fb0d6963f7d28e17f72").is_err());
        assert!(parse("SHA1(x)= 12").is_err());
        assert!(parse("garbage").is_err());
    }
}
