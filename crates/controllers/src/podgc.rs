//! The pod garbage collector (upstream `pkg/controller/podgc`), run every 20 s:
//! - terminated pods (Succeeded or Failed) beyond `terminated_pod_gc_threshold` are deleted,
//!   evicted ones first, then oldest first (0 disables this);
//! - pods bound to a node that has been missing for the quarantine (40 s) are marked Failed
//!   with a `DisruptionTarget` condition (`DeletionByPodGC`, "PodGC: node no longer exists")
//!   and force-deleted;
//! - terminating pods that were never scheduled are marked Failed and force-deleted;
//! - terminating pods on a NotReady node tainted `node.kubernetes.io/out-of-service` are
//!   marked Failed and force-deleted.
//!
//! One key (the whole pass), requeued after every pass. Upstream confirms a missing node with
//! a GET before deleting its pods; here the node must have been absent from the cache for the
//! whole quarantine.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use barge_client::writer::is_not_found;
use barge_client::{Delete, Key, WriterExt};
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use tokio::time::Instant;

use crate::Context;
use crate::pods;
use crate::runner::{Queue, Reconciler};

/// How often a pass runs.
pub const GC_PERIOD: Duration = Duration::from_secs(20);
/// How long a node must be missing before its pods are deleted.
pub const QUARANTINE: Duration = Duration::from_secs(40);
/// The taint that lets terminating pods on a dead node be deleted at once.
const OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

#[derive(Debug)]
pub struct PodGcController {
    ctx: Context,
    /// Nodes pods are bound to that are not in the cache, with when that was first seen.
    missing_since: Mutex<HashMap<String, Instant>>,
}

/// The one key of the pass.
pub fn pass_key() -> Key {
    Key::new("", "podgc")
}

/// Queues the first pass; each pass queues the next.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    queue.add(pass_key());
    (Arc::new(PodGcController::new(ctx)), queue)
}

impl PodGcController {
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            missing_since: Mutex::default(),
        }
    }

    /// Terminated pods to delete: the oldest beyond the threshold, evicted pods first.
    fn terminated_to_delete(&self, all: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
        let threshold = self.ctx.settings.terminated_pod_gc_threshold;
        if threshold == 0 {
            return Vec::new();
        }
        let mut terminated: Vec<Arc<Pod>> = all
            .iter()
            .filter(|p| matches!(pods::phase(p), "Succeeded" | "Failed"))
            .cloned()
            .collect();
        if terminated.len() <= threshold {
            return Vec::new();
        }
        let excess = terminated.len() - threshold;
        terminated.sort_by(|a, b| {
            let order = |p: &Pod| {
                (
                    !is_evicted(p),
                    p.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    p.metadata.name.clone(),
                )
            };
            order(a).cmp(&order(b))
        });
        terminated.truncate(excess);
        terminated
    }

    /// Pods on nodes missing for the whole quarantine.
    fn orphaned(&self, all: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
        let now = Instant::now();
        let nodes = &self.ctx.informers.nodes;
        let mut missing_since = self.missing_since.lock().unwrap_or_else(|e| e.into_inner());
        let mut missing_now = HashSet::new();
        for pod in all {
            let node = node_name(pod);
            if !node.is_empty() && nodes.cache().get("", node).is_none() {
                missing_now.insert(node.to_owned());
            }
        }
        missing_since.retain(|n, _| missing_now.contains(n));
        for n in &missing_now {
            missing_since.entry(n.clone()).or_insert(now);
        }
        all.iter()
            .filter(|p| {
                missing_since
                    .get(node_name(p))
                    .is_some_and(|since| now.duration_since(*since) >= QUARANTINE)
            })
            .cloned()
            .collect()
    }

    /// Marks `pod` Failed (with `condition`) unless it has terminated, then force-deletes it.
    async fn mark_failed_and_delete(
        &self,
        pod: &Pod,
        condition: Option<PodCondition>,
    ) -> anyhow::Result<()> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        if !matches!(pods::phase(pod), "Succeeded" | "Failed") {
            let mut conditions = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            if let Some(c) = condition {
                set_condition(&mut conditions, c);
            }
            let patch = json!({
                "metadata": {"uid": pod.metadata.uid, "resourceVersion": pod.metadata.resource_version},
                "status": {"phase": "Failed", "conditions": conditions},
            });
            match self
                .ctx
                .writer
                .patch_typed::<Pod>(ns, name, Some("status"), patch)
                .await
            {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("marking pod {ns}/{name} failed"))
                    );
                }
            }
        }
        tracing::info!(pod = %format!("{ns}/{name}"), "PodGC is force deleting Pod");
        let options = Delete {
            grace_period_seconds: Some(0),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        };
        match self
            .ctx
            .writer
            .delete_typed::<Pod>(ns, name, &options)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context(format!("deleting pod {ns}/{name}"))),
        }
    }
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

/// Upstream's `eviction.PodIsEvicted`.
fn is_evicted(pod: &Pod) -> bool {
    pods::phase(pod) == "Failed"
        && pod.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted")
}

fn is_ready_node(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Sets a condition, keeping its transition time when the status does not change.
fn set_condition(conditions: &mut Vec<PodCondition>, mut new: PodCondition) {
    let now = Time(Timestamp::now());
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            new.last_transition_time = if old.status == new.status {
                old.last_transition_time.clone()
            } else {
                Some(now.clone())
            };
            new.last_probe_time = Some(now);
            *old = new;
        }
        None => {
            new.last_transition_time = Some(now.clone());
            new.last_probe_time = Some(now);
            conditions.push(new);
        }
    }
}

fn disruption(message: &str) -> PodCondition {
    PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some("DeletionByPodGC".into()),
        message: Some(message.into()),
        ..Default::default()
    }
}

#[async_trait]
impl Reconciler for PodGcController {
    fn name(&self) -> &'static str {
        "podgc"
    }

    async fn reconcile(&self, _key: &Key) -> anyhow::Result<Option<Duration>> {
        let all = self.ctx.informers.pods.cache().list();
        let mut errors = Vec::new();
        let mut done: HashSet<(String, String)> = HashSet::new();
        let id = |p: &Pod| {
            (
                p.metadata.namespace.clone().unwrap_or_default(),
                p.metadata.name.clone().unwrap_or_default(),
            )
        };

        let mut work: Vec<(Arc<Pod>, Option<PodCondition>)> = Vec::new();
        for pod in self.terminated_to_delete(&all) {
            work.push((pod, None));
        }
        // Terminating pods on out-of-service nodes.
        for pod in all
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
        {
            let Some(node) = self.ctx.informers.nodes.cache().get("", node_name(pod)) else {
                continue;
            };
            let out_of_service = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_some_and(|ts| ts.iter().any(|t| t.key == OUT_OF_SERVICE));
            if out_of_service && !is_ready_node(&node) {
                work.push((pod.clone(), None));
            }
        }
        for pod in self.orphaned(&all) {
            work.push((pod, Some(disruption("PodGC: node no longer exists"))));
        }
        for pod in all
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some() && node_name(p).is_empty())
        {
            work.push((pod.clone(), None));
        }

        for (pod, condition) in work {
            if !done.insert(id(&pod)) {
                continue;
            }
            if let Err(e) = self.mark_failed_and_delete(&pod, condition).await {
                tracing::warn!(error = format!("{e:#}"), "pod GC");
                errors.push(e);
            }
        }
        match errors.into_iter().next() {
            // A failed pass is retried with backoff; the next success requeues the period.
            Some(e) => Err(e),
            None => Ok(Some(GC_PERIOD)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::writer::Call;
    use k8s_openapi::api::core::v1::{NodeSpec, NodeStatus, PodSpec, PodStatus, Taint};
    use k8s_openapi::jiff::SignedDuration;
    use kube::api::ObjectMeta;

    fn pod(name: &str, node: Option<&str>, phase: &str, age_secs: i64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(Time(
                    Timestamp::now() - SignedDuration::from_secs(age_secs),
                )),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(Into::into),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
        }
    }

    fn node(name: &str) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn deleted(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter(|c| matches!(c, Call::Delete { .. }))
            .map(|c| c.target().name.clone())
            .collect()
    }

    #[tokio::test]
    async fn terminated_pods_beyond_the_threshold_go_evicted_then_oldest_first() {
        let (mut ctx, writer) = Context::for_tests();
        let mut settings = (*ctx.settings).clone();
        settings.terminated_pod_gc_threshold = 2;
        ctx.settings = Arc::new(settings);
        ctx.informers.nodes.apply(node("n1"));
        ctx.informers
            .pods
            .apply(pod("old", Some("n1"), "Succeeded", 300));
        ctx.informers
            .pods
            .apply(pod("older", Some("n1"), "Failed", 400));
        ctx.informers
            .pods
            .apply(pod("new", Some("n1"), "Succeeded", 10));
        let mut evicted = pod("evicted", Some("n1"), "Failed", 5);
        evicted.status.as_mut().unwrap().reason = Some("Evicted".into());
        ctx.informers.pods.apply(evicted);
        ctx.informers
            .pods
            .apply(pod("running", Some("n1"), "Running", 1000));
        let c = PodGcController::new(&ctx);
        let again = c.reconcile(&pass_key()).await.unwrap();
        assert_eq!(again, Some(GC_PERIOD));
        let calls = writer.take();
        // Terminated pods are deleted without a status patch, with grace period 0.
        assert_eq!(deleted(&calls), ["evicted", "older"]);
        assert_eq!(calls.len(), 2, "{calls:?}");
        let Call::Delete { options, .. } = &calls[0] else {
            panic!("{calls:?}")
        };
        assert_eq!(options.grace_period_seconds, Some(0));
    }

    #[tokio::test]
    async fn threshold_zero_keeps_terminated_pods() {
        let (mut ctx, writer) = Context::for_tests();
        let mut settings = (*ctx.settings).clone();
        settings.terminated_pod_gc_threshold = 0;
        ctx.settings = Arc::new(settings);
        ctx.informers.nodes.apply(node("n1"));
        ctx.informers
            .pods
            .apply(pod("done", Some("n1"), "Succeeded", 300));
        PodGcController::new(&ctx)
            .reconcile(&pass_key())
            .await
            .unwrap();
        assert!(writer.take().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn pods_on_a_missing_node_go_after_the_quarantine() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.nodes.apply(node("alive"));
        ctx.informers
            .pods
            .apply(pod("orphan", Some("gone"), "Running", 100));
        ctx.informers
            .pods
            .apply(pod("fine", Some("alive"), "Running", 100));
        ctx.informers
            .pods
            .apply(pod("back", Some("flaky"), "Running", 100));
        let c = PodGcController::new(&ctx);
        c.reconcile(&pass_key()).await.unwrap();
        assert!(writer.take().is_empty(), "deleted before the quarantine");

        tokio::time::advance(Duration::from_secs(20)).await;
        // "flaky" reappears: its pods are safe, and its quarantine restarts if it goes again.
        ctx.informers.nodes.apply(node("flaky"));
        c.reconcile(&pass_key()).await.unwrap();
        assert!(writer.take().is_empty());

        tokio::time::advance(QUARANTINE).await;
        c.reconcile(&pass_key()).await.unwrap();
        let calls = writer.take();
        assert_eq!(
            calls.iter().map(Call::summary).collect::<Vec<_>>(),
            [
                "patch pods/status default/orphan",
                "delete pods default/orphan"
            ]
        );
        let Call::Patch { patch, .. } = &calls[0] else {
            panic!("{calls:?}")
        };
        assert_eq!(patch["status"]["phase"], "Failed");
        let cond = &patch["status"]["conditions"][0];
        assert_eq!(cond["type"], "DisruptionTarget");
        assert_eq!(cond["reason"], "DeletionByPodGC");
        assert_eq!(cond["message"], "PodGC: node no longer exists");
    }

    #[tokio::test]
    async fn unscheduled_terminating_pods_are_force_deleted() {
        let (ctx, writer) = Context::for_tests();
        let mut p = pod("stuck", None, "Pending", 100);
        p.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        ctx.informers.pods.apply(p);
        ctx.informers
            .pods
            .apply(pod("waiting", None, "Pending", 100));
        PodGcController::new(&ctx)
            .reconcile(&pass_key())
            .await
            .unwrap();
        assert_eq!(
            writer.summaries(),
            [
                "patch pods/status default/stuck",
                "delete pods default/stuck"
            ]
        );
    }

    #[tokio::test]
    async fn terminating_pods_on_out_of_service_nodes_are_force_deleted() {
        let (ctx, writer) = Context::for_tests();
        let mut n = node("dead");
        n.spec = Some(NodeSpec {
            taints: Some(vec![Taint {
                key: OUT_OF_SERVICE.into(),
                effect: "NoExecute".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        n.status = Some(NodeStatus::default());
        ctx.informers.nodes.apply(n);
        let mut p = pod("stuck", Some("dead"), "Running", 100);
        p.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        ctx.informers.pods.apply(p);
        ctx.informers
            .pods
            .apply(pod("alive", Some("dead"), "Running", 100));
        PodGcController::new(&ctx)
            .reconcile(&pass_key())
            .await
            .unwrap();
        assert_eq!(
            writer.summaries(),
            [
                "patch pods/status default/stuck",
                "delete pods default/stuck"
            ]
        );
    }
}
