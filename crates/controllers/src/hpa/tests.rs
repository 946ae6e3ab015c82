//! Whole reconciles: seeded informers, a fake [`Source`] and the recorded writes.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use barge_client::writer::{Call, Recording};
use k8s_openapi::api::autoscaling::v1::{ScaleSpec, ScaleStatus};
use k8s_openapi::api::autoscaling::v2::{
    HPAScalingRules, HorizontalPodAutoscalerBehavior, MetricIdentifier, PodsMetricSource,
};
use k8s_openapi::api::core::v1::{
    Container, PodCondition, PodSpec, PodStatus, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::ObjectMeta;

use super::metrics::ContainerMetrics;

/// The scales (by `plural/name`), pod metrics and custom kinds a test serves.
#[derive(Debug, Default)]
struct Fake {
    scales: Mutex<HashMap<String, Result<Scale, String>>>,
    metrics: Mutex<Option<Result<Vec<PodMetrics>, String>>>,
    metric_reads: AtomicUsize,
    kinds: Mutex<HashMap<String, ApiResource>>,
}

impl Fake {
    fn set_scale(&self, plural: &str, scale: Result<Scale, String>) {
        let name = scale
            .as_ref()
            .ok()
            .and_then(|s| s.metadata.name.clone())
            .unwrap_or_else(|| "web".into());
        self.scales
            .lock()
            .unwrap()
            .insert(format!("{plural}/{name}"), scale);
    }

    fn set_metrics(&self, metrics: Result<Vec<PodMetrics>, String>) {
        *self.metrics.lock().unwrap() = Some(metrics);
    }
}

#[async_trait]
impl Source for Fake {
    async fn resource(&self, group: &str, _: &str, kind: &str) -> Result<ApiResource, String> {
        self.kinds
            .lock()
            .unwrap()
            .get(&format!("{group}/{kind}"))
            .cloned()
            .ok_or_else(|| no_match(group, kind))
    }

    async fn scale(&self, resource: &ApiResource, _: &str, name: &str) -> Result<Scale, String> {
        let key = format!("{}/{name}", resource.plural);
        self.scales
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .unwrap_or_else(|| Err(format!("{key} not found")))
    }

    async fn pod_metrics(&self, _: &str, selector: &str) -> Result<Vec<PodMetrics>, String> {
        assert_eq!(selector, "app=web");
        self.metric_reads.fetch_add(1, Ordering::SeqCst);
        self.metrics
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| Ok(Vec::new()))
    }
}

fn cpu(percent: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(percent),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

fn qps() -> MetricSpec {
    MetricSpec {
        type_: "Pods".into(),
        pods: Some(PodsMetricSource {
            metric: MetricIdentifier {
                name: "qps".into(),
                selector: None,
            },
            target: MetricTarget {
                type_: "AverageValue".into(),
                average_value: Some(Quantity("10".into())),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

fn hpa(name: &str, max: i32, metrics: Vec<MetricSpec>) -> HorizontalPodAutoscaler {
    HorizontalPodAutoscaler {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(2),
            ..Default::default()
        },
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: "web".into(),
            },
            min_replicas: Some(1),
            max_replicas: max,
            metrics: Some(metrics),
            behavior: None,
        }),
        status: None,
    }
}

fn scale(name: &str, replicas: i32) -> Scale {
    Scale {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(ScaleSpec {
            replicas: Some(replicas),
        }),
        status: Some(ScaleStatus {
            replicas,
            selector: Some("app=web".into()),
        }),
    }
}

fn ago(secs: i64) -> Time {
    Time(Timestamp::now() - SignedDuration::from_secs(secs))
}

/// A Ready pod of the target requesting 1 cpu and 1Gi, started ten minutes ago.
fn pod(i: usize) -> Pod {
    let requests = [
        ("cpu".to_string(), Quantity("1".into())),
        ("memory".to_string(), Quantity("1Gi".into())),
    ];
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("web-{i}")),
            namespace: Some("default".into()),
            labels: Some([("app".to_string(), "web".to_string())].into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                resources: Some(ResourceRequirements {
                    requests: Some(requests.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            start_time: Some(ago(600)),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(ago(600)),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

/// The PodMetrics of pods `web-0`... using these amounts of cpu (and 200Mi of memory each).
fn usage(cpu: &[&str]) -> Vec<PodMetrics> {
    cpu.iter()
        .enumerate()
        .map(|(i, c)| PodMetrics {
            metadata: ObjectMeta {
                name: Some(format!("web-{i}")),
                namespace: Some("default".into()),
                ..Default::default()
            },
            timestamp: Some(ago(5)),
            window: "15s".into(),
            containers: vec![ContainerMetrics {
                name: "app".into(),
                usage: [
                    ("cpu".to_string(), Quantity(c.to_string())),
                    ("memory".to_string(), Quantity("200Mi".into())),
                ]
                .into(),
            }],
        })
        .collect()
}

struct Setup {
    ctx: Context,
    writer: Arc<Recording>,
    fake: Arc<Fake>,
    controller: HpaController,
}

/// An HPA `web` on Deployment `web` at `replicas`, with that many pods.
fn setup(h: HorizontalPodAutoscaler, replicas: i32) -> Setup {
    let (ctx, writer) = Context::for_tests();
    ctx.informers.horizontal_pod_autoscalers.apply(h);
    for i in 0..replicas {
        ctx.informers.pods.apply(pod(i as usize));
    }
    let fake = Arc::new(Fake::default());
    fake.set_scale("deployments", Ok(scale("web", replicas)));
    let controller = HpaController::new(&ctx, fake.clone());
    Setup {
        ctx,
        writer,
        fake,
        controller,
    }
}

impl Setup {
    async fn reconcile(&self) -> Option<Duration> {
        self.controller
            .reconcile(&Key::new("default", "web"))
            .await
            .unwrap()
    }

    /// Stores the written status in the cache, as the watch would.
    fn echo_status(&self, status: &Value) {
        let cache = self.ctx.informers.horizontal_pod_autoscalers.cache();
        let mut h = (*cache.get("default", "web").unwrap()).clone();
        let mut merged = serde_json::to_value(h.status.clone().unwrap_or_default()).unwrap();
        for (k, v) in status.as_object().unwrap() {
            merged[k] = v.clone();
        }
        let merged = merged.as_object().unwrap().clone();
        let merged: serde_json::Map<String, Value> =
            merged.into_iter().filter(|(_, v)| !v.is_null()).collect();
        h.status = Some(serde_json::from_value(Value::Object(merged)).unwrap());
        self.ctx.informers.horizontal_pod_autoscalers.apply(h);
    }
}

fn writes(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .map(Call::summary)
        .filter(|s| !s.contains("events"))
        .collect()
}

fn events(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter_map(|c| match c {
            Call::Create { target, object } if target.plural == "events" => Some(format!(
                "{} {} {}",
                object["type"].as_str().unwrap_or_default(),
                object["reason"].as_str().unwrap_or_default(),
                object["message"].as_str().unwrap_or_default()
            )),
            _ => None,
        })
        .collect()
}

fn patch_of(calls: &[Call], sub: &str) -> Option<Value> {
    calls.iter().find_map(|c| match c {
        Call::Patch {
            subresource: Some(s),
            patch,
            ..
        } if s == sub => Some(patch.clone()),
        _ => None,
    })
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

fn reason(status: &Value, type_: &str) -> String {
    let c = condition(status, type_);
    format!(
        "{} {}",
        c["status"].as_str().unwrap(),
        c["reason"].as_str().unwrap()
    )
}

#[tokio::test]
async fn scale_up_on_cpu_patches_the_scale_writes_the_status_and_records_an_event() {
    let s = setup(hpa("web", 10, vec![cpu(50)]), 3);
    // 90% of the requests against 50%: 3 × 1.8 = 5.4 → 6.
    s.fake.set_metrics(Ok(usage(&["900m", "900m", "900m"])));
    assert_eq!(s.reconcile().await, Some(Duration::from_secs(15)));
    let calls = s.writer.take();
    assert_eq!(
        writes(&calls),
        [
            "patch deployments/scale default/web",
            "patch horizontalpodautoscalers/status default/web"
        ]
    );
    assert_eq!(
        patch_of(&calls, "scale").unwrap(),
        json!({"spec": {"replicas": 6}})
    );
    assert_eq!(
        events(&calls),
        [
            "Normal SuccessfulRescale New size: 6; reason: cpu resource utilization (percentage of request) above target"
        ]
    );
    let status = &patch_of(&calls, "status").unwrap()["status"];
    assert_eq!(status["currentReplicas"], 3);
    assert_eq!(status["desiredReplicas"], 6);
    assert_eq!(status["observedGeneration"], 2);
    assert!(status["lastScaleTime"].is_string());
    assert_eq!(
        status["currentMetrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "current": {"averageUtilization": 90, "averageValue": "900m"}}}])
    );
    assert_eq!(reason(status, "AbleToScale"), "True SucceededRescale");
    assert_eq!(
        condition(status, "AbleToScale")["message"],
        "the HPA controller was able to update the target scale to 6"
    );
    assert_eq!(reason(status, "ScalingActive"), "True ValidMetricFound");
    assert_eq!(
        condition(status, "ScalingActive")["message"],
        "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)"
    );
    assert_eq!(reason(status, "ScalingLimited"), "False DesiredWithinRange");
    assert_eq!(
        condition(status, "ScalingLimited")["message"],
        "the desired count is within the acceptable range"
    );
    let types: Vec<&str> = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["AbleToScale", "ScalingActive", "ScalingLimited"]);
}

#[tokio::test]
async fn nothing_is_written_when_nothing_changes() {
    let s = setup(hpa("web", 10, vec![cpu(50)]), 3);
    s.fake.set_metrics(Ok(usage(&["520m", "500m", "480m"])));
    s.reconcile().await;
    let calls = s.writer.take();
    assert_eq!(
        writes(&calls),
        ["patch horizontalpodautoscalers/status default/web"]
    );
    assert!(events(&calls).is_empty());
    let status = patch_of(&calls, "status").unwrap()["status"].clone();
    assert_eq!(status["desiredReplicas"], 3);
    assert_eq!(reason(&status, "AbleToScale"), "True ReadyForNewScale");
    assert!(status.get("lastScaleTime").is_none());

    s.echo_status(&status);
    s.reconcile().await;
    assert!(s.writer.take().is_empty());
    // New usage changes the current metrics, and only that.
    s.fake.set_metrics(Ok(usage(&["530m", "500m", "500m"])));
    s.reconcile().await;
    let calls = s.writer.take();
    let new = &patch_of(&calls, "status").unwrap()["status"];
    assert_eq!(
        new["currentMetrics"][0]["resource"]["current"]["averageValue"],
        "510m"
    );
    assert_eq!(new["conditions"], status["conditions"]);
}

#[tokio::test]
async fn the_downscale_window_holds_a_scale_down() {
    let s = setup(hpa("web", 10, vec![cpu(50)]), 3);
    s.fake.set_metrics(Ok(usage(&["900m", "900m", "900m"])));
    s.reconcile().await;
    let status = patch_of(&s.writer.take(), "status").unwrap()["status"].clone();
    s.echo_status(&status);
    // Now at 6, lightly used: 6 × 0.2 = 2, but 6 was recommended a moment ago.
    for i in 3..6 {
        s.ctx.informers.pods.apply(pod(i));
    }
    s.fake.set_scale("deployments", Ok(scale("web", 6)));
    s.fake
        .set_metrics(Ok(usage(&["100m", "100m", "100m", "100m", "100m", "100m"])));
    s.reconcile().await;
    let calls = s.writer.take();
    assert_eq!(
        writes(&calls),
        ["patch horizontalpodautoscalers/status default/web"]
    );
    let status = &patch_of(&calls, "status").unwrap()["status"];
    assert_eq!(status["desiredReplicas"], 6);
    assert_eq!(reason(status, "AbleToScale"), "True ScaleDownStabilized");
    assert_eq!(
        condition(status, "AbleToScale")["message"],
        "recent recommendations were higher than current one, applying the highest recent recommendation"
    );

    // Without a window the scale-down happens at once.
    let mut s = setup(hpa("web", 10, vec![cpu(50)]), 6);
    let mut settings = (*s.ctx.settings).clone();
    settings.hpa_downscale_stabilization = Duration::ZERO;
    s.ctx.settings = Arc::new(settings);
    s.controller = HpaController::new(&s.ctx, s.fake.clone());
    s.fake
        .set_metrics(Ok(usage(&["100m", "100m", "100m", "100m", "100m", "100m"])));
    s.reconcile().await;
    let calls = s.writer.take();
    assert_eq!(
        patch_of(&calls, "scale").unwrap(),
        json!({"spec": {"replicas": 2}})
    );
    assert_eq!(
        events(&calls),
        ["Normal SuccessfulRescale New size: 2; reason: All metrics below target"]
    );
}

#[tokio::test]
async fn a_behavior_can_disable_scale_down() {
    let mut h = hpa("web", 10, vec![cpu(50)]);
    h.spec.as_mut().unwrap().behavior = Some(HorizontalPodAutoscalerBehavior {
        scale_up: None,
        scale_down: Some(HPAScalingRules {
            select_policy: Some("Disabled".into()),
            stabilization_window_seconds: Some(0),
            policies: None,
        }),
    });
    let s = setup(h, 4);
    s.fake
        .set_metrics(Ok(usage(&["100m", "100m", "100m", "100m"])));
    s.reconcile().await;
    let calls = s.writer.take();
    assert!(patch_of(&calls, "scale").is_none());
    let status = &patch_of(&calls, "status").unwrap()["status"];
    assert_eq!(status["desiredReplicas"], 4);
    assert_eq!(reason(status, "ScalingLimited"), "True ScaleDownLimit");
}

#[tokio::test]
async fn a_metrics_failure_sets_scaling_active_false_and_keeps_the_scale() {
    let s = setup(hpa("web", 10, vec![cpu(50)]), 3);
    s.fake.set_metrics(Err(
        "the server could not find the requested resource".into()
    ));
    s.reconcile().await;
    let calls = s.writer.take();
    assert_eq!(
        writes(&calls),
        ["patch horizontalpodautoscalers/status default/web"]
    );
    let cause = "failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource";
    assert_eq!(
        events(&calls),
        [
            format!("Warning FailedGetResourceMetric {cause}"),
            format!(
                "Warning FailedComputeMetricsReplicas invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: {cause}"
            ),
        ]
    );
    let status = &patch_of(&calls, "status").unwrap()["status"];
    assert_eq!(status["currentReplicas"], 3);
    assert_eq!(reason(status, "AbleToScale"), "True SucceededGetScale");
    assert_eq!(
        reason(status, "ScalingActive"),
        "False FailedGetResourceMetric"
    );
    assert_eq!(
        condition(status, "ScalingActive")["message"],
        format!("the HPA was unable to compute the replica count: {cause}")
    );
}

#[tokio::test]
async fn missing_requests_fail_the_metric() {
    let s = setup(hpa("web", 10, vec![cpu(50)]), 1);
    let mut p = pod(0);
    p.spec.as_mut().unwrap().containers[0].resources = None;
    s.ctx.informers.pods.apply(p);
    s.fake.set_metrics(Ok(usage(&["900m"])));
    s.reconcile().await;
    let calls = s.writer.take();
    assert!(patch_of(&calls, "scale").is_none());
    assert_eq!(
        events(&calls)[0],
        "Warning FailedGetResourceMetric failed to get cpu utilization: missing request for cpu in container app of Pod web-0"
    );
}

#[tokio::test]
async fn unsupported_metrics_fail_alone_unless_the_others_would_scale_down() {
    // Pods metrics cannot be read, cpu wants 6: scale up on cpu.
    let s = setup(hpa("web", 10, vec![qps(), cpu(50)]), 3);
    s.fake.set_metrics(Ok(usage(&["900m", "900m", "900m"])));
    s.reconcile().await;
    let calls = s.writer.take();
    assert_eq!(
        patch_of(&calls, "scale").unwrap(),
        json!({"spec": {"replicas": 6}})
    );
    let events = events(&calls);
    assert_eq!(
        events[0],
        "Warning FailedGetPodsMetric unable to get metric qps: unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered"
    );
    assert!(events[1].starts_with("Normal SuccessfulRescale New size: 6"));
    let status = &patch_of(&calls, "status").unwrap()["status"];
    assert_eq!(reason(status, "ScalingActive"), "True ValidMetricFound");
    assert_eq!(status["currentMetrics"][0], json!({"type": ""}));
    assert_eq!(status["currentMetrics"][1]["type"], "Resource");

    // cpu alone would scale down, but qps might want more: no change.
    let s = setup(hpa("web", 10, vec![qps(), cpu(50)]), 3);
    s.fake.set_metrics(Ok(usage(&["100m", "100m", "100m"])));
    s.reconcile().await;
    let calls = s.writer.take();
    assert!(patch_of(&calls, "scale").is_none());
    let status = &patch_of(&calls, "status").unwrap()["status"];
    assert_eq!(reason(status, "ScalingActive"), "False FailedGetPodsMetric");
}

#[tokio::test]
async fn memory_average_value_and_one_metrics_read_for_two_metrics() {
    let memory = MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "memory".into(),
            target: MetricTarget {
                type_: "AverageValue".into(),
                average_value: Some(Quantity("100Mi".into())),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    let s = setup(hpa("web", 10, vec![cpu(50), memory]), 2);
    // cpu within tolerance (2), memory twice the target (4).
    s.fake.set_metrics(Ok(usage(&["500m", "500m"])));
    s.reconcile().await;
    let calls = s.writer.take();
    assert_eq!(s.fake.metric_reads.load(Ordering::SeqCst), 1);
    assert_eq!(
        patch_of(&calls, "scale").unwrap(),
        json!({"spec": {"replicas": 4}})
    );
    assert_eq!(
        events(&calls),
        ["Normal SuccessfulRescale New size: 4; reason: memory resource above target"]
    );
    let status = &patch_of(&calls, "status").unwrap()["status"];
    assert_eq!(
        status["currentMetrics"][1],
        json!({"type": "Resource", "resource": {"name": "memory",
            "current": {"averageValue": "209715200"}}})
    );
}

#[tokio::test]
async fn a_target_at_zero_disables_scaling() {
    let s = setup(hpa("web", 10, vec![cpu(50)]), 0);
    s.reconcile().await;
    let calls = s.writer.take();
    assert_eq!(
        writes(&calls),
        ["patch horizontalpodautoscalers/status default/web"]
    );
    let status = &patch_of(&calls, "status").unwrap()["status"];
    assert_eq!(status["desiredReplicas"], 0);
    assert!(status.get("currentReplicas").is_none());
    assert_eq!(reason(status, "ScalingActive"), "False ScalingDisabled");
    assert_eq!(
        condition(status, "ScalingActive")["message"],
        "scaling is disabled since the replica count of the target is zero"
    );
    assert_eq!(s.fake.metric_reads.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_target_above_max_is_scaled_to_max_without_metrics() {
    let s = setup(hpa("web", 4, vec![cpu(50)]), 7);
    s.reconcile().await;
    let calls = s.writer.take();
    assert_eq!(
        patch_of(&calls, "scale").unwrap(),
        json!({"spec": {"replicas": 4}})
    );
    assert_eq!(
        events(&calls),
        [
            "Normal SuccessfulRescale New size: 4; reason: Current number of replicas above Spec.MaxReplicas"
        ]
    );
    assert_eq!(s.fake.metric_reads.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn scale_failures_are_reported() {
    let s = setup(hpa("web", 10, vec![cpu(50)]), 3);
    s.fake.set_scale(
        "deployments",
        Err("deployments.apps \"web\" not found".into()),
    );
    s.reconcile().await;
    let calls = s.writer.take();
    assert_eq!(
        events(&calls),
        ["Warning FailedGetScale deployments.apps \"web\" not found"]
    );
    let status = &patch_of(&calls, "status").unwrap()["status"];
    assert_eq!(reason(status, "AbleToScale"), "False FailedGetScale");
    assert_eq!(
        condition(status, "AbleToScale")["message"],
        "the HPA controller was unable to get the target's current scale: deployments.apps \"web\" not found"
    );

    // An unknown kind.
    let mut h = hpa("web", 10, vec![cpu(50)]);
    h.spec.as_mut().unwrap().scale_target_ref.api_version = Some("example.com/v1".into());
    h.spec.as_mut().unwrap().scale_target_ref.kind = "Widget".into();
    let s = setup(h, 3);
    s.reconcile().await;
    assert_eq!(
        events(&s.writer.take()),
        ["Warning FailedGetScale no matches for kind \"Widget\" in group \"example.com\""]
    );
}

#[tokio::test]
async fn custom_resources_are_scaled_through_discovery() {
    let mut h = hpa("web", 10, vec![cpu(50)]);
    h.spec.as_mut().unwrap().scale_target_ref.api_version = Some("example.com/v1".into());
    h.spec.as_mut().unwrap().scale_target_ref.kind = "Widget".into();
    let s = setup(h, 3);
    let widgets = ApiResource {
        group: "example.com".into(),
        version: "v1".into(),
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    s.fake
        .kinds
        .lock()
        .unwrap()
        .insert("example.com/Widget".into(), widgets);
    s.fake.set_scale("widgets", Ok(scale("web", 3)));
    s.fake.set_metrics(Ok(usage(&["900m", "900m", "900m"])));
    s.reconcile().await;
    let calls = s.writer.take();
    assert_eq!(writes(&calls)[0], "patch widgets/scale default/web");
}

#[tokio::test]
async fn pods_claimed_by_two_hpas_are_ambiguous() {
    let s = setup(hpa("web", 10, vec![cpu(50)]), 3);
    s.ctx
        .informers
        .horizontal_pod_autoscalers
        .apply(hpa("other", 10, vec![cpu(50)]));
    s.fake.set_metrics(Ok(usage(&["900m", "900m", "900m"])));
    s.controller
        .reconcile(&Key::new("default", "other"))
        .await
        .unwrap();
    s.writer.take();
    s.reconcile().await;
    let calls = s.writer.take();
    assert!(patch_of(&calls, "scale").is_none());
    let message =
        "pods by selector app=web are controlled by multiple HPAs: [default/other default/web]";
    assert_eq!(
        events(&calls),
        [
            format!("Warning AmbiguousSelector {message}"),
            format!("Warning FailedComputeMetricsReplicas {message}"),
        ]
    );
    // Once the other is gone, it scales.
    s.ctx
        .informers
        .horizontal_pod_autoscalers
        .delete(&Key::new("default", "other"));
    let gone = s
        .controller
        .reconcile(&Key::new("default", "other"))
        .await
        .unwrap();
    assert_eq!(gone, None);
    s.reconcile().await;
    assert!(patch_of(&s.writer.take(), "scale").is_some());
}

#[tokio::test(start_paused = true)]
async fn one_periodic_reconcile_per_hpa() {
    let s = setup(hpa("web", 10, vec![cpu(50)]), 3);
    s.fake.set_metrics(Ok(usage(&["500m", "500m", "500m"])));
    assert_eq!(s.reconcile().await, Some(Duration::from_secs(15)));
    // A reconcile in between (a spec change) does not start a second chain.
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(s.reconcile().await, None);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(s.reconcile().await, Some(Duration::from_secs(15)));
}

#[tokio::test]
async fn spec_changes_queue_the_hpa_and_status_writes_do_not() {
    let (ctx, _) = Context::for_tests();
    ctx.informers
        .horizontal_pod_autoscalers
        .apply(hpa("web", 10, vec![cpu(50)]));
    let (_, queue) = start(&ctx);
    let key = Key::new("default", "web");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(queue.len(), 1);
    let next = queue.next().await.unwrap();
    queue.done(&next);

    let mut h = hpa("web", 10, vec![cpu(50)]);
    h.status = Some(HorizontalPodAutoscalerStatus {
        desired_replicas: 3,
        ..Default::default()
    });
    ctx.informers.horizontal_pod_autoscalers.apply(h.clone());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(queue.is_empty());

    h.metadata.generation = Some(3);
    ctx.informers.horizontal_pod_autoscalers.apply(h);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(queue.next().await.unwrap(), key);
}

#[test]
fn group_versions_parse_as_upstream() {
    assert_eq!(group_version("apps/v1"), Ok(("apps", "v1")));
    assert_eq!(group_version("v1"), Ok(("", "v1")));
    assert_eq!(group_version(""), Ok(("", "")));
    assert_eq!(
        group_version("a/b/c"),
        Err("unexpected GroupVersion string: a/b/c".into())
    );
}
