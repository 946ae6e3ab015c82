//! Deployments and ReplicaSets (upstream's `describeDeployment`, `describeReplicaSet`).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::pod;
use super::tabwriter::Writer;
use super::text;

fn int_or_string(v: Option<&IntOrString>) -> String {
    match v {
        Some(IntOrString::Int(i)) => i.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "0".to_owned(),
    }
}

/// The ReplicaSets of a deployment as `deploymentutil.GetAllReplicaSets` splits them: all the
/// old ones (scaled down or not, as describe shows them), and the new one (the oldest whose template is the
/// deployment's, the `pod-template-hash` label aside).
pub fn split_replica_sets(
    d: &Deployment,
    mut owned: Vec<ReplicaSet>,
) -> (Vec<ReplicaSet>, Option<ReplicaSet>) {
    owned.sort_by(|a, b| {
        let t = |r: &ReplicaSet| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
        t(a).cmp(&t(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let template = |t: &k8s_openapi::api::core::v1::PodTemplateSpec| {
        let mut v = serde_json::to_value(t).unwrap_or_default();
        if let Some(labels) = v
            .get_mut("metadata")
            .and_then(|m| m.get_mut("labels"))
            .and_then(Value::as_object_mut)
        {
            labels.remove("pod-template-hash");
            if labels.is_empty() {
                v["metadata"].as_object_mut().map(|m| m.remove("labels"));
            }
        }
        v
    };
    let want = d
        .spec
        .as_ref()
        .map(|s| template(&s.template))
        .unwrap_or_default();
    let new = owned
        .iter()
        .find(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| template(t) == want)
        })
        .cloned();
    let new_uid = new.as_ref().and_then(|n| n.metadata.uid.clone());
    let old = owned
        .into_iter()
        .filter(|rs| new_uid.is_none() || rs.metadata.uid != new_uid)
        .collect();
    (old, new)
}

fn replica_sets_by_labels(list: &[ReplicaSet]) -> String {
    let s: Vec<String> = list
        .iter()
        .map(|rs| {
            format!(
                "{} ({}/{} replicas created)",
                rs.metadata.name.as_deref().unwrap_or_default(),
                rs.status.as_ref().map_or(0, |s| s.replicas),
                rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
            )
        })
        .collect();
    if s.is_empty() {
        "<none>".to_owned()
    } else {
        s.join(", ")
    }
}

pub fn describe_deployment(
    d: &Deployment,
    replica_sets: Option<(Vec<ReplicaSet>, Option<ReplicaSet>)>,
    events: Option<Vec<Event>>,
) -> String {
    let mut w = Writer::new();
    let meta = &d.metadata;
    let spec = d.spec.clone().unwrap_or_default();
    let status = d.status.clone().unwrap_or_default();
    w.write(
        0,
        &format!("Name:\t{}\n", meta.name.as_deref().unwrap_or_default()),
    );
    w.write(
        0,
        &format!(
            "Namespace:\t{}\n",
            meta.namespace.as_deref().unwrap_or_default()
        ),
    );
    w.write(
        0,
        &format!(
            "CreationTimestamp:\t{}\n",
            text::time(meta.creation_timestamp.as_ref())
        ),
    );
    text::labels(&mut w, "Labels", meta.labels.as_ref());
    text::annotations(&mut w, "Annotations", meta.annotations.as_ref());
    w.write(
        0,
        &format!("Selector:\t{}\n", text::selector(Some(&spec.selector))),
    );
    w.write(
        0,
        &format!(
            "Replicas:\t{} desired | {} updated | {} total | {} available | {} unavailable\n",
            spec.replicas.unwrap_or(1),
            status.updated_replicas.unwrap_or_default(),
            status.replicas.unwrap_or_default(),
            status.available_replicas.unwrap_or_default(),
            status.unavailable_replicas.unwrap_or_default()
        ),
    );
    let strategy = spec.strategy.clone().unwrap_or_default();
    w.write(
        0,
        &format!(
            "StrategyType:\t{}\n",
            strategy.type_.as_deref().unwrap_or_default()
        ),
    );
    w.write(
        0,
        &format!(
            "MinReadySeconds:\t{}\n",
            spec.min_ready_seconds.unwrap_or_default()
        ),
    );
    if let Some(ru) = &strategy.rolling_update {
        w.write(
            0,
            &format!(
                "RollingUpdateStrategy:\t{} max unavailable, {} max surge\n",
                int_or_string(ru.max_unavailable.as_ref()),
                int_or_string(ru.max_surge.as_ref())
            ),
        );
    }
    pod::template(&mut w, &spec.template);
    let conditions = status.conditions.unwrap_or_default();
    if !conditions.is_empty() {
        w.write(0, "Conditions:\n  Type\tStatus\tReason\n");
        w.write(1, "----\t------\t------\n");
        for c in &conditions {
            w.write(
                1,
                &format!(
                    "{} \t{}\t{}\n",
                    c.type_,
                    c.status,
                    c.reason.as_deref().unwrap_or_default()
                ),
            );
        }
    }
    if let Some((old, new)) = replica_sets
        && (!old.is_empty() || new.is_some())
    {
        w.write(
            0,
            &format!("OldReplicaSets:\t{}\n", replica_sets_by_labels(&old)),
        );
        let new: Vec<ReplicaSet> = new.into_iter().collect();
        w.write(
            0,
            &format!("NewReplicaSet:\t{}\n", replica_sets_by_labels(&new)),
        );
    }
    text::events(&mut w, events);
    w.finish()
}

/// `getPodStatusForController`: the pods the controller with `uid` controls, by phase
/// (running, waiting, succeeded, failed).
pub fn pod_counts(pods: &[Pod], uid: &str) -> [usize; 4] {
    let mut counts = [0; 4];
    for p in pods {
        let controlled = p
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && o.uid == uid);
        if !controlled {
            continue;
        }
        let i = match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Running") => 0,
            Some("Pending") => 1,
            Some("Succeeded") => 2,
            Some("Failed") => 3,
            _ => continue,
        };
        counts[i] += 1;
    }
    counts
}

pub fn describe_replica_set(
    rs: &ReplicaSet,
    pods: Result<[usize; 4], String>,
    events: Option<Vec<Event>>,
) -> String {
    let mut w = Writer::new();
    let meta = &rs.metadata;
    let spec = rs.spec.clone().unwrap_or_default();
    w.write(
        0,
        &format!("Name:\t{}\n", meta.name.as_deref().unwrap_or_default()),
    );
    w.write(
        0,
        &format!(
            "Namespace:\t{}\n",
            meta.namespace.as_deref().unwrap_or_default()
        ),
    );
    w.write(
        0,
        &format!(
            "Selector:\t{}\n",
            text::format_selector(Some(&spec.selector))
        ),
    );
    text::labels(&mut w, "Labels", meta.labels.as_ref());
    text::annotations(&mut w, "Annotations", meta.annotations.as_ref());
    if let Some(c) = pod::controller(meta) {
        w.write(0, &format!("Controlled By:\t{c}\n"));
    }
    w.write(
        0,
        &format!(
            "Replicas:\t{} current / {} desired\n",
            rs.status.as_ref().map_or(0, |s| s.replicas),
            spec.replicas.unwrap_or(1)
        ),
    );
    w.write(0, "Pods Status:\t");
    match pods {
        Err(e) => w.write(0, &format!("error in fetching pods: {e}\n")),
        Ok([r, wt, s, f]) => w.write(
            0,
            &format!("{r} Running / {wt} Waiting / {s} Succeeded / {f} Failed\n"),
        ),
    }
    pod::template(&mut w, &spec.template.clone().unwrap_or_default());
    let conditions = rs
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    if !conditions.is_empty() {
        w.write(0, "Conditions:\n  Type\tStatus\tReason\n");
        w.write(1, "----\t------\t------\n");
        for c in &conditions {
            w.write(
                1,
                &format!(
                    "{} \t{}\t{}\n",
                    c.type_,
                    c.status,
                    c.reason.as_deref().unwrap_or_default()
                ),
            );
        }
    }
    text::events(&mut w, events);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(name: &str, uid: &str, image: &str, replicas: i32, created: &str) -> ReplicaSet {
        serde_json::from_value(json!({"metadata": {"name": name, "uid": uid,
            "creationTimestamp": created},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": uid}},
                    "spec": {"containers": [{"name": "c", "image": image}]}}}}))
        .unwrap()
    }

    #[test]
    fn the_new_replica_set_has_the_deployments_template() {
        let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}))
        .unwrap();
        let list = vec![
            rs("web-b", "b", "nginx:2", 2, "2026-01-02T00:00:00Z"),
            rs("web-a", "a", "nginx:1", 1, "2026-01-01T00:00:00Z"),
            rs("web-c", "c", "nginx:0", 0, "2026-01-01T00:00:00Z"),
        ];
        let (old, new) = split_replica_sets(&d, list);
        assert_eq!(new.unwrap().metadata.name.as_deref(), Some("web-b"));
        assert_eq!(
            replica_sets_by_labels(&old),
            "web-a (0/1 replicas created), web-c (0/0 replicas created)"
        );
        let out = describe_deployment(&d, Some((old, None)), None);
        assert!(out.contains("NewReplicaSet:"), "{out}");
        assert!(!out.contains("RollingUpdateStrategy"));
    }
}
