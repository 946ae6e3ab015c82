//! The disruption controller (upstream `pkg/controller/disruption`): the status of each
//! PodDisruptionBudget, which the eviction API consults.
//!
//! For a budget's pods (its namespace's pods matching its selector; a budget without a
//! selector matches none, an empty one all):
//! - `minAvailable` as an int: expectedPods = the number of pods, desiredHealthy =
//!   minAvailable;
//! - `minAvailable` as a percentage or `maxUnavailable`: expectedPods = the sum of the scales of
//!   the pods' controllers (a ReplicaSet owned by a Deployment counts the Deployment's
//!   replicas; StatefulSets and ReplicationControllers their replicas); desiredHealthy =
//!   ceil(percentage × expectedPods), or expectedPods − maxUnavailable (percentages rounded
//!   up);
//! - currentHealthy = pods Ready and not being deleted; disruptionsAllowed = currentHealthy −
//!   desiredHealthy, at least 0 (0 when no pod is expected);
//! - condition `DisruptionAllowed`: True / `SufficientPods` when disruptions are allowed, else
//!   False / `InsufficientPods`; `disruptedPods` entries are dropped after two minutes or
//!   once the pod is gone.
//!
//! Differences from upstream: a pod whose controller is of another kind (or has none) counts
//! for one in the expected pods instead of being looked up through the scale subresource
//! (upstream fails the sync for a pod with no controller when the scale is needed), and
//! `unhealthyPodEvictionPolicy` is not consulted here (it is the eviction API's business).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use barge_api::selector::LabelSelector;
use barge_client::{Informer, Key, WriterExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::Context;
use crate::daemonset::scaled_value;
use crate::pods::{controller_of, is_ready};
use crate::runner::{Queue, Reconciler, enqueue, own_key};

/// How long a pod stays in `disruptedPods` without being deleted.
const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);

/// The disruption controller.
pub struct DisruptionController {
    ctx: Context,
}

impl std::fmt::Debug for DisruptionController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisruptionController")
            .finish_non_exhaustive()
    }
}

/// Queues every budget of an object's namespace when the object changes.
fn requeue_namespace<K>(informer: &Informer<K>, pdbs: &Informer<PodDisruptionBudget>, queue: &Queue)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let pdbs = pdbs.clone();
    enqueue(informer, queue, move |object: &K| {
        let namespace = object.meta().namespace.as_deref().unwrap_or_default();
        pdbs.cache()
            .list_namespace(namespace)
            .iter()
            .map(|pdb| Key::of(pdb.as_ref()))
            .collect()
    });
}

/// Starts the disruption controller's watches; returns its reconciler and queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    let i = &ctx.informers;
    enqueue(&i.pod_disruption_budgets, &queue, own_key);
    requeue_namespace(&i.pods, &i.pod_disruption_budgets, &queue);
    requeue_namespace(&i.replica_sets, &i.pod_disruption_budgets, &queue);
    requeue_namespace(&i.deployments, &i.pod_disruption_budgets, &queue);
    requeue_namespace(&i.stateful_sets, &i.pod_disruption_budgets, &queue);
    requeue_namespace(
        &i.replication_controllers,
        &i.pod_disruption_budgets,
        &queue,
    );
    (Arc::new(DisruptionController::new(ctx)), queue)
}

impl DisruptionController {
    pub fn new(ctx: &Context) -> Self {
        Self { ctx: ctx.clone() }
    }

    /// The replicas the controller of `pod` wants, and the key that controller is known by.
    fn controller_scale(&self, ns: &str, pod: &Pod) -> (String, i32) {
        let i = &self.ctx.informers;
        let Some(owner) = controller_of(pod) else {
            return (
                format!("pod/{}", pod.metadata.uid.as_deref().unwrap_or_default()),
                1,
            );
        };
        let fallback = (
            format!("pod/{}", pod.metadata.uid.as_deref().unwrap_or_default()),
            1,
        );
        match owner.kind.as_str() {
            "ReplicaSet" => {
                let Some(rs) = i.replica_sets.cache().get(ns, &owner.name) else {
                    return fallback;
                };
                if let Some(d) = controller_of(rs.as_ref()).filter(|o| o.kind == "Deployment")
                    && let Some(dep) = i.deployments.cache().get(ns, &d.name)
                {
                    let replicas = dep.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    return (format!("deployment/{}", d.uid), replicas);
                }
                let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                (format!("replicaset/{}", owner.uid), replicas)
            }
            "StatefulSet" => match i.stateful_sets.cache().get(ns, &owner.name) {
                Some(s) => (
                    format!("statefulset/{}", owner.uid),
                    s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                ),
                None => fallback,
            },
            "ReplicationController" => match i.replication_controllers.cache().get(ns, &owner.name)
            {
                Some(rc) => (
                    format!("rc/{}", owner.uid),
                    rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                ),
                None => fallback,
            },
            _ => fallback,
        }
    }
}

#[async_trait]
impl Reconciler for DisruptionController {
    fn name(&self) -> &'static str {
        "disruption"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(pdb) = self
            .ctx
            .informers
            .pod_disruption_budgets
            .cache()
            .get_key(key)
        else {
            return Ok(None);
        };
        if pdb.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let now = Timestamp::now();
        let spec = pdb.spec.clone().unwrap_or_default();
        let selector = match &spec.selector {
            None => LabelSelector::nothing(),
            Some(s) => LabelSelector::from_json(&serde_json::to_value(s)?)
                .unwrap_or_else(|_| LabelSelector::nothing()),
        };
        let pods: Vec<Arc<Pod>> = self
            .ctx
            .informers
            .pods
            .cache()
            .list_namespace(&key.namespace)
            .into_iter()
            .filter(|p| {
                let labels = p.metadata.labels.as_ref();
                selector.matches_with(|k| labels.and_then(|l| l.get(k)).map(String::as_str))
            })
            .collect();

        let current_healthy = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && is_ready(p))
            .count() as i32;
        let needs_scale = spec.max_unavailable.is_some()
            || matches!(spec.min_available, Some(IntOrString::String(_)));
        let expected = if needs_scale {
            let scales: BTreeMap<String, i32> = pods
                .iter()
                .map(|p| self.controller_scale(&key.namespace, p))
                .collect();
            scales.values().sum::<i32>()
        } else {
            pods.len() as i32
        };
        let desired = match (&spec.max_unavailable, &spec.min_available) {
            (Some(max), _) => (expected - scaled_value(Some(max), expected, 0, true)).max(0),
            (None, Some(min)) => scaled_value(Some(min), expected, 0, true),
            (None, None) => 0,
        };
        let mut allowed = current_healthy - desired;
        if expected <= 0 || allowed <= 0 {
            allowed = 0;
        }

        let old = pdb.status.clone().unwrap_or_default();
        // Pods the eviction API marked disrupted: forgotten once gone or after two minutes.
        let disrupted: BTreeMap<String, Time> = old
            .disrupted_pods
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|(name, at)| {
                at.0 + DELETION_TIMEOUT > now
                    && pods.iter().any(|p| {
                        p.metadata.name.as_deref() == Some(name)
                            && p.metadata.deletion_timestamp.is_none()
                    })
            })
            .collect();
        let (status_word, reason) = if allowed > 0 {
            ("True", "SufficientPods")
        } else {
            ("False", "InsufficientPods")
        };
        let mut conditions = old.conditions.clone().unwrap_or_default();
        let generation = pdb.metadata.generation;
        match conditions
            .iter_mut()
            .find(|c| c.type_ == "DisruptionAllowed")
        {
            Some(c) => {
                if c.status != status_word {
                    c.status = status_word.into();
                    c.last_transition_time = Time(now);
                }
                c.reason = reason.into();
                c.observed_generation = generation;
            }
            None => conditions.push(Condition {
                type_: "DisruptionAllowed".into(),
                status: status_word.into(),
                reason: reason.into(),
                message: String::new(),
                last_transition_time: Time(now),
                observed_generation: generation,
            }),
        }
        let status = PodDisruptionBudgetStatus {
            expected_pods: expected,
            current_healthy,
            desired_healthy: desired,
            disruptions_allowed: allowed,
            observed_generation: generation,
            disrupted_pods: (!disrupted.is_empty()).then_some(disrupted.clone()),
            conditions: Some(conditions),
        };
        if status != old {
            let mut value = serde_json::to_value(&status)?;
            // A merge patch merges maps: entries that went are nulled one by one.
            for name in old.disrupted_pods.iter().flatten().map(|(n, _)| n) {
                if !disrupted.contains_key(name) {
                    value["disruptedPods"][name] = serde_json::Value::Null;
                }
            }
            let patch = json!({
                "metadata": {"resourceVersion": pdb.metadata.resource_version},
                "status": value,
            });
            self.ctx
                .writer
                .patch_typed::<PodDisruptionBudget>(
                    &key.namespace,
                    &key.name,
                    Some("status"),
                    patch,
                )
                .await?;
        }
        // Come back when the oldest disrupted pod entry expires.
        let next = disrupted
            .values()
            .map(|t| t.0 + DELETION_TIMEOUT)
            .min()
            .map(|t| crate::job::until(t, now));
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::writer::Call;
    use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec};
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector as Selector, OwnerReference,
    };
    use kube::api::ObjectMeta;
    use serde_json::Value;

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some("default".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(3),
            ..Default::default()
        }
    }

    fn pdb(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: meta("web-pdb"),
            spec: Some(PodDisruptionBudgetSpec {
                min_available: min,
                max_unavailable: max,
                selector: Some(Selector {
                    match_labels: Some([("app".to_string(), "web".to_string())].into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn owner(kind: &str, name: &str) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            controller: Some(true),
            block_owner_deletion: None,
        }
    }

    fn pod(name: &str, app: &str, ready: bool, rs: Option<&str>) -> Pod {
        let mut m = meta(name);
        m.labels = Some([("app".to_string(), app.to_string())].into());
        m.owner_references = rs.map(|r| vec![owner("ReplicaSet", r)]);
        Pod {
            metadata: m,
            spec: None,
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    async fn run(p: PodDisruptionBudget, pods: Vec<Pod>, scale: Option<i32>) -> Value {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.pod_disruption_budgets.apply(p);
        for pod in pods {
            ctx.informers.pods.apply(pod);
        }
        if let Some(replicas) = scale {
            let mut rs_meta = meta("web-abc");
            rs_meta.owner_references = Some(vec![owner("Deployment", "web")]);
            ctx.informers.replica_sets.apply(ReplicaSet {
                metadata: rs_meta,
                spec: Some(ReplicaSetSpec {
                    replicas: Some(1),
                    ..Default::default()
                }),
                status: None,
            });
            ctx.informers.deployments.apply(Deployment {
                metadata: meta("web"),
                spec: Some(DeploymentSpec {
                    replicas: Some(replicas),
                    ..Default::default()
                }),
                status: None,
            });
        }
        let c = DisruptionController::new(&ctx);
        c.reconcile(&Key::new("default", "web-pdb")).await.unwrap();
        let calls = writer.take();
        assert_eq!(calls.len(), 1, "{calls:?}");
        match &calls[0] {
            Call::Patch {
                subresource: Some(s),
                patch,
                ..
            } if s == "status" => patch["status"].clone(),
            other => panic!("{other:?}"),
        }
    }

    fn three_pods() -> Vec<Pod> {
        vec![
            pod("web-1", "web", true, Some("web-abc")),
            pod("web-2", "web", true, Some("web-abc")),
            pod("web-3", "web", false, Some("web-abc")),
            pod("other", "db", true, None),
        ]
    }

    #[tokio::test]
    async fn min_available_int_counts_matching_pods() {
        let st = run(pdb(Some(IntOrString::Int(1)), None), three_pods(), None).await;
        assert_eq!(st["expectedPods"], 3);
        assert_eq!(st["currentHealthy"], 2);
        assert_eq!(st["desiredHealthy"], 1);
        assert_eq!(st["disruptionsAllowed"], 1);
        assert_eq!(st["observedGeneration"], 3);
        let c = &st["conditions"][0];
        assert_eq!(c["type"], "DisruptionAllowed");
        assert_eq!(c["status"], "True");
        assert_eq!(c["reason"], "SufficientPods");
    }

    #[tokio::test]
    async fn insufficient_pods_allow_no_disruption() {
        let st = run(pdb(Some(IntOrString::Int(2)), None), three_pods(), None).await;
        assert_eq!(st["disruptionsAllowed"], 0);
        assert_eq!(st["conditions"][0]["status"], "False");
        assert_eq!(st["conditions"][0]["reason"], "InsufficientPods");
    }

    #[tokio::test]
    async fn percentages_and_max_unavailable_use_the_controllers_scale() {
        // The Deployment wants 4: 50% of 4 = 2 desired; 2 healthy → none allowed.
        let st = run(
            pdb(Some(IntOrString::String("50%".into())), None),
            three_pods(),
            Some(4),
        )
        .await;
        assert_eq!(st["expectedPods"], 4);
        assert_eq!(st["desiredHealthy"], 2);
        assert_eq!(st["disruptionsAllowed"], 0);

        // maxUnavailable 1 of 2 wanted: 1 desired, 2 healthy → 1 allowed.
        let st = run(pdb(None, Some(IntOrString::Int(1))), three_pods(), Some(2)).await;
        assert_eq!(st["expectedPods"], 2);
        assert_eq!(st["desiredHealthy"], 1);
        assert_eq!(st["disruptionsAllowed"], 1);

        // maxUnavailable 25% of 4 rounds up to 1: 3 desired.
        let st = run(
            pdb(None, Some(IntOrString::String("25%".into()))),
            three_pods(),
            Some(4),
        )
        .await;
        assert_eq!(st["desiredHealthy"], 3);
    }

    #[tokio::test]
    async fn no_selector_matches_nothing_and_expired_disruptions_are_dropped() {
        let mut p = pdb(Some(IntOrString::Int(0)), None);
        p.spec.as_mut().unwrap().selector = None;
        let st = run(p, three_pods(), None).await;
        assert_eq!(st["expectedPods"], 0);
        assert_eq!(st["disruptionsAllowed"], 0);

        let mut p = pdb(Some(IntOrString::Int(0)), None);
        p.status = Some(PodDisruptionBudgetStatus {
            disrupted_pods: Some(
                [
                    ("web-1".to_string(), Time(Timestamp::now())),
                    (
                        "web-2".to_string(),
                        Time(Timestamp::now() - SignedDuration::from_secs(300)),
                    ),
                    ("gone".to_string(), Time(Timestamp::now())),
                ]
                .into(),
            ),
            ..Default::default()
        });
        let st = run(p, three_pods(), None).await;
        assert!(st["disruptedPods"]["web-1"].is_string());
        assert!(st["disruptedPods"]["web-2"].is_null());
        assert!(st["disruptedPods"]["gone"].is_null());
        assert_eq!(st["disruptedPods"].as_object().unwrap().len(), 3);
    }
}
