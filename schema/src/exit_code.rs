//! Exit codes shared by every helper and the supervisor (docs/exit-codes.md).

/// The step finished; `status/<step>.done` was written.
pub const OK: u8 = 0;
/// The step failed (I/O error, bug, anything not classed below).
pub const FAILED: u8 = 1;
/// Usage error: bad flags or arguments.
pub const USAGE: u8 = 2;
/// Contract error: a missing or invalid file or socket in the temp directory,
/// an unknown contract version.
pub const CONTRACT: u8 = 3;
/// An external program (nbdkit, qemu-nbd, qemu-img, virsh, ...) failed.
pub const EXTERNAL: u8 = 4;
/// The guest (or source) is not supported: nothing to convert, or cannot be converted.
pub const UNSUPPORTED: u8 = 5;

/// The name of a failure class, as written in `status/<step>.error.json`.
pub fn kind_name(code: u8) -> &'static str {
    match code {
        OK => "ok",
        USAGE => "usage",
        CONTRACT => "contract",
        EXTERNAL => "external",
        UNSUPPORTED => "unsupported",
        _ => "failed",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(super::kind_name(super::CONTRACT), "contract");
        assert_eq!(super::kind_name(super::UNSUPPORTED), "unsupported");
        assert_eq!(super::kind_name(42), "failed");
    }
}
