//! Every helper binary has a page in docs/helpers/ with the fixed sections,
//! and every long flag its `--help` shows is mentioned on that page (as
//! libguestfs's docs/test-docs.sh checks for virt-v2v).

use std::process::Command;
use v2v_tests::{bin, repo_root};

const SECTIONS: [&str; 10] = [
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "OPTIONS",
    "READS",
    "WRITES",
    "EXIT STATUS",
    "ENVIRONMENT",
    "EXAMPLES",
    "SEE ALSO",
];

/// Long flags in a `--help` text (`--foo`, `--foo-bar`), except clap's own.
fn long_flags(help: &str) -> Vec<String> {
    let mut v: Vec<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == '<')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .filter(|w| w != "--help" && w != "--version")
        .collect();
    v.sort();
    v.dedup();
    v
}

fn help(binary: &str, sub: Option<&str>) -> String {
    let mut c = Command::new(bin(binary));
    if let Some(s) = sub {
        c.arg(s);
    }
    let o = c.arg("--help").output().unwrap();
    assert!(o.status.success(), "{binary} --help failed");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn every_helper_has_a_complete_page() {
    let helpers = repo_root().join("helpers");
    let mut checked = 0;
    for e in std::fs::read_dir(&helpers).unwrap() {
        let toml = e.unwrap().path().join("Cargo.toml");
        let text = std::fs::read_to_string(&toml).unwrap_or_default();
        // Helper crates are the packages named helper-v2v-*.
        let Some(name) = text
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .map(|n| n.trim_end_matches('"').to_string())
            .filter(|n| n.starts_with("helper-v2v-"))
        else {
            continue;
        };
        let page = repo_root().join(format!("docs/helpers/{name}.md"));
        let doc = std::fs::read_to_string(&page)
            .unwrap_or_else(|_| panic!("{name}: no page {}", page.display()));
        for s in SECTIONS {
            assert!(
                doc.lines().any(|l| l.trim_start_matches('#').trim() == s),
                "{}: no {s} section",
                page.display()
            );
        }
        let subs: &[Option<&str>] = if name.starts_with("helper-v2v-output-") {
            &[Some("setup"), Some("final")]
        } else {
            &[None]
        };
        for sub in subs {
            for flag in long_flags(&help(&name, *sub)) {
                assert!(
                    doc.contains(&flag),
                    "{}: flag {flag} of `{name} {}` is not documented",
                    page.display(),
                    sub.unwrap_or("")
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} helper crates found");
}

#[test]
fn flag_extraction() {
    let h = "  -v, --verbose   x\n      --os <OUTDIR>  y\n      --events-fd <FD>\n  -h, --help\n";
    assert_eq!(long_flags(h), ["--events-fd", "--os", "--verbose"]);
}
