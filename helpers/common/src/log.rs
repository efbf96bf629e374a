//! A tiny logger: every line goes to the step's log file (always at debug
//! level, for post-mortems); stderr gets messages and warnings, plus debug
//! with `-v` and traces (external commands, NBD operations) with `-x`.
//! Machine-readable events go to stdout (`--machine-readable`) or to a
//! numbered file descriptor (`--events-fd N`).  Messages may go to stdout
//! instead of stderr ([`set_messages_to_stdout`]), as virt-v2v's
//! `--machine-readable` run documents.

use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use v2v_meta::{Event, EventKind, EventStep, CONTRACT_VERSION};

/// Message levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Message,
    Debug,
    Trace,
}

struct Logger {
    step: EventStep,
    program: String,
    start: Instant,
    /// Seconds already elapsed in the run when this helper started
    /// (from `V2V_RUN_START`, set by the supervisor), so timestamps of all
    /// steps line up.
    offset: f64,
    stderr_level: Level,
    file: Mutex<Option<File>>,
    events: Mutex<Option<Box<dyn Write + Send>>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();
static MESSAGES_TO_STDOUT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Print messages (not warnings, errors, debug or traces) on stdout rather
/// than stderr: virt-v2v's `--machine-readable` run ("messages sent to
/// stdout are status messages, stderr carries errors").
pub fn set_messages_to_stdout(on: bool) {
    MESSAGES_TO_STDOUT.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Where events go.
pub enum EventSink {
    None,
    Stdout,
    Fd(i32),
}

/// Set up the logger once per process.  `log_file` may be `None` before the
/// temp directory exists.
pub fn init(
    program: &str,
    step: &str,
    stderr_level: Level,
    log_file: Option<File>,
    sink: EventSink,
) {
    let offset = std::env::var("V2V_RUN_START")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(|t0| (now_epoch() - t0).max(0.0))
        .unwrap_or(0.0);
    let events: Option<Box<dyn Write + Send>> = match sink {
        EventSink::None => None,
        EventSink::Stdout => Some(Box::new(std::io::stdout())),
        // SAFETY: the caller handed us this fd (`--events-fd`) to own.
        EventSink::Fd(fd) => Some(Box::new(unsafe { File::from_raw_fd(fd) })),
    };
    let _ = LOGGER.set(Logger {
        step: EventStep::from_name(step)
            .unwrap_or_else(|| panic!("log::init: {step:?} is not a step name")),
        program: program.to_string(),
        start: Instant::now(),
        offset,
        stderr_level,
        file: Mutex::new(log_file),
        events: Mutex::new(events),
    });
}

/// Attach (or replace) the log file after `init`.
pub fn set_log_file(f: File) {
    if let Some(l) = LOGGER.get() {
        *l.file.lock().unwrap() = Some(f);
    }
}

fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The program name used as the stderr prefix (`helper-v2v-copy`).
pub fn program() -> String {
    LOGGER
        .get()
        .map(|l| l.program.clone())
        .unwrap_or_else(|| "helper-v2v".into())
}

/// Log one line at `level`.
pub fn log(level: Level, text: &str) {
    let Some(l) = LOGGER.get() else {
        eprintln!("{text}");
        return;
    };
    let t = l.offset + l.start.elapsed().as_secs_f64();
    let tag = match level {
        Level::Error => "error: ",
        Level::Warning => "warning: ",
        Level::Message => "",
        Level::Debug => "debug: ",
        Level::Trace => "trace: ",
    };
    if let Some(f) = l.file.lock().unwrap().as_mut() {
        let _ = writeln!(f, "[{t:6.1}] {tag}{text}");
    }
    if level <= l.stderr_level {
        match level {
            Level::Message if MESSAGES_TO_STDOUT.load(std::sync::atomic::Ordering::Relaxed) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(format!("[{t:6.1}] {text}\n").as_bytes());
                let _ = out.flush();
            }
            Level::Message => eprintln!("{}", styled(level, format!("[{t:6.1}] {text}"))),
            _ => eprintln!("{}", styled(level, format!("{}: {tag}{text}", l.program))),
        }
    }
}

/// How this process's stderr lines look: virt-v2v's `--colours` (ANSI
/// colours: messages green, warnings blue, errors red) and `--wrap`
/// (warnings and errors wrapped at 76 columns).  Plain unless set.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub colours: bool,
    pub wrap: bool,
}

static STYLE: OnceLock<Style> = OnceLock::new();

/// Set the stderr style once (the supervisor, from `--colours`/`--wrap`).
pub fn set_style(style: Style) {
    let _ = STYLE.set(style);
}

/// `line` (one stderr line at `level`) in the style set.
fn styled(level: Level, line: String) -> String {
    let style = STYLE.get().copied().unwrap_or_default();
    let line = if style.wrap && matches!(level, Level::Error | Level::Warning) {
        wrap(&line, 76)
    } else {
        line
    };
    if !style.colours {
        return line;
    }
    let colour = match level {
        Level::Error => "\x1b[1;31m",
        Level::Warning => "\x1b[1;34m",
        Level::Message => "\x1b[0;32m",
        Level::Debug | Level::Trace => return line,
    };
    match (level, line.split_once("] ")) {
        // Messages: the timestamp stays plain, as in virt-v2v.
        (Level::Message, Some((t, text))) => format!("{t}] {colour}{text}\x1b[0m"),
        _ => format!("{colour}{line}\x1b[0m"),
    }
}

/// `text` with its spaces turned into line breaks where a line would
/// reach `width` columns (virt-v2v's wrapping); its own newlines stay.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut col = 0;
        for (j, word) in line.split(' ').enumerate() {
            let w = word.chars().count();
            if j > 0 {
                if col + 1 + w >= width {
                    out.push('\n');
                    col = 0;
                } else {
                    out.push(' ');
                    col += 1;
                }
            }
            out.push_str(word);
            col += w;
        }
    }
    out
}

/// Emit one machine-readable event (also recorded in the log file).
pub fn event(kind: EventKind) {
    let Some(l) = LOGGER.get() else { return };
    let ev = Event {
        version: CONTRACT_VERSION,
        time: now_epoch(),
        step: l.step,
        kind,
    };
    let line = serde_json::to_string(&ev).expect("event serializes");
    if let Some(f) = l.file.lock().unwrap().as_mut() {
        let _ = writeln!(f, "event: {line}");
    }
    write_event_line(l, &line);
}

/// One line on the event stream, in one write: the stream may be a file or
/// pipe that the supervisor and a helper share.
fn write_event_line(l: &Logger, line: &str) {
    if let Some(w) = l.events.lock().unwrap().as_mut() {
        let _ = w.write_all(format!("{line}\n").as_bytes());
        let _ = w.flush();
    }
}

/// Write raw text to the event stream (virt-v2v's `N/M` progress lines).
pub fn event_raw(line: &str) {
    let Some(l) = LOGGER.get() else { return };
    write_event_line(l, line);
}

/// A user message, timestamped like virt-v2v's (`[   1.2] Copying disk 1/2`).
#[macro_export]
macro_rules! message {
    ($($a:tt)*) => { $crate::log::log($crate::log::Level::Message, &format!($($a)*)) };
}
/// A warning: printed, logged, and sent as a `warning` event.
#[macro_export]
macro_rules! warning {
    ($($a:tt)*) => {{
        let m = format!($($a)*);
        $crate::log::log($crate::log::Level::Warning, &m);
        $crate::log::event(v2v_meta::EventKind::Warning { message: m, disk: None });
    }};
}
/// Debug output: always in the log, on stderr with `-v`.
#[macro_export]
macro_rules! debug {
    ($($a:tt)*) => { $crate::log::log($crate::log::Level::Debug, &format!($($a)*)) };
}
/// Trace output (external commands, NBD operations): on stderr with `-x`.
#[macro_export]
macro_rules! trace {
    ($($a:tt)*) => { $crate::log::log($crate::log::Level::Trace, &format!($($a)*)) };
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_breaks_at_spaces_before_the_width() {
        let text = "virt-v2v: warning: ".to_string() + &"word ".repeat(30);
        let w = wrap(text.trim_end(), 76);
        assert!(w.lines().count() > 1, "{w}");
        assert!(w.lines().all(|l| l.chars().count() < 76), "{w}");
        assert_eq!(w.replace('\n', " "), text.trim_end());
        assert_eq!(wrap("short\nline", 76), "short\nline");
    }
}
