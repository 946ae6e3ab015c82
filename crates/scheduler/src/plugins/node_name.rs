//! NodeName: a pod that names a node (`spec.nodeName`) fits only that node.

use std::sync::Arc;

use crate::framework::{Cycle, CycleState, Filter, Plugin, Status};
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodeName";
pub const REASON: &str = "node(s) didn't match the requested node name";

#[derive(Debug)]
pub struct NodeName;

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(NodeName)
}

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }
    fn filter(&self) -> Option<&dyn Filter> {
        Some(self)
    }
}

impl Filter for NodeName {
    fn filter(&self, cx: Cycle<'_>, _state: &CycleState, node: &NodeInfo) -> Status {
        match cx.pod.node_name() {
            Some(wanted) if wanted != node.name => Status::unresolvable(REASON),
            _ => Status::success(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;

    #[test]
    fn only_the_named_node_fits() {
        let c = cluster(
            vec![node("n1", "1", "1Gi", &[]), node("n2", "1", "1Gi", &[])],
            vec![],
        );
        assert_eq!(passing(&NodeName, &c, pod("a", "", "")), ["n1", "n2"]);
        assert_eq!(passing(&NodeName, &c, on(pod("a", "", ""), "n2")), ["n2"]);
    }
}
