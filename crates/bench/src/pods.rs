//! `barge bench pods`: pod startup on one real node. Starts `barge server` with its agent (this
//! same binary: the control plane, the kubelet and the containerd it supervises) with unique
//! names (data dir, run dir, node name, bridge, pod CIDR), a busybox image dropped in the
//! agent's images directory beforehand (the air-gap path, so no pull is timed), then for each
//! rate creates pods at that rate (open loop: each create is issued at its instant, whatever
//! the earlier ones are doing) while one watch records when each pod is first seen bound and
//! first seen `Running`. Upstream's pod startup SLI is the same (creation → Running observed
//! by a watch, image present); its SLO is p99 ≤ 5 s.
//!
//! containerd's own log (its CRI plugin logs each call when it starts and when it returns,
//! with nanosecond wall-clock times) then splits each pod's startup into stages: scheduling,
//! the kubelet's work before RunPodSandbox, RunPodSandbox (netns, CNI, pause), the kubelet
//! between the calls (relist, image status, events), CreateContainer, StartContainer, and the
//! status write until the watch shows Running.
//!
//! Reported per rate: creation→Running p50/p90/p99/max, the stages' p50/p99, the CPU used
//! during the round by the server (the agent runs inside it), containerd, the shims (one per
//! pod, separate processes), this benchmark and the whole machine (runc and CNI plugins are
//! short-lived processes only the machine total sees), and memory with the pods running.
//! Between rates and at the end every pod is deleted and the benchmark waits until the API has
//! none, no shim or pod process of the node runs and their networks are torn down (containerd
//! runs CNI DEL after the sandbox's shim has gone).
//!
//! Root only. Everything the node made is removed on every way out (errors, Ctrl-C, SIGTERM):
//! the pods through the API, then by force; the server by SIGTERM (then SIGKILL); whatever
//! still runs in the node's pod cgroups and any process whose command line names its data or
//! run dir (containerd, shims); the bridge; the cgroup directories; the mounts; the dirs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::https::{Client, Connection, Kubeconfig, Protocol};
use crate::percentile;
use crate::report::{self, Figures, Goal, MIB, Memory, cpu_time, ms};
use crate::server::free_port;

/// The namespace the pods go into.
const NAMESPACE: &str = "bench-pods";

/// The image every pod runs, imported from a tarball when the agent starts.
const IMAGE: &str = "docker.io/library/busybox:bench";

/// The goal on this machine: p99 creation→Running at 10 pods/s.
const GOAL_P99_MS: f64 = 1_500.0;
const GOAL_RATE: f64 = 10.0;

/// Where libcni caches each attachment's result (removed by CNI DEL).
const CNI_CACHE: &str = "/var/lib/cni/results";

/// Upstream's SLO for pod startup (stateless pods, image present): p99 ≤ 5 s.
const SLO_P99_MS: f64 = 5_000.0;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the node's data goes (a temporary directory is made inside).
    pub dir: PathBuf,
    /// Pods created at each rate.
    pub pods: usize,
    /// Creation rates, pods per second, one round each.
    pub rates: Vec<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dir: std::env::temp_dir(),
            pods: 100,
            rates: vec![10.0, 50.0],
        }
    }
}

/// Runs the rounds and prints the table; the node is removed on every way out.
pub async fn run(options: Options) -> Result<()> {
    ensure!(
        is_root()?,
        "barge bench pods must run as root: it starts containerd and runs real containers \
         (a bridge, cgroups and mounts)"
    );
    ensure!(options.pods > 0, "--pods must be at least 1");
    ensure!(
        !options.rates.is_empty() && options.rates.iter().all(|r| r.is_finite() && *r > 0.0),
        "--rates must be positive numbers of pods per second"
    );
    let mut node = Node::new(&options.dir)?;
    eprintln!(
        "node {}: data in {}, run dir {}, bridge {}, cluster CIDR {}",
        node.name,
        node.root.display(),
        node.run_dir.display(),
        node.bridge,
        node.cidr
    );
    let mut figures = Figures::default();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot handle SIGTERM")?;
    let outcome = tokio::select! {
        r = workload(&mut node, &options, &mut figures) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        _ = term.recv() => Err(anyhow!("terminated")),
    };
    if outcome.is_err() {
        eprintln!("server log tail:\n{}", node.log_tail(40));
    }
    eprintln!("cleaning up node {} (up to a minute)", node.name);
    let cleaned = node.teardown().await;
    outcome?;
    cleaned?;
    let rates: Vec<String> = options.rates.iter().map(|r| rate_label(*r)).collect();
    report::print(
        &format!(
            "pod startup benchmark: one real node (barge server with its agent, containerd {}), \
             {} pods at {} (image present, deleted between rates)",
            containerd_version(),
            options.pods,
            rates.join(" then ")
        ),
        &figures,
    );
    Ok(())
}

async fn workload(node: &mut Node, o: &Options, f: &mut Figures) -> Result<()> {
    let started = Instant::now();
    node.start().await?;
    f.push(
        "node start: server up, node Ready, image imported",
        started.elapsed().as_secs_f64(),
        "s",
        None,
    );
    let first_ready = node.ready_after.unwrap_or_default();
    f.push(
        "first start → node Ready (fresh data dir)",
        first_ready.as_secs_f64(),
        "s",
        None,
    );
    // A restart with the data (and the images) in place: what a user waits for every time.
    node.stop_server().await;
    node.start().await?;
    f.push(
        "restart → node Ready (images present)",
        node.ready_after.unwrap_or_default().as_secs_f64(),
        "s",
        Some(Goal::below(2.0)),
    );
    let client = Client::new(node.kubeconfig()?)?;
    let conn = client.connect(Protocol::Http2).await?;
    prepare_namespace(&conn).await?;
    let server = node.server_pid()?;
    // Idle: the first syncs done, nothing running.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle = Memory::of(server)?;
    f.push(
        "server+agent RSS, idle",
        idle.rss as f64 / MIB,
        "MiB",
        Some(Goal::below(60.0)),
    );
    f.push(
        "  of which anonymous (heap, stacks)",
        idle.anonymous as f64 / MIB,
        "MiB",
        None,
    );
    f.push(
        "  of which file-backed (the binary's pages)",
        idle.file as f64 / MIB,
        "MiB",
        None,
    );
    f.rss("containerd RSS, idle", node.containerd_pid())?;
    for (round, &rate) in o.rates.iter().enumerate() {
        let label = rate_label(rate);
        eprintln!("round {}: {} pods at {label}", round + 1, o.pods);
        let measured = run_round(node, &client, &conn, round, rate, o.pods).await?;
        measured.report(f, o.pods, rate);
        let took = delete_all(node, &conn, Duration::from_secs(120)).await?;
        eprintln!("all pods gone after {:.1} s", took.as_secs_f64());
        f.push(
            &format!("delete {} pods ({label}): all gone", o.pods),
            took.as_secs_f64(),
            "s",
            None,
        );
    }
    let peak = Memory::of(node.server_pid()?)?.peak as f64 / MIB;
    f.push("server+agent peak RSS over the run", peak, "MiB", None);
    if let Some(pid) = node.containerd_pid() {
        let peak = Memory::of(pid)?.peak as f64 / MIB;
        f.push("containerd peak RSS over the run", peak, "MiB", None);
    }
    Ok(())
}

/// When each step of one pod's startup happened, as the benchmark saw it (the create, the
/// watch) or as containerd logged it (the CRI calls, converted to this clock).
#[derive(Clone, Copy, Debug, Default)]
struct Stamps {
    /// The create request was sent.
    issued: Option<Instant>,
    /// Its response arrived.
    answered: Option<Instant>,
    /// The pod watch first showed a `spec.nodeName`.
    bound: Option<Instant>,
    /// containerd received RunPodSandbox, and returned from it.
    sandbox_begin: Option<Instant>,
    sandbox_end: Option<Instant>,
    /// CreateContainer, received and returned.
    create_begin: Option<Instant>,
    create_end: Option<Instant>,
    /// StartContainer, received and returned.
    start_begin: Option<Instant>,
    start_end: Option<Instant>,
    /// The pod watch first showed phase `Running`.
    running: Option<Instant>,
}

type Timeline = Arc<Mutex<Vec<Stamps>>>;

fn stamp(timeline: &Timeline, i: usize, set: impl FnOnce(&mut Stamps)) {
    let mut stamps = timeline.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = stamps.get_mut(i) {
        set(s);
    }
}

/// What one round measured.
struct Round {
    stamps: Vec<Stamps>,
    /// CPU used from the first create to the last pod Running.
    cpu: Usage,
    wall: Duration,
    /// Memory with every pod running.
    server_rss: Option<f64>,
    containerd_rss: Option<f64>,
    shims: Vec<Proc>,
}

async fn run_round(
    node: &mut Node,
    client: &Client,
    conn: &Connection,
    round: usize,
    rate: f64,
    count: usize,
) -> Result<Round> {
    let pods = PodNames { round };
    let pods_path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    let timeline: Timeline = Arc::new(Mutex::new(vec![Stamps::default(); count]));

    // The watch starts from the current revision, before the first create.
    let mut watchers = JoinSet::new();
    let pod_watch = client.connect(Protocol::Http2).await?;
    let revision = current_revision(conn, &pods_path).await?;
    let response = pod_watch
        .send(
            Method::GET,
            &format!(
                "{pods_path}?watch=true&resourceVersion={revision}&labelSelector=bench-round%3D{round}"
            ),
            None,
        )
        .await?;
    ensure!(
        response.status() == StatusCode::OK,
        "the pod watch failed with {}",
        response.status()
    );
    let (t, prefix) = (timeline.clone(), pods.prefix());
    watchers.spawn(async move {
        let mut left = count;
        for_each_line(response.into_body(), |line, at| {
            let Some(seen) = pod_event(line)? else {
                return Ok(false);
            };
            let Some(i) = index(&seen.name, &prefix, count) else {
                return Ok(false);
            };
            let mut stamps = t.lock().unwrap_or_else(|e| e.into_inner());
            let s = &mut stamps[i];
            if seen.bound && s.bound.is_none() {
                s.bound = Some(at);
            }
            if seen.running && s.running.is_none() {
                s.running = Some(at);
                left -= 1;
            }
            Ok(left == 0)
        })
        .await
    });
    let clock = Clock::now();
    let before = Usage::now(node)?;
    let begin = Instant::now() + Duration::from_millis(50);
    let mut creators = JoinSet::new();
    for i in 0..count {
        let at = begin + Duration::from_secs_f64(i as f64 / rate);
        let (conn, t, path) = (conn.clone(), timeline.clone(), pods_path.clone());
        let (name, body) = (pods.name(i), pods.body(i));
        creators.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            stamp(&t, i, |s| s.issued = Some(Instant::now()));
            let (status, reply) = conn.call(Method::POST, &path, Some(body)).await?;
            ensure!(
                status == StatusCode::CREATED,
                "create of pod {name} failed ({status}): {}",
                String::from_utf8_lossy(&reply[..reply.len().min(1000)])
            );
            stamp(&t, i, |s| s.answered = Some(Instant::now()));
            anyhow::Ok(())
        });
    }
    while let Some(done) = creators.join_next().await {
        done??;
    }
    eprintln!(
        "created {count} pods in {:.1} s; {} Running so far",
        begin.elapsed().as_secs_f64(),
        running(&timeline)
    );

    // Every pod Running, or the deadline, or the watch failing, or the server dying.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        node.check_server()?;
        if let Some(done) = watchers.try_join_next() {
            done??;
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "not every pod was Running 120 s after the last create: {}",
                progress(&timeline)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = Usage::now(node)?;
    add_cri_times(&timeline, &node.containerd_log(), &pods, count, &clock);

    let stamps = timeline.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let first = stamps
        .iter()
        .filter_map(|s| s.issued)
        .min()
        .unwrap_or(begin);
    let last = stamps
        .iter()
        .filter_map(|s| s.running)
        .max()
        .unwrap_or(first);
    eprintln!(
        "all {count} pods Running {:.1} s after the first create",
        last.saturating_duration_since(first).as_secs_f64()
    );
    let rss = |pid: Option<u32>| -> Option<f64> {
        pid.and_then(|p| Memory::of(p).ok())
            .map(|m| m.rss as f64 / MIB)
    };
    Ok(Round {
        stamps,
        cpu: after.since(&before),
        wall: last.saturating_duration_since(first),
        server_rss: rss(node.server_pid().ok()),
        containerd_rss: rss(node.containerd_pid()),
        shims: node.shims(),
    })
}

impl Round {
    fn report(&self, f: &mut Figures, count: usize, rate: f64) {
        let label = rate_label(rate);
        let issued: Vec<Instant> = self.stamps.iter().filter_map(|s| s.issued).collect();
        if let (Some(first), Some(last)) = (issued.iter().min(), issued.iter().max())
            && count > 1
        {
            let span = last.saturating_duration_since(*first).as_secs_f64();
            if span > 0.0 {
                f.push(
                    &format!("creates issued, {label}"),
                    (count - 1) as f64 / span,
                    "pods/s",
                    None,
                );
            }
        }
        let mut startup = self.between(|s| s.issued, |s| s.running);
        let goal = if rate <= GOAL_RATE {
            Goal::below(GOAL_P99_MS)
        } else {
            Goal::below(SLO_P99_MS)
        };
        let name = format!("creation→Running, {label}");
        f.push(
            &format!("{name} p50"),
            ms(percentile(&mut startup, 0.5)),
            "ms",
            None,
        );
        f.push(
            &format!("{name} p90"),
            ms(percentile(&mut startup, 0.9)),
            "ms",
            None,
        );
        f.push(
            &format!("{name} p99"),
            ms(percentile(&mut startup, 0.99)),
            "ms",
            Some(goal),
        );
        f.push(
            &format!("{name} max"),
            ms(percentile(&mut startup, 1.0)),
            "ms",
            None,
        );
        type At = fn(&Stamps) -> Option<Instant>;
        let stages: [(&str, At, At); 9] = [
            ("create request", |s| s.issued, |s| s.answered),
            (
                "creation→bound seen (API, scheduler)",
                |s| s.issued,
                |s| s.bound,
            ),
            (
                "bound→RunPodSandbox (kubelet)",
                |s| s.bound,
                |s| s.sandbox_begin,
            ),
            (
                "RunPodSandbox (containerd)",
                |s| s.sandbox_begin,
                |s| s.sandbox_end,
            ),
            (
                "sandbox→CreateContainer (kubelet)",
                |s| s.sandbox_end,
                |s| s.create_begin,
            ),
            (
                "CreateContainer (containerd)",
                |s| s.create_begin,
                |s| s.create_end,
            ),
            (
                "created→StartContainer (kubelet)",
                |s| s.create_end,
                |s| s.start_begin,
            ),
            (
                "StartContainer (containerd, runc)",
                |s| s.start_begin,
                |s| s.start_end,
            ),
            (
                "started→Running seen (kubelet, API)",
                |s| s.start_end,
                |s| s.running,
            ),
        ];
        for (stage, from, to) in stages {
            let mut samples = self.between(from, to);
            if samples.is_empty() {
                continue;
            }
            let p50 = ms(percentile(&mut samples, 0.5));
            let p99 = ms(percentile(&mut samples, 0.99));
            f.push(&format!("  {stage} p50, {label}"), p50, "ms", None);
            f.push(&format!("  {stage} p99, {label}"), p99, "ms", None);
        }
        let wall = self.wall.as_secs_f64().max(1e-3);
        let cores = |d: Duration| d.as_secs_f64() / wall;
        let mut cpu = |name: &str, used: Duration| {
            f.push(&format!("{name}, {label}"), cores(used), "cores", None);
        };
        cpu("server+agent CPU", self.cpu.server);
        if let Some(c) = self.cpu.containerd {
            cpu("containerd CPU (+ CNI plugins, shim starts)", c);
        }
        let shim_cpu: Duration = self.shims.iter().map(|p| p.cpu).sum();
        cpu(
            &format!("{} shims CPU (+ their runc runs)", self.shims.len()),
            shim_cpu,
        );
        if let Some(c) = self.cpu.pods {
            cpu("pod cgroups CPU (runc init, containers)", c);
        }
        cpu("benchmark client CPU", self.cpu.client);
        cpu("machine CPU busy (all processes)", self.cpu.machine);
        // What the node spent per pod, whatever else the machine was doing.
        let node = self.cpu.server
            + self.cpu.containerd.unwrap_or_default()
            + shim_cpu
            + self.cpu.pods.unwrap_or_default();
        f.push(
            &format!("node CPU per pod started, {label}"),
            ms(node) / count as f64,
            "ms",
            None,
        );
        if let Some(rss) = self.server_rss {
            f.push(
                &format!("server+agent RSS, {count} pods running"),
                rss,
                "MiB",
                None,
            );
        }
        if let Some(rss) = self.containerd_rss {
            f.push(
                &format!("containerd RSS, {count} pods running"),
                rss,
                "MiB",
                None,
            );
        }
        let shim_pss: u64 = self.shims.iter().map(|p| p.pss).sum();
        let shim_rss: u64 = self.shims.iter().map(|p| p.rss).sum();
        f.push(
            &format!("{} shims PSS (sum), {count} pods running", self.shims.len()),
            shim_pss as f64 / MIB,
            "MiB",
            None,
        );
        f.push(
            &format!("{} shims RSS (sum), {count} pods running", self.shims.len()),
            shim_rss as f64 / MIB,
            "MiB",
            None,
        );
    }

    /// Per pod that has both, the time from one step to another.
    fn between(
        &self,
        from: impl Fn(&Stamps) -> Option<Instant>,
        to: impl Fn(&Stamps) -> Option<Instant>,
    ) -> Vec<Duration> {
        self.stamps
            .iter()
            .filter_map(|s| Some(to(s)?.saturating_duration_since(from(s)?)))
            .collect()
    }
}

fn running(timeline: &Timeline) -> usize {
    let stamps = timeline.lock().unwrap_or_else(|e| e.into_inner());
    stamps.iter().filter(|s| s.running.is_some()).count()
}

/// How far the pods got, for a timeout's message.
fn progress(timeline: &Timeline) -> String {
    let stamps = timeline.lock().unwrap_or_else(|e| e.into_inner());
    let n = |at: fn(&Stamps) -> Option<Instant>| stamps.iter().filter(|s| at(s).is_some()).count();
    format!(
        "of {} pods, {} created, {} bound, {} Running",
        stamps.len(),
        n(|s| s.answered),
        n(|s| s.bound),
        n(|s| s.running)
    )
}

/// CPU time used so far by the server, containerd (with the processes it ran and waited for:
/// CNI plugins, shim launches), the node's pod cgroups (runc's init stage, pause, the
/// containers), this process and the whole machine.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    server: Duration,
    containerd: Option<Duration>,
    /// containerd's pid, so that a restart between two readings is not taken as a delta.
    containerd_pid: Option<u32>,
    pods: Option<Duration>,
    client: Duration,
    machine: Duration,
}

impl Usage {
    fn now(node: &Node) -> Result<Self> {
        let containerd_pid = node.containerd_pid();
        let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
        Ok(Self {
            server: cpu_time(node.server_pid()?)?,
            containerd: containerd_pid.and_then(cpu_with_children),
            containerd_pid,
            pods: node.pods_cpu(),
            client: cpu_time(std::process::id())?,
            machine: machine_busy(&stat).context("no cpu line in /proc/stat")?,
        })
    }

    fn since(&self, before: &Self) -> Self {
        let same = self.containerd_pid.is_some() && self.containerd_pid == before.containerd_pid;
        let delta = |now: Option<Duration>, then: Option<Duration>| {
            now.zip(then).map(|(now, then)| now.saturating_sub(then))
        };
        Self {
            server: self.server.saturating_sub(before.server),
            containerd: delta(self.containerd, before.containerd).filter(|_| same),
            containerd_pid: self.containerd_pid,
            // The node's cgroup appears with its first pod.
            pods: delta(self.pods, before.pods.or(Some(Duration::ZERO))),
            client: self.client.saturating_sub(before.client),
            machine: self.machine.saturating_sub(before.machine),
        }
    }
}

/// A process's CPU time with that of its children it has waited for (`utime`, `stime`,
/// `cutime`, `cstime` of `/proc/<pid>/stat`).
fn cpu_with_children(pid: u32) -> Option<Duration> {
    parse_cpu_with_children(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Fields 14–17 of `/proc/<pid>/stat` text, counted after the command name's last `)`, in
/// `USER_HZ` ticks of 1/100 s.
fn parse_cpu_with_children(stat: &str) -> Option<Duration> {
    let (_, rest) = stat.rsplit_once(')')?;
    let ticks: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    (ticks.len() == 4).then(|| Duration::from_millis(ticks.iter().sum::<u64>() * 10))
}

/// A process's proportional set size (shared pages divided among their users), from
/// `/proc/<pid>/smaps_rollup`.
fn pss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Pss:"))?;
    let kib: u64 = line
        .trim_start_matches("Pss:")
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The CPU time all cores have spent busy (everything but idle and iowait) from the first
/// line of `/proc/stat`, in `USER_HZ` ticks of 1/100 s.
fn machine_busy(stat: &str) -> Option<Duration> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum::<u64>();
    (ticks.len() >= 4).then(|| Duration::from_millis(busy * 10))
}

/// The benchmark's monotonic clock and the wall clock read together, to place containerd's
/// wall-clock log times on the benchmark's timeline.
#[derive(Clone, Copy, Debug)]
struct Clock {
    instant: Instant,
    system: SystemTime,
}

impl Clock {
    fn now() -> Self {
        Self {
            instant: Instant::now(),
            system: SystemTime::now(),
        }
    }

    fn instant(&self, at: SystemTime) -> Option<Instant> {
        match at.duration_since(self.system) {
            Ok(after) => self.instant.checked_add(after),
            Err(before) => self.instant.checked_sub(before.duration()),
        }
    }
}

/// Fills the CRI steps of the round's pods from containerd's log.
fn add_cri_times(timeline: &Timeline, log: &str, pods: &PodNames, count: usize, clock: &Clock) {
    let times = cri_times(log, NAMESPACE);
    let prefix = pods.prefix();
    let mut stamps = timeline.lock().unwrap_or_else(|e| e.into_inner());
    for (name, t) in times {
        let Some(s) = index(&name, &prefix, count).and_then(|i| stamps.get_mut(i)) else {
            continue;
        };
        let at = |t: Option<SystemTime>| t.and_then(|t| clock.instant(t));
        s.sandbox_begin = at(t.sandbox_begin);
        s.sandbox_end = at(t.sandbox_end);
        s.create_begin = at(t.create_begin);
        s.create_end = at(t.create_end);
        s.start_begin = at(t.start_begin);
        s.start_end = at(t.start_end);
    }
}

/// When containerd began and finished one pod's first sandbox, and its first container's
/// create and start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct CriTimes {
    sandbox_begin: Option<SystemTime>,
    sandbox_end: Option<SystemTime>,
    create_begin: Option<SystemTime>,
    create_end: Option<SystemTime>,
    start_begin: Option<SystemTime>,
    start_end: Option<SystemTime>,
}

/// Reads containerd 1.6's CRI log lines (logrus text format, level info) for the pods of
/// `namespace`, by pod name:
///
/// ```text
/// time="…" level=info msg="RunPodSandbox for &PodSandboxMetadata{Name:p,Uid:…,Namespace:ns,Attempt:0,}"
/// time="…" level=info msg="RunPodSandbox for &PodSandboxMetadata{…} returns sandbox id \"S\""
/// time="…" level=info msg="CreateContainer within sandbox \"S\" for container &ContainerMetadata{…}"
/// time="…" level=info msg="CreateContainer within sandbox \"S\" for &ContainerMetadata{…} returns container id \"C\""
/// time="…" level=info msg="StartContainer for \"C\""
/// time="…" level=info msg="StartContainer for \"C\" returns successfully"
/// ```
fn cri_times(log: &str, namespace: &str) -> std::collections::HashMap<String, CriTimes> {
    use std::collections::HashMap;
    let mut pods: HashMap<String, CriTimes> = HashMap::new();
    let mut sandboxes: HashMap<String, String> = HashMap::new();
    let mut containers: HashMap<String, String> = HashMap::new();
    let first = |slot: &mut Option<SystemTime>, at: SystemTime| {
        slot.get_or_insert(at);
    };
    for line in log.lines() {
        let Some((at, msg)) = log_line(line) else {
            continue;
        };
        if let Some(rest) = msg.strip_prefix("RunPodSandbox for &PodSandboxMetadata{") {
            let field = |name: &str| {
                rest.split(',')
                    .find_map(|f| f.strip_prefix(name))
                    .map(str::to_owned)
            };
            let (Some(name), Some(ns)) = (field("Name:"), field("Namespace:")) else {
                continue;
            };
            if ns != namespace {
                continue;
            }
            let times = pods.entry(name.clone()).or_default();
            match quoted_after(rest, "returns sandbox id \"") {
                Some(id) => {
                    if times.sandbox_end.is_none() {
                        sandboxes.insert(id.to_owned(), name);
                    }
                    first(&mut times.sandbox_end, at);
                }
                None if rest.ends_with('}') => first(&mut times.sandbox_begin, at),
                None => {}
            }
        } else if let Some(rest) = msg.strip_prefix("CreateContainer within sandbox \"") {
            let Some((sandbox, rest)) = rest.split_once('"') else {
                continue;
            };
            let Some(name) = sandboxes.get(sandbox) else {
                continue;
            };
            let times = pods.entry(name.clone()).or_default();
            match quoted_after(rest, "returns container id \"") {
                Some(id) => {
                    if times.create_end.is_none() {
                        containers.insert(id.to_owned(), name.clone());
                    }
                    first(&mut times.create_end, at);
                }
                None if rest.starts_with(" for container ") => {
                    first(&mut times.create_begin, at);
                }
                None => {}
            }
        } else if let Some(rest) = msg.strip_prefix("StartContainer for \"") {
            let Some((id, rest)) = rest.split_once('"') else {
                continue;
            };
            let Some(name) = containers.get(id) else {
                continue;
            };
            let times = pods.entry(name.clone()).or_default();
            match rest {
                "" => first(&mut times.start_begin, at),
                " returns successfully" => first(&mut times.start_end, at),
                _ => {}
            }
        }
    }
    pods
}

/// The time and the message (its `\"` unescaped) of one logrus text line.
fn log_line(line: &str) -> Option<(SystemTime, String)> {
    let time = line.strip_prefix("time=\"")?;
    let (time, rest) = time.split_once('"')?;
    let msg = rest.split_once(" msg=\"")?.1;
    // The message ends at the first quote that is not escaped.
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some((parse_rfc3339(time)?, out)),
            c => out.push(c),
        }
    }
    None
}

/// The quoted string right after `key` (which ends with the opening quote).
fn quoted_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// An RFC 3339 time as logrus writes it (`2026-11-25T17:31:19.192306539Z`, or with an offset
/// such as `+01:00`).
fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (clock, offset) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (c, o) = time.split_at(at);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (h, m) = o[1..].split_once(':')?;
        let minutes = h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?;
        (c, sign * minutes * 60)
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut t = hms.splitn(3, ':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: i64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let nanos: u32 = format!("{:0<9}", &fraction[..fraction.len().min(9)])
        .parse()
        .ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset;
    Some(UNIX_EPOCH + Duration::new(u64::try_from(secs).ok()?, nanos))
}

/// Pod names and bodies of one round.
#[derive(Clone, Copy, Debug)]
struct PodNames {
    round: usize,
}

impl PodNames {
    fn prefix(&self) -> String {
        format!("r{}-", self.round)
    }

    fn name(&self, i: usize) -> String {
        format!("{}{i}", self.prefix())
    }

    fn body(&self, i: usize) -> Bytes {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name(i),
                "labels": {"app": "bench-pods", "bench-round": self.round.to_string()},
            },
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{
                    "name": "sleep",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", "exec sleep 3600"],
                }],
            },
        });
        Bytes::from(serde_json::to_vec(&pod).expect("a JSON value serialises"))
    }
}

/// The index of a pod of the round named `prefix` and a number below `count`.
fn index(name: &str, prefix: &str, count: usize) -> Option<usize> {
    name.strip_prefix(prefix)?
        .parse::<usize>()
        .ok()
        .filter(|i| *i < count)
}

/// What the benchmark reads from one pod watch event.
#[derive(Debug, PartialEq, Eq)]
struct PodSeen {
    name: String,
    bound: bool,
    running: bool,
}

/// A pod watch event line: the pod's name, whether it has a node and whether it is Running;
/// `None` for bookmarks; an error for an `ERROR` event or a line that is not JSON.
fn pod_event(line: &[u8]) -> Result<Option<PodSeen>> {
    let event: Value = serde_json::from_slice(line).context("a watch event that is not JSON")?;
    let object = &event["object"];
    match event["type"].as_str() {
        Some("ERROR") => bail!("the pod watch reported an error: {object}"),
        Some("ADDED" | "MODIFIED") => {}
        _ => return Ok(None),
    }
    let Some(name) = object["metadata"]["name"].as_str() else {
        return Ok(None);
    };
    Ok(Some(PodSeen {
        name: name.to_owned(),
        bound: object["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        running: object["status"]["phase"] == "Running",
    }))
}

/// Feeds each line of a watch to `f` with the instant its frame arrived, until `f` says done.
async fn for_each_line(
    mut body: hyper::body::Incoming,
    mut f: impl FnMut(&[u8], Instant) -> Result<bool>,
) -> Result<()> {
    let mut buffer = BytesMut::new();
    // Where the search for the next newline resumes: a line can span many frames.
    let mut scanned = 0;
    loop {
        let frame = body
            .frame()
            .await
            .context("the watch ended")?
            .context("the watch failed")?;
        let at = Instant::now();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer[scanned..].iter().position(|b| *b == b'\n') {
            let line = buffer.split_to(scanned + end + 1);
            scanned = 0;
            let line = line.trim_ascii();
            if !line.is_empty() && f(line, at)? {
                return Ok(());
            }
        }
        scanned = buffer.len();
    }
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

/// Creates the namespace and waits until its ServiceAccount and root CA ConfigMap exist (the
/// pods' token volume needs both; their controllers make them a moment after the namespace).
async fn prepare_namespace(conn: &Connection) -> Result<()> {
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
    let deadline = Instant::now() + Duration::from_secs(30);
    for path in [
        format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"),
        format!("/api/v1/namespaces/{NAMESPACE}/configmaps/kube-root-ca.crt"),
    ] {
        loop {
            let (status, _) = conn.call(Method::GET, &path, None).await?;
            if status == StatusCode::OK {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "{path} did not appear within 30 s ({status})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// How many pods the API has, in every namespace.
async fn pods_in_api(conn: &Connection) -> Result<Vec<(String, String)>> {
    let (status, body) = conn.call(Method::GET, "/api/v1/pods", None).await?;
    ensure!(
        status == StatusCode::OK,
        "listing pods failed with {status}"
    );
    let list: Value = serde_json::from_slice(&body).context("an invalid pod list")?;
    Ok(list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| {
                    let m = &p["metadata"];
                    Some((
                        m["namespace"].as_str()?.to_owned(),
                        m["name"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Deletes every pod of the namespace and waits until they are gone: none in the API, no
/// shim and no process in the node's pod cgroups, and no cached CNI result (containerd tears
/// a sandbox's network down after its shim has gone). After `force_after` the pods left are
/// deleted with a grace period of 0. A CNI result still cached 10 s after everything else is
/// gone is reported and left for the final clean-up.
async fn delete_pods(
    node: &mut Node,
    conn: &Connection,
    limit: Duration,
    force_after: Duration,
) -> Result<Duration> {
    let started = Instant::now();
    let (status, reply) = conn
        .call(
            Method::DELETE,
            &format!("/api/v1/namespaces/{NAMESPACE}/pods"),
            None,
        )
        .await?;
    ensure!(
        status == StatusCode::OK || status == StatusCode::NOT_FOUND,
        "deleting the pods failed ({status}): {}",
        String::from_utf8_lossy(&reply[..reply.len().min(1000)])
    );
    let mut forced = false;
    let mut stopped: Option<Instant> = None;
    loop {
        node.check_server()?;
        let left = pods_in_api(conn).await?;
        let shims = node.shims().len();
        let processes = node.cgroup_processes().len();
        let cached = node.cni_cache_files().len();
        if left.is_empty() && shims == 0 && processes == 0 {
            let since = *stopped.get_or_insert_with(Instant::now);
            if cached == 0 {
                return Ok(started.elapsed());
            }
            if since.elapsed() >= Duration::from_secs(10) {
                eprintln!(
                    "warning: {cached} CNI results of deleted pods are still cached in \
                     {CNI_CACHE} 10 s after their sandboxes stopped (no CNI DEL?)"
                );
                return Ok(started.elapsed());
            }
        }
        ensure!(
            started.elapsed() < limit,
            "{} pods still in the API, {shims} shims and {processes} pod processes running \
             {} s after the deletion",
            left.len(),
            limit.as_secs()
        );
        if !forced && started.elapsed() >= force_after {
            forced = true;
            eprintln!("forcing the deletion of {} pods", left.len());
            let body = Bytes::from_static(
                br#"{"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0}"#,
            );
            for (ns, name) in &left {
                let path = format!("/api/v1/namespaces/{ns}/pods/{name}?gracePeriodSeconds=0");
                conn.call(Method::DELETE, &path, Some(body.clone())).await?;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Between rounds: every pod deleted and gone, or an error.
async fn delete_all(node: &mut Node, conn: &Connection, limit: Duration) -> Result<Duration> {
    delete_pods(node, conn, limit, limit).await
}

/// A process of the node: its resident and proportional memory, and its CPU time with that
/// of the children it waited for.
#[derive(Clone, Copy, Debug)]
struct Proc {
    rss: u64,
    pss: u64,
    cpu: Duration,
}

/// One node: `barge server` with its agent, and everything it makes.
#[derive(Debug)]
struct Node {
    name: String,
    bridge: String,
    cidr: String,
    run_dir: PathBuf,
    /// The temporary directory: data, kubeconfig, server log.
    root: PathBuf,
    dir: Option<tempfile::TempDir>,
    port: u16,
    server: Option<std::process::Child>,
    kubeconfig: Option<Kubeconfig>,
    /// From the server's start to its node Ready (images present), at the last start.
    ready_after: Option<Duration>,
    /// The cgroup hierarchies that had a `barge` directory before the run (kept).
    barge_cgroups_before: HashSet<PathBuf>,
    cleaned: bool,
}

impl Node {
    /// Chooses unique names and makes the temporary directory; starts nothing.
    fn new(parent: &Path) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("barge-bench-pods-")
            .tempdir_in(parent)
            .with_context(|| format!("cannot make a directory in {}", parent.display()))?;
        let root = dir.path().to_owned();
        let pid = std::process::id();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let hash = fnv1a(root.as_os_str().as_encoded_bytes()) ^ u64::from(nanos);
        let hex = format!("{:06x}", hash & 0xff_ffff);
        let bridge = format!("bp{hex}");
        ensure!(
            !Path::new("/sys/class/net").join(&bridge).exists(),
            "a link named {bridge} exists already; run again"
        );
        let run_dir = PathBuf::from(format!("/run/barge-bench-{pid}-{hex}"));
        ensure!(
            !run_dir.exists(),
            "{} exists already; run again",
            run_dir.display()
        );
        let mut used = String::new();
        for args in [["-4", "-o", "addr"], ["-4", "-o", "route"]] {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .context("cannot run ip (iproute2)")?;
            used.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        let octet = free_octet(&used, hash).context("no free 10.x.0.0/16 for the pod network")?;
        let barge_cgroups_before = cgroup_hierarchies()
            .into_iter()
            .map(|h| h.join("barge"))
            .filter(|d| d.exists())
            .collect();
        Ok(Self {
            name: format!("bench-{pid}-{hex}"),
            bridge,
            cidr: format!("10.{octet}.0.0/16"),
            run_dir,
            root,
            dir: Some(dir),
            port: free_port()?,
            server: None,
            kubeconfig: None,
            ready_after: None,
            barge_cgroups_before,
            cleaned: false,
        })
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn kubeconfig_path(&self) -> PathBuf {
        self.root.join("kubeconfig")
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    fn kubeconfig(&self) -> Result<&Kubeconfig> {
        self.kubeconfig
            .as_ref()
            .context("the server has not started")
    }

    fn server_pid(&self) -> Result<u32> {
        self.server
            .as_ref()
            .map(std::process::Child::id)
            .context("the server is not running")
    }

    /// The last lines of the server's log.
    fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// An error when the server has exited.
    fn check_server(&mut self) -> Result<()> {
        if let Some(child) = &mut self.server
            && let Some(status) = child.try_wait()?
        {
            self.server = None;
            bail!("barge server exited ({status})");
        }
        Ok(())
    }

    /// Writes the image tarball, starts the server, and waits until it serves, the node is
    /// Ready and the image is imported.
    async fn start(&mut self) -> Result<()> {
        let exe = std::env::current_exe().context("cannot find the barge binary")?;
        let images = self.data_dir().join("agent").join("images");
        std::fs::create_dir_all(&images)
            .with_context(|| format!("cannot create {}", images.display()))?;
        let out = tokio::process::Command::new(&exe)
            .args(["image", "busybox", "--name", IMAGE, "-o"])
            .arg(images.join("busybox.tar"))
            .output()
            .await
            .context("cannot run barge image busybox")?;
        ensure!(
            out.status.success(),
            "barge image busybox failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );

        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("cannot create the log")?;
        let spawned = Instant::now();
        let mut child = {
            use std::os::unix::process::CommandExt;
            std::process::Command::new(&exe)
                .args(["server", "--bind-address", "127.0.0.1"])
                .args(["--https-port", &self.port.to_string()])
                .arg("--data-dir")
                .arg(self.data_dir())
                .arg("--write-kubeconfig")
                .arg(self.kubeconfig_path())
                .args(["--node-name", &self.name, "--cni-bridge", &self.bridge])
                .arg("--run-dir")
                .arg(&self.run_dir)
                .args(["--cluster-cidr", &self.cidr, "--kubelet-port", "0"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log)
                // Its own process group: a Ctrl-C in the terminal reaches the benchmark only,
                // which then deletes the pods through the server before stopping it.
                .process_group(0)
                .spawn()
                .with_context(|| format!("cannot start {} server", exe.display()))?
        };
        let stdout = child.stdout.take().context("no stdout")?;
        eprintln!("barge server: pid {}, port {}", child.id(), self.port);
        self.server = Some(child);

        // The server prints the export line once it serves (after its agent has started);
        // reading on until EOF keeps the pipe open.
        let (ready_tx, mut ready_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut ready_tx = Some(ready_tx);
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("export KUBECONFIG=")
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            self.check_server()?;
            match ready_rx.try_recv() {
                Ok(()) => break,
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    self.check_server()?;
                    bail!("barge server closed its output before it was ready");
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
            }
            ensure!(
                Instant::now() < deadline,
                "barge server was not ready within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kubeconfig = Some(Kubeconfig::read(&self.kubeconfig_path())?);

        let client = Client::new(self.kubeconfig()?)?;
        let conn = client.connect(Protocol::Http2).await?;
        let path = format!("/api/v1/nodes/{}", self.name);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            self.check_server()?;
            let (status, body) = conn.call(Method::GET, &path, None).await?;
            if status == StatusCode::OK && node_ready(&serde_json::from_slice(&body)?) {
                self.ready_after = Some(spawned.elapsed());
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "node {} was not Ready within 120 s",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.check_server()?;
            let out = tokio::process::Command::new(&exe)
                .args(["image", "ls", "--data-dir"])
                .arg(self.data_dir())
                .arg("--run-dir")
                .arg(&self.run_dir)
                .output()
                .await
                .context("cannot run barge image ls")?;
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.split_whitespace().next() == Some(IMAGE))
            {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "{IMAGE} was not imported within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// containerd's log so far (empty when it cannot be read).
    fn containerd_log(&self) -> String {
        let path = self.data_dir().join("agent/containerd/containerd.log");
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// containerd serving this node (by the `--config` under the data dir).
    fn containerd_pid(&self) -> Option<u32> {
        let data = self.data_dir();
        processes().into_iter().find_map(|(pid, args)| {
            let binary = args.first().map(|a| Path::new(a).file_name())?;
            (binary == Some("containerd".as_ref())
                && args
                    .windows(2)
                    .any(|w| w[0] == "--config" && mentions(&w[1], &data)))
            .then_some(pid)
        })
    }

    /// The shims of this node's pods (by the containerd socket under the run dir).
    fn shims(&self) -> Vec<Proc> {
        processes()
            .into_iter()
            .filter(|(_, args)| {
                args.first()
                    .and_then(|a| Path::new(a).file_name())
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("containerd-shim"))
                    && args.iter().any(|a| mentions(a, &self.run_dir))
            })
            .filter_map(|(pid, _)| {
                Some(Proc {
                    rss: Memory::of(pid).ok()?.rss,
                    pss: pss(pid)?,
                    cpu: cpu_with_children(pid)?,
                })
            })
            .collect()
    }

    /// The CPU time of everything that ran in the node's pod cgroups (`cpuacct.usage` of
    /// `/barge/<node>`, which keeps what its removed children used).
    fn pods_cpu(&self) -> Option<Duration> {
        let path = Path::new("/sys/fs/cgroup/cpuacct/barge")
            .join(&self.name)
            .join("cpuacct.usage");
        let nanos: u64 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
        Some(Duration::from_nanos(nanos))
    }

    /// libcni's cached results (in a directory every containerd of the machine shares) that
    /// name a network namespace under this node's run dir.
    fn cni_cache_files(&self) -> Vec<PathBuf> {
        let netns = format!("{}/", self.run_dir.display());
        std::fs::read_dir(CNI_CACHE)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| std::fs::read_to_string(p).is_ok_and(|text| text.contains(&netns)))
            .collect()
    }

    /// Removes everything: pods through the API (while the server runs), the server by
    /// SIGTERM, then by force whatever is left; an error names what could not be removed.
    /// Stops the server with SIGTERM (containers keep running), killing it after 30 s.
    async fn stop_server(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if matches!(child.try_wait(), Ok(None)) {
                eprintln!("barge server did not stop within 30 s of SIGTERM: killing it");
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    async fn teardown(&mut self) -> Result<()> {
        if self.check_server().is_ok() && self.server.is_some() && self.kubeconfig.is_some() {
            let deleted = async {
                let client = Client::new(self.kubeconfig()?)?;
                let conn = client.connect(Protocol::Http2).await?;
                delete_pods(
                    self,
                    &conn,
                    Duration::from_secs(45),
                    Duration::from_secs(15),
                )
                .await
            };
            if let Err(e) = deleted.await {
                eprintln!("deleting the pods through the API: {e:#} (removing them by force)");
            }
        }
        self.stop_server().await;
        self.force_clean();
        let left = self.leftovers();
        ensure!(
            left.is_empty(),
            "node {} left behind: {}",
            self.name,
            left.join("; ")
        );
        Ok(())
    }

    /// Kills and removes whatever the node left; safe to call more than once.
    fn force_clean(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let roots = [self.root.clone(), self.run_dir.clone()];
        for _ in 0..5 {
            let mut pids: Vec<u32> = self.cgroup_processes();
            pids.extend(
                processes()
                    .into_iter()
                    .filter(|(pid, args)| {
                        *pid != std::process::id()
                            && args.iter().any(|a| roots.iter().any(|r| mentions(a, r)))
                    })
                    .map(|(pid, _)| pid),
            );
            pids.sort_unstable();
            pids.dedup();
            if pids.is_empty() {
                break;
            }
            eprintln!("killing {} processes the node left", pids.len());
            for pid in pids {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &self.bridge])
                .status();
        }
        for m in mounts_under(&roots) {
            let _ = std::process::Command::new("umount")
                .args(["-l"])
                .arg(&m)
                .status();
        }
        for h in cgroup_hierarchies() {
            let barge = h.join("barge");
            remove_empty_dirs(&barge.join(&self.name));
            if !self.barge_cgroups_before.contains(&barge) {
                let _ = std::fs::remove_dir(&barge);
            }
        }
        for file in self.cni_cache_files() {
            let _ = std::fs::remove_file(file);
        }
        let _ = std::fs::remove_dir_all(&self.run_dir);
        if let Some(dir) = self.dir.take()
            && let Err(e) = dir.close()
        {
            eprintln!("removing {}: {e}", self.root.display());
            let _ = std::fs::remove_dir_all(&self.root);
        }
        self.cleaned = true;
    }

    /// What of the node is still there.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        let roots = [self.root.clone(), self.run_dir.clone()];
        let procs: Vec<String> = processes()
            .into_iter()
            .filter(|(_, args)| args.iter().any(|a| roots.iter().any(|r| mentions(a, r))))
            .map(|(pid, args)| format!("{pid} {}", args.join(" ")))
            .collect();
        if !procs.is_empty() {
            left.push(format!("processes {}", procs.join(", ")));
        }
        let in_cgroups = self.cgroup_processes();
        if !in_cgroups.is_empty() {
            left.push(format!("processes in its cgroups {in_cgroups:?}"));
        }
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            left.push(format!("link {}", self.bridge));
        }
        for m in mounts_under(&roots) {
            left.push(format!("mount {}", m.display()));
        }
        for h in cgroup_hierarchies() {
            let d = h.join("barge").join(&self.name);
            if d.exists() {
                left.push(format!("cgroup {}", d.display()));
            }
        }
        for file in self.cni_cache_files() {
            left.push(format!("CNI cache {}", file.display()));
        }
        for d in &roots {
            if d.exists() {
                left.push(format!("directory {}", d.display()));
            }
        }
        left
    }

    /// The processes in the node's pod cgroups, in every hierarchy.
    fn cgroup_processes(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for h in cgroup_hierarchies() {
            let mut stack = vec![h.join("barge").join(&self.name)];
            while let Some(dir) = stack.pop() {
                if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                    pids.extend(
                        procs
                            .split_whitespace()
                            .filter_map(|p| p.parse::<u32>().ok()),
                    );
                }
                for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(e.path());
                    }
                }
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}

impl Drop for Node {
    /// The last resort (a panic, or a future dropped before [`Node::teardown`]): everything
    /// by force.
    fn drop(&mut self) {
        if !self.cleaned {
            self.force_clean();
        }
    }
}

/// Whether the node JSON has Ready=True and no not-ready or unreachable taint.
fn node_ready(node: &Value) -> bool {
    let ready = node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    let tainted = node["spec"]["taints"].as_array().is_some_and(|ts| {
        ts.iter().any(|t| {
            t["key"] == "node.kubernetes.io/not-ready"
                || t["key"] == "node.kubernetes.io/unreachable"
        })
    });
    ready && !tainted
}

/// Whether the effective user is root.
fn is_root() -> Result<bool> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    Ok(status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0"))
}

/// The containerd on PATH's version, for the title.
fn containerd_version() -> String {
    std::process::Command::new("containerd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(2)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// "10/s", "2.5/s".
fn rate_label(rate: f64) -> String {
    if rate.fract() == 0.0 {
        format!("{rate:.0}/s")
    } else {
        format!("{rate}/s")
    }
}

/// A second octet for a 10.x.0.0/16 pod network that no address or route of the machine
/// (as `ip -4 -o addr` and `ip -4 -o route` print them) uses, among 100–249, starting from a
/// place `seed` picks so that concurrent runs spread.
fn free_octet(ip_output: &str, seed: u64) -> Option<u8> {
    let used: HashSet<u8> = ip_output
        .split(|c: char| c.is_whitespace())
        .filter_map(|word| {
            let mut parts = word.strip_prefix("10.")?.split(['.', '/']);
            parts.next()?.parse::<u8>().ok()
        })
        .collect();
    (0..150u64)
        .map(|k| 100 + ((seed + k) % 150) as u8)
        .find(|o| !used.contains(o))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Whether a command-line argument names `path` or something under it (`path` followed by
/// the end, a `/` or any character that cannot continue a file name there).
fn mentions(arg: &str, path: &Path) -> bool {
    let Some(path) = path.to_str() else {
        return false;
    };
    arg.match_indices(path).any(|(at, _)| {
        let after = arg[at + path.len()..].chars().next();
        matches!(after, None | Some('/' | '"' | ',' | ' ' | '='))
    })
}

/// Every process's pid and arguments (kernel threads, with none, are left out).
fn processes() -> Vec<(u32, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (!args.is_empty()).then_some((pid, args))
        })
        .collect()
}

/// The cgroup v1 hierarchies (and the unified one) mounted under `/sys/fs/cgroup`.
fn cgroup_hierarchies() -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

fn remove_empty_dirs(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// The mount points at or under any of `roots`, deepest first.
fn mounts_under(roots: &[PathBuf]) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut found: Vec<PathBuf> = mount_points(&text)
        .into_iter()
        .filter(|m| roots.iter().any(|r| m.starts_with(r)))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    found.dedup();
    found
}

/// The mount points of `/proc/self/mounts` text, with its octal escapes (`\040` for a space)
/// decoded.
fn mount_points(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| l.split(' ').nth(1))
        .map(|m| PathBuf::from(unescape_octal(m)))
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if bytes[i] == b'\\'
            && let Some(d) = digits
        {
            let value = d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0'));
            out.push(value as u8);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pods_from_watch_lines() {
        let bound = br#"{"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"r0-7"},"spec":{"nodeName":"bench-1"},"status":{"phase":"Pending"}}}"#;
        assert_eq!(
            pod_event(bound).unwrap(),
            Some(PodSeen {
                name: "r0-7".into(),
                bound: true,
                running: false
            })
        );
        let running = br#"{"type":"MODIFIED","object":{"metadata":{"name":"r1-0"},"spec":{"nodeName":"n"},"status":{"phase":"Running"}}}"#;
        assert!(pod_event(running).unwrap().unwrap().running);
        let added = br#"{"type":"ADDED","object":{"metadata":{"name":"r1-0"},"spec":{}}}"#;
        assert!(!pod_event(added).unwrap().unwrap().bound);
        let bookmark = br#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}"#;
        assert_eq!(pod_event(bookmark).unwrap(), None);
        let error = br#"{"type":"ERROR","object":{"kind":"Status","code":410}}"#;
        assert!(pod_event(error).is_err());
        assert!(pod_event(b"not json").is_err());
    }

    #[test]
    fn reads_cri_calls_from_the_containerd_log() {
        let log = r#"time="2026-11-25T17:31:19.192306539Z" level=info msg="RunPodSandbox for &PodSandboxMetadata{Name:r0-1,Uid:81e3,Namespace:bench-pods,Attempt:0,}"
time="2026-11-25T17:31:19.194726020Z" level=info msg="RunPodSandbox for &PodSandboxMetadata{Name:web-1,Uid:a41f,Namespace:default,Attempt:0,}"
time="2026-11-25T17:31:19.369872613Z" level=info msg="RunPodSandbox for &PodSandboxMetadata{Name:r0-1,Uid:81e3,Namespace:bench-pods,Attempt:0,} returns sandbox id \"31b1\""
time="2026-11-25T17:31:19.374214532Z" level=info msg="RunPodSandbox for &PodSandboxMetadata{Name:web-1,Uid:a41f,Namespace:default,Attempt:0,} returns sandbox id \"331e\""
time="2026-11-25T17:31:19.388885956Z" level=info msg="CreateContainer within sandbox \"31b1\" for container &ContainerMetadata{Name:sleep,Attempt:0,}"
time="2026-11-25T17:31:19.389513163Z" level=info msg="CreateContainer within sandbox \"331e\" for container &ContainerMetadata{Name:busybox,Attempt:0,}"
time="2026-11-25T17:31:19.403469906Z" level=info msg="CreateContainer within sandbox \"31b1\" for &ContainerMetadata{Name:sleep,Attempt:0,} returns container id \"e93d\""
time="2026-11-25T17:31:19.404000000Z" level=info msg="StartContainer for \"e93d\""
time="2026-11-25T17:31:19.5Z" level=info msg="StartContainer for \"e93d\" returns successfully"
time="2026-11-25T17:31:20.5Z" level=error msg="StartContainer for \"e93d\" failed" error="x"
not a log line
"#;
        let times = cri_times(log, "bench-pods");
        assert_eq!(times.len(), 1);
        let t = times["r0-1"];
        let at = |text: &str| parse_rfc3339(text).unwrap();
        assert_eq!(t.sandbox_begin, Some(at("2026-11-25T17:31:19.192306539Z")));
        assert_eq!(t.sandbox_end, Some(at("2026-11-25T17:31:19.369872613Z")));
        assert_eq!(t.create_begin, Some(at("2026-11-25T17:31:19.388885956Z")));
        assert_eq!(t.create_end, Some(at("2026-11-25T17:31:19.403469906Z")));
        assert_eq!(t.start_begin, Some(at("2026-11-25T17:31:19.404Z")));
        assert_eq!(t.start_end, Some(at("2026-11-25T17:31:19.500Z")));
    }

    #[test]
    fn parses_logrus_times() {
        let t = parse_rfc3339("2026-11-25T17:31:19.192306539Z").unwrap();
        let since = t.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(since, Duration::new(1_795_627_879, 192_306_539));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(UNIX_EPOCH));
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00.5Z").map(|t| t.duration_since(UNIX_EPOCH).unwrap()),
            Some(Duration::new(951_868_800, 500_000_000))
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        let (at, msg) =
            log_line(r#"time="1970-01-01T00:00:01Z" level=info msg="a \"b\" c" x=1"#).unwrap();
        assert_eq!(at, UNIX_EPOCH + Duration::from_secs(1));
        assert_eq!(msg, r#"a "b" c"#);
    }

    #[test]
    fn places_wall_clock_times_on_the_monotonic_clock() {
        let clock = Clock::now();
        let later = clock.system + Duration::from_millis(250);
        assert_eq!(
            clock.instant(later),
            Some(clock.instant + Duration::from_millis(250))
        );
        let earlier = clock.system - Duration::from_millis(10);
        assert_eq!(
            clock.instant(earlier),
            clock.instant.checked_sub(Duration::from_millis(10))
        );
    }

    #[test]
    fn pod_indexes_belong_to_the_round() {
        let pods = PodNames { round: 1 };
        assert_eq!(pods.name(42), "r1-42");
        assert_eq!(index("r1-42", &pods.prefix(), 100), Some(42));
        assert_eq!(index("r1-100", &pods.prefix(), 100), None);
        assert_eq!(index("r0-42", &pods.prefix(), 100), None);
        assert_eq!(index("r11-4", &pods.prefix(), 100), None);
        let body: Value = serde_json::from_slice(&pods.body(3)).unwrap();
        assert_eq!(body["metadata"]["labels"]["bench-round"], "1");
        assert_eq!(body["spec"]["terminationGracePeriodSeconds"], 0);
        let c = &body["spec"]["containers"][0];
        assert_eq!(c["image"], IMAGE);
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["command"], json!(["sh", "-c", "exec sleep 3600"]));
    }

    #[test]
    fn nodes_are_ready_without_not_ready_taints() {
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(node_ready(&ready));
        let mut tainted = ready.clone();
        tainted["spec"] = json!({"taints": [{"key": "node.kubernetes.io/not-ready"}]});
        assert!(!node_ready(&tainted));
        assert!(!node_ready(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
        ));
        assert!(!node_ready(&json!({})));
    }

    #[test]
    fn picks_a_pod_network_nobody_uses() {
        let ip = "2: eth0    inet 10.100.0.5/24 brd 10.100.0.255 scope global eth0\n\
                  10.101.0.0/16 dev bp1 proto kernel scope link src 10.101.0.1\n\
                  default via 192.0.2.1 dev eth0\n";
        assert_eq!(free_octet(ip, 0), Some(102));
        assert_eq!(free_octet(ip, 149), Some(249));
        assert_eq!(free_octet("", 3), Some(103));
    }

    #[test]
    fn matches_paths_in_arguments_exactly() {
        let run = Path::new("/run/barge-bench-1-abcdef");
        assert!(mentions(
            "/run/barge-bench-1-abcdef/containerd/containerd.sock",
            run
        ));
        assert!(mentions("/run/barge-bench-1-abcdef", run));
        assert!(mentions("--state=/run/barge-bench-1-abcdef", run));
        assert!(!mentions("/run/barge-bench-1-abcdef0/containerd.sock", run));
        assert!(!mentions("/run/barge", run));
    }

    #[test]
    fn decodes_mount_points() {
        let text = "overlay /tmp/a\\040b/rootfs overlay rw 0 0\nproc /proc proc rw 0 0\n";
        assert_eq!(
            mount_points(text),
            vec![PathBuf::from("/tmp/a b/rootfs"), PathBuf::from("/proc")]
        );
        assert_eq!(unescape_octal("x\\134y\\"), "x\\y\\");
    }

    #[test]
    fn machine_cpu_counts_busy_ticks() {
        let stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(machine_busy(stat), Some(Duration::from_millis(161 * 10)));
        assert_eq!(machine_busy("intr 1 2"), None);
    }

    #[test]
    fn cpu_time_counts_waited_children() {
        let stat = "42 (containerd-shim) S 1 42 42 0 -1 0 0 0 0 0 250 75 30 5 20 0 3 0 1 2 3\n";
        assert_eq!(
            parse_cpu_with_children(stat),
            Some(Duration::from_millis(360 * 10))
        );
        assert_eq!(parse_cpu_with_children("42 (x) S 1 2"), None);
        assert!(cpu_with_children(std::process::id()).is_some());
        assert!(pss(std::process::id()).is_some_and(|p| p > 0));
    }

    #[test]
    fn labels_rates() {
        assert_eq!(rate_label(10.0), "10/s");
        assert_eq!(rate_label(2.5), "2.5/s");
    }
}
