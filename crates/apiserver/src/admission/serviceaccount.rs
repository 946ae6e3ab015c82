//! The ServiceAccount admission plugin's mutation, as upstream's: a new pod without a
//! ServiceAccount gets `default`, and, unless the pod or its ServiceAccount turns automounting
//! off, a `kube-api-access-<suffix>` projected volume (a bound token, the cluster CA from the
//! `kube-root-ca.crt` ConfigMap, the namespace) mounted read-only at
//! `/var/run/secrets/kubernetes.io/serviceaccount` in every container and init container.
//!
//! Unlike upstream, a pod whose ServiceAccount does not exist (yet) is admitted: the
//! ServiceAccount controller creates `default` moments after its namespace, and refusing pods
//! in that window would only make their controllers retry.

use serde_json::{Value, json};

/// Where the token, CA and namespace appear in containers.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The ServiceAccount a pod runs as (`default` when it names none), set on the pod.
pub fn default_account(pod: &mut Value) -> String {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return "default".to_owned();
    };
    let name = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| spec.get("serviceAccount").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_owned();
    spec.insert("serviceAccountName".into(), json!(name));
    spec.insert("serviceAccount".into(), json!(name));
    name
}

/// Whether the pod wants the token mounted (the pod's setting wins over its account's).
pub fn wants_token(pod: &Value, account_automount: Option<bool>) -> bool {
    match pod["spec"]["automountServiceAccountToken"].as_bool() {
        Some(v) => v,
        None => account_automount.unwrap_or(true),
    }
}

/// Adds the projected volume (named `kube-api-access-<suffix>`) and its mounts, unless a
/// container already mounts something at [`MOUNT_PATH`] in which case that container is left
/// alone.
pub fn mount_token(pod: &mut Value, suffix: &str) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let volume = format!("kube-api-access-{suffix}");
    let mut mounted = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let Some(c) = c.as_object_mut() else { continue };
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            let Some(mounts) = mounts.as_array_mut() else {
                continue;
            };
            if mounts.iter().any(|m| m["mountPath"] == MOUNT_PATH) {
                continue;
            }
            mounts.push(json!({"name": volume, "readOnly": true, "mountPath": MOUNT_PATH}));
            mounted = true;
        }
    }
    if !mounted {
        return;
    }
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    if let Some(volumes) = volumes.as_array_mut() {
        volumes.push(json!({
            "name": volume,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt",
                                   "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef":
                        {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_account_and_token_volume() {
        let mut pod = json!({"spec": {
            "initContainers": [{"name": "i"}],
            "containers": [{"name": "a"}, {"name": "b", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}]
        }});
        assert_eq!(default_account(&mut pod), "default");
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["spec"]["serviceAccount"], "default");
        mount_token(&mut pod, "x2b4c");
        let v = &pod["spec"]["volumes"][0];
        assert_eq!(v["name"], "kube-api-access-x2b4c");
        assert_eq!(
            v["projected"]["sources"][0]["serviceAccountToken"]["path"],
            "token"
        );
        assert_eq!(
            v["projected"]["sources"][1]["configMap"]["name"],
            "kube-root-ca.crt"
        );
        let mount =
            json!({"name": "kube-api-access-x2b4c", "readOnly": true, "mountPath": MOUNT_PATH});
        assert_eq!(pod["spec"]["initContainers"][0]["volumeMounts"][0], mount);
        assert_eq!(pod["spec"]["containers"][0]["volumeMounts"][0], mount);
        let own = pod["spec"]["containers"][1]["volumeMounts"]
            .as_array()
            .unwrap();
        assert_eq!(
            own.len(),
            1,
            "a container with its own mount there is left alone"
        );
    }

    #[test]
    fn named_account_and_opt_out() {
        let mut pod = json!({"spec": {"serviceAccountName": "robot", "containers": []}});
        assert_eq!(default_account(&mut pod), "robot");
        assert!(wants_token(&pod, None));
        assert!(!wants_token(&pod, Some(false)));
        let opted_out = json!({"spec": {"automountServiceAccountToken": false}});
        assert!(!wants_token(&opted_out, Some(true)));
        let opted_in = json!({"spec": {"automountServiceAccountToken": true}});
        assert!(wants_token(&opted_in, Some(false)));
    }
}
