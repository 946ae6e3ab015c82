//! What every cluster has from its first start: the namespaces `default`, `kube-system`,
//! `kube-public` and `kube-node-lease`; the `kubernetes` Service in `default` pointing at the
//! API server, with its Endpoints and its EndpointSlice (service proxies read slices only);
//! the `kube-dns` Service in `kube-system` on [`Config::cluster_dns`](crate::Config); the default
//! RBAC policy (upstream's bootstrap ClusterRoles, with the aggregated ones holding their
//! aggregated rules, Roles and bindings, [`barge_api::rbac`]); and the custom resource
//! definitions stored earlier.
//!
//! Each object is created only when absent: a restart keeps what it finds, and an object a
//! user replaced (say a `kube-dns` of their own) stays theirs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::SystemTime;

use barge_api::ApiError;
use barge_api::time::format_rfc3339;
use barge_store::RangeRequest;
use serde_json::{Value, json};

use crate::handlers::from_kv;
use crate::{ApiServer, admission, crd, objects};

const NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Stores `obj` under `key` unless something is there already (a restart keeps what it finds).
async fn ensure(state: &ApiServer, key: &str, obj: Value) -> Result<(), ApiError> {
    let bytes = bytes::Bytes::from(serde_json::to_vec(&obj).expect("JSON serialises"));
    match state.store.create(key, bytes, None).await {
        Ok(_) | Err(barge_store::Error::KeyExists { .. }) => Ok(()),
        Err(e) => Err(ApiError::internal(e)),
    }
}

fn new_object(kind: &str, api_version: &str, name: &str, namespace: Option<&str>) -> Value {
    let mut meta = json!({
        "name": name,
        "uid": objects::new_uid(),
        "creationTimestamp": format_rfc3339(SystemTime::now()),
    });
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    json!({"kind": kind, "apiVersion": api_version, "metadata": meta})
}

pub async fn run(state: &ApiServer, addr: SocketAddr) -> Result<(), ApiError> {
    let registry = barge_api::Registry::with_builtins();
    let namespaces = registry
        .get("", "v1", "namespaces")
        .expect("built in")
        .clone();
    for ns in NAMESPACES {
        let mut obj = new_object("Namespace", "v1", ns, None);
        admission::default(&namespaces, &mut obj);
        ensure(state, &namespaces.key(None, ns), obj).await?;
    }

    let resource =
        |group: &str, plural: &str| registry.get(group, "v1", plural).expect("built in").clone();
    let services = resource("", "services");

    let service_ip = state.config.kubernetes_service_ip().to_string();
    let mut svc = new_object("Service", "v1", "kubernetes", Some("default"));
    svc["metadata"]["labels"] = json!({"component": "apiserver", "provider": "kubernetes"});
    svc["spec"] = json!({
        "type": "ClusterIP",
        "clusterIP": service_ip,
        "clusterIPs": [service_ip],
        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": addr.port()}],
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    });
    svc["status"] = json!({"loadBalancer": {}});
    ensure(state, &services.key(Some("default"), "kubernetes"), svc).await?;

    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => host_ip().unwrap_or(IpAddr::V4(v4)),
        ip => ip,
    };
    let mut endpoints = new_object("Endpoints", "v1", "kubernetes", Some("default"));
    endpoints["metadata"]["labels"] = json!({"endpointslice.kubernetes.io/skip-mirror": "true"});
    endpoints["subsets"] = json!([{
        "addresses": [{"ip": ip.to_string()}],
        "ports": [{"name": "https", "port": addr.port(), "protocol": "TCP"}],
    }]);
    let endpoints_key = resource("", "endpoints").key(Some("default"), "kubernetes");
    ensure(state, &endpoints_key, endpoints).await?;

    // The slice says what the Endpoints object says: a restart that kept an older Endpoints
    // object keeps the two in agreement.
    let stored = state
        .store
        .get(&endpoints_key, None)
        .await
        .map_err(ApiError::internal)?;
    if let Some(kv) = stored.kv {
        let slices = resource("discovery.k8s.io", "endpointslices");
        let mut slice = kubernetes_slice(&from_kv(&kv)?);
        admission::default(&slices, &mut slice);
        ensure(state, &slices.key(Some("default"), "kubernetes"), slice).await?;
    }

    kube_dns(state, &services).await?;

    rbac(state, &registry).await?;

    crd::load(state).await
}

/// The default RBAC objects that are missing, all written at once (one store batch).
async fn rbac(state: &ApiServer, registry: &barge_api::Registry) -> Result<(), ApiError> {
    use barge_api::rbac;
    const GROUP: &str = "rbac.authorization.k8s.io";
    let existing: std::collections::HashSet<String> = state
        .store
        .range(RangeRequest::prefix(crate::authz::RBAC_ROOT))
        .await
        .map_err(ApiError::internal)?
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    let mut wanted: Vec<(&str, Value)> = Vec::new();
    let to_json = |v: Result<Value, serde_json::Error>| v.map_err(ApiError::internal);
    for role in rbac::aggregate(&rbac::bootstrap_cluster_roles()) {
        wanted.push(("ClusterRole", to_json(serde_json::to_value(role))?));
    }
    for binding in rbac::bootstrap_cluster_role_bindings() {
        wanted.push((
            "ClusterRoleBinding",
            to_json(serde_json::to_value(binding))?,
        ));
    }
    for role in rbac::bootstrap_roles() {
        wanted.push(("Role", to_json(serde_json::to_value(role))?));
    }
    for binding in rbac::bootstrap_role_bindings() {
        wanted.push(("RoleBinding", to_json(serde_json::to_value(binding))?));
    }
    let mut writes = Vec::new();
    for (kind, mut obj) in wanted {
        let resource = registry.by_kind(GROUP, "v1", kind).expect("built in");
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let namespace = obj["metadata"]["namespace"].as_str().map(str::to_owned);
        let key = resource.key(namespace.as_deref(), &name);
        if existing.contains(&key) {
            continue;
        }
        let fresh = new_object(kind, &format!("{GROUP}/v1"), &name, namespace.as_deref());
        obj["kind"] = fresh["kind"].clone();
        obj["apiVersion"] = fresh["apiVersion"].clone();
        for field in ["uid", "creationTimestamp"] {
            obj["metadata"][field] = fresh["metadata"][field].clone();
        }
        writes.push(async move { ensure(state, &key, obj).await });
    }
    for result in futures_util::future::join_all(writes).await {
        result?;
    }
    Ok(())
}

/// The EndpointSlice of the `kubernetes` Service, from its Endpoints, as upstream's API server
/// writes it (`pkg/controlplane/reconcilers`): named after the Service, labelled only with
/// `kubernetes.io/service-name` (no managed-by: no controller owns it), one ready endpoint per
/// address of the first subset.
fn kubernetes_slice(endpoints: &Value) -> Value {
    let subset = &endpoints["subsets"][0];
    let addresses: Vec<&str> = subset["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["ip"].as_str())
        .collect();
    let v6 = !addresses.is_empty() && addresses.iter().all(|a| a.contains(':'));
    let ports: Vec<Value> = subset["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| json!({"name": p["name"], "port": p["port"], "protocol": p["protocol"]}))
        .collect();
    let mut slice = new_object(
        "EndpointSlice",
        "discovery.k8s.io/v1",
        "kubernetes",
        Some("default"),
    );
    slice["metadata"]["labels"] = json!({"kubernetes.io/service-name": "kubernetes"});
    slice["addressType"] = json!(if v6 { "IPv6" } else { "IPv4" });
    slice["endpoints"] = addresses
        .iter()
        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
        .collect();
    slice["ports"] = json!(ports);
    slice
}

/// The cluster DNS Service: `kube-system/kube-dns` on [`Config::cluster_dns`], with CoreDNS's
/// labels and ports, and no selector — every node agent answers DNS itself, and each node's
/// service proxy sends this Service's traffic to its own node-local server.
///
/// Its address is checked against the service CIDR (a bad configuration stops the start). An
/// address another Service took before this one existed (a cluster older than `kube-dns`) is
/// left to it, with a warning, rather than given twice.
///
/// [`Config::cluster_dns`]: crate::Config::cluster_dns
async fn kube_dns(state: &ApiServer, services: &barge_api::Resource) -> Result<(), ApiError> {
    let dns = state.config.cluster_dns;
    check_cluster_dns(
        dns,
        state.config.service_cidr,
        state.config.kubernetes_service_ip(),
    )
    .map_err(ApiError::internal)?;
    let key = services.key(Some("kube-system"), "kube-dns");
    let _serialised = state.allocation.lock().await;
    let existing = state
        .store
        .get(&key, None)
        .await
        .map_err(ApiError::internal)?;
    if existing.kv.is_some() {
        return Ok(());
    }
    let all = state
        .store
        .range(RangeRequest::prefix(services.list_prefix(None)))
        .await
        .map_err(ApiError::internal)?;
    for kv in &all.kvs {
        let other = from_kv(kv)?;
        if other["spec"]["clusterIP"].as_str() == Some(&dns.to_string()) {
            let meta = &other["metadata"];
            let namespace = meta["namespace"].as_str().unwrap_or_default();
            let name = meta["name"].as_str().unwrap_or_default();
            tracing::warn!(
                ip = %dns,
                service = format!("{namespace}/{name}"),
                "kube-system/kube-dns not created: its ClusterIP is another Service's"
            );
            return Ok(());
        }
    }

    let ip = dns.to_string();
    let mut svc = new_object("Service", "v1", "kube-dns", Some("kube-system"));
    svc["metadata"]["labels"] = json!({
        "k8s-app": "kube-dns",
        "kubernetes.io/cluster-service": "true",
        "kubernetes.io/name": "CoreDNS",
    });
    svc["metadata"]["annotations"] = json!({
        "prometheus.io/port": "9153",
        "prometheus.io/scrape": "true",
    });
    svc["spec"] = json!({
        "type": "ClusterIP",
        "clusterIP": ip,
        "clusterIPs": [ip],
        "ports": [
            service_port("dns", 53, "UDP"),
            service_port("dns-tcp", 53, "TCP"),
            service_port("metrics", 9153, "TCP"),
        ],
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    });
    admission::default(services, &mut svc);
    ensure(state, &key, svc).await
}

/// A Service port whose targetPort is the port itself.
fn service_port(name: &str, port: u16, protocol: &str) -> Value {
    json!({"name": name, "port": port, "protocol": protocol, "targetPort": port})
}

/// Whether `dns` can be a ClusterIP of `cidr`: inside it, neither its network nor its
/// broadcast address, and not the `kubernetes` Service's.
fn check_cluster_dns(
    dns: Ipv4Addr,
    cidr: (Ipv4Addr, u8),
    kubernetes: Ipv4Addr,
) -> Result<(), String> {
    let (base, bits) = cidr;
    let size = 1u64 << (32 - u32::from(bits.min(32)));
    let (base, n) = (u64::from(u32::from(base)), u64::from(u32::from(dns)));
    if n <= base || n >= base + size - 1 {
        return Err(format!(
            "the cluster DNS address {dns} is not a usable address of the service CIDR {}/{bits}",
            cidr.0
        ));
    }
    if dns == kubernetes {
        return Err(format!(
            "the cluster DNS address {dns} is the kubernetes Service's ClusterIP"
        ));
    }
    Ok(())
}

/// This host's address on the interface of its default route (what other nodes reach).
fn host_ip() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("10.255.255.255:9").ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubernetes_slice_mirrors_its_endpoints() {
        let endpoints = json!({"subsets": [{
            "addresses": [{"ip": "192.168.1.10"}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        }]});
        let slice = kubernetes_slice(&endpoints);
        assert_eq!(slice["kind"], "EndpointSlice");
        assert_eq!(slice["apiVersion"], "discovery.k8s.io/v1");
        assert_eq!(
            slice["metadata"]["labels"],
            json!({"kubernetes.io/service-name": "kubernetes"})
        );
        assert_eq!(slice["addressType"], "IPv4");
        assert_eq!(
            slice["endpoints"],
            json!([{"addresses": ["192.168.1.10"], "conditions": {"ready": true}}])
        );
        assert_eq!(
            slice["ports"],
            json!([{"name": "https", "port": 6443, "protocol": "TCP"}])
        );
        let v6 = json!({"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": []}]});
        assert_eq!(kubernetes_slice(&v6)["addressType"], "IPv6");
    }

    #[test]
    fn the_cluster_dns_address_must_be_a_usable_one_of_the_service_cidr() {
        let cidr = (Ipv4Addr::new(10, 96, 0, 0), 12);
        let kubernetes = Ipv4Addr::new(10, 96, 0, 1);
        let check = |ip: [u8; 4]| check_cluster_dns(Ipv4Addr::from(ip), cidr, kubernetes);
        assert_eq!(check([10, 96, 0, 10]), Ok(()));
        assert_eq!(check([10, 111, 255, 254]), Ok(()));
        for bad in [
            [10, 96, 0, 0],
            [10, 111, 255, 255],
            [10, 112, 0, 10],
            [10, 96, 0, 1],
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            check([10, 200, 0, 10]).unwrap_err(),
            "the cluster DNS address 10.200.0.10 is not a usable address of the service CIDR \
             10.96.0.0/12"
        );
    }
}
