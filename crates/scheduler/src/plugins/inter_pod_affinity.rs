//! InterPodAffinity: required pod affinity and anti-affinity of the incoming pod, and the
//! required anti-affinity of pods already placed against the incoming one, by topology domain
//! (filter); preferred terms of both sides, and existing pods' required affinity with weight 1
//! (upstream's `hardPodAffinityWeight`), as a score.
//!
//! The incoming pod's terms are evaluated with the cluster's pod counters (O(nodes with
//! matching pods)); existing pods' terms only on nodes that hold pods declaring affinity.

use std::collections::HashMap;
use std::sync::Arc;

use crate::framework::{
    Code, Cycle, CycleState, Filter, MAX_NODE_SCORE, Plugin, PreFilter, PreScore, Score, Status,
};
use crate::podinfo::{AffinityTerm, PodInfo};
use crate::snapshot::{Cluster, NodeInfo, PodQuery};

pub const NAME: &str = "InterPodAffinity";
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// The weight of an existing pod's required affinity term when scoring.
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

type TopologyCounts = HashMap<(String, String), i64>;

#[derive(Debug)]
pub struct InterPodAffinity;

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(InterPodAffinity)
}

impl Plugin for InterPodAffinity {
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

fn matches_pod(term: &AffinityTerm, pod: &PodInfo, cluster: &Cluster) -> bool {
    term.matches(pod, &|ns| cluster.namespace_labels(ns))
}

/// Adds `weight × matching pods` of `term` to the counts of every topology domain.
fn add_term(cx: &Cycle<'_>, term: &AffinityTerm, weight: i64, into: &mut TopologyCounts) {
    let counter = cx.cluster.count(&PodQuery {
        scope: term.scope.clone(),
        selector: term.selector.clone(),
        include_terminating: true,
    });
    for (&slot, &n) in &counter.per_node {
        let node = cx.cluster.node(slot);
        if node.node.is_none() {
            continue;
        }
        if let Some(v) = node.labels().get(&term.topology_key) {
            *into
                .entry((term.topology_key.clone(), v.clone()))
                .or_default() += weight * i64::from(n);
        }
    }
}

fn domain_count(counts: &TopologyCounts, key: &str, node: &NodeInfo) -> Option<i64> {
    let v = node.labels().get(key)?;
    Some(
        counts
            .get(&(key.to_owned(), v.clone()))
            .copied()
            .unwrap_or(0),
    )
}

#[derive(Debug, Default)]
struct FilterState {
    existing_anti: TopologyCounts,
    affinity: TopologyCounts,
    anti_affinity: TopologyCounts,
}

impl PreFilter for InterPodAffinity {
    fn pre_filter(&self, cx: Cycle<'_>, state: &mut CycleState) -> Status {
        let mut s = FilterState::default();
        for node in cx.cluster.nodes_with_required_anti_affinity() {
            let labels = node.labels();
            for existing in &node.pods {
                for t in &existing.required_anti_affinity {
                    if let Some(v) = labels.get(&t.topology_key)
                        && matches_pod(t, cx.pod, cx.cluster)
                    {
                        *s.existing_anti
                            .entry((t.topology_key.clone(), v.clone()))
                            .or_default() += 1;
                    }
                }
            }
        }
        for t in &cx.pod.required_affinity {
            add_term(&cx, t, 1, &mut s.affinity);
        }
        for t in &cx.pod.required_anti_affinity {
            add_term(&cx, t, 1, &mut s.anti_affinity);
        }
        s.affinity.retain(|_, v| *v > 0);
        s.anti_affinity.retain(|_, v| *v > 0);
        if s.existing_anti.is_empty()
            && cx.pod.required_affinity.is_empty()
            && cx.pod.required_anti_affinity.is_empty()
        {
            return Status::skip();
        }
        state.write(NAME, s);
        Status::success()
    }
}

impl Filter for InterPodAffinity {
    fn filter(&self, cx: Cycle<'_>, state: &CycleState, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<FilterState>(NAME) else {
            return Status::success();
        };
        // Required affinity: every term's domain must already hold a matching pod, unless no
        // pod anywhere matches and the pod matches its own terms (the first of a group).
        let mut pods_exist = true;
        for t in &cx.pod.required_affinity {
            match domain_count(&s.affinity, &t.topology_key, node) {
                None => return Status::new(Code::UnschedulableAndUnresolvable, REASON_AFFINITY),
                Some(n) if n <= 0 => pods_exist = false,
                Some(_) => {}
            }
        }
        if !pods_exist {
            let first_of_group = s.affinity.is_empty()
                && cx
                    .pod
                    .required_affinity
                    .iter()
                    .all(|t| matches_pod(t, cx.pod, cx.cluster));
            if !first_of_group {
                return Status::unresolvable(REASON_AFFINITY);
            }
        }
        for t in &cx.pod.required_anti_affinity {
            if domain_count(&s.anti_affinity, &t.topology_key, node).is_some_and(|n| n > 0) {
                return Status::unschedulable(REASON_ANTI_AFFINITY);
            }
        }
        let labels = node.labels();
        for ((k, v), n) in &s.existing_anti {
            if *n > 0 && labels.get(k) == Some(v) {
                return Status::unschedulable(REASON_EXISTING_ANTI_AFFINITY);
            }
        }
        Status::success()
    }
}

#[derive(Debug)]
struct ScoreState {
    scores: TopologyCounts,
}

impl PreScore for InterPodAffinity {
    fn pre_score(&self, cx: Cycle<'_>, state: &mut CycleState, _nodes: &[&NodeInfo]) -> Status {
        let mut scores = TopologyCounts::new();
        for wt in &cx.pod.preferred_affinity {
            add_term(&cx, &wt.term, wt.weight, &mut scores);
        }
        for wt in &cx.pod.preferred_anti_affinity {
            add_term(&cx, &wt.term, -wt.weight, &mut scores);
        }
        for node in cx.cluster.nodes_with_affinity() {
            let labels = node.labels();
            if labels.is_empty() {
                continue;
            }
            let mut add = |t: &AffinityTerm, w: i64| {
                if let Some(v) = labels.get(&t.topology_key)
                    && matches_pod(t, cx.pod, cx.cluster)
                {
                    *scores
                        .entry((t.topology_key.clone(), v.clone()))
                        .or_default() += w;
                }
            };
            for existing in node.pods.iter().filter(|p| p.has_affinity()) {
                for t in &existing.required_affinity {
                    add(t, HARD_POD_AFFINITY_WEIGHT);
                }
                for wt in &existing.preferred_affinity {
                    add(&wt.term, wt.weight);
                }
                for wt in &existing.preferred_anti_affinity {
                    add(&wt.term, -wt.weight);
                }
            }
        }
        scores.retain(|_, v| *v != 0);
        if scores.is_empty() {
            return Status::skip();
        }
        state.write(NAME, ScoreState { scores });
        Status::success()
    }
}

impl Score for InterPodAffinity {
    fn score(&self, _cx: Cycle<'_>, state: &CycleState, node: &NodeInfo) -> i64 {
        let Some(s) = state.read::<ScoreState>(NAME) else {
            return 0;
        };
        let labels = node.labels();
        s.scores
            .iter()
            .filter(|((k, v), _)| labels.get(k) == Some(v))
            .map(|(_, w)| *w)
            .sum()
    }

    fn normalize(&self, _cx: Cycle<'_>, state: &CycleState, scores: &mut [i64]) {
        if state.read::<ScoreState>(NAME).is_none() {
            return;
        }
        let min = scores.iter().copied().min().unwrap_or(0);
        let max = scores.iter().copied().max().unwrap_or(0);
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
            } else {
                0
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use k8s_openapi::api::core::v1::{
        Affinity, Pod, PodAffinity, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn term(app: &str, key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some([("app".to_owned(), app.to_owned())].into()),
                ..Default::default()
            }),
            topology_key: key.into(),
            ..Default::default()
        }
    }

    fn with(p: Pod, affinity: Option<PodAffinity>, anti: Option<PodAntiAffinity>) -> Pod {
        let mut p = p;
        p.spec.as_mut().unwrap().affinity = Some(Affinity {
            pod_affinity: affinity,
            pod_anti_affinity: anti,
            ..Default::default()
        });
        p
    }

    fn required_affinity(app: &str, key: &str) -> Option<PodAffinity> {
        Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term(app, key)]),
            ..Default::default()
        })
    }

    fn required_anti(app: &str, key: &str) -> Option<PodAntiAffinity> {
        Some(PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term(app, key)]),
            ..Default::default()
        })
    }

    const ZONE: &str = "topology.kubernetes.io/zone";

    fn nodes() -> Vec<k8s_openapi::api::core::v1::Node> {
        vec![
            node("a1", "4", "8Gi", &[(ZONE, "a")]),
            node("a2", "4", "8Gi", &[(ZONE, "a")]),
            node("b1", "4", "8Gi", &[(ZONE, "b")]),
            node("nozone", "4", "8Gi", &[]),
        ]
    }

    #[test]
    fn required_affinity_follows_the_domain_of_matching_pods() {
        let c = cluster(
            nodes(),
            vec![on(labeled(pod("db", "", ""), &[("app", "db")]), "a1")],
        );
        let p = with(pod("x", "", ""), required_affinity("db", ZONE), None);
        assert_eq!(passing(&InterPodAffinity, &c, p.clone()), ["a1", "a2"]);
        let statuses = filter_all(&InterPodAffinity, &c, p);
        assert_eq!(statuses[2].1, Status::unresolvable(REASON_AFFINITY));
        // No db pod anywhere and the pod does not match itself: nowhere.
        let p = with(pod("x", "", ""), required_affinity("cache", ZONE), None);
        assert_eq!(passing(&InterPodAffinity, &c, p), Vec::<String>::new());
        // ... but the first pod of a self-affine group may go to any node with the key.
        let p = with(
            labeled(pod("x", "", ""), &[("app", "cache")]),
            required_affinity("cache", ZONE),
            None,
        );
        assert_eq!(passing(&InterPodAffinity, &c, p), ["a1", "a2", "b1"]);
    }

    #[test]
    fn required_anti_affinity_both_ways() {
        let c = cluster(
            nodes(),
            vec![on(labeled(pod("web1", "", ""), &[("app", "web")]), "a1")],
        );
        let p = with(
            labeled(pod("x", "", ""), &[("app", "web")]),
            None,
            required_anti("web", ZONE),
        );
        assert_eq!(passing(&InterPodAffinity, &c, p.clone()), ["b1", "nozone"]);
        assert_eq!(
            filter_all(&InterPodAffinity, &c, p)[0].1,
            Status::unschedulable(REASON_ANTI_AFFINITY)
        );
        // An existing pod's anti-affinity keeps a matching newcomer out of its zone.
        let guard = with(
            labeled(pod("guard", "", ""), &[("app", "guard")]),
            None,
            required_anti("web", ZONE),
        );
        let c = cluster(nodes(), vec![on(guard, "b1")]);
        let newcomer = labeled(pod("y", "", ""), &[("app", "web")]);
        assert_eq!(
            passing(&InterPodAffinity, &c, newcomer.clone()),
            ["a1", "a2", "nozone"]
        );
        assert_eq!(
            filter_all(&InterPodAffinity, &c, newcomer)[2].1,
            Status::unschedulable(REASON_EXISTING_ANTI_AFFINITY)
        );
        // Not matching the guard's selector: anywhere.
        assert_eq!(passing(&InterPodAffinity, &c, pod("z", "", "")).len(), 4);
    }

    #[test]
    fn preferred_terms_score() {
        let c = cluster(
            nodes(),
            vec![
                on(labeled(pod("db", "", ""), &[("app", "db")]), "a1"),
                on(labeled(pod("web", "", ""), &[("app", "web")]), "b1"),
            ],
        );
        let p = with(
            pod("x", "", ""),
            Some(PodAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 10,
                        pod_affinity_term: term("db", ZONE),
                    },
                ]),
                ..Default::default()
            }),
            Some(PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 5,
                        pod_affinity_term: term("web", ZONE),
                    },
                ]),
                ..Default::default()
            }),
        );
        let s = score_all(&InterPodAffinity, &c, p);
        // raw: a* = 10, b1 = -5, nozone = 0 → min-max normalized.
        assert_eq!((s["a1"], s["a2"], s["b1"], s["nozone"]), (100, 100, 0, 33));
    }
}
