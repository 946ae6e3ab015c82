//! ConfigMaps and Secrets (upstream's `ConfigMapDescriber`, `describeSecret`). Upstream walks
//! their data in Go's random map order, so with several keys kubectl's own output varies from
//! run to run; here the keys are sorted, which is one of the orders it prints.

use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};

use super::tabwriter::Writer;
use super::text;

fn header(w: &mut Writer, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
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
    text::labels(w, "Labels", meta.labels.as_ref());
    text::annotations(w, "Annotations", meta.annotations.as_ref());
}

pub fn describe_config_map(cm: &ConfigMap, events: Option<Vec<Event>>) -> String {
    let mut w = Writer::new();
    header(&mut w, &cm.metadata);
    w.write(0, "\nData\n====\n");
    for (k, v) in cm.data.iter().flatten() {
        w.write(0, &format!("{k}:\n----\n"));
        w.write(0, &format!("{v}\n"));
        w.write(0, "\n");
    }
    w.write(0, "\nBinaryData\n====\n");
    for (k, v) in cm.binary_data.iter().flatten() {
        w.write(0, &format!("{k}: {} bytes\n", v.0.len()));
    }
    w.write(0, "\n");
    text::events(&mut w, events);
    w.finish()
}

pub fn describe_secret(s: &Secret) -> String {
    let mut w = Writer::new();
    header(&mut w, &s.metadata);
    let type_ = s.type_.as_deref().unwrap_or_default();
    w.write(0, &format!("\nType:\t{type_}\n"));
    w.write(0, "\nData\n====\n");
    for (k, v) in s.data.iter().flatten() {
        if k == "token" && type_ == "kubernetes.io/service-account-token" {
            w.write(0, &format!("{k}:\t{}\n", String::from_utf8_lossy(&v.0)));
        } else {
            w.write(0, &format!("{k}:\t{} bytes\n", v.0.len()));
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_is_shown_for_config_maps_and_sized_for_secrets() {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c",
            "namespace": "default"}, "data": {"mode": "fast"}}))
        .unwrap();
        assert_eq!(
            describe_config_map(&cm, Some(Vec::new())),
            "Name:         c\nNamespace:    default\nLabels:       <none>\nAnnotations:  <none>\n\nData\n====\nmode:\n----\nfast\n\n\nBinaryData\n====\n\nEvents:  <none>\n"
        );
        let s: Secret = serde_json::from_value(json!({"metadata": {"name": "s",
            "namespace": "default"}, "type": "Opaque", "data": {"token": "YWJj"}}))
        .unwrap();
        assert!(
            describe_secret(&s).ends_with("\nType:  Opaque\n\nData\n====\ntoken:  3 bytes\n"),
            "{}",
            describe_secret(&s)
        );
    }
}
