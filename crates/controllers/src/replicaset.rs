//! The ReplicaSet controller (upstream `pkg/controller/replicaset`), which also runs
//! ReplicationControllers (upstream's `pkg/controller/replication` reuses the ReplicaSet
//! controller through a conversion; here both kinds implement [`Replicated`]).
//!
//! One reconcile of a ReplicaSet `ns/name`:
//! 1. claims pods: active pods of the namespace (not terminating, not Succeeded/Failed) that
//!    the selector matches and that have no controller are adopted (a merge patch that sends
//!    the whole `ownerReferences` list with the pod's `resourceVersion` as precondition, in
//!    place of upstream's strategic patch with a uid precondition); pods it controls that the
//!    selector no longer matches are released (the reference removed the same way). Nothing is
//!    adopted or released while the ReplicaSet is being deleted;
//! 2. if its expectations are satisfied, creates or deletes pods to reach `spec.replicas`:
//!    creates from the template in upstream's slow-start batches (1, 2, 4, ...; at most 500 per
//!    reconcile), stopping at the first failed batch; deletes the surplus in upstream's
//!    `ActivePodsWithRanks` order (with `LogarithmicScaleDown` and `PodDeletionCost`, both on
//!    by default in 1.32);
//! 3. writes `status` (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
//!    observedGeneration, the `ReplicaFailure` condition while creates or deletes fail) through
//!    the `status` subresource, and asks to run again after `minReadySeconds` while ready pods
//!    are not yet available.
//!
//! Expectations: the cache lags behind the controller's own writes, so each reconcile that
//! creates or deletes pods remembers, per owner key, the names of the pods it created and of
//! those it deleted. Until the pods informer shows them (a created pod in the cache, a deleted
//! one gone or terminating) or 5 minutes pass, the next reconcile does not create or delete.
//! The pods watch started by [`start`] observes them as upstream's event handlers do; a
//! reconcile also checks the cache itself.
//!
//! Differences from upstream: the adoption recheck (upstream re-reads the owner from the API
//! server before adopting) uses the cache; an empty selector (which the API server rejects for
//! ReplicaSets) selects nothing rather than every pod; pod creations are not rate limited by a
//! failed-create backoff beyond the runner's per-key retry backoff.

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use barge_api::selector::LabelSelector;
use barge_client::events::{Recorder, Type};
use barge_client::informer::Change;
use barge_client::writer::{is_conflict, is_not_found};
use barge_client::{Delete, Informer, Key, WriterExt};
use futures_util::future::join_all;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, ReplicationController};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Resource;
use kube::api::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::runner::{Queue, Reconciler, enqueue, own_key};
use crate::{BY_OWNER, Context, Informers, pods};

/// At most this many pods are created or deleted by one reconcile (upstream's burstReplicas).
pub const BURST_REPLICAS: usize = 500;
/// Expectations not met within this time are dropped (upstream's ExpectationsTimeout).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The annotation whose integer value orders pods for deletion (lower first).
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// What the controller needs of a ReplicaSet or a ReplicationController.
pub trait Replicated:
    Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug + Send + Sync
where
    Self: 'static,
{
    /// The controller's name, for logs and the events' source.
    const CONTROLLER: &'static str;
    /// The runner's name for the controller.
    const NAME: &'static str;

    fn informer(informers: &Informers) -> &Informer<Self>;
    /// `spec.replicas` (1 when unset).
    fn replicas(&self) -> i32;
    /// The pod selector; `None` when it is missing, invalid or empty.
    fn selector(&self) -> Option<LabelSelector>;
    fn template(&self) -> Option<&PodTemplateSpec>;
    fn min_ready_seconds(&self) -> i32;
    /// `status` as JSON (`{}` when unset).
    fn status_json(&self) -> Value;
}

/// A selector from `matchLabels`/`matchExpressions` JSON; `None` if invalid or empty.
fn selector_from(v: Value) -> Option<LabelSelector> {
    LabelSelector::from_json(&v)
        .ok()
        .filter(|s| !s.is_empty() && !s.matches_nothing())
}

impl Replicated for ReplicaSet {
    const CONTROLLER: &'static str = "replicaset-controller";
    const NAME: &'static str = "replicaset";

    fn informer(informers: &Informers) -> &Informer<Self> {
        &informers.replica_sets
    }
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn selector(&self) -> Option<LabelSelector> {
        let spec = self.spec.as_ref()?;
        selector_from(serde_json::to_value(&spec.selector).ok()?)
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn status_json(&self) -> Value {
        self.status
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or_else(|| json!({}))
    }
}

impl Replicated for ReplicationController {
    const CONTROLLER: &'static str = "replication-controller";
    const NAME: &'static str = "replicationcontroller";

    fn informer(informers: &Informers) -> &Informer<Self> {
        &informers.replication_controllers
    }
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn selector(&self) -> Option<LabelSelector> {
        let spec = self.spec.as_ref()?;
        // An RC's selector defaults to its template's labels.
        let labels = spec
            .selector
            .as_ref()
            .filter(|s| !s.is_empty())
            .or_else(|| spec.template.as_ref()?.metadata.as_ref()?.labels.as_ref())?;
        selector_from(json!({ "matchLabels": labels }))
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn status_json(&self) -> Value {
        self.status
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or_else(|| json!({}))
    }
}

/// Pod creations and deletions one owner waits to see in the pods informer.
#[derive(Debug)]
struct Pending {
    /// Names of pods created.
    creates: HashSet<String>,
    /// Creations whose outcome is unknown (the request failed without an answer).
    unnamed_creates: usize,
    /// Names of pods deleted, with their uids.
    deletes: HashMap<String, String>,
    since: Instant,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.unnamed_creates == 0 && self.deletes.is_empty()
    }
}

/// Upstream's UIDTrackingControllerExpectations, keyed by owner.
#[derive(Debug, Default)]
pub struct Expectations {
    pending: Mutex<HashMap<Key, Pending>>,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the owner may create or delete: nothing it did is still unseen in `pods`, or
    /// its expectations have timed out.
    fn satisfied(&self, key: &Key, pods: &Informer<Pod>) -> bool {
        let mut all = self.lock();
        let Some(p) = all.get_mut(key) else {
            return true;
        };
        let cache = pods.cache();
        p.creates
            .retain(|name| cache.get(&key.namespace, name).is_none());
        p.deletes.retain(|name, uid| {
            cache.get(&key.namespace, name).is_some_and(|pod| {
                pod.metadata.uid.as_deref() == Some(uid.as_str())
                    && pod.metadata.deletion_timestamp.is_none()
            })
        });
        if p.is_empty() || p.since.elapsed() >= EXPECTATIONS_TIMEOUT {
            all.remove(key);
            return true;
        }
        false
    }

    fn entry<'a>(all: &'a mut HashMap<Key, Pending>, key: &Key) -> &'a mut Pending {
        let p = all.entry(key.clone()).or_insert_with(|| Pending {
            creates: HashSet::new(),
            unnamed_creates: 0,
            deletes: HashMap::new(),
            since: Instant::now(),
        });
        p.since = Instant::now();
        p
    }

    fn expect_create(&self, key: &Key, name: Option<String>) {
        let mut all = self.lock();
        let p = Self::entry(&mut all, key);
        match name {
            Some(name) => {
                p.creates.insert(name);
            }
            None => p.unnamed_creates += 1,
        }
    }

    fn expect_delete(&self, key: &Key, name: &str, uid: &str) {
        let mut all = self.lock();
        Self::entry(&mut all, key)
            .deletes
            .insert(name.to_owned(), uid.to_owned());
    }

    fn deletion_failed(&self, key: &Key, name: &str) {
        if let Some(p) = self.lock().get_mut(key) {
            p.deletes.remove(name);
        }
    }

    /// The informer showed the pod `name`, created for `key`.
    pub fn creation_observed(&self, key: &Key, name: &str) {
        if let Some(p) = self.lock().get_mut(key)
            && !p.creates.remove(name)
            && p.unnamed_creates > 0
        {
            p.unnamed_creates -= 1;
        }
    }

    /// The informer showed the pod `name` terminating or gone.
    pub fn deletion_observed(&self, key: &Key, name: &str) {
        if let Some(p) = self.lock().get_mut(key) {
            p.deletes.remove(name);
        }
    }

    fn forget(&self, key: &Key) {
        self.lock().remove(key);
    }
}

/// The ReplicaSet controller, for ReplicaSets (`K = ReplicaSet`) or ReplicationControllers.
pub struct ReplicaSetController<K> {
    ctx: Context,
    recorder: Recorder,
    expectations: Arc<Expectations>,
    kind: PhantomData<fn() -> K>,
}

/// The ReplicationController controller (upstream's replication manager).
pub type ReplicationManager = ReplicaSetController<ReplicationController>;

impl<K> std::fmt::Debug for ReplicaSetController<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaSetController")
            .field("recorder", &self.recorder)
            .finish_non_exhaustive()
    }
}

/// Starts the ReplicaSet controller's watches; returns its reconciler and queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    start_for::<ReplicaSet>(ctx)
}

/// Starts the ReplicationController controller's watches; returns its reconciler and queue.
pub fn start_rc(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    start_for::<ReplicationController>(ctx)
}

fn start_for<K: Replicated>(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let controller = Arc::new(ReplicaSetController::<K>::new(ctx.clone()));
    let queue = Queue::new();
    enqueue(K::informer(&ctx.informers), &queue, own_key::<K>);
    watch_pods::<K>(ctx, &queue, controller.expectations.clone());
    (controller, queue)
}

/// The owners a pod change concerns: its controller if of kind `K`, else (an orphan) every
/// owner of the namespace whose selector matches it.
fn pod_owner_keys<K: Replicated>(pod: &Pod, owners: &Informer<K>) -> Vec<Key> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    match pods::controller_of(pod) {
        Some(r) if r.kind == K::kind(&()) => vec![Key::new(namespace, r.name.clone())],
        Some(_) => Vec::new(),
        None => owners
            .cache()
            .list_namespace(&namespace)
            .iter()
            .filter(|o| {
                o.selector()
                    .is_some_and(|s| s.matches_with(|k| label(pod, k)))
            })
            .map(|o| Key::of(o.as_ref()))
            .collect(),
    }
}

fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// Queues owners on pod changes and records the creations and deletions the controller
/// expects (upstream's addPod / updatePod / deletePod).
fn watch_pods<K: Replicated>(ctx: &Context, queue: &Queue, expectations: Arc<Expectations>) {
    let pods = ctx.informers.pods.clone();
    let owners = K::informer(&ctx.informers).clone();
    let queue = queue.clone();
    let mut changes = pods.subscribe();
    tokio::spawn(async move {
        pods.synced().await;
        let all = |queue: &Queue| {
            for owner in owners.cache().list() {
                queue.add(Key::of(owner.as_ref()));
            }
        };
        all(&queue);
        while let Some(change) = changes.next().await {
            let observe = |pod: &Pod, deleted: bool| {
                let Some(r) = pods::controller_of(pod).filter(|r| r.kind == K::kind(&())) else {
                    return;
                };
                let key = Key::new(
                    pod.metadata.namespace.clone().unwrap_or_default(),
                    r.name.clone(),
                );
                let name = pod.metadata.name.as_deref().unwrap_or_default();
                if deleted {
                    expectations.deletion_observed(&key, name);
                } else {
                    expectations.creation_observed(&key, name);
                }
            };
            match change {
                Change::Applied { old, new } => {
                    match &old {
                        None => observe(&new, new.metadata.deletion_timestamp.is_some()),
                        Some(old) => {
                            if old.metadata.deletion_timestamp.is_none()
                                && new.metadata.deletion_timestamp.is_some()
                            {
                                observe(&new, true);
                            }
                        }
                    }
                    for pod in old.iter().chain([&new]) {
                        pod_owner_keys(pod, &owners)
                            .into_iter()
                            .for_each(|k| queue.add(k));
                    }
                }
                Change::Deleted(pod) => {
                    observe(&pod, true);
                    pod_owner_keys(&pod, &owners)
                        .into_iter()
                        .for_each(|k| queue.add(k));
                }
                Change::Resynced => all(&queue),
            }
        }
    });
}

/// The text of an API error, as upstream puts it into conditions and events.
fn error_text(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// Why creating or deleting pods failed (upstream's manageReplicasErr).
#[derive(Debug)]
struct ManageError(String);

impl<K: Replicated> ReplicaSetController<K> {
    pub fn new(ctx: Context) -> Self {
        let recorder = ctx.recorder(K::CONTROLLER);
        Self {
            ctx,
            recorder,
            expectations: Arc::default(),
            kind: PhantomData,
        }
    }

    /// The controller's expectations (for tests and for whoever observes pods).
    pub fn expectations(&self) -> &Arc<Expectations> {
        &self.expectations
    }

    /// The active pods of the namespace the owner controls after adopting and releasing.
    async fn claim_pods(
        &self,
        owner: &K,
        selector: &LabelSelector,
    ) -> (Vec<Arc<Pod>>, Option<anyhow::Error>) {
        let meta = owner.meta();
        let namespace = meta.namespace.clone().unwrap_or_default();
        let uid = meta.uid.clone().unwrap_or_default();
        let deleting = meta.deletion_timestamp.is_some();
        let mut claimed = Vec::new();
        let mut error = None;
        for pod in self.ctx.informers.pods.cache().list_namespace(&namespace) {
            if !pods::is_active(&pod) {
                continue;
            }
            let matches = selector.matches_with(|k| label(&pod, k));
            match pods::controller_of(pod.as_ref()) {
                Some(r) if r.uid == uid => {
                    if matches {
                        claimed.push(pod);
                    } else if !deleting && let Err(e) = self.release(owner, &pod).await {
                        error.get_or_insert(e);
                    }
                }
                Some(_) => {}
                None => {
                    if deleting || !matches {
                        continue;
                    }
                    match self.adopt(owner, &pod).await {
                        Ok(true) => claimed.push(pod),
                        Ok(false) => {}
                        Err(e) => {
                            error.get_or_insert(e);
                        }
                    }
                }
            }
        }
        (claimed, error)
    }

    /// Adds the owner's controller reference to an orphan pod; false if the pod is gone.
    async fn adopt(&self, owner: &K, pod: &Pod) -> anyhow::Result<bool> {
        let mut refs = pod.metadata.owner_references.clone().unwrap_or_default();
        refs.push(pods::controller_ref(owner));
        let patch = json!({"metadata": {
            "resourceVersion": pod.metadata.resource_version,
            "ownerReferences": refs,
        }});
        let (ns, name) = ns_name(pod);
        match self
            .ctx
            .writer
            .patch_typed::<Pod>(ns, name, None, patch)
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(anyhow::anyhow!("cannot adopt pod {ns}/{name}: {e}")),
        }
    }

    /// Removes the owner's reference from a pod its selector no longer matches.
    async fn release(&self, owner: &K, pod: &Pod) -> anyhow::Result<()> {
        let uid = owner.meta().uid.as_deref().unwrap_or_default();
        let refs: Vec<_> = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .filter(|r| r.uid != uid)
            .cloned()
            .collect();
        let refs = if refs.is_empty() {
            Value::Null
        } else {
            serde_json::to_value(refs)?
        };
        let patch = json!({"metadata": {
            "resourceVersion": pod.metadata.resource_version,
            "ownerReferences": refs,
        }});
        let (ns, name) = ns_name(pod);
        match self
            .ctx
            .writer
            .patch_typed::<Pod>(ns, name, None, patch)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("cannot release pod {ns}/{name}: {e}")),
        }
    }

    /// Creates or deletes pods to reach `spec.replicas` (upstream's manageReplicas).
    async fn manage(&self, owner: &K, key: &Key, active: &[Arc<Pod>]) -> Result<(), ManageError> {
        let desired = usize::try_from(owner.replicas().max(0)).unwrap_or(0);
        if active.len() < desired {
            let diff = (desired - active.len()).min(BURST_REPLICAS);
            let Some(template) = owner.template() else {
                return Err(ManageError("the pod template is missing".into()));
            };
            let pod = new_pod(owner, template);
            self.create_pods(owner, key, &pod, diff).await
        } else if active.len() > desired {
            let diff = (active.len() - desired).min(BURST_REPLICAS);
            let related = self.related_pods(owner, active);
            let victims = pods_to_delete(active, &related, diff, Timestamp::now());
            self.delete_pods(owner, key, &victims).await
        } else {
            Ok(())
        }
    }

    /// Upstream's slowStartBatch: batches of 1, 2, 4, ... creates, stopping after a batch with
    /// a failure.
    async fn create_pods(
        &self,
        owner: &K,
        key: &Key,
        pod: &Pod,
        count: usize,
    ) -> Result<(), ManageError> {
        let mut remaining = count;
        let mut batch = 1;
        while remaining > 0 {
            let size = batch.min(remaining);
            let results = join_all((0..size).map(|_| self.create_pod(owner, key, pod))).await;
            remaining -= size;
            if let Some(e) = results.into_iter().find_map(Result::err) {
                return Err(e);
            }
            batch *= 2;
        }
        Ok(())
    }

    async fn create_pod(&self, owner: &K, key: &Key, pod: &Pod) -> Result<(), ManageError> {
        match self.ctx.writer.create_typed(&key.namespace, pod).await {
            Ok(created) => {
                let name = created.metadata.name.unwrap_or_default();
                self.expectations.expect_create(key, Some(name.clone()));
                self.recorder
                    .publish(
                        owner,
                        Type::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {name}"),
                    )
                    .await;
                Ok(())
            }
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => {
                if !matches!(e, kube::Error::Api(_)) {
                    // The pod may exist all the same: wait for it (or the timeout).
                    self.expectations.expect_create(key, None);
                }
                let text = error_text(&e);
                self.recorder
                    .publish(
                        owner,
                        Type::Warning,
                        "FailedCreate",
                        &format!("Error creating: {text}"),
                    )
                    .await;
                Err(ManageError(text))
            }
        }
    }

    async fn delete_pods(
        &self,
        owner: &K,
        key: &Key,
        victims: &[Arc<Pod>],
    ) -> Result<(), ManageError> {
        for pod in victims {
            let (_, name) = ns_name(pod);
            let uid = pod.metadata.uid.as_deref().unwrap_or_default();
            self.expectations.expect_delete(key, name, uid);
        }
        let results = join_all(victims.iter().map(|pod| async move {
            let (ns, name) = ns_name(pod);
            let options = Delete {
                uid: pod.metadata.uid.clone(),
                ..Delete::default()
            };
            match self
                .ctx
                .writer
                .delete_typed::<Pod>(ns, name, &options)
                .await
            {
                Ok(()) => {
                    self.recorder
                        .publish(
                            owner,
                            Type::Normal,
                            "SuccessfulDelete",
                            &format!("Deleted pod: {name}"),
                        )
                        .await;
                    Ok(())
                }
                Err(e) if is_not_found(&e) => {
                    self.expectations.deletion_observed(key, name);
                    Ok(())
                }
                Err(e) => {
                    self.expectations.deletion_failed(key, name);
                    let text = error_text(&e);
                    self.recorder
                        .publish(
                            owner,
                            Type::Warning,
                            "FailedDelete",
                            &format!("Error deleting: {text}"),
                        )
                        .await;
                    Err(ManageError(text))
                }
            }
        }))
        .await;
        results
            .into_iter()
            .find_map(Result::err)
            .map_or(Ok(()), Err)
    }

    /// Pods to weigh co-location against when choosing what to delete: the active pods of
    /// every ReplicaSet with the same controller as this one (upstream's
    /// getIndirectlyRelatedPods), or just this one's.
    fn related_pods(&self, owner: &K, active: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
        let Some(parent) = pods::controller_of(owner).map(|r| r.uid.clone()) else {
            return active.to_vec();
        };
        let namespace = owner.meta().namespace.clone().unwrap_or_default();
        let siblings: Vec<String> = K::informer(&self.ctx.informers)
            .cache()
            .list_namespace(&namespace)
            .iter()
            .filter(|o| pods::controller_of(o.as_ref()).is_some_and(|r| r.uid == parent))
            .filter_map(|o| o.meta().uid.clone())
            .collect();
        let mut seen = HashSet::new();
        let mut related = Vec::new();
        for uid in &siblings {
            for pod in self.ctx.informers.pods.cache().by_index(BY_OWNER, uid) {
                let controlled = pods::controller_of(pod.as_ref()).is_some_and(|r| &r.uid == uid);
                if controlled && pods::is_active(&pod) && seen.insert(pod.metadata.uid.clone()) {
                    related.push(pod);
                }
            }
        }
        related
    }

    /// The status the owner should have (upstream's calculateStatus).
    fn status(
        &self,
        owner: &K,
        active: &[Arc<Pod>],
        manage_error: Option<&ManageError>,
        now: Timestamp,
    ) -> Value {
        let template_labels = owner
            .template()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let min_ready = owner.min_ready_seconds();
        let count = |f: &dyn Fn(&Pod) -> bool| {
            i32::try_from(active.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
        };
        let fully_labeled = count(&|p: &Pod| {
            template_labels
                .iter()
                .all(|(k, v)| label(p, k) == Some(v.as_str()))
        });
        let ready = count(&|p: &Pod| pods::is_ready(p));
        let available = count(&|p: &Pod| pods::is_available(p, min_ready, now));
        let old = owner.status_json();
        let mut conditions: Vec<Value> = old["conditions"].as_array().cloned().unwrap_or_default();
        let has_failure = conditions.iter().any(|c| c["type"] == "ReplicaFailure");
        match manage_error {
            Some(e) if !has_failure => {
                let desired = usize::try_from(owner.replicas().max(0)).unwrap_or(0);
                let reason = match active.len().cmp(&desired) {
                    std::cmp::Ordering::Less => "FailedCreate",
                    std::cmp::Ordering::Greater => "FailedDelete",
                    std::cmp::Ordering::Equal => "",
                };
                conditions.push(json!({
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": now.to_string(),
                    "reason": reason,
                    "message": e.0,
                }));
            }
            None if has_failure => conditions.retain(|c| c["type"] != "ReplicaFailure"),
            _ => {}
        }
        json!({
            "replicas": i32::try_from(active.len()).unwrap_or(i32::MAX),
            "fullyLabeledReplicas": fully_labeled,
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": owner.meta().generation,
            "conditions": if conditions.is_empty() { Value::Null } else { Value::Array(conditions) },
        })
    }
}

fn ns_name(pod: &Pod) -> (&str, &str) {
    (
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// A pod to create from the owner's template (upstream's GetPodFromTemplate).
fn new_pod<K: Replicated>(owner: &K, template: &PodTemplateSpec) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    let owner_meta = owner.meta();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}-",
                owner_meta.name.as_deref().unwrap_or_default()
            )),
            namespace: owner_meta.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![pods::controller_ref(owner)]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Whether two status JSONs agree on what the controller writes.
fn status_unchanged(old: &Value, new: &Value) -> bool {
    let num = |v: &Value, f: &str| v[f].as_i64().unwrap_or(0);
    let conds = |v: &Value| v["conditions"].as_array().cloned().unwrap_or_default();
    [
        "replicas",
        "fullyLabeledReplicas",
        "readyReplicas",
        "availableReplicas",
        "observedGeneration",
    ]
    .iter()
    .all(|f| num(old, f) == num(new, f))
        && conds(old) == conds(new)
}

#[async_trait]
impl<K: Replicated> Reconciler for ReplicaSetController<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(owner) = K::informer(&self.ctx.informers).cache().get_key(key) else {
            self.expectations.forget(key);
            return Ok(None);
        };
        let owner = owner.as_ref();
        let needs_sync = self.expectations.satisfied(key, &self.ctx.informers.pods);
        let Some(selector) = owner.selector() else {
            tracing::debug!(%key, kind = %K::kind(&()), "invalid or empty selector; not syncing");
            return Ok(None);
        };
        let (active, claim_error) = self.claim_pods(owner, &selector).await;
        let manage_error = if needs_sync && owner.meta().deletion_timestamp.is_none() {
            self.manage(owner, key, &active).await.err()
        } else {
            None
        };
        let now = Timestamp::now();
        let status = self.status(owner, &active, manage_error.as_ref(), now);
        if !status_unchanged(&owner.status_json(), &status) {
            let (ns, name) = (&key.namespace, &key.name);
            let patch = json!({ "status": status });
            match self
                .ctx
                .writer
                .patch_typed::<K>(ns, name, Some("status"), patch)
                .await
            {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(anyhow::anyhow!("cannot update the status of {key}: {e}")),
            }
        }
        if let Some(e) = manage_error {
            anyhow::bail!("{key}: {}", e.0);
        }
        if let Some(e) = claim_error {
            return Err(e);
        }
        let min_ready = owner.min_ready_seconds();
        let ready = status["readyReplicas"].as_i64().unwrap_or(0);
        let available = status["availableReplicas"].as_i64().unwrap_or(0);
        let desired = i64::from(owner.replicas());
        if min_ready > 0 && ready == desired && available != desired {
            return Ok(Some(Duration::from_secs(
                u64::try_from(min_ready).unwrap_or(0),
            )));
        }
        Ok(None)
    }
}

/// The phase order of upstream's podPhaseToOrdinal (other phases count as Pending).
fn phase_rank(pod: &Pod) -> u8 {
    match pods::phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn ready_time(pod: &Pod) -> Option<Timestamp> {
    pods::condition(pod, "Ready")
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

fn node(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

/// floor(log2(now - t in nanoseconds)), -1 when t is not in the past (upstream's
/// logarithmicRankDiff halves).
fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let d: SignedDuration = now.duration_since(t);
    let nanos = d.as_nanos();
    if nanos <= 0 {
        return -1;
    }
    i64::from(127 - nanos.leading_zeros())
}

/// Orders two times for deletion: the zero (missing) time first, then within the same
/// logarithmic bucket by uid, otherwise the more recent first.
fn time_order(
    a: Option<Timestamp>,
    b: Option<Timestamp>,
    uids: (&str, &str),
    now: Timestamp,
) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    if a == b {
        return None;
    }
    match (a, b) {
        (None, _) => Some(Ordering::Less),
        (_, None) => Some(Ordering::Greater),
        (Some(a), Some(b)) => {
            let diff = log_rank(a, now) - log_rank(b, now);
            if diff == 0 {
                Some(uids.0.cmp(uids.1))
            } else {
                Some(diff.cmp(&0))
            }
        }
    }
}

/// The `count` pods to delete first (upstream's getPodsToDelete and ActivePodsWithRanks):
/// unscheduled before scheduled, Pending before Unknown before Running, not ready before
/// ready, lower pod-deletion-cost first, more related pods on the same node first, ready
/// more recently first, more restarts first, newer first.
fn pods_to_delete(
    active: &[Arc<Pod>],
    related: &[Arc<Pod>],
    count: usize,
    now: Timestamp,
) -> Vec<Arc<Pod>> {
    use std::cmp::Ordering;
    if count >= active.len() {
        return active.to_vec();
    }
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for pod in related.iter().filter(|p| pods::is_active(p)) {
        *on_node.entry(node(pod)).or_default() += 1;
    }
    let rank = |p: &Pod| on_node.get(node(p)).copied().unwrap_or(0);
    let mut ranked = active.to_vec();
    ranked.sort_by(|a, b| {
        let (na, nb) = (node(a), node(b));
        if na != nb && (na.is_empty() || nb.is_empty()) {
            return if na.is_empty() {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if phase_rank(a) != phase_rank(b) {
            return phase_rank(a).cmp(&phase_rank(b));
        }
        if pods::is_ready(a) != pods::is_ready(b) {
            return pods::is_ready(a).cmp(&pods::is_ready(b));
        }
        if deletion_cost(a) != deletion_cost(b) {
            return deletion_cost(a).cmp(&deletion_cost(b));
        }
        if rank(a) != rank(b) {
            return rank(b).cmp(&rank(a));
        }
        let uids = (
            a.metadata.uid.as_deref().unwrap_or_default(),
            b.metadata.uid.as_deref().unwrap_or_default(),
        );
        if pods::is_ready(a)
            && pods::is_ready(b)
            && let Some(o) = time_order(ready_time(a), ready_time(b), uids, now)
        {
            return o;
        }
        if max_restarts(a) != max_restarts(b) {
            return max_restarts(b).cmp(&max_restarts(a));
        }
        let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        time_order(created(a), created(b), uids, now).unwrap_or(Ordering::Equal)
    });
    ranked.truncate(count);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::Recording;
    use barge_client::writer::{Call, Writer};
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::{
        ContainerStatus, PodCondition, PodSpec, PodStatus, ReplicationControllerSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector as Selector, Time};
    use kube::api::ApiResource;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn template(l: &BTreeMap<String, String>) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(l.clone()),
                ..Default::default()
            }),
            spec: Some(PodSpec::default()),
        }
    }

    fn rs(name: &str, replicas: i32, min_ready: i32) -> ReplicaSet {
        let l = labels(&[("app", name)]);
        ReplicaSet {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                generation: Some(2),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready),
                selector: Selector {
                    match_labels: Some(l.clone()),
                    ..Default::default()
                },
                template: Some(template(&l)),
            }),
            status: None,
        }
    }

    fn rc(name: &str, replicas: i32) -> ReplicationController {
        let l = labels(&[("app", name)]);
        ReplicationController {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                generation: Some(1),
                ..Default::default()
            },
            spec: Some(ReplicationControllerSpec {
                replicas: Some(replicas),
                selector: Some(l.clone()),
                template: Some(template(&l)),
                ..Default::default()
            }),
            status: None,
        }
    }

    /// A running, ready pod of app `app`, created `age` seconds ago, on `node`.
    fn pod(name: &str, app: &str, owner: Option<&ReplicaSet>, now: Timestamp) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                resource_version: Some("7".into()),
                labels: Some(labels(&[("app", app)])),
                owner_references: owner.map(|o| vec![pods::controller_ref(o)]),
                creation_timestamp: Some(Time(now - SignedDuration::from_secs(3600))),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(now - SignedDuration::from_secs(3600))),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn with<F: FnOnce(&mut Pod)>(mut p: Pod, f: F) -> Pod {
        f(&mut p);
        p
    }

    fn ready_since(p: &mut Pod, secs: i64, now: Timestamp) {
        if let Some(c) = p
            .status
            .as_mut()
            .and_then(|s| s.conditions.as_mut())
            .and_then(|c| c.first_mut())
        {
            c.last_transition_time = Some(Time(now - SignedDuration::from_secs(secs)));
        }
    }

    /// The pods created, as the recorded calls show them.
    fn created_pods(calls: &[Call]) -> Vec<Value> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Create { target, object } if target.plural == "pods" => Some(object.clone()),
                _ => None,
            })
            .collect()
    }

    fn pod_writes(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .map(Call::summary)
            .filter(|s| !s.contains("events"))
            .collect()
    }

    fn event_reasons(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Create { target, object } if target.plural == "events" => Some(format!(
                    "{} {}",
                    object["reason"].as_str().unwrap_or_default(),
                    object["message"].as_str().unwrap_or_default()
                )),
                _ => None,
            })
            .collect()
    }

    fn status_patch(calls: &[Call], plural: &str) -> Option<Value> {
        calls.iter().find_map(|c| match c {
            Call::Patch {
                target,
                subresource: Some(s),
                patch,
            } if s == "status" && target.plural == plural => Some(patch["status"].clone()),
            _ => None,
        })
    }

    /// Applies what the recorded creates made to the pods cache, as the watch would.
    fn catch_up(ctx: &Context, created: &[Value]) {
        for object in created {
            let mut pod: Pod = serde_json::from_value(object.clone()).unwrap();
            pod.metadata.resource_version = Some("1".into());
            ctx.informers.pods.apply(pod);
        }
    }

    #[tokio::test]
    async fn scale_up_creates_pods_with_controller_refs_and_never_twice() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.replica_sets.apply(rs("web", 3, 0));
        let c = ReplicaSetController::<ReplicaSet>::new(ctx.clone());
        let key = Key::new("default", "web");

        assert_eq!(c.reconcile(&key).await.unwrap(), None);
        let calls = writer.take();
        let created = created_pods(&calls);
        assert_eq!(created.len(), 3, "{:?}", pod_writes(&calls));
        for p in &created {
            assert_eq!(p["metadata"]["generateName"], "web-");
            assert_eq!(p["metadata"]["namespace"], "default");
            assert_eq!(p["metadata"]["labels"]["app"], "web");
            let refs = p["metadata"]["ownerReferences"].as_array().unwrap();
            assert_eq!(refs.len(), 1);
            assert_eq!(refs[0]["kind"], "ReplicaSet");
            assert_eq!(refs[0]["apiVersion"], "apps/v1");
            assert_eq!(refs[0]["uid"], "uid-web");
            assert_eq!(refs[0]["controller"], true);
            assert_eq!(refs[0]["blockOwnerDeletion"], true);
        }
        let events = event_reasons(&calls);
        assert_eq!(events.len(), 3);
        assert!(events[0].starts_with("SuccessfulCreate Created pod: web-"));
        let status = status_patch(&calls, "replicasets").unwrap();
        assert_eq!(status["replicas"], 0);
        assert_eq!(status["observedGeneration"], 2);

        // The cache has not seen the pods: no more creates.
        c.reconcile(&key).await.unwrap();
        assert!(created_pods(&writer.take()).is_empty());

        // The cache catches up: still nothing to create, and the status counts them.
        catch_up(&ctx, &created);
        c.reconcile(&key).await.unwrap();
        let calls = writer.take();
        assert!(created_pods(&calls).is_empty());
        assert_eq!(status_patch(&calls, "replicasets").unwrap()["replicas"], 3);
    }

    #[tokio::test(start_paused = true)]
    async fn expectations_expire_after_five_minutes() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.replica_sets.apply(rs("web", 2, 0));
        let c = ReplicaSetController::<ReplicaSet>::new(ctx.clone());
        let key = Key::new("default", "web");
        c.reconcile(&key).await.unwrap();
        assert_eq!(created_pods(&writer.take()).len(), 2);
        tokio::time::advance(Duration::from_secs(299)).await;
        c.reconcile(&key).await.unwrap();
        assert!(created_pods(&writer.take()).is_empty());
        tokio::time::advance(Duration::from_secs(2)).await;
        c.reconcile(&key).await.unwrap();
        assert_eq!(created_pods(&writer.take()).len(), 2);
    }

    #[tokio::test]
    async fn observed_creations_meet_expectations_and_orphans_map_to_matching_owners() {
        let (ctx, writer) = Context::for_tests();
        let web = rs("web", 1, 0);
        ctx.informers.replica_sets.apply(web.clone());
        let c = ReplicaSetController::<ReplicaSet>::new(ctx.clone());
        let key = Key::new("default", "web");
        c.reconcile(&key).await.unwrap();
        let created = created_pods(&writer.take());
        assert_eq!(created.len(), 1);
        let name = created[0]["metadata"]["name"].as_str().unwrap().to_owned();
        assert!(!c.expectations.satisfied(&key, &ctx.informers.pods));
        c.expectations.creation_observed(&key, &name);
        assert!(c.expectations.satisfied(&key, &ctx.informers.pods));

        // An orphan pod change is mapped to the matching ReplicaSets only.
        ctx.informers.replica_sets.apply(rs("db", 1, 0));
        let orphan = pod("x", "web", None, Timestamp::now());
        assert_eq!(
            pod_owner_keys(&orphan, &ctx.informers.replica_sets),
            std::slice::from_ref(&key)
        );
        let owned = pod("y", "other", Some(&web), Timestamp::now());
        assert_eq!(pod_owner_keys(&owned, &ctx.informers.replica_sets), [key]);
    }

    #[tokio::test]
    async fn terminating_and_finished_pods_are_not_counted() {
        let (ctx, writer) = Context::for_tests();
        let web = rs("web", 2, 0);
        ctx.informers.replica_sets.apply(web.clone());
        let now = Timestamp::now();
        ctx.informers.pods.apply(pod("a", "web", Some(&web), now));
        ctx.informers
            .pods
            .apply(with(pod("b", "web", Some(&web), now), |p| {
                p.metadata.deletion_timestamp = Some(Time(now));
            }));
        ctx.informers
            .pods
            .apply(with(pod("c", "web", Some(&web), now), |p| {
                p.status.as_mut().unwrap().phase = Some("Failed".into());
            }));
        let c = ReplicaSetController::<ReplicaSet>::new(ctx.clone());
        c.reconcile(&Key::new("default", "web")).await.unwrap();
        let calls = writer.take();
        assert_eq!(created_pods(&calls).len(), 1);
        assert_eq!(status_patch(&calls, "replicasets").unwrap()["replicas"], 1);
    }

    #[tokio::test]
    async fn scale_down_deletes_in_rank_order_once() {
        let (ctx, writer) = Context::for_tests();
        let web = rs("web", 2, 0);
        ctx.informers.replica_sets.apply(web.clone());
        let now = Timestamp::now();
        let keep_old = pod("old", "web", Some(&web), now);
        let keep_older = with(pod("older", "web", Some(&web), now), |p| {
            p.metadata.creation_timestamp = Some(Time(now - SignedDuration::from_secs(100_000)));
        });
        let unready = with(pod("unready", "web", Some(&web), now), |p| {
            p.status.as_mut().unwrap().conditions = None;
        });
        let pending = with(pod("pending", "web", Some(&web), now), |p| {
            p.status.as_mut().unwrap().phase = Some("Pending".into());
        });
        for p in [keep_old, keep_older, unready, pending] {
            ctx.informers.pods.apply(p);
        }
        let c = ReplicaSetController::<ReplicaSet>::new(ctx.clone());
        let key = Key::new("default", "web");
        c.reconcile(&key).await.unwrap();
        let calls = writer.take();
        let mut deletes: Vec<_> = calls
            .iter()
            .filter_map(|c| match c {
                Call::Delete { target, options } => {
                    assert_eq!(
                        options.uid.as_deref(),
                        Some(&*format!("uid-{}", target.name))
                    );
                    Some(target.name.clone())
                }
                _ => None,
            })
            .collect();
        deletes.sort();
        assert_eq!(deletes, ["pending", "unready"]);
        let events = event_reasons(&calls);
        assert!(events.contains(&"SuccessfulDelete Deleted pod: pending".to_owned()));
        // Before the cache shows the deletions, nothing more is deleted.
        c.reconcile(&key).await.unwrap();
        assert!(
            pod_writes(&writer.take())
                .iter()
                .all(|s| !s.starts_with("delete"))
        );
        // Once the pods terminate, the expectations are met.
        ctx.informers.pods.delete(&Key::new("default", "pending"));
        ctx.informers.pods.delete(&Key::new("default", "unready"));
        assert!(c.expectations.satisfied(&key, &ctx.informers.pods));
    }

    #[test]
    fn deletion_ranks_follow_upstream() {
        let now = Timestamp::now();
        let base = || pod("p", "web", None, now);
        let named = |name: &str, f: &dyn Fn(&mut Pod)| {
            let mut p = base();
            p.metadata.name = Some(name.into());
            p.metadata.uid = Some(format!("uid-{name}"));
            f(&mut p);
            Arc::new(p)
        };
        let pods = vec![
            named("oldest", &|p| {
                p.metadata.creation_timestamp =
                    Some(Time(now - SignedDuration::from_secs(1_000_000)));
            }),
            named("ready-long", &|p| ready_since(p, 100_000, now)),
            named("restarts", &|p| {
                p.status.as_mut().unwrap().container_statuses = Some(vec![ContainerStatus {
                    restart_count: 5,
                    ..Default::default()
                }]);
            }),
            named("newer", &|p| {
                p.metadata.creation_timestamp = Some(Time(now - SignedDuration::from_secs(10)));
            }),
            named("ready-recent", &|p| ready_since(p, 10, now)),
            named("cheap", &|p| {
                p.metadata.annotations = Some(labels(&[(POD_DELETION_COST, "-10")]));
            }),
            named("not-ready", &|p| {
                p.status.as_mut().unwrap().conditions = None
            }),
            named("running-unknown", &|p| {
                p.status.as_mut().unwrap().phase = Some("Unknown".into());
            }),
            named("pending", &|p| {
                p.status.as_mut().unwrap().phase = Some("Pending".into())
            }),
            named("unscheduled", &|p| {
                p.spec.as_mut().unwrap().node_name = None
            }),
        ];
        let mut shuffled = pods.clone();
        shuffled.reverse();
        shuffled.swap(0, 4);
        let order: Vec<_> = pods_to_delete(&shuffled, &shuffled, pods.len() - 1, now)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                "unscheduled",
                "pending",
                "running-unknown",
                "not-ready",
                "cheap",
                "ready-recent",
                "restarts",
                "newer",
                "oldest",
            ]
        );
    }

    #[tokio::test]
    async fn adopts_matching_orphans_and_releases_unmatched_pods() {
        let (ctx, writer) = Context::for_tests();
        let web = rs("web", 1, 0);
        let other = rs("other", 1, 0);
        ctx.informers.replica_sets.apply(web.clone());
        let now = Timestamp::now();
        ctx.informers.pods.apply(pod("orphan", "web", None, now));
        ctx.informers
            .pods
            .apply(pod("mislabeled", "db", Some(&web), now));
        ctx.informers
            .pods
            .apply(pod("theirs", "web", Some(&other), now));
        ctx.informers
            .pods
            .apply(with(pod("dying", "web", None, now), |p| {
                p.metadata.deletion_timestamp = Some(Time(now));
            }));
        let c = ReplicaSetController::<ReplicaSet>::new(ctx.clone());
        c.reconcile(&Key::new("default", "web")).await.unwrap();
        let calls = writer.take();
        let mut patches: Vec<_> = calls
            .iter()
            .filter_map(|c| match c {
                Call::Patch {
                    target,
                    subresource: None,
                    patch,
                } if target.plural == "pods" => Some((target.name.clone(), patch.clone())),
                _ => None,
            })
            .collect();
        patches.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(patches.len(), 2, "{patches:?}");
        let (name, release) = &patches[0];
        assert_eq!(name, "mislabeled");
        assert_eq!(release["metadata"]["ownerReferences"], Value::Null);
        assert_eq!(release["metadata"]["resourceVersion"], "7");
        let (name, adopt) = &patches[1];
        assert_eq!(name, "orphan");
        assert_eq!(adopt["metadata"]["resourceVersion"], "7");
        assert_eq!(adopt["metadata"]["ownerReferences"][0]["uid"], "uid-web");
        assert_eq!(adopt["metadata"]["ownerReferences"][0]["controller"], true);
        // The adopted pod counts: nothing is created.
        assert!(created_pods(&calls).is_empty());
        assert_eq!(status_patch(&calls, "replicasets").unwrap()["replicas"], 1);
    }

    #[tokio::test]
    async fn status_counts_availability_after_min_ready_seconds() {
        let (ctx, writer) = Context::for_tests();
        let web = rs("web", 2, 30);
        ctx.informers.replica_sets.apply(web.clone());
        let now = Timestamp::now();
        ctx.informers.pods.apply(pod("a", "web", Some(&web), now));
        ctx.informers
            .pods
            .apply(with(pod("b", "web", Some(&web), now), |p| {
                ready_since(p, 5, now);
                p.metadata.labels.as_mut().unwrap().remove("app");
                p.metadata
                    .labels
                    .as_mut()
                    .unwrap()
                    .insert("app".into(), "web".into());
            }));
        ctx.informers
            .pods
            .apply(with(pod("c", "web", Some(&web), now), |p| {
                p.metadata.deletion_timestamp = Some(Time(now));
            }));
        let c = ReplicaSetController::<ReplicaSet>::new(ctx.clone());
        let again = c.reconcile(&Key::new("default", "web")).await.unwrap();
        assert_eq!(again, Some(Duration::from_secs(30)));
        let status = status_patch(&writer.take(), "replicasets").unwrap();
        assert_eq!(status["replicas"], 2);
        assert_eq!(status["fullyLabeledReplicas"], 2);
        assert_eq!(status["readyReplicas"], 2);
        assert_eq!(status["availableReplicas"], 1);
        assert_eq!(status["conditions"], Value::Null);

        // Status as written: no further write, and no requeue once all are available.
        let mut written = web.clone();
        written.status = serde_json::from_value(status).unwrap();
        ctx.informers.replica_sets.apply(written);
        ctx.informers
            .pods
            .apply(with(pod("b", "web", Some(&web), now), |p| {
                ready_since(p, 60, now);
            }));
        let again = c.reconcile(&Key::new("default", "web")).await.unwrap();
        assert_eq!(again, None);
        let status = status_patch(&writer.take(), "replicasets").unwrap();
        assert_eq!(status["availableReplicas"], 2);
    }

    /// Records like [`Recording`] but refuses pod creates after the first `ok`.
    #[derive(Debug, Default)]
    struct Quota {
        inner: Recording,
        ok: usize,
        creates: AtomicUsize,
    }

    #[async_trait]
    impl Writer for Quota {
        async fn create(
            &self,
            resource: &ApiResource,
            namespace: &str,
            object: Value,
        ) -> kube::Result<Value> {
            if resource.plural == "pods" && self.creates.fetch_add(1, Ordering::SeqCst) >= self.ok {
                return Err(kube::Error::Api(Box::new(kube::core::Status {
                    code: 403,
                    message: "exceeded quota: pods".into(),
                    reason: "Forbidden".into(),
                    ..Default::default()
                })));
            }
            self.inner.create(resource, namespace, object).await
        }
        async fn merge_patch(
            &self,
            resource: &ApiResource,
            namespace: &str,
            name: &str,
            subresource: Option<&str>,
            patch: Value,
        ) -> kube::Result<Value> {
            self.inner
                .merge_patch(resource, namespace, name, subresource, patch)
                .await
        }
        async fn delete(
            &self,
            resource: &ApiResource,
            namespace: &str,
            name: &str,
            options: &Delete,
        ) -> kube::Result<()> {
            self.inner.delete(resource, namespace, name, options).await
        }
        async fn delete_collection(
            &self,
            resource: &ApiResource,
            namespace: &str,
        ) -> kube::Result<()> {
            self.inner.delete_collection(resource, namespace).await
        }
    }

    #[tokio::test]
    async fn failed_creates_stop_the_slow_start_and_set_replica_failure() {
        let (mut ctx, _) = Context::for_tests();
        let quota = Arc::new(Quota {
            ok: 4,
            ..Default::default()
        });
        ctx.writer = quota.clone();
        ctx.informers.replica_sets.apply(rs("web", 20, 0));
        let c = ReplicaSetController::<ReplicaSet>::new(ctx.clone());
        assert!(c.reconcile(&Key::new("default", "web")).await.is_err());
        // Batches 1 and 2 succeed; the batch of 4 fails (one ok, three refused); no batch of 8.
        assert_eq!(quota.creates.load(Ordering::SeqCst), 7);
        let calls = quota.inner.take();
        assert_eq!(created_pods(&calls).len(), 4);
        let events = event_reasons(&calls);
        assert_eq!(
            events
                .iter()
                .filter(|e| *e == "FailedCreate Error creating: exceeded quota: pods")
                .count(),
            1
        );
        // The two repeats fold into that event's count.
        let repeats = calls
            .iter()
            .filter(|c| c.summary().starts_with("patch events"))
            .count();
        assert_eq!(repeats, 2);
        let status = status_patch(&calls, "replicasets").unwrap();
        let cond = &status["conditions"][0];
        assert_eq!(cond["type"], "ReplicaFailure");
        assert_eq!(cond["status"], "True");
        assert_eq!(cond["reason"], "FailedCreate");
        assert_eq!(cond["message"], "exceeded quota: pods");
    }

    #[tokio::test]
    async fn replication_controllers_work_the_same() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.replication_controllers.apply(rc("web", 2));
        let c = ReplicationManager::new(ctx.clone());
        let key = Key::new("default", "web");
        c.reconcile(&key).await.unwrap();
        let calls = writer.take();
        let created = created_pods(&calls);
        assert_eq!(created.len(), 2);
        let owner = &created[0]["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicationController");
        assert_eq!(owner["apiVersion"], "v1");
        assert_eq!(owner["uid"], "uid-web");
        assert!(status_patch(&calls, "replicationcontrollers").is_some());
        c.reconcile(&key).await.unwrap();
        assert!(created_pods(&writer.take()).is_empty());

        // Scale down to one: the unready pod goes.
        catch_up(&ctx, &created);
        let mut one = rc("web", 1);
        one.status = None;
        ctx.informers.replication_controllers.apply(one);
        let names: Vec<String> = created
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        let mut ready: Pod = ctx
            .informers
            .pods
            .cache()
            .get("default", &names[0])
            .unwrap()
            .as_ref()
            .clone();
        ready.spec.as_mut().unwrap().node_name = Some("n1".into());
        ready.status = pod("x", "web", None, Timestamp::now()).status;
        ctx.informers.pods.apply(ready);
        c.reconcile(&key).await.unwrap();
        let deletes: Vec<_> = pod_writes(&writer.take())
            .into_iter()
            .filter(|s| s.starts_with("delete"))
            .collect();
        assert_eq!(deletes, [format!("delete pods default/{}", names[1])]);
    }
}
