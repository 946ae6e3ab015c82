//! What the API server itself does to every object's metadata on create and update: names,
//! uids, timestamps, generation, and the parts a client may not change.

use std::time::SystemTime;

use barge_api::time::format_rfc3339;
use barge_api::{ApiError, Resource};
use serde_json::{Map, Value, json};

/// Kinds whose `metadata.generation` counts changes of their spec, as their upstream
/// strategies do (custom resources always do).
const TRACKS_GENERATION: &[&str] = &[
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "NetworkPolicy",
    "CustomResourceDefinition",
];

pub fn tracks_generation(resource: &Resource) -> bool {
    TRACKS_GENERATION.contains(&resource.kind.as_str()) || is_custom(resource)
}

pub fn is_custom(resource: &Resource) -> bool {
    resource.custom
}

pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.as_object()
}

pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)?.get(field)?.as_str()
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or_default()
}

/// Random bytes from the system's secure generator.
fn random<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .expect("the system random generator works");
    out
}

/// A random (version 4) UUID.
pub fn new_uid() -> String {
    let mut b = random::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Five characters for `generateName`, from upstream's alphabet (no vowels, no look-alikes).
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    random::<5>()
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Checks the type fields of a request body against the URL's resource, filling them in when
/// absent, as upstream's decoder does.
pub fn check_type(resource: &Resource, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(format!(
            "the body of the request is not a {} object",
            resource.kind
        )));
    }
    let expected = resource.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = json!(expected),
        Some(v) if v == expected => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected})"
            )));
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(resource.kind),
        Some(k) if k == resource.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                resource.kind
            )));
        }
    }
    Ok(())
}

/// Metadata of a new object: namespace from the URL, a name (or one made from `generateName`),
/// a uid, the creation time, generation 1, and nothing a client may not set.
pub fn prepare_create(
    resource: &Resource,
    obj: &mut Value,
    namespace: Option<&str>,
    now: SystemTime,
) -> Result<(), ApiError> {
    let custom = is_custom(resource);
    let generation = tracks_generation(resource);
    let m = meta_mut(obj);
    if resource.namespaced {
        let ns = namespace.unwrap_or_default();
        match m.get("namespace").and_then(Value::as_str) {
            None | Some("") => {
                m.insert("namespace".into(), json!(ns));
            }
            Some(given) if given == ns => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    } else {
        m.remove("namespace");
    }
    let has_name = m
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if !has_name {
        match m.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => {
                let name = format!("{prefix}{}", name_suffix());
                m.insert("name".into(), json!(name));
            }
            _ => {}
        }
    }
    m.insert("uid".into(), json!(new_uid()));
    m.insert("creationTimestamp".into(), json!(format_rfc3339(now)));
    for field in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        m.remove(field);
    }
    if generation {
        m.insert("generation".into(), json!(1));
    } else {
        m.remove("generation");
    }
    // Status is the controllers' to write, except for custom resources without a status
    // subresource, whose status is plain data, and Nodes, which kubelets create with theirs.
    if (resource.subresource("status").is_some() || !custom)
        && resource.kind != "Node"
        && let Some(o) = obj.as_object_mut()
        && o.contains_key("status")
    {
        o.insert("status".into(), json!({}));
    }
    Ok(())
}

/// Carries over from the stored object what an update may not change (uid, creation time,
/// deletion state, and the status when it has its own subresource), and bumps the generation
/// when the spec changed.
pub fn prepare_update(resource: &Resource, old: &Value, new: &mut Value) {
    let keep_status = resource.subresource("status").is_some();
    let old_meta = meta(old).cloned().unwrap_or_default();
    let spec_changed = spec_of(resource, old) != spec_of(resource, new);
    let m = meta_mut(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
    ] {
        match old_meta.get(field) {
            Some(v) => m.insert(field.into(), v.clone()),
            None => m.remove(field),
        };
    }
    m.remove("resourceVersion");
    if tracks_generation(resource) && spec_changed {
        let g = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        m.insert("generation".into(), json!(g + 1));
    }
    if keep_status && let Some(o) = new.as_object_mut() {
        match old.get("status") {
            Some(s) => o.insert("status".into(), s.clone()),
            None => o.remove("status"),
        };
    }
}

/// What counts as "the spec" for generation: the spec field, or for custom resources and
/// kinds without one everything but metadata and status.
fn spec_of(resource: &Resource, obj: &Value) -> Value {
    if !is_custom(resource) {
        return obj.get("spec").cloned().unwrap_or(Value::Null);
    }
    let mut rest = obj.as_object().cloned().unwrap_or_default();
    rest.remove("metadata");
    rest.remove("status");
    Value::Object(rest)
}

/// An update of the status subresource: the new status on the stored object, nothing else.
pub fn status_update(old: &Value, new: &Value) -> Value {
    let mut out = old.clone();
    match new.get("status") {
        Some(s) => out["status"] = s.clone(),
        None => {
            if let Some(o) = out.as_object_mut() {
                o.remove("status");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_api::Registry;

    fn deploy() -> Resource {
        Registry::with_builtins()
            .get("apps", "v1", "deployments")
            .unwrap()
            .as_ref()
            .clone()
    }

    #[test]
    fn create_sets_server_fields() {
        let mut obj = json!({"metadata": {"generateName": "web-", "resourceVersion": "9", "uid": "x"},
                             "spec": {"replicas": 1}, "status": {"replicas": 5}});
        check_type(&deploy(), &mut obj).unwrap();
        prepare_create(&deploy(), &mut obj, Some("default"), SystemTime::UNIX_EPOCH).unwrap();
        let m = meta(&obj).unwrap();
        assert!(m["name"].as_str().unwrap().starts_with("web-"));
        assert_eq!(m["name"].as_str().unwrap().len(), 9);
        assert_eq!(m["namespace"], "default");
        assert_eq!(m["generation"], 1);
        assert_eq!(m["creationTimestamp"], "1970-01-01T00:00:00Z");
        assert_ne!(m["uid"], "x");
        assert!(!m.contains_key("resourceVersion"));
        assert_eq!(obj["status"], json!({}));
        assert_eq!(obj["kind"], "Deployment");
        assert_eq!(obj["apiVersion"], "apps/v1");
    }

    #[test]
    fn create_refuses_a_mismatched_namespace_or_kind() {
        let mut obj = json!({"metadata": {"name": "a", "namespace": "other"}});
        assert_eq!(
            prepare_create(&deploy(), &mut obj, Some("default"), SystemTime::now())
                .unwrap_err()
                .code,
            400
        );
        let mut obj = json!({"kind": "Pod", "metadata": {"name": "a"}});
        assert_eq!(check_type(&deploy(), &mut obj).unwrap_err().code, 400);
    }

    #[test]
    fn update_keeps_identity_and_bumps_generation_on_spec_change() {
        let old = json!({"metadata": {"name": "a", "uid": "u1", "generation": 3, "creationTimestamp": "t"},
                         "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut new = json!({"metadata": {"name": "a", "uid": "evil", "labels": {"x": "y"}},
                             "spec": {"replicas": 2}, "status": {"replicas": 9}});
        prepare_update(&deploy(), &old, &mut new);
        assert_eq!(new["metadata"]["uid"], "u1");
        assert_eq!(new["metadata"]["generation"], 4);
        assert_eq!(new["metadata"]["labels"]["x"], "y");
        assert_eq!(
            new["status"]["replicas"], 1,
            "status changes go through /status"
        );
        let mut same = old.clone();
        same["metadata"]["labels"] = json!({"a": "b"});
        prepare_update(&deploy(), &old, &mut same);
        assert_eq!(
            same["metadata"]["generation"], 3,
            "metadata changes keep the generation"
        );
    }

    #[test]
    fn uids_and_suffixes_look_right() {
        let uid = new_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert_ne!(new_uid(), uid);
        assert!(
            name_suffix()
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
        );
    }
}
