//! `BATCHDIR/report.json` (rewritten after every change, so it is current
//! even if the batch is killed) and the summary table printed at the end.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A guest's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Not started (yet).
    Pending,
    /// Its `virt-v2v` runs.
    Running,
    /// Converted: `virt-v2v` exited 0.
    Done,
    /// `virt-v2v` exited with an error.
    Failed,
    /// Stopped by the batch's SIGINT / SIGTERM / SIGHUP.
    Interrupted,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
        }
    }
}

/// One step of one run, from its events (times: seconds since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepTimes {
    /// The helper's `step-started` event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<f64>,
    /// Its `step-finished` `seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// How long the run waited at the gate for a slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited: Option<f64>,
}

/// One guest's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestReport {
    pub name: String,
    pub status: Status,
    /// `virt-v2v`'s exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// The run's error: its `error` event, else the last line of its stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Per step name (`input`, `convert`, ...).
    #[serde(default)]
    pub steps: BTreeMap<String, StepTimes>,
}

impl GuestReport {
    pub fn pending(name: &str) -> GuestReport {
        GuestReport {
            name: name.to_string(),
            status: Status::Pending,
            exit_code: None,
            error: None,
            started: None,
            seconds: None,
            steps: BTreeMap::new(),
        }
    }
}

/// The limits the batch ran with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_appliances: usize,
    pub max_copies: usize,
    pub max_jobs: usize,
    /// vCPUs of each run's appliance (`--smp`, unless the job gives one).
    #[serde(default)]
    pub appliance_cpus: usize,
    /// `--max-bandwidth`: bits per second of all copies together, shared
    /// among the copies running (absent: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bandwidth: Option<u64>,
}

/// `BATCHDIR/report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    pub limits: Limits,
    /// In the job list's order.
    pub guests: Vec<GuestReport>,
    /// Most slots of each kind held at once during this invocation.
    pub peak_appliances: usize,
    pub peak_copies: usize,
    pub peak_jobs: usize,
}

fn secs(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "-".into())
}

/// The summary table: one line per guest.
pub fn table(r: &Report) -> String {
    let w = r
        .guests
        .iter()
        .map(|g| g.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:w$}  {:11}  {:>4}  {:>8}  {:>8}  {:>8}  ERROR\n",
        "NAME", "STATUS", "EXIT", "TIME", "CONVERT", "COPY"
    );
    for g in &r.guests {
        let step = |s: &str| secs(g.steps.get(s).and_then(|t| t.seconds));
        let _ = writeln!(
            out,
            "{:w$}  {:11}  {:>4}  {:>8}  {:>8}  {:>8}  {}",
            g.name,
            g.status.name(),
            g.exit_code.map(|c| c.to_string()).unwrap_or("-".into()),
            secs(g.seconds),
            step("convert"),
            step("copy"),
            g.error.as_deref().unwrap_or("")
        );
    }
    let count = |s: Status| r.guests.iter().filter(|g| g.status == s).count();
    let _ = writeln!(
        out,
        "{} done, {} failed, {} interrupted, {} pending",
        count(Status::Done),
        count(Status::Failed),
        count(Status::Interrupted),
        count(Status::Pending) + count(Status::Running)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_guest() {
        let mut a = GuestReport::pending("alpha");
        a.status = Status::Done;
        a.exit_code = Some(0);
        a.seconds = Some(91.25);
        a.steps.insert(
            "convert".into(),
            StepTimes {
                started: Some(1.0),
                seconds: Some(80.0),
                waited: None,
            },
        );
        let mut b = GuestReport::pending("b");
        b.status = Status::Failed;
        b.exit_code = Some(2);
        b.error = Some("input: x: missing".into());
        let r = Report {
            version: 1,
            limits: Limits {
                max_appliances: 1,
                max_copies: 1,
                max_jobs: 2,
                appliance_cpus: 2,
                max_bandwidth: None,
            },
            guests: vec![a, b, GuestReport::pending("c")],
            peak_appliances: 1,
            peak_copies: 1,
            peak_jobs: 2,
        };
        let t = table(&r);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5, "{t}");
        assert!(lines[1].starts_with("alpha  done") && lines[1].contains("91.2s"));
        assert!(lines[1].contains("80.0s"));
        assert!(lines[2].contains("failed") && lines[2].ends_with("input: x: missing"));
        assert_eq!(lines[4], "1 done, 1 failed, 0 interrupted, 1 pending");
        let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
