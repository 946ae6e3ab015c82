//! `httpGet` for probes and lifecycle hooks: upstream's `pkg/probe/http` (request building,
//! redirect policy, 10 KiB body limit, status classification) over a small hyper client.
//!
//! - The URL is `scheme://host:port/path` with the host defaulting to the pod IP; `httpHeaders`
//!   are sent as given, `Host` among them overrides the Host header; `User-Agent` defaults to
//!   `kube-probe/1.32` (`kube-lifecycle/1.32` for hooks) and `Accept` to `*/*` (an empty
//!   `Accept` removes it).
//! - HTTPS does not verify the server's certificate (Go's `InsecureSkipVerify`); HTTP/2 is used
//!   when the server offers it through ALPN. One connection per request (`Connection: close`).
//! - Redirects (301, 302, 303, 307, 308) are followed while they stay on the same host name, at
//!   most 10 requests in all; a redirect elsewhere ends the chain and its 3xx is a warning.
//! - Transport failures are worded as Go's `url.Error`:
//!   `Get "http://10.42.0.5:8080/healthz": dial tcp 10.42.0.5:8080: connect: connection refused`.

use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1::HTTPGetAction;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{Outcome, Target, USER_AGENT_VERSION, tcp};

/// Upstream's `maxRespBodyLength`: the most of a response body that is read.
pub(crate) const MAX_BODY: usize = 10 * 1024;
/// Go's default redirect limit, kept by upstream's redirect checker.
const MAX_REQUESTS: usize = 10;

/// An absolute `http` or `https` URL, kept in the pieces the client needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Url {
    pub scheme: String,
    /// The host name or IP, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// `host[:port]` as written in the URL (what Go sends as Host by default).
    pub authority: String,
    /// The escaped path; may be empty.
    pub path: String,
    pub query: Option<String>,
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

impl Url {
    /// The request target of an origin-form request line.
    fn target(&self) -> String {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        match &self.query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        }
    }
}

/// Bytes kept as they are in a path: unreserved, sub-delims, `:`, `@`, `/` and `%` (already
/// escaped text stays as written).
fn keep_in_path(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

/// Bytes kept as they are in a query (what may appear in a request line).
fn keep_in_query(b: u8) -> bool {
    keep_in_path(b) || b == b'?'
}

fn escape(s: &str, keep: fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits `path?query#fragment` into an escaped path and query (the fragment is dropped).
fn split_path(path: &str) -> (String, Option<String>) {
    let path = path.split('#').next().unwrap_or_default();
    match path.split_once('?') {
        Some((p, q)) => (escape(p, keep_in_path), Some(escape(q, keep_in_query))),
        None => (escape(path, keep_in_path), None),
    }
}

/// Upstream's `formatURL`: the scheme and `host:port` with the given path (which may carry a
/// query). A path without a leading `/` gets one, as Go's `URL.String` does.
pub(crate) fn format_url(scheme: &str, host: &str, port: u16, path: &str) -> Url {
    let (mut path, query) = split_path(path);
    if !path.is_empty() && !path.starts_with('/') {
        path.insert(0, '/');
    }
    Url {
        scheme: scheme.to_owned(),
        host: host.to_owned(),
        port,
        authority: tcp::join_host_port(host, port),
        path,
        query,
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Parses `host[:port]` (with brackets around IPv6) into host and port.
fn parse_authority(authority: &str, scheme: &str) -> Result<(String, u16), String> {
    // Drop user information; the probe never sends credentials from a URL.
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("invalid host {authority:?}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) if !p.is_empty() => p
            .parse::<u16>()
            .map_err(|_| format!("invalid port {:?} after host", format!(":{p}")))?,
        _ => default_port(scheme).unwrap_or(0),
    };
    Ok((host.to_owned(), port))
}

/// Parses an absolute URL (`scheme://authority/path?query`).
fn parse_absolute(s: &str) -> Result<Url, String> {
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| format!("missing protocol scheme in {s:?}"))?;
    let scheme = scheme.to_ascii_lowercase();
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (host, port) = parse_authority(authority, &scheme)?;
    let (path, query) = split_path(path);
    Ok(Url {
        scheme,
        host,
        port,
        authority: authority.rsplit('@').next().unwrap_or_default().to_owned(),
        path,
        query,
    })
}

/// RFC 3986 §5.2.4: removes `.` and `..` segments.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if path.starts_with('/') && !joined.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Resolves a `Location` header against the URL it answered (Go's `URL.Parse` on the request
/// URL). Returns the URL and whether the location was relative.
fn resolve(base: &Url, location: &str) -> Result<(Url, bool), String> {
    let location = location.trim();
    let has_scheme = location
        .find(':')
        .map(|i| {
            let scheme = &location[..i];
            !scheme.is_empty()
                && scheme.as_bytes()[0].is_ascii_alphabetic()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                && !location[..i].contains('/')
        })
        .unwrap_or(false);
    if has_scheme {
        return parse_absolute(location).map(|u| (u, false));
    }
    if let Some(rest) = location.strip_prefix("//") {
        return parse_absolute(&format!("{}://{rest}", base.scheme)).map(|u| (u, false));
    }
    let (path, query) = split_path(location);
    let mut url = base.clone();
    if path.is_empty() {
        // Only a query (or nothing): keep the base path.
        if query.is_some() {
            url.query = query;
        }
        return Ok((url, true));
    }
    let merged = if path.starts_with('/') {
        path
    } else {
        let dir = match base.path.rfind('/') {
            Some(i) => &base.path[..=i],
            None => "/",
        };
        format!("{dir}{path}")
    };
    url.path = remove_dot_segments(&merged);
    url.query = query;
    Ok((url, true))
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `x-custom-header` becomes `X-Custom-Header`;
/// keys with bytes that are not token characters stay as they are.
fn canonical_key(key: &str) -> String {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if key.is_empty() || !key.bytes().all(token) {
        return key.to_owned();
    }
    let mut upper = true;
    key.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// A GET request as upstream's `NewRequestForHTTPGetAction` builds it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub url: Url,
    /// Canonical header names with their values, in the order first given.
    pub headers: Vec<(String, Vec<String>)>,
    /// The Host header override (the first `Host` value), empty when none.
    pub host: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&Vec<String>> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn set(&mut self, name: &str, value: &str) {
        match self.headers.iter_mut().find(|(n, _)| n == name) {
            Some((_, values)) => *values = vec![value.to_owned()],
            None => self.headers.push((name.to_owned(), vec![value.to_owned()])),
        }
    }
}

/// Upstream's `probe.ResolveContainerPort`: a number, or the name of one of the container's
/// ports.
pub(crate) fn resolve_port(
    port: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
    target: &Target,
) -> Result<u16, String> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let number = match port {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(name) => {
            match target
                .container_ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
            {
                Some(p) => i64::from(p.container_port),
                None => return Err(format!("port {} not found", super::gofmt::quote(name))),
            }
        }
    };
    u16::try_from(number)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port number: {number}"))
}

/// Upstream's `NewRequestForHTTPGetAction`; `purpose` is `probe` or `lifecycle` (it names the
/// User-Agent). Fails only when the port cannot be resolved.
pub(crate) fn request_for_action(
    action: &HTTPGetAction,
    target: &Target,
    purpose: &str,
) -> Result<Request, String> {
    let scheme = action
        .scheme
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let scheme = if scheme.is_empty() {
        "http".to_owned()
    } else {
        scheme
    };
    let host = match action.host.as_deref() {
        Some(h) if !h.is_empty() => h,
        _ => target.pod_ip.as_str(),
    };
    let port = resolve_port(&action.port, target)?;
    let url = format_url(
        &scheme,
        host,
        port,
        action.path.as_deref().unwrap_or_default(),
    );
    let mut req = Request {
        url,
        headers: Vec::new(),
        host: String::new(),
    };
    for h in action.http_headers.iter().flatten() {
        let name = canonical_key(&h.name);
        match req.headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(h.value.clone()),
            None => req.headers.push((name, vec![h.value.clone()])),
        }
    }
    if req.header("User-Agent").is_none() {
        req.set(
            "User-Agent",
            &format!("kube-{purpose}/{USER_AGENT_VERSION}"),
        );
    }
    match req.header("Accept") {
        None => req.set("Accept", "*/*"),
        Some(values) if values.first().is_none_or(|v| v.is_empty()) => {
            req.headers.retain(|(n, _)| n != "Accept")
        }
        Some(_) => {}
    }
    req.host = req
        .header("Host")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default();
    Ok(req)
}

/// A response: the status and at most [`MAX_BODY`] bytes of the body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DoError {
    /// No response (Go's `client.Do` error), worded in full as Go's `url.Error`.
    Transport(String),
    /// A response came but its body could not be read.
    Body(String),
}

/// Go's `url.Error` text: `Get "<url>": <cause>`.
fn url_error(url: &str, cause: impl std::fmt::Display) -> String {
    format!("Get {}: {cause}", super::gofmt::quote(url))
}

/// What went wrong sending one request.
enum SendError {
    /// Worded cause (without the `Get "url":` prefix).
    Cause(String),
    /// The deadline passed before the response headers came.
    Timeout(String),
    /// HTTPS to a server answering plain HTTP.
    HttpToHttps,
}

const AWAITING_HEADERS: &str = "(Client.Timeout exceeded while awaiting headers)";

/// Sends one request and waits for the response headers; returns the response with its body
/// still to read, and the connection task (aborted when the caller is done).
async fn send(
    url: &Url,
    req: &Request,
    host_header: &str,
    referer: Option<&str>,
    deadline: Option<Instant>,
) -> Result<(hyper::Response<hyper::body::Incoming>, ConnGuard), SendError> {
    let far = Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600);
    let dial_deadline = deadline.unwrap_or(far);
    let tcp = tcp::dial(&url.host, url.port, dial_deadline)
        .await
        .map_err(|e| match e {
            tcp::DialError::Timeout { .. } => SendError::Timeout(format!("{e} {AWAITING_HEADERS}")),
            other => SendError::Cause(other.to_string()),
        })?;
    let _ = tcp.set_nodelay(true);
    let timeout = || SendError::Timeout(format!("context deadline exceeded {AWAITING_HEADERS}"));

    let mut request = hyper::Request::builder().method(hyper::Method::GET);
    for (name, values) in &req.headers {
        // Go writes Host and User-Agent itself, from the request's fields.
        if name == "Host" || name == "User-Agent" {
            continue;
        }
        for value in values {
            request = request.header(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    SendError::Cause(format!(
                        "net/http: invalid header field name {}",
                        super::gofmt::quote(name)
                    ))
                })?,
                hyper::header::HeaderValue::from_str(value).map_err(|_| {
                    SendError::Cause(format!(
                        "net/http: invalid header field value for {}",
                        super::gofmt::quote(name)
                    ))
                })?,
            );
        }
    }
    if let Some(ua) = req
        .header("User-Agent")
        .and_then(|v| v.first())
        .filter(|v| !v.is_empty())
    {
        let value = hyper::header::HeaderValue::from_str(ua).map_err(|_| {
            SendError::Cause("net/http: invalid header field value for \"User-Agent\"".into())
        })?;
        request = request.header(hyper::header::USER_AGENT, value);
    }
    if let Some(v) = referer.and_then(|r| hyper::header::HeaderValue::from_str(r).ok()) {
        request = request.header(hyper::header::REFERER, v);
    }
    let host_value = hyper::header::HeaderValue::from_str(host_header).map_err(|_| {
        SendError::Cause(format!(
            "http: invalid Host header {}",
            super::gofmt::quote(host_header)
        ))
    })?;

    if url.scheme == "https" {
        let config = TLS_CONFIG.clone().map_err(SendError::Cause)?;
        let name = ServerName::try_from(url.host.clone())
            .map_err(|e| SendError::Cause(format!("tls: {e}")))?;
        let connect = tokio_rustls::TlsConnector::from(config)
            .connect(name, Recorder::new(tcp))
            .into_fallible();
        let tls = match within(deadline, connect).await {
            None => return Err(timeout()),
            Some(Ok(tls)) => tls,
            Some(Err((e, io))) => {
                if io.first.starts_with(b"HTTP/") {
                    return Err(SendError::HttpToHttps);
                }
                return Err(SendError::Cause(tls_error(&e)));
            }
        };
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        if h2 {
            let authority = if host_header.is_empty() {
                url.authority.clone()
            } else {
                host_header.to_owned()
            };
            let uri = format!("https://{authority}{}", url.target());
            let request = request
                .uri(uri)
                .body(Empty::<Bytes>::new())
                .map_err(|e| SendError::Cause(e.to_string()))?;
            let handshake = hyper::client::conn::http2::handshake(TokioExecutor::new(), io);
            let (mut sender, conn) = match within(deadline, handshake).await {
                None => return Err(timeout()),
                Some(r) => r.map_err(|e| SendError::Cause(hyper_error(&e)))?,
            };
            let guard = ConnGuard(tokio::spawn(async move {
                let _ = conn.await;
            }));
            return match within(deadline, sender.send_request(request)).await {
                None => Err(timeout()),
                Some(r) => r
                    .map(|resp| (resp, guard))
                    .map_err(|e| SendError::Cause(hyper_error(&e))),
            };
        }
        return send_http1(io, request, host_value, url, deadline).await;
    }
    send_http1(TokioIo::new(tcp), request, host_value, url, deadline).await
}

async fn send_http1<IO>(
    io: TokioIo<IO>,
    request: http::request::Builder,
    host: hyper::header::HeaderValue,
    url: &Url,
    deadline: Option<Instant>,
) -> Result<(hyper::Response<hyper::body::Incoming>, ConnGuard), SendError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let timeout = || SendError::Timeout(format!("context deadline exceeded {AWAITING_HEADERS}"));
    let request = request
        .uri(url.target())
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| SendError::Cause(e.to_string()))?;
    // The HTTP/1 handshake does no I/O, so it needs no deadline.
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake::<_, Empty<Bytes>>(io)
        .await
        .map_err(|e| SendError::Cause(hyper_error(&e)))?;
    let guard = ConnGuard(tokio::spawn(async move {
        let _ = conn.await;
    }));
    match within(deadline, sender.send_request(request)).await {
        None => Err(timeout()),
        Some(r) => r
            .map(|resp| (resp, guard))
            .map_err(|e| SendError::Cause(hyper_error(&e))),
    }
}

/// Runs `fut` until `deadline` (forever when none); `None` when the deadline passed.
async fn within<F: std::future::Future>(deadline: Option<Instant>, fut: F) -> Option<F::Output> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// Aborts the task driving a connection when the request is done with it.
struct ConnGuard(tokio::task::JoinHandle<()>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Words a hyper error as Go's transport would.
fn hyper_error(e: &hyper::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.raw_os_error().is_some()
        {
            return format!("read: {}", super::gofmt::errno_text(io));
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        return "EOF".to_owned();
    }
    if e.is_parse() {
        return format!("net/http: HTTP/1.x transport connection broken: {e}");
    }
    e.to_string()
}

/// Words a failed TLS handshake as Go's `crypto/tls` would, as far as the causes match.
fn tls_error(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return "EOF".to_owned();
    }
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                "tls: first record does not look like a TLS handshake".to_owned()
            }
            rustls::Error::AlertReceived(alert) => {
                format!("remote error: tls: {}", format!("{alert:?}").to_lowercase())
            }
            other => format!("tls: {other}"),
        };
    }
    if e.raw_os_error().is_some() {
        return format!("read: {}", super::gofmt::errno_text(e));
    }
    format!("tls: {e}")
}

/// A stream that remembers the first bytes the server sent, to recognise a plain HTTP answer
/// to a TLS hello (Go: `http: server gave HTTP response to HTTPS client`).
struct Recorder {
    inner: TcpStream,
    first: Vec<u8>,
}

impl Recorder {
    fn new(inner: TcpStream) -> Self {
        Self {
            inner,
            first: Vec::new(),
        }
    }
}

impl AsyncRead for Recorder {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.first.len() < 5 {
            let new = &buf.filled()[before..];
            let take = new.len().min(5 - this.first.len());
            this.first.extend_from_slice(&new[..take]);
        }
        poll
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accepts any server certificate (Go's `InsecureSkipVerify`), while still checking that the
/// handshake is signed by the key of the certificate presented.
#[derive(Debug)]
struct SkipVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

static TLS_CONFIG: LazyLock<Result<Arc<rustls::ClientConfig>, String>> = LazyLock::new(|| {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
});

/// Go's `refererForURL`: the previous URL, unless going from HTTPS to HTTP.
fn referer(last: &Url, next: &Url) -> Option<String> {
    if last.scheme == "https" && next.scheme == "http" {
        None
    } else {
        Some(last.to_string())
    }
}

/// Sends `req`, following redirects as upstream's prober does (same host name only, at most
/// 10 requests), and reads at most [`MAX_BODY`] bytes of the final body. `deadline` bounds
/// everything, body included (Go's `http.Client.Timeout`); `None` waits as long as it takes.
pub(crate) async fn get(req: &Request, deadline: Option<Instant>) -> Result<Response, DoError> {
    let first = req.url.clone();
    let mut url = req.url.clone();
    let mut host = if req.host.is_empty() {
        url.authority.clone()
    } else {
        req.host.clone()
    };
    let mut referer_value: Option<String> = None;
    let mut requests = 0usize;
    loop {
        requests += 1;
        let (resp, guard) = match send(&url, req, &host, referer_value.as_deref(), deadline).await {
            Ok(r) => r,
            Err(SendError::Cause(c)) | Err(SendError::Timeout(c)) => {
                return Err(DoError::Transport(url_error(&url.to_string(), c)));
            }
            Err(SendError::HttpToHttps) => {
                return Err(DoError::Transport(url_error(
                    &url.to_string(),
                    HTTP_TO_HTTPS,
                )));
            }
        };
        let status = resp.status().as_u16();
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let location = resp
                .headers()
                .get(hyper::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            if let Some(location) = location {
                let (next, relative) = resolve(&url, &location).map_err(|e| {
                    DoError::Transport(url_error(
                        &url.to_string(),
                        format!(
                            "failed to parse Location header {}: {e}",
                            super::gofmt::quote(&location)
                        ),
                    ))
                })?;
                // Upstream's RedirectChecker(followNonLocalRedirects=false).
                if next.host != first.host {
                    return read_body(resp, guard, status, deadline).await;
                }
                if requests >= MAX_REQUESTS {
                    return Err(DoError::Transport(url_error(
                        &location,
                        "stopped after 10 redirects",
                    )));
                }
                if default_port(&next.scheme).is_none() {
                    return Err(DoError::Transport(url_error(
                        &next.to_string(),
                        format!(
                            "unsupported protocol scheme {}",
                            super::gofmt::quote(&next.scheme)
                        ),
                    )));
                }
                drop(resp);
                drop(guard);
                // Go keeps a Host override only across relative redirects.
                host = if relative && !req.host.is_empty() && req.host != first.authority {
                    req.host.clone()
                } else {
                    next.authority.clone()
                };
                referer_value = referer(&url, &next);
                url = next;
                continue;
            }
        }
        return read_body(resp, guard, status, deadline).await;
    }
}

pub(crate) const HTTP_TO_HTTPS: &str = "http: server gave HTTP response to HTTPS client";

async fn read_body(
    resp: hyper::Response<hyper::body::Incoming>,
    guard: ConnGuard,
    status: u16,
    deadline: Option<Instant>,
) -> Result<Response, DoError> {
    let mut body = resp.into_body();
    let mut data = Vec::new();
    let read = async {
        while data.len() < MAX_BODY {
            match body.frame().await {
                None => break,
                Some(Err(e)) => return Err(hyper_error(&e)),
                Some(Ok(frame)) => {
                    if let Ok(chunk) = frame.into_data() {
                        let take = chunk.len().min(MAX_BODY - data.len());
                        data.extend_from_slice(&chunk[..take]);
                    }
                }
            }
        }
        Ok(())
    };
    let result = match deadline {
        Some(d) => tokio::time::timeout_at(d, read).await.unwrap_or_else(|_| {
            Err(
                "context deadline exceeded (Client.Timeout or context cancellation while reading body)"
                    .to_owned(),
            )
        }),
        None => read.await,
    };
    drop(guard);
    result.map_err(DoError::Body)?;
    Ok(Response { status, body: data })
}

/// Upstream's `DoHTTPProbe`: 2xx is success with the body as output, a 3xx that was not
/// followed is a warning, anything else a failure; no response is a failure with Go's error.
pub(crate) async fn probe(req: &Request, deadline: Instant) -> Outcome {
    match get(req, Some(deadline)).await {
        Err(DoError::Transport(message)) => Outcome::Failure(message),
        Err(DoError::Body(message)) => Outcome::Unknown(message),
        Ok(resp) => {
            let body = String::from_utf8_lossy(&resp.body).into_owned();
            match resp.status {
                200..=299 => Outcome::Success(body),
                300..=399 => {
                    Outcome::Warning(format!("Probe terminated redirects, Response body: {body}"))
                }
                code => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_formed_as_upstream() {
        let u = format_url("http", "10.42.0.5", 8080, "/healthz");
        assert_eq!(u.to_string(), "http://10.42.0.5:8080/healthz");
        assert_eq!(u.target(), "/healthz");
        let u = format_url("http", "10.42.0.5", 8080, "");
        assert_eq!(u.to_string(), "http://10.42.0.5:8080");
        assert_eq!(u.target(), "/");
        let u = format_url("https", "fd00::5", 443, "ready?x=a b#frag");
        assert_eq!(u.to_string(), "https://[fd00::5]:443/ready?x=a%20b");
        assert_eq!((u.host.as_str(), u.port), ("fd00::5", 443));
        assert_eq!(format_url("http", "h", 1, "/a b").path, "/a%20b");
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let base = format_url("http", "10.0.0.1", 80, "/a/b/c?q=1");
        let at = |loc: &str| resolve(&base, loc).map(|(u, rel)| (u.to_string(), rel));
        assert_eq!(at("/x"), Ok(("http://10.0.0.1:80/x".into(), true)));
        assert_eq!(at("d"), Ok(("http://10.0.0.1:80/a/b/d".into(), true)));
        assert_eq!(at("../d?z"), Ok(("http://10.0.0.1:80/a/d?z".into(), true)));
        assert_eq!(
            at("?z=2"),
            Ok(("http://10.0.0.1:80/a/b/c?z=2".into(), true))
        );
        assert_eq!(
            at("https://other:8443/y"),
            Ok(("https://other:8443/y".into(), false))
        );
        assert_eq!(at("//other/y"), Ok(("http://other/y".into(), false)));
        let (u, _) = resolve(&base, "https://other/y").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("other", 443));
        assert_eq!(remove_dot_segments("/a/./b/../../c/"), "/c/");
        assert_eq!(remove_dot_segments("/../x"), "/x");
    }

    #[test]
    fn header_keys_are_canonicalised_as_go() {
        assert_eq!(canonical_key("x-custom-header"), "X-Custom-Header");
        assert_eq!(canonical_key("USER-AGENT"), "User-Agent");
        assert_eq!(canonical_key("bad key"), "bad key");
    }

    #[test]
    fn requests_carry_upstream_defaults() {
        let action = HTTPGetAction {
            port: k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80),
            http_headers: Some(vec![
                k8s_openapi::api::core::v1::HTTPHeader {
                    name: "x-a".into(),
                    value: "1".into(),
                },
                k8s_openapi::api::core::v1::HTTPHeader {
                    name: "X-A".into(),
                    value: "2".into(),
                },
            ]),
            ..Default::default()
        };
        let target = Target {
            pod_ip: "10.0.0.9".into(),
            ..Default::default()
        };
        let req = request_for_action(&action, &target, "lifecycle").unwrap();
        assert_eq!(req.url.to_string(), "http://10.0.0.9:80");
        assert_eq!(req.host, "");
        assert_eq!(
            req.headers,
            vec![
                ("X-A".to_owned(), vec!["1".to_owned(), "2".to_owned()]),
                (
                    "User-Agent".to_owned(),
                    vec!["kube-lifecycle/1.32".to_owned()]
                ),
                ("Accept".to_owned(), vec!["*/*".to_owned()]),
            ]
        );
    }
}
