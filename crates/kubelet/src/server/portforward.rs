//! Port-forward over the `v4.channel.k8s.io` WebSocket protocol (kube-rs's `Portforwarder`, the
//! Python client), as upstream's kubelet serves it (`cri/streaming/portforward/websocket.go`),
//! bridged to the runtime's SPDY `portforward.k8s.io` session.
//!
//! The protocol: `?port=80,1234` names the ports; port `i` (in that order) owns channel `2i`
//! (data, both ways) and `2i+1` (error, server to client). Each binary message is one channel
//! byte and a payload (`v4.base64.channel.k8s.io`: text messages, the channel as an ASCII digit
//! `'0'+ch` and the payload in base64). Right after the upgrade the server sends, on every
//! channel, the port as 2 bytes little-endian; kube-rs checks them and refuses anything else
//! as the first message of a channel. An error message (at most one per port; kube-rs keeps
//! only the first) means the port is unusable. The server closes the WebSocket when every
//! port's connection has ended; a client's close frame ends them all (v4 cannot half-close a
//! channel, and kube-rs closes only when all its local streams are done).
//!
//! The runtime side is what client-go's port-forward client does per connection: for port
//! `i`, an error stream and a data stream with the headers `streamType`, `port` and
//! `requestID: i` (the stream server pairs them by request id), the error stream half-closed at
//! once (the client never writes on it). Data stream bytes go to channel `2i` and back; what
//! the runtime writes on the error stream (`error forwarding port 80 to pod ..., uid : ...`,
//! e.g. when the port refuses the connection) goes out on channel `2i+1` when the runtime
//! ends that stream.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::spdy::{self, FLAG_FIN, Frame, HeaderWriter};
use super::streams::{CLOSE_GRACE, Control, V4_CHANNEL, answer_control, outbox};
use super::websocket::{self, CLOSE_NORMAL, Message, Role};

pub const V4_BASE64_CHANNEL: &str = "v4.base64.channel.k8s.io";

/// The WebSocket subprotocols served, as upstream lists them; `""` is a client that offers none
/// (binary channels).
pub const PROTOCOLS: [&str; 3] = ["", V4_CHANNEL, V4_BASE64_CHANNEL];

/// Two channels per port, numbered in one byte.
pub const MAX_PORTS: usize = 128;

/// The largest payload put in one message or data frame; larger reads are split.
const CHUNK: usize = 64 * 1024;

/// The most error text kept per port (the runtime writes one short line).
const MAX_ERROR: usize = 64 * 1024;

/// How channel messages are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Binary messages: the channel byte, then the payload.
    Binary,
    /// Text messages: the channel as `'0' + ch`, then the payload in standard base64.
    Base64,
}

impl Codec {
    /// The codec of a negotiated subprotocol (one of [`PROTOCOLS`]).
    pub fn for_protocol(protocol: &str) -> Option<Codec> {
        match protocol {
            "" | V4_CHANNEL => Some(Codec::Binary),
            V4_BASE64_CHANNEL => Some(Codec::Base64),
            _ => None,
        }
    }

    fn encode(self, channel: u8, payload: &[u8]) -> Message {
        match self {
            Codec::Binary => {
                let mut msg = Vec::with_capacity(payload.len() + 1);
                msg.push(channel);
                msg.extend_from_slice(payload);
                Message::Binary(msg)
            }
            Codec::Base64 => {
                let mut msg = vec![b'0'.wrapping_add(channel)];
                msg.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(payload)
                        .as_bytes(),
                );
                Message::Text(msg)
            }
        }
    }

    /// A client message's channel and payload; `Ok(None)` for an empty message, an error for
    /// payload that is not base64 (upstream ends the connection then).
    fn decode(self, msg: &[u8]) -> Result<Option<(u8, Vec<u8>)>, base64::DecodeError> {
        let Some((&channel, payload)) = msg.split_first() else {
            return Ok(None);
        };
        match self {
            Codec::Binary => Ok(Some((channel, payload.to_vec()))),
            Codec::Base64 => {
                let data = base64::engine::general_purpose::STANDARD.decode(payload)?;
                Ok(Some((channel.wrapping_sub(b'0'), data)))
            }
        }
    }
}

/// Go's `strconv.ParseUint(s, 10, 16)` error text, for upstream's messages.
fn parse_u16(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"));
    }
    s.parse()
        .map_err(|_| format!("strconv.ParseUint: parsing {s:?}: value out of range"))
}

/// The ports of a WebSocket port-forward request, in order (upstream's `NewV4Options`: every
/// `port` value, comma-separated; `ports` as well, the API server's own name for it).
pub fn parse_ports(pairs: &[(String, String)]) -> Result<Vec<u16>, String> {
    let values: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "port" || k == "ports")
        .map(|(_, v)| v.as_str())
        .collect();
    if values.is_empty() {
        return Err("query parameter \"port\" is required".to_owned());
    }
    let mut ports = Vec::new();
    for value in values {
        if value.is_empty() {
            return Err("query parameter \"port\" cannot be empty".to_owned());
        }
        for p in value.split(',') {
            let port =
                parse_u16(p).map_err(|e| format!("unable to parse {value:?} as a port: {e}"))?;
            if port < 1 {
                return Err(format!("port {value:?} must be > 0"));
            }
            ports.push(port);
        }
    }
    if ports.len() > MAX_PORTS {
        return Err(format!(
            "at most {MAX_PORTS} ports can be forwarded over one connection, got {}",
            ports.len()
        ));
    }
    Ok(ports)
}

/// One session: the ports in channel order, and the pod as error messages name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub ports: Vec<u16>,
    /// Upstream's pod full name, `{name}_{namespace}`.
    pub pod: String,
    pub uid: String,
}

/// The messages that open a session: each port's number on its data and its error channel.
fn initial_messages(codec: Codec, ports: &[u16]) -> Vec<Message> {
    (0u8..)
        .zip(ports)
        .flat_map(|(i, port)| {
            let bytes = port.to_le_bytes();
            [codec.encode(2 * i, &bytes), codec.encode(2 * i + 1, &bytes)]
        })
        .collect()
}

/// The SPDY stream ids of port `index`: its error stream, then its data stream (client-created
/// streams are odd; client-go creates the error stream first).
fn stream_ids(index: usize) -> (u32, u32) {
    let base = 4 * index as u32;
    (base + 1, base + 3)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamKind {
    Error,
    Data,
}

/// Which port's stream an id is.
fn stream_of(id: u32, ports: usize) -> Option<(usize, StreamKind)> {
    if id.is_multiple_of(2) {
        return None;
    }
    let index = usize::try_from((id - 1) / 4).ok()?;
    let kind = if (id - 1).is_multiple_of(4) {
        StreamKind::Error
    } else {
        StreamKind::Data
    };
    (index < ports).then_some((index, kind))
}

/// The frames that open the runtime's streams: per port an error stream (half-closed at once)
/// and a data stream, as client-go's `handleConnection` creates them.
fn opening_frames(ports: &[u16]) -> Vec<Frame> {
    let mut headers = HeaderWriter::default();
    let mut frames = Vec::with_capacity(ports.len() * 3);
    for (i, port) in ports.iter().enumerate() {
        let (error, data) = stream_ids(i);
        let (port, request) = (port.to_string(), i.to_string());
        for (id, kind) in [(error, "error"), (data, "data")] {
            frames.push(Frame::SynStream {
                stream: id,
                associated: 0,
                priority: 0,
                flags: 0,
                headers: headers.block(&[
                    ("streamType", kind),
                    ("port", &port),
                    ("requestID", &request),
                ]),
            });
            if kind == "error" {
                frames.push(Frame::Data {
                    stream: id,
                    flags: FLAG_FIN,
                    data: Vec::new(),
                });
            }
        }
    }
    frames
}

/// What the runtime has done with one port's streams.
#[derive(Debug, Default)]
struct Port {
    port: u16,
    /// The runtime ended the data stream (FIN or reset): the connection in the pod is gone.
    data_done: bool,
    error_done: bool,
    error: Vec<u8>,
    error_sent: bool,
}

impl Port {
    fn done(&self) -> bool {
        self.data_done && self.error_done
    }
}

enum Event {
    /// The client closed the WebSocket, or it broke.
    ClientDone,
    Runtime(io::Result<Option<Frame>>),
}

/// Serves one session: `client` is the upgraded WebSocket, `backend` the upgraded SPDY
/// connection to the runtime's stream server. Returns when the WebSocket has closed (or the
/// client stopped answering after the server's close frame).
pub async fn bridge<C, B>(client: C, backend: B, mut session: Session, codec: Codec)
where
    C: AsyncRead + AsyncWrite + Send + 'static,
    B: AsyncRead + AsyncWrite + Send + 'static,
{
    // Channel numbers are one byte ([`parse_ports`] refuses more).
    session.ports.truncate(MAX_PORTS);
    let (ws_read, ws_write) = tokio::io::split(client);
    let (mut spdy_read, spdy_write) = tokio::io::split(backend);
    let to_client = outbox(ws_write);
    let to_runtime = outbox(spdy_write);
    let send_client = |m: &Message| to_client.send(websocket::encode(Role::Server, m));

    for frame in opening_frames(&session.ports) {
        if to_runtime.send(frame.encode()).await.is_err() {
            return;
        }
    }
    for msg in initial_messages(codec, &session.ports) {
        if send_client(&msg).await.is_err() {
            return;
        }
    }

    // Each direction runs on its own, as upstream's copies do: a pod that does not read its
    // input must not stall its output. The readers never race each other in a select either:
    // a read cut off in the middle of a frame would lose the frame.
    let data_done: Arc<[AtomicBool]> = session
        .ports
        .iter()
        .map(|_| AtomicBool::new(false))
        .collect();
    let closing = Arc::new(AtomicBool::new(false));
    let (events, mut inbox) = mpsc::channel::<Event>(16);
    let client_reader = {
        let events = events.clone();
        let ws = websocket::Reader::new(ws_read, Role::Server);
        let (data_done, closing) = (data_done.clone(), closing.clone());
        let (to_runtime, to_client) = (to_runtime.clone(), to_client.clone());
        tokio::spawn(async move {
            client_to_runtime(ws, codec, &data_done, &closing, &to_runtime, &to_client).await;
            let _ = events.send(Event::ClientDone).await;
        })
    };
    let runtime_reader = tokio::spawn(async move {
        loop {
            let read = spdy::read_frame(&mut spdy_read).await;
            let last = !matches!(read, Ok(Some(_)));
            if events.send(Event::Runtime(read)).await.is_err() || last {
                return;
            }
        }
    });

    let mut ports: Vec<Port> = session
        .ports
        .iter()
        .map(|&port| Port {
            port,
            ..Port::default()
        })
        .collect();
    // Once the server has sent its close frame: until when it waits for the client's.
    let mut deadline: Option<Instant> = None;
    loop {
        let event = match deadline {
            None => inbox.recv().await,
            Some(at) => match tokio::time::timeout_at(at, inbox.recv()).await {
                Ok(event) => event,
                Err(_) => break,
            },
        };
        match event {
            None | Some(Event::ClientDone) => break,
            Some(Event::Runtime(_)) if deadline.is_some() => continue,
            Some(Event::Runtime(Ok(Some(frame)))) => {
                let out = Outputs {
                    codec,
                    to_client: &to_client,
                    to_runtime: &to_runtime,
                };
                on_frame(&mut ports, frame, &session, out).await;
            }
            Some(Event::Runtime(end)) => {
                let reason = match end {
                    Err(e) => e.to_string(),
                    Ok(_) => "lost connection to the runtime's stream server".to_owned(),
                };
                runtime_gone(&mut ports, &session, codec, &to_client, &reason).await;
            }
        }
        for (done, port) in data_done.iter().zip(&ports) {
            done.store(port.data_done, Ordering::SeqCst);
        }
        if ports.iter().all(Port::done) {
            // Every connection in the pod has ended, so has the session (upstream closes the
            // WebSocket once each port's forwarder has returned).
            for (index, port) in ports.iter_mut().enumerate() {
                send_error(port, index, codec, &to_client).await;
            }
            if !closing.swap(true, Ordering::SeqCst) {
                let _ = send_client(&Message::Close(Some(CLOSE_NORMAL))).await;
            }
            deadline = Some(Instant::now() + CLOSE_GRACE);
        }
    }
    client_reader.abort();
    runtime_reader.abort();
    if !closing.swap(true, Ordering::SeqCst) {
        // The client's WebSocket broke (or sent what is not base64): close it all the same.
        let _ = to_client.try_send(websocket::encode(
            Role::Server,
            &Message::Close(Some(CLOSE_NORMAL)),
        ));
    }
    // The client is done with ports the runtime still forwards: say so on their data streams
    // (client-go's `dataStream.Close()`), so the runtime ends its connections in the pod
    // cleanly before the session drops. A full queue means a stuck runtime: skip it then.
    for (index, port) in ports.iter().enumerate() {
        if !port.data_done {
            let (_, data) = stream_ids(index);
            let fin = Frame::Data {
                stream: data,
                flags: FLAG_FIN,
                data: Vec::new(),
            };
            let _ = to_runtime.try_send(fin.encode());
        }
    }
    // Dropping the senders lets both outboxes write what is queued and shut their side down.
}

/// Where the runtime's frames go.
#[derive(Clone, Copy)]
struct Outputs<'a> {
    codec: Codec,
    to_client: &'a mpsc::Sender<Vec<u8>>,
    to_runtime: &'a mpsc::Sender<Vec<u8>>,
}

/// Handles one frame from the runtime: data out on its port's channel, error text kept until
/// the runtime ends the error stream, the end of streams noted.
async fn on_frame(ports: &mut [Port], frame: Frame, session: &Session, out: Outputs<'_>) {
    let Outputs {
        codec,
        to_client,
        to_runtime,
    } = out;
    match frame {
        Frame::Data {
            stream,
            flags,
            data,
        } => {
            let Some((index, kind)) = stream_of(stream, ports.len()) else {
                return;
            };
            let port = &mut ports[index];
            let fin = flags & FLAG_FIN != 0;
            match kind {
                StreamKind::Data if !port.data_done => {
                    let channel = 2 * index as u8;
                    for chunk in data.chunks(CHUNK) {
                        let msg = codec.encode(channel, chunk);
                        let _ = to_client.send(websocket::encode(Role::Server, &msg)).await;
                    }
                    port.data_done = fin;
                }
                StreamKind::Error if !port.error_done => {
                    let room = MAX_ERROR.saturating_sub(port.error.len());
                    port.error.extend_from_slice(&data[..data.len().min(room)]);
                    if fin {
                        port.error_done = true;
                        send_error(port, index, codec, to_client).await;
                    }
                }
                _ => {}
            }
        }
        Frame::RstStream { stream, .. } => {
            if let Some((index, kind)) = stream_of(stream, ports.len()) {
                let port = &mut ports[index];
                match kind {
                    StreamKind::Data => port.data_done = true,
                    StreamKind::Error => {
                        port.error_done = true;
                        send_error(port, index, codec, to_client).await;
                    }
                }
            }
        }
        Frame::Ping { id } => {
            // Never wait on the runtime here: it may be waiting for the client's side.
            let _ = to_runtime.try_send(Frame::Ping { id }.encode());
        }
        Frame::GoAway { .. } => {
            let reason = "the runtime's stream server ended the session";
            runtime_gone(ports, session, codec, to_client, reason).await;
        }
        _ => {}
    }
}

/// Reads the client's messages and writes data channels to the runtime's data streams, until
/// the client closes the WebSocket (answered here unless the server closed first).
async fn client_to_runtime<R: AsyncRead + Unpin>(
    mut ws: websocket::Reader<R>,
    codec: Codec,
    data_done: &[AtomicBool],
    closing: &AtomicBool,
    to_runtime: &mpsc::Sender<Vec<u8>>,
    to_client: &mpsc::Sender<Vec<u8>>,
) {
    loop {
        let msg = match ws.next().await {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "port-forward websocket failed");
                return;
            }
        };
        match answer_control(&msg, to_client, closing).await {
            Control::Data => {}
            Control::Answered => continue,
            Control::Closed => return,
        }
        let (Message::Binary(data) | Message::Text(data)) = msg else {
            continue;
        };
        if closing.load(Ordering::SeqCst) {
            continue;
        }
        let (channel, payload) = match codec.decode(&data) {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "invalid base64 port-forward message");
                return;
            }
        };
        let index = usize::from(channel / 2);
        // Error channels are the server's to write; anything else is not a channel of this
        // session (upstream drops both). So is data for a connection the pod has ended.
        let open = channel.is_multiple_of(2)
            && data_done
                .get(index)
                .is_some_and(|done| !done.load(Ordering::SeqCst));
        if !open || payload.is_empty() {
            continue;
        }
        let (_, stream) = stream_ids(index);
        for chunk in payload.chunks(CHUNK) {
            let frame = Frame::Data {
                stream,
                flags: 0,
                data: chunk.to_vec(),
            };
            // A runtime session that is gone is the runtime reader's to report; keep reading
            // so that the client's close still gets its answer.
            let _ = to_runtime.send(frame.encode()).await;
        }
    }
}

/// Sends a port's error text, once, if the runtime wrote any.
async fn send_error(
    port: &mut Port,
    index: usize,
    codec: Codec,
    to_client: &mpsc::Sender<Vec<u8>>,
) {
    if port.error_sent || port.error.is_empty() {
        return;
    }
    port.error_sent = true;
    // kube-rs refuses error text that is not UTF-8 (and fails the whole session).
    let text = String::from_utf8_lossy(&port.error).into_owned();
    let msg = codec.encode(2 * index as u8 + 1, text.as_bytes());
    let _ = to_client.send(websocket::encode(Role::Server, &msg)).await;
}

/// The runtime's session has ended: every port still forwarding gets upstream's error text
/// (what its kubelet writes when a forwarder fails) and is done.
async fn runtime_gone(
    ports: &mut [Port],
    session: &Session,
    codec: Codec,
    to_client: &mpsc::Sender<Vec<u8>>,
    reason: &str,
) {
    for (index, port) in ports.iter_mut().enumerate() {
        if port.done() {
            continue;
        }
        if port.error.is_empty() {
            port.error = format!(
                "error forwarding port {} to pod {}, uid {}: {reason}",
                port.port, session.pod, session.uid
            )
            .into_bytes();
        }
        send_error(port, index, codec, to_client).await;
        port.data_done = true;
        port.error_done = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::spdy::HeaderReader;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

    fn pairs(q: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn ports_parse_as_upstream() {
        assert_eq!(parse_ports(&pairs("port=80,1234")).unwrap(), vec![80, 1234]);
        assert_eq!(
            parse_ports(&pairs("port=80&port=443,8080")).unwrap(),
            vec![80, 443, 8080]
        );
        assert_eq!(parse_ports(&pairs("ports=53")).unwrap(), vec![53]);
        assert_eq!(
            parse_ports(&pairs("stdin=1")).unwrap_err(),
            "query parameter \"port\" is required"
        );
        assert_eq!(
            parse_ports(&pairs("port=")).unwrap_err(),
            "query parameter \"port\" cannot be empty"
        );
        assert_eq!(
            parse_ports(&pairs("port=80,x")).unwrap_err(),
            "unable to parse \"80,x\" as a port: strconv.ParseUint: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            parse_ports(&pairs("port=80,")).unwrap_err(),
            "unable to parse \"80,\" as a port: strconv.ParseUint: parsing \"\": invalid syntax"
        );
        assert_eq!(
            parse_ports(&pairs("port=%2B80")).unwrap_err(),
            "unable to parse \"+80\" as a port: strconv.ParseUint: parsing \"+80\": invalid syntax"
        );
        assert_eq!(
            parse_ports(&pairs("port=70000")).unwrap_err(),
            "unable to parse \"70000\" as a port: strconv.ParseUint: parsing \"70000\": value out of range"
        );
        assert_eq!(
            parse_ports(&pairs("port=0")).unwrap_err(),
            "port \"0\" must be > 0"
        );
        let many = vec!["1"; MAX_PORTS + 1].join(",");
        assert!(parse_ports(&pairs(&format!("port={many}"))).is_err());
        let most = vec!["1"; MAX_PORTS].join(",");
        assert_eq!(
            parse_ports(&pairs(&format!("port={most}"))).unwrap().len(),
            MAX_PORTS
        );
    }

    #[test]
    fn protocols_pick_their_codec() {
        assert_eq!(Codec::for_protocol(""), Some(Codec::Binary));
        assert_eq!(Codec::for_protocol(V4_CHANNEL), Some(Codec::Binary));
        assert_eq!(Codec::for_protocol(V4_BASE64_CHANNEL), Some(Codec::Base64));
        assert_eq!(Codec::for_protocol("v5.channel.k8s.io"), None);
    }

    #[test]
    fn every_channel_opens_with_its_port_little_endian() {
        assert_eq!(
            initial_messages(Codec::Binary, &[80, 1234]),
            vec![
                Message::Binary(vec![0, 80, 0]),
                Message::Binary(vec![1, 80, 0]),
                Message::Binary(vec![2, 0xD2, 0x04]),
                Message::Binary(vec![3, 0xD2, 0x04]),
            ]
        );
        assert_eq!(
            initial_messages(Codec::Base64, &[80]),
            vec![
                Message::Text(b"0UAA=".to_vec()),
                Message::Text(b"1UAA=".to_vec())
            ]
        );
    }

    #[test]
    fn channel_messages_round_trip() {
        for codec in [Codec::Binary, Codec::Base64] {
            let (Message::Binary(m) | Message::Text(m)) = codec.encode(4, b"hello") else {
                panic!("a data message");
            };
            assert_eq!(codec.decode(&m).unwrap(), Some((4, b"hello".to_vec())));
            assert_eq!(codec.decode(&[]).unwrap(), None);
        }
        assert!(Codec::Base64.decode(b"0***").is_err());
        // A digit below '0' is no channel of ours, not a panic.
        assert_eq!(Codec::Base64.decode(b"/").unwrap(), Some((255, Vec::new())));
    }

    #[test]
    fn stream_ids_pair_up_per_port() {
        assert_eq!(stream_ids(0), (1, 3));
        assert_eq!(stream_ids(1), (5, 7));
        assert_eq!(stream_of(1, 2), Some((0, StreamKind::Error)));
        assert_eq!(stream_of(3, 2), Some((0, StreamKind::Data)));
        assert_eq!(stream_of(7, 2), Some((1, StreamKind::Data)));
        assert_eq!(stream_of(9, 2), None);
        assert_eq!(stream_of(2, 2), None);
        assert_eq!(stream_of(0, 2), None);
        assert_eq!(stream_of(u32::MAX, 2), None);
    }

    #[test]
    fn runtime_streams_carry_client_go_headers() {
        let frames = opening_frames(&[80, 1234]);
        let mut reader = HeaderReader::default();
        let mut seen = Vec::new();
        for f in frames {
            match f {
                Frame::SynStream {
                    stream, headers, ..
                } => seen.push((stream, reader.read(&headers).unwrap())),
                Frame::Data {
                    stream,
                    flags,
                    data,
                } => {
                    assert_eq!((flags, data.len()), (FLAG_FIN, 0));
                    seen.push((stream, vec![("fin".to_owned(), String::new())]));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let h = |t: &str, p: &str, r: &str| {
            vec![
                ("streamtype".to_owned(), t.to_owned()),
                ("port".to_owned(), p.to_owned()),
                ("requestid".to_owned(), r.to_owned()),
            ]
        };
        let fin = vec![("fin".to_owned(), String::new())];
        assert_eq!(
            seen,
            vec![
                (1, h("error", "80", "0")),
                (1, fin.clone()),
                (3, h("data", "80", "0")),
                (5, h("error", "1234", "1")),
                (5, fin),
                (7, h("data", "1234", "1")),
            ]
        );
    }

    /// A session over in-memory pipes: the test plays the WebSocket client and the runtime.
    struct Harness {
        ws: websocket::Reader<ReadHalf<DuplexStream>>,
        ws_write: WriteHalf<DuplexStream>,
        runtime: ReadHalf<DuplexStream>,
        runtime_write: WriteHalf<DuplexStream>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Harness {
        fn start(ports: &[u16], codec: Codec) -> Harness {
            let (client, server_ws) = tokio::io::duplex(1 << 20);
            let (runtime, server_spdy) = tokio::io::duplex(1 << 20);
            let session = Session {
                ports: ports.to_vec(),
                pod: "web_default".to_owned(),
                uid: "u1".to_owned(),
            };
            let task = tokio::spawn(bridge(server_ws, server_spdy, session, codec));
            let (ws_read, ws_write) = tokio::io::split(client);
            let (runtime, runtime_write) = tokio::io::split(runtime);
            Harness {
                ws: websocket::Reader::new(ws_read, Role::Client),
                ws_write,
                runtime,
                runtime_write,
                task,
            }
        }

        async fn message(&mut self) -> Option<Message> {
            tokio::time::timeout(std::time::Duration::from_secs(10), self.ws.next())
                .await
                .expect("a message in time")
                .expect("a valid frame")
        }

        async fn frame(&mut self) -> Option<Frame> {
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                spdy::read_frame(&mut self.runtime),
            )
            .await
            .expect("a frame in time")
            .expect("a valid frame")
        }

        async fn send(&mut self, m: &Message) {
            let bytes = websocket::encode(Role::Client, m);
            self.ws_write.write_all(&bytes).await.unwrap();
        }

        async fn runtime_sends(&mut self, f: Frame) {
            self.runtime_write.write_all(&f.encode()).await.unwrap();
        }

        /// Reads the session's opening frames from the runtime side.
        async fn opened(&mut self, ports: usize) {
            for _ in 0..ports * 3 {
                assert!(self.frame().await.is_some());
            }
        }
    }

    fn data(stream: u32, flags: u8, bytes: &[u8]) -> Frame {
        Frame::Data {
            stream,
            flags,
            data: bytes.to_vec(),
        }
    }

    #[tokio::test]
    async fn bytes_flow_both_ways_and_the_session_closes_when_the_pod_does() {
        let mut h = Harness::start(&[8080], Codec::Binary);
        h.opened(1).await;
        assert_eq!(
            h.message().await,
            Some(Message::Binary(vec![0, 0x90, 0x1F]))
        );
        assert_eq!(
            h.message().await,
            Some(Message::Binary(vec![1, 0x90, 0x1F]))
        );

        h.send(&Message::Binary(b"\x00GET / HTTP/1.0\r\n\r\n".to_vec()))
            .await;
        // Not ours to write, nor a channel of this session: dropped.
        h.send(&Message::Binary(b"\x01nope".to_vec())).await;
        h.send(&Message::Binary(b"\x07nope".to_vec())).await;
        h.send(&Message::Binary(vec![0])).await;
        assert_eq!(h.frame().await, Some(data(3, 0, b"GET / HTTP/1.0\r\n\r\n")));

        h.send(&Message::Ping(b"p".to_vec())).await;
        assert_eq!(h.message().await, Some(Message::Pong(b"p".to_vec())));

        h.runtime_sends(data(3, 0, b"HTTP/1.0 200 OK\r\n\r\nhi"))
            .await;
        h.runtime_sends(Frame::Ping { id: 2 }).await;
        assert_eq!(
            h.message().await,
            Some(Message::Binary(b"\x00HTTP/1.0 200 OK\r\n\r\nhi".to_vec()))
        );
        assert_eq!(h.frame().await, Some(Frame::Ping { id: 2 }));

        // The runtime ends the pair as its stream server does: error stream, then data.
        h.runtime_sends(data(1, FLAG_FIN, b"")).await;
        h.runtime_sends(data(3, FLAG_FIN, b"")).await;
        assert_eq!(h.message().await, Some(Message::Close(Some(CLOSE_NORMAL))));
        h.send(&Message::Close(Some(CLOSE_NORMAL))).await;
        tokio::time::timeout(std::time::Duration::from_secs(10), &mut h.task)
            .await
            .expect("the session ends")
            .unwrap();
        assert_eq!(h.message().await, None, "the WebSocket connection ends");
    }

    #[tokio::test]
    async fn the_runtime_error_text_goes_out_on_the_error_channel() {
        let mut h = Harness::start(&[80, 81], Codec::Binary);
        h.opened(2).await;
        for _ in 0..4 {
            h.message().await;
        }
        let text = "error forwarding port 81 to pod abc, uid : dial tcp4 127.0.0.1:81: connect: connection refused";
        let (half, rest) = text.split_at(20);
        h.runtime_sends(data(5, 0, half.as_bytes())).await;
        h.runtime_sends(data(5, FLAG_FIN, rest.as_bytes())).await;
        h.runtime_sends(data(7, FLAG_FIN, b"")).await;
        let mut expected = vec![3];
        expected.extend_from_slice(text.as_bytes());
        assert_eq!(h.message().await, Some(Message::Binary(expected)));

        // Port 80 still works; when it ends too, so does the session.
        h.runtime_sends(data(3, 0, b"x")).await;
        assert_eq!(h.message().await, Some(Message::Binary(b"\x00x".to_vec())));
        h.runtime_sends(Frame::RstStream {
            stream: 3,
            status: 5,
        })
        .await;
        h.runtime_sends(data(1, FLAG_FIN, b"")).await;
        assert_eq!(h.message().await, Some(Message::Close(Some(CLOSE_NORMAL))));
    }

    #[tokio::test]
    async fn a_client_close_half_closes_the_runtime_streams() {
        let mut h = Harness::start(&[80], Codec::Base64);
        h.opened(1).await;
        assert_eq!(h.message().await, Some(Message::Text(b"0UAA=".to_vec())));
        assert_eq!(h.message().await, Some(Message::Text(b"1UAA=".to_vec())));
        h.send(&Message::Text(b"0aGk=".to_vec())).await;
        assert_eq!(h.frame().await, Some(data(3, 0, b"hi")));
        h.runtime_sends(data(3, 0, b"yo")).await;
        assert_eq!(h.message().await, Some(Message::Text(b"0eW8=".to_vec())));

        h.send(&Message::Close(Some(CLOSE_NORMAL))).await;
        assert_eq!(h.message().await, Some(Message::Close(Some(CLOSE_NORMAL))));
        assert_eq!(h.frame().await, Some(data(3, FLAG_FIN, b"")));
        assert_eq!(h.frame().await, None, "the runtime session ends");
        let mut rest = Vec::new();
        let _ = h.runtime.read_to_end(&mut rest).await;
    }

    #[tokio::test]
    async fn a_lost_runtime_session_is_reported_per_port() {
        let mut h = Harness::start(&[80], Codec::Binary);
        h.opened(1).await;
        h.message().await;
        h.message().await;
        h.runtime_write.shutdown().await.unwrap();
        let expected = b"\x01error forwarding port 80 to pod web_default, uid u1: lost connection to the runtime's stream server";
        assert_eq!(h.message().await, Some(Message::Binary(expected.to_vec())));
        assert_eq!(h.message().await, Some(Message::Close(Some(CLOSE_NORMAL))));
    }

    #[tokio::test]
    async fn garbage_from_either_side_ends_the_session_without_panicking() {
        let mut h = Harness::start(&[80], Codec::Binary);
        h.opened(1).await;
        h.ws_write.write_all(&[0xFF; 64]).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), &mut h.task)
            .await
            .expect("the session ends")
            .unwrap();

        let mut h = Harness::start(&[80], Codec::Binary);
        h.opened(1).await;
        h.message().await;
        h.message().await;
        // A control frame of SPDY version 7.
        h.runtime_write
            .write_all(&[0x80, 0x07, 0, 1, 0, 0, 0, 0])
            .await
            .unwrap();
        let Some(Message::Binary(m)) = h.message().await else {
            panic!("an error message");
        };
        assert!(m[0] == 1 && String::from_utf8_lossy(&m).contains("spdy protocol error"));
    }
}
