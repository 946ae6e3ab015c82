//! TaintToleration: a node's `NoSchedule` and `NoExecute` taints keep out pods that do not
//! tolerate them; untolerated `PreferNoSchedule` taints lower a node's score.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Taint, Toleration};

use super::default_normalize;
use crate::framework::{Cycle, CycleState, Filter, Plugin, Score, Status};
use crate::snapshot::NodeInfo;

pub const NAME: &str = "TaintToleration";

/// Upstream's `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty())
        && e != taint.effect
    {
        return false;
    }
    if let Some(k) = t.key.as_deref().filter(|k| !k.is_empty())
        && k != taint.key
    {
        return false;
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

pub fn tolerates_any(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first taint with effect NoSchedule or NoExecute the tolerations do not tolerate.
pub fn untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints.iter().find(|t| {
        (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerates_any(tolerations, t)
    })
}

fn tolerations<'a>(cx: &Cycle<'a>) -> &'a [Toleration] {
    cx.pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default()
}

#[derive(Debug)]
pub struct TaintToleration;

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(TaintToleration)
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }
    fn filter(&self) -> Option<&dyn Filter> {
        Some(self)
    }
    fn score(&self) -> Option<&dyn Score> {
        Some(self)
    }
}

impl Filter for TaintToleration {
    fn filter(&self, cx: Cycle<'_>, _state: &CycleState, node: &NodeInfo) -> Status {
        match untolerated(node.taints(), tolerations(&cx)) {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )),
        }
    }
}

impl Score for TaintToleration {
    fn score(&self, cx: Cycle<'_>, _state: &CycleState, node: &NodeInfo) -> i64 {
        let tols = tolerations(&cx);
        node.taints()
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule")
            .filter(|t| {
                !tols.iter().any(|tol| {
                    matches!(
                        tol.effect.as_deref(),
                        None | Some("") | Some("PreferNoSchedule")
                    ) && tolerates(tol, t)
                })
            })
            .count() as i64
    }

    fn normalize(&self, _cx: Cycle<'_>, _state: &CycleState, scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;

    fn tainted(
        name: &str,
        key: &str,
        value: &str,
        effect: &str,
    ) -> k8s_openapi::api::core::v1::Node {
        let mut n = node(name, "1", "1Gi", &[]);
        n.spec.as_mut().unwrap().taints = Some(vec![Taint {
            key: key.into(),
            value: Some(value.into()),
            effect: effect.into(),
            ..Default::default()
        }]);
        n
    }

    fn tolerating(
        key: &str,
        op: &str,
        value: &str,
        effect: &str,
    ) -> k8s_openapi::api::core::v1::Pod {
        let mut p = pod("p", "", "");
        p.spec.as_mut().unwrap().tolerations = Some(vec![Toleration {
            key: Some(key.into()),
            operator: Some(op.into()),
            value: (!value.is_empty()).then(|| value.into()),
            effect: (!effect.is_empty()).then(|| effect.into()),
            ..Default::default()
        }]);
        p
    }

    #[test]
    fn untolerated_no_schedule_taints_filter_with_upstream_reason() {
        let c = cluster(
            vec![
                tainted("gpu", "dedicated", "gpu", "NoSchedule"),
                tainted("soft", "dedicated", "gpu", "PreferNoSchedule"),
                tainted("evict", "maintenance", "", "NoExecute"),
                node("plain", "1", "1Gi", &[]),
            ],
            vec![],
        );
        let statuses = filter_all(&TaintToleration, &c, pod("p", "", ""));
        assert_eq!(
            statuses[0].1,
            Status::unresolvable("node(s) had untolerated taint {dedicated: gpu}")
        );
        assert_eq!(
            statuses[2].1,
            Status::unresolvable("node(s) had untolerated taint {maintenance: }")
        );
        assert_eq!(
            passing(&TaintToleration, &c, pod("p", "", "")),
            ["plain", "soft"]
        );
        assert_eq!(
            passing(
                &TaintToleration,
                &c,
                tolerating("dedicated", "Equal", "gpu", "NoSchedule")
            ),
            ["gpu", "plain", "soft"]
        );
        assert_eq!(
            passing(
                &TaintToleration,
                &c,
                tolerating("dedicated", "Equal", "cpu", "")
            ),
            ["plain", "soft"]
        );
        assert_eq!(
            passing(&TaintToleration, &c, tolerating("", "Exists", "", "")),
            ["evict", "gpu", "plain", "soft"]
        );
    }

    #[test]
    fn prefer_no_schedule_taints_lower_the_score() {
        let c = cluster(
            vec![
                tainted("soft", "dedicated", "gpu", "PreferNoSchedule"),
                node("plain", "1", "1Gi", &[]),
            ],
            vec![],
        );
        let s = score_all(&TaintToleration, &c, pod("p", "", ""));
        assert_eq!((s["soft"], s["plain"]), (0, 100));
        let s = score_all(
            &TaintToleration,
            &c,
            tolerating("dedicated", "Exists", "", "PreferNoSchedule"),
        );
        assert_eq!((s["soft"], s["plain"]), (100, 100));
    }
}
