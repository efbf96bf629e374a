//! Progress: an indicatif bar per disk on a terminal, and JSON `progress`
//! events (disk, bytes done, bytes total, rate) about once a second on the
//! event stream; with `--machine-readable` also virt-v2v's `N/100` lines.
//!
//! With `--progress-lines`, the text virt-v2v prints instead of the
//! indicatif bars, which orchestrators parse (Forklift's virt-v2v-monitor,
//! oVirt VDSM): the disks one after the other, each announced by
//! `[  t] Copying disk N/M` and followed by its progress, whether or not
//! the output is a terminal.  See [`Lines`].

use std::io::Write;
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

/// The text progress virt-v2v prints (`--progress-lines`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lines {
    /// nbdcopy's bar on stderr, after the `Copying disk N/M` message:
    /// `▝  42% [****************------------------------]` ending in a
    /// carriage return, the last one `█ 100% [****...]` in a newline.
    Bar,
    /// virt-v2v's `--machine-readable` run, on stdout: the `Copying disk
    /// N/M` message, then `N/100` lines (upstream's documented
    /// `^[0-9]+/[0-9]+$`), each followed by qemu-img's `    (N.00/100%)`,
    /// which oVirt VDSM parses.
    Machine,
}

/// The spinner nbdcopy draws before its bar, and its last frame.
const SPINNER: [&str; 8] = ["▝", "▐", "▗", "▃", "▖", "▍", "▘", "▀"];
const SPINNER_DONE: &str = "█";
/// Width of the bar between the brackets.
const BAR_WIDTH: u64 = 40;

/// One progress line for `pct` percent (the spinner frame `spin`).
pub fn line(lines: Lines, pct: u64, spin: usize) -> String {
    let pct = pct.min(100);
    match lines {
        Lines::Bar => {
            let stars = (BAR_WIDTH * pct).div_ceil(100) as usize;
            let (frame, end) = if pct == 100 {
                (SPINNER_DONE, '\n')
            } else {
                (SPINNER[spin % SPINNER.len()], '\r')
            };
            format!(
                "{frame} {pct:3}% [{}{}]{end}",
                "*".repeat(stars),
                "-".repeat(BAR_WIDTH as usize - stars)
            )
        }
        Lines::Machine => format!("{pct}/100\n    ({pct}.00/100%)\n"),
    }
}

/// Shows the disks one after the other, as virt-v2v copying them in turn
/// would: a disk is announced once its copy has started (or ended), its
/// progress follows until it is done, then the next one.  Disks copied at
/// once are shown in order: a later disk may start at more than 0%.
struct Sequence {
    lines: Lines,
    /// Position (0-based) of the disk being shown.
    at: usize,
    announced: bool,
    last_pct: Option<u64>,
    spin: usize,
}

impl Sequence {
    fn write(&self, text: &str) {
        let _ = match self.lines {
            Lines::Bar => {
                let mut e = std::io::stderr().lock();
                e.write_all(text.as_bytes()).and_then(|()| e.flush())
            }
            Lines::Machine => {
                let mut o = std::io::stdout().lock();
                o.write_all(text.as_bytes()).and_then(|()| o.flush())
            }
        };
    }

    /// Print what changed since the last call.
    fn tick(&mut self, disks: &[Arc<Stats>]) {
        while let Some(d) = disks.get(self.at) {
            let fin = d.finished.get().is_some();
            if !self.announced {
                if d.started.get().is_none() && !fin {
                    return;
                }
                helper_common::message!("Copying disk {}/{}", self.at + 1, disks.len());
                self.announced = true;
                self.last_pct = None;
            }
            let total = d.total.load(Ordering::Relaxed);
            let pct = if fin {
                100
            } else {
                (d.done().min(total) * 100)
                    .checked_div(total)
                    .unwrap_or(0)
                    .min(99)
            };
            if self.last_pct != Some(pct) {
                self.write(&line(self.lines, pct, self.spin));
                self.spin += 1;
                self.last_pct = Some(pct);
            }
            if !fin {
                return;
            }
            self.at += 1;
            self.announced = false;
        }
    }
}

/// A running progress reporter; [`Reporter::finish`] stops it.
pub struct Reporter {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// Start reporting on `disks`.  `bars`: draw indicatif bars on stderr
    /// (not with `lines`); `percent_lines`: print `N/100` lines on the
    /// event stream; `lines`: virt-v2v's text progress.
    pub fn start(
        disks: Vec<Arc<Stats>>,
        bars: bool,
        percent_lines: bool,
        lines: Option<Lines>,
    ) -> Reporter {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stop2 = Arc::clone(&stop);
        let bars = bars && lines.is_none();
        let thread = std::thread::spawn(move || {
            let mut seq = lines.map(|lines| Sequence {
                lines,
                at: 0,
                announced: false,
                last_pct: None,
                spin: 0,
            });
            report(&disks, bars, percent_lines, &mut seq, &stop2)
        });
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

fn report(
    disks: &[Arc<Stats>],
    bars: bool,
    percent_lines: bool,
    seq: &mut Option<Sequence>,
    stop: &(Mutex<bool>, Condvar),
) {
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
        if let Some(seq) = seq.as_mut() {
            seq.tick(disks);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_lines_as_nbdcopy_draws_them() {
        let l = line(Lines::Bar, 42, 0);
        assert_eq!(
            l,
            format!("▝  42% [{}{}]\r", "*".repeat(17), "-".repeat(23))
        );
        assert_eq!(
            line(Lines::Bar, 0, 9),
            format!("▐   0% [{}]\r", "-".repeat(40))
        );
        assert_eq!(
            line(Lines::Bar, 100, 3),
            format!("█ 100% [{}]\n", "*".repeat(40))
        );
        assert_eq!(line(Lines::Machine, 7, 0), "7/100\n    (7.00/100%)\n");
    }

    #[test]
    fn disks_are_shown_one_after_the_other() {
        let disks: Vec<Arc<Stats>> = (1..=2).map(|i| Arc::new(Stats::new(i))).collect();
        for d in &disks {
            d.total.store(100, Ordering::Relaxed);
        }
        let mut s = Sequence {
            lines: Lines::Machine,
            at: 0,
            announced: false,
            last_pct: None,
            spin: 0,
        };
        s.tick(&disks);
        assert!(!s.announced, "nothing started yet");
        // Disk 2 starts and finishes first: disk 1 is still shown first.
        let _ = disks[1].started.set(Instant::now());
        disks[1].copied.store(100, Ordering::Relaxed);
        let _ = disks[1].finished.set(0.1);
        s.tick(&disks);
        assert_eq!((s.at, s.announced), (0, false));
        let _ = disks[0].started.set(Instant::now());
        disks[0].copied.store(100, Ordering::Relaxed);
        s.tick(&disks);
        // All bytes done but not finished (flush pending): 99%.
        assert_eq!((s.at, s.last_pct), (0, Some(99)));
        let _ = disks[0].finished.set(0.2);
        s.tick(&disks);
        assert_eq!((s.at, s.announced), (2, false));
    }
}
