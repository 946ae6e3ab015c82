//! Facts about pods and owners that several controllers need, as upstream's
//! `k8s.io/kubernetes/pkg/api/v1/pod` and `pkg/controller` helpers define them.

use barge_client::events::{Recorder, Type};
use barge_client::writer::is_not_found;
use barge_client::{Delete, WriterExt};
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Resource;

/// The condition of `type_` in the pod's status.
pub fn condition<'a>(pod: &'a Pod, type_: &str) -> Option<&'a PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The pod's phase, "" when it has none yet.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Ready condition True.
pub fn is_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// Ready for at least `min_ready_seconds` at `now` (upstream's IsPodAvailable).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let Some(ready) = condition(pod, "Ready").filter(|c| c.status == "True") else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    ready
        .last_transition_time
        .as_ref()
        .is_some_and(|t| t.0 + SignedDuration::from_secs(i64::from(min_ready_seconds)) <= now)
}

/// Not terminated (phase neither Succeeded nor Failed) and not being deleted
/// (upstream's IsPodActive).
pub fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_none()
}

/// Whether the pod has a node.
pub fn is_scheduled(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

/// The owner reference marking `owner` as the controller of a dependent.
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    let meta = owner.meta();
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// How the delete of a controlled pod ended, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted by this call.
    Now,
    /// Already gone (404).
    AlreadyGone,
}

/// Deletes `pod` for its controller `owner` — only this incarnation of it (a uid
/// precondition) — with upstream's events on the owner: SuccessfulDelete "Deleted pod: NAME",
/// or FailedDelete "Error deleting: ERROR" when the delete fails.
pub async fn delete_controlled<K: Resource<DynamicType = ()> + Sync>(
    ctx: &crate::Context,
    recorder: &Recorder,
    owner: &K,
    pod: &Pod,
) -> kube::Result<Deleted> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let options = Delete {
        uid: pod.metadata.uid.clone(),
        ..Delete::default()
    };
    match ctx
        .writer
        .delete_typed::<Pod>(namespace, name, &options)
        .await
    {
        Ok(()) => {
            let msg = format!("Deleted pod: {name}");
            recorder
                .publish(owner, Type::Normal, "SuccessfulDelete", &msg)
                .await;
            Ok(Deleted::Now)
        }
        Err(e) if is_not_found(&e) => Ok(Deleted::AlreadyGone),
        Err(e) => {
            let msg = format!("Error deleting: {e}");
            recorder
                .publish(owner, Type::Warning, "FailedDelete", &msg)
                .await;
            Err(e)
        }
    }
}

/// The controller owner reference of an object, if any.
pub fn controller_of<K: Resource>(object: &K) -> Option<&OwnerReference> {
    object
        .meta()
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ready_since(secs_ago: i64, now: Timestamp) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(now - SignedDuration::from_secs(secs_ago))),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let now = Timestamp::now();
        let pod = ready_since(5, now);
        assert!(is_ready(&pod));
        assert!(is_available(&pod, 0, now));
        assert!(is_available(&pod, 5, now));
        assert!(!is_available(&pod, 10, now));
        assert!(!is_available(&Pod::default(), 0, now));
    }

    #[test]
    fn terminated_and_deleted_pods_are_not_active() {
        let mut pod = ready_since(0, Timestamp::now());
        assert!(is_active(&pod));
        pod.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(!is_active(&pod));
    }
}
