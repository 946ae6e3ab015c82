//! Stale UDP conntrack entries. A UDP "connection" lives in conntrack for as long as packets
//! keep coming, so a client would keep sending to an endpoint that is gone; when an endpoint
//! of a UDP Service port goes, its entries are deleted (`conntrack -D`, from the conntrack
//! package), as upstream's kube-proxy does.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use tokio::process::Command;
use tracing::debug;

use crate::model::{Protocol, ServicePort};

/// One flush: connections to `destination` (a Service address, or any local address when
/// `None`) and port, NATed to `endpoint`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flush {
    pub destination: Option<Ipv4Addr>,
    pub port: u16,
    pub endpoint: Ipv4Addr,
}

/// What to flush after the proxy moved from `old` to `new`: every UDP endpoint that was
/// there and is not any more, for each address and port its Service is reached at.
pub fn stale(old: &[ServicePort], new: &[ServicePort]) -> BTreeSet<Flush> {
    let mut out = BTreeSet::new();
    for o in old.iter().filter(|p| p.protocol == Protocol::Udp) {
        let now = new.iter().find(|n| n.id == o.id);
        for e in &o.endpoints {
            let still =
                now.is_some_and(|n| n.endpoints.iter().any(|x| x.ip == e.ip && x.port == e.port));
            if still {
                continue;
            }
            for ip in o.cluster_ips.iter().chain(&o.external_ips) {
                out.insert(Flush {
                    destination: Some(*ip),
                    port: o.port,
                    endpoint: e.ip,
                });
            }
            if let Some(node_port) = o.node_port {
                out.insert(Flush {
                    destination: None,
                    port: node_port,
                    endpoint: e.ip,
                });
            }
        }
    }
    out
}

/// Deletes the entries of `flush` (errors are logged: an entry may be gone already).
pub async fn delete(flush: &Flush) {
    let mut cmd = Command::new("conntrack");
    cmd.args(["-D", "-p", "udp"]);
    if let Some(ip) = flush.destination {
        cmd.args(["--orig-dst", &ip.to_string()]);
    }
    cmd.args(["--orig-port-dst", &flush.port.to_string()])
        .args(["--dst-nat", &flush.endpoint.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    match cmd.status().await {
        // conntrack exits 1 when nothing matched.
        Ok(_) => debug!(?flush, "stale UDP conntrack entries deleted"),
        Err(e) => debug!(%e, "conntrack not run"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Endpoint;

    fn udp(endpoints: &[u8]) -> ServicePort {
        ServicePort {
            id: "kube-system/dns/udp/dns".into(),
            protocol: Protocol::Udp,
            port: 53,
            cluster_ips: vec![Ipv4Addr::new(10, 96, 0, 10)],
            external_ips: vec![],
            node_port: Some(30053),
            affinity_timeout: None,
            external_local: false,
            internal_local: false,
            endpoints: endpoints
                .iter()
                .map(|l| Endpoint {
                    ip: Ipv4Addr::new(10, 42, 0, *l),
                    port: 53,
                    local: true,
                })
                .collect(),
        }
    }

    #[test]
    fn removed_udp_endpoints_are_flushed_for_every_address() {
        let flushes = stale(&[udp(&[5, 6])], &[udp(&[6])]);
        let got: Vec<String> = flushes
            .iter()
            .map(|f| format!("{:?} {} {}", f.destination, f.port, f.endpoint))
            .collect();
        assert_eq!(
            got,
            ["None 30053 10.42.0.5", "Some(10.96.0.10) 53 10.42.0.5"]
        );
        assert!(stale(&[udp(&[5])], &[udp(&[5, 6])]).is_empty());
        assert_eq!(stale(&[udp(&[5])], &[]).len(), 2);
    }
}
