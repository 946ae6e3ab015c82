//! Cluster DNS: what CoreDNS's `kubernetes` plugin (with `pods insecure`) and `forward` do,
//! run inside every node agent.
//!
//! ## Design
//!
//! - **Informers → index.** Two shared informers (Services, EndpointSlices; `barge_client`)
//!   feed a task (`watch.rs`) that keeps an index (`index.rs`) of every name the cluster
//!   defines: lowercase name → records, IP → PTR names. A change names one Service, whose
//!   records are rebuilt from the caches and swapped in as a whole, so a query never scans
//!   anything: it is one hash lookup under a read lock.
//! - **Answers** (`resolve.rs`, pure and synchronous), authoritative for the cluster domain,
//!   every record with [`Options::ttl`]:
//!   - `<svc>.<ns>.svc.<domain>`: A/AAAA of the Service's cluster IPs; for a headless Service
//!     (`clusterIP: None`) the ready addresses of its EndpointSlices, each also under
//!     `<hostname or a-b-c-d>.<svc>.<ns>.svc.<domain>`; for an ExternalName Service a CNAME
//!     (followed when the target is itself a cluster name);
//!   - `_<port>._<proto>.<svc>.<ns>.svc.<domain>`: SRV, priority 0, the weight 100 shared out
//!     as CoreDNS does, the target's addresses in the additional section;
//!   - `a-b-c-d.<ns>.pod.<domain>`: the address the name spells;
//!   - PTR for Service cluster IPs and headless endpoint IPs;
//!   - a missing name is NXDOMAIN, an existing one without the asked type NOERROR with no
//!     answer; both carry the zone's SOA (`ns.dns.<domain>. hostmaster.<domain>.`) in the
//!     authority section. Search-path junk ending in the cluster domain is NXDOMAIN at once.
//!   - Until the informers have listed once, cluster names get SERVFAIL rather than a
//!     negative answer a client would cache.
//! - **Forwarding** (`forward.rs`): everything else (and PTR queries for addresses we do not
//!   know) is sent byte for byte to the upstreams from the host's resolv.conf, one after the
//!   other with 2 s each, over the client's transport; the reply is relayed byte for byte, so
//!   the query id is the client's. SERVFAIL when none answers. Our own address is never an
//!   upstream.
//! - **Serving** (`server.rs`): UDP and TCP on one address. UDP replies that exceed 512 bytes
//!   (or the client's EDNS size) drop the additional section, then everything, with TC set.
//!   TCP takes several length-prefixed queries per connection. Nothing from the network can
//!   panic the server: unreadable queries get FORMERR or nothing, responses are never
//!   answered.
//!
//! [`load`] is a UDP load generator for the benchmarks.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use barge_client::Informer;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

mod forward;
mod index;
pub mod load;
mod resolve;
mod server;
mod watch;

use index::{Index, Zone};
use server::Shared;

/// How long [`start`] waits for the informers' first list before serving anyway.
const SYNC_WAIT: Duration = Duration::from_secs(5);
/// How many UDP receive loops share the socket.
const UDP_LOOPS: usize = 2;

/// How the DNS server runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Where to serve, on UDP and TCP both; port 0 picks a free port (the same for both).
    pub listen: SocketAddr,
    /// The cluster domain we answer for, e.g. `cluster.local`.
    pub cluster_domain: String,
    /// Resolvers for every other name, usually the host's (see
    /// [`upstreams_from_resolv_conf`]); tried in order.
    pub upstreams: Vec<SocketAddr>,
    /// The TTL of every record we answer, in seconds (CoreDNS's default is 5).
    pub ttl: u32,
}

impl Default for Options {
    /// `0.0.0.0:53`, `cluster.local`, no upstreams, TTL 5.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 53)),
            cluster_domain: "cluster.local".into(),
            upstreams: Vec::new(),
            ttl: 5,
        }
    }
}

/// Why the DNS server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `cluster_domain` is not a domain name.
    #[error("invalid cluster domain {domain:?}: {reason}")]
    ClusterDomain {
        /// The domain as given.
        domain: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The UDP or TCP socket could not be bound.
    #[error("cannot listen for DNS on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The resolvers of a resolv.conf: its `nameserver` lines, on port 53, in order. Lines that
/// do not parse (and link-local IPv6 addresses with a named zone) are skipped.
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let line = line.split(['#', ';']).next().unwrap_or_default();
            let mut words = line.split_whitespace();
            if words.next() != Some("nameserver") {
                return None;
            }
            let address = words.next()?;
            let (ip, scope) = address.split_once('%').unwrap_or((address, ""));
            match ip.parse::<IpAddr>().ok()? {
                IpAddr::V6(ip) if !scope.is_empty() => {
                    let scope = scope.parse().ok()?;
                    Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                        ip, 53, 0, scope,
                    )))
                }
                ip => Some(SocketAddr::new(ip, 53)),
            }
        })
        .collect()
}

/// A running DNS server. Dropping it (or [`Dns::stop`]) stops it.
#[derive(Debug)]
pub struct Dns {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Dns {
    /// The address the server is bound to (UDP and TCP), with the port it got.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether the index has been built from the informers' first list; until then cluster
    /// names get SERVFAIL.
    pub fn is_ready(&self) -> bool {
        self.shared.ready.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Stops serving and waits until the sockets are closed.
    pub async fn stop(mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts the DNS server: informers on all Services and EndpointSlices, then (once they have
/// listed, or after 5 s, as CoreDNS waits) the listeners. Must run inside a Tokio runtime.
pub async fn start(client: kube::Client, opts: Options) -> Result<Dns, Error> {
    let services = Informer::start(Api::<Service>::all(client.clone()));
    let slices = Informer::start(Api::<EndpointSlice>::all(client));
    let synced = async {
        services.synced().await;
        slices.synced().await;
    };
    if tokio::time::timeout(SYNC_WAIT, synced).await.is_err() {
        tracing::warn!("Services and EndpointSlices not listed yet; serving DNS anyway");
    }
    start_with(services, slices, opts)
}

/// Starts the DNS server on informers the caller made (tests seed them with
/// `Informer::seeded` and change them with `apply`/`delete`). Binds before returning; if both
/// informers have listed, the index is built before returning too ([`Dns::is_ready`]),
/// otherwise as soon as they have. Must run inside a Tokio runtime.
pub fn start_with(
    services: Informer<Service>,
    slices: Informer<EndpointSlice>,
    opts: Options,
) -> Result<Dns, Error> {
    let zone = Zone::new(&opts.cluster_domain).map_err(|reason| Error::ClusterDomain {
        domain: opts.cluster_domain.clone(),
        reason,
    })?;
    let (udp, tcp) = bind(opts.listen)?;
    let local_addr = udp.local_addr().map_err(|source| Error::Listen {
        addr: opts.listen,
        source,
    })?;
    let upstreams: Vec<SocketAddr> = opts
        .upstreams
        .iter()
        .copied()
        .filter(|u| {
            let ours = is_own_address(*u, local_addr);
            if ours {
                tracing::warn!(upstream = %u, "not forwarding DNS to ourselves");
            }
            !ours
        })
        .collect();
    let shared = Arc::new(Shared {
        index: RwLock::new(Index::new(zone)),
        ready: AtomicBool::new(false),
        ttl: opts.ttl,
        upstreams,
        forwards: Arc::new(Semaphore::new(server::MAX_FORWARDS)),
    });
    let udp = Arc::new(udp);
    let mut tasks = vec![
        tokio::spawn(watch::Watcher::new(shared.clone(), services, slices).run()),
        tokio::spawn(server::tcp_loop(shared.clone(), tcp)),
    ];
    for _ in 0..UDP_LOOPS {
        tasks.push(tokio::spawn(server::udp_loop(shared.clone(), udp.clone())));
    }
    tracing::info!(addr = %local_addr, domain = %opts.cluster_domain, "cluster DNS serving");
    Ok(Dns {
        local_addr,
        shared,
        tasks,
    })
}

/// Binds UDP and TCP on `listen`; with port 0, retries until both get the same port.
fn bind(listen: SocketAddr) -> Result<(tokio::net::UdpSocket, tokio::net::TcpListener), Error> {
    let err = |source| Error::Listen {
        addr: listen,
        source,
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let udp = std::net::UdpSocket::bind(listen).map_err(err)?;
        let addr = udp.local_addr().map_err(err)?;
        let tcp = match std::net::TcpListener::bind(addr) {
            Ok(tcp) => tcp,
            Err(e) if listen.port() == 0 && attempts < 16 => {
                tracing::debug!(%addr, error = %e, "TCP port taken; trying another");
                continue;
            }
            Err(e) => return Err(err(e)),
        };
        udp.set_nonblocking(true).map_err(err)?;
        tcp.set_nonblocking(true).map_err(err)?;
        let udp = tokio::net::UdpSocket::from_std(udp).map_err(err)?;
        let tcp = tokio::net::TcpListener::from_std(tcp).map_err(err)?;
        return Ok((udp, tcp));
    }
}

/// Whether sending to `upstream` would reach this server: the same address, or our port on a
/// loopback or unspecified address when we listen on all addresses.
fn is_own_address(upstream: SocketAddr, local: SocketAddr) -> bool {
    if upstream.port() != local.port() {
        return false;
    }
    upstream.ip() == local.ip()
        || (local.ip().is_unspecified()
            && (upstream.ip().is_loopback() || upstream.ip().is_unspecified()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers() {
        let text = "\
# generated by NetworkManager
search example.com
nameserver 10.0.0.2
nameserver   fd00::53 # comment
;nameserver 9.9.9.9
nameserver fe80::1%2
nameserver fe80::1%eth0
nameserver not-an-ip
options ndots:5
nameserver 1.1.1.1";
        let got: Vec<String> = upstreams_from_resolv_conf(text)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "10.0.0.2:53",
                "[fd00::53]:53",
                "[fe80::1%2]:53",
                "1.1.1.1:53"
            ]
        );
        assert!(upstreams_from_resolv_conf("").is_empty());
    }

    #[test]
    fn own_address_is_never_an_upstream() {
        let any: SocketAddr = "0.0.0.0:53".parse().unwrap();
        let one: SocketAddr = "10.0.0.5:53".parse().unwrap();
        assert!(is_own_address("127.0.0.1:53".parse().unwrap(), any));
        assert!(is_own_address("10.0.0.5:53".parse().unwrap(), one));
        assert!(!is_own_address("127.0.0.53:53".parse().unwrap(), one));
        assert!(!is_own_address("127.0.0.1:5353".parse().unwrap(), any));
    }
}
