//! `--bandwidth BPS` and `--bandwidth-file FILE`: a limit on the bytes
//! read from the sources per second, all disks and connections together.
//!
//! The flags are virt-v2v's, with their meaning: bits per second, `10M`
//! style suffixes (binary, as nbdkit's `rate=`), and a file holding the same
//! that is re-read every second while the copy runs, so an operator (or
//! `virt-v2v-batch`) can change the limit of a running copy.  `0`, or no
//! limit given, means unlimited.  Upstream hands them to nbdkit's rate
//! filter on the input; here the copier itself paces its reads.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use helper_common::units::parse_bps;

/// How often the bandwidth file is read.
const REREAD: Duration = Duration::from_secs(1);

/// The shared pacer: a token bucket in bytes, one second deep.  A caller
/// that takes more than is there waits for the deficit (so the long-run
/// rate is exact whatever the request size).
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<State>,
    file: Option<PathBuf>,
}

#[derive(Debug)]
struct State {
    /// Bytes per second; 0 = unlimited.
    rate: u64,
    /// Bytes that may go now (negative: owed).
    avail: f64,
    last: Instant,
    read_at: Option<Instant>,
    /// The file's last complaint, so each is logged once.
    complaint: Option<String>,
}

impl Limiter {
    /// `bps`: the initial limit in bits per second (0 or `None`:
    /// unlimited); `file`: re-read every second, its limit replaces it.
    pub fn new(bps: Option<u64>, file: Option<PathBuf>) -> Self {
        Limiter {
            state: Mutex::new(State {
                rate: bps.unwrap_or(0) / 8,
                avail: 0.0,
                last: Instant::now(),
                read_at: None,
                complaint: None,
            }),
            file,
        }
    }

    /// The current limit in bytes per second (0: none), after reading the
    /// file if it is due.
    pub fn rate(&self) -> u64 {
        let mut st = self.state.lock().unwrap();
        self.refresh(&mut st, Instant::now());
        st.rate
    }

    /// Account `n` bytes about to be read; returns how long the caller
    /// must wait before reading them (zero when within the limit).
    pub fn take(&self, n: u64) -> Duration {
        let mut st = self.state.lock().unwrap();
        let now = Instant::now();
        self.refresh(&mut st, now);
        let elapsed = now.duration_since(st.last).as_secs_f64();
        st.last = now;
        if st.rate == 0 {
            st.avail = 0.0;
            return Duration::ZERO;
        }
        let rate = st.rate as f64;
        // One second of burst, or one request if that is bigger.
        st.avail = (st.avail + elapsed * rate).min(rate.max(n as f64)) - n as f64;
        Duration::from_secs_f64((-st.avail / rate).max(0.0))
    }

    fn refresh(&self, st: &mut State, now: Instant) {
        let Some(file) = &self.file else {
            return;
        };
        if st.read_at.is_some_and(|t| now.duration_since(t) < REREAD) {
            return;
        }
        st.read_at = Some(now);
        let got = std::fs::read_to_string(file)
            .map_err(|e| format!("{}: {e}", file.display()))
            .and_then(|s| parse_bps(&s).map_err(|e| format!("{}: {e}", file.display())));
        match got {
            Ok(bps) => {
                if st.rate != bps / 8 {
                    helper_common::debug!("bandwidth: {bps} bits/s from {}", file.display());
                    // A new limit starts with an empty bucket.
                    st.rate = bps / 8;
                    st.avail = 0.0;
                    st.last = now;
                }
                st.complaint = None;
            }
            Err(e) => {
                // As nbdkit's rate-file: an unreadable file keeps the limit.
                if st.complaint.as_deref() != Some(e.as_str()) {
                    helper_common::warning!("--bandwidth-file {e}: the limit stays as it was");
                    st.complaint = Some(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        let l = Limiter::new(None, None);
        let t = Instant::now();
        for _ in 0..1000 {
            assert_eq!(l.take(1 << 30), Duration::ZERO);
        }
        assert!(t.elapsed() < Duration::from_millis(500));
        assert_eq!(Limiter::new(Some(0), None).rate(), 0);
    }

    #[test]
    fn paces_to_the_rate() {
        // 64 Mbit/s = 8 MiB/s: 4 MiB is half a second of it.
        let l = Limiter::new(Some(64 << 20), None);
        assert_eq!(l.rate(), 8 << 20);
        let t = Instant::now();
        for _ in 0..4 {
            std::thread::sleep(l.take(1 << 20));
        }
        let e = t.elapsed();
        assert!(e >= Duration::from_millis(450), "{e:?}");
        assert!(e < Duration::from_millis(1500), "{e:?}");
    }

    #[test]
    fn the_file_replaces_the_limit_and_a_bad_file_keeps_it() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("bw");
        std::fs::write(&f, "16M\n").unwrap();
        let l = Limiter::new(Some(8 << 20), Some(f.clone()));
        assert_eq!(l.rate(), 2 << 20, "the file's 16 Mbit/s, not the flag's 8");
        std::fs::write(&f, "garbage").unwrap();
        l.state.lock().unwrap().read_at = None;
        assert_eq!(l.rate(), 2 << 20, "a bad file keeps the limit");
        std::fs::write(&f, "0").unwrap();
        l.state.lock().unwrap().read_at = None;
        assert_eq!(l.rate(), 0, "0 lifts it");
        std::fs::remove_file(&f).unwrap();
        l.state.lock().unwrap().read_at = None;
        assert_eq!(l.rate(), 0, "a missing file keeps it");
    }
}
