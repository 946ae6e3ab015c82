//! Label selectors and node selectors compiled once per pod and matched against label maps
//! without allocating: what the plugins and the pod counters match with.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub type Labels = BTreeMap<String, String>;

/// The labels of a pod (empty if none).
pub fn pod_labels(pod: &Pod) -> &Labels {
    static EMPTY: Labels = BTreeMap::new();
    pod.metadata.labels.as_ref().unwrap_or(&EMPTY)
}

/// The labels of a node (empty if none).
pub fn node_labels(node: &Node) -> &Labels {
    static EMPTY: Labels = BTreeMap::new();
    node.metadata.labels.as_ref().unwrap_or(&EMPTY)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    /// Sorted.
    pub values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        match self.op {
            Op::In => labels
                .get(&self.key)
                .is_some_and(|v| self.values.iter().any(|x| x == v)),
            Op::NotIn => labels
                .get(&self.key)
                .is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Op::Exists => labels.contains_key(&self.key),
            Op::DoesNotExist => !labels.contains_key(&self.key),
        }
    }
}

/// A compiled label selector: the AND of its requirements. `nothing` selects no object (what a
/// missing or invalid selector means where upstream uses `labels.Nothing()`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Selector {
    pub nothing: bool,
    /// Sorted, so that equal selectors compare equal.
    pub requirements: Vec<Requirement>,
}

impl Selector {
    pub fn everything() -> Self {
        Self {
            nothing: false,
            requirements: Vec::new(),
        }
    }

    pub fn nothing() -> Self {
        Self {
            nothing: true,
            requirements: Vec::new(),
        }
    }

    /// A selector for exactly these labels (`matchLabels`, a service's selector).
    pub fn from_map(map: &Labels) -> Self {
        let mut s = Self::everything();
        for (k, v) in map {
            s.requirements.push(Requirement {
                key: k.clone(),
                op: Op::In,
                values: vec![v.clone()],
            });
        }
        s.requirements.sort();
        s
    }

    /// Upstream's `LabelSelectorAsSelector`: `None` selects nothing, `{}` everything; an invalid
    /// expression selects nothing.
    pub fn from_label_selector(sel: Option<&LabelSelector>) -> Self {
        let Some(sel) = sel else {
            return Self::nothing();
        };
        let mut s = Self::from_map(sel.match_labels.as_ref().unwrap_or(&BTreeMap::new()));
        for e in sel.match_expressions.iter().flatten() {
            let mut values = e.values.clone().unwrap_or_default();
            values.sort();
            let op = match e.operator.as_str() {
                "In" if !values.is_empty() => Op::In,
                "NotIn" if !values.is_empty() => Op::NotIn,
                "Exists" if values.is_empty() => Op::Exists,
                "DoesNotExist" if values.is_empty() => Op::DoesNotExist,
                _ => return Self::nothing(),
            };
            s.requirements.push(Requirement {
                key: e.key.clone(),
                op,
                values,
            });
        }
        s.requirements.sort();
        s
    }

    pub fn add(&mut self, r: Requirement) {
        self.requirements.push(r);
        self.requirements.sort();
    }

    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// A label pair every matching object must carry, if any (used to index counters).
    pub fn anchor(&self) -> Option<(&str, &str)> {
        if self.nothing {
            return None;
        }
        self.requirements
            .iter()
            .find_map(|r| match (r.op, r.values.as_slice()) {
                (Op::In, [v]) => Some((r.key.as_str(), v.as_str())),
                _ => None,
            })
    }
}

/// One node-selector requirement (`matchExpressions` or `matchFields`).
fn node_requirement_matches(
    r: &NodeSelectorRequirement,
    get: &dyn Fn(&str) -> Option<String>,
) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let value = get(&r.key);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (value, values) else {
                return false;
            };
            let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// Whether a node selector term matches a node. An empty term matches nothing, as upstream.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node_labels(node);
    let by_label = |k: &str| labels.get(k).cloned();
    let by_field = |k: &str| {
        (k == "metadata.name")
            .then(|| node.metadata.name.clone())
            .flatten()
    };
    exprs.iter().all(|r| node_requirement_matches(r, &by_label))
        && fields.iter().all(|r| {
            // Only metadata.name is a supported field; anything else never matches.
            r.key == "metadata.name" && node_requirement_matches(r, &by_field)
        })
}

/// Upstream's `GetRequiredNodeAffinity(pod).Match(node)`: the pod's `nodeSelector` and its
/// required node affinity (terms ORed).
pub fn pod_matches_node_selector_and_affinity(pod: &Pod, node: &Node) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    if let Some(sel) = spec.node_selector.as_ref() {
        let labels = node_labels(node);
        if !sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        None => true,
        Some(ns) => ns.node_selector_terms.iter().any(|t| term_matches(t, node)),
    }
}

/// Whether the pod has a node selector or required node affinity at all.
pub fn has_required_node_affinity(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|s| {
        s.node_selector.as_ref().is_some_and(|m| !m.is_empty())
            || s.affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .is_some_and(|na| {
                    na.required_during_scheduling_ignored_during_execution
                        .is_some()
                })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn label_selectors_match_as_upstream() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["db".into()]),
            }]),
        };
        let s = Selector::from_label_selector(Some(&sel));
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("app", "api")])));
        assert_eq!(s.anchor(), Some(("app", "web")));
        assert!(!Selector::from_label_selector(None).matches(&Labels::new()));
        assert!(
            Selector::from_label_selector(Some(&LabelSelector::default())).matches(&Labels::new())
        );
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "In".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert!(Selector::from_label_selector(Some(&bad)).nothing);
    }
}
