//! The garbage collector (upstream `pkg/controller/garbagecollector`), over the kinds the
//! shared informers cache.
//!
//! Dependents are the cached kinds with an owner index: pods, ReplicaSets,
//! ControllerRevisions, Jobs and EndpointSlices. Owners are looked up by kind, name and uid in
//! the caches of Deployments, ReplicaSets, ReplicationControllers, StatefulSets, DaemonSets,
//! Jobs, CronJobs, Services, Nodes, pods, ControllerRevisions and EndpointSlices. **An owner of
//! a kind that is not cached (a custom resource, a ConfigMap, ...) is treated as present**, so
//! its dependents are never collected by this controller.
//!
//! The queue is keyed by object: the key's namespace is the object's, its name is
//! `Kind/name` (e.g. `default`, `ReplicaSet/web-5d4f8`). One reconcile plays both roles:
//! - as an owner being deleted (deletionTimestamp set): with the `orphan` finalizer, it removes
//!   the references to the owner from every dependent, then the finalizer; with the
//!   `foregroundDeletion` finalizer, it processes every dependent as below (those with
//!   blockOwnerDeletion first), and removes the finalizer once no dependent that blocks the
//!   owner's deletion remains in the caches;
//! - as a dependent: its owners are classified as upstream does (absent; "waiting for
//!   dependents deletion": being deleted with `foregroundDeletion`; solid: everything else).
//!   With a solid owner left, the references to absent and waiting owners are removed;
//!   otherwise the dependent is deleted (uid precondition) with propagation Orphan or
//!   Foreground if it carries that finalizer, Foreground if a waiting owner is deleting it
//!   and it has dependents of its own (after unblocking those owners' references, as
//!   upstream), else Background.
//!
//! Differences from upstream: upstream keeps its own graph and confirms an absent owner with
//! a live GET; this controller has only the caches, which may lag (a pod can reach the cache
//! before its new ReplicaSet), so an owner must be seen absent for [`ABSENCE_CONFIRMATION`]
//! before its dependents are touched. Writes are merge patches carrying the object's
//! `resourceVersion` instead of strategic or JSON patches. Setting the deletion finalizers
//! when a DELETE asks for Foreground or Orphan propagation is the API server's part.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use barge_client::informer::Change;
use barge_client::writer::{is_conflict, is_not_found, resource};
use barge_client::{Delete, Informer, Key};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Node, Pod, ReplicationController, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use kube::api::{ApiResource, PropagationPolicy};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::runner::{Queue, Reconciler};
use crate::{BY_OWNER, Context};

/// The finalizer of an owner whose dependents are deleted before it.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer of an owner whose dependents are kept without it.
pub const ORPHAN: &str = "orphan";
/// How long an owner must be seen absent before its dependents are collected.
pub const ABSENCE_CONFIRMATION: Duration = Duration::from_secs(5);

/// The kinds the collector knows, all of them cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Pod,
    ReplicaSet,
    ControllerRevision,
    Job,
    EndpointSlice,
    Deployment,
    ReplicationController,
    StatefulSet,
    DaemonSet,
    CronJob,
    Service,
    Node,
}

const ALL: [Kind; 12] = [
    Kind::Pod,
    Kind::ReplicaSet,
    Kind::ControllerRevision,
    Kind::Job,
    Kind::EndpointSlice,
    Kind::Deployment,
    Kind::ReplicationController,
    Kind::StatefulSet,
    Kind::DaemonSet,
    Kind::CronJob,
    Kind::Service,
    Kind::Node,
];

/// The kinds whose objects are found by owner uid.
const DEPENDENTS: [Kind; 5] = [
    Kind::Pod,
    Kind::ReplicaSet,
    Kind::ControllerRevision,
    Kind::Job,
    Kind::EndpointSlice,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::ControllerRevision => "ControllerRevision",
            Kind::Job => "Job",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Deployment => "Deployment",
            Kind::ReplicationController => "ReplicationController",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::CronJob => "CronJob",
            Kind::Service => "Service",
            Kind::Node => "Node",
        }
    }

    fn group(self) -> &'static str {
        match self {
            Kind::Pod | Kind::ReplicationController | Kind::Service | Kind::Node => "",
            Kind::Job | Kind::CronJob => "batch",
            Kind::EndpointSlice => "discovery.k8s.io",
            _ => "apps",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        ALL.into_iter().find(|k| k.name() == name)
    }

    /// The cached kind an owner reference names, if any.
    fn of_reference(r: &OwnerReference) -> Option<Self> {
        let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        Self::parse(&r.kind).filter(|k| k.group() == group)
    }

    fn is_dependent(self) -> bool {
        DEPENDENTS.contains(&self)
    }

    fn resource(self) -> ApiResource {
        match self {
            Kind::Pod => resource::<Pod>(),
            Kind::ReplicaSet => resource::<ReplicaSet>(),
            Kind::ControllerRevision => resource::<ControllerRevision>(),
            Kind::Job => resource::<Job>(),
            Kind::EndpointSlice => resource::<EndpointSlice>(),
            Kind::Deployment => resource::<Deployment>(),
            Kind::ReplicationController => resource::<ReplicationController>(),
            Kind::StatefulSet => resource::<StatefulSet>(),
            Kind::DaemonSet => resource::<DaemonSet>(),
            Kind::CronJob => resource::<CronJob>(),
            Kind::Service => resource::<Service>(),
            Kind::Node => resource::<Node>(),
        }
    }
}

/// The queue key of an object of `kind`.
pub fn gc_key(kind: Kind, namespace: &str, name: &str) -> Key {
    Key::new(namespace, format!("{}/{name}", kind.name()))
}

fn has_finalizer(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == finalizer)
}

/// What became of one owner of a dependent.
enum Owner {
    /// Not in the cache (or a different object of the same name).
    Absent,
    /// Being deleted in the foreground: its dependents go first.
    Waiting,
    /// Present (or of a kind that is not cached).
    Solid,
}

/// The garbage collector.
pub struct GarbageCollector {
    ctx: Context,
    /// (dependent uid, owner uid) → when the owner was first seen absent.
    absent_since: Mutex<HashMap<(String, String), Instant>>,
}

impl std::fmt::Debug for GarbageCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GarbageCollector").finish_non_exhaustive()
    }
}

/// Starts the collector's watches (every kind it knows); returns its reconciler and queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let gc = Arc::new(GarbageCollector::new(ctx.clone()));
    let queue = Queue::new();
    let i = &ctx.informers;
    watch(&i.pods, Kind::Pod, &queue, &gc);
    watch(&i.replica_sets, Kind::ReplicaSet, &queue, &gc);
    watch(
        &i.controller_revisions,
        Kind::ControllerRevision,
        &queue,
        &gc,
    );
    watch(&i.jobs, Kind::Job, &queue, &gc);
    watch(&i.endpoint_slices, Kind::EndpointSlice, &queue, &gc);
    watch(&i.deployments, Kind::Deployment, &queue, &gc);
    watch(
        &i.replication_controllers,
        Kind::ReplicationController,
        &queue,
        &gc,
    );
    watch(&i.stateful_sets, Kind::StatefulSet, &queue, &gc);
    watch(&i.daemon_sets, Kind::DaemonSet, &queue, &gc);
    watch(&i.cron_jobs, Kind::CronJob, &queue, &gc);
    watch(&i.services, Kind::Service, &queue, &gc);
    watch(&i.nodes, Kind::Node, &queue, &gc);
    (gc, queue)
}

/// Queues, for each change of an object: the object (if it has owners or is being deleted),
/// its cached owners (a foreground owner waits for it), and when it is deleted its
/// dependents (their owner may be gone).
fn watch<K>(informer: &Informer<K>, kind: Kind, queue: &Queue, gc: &Arc<GarbageCollector>)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (informer, queue, gc) = (informer.clone(), queue.clone(), gc.clone());
    let mut changes = informer.subscribe();
    tokio::spawn(async move {
        informer.synced().await;
        let keys = |object: &K, deleted: bool| {
            let meta = object.meta();
            let ns = meta.namespace.as_deref().unwrap_or_default();
            let name = meta.name.as_deref().unwrap_or_default();
            let mut keys = Vec::new();
            let owned = meta
                .owner_references
                .as_ref()
                .is_some_and(|r| !r.is_empty());
            if !deleted && ((owned && kind.is_dependent()) || meta.deletion_timestamp.is_some()) {
                keys.push(gc_key(kind, ns, name));
            }
            for r in meta.owner_references.iter().flatten() {
                if let Some(owner) = Kind::of_reference(r) {
                    let ns = if owner == Kind::Node { "" } else { ns };
                    keys.push(gc_key(owner, ns, &r.name));
                }
            }
            if deleted && let Some(uid) = &meta.uid {
                for (k, m) in gc.dependents(uid) {
                    keys.push(gc_key(
                        k,
                        m.namespace.as_deref().unwrap_or_default(),
                        m.name.as_deref().unwrap_or_default(),
                    ));
                }
            }
            keys
        };
        for object in informer.cache().list() {
            keys(&object, false).into_iter().for_each(|k| queue.add(k));
        }
        while let Some(change) = changes.next().await {
            match change {
                Change::Applied { old, new } => {
                    for object in old.iter().chain([&new]) {
                        keys(object, false).into_iter().for_each(|k| queue.add(k));
                    }
                }
                Change::Deleted(object) => {
                    keys(&object, true).into_iter().for_each(|k| queue.add(k));
                }
                Change::Resynced => {
                    for object in informer.cache().list() {
                        keys(&object, false).into_iter().for_each(|k| queue.add(k));
                    }
                }
            }
        }
    });
}

fn meta_in<K: Object>(informer: &Informer<K>, namespace: &str, name: &str) -> Option<ObjectMeta> {
    informer
        .cache()
        .get(namespace, name)
        .map(|o| o.meta().clone())
}

fn owned_by<K: Object>(informer: &Informer<K>, uid: &str) -> Vec<ObjectMeta> {
    informer
        .cache()
        .by_index(BY_OWNER, uid)
        .iter()
        .map(|o| o.meta().clone())
        .collect()
}

/// What the caches hold.
trait Object: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static {}
impl<K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static> Object
    for K
{
}

fn reference_to<'a>(meta: &'a ObjectMeta, uid: &str) -> Option<&'a OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.uid == uid)
}

impl GarbageCollector {
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            absent_since: Mutex::default(),
        }
    }

    fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<ObjectMeta> {
        let i = &self.ctx.informers;
        match kind {
            Kind::Pod => meta_in(&i.pods, namespace, name),
            Kind::ReplicaSet => meta_in(&i.replica_sets, namespace, name),
            Kind::ControllerRevision => meta_in(&i.controller_revisions, namespace, name),
            Kind::Job => meta_in(&i.jobs, namespace, name),
            Kind::EndpointSlice => meta_in(&i.endpoint_slices, namespace, name),
            Kind::Deployment => meta_in(&i.deployments, namespace, name),
            Kind::ReplicationController => meta_in(&i.replication_controllers, namespace, name),
            Kind::StatefulSet => meta_in(&i.stateful_sets, namespace, name),
            Kind::DaemonSet => meta_in(&i.daemon_sets, namespace, name),
            Kind::CronJob => meta_in(&i.cron_jobs, namespace, name),
            Kind::Service => meta_in(&i.services, namespace, name),
            Kind::Node => meta_in(&i.nodes, "", name),
        }
    }

    /// The cached objects with an owner reference to `uid`.
    fn dependents(&self, uid: &str) -> Vec<(Kind, ObjectMeta)> {
        let i = &self.ctx.informers;
        let mut out = Vec::new();
        for kind in DEPENDENTS {
            let metas = match kind {
                Kind::Pod => owned_by(&i.pods, uid),
                Kind::ReplicaSet => owned_by(&i.replica_sets, uid),
                Kind::ControllerRevision => owned_by(&i.controller_revisions, uid),
                Kind::Job => owned_by(&i.jobs, uid),
                _ => owned_by(&i.endpoint_slices, uid),
            };
            out.extend(metas.into_iter().map(|m| (kind, m)));
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Instant>> {
        self.absent_since.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn classify(&self, namespace: &str, r: &OwnerReference) -> Owner {
        let Some(kind) = Kind::of_reference(r) else {
            return Owner::Solid;
        };
        match self.get(kind, namespace, &r.name) {
            Some(owner) if owner.uid.as_deref() == Some(r.uid.as_str()) => {
                if owner.deletion_timestamp.is_some() && has_finalizer(&owner, FOREGROUND) {
                    Owner::Waiting
                } else {
                    Owner::Solid
                }
            }
            _ => Owner::Absent,
        }
    }

    async fn patch(&self, kind: Kind, meta: &ObjectMeta, patch: Value) -> anyhow::Result<()> {
        let ns = meta.namespace.as_deref().unwrap_or_default();
        let name = meta.name.as_deref().unwrap_or_default();
        match self
            .ctx
            .writer
            .merge_patch(&kind.resource(), ns, name, None, patch)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(anyhow::anyhow!(
                "cannot patch {} {ns}/{name}: {e}",
                kind.name()
            )),
        }
    }

    /// Sets the dependent's owner references to `refs` (null when none is left).
    async fn set_references(
        &self,
        kind: Kind,
        meta: &ObjectMeta,
        refs: Vec<OwnerReference>,
    ) -> anyhow::Result<()> {
        let refs = if refs.is_empty() {
            Value::Null
        } else {
            serde_json::to_value(refs)?
        };
        let patch = json!({"metadata": {
            "resourceVersion": meta.resource_version,
            "ownerReferences": refs,
        }});
        self.patch(kind, meta, patch).await
    }

    async fn remove_finalizer(
        &self,
        kind: Kind,
        meta: &ObjectMeta,
        finalizer: &str,
    ) -> anyhow::Result<()> {
        let rest: Vec<&String> = meta
            .finalizers
            .iter()
            .flatten()
            .filter(|f| *f != finalizer)
            .collect();
        let rest = if rest.is_empty() {
            Value::Null
        } else {
            json!(rest)
        };
        let patch = json!({"metadata": {
            "resourceVersion": meta.resource_version,
            "finalizers": rest,
        }});
        self.patch(kind, meta, patch).await
    }

    /// The dependent role (upstream's attemptToDeleteItem for an object with owners).
    async fn process_dependent(
        &self,
        kind: Kind,
        meta: &ObjectMeta,
    ) -> anyhow::Result<Option<Duration>> {
        if meta.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let refs = meta.owner_references.clone().unwrap_or_default();
        if refs.is_empty() {
            return Ok(None);
        }
        let ns = meta.namespace.as_deref().unwrap_or_default();
        let uid = meta.uid.clone().unwrap_or_default();
        let (mut absent, mut waiting, mut solid) = (Vec::new(), Vec::new(), 0);
        let mut wait = None::<Duration>;
        {
            let mut since = self.lock();
            let now = Instant::now();
            for r in &refs {
                let pair = (uid.clone(), r.uid.clone());
                match self.classify(ns, r) {
                    Owner::Absent => {
                        let first = *since.entry(pair).or_insert(now);
                        let seen = now.duration_since(first);
                        if seen >= ABSENCE_CONFIRMATION {
                            absent.push(r.uid.clone());
                        } else {
                            let left = ABSENCE_CONFIRMATION - seen;
                            wait = Some(wait.map_or(left, |w| w.min(left)));
                        }
                    }
                    Owner::Waiting => {
                        since.remove(&pair);
                        waiting.push(r.uid.clone());
                    }
                    Owner::Solid => {
                        since.remove(&pair);
                        solid += 1;
                    }
                }
            }
        }
        if let Some(wait) = wait {
            return Ok(Some(wait));
        }
        if absent.is_empty() && waiting.is_empty() {
            return Ok(None);
        }
        if solid > 0 {
            let keep = refs
                .into_iter()
                .filter(|r| !absent.contains(&r.uid) && !waiting.contains(&r.uid))
                .collect();
            self.set_references(kind, meta, keep).await?;
            return Ok(None);
        }
        let propagation = if has_finalizer(meta, ORPHAN) {
            PropagationPolicy::Orphan
        } else if has_finalizer(meta, FOREGROUND) {
            PropagationPolicy::Foreground
        } else if !waiting.is_empty() && !self.dependents(&uid).is_empty() {
            // Its own dependents may take long: do not let the waiting owners wait on it.
            let unblocked = refs
                .into_iter()
                .map(|mut r| {
                    if waiting.contains(&r.uid) && r.block_owner_deletion == Some(true) {
                        r.block_owner_deletion = Some(false);
                    }
                    r
                })
                .collect();
            self.set_references(kind, meta, unblocked).await?;
            PropagationPolicy::Foreground
        } else {
            PropagationPolicy::Background
        };
        let name = meta.name.as_deref().unwrap_or_default();
        let options = Delete {
            propagation: Some(propagation),
            uid: Some(uid.clone()),
            ..Delete::default()
        };
        match self
            .ctx
            .writer
            .delete(&kind.resource(), ns, name, &options)
            .await
        {
            Ok(()) => {
                self.lock().retain(|(d, _), _| *d != uid);
                Ok(None)
            }
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(None),
            Err(e) => Err(anyhow::anyhow!(
                "cannot delete {} {ns}/{name}: {e}",
                kind.name()
            )),
        }
    }

    /// Removes the references to the owner from its dependents, then the `orphan` finalizer.
    async fn orphan_dependents(&self, kind: Kind, owner: &ObjectMeta) -> anyhow::Result<()> {
        let uid = owner.uid.as_deref().unwrap_or_default();
        for (dep_kind, dep) in self.dependents(uid) {
            let keep = dep
                .owner_references
                .iter()
                .flatten()
                .filter(|r| r.uid != uid)
                .cloned()
                .collect();
            self.set_references(dep_kind, &dep, keep).await?;
        }
        self.remove_finalizer(kind, owner, ORPHAN).await
    }

    /// Deletes the owner's dependents (blocking ones first); removes `foregroundDeletion` once
    /// none blocks the owner.
    async fn delete_dependents(
        &self,
        kind: Kind,
        owner: &ObjectMeta,
    ) -> anyhow::Result<Option<Duration>> {
        let uid = owner.uid.as_deref().unwrap_or_default();
        let mut dependents = self.dependents(uid);
        let blocks = |m: &ObjectMeta| {
            reference_to(m, uid).is_some_and(|r| r.block_owner_deletion == Some(true))
        };
        if !dependents.iter().any(|(_, m)| blocks(m)) {
            self.remove_finalizer(kind, owner, FOREGROUND).await?;
            return Ok(None);
        }
        dependents.sort_by_key(|(_, m)| !blocks(m));
        let mut again = None::<Duration>;
        let mut seen = HashSet::new();
        for (dep_kind, dep) in dependents {
            if !seen.insert(dep.uid.clone()) {
                continue;
            }
            if let Some(d) = self.process_dependent(dep_kind, &dep).await? {
                again = Some(again.map_or(d, |a| a.min(d)));
            }
        }
        Ok(again)
    }
}

#[async_trait]
impl Reconciler for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbagecollector"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some((kind, name)) = key
            .name
            .split_once('/')
            .and_then(|(k, n)| Some((Kind::parse(k)?, n)))
        else {
            return Ok(None);
        };
        let Some(meta) = self.get(kind, &key.namespace, name) else {
            return Ok(None);
        };
        if meta.deletion_timestamp.is_some() {
            if has_finalizer(&meta, ORPHAN) {
                self.orphan_dependents(kind, &meta).await?;
                return Ok(None);
            }
            if has_finalizer(&meta, FOREGROUND) {
                return self.delete_dependents(kind, &meta).await;
            }
            return Ok(None);
        }
        if kind.is_dependent() {
            return self.process_dependent(kind, &meta).await;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::writer::Call;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn meta(ns: &str, name: &str, owners: Vec<OwnerReference>) -> ObjectMeta {
        ObjectMeta {
            namespace: (!ns.is_empty()).then(|| ns.to_owned()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            resource_version: Some("5".into()),
            owner_references: (!owners.is_empty()).then_some(owners),
            ..Default::default()
        }
    }

    fn owner_ref(api_version: &str, kind: &str, name: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn pod(name: &str, owners: Vec<OwnerReference>) -> Pod {
        Pod {
            metadata: meta("default", name, owners),
            ..Default::default()
        }
    }

    fn rs(name: &str, owners: Vec<OwnerReference>) -> ReplicaSet {
        ReplicaSet {
            metadata: meta("default", name, owners),
            ..Default::default()
        }
    }

    fn deleting(mut m: ObjectMeta, finalizers: &[&str]) -> ObjectMeta {
        m.deletion_timestamp = Some(Time(Timestamp::now()));
        m.finalizers = Some(finalizers.iter().map(|f| (*f).to_owned()).collect());
        m
    }

    fn deletes(calls: &[Call]) -> Vec<(String, Delete)> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Delete { target, options } => Some((
                    format!("{} {}", target.plural, target.name),
                    options.clone(),
                )),
                _ => None,
            })
            .collect()
    }

    fn patches(calls: &[Call]) -> Vec<(String, Value)> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Patch { target, patch, .. } => {
                    Some((format!("{} {}", target.plural, target.name), patch.clone()))
                }
                _ => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn background_deletes_dependents_once_their_owners_are_surely_gone() {
        let (ctx, writer) = Context::for_tests();
        let gc = GarbageCollector::new(ctx.clone());
        ctx.informers.pods.apply(pod(
            "orphaned",
            vec![owner_ref("apps/v1", "ReplicaSet", "gone", true)],
        ));
        // The owner of this one is present.
        ctx.informers.replica_sets.apply(rs("web", vec![]));
        ctx.informers.pods.apply(pod(
            "kept",
            vec![owner_ref("apps/v1", "ReplicaSet", "web", true)],
        ));
        // An owner of a kind the caches do not hold counts as present.
        ctx.informers.pods.apply(pod(
            "foreign",
            vec![owner_ref("v1", "ConfigMap", "cm", false)],
        ));
        // A new object of the owner's name is not the owner.
        let mut stale = owner_ref("apps/v1", "ReplicaSet", "web", true);
        stale.uid = "uid-old-web".into();
        ctx.informers.pods.apply(pod("stale", vec![stale]));

        let keys =
            ["orphaned", "kept", "foreign", "stale"].map(|n| gc_key(Kind::Pod, "default", n));
        for k in &keys {
            let again = gc.reconcile(k).await.unwrap();
            let expect = (k.name.ends_with("orphaned") || k.name.ends_with("stale"))
                .then_some(ABSENCE_CONFIRMATION);
            assert_eq!(again, expect, "{k}");
        }
        assert!(
            writer.take().is_empty(),
            "nothing before the absence is confirmed"
        );

        tokio::time::advance(ABSENCE_CONFIRMATION).await;
        for k in &keys {
            gc.reconcile(k).await.unwrap();
        }
        let calls = writer.take();
        let d = deletes(&calls);
        assert_eq!(d.len(), 2, "{calls:?}");
        assert_eq!(d[0].0, "pods orphaned");
        assert_eq!(d[0].1.uid.as_deref(), Some("uid-orphaned"));
        assert_eq!(d[0].1.propagation, Some(PropagationPolicy::Background));
        assert_eq!(d[1].0, "pods stale");
        assert!(patches(&calls).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dependent_with_a_solid_owner_only_loses_the_gone_reference() {
        let (ctx, writer) = Context::for_tests();
        let gc = GarbageCollector::new(ctx.clone());
        ctx.informers.replica_sets.apply(rs("web", vec![]));
        let mut keep = owner_ref("apps/v1", "ReplicaSet", "web", true);
        keep.controller = Some(false);
        ctx.informers.pods.apply(pod(
            "p",
            vec![
                owner_ref("apps/v1", "ReplicaSet", "gone", true),
                keep.clone(),
            ],
        ));
        let key = gc_key(Kind::Pod, "default", "p");
        gc.reconcile(&key).await.unwrap();
        tokio::time::advance(ABSENCE_CONFIRMATION).await;
        gc.reconcile(&key).await.unwrap();
        let calls = writer.take();
        assert!(deletes(&calls).is_empty());
        let p = patches(&calls);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "pods p");
        assert_eq!(p[0].1["metadata"]["resourceVersion"], "5");
        assert_eq!(
            p[0].1["metadata"]["ownerReferences"],
            serde_json::to_value(vec![keep]).unwrap()
        );
    }

    #[tokio::test]
    async fn foreground_deletes_dependents_then_removes_the_finalizer() {
        let (ctx, writer) = Context::for_tests();
        let gc = GarbageCollector::new(ctx.clone());
        let d = Deployment {
            metadata: deleting(meta("default", "web", vec![]), &[FOREGROUND]),
            ..Default::default()
        };
        ctx.informers.deployments.apply(d);
        let by_web = || owner_ref("apps/v1", "Deployment", "web", true);
        // A ReplicaSet with pods of its own, one without, and one also owned by a solid
        // Service (made up, but any present owner will do).
        ctx.informers
            .replica_sets
            .apply(rs("with-pods", vec![by_web()]));
        ctx.informers.pods.apply(pod(
            "p",
            vec![owner_ref("apps/v1", "ReplicaSet", "with-pods", true)],
        ));
        let mut non_blocking = by_web();
        non_blocking.block_owner_deletion = None;
        ctx.informers
            .replica_sets
            .apply(rs("empty", vec![non_blocking]));
        ctx.informers.services.apply(Service {
            metadata: meta("default", "svc", vec![]),
            ..Default::default()
        });
        let shared = vec![by_web(), owner_ref("v1", "Service", "svc", false)];
        ctx.informers.replica_sets.apply(rs("shared", shared));

        let key = gc_key(Kind::Deployment, "default", "web");
        gc.reconcile(&key).await.unwrap();
        let calls = writer.take();
        let d = deletes(&calls);
        let names: Vec<_> = d.iter().map(|(n, _)| n.as_str()).collect();
        // The blocking dependent goes first.
        assert_eq!(names, ["replicasets with-pods", "replicasets empty"]);
        assert_eq!(d[0].1.propagation, Some(PropagationPolicy::Foreground));
        assert_eq!(d[0].1.uid.as_deref(), Some("uid-with-pods"));
        assert_eq!(d[1].1.propagation, Some(PropagationPolicy::Background));
        let p = patches(&calls);
        let unblock = p
            .iter()
            .find(|(n, _)| n == "replicasets with-pods")
            .unwrap();
        assert_eq!(
            unblock.1["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
            false
        );
        let shared = p.iter().find(|(n, _)| n == "replicasets shared").unwrap();
        assert_eq!(
            shared.1["metadata"]["ownerReferences"][0]["kind"], "Service",
            "only the reference to the deleting owner is removed"
        );
        assert!(!p.iter().any(|(n, _)| n.starts_with("deployments")));

        // The non-blocking one is still there, the blocking ones are gone: finalized.
        ctx.informers
            .replica_sets
            .delete(&Key::new("default", "with-pods"));
        ctx.informers
            .replica_sets
            .delete(&Key::new("default", "shared"));
        gc.reconcile(&key).await.unwrap();
        let p = patches(&writer.take());
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "deployments web");
        assert_eq!(p[0].1["metadata"]["finalizers"], Value::Null);
        assert_eq!(p[0].1["metadata"]["resourceVersion"], "5");
    }

    #[tokio::test]
    async fn orphan_removes_references_then_the_finalizer() {
        let (ctx, writer) = Context::for_tests();
        let gc = GarbageCollector::new(ctx.clone());
        ctx.informers.replica_sets.apply(ReplicaSet {
            metadata: deleting(meta("default", "web", vec![]), &[ORPHAN, "example.com/x"]),
            ..Default::default()
        });
        let by_web = || owner_ref("apps/v1", "ReplicaSet", "web", true);
        let other = owner_ref("v1", "ConfigMap", "cm", false);
        ctx.informers.pods.apply(pod("a", vec![by_web()]));
        ctx.informers
            .pods
            .apply(pod("b", vec![other.clone(), by_web()]));
        gc.reconcile(&gc_key(Kind::ReplicaSet, "default", "web"))
            .await
            .unwrap();
        let calls = writer.take();
        assert!(deletes(&calls).is_empty());
        let mut p = patches(&calls);
        let last = p.pop().unwrap();
        assert_eq!(last.0, "replicasets web");
        assert_eq!(last.1["metadata"]["finalizers"], json!(["example.com/x"]));
        p.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].1["metadata"]["ownerReferences"], Value::Null);
        assert_eq!(
            p[1].1["metadata"]["ownerReferences"],
            serde_json::to_value(vec![other]).unwrap()
        );
    }

    #[test]
    fn owner_references_map_to_cached_kinds_by_group() {
        let r = owner_ref("apps/v1", "Deployment", "x", true);
        assert_eq!(Kind::of_reference(&r), Some(Kind::Deployment));
        let r = owner_ref("example.com/v1", "Deployment", "x", true);
        assert_eq!(Kind::of_reference(&r), None);
        let r = owner_ref("v1", "Node", "n", false);
        assert_eq!(Kind::of_reference(&r), Some(Kind::Node));
    }
}
