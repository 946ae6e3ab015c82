//! Defaulting and validation of built-in kinds, as upstream's `defaults.go` and `validation.go`
//! do it for the fields users meet (names, labels and annotations, pods and pod templates,
//! workloads, Services, Namespaces, Secrets, Jobs, Leases, Nodes, Endpoints, LimitRanges,
//! ResourceQuotas), with upstream's messages so that kubectl prints them as users know them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use barge_api::quantity::{self, Quantity};
use barge_api::selector::LabelSelector;
use barge_api::{ApiError, Cause, Resource};
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::objects::{meta, meta_str};

// ---------------------------------------------------------------------------------------------
// Defaults

fn set_default(obj: &mut Value, field: &str, value: Value) {
    if let Some(o) = obj.as_object_mut()
        && o.get(field).is_none_or(Value::is_null)
    {
        o.insert(field.to_owned(), value);
    }
}

/// The object at `path`, made (as an empty object) where missing.
fn ensure<'a>(obj: &'a mut Value, path: &[&str]) -> &'a mut Value {
    let mut cur = obj;
    for p in path {
        if !cur.get(*p).is_some_and(Value::is_object) {
            cur[*p] = json!({});
        }
        cur = &mut cur[*p];
    }
    cur
}

fn default_container(c: &mut Value) {
    let image = c["image"].as_str().unwrap_or_default();
    // `:latest` or no tag (ignoring a digest) pulls always, as upstream.
    let without_digest = image.split('@').next().unwrap_or_default();
    let tag = without_digest
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map(|(_, t)| t);
    let policy = match tag {
        None | Some("latest") if !image.contains('@') => "Always",
        _ => "IfNotPresent",
    };
    set_default(c, "imagePullPolicy", json!(policy));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, "protocol", json!("TCP"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if c[probe].is_object() {
            let p = &mut c[probe];
            set_default(p, "timeoutSeconds", json!(1));
            set_default(p, "periodSeconds", json!(10));
            set_default(p, "successThreshold", json!(1));
            set_default(p, "failureThreshold", json!(3));
            if p["httpGet"].is_object() {
                set_default(&mut p["httpGet"], "scheme", json!("HTTP"));
                set_default(&mut p["httpGet"], "path", json!("/"));
            }
        }
    }
}

fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(default_container);
        }
    }
}

fn default_template(obj: &mut Value, path: &[&str]) {
    let mut cur = &mut *obj;
    for p in path {
        if !cur.get(*p).is_some_and(Value::is_object) {
            return;
        }
        cur = &mut cur[*p];
    }
    if let Some(spec) = cur.get_mut("spec") {
        default_pod_spec(spec);
    }
}

/// Drops what a typed decode and encode would drop: null fields (absent pointers in Go) and
/// empty label, annotation, finalizer and owner lists (omitempty).
fn normalize(obj: &mut Value) {
    fn drop_nulls(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, v| !v.is_null());
                m.values_mut().for_each(drop_nulls);
            }
            Value::Array(a) => a.iter_mut().for_each(drop_nulls),
            _ => {}
        }
    }
    drop_nulls(obj);
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
            let empty = m.get(field).is_some_and(|v| {
                v.as_object().is_some_and(Map::is_empty) || v.as_array().is_some_and(Vec::is_empty)
            });
            if empty {
                m.remove(field);
            }
        }
    }
}

/// Fills in what upstream's defaulting fills in for the object's kind.
pub fn default(resource: &Resource, obj: &mut Value) {
    if resource.custom {
        return;
    }
    normalize(obj);
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Pod") => {
            default_pod_spec(ensure(obj, &["spec"]));
            let spec = &mut obj["spec"];
            set_default(spec, "serviceAccountName", json!("default"));
            let sa = spec["serviceAccountName"].clone();
            set_default(spec, "serviceAccount", sa);
            set_default(spec, "enableServiceLinks", json!(true));
            set_default(spec, "priority", json!(0));
            set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
            let status = ensure(obj, &["status"]);
            set_default(status, "phase", json!("Pending"));
            let qos = qos_class(&obj["spec"]);
            set_default(&mut obj["status"], "qosClass", json!(qos));
        }
        ("", "Namespace") => {
            let name = meta_str(obj, "name").unwrap_or_default().to_owned();
            ensure(obj, &["metadata", "labels"])["kubernetes.io/metadata.name"] = json!(name);
            set_default(ensure(obj, &["spec"]), "finalizers", json!(["kubernetes"]));
            set_default(ensure(obj, &["status"]), "phase", json!("Active"));
        }
        ("", "Service") => default_service(obj),
        ("", "Secret") => default_secret(obj),
        ("", "ReplicationController" | "PodTemplate") => {
            if resource.kind == "ReplicationController" {
                set_default(ensure(obj, &["spec"]), "replicas", json!(1));
                default_template(obj, &["spec", "template"]);
            } else {
                default_template(obj, &["template"]);
            }
        }
        ("apps", "Deployment") => {
            let spec = ensure(obj, &["spec"]);
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = ensure(spec, &["strategy"]);
            set_default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let ru = ensure(strategy, &["rollingUpdate"]);
                set_default(ru, "maxUnavailable", json!("25%"));
                set_default(ru, "maxSurge", json!("25%"));
            }
            default_template(obj, &["spec", "template"]);
        }
        ("apps", "ReplicaSet") => {
            set_default(ensure(obj, &["spec"]), "replicas", json!(1));
            default_template(obj, &["spec", "template"]);
        }
        ("apps", "StatefulSet") => {
            let spec = ensure(obj, &["spec"]);
            set_default(spec, "replicas", json!(1));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            set_default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            default_template(obj, &["spec", "template"]);
        }
        ("apps", "DaemonSet") => {
            let spec = ensure(obj, &["spec"]);
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
            default_template(obj, &["spec", "template"]);
        }
        ("batch", "Job") => default_job(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            let spec = ensure(obj, &["spec"]);
            set_default(spec, "minReplicas", json!(1));
            if resource.version == "v2" && spec["metrics"].as_array().is_none_or(Vec::is_empty) {
                spec["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80}}}]);
            }
        }
        ("", "PersistentVolumeClaim") => {
            set_default(ensure(obj, &["spec"]), "volumeMode", json!("Filesystem"));
            set_default(ensure(obj, &["status"]), "phase", json!("Pending"));
        }
        ("", "PersistentVolume") => {
            let spec = ensure(obj, &["spec"]);
            set_default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            set_default(spec, "volumeMode", json!("Filesystem"));
            set_default(ensure(obj, &["status"]), "phase", json!("Pending"));
        }
        ("storage.k8s.io", "StorageClass") => {
            set_default(obj, "reclaimPolicy", json!("Delete"));
            set_default(obj, "volumeBindingMode", json!("Immediate"));
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            set_default(obj, "preemptionPolicy", json!("PreemptLowerPriority"));
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            // Upstream: Ingress always, Egress when egress rules are given.
            let spec = ensure(obj, &["spec"]);
            if spec["policyTypes"].as_array().is_none_or(Vec::is_empty) {
                let mut types = vec![json!("Ingress")];
                if spec["egress"].as_array().is_some_and(|e| !e.is_empty()) {
                    types.push(json!("Egress"));
                }
                spec["policyTypes"] = json!(types);
            }
            for direction in ["ingress", "egress"] {
                for rule in spec
                    .get_mut(direction)
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    for port in rule
                        .get_mut("ports")
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                    {
                        set_default(port, "protocol", json!("TCP"));
                    }
                }
            }
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            if let Some(ports) = obj.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    set_default(p, "protocol", json!("TCP"));
                }
            }
        }
        ("", "Endpoints") => {
            for subset in obj
                .get_mut("subsets")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                for p in subset
                    .get_mut("ports")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    set_default(p, "protocol", json!("TCP"));
                }
            }
        }
        ("batch", "CronJob") => {
            let spec = ensure(obj, &["spec"]);
            set_default(spec, "concurrencyPolicy", json!("Allow"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "successfulJobsHistoryLimit", json!(3));
            set_default(spec, "failedJobsHistoryLimit", json!(1));
            default_template(obj, &["spec", "jobTemplate", "spec", "template"]);
        }
        _ => {}
    }
}

/// The QoS class upstream derives from the containers' requests and limits.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|l| spec[*l].as_array().into_iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let requests = c["resources"]["requests"].as_object();
        let limits = c["resources"]["limits"].as_object();
        if requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(res));
            let request = requests.and_then(|r| r.get(res)).or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed && !containers.is_empty()) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

fn default_service(obj: &mut Value) {
    let spec = ensure(obj, &["spec"]);
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let ty = spec["type"].as_str().unwrap_or_default().to_owned();
    if ty != "ExternalName" {
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, "protocol", json!("TCP"));
            let port = p["port"].clone();
            set_default(p, "targetPort", port);
        }
    }
    set_default(ensure(obj, &["status"]), "loadBalancer", json!({}));
}

fn default_secret(obj: &mut Value) {
    set_default(obj, "type", json!("Opaque"));
    // stringData is write-only: it is folded into data (base64) and not kept.
    if let Some(string_data) = obj
        .as_object_mut()
        .and_then(|o| o.remove("stringData"))
        .and_then(|v| v.as_object().cloned())
    {
        let data = ensure(obj, &["data"]);
        for (k, v) in string_data {
            let text = v.as_str().unwrap_or_default();
            data[k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
        }
    }
}

fn default_job(obj: &mut Value) {
    let uid = meta_str(obj, "uid").unwrap_or_default().to_owned();
    let name = meta_str(obj, "name").unwrap_or_default().to_owned();
    let spec = ensure(obj, &["spec"]);
    if spec["completions"].is_null() && spec["parallelism"].is_null() {
        spec["completions"] = json!(1);
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    // Upstream generates the selector from the Job's uid unless the user chose one.
    if spec["manualSelector"] != json!(true) && !uid.is_empty() && spec["selector"].is_null() {
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
        let labels = ensure(spec, &["template", "metadata", "labels"]);
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            labels[k] = json!(v);
        }
    }
    default_template(obj, &["spec", "template"]);
}

// ---------------------------------------------------------------------------------------------
// Validation

const DNS1123_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

const CONFIG_KEY: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

fn is_config_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._".contains(&c))
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

fn is_dns1035(s: &str) -> bool {
    is_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// Names of kinds that must be DNS-1123 labels (or DNS-1035 for Services).
fn name_problem(resource: &Resource, name: &str) -> Option<String> {
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Namespace") if !is_label(name) => Some(DNS1123_LABEL.to_owned()),
        ("", "Service") if !is_dns1035(name) => Some(DNS1035_LABEL.to_owned()),
        ("rbac.authorization.k8s.io", _) => {
            (name == "." || name == ".." || name.contains('/') || name.contains('%'))
                .then(|| "may not be '.' or '..' and may not contain '/' or '%'".to_owned())
        }
        _ if resource.custom || !is_subdomain(name) => {
            (!is_subdomain(name)).then(|| DNS1123_SUBDOMAIN.to_owned())
        }
        _ => None,
    }
}

fn validate_containers(spec: &Value, path: &str, causes: &mut Vec<Cause>) {
    let containers = spec["containers"].as_array();
    if containers.is_none_or(Vec::is_empty) {
        causes.push(Cause::required(format!("{path}.containers"), ""));
    }
    let mut names = std::collections::BTreeSet::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            let at = format!("{path}.{list}[{i}]");
            match c["name"].as_str() {
                None | Some("") => causes.push(Cause::required(format!("{at}.name"), "")),
                Some(n) if !is_label(n) => causes.push(Cause::invalid(
                    format!("{at}.name"),
                    &json!(n),
                    DNS1123_LABEL,
                )),
                Some(n) if !names.insert(n.to_owned()) => causes.push(Cause {
                    reason: "FieldValueDuplicate",
                    field: format!("{at}.name"),
                    message: format!("Duplicate value: \"{n}\""),
                }),
                Some(_) => {}
            }
            if c["image"].as_str().is_none_or(|s| s.trim().is_empty()) {
                causes.push(Cause::required(format!("{at}.image"), ""));
            }
            for (j, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
                let port = p["containerPort"].as_i64().unwrap_or(0);
                if !(1..=65535).contains(&port) {
                    causes.push(Cause::invalid(
                        format!("{at}.ports[{j}].containerPort"),
                        &p["containerPort"],
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
        }
    }
}

fn validate_selector_and_template(obj: &Value, causes: &mut Vec<Cause>, restart: &[&str]) {
    let spec = &obj["spec"];
    if spec["selector"].is_null() {
        causes.push(Cause::required("spec.selector", ""));
    }
    let template = &spec["template"];
    if !template.is_object() {
        causes.push(Cause::required("spec.template", ""));
        return;
    }
    match LabelSelector::from_json(&spec["selector"]) {
        Ok(sel) if !spec["selector"].is_null() => {
            let labels = template["metadata"]["labels"].as_object();
            if sel.is_empty() {
                causes.push(Cause::invalid(
                    "spec.selector",
                    &spec["selector"],
                    "empty selector is invalid for deployment",
                ));
            } else if !sel.matches(labels) {
                causes.push(Cause::invalid(
                    "spec.template.metadata.labels",
                    &json!(labels.cloned().unwrap_or_default()),
                    "`selector` does not match template `labels`",
                ));
            }
        }
        Ok(_) => {}
        Err(e) => causes.push(Cause::invalid(
            "spec.selector",
            &spec["selector"],
            &e.to_string(),
        )),
    }
    validate_containers(&template["spec"], "spec.template.spec", causes);
    let policy = template["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or_default();
    if !restart.contains(&policy) {
        causes.push(Cause::not_supported(
            "spec.template.spec.restartPolicy",
            &json!(policy),
            restart,
        ));
    }
    if let Some(r) = spec["replicas"].as_i64()
        && r < 0
    {
        causes.push(Cause::invalid(
            "spec.replicas",
            &json!(r),
            "must be greater than or equal to 0",
        ));
    }
}

fn validate_service(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = &obj["spec"];
    let ty = spec["type"].as_str().unwrap_or("ClusterIP");
    const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if !TYPES.contains(&ty) {
        causes.push(Cause::not_supported("spec.type", &json!(ty), TYPES));
    }
    let headless = spec["clusterIP"] == "None";
    let ports = spec["ports"].as_array();
    if ty != "ExternalName" && !headless && ports.is_none_or(Vec::is_empty) {
        causes.push(Cause::required("spec.ports", ""));
    }
    if ty == "ExternalName" && spec["externalName"].as_str().is_none_or(str::is_empty) {
        causes.push(Cause::required("spec.externalName", ""));
    }
    let many = ports.is_some_and(|p| p.len() > 1);
    for (i, p) in ports.into_iter().flatten().enumerate() {
        let port = p["port"].as_i64().unwrap_or(0);
        if !(1..=65535).contains(&port) {
            causes.push(Cause::invalid(
                format!("spec.ports[{i}].port"),
                &p["port"],
                "must be between 1 and 65535, inclusive",
            ));
        }
        if many && p["name"].as_str().is_none_or(str::is_empty) {
            causes.push(Cause::required(format!("spec.ports[{i}].name"), ""));
        }
    }
}

fn validate_hpa(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = &obj["spec"];
    for field in ["kind", "name"] {
        if spec["scaleTargetRef"][field]
            .as_str()
            .is_none_or(str::is_empty)
        {
            causes.push(Cause::required(format!("spec.scaleTargetRef.{field}"), ""));
        }
    }
    let min = spec["minReplicas"].as_i64().unwrap_or(1);
    if min < 1 {
        causes.push(Cause::invalid(
            "spec.minReplicas",
            &json!(min),
            "must be greater than or equal to 1",
        ));
    }
    match spec["maxReplicas"].as_i64() {
        None => causes.push(Cause::required("spec.maxReplicas", "")),
        Some(max) if max < 1 => causes.push(Cause::invalid(
            "spec.maxReplicas",
            &json!(max),
            "must be greater than or equal to 1",
        )),
        Some(max) if max < min => causes.push(Cause::invalid(
            "spec.maxReplicas",
            &json!(max),
            "must be greater than or equal to `minReplicas`",
        )),
        Some(_) => {}
    }
}

fn validate_ingress(obj: &Value, causes: &mut Vec<Cause>) {
    const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];
    for (i, rule) in obj["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (j, path) in rule["http"]["paths"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("spec.rules[{i}].http.paths[{j}]");
            match path["pathType"].as_str() {
                None => causes.push(Cause::required(
                    format!("{at}.pathType"),
                    "pathType must be specified",
                )),
                Some(t) if !PATH_TYPES.contains(&t) => causes.push(Cause::not_supported(
                    format!("{at}.pathType"),
                    &json!(t),
                    PATH_TYPES,
                )),
                Some(_) => {}
            }
            let backend = &path["backend"];
            if backend["service"].is_null() && backend["resource"].is_null() {
                causes.push(Cause::invalid(
                    format!("{at}.backend"),
                    backend,
                    "one backend (service or resource) must be specified",
                ));
            }
        }
    }
}

/// Fields of a pod's spec that an update may change (upstream's ValidatePodUpdate).
fn pod_spec_mutable_stripped(spec: &Value) -> Value {
    let mut s = spec.clone();
    if let Some(o) = s.as_object_mut() {
        for f in [
            "activeDeadlineSeconds",
            "tolerations",
            "terminationGracePeriodSeconds",
            "nodeName",
        ] {
            o.remove(f);
        }
        for list in ["containers", "initContainers"] {
            if let Some(cs) = o.get_mut(list).and_then(Value::as_array_mut) {
                for c in cs {
                    if let Some(c) = c.as_object_mut() {
                        c.remove("image");
                    }
                }
            }
        }
    }
    s
}

/// Validates an object of a built-in kind on create (`old` None) or update.
pub fn validate(resource: &Resource, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    if !resource.custom {
        check_quantities(resource, obj)?;
    }
    let name = meta_str(obj, "name").unwrap_or_default();
    let mut causes = Vec::new();
    if name.is_empty() {
        causes.push(Cause::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else if let Some(problem) = name_problem(resource, name) {
        causes.push(Cause::invalid("metadata.name", &json!(name), &problem));
    }
    validate_labels(obj, &mut causes);
    validate_annotations(obj, &mut causes);
    if !resource.custom {
        match (resource.group.as_str(), resource.kind.as_str()) {
            ("coordination.k8s.io", "Lease") => validate_lease(obj, &mut causes),
            ("", "Node") => validate_node(obj, old, &mut causes),
            ("", "Endpoints") => validate_endpoints(obj, &mut causes),
            ("", "LimitRange") => validate_limit_range(obj, &mut causes),
            ("", "ResourceQuota") => validate_resource_quota(obj, old, &mut causes),
            ("", "Pod") => {
                validate_containers(&obj["spec"], "spec", &mut causes);
                if let Some(old) = old
                    && pod_spec_mutable_stripped(&old["spec"])
                        != pod_spec_mutable_stripped(&obj["spec"])
                {
                    causes.push(Cause::forbidden(
                        "spec",
                        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                    ));
                }
            }
            ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
                validate_selector_and_template(obj, &mut causes, &["Always"]);
                if resource.kind == "StatefulSet"
                    && let Some(old) = old
                {
                    let strip = |o: &Value| {
                        let mut spec = o["spec"].as_object().cloned().unwrap_or_default();
                        for f in [
                            "replicas",
                            "ordinals",
                            "template",
                            "updateStrategy",
                            "persistentVolumeClaimRetentionPolicy",
                            "minReadySeconds",
                        ] {
                            spec.remove(f);
                        }
                        spec
                    };
                    if strip(old) != strip(obj) {
                        causes.push(Cause::forbidden(
                            "spec",
                            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                        ));
                    }
                }
                if let Some(old) = old
                    && old["spec"]["selector"] != obj["spec"]["selector"]
                {
                    causes.push(Cause::invalid(
                        "spec.selector",
                        &obj["spec"]["selector"],
                        "field is immutable",
                    ));
                }
            }
            ("batch", "Job") => {
                validate_selector_and_template(obj, &mut causes, &["OnFailure", "Never"]);
                if let Some(old) = old {
                    for field in ["selector", "template", "completions"] {
                        if old["spec"][field] != obj["spec"][field]
                            && !(field == "template" && old["spec"]["suspend"] == json!(true))
                        {
                            causes.push(Cause::invalid(
                                format!("spec.{field}"),
                                &obj["spec"][field],
                                "field is immutable",
                            ));
                        }
                    }
                }
            }
            ("", "Service") => {
                validate_service(obj, &mut causes);
                if let Some(old) = old {
                    let (o, n) = (&old["spec"]["clusterIP"], &obj["spec"]["clusterIP"]);
                    if !n.is_null() && o != n {
                        causes.push(Cause::invalid(
                            "spec.clusterIPs[0]",
                            n,
                            "may not change once set",
                        ));
                    }
                }
            }
            ("", "ConfigMap" | "Secret") => {
                if let Some(old) = old
                    && old["immutable"] == json!(true)
                    && (old["data"] != obj["data"]
                        || old.get("binaryData") != obj.get("binaryData"))
                {
                    causes.push(Cause::forbidden(
                        "data",
                        "field is immutable when `immutable` is set",
                    ));
                }
                for field in ["data", "binaryData"] {
                    for key in obj[field].as_object().into_iter().flat_map(|m| m.keys()) {
                        if !is_config_key(key) {
                            causes.push(Cause::invalid(
                                format!("{field}[{key}]"),
                                &json!(key),
                                CONFIG_KEY,
                            ));
                        }
                    }
                }
                if resource.kind == "Secret"
                    && let Some(old) = old
                    && old["type"] != obj["type"]
                {
                    causes.push(Cause::invalid("type", &obj["type"], "field is immutable"));
                }
            }
            ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
                let role_ref = &obj["roleRef"];
                if role_ref["name"].as_str().is_none_or(str::is_empty) {
                    causes.push(Cause::required("roleRef.name", ""));
                }
                const KINDS: &[&str] = &["Role", "ClusterRole"];
                let kind = role_ref["kind"].as_str().unwrap_or_default();
                if !KINDS.contains(&kind)
                    || (resource.kind == "ClusterRoleBinding" && kind == "Role")
                {
                    let allowed: &[&str] = if resource.kind == "RoleBinding" {
                        KINDS
                    } else {
                        &["ClusterRole"]
                    };
                    causes.push(Cause::not_supported("roleRef.kind", &json!(kind), allowed));
                }
                if let Some(old) = old
                    && old["roleRef"] != obj["roleRef"]
                {
                    causes.push(Cause::invalid("roleRef", role_ref, "cannot change roleRef"));
                }
            }
            ("autoscaling", "HorizontalPodAutoscaler") => validate_hpa(obj, &mut causes),
            ("policy", "PodDisruptionBudget") => {
                let spec = &obj["spec"];
                if !spec["minAvailable"].is_null() && !spec["maxUnavailable"].is_null() {
                    causes.push(Cause::invalid(
                        "spec",
                        spec,
                        "minAvailable and maxUnavailable cannot be both set",
                    ));
                }
            }
            ("scheduling.k8s.io", "PriorityClass") => {
                if let Some(old) = old
                    && old["value"] != obj["value"]
                {
                    causes.push(Cause::forbidden(
                        "value",
                        "may not be changed in an update.",
                    ));
                }
            }
            ("storage.k8s.io", "StorageClass") => {
                if obj["provisioner"].as_str().is_none_or(str::is_empty) {
                    causes.push(Cause::required("provisioner", ""));
                }
                if let Some(old) = old {
                    for field in [
                        "provisioner",
                        "parameters",
                        "reclaimPolicy",
                        "volumeBindingMode",
                    ] {
                        if old[field] != obj[field] {
                            causes.push(Cause::forbidden(
                                field,
                                &format!("updates to {field} are forbidden."),
                            ));
                        }
                    }
                }
            }
            ("", "PersistentVolumeClaim") => {
                let spec = &obj["spec"];
                if spec["accessModes"].as_array().is_none_or(Vec::is_empty) {
                    causes.push(Cause::required(
                        "spec.accessModes",
                        "at least 1 access mode is required",
                    ));
                }
                if spec["resources"]["requests"]["storage"].is_null() {
                    causes.push(Cause::required("spec.resources[storage]", ""));
                }
                if let Some(old) = old {
                    let strip = |o: &Value| {
                        let mut spec = o["spec"].as_object().cloned().unwrap_or_default();
                        spec.remove("resources");
                        spec.remove("volumeAttributesClassName");
                        spec.remove("volumeName");
                        spec
                    };
                    if strip(old) != strip(obj) {
                        causes.push(Cause::forbidden(
                            "spec",
                            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                        ));
                    }
                }
            }
            ("", "PersistentVolume") => {
                let spec = &obj["spec"];
                if spec["capacity"].as_object().is_none_or(|c| c.is_empty()) {
                    causes.push(Cause::required("spec.capacity", ""));
                }
                if spec["accessModes"].as_array().is_none_or(Vec::is_empty) {
                    causes.push(Cause::required("spec.accessModes", ""));
                }
                const SOURCES: &[&str] = &[
                    "hostPath",
                    "local",
                    "nfs",
                    "csi",
                    "iscsi",
                    "fc",
                    "rbd",
                    "cephfs",
                    "glusterfs",
                    "azureDisk",
                    "azureFile",
                    "gcePersistentDisk",
                    "awsElasticBlockStore",
                    "vsphereVolume",
                    "portworxVolume",
                    "scaleIO",
                    "storageos",
                    "flexVolume",
                    "cinder",
                    "flocker",
                    "photonPersistentDisk",
                    "quobyte",
                ];
                if !SOURCES
                    .iter()
                    .any(|s| spec.get(*s).is_some_and(|v| !v.is_null()))
                {
                    causes.push(Cause::required("spec", "must specify a volume type"));
                }
            }
            ("networking.k8s.io", "Ingress") => validate_ingress(obj, &mut causes),
            ("networking.k8s.io", "NetworkPolicy") => {
                const TYPES: &[&str] = &["Ingress", "Egress"];
                for (i, t) in obj["spec"]["policyTypes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if !t.as_str().is_some_and(|t| TYPES.contains(&t)) {
                        causes.push(Cause::not_supported(
                            format!("spec.policyTypes[{i}]"),
                            t,
                            TYPES,
                        ));
                    }
                }
            }
            ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
                for (i, rule) in obj["rules"].as_array().into_iter().flatten().enumerate() {
                    let at = format!("rules[{i}]");
                    if rule["verbs"].as_array().is_none_or(Vec::is_empty) {
                        causes.push(Cause::required(
                            format!("{at}.verbs"),
                            "verbs must contain at least one value",
                        ));
                    }
                    let urls = rule["nonResourceURLs"]
                        .as_array()
                        .is_some_and(|u| !u.is_empty());
                    if urls && resource.kind == "Role" {
                        causes.push(Cause::invalid(
                            format!("{at}.nonResourceURLs"),
                            &rule["nonResourceURLs"],
                            "namespaced rules cannot apply to non-resource URLs",
                        ));
                    }
                    let resources = rule["resources"].as_array().is_some_and(|r| !r.is_empty());
                    if !urls && !resources {
                        causes.push(Cause::required(
                            format!("{at}.resources"),
                            "resource rules must supply at least one resource",
                        ));
                    }
                    if resources && rule["apiGroups"].as_array().is_none_or(Vec::is_empty) {
                        causes.push(Cause::required(
                            format!("{at}.apiGroups"),
                            "resource rules must supply at least one api group",
                        ));
                    }
                }
            }
            ("discovery.k8s.io", "EndpointSlice") => {
                const TYPES: &[&str] = &["IPv4", "IPv6", "FQDN"];
                let ty = obj["addressType"].as_str().unwrap_or_default();
                if ty.is_empty() {
                    causes.push(Cause::required("addressType", ""));
                } else if !TYPES.contains(&ty) {
                    causes.push(Cause::not_supported("addressType", &json!(ty), TYPES));
                }
            }
            ("batch", "CronJob") => {
                if obj["spec"]["schedule"].as_str().is_none_or(str::is_empty) {
                    causes.push(Cause::required("spec.schedule", ""));
                }
                validate_containers(
                    &obj["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                    "spec.jobTemplate.spec.template.spec",
                    &mut causes,
                );
            }
            _ => {}
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        &resource.group,
        &resource.kind,
        name,
        causes,
    ))
}

// ---------------------------------------------------------------------------------------------
// Names, labels and annotations (apimachinery's util/validation and ValidateObjectMeta)

const QUALIFIED_NAME: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
/// Upstream's TotalAnnotationSizeLimitB: keys and values together.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Upstream's `MaxLenError`.
fn too_long(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// Matches `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn is_qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Matches upstream's DNS-1123 subdomain expression (labels of `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
/// joined by dots; unlike `is_subdomain`, no length limit per label).
fn matches_subdomain(s: &str) -> bool {
    s.split('.').all(matches_label)
}

/// Matches `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn matches_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Upstream's `IsDNS1123Subdomain`: one message per problem.
fn subdomain_msgs(s: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if s.len() > 253 {
        msgs.push(too_long(253));
    }
    if !matches_subdomain(s) {
        msgs.push(DNS1123_SUBDOMAIN.to_owned());
    }
    msgs
}

/// Upstream's `IsDNS1123Label`.
fn label_msgs(s: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if s.len() > 63 {
        msgs.push(too_long(63));
    }
    if !matches_label(s) {
        msgs.push(DNS1123_LABEL.to_owned());
    }
    msgs
}

/// Upstream's `IsQualifiedName` (label keys, annotation keys, taint keys, resource names).
fn qualified_name_msgs(s: &str) -> Vec<String> {
    let parts: Vec<&str> = s.split('/').collect();
    let mut msgs = Vec::new();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                msgs.push("prefix part must be non-empty".to_owned());
            }
            for m in subdomain_msgs(prefix)
                .into_iter()
                .filter(|_| !prefix.is_empty())
            {
                msgs.push(format!("prefix part {m}"));
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {QUALIFIED_NAME} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )];
        }
    };
    if name.is_empty() {
        msgs.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        msgs.push(format!("name part {}", too_long(63)));
    }
    if !is_qualified_part(name) {
        msgs.push(format!("name part {QUALIFIED_NAME}"));
    }
    msgs
}

/// Upstream's `IsValidLabelValue`.
fn label_value_msgs(v: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if v.len() > 63 {
        msgs.push(too_long(63));
    }
    if !v.is_empty() && !is_qualified_part(v) {
        msgs.push(LABEL_VALUE.to_owned());
    }
    msgs
}

/// One `Invalid` cause per message, showing `value`.
fn invalid_each(causes: &mut Vec<Cause>, field: &str, value: &str, msgs: Vec<String>) {
    for m in msgs {
        causes.push(Cause::invalid(field, &json!(value), &m));
    }
}

/// An `Invalid` cause whose value upstream prints as is (a Quantity's `String()`, or `%#v` of
/// a slice), not as a quoted string.
fn invalid_shown(field: impl Into<String>, shown: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        field: field.into(),
        message: format!("Invalid value: {shown}: {detail}"),
    }
}

fn duplicate(field: impl Into<String>, shown: &str) -> Cause {
    Cause {
        reason: "FieldValueDuplicate",
        field: field.into(),
        message: format!("Duplicate value: {shown}"),
    }
}

/// How Go's `%#v` prints a slice of strings (`[]string{"a", "b"}`), nil when absent.
fn go_slice(ty: &str, items: Option<&[&str]>) -> String {
    match items {
        None => format!("[]{ty}(nil)"),
        Some(items) => {
            let quoted: Vec<String> = items.iter().map(|s| json!(s).to_string()).collect();
            format!("[]{ty}{{{}}}", quoted.join(", "))
        }
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn validate_labels(obj: &Value, causes: &mut Vec<Cause>) {
    let labels = meta(obj)
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object);
    for (k, v) in labels.into_iter().flatten() {
        invalid_each(causes, "metadata.labels", k, qualified_name_msgs(k));
        let v = v.as_str().unwrap_or_default();
        invalid_each(causes, "metadata.labels", v, label_value_msgs(v));
    }
}

fn validate_annotations(obj: &Value, causes: &mut Vec<Cause>) {
    let annotations = meta(obj)
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object);
    let mut total = 0;
    for (k, v) in annotations.into_iter().flatten() {
        // Upstream: a qualified name, except that case does not matter.
        invalid_each(
            causes,
            "metadata.annotations",
            k,
            qualified_name_msgs(&k.to_lowercase()),
        );
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > ANNOTATIONS_MAX_BYTES {
        causes.push(Cause {
            reason: "FieldValueTooLong",
            field: "metadata.annotations".to_owned(),
            message: format!("Too long: must have at most {ANNOTATIONS_MAX_BYTES} bytes"),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// IP addresses and CIDRs, parsed as upstream's `ParseIPSloppy` / `ParseCIDRSloppy` (Go's
// parsers, with leading zeros allowed in IPv4 octets)

const IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
const CIDR_MSG: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

fn parse_ip(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let octets: Vec<u8> = s
        .split('.')
        .map(|o| {
            (!o.is_empty() && o.bytes().all(|c| c.is_ascii_digit()))
                .then(|| o.parse::<u8>().ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    let [a, b, c, d] = octets.as_slice() else {
        return None;
    };
    Some(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)))
}

/// The address of a CIDR; `None` when it is not one.
fn parse_cidr(s: &str) -> Option<IpAddr> {
    let (addr, bits) = s.split_once('/')?;
    let ip = parse_ip(addr)?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let ok = !bits.is_empty()
        && bits.bytes().all(|c| c.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|n| n <= max);
    ok.then_some(ip)
}

/// IPv4-mapped IPv6 addresses count as IPv4, as in Go.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Upstream's `ValidateNonSpecialIP` for an address that parses.
fn special_ip_msgs(text: &str, ip: IpAddr) -> Vec<String> {
    let (unspecified, loopback, link_local, link_local_multicast) = match unmapped(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (
                v4.is_unspecified(),
                v4.is_loopback(),
                v4.is_link_local(),
                o[0] == 224 && o[1] == 0 && o[2] == 0,
            )
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            (
                v6.is_unspecified(),
                v6.is_loopback(),
                o[0] == 0xfe && o[1] & 0xc0 == 0x80,
                o[0] == 0xff && o[1] & 0x0f == 0x02,
            )
        }
    };
    [
        (unspecified, format!("may not be unspecified ({text})")),
        (
            loopback,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)".to_owned(),
        ),
        (
            link_local,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)".to_owned(),
        ),
        (
            link_local_multicast,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)".to_owned(),
        ),
    ]
    .into_iter()
    .filter_map(|(bad, msg)| bad.then_some(msg))
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Lease, Node, Endpoints

fn validate_lease(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = &obj["spec"];
    if let Some(d) = spec["leaseDurationSeconds"].as_i64()
        && d <= 0
    {
        causes.push(Cause::invalid(
            "spec.leaseDurationSeconds",
            &json!(d),
            "must be greater than 0",
        ));
    }
    if let Some(t) = spec["leaseTransitions"].as_i64()
        && t < 0
    {
        causes.push(Cause::invalid(
            "spec.leaseTransitions",
            &json!(t),
            "must be greater than or equal to 0",
        ));
    }
}

/// The pod CIDRs as upstream's internal type holds them: `podCIDRs`, or else `podCIDR`.
fn pod_cidrs(node: &Value) -> Vec<&str> {
    let list = strings(&node["spec"]["podCIDRs"]);
    if !list.is_empty() {
        return list;
    }
    node["spec"]["podCIDR"]
        .as_str()
        .filter(|c| !c.is_empty())
        .into_iter()
        .collect()
}

fn validate_node(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    // Upstream reports taints under metadata (its path is built from "metadata").
    validate_taints(&obj["spec"]["taints"], "metadata.taints", causes);
    let cidrs = pod_cidrs(obj);
    validate_pod_cidrs(&cidrs, causes);
    let Some(old) = old else { return };
    let before = pod_cidrs(old);
    if !before.is_empty() && before != cidrs {
        causes.push(Cause::forbidden(
            "spec.podCIDRs",
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let provider = |n: &Value| {
        n["spec"]["providerID"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    if !provider(old).is_empty() && provider(old) != provider(obj) {
        causes.push(Cause::forbidden(
            "spec.providerID",
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
}

fn validate_pod_cidrs(cidrs: &[&str], causes: &mut Vec<Cause>) {
    let parsed: Vec<Option<IpAddr>> = cidrs.iter().map(|c| parse_cidr(c)).collect();
    for (i, (c, ip)) in cidrs.iter().zip(&parsed).enumerate() {
        if ip.is_none() {
            causes.push(Cause::invalid(
                format!("spec.podCIDRs[{i}]"),
                &json!(c),
                CIDR_MSG,
            ));
        }
    }
    if cidrs.len() < 2 {
        return;
    }
    let v4 = parsed.iter().flatten().any(|ip| unmapped(*ip).is_ipv4());
    let v6 = parsed.iter().flatten().any(|ip| unmapped(*ip).is_ipv6());
    let all_parse = parsed.iter().all(Option::is_some);
    if !(all_parse && v4 && v6) || cidrs.len() > 2 {
        causes.push(invalid_shown(
            "spec.podCIDRs",
            &go_slice("string", Some(cidrs)),
            "may specify no more than one CIDR for each IP family",
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, c) in cidrs.iter().enumerate() {
        if !seen.insert(*c) {
            causes.push(duplicate(
                format!("spec.podCIDRs[{i}]"),
                &json!(c).to_string(),
            ));
        }
    }
}

/// Upstream's `validateNodeTaints`.
fn validate_taints(taints: &Value, path: &str, causes: &mut Vec<Cause>) {
    const EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
    let mut seen = BTreeSet::new();
    for (i, taint) in taints.as_array().into_iter().flatten().enumerate() {
        let at = format!("{path}[{i}]");
        let text = |f: &str| taint[f].as_str().unwrap_or_default();
        let (key, value, effect) = (text("key"), text("value"), text("effect"));
        invalid_each(causes, &format!("{at}.key"), key, qualified_name_msgs(key));
        let value_msgs = label_value_msgs(value);
        if !value_msgs.is_empty() {
            causes.push(Cause::invalid(
                format!("{at}.value"),
                &json!(value),
                &value_msgs.join(";"),
            ));
        }
        if effect.is_empty() {
            causes.push(Cause::required(format!("{at}.effect"), ""));
        } else if !EFFECTS.contains(&effect) {
            causes.push(Cause::not_supported(
                format!("{at}.effect"),
                &json!(effect),
                EFFECTS,
            ));
        }
        if !seen.insert((effect, key)) {
            let mut cause = duplicate(at, &go_taint(taint));
            cause.message += ": taints must be unique by key and effect pair";
            causes.push(cause);
        }
    }
}

/// A taint as Go's `%#v` prints upstream's internal `core.Taint`.
fn go_taint(taint: &Value) -> String {
    let text = |f: &str| json!(taint[f].as_str().unwrap_or_default()).to_string();
    let added = match taint["timeAdded"].as_str() {
        None => "(*v1.Time)(nil)".to_owned(),
        Some(t) => format!("(*v1.Time)({t})"),
    };
    format!(
        "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:{added}}}",
        text("key"),
        text("value"),
        text("effect")
    )
}

fn validate_endpoints(obj: &Value, causes: &mut Vec<Cause>) {
    for (i, subset) in obj["subsets"].as_array().into_iter().flatten().enumerate() {
        let at = format!("subsets[{i}]");
        let empty = |f: &str| subset[f].as_array().is_none_or(Vec::is_empty);
        if empty("addresses") && empty("notReadyAddresses") {
            causes.push(Cause::required(
                at.as_str(),
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for list in ["addresses", "notReadyAddresses"] {
            for (j, a) in subset[list].as_array().into_iter().flatten().enumerate() {
                validate_endpoint_address(a, &format!("{at}.{list}[{j}]"), causes);
            }
        }
        let ports = subset["ports"].as_array();
        let many = ports.is_some_and(|p| p.len() > 1);
        for (j, p) in ports.into_iter().flatten().enumerate() {
            validate_endpoint_port(p, many, &format!("{at}.ports[{j}]"), causes);
        }
    }
}

fn validate_endpoint_address(address: &Value, at: &str, causes: &mut Vec<Cause>) {
    let text = address["ip"].as_str().unwrap_or_default();
    let field = format!("{at}.ip");
    let ip = parse_ip(text);
    if ip.is_none() {
        causes.push(Cause::invalid(field.as_str(), &json!(text), IP_MSG));
    }
    if let Some(host) = address["hostname"].as_str().filter(|h| !h.is_empty()) {
        invalid_each(causes, &format!("{at}.hostname"), host, label_msgs(host));
    }
    if let Some(node) = address["nodeName"].as_str() {
        invalid_each(
            causes,
            &format!("{at}.nodeName"),
            node,
            subdomain_msgs(node),
        );
    }
    let special = match ip {
        None => vec!["must be a valid IP address".to_owned()],
        Some(ip) => special_ip_msgs(text, ip),
    };
    invalid_each(causes, &field, text, special);
}

fn validate_endpoint_port(port: &Value, require_name: bool, at: &str, causes: &mut Vec<Cause>) {
    const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
    let name = port["name"].as_str().unwrap_or_default();
    if require_name && name.is_empty() {
        causes.push(Cause::required(format!("{at}.name"), ""));
    } else if !name.is_empty() {
        invalid_each(causes, &format!("{at}.name"), name, label_msgs(name));
    }
    let number = port["port"].as_i64().unwrap_or(0);
    if !(1..=65535).contains(&number) {
        causes.push(Cause::invalid(
            format!("{at}.port"),
            &json!(number),
            "must be between 1 and 65535, inclusive",
        ));
    }
    match port["protocol"].as_str().unwrap_or_default() {
        "" => causes.push(Cause::required(format!("{at}.protocol"), "")),
        p if !PROTOCOLS.contains(&p) => causes.push(Cause::not_supported(
            format!("{at}.protocol"),
            &json!(p),
            PROTOCOLS,
        )),
        _ => {}
    }
    if let Some(app) = port["appProtocol"].as_str() {
        invalid_each(
            causes,
            &format!("{at}.appProtocol"),
            app,
            qualified_name_msgs(app),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Quantities, resource names, LimitRange and ResourceQuota

/// A quantity as upstream's `Quantity.UnmarshalJSON` reads one (a string, a bare number or null).
fn parse_quantity(v: &Value) -> Result<Quantity, quantity::Error> {
    match v {
        Value::String(s) => Quantity::parse(s.trim()),
        Value::Number(n) => Quantity::parse(&n.to_string()),
        Value::Null => Ok(Quantity::from_int(0)),
        _ => Err(quantity::Error::Format),
    }
}

/// The quantity maps of the kinds whose quantities are checked here.
fn quantity_maps<'a>(resource: &Resource, obj: &'a Value) -> Vec<&'a Value> {
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "LimitRange") => obj["spec"]["limits"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| LIMIT_FIELDS.iter().map(|f| &l[*f]))
            .collect(),
        ("", "ResourceQuota") => vec![
            &obj["spec"]["hard"],
            &obj["status"]["hard"],
            &obj["status"]["used"],
        ],
        _ => Vec::new(),
    }
}

/// A quantity that does not parse fails upstream's decoding (400), before validation.
fn check_quantities(resource: &Resource, obj: &Value) -> Result<(), ApiError> {
    for map in quantity_maps(resource, obj) {
        for v in map.as_object().into_iter().flat_map(Map::values) {
            if let Err(e) = parse_quantity(v) {
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
                    kind = resource.kind,
                    version = resource.version,
                )));
            }
        }
    }
    Ok(())
}

/// A map of quantities (those that parse; the others were refused by `check_quantities`).
fn quantity_map(v: &Value) -> BTreeMap<&str, Quantity> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, q)| Some((k.as_str(), parse_quantity(q).ok()?)))
        .collect()
}

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];
const INTEGER_RESOURCES: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_quota_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-") || name.starts_with("requests.hugepages-")
}

fn is_standard_resource(name: &str) -> bool {
    STANDARD_RESOURCES.contains(&name) || is_quota_hugepages(name)
}

fn is_standard_quota_resource(name: &str) -> bool {
    (STANDARD_RESOURCES.contains(&name) && name != "storage") || is_quota_hugepages(name)
}

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_extended_resource(name: &str) -> bool {
    !is_native_resource(name)
        && !name.starts_with("requests.")
        && qualified_name_msgs(&format!("requests.{name}")).is_empty()
}

fn is_overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !name.starts_with("hugepages-")
}

/// Upstream's `validateResourceName`.
fn resource_name_msgs(name: &str) -> Vec<String> {
    let msgs = qualified_name_msgs(name);
    if msgs.is_empty() && !name.contains('/') && !is_standard_resource(name) {
        return vec!["must be a standard resource type or fully qualified".to_owned()];
    }
    msgs
}

/// Upstream's `validateLimitRangeResourceName`.
fn limit_resource_name_msgs(limit_type: &str, name: &str) -> Vec<String> {
    let mut msgs = resource_name_msgs(name);
    if limit_type != "Pod" && limit_type != "Container" {
        return msgs;
    }
    if !name.contains('/') {
        if !["cpu", "memory", "ephemeral-storage"].contains(&name)
            && !name.starts_with("hugepages-")
        {
            msgs.push("must be a standard resource for containers".to_owned());
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        msgs.push("doesn't follow extended resource name standard".to_owned());
    }
    msgs
}

const LIMIT_FIELDS: &[&str] = &[
    "max",
    "min",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
];

/// One item of a LimitRange's `spec.limits`, its quantities by field.
struct Limit<'a> {
    max: BTreeMap<&'a str, Quantity>,
    min: BTreeMap<&'a str, Quantity>,
    default: BTreeMap<&'a str, Quantity>,
    default_request: BTreeMap<&'a str, Quantity>,
    ratio: BTreeMap<&'a str, Quantity>,
}

fn validate_limit_range(obj: &Value, causes: &mut Vec<Cause>) {
    let mut types = BTreeSet::new();
    for (i, limit) in obj["spec"]["limits"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("spec.limits[{i}]");
        let ty = limit["type"].as_str().unwrap_or_default();
        let mut msgs = qualified_name_msgs(ty);
        if msgs.is_empty()
            && !ty.contains('/')
            && !["Pod", "Container", "PersistentVolumeClaim"].contains(&ty)
        {
            msgs.push("must be a standard limit type or fully qualified".to_owned());
        }
        invalid_each(causes, &format!("{at}.type"), ty, msgs);
        if !types.insert(ty) {
            causes.push(duplicate(format!("{at}.type"), &json!(ty).to_string()));
        }
        validate_limit(limit, ty, &at, causes);
    }
}

fn validate_limit(limit: &Value, ty: &str, at: &str, causes: &mut Vec<Cause>) {
    let mut names = |field: &str| {
        for name in limit[field].as_object().into_iter().flat_map(Map::keys) {
            let msgs = limit_resource_name_msgs(ty, name);
            invalid_each(causes, &format!("{at}.{field}[{name}]"), name, msgs);
        }
    };
    names("max");
    names("min");
    let pod = ty == "Pod";
    if !pod {
        names("default");
        names("defaultRequest");
    }
    names("maxLimitRequestRatio");
    for field in ["default", "defaultRequest"] {
        if pod && limit[field].as_object().is_some_and(|m| !m.is_empty()) {
            causes.push(Cause::forbidden(
                format!("{at}.{field}"),
                "may not be specified when `type` is 'Pod'",
            ));
        }
    }
    let l = Limit {
        max: quantity_map(&limit["max"]),
        min: quantity_map(&limit["min"]),
        default: if pod {
            BTreeMap::new()
        } else {
            quantity_map(&limit["default"])
        },
        default_request: if pod {
            BTreeMap::new()
        } else {
            quantity_map(&limit["defaultRequest"])
        },
        ratio: quantity_map(&limit["maxLimitRequestRatio"]),
    };
    if ty == "PersistentVolumeClaim"
        && !l.min.contains_key("storage")
        && !l.max.contains_key("storage")
    {
        causes.push(Cause::required(
            format!("{at}.limits"),
            "either minimum or maximum storage value is required, but neither was provided",
        ));
    }
    let keys: BTreeSet<&str> = [&l.max, &l.min, &l.default, &l.default_request, &l.ratio]
        .into_iter()
        .flat_map(|m| m.keys().copied())
        .collect();
    for k in keys {
        compare_limits(&l, k, at, causes);
        compare_ratio(&l, k, at, causes);
    }
}

/// Upstream's ordering rules: min ≤ defaultRequest ≤ default ≤ max.
fn compare_limits(l: &Limit, k: &str, at: &str, causes: &mut Vec<Cause>) {
    let (min, max) = (l.min.get(k), l.max.get(k));
    let (default, request) = (l.default.get(k), l.default_request.get(k));
    let mut check = |bad: bool, field: &str, shown: Option<&Quantity>, detail: String| {
        if let (true, Some(q)) = (bad, shown) {
            causes.push(invalid_shown(
                format!("{at}.{field}[{k}]"),
                &q.to_string(),
                &detail,
            ));
        }
    };
    if let (Some(min), Some(max)) = (min, max) {
        check(
            min > max,
            "min",
            Some(min),
            format!("min value {min} is greater than max value {max}"),
        );
    }
    if let (Some(request), Some(min)) = (request, min) {
        let detail = format!("min value {min} is greater than default request value {request}");
        check(min > request, "defaultRequest", Some(request), detail);
    }
    if let (Some(request), Some(max)) = (request, max) {
        let detail = format!("default request value {request} is greater than max value {max}");
        check(request > max, "defaultRequest", Some(request), detail);
    }
    if let (Some(request), Some(default)) = (request, default) {
        let detail = format!(
            "default request value {request} is greater than default limit value {default}"
        );
        check(request > default, "defaultRequest", Some(request), detail);
    }
    if let (Some(default), Some(min)) = (default, min) {
        let detail = format!("min value {min} is greater than default value {default}");
        check(min > default, "default", Some(min), detail);
    }
    if let (Some(default), Some(max)) = (default, max) {
        let detail = format!("default value {default} is greater than max value {max}");
        check(default > max, "default", Some(max), detail);
    }
    if let (Some(default), Some(request)) = (default, request) {
        let detail =
            format!("default value {default} must equal to defaultRequest value {request} in {k}");
        check(
            !is_overcommit_allowed(k) && default != request,
            "defaultRequest",
            Some(request),
            detail,
        );
    }
}

/// Upstream's `maxLimitRequestRatio` rules: at least 1, at most max/min.
fn compare_ratio(l: &Limit, k: &str, at: &str, causes: &mut Vec<Cause>) {
    let Some(ratio) = l.ratio.get(k) else { return };
    let field = format!("{at}.maxLimitRequestRatio[{k}]");
    if *ratio < Quantity::from_int(1) {
        let detail = format!("ratio {ratio} is less than 1");
        causes.push(invalid_shown(field.as_str(), &ratio.to_string(), &detail));
    }
    let (Some(min), Some(max)) = (l.min.get(k), l.max.get(k)) else {
        return;
    };
    // Upstream's resource.MaxMilliValue: below it, milli precision is used.
    const MAX_MILLI: i128 = (i64::MAX / 1000) as i128;
    let precise = [ratio, min, max].iter().all(|q| q.value() < MAX_MILLI);
    let (ratio_value, min_value, max_value) = if precise {
        let r = ratio.milli_value() as f64 / 1000.0;
        (r, min.milli_value() as f64, max.milli_value() as f64)
    } else {
        (ratio.value() as f64, min.value() as f64, max.value() as f64)
    };
    let limit = max_value / min_value;
    if ratio_value > limit {
        let detail = format!("ratio {ratio} is greater than max/min = {limit:.6}");
        causes.push(invalid_shown(field, &ratio.to_string(), &detail));
    }
}

const QUOTA_SCOPES: &[&str] = &[
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
];

/// Upstream's `IsResourceQuotaScopeValidForResource`.
fn scope_applies_to(scope: &str, resource: &str) -> bool {
    const COMPUTE: &[&str] = &[
        "cpu",
        "memory",
        "limits.cpu",
        "limits.memory",
        "requests.cpu",
        "requests.memory",
    ];
    match scope {
        "BestEffort" => resource == "pods",
        "Terminating"
        | "NotTerminating"
        | "NotBestEffort"
        | "PriorityClass"
        | "CrossNamespacePodAffinity" => resource == "pods" || COMPUTE.contains(&resource),
        _ => true,
    }
}

fn validate_resource_quota(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = &obj["spec"];
    validate_quota_amounts(&spec["hard"], "spec.hard", causes);
    validate_quota_scopes(spec, causes);
    validate_scope_selector(spec, causes);
    fn scopes(o: &Value) -> Vec<&str> {
        strings(&o["spec"]["scopes"])
    }
    match old {
        None => {
            validate_quota_amounts(&obj["status"]["hard"], "status.hard", causes);
            validate_quota_amounts(&obj["status"]["used"], "status.used", causes);
        }
        Some(old) => {
            let before: BTreeSet<&str> = scopes(old).into_iter().collect();
            let after: BTreeSet<&str> = scopes(obj).into_iter().collect();
            if before != after {
                let list = scopes(obj);
                let shown = go_slice(
                    "core.ResourceQuotaScope",
                    spec["scopes"].is_array().then_some(list.as_slice()),
                );
                causes.push(invalid_shown("spec.scopes", &shown, "field is immutable"));
            }
        }
    }
}

/// Resource names and non-negative (whole, where counted) amounts of `hard` or `used`.
fn validate_quota_amounts(map: &Value, path: &str, causes: &mut Vec<Cause>) {
    for (name, q) in quantity_map(map) {
        let field = format!("{path}[{name}]");
        let mut msgs = resource_name_msgs(name);
        if !name.contains('/') && !is_standard_quota_resource(name) {
            msgs.push("must be a standard resource for quota".to_owned());
        }
        invalid_each(causes, &field, name, msgs);
        if q.is_negative() {
            let shown = q.to_string();
            invalid_each(
                causes,
                &field,
                &shown,
                vec!["must be greater than or equal to 0".to_owned()],
            );
        }
        let counted = INTEGER_RESOURCES.contains(&name) || is_extended_resource(name);
        if counted && q.milli_value() % 1000 != 0 {
            causes.push(invalid_shown(field, &q.to_string(), "must be an integer"));
        }
    }
}

/// Conflicting pairs of scopes.
fn conflicting(scopes: &BTreeSet<&str>) -> usize {
    [
        ("BestEffort", "NotBestEffort"),
        ("Terminating", "NotTerminating"),
    ]
    .iter()
    .filter(|(a, b)| scopes.contains(a) && scopes.contains(b))
    .count()
}

/// Upstream's `validateResourceQuotaScopes`.
fn validate_quota_scopes(spec: &Value, causes: &mut Vec<Cause>) {
    let scopes = strings(&spec["scopes"]);
    if scopes.is_empty() {
        return;
    }
    let shown = go_slice("core.ResourceQuotaScope", Some(&scopes));
    let hard: BTreeSet<&str> = spec["hard"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    for scope in &scopes {
        if !QUOTA_SCOPES.contains(scope) {
            causes.push(invalid_shown("spec.scopes", &shown, "unsupported scope"));
        }
        for k in &hard {
            if is_standard_quota_resource(k) && !scope_applies_to(scope, k) {
                causes.push(invalid_shown(
                    "spec.scopes",
                    &shown,
                    "unsupported scope applied to resource",
                ));
            }
        }
    }
    let set: BTreeSet<&str> = scopes.iter().copied().collect();
    for _ in 0..conflicting(&set) {
        causes.push(invalid_shown("spec.scopes", &shown, "conflicting scopes"));
    }
}

/// Upstream's `validateScopedResourceSelectorRequirement`, except its check of the scopes
/// against the hard resources (whose message prints the whole selector as Go's `%#v`).
fn validate_scope_selector(spec: &Value, causes: &mut Vec<Cause>) {
    const EXISTS_ONLY: &[&str] = &[
        "BestEffort",
        "NotBestEffort",
        "Terminating",
        "NotTerminating",
        "CrossNamespacePodAffinity",
    ];
    let path = "spec.scopeSelector.matchExpressions";
    let mut names = BTreeSet::new();
    let expressions = spec["scopeSelector"]["matchExpressions"].as_array();
    for req in expressions.into_iter().flatten() {
        let name = req["scopeName"].as_str().unwrap_or_default();
        let op = req["operator"].as_str().unwrap_or_default();
        if !QUOTA_SCOPES.contains(&name) {
            causes.push(Cause::invalid(
                format!("{path}.scopeName"),
                &json!(name),
                "unsupported scope",
            ));
        }
        if EXISTS_ONLY.contains(&name) && op != "Exists" {
            causes.push(Cause::invalid(format!("{path}.operator"), &json!(op), "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"));
        }
        let values = strings(&req["values"]);
        match op {
            "In" | "NotIn" if values.is_empty() => causes.push(Cause::required(
                format!("{path}.values"),
                "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => causes.push(invalid_shown(
                format!("{path}.values"),
                &go_slice("string", Some(&values)),
                "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            _ => causes.push(Cause::invalid(
                format!("{path}.operator"),
                &json!(op),
                "not a valid selector operator",
            )),
        }
        names.insert(name);
    }
    let scopes = strings(&spec["scopes"]);
    let shown = go_slice(
        "core.ResourceQuotaScope",
        spec["scopes"].is_array().then_some(scopes.as_slice()),
    );
    for _ in 0..conflicting(&names) {
        // Upstream shows `spec.scopes` here, not the selector.
        causes.push(invalid_shown(path, &shown, "conflicting scopes"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_api::Registry;

    fn res(group: &str, plural: &str) -> Resource {
        Registry::with_builtins()
            .get(
                group,
                if group == "autoscaling" { "v2" } else { "v1" },
                plural,
            )
            .unwrap()
            .as_ref()
            .clone()
    }

    fn deployment() -> Value {
        json!({"metadata": {"name": "my-api"}, "spec": {"selector": {"matchLabels": {"app": "my-api"}},
          "template": {"metadata": {"labels": {"app": "my-api"}},
            "spec": {"containers": [{"name": "api", "image": "nginx:1.26", "ports": [{"containerPort": 80}]}]}}}})
    }

    fn invalid(r: &Resource, obj: &Value, old: Option<&Value>) -> String {
        validate(r, obj, old).unwrap_err().message
    }

    #[test]
    fn labels_and_annotations_get_upstream_messages() {
        let cm = res("", "configmaps");
        let long = "a".repeat(64);
        let obj = json!({"metadata": {"name": "c", "labels": {"a/b/c": "x", "ok": long}}});
        let e = invalid(&cm, &obj, None);
        assert!(e.contains("metadata.labels: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters"), "{e}");
        assert!(
            e.contains(&format!(
                "metadata.labels: Invalid value: \"{long}\": must be no more than 63 characters"
            )),
            "{e}"
        );
        let obj = json!({"metadata": {"name": "c", "labels": {"Example.com/x": "-bad"}}});
        let e = invalid(&cm, &obj, None);
        assert!(e.contains("metadata.labels: Invalid value: \"Example.com/x\": prefix part a lowercase RFC 1123 subdomain"), "{e}");
        assert!(
            e.contains(
                "metadata.labels: Invalid value: \"-bad\": a valid label must be an empty string"
            ),
            "{e}"
        );
        // Annotation keys are qualified names whatever their case; the total size is capped.
        let ok = json!({"metadata": {"name": "c", "annotations": {"Example.com/Note": "x"}}});
        validate(&cm, &ok, None).unwrap();
        let bad = json!({"metadata": {"name": "c", "annotations": {"/x": "x"}}});
        assert!(invalid(&cm, &bad, None).contains(
            "metadata.annotations: Invalid value: \"/x\": prefix part must be non-empty"
        ));
        let big = json!({"metadata": {"name": "c", "annotations": {"k": "v".repeat(262144)}}});
        assert_eq!(
            invalid(&cm, &big, None),
            "ConfigMap \"c\" is invalid: metadata.annotations: Too long: must have at most 262144 bytes"
        );
    }

    #[test]
    fn leases_refuse_non_positive_durations() {
        let r = res("coordination.k8s.io", "leases");
        let lease = |d: i64, t: i64| json!({"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": d, "leaseTransitions": t}});
        validate(&r, &lease(15, 0), None).unwrap();
        assert_eq!(
            invalid(&r, &lease(0, -1), None),
            "Lease.coordination.k8s.io \"l\" is invalid: [spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0, spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0]"
        );
    }

    #[test]
    fn nodes_check_pod_cidrs_and_taints() {
        let r = res("", "nodes");
        let node = json!({"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.244.1.0/24",
            "podCIDRs": ["10.244.1.0/24", "fd00::/64"],
            "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}});
        validate(&r, &node, None).unwrap();
        let mut bad = node.clone();
        bad["spec"]["podCIDRs"] = json!(["10.244.1.0/33", "10.0.0.0/8", "10.1.0.0/16"]);
        let e = invalid(&r, &bad, None);
        assert!(e.contains("spec.podCIDRs[0]: Invalid value: \"10.244.1.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"), "{e}");
        assert!(e.contains("spec.podCIDRs: Invalid value: []string{\"10.244.1.0/33\", \"10.0.0.0/8\", \"10.1.0.0/16\"}: may specify no more than one CIDR for each IP family"), "{e}");
        let mut changed = node.clone();
        changed["spec"]["podCIDRs"] = json!(["10.244.2.0/24"]);
        changed["spec"]["podCIDR"] = json!("10.244.2.0/24");
        assert!(invalid(&r, &changed, Some(&node)).contains(
            "spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid"
        ));
        let mut unset = node.clone();
        unset["spec"] = json!({});
        validate(&r, &node, Some(&unset)).unwrap();
        let mut tainted = node.clone();
        tainted["spec"]["taints"] = json!([
            {"key": "a", "effect": "NoSchedule"},
            {"key": "a", "effect": "NoSchedule"},
            {"key": "b_", "effect": "Sometimes"},
            {"key": "c"},
        ]);
        let e = invalid(&r, &tainted, None);
        assert!(e.contains("metadata.taints[1]: Duplicate value: core.Taint{Key:\"a\", Value:\"\", Effect:\"NoSchedule\", TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair"), "{e}");
        assert!(
            e.contains("metadata.taints[2].key: Invalid value: \"b_\": name part must consist of"),
            "{e}"
        );
        assert!(e.contains("metadata.taints[2].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""), "{e}");
        assert!(
            e.contains("metadata.taints[3].effect: Required value"),
            "{e}"
        );
    }

    #[test]
    fn endpoints_check_addresses_and_ports() {
        let r = res("", "endpoints");
        let mut ep = json!({"metadata": {"name": "web"}, "subsets": [{
            "addresses": [{"ip": "10.0.0.7"}, {"ip": "010.0.0.8"}],
            "ports": [{"port": 80}]}]});
        default(&r, &mut ep);
        assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
        validate(&r, &ep, None).unwrap();
        let bad = json!({"metadata": {"name": "web"}, "subsets": [{
            "addresses": [{"ip": "10.0.0.300"}, {"ip": "127.0.0.1"}],
            "ports": [{"port": 0, "protocol": "HTTP"}, {"name": "Web", "port": 8080, "protocol": "TCP"}]},
            {"ports": [{"port": 1, "protocol": "UDP"}]}]});
        let e = invalid(&r, &bad, None);
        for want in [
            "subsets[0].addresses[0].ip: Invalid value: \"10.0.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            "subsets[0].addresses[0].ip: Invalid value: \"10.0.0.300\": must be a valid IP address,",
            "subsets[0].addresses[1].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)",
            "subsets[0].ports[0].name: Required value",
            "subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "subsets[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "subsets[0].ports[1].name: Invalid value: \"Web\": a lowercase RFC 1123 label",
            "subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`",
        ] {
            assert!(e.contains(want), "{want}\n{e}");
        }
    }

    #[test]
    fn limit_ranges_keep_min_default_max_in_order() {
        let r = res("", "limitranges");
        let lr = |limit: Value| json!({"metadata": {"name": "lr"}, "spec": {"limits": [limit]}});
        let ok = lr(
            json!({"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": 2},
            "default": {"cpu": "1"}, "defaultRequest": {"cpu": "500m"}}),
        );
        validate(&r, &ok, None).unwrap();
        let e = invalid(
            &r,
            &lr(json!({"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}})),
            None,
        );
        assert_eq!(
            e,
            "LimitRange \"lr\" is invalid: spec.limits[0].min[cpu]: Invalid value: 2: min value 2 is greater than max value 1"
        );
        let e = invalid(
            &r,
            &lr(json!({"type": "Container", "max": {"memory": "1Gi"},
                "default": {"memory": "1536Mi"}, "defaultRequest": {"memory": "2Gi"}})),
            None,
        );
        for want in [
            "spec.limits[0].defaultRequest[memory]: Invalid value: 2Gi: default request value 2Gi is greater than max value 1Gi",
            "spec.limits[0].defaultRequest[memory]: Invalid value: 2Gi: default request value 2Gi is greater than default limit value 1536Mi",
            "spec.limits[0].default[memory]: Invalid value: 1Gi: default value 1536Mi is greater than max value 1Gi",
        ] {
            assert!(e.contains(want), "{want}\n{e}");
        }
        let e = invalid(
            &r,
            &lr(json!({"type": "Box", "default": {"cpu": "1"}})),
            None,
        );
        assert!(e.contains("spec.limits[0].type: Invalid value: \"Box\": must be a standard limit type or fully qualified"), "{e}");
        let e = invalid(
            &r,
            &lr(json!({"type": "Pod", "default": {"cpu": "1"}})),
            None,
        );
        assert!(
            e.contains(
                "spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'"
            ),
            "{e}"
        );
        let e = invalid(
            &r,
            &lr(
                json!({"type": "Container", "max": {"disk": "1"}, "maxLimitRequestRatio": {"disk": "500m"}}),
            ),
            None,
        );
        assert!(e.contains("spec.limits[0].max[disk]: Invalid value: \"disk\": must be a standard resource type or fully qualified"), "{e}");
        assert!(e.contains("spec.limits[0].maxLimitRequestRatio[disk]: Invalid value: 500m: ratio 500m is less than 1"), "{e}");
        let e = validate(
            &r,
            &lr(json!({"type": "Container", "max": {"cpu": "lots"}})),
            None,
        )
        .unwrap_err();
        assert_eq!((e.code, e.reason), (400, "BadRequest"));
        assert_eq!(
            e.message,
            "LimitRange in version \"v1\" cannot be handled as a LimitRange: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
    }

    #[test]
    fn resource_quotas_check_amounts_and_scopes() {
        let r = res("", "resourcequotas");
        let rq = |spec: Value| json!({"metadata": {"name": "q"}, "spec": spec});
        let ok = rq(
            json!({"hard": {"pods": "10", "requests.cpu": "4", "count/deployments.apps": 5},
            "scopes": ["NotBestEffort"]}),
        );
        validate(&r, &ok, None).unwrap();
        let e = invalid(
            &r,
            &rq(json!({"hard": {"cpu": "-1", "pods": "1.5", "bogus": "1"}})),
            None,
        );
        for want in [
            "spec.hard[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
            "spec.hard[pods]: Invalid value: 1500m: must be an integer",
            "spec.hard[bogus]: Invalid value: \"bogus\": must be a standard resource type or fully qualified",
            "spec.hard[bogus]: Invalid value: \"bogus\": must be a standard resource for quota",
        ] {
            assert!(e.contains(want), "{want}\n{e}");
        }
        let e = invalid(
            &r,
            &rq(
                json!({"hard": {"services": "1"}, "scopes": ["Sometimes", "BestEffort", "NotBestEffort"]}),
            ),
            None,
        );
        for want in [
            "spec.scopes: Invalid value: []core.ResourceQuotaScope{\"Sometimes\", \"BestEffort\", \"NotBestEffort\"}: unsupported scope",
            "unsupported scope applied to resource",
            "conflicting scopes",
        ] {
            assert!(e.contains(want), "{want}\n{e}");
        }
        let mut changed = ok.clone();
        changed["spec"]["scopes"] = json!(["Terminating"]);
        assert!(invalid(&r, &changed, Some(&ok)).contains(
            "spec.scopes: Invalid value: []core.ResourceQuotaScope{\"Terminating\"}: field is immutable"
        ));
    }

    #[test]
    fn deployments_get_upstream_defaults() {
        let r = res("apps", "deployments");
        let mut d = deployment();
        default(&r, &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert!(
            c.get("env").is_none()
                && d["spec"]["template"]["spec"]
                    .get("initContainers")
                    .is_none(),
            "no nulls added: {c}"
        );
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        validate(&r, &d, None).unwrap();
    }

    #[test]
    fn invalid_deployments_are_refused_with_upstream_messages() {
        let r = res("apps", "deployments");
        let mut d = deployment();
        d["spec"]["replicas"] = json!(-1);
        default(&r, &mut d);
        let e = validate(&r, &d, None).unwrap_err();
        assert_eq!(
            e.message,
            "Deployment.apps \"my-api\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let mut other = deployment();
        other["spec"]["selector"] = json!({"matchLabels": {"app": "other"}});
        default(&r, &mut other);
        let e = validate(&r, &other, Some(&d)).unwrap_err();
        assert!(
            e.message
                .contains("`selector` does not match template `labels`"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("spec.selector: Invalid value"),
            "{}",
            e.message
        );
        let mut bad_name = deployment();
        bad_name["metadata"]["name"] = json!("My_App");
        default(&r, &mut bad_name);
        let e = validate(&r, &bad_name, None).unwrap_err();
        assert!(e.message.starts_with("Deployment.apps \"My_App\" is invalid: metadata.name: Invalid value: \"My_App\": a lowercase RFC 1123 subdomain"), "{}", e.message);
    }

    #[test]
    fn pods_default_and_keep_their_spec() {
        let r = res("", "pods");
        let mut p = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        default(&r, &mut p);
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(p["status"]["qosClass"], "BestEffort");
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
        validate(&r, &p, None).unwrap();
        let mut changed = p.clone();
        changed["spec"]["containers"][0]["image"] = json!("busybox:1.36");
        validate(&r, &changed, Some(&p)).unwrap();
        changed["spec"]["restartPolicy"] = json!("Never");
        assert!(
            validate(&r, &changed, Some(&p))
                .unwrap_err()
                .message
                .contains("pod updates may not change fields")
        );
        let empty = json!({"metadata": {"name": "p"}, "spec": {}});
        assert!(
            validate(&r, &empty, None)
                .unwrap_err()
                .message
                .contains("spec.containers: Required value")
        );
    }

    #[test]
    fn more_kinds_are_validated() {
        let rb = res("rbac.authorization.k8s.io", "rolebindings");
        let binding = json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}});
        validate(&rb, &binding, None).unwrap();
        let mut changed = binding.clone();
        changed["roleRef"]["name"] = json!("other");
        assert!(
            validate(&rb, &changed, Some(&binding))
                .unwrap_err()
                .message
                .contains("roleRef: Invalid value")
        );
        let cm = res("", "configmaps");
        let bad = json!({"metadata": {"name": "c"}, "data": {"bad key": "v"}});
        assert!(
            validate(&cm, &bad, None)
                .unwrap_err()
                .message
                .contains("data[bad key]: Invalid value: \"bad key\": a valid config key")
        );
        let cj = res("batch", "cronjobs");
        let no_schedule = json!({"metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}}});
        assert!(
            validate(&cj, &no_schedule, None)
                .unwrap_err()
                .message
                .contains("spec.schedule: Required value")
        );
    }

    #[test]
    fn storage_autoscaling_and_networking_kinds_are_validated() {
        let hpa = res("autoscaling", "horizontalpodautoscalers");
        let mut h = json!({"metadata": {"name": "h"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 0}});
        default(&hpa, &mut h);
        assert_eq!(h["spec"]["minReplicas"], 1);
        assert_eq!(
            h["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        assert!(
            validate(&hpa, &h, None)
                .unwrap_err()
                .message
                .contains("spec.maxReplicas: Invalid value: 0: must be greater than or equal to 1")
        );
        let pvc = res("", "persistentvolumeclaims");
        let p = json!({"metadata": {"name": "p"}, "spec": {}});
        let e = validate(&pvc, &p, None).unwrap_err().message;
        assert!(
            e.contains("spec.accessModes: Required value")
                && e.contains("spec.resources[storage]: Required value"),
            "{e}"
        );
        let ing = res("networking.k8s.io", "ingresses");
        let i = json!({"metadata": {"name": "i"}, "spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}});
        assert!(
            validate(&ing, &i, None)
                .unwrap_err()
                .message
                .contains("pathType: Required value: pathType must be specified")
        );
        let sc = res("storage.k8s.io", "storageclasses");
        assert!(
            validate(&sc, &json!({"metadata": {"name": "s"}}), None)
                .unwrap_err()
                .message
                .contains("provisioner: Required value")
        );
    }

    #[test]
    fn network_policies_and_roles() {
        let np = res("networking.k8s.io", "networkpolicies");
        let mut p = json!({"metadata": {"name": "n"}, "spec": {"podSelector": {},
            "egress": [{"ports": [{"port": 53}]}]}});
        default(&np, &mut p);
        assert_eq!(p["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(p["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
        validate(&np, &p, None).unwrap();
        let role = res("rbac.authorization.k8s.io", "roles");
        let r = json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]});
        assert!(
            validate(&role, &r, None)
                .unwrap_err()
                .message
                .contains("rules[0].verbs: Required value: verbs must contain at least one value")
        );
    }

    #[test]
    fn services_and_secrets_default() {
        let r = res("", "services");
        let mut s = json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}});
        default(&r, &mut s);
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
        validate(&r, &s, None).unwrap();
        let mut secret = json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}});
        default(&res("", "secrets"), &mut secret);
        assert_eq!(secret["data"]["k"], "dg==");
        assert_eq!(secret["type"], "Opaque");
        assert!(secret.get("stringData").is_none());
    }
}
