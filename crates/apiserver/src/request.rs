//! A request as the handlers see it: the parsed resource path, the query parameters Kubernetes
//! defines, the negotiated response format, and the body decoded from JSON, YAML or protobuf.

use std::convert::Infallible;

use barge_api::ApiError;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use serde_json::Value;

pub type Body = BoxBody<Bytes, Infallible>;
pub type Response = http::Response<Body>;

/// The largest request body accepted (upstream: 3 MiB for JSON).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// The query parameters of the Kubernetes API that change what a call does.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub watch: bool,
    pub timeout_seconds: Option<u64>,
    pub allow_watch_bookmarks: bool,
    pub send_initial_events: bool,
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: Option<String>,
    pub force: bool,
    pub include_object: Option<String>,
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
}

fn truthy(v: &str) -> bool {
    matches!(v, "true" | "1" | "True")
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = Query::default();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let v = v.into_owned();
            let number = |what: &str| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "invalid value {v:?} for {what}: must be an integer"
                    ))
                })
            };
            match k.as_ref() {
                "labelSelector" => q.label_selector = Some(v),
                "fieldSelector" => q.field_selector = Some(v),
                "limit" => q.limit = Some(usize::try_from(number("limit")?.max(0)).unwrap_or(0)),
                "continue" => q.continue_token = Some(v).filter(|s| !s.is_empty()),
                "resourceVersion" => q.resource_version = Some(v).filter(|s| !s.is_empty()),
                "resourceVersionMatch" => q.resource_version_match = Some(v),
                "watch" => q.watch = truthy(&v),
                "timeoutSeconds" => {
                    q.timeout_seconds = Some(u64::try_from(number("timeoutSeconds")?).unwrap_or(0))
                }
                "allowWatchBookmarks" => q.allow_watch_bookmarks = truthy(&v),
                "sendInitialEvents" => q.send_initial_events = truthy(&v),
                "dryRun" => {
                    if v != "All" {
                        return Err(ApiError::bad_request(format!(
                            "invalid dry run option {v:?}: the only supported value is \"All\""
                        )));
                    }
                    q.dry_run = true;
                }
                "fieldManager" => q.field_manager = Some(v),
                "fieldValidation" => q.field_validation = Some(v),
                "force" => q.force = truthy(&v),
                "includeObject" => q.include_object = Some(v),
                "propagationPolicy" => q.propagation_policy = Some(v),
                "gracePeriodSeconds" => {
                    q.grace_period_seconds = Some(number("gracePeriodSeconds")?)
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

/// The representation the client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    /// `application/json;as=Table;v=v1;g=meta.k8s.io`
    Table,
    Yaml,
}

/// Picks the first acceptable representation from the Accept header.
pub fn negotiate(headers: &HeaderMap) -> Format {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or_default();
        let params: Vec<&str> = params.collect();
        match media {
            "application/json"
                if params.contains(&"as=Table")
                    && params.iter().any(|p| *p == "v=v1" || *p == "v=v1beta1") =>
            {
                return Format::Table;
            }
            "application/json" | "application/vnd.kubernetes.protobuf" | "*/*" => {
                return Format::Json;
            }
            "application/yaml" => return Format::Yaml,
            _ => {}
        }
    }
    Format::Json
}

/// The media type of the body, without parameters.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Reads the whole body, refusing more than [`MAX_BODY`].
pub async fn read_body(body: impl crate::router::RequestBody) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::too_large(
            "the request body is larger than the limit of 3 MiB",
        )),
        Err(e) => Err(ApiError::bad_request(format!(
            "cannot read the request body: {e}"
        ))),
    }
}

/// Decodes a create or update body by its content type: JSON (also when none is given, as the
/// Python client sends), YAML, or Kubernetes protobuf.
pub fn decode_object(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    match content_type {
        "" | "application/json" => decode_json(body),
        "application/yaml" | "application/x-yaml" | "text/yaml" => decode_yaml(body),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

pub fn decode_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })
}

pub fn decode_yaml(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the YAML body of the request is not valid UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
}

pub fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

/// A JSON (or YAML) answer.
pub fn respond(code: StatusCode, value: &Value, format: Format) -> Response {
    let (ctype, body) = match format {
        Format::Yaml => (
            "application/yaml",
            serde_saphyr::to_string(value)
                .unwrap_or_default()
                .into_bytes(),
        ),
        _ => (
            "application/json",
            serde_json::to_vec(value).unwrap_or_default(),
        ),
    };
    http::Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, ctype)
        .body(full(body))
        .expect("a valid response")
}

/// A 200 answer of JSON already serialised.
pub fn ok_json_bytes(body: Vec<u8>) -> Response {
    http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(body))
        .expect("a valid response")
}

pub fn ok(value: &Value, format: Format) -> Response {
    respond(StatusCode::OK, value, format)
}

pub fn error(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    respond(code, &e.status(), Format::Json)
}

pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_accept_header_means_table() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
                .parse()
                .unwrap(),
        );
        assert_eq!(negotiate(&h), Format::Table);
        h.insert(
            header::ACCEPT,
            "application/vnd.kubernetes.protobuf,application/json"
                .parse()
                .unwrap(),
        );
        assert_eq!(negotiate(&h), Format::Json);
        assert_eq!(negotiate(&HeaderMap::new()), Format::Json);
    }

    #[test]
    fn query_parameters_parse() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb&limit=500&watch=true&dryRun=All",
        ))
        .unwrap();
        assert_eq!(q.label_selector.as_deref(), Some("app=web"));
        assert_eq!(q.limit, Some(500));
        assert!(q.watch && q.dry_run);
        assert_eq!(Query::parse(Some("limit=x")).unwrap_err().code, 400);
        assert_eq!(Query::parse(Some("dryRun=Some")).unwrap_err().code, 400);
    }

    #[test]
    fn bodies_decode_by_content_type() {
        assert_eq!(decode_object("", br#"{"a":1}"#).unwrap()["a"], 1);
        assert_eq!(
            decode_object("application/yaml", b"a: 1\nb: [x]\n").unwrap()["b"][0],
            "x"
        );
        assert_eq!(
            decode_object("application/json", b"{").unwrap_err().code,
            400
        );
        assert_eq!(
            decode_object("application/yaml", b"a: [").unwrap_err().code,
            400
        );
        assert_eq!(decode_object("text/plain", b"x").unwrap_err().code, 415);
    }
}
