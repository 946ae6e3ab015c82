//! An in-memory benchmark of the scheduling core: synthetic nodes (10 zones) and pods owned
//! by ReplicaSets (so the default spreading constraints apply), scheduled one by one through
//! the default profile and assumed on their node, as the loop does minus the API calls.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    Container, Node, NodeSpec, NodeStatus, Pod, PodSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;

use crate::framework::{Outcome, Profile, Rng};
use crate::plugins;
use crate::podinfo::PodInfo;
use crate::selector::Selector;
use crate::snapshot::Cluster;

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub nodes: usize,
    pub existing_pods: usize,
    pub pods: usize,
    pub scheduled: usize,
    /// Time to set up the cluster view (nodes and existing pods).
    pub load: Duration,
    /// Time to schedule the new pods.
    pub elapsed: Duration,
    pub pods_per_second: f64,
}

/// A synthetic node: 32 CPUs, 128 GiB, 110 pods, in one of 10 zones.
pub fn synthetic_node(i: usize) -> Node {
    let name = format!("node-{i:05}");
    Node {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(BTreeMap::from([
                ("kubernetes.io/hostname".to_owned(), name),
                (
                    "topology.kubernetes.io/zone".to_owned(),
                    format!("zone-{}", i % 10),
                ),
            ])),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            allocatable: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity("32".into())),
                ("memory".to_owned(), Quantity("128Gi".into())),
                ("pods".to_owned(), Quantity("110".into())),
            ])),
            ..Default::default()
        }),
    }
}

/// A synthetic pod of ReplicaSet `rs-<owner>` requesting 100m CPU and 128 MiB.
pub fn synthetic_pod(i: usize, owner: usize, node: Option<&str>) -> Pod {
    let app = format!("app-{owner}");
    Pod {
        metadata: ObjectMeta {
            namespace: Some("bench".into()),
            name: Some(format!("{app}-{i}")),
            uid: Some(format!("uid-{i}")),
            labels: Some(BTreeMap::from([("app".to_owned(), app)])),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: format!("rs-{owner}"),
                uid: format!("rs-uid-{owner}"),
                controller: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: node.map(str::to_owned),
            containers: vec![Container {
                name: "c".into(),
                resources: Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([
                        ("cpu".to_owned(), Quantity("100m".into())),
                        ("memory".to_owned(), Quantity("128Mi".into())),
                    ])),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Schedules `pods` new pods onto `nodes` nodes that already run `existing` pods, all spread
/// over `owners` ReplicaSets, and measures the pods scheduled per second.
pub fn run(nodes: usize, existing: usize, pods: usize, owners: usize) -> Report {
    let owners = owners.max(1);
    let t0 = Instant::now();
    let mut cluster = Cluster::new();
    for i in 0..nodes {
        cluster.set_node(Arc::new(synthetic_node(i)));
    }
    for o in 0..owners {
        cluster.owners.replica_sets.insert(
            ("bench".into(), format!("rs-{o}")),
            Selector::from_map(&BTreeMap::from([("app".to_owned(), format!("app-{o}"))])),
        );
    }
    for i in 0..existing {
        let node = format!("node-{:05}", i % nodes.max(1));
        let pod = synthetic_pod(i, i % owners, Some(&node));
        cluster.set_pod(Arc::new(PodInfo::new(Arc::new(pod))));
    }
    let load = t0.elapsed();
    let profile = Profile::new(&plugins::default_profile(), &plugins::registry())
        .unwrap_or_else(|e| panic!("default profile: {e}"));
    let mut next_start = 0;
    let mut rng = Rng::new(7);
    let mut scheduled = 0;
    let t1 = Instant::now();
    for i in 0..pods {
        let pod = Arc::new(PodInfo::new(Arc::new(synthetic_pod(
            existing + i,
            i % owners,
            None,
        ))));
        if let Outcome::Scheduled { slot, .. } =
            profile.schedule(&cluster, &pod, &mut next_start, &mut rng)
        {
            cluster.assume(pod, slot);
            scheduled += 1;
        }
    }
    let elapsed = t1.elapsed();
    Report {
        nodes,
        existing_pods: existing,
        pods,
        scheduled,
        load,
        elapsed,
        pods_per_second: pods as f64 / elapsed.as_secs_f64().max(1e-9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prints the core's throughput (no assertion on speed; dev profile, so unoptimized).
    /// `BARGE_SCHED_BENCH=5000,150000,2000` sets nodes, existing pods and pods to schedule.
    #[test]
    fn core_throughput() {
        let spec = std::env::var("BARGE_SCHED_BENCH").unwrap_or_else(|_| "5000,20000,1000".into());
        let n: Vec<usize> = spec.split(',').filter_map(|s| s.parse().ok()).collect();
        let (nodes, existing, pods) = match n.as_slice() {
            [a, b, c] => (*a, *b, *c),
            _ => (5000, 20000, 1000),
        };
        let r = run(nodes, existing, pods, 500);
        eprintln!(
            "scheduler core: {} nodes, {} existing pods: {} of {} pods scheduled in {:?} \
             ({:.0} pods/s; load {:?})",
            r.nodes, r.existing_pods, r.scheduled, r.pods, r.elapsed, r.pods_per_second, r.load
        );
        assert_eq!(r.scheduled, r.pods, "every pod fits");
    }
}
