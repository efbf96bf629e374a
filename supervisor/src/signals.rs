//! SIGINT / SIGTERM / SIGHUP: remembered, so the run can forward the signal
//! to the running helper, clean up, and exit with 128 + the signal number.

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::ffi::c_int;
use std::sync::atomic::{AtomicI32, Ordering};

static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: c_int) {
    // Keep the first signal: it decides the exit code.
    let _ = PENDING.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// Catch SIGINT, SIGTERM and SIGHUP from now on.
pub fn install() {
    let sa = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        if let Err(e) = unsafe { sigaction(sig, &sa) } {
            helper_common::debug!("sigaction({sig}): {e}");
        }
    }
}

/// The first signal received, if any.
pub fn pending() -> Option<Signal> {
    match PENDING.load(Ordering::SeqCst) {
        0 => None,
        s => Signal::try_from(s).ok(),
    }
}

/// The signal's short name (`INT`), for messages.
pub fn name(sig: Signal) -> &'static str {
    let s = sig.as_str();
    s.strip_prefix("SIG").unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_signal_is_pending() {
        install();
        assert_eq!(pending(), None);
        nix::sys::signal::raise(Signal::SIGHUP).unwrap();
        assert_eq!(pending(), Some(Signal::SIGHUP));
        assert_eq!(name(Signal::SIGINT), "INT");
    }
}
