//! Units of the command lines: sizes in bytes and virt-v2v's bandwidths in
//! bits per second, both with binary suffixes.

/// `s` as a number times a binary multiple: `suffix(lowercased)` gives the
/// multiple of a suffix it knows, `what` names the unit and the suffixes
/// for the errors.
fn scaled(s: &str, what: &str, suffix: fn(&str) -> Option<u64>) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suf) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| format!("{s:?}: not {what}"))?;
    let mult = suffix(&suf.to_ascii_lowercase())
        .ok_or_else(|| format!("{s:?}: unknown suffix {suf:?} for {what}"))?;
    n.checked_mul(mult).ok_or_else(|| format!("{s:?}: too big"))
}

/// A size in bytes: `1048576`, `64K`, `1M`, `2MiB`, `1G`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    scaled(s, "a size (e.g. 64K, 2M, 1G)", |suf| match suf {
        "" | "b" => Some(1),
        "k" | "kib" => Some(1 << 10),
        "m" | "mib" => Some(1 << 20),
        "g" | "gib" => Some(1 << 30),
        _ => None,
    })
}

/// A rate in bits per second, as virt-v2v's `--bandwidth` (nbdkit's
/// `rate=BITSPERSEC`): `1000000`, `10M`, `512K`, `1G`, `1T`.
pub fn parse_bps(s: &str) -> Result<u64, String> {
    scaled(
        s,
        "a bandwidth in bits per second (e.g. 10M)",
        |suf| match suf {
            "" | "b" => Some(1),
            "k" => Some(1 << 10),
            "m" => Some(1 << 20),
            "g" => Some(1 << 30),
            "t" => Some(1 << 40),
            _ => None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("1T").is_err());
        assert!(parse_size("x").unwrap_err().contains("not a size"));
    }

    #[test]
    fn parses_virt_v2v_bandwidths() {
        assert_eq!(parse_bps("1000000"), Ok(1_000_000));
        assert_eq!(parse_bps("10M"), Ok(10 << 20));
        assert_eq!(parse_bps("512k"), Ok(512 << 10));
        assert_eq!(parse_bps(" 1G\n"), Ok(1 << 30));
        assert_eq!(parse_bps("0"), Ok(0));
        assert!(parse_bps("fast").unwrap_err().contains("bits per second"));
        assert!(parse_bps("10X").unwrap_err().contains("suffix"));
        assert!(parse_bps("10MiB").is_err(), "a size, not a rate");
        assert!(parse_bps("99999999999999999999").is_err());
        assert!(parse_bps("99999999999T").unwrap_err().contains("too big"));
    }
}
