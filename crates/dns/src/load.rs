//! A UDP load generator for DNS benchmarks: `concurrency` workers, each with its own socket,
//! send A queries for `names` in turn and wait for each reply (up to [`REPLY_TIMEOUT`]) before
//! sending the next, for `duration`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout_at};

/// How long a worker waits for a reply before counting an error and moving on.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

/// What a load run measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Queries that got their reply (any response code: NXDOMAIN is an answer).
    pub queries: u64,
    /// Queries that got no reply in time, or could not be sent or encoded.
    pub errors: u64,
    /// Answered queries per second of the run.
    pub per_second: f64,
    /// Median latency of the answered queries.
    pub p50: Duration,
    /// 99th percentile latency of the answered queries.
    pub p99: Duration,
}

/// Queries `server` for `names` (A records, in turn) from `concurrency` workers for
/// `duration`. With no names or no workers nothing is sent.
pub async fn run(
    server: SocketAddr,
    names: Vec<String>,
    concurrency: usize,
    duration: Duration,
) -> LoadReport {
    // Encode each query once; workers only patch the id.
    let queries: Vec<Vec<u8>> = names
        .iter()
        .filter_map(|name| {
            let mut m = Message::new(0, MessageType::Query, OpCode::Query);
            m.metadata.recursion_desired = true;
            m.add_query(Query::query(Name::from_ascii(name).ok()?, RecordType::A));
            m.to_vec().ok()
        })
        .collect();
    let invalid = (names.len() - queries.len()) as u64;
    if queries.is_empty() || concurrency == 0 {
        return LoadReport {
            errors: invalid,
            ..LoadReport::default()
        };
    }
    let queries = std::sync::Arc::new(queries);
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|i| tokio::spawn(worker(server, queries.clone(), i, deadline)))
        .collect();
    let mut latencies = Vec::new();
    let mut errors = invalid;
    for w in workers {
        match w.await {
            Ok((l, e)) => {
                latencies.extend(l);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(f64::EPSILON);
    latencies.sort_unstable();
    let percentile = |p: usize| {
        if latencies.is_empty() {
            Duration::ZERO
        } else {
            latencies[(latencies.len() * p / 100).min(latencies.len() - 1)]
        }
    };
    LoadReport {
        queries: latencies.len() as u64,
        errors,
        per_second: latencies.len() as f64 / elapsed,
        p50: percentile(50),
        p99: percentile(99),
    }
}

/// One worker: returns the latencies of its answered queries and its error count.
async fn worker(
    server: SocketAddr,
    queries: std::sync::Arc<Vec<Vec<u8>>>,
    n: usize,
    deadline: Instant,
) -> (Vec<Duration>, u64) {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = match UdpSocket::bind(local).await {
        Ok(s) if s.connect(server).await.is_ok() => s,
        _ => return (Vec::new(), 1),
    };
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut buf = vec![0u8; 65535];
    // Workers start at different names and ids so their traffic is spread.
    let mut next = n % queries.len();
    let mut id = (n as u16).wrapping_mul(7919);
    while Instant::now() < deadline {
        id = id.wrapping_add(1);
        let mut query = queries[next].clone();
        next = (next + 1) % queries.len();
        query[..2].copy_from_slice(&id.to_be_bytes());
        let sent = Instant::now();
        if socket.send(&query).await.is_err() {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let wait = (sent + REPLY_TIMEOUT).min(deadline.max(sent + Duration::from_millis(100)));
        let answered = timeout_at(wait, async {
            loop {
                // Late replies to earlier queries have other ids: skip them.
                match socket.recv(&mut buf).await {
                    Ok(n) if n >= 2 && buf[..2] == id.to_be_bytes() => return true,
                    Ok(_) => continue,
                    Err(_) => return false,
                }
            }
        })
        .await;
        match answered {
            Ok(true) => latencies.push(sent.elapsed()),
            _ => errors += 1,
        }
    }
    (latencies, errors)
}
