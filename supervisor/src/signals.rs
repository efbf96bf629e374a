//! SIGINT / SIGTERM / SIGHUP: remembered, so the run can forward the signal
//! to the running helper, clean up, and exit with 128 + the signal number.

use std::sync::atomic::{AtomicI32, Ordering};

static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // Keep the first signal: it decides the exit code.
    let _ = PENDING.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// Catch SIGINT, SIGTERM and SIGHUP from now on.
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a handler that only stores to an
        // atomic is async-signal-safe; the pointers passed are valid.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The first signal received, if any.
pub fn pending() -> Option<i32> {
    match PENDING.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The signal's short name (`INT`), for messages.
pub fn name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "INT".into(),
        libc::SIGTERM => "TERM".into(),
        libc::SIGHUP => "HUP".into(),
        libc::SIGKILL => "KILL".into(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn caught_signal_is_pending() {
        super::install();
        assert_eq!(super::pending(), None);
        // SAFETY: raising a signal we just installed a handler for.
        unsafe { libc::raise(libc::SIGHUP) };
        assert_eq!(super::pending(), Some(libc::SIGHUP));
        assert_eq!(super::name(libc::SIGINT), "INT");
    }
}
