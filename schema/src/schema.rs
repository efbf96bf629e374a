//! JSON Schemas generated from the contract types.  `v2v-meta-schema DIR`
//! writes them; the committed copies under `schema/` are checked by a test.

use schemars::schema::RootSchema;
use schemars::schema_for;

/// Every schema file: (file name, schema).
pub fn all() -> Vec<(&'static str, RootSchema)> {
    vec![
        ("metadata.in.schema.json", schema_for!(crate::MetadataIn)),
        ("metadata.out.schema.json", schema_for!(crate::MetadataOut)),
        ("output.json.schema.json", schema_for!(crate::OutputJson)),
        ("step-done.schema.json", schema_for!(crate::StepDone)),
        ("step-error.schema.json", schema_for!(crate::StepError)),
        ("event.schema.json", schema_for!(crate::Event)),
    ]
}

/// The schema text as committed (pretty JSON with a trailing newline).
pub fn render(s: &RootSchema) -> String {
    let mut t = serde_json::to_string_pretty(s).expect("schema serializes");
    t.push('\n');
    t
}

/// Which schema file validates a contract file of this name.
pub fn for_file(name: &str) -> Option<&'static str> {
    Some(match name {
        "metadata.in" => "metadata.in.schema.json",
        "metadata.out" => "metadata.out.schema.json",
        "output.json" => "output.json.schema.json",
        n if n.ends_with(".done") => "step-done.schema.json",
        n if n.ends_with(".error.json") => "step-error.schema.json",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The committed schema files match the types (regenerate with
    /// `cargo run -p v2v-meta --bin v2v-meta-schema -- schema/`).
    #[test]
    fn committed_schemas_match_types() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (name, s) in super::all() {
            let want = super::render(&s);
            let have = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            assert!(
                have == want,
                "schema/{name} is out of date with the Rust types; run \
                 `cargo run -p v2v-meta --bin v2v-meta-schema -- schema/` and commit"
            );
        }
    }
}
