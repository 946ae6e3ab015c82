//! `barge bench api`: drives a running API server over HTTPS, the way clients do, and prints
//! figures: pod creates and gets per second with 1 and many clients, list latency at a few
//! namespace sizes, watch fan-out delivery, and the server's resident memory.
//!
//! By default it starts `barge server` itself (this same binary, with its data in a temporary
//! directory, and without its scheduler and controllers: the API server alone) so that the server's memory can be read from `/proc`; `--kubeconfig` points it at a
//! server that is already running instead. Every client is its own HTTP/2 connection (as
//! client-go's), so the server sees as many connections as there are clients, as it would with
//! real controllers; the concurrent gets are also timed over HTTP/1.1, the protocol kube-rs and
//! the Python client speak.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::https::{Client, Connection, Protocol};
use crate::percentile;
use crate::report::{self, Figures, Goal, MIB, Memory, ms, thousands};
use crate::server::{Target, start_server};

const PODS: &str = "/api/v1/namespaces/default/pods";

/// hyper's HTTP/2 server allows 200 concurrent streams per connection by default, and a watch
/// holds its stream for as long as it runs, so watchers are spread to stay well under that.
const WATCHERS_PER_CONNECTION: usize = 100;

/// What to run; the defaults take about two to three minutes on a 2-core machine.
#[derive(Clone, Debug)]
pub struct Options {
    /// An already-running server's kubeconfig; `None` starts a server for the run.
    pub kubeconfig: Option<PathBuf>,
    /// The process whose memory to report when the server is not started by the benchmark.
    pub pid: Option<u32>,
    /// Where a started server keeps its data (a temporary directory is made inside).
    pub dir: PathBuf,
    /// Concurrent clients (one connection each) in the concurrent runs and the fills.
    pub clients: usize,
    /// Creates one after the other, from one client.
    pub sequential_creates: usize,
    /// Creates spread over `clients`.
    pub creates: usize,
    /// Gets one after the other, from one client.
    pub sequential_gets: usize,
    /// Gets spread over `clients`.
    pub gets: usize,
    /// The namespace sizes at which lists are timed, smallest first; the namespace is filled
    /// up to each in turn.
    pub pods: Vec<usize>,
    /// Full lists timed at each size.
    pub list_repetitions: usize,
    /// Watchers in the fan-out run.
    pub watchers: usize,
    /// Pods created (one after the other) while the watchers watch.
    pub watch_events: usize,
    /// The pause between those creates, so the run measures delivery rather than queueing.
    pub watch_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            pid: None,
            dir: std::env::temp_dir(),
            clients: 32,
            sequential_creates: 1_000,
            // With the sequential creates this leaves the namespace just under the first list
            // size, so that list is timed at the size asked for.
            creates: 8_000,
            sequential_gets: 2_000,
            gets: 50_000,
            pods: vec![10_000, 100_000],
            list_repetitions: 5,
            watchers: 1_000,
            watch_events: 200,
            watch_interval: Duration::from_millis(20),
        }
    }
}

/// Runs the workload against the server and prints the table; a server started for the run is
/// stopped and its data removed on every way out, errors and Ctrl-C included.
pub async fn run(options: Options) -> Result<()> {
    ensure!(options.clients > 0, "--clients must be at least 1");
    let server = match &options.kubeconfig {
        Some(path) => Target::existing(path, options.pid)?,
        // The API server alone: with no node, a scheduler would write a status for every pod.
        None => {
            let alone = ["--disable-scheduler", "--disable-controller-manager"];
            start_server(&options.dir, "api", &alone).await?
        }
    };
    let mut figures = Figures::default();
    let outcome = tokio::select! {
        r = workload(&server, &options, &mut figures) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    drop(server);
    outcome?;
    print_table(&options, &figures);
    Ok(())
}

async fn workload(target: &Target, o: &Options, f: &mut Figures) -> Result<()> {
    // Idle: started, bootstrapped, before any benchmark connection.
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let Some(pid) = target.pid {
        let idle = Memory::of(pid)?.rss as f64 / MIB;
        f.push("RSS, idle", idle, "MiB", Some(Goal::below(40.0)));
    }

    let client = Client::new(&target.kubeconfig)?;
    let one = vec![client.connect(Protocol::Http2).await?];
    let mut many = Vec::with_capacity(o.clients);
    let mut many_http1 = Vec::with_capacity(o.clients);
    for _ in 0..o.clients {
        many.push(client.connect(Protocol::Http2).await?);
        many_http1.push(client.connect(Protocol::Http1).await?);
    }
    let n = o.clients;
    // A tag in every name, so that runs against one long-lived server do not collide.
    let pods = Pods {
        tag: format!(
            "{:06x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .subsec_nanos()
                & 0xff_ffff
        )
        .into(),
    };
    let mut created = 0;

    for (conns, count, label) in [
        (&one, o.sequential_creates, "1 client".to_owned()),
        (&many, o.creates, format!("{n} clients")),
    ] {
        eprintln!("creating {count} pods, {label}");
        let (mut samples, elapsed) = drive(conns, &pods, Op::Create, created, count).await?;
        created += count;
        let concurrent = conns.len() > 1;
        f.rate(
            &format!("create, {label}"),
            "creates/s",
            count,
            elapsed,
            concurrent.then(|| Goal::above(3_000.0)),
        );
        f.latency(
            &format!("create latency, {label}"),
            &mut samples,
            concurrent.then(|| Goal::below(50.0)),
        );
    }

    for (conns, count, label) in [
        (&one, o.sequential_gets, "1 client".to_owned()),
        (&many, o.gets, format!("{n} clients")),
        (&many_http1, o.gets, format!("{n} clients, HTTP/1.1")),
    ] {
        ensure!(created > 0, "gets need pods: create at least one");
        eprintln!("getting {count} pods, {label}");
        let op = Op::Get { existing: created };
        let (mut samples, elapsed) = drive(conns, &pods, op, 0, count).await?;
        let concurrent = conns.len() > 1;
        f.rate(
            &format!("get, {label}"),
            "gets/s",
            count,
            elapsed,
            concurrent.then(|| Goal::above(30_000.0)),
        );
        f.latency(
            &format!("get latency, {label}"),
            &mut samples,
            concurrent.then(|| Goal::below(50.0)),
        );
    }

    let mut sizes = o.pods.clone();
    sizes.sort_unstable();
    for (i, &size) in sizes.iter().enumerate() {
        if size > created {
            let count = size - created;
            eprintln!("filling up to {size} pods, {n} clients");
            let (_, elapsed) = drive(&many, &pods, Op::Create, created, count).await?;
            created = size;
            f.rate(
                &format!("create while filling to {}, {n} clients", thousands(size)),
                "creates/s",
                count,
                elapsed,
                None,
            );
        }
        if i + 1 == sizes.len() {
            f.rss(
                &format!("RSS after {} pods", thousands(created)),
                target.pid,
            )?;
        }
        eprintln!("listing {created} pods");
        let (mut samples, bytes) = list(&one[0], o.list_repetitions).await?;
        let name = format!("list {} pods", thousands(created));
        f.push(
            &format!("{name} p50"),
            ms(percentile(&mut samples, 0.5)),
            "ms",
            None,
        );
        f.push(
            &format!("{name}, response size"),
            bytes as f64 / MIB,
            "MiB",
            None,
        );
    }

    if o.watchers > 0 && o.watch_events > 0 {
        eprintln!(
            "watch fan-out: {} watchers, {} creates",
            o.watchers, o.watch_events
        );
        let (mut from_issue, mut from_ack) = watch_fan_out(&client, &one[0], &pods, o).await?;
        let label = format!("watch, {} watchers", o.watchers);
        f.latency(&format!("{label}, create→event"), &mut from_issue, None);
        f.latency(&format!("{label}, response→event"), &mut from_ack, None);
    }

    if let Some(pid) = target.pid {
        let peak = Memory::of(pid)?.peak as f64 / MIB;
        f.push("peak RSS over the run", peak, "MiB", None);
    }
    Ok(())
}

/// The benchmark's pods: names and bodies.
#[derive(Clone)]
struct Pods {
    tag: Arc<str>,
}

impl Pods {
    fn name(&self, i: usize) -> String {
        format!("bench-{}-{i}", self.tag)
    }

    fn watch_name(&self, i: usize) -> String {
        format!("bench-{}-w{i}", self.tag)
    }

    /// A small but realistic pod: labels, one container with a port and resource requests.
    fn body(&self, name: &str, role: &str) -> Bytes {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "labels": {"app": "bench", "bench-run": &*self.tag, "role": role},
            },
            "spec": {
                "containers": [{
                    "name": "web",
                    "image": "registry.k8s.io/nginx-slim:0.27",
                    "ports": [{"containerPort": 80, "name": "http"}],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "64Mi"},
                        "limits": {"memory": "128Mi"},
                    },
                }],
            },
        });
        Bytes::from(serde_json::to_vec(&pod).expect("a JSON value serialises"))
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Create pod `i`.
    Create,
    /// Get a pseudo-random one of pods `0..existing`, chosen by `i`.
    Get { existing: usize },
}

impl Op {
    async fn call(self, conn: &Connection, pods: &Pods, i: usize) -> Result<()> {
        let (status, body) = match self {
            Op::Create => {
                let name = pods.name(i);
                let body = pods.body(&name, "load");
                let (status, body) = conn.call(Method::POST, PODS, Some(body)).await?;
                (status == StatusCode::CREATED, body)
            }
            Op::Get { existing } => {
                let name = pods.name((splitmix64(i as u64) % existing as u64) as usize);
                let (status, body) = conn
                    .call(Method::GET, &format!("{PODS}/{name}"), None)
                    .await?;
                (status == StatusCode::OK, body)
            }
        };
        ensure!(
            status,
            "{self:?} of pod {i} failed: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }
}

/// Runs `op` for `i` in `start..start + count`, spread over the connections (one client task
/// each); returns every call's latency and the wall time of the whole run.
async fn drive(
    conns: &[Connection],
    pods: &Pods,
    op: Op,
    start: usize,
    count: usize,
) -> Result<(Vec<Duration>, Duration)> {
    let clients = conns.len();
    let started = Instant::now();
    // A JoinSet, so that the other clients stop as soon as one fails.
    let mut tasks = JoinSet::new();
    for (c, conn) in conns.iter().enumerate() {
        let (conn, pods) = (conn.clone(), pods.clone());
        tasks.spawn(async move {
            let mut samples = Vec::with_capacity(count / clients + 1);
            for i in (start + c..start + count).step_by(clients) {
                let t = Instant::now();
                op.call(&conn, &pods, i).await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        });
    }
    let mut samples = Vec::with_capacity(count);
    while let Some(done) = tasks.join_next().await {
        samples.extend(done??);
    }
    Ok((samples, started.elapsed()))
}

/// Times `repetitions` full lists of the namespace; returns the latencies and the size of one
/// response. The body is read to its end but not parsed: the client's JSON decoding is not the
/// server's latency.
async fn list(conn: &Connection, repetitions: usize) -> Result<(Vec<Duration>, usize)> {
    let mut samples = Vec::with_capacity(repetitions);
    let mut size = 0;
    for _ in 0..repetitions {
        let t = Instant::now();
        let (status, body) = conn.call(Method::GET, PODS, None).await?;
        samples.push(t.elapsed());
        ensure!(
            status == StatusCode::OK,
            "list failed: {}",
            String::from_utf8_lossy(&body[..body.len().min(1000)])
        );
        size = body.len();
    }
    Ok((samples, size))
}

/// The namespace's current resourceVersion, from a one-item list.
async fn current_revision(conn: &Connection) -> Result<String> {
    let (status, body) = conn
        .call(Method::GET, &format!("{PODS}?limit=1"), None)
        .await?;
    ensure!(status == StatusCode::OK, "list failed with {status}");
    let list: Value = serde_json::from_slice(&body)?;
    list["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_owned)
        .context("the list has no resourceVersion")
}

/// Opens `o.watchers` watches on the namespace (from its current revision, selecting only this
/// run's watch pods), creates `o.watch_events` pods one at a time, and returns, for every
/// (watcher, event) pair, the time from the create being issued and from its response to the
/// event's arrival (the latter clamped at zero when the event came first).
async fn watch_fan_out(
    client: &Client,
    conn: &Connection,
    pods: &Pods,
    o: &Options,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let events = o.watch_events;
    let revision = current_revision(conn).await?;
    let path = format!(
        "{PODS}?watch=true&resourceVersion={revision}&labelSelector=bench-run%3D{}%2Crole%3Dwatch",
        pods.tag
    );
    let mut connections = Vec::new();
    for _ in 0..o.watchers.div_ceil(WATCHERS_PER_CONNECTION) {
        connections.push(client.connect(Protocol::Http2).await?);
    }
    let mut watchers = JoinSet::new();
    for w in 0..o.watchers {
        let response = connections[w / WATCHERS_PER_CONNECTION]
            .send(Method::GET, &path, None)
            .await?;
        ensure!(
            response.status() == StatusCode::OK,
            "watch {w} failed with {}",
            response.status()
        );
        // The server has registered the watch before it answers, so every watcher sees every
        // create below. Each event is only timestamped and kept here; parsing waits until the
        // run is over, so it does not take CPU from the server while latencies are measured.
        let mut body = response.into_body();
        watchers.spawn(async move {
            let mut lines = Vec::with_capacity(events);
            let mut buffer = BytesMut::new();
            while lines.len() < events {
                let frame = body
                    .frame()
                    .await
                    .with_context(|| format!("watch {w} ended early"))?
                    .with_context(|| format!("watch {w} failed"))?;
                let at = Instant::now();
                if let Ok(data) = frame.into_data() {
                    buffer.extend_from_slice(&data);
                    while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                        lines.push((at, buffer.split_to(end + 1).freeze()));
                    }
                }
            }
            anyhow::Ok(lines)
        });
    }

    let mut written: HashMap<String, (Instant, Instant)> = HashMap::with_capacity(events);
    for i in 0..events {
        let name = pods.watch_name(i);
        let body = pods.body(&name, "watch");
        let issued = Instant::now();
        let (status, reply) = conn.call(Method::POST, PODS, Some(body)).await?;
        let acked = Instant::now();
        ensure!(
            status == StatusCode::CREATED,
            "create of {name} failed: {}",
            String::from_utf8_lossy(&reply)
        );
        written.insert(name, (issued, acked));
        tokio::time::sleep(o.watch_interval).await;
    }

    let mut from_issue = Vec::with_capacity(events * o.watchers);
    let mut from_ack = Vec::with_capacity(events * o.watchers);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while let Some(done) = tokio::time::timeout_at(deadline, watchers.join_next())
        .await
        .context("watchers did not receive every event within 2 minutes")?
    {
        for (at, line) in done?? {
            let event: Value = serde_json::from_slice(&line).context("an invalid watch event")?;
            let name = event["object"]["metadata"]["name"].as_str().unwrap_or("");
            ensure!(
                event["type"] == "ADDED",
                "unexpected watch event {} for {name:?}",
                event["type"]
            );
            let (issued, acked) = written
                .get(name)
                .with_context(|| format!("an event for an unknown pod {name:?}"))?;
            from_issue.push(at.saturating_duration_since(*issued));
            from_ack.push(at.saturating_duration_since(*acked));
        }
    }
    Ok((from_issue, from_ack))
}

/// A well-mixed hash, so that gets hit pods all over the namespace (and the store), not in
/// creation order.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn print_table(o: &Options, f: &Figures) {
    let server = match &o.kubeconfig {
        Some(path) => format!("the server in {}", path.display()),
        None => "a barge server started for the run".to_owned(),
    };
    report::print(
        &format!(
            "api benchmark: {server}, {} clients, {} watchers",
            o.clients, o.watchers
        ),
        f,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gets_spread_over_every_pod() {
        let existing = 1000;
        let hit: std::collections::HashSet<u64> =
            (0..10_000u64).map(|i| splitmix64(i) % existing).collect();
        assert!(hit.len() > 990, "{} of {existing}", hit.len());
    }
}
