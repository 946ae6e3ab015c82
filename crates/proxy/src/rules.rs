//! The proxy's nftables table, as data, and the `nft -f` scripts that bring the kernel from one
//! version of it to the next in one transaction.
//!
//! The table (`table ip <name>`, the only one the proxy touches) has a fixed part — base
//! chains on the nat and filter hooks, the masquerade chains, two verdict maps and two sets —
//! and a part that follows the Services ([`Ruleset`]):
//! - `service-ips` maps `address . protocol . port` (cluster IPs, external IPs, load balancer
//!   IPs) to a chain per Service port: `svc-<id>` for traffic from inside the cluster,
//!   `ext-<id>` for traffic from outside (masqueraded, or kept to local endpoints with
//!   `externalTrafficPolicy: Local`); `service-nodeports` maps `protocol . port` of NodePorts,
//!   matched on any local address;
//! - `svc-<id>` picks an endpoint chain at random (`numgen random`), or the one a client is
//!   stuck to (`sessionAffinity: ClientIP`, a timed set per endpoint); `ep-<id>/<ip>/<port>`
//!   marks hairpin traffic for masquerade and DNATs;
//! - Service ports without endpoints are in `no-endpoint-services` / `no-endpoint-nodeports`,
//!   which the filter chains reject at once (ICMP port unreachable: connections are refused,
//!   they do not hang).
//!
//! Chain and set names are made of the Service port id (namespace, name, protocol, port name:
//! DNS labels) and addresses, which are all valid nft identifiers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::model::{Endpoint, ServicePort};

/// The packet mark meaning "masquerade this connection" (kube-proxy's).
const MASQ_MARK: &str = "0x4000";

/// The fixed settings of a node's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    /// The table's name (`table ip <name>`).
    pub name: String,
    /// The cluster's pod network (`10.42.0.0/16`): traffic to a Service from outside it is
    /// masqueraded, traffic from it to outside it too (pods reach the world through the node).
    pub cluster_cidr: String,
}

/// The part of the table that follows the Services.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Chain name → its rules.
    pub chains: BTreeMap<String, Vec<String>>,
    /// Affinity sets: name → timeout in seconds.
    pub sets: BTreeMap<String, u32>,
    /// `service-ips` elements: key → verdict.
    pub service_ips: BTreeMap<String, String>,
    /// `service-nodeports` elements: key → verdict.
    pub node_ports: BTreeMap<String, String>,
    /// `no-endpoint-services` elements.
    pub no_endpoints: BTreeSet<String>,
    /// `no-endpoint-nodeports` elements.
    pub no_endpoint_node_ports: BTreeSet<String>,
}

impl Ruleset {
    /// The rules of the dynamic part, for reporting the table's size.
    pub fn rule_count(&self) -> usize {
        self.chains.values().map(Vec::len).sum()
    }

    /// The rules for `ports` (see the module documentation).
    pub fn build(ports: &[ServicePort], config: &TableConfig) -> Self {
        let mut rs = Ruleset::default();
        for port in ports {
            rs.add_port(port, config);
        }
        rs
    }

    fn add_port(&mut self, port: &ServicePort, config: &TableConfig) {
        let proto = port.protocol.nft();
        let svc_chain = format!("svc-{}", port.id);
        let ext_chain = format!("ext-{}", port.id);
        let cluster_key = |ip: &std::net::Ipv4Addr| format!("{ip} . {proto} . {}", port.port);
        let node_port_key = port.node_port.map(|p| format!("{proto} . {p}"));

        // Traffic from inside the cluster: every endpoint, or only this node's.
        let internal: Vec<Endpoint> = port
            .endpoints
            .iter()
            .filter(|e| !port.internal_local || e.local)
            .copied()
            .collect();
        if internal.is_empty() {
            for ip in &port.cluster_ips {
                self.no_endpoints.insert(cluster_key(ip));
            }
        } else {
            let mut rules = vec![format!(
                "ip saddr != {} jump mark-for-masquerade",
                config.cluster_cidr
            )];
            rules.extend(self.pick_endpoint(port, &internal));
            self.chains.insert(svc_chain.clone(), rules);
            for ip in &port.cluster_ips {
                self.service_ips
                    .insert(cluster_key(ip), format!("goto {svc_chain}"));
            }
        }

        // Traffic from outside: NodePorts, external IPs, load balancer IPs.
        let has_external = node_port_key.is_some() || !port.external_ips.is_empty();
        if !has_external {
            return;
        }
        if port.endpoints.is_empty() {
            for ip in &port.external_ips {
                self.no_endpoints.insert(cluster_key(ip));
            }
            if let Some(key) = node_port_key {
                self.no_endpoint_node_ports.insert(key);
            }
            return;
        }
        let mut rules = Vec::new();
        if port.external_local {
            // Pods and the node itself get the cluster-wide behaviour, as upstream's;
            // others only this node's endpoints, with their source address kept.
            let all: Vec<Endpoint> = port.endpoints.clone();
            let svc_all = if internal.len() == all.len() {
                svc_chain.clone()
            } else {
                let name = format!("cluster-{}", port.id);
                let mut r = Vec::new();
                r.extend(self.pick_endpoint(port, &all));
                self.chains.insert(name.clone(), r);
                name
            };
            rules.push(format!("ip saddr {} goto {svc_all}", config.cluster_cidr));
            rules.push("fib saddr type local jump mark-for-masquerade".to_owned());
            rules.push(format!("fib saddr type local goto {svc_all}"));
            let local: Vec<Endpoint> = port.endpoints.iter().filter(|e| e.local).copied().collect();
            if local.is_empty() {
                rules.push("drop".to_owned());
            } else {
                rules.extend(self.pick_endpoint(port, &local));
            }
        } else {
            rules.push("jump mark-for-masquerade".to_owned());
            if internal.len() == port.endpoints.len() {
                rules.push(format!("goto {svc_chain}"));
            } else {
                rules.extend(self.pick_endpoint(port, &port.endpoints));
            }
        }
        self.chains.insert(ext_chain.clone(), rules);
        for ip in &port.external_ips {
            self.service_ips
                .insert(cluster_key(ip), format!("goto {ext_chain}"));
        }
        if let Some(key) = node_port_key {
            self.node_ports.insert(key, format!("goto {ext_chain}"));
        }
    }

    /// Rules that send a connection to one of `endpoints` (non-empty), adding the endpoint
    /// chains (and affinity sets) they need.
    fn pick_endpoint(&mut self, port: &ServicePort, endpoints: &[Endpoint]) -> Vec<String> {
        let mut rules = Vec::new();
        let chains: Vec<String> = endpoints
            .iter()
            .map(|e| self.endpoint_chain(port, e))
            .collect();
        if port.affinity_timeout.is_some() {
            for chain in &chains {
                rules.push(format!("ip saddr @{} goto {chain}", affinity_set(chain)));
            }
        }
        if chains.len() == 1 {
            rules.push(format!("goto {}", chains[0]));
        } else {
            let arms: Vec<String> = chains
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{i} : goto {c}"))
                .collect();
            rules.push(format!(
                "numgen random mod {} vmap {{ {} }}",
                chains.len(),
                arms.join(", ")
            ));
        }
        rules
    }

    fn endpoint_chain(&mut self, port: &ServicePort, endpoint: &Endpoint) -> String {
        let name = format!("ep-{}/{}/{}", port.id, endpoint.ip, endpoint.port);
        if self.chains.contains_key(&name) {
            return name;
        }
        let mut rules = vec![format!("ip saddr {} jump mark-for-masquerade", endpoint.ip)];
        if let Some(timeout) = port.affinity_timeout {
            let set = affinity_set(&name);
            rules.push(format!("update @{set} {{ ip saddr }}"));
            self.sets.insert(set, timeout);
        }
        rules.push(format!(
            "meta l4proto {} dnat to {}:{}",
            port.protocol.nft(),
            endpoint.ip,
            endpoint.port
        ));
        self.chains.insert(name.clone(), rules);
        name
    }
}

fn affinity_set(endpoint_chain: &str) -> String {
    format!("aff-{}", endpoint_chain.trim_start_matches("ep-"))
}

/// The script that replaces the whole table with `rules` (the first sync, and after a
/// failure): the table is deleted and made again in the same transaction.
pub fn full(config: &TableConfig, rules: &Ruleset) -> String {
    let t = &config.name;
    let mut s = String::new();
    let _ = writeln!(s, "add table ip {t}");
    let _ = writeln!(s, "delete table ip {t}");
    let _ = writeln!(s, "add table ip {t}");
    let base: &[(&str, &str)] = &[
        (
            "nat-prerouting",
            "type nat hook prerouting priority -100; policy accept;",
        ),
        (
            "nat-output",
            "type nat hook output priority -100; policy accept;",
        ),
        (
            "nat-postrouting",
            "type nat hook postrouting priority 100; policy accept;",
        ),
        (
            "filter-forward",
            "type filter hook forward priority -110; policy accept;",
        ),
        (
            "filter-input",
            "type filter hook input priority -110; policy accept;",
        ),
        (
            "filter-output",
            "type filter hook output priority -110; policy accept;",
        ),
    ];
    for (chain, spec) in base {
        let _ = writeln!(s, "add chain ip {t} {chain} {{ {spec} }}");
    }
    for chain in ["services", "mark-for-masquerade", "masquerading"] {
        let _ = writeln!(s, "add chain ip {t} {chain}");
    }
    let _ = writeln!(
        s,
        "add map ip {t} service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict; }}"
    );
    let _ = writeln!(
        s,
        "add map ip {t} service-nodeports {{ type inet_proto . inet_service : verdict; }}"
    );
    let _ = writeln!(
        s,
        "add set ip {t} no-endpoint-services {{ type ipv4_addr . inet_proto . inet_service; }}"
    );
    let _ = writeln!(
        s,
        "add set ip {t} no-endpoint-nodeports {{ type inet_proto . inet_service; }}"
    );
    let cluster = &config.cluster_cidr;
    let fixed: &[(&str, String)] = &[
        ("nat-prerouting", "jump services".into()),
        ("nat-output", "jump services".into()),
        ("nat-postrouting", "jump masquerading".into()),
        // Pods reach the world through the node.
        (
            "nat-postrouting",
            format!("ip saddr {cluster} ip daddr != {cluster} ip daddr != 224.0.0.0/4 masquerade"),
        ),
        (
            "services",
            "ip daddr . meta l4proto . th dport vmap @service-ips".into(),
        ),
        (
            "services",
            "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports"
                .into(),
        ),
        (
            "mark-for-masquerade",
            format!("meta mark set meta mark | {MASQ_MARK}"),
        ),
        (
            "masquerading",
            format!("meta mark & {MASQ_MARK} == 0 return"),
        ),
        (
            "masquerading",
            format!("meta mark set meta mark ^ {MASQ_MARK}"),
        ),
        ("masquerading", "masquerade fully-random".into()),
        (
            "filter-forward",
            "ct state new ip daddr . meta l4proto . th dport @no-endpoint-services reject".into(),
        ),
        (
            "filter-output",
            "ct state new ip daddr . meta l4proto . th dport @no-endpoint-services reject".into(),
        ),
        (
            "filter-input",
            "ct state new ip daddr . meta l4proto . th dport @no-endpoint-services reject".into(),
        ),
        (
            "filter-input",
            "ct state new fib daddr type local meta l4proto . th dport @no-endpoint-nodeports reject"
                .into(),
        ),
    ];
    for (chain, rule) in fixed {
        let _ = writeln!(s, "add rule ip {t} {chain} {rule}");
    }
    s.push_str(&update(config, &Ruleset::default(), rules));
    s
}

/// The script that changes the table from `old` to `new`, touching only what differs: new
/// chains and sets are added first, changed chains flushed and refilled, map and set elements
/// deleted and added, and chains and sets no longer referenced deleted last. Empty when
/// nothing changed.
pub fn update(config: &TableConfig, old: &Ruleset, new: &Ruleset) -> String {
    let t = &config.name;
    let mut s = String::new();
    for (set, timeout) in &new.sets {
        if old.sets.get(set) != Some(timeout) {
            if old.sets.contains_key(set) {
                // A new timeout: sets cannot be altered, so start the set afresh.
                let _ = writeln!(s, "flush set ip {t} {set}");
            } else {
                let _ = writeln!(
                    s,
                    "add set ip {t} {set} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}"
                );
            }
        }
    }
    for chain in new.chains.keys() {
        if !old.chains.contains_key(chain) {
            let _ = writeln!(s, "add chain ip {t} {chain}");
        }
    }
    for (chain, rules) in &new.chains {
        match old.chains.get(chain) {
            Some(old_rules) if old_rules == rules => continue,
            Some(_) => {
                let _ = writeln!(s, "flush chain ip {t} {chain}");
            }
            None => {}
        }
        for rule in rules {
            let _ = writeln!(s, "add rule ip {t} {chain} {rule}");
        }
    }
    map_update(&mut s, t, "service-ips", &old.service_ips, &new.service_ips);
    map_update(
        &mut s,
        t,
        "service-nodeports",
        &old.node_ports,
        &new.node_ports,
    );
    set_update(
        &mut s,
        t,
        "no-endpoint-services",
        &old.no_endpoints,
        &new.no_endpoints,
    );
    set_update(
        &mut s,
        t,
        "no-endpoint-nodeports",
        &old.no_endpoint_node_ports,
        &new.no_endpoint_node_ports,
    );
    let gone: Vec<&String> = old
        .chains
        .keys()
        .filter(|c| !new.chains.contains_key(*c))
        .collect();
    for chain in &gone {
        let _ = writeln!(s, "flush chain ip {t} {chain}");
    }
    for chain in &gone {
        let _ = writeln!(s, "delete chain ip {t} {chain}");
    }
    for set in old.sets.keys() {
        if !new.sets.contains_key(set) {
            let _ = writeln!(s, "delete set ip {t} {set}");
        }
    }
    s
}

fn map_update(
    s: &mut String,
    table: &str,
    map: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) {
    let removed: Vec<&str> = old
        .iter()
        .filter(|(k, v)| new.get(*k) != Some(*v))
        .map(|(k, _)| k.as_str())
        .collect();
    if !removed.is_empty() {
        let _ = writeln!(
            s,
            "delete element ip {table} {map} {{ {} }}",
            removed.join(", ")
        );
    }
    let added: Vec<String> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k} : {v}"))
        .collect();
    if !added.is_empty() {
        let _ = writeln!(s, "add element ip {table} {map} {{ {} }}", added.join(", "));
    }
}

fn set_update(
    s: &mut String,
    table: &str,
    set: &str,
    old: &BTreeSet<String>,
    new: &BTreeSet<String>,
) {
    let removed: Vec<&str> = old.difference(new).map(String::as_str).collect();
    if !removed.is_empty() {
        let _ = writeln!(
            s,
            "delete element ip {table} {set} {{ {} }}",
            removed.join(", ")
        );
    }
    let added: Vec<&str> = new.difference(old).map(String::as_str).collect();
    if !added.is_empty() {
        let _ = writeln!(s, "add element ip {table} {set} {{ {} }}", added.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;
    use std::net::Ipv4Addr;

    fn config() -> TableConfig {
        TableConfig {
            name: "barge".into(),
            cluster_cidr: "10.42.0.0/16".into(),
        }
    }

    fn ep(last: u8, local: bool) -> Endpoint {
        Endpoint {
            ip: Ipv4Addr::new(10, 42, 0, last),
            port: 8080,
            local,
        }
    }

    fn port(endpoints: Vec<Endpoint>) -> ServicePort {
        ServicePort {
            id: "default/web/tcp/http".into(),
            protocol: Protocol::Tcp,
            port: 80,
            cluster_ips: vec![Ipv4Addr::new(10, 96, 0, 20)],
            external_ips: vec![],
            node_port: None,
            affinity_timeout: None,
            external_local: false,
            internal_local: false,
            endpoints,
        }
    }

    #[test]
    fn a_cluster_ip_service_picks_an_endpoint_at_random() {
        let rs = Ruleset::build(&[port(vec![ep(5, true), ep(6, false)])], &config());
        assert_eq!(
            rs.service_ips["10.96.0.20 . tcp . 80"],
            "goto svc-default/web/tcp/http"
        );
        assert_eq!(
            rs.chains["svc-default/web/tcp/http"],
            [
                "ip saddr != 10.42.0.0/16 jump mark-for-masquerade",
                "numgen random mod 2 vmap { 0 : goto ep-default/web/tcp/http/10.42.0.5/8080, 1 : goto ep-default/web/tcp/http/10.42.0.6/8080 }",
            ]
        );
        assert_eq!(
            rs.chains["ep-default/web/tcp/http/10.42.0.5/8080"],
            [
                "ip saddr 10.42.0.5 jump mark-for-masquerade",
                "meta l4proto tcp dnat to 10.42.0.5:8080",
            ]
        );
        assert!(rs.no_endpoints.is_empty());
    }

    #[test]
    fn no_endpoints_means_rejected_not_routed() {
        let mut p = port(vec![]);
        p.node_port = Some(30080);
        p.external_ips = vec![Ipv4Addr::new(192, 0, 2, 2)];
        let rs = Ruleset::build(&[p], &config());
        assert!(rs.chains.is_empty() && rs.service_ips.is_empty());
        assert!(rs.no_endpoints.contains("10.96.0.20 . tcp . 80"));
        assert!(rs.no_endpoints.contains("192.0.2.2 . tcp . 80"));
        assert!(rs.no_endpoint_node_ports.contains("tcp . 30080"));
    }

    #[test]
    fn node_ports_and_external_ips_masquerade_then_use_the_service_chain() {
        let mut p = port(vec![ep(5, true)]);
        p.node_port = Some(30080);
        p.external_ips = vec![Ipv4Addr::new(192, 0, 2, 2)];
        let rs = Ruleset::build(&[p], &config());
        assert_eq!(
            rs.node_ports["tcp . 30080"],
            "goto ext-default/web/tcp/http"
        );
        assert_eq!(
            rs.service_ips["192.0.2.2 . tcp . 80"],
            "goto ext-default/web/tcp/http"
        );
        assert_eq!(
            rs.chains["ext-default/web/tcp/http"],
            ["jump mark-for-masquerade", "goto svc-default/web/tcp/http"]
        );
    }

    #[test]
    fn external_traffic_policy_local_keeps_to_local_endpoints() {
        let mut p = port(vec![ep(5, false), ep(6, true)]);
        p.node_port = Some(30080);
        p.external_local = true;
        let rs = Ruleset::build(&[p.clone()], &config());
        let ext = &rs.chains["ext-default/web/tcp/http"];
        assert_eq!(
            ext[0],
            "ip saddr 10.42.0.0/16 goto svc-default/web/tcp/http"
        );
        assert_eq!(ext[3], "goto ep-default/web/tcp/http/10.42.0.6/8080");
        p.endpoints = vec![ep(5, false)];
        let rs = Ruleset::build(&[p], &config());
        assert_eq!(
            rs.chains["ext-default/web/tcp/http"].last().unwrap(),
            "drop"
        );
    }

    #[test]
    fn internal_traffic_policy_local_without_local_endpoints_rejects() {
        let mut p = port(vec![ep(5, false)]);
        p.internal_local = true;
        let rs = Ruleset::build(&[p], &config());
        assert!(rs.no_endpoints.contains("10.96.0.20 . tcp . 80"));
        assert!(!rs.chains.contains_key("svc-default/web/tcp/http"));
    }

    #[test]
    fn session_affinity_remembers_clients_per_endpoint() {
        let mut p = port(vec![ep(5, true), ep(6, true)]);
        p.affinity_timeout = Some(60);
        let rs = Ruleset::build(&[p], &config());
        let svc = &rs.chains["svc-default/web/tcp/http"];
        assert_eq!(
            svc[1],
            "ip saddr @aff-default/web/tcp/http/10.42.0.5/8080 goto ep-default/web/tcp/http/10.42.0.5/8080"
        );
        assert_eq!(rs.sets["aff-default/web/tcp/http/10.42.0.5/8080"], 60);
        assert_eq!(
            rs.chains["ep-default/web/tcp/http/10.42.0.6/8080"][1],
            "update @aff-default/web/tcp/http/10.42.0.6/8080 { ip saddr }"
        );
    }

    #[test]
    fn updates_touch_only_what_changed_and_delete_in_a_safe_order() {
        let c = config();
        let before = Ruleset::build(&[port(vec![ep(5, true), ep(6, true)])], &c);
        assert_eq!(update(&c, &before, &before), "");
        let after = Ruleset::build(&[port(vec![ep(5, true)])], &c);
        let script = update(&c, &before, &after);
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(
            lines,
            [
                "flush chain ip barge svc-default/web/tcp/http",
                "add rule ip barge svc-default/web/tcp/http ip saddr != 10.42.0.0/16 jump mark-for-masquerade",
                "add rule ip barge svc-default/web/tcp/http goto ep-default/web/tcp/http/10.42.0.5/8080",
                "flush chain ip barge ep-default/web/tcp/http/10.42.0.6/8080",
                "delete chain ip barge ep-default/web/tcp/http/10.42.0.6/8080",
            ]
        );
        // The last endpoint goes: the service's chains go, its address is rejected.
        let empty = Ruleset::build(&[port(vec![])], &c);
        let script = update(&c, &after, &empty);
        assert!(script.contains("delete element ip barge service-ips { 10.96.0.20 . tcp . 80 }"));
        assert!(
            script.contains("add element ip barge no-endpoint-services { 10.96.0.20 . tcp . 80 }")
        );
        let delete_elem = script.find("delete element").unwrap();
        let delete_chain = script.find("delete chain").unwrap();
        assert!(delete_elem < delete_chain);
    }

    #[test]
    fn the_full_script_rebuilds_the_table_atomically() {
        let c = config();
        let rs = Ruleset::build(&[port(vec![ep(5, true)])], &c);
        let script = full(&c, &rs);
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(
            &lines[..3],
            [
                "add table ip barge",
                "delete table ip barge",
                "add table ip barge"
            ]
        );
        // Chains exist before anything refers to them.
        let add_chain = script.find("add chain ip barge svc-").unwrap();
        let element = script.find("add element ip barge service-ips").unwrap();
        assert!(add_chain < element);
        assert!(script.contains("ip saddr 10.42.0.0/16 ip daddr != 10.42.0.0/16"));
    }
}
