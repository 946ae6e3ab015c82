//! The kubelet's HTTPS API (port 10250), which the API server calls for `kubectl logs`, `exec`,
//! `attach`, `port-forward`, `cp` and for node stats:
//!
//! | path | what |
//! |---|---|
//! | `GET /containerLogs/{ns}/{pod}/{container}` | the container's log ([`logs`]) |
//! | `GET,POST /exec/{ns}/{pod}/{container}?command=..&stdin=1..` | a command in the container |
//! | `GET,POST /attach/{ns}/{pod}/{container}` | the container's own streams |
//! | `GET,POST /portForward/{ns}/{pod}` | TCP to the pod's ports |
//! | `GET /stats/summary` | node, pod and container CPU and memory, sampled every resolution ([`stats`]) |
//! | `GET /healthz` | `ok` |
//!
//! Only callers with a client certificate signed by the cluster CA get past TLS (the API
//! server's `apiserver-kubelet-client`); there is no further authorization (upstream asks the
//! API server with a SubjectAccessReview).
//!
//! Exec, attach and port-forward go, as upstream, through the runtime's own stream server:
//! the kubelet asks CRI for a URL (`Exec`, `Attach`, `PortForward`) and connects to it. Unlike
//! upstream, the kubelet (not the API server) terminates kubectl 1.32's WebSocket protocols and
//! bridges them to what containerd 1.6's stream server speaks ([`streams`]). Errors are
//! `Status` objects with upstream's messages.

pub mod logs;
pub mod portforward;
pub mod spdy;
pub mod stats;
pub mod streams;
pub mod websocket;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_openapi::api::core::v1::Pod;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use tokio::net::TcpListener;
use tonic::transport::Channel;

/// What the server needs from the rest of the kubelet.
pub trait Host: Send + Sync + 'static {
    /// This node's name.
    fn node_name(&self) -> String;
    /// The pod as this kubelet knows it (its spec, and the status the kubelet last computed),
    /// if it is bound to this node.
    fn pod(&self, namespace: &str, name: &str) -> Option<Pod>;
    /// The container runtime.
    fn runtime(&self) -> RuntimeServiceClient<Channel>;
}

/// The server's TLS material (PEM): its serving certificate and key (for the names and
/// addresses the API server dials), and the CA client certificates must be signed by.
#[derive(Clone, Debug)]
pub struct Tls {
    pub cert_pem: String,
    pub key_pem: String,
    pub client_ca_pem: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen (upstream: `0.0.0.0:10250`; port 0 picks a free one).
    pub address: SocketAddr,
    pub tls: Tls,
    /// How often the stats are sampled (`--metric-resolution`).
    pub metric_resolution: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid TLS material for the kubelet server: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The body of every answer.
pub type Body = BoxBody<Bytes, Infallible>;
pub type Response = http::Response<Body>;

/// State shared by every request.
struct Shared<H> {
    host: Arc<H>,
    stats: stats::Sampler,
}

/// A running server; dropping it stops accepting connections (open streams run to their end).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    sampler: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start<H: Host>(config: Config, host: Arc<H>) -> Result<Self, Error> {
        let tls = tokio_rustls::TlsAcceptor::from(server_config(&config.tls)?);
        let listener = TcpListener::bind(config.address)
            .await
            .map_err(|source| Error::Listen {
                addr: config.address,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: config.address,
            source,
        })?;
        let shared = Arc::new(Shared {
            host,
            stats: stats::Sampler::default(),
        });
        let sampler = tokio::spawn({
            let shared = shared.clone();
            async move {
                let host = &*shared.host;
                shared.stats.run(host, config.metric_resolution).await;
            }
        });
        let task = tokio::spawn(serve(listener, tls, shared));
        Ok(Self {
            addr,
            task,
            sampler,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        self.sampler.abort();
    }
}

fn server_config(tls: &Tls) -> Result<Arc<rustls::ServerConfig>, Error> {
    let bad = |what: &str, e: &dyn std::fmt::Display| Error::Tls(format!("{what}: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(tls.client_ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| bad("client CA", &e))?;
        roots.add(cert).map_err(|e| bad("client CA", &e))?;
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .map_err(|e| bad("client CA", &e))?;
    let certs = CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("serving certificate", &e))?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes())
        .map_err(|e| bad("serving key", &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocol versions", &e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| bad("serving certificate", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

async fn serve<H: Host>(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared<H>>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "kubelet server: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let stream = match tls.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "kubelet server: TLS handshake failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(shared, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await
            {
                tracing::debug!(%peer, error = %e, "kubelet server: connection ended with an error");
            }
        });
    }
}

async fn route<H: Host>(shared: Arc<Shared<H>>, req: http::Request<Incoming>) -> Response {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let method = req.method().clone();
    let streaming = matches!(method, Method::GET | Method::POST);
    match (segments.as_slice(), &method) {
        (["healthz"], &Method::GET) => text(StatusCode::OK, "ok"),
        (["containerLogs", ns, pod, container], &Method::GET) => {
            let (ns, pod, container) = (ns.to_string(), pod.to_string(), container.to_string());
            container_logs(&shared, &ns, &pod, &container, req.uri().query()).await
        }
        (["exec", ns, pod, container] | ["exec", ns, pod, _, container], _) if streaming => {
            let (ns, pod, container) = (ns.to_string(), pod.to_string(), container.to_string());
            streams::exec(
                &*shared.host,
                req,
                streams::Kind::Exec,
                &ns,
                &pod,
                &container,
            )
            .await
        }
        (["attach", ns, pod, container] | ["attach", ns, pod, _, container], _) if streaming => {
            let (ns, pod, container) = (ns.to_string(), pod.to_string(), container.to_string());
            streams::exec(
                &*shared.host,
                req,
                streams::Kind::Attach,
                &ns,
                &pod,
                &container,
            )
            .await
        }
        (["portForward", ns, pod] | ["portForward", ns, pod, _], _) if streaming => {
            let (ns, pod) = (ns.to_string(), pod.to_string());
            streams::port_forward(&*shared.host, req, &ns, &pod).await
        }
        (["stats", "summary"], &Method::GET) => match shared.stats.latest(&*shared.host).await {
            Ok(v) => json_response(StatusCode::OK, &v),
            Err(e) => status(StatusCode::INTERNAL_SERVER_ERROR, &e),
        },
        _ => status(
            StatusCode::NOT_FOUND,
            "the server could not find the requested resource",
        ),
    }
}

async fn container_logs<H: Host>(
    shared: &Shared<H>,
    ns: &str,
    name: &str,
    container: &str,
    query: Option<&str>,
) -> Response {
    let opts = match logs::LogOptions::from_query(query, k8s_openapi::jiff::Timestamp::now()) {
        Ok(o) => o,
        Err(e) => return status(StatusCode::BAD_REQUEST, &e),
    };
    let Some(pod) = shared.host.pod(ns, name) else {
        return status(
            StatusCode::NOT_FOUND,
            &format!("pod {name:?} does not exist"),
        );
    };
    let spec = pod.spec.as_ref();
    let known = spec.is_some_and(|s| {
        s.containers.iter().any(|c| c.name == container)
            || s.init_containers
                .iter()
                .flatten()
                .any(|c| c.name == container)
            || s.ephemeral_containers
                .iter()
                .flatten()
                .any(|c| c.name == container)
    });
    if !known {
        return status(
            StatusCode::NOT_FOUND,
            &format!("container {container:?} not found in pod {name:?}"),
        );
    }
    let id = match logs::log_container_id(&pod, container, opts.previous) {
        Ok(id) => id,
        Err(e) => return status(StatusCode::BAD_REQUEST, &e),
    };
    let mut runtime = shared.host.runtime();
    let (path, running) = match logs::container_log(&mut runtime, &id).await {
        Ok(found) => found,
        Err(e) => return status(StatusCode::BAD_REQUEST, &e),
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            return status(
                StatusCode::BAD_REQUEST,
                &format!(
                    "failed to open log file {:?}: {e}",
                    path.display().to_string()
                ),
            );
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let follow = opts.follow && running;
    tokio::spawn(logs::stream(path, file, id, follow, opts, runtime, tx));
    let body = StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(Frame::data(chunk)), rx))
    }));
    http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(BodyExt::boxed(body))
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "response"))
}

pub(crate) fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

pub(crate) fn text(code: StatusCode, body: &str) -> Response {
    let mut r = http::Response::new(full(body.to_owned()));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub(crate) fn json_response(code: StatusCode, value: &serde_json::Value) -> Response {
    let mut r = http::Response::new(full(serde_json::to_vec(value).unwrap_or_default()));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// The reason upstream's `Status` carries for an HTTP code.
fn reason(code: StatusCode) -> &'static str {
    match code.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        429 => "TooManyRequests",
        _ => "InternalError",
    }
}

/// An error answer: a `Status` with `message`.
pub(crate) fn status(code: StatusCode, message: &str) -> Response {
    json_response(
        code,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason(code),
            "code": code.as_u16(),
        }),
    )
}
