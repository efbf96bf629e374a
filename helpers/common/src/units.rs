//! Units of the command lines: virt-v2v's bandwidths.

/// Parse a rate in bits per second: `1000000`, `10M`, `512K`, `1G`
/// (suffixes binary, as nbdkit's `rate=BITSPERSEC`).  Returns bits/s.
pub fn parse_bps(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: not a bandwidth in bits per second (e.g. 10M)"))?;
    let mult: u64 = match suffix {
        "" | "b" | "B" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        "t" | "T" => 1 << 40,
        _ => {
            return Err(format!(
                "{s:?}: unknown suffix {suffix:?} (use K, M, G or T)"
            ))
        }
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s:?}: too big"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_virt_v2v_bandwidths() {
        assert_eq!(parse_bps("1000000"), Ok(1_000_000));
        assert_eq!(parse_bps("10M"), Ok(10 << 20));
        assert_eq!(parse_bps("512k"), Ok(512 << 10));
        assert_eq!(parse_bps(" 1G\n"), Ok(1 << 30));
        assert_eq!(parse_bps("0"), Ok(0));
        assert!(parse_bps("fast").is_err());
        assert!(parse_bps("10X").unwrap_err().contains("suffix"));
        assert!(parse_bps("99999999999999999999").is_err());
        assert!(parse_bps("99999999999T").unwrap_err().contains("too big"));
    }
}
