//! OpenAPI v3: the root index and one document per group version. kubectl's `apply` and
//! `create -f` look here for a PATCH operation of the object's kind that takes the
//! `fieldValidation` parameter before they trust the server to validate fields; without it they
//! fail. `kubectl explain` reads the schemas: the built-in kinds' from `barge_api::schemas`
//! (upstream's 1.32 definitions), custom resources' from their definitions.

use std::sync::Arc;

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
    if let Some(name) = barge_api::schemas::definition_name(&r.group, &r.version, &r.kind) {
        return name.to_owned();
    }
    // Custom resources, named as upstream does: reversed group, version, kind.
    let group: Vec<&str> = r.group.split('.').rev().collect();
    format!("{}.{}.{}", group.join("."), r.version, r.kind)
}

fn gvk(r: &Resource) -> Value {
    json!([{"group": r.group, "version": r.version, "kind": r.kind}])
}

fn document(resources: &[&Resource]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    if let Some(r) = resources.iter().find(|r| !r.custom) {
        schemas = barge_api::schemas::components(&r.group, &r.version);
    }
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
        if !r.custom {
            continue;
        }
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

/// One group version's path (`apis/apps/v1`), document and hash.
type Document = (String, Value, String);

/// The documents of every group version with their hashes, built once per registry change.
#[derive(Debug, Default)]
pub struct Documents {
    built: std::sync::Mutex<Option<(u64, Arc<Vec<Document>>)>>,
}

fn group_versions(state: &ApiServer) -> Arc<Vec<Document>> {
    let registry = state.registry.read().unwrap_or_else(|p| p.into_inner());
    let mut built = state
        .openapi
        .built
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((generation, docs)) = built.as_ref()
        && *generation == registry.generation()
    {
        return docs.clone();
    }
    let docs: Vec<Document> = registry
        .groups()
        .into_iter()
        .flat_map(|(g, versions)| versions.into_iter().map(move |v| (g.clone(), v)))
        .map(|(g, v)| {
            let doc = document(&registry.group_version(&g, &v));
            let h = hash(&doc);
            (gv_path(&g, &v), doc, h)
        })
        .collect();
    let docs = Arc::new(docs);
    *built = Some((registry.generation(), docs.clone()));
    docs
}

/// `GET /openapi/v3`
pub fn root(state: &ApiServer) -> Response {
    let mut paths = Map::new();
    for (path, _, hash) in group_versions(state).iter() {
        let url = format!("/openapi/v3/{path}?hash={hash}");
        paths.insert(path.clone(), json!({"serverRelativeURL": url}));
    }
    request::ok(&json!({"paths": paths}), Format::Json)
}

/// `GET /openapi/v3/api/v1`, `GET /openapi/v3/apis/{group}/{version}`
pub fn group_version(state: &ApiServer, rest: &[&str]) -> Result<Response, ApiError> {
    let wanted = rest.join("/");
    let docs = group_versions(state);
    let (_, doc, _) = docs
        .iter()
        .find(|(path, _, _)| *path == wanted)
        .ok_or_else(|| {
            let mut e = ApiError::bad_request("the server could not find the requested resource");
            (e.code, e.reason) = (404, "NotFound");
            e
        })?;
    let mut response = request::ok(doc, Format::Json);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, immutable"),
    );
    Ok(response)
}
