//! The dependency rule of docs/architecture.md, read from `cargo metadata`:
//! a helper crate (a package named `helper-v2v-*`, or one that builds a
//! `helper-v2v-*` binary) is a leaf.  No workspace package depends on one
//! (normal, dev or build dependency): helpers depend only on library
//! crates, and neither the library crates nor the supervisor (`virt-v2v`)
//! depend on a helper.  What two helpers share belongs in a library crate
//! (`v2v-input-kit`, `helper-common`, ...).

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;
use v2v_tests::repo_root;

/// The package that builds the supervisor, `virt-v2v`.
const SUPERVISOR: &str = "virt-v2v";

fn packages(metadata: &Value) -> &[Value] {
    metadata["packages"].as_array().map_or(&[], Vec::as_slice)
}

fn name(pkg: &Value) -> &str {
    pkg["name"].as_str().unwrap_or("")
}

/// Whether `pkg` is a helper crate: named `helper-v2v-*`, or building a
/// `helper-v2v-*` binary.
fn is_helper(pkg: &Value) -> bool {
    let builds_helper = pkg["targets"].as_array().into_iter().flatten().any(|t| {
        let bin = t["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "bin"));
        bin && t["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("helper-v2v-"))
    });
    name(pkg).starts_with("helper-v2v-") || builds_helper
}

/// The helper crates of `metadata`, by package name.
fn helpers(metadata: &Value) -> BTreeSet<&str> {
    packages(metadata)
        .iter()
        .filter(|p| is_helper(p))
        .map(name)
        .collect()
}

/// Every dependency of a package of `metadata` on a helper crate, as
/// `A -> B (KIND dependency)`.
fn forbidden_edges(metadata: &Value) -> Vec<String> {
    let helpers = helpers(metadata);
    let mut edges = Vec::new();
    for p in packages(metadata) {
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or("");
            if helpers.contains(dep) {
                let kind = d["kind"].as_str().unwrap_or("normal");
                edges.push(format!("{} -> {dep} ({kind} dependency)", name(p)));
            }
        }
    }
    edges
}

fn cargo_metadata() -> Value {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(repo_root().join("Cargo.toml"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", cargo.to_string_lossy()));
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn no_crate_depends_on_a_helper_crate() {
    let md = cargo_metadata();
    let helpers = helpers(&md);
    // The rule cannot hold by finding no helper at all.
    for known in [
        "helper-v2v-input-disk",
        "helper-v2v-input-libvirtxml",
        "helper-v2v-input-libvirt",
        "helper-v2v-input-ova",
        "helper-v2v-input-vmx",
        "helper-v2v-convert",
        "helper-v2v-copy",
        "helper-v2v-cleanup",
    ] {
        assert!(helpers.contains(known), "{known} not found: {helpers:?}");
    }
    assert!(
        packages(&md).iter().any(|p| name(p) == SUPERVISOR),
        "no package {SUPERVISOR}"
    );
    let edges = forbidden_edges(&md);
    assert!(
        edges.is_empty(),
        "helper crates must be leaves (move what they share into a library crate; \
         see docs/architecture.md):\n  {}",
        edges.join("\n  ")
    );
}

#[test]
fn forbidden_edges_are_found_in_hand_made_metadata() {
    let md = serde_json::json!({
        "packages": [
            {"name": "helper-v2v-input-a", "targets": [{"kind": ["lib"], "name": "input_a"}],
             "dependencies": [
                {"name": "v2v-input-kit", "kind": null},
                {"name": "helper-v2v-input-b", "kind": "dev"}]},
            {"name": "helper-v2v-input-b", "targets": [], "dependencies": [
                {"name": "helper-common", "kind": null}]},
            // Not named like a helper, but building one.
            {"name": "mine", "targets": [{"kind": ["bin"], "name": "helper-v2v-output-mine"}],
             "dependencies": []},
            {"name": "v2v-input-kit", "targets": [], "dependencies": [
                {"name": "mine", "kind": "build"}]},
            {"name": "virt-v2v", "targets": [{"kind": ["bin"], "name": "virt-v2v"}],
             "dependencies": [
                {"name": "helper-common", "kind": null},
                {"name": "helper-v2v-input-a", "kind": null}]},
            {"name": "helper-common", "targets": [], "dependencies": []}
        ]
    });
    assert_eq!(
        helpers(&md).into_iter().collect::<Vec<_>>(),
        ["helper-v2v-input-a", "helper-v2v-input-b", "mine"]
    );
    assert_eq!(
        forbidden_edges(&md),
        [
            "helper-v2v-input-a -> helper-v2v-input-b (dev dependency)",
            "v2v-input-kit -> mine (build dependency)",
            "virt-v2v -> helper-v2v-input-a (normal dependency)",
        ]
    );
    let clean = serde_json::json!({"packages": [
        {"name": "helper-v2v-x", "targets": [], "dependencies": [{"name": "v2v-meta", "kind": null}]},
        {"name": "v2v-meta", "targets": [], "dependencies": []}
    ]});
    assert!(forbidden_edges(&clean).is_empty());
}
