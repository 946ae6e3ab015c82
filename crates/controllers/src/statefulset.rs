//! The StatefulSet controller (upstream `pkg/controller/statefulset`): pods with stable names
//! `<sts>-<ordinal>` and their volume claims.
//!
//! Each pod gets the labels `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index`
//! and `controller-revision-hash`, `hostname` = its name and `subdomain` = `serviceName`, and a
//! volume per `volumeClaimTemplates` entry bound to the claim `<template>-<sts>-<ordinal>`,
//! which the controller creates first (nothing binds the claims yet). With `OrderedReady`
//! (the default) ordinals are created in order, each once the one before is Running and Ready,
//! and removed from the highest, one at a time; with `Parallel` all at once. A failed pod is
//! deleted and made again. `RollingUpdate` replaces pods whose revision is not the update
//! revision from the highest ordinal down to `partition`, one at a time, each once the rest
//! are ready; when every pod is updated and ready the current revision becomes the update
//! revision. `OnDelete` leaves old pods alone; new pods take the update revision.
//!
//! Differences from upstream: no `maxUnavailable` for rolling updates (one pod at a time),
//! no PVC retention policy (claims are always retained), no orphan adoption, revision
//! history is not pruned, and a pod below the partition that must be recreated gets the
//! current revision's template only when its ControllerRevision is in the cache (else the
//! update revision's).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use barge_client::events::{Recorder, Type};
use barge_client::writer::{is_conflict, is_not_found};
use barge_client::{Delete, Key, WriterExt};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::jiff::Timestamp;
use kube::api::ObjectMeta;
use serde_json::json;

use crate::daemonset::{REVISION_HASH, revision_for, template_hash};
use crate::pods::{controller_of, controller_ref, is_available, is_ready, phase};
use crate::runner::{Queue, Reconciler, controller_key, enqueue, own_key};
use crate::{BY_OWNER, Context};

pub const POD_NAME: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX: &str = "apps.kubernetes.io/pod-index";

/// The StatefulSet controller.
pub struct StatefulSetController {
    ctx: Context,
    recorder: Recorder,
}

impl std::fmt::Debug for StatefulSetController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatefulSetController")
            .finish_non_exhaustive()
    }
}

/// Starts the StatefulSet controller's watches; returns its reconciler and queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    enqueue(&ctx.informers.stateful_sets, &queue, own_key);
    enqueue(&ctx.informers.pods, &queue, |p| {
        controller_key(p, "StatefulSet").into_iter().collect()
    });
    (Arc::new(StatefulSetController::new(ctx)), queue)
}

/// The claim name of template `claim` for ordinal `ordinal`.
pub fn claim_name(claim: &str, set: &str, ordinal: i32) -> String {
    format!("{claim}-{set}-{ordinal}")
}

/// The ordinal of a pod named `<set>-<ordinal>`.
fn ordinal_of(set: &str, pod: &str) -> Option<i32> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

/// The pod of `sts` for `ordinal` from `template` at revision `hash`.
pub fn pod_for(sts: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, hash: &str) -> Pod {
    let set = sts.metadata.name.clone().unwrap_or_default();
    let name = format!("{set}-{ordinal}");
    let spec_of_set = sts.spec.clone().unwrap_or_default();
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    labels.insert(POD_NAME.into(), name.clone());
    labels.insert(POD_INDEX.into(), ordinal.to_string());
    labels.insert(REVISION_HASH.into(), hash.into());
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(name.clone());
    if let Some(service) = spec_of_set.service_name.filter(|s| !s.is_empty()) {
        spec.subdomain = Some(service);
    }
    for claim in spec_of_set.volume_claim_templates.iter().flatten() {
        let cname = claim.metadata.name.clone().unwrap_or_default();
        let volume = Volume {
            name: cname.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(&cname, &set, ordinal),
                read_only: None,
            }),
            ..Default::default()
        };
        let volumes = spec.volumes.get_or_insert_with(Vec::new);
        volumes.retain(|v| v.name != cname);
        volumes.push(volume);
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: sts.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: tmeta.annotations,
            owner_references: Some(vec![controller_ref(sts)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

fn revision_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(REVISION_HASH)
        .map(String::as_str)
}

fn running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && is_ready(pod) && pod.metadata.deletion_timestamp.is_none()
}

impl StatefulSetController {
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            recorder: ctx.recorder("statefulset-controller"),
        }
    }

    /// The template of the revision named `<set>-<hash>`, if it is in the cache.
    fn revision_template(&self, sts: &StatefulSet, hash: &str) -> Option<PodTemplateSpec> {
        let ns = sts.metadata.namespace.as_deref().unwrap_or_default();
        let name = format!(
            "{}-{hash}",
            sts.metadata.name.as_deref().unwrap_or_default()
        );
        let rev = self
            .ctx
            .informers
            .controller_revisions
            .cache()
            .get(ns, &name)?;
        let mut t = rev.data.as_ref()?.0.get("spec")?.get("template")?.clone();
        if let Some(o) = t.as_object_mut() {
            o.remove("$patch");
        }
        serde_json::from_value(t).ok()
    }

    /// Creates the update revision when it is not there yet.
    async fn ensure_revision(&self, sts: &StatefulSet, hash: &str) -> anyhow::Result<()> {
        let uid = sts.metadata.uid.clone().unwrap_or_default();
        let ns = sts.metadata.namespace.clone().unwrap_or_default();
        let owned: Vec<Arc<ControllerRevision>> = self
            .ctx
            .informers
            .controller_revisions
            .cache()
            .by_index(BY_OWNER, &uid)
            .into_iter()
            .filter(|r| controller_of(r.as_ref()).is_some_and(|o| o.uid == uid))
            .collect();
        let name = format!(
            "{}-{hash}",
            sts.metadata.name.as_deref().unwrap_or_default()
        );
        if owned
            .iter()
            .any(|r| r.metadata.name.as_deref() == Some(&name))
        {
            return Ok(());
        }
        let max = owned.iter().map(|r| r.revision).max().unwrap_or(0);
        let spec = sts.spec.clone().unwrap_or_default();
        let labels = spec.selector.match_labels.clone().unwrap_or_default();
        let revision = revision_for(sts, &spec.template, hash, max + 1, labels);
        match self.ctx.writer.create_typed(&ns, &revision).await {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the claims of `ordinal` that are missing, then the pod.
    async fn create(&self, sts: &StatefulSet, pod: Pod, ordinal: i32) -> anyhow::Result<()> {
        let set = sts.metadata.name.clone().unwrap_or_default();
        let ns = sts.metadata.namespace.clone().unwrap_or_default();
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let spec = sts.spec.clone().unwrap_or_default();
        for template in spec.volume_claim_templates.iter().flatten() {
            let cname = claim_name(
                template.metadata.name.as_deref().unwrap_or_default(),
                &set,
                ordinal,
            );
            if self
                .ctx
                .informers
                .persistent_volume_claims
                .cache()
                .get(&ns, &cname)
                .is_some()
            {
                continue;
            }
            let mut labels = template.metadata.labels.clone().unwrap_or_default();
            labels.extend(spec.selector.match_labels.clone().unwrap_or_default());
            let claim = PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(cname.clone()),
                    namespace: Some(ns.clone()),
                    labels: Some(labels),
                    annotations: template.metadata.annotations.clone(),
                    ..Default::default()
                },
                spec: template.spec.clone(),
                status: None,
            };
            match self.ctx.writer.create_typed(&ns, &claim).await {
                Ok(_) => {
                    let msg =
                        format!("create Claim {cname} Pod {pod_name} in StatefulSet {set} success");
                    self.recorder
                        .publish(sts, Type::Normal, "SuccessfulCreate", &msg)
                        .await;
                }
                Err(e) if is_conflict(&e) => {}
                Err(e) => {
                    let msg = format!(
                        "create Claim {cname} for Pod {pod_name} in StatefulSet {set} failed error: {e}"
                    );
                    self.recorder
                        .publish(sts, Type::Warning, "FailedCreate", &msg)
                        .await;
                    return Err(e.into());
                }
            }
        }
        match self.ctx.writer.create_typed(&ns, &pod).await {
            Ok(_) => {
                let msg = format!("create Pod {pod_name} in StatefulSet {set} successful");
                self.recorder
                    .publish(sts, Type::Normal, "SuccessfulCreate", &msg)
                    .await;
                Ok(())
            }
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => {
                let msg = format!("create Pod {pod_name} in StatefulSet {set} failed error: {e}");
                self.recorder
                    .publish(sts, Type::Warning, "FailedCreate", &msg)
                    .await;
                Err(e.into())
            }
        }
    }

    async fn delete(&self, sts: &StatefulSet, pod: &Pod) -> anyhow::Result<()> {
        let set = sts.metadata.name.clone().unwrap_or_default();
        let ns = sts.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let options = Delete {
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        };
        match self
            .ctx
            .writer
            .delete_typed::<Pod>(&ns, &name, &options)
            .await
        {
            Ok(()) => {
                let msg = format!("delete Pod {name} in StatefulSet {set} successful");
                self.recorder
                    .publish(sts, Type::Normal, "SuccessfulDelete", &msg)
                    .await;
                Ok(())
            }
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
            Err(e) => {
                let msg = format!("delete Pod {name} in StatefulSet {set} failed error: {e}");
                self.recorder
                    .publish(sts, Type::Warning, "FailedDelete", &msg)
                    .await;
                Err(e.into())
            }
        }
    }
}

#[async_trait]
impl Reconciler for StatefulSetController {
    fn name(&self) -> &'static str {
        "statefulset"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(sts) = self.ctx.informers.stateful_sets.cache().get_key(key) else {
            return Ok(None);
        };
        if sts.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let now = Timestamp::now();
        let spec = sts.spec.clone().unwrap_or_default();
        let set = key.name.clone();
        let uid = sts.metadata.uid.clone().unwrap_or_default();
        let old_status = sts.status.clone().unwrap_or_default();
        let update_revision = template_hash(&spec.template, old_status.collision_count);
        self.ensure_revision(&sts, &update_revision).await?;
        let current_revision = old_status
            .current_revision
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| update_revision.clone());
        let replicas = spec.replicas.unwrap_or(1).max(0);
        let start = spec
            .ordinals
            .as_ref()
            .and_then(|o| o.start)
            .unwrap_or(0)
            .max(0);
        let parallel = spec.pod_management_policy.as_deref() == Some("Parallel");
        let strategy = spec.update_strategy.clone().unwrap_or_default();
        let rolling = strategy.type_.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate";
        let partition = strategy
            .rolling_update
            .as_ref()
            .and_then(|r| r.partition)
            .unwrap_or(0);
        let min_ready = spec.min_ready_seconds.unwrap_or(0);

        let owned = self.ctx.informers.pods.cache().by_index(BY_OWNER, &uid);
        let mut pods: BTreeMap<i32, Arc<Pod>> = BTreeMap::new();
        for p in owned {
            if controller_of(p.as_ref()).is_none_or(|o| o.uid != uid) {
                continue;
            }
            if let Some(i) = p.metadata.name.as_deref().and_then(|n| ordinal_of(&set, n)) {
                pods.insert(i, p);
            }
        }
        let wanted = start..start + replicas;

        // Status from what exists now.
        let count = |f: &dyn Fn(&Pod) -> bool| pods.values().filter(|p| f(p)).count() as i32;
        let live = |p: &Pod| p.metadata.deletion_timestamp.is_none();
        let mut status = StatefulSetStatus {
            replicas: count(&|p| live(p)),
            ready_replicas: Some(count(&|p| live(p) && running_and_ready(p))),
            available_replicas: Some(count(&|p| {
                running_and_ready(p) && is_available(p, min_ready, now)
            })),
            current_replicas: Some(count(&|p| {
                live(p) && revision_of(p) == Some(&current_revision)
            })),
            updated_replicas: Some(count(&|p| {
                live(p) && revision_of(p) == Some(&update_revision)
            })),
            current_revision: Some(current_revision.clone()),
            update_revision: Some(update_revision.clone()),
            observed_generation: sts.metadata.generation,
            collision_count: old_status.collision_count,
            conditions: old_status.conditions.clone(),
        };
        let all_ready = status.updated_replicas == Some(status.replicas)
            && status.ready_replicas == Some(status.replicas)
            && status.replicas == replicas;
        if rolling && all_ready {
            status.current_revision = Some(update_revision.clone());
            status.current_replicas = status.updated_replicas;
        }

        // Which template each new pod gets.
        let template_for = |ordinal: i32| -> (PodTemplateSpec, String) {
            if rolling
                && ordinal < partition
                && current_revision != update_revision
                && let Some(t) = self.revision_template(&sts, &current_revision)
            {
                return (t, current_revision.clone());
            }
            (spec.template.clone(), update_revision.clone())
        };

        // Create and repair, in ordinal order.
        let mut blocked = false;
        for ordinal in wanted.clone() {
            match pods.get(&ordinal) {
                None => {
                    let (template, hash) = template_for(ordinal);
                    let pod = pod_for(&sts, &template, ordinal, &hash);
                    self.create(&sts, pod, ordinal).await?;
                    if !parallel {
                        blocked = true;
                        break;
                    }
                }
                Some(pod)
                    if phase(pod) == "Failed" && pod.metadata.deletion_timestamp.is_none() =>
                {
                    self.delete(&sts, pod).await?;
                    if !parallel {
                        blocked = true;
                        break;
                    }
                }
                Some(pod) => {
                    if !parallel && !running_and_ready(pod) {
                        blocked = true;
                        break;
                    }
                }
            }
        }

        // Scale down from the highest ordinal.
        let condemned: Vec<&Arc<Pod>> = pods
            .iter()
            .rev()
            .filter(|(i, _)| !wanted.contains(i))
            .map(|(_, p)| p)
            .collect();
        if !blocked {
            for pod in &condemned {
                if pod.metadata.deletion_timestamp.is_some() {
                    if parallel {
                        continue;
                    }
                    blocked = true; // wait for it to go before the next one
                    break;
                }
                self.delete(&sts, pod).await?;
                if !parallel {
                    blocked = true;
                    break;
                }
            }
        }

        // Rolling update: the highest ordinal not at the update revision, one at a time.
        if rolling && !blocked {
            let unhealthy = wanted
                .clone()
                .any(|i| pods.get(&i).is_none_or(|p| !running_and_ready(p)));
            for ordinal in wanted.clone().rev().filter(|i| *i >= partition) {
                let Some(pod) = pods.get(&ordinal) else {
                    break;
                };
                if revision_of(pod) == Some(&update_revision) {
                    continue;
                }
                if pod.metadata.deletion_timestamp.is_none() && !unhealthy {
                    self.delete(&sts, pod).await?;
                }
                break;
            }
        }

        if sts.status.as_ref() != Some(&status) {
            let patch = json!({
                "metadata": {"resourceVersion": sts.metadata.resource_version},
                "status": status,
            });
            self.ctx
                .writer
                .patch_typed::<StatefulSet>(&key.namespace, &key.name, Some("status"), patch)
                .await?;
        }
        if min_ready > 0 && status.ready_replicas > status.available_replicas {
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
        RollingUpdateStatefulSetStrategy, StatefulSetSpec, StatefulSetUpdateStrategy,
    };
    use k8s_openapi::api::core::v1::{Container, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use serde_json::Value;

    fn sts(replicas: i32) -> StatefulSet {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        StatefulSet {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some("web".into()),
                uid: Some("uid-web".into()),
                generation: Some(2),
                resource_version: Some("9".into()),
                ..Default::default()
            },
            spec: Some(StatefulSetSpec {
                replicas: Some(replicas),
                service_name: Some("nginx".into()),
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
                            name: "nginx".into(),
                            image: Some("nginx:1".into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                volume_claim_templates: Some(vec![PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some("www".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn hash(s: &StatefulSet) -> String {
        template_hash(&s.spec.as_ref().unwrap().template, None)
    }

    /// Pod `ordinal` of `s` at revision `rev`, Running and Ready when `ready`.
    fn pod(s: &StatefulSet, ordinal: i32, rev: &str, ready: bool) -> Pod {
        let mut p = pod_for(s, &s.spec.as_ref().unwrap().template, ordinal, rev);
        p.metadata.uid = Some(format!("uid-web-{ordinal}"));
        p.status = Some(PodStatus {
            phase: Some(if ready { "Running" } else { "Pending" }.into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        p
    }

    fn setup(
        s: &StatefulSet,
        pods: Vec<Pod>,
    ) -> (StatefulSetController, Arc<barge_client::Recording>) {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.stateful_sets.apply(s.clone());
        for p in pods {
            ctx.informers.pods.apply(p);
        }
        let rev = revision_for(
            s,
            &s.spec.as_ref().unwrap().template,
            &hash(s),
            1,
            BTreeMap::new(),
        );
        ctx.informers.controller_revisions.apply(rev);
        (StatefulSetController::new(&ctx), writer)
    }

    fn key() -> Key {
        Key::new("default", "web")
    }

    fn writes(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter(|c| c.target().plural != "events")
            .map(Call::summary)
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

    fn messages(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Create { target, object } if target.plural == "events" => Some(format!(
                    "{} {}",
                    object["reason"].as_str()?,
                    object["message"].as_str()?
                )),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn ordered_ready_creates_the_first_ordinal_with_its_claim() {
        let s = sts(3);
        let (c, writer) = setup(&s, vec![]);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert_eq!(
            writes(&calls),
            [
                "create persistentvolumeclaims default/www-web-0",
                "create pods default/web-0",
                "patch statefulsets/status default/web"
            ]
        );
        assert_eq!(
            messages(&calls),
            [
                "SuccessfulCreate create Claim www-web-0 Pod web-0 in StatefulSet web success",
                "SuccessfulCreate create Pod web-0 in StatefulSet web successful"
            ]
        );
        let pod = calls
            .iter()
            .find_map(|c| match c {
                Call::Create { target, object } if target.plural == "pods" => Some(object.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(pod["metadata"]["labels"][POD_NAME], "web-0");
        assert_eq!(pod["metadata"]["labels"][POD_INDEX], "0");
        assert_eq!(pod["metadata"]["labels"][REVISION_HASH], hash(&s));
        assert_eq!(pod["spec"]["hostname"], "web-0");
        assert_eq!(pod["spec"]["subdomain"], "nginx");
        assert_eq!(pod["spec"]["volumes"][0]["name"], "www");
        assert_eq!(
            pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "www-web-0"
        );
        let st = status(&calls);
        assert_eq!(st["updateRevision"], hash(&s));
        assert_eq!(st["currentRevision"], hash(&s));
        assert_eq!(st["observedGeneration"], 2);
    }

    #[tokio::test]
    async fn the_next_ordinal_waits_for_running_and_ready() {
        let s = sts(3);
        let h = hash(&s);
        let (c, writer) = setup(&s, vec![pod(&s, 0, &h, false)]);
        c.reconcile(&key()).await.unwrap();
        assert!(
            !writes(&writer.take())
                .iter()
                .any(|w| w.starts_with("create"))
        );

        let (c, writer) = setup(&s, vec![pod(&s, 0, &h, true)]);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        let w = writes(&calls);
        assert!(w.contains(&"create pods default/web-1".to_string()));
        assert!(!w.contains(&"create pods default/web-2".to_string()));
        let st = status(&calls);
        assert_eq!(st["replicas"], 1);
        assert_eq!(st["readyReplicas"], 1);
        assert_eq!(st["availableReplicas"], 1);
    }

    #[tokio::test]
    async fn parallel_creates_every_ordinal_at_once() {
        let mut s = sts(3);
        s.spec.as_mut().unwrap().pod_management_policy = Some("Parallel".into());
        s.spec.as_mut().unwrap().volume_claim_templates = None;
        let (c, writer) = setup(&s, vec![]);
        c.reconcile(&key()).await.unwrap();
        let w = writes(&writer.take());
        for i in 0..3 {
            assert!(w.contains(&format!("create pods default/web-{i}")), "{w:?}");
        }
    }

    #[tokio::test]
    async fn scale_down_removes_the_highest_ordinal_first_one_at_a_time() {
        let s = sts(1);
        let h = hash(&s);
        let pods = (0..3).map(|i| pod(&s, i, &h, true)).collect();
        let (c, writer) = setup(&s, pods);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        let deletes: Vec<String> = writes(&calls)
            .into_iter()
            .filter(|w| w.starts_with("delete"))
            .collect();
        assert_eq!(deletes, ["delete pods default/web-2"]);
        assert!(messages(&calls).contains(
            &"SuccessfulDelete delete Pod web-2 in StatefulSet web successful".to_string()
        ));
    }

    #[tokio::test]
    async fn a_failed_pod_is_deleted_to_be_recreated() {
        let s = sts(1);
        let mut p = pod(&s, 0, &hash(&s), true);
        p.status.as_mut().unwrap().phase = Some("Failed".into());
        let (c, writer) = setup(&s, vec![p]);
        c.reconcile(&key()).await.unwrap();
        assert!(writes(&writer.take()).contains(&"delete pods default/web-0".to_string()));
    }

    #[tokio::test]
    async fn rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
        let mut s = sts(3);
        s.spec.as_mut().unwrap().update_strategy = Some(StatefulSetUpdateStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateStatefulSetStrategy {
                partition: Some(1),
                max_unavailable: None,
            }),
        });
        s.status = Some(StatefulSetStatus {
            current_revision: Some("old".into()),
            ..Default::default()
        });
        let h = hash(&s);
        let deletes = |calls: &[Call]| -> Vec<String> {
            writes(calls)
                .into_iter()
                .filter(|w| w.starts_with("delete"))
                .collect()
        };
        let pods = (0..3).map(|i| pod(&s, i, "old", true)).collect();
        let (c, writer) = setup(&s, pods);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert_eq!(deletes(&calls), ["delete pods default/web-2"]);
        assert_eq!(status(&calls)["currentRevision"], "old");

        let pods = vec![
            pod(&s, 0, "old", true),
            pod(&s, 1, "old", true),
            pod(&s, 2, &h, true),
        ];
        let (c, writer) = setup(&s, pods);
        c.reconcile(&key()).await.unwrap();
        assert_eq!(deletes(&writer.take()), ["delete pods default/web-1"]);

        // Web-0 is below the partition.
        let pods = vec![
            pod(&s, 0, "old", true),
            pod(&s, 1, &h, true),
            pod(&s, 2, &h, true),
        ];
        let (c, writer) = setup(&s, pods);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert!(deletes(&calls).is_empty());
        assert_eq!(status(&calls)["updatedReplicas"], 2);

        // An updated pod that is not ready holds the update.
        let pods = vec![
            pod(&s, 0, "old", true),
            pod(&s, 1, "old", true),
            pod(&s, 2, &h, false),
        ];
        let (c, writer) = setup(&s, pods);
        c.reconcile(&key()).await.unwrap();
        assert!(deletes(&writer.take()).is_empty());
    }

    #[tokio::test]
    async fn the_current_revision_follows_a_finished_rollout() {
        let mut s = sts(2);
        s.status = Some(StatefulSetStatus {
            current_revision: Some("old".into()),
            ..Default::default()
        });
        let h = hash(&s);
        let (c, writer) = setup(&s, vec![pod(&s, 0, &h, true), pod(&s, 1, &h, true)]);
        c.reconcile(&key()).await.unwrap();
        let st = status(&writer.take());
        assert_eq!(st["currentRevision"], h);
        assert_eq!(st["currentReplicas"], 2);
        assert_eq!(st["updatedReplicas"], 2);
    }

    #[tokio::test]
    async fn a_pod_below_the_partition_is_recreated_at_the_current_revision() {
        let mut s = sts(2);
        s.spec.as_mut().unwrap().update_strategy = Some(StatefulSetUpdateStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateStatefulSetStrategy {
                partition: Some(1),
                max_unavailable: None,
            }),
        });
        let mut old_template = s.spec.as_ref().unwrap().template.clone();
        old_template.spec.as_mut().unwrap().containers[0].image = Some("nginx:0".into());
        let old_hash = template_hash(&old_template, None);
        s.status = Some(StatefulSetStatus {
            current_revision: Some(old_hash.clone()),
            ..Default::default()
        });
        let (c, writer) = setup(&s, vec![pod(&s, 1, &hash(&s), true)]);
        c.ctx.informers.controller_revisions.apply(revision_for(
            &s,
            &old_template,
            &old_hash,
            1,
            BTreeMap::new(),
        ));
        c.reconcile(&key()).await.unwrap();
        let created = writer
            .take()
            .into_iter()
            .find_map(|c| match c {
                Call::Create { target, object } if target.plural == "pods" => Some(object),
                _ => None,
            })
            .expect("web-0 created");
        assert_eq!(created["metadata"]["name"], "web-0");
        assert_eq!(created["metadata"]["labels"][REVISION_HASH], old_hash);
        assert_eq!(created["spec"]["containers"][0]["image"], "nginx:0");
    }

    #[tokio::test]
    async fn on_delete_keeps_old_pods() {
        let mut s = sts(2);
        s.spec.as_mut().unwrap().update_strategy = Some(StatefulSetUpdateStrategy {
            type_: Some("OnDelete".into()),
            rolling_update: None,
        });
        let (c, writer) = setup(&s, vec![pod(&s, 0, "old", true), pod(&s, 1, "old", true)]);
        c.reconcile(&key()).await.unwrap();
        assert!(
            !writes(&writer.take())
                .iter()
                .any(|w| w.starts_with("delete"))
        );
    }

    #[test]
    fn ordinals_come_from_names() {
        assert_eq!(ordinal_of("web", "web-12"), Some(12));
        assert_eq!(ordinal_of("web", "webx-1"), None);
        assert_eq!(ordinal_of("web", "web-a"), None);
        assert_eq!(claim_name("www", "web", 3), "www-web-3");
    }
}
