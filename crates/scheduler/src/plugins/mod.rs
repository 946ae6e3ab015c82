//! The in-tree plugins (one file each) and the default profile, as upstream's
//! `default_registry.go` and v1 default plugin set (scores weighted as upstream: TaintToleration
//! 3, NodeAffinity 2, PodTopologySpread 2, InterPodAffinity 2, NodeResourcesFit 1,
//! NodeResourcesBalancedAllocation 1).
//!
//! Not implemented: the volume plugins (VolumeBinding, VolumeZone, VolumeRestrictions,
//! NodeVolumeLimits), ImageLocality, SchedulingGates (gated pods are held back by the queue
//! instead), DefaultPreemption, DynamicResources.

pub mod balanced_allocation;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod resources_fit;
pub mod taint_toleration;

use crate::framework::{Enabled, ProfileConfig, Registry};

/// The scheduler name pods ask for by default.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Every in-tree plugin by name.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.register(node_unschedulable::NAME, node_unschedulable::new);
    r.register(node_name::NAME, node_name::new);
    r.register(taint_toleration::NAME, taint_toleration::new);
    r.register(node_affinity::NAME, node_affinity::new);
    r.register(node_ports::NAME, node_ports::new);
    r.register(resources_fit::NAME, resources_fit::new);
    r.register(pod_topology_spread::NAME, pod_topology_spread::new);
    r.register(inter_pod_affinity::NAME, inter_pod_affinity::new);
    r.register(balanced_allocation::NAME, balanced_allocation::new);
    r
}

/// The default profile: upstream's plugin order and score weights.
pub fn default_profile() -> ProfileConfig {
    let enabled = |name: &str, weight: i64| Enabled {
        name: name.to_owned(),
        weight,
    };
    ProfileConfig {
        scheduler_name: DEFAULT_SCHEDULER_NAME.to_owned(),
        plugins: vec![
            enabled(node_unschedulable::NAME, 0),
            enabled(node_name::NAME, 0),
            enabled(taint_toleration::NAME, 3),
            enabled(node_affinity::NAME, 2),
            enabled(node_ports::NAME, 0),
            enabled(resources_fit::NAME, 1),
            enabled(pod_topology_spread::NAME, 2),
            enabled(inter_pod_affinity::NAME, 2),
            enabled(balanced_allocation::NAME, 1),
        ],
        percentage_of_nodes_to_score: 0,
    }
}

/// Upstream's `DefaultNormalizeScore`: scale to 0..=100 by the highest score, reversed if
/// asked (all 100 when every score is 0 and reversed).
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    use crate::framework::MAX_NODE_SCORE;
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let v = MAX_NODE_SCORE * *s / max;
        *s = if reverse { MAX_NODE_SCORE - v } else { v };
    }
}

/// Builders of pods and nodes for the plugin tests.
#[cfg(test)]
pub mod testing {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::{
        Container, Node, NodeSpec, NodeStatus, Pod, PodSpec, ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use kube::api::ObjectMeta;

    use crate::framework::{Cycle, CycleState, Plugin, Status};
    use crate::podinfo::PodInfo;
    use crate::snapshot::Cluster;

    pub fn node(name: &str, cpu: &str, mem: &str, labels: &[(&str, &str)]) -> Node {
        let mut labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.insert("kubernetes.io/hostname".into(), name.into());
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(labels),
                ..Default::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus {
                allocatable: Some(BTreeMap::from([
                    ("cpu".to_owned(), Quantity(cpu.into())),
                    ("memory".to_owned(), Quantity(mem.into())),
                    ("pods".to_owned(), Quantity("110".into())),
                ])),
                ..Default::default()
            }),
        }
    }

    pub fn pod(name: &str, cpu: &str, mem: &str) -> Pod {
        let mut req = BTreeMap::new();
        if !cpu.is_empty() {
            req.insert("cpu".to_owned(), Quantity(cpu.into()));
        }
        if !mem.is_empty() {
            req.insert("memory".to_owned(), Quantity(mem.into()));
        }
        Pod {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    resources: Some(ResourceRequirements {
                        requests: Some(req),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub fn labeled(mut pod: Pod, labels: &[(&str, &str)]) -> Pod {
        pod.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        pod
    }

    pub fn on(mut pod: Pod, node: &str) -> Pod {
        if let Some(s) = pod.spec.as_mut() {
            s.node_name = Some(node.into());
        }
        pod
    }

    pub fn cluster(nodes: Vec<Node>, pods: Vec<Pod>) -> Cluster {
        let mut c = Cluster::new();
        for n in nodes {
            c.set_node(Arc::new(n));
        }
        for p in pods {
            c.set_pod(Arc::new(PodInfo::new(Arc::new(p))));
        }
        c
    }

    /// Runs a plugin's PreFilter (if any) then Filter on every node; the statuses by node.
    pub fn filter_all(plugin: &dyn Plugin, cluster: &Cluster, pod: Pod) -> Vec<(String, Status)> {
        let pi = PodInfo::new(Arc::new(pod));
        let cx = Cycle { pod: &pi, cluster };
        let mut state = CycleState::default();
        if let Some(pf) = plugin.pre_filter() {
            let s = pf.pre_filter(cx, &mut state);
            if s.code == crate::framework::Code::Skip {
                return cluster
                    .nodes()
                    .map(|n| (n.name.clone(), Status::success()))
                    .collect();
            }
            if !s.is_success() {
                return cluster
                    .nodes()
                    .map(|n| (n.name.clone(), s.clone()))
                    .collect();
            }
        }
        let f = plugin.filter().expect("a filter plugin");
        cluster
            .nodes()
            .map(|n| (n.name.clone(), f.filter(cx, &state, n)))
            .collect()
    }

    /// The names of the nodes a plugin lets through.
    pub fn passing(plugin: &dyn Plugin, cluster: &Cluster, pod: Pod) -> Vec<String> {
        let mut v: Vec<String> = filter_all(plugin, cluster, pod)
            .into_iter()
            .filter(|(_, s)| s.is_success())
            .map(|(n, _)| n)
            .collect();
        v.sort();
        v
    }

    /// Runs a plugin's PreScore, Score and normalization on every node; scores by node name.
    pub fn score_all(plugin: &dyn Plugin, cluster: &Cluster, pod: Pod) -> BTreeMap<String, i64> {
        let pi = PodInfo::new(Arc::new(pod));
        let cx = Cycle { pod: &pi, cluster };
        let mut state = CycleState::default();
        let nodes: Vec<_> = cluster.nodes().collect();
        if let Some(ps) = plugin.pre_score() {
            let s = ps.pre_score(cx, &mut state, &nodes);
            if s.code == crate::framework::Code::Skip {
                return nodes.iter().map(|n| (n.name.clone(), 0)).collect();
            }
        }
        let sc = plugin.score().expect("a score plugin");
        let mut scores: Vec<i64> = nodes.iter().map(|n| sc.score(cx, &state, n)).collect();
        sc.normalize(cx, &state, &mut scores);
        nodes.iter().map(|n| n.name.clone()).zip(scores).collect()
    }
}
