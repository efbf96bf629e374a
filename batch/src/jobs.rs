//! The job list: per guest a name and the `virt-v2v` arguments, in JSON or
//! YAML (by the file's extension: `.yaml` / `.yml`, else JSON).
//!
//! ```json
//! {"guests": [{"name": "web1", "args": ["-i", "disk", "/src/web1.img", "-o", "local", "-os", "/out"]}]}
//! ```

use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;

/// One guest: its name (a directory name under `BATCHDIR/guests/`) and
/// the arguments `virt-v2v` gets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub name: String,
    pub args: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    guests: Vec<Job>,
}

/// Options `virt-v2v-batch` sets itself, refused in a job's arguments.
const OWN_OPTIONS: [&str; 2] = ["--step-gate", "--print-source"];

/// Read and check the job list.
pub fn load(path: &Path) -> Result<Vec<Job>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    parse(&text, yaml).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parse a job list (YAML when `yaml`, else JSON) and check it: at least
/// one guest, unique names usable as directory names, non-empty arguments
/// without the options the batch sets itself.
pub fn parse(text: &str, yaml: bool) -> Result<Vec<Job>, String> {
    let file: JobFile = if yaml {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    };
    if file.guests.is_empty() {
        return Err("guests: the list is empty".into());
    }
    let mut seen = BTreeSet::new();
    for (i, job) in file.guests.iter().enumerate() {
        let at = format!("guests[{i}]");
        if !valid_name(&job.name) {
            return Err(format!(
                "{at}.name: ‘{}’ is not a guest name (letters, digits, ‘.’, ‘_’, ‘-’, \
                 at most 64, not starting with ‘.’)",
                job.name
            ));
        }
        if !seen.insert(job.name.as_str()) {
            return Err(format!("{at}.name: ‘{}’ is given twice", job.name));
        }
        if job.args.is_empty() {
            return Err(format!("{at}.args: empty (give virt-v2v's arguments)"));
        }
        if let Some(a) = job.args.iter().find(|a| {
            OWN_OPTIONS
                .iter()
                .any(|o| *a == o || a.starts_with(&format!("{o}=")))
        }) {
            return Err(format!(
                "{at}.args: {a}: virt-v2v-batch sets or refuses this option itself"
            ));
        }
    }
    Ok(file.guests)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && !n.starts_with('.')
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_give_the_same_jobs() {
        let json = r#"{"guests": [{"name": "a", "args": ["-i", "disk", "/a.img", "-o", "null"]},
                                   {"name": "b-2", "args": ["--no-convert", "-i", "disk", "/b.img", "-o", "null"]}]}"#;
        let yaml = "guests:\n  - name: a\n    args: [-i, disk, /a.img, -o, 'null']\n  \
                    - name: b-2\n    args:\n      - --no-convert\n      - -i\n      - disk\n      \
                    - /b.img\n      - -o\n      - 'null'\n";
        let j = parse(json, false).unwrap();
        assert_eq!(j, parse(yaml, true).unwrap());
        assert_eq!(j[1].name, "b-2");
        assert_eq!(j[1].args[0], "--no-convert");
    }

    #[test]
    fn bad_lists_are_refused_naming_the_field() {
        let err = |t: &str| parse(t, false).unwrap_err();
        assert!(err(r#"{"guests": []}"#).contains("empty"));
        assert!(err(r#"{"guests": [{"name": "../x", "args": ["a"]}]}"#).contains("guests[0].name"));
        assert!(
            err(r#"{"guests": [{"name": "a", "args": ["x"]}, {"name": "a", "args": ["y"]}]}"#)
                .contains("guests[1].name: ‘a’ is given twice")
        );
        assert!(err(r#"{"guests": [{"name": "a", "args": []}]}"#).contains("guests[0].args"));
        assert!(
            err(r#"{"guests": [{"name": "a", "args": ["--step-gate=x", "g"]}]}"#)
                .contains("--step-gate=x")
        );
        assert!(err(r#"{"guests": [{"name": "a", "args": ["g"], "extra": 1}]}"#).contains("extra"));
    }
}
