//! Forwarding: a query for a name outside the cluster goes, byte for byte, to the upstream
//! resolvers in order until one answers; its reply goes back byte for byte, so the client's
//! query id and options are kept.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout, timeout_at};

/// How long one upstream gets to answer before the next is tried.
pub(crate) const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The first upstream's reply to `query` over UDP, trying each in turn; `None` if none
/// answered within `wait` each.
pub(crate) async fn udp(upstreams: &[SocketAddr], query: &[u8], wait: Duration) -> Option<Vec<u8>> {
    for &upstream in upstreams {
        match timeout(wait, udp_one(upstream, query)).await {
            Ok(Ok(reply)) => return Some(reply),
            Ok(Err(e)) => tracing::debug!(%upstream, error = %e, "upstream failed"),
            Err(_) => tracing::debug!(%upstream, "upstream timed out"),
        }
    }
    None
}

async fn udp_one(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    // A fresh socket per query: a random source port, and a connected socket only accepts
    // datagrams from the upstream.
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket.recv(&mut buf).await?;
        if matches_query(query, &buf[..n]) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

/// The first upstream's reply to `query` over TCP (for clients that asked over TCP).
pub(crate) async fn tcp(upstreams: &[SocketAddr], query: &[u8], wait: Duration) -> Option<Vec<u8>> {
    for &upstream in upstreams {
        let deadline = Instant::now() + wait;
        match timeout_at(deadline, tcp_one(upstream, query)).await {
            Ok(Ok(reply)) => return Some(reply),
            Ok(Err(e)) => tracing::debug!(%upstream, error = %e, "upstream failed over TCP"),
            Err(_) => tracing::debug!(%upstream, "upstream timed out over TCP"),
        }
    }
    None
}

async fn tcp_one(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let len = u16::try_from(query.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut stream = TcpStream::connect(upstream).await?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    loop {
        let len = stream.read_u16().await?;
        let mut reply = vec![0u8; usize::from(len)];
        stream.read_exact(&mut reply).await?;
        if matches_query(query, &reply) {
            return Ok(reply);
        }
    }
}

/// Whether `reply` is a response with `query`'s id.
fn matches_query(query: &[u8], reply: &[u8]) -> bool {
    reply.len() >= 12 && query.len() >= 2 && reply[..2] == query[..2] && reply[2] & 0x80 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_must_be_responses_with_the_query_id() {
        let query = [0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        let mut reply = query;
        reply[2] |= 0x80;
        assert!(matches_query(&query, &reply));
        assert!(!matches_query(&query, &query));
        reply[1] = 0x35;
        assert!(!matches_query(&query, &reply));
        assert!(!matches_query(&query, &reply[..5]));
    }

    #[tokio::test]
    async fn no_upstream_answers_gives_none() {
        // A socket that never answers, then one that refuses.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let refused = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let upstreams = [silent.local_addr().unwrap(), refused];
        let query = [0x12, 0x34, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let started = Instant::now();
        assert_eq!(
            udp(&upstreams, &query, Duration::from_millis(200)).await,
            None
        );
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(
            tcp(&[refused], &query, Duration::from_millis(200)).await,
            None
        );
    }
}
