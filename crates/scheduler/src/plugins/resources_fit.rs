//! NodeResourcesFit: the pod's requests (CPU, memory, ephemeral storage, extended resources)
//! must fit in what the node has left of its allocatable, and the node must have room for one
//! more pod. Scores with the LeastAllocated strategy (CPU and memory, weight 1 each, requests
//! counted with the non-zero defaults).

use std::sync::Arc;

use super::balanced_allocation::requested_and_allocatable;
use crate::framework::{Cycle, CycleState, Filter, MAX_NODE_SCORE, Plugin, Score, Status};
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodeResourcesFit";

#[derive(Debug)]
pub struct NodeResourcesFit;

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(NodeResourcesFit)
}

impl Plugin for NodeResourcesFit {
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

/// Upstream's `fitsRequest`: the reasons the pod does not fit, in upstream's order.
pub fn insufficient(cx: Cycle<'_>, node: &NodeInfo) -> Vec<std::borrow::Cow<'static, str>> {
    let mut reasons = Vec::new();
    let alloc = &node.allocatable;
    let used = &node.requested;
    if node.pods.len() as i64 + 1 > alloc.allowed_pods {
        reasons.push("Too many pods".into());
    }
    let want = &cx.pod.requests;
    if want.is_zero() {
        return reasons;
    }
    if want.milli_cpu > 0 && want.milli_cpu > alloc.milli_cpu - used.milli_cpu {
        reasons.push("Insufficient cpu".into());
    }
    if want.memory > 0 && want.memory > alloc.memory - used.memory {
        reasons.push("Insufficient memory".into());
    }
    if want.ephemeral_storage > 0
        && want.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage
    {
        reasons.push("Insufficient ephemeral-storage".into());
    }
    for (name, q) in &want.scalar {
        if *q == 0 {
            continue;
        }
        let free = alloc.scalar.get(name).copied().unwrap_or(0)
            - used.scalar.get(name).copied().unwrap_or(0);
        if *q > free {
            reasons.push(format!("Insufficient {name}").into());
        }
    }
    reasons
}

impl Filter for NodeResourcesFit {
    fn filter(&self, cx: Cycle<'_>, _state: &CycleState, node: &NodeInfo) -> Status {
        let reasons = insufficient(cx, node);
        if reasons.is_empty() {
            Status::success()
        } else {
            Status {
                code: crate::framework::Code::Unschedulable,
                reasons,
            }
        }
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

impl Score for NodeResourcesFit {
    fn score(&self, cx: Cycle<'_>, _state: &CycleState, node: &NodeInfo) -> i64 {
        let (mut sum, mut weights) = (0, 0);
        for (req, alloc) in requested_and_allocatable(cx, node, true) {
            if alloc == 0 {
                continue;
            }
            sum += least_requested(req, alloc);
            weights += 1;
        }
        if weights == 0 { 0 } else { sum / weights }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    #[test]
    fn requests_must_fit_what_is_left() {
        let c = cluster(
            vec![
                node("small", "1", "1Gi", &[]),
                node("busy", "4", "8Gi", &[]),
                node("big", "4", "8Gi", &[]),
            ],
            vec![on(pod("hog", "3500m", "7Gi"), "busy")],
        );
        let p = NodeResourcesFit;
        assert_eq!(passing(&p, &c, pod("x", "2", "1Gi")), ["big"]);
        assert_eq!(
            passing(&p, &c, pod("x", "500m", "512Mi")),
            ["big", "busy", "small"]
        );
        let statuses = filter_all(&p, &c, pod("x", "2", "4Gi"));
        assert_eq!(
            statuses[0].1.reasons,
            ["Insufficient cpu", "Insufficient memory"]
        );
        assert_eq!(
            statuses[1].1.reasons,
            ["Insufficient cpu", "Insufficient memory"]
        );
        assert!(statuses[2].1.is_success());
    }

    #[test]
    fn pod_count_and_extended_resources() {
        let mut full = node("full", "4", "8Gi", &[]);
        full.status
            .as_mut()
            .unwrap()
            .allocatable
            .as_mut()
            .unwrap()
            .insert("pods".into(), Quantity("1".into()));
        let mut gpu = node("gpu", "4", "8Gi", &[]);
        gpu.status
            .as_mut()
            .unwrap()
            .allocatable
            .as_mut()
            .unwrap()
            .insert("example.com/gpu".into(), Quantity("2".into()));
        let c = cluster(vec![full, gpu], vec![on(pod("a", "", ""), "full")]);
        let statuses = filter_all(&NodeResourcesFit, &c, pod("x", "", ""));
        assert_eq!(statuses[0].1.reasons, ["Too many pods"]);
        let mut wants_gpu = pod("g", "", "");
        wants_gpu.spec.as_mut().unwrap().containers[0]
            .resources
            .as_mut()
            .unwrap()
            .requests
            .as_mut()
            .unwrap()
            .insert("example.com/gpu".into(), Quantity("3".into()));
        let statuses = filter_all(&NodeResourcesFit, &c, wants_gpu);
        assert_eq!(statuses[1].1.reasons, ["Insufficient example.com/gpu"]);
    }

    #[test]
    fn least_allocated_prefers_emptier_nodes() {
        let c = cluster(
            vec![
                node("empty", "4", "8Gi", &[]),
                node("half", "4", "8Gi", &[]),
            ],
            vec![on(pod("a", "2", "4Gi"), "half")],
        );
        let s = score_all(&NodeResourcesFit, &c, pod("x", "1", "2Gi"));
        // empty: (3/4 free cpu, 3/4 free memory) → 75; half: 1/4 → 25.
        assert_eq!((s["empty"], s["half"]), (75, 25));
    }
}
