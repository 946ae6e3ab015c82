//! The pod workers: one task per pod bound to this node, driving containerd toward the pod's
//! spec as upstream's kubelet does (`SyncPod`, `computePodActions`, `killPod`):
//!
//! - a sandbox (pause container + network) per pod, recreated when it dies;
//! - init containers one at a time, in order, then all containers; containers restarted per
//!   `restartPolicy` with the CrashLoopBackOff delay; a failed liveness probe restarts one;
//! - image pulls by `imagePullPolicy`; ConfigMaps, Secrets and tokens fetched for env and
//!   volumes; volumes prepared before containers start;
//! - graceful deletion: preStop hooks, SIGTERM, SIGKILL at the grace period's end, then the
//!   sandbox goes and the pod object is deleted with grace 0, as upstream's status manager does;
//! - after each sync, the pod's status (see [`crate::status`]) when it changed, and the Events
//!   `kubectl describe` shows (Pulling, Pulled, Created, Started, Killing, BackOff, ...).
//!
//! A worker wakes on a change of its pod, on a runtime change seen by the relister, on a
//! probe result, at the end of a back-off, and every `resync` in any case.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use barge_client::events::{Recorder, Type, reference};
use k8s_cri::v1::{
    ContainerConfig, CreateContainerRequest, ImageSpec, ImageStatusRequest, KeyValue,
    PodSandboxConfig, PullImageRequest, RemovePodSandboxRequest, RunPodSandboxRequest,
    StartContainerRequest, StopContainerRequest, StopPodSandboxRequest,
};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodStatus, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use serde_json::json;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::cri::{ContainerInfo, Cri, CriExec, PodRuntime, Relister};
use crate::objects::{PodObjects, referenced};
use crate::probe::{ProbeEvent, ProbeEventKind, ProbeKind, ProbeResult};
use crate::status::{Known, Waiting, pod_status};
use crate::{probe, spec, volumes};

/// How the pod workers behave.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_name: String,
    pub host_ip: String,
    /// Where pod volumes live (`<root>/<pod-uid>/volumes/...`).
    pub volumes_root: PathBuf,
    pub node: spec::NodeContext,
    /// What volumes need to know about the node.
    pub volume_host: volumes::VolumeHost,
    pub backoff: spec::BackoffConfig,
    /// How often the runtime is relisted.
    pub relist_period: Duration,
    /// How often every pod is synced even when nothing seemed to change.
    pub resync_period: Duration,
}

/// One pod's worker state.
struct Worker {
    /// The pod as the API server last showed it; `None` once it is gone from the API.
    pod: Option<Arc<Pod>>,
    notify: Arc<Notify>,
    /// Why containers wait, when the kubelet holds them back.
    waiting: HashMap<String, Waiting>,
    /// The last status written (to write only changes).
    last_status: Option<PodStatus>,
    /// When to sync again at the latest (a back-off ending).
    wake_at: Option<Instant>,
}

/// The kubelet's pod side, shared by the workers and the loops feeding them.
pub struct Kubelet {
    client: kube::Client,
    cri: Cri,
    config: Config,
    relister: tokio::sync::Mutex<Relister>,
    workers: Mutex<HashMap<String, Worker>>,
    backoff: Mutex<spec::Backoff>,
    probes: probe::Manager<CriExec>,
    exec: Arc<CriExec>,
    recorder: Recorder,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet")
            .field("node", &self.config.node_name)
            .finish_non_exhaustive()
    }
}

/// Whether a container that exited with `exit_code` runs again under `policy`.
fn should_restart(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// The upstream `name_namespace(uid)` form of a pod in messages.
fn pod_desc(pod: &Pod) -> String {
    spec::format_pod(pod)
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// The pull policy upstream defaults to: Always for `:latest` or no tag, else IfNotPresent.
fn pull_policy(c: &Container) -> &str {
    if let Some(p) = c.image_pull_policy.as_deref() {
        return p;
    }
    let image = c.image.as_deref().unwrap_or_default();
    let name = image.split('@').next().unwrap_or(image);
    let tag = name.rsplit_once(':').filter(|(_, t)| !t.contains('/'));
    match tag {
        Some((_, "latest")) | None if !image.contains('@') => "Always",
        _ => "IfNotPresent",
    }
}

impl Kubelet {
    pub fn new(
        client: kube::Client,
        cri: Cri,
        config: Config,
        probes: probe::Manager<CriExec>,
        exec: Arc<CriExec>,
        recorder: Recorder,
    ) -> Arc<Self> {
        let backoff = spec::Backoff::new(config.backoff);
        Arc::new(Self {
            client,
            cri,
            config,
            relister: tokio::sync::Mutex::default(),
            workers: Mutex::default(),
            backoff: Mutex::new(backoff),
            probes,
            exec,
            recorder,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Worker>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pod (or its absence) changed in the API: update its worker, starting one if needed.
    pub fn pod_changed(self: &Arc<Self>, uid: &str, pod: Option<Arc<Pod>>) {
        let mut workers = self.lock();
        if let Some(w) = workers.get_mut(uid) {
            w.pod = pod;
            w.notify.notify_one();
            return;
        }
        let notify = Arc::new(Notify::new());
        notify.notify_one();
        workers.insert(
            uid.to_owned(),
            Worker {
                pod,
                notify: notify.clone(),
                waiting: HashMap::new(),
                last_status: None,
                wake_at: None,
            },
        );
        drop(workers);
        tokio::spawn(self.clone().work(uid.to_owned(), notify));
    }

    /// The uids of the pods the kubelet has workers for.
    pub fn pod_uids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Wakes the worker of a pod, if it has one.
    pub fn poke(&self, uid: &str) {
        if let Some(w) = self.lock().get(uid) {
            w.notify.notify_one();
        }
    }

    /// Relists the runtime every `relist_period`, waking the workers of pods whose runtime
    /// state changed and starting workers for pods the runtime has but the kubelet does not
    /// know (left from before a restart: their workers clean them up if the API has no pod).
    pub async fn relist_loop(self: Arc<Self>) {
        loop {
            match self.relist().await {
                Ok(changed) => {
                    for uid in changed {
                        let known = self.lock().contains_key(&uid);
                        if known {
                            self.poke(&uid);
                        } else {
                            self.adopt_orphan(&uid).await;
                        }
                    }
                }
                Err(e) => warn!(error = %format!("{e:#}"), "relisting the runtime failed"),
            }
            tokio::time::sleep(self.config.relist_period).await;
        }
    }

    /// A pod the runtime runs but no worker has: look it up in the API (it may have been
    /// deleted while the kubelet was down) and start its worker either way.
    async fn adopt_orphan(self: &Arc<Self>, uid: &str) {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let selector = format!("spec.nodeName={}", self.config.node_name);
        let pod = match pods.list(&ListParams::default().fields(&selector)).await {
            Ok(list) => list
                .items
                .into_iter()
                .find(|p| p.metadata.uid.as_deref() == Some(uid)),
            Err(e) => {
                warn!(error = %e, "cannot list this node's pods");
                return;
            }
        };
        self.pod_changed(uid, pod.map(Arc::new));
    }

    async fn relist(&self) -> Result<std::collections::HashSet<String>> {
        let mut cri = self.cri.clone();
        self.relister.lock().await.relist(&mut cri).await
    }

    async fn runtime(&self, uid: &str) -> PodRuntime {
        self.relister.lock().await.pod(uid)
    }

    /// The worker of one pod: sync on every wake-up until the pod is gone from the API and
    /// from the runtime.
    async fn work(self: Arc<Self>, uid: String, notify: Arc<Notify>) {
        loop {
            let wake_at = self.lock().get(&uid).and_then(|w| w.wake_at);
            let resync = Instant::now() + self.config.resync_period;
            let deadline = wake_at.map_or(resync, |w| w.min(resync));
            tokio::select! {
                () = notify.notified() => {}
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
            let pod = match self.lock().get_mut(&uid) {
                Some(w) => {
                    w.wake_at = None;
                    w.pod.clone()
                }
                None => return,
            };
            let done = match &pod {
                None => self.clean_up(&uid).await,
                Some(pod) if pod.metadata.deletion_timestamp.is_some() => self.terminate(pod).await,
                Some(pod) => {
                    if let Err(e) = Box::pin(self.sync(pod)).await {
                        warn!(pod = %pod_desc(pod), error = %format!("{e:#}"), "sync failed");
                        self.wake_in(&uid, Duration::from_secs(2));
                    }
                    false
                }
            };
            if done {
                let mut workers = self.lock();
                // A pod that came back (same uid: only a watch replay) keeps its worker.
                if workers
                    .get(&uid)
                    .is_some_and(|w| w.pod.is_none() || pod.is_some())
                {
                    workers.remove(&uid);
                    return;
                }
            }
        }
    }

    /// Whether the liveness or startup probe of a running container failed (it must restart).
    fn probe_failed(&self, container_id: &str) -> Option<ProbeKind> {
        let id = format!("containerd://{container_id}");
        [ProbeKind::Liveness, ProbeKind::Startup]
            .into_iter()
            .find(|kind| self.probes.result(*kind, &id) == Some(ProbeResult::Failure))
    }

    /// A probe result or event: record the event, and sync the pod (its readiness changed, or
    /// a container must restart).
    pub async fn probe_event(&self, event: ProbeEvent) {
        if let ProbeEventKind::Event { reason, message } = &event.what {
            let pod = self.lock().get(&event.pod_uid).and_then(|w| w.pod.clone());
            if let Some(pod) = pod {
                self.event(&pod, Some(&event.container), Type::Warning, reason, message)
                    .await;
            }
            return;
        }
        self.poke(&event.pod_uid);
    }

    fn wake_in(&self, uid: &str, after: Duration) {
        if let Some(w) = self.lock().get_mut(uid) {
            let at = Instant::now() + after;
            w.wake_at = Some(w.wake_at.map_or(at, |old| old.min(at)));
        }
    }

    fn set_waiting(&self, uid: &str, container: &str, reason: &str, message: String) {
        if let Some(w) = self.lock().get_mut(uid) {
            w.waiting.insert(
                container.to_owned(),
                Waiting {
                    reason: reason.to_owned(),
                    message,
                },
            );
        }
    }

    fn clear_waiting(&self, uid: &str, container: &str) {
        if let Some(w) = self.lock().get_mut(uid) {
            w.waiting.remove(container);
        }
    }

    async fn event(&self, pod: &Pod, container: Option<&str>, kind: Type, reason: &str, msg: &str) {
        let mut object = reference(pod);
        if let Some(c) = container {
            let spec = pod.spec.as_ref();
            let init = spec
                .and_then(|s| s.init_containers.as_ref())
                .is_some_and(|l| l.iter().any(|i| i.name == c));
            let list = if init { "initContainers" } else { "containers" };
            object.field_path = Some(format!("spec.{list}{{{c}}}"));
        }
        self.recorder.publish_ref(object, kind, reason, msg).await;
    }

    /// Fetches what the pod refers to. Missing objects are simply absent (the spec and volume
    /// code words the errors).
    async fn objects(&self, pod: &Pod) -> Result<PodObjects> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let (config_maps, secrets) = referenced(pod);
        let mut objects = PodObjects::default();
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        for name in config_maps {
            if let Some(cm) = cms.get_opt(&name).await.context("reading a ConfigMap")? {
                objects.config_maps.insert(name, cm);
            }
        }
        let ss: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        for name in secrets {
            if let Some(s) = ss.get_opt(&name).await.context("reading a Secret")? {
                objects.secrets.insert(name, s);
            }
        }
        let links = pod.spec.as_ref().and_then(|s| s.enable_service_links) != Some(false);
        let services: Api<Service> = Api::namespaced(self.client.clone(), ns);
        if links {
            objects.services = services.list(&ListParams::default()).await?.items;
        }
        if ns != "default" || !links {
            let default: Api<Service> = Api::namespaced(self.client.clone(), "default");
            if let Some(k) = default.get_opt("kubernetes").await? {
                objects.services.push(k);
            }
        }
        let sa = pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".to_owned());
        for request in volumes::token_requests(pod) {
            let token = self.token(ns, &sa, pod, &request).await?;
            objects
                .tokens
                .insert((request.volume.clone(), request.path.clone()), token);
        }
        let root_ca: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        objects.root_ca = root_ca
            .get_opt("kube-root-ca.crt")
            .await
            .ok()
            .flatten()
            .and_then(|cm| cm.data?.get("ca.crt").cloned());
        Ok(objects)
    }

    /// A bound ServiceAccount token for a projected volume (TokenRequest).
    async fn token(
        &self,
        ns: &str,
        sa: &str,
        pod: &Pod,
        request: &volumes::TokenRequestSpec,
    ) -> Result<String> {
        let body = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": request.audience.iter().collect::<Vec<_>>(),
                "expirationSeconds": request.expiration_seconds,
                "boundObjectRef": {
                    "apiVersion": "v1", "kind": "Pod",
                    "name": pod.metadata.name, "uid": pod.metadata.uid,
                }
            }
        });
        let url = format!("/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token");
        let req = http::Request::post(url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body)?)?;
        let resp: serde_json::Value = self
            .client
            .request(req)
            .await
            .with_context(|| format!("requesting a token for serviceaccount {ns}/{sa}"))?;
        resp["status"]["token"]
            .as_str()
            .map(str::to_owned)
            .context("TokenRequest returned no token")
    }

    /// One sync of a live pod.
    async fn sync(&self, pod: &Pod) -> Result<()> {
        let uid = uid_of(pod);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            // Finished for good: make sure nothing runs; the status stays as it is.
            let runtime = self.runtime(&uid).await;
            self.stop_pod(pod, &runtime, Some(0)).await;
            return Ok(());
        }
        let objects = self.objects(pod).await?;
        let mut runtime = self.runtime(&uid).await;
        let pod_ips: Vec<String> = runtime
            .ready_sandbox()
            .and_then(|s| s.ip.clone())
            .into_iter()
            .collect();
        let root = &self.config.volumes_root;
        let host = &self.config.volume_host;
        let prepared = match volumes::prepare_with(root, pod, &objects, &pod_ips, host) {
            Ok(p) => p,
            Err(volumes::VolumeError::SetUp(failures)) => {
                for failure in failures {
                    let msg = failure.to_string();
                    self.event(pod, None, Type::Warning, "FailedMount", &msg)
                        .await;
                }
                self.wake_in(&uid, Duration::from_secs(2));
                return self.write_status(pod).await;
            }
            Err(e) => return Err(e.into()),
        };
        if self.all_done(pod, &runtime) {
            return self.write_status(pod).await;
        }
        let sandbox = match runtime.ready_sandbox() {
            Some(s) => s.clone(),
            None => {
                self.stop_pod(pod, &runtime, Some(0)).await;
                let attempt = runtime.sandboxes.first().map_or(0, |s| s.attempt + 1);
                if let Err(e) = self.run_sandbox(pod, attempt).await {
                    let msg = format!("Failed to create pod sandbox: {e:#}");
                    self.event(pod, None, Type::Warning, "FailedCreatePodSandBox", &msg)
                        .await;
                    self.wake_in(&uid, Duration::from_secs(5));
                    return self.write_status(pod).await;
                }
                self.relist().await?;
                runtime = self.runtime(&uid).await;
                match runtime.ready_sandbox() {
                    Some(s) => s.clone(),
                    None => anyhow::bail!("the new sandbox is not ready"),
                }
            }
        };
        let pod_ips: Vec<String> = sandbox.ip.clone().into_iter().collect();
        let sandbox_config = spec::sandbox_config(pod, &self.config.node, sandbox.attempt)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let started = self
            .start_containers(
                pod,
                &runtime,
                &sandbox.id,
                &sandbox_config,
                &objects,
                &prepared,
                &pod_ips,
            )
            .await;
        if started {
            self.relist().await?;
        }
        self.remove_dead_containers(&self.runtime(&uid).await).await;
        self.probes.add_pod(pod);
        self.write_status(pod).await
    }

    /// Removes exited containers beyond the newest two of each name (the current and the
    /// previous run, for `kubectl logs --previous`), as upstream's container GC keeps a few.
    async fn remove_dead_containers(&self, runtime: &PodRuntime) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut cri = self.cri.clone();
        for c in &runtime.containers {
            let n = seen.entry(c.name.as_str()).or_default();
            *n += 1;
            if *n > 2 && c.exited() {
                let request = k8s_cri::v1::RemoveContainerRequest {
                    container_id: c.id.clone(),
                };
                if let Err(e) = cri.runtime.remove_container(request).await {
                    debug!(container = %c.id, error = %e.message(), "RemoveContainer failed");
                }
            }
        }
    }

    /// Whether the pod has run to its end (no container will run again).
    fn all_done(&self, pod: &Pod, runtime: &PodRuntime) -> bool {
        let Some(spec) = &pod.spec else { return true };
        let policy = spec.restart_policy.as_deref().unwrap_or("Always");
        policy != "Always"
            && spec.containers.iter().all(|c| {
                runtime
                    .latest(&c.name)
                    .is_some_and(|l| l.exited() && !should_restart(policy, l.exit_code))
            })
    }

    async fn run_sandbox(&self, pod: &Pod, attempt: u32) -> Result<()> {
        let config = spec::sandbox_config(pod, &self.config.node, attempt)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut cri = self.cri.clone();
        cri.runtime
            .run_pod_sandbox(RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: String::new(),
            })
            .await
            .context("RunPodSandbox")?;
        Ok(())
    }

    /// Starts what should run next: the first unfinished init container, else every container
    /// that is not running and may (re)start. Returns whether anything was started or killed.
    #[allow(clippy::too_many_arguments)]
    async fn start_containers(
        &self,
        pod: &Pod,
        runtime: &PodRuntime,
        sandbox_id: &str,
        sandbox_config: &PodSandboxConfig,
        objects: &PodObjects,
        prepared: &volumes::PreparedVolumes,
        pod_ips: &[String],
    ) -> bool {
        let Some(spec) = &pod.spec else { return false };
        let policy = spec.restart_policy.as_deref().unwrap_or("Always");
        // Containers of an earlier sandbox do not count as running in this one.
        let current = |name: &str| {
            runtime
                .latest(name)
                .filter(|c| c.sandbox_id == sandbox_id)
                .cloned()
        };
        let ctx = StartContext {
            pod,
            sandbox_id,
            sandbox_config,
            objects,
            prepared,
            pod_ips,
        };
        for c in spec.init_containers.iter().flatten() {
            match current(&c.name) {
                Some(l) if l.exited() && l.exit_code == 0 => continue,
                Some(l) if l.running() => return false,
                Some(l) if l.exited() && policy == "Never" => return false,
                latest => {
                    let previous = latest.or_else(|| runtime.latest(&c.name).cloned());
                    return Box::pin(self.start(&ctx, c, previous.as_ref())).await;
                }
            }
        }
        let mut changed = false;
        for c in &spec.containers {
            let latest = current(&c.name);
            match &latest {
                Some(l) if l.running() => {
                    if let Some(kind) = self.probe_failed(&l.id) {
                        let msg = format!(
                            "Container {} failed {} probe, will be restarted",
                            c.name,
                            kind.to_string().to_lowercase()
                        );
                        self.event(pod, Some(&c.name), Type::Normal, "Killing", &msg)
                            .await;
                        Box::pin(self.kill_container(pod, c, l, None)).await;
                        changed = true;
                    }
                    continue;
                }
                Some(l) if l.exited() && !should_restart(policy, l.exit_code) => continue,
                Some(l) if !l.exited() => continue, // created, not started yet
                _ => {}
            }
            let previous = latest.or_else(|| runtime.latest(&c.name).cloned());
            changed |= Box::pin(self.start(&ctx, c, previous.as_ref())).await;
        }
        changed
    }

    /// Starts one container (pull, create, start, postStart), honouring the back-off after a
    /// previous run. Records why it waits when it cannot.
    async fn start(
        &self,
        ctx: &StartContext<'_>,
        c: &Container,
        previous: Option<&ContainerInfo>,
    ) -> bool {
        let pod = ctx.pod;
        let uid = uid_of(pod);
        let now = Instant::now();
        if let Some(prev) = previous.filter(|p| p.exited()) {
            let key = spec::backoff_key(pod, c);
            let finished = instant_of(prev.finished_at, now);
            let held = {
                let mut backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
                match backoff.in_backoff_since(&key, finished, now) {
                    Some(remaining) => Some((
                        remaining,
                        spec::backoff_message(backoff.get(&key), &c.name, pod),
                    )),
                    None => {
                        backoff.next(&key, finished, now);
                        None
                    }
                }
            };
            if let Some((remaining, msg)) = held {
                self.set_waiting(&uid, &c.name, "CrashLoopBackOff", msg);
                let event = format!(
                    "Back-off restarting failed container {} in pod {}",
                    c.name,
                    pod_desc(pod)
                );
                self.event(pod, Some(&c.name), Type::Warning, "BackOff", &event)
                    .await;
                self.wake_in(&uid, remaining);
                return false;
            }
        }
        let restart_count = previous.map_or(0, |p| p.restart_count + 1);
        let Some(image) = self.ensure_image(pod, c).await else {
            return false;
        };
        let run = spec::RunInfo {
            pod_ips: ctx.pod_ips.to_vec(),
            image_ref: image.id.clone(),
            image_user: spec::ImageUser::from_image(&image),
        };
        let env = match spec::env::make_environment(
            pod,
            c,
            ctx.objects,
            &self.config.node,
            ctx.pod_ips,
        ) {
            Ok(env) => env,
            Err(e) => {
                self.fail_config(pod, c, &e.to_string()).await;
                return false;
            }
        };
        let env: Vec<KeyValue> = env
            .into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect();
        let mounts = match volumes::mounts(pod, c, ctx.prepared, &env) {
            Ok(m) => m,
            Err(e) => {
                self.fail_config(pod, c, &e.to_string()).await;
                return false;
            }
        };
        let config: ContainerConfig = match spec::container_config(
            pod,
            c,
            ctx.objects,
            &self.config.node,
            mounts,
            restart_count,
            &run,
        ) {
            Ok(config) => config,
            Err(e) => {
                self.fail_config(pod, c, &e.to_string()).await;
                return false;
            }
        };
        let mut cri = self.cri.clone();
        let created = cri
            .runtime
            .create_container(CreateContainerRequest {
                pod_sandbox_id: ctx.sandbox_id.to_owned(),
                config: Some(config),
                sandbox_config: Some(ctx.sandbox_config.clone()),
            })
            .await;
        let id = match created {
            Ok(r) => r.into_inner().container_id,
            Err(e) => {
                let msg = e.message().to_owned();
                self.set_waiting(&uid, &c.name, "CreateContainerError", msg.clone());
                self.event(
                    pod,
                    Some(&c.name),
                    Type::Warning,
                    "Failed",
                    &format!("Error: {msg}"),
                )
                .await;
                self.wake_in(&uid, Duration::from_secs(2));
                return false;
            }
        };
        let created_msg = format!("Created container: {}", c.name);
        self.event(pod, Some(&c.name), Type::Normal, "Created", &created_msg)
            .await;
        if let Err(e) = cri
            .runtime
            .start_container(StartContainerRequest {
                container_id: id.clone(),
            })
            .await
        {
            let msg = e.message().to_owned();
            self.set_waiting(&uid, &c.name, "RunContainerError", msg.clone());
            self.event(
                pod,
                Some(&c.name),
                Type::Warning,
                "Failed",
                &format!("Error: {msg}"),
            )
            .await;
            return true;
        }
        self.clear_waiting(&uid, &c.name);
        let started_msg = format!("Started container {}", c.name);
        self.event(pod, Some(&c.name), Type::Normal, "Started", &started_msg)
            .await;
        if let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
            let pod_ip = ctx.pod_ips.first().map_or("", String::as_str);
            let target = probe::Target::new(pod, c, &id, pod_ip);
            if let Err(message) = probe::run_handler(hook, &target, self.exec.as_ref()).await {
                warn!(pod = %pod_desc(pod), container = %c.name, %message, "postStart hook failed");
                let msg = "PostStartHook failed";
                self.event(
                    pod,
                    Some(&c.name),
                    Type::Warning,
                    "FailedPostStartHook",
                    msg,
                )
                .await;
                let info = ContainerInfo {
                    id,
                    ..previous.cloned().unwrap_or_else(|| empty_info(&c.name))
                };
                Box::pin(self.kill_container(pod, c, &info, Some(0))).await;
            }
        }
        true
    }

    async fn fail_config(&self, pod: &Pod, c: &Container, message: &str) {
        let uid = uid_of(pod);
        self.set_waiting(
            &uid,
            &c.name,
            "CreateContainerConfigError",
            message.to_owned(),
        );
        self.event(
            pod,
            Some(&c.name),
            Type::Warning,
            "Failed",
            &format!("Error: {message}"),
        )
        .await;
        self.wake_in(&uid, Duration::from_secs(2));
    }

    /// The image as the runtime has it, if present.
    async fn image_status(&self, image: &str) -> Option<k8s_cri::v1::Image> {
        let mut cri = self.cri.clone();
        let spec = ImageSpec {
            image: image.to_owned(),
            ..ImageSpec::default()
        };
        cri.images
            .image_status(ImageStatusRequest {
                image: Some(spec),
                verbose: false,
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().image)
    }

    /// Makes sure the container's image is there, pulling it as its pull policy says, and
    /// returns it; `None` (with the reason recorded) when it is not there.
    async fn ensure_image(&self, pod: &Pod, c: &Container) -> Option<k8s_cri::v1::Image> {
        let uid = uid_of(pod);
        let image = c.image.clone().unwrap_or_default();
        let policy = pull_policy(c);
        let present = self.image_status(&image).await;
        if let Some(found) = present.clone().filter(|_| policy != "Always") {
            let msg = format!("Container image \"{image}\" already present on machine");
            self.event(pod, Some(&c.name), Type::Normal, "Pulled", &msg)
                .await;
            return Some(found);
        }
        if present.is_none() && policy == "Never" {
            let msg =
                format!("Container image \"{image}\" is not present with pull policy of Never");
            self.set_waiting(&uid, &c.name, "ErrImageNeverPull", msg.clone());
            self.event(pod, Some(&c.name), Type::Warning, "ErrImageNeverPull", &msg)
                .await;
            self.wake_in(&uid, Duration::from_secs(5));
            return None;
        }
        let key = format!("{}/image", spec::backoff_key(pod, c));
        let held = self
            .backoff
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .in_backoff(&key, Instant::now());
        if let Some(remaining) = held {
            let msg = format!("Back-off pulling image \"{image}\"");
            self.set_waiting(&uid, &c.name, "ImagePullBackOff", msg.clone());
            self.event(pod, Some(&c.name), Type::Normal, "BackOff", &msg)
                .await;
            self.event(
                pod,
                Some(&c.name),
                Type::Warning,
                "Failed",
                "Error: ImagePullBackOff",
            )
            .await;
            self.wake_in(&uid, remaining);
            return None;
        }
        let msg = format!("Pulling image \"{image}\"");
        self.event(pod, Some(&c.name), Type::Normal, "Pulling", &msg)
            .await;
        let start = Instant::now();
        let mut cri = self.cri.clone();
        let spec = ImageSpec {
            image: image.clone(),
            ..ImageSpec::default()
        };
        let pulled = cri
            .images
            .pull_image(PullImageRequest {
                image: Some(spec),
                auth: None,
                sandbox_config: None,
            })
            .await;
        let found = match pulled {
            Ok(_) => self.image_status(&image).await,
            Err(e) => {
                let msg = format!("Failed to pull image \"{image}\": {}", e.message());
                self.event(pod, Some(&c.name), Type::Warning, "Failed", &msg)
                    .await;
                self.event(
                    pod,
                    Some(&c.name),
                    Type::Warning,
                    "Failed",
                    "Error: ErrImagePull",
                )
                .await;
                self.set_waiting(&uid, &c.name, "ErrImagePull", msg);
                let delay = self
                    .backoff
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .next_delay(&key, Instant::now());
                self.wake_in(&uid, delay);
                return None;
            }
        };
        let took = spec::names::go_duration(start.elapsed());
        let size = found.as_ref().map_or(0, |i| i.size);
        let msg = format!(
            "Successfully pulled image \"{image}\" in {took} ({took} including waiting). Image size: {size} bytes."
        );
        self.event(pod, Some(&c.name), Type::Normal, "Pulled", &msg)
            .await;
        self.backoff
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reset(&key);
        found
    }

    /// Stops one container: its preStop hook, then SIGTERM and SIGKILL after the grace period
    /// (the pod's `terminationGracePeriodSeconds` unless `grace` overrides it).
    async fn kill_container(
        &self,
        pod: &Pod,
        c: &Container,
        info: &ContainerInfo,
        grace: Option<i64>,
    ) {
        let grace = grace.unwrap_or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
                .unwrap_or(30)
        });
        let deadline = Instant::now() + Duration::from_secs(u64::try_from(grace).unwrap_or(0));
        if let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref())
            && grace > 0
        {
            let pod_ip = pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .unwrap_or_default();
            let target = probe::Target::new(pod, c, &info.id, &pod_ip);
            let hook_run = Box::pin(probe::run_handler(hook, &target, self.exec.as_ref()));
            // A hook still running at the end of the grace period is abandoned.
            if let Ok(Err(message)) = tokio::time::timeout_at(deadline.into(), hook_run).await {
                let msg = format!("PreStopHook failed: {message}");
                self.event(pod, Some(&c.name), Type::Warning, "FailedPreStopHook", &msg)
                    .await;
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now()).as_secs();
        let mut cri = self.cri.clone();
        if let Err(e) = cri
            .runtime
            .stop_container(StopContainerRequest {
                container_id: info.id.clone(),
                timeout: i64::try_from(remaining).unwrap_or(0),
            })
            .await
        {
            warn!(container = %info.id, error = %e.message(), "StopContainer failed");
        }
    }

    /// Stops every running container of the pod (in parallel, each with its grace period) and
    /// its sandboxes.
    async fn stop_pod(&self, pod: &Pod, runtime: &PodRuntime, grace: Option<i64>) {
        let spec_containers: Vec<&Container> = pod
            .spec
            .iter()
            .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
            .collect();
        let kills = runtime.running().map(|info| {
            let fallback;
            let c = match spec_containers.iter().find(|c| c.name == info.name) {
                Some(c) => *c,
                None => {
                    fallback = Container {
                        name: info.name.clone(),
                        ..Container::default()
                    };
                    &fallback
                }
            };
            let c = c.clone();
            async move {
                // A pod already gone from the API (a placeholder here) gets no event.
                if pod.metadata.uid.is_some() {
                    let msg = format!("Stopping container {}", c.name);
                    self.event(pod, Some(&c.name), Type::Normal, "Killing", &msg)
                        .await;
                }
                Box::pin(self.kill_container(pod, &c, info, grace)).await;
            }
        });
        futures_util::future::join_all(kills).await;
        let mut cri = self.cri.clone();
        for s in runtime.sandboxes.iter().filter(|s| s.ready) {
            if let Err(e) = cri
                .runtime
                .stop_pod_sandbox(StopPodSandboxRequest {
                    pod_sandbox_id: s.id.clone(),
                })
                .await
            {
                warn!(sandbox = %s.id, error = %e.message(), "StopPodSandbox failed");
            }
        }
    }

    /// Removes everything the runtime and the disk hold for a pod.
    async fn remove_pod(&self, uid: &str, runtime: &PodRuntime) {
        let mut cri = self.cri.clone();
        for s in &runtime.sandboxes {
            if let Err(e) = cri
                .runtime
                .remove_pod_sandbox(RemovePodSandboxRequest {
                    pod_sandbox_id: s.id.clone(),
                })
                .await
            {
                warn!(sandbox = %s.id, error = %e.message(), "RemovePodSandbox failed");
            }
        }
        if let Err(e) = volumes::cleanup(&self.config.volumes_root, uid) {
            warn!(pod = uid, error = %e, "cleaning up the pod's volumes failed");
        }
        crate::cgroups::remove_pod(&self.config.node.cgroup_root, uid);
        self.probes.remove_pod(uid);
        self.backoff
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .gc(Instant::now());
    }

    /// A pod being deleted: stop it within its grace period, write the final status, remove
    /// its sandbox and volumes, then delete the object (grace 0) so it is gone from the API.
    /// Returns true when the pod is gone.
    async fn terminate(&self, pod: &Pod) -> bool {
        let uid = uid_of(pod);
        let grace = pod.metadata.deletion_grace_period_seconds;
        let runtime = self.runtime(&uid).await;
        self.stop_pod(pod, &runtime, grace).await;
        if let Err(e) = self.relist().await {
            warn!(error = %format!("{e:#}"), "relisting the runtime failed");
        }
        let runtime = self.runtime(&uid).await;
        if runtime.running().next().is_some() {
            self.wake_in(&uid, Duration::from_secs(1));
            return false;
        }
        if let Err(e) = self.write_status(pod).await {
            debug!(error = %format!("{e:#}"), "final status not written");
        }
        self.remove_pod(&uid, &runtime).await;
        let pods: Api<Pod> = Api::namespaced(
            self.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        );
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match pods
            .delete(pod.metadata.name.as_deref().unwrap_or_default(), &params)
            .await
        {
            Ok(_) => true,
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => true,
            Err(e) => {
                warn!(pod = %pod_desc(pod), error = %e, "deleting the pod failed");
                self.wake_in(&uid, Duration::from_secs(1));
                false
            }
        }
    }

    /// A pod gone from the API (deleted at once, or while the kubelet was down): kill what
    /// is left of it now. Returns true when nothing is left.
    async fn clean_up(&self, uid: &str) -> bool {
        let runtime = self.runtime(uid).await;
        if runtime.sandboxes.is_empty() && runtime.containers.is_empty() {
            if let Err(e) = volumes::cleanup(&self.config.volumes_root, uid) {
                warn!(pod = uid, error = %e, "cleaning up the pod's volumes failed");
            }
            self.probes.remove_pod(uid);
            return true;
        }
        info!(pod = uid, "removing the containers of a pod that is gone");
        let placeholder = Pod::default();
        self.stop_pod(&placeholder, &runtime, Some(0)).await;
        self.remove_pod(uid, &runtime).await;
        if let Err(e) = self.relist().await {
            warn!(error = %format!("{e:#}"), "relisting the runtime failed");
        }
        self.runtime(uid).await.sandboxes.is_empty()
    }

    /// Computes the pod's status and writes it when it changed.
    async fn write_status(&self, pod: &Pod) -> Result<()> {
        let uid = uid_of(pod);
        let runtime = self.runtime(&uid).await;
        let waiting = self
            .lock()
            .get(&uid)
            .map(|w| w.waiting.clone())
            .unwrap_or_default();
        let mut known = Known {
            waiting,
            host_ip: Some(&self.config.host_ip),
            qos_class: Some(spec::qos_class(pod)),
            ..Known::default()
        };
        let last = self.lock().get(&uid).and_then(|w| w.last_status.clone());
        // Conditions keep their transition times from the last status this kubelet wrote.
        let mut base = pod.clone();
        if let Some(last) = &last {
            base.status = Some(last.clone());
        }
        let now = Time(Timestamp::now());
        // Readiness and startup come from the probes, which read the containers' states from
        // the status: compute it, let the probes mark it, then compute it with their verdicts.
        let mut status = pod_status(&base, &runtime, &known, &now);
        self.probes.update_pod_status(pod, &mut status);
        for cs in status.container_statuses.iter().flatten() {
            known.ready.insert(cs.name.clone(), cs.ready);
            known
                .started
                .insert(cs.name.clone(), cs.started == Some(true));
        }
        let mut status = pod_status(&base, &runtime, &known, &now);
        self.probes.update_pod_status(pod, &mut status);
        if last.as_ref() == Some(&status) && pod.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let pods: Api<Pod> = Api::namespaced(
            self.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        );
        let patch = json!({"status": status});
        pods.patch_status(
            pod.metadata.name.as_deref().unwrap_or_default(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .context("writing the pod status")?;
        if let Some(w) = self.lock().get_mut(&uid) {
            w.last_status = Some(status);
        }
        Ok(())
    }
}

impl crate::server::Host for Kubelet {
    fn node_name(&self) -> String {
        self.config.node_name.clone()
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        let workers = self.lock();
        workers.values().find_map(|w| {
            let pod = w.pod.as_ref()?;
            let matches = pod.metadata.namespace.as_deref() == Some(namespace)
                && pod.metadata.name.as_deref() == Some(name);
            matches.then(|| Pod {
                status: w.last_status.clone().or_else(|| pod.status.clone()),
                ..Pod::clone(pod)
            })
        })
    }

    fn runtime(
        &self,
    ) -> k8s_cri::v1::runtime_service_client::RuntimeServiceClient<tonic::transport::Channel> {
        self.cri.runtime.clone()
    }
}

/// What starting a container of a pod needs, besides the container.
struct StartContext<'a> {
    pod: &'a Pod,
    sandbox_id: &'a str,
    sandbox_config: &'a PodSandboxConfig,
    objects: &'a PodObjects,
    prepared: &'a volumes::PreparedVolumes,
    pod_ips: &'a [String],
}

fn empty_info(name: &str) -> ContainerInfo {
    ContainerInfo {
        id: String::new(),
        sandbox_id: String::new(),
        name: name.to_owned(),
        attempt: 0,
        restart_count: 0,
        state: k8s_cri::v1::ContainerState::ContainerUnknown,
        created_at: 0,
        started_at: 0,
        finished_at: 0,
        exit_code: 0,
        reason: String::new(),
        message: String::new(),
        image: String::new(),
        image_ref: String::new(),
    }
}

/// The `Instant` of a CRI wall-clock time (nanoseconds since the epoch), given `now`.
fn instant_of(nanos: i64, now: Instant) -> Instant {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let ago = wall.saturating_sub(u128::try_from(nanos).unwrap_or(0));
    now.checked_sub(Duration::from_nanos(u64::try_from(ago).unwrap_or(u64::MAX)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        assert!(should_restart("Always", 0));
        assert!(should_restart("Always", 1));
        assert!(!should_restart("OnFailure", 0));
        assert!(should_restart("OnFailure", 2));
        assert!(!should_restart("Never", 1));
    }

    #[test]
    fn pull_policy_defaults() {
        let c = |image: &str| Container {
            image: Some(image.into()),
            ..Container::default()
        };
        assert_eq!(pull_policy(&c("busybox")), "Always");
        assert_eq!(pull_policy(&c("busybox:latest")), "Always");
        assert_eq!(pull_policy(&c("busybox:1.35")), "IfNotPresent");
        assert_eq!(pull_policy(&c("localhost:5000/busybox")), "Always");
        assert_eq!(pull_policy(&c("localhost:5000/busybox:v1")), "IfNotPresent");
        assert_eq!(pull_policy(&c("busybox@sha256:abcd")), "IfNotPresent");
        let never = Container {
            image_pull_policy: Some("Never".into()),
            ..c("busybox")
        };
        assert_eq!(pull_policy(&never), "Never");
    }
}
