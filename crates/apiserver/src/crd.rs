//! CustomResourceDefinitions: each served version of a definition becomes a resource in the
//! registry as soon as the definition is stored (and again at start-up), its status says
//! Established, and custom resources are checked against the version's openAPIV3Schema.

use std::sync::Arc;

use barge_api::registry::ALL_VERBS;
use barge_api::{ApiError, Cause, Resource, Subresource};
use barge_store::RangeRequest;
use serde_json::{Value, json};

use crate::ApiServer;
use crate::handlers::from_kv;

const PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// The resources a definition serves, one per served version.
pub fn resources_of(crd: &Value) -> Vec<Resource> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let names = &spec["names"];
    let kind = names["kind"].as_str().unwrap_or_default();
    let plural = names["plural"].as_str().unwrap_or_default();
    if group.is_empty() || kind.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    let singular = names["singular"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map_or_else(|| kind.to_lowercase(), str::to_owned);
    let mut versions: Vec<&Value> = spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"] != json!(false))
        .collect();
    // The storage version is listed first, so that it is the preferred one.
    versions.sort_by_key(|v| v["storage"] != json!(true));
    versions
        .into_iter()
        .filter_map(|v| {
            let version = v["name"].as_str()?;
            let mut subresources = Vec::new();
            if v["subresources"]["status"].is_object() {
                subresources.push(Subresource {
                    name: "status".into(),
                    group: group.into(),
                    version: version.into(),
                    kind: kind.into(),
                    verbs: vec!["get".into(), "patch".into(), "update".into()],
                    scale_paths: None,
                });
            }
            if v["subresources"]["scale"].is_object() {
                subresources.push(Subresource {
                    name: "scale".into(),
                    group: "autoscaling".into(),
                    version: "v1".into(),
                    kind: "Scale".into(),
                    verbs: vec!["get".into(), "patch".into(), "update".into()],
                    scale_paths: Some(v["subresources"]["scale"].clone()),
                });
            }
            Some(Resource {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
                plural: plural.into(),
                singular: singular.clone(),
                namespaced: spec["scope"] != "Cluster",
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                verbs: ALL_VERBS.iter().map(|s| (*s).to_owned()).collect(),
                subresources,
                storage_prefix: format!("/registry/{group}/{plural}"),
                custom: true,
                printer_columns: v.get("additionalPrinterColumns").cloned(),
                schema: v["schema"].get("openAPIV3Schema").cloned(),
            })
        })
        .collect()
}

fn register(state: &ApiServer, crd: &Value) {
    let mut registry = state.registry.write().unwrap_or_else(|p| p.into_inner());
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
    let stale: Vec<String> = registry
        .resources()
        .iter()
        .filter(|r| r.custom && r.group == group && r.plural == plural)
        .map(|r| r.version.clone())
        .collect();
    for v in stale {
        registry.remove(group, &v, plural);
    }
    for r in resources_of(crd) {
        registry.upsert(r);
    }
}

/// Registers a stored definition and marks it Established.
pub async fn established(state: &Arc<ApiServer>, crd: &Value) {
    register(state, crd);
    let conditions = crd["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if conditions
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True")
    {
        return;
    }
    let now = barge_api::time::format_rfc3339(std::time::SystemTime::now());
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    let Ok(revision) = crd["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .parse()
    else {
        return;
    };
    let mut updated = crd.clone();
    updated["status"] = json!({
        "acceptedNames": crd["spec"]["names"],
        "storedVersions": crd["spec"]["versions"].as_array().into_iter().flatten()
            .filter(|v| v["storage"] == json!(true)).map(|v| v["name"].clone()).collect::<Vec<_>>(),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
    });
    if let Some(m) = updated.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    let bytes = bytes::Bytes::from(serde_json::to_vec(&updated).unwrap_or_default());
    if let Err(e) = state
        .store
        .update(&format!("{PREFIX}{name}"), bytes, revision, None)
        .await
    {
        tracing::debug!(crd = name, error = %e, "the definition changed before its status was set");
    }
}

/// Forgets a deleted definition and deletes its custom resources.
pub fn removed(state: &Arc<ApiServer>, crd: &Value) {
    let group = crd["spec"]["group"].as_str().unwrap_or_default().to_owned();
    let plural = crd["spec"]["names"]["plural"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    {
        let mut registry = state.registry.write().unwrap_or_else(|p| p.into_inner());
        let versions: Vec<String> = registry
            .resources()
            .iter()
            .filter(|r| r.custom && r.group == group && r.plural == plural)
            .map(|r| r.version.clone())
            .collect();
        for v in versions {
            registry.remove(&group, &v, &plural);
        }
    }
    let state = state.clone();
    tokio::spawn(async move {
        let prefix = format!("/registry/{group}/{plural}/");
        if let Ok(page) = state.store.range(RangeRequest::prefix(prefix)).await {
            for kv in page.kvs {
                let _ = state.store.delete(&kv.key, Some(kv.mod_revision)).await;
            }
        }
    });
}

/// Registers every stored definition (at start-up).
pub async fn load(state: &ApiServer) -> Result<(), ApiError> {
    let page = state
        .store
        .range(RangeRequest::prefix(PREFIX))
        .await
        .map_err(ApiError::internal)?;
    for kv in &page.kvs {
        register(state, &from_kv(kv)?);
    }
    Ok(())
}

/// Removes the fields of a custom resource that its version's schema does not declare, as
/// upstream prunes them, and returns their paths (for `fieldValidation`). Fields under
/// `x-kubernetes-preserve-unknown-fields` are kept; `apiVersion`, `kind` and `metadata` always.
pub fn prune_unknown(resource: &Resource, obj: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    let Some(schema) = &resource.schema else {
        return pruned;
    };
    if let Some(fields) = obj.as_object_mut() {
        let keys: Vec<String> = fields.keys().cloned().collect();
        for key in keys {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            match schema["properties"].get(&key) {
                Some(sub) => {
                    if let Some(v) = fields.get_mut(&key) {
                        prune(sub, v, &key, &mut pruned, 0);
                    }
                }
                None if preserves(schema) => {}
                None => {
                    fields.remove(&key);
                    pruned.push(key);
                }
            }
        }
    }
    pruned
}

fn preserves(schema: &Value) -> bool {
    schema["x-kubernetes-preserve-unknown-fields"] == json!(true)
}

fn prune(schema: &Value, v: &mut Value, path: &str, pruned: &mut Vec<String>, depth: usize) {
    if depth > 64 || schema["x-kubernetes-embedded-resource"] == json!(true) && preserves(schema) {
        return;
    }
    match v {
        Value::Object(fields) => {
            let properties = schema["properties"].as_object();
            let additional = &schema["additionalProperties"];
            let keys: Vec<String> = fields.keys().cloned().collect();
            for key in keys {
                let child = format!("{path}.{key}");
                let sub = properties
                    .and_then(|p| p.get(&key))
                    .or(additional.is_object().then_some(additional));
                match sub {
                    Some(sub) => {
                        if let Some(value) = fields.get_mut(&key) {
                            prune(sub, value, &child, pruned, depth + 1);
                        }
                    }
                    None if preserves(schema) || *additional == json!(true) => {}
                    None => {
                        fields.remove(&key);
                        pruned.push(child);
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                prune(
                    &schema["items"],
                    item,
                    &format!("{path}[{i}]"),
                    pruned,
                    depth + 1,
                );
            }
        }
        _ => {}
    }
}

/// Checks a custom resource against its version's schema: types, required fields and enums.
pub fn validate_custom(resource: &Resource, obj: &Value) -> Result<(), ApiError> {
    let Some(schema) = &resource.schema else {
        return Ok(());
    };
    let mut causes = Vec::new();
    for field in ["spec", "status"] {
        if let (Some(s), Some(v)) = (schema["properties"].get(field), obj.get(field)) {
            check(s, v, field, &mut causes);
        }
    }
    for r in strings(&schema["required"]) {
        if obj.get(&r).is_none() {
            causes.push(Cause::required(r, ""));
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::invalid(
        &resource.group,
        &resource.kind,
        name,
        causes,
    ))
}

fn check(schema: &Value, v: &Value, path: &str, causes: &mut Vec<Cause>) {
    if v.is_null() && schema["nullable"] == json!(true) {
        return;
    }
    let ty = schema["type"].as_str().unwrap_or_default();
    let ok = match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string() || schema["x-kubernetes-int-or-string"] == json!(true),
        "integer" => {
            v.is_i64()
                || v.is_u64()
                || (v.is_string() && schema["x-kubernetes-int-or-string"] == json!(true))
        }
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    };
    if !ok {
        causes.push(Cause {
            reason: "FieldValueTypeInvalid",
            field: path.to_owned(),
            message: format!(
                "Invalid value: \"{}\": {path} in body must be of type {ty}: \"{}\"",
                type_name(v),
                type_name(v)
            ),
        });
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        causes.push(Cause {
            reason: "FieldValueNotSupported",
            field: path.to_owned(),
            message: format!(
                "Unsupported value: {v}: supported values: {}",
                list.join(", ")
            ),
        });
    }
    match v {
        Value::Object(map) => {
            for r in strings(&schema["required"]) {
                if !map.contains_key(&r) {
                    causes.push(Cause::required(format!("{path}.{r}"), ""));
                }
            }
            if let Some(props) = schema["properties"].as_object() {
                for (k, sub) in props {
                    if let Some(child) = map.get(k) {
                        check(sub, child, &format!("{path}.{k}"), causes);
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(&schema["items"], item, &format!("{path}[{i}]"), causes);
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"metadata": {"name": "crontabs.stable.example.com"},
          "spec": {"group": "stable.example.com", "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
              "subresources": {"status": {}},
              "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}],
              "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
                "required": ["cronSpec"],
                "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]}})
    }

    #[test]
    fn definitions_become_resources() {
        let rs = resources_of(&crd());
        assert_eq!(rs.len(), 1);
        let r = &rs[0];
        assert_eq!(
            (r.group.as_str(), r.version.as_str(), r.kind.as_str()),
            ("stable.example.com", "v1", "CronTab")
        );
        assert!(r.namespaced && r.custom);
        assert_eq!(r.short_names, ["ct"]);
        assert!(r.subresource("status").is_some());
        assert_eq!(
            r.key(Some("default"), "x"),
            "/registry/stable.example.com/crontabs/default/x"
        );
    }

    #[test]
    fn unknown_fields_of_custom_resources_are_pruned() {
        let r = &resources_of(&crd())[0];
        let mut obj = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "x"}, "spec": {"cronSpec": "* * * * *", "foo": 1}, "extra": true});
        let pruned = prune_unknown(r, &mut obj);
        assert_eq!(pruned, ["extra", "spec.foo"]);
        assert_eq!(obj["spec"], json!({"cronSpec": "* * * * *"}));
        assert!(obj.get("extra").is_none());
    }

    #[test]
    fn custom_resources_are_checked_against_the_schema() {
        let r = &resources_of(&crd())[0];
        let mut causes = Vec::new();
        let schema = &r.schema.as_ref().unwrap()["properties"]["spec"];
        check(
            schema,
            &json!({"cronSpec": "* * * * *", "replicas": 2}),
            "spec",
            &mut causes,
        );
        assert!(causes.is_empty());
        check(schema, &json!({"replicas": "two"}), "spec", &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.cronSpec", "spec.replicas"]);
    }
}
