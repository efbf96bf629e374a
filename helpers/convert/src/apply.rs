//! Apply a [`Plan`] through the [`GuestFs`] trait, recording every change
//! and warning.

use crate::devices::{remap_text, stale_names};
use crate::guest::GuestFs;
use crate::linux::{Action, OnError, Plan};
use helper_common::Result;
use std::time::Instant;
use v2v_meta::{Change, EventKind};

/// What applying a plan did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Run the plan's actions in order.  An action marked [`OnError::Warn`]
/// that fails becomes a warning; [`OnError::Fail`] stops with its failure.
pub fn apply(g: &dyn GuestFs, plan: &Plan) -> Result<Outcome> {
    let mut out = Outcome {
        warnings: plan.warnings.clone(),
        ..Default::default()
    };
    for a in &plan.actions {
        let t = Instant::now();
        let before = out.changes.len();
        match a {
            Action::Write {
                path,
                content,
                change,
            } => {
                let dir = parent(path);
                if !g.exists(dir)? {
                    g.mkdir_p(dir)?;
                }
                g.write(path, content.as_bytes())?;
                helper_common::debug!("changed {path}: {}", change.detail);
                out.changes.push(change.clone());
            }
            Action::Touch { path, change } => {
                g.touch(path)?;
                out.changes.push(change.clone());
            }
            Action::Run { script, .. } => {
                let r = g.sh(script).map(drop);
                finish_run(g, plan, a, r, &mut out)?;
            }
        }
        // The action's own change (the first it recorded; none when a
        // failure became a warning) carries its time.
        time_first(&mut out.changes[before..], t);
    }
    Ok(out)
}

/// Record how long the action behind `changes` (its first change) took
/// since `start`: in the change (`metadata.out`), the log, and an
/// `action-finished` event.  No change: nothing to record.
pub fn time_first(changes: &mut [Change], start: Instant) {
    let Some(c) = changes.first_mut() else {
        return;
    };
    let seconds = (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    c.seconds = Some(seconds);
    helper_common::debug!("{} {}: {seconds:.1}s", c.kind, c.target);
    helper_common::log::event(EventKind::ActionFinished {
        kind: c.kind.clone(),
        target: c.target.clone(),
        seconds,
    });
}

/// Record the result of a `Run` action; verify the files it regenerated.
fn finish_run(
    g: &dyn GuestFs,
    plan: &Plan,
    a: &Action,
    r: Result<()>,
    out: &mut Outcome,
) -> Result<()> {
    let Action::Run {
        change,
        on_error,
        verify,
        ..
    } = a
    else {
        return Ok(());
    };
    match r {
        Ok(()) => out.changes.push(change.clone()),
        Err(e) if *on_error == OnError::Warn => {
            out.warnings.push(format!(
                "{} ({}): {}",
                change.detail, change.target, e.message
            ));
            return Ok(());
        }
        Err(e) => return Err(e.context(format!("{} ({})", change.kind, change.target))),
    }
    for p in verify {
        let Some(text) = g.read_string(p)? else {
            continue;
        };
        let stale = stale_names(&text, &plan.device_map);
        if stale.is_empty() {
            helper_common::debug!("{p}: no old device names after regeneration");
            continue;
        }
        let (new, _) = remap_text(&text, &plan.device_map);
        g.write(p, new.as_bytes())?;
        out.warnings.push(format!(
            "the regenerated {p} named old devices ({}); renamed them to virtio names",
            stale.join(", ")
        ));
        out.changes.push(Change {
            kind: "file".into(),
            target: p.clone(),
            detail: format!(
                "renamed block devices left by the boot loader tool: {}",
                stale.join(", ")
            ),
            seconds: None,
        });
    }
    Ok(())
}
