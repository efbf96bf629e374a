//! JSON Schemas generated from the contract types.  `v2v-meta-schema DIR`
//! writes them; the committed copies under `schema/` are checked by a test.
//!
//! A schema says what the readers accept: every document requires
//! `"version": 1`, names read from a file (sockets) must be bare names,
//! closed value sets (`step`, `kind`, buses, ...) are enums, and integers
//! are bounded by their Rust type where JSON Schema can say so exactly
//! (8, 16 and 32 bits; see `docs/contract.md` for what a schema cannot say).

use schemars::schema::{RootSchema, SchemaObject};
use schemars::schema_for;
use schemars::visit::{visit_root_schema, visit_schema_object, Visitor};

/// Every schema file: (file name, schema).
pub fn all() -> Vec<(&'static str, RootSchema)> {
    let mut v = vec![
        ("metadata.in.schema.json", schema_for!(crate::MetadataIn)),
        ("metadata.out.schema.json", schema_for!(crate::MetadataOut)),
        ("output.json.schema.json", schema_for!(crate::OutputJson)),
        ("step-done.schema.json", schema_for!(crate::StepDone)),
        ("step-error.schema.json", schema_for!(crate::StepError)),
        ("event.schema.json", schema_for!(crate::Event)),
        (
            "description.schema.json",
            schema_for!(crate::GuestDescription),
        ),
    ];
    for (_, s) in &mut v {
        visit_root_schema(&mut IntegerBounds, s);
    }
    v
}

/// Adds the upper (and lower) bound of each integer's Rust type, which
/// schemars leaves out (it writes only `"format": "uint32"` and
/// `"minimum": 0`): a value the reader cannot hold is schema-invalid too.
/// 64-bit bounds are left out: JSON Schema validators compare numbers as
/// doubles, which cannot state them exactly.
#[derive(Debug, Clone)]
struct IntegerBounds;

impl Visitor for IntegerBounds {
    fn visit_schema_object(&mut self, schema: &mut SchemaObject) {
        let bounds: Option<(f64, f64)> = match schema.format.as_deref() {
            Some("uint8") => Some((0.0, u8::MAX.into())),
            Some("uint16") => Some((0.0, u16::MAX.into())),
            Some("uint32") => Some((0.0, u32::MAX.into())),
            Some("int8") => Some((i8::MIN.into(), i8::MAX.into())),
            Some("int16") => Some((i16::MIN.into(), i16::MAX.into())),
            Some("int32") => Some((i32::MIN.into(), i32::MAX.into())),
            _ => None,
        };
        if let Some((min, max)) = bounds {
            let n = schema.number();
            n.minimum = Some(min);
            n.maximum = Some(max);
        }
        visit_schema_object(self, schema);
    }
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
        "description.json" => "description.schema.json",
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
