//! The service proxy: kube-proxy's job, run by every node agent, on nftables.
//!
//! It watches Services, EndpointSlices and Nodes (through [`barge_client::Informer`]s) and
//! keeps, on its node:
//! - one nftables table of its own ([`rules`]: `table ip barge` by default, never any other
//!   table) that sends traffic for cluster IPs, NodePorts, external IPs and load balancer IPs to
//!   the ready endpoints ([`model`]), with masquerade for off-cluster sources and hairpin
//!   traffic, session affinity, the traffic policies, and a reject for Services without
//!   endpoints; every change is one `nft -f` transaction holding only what changed ([`nft`]);
//! - the routes to the other nodes' pod CIDRs ([`routes`], host-gw);
//! - no stale UDP conntrack entries for endpoints that went ([`conntrack`]).
//!
//! Each sync recomputes the whole desired state from the caches (cheap, and never drifts from
//! them) and applies the difference from what it applied last; a failed transaction changes
//! nothing and the next sync rebuilds the table whole. [`Proxy::programmed`] reports every
//! sync (how long the change took to reach the kernel, the table's size) for `barge bench
//! network`. [`Proxy::stop`] removes the table and the routes.

pub mod conntrack;
pub mod model;
pub mod nft;
pub mod routes;
pub mod rules;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use barge_client::Informer;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::watcher;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::model::{NodeView, ServicePort};
use crate::routes::{Cidr, Routes};
use crate::rules::{Ruleset, TableConfig};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Command(String),
    #[error("nft refused the rules: {0}")]
    Nft(String),
    #[error("invalid cluster CIDR {0:?}")]
    ClusterCidr(String),
}

/// How a node's proxy runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub node_name: String,
    /// The nftables table it owns (`table ip <name>`).
    pub table: String,
    /// The cluster's pod network.
    pub cluster_cidr: String,
    /// The Service answered by this node's DNS server, and its address (see
    /// [`NodeView::dns`]).
    pub dns: Option<(String, String, SocketAddr)>,
    /// Whether to keep routes to the other nodes' pod CIDRs.
    pub routes: bool,
    /// How long to gather changes before a sync (a burst of changes makes one transaction).
    pub batch_delay: Duration,
    /// How often the table is rebuilt whole, whatever happened (it repairs changes made by
    /// hand).
    pub full_sync_period: Duration,
}

impl Options {
    pub fn new(node_name: impl Into<String>) -> Self {
        Self {
            node_name: node_name.into(),
            table: "barge".to_owned(),
            cluster_cidr: "10.42.0.0/16".to_owned(),
            dns: None,
            routes: true,
            batch_delay: Duration::from_millis(5),
            full_sync_period: Duration::from_secs(3600),
        }
    }
}

/// One sync reached the kernel.
#[derive(Debug, Clone)]
pub struct Programmed {
    /// The changes seen (see [`Proxy::changes_seen`]) when the sync started: all of them are in.
    pub generation: u64,
    /// From the first change of the sync being seen to the rules being in the kernel.
    pub latency: Duration,
    /// The table's size after the sync.
    pub chains: usize,
    pub rules: usize,
    /// Whether the table was rebuilt whole.
    pub full: bool,
}

#[derive(Debug, Default)]
struct Shared {
    seen: AtomicU64,
}

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    programmed: watch::Receiver<Option<Programmed>>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the proxy with its own informers.
pub fn start(client: kube::Client, opts: Options) -> Result<Proxy, Error> {
    let config = || watcher::Config::default().any_semantic();
    let services = Informer::builder().start(Api::<Service>::all(client.clone()), config());
    let slices = Informer::builder().start(Api::<EndpointSlice>::all(client.clone()), config());
    let nodes = opts
        .routes
        .then(|| Informer::builder().start(Api::<Node>::all(client), config()));
    start_with(services, slices, nodes, opts)
}

/// Starts the proxy on the given informers (no routes without a Node informer).
pub fn start_with(
    services: Informer<Service>,
    slices: Informer<EndpointSlice>,
    nodes: Option<Informer<Node>>,
    opts: Options,
) -> Result<Proxy, Error> {
    let cluster = Cidr::parse(&opts.cluster_cidr)
        .ok_or_else(|| Error::ClusterCidr(opts.cluster_cidr.clone()))?;
    let shared = Arc::new(Shared::default());
    let (programmed_tx, programmed) = watch::channel(None);
    let (stop, stop_rx) = watch::channel(false);
    let worker = Worker {
        config: TableConfig {
            name: opts.table.clone(),
            cluster_cidr: opts.cluster_cidr.clone(),
        },
        view: NodeView {
            node_name: opts.node_name.clone(),
            dns: opts.dns.clone(),
        },
        cluster,
        services,
        slices,
        nodes: nodes.filter(|_| opts.routes),
        shared: shared.clone(),
        programmed: programmed_tx,
        opts,
    };
    let task = tokio::spawn(worker.run(stop_rx));
    Ok(Proxy {
        shared,
        programmed,
        stop,
        task: Some(task),
    })
}

impl Proxy {
    /// How many Service and EndpointSlice changes the proxy has received.
    pub fn changes_seen(&self) -> u64 {
        self.shared.seen.load(Ordering::SeqCst)
    }

    /// The last sync that reached the kernel (`None` before the first).
    pub fn programmed(&self) -> watch::Receiver<Option<Programmed>> {
        self.programmed.clone()
    }

    /// Waits until every change seen so far is in the kernel.
    pub async fn wait_programmed(&self) {
        let target = self.changes_seen();
        let mut rx = self.programmed.clone();
        let _ = rx
            .wait_for(|p| p.as_ref().is_some_and(|p| p.generation >= target))
            .await;
    }

    /// Stops syncing and removes the table and the routes.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct Worker {
    config: TableConfig,
    view: NodeView,
    cluster: Cidr,
    services: Informer<Service>,
    slices: Informer<EndpointSlice>,
    nodes: Option<Informer<Node>>,
    shared: Arc<Shared>,
    programmed: watch::Sender<Option<Programmed>>,
    opts: Options,
}

/// What the kernel has, as far as the proxy knows.
#[derive(Default)]
struct Applied {
    rules: Option<Ruleset>,
    ports: Vec<ServicePort>,
}

impl Worker {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut services = self.services.subscribe();
        let mut slices = self.slices.subscribe();
        let mut nodes = self.nodes.as_ref().map(Informer::subscribe);
        self.services.synced().await;
        self.slices.synced().await;
        if let Some(nodes) = &self.nodes {
            nodes.synced().await;
        }
        let mut routes = match self.nodes {
            Some(_) => Some(Routes::adopt(self.cluster).await),
            None => None,
        };
        let mut applied = Applied::default();
        let mut first_change = Some(Instant::now());
        let mut routes_dirty = true;
        let mut last_full = Instant::now();
        loop {
            if last_full.elapsed() >= self.opts.full_sync_period {
                applied.rules = None;
            }
            if first_change.is_some() || applied.rules.is_none() {
                let started = first_change.take().unwrap_or_else(Instant::now);
                let full = applied.rules.is_none();
                if self.sync(&mut applied, started).await {
                    if full {
                        last_full = Instant::now();
                    }
                } else {
                    first_change = Some(started);
                }
            }
            if routes_dirty && let (Some(routes), Some(nodes)) = (routes.as_mut(), &self.nodes) {
                let want = routes::desired(
                    &nodes.cache().list(),
                    &self.view.node_name,
                    &routes::local_ips(),
                    self.cluster,
                );
                routes.sync(&want).await;
                routes_dirty = false;
            }
            // Wait for something to do.
            let retry = applied.rules.is_none() || first_change.is_some();
            let wait = if retry {
                Duration::from_secs(1)
            } else {
                self.opts
                    .full_sync_period
                    .saturating_sub(last_full.elapsed())
            };
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(wait) => {}
                change = services.next() => {
                    if change.is_none() { break; }
                    self.seen(&mut first_change);
                }
                change = slices.next() => {
                    if change.is_none() { break; }
                    self.seen(&mut first_change);
                }
                change = async { match nodes.as_mut() { Some(n) => n.next().await, None => std::future::pending().await } } => {
                    if change.is_none() { break; }
                    routes_dirty = true;
                }
            }
            // Gather a burst into one sync.
            if first_change.is_some() {
                let deadline = tokio::time::Instant::now() + self.opts.batch_delay;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => break,
                        Some(_) = services.next() => self.seen(&mut first_change),
                        Some(_) = slices.next() => self.seen(&mut first_change),
                    }
                }
            }
        }
        if let Err(e) = nft::delete_table(&self.config.name).await {
            warn!(%e, table = %self.config.name, "cannot remove the proxy's table");
        }
        if let Some(mut routes) = routes {
            routes.remove_all().await;
        }
        info!(table = %self.config.name, "service proxy stopped, its table and routes removed");
    }

    fn seen(&self, first_change: &mut Option<Instant>) {
        self.shared.seen.fetch_add(1, Ordering::SeqCst);
        first_change.get_or_insert_with(Instant::now);
    }

    /// One sync: the desired table from the caches, applied as a difference (or whole).
    /// Whether it reached the kernel.
    async fn sync(&self, applied: &mut Applied, started: Instant) -> bool {
        let generation = self.shared.seen.load(Ordering::SeqCst);
        let ports = model::service_ports(
            &self.services.cache().list(),
            &self.slices.cache().list(),
            &self.view,
        );
        let rules = Ruleset::build(&ports, &self.config);
        let full = applied.rules.is_none();
        let script = match &applied.rules {
            Some(old) => rules::update(&self.config, old, &rules),
            None => rules::full(&self.config, &rules),
        };
        if !script.is_empty()
            && let Err(e) = nft::run(&script).await
        {
            warn!(%e, full, "service rules not applied; the table will be rebuilt");
            applied.rules = None;
            return false;
        }
        for flush in conntrack::stale(&applied.ports, &ports) {
            conntrack::delete(&flush).await;
        }
        let report = Programmed {
            generation,
            latency: started.elapsed(),
            chains: rules.chains.len(),
            rules: rules.rule_count(),
            full,
        };
        debug!(?report, "service rules programmed");
        if full {
            info!(
                services = ports.len(),
                chains = report.chains,
                rules = report.rules,
                "service rules programmed (whole table)"
            );
        }
        applied.rules = Some(rules);
        applied.ports = ports;
        self.programmed.send_replace(Some(report));
        true
    }
}
