//! `barge bench network`: the service proxy and the cluster DNS at scale (root only).
//!
//! Starts `barge server` without an agent (so no containers, no proxy of its own), creates
//! selector-less ClusterIP Services, each with one EndpointSlice of ready endpoints on a node
//! named `bench-node` (written directly: they stand for hollow pods, as the proxy only reads
//! slices), then runs, in this process, the node-local DNS server and the service proxy on a
//! table of its own (`barge-bench-<pid>`), as `barge agent` runs them. It reports:
//! - the first full sync: from the proxy's start (its informers list everything) to the whole
//!   table in the kernel, and the table's size;
//! - network programming latency, as upstream's scalability suite measures it: one endpoint's
//!   address changed through the API at a time, from just before the write to a sync holding
//!   that change reaching the kernel (the proxy's [`Programmed`] report), p50/p99/mean, and the
//!   part the proxy itself took (event seen → rules in the kernel);
//! - DNS from a pod: a network namespace with a veth to the host stands for a pod; the load
//!   generator ([`barge_dns::load`]) runs inside it and asks the kube-dns ClusterIP, so each
//!   query goes veth → the proxy's DNAT → the DNS server on the host side of the veth, as from
//!   a real pod; lookups per second, p50/p99 and errors;
//! - memory: the server's, and this process's (the proxy and the DNS server live here).
//!
//! Everything is removed on every way out (errors, Ctrl-C, SIGTERM): the proxy's table, the
//! DNS server, the namespace and its veth, the server and its data.
//!
//! [`Programmed`]: barge_proxy::Programmed

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use tokio::task::JoinSet;

use crate::report::{self, Figures, Goal, MIB, Memory, ms, thousands};
use crate::server::{Target, start_server};

/// The namespace of the benchmark's Services.
const NAMESPACE: &str = "bench-net";

/// The node the proxy runs as; every endpoint is on it.
const NODE: &str = "bench-node";

/// The server's Service range and the cluster DNS address inside it (`kube-system/kube-dns`,
/// made by the server at bootstrap).
const SERVICE_CIDR: &str = "10.255.0.0/16";
const CLUSTER_DNS: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 10);

/// The pod network: the endpoints' addresses, and the pod's veth in its last /24.
const CLUSTER_CIDR: &str = "10.254.0.0/16";
const HOST_SIDE: Ipv4Addr = Ipv4Addr::new(10, 254, 255, 1);
const POD_SIDE: Ipv4Addr = Ipv4Addr::new(10, 254, 255, 2);

/// The cluster domain the DNS server answers for.
const DOMAIN: &str = "cluster.local";

/// Concurrent clients creating the Services and slices.
const SETUP_CLIENTS: usize = 16;

/// Goals from the issue: p99 network programming under 1 s, p99 DNS under 5 ms.
const PROGRAMMING_P99_GOAL_MS: f64 = 1_000.0;
const DNS_P99_GOAL_MS: f64 = 5.0;

/// How long one change may take to be programmed before the run fails.
const CHANGE_LIMIT: Duration = Duration::from_secs(30);

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the server keeps its data (a temporary directory is made inside).
    pub dir: PathBuf,
    /// ClusterIP Services, one EndpointSlice each.
    pub services: usize,
    /// Ready endpoints in each Service's slice.
    pub endpoints_per_service: usize,
    /// Endpoint changes timed one after the other.
    pub changes: usize,
    /// How long the DNS load runs.
    pub dns_duration: Duration,
    /// Concurrent DNS clients in the pod, each waiting for its answer before the next query.
    pub dns_clients: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dir: std::env::temp_dir(),
            services: 1_000,
            endpoints_per_service: 10,
            changes: 200,
            dns_duration: Duration::from_secs(5),
            dns_clients: 8,
        }
    }
}

/// Runs the benchmark and prints the table; everything it made is removed on every way out.
pub async fn run(options: Options) -> Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "barge bench network must run as root: it programs nftables and makes a network \
         namespace and a veth pair"
    );
    ensure!(options.services > 0, "--services must be at least 1");
    ensure!(
        options.endpoints_per_service > 0,
        "--endpoints-per-service must be at least 1"
    );
    ensure!(options.dns_clients > 0, "--dns-clients must be at least 1");
    let addresses = options.services * options.endpoints_per_service + options.changes;
    ensure!(
        endpoint_address(addresses - 1).is_some(),
        "{addresses} endpoint addresses (endpoints and changes) do not fit in {CLUSTER_CIDR} \
         (at most {ADDRESSES})"
    );

    let mut parts = Parts::default();
    let mut figures = Figures::default();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot handle SIGTERM")?;
    let outcome = tokio::select! {
        r = workload(&mut parts, &options, &mut figures) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        _ = term.recv() => Err(anyhow!("terminated")),
    };
    parts.shutdown().await;
    outcome?;
    report::print(
        &format!(
            "network benchmark: {} ClusterIP Services, {} endpoints ({} per Service, slices \
             written directly by {SETUP_CLIENTS} clients), proxy and DNS in this process, {} \
             changes one at a time, DNS from a pod netns through the kube-dns ClusterIP with {} \
             clients for {} s",
            thousands(options.services),
            thousands(options.services * options.endpoints_per_service),
            options.endpoints_per_service,
            options.changes,
            options.dns_clients,
            options.dns_duration.as_secs_f64()
        ),
        &figures,
    );
    Ok(())
}

/// What the run has started, stopped in [`Parts::shutdown`] (and by the guards' `Drop` if
/// that is never reached). Fields drop in order: the proxy's table, DNS, the pod, the server.
#[derive(Default)]
struct Parts {
    proxy: Option<barge_proxy::Proxy>,
    table: Option<Table>,
    dns: Option<barge_dns::Dns>,
    pod: Option<PodNetns>,
    server: Option<Target>,
}

impl Parts {
    async fn shutdown(&mut self) {
        if let Some(proxy) = self.proxy.take()
            && tokio::time::timeout(Duration::from_secs(30), proxy.stop())
                .await
                .is_err()
        {
            eprintln!("the proxy did not stop within 30 s; removing its table");
        }
        // The proxy removes its table when it stops; this removes it if it did not.
        drop(self.table.take());
        if let Some(dns) = self.dns.take() {
            dns.stop().await;
        }
        drop(self.pod.take());
        drop(self.server.take());
    }
}

async fn workload(parts: &mut Parts, o: &Options, f: &mut Figures) -> Result<()> {
    let server = start_server(
        &o.dir,
        "network",
        &[
            "--service-cidr",
            SERVICE_CIDR,
            "--cluster-dns",
            &CLUSTER_DNS.to_string(),
        ],
    )
    .await?;
    let server_pid = server.pid;
    let client = barge_client::connect(&server.kubeconfig_path).await?;
    parts.server = Some(server);

    // Services and their slices.
    create_namespace(&client).await?;
    let started = Instant::now();
    let mut slices = create_services(&client, o).await?;
    let took = started.elapsed();
    let endpoints = o.services * o.endpoints_per_service;
    eprintln!(
        "created {} Services and {} endpoints in {:.1} s",
        o.services,
        endpoints,
        took.as_secs_f64()
    );
    f.push(
        &format!(
            "setup: {} Services + slices, {} endpoints",
            thousands(o.services),
            thousands(endpoints)
        ),
        took.as_secs_f64(),
        "s",
        None,
    );

    // The pod, then DNS on the host side of its veth, then the proxy (which sends the kube-dns
    // ClusterIP to that DNS server).
    let pid = std::process::id();
    parts.pod = Some(PodNetns::create(pid)?);
    let dns = barge_dns::start(
        client.clone(),
        barge_dns::Options {
            listen: SocketAddr::V4(SocketAddrV4::new(HOST_SIDE, 53)),
            cluster_domain: DOMAIN.to_owned(),
            upstreams: Vec::new(),
            ttl: 5,
        },
    )
    .await
    .context("starting the DNS server")?;
    let dns_addr = dns.local_addr();
    parts.dns = Some(dns);

    let table = format!("barge-bench-{pid}");
    let mut options = barge_proxy::Options::new(NODE);
    options.table = table.clone();
    options.cluster_cidr = CLUSTER_CIDR.to_owned();
    options.routes = false;
    options.dns = Some(("kube-system".into(), "kube-dns".into(), dns_addr));
    parts.table = Some(Table(table.clone()));
    let started = Instant::now();
    let proxy = parts
        .proxy
        .insert(barge_proxy::start(client.clone(), options)?);
    let mut programmed = proxy.programmed();
    let first = tokio::time::timeout(
        Duration::from_secs(300),
        programmed.wait_for(Option::is_some),
    )
    .await
    .context("the proxy did not program its table within 300 s")?
    .map_err(|_| anyhow!("the proxy stopped before it programmed its table"))?
    .clone()
    .expect("waited for a report");
    let took = started.elapsed();
    eprintln!(
        "first sync: {} chains, {} rules in {:.2} s",
        first.chains,
        first.rules,
        took.as_secs_f64()
    );
    f.push(
        "first sync: proxy start → whole table in kernel",
        ms(took),
        "ms",
        None,
    );
    f.push(
        "  of which lists done → table in kernel",
        ms(first.latency),
        "ms",
        None,
    );
    f.push(
        "table: chains (Services' part)",
        first.chains as f64,
        "chains",
        None,
    );
    f.push(
        "table: rules (Services' part)",
        first.rules as f64,
        "rules",
        None,
    );
    let listing = list_table(&table)?;
    f.push(
        "table: `nft list table` lines",
        listing.lines().count() as f64,
        "lines",
        None,
    );

    // Programming latency, one change at a time.
    let mut rng = Rng::seeded();
    let api = Api::<EndpointSlice>::namespaced(client.clone(), NAMESPACE);
    let mut latencies = Vec::with_capacity(o.changes);
    let mut in_proxy = Vec::with_capacity(o.changes);
    for c in 0..o.changes {
        let s = rng.below(slices.len());
        let e = rng.below(o.endpoints_per_service);
        // Fresh addresses, after the ones the slices were made with.
        let address = endpoint_address(endpoints + c).expect("checked at the start");
        let mut slice = slices[s].clone();
        slice.endpoints[e].addresses = vec![address.to_string()];
        let proxy = parts.proxy.as_ref().expect("started above");
        let (latency, sync) = timed_change(proxy, &api, &slice, &mut slices[s])
            .await
            .with_context(|| format!("change {} of {}", c + 1, o.changes))?;
        latencies.push(latency);
        in_proxy.push(sync);
    }
    if !latencies.is_empty() {
        f.latency(
            "programming latency, API write → kernel",
            &mut latencies,
            Some(Goal::below(PROGRAMMING_P99_GOAL_MS)),
        );
        f.push("programming latency mean", ms(mean(&latencies)), "ms", None);
        f.latency(
            "  of which in the proxy, event → kernel",
            &mut in_proxy,
            None,
        );
    }

    // DNS from the pod, once the kube-dns ClusterIP is programmed and the index is built.
    wait_for_dns_rules(&table).await?;
    let dns = parts.dns.as_ref().expect("started above");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dns.is_ready() {
        ensure!(
            Instant::now() < deadline,
            "the DNS server had not listed Services and slices after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let names = (0..1_000)
        .map(|_| format!("svc-{}.{NAMESPACE}.svc.{DOMAIN}", rng.below(o.services)))
        .collect();
    let pod = parts.pod.as_ref().expect("created above");
    let load = pod
        .dns_load(
            SocketAddr::V4(SocketAddrV4::new(CLUSTER_DNS, 53)),
            names,
            o.dns_clients,
            o.dns_duration,
        )
        .await?;
    eprintln!(
        "DNS: {} queries answered, {} errors",
        load.queries, load.errors
    );
    ensure!(
        load.queries > 0,
        "no DNS query from the pod was answered ({} errors)",
        load.errors
    );
    let clients = o.dns_clients;
    f.push(
        &format!("DNS lookups from a pod, {clients} clients"),
        load.per_second,
        "queries/s",
        None,
    );
    f.push("DNS lookup p50", ms(load.p50), "ms", None);
    f.push(
        "DNS lookup p99",
        ms(load.p99),
        "ms",
        Some(Goal::below(DNS_P99_GOAL_MS)),
    );
    f.push(
        "DNS lookups unanswered (1 s timeout)",
        load.errors as f64,
        "queries",
        None,
    );

    f.rss("server RSS", server_pid)?;
    let own = Memory::of(std::process::id())?;
    f.push(
        "bench process RSS (proxy, DNS, load)",
        own.rss as f64 / MIB,
        "MiB",
        None,
    );
    f.push("bench process peak RSS", own.peak as f64 / MIB, "MiB", None);
    Ok(())
}

async fn create_namespace(client: &kube::Client) -> Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?;
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating namespace {NAMESPACE}")),
    }
}

/// Creates the Services and their slices from [`SETUP_CLIENTS`] tasks; returns the slices as
/// the server stored them, by Service index.
async fn create_services(client: &kube::Client, o: &Options) -> Result<Vec<EndpointSlice>> {
    let mut tasks = JoinSet::new();
    for t in 0..SETUP_CLIENTS.min(o.services) {
        let services = Api::<Service>::namespaced(client.clone(), NAMESPACE);
        let slices = Api::<EndpointSlice>::namespaced(client.clone(), NAMESPACE);
        let (count, per) = (o.services, o.endpoints_per_service);
        tasks.spawn(async move {
            let mut made = Vec::new();
            for i in (t..count).step_by(SETUP_CLIENTS) {
                let pp = PostParams::default();
                services
                    .create(&pp, &service(i)?)
                    .await
                    .with_context(|| format!("creating Service svc-{i}"))?;
                let slice = slices
                    .create(&pp, &endpoint_slice(i, per)?)
                    .await
                    .with_context(|| format!("creating the EndpointSlice of svc-{i}"))?;
                made.push((i, slice));
            }
            anyhow::Ok(made)
        });
    }
    let mut slices: Vec<Option<EndpointSlice>> = vec![None; o.services];
    while let Some(done) = tasks.join_next().await {
        for (i, slice) in done?? {
            slices[i] = Some(slice);
        }
    }
    Ok(slices
        .into_iter()
        .map(|s| s.expect("every index was created"))
        .collect())
}

/// Service `svc-<i>`: ClusterIP, no selector, TCP port 80 named `http`.
fn service(i: usize) -> Result<Service> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": format!("svc-{i}"), "namespace": NAMESPACE},
        "spec": {
            "type": "ClusterIP",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        },
    }))?)
}

/// The slice of Service `i`: `per` ready endpoints on [`NODE`], port 8080 named `http`, with
/// the addresses `i * per ..` of [`endpoint_address`].
fn endpoint_slice(i: usize, per: usize) -> Result<EndpointSlice> {
    let endpoints: Vec<_> = (0..per)
        .map(|e| {
            let address = endpoint_address(i * per + e).context("out of endpoint addresses")?;
            Ok(json!({
                "addresses": [address.to_string()],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": NODE,
            }))
        })
        .collect::<Result<_>>()?;
    Ok(serde_json::from_value(json!({
        "metadata": {
            "name": format!("svc-{i}"),
            "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": format!("svc-{i}")},
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }))?)
}

/// How many endpoint addresses [`endpoint_address`] gives.
const ADDRESSES: usize = 255 * 254;

/// The `k`-th endpoint address: 10.254.0.1, …, 10.254.0.254, 10.254.1.1, …, up to
/// 10.254.254.254 (never a .0 or .255, and never in 10.254.255.0/24, the pod's veth); `None`
/// past the last.
fn endpoint_address(k: usize) -> Option<Ipv4Addr> {
    if k >= ADDRESSES {
        return None;
    }
    Some(Ipv4Addr::new(10, 254, (k / 254) as u8, (k % 254 + 1) as u8))
}

/// Writes `changed` (an update of `current`, which becomes the stored result) and waits until
/// a sync holding the change reaches the kernel. Returns the time from just before the write
/// to that sync's report, and the proxy's own part of it (its report's latency).
async fn timed_change(
    proxy: &barge_proxy::Proxy,
    api: &Api<EndpointSlice>,
    changed: &EndpointSlice,
    current: &mut EndpointSlice,
) -> Result<(Duration, Duration)> {
    let name = changed.metadata.name.clone().unwrap_or_default();
    let mut programmed = proxy.programmed();
    programmed.mark_unchanged();
    let before = proxy.changes_seen();
    let t0 = Instant::now();
    *current = api
        .replace(&name, &PostParams::default(), changed)
        .await
        .with_context(|| format!("updating EndpointSlice {name}"))?;
    let deadline = tokio::time::Instant::from_std(t0 + CHANGE_LIMIT);
    // The generation that holds the change: the proxy's count once it has grown past the
    // count before the write. Sampled every millisecond; the report is awaited, not sampled.
    let mut target = None;
    loop {
        if target.is_none() {
            let seen = proxy.changes_seen();
            if seen > before {
                target = Some(seen);
            }
        }
        if let Some(target) = target {
            let report = programmed.borrow_and_update().clone();
            if let Some(report) = report.filter(|r| r.generation >= target) {
                return Ok((t0.elapsed(), report.latency));
            }
        }
        let poll = if target.is_none() {
            Duration::from_millis(1)
        } else {
            CHANGE_LIMIT
        };
        tokio::select! {
            changed = programmed.changed() => {
                changed.map_err(|_| anyhow!("the proxy stopped"))?;
            }
            _ = tokio::time::sleep(poll) => {}
            _ = tokio::time::sleep_until(deadline) => bail!(
                "the change to {name} was not programmed within {} s \
                 (proxy saw the event: {})",
                CHANGE_LIMIT.as_secs(),
                target.is_some()
            ),
        }
    }
}

fn mean(samples: &[Duration]) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.iter().sum::<Duration>() / samples.len() as u32
}

/// `nft list table ip <table>`.
fn list_table(table: &str) -> Result<String> {
    let out = Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .context("cannot run nft")?;
    ensure!(
        out.status.success(),
        "nft list table ip {table}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits until the proxy's table sends the kube-dns ClusterIP's UDP port 53 somewhere.
async fn wait_for_dns_rules(table: &str) -> Result<()> {
    let key = format!("{CLUSTER_DNS} . udp . 53");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if list_table(table)?.contains(&key) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the proxy's table has no rule for {key} (kube-dns) after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The proxy's table, deleted on drop if it is still there (the proxy deletes it when it
/// stops; this covers the ways out where it never got to).
struct Table(String);

impl Drop for Table {
    fn drop(&mut self) {
        let exists = Command::new("nft")
            .args(["list", "table", "ip", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if exists {
            run_quiet("nft", &["delete", "table", "ip", &self.0]);
        }
    }
}

/// The pod: a network namespace `barge-bench-pod-<pid>` whose `eth0` (10.254.255.2/24,
/// default route via the host side) is a veth to `vbp<pid>` (10.254.255.1/24) here.
/// Deleting the namespace on drop removes the pair.
struct PodNetns {
    name: String,
    host_link: String,
}

impl PodNetns {
    fn create(pid: u32) -> Result<Self> {
        let pod = Self {
            name: format!("barge-bench-pod-{pid}"),
            host_link: format!("vbp{pid}"),
        };
        let (ns, link) = (pod.name.as_str(), pod.host_link.as_str());
        let host = format!("{HOST_SIDE}/24");
        let inside = format!("{POD_SIDE}/24");
        let gateway = HOST_SIDE.to_string();
        run_ip(&["netns", "add", ns])?;
        // From here on, `pod` is dropped (and the namespace deleted) on every failure.
        let steps: [&[&str]; 7] = [
            &[
                "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ],
            &["addr", "add", &host, "dev", link],
            &["link", "set", link, "up"],
            &["-n", ns, "addr", "add", &inside, "dev", "eth0"],
            &["-n", ns, "link", "set", "eth0", "up"],
            &["-n", ns, "link", "set", "lo", "up"],
            &["-n", ns, "route", "add", "default", "via", &gateway],
        ];
        for step in steps {
            run_ip(step)?;
        }
        Ok(pod)
    }

    /// Runs [`barge_dns::load::run`] from inside the namespace, on a thread of its own (a
    /// thread's network namespace is its own to change) with a single-threaded runtime.
    async fn dns_load(
        &self,
        server: SocketAddr,
        names: Vec<String>,
        clients: usize,
        duration: Duration,
    ) -> Result<barge_dns::load::LoadReport> {
        let path = format!("/run/netns/{}", self.name);
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("dns-load".into())
            .spawn(move || {
                let run = || -> Result<barge_dns::load::LoadReport> {
                    let netns = std::fs::File::open(&path)
                        .with_context(|| format!("cannot open {path}"))?;
                    nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET)
                        .with_context(|| format!("cannot enter {path}"))?;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    Ok(runtime.block_on(async {
                        // A short probe first, so the timed run starts with a working path.
                        let probe = names[..1].to_vec();
                        let until = Instant::now() + Duration::from_secs(10);
                        while Instant::now() < until {
                            let r = barge_dns::load::run(
                                server,
                                probe.clone(),
                                1,
                                Duration::from_millis(100),
                            )
                            .await;
                            if r.queries > 0 {
                                break;
                            }
                        }
                        barge_dns::load::run(server, names, clients, duration).await
                    }))
                };
                let _ = tx.send(run());
            })
            .context("cannot start the DNS load thread")?;
        rx.await.context("the DNS load thread failed")?
    }
}

impl Drop for PodNetns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the veth, and with it ours; the explicit
        // delete covers a pair whose far end never got there.
        run_quiet("ip", &["link", "del", &self.host_link]);
        run_quiet("ip", &["netns", "del", &self.name]);
    }
}

fn run_ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run ip (is iproute2 installed?)")?;
    ensure!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

fn run_quiet(program: &str, args: &[&str]) {
    let _ = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A small xorshift generator for picking slices and names; not for anything secret.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self::new(nanos ^ u64::from(std::process::id()).rotate_left(32))
    }

    fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point.
        Self(seed.max(1))
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_addresses_are_unique_hosts_outside_the_pods_subnet() {
        let mut seen = std::collections::HashSet::new();
        for k in 0..ADDRESSES {
            let ip = endpoint_address(k).unwrap();
            let [a, b, c, d] = ip.octets();
            assert_eq!((a, b), (10, 254));
            assert!(c != 255, "{ip} is in the pod's subnet");
            assert!(d != 0 && d != 255, "{ip} is not a host address");
            assert!(seen.insert(ip), "{ip} given twice");
        }
        assert_eq!(endpoint_address(0), Some(Ipv4Addr::new(10, 254, 0, 1)));
        assert_eq!(endpoint_address(254), Some(Ipv4Addr::new(10, 254, 1, 1)));
        assert_eq!(endpoint_address(ADDRESSES), None);
        // The default run: 10,000 endpoints and 200 changes fit.
        assert!(endpoint_address(10_200).is_some());
    }

    #[test]
    fn slices_belong_to_their_service_and_use_their_own_addresses() {
        let slice = endpoint_slice(3, 10).unwrap();
        let labels = slice.metadata.labels.unwrap();
        assert_eq!(labels["kubernetes.io/service-name"], "svc-3");
        assert_eq!(slice.endpoints.len(), 10);
        assert_eq!(slice.endpoints[0].addresses, ["10.254.0.31"]);
        assert_eq!(slice.endpoints[0].node_name.as_deref(), Some(NODE));
        let port = &slice.ports.unwrap()[0];
        assert_eq!(
            (port.name.as_deref(), port.port),
            (Some("http"), Some(8080))
        );
        let svc = service(3).unwrap();
        assert!(svc.spec.unwrap().selector.is_none());
    }

    #[test]
    fn random_picks_stay_in_range_and_vary() {
        let mut rng = Rng::new(0);
        let picks: Vec<usize> = (0..1000).map(|_| rng.below(10)).collect();
        assert!(picks.iter().all(|p| *p < 10));
        let distinct: std::collections::HashSet<_> = picks.iter().collect();
        assert_eq!(distinct.len(), 10);
    }

    #[test]
    fn mean_of_durations() {
        let d = [Duration::from_millis(1), Duration::from_millis(3)];
        assert_eq!(mean(&d), Duration::from_millis(2));
        assert_eq!(mean(&[]), Duration::ZERO);
    }
}
