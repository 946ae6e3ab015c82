//! `kubectl apply -f`: client-side (the default: the `last-applied-configuration` annotation
//! and a three-way patch, see [`super::patch3`]) or `--server-side` (an apply patch, the server
//! merges by field ownership).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::patch3::{Schema, three_way};
use super::{DryRun, PatchKind, Session, finish, manifests, prefixed};
use crate::args::FileArgs;
use crate::error::{Error, Result};
use crate::printer::json_compact;
use crate::resources::Resource;

/// Where client-side apply keeps the configuration it applied last.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    files: FileArgs,
    /// If true, apply runs in the server instead of the client.
    #[arg(long)]
    server_side: bool,
    /// If true, server-side apply will force the changes against conflicts.
    #[arg(long)]
    force_conflicts: bool,
    /// Name of the manager used to track field ownership.
    #[arg(long)]
    field_manager: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, default_missing_value = "client")]
    dry_run: DryRun,
}

pub async fn run(s: &Session, args: Args) -> Result<()> {
    if args.force_conflicts && !args.server_side {
        return Err(Error::client(
            "--force-conflicts only works with --server-side",
        ));
    }
    let mut errors = Vec::new();
    for m in manifests(&args.files)? {
        let outcome = if args.server_side {
            server_side(s, &args, m.object, &m.source).await
        } else {
            client_side(s, &args, m.object, &m.source).await
        };
        match outcome {
            Ok(line) => println!("{line}"),
            Err(e) => errors.push(e),
        }
    }
    finish(errors)
}

fn name_of(obj: &Value) -> Result<String> {
    obj["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Error::client("resource name may not be empty"))
}

async fn server_side(s: &Session, args: &Args, mut obj: Value, source: &str) -> Result<String> {
    let r = s.resource_of(&obj, source)?;
    let ns = s.place(r, &mut obj)?;
    let name = name_of(&obj)?;
    let manager = args.field_manager.as_deref().unwrap_or("kubectl");
    let mut query = vec![("fieldManager", manager)];
    if args.force_conflicts {
        query.push(("force", "true"));
    }
    if args.dry_run == DryRun::Server {
        query.push(("dryRun", "All"));
    }
    if args.dry_run != DryRun::Client {
        let applied = s
            .patch(r, ns.as_deref(), &name, PatchKind::Apply, &obj, &query)
            .await
            .map_err(conflict_advice)?;
        if args.dry_run == DryRun::None {
            let req = ApplyRequest {
                r,
                ns: ns.as_deref(),
                name: &name,
                config: &obj,
                manager,
                query: &query,
            };
            migrate_from_client_side(s, &req, applied).await;
        }
    }
    Ok(format!(
        "{}/{name} serverside-applied{}",
        r.qualified_singular(),
        args.dry_run.suffix()
    ))
}

/// One object's server-side apply: where it goes and what was sent.
#[derive(Clone, Copy)]
struct ApplyRequest<'a> {
    r: &'a Resource,
    ns: Option<&'a str>,
    name: &'a str,
    config: &'a Value,
    manager: &'a str,
    query: &'a [(&'a str, &'a str)],
}

/// The manager kubectl's server-side apply keeps the last-applied annotation under.
const LAST_APPLIED_MANAGER: &str = "kubectl-last-applied";

/// How often kubectl retries the migration patch when the object changed meanwhile.
const MAX_PATCH_RETRY: usize = 5;

/// Moves what client-side apply owned to the server-side manager, as kubectl does after a
/// server-side apply (`migrateToSSAIfNecessary`): the annotation is kept under its own Apply
/// manager, the fields of the client-side managers are joined into `manager`'s Apply entry
/// (a JSON patch of `managedFields`, guarded by the resourceVersion), and the configuration
/// is applied once more so that fields it dropped go. Failures leave the apply done, as
/// upstream (which prints a warning).
async fn migrate_from_client_side(s: &Session, req: &ApplyRequest<'_>, mut obj: Value) {
    let ApplyRequest {
        r,
        ns,
        name,
        config,
        manager,
        query,
    } = *req;
    if manager == "kubectl"
        && let Some(annotation) = obj["metadata"]["annotations"][LAST_APPLIED].as_str()
        && owners(&obj, "Apply").is_empty()
    {
        let mut metadata = json!({"name": name, "annotations": {LAST_APPLIED: annotation}});
        if let Some(ns) = ns {
            metadata["namespace"] = json!(ns);
        }
        let just =
            json!({"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": metadata});
        let q = [("fieldManager", LAST_APPLIED_MANAGER)];
        match s.patch(r, ns, name, PatchKind::Apply, &just, &q).await {
            Ok(updated) => obj = updated,
            Err(_) => return,
        }
    }
    let csa: BTreeSet<String> = owners(&obj, "Update");
    for _ in 0..MAX_PATCH_RETRY {
        let Some(patch) = upgrade_patch(&obj, &csa, manager) else {
            return;
        };
        match s.patch(r, ns, name, PatchKind::Json, &patch, query).await {
            Ok(_) => {
                let _ = s.patch(r, ns, name, PatchKind::Apply, config, query).await;
                return;
            }
            Err(Error::Server { reason, .. }) if reason == "Conflict" => {
                match s.get(r, ns, name).await {
                    Ok(fresh) => obj = fresh,
                    Err(_) => return,
                }
            }
            Err(_) => return,
        }
    }
}

/// The managers with `operation` entries that own the last-applied annotation.
fn owners(obj: &Value, operation: &str) -> BTreeSet<String> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["operation"] == operation)
        .filter(|e| {
            !e["fieldsV1"]["f:metadata"]["f:annotations"][format!("f:{LAST_APPLIED}").as_str()]
                .is_null()
        })
        .filter_map(|e| e["manager"].as_str().map(str::to_owned))
        .collect()
}

/// The JSON patch that folds the client-side managers `csa` into `ssa`'s Apply entry
/// (csaupgrade's `UpgradeManagedFieldsPatch`); None when there is nothing to fold.
pub fn upgrade_patch(obj: &Value, csa: &BTreeSet<String>, ssa: &str) -> Option<Value> {
    let fields = obj["metadata"]["managedFields"].as_array()?;
    let mut upgraded = fields.clone();
    for name in csa {
        upgraded = upgrade(upgraded, name, ssa);
    }
    if &upgraded == fields {
        return None;
    }
    Some(json!([
        {"op": "replace", "path": "/metadata/managedFields", "value": upgraded},
        {"op": "replace", "path": "/metadata/resourceVersion", "value": obj["metadata"]["resourceVersion"]},
    ]))
}

fn upgrade(mut entries: Vec<Value>, csa: &str, ssa: &str) -> Vec<Value> {
    let is = |e: &Value, manager: &str, operation: &str| {
        e["manager"] == manager
            && e["operation"] == operation
            && e["subresource"].as_str().unwrap_or_default().is_empty()
    };
    let target = match entries.iter().position(|e| is(e, ssa, "Apply")) {
        Some(i) => i,
        None => {
            let Some(i) = entries.iter().position(|e| is(e, csa, "Update")) else {
                return entries;
            };
            entries[i]["operation"] = json!("Apply");
            entries[i]["manager"] = json!(ssa);
            i
        }
    };
    let version = entries[target]["apiVersion"].clone();
    if let Some(from) = entries
        .iter()
        .position(|e| is(e, csa, "Update") && e["apiVersion"] == version)
    {
        let joined = union(&entries[target]["fieldsV1"], &entries[from]["fieldsV1"]);
        entries[target]["fieldsV1"] = joined;
    }
    entries.retain(|e| !is(e, csa, "Update"));
    entries
}

/// The union of two field sets in their trie form (`{"f:spec": {"f:replicas": {}}}`).
fn union(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = a.clone();
            for (k, v) in b {
                let joined = match out.get(k) {
                    Some(existing) => union(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), joined);
            }
            Value::Object(out)
        }
        (Value::Null, b) => b.clone(),
        (a, _) => a.clone(),
    }
}

/// A conflict of server-side apply, with kubectl's advice.
fn conflict_advice(e: Error) -> Error {
    match e {
        Error::Server { reason, message } if reason == "Conflict" => Error::client(format!(
            "{message}
Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts"
        )),
        other => other,
    }
}

/// The object with the annotation holding its own configuration, as kubectl writes it (the
/// object without the annotation, in Go's JSON, and a newline).
pub fn with_last_applied(obj: &Value) -> Value {
    let mut out = obj.clone();
    let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) else {
        return out;
    };
    let mut annotations = meta
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.remove(LAST_APPLIED);
    meta.insert("annotations".into(), Value::Object(annotations.clone()));
    let config = format!("{}\n", json_compact(&out));
    annotations.insert(LAST_APPLIED.into(), Value::String(config));
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    out
}

async fn client_side(s: &Session, args: &Args, mut obj: Value, source: &str) -> Result<String> {
    let r = s.resource_of(&obj, source)?;
    let ns = s.place(r, &mut obj)?;
    let name = name_of(&obj)?;
    let manager = args
        .field_manager
        .as_deref()
        .unwrap_or("kubectl-client-side-apply");
    let mut query = vec![("fieldManager", manager)];
    if args.dry_run == DryRun::Server {
        query.push(("dryRun", "All"));
    }
    let modified = with_last_applied(&obj);
    let what = format!("{}/{name}", r.qualified_singular());
    let live = match s.get(r, ns.as_deref(), &name).await {
        Ok(live) => live,
        Err(Error::Server { reason, .. }) if reason == "NotFound" => {
            if args.dry_run != DryRun::Client {
                // As kubectl: nulls go before a create, as an update's patch would drop them.
                let mut modified = modified;
                prune_nulls(&mut modified);
                s.create(r, ns.as_deref(), &modified, &query)
                    .await
                    .map_err(|e| prefixed(e, &format!("error when creating \"{source}\": ")))?;
            }
            return Ok(format!("{what} created{}", args.dry_run.suffix()));
        }
        Err(e) => return Err(e),
    };
    let original = match live["metadata"]["annotations"][LAST_APPLIED].as_str() {
        Some(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        None => {
            eprintln!(
                "Warning: resource {}/{name} is missing the {LAST_APPLIED} annotation which is required by kubectl apply. kubectl apply should only be used on resources created declaratively by either kubectl create --save-config or kubectl apply. The missing annotation will be patched automatically.",
                r.plural
            );
            Value::Null
        }
    };
    let builtin = barge_api::merge::is_builtin(&r.group, &r.kind);
    let schema = Schema {
        strategic: builtin.then_some((r.group.as_str(), r.kind.as_str())),
    };
    let patch = three_way(schema, &original, &modified, &live);
    if patch.is_empty() {
        return Ok(format!("{what} unchanged{}", args.dry_run.suffix()));
    }
    if args.dry_run != DryRun::Client {
        let kind = if builtin {
            PatchKind::Strategic
        } else {
            PatchKind::Merge
        };
        let patch = Value::Object(patch);
        s.patch(r, ns.as_deref(), &name, kind, &patch, &query)
            .await
            .map_err(|e| {
                let context = patch_context(r, ns.as_deref(), &name, &patch, source);
                super::prefixed(e, &context)
            })?;
    }
    Ok(format!("{what} configured{}", args.dry_run.suffix()))
}

/// How kubectl introduces a failed apply patch: the patch, the object, the file.
fn patch_context(
    r: &Resource,
    ns: Option<&str>,
    name: &str,
    patch: &Value,
    source: &str,
) -> String {
    let gv = format!("{}/{}", r.group, r.version);
    format!(
        "error when applying patch:\n{}\nto:\nResource: \"{gv}, Resource={}\", GroupVersionKind: \"{gv}, Kind={}\"\nName: \"{name}\", Namespace: \"{}\"\nfor: \"{source}\": error when patching \"{source}\": ",
        json_compact(patch),
        r.plural,
        r.kind,
        ns.unwrap_or_default(),
    )
}

fn prune_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(prune_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_annotation_holds_the_configuration_without_itself() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default",
                "annotations": {LAST_APPLIED: "old"}}, "data": {"a": "<b>"}});
        let applied = with_last_applied(&obj);
        assert_eq!(
            applied["metadata"]["annotations"][LAST_APPLIED],
            "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"\\u003cb\\u003e\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"c\",\"namespace\":\"default\"}}\n"
        );
        assert_eq!(applied["data"], obj["data"]);
    }

    #[test]
    fn client_side_managers_fold_into_the_apply_entry() {
        let obj = json!({"metadata": {"resourceVersion": "7", "managedFields": [
            {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
             "fieldsV1": {"f:status": {}}},
            {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
             "fieldsV1": {"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:annotations": {
                 format!("f:{LAST_APPLIED}"): {}}}}},
            {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
             "fieldsV1": {"f:data": {"f:b": {}}}}]}});
        let csa = owners(&obj, "Update");
        assert_eq!(
            csa,
            BTreeSet::from(["kubectl-client-side-apply".to_owned()])
        );
        let patch = upgrade_patch(&obj, &csa, "kubectl").unwrap();
        assert_eq!(
            patch[0]["value"],
            json!([
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                 "fieldsV1": {"f:status": {}}},
                {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                 "fieldsV1": {"f:data": {".": {}, "f:a": {}, "f:b": {}}, "f:metadata": {"f:annotations": {
                     format!("f:{LAST_APPLIED}"): {}}}}}])
        );
        assert_eq!(patch[1]["value"], "7");
        assert!(upgrade_patch(&obj, &BTreeSet::new(), "kubectl").is_none());
    }

    #[test]
    fn nulls_are_pruned_before_a_create() {
        let mut v = json!({"a": null, "b": {"c": null, "d": 1}, "e": [{"f": null}]});
        prune_nulls(&mut v);
        assert_eq!(v, json!({"b": {"d": 1}, "e": [{}]}));
    }
}
