//! Progress: an indicatif bar per disk on a terminal, and JSON `progress`
//! events (disk, bytes done, bytes total, rate) about once a second on the
//! event stream; with `--machine-readable` also virt-v2v's `N/100` lines.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use v2v_meta::EventKind;

use crate::engine::Stats;

/// How often the bars are redrawn.
const TICK: Duration = Duration::from_millis(200);
/// How often progress events are emitted.
const EVENT_EVERY: Duration = Duration::from_millis(1000);

/// A running progress reporter; [`Reporter::finish`] stops it.
pub struct Reporter {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// Start reporting on `disks`.  `bars`: draw indicatif bars on stderr;
    /// `percent_lines`: print `N/100` lines on the event stream.
    pub fn start(disks: Vec<Arc<Stats>>, bars: bool, percent_lines: bool) -> Reporter {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::spawn(move || report(&disks, bars, percent_lines, &stop2));
        Reporter {
            stop,
            thread: Some(thread),
        }
    }

    /// Emit the final state and stop.
    pub fn finish(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        let (m, cv) = &*self.stop;
        *m.lock().unwrap() = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn report(disks: &[Arc<Stats>], bars: bool, percent_lines: bool, stop: &(Mutex<bool>, Condvar)) {
    let multi = bars.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
    let style = ProgressStyle::with_template(
        "disk {prefix}: [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("#>-");
    let mut pbs: Vec<Option<ProgressBar>> = vec![None; disks.len()];
    let mut finished = vec![false; disks.len()];
    let mut last_event = Instant::now() - EVENT_EVERY;
    let mut last_pct: Option<u64> = None;
    loop {
        let stopping = {
            let (m, cv) = stop;
            let g = m.lock().unwrap();
            let (g, _) = cv.wait_timeout_while(g, TICK, |s| !*s).unwrap();
            *g
        };
        let emit = stopping || last_event.elapsed() >= EVENT_EVERY;
        if emit {
            last_event = Instant::now();
        }
        for (i, d) in disks.iter().enumerate() {
            let Some(t0) = d.started.get() else { continue };
            if finished[i] {
                continue;
            }
            let total = d.total.load(Ordering::Relaxed);
            let done = d.done().min(total);
            let secs = t0.elapsed().as_secs_f64();
            let fin = d.finished.get().is_some();
            if let Some(m) = &multi {
                let pb = pbs[i].get_or_insert_with(|| {
                    let pb = m.add(ProgressBar::new(total));
                    pb.set_style(style.clone());
                    pb.set_prefix(d.index.to_string());
                    pb
                });
                pb.set_position(done);
                if fin {
                    pb.finish();
                }
            }
            if emit || fin {
                helper_common::log::event(EventKind::Progress {
                    disk: d.index,
                    bytes_done: done,
                    bytes_total: total,
                    rate: if secs > 0.0 { done as f64 / secs } else { 0.0 },
                });
            }
            finished[i] = fin;
        }
        if percent_lines && (emit || stopping) {
            let total: u64 = disks.iter().map(|d| d.total.load(Ordering::Relaxed)).sum();
            let done: u64 = disks
                .iter()
                .map(|d| d.done().min(d.total.load(Ordering::Relaxed)))
                .sum();
            if let Some(pct) = (done * 100).checked_div(total) {
                if last_pct != Some(pct) {
                    helper_common::log::event_raw(&format!("{pct}/100"));
                    last_pct = Some(pct);
                }
            }
        }
        if stopping {
            for pb in pbs.iter().flatten() {
                if !pb.is_finished() {
                    pb.abandon();
                }
            }
            return;
        }
    }
}
