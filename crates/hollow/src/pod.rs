//! Pods as a hollow kubelet sees them: a slim Pod type for the shared watch (only the fields
//! it acts on, so 150,000 pods cost little to decode and nothing to keep), and the status it
//! reports for a running pod.

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, HostIP,
    PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

/// The metadata fields hollow nodes read; the rest (managedFields, labels, annotations) is
/// skipped while decoding.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    deletion_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    owner_references: Option<Vec<OwnerReference>>,
}

fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let m = SlimMeta::deserialize(d)?;
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resource_version: m.resource_version,
        deletion_timestamp: m.deletion_timestamp,
        deletion_grace_period_seconds: m.deletion_grace_period_seconds,
        owner_references: m.owner_references,
        ..ObjectMeta::default()
    })
}

/// A Pod, reduced to what a hollow kubelet needs.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlimPod {
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: SlimPodSpec,
    #[serde(default)]
    pub status: SlimPodStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SlimPodSpec {
    pub node_name: Option<String>,
    pub host_network: Option<bool>,
    pub termination_grace_period_seconds: Option<i64>,
    pub init_containers: Vec<SlimContainer>,
    pub containers: Vec<SlimContainer>,
}

/// A container's name and image, and for init containers whether it is a sidecar
/// (`restartPolicy: Always`, which keeps running).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct SlimContainer {
    pub name: String,
    pub image: Option<String>,
    pub restart_policy: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SlimPodStatus {
    pub phase: Option<String>,
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
}

impl SlimPod {
    /// Whether the pod runs to completion: pods of Jobs do, as KWOK's stages have it (a
    /// hollow node cannot know when a command would end; it ends them after a set time).
    pub fn runs_to_completion(&self) -> bool {
        self.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "Job")
    }
}

impl k8s_openapi::Resource for SlimPod {
    const API_VERSION: &'static str = "v1";
    const GROUP: &'static str = "";
    const KIND: &'static str = "Pod";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "pods";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for SlimPod {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A Node, reduced to what the hollow process follows: its uid and podCIDR.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlimNode {
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: SlimNodeSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SlimNodeSpec {
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Option<String>,
}

impl k8s_openapi::Resource for SlimNode {
    const API_VERSION: &'static str = "v1";
    const GROUP: &'static str = "";
    const KIND: &'static str = "Node";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "nodes";
    type Scope = k8s_openapi::ClusterResourceScope;
}

impl k8s_openapi::Metadata for SlimNode {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// What the status of a started pod is made from.
#[derive(Debug, Clone, Copy)]
pub struct Started<'a> {
    pub uid: &'a str,
    pub init_containers: &'a [SlimContainer],
    pub containers: &'a [SlimContainer],
    pub host_ip: Ipv4Addr,
    pub pod_ip: Ipv4Addr,
    pub now: &'a Time,
}

fn condition(type_: &str, now: &Time) -> PodCondition {
    PodCondition {
        type_: type_.to_owned(),
        status: "True".to_owned(),
        last_transition_time: Some(now.clone()),
        ..PodCondition::default()
    }
}

fn container_status(uid: &str, c: &SlimContainer, state: ContainerState) -> ContainerStatus {
    let image = c.image.clone().unwrap_or_default();
    let running = state.running.is_some();
    ContainerStatus {
        name: c.name.clone(),
        image_id: format!("hollow://{image}"),
        image,
        container_id: Some(format!("hollow://{uid}-{}", c.name)),
        ready: true,
        started: Some(running),
        restart_count: 0,
        state: Some(state),
        last_state: Some(ContainerState::default()),
        ..ContainerStatus::default()
    }
}

/// The status of a pod all of whose containers run (and init containers completed): phase
/// Running, every condition True, addresses, one status per container.
pub fn running_status(p: Started<'_>) -> PodStatus {
    let running = || ContainerState {
        running: Some(ContainerStateRunning {
            started_at: Some(p.now.clone()),
        }),
        ..ContainerState::default()
    };
    let init_statuses: Vec<_> = p
        .init_containers
        .iter()
        .map(|c| {
            let state = if c.restart_policy.as_deref() == Some("Always") {
                running()
            } else {
                ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: 0,
                        reason: Some("Completed".to_owned()),
                        started_at: Some(p.now.clone()),
                        finished_at: Some(p.now.clone()),
                        container_id: Some(format!("hollow://{}-{}", p.uid, c.name)),
                        ..ContainerStateTerminated::default()
                    }),
                    ..ContainerState::default()
                }
            };
            container_status(p.uid, c, state)
        })
        .collect();
    PodStatus {
        phase: Some("Running".to_owned()),
        conditions: Some(
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled",
            ]
            .iter()
            .map(|t| condition(t, p.now))
            .collect(),
        ),
        host_ip: Some(p.host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: p.host_ip.to_string(),
        }]),
        pod_ip: Some(p.pod_ip.to_string()),
        pod_ips: Some(vec![PodIP {
            ip: p.pod_ip.to_string(),
        }]),
        start_time: Some(p.now.clone()),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(
            p.containers
                .iter()
                .map(|c| container_status(p.uid, c, running()))
                .collect(),
        ),
        ..PodStatus::default()
    }
}

/// The merge patch of `pods/status` reporting that every container of a pod exited 0: phase
/// Succeeded, Ready and ContainersReady False (reason PodCompleted), as a kubelet reports it.
pub fn completed_patch(uid: &str, containers: &[SlimContainer], now: &Time) -> Value {
    let not_ready = |type_: &str| PodCondition {
        type_: type_.to_owned(),
        status: "False".to_owned(),
        reason: Some("PodCompleted".to_owned()),
        last_transition_time: Some(now.clone()),
        ..PodCondition::default()
    };
    let statuses: Vec<ContainerStatus> = containers
        .iter()
        .map(|c| {
            let mut status = container_status(
                uid,
                c,
                ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: 0,
                        reason: Some("Completed".to_owned()),
                        finished_at: Some(now.clone()),
                        container_id: Some(format!("hollow://{uid}-{}", c.name)),
                        ..ContainerStateTerminated::default()
                    }),
                    ..ContainerState::default()
                },
            );
            status.ready = false;
            status
        })
        .collect();
    json!({
        "metadata": {"uid": uid},
        "status": {
            "phase": "Succeeded",
            "conditions": [
                condition("PodScheduled", now),
                condition("Initialized", now),
                not_ready("Ready"),
                not_ready("ContainersReady"),
            ],
            "containerStatuses": statuses,
        }
    })
}

/// The merge patch of `pods/status` reporting a pod started.
pub fn start_patch(p: Started<'_>) -> Value {
    json!({"status": running_status(p)})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, image: &str) -> SlimContainer {
        SlimContainer {
            name: name.into(),
            image: Some(image.into()),
            restart_policy: None,
        }
    }

    #[test]
    fn slim_pod_decodes_what_it_needs() {
        let pod: SlimPod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "9",
                "labels": {"a": "b"}, "deletionTimestamp": "2026-01-02T03:04:05Z",
                "deletionGracePeriodSeconds": 30,
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"nodeName": "hollow-1", "containers": [{"name": "c", "image": "nginx",
                "resources": {"limits": {"cpu": "1"}}}],
                "initContainers": [{"name": "side", "image": "busybox", "restartPolicy": "Always"}]},
            "status": {"phase": "Running", "podIP": "10.1.0.2", "qosClass": "BestEffort"}
        }))
        .unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("web"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(pod.metadata.resource_version.as_deref(), Some("9"));
        assert_eq!(pod.metadata.deletion_grace_period_seconds, Some(30));
        assert!(pod.metadata.deletion_timestamp.is_some());
        assert!(pod.metadata.labels.is_none(), "labels are skipped");
        assert!(
            pod.metadata.managed_fields.is_none(),
            "managedFields are skipped"
        );
        assert_eq!(pod.spec.node_name.as_deref(), Some("hollow-1"));
        assert_eq!(pod.spec.containers, vec![container("c", "nginx")]);
        assert_eq!(
            pod.spec.init_containers[0].restart_policy.as_deref(),
            Some("Always")
        );
        assert_eq!(pod.status.pod_ip.as_deref(), Some("10.1.0.2"));
        let bare: SlimPod = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
        assert!(bare.spec.node_name.is_none() && bare.spec.containers.is_empty());
    }

    #[test]
    fn running_status_of_a_pod() {
        let now = Time("2026-01-02T03:04:05Z".parse().unwrap());
        let init = [
            container("setup", "busybox"),
            SlimContainer {
                restart_policy: Some("Always".into()),
                ..container("sidecar", "envoy")
            },
        ];
        let containers = [container("app", "nginx:1.27"), container("log", "fluentd")];
        let v = start_patch(Started {
            uid: "u1",
            init_containers: &init,
            containers: &containers,
            host_ip: Ipv4Addr::new(10, 200, 0, 1),
            pod_ip: Ipv4Addr::new(10, 128, 0, 5),
            now: &now,
        });
        let s = &v["status"];
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["hostIP"], "10.200.0.1");
        assert_eq!(s["hostIPs"], json!([{"ip": "10.200.0.1"}]));
        assert_eq!(s["podIP"], "10.128.0.5");
        assert_eq!(s["podIPs"], json!([{"ip": "10.128.0.5"}]));
        assert_eq!(s["startTime"], "2026-01-02T03:04:05Z");
        let types: Vec<_> = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["status"], "True");
                c["type"].as_str().unwrap()
            })
            .collect();
        for t in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
            assert!(types.contains(&t), "{t}");
        }
        assert_eq!(
            s["containerStatuses"][0],
            json!({"name": "app", "image": "nginx:1.27", "imageID": "hollow://nginx:1.27",
                   "containerID": "hollow://u1-app", "ready": true, "started": true,
                   "restartCount": 0, "lastState": {},
                   "state": {"running": {"startedAt": "2026-01-02T03:04:05Z"}}})
        );
        assert_eq!(s["containerStatuses"][1]["name"], "log");
        let setup = &s["initContainerStatuses"][0];
        assert_eq!(setup["state"]["terminated"]["exitCode"], 0);
        assert_eq!(setup["state"]["terminated"]["reason"], "Completed");
        assert_eq!(setup["started"], false);
        assert_eq!(setup["ready"], true);
        let sidecar = &s["initContainerStatuses"][1];
        assert!(sidecar["state"]["running"].is_object());
        assert_eq!(sidecar["started"], true);
    }

    #[test]
    fn no_init_containers_no_init_statuses() {
        let now = Time("2026-01-02T03:04:05Z".parse().unwrap());
        let v = start_patch(Started {
            uid: "u1",
            init_containers: &[],
            containers: &[container("app", "nginx")],
            host_ip: Ipv4Addr::new(10, 200, 0, 1),
            pod_ip: Ipv4Addr::new(10, 128, 0, 5),
            now: &now,
        });
        assert!(v["status"].get("initContainerStatuses").is_none());
    }
}
