//! The HorizontalPodAutoscaler controller (upstream `pkg/controller/podautoscaler`): sizes each
//! HPA's target from the resource usage of its pods.
//!
//! Each `autoscaling/v2` HPA (v1 ones are converted by the API server) is reconciled when its
//! spec changes and every sync period (15 s):
//! 1. the target (`spec.scaleTargetRef`) is mapped to its resource (Deployments, ReplicaSets,
//!    StatefulSets and ReplicationControllers directly, anything else through discovery) and
//!    its `scale` subresource read: the current replicas and the pods' label selector;
//! 2. each metric proposes a count ([`replicas`]): `Resource` and `ContainerResource` metrics
//!    (cpu, memory; `Utilization` of the pods' requests or `AverageValue`) from the
//!    `metrics.k8s.io` PodMetrics ([`metrics`]) and the pods in the informer; the largest
//!    proposal wins;
//! 3. the proposal is normalized ([`behavior`]): stabilization windows, the scale-up limit or
//!    `spec.behavior`'s policies, min/max replicas; a target at 0 replicas is left alone;
//! 4. a new count is written with a merge patch of the `scale` subresource, and the status
//!    (current/desired replicas, current metrics, the AbleToScale, ScalingActive and
//!    ScalingLimited conditions with upstream's reasons and messages) when it changed; Events
//!    (`SuccessfulRescale`, `FailedGetScale`, `FailedGetResourceMetric`,
//!    `FailedComputeMetricsReplicas`, ...) tell the story in `kubectl describe hpa`.
//!
//! The scale subresource, the pod metrics and discovery are read through a [`Source`]
//! ([`KubeSource`] over the API; a fake in the tests).
//!
//! Not supported: `Pods`, `Object` and `External` metrics (there is no custom or external
//! metrics API): they fail as upstream's do without such an API (ScalingActive False,
//! `FailedGetPodsMetric`, `FailedGetObjectMetric`, `FailedGetExternalMetric`) without keeping
//! the other metrics from scaling up. No Prometheus metrics of the controller. Unlike upstream
//! the status records `observedGeneration`, the scale is patched without a resourceVersion
//! precondition, and a spec change is reconciled at once rather than after a sync period.

pub mod behavior;
pub mod metrics;
pub mod replicas;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use barge_api::selector::LabelSelector;
use barge_client::events::{Recorder, Type};
use barge_client::informer::Change;
use barge_client::{Informer, Key, WriterExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::autoscaling::v2::{
    ContainerResourceMetricStatus, CrossVersionObjectReference, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerSpec, HorizontalPodAutoscalerStatus,
    MetricSpec, MetricStatus, MetricTarget, MetricValueStatus, ResourceMetricSource,
    ResourceMetricStatus,
};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::{Value, json};

use crate::Context;
use crate::runner::{Queue, Reconciler};
use behavior::{Bounds, History};
use metrics::{PodMetrics, PodMetricsList, milli, milli_quantity, resource_samples};
use replicas::Calculator;

/// The reads of the HPA controller that no informer serves. Errors are the text events and
/// conditions show (e.g. `deployments.apps "web" not found`).
#[async_trait]
pub trait Source: Send + Sync + 'static {
    /// The resource of a scale target's kind that is not built in (a custom resource with a
    /// scale subresource), through discovery.
    async fn resource(&self, group: &str, version: &str, kind: &str)
    -> Result<ApiResource, String>;

    /// The `scale` subresource of `name`.
    async fn scale(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
    ) -> Result<Scale, String>;

    /// The `metrics.k8s.io/v1beta1` PodMetrics of the pods of `namespace` matching
    /// `selector` (a label selector string).
    async fn pod_metrics(&self, namespace: &str, selector: &str)
    -> Result<Vec<PodMetrics>, String>;
}

impl std::fmt::Debug for dyn Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Source")
    }
}

/// The text of an API error as upstream prints it: the server's message.
fn error_text(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
        other => other.to_string(),
    }
}

/// A [`Source`] reading from the API server.
#[derive(Clone)]
pub struct KubeSource {
    client: Client,
}

impl std::fmt::Debug for KubeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSource").finish_non_exhaustive()
    }
}

impl KubeSource {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Source for KubeSource {
    async fn resource(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Result<ApiResource, String> {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok((resource, _)) => Ok(resource),
            Err(kube::Error::Discovery(_)) => Err(no_match(group, kind)),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(no_match(group, kind)),
            Err(e) => Err(error_text(&e)),
        }
    }

    async fn scale(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
    ) -> Result<Scale, String> {
        Api::<DynamicObject>::namespaced_with(self.client.clone(), namespace, resource)
            .get_scale(name)
            .await
            .map_err(|e| error_text(&e))
    }

    async fn pod_metrics(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<PodMetrics>, String> {
        let path = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods");
        let request = kube::core::Request::new(path)
            .list(&ListParams::default().labels(selector))
            .map_err(|e| e.to_string())?;
        let list: PodMetricsList = self
            .client
            .request(request)
            .await
            .map_err(|e| error_text(&e))?;
        Ok(list.items)
    }
}

fn no_match(group: &str, kind: &str) -> String {
    format!("no matches for kind \"{kind}\" in group \"{group}\"")
}

/// The [`Source`] of a controller manager without an API client (seeded informers).
#[derive(Debug)]
struct Disconnected;

#[async_trait]
impl Source for Disconnected {
    async fn resource(&self, group: &str, _: &str, kind: &str) -> Result<ApiResource, String> {
        Err(no_match(group, kind))
    }

    async fn scale(&self, _: &ApiResource, _: &str, _: &str) -> Result<Scale, String> {
        Err("no API client".into())
    }

    async fn pod_metrics(&self, _: &str, _: &str) -> Result<Vec<PodMetrics>, String> {
        Err("no API client".into())
    }
}

/// What the controller keeps between reconciles.
#[derive(Debug, Default)]
struct State {
    /// Recommendations and scale events, per HPA.
    histories: HashMap<Key, History>,
    /// The last selector of each HPA's target, to find pods claimed by two HPAs.
    selectors: HashMap<Key, LabelSelector>,
    /// When each HPA's periodic reconcile is due.
    next_sync: HashMap<Key, tokio::time::Instant>,
}

/// The HorizontalPodAutoscaler controller.
pub struct HpaController {
    ctx: Context,
    source: Arc<dyn Source>,
    recorder: Recorder,
    state: Mutex<State>,
}

impl std::fmt::Debug for HpaController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HpaController").finish_non_exhaustive()
    }
}

/// Starts the HPA controller's watch; returns its reconciler and queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    follow_spec_changes(&ctx.informers.horizontal_pod_autoscalers, &queue);
    let source: Arc<dyn Source> = match &ctx.informers.client {
        Some(client) => Arc::new(KubeSource::new(client.0.clone())),
        None => Arc::new(Disconnected),
    };
    (Arc::new(HpaController::new(ctx, source)), queue)
}

/// Queues an HPA when it appears, goes or its spec changes (its generation), not for its own
/// status writes: the periodic reconcile covers the rest.
fn follow_spec_changes(informer: &Informer<HorizontalPodAutoscaler>, queue: &Queue) {
    let (informer, queue) = (informer.clone(), queue.clone());
    let mut changes = informer.subscribe();
    tokio::spawn(async move {
        informer.synced().await;
        let all = |queue: &Queue| {
            for hpa in informer.cache().list() {
                queue.add(Key::of(hpa.as_ref()));
            }
        };
        all(&queue);
        while let Some(change) = changes.next().await {
            match change {
                Change::Applied { old, new } => {
                    let generation = new.metadata.generation;
                    if old.is_none_or(|o| o.metadata.generation != generation) {
                        queue.add(Key::of(new.as_ref()));
                    }
                }
                Change::Deleted(old) => queue.add(Key::of(old.as_ref())),
                Change::Resynced => all(&queue),
            }
        }
    });
}

/// What a failed metric leaves: the event and condition reason and message, and the error
/// reported for the HPA.
struct MetricFailure {
    reason: &'static str,
    message: String,
    error: String,
}

/// The metrics' proposal.
struct Proposal {
    replicas: i32,
    /// What proposed it, e.g. `cpu resource utilization (percentage of request)`.
    metric: String,
    statuses: Vec<MetricStatus>,
}

/// What one reconcile reads once and shares between the metrics.
struct Reading<'a> {
    namespace: &'a str,
    selector: String,
    pods: Vec<Arc<Pod>>,
    current: i32,
    calculator: Calculator,
    /// The PodMetrics of the pods, fetched on first use.
    pod_metrics: Option<Result<Vec<PodMetrics>, String>>,
}

/// The metric upstream's API defaulting gives an HPA without any: 80% cpu.
fn default_metrics() -> Vec<MetricSpec> {
    vec![MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(80),
                ..Default::default()
            },
        }),
        ..Default::default()
    }]
}

/// Splits an apiVersion into group and version, as upstream's `ParseGroupVersion`.
fn group_version(api_version: &str) -> Result<(&str, &str), String> {
    match api_version.split('/').collect::<Vec<_>>()[..] {
        [""] => Ok(("", "")),
        [version] => Ok(("", version)),
        [group, version] => Ok((group, version)),
        _ => Err(format!("unexpected GroupVersion string: {api_version}")),
    }
}

/// Sets the condition `type_` (adding it if absent), moving its transition time only when its
/// status changes.
fn set_condition(
    hpa: &mut HorizontalPodAutoscaler,
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) {
    let conditions = hpa
        .status
        .get_or_insert_default()
        .conditions
        .get_or_insert_default();
    let i = match conditions.iter().position(|c| c.type_ == type_) {
        Some(i) => i,
        None => {
            conditions.push(HorizontalPodAutoscalerCondition {
                type_: type_.into(),
                ..Default::default()
            });
            conditions.len() - 1
        }
    };
    let c = &mut conditions[i];
    if c.status != status {
        c.last_transition_time = Some(Time(now));
    }
    c.status = status.into();
    c.reason = Some(reason.into());
    c.message = Some(message);
}

/// Rebuilds the status with these counts and metrics (upstream's `setStatus`).
fn set_status(
    hpa: &mut HorizontalPodAutoscaler,
    current: i32,
    desired: i32,
    metrics: Option<Vec<MetricStatus>>,
    rescaled: Option<Timestamp>,
) {
    let old = hpa.status.take().unwrap_or_default();
    hpa.status = Some(HorizontalPodAutoscalerStatus {
        current_replicas: (current != 0).then_some(current),
        desired_replicas: desired,
        last_scale_time: rescaled.map(Time).or(old.last_scale_time),
        current_metrics: metrics.filter(|m| !m.is_empty()),
        conditions: old.conditions,
        observed_generation: old.observed_generation,
    });
}

/// Only the current count changes (upstream's `setCurrentReplicasInStatus`).
fn set_current_replicas(hpa: &mut HorizontalPodAutoscaler, current: i32) {
    let old = hpa.status.clone().unwrap_or_default();
    set_status(
        hpa,
        current,
        old.desired_replicas,
        old.current_metrics,
        None,
    );
}

fn labels<'a>(pod: &'a Pod) -> impl Fn(&str) -> Option<&'a str> + 'a {
    |k| {
        pod.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(k))
            .map(String::as_str)
    }
}

impl HpaController {
    pub fn new(ctx: &Context, source: Arc<dyn Source>) -> Self {
        Self {
            ctx: ctx.clone(),
            source,
            recorder: ctx.recorder("horizontal-pod-autoscaler"),
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn event(&self, hpa: &HorizontalPodAutoscaler, kind: Type, reason: &str, message: &str) {
        self.recorder.publish(hpa, kind, reason, message).await;
    }

    /// When to come back: after the sync period, unless an earlier reconcile already asked to
    /// (a spec change in between must not start a second periodic chain).
    fn next_sync(&self, key: &Key) -> Option<Duration> {
        let period = self.ctx.settings.hpa_sync_period;
        let now = tokio::time::Instant::now();
        let mut state = self.lock();
        match state.next_sync.get(key) {
            Some(due) if *due > now => None,
            _ => {
                state.next_sync.insert(key.clone(), now + period);
                Some(period)
            }
        }
    }

    /// The resource of the scale target (upstream's REST mapping by group and kind).
    async fn target_resource(
        &self,
        target: &CrossVersionObjectReference,
    ) -> Result<ApiResource, String> {
        let (group, version) = group_version(target.api_version.as_deref().unwrap_or(""))?;
        Ok(match (group, target.kind.as_str()) {
            ("apps", "Deployment") => ApiResource::erase::<Deployment>(&()),
            ("apps", "ReplicaSet") => ApiResource::erase::<ReplicaSet>(&()),
            ("apps", "StatefulSet") => ApiResource::erase::<StatefulSet>(&()),
            ("", "ReplicationController") => ApiResource::erase::<ReplicationController>(&()),
            (group, kind) if version.is_empty() => return Err(no_match(group, kind)),
            (group, kind) => self.source.resource(group, version, kind).await?,
        })
    }

    async fn failed_get_scale(
        &self,
        hpa: &mut HorizontalPodAutoscaler,
        error: &str,
        now: Timestamp,
    ) {
        self.event(hpa, Type::Warning, "FailedGetScale", error)
            .await;
        set_condition(
            hpa,
            "AbleToScale",
            "False",
            "FailedGetScale",
            format!("the HPA controller was unable to get the target's current scale: {error}"),
            now,
        );
    }

    /// One pass of upstream's `reconcileAutoscaler` over `hpa` (a copy of the cached one),
    /// leaving the status to write in it.
    async fn autoscale(&self, key: &Key, hpa: &mut HorizontalPodAutoscaler, now: Timestamp) {
        let spec = hpa.spec.clone().unwrap_or_default();
        let target = &spec.scale_target_ref;
        let namespace = key.namespace.as_str();
        let reference = format!("{}/{}/{}", target.kind, namespace, target.name);

        let resource = match self.target_resource(target).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(hpa = %key, error = e, "cannot map the scale target");
                return self.failed_get_scale(hpa, &e, now).await;
            }
        };
        let scale = match self.source.scale(&resource, namespace, &target.name).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(hpa = %key, target = reference, error = e, "cannot get the scale");
                return self.failed_get_scale(hpa, &e, now).await;
            }
        };
        set_condition(
            hpa,
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale".into(),
            now,
        );
        let current = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        self.lock()
            .histories
            .entry(key.clone())
            .or_default()
            .record_initial(current, now);

        let settings = &self.ctx.settings;
        let down_window = settings.hpa_downscale_stabilization;
        let behavior = spec.behavior.as_ref().map(|b| {
            behavior::defaulted(b, i32::try_from(down_window.as_secs()).unwrap_or(i32::MAX))
        });
        let min = spec.min_replicas.unwrap_or(1);
        let mut desired = 0;
        let mut reason = String::new();
        let mut statuses = None;
        let rescale;
        if current == 0 && min != 0 {
            rescale = false;
            set_condition(
                hpa,
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero".into(),
                now,
            );
        } else if current > spec.max_replicas {
            reason = "Current number of replicas above Spec.MaxReplicas".into();
            desired = spec.max_replicas;
            rescale = true;
        } else if current < min {
            reason = "Current number of replicas below Spec.MinReplicas".into();
            desired = min;
            rescale = true;
        } else {
            let proposal = match self
                .replicas_for_metrics(hpa, &spec, &scale, current, now)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    set_current_replicas(hpa, current);
                    self.event(hpa, Type::Warning, "FailedComputeMetricsReplicas", &e)
                        .await;
                    tracing::debug!(hpa = %key, error = e, "cannot compute the desired replicas");
                    return;
                }
            };
            let mut rescale_metric = "";
            if proposal.replicas > desired {
                desired = proposal.replicas;
                rescale_metric = &proposal.metric;
            }
            if desired > current {
                reason = format!("{rescale_metric} above target");
            }
            if desired < current {
                reason = "All metrics below target".into();
            }
            statuses = Some(proposal.statuses);
            let bounds = Bounds {
                current,
                min,
                max: spec.max_replicas,
            };
            let normalized = {
                let mut state = self.lock();
                let history = state.histories.entry(key.clone()).or_default();
                match &behavior {
                    None => history.normalize(
                        bounds,
                        desired,
                        SignedDuration::try_from(down_window).unwrap_or(SignedDuration::MAX),
                        now,
                    ),
                    Some(b) => history.normalize_with_behavior(b, bounds, desired, now),
                }
            };
            let (able_reason, able_message) = normalized.able;
            set_condition(
                hpa,
                "AbleToScale",
                "True",
                able_reason,
                able_message.into(),
                now,
            );
            let (limit_reason, limit_message) = normalized.limit;
            let limited = if normalized.limited { "True" } else { "False" };
            set_condition(
                hpa,
                "ScalingLimited",
                limited,
                limit_reason,
                limit_message.into(),
                now,
            );
            desired = normalized.replicas;
            rescale = desired != current;
        }

        let mut rescaled = None;
        if rescale {
            let patch = json!({"spec": {"replicas": desired}});
            let written = self
                .ctx
                .writer
                .merge_patch(&resource, namespace, &target.name, Some("scale"), patch)
                .await;
            if let Err(e) = written {
                let e = error_text(&e);
                let message = format!("New size: {desired}; reason: {reason}; error: {e}");
                self.event(hpa, Type::Warning, "FailedRescale", &message)
                    .await;
                set_condition(
                    hpa,
                    "AbleToScale",
                    "False",
                    "FailedUpdateScale",
                    format!("the HPA controller was unable to update the target scale: {e}"),
                    now,
                );
                set_current_replicas(hpa, current);
                tracing::debug!(hpa = %key, target = reference, error = e, "rescale failed");
                return;
            }
            set_condition(
                hpa,
                "AbleToScale",
                "True",
                "SucceededRescale",
                format!("the HPA controller was able to update the target scale to {desired}"),
                now,
            );
            let message = format!("New size: {desired}; reason: {reason}");
            self.event(hpa, Type::Normal, "SuccessfulRescale", &message)
                .await;
            self.lock()
                .histories
                .entry(key.clone())
                .or_default()
                .record_scale(behavior.as_ref(), current, desired, now);
            tracing::info!(hpa = %key, target = reference, current, desired, reason, "rescaled");
            rescaled = Some(now);
        } else {
            desired = current;
        }
        set_status(hpa, current, desired, statuses, rescaled);
    }

    /// Checks the scale's selector (present, valid, its pods claimed by no other HPA) and
    /// lists its pods (upstream's `validateAndParseSelector`).
    async fn pods_of(
        &self,
        hpa: &mut HorizontalPodAutoscaler,
        selector: &str,
        now: Timestamp,
    ) -> Result<(LabelSelector, Vec<Arc<Pod>>), String> {
        if selector.is_empty() {
            let e = "selector is required";
            self.event(hpa, Type::Warning, "SelectorRequired", e).await;
            set_condition(
                hpa,
                "ScalingActive",
                "False",
                "InvalidSelector",
                "the HPA target's scale is missing a selector".into(),
                now,
            );
            return Err(e.into());
        }
        let parsed = match LabelSelector::parse(selector) {
            Ok(s) => s,
            Err(e) => {
                let e = format!(
                    "couldn't convert selector into a corresponding internal selector object: {e}"
                );
                self.event(hpa, Type::Warning, "InvalidSelector", &e).await;
                set_condition(
                    hpa,
                    "ScalingActive",
                    "False",
                    "InvalidSelector",
                    e.clone(),
                    now,
                );
                return Err(e);
            }
        };
        let key = Key::of(hpa);
        let pods: Vec<Arc<Pod>> = self
            .ctx
            .informers
            .pods
            .cache()
            .list_namespace(&key.namespace)
            .into_iter()
            .filter(|p| parsed.matches_with(labels(p)))
            .collect();
        let mut claiming: Vec<Key> = {
            let mut state = self.lock();
            state.selectors.insert(key.clone(), parsed.clone());
            state
                .selectors
                .iter()
                .filter(|(k, s)| {
                    **k != key
                        && k.namespace == key.namespace
                        && pods.iter().any(|p| s.matches_with(labels(p)))
                })
                .map(|(k, _)| k.clone())
                .collect()
        };
        if !claiming.is_empty() {
            claiming.push(key);
            claiming.sort();
            let names: Vec<String> = claiming.iter().map(Key::to_string).collect();
            let e = format!(
                "pods by selector {selector} are controlled by multiple HPAs: [{}]",
                names.join(" ")
            );
            self.event(hpa, Type::Warning, "AmbiguousSelector", &e)
                .await;
            set_condition(
                hpa,
                "ScalingActive",
                "False",
                "AmbiguousSelector",
                e.clone(),
                now,
            );
            return Err(e);
        }
        Ok((parsed, pods))
    }

    /// The largest count the metrics propose (upstream's `computeReplicasForMetrics`). An
    /// error when no metric could be computed, or when some failed and the others would scale
    /// down (a failed metric might have wanted more).
    async fn replicas_for_metrics(
        &self,
        hpa: &mut HorizontalPodAutoscaler,
        spec: &HorizontalPodAutoscalerSpec,
        scale: &Scale,
        current: i32,
        now: Timestamp,
    ) -> Result<Proposal, String> {
        let selector = scale
            .status
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        let (parsed, pods) = self.pods_of(hpa, &selector, now).await?;
        let settings = &self.ctx.settings;
        let namespace = hpa.metadata.namespace.clone().unwrap_or_default();
        let mut reading = Reading {
            namespace: &namespace,
            selector: parsed.to_string(),
            pods,
            current,
            calculator: Calculator {
                tolerance: settings.hpa_tolerance,
                cpu_initialization_period: SignedDuration::try_from(
                    settings.hpa_cpu_initialization_period,
                )
                .unwrap_or(SignedDuration::MAX),
                initial_readiness_delay: SignedDuration::try_from(
                    settings.hpa_initial_readiness_delay,
                )
                .unwrap_or(SignedDuration::MAX),
                now,
            },
            pod_metrics: None,
        };
        let specs = spec
            .metrics
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(default_metrics);

        let mut proposal = Proposal {
            replicas: 0,
            metric: String::new(),
            // A metric that fails leaves an empty status, as upstream's does.
            statuses: vec![MetricStatus::default(); specs.len()],
        };
        let mut invalid = 0;
        let mut first_failure: Option<MetricFailure> = None;
        for (i, metric) in specs.iter().enumerate() {
            match self.replicas_for_metric(&mut reading, metric).await {
                Ok((replicas, name, status)) => {
                    proposal.statuses[i] = status;
                    if proposal.replicas == 0 || replicas > proposal.replicas {
                        proposal.replicas = replicas;
                        proposal.metric = name;
                    }
                }
                Err(failure) => {
                    self.event(hpa, Type::Warning, failure.reason, &failure.message)
                        .await;
                    invalid += 1;
                    first_failure.get_or_insert(failure);
                }
            }
        }
        if let Some(failure) = first_failure {
            let error = format!(
                "invalid metrics ({invalid} invalid out of {}), first error is: {}",
                specs.len(),
                failure.error
            );
            if invalid >= specs.len() || proposal.replicas < current {
                set_condition(
                    hpa,
                    "ScalingActive",
                    "False",
                    failure.reason,
                    format!(
                        "the HPA was unable to compute the replica count: {}",
                        failure.message
                    ),
                    now,
                );
                return Err(error);
            }
            // Scaling goes on with the metrics that worked.
            tracing::debug!(hpa = %Key::of(hpa), error, "some metrics failed");
        }
        set_condition(
            hpa,
            "ScalingActive",
            "True",
            "ValidMetricFound",
            format!(
                "the HPA was able to successfully calculate a replica count from {}",
                proposal.metric
            ),
            now,
        );
        Ok(proposal)
    }

    /// One metric's proposal, what proposed it and its status (upstream's
    /// `computeReplicasForMetric`).
    async fn replicas_for_metric(
        &self,
        reading: &mut Reading<'_>,
        metric: &MetricSpec,
    ) -> Result<(i32, String, MetricStatus), MetricFailure> {
        const NO_CUSTOM: &str = "unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered";
        const NO_EXTERNAL: &str = "unable to fetch metrics from external metrics API: no external metrics API (external.metrics.k8s.io) registered";
        let namespace = reading.namespace;
        let type_ = metric.type_.as_str();
        if let ("Resource", Some(r)) = (type_, &metric.resource) {
            let (replicas, name, current) = self
                .resource_metric(reading, &r.target, &r.name, "")
                .await
                .map_err(|e| MetricFailure {
                    reason: "FailedGetResourceMetric",
                    error: format!("failed to get {} resource metric value: {e}", r.name),
                    message: e,
                })?;
            let status = MetricStatus {
                type_: "Resource".into(),
                resource: Some(ResourceMetricStatus {
                    name: r.name.clone(),
                    current,
                }),
                ..Default::default()
            };
            return Ok((replicas, name, status));
        }
        if let ("ContainerResource", Some(r)) = (type_, &metric.container_resource) {
            let (replicas, name, current) = self
                .resource_metric(reading, &r.target, &r.name, &r.container)
                .await
                .map_err(|e| MetricFailure {
                    reason: "FailedGetContainerResourceMetric",
                    error: format!("failed to get {} container metric value: {e}", r.container),
                    message: e,
                })?;
            let status = MetricStatus {
                type_: "ContainerResource".into(),
                container_resource: Some(ContainerResourceMetricStatus {
                    name: r.name.clone(),
                    container: r.container.clone(),
                    current,
                }),
                ..Default::default()
            };
            return Ok((replicas, name, status));
        }
        // Without a custom or external metrics API these fail as upstream's do without one.
        let (reason, message, error) = match (type_, metric) {
            ("Pods", MetricSpec { pods: Some(p), .. }) => {
                let message = format!("unable to get metric {}: {NO_CUSTOM}", p.metric.name);
                let error = format!("failed to get pods metric value: {message}");
                ("FailedGetPodsMetric", message, error)
            }
            (
                "Object",
                MetricSpec {
                    object: Some(o), ..
                },
            ) => {
                let message = format!(
                    "unable to get metric {}: {} on {namespace} {}/{NO_CUSTOM}",
                    o.metric.name, o.described_object.kind, o.described_object.name
                );
                let error = format!("failed to get object metric value: {message}");
                ("FailedGetObjectMetric", message, error)
            }
            (
                "External",
                MetricSpec {
                    external: Some(x), ..
                },
            ) => {
                let selector = x
                    .metric
                    .selector
                    .as_ref()
                    .and_then(|s| serde_json::to_string(s).ok())
                    .unwrap_or_else(|| "nil".into());
                let message = format!(
                    "unable to get external metric {namespace}/{}/{selector}: {NO_EXTERNAL}",
                    x.metric.name
                );
                let error = format!(
                    "failed to get {} external metric value: {message}",
                    x.metric.name
                );
                ("FailedGetExternalMetric", message, error)
            }
            _ => {
                let message = format!("unknown metric source type {type_:?}");
                ("InvalidMetricSourceType", message.clone(), message)
            }
        };
        Err(MetricFailure {
            reason,
            message,
            error,
        })
    }

    /// A Resource or ContainerResource metric (upstream's
    /// `computeStatusForResourceMetricGeneric`): the proposal, what proposed it and the
    /// current value.
    async fn resource_metric(
        &self,
        reading: &mut Reading<'_>,
        target: &MetricTarget,
        resource: &str,
        container: &str,
    ) -> Result<(i32, String, MetricValueStatus), String> {
        if let Some(value) = &target.average_value {
            let target =
                milli(value).ok_or_else(|| format!("invalid average value {:?}", value.0))?;
            let samples = self
                .samples(reading, resource, container)
                .await
                .map_err(|e| format!("failed to get {resource} usage: {e}"))?;
            let pods: Vec<&Pod> = reading.pods.iter().map(AsRef::as_ref).collect();
            let usage = reading
                .calculator
                .plain_replicas(reading.current, target, resource, &pods, samples)
                .map_err(|e| format!("failed to get {resource} usage: {e}"))?;
            let status = MetricValueStatus {
                average_value: Some(milli_quantity(usage.usage)),
                ..Default::default()
            };
            return Ok((usage.replicas, format!("{resource} resource"), status));
        }
        let Some(utilization) = target.average_utilization else {
            return Err("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set".into());
        };
        let samples = self
            .samples(reading, resource, container)
            .await
            .map_err(|e| format!("failed to get {resource} utilization: {e}"))?;
        let pods: Vec<&Pod> = reading.pods.iter().map(AsRef::as_ref).collect();
        let u = reading
            .calculator
            .resource_replicas(
                reading.current,
                utilization,
                resource,
                container,
                &pods,
                samples,
            )
            .map_err(|e| format!("failed to get {resource} utilization: {e}"))?;
        let name = if container.is_empty() {
            format!("{resource} resource utilization (percentage of request)")
        } else {
            format!("{resource} container resource utilization (percentage of request)")
        };
        let status = MetricValueStatus {
            average_utilization: Some(u.utilization),
            average_value: Some(milli_quantity(u.raw_average)),
            ..Default::default()
        };
        Ok((u.replicas, name, status))
    }

    /// The pods' samples of `resource` (upstream's `GetResourceMetric`), from the PodMetrics
    /// fetched once per reconcile.
    async fn samples(
        &self,
        reading: &mut Reading<'_>,
        resource: &str,
        container: &str,
    ) -> Result<metrics::Samples, String> {
        if reading.pod_metrics.is_none() {
            let fetched = self
                .source
                .pod_metrics(reading.namespace, &reading.selector)
                .await
                .map_err(|e| format!("unable to fetch metrics from resource metrics API: {e}"));
            reading.pod_metrics = Some(fetched);
        }
        let items = match &reading.pod_metrics {
            Some(Ok(items)) => items.as_slice(),
            Some(Err(e)) => {
                return Err(format!(
                    "unable to get metrics for resource {resource}: {e}"
                ));
            }
            None => &[],
        };
        resource_samples(items, resource, container)
            .map_err(|e| format!("unable to get metrics for resource {resource}: {e}"))
    }

    /// Writes the status if it differs from `old` (a merge patch of the whole status, with the
    /// fields that went nulled).
    async fn update_status_if_needed(
        &self,
        old: &HorizontalPodAutoscalerStatus,
        hpa: &mut HorizontalPodAutoscaler,
    ) {
        let generation = hpa.metadata.generation;
        let status = hpa.status.get_or_insert_default();
        status.observed_generation = generation;
        if status == old {
            return;
        }
        let (Ok(mut new), Ok(Value::Object(old))) =
            (serde_json::to_value(&*status), serde_json::to_value(old))
        else {
            return;
        };
        for field in old.keys() {
            if new.get(field).is_none() {
                new[field] = Value::Null;
            }
        }
        let key = Key::of(hpa);
        let written = self
            .ctx
            .writer
            .patch_typed::<HorizontalPodAutoscaler>(
                &key.namespace,
                &key.name,
                Some("status"),
                json!({ "status": new }),
            )
            .await;
        if let Err(e) = written {
            let e = error_text(&e);
            self.event(hpa, Type::Warning, "FailedUpdateStatus", &e)
                .await;
            tracing::warn!(hpa = %key, error = e, "failed to update the status");
        }
    }
}

#[async_trait]
impl Reconciler for HpaController {
    fn name(&self) -> &'static str {
        "horizontalpodautoscaler"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let cached = self
            .ctx
            .informers
            .horizontal_pod_autoscalers
            .cache()
            .get_key(key);
        let Some(cached) = cached else {
            let mut state = self.lock();
            state.histories.remove(key);
            state.selectors.remove(key);
            state.next_sync.remove(key);
            return Ok(None);
        };
        // Work on a copy: the cache's objects are shared.
        let mut hpa = (*cached).clone();
        let old = hpa.status.clone().unwrap_or_default();
        self.autoscale(key, &mut hpa, Timestamp::now()).await;
        self.update_status_if_needed(&old, &mut hpa).await;
        Ok(self.next_sync(key))
    }
}

#[cfg(test)]
mod tests;
