//! The TCP probe, and the dialling that the HTTP and gRPC probes share: connect to
//! `host:port` within a deadline, with failures worded as Go's `net.Dial`
//! (`dial tcp 10.42.0.5:81: connect: connection refused`, `dial tcp 10.42.0.5:81: i/o timeout`).
//!
//! Upstream's probe dialer also sets `SO_LINGER` to one second to avoid `TIME_WAIT` sockets;
//! that blocks the closing thread in Tokio, so this one does not.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::Outcome;
use super::gofmt;

/// `net.JoinHostPort`: brackets around IPv6 literals.
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Why a dial failed, before it is worded.
#[derive(Debug)]
pub(crate) enum DialError {
    /// The deadline passed (Go: `i/o timeout`).
    Timeout { addr: String },
    /// The name did not resolve.
    Lookup { host: String, message: String },
    /// `connect(2)` failed.
    Connect {
        addr: String,
        source: std::io::Error,
    },
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialError::Timeout { addr } => write!(f, "dial tcp {addr}: i/o timeout"),
            DialError::Lookup { host, message } => {
                write!(f, "dial tcp: lookup {host}: {message}")
            }
            DialError::Connect { addr, source } => {
                write!(f, "dial tcp {addr}: connect: {}", gofmt::errno_text(source))
            }
        }
    }
}

/// Connects to `host:port` before `deadline`. An empty host means this machine, as in Go.
pub(crate) async fn dial(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, DialError> {
    let display = join_host_port(host, port);
    let addrs: Vec<SocketAddr> = if host.is_empty() {
        vec![SocketAddr::from(([127, 0, 0, 1], port))]
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else {
        let lookup = tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port)));
        match lookup.await {
            Err(_) => return Err(DialError::Timeout { addr: display }),
            Ok(Err(e)) => {
                return Err(DialError::Lookup {
                    host: host.to_owned(),
                    message: lookup_message(&e),
                });
            }
            Ok(Ok(addrs)) => addrs.collect(),
        }
    };
    if addrs.is_empty() {
        return Err(DialError::Lookup {
            host: host.to_owned(),
            message: "no such host".to_owned(),
        });
    }
    // Like Go, try each address in turn and report the first failure.
    let mut first_error = None;
    for addr in addrs {
        let shown = if host.is_empty() || host.parse::<IpAddr>().is_ok() {
            display.clone()
        } else {
            addr.to_string()
        };
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(DialError::Timeout { addr: shown }),
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(source)) => {
                if first_error.is_none() {
                    first_error = Some(DialError::Connect {
                        addr: shown,
                        source,
                    });
                }
            }
        }
    }
    Err(first_error.unwrap_or(DialError::Timeout { addr: display }))
}

fn lookup_message(e: &std::io::Error) -> String {
    // getaddrinfo's "failed to lookup address information: Name or service not known" is
    // Go's "no such host".
    let text = e.to_string();
    if text.contains("not known") || text.contains("No address associated") {
        "no such host".to_owned()
    } else {
        text
    }
}

/// `tcpSocket`: success when a connection opens before the timeout; the connection is closed
/// at once. Failures are the dial error (`dial tcp 10.42.0.5:81: connect: connection refused`).
pub(crate) async fn probe(host: &str, port: u16, deadline: Instant) -> Outcome {
    match dial(host, port, deadline).await {
        Ok(stream) => {
            drop(stream);
            Outcome::Success(String::new())
        }
        Err(e) => Outcome::Failure(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(2)
    }

    #[tokio::test]
    async fn open_port_succeeds() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            probe("127.0.0.1", port, soon()).await,
            Outcome::Success(String::new())
        );
    }

    #[tokio::test]
    async fn closed_port_fails_with_go_wording() {
        // Bind then drop to find a port nobody listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert_eq!(
            probe("127.0.0.1", port, soon()).await,
            Outcome::Failure(format!(
                "dial tcp 127.0.0.1:{port}: connect: connection refused"
            ))
        );
    }

    #[tokio::test]
    async fn a_listener_that_never_answers_times_out() {
        // A listener with a full accept queue drops further SYNs, so connecting hangs.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        for _ in 0..16 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
        let deadline = Instant::now() + Duration::from_millis(200);
        assert_eq!(
            probe("127.0.0.1", addr.port(), deadline).await,
            Outcome::Failure(format!("dial tcp 127.0.0.1:{}: i/o timeout", addr.port()))
        );
    }

    #[tokio::test]
    async fn unknown_name_is_a_lookup_failure() {
        match probe("no-such-host.invalid", 80, soon()).await {
            Outcome::Failure(m) => {
                assert!(
                    m.starts_with("dial tcp: lookup no-such-host.invalid"),
                    "{m}"
                )
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn joins_ipv6() {
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
    }
}
