//! The pod's DNS settings (`PodSandboxConfig.dns_config`), as upstream's
//! `pkg/kubelet/network/dns` forms them from `dnsPolicy`, `dnsConfig`, the cluster DNS servers
//! and domain, and the host's resolv.conf.
//!
//! Differs from upstream only in order: upstream merges `dnsConfig.options` through a Go map,
//! so their order is random; here options keep the order they first appear in (host or
//! default options, then the pod's). Upstream records its warnings as events; [`pod_dns`]
//! returns them for the caller to record.

use k8s_cri::v1::DnsConfig;
use k8s_openapi::api::core::v1::Pod;

use super::names::{DNS1123_SUBDOMAIN_MAX_LENGTH, format_pod};
use super::{NodeContext, SpecError};

/// Upstream's `MaxDNSNameservers`.
pub const MAX_NAMESERVERS: usize = 3;
/// Upstream's `MaxDNSSearchPaths` (the expanded limits, GA since 1.28).
pub const MAX_SEARCH_PATHS: usize = 32;
/// Upstream's `MaxDNSSearchListChars`.
pub const MAX_SEARCH_LIST_CHARS: usize = 2048;

/// The options a ClusterFirst pod gets.
const DEFAULT_OPTIONS: &[&str] = &["ndots:5"];

/// A parsed resolv.conf: `nameserver` lines accumulate, the last `search` and the last
/// `options` line win.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Parses resolv.conf text as upstream's `parseResolvConf` does (comments with `#`,
    /// search domains without their trailing dot). A `nameserver` line without an address is
    /// an error, worded as upstream's.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let mut conf = ResolvConf::default();
        let mut empty_nameserver = false;
        for line in text.split('\n') {
            let trimmed = line.trim();
            if trimmed.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = trimmed.split_whitespace().collect();
            let Some(first) = fields.first() else {
                continue;
            };
            match *first {
                "nameserver" => match fields.get(1) {
                    Some(ns) => conf.nameservers.push((*ns).to_string()),
                    None => empty_nameserver = true,
                },
                "search" => {
                    conf.searches = fields[1..]
                        .iter()
                        .map(|s| s.strip_suffix('.').unwrap_or(s).to_string())
                        .collect();
                }
                "options" => conf.options = fields[1..].iter().map(|s| s.to_string()).collect(),
                _ => {}
            }
        }
        if empty_nameserver {
            // Upstream aggregates one error per empty line; identical messages fold into one.
            return Err(SpecError::Invalid("nameserver list is empty ".to_string()));
        }
        Ok(conf)
    }
}

/// Something upstream would record as a Warning event: `reason` and `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsWarning {
    pub reason: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DnsType {
    Cluster,
    Host,
    None,
}

fn omit_duplicates(list: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    list.into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// The pod's DNS config as upstream's `GetPodDNS` forms it, with the warnings upstream would
/// record as events (search or nameserver lists cut to the limits, cluster DNS missing).
pub fn pod_dns(pod: &Pod, node: &NodeContext) -> Result<(DnsConfig, Vec<DnsWarning>), SpecError> {
    let mut warnings = Vec::new();
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let dns_type = match policy {
        "None" => DnsType::None,
        "ClusterFirstWithHostNet" => DnsType::Cluster,
        "ClusterFirst" if !host_network => DnsType::Cluster,
        // ClusterFirst on the host network falls back to Default.
        "ClusterFirst" | "Default" => DnsType::Host,
        // Upstream logs "Failed to get DNS type for pod" and uses ClusterFirst.
        _ => DnsType::Cluster,
    };
    let host = node.host_resolv.clone().unwrap_or_default();
    let mut config = DnsConfig {
        servers: host.nameservers,
        searches: host.searches,
        options: host.options,
    };
    let mut fall_back_to_host = false;
    match dns_type {
        DnsType::None => config = DnsConfig::default(),
        DnsType::Cluster if !node.cluster_dns.is_empty() => {
            config.servers = node.cluster_dns.iter().map(|ip| ip.to_string()).collect();
            config.searches = cluster_searches(
                pod.metadata.namespace.as_deref().unwrap_or(""),
                &node.cluster_domain,
                std::mem::take(&mut config.searches),
            );
            config.options = DEFAULT_OPTIONS.iter().map(|s| s.to_string()).collect();
        }
        DnsType::Cluster => {
            let msg = "kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.";
            warnings.push(DnsWarning {
                reason: "MissingClusterDNS",
                message: format!("pod: \"{}\". {msg}", format_pod(pod)),
            });
            fall_back_to_host = true;
        }
        DnsType::Host => fall_back_to_host = true,
    }
    if fall_back_to_host && node.host_resolv.is_none() {
        // kubelet --resolv-conf="": point at the local machine, one loopback per node IP family.
        for ip in &node.node_ips {
            config
                .servers
                .push(if ip.is_ipv6() { "::1" } else { "127.0.0.1" }.to_string());
        }
        if config.servers.is_empty() {
            config.servers.push("127.0.0.1".to_string());
        }
        config.searches = vec![".".to_string()];
    }
    if let Some(extra) = spec.and_then(|s| s.dns_config.as_ref()) {
        let mut servers = std::mem::take(&mut config.servers);
        servers.extend(extra.nameservers.iter().flatten().cloned());
        config.servers = omit_duplicates(servers);
        let mut searches = std::mem::take(&mut config.searches);
        searches.extend(extra.searches.iter().flatten().cloned());
        config.searches = omit_duplicates(searches);
        config.options = merge_options(
            std::mem::take(&mut config.options),
            extra
                .options
                .iter()
                .flatten()
                .map(|o| (o.name.clone().unwrap_or_default(), o.value.clone())),
        );
    }
    fit_limits(&mut config, &mut warnings);
    Ok((config, warnings))
}

/// `NS.svc.DOMAIN svc.DOMAIN DOMAIN` then the host's search list, without duplicates.
fn cluster_searches(namespace: &str, domain: &str, host: Vec<String>) -> Vec<String> {
    if domain.is_empty() {
        return host;
    }
    let mut all = vec![
        format!("{namespace}.svc.{domain}"),
        format!("svc.{domain}"),
        domain.to_string(),
    ];
    all.extend(host);
    omit_duplicates(all)
}

/// Upstream's `mergeDNSOptions`: `name[:value]` entries, the pod's overriding the base's.
fn merge_options(
    base: Vec<String>,
    extra: impl Iterator<Item = (String, Option<String>)>,
) -> Vec<String> {
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut set = |name: String, value: String| match merged.iter_mut().find(|(n, _)| *n == name) {
        Some(entry) => entry.1 = value,
        None => merged.push((name, value)),
    };
    for op in base {
        match op.split_once(':') {
            Some((n, v)) => set(n.to_string(), v.to_string()),
            None => set(op, String::new()),
        }
    }
    for (name, value) in extra {
        set(name, value.unwrap_or_default());
    }
    merged
        .into_iter()
        .map(|(n, v)| if v.is_empty() { n } else { format!("{n}:{v}") })
        .collect()
}

/// Upstream's `formDNSConfigFitsLimits`.
fn fit_limits(config: &mut DnsConfig, warnings: &mut Vec<DnsWarning>) {
    if config.servers.len() > MAX_NAMESERVERS {
        config.servers.truncate(MAX_NAMESERVERS);
        warnings.push(DnsWarning {
            reason: "DNSConfigForming",
            message: format!(
                "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
                config.servers.join(" ")
            ),
        });
    }
    let mut exceeded = false;
    if config.searches.len() > MAX_SEARCH_PATHS {
        config.searches.truncate(MAX_SEARCH_PATHS);
        exceeded = true;
    }
    let before = config.searches.len();
    config
        .searches
        .retain(|s| s.len() <= DNS1123_SUBDOMAIN_MAX_LENGTH);
    exceeded |= config.searches.len() != before;
    let line_len = config.searches.join(" ").len();
    if line_len > MAX_SEARCH_LIST_CHARS {
        let mut cut_len = 0;
        let mut cut_num = 0;
        for s in config.searches.iter().rev() {
            cut_len += s.len() + 1;
            cut_num += 1;
            if line_len - cut_len.min(line_len) <= MAX_SEARCH_LIST_CHARS {
                break;
            }
        }
        let keep = config.searches.len() - cut_num;
        config.searches.truncate(keep);
        exceeded = true;
    }
    if exceeded {
        warnings.push(DnsWarning {
            reason: "DNSConfigForming",
            message: format!(
                "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}",
                config.searches.join(" ")
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        let mut spec = spec;
        spec["containers"] = serde_json::json!([{"name": "c"}]);
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": spec
        }))
        .unwrap()
    }

    fn node() -> NodeContext {
        NodeContext {
            cluster_dns: vec!["10.96.0.10".parse().unwrap()],
            host_resolv: Some(
                ResolvConf::parse(
                    "# host\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch example.com. corp.example.com\noptions timeout:2 rotate\n",
                )
                .unwrap(),
            ),
            node_ips: vec!["192.0.2.2".parse().unwrap()],
            ..NodeContext::default()
        }
    }

    #[test]
    fn resolv_conf_parsing() {
        let c = ResolvConf::parse(
            "nameserver 1.1.1.1\n  # comment\nsearch a.\nsearch b c.\noptions ndots:1\noptions rotate\nnameserver 8.8.8.8 extra\ndomain x\n",
        )
        .unwrap();
        assert_eq!(c.nameservers, ["1.1.1.1", "8.8.8.8"]);
        assert_eq!(c.searches, ["b", "c"]);
        assert_eq!(c.options, ["rotate"]);
        let err = ResolvConf::parse("nameserver\n").unwrap_err();
        assert_eq!(err.to_string(), "nameserver list is empty ");
    }

    #[test]
    fn cluster_first_uses_cluster_dns_and_searches() {
        let (c, w) = pod_dns(&pod(serde_json::json!({})), &node()).unwrap();
        assert_eq!(c.servers, ["10.96.0.10"]);
        assert_eq!(
            c.searches,
            [
                "ns.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "example.com",
                "corp.example.com"
            ]
        );
        assert_eq!(c.options, ["ndots:5"]);
        assert!(w.is_empty());
    }

    #[test]
    fn cluster_first_on_host_network_falls_back_to_host() {
        let (c, _) = pod_dns(
            &pod(serde_json::json!({"hostNetwork": true, "dnsPolicy": "ClusterFirst"})),
            &node(),
        )
        .unwrap();
        assert_eq!(c.servers, ["192.0.2.53", "192.0.2.54"]);
        assert_eq!(c.searches, ["example.com", "corp.example.com"]);
        assert_eq!(c.options, ["timeout:2", "rotate"]);
        let (c, _) = pod_dns(
            &pod(serde_json::json!({"hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"})),
            &node(),
        )
        .unwrap();
        assert_eq!(c.servers, ["10.96.0.10"]);
    }

    #[test]
    fn default_policy_uses_host_and_none_uses_only_dns_config() {
        let (c, _) = pod_dns(&pod(serde_json::json!({"dnsPolicy": "Default"})), &node()).unwrap();
        assert_eq!(c.servers, ["192.0.2.53", "192.0.2.54"]);
        let (c, _) = pod_dns(
            &pod(serde_json::json!({
                "dnsPolicy": "None",
                "dnsConfig": {
                    "nameservers": ["1.2.3.4", "1.2.3.4"],
                    "searches": ["a.example"],
                    "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]
                }
            })),
            &node(),
        )
        .unwrap();
        assert_eq!(c.servers, ["1.2.3.4"]);
        assert_eq!(c.searches, ["a.example"]);
        assert_eq!(c.options, ["ndots:2", "edns0"]);
    }

    #[test]
    fn dns_config_merges_into_cluster_first() {
        let (c, _) = pod_dns(
            &pod(serde_json::json!({
                "dnsConfig": {
                    "nameservers": ["10.96.0.10", "1.1.1.1"],
                    "searches": ["svc.cluster.local", "extra.example"],
                    "options": [{"name": "ndots", "value": "1"}, {"name": "single-request"}]
                }
            })),
            &node(),
        )
        .unwrap();
        assert_eq!(c.servers, ["10.96.0.10", "1.1.1.1"]);
        assert_eq!(c.searches.last().unwrap(), "extra.example");
        assert_eq!(c.searches.len(), 6);
        assert_eq!(c.options, ["ndots:1", "single-request"]);
    }

    #[test]
    fn missing_cluster_dns_falls_back_with_a_warning() {
        let mut n = node();
        n.cluster_dns.clear();
        let (c, w) = pod_dns(&pod(serde_json::json!({})), &n).unwrap();
        assert_eq!(c.servers, ["192.0.2.53", "192.0.2.54"]);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].reason, "MissingClusterDNS");
        assert_eq!(
            w[0].message,
            "pod: \"p_ns(u)\". kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy."
        );
    }

    #[test]
    fn no_resolv_conf_means_loopback() {
        let mut n = node();
        n.host_resolv = None;
        n.node_ips = vec!["192.0.2.2".parse().unwrap(), "2001:db8::2".parse().unwrap()];
        let (c, _) = pod_dns(&pod(serde_json::json!({"dnsPolicy": "Default"})), &n).unwrap();
        assert_eq!(c.servers, ["127.0.0.1", "::1"]);
        assert_eq!(c.searches, ["."]);
        n.node_ips.clear();
        let (c, _) = pod_dns(&pod(serde_json::json!({"dnsPolicy": "Default"})), &n).unwrap();
        assert_eq!(c.servers, ["127.0.0.1"]);
    }

    #[test]
    fn limits_cut_nameservers_and_searches() {
        let searches: Vec<String> = (0..40).map(|i| format!("s{i}.example")).collect();
        let (c, w) = pod_dns(
            &pod(serde_json::json!({
                "dnsPolicy": "None",
                "dnsConfig": {
                    "nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"],
                    "searches": searches
                }
            })),
            &node(),
        )
        .unwrap();
        assert_eq!(c.servers, ["1.1.1.1", "2.2.2.2", "3.3.3.3"]);
        assert_eq!(c.searches.len(), 32);
        assert_eq!(w.len(), 2);
        assert_eq!(
            w[0].message,
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 1.1.1.1 2.2.2.2 3.3.3.3"
        );
        assert!(w[1].message.starts_with(
            "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: s0.example s1.example"
        ));
        // Too long a line: cut from the end until it fits 2048 characters.
        let long: Vec<String> = (0..10).map(|i| format!("{i}{}", "x".repeat(249))).collect();
        let (c, _) = pod_dns(
            &pod(serde_json::json!({"dnsPolicy": "None", "dnsConfig": {"searches": long}})),
            &node(),
        )
        .unwrap();
        assert_eq!(c.searches.len(), 8);
        assert!(c.searches.join(" ").len() <= MAX_SEARCH_LIST_CHARS);
        // A search path longer than 253 characters is dropped.
        let (c, _) = pod_dns(
            &pod(serde_json::json!({"dnsPolicy": "None", "dnsConfig": {"searches": ["a".repeat(254), "ok"]}})),
            &node(),
        )
        .unwrap();
        assert_eq!(c.searches, ["ok"]);
    }
}
