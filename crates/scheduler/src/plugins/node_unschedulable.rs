//! NodeUnschedulable: nodes with `spec.unschedulable` are out, unless the pod tolerates the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Taint;

use super::taint_toleration::tolerates_any;
use crate::framework::{Cycle, CycleState, Filter, Plugin, Status};
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodeUnschedulable";
pub const REASON: &str = "node(s) were unschedulable";

#[derive(Debug)]
pub struct NodeUnschedulable;

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(NodeUnschedulable)
}

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }
    fn filter(&self) -> Option<&dyn Filter> {
        Some(self)
    }
}

impl Filter for NodeUnschedulable {
    fn filter(&self, cx: Cycle<'_>, _state: &CycleState, node: &NodeInfo) -> Status {
        if !node.unschedulable() {
            return Status::success();
        }
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let tolerations = cx
            .pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default();
        if tolerates_any(tolerations, &taint) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use k8s_openapi::api::core::v1::Toleration;

    #[test]
    fn cordoned_nodes_are_skipped_unless_tolerated() {
        let mut cordoned = node("n1", "1", "1Gi", &[]);
        cordoned.spec.as_mut().unwrap().unschedulable = Some(true);
        let c = cluster(vec![cordoned, node("n2", "1", "1Gi", &[])], vec![]);
        let p = NodeUnschedulable;
        assert_eq!(passing(&p, &c, pod("a", "", "")), ["n2"]);
        let statuses = filter_all(&p, &c, pod("a", "", ""));
        assert_eq!(statuses[0].1, Status::unresolvable(REASON));
        let mut tolerant = pod("b", "", "");
        tolerant.spec.as_mut().unwrap().tolerations = Some(vec![Toleration {
            key: Some("node.kubernetes.io/unschedulable".into()),
            operator: Some("Exists".into()),
            effect: Some("NoSchedule".into()),
            ..Default::default()
        }]);
        assert_eq!(passing(&p, &c, tolerant), ["n1", "n2"]);
    }
}
