//! Maps a URL onto the API: the fixed endpoints (`/version`, health, discovery, OpenAPI) and
//! the resource paths `/api/v1/...` and `/apis/{group}/{version}/...`, parsed against the
//! registry into a [`Target`] for the handlers.

use std::sync::Arc;
use std::time::Instant;

use barge_api::{ApiError, Resource};
use http::{Method, StatusCode};
use serde_json::json;

use crate::authn::{self, Authenticated, Outcome};
use crate::metrics::Labels;
use crate::request::{self, Format, Query, Response};
use crate::{
    ApiServer, KUBERNETES_VERSION, authz, discovery, handlers, openapi, resource_metrics, reviews,
    watch,
};

/// What a resource URL names.
#[derive(Clone, Debug)]
pub struct Target {
    pub resource: Arc<Resource>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Answers one request: from a connection, or from an in-process client (any body type).
pub async fn dispatch<B: RequestBody>(state: Arc<ApiServer>, req: http::Request<B>) -> Response {
    let started = Instant::now();
    let path = req.uri().path().to_owned();
    // Joining nodes authenticate with the node token, which only this handler knows.
    if crate::join::is_join_path(&path) {
        return crate::join::handle(&state, req)
            .await
            .unwrap_or_else(|e| request::error(&e));
    }
    let mut req = req;
    if let Err(e) = authenticate_and_authorize(&state, &mut req, &path).await {
        let labels = labels_for(req.method(), req.uri(), None);
        let response = request::error(&e);
        state
            .metrics
            .observe(labels, response.status().as_u16(), started.elapsed());
        return response;
    }
    if let Some(target) = crate::proxy::target(&path) {
        return proxied(state, req, target, started).await;
    }
    let target = resource_target(&state, &path);
    let rbac_write = request::is_write(req.method())
        && matches!(&target, Some(Ok(t)) if t.resource.group == authz::RBAC_GROUP);
    let labels = labels_for(
        req.method(),
        req.uri(),
        target.as_ref().and_then(|t| t.as_ref().ok()),
    );
    let response = match target {
        Some(Ok(target)) => {
            let format = request::negotiate(req.headers());
            resource(state.clone(), req, target, format).await
        }
        Some(Err(e)) => Err(e),
        None => route(&state, req),
    };
    let response = response.unwrap_or_else(|e| request::error(&e));
    if rbac_write && response.status().is_success() {
        // The writer's next request must see the policy it just changed.
        if let Err(e) = authz::refresh(&state).await {
            tracing::warn!(error = %e, "cannot rebuild the RBAC policy");
        }
    }
    let code = response.status().as_u16();
    tracing::debug!(verb = %labels.verb, %path, code, elapsed = ?started.elapsed());
    state.metrics.observe(labels, code, started.elapsed());
    response
}

/// Authentication, then authorization: 401 for requests without valid credentials (anonymous
/// ones only reach the public paths), 403 for what the authorizers refuse. The user goes into
/// the request's extensions for the handlers that need it (reviews, node restriction).
async fn authenticate_and_authorize<B>(
    state: &ApiServer,
    req: &mut http::Request<B>,
    path: &str,
) -> Result<(), ApiError> {
    let public = authn::is_public(path);
    let mut user = match authn::authenticate(state, req.extensions(), req.headers()).await {
        Outcome::User(user) => user,
        Outcome::Anonymous if public => return Ok(()),
        Outcome::Anonymous | Outcome::Failed => return Err(ApiError::unauthorized()),
    };
    let impersonating = authz::impersonation::requested(req.headers());
    if impersonating {
        user = authz::impersonation::impersonate(state, &user, req.headers()).await?;
    }
    if !public {
        authz::check(state, &user, req.method(), req.uri(), req.headers()).await?;
    }
    if impersonating || req.extensions().get::<Authenticated>().is_none() {
        req.extensions_mut().insert(Authenticated(user));
    }
    Ok(())
}

/// A subresource answered by the pod's kubelet (`pods/log`, `pods/exec`, ...; see `proxy`).
async fn proxied<B: RequestBody>(
    state: Arc<ApiServer>,
    req: http::Request<B>,
    target: crate::proxy::Target,
    started: Instant,
) -> Response {
    let (resource, scope) = match target.kind {
        crate::proxy::Kind::NodeProxy => ("nodes", "resource"),
        _ => ("pods", "resource"),
    };
    let labels = Labels {
        verb: crate::proxy::verb(&target, req.method()).to_owned(),
        group: String::new(),
        version: "v1".to_owned(),
        resource: resource.to_owned(),
        subresource: target.kind.subresource().to_owned(),
        scope: scope.to_owned(),
    };
    let response = crate::proxy::serve(state.clone(), req, target)
        .await
        .unwrap_or_else(|e| request::error(&e));
    state
        .metrics
        .observe(labels, response.status().as_u16(), started.elapsed());
    response
}

/// The resource a path names, if it is a resource path (`/api/v1/...`, `/apis/g/v/...`).
fn resource_target(state: &ApiServer, path: &str) -> Option<Result<Target, ApiError>> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => {
            Some(parse_target(state, "", version, rest))
        }
        ["apis", group, version, rest @ ..] if !rest.is_empty() => {
            Some(parse_target(state, group, version, rest))
        }
        _ => None,
    }
}

/// The metric labels of a request, as upstream's request info names them.
fn labels_for(method: &Method, uri: &http::Uri, target: Option<&Target>) -> Labels {
    let Some(t) = target else {
        return Labels {
            verb: method.as_str().to_owned(),
            ..Labels::default()
        };
    };
    let watch = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match (method, t.name.is_some()) {
        (&Method::GET, true) => "GET",
        (&Method::GET, false) if watch => "WATCH",
        (&Method::GET, false) => "LIST",
        (&Method::DELETE, false) => "DELETECOLLECTION",
        (m, _) => m.as_str(),
    };
    let scope = match (&t.name, &t.namespace) {
        (Some(_), _) => "resource",
        (None, Some(_)) => "namespace",
        (None, None) => "cluster",
    };
    Labels {
        verb: verb.to_owned(),
        group: t.resource.group.clone(),
        version: t.resource.version.clone(),
        resource: t.resource.plural.clone(),
        subresource: t.subresource.clone().unwrap_or_default(),
        scope: scope.to_owned(),
    }
}

/// What a request body may be: hyper's from a connection, or an in-process client's.
pub trait RequestBody:
    hyper::body::Body<Data = bytes::Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
    + Send
    + 'static
{
}

impl<B> RequestBody for B where
    B: hyper::body::Body<
            Data = bytes::Bytes,
            Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        > + Send
        + 'static
{
}

/// The endpoints that are not resources.
fn route<B>(state: &ApiServer, req: http::Request<B>) -> Result<Response, ApiError> {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match (req.method(), segments.as_slice()) {
        (&Method::GET, ["version"]) => Ok(request::ok(&version(), Format::Json)),
        (&Method::GET, ["healthz" | "livez" | "readyz", ..]) => Ok(plain("ok".into())),
        (&Method::GET, ["metrics"]) => Ok(plain(state.metrics.render())),
        (&Method::GET, ["api"]) => Ok(discovery::core(state, req.headers())),
        (&Method::GET, ["apis"]) => Ok(discovery::groups(state, req.headers())),
        (&Method::GET, ["api", version]) => discovery::resource_list(state, "", version),
        (&Method::GET, ["apis", group]) => discovery::group(state, group),
        (&Method::GET, ["apis", group, version]) => discovery::resource_list(state, group, version),
        (&Method::GET, ["openapi", "v2"]) => openapi::v2(state, req.headers()),
        (&Method::GET, ["openapi", "v3"]) => Ok(openapi::root(state)),
        (&Method::GET, ["openapi", "v3", rest @ ..]) => openapi::group_version(state, rest),
        _ => Err(ApiError::path_not_found()),
    }
}

fn version() -> serde_json::Value {
    let minor = KUBERNETES_VERSION.split('.').nth(1).unwrap_or("32");
    json!({
        "major": "1",
        "minor": minor,
        "gitVersion": KUBERNETES_VERSION,
        "gitCommit": concat!("barge-", env!("CARGO_PKG_VERSION")),
        "gitTreeState": "clean",
        "buildDate": "2026-11-25T00:00:00Z",
        "goVersion": "n/a (barge is written in Rust)",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

fn plain(text: String) -> Response {
    http::Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(request::full(text))
        .expect("a valid response")
}

/// Parses `[namespaces/{ns}/]{resource}[/{name}[/{subresource}]]`.
fn parse_target(
    state: &ApiServer,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Target, ApiError> {
    let registry = state.registry.read().unwrap_or_else(|p| p.into_inner());
    let lookup = |plural: &str| registry.get(group, version, plural).cloned();
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] if lookup(plural).is_some_and(|r| r.namespaced) => {
            (Some((*ns).to_owned()), [&[*plural][..], tail].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return Err(ApiError::path_not_found()),
    };
    let resource = lookup(plural).ok_or_else(ApiError::path_not_found)?;
    if let Some(sub) = sub
        && resource.subresource(sub).is_none()
    {
        return Err(ApiError::path_not_found());
    }
    Ok(Target {
        resource,
        namespace,
        name: name.map(str::to_owned),
        subresource: sub.map(str::to_owned),
    })
}

async fn resource<B: RequestBody>(
    state: Arc<ApiServer>,
    req: http::Request<B>,
    target: Target,
    format: Format,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let query = Query::parse(parts.uri.query())?;
    let ctype = request::content_type(&parts.headers);
    let user_agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = if request::is_write(&parts.method) {
        request::read_body(body).await?
    } else {
        bytes::Bytes::new()
    };
    let user = parts
        .extensions
        .get::<Authenticated>()
        .map(|Authenticated(u)| u.clone())
        .ok_or_else(ApiError::unauthorized)?;
    if reviews::is_review(&target) {
        return reviews::create(&state, &user, &target, &parts.method, &ctype, &body).await;
    }
    if resource_metrics::is_metrics(&target) {
        return resource_metrics::serve(&state, &target, &parts.method, &query, format).await;
    }
    if parts.method == Method::POST && target.name.is_none() {
        authz::node::restrict_create(&user, &target, &ctype, &body)?;
    }
    let ctx = handlers::Call {
        state,
        target,
        query,
        format,
        content_type: ctype,
        body,
        user_agent,
        applied: false,
    };
    let collection = ctx.target.name.is_none();
    match (parts.method, collection) {
        (Method::GET, true) if ctx.query.watch => watch::serve(ctx).await,
        (Method::GET, true) => handlers::list(ctx).await,
        (Method::GET, false) => handlers::get(ctx).await,
        (Method::POST, true) => handlers::create(ctx).await,
        (Method::POST, false) => handlers::create_subresource(ctx).await,
        (Method::PUT, false) => handlers::update(ctx).await,
        (Method::PATCH, false) => handlers::patch(ctx).await,
        (Method::DELETE, false) => handlers::delete(ctx).await,
        (Method::DELETE, true) => handlers::delete_collection(ctx).await,
        (method, _) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}
