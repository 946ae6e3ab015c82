//! Defaulting and validation of built-in kinds, as upstream's `defaults.go` and `validation.go`
//! do it for the fields users meet (names, pods and pod templates, workloads, Services,
//! Namespaces, Secrets, Jobs), with upstream's messages so that kubectl prints them as users
//! know them.

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
    if !resource.custom {
        match (resource.group.as_str(), resource.kind.as_str()) {
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

/// A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63
/// alphanumerics, `-`, `_` and `.`, starting and ending alphanumeric.
fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let b = name.as_bytes();
    let name_ok = !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric();
    name_ok && prefix.is_none_or(is_subdomain)
}

fn validate_labels(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(labels) = meta(obj).and_then(|m| m.get("labels")) else {
        return;
    };
    let empty = Map::new();
    for (k, v) in labels.as_object().unwrap_or(&empty) {
        let value = v.as_str();
        let ok_value = value.is_some_and(|v| {
            v.len() <= 63
                && (v.is_empty()
                    || (v
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
                        && v.as_bytes()[0].is_ascii_alphanumeric()
                        && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric()))
        });
        if !ok_value {
            causes.push(Cause::invalid(
                "metadata.labels",
                v,
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ));
        }
        if !is_qualified_name(k) {
            causes.push(Cause::invalid(
                "metadata.labels",
                &json!(k),
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
            ));
        }
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
