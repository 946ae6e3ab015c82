//! PodTopologySpread: `DoNotSchedule` constraints filter nodes whose domain would exceed
//! `maxSkew` over the least loaded domain (with `minDomains`); `ScheduleAnyway` constraints
//! score nodes by how many matching pods their domains hold. Pods without constraints of their
//! own get upstream's system defaults (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway) with
//! the selector of the services and controller that own them — this is how pods of the same
//! owner are spread (the legacy SelectorSpread plugin is not used).
//!
//! Pod counts come from the cluster's counters, so a cycle costs O(nodes), not O(pods).

use std::sync::Arc;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use super::taint_toleration::untolerated;
use crate::framework::{
    Cycle, CycleState, Filter, MAX_NODE_SCORE, Plugin, PreFilter, PreScore, Score, Status,
};
use crate::podinfo::NamespaceScope;
use crate::selector::{Labels, Op, Requirement, Selector, pod_matches_node_selector_and_affinity};
use crate::snapshot::{Counter, FastMap, NodeInfo, PodQuery};

pub const NAME: &str = "PodTopologySpread";
pub const REASON_CONSTRAINTS: &str = "node(s) didn't match pod topology spread constraints";
pub const REASON_MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

/// One constraint, ready to evaluate.
#[derive(Debug)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: Selector,
    min_domains: i64,
    honor_affinity: bool,
    honor_taints: bool,
    counter: Arc<Counter>,
}

impl Constraint {
    fn includes(&self, cx: &Cycle<'_>, node: &NodeInfo) -> bool {
        let Some(n) = node.node.as_deref() else {
            return false;
        };
        if self.honor_affinity && !pod_matches_node_selector_and_affinity(&cx.pod.pod, n) {
            return false;
        }
        if self.honor_taints {
            let tolerations = cx
                .pod
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.as_deref())
                .unwrap_or_default();
            if untolerated(node.taints(), tolerations).is_some() {
                return false;
            }
        }
        true
    }
}

fn build(cx: &Cycle<'_>, c: &TopologySpreadConstraint) -> Constraint {
    let mut selector = Selector::from_label_selector(c.label_selector.as_ref());
    let labels = cx.pod.labels();
    for key in c.match_label_keys.iter().flatten() {
        if let Some(v) = labels.get(key) {
            selector.add(Requirement {
                key: key.clone(),
                op: Op::In,
                values: vec![v.clone()],
            });
        }
    }
    make(
        cx,
        i64::from(c.max_skew),
        &c.topology_key,
        selector,
        c.min_domains.map(i64::from).unwrap_or(1),
        c.node_affinity_policy.as_deref() != Some("Ignore"),
        c.node_taints_policy.as_deref() == Some("Honor"),
    )
}

fn make(
    cx: &Cycle<'_>,
    max_skew: i64,
    key: &str,
    selector: Selector,
    min_domains: i64,
    honor_affinity: bool,
    honor_taints: bool,
) -> Constraint {
    let counter = cx.cluster.count(&PodQuery {
        scope: NamespaceScope::one(&cx.pod.namespace),
        selector: selector.clone(),
        include_terminating: false,
    });
    Constraint {
        max_skew,
        topology_key: key.to_owned(),
        selector,
        min_domains,
        honor_affinity,
        honor_taints,
        counter,
    }
}

fn own_constraints<'a>(cx: &Cycle<'a>) -> &'a [TopologySpreadConstraint] {
    cx.pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_deref())
        .unwrap_or_default()
}

fn has_all_keys(labels: &Labels, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| labels.contains_key(&c.topology_key))
}

#[derive(Debug, Default)]
pub struct PodTopologySpread;

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(PodTopologySpread)
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }
    fn pre_filter(&self) -> Option<&dyn PreFilter> {
        Some(self)
    }
    fn filter(&self) -> Option<&dyn Filter> {
        Some(self)
    }
    fn pre_score(&self) -> Option<&dyn PreScore> {
        Some(self)
    }
    fn score(&self) -> Option<&dyn Score> {
        Some(self)
    }
}

/// What PreFilter computed: per constraint, matching pods per topology value among the
/// eligible nodes, and the smallest of them.
#[derive(Debug)]
struct FilterState {
    constraints: Vec<Constraint>,
    matches: Vec<FastMap<String, i64>>,
    min: Vec<i64>,
}

impl PreFilter for PodTopologySpread {
    fn pre_filter(&self, cx: Cycle<'_>, state: &mut CycleState) -> Status {
        let constraints: Vec<Constraint> = own_constraints(&cx)
            .iter()
            .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
            .map(|c| build(&cx, c))
            .collect();
        if constraints.is_empty() {
            return Status::skip();
        }
        let mut matches: Vec<FastMap<String, i64>> = vec![FastMap::default(); constraints.len()];
        for node in cx.cluster.nodes() {
            let labels = node.labels();
            if !has_all_keys(labels, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.includes(&cx, node) {
                    continue;
                }
                let value = labels
                    .get(&c.topology_key)
                    .map(String::as_str)
                    .unwrap_or("");
                let n = i64::from(c.counter.on(node.slot));
                match matches[i].get_mut(value) {
                    Some(v) => *v += n,
                    None => {
                        matches[i].insert(value.to_owned(), n);
                    }
                }
            }
        }
        let min = constraints
            .iter()
            .zip(&matches)
            .map(|(c, m)| {
                if (m.len() as i64) < c.min_domains {
                    0
                } else {
                    m.values().copied().min().unwrap_or(i64::from(i32::MAX))
                }
            })
            .collect();
        state.write(
            NAME,
            FilterState {
                constraints,
                matches,
                min,
            },
        );
        Status::success()
    }
}

impl Filter for PodTopologySpread {
    fn filter(&self, cx: Cycle<'_>, state: &CycleState, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<FilterState>(NAME) else {
            return Status::success();
        };
        let labels = node.labels();
        let own = cx.pod.labels();
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = labels.get(&c.topology_key) else {
                return Status::unresolvable(REASON_MISSING_LABEL);
            };
            let self_match = i64::from(c.selector.matches(own));
            let count = s.matches[i].get(value).copied().unwrap_or(0);
            if count + self_match - s.min[i] > c.max_skew {
                return Status::unschedulable(REASON_CONSTRAINTS);
            }
        }
        Status::success()
    }
}

/// What PreScore computed for the soft constraints.
#[derive(Debug)]
struct ScoreState {
    constraints: Vec<Constraint>,
    /// Per constraint (not hostname): topology value → matching pods.
    counts: Vec<FastMap<String, i64>>,
    weights: Vec<f64>,
    ignored:
        std::collections::HashSet<usize, std::hash::BuildHasherDefault<crate::snapshot::FxHasher>>,
}

impl PreScore for PodTopologySpread {
    fn pre_score(&self, cx: Cycle<'_>, state: &mut CycleState, nodes: &[&NodeInfo]) -> Status {
        let own = own_constraints(&cx);
        let system_defaulted = own.is_empty();
        let constraints: Vec<Constraint> = if system_defaulted {
            let selector = cx.cluster.owners.default_selector(cx.pod);
            if selector.is_empty() || selector.nothing {
                return Status::skip();
            }
            vec![
                make(&cx, 3, HOSTNAME, selector.clone(), 1, true, false),
                make(&cx, 5, ZONE, selector, 1, true, false),
            ]
        } else {
            own.iter()
                .filter(|c| c.when_unsatisfiable == "ScheduleAnyway")
                .map(|c| build(&cx, c))
                .collect()
        };
        if constraints.is_empty() {
            return Status::skip();
        }
        let require_all = !system_defaulted;
        let mut ignored = std::collections::HashSet::default();
        let mut counts: Vec<FastMap<String, i64>> = vec![FastMap::default(); constraints.len()];
        for node in nodes {
            let labels = node.labels();
            if require_all && !has_all_keys(labels, &constraints) {
                ignored.insert(node.slot);
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == HOSTNAME {
                    continue;
                }
                let value = labels
                    .get(&c.topology_key)
                    .map(String::as_str)
                    .unwrap_or("");
                if !counts[i].contains_key(value) {
                    counts[i].insert(value.to_owned(), 0);
                }
            }
        }
        let weights = constraints
            .iter()
            .zip(&counts)
            .map(|(c, m)| {
                let size = if c.topology_key == HOSTNAME {
                    nodes.len() - ignored.len()
                } else {
                    m.len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        // Count matching pods on every eligible node of the domains seen above.
        for (i, c) in constraints.iter().enumerate() {
            if c.topology_key == HOSTNAME {
                continue;
            }
            for (&slot, &n) in &c.counter.per_node {
                let node = cx.cluster.node(slot);
                if node.node.is_none() {
                    continue;
                }
                let labels = node.labels();
                if require_all && !has_all_keys(labels, &constraints) {
                    continue;
                }
                if !c.includes(&cx, node) {
                    continue;
                }
                let value = labels
                    .get(&c.topology_key)
                    .map(String::as_str)
                    .unwrap_or("");
                if let Some(v) = counts[i].get_mut(value) {
                    *v += i64::from(n);
                }
            }
        }
        state.write(
            NAME,
            ScoreState {
                constraints,
                counts,
                weights,
                ignored,
            },
        );
        Status::success()
    }
}

impl Score for PodTopologySpread {
    fn score(&self, _cx: Cycle<'_>, state: &CycleState, node: &NodeInfo) -> i64 {
        let Some(s) = state.read::<ScoreState>(NAME) else {
            return 0;
        };
        if s.ignored.contains(&node.slot) {
            return -1;
        }
        let labels = node.labels();
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = labels.get(&c.topology_key) else {
                continue;
            };
            let count = if c.topology_key == HOSTNAME {
                i64::from(c.counter.on(node.slot))
            } else {
                s.counts[i].get(value).copied().unwrap_or(0)
            };
            score += count as f64 * s.weights[i] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    fn normalize(&self, _cx: Cycle<'_>, state: &CycleState, scores: &mut [i64]) {
        if state.read::<ScoreState>(NAME).is_none() {
            return;
        }
        let valid = scores.iter().copied().filter(|s| *s >= 0);
        let min = valid.clone().min().unwrap_or(0);
        let max = valid.max().unwrap_or(0);
        for s in scores.iter_mut() {
            *s = if *s < 0 {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *s) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};

    fn spread(p: Pod, key: &str, max_skew: i32, when: &str, min_domains: Option<i32>) -> Pod {
        let mut p = labeled(p, &[("app", "web")]);
        p.spec.as_mut().unwrap().topology_spread_constraints =
            Some(vec![TopologySpreadConstraint {
                max_skew,
                topology_key: key.into(),
                when_unsatisfiable: when.into(),
                label_selector: Some(LabelSelector {
                    match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
                    ..Default::default()
                }),
                min_domains,
                ..Default::default()
            }]);
        p
    }

    fn web(name: &str, node: &str) -> Pod {
        on(labeled(pod(name, "", ""), &[("app", "web")]), node)
    }

    fn zones() -> Vec<k8s_openapi::api::core::v1::Node> {
        vec![
            node("a1", "4", "8Gi", &[("topology.kubernetes.io/zone", "a")]),
            node("a2", "4", "8Gi", &[("topology.kubernetes.io/zone", "a")]),
            node("b1", "4", "8Gi", &[("topology.kubernetes.io/zone", "b")]),
            node("nozone", "4", "8Gi", &[]),
        ]
    }

    #[test]
    fn do_not_schedule_keeps_the_skew() {
        let c = cluster(
            zones(),
            vec![web("w1", "a1"), web("w2", "a2"), web("w3", "b1")],
        );
        // zone a: 2, zone b: 1. maxSkew 1: a would be 3 - 1 = 2 > 1, b would be 2 - 1 = 1.
        let p = spread(pod("x", "", ""), ZONE, 1, "DoNotSchedule", None);
        assert_eq!(passing(&PodTopologySpread, &c, p.clone()), ["b1"]);
        let statuses = filter_all(&PodTopologySpread, &c, p);
        assert_eq!(statuses[0].1, Status::unschedulable(REASON_CONSTRAINTS));
        assert_eq!(statuses[3].1, Status::unresolvable(REASON_MISSING_LABEL));
        // maxSkew 2 lets zone a take one more.
        let p = spread(pod("x", "", ""), ZONE, 2, "DoNotSchedule", None);
        assert_eq!(passing(&PodTopologySpread, &c, p), ["a1", "a2", "b1"]);
        // minDomains 3 with two zones: the global minimum counts as 0.
        let p = spread(pod("x", "", ""), ZONE, 2, "DoNotSchedule", Some(3));
        assert_eq!(passing(&PodTopologySpread, &c, p), ["b1"]);
        // A terminating pod does not count.
        let mut gone = web("w4", "b1");
        gone.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        let c = cluster(zones(), vec![web("w1", "a1"), web("w3", "b1"), gone]);
        let p = spread(pod("x", "", ""), ZONE, 1, "DoNotSchedule", None);
        assert_eq!(passing(&PodTopologySpread, &c, p), ["a1", "a2", "b1"]);
    }

    #[test]
    fn counters_follow_pods_added_after_they_were_built() {
        let mut c = cluster(zones(), vec![web("w1", "a1")]);
        let p = spread(pod("x", "", ""), ZONE, 1, "DoNotSchedule", None);
        assert_eq!(passing(&PodTopologySpread, &c, p.clone()), ["b1"]);
        c.set_pod(Arc::new(crate::podinfo::PodInfo::new(Arc::new(web(
            "w2", "b1",
        )))));
        assert_eq!(
            passing(&PodTopologySpread, &c, p.clone()),
            ["a1", "a2", "b1"]
        );
        c.remove_pod("default/w1");
        assert_eq!(passing(&PodTopologySpread, &c, p), ["a1", "a2"]);
    }

    #[test]
    fn schedule_anyway_scores_emptier_domains_higher() {
        let c = cluster(
            zones()[..3].to_vec(),
            vec![web("w1", "a1"), web("w2", "a2"), web("w3", "a1")],
        );
        let p = spread(pod("x", "", ""), ZONE, 1, "ScheduleAnyway", None);
        let s = score_all(&PodTopologySpread, &c, p);
        assert!(s["b1"] > s["a1"], "{s:?}");
        assert_eq!(s["a1"], s["a2"]);
        assert_eq!(s["b1"], 100);
    }

    #[test]
    fn system_defaults_spread_pods_of_the_same_replica_set() {
        let owned = |p: Pod| {
            let mut p = labeled(p, &[("app", "web")]);
            p.metadata.owner_references = Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: "web-1".into(),
                uid: "rs".into(),
                controller: Some(true),
                ..Default::default()
            }]);
            p
        };
        let mut c = cluster(
            zones()[..3].to_vec(),
            vec![
                on(owned(pod("w1", "", "")), "a1"),
                on(owned(pod("w2", "", "")), "a1"),
                on(owned(pod("w3", "", "")), "b1"),
            ],
        );
        // Without the ReplicaSet's selector known there is nothing to spread by.
        let s = score_all(&PodTopologySpread, &c, owned(pod("x", "", "")));
        assert!(s.values().all(|v| *v == 0), "{s:?}");
        c.owners.replica_sets.insert(
            ("default".into(), "web-1".into()),
            Selector::from_map(&[("app".to_owned(), "web".to_owned())].into()),
        );
        let s = score_all(&PodTopologySpread, &c, owned(pod("x", "", "")));
        // a2 (zone a, empty node) beats a1 (zone a, 2 pods); b1 has 1 pod in a 1-pod zone.
        assert!(s["a2"] > s["a1"], "{s:?}");
        assert!(s["b1"] > s["a1"], "{s:?}");
    }
}
