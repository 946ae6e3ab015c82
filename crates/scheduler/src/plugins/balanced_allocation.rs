//! NodeResourcesBalancedAllocation: prefers nodes whose CPU and memory would be used in equal
//! proportions after placing the pod (score = (1 − standard deviation of the fractions) × 100).

use std::sync::Arc;

use crate::framework::{Cycle, CycleState, MAX_NODE_SCORE, Plugin, Score};
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodeResourcesBalancedAllocation";

#[derive(Debug)]
pub struct BalancedAllocation;

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(BalancedAllocation)
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }
    fn score(&self) -> Option<&dyn Score> {
        Some(self)
    }
}

/// (requested after placing the pod, allocatable) for CPU and memory. `non_zero` counts the
/// default requests of containers without any (LeastAllocated does, BalancedAllocation not).
pub fn requested_and_allocatable(
    cx: Cycle<'_>,
    node: &NodeInfo,
    non_zero: bool,
) -> [(i64, i64); 2] {
    let (used, pod) = if non_zero {
        (&node.non_zero_requested, &cx.pod.non_zero)
    } else {
        (&node.requested, &cx.pod.requests)
    };
    [
        (used.milli_cpu + pod.milli_cpu, node.allocatable.milli_cpu),
        (used.memory + pod.memory, node.allocatable.memory),
    ]
}

impl Score for BalancedAllocation {
    fn score(&self, cx: Cycle<'_>, _state: &CycleState, node: &NodeInfo) -> i64 {
        let [cpu, mem] = requested_and_allocatable(cx, node, false);
        let fraction = |(req, alloc): (i64, i64)| (req as f64 / alloc as f64).min(1.0);
        // With fewer than two resources allocatable the deviation is 0, as upstream.
        let std = if cpu.1 != 0 && mem.1 != 0 {
            ((fraction(cpu) - fraction(mem)) / 2.0).abs()
        } else {
            0.0
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;

    #[test]
    fn balanced_nodes_score_higher() {
        let c = cluster(
            vec![
                node("cpu-heavy", "4", "8Gi", &[]),
                node("even", "4", "8Gi", &[]),
            ],
            vec![
                on(pod("a", "3", "1Gi"), "cpu-heavy"),
                on(pod("b", "1", "2Gi"), "even"),
            ],
        );
        let s = score_all(&BalancedAllocation, &c, pod("x", "1", "2Gi"));
        // cpu-heavy: cpu 4/4=1, mem 3/8 → std 0.3125 → 68; even: 2/4 and 4/8 → 100.
        assert_eq!((s["cpu-heavy"], s["even"]), (68, 100));
    }
}
