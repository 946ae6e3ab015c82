//! The DaemonSet controller (upstream `pkg/controller/daemon`): one pod per eligible node.
//!
//! A node is eligible when it matches the template's `nodeSelector` and required node
//! affinity and the pod tolerates its `NoSchedule` and `NoExecute` taints, counting the
//! tolerations upstream gives every daemon pod (not-ready, unreachable, disk-, memory- and
//! pid-pressure, unschedulable, and network-unavailable for host-network pods). Each daemon
//! pod is created with the required node affinity `metadata.name In [node]` (matchFields), so
//! the scheduler places it; pods on nodes that are no longer eligible, extra pods on a node,
//! and failed pods are deleted.
//!
//! Revisions: the template's hash names a ControllerRevision `<ds>-<hash>` and labels the pods
//! (`controller-revision-hash`, and `pod-template-generation`). With `RollingUpdate`, pods of
//! an older revision are deleted (and then recreated from the current template), at most
//! `maxUnavailable` nodes (default 1, ints or percentages of the desired count, rounded up)
//! being without an available pod at a time; unavailable old pods go first and freely. With
//! `OnDelete`, old pods stay until someone deletes them.
//!
//! Differences from upstream: no `maxSurge` (old pods are deleted before new ones are made),
//! no backoff before replacing failed pods, no orphan adoption, and revisions beyond
//! `revisionHistoryLimit` are pruned without checking whether a pod still uses them.
//!
//! [`template_hash`] and [`revision_for`] are shared with the StatefulSet controller.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use barge_client::events::{Recorder, Type};
use barge_client::writer::{is_conflict, is_not_found};
use barge_client::{Delete, Key, WriterExt};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodTemplateSpec, Toleration,
};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::ObjectMeta;
use serde_json::json;

use crate::job::Expectations;
use crate::pods::{controller_of, controller_ref, is_active, is_available, is_ready, phase};
use crate::runner::{Queue, Reconciler, controller_key, enqueue, own_key};
use crate::{BY_OWNER, Context};

pub const REVISION_HASH: &str = "controller-revision-hash";
pub const TEMPLATE_GENERATION: &str = "pod-template-generation";

/// Upstream's `rand.SafeEncodeString` alphabet (no vowels, no confusable characters).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The revision hash of a pod template (upstream's ComputeHash: FNV-1a of the template,
/// salted with the collision count, its decimal digits mapped into a safe alphabet).
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    feed(
        serde_json::to_string(template)
            .unwrap_or_default()
            .as_bytes(),
    );
    if let Some(c) = collision_count {
        feed(&c.to_le_bytes());
    }
    hash.to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// The ControllerRevision `<owner>-<hash>` holding `template` as upstream's patch
/// `{"spec": {"template": {..., "$patch": "replace"}}}`.
pub fn revision_for<K: Resource<DynamicType = ()>>(
    owner: &K,
    template: &PodTemplateSpec,
    hash: &str,
    revision: i64,
    labels: BTreeMap<String, String>,
) -> ControllerRevision {
    let mut t = serde_json::to_value(template).unwrap_or_default();
    t["$patch"] = json!("replace");
    let mut labels = labels;
    labels.insert(REVISION_HASH.into(), hash.into());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}-{hash}",
                owner.meta().name.as_deref().unwrap_or_default()
            )),
            namespace: owner.meta().namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![controller_ref(owner)]),
            ..Default::default()
        },
        data: Some(RawExtension(json!({"spec": {"template": t}}))),
        revision,
    }
}

/// `maxUnavailable`-style value against `total`: ints as they are, percentages rounded up
/// (`round_up`) or down.
pub fn scaled_value(value: Option<&IntOrString>, total: i32, default: i32, round_up: bool) -> i32 {
    match value {
        None => default,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let Some(p) = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<i64>().ok())
            else {
                return s.parse().unwrap_or(default);
            };
            let scaled = p * i64::from(total);
            let v = if round_up {
                (scaled + 99).div_euclid(100)
            } else {
                scaled.div_euclid(100)
            };
            i32::try_from(v).unwrap_or(default)
        }
    }
}

/// The tolerations upstream adds to every daemon pod.
pub fn default_tolerations(host_network: bool) -> Vec<Toleration> {
    let mut out: Vec<Toleration> = [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
    .iter()
    .map(|(k, e)| toleration(k, e))
    .collect();
    if host_network {
        out.push(toleration(
            "node.kubernetes.io/network-unavailable",
            "NoSchedule",
        ));
    }
    out
}

fn toleration(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Default::default()
    }
}

fn tolerates(tolerations: &[Toleration], key: &str, value: &str, effect: &str) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == effect);
        let exists = t.operator.as_deref() == Some("Exists");
        let key_ok = match t.key.as_deref() {
            None | Some("") => exists,
            Some(k) => k == key,
        };
        let value_ok = exists || t.value.as_deref().unwrap_or_default() == value;
        effect_ok && key_ok && value_ok
    })
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// Whether `node` matches one of the terms (an empty term matches nothing).
pub fn node_matches_terms(node: &Node, terms: &[NodeSelectorTerm]) -> bool {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let name = node.metadata.name.as_deref();
    terms.iter().any(|term| {
        let exprs = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        (!exprs.is_empty() || !fields.is_empty())
            && exprs
                .iter()
                .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
            && fields
                .iter()
                .all(|r| r.key == "metadata.name" && requirement_matches(r, name))
    })
}

/// Whether a daemon pod of `template` should run on `node`.
pub fn should_run(template: &PodTemplateSpec, node: &Node) -> bool {
    let spec = template.spec.clone().unwrap_or_default();
    let labels = node.metadata.labels.clone().unwrap_or_default();
    if let Some(selector) = &spec.node_selector
        && selector.iter().any(|(k, v)| labels.get(k) != Some(v))
    {
        return false;
    }
    if let Some(terms) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|s| &s.node_selector_terms)
        && !node_matches_terms(node, terms)
    {
        return false;
    }
    let mut tolerations = spec.tolerations.clone().unwrap_or_default();
    tolerations.extend(default_tolerations(spec.host_network == Some(true)));
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|t| {
            tolerates(
                &tolerations,
                &t.key,
                t.value.as_deref().unwrap_or_default(),
                &t.effect,
            )
        })
}

/// The node a daemon pod is bound to, or meant for by its node affinity.
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n.to_owned());
    }
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|r| r.key == "metadata.name" && r.operator == "In")
        .and_then(|r| r.values.as_ref()?.first().cloned())
}

/// The pod of `ds` for `node` (upstream's template plus node-name affinity and tolerations).
pub fn pod_for(ds: &DaemonSet, node: &str, hash: &str) -> Pod {
    let name = ds.metadata.name.clone().unwrap_or_default();
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    labels.insert(REVISION_HASH.into(), hash.into());
    labels.insert(
        TEMPLATE_GENERATION.into(),
        ds.metadata.generation.unwrap_or(0).to_string(),
    );
    let mut spec = template.spec.unwrap_or_default();
    // Required affinity to exactly this node: every term gets the matchFields requirement.
    let field = NodeSelectorRequirement {
        key: "metadata.name".into(),
        operator: "In".into(),
        values: Some(vec![node.into()]),
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    let required = node_affinity
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(NodeSelector::default);
    if required.node_selector_terms.is_empty() {
        required
            .node_selector_terms
            .push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        term.match_fields = Some(vec![field.clone()]);
    }
    let host_network = spec.host_network == Some(true);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for t in default_tolerations(host_network) {
        if !tolerations
            .iter()
            .any(|x| x.key == t.key && x.effect == t.effect)
        {
            tolerations.push(t);
        }
    }
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: ds.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: tmeta.annotations,
            owner_references: Some(vec![controller_ref(ds)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The DaemonSet controller.
pub struct DaemonSetController {
    ctx: Context,
    recorder: Recorder,
    expectations: Arc<Expectations>,
}

impl std::fmt::Debug for DaemonSetController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonSetController")
            .finish_non_exhaustive()
    }
}

/// Starts the DaemonSet controller's watches; returns its reconciler and queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    enqueue(&ctx.informers.daemon_sets, &queue, own_key);
    enqueue(&ctx.informers.pods, &queue, |p| {
        controller_key(p, "DaemonSet").into_iter().collect()
    });
    enqueue(&ctx.informers.controller_revisions, &queue, |r| {
        controller_key(r, "DaemonSet").into_iter().collect()
    });
    // Any node change may change where every DaemonSet should run.
    let sets = ctx.informers.daemon_sets.clone();
    enqueue(&ctx.informers.nodes, &queue, move |_| {
        sets.cache()
            .list()
            .iter()
            .map(|ds| Key::of(ds.as_ref()))
            .collect()
    });
    let controller = DaemonSetController::new(ctx);
    controller
        .expectations
        .watch_pods(&ctx.informers.pods, "DaemonSet");
    (Arc::new(controller), queue)
}

impl DaemonSetController {
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            recorder: ctx.recorder("daemonset-controller"),
            expectations: Arc::default(),
        }
    }

    /// Makes sure the current revision exists and is the newest; prunes old history.
    async fn revisions(&self, ds: &DaemonSet, hash: &str) -> anyhow::Result<()> {
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let mut owned: Vec<Arc<ControllerRevision>> = self
            .ctx
            .informers
            .controller_revisions
            .cache()
            .by_index(BY_OWNER, &uid)
            .into_iter()
            .filter(|r| controller_of(r.as_ref()).is_some_and(|o| o.uid == uid))
            .collect();
        owned.sort_by_key(|r| r.revision);
        let max = owned.last().map_or(0, |r| r.revision);
        let name = format!("{}-{hash}", ds.metadata.name.as_deref().unwrap_or_default());
        match owned
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(&name))
        {
            Some(current) if current.revision == max => {}
            Some(_) => {
                // Rolled back to an older template: it becomes the newest revision.
                let patch = json!({"revision": max + 1});
                self.ctx
                    .writer
                    .patch_typed::<ControllerRevision>(&ns, &name, None, patch)
                    .await?;
            }
            None => {
                let template = ds
                    .spec
                    .as_ref()
                    .map(|s| s.template.clone())
                    .unwrap_or_default();
                let labels = ds
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.metadata.as_ref())
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                let revision = revision_for(ds, &template, hash, max + 1, labels);
                match self.ctx.writer.create_typed(&ns, &revision).await {
                    Ok(_) => {}
                    Err(e) if is_conflict(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let limit = ds
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(10)
            .max(0) as usize;
        let old: Vec<&Arc<ControllerRevision>> = owned
            .iter()
            .filter(|r| r.metadata.name.as_deref() != Some(&name))
            .collect();
        if old.len() > limit {
            for r in &old[..old.len() - limit] {
                let rname = r.metadata.name.clone().unwrap_or_default();
                match self
                    .ctx
                    .writer
                    .delete_typed::<ControllerRevision>(&ns, &rname, &Delete::default())
                    .await
                {
                    Ok(()) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    async fn delete_pod(&self, key: &Key, ds: &DaemonSet, pod: &Pod) -> anyhow::Result<()> {
        let deleted = crate::pods::delete_controlled(&self.ctx, &self.recorder, ds, pod).await?;
        if deleted == crate::pods::Deleted::Now {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            self.expectations.deleted(key, name);
        }
        Ok(())
    }

    async fn create_pod(
        &self,
        key: &Key,
        ds: &DaemonSet,
        node: &str,
        hash: &str,
    ) -> anyhow::Result<()> {
        let pod = pod_for(ds, node, hash);
        match self.ctx.writer.create_typed(&key.namespace, &pod).await {
            Ok(pod) => {
                let name = pod.metadata.name.unwrap_or_default();
                self.expectations.created(key, &name);
                let msg = format!("Created pod: {name}");
                self.recorder
                    .publish(ds, Type::Normal, "SuccessfulCreate", &msg)
                    .await;
                Ok(())
            }
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => {
                let msg = format!("Error creating: {e}");
                self.recorder
                    .publish(ds, Type::Warning, "FailedCreate", &msg)
                    .await;
                Err(e.into())
            }
        }
    }
}

#[async_trait]
impl Reconciler for DaemonSetController {
    fn name(&self) -> &'static str {
        "daemonset"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(ds) = self.ctx.informers.daemon_sets.cache().get_key(key) else {
            self.expectations.forget(key);
            return Ok(None);
        };
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let now = Timestamp::now();
        let spec = ds.spec.clone().unwrap_or_default();
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let hash = template_hash(
            &spec.template,
            ds.status.as_ref().and_then(|s| s.collision_count),
        );
        self.revisions(&ds, &hash).await?;

        let all = self.ctx.informers.pods.cache().by_index(BY_OWNER, &uid);
        let pods: Vec<&Pod> = all
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| controller_of(*p).is_some_and(|o| o.uid == uid))
            .collect();
        let satisfied = self.expectations.satisfied(key, |name| {
            pods.iter()
                .find(|p| p.metadata.name.as_deref() == Some(name))
                .map(|p| p.metadata.deletion_timestamp.is_some())
        });
        let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
        for pod in &pods {
            if let Some(node) = target_node(pod) {
                by_node.entry(node).or_default().push(pod);
            }
        }
        for list in by_node.values_mut() {
            list.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
        }
        let mut nodes: Vec<Arc<Node>> = self.ctx.informers.nodes.cache().list();
        nodes.sort_by_key(|n| n.metadata.name.clone());
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let rolling = spec
            .update_strategy
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("RollingUpdate")
            == "RollingUpdate";
        let is_current = |p: &Pod| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(REVISION_HASH))
                .is_some_and(|h| *h == hash)
        };

        let mut create: Vec<String> = Vec::new();
        let mut delete: Vec<&Pod> = Vec::new();
        // Eligible nodes whose pod is old but available: candidates for a rolling update.
        let mut old_available: Vec<&Pod> = Vec::new();
        let mut unavailable_nodes = 0;
        let (mut desired, mut scheduled, mut misscheduled, mut ready, mut updated, mut available) =
            (0, 0, 0, 0, 0, 0);
        for node in &nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let on_node: Vec<&Pod> = by_node.get(&name).cloned().unwrap_or_default();
            let running: Vec<&Pod> = on_node.iter().copied().filter(|p| is_active(p)).collect();
            if !should_run(&spec.template, node) {
                if !running.is_empty() {
                    misscheduled += 1;
                }
                delete.extend(
                    on_node
                        .iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_none()),
                );
                continue;
            }
            desired += 1;
            // Failed pods are deleted (and replaced on a later sync).
            for p in &on_node {
                if phase(p) == "Failed" && p.metadata.deletion_timestamp.is_none() {
                    delete.push(p);
                    let msg = format!(
                        "Found failed daemon pod {}/{} on node {name}, will try to kill it",
                        key.namespace,
                        p.metadata.name.as_deref().unwrap_or_default()
                    );
                    self.recorder
                        .publish(ds.as_ref(), Type::Warning, "FailedDaemonPod", &msg)
                        .await;
                }
            }
            let Some(first) = running.first() else {
                if !on_node
                    .iter()
                    .any(|p| p.metadata.deletion_timestamp.is_some())
                {
                    create.push(name.clone());
                }
                unavailable_nodes += 1;
                continue;
            };
            // More than one: keep the oldest.
            delete.extend(running.iter().skip(1));
            if crate::pods::is_scheduled(first) {
                scheduled += 1;
            }
            if is_ready(first) {
                ready += 1;
            }
            let avail = is_available(first, min_ready, now);
            if avail {
                available += 1;
            } else {
                unavailable_nodes += 1;
            }
            if is_current(first) {
                updated += 1;
            } else if rolling {
                if avail {
                    old_available.push(first);
                } else {
                    delete.push(first); // an old pod that is not available goes at once
                }
            }
        }
        // Pods meant for nodes that no longer exist.
        for (node, list) in &by_node {
            if !nodes
                .iter()
                .any(|n| n.metadata.name.as_deref() == Some(node))
            {
                delete.extend(
                    list.iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_none()),
                );
            }
        }
        if rolling {
            let max_unavailable = scaled_value(
                spec.update_strategy
                    .as_ref()
                    .and_then(|s| s.rolling_update.as_ref())
                    .and_then(|r| r.max_unavailable.as_ref()),
                desired,
                1,
                true,
            )
            .max(1);
            let budget = (max_unavailable - unavailable_nodes).max(0) as usize;
            delete.extend(old_available.into_iter().take(budget));
        }

        if satisfied {
            for pod in &delete {
                self.delete_pod(key, &ds, pod).await?;
            }
            for node in &create {
                self.create_pod(key, &ds, node, &hash).await?;
            }
        }

        let status = DaemonSetStatus {
            desired_number_scheduled: desired,
            current_number_scheduled: scheduled,
            number_misscheduled: misscheduled,
            number_ready: ready,
            updated_number_scheduled: Some(updated),
            number_available: Some(available),
            number_unavailable: Some(desired - available),
            observed_generation: ds.metadata.generation,
            collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
            conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
        };
        if ds.status.as_ref() != Some(&status) {
            let patch = json!({
                "metadata": {"resourceVersion": ds.metadata.resource_version},
                "status": status,
            });
            self.ctx
                .writer
                .patch_typed::<DaemonSet>(&key.namespace, &key.name, Some("status"), patch)
                .await?;
        }
        // Availability after minReadySeconds changes with time alone.
        if min_ready > 0 && ready > available {
            return Ok(Some(Duration::from_secs(min_ready as u64)));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::writer::Call;
    use k8s_openapi::api::apps::v1::{
        DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
    };
    use k8s_openapi::api::core::v1::{
        Container, NodeSpec, PodCondition, PodSpec, PodStatus, Taint,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use serde_json::Value;

    fn ds(name: &str) -> DaemonSet {
        let labels: BTreeMap<String, String> = [("app".to_string(), name.to_string())].into();
        DaemonSet {
            metadata: ObjectMeta {
                namespace: Some("kube-system".into()),
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                generation: Some(1),
                resource_version: Some("5".into()),
                ..Default::default()
            },
            spec: Some(DaemonSetSpec {
                selector: LabelSelector {
                    match_labels: Some(labels.clone()),
                    ..Default::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "agent".into(),
                            image: Some("agent:1".into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            status: None,
        }
    }

    fn node(name: &str, labels: &[(&str, &str)], taints: Vec<Taint>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: Some(taints),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn taint(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            ..Default::default()
        }
    }

    /// A running, ready pod of `d` on `node` at revision `hash`.
    fn pod(d: &DaemonSet, name: &str, node: &str, hash: &str) -> Pod {
        let mut p = pod_for(d, node, hash);
        p.metadata.name = Some(name.into());
        p.metadata.uid = Some(format!("uid-{name}"));
        p.metadata.generate_name = None;
        p.spec.as_mut().unwrap().node_name = Some(node.into());
        p.status = Some(PodStatus {
            phase: Some("Running".into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        p
    }

    fn current_hash(d: &DaemonSet) -> String {
        template_hash(&d.spec.as_ref().unwrap().template, None)
    }

    fn setup(
        d: &DaemonSet,
        nodes: Vec<Node>,
        pods: Vec<Pod>,
    ) -> (DaemonSetController, Arc<barge_client::Recording>) {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.daemon_sets.apply(d.clone());
        for n in nodes {
            ctx.informers.nodes.apply(n);
        }
        for p in pods {
            ctx.informers.pods.apply(p);
        }
        // The current revision exists already, unless a test says otherwise.
        let rev = revision_for(
            d,
            &d.spec.as_ref().unwrap().template,
            &current_hash(d),
            1,
            BTreeMap::new(),
        );
        ctx.informers.controller_revisions.apply(rev);
        (DaemonSetController::new(&ctx), writer)
    }

    fn key() -> Key {
        Key::new("kube-system", "agent")
    }

    fn created_pods(calls: &[Call]) -> Vec<Value> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Create { target, object } if target.plural == "pods" => Some(object.clone()),
                _ => None,
            })
            .collect()
    }

    fn pod_node(p: &Value) -> String {
        p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0]["matchFields"][0]["values"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn deleted(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Delete { target, .. } if target.plural == "pods" => Some(target.name.clone()),
                _ => None,
            })
            .collect()
    }

    fn status(calls: &[Call]) -> Value {
        calls
            .iter()
            .find_map(|c| match c {
                Call::Patch {
                    subresource: Some(s),
                    patch,
                    ..
                } if s == "status" => Some(patch["status"].clone()),
                _ => None,
            })
            .expect("a status patch")
    }

    #[tokio::test]
    async fn one_pod_per_eligible_node_pinned_by_node_affinity() {
        let mut d = ds("agent");
        d.spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap()
            .node_selector = Some([("disk".to_string(), "ssd".to_string())].into());
        let nodes = vec![
            node("n1", &[("disk", "ssd")], vec![]),
            node("n2", &[("disk", "hdd")], vec![]),
            // Tolerated by default: not-ready and unschedulable.
            node(
                "n3",
                &[("disk", "ssd")],
                vec![
                    taint("node.kubernetes.io/not-ready", "NoExecute"),
                    taint("node.kubernetes.io/unschedulable", "NoSchedule"),
                ],
            ),
            // Not tolerated.
            node(
                "n4",
                &[("disk", "ssd")],
                vec![taint("dedicated", "NoSchedule")],
            ),
        ];
        let (c, writer) = setup(&d, nodes, vec![]);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        let pods = created_pods(&calls);
        let mut on: Vec<String> = pods.iter().map(pod_node).collect();
        on.sort();
        assert_eq!(on, ["n1", "n3"]);
        let p = &pods[0];
        assert_eq!(p["metadata"]["generateName"], "agent-");
        assert_eq!(p["metadata"]["labels"][REVISION_HASH], current_hash(&d));
        assert_eq!(p["metadata"]["labels"][TEMPLATE_GENERATION], "1");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
        let keys: Vec<&str> = p["spec"]["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["key"].as_str())
            .collect();
        assert!(keys.contains(&"node.kubernetes.io/not-ready"));
        assert!(keys.contains(&"node.kubernetes.io/unschedulable"));
        assert!(!keys.contains(&"node.kubernetes.io/network-unavailable"));
        let s = status(&calls);
        assert_eq!(s["desiredNumberScheduled"], 2);
        assert_eq!(s["currentNumberScheduled"], 0);
        assert_eq!(s["numberUnavailable"], 2);

        // Not again before the cache sees them.
        c.reconcile(&key()).await.unwrap();
        assert!(created_pods(&writer.take()).is_empty());
    }

    #[tokio::test]
    async fn pods_on_ineligible_nodes_and_extra_pods_are_deleted() {
        let d = ds("agent");
        let h = current_hash(&d);
        let nodes = vec![
            node("n1", &[], vec![]),
            node("n2", &[], vec![taint("dedicated", "NoExecute")]),
        ];
        let mut older = pod(&d, "agent-old", "n1", &h);
        older.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(100),
            ));
        let mut newer = pod(&d, "agent-new", "n1", &h);
        newer.metadata.creation_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now()),
        );
        let pods = vec![older, newer, pod(&d, "agent-n2", "n2", &h)];
        let (c, writer) = setup(&d, nodes, pods);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        let mut gone = deleted(&calls);
        gone.sort();
        assert_eq!(gone, ["agent-n2", "agent-new"]);
        let s = status(&calls);
        assert_eq!(s["desiredNumberScheduled"], 1);
        assert_eq!(s["numberMisscheduled"], 1);
        assert_eq!(s["numberReady"], 1);
        assert_eq!(s["updatedNumberScheduled"], 1);
        assert_eq!(s["numberAvailable"], 1);
        assert_eq!(s["observedGeneration"], 1);
    }

    #[tokio::test]
    async fn failed_pods_are_deleted_with_an_event() {
        let d = ds("agent");
        let mut p = pod(&d, "agent-x", "n1", &current_hash(&d));
        p.status.as_mut().unwrap().phase = Some("Failed".into());
        let (c, writer) = setup(&d, vec![node("n1", &[], vec![])], vec![p]);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert_eq!(deleted(&calls), ["agent-x"]);
        assert!(calls.iter().any(|c| matches!(c, Call::Create { object, .. }
            if object["reason"] == "FailedDaemonPod"
            && object["message"] == "Found failed daemon pod kube-system/agent-x on node n1, will try to kill it")));
    }

    #[tokio::test]
    async fn rolling_update_replaces_old_pods_within_max_unavailable() {
        let mut d = ds("agent");
        d.spec.as_mut().unwrap().update_strategy = Some(DaemonSetUpdateStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDaemonSet {
                max_unavailable: Some(IntOrString::String("50%".into())),
                ..Default::default()
            }),
        });
        let nodes: Vec<Node> = (1..=4)
            .map(|i| node(&format!("n{i}"), &[], vec![]))
            .collect();
        let pods: Vec<Pod> = (1..=4)
            .map(|i| pod(&d, &format!("agent-{i}"), &format!("n{i}"), "oldhash"))
            .collect();
        let (c, writer) = setup(&d, nodes, pods);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        // 50% of 4 = 2 at a time.
        assert_eq!(deleted(&calls).len(), 2);
        assert!(created_pods(&calls).is_empty());
        assert_eq!(status(&calls)["updatedNumberScheduled"], 0);
    }

    #[tokio::test]
    async fn rolling_update_counts_nodes_already_unavailable() {
        let d = ds("agent");
        let h = current_hash(&d);
        let nodes: Vec<Node> = (1..=3)
            .map(|i| node(&format!("n{i}"), &[], vec![]))
            .collect();
        let mut not_ready_new = pod(&d, "agent-1", "n1", &h);
        not_ready_new.status.as_mut().unwrap().conditions = None;
        let pods = vec![
            not_ready_new,
            pod(&d, "agent-2", "n2", "oldhash"),
            pod(&d, "agent-3", "n3", "oldhash"),
        ];
        let (c, writer) = setup(&d, nodes, pods);
        c.reconcile(&key()).await.unwrap();
        // maxUnavailable 1 (default) and n1 is unavailable: no old pod is deleted.
        assert!(deleted(&writer.take()).is_empty());
    }

    #[tokio::test]
    async fn on_delete_leaves_old_pods_alone() {
        let mut d = ds("agent");
        d.spec.as_mut().unwrap().update_strategy = Some(DaemonSetUpdateStrategy {
            type_: Some("OnDelete".into()),
            rolling_update: None,
        });
        let (c, writer) = setup(
            &d,
            vec![node("n1", &[], vec![]), node("n2", &[], vec![])],
            vec![pod(&d, "agent-1", "n1", "oldhash")],
        );
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert!(deleted(&calls).is_empty());
        let pods = created_pods(&calls);
        assert_eq!(pods.len(), 1);
        assert_eq!(pod_node(&pods[0]), "n2");
        assert_eq!(
            pods[0]["metadata"]["labels"][REVISION_HASH],
            current_hash(&d)
        );
    }

    #[tokio::test]
    async fn a_new_template_gets_a_controller_revision() {
        let d = ds("agent");
        let (ctx, writer) = Context::for_tests();
        ctx.informers.daemon_sets.apply(d.clone());
        let c = DaemonSetController::new(&ctx);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        let rev = calls
            .iter()
            .find_map(|c| match c {
                Call::Create { target, object } if target.plural == "controllerrevisions" => {
                    Some(object.clone())
                }
                _ => None,
            })
            .expect("a revision");
        assert_eq!(
            rev["metadata"]["name"],
            format!("agent-{}", current_hash(&d))
        );
        assert_eq!(rev["revision"], 1);
        assert_eq!(rev["data"]["spec"]["template"]["$patch"], "replace");
        assert_eq!(rev["metadata"]["labels"][REVISION_HASH], current_hash(&d));
    }

    #[test]
    fn hashes_change_with_the_template_and_use_the_safe_alphabet() {
        let a = ds("agent");
        let mut b = ds("agent");
        b.spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap()
            .containers[0]
            .image = Some("agent:2".into());
        let (ha, hb) = (current_hash(&a), current_hash(&b));
        assert_ne!(ha, hb);
        assert_eq!(ha, current_hash(&a));
        assert!(ha.bytes().all(|c| ALPHANUMS.contains(&c)));
        assert_ne!(template_hash(&a.spec.unwrap().template, Some(1)), ha);
    }

    #[test]
    fn node_affinity_terms_and_host_network_tolerations() {
        let n = node("n1", &[("zone", "a"), ("cpus", "8")], vec![]);
        let req = |key: &str, op: &str, values: &[&str]| NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        let term = |exprs: Vec<NodeSelectorRequirement>, fields: Vec<NodeSelectorRequirement>| {
            NodeSelectorTerm {
                match_expressions: Some(exprs),
                match_fields: Some(fields),
            }
        };
        assert!(node_matches_terms(
            &n,
            &[term(vec![req("zone", "In", &["a", "b"])], vec![])]
        ));
        assert!(node_matches_terms(
            &n,
            &[term(vec![req("cpus", "Gt", &["4"])], vec![])]
        ));
        assert!(!node_matches_terms(
            &n,
            &[term(vec![req("cpus", "Lt", &["4"])], vec![])]
        ));
        assert!(node_matches_terms(
            &n,
            &[term(vec![], vec![req("metadata.name", "In", &["n1"])])]
        ));
        assert!(!node_matches_terms(
            &n,
            &[term(vec![], vec![req("metadata.name", "In", &["n2"])])]
        ));
        assert!(!node_matches_terms(&n, &[term(vec![], vec![])]));

        let mut d = ds("agent");
        let tainted = node(
            "n1",
            &[],
            vec![taint(
                "node.kubernetes.io/network-unavailable",
                "NoSchedule",
            )],
        );
        assert!(!should_run(&d.spec.as_ref().unwrap().template, &tainted));
        d.spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap()
            .host_network = Some(true);
        assert!(should_run(&d.spec.as_ref().unwrap().template, &tainted));
        // PreferNoSchedule does not keep a daemon pod away.
        let soft = node("n1", &[], vec![taint("x", "PreferNoSchedule")]);
        assert!(should_run(&d.spec.as_ref().unwrap().template, &soft));
    }

    #[test]
    fn percentages_scale_with_rounding() {
        let p = IntOrString::String("25%".into());
        assert_eq!(scaled_value(Some(&p), 10, 1, true), 3);
        assert_eq!(scaled_value(Some(&p), 10, 1, false), 2);
        assert_eq!(scaled_value(Some(&IntOrString::Int(4)), 10, 1, true), 4);
        assert_eq!(scaled_value(None, 10, 1, true), 1);
    }
}
