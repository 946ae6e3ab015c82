//! DaemonSets, StatefulSets and Jobs (upstream's `describeDaemonSet`, `describeStatefulSet`,
//! `describeJob`).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::tabwriter::Writer;
use super::{pod, text};

/// Pods by phase: running, waiting, succeeded, failed.
pub type Counts = [usize; 4];

fn pods_status(w: &mut Writer, [r, wt, s, f]: Counts) {
    w.write(
        0,
        &format!("Pods Status:\t{r} Running / {wt} Waiting / {s} Succeeded / {f} Failed\n"),
    );
}

fn name_and_namespace(w: &mut Writer, meta: &ObjectMeta) {
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
}

pub fn describe_daemon_set(ds: &DaemonSet, counts: Counts, events: Option<Vec<Event>>) -> String {
    let mut w = Writer::new();
    let meta = &ds.metadata;
    let spec = ds.spec.clone().unwrap_or_default();
    let status = ds.status.clone().unwrap_or_default();
    w.write(
        0,
        &format!("Name:\t{}\n", meta.name.as_deref().unwrap_or_default()),
    );
    w.write(
        0,
        &format!("Selector:\t{}\n", text::selector(Some(&spec.selector))),
    );
    let node_selector = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.node_selector.as_ref());
    // `labels.FormatLabels` of a node selector: `<none>` when empty.
    w.write(
        0,
        &format!("Node-Selector:\t{}\n", text::format_labels(node_selector)),
    );
    text::labels(&mut w, "Labels", meta.labels.as_ref());
    text::annotations(&mut w, "Annotations", meta.annotations.as_ref());
    for (title, n) in [
        (
            "Desired Number of Nodes Scheduled",
            status.desired_number_scheduled,
        ),
        (
            "Current Number of Nodes Scheduled",
            status.current_number_scheduled,
        ),
        (
            "Number of Nodes Scheduled with Up-to-date Pods",
            status.updated_number_scheduled.unwrap_or_default(),
        ),
        (
            "Number of Nodes Scheduled with Available Pods",
            status.number_available.unwrap_or_default(),
        ),
        ("Number of Nodes Misscheduled", status.number_misscheduled),
    ] {
        w.write(0, &format!("{title}: {n}\n"));
    }
    pods_status(&mut w, counts);
    pod::template(&mut w, &spec.template);
    text::events(&mut w, events);
    w.finish()
}

pub fn describe_stateful_set(
    ss: &StatefulSet,
    counts: Counts,
    events: Option<Vec<Event>>,
) -> String {
    let mut w = Writer::new();
    let meta = &ss.metadata;
    let spec = ss.spec.clone().unwrap_or_default();
    name_and_namespace(&mut w, meta);
    w.write(
        0,
        &format!(
            "CreationTimestamp:\t{}\n",
            text::time(meta.creation_timestamp.as_ref())
        ),
    );
    w.write(
        0,
        &format!("Selector:\t{}\n", text::selector(Some(&spec.selector))),
    );
    text::labels(&mut w, "Labels", meta.labels.as_ref());
    text::annotations(&mut w, "Annotations", meta.annotations.as_ref());
    w.write(
        0,
        &format!(
            "Replicas:\t{} desired | {} total\n",
            spec.replicas.unwrap_or(1),
            ss.status.as_ref().map_or(0, |s| s.replicas)
        ),
    );
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    w.write(
        0,
        &format!(
            "Update Strategy:\t{}\n",
            strategy.type_.as_deref().unwrap_or_default()
        ),
    );
    if let Some(ru) = &strategy.rolling_update
        && let Some(p) = ru.partition
    {
        w.write(1, &format!("Partition:\t{p}\n"));
        if let Some(m) = &ru.max_unavailable {
            let m = match m {
                IntOrString::Int(i) => i.to_string(),
                IntOrString::String(s) => s.clone(),
            };
            w.write(1, &format!("MaxUnavailable:\t{m}\n"));
        }
    }
    pods_status(&mut w, counts);
    pod::template(&mut w, &spec.template);
    let templates = spec.volume_claim_templates.clone().unwrap_or_default();
    if templates.is_empty() {
        w.write(0, "Volume Claims:\t<none>\n");
    } else {
        w.write(0, "Volume Claims:\n");
        for pvc in &templates {
            let pvc_spec = pvc.spec.clone().unwrap_or_default();
            w.write(
                1,
                &format!(
                    "Name:\t{}\n",
                    pvc.metadata.name.as_deref().unwrap_or_default()
                ),
            );
            // `storageutil.GetPersistentVolumeClaimClass`: the beta annotation, else the field.
            let class = pvc
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class").cloned())
                .or(pvc_spec.storage_class_name.clone())
                .unwrap_or_default();
            w.write(1, &format!("StorageClass:\t{class}\n"));
            let meta = &pvc.metadata;
            text::labels_indented(&mut w, "  ", "Labels", meta.labels.as_ref());
            text::labels_indented(&mut w, "  ", "Annotations", meta.annotations.as_ref());
            let capacity = pvc_spec
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get("storage"))
                .map_or_else(|| "<default>".to_owned(), |q| text::quantity(q).to_string());
            w.write(1, &format!("Capacity:\t{capacity}\n"));
            let modes = pvc_spec.access_modes.unwrap_or_default().join(" ");
            w.write(1, &format!("Access Modes:\t[{modes}]\n"));
        }
    }
    text::events(&mut w, events);
    w.finish()
}

/// `capIndexesListOrNone`: the completed indexes, cut after the first comma past `limit`.
fn cap_indexes(indexes: &str, limit: usize) -> String {
    if indexes.is_empty() {
        return "<none>".to_owned();
    }
    match indexes
        .bytes()
        .enumerate()
        .skip(limit)
        .find(|(_, b)| *b == b',')
    {
        Some((ix, _)) => format!("{}...", &indexes[..=ix]),
        None => indexes.to_owned(),
    }
}

pub fn describe_job(job: &Job, events: Option<Vec<Event>>) -> String {
    let mut w = Writer::new();
    let meta = &job.metadata;
    let spec = job.spec.clone().unwrap_or_default();
    let status = job.status.clone().unwrap_or_default();
    name_and_namespace(&mut w, meta);
    w.write(
        0,
        &format!("Selector:\t{}\n", text::selector(spec.selector.as_ref())),
    );
    text::labels(&mut w, "Labels", meta.labels.as_ref());
    text::annotations(&mut w, "Annotations", meta.annotations.as_ref());
    if let Some(c) = pod::controller(meta) {
        w.write(0, &format!("Controlled By:\t{c}\n"));
    }
    if let Some(p) = spec.parallelism {
        w.write(0, &format!("Parallelism:\t{p}\n"));
    }
    match spec.completions {
        Some(c) => w.write(0, &format!("Completions:\t{c}\n")),
        None => w.write(0, "Completions:\t<unset>\n"),
    }
    if let Some(m) = &spec.completion_mode {
        w.write(0, &format!("Completion Mode:\t{m}\n"));
    }
    if let Some(s) = spec.suspend {
        w.write(0, &format!("Suspend:\t{s}\n"));
    }
    if let Some(b) = spec.backoff_limit {
        w.write(0, &format!("Backoff Limit:\t{b}\n"));
    }
    if let Some(t) = spec.ttl_seconds_after_finished {
        w.write(0, &format!("TTL Seconds After Finished:\t{t}\n"));
    }
    if let Some(t) = &status.start_time {
        w.write(0, &format!("Start Time:\t{}\n", text::rfc1123z(&t.0)));
    }
    if let Some(t) = &status.completion_time {
        w.write(0, &format!("Completed At:\t{}\n", text::rfc1123z(&t.0)));
    }
    if let (Some(start), Some(end)) = (&status.start_time, &status.completion_time) {
        let secs = (end.0.as_second() - start.0.as_second()).max(0) as u64;
        w.write(
            0,
            &format!(
                "Duration:\t{}\n",
                barge_api::table::human_duration(Duration::from_secs(secs))
            ),
        );
    }
    if let Some(d) = spec.active_deadline_seconds {
        w.write(0, &format!("Active Deadline Seconds:\t{d}s\n"));
    }
    let (active, succeeded, failed) = (
        status.active.unwrap_or_default(),
        status.succeeded.unwrap_or_default(),
        status.failed.unwrap_or_default(),
    );
    match status.ready {
        None => w.write(
            0,
            &format!("Pods Statuses:\t{active} Active / {succeeded} Succeeded / {failed} Failed\n"),
        ),
        Some(ready) => w.write(
            0,
            &format!(
                "Pods Statuses:\t{active} Active ({ready} Ready) / {succeeded} Succeeded / {failed} Failed\n"
            ),
        ),
    }
    if spec.completion_mode.as_deref() == Some("Indexed") {
        w.write(
            0,
            &format!(
                "Completed Indexes:\t{}\n",
                cap_indexes(status.completed_indexes.as_deref().unwrap_or_default(), 50)
            ),
        );
    }
    pod::template(&mut w, &spec.template);
    text::events(&mut w, events);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn completed_indexes_are_capped_after_a_comma() {
        assert_eq!(cap_indexes("", 50), "<none>");
        assert_eq!(cap_indexes("1-3,5", 50), "1-3,5");
        assert_eq!(cap_indexes("1,3,5,7,9", 3), "1,3,...");
        assert_eq!(cap_indexes("10,30,50", 4), "10,30,...");
    }

    #[test]
    fn a_job_prints_its_pod_statuses() {
        let job: Job = serde_json::from_value(json!({"metadata": {"name": "j",
            "namespace": "default"},
            "spec": {"completions": 3, "parallelism": 1, "backoffLimit": 6,
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"active": 1, "ready": 0, "succeeded": 2}}))
        .unwrap();
        let out = describe_job(&job, None);
        assert!(
            out.contains("Pods Statuses:  1 Active (0 Ready) / 2 Succeeded / 0 Failed\n"),
            "{out}"
        );
        assert!(out.contains("Completions:    3\n"), "{out}");
    }
}
