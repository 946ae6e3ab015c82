//! The scheduling loop: informer changes go into the [`Cluster`] view and the
//! [`SchedulingQueue`]; pods are popped one at a time and run through the profile; a chosen
//! node is assumed at once and bound in a spawned task (at most `bind_concurrency` at a time);
//! a pod that fits nowhere gets the `PodScheduled=False` condition (reason `Unschedulable`)
//! and a `FailedScheduling` event, and waits in the queue.
//!
//! Only pods with `schedulerName` `default-scheduler` (or none), no node, no scheduling gates
//! and no deletion timestamp are scheduled. Succeeded and Failed pods are not counted on their
//! nodes, as upstream's cache leaves them out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use barge_client::events::{Recorder, Type};
use barge_client::informer::Subscription;
use barge_client::{Change, Informer, KubeWriter, Writer, WriterExt};
use futures_util::FutureExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ReplicationController, Service};
use kube::Api;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};

use crate::binder::{Bind, KubeBinder};
use crate::framework::{NO_NODES_AVAILABLE, Outcome, Profile, ProfileConfig, Rng};
use crate::plugins::{self, DEFAULT_SCHEDULER_NAME};
use crate::podinfo::{PodInfo, pod_key};
use crate::queue::{Queued, SchedulingQueue, Timing};
use crate::selector::{Labels, Selector, node_labels};
use crate::snapshot::Cluster;

/// How the scheduler runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The profile (plugins, weights, scheduler name, sample size).
    pub profile: ProfileConfig,
    /// How many bindings may be in flight at once.
    pub bind_concurrency: usize,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How long an unschedulable pod waits for a cluster change before it is retried anyway.
    pub max_unschedulable: Duration,
}

impl Default for Options {
    fn default() -> Self {
        let timing = Timing::default();
        Self {
            profile: plugins::default_profile(),
            bind_concurrency: 64,
            initial_backoff: timing.initial_backoff,
            max_backoff: timing.max_backoff,
            max_unschedulable: timing.max_unschedulable,
        }
    }
}

/// The component name on events and writes.
pub const COMPONENT: &str = "default-scheduler";

/// Runs the scheduler until an informer stops (the caller's leader election cancels it by
/// dropping the future).
pub async fn run(client: kube::Client, options: Options) -> anyhow::Result<()> {
    run_with(Informers::start(&client), client, options).await
}

/// [`run`] on informers the caller shares with others (`barge server` hands over the controller
/// manager's, so that each change is decoded once in the process).
pub async fn run_with(
    informers: Informers,
    client: kube::Client,
    options: Options,
) -> anyhow::Result<()> {
    let writer: Arc<dyn Writer> = Arc::new(KubeWriter::new(client.clone(), COMPONENT));
    let binder: Arc<dyn Bind> = Arc::new(KubeBinder::new(client));
    let mut subs = informers.subscribe();
    informers.synced().await;
    tracing::info!(
        nodes = informers.nodes.cache().len(),
        pods = informers.pods.cache().len(),
        "scheduler caches synced"
    );
    let mut s = Scheduler::new(options, writer, binder)?;
    s.resync_all(&informers);
    s.run(&informers, &mut subs).await;
    Ok(())
}

/// The informers the scheduler watches.
#[derive(Clone, Debug)]
pub struct Informers {
    pub pods: Informer<Pod>,
    pub nodes: Informer<Node>,
    pub namespaces: Informer<Namespace>,
    pub services: Informer<Service>,
    pub replica_sets: Informer<ReplicaSet>,
    pub stateful_sets: Informer<StatefulSet>,
    pub replication_controllers: Informer<ReplicationController>,
}

/// Subscriptions to the informers' changes.
#[derive(Debug)]
pub struct Subscriptions {
    pods: Subscription<Pod>,
    nodes: Subscription<Node>,
    namespaces: Subscription<Namespace>,
    services: Subscription<Service>,
    replica_sets: Subscription<ReplicaSet>,
    stateful_sets: Subscription<StatefulSet>,
    replication_controllers: Subscription<ReplicationController>,
}

impl Informers {
    pub fn start(client: &kube::Client) -> Self {
        Self {
            pods: Informer::start(Api::all(client.clone())),
            nodes: Informer::start(Api::all(client.clone())),
            namespaces: Informer::start(Api::all(client.clone())),
            services: Informer::start(Api::all(client.clone())),
            replica_sets: Informer::start(Api::all(client.clone())),
            stateful_sets: Informer::start(Api::all(client.clone())),
            replication_controllers: Informer::start(Api::all(client.clone())),
        }
    }

    /// Informers filled with objects and no watch behind them (tests, benchmarks).
    pub fn seeded(nodes: Vec<Node>, pods: Vec<Pod>) -> Self {
        Self {
            pods: Informer::seeded(pods),
            nodes: Informer::seeded(nodes),
            namespaces: Informer::seeded([]),
            services: Informer::seeded([]),
            replica_sets: Informer::seeded([]),
            stateful_sets: Informer::seeded([]),
            replication_controllers: Informer::seeded([]),
        }
    }

    pub fn subscribe(&self) -> Subscriptions {
        Subscriptions {
            pods: self.pods.subscribe(),
            nodes: self.nodes.subscribe(),
            namespaces: self.namespaces.subscribe(),
            services: self.services.subscribe(),
            replica_sets: self.replica_sets.subscribe(),
            stateful_sets: self.stateful_sets.subscribe(),
            replication_controllers: self.replication_controllers.subscribe(),
        }
    }

    pub async fn synced(&self) {
        self.pods.synced().await;
        self.nodes.synced().await;
        self.namespaces.synced().await;
        self.services.synced().await;
        self.replica_sets.synced().await;
        self.stateful_sets.synced().await;
        self.replication_controllers.synced().await;
    }
}

/// What a binding task reports back.
#[derive(Debug)]
struct Bound {
    pod: Arc<PodInfo>,
    node: String,
    attempts: u32,
    result: Result<(), String>,
}

/// The scheduler's state and its outputs.
pub struct Scheduler {
    profile: Profile,
    pub cluster: Cluster,
    pub queue: SchedulingQueue,
    writer: Arc<dyn Writer>,
    recorder: Recorder,
    binder: Arc<dyn Bind>,
    binds: Arc<Semaphore>,
    writes: Arc<Semaphore>,
    bound_tx: mpsc::UnboundedSender<Bound>,
    bound_rx: mpsc::UnboundedReceiver<Bound>,
    binds_in_flight: usize,
    next_start: usize,
    rng: Rng,
    /// Pods scheduled (bound successfully) and failed cycles, for logs and tests.
    pub scheduled: u64,
    pub failed: u64,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("profile", &self.profile)
            .field("queue", &self.queue.counts())
            .finish_non_exhaustive()
    }
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn assigned(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

/// Upstream's `PodScheduled` condition reason for a failure other than "does not fit".
const REASON_SCHEDULER_ERROR: &str = "SchedulerError";
const REASON_UNSCHEDULABLE: &str = "Unschedulable";

impl Scheduler {
    pub fn new(
        options: Options,
        writer: Arc<dyn Writer>,
        binder: Arc<dyn Bind>,
    ) -> anyhow::Result<Self> {
        let profile = Profile::new(&options.profile, &plugins::registry())
            .map_err(|e| anyhow::anyhow!("invalid scheduler profile: {e}"))?;
        let (bound_tx, bound_rx) = mpsc::unbounded_channel();
        let queue = SchedulingQueue::new(Timing {
            initial_backoff: options.initial_backoff,
            max_backoff: options.max_backoff,
            max_unschedulable: options.max_unschedulable,
        });
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(42);
        Ok(Self {
            binds: Arc::new(Semaphore::new(options.bind_concurrency.max(1))),
            writes: Arc::new(Semaphore::new(options.bind_concurrency.max(1))),
            recorder: Recorder::new(writer.clone(), COMPONENT),
            profile,
            cluster: Cluster::new(),
            queue,
            writer,
            binder,
            bound_tx,
            bound_rx,
            binds_in_flight: 0,
            next_start: 0,
            rng: Rng::new(seed),
            scheduled: 0,
            failed: 0,
        })
    }

    fn responsible(&self, pod: &Pod) -> bool {
        let Some(spec) = pod.spec.as_ref() else {
            return false;
        };
        let name = spec.scheduler_name.as_deref().unwrap_or("");
        (name.is_empty()
            || name == self.profile.scheduler_name
            || name == DEFAULT_SCHEDULER_NAME && self.profile.scheduler_name.is_empty())
            && !assigned(pod)
            && pod.metadata.deletion_timestamp.is_none()
            && spec.scheduling_gates.as_ref().is_none_or(|g| g.is_empty())
    }

    /// Applies one pod change.
    pub fn on_pod(&mut self, pod: Arc<Pod>, now: Instant) {
        let key = pod_key(&pod);
        if is_terminal(&pod) {
            self.queue.delete(&key);
            if self.cluster.remove_pod(&key).is_some() {
                self.queue.move_all_to_active_or_backoff(now);
            }
            return;
        }
        if assigned(&pod) {
            self.queue.delete(&key);
            let was_assumed = self.cluster.is_assumed(&key);
            let labels_changed = self
                .cluster
                .pod(&key)
                .is_none_or(|old| old.pod.metadata.labels != pod.metadata.labels);
            self.cluster.set_pod(Arc::new(PodInfo::new(pod)));
            if !was_assumed && labels_changed {
                self.queue.move_all_to_active_or_backoff(now);
            }
            return;
        }
        if self.cluster.is_assumed(&key) {
            return; // an older, unbound version while our binding is in flight
        }
        if self.responsible(&pod) {
            self.queue.add_or_update(Arc::new(PodInfo::new(pod)), now);
        } else {
            self.queue.delete(&key);
        }
    }

    pub fn on_pod_deleted(&mut self, pod: &Pod, now: Instant) {
        let key = pod_key(pod);
        self.queue.delete(&key);
        if self.cluster.remove_pod(&key).is_some() {
            self.queue.move_all_to_active_or_backoff(now);
        }
    }

    pub fn on_node(&mut self, old: Option<&Node>, node: Arc<Node>, now: Instant) {
        let relevant = match old {
            None => true,
            Some(old) => {
                let spec = |n: &Node| n.spec.as_ref().map(|s| (s.taints.clone(), s.unschedulable));
                let alloc = |n: &Node| n.status.as_ref().and_then(|s| s.allocatable.clone());
                node_labels(old) != node_labels(&node)
                    || spec(old) != spec(&node)
                    || alloc(old) != alloc(&node)
            }
        };
        self.cluster.set_node(node);
        if relevant {
            self.queue.move_all_to_active_or_backoff(now);
        }
    }

    fn resync_pods(&mut self, informer: &Informer<Pod>, now: Instant) {
        let pods = informer.cache().list();
        let present: std::collections::HashSet<String> = pods.iter().map(|p| pod_key(p)).collect();
        for key in self.cluster.pod_keys() {
            if !present.contains(&key) && !self.cluster.is_assumed(&key) {
                self.cluster.remove_pod(&key);
            }
        }
        for key in self.queue.keys() {
            if !present.contains(&key) {
                self.queue.delete(&key);
            }
        }
        for p in pods {
            self.on_pod(p, now);
        }
        self.queue.move_all_to_active_or_backoff(now);
    }

    fn resync_nodes(&mut self, informer: &Informer<Node>, now: Instant) {
        let nodes = informer.cache().list();
        let present: std::collections::HashSet<String> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        for name in self.cluster.node_names() {
            if !present.contains(&name) {
                self.cluster.remove_node(&name);
            }
        }
        for n in nodes {
            self.cluster.set_node(n);
        }
        self.queue.move_all_to_active_or_backoff(now);
    }

    fn on_namespace(&mut self, ns: &Namespace, deleted: bool) {
        let name = ns.metadata.name.clone().unwrap_or_default();
        if deleted {
            self.cluster.remove_namespace(&name);
        } else {
            self.cluster
                .set_namespace(&name, ns.metadata.labels.clone().unwrap_or_default());
        }
    }

    fn on_service(&mut self, s: &Service, deleted: bool) {
        let ns = s.metadata.namespace.clone().unwrap_or_default();
        let name = s.metadata.name.clone().unwrap_or_default();
        let services = self.cluster.owners.services.entry(ns).or_default();
        match s.spec.as_ref().and_then(|s| s.selector.clone()) {
            Some(sel) if !deleted && !sel.is_empty() => {
                services.insert(name, sel);
            }
            _ => {
                services.remove(&name);
            }
        }
    }

    fn key_of(meta: &kube::api::ObjectMeta) -> (String, String) {
        (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        )
    }

    fn on_replica_set(&mut self, rs: &ReplicaSet, deleted: bool) {
        let key = Self::key_of(&rs.metadata);
        if deleted {
            self.cluster.owners.replica_sets.remove(&key);
        } else {
            let sel = Selector::from_label_selector(rs.spec.as_ref().map(|s| &s.selector));
            self.cluster.owners.replica_sets.insert(key, sel);
        }
    }

    fn on_stateful_set(&mut self, ss: &StatefulSet, deleted: bool) {
        let key = Self::key_of(&ss.metadata);
        if deleted {
            self.cluster.owners.stateful_sets.remove(&key);
        } else {
            let sel = Selector::from_label_selector(ss.spec.as_ref().map(|s| &s.selector));
            self.cluster.owners.stateful_sets.insert(key, sel);
        }
    }

    fn on_replication_controller(&mut self, rc: &ReplicationController, deleted: bool) {
        let key = Self::key_of(&rc.metadata);
        let sel: Option<Labels> = rc.spec.as_ref().and_then(|s| s.selector.clone());
        match sel {
            Some(sel) if !deleted => {
                self.cluster.owners.replication_controllers.insert(key, sel);
            }
            _ => {
                self.cluster.owners.replication_controllers.remove(&key);
            }
        }
    }

    /// Loads everything from the informers' caches (at start, and after a missed change).
    pub fn resync_all(&mut self, informers: &Informers) {
        let now = Instant::now();
        for ns in informers.namespaces.cache().list() {
            self.on_namespace(&ns, false);
        }
        for s in informers.services.cache().list() {
            self.on_service(&s, false);
        }
        for rs in informers.replica_sets.cache().list() {
            self.on_replica_set(&rs, false);
        }
        for ss in informers.stateful_sets.cache().list() {
            self.on_stateful_set(&ss, false);
        }
        for rc in informers.replication_controllers.cache().list() {
            self.on_replication_controller(&rc, false);
        }
        self.resync_nodes(&informers.nodes, now);
        self.resync_pods(&informers.pods, now);
    }

    /// Applies every change already waiting, without blocking. Returns how many there were.
    pub fn drain(&mut self, informers: &Informers, subs: &mut Subscriptions) -> usize {
        let now = Instant::now();
        let mut n = 0;
        while let Some(Some(c)) = subs.nodes.next().now_or_never() {
            n += 1;
            match c {
                Change::Applied { old, new } => self.on_node(old.as_deref(), new, now),
                Change::Deleted(node) => {
                    self.cluster
                        .remove_node(node.metadata.name.as_deref().unwrap_or_default());
                }
                Change::Resynced => self.resync_nodes(&informers.nodes, now),
            }
        }
        while let Some(Some(c)) = subs.pods.next().now_or_never() {
            n += 1;
            match c {
                Change::Applied { new, .. } => self.on_pod(new, now),
                Change::Deleted(pod) => self.on_pod_deleted(&pod, now),
                Change::Resynced => self.resync_pods(&informers.pods, now),
            }
        }
        macro_rules! simple {
            ($sub:expr, $handler:ident, $informer:expr) => {
                while let Some(Some(c)) = $sub.next().now_or_never() {
                    n += 1;
                    match c {
                        Change::Applied { new, .. } => self.$handler(&new, false),
                        Change::Deleted(old) => self.$handler(&old, true),
                        Change::Resynced => {
                            for o in $informer.cache().list() {
                                self.$handler(&o, false);
                            }
                        }
                    }
                }
            };
        }
        simple!(subs.namespaces, on_namespace, informers.namespaces);
        simple!(subs.services, on_service, informers.services);
        simple!(subs.replica_sets, on_replica_set, informers.replica_sets);
        simple!(subs.stateful_sets, on_stateful_set, informers.stateful_sets);
        simple!(
            subs.replication_controllers,
            on_replication_controller,
            informers.replication_controllers
        );
        while let Ok(b) = self.bound_rx.try_recv() {
            n += 1;
            self.on_bound(b, informers, now);
        }
        n
    }

    fn on_bound(&mut self, b: Bound, informers: &Informers, now: Instant) {
        self.binds_in_flight = self.binds_in_flight.saturating_sub(1);
        match b.result {
            Ok(()) => self.scheduled += 1,
            Err(e) => {
                tracing::debug!(pod = %b.pod.key, node = %b.node, error = %e, "binding failed");
                self.cluster.forget(&b.pod.key);
                self.queue.move_all_to_active_or_backoff(now);
                let current = informers.pods.cache().get(&b.pod.namespace, &b.pod.name);
                if let Some(current) = current.filter(|p| self.responsible(p)) {
                    let message = format!("running Bind plugin \"DefaultBinder\": {e}");
                    self.queue
                        .error(Arc::new(PodInfo::new(current.clone())), b.attempts, now);
                    self.report_failure(current, REASON_SCHEDULER_ERROR, message);
                }
            }
        }
    }

    /// Schedules the next active pod, if any. Returns whether there was one.
    pub async fn schedule_next(&mut self) -> bool {
        let now = Instant::now();
        self.queue.flush(now);
        let Some(q) = self.queue.pop() else {
            return false;
        };
        self.schedule_one(q, now).await;
        true
    }

    async fn schedule_one(&mut self, q: Queued, now: Instant) {
        let pod = q.pod.clone();
        let outcome =
            self.profile
                .schedule(&self.cluster, &pod, &mut self.next_start, &mut self.rng);
        match outcome {
            Outcome::Scheduled { slot, node, .. } => {
                self.cluster.assume(pod.clone(), slot);
                self.queue.done(&pod.key);
                self.binds_in_flight += 1;
                let permit = self.binds.clone().acquire_owned().await;
                let binder = self.binder.clone();
                let recorder = self.recorder.clone();
                let tx = self.bound_tx.clone();
                let attempts = q.attempts;
                tokio::spawn(async move {
                    let uid = pod.pod.metadata.uid.as_deref().unwrap_or_default();
                    let result = binder.bind(&pod.namespace, &pod.name, uid, &node).await;
                    drop(permit);
                    let ok = result.is_ok();
                    let _ = tx.send(Bound {
                        pod: pod.clone(),
                        node: node.clone(),
                        attempts,
                        result,
                    });
                    if ok {
                        let message = format!(
                            "Successfully assigned {}/{} to {}",
                            pod.namespace, pod.name, node
                        );
                        recorder
                            .publish(pod.pod.as_ref(), Type::Normal, "Scheduled", &message)
                            .await;
                    }
                });
            }
            Outcome::Unschedulable(fit) => {
                self.failed += 1;
                self.queue.unschedulable(&pod.key, now);
                self.report_failure(pod.pod.clone(), REASON_UNSCHEDULABLE, fit.to_string());
            }
            Outcome::NoNodes => {
                self.failed += 1;
                self.queue.unschedulable(&pod.key, now);
                self.report_failure(
                    pod.pod.clone(),
                    REASON_UNSCHEDULABLE,
                    NO_NODES_AVAILABLE.to_owned(),
                );
            }
            Outcome::Error(e) => {
                self.failed += 1;
                tracing::warn!(pod = %pod.key, error = %e, "scheduling failed");
                self.queue.error(pod.clone(), q.attempts, now);
                self.report_failure(pod.pod.clone(), REASON_SCHEDULER_ERROR, e);
            }
        }
    }

    /// Sets `PodScheduled=False` (unless it already says the same) and records a
    /// `FailedScheduling` event, in a spawned task.
    fn report_failure(&self, pod: Arc<Pod>, reason: &'static str, message: String) {
        let writer = self.writer.clone();
        let recorder = self.recorder.clone();
        let writes = self.writes.clone();
        tokio::spawn(async move {
            let Ok(_permit) = writes.acquire_owned().await else {
                return;
            };
            if let Some(patch) = condition_patch(&pod, reason, &message) {
                let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
                let name = pod.metadata.name.as_deref().unwrap_or_default();
                if let Err(e) = writer
                    .patch_typed::<Pod>(ns, name, Some("status"), patch)
                    .await
                {
                    tracing::debug!(pod = %name, error = %e, "PodScheduled condition not updated");
                }
            }
            recorder
                .publish(pod.as_ref(), Type::Warning, "FailedScheduling", &message)
                .await;
        });
    }

    /// Waits until every binding started so far has reported back (tests, benchmarks).
    pub async fn settle(&mut self, informers: &Informers) {
        while self.binds_in_flight > 0 {
            match self.bound_rx.recv().await {
                Some(b) => self.on_bound(b, informers, Instant::now()),
                None => break,
            }
        }
    }

    /// The loop: apply changes, schedule active pods, wait for more when idle.
    pub async fn run(&mut self, informers: &Informers, subs: &mut Subscriptions) {
        let mut since_yield = 0u32;
        let mut last_log = Instant::now();
        loop {
            self.drain(informers, subs);
            if self.schedule_next().await {
                since_yield += 1;
                if since_yield >= 64 {
                    since_yield = 0;
                    tokio::task::yield_now().await;
                }
                continue;
            }
            if last_log.elapsed() >= Duration::from_secs(60) {
                last_log = Instant::now();
                let (active, backoff, unschedulable, _) = self.queue.counts();
                tracing::info!(
                    scheduled = self.scheduled,
                    failed = self.failed,
                    active,
                    backoff,
                    unschedulable,
                    "scheduler progress"
                );
            }
            let wake = self
                .queue
                .next_backoff()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
                .min(Instant::now() + Duration::from_secs(1));
            let now = Instant::now();
            tokio::select! {
                c = subs.pods.next() => match c {
                    Some(Change::Applied { new, .. }) => self.on_pod(new, now),
                    Some(Change::Deleted(pod)) => self.on_pod_deleted(&pod, now),
                    Some(Change::Resynced) => self.resync_pods(&informers.pods, now),
                    None => return,
                },
                c = subs.nodes.next() => match c {
                    Some(Change::Applied { old, new }) => self.on_node(old.as_deref(), new, now),
                    Some(Change::Deleted(node)) => self.cluster.remove_node(node.metadata.name.as_deref().unwrap_or_default()),
                    Some(Change::Resynced) => self.resync_nodes(&informers.nodes, now),
                    None => return,
                },
                b = self.bound_rx.recv() => if let Some(b) = b { self.on_bound(b, informers, now) },
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {},
                // Changes of the other informers are picked up by the next drain.
                Some(_) = subs.namespaces.next() => self.resync_owners(informers),
                Some(_) = subs.services.next() => self.resync_owners(informers),
                Some(_) = subs.replica_sets.next() => self.resync_owners(informers),
                Some(_) = subs.stateful_sets.next() => self.resync_owners(informers),
                Some(_) = subs.replication_controllers.next() => self.resync_owners(informers),
            }
        }
    }

    /// Reloads namespaces and owners from the caches (after a change was consumed while
    /// waiting, whose payload the wait does not keep).
    fn resync_owners(&mut self, informers: &Informers) {
        self.cluster.owners = Default::default();
        for ns in informers.namespaces.cache().list() {
            self.on_namespace(&ns, false);
        }
        for s in informers.services.cache().list() {
            self.on_service(&s, false);
        }
        for rs in informers.replica_sets.cache().list() {
            self.on_replica_set(&rs, false);
        }
        for ss in informers.stateful_sets.cache().list() {
            self.on_stateful_set(&ss, false);
        }
        for rc in informers.replication_controllers.cache().list() {
            self.on_replication_controller(&rc, false);
        }
    }
}

/// The merge patch that sets `PodScheduled=False` with `reason` and `message` (the whole
/// conditions list, since a merge patch replaces lists), or `None` if the pod already says so.
pub fn condition_patch(pod: &Pod, reason: &str, message: &str) -> Option<serde_json::Value> {
    let conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let existing = conditions.iter().find(|c| c.type_ == "PodScheduled");
    if let Some(c) = existing
        && c.status == "False"
        && c.reason.as_deref() == Some(reason)
        && c.message.as_deref() == Some(message)
    {
        return None;
    }
    let transition = match existing {
        Some(c) if c.status == "False" => c
            .last_transition_time
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_else(|| k8s_openapi::jiff::Timestamp::now().to_string()),
        _ => k8s_openapi::jiff::Timestamp::now().to_string(),
    };
    let mut list: Vec<serde_json::Value> = conditions
        .iter()
        .filter(|c| c.type_ != "PodScheduled")
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    list.push(json!({
        "type": "PodScheduled",
        "status": "False",
        "lastProbeTime": null,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }));
    Some(json!({ "status": { "conditions": list } }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binder::RecordingBinder;
    use crate::plugins::testing::{node, on, pod};
    use barge_client::Recording;
    use barge_client::writer::Call;
    use k8s_openapi::api::core::v1::Taint;

    struct Harness {
        s: Scheduler,
        informers: Informers,
        subs: Subscriptions,
        writer: Arc<Recording>,
        binder: Arc<RecordingBinder>,
    }

    fn harness(nodes: Vec<Node>, pods: Vec<Pod>) -> Harness {
        let informers = Informers::seeded(nodes, pods);
        let subs = informers.subscribe();
        let writer = Arc::new(Recording::default());
        let binder = Arc::new(RecordingBinder::default());
        let options = Options {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(100),
            ..Options::default()
        };
        let mut s = Scheduler::new(options, writer.clone(), binder.clone()).unwrap();
        s.resync_all(&informers);
        Harness {
            s,
            informers,
            subs,
            writer,
            binder,
        }
    }

    impl Harness {
        /// Applies changes, schedules every active pod, waits for bindings and writes.
        async fn cycle(&mut self) {
            self.s.drain(&self.informers, &mut self.subs);
            while self.s.schedule_next().await {}
            self.s.settle(&self.informers).await;
            // Let the spawned status and event writes run.
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
        }

        fn bound(&self) -> Vec<(String, String)> {
            self.binder.bound.lock().unwrap().clone()
        }
    }

    #[tokio::test]
    async fn a_pod_is_bound_to_the_node_that_fits_with_a_scheduled_event() {
        let mut h = harness(
            vec![
                node("small", "1", "1Gi", &[]),
                node("big", "8", "16Gi", &[]),
            ],
            vec![pod("web", "2", "1Gi")],
        );
        h.cycle().await;
        assert_eq!(h.bound(), [("default/web".to_owned(), "big".to_owned())]);
        let calls = h.writer.take();
        let event = calls
            .iter()
            .find_map(|c| match c {
                Call::Create { object, .. } => Some(object.clone()),
                _ => None,
            })
            .expect("an event");
        assert_eq!(event["reason"], "Scheduled");
        assert_eq!(event["message"], "Successfully assigned default/web to big");
        assert_eq!(event["source"]["component"], "default-scheduler");
        // The pod is assumed on its node until the informer shows it bound.
        assert!(h.s.cluster.is_assumed("default/web"));
        h.informers.pods.apply(on(pod("web", "2", "1Gi"), "big"));
        h.cycle().await;
        assert!(!h.s.cluster.is_assumed("default/web"));
        assert_eq!(h.s.cluster.node_by_name("big").unwrap().pods.len(), 1);
    }

    #[tokio::test]
    async fn an_unschedulable_pod_gets_the_condition_and_event_then_fits_a_new_node() {
        let mut h = harness(
            vec![
                node("a", "1", "1Gi", &[]),
                node("b", "1", "1Gi", &[]),
                node("c", "1", "1Gi", &[]),
            ],
            vec![pod("big", "4", "1Gi")],
        );
        h.cycle().await;
        assert!(h.bound().is_empty());
        let calls = h.writer.take();
        let patch = calls
            .iter()
            .find_map(|c| match c {
                Call::Patch { patch, .. } if c.summary().contains("pods/status") => {
                    Some(patch.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("a status patch in {calls:?}"));
        let cond = &patch["status"]["conditions"][0];
        assert_eq!(cond["type"], "PodScheduled");
        assert_eq!(cond["status"], "False");
        assert_eq!(cond["reason"], "Unschedulable");
        assert_eq!(
            cond["message"],
            "0/3 nodes are available: 3 Insufficient cpu."
        );
        let event = calls
            .iter()
            .find_map(|c| match c {
                Call::Create { object, .. } => Some(object.clone()),
                _ => None,
            })
            .expect("an event");
        assert_eq!(event["reason"], "FailedScheduling");
        assert_eq!(event["type"], "Warning");
        assert_eq!(
            event["message"],
            "0/3 nodes are available: 3 Insufficient cpu."
        );
        assert_eq!(
            h.s.queue.get("default/big").map(|q| q.place),
            Some(crate::queue::Place::Unschedulable)
        );

        // Nothing changes: the pod waits.
        tokio::time::sleep(Duration::from_millis(60)).await;
        h.cycle().await;
        assert!(h.bound().is_empty());
        assert_eq!(h.s.queue.get("default/big").unwrap().attempts, 1);
        // A node that fits arrives: the pod is retried (its backoff is over) and bound there.
        h.informers.nodes.apply(node("huge", "8", "8Gi", &[]));
        h.cycle().await;
        assert_eq!(h.bound(), [("default/big".to_owned(), "huge".to_owned())]);
    }

    #[tokio::test]
    async fn a_failed_binding_forgets_the_pod_and_backs_off() {
        let mut h = harness(vec![node("a", "2", "2Gi", &[])], vec![pod("p", "1", "1Gi")]);
        h.binder.reject.lock().unwrap().push("default/p".into());
        h.cycle().await;
        assert!(!h.s.cluster.is_assumed("default/p"));
        assert_eq!(h.s.cluster.node_by_name("a").unwrap().pods.len(), 0);
        assert_eq!(
            h.s.queue.get("default/p").map(|q| q.place),
            Some(crate::queue::Place::Backoff)
        );
        let calls = h.writer.take();
        assert!(
            calls.iter().any(|c| matches!(c, Call::Create { object, .. }
                if object["reason"] == "FailedScheduling"
                && object["message"] == "running Bind plugin \"DefaultBinder\": pods \"p\" not found")),
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn only_our_pods_without_a_node_and_not_deleting_are_scheduled() {
        let mut other = pod("other", "", "");
        other.spec.as_mut().unwrap().scheduler_name = Some("my-scheduler".into());
        let mut explicit = pod("explicit", "", "");
        explicit.spec.as_mut().unwrap().scheduler_name = Some("default-scheduler".into());
        let mut deleting = pod("deleting", "", "");
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        let mut gated = pod("gated", "", "");
        gated.spec.as_mut().unwrap().scheduling_gates =
            Some(vec![k8s_openapi::api::core::v1::PodSchedulingGate {
                name: "wait".into(),
            }]);
        let mut h = harness(
            vec![node("a", "2", "2Gi", &[])],
            vec![
                other,
                explicit,
                deleting,
                gated,
                on(pod("placed", "", ""), "a"),
            ],
        );
        h.cycle().await;
        assert_eq!(h.bound(), [("default/explicit".to_owned(), "a".to_owned())]);
    }

    #[tokio::test]
    async fn the_message_counts_each_nodes_first_failing_plugin() {
        let mut tainted = node("t", "8", "8Gi", &[]);
        tainted.spec.as_mut().unwrap().taints = Some(vec![Taint {
            key: "dedicated".into(),
            value: Some("gpu".into()),
            effect: "NoSchedule".into(),
            ..Default::default()
        }]);
        let mut cordoned = node("u", "8", "8Gi", &[]);
        cordoned.spec.as_mut().unwrap().unschedulable = Some(true);
        let mut h = harness(
            vec![
                tainted,
                cordoned,
                node("small", "1", "1Gi", &[]),
                node("small2", "1", "1Gi", &[]),
            ],
            vec![pod("p", "2", "4Gi")],
        );
        h.cycle().await;
        let calls = h.writer.take();
        let msg = calls
            .iter()
            .find_map(|c| match c {
                Call::Create { object, .. } => object["message"].as_str().map(str::to_owned),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            msg,
            "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, \
             1 node(s) were unschedulable, 2 Insufficient cpu, 2 Insufficient memory."
        );
    }

    #[test]
    fn the_condition_patch_is_skipped_when_nothing_changed() {
        let mut p = pod("p", "", "");
        let patch = condition_patch(&p, "Unschedulable", "m").unwrap();
        let cond: k8s_openapi::api::core::v1::PodCondition =
            serde_json::from_value(patch["status"]["conditions"][0].clone()).unwrap();
        p.status = Some(k8s_openapi::api::core::v1::PodStatus {
            conditions: Some(vec![cond]),
            ..Default::default()
        });
        assert!(condition_patch(&p, "Unschedulable", "m").is_none());
        assert!(condition_patch(&p, "Unschedulable", "other").is_some());
    }
}
