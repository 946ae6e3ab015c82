//! The probe manager and its workers, as upstream's `prober_manager.go`, `worker.go` and
//! `results` package.
//!
//! One worker (a Tokio task) per container and probe kind, for regular containers and
//! restartable (sidecar) init containers. Each tick the worker reads the pod status last given
//! to [`Manager::update_pod_status`] and, as upstream's `doProbe`:
//! - stops for good when the pod has finished (`Succeeded`/`Failed`), or when its container
//!   ended and will not restart (`restartPolicy: Never`);
//! - on a new container ID resets the cached result to the kind's initial value (readiness
//!   `Failure`, liveness `Success`, startup `Unknown`) and resumes probing;
//! - marks a container that is not running as `Failure`;
//! - when the pod is being deleted, sets liveness and startup to `Success` and stops them;
//! - waits `initialDelaySeconds` after the container started;
//! - runs only the startup probe until the container has started (startup `Success`, or no
//!   startup probe), and only the others afterwards;
//! - probes (an error is retried up to three times, then ignored), records an Event for every
//!   failure (`Unhealthy`: `Liveness probe failed: …`) and warning (`ProbeWarning`), and
//!   publishes a result once `successThreshold` / `failureThreshold` runs agree;
//! - after a liveness failure or a startup verdict, holds until the container is replaced.
//!
//! Results are cached per container ID and every change is sent as a [`ProbeEvent`], like
//! upstream's results-manager updates. Differences: the worker reads the pod status from this
//! manager (upstream reads the status manager), and decides whether the container has started
//! from the startup result directly (upstream reads the `started` field the kubelet copied
//! into the status from that same result). [`ManagerConfig::second`] lets tests shrink time.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerStateRunning, ContainerStatus, Pod, PodStatus, Probe,
};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::{Exec, Outcome, ProbeKind, ProbeResult, Target, positive_or, run_probe};

/// Upstream's `maxProbeRetries`: attempts of a probe that errors.
const MAX_RETRIES: usize = 3;

/// How the manager measures time.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// How long one second of a probe's configuration lasts: one second, except in tests.
    pub second: Duration,
    /// Whether a worker started soon after the manager waits a random part of its period
    /// before its first probe, as upstream does to spread probes after a kubelet restart.
    pub start_jitter: bool,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            second: Duration::from_secs(1),
            start_jitter: true,
        }
    }
}

/// Something the kubelet should act on, from a probe worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeEvent {
    pub pod_uid: String,
    pub container: String,
    /// The container's ID as in its status (`containerd://…`).
    pub container_id: String,
    pub kind: ProbeKind,
    pub what: ProbeEventKind,
}

/// What a [`ProbeEvent`] says.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeEventKind {
    /// The cached result changed (upstream's results-manager update). On a liveness or startup
    /// `Failure` the container must be restarted (upstream's messages: `Container <name> failed
    /// liveness probe` / `failed startup probe`); on readiness and startup changes the pod's
    /// status should be refreshed through [`Manager::update_pod_status`].
    Result(ProbeResult),
    /// An Event to record on the container: type Warning, with this reason (`Unhealthy` or
    /// `ProbeWarning`) and message (`Readiness probe failed: HTTP probe failed with statuscode: 500`).
    Event {
        reason: &'static str,
        message: String,
    },
}

type WorkerKey = (String, String, ProbeKind);

struct WorkerHandle {
    id: u64,
    stop: Arc<Notify>,
    trigger: Arc<Notify>,
}

/// What the workers of one pod read.
#[derive(Clone, Default)]
struct PodView {
    status: Option<Arc<PodStatus>>,
    deleting: bool,
}

struct Shared {
    config: ManagerConfig,
    started: Instant,
    next_id: AtomicU64,
    workers: Mutex<HashMap<WorkerKey, WorkerHandle>>,
    results: Mutex<HashMap<(ProbeKind, String), ProbeResult>>,
    pods: Mutex<HashMap<String, watch::Sender<PodView>>>,
    events: mpsc::UnboundedSender<ProbeEvent>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn result(&self, kind: ProbeKind, container_id: &str) -> Option<ProbeResult> {
        lock(&self.results)
            .get(&(kind, container_id.to_owned()))
            .copied()
    }

    fn set_result(
        &self,
        pod_uid: &str,
        container: &str,
        kind: ProbeKind,
        container_id: &str,
        result: ProbeResult,
    ) {
        let previous = lock(&self.results).insert((kind, container_id.to_owned()), result);
        if previous != Some(result) {
            let _ = self.events.send(ProbeEvent {
                pod_uid: pod_uid.to_owned(),
                container: container.to_owned(),
                container_id: container_id.to_owned(),
                kind,
                what: ProbeEventKind::Result(result),
            });
        }
    }

    fn remove_result(&self, kind: ProbeKind, container_id: &str) {
        lock(&self.results).remove(&(kind, container_id.to_owned()));
    }

    fn has_worker(&self, pod_uid: &str, container: &str, kind: ProbeKind) -> bool {
        lock(&self.workers).contains_key(&(pod_uid.to_owned(), container.to_owned(), kind))
    }

    /// Upstream's `isContainerStarted`.
    fn is_started(&self, pod_uid: &str, status: &ContainerStatus) -> bool {
        if status
            .state
            .as_ref()
            .and_then(|s| s.running.as_ref())
            .is_none()
        {
            return false;
        }
        let id = status.container_id.as_deref().unwrap_or_default();
        match self.result(ProbeKind::Startup, id) {
            Some(result) => result == ProbeResult::Success,
            None => !self.has_worker(pod_uid, &status.name, ProbeKind::Startup),
        }
    }

    /// The `ready` of a started container (upstream's `UpdatePodStatus`), triggering an
    /// immediate readiness probe when it is not ready yet.
    fn is_ready(&self, pod_uid: &str, status: &ContainerStatus) -> bool {
        if status
            .state
            .as_ref()
            .and_then(|s| s.running.as_ref())
            .is_none()
        {
            return false;
        }
        let id = status.container_id.as_deref().unwrap_or_default();
        if self.result(ProbeKind::Readiness, id) == Some(ProbeResult::Success) {
            return true;
        }
        let workers = lock(&self.workers);
        match workers.get(&(
            pod_uid.to_owned(),
            status.name.clone(),
            ProbeKind::Readiness,
        )) {
            Some(worker) => {
                worker.trigger.notify_one();
                false
            }
            None => true,
        }
    }

    fn stop_where(&self, mut pred: impl FnMut(&WorkerKey) -> bool) {
        for (key, worker) in lock(&self.workers).iter() {
            if pred(key) {
                worker.stop.notify_one();
            }
        }
    }
}

/// Runs the probes of the pods on this node. Cheap to clone; must be used inside a Tokio
/// runtime (workers are tasks).
pub struct Manager<E: Exec> {
    shared: Arc<Shared>,
    exec: Arc<E>,
}

impl<E: Exec> Clone for Manager<E> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            exec: self.exec.clone(),
        }
    }
}

impl<E: Exec> std::fmt::Debug for Manager<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("workers", &self.worker_count())
            .finish_non_exhaustive()
    }
}

/// The containers that get probe workers: regular ones and restartable init containers.
fn probed_containers(pod: &Pod) -> Vec<&Container> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers.iter().chain(sidecars).collect()
}

impl<E: Exec> Manager<E> {
    /// A manager running commands through `exec`, and the stream of its events.
    pub fn new(exec: Arc<E>, config: ManagerConfig) -> (Self, mpsc::UnboundedReceiver<ProbeEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        let config = ManagerConfig {
            second: config.second.max(Duration::from_millis(1)),
            ..config
        };
        let shared = Arc::new(Shared {
            config,
            started: Instant::now(),
            next_id: AtomicU64::new(1),
            workers: Mutex::new(HashMap::new()),
            results: Mutex::new(HashMap::new()),
            pods: Mutex::new(HashMap::new()),
            events,
        });
        (Self { shared, exec }, rx)
    }

    /// Starts the workers for every probe of `pod` that has none yet (upstream's `AddPod`).
    /// Call it on every sync of the pod: it also notes whether the pod is being deleted.
    /// Probe settings are read once, when the worker starts.
    pub fn add_pod(&self, pod: &Pod) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        let deleting = pod.metadata.deletion_timestamp.is_some();
        let view = {
            let mut pods = lock(&self.shared.pods);
            let sender = pods
                .entry(uid.clone())
                .or_insert_with(|| watch::channel(PodView::default()).0);
            sender.send_if_modified(|v| std::mem::replace(&mut v.deleting, deleting) != deleting);
            sender.subscribe()
        };
        let restart_policy = pod.spec.as_ref().and_then(|s| s.restart_policy.clone());
        let display = Target::new(pod, &Container::default(), "", "").pod;
        for container in probed_containers(pod) {
            for (kind, probe) in [
                (ProbeKind::Startup, &container.startup_probe),
                (ProbeKind::Readiness, &container.readiness_probe),
                (ProbeKind::Liveness, &container.liveness_probe),
            ] {
                let Some(probe) = probe else { continue };
                let key = (uid.clone(), container.name.clone(), kind);
                let mut workers = lock(&self.shared.workers);
                if workers.contains_key(&key) {
                    continue;
                }
                let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
                let stop = Arc::new(Notify::new());
                let trigger = Arc::new(Notify::new());
                workers.insert(
                    key,
                    WorkerHandle {
                        id,
                        stop: stop.clone(),
                        trigger: trigger.clone(),
                    },
                );
                drop(workers);
                let worker = Worker {
                    id,
                    pod_uid: uid.clone(),
                    pod_display: display.clone(),
                    restart_policy: restart_policy.clone(),
                    container: container.clone(),
                    kind,
                    timing: Timing::of(probe, self.shared.config.second),
                    probe: probe.clone(),
                    initial: match kind {
                        ProbeKind::Readiness => ProbeResult::Failure,
                        ProbeKind::Liveness => ProbeResult::Success,
                        ProbeKind::Startup => ProbeResult::Unknown,
                    },
                    shared: self.shared.clone(),
                    exec: self.exec.clone(),
                    pod: view.clone(),
                    stop,
                    trigger,
                    container_id: String::new(),
                    last_result: None,
                    result_run: 0,
                    on_hold: false,
                    started_at: None,
                };
                tokio::spawn(worker.run());
            }
        }
    }

    /// Stops the liveness and startup workers of the pod's containers, for its termination
    /// (upstream's `StopLivenessAndStartup`).
    pub fn stop_liveness_and_startup(&self, pod: &Pod) {
        let Some(uid) = pod.metadata.uid.as_deref() else {
            return;
        };
        let names: HashSet<&str> = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter().map(|c| c.name.as_str()))
            .collect();
        self.shared.stop_where(|(u, c, kind)| {
            u == uid && names.contains(c.as_str()) && *kind != ProbeKind::Readiness
        });
    }

    /// Stops every worker of the pod and forgets its status (upstream's `RemovePod`); each
    /// worker drops its container's cached result as it exits.
    pub fn remove_pod(&self, pod_uid: &str) {
        self.shared.stop_where(|(u, _, _)| u == pod_uid);
        lock(&self.shared.pods).remove(pod_uid);
    }

    /// Stops the workers of every pod not in `desired` (upstream's `CleanupPods`).
    pub fn cleanup_pods(&self, desired: &HashSet<String>) {
        self.shared.stop_where(|(u, _, _)| !desired.contains(u));
        lock(&self.shared.pods).retain(|uid, _| desired.contains(uid));
    }

    /// Fills `started` and `ready` of every container status from the probe results
    /// (upstream's `UpdatePodStatus`), and keeps the status as what the pod's workers probe
    /// against: call it whenever the kubelet computes the pod's status.
    pub fn update_pod_status(&self, pod: &Pod, status: &mut PodStatus) {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        for cs in status.container_statuses.iter_mut().flatten() {
            let started = self.shared.is_started(uid, cs);
            cs.started = Some(started);
            if started {
                cs.ready = self.shared.is_ready(uid, cs);
            }
        }
        let init_specs: Vec<&Container> = pod
            .spec
            .iter()
            .flat_map(|s| s.init_containers.iter().flatten())
            .collect();
        for (i, cs) in status
            .init_container_statuses
            .iter_mut()
            .flatten()
            .enumerate()
        {
            let started = self.shared.is_started(uid, cs);
            cs.started = Some(started);
            // Upstream matches the spec by index and checks the name.
            let Some(spec) = init_specs.get(i).filter(|c| c.name == cs.name) else {
                continue;
            };
            if spec.restart_policy.as_deref() != Some("Always") {
                let terminated = cs.state.as_ref().and_then(|s| s.terminated.as_ref());
                if terminated.is_some_and(|t| t.exit_code == 0) {
                    cs.ready = true;
                }
                continue;
            }
            if started {
                cs.ready = self.shared.is_ready(uid, cs);
            }
        }
        if !uid.is_empty() {
            let snapshot = Arc::new(status.clone());
            let mut pods = lock(&self.shared.pods);
            let sender = pods
                .entry(uid.to_owned())
                .or_insert_with(|| watch::channel(PodView::default()).0);
            sender.send_modify(|v| v.status = Some(snapshot));
        }
    }

    /// The cached result of `kind` for a container (its ID as in its status).
    pub fn result(&self, kind: ProbeKind, container_id: &str) -> Option<ProbeResult> {
        self.shared.result(kind, container_id)
    }

    /// How many workers are running.
    pub fn worker_count(&self) -> usize {
        lock(&self.shared.workers).len()
    }
}

/// A probe's timing, with upstream's defaults for unset (or non-positive) fields.
#[derive(Debug, Clone, Copy)]
struct Timing {
    initial_delay: Duration,
    period: Duration,
    timeout: Duration,
    success_threshold: u32,
    failure_threshold: u32,
}

impl Timing {
    fn of(probe: &Probe, second: Duration) -> Self {
        let secs = |n: u64| second.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
        Self {
            initial_delay: secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64),
            period: secs(positive_or(probe.period_seconds, 10)),
            timeout: secs(positive_or(probe.timeout_seconds, 1)),
            success_threshold: positive_or(probe.success_threshold, 1) as u32,
            failure_threshold: positive_or(probe.failure_threshold, 3) as u32,
        }
    }
}

/// A fraction in [0, 1) from the system's random source (0 if it fails).
fn random_fraction() -> f64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        return 0.0;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

struct Worker<E: Exec> {
    id: u64,
    pod_uid: String,
    pod_display: String,
    restart_policy: Option<String>,
    container: Container,
    kind: ProbeKind,
    timing: Timing,
    probe: Probe,
    initial: ProbeResult,
    shared: Arc<Shared>,
    exec: Arc<E>,
    pod: watch::Receiver<PodView>,
    stop: Arc<Notify>,
    trigger: Arc<Notify>,
    /// The container probed, as in its status; empty before the first one is seen.
    container_id: String,
    last_result: Option<ProbeResult>,
    result_run: u32,
    on_hold: bool,
    /// When the probed container started, on this clock.
    started_at: Option<(String, Instant)>,
}

impl<E: Exec> Worker<E> {
    async fn run(mut self) {
        let period = self.timing.period;
        if self.shared.config.start_jitter && period > self.shared.started.elapsed() {
            let jitter = period.mul_f64(random_fraction());
            tokio::select! {
                biased;
                _ = self.stop.notified() => {
                    self.finish();
                    return;
                }
                _ = tokio::time::sleep(jitter) => {}
            }
        }
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        while self.do_probe().await {
            tokio::select! {
                biased;
                _ = self.stop.notified() => break,
                _ = ticker.tick() => {}
                _ = self.trigger.notified() => ticker.reset(),
            }
        }
        self.finish();
    }

    fn finish(&self) {
        if !self.container_id.is_empty() {
            self.shared.remove_result(self.kind, &self.container_id);
        }
        let key = (self.pod_uid.clone(), self.container.name.clone(), self.kind);
        let mut workers = lock(&self.shared.workers);
        if workers.get(&key).is_some_and(|w| w.id == self.id) {
            workers.remove(&key);
        }
    }

    fn set(&self, result: ProbeResult) {
        self.shared.set_result(
            &self.pod_uid,
            &self.container.name,
            self.kind,
            &self.container_id,
            result,
        );
    }

    fn event(&self, reason: &'static str, message: String) {
        let _ = self.shared.events.send(ProbeEvent {
            pod_uid: self.pod_uid.clone(),
            container: self.container.name.clone(),
            container_id: self.container_id.clone(),
            kind: self.kind,
            what: ProbeEventKind::Event { reason, message },
        });
    }

    /// When the container started, mapped onto the Tokio clock the first time it is seen.
    fn started_instant(&mut self, running: &ContainerStateRunning) -> Instant {
        if let Some((id, at)) = &self.started_at
            && *id == self.container_id
        {
            return *at;
        }
        let now = Instant::now();
        let ago = running
            .started_at
            .as_ref()
            .map(|t| {
                t.0.duration_until(k8s_openapi::jiff::Timestamp::now())
                    .as_secs_f64()
                    .max(0.0)
            })
            .unwrap_or(0.0);
        let ago = Duration::try_from_secs_f64(ago * self.shared.config.second.as_secs_f64())
            .unwrap_or(Duration::ZERO);
        let at = now.checked_sub(ago).unwrap_or(now);
        self.started_at = Some((self.container_id.clone(), at));
        at
    }

    /// One tick (upstream's `doProbe`); false when the worker should stop.
    async fn do_probe(&mut self) -> bool {
        let view = self.pod.borrow().clone();
        let Some(status) = view.status else {
            return true;
        };
        if matches!(status.phase.as_deref(), Some("Failed" | "Succeeded")) {
            return false;
        }
        let name = &self.container.name;
        let has_id = |c: &&ContainerStatus| {
            c.name == *name && c.container_id.as_deref().is_some_and(|id| !id.is_empty())
        };
        let Some(cs) = status
            .container_statuses
            .iter()
            .flatten()
            .find(has_id)
            .or_else(|| status.init_container_statuses.iter().flatten().find(has_id))
        else {
            return true;
        };
        let id = cs.container_id.clone().unwrap_or_default();
        if self.container_id != id {
            if !self.container_id.is_empty() {
                self.shared.remove_result(self.kind, &self.container_id);
            }
            self.container_id = id;
            self.set(self.initial);
            self.on_hold = false;
        }
        if self.on_hold {
            return true;
        }
        let state = cs.state.clone().unwrap_or_default();
        let Some(running) = state.running else {
            self.set(ProbeResult::Failure);
            return state.terminated.is_none() || self.restart_policy.as_deref() != Some("Never");
        };
        if view.deleting && self.kind != ProbeKind::Readiness {
            self.set(ProbeResult::Success);
            return false;
        }
        if self.started_instant(&running).elapsed() < self.timing.initial_delay {
            return true;
        }
        let started = self.shared.is_started(&self.pod_uid, cs);
        if started == (self.kind == ProbeKind::Startup) {
            return true;
        }

        let target = Target {
            pod_ip: status.pod_ip.clone().unwrap_or_default(),
            container_id: super::strip_runtime(&self.container_id).to_owned(),
            container_name: self.container.name.clone(),
            container_ports: self.container.ports.clone().unwrap_or_default(),
            container_env: self.container.env.clone().unwrap_or_default(),
            pod: self.pod_display.clone(),
        };
        let mut outcome = Outcome::Unknown(String::new());
        for _ in 0..MAX_RETRIES {
            outcome = run_probe(&self.probe, &target, &*self.exec, self.timing.timeout).await;
            if !matches!(outcome, Outcome::Unknown(_)) {
                break;
            }
        }
        let kind = self.kind;
        let result = match outcome {
            Outcome::Success(_) => ProbeResult::Success,
            Outcome::Warning(message) => {
                self.event("ProbeWarning", format!("{kind} probe warning: {message}"));
                ProbeResult::Success
            }
            Outcome::Failure(message) => {
                self.event("Unhealthy", format!("{kind} probe failed: {message}"));
                ProbeResult::Failure
            }
            Outcome::Unknown(error) => {
                self.event(
                    "Unhealthy",
                    format!("{kind} probe errored and resulted in unknown state: {error}"),
                );
                return true;
            }
        };

        if self.last_result == Some(result) {
            self.result_run += 1;
        } else {
            self.last_result = Some(result);
            self.result_run = 1;
        }
        if (result == ProbeResult::Failure && self.result_run < self.timing.failure_threshold)
            || (result == ProbeResult::Success && self.result_run < self.timing.success_threshold)
        {
            return true;
        }
        self.set(result);
        if (kind == ProbeKind::Liveness && result == ProbeResult::Failure)
            || kind == ProbeKind::Startup
        {
            // Hold until the container is replaced (upstream: avoids exec into a dying
            // container, and extra startup probes).
            self.on_hold = true;
            self.result_run = 0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tests::{FakeExec, Reply};
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ExecAction, PodSpec, TCPSocketAction,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    /// One probe second in these tests.
    const UNIT: Duration = Duration::from_millis(20);
    const UID: &str = "uid-1";

    fn manager(exec: &Arc<FakeExec>) -> (Manager<FakeExec>, mpsc::UnboundedReceiver<ProbeEvent>) {
        Manager::new(
            exec.clone(),
            ManagerConfig {
                second: UNIT,
                start_jitter: false,
            },
        )
    }

    fn exec_probe(cmd: &str, tweak: impl FnOnce(&mut Probe)) -> Option<Probe> {
        let mut p = Probe {
            exec: Some(ExecAction {
                command: Some(vec![cmd.to_owned()]),
            }),
            period_seconds: Some(1),
            ..Default::default()
        };
        tweak(&mut p);
        Some(p)
    }

    fn pod(containers: Vec<Container>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some(UID.into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers,
                restart_policy: Some("Always".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn app(startup: Option<Probe>, readiness: Option<Probe>, liveness: Option<Probe>) -> Container {
        Container {
            name: "app".into(),
            startup_probe: startup,
            readiness_probe: readiness,
            liveness_probe: liveness,
            ..Default::default()
        }
    }

    fn running(id: &str) -> ContainerStatus {
        ContainerStatus {
            name: "app".into(),
            container_id: Some(id.into()),
            state: Some(ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(k8s_openapi::jiff::Timestamp::now())),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn status(phase: &str, container: ContainerStatus) -> PodStatus {
        PodStatus {
            phase: Some(phase.into()),
            pod_ip: Some("127.0.0.1".into()),
            container_statuses: Some(vec![container]),
            ..Default::default()
        }
    }

    /// Waits (at most 5 s) for an event matching `pred`, skipping others.
    async fn expect(
        rx: &mut mpsc::UnboundedReceiver<ProbeEvent>,
        pred: impl Fn(&ProbeEvent) -> bool,
    ) -> ProbeEvent {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(e)) if pred(&e) => return e,
                Ok(Some(_)) => continue,
                _ => panic!("no matching event within 5 s"),
            }
        }
    }

    fn result_is(kind: ProbeKind, id: &str, r: ProbeResult) -> impl Fn(&ProbeEvent) -> bool {
        let id = id.to_owned();
        move |e| e.kind == kind && e.container_id == id && e.what == ProbeEventKind::Result(r)
    }

    async fn wait_for(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn refresh(m: &Manager<FakeExec>, pod: &Pod, st: &PodStatus) -> PodStatus {
        let mut st = st.clone();
        m.update_pod_status(pod, &mut st);
        st
    }

    fn app_status(st: &PodStatus) -> &ContainerStatus {
        &st.container_statuses.as_ref().unwrap()[0]
    }

    #[tokio::test]
    async fn readiness_starts_failed_and_follows_the_probe() {
        let exec = Arc::new(FakeExec::default());
        let (m, mut rx) = manager(&exec);
        let pod = pod(vec![app(None, exec_probe("ready", |_| {}), None)]);
        m.add_pod(&pod);
        assert_eq!(m.worker_count(), 1);
        let st = status("Running", running("containerd://c1"));
        let first = refresh(&m, &pod, &st);
        assert_eq!(app_status(&first).started, Some(true));
        assert!(!app_status(&first).ready);

        expect(
            &mut rx,
            result_is(
                ProbeKind::Readiness,
                "containerd://c1",
                ProbeResult::Failure,
            ),
        )
        .await;
        expect(
            &mut rx,
            result_is(
                ProbeKind::Readiness,
                "containerd://c1",
                ProbeResult::Success,
            ),
        )
        .await;
        assert!(app_status(&refresh(&m, &pod, &st)).ready);
        assert_eq!(exec.calls.lock().unwrap()[0].0, "c1");

        exec.answer("ready", Reply::Exit(1, "not ready", ""));
        let e = expect(&mut rx, |e| matches!(e.what, ProbeEventKind::Event { .. })).await;
        assert_eq!(
            e.what,
            ProbeEventKind::Event {
                reason: "Unhealthy",
                message: "Readiness probe failed: not ready".into()
            }
        );
        expect(
            &mut rx,
            result_is(
                ProbeKind::Readiness,
                "containerd://c1",
                ProbeResult::Failure,
            ),
        )
        .await;
        // The default failure threshold is 3.
        assert!(exec.count("ready") >= 4);
        assert!(!app_status(&refresh(&m, &pod, &st)).ready);
    }

    #[tokio::test]
    async fn liveness_fails_after_the_threshold_then_holds_until_a_new_container() {
        let exec = Arc::new(FakeExec::default());
        exec.answer("alive", Reply::Exit(1, "dead", ""));
        let (m, mut rx) = manager(&exec);
        let pod = pod(vec![app(
            None,
            None,
            exec_probe("alive", |p| p.failure_threshold = Some(2)),
        )]);
        m.add_pod(&pod);
        refresh(&m, &pod, &status("Running", running("containerd://c1")));
        expect(
            &mut rx,
            result_is(ProbeKind::Liveness, "containerd://c1", ProbeResult::Success),
        )
        .await;
        let failed = expect(
            &mut rx,
            result_is(ProbeKind::Liveness, "containerd://c1", ProbeResult::Failure),
        )
        .await;
        assert_eq!(failed.container, "app");
        assert_eq!(failed.pod_uid, UID);
        assert_eq!(exec.count("alive"), 2);
        // On hold: no more probes of this container.
        tokio::time::sleep(UNIT * 10).await;
        assert_eq!(exec.count("alive"), 2);
        assert_eq!(
            m.result(ProbeKind::Liveness, "containerd://c1"),
            Some(ProbeResult::Failure)
        );

        exec.answer("alive", Reply::Exit(0, "", ""));
        refresh(&m, &pod, &status("Running", running("containerd://c2")));
        expect(
            &mut rx,
            result_is(ProbeKind::Liveness, "containerd://c2", ProbeResult::Success),
        )
        .await;
        wait_for("probes of the new container", || exec.count("alive") > 2).await;
        assert_eq!(m.result(ProbeKind::Liveness, "containerd://c1"), None);
    }

    #[tokio::test]
    async fn startup_gates_liveness_and_readiness() {
        let exec = Arc::new(FakeExec::default());
        exec.answer("started", Reply::Exit(1, "", "not yet"));
        let (m, mut rx) = manager(&exec);
        let pod = pod(vec![app(
            exec_probe("started", |p| p.failure_threshold = Some(1000)),
            exec_probe("ready", |_| {}),
            exec_probe("alive", |_| {}),
        )]);
        m.add_pod(&pod);
        assert_eq!(m.worker_count(), 3);
        let st = status("Running", running("containerd://c1"));
        let before = refresh(&m, &pod, &st);
        assert_eq!(app_status(&before).started, Some(false));
        expect(
            &mut rx,
            result_is(ProbeKind::Startup, "containerd://c1", ProbeResult::Unknown),
        )
        .await;
        wait_for("startup probes", || exec.count("started") >= 3).await;
        assert_eq!(exec.count("ready"), 0);
        assert_eq!(exec.count("alive"), 0);
        assert_eq!(app_status(&refresh(&m, &pod, &st)).started, Some(false));

        exec.answer("started", Reply::Exit(0, "", ""));
        expect(
            &mut rx,
            result_is(ProbeKind::Startup, "containerd://c1", ProbeResult::Success),
        )
        .await;
        wait_for("liveness and readiness probes", || {
            exec.count("ready") > 0 && exec.count("alive") > 0
        })
        .await;
        let calls = exec.count("started");
        tokio::time::sleep(UNIT * 5).await;
        assert_eq!(
            exec.count("started"),
            calls,
            "startup probing holds once started"
        );
        let after = refresh(&m, &pod, &st);
        assert_eq!(app_status(&after).started, Some(true));
    }

    #[tokio::test]
    async fn startup_failure_is_published_and_holds() {
        let exec = Arc::new(FakeExec::default());
        exec.answer("started", Reply::Exit(1, "", ""));
        let (m, mut rx) = manager(&exec);
        let pod = pod(vec![app(
            exec_probe("started", |p| p.failure_threshold = Some(2)),
            None,
            None,
        )]);
        m.add_pod(&pod);
        refresh(&m, &pod, &status("Running", running("containerd://c1")));
        expect(
            &mut rx,
            result_is(ProbeKind::Startup, "containerd://c1", ProbeResult::Failure),
        )
        .await;
        tokio::time::sleep(UNIT * 5).await;
        assert_eq!(exec.count("started"), 2);
    }

    #[tokio::test]
    async fn initial_delay_and_success_threshold() {
        let exec = Arc::new(FakeExec::default());
        let (m, mut rx) = manager(&exec);
        let pod = pod(vec![app(
            None,
            exec_probe("ready", |p| {
                p.initial_delay_seconds = Some(10);
                p.success_threshold = Some(3);
            }),
            None,
        )]);
        m.add_pod(&pod);
        let begun = Instant::now();
        refresh(&m, &pod, &status("Running", running("containerd://c1")));
        tokio::time::sleep(UNIT * 5).await;
        assert_eq!(exec.count("ready"), 0, "within the initial delay");
        expect(
            &mut rx,
            result_is(
                ProbeKind::Readiness,
                "containerd://c1",
                ProbeResult::Success,
            ),
        )
        .await;
        assert!(begun.elapsed() >= UNIT * 10);
        assert!(exec.count("ready") >= 3);
    }

    #[tokio::test]
    async fn probe_errors_are_retried_reported_and_ignored() {
        let exec = Arc::new(FakeExec::default());
        exec.answer("alive", Reply::Error("boom"));
        let (m, mut rx) = manager(&exec);
        let pod = pod(vec![app(None, None, exec_probe("alive", |_| {}))]);
        m.add_pod(&pod);
        refresh(&m, &pod, &status("Running", running("containerd://c1")));
        let e = expect(&mut rx, |e| matches!(e.what, ProbeEventKind::Event { .. })).await;
        assert_eq!(
            e.what,
            ProbeEventKind::Event {
                reason: "Unhealthy",
                message: "Liveness probe errored and resulted in unknown state: boom".into()
            }
        );
        assert!(exec.count("alive") >= 3);
        tokio::time::sleep(UNIT * 8).await;
        assert_eq!(
            m.result(ProbeKind::Liveness, "containerd://c1"),
            Some(ProbeResult::Success)
        );
        while let Ok(e) = rx.try_recv() {
            assert_ne!(e.what, ProbeEventKind::Result(ProbeResult::Failure));
        }
    }

    #[tokio::test]
    async fn real_tcp_liveness_failure_is_reported() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let exec = Arc::new(FakeExec::default());
        let (m, mut rx) = manager(&exec);
        let liveness = Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(i32::from(port)),
                ..Default::default()
            }),
            period_seconds: Some(1),
            failure_threshold: Some(1),
            ..Default::default()
        };
        let pod = pod(vec![app(None, None, Some(liveness))]);
        m.add_pod(&pod);
        refresh(&m, &pod, &status("Running", running("containerd://c1")));
        let e = expect(&mut rx, |e| matches!(e.what, ProbeEventKind::Event { .. })).await;
        assert_eq!(
            e.what,
            ProbeEventKind::Event {
                reason: "Unhealthy",
                message: format!(
                    "Liveness probe failed: dial tcp 127.0.0.1:{port}: connect: connection refused"
                )
            }
        );
        expect(
            &mut rx,
            result_is(ProbeKind::Liveness, "containerd://c1", ProbeResult::Failure),
        )
        .await;
    }

    #[tokio::test]
    async fn update_pod_status_triggers_a_readiness_probe() {
        let exec = Arc::new(FakeExec::default());
        let (m, mut rx) = manager(&exec);
        // A long period: only the trigger can make the probe run soon.
        let pod = pod(vec![app(
            None,
            exec_probe("ready", |p| p.period_seconds = Some(1000)),
            None,
        )]);
        m.add_pod(&pod);
        tokio::time::sleep(UNIT * 2).await;
        assert_eq!(exec.count("ready"), 0, "no status yet, nothing to probe");
        let st = status("Running", running("containerd://c1"));
        refresh(&m, &pod, &st);
        expect(
            &mut rx,
            result_is(
                ProbeKind::Readiness,
                "containerd://c1",
                ProbeResult::Success,
            ),
        )
        .await;
        assert!(app_status(&refresh(&m, &pod, &st)).ready);
    }

    #[tokio::test]
    async fn workers_stop_when_the_pod_finishes() {
        let exec = Arc::new(FakeExec::default());
        let (m, mut rx) = manager(&exec);
        let pod = pod(vec![app(
            None,
            exec_probe("ready", |_| {}),
            exec_probe("alive", |_| {}),
        )]);
        m.add_pod(&pod);
        refresh(&m, &pod, &status("Running", running("containerd://c1")));
        expect(
            &mut rx,
            result_is(
                ProbeKind::Readiness,
                "containerd://c1",
                ProbeResult::Success,
            ),
        )
        .await;
        refresh(&m, &pod, &status("Succeeded", running("containerd://c1")));
        wait_for("workers to exit", || m.worker_count() == 0).await;
        assert_eq!(m.result(ProbeKind::Readiness, "containerd://c1"), None);
        assert_eq!(m.result(ProbeKind::Liveness, "containerd://c1"), None);
    }

    #[tokio::test]
    async fn a_dead_container_fails_and_stops_the_worker_under_restart_never() {
        let exec = Arc::new(FakeExec::default());
        let (m, mut rx) = manager(&exec);
        let mut pod = pod(vec![app(None, exec_probe("ready", |_| {}), None)]);
        if let Some(spec) = pod.spec.as_mut() {
            spec.restart_policy = Some("Never".into());
        }
        m.add_pod(&pod);
        let mut dead = running("containerd://c1");
        dead.state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 1,
                ..Default::default()
            }),
            ..Default::default()
        });
        let st = refresh(&m, &pod, &status("Running", dead));
        assert_eq!(app_status(&st).started, Some(false));
        expect(
            &mut rx,
            result_is(
                ProbeKind::Readiness,
                "containerd://c1",
                ProbeResult::Failure,
            ),
        )
        .await;
        wait_for("the worker to exit", || m.worker_count() == 0).await;
        assert_eq!(exec.count("ready"), 0);
    }

    #[tokio::test]
    async fn deletion_quiets_liveness_and_startup() {
        let exec = Arc::new(FakeExec::default());
        exec.answer("alive", Reply::Exit(1, "", ""));
        let (m, mut rx) = manager(&exec);
        let mut pod = pod(vec![app(
            None,
            exec_probe("ready", |_| {}),
            exec_probe("alive", |p| p.failure_threshold = Some(1000)),
        )]);
        m.add_pod(&pod);
        refresh(&m, &pod, &status("Running", running("containerd://c1")));
        wait_for("a liveness probe", || exec.count("alive") > 0).await;
        pod.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        m.add_pod(&pod);
        wait_for("the liveness worker to exit", || m.worker_count() == 1).await;
        let mut saw_success = false;
        while let Ok(e) = rx.try_recv() {
            saw_success |= e
                == ProbeEvent {
                    pod_uid: UID.into(),
                    container: "app".into(),
                    container_id: "containerd://c1".into(),
                    kind: ProbeKind::Liveness,
                    what: ProbeEventKind::Result(ProbeResult::Success),
                };
        }
        assert!(saw_success);
    }

    #[tokio::test]
    async fn removing_and_cleaning_up_pods_stops_their_workers() {
        let exec = Arc::new(FakeExec::default());
        let (m, mut rx) = manager(&exec);
        let pod1 = pod(vec![app(
            exec_probe("started", |_| {}),
            exec_probe("ready", |_| {}),
            exec_probe("alive", |_| {}),
        )]);
        m.add_pod(&pod1);
        m.add_pod(&pod1);
        assert_eq!(m.worker_count(), 3, "add_pod is idempotent");
        refresh(&m, &pod1, &status("Running", running("containerd://c1")));
        expect(
            &mut rx,
            result_is(ProbeKind::Liveness, "containerd://c1", ProbeResult::Success),
        )
        .await;
        m.stop_liveness_and_startup(&pod1);
        wait_for("liveness and startup to stop", || m.worker_count() == 1).await;
        m.remove_pod(UID);
        wait_for("readiness to stop", || m.worker_count() == 0).await;
        assert_eq!(m.result(ProbeKind::Readiness, "containerd://c1"), None);

        let mut pod2 = pod(vec![app(None, exec_probe("ready", |_| {}), None)]);
        pod2.metadata.uid = Some("uid-2".into());
        m.add_pod(&pod2);
        assert_eq!(m.worker_count(), 1);
        m.cleanup_pods(&HashSet::from(["uid-2".to_owned()]));
        tokio::time::sleep(UNIT * 3).await;
        assert_eq!(m.worker_count(), 1);
        m.cleanup_pods(&HashSet::new());
        wait_for("cleanup", || m.worker_count() == 0).await;
    }

    #[test]
    fn timing_defaults_are_upstreams() {
        let t = Timing::of(&Probe::default(), Duration::from_secs(1));
        assert_eq!(t.initial_delay, Duration::ZERO);
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!((t.success_threshold, t.failure_threshold), (1, 3));
        let neg = Probe {
            initial_delay_seconds: Some(-5),
            period_seconds: Some(0),
            ..Default::default()
        };
        let t = Timing::of(&neg, Duration::from_secs(1));
        assert_eq!(t.initial_delay, Duration::ZERO);
        assert_eq!(t.period, Duration::from_secs(10));
        let f = random_fraction();
        assert!((0.0..1.0).contains(&f));
    }
}
