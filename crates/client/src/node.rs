//! The objects a kubelet writes to say its node is alive, shared by the real kubelet
//! (`barge-kubelet`) and the hollow ones (`barge-hollow`): the node conditions of a healthy
//! kubelet, the heartbeat patch of `nodes/status`, and the node's Lease in `kube-node-lease`.
//! Pure functions, worded as upstream's kubelet.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::NodeCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use serde_json::{Value, json};

/// The namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// The node conditions of a healthy kubelet: Ready, no pressure. `since` is when they last
/// changed (the registration), `now` the heartbeat.
pub fn conditions(now: &Time, since: &Time) -> Vec<NodeCondition> {
    let cond = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(since.clone()),
    };
    vec![
        cond(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        cond(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        cond(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        cond(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
    ]
}

/// The merge patch of `nodes/status` a heartbeat sends: the conditions, heartbeat now. Merge
/// patch replaces the whole list, which is right: the kubelet owns these four conditions.
pub fn heartbeat(now: &Time, since: &Time) -> Value {
    json!({"status": {"conditions": conditions(now, since)}})
}

/// The Lease of a node, owned by the Node (so it goes when the Node goes), renewed now.
pub fn lease(node: &str, node_uid: &str, duration_seconds: i32, now: &MicroTime) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.to_owned()),
            namespace: Some(LEASE_NAMESPACE.to_owned()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".to_owned(),
                kind: "Node".to_owned(),
                name: node.to_owned(),
                uid: node_uid.to_owned(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.to_owned()),
            lease_duration_seconds: Some(duration_seconds),
            renew_time: Some(now.clone()),
            ..LeaseSpec::default()
        }),
    }
}

/// The merge patch of a lease renewal.
pub fn renewal(node: &str, duration_seconds: i32, now: &MicroTime) -> Value {
    json!({"spec": {
        "holderIdentity": node,
        "leaseDurationSeconds": duration_seconds,
        "renewTime": now,
    }})
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(s: &str) -> Time {
        Time(s.parse::<Timestamp>().unwrap())
    }

    #[test]
    fn heartbeat_moves_only_the_heartbeat() {
        let p = heartbeat(&t("2026-01-02T03:05:05Z"), &t("2026-01-02T03:04:05Z"));
        let conds = p["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds.len(), 4);
        for c in conds {
            assert_eq!(c["lastHeartbeatTime"], "2026-01-02T03:05:05Z");
            assert_eq!(c["lastTransitionTime"], "2026-01-02T03:04:05Z");
        }
    }

    #[test]
    fn lease_object_and_renewal() {
        let now = MicroTime("2026-01-02T03:04:05.123456Z".parse().unwrap());
        let v = serde_json::to_value(lease("h-1", "u-1", 40, &now)).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "h-1", "namespace": "kube-node-lease",
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "h-1", "uid": "u-1"}]},
                "spec": {"holderIdentity": "h-1", "leaseDurationSeconds": 40,
                    "renewTime": "2026-01-02T03:04:05.123456Z"}
            })
        );
        assert_eq!(
            renewal("h-1", 40, &now),
            json!({"spec": {"holderIdentity": "h-1", "leaseDurationSeconds": 40,
                            "renewTime": "2026-01-02T03:04:05.123456Z"}})
        );
    }
}
