//! The failure type every helper returns, mapped to the shared exit codes.

use std::fmt;
use v2v_meta::exit_code;

/// A step failure: an exit code class, a one-line message, the disk at
/// fault (if any) and the chain of underlying causes.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub disk: Option<u32>,
    pub causes: Vec<String>,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            disk: None,
            causes: Vec::new(),
        }
    }
    /// Generic failure (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(exit_code::FAILED, message)
    }
    /// Bad arguments found after parsing (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(exit_code::USAGE, message)
    }
    /// Missing or invalid temp-directory file or socket (exit 3).
    pub fn contract(message: impl Into<String>) -> Self {
        Self::new(exit_code::CONTRACT, message)
    }
    /// An external program failed (exit 4).
    pub fn external(message: impl Into<String>) -> Self {
        Self::new(exit_code::EXTERNAL, message)
    }
    /// The guest or source cannot be handled (exit 5).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(exit_code::UNSUPPORTED, message)
    }
    /// Name the disk at fault (1-based).
    pub fn disk(mut self, n: u32) -> Self {
        self.disk = Some(n);
        self
    }
    /// Add an underlying cause.
    pub fn cause(mut self, c: impl fmt::Display) -> Self {
        self.causes.push(c.to_string());
        self
    }
    /// Prefix the message with context (`disk 2: ...`).
    pub fn context(mut self, c: impl fmt::Display) -> Self {
        self.message = format!("{c}: {}", self.message);
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<v2v_meta::ContractError> for Failure {
    fn from(e: v2v_meta::ContractError) -> Self {
        Failure::contract(e.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::failed(e.to_string())
    }
}

/// `Result` with [`Failure`].
pub type Result<T> = std::result::Result<T, Failure>;

/// Attach a failure class to any error: `x.or_fail(Failure::external)?`.
pub trait OrFail<T> {
    fn or_fail(self, class: fn(String) -> Failure) -> Result<T>;
}

impl<T, E: fmt::Display> OrFail<T> for std::result::Result<T, E> {
    fn or_fail(self, class: fn(String) -> Failure) -> Result<T> {
        self.map_err(|e| class(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_exit_codes() {
        assert_eq!(Failure::failed("x").code, 1);
        assert_eq!(Failure::usage("x").code, 2);
        assert_eq!(Failure::contract("x").code, 3);
        assert_eq!(Failure::external("x").code, 4);
        assert_eq!(Failure::unsupported("x").code, 5);
        let f = Failure::external("nbdkit did not start")
            .disk(2)
            .context("in2");
        assert_eq!(f.disk, Some(2));
        assert_eq!(f.to_string(), "in2: nbdkit did not start");
        let r: std::result::Result<(), &str> = Err("boom");
        let f = r.or_fail(Failure::contract).unwrap_err();
        assert_eq!((f.code, f.message.as_str()), (3, "boom"));
        let ce = v2v_meta::read_json::<v2v_meta::StepDone>(std::path::Path::new("/nonexistent/x"))
            .unwrap_err();
        assert_eq!(Failure::from(ce).code, 3);
    }
}
