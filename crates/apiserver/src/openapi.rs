//! OpenAPI v3: the root index and one document per group version. kubectl's `apply` and
//! `create -f` look here for a PATCH operation of the object's kind that takes the
//! `fieldValidation` parameter before they trust the server to validate fields; without it they
//! fail. Each kind also gets a schema entry: CRD schemas as given, built-in kinds (for now) an
//! outline of their top-level fields.

use barge_api::{ApiError, Resource};
use http::header;
use serde_json::{Map, Value, json};

use crate::ApiServer;
use crate::request::{self, Format, Response};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn schema_name(r: &Resource) -> String {
    let group = if r.group.is_empty() { "core" } else { &r.group };
    format!("io.k8s.api.{group}.{}.{}", r.version, r.kind)
}

fn gvk(r: &Resource) -> Value {
    json!([{"group": r.group, "version": r.version, "kind": r.kind}])
}

fn document(resources: &[&Resource]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for r in resources {
        let base = if r.group.is_empty() {
            format!("/api/{}", r.version)
        } else {
            format!("/apis/{}/{}", r.group, r.version)
        };
        let item = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        let reference = json!({"$ref": format!("#/components/schemas/{}", schema_name(r))});
        let op = |verb: &str, action: &str| {
            json!({
                "operationId": format!("{verb}{}", r.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
                "parameters": [
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                ],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
            })
        };
        paths.insert(
            item,
            json!({"get": op("read", "get"), "put": op("replace", "put"), "patch": op("patch", "patch"),
                   "delete": op("delete", "delete")}),
        );
        let schema = r.schema.clone().unwrap_or_else(|| {
            json!({
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
                    "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
                    "metadata": {"type": "object", "description": "Standard object's metadata."},
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                },
            })
        });
        let mut schema = schema;
        schema["x-kubernetes-group-version-kind"] = gvk(r);
        schemas.insert(schema_name(r), schema);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::KUBERNETES_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn hash(doc: &Value) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, doc.to_string().as_bytes());
    digest.as_ref()[..32]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

fn group_versions(state: &ApiServer) -> Vec<(String, String, Value)> {
    let registry = state.registry.read().unwrap_or_else(|p| p.into_inner());
    registry
        .groups()
        .into_iter()
        .flat_map(|(g, versions)| versions.into_iter().map(move |v| (g.clone(), v)))
        .map(|(g, v)| {
            let doc = document(&registry.group_version(&g, &v));
            (g, v, doc)
        })
        .collect()
}

/// `GET /openapi/v3`
pub fn root(state: &ApiServer) -> Response {
    let mut paths = Map::new();
    for (g, v, doc) in group_versions(state) {
        let path = gv_path(&g, &v);
        let url = format!("/openapi/v3/{path}?hash={}", hash(&doc));
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    request::ok(&json!({"paths": paths}), Format::Json)
}

/// `GET /openapi/v3/api/v1`, `GET /openapi/v3/apis/{group}/{version}`
pub fn group_version(state: &ApiServer, rest: &[&str]) -> Result<Response, ApiError> {
    let wanted = rest.join("/");
    let (_, _, doc) = group_versions(state)
        .into_iter()
        .find(|(g, v, _)| gv_path(g, v) == wanted)
        .ok_or_else(|| {
            let mut e = ApiError::bad_request("the server could not find the requested resource");
            (e.code, e.reason) = (404, "NotFound");
            e
        })?;
    let mut response = request::ok(&doc, Format::Json);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, immutable"),
    );
    Ok(response)
}
