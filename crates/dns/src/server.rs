//! The UDP and TCP listeners.
//!
//! UDP: a few receive loops share the socket; queries for cluster names are answered inline (a
//! parse, a hash lookup, an encode: no task, no allocation beyond the reply), queries to
//! forward get a task each, at most [`MAX_FORWARDS`] at once, kept in the loop's `JoinSet` so
//! they end with it. TCP: a task per connection (at most [`MAX_CONNECTIONS`]) reading
//! length-prefixed queries and answering them in order until the client goes quiet.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::forward::{self, UPSTREAM_TIMEOUT};
use crate::index::Index;
use crate::resolve::{self, Decision, Parsed};

/// Queries being forwarded at once, over UDP and TCP together; beyond that, SERVFAIL.
pub(crate) const MAX_FORWARDS: usize = 1024;
/// TCP connections served at once; newer ones are closed.
const MAX_CONNECTIONS: usize = 256;
/// How long a TCP connection may sit between queries (or in the middle of one).
const TCP_IDLE: Duration = Duration::from_secs(10);

/// What the listeners share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub index: RwLock<Index>,
    /// Set once the informers have listed and the index was built from them.
    pub ready: AtomicBool,
    pub ttl: u32,
    pub upstreams: Vec<SocketAddr>,
    pub forwards: Arc<Semaphore>,
}

/// What to do with one request.
enum Action {
    Reply(Vec<u8>),
    Forward,
    Ignore,
}

impl Shared {
    fn handle(&self, bytes: &[u8], udp: bool) -> Action {
        let request = match resolve::parse(bytes) {
            Parsed::Query(request) => request,
            Parsed::Reply(bytes) => return Action::Reply(bytes),
            Parsed::Ignore => return Action::Ignore,
        };
        let decision = {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            resolve::decide(
                &index,
                self.ttl,
                self.ready.load(Ordering::Acquire),
                &request,
            )
        };
        match decision {
            Decision::Answer(mut reply) => {
                let limit = if udp {
                    resolve::udp_limit(&request)
                } else {
                    usize::from(u16::MAX)
                };
                Action::Reply(resolve::encode(&mut reply, limit))
            }
            Decision::Forward if self.upstreams.is_empty() => {
                Action::Reply(resolve::servfail(bytes))
            }
            Decision::Forward => Action::Forward,
        }
    }
}

/// Serves queries arriving on `socket` until the task is dropped.
pub(crate) async fn udp_loop(shared: Arc<Shared>, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 65535];
    let mut forwards = JoinSet::new();
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // ICMP errors for earlier replies and the like; never worth stopping for.
                tracing::debug!(error = %e, "DNS UDP receive failed");
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        while forwards.try_join_next().is_some() {}
        let query = &buf[..n];
        match shared.handle(query, true) {
            Action::Reply(reply) => send(&socket, &reply, peer).await,
            Action::Ignore => {}
            Action::Forward => {
                let Ok(permit) = shared.forwards.clone().try_acquire_owned() else {
                    send(&socket, &resolve::servfail(query), peer).await;
                    continue;
                };
                let (shared, socket, query) = (shared.clone(), socket.clone(), query.to_vec());
                forwards.spawn(async move {
                    let reply = forward::udp(&shared.upstreams, &query, UPSTREAM_TIMEOUT)
                        .await
                        .unwrap_or_else(|| resolve::servfail(&query));
                    drop(permit);
                    send(&socket, &reply, peer).await;
                });
            }
        }
    }
}

async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if let Err(e) = socket.send_to(reply, peer).await {
        tracing::debug!(%peer, error = %e, "DNS UDP send failed");
    }
}

/// Accepts TCP connections on `listener` until the task is dropped (which ends them too).
pub(crate) async fn tcp_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to be freed.
                tracing::debug!(error = %e, "DNS TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_CONNECTIONS {
            tracing::debug!(%peer, "too many DNS TCP connections; closing the new one");
            continue;
        }
        connections.spawn(serve_tcp(shared.clone(), stream));
    }
}

async fn serve_tcp(shared: Arc<Shared>, mut stream: TcpStream) {
    loop {
        let Ok(Ok(len)) = timeout(TCP_IDLE, stream.read_u16()).await else {
            return;
        };
        let mut query = vec![0u8; usize::from(len)];
        if !matches!(
            timeout(TCP_IDLE, stream.read_exact(&mut query)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let reply = match shared.handle(&query, false) {
            Action::Reply(reply) => reply,
            // Not a query: the stream cannot be trusted to be in step any more.
            Action::Ignore => return,
            Action::Forward => match shared.forwards.clone().try_acquire_owned() {
                Ok(_permit) => forward::tcp(&shared.upstreams, &query, UPSTREAM_TIMEOUT)
                    .await
                    .unwrap_or_else(|| resolve::servfail(&query)),
                Err(_) => resolve::servfail(&query),
            },
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if !matches!(
            timeout(TCP_IDLE, stream.write_all(&framed)).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
}
