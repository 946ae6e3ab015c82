//! The Deployment controller: rolls a Deployment's pod template out through ReplicaSets, as
//! upstream's `pkg/controller/deployment` does (`sync.go`, `rolling.go`, `recreate.go`,
//! `progress.go`, `util/deployment_util.go`).
//!
//! - Each pod template gets one ReplicaSet named `<deployment>-<pod-template-hash>`; the hash is
//!   FNV-1a (32 bit) of the template plus `status.collisionCount`, rendered with upstream's
//!   `SafeEncodeString` alphabet. The hash label is added to the RS's labels, selector and
//!   template. The RS is owned (controller, blockOwnerDeletion) by the Deployment; orphan RSs
//!   matching the selector are adopted, owned ones that no longer match are released.
//! - Annotations as upstream: `deployment.kubernetes.io/revision` (max old + 1 for the new RS,
//!   with `revision-history` when an old RS comes back), `desired-replicas` and `max-replicas`,
//!   and the Deployment's own annotations (e.g. `kubernetes.io/change-cause`) copied to the new
//!   RS.
//! - RollingUpdate (maxSurge / maxUnavailable, proportional scaling when scaled mid-rollout),
//!   Recreate (old to zero, wait for old pods to be gone, then the new one up), pause,
//!   revisionHistoryLimit clean-up, and the Progressing / Available / ReplicaFailure conditions
//!   with upstream's reasons and messages, including the progress deadline (the reconcile asks
//!   to be run again when the deadline would pass).
//!
//! Differences from upstream:
//! - Hashing: upstream hashes the spew dump of the Go struct; we hash the template's canonical
//!   JSON. Names are therefore stable but not the ones upstream would give.
//! - Writes are JSON merge patches carrying the object's resourceVersion (upstream sends full
//!   updates), and the status updates upstream makes at several points of one sync are folded
//!   into one status patch at the end (the collision count and a failed create are still written
//!   at once). The revision annotation on the Deployment is a metadata patch, the status the
//!   `status` subresource.
//! - No expectations for the new ReplicaSet: as upstream, its name is deterministic, so a second
//!   create answers 409 and is resolved against the cache (or retried) instead of duplicating.
//! - The deprecated `deprecated.deployment.rollback.to` annotation is ignored: kubectl 1.32 rolls
//!   back client-side by patching the template.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use async_trait::async_trait;
use barge_api::selector::LabelSelector as Selector;
use barge_client::events::{Recorder, Type};
use barge_client::informer::Informer;
use barge_client::writer::{is_conflict, is_not_found};
use barge_client::{Delete, Key, WriterExt};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
    ReplicaSetStatus,
};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Resource;
use serde_json::{Value, json};

use crate::pods::{controller_of, controller_ref, phase};
use crate::runner::{Queue, Reconciler, enqueue, enqueue_deleted};
use crate::{BY_OWNER, Context};

/// The label that tells the ReplicaSets of one Deployment apart.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// The longest `revision-history` annotation kept (upstream's default).
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

// Condition types and reasons (upstream's deployment_util.go).
const PROGRESSING: &str = "Progressing";
const AVAILABLE: &str = "Available";
const REPLICA_FAILURE: &str = "ReplicaFailure";
pub const REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
pub const NEW_REPLICA_SET_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_REPLICA_SET: &str = "FoundNewReplicaSet";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

const DEFAULT_PROGRESS_DEADLINE: i32 = 600;
const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// Reconciles Deployments.
#[derive(Debug)]
pub struct DeploymentController {
    ctx: Context,
    recorder: Recorder,
}

impl DeploymentController {
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            recorder: ctx.recorder("deployment-controller"),
        }
    }
}

/// Starts the controller's watches; returns the reconciler and its queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    let informers = ctx.informers.clone();
    enqueue(&informers.deployments, &queue, |d: &Deployment| {
        vec![Key::of(d)]
    });
    let deployments = informers.deployments.clone();
    enqueue(&informers.replica_sets, &queue, move |rs: &ReplicaSet| {
        replica_set_keys(&deployments, rs)
    });
    let (deployments, replica_sets) = (
        informers.deployments.clone(),
        informers.replica_sets.clone(),
    );
    enqueue_deleted(&informers.pods, &queue, move |pod: &Pod| {
        pod_keys(&deployments, &replica_sets, pod)
    });
    (Arc::new(DeploymentController::new(ctx)), queue)
}

/// The Deployments a ReplicaSet change concerns: its controller, or for an orphan every
/// Deployment of its namespace whose selector matches it (upstream's
/// `getDeploymentsForReplicaSet`).
pub fn replica_set_keys(deployments: &Informer<Deployment>, rs: &ReplicaSet) -> Vec<Key> {
    let namespace = rs.metadata.namespace.clone().unwrap_or_default();
    if let Some(owner) = controller_of(rs) {
        if owner.kind != "Deployment" {
            return Vec::new();
        }
        return vec![Key::new(namespace, owner.name.clone())];
    }
    let labels = rs.metadata.labels.clone().unwrap_or_default();
    deployments
        .cache()
        .list_namespace(&namespace)
        .iter()
        .filter(|d| {
            let selector = d.spec.as_ref().map(|s| &s.selector);
            selector
                .and_then(|s| selector_of(s).ok())
                .is_some_and(|s| !s.is_empty() && matches(&s, &labels))
        })
        .map(|d| Key::of(d.as_ref()))
        .collect()
}

/// The Recreate Deployment whose old pods a deleted pod belonged to (upstream's `deletePod`:
/// a Recreate rollout waits for the old pods to be gone).
pub fn pod_keys(
    deployments: &Informer<Deployment>,
    replica_sets: &Informer<ReplicaSet>,
    pod: &Pod,
) -> Vec<Key> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let Some(owner) = controller_of(pod).filter(|o| o.kind == "ReplicaSet") else {
        return Vec::new();
    };
    let Some(rs) = replica_sets.cache().get(&namespace, &owner.name) else {
        return Vec::new();
    };
    let Some(d_owner) = controller_of(rs.as_ref()).filter(|o| o.kind == "Deployment") else {
        return Vec::new();
    };
    match deployments.cache().get(&namespace, &d_owner.name) {
        Some(d) if is_recreate(d.spec.as_ref()) => vec![Key::of(d.as_ref())],
        _ => Vec::new(),
    }
}

#[async_trait]
impl Reconciler for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(cached) = self.ctx.informers.deployments.cache().get_key(key) else {
            return Ok(None);
        };
        let mut run = Run::new(self, (*cached).clone());
        Box::pin(run.sync()).await?;
        Ok(run.requeue)
    }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers (upstream's util/deployment_util.go)
// ---------------------------------------------------------------------------------------------

/// FNV-1a, 32 bit.
fn fnv32a(bytes: &[u8], mut hash: u32) -> u32 {
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(16_777_619);
    }
    hash
}

/// Upstream's `rand.SafeEncodeString`: no vowels (no words), no look-alikes.
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// The pod-template-hash of a template (upstream's `controller.ComputeHash`).
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // The typed serialization is canonical: fields in a fixed order, maps sorted.
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let mut hash = fnv32a(&bytes, 2_166_136_261);
    if let Some(n) = collision_count {
        hash = fnv32a(&(n as u32).to_le_bytes(), hash);
    }
    safe_encode(&hash.to_string())
}

/// A label selector object as a matcher.
fn selector_of(selector: &LabelSelector) -> anyhow::Result<Selector> {
    let value = serde_json::to_value(selector)?;
    Selector::from_json(&value).map_err(|e| anyhow!("invalid selector: {e}"))
}

fn matches(selector: &Selector, labels: &BTreeMap<String, String>) -> bool {
    selector.matches_with(|k| labels.get(k).map(String::as_str))
}

fn is_recreate(spec: Option<&DeploymentSpec>) -> bool {
    spec.and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

/// Upstream's `GetScaledValueFromIntOrPercent`.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> anyhow::Result<i32> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let Some(p) = s.strip_suffix('%') else {
                anyhow::bail!(
                    "invalid value for IntOrString: invalid type: string is not a percentage"
                );
            };
            let p: i64 = p
                .parse()
                .map_err(|e| anyhow!("invalid value for IntOrString: invalid value {s:?}: {e}"))?;
            let product = p * i64::from(total);
            let v = if round_up {
                product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(v).map_err(|_| anyhow!("invalid value {s:?}: out of range"))
        }
    }
}

/// Upstream's `ResolveFenceposts`: (maxSurge, maxUnavailable) for `desired` replicas; both
/// zero becomes an unavailability of one.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> anyhow::Result<(i32, i32)> {
    let default = IntOrString::String("25%".into());
    let surge = scaled_value(max_surge.unwrap_or(&default), desired, true)?;
    let mut unavailable = scaled_value(max_unavailable.unwrap_or(&default), desired, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

fn desired_replicas(spec: &DeploymentSpec) -> i32 {
    spec.replicas.unwrap_or(1)
}

fn fenceposts(spec: &DeploymentSpec) -> anyhow::Result<(i32, i32)> {
    let rolling = spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    resolve_fenceposts(
        rolling.and_then(|r| r.max_surge.as_ref()),
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        desired_replicas(spec),
    )
}

/// Upstream's `MaxSurge`.
fn max_surge(spec: &DeploymentSpec) -> i32 {
    if is_recreate(Some(spec)) {
        return 0;
    }
    fenceposts(spec).map(|f| f.0).unwrap_or(0)
}

/// Upstream's `MaxUnavailable`.
fn max_unavailable(spec: &DeploymentSpec) -> i32 {
    let replicas = desired_replicas(spec);
    if is_recreate(Some(spec)) || replicas == 0 {
        return 0;
    }
    fenceposts(spec).map(|f| f.1.min(replicas)).unwrap_or(0)
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn set_spec_replicas(rs: &mut ReplicaSet, n: i32) {
    rs.spec.get_or_insert_with(Default::default).replicas = Some(n);
}

fn rs_status(rs: &ReplicaSet) -> ReplicaSetStatus {
    rs.status.clone().unwrap_or_default()
}

fn status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

fn available_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

fn ready_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

fn annotation<'a, K: Resource>(object: &'a K, key: &str) -> Option<&'a str> {
    object
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

fn int_annotation<K: Resource>(object: &K, key: &str) -> Option<i32> {
    annotation(object, key).and_then(|v| v.parse().ok())
}

/// The RS's revision; 0 when it has none (or an invalid one).
fn revision(rs: &ReplicaSet) -> i64 {
    annotation(rs, REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn name_of<K: Resource>(object: &K) -> &str {
    object.meta().name.as_deref().unwrap_or("")
}

fn uid_of<K: Resource>(object: &K) -> &str {
    object.meta().uid.as_deref().unwrap_or("")
}

fn created(rs: &ReplicaSet) -> Option<Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Oldest first, then by name (upstream's `ReplicaSetsByCreationTimestamp`).
fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a)
        .cmp(&created(b))
        .then_with(|| name_of(a).cmp(name_of(b)))
}

/// Largest first; ties oldest first (`ReplicaSetsBySizeOlder`).
fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b)
        .cmp(&spec_replicas(a))
        .then_with(|| by_creation(a, b))
}

/// Largest first; ties newest first (`ReplicaSetsBySizeNewer`).
fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b)
        .cmp(&spec_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// Lowest revision first; ties oldest first (`ReplicaSetsByRevision`).
fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a)
        .cmp(&revision(b))
        .then_with(|| by_creation(a, b))
}

/// Removes empty maps and lists and nulls, so that absent and empty compare equal (as
/// apimachinery's semantic DeepEqual treats nil and empty).
fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => {
            m.retain(|_, v| !prune(v));
            m.is_empty()
        }
        Value::Array(a) => {
            a.iter_mut().for_each(|v| {
                prune(v);
            });
            a.is_empty()
        }
        _ => false,
    }
}

/// Whether two templates are equal but for the pod-template-hash label (`EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let norm = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH);
        }
        let mut v = serde_json::to_value(&t).unwrap_or(Value::Null);
        prune(&mut v);
        v
    };
    norm(a) == norm(b)
}

fn rs_template(rs: &ReplicaSet) -> PodTemplateSpec {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default()
}

/// The oldest RS whose template is the Deployment's (`FindNewReplicaSet`).
fn find_new_index(spec: &DeploymentSpec, rs_list: &[ReplicaSet]) -> Option<usize> {
    let mut order: Vec<usize> = (0..rs_list.len()).collect();
    order.sort_by(|a, b| by_creation(&rs_list[*a], &rs_list[*b]));
    order
        .into_iter()
        .find(|i| equal_ignore_hash(&rs_template(&rs_list[*i]), &spec.template))
}

fn is_active(rs: &ReplicaSet) -> bool {
    spec_replicas(rs) > 0
}

fn sum(rss: &[&ReplicaSet], f: fn(&ReplicaSet) -> i32) -> i32 {
    rss.iter().map(|rs| f(rs)).sum()
}

/// Upstream's `NewRSNewReplicas`: how big the new RS may be now.
fn new_rs_new_replicas(
    spec: &DeploymentSpec,
    all: &[&ReplicaSet],
    new_rs: &ReplicaSet,
) -> anyhow::Result<i32> {
    let replicas = desired_replicas(spec);
    if is_recreate(Some(spec)) {
        return Ok(replicas);
    }
    let (surge, _) = fenceposts(spec)?;
    let current = sum(all, spec_replicas);
    let max_total = replicas + surge;
    if current >= max_total {
        return Ok(spec_replicas(new_rs));
    }
    let up = (max_total - current).min(replicas - spec_replicas(new_rs));
    Ok(spec_replicas(new_rs) + up)
}

/// Sets the desired- and max-replicas annotations; whether anything changed.
fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let v = v.to_string();
        if annotations.get(k) != Some(&v) {
            annotations.insert(k.to_owned(), v);
            changed = true;
        }
    }
    changed
}

fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(rs, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(rs, MAX_REPLICAS) != Some(max.to_string().as_str())
}

fn skip_copy_annotation(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED | REVISION | REVISION_HISTORY | DESIRED_REPLICAS | MAX_REPLICAS | ROLLBACK_TO
    )
}

/// Upstream's `SetNewReplicaSetAnnotations`; whether anything changed.
fn set_new_replica_set_annotations(
    d: &Deployment,
    spec: &DeploymentSpec,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy_annotation(k) || annotations.get(k) == Some(v) {
            continue;
        }
        annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    let old_revision = annotations.get(REVISION).cloned().unwrap_or_default();
    let old_revision_int = if old_revision.is_empty() {
        0
    } else {
        match old_revision.parse::<i64>() {
            Ok(v) => v,
            Err(_) => return false,
        }
    };
    if old_revision_int < new_revision {
        annotations.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if !old_revision.is_empty() {
            let history = annotations
                .get(REVISION_HISTORY)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY.into(), old_revision);
            } else {
                let mut old: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old_revision.len() + 1;
                let mut start = 0;
                while total > MAX_REVISION_HISTORY_CHARS && start < old.len() {
                    total -= old[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REVISION_HISTORY_CHARS {
                    old = old.split_off(start);
                    old.push(&old_revision);
                    let joined = old.join(",");
                    annotations.insert(REVISION_HISTORY.into(), joined);
                }
            }
        }
    }
    if !exists {
        let desired = desired_replicas(spec);
        if set_replicas_annotations(rs, desired, desired + max_surge(spec)) {
            changed = true;
        }
    }
    changed
}

fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

fn now_seconds() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now())
}

fn new_condition(type_: &str, status: &str, reason: &str, message: String) -> DeploymentCondition {
    let now = Time(now_seconds());
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

/// Upstream's `SetDeploymentCondition`: a condition with the same status and reason is left
/// alone; the transition time is kept while the status stays.
fn set_condition(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(current) = condition(status, &c.type_) {
        if current.status == c.status && current.reason == c.reason {
            return;
        }
        if current.status == c.status {
            c.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &c.type_);
    status.conditions.get_or_insert_with(Vec::new).push(c);
}

fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
    }
}

fn progress_deadline(spec: &DeploymentSpec) -> Option<i32> {
    let s = spec
        .progress_deadline_seconds
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE);
    (s != i32::MAX).then_some(s)
}

/// Upstream's `DeploymentComplete`.
fn deployment_complete(d: &Deployment, spec: &DeploymentSpec, status: &DeploymentStatus) -> bool {
    let replicas = desired_replicas(spec);
    status.updated_replicas.unwrap_or(0) == replicas
        && status.replicas.unwrap_or(0) == replicas
        && status.available_replicas.unwrap_or(0) == replicas
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Upstream's `DeploymentProgressing`: more updated, fewer old, more ready or available.
fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let g = |v: Option<i32>| v.unwrap_or(0);
    let old_old = g(old.replicas) - g(old.updated_replicas);
    let new_old = g(new.replicas) - g(new.updated_replicas);
    g(new.updated_replicas) > g(old.updated_replicas)
        || new_old < old_old
        || g(new.ready_replicas) > g(old.ready_replicas)
        || g(new.available_replicas) > g(old.available_replicas)
}

/// Upstream's `DeploymentTimedOut`.
fn deployment_timed_out(spec: &DeploymentSpec, status: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = progress_deadline(spec) else {
        return false;
    };
    let Some(c) = condition(status, PROGRESSING) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => c
            .last_update_time
            .as_ref()
            .is_some_and(|t| t.0 + SignedDuration::from_secs(i64::from(deadline)) < now),
    }
}

/// A status with upstream's omitempty zeros dropped, for comparisons.
fn normalized(status: &DeploymentStatus) -> DeploymentStatus {
    let nz = |v: Option<i32>| v.filter(|v| *v != 0);
    DeploymentStatus {
        available_replicas: nz(status.available_replicas),
        collision_count: status.collision_count,
        conditions: status.conditions.clone().filter(|c| !c.is_empty()),
        observed_generation: status.observed_generation.filter(|v| *v != 0),
        ready_replicas: nz(status.ready_replicas),
        replicas: nz(status.replicas),
        unavailable_replicas: nz(status.unavailable_replicas),
        updated_replicas: nz(status.updated_replicas),
    }
}

// ---------------------------------------------------------------------------------------------
// One sync of one Deployment
// ---------------------------------------------------------------------------------------------

struct Run<'a> {
    c: &'a DeploymentController,
    /// The Deployment, with the in-memory changes of this sync (status conditions, revision).
    d: Deployment,
    spec: DeploymentSpec,
    /// The status as the cache had it, to tell whether the status needs writing.
    cached_status: DeploymentStatus,
    namespace: String,
    requeue: Option<Duration>,
}

impl<'a> Run<'a> {
    fn new(c: &'a DeploymentController, d: Deployment) -> Self {
        let spec = d.spec.clone().unwrap_or_default();
        let cached_status = d.status.clone().unwrap_or_default();
        let namespace = d.metadata.namespace.clone().unwrap_or_default();
        Self {
            c,
            d,
            spec,
            cached_status,
            namespace,
            requeue: None,
        }
    }

    fn name(&self) -> String {
        self.d.metadata.name.clone().unwrap_or_default()
    }

    fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    fn status_mut(&mut self) -> &mut DeploymentStatus {
        self.d.status.get_or_insert_with(Default::default)
    }

    fn replicas(&self) -> i32 {
        desired_replicas(&self.spec)
    }

    async fn sync(&mut self) -> anyhow::Result<()> {
        let selector = selector_of(&self.spec.selector)?;
        if selector.is_empty() {
            self.c
                .recorder
                .publish(
                    &self.d,
                    Type::Warning,
                    "SelectingAll",
                    "This deployment is selecting all pods. A non-empty selector is required.",
                )
                .await;
            let generation = self.d.metadata.generation.unwrap_or(0);
            if self.status().observed_generation.unwrap_or(0) < generation {
                self.status_mut().observed_generation = Some(generation);
                let status = self.status();
                self.write_status(&status).await?;
            }
            return Ok(());
        }
        let mut rs_list = self.claim_replica_sets(&selector).await?;
        if self.d.metadata.deletion_timestamp.is_some() {
            let (new_rs, old) = self.get_all_and_sync_revision(&mut rs_list, false).await?;
            return self.sync_deployment_status(&old, new_rs.as_ref()).await;
        }
        self.check_paused_conditions();
        if self.spec.paused == Some(true) {
            return Box::pin(self.sync_scale(&mut rs_list)).await;
        }
        if self.is_scaling_event(&mut rs_list).await? {
            return Box::pin(self.sync_scale(&mut rs_list)).await;
        }
        if is_recreate(Some(&self.spec)) {
            Box::pin(self.rollout_recreate(&mut rs_list)).await
        } else {
            Box::pin(self.rollout_rolling(&mut rs_list)).await
        }
    }

    /// Upstream's `ClaimReplicaSets`: the RSs this Deployment owns and still selects, plus
    /// orphans it selects (adopted); owned ones it no longer selects are released.
    async fn claim_replica_sets(&mut self, selector: &Selector) -> anyhow::Result<Vec<ReplicaSet>> {
        let uid = uid_of(&self.d).to_owned();
        let deleting = self.d.metadata.deletion_timestamp.is_some();
        let mut all: Vec<ReplicaSet> = self
            .c
            .ctx
            .informers
            .replica_sets
            .cache()
            .list_namespace(&self.namespace)
            .iter()
            .map(|rs| (**rs).clone())
            .collect();
        all.sort_by(by_creation);
        let mut claimed = Vec::new();
        for mut rs in all {
            let labels = rs.metadata.labels.clone().unwrap_or_default();
            let selected = matches(selector, &labels);
            match controller_of(&rs) {
                Some(owner) if owner.uid == uid => {
                    if selected {
                        claimed.push(rs);
                    } else if !deleting {
                        self.release(&rs).await?;
                    }
                }
                Some(_) => {}
                None => {
                    if !selected || deleting || rs.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    let mut refs = rs.metadata.owner_references.clone().unwrap_or_default();
                    refs.push(controller_ref(&self.d));
                    let patch = json!({"metadata": {
                        "resourceVersion": rs.metadata.resource_version,
                        "ownerReferences": refs,
                    }});
                    match self.patch_rs(&rs, patch).await {
                        Ok(rv) => {
                            rs.metadata.owner_references = Some(refs);
                            if rv.is_some() {
                                rs.metadata.resource_version = rv;
                            }
                            claimed.push(rs);
                        }
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => {
                            return Err(e).with_context(|| {
                                format!("cannot adopt replica set {}", name_of(&rs))
                            });
                        }
                    }
                }
            }
        }
        Ok(claimed)
    }

    async fn release(&self, rs: &ReplicaSet) -> anyhow::Result<()> {
        let uid = uid_of(&self.d);
        let refs: Vec<_> = rs
            .metadata
            .owner_references
            .iter()
            .flatten()
            .filter(|o| o.uid != uid)
            .cloned()
            .collect();
        let refs = if refs.is_empty() {
            Value::Null
        } else {
            json!(refs)
        };
        let patch = json!({"metadata": {
            "resourceVersion": rs.metadata.resource_version,
            "ownerReferences": refs,
        }});
        match self.patch_rs(rs, patch).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot release replica set {}", name_of(rs))),
        }
    }

    /// Merge-patches an RS; returns the resourceVersion the server answered with.
    async fn patch_rs(&self, rs: &ReplicaSet, patch: Value) -> kube::Result<Option<String>> {
        let answer = self
            .c
            .ctx
            .writer
            .merge_patch(
                &barge_client::writer::resource::<ReplicaSet>(),
                &self.namespace,
                name_of(rs),
                None,
                patch,
            )
            .await?;
        Ok(answer["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_owned))
    }

    /// Upstream's `checkPausedConditions` (the write is folded into the status sync).
    fn check_paused_conditions(&mut self) {
        if progress_deadline(&self.spec).is_none() {
            return;
        }
        let status = self.status();
        let current = condition(&status, PROGRESSING);
        if current.is_some_and(|c| c.reason.as_deref() == Some(TIMED_OUT)) {
            return;
        }
        let paused_exists = current.is_some_and(|c| c.reason.as_deref() == Some(PAUSED));
        let paused = self.spec.paused == Some(true);
        if paused && !paused_exists {
            let c = new_condition(
                PROGRESSING,
                "Unknown",
                PAUSED,
                "Deployment is paused".into(),
            );
            set_condition(self.status_mut(), c);
        } else if !paused && paused_exists {
            let c = new_condition(
                PROGRESSING,
                "Unknown",
                RESUMED,
                "Deployment is resumed".into(),
            );
            set_condition(self.status_mut(), c);
        }
    }

    /// Upstream's `getAllReplicaSetsAndSyncRevision`: the new RS (created if asked and
    /// missing) and the old ones, with revisions synced. RSs it changes are updated in
    /// `rs_list` too.
    async fn get_all_and_sync_revision(
        &mut self,
        rs_list: &mut Vec<ReplicaSet>,
        create: bool,
    ) -> anyhow::Result<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
        let new_index = find_new_index(&self.spec, rs_list);
        let old: Vec<ReplicaSet> = rs_list
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != new_index)
            .map(|(_, rs)| rs.clone())
            .collect();
        let new_rs = self
            .get_new_replica_set(rs_list, new_index, &old, create)
            .await?;
        Ok((new_rs, old))
    }

    /// Upstream's `getNewReplicaSet`.
    async fn get_new_replica_set(
        &mut self,
        rs_list: &mut Vec<ReplicaSet>,
        new_index: Option<usize>,
        old: &[ReplicaSet],
        create: bool,
    ) -> anyhow::Result<Option<ReplicaSet>> {
        let max_old_revision = old.iter().map(revision).max().unwrap_or(0);
        let new_revision = max_old_revision + 1;

        if let Some(i) = new_index {
            let mut rs = rs_list[i].clone();
            let annotations_before = rs.metadata.annotations.clone().unwrap_or_default();
            let annotations_updated =
                set_new_replica_set_annotations(&self.d, &self.spec, &mut rs, new_revision, true);
            let min_ready = self.spec.min_ready_seconds;
            let min_ready_update = rs
                .spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0)
                != min_ready.unwrap_or(0);
            if annotations_updated || min_ready_update {
                let changed: serde_json::Map<String, Value> = rs
                    .metadata
                    .annotations
                    .iter()
                    .flatten()
                    .filter(|(k, v)| annotations_before.get(*k) != Some(*v))
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect();
                let mut patch = json!({"metadata": {
                    "resourceVersion": rs.metadata.resource_version,
                    "annotations": changed,
                }});
                if min_ready_update {
                    patch["spec"] = json!({"minReadySeconds": min_ready.unwrap_or(0)});
                    rs.spec
                        .get_or_insert_with(Default::default)
                        .min_ready_seconds = min_ready;
                }
                if let Some(rv) = self.patch_rs(&rs, patch).await? {
                    rs.metadata.resource_version = Some(rv);
                }
                rs_list[i] = rs.clone();
            }
            let revision = annotation(&rs, REVISION).unwrap_or_default().to_owned();
            self.set_deployment_revision(&revision).await?;
            if progress_deadline(&self.spec).is_some()
                && condition(&self.status(), PROGRESSING).is_none()
            {
                let msg = format!("Found new replica set {:?}", name_of(&rs));
                let c = new_condition(PROGRESSING, "True", FOUND_NEW_REPLICA_SET, msg);
                set_condition(self.status_mut(), c);
            }
            return Ok(Some(rs));
        }
        if !create {
            return Ok(None);
        }

        // Create the new ReplicaSet.
        let collision_count = self.status().collision_count;
        let hash = compute_hash(&self.spec.template, collision_count);
        let mut template = self.spec.template.clone();
        let meta = template.metadata.get_or_insert_with(Default::default);
        meta.labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let labels = meta.labels.clone();
        let mut selector = self.spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let rs_name = format!("{}-{hash}", self.name());
        let mut new_rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(rs_name.clone()),
                namespace: Some(self.namespace.clone()),
                owner_references: Some(vec![controller_ref(&self.d)]),
                labels,
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: self.spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let all: Vec<&ReplicaSet> = old.iter().chain([&new_rs]).collect();
        let new_replicas = new_rs_new_replicas(&self.spec, &all, &new_rs)?;
        set_spec_replicas(&mut new_rs, new_replicas);
        set_new_replica_set_annotations(&self.d, &self.spec, &mut new_rs, new_revision, false);

        let mut already_exists = false;
        let created = match self
            .c
            .ctx
            .writer
            .create_typed(&self.namespace, &new_rs)
            .await
        {
            Ok(created) => created,
            Err(e) if is_conflict(&e) => {
                let existing = self
                    .c
                    .ctx
                    .informers
                    .replica_sets
                    .cache()
                    .get(&self.namespace, &rs_name);
                let Some(existing) = existing else {
                    return Err(e).context(format!(
                        "replica set {rs_name} exists but is not in the cache yet"
                    ));
                };
                let ours =
                    controller_of(existing.as_ref()).is_some_and(|o| o.uid == uid_of(&self.d));
                if ours && equal_ignore_hash(&rs_template(&existing), &self.spec.template) {
                    already_exists = true;
                    (*existing).clone()
                } else {
                    // A hash collision: bump the count so that the next sync gets a new name.
                    let n = collision_count.unwrap_or(0).saturating_add(1);
                    self.status_mut().collision_count = Some(n);
                    let patch = json!({
                        "metadata": {"resourceVersion": self.d.metadata.resource_version},
                        "status": {"collisionCount": n},
                    });
                    self.patch_deployment(Some("status"), patch).await?;
                    return Err(anyhow!(
                        "hash collision for deployment {}: replica set {rs_name} exists; collisionCount is now {n}",
                        self.name()
                    ));
                }
            }
            Err(e) => {
                let msg = format!("Failed to create new replica set {rs_name:?}: {e}");
                if progress_deadline(&self.spec).is_some() {
                    let c = new_condition(PROGRESSING, "False", FAILED_RS_CREATE, msg.clone());
                    set_condition(self.status_mut(), c);
                    let status = self.status();
                    self.write_status(&status).await?;
                }
                self.c
                    .recorder
                    .publish(&self.d, Type::Warning, FAILED_RS_CREATE, &msg)
                    .await;
                return Err(e).context(format!("cannot create replica set {rs_name}"));
            }
        };
        if !already_exists && new_replicas > 0 {
            let msg = format!("Scaled up replica set {rs_name} from 0 to {new_replicas}");
            self.c
                .recorder
                .publish(&self.d, Type::Normal, "ScalingReplicaSet", &msg)
                .await;
        }
        self.set_deployment_revision(&new_revision.to_string())
            .await?;
        if !already_exists && progress_deadline(&self.spec).is_some() {
            let msg = format!("Created new replica set {rs_name:?}");
            let c = new_condition(PROGRESSING, "True", NEW_REPLICA_SET_CREATED, msg);
            set_condition(self.status_mut(), c);
        }
        rs_list.push(created.clone());
        Ok(Some(created))
    }

    /// Puts the revision annotation on the Deployment (a metadata patch) if it differs.
    async fn set_deployment_revision(&mut self, revision: &str) -> anyhow::Result<()> {
        if annotation(&self.d, REVISION) == Some(revision) {
            return Ok(());
        }
        let patch = json!({"metadata": {"annotations": {REVISION: revision}}});
        self.patch_deployment(None, patch).await?;
        self.d
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REVISION.into(), revision.into());
        Ok(())
    }

    async fn patch_deployment(
        &mut self,
        subresource: Option<&str>,
        patch: Value,
    ) -> anyhow::Result<()> {
        let name = self.name();
        let answer = self
            .c
            .ctx
            .writer
            .merge_patch(
                &barge_client::writer::resource::<Deployment>(),
                &self.namespace,
                &name,
                subresource,
                patch,
            )
            .await
            .with_context(|| format!("cannot patch deployment {name}"))?;
        if let Some(rv) = answer["metadata"]["resourceVersion"].as_str() {
            self.d.metadata.resource_version = Some(rv.to_owned());
        }
        Ok(())
    }

    /// Writes the status with a merge patch (zeros written out so that counts can go down).
    async fn write_status(&mut self, status: &DeploymentStatus) -> anyhow::Result<()> {
        let g = |v: Option<i32>| v.unwrap_or(0);
        let mut body = json!({
            "observedGeneration": status.observed_generation.unwrap_or(0),
            "replicas": g(status.replicas),
            "updatedReplicas": g(status.updated_replicas),
            "readyReplicas": g(status.ready_replicas),
            "availableReplicas": g(status.available_replicas),
            "unavailableReplicas": g(status.unavailable_replicas),
            "conditions": status.conditions.clone().unwrap_or_default(),
        });
        if let Some(n) = status.collision_count {
            body["collisionCount"] = json!(n);
        }
        let patch = json!({
            "metadata": {"resourceVersion": self.d.metadata.resource_version},
            "status": body,
        });
        self.patch_deployment(Some("status"), patch).await?;
        self.d.status = Some(status.clone());
        self.cached_status = status.clone();
        Ok(())
    }

    /// Upstream's `scaleReplicaSetAndRecordEvent`.
    async fn scale_and_record(&self, rs: &mut ReplicaSet, new_scale: i32) -> anyhow::Result<bool> {
        if spec_replicas(rs) == new_scale {
            return Ok(false);
        }
        self.scale_replica_set(rs, new_scale).await
    }

    /// Upstream's `scaleReplicaSet`: the new size and the replicas annotations, and the
    /// ScalingReplicaSet event; whether the size changed.
    async fn scale_replica_set(&self, rs: &mut ReplicaSet, new_scale: i32) -> anyhow::Result<bool> {
        let desired = self.replicas();
        let max = desired + max_surge(&self.spec);
        let size_changed = spec_replicas(rs) != new_scale;
        if !size_changed && !replicas_annotations_need_update(rs, desired, max) {
            return Ok(false);
        }
        let old_scale = spec_replicas(rs);
        let patch = json!({
            "metadata": {
                "resourceVersion": rs.metadata.resource_version,
                "annotations": {
                    DESIRED_REPLICAS: desired.to_string(),
                    MAX_REPLICAS: max.to_string(),
                },
            },
            "spec": {"replicas": new_scale},
        });
        let rv = self
            .patch_rs(rs, patch)
            .await
            .with_context(|| format!("cannot scale replica set {}", name_of(rs)))?;
        set_spec_replicas(rs, new_scale);
        set_replicas_annotations(rs, desired, max);
        if rv.is_some() {
            rs.metadata.resource_version = rv;
        }
        if size_changed {
            let op = if old_scale < new_scale { "up" } else { "down" };
            let msg = format!(
                "Scaled {op} replica set {} from {old_scale} to {new_scale}",
                name_of(rs)
            );
            self.c
                .recorder
                .publish(&self.d, Type::Normal, "ScalingReplicaSet", &msg)
                .await;
        }
        Ok(size_changed)
    }

    /// Upstream's `isScalingEvent`: an active RS whose desired-replicas annotation differs
    /// from the Deployment's replicas.
    async fn is_scaling_event(&mut self, rs_list: &mut Vec<ReplicaSet>) -> anyhow::Result<bool> {
        let (new_rs, old) = self.get_all_and_sync_revision(rs_list, false).await?;
        let replicas = self.replicas();
        Ok(old
            .iter()
            .chain(new_rs.as_ref())
            .filter(|rs| is_active(rs))
            .filter_map(|rs| int_annotation(rs, DESIRED_REPLICAS))
            .any(|desired| desired != replicas))
    }

    /// Upstream's `sync`: scaling (paused or a scaling event) without rolling out.
    async fn sync_scale(&mut self, rs_list: &mut Vec<ReplicaSet>) -> anyhow::Result<()> {
        let (mut new_rs, mut old) = self.get_all_and_sync_revision(rs_list, false).await?;
        self.scale(new_rs.as_mut(), &mut old).await?;
        if self.spec.paused == Some(true) {
            self.cleanup(&old).await?;
        }
        self.sync_deployment_status(&old, new_rs.as_ref()).await
    }

    /// Upstream's `scale`, with proportional scaling of a rolling update.
    async fn scale(
        &mut self,
        new_rs: Option<&mut ReplicaSet>,
        old: &mut [ReplicaSet],
    ) -> anyhow::Result<()> {
        let replicas = self.replicas();
        // One active RS (or none: the newest) gets the whole size.
        old.sort_by(|a, b| by_creation(b, a));
        let new_name = new_rs.as_ref().map(|rs| name_of(*rs).to_owned());
        let active: Vec<String> = new_rs
            .iter()
            .map(|rs| &**rs)
            .chain(old.iter())
            .filter(|rs| is_active(rs))
            .map(|rs| name_of(rs).to_owned())
            .collect();
        let mut new_rs = new_rs;
        if active.len() <= 1 && (new_rs.is_some() || !old.is_empty()) {
            let target: &mut ReplicaSet = match (active.first(), new_rs.as_deref_mut()) {
                (Some(name), Some(n)) if Some(name) == new_name.as_ref() => n,
                (Some(name), _) => match old.iter_mut().find(|rs| name_of(*rs) == name) {
                    Some(rs) => rs,
                    None => return Ok(()),
                },
                (None, Some(n)) => n,
                (None, None) => &mut old[0],
            };
            if spec_replicas(target) != replicas {
                self.scale_and_record(target, replicas).await?;
            }
            return Ok(());
        }
        // A saturated new RS: the old ones go to zero.
        if let Some(n) = new_rs.as_deref()
            && self.is_saturated(n)
        {
            for rs in old.iter_mut().filter(|rs| is_active(rs)) {
                self.scale_and_record(rs, 0).await?;
            }
            return Ok(());
        }
        if is_recreate(Some(&self.spec)) {
            return Ok(());
        }
        // Proportional scaling of every active RS.
        let mut all: Vec<&mut ReplicaSet> = new_rs
            .into_iter()
            .chain(old.iter_mut())
            .filter(|rs| is_active(rs))
            .collect();
        let all_replicas: i32 = all.iter().map(|rs| spec_replicas(rs)).sum();
        let allowed = if replicas > 0 {
            replicas + max_surge(&self.spec)
        } else {
            0
        };
        let to_add = allowed - all_replicas;
        match to_add.cmp(&0) {
            Ordering::Greater => all.sort_by(|a, b| by_size_newer(a, b)),
            Ordering::Less => all.sort_by(|a, b| by_size_older(a, b)),
            Ordering::Equal => {}
        }
        let mut added = 0;
        let mut sizes = Vec::with_capacity(all.len());
        for rs in &all {
            if to_add != 0 {
                let p = self.proportion(rs, to_add, added);
                sizes.push(spec_replicas(rs) + p);
                added += p;
            } else {
                sizes.push(spec_replicas(rs));
            }
        }
        for (i, rs) in all.into_iter().enumerate() {
            if i == 0 && to_add != 0 {
                sizes[0] = (sizes[0] + to_add - added).max(0);
            }
            self.scale_replica_set(rs, sizes[i]).await?;
        }
        Ok(())
    }

    /// Upstream's `IsSaturated`.
    fn is_saturated(&self, rs: &ReplicaSet) -> bool {
        let replicas = self.replicas();
        int_annotation(rs, DESIRED_REPLICAS) == Some(replicas)
            && spec_replicas(rs) == replicas
            && available_replicas(rs) == replicas
    }

    /// Upstream's `GetReplicaSetProportion`.
    fn proportion(&self, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
        if spec_replicas(rs) == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = self.fraction(rs);
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// Upstream's `getReplicaSetFraction`.
    fn fraction(&self, rs: &ReplicaSet) -> i32 {
        let replicas = self.replicas();
        if replicas == 0 {
            return -spec_replicas(rs);
        }
        let deployment_replicas = replicas + max_surge(&self.spec);
        let annotated = int_annotation(rs, MAX_REPLICAS)
            .unwrap_or_else(|| self.cached_status.replicas.unwrap_or(0));
        if annotated == 0 {
            return 0;
        }
        let size =
            f64::from(spec_replicas(rs)) * f64::from(deployment_replicas) / f64::from(annotated);
        size.round() as i32 - spec_replicas(rs)
    }

    /// Upstream's `cleanupDeployment`: deletes the oldest dead RSs beyond the history limit.
    async fn cleanup(&self, old: &[ReplicaSet]) -> anyhow::Result<()> {
        let limit = self
            .spec
            .revision_history_limit
            .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT);
        if limit == i32::MAX {
            return Ok(());
        }
        let mut cleanable: Vec<&ReplicaSet> = old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let diff = i64::try_from(cleanable.len()).unwrap_or(i64::MAX) - i64::from(limit);
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| by_revision(a, b));
        for rs in cleanable
            .into_iter()
            .take(usize::try_from(diff).unwrap_or(0))
        {
            let status = rs_status(rs);
            if status.replicas != 0
                || spec_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > status.observed_generation.unwrap_or(0)
            {
                continue;
            }
            let options = Delete {
                uid: rs.metadata.uid.clone(),
                ..Default::default()
            };
            match self
                .c
                .ctx
                .writer
                .delete_typed::<ReplicaSet>(&self.namespace, name_of(rs), &options)
                .await
            {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot delete replica set {}", name_of(rs)));
                }
            }
        }
        Ok(())
    }

    // --- RollingUpdate (rolling.go) ----------------------------------------------------------

    async fn rollout_rolling(&mut self, rs_list: &mut Vec<ReplicaSet>) -> anyhow::Result<()> {
        let (new_rs, mut old) = self.get_all_and_sync_revision(rs_list, true).await?;
        let Some(mut new_rs) = new_rs else {
            return Err(anyhow!("no new replica set"));
        };
        if self.reconcile_new_replica_set(&old, &mut new_rs).await? {
            return self.sync_rollout_status(&old, Some(&new_rs)).await;
        }
        if self.reconcile_old_replica_sets(&mut old, &new_rs).await? {
            return self.sync_rollout_status(&old, Some(&new_rs)).await;
        }
        if deployment_complete(&self.d, &self.spec, &self.status()) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(&old, Some(&new_rs)).await
    }

    /// Upstream's `reconcileNewReplicaSet`.
    async fn reconcile_new_replica_set(
        &mut self,
        old: &[ReplicaSet],
        new_rs: &mut ReplicaSet,
    ) -> anyhow::Result<bool> {
        let replicas = self.replicas();
        let current = spec_replicas(new_rs);
        if current == replicas {
            return Ok(false);
        }
        if current > replicas {
            return self.scale_and_record(new_rs, replicas).await;
        }
        let all: Vec<&ReplicaSet> = old.iter().chain([&*new_rs]).collect();
        let n = new_rs_new_replicas(&self.spec, &all, new_rs)?;
        self.scale_and_record(new_rs, n).await
    }

    /// Upstream's `reconcileOldReplicaSets`.
    async fn reconcile_old_replica_sets(
        &mut self,
        old: &mut [ReplicaSet],
        new_rs: &ReplicaSet,
    ) -> anyhow::Result<bool> {
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let old_pods = sum(&old_refs, spec_replicas);
        if old_pods == 0 {
            return Ok(false);
        }
        let all_pods = old_pods + spec_replicas(new_rs);
        let min_available = self.replicas() - max_unavailable(&self.spec);
        let new_unavailable = spec_replicas(new_rs) - available_replicas(new_rs);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        // Only active old RSs (upstream passes FilterActiveReplicaSets(oldRSs)).
        let mut active: Vec<&mut ReplicaSet> = old.iter_mut().filter(|rs| is_active(rs)).collect();
        active.sort_by(|a, b| by_creation(a, b));
        let cleaned = self.cleanup_unhealthy(&mut active, max_scaled_down).await?;
        let scaled = self
            .scale_down_old_for_rolling_update(&mut active, new_rs)
            .await?;
        Ok(cleaned + scaled > 0)
    }

    /// Upstream's `cleanupUnhealthyReplicas`: scales down old RSs' unavailable pods first.
    async fn cleanup_unhealthy(
        &mut self,
        old: &mut [&mut ReplicaSet],
        max_cleanup: i32,
    ) -> anyhow::Result<i32> {
        let mut total = 0;
        for rs in old.iter_mut() {
            if total >= max_cleanup {
                break;
            }
            let replicas = spec_replicas(rs);
            let available = available_replicas(rs);
            if replicas == 0 || replicas == available {
                continue;
            }
            let count = (max_cleanup - total).min(replicas - available);
            let new_replicas = replicas - count;
            if new_replicas > replicas {
                return Err(anyhow!(
                    "when cleaning up unhealthy replicas, got invalid request to scale down {}/{} {replicas} -> {new_replicas}",
                    self.namespace,
                    name_of(&**rs)
                ));
            }
            self.scale_and_record(rs, new_replicas).await?;
            total += count;
        }
        Ok(total)
    }

    /// Upstream's `scaleDownOldReplicaSetsForRollingUpdate`.
    async fn scale_down_old_for_rolling_update(
        &mut self,
        old: &mut [&mut ReplicaSet],
        new_rs: &ReplicaSet,
    ) -> anyhow::Result<i32> {
        let min_available = self.replicas() - max_unavailable(&self.spec);
        let available: i32 =
            old.iter().map(|rs| available_replicas(rs)).sum::<i32>() + available_replicas(new_rs);
        if available <= min_available {
            return Ok(0);
        }
        let to_scale_down = available - min_available;
        let mut total = 0;
        for rs in old.iter_mut() {
            if total >= to_scale_down {
                break;
            }
            let replicas = spec_replicas(rs);
            if replicas == 0 {
                continue;
            }
            let count = replicas.min(to_scale_down - total);
            self.scale_and_record(rs, replicas - count).await?;
            total += count;
        }
        Ok(total)
    }

    // --- Recreate (recreate.go) --------------------------------------------------------------

    async fn rollout_recreate(&mut self, rs_list: &mut Vec<ReplicaSet>) -> anyhow::Result<()> {
        let (mut new_rs, mut old) = self.get_all_and_sync_revision(rs_list, false).await?;
        let mut scaled_down = false;
        for rs in old.iter_mut().filter(|rs| is_active(rs)) {
            if self.scale_and_record(rs, 0).await? {
                scaled_down = true;
            }
        }
        if scaled_down || self.old_pods_running(new_rs.as_ref(), &old) {
            return self.sync_rollout_status(&old, new_rs.as_ref()).await;
        }
        if new_rs.is_none() {
            (new_rs, old) = self.get_all_and_sync_revision(rs_list, true).await?;
        }
        if let Some(rs) = new_rs.as_mut() {
            let replicas = self.replicas();
            self.scale_and_record(rs, replicas).await?;
        }
        if deployment_complete(&self.d, &self.spec, &self.status()) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(&old, new_rs.as_ref()).await
    }

    /// Upstream's `oldPodsRunning`: old RSs still report pods, or a pod of an old RS is not
    /// terminated.
    fn old_pods_running(&self, new_rs: Option<&ReplicaSet>, old: &[ReplicaSet]) -> bool {
        if old.iter().map(status_replicas).sum::<i32>() > 0 {
            return true;
        }
        let new_uid = new_rs.map(uid_of);
        let pods = &self.c.ctx.informers.pods;
        old.iter()
            .filter(|rs| Some(uid_of(*rs)) != new_uid && !uid_of(*rs).is_empty())
            .any(|rs| {
                pods.cache()
                    .by_index(BY_OWNER, uid_of(rs))
                    .iter()
                    .filter(|p| controller_of(p.as_ref()).is_some_and(|o| o.uid == uid_of(rs)))
                    .any(|p| !matches!(phase(p), "Succeeded" | "Failed"))
            })
    }

    // --- Status (sync.go, progress.go) -------------------------------------------------------

    /// Upstream's `calculateStatus`.
    fn calculate_status(
        &self,
        old: &[ReplicaSet],
        new_rs: Option<&ReplicaSet>,
    ) -> DeploymentStatus {
        let all: Vec<&ReplicaSet> = old.iter().chain(new_rs).collect();
        let available = sum(&all, available_replicas);
        let total = sum(&all, spec_replicas);
        let mut status = DeploymentStatus {
            observed_generation: self.d.metadata.generation,
            replicas: Some(sum(&all, status_replicas)),
            updated_replicas: Some(new_rs.map_or(0, status_replicas)),
            ready_replicas: Some(sum(&all, ready_replicas)),
            available_replicas: Some(available),
            unavailable_replicas: Some((total - available).max(0)),
            collision_count: self.status().collision_count,
            conditions: self.status().conditions,
        };
        if available >= self.replicas() - max_unavailable(&self.spec) {
            let c = new_condition(
                AVAILABLE,
                "True",
                MINIMUM_REPLICAS_AVAILABLE,
                "Deployment has minimum availability.".into(),
            );
            set_condition(&mut status, c);
        } else {
            let c = new_condition(
                AVAILABLE,
                "False",
                MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
            );
            set_condition(&mut status, c);
        }
        status
    }

    /// Upstream's `syncDeploymentStatus`.
    async fn sync_deployment_status(
        &mut self,
        old: &[ReplicaSet],
        new_rs: Option<&ReplicaSet>,
    ) -> anyhow::Result<()> {
        let status = self.calculate_status(old, new_rs);
        self.write_status_if_changed(status).await.map(drop)
    }

    async fn write_status_if_changed(&mut self, status: DeploymentStatus) -> anyhow::Result<bool> {
        if normalized(&status) == normalized(&self.cached_status) {
            return Ok(false);
        }
        self.write_status(&status).await?;
        Ok(true)
    }

    /// Upstream's `syncRolloutStatus`: the status with the Progressing condition, and a
    /// requeue to check the progress deadline.
    async fn sync_rollout_status(
        &mut self,
        old: &[ReplicaSet],
        new_rs: Option<&ReplicaSet>,
    ) -> anyhow::Result<()> {
        let mut status = self.calculate_status(old, new_rs);
        let deadline = progress_deadline(&self.spec);
        if deadline.is_none() {
            remove_condition(&mut status, PROGRESSING);
        }
        let current_status = self.status();
        let current = condition(&current_status, PROGRESSING).cloned();
        let complete = status.replicas == status.updated_replicas
            && current
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
        if deadline.is_some() && !complete {
            let subject = match new_rs {
                Some(rs) => format!("ReplicaSet {:?}", name_of(rs)),
                None => format!("Deployment {:?}", self.name()),
            };
            if deployment_complete(&self.d, &self.spec, &status) {
                let msg = format!("{subject} has successfully progressed.");
                set_condition(
                    &mut status,
                    new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, msg),
                );
            } else if deployment_progressing(&current_status, &status) {
                let msg = format!("{subject} is progressing.");
                let mut c = new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED, msg);
                if let Some(current) = &current {
                    if current.status == "True" {
                        c.last_transition_time = current.last_transition_time.clone();
                    }
                    remove_condition(&mut status, PROGRESSING);
                }
                set_condition(&mut status, c);
            } else if deployment_timed_out(&self.spec, &status, Timestamp::now()) {
                let msg = format!("{subject} has timed out progressing.");
                set_condition(
                    &mut status,
                    new_condition(PROGRESSING, "False", TIMED_OUT, msg),
                );
            }
        }
        match replica_failure(old, new_rs) {
            Some(c) => set_condition(&mut status, c),
            None => remove_condition(&mut status, REPLICA_FAILURE),
        }
        if !self.write_status_if_changed(status.clone()).await? {
            self.requeue = self.requeue_stuck(&status);
        }
        Ok(())
    }

    /// Upstream's `requeueStuckDeployment`: when to look again for a missed deadline.
    fn requeue_stuck(&self, new_status: &DeploymentStatus) -> Option<Duration> {
        let deadline = progress_deadline(&self.spec)?;
        let status = self.status();
        let current = condition(&status, PROGRESSING)?;
        if matches!(
            current.reason.as_deref(),
            Some(NEW_RS_AVAILABLE | TIMED_OUT)
        ) {
            return None;
        }
        if deployment_complete(&self.d, &self.spec, new_status) {
            return None;
        }
        let from = current.last_update_time.as_ref()?.0;
        let due = from + SignedDuration::from_secs(i64::from(deadline));
        let after = Timestamp::now().duration_until(due);
        if after < SignedDuration::from_secs(1) {
            return Some(Duration::from_secs(1));
        }
        Duration::try_from(after).ok()
    }
}

/// Upstream's `getReplicaFailures`: the new RS's ReplicaFailure condition, else any RS's.
fn replica_failure(old: &[ReplicaSet], new_rs: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    let failure = |rs: &ReplicaSet| {
        rs.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == REPLICA_FAILURE))
            .map(|c| DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_transition_time: c.last_transition_time.clone(),
                last_update_time: c.last_transition_time.clone(),
            })
    };
    new_rs
        .and_then(failure)
        .or_else(|| old.iter().chain(new_rs).find_map(failure))
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::Recording;
    use barge_client::writer::Call;
    use k8s_openapi::api::apps::v1::{DeploymentStrategy, RollingUpdateDeployment};
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus};

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    fn rolling(surge: IntOrString, unavailable: IntOrString) -> DeploymentStrategy {
        DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(surge),
                max_unavailable: Some(unavailable),
            }),
        }
    }

    fn recreate() -> DeploymentStrategy {
        DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        }
    }

    fn deployment(replicas: i32, image: &str, strategy: DeploymentStrategy) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("uid-web".into()),
                generation: Some(1),
                resource_version: Some("1".into()),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some(labels(&[("app", "web")])),
                    ..Default::default()
                },
                template: template(image),
                strategy: Some(strategy),
                revision_history_limit: Some(10),
                progress_deadline_seconds: Some(600),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn hash_of(d: &Deployment) -> String {
        compute_hash(&d.spec.as_ref().unwrap().template, None)
    }

    /// An RS of `d`'s template (as the controller would have made it) with `n` pods, all
    /// available.
    fn owned_rs(d: &Deployment, image: &str, n: i32, revision: i64, age_secs: i64) -> ReplicaSet {
        let mut t = template(image);
        let hash = compute_hash(&t, None);
        t.metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let replicas = d.spec.as_ref().unwrap().replicas.unwrap();
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("web-{hash}")),
                namespace: Some("default".into()),
                uid: Some(format!("uid-web-{hash}")),
                resource_version: Some("5".into()),
                creation_timestamp: Some(Time(
                    Timestamp::now() - SignedDuration::from_secs(age_secs),
                )),
                labels: t.metadata.as_ref().unwrap().labels.clone(),
                annotations: Some(labels(&[
                    (REVISION, &revision.to_string()),
                    (DESIRED_REPLICAS, &replicas.to_string()),
                    (
                        MAX_REPLICAS,
                        &(replicas + max_surge(d.spec.as_ref().unwrap())).to_string(),
                    ),
                ])),
                owner_references: Some(vec![controller_ref(d)]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(n),
                selector: LabelSelector {
                    match_labels: Some(labels(&[("app", "web"), (POD_TEMPLATE_HASH, &hash)])),
                    ..Default::default()
                },
                template: Some(t),
                min_ready_seconds: None,
            }),
            status: Some(ReplicaSetStatus {
                replicas: n,
                available_replicas: Some(n),
                ready_replicas: Some(n),
                ..Default::default()
            }),
        }
    }

    /// RFC 7386.
    fn merge(target: &mut Value, patch: &Value) {
        match patch {
            Value::Object(p) => {
                if !target.is_object() {
                    *target = json!({});
                }
                let t = target.as_object_mut().unwrap();
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
            other => *target = other.clone(),
        }
    }

    /// A cluster of seeded caches that the recorded writes are applied to.
    struct Sim {
        ctx: Context,
        writer: Arc<Recording>,
        controller: DeploymentController,
        rv: u64,
        events: Vec<String>,
    }

    impl Sim {
        fn new() -> Self {
            let (ctx, writer) = Context::for_tests();
            let controller = DeploymentController::new(&ctx);
            Self {
                ctx,
                writer,
                controller,
                rv: 100,
                events: Vec::new(),
            }
        }

        fn deployment(&self) -> Deployment {
            (*self
                .ctx
                .informers
                .deployments
                .cache()
                .get("default", "web")
                .unwrap())
            .clone()
        }

        fn rs(&self, name: &str) -> ReplicaSet {
            (*self
                .ctx
                .informers
                .replica_sets
                .cache()
                .get("default", name)
                .unwrap())
            .clone()
        }

        fn all_rs(&self) -> Vec<ReplicaSet> {
            let mut v: Vec<ReplicaSet> = self
                .ctx
                .informers
                .replica_sets
                .cache()
                .list()
                .iter()
                .map(|r| (**r).clone())
                .collect();
            v.sort_by(by_creation);
            v
        }

        async fn reconcile(&mut self) -> Option<Duration> {
            self.controller
                .reconcile(&Key::new("default", "web"))
                .await
                .unwrap()
        }

        /// Applies the recorded writes to the caches; returns their summaries (events apart).
        fn apply(&mut self) -> Vec<Call> {
            let mut calls = Vec::new();
            for call in self.writer.take() {
                self.rv += 1;
                let rv = self.rv.to_string();
                match &call {
                    Call::Create { target, object } if target.plural == "events" => {
                        self.events
                            .push(object["message"].as_str().unwrap_or_default().to_owned());
                        continue;
                    }
                    Call::Patch { target, .. } if target.plural == "events" => continue,
                    Call::Create { target, object } if target.plural == "replicasets" => {
                        let mut rs: ReplicaSet = serde_json::from_value(object.clone()).unwrap();
                        rs.metadata.resource_version = Some(rv);
                        rs.metadata.creation_timestamp = Some(Time(
                            Timestamp::now() + SignedDuration::from_secs(self.rv as i64),
                        ));
                        rs.status = Some(ReplicaSetStatus::default());
                        self.ctx.informers.replica_sets.apply(rs);
                    }
                    Call::Patch { target, patch, .. } if target.plural == "replicasets" => {
                        let rs = self.rs(&target.name);
                        let mut v = serde_json::to_value(&rs).unwrap();
                        merge(&mut v, patch);
                        v["metadata"]["resourceVersion"] = json!(rv);
                        self.ctx
                            .informers
                            .replica_sets
                            .apply(serde_json::from_value(v).unwrap());
                    }
                    Call::Patch { target, patch, .. } if target.plural == "deployments" => {
                        let mut v = serde_json::to_value(self.deployment()).unwrap();
                        merge(&mut v, patch);
                        v["metadata"]["resourceVersion"] = json!(rv);
                        self.ctx
                            .informers
                            .deployments
                            .apply(serde_json::from_value(v).unwrap());
                    }
                    Call::Delete { target, .. } if target.plural == "replicasets" => {
                        self.ctx
                            .informers
                            .replica_sets
                            .delete(&Key::new("default", &target.name));
                    }
                    _ => {}
                }
                calls.push(call);
            }
            calls
        }

        fn summaries(&mut self) -> Vec<String> {
            self.apply().iter().map(Call::summary).collect()
        }

        /// The ReplicaSet controller and kubelets: pods exist for every RS's spec (extra ones
        /// gone at once); new ones not yet available.
        fn pods_created(&mut self) {
            for mut rs in self.all_rs() {
                let n = spec_replicas(&rs);
                let status = rs.status.get_or_insert_with(Default::default);
                status.replicas = n;
                let available = status.available_replicas.unwrap_or(0).min(n);
                status.available_replicas = Some(available);
                status.ready_replicas = Some(available);
                self.ctx.informers.replica_sets.apply(rs);
            }
        }

        /// Every pod available.
        fn pods_ready(&mut self) {
            for mut rs in self.all_rs() {
                let n = spec_replicas(&rs);
                rs.status = Some(ReplicaSetStatus {
                    replicas: n,
                    available_replicas: Some(n),
                    ready_replicas: Some(n),
                    ..Default::default()
                });
                self.ctx.informers.replica_sets.apply(rs);
            }
        }

        fn set_template(&mut self, image: &str) {
            let mut d = self.deployment();
            d.spec.as_mut().unwrap().template = template(image);
            d.metadata.generation = Some(d.metadata.generation.unwrap_or(1) + 1);
            self.ctx.informers.deployments.apply(d);
        }

        fn status(&self) -> DeploymentStatus {
            self.deployment().status.unwrap_or_default()
        }
    }

    fn progressing(status: &DeploymentStatus) -> (String, String, String) {
        let c = condition(status, PROGRESSING).expect("a Progressing condition");
        (
            c.status.clone(),
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default(),
        )
    }

    #[test]
    fn the_hash_is_stable_short_and_in_the_safe_alphabet() {
        let t = template("nginx:1");
        let h = compute_hash(&t, None);
        assert_eq!(h, compute_hash(&t.clone(), None));
        assert!(!h.is_empty() && h.len() <= 10, "{h}");
        assert!(
            h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{h}"
        );
        assert_ne!(h, compute_hash(&template("nginx:2"), None));
        assert_ne!(h, compute_hash(&t, Some(1)));
        // SafeEncodeString maps the decimal digits as upstream does.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn surge_rounds_up_and_unavailable_rounds_down() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(
            resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 10).unwrap(),
            (3, 2)
        );
        assert_eq!(
            resolve_fenceposts(Some(&pct("30%")), Some(&pct("30%")), 5).unwrap(),
            (2, 1)
        );
        assert_eq!(
            resolve_fenceposts(Some(&IntOrString::Int(2)), Some(&IntOrString::Int(0)), 3).unwrap(),
            (2, 0)
        );
        // Both zero: one may be unavailable.
        assert_eq!(
            resolve_fenceposts(Some(&pct("0%")), Some(&pct("10%")), 3).unwrap(),
            (0, 1)
        );
        assert!(resolve_fenceposts(Some(&pct("25")), None, 3).is_err());
        let mut spec = deployment(3, "a", rolling(pct("50%"), pct("100%")))
            .spec
            .unwrap();
        assert_eq!(max_unavailable(&spec), 3, "capped at replicas");
        spec.strategy = Some(recreate());
        assert_eq!((max_surge(&spec), max_unavailable(&spec)), (0, 0));
    }

    #[tokio::test]
    async fn a_new_deployment_creates_its_replica_set_and_scales_it() {
        let mut sim = Sim::new();
        let mut d = deployment(3, "nginx:1", rolling("25%".into_ios(), "25%".into_ios()));
        d.metadata.annotations = Some(labels(&[
            (
                "kubernetes.io/change-cause",
                "kubectl create deployment web",
            ),
            (LAST_APPLIED, "{}"),
        ]));
        let hash = hash_of(&d);
        sim.ctx.informers.deployments.apply(d);
        sim.reconcile().await;
        let calls = sim.apply();
        let summaries: Vec<String> = calls.iter().map(Call::summary).collect();
        assert_eq!(
            summaries,
            [
                format!("create replicasets default/web-{hash}"),
                "patch deployments default/web".into(),
                "patch deployments/status default/web".into(),
            ]
        );
        let Call::Create { object: rs, .. } = &calls[0] else {
            panic!()
        };
        assert_eq!(rs["metadata"]["labels"]["pod-template-hash"], hash.as_str());
        assert_eq!(rs["metadata"]["labels"]["app"], "web");
        assert_eq!(
            rs["spec"]["selector"]["matchLabels"]["pod-template-hash"],
            hash.as_str()
        );
        assert_eq!(
            rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"],
            hash.as_str()
        );
        assert_eq!(rs["spec"]["replicas"], 3);
        let owner = &rs["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "Deployment");
        assert_eq!(owner["apiVersion"], "apps/v1");
        assert_eq!(owner["uid"], "uid-web");
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["blockOwnerDeletion"], true);
        let annotations = &rs["metadata"]["annotations"];
        assert_eq!(annotations[REVISION], "1");
        assert_eq!(annotations[DESIRED_REPLICAS], "3");
        assert_eq!(annotations[MAX_REPLICAS], "4");
        assert_eq!(
            annotations["kubernetes.io/change-cause"],
            "kubectl create deployment web"
        );
        assert!(annotations.get(LAST_APPLIED).is_none());
        assert_eq!(
            sim.events,
            [format!("Scaled up replica set web-{hash} from 0 to 3")]
        );
        let d = sim.deployment();
        assert_eq!(annotation(&d, REVISION), Some("1"));
        let status = d.status.unwrap();
        assert_eq!(status.observed_generation, Some(1));
        assert_eq!(
            progressing(&status),
            (
                "True".into(),
                NEW_REPLICA_SET_CREATED.into(),
                format!("Created new replica set \"web-{hash}\"")
            )
        );
        let available = condition(&status, AVAILABLE).unwrap();
        assert_eq!(available.status, "False");
        assert_eq!(
            available.reason.as_deref(),
            Some(MINIMUM_REPLICAS_UNAVAILABLE)
        );
        assert_eq!(
            available.message.as_deref(),
            Some("Deployment does not have minimum availability.")
        );

        // Nothing changed: nothing written.
        sim.reconcile().await;
        assert!(
            sim.summaries().is_empty(),
            "unchanged status is not written"
        );
        // Pods created, then available.
        sim.pods_created();
        sim.reconcile().await;
        assert_eq!(sim.summaries(), ["patch deployments/status default/web"]);
        let status = sim.status();
        assert_eq!(
            (
                status.replicas,
                status.updated_replicas,
                status.available_replicas
            ),
            (Some(3), Some(3), Some(0))
        );
        assert_eq!(status.unavailable_replicas, Some(3));
        assert_eq!(
            progressing(&status),
            (
                "True".into(),
                REPLICA_SET_UPDATED.into(),
                format!("ReplicaSet \"web-{hash}\" is progressing.")
            )
        );
        sim.pods_ready();
        sim.reconcile().await;
        assert_eq!(sim.summaries(), ["patch deployments/status default/web"]);
        let status = sim.status();
        assert_eq!(
            (
                status.replicas,
                status.updated_replicas,
                status.ready_replicas,
                status.available_replicas,
                status.unavailable_replicas
            ),
            (Some(3), Some(3), Some(3), Some(3), Some(0))
        );
        assert_eq!(
            progressing(&status),
            (
                "True".into(),
                NEW_RS_AVAILABLE.into(),
                format!("ReplicaSet \"web-{hash}\" has successfully progressed.")
            )
        );
        let available = condition(&status, AVAILABLE).unwrap();
        assert_eq!(
            (available.status.as_str(), available.message.as_deref()),
            ("True", Some("Deployment has minimum availability."))
        );
        assert_eq!(
            sim.reconcile().await,
            None,
            "complete: no deadline to check"
        );
        assert!(sim.summaries().is_empty());
    }

    /// Brings a fresh deployment to a complete rollout of `image`.
    async fn settled(sim: &mut Sim, d: Deployment) {
        sim.ctx.informers.deployments.apply(d);
        for _ in 0..3 {
            sim.reconcile().await;
            sim.apply();
            sim.pods_ready();
        }
        sim.reconcile().await;
        sim.apply();
        sim.events.clear();
        assert_eq!(progressing(&sim.status()).1, NEW_RS_AVAILABLE);
    }

    /// Runs reconciles, alternating "pods created" and "pods available", checking the bounds
    /// after every sync; returns when the rollout is complete.
    async fn roll_out(sim: &mut Sim, replicas: i32, surge: i32, unavailable: i32) {
        for round in 0..60 {
            sim.reconcile().await;
            sim.apply();
            let all = sim.all_rs();
            let total: i32 = all.iter().map(spec_replicas).sum();
            // Pods a scale-down removes are gone at once: what stays available is bounded by
            // the new size.
            let available: i32 = all
                .iter()
                .map(|rs| available_replicas(rs).min(spec_replicas(rs)))
                .sum();
            assert!(
                total <= replicas + surge,
                "round {round}: {total} pods > {replicas} + {surge}"
            );
            assert!(
                available >= replicas - unavailable,
                "round {round}: {available} available < {replicas} - {unavailable}"
            );
            if round % 2 == 0 {
                sim.pods_created();
            } else {
                sim.pods_ready();
            }
            let d = sim.deployment();
            let status = sim.status();
            if status.observed_generation == d.metadata.generation
                && status.updated_replicas == Some(replicas)
                && status.replicas == Some(replicas)
                && status.available_replicas == Some(replicas)
                && progressing(&status).1 == NEW_RS_AVAILABLE
            {
                return;
            }
        }
        panic!("the rollout did not complete: {:?}", sim.status());
    }

    #[tokio::test]
    async fn a_rolling_update_with_surge_one_and_no_unavailability_steps_one_pod_at_a_time() {
        let mut sim = Sim::new();
        let d = deployment(
            3,
            "nginx:1",
            rolling(IntOrString::Int(1), IntOrString::Int(0)),
        );
        let old = hash_of(&d);
        settled(&mut sim, d).await;
        sim.set_template("nginx:2");
        let new = hash_of(&sim.deployment());
        roll_out(&mut sim, 3, 1, 0).await;
        assert_eq!(
            sim.events,
            [
                format!("Scaled up replica set web-{new} from 0 to 1"),
                format!("Scaled down replica set web-{old} from 3 to 2"),
                format!("Scaled up replica set web-{new} from 1 to 2"),
                format!("Scaled down replica set web-{old} from 2 to 1"),
                format!("Scaled up replica set web-{new} from 2 to 3"),
                format!("Scaled down replica set web-{old} from 1 to 0"),
            ]
        );
        let new_rs = sim.rs(&format!("web-{new}"));
        let old_rs = sim.rs(&format!("web-{old}"));
        assert_eq!((spec_replicas(&new_rs), spec_replicas(&old_rs)), (3, 0));
        assert_eq!(annotation(&new_rs, REVISION), Some("2"));
        assert_eq!(annotation(&old_rs, REVISION), Some("1"));
        assert_eq!(annotation(&sim.deployment(), REVISION), Some("2"));
        assert_eq!(sim.status().observed_generation, Some(2));
    }

    #[tokio::test]
    async fn percentages_bound_a_rolling_update_of_ten() {
        let mut sim = Sim::new();
        let d = deployment(10, "nginx:1", rolling("25%".into_ios(), "25%".into_ios()));
        let old = hash_of(&d);
        settled(&mut sim, d).await;
        sim.set_template("nginx:2");
        let new = hash_of(&sim.deployment());
        // First sync: the new RS at the surge (ceil 2.5 = 3), the old one down by the
        // unavailability (floor 2.5 = 2).
        sim.reconcile().await;
        sim.apply();
        assert_eq!(
            sim.events,
            [
                format!("Scaled up replica set web-{new} from 0 to 3"),
                format!("Scaled down replica set web-{old} from 10 to 8"),
            ]
        );
        let new_rs = sim.rs(&format!("web-{new}"));
        assert_eq!(annotation(&new_rs, MAX_REPLICAS), Some("13"));
        assert_eq!(annotation(&new_rs, DESIRED_REPLICAS), Some("10"));
        roll_out(&mut sim, 10, 3, 2).await;
        assert_eq!(spec_replicas(&sim.rs(&format!("web-{old}"))), 0);
    }

    #[tokio::test]
    async fn recreate_scales_down_waits_for_old_pods_then_scales_up() {
        let mut sim = Sim::new();
        let d = deployment(3, "nginx:1", recreate());
        let old = hash_of(&d);
        settled(&mut sim, d).await;
        let old_rs = sim.rs(&format!("web-{old}"));
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("web-old-pod".into()),
                namespace: Some("default".into()),
                owner_references: Some(vec![controller_ref(&old_rs)]),
                labels: old_rs.metadata.labels.clone(),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some("Running".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        sim.ctx.informers.pods.apply(pod.clone());
        sim.set_template("nginx:2");
        let new = hash_of(&sim.deployment());

        sim.reconcile().await;
        assert_eq!(
            sim.summaries(),
            [
                format!("patch replicasets default/web-{old}"),
                "patch deployments/status default/web".into()
            ]
        );
        assert_eq!(
            sim.events,
            [format!("Scaled down replica set web-{old} from 3 to 0")]
        );
        // The RS reports no pods but one is still terminating: no new RS yet.
        sim.pods_created();
        sim.reconcile().await;
        assert!(
            !sim.summaries()
                .iter()
                .any(|s| s.starts_with("create replicasets")),
            "waits for the old pods"
        );
        // The pod's deletion queues the deployment; now the new RS comes up at full size.
        assert_eq!(
            pod_keys(
                &sim.ctx.informers.deployments,
                &sim.ctx.informers.replica_sets,
                &pod
            ),
            [Key::new("default", "web")]
        );
        sim.ctx
            .informers
            .pods
            .delete(&Key::new("default", "web-old-pod"));
        sim.reconcile().await;
        let summaries = sim.summaries();
        assert_eq!(
            summaries[0],
            format!("create replicasets default/web-{new}")
        );
        assert_eq!(
            sim.events[1],
            format!("Scaled up replica set web-{new} from 0 to 3")
        );
        assert_eq!(spec_replicas(&sim.rs(&format!("web-{new}"))), 3);
    }

    #[tokio::test]
    async fn old_replica_sets_beyond_the_history_limit_are_deleted_oldest_first() {
        let mut sim = Sim::new();
        let mut d = deployment(2, "v5", rolling(IntOrString::Int(1), IntOrString::Int(0)));
        d.spec.as_mut().unwrap().revision_history_limit = Some(2);
        for (i, image) in ["v1", "v2", "v3", "v4"].iter().enumerate() {
            let mut rs = owned_rs(&d, image, 0, i as i64 + 1, 100 - i as i64);
            if *image == "v2" {
                // Still has a pod: never deleted.
                rs.status.as_mut().unwrap().replicas = 1;
            }
            sim.ctx.informers.replica_sets.apply(rs);
        }
        sim.ctx
            .informers
            .replica_sets
            .apply(owned_rs(&d, "v5", 2, 5, 10));
        d.status = Some(DeploymentStatus {
            observed_generation: Some(1),
            replicas: Some(2),
            updated_replicas: Some(2),
            available_replicas: Some(2),
            ready_replicas: Some(2),
            ..Default::default()
        });
        d.metadata.annotations = Some(labels(&[(REVISION, "5")]));
        sim.ctx.informers.deployments.apply(d.clone());
        sim.reconcile().await;
        let deleted: Vec<String> = sim
            .summaries()
            .into_iter()
            .filter(|s| s.starts_with("delete"))
            .collect();
        // Four old, limit two: the two oldest revisions go, but v2 still has a pod.
        let v1 = compute_hash(&template("v1"), None);
        assert_eq!(deleted, [format!("delete replicasets default/web-{v1}")]);
    }

    #[tokio::test]
    async fn a_paused_deployment_does_not_roll_out_but_scales_and_reports() {
        let mut sim = Sim::new();
        let d = deployment(
            3,
            "nginx:1",
            rolling(IntOrString::Int(1), IntOrString::Int(0)),
        );
        let old = hash_of(&d);
        settled(&mut sim, d).await;
        let mut d = sim.deployment();
        d.spec.as_mut().unwrap().paused = Some(true);
        d.spec.as_mut().unwrap().template = template("nginx:2");
        d.metadata.generation = Some(2);
        sim.ctx.informers.deployments.apply(d);
        sim.reconcile().await;
        assert_eq!(sim.summaries(), ["patch deployments/status default/web"]);
        let status = sim.status();
        assert_eq!(status.observed_generation, Some(2));
        assert_eq!(
            progressing(&status),
            (
                "Unknown".into(),
                PAUSED.into(),
                "Deployment is paused".into()
            )
        );
        // Scaling while paused still happens (on the old RS).
        let mut d = sim.deployment();
        d.spec.as_mut().unwrap().replicas = Some(5);
        sim.ctx.informers.deployments.apply(d);
        sim.reconcile().await;
        assert_eq!(
            sim.summaries()[0],
            format!("patch replicasets default/web-{old}")
        );
        assert_eq!(
            sim.events,
            [format!("Scaled up replica set web-{old} from 3 to 5")]
        );
        assert_eq!(sim.all_rs().len(), 1, "no new RS while paused");
        // Resumed: the rollout starts.
        sim.pods_ready();
        let mut d = sim.deployment();
        d.spec.as_mut().unwrap().paused = Some(false);
        sim.ctx.informers.deployments.apply(d);
        sim.reconcile().await;
        let summaries = sim.summaries();
        assert!(
            summaries[0].starts_with("create replicasets default/web-"),
            "{summaries:?}"
        );
        // The paused condition is replaced (more pods became available meanwhile, so the
        // created-RS condition is itself replaced by progress, as upstream).
        let (_, reason, _) = progressing(&sim.status());
        assert_eq!(reason, REPLICA_SET_UPDATED);
    }

    #[tokio::test]
    async fn a_rollout_without_progress_exceeds_its_deadline() {
        let mut sim = Sim::new();
        let mut d = deployment(
            3,
            "nginx:1",
            rolling(IntOrString::Int(1), IntOrString::Int(0)),
        );
        let hash = hash_of(&d);
        let mut rs = owned_rs(&d, "nginx:1", 3, 1, 1000);
        rs.status = Some(ReplicaSetStatus {
            replicas: 3,
            ..Default::default()
        });
        sim.ctx.informers.replica_sets.apply(rs);
        let stamp = |ago: i64| Some(Time(Timestamp::now() - SignedDuration::from_secs(ago)));
        let mut status = DeploymentStatus {
            observed_generation: Some(1),
            replicas: Some(3),
            updated_replicas: Some(3),
            unavailable_replicas: Some(3),
            ..Default::default()
        };
        let mut c = new_condition(
            PROGRESSING,
            "True",
            REPLICA_SET_UPDATED,
            format!("ReplicaSet \"web-{hash}\" is progressing."),
        );
        c.last_update_time = stamp(100);
        status.conditions = Some(vec![
            c.clone(),
            new_condition(
                AVAILABLE,
                "False",
                MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
            ),
        ]);
        d.status = Some(status.clone());
        d.metadata.annotations = Some(labels(&[(REVISION, "1")]));
        sim.ctx.informers.deployments.apply(d.clone());
        // Not yet: nothing to write, asked to look again when the deadline passes.
        let again = sim.reconcile().await.expect("a requeue for the deadline");
        assert!(sim.summaries().is_empty());
        assert!(
            again > Duration::from_secs(490) && again <= Duration::from_secs(500),
            "{again:?}"
        );
        // Past the deadline.
        c.last_update_time = stamp(700);
        status.conditions.as_mut().unwrap()[0] = c;
        d.status = Some(status);
        sim.ctx.informers.deployments.apply(d);
        sim.reconcile().await;
        assert_eq!(sim.summaries(), ["patch deployments/status default/web"]);
        assert_eq!(
            progressing(&sim.status()),
            (
                "False".into(),
                TIMED_OUT.into(),
                format!("ReplicaSet \"web-{hash}\" has timed out progressing.")
            )
        );
        assert_eq!(sim.reconcile().await, None, "timed out: no more requeues");
    }

    #[tokio::test]
    async fn rolling_back_to_an_old_template_gives_its_rs_a_new_revision() {
        let mut sim = Sim::new();
        let mut d = deployment(2, "v1", rolling(IntOrString::Int(1), IntOrString::Int(0)));
        let v1 = owned_rs(&d, "v1", 0, 1, 100);
        let v2 = owned_rs(&d, "v2", 2, 2, 50);
        sim.ctx.informers.replica_sets.apply(v1.clone());
        sim.ctx.informers.replica_sets.apply(v2);
        d.metadata.annotations = Some(labels(&[
            (REVISION, "2"),
            ("kubernetes.io/change-cause", "rollback to v1"),
        ]));
        sim.ctx.informers.deployments.apply(d);
        sim.reconcile().await;
        let calls = sim.apply();
        let Call::Patch { target, patch, .. } = &calls[0] else {
            panic!("{calls:?}")
        };
        assert_eq!(target.name, name_of(&v1));
        assert_eq!(patch["metadata"]["annotations"][REVISION], "3");
        assert_eq!(patch["metadata"]["annotations"][REVISION_HISTORY], "1");
        assert_eq!(
            patch["metadata"]["annotations"]["kubernetes.io/change-cause"],
            "rollback to v1"
        );
        assert_eq!(patch["metadata"]["resourceVersion"], "5");
        assert_eq!(annotation(&sim.deployment(), REVISION), Some("3"));
        assert_eq!(
            sim.events,
            [format!(
                "Scaled up replica set {} from 0 to 1",
                name_of(&v1)
            )]
        );
    }

    #[tokio::test]
    async fn orphans_matching_the_selector_are_adopted() {
        let mut sim = Sim::new();
        let d = deployment(2, "v1", rolling(IntOrString::Int(1), IntOrString::Int(0)));
        let mut orphan = owned_rs(&d, "v1", 2, 1, 100);
        orphan.metadata.owner_references = None;
        sim.ctx.informers.deployments.apply(d.clone());
        sim.ctx.informers.replica_sets.apply(orphan.clone());
        assert_eq!(
            replica_set_keys(&sim.ctx.informers.deployments, &orphan),
            [Key::new("default", "web")]
        );
        let mut other = orphan.clone();
        other.metadata.labels = Some(labels(&[("app", "db")]));
        assert!(replica_set_keys(&sim.ctx.informers.deployments, &other).is_empty());
        sim.reconcile().await;
        let calls = sim.apply();
        let Call::Patch { target, patch, .. } = &calls[0] else {
            panic!("{calls:?}")
        };
        assert_eq!(target.name, name_of(&orphan));
        assert_eq!(patch["metadata"]["ownerReferences"][0]["uid"], "uid-web");
        assert_eq!(patch["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(patch["metadata"]["resourceVersion"], "5");
        // Adopted as the new RS: no second RS created.
        assert!(!calls.iter().any(|c| matches!(c, Call::Create { .. })));
        assert_eq!(sim.all_rs().len(), 1);
    }

    #[tokio::test]
    async fn scaling_mid_rollout_is_proportional() {
        let mut sim = Sim::new();
        let mut d = deployment(10, "v2", rolling("25%".into_ios(), "25%".into_ios()));
        let old = owned_rs(&d, "v1", 8, 1, 100);
        let new = owned_rs(&d, "v2", 5, 2, 50);
        sim.ctx.informers.replica_sets.apply(old.clone());
        sim.ctx.informers.replica_sets.apply(new.clone());
        d.spec.as_mut().unwrap().replicas = Some(20);
        d.metadata.annotations = Some(labels(&[(REVISION, "2")]));
        sim.ctx.informers.deployments.apply(d);
        sim.reconcile().await;
        sim.apply();
        // 25 allowed (20 + 25%), 13 now: 12 more spread by size, the larger first.
        assert_eq!(spec_replicas(&sim.rs(name_of(&old))), 15);
        assert_eq!(spec_replicas(&sim.rs(name_of(&new))), 10);
        assert_eq!(
            annotation(&sim.rs(name_of(&old)), DESIRED_REPLICAS),
            Some("20")
        );
        assert_eq!(annotation(&sim.rs(name_of(&new)), MAX_REPLICAS), Some("25"));
        assert_eq!(
            sim.events,
            [
                format!("Scaled up replica set {} from 8 to 15", name_of(&old)),
                format!("Scaled up replica set {} from 5 to 10", name_of(&new)),
            ]
        );
    }

    #[tokio::test]
    async fn a_hash_collision_bumps_the_collision_count() {
        let mut sim = Sim::new();
        let d = deployment(1, "v2", rolling(IntOrString::Int(1), IntOrString::Int(0)));
        // Someone else's RS already has the name the new RS would get.
        let mut squatter = owned_rs(&d, "v1", 1, 1, 100);
        squatter.metadata.name = Some(format!("web-{}", hash_of(&d)));
        squatter.metadata.owner_references = None;
        squatter.metadata.labels = Some(labels(&[("app", "other")]));
        sim.ctx.informers.replica_sets.apply(squatter);
        sim.ctx.informers.deployments.apply(d);
        let conflicting = Arc::new(Conflicting(sim.writer.clone()));
        let (mut ctx, _) = Context::for_tests();
        ctx.informers = sim.ctx.informers.clone();
        ctx.writer = conflicting;
        let controller = DeploymentController::new(&ctx);
        let err = controller
            .reconcile(&Key::new("default", "web"))
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("collision"), "{err:#}");
        let calls = sim.writer.take();
        let status_patch = calls
            .iter()
            .find_map(|c| match c {
                Call::Patch {
                    subresource: Some(s),
                    patch,
                    ..
                } if s == "status" => Some(patch.clone()),
                _ => None,
            })
            .expect("a status patch");
        assert_eq!(status_patch["status"]["collisionCount"], 1);
        // With the count recorded, the next sync creates the RS under another name.
        let mut d = sim.deployment();
        d.status = Some(DeploymentStatus {
            collision_count: Some(1),
            ..Default::default()
        });
        sim.ctx.informers.deployments.apply(d);
        sim.reconcile().await;
        let bumped = compute_hash(&template("v2"), Some(1));
        assert_ne!(bumped, hash_of(&sim.deployment()));
        assert_eq!(
            sim.summaries()[0],
            format!("create replicasets default/web-{bumped}")
        );
    }

    #[tokio::test]
    async fn start_queues_deployments_for_their_replica_sets() {
        let (ctx, _) = Context::for_tests();
        let (reconciler, queue) = start(&ctx);
        assert_eq!(reconciler.name(), "deployment");
        let d = deployment(1, "v1", rolling(IntOrString::Int(1), IntOrString::Int(0)));
        let rs = owned_rs(&d, "v1", 1, 1, 10);
        ctx.informers.replica_sets.apply(rs);
        for _ in 0..50 {
            if !queue.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let next = tokio::time::timeout(Duration::from_secs(1), queue.next()).await;
        assert_eq!(next.ok().flatten(), Some(Key::new("default", "web")));
    }

    /// Answers every ReplicaSet create with 409.
    struct Conflicting(Arc<Recording>);

    #[async_trait]
    impl barge_client::Writer for Conflicting {
        async fn create(
            &self,
            resource: &kube::api::ApiResource,
            namespace: &str,
            object: Value,
        ) -> kube::Result<Value> {
            if resource.plural == "replicasets" {
                return Err(kube::Error::Api(
                    kube::core::Status::failure("exists", "AlreadyExists")
                        .with_code(409)
                        .boxed(),
                ));
            }
            self.0.create(resource, namespace, object).await
        }
        async fn merge_patch(
            &self,
            resource: &kube::api::ApiResource,
            namespace: &str,
            name: &str,
            subresource: Option<&str>,
            patch: Value,
        ) -> kube::Result<Value> {
            self.0
                .merge_patch(resource, namespace, name, subresource, patch)
                .await
        }
        async fn delete(
            &self,
            resource: &kube::api::ApiResource,
            namespace: &str,
            name: &str,
            options: &Delete,
        ) -> kube::Result<()> {
            self.0.delete(resource, namespace, name, options).await
        }
        async fn delete_collection(
            &self,
            resource: &kube::api::ApiResource,
            namespace: &str,
        ) -> kube::Result<()> {
            self.0.delete_collection(resource, namespace).await
        }
    }

    trait IntoIos {
        fn into_ios(self) -> IntOrString;
    }
    impl IntoIos for &str {
        fn into_ios(self) -> IntOrString {
            IntOrString::String(self.into())
        }
    }
}
