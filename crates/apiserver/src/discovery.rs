//! Discovery: what kubectl reads to learn the resources. Aggregated discovery
//! (`apidiscovery.k8s.io/v2`, two requests) when the client asks for it, the legacy documents
//! (`APIVersions`, `APIGroupList`, `APIResourceList`) otherwise.

use barge_api::{ApiError, Resource};
use http::{HeaderMap, header};
use serde_json::{Value, json};

use crate::ApiServer;
use crate::request::{self, Format, Response};

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.split(',').any(|part| {
                let p: Vec<&str> = part.split(';').map(str::trim).collect();
                p.contains(&"g=apidiscovery.k8s.io")
                    && p.contains(&"v=v2")
                    && p.contains(&"as=APIGroupDiscoveryList")
            })
        })
}

fn aggregated(items: Vec<Value>) -> Response {
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    });
    http::Response::builder()
        .header(header::CONTENT_TYPE, AGGREGATED)
        .header(header::VARY, "Accept")
        .body(request::full(serde_json::to_vec(&body).unwrap_or_default()))
        .expect("a valid response")
}

fn discovery_resource(r: &Resource) -> Value {
    let mut v = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        v["subresources"] = json!(
            r.subresources
                .iter()
                .map(|s| json!({
                    "subresource": s.name,
                    "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                    "verbs": s.verbs,
                }))
                .collect::<Vec<_>>()
        );
    }
    v
}

fn group_discovery(state: &ApiServer, group: &str, versions: &[String]) -> Value {
    let registry = state.registry.read().unwrap_or_else(|p| p.into_inner());
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = registry
                .group_version(group, v)
                .into_iter()
                .map(discovery_resource)
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut metadata = json!({"creationTimestamp": null});
    if !group.is_empty() {
        metadata["name"] = json!(group);
    }
    json!({"metadata": metadata, "versions": versions})
}

fn groups_of(state: &ApiServer) -> Vec<(String, Vec<String>)> {
    state
        .registry
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .groups()
}

/// `GET /api`
pub fn core(state: &ApiServer, headers: &HeaderMap) -> Response {
    if wants_aggregated(headers) {
        return aggregated(vec![group_discovery(state, "", &["v1".to_owned()])]);
    }
    request::ok(
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("{}:{}", state.config.bind_address, state.config.https_port)}],
        }),
        Format::Json,
    )
}

fn api_group(group: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    json!({
        "name": group,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": gv(&versions[0]),
    })
}

/// `GET /apis`
pub fn groups(state: &ApiServer, headers: &HeaderMap) -> Response {
    let groups: Vec<(String, Vec<String>)> = groups_of(state)
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .collect();
    if wants_aggregated(headers) {
        return aggregated(
            groups
                .iter()
                .map(|(g, versions)| group_discovery(state, g, versions))
                .collect(),
        );
    }
    let list: Vec<Value> = groups.iter().map(|(g, v)| api_group(g, v)).collect();
    request::ok(
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
        Format::Json,
    )
}

/// `GET /apis/{group}`
pub fn group(state: &ApiServer, group: &str) -> Result<Response, ApiError> {
    let groups = groups_of(state);
    let (_, versions) = groups
        .iter()
        .find(|(g, _)| g == group)
        .ok_or_else(ApiError::path_not_found)?;
    let mut doc = api_group(group, versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Ok(request::ok(&doc, Format::Json))
}

/// `GET /api/v1`, `GET /apis/{group}/{version}`
pub fn resource_list(state: &ApiServer, group: &str, version: &str) -> Result<Response, ApiError> {
    let registry = state.registry.read().unwrap_or_else(|p| p.into_inner());
    let resources = registry.group_version(group, version);
    if resources.is_empty() {
        return Err(ApiError::path_not_found());
    }
    let mut list = Vec::new();
    for r in resources {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        list.push(entry);
        for s in &r.subresources {
            let mut sub = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if s.group != r.group || s.version != r.version {
                sub["group"] = json!(s.group);
                sub["version"] = json!(s.version);
            }
            list.push(sub);
        }
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Ok(request::ok(
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
        Format::Json,
    ))
}
