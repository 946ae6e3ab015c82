//! Exec, attach and port-forward: the kubelet finds the container (or the pod's sandbox), asks
//! CRI for a URL on the runtime's stream server (`Exec`, `Attach`, `PortForward`), connects to
//! it, and joins the caller's stream to the runtime's:
//!
//! - **WebSocket `v5.channel.k8s.io` / `v4.channel.k8s.io`** (kubectl 1.32's exec and attach,
//!   the Python client): containerd 1.6 does not speak v5, so the kubelet terminates the
//!   WebSocket and is an SPDY client of containerd (`v4.channel.k8s.io`: one stream each for
//!   error, stdin, stdout, stderr and resize). Channel bytes map to streams; v5's CLOSE signal
//!   (`[255, 0]`) half-closes stdin (which v4 over WebSocket cannot express, hence SPDY);
//!   containerd's final `Status` (exit code) goes out on channel 3, then a close frame. This is
//!   what upstream's API server does in 1.32 (`StreamTranslatorProxy`).
//! - **WebSocket `SPDY/3.1+portforward.k8s.io`** (kubectl 1.32's port-forward): the messages
//!   carry a raw SPDY session, so the kubelet opens a plain SPDY upgrade
//!   (`portforward.k8s.io`) to containerd and copies bytes both ways (upstream's tunnelling
//!   handler).
//! - **WebSocket `v4.channel.k8s.io` / `v4.base64.channel.k8s.io` / no subprotocol**
//!   port-forward (kube-rs's `Portforwarder`, the Python client; `?port=80,1234`): the kubelet
//!   terminates the WebSocket and is containerd's SPDY `portforward.k8s.io` client, one data
//!   and one error stream per port, as client-go opens them ([`super::portforward`]).
//! - **SPDY/3.1** (kubectl's fallback, older clients): passed through to containerd unchanged,
//!   as upstream's kubelet proxies it.
//!
//! Errors before the upgrade are `Status` answers with upstream's messages (`container not
//! found ("c")`, `pod not found ("p_ns")`, `query parameter "port" is required`); kubectl
//! prints them after its SPDY retry. Not supported: base64 channels for exec and attach
//! (`base64.channel.k8s.io`, `v4.base64.channel.k8s.io`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    AttachRequest, ContainerFilter, ContainerState, ContainerStateValue, ExecRequest,
    ListContainersRequest, ListPodSandboxRequest, PodSandboxFilter, PodSandboxState,
    PodSandboxStateValue, PortForwardRequest,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tonic::transport::Channel;

use super::portforward::{self, Codec, Session};
use super::spdy::{self, FLAG_FIN, Frame, HeaderWriter};
use super::websocket::{self, CLOSE_NORMAL, Message, Role};
use super::{Host, Response, full, status};

/// The labels upstream's kubelet puts on sandboxes and containers, which find them again.
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";

pub const V5_CHANNEL: &str = "v5.channel.k8s.io";
pub const V4_CHANNEL: &str = "v4.channel.k8s.io";
pub const PORT_FORWARD_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
pub const PORT_FORWARD: &str = "portforward.k8s.io";
/// What WebSocket subprotocols that tunnel SPDY start with (upstream's
/// `IsWebSocketRequestWithTunnelingProtocol`).
const TUNNEL_PREFIX: &str = "SPDY/3.1+";
const STREAM_PROTOCOL_HEADER: &str = "x-stream-protocol-version";

/// How long a finished session waits for the client's close frame before dropping it.
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Exec,
    Attach,
}

/// Which standard streams a session carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl StreamOptions {
    /// Upstream's `NewOptions` (`stdin=1` as the API server sends, `true` as clients do); a
    /// tty merges stderr into stdout.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, String> {
        let on = |key: &str| {
            pairs
                .iter()
                .any(|(k, v)| k == key && (v == "1" || v.eq_ignore_ascii_case("true")))
        };
        let mut o = StreamOptions {
            stdin: on("stdin"),
            stdout: on("stdout"),
            stderr: on("stderr"),
            tty: on("tty"),
        };
        if o.tty {
            o.stderr = false;
        }
        if !o.stdin && !o.stdout && !o.stderr {
            return Err("you must specify at least 1 of stdin, stdout, stderr".to_owned());
        }
        Ok(o)
    }
}

/// A gRPC failure as upstream's `streaming.WriteError` answers it.
fn grpc_error(e: &tonic::Status) -> Response {
    let code = match e.code() {
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    status(
        code,
        &format!("rpc error: code = {:?} desc = {}", e.code(), e.message()),
    )
}

/// The newest running container `name` of the pod with `uid`.
async fn running_container(
    runtime: &mut RuntimeServiceClient<Channel>,
    uid: &str,
    name: &str,
) -> Result<Option<String>, tonic::Status> {
    let filter = ContainerFilter {
        state: Some(ContainerStateValue {
            state: ContainerState::ContainerRunning as i32,
        }),
        label_selector: [
            (POD_UID_LABEL.to_owned(), uid.to_owned()),
            (CONTAINER_NAME_LABEL.to_owned(), name.to_owned()),
        ]
        .into(),
        ..Default::default()
    };
    let list = runtime
        .list_containers(ListContainersRequest {
            filter: Some(filter),
        })
        .await?
        .into_inner()
        .containers;
    Ok(list.into_iter().max_by_key(|c| c.created_at).map(|c| c.id))
}

/// The newest ready sandbox of the pod with `uid`.
async fn ready_sandbox(
    runtime: &mut RuntimeServiceClient<Channel>,
    uid: &str,
) -> Result<Option<String>, tonic::Status> {
    let filter = PodSandboxFilter {
        state: Some(PodSandboxStateValue {
            state: PodSandboxState::SandboxReady as i32,
        }),
        label_selector: [(POD_UID_LABEL.to_owned(), uid.to_owned())].into(),
        ..Default::default()
    };
    let list = runtime
        .list_pod_sandbox(ListPodSandboxRequest {
            filter: Some(filter),
        })
        .await?
        .into_inner()
        .items;
    Ok(list.into_iter().max_by_key(|s| s.created_at).map(|s| s.id))
}

/// `/exec/{ns}/{pod}/{container}` and `/attach/{ns}/{pod}/{container}`.
pub async fn exec<H: Host>(
    host: &H,
    req: http::Request<Incoming>,
    kind: Kind,
    namespace: &str,
    name: &str,
    container: &str,
) -> Response {
    let pairs = query_pairs(req.uri().query());
    let opts = match StreamOptions::from_pairs(&pairs) {
        Ok(o) => o,
        Err(e) => return status(StatusCode::BAD_REQUEST, &e),
    };
    let Some(pod) = host.pod(namespace, name) else {
        return status(StatusCode::NOT_FOUND, "pod does not exist");
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut runtime = host.runtime();
    let id = match running_container(&mut runtime, &uid, container).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return status(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("container not found ({container:?})"),
            );
        }
        Err(e) => return grpc_error(&e),
    };
    let url = match kind {
        Kind::Exec => {
            let cmd: Vec<String> = pairs
                .iter()
                .filter(|(k, _)| k == "command")
                .map(|(_, v)| v.clone())
                .collect();
            runtime
                .exec(ExecRequest {
                    container_id: id,
                    cmd,
                    tty: opts.tty,
                    stdin: opts.stdin,
                    stdout: opts.stdout,
                    stderr: opts.stderr,
                })
                .await
                .map(|r| r.into_inner().url)
        }
        Kind::Attach => runtime
            .attach(AttachRequest {
                container_id: id,
                stdin: opts.stdin,
                tty: opts.tty,
                stdout: opts.stdout,
                stderr: opts.stderr,
            })
            .await
            .map(|r| r.into_inner().url),
    };
    match url {
        Ok(url) => upgrade(req, &url, Bridge::RemoteCommand(opts)).await,
        Err(e) => grpc_error(&e),
    }
}

/// `/portForward/{ns}/{pod}`.
pub async fn port_forward<H: Host>(
    host: &H,
    req: http::Request<Incoming>,
    namespace: &str,
    name: &str,
) -> Response {
    // Only the channel protocol names its ports in the query (upstream's `NewV4Options`); over
    // SPDY, tunnelled or not, each stream carries its port in a header.
    let channels = websocket::is_websocket_request(req.headers())
        && !websocket::offered_protocols(req.headers())
            .iter()
            .any(|p| p.starts_with(TUNNEL_PREFIX));
    let ports = if channels {
        match portforward::parse_ports(&query_pairs(req.uri().query())) {
            Ok(p) => p,
            Err(e) => return status(StatusCode::BAD_REQUEST, &e),
        }
    } else {
        Vec::new()
    };
    let Some(pod) = host.pod(namespace, name) else {
        return status(StatusCode::NOT_FOUND, "pod does not exist");
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut runtime = host.runtime();
    let sandbox = match ready_sandbox(&mut runtime, &uid).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return status(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("pod not found (\"{name}_{namespace}\")"),
            );
        }
        Err(e) => return grpc_error(&e),
    };
    let url = runtime
        .port_forward(PortForwardRequest {
            pod_sandbox_id: sandbox,
            port: ports.iter().copied().map(i32::from).collect(),
        })
        .await
        .map(|r| r.into_inner().url);
    let bridge = if channels {
        Bridge::PortForwardChannels(Session {
            ports,
            pod: format!("{name}_{namespace}"),
            uid,
        })
    } else {
        Bridge::PortForward
    };
    match url {
        Ok(url) => upgrade(req, &url, bridge).await,
        Err(e) => grpc_error(&e),
    }
}

/// What to do with an upgraded connection.
#[derive(Clone, Debug)]
enum Bridge {
    RemoteCommand(StreamOptions),
    /// kubectl's SPDY tunnelled in a WebSocket, or plain SPDY: bytes pass through.
    PortForward,
    /// The `v4.channel.k8s.io` port-forward protocol, bridged stream by stream.
    PortForwardChannels(Session),
}

/// The WebSocket subprotocol to answer with: the first the client offered that is supported,
/// `""` standing for a client that offered none (upstream's `wsstream` handshake).
fn negotiate(offered: &[String], supported: &[&str]) -> Option<String> {
    if offered.is_empty() {
        return supported.contains(&"").then(String::new);
    }
    offered
        .iter()
        .find(|p| supported.contains(&p.as_str()))
        .cloned()
}

fn is_spdy_request(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("spdy/3.1"))
}

/// Joins the caller's upgrade request to the runtime's stream server at `url`.
async fn upgrade(mut req: http::Request<Incoming>, url: &str, bridge: Bridge) -> Response {
    if websocket::is_websocket_request(req.headers()) {
        let offered = websocket::offered_protocols(req.headers());
        let supported: &[&str] = match bridge {
            Bridge::RemoteCommand(_) => &[V5_CHANNEL, V4_CHANNEL],
            Bridge::PortForward => &[PORT_FORWARD_TUNNEL],
            Bridge::PortForwardChannels(_) => &portforward::PROTOCOLS,
        };
        let Some(protocol) = negotiate(&offered, supported) else {
            return status(
                StatusCode::BAD_REQUEST,
                &format!(
                    "requested protocol(s) are not supported: [{}]; supports [{}]",
                    offered.join(" "),
                    supported.join(" ")
                ),
            );
        };
        let Some(key) = req
            .headers()
            .get(header::SEC_WEBSOCKET_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return status(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key header");
        };
        let backend_protocol = match bridge {
            Bridge::RemoteCommand(_) => V4_CHANNEL,
            Bridge::PortForward | Bridge::PortForwardChannels(_) => PORT_FORWARD,
        };
        let codec = Codec::for_protocol(&protocol).unwrap_or(Codec::Binary);
        let mut headers = HeaderMap::new();
        headers.insert(
            STREAM_PROTOCOL_HEADER,
            HeaderValue::from_static(backend_protocol),
        );
        let backend = match connect(url, &Method::POST, headers).await {
            Ok((io, _)) => io,
            Err(resp) => return resp,
        };
        let client = hyper::upgrade::on(&mut req);
        let v5 = protocol == V5_CHANNEL;
        tokio::spawn(async move {
            let client = match client.await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "websocket upgrade failed");
                    return;
                }
            };
            match bridge {
                Bridge::RemoteCommand(opts) => remote_command(client, v5, backend, opts).await,
                Bridge::PortForward => tunnel(client, backend).await,
                Bridge::PortForwardChannels(session) => {
                    portforward::bridge(
                        TokioIo::new(client),
                        TokioIo::new(backend),
                        session,
                        codec,
                    )
                    .await;
                }
            }
        });
        let mut resp = http::Response::new(full(Bytes::new()));
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = resp.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&websocket::accept_key(&key)) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        // A client that offered no subprotocol gets none back (RFC 6455 §4.2.2).
        if let Ok(v) = HeaderValue::from_str(&protocol)
            && !protocol.is_empty()
        {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
        }
        return resp;
    }
    if is_spdy_request(req.headers()) {
        let mut headers = HeaderMap::new();
        for v in req.headers().get_all(STREAM_PROTOCOL_HEADER) {
            headers.append(STREAM_PROTOCOL_HEADER, v.clone());
        }
        let method = req.method().clone();
        let (backend, answer) = match connect(url, &method, headers).await {
            Ok(found) => found,
            Err(resp) => return resp,
        };
        let client = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(client) = client.await else { return };
            let mut client = TokioIo::new(client);
            let mut backend = TokioIo::new(backend);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
        });
        let mut resp = http::Response::new(full(Bytes::new()));
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = resp.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        if let Some(v) = answer.get(STREAM_PROTOCOL_HEADER) {
            h.insert(STREAM_PROTOCOL_HEADER, v.clone());
        }
        return resp;
    }
    status(
        StatusCode::BAD_REQUEST,
        "unable to upgrade: missing upgrade headers in request",
    )
}

/// Opens an SPDY/3.1 upgrade to the runtime's stream server; the upgraded connection and the
/// answer's headers, or the error answer to give the caller.
async fn connect(
    url: &str,
    method: &Method,
    headers: HeaderMap,
) -> Result<(Upgraded, HeaderMap), Response> {
    let fail = |m: String| status(StatusCode::INTERNAL_SERVER_ERROR, &m);
    let uri: http::Uri = url
        .parse()
        .map_err(|e| fail(format!("invalid stream URL {url:?} from the runtime: {e}")))?;
    let authority = uri
        .authority()
        .ok_or_else(|| fail(format!("invalid stream URL {url:?} from the runtime")))?
        .clone();
    let host = authority.host().trim_matches(['[', ']']).to_owned();
    let port = authority.port_u16().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| {
            fail(format!(
                "error dialing the runtime's stream server {authority}: {e}"
            ))
        })?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| fail(format!("error talking to the runtime's stream server: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(path)
        .header(header::HOST, authority.as_str())
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1");
    for (name, value) in &headers {
        builder = builder.header(name, value);
    }
    let req = builder
        .body(Empty::<Bytes>::new())
        .map_err(|e| fail(format!("cannot build the stream request: {e}")))?;
    let mut resp = sender
        .send_request(req)
        .await
        .map_err(|e| fail(format!("error talking to the runtime's stream server: {e}")))?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let code = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body).trim().to_owned();
        let code = if code.is_client_error() || code.is_server_error() {
            code
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        return Err(status(
            code,
            &format!("unable to upgrade connection: {text}"),
        ));
    }
    let answer = resp.headers().clone();
    let io = hyper::upgrade::on(&mut resp)
        .await
        .map_err(|e| fail(format!("unable to upgrade connection: {e}")))?;
    Ok((io, answer))
}

/// Writes what it is sent to `io`, in order, from its own task.
pub(super) fn outbox<W: AsyncWrite + Unpin + Send + 'static>(mut io: W) -> mpsc::Sender<Vec<u8>> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if io.write_all(&bytes).await.is_err() {
                return;
            }
            if rx.is_empty() && io.flush().await.is_err() {
                return;
            }
        }
        let _ = io.shutdown().await;
    });
    tx
}

/// The SPDY stream ids of one remote-command session (client-created: odd).
#[derive(Clone, Copy, Debug)]
struct Streams {
    error: u32,
    stdin: Option<u32>,
    stdout: Option<u32>,
    stderr: Option<u32>,
    resize: Option<u32>,
}

impl Streams {
    fn new(o: StreamOptions) -> Self {
        let mut next = 1;
        let mut id = |on: bool| {
            on.then(|| {
                let i = next;
                next += 2;
                i
            })
        };
        let error = id(true).unwrap_or(1);
        Streams {
            error,
            stdin: id(o.stdin),
            stdout: id(o.stdout),
            stderr: id(o.stderr && !o.tty),
            resize: id(o.tty),
        }
    }

    fn all(&self) -> Vec<(u32, &'static str)> {
        [
            (Some(self.error), "error"),
            (self.stdin, "stdin"),
            (self.stdout, "stdout"),
            (self.stderr, "stderr"),
            (self.resize, "resize"),
        ]
        .into_iter()
        .filter_map(|(id, kind)| id.map(|i| (i, kind)))
        .collect()
    }
}

/// Bridges a `v5`/`v4.channel.k8s.io` WebSocket (`client`) to a `v4.channel.k8s.io` SPDY
/// session with the runtime (`backend`).
async fn remote_command(client: Upgraded, v5: bool, backend: Upgraded, opts: StreamOptions) {
    let (ws_read, ws_write) = tokio::io::split(TokioIo::new(client));
    let (spdy_read, spdy_write) = tokio::io::split(TokioIo::new(backend));
    let to_client = outbox(ws_write);
    let to_runtime = outbox(spdy_write);
    let streams = Streams::new(opts);
    let mut headers = HeaderWriter::default();
    for (id, kind) in streams.all() {
        let frame = Frame::SynStream {
            stream: id,
            associated: 0,
            priority: 0,
            flags: 0,
            headers: headers.block(&[("streamtype", kind)]),
        };
        if to_runtime.send(frame.encode()).await.is_err() {
            return;
        }
    }
    let closing = Arc::new(AtomicBool::new(false));
    let mut from_client = tokio::spawn(client_to_runtime(
        websocket::Reader::new(ws_read, Role::Server),
        streams,
        v5,
        to_runtime.clone(),
        to_client.clone(),
        closing.clone(),
    ));
    tokio::select! {
        status = runtime_to_client(spdy_read, streams, to_client.clone(), to_runtime.clone()) => {
            let status = if status.is_empty() {
                br#"{"metadata":{},"status":"Success"}"#.to_vec()
            } else {
                status
            };
            let mut msg = Vec::with_capacity(status.len() + 1);
            msg.push(3);
            msg.extend_from_slice(&status);
            closing.store(true, Ordering::SeqCst);
            let _ = to_client.send(websocket::encode(Role::Server, &Message::Binary(msg))).await;
            let _ = to_client
                .send(websocket::encode(Role::Server, &Message::Close(Some(CLOSE_NORMAL))))
                .await;
            // The client answers the close; then (or after a grace period) the connection ends.
            if tokio::time::timeout(CLOSE_GRACE, &mut from_client).await.is_err() {
                from_client.abort();
            }
        }
        _ = &mut from_client => {
            // The client went away; dropping the runtime session ends it there too.
        }
    }
}

/// What a client's message was to a session, once its control frames are answered.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Control {
    /// A data message, for the session to read.
    Data,
    /// A ping (answered with a pong) or a pong: nothing more to do.
    Answered,
    /// A close: answered with a close (unless one went out already, as `closing` says); the
    /// session ends.
    Closed,
}

pub(super) async fn answer_control(
    msg: &Message,
    to_client: &mpsc::Sender<Vec<u8>>,
    closing: &AtomicBool,
) -> Control {
    match msg {
        Message::Binary(_) | Message::Text(_) => Control::Data,
        Message::Ping(p) => {
            let pong = websocket::encode(Role::Server, &Message::Pong(p.clone()));
            let _ = to_client.send(pong).await;
            Control::Answered
        }
        Message::Pong(_) => Control::Answered,
        Message::Close(_) => {
            if !closing.swap(true, Ordering::SeqCst) {
                let close = websocket::encode(Role::Server, &Message::Close(Some(CLOSE_NORMAL)));
                let _ = to_client.send(close).await;
            }
            Control::Closed
        }
    }
}

/// Reads the client's WebSocket messages and turns them into SPDY frames for the runtime.
async fn client_to_runtime<R: AsyncRead + Unpin>(
    mut ws: websocket::Reader<R>,
    streams: Streams,
    v5: bool,
    to_runtime: mpsc::Sender<Vec<u8>>,
    to_client: mpsc::Sender<Vec<u8>>,
    closing: Arc<AtomicBool>,
) {
    let mut stdin_open = streams.stdin.is_some();
    loop {
        let msg = match ws.next().await {
            Ok(Some(m)) => m,
            Ok(None) | Err(_) => return,
        };
        match answer_control(&msg, &to_client, &closing).await {
            Control::Data => {}
            Control::Answered => continue,
            Control::Closed => return,
        }
        let frame = match msg {
            Message::Binary(data) if !data.is_empty() => match (data[0], streams) {
                (
                    0,
                    Streams {
                        stdin: Some(id), ..
                    },
                ) if stdin_open && data.len() > 1 => Frame::Data {
                    stream: id,
                    flags: 0,
                    data: data[1..].to_vec(),
                },
                (
                    4,
                    Streams {
                        resize: Some(id), ..
                    },
                ) => Frame::Data {
                    stream: id,
                    flags: 0,
                    data: data[1..].to_vec(),
                },
                (
                    255,
                    Streams {
                        stdin: Some(id), ..
                    },
                ) if v5 && stdin_open && data.get(1) == Some(&0) => {
                    stdin_open = false;
                    Frame::Data {
                        stream: id,
                        flags: FLAG_FIN,
                        data: Vec::new(),
                    }
                }
                _ => continue,
            },
            _ => continue,
        };
        if to_runtime.send(frame.encode()).await.is_err() {
            return;
        }
    }
}

/// Reads the runtime's SPDY frames and forwards output to the client, until the runtime has
/// written the session's status (or ended it); returns the status bytes.
async fn runtime_to_client<R: AsyncRead + Unpin>(
    mut spdy_read: R,
    streams: Streams,
    to_client: mpsc::Sender<Vec<u8>>,
    to_runtime: mpsc::Sender<Vec<u8>>,
) -> Vec<u8> {
    let mut status = Vec::new();
    loop {
        let frame = match spdy::read_frame(&mut spdy_read).await {
            Ok(Some(f)) => f,
            Ok(None) => return status,
            Err(e) => {
                tracing::debug!(error = %e, "runtime stream session failed");
                return status;
            }
        };
        match frame {
            Frame::Data {
                stream,
                flags,
                data,
            } => {
                let channel = if Some(stream) == streams.stdout {
                    1
                } else if Some(stream) == streams.stderr {
                    2
                } else if stream == streams.error {
                    status.extend_from_slice(&data);
                    if flags & FLAG_FIN != 0 {
                        return status;
                    }
                    continue;
                } else {
                    continue;
                };
                if data.is_empty() {
                    continue;
                }
                for chunk in data.chunks(64 * 1024) {
                    let mut msg = Vec::with_capacity(chunk.len() + 1);
                    msg.push(channel);
                    msg.extend_from_slice(chunk);
                    let frame = websocket::encode(Role::Server, &Message::Binary(msg));
                    if to_client.send(frame).await.is_err() {
                        return status;
                    }
                }
            }
            Frame::RstStream { stream, .. } if stream == streams.error => return status,
            Frame::GoAway { .. } => return status,
            Frame::Ping { id } => {
                let _ = to_runtime.send(Frame::Ping { id }.encode()).await;
            }
            _ => {}
        }
    }
}

/// Copies a WebSocket's binary messages to `backend` as one byte stream, and back.
async fn tunnel(client: Upgraded, backend: Upgraded) {
    let (ws_read, ws_write) = tokio::io::split(TokioIo::new(client));
    let (mut raw_read, mut raw_write) = tokio::io::split(TokioIo::new(backend));
    let to_client = outbox(ws_write);
    let closing = Arc::new(AtomicBool::new(false));
    let inbound = {
        let to_client = to_client.clone();
        let closing = closing.clone();
        async move {
            let mut ws = websocket::Reader::new(ws_read, Role::Server);
            loop {
                match ws.next().await {
                    Ok(Some(Message::Binary(data))) => {
                        if raw_write.write_all(&data).await.is_err() {
                            return;
                        }
                    }
                    Ok(Some(Message::Ping(p))) => {
                        let _ = to_client
                            .send(websocket::encode(Role::Server, &Message::Pong(p)))
                            .await;
                    }
                    Ok(Some(Message::Close(_))) => {
                        if !closing.swap(true, Ordering::SeqCst) {
                            let _ = to_client
                                .send(websocket::encode(
                                    Role::Server,
                                    &Message::Close(Some(CLOSE_NORMAL)),
                                ))
                                .await;
                        }
                        let _ = raw_write.shutdown().await;
                        return;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        let _ = raw_write.shutdown().await;
                        return;
                    }
                }
            }
        }
    };
    let outbound = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match raw_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let frame =
                        websocket::encode(Role::Server, &Message::Binary(buf[..n].to_vec()));
                    if to_client.send(frame).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !closing.swap(true, Ordering::SeqCst) {
            let _ = to_client
                .send(websocket::encode(
                    Role::Server,
                    &Message::Close(Some(CLOSE_NORMAL)),
                ))
                .await;
        }
    };
    let mut inbound = tokio::spawn(inbound);
    tokio::select! {
        _ = outbound => {
            if tokio::time::timeout(CLOSE_GRACE, &mut inbound).await.is_err() {
                inbound.abort();
            }
        }
        _ = &mut inbound => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        query_pairs(Some(q))
    }

    #[test]
    fn stream_options_follow_upstream() {
        let o = StreamOptions::from_pairs(&pairs("stdin=1&stdout=1&stderr=1&tty=1")).unwrap();
        assert_eq!(
            o,
            StreamOptions {
                stdin: true,
                stdout: true,
                stderr: false,
                tty: true
            }
        );
        let o = StreamOptions::from_pairs(&pairs("stdout=true&stderr=true")).unwrap();
        assert!(o.stdout && o.stderr && !o.stdin);
        assert_eq!(
            StreamOptions::from_pairs(&pairs("command=ls")).unwrap_err(),
            "you must specify at least 1 of stdin, stdout, stderr"
        );
    }

    #[test]
    fn subprotocols_are_negotiated_in_the_clients_order() {
        let offered = |list: &[&str]| list.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        // kube-rs offers v5 first; port-forward has no v5, so v4 it is.
        assert_eq!(
            negotiate(&offered(&[V5_CHANNEL, V4_CHANNEL]), &portforward::PROTOCOLS),
            Some(V4_CHANNEL.to_owned())
        );
        assert_eq!(
            negotiate(
                &offered(&[V5_CHANNEL, V4_CHANNEL]),
                &[V5_CHANNEL, V4_CHANNEL]
            ),
            Some(V5_CHANNEL.to_owned())
        );
        assert_eq!(negotiate(&[], &portforward::PROTOCOLS), Some(String::new()));
        assert_eq!(negotiate(&[], &[V5_CHANNEL, V4_CHANNEL]), None);
        assert_eq!(
            negotiate(&offered(&[PORT_FORWARD]), &portforward::PROTOCOLS),
            None
        );
    }

    #[test]
    fn stream_ids_are_odd_and_in_upstream_order() {
        let s = Streams::new(StreamOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        });
        assert_eq!(
            s.all(),
            vec![(1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")]
        );
        let t = Streams::new(StreamOptions {
            stdin: true,
            stdout: true,
            stderr: false,
            tty: true,
        });
        assert_eq!(
            t.all(),
            vec![(1, "error"), (3, "stdin"), (5, "stdout"), (7, "resize")]
        );
    }
}
