//! `grpc` probes: the standard `grpc.health.v1.Health/Check` over plaintext HTTP/2 (tonic),
//! as upstream's `pkg/probe/grpc`. The two messages are encoded by hand (a string field and an
//! enum field), so no generated code is needed.
//!
//! Like upstream (which dials with `WithBlock`), a refused connection is retried until the
//! timeout, so an unreachable server reads
//! `timeout: failed to connect service "10.42.0.5:9090" within 1s: context deadline exceeded`.

use std::time::Duration;

use bytes::{Buf, BufMut};
use tokio::time::Instant;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};

use super::{Outcome, USER_AGENT_VERSION, gofmt, tcp};

/// Passes message bytes through unchanged.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n).to_vec()))
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(value);
        }
    }
    None
}

/// `HealthCheckRequest { string service = 1; }`.
pub(crate) fn encode_request(service: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if !service.is_empty() {
        out.push(0x0a);
        put_varint(&mut out, service.len() as u64);
        out.extend_from_slice(service.as_bytes());
    }
    out
}

/// The `status` of a `HealthCheckResponse { ServingStatus status = 1; }` (0 when absent).
pub(crate) fn decode_status(mut buf: &[u8]) -> Result<i64, String> {
    let bad = || "grpc: failed to unmarshal the received message".to_owned();
    let mut status = 0i64;
    while !buf.is_empty() {
        let key = get_varint(&mut buf).ok_or_else(bad)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = get_varint(&mut buf).ok_or_else(bad)?;
                if field == 1 {
                    // An enum is an int32 on the wire.
                    status = i64::from(v as i32);
                }
            }
            1 => buf = buf.get(8..).ok_or_else(bad)?,
            2 => {
                let len =
                    usize::try_from(get_varint(&mut buf).ok_or_else(bad)?).map_err(|_| bad())?;
                buf = buf.get(len..).ok_or_else(bad)?;
            }
            5 => buf = buf.get(4..).ok_or_else(bad)?,
            _ => return Err(bad()),
        }
    }
    Ok(status)
}

/// `HealthCheckResponse_ServingStatus.String()`.
fn status_name(status: i64) -> String {
    match status {
        0 => "UNKNOWN".to_owned(),
        1 => "SERVING".to_owned(),
        2 => "NOT_SERVING".to_owned(),
        3 => "SERVICE_UNKNOWN".to_owned(),
        n => n.to_string(),
    }
}

/// `codes.Code.String()` in grpc-go.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// Connects like grpc-go's blocking dial: retry with backoff (1 s, growing by 1.6) until the
/// deadline.
async fn connect(endpoint: &Endpoint, deadline: Instant) -> Option<Channel> {
    let mut backoff = Duration::from_secs(1);
    loop {
        if let Ok(Ok(channel)) = tokio::time::timeout_at(deadline, endpoint.connect()).await {
            return Some(channel);
        }
        let next = Instant::now() + backoff;
        if next >= deadline {
            tokio::time::sleep_until(deadline).await;
            return None;
        }
        tokio::time::sleep_until(next).await;
        backoff = backoff.mul_f64(1.6).min(Duration::from_secs(120));
    }
}

/// The `grpc` probe of `host:port` for `service` (empty: the server as a whole).
pub(crate) async fn probe(host: &str, port: u16, service: &str, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let addr = tcp::join_host_port(host, port);
    let endpoint = match Endpoint::from_shared(format!("http://{addr}")).and_then(|e| {
        e.user_agent(format!("kube-probe/{USER_AGENT_VERSION}"))
            .map(|e| e.connect_timeout(timeout))
    }) {
        Ok(e) => e,
        Err(e) => {
            return Outcome::Failure(format!(
                "error: failed to connect service at {}: {e}",
                gofmt::quote(&addr)
            ));
        }
    };
    let Some(channel) = connect(&endpoint, deadline).await else {
        return Outcome::Failure(format!(
            "timeout: failed to connect service {} within {}: context deadline exceeded",
            gofmt::quote(&addr),
            gofmt::duration(timeout)
        ));
    };
    let deadline_message = || {
        Outcome::Failure(format!(
            "timeout: health rpc did not complete within {}",
            gofmt::duration(timeout)
        ))
    };
    let call = async {
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut request = tonic::Request::new(encode_request(service));
        // Tell the server the deadline (grpc-timeout) with a margin, so that our own deadline
        // below, not tonic's (which reports `Cancelled`), ends a slow call.
        request.set_timeout(
            deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1),
        );
        grpc.unary(
            request,
            http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check"),
            RawCodec,
        )
        .await
    };
    let response = match tokio::time::timeout_at(deadline, call).await {
        Err(_) => return deadline_message(),
        Ok(Err(status)) => {
            return match status.code() {
                tonic::Code::Unimplemented => Outcome::Failure(format!(
                    "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
                    status.message()
                )),
                tonic::Code::DeadlineExceeded => deadline_message(),
                code => Outcome::Failure(format!(
                    "error: health rpc probe failed: rpc error: code = {} desc = {}",
                    code_name(code),
                    status.message()
                )),
            };
        }
        Ok(Ok(response)) => response.into_inner(),
    };
    match decode_status(&response) {
        Err(e) => Outcome::Failure(format!(
            "error: health rpc probe failed: rpc error: code = Internal desc = {e}"
        )),
        Ok(1) => Outcome::Success("service healthy".to_owned()),
        Ok(status) => Outcome::Failure(format!(
            "service unhealthy (responded with {})",
            gofmt::quote(&status_name(status))
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use hyper::body::{Frame, Incoming};
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    #[test]
    fn encodes_and_decodes_the_health_messages() {
        assert_eq!(encode_request(""), Vec::<u8>::new());
        assert_eq!(encode_request("svc"), b"\x0a\x03svc".to_vec());
        assert_eq!(decode_status(b""), Ok(0));
        assert_eq!(decode_status(b"\x08\x01"), Ok(1));
        // Unknown fields of every wire type are skipped.
        assert_eq!(
            decode_status(
                b"\x12\x02hi\x19\x00\x00\x00\x00\x00\x00\x00\x00\x25\x00\x00\x00\x00\x08\x02"
            ),
            Ok(2)
        );
        assert!(decode_status(b"\x08").is_err());
        assert!(decode_status(b"\x12\x09hi").is_err());
    }

    /// What the test server answers.
    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Answer {
        Status(u8),
        Code(u8, &'static str),
        Hang,
    }

    /// A minimal gRPC server (HTTP/2 with trailers) answering `Health/Check`; records the
    /// service names asked for.
    pub(crate) async fn health_server(answer: Answer) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                        let seen = seen.clone();
                        async move {
                            let path = req.uri().path().to_owned();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            seen.lock()
                                .unwrap()
                                .push(body.get(5..).unwrap_or_default().to_vec());
                            let mut frames: Vec<Result<Frame<bytes::Bytes>, Infallible>> =
                                Vec::new();
                            let mut trailers = http::HeaderMap::new();
                            match answer {
                                _ if path != "/grpc.health.v1.Health/Check" => {
                                    trailers.insert("grpc-status", "12".parse().unwrap());
                                }
                                Answer::Status(s) => {
                                    let msg = [0u8, 0, 0, 0, 2, 0x08, s];
                                    frames
                                        .push(Ok(Frame::data(bytes::Bytes::copy_from_slice(&msg))));
                                    trailers.insert("grpc-status", "0".parse().unwrap());
                                }
                                Answer::Code(code, msg) => {
                                    trailers
                                        .insert("grpc-status", code.to_string().parse().unwrap());
                                    trailers.insert("grpc-message", msg.parse().unwrap());
                                }
                                Answer::Hang => {
                                    tokio::time::sleep(Duration::from_secs(30)).await;
                                }
                            }
                            frames.push(Ok(Frame::trailers(trailers)));
                            let body =
                                http_body_util::StreamBody::new(futures_util::stream::iter(frames));
                            Ok::<_, Infallible>(
                                hyper::Response::builder()
                                    .header("content-type", "application/grpc")
                                    .body(body)
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
                });
            }
        });
        (port, seen)
    }

    #[tokio::test]
    async fn serving_is_success() {
        let (port, seen) = health_server(Answer::Status(1)).await;
        let out = probe("127.0.0.1", port, "my-svc", Duration::from_secs(2)).await;
        assert_eq!(out, Outcome::Success("service healthy".into()));
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            &[b"\x0a\x06my-svc".to_vec()]
        );
    }

    #[tokio::test]
    async fn not_serving_is_failure() {
        let (port, _) = health_server(Answer::Status(2)).await;
        let out = probe("127.0.0.1", port, "", Duration::from_secs(2)).await;
        assert_eq!(
            out,
            Outcome::Failure(r#"service unhealthy (responded with "NOT_SERVING")"#.into())
        );
    }

    #[tokio::test]
    async fn rpc_errors_are_worded_as_upstream() {
        let (port, _) = health_server(Answer::Code(12, "nope")).await;
        let out = probe("127.0.0.1", port, "", Duration::from_secs(2)).await;
        assert_eq!(
            out,
            Outcome::Failure(
                "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): nope".into()
            )
        );
        let (port, _) = health_server(Answer::Code(14, "down")).await;
        let out = probe("127.0.0.1", port, "", Duration::from_secs(2)).await;
        assert_eq!(
            out,
            Outcome::Failure(
                "error: health rpc probe failed: rpc error: code = Unavailable desc = down".into()
            )
        );
    }

    #[tokio::test]
    async fn slow_rpc_times_out() {
        let (port, _) = health_server(Answer::Hang).await;
        let out = probe("127.0.0.1", port, "", Duration::from_millis(300)).await;
        assert_eq!(
            out,
            Outcome::Failure("timeout: health rpc did not complete within 300ms".into())
        );
    }

    #[tokio::test]
    async fn refused_connection_times_out_like_a_blocking_dial() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let started = std::time::Instant::now();
        let out = probe("127.0.0.1", port, "", Duration::from_millis(300)).await;
        assert_eq!(
            out,
            Outcome::Failure(format!(
                "timeout: failed to connect service \"127.0.0.1:{port}\" within 300ms: context deadline exceeded"
            ))
        );
        assert!(started.elapsed() >= Duration::from_millis(290));
    }
}
