//! ClusterIP and NodePort allocation for Services, from the service CIDR and the NodePort range.
//! Allocation is serialised in this process and checked against the stored Services, so two
//! Services never get one address; a failed create gives nothing back to return.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use barge_api::{ApiError, Cause};
use barge_store::RangeRequest;
use serde_json::{Value, json};

use crate::ApiServer;
use crate::handlers::from_kv;

/// The ClusterIPs and NodePorts of every stored Service.
async fn in_use(state: &ApiServer) -> Result<(BTreeSet<Ipv4Addr>, BTreeSet<i64>), ApiError> {
    let services = state
        .store
        .range(RangeRequest::prefix("/registry/services/"))
        .await
        .map_err(ApiError::internal)?;
    let mut ips = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for kv in &services.kvs {
        let svc = from_kv(kv)?;
        if let Some(ip) = svc["spec"]["clusterIP"]
            .as_str()
            .and_then(|s| s.parse().ok())
        {
            ips.insert(ip);
        }
        for p in svc["spec"]["ports"].as_array().into_iter().flatten() {
            if let Some(n) = p["nodePort"].as_i64() {
                ports.insert(n);
            }
        }
    }
    Ok((ips, ports))
}

fn invalid(name: &str, cause: Cause) -> ApiError {
    ApiError::invalid("", "Service", name, vec![cause])
}

/// Gives a new Service its ClusterIP (unless headless or ExternalName) and its NodePorts (for
/// NodePort and LoadBalancer Services), honouring the ones the client asked for when free.
pub async fn allocate(state: &ApiServer, obj: &mut Value) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let _serialised = state.allocation.lock().await;
    let (ips, ports) = in_use(state).await?;
    let spec = &mut obj["spec"];
    let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_owned();
    if ty != "ExternalName" {
        let (base, bits) = state.config.service_cidr;
        let base = u32::from(base);
        let size = 1u32 << (32 - u32::from(bits));
        match spec["clusterIP"].as_str() {
            Some("None") => {}
            Some(ip) if !ip.is_empty() => {
                let parsed: Ipv4Addr = ip.parse().map_err(|_| {
                    invalid(
                        &name,
                        Cause::invalid(
                            "spec.clusterIPs",
                            &json!([ip]),
                            "must be a valid IP address",
                        ),
                    )
                })?;
                let n = u32::from(parsed);
                if n <= base || n >= base + size - 1 {
                    return Err(invalid(
                        &name,
                        Cause::invalid(
                            "spec.clusterIPs",
                            &json!([ip]),
                            "failed to allocate IP: the provided IP is not in the valid range",
                        ),
                    ));
                }
                if ips.contains(&parsed) {
                    return Err(invalid(
                        &name,
                        Cause::invalid(
                            "spec.clusterIPs",
                            &json!([ip]),
                            "failed to allocate IP: provided IP is already allocated",
                        ),
                    ));
                }
            }
            _ => {
                // Skip the network address and the first host (the kubernetes Service's),
                // unless this is that Service.
                let ip = (base + 1..base + size - 1)
                    .map(Ipv4Addr::from)
                    .find(|ip| !ips.contains(ip))
                    .ok_or_else(|| ApiError::internal("the service CIDR is full"))?;
                spec["clusterIP"] = json!(ip.to_string());
            }
        }
        let ip = spec["clusterIP"].clone();
        spec["clusterIPs"] = json!([ip]);
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        let (lo, hi) = state.config.node_port_range;
        let mut taken = ports;
        for p in spec
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            match p["nodePort"].as_i64() {
                Some(n) if n != 0 => {
                    if !(i64::from(lo)..=i64::from(hi)).contains(&n) || taken.contains(&n) {
                        let why = if taken.contains(&n) {
                            "provided port is already allocated"
                        } else {
                            "provided port is not in the valid range"
                        };
                        let cause = Cause::invalid("spec.ports[0].nodePort", &json!(n), why);
                        return Err(invalid(&name, cause));
                    }
                    taken.insert(n);
                }
                _ => {
                    let n = (i64::from(lo)..=i64::from(hi))
                        .find(|n| !taken.contains(n))
                        .ok_or_else(|| ApiError::internal("the NodePort range is full"))?;
                    taken.insert(n);
                    p["nodePort"] = json!(n);
                }
            }
        }
    }
    Ok(())
}
