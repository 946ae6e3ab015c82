//! NodeAffinity: the pod's `nodeSelector` and required node affinity filter nodes
//! (matchExpressions In/NotIn/Exists/DoesNotExist/Gt/Lt, matchFields `metadata.name`); its
//! preferred node affinity scores them by the summed weights of the terms they match.

use std::sync::Arc;

use k8s_openapi::api::core::v1::PreferredSchedulingTerm;

use super::default_normalize;
use crate::framework::{Cycle, CycleState, Filter, Plugin, PreFilter, PreScore, Score, Status};
use crate::selector::{
    has_required_node_affinity, pod_matches_node_selector_and_affinity, term_matches,
};
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodeAffinity";
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

#[derive(Debug)]
pub struct NodeAffinity;

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(NodeAffinity)
}

impl Plugin for NodeAffinity {
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

impl PreFilter for NodeAffinity {
    fn pre_filter(&self, cx: Cycle<'_>, _state: &mut CycleState) -> Status {
        if has_required_node_affinity(&cx.pod.pod) {
            Status::success()
        } else {
            Status::skip()
        }
    }
}

impl Filter for NodeAffinity {
    fn filter(&self, cx: Cycle<'_>, _state: &CycleState, node: &NodeInfo) -> Status {
        let Some(n) = node.node.as_deref() else {
            return Status::unresolvable(REASON);
        };
        if pod_matches_node_selector_and_affinity(&cx.pod.pod, n) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }
}

fn preferred<'a>(cx: &Cycle<'a>) -> &'a [PreferredSchedulingTerm] {
    cx.pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or_default()
}

impl PreScore for NodeAffinity {
    fn pre_score(&self, cx: Cycle<'_>, _state: &mut CycleState, _nodes: &[&NodeInfo]) -> Status {
        if preferred(&cx).is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }
}

impl Score for NodeAffinity {
    fn score(&self, cx: Cycle<'_>, _state: &CycleState, node: &NodeInfo) -> i64 {
        let Some(n) = node.node.as_deref() else {
            return 0;
        };
        preferred(&cx)
            .iter()
            .filter(|t| t.weight != 0 && term_matches(&t.preference, n))
            .map(|t| i64::from(t.weight))
            .sum()
    }

    fn normalize(&self, _cx: Cycle<'_>, _state: &CycleState, scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity as Na, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    };

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    fn with_affinity(
        required: Vec<NodeSelectorTerm>,
        preferred: Vec<PreferredSchedulingTerm>,
    ) -> Pod {
        let mut p = pod("p", "", "");
        p.spec.as_mut().unwrap().affinity = Some(Affinity {
            node_affinity: Some(Na {
                required_during_scheduling_ignored_during_execution: (!required.is_empty())
                    .then_some(NodeSelector {
                        node_selector_terms: required,
                    }),
                preferred_during_scheduling_ignored_during_execution: (!preferred.is_empty())
                    .then_some(preferred),
            }),
            ..Default::default()
        });
        p
    }

    fn exprs(r: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: Some(r),
            match_fields: None,
        }
    }

    fn nodes() -> crate::snapshot::Cluster {
        cluster(
            vec![
                node("a", "1", "1Gi", &[("zone", "z1"), ("cores", "8")]),
                node(
                    "b",
                    "1",
                    "1Gi",
                    &[("zone", "z2"), ("cores", "16"), ("ssd", "true")],
                ),
                node("c", "1", "1Gi", &[("cores", "4")]),
            ],
            vec![],
        )
    }

    #[test]
    fn required_affinity_operators_and_node_selector() {
        let c = nodes();
        let p = NodeAffinity;
        let f = |terms| passing(&p, &c, with_affinity(terms, vec![]));
        assert_eq!(
            f(vec![exprs(vec![req("zone", "In", &["z1", "z2"])])]),
            ["a", "b"]
        );
        assert_eq!(
            f(vec![exprs(vec![req("zone", "NotIn", &["z1"])])]),
            ["b", "c"]
        );
        assert_eq!(f(vec![exprs(vec![req("ssd", "Exists", &[])])]), ["b"]);
        assert_eq!(
            f(vec![exprs(vec![req("zone", "DoesNotExist", &[])])]),
            ["c"]
        );
        assert_eq!(f(vec![exprs(vec![req("cores", "Gt", &["6"])])]), ["a", "b"]);
        assert_eq!(f(vec![exprs(vec![req("cores", "Lt", &["6"])])]), ["c"]);
        // Terms are ORed, requirements within a term ANDed.
        assert_eq!(
            f(vec![
                exprs(vec![
                    req("zone", "In", &["z1"]),
                    req("cores", "Gt", &["10"])
                ]),
                exprs(vec![req("cores", "Lt", &["5"])]),
            ]),
            ["c"]
        );
        let fields = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![req("metadata.name", "In", &["b"])]),
        };
        assert_eq!(f(vec![fields]), ["b"]);
        // An empty term matches nothing.
        assert_eq!(f(vec![NodeSelectorTerm::default()]), Vec::<String>::new());

        let mut sel = pod("s", "", "");
        sel.spec.as_mut().unwrap().node_selector =
            Some([("zone".to_owned(), "z2".to_owned())].into());
        assert_eq!(passing(&p, &c, sel.clone()), ["b"]);
        let statuses = filter_all(&p, &c, sel);
        assert_eq!(statuses[0].1, Status::unresolvable(REASON));
        assert_eq!(passing(&p, &c, pod("x", "", "")), ["a", "b", "c"]);
    }

    #[test]
    fn preferred_affinity_scores_by_weight() {
        let c = nodes();
        let pref = |w, r| PreferredSchedulingTerm {
            weight: w,
            preference: exprs(vec![r]),
        };
        let s = score_all(
            &NodeAffinity,
            &c,
            with_affinity(
                vec![],
                vec![
                    pref(20, req("zone", "In", &["z1"])),
                    pref(80, req("ssd", "Exists", &[])),
                ],
            ),
        );
        assert_eq!((s["a"], s["b"], s["c"]), (25, 100, 0));
    }
}
