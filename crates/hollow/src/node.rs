//! The objects a hollow kubelet writes for its node: the Node it registers, the status it
//! reports, and its Lease in `kube-node-lease`. Pure functions, worded as upstream's kubelet.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeDaemonEndpoints, NodeSpec, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::{Value, json};

use barge_client::node::conditions;

use crate::{Options, ipam};

/// The label (value `"true"`) on every hollow node, so tests and tools can tell them apart.
pub const HOLLOW_LABEL: &str = "barge.dev/hollow";

/// What hollow nodes report as their container runtime.
const RUNTIME_VERSION: &str = "hollow://0.1.0";

/// The name of the node with this index: the prefix and the index (`hollow-0`).
pub fn node_name(prefix: &str, index: usize) -> String {
    format!("{prefix}{index}")
}

/// The resources every hollow node offers (capacity, and allocatable alike).
fn resources(opts: &Options) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(opts.cpu.clone())),
        ("memory".to_owned(), Quantity(opts.memory.clone())),
        (
            "ephemeral-storage".to_owned(),
            Quantity(opts.ephemeral_storage.clone()),
        ),
        ("pods".to_owned(), Quantity(opts.max_pods.to_string())),
        ("hugepages-2Mi".to_owned(), Quantity("0".to_owned())),
        ("hugepages-1Gi".to_owned(), Quantity("0".to_owned())),
    ])
}

/// The Node the kubelet of node `index` registers, with its full status.
pub fn node(opts: &Options, index: usize, now: &Time) -> Node {
    let name = node_name(&opts.name_prefix, index);
    let labels = BTreeMap::from(
        [
            ("kubernetes.io/hostname", name.as_str()),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("beta.kubernetes.io/arch", "amd64"),
            ("node.kubernetes.io/instance-type", "hollow"),
            (HOLLOW_LABEL, "true"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let annotations = BTreeMap::from(
        [
            ("node.alpha.kubernetes.io/ttl", "0"),
            (
                "volumes.kubernetes.io/controller-managed-attach-detach",
                "true",
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let resources = resources(opts);
    let status = NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(conditions(now, now)),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".to_owned(),
                address: ipam::node_ip(index).to_string(),
            },
            NodeAddress {
                type_: "Hostname".to_owned(),
                address: name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: 10250 }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: "amd64".to_owned(),
            boot_id: format!("hollow-boot-{index}"),
            container_runtime_version: RUNTIME_VERSION.to_owned(),
            kernel_version: "6.1.0-hollow".to_owned(),
            kube_proxy_version: opts.kubelet_version.clone(),
            kubelet_version: opts.kubelet_version.clone(),
            machine_id: format!("hollow-machine-{index}"),
            operating_system: "linux".to_owned(),
            os_image: "Barge hollow node".to_owned(),
            system_uuid: format!("hollow-{index}"),
        }),
        ..NodeStatus::default()
    };
    Node {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            provider_id: Some(format!("hollow://{name}")),
            ..NodeSpec::default()
        }),
        status: Some(status),
    }
}

/// The merge patch of `nodes/status` sent when registration finds the Node already there (a
/// restarted hollow process): the whole status, as the kubelet's first update does.
pub fn status_patch(node: &Node) -> Value {
    json!({"status": node.status})
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(s: &str) -> Time {
        Time(s.parse::<Timestamp>().unwrap())
    }

    #[test]
    fn node_object() {
        let opts = Options {
            name_prefix: "h-".into(),
            ..Options::default()
        };
        let now = t("2026-01-02T03:04:05Z");
        let v = serde_json::to_value(node(&opts, 7, &now)).unwrap();
        assert_eq!(v["metadata"]["name"], "h-7");
        let labels = &v["metadata"]["labels"];
        assert_eq!(labels["kubernetes.io/hostname"], "h-7");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert_eq!(labels["kubernetes.io/arch"], "amd64");
        assert_eq!(labels["node.kubernetes.io/instance-type"], "hollow");
        assert_eq!(labels[HOLLOW_LABEL], "true");
        let status = &v["status"];
        for field in ["capacity", "allocatable"] {
            assert_eq!(status[field]["cpu"], "4");
            assert_eq!(status[field]["memory"], "16Gi");
            assert_eq!(status[field]["pods"], "110");
        }
        assert_eq!(
            status["addresses"],
            json!([{"type": "InternalIP", "address": "10.200.0.8"},
                   {"type": "Hostname", "address": "h-7"}])
        );
        assert_eq!(status["nodeInfo"]["kubeletVersion"], "v1.32.4");
        assert_eq!(status["nodeInfo"]["operatingSystem"], "linux");
        assert_eq!(status["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
        let conds = status["conditions"].as_array().unwrap();
        let ready = conds.iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(
            *ready,
            json!({"type": "Ready", "status": "True", "reason": "KubeletReady",
                   "message": "kubelet is posting ready status",
                   "lastHeartbeatTime": "2026-01-02T03:04:05Z",
                   "lastTransitionTime": "2026-01-02T03:04:05Z"})
        );
        for pressure in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
            let c = conds.iter().find(|c| c["type"] == pressure).unwrap();
            assert_eq!(c["status"], "False", "{pressure}");
        }
    }
}
