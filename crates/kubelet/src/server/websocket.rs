//! WebSocket (RFC 6455) framing: what the streaming endpoints need, both roles.
//!
//! The kubelet is the server side of kubectl's `v5.channel.k8s.io` exec/attach sessions, of
//! its `SPDY/3.1+portforward.k8s.io` tunnel and of the `v4.channel.k8s.io` port-forward of
//! kube-rs and the Python client; tests use the client side. Messages are reassembled
//! from fragments; control frames may come between fragments; a server refuses unmasked client
//! frames and a client refuses masked server frames (RFC 6455 §5.1). No extensions (no
//! compression) are negotiated. Messages above [`MAX_MESSAGE`] end the connection.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The GUID of the opening handshake (RFC 6455 §1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest message accepted (stdin chunks and tunnelled SPDY frames are far smaller).
pub const MAX_MESSAGE: usize = 16 << 20;

/// The normal-closure status code.
pub const CLOSE_NORMAL: u16 = 1000;

/// Which end of the connection this is: servers send unmasked frames, clients masked ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// One message (or control frame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame with its status code, if it had one.
    Close(Option<u16>),
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.trim().as_bytes());
    ctx.update(GUID.as_bytes());
    base64(ctx.finish().as_ref())
}

/// A fresh `Sec-WebSocket-Key` (16 random bytes, base64), for clients.
pub fn new_key() -> String {
    base64(&random::<16>())
}

fn random<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    // The system RNG does not fail on Linux; a zero mask or key would still be valid.
    let _ = ring::rand::SystemRandom::new().fill(&mut out);
    out
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Encodes one message as a single frame.
pub fn encode(role: Role, message: &Message) -> Vec<u8> {
    let (opcode, payload): (u8, &[u8]) = match message {
        Message::Text(p) => (0x1, p),
        Message::Binary(p) => (0x2, p),
        Message::Ping(p) => (0x9, p),
        Message::Pong(p) => (0xA, p),
        Message::Close(_) => (0x8, &[]),
    };
    let close_code;
    let payload = match message {
        Message::Close(Some(code)) => {
            close_code = code.to_be_bytes();
            &close_code[..]
        }
        _ => payload,
    };
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | opcode);
    let mask_bit = if role == Role::Client { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if role == Role::Client {
        let mask = random::<4>();
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

fn protocol_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("websocket protocol error: {what}"),
    )
}

/// Reads messages from one side of a connection.
#[derive(Debug)]
pub struct Reader<R> {
    io: R,
    role: Role,
    /// A fragmented message being reassembled: its opcode and the payload so far.
    partial: Option<(u8, Vec<u8>)>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub fn new(io: R, role: Role) -> Self {
        Self {
            io,
            role,
            partial: None,
        }
    }

    /// The next message; `None` when the connection ends between frames.
    pub async fn next(&mut self) -> io::Result<Option<Message>> {
        loop {
            let mut head = [0u8; 2];
            match self.io.read(&mut head[..1]).await? {
                0 => return Ok(None),
                _ => self.io.read_exact(&mut head[1..]).await?,
            };
            let fin = head[0] & 0x80 != 0;
            if head[0] & 0x70 != 0 {
                return Err(protocol_error("reserved bits set"));
            }
            let opcode = head[0] & 0x0F;
            let masked = head[1] & 0x80 != 0;
            if masked != (self.role == Role::Server) {
                return Err(protocol_error(if masked {
                    "masked frame from the server"
                } else {
                    "unmasked frame from the client"
                }));
            }
            let len = match head[1] & 0x7F {
                126 => u64::from(self.io.read_u16().await?),
                127 => self.io.read_u64().await?,
                n => u64::from(n),
            };
            let control = opcode & 0x8 != 0;
            if control && (len > 125 || !fin) {
                return Err(protocol_error("invalid control frame"));
            }
            let so_far = self.partial.as_ref().map_or(0, |(_, p)| p.len());
            let len = usize::try_from(len)
                .ok()
                .filter(|n| n.saturating_add(so_far) <= MAX_MESSAGE)
                .ok_or_else(|| protocol_error("message too large"))?;
            let mut mask = [0u8; 4];
            if masked {
                self.io.read_exact(&mut mask).await?;
            }
            let mut payload = vec![0u8; len];
            self.io.read_exact(&mut payload).await?;
            if masked {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= mask[i % 4];
                }
            }
            let (opcode, payload) = match opcode {
                0x0 => {
                    let Some((op, mut data)) = self.partial.take() else {
                        return Err(protocol_error("continuation without a message"));
                    };
                    data.extend_from_slice(&payload);
                    if !fin {
                        self.partial = Some((op, data));
                        continue;
                    }
                    (op, data)
                }
                0x1 | 0x2 => {
                    if self.partial.is_some() {
                        return Err(protocol_error("new message inside a fragmented one"));
                    }
                    if !fin {
                        self.partial = Some((opcode, payload));
                        continue;
                    }
                    (opcode, payload)
                }
                op => (op, payload),
            };
            return Ok(Some(match opcode {
                0x1 => Message::Text(payload),
                0x2 => Message::Binary(payload),
                0x8 => Message::Close(
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
                ),
                0x9 => Message::Ping(payload),
                0xA => Message::Pong(payload),
                _ => return Err(protocol_error("unknown opcode")),
            }));
        }
    }
}

/// The protocols a client offered in `Sec-WebSocket-Protocol` (every header, comma-separated).
pub fn offered_protocols(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether a request asks for a WebSocket upgrade.
pub fn is_websocket_request(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(new_key().len(), 24);
    }

    async fn read_all(bytes: Vec<u8>, role: Role) -> Vec<Message> {
        let mut r = Reader::new(&bytes[..], role);
        let mut out = Vec::new();
        while let Some(m) = r.next().await.unwrap() {
            out.push(m);
        }
        out
    }

    #[tokio::test]
    async fn frames_round_trip_in_both_roles() {
        let big = vec![7u8; 70_000];
        let msgs = vec![
            Message::Binary(vec![1, b'h', b'i']),
            Message::Text(b"x".to_vec()),
            Message::Binary(big.clone()),
            Message::Binary(vec![0; 300]),
            Message::Ping(b"p".to_vec()),
            Message::Close(Some(CLOSE_NORMAL)),
        ];
        for (writer, reader) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
            let bytes: Vec<u8> = msgs.iter().flat_map(|m| encode(writer, m)).collect();
            assert_eq!(read_all(bytes, reader).await, msgs);
        }
    }

    #[tokio::test]
    async fn fragments_are_reassembled_around_control_frames() {
        // Server-to-client frames, hand-made: "he" + ping + "llo".
        let mut bytes = vec![0x02, 2, b'h', b'e'];
        bytes.extend_from_slice(&[0x89, 0]);
        bytes.extend_from_slice(&[0x80, 3, b'l', b'l', b'o']);
        let got = read_all(bytes, Role::Client).await;
        assert_eq!(
            got,
            vec![Message::Ping(vec![]), Message::Binary(b"hello".to_vec())]
        );
    }

    #[tokio::test]
    async fn unmasked_client_frames_and_truncation_are_errors() {
        let bytes = encode(Role::Server, &Message::Binary(vec![1]));
        let mut r = Reader::new(&bytes[..], Role::Server);
        assert!(r.next().await.is_err());
        let mut bytes = encode(Role::Client, &Message::Binary(vec![1, 2, 3]));
        bytes.truncate(bytes.len() - 1);
        let mut r = Reader::new(&bytes[..], Role::Server);
        assert!(r.next().await.is_err());
    }
}
