//! ClusterRole aggregation, as upstream's clusterrole-aggregation controller leaves it: a
//! ClusterRole with an `aggregationRule` holds the rules of every other ClusterRole whose
//! labels match one of its `clusterRoleSelectors`, taken in name order, each rule once.

use std::collections::BTreeMap;

use super::{ClusterRole, PolicyRule};
use crate::selector::LabelSelector;

/// The ClusterRoles with the `rules` of every aggregated one filled in, so the server can store
/// and show them as upstream does (`kubectl get clusterrole admin -o yaml`). Aggregated roles
/// may match other aggregated roles (`admin` takes `edit`'s, which takes `view`'s); the result
/// is the least fixed point, so what aggregated roles held before does not matter and
/// `aggregate(&aggregate(x)) == aggregate(x)`. A selector that does not parse matches nothing.
pub fn aggregate(cluster_roles: &[ClusterRole]) -> Vec<ClusterRole> {
    let rules = aggregated_rules(cluster_roles);
    cluster_roles
        .iter()
        .zip(rules)
        .map(|(role, rules)| {
            let mut role = role.clone();
            // Upstream leaves an unset list unset when the result is empty (semantic equality
            // of nil and empty).
            if role.aggregation_rule.is_some() && !(rules.is_empty() && role.rules.is_none()) {
                role.rules = Some(rules);
            }
            role
        })
        .collect()
}

/// Each role's effective rules, in input order: the stored ones, or for an aggregated role the
/// aggregate.
pub(super) fn aggregated_rules(cluster_roles: &[ClusterRole]) -> Vec<Vec<PolicyRule>> {
    let selectors: Vec<Option<Vec<LabelSelector>>> = cluster_roles
        .iter()
        .map(|role| {
            let rule = role.aggregation_rule.as_ref()?;
            Some(
                rule.cluster_role_selectors
                    .iter()
                    .flatten()
                    .map(|s| {
                        serde_json::to_value(s)
                            .ok()
                            .and_then(|v| LabelSelector::from_json(&v).ok())
                            .unwrap_or_else(LabelSelector::nothing)
                    })
                    .collect(),
            )
        })
        .collect();
    let mut rules: Vec<Vec<PolicyRule>> = cluster_roles
        .iter()
        .zip(&selectors)
        .map(|(role, sel)| match sel {
            Some(_) => Vec::new(),
            None => role.rules.clone().unwrap_or_default(),
        })
        .collect();
    if selectors.iter().all(Option::is_none) {
        return rules;
    }

    let empty = BTreeMap::new();
    let name = |i: usize| {
        cluster_roles[i]
            .metadata
            .name
            .as_deref()
            .unwrap_or_default()
    };
    let labels = |i: usize| cluster_roles[i].metadata.labels.as_ref().unwrap_or(&empty);
    let mut by_name: Vec<usize> = (0..cluster_roles.len()).collect();
    by_name.sort_by(|&a, &b| name(a).cmp(name(b)));

    // Which roles each aggregated role takes, in name order (fixed: labels do not change).
    let sources: Vec<(usize, Vec<usize>)> = selectors
        .iter()
        .enumerate()
        .filter_map(|(i, sel)| {
            let sel = sel.as_ref()?;
            let taken = by_name
                .iter()
                .copied()
                .filter(|&j| name(j) != name(i))
                .filter(|&j| {
                    let labels = labels(j);
                    sel.iter()
                        .any(|s| s.matches_with(|k| labels.get(k).map(String::as_str)))
                })
                .collect();
            Some((i, taken))
        })
        .collect();

    // Rules only grow from empty, so this settles; the bound guards against orderings that
    // keep swapping in a cycle of aggregated roles.
    for _ in 0..=cluster_roles.len() + 1 {
        let mut changed = false;
        for (i, taken) in &sources {
            let mut union: Vec<PolicyRule> = Vec::new();
            for &j in taken {
                for rule in &rules[j] {
                    if !union.iter().any(|r| same_rule(r, rule)) {
                        union.push(rule.clone());
                    }
                }
            }
            if union != rules[*i] {
                rules[*i] = union;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    rules
}

/// Upstream's semantic equality of rules: an unset list equals an empty one.
fn same_rule(a: &PolicyRule, b: &PolicyRule) -> bool {
    fn l(v: &Option<Vec<String>>) -> &[String] {
        v.as_deref().unwrap_or_default()
    }
    a.verbs == b.verbs
        && l(&a.api_groups) == l(&b.api_groups)
        && l(&a.resources) == l(&b.resources)
        && l(&a.resource_names) == l(&b.resource_names)
        && l(&a.non_resource_urls) == l(&b.non_resource_urls)
}
