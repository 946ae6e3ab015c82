//! SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 §2), the part the kubelet needs to be a
//! SPDY *client* of containerd's stream server (the `v4.channel.k8s.io` exec and attach
//! protocol: one stream per standard stream, client-created).
//!
//! Header blocks are zlib streams primed with the SPDY/3 dictionary, one per direction for the
//! whole session, each block ending with a sync flush. The kubelet writes its own as
//! uncompressed ("stored") deflate blocks behind a zlib header naming the dictionary: valid
//! zlib that any inflater with the dictionary reads (Go's `compress/zlib` in containerd does),
//! at no cost of a compressor. It never needs to read
//! containerd's header blocks (replies carry nothing it uses), so it only reads back the stored
//! blocks it writes itself ([`HeaderReader`], for tests and fakes). Flow control
//! (WINDOW_UPDATE) is ignored, as Go's spdystream does.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The FIN flag of DATA, SYN_STREAM and SYN_REPLY frames.
pub const FLAG_FIN: u8 = 0x01;

/// Adler-32 of the SPDY/3 header dictionary (1,423 bytes, draft §2.6.10.1), which the zlib
/// header of a header block names (FDICT) so that the reader primes its inflater with it.
const DICTIONARY_ADLER32: u32 = 0xE3C6_A7C2;

/// An empty, non-final stored block: the end of a zlib sync flush.
const SYNC_FLUSH: [u8; 5] = [0x00, 0x00, 0x00, 0xFF, 0xFF];

/// The largest frame payload read (the wire allows 16 MiB; exec output frames are 32 KiB).
const MAX_FRAME: usize = 1 << 24;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// One frame. Header blocks stay compressed (see [`HeaderWriter`], [`HeaderReader`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream: u32,
        flags: u8,
        data: Vec<u8>,
    },
    SynStream {
        stream: u32,
        associated: u32,
        priority: u8,
        flags: u8,
        headers: Vec<u8>,
    },
    SynReply {
        stream: u32,
        flags: u8,
        headers: Vec<u8>,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_stream: u32,
        status: u32,
    },
    Headers {
        stream: u32,
        flags: u8,
        headers: Vec<u8>,
    },
    WindowUpdate {
        stream: u32,
        delta: u32,
    },
    /// SETTINGS and unknown control frames: read and ignored.
    Other {
        kind: u16,
    },
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000u16 | 3).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

impl Frame {
    /// The frame on the wire.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Frame::Data {
                stream,
                flags,
                data,
            } => {
                let mut out = Vec::with_capacity(8 + data.len());
                out.extend_from_slice(&(stream & 0x7FFF_FFFF).to_be_bytes());
                out.push(*flags);
                out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
                out.extend_from_slice(data);
                out
            }
            Frame::SynStream {
                stream,
                associated,
                priority,
                flags,
                headers,
            } => {
                let mut p = Vec::with_capacity(10 + headers.len());
                p.extend_from_slice(&(stream & 0x7FFF_FFFF).to_be_bytes());
                p.extend_from_slice(&(associated & 0x7FFF_FFFF).to_be_bytes());
                p.push((priority & 0x7) << 5);
                p.push(0);
                p.extend_from_slice(headers);
                control(SYN_STREAM, *flags, &p)
            }
            Frame::SynReply {
                stream,
                flags,
                headers,
            } => {
                let mut p = (stream & 0x7FFF_FFFF).to_be_bytes().to_vec();
                p.extend_from_slice(headers);
                control(SYN_REPLY, *flags, &p)
            }
            Frame::Headers {
                stream,
                flags,
                headers,
            } => {
                let mut p = (stream & 0x7FFF_FFFF).to_be_bytes().to_vec();
                p.extend_from_slice(headers);
                control(HEADERS, *flags, &p)
            }
            Frame::RstStream { stream, status } => {
                let mut p = (stream & 0x7FFF_FFFF).to_be_bytes().to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                control(RST_STREAM, 0, &p)
            }
            Frame::Ping { id } => control(PING, 0, &id.to_be_bytes()),
            Frame::GoAway {
                last_stream,
                status,
            } => {
                let mut p = (last_stream & 0x7FFF_FFFF).to_be_bytes().to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                control(GOAWAY, 0, &p)
            }
            Frame::WindowUpdate { stream, delta } => {
                let mut p = (stream & 0x7FFF_FFFF).to_be_bytes().to_vec();
                p.extend_from_slice(&(delta & 0x7FFF_FFFF).to_be_bytes());
                control(WINDOW_UPDATE, 0, &p)
            }
            Frame::Other { kind } => control(*kind, 0, &[]),
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("spdy protocol error: {what}"),
    )
}

fn u32_at(p: &[u8], at: usize) -> io::Result<u32> {
    p.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| invalid("short control frame"))
}

/// Reads the next frame; `None` when the connection ends between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 8];
    match r.read(&mut head[..1]).await? {
        0 => return Ok(None),
        _ => r.read_exact(&mut head[1..]).await?,
    };
    let flags = head[4];
    let len = (usize::from(head[5]) << 16) | (usize::from(head[6]) << 8) | usize::from(head[7]);
    if len > MAX_FRAME {
        return Err(invalid("frame too large"));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    if head[0] & 0x80 == 0 {
        let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7FFF_FFFF;
        return Ok(Some(Frame::Data {
            stream,
            flags,
            data: payload,
        }));
    }
    let version = u16::from_be_bytes([head[0], head[1]]) & 0x7FFF;
    if version != 3 {
        return Err(invalid(&format!("unsupported version {version}")));
    }
    let kind = u16::from_be_bytes([head[2], head[3]]);
    let stream = || u32_at(&payload, 0).map(|s| s & 0x7FFF_FFFF);
    Ok(Some(match kind {
        SYN_STREAM => {
            if payload.len() < 10 {
                return Err(invalid("short SYN_STREAM"));
            }
            Frame::SynStream {
                stream: stream()?,
                associated: u32_at(&payload, 4)? & 0x7FFF_FFFF,
                priority: payload[8] >> 5,
                flags,
                headers: payload[10..].to_vec(),
            }
        }
        SYN_REPLY => Frame::SynReply {
            stream: stream()?,
            flags,
            headers: payload.get(4..).unwrap_or_default().to_vec(),
        },
        HEADERS => Frame::Headers {
            stream: stream()?,
            flags,
            headers: payload.get(4..).unwrap_or_default().to_vec(),
        },
        RST_STREAM => Frame::RstStream {
            stream: stream()?,
            status: u32_at(&payload, 4)?,
        },
        PING => Frame::Ping {
            id: u32_at(&payload, 0)?,
        },
        GOAWAY => Frame::GoAway {
            last_stream: stream()?,
            status: u32_at(&payload, 4).unwrap_or(0),
        },
        WINDOW_UPDATE => Frame::WindowUpdate {
            stream: stream()?,
            delta: u32_at(&payload, 4)? & 0x7FFF_FFFF,
        },
        SETTINGS => Frame::Other { kind },
        other => Frame::Other { kind: other },
    }))
}

/// The name/value block before compression: count, then length-prefixed names and values.
fn name_value_block(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = (headers.len() as u32).to_be_bytes().to_vec();
    for (name, value) in headers {
        for s in [name.to_ascii_lowercase().as_str(), value] {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

/// Writes the header blocks of one direction of a session.
#[derive(Debug, Default)]
pub struct HeaderWriter {
    started: bool,
}

impl HeaderWriter {
    /// The compressed header block for `headers` (names are lowercased, as SPDY/3 requires).
    pub fn block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let raw = name_value_block(headers);
        let mut out = Vec::with_capacity(raw.len() + 16);
        if !self.started {
            // zlib header: deflate, 32 KiB window, FDICT set, check bits valid (0x78BB % 31 == 0).
            out.extend_from_slice(&[0x78, 0xBB]);
            out.extend_from_slice(&DICTIONARY_ADLER32.to_be_bytes());
            self.started = true;
        }
        for chunk in raw.chunks(usize::from(u16::MAX)) {
            // A stored block that is not the last one: BFINAL 0, BTYPE 00, padded to the byte.
            out.push(0x00);
            let len = chunk.len() as u16;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        // What a sync flush ends with: an empty stored block. Go's inflater hands out a
        // block's bytes only when the next block starts; without this it would wait for the
        // next frame's bytes, find the frame's end instead, and fail for good.
        out.extend_from_slice(&SYNC_FLUSH);
        out
    }
}

/// Reads header blocks written by a [`HeaderWriter`] (stored deflate blocks only).
#[derive(Debug, Default)]
pub struct HeaderReader {
    started: bool,
}

impl HeaderReader {
    pub fn read(&mut self, mut block: &[u8]) -> io::Result<Vec<(String, String)>> {
        if !self.started {
            if block.len() < 6 || block[0..2] != [0x78, 0xBB] {
                return Err(invalid("header block without the dictionary"));
            }
            block = &block[6..];
            self.started = true;
        }
        let mut raw = Vec::new();
        while !block.is_empty() {
            if block.len() < 5 || block[0] & 0x06 != 0 {
                return Err(invalid("compressed header blocks are not supported"));
            }
            let len = usize::from(u16::from_le_bytes([block[1], block[2]]));
            let data = block
                .get(5..5 + len)
                .ok_or_else(|| invalid("short header block"))?;
            raw.extend_from_slice(data);
            block = &block[5 + len..];
        }
        let count = u32_at(&raw, 0)?;
        let mut at = 4;
        let mut out = Vec::new();
        for _ in 0..count {
            let mut field = || -> io::Result<String> {
                let len = u32_at(&raw, at)? as usize;
                let s = raw
                    .get(at + 4..at + 4 + len)
                    .ok_or_else(|| invalid("short header"))?;
                at += 4 + len;
                Ok(String::from_utf8_lossy(s).into_owned())
            };
            let name = field()?;
            let value = field()?;
            out.push((name, value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip() {
        let mut hw = HeaderWriter::default();
        let frames = vec![
            Frame::SynStream {
                stream: 1,
                associated: 0,
                priority: 0,
                flags: 0,
                headers: hw.block(&[("streamType", "error")]),
            },
            Frame::SynReply {
                stream: 1,
                flags: 0,
                headers: hw.block(&[]),
            },
            Frame::Data {
                stream: 3,
                flags: FLAG_FIN,
                data: b"hi".to_vec(),
            },
            Frame::RstStream {
                stream: 5,
                status: 5,
            },
            Frame::Ping { id: 7 },
            Frame::GoAway {
                last_stream: 9,
                status: 0,
            },
            Frame::WindowUpdate {
                stream: 1,
                delta: 100,
            },
        ];
        let bytes: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        let mut r = &bytes[..];
        let mut got = Vec::new();
        while let Some(f) = read_frame(&mut r).await.unwrap() {
            got.push(f);
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn header_blocks_are_zlib_with_the_dictionary() {
        let mut hw = HeaderWriter::default();
        let first = hw.block(&[("streamType", "stdout"), ("port", "80")]);
        assert_eq!(&first[..6], &[0x78, 0xBB, 0xE3, 0xC6, 0xA7, 0xC2]);
        assert_eq!(
            &first[first.len() - 5..],
            &SYNC_FLUSH,
            "each block ends flushed"
        );
        let second = hw.block(&[("streamType", "stdin")]);
        assert_eq!(second[0], 0x00, "later blocks continue the same stream");
        let mut hr = HeaderReader::default();
        assert_eq!(
            hr.read(&first).unwrap(),
            vec![
                ("streamtype".to_owned(), "stdout".to_owned()),
                ("port".to_owned(), "80".to_owned())
            ]
        );
        assert_eq!(
            hr.read(&second).unwrap(),
            vec![("streamtype".to_owned(), "stdin".to_owned())]
        );
        assert!(HeaderReader::default().read(&[1, 2, 3]).is_err());
    }
}
