//! The node lifecycle controller (upstream `pkg/controller/nodelifecycle`) with upstream's
//! taint-eviction controller (`pkg/controller/tainteviction`) folded in.
//!
//! One key per Node, reconciled when the node, its Lease (`kube-node-lease/<node>`) or one of
//! its pods changes, and at least every `node_monitor_period`:
//! 1. **Health.** The last heartbeat is the latest of the Lease's `renewTime`, the Ready
//!    condition's `lastHeartbeatTime` and the node's creation. Older than
//!    `node_monitor_grace_period`: Ready, MemoryPressure, DiskPressure and PIDPressure become
//!    Unknown (`NodeStatusUnknown`, "Kubelet stopped posting node status."; conditions the
//!    kubelet never posted get `NodeStatusNeverUpdated`), with a `NodeNotReady` event when Ready
//!    was True.
//! 2. **Taints** (upstream's NoExecute tainting and TaintNodesByCondition): Ready Unknown →
//!    `node.kubernetes.io/unreachable` NoExecute and NoSchedule; Ready False →
//!    `node.kubernetes.io/not-ready` NoExecute and NoSchedule; MemoryPressure, DiskPressure,
//!    PIDPressure, NetworkUnavailable True and `spec.unschedulable` → their NoSchedule taints.
//!    Taints no longer called for are removed; taints of other owners are kept.
//! 3. **Pods** of a node whose Ready is not True are marked not Ready (upstream's
//!    MarkPodsNotReady), so that endpoints drop them.
//! 4. **Taint-based eviction**: a pod that does not tolerate every NoExecute taint of its node
//!    is deleted at once; one tolerating them with `tolerationSeconds` is deleted that long after
//!    the taint's `timeAdded` (the reconcile is requeued for then); one tolerating them without a
//!    limit stays. Each deletion gets a `TaintManagerEviction` event and a `DisruptionTarget`
//!    condition, as upstream.
//!
//! Differences from upstream: heartbeats are compared by their timestamps, not by the local time
//! they were observed (so clocks should agree); no zone-aware eviction rate limiting or
//! disruption modes; tolerationSeconds count from the taint's `timeAdded` (upstream counts from
//! when the taint manager saw the pod).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use barge_client::events::{Recorder, Type};
use barge_client::writer::{is_not_found, resource};
use barge_client::{Delete, Key, WriterExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodCondition, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::runner::{Queue, Reconciler, enqueue, own_key};
use crate::{BY_NODE, Context};

/// The namespace of the kubelets' Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Every (key, effect) this controller owns: taints outside this list are never touched.
const MANAGED: &[(&str, &str)] = &[
    (TAINT_UNREACHABLE, "NoExecute"),
    (TAINT_NOT_READY, "NoExecute"),
    (TAINT_UNREACHABLE, "NoSchedule"),
    (TAINT_NOT_READY, "NoSchedule"),
    (TAINT_MEMORY_PRESSURE, "NoSchedule"),
    (TAINT_DISK_PRESSURE, "NoSchedule"),
    (TAINT_PID_PRESSURE, "NoSchedule"),
    (TAINT_NETWORK_UNAVAILABLE, "NoSchedule"),
    (TAINT_UNSCHEDULABLE, "NoSchedule"),
];

/// The conditions set to Unknown when the kubelet stops posting.
const WATCHED_CONDITIONS: &[&str] = &["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

#[derive(Debug)]
pub struct NodeLifecycleController {
    ctx: Context,
    recorder: Recorder,
    eviction_recorder: Recorder,
    /// When a NoExecute taint without `timeAdded` was first seen: (node, key, effect) → time.
    first_seen: Mutex<HashMap<(String, String, String), Timestamp>>,
}

/// Starts the controller's watches; the caller runs the returned reconciler on the queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    enqueue(&ctx.informers.nodes, &queue, own_key);
    enqueue(&ctx.informers.node_leases, &queue, lease_node);
    enqueue(&ctx.informers.pods, &queue, pod_node);
    (Arc::new(NodeLifecycleController::new(ctx)), queue)
}

fn lease_node(lease: &Lease) -> Vec<Key> {
    lease
        .metadata
        .name
        .iter()
        .map(|n| Key::new("", n.clone()))
        .collect()
}

fn pod_node(pod: &Pod) -> Vec<Key> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
        .map(|n| Key::new("", n))
        .into_iter()
        .collect()
}

fn node_condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

fn unsigned(d: SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

/// Upstream's `Toleration.ToleratesTaint`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = toleration.key.as_deref().filter(|k| !k.is_empty())
        && key != taint.key
    {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        "Exists" => true,
        _ => false,
    }
}

/// When a pod on a node with `taints` must be evicted: `Some(t)` at `t` (now or earlier: at
/// once), `None` never.
fn eviction_time(
    tolerations: &[Toleration],
    taints: &[(Taint, Timestamp)],
    now: Timestamp,
) -> Option<Timestamp> {
    let mut earliest: Option<Timestamp> = None;
    for (taint, added) in taints {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(now);
        }
        // The shortest limit of the tolerations that match; none with a limit: forever.
        let Some(secs) = matching.iter().filter_map(|t| t.toleration_seconds).min() else {
            continue;
        };
        let at = added
            .checked_add(SignedDuration::from_secs(secs.max(0)))
            .unwrap_or(*added);
        earliest = Some(earliest.map_or(at, |e| e.min(at)));
    }
    earliest
}

/// Sets a pod condition (keeping the transition time when the status is unchanged); whether
/// anything changed.
fn set_pod_condition(
    conditions: &mut Vec<PodCondition>,
    new: PodCondition,
    now: Timestamp,
) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status && old.reason == new.reason && old.message == new.message {
                return false;
            }
            let transition = if old.status == new.status {
                old.last_transition_time.clone()
            } else {
                Some(Time(now))
            };
            *old = PodCondition {
                last_transition_time: transition,
                last_probe_time: old.last_probe_time.clone(),
                ..new
            };
            true
        }
        None => {
            conditions.push(PodCondition {
                last_transition_time: Some(Time(now)),
                ..new
            });
            true
        }
    }
}

impl NodeLifecycleController {
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            recorder: ctx.recorder("node-controller"),
            eviction_recorder: ctx.recorder("taint-eviction-controller"),
            first_seen: Mutex::default(),
        }
    }

    /// The node's conditions after marking them Unknown if its heartbeat is too old; `None`
    /// when they stay as they are.
    fn stale_conditions(&self, node: &Node, now: Timestamp) -> Option<Vec<NodeCondition>> {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let lease = self
            .ctx
            .informers
            .node_leases
            .cache()
            .get(LEASE_NAMESPACE, name);
        let renewed = lease
            .as_ref()
            .and_then(|l| l.spec.as_ref())
            .and_then(|s| s.renew_time.as_ref())
            .map(|t| t.0);
        let posted = node_condition(node, "Ready")
            .and_then(|c| c.last_heartbeat_time.as_ref())
            .map(|t| t.0);
        let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let heartbeat = [renewed, posted, created].into_iter().flatten().max()?;
        if now.duration_since(heartbeat) <= signed(self.ctx.settings.node_monitor_grace_period) {
            return None;
        }
        let mut conditions = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let mut changed = false;
        for type_ in WATCHED_CONDITIONS {
            match conditions.iter_mut().find(|c| c.type_ == *type_) {
                Some(c) if c.status == "Unknown" => {}
                Some(c) => {
                    c.status = "Unknown".into();
                    c.reason = Some("NodeStatusUnknown".into());
                    c.message = Some("Kubelet stopped posting node status.".into());
                    c.last_transition_time = Some(Time(now));
                    changed = true;
                }
                None => {
                    conditions.push(NodeCondition {
                        type_: (*type_).into(),
                        status: "Unknown".into(),
                        reason: Some("NodeStatusNeverUpdated".into()),
                        message: Some("Kubelet never posted node status.".into()),
                        last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                        last_transition_time: Some(Time(now)),
                    });
                    changed = true;
                }
            }
        }
        changed.then_some(conditions)
    }

    /// The node's taints with the controller's set as `conditions` and `spec` call for them.
    fn desired_taints(node: &Node, conditions: &[NodeCondition], now: Timestamp) -> Vec<Taint> {
        let status = |type_: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == type_)
                .map(|c| c.status.as_str())
        };
        let mut wanted: Vec<(&str, &str)> = Vec::new();
        match status("Ready") {
            Some("False") => {
                wanted.push((TAINT_NOT_READY, "NoExecute"));
                wanted.push((TAINT_NOT_READY, "NoSchedule"));
            }
            Some("Unknown") => {
                wanted.push((TAINT_UNREACHABLE, "NoExecute"));
                wanted.push((TAINT_UNREACHABLE, "NoSchedule"));
            }
            _ => {}
        }
        for (type_, key) in [
            ("MemoryPressure", TAINT_MEMORY_PRESSURE),
            ("DiskPressure", TAINT_DISK_PRESSURE),
            ("PIDPressure", TAINT_PID_PRESSURE),
            ("NetworkUnavailable", TAINT_NETWORK_UNAVAILABLE),
        ] {
            if status(type_) == Some("True") {
                wanted.push((key, "NoSchedule"));
            }
        }
        if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
            wanted.push((TAINT_UNSCHEDULABLE, "NoSchedule"));
        }
        let current = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let managed = |t: &Taint| MANAGED.contains(&(t.key.as_str(), t.effect.as_str()));
        let mut taints: Vec<Taint> = current
            .iter()
            .filter(|t| !managed(t) || wanted.contains(&(t.key.as_str(), t.effect.as_str())))
            .cloned()
            .collect();
        for (key, effect) in wanted {
            if !taints.iter().any(|t| t.key == key && t.effect == effect) {
                taints.push(Taint {
                    key: key.into(),
                    effect: effect.into(),
                    value: None,
                    time_added: (effect == "NoExecute").then_some(Time(now)),
                });
            }
        }
        taints
    }

    /// The node's NoExecute taints with the time each was added.
    fn no_execute(&self, node: &str, taints: &[Taint], now: Timestamp) -> Vec<(Taint, Timestamp)> {
        let mut first_seen = self.first_seen.lock().unwrap_or_else(|e| e.into_inner());
        first_seen.retain(|(n, key, effect), _| {
            n != node || taints.iter().any(|t| &t.key == key && &t.effect == effect)
        });
        taints
            .iter()
            .filter(|t| t.effect == "NoExecute")
            .map(|t| {
                let added = match &t.time_added {
                    Some(time) => time.0,
                    None => *first_seen
                        .entry((node.to_owned(), t.key.clone(), t.effect.clone()))
                        .or_insert(now),
                };
                (t.clone(), added)
            })
            .collect()
    }

    async fn patch_node(
        &self,
        name: &str,
        subresource: Option<&str>,
        patch: Value,
    ) -> anyhow::Result<Value> {
        self.ctx
            .writer
            .merge_patch(&resource::<Node>(), "", name, subresource, patch)
            .await
            .map_err(|e| anyhow::Error::new(e).context(format!("patching node {name}")))
    }

    /// Sets the Ready condition of the pod to False (upstream's MarkPodsNotReady).
    async fn mark_not_ready(&self, pod: &Pod, now: Timestamp) -> anyhow::Result<()> {
        let Some(mut conditions) = pod.status.as_ref().and_then(|s| s.conditions.clone()) else {
            return Ok(());
        };
        let Some(ready) = conditions.iter_mut().find(|c| c.type_ == "Ready") else {
            return Ok(());
        };
        if ready.status == "False" {
            return Ok(());
        }
        ready.status = "False".into();
        ready.last_transition_time = Some(Time(now));
        let (ns, name) = pod_id(pod);
        let patch = json!({
            "metadata": {"resourceVersion": pod.metadata.resource_version},
            "status": {"conditions": conditions},
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
                    anyhow::Error::new(e).context(format!("marking pod {ns}/{name} not ready"))
                );
            }
        }
        self.recorder
            .publish(pod, Type::Warning, "NodeNotReady", "Node is not ready")
            .await;
        Ok(())
    }

    /// Deletes a pod for a NoExecute taint it does not tolerate (any more).
    async fn evict(&self, pod: &Pod, now: Timestamp) -> anyhow::Result<()> {
        let (ns, name) = pod_id(pod);
        self.eviction_recorder
            .publish(
                pod,
                Type::Normal,
                "TaintManagerEviction",
                &format!("Marking for deletion Pod {ns}/{name}"),
            )
            .await;
        let mut conditions = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let disruption = PodCondition {
            type_: "DisruptionTarget".into(),
            status: "True".into(),
            reason: Some("DeletionByTaintManager".into()),
            message: Some("Taint manager: deleting due to NoExecute taint".into()),
            ..Default::default()
        };
        if set_pod_condition(&mut conditions, disruption, now) {
            let patch = json!({
                "metadata": {"resourceVersion": pod.metadata.resource_version},
                "status": {"conditions": conditions},
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
                    return Err(anyhow::Error::new(e)
                        .context(format!("marking pod {ns}/{name} for eviction")));
                }
            }
        }
        let options = Delete {
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
            Err(e) => Err(anyhow::Error::new(e).context(format!("evicting pod {ns}/{name}"))),
        }
    }
}

fn pod_id(pod: &Pod) -> (&str, &str) {
    (
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default(),
    )
}

#[async_trait]
impl Reconciler for NodeLifecycleController {
    fn name(&self) -> &'static str {
        "node-lifecycle"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(node) = self.ctx.informers.nodes.cache().get("", &key.name) else {
            let mut first_seen = self.first_seen.lock().unwrap_or_else(|e| e.into_inner());
            first_seen.retain(|(n, _, _), _| n != &key.name);
            return Ok(None);
        };
        let now = Timestamp::now();
        let period = self.ctx.settings.node_monitor_period;
        let mut resource_version = node.metadata.resource_version.clone();

        // 1. Health.
        let was_ready = node_condition(&node, "Ready").is_some_and(|c| c.status == "True");
        let conditions = match self.stale_conditions(&node, now) {
            Some(conditions) => {
                let patch = json!({
                    "metadata": {"resourceVersion": resource_version},
                    "status": {"conditions": conditions},
                });
                let patched = self.patch_node(&key.name, Some("status"), patch).await?;
                if let Some(rv) = patched["metadata"]["resourceVersion"].as_str() {
                    resource_version = Some(rv.to_owned());
                }
                if was_ready {
                    self.recorder
                        .publish(
                            node.as_ref(),
                            Type::Normal,
                            "NodeNotReady",
                            &format!("Node {} status is now: NodeNotReady", key.name),
                        )
                        .await;
                }
                conditions
            }
            None => node
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default(),
        };
        let ready = conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .is_some_and(|c| c.status == "True");

        // 2. Taints.
        let taints = Self::desired_taints(&node, &conditions, now);
        let current = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        if taints != current {
            let patch = json!({
                "metadata": {"resourceVersion": resource_version},
                "spec": {"taints": taints},
            });
            self.patch_node(&key.name, None, patch).await?;
        }

        // 3. and 4. Pods.
        let no_execute = self.no_execute(&key.name, &taints, now);
        let mut again = period;
        let mut failure = None;
        for pod in self.ctx.informers.pods.cache().by_index(BY_NODE, &key.name) {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if !ready && let Err(e) = self.mark_not_ready(&pod, now).await {
                failure = Some(e);
            }
            if no_execute.is_empty() {
                continue;
            }
            let tolerations = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.clone())
                .unwrap_or_default();
            match eviction_time(&tolerations, &no_execute, now) {
                Some(at) if at <= now => {
                    if let Err(e) = self.evict(&pod, now).await {
                        failure = Some(e);
                    }
                }
                Some(at) => again = again.min(unsigned(at.duration_since(now))),
                None => {}
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(Some(again)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::writer::Call;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::api::core::v1::{NodeSpec, NodeStatus, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use kube::api::ObjectMeta;

    fn ago(secs: i64) -> Timestamp {
        Timestamp::now() - SignedDuration::from_secs(secs)
    }

    fn condition(type_: &str, status: &str, heartbeat: Timestamp) -> NodeCondition {
        NodeCondition {
            type_: type_.into(),
            status: status.into(),
            last_heartbeat_time: Some(Time(heartbeat)),
            last_transition_time: Some(Time(ago(3600))),
            reason: Some("KubeletReady".into()),
            message: None,
        }
    }

    fn node(name: &str, ready: &str, heartbeat_secs_ago: i64) -> Node {
        let hb = ago(heartbeat_secs_ago);
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                resource_version: Some("10".into()),
                creation_timestamp: Some(Time(ago(3600))),
                ..Default::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus {
                conditions: Some(vec![
                    condition("MemoryPressure", "False", hb),
                    condition("DiskPressure", "False", hb),
                    condition("PIDPressure", "False", hb),
                    condition("Ready", ready, hb),
                ]),
                ..Default::default()
            }),
        }
    }

    fn lease(name: &str, renewed_secs_ago: i64) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(LEASE_NAMESPACE.into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(ago(renewed_secs_ago))),
                ..Default::default()
            }),
        }
    }

    fn pod(name: &str, node: &str, tolerations: Vec<Toleration>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                resource_version: Some("5".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                tolerations: Some(tolerations),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn unreachable_toleration(seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(TAINT_UNREACHABLE.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: seconds,
            ..Default::default()
        }
    }

    fn key(name: &str) -> Key {
        Key::new("", name)
    }

    fn find<'a>(calls: &'a [Call], summary: &str) -> Option<&'a Call> {
        calls.iter().find(|c| c.summary() == summary)
    }

    fn patch_of(call: Option<&Call>) -> &Value {
        match call {
            Some(Call::Patch { patch, .. }) => patch,
            other => panic!("not a patch: {other:?}"),
        }
    }

    fn events(calls: &[Call]) -> Vec<(String, String)> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Create { target, object } if target.plural == "events" => Some((
                    object["reason"].as_str()?.to_owned(),
                    object["message"].as_str()?.to_owned(),
                )),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_renewed_lease_keeps_a_node_healthy() {
        let (ctx, writer) = Context::for_tests();
        // The Ready condition's heartbeat is old, but the Lease is fresh.
        ctx.informers.nodes.apply(node("n1", "True", 300));
        ctx.informers.node_leases.apply(lease("n1", 5));
        ctx.informers.pods.apply(pod("web", "n1", vec![]));
        let c = NodeLifecycleController::new(&ctx);
        let again = c.reconcile(&key("n1")).await.unwrap();
        assert_eq!(again, Some(ctx.settings.node_monitor_period));
        assert!(writer.take().is_empty());
    }

    #[tokio::test]
    async fn a_node_whose_lease_stops_renewing_goes_unknown_tainted_and_its_pods_are_evicted() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.nodes.apply(node("n1", "True", 300));
        ctx.informers.node_leases.apply(lease("n1", 60));
        ctx.informers.pods.apply(pod("plain", "n1", vec![]));
        ctx.informers.pods.apply(pod(
            "patient",
            "n1",
            vec![unreachable_toleration(Some(300))],
        ));
        ctx.informers
            .pods
            .apply(pod("forever", "n1", vec![unreachable_toleration(None)]));
        ctx.informers.pods.apply(pod("elsewhere", "n2", vec![]));
        let c = NodeLifecycleController::new(&ctx);
        let again = c.reconcile(&key("n1")).await.unwrap().unwrap();
        let calls = writer.take();

        // Conditions Unknown.
        let status = patch_of(find(&calls, "patch nodes/status n1"));
        assert_eq!(status["metadata"]["resourceVersion"], "10");
        let conds = status["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds.len(), 4);
        for c in conds {
            assert_eq!(c["status"], "Unknown", "{c}");
            assert_eq!(c["reason"], "NodeStatusUnknown");
            assert_eq!(c["message"], "Kubelet stopped posting node status.");
        }
        // Tainted unreachable, NoExecute with a time and NoSchedule.
        let spec = patch_of(find(&calls, "patch nodes n1"));
        let taints = spec["spec"]["taints"].as_array().unwrap();
        assert_eq!(taints.len(), 2, "{taints:?}");
        assert_eq!(taints[0]["key"], TAINT_UNREACHABLE);
        assert_eq!(taints[0]["effect"], "NoExecute");
        assert!(taints[0]["timeAdded"].is_string());
        assert_eq!(taints[1]["key"], TAINT_UNREACHABLE);
        assert_eq!(taints[1]["effect"], "NoSchedule");

        // Every pod on the node marked not Ready; only the intolerant one deleted.
        for p in ["plain", "patient", "forever"] {
            let patch = patch_of(find(&calls, &format!("patch pods/status default/{p}")));
            let conds = patch["status"]["conditions"].as_array().unwrap();
            assert!(
                conds
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "False"),
                "{p}: {conds:?}"
            );
        }
        assert!(find(&calls, "patch pods/status default/elsewhere").is_none());
        let deletes: Vec<String> = calls
            .iter()
            .filter(|c| matches!(c, Call::Delete { .. }))
            .map(Call::summary)
            .collect();
        assert_eq!(deletes, ["delete pods default/plain"]);
        let evs = events(&calls);
        assert!(evs.contains(&(
            "NodeNotReady".into(),
            "Node n1 status is now: NodeNotReady".into()
        )));
        assert!(evs.contains(&(
            "TaintManagerEviction".into(),
            "Marking for deletion Pod default/plain".into()
        )));
        // Requeued within the node monitor period (the patient pod's deadline is later).
        assert!(again <= ctx.settings.node_monitor_period);

        // The cache catches up: the node is Unknown and tainted, the plain pod is gone. With
        // the taint 290 s old, the patient pod is due in about 10 s.
        let mut n = node("n1", "Unknown", 300);
        n.spec = Some(NodeSpec {
            taints: Some(vec![
                Taint {
                    key: TAINT_UNREACHABLE.into(),
                    effect: "NoExecute".into(),
                    time_added: Some(Time(ago(290))),
                    value: None,
                },
                Taint {
                    key: TAINT_UNREACHABLE.into(),
                    effect: "NoSchedule".into(),
                    time_added: None,
                    value: None,
                },
            ]),
            ..Default::default()
        });
        for c in n.status.as_mut().unwrap().conditions.as_mut().unwrap() {
            c.status = "Unknown".into();
        }
        ctx.informers.nodes.apply(n.clone());
        ctx.informers.pods.delete(&Key::new("default", "plain"));
        for p in ["patient", "forever"] {
            let mut p = (*ctx.informers.pods.cache().get("default", p).unwrap()).clone();
            p.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "False".into();
            ctx.informers.pods.apply(p);
        }
        let mut settings = (*ctx.settings).clone();
        settings.node_monitor_period = Duration::from_secs(60);
        let ctx = Context {
            settings: Arc::new(settings),
            ..ctx
        };
        let c = NodeLifecycleController::new(&ctx);
        let again = c.reconcile(&key("n1")).await.unwrap().unwrap();
        assert!(writer.take().is_empty());
        assert!(
            again <= Duration::from_secs(10) && again >= Duration::from_secs(5),
            "{again:?}"
        );

        // Past tolerationSeconds: the patient pod goes, the one tolerating forever stays.
        n.spec.as_mut().unwrap().taints.as_mut().unwrap()[0].time_added = Some(Time(ago(301)));
        ctx.informers.nodes.apply(n);
        c.reconcile(&key("n1")).await.unwrap();
        let calls = writer.take();
        let summaries: Vec<String> = calls.iter().map(Call::summary).collect();
        assert!(summaries.contains(&"patch pods/status default/patient".to_owned()));
        assert!(summaries.contains(&"delete pods default/patient".to_owned()));
        assert!(
            !summaries.iter().any(|s| s.contains("forever")),
            "{summaries:?}"
        );
        let disruption = patch_of(find(&calls, "patch pods/status default/patient"));
        let conds = disruption["status"]["conditions"].as_array().unwrap();
        assert!(conds.iter().any(|c| c["type"] == "DisruptionTarget"
            && c["reason"] == "DeletionByTaintManager"));
    }

    #[tokio::test]
    async fn a_not_ready_node_is_tainted_and_untainted_when_ready_again() {
        let (ctx, writer) = Context::for_tests();
        let mut n = node("n1", "False", 1);
        n.spec = Some(NodeSpec {
            taints: Some(vec![Taint {
                key: "dedicated".into(),
                value: Some("db".into()),
                effect: "NoSchedule".into(),
                time_added: None,
            }]),
            ..Default::default()
        });
        ctx.informers.nodes.apply(n.clone());
        ctx.informers.node_leases.apply(lease("n1", 1));
        let c = NodeLifecycleController::new(&ctx);
        c.reconcile(&key("n1")).await.unwrap();
        let calls = writer.take();
        assert_eq!(
            calls.iter().map(Call::summary).collect::<Vec<_>>(),
            ["patch nodes n1"]
        );
        let taints = patch_of(calls.first())["spec"]["taints"].clone();
        let keys: Vec<(String, String)> = taints
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["key"].as_str().unwrap().into(),
                    t["effect"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("dedicated".into(), "NoSchedule".into()),
                (TAINT_NOT_READY.into(), "NoExecute".into()),
                (TAINT_NOT_READY.into(), "NoSchedule".into()),
            ]
        );

        // Ready again: the controller's taints go, the user's stays.
        let mut ready = node("n1", "True", 1);
        ready.spec = Some(NodeSpec {
            taints: serde_json::from_value(taints).unwrap(),
            ..Default::default()
        });
        ctx.informers.nodes.apply(ready);
        c.reconcile(&key("n1")).await.unwrap();
        let calls = writer.take();
        let patch = patch_of(calls.first());
        assert_eq!(
            patch["spec"]["taints"],
            json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
        );
    }

    #[tokio::test]
    async fn pressure_and_unschedulable_get_no_schedule_taints() {
        let (ctx, writer) = Context::for_tests();
        let mut n = node("n1", "True", 1);
        n.spec = Some(NodeSpec {
            unschedulable: Some(true),
            ..Default::default()
        });
        n.status.as_mut().unwrap().conditions.as_mut().unwrap()[1].status = "True".into();
        ctx.informers.nodes.apply(n);
        NodeLifecycleController::new(&ctx)
            .reconcile(&key("n1"))
            .await
            .unwrap();
        let calls = writer.take();
        let patch = patch_of(calls.first());
        let keys: Vec<&str> = patch["spec"]["taints"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["key"].as_str())
            .collect();
        assert_eq!(keys, [TAINT_DISK_PRESSURE, TAINT_UNSCHEDULABLE]);
    }

    #[test]
    fn tolerations_match_as_upstream() {
        let taint = Taint {
            key: "k".into(),
            value: Some("v".into()),
            effect: "NoExecute".into(),
            time_added: None,
        };
        let t = |key: Option<&str>, op: Option<&str>, value: Option<&str>, effect: Option<&str>| {
            Toleration {
                key: key.map(Into::into),
                operator: op.map(Into::into),
                value: value.map(Into::into),
                effect: effect.map(Into::into),
                toleration_seconds: None,
            }
        };
        assert!(tolerates(&t(Some("k"), None, Some("v"), None), &taint));
        assert!(tolerates(
            &t(Some("k"), Some("Equal"), Some("v"), Some("NoExecute")),
            &taint
        ));
        assert!(!tolerates(
            &t(Some("k"), Some("Equal"), Some("w"), None),
            &taint
        ));
        assert!(!tolerates(
            &t(Some("k"), Some("Exists"), None, Some("NoSchedule")),
            &taint
        ));
        assert!(tolerates(&t(None, Some("Exists"), None, None), &taint));
        assert!(!tolerates(
            &t(Some("other"), Some("Exists"), None, None),
            &taint
        ));

        let now = Timestamp::now();
        let taints = vec![(taint.clone(), now)];
        let limited = |s| Toleration {
            toleration_seconds: Some(s),
            ..t(Some("k"), Some("Exists"), None, None)
        };
        assert_eq!(eviction_time(&[], &taints, now), Some(now));
        assert_eq!(
            eviction_time(&[t(Some("k"), Some("Exists"), None, None)], &taints, now),
            None
        );
        assert_eq!(
            eviction_time(&[limited(30), limited(10)], &taints, now),
            Some(now + SignedDuration::from_secs(10))
        );
        assert_eq!(eviction_time(&[limited(-5)], &taints, now), Some(now));
    }
}
