//! Namespaces (upstream's `describeNamespace`) with their ResourceQuotas and LimitRanges.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};

use super::tabwriter::Writer;
use super::text;

pub fn describe(
    ns: &Namespace,
    quotas: Option<Vec<ResourceQuota>>,
    limits: Option<Vec<LimitRange>>,
) -> String {
    let mut w = Writer::new();
    let meta = &ns.metadata;
    w.write(
        0,
        &format!("Name:\t{}\n", meta.name.as_deref().unwrap_or_default()),
    );
    text::labels(&mut w, "Labels", meta.labels.as_ref());
    text::annotations(&mut w, "Annotations", meta.annotations.as_ref());
    let status = ns.status.clone().unwrap_or_default();
    w.write(
        0,
        &format!("Status:\t{}\n", status.phase.as_deref().unwrap_or_default()),
    );
    let conditions = status.conditions.unwrap_or_default();
    if !conditions.is_empty() {
        w.write(0, "Conditions:\n");
        w.write(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage\n");
        w.write(1, "----\t------\t------------------\t------\t-------\n");
        for c in &conditions {
            w.write(
                1,
                &format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    c.type_,
                    c.status,
                    text::time(c.last_transition_time.as_ref()),
                    c.reason.as_deref().unwrap_or_default(),
                    c.message.as_deref().unwrap_or_default()
                ),
            );
        }
    }
    if let Some(mut quotas) = quotas {
        w.write(0, "\n");
        if quotas.is_empty() {
            w.write(0, "No resource quota.\n");
        } else {
            quotas.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            w.write(0, "Resource Quotas\n");
            for q in &quotas {
                describe_quota(&mut w, q);
            }
        }
    }
    if let Some(limits) = limits {
        w.write(0, "\n");
        if limits.is_empty() {
            w.write(0, "No LimitRange resource.\n");
        } else {
            w.write(
                0,
                "Resource Limits\n Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\tMax Limit/Request Ratio\n",
            );
            w.write(
                0,
                " ----\t--------\t---\t---\t---------------\t-------------\t-----------------------\n",
            );
            for l in &limits {
                describe_limits(&mut w, l);
            }
        }
    }
    w.finish()
}

const SCOPE_HELP: [(&str, &str); 4] = [
    (
        "Terminating",
        "Matches all pods that have an active deadline. These pods have a limited lifespan on a node before being actively terminated by the system.",
    ),
    (
        "NotTerminating",
        "Matches all pods that do not have an active deadline. These pods usually include long running pods whose container command is not expected to terminate.",
    ),
    (
        "BestEffort",
        "Matches all pods that do not have resource requirements set. These pods have a best effort quality of service.",
    ),
    (
        "NotBestEffort",
        "Matches all pods that have at least one resource requirement set. These pods have a burstable or guaranteed quality of service.",
    ),
];

fn describe_quota(w: &mut Writer, q: &ResourceQuota) {
    w.write(
        1,
        &format!(
            "Name:\t{}\n",
            q.metadata.name.as_deref().unwrap_or_default()
        ),
    );
    let mut scopes = q
        .spec
        .as_ref()
        .and_then(|s| s.scopes.clone())
        .unwrap_or_default();
    if !scopes.is_empty() {
        scopes.sort();
        w.write(1, &format!("Scopes:\t{}\n", scopes.join(", ")));
        for s in &scopes {
            if let Some((_, help)) = SCOPE_HELP.iter().find(|(n, _)| n == s) {
                w.write(1, &format!("* {help}\n"));
            }
        }
    }
    w.write(1, "Resource\tUsed\tHard\n");
    w.write(1, "--------\t---\t---\n");
    let status = q.status.clone().unwrap_or_default();
    let used = status.used.unwrap_or_default();
    for (name, hard) in status.hard.iter().flatten() {
        let used = used
            .get(name)
            .map_or_else(|| "0".to_owned(), |u| text::quantity(u).to_string());
        w.write(1, &format!("{name}\t{used}\t{}\n", text::quantity(hard)));
    }
}

/// `describeLimitRangeSpec`. Upstream walks each item's resources in Go's random map order;
/// here they are sorted, which is one of the orders kubectl prints.
fn describe_limits(w: &mut Writer, l: &LimitRange) {
    for item in l.spec.as_ref().map(|s| &s.limits[..]).unwrap_or_default() {
        let lists = [
            &item.min,
            &item.max,
            &item.default_request,
            &item.default,
            &item.max_limit_request_ratio,
        ];
        let names: BTreeSet<&String> = lists
            .iter()
            .flat_map(|l| l.iter().flatten().map(|(k, _)| k))
            .collect();
        for name in names {
            let values: Vec<String> = lists
                .iter()
                .map(|l| {
                    l.as_ref()
                        .and_then(|l| l.get(name))
                        .map_or_else(|| "-".to_owned(), |q| text::quantity(q).to_string())
                })
                .collect();
            w.write(
                0,
                &format!(" {}\t{name}\t{}\n", item.type_, values.join("\t")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_namespace_without_quotas_or_limits_says_so() {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "default",
            "labels": {"kubernetes.io/metadata.name": "default"}},
            "status": {"phase": "Active"}}))
        .unwrap();
        assert_eq!(
            describe(&ns, Some(Vec::new()), Some(Vec::new())),
            "Name:         default\nLabels:       kubernetes.io/metadata.name=default\nAnnotations:  <none>\nStatus:       Active\n\nNo resource quota.\n\nNo LimitRange resource.\n"
        );
        let limits: LimitRange = serde_json::from_value(json!({"metadata": {"name": "l"},
            "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"},
                "default": {"cpu": "500m", "memory": "1Gi"}}]}}))
        .unwrap();
        let out = describe(&ns, None, Some(vec![limits]));
        assert!(
            out.contains(" Container  cpu       -    2    -                500m"),
            "{out}"
        );
    }
}
