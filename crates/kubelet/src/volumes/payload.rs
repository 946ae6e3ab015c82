//! What goes into configMap, secret, downwardAPI and projected volumes: the files (path, bytes,
//! mode, owner) that the atomic writer projects, built from the pod and the objects it refers
//! to. Pure: no file system.
//!
//! Upstream: `MakePayload` in `pkg/volume/configmap` and `pkg/volume/secret`, `CollectData` in
//! `pkg/volume/downwardapi`, `collectData` in `pkg/volume/projected`, `ExtractFieldPathAsString`
//! (`pkg/fieldpath`) and `ExtractResourceValueByContainerNameAndNodeAllocatable`
//! (`pkg/api/v1/resource`). Messages are upstream's. Differences: a missing object is passed as
//! `None` (upstream fetches it and maps "not found"); resource values are divided in integers
//! rather than `float64` (the same result for every value below 2^53); map keys inside
//! `metadata.labels['…']` subscripts are not re-validated (the API server already did).

use std::collections::BTreeMap;

use barge_api::quantity::Quantity as Parsed;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, KeyToPath, Pod, ResourceFieldSelector, Secret,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// One file of a volume (upstream `FileProjection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileProjection {
    pub data: Vec<u8>,
    /// Permission bits (`0o644`); upstream's int32 `mode` masked to `0o7777`.
    pub mode: u32,
    /// Owner to give the file (ServiceAccount tokens when every container runs as one user).
    pub fs_user: Option<u32>,
}

/// Files by their path relative to the volume.
pub(crate) type Payload = BTreeMap<String, FileProjection>;

/// Errors gathered as upstream's `utilerrors.NewAggregate` prints them: one message alone, or
/// `[a, b]` with duplicates dropped.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<String>);

impl Errors {
    pub fn push(&mut self, message: String) {
        if !self.0.contains(&message) {
            self.0.push(message);
        }
    }

    /// Adds the messages of a nested aggregate (upstream flattens them).
    pub fn extend(&mut self, other: Errors) {
        for m in other.0 {
            self.push(m);
        }
    }

    pub fn into_result<T>(self, value: T) -> Result<T, String> {
        match self.0.len() {
            0 => Ok(value),
            1 => Err(self.0.into_iter().next().unwrap_or_default()),
            _ => Err(format!("[{}]", self.0.join(", "))),
        }
    }
}

pub(crate) fn file_mode(mode: i32) -> u32 {
    (mode as u32) & 0o7777
}

/// A configMap's files (upstream `configmap.MakePayload`). `config_map` is `None` when the
/// object does not exist and the volume is optional.
pub(crate) fn config_map(
    items: &[KeyToPath],
    config_map: Option<&ConfigMap>,
    default_mode: i32,
    optional: bool,
) -> Result<Payload, String> {
    let empty = BTreeMap::new();
    let empty_binary = BTreeMap::new();
    let data = config_map.and_then(|c| c.data.as_ref()).unwrap_or(&empty);
    let binary = config_map
        .and_then(|c| c.binary_data.as_ref())
        .unwrap_or(&empty_binary);
    let mut payload = Payload::new();
    let file = |data: Vec<u8>, mode: i32| FileProjection {
        data,
        mode: file_mode(mode),
        fs_user: None,
    };
    if items.is_empty() {
        for (k, v) in data {
            payload.insert(k.clone(), file(v.clone().into_bytes(), default_mode));
        }
        for (k, v) in binary {
            payload.insert(k.clone(), file(v.0.clone(), default_mode));
        }
        return Ok(payload);
    }
    for item in items {
        let content = if let Some(v) = data.get(&item.key) {
            v.clone().into_bytes()
        } else if let Some(v) = binary.get(&item.key) {
            v.0.clone()
        } else {
            if optional {
                continue;
            }
            return Err(format!(
                "configmap references non-existent config key: {}",
                item.key
            ));
        };
        payload.insert(
            item.path.clone(),
            file(content, item.mode.unwrap_or(default_mode)),
        );
    }
    Ok(payload)
}

/// A secret's files (upstream `secret.MakePayload`). `secret` is `None` when the object does
/// not exist and the volume is optional.
pub(crate) fn secret(
    items: &[KeyToPath],
    secret: Option<&Secret>,
    default_mode: i32,
    optional: bool,
) -> Result<Payload, String> {
    let empty = BTreeMap::new();
    let data = secret.and_then(|s| s.data.as_ref()).unwrap_or(&empty);
    let mut payload = Payload::new();
    let file = |data: Vec<u8>, mode: i32| FileProjection {
        data,
        mode: file_mode(mode),
        fs_user: None,
    };
    if items.is_empty() {
        for (k, v) in data {
            payload.insert(k.clone(), file(v.0.clone(), default_mode));
        }
        return Ok(payload);
    }
    for item in items {
        let Some(content) = data.get(&item.key) else {
            if optional {
                continue;
            }
            return Err(format!("references non-existent secret key: {}", item.key));
        };
        payload.insert(
            item.path.clone(),
            file(content.0.clone(), item.mode.unwrap_or(default_mode)),
        );
    }
    Ok(payload)
}

/// The downward API files (upstream `downwardapi.CollectData`): every item is attempted and the
/// failures are aggregated.
pub(crate) fn downward_api(
    items: &[DownwardAPIVolumeFile],
    pod: &Pod,
    allocatable: &BTreeMap<String, Quantity>,
    default_mode: i32,
) -> Result<Payload, Errors> {
    let mut errors = Errors::default();
    let mut payload = Payload::new();
    for item in items {
        let mode = file_mode(item.mode.unwrap_or(default_mode));
        let mut data = Vec::new();
        if let Some(field) = &item.field_ref {
            match field_path_value(pod, &field.field_path) {
                Ok(v) => data = v.into_bytes(),
                Err(e) => errors.push(e),
            }
        } else if let Some(resource) = &item.resource_field_ref {
            let container = resource.container_name.as_deref().unwrap_or("");
            match resource_value(resource, pod, container, allocatable) {
                Ok(v) => data = v.into_bytes(),
                Err(e) => errors.push(e),
            }
        }
        payload.insert(
            clean_path(&item.path),
            FileProjection {
                data,
                mode,
                fs_user: None,
            },
        );
    }
    if errors.0.is_empty() {
        Ok(payload)
    } else {
        Err(errors)
    }
}

/// Go's `filepath.Clean` for relative paths: no empty or `.` elements, `..` folded where it
/// can be.
pub(crate) fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|p| *p != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Upstream `fieldpath.ExtractFieldPathAsString`: the metadata fields a downward API volume
/// may project.
pub(crate) fn field_path_value(pod: &Pod, field_path: &str) -> Result<String, String> {
    let meta = &pod.metadata;
    let empty = BTreeMap::new();
    let labels = meta.labels.as_ref().unwrap_or(&empty);
    let annotations = meta.annotations.as_ref().unwrap_or(&empty);
    if let Some((path, subscript)) = split_subscript(field_path) {
        return match path {
            "metadata.annotations" => Ok(annotations.get(subscript).cloned().unwrap_or_default()),
            "metadata.labels" => Ok(labels.get(subscript).cloned().unwrap_or_default()),
            _ => Err(format!(
                "fieldPath {} does not support subscript",
                go_quote(field_path)
            )),
        };
    }
    match field_path {
        "metadata.annotations" => Ok(format_map(annotations)),
        "metadata.labels" => Ok(format_map(labels)),
        "metadata.name" => Ok(meta.name.clone().unwrap_or_default()),
        "metadata.namespace" => Ok(meta.namespace.clone().unwrap_or_default()),
        "metadata.uid" => Ok(meta.uid.clone().unwrap_or_default()),
        _ => Err(format!("unsupported fieldPath: {field_path}")),
    }
}

/// `metadata.labels['key']` → `("metadata.labels", "key")` (upstream `SplitMaybeSubscriptedPath`).
fn split_subscript(field_path: &str) -> Option<(&str, &str)> {
    let s = field_path.strip_suffix("']")?;
    let (path, subscript) = s.split_once("['")?;
    if path.is_empty() {
        return None;
    }
    Some((path, subscript))
}

/// Labels or annotations as upstream's `FormatMap` writes them: `key="value"` lines sorted by
/// key, values quoted as Go's `%q`, no newline after the last.
pub(crate) fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) use barge_api::go::quote as go_quote;

/// Upstream `ExtractResourceValueByContainerNameAndNodeAllocatable`: the container's
/// limit or request in units of the divisor, rounded up, with limits that are not set taken
/// from the node's allocatable resources.
pub(crate) fn resource_value(
    selector: &ResourceFieldSelector,
    pod: &Pod,
    container_name: &str,
    allocatable: &BTreeMap<String, Quantity>,
) -> Result<String, String> {
    let container = find_container(pod, container_name)
        .ok_or_else(|| format!("container {container_name} not found"))?;
    let resources = container.resources.as_ref();
    let mut limits = resources.and_then(|r| r.limits.clone()).unwrap_or_default();
    for name in ["cpu", "memory", "ephemeral-storage"] {
        let set = limits
            .get(name)
            .and_then(|q| Parsed::parse(&q.0).ok())
            .is_some_and(|q| !q.is_zero());
        if !set && let Some(cap) = allocatable.get(name) {
            limits.insert(name.to_string(), cap.clone());
        }
    }
    let requests = resources
        .and_then(|r| r.requests.clone())
        .unwrap_or_default();
    let divisor = match &selector.divisor {
        Some(d) => parse(d)?,
        None => Parsed::from_int(1),
    };
    let divisor = if divisor.is_zero() {
        Parsed::from_int(1)
    } else {
        divisor
    };
    let get = |list: &BTreeMap<String, Quantity>, name: &str| -> Result<Parsed, String> {
        match list.get(name) {
            Some(q) => parse(q),
            None => Ok(Parsed::from_int(0)),
        }
    };
    let (list, name) = match selector.resource.split_once('.') {
        Some(("limits", name)) => (&limits, name),
        Some(("requests", name)) => (&requests, name),
        _ => return Err(unsupported_resource(&selector.resource)),
    };
    let value = match name {
        "cpu" => ceil_div(get(list, name)?.milli_value(), divisor.milli_value()),
        "memory" | "ephemeral-storage" => ceil_div(get(list, name)?.value(), divisor.value()),
        n if n.starts_with("hugepages-") => ceil_div(get(list, n)?.value(), divisor.value()),
        _ => return Err(unsupported_resource(&selector.resource)),
    };
    Ok(value.to_string())
}

fn unsupported_resource(resource: &str) -> String {
    format!("unsupported container resource : {resource}")
}

fn parse(q: &Quantity) -> Result<Parsed, String> {
    Parsed::parse(&q.0).map_err(|_| format!("invalid quantity {}", go_quote(&q.0)))
}

/// `ceil(a / b)` (upstream divides in float64 and takes the ceiling).
fn ceil_div(a: i128, b: i128) -> i128 {
    if b <= 0 {
        return a;
    }
    a.div_euclid(b) + i128::from(a.rem_euclid(b) != 0)
}

fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {
                "name": "web", "namespace": "ns", "uid": "u-1",
                "labels": {"b": "2", "a": "one \"quoted\"\nline"},
                "annotations": {"k8s.io/x": "y", "nbsp": "a\u{a0}b", "tab": "a\tb", "emoji": "\u{1F600}"}
            },
            "spec": {
                "containers": [{"name": "c", "resources": {
                    "limits": {"memory": "64Mi"},
                    "requests": {"cpu": "250m", "memory": "32Mi"}
                }}],
                "initContainers": [{"name": "i", "resources": {"limits": {"cpu": "1500m", "hugepages-2Mi": "4Mi"}}}]
            }
        }))
        .unwrap()
    }

    fn ktp(key: &str, path: &str, mode: Option<i32>) -> KeyToPath {
        KeyToPath {
            key: key.into(),
            path: path.into(),
            mode,
        }
    }

    #[test]
    fn config_map_all_keys_and_binary_data_with_default_mode() {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "cm"},
            "data": {"a": "1", "b.conf": "x=y"},
            "binaryData": {"bin": "AAEC"}
        }))
        .unwrap();
        let p = config_map(&[], Some(&cm), 0o644, false).unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["a", "b.conf", "bin"]);
        assert_eq!(p["bin"].data, [0, 1, 2]);
        assert_eq!(p["a"].mode, 0o644);
    }

    #[test]
    fn config_map_items_modes_and_missing_keys() {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "cm"}, "data": {"a": "1"}}))
                .unwrap();
        let items = [ktp("a", "dir/file", Some(0o400))];
        let p = config_map(&items, Some(&cm), 0o644, false).unwrap();
        assert_eq!(p["dir/file"].data, b"1");
        assert_eq!(p["dir/file"].mode, 0o400);

        let items = [ktp("a", "x", None), ktp("nope", "y", None)];
        assert_eq!(
            config_map(&items, Some(&cm), 0o644, false).unwrap_err(),
            "configmap references non-existent config key: nope"
        );
        let p = config_map(&items, Some(&cm), 0o600, true).unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["x"]);
        assert_eq!(p["x"].mode, 0o600);
        // An optional configMap that does not exist projects nothing.
        assert!(config_map(&items, None, 0o644, true).unwrap().is_empty());
    }

    #[test]
    fn secret_items_and_missing_keys() {
        let s = Secret {
            data: Some(BTreeMap::from([(
                "pw".to_string(),
                ByteString(b"hunter2".to_vec()),
            )])),
            ..Default::default()
        };
        let p = secret(&[], Some(&s), 0o644, false).unwrap();
        assert_eq!(p["pw"].data, b"hunter2");
        let items = [ktp("pw", "p/w", Some(0o600)), ktp("other", "o", None)];
        assert_eq!(
            secret(&items, Some(&s), 0o644, false).unwrap_err(),
            "references non-existent secret key: other"
        );
        let p = secret(&items, Some(&s), 0o644, true).unwrap();
        assert_eq!(p["p/w"].mode, 0o600);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn labels_and_annotations_are_sorted_go_quoted_lines() {
        let pod = pod();
        assert_eq!(
            field_path_value(&pod, "metadata.labels").unwrap(),
            "a=\"one \\\"quoted\\\"\\nline\"\nb=\"2\""
        );
        assert_eq!(
            field_path_value(&pod, "metadata.annotations").unwrap(),
            "emoji=\"\u{1F600}\"\nk8s.io/x=\"y\"\nnbsp=\"a\\u00a0b\"\ntab=\"a\\tb\""
        );
        assert_eq!(
            field_path_value(&pod, "metadata.annotations['k8s.io/x']").unwrap(),
            "y"
        );
        assert_eq!(
            field_path_value(&pod, "metadata.labels['missing']").unwrap(),
            ""
        );
        assert_eq!(field_path_value(&pod, "metadata.uid").unwrap(), "u-1");
        assert_eq!(field_path_value(&pod, "metadata.namespace").unwrap(), "ns");
        assert_eq!(
            field_path_value(&pod, "spec.nodeName").unwrap_err(),
            "unsupported fieldPath: spec.nodeName"
        );
        assert_eq!(
            field_path_value(&pod, "metadata.name['x']").unwrap_err(),
            "fieldPath \"metadata.name['x']\" does not support subscript"
        );
        assert_eq!(go_quote("\u{1}\u{7f}\u{202e}"), "\"\\x01\\x7f\\u202e\"");
    }

    #[test]
    fn resource_values_round_up_and_default_to_allocatable() {
        let pod = pod();
        let alloc = BTreeMap::from([
            ("cpu".to_string(), Quantity("4".into())),
            ("memory".to_string(), Quantity("8Gi".into())),
        ]);
        let sel = |r: &str, div: Option<&str>| ResourceFieldSelector {
            container_name: None,
            resource: r.into(),
            divisor: div.map(|d| Quantity(d.into())),
        };
        let v = |r: &str, div: Option<&str>, c: &str| resource_value(&sel(r, div), &pod, c, &alloc);
        assert_eq!(v("requests.cpu", None, "c").unwrap(), "1");
        assert_eq!(v("requests.cpu", Some("1m"), "c").unwrap(), "250");
        assert_eq!(v("limits.cpu", None, "c").unwrap(), "4");
        assert_eq!(v("limits.cpu", Some("1m"), "i").unwrap(), "1500");
        assert_eq!(v("limits.memory", Some("1Mi"), "c").unwrap(), "64");
        assert_eq!(v("limits.memory", None, "i").unwrap(), "8589934592");
        assert_eq!(v("requests.memory", Some("1Mi"), "c").unwrap(), "32");
        assert_eq!(v("limits.hugepages-2Mi", Some("1Mi"), "i").unwrap(), "4");
        assert_eq!(v("requests.ephemeral-storage", None, "c").unwrap(), "0");
        assert_eq!(
            v("limits.gpu", None, "c").unwrap_err(),
            "unsupported container resource : limits.gpu"
        );
        assert_eq!(
            v("limits.cpu", None, "nope").unwrap_err(),
            "container nope not found"
        );
    }

    #[test]
    fn downward_api_aggregates_errors() {
        let items: Vec<DownwardAPIVolumeFile> = serde_json::from_value(json!([
            {"path": "./name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o400},
            {"path": "bad1", "fieldRef": {"fieldPath": "status.podIP"}},
            {"path": "bad2", "fieldRef": {"fieldPath": "spec.nodeName"}}
        ]))
        .unwrap();
        let err = downward_api(&items, &pod(), &BTreeMap::new(), 0o644).unwrap_err();
        assert_eq!(
            err.into_result(()).unwrap_err(),
            "[unsupported fieldPath: status.podIP, unsupported fieldPath: spec.nodeName]"
        );
        let p = downward_api(&items[..1], &pod(), &BTreeMap::new(), 0o644).unwrap();
        assert_eq!(p["name"].data, b"web");
        assert_eq!(p["name"].mode, 0o400);
    }

    #[test]
    fn clean_path_like_go() {
        assert_eq!(clean_path("./a//b/"), "a/b");
        assert_eq!(clean_path("a/../b"), "b");
        assert_eq!(clean_path(""), ".");
        assert_eq!(clean_path("/x/../y"), "/y");
        assert_eq!(clean_path("../a"), "../a");
    }
}
