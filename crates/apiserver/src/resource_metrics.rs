//! `metrics.k8s.io/v1beta1`, served by the API server itself (upstream needs metrics-server
//! behind the aggregation layer): NodeMetrics and PodMetrics, what `kubectl top` and the
//! HorizontalPodAutoscaler read. Get and list only (`labelSelector`, and `fieldSelector` on the
//! pods' fields), JSON or a Table; nothing is stored.
//!
//! The figures come from the kubelets' `/stats/summary` (each agent samples its node every
//! `--metric-resolution`, see `barge_kubelet::server::stats`), fetched on demand from the nodes
//! a request needs (the nodes of the selected pods) and reused for a second. As metrics-server,
//! CPU is the rate over the last window in nano-cores (`"1234567n"`, canonical, so `"250m"`),
//! memory the working set in binary units (`"12Mi"`); a pod is listed only when every one of
//! its containers has both figures, and a node or pod without figures is simply absent
//! (`podmetrics.metrics.k8s.io "ns/name" not found` for a get). A node that does not answer
//! within [`FETCH_TIMEOUT`] is skipped, and not asked again for [`RETRY_AFTER`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use barge_api::quantity::Quantity;
use barge_api::selector::{FieldSelector, LabelSelector};
use barge_api::{ApiError, GroupResource, Registry, Resource};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::ApiServer;
use crate::request::{self, Format, Query, Response};
use crate::router::Target;

pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";

/// A node's figures are reused for this long.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// How long a node has to answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// A node that did not answer is not asked again before this.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Nodes asked at once.
const CONCURRENT_FETCHES: usize = 32;

/// (kind, plural, namespaced)
const RESOURCES: [(&str, &str, bool); 2] = [
    ("NodeMetrics", "nodes", false),
    ("PodMetrics", "pods", true),
];

/// Adds the two resources (get and list) to the registry.
pub fn register(registry: &mut Registry) {
    for (kind, plural, namespaced) in RESOURCES {
        if registry.get(GROUP, VERSION, plural).is_some() {
            continue;
        }
        registry.upsert(Resource {
            group: GROUP.to_owned(),
            version: VERSION.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            singular: String::new(),
            namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            verbs: vec!["get".to_owned(), "list".to_owned()],
            subresources: Vec::new(),
            storage_prefix: format!("/registry/{GROUP}/{plural}"),
            custom: false,
            printer_columns: None,
            schema: None,
        });
    }
}

/// Whether a target is one of the metrics resources.
pub fn is_metrics(target: &Target) -> bool {
    !target.resource.custom && target.resource.group == GROUP
}

/// What the nodes last said, by node name.
#[derive(Debug, Default)]
pub struct NodeStats {
    summaries: Mutex<HashMap<String, Fetched>>,
    tls: OnceLock<Arc<rustls::ClientConfig>>,
}

#[derive(Debug, Clone)]
enum Fetched {
    Summary(Instant, Arc<Value>),
    Failed(Instant),
}

/// Answers a request for a metrics resource.
pub async fn serve(
    state: &ApiServer,
    target: &Target,
    method: &Method,
    query: &Query,
    format: Format,
) -> Result<Response, ApiError> {
    if *method != Method::GET || target.subresource.is_some() {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        )));
    }
    if query.watch {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource (watch)",
        ));
    }
    let label = LabelSelector::parse(query.label_selector.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let field = FieldSelector::parse(query.field_selector.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let pods = target.resource.plural == "pods";
    field
        .check_supported("", if pods { "Pod" } else { "Node" })
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let window = barge_api::go::duration(state.config.metric_resolution);
    let items = if pods {
        pod_metrics(state, target, &label, &field, &window).await?
    } else {
        node_metrics(state, target, &label, &field, &window).await?
    };
    let kind = &target.resource.kind;
    if let Some(name) = &target.name {
        let Some(item) = items.into_iter().next() else {
            let (resource, name) = if pods {
                let ns = target.namespace.as_deref().unwrap_or_default();
                ("podmetrics", format!("{ns}/{name}"))
            } else {
                ("nodemetrics", name.clone())
            };
            return Err(ApiError::not_found(
                &GroupResource::new(GROUP, resource),
                &name,
            ));
        };
        return Ok(match format {
            Format::Table => request::ok(&table(pods, &[item]), Format::Json),
            f => request::ok(&item, f),
        });
    }
    Ok(match format {
        Format::Table => request::ok(&table(pods, &items), Format::Json),
        f => request::ok(
            &json!({
                "kind": format!("{kind}List"),
                "apiVersion": format!("{GROUP}/{VERSION}"),
                "metadata": {},
                "items": items,
            }),
            f,
        ),
    })
}

/// The objects of a core resource (`nodes`, `pods`) under `namespace`, from the watch cache.
async fn objects(
    state: &ApiServer,
    plural: &str,
    namespace: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    let resource = {
        let registry = state.registry.read().unwrap_or_else(|p| p.into_inner());
        registry
            .get("", "v1", plural)
            .cloned()
            .ok_or_else(ApiError::path_not_found)?
    };
    let (kvs, _) = state
        .cache
        .list(
            &state.store,
            &resource.list_prefix(None),
            &resource.list_prefix(namespace),
        )
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(kvs
        .iter()
        .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
        .collect())
}

fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

fn selected(
    obj: &Value,
    kind: &str,
    name: Option<&str>,
    label: &LabelSelector,
    field: &FieldSelector,
) -> bool {
    name.is_none_or(|n| n == name_of(obj))
        && label.matches(obj["metadata"]["labels"].as_object())
        && field.matches_object("", kind, obj).unwrap_or(false)
}

/// The metadata of a metrics object: the name (and namespace) and labels of what it measures.
fn metadata(obj: &Value) -> Value {
    let mut m = json!({
        "name": obj["metadata"]["name"],
        "creationTimestamp": barge_api::time::format_rfc3339(std::time::SystemTime::now()),
    });
    for key in ["namespace", "labels"] {
        if !obj["metadata"][key].is_null() {
            m[key] = obj["metadata"][key].clone();
        }
    }
    m
}

async fn node_metrics(
    state: &ApiServer,
    target: &Target,
    label: &LabelSelector,
    field: &FieldSelector,
    window: &str,
) -> Result<Vec<Value>, ApiError> {
    let nodes: Vec<Value> = objects(state, "nodes", None)
        .await?
        .into_iter()
        .filter(|n| selected(n, "Node", target.name.as_deref(), label, field))
        .collect();
    let summaries = summaries(state, &nodes).await;
    Ok(nodes
        .iter()
        .filter_map(|node| {
            let figures = &summaries.get(name_of(node))?["node"];
            let usage = usage(figures)?;
            Some(json!({
                "kind": "NodeMetrics",
                "apiVersion": format!("{GROUP}/{VERSION}"),
                "metadata": metadata(node),
                "timestamp": figures["cpu"]["time"],
                "window": window,
                "usage": usage,
            }))
        })
        .collect())
}

async fn pod_metrics(
    state: &ApiServer,
    target: &Target,
    label: &LabelSelector,
    field: &FieldSelector,
    window: &str,
) -> Result<Vec<Value>, ApiError> {
    let pods: Vec<Value> = objects(state, "pods", target.namespace.as_deref())
        .await?
        .into_iter()
        .filter(|p| selected(p, "Pod", target.name.as_deref(), label, field))
        .collect();
    if let (Some(name), true) = (&target.name, pods.is_empty()) {
        return Err(ApiError::not_found(&GroupResource::new("", "pods"), name));
    }
    let node_names: Vec<&str> = {
        let mut names: Vec<&str> = pods
            .iter()
            .filter_map(|p| p["spec"]["nodeName"].as_str())
            .filter(|n| !n.is_empty())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    };
    let nodes: Vec<Value> = objects(state, "nodes", None)
        .await?
        .into_iter()
        .filter(|n| node_names.binary_search(&name_of(n)).is_ok())
        .collect();
    let summaries = summaries(state, &nodes).await;
    // The summaries' pods, by uid.
    let mut measured: HashMap<&str, &Value> = HashMap::new();
    for summary in summaries.values() {
        for pod in summary["pods"].as_array().into_iter().flatten() {
            if let Some(uid) = pod["podRef"]["uid"].as_str() {
                measured.insert(uid, pod);
            }
        }
    }
    Ok(pods
        .iter()
        .filter_map(|pod| {
            let figures = measured.get(pod["metadata"]["uid"].as_str()?)?;
            let containers = figures["containers"]
                .as_array()?
                .iter()
                .map(|c| Some(json!({"name": c["name"], "usage": usage(c)?})))
                .collect::<Option<Vec<Value>>>()
                .filter(|c| !c.is_empty())?;
            Some(json!({
                "kind": "PodMetrics",
                "apiVersion": format!("{GROUP}/{VERSION}"),
                "metadata": metadata(pod),
                "timestamp": figures["cpu"]["time"],
                "window": window,
                "containers": containers,
            }))
        })
        .collect())
}

/// `{"cpu": ..., "memory": ...}` from a summary's figures, when it has both.
fn usage(figures: &Value) -> Option<Value> {
    let cpu = figures["cpu"]["usageNanoCores"].as_u64()?;
    let memory = figures["memory"]["workingSetBytes"].as_u64()?;
    Some(json!({"cpu": nano_cores(cpu), "memory": binary_bytes(memory)}))
}

/// Nano-cores as a canonical quantity (`250m`, `1234567n`).
fn nano_cores(n: u64) -> String {
    Quantity::parse(&format!("{n}n")).map_or_else(|_| format!("{n}n"), |q| q.to_string())
}

/// Bytes in the largest binary unit that holds them exactly (`12Mi`, `12345Ki`, `1000`).
fn binary_bytes(n: u64) -> String {
    if n == 0 {
        return "0".to_owned();
    }
    let mut value = n;
    let mut unit = 0;
    while value.is_multiple_of(1024) && unit < 6 {
        value /= 1024;
        unit += 1;
    }
    let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][unit];
    format!("{value}{suffix}")
}

/// The latest summaries of `nodes` (those that answered), by node name.
async fn summaries(state: &ApiServer, nodes: &[Value]) -> HashMap<String, Arc<Value>> {
    let now = Instant::now();
    let mut out = HashMap::new();
    let mut wanted = Vec::new();
    {
        let cache = state
            .node_stats
            .summaries
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for node in nodes {
            let name = name_of(node);
            match cache.get(name) {
                Some(Fetched::Summary(at, s)) if now.duration_since(*at) < FRESH_FOR => {
                    out.insert(name.to_owned(), s.clone());
                }
                Some(Fetched::Failed(at)) if now.duration_since(*at) < RETRY_AFTER => {}
                _ => wanted.push(node.clone()),
            }
        }
    }
    if wanted.is_empty() {
        return out;
    }
    let Some(tls) = kubelet_tls(state) else {
        return out;
    };
    let fetched: Vec<(String, Option<Value>)> = futures_util::stream::iter(wanted)
        .map(|node: Value| {
            let tls = tls.clone();
            async move {
                let name = name_of(&node).to_owned();
                let summary = match tokio::time::timeout(FETCH_TIMEOUT, fetch(tls, &node)).await {
                    Ok(Ok(summary)) => Some(summary),
                    Ok(Err(e)) => {
                        tracing::debug!(node = %name, error = %e.message, "no stats from the node");
                        None
                    }
                    Err(_) => {
                        tracing::debug!(node = %name, "the node's stats timed out");
                        None
                    }
                };
                (name, summary)
            }
        })
        .buffer_unordered(CONCURRENT_FETCHES)
        .collect()
        .await;
    let mut cache = state
        .node_stats
        .summaries
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let at = Instant::now();
    for (name, summary) in fetched {
        match summary {
            Some(s) => {
                let s = Arc::new(s);
                cache.insert(name.clone(), Fetched::Summary(at, s.clone()));
                out.insert(name, s);
            }
            None => {
                cache.insert(name, Fetched::Failed(at));
            }
        }
    }
    // Nodes gone since are forgotten.
    cache.retain(|_, f| match f {
        Fetched::Summary(t, _) | Fetched::Failed(t) => at.duration_since(*t) < RETRY_AFTER,
    });
    out
}

fn kubelet_tls(state: &ApiServer) -> Option<Arc<rustls::ClientConfig>> {
    if let Some(tls) = state.node_stats.tls.get() {
        return Some(tls.clone());
    }
    match crate::tls::kubelet_client_config_from(&state.config.dir.join("tls")) {
        Ok(tls) => Some(state.node_stats.tls.get_or_init(|| tls).clone()),
        Err(e) => {
            tracing::warn!(error = %e, "no kubelet client certificate: no metrics");
            None
        }
    }
}

/// `GET /stats/summary` from the node's kubelet.
async fn fetch(tls: Arc<rustls::ClientConfig>, node: &Value) -> Result<Value, ApiError> {
    let (host, port) = crate::proxy::kubelet_address(node)?;
    let (mut sender, authority) = crate::proxy::connect(tls, &host, port).await?;
    let req = http::Request::get("/stats/summary")
        .header(header::HOST, authority)
        .header(header::ACCEPT, "application/json")
        .body(Full::new(Bytes::new()))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| ApiError::internal(format!("error talking to the kubelet: {e}")))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::internal(format!("error reading the kubelet's answer: {e}")))?
        .to_bytes();
    if status != StatusCode::OK {
        return Err(ApiError::internal(format!(
            "the kubelet answered {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::internal(format!("the kubelet's summary is not JSON: {e}")))
}

/// metrics-server's Table: the name, cpu, memory (a pod's summed over its containers) and the
/// window.
fn table(pods: bool, items: &[Value]) -> Value {
    let column = |name: &str, format: &str, description: &str| {
        json!({"name": name, "type": "string", "format": format, "description": description,
            "priority": 0})
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let (cpu, memory) = if pods {
                let mut sum: BTreeMap<&str, i128> = BTreeMap::new();
                for c in item["containers"].as_array().into_iter().flatten() {
                    for (resource, nano) in [("cpu", true), ("memory", false)] {
                        let q = c["usage"][resource].as_str().unwrap_or("0");
                        let v = Quantity::parse(q)
                            .map_or(0, |q| if nano { q.nano_value() } else { q.value() });
                        *sum.entry(resource).or_default() += v;
                    }
                }
                let cpu = u64::try_from(sum.get("cpu").copied().unwrap_or(0)).unwrap_or(0);
                let memory = u64::try_from(sum.get("memory").copied().unwrap_or(0)).unwrap_or(0);
                (nano_cores(cpu), binary_bytes(memory))
            } else {
                let text = |r: &str| item["usage"][r].as_str().unwrap_or_default().to_owned();
                (text("cpu"), text("memory"))
            };
            json!({
                "cells": [item["metadata"]["name"], cpu, memory, item["window"]],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": item["metadata"]},
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [
            column("Name", "name", "Name of the resource"),
            column("cpu", "quantity", ""),
            column("memory", "quantity", ""),
            column("Window", "duration", ""),
        ],
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_quantities_as_metrics_server_writes_them() {
        assert_eq!(nano_cores(250_000_000), "250m");
        assert_eq!(nano_cores(1_234_567), "1234567n");
        assert_eq!(nano_cores(2_000_000_000), "2");
        assert_eq!(nano_cores(0), "0");
        assert_eq!(binary_bytes(12 << 20), "12Mi");
        assert_eq!(binary_bytes(12345 * 1024), "12345Ki");
        assert_eq!(binary_bytes(1000), "1000");
        assert_eq!(binary_bytes(0), "0");
    }

    #[test]
    fn usage_needs_both_figures() {
        let c = json!({"cpu": {"usageNanoCores": 5_000_000u64},
            "memory": {"workingSetBytes": 4u64 << 20}});
        assert_eq!(usage(&c), Some(json!({"cpu": "5m", "memory": "4Mi"})));
        assert_eq!(usage(&json!({"cpu": {"usageNanoCores": 1}})), None);
        assert_eq!(usage(&json!({"memory": {"workingSetBytes": 1}})), None);
    }

    #[test]
    fn pods_are_selected_by_labels_and_fields() {
        let pod = json!({"metadata": {"name": "web-1", "namespace": "default",
            "labels": {"app": "web"}}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let label = |s: &str| LabelSelector::parse(s).unwrap();
        let field = |s: &str| FieldSelector::parse(s).unwrap();
        assert!(selected(&pod, "Pod", None, &label("app=web"), &field("")));
        assert!(!selected(&pod, "Pod", None, &label("app=db"), &field("")));
        assert!(selected(&pod, "Pod", Some("web-1"), &label(""), &field("")));
        assert!(!selected(
            &pod,
            "Pod",
            Some("web-2"),
            &label(""),
            &field("")
        ));
        assert!(selected(
            &pod,
            "Pod",
            None,
            &label(""),
            &field("spec.nodeName=n1")
        ));
        assert!(!selected(
            &pod,
            "Pod",
            None,
            &label(""),
            &field("status.phase=Pending")
        ));
        assert!(selected(
            &pod,
            "Pod",
            None,
            &label(""),
            &field("metadata.name=web-1")
        ));
    }

    #[test]
    fn tables_sum_a_pods_containers() {
        let pod = json!({"metadata": {"name": "web-1", "namespace": "default"}, "window": "15s",
            "containers": [{"name": "a", "usage": {"cpu": "250m", "memory": "4Mi"}},
                {"name": "b", "usage": {"cpu": "1234567n", "memory": "1Mi"}}]});
        let t = table(true, &[pod]);
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["web-1", "251234567n", "5Mi", "15s"])
        );
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 4);
    }
}
