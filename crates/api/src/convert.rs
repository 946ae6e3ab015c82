//! Conversion between the versions of a resource that upstream stores in one place: core/v1
//! and events.k8s.io/v1 Events (stored as core/v1), and autoscaling/v1 and v2
//! HorizontalPodAutoscalers (stored as autoscaling/v2). An object is stored in its storage version
//! and converted to the version of each request on the way out, so `kubectl autoscale` (v1) and
//! `kubectl get hpa` (v2), or a controller's events.k8s.io Event and `kubectl describe` (core),
//! see the same objects.

use serde_json::{Map, Value, json};

/// The version objects of `group`/`kind` are stored in, when several versions share storage.
pub fn storage_version(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("" | "events.k8s.io", "Event") => Some("v1"),
        ("autoscaling", "HorizontalPodAutoscaler") => Some("autoscaling/v2"),
        _ => None,
    }
}

/// Converts `obj` to `api_version` (no change when it is already there or no conversion is
/// known).
pub fn convert(obj: &Value, api_version: &str) -> Value {
    let from = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    if from == api_version {
        return obj.clone();
    }
    match (kind, from, api_version) {
        ("Event", "v1", "events.k8s.io/v1") => core_to_events(obj),
        ("Event", "events.k8s.io/v1", "v1") => events_to_core(obj),
        ("HorizontalPodAutoscaler", "autoscaling/v1", "autoscaling/v2") => hpa_v1_to_v2(obj),
        ("HorizontalPodAutoscaler", "autoscaling/v2", "autoscaling/v1") => hpa_v2_to_v1(obj),
        _ => obj.clone(),
    }
}

/// Moves the fields named in `pairs` (from → to) of `src` into `dst`.
fn rename(src: &Map<String, Value>, dst: &mut Map<String, Value>, pairs: &[(&str, &str)]) {
    for (from, to) in pairs {
        if let Some(v) = src.get(*from).filter(|v| !v.is_null()) {
            dst.insert((*to).to_owned(), v.clone());
        }
    }
}

/// Fields with the same name in both Event versions.
const EVENT_SAME: &[(&str, &str)] = &[
    ("metadata", "metadata"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingInstance", "reportingInstance"),
    ("action", "action"),
    ("reason", "reason"),
    ("related", "related"),
    ("type", "type"),
];

/// core/v1 name → events.k8s.io/v1 name.
const EVENT_RENAMED: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

fn core_to_events(obj: &Value) -> Value {
    let src = obj.as_object().cloned().unwrap_or_default();
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    out.insert("kind".into(), json!("Event"));
    rename(&src, &mut out, EVENT_SAME);
    rename(&src, &mut out, EVENT_RENAMED);
    // Upstream's events.k8s.io requires eventTime; old core events only have timestamps.
    if out.get("eventTime").is_none_or(Value::is_null)
        && let Some(t) = src.get("firstTimestamp").and_then(Value::as_str)
    {
        out.insert("eventTime".into(), json!(t.replace('Z', ".000000Z")));
    }
    Value::Object(out)
}

fn events_to_core(obj: &Value) -> Value {
    let src = obj.as_object().cloned().unwrap_or_default();
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Event"));
    rename(&src, &mut out, EVENT_SAME);
    let back: Vec<(&str, &str)> = EVENT_RENAMED.iter().map(|(a, b)| (*b, *a)).collect();
    rename(&src, &mut out, &back);
    // kubectl prints the source component; events.k8s.io writers set reportingController.
    if out.get("source").is_none()
        && let Some(c) = src.get("reportingController").and_then(Value::as_str)
    {
        out.insert("source".into(), json!({"component": c}));
    }
    Value::Object(out)
}

fn hpa_v1_to_v2(obj: &Value) -> Value {
    let mut out = obj.clone();
    out["apiVersion"] = json!("autoscaling/v2");
    if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(target) = spec.remove("targetCPUUtilizationPercentage")
    {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                     "target": {"type": "Utilization", "averageUtilization": target}}}]),
        );
    }
    if let Some(status) = out.get_mut("status").and_then(Value::as_object_mut)
        && let Some(current) = status.remove("currentCPUUtilizationPercentage")
    {
        status.insert(
            "currentMetrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                     "current": {"averageUtilization": current}}}]),
        );
    }
    out
}

/// The cpu utilization target of a v2 metric list, which is all autoscaling/v1 can express.
fn cpu_utilization(metrics: &Value, field: &str) -> Option<Value> {
    metrics.as_array()?.iter().find_map(|m| {
        (m["type"] == "Resource" && m["resource"]["name"] == "cpu")
            .then(|| m["resource"][field]["averageUtilization"].clone())
            .filter(|v| !v.is_null())
    })
}

fn hpa_v2_to_v1(obj: &Value) -> Value {
    let mut out = obj.clone();
    out["apiVersion"] = json!("autoscaling/v1");
    if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut) {
        let metrics = spec.remove("metrics").unwrap_or(Value::Null);
        spec.remove("behavior");
        if let Some(t) = cpu_utilization(&metrics, "target") {
            spec.insert("targetCPUUtilizationPercentage".into(), t);
        }
    }
    if let Some(status) = out.get_mut("status").and_then(Value::as_object_mut) {
        let current = status.remove("currentMetrics").unwrap_or(Value::Null);
        status.remove("conditions");
        if let Some(c) = cpu_utilization(&current, "current") {
            status.insert("currentCPUUtilizationPercentage".into(), c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_convert_both_ways() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "pulled", "reason": "Pulled",
            "type": "Normal", "count": 2, "source": {"component": "kubelet"},
            "firstTimestamp": "2026-11-25T10:00:00Z"});
        let ev = convert(&core, "events.k8s.io/v1");
        assert_eq!(ev["regarding"]["name"], "p");
        assert_eq!(ev["note"], "pulled");
        assert_eq!(ev["deprecatedCount"], 2);
        assert_eq!(ev["eventTime"], "2026-11-25T10:00:00.000000Z");
        let back = convert(&ev, "v1");
        assert_eq!(back["involvedObject"], core["involvedObject"]);
        assert_eq!(back["message"], "pulled");
        assert_eq!(back["source"]["component"], "kubelet");
        let from_controller = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "x"}, "regarding": {"kind": "Deployment", "name": "web"},
            "reportingController": "deployment-controller", "note": "Scaled"});
        assert_eq!(
            convert(&from_controller, "v1")["source"]["component"],
            "deployment-controller"
        );
    }

    #[test]
    fn hpas_convert_both_ways() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "spec": {"minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50,
                     "scaleTargetRef": {"kind": "Deployment", "name": "web"}},
            "status": {"currentCPUUtilizationPercentage": 180, "currentReplicas": 1}});
        let v2 = convert(&v1, "autoscaling/v2");
        assert_eq!(
            v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            50
        );
        assert_eq!(
            v2["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"],
            180
        );
        assert_eq!(convert(&v2, "autoscaling/v1"), v1);
        assert_eq!(
            storage_version("autoscaling", "HorizontalPodAutoscaler"),
            Some("autoscaling/v2")
        );
        assert_eq!(storage_version("apps", "Deployment"), None);
    }
}
