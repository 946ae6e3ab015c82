//! `cargo xtask deps`: checks the dependency rules written in ARCHITECTURE.md against the real
//! dependency graph (`cargo metadata`), and that no forbidden crate (a second crypto stack, an
//! unsound YAML crate) has crept into the build. CI runs it through `make lint`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, ExitCode};

use serde_json::Value;

/// Which workspace crates each workspace crate may depend on (normal and build dependencies).
/// `*` means any. Dev-dependencies may also use `barge-testkit`. Keep in step with
/// ARCHITECTURE.md, "Dependency rules".
const RULES: &[(&str, &[&str])] = &[
    ("barge-api", &[]),
    ("barge-store", &[]),
    ("barge-apiserver", &["barge-api", "barge-store"]),
    ("barge-testkit", &[]),
    (
        "barge-bench",
        &[
            "barge-store",
            "barge-testkit",
            "barge-proxy",
            "barge-dns",
            "barge-client",
        ],
    ),
    ("barge-client", &[]),
    ("barge-controllers", &["barge-api", "barge-client"]),
    ("barge-scheduler", &["barge-api", "barge-client"]),
    ("barge-hollow", &["barge-client"]),
    ("barge-kubelet", &["barge-api", "barge-client"]),
    ("barge-dns", &["barge-api", "barge-client"]),
    ("barge-proxy", &["barge-client"]),
    ("barge-kubectl", &["barge-api"]),
    ("barge", &["*"]),
    ("xtask", &[]),
];

/// Crates any crate may use in its tests: the harness, and a real in-process API server (on
/// its store) for the components that are its clients.
const TEST_ONLY: &[&str] = &["barge-testkit", "barge-apiserver", "barge-store"];

/// Crates that must not appear anywhere in the build, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("aws-lc-sys", "crypto goes through ring only"),
    ("aws-lc-rs", "crypto goes through ring only"),
    ("openssl-sys", "crypto goes through ring only"),
    ("serde_yaml", "deprecated; use serde-saphyr"),
    ("serde_yml", "unsound (RUSTSEC-2025-0068); use serde-saphyr"),
];

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    if task.as_deref() != Some("deps") {
        eprintln!("usage: cargo xtask deps");
        return ExitCode::from(2);
    }
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--locked"])
        .output();
    let metadata: Value = match output {
        Ok(o) if o.status.success() => match serde_json::from_slice(&o.stdout) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("xtask: cannot parse cargo metadata: {e}");
                return ExitCode::FAILURE;
            }
        },
        Ok(o) => {
            eprintln!(
                "xtask: cargo metadata failed:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("xtask: cannot run cargo metadata: {e}");
            return ExitCode::FAILURE;
        }
    };
    let violations = check(&metadata);
    if violations.is_empty() {
        println!("dependency rules hold");
        ExitCode::SUCCESS
    } else {
        for v in &violations {
            eprintln!("dependency rule broken: {v}");
        }
        ExitCode::FAILURE
    }
}

/// Every broken rule, as a sentence.
fn check(metadata: &Value) -> Vec<String> {
    let rules: BTreeMap<&str, &[&str]> = RULES.iter().copied().collect();
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let workspace: BTreeMap<&str, &Value> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
        .filter_map(|p| Some((p["name"].as_str()?, p)))
        .collect();

    let mut violations = Vec::new();
    for (name, package) in &workspace {
        let Some(allowed) = rules.get(name) else {
            violations.push(format!(
                "crate {name} has no entry in the rules (xtask and ARCHITECTURE.md)"
            ));
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let Some(dep_name) = dep["name"].as_str() else {
                continue;
            };
            if !workspace.contains_key(dep_name) {
                continue;
            }
            let dev = dep["kind"].as_str() == Some("dev");
            let ok = allowed.contains(&"*")
                || allowed.contains(&dep_name)
                || (dev && TEST_ONLY.contains(&dep_name));
            if !ok {
                let kind = if dev { "dev-dependency" } else { "dependency" };
                violations.push(format!("{name} may not have {dep_name} as a {kind}"));
            }
        }
    }
    for package in &packages {
        let Some(name) = package["name"].as_str() else {
            continue;
        };
        if let Some((_, why)) = FORBIDDEN.iter().find(|(f, _)| *f == name) {
            violations.push(format!("forbidden crate {name} is in the build: {why}"));
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(edges: &[(&str, &str, &str)], extra: &[&str]) -> Value {
        let mut names: BTreeSet<&str> = edges.iter().flat_map(|(a, b, _)| [*a, *b]).collect();
        names.extend(RULES.iter().map(|(n, _)| *n));
        let packages: Vec<Value> = names
            .iter()
            .map(|n| {
                let deps: Vec<Value> = edges
                    .iter()
                    .filter(|(from, _, _)| from == n)
                    .map(|(_, to, kind)| json!({"name": to, "kind": if kind.is_empty() { Value::Null } else { json!(kind) }}))
                    .collect();
                json!({"id": format!("{n} 0.1.0"), "name": n, "dependencies": deps})
            })
            .chain(extra.iter().map(|n| json!({"id": format!("{n} 1.0.0"), "name": n, "dependencies": []})))
            .collect();
        let members: Vec<Value> = names.iter().map(|n| json!(format!("{n} 0.1.0"))).collect();
        json!({"packages": packages, "workspace_members": members})
    }

    #[test]
    fn allowed_edges_pass() {
        let m = metadata(
            &[
                ("barge", "barge-bench", ""),
                ("barge-bench", "barge-store", ""),
                ("barge-store", "barge-testkit", "dev"),
            ],
            &["ring"],
        );
        assert_eq!(check(&m), Vec::<String>::new());
    }

    #[test]
    fn a_forbidden_edge_fails() {
        let m = metadata(&[("barge-store", "barge-bench", "")], &[]);
        assert_eq!(
            check(&m),
            vec!["barge-store may not have barge-bench as a dependency"]
        );
        let m = metadata(&[("barge-store", "barge-testkit", "")], &[]);
        assert_eq!(check(&m).len(), 1, "testkit only as a dev-dependency");
    }

    #[test]
    fn unknown_crates_and_forbidden_packages_fail() {
        let m = metadata(&[("barge-new", "barge-store", "")], &["aws-lc-sys"]);
        let v = check(&m);
        assert!(
            v.iter().any(|s| s.contains("barge-new has no entry")),
            "{v:?}"
        );
        assert!(v.iter().any(|s| s.contains("aws-lc-sys")), "{v:?}");
    }
}
