//! The pod network between nodes (host-gw): a route to every other node's pod CIDR through
//! that node's address, kept as Nodes come and go. The routes carry their own protocol number
//! ([`PROTO`]) so that the ones a previous run left are found again; only routes inside the
//! cluster's pod network are ever touched.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::Node;
use tokio::process::Command;
use tracing::{info, warn};

use crate::Error;

/// The routing protocol number of Barge's routes (`ip route ... proto 77`): one no routing daemon
/// uses (`/etc/iproute2/rt_protos` names 186, for instance, `bgp`).
pub const PROTO: &str = "77";

/// An IPv4 network, `a.b.c.d/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub net: Ipv4Addr,
    pub len: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Self> {
        let (net, len) = text.split_once('/')?;
        let net: Ipv4Addr = net.parse().ok()?;
        let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
        Some(Self { net, len })
    }

    fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.net) & self.mask()
    }

    /// Whether `other` lies inside this network.
    pub fn covers(self, other: Cidr) -> bool {
        other.len >= self.len && self.contains(other.net)
    }

    /// The first address (the pods' gateway on a node's pod CIDR).
    pub fn gateway(self) -> Ipv4Addr {
        Ipv4Addr::from((u32::from(self.net) & self.mask()) + 1)
    }
}

/// The routes this node needs: every other node's pod CIDR through its InternalIP, except for
/// nodes whose address is one of this machine's (they share its network).
pub fn desired(
    nodes: &[impl Borrow<Node>],
    own_name: &str,
    local_ips: &[IpAddr],
    cluster: Cidr,
) -> BTreeMap<String, Ipv4Addr> {
    let mut out = BTreeMap::new();
    for node in nodes {
        let node: &Node = node.borrow();
        if node.metadata.name.as_deref() == Some(own_name) {
            continue;
        }
        let Some(cidr) = node
            .spec
            .as_ref()
            .and_then(|s| s.pod_cidr.as_deref())
            .and_then(Cidr::parse)
            .filter(|c| cluster.covers(*c))
        else {
            continue;
        };
        let Some(via) = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter(|a| a.type_ == "InternalIP")
            .find_map(|a| a.address.parse::<Ipv4Addr>().ok())
        else {
            continue;
        };
        if local_ips.contains(&IpAddr::V4(via)) {
            continue;
        }
        out.insert(format!("{}/{}", cidr.net, cidr.len), via);
    }
    out
}

/// This machine's addresses (in the current network namespace).
pub fn local_ips() -> Vec<IpAddr> {
    nix::ifaddrs::getifaddrs()
        .map(|addrs| {
            addrs
                .filter_map(|a| {
                    let s = a.address?;
                    s.as_sockaddr_in()
                        .map(|v4| IpAddr::V4(v4.ip()))
                        .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The routes installed by this node.
#[derive(Debug)]
pub struct Routes {
    cluster: Cidr,
    installed: BTreeMap<String, Ipv4Addr>,
}

impl Routes {
    /// Takes over the routes a previous run left inside `cluster` (the next sync removes the
    /// ones no longer wanted).
    pub async fn adopt(cluster: Cidr) -> Self {
        let mut installed = BTreeMap::new();
        if let Ok(out) = Command::new("ip")
            .args(["-j", "-4", "route", "show", "proto", PROTO])
            .output()
            .await
        {
            let routes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            for r in routes.as_array().into_iter().flatten() {
                let (Some(dst), Some(via)) = (
                    r["dst"].as_str(),
                    r["gateway"].as_str().and_then(|g| g.parse().ok()),
                ) else {
                    continue;
                };
                if Cidr::parse(dst).is_some_and(|c| cluster.covers(c)) {
                    installed.insert(dst.to_owned(), via);
                }
            }
        }
        Self { cluster, installed }
    }

    pub fn installed(&self) -> &BTreeMap<String, Ipv4Addr> {
        &self.installed
    }

    /// Adds, changes and removes routes to match `want`.
    pub async fn sync(&mut self, want: &BTreeMap<String, Ipv4Addr>) {
        let gone: Vec<String> = self
            .installed
            .keys()
            .filter(|dst| !want.contains_key(*dst))
            .cloned()
            .collect();
        for dst in gone {
            if let Err(e) = ip(&["route", "del", &dst, "proto", PROTO]).await {
                warn!(%dst, %e, "cannot remove route");
            }
            info!(%dst, "route removed");
            self.installed.remove(&dst);
        }
        for (dst, via) in want {
            if self.installed.get(dst) == Some(via) {
                continue;
            }
            let Some(cidr) = Cidr::parse(dst).filter(|c| self.cluster.covers(*c)) else {
                continue;
            };
            let dst = format!("{}/{}", cidr.net, cidr.len);
            match ip(&[
                "route",
                "replace",
                &dst,
                "via",
                &via.to_string(),
                "proto",
                PROTO,
            ])
            .await
            {
                Ok(()) => {
                    info!(%dst, %via, "route to a node's pods");
                    self.installed.insert(dst, *via);
                }
                Err(e) => warn!(%dst, %via, %e, "cannot add route to a node's pods"),
            }
        }
    }

    /// Removes every route this node installed.
    pub async fn remove_all(&mut self) {
        self.sync(&BTreeMap::new()).await;
    }
}

async fn ip(args: &[&str]) -> Result<(), Error> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .await
        .map_err(|e| Error::Command(format!("cannot run ip (is iproute2 installed?): {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Command(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cidr: &str, ip: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"podCIDR": cidr},
            "status": {"addresses": [{"type": "Hostname", "address": name},
                                     {"type": "InternalIP", "address": ip}]}
        }))
        .unwrap()
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.42.0.0/16").unwrap();
        assert!(c.contains("10.42.200.1".parse().unwrap()));
        assert!(!c.contains("10.43.0.1".parse().unwrap()));
        assert!(c.covers(Cidr::parse("10.42.3.0/24").unwrap()));
        assert!(!c.covers(Cidr::parse("10.0.0.0/8").unwrap()));
        assert_eq!(
            Cidr::parse("10.42.3.0/24").unwrap().gateway(),
            Ipv4Addr::new(10, 42, 3, 1)
        );
        assert!(Cidr::parse("10.42.0.0/33").is_none());
        assert!(Cidr::parse("10.42.0.0").is_none());
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().mask(), 0);
    }

    #[test]
    fn a_route_per_other_node_outside_this_machine() {
        let cluster = Cidr::parse("10.42.0.0/16").unwrap();
        let nodes = [
            node("self", "10.42.0.0/24", "172.30.0.1"),
            node("b", "10.42.1.0/24", "172.30.0.2"),
            node("same-machine", "10.42.2.0/24", "192.0.2.2"),
            node("elsewhere", "10.99.0.0/24", "172.30.0.3"),
        ];
        let want = desired(&nodes, "self", &["192.0.2.2".parse().unwrap()], cluster);
        assert_eq!(want.len(), 1);
        assert_eq!(want["10.42.1.0/24"], Ipv4Addr::new(172, 30, 0, 2));
    }
}
