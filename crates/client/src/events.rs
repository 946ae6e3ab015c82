//! Events, as `kubectl describe` shows them: core/v1 Events about an object, with repeats of
//! the same reason and message folded into one Event whose count goes up, and client-go's spam
//! filter: at most 25 events per object in a burst, then one per 5 minutes (so a ReplicaSet
//! scaled to 2,000 records 25 SuccessfulCreate events, not 2,000).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use serde_json::json;

use crate::writer::{Writer, WriterExt, is_not_found};

/// The two event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Normal,
    Warning,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::Normal => "Normal",
            Type::Warning => "Warning",
        }
    }
}

/// How many distinct (object, reason, message) series are remembered for folding repeats.
const SERIES: usize = 4096;

/// (object uid, reason, message) → (event namespace, name, count so far).
type Series = HashMap<(String, String, String), (String, String, i32)>;

/// client-go's EventSourceObjectSpamFilter: a token bucket per object.
const SPAM_BURST: f64 = 25.0;
const SPAM_REFILL: std::time::Duration = std::time::Duration::from_secs(300);

/// The spam filter's buckets: object uid → (tokens, last refill).
type Buckets = HashMap<String, (f64, std::time::Instant)>;

/// Posts Events for one component (e.g. `deployment-controller`).
#[derive(Clone)]
pub struct Recorder {
    writer: Arc<dyn Writer>,
    component: String,
    series: Arc<Mutex<Series>>,
    buckets: Arc<Mutex<Buckets>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("component", &self.component)
            .finish_non_exhaustive()
    }
}

/// The reference an Event makes to the object it is about.
pub fn reference<K: Resource<DynamicType = ()>>(object: &K) -> ObjectReference {
    let meta = object.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    }
}

impl Recorder {
    pub fn new(writer: Arc<dyn Writer>, component: impl Into<String>) -> Self {
        Self {
            writer,
            component: component.into(),
            series: Arc::default(),
            buckets: Arc::default(),
        }
    }

    /// Records an event about `object`. Failures are logged, never returned: an event is
    /// not worth failing a reconcile for.
    pub async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        kind: Type,
        reason: &str,
        message: &str,
    ) {
        self.publish_ref(reference(object), kind, reason, message)
            .await;
    }

    /// [`Recorder::publish`] for an object known only by reference.
    pub async fn publish_ref(
        &self,
        object: ObjectReference,
        kind: Type,
        reason: &str,
        message: &str,
    ) {
        if !self.take_token(object.uid.as_deref().unwrap_or_default()) {
            tracing::debug!(reason, "event dropped by the spam filter");
            return;
        }
        let now = Timestamp::now();
        let namespace = object.namespace.clone().unwrap_or_else(|| "default".into());
        let series_key = (
            object.uid.clone().unwrap_or_default(),
            reason.to_owned(),
            message.to_owned(),
        );
        let repeat = self.lock().get(&series_key).cloned();
        if let Some((ns, name, count)) = repeat {
            let patch = json!({
                "count": count + 1,
                "lastTimestamp": now.to_string(),
            });
            match self
                .writer
                .patch_typed::<Event>(&ns, &name, None, patch)
                .await
            {
                Ok(()) => {
                    self.lock().insert(series_key, (ns, name, count + 1));
                    return;
                }
                Err(e) if is_not_found(&e) => {} // expired: start a new series
                Err(e) => {
                    tracing::debug!(error = %e, reason, "event not recorded");
                    return;
                }
            }
        }
        let event = Event {
            metadata: kube::api::ObjectMeta {
                name: Some(format!(
                    "{}.{:x}",
                    object.name.as_deref().unwrap_or("unknown"),
                    now.as_nanosecond()
                )),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: object,
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            type_: Some(kind.as_str().to_owned()),
            count: Some(1),
            first_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
            last_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
            source: Some(k8s_openapi::api::core::v1::EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.component.clone()),
            ..Default::default()
        };
        match self.writer.create_typed(&namespace, &event).await {
            Ok(created) => {
                let mut series = self.lock();
                if series.len() >= SERIES {
                    series.clear();
                }
                series.insert(
                    series_key,
                    (namespace, created.metadata.name.unwrap_or_default(), 1),
                );
            }
            Err(e) => tracing::debug!(error = %e, reason, "event not recorded"),
        }
    }

    /// Takes one token of the object's bucket; false when it has none left.
    fn take_token(&self, uid: &str) -> bool {
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= SERIES {
            buckets.retain(|_, (tokens, _)| *tokens < SPAM_BURST);
        }
        let (tokens, last) = buckets.entry(uid.to_owned()).or_insert((SPAM_BURST, now));
        let refilled = now.duration_since(*last).as_secs_f64() / SPAM_REFILL.as_secs_f64();
        *tokens = (*tokens + refilled).min(SPAM_BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Series> {
        self.series.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{Call, Recording};
    use k8s_openapi::api::core::v1::Pod;

    #[tokio::test]
    async fn repeats_fold_into_one_event_with_a_count() {
        let writer = Arc::new(Recording::default());
        let recorder = Recorder::new(writer.clone(), "default-scheduler");
        let pod = Pod {
            metadata: kube::api::ObjectMeta {
                namespace: Some("default".into()),
                name: Some("web".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let msg = "0/3 nodes are available: 3 Insufficient cpu.";
        recorder
            .publish(&pod, Type::Warning, "FailedScheduling", msg)
            .await;
        recorder
            .publish(&pod, Type::Warning, "FailedScheduling", msg)
            .await;
        let calls = writer.take();
        assert_eq!(calls.len(), 2, "{calls:?}");
        let Call::Create { object, .. } = &calls[0] else {
            panic!("first call {:?}", calls[0]);
        };
        assert_eq!(object["involvedObject"]["kind"], "Pod");
        assert_eq!(object["involvedObject"]["uid"], "u1");
        assert_eq!(object["type"], "Warning");
        assert_eq!(object["source"]["component"], "default-scheduler");
        let Call::Patch { patch, .. } = &calls[1] else {
            panic!("second call {:?}", calls[1]);
        };
        assert_eq!(patch["count"], 2);
    }

    #[tokio::test]
    async fn one_object_gets_at_most_a_burst_of_events() {
        let writer = Arc::new(Recording::default());
        let recorder = Recorder::new(writer.clone(), "replicaset-controller");
        let rs = Pod {
            metadata: kube::api::ObjectMeta {
                namespace: Some("default".into()),
                name: Some("web".into()),
                uid: Some("rs".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        for i in 0..40 {
            let msg = format!("Created pod: web-{i}");
            recorder
                .publish(&rs, Type::Normal, "SuccessfulCreate", &msg)
                .await;
        }
        assert_eq!(writer.take().len(), 25);
        let other = Pod {
            metadata: kube::api::ObjectMeta {
                uid: Some("other".into()),
                ..rs.metadata.clone()
            },
            ..Default::default()
        };
        recorder
            .publish(&other, Type::Normal, "SuccessfulCreate", "x")
            .await;
        assert_eq!(writer.take().len(), 1, "each object has its own bucket");
    }
}
