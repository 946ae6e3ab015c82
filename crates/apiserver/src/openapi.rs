//! OpenAPI v3: the root index and one document per group version (and the v2 document, JSON or
//! protobuf, built from the same schemas). kubectl's `apply` and `create -f` look here for a
//! PATCH operation of the object's kind that takes the `fieldValidation` parameter before they
//! trust the server to validate fields; without it they fail (and for a `kind: List` they
//! validate on their side, against v2). `kubectl explain` reads the schemas: the built-in kinds'
//! from `barge_api::schemas` (upstream's 1.32 definitions), custom resources' from their
//! definitions.

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
        .ok_or_else(ApiError::path_not_found)?;
    let mut response = request::ok(doc, Format::Json);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, immutable"),
    );
    Ok(response)
}

/// A v3 schema rewritten for Swagger 2.0: references into `#/definitions/`, and the v3-only
/// `oneOf` of IntOrString and Quantity as upstream writes them in v2 (a string with a format).
fn to_v2(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            if m.contains_key("oneOf") {
                let format = m.get("format").cloned().unwrap_or(json!("int-or-string"));
                let mut out = json!({"type": "string", "format": format});
                if let Some(d) = m.get("description") {
                    out["description"] = d.clone();
                }
                return out;
            }
            let mut out = Map::new();
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        let target = r.replace("#/components/schemas/", "#/definitions/");
                        out.insert(k.clone(), json!(target));
                    }
                    ("nullable", _) => {}
                    _ => {
                        out.insert(k.clone(), to_v2(v));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(to_v2).collect()),
        other => other.clone(),
    }
}

/// The media type of the protobuf Swagger 2.0 document (gnostic's `openapi.v2.Document`).
const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// `GET /openapi/v2`: every group version's paths and definitions in one Swagger 2.0 document,
/// as JSON or, for kubectl, in protobuf ([`crate::openapi_proto`]; its client-side validation
/// of `kind: List` files reads the definitions).
pub fn v2(state: &ApiServer, headers: &http::HeaderMap) -> Result<Response, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media: Vec<&str> = accept
        .split(',')
        .map(|a| a.split(';').next().unwrap_or_default().trim())
        .collect();
    let json = media
        .iter()
        .any(|m| matches!(*m, "application/json" | "*/*" | ""));
    if !json && !media.contains(&V2_PROTOBUF) {
        return Err(ApiError::path_not_found());
    }
    let doc = v2_document(state);
    if !json {
        let mut response = http::Response::new(request::full(crate::openapi_proto::document(&doc)));
        // As upstream's handler: clients parse the type, and Go's parser refuses the `@`.
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/octet-stream"),
        );
        return Ok(response);
    }
    Ok(request::ok(&doc, Format::Json))
}

/// The Swagger 2.0 document of every group version the server serves.
fn v2_document(state: &ApiServer) -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for (_, doc, _) in group_versions(state).iter() {
        if let Some(p) = doc["paths"].as_object() {
            for (path, item) in p {
                let mut item = to_v2(item);
                for op in item
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|o| o.values_mut())
                {
                    for param in op["parameters"].as_array_mut().into_iter().flatten() {
                        if let Some(p) = param.as_object_mut() {
                            p.remove("schema");
                            p.insert("type".into(), json!("string"));
                            p.insert("uniqueItems".into(), json!(true));
                        }
                    }
                    if let Some(schema) = op["responses"]["200"]["content"]["application/json"]
                        .get("schema")
                        .cloned()
                    {
                        op["responses"]["200"] = json!({"description": "OK", "schema": schema});
                    }
                }
                paths.insert(path.clone(), item);
            }
        }
        if let Some(schemas) = doc["components"]["schemas"].as_object() {
            for (name, schema) in schemas {
                definitions
                    .entry(name.clone())
                    .or_insert_with(|| to_v2(schema));
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": crate::KUBERNETES_VERSION},
        "paths": paths,
        "definitions": definitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_schemas_become_swagger_2() {
        let v3 = json!({"properties": {
            "port": {"oneOf": [{"type": "integer"}, {"type": "string"}], "format": "int-or-string"},
            "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}],
                     "nullable": true}}});
        let v2 = to_v2(&v3);
        assert_eq!(
            v2["properties"]["port"],
            json!({"type": "string", "format": "int-or-string"})
        );
        assert_eq!(
            v2["properties"]["spec"]["allOf"][0]["$ref"],
            "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
        );
        assert!(v2["properties"]["spec"].get("nullable").is_none());
    }
}
