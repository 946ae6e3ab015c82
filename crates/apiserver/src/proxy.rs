//! The subresources the API server answers by calling the pod's kubelet: `pods/log`,
//! `pods/exec`, `pods/attach`, `pods/portforward` and `nodes/proxy`.
//!
//! As upstream (`pkg/registry/core/pod/strategy.go`, `pkg/registry/core/node/strategy.go`): the
//! pod is read, its container checked (`container x is not valid for pod y`, `a container name
//! must be specified ...`), its node read, and the kubelet reached at the Node's address
//! (InternalIP first, then ExternalIP, InternalDNS, ExternalDNS, Hostname) and
//! `status.daemonEndpoints.kubeletEndpoint.Port` (10250 when unset), over HTTPS with the
//! `apiserver-kubelet-client` certificate, trusting kubelet serving certificates signed by the
//! cluster CA. The kubelet URL is upstream's (`/containerLogs/{ns}/{pod}/{container}`,
//! `/exec/{ns}/{pod}/{container}?command=..&stdin=1..`, `/attach/...`,
//! `/portForward/{ns}/{pod}`, and `/{path}` for `nodes/proxy`).
//!
//! Upgrade requests (WebSocket or SPDY) pass through transparently: the upgrade headers go to
//! the kubelet, its `101` comes back to the client, and the two connections are then spliced
//! byte for byte, so the kubelet speaks whatever the client speaks. Upstream 1.32 instead
//! terminates kubectl's WebSocket in the API server and speaks SPDY to the kubelet; here the
//! kubelet does that translation. Log bodies stream through (`follow=true` stays open until
//! either side ends). A kubelet error answer that is a `Status` passes through as it is; a plain
//! text one becomes a `Status` as upstream's `GenericHttpResponseChecker` makes it.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use barge_api::{ApiError, Cause, GroupResource};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::ApiServer;
use crate::request::{self, Response};
use crate::router::RequestBody;

/// The default kubelet port (upstream's `--kubelet-port`).
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Which proxied subresource a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PodLog,
    PodExec,
    PodAttach,
    PodPortForward,
    NodeProxy,
}

impl Kind {
    /// The subresource's name, as metrics and discovery call it.
    pub fn subresource(self) -> &'static str {
        match self {
            Kind::PodLog => "log",
            Kind::PodExec => "exec",
            Kind::PodAttach => "attach",
            Kind::PodPortForward => "portforward",
            Kind::NodeProxy => "proxy",
        }
    }

    fn qualified(self) -> GroupResource {
        match self {
            Kind::NodeProxy => GroupResource::new("", "nodes/proxy"),
            k => GroupResource::new("", format!("pods/{}", k.subresource())),
        }
    }
}

/// A proxied subresource named by a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    /// The pod's namespace (None for nodes).
    pub namespace: Option<String>,
    /// The pod's or node's name.
    pub name: String,
    /// For `nodes/proxy`: the path after `proxy` (`stats/summary`), without a leading `/`.
    pub rest: String,
}

/// The proxied subresource `path` names, if any: `/api/v1/namespaces/{ns}/pods/{name}/{log,
/// exec, attach, portforward}` and `/api/v1/nodes/{name}/proxy[/{path}]`.
pub fn target(path: &str) -> Option<Target> {
    let rest = path.strip_prefix("/api/v1/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["namespaces", ns, "pods", name, sub] | ["namespaces", ns, "pods", name, sub, ""]
            if !ns.is_empty() && !name.is_empty() =>
        {
            let kind = match *sub {
                "log" => Kind::PodLog,
                "exec" => Kind::PodExec,
                "attach" => Kind::PodAttach,
                "portforward" => Kind::PodPortForward,
                _ => return None,
            };
            Some(Target {
                kind,
                namespace: Some((*ns).to_owned()),
                name: (*name).to_owned(),
                rest: String::new(),
            })
        }
        ["nodes", name, "proxy", tail @ ..] if !name.is_empty() => Some(Target {
            kind: Kind::NodeProxy,
            namespace: None,
            name: (*name).to_owned(),
            rest: tail.join("/"),
        }),
        _ => None,
    }
}

/// The metrics verb upstream records: `CONNECT` for the streaming subresources.
pub fn verb(target: &Target, method: &Method) -> &'static str {
    match (target.kind, method) {
        (Kind::PodLog, _) => "GET",
        (Kind::NodeProxy, m) if m == Method::GET => "GET",
        _ => "CONNECT",
    }
}

/// Answers one proxied request.
pub async fn serve<B: RequestBody>(
    state: Arc<ApiServer>,
    req: http::Request<B>,
    target: Target,
) -> Result<Response, ApiError> {
    let allowed = match target.kind {
        Kind::PodLog => matches!(*req.method(), Method::GET),
        Kind::PodExec | Kind::PodAttach | Kind::PodPortForward => {
            matches!(*req.method(), Method::GET | Method::POST)
        }
        Kind::NodeProxy => true,
    };
    if !allowed {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            req.method()
        )));
    }
    let pairs = query_pairs(req.uri().query());
    let (node_name, path) = match target.kind {
        Kind::NodeProxy => {
            let query = req
                .uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            (target.name.clone(), format!("/{}{query}", target.rest))
        }
        _ => pod_location(&state, &target, &pairs).await?,
    };
    let Some(node_name) = node_name_or_empty(node_name) else {
        // A pod not yet on a node has no logs: upstream answers an empty body.
        return Ok(text_response(StatusCode::OK, Bytes::new()));
    };
    let node = read_object(&state, "nodes", None, &node_name).await?;
    let (host, port) = kubelet_address(&node)?;
    let tls = crate::tls::kubelet_client_config_from(&state.config.dir.join("tls"))
        .map_err(|e| ApiError::internal(format!("cannot set up the kubelet client: {e}")))?;
    forward(req, tls, &host, port, &path, target).await
}

fn node_name_or_empty(name: String) -> Option<String> {
    (!name.is_empty()).then_some(name)
}

/// The decoded query parameters, in order (repeated keys kept).
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A boolean query parameter as upstream converts it: absent, `0` and `false` are false,
/// anything else true.
fn flag(pairs: &[(String, String)], key: &str) -> bool {
    match first(pairs, key) {
        None => false,
        Some(v) => !(v == "0" || v.eq_ignore_ascii_case("false")),
    }
}

fn integer(pairs: &[(String, String)], key: &str) -> Result<Option<i64>, ApiError> {
    first(pairs, key)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("invalid value {v:?} for {key}: must be an integer"))
            })
        })
        .transpose()
}

/// Reads an object by resource and name, as served.
async fn read_object(
    state: &ApiServer,
    plural: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<Value, ApiError> {
    let resource = {
        let registry = state.registry.read().unwrap_or_else(|p| p.into_inner());
        registry
            .get("", "v1", plural)
            .cloned()
            .ok_or_else(ApiError::path_not_found)?
    };
    let key = resource.key(namespace, name);
    let (obj, _) =
        crate::handlers::read(state.store.as_ref(), &key, &resource.group_resource(), name).await?;
    Ok(obj)
}

/// The pod's node (empty when unscheduled) and the kubelet path and query for the request.
async fn pod_location(
    state: &ApiServer,
    target: &Target,
    pairs: &[(String, String)],
) -> Result<(String, String), ApiError> {
    let ns = target.namespace.as_deref().unwrap_or("default");
    let name = target.name.as_str();
    if target.kind == Kind::PodLog {
        validate_log_options(name, pairs)?;
    }
    let pod = read_object(state, "pods", Some(ns), name).await?;
    let node = pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let container = match target.kind {
        Kind::PodPortForward => String::new(),
        _ => validate_container(first(pairs, "container").unwrap_or_default(), &pod, name)?,
    };
    if node.is_empty() && target.kind != Kind::PodLog {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    let path = match target.kind {
        Kind::PodLog => {
            for key in ["follow", "previous", "timestamps"] {
                if flag(pairs, key) {
                    out.append_pair(key, "true");
                }
            }
            for key in ["sinceSeconds", "tailLines", "limitBytes"] {
                if let Some(n) = integer(pairs, key)? {
                    out.append_pair(key, &n.to_string());
                }
            }
            if let Some(t) = first(pairs, "sinceTime") {
                out.append_pair("sinceTime", t);
            }
            format!("/containerLogs/{ns}/{name}/{container}")
        }
        Kind::PodExec | Kind::PodAttach => {
            for key in ["stdin", "stdout", "stderr", "tty"] {
                if flag(pairs, key) {
                    out.append_pair(key, "1");
                }
            }
            if target.kind == Kind::PodExec {
                for (_, c) in pairs.iter().filter(|(k, _)| k == "command") {
                    out.append_pair("command", c);
                }
                format!("/exec/{ns}/{name}/{container}")
            } else {
                format!("/attach/{ns}/{name}/{container}")
            }
        }
        Kind::PodPortForward => {
            let ports: Vec<&str> = pairs
                .iter()
                .filter(|(k, _)| k == "ports")
                .map(|(_, v)| v.as_str())
                .collect();
            if !ports.is_empty() {
                out.append_pair("port", &ports.join(","));
            }
            format!("/portForward/{ns}/{name}")
        }
        Kind::NodeProxy => return Err(ApiError::path_not_found()),
    };
    let query = out.finish();
    let path = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    Ok((node, path))
}

/// Upstream's `ValidatePodLogOptions`, as a 422 on kind PodLogOptions.
fn validate_log_options(name: &str, pairs: &[(String, String)]) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    if let Some(n) = integer(pairs, "tailLines")?
        && n < 0
    {
        causes.push(Cause::invalid(
            "tailLines",
            &Value::from(n),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(n) = integer(pairs, "limitBytes")?
        && n < 1
    {
        causes.push(Cause::invalid(
            "limitBytes",
            &Value::from(n),
            "must be greater than 0",
        ));
    }
    let since_seconds = integer(pairs, "sinceSeconds")?;
    match (since_seconds, first(pairs, "sinceTime")) {
        (Some(_), Some(_)) => causes.push(Cause::forbidden(
            "",
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        )),
        (Some(n), None) if n < 1 => causes.push(Cause::invalid(
            "sinceSeconds",
            &Value::from(n),
            "must be greater than 0",
        )),
        (None, Some(t)) if barge_api::time::parse_rfc3339(t).is_none() => {
            return Err(ApiError::bad_request(format!(
                "invalid value {t:?} for sinceTime: must be an RFC 3339 time"
            )));
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("", "PodLogOptions", name, causes))
    }
}

/// Every container name of the pod, in upstream's visiting order (init, regular, ephemeral).
fn container_names(pod: &Value) -> Vec<String> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|field| {
            pod["spec"][field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
        })
        .collect()
}

/// Upstream's `validateContainer`: the named container must exist; with none named, a pod of
/// one container means that one.
fn validate_container(container: &str, pod: &Value, name: &str) -> Result<String, ApiError> {
    if !container.is_empty() {
        return if container_names(pod).iter().any(|c| c == container) {
            Ok(container.to_owned())
        } else {
            Err(ApiError::bad_request(format!(
                "container {container} is not valid for pod {name}"
            )))
        };
    }
    let regular = pod["spec"]["containers"].as_array();
    match regular.map(Vec::len).unwrap_or(0) {
        1 => Ok(regular
            .and_then(|c| c[0]["name"].as_str())
            .unwrap_or_default()
            .to_owned()),
        0 => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}"
        ))),
        _ => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            container_names(pod).join(" ")
        ))),
    }
}

/// Where the node's kubelet listens: the first address by preferred type, and the kubelet
/// endpoint port from the Node's status.
pub fn kubelet_address(node: &Value) -> Result<(String, u16), ApiError> {
    let addresses = node["status"]["addresses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let host = [
        "InternalIP",
        "ExternalIP",
        "InternalDNS",
        "ExternalDNS",
        "Hostname",
    ]
    .iter()
    .find_map(|kind| {
        addresses.iter().find_map(|a| {
            (a["type"].as_str() == Some(kind))
                .then(|| a["address"].as_str().filter(|s| !s.is_empty()))
                .flatten()
        })
    })
    .ok_or_else(|| {
        let known: Vec<String> = addresses
            .iter()
            .map(|a| {
                format!(
                    "{{{} {}}}",
                    a["type"].as_str().unwrap_or_default(),
                    a["address"].as_str().unwrap_or_default()
                )
            })
            .collect();
        ApiError::internal(format!(
            "no preferred addresses found; known addresses: [{}]",
            known.join(" ")
        ))
    })?;
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_i64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok((host.to_owned(), port))
}

/// Whether the client asked to switch protocols (WebSocket or SPDY).
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Headers that describe one hop, not the request: not forwarded (except the upgrade pair on an
/// upgrade), nor the client's credentials.
fn forwardable(name: &header::HeaderName, upgrade: bool) -> bool {
    let hop = [
        header::CONNECTION,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ];
    if *name == header::HOST || *name == header::AUTHORIZATION || *name == header::CONTENT_LENGTH {
        return false;
    }
    if *name == header::CONNECTION || *name == header::UPGRADE {
        return upgrade;
    }
    !hop.contains(name) && name.as_str() != "keep-alive"
}

async fn forward<B: RequestBody>(
    mut req: http::Request<B>,
    tls: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    path: &str,
    target: Target,
) -> Result<Response, ApiError> {
    let upgrade = is_upgrade(req.headers());
    let client_side = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let body = if request::is_write(&parts.method) && !upgrade {
        request::read_body(body).await?
    } else {
        Bytes::new()
    };

    let (mut sender, authority) = connect(tls, host, port).await?;
    let mut builder = http::Request::builder()
        .method(parts.method.clone())
        .uri(path)
        .header(header::HOST, authority.as_str());
    for (name, value) in &parts.headers {
        if forwardable(name, upgrade) {
            builder = builder.header(name, value);
        }
    }
    let kreq = builder
        .body(Full::new(body))
        .map_err(|e| ApiError::internal(format!("cannot build the kubelet request: {e}")))?;
    let mut resp = sender
        .send_request(kreq)
        .await
        .map_err(|e| ApiError::internal(format!("error talking to the kubelet: {e}")))?;

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_side) = client_side else {
            return Err(ApiError::internal(
                "the kubelet switched protocols on a request that did not ask to",
            ));
        };
        let mut out = http::Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
        for (name, value) in resp.headers() {
            out = out.header(name, value);
        }
        let backend_side = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let (client, backend) = match (client_side.await, backend_side.await) {
                (Ok(c), Ok(b)) => (c, b),
                (c, b) => {
                    tracing::debug!(client = c.is_ok(), kubelet = b.is_ok(), "upgrade failed");
                    return;
                }
            };
            let mut client = TokioIo::new(client);
            let mut backend = TokioIo::new(backend);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
        });
        return out
            .body(request::full(Bytes::new()))
            .map_err(|e| ApiError::internal(format!("cannot build the response: {e}")));
    }

    let status = resp.status();
    if target.kind != Kind::NodeProxy && !status.is_success() {
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        return Ok(kubelet_error(status, &body, &target));
    }
    let mut out = http::Response::builder().status(status);
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
        if let Some(v) = resp.headers().get(&name) {
            out = out.header(name, v);
        }
    }
    if target.kind == Kind::PodLog && !resp.headers().contains_key(header::CONTENT_TYPE) {
        out = out.header(header::CONTENT_TYPE, "text/plain");
    }
    out.body(EndOnError(Box::pin(resp.into_body())).boxed())
        .map_err(|e| ApiError::internal(format!("cannot build the response: {e}")))
}

/// An HTTP/1.1 connection to the kubelet at `host:port` over TLS, and its authority.
pub(crate) async fn connect(
    tls: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
) -> Result<(hyper::client::conn::http1::SendRequest<Full<Bytes>>, String), ApiError> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let dial_error =
        |e: &dyn std::fmt::Display| ApiError::internal(format!("error dialing backend: {e}"));
    let tcp = tokio::time::timeout(
        DIAL_TIMEOUT,
        tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)),
    )
    .await
    .map_err(|_| dial_error(&format!("dial tcp {authority}: i/o timeout")))?
    .map_err(|e| dial_error(&format!("dial tcp {authority}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let server_name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']))
        .map_err(|e| dial_error(&format!("invalid kubelet address {host:?}: {e}")))?
        .to_owned();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(server_name, tcp)
        .await
        .map_err(|e| dial_error(&format!("tls: {e}")))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| dial_error(&e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "kubelet connection ended with an error");
        }
    });
    Ok((sender, authority))
}

/// A kubelet's error answer as the API's: a `Status` body as it is, plain text as upstream's
/// `GenericHttpResponseChecker` wraps it.
fn kubelet_error(status: StatusCode, body: &[u8], target: &Target) -> Response {
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && v["kind"] == "Status"
    {
        return request::respond(status, &v, request::Format::Json);
    }
    let text = String::from_utf8_lossy(body).trim_end().to_owned();
    let e = match status {
        StatusCode::BAD_REQUEST => ApiError::bad_request(text),
        StatusCode::NOT_FOUND => ApiError::not_found(&target.kind.qualified(), &target.name),
        StatusCode::INTERNAL_SERVER_ERROR => ApiError::internal(text),
        s => ApiError {
            code: s.as_u16(),
            reason: "InternalError",
            message: format!(
                "an error on the server ({text:?}) has prevented the request from succeeding"
            ),
            details: None,
        },
    };
    request::error(&e)
}

fn text_response(status: StatusCode, body: Bytes) -> Response {
    let mut r = http::Response::new(request::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// A streamed kubelet body that ends where the kubelet connection fails (the client sees the
/// stream end, as with upstream's proxy).
struct EndOnError(Pin<Box<Incoming>>);

impl Body for EndOnError {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.0.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(Some(Err(e))) => {
                tracing::debug!(error = %e, "kubelet stream ended with an error");
                Poll::Ready(None)
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_name_the_proxied_subresources() {
        let t = target("/api/v1/namespaces/default/pods/web/log").unwrap();
        assert_eq!(t.kind, Kind::PodLog);
        assert_eq!(t.namespace.as_deref(), Some("default"));
        assert_eq!(t.name, "web");
        assert_eq!(
            target("/api/v1/namespaces/d/pods/web/portforward")
                .unwrap()
                .kind,
            Kind::PodPortForward
        );
        let n = target("/api/v1/nodes/n1/proxy/stats/summary").unwrap();
        assert_eq!(
            (n.kind, n.rest.as_str()),
            (Kind::NodeProxy, "stats/summary")
        );
        assert_eq!(target("/api/v1/nodes/n1/proxy").unwrap().rest, "");
        assert!(target("/api/v1/namespaces/d/pods/web/status").is_none());
        assert!(target("/api/v1/namespaces/d/pods/web").is_none());
        assert!(target("/apis/apps/v1/namespaces/d/deployments/x/log").is_none());
    }

    #[test]
    fn containers_are_validated_as_upstream() {
        let pod = json!({"spec": {
            "initContainers": [{"name": "init"}],
            "containers": [{"name": "app"}, {"name": "sidecar"}],
        }});
        assert_eq!(validate_container("app", &pod, "p").unwrap(), "app");
        assert_eq!(validate_container("init", &pod, "p").unwrap(), "init");
        assert_eq!(
            validate_container("nope", &pod, "p").unwrap_err().message,
            "container nope is not valid for pod p"
        );
        assert_eq!(
            validate_container("", &pod, "p").unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [init app sidecar]"
        );
        let one = json!({"spec": {"containers": [{"name": "only"}]}});
        assert_eq!(validate_container("", &one, "p").unwrap(), "only");
    }

    #[test]
    fn the_kubelet_is_found_by_address_type_and_endpoint() {
        let node = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 12345}},
        }});
        assert_eq!(
            kubelet_address(&node).unwrap(),
            ("10.0.0.5".to_owned(), 12345)
        );
        let bare = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
        assert_eq!(kubelet_address(&bare).unwrap(), ("n1".to_owned(), 10250));
        let none = json!({"status": {}});
        assert!(
            kubelet_address(&none)
                .unwrap_err()
                .message
                .contains("no preferred addresses found")
        );
    }

    #[test]
    fn log_options_are_validated_as_upstream() {
        let pairs = query_pairs(Some("tailLines=-1&limitBytes=0"));
        let e = validate_log_options("p", &pairs).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with("PodLogOptions \"p\" is invalid"));
        let both = query_pairs(Some("sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z"));
        assert!(
            validate_log_options("p", &both)
                .unwrap_err()
                .message
                .contains("at most one of `sinceTime` or `sinceSeconds` may be specified")
        );
        validate_log_options("p", &query_pairs(Some("tailLines=0&follow=true"))).unwrap();
    }

    #[test]
    fn plain_kubelet_errors_become_statuses() {
        let t = target("/api/v1/namespaces/d/pods/p/log").unwrap();
        let r = kubelet_error(
            StatusCode::BAD_REQUEST,
            b"previous terminated container \"c\" in pod \"p\" not found",
            &t,
        );
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
}
