//! What every cluster has from its first start: the namespaces `default`, `kube-system`,
//! `kube-public` and `kube-node-lease`, the `kubernetes` Service in `default` pointing at the
//! API server, and the custom resource definitions stored earlier.

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use barge_api::ApiError;
use barge_api::time::format_rfc3339;
use serde_json::{Value, json};

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
    ensure(state, "/registry/services/default/kubernetes", svc).await?;

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
    ensure(state, "/registry/endpoints/default/kubernetes", endpoints).await?;

    crd::load(state).await
}

/// This host's address on the interface of its default route (what other nodes reach).
fn host_ip() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("10.255.255.255:9").ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}
