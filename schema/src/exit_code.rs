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

#[cfg(test)]
mod tests {
    use crate::FailureKind;

    #[test]
    fn kinds() {
        assert_eq!(
            FailureKind::of_exit_code(super::CONTRACT),
            FailureKind::Contract
        );
        assert_eq!(
            FailureKind::of_exit_code(super::UNSUPPORTED),
            FailureKind::Unsupported
        );
        assert_eq!(FailureKind::of_exit_code(super::USAGE), FailureKind::Usage);
        assert_eq!(
            FailureKind::of_exit_code(super::EXTERNAL),
            FailureKind::External
        );
        assert_eq!(FailureKind::of_exit_code(42), FailureKind::Failed);
        let names: Vec<String> = [1, 2, 3, 4, 5]
            .map(|c| serde_json::to_string(&FailureKind::of_exit_code(c)).unwrap())
            .to_vec();
        assert_eq!(
            names,
            [
                r#""failed""#,
                r#""usage""#,
                r#""contract""#,
                r#""external""#,
                r#""unsupported""#
            ]
        );
    }
}
