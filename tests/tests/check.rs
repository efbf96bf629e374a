//! Options are checked before any work (docs/contract.md, "Checking options
//! first"): both runners run `helper-v2v-input-TYPE --check` and
//! `helper-v2v-output-TYPE check` before the input step, so a bad `-oo`, a
//! missing or unwritable `-os`, an unknown `-of` or a refused `-io` stops
//! the run within 2 s with exit 2 and one error line naming the option:
//! the event stream shows that no step started (no server, no appliance),
//! and neither a temp dir nor a process is left.

use std::fs;
use std::time::{Duration, Instant};
use v2v_tests::*;

/// The longest a run refused by a check may take: far less than an
/// appliance launch (~25 s here) or a copy, and enough for the script's
/// jq and helper `--check` processes on a CI machine running two TCG
/// appliances beside it (a 2 s bound failed at load 13).  That no step
/// ran is shown by the events, not by the clock.
const WITHIN: Duration = Duration::from_secs(10);

/// A small raw file as the guest: the checks never read it.
fn guest(sb: &Sandbox) -> String {
    let p = sb.path("guest.raw");
    fs::File::create(&p).unwrap().set_len(1 << 20).unwrap();
    p.to_string_lossy().into_owned()
}

/// Run `--events fd:1 ARGS` through virt-v2v and the script: each
/// must exit 2 within [`WITHIN`] with one error line, the last, naming
/// every one of `names`; the only step started is the runner's own, its
/// `error` event (exit code 2) is last and says what the line says; no
/// temp dir and no process is left.  Both runners print the same line.
#[track_caller]
fn refused(sb: &Sandbox, args: &[&str], names: &[&str]) {
    let mut lines = Vec::new();
    for (who, mut cmd) in [("virt-v2v", sb.virt_v2v()), ("virt-v2v.sh", sb.script())] {
        sb.clear_tmpdir();
        cmd.args(["--events", "fd:1"]).args(args);
        let t0 = Instant::now();
        let r = run(&mut cmd);
        let took = t0.elapsed();
        assert_eq!(r.code, 2, "{who} {args:?}: wrong exit code\n{r}");
        assert!(took < WITHIN, "{who} {args:?}: took {took:?}\n{r}");

        let errors: Vec<&str> = r.stderr.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(errors.len(), 1, "{who} {args:?}: one error line\n{r}");
        let last = r.last_err_line();
        assert_eq!(errors[0], last, "{who} {args:?}: the error comes last\n{r}");
        let message = last
            .strip_prefix("virt-v2v: error: ")
            .unwrap_or_else(|| panic!("{who} {args:?}: not virt-v2v's error line\n{r}"));
        for name in names {
            assert!(
                message.contains(name),
                "{who} {args:?}: {name:?} not named\n{r}"
            );
        }

        let ev = events(&r.stdout);
        let started: Vec<&str> = ev
            .iter()
            .filter(|e| e["event"] == "step-started")
            .map(|e| e["step"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(started, ["virt-v2v"], "{who} {args:?}: steps started\n{r}");
        let end = ev.last().expect("events");
        assert_eq!(
            (end["step"].as_str(), end["event"].as_str()),
            (Some("virt-v2v"), Some("error")),
            "{who} {args:?}: the last event\n{r}"
        );
        assert_eq!(end["exit_code"], 2, "{who}: {end}");
        assert_eq!(end["message"].as_str(), Some(message), "{who}: {end}");

        assert!(
            sb.run_dirs().is_empty(),
            "{who} {args:?}: temp dir left: {:?}",
            sb.run_dirs()
        );
        let left = processes_mentioning(sb.root().to_str().unwrap());
        assert!(left.is_empty(), "{who} {args:?}: processes left: {left:?}");
        lines.push(last.to_string());
    }
    assert_eq!(lines[0], lines[1], "the runners word the error differently");
}

#[test]
fn bad_output_options_stop_the_run_before_any_step() {
    let sb = Sandbox::new("check-out");
    let g = guest(&sb);
    let out = sb.path("out");
    fs::create_dir(&out).unwrap();
    let out = out.to_str().unwrap();
    let local = ["-i", "disk", g.as_str(), "-o", "local"];
    let cases: [(&[&str], &[&str]); 4] = [
        (&["-os", out, "-oo", "bogus=1"], &["-oo", "bogus"]),
        (&[], &["-os"]),
        (&["-os", "/proc"], &["-os", "/proc"]),
        (&["-os", out, "-of", "vhdx"], &["-of", "vhdx"]),
    ];
    for (extra, names) in cases {
        let args: Vec<&str> = local.iter().chain(extra).copied().collect();
        refused(&sb, &args, names);
    }
    assert_eq!(fs::read_dir(out).unwrap().count(), 0, "a target was made");
}

#[test]
fn bad_input_option_stops_the_run_before_any_step() {
    let sb = Sandbox::new("check-in");
    let g = guest(&sb);
    refused(
        &sb,
        &["-i", "disk", "-io", "bogus=1", &g, "-o", "null"],
        &["-io", "bogus=1"],
    );
}

/// With `--print-source` only the input is checked: the output's options
/// do not matter, as the output never runs.
#[test]
fn print_source_checks_the_input_only() {
    let sb = Sandbox::new("check-src");
    let g = guest(&sb);
    let source = ["--print-source", "-i", "disk", g.as_str()];
    let r = run(sb
        .virt_v2v()
        .args(source)
        .args(["-o", "local", "-oo", "bogus=1"]));
    r.assert_ok();
    assert!(r.stdout.contains("    source name: guest\n"), "{r}");
    let r = run(sb.virt_v2v().args(source).args(["-io", "bogus=1"]));
    assert_eq!(r.code, 2, "{r}");
    let last = r.last_err_line();
    assert!(
        last.starts_with("virt-v2v: error: ") && last.contains("-io") && last.contains("bogus=1"),
        "{r}"
    );
    assert!(sb.run_dirs().is_empty());
}
