//! What every describer prints the same way: times, ages, label and annotation blocks,
//! tolerations and taints, selectors, resource lists and the Events table.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use barge_api::quantity::Quantity;
use k8s_openapi::api::core::v1::{Event, ResourceRequirements, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::jiff::Timestamp;

use super::gosort;
use super::tabwriter::Writer;

/// Go's `time.RFC1123Z` (`Mon, 07 Dec 2026 18:13:09 +0000`). kubectl prints in the local
/// zone; this prints UTC, which is the local zone where barge runs its clusters.
pub fn rfc1123z(t: &Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// [`rfc1123z`] of an optional time; Go prints the zero time for a missing one.
pub fn time(t: Option<&Time>) -> String {
    match t {
        Some(t) => rfc1123z(&t.0),
        None => "Mon, 01 Jan 0001 00:00:00 +0000".to_owned(),
    }
}

/// `translateTimestampSince`: the age of a time as kubectl prints it, `<unknown>` without one.
pub fn age(t: Option<&Timestamp>) -> String {
    let Some(t) = t else {
        return "<unknown>".to_owned();
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let secs = now - t.as_second();
    // `duration.HumanDuration`: slightly in the future is "0s", further is invalid.
    if secs < -1 {
        "<invalid>".to_owned()
    } else {
        barge_api::table::human_duration(Duration::from_secs(secs.max(0) as u64))
    }
}

/// `printLabelsMultilineWithIndent`: `title:` then one `key=value` a line, `<none>` if empty.
pub fn labels(w: &mut Writer, title: &str, labels: Option<&BTreeMap<String, String>>) {
    labels_indented(w, "", title, labels);
}

/// `printLabelsMultilineWithIndent` with an initial indent that continuation lines repeat.
pub fn labels_indented(
    w: &mut Writer,
    indent: &str,
    title: &str,
    labels: Option<&BTreeMap<String, String>>,
) {
    w.write(0, &format!("{indent}{title}:\t"));
    let labels = labels.filter(|l| !l.is_empty());
    let Some(labels) = labels else {
        w.line("<none>");
        return;
    };
    for (i, (k, v)) in labels.iter().enumerate() {
        if i != 0 {
            w.write(0, &format!("{indent}\t"));
        }
        w.write(0, &format!("{k}={v}\n"));
    }
}

const MAX_ANNOTATION_LEN: usize = 140;

/// `printAnnotationsMultiline`: long or multi-line values on lines of their own, shortened;
/// `kubectl.kubernetes.io/last-applied-configuration` left out.
pub fn annotations(w: &mut Writer, title: &str, annotations: Option<&BTreeMap<String, String>>) {
    w.write(0, &format!("{title}:\t"));
    let keys: Vec<(&String, &String)> = annotations
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "kubectl.kubernetes.io/last-applied-configuration")
        .collect();
    if keys.is_empty() {
        w.line("<none>");
        return;
    }
    for (i, (key, value)) in keys.into_iter().enumerate() {
        if i != 0 {
            w.write(0, "\t");
        }
        let value = value.strip_suffix('\n').unwrap_or(value);
        if value.len() + key.len() + 2 > MAX_ANNOTATION_LEN || value.contains('\n') {
            w.write(0, &format!("{key}:\n"));
            for s in value.split('\n') {
                w.write(0, &format!("\t  {}\n", shorten(s, MAX_ANNOTATION_LEN - 2)));
            }
        } else {
            w.write(0, &format!("{key}: {value}\n"));
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.len() > max {
        // Go slices bytes; stay on a character boundary.
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_owned()
    }
}

/// `printTolerationsMultilineWithIndent`, sorted by key.
pub fn tolerations(w: &mut Writer, title: &str, tolerations: Option<&Vec<Toleration>>) {
    w.write(0, &format!("{title}:\t"));
    let mut list: Vec<&Toleration> = tolerations.into_iter().flatten().collect();
    if list.is_empty() {
        w.line("<none>");
        return;
    }
    gosort::sort(&mut list, |a, b| a.key < b.key);
    for (i, t) in list.into_iter().enumerate() {
        if i != 0 {
            w.write(0, "\t");
        }
        let key = t.key.as_deref().unwrap_or_default();
        let value = t.value.as_deref().unwrap_or_default();
        let effect = t.effect.as_deref().unwrap_or_default();
        let mut s = key.to_owned();
        if !value.is_empty() {
            s.push_str(&format!("={value}"));
        }
        if !effect.is_empty() {
            s.push_str(&format!(":{effect}"));
        }
        if t.operator.as_deref() == Some("Exists") && value.is_empty() {
            if !key.is_empty() || !effect.is_empty() {
                s.push_str(" op=Exists");
            } else {
                s.push_str("op=Exists");
            }
        }
        if let Some(secs) = t.toleration_seconds {
            s.push_str(&format!(" for {secs}s"));
        }
        w.write(0, &format!("{s}\n"));
    }
}

/// `printTaintsMultilineWithIndent`, sorted by effect then key.
pub fn taints(w: &mut Writer, title: &str, taints: Option<&Vec<Taint>>) {
    w.write(0, &format!("{title}:\t"));
    let mut list: Vec<&Taint> = taints.into_iter().flatten().collect();
    if list.is_empty() {
        w.line("<none>");
        return;
    }
    let key = |t: &Taint| format!("{},{}", t.effect, t.key);
    gosort::sort(&mut list, |a, b| key(a) < key(b));
    for (i, t) in list.into_iter().enumerate() {
        if i != 0 {
            w.write(0, "\t");
        }
        // `Taint.ToString`: key[=value]:effect.
        let value = t.value.as_deref().unwrap_or_default();
        let s = if value.is_empty() {
            format!("{}:{}", t.key, t.effect)
        } else {
            format!("{}={}:{}", t.key, value, t.effect)
        };
        w.write(0, &format!("{s}\n"));
    }
}

/// `labels.FormatLabels`: `k=v,k2=v2` sorted, `<none>` when empty.
pub fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    let s: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if s.is_empty() {
        "<none>".to_owned()
    } else {
        s.join(",")
    }
}

/// `LabelSelectorAsSelector(s).String()`: requirements sorted by key, values sorted.
pub fn selector(s: Option<&LabelSelector>) -> String {
    let Some(s) = s else {
        return String::new();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in s.match_labels.iter().flatten() {
        reqs.push((k.clone(), format!("{k}={v}")));
    }
    for e in s.match_expressions.iter().flatten() {
        let mut values = e.values.clone().unwrap_or_default();
        values.sort();
        let k = &e.key;
        let text = match e.operator.as_str() {
            "In" => format!("{k} in ({})", values.join(",")),
            "NotIn" => format!("{k} notin ({})", values.join(",")),
            "Exists" => k.clone(),
            "DoesNotExist" => format!("!{k}"),
            _ => return "<error>".to_owned(),
        };
        reqs.push((k.clone(), text));
    }
    gosort::sort(&mut reqs, |a, b| a.0 < b.0);
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// `metav1.FormatLabelSelector`: [`selector`], `<none>` when it selects everything.
pub fn format_selector(s: Option<&LabelSelector>) -> String {
    let s = selector(s);
    if s.is_empty() { "<none>".to_owned() } else { s }
}

/// A quantity of the API as upstream's `Quantity`; an unparsable one counts as zero.
pub fn quantity(q: &ApiQuantity) -> Quantity {
    Quantity::parse(&q.0).unwrap_or_else(|_| Quantity::from_int(0))
}

/// `a.Add(b)`: the sum keeps `a`'s format unless `a` is zero.
pub fn add(a: &Quantity, b: &Quantity) -> Quantity {
    let format = if a.is_zero() { b.format() } else { a.format() };
    let nanos = a.nano_value() + b.nano_value();
    from_nanos(nanos, format)
}

fn from_nanos(nanos: i128, format: barge_api::quantity::Format) -> Quantity {
    use barge_api::quantity::Format;
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let text = match format {
        Format::BinarySI if nanos % 1_000_000_000 == 0 => {
            let mut v = nanos / 1_000_000_000;
            let mut k = 0;
            while k < 6 && v != 0 && v % 1024 == 0 {
                v /= 1024;
                k += 1;
            }
            format!("{v}{}", SUFFIXES[k])
        }
        Format::DecimalExponent => format!("{nanos}e-9"),
        _ => format!("{nanos}n"),
    };
    Quantity::parse(&text).unwrap_or_else(|_| Quantity::from_int(0))
}

/// `describeResources`: Limits then Requests, names sorted.
pub fn resources(w: &mut Writer, r: Option<&ResourceRequirements>, level: usize) {
    let Some(r) = r else {
        return;
    };
    for (title, list) in [("Limits", &r.limits), ("Requests", &r.requests)] {
        let Some(list) = list.as_ref().filter(|l| !l.is_empty()) else {
            continue;
        };
        w.write(level, &format!("{title}:\n"));
        for (name, q) in list {
            w.write(level + 1, &format!("{name}:\t{}\n", quantity(q)));
        }
    }
}

/// `DescribeEvents`: the events sorted by last time seen, or `<none>`.
pub fn events(w: &mut Writer, events: Option<Vec<Event>>) {
    let Some(mut events) = events else {
        return;
    };
    if events.is_empty() {
        w.write(0, "Events:\t<none>\n");
        return;
    }
    w.flush();
    let t = |e: &Event| e.last_timestamp.as_ref().map(|t| t.0);
    gosort::sort(&mut events, |a, b| t(a) < t(b));
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
    w.write(1, "----\t------\t----\t----\t-------\n");
    for e in &events {
        let first = match &e.event_time {
            Some(t) => age(Some(&t.0)),
            None => age(e.first_timestamp.as_ref().map(|t| &t.0)),
        };
        let count = e.count.unwrap_or_default();
        let interval = if let Some(series) = &e.series {
            format!(
                "{} (x{} over {first})",
                age(series.last_observed_time.as_ref().map(|t| &t.0)),
                series.count.unwrap_or_default()
            )
        } else if count > 1 {
            format!(
                "{} (x{count} over {first})",
                age(e.last_timestamp.as_ref().map(|t| &t.0))
            )
        } else {
            first
        };
        let source = e
            .source
            .as_ref()
            .and_then(|s| s.component.clone())
            .filter(|s| !s.is_empty())
            .or_else(|| e.reporting_component.clone())
            .unwrap_or_default();
        w.write(
            1,
            &format!(
                "{}\t{}\t{interval}\t{source}\t{}\n",
                e.type_.as_deref().unwrap_or_default(),
                e.reason.as_deref().unwrap_or_default(),
                e.message.as_deref().unwrap_or_default().trim()
            ),
        );
    }
}

/// Go's `%v` of a `*bool`.
pub fn bool_ptr(b: Option<bool>) -> String {
    b.map_or_else(|| "<nil>".to_owned(), |b| b.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn selectors_print_as_upstream() {
        let s = LabelSelector {
            match_labels: Some(BTreeMap::from([("b".into(), "2".into())])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "a".into(),
                    operator: "In".into(),
                    values: Some(vec!["y".into(), "x".into()]),
                },
                LabelSelectorRequirement {
                    key: "c".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(selector(Some(&s)), "a in (x,y),b=2,!c");
        assert_eq!(format_selector(Some(&LabelSelector::default())), "<none>");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn quantities_add_in_the_first_format() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        assert_eq!(add(&q("100m"), &q("250m")).to_string(), "350m");
        assert_eq!(add(&q("1Gi"), &q("512Mi")).to_string(), "1536Mi");
        assert_eq!(add(&q("0"), &q("64Mi")).to_string(), "64Mi");
        assert_eq!(add(&q("1"), &q("500m")).to_string(), "1500m");
    }

    #[test]
    fn tolerations_and_times_print_as_kubectl() {
        let mut w = Writer::new();
        let t = vec![
            Toleration {
                key: Some("node.kubernetes.io/unreachable".into()),
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                toleration_seconds: Some(300),
                value: None,
            },
            Toleration {
                operator: Some("Exists".into()),
                ..Toleration::default()
            },
        ];
        tolerations(&mut w, "Tolerations", Some(&t));
        assert_eq!(
            w.finish(),
            "Tolerations:  op=Exists\n              node.kubernetes.io/unreachable:NoExecute op=Exists for 300s\n"
        );
        let ts: Timestamp = "2026-12-07T18:13:09Z".parse().unwrap();
        assert_eq!(rfc1123z(&ts), "Mon, 07 Dec 2026 18:13:09 +0000");
        assert_eq!(age(None), "<unknown>");
    }
}
