//! NodePorts: a pod's host ports must be free on the node (same protocol and port conflict
//! when the addresses are equal or either is 0.0.0.0).

use std::sync::Arc;

use crate::framework::{Cycle, CycleState, Filter, Plugin, PreFilter, Status};
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodePorts";
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

#[derive(Debug)]
pub struct NodePorts;

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(NodePorts)
}

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }
    fn pre_filter(&self) -> Option<&dyn PreFilter> {
        Some(self)
    }
    fn filter(&self) -> Option<&dyn Filter> {
        Some(self)
    }
}

impl PreFilter for NodePorts {
    fn pre_filter(&self, cx: Cycle<'_>, _state: &mut CycleState) -> Status {
        if cx.pod.host_ports.is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }
}

impl Filter for NodePorts {
    fn filter(&self, cx: Cycle<'_>, _state: &CycleState, node: &NodeInfo) -> Status {
        let conflict = cx
            .pod
            .host_ports
            .iter()
            .any(|want| node.used_ports.iter().any(|used| used.conflicts(want)));
        if conflict {
            Status::unschedulable(REASON)
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use k8s_openapi::api::core::v1::{ContainerPort, Pod};

    fn with_port(name: &str, ip: &str, port: i32, protocol: &str) -> Pod {
        let mut p = pod(name, "", "");
        p.spec.as_mut().unwrap().containers[0].ports = Some(vec![ContainerPort {
            container_port: 80,
            host_port: Some(port),
            host_ip: (!ip.is_empty()).then(|| ip.into()),
            protocol: Some(protocol.into()),
            ..Default::default()
        }]);
        p
    }

    #[test]
    fn host_port_conflicts() {
        let c = cluster(
            vec![node("a", "1", "1Gi", &[]), node("b", "1", "1Gi", &[])],
            vec![on(with_port("web", "10.0.0.1", 8080, "TCP"), "a")],
        );
        assert_eq!(
            passing(&NodePorts, &c, with_port("x", "", 8080, "TCP")),
            ["b"]
        );
        assert_eq!(
            passing(&NodePorts, &c, with_port("x", "10.0.0.2", 8080, "TCP")),
            ["a", "b"]
        );
        assert_eq!(
            passing(&NodePorts, &c, with_port("x", "10.0.0.1", 8080, "UDP")),
            ["a", "b"]
        );
        assert_eq!(
            passing(&NodePorts, &c, with_port("x", "10.0.0.1", 8081, "TCP")),
            ["a", "b"]
        );
        let statuses = filter_all(&NodePorts, &c, with_port("x", "10.0.0.1", 8080, "TCP"));
        assert_eq!(statuses[0].1, Status::unschedulable(REASON));
    }
}
