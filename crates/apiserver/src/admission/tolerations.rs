//! DefaultTolerationSeconds, as upstream's plugin: every new pod tolerates the
//! `node.kubernetes.io/not-ready` and `node.kubernetes.io/unreachable` NoExecute taints for a
//! limited time (300 s by default), unless it already says how it treats them. This is what
//! makes a dead node's pods move elsewhere after five minutes rather than never.

use serde_json::{Value, json};

/// The taints the node lifecycle controller puts on unhealthy nodes.
const TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// Adds the default tolerations to a pod's spec.
pub fn add_defaults(pod: &mut Value, seconds: i64) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = tolerations.as_array_mut() else {
        return;
    };
    for taint in TAINTS {
        let covered = list.iter().any(|t| {
            let effect = t["effect"].as_str().unwrap_or_default();
            let key = t["key"].as_str().unwrap_or_default();
            let exists = t["operator"] == "Exists";
            (effect.is_empty() || effect == "NoExecute")
                && (key == taint || (key.is_empty() && exists))
        });
        if !covered {
            list.push(json!({
                "key": taint,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": seconds,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_both_unless_the_pod_already_decides() {
        let mut pod = json!({"spec": {"containers": []}});
        add_defaults(&mut pod, 300);
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["key"], "node.kubernetes.io/not-ready");
        assert_eq!(t[1]["tolerationSeconds"], 300);

        let mut pod = json!({"spec": {"tolerations": [
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}
        ]}});
        add_defaults(&mut pod, 5);
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(t[0].get("tolerationSeconds").is_none(), "kept as it was");
        assert_eq!(t[1]["key"], "node.kubernetes.io/not-ready");

        let mut pod = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        add_defaults(&mut pod, 5);
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 1);
    }
}
