//! The name index: every name the cluster's Services and EndpointSlices define, in hash maps
//! keyed by the lowercase name, so answering a query is a lookup and never a scan.
//!
//! Each Service contributes a set of names (its own, its endpoints' hostnames, its SRV names)
//! and reverse entries for its IPs. [`Index::set`] replaces one Service's contribution as a
//! whole, which is what the watcher calls whenever the Service or one of its EndpointSlices
//! changes; building a contribution ([`contribution`]) is pure.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use barge_client::Key;
use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label that ties an EndpointSlice to its Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The cluster domain we are authoritative for, in the forms the answers need.
#[derive(Clone, Debug)]
pub(crate) struct Zone {
    /// Lowercase, without the trailing dot: `cluster.local`.
    pub domain: String,
    /// `.cluster.local`, to test suffixes without allocating.
    dot_domain: String,
    /// `cluster.local.`: the owner of the SOA and NS records.
    pub origin: Name,
    /// `ns.dns.cluster.local.`, as CoreDNS names itself in its SOA.
    pub mname: Name,
    /// `hostmaster.cluster.local.`.
    pub rname: Name,
}

impl Zone {
    /// The zone for `domain` (`cluster.local`, with or without a trailing dot, any case).
    pub fn new(domain: &str) -> Result<Self, String> {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if domain.is_empty() {
            return Err("must not be empty".into());
        }
        if !domain.split('.').all(valid_label) {
            return Err("must be dot-separated DNS labels (a-z, 0-9, '-')".into());
        }
        let name = |prefix: &str| fqdn(&format!("{prefix}{domain}")).ok_or("too long");
        Ok(Self {
            dot_domain: format!(".{domain}"),
            origin: name("")?,
            mname: name("ns.dns.")?,
            rname: name("hostmaster.")?,
            domain,
        })
    }

    /// The part of `name` (lowercase, no trailing dot) before the zone: `Some("")` for the
    /// apex, `None` outside the zone.
    pub fn relative<'a>(&self, name: &'a str) -> Option<&'a str> {
        if name == self.domain {
            Some("")
        } else {
            name.strip_suffix(self.dot_domain.as_str())
        }
    }
}

/// The records of one name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Records {
    pub a: Vec<Ipv4Addr>,
    pub aaaa: Vec<Ipv6Addr>,
    pub cname: Option<Name>,
    pub srv: Vec<Srv>,
}

impl Records {
    fn push_ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(ip) => self.a.push(ip),
            IpAddr::V6(ip) => self.aaaa.push(ip),
        }
    }

    fn normalize(&mut self) {
        self.a.sort_unstable();
        self.a.dedup();
        self.aaaa.sort_unstable();
        self.aaaa.dedup();
        self.srv
            .sort_by(|x, y| (x.port, &x.key).cmp(&(y.port, &y.key)));
        self.srv.dedup();
    }
}

/// One SRV answer: priority 0, the weight is shared out among the answers when answering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Srv {
    pub port: u16,
    pub target: Name,
    /// The target's index key, to add its addresses to the additional section.
    pub key: String,
}

/// What one Service defines: names with their records, and reverse (PTR) entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Contribution {
    pub names: HashMap<String, Records>,
    pub ptrs: Vec<(IpAddr, Name)>,
}

/// The outcome of looking a name up in the zone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'a> {
    /// Outside the cluster domain.
    OutOfZone,
    /// The cluster domain itself (SOA, NS).
    Apex,
    /// A name that exists with these records (possibly none of the asked type).
    Records(&'a Records),
    /// A name that exists but has no records: `svc.<domain>`, `<ns>.svc.<domain>`, ...
    Empty,
    /// A pod name, `a-b-c-d.<ns>.pod.<domain>`, and the address it spells.
    Pod(IpAddr),
    /// No such name.
    NxDomain,
}

/// Everything the cluster's names resolve to.
#[derive(Debug)]
pub(crate) struct Index {
    zone: Zone,
    /// Name (lowercase, no trailing dot) → the Service that defined it and its records.
    names: HashMap<String, (Key, Records)>,
    /// What each Service contributed, to take it out again.
    owned: HashMap<Key, Owned>,
    /// IP → the names pointing at it (several Services may select the same pod).
    reverse: HashMap<IpAddr, Vec<(Key, Name)>>,
    /// Namespace → how many Services it has, so `<ns>.svc.<domain>` exists while it has one.
    namespaces: HashMap<String, usize>,
    serial: u32,
}

#[derive(Debug, Default)]
struct Owned {
    names: Vec<String>,
    ptrs: Vec<IpAddr>,
}

impl Index {
    pub fn new(zone: Zone) -> Self {
        Self {
            zone,
            names: HashMap::new(),
            owned: HashMap::new(),
            reverse: HashMap::new(),
            namespaces: HashMap::new(),
            serial: now(),
        }
    }

    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// The SOA serial: when the index last changed, in seconds since the epoch (as CoreDNS).
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// How many names the Services define.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Replaces what the Service `key` defines (`None`: it is gone).
    pub fn set(&mut self, key: &Key, contribution: Option<Contribution>) {
        self.serial = now().max(self.serial);
        if let Some(old) = self.owned.remove(key) {
            for name in old.names {
                if let Entry::Occupied(e) = self.names.entry(name)
                    && e.get().0 == *key
                {
                    e.remove();
                }
            }
            for ip in old.ptrs {
                if let Entry::Occupied(mut e) = self.reverse.entry(ip) {
                    e.get_mut().retain(|(k, _)| k != key);
                    if e.get().is_empty() {
                        e.remove();
                    }
                }
            }
            if let Entry::Occupied(mut e) = self.namespaces.entry(key.namespace.clone()) {
                *e.get_mut() -= 1;
                if *e.get() == 0 {
                    e.remove();
                }
            }
        }
        let Some(contribution) = contribution else {
            return;
        };
        let mut owned = Owned::default();
        for (name, records) in contribution.names {
            match self.names.entry(name.clone()) {
                // Names are unique per Service by construction; if two ever collide the first
                // keeps it, and we do not record the name as ours so removal leaves it alone.
                Entry::Occupied(e) => {
                    tracing::debug!(%name, first = %e.get().0, second = %key, "DNS name defined twice");
                    continue;
                }
                Entry::Vacant(e) => {
                    e.insert((key.clone(), records));
                }
            }
            owned.names.push(name);
        }
        for (ip, name) in contribution.ptrs {
            let names = self.reverse.entry(ip).or_default();
            if !names.iter().any(|(k, n)| k == key && *n == name) {
                names.push((key.clone(), name));
            }
            owned.ptrs.push(ip);
        }
        owned.ptrs.sort_unstable();
        owned.ptrs.dedup();
        *self.namespaces.entry(key.namespace.clone()).or_default() += 1;
        self.owned.insert(key.clone(), owned);
    }

    /// Looks `name` (lowercase, no trailing dot) up.
    pub fn lookup(&self, name: &str) -> Lookup<'_> {
        let Some(relative) = self.zone.relative(name) else {
            return Lookup::OutOfZone;
        };
        if relative.is_empty() {
            return Lookup::Apex;
        }
        if let Some((_, records)) = self.names.get(name) {
            return Lookup::Records(records);
        }
        let mut labels = relative.rsplit('.');
        match (labels.next(), labels.next(), labels.next(), labels.next()) {
            (Some("svc" | "pod" | "dns"), None, _, _) => Lookup::Empty,
            (Some("dns"), Some("ns"), None, _) => Lookup::Empty,
            (Some("svc"), Some(ns), None, _) if self.namespaces.contains_key(ns) => Lookup::Empty,
            (Some("pod"), Some(_), None, _) => Lookup::Empty,
            (Some("pod"), Some(_), Some(ip), None) => {
                pod_ip(ip).map_or(Lookup::NxDomain, Lookup::Pod)
            }
            _ => Lookup::NxDomain,
        }
    }

    /// The names an IP belongs to (PTR), empty for IPs the cluster does not know.
    pub fn reverse(&self, ip: &IpAddr) -> impl Iterator<Item = &Name> {
        self.reverse.get(ip).into_iter().flatten().map(|(_, n)| n)
    }
}

/// The records of the Service `service` and its EndpointSlices `slices` (those labelled with
/// its name, in its namespace); `None` if the Service has no usable name.
pub(crate) fn contribution(
    zone: &Zone,
    service: &Service,
    slices: &[Arc<EndpointSlice>],
) -> Option<Contribution> {
    let namespace = service.metadata.namespace.as_deref()?.to_ascii_lowercase();
    let name = service.metadata.name.as_deref()?.to_ascii_lowercase();
    if !valid_label(&namespace) || !valid_label(&name) {
        return None;
    }
    let base = format!("{name}.{namespace}.svc.{}", zone.domain);
    let base_name = fqdn(&base)?;
    let spec = service.spec.clone().unwrap_or_default();
    let mut c = Contribution::default();
    c.names.entry(base.clone()).or_default();

    // (port name, protocol) of the Service's named ports, as SRV labels.
    let service_ports = spec.ports.iter().flatten().filter_map(|p| {
        let port = u16::try_from(p.port).ok()?;
        Some((srv_prefix(p.name.as_deref()?, p.protocol.as_deref())?, port))
    });

    if spec.type_.as_deref() == Some("ExternalName") {
        let target = spec
            .external_name
            .as_deref()
            .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
            .and_then(|n| fqdn(&n).map(|name| (n, name)));
        if let Some((key, target)) = target {
            for (prefix, port) in service_ports {
                add_srv(&mut c, &prefix, &base, port, &target, &key, &[]);
            }
            c.names.entry(base).or_default().cname = Some(target);
        }
    } else if spec.cluster_ip.as_deref() == Some("None") {
        for slice in slices {
            let ports: Vec<((String, String), u16)> = slice
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    let port = u16::try_from(p.port?).ok()?;
                    Some((srv_prefix(p.name.as_deref()?, p.protocol.as_deref())?, port))
                })
                .collect();
            for endpoint in &slice.endpoints {
                let ready = endpoint.conditions.as_ref().and_then(|c| c.ready);
                if ready == Some(false) {
                    continue;
                }
                let hostname = endpoint
                    .hostname
                    .as_deref()
                    .map(str::to_ascii_lowercase)
                    .filter(|h| valid_label(h));
                for ip in endpoint
                    .addresses
                    .iter()
                    .filter_map(|a| a.parse::<IpAddr>().ok())
                {
                    let host = hostname.clone().unwrap_or_else(|| dashed(ip));
                    let host_key = format!("{host}.{base}");
                    let Some(host_name) = fqdn(&host_key) else {
                        continue;
                    };
                    c.names.entry(base.clone()).or_default().push_ip(ip);
                    c.names.entry(host_key.clone()).or_default().push_ip(ip);
                    for (prefix, port) in &ports {
                        add_srv(&mut c, prefix, &base, *port, &host_name, &host_key, &[ip]);
                    }
                    c.ptrs.push((ip, host_name));
                }
            }
        }
    } else {
        let ips: Vec<IpAddr> = match spec.cluster_ips.as_deref() {
            Some(ips) if !ips.is_empty() => ips.iter().filter_map(|ip| ip.parse().ok()).collect(),
            _ => spec
                .cluster_ip
                .iter()
                .filter_map(|ip| ip.parse().ok())
                .collect(),
        };
        for &ip in &ips {
            c.names.entry(base.clone()).or_default().push_ip(ip);
            c.ptrs.push((ip, base_name.clone()));
        }
        for (prefix, port) in service_ports {
            add_srv(&mut c, &prefix, &base, port, &base_name, &base, &ips);
        }
    }
    for records in c.names.values_mut() {
        records.normalize();
    }
    c.ptrs.sort();
    c.ptrs.dedup();
    Some(c)
}

/// Adds an SRV answer to `_<port>._<proto>.<base>` (and the empty `_<proto>.<base>`), with
/// `ips` as that name's own addresses, as CoreDNS answers A queries on port names.
fn add_srv(
    c: &mut Contribution,
    prefix: &(String, String),
    base: &str,
    port: u16,
    target: &Name,
    key: &str,
    ips: &[IpAddr],
) {
    let (port_label, proto_label) = prefix;
    c.names.entry(format!("{proto_label}.{base}")).or_default();
    let records = c
        .names
        .entry(format!("{port_label}.{proto_label}.{base}"))
        .or_default();
    records.srv.push(Srv {
        port,
        target: target.clone(),
        key: key.to_owned(),
    });
    for &ip in ips {
        records.push_ip(ip);
    }
}

/// `("_http", "_tcp")` for a port named `http` with protocol TCP (the default).
fn srv_prefix(name: &str, protocol: Option<&str>) -> Option<(String, String)> {
    let name = name.to_ascii_lowercase();
    let protocol = protocol.unwrap_or("TCP").to_ascii_lowercase();
    (valid_label(&name) && valid_label(&protocol))
        .then(|| (format!("_{name}"), format!("_{protocol}")))
}

/// A fully qualified name from a lowercase dotted name without the trailing dot.
pub(crate) fn fqdn(name: &str) -> Option<Name> {
    let mut name = Name::from_ascii(name).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// `10-0-0-1` for 10.0.0.1, `fd00--1` for fd00::1: the label CoreDNS gives an address.
pub(crate) fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string().replace('.', "-"),
        IpAddr::V6(ip) => ip.to_string().replace(':', "-"),
    }
}

/// The address a pod label spells (`10-0-0-1`, `fd00--1`).
fn pod_ip(label: &str) -> Option<IpAddr> {
    if let Ok(ip) = label.replace('-', ".").parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(ip));
    }
    label
        .replace('-', ":")
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// A DNS label as Kubernetes names are: 1–63 of `a-z`, `0-9`, `-` (lowercase already).
fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    u32::try_from(secs).unwrap_or(u32::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
    use kube::api::ObjectMeta;
    use std::collections::BTreeMap;

    pub fn zone() -> Zone {
        Zone::new("cluster.local").expect("valid zone")
    }

    fn meta(ns: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            ..Default::default()
        }
    }

    fn ports(ports: &[(&str, i32, &str)]) -> Option<Vec<ServicePort>> {
        Some(
            ports
                .iter()
                .map(|(name, port, proto)| ServicePort {
                    name: (!name.is_empty()).then(|| name.to_string()),
                    port: *port,
                    protocol: Some(proto.to_string()),
                    ..Default::default()
                })
                .collect(),
        )
    }

    /// A ClusterIP Service with `ips` and named ports `(name, port, protocol)`.
    pub fn service(ns: &str, name: &str, ips: &[&str], p: &[(&str, i32, &str)]) -> Service {
        Service {
            metadata: meta(ns, name),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                cluster_ip: ips.first().map(|s| s.to_string()),
                cluster_ips: Some(ips.iter().map(|s| s.to_string()).collect()),
                ports: ports(p),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub fn headless(ns: &str, name: &str, p: &[(&str, i32, &str)]) -> Service {
        let mut s = service(ns, name, &["None"], p);
        if let Some(spec) = s.spec.as_mut() {
            spec.cluster_ips = Some(vec!["None".into()]);
        }
        s
    }

    pub fn external(ns: &str, name: &str, target: &str) -> Service {
        Service {
            metadata: meta(ns, name),
            spec: Some(ServiceSpec {
                type_: Some("ExternalName".into()),
                external_name: Some(target.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// An endpoint: address, hostname (or ""), ready (None: condition unset).
    pub type Ep<'a> = (&'a str, &'a str, Option<bool>);

    pub fn slice(
        ns: &str,
        name: &str,
        service: &str,
        eps: &[Ep<'_>],
        p: &[(&str, i32, &str)],
    ) -> EndpointSlice {
        let ipv6 = eps.first().is_some_and(|(ip, _, _)| ip.contains(':'));
        EndpointSlice {
            metadata: ObjectMeta {
                labels: Some(BTreeMap::from([(
                    SERVICE_NAME_LABEL.to_string(),
                    service.to_string(),
                )])),
                ..meta(ns, name)
            },
            address_type: if ipv6 { "IPv6" } else { "IPv4" }.into(),
            endpoints: eps
                .iter()
                .map(|(ip, host, ready)| Endpoint {
                    addresses: vec![ip.to_string()],
                    hostname: (!host.is_empty()).then(|| host.to_string()),
                    conditions: Some(EndpointConditions {
                        ready: *ready,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ports: Some(
                p.iter()
                    .map(|(name, port, proto)| EndpointPort {
                        name: Some(name.to_string()),
                        port: Some(*port),
                        protocol: Some(proto.to_string()),
                        ..Default::default()
                    })
                    .collect(),
            ),
        }
    }

    fn index_of(services: &[Service], slices: &[EndpointSlice]) -> Index {
        let zone = zone();
        let mut index = Index::new(zone.clone());
        for s in services {
            let key = Key::of(s);
            let mine: Vec<Arc<EndpointSlice>> = slices
                .iter()
                .filter(|sl| {
                    sl.metadata.namespace == s.metadata.namespace
                        && sl
                            .metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get(SERVICE_NAME_LABEL))
                            == s.metadata.name.as_ref()
                })
                .cloned()
                .map(Arc::new)
                .collect();
            index.set(&key, contribution(&zone, s, &mine));
        }
        index
    }

    fn records<'a>(index: &'a Index, name: &str) -> &'a Records {
        match index.lookup(name) {
            Lookup::Records(r) => r,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().expect("ipv4")
    }

    #[test]
    fn cluster_ip_service_has_a_aaaa_srv_and_ptr() {
        let index = index_of(
            &[service(
                "default",
                "web",
                &["10.96.0.10", "fd00::10"],
                &[("http", 80, "TCP"), ("", 81, "TCP"), ("dns", 53, "UDP")],
            )],
            &[],
        );
        let r = records(&index, "web.default.svc.cluster.local");
        assert_eq!(r.a, [v4("10.96.0.10")]);
        assert_eq!(r.aaaa, ["fd00::10".parse::<Ipv6Addr>().unwrap()]);
        let srv = records(&index, "_http._tcp.web.default.svc.cluster.local");
        assert_eq!(srv.srv.len(), 1);
        assert_eq!(srv.srv[0].port, 80);
        assert_eq!(
            srv.srv[0].target.to_ascii(),
            "web.default.svc.cluster.local."
        );
        assert_eq!(
            records(&index, "_dns._udp.web.default.svc.cluster.local").srv[0].port,
            53
        );
        assert_eq!(
            index.lookup("_tcp.web.default.svc.cluster.local"),
            Lookup::Records(&Records::default())
        );
        assert_eq!(
            index.lookup("_dns._tcp.web.default.svc.cluster.local"),
            Lookup::NxDomain
        );
        let ptr: Vec<String> = index
            .reverse(&"10.96.0.10".parse().unwrap())
            .map(|n| n.to_ascii())
            .collect();
        assert_eq!(ptr, ["web.default.svc.cluster.local."]);
        assert_eq!(index.reverse(&"fd00::10".parse().unwrap()).count(), 1);
        assert_eq!(index.reverse(&"10.96.0.11".parse().unwrap()).count(), 0);
    }

    #[test]
    fn headless_service_has_ready_endpoints_and_hostnames() {
        let index = index_of(
            &[headless("db", "pg", &[("pg", 5432, "TCP")])],
            &[slice(
                "db",
                "pg-abc",
                "pg",
                &[
                    ("10.1.0.5", "pg-0", Some(true)),
                    ("10.1.0.6", "", None),
                    ("10.1.0.7", "pg-2", Some(false)),
                ],
                &[("pg", 5432, "TCP")],
            )],
        );
        let base = records(&index, "pg.db.svc.cluster.local");
        assert_eq!(base.a, [v4("10.1.0.5"), v4("10.1.0.6")]);
        assert_eq!(
            records(&index, "pg-0.pg.db.svc.cluster.local").a,
            [v4("10.1.0.5")]
        );
        assert_eq!(
            records(&index, "10-1-0-6.pg.db.svc.cluster.local").a,
            [v4("10.1.0.6")]
        );
        assert_eq!(
            index.lookup("pg-2.pg.db.svc.cluster.local"),
            Lookup::NxDomain
        );
        let srv = records(&index, "_pg._tcp.pg.db.svc.cluster.local");
        let targets: Vec<String> = srv.srv.iter().map(|s| s.target.to_ascii()).collect();
        assert_eq!(
            targets,
            [
                "10-1-0-6.pg.db.svc.cluster.local.",
                "pg-0.pg.db.svc.cluster.local."
            ]
        );
        let ptr: Vec<String> = index
            .reverse(&"10.1.0.5".parse().unwrap())
            .map(|n| n.to_ascii())
            .collect();
        assert_eq!(ptr, ["pg-0.pg.db.svc.cluster.local."]);
        assert_eq!(index.reverse(&"10.1.0.7".parse().unwrap()).count(), 0);
    }

    #[test]
    fn dual_stack_slices_merge_under_one_hostname() {
        let index = index_of(
            &[headless("db", "pg", &[])],
            &[
                slice(
                    "db",
                    "pg-v4",
                    "pg",
                    &[("10.1.0.5", "pg-0", Some(true))],
                    &[],
                ),
                slice("db", "pg-v6", "pg", &[("fd00::5", "pg-0", Some(true))], &[]),
            ],
        );
        let r = records(&index, "pg-0.pg.db.svc.cluster.local");
        assert_eq!(r.a, [v4("10.1.0.5")]);
        assert_eq!(r.aaaa, ["fd00::5".parse::<Ipv6Addr>().unwrap()]);
    }

    #[test]
    fn external_name_is_a_cname() {
        let index = index_of(&[external("default", "ext", "Example.COM.")], &[]);
        let r = records(&index, "ext.default.svc.cluster.local");
        assert_eq!(
            r.cname.as_ref().map(Name::to_ascii).as_deref(),
            Some("example.com.")
        );
        assert!(r.a.is_empty());
    }

    #[test]
    fn pods_namespaces_and_missing_names() {
        let index = index_of(&[service("default", "web", &["10.96.0.10"], &[])], &[]);
        assert_eq!(
            index.lookup("10-244-1-7.default.pod.cluster.local"),
            Lookup::Pod("10.244.1.7".parse().unwrap())
        );
        assert_eq!(
            index.lookup("fd00--7.default.pod.cluster.local"),
            Lookup::Pod("fd00::7".parse().unwrap())
        );
        assert_eq!(
            index.lookup("10-244-1.default.pod.cluster.local"),
            Lookup::NxDomain
        );
        assert_eq!(index.lookup("default.pod.cluster.local"), Lookup::Empty);
        assert_eq!(index.lookup("cluster.local"), Lookup::Apex);
        assert_eq!(index.lookup("svc.cluster.local"), Lookup::Empty);
        assert_eq!(index.lookup("default.svc.cluster.local"), Lookup::Empty);
        assert_eq!(index.lookup("other.svc.cluster.local"), Lookup::NxDomain);
        assert_eq!(
            index.lookup("nope.default.svc.cluster.local"),
            Lookup::NxDomain
        );
        assert_eq!(
            index.lookup("web.default.svc.cluster.local.default.svc.cluster.local"),
            Lookup::NxDomain
        );
        assert_eq!(index.lookup("example.com"), Lookup::OutOfZone);
        assert_eq!(index.lookup("xcluster.local"), Lookup::OutOfZone);
    }

    #[test]
    fn updates_and_deletions_replace_a_services_names() {
        let zone = zone();
        let mut index = Index::new(zone.clone());
        let key = Key::new("db", "pg");
        let svc = headless("db", "pg", &[]);
        let s1 = Arc::new(slice(
            "db",
            "pg-a",
            "pg",
            &[("10.1.0.5", "pg-0", Some(true))],
            &[],
        ));
        index.set(&key, contribution(&zone, &svc, std::slice::from_ref(&s1)));
        assert_eq!(
            records(&index, "pg-0.pg.db.svc.cluster.local").a,
            [v4("10.1.0.5")]
        );

        // The pod moves: the old name and PTR go, the new ones come.
        let s2 = Arc::new(slice(
            "db",
            "pg-a",
            "pg",
            &[("10.1.0.9", "pg-0", Some(true))],
            &[],
        ));
        index.set(&key, contribution(&zone, &svc, &[s2]));
        assert_eq!(
            records(&index, "pg-0.pg.db.svc.cluster.local").a,
            [v4("10.1.0.9")]
        );
        assert_eq!(index.reverse(&"10.1.0.5".parse().unwrap()).count(), 0);
        assert_eq!(index.reverse(&"10.1.0.9".parse().unwrap()).count(), 1);

        // The slice is deleted: the Service stays, without addresses.
        index.set(&key, contribution(&zone, &svc, &[]));
        assert!(records(&index, "pg.db.svc.cluster.local").a.is_empty());
        assert_eq!(
            index.lookup("pg-0.pg.db.svc.cluster.local"),
            Lookup::NxDomain
        );

        // The Service is deleted: everything goes, the namespace too.
        index.set(&key, None);
        assert_eq!(index.lookup("pg.db.svc.cluster.local"), Lookup::NxDomain);
        assert_eq!(index.lookup("db.svc.cluster.local"), Lookup::NxDomain);
        assert_eq!(index.len(), 0);
        assert!(index.reverse.is_empty() && index.owned.is_empty() && index.namespaces.is_empty());
    }

    #[test]
    fn two_services_sharing_a_pod_both_get_ptrs() {
        let eps: &[Ep<'_>] = &[("10.1.0.5", "", Some(true))];
        let mut index = index_of(
            &[headless("ns", "a", &[]), headless("ns", "b", &[])],
            &[
                slice("ns", "a-1", "a", eps, &[]),
                slice("ns", "b-1", "b", eps, &[]),
            ],
        );
        assert_eq!(index.reverse(&"10.1.0.5".parse().unwrap()).count(), 2);
        index.set(&Key::new("ns", "a"), None);
        let ptr: Vec<String> = index
            .reverse(&"10.1.0.5".parse().unwrap())
            .map(|n| n.to_ascii())
            .collect();
        assert_eq!(ptr, ["10-1-0-5.b.ns.svc.cluster.local."]);
        assert_eq!(index.lookup("ns.svc.cluster.local"), Lookup::Empty);
    }

    #[test]
    fn a_service_type_change_replaces_its_records() {
        let zone = zone();
        let mut index = Index::new(zone.clone());
        let key = Key::new("default", "x");
        index.set(
            &key,
            contribution(&zone, &service("default", "x", &["10.96.0.1"], &[]), &[]),
        );
        index.set(
            &key,
            contribution(&zone, &external("default", "x", "example.org"), &[]),
        );
        let r = records(&index, "x.default.svc.cluster.local");
        assert!(r.a.is_empty());
        assert!(r.cname.is_some());
        assert_eq!(index.reverse(&"10.96.0.1".parse().unwrap()).count(), 0);
    }

    #[test]
    fn zone_names_are_normalized_and_checked() {
        let z = Zone::new("Cluster.Local.").unwrap();
        assert_eq!(z.domain, "cluster.local");
        assert_eq!(z.mname.to_ascii(), "ns.dns.cluster.local.");
        assert_eq!(z.relative("a.cluster.local"), Some("a"));
        assert!(Zone::new("").is_err());
        assert!(Zone::new("bad domain").is_err());
    }

    #[test]
    fn odd_objects_are_skipped_not_fatal() {
        let zone = zone();
        let mut svc = service(
            "default",
            "web",
            &["not-an-ip", "10.0.0.1"],
            &[("http", 70000, "TCP")],
        );
        assert_eq!(
            contribution(&zone, &svc, &[]).map(|c| c.names.len()),
            Some(1)
        );
        svc.metadata.name = Some("Bad_Name".into());
        assert!(contribution(&zone, &svc, &[]).is_none());
        svc.metadata.name = None;
        assert!(contribution(&zone, &svc, &[]).is_none());
        let mut weird = slice(
            "ns",
            "s",
            "h",
            &[("10.0.0.1", "UPPER_case", None), ("garbage", "", None)],
            &[],
        );
        weird.endpoints.push(Endpoint::default());
        let c = contribution(&zone, &headless("ns", "h", &[]), &[Arc::new(weird)]).unwrap();
        assert!(c.names.contains_key("10-0-0-1.h.ns.svc.cluster.local"));
    }
}
