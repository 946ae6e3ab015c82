//! What the proxy must program, computed from Services and EndpointSlices alone (no I/O): one
//! [`ServicePort`] per port of every Service that has a virtual IP, with the endpoints traffic
//! to it may reach.
//!
//! Endpoints as upstream's kube-proxy picks them: the ready ones; when none is ready, the
//! serving ones that are terminating (so connections keep working while the last pods of a
//! rollout shut down). Endpoints on this node are marked `local` for the traffic policies.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A transport protocol of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    fn parse(text: Option<&str>) -> Option<Self> {
        match text.unwrap_or("TCP") {
            "TCP" => Some(Self::Tcp),
            "UDP" => Some(Self::Udp),
            "SCTP" => Some(Self::Sctp),
            _ => None,
        }
    }

    /// The name nft uses.
    pub fn nft(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

/// One endpoint of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// On this node (for `externalTrafficPolicy` / `internalTrafficPolicy: Local`).
    pub local: bool,
}

/// One port of one Service, and where its traffic goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// `namespace/name/protocol/port-name` (the port number when the port has no name): unique,
    /// stable, and a valid nft identifier once prefixed.
    pub id: String,
    pub protocol: Protocol,
    pub port: u16,
    pub cluster_ips: Vec<Ipv4Addr>,
    /// Addresses reached from outside the cluster: `spec.externalIPs` and the load
    /// balancer's ingress IPs.
    pub external_ips: Vec<Ipv4Addr>,
    pub node_port: Option<u16>,
    /// `sessionAffinity: ClientIP`: how long a client sticks to its endpoint, in seconds.
    pub affinity_timeout: Option<u32>,
    /// `externalTrafficPolicy: Local`.
    pub external_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    /// Sorted, without duplicates.
    pub endpoints: Vec<Endpoint>,
}

/// The node the model is computed for.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    pub node_name: String,
    /// The Service answered by this node's own DNS server (`kube-system/kube-dns`), and that
    /// server's address: the Service's port-53 traffic goes there instead of to endpoints.
    pub dns: Option<(String, String, SocketAddr)>,
}

/// The ports of every Service with a virtual IP, ordered by id.
pub fn service_ports(
    services: &[impl Borrow<Service>],
    slices: &[impl Borrow<EndpointSlice>],
    node: &NodeView,
) -> Vec<ServicePort> {
    // Slices by (namespace, service).
    let mut by_service: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in slices {
        let slice: &EndpointSlice = slice.borrow();
        if slice.address_type != "IPv4" {
            continue;
        }
        let Some(service) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        let ns = slice.metadata.namespace.as_deref().unwrap_or("");
        by_service.entry((ns, service)).or_default().push(slice);
    }
    let mut out = Vec::new();
    for service in services {
        let service: &Service = service.borrow();
        let (Some(ns), Some(name), Some(spec)) = (
            service.metadata.namespace.as_deref(),
            service.metadata.name.as_deref(),
            service.spec.as_ref(),
        ) else {
            continue;
        };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let cluster_ips: Vec<Ipv4Addr> = spec
            .cluster_ips
            .iter()
            .flatten()
            .chain(spec.cluster_ip.iter())
            .filter_map(|ip| ip.parse().ok())
            .fold(Vec::new(), |mut v, ip| {
                if !v.contains(&ip) {
                    v.push(ip);
                }
                v
            });
        if cluster_ips.is_empty() {
            // Headless (or not yet allocated): nothing to proxy.
            continue;
        }
        let mut external_ips: Vec<Ipv4Addr> = spec
            .external_ips
            .iter()
            .flatten()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        if spec.type_.as_deref() == Some("LoadBalancer") {
            external_ips.extend(
                service
                    .status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.as_ref())
                    .into_iter()
                    .flatten()
                    .filter(|i| i.ip_mode.as_deref() != Some("Proxy"))
                    .filter_map(|i| i.ip.as_deref()?.parse::<Ipv4Addr>().ok()),
            );
        }
        external_ips.sort();
        external_ips.dedup();
        let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|t| u32::try_from(t).ok())
                .filter(|t| *t > 0)
                .unwrap_or(10_800)
        });
        let has_node_ports = matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"));
        let external_local = spec.external_traffic_policy.as_deref() == Some("Local")
            && (has_node_ports || !external_ips.is_empty());
        let internal_local = spec.internal_traffic_policy.as_deref() == Some("Local");
        let slices = by_service
            .get(&(ns, name))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let dns = node
            .dns
            .as_ref()
            .filter(|(dns_ns, dns_name, _)| dns_ns == ns && dns_name == name)
            .map(|(_, _, addr)| *addr);
        for port in spec.ports.iter().flatten() {
            let Some(protocol) = Protocol::parse(port.protocol.as_deref()) else {
                continue;
            };
            let Ok(number) = u16::try_from(port.port) else {
                continue;
            };
            let port_name = port.name.as_deref().unwrap_or("");
            let label = if port_name.is_empty() {
                number.to_string()
            } else {
                port_name.to_owned()
            };
            let endpoints = match dns {
                Some(SocketAddr::V4(addr)) if number == 53 && protocol != Protocol::Sctp => {
                    vec![Endpoint {
                        ip: *addr.ip(),
                        port: addr.port(),
                        local: true,
                    }]
                }
                _ => endpoints_of(slices, port_name, protocol, &node.node_name),
            };
            out.push(ServicePort {
                id: format!("{ns}/{name}/{}/{label}", protocol.nft()),
                protocol,
                port: number,
                cluster_ips: cluster_ips.clone(),
                external_ips: external_ips.clone(),
                node_port: port
                    .node_port
                    .filter(|_| has_node_ports)
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p != 0),
                affinity_timeout,
                external_local,
                internal_local,
                endpoints,
            });
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The endpoints of one Service port in its slices: the ready ones, or else the serving
/// terminating ones.
fn endpoints_of(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: Protocol,
    node_name: &str,
) -> Vec<Endpoint> {
    let mut ready = Vec::new();
    let mut terminating = Vec::new();
    for slice in slices {
        let Some(port) = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name
                && Protocol::parse(p.protocol.as_deref()) == Some(protocol)
        }) else {
            continue;
        };
        let Some(number) = port.port.and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        for endpoint in &slice.endpoints {
            let conditions = endpoint.conditions.as_ref();
            // Unset conditions count as true, as upstream reads them.
            let is_ready = conditions.and_then(|c| c.ready).unwrap_or(true);
            let serving = conditions.and_then(|c| c.serving).unwrap_or(is_ready);
            let is_terminating = conditions.and_then(|c| c.terminating).unwrap_or(false);
            let local = endpoint.node_name.as_deref() == Some(node_name);
            let target = if is_ready {
                &mut ready
            } else if serving && is_terminating {
                &mut terminating
            } else {
                continue;
            };
            for address in &endpoint.addresses {
                if let Ok(ip) = address.parse() {
                    target.push(Endpoint {
                        ip,
                        port: number,
                        local,
                    });
                }
            }
        }
    }
    let mut chosen = if ready.is_empty() { terminating } else { ready };
    chosen.sort();
    chosen.dedup_by(|a, b| a.ip == b.ip && a.port == b.port);
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn service(value: serde_json::Value) -> Service {
        serde_json::from_value(value).unwrap()
    }

    pub(crate) fn slice(value: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(value).unwrap()
    }

    fn web() -> Service {
        service(json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
                               {"name": "dns", "port": 53, "protocol": "UDP"}]}
        }))
    }

    fn web_slice() -> EndpointSlice {
        slice(json!({
            "metadata": {"namespace": "default", "name": "web-abc",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                      {"name": "dns", "port": 5353, "protocol": "UDP"}],
            "endpoints": [
                {"addresses": ["10.42.0.5"], "conditions": {"ready": true}, "nodeName": "n1"},
                {"addresses": ["10.42.1.5"], "conditions": {"ready": true}, "nodeName": "n2"},
                {"addresses": ["10.42.1.6"], "conditions": {"ready": false, "serving": false}, "nodeName": "n2"},
                {"addresses": ["10.42.1.7"], "nodeName": "n2"}
            ]
        }))
    }

    fn node() -> NodeView {
        NodeView {
            node_name: "n1".into(),
            dns: None,
        }
    }

    #[test]
    fn each_port_gets_the_ready_endpoints_of_its_slice_port() {
        let ports = service_ports(&[web()], &[web_slice()], &node());
        assert_eq!(ports.len(), 2);
        let http = &ports[0];
        assert_eq!(http.id, "default/web/tcp/http");
        assert_eq!(http.port, 80);
        assert_eq!(http.cluster_ips, [Ipv4Addr::new(10, 96, 0, 20)]);
        let eps: Vec<(String, u16, bool)> = http
            .endpoints
            .iter()
            .map(|e| (e.ip.to_string(), e.port, e.local))
            .collect();
        assert_eq!(
            eps,
            [
                ("10.42.0.5".into(), 8080, true),
                ("10.42.1.5".into(), 8080, false),
                ("10.42.1.7".into(), 8080, false),
            ]
        );
        let dns = &ports[1];
        assert_eq!(dns.id, "default/web/udp/dns");
        assert_eq!(dns.protocol, Protocol::Udp);
        assert_eq!(dns.endpoints[0].port, 5353);
    }

    #[test]
    fn terminating_serving_endpoints_are_used_only_when_none_is_ready() {
        let mut s = web_slice();
        s.endpoints = serde_json::from_value(json!([
            {"addresses": ["10.42.0.8"], "conditions": {"ready": false, "serving": true, "terminating": true}},
            {"addresses": ["10.42.0.9"], "conditions": {"ready": false, "serving": false, "terminating": true}}
        ]))
        .unwrap();
        let ports = service_ports(&[web()], &[s.clone()], &node());
        assert_eq!(ports[0].endpoints.len(), 1);
        assert_eq!(ports[0].endpoints[0].ip, Ipv4Addr::new(10, 42, 0, 8));
        s.endpoints.push(
            serde_json::from_value(
                json!({"addresses": ["10.42.0.10"], "conditions": {"ready": true}}),
            )
            .unwrap(),
        );
        let ports = service_ports(&[web()], &[s], &node());
        assert_eq!(ports[0].endpoints.len(), 1);
        assert_eq!(ports[0].endpoints[0].ip, Ipv4Addr::new(10, 42, 0, 10));
    }

    #[test]
    fn headless_and_external_name_services_are_skipped() {
        let headless = service(json!({
            "metadata": {"namespace": "default", "name": "h"},
            "spec": {"clusterIP": "None", "ports": [{"port": 80}]}
        }));
        let external = service(json!({
            "metadata": {"namespace": "default", "name": "e"},
            "spec": {"type": "ExternalName", "externalName": "example.com"}
        }));
        assert!(service_ports(&[headless, external], &[web_slice()], &node()).is_empty());
    }

    #[test]
    fn node_ports_external_ips_and_policies() {
        let lb = service(json!({
            "metadata": {"namespace": "ns", "name": "lb"},
            "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.30"],
                     "externalIPs": ["192.0.2.50"], "externalTrafficPolicy": "Local",
                     "internalTrafficPolicy": "Local", "sessionAffinity": "ClientIP",
                     "ports": [{"port": 443, "nodePort": 30443}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2", "ipMode": "VIP"},
                                                    {"ip": "192.0.2.3", "ipMode": "Proxy"},
                                                    {"hostname": "lb.example"}]}}
        }));
        let ports = service_ports(&[lb], &[] as &[EndpointSlice], &node());
        let p = &ports[0];
        assert_eq!(p.id, "ns/lb/tcp/443");
        assert_eq!(p.node_port, Some(30443));
        assert_eq!(
            p.external_ips,
            [Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(192, 0, 2, 50)]
        );
        assert!(p.external_local && p.internal_local);
        assert_eq!(p.affinity_timeout, Some(10_800));
        assert!(p.endpoints.is_empty());
    }

    #[test]
    fn the_dns_service_goes_to_the_node_local_server() {
        let dns = service(json!({
            "metadata": {"namespace": "kube-system", "name": "kube-dns"},
            "spec": {"clusterIP": "10.96.0.10", "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                {"name": "metrics", "port": 9153, "protocol": "TCP"}]}
        }));
        let view = NodeView {
            node_name: "n1".into(),
            dns: Some((
                "kube-system".into(),
                "kube-dns".into(),
                "10.42.0.1:53".parse().unwrap(),
            )),
        };
        let ports = service_ports(&[dns], &[] as &[EndpointSlice], &view);
        let by_id: BTreeMap<&str, &ServicePort> =
            ports.iter().map(|p| (p.id.as_str(), p)).collect();
        let udp = by_id["kube-system/kube-dns/udp/dns"];
        assert_eq!(udp.endpoints[0].ip, Ipv4Addr::new(10, 42, 0, 1));
        assert_eq!(by_id["kube-system/kube-dns/tcp/dns-tcp"].endpoints.len(), 1);
        assert!(
            by_id["kube-system/kube-dns/tcp/metrics"]
                .endpoints
                .is_empty()
        );
    }
}
