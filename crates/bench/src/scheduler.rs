//! `barge bench scheduler`: a server, thousands of hollow nodes, and batches of pods created
//! as fast as the server takes them; prints how many pods per second go from creation to
//! binding end to end (through the API server, as upstream's scheduler_perf measures
//! kube-scheduler), the time each pod took, and the memory of the server and of the hollow
//! nodes' process.
//!
//! By default it starts `barge server` itself (this same binary, running the scheduler and the
//! controller manager too, with its data in a temporary directory); `--kubeconfig` points it at
//! a server that is already running instead. Either way it starts `barge hollow` as a child
//! process for the nodes, so the whole cluster shares the machine, as it would in production.
//!
//! The batches are cumulative: they go into one namespace, each labelled with its own batch,
//! so the 50,000 pods of the second batch are placed on nodes that already run the 10,000 of
//! the first (the scheduler's filters and scores see used nodes, as upstream's runs with
//! initial pods do). Each pod requests 100m CPU and 64Mi of memory, so resource fitting
//! matters.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::https::{Client, Connection, Protocol};
use crate::report::{self, Figures, Goal, MIB, Memory, cpu_time, thousands};
use crate::server::{Target, start_server};

/// The namespace every batch goes into.
const NAMESPACE: &str = "bench-scheduler";

/// The hollow nodes' names: this and a number.
const NODE_PREFIX: &str = "bench-";

/// The label every hollow node carries (`barge_hollow::HOLLOW_LABEL`; this crate runs the
/// hollow nodes as a process rather than depending on their crate).
const HOLLOW_LABEL: &str = "barge.dev/hollow";

/// What a hollow node offers by default (4 CPUs) in pods of 100m.
const PODS_PER_NODE: usize = 40;

/// The goal from the issue, end to end through the API server on 2 cores.
const PODS_PER_SECOND_GOAL: f64 = 1_000.0;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// An already-running server's kubeconfig; `None` starts a server for the run.
    pub kubeconfig: Option<PathBuf>,
    /// The process whose memory to report when the server is not started by the benchmark.
    pub pid: Option<u32>,
    /// Where a started server keeps its data (a temporary directory is made inside).
    pub dir: PathBuf,
    /// Hollow nodes.
    pub nodes: usize,
    /// The batches of pods, created and scheduled one after the other.
    pub pods: Vec<usize>,
    /// Concurrent clients creating the pods, one HTTP/2 connection each.
    pub clients: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            pid: None,
            dir: std::env::temp_dir(),
            nodes: 5_000,
            pods: vec![10_000, 50_000],
            clients: 32,
        }
    }
}

/// Runs the workload and prints the table; a server and the hollow nodes started for the run
/// are stopped (and the server's data removed) on every way out, errors and Ctrl-C included.
pub async fn run(options: Options) -> Result<()> {
    ensure!(options.clients > 0, "--clients must be at least 1");
    ensure!(options.nodes > 0, "--nodes must be at least 1");
    let total: usize = options.pods.iter().sum();
    ensure!(
        total <= options.nodes * PODS_PER_NODE,
        "{total} pods of 100m CPU do not fit on {} hollow nodes of 4 CPUs: use more --nodes",
        options.nodes
    );
    let server = match &options.kubeconfig {
        Some(path) => Target::existing(path, options.pid)?,
        None => start_server(&options.dir, "scheduler", &[]).await?,
    };
    let mut figures = Figures::default();
    let outcome = tokio::select! {
        r = workload(&server, &options, &mut figures) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    drop(server);
    outcome?;
    let server = match &options.kubeconfig {
        Some(path) => format!("the server in {}", path.display()),
        None => "a barge server started for the run".to_owned(),
    };
    let batches: Vec<String> = options.pods.iter().map(|&n| thousands(n)).collect();
    report::print(
        &format!(
            "scheduler benchmark: {server}, {} hollow nodes, {} clients, batches of {} pods \
             (cumulative, one namespace)",
            thousands(options.nodes),
            options.clients,
            batches.join(" then ")
        ),
        &figures,
    );
    Ok(())
}

/// `barge hollow` running as a child; killed when dropped.
struct Hollow {
    child: std::process::Child,
}

impl Hollow {
    fn start(kubeconfig: &Path, nodes: usize) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find the barge binary")?;
        let child = std::process::Command::new(&exe)
            .arg("hollow")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--nodes", &nodes.to_string()])
            .args(["--name-prefix", NODE_PREFIX])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {} hollow", exe.display()))?;
        eprintln!("barge hollow: pid {}, {nodes} nodes", child.id());
        Ok(Self { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error if the process has exited.
    fn check(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("barge hollow exited ({status})"),
            None => Ok(()),
        }
    }
}

impl Drop for Hollow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn workload(target: &Target, o: &Options, f: &mut Figures) -> Result<()> {
    let client = Client::new(&target.kubeconfig)?;
    let conn = client.connect(Protocol::Http2).await?;

    let mut hollow = Hollow::start(&target.kubeconfig_path, o.nodes)?;
    let took = wait_for_nodes(&conn, &mut hollow, o.nodes).await?;
    f.push(
        &format!("register {} hollow nodes", thousands(o.nodes)),
        took.as_secs_f64(),
        "s",
        None,
    );
    f.rss("server RSS, nodes registered", target.pid)?;
    f.rss("hollow RSS, nodes registered", Some(hollow.pid()))?;
    // Ready in the store is not yet in the scheduler's cache; a pause keeps the first pods
    // from meeting a cluster the scheduler has not seen whole.
    tokio::time::sleep(Duration::from_secs(2)).await;

    create_namespace(&conn).await?;
    let mut creators = Vec::with_capacity(o.clients);
    for _ in 0..o.clients {
        creators.push(client.connect(Protocol::Http2).await?);
    }
    // A tag in every name, so that runs against one long-lived server do not collide.
    let tag: Arc<str> = format!(
        "{:06x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos()
            & 0xff_ffff
    )
    .into();

    let mut bound = 0;
    for (b, &count) in o.pods.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let pods = Pods {
            tag: tag.clone(),
            batch: b,
        };
        eprintln!(
            "batch {}: creating {count} pods from {} clients",
            b + 1,
            o.clients
        );
        let (cpu, window) = (Cpu::now(target.pid, hollow.pid())?, Instant::now());
        let run = batch(&client, &conn, &creators, &pods, count).await?;
        let cpu = Cpu::now(target.pid, hollow.pid())?.since(&cpu);
        let wall = window.elapsed().as_secs_f64();
        hollow.check()?;
        bound += count;
        let size = thousands(count);
        f.rate(
            &format!("create {size} pods, {} clients", o.clients),
            "creates/s",
            count,
            run.creates_took,
            None,
        );
        f.rate(
            &format!("schedule {size} pods, end to end"),
            "pods/s",
            count,
            run.took,
            Some(Goal::above(PODS_PER_SECOND_GOAL)),
        );
        let mut latencies = run.latencies;
        f.latency(
            &format!("creation→binding, {size} pods"),
            &mut latencies,
            None,
        );
        // Where the machine's cores went, in cores busy over the batch: on 2 cores the
        // server, the nodes and this client compete, and this says which one to look at.
        if let Some(server) = cpu.server {
            f.push(
                &format!("server CPU, {size} pods"),
                server.as_secs_f64() / wall,
                "cores",
                None,
            );
        }
        f.push(
            &format!("hollow CPU, {size} pods"),
            cpu.hollow.as_secs_f64() / wall,
            "cores",
            None,
        );
        f.push(
            &format!("benchmark client CPU, {size} pods"),
            cpu.client.as_secs_f64() / wall,
            "cores",
            None,
        );
        f.rss(
            &format!("server RSS, {} pods bound", thousands(bound)),
            target.pid,
        )?;
        f.rss(
            &format!("hollow RSS, {} pods bound", thousands(bound)),
            Some(hollow.pid()),
        )?;
    }

    if let Some(pid) = target.pid {
        let peak = Memory::of(pid)?.peak as f64 / MIB;
        f.push("server peak RSS over the run", peak, "MiB", None);
    }
    let peak = Memory::of(hollow.pid())?.peak as f64 / MIB;
    f.push("hollow peak RSS over the run", peak, "MiB", None);
    Ok(())
}

/// CPU time used so far by the server (when its pid is known), the hollow nodes and this
/// process (the benchmark's clients and watch).
struct Cpu {
    server: Option<Duration>,
    hollow: Duration,
    client: Duration,
}

impl Cpu {
    fn now(server: Option<u32>, hollow: u32) -> Result<Self> {
        Ok(Self {
            server: server.map(cpu_time).transpose()?,
            hollow: cpu_time(hollow)?,
            client: cpu_time(std::process::id())?,
        })
    }

    fn since(&self, before: &Self) -> Self {
        Self {
            server: self
                .server
                .zip(before.server)
                .map(|(now, then)| now.saturating_sub(then)),
            hollow: self.hollow.saturating_sub(before.hollow),
            client: self.client.saturating_sub(before.client),
        }
    }
}

/// Waits until `nodes` hollow nodes of ours are Ready (and not tainted as not ready), polling
/// once a second; returns how long that took.
async fn wait_for_nodes(conn: &Connection, hollow: &mut Hollow, nodes: usize) -> Result<Duration> {
    let started = Instant::now();
    let limit = Duration::from_secs(120) + Duration::from_millis(50) * nodes as u32;
    let path = format!(
        "/api/v1/nodes?labelSelector={}%3Dtrue",
        HOLLOW_LABEL.replace('/', "%2F")
    );
    let mut last_report = Instant::now();
    loop {
        hollow.check()?;
        let (status, body) = conn.call(Method::GET, &path, None).await?;
        ensure!(
            status == StatusCode::OK,
            "listing nodes failed: {}",
            String::from_utf8_lossy(&body[..body.len().min(1000)])
        );
        let list: Value = serde_json::from_slice(&body).context("an invalid node list")?;
        let ready = ready_nodes(&list, NODE_PREFIX);
        if ready >= nodes {
            eprintln!(
                "{ready} hollow nodes ready after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(started.elapsed());
        }
        ensure!(
            started.elapsed() < limit,
            "only {ready} of {nodes} hollow nodes were ready after {} s",
            limit.as_secs()
        );
        if last_report.elapsed() >= Duration::from_secs(5) {
            eprintln!("{ready} of {nodes} hollow nodes ready");
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How many nodes in a node list are named `prefix…`, have Ready=True and carry no not-ready
/// or unreachable taint (which would keep the scheduler off them).
fn ready_nodes(list: &Value, prefix: &str) -> usize {
    let Some(items) = list["items"].as_array() else {
        return 0;
    };
    items
        .iter()
        .filter(|node| {
            let named = node["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(prefix));
            let ready = node["status"]["conditions"]
                .as_array()
                .is_some_and(|conditions| {
                    conditions
                        .iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                });
            let tainted = node["spec"]["taints"].as_array().is_some_and(|taints| {
                taints.iter().any(|t| {
                    t["key"] == "node.kubernetes.io/not-ready"
                        || t["key"] == "node.kubernetes.io/unreachable"
                })
            });
            named && ready && !tainted
        })
        .count()
}

async fn create_namespace(conn: &Connection) -> Result<()> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    let body = Bytes::from(serde_json::to_vec(&body)?);
    let (status, reply) = conn
        .call(Method::POST, "/api/v1/namespaces", Some(body))
        .await?;
    ensure!(
        status == StatusCode::CREATED || status == StatusCode::CONFLICT,
        "creating namespace {NAMESPACE} failed: {}",
        String::from_utf8_lossy(&reply)
    );
    Ok(())
}

/// One batch's pods: names and bodies.
#[derive(Clone)]
struct Pods {
    tag: Arc<str>,
    batch: usize,
}

impl Pods {
    fn prefix(&self) -> String {
        format!("sched-{}-{}-", self.tag, self.batch)
    }

    fn name(&self, i: usize) -> String {
        format!("{}{i}", self.prefix())
    }

    fn selector(&self) -> String {
        format!("bench-run%3D{}%2Cbench-batch%3D{}", self.tag, self.batch)
    }

    /// A bare pod (no owner) with resource requests, so the scheduler fits it.
    fn body(&self, i: usize) -> Bytes {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name(i),
                "labels": {
                    "app": "bench-scheduler",
                    "bench-run": &*self.tag,
                    "bench-batch": self.batch.to_string(),
                },
            },
            "spec": {
                "containers": [{
                    "name": "pause",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }],
            },
        });
        Bytes::from(serde_json::to_vec(&pod).expect("a JSON value serialises"))
    }
}

/// What one batch measured.
struct Batch {
    /// From the first create issued to the last create answered.
    creates_took: Duration,
    /// From the first create issued to the last binding seen.
    took: Duration,
    /// Per pod, from its create issued to its binding seen.
    latencies: Vec<Duration>,
}

/// Watches the batch's pods, creates `count` of them from the creators, and waits until the
/// watch has seen every one bound.
async fn batch(
    client: &Client,
    conn: &Connection,
    creators: &[Connection],
    pods: &Pods,
    count: usize,
) -> Result<Batch> {
    let pods_path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    let revision = current_revision(conn, &pods_path).await?;
    let watch = client.connect(Protocol::Http2).await?;
    let list_path = format!("{pods_path}?labelSelector={}", pods.selector());
    // The watch starts before the first create.
    let first = open_watch(&watch, &list_path, &revision).await?;
    let seen = Arc::new(AtomicUsize::new(0));
    // In a JoinSet, so that the watch stops when the batch fails or times out.
    let mut watcher = JoinSet::new();
    watcher.spawn(watch_bindings(
        watch,
        first,
        list_path,
        pods.prefix(),
        count,
        seen.clone(),
    ));

    let started = Instant::now();
    let limit = Duration::from_secs(60) + Duration::from_millis(20) * count as u32;
    let mut tasks = JoinSet::new();
    let clients = creators.len();
    for (c, conn) in creators.iter().enumerate() {
        let (conn, pods, path) = (conn.clone(), pods.clone(), pods_path.clone());
        tasks.spawn(async move {
            let mut issued = Vec::with_capacity(count / clients + 1);
            for i in (c..count).step_by(clients) {
                let body = pods.body(i);
                let at = Instant::now();
                let (status, reply) = conn.call(Method::POST, &path, Some(body)).await?;
                ensure!(
                    status == StatusCode::CREATED,
                    "create of {} failed: {}",
                    pods.name(i),
                    String::from_utf8_lossy(&reply)
                );
                issued.push((i, at));
            }
            anyhow::Ok(issued)
        });
    }
    let mut issued = vec![started; count];
    while let Some(done) = tasks.join_next().await {
        for (i, at) in done?? {
            issued[i] = at;
        }
    }
    let creates_took = started.elapsed();
    eprintln!(
        "created {count} pods in {:.1} s; {} bound so far",
        creates_took.as_secs_f64(),
        seen.load(Ordering::Relaxed)
    );

    let deadline = (started + limit).into();
    let bound = match tokio::time::timeout_at(deadline, watcher.join_next()).await {
        Ok(done) => done.expect("the watch task was spawned")??,
        Err(_) => {
            let left = count - seen.load(Ordering::Relaxed);
            bail!(
                "{left} of {count} pods were not bound within {} s",
                limit.as_secs()
            );
        }
    };
    let first = issued.iter().min().copied().unwrap_or(started);
    let last = bound.iter().max().copied().unwrap_or(started);
    let latencies = issued
        .iter()
        .zip(&bound)
        .map(|(issued, bound)| bound.saturating_duration_since(*issued))
        .collect();
    Ok(Batch {
        creates_took,
        took: last.saturating_duration_since(first),
        latencies,
    })
}

/// Reads a watch of the batch's pods until every one of `count` (named `prefix` and their
/// index) has been seen with a node; returns, per pod, the instant its binding arrived.
/// `seen` counts them as they come, for the caller's progress and timeout message. A watch
/// the server ends (as it ends a watcher too far behind, like upstream's cacher) is started
/// again from the last revision seen, or, when the server says that revision is gone, from a
/// list (pods bound by then count as seen at the list).
///
/// The server shares the machine, so lines are not decoded: only the name, revision and
/// `nodeName` are looked for (see [`watch_event`]).
async fn watch_bindings(
    conn: Connection,
    mut body: hyper::body::Incoming,
    list_path: String,
    prefix: String,
    count: usize,
    seen: Arc<AtomicUsize>,
) -> Result<Vec<Instant>> {
    let mut pods = Seen {
        bound: vec![None; count],
        left: count,
        prefix,
        seen,
    };
    let mut revision = String::new();
    let mut restarts = 0;
    loop {
        let mut buffer = BytesMut::new();
        // Where the search for the next newline resumes: a line can span many frames.
        let mut scanned = 0;
        let mut gone = false;
        while pods.left > 0 && !gone {
            let Some(frame) = body.frame().await else {
                break;
            };
            let at = Instant::now();
            let Ok(data) = frame.context("the watch failed")?.into_data() else {
                continue;
            };
            buffer.extend_from_slice(&data);
            while let Some(end) = buffer[scanned..].iter().position(|b| *b == b'\n') {
                let line = buffer.split_to(scanned + end + 1);
                scanned = 0;
                match watch_event(&line) {
                    Event::Error => gone = true,
                    Event::Bound {
                        name, revision: rv, ..
                    } => {
                        revision = rv.to_owned();
                        pods.see(name, at);
                    }
                    Event::Other { revision: Some(rv) } => revision = rv.to_owned(),
                    Event::Other { revision: None } => {}
                }
            }
            scanned = buffer.len();
        }
        if pods.left == 0 {
            break;
        }
        restarts += 1;
        ensure!(
            restarts <= 10,
            "the watch ended 10 times with {} of {count} pods unbound",
            pods.left
        );
        if gone || revision.is_empty() {
            let (status, body) = conn.call(Method::GET, &list_path, None).await?;
            ensure!(
                status == StatusCode::OK,
                "list of pods failed with {status}"
            );
            let list: Value = serde_json::from_slice(&body)?;
            let at = Instant::now();
            for pod in list["items"].as_array().into_iter().flatten() {
                if pod["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty())
                {
                    pods.see(pod["metadata"]["name"].as_str().unwrap_or_default(), at);
                }
            }
            revision = list["metadata"]["resourceVersion"]
                .as_str()
                .context("the list has no resourceVersion")?
                .to_owned();
        }
        eprintln!(
            "the watch ended ({} pods unbound); watching again from {revision}",
            pods.left
        );
        body = open_watch(&conn, &list_path, &revision).await?;
    }
    Ok(pods
        .bound
        .into_iter()
        .map(|at| at.expect("all bound"))
        .collect())
}

/// Starts a watch of `list_path` from `revision`.
async fn open_watch(
    conn: &Connection,
    list_path: &str,
    revision: &str,
) -> Result<hyper::body::Incoming> {
    let path = format!("{list_path}&watch=true&resourceVersion={revision}");
    let response = conn.send(Method::GET, &path, None).await?;
    ensure!(
        response.status() == StatusCode::OK,
        "the watch failed with {}",
        response.status()
    );
    Ok(response.into_body())
}

/// When each pod of a batch was first seen bound.
struct Seen {
    bound: Vec<Option<Instant>>,
    left: usize,
    /// The batch's pod names without their index.
    prefix: String,
    /// How many are bound, for the batch's progress line.
    seen: Arc<AtomicUsize>,
}

impl Seen {
    fn see(&mut self, name: &str, at: Instant) {
        let Some(i) = name
            .strip_prefix(self.prefix.as_str())
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < self.bound.len())
        else {
            return;
        };
        if self.bound[i].is_none() {
            self.bound[i] = Some(at);
            self.left -= 1;
            self.seen.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the benchmark needs from one watch event line.
#[derive(Debug, PartialEq, Eq)]
enum Event<'a> {
    /// A pod with a non-empty `spec.nodeName`, at a resourceVersion.
    Bound {
        name: &'a str,
        node: &'a str,
        revision: &'a str,
    },
    /// An `ERROR` event (the watch ends after it).
    Error,
    /// Anything else: a pod not yet bound, a bookmark.
    Other { revision: Option<&'a str> },
}

/// Reads a watch event line without decoding it: the server writes compact JSON with the
/// object's `metadata` (its `name` and `resourceVersion` first among the fields so named)
/// before its `spec`. `"nodeName":` appears nowhere else in a pod (`nominatedNodeName` and
/// managedFields' `f:nodeName` differ by the quote). An error is a small `Status` object.
fn watch_event(line: &[u8]) -> Event<'_> {
    if line.len() < 4096
        && find(line, br#""type":"ERROR""#).is_some()
        && find(line, br#""kind":"Status""#).is_some()
    {
        return Event::Error;
    }
    let meta = find(line, br#""metadata":{"#).map(|at| &line[at..]);
    let revision = meta.and_then(|m| string_after(m, br#""resourceVersion":""#));
    let Some(node) = string_after(line, br#""nodeName":""#).filter(|n| !n.is_empty()) else {
        return Event::Other { revision };
    };
    match (meta.and_then(|m| string_after(m, br#""name":""#)), revision) {
        (Some(name), Some(revision)) => Event::Bound {
            name,
            node,
            revision,
        },
        _ => Event::Other { revision },
    }
}

/// The JSON string that starts right after `key` (which ends with its opening quote), when it
/// has no escapes (names never do).
fn string_after<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let start = find(line, key)? + key.len();
    let len = line[start..].iter().position(|b| *b == b'"')?;
    let value = &line[start..start + len];
    if value.contains(&b'\\') {
        return None;
    }
    std::str::from_utf8(value).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The collection's current resourceVersion, from a one-item list.
async fn current_revision(conn: &Connection, path: &str) -> Result<String> {
    let (status, body) = conn
        .call(Method::GET, &format!("{path}?limit=1"), None)
        .await?;
    ensure!(
        status == StatusCode::OK,
        "list of {path} failed with {status}"
    );
    let list: Value = serde_json::from_slice(&body)?;
    list["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_owned)
        .context("the list has no resourceVersion")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_name_and_node_of_a_bound_pod() {
        let line = br#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"77","name":"sched-abc-0-17","generateName":"x-","namespace":"bench-scheduler","labels":{"name":"label"},"managedFields":[{"fieldsV1":{"f:spec":{"f:nodeName":{}}}}]},"spec":{"containers":[{"name":"pause"}],"nodeName":"bench-3"},"status":{"nominatedNodeName":"bench-9"}}}"#;
        assert_eq!(
            watch_event(line),
            Event::Bound {
                name: "sched-abc-0-17",
                node: "bench-3",
                revision: "77",
            }
        );
    }

    #[test]
    fn pods_without_a_node_and_errors_are_not_bindings() {
        let added = br#"{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"pause"}]},"status":{"nominatedNodeName":"n"}}}"#;
        assert_eq!(watch_event(added), Event::Other { revision: None });
        let empty =
            br#"{"type":"MODIFIED","object":{"metadata":{"name":"p"},"spec":{"nodeName":""}}}"#;
        assert_eq!(watch_event(empty), Event::Other { revision: None });
        let error =
            br#"{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old"}}"#;
        assert_eq!(watch_event(error), Event::Error);
        // Keys in another order (a JSON map without insertion order) are still an error.
        let sorted =
            br#"{"object":{"code":410,"kind":"Status","message":"too old"},"type":"ERROR"}"#;
        assert_eq!(watch_event(sorted), Event::Error);
        let bookmark =
            br#"{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"12"}}}"#;
        assert_eq!(
            watch_event(bookmark),
            Event::Other {
                revision: Some("12")
            }
        );
    }

    #[test]
    fn counts_ready_untainted_nodes_of_the_prefix() {
        let list = json!({"items": [
            {"metadata": {"name": "bench-0"},
             "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "bench-1"},
             "status": {"conditions": [{"type": "Ready", "status": "False"}]}},
            {"metadata": {"name": "bench-2"},
             "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]},
             "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "other-0"},
             "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "bench-3"},
             "spec": {"taints": [{"key": "dedicated", "effect": "NoSchedule"}]},
             "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                       {"type": "Ready", "status": "True"}]}},
        ]});
        assert_eq!(ready_nodes(&list, "bench-"), 2);
        assert_eq!(ready_nodes(&json!({}), "bench-"), 0);
    }

    #[test]
    fn pod_names_carry_the_run_batch_and_index() {
        let pods = Pods {
            tag: "a1b2c3".into(),
            batch: 1,
        };
        assert_eq!(pods.name(42), "sched-a1b2c3-1-42");
        let body: Value = serde_json::from_slice(&pods.body(42)).unwrap();
        assert_eq!(body["metadata"]["labels"]["bench-batch"], "1");
        assert_eq!(
            body["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "100m"
        );
        assert_eq!(pods.selector(), "bench-run%3Da1b2c3%2Cbench-batch%3D1");
    }
}
