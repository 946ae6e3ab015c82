//! The namespace controller (upstream `pkg/controller/namespace/deletion`): empties a
//! Namespace that is being deleted, then removes its `kubernetes` finalizer.
//!
//! One reconcile of a Namespace with a deletionTimestamp and `kubernetes` in
//! `spec.finalizers`:
//! 1. deletes its content with one deletecollection per resource: every namespaced kind the
//!    shared informers cache (pods, services, endpoints, endpoint slices, service accounts,
//!    deployments, replica sets, replication controllers, stateful sets, daemon sets,
//!    controller revisions, jobs, cron jobs, PVCs, PDBs) while the cache still shows objects
//!    of it that are not being deleted, and once per Namespace the namespaced built-ins the
//!    informers do not cache ([`uncached`]);
//! 2. writes the deletion conditions upstream writes (NamespaceDeletionDiscoveryFailure,
//!    NamespaceDeletionGroupVersionParsingFailure, NamespaceDeletionContentFailure,
//!    NamespaceContentRemaining, NamespaceFinalizersRemaining) with upstream's reasons and
//!    messages;
//! 3. once the caches show nothing left in it, removes `kubernetes` from `spec.finalizers`
//!    through the `finalize` subresource (a merge patch carrying the Namespace's
//!    `resourceVersion`; upstream PUTs the whole Namespace). While content remains it asks to
//!    run again: after the longest remaining pod grace period, 15 s while finalizers hold
//!    objects (upstream's finalizerEstimateSeconds), else 1 s.
//!
//! Differences from upstream: discovery is a fixed list rather than the server's discovery
//! (so custom resources are not deleted, and the discovery conditions are always False);
//! remaining content is counted only for the cached kinds, since the Writer cannot list; the
//! uncached kinds are considered gone once their deletecollection succeeded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use barge_client::writer::{is_not_found, resource};
use barge_client::{Informer, Key, WriterExt};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Event, LimitRange, Namespace, PersistentVolumeClaim, Pod, PodTemplate,
    ReplicationController, ResourceQuota, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::ApiResource;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::runner::{Queue, Reconciler, enqueue, own_key};
use crate::{Context, Informers};

/// The finalizer this controller owns in a Namespace's `spec.finalizers`.
pub const FINALIZER: &str = "kubernetes";
/// How long to wait for objects held by finalizers (upstream's finalizerEstimateSeconds).
const FINALIZER_ESTIMATE: Duration = Duration::from_secs(15);

/// The namespaced built-ins the informers do not cache: deleted by collection, never counted.
pub fn uncached() -> Vec<ApiResource> {
    vec![
        resource::<ConfigMap>(),
        resource::<Secret>(),
        resource::<Event>(),
        resource::<Role>(),
        resource::<RoleBinding>(),
        resource::<Lease>(),
        resource::<LimitRange>(),
        resource::<ResourceQuota>(),
        resource::<PodTemplate>(),
        resource::<NetworkPolicy>(),
        resource::<Ingress>(),
        resource::<HorizontalPodAutoscaler>(),
    ]
}

/// What the caches hold of one resource in a namespace.
struct Content {
    resource: ApiResource,
    objects: Vec<ObjectMeta>,
    /// The longest deletionGracePeriodSeconds of the objects (pods).
    grace: i64,
}

fn content<K>(informer: &Informer<K>, namespace: &str) -> Content
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
    K: 'static,
{
    let objects: Vec<ObjectMeta> = informer
        .cache()
        .list_namespace(namespace)
        .iter()
        .map(|o| o.meta().clone())
        .collect();
    let grace = objects
        .iter()
        .filter_map(|m| m.deletion_grace_period_seconds)
        .max()
        .unwrap_or(0);
    Content {
        resource: resource::<K>(),
        objects,
        grace,
    }
}

fn cached_content(i: &Informers, ns: &str) -> Vec<Content> {
    vec![
        content::<Pod>(&i.pods, ns),
        content::<Service>(&i.services, ns),
        content::<Endpoints>(&i.endpoints, ns),
        content::<EndpointSlice>(&i.endpoint_slices, ns),
        content::<ServiceAccount>(&i.service_accounts, ns),
        content::<Deployment>(&i.deployments, ns),
        content::<ReplicaSet>(&i.replica_sets, ns),
        content::<ReplicationController>(&i.replication_controllers, ns),
        content::<StatefulSet>(&i.stateful_sets, ns),
        content::<DaemonSet>(&i.daemon_sets, ns),
        content::<ControllerRevision>(&i.controller_revisions, ns),
        content::<Job>(&i.jobs, ns),
        content::<CronJob>(&i.cron_jobs, ns),
        content::<PersistentVolumeClaim>(&i.persistent_volume_claims, ns),
        content::<PodDisruptionBudget>(&i.pod_disruption_budgets, ns),
    ]
}

/// The namespace controller.
pub struct NamespaceController {
    ctx: Context,
    /// Namespaces (by uid) whose uncached kinds have been deleted.
    uncached_done: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for NamespaceController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceController")
            .finish_non_exhaustive()
    }
}

/// Starts the controller's watch of Namespaces; returns its reconciler and queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    enqueue(&ctx.informers.namespaces, &queue, own_key::<Namespace>);
    (Arc::new(NamespaceController::new(ctx.clone())), queue)
}

/// One namespace condition as upstream writes it.
fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message})
}

/// The resource as upstream names it in messages: `pods.`, `deployments.apps`.
fn group_resource(r: &ApiResource) -> String {
    format!("{}.{}", r.plural, r.group)
}

impl NamespaceController {
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            uncached_done: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.uncached_done.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Deletes what is left; returns the errors, one per resource.
    async fn delete_content(&self, ns: &Namespace, name: &str, cached: &[Content]) -> Vec<String> {
        let mut errors = Vec::new();
        let writer = &self.ctx.writer;
        for c in cached {
            if c.objects.iter().all(|m| m.deletion_timestamp.is_some()) {
                continue;
            }
            if let Err(e) = writer.delete_collection(&c.resource, name).await
                && !is_not_found(&e)
            {
                errors.push(format!("{}: {e}", group_resource(&c.resource)));
            }
        }
        let uid = ns.metadata.uid.clone().unwrap_or_default();
        if !self.lock().contains(&uid) {
            let before = errors.len();
            for r in uncached() {
                if let Err(e) = writer.delete_collection(&r, name).await
                    && !is_not_found(&e)
                {
                    errors.push(format!("{}: {e}", group_resource(&r)));
                }
            }
            if errors.len() == before {
                self.lock().insert(uid);
            }
        }
        errors
    }

    /// Writes the deletion conditions if they changed.
    async fn update_conditions(
        &self,
        ns: &Namespace,
        name: &str,
        cached: &[Content],
        errors: &[String],
    ) -> anyhow::Result<()> {
        let mut remaining = Vec::new();
        let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
        for c in cached.iter().filter(|c| !c.objects.is_empty()) {
            remaining.push(format!(
                "{} has {} resource instances",
                group_resource(&c.resource),
                c.objects.len()
            ));
            for f in c.objects.iter().flat_map(|m| m.finalizers.iter().flatten()) {
                *finalizers.entry(f.clone()).or_default() += 1;
            }
        }
        remaining.sort();
        let content_failure = if errors.is_empty() {
            condition(
                "NamespaceDeletionContentFailure",
                "False",
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization",
            )
        } else {
            condition(
                "NamespaceDeletionContentFailure",
                "True",
                "ContentDeletionFailed",
                &format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    errors.len(),
                    errors.join(", ")
                ),
            )
        };
        let content_remaining = if remaining.is_empty() {
            condition(
                "NamespaceContentRemaining",
                "False",
                "ContentRemoved",
                "All content successfully removed",
            )
        } else {
            condition(
                "NamespaceContentRemaining",
                "True",
                "SomeResourcesRemain",
                &format!("Some resources are remaining: {}", remaining.join(", ")),
            )
        };
        let finalizers_remaining = if finalizers.is_empty() {
            condition(
                "NamespaceFinalizersRemaining",
                "False",
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished",
            )
        } else {
            let list: Vec<String> = finalizers
                .iter()
                .map(|(f, n)| format!("{f} in {n} resource instances"))
                .collect();
            condition(
                "NamespaceFinalizersRemaining",
                "True",
                "SomeFinalizersRemain",
                &format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    list.join(", ")
                ),
            )
        };
        let wanted = [
            condition(
                "NamespaceDeletionDiscoveryFailure",
                "False",
                "ResourcesDiscovered",
                "All resources successfully discovered",
            ),
            condition(
                "NamespaceDeletionGroupVersionParsingFailure",
                "False",
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed",
            ),
            content_failure,
            content_remaining,
            finalizers_remaining,
        ];
        let old: Vec<Value> = ns
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| serde_json::to_value(c).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        let old_by_type: HashMap<&str, &Value> = old
            .iter()
            .filter_map(|c| Some((c["type"].as_str()?, c)))
            .collect();
        let now = Timestamp::now().to_string();
        let mut changed = false;
        let mut conditions = Vec::new();
        for mut c in wanted {
            let kept = c["type"]
                .as_str()
                .and_then(|t| old_by_type.get(t))
                .filter(|o| ["status", "reason", "message"].iter().all(|f| o[f] == c[f]));
            match kept {
                Some(o) => c["lastTransitionTime"] = o["lastTransitionTime"].clone(),
                None => {
                    changed = true;
                    c["lastTransitionTime"] = json!(now);
                }
            }
            conditions.push(c);
        }
        // Other writers' conditions are kept.
        let ours: HashSet<String> = conditions
            .iter()
            .filter_map(|c| c["type"].as_str().map(str::to_owned))
            .collect();
        conditions.extend(
            old.iter()
                .filter(|c| c["type"].as_str().is_none_or(|t| !ours.contains(t)))
                .cloned(),
        );
        if !changed {
            return Ok(());
        }
        let patch = json!({"status": {"phase": "Terminating", "conditions": conditions}});
        match self
            .ctx
            .writer
            .patch_typed::<Namespace>("", name, Some("status"), patch)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(anyhow::anyhow!(
                "cannot update the status of namespace {name}: {e}"
            )),
        }
    }
}

#[async_trait]
impl Reconciler for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let name = key.name.as_str();
        let Some(ns) = self.ctx.informers.namespaces.cache().get("", name) else {
            return Ok(None);
        };
        let ns = ns.as_ref();
        if ns.metadata.deletion_timestamp.is_none() {
            return Ok(None);
        }
        let finalizers: Vec<String> = ns
            .spec
            .as_ref()
            .and_then(|s| s.finalizers.clone())
            .unwrap_or_default();
        if !finalizers.iter().any(|f| f == FINALIZER) {
            if let Some(uid) = &ns.metadata.uid {
                self.lock().remove(uid);
            }
            return Ok(None);
        }
        let cached = cached_content(&self.ctx.informers, name);
        let errors = self.delete_content(ns, name, &cached).await;
        self.update_conditions(ns, name, &cached, &errors).await?;
        if !errors.is_empty() {
            anyhow::bail!(
                "namespace {name}: cannot delete all content: {}",
                errors.join(", ")
            );
        }
        let left: Vec<&ObjectMeta> = cached.iter().flat_map(|c| &c.objects).collect();
        if !left.is_empty() {
            let grace = cached.iter().map(|c| c.grace).max().unwrap_or(0);
            let mut wait = Duration::from_secs(u64::try_from(grace).unwrap_or(0).max(1));
            if left
                .iter()
                .any(|m| m.finalizers.as_ref().is_some_and(|f| !f.is_empty()))
            {
                wait = wait.max(FINALIZER_ESTIMATE);
            }
            return Ok(Some(wait));
        }
        let rest: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
        let patch = json!({
            "metadata": {"resourceVersion": ns.metadata.resource_version},
            "spec": {"finalizers": rest},
        });
        match self
            .ctx
            .writer
            .patch_typed::<Namespace>("", name, Some("finalize"), patch)
            .await
        {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => anyhow::bail!("cannot finalize namespace {name}: {e}"),
        }
        if let Some(uid) = &ns.metadata.uid {
            self.lock().remove(uid);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::writer::Call;
    use k8s_openapi::api::core::v1::NamespaceSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn namespace(name: &str, deleting: bool, finalizers: &[&str]) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                resource_version: Some("42".into()),
                deletion_timestamp: deleting.then(|| Time(Timestamp::now())),
                ..Default::default()
            },
            spec: Some(NamespaceSpec {
                finalizers: Some(finalizers.iter().map(|f| (*f).to_owned()).collect()),
            }),
            status: None,
        }
    }

    fn meta(ns: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            ..Default::default()
        }
    }

    fn condition_of<'a>(status: &'a Value, type_: &str) -> &'a Value {
        status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == type_))
            .unwrap_or(&Value::Null)
    }

    fn status_patch(calls: &[Call]) -> Option<Value> {
        calls.iter().find_map(|c| match c {
            Call::Patch {
                subresource: Some(s),
                patch,
                ..
            } if s == "status" => Some(patch["status"].clone()),
            _ => None,
        })
    }

    #[tokio::test]
    async fn deletes_the_content_then_finalizes() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.namespaces.apply(namespace(
            "shop",
            true,
            &["kubernetes", "example.com/keep"],
        ));
        ctx.informers.pods.apply(Pod {
            metadata: meta("shop", "p"),
            ..Default::default()
        });
        ctx.informers.pods.apply(Pod {
            metadata: meta("other", "q"),
            ..Default::default()
        });
        ctx.informers.services.apply(Service {
            metadata: meta("shop", "s"),
            ..Default::default()
        });
        ctx.informers.deployments.apply(Deployment {
            metadata: meta("shop", "d"),
            ..Default::default()
        });
        let c = NamespaceController::new(ctx.clone());
        let key = Key::new("", "shop");

        let again = c.reconcile(&key).await.unwrap();
        assert_eq!(again, Some(Duration::from_secs(1)));
        let calls = writer.take();
        let summaries: Vec<String> = calls.iter().map(Call::summary).collect();
        for expected in [
            "deletecollection pods shop",
            "deletecollection services shop",
            "deletecollection deployments shop",
            "deletecollection configmaps shop",
            "deletecollection secrets shop",
            "deletecollection horizontalpodautoscalers shop",
        ] {
            assert!(
                summaries.iter().any(|s| s == expected),
                "{expected}: {summaries:?}"
            );
        }
        assert!(!summaries.iter().any(|s| s.contains("other")));
        assert!(!summaries.iter().any(|s| s.contains("finalize")));
        let status = status_patch(&calls).unwrap();
        assert_eq!(status["phase"], "Terminating");
        let remaining = condition_of(&status, "NamespaceContentRemaining");
        assert_eq!(remaining["status"], "True");
        assert_eq!(remaining["reason"], "SomeResourcesRemain");
        assert_eq!(
            remaining["message"],
            "Some resources are remaining: deployments.apps has 1 resource instances, \
             pods. has 1 resource instances, services. has 1 resource instances"
        );
        assert_eq!(
            condition_of(&status, "NamespaceDeletionContentFailure")["reason"],
            "ContentDeleted"
        );
        let mut ns = namespace("shop", true, &["kubernetes", "example.com/keep"]);
        ns.status = serde_json::from_value(status).unwrap();
        ctx.informers.namespaces.apply(ns);

        // The pod terminates slowly behind a finalizer; the rest is gone.
        ctx.informers.services.delete(&Key::new("shop", "s"));
        ctx.informers.deployments.delete(&Key::new("shop", "d"));
        let mut terminating = meta("shop", "p");
        terminating.deletion_timestamp = Some(Time(Timestamp::now()));
        terminating.deletion_grace_period_seconds = Some(30);
        terminating.finalizers = Some(vec!["example.com/x".into()]);
        ctx.informers.pods.apply(Pod {
            metadata: terminating,
            ..Default::default()
        });
        let again = c.reconcile(&key).await.unwrap();
        assert_eq!(again, Some(Duration::from_secs(30)));
        let calls = writer.take();
        let summaries: Vec<String> = calls.iter().map(Call::summary).collect();
        assert!(
            !summaries.iter().any(|s| s.starts_with("deletecollection")),
            "nothing left to delete, and the uncached kinds are done: {summaries:?}"
        );
        let status = status_patch(&calls).unwrap();
        assert_eq!(
            condition_of(&status, "NamespaceFinalizersRemaining")["message"],
            "Some content in the namespace has finalizers remaining: \
             example.com/x in 1 resource instances"
        );

        ctx.informers.pods.delete(&Key::new("shop", "p"));
        assert_eq!(c.reconcile(&key).await.unwrap(), None);
        let calls = writer.take();
        let finalize = calls
            .iter()
            .find_map(|c| match c {
                Call::Patch {
                    target,
                    subresource: Some(s),
                    patch,
                } if s == "finalize" && target.plural == "namespaces" => Some(patch.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(finalize["spec"]["finalizers"], json!(["example.com/keep"]));
        assert_eq!(finalize["metadata"]["resourceVersion"], "42");
        let status = status_patch(&calls).unwrap();
        assert_eq!(
            condition_of(&status, "NamespaceContentRemaining")["reason"],
            "ContentRemoved"
        );
        assert_eq!(
            condition_of(&status, "NamespaceFinalizersRemaining")["reason"],
            "ContentHasNoFinalizers"
        );
    }

    #[tokio::test]
    async fn live_or_finalized_namespaces_are_left_alone() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers
            .namespaces
            .apply(namespace("live", false, &["kubernetes"]));
        ctx.informers.namespaces.apply(namespace("done", true, &[]));
        ctx.informers.pods.apply(Pod {
            metadata: meta("live", "p"),
            ..Default::default()
        });
        let c = NamespaceController::new(ctx.clone());
        for name in ["live", "done", "missing"] {
            assert_eq!(c.reconcile(&Key::new("", name)).await.unwrap(), None);
        }
        assert!(writer.take().is_empty());
    }
}
