//! The resource metrics API as the HPA reads it (upstream's `metrics/client.go`): the
//! `metrics.k8s.io/v1beta1` PodMetricsList on the wire, and the one sample per pod the replica
//! calculation takes from it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// A `PodMetricsList` (only what the HPA reads).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct PodMetricsList {
    #[serde(default)]
    pub items: Vec<PodMetrics>,
}

/// The usage of one pod's containers over `window`, sampled at `timestamp`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct PodMetrics {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub timestamp: Option<Time>,
    /// A Go duration (`15s`, `1m0s`).
    #[serde(default)]
    pub window: String,
    #[serde(default)]
    pub containers: Vec<ContainerMetrics>,
}

/// One container's usage by resource name (`cpu`, `memory`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct ContainerMetrics {
    pub name: String,
    #[serde(default)]
    pub usage: BTreeMap<String, Quantity>,
}

/// One pod's sample: its value in milli-units, when it was taken and over which window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub value: i64,
    pub timestamp: Timestamp,
    pub window: SignedDuration,
}

/// The samples of a metric by pod name (upstream's `PodMetricsInfo`).
pub type Samples = BTreeMap<String, Sample>;

/// A quantity in milli-units, rounded up as upstream's `MilliValue`; `None` if it does not
/// parse.
pub fn milli(q: &Quantity) -> Option<i64> {
    let q = barge_api::quantity::Quantity::parse(&q.0).ok()?;
    Some(
        q.milli_value()
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
    )
}

/// A milli-value as a quantity in canonical decimal form (upstream's
/// `NewMilliQuantity(v, DecimalSI).String()`: `250m`, `1`, `12582912`).
pub fn milli_quantity(value: i64) -> Quantity {
    let text = barge_api::quantity::Quantity::parse(&format!("{value}m"))
        .map(|q| q.to_string())
        .unwrap_or_else(|_| format!("{value}m"));
    Quantity(text)
}

/// The samples of `resource` from a PodMetricsList: each pod's sum over its containers (a pod
/// with no containers or a container without the resource has none), or only the container
/// `container` when it is not empty (an error if a pod has no such container).
pub fn resource_samples(
    items: &[PodMetrics],
    resource: &str,
    container: &str,
) -> Result<Samples, String> {
    if items.is_empty() {
        return Err("no metrics returned from resource metrics API".into());
    }
    let mut samples = Samples::new();
    for m in items {
        let name = m.metadata.name.clone().unwrap_or_default();
        let sample = |value| Sample {
            value,
            timestamp: m.timestamp.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0),
            window: go_duration(&m.window).unwrap_or(SignedDuration::ZERO),
        };
        if !container.is_empty() {
            let Some(c) = m.containers.iter().find(|c| c.name == container) else {
                return Err(format!(
                    "failed to get container metrics: container {container} not present in metrics for pod {}/{name}",
                    m.metadata.namespace.as_deref().unwrap_or_default()
                ));
            };
            if let Some(v) = c.usage.get(resource).and_then(milli) {
                samples.insert(name, sample(v));
            }
            continue;
        }
        let values: Option<Vec<i64>> = m
            .containers
            .iter()
            .map(|c| c.usage.get(resource).and_then(milli))
            .collect();
        match values {
            Some(v) if !v.is_empty() => {
                samples.insert(name, sample(v.iter().sum()));
            }
            _ => tracing::debug!(pod = name, resource, "missing resource metric"),
        }
    }
    Ok(samples)
}

/// A Go `time.Duration` string (`15s`, `1m0s`, `1.5s`, `500ms`, `1h2m3s`).
pub fn go_duration(text: &str) -> Option<SignedDuration> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(SignedDuration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        nanos += number * scale;
    }
    let d = SignedDuration::from_nanos(nanos.round() as i64);
    Some(if negative { -d } else { d })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations_parse() {
        assert_eq!(go_duration("15s"), Some(SignedDuration::from_secs(15)));
        assert_eq!(go_duration("1m0s"), Some(SignedDuration::from_secs(60)));
        assert_eq!(go_duration("1.5s"), Some(SignedDuration::from_millis(1500)));
        assert_eq!(go_duration("500ms"), Some(SignedDuration::from_millis(500)));
        assert_eq!(go_duration("1h2m3s"), Some(SignedDuration::from_secs(3723)));
        assert_eq!(go_duration("0"), Some(SignedDuration::ZERO));
        assert_eq!(go_duration(""), None);
        assert_eq!(go_duration("5x"), None);
    }

    #[test]
    fn milli_values_and_quantities() {
        assert_eq!(milli(&Quantity("1234567n".into())), Some(2));
        assert_eq!(milli(&Quantity("250m".into())), Some(250));
        assert_eq!(milli(&Quantity("1".into())), Some(1000));
        assert_eq!(
            milli(&Quantity("12Mi".into())),
            Some(12 * 1024 * 1024 * 1000)
        );
        assert_eq!(milli_quantity(250).0, "250m");
        assert_eq!(milli_quantity(1000).0, "1");
        assert_eq!(milli_quantity(12 * 1024 * 1024 * 1000).0, "12582912");
    }

    fn list() -> Vec<PodMetrics> {
        let list: PodMetricsList = serde_json::from_value(json!({
            "kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
            "items": [
                {"metadata": {"name": "a", "namespace": "ns"}, "timestamp": "2026-12-07T10:00:00Z",
                 "window": "15s", "containers": [
                    {"name": "app", "usage": {"cpu": "250m", "memory": "12Mi"}},
                    {"name": "side", "usage": {"cpu": "1000000n", "memory": "1Ki"}}]},
                {"metadata": {"name": "b", "namespace": "ns"}, "timestamp": "2026-12-07T10:00:00Z",
                 "window": "15s", "containers": [{"name": "app", "usage": {"memory": "1Mi"}}]},
                {"metadata": {"name": "c", "namespace": "ns"}, "timestamp": "2026-12-07T10:00:00Z",
                 "window": "15s", "containers": []}
            ]
        }))
        .unwrap();
        list.items
    }

    #[test]
    fn pod_samples_sum_containers_and_skip_incomplete_pods() {
        let cpu = resource_samples(&list(), "cpu", "").unwrap();
        assert_eq!(cpu.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(cpu["a"].value, 251);
        assert_eq!(cpu["a"].window, SignedDuration::from_secs(15));
        assert_eq!(cpu["a"].timestamp.to_string(), "2026-12-07T10:00:00Z");
        let memory = resource_samples(&list(), "memory", "").unwrap();
        assert_eq!(memory["a"].value, (12 * 1024 * 1024 + 1024) * 1000);
        assert_eq!(memory["b"].value, 1024 * 1024 * 1000);
        assert!(
            resource_samples(&[], "cpu", "")
                .unwrap_err()
                .contains("no metrics returned")
        );
    }

    #[test]
    fn container_samples_need_the_container_in_every_pod() {
        let items = &list()[..2];
        let app = resource_samples(items, "memory", "app").unwrap();
        assert_eq!(app["a"].value, 12 * 1024 * 1024 * 1000);
        let e = resource_samples(items, "cpu", "side").unwrap_err();
        assert_eq!(
            e,
            "failed to get container metrics: container side not present in metrics for pod ns/b"
        );
    }
}
