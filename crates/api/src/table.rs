//! Server-side Table printing: the `columnDefinitions` and row `cells` of a `meta.k8s.io/v1`
//! Table, for every built-in kind and for custom resources, as kubectl 1.32 expects them.
//!
//! The spec is upstream's `pkg/printers/internalversion/printers.go` (v1.32) for built-in kinds,
//! the API server's default table convertor for kinds without a printer (Name, Created At), and
//! the apiextensions table convertor for custom resources (`additionalPrinterColumns`).
//!
//! Upstream's API server always prints the wide variant and kubectl hides the priority-1
//! columns unless `-o wide`, so a row here always carries every cell, in column order.
//!
//! Objects are read as their stored JSON. A missing or wrongly typed field reads as Go's zero
//! value, so the row is what upstream prints for an object without that field; where upstream's
//! defaulting always fills a field before printing (replicas, a Service's type, a port's
//! protocol, a Secret's type, a CronJob's suspend, an HPA's minReplicas and default CPU target),
//! its absence reads as that default. Nothing here panics on any input.
//!
//! Sans-IO: the caller passes `now`, so ages are deterministic.
//!
//! Known gaps: quantities are printed as stored (upstream re-canonicalises them, which the
//! API server does on write anyway); an autoscaling/v1 HPA's extra metrics annotation is
//! ignored; custom columns support a JSONPath subset (see [`custom_columns`]).

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Value, json};

use crate::time::{format_rfc3339, parse_rfc3339};

/// One Table `columnDefinition` of a built-in kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

/// One Table `columnDefinition` of a custom resource, with the JSONPath its cells come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CustomColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
    #[serde(skip)]
    pub json_path: String,
}

/// The columns for a kind (group `""` for core). Unknown kinds get upstream's default:
/// Name, Created At (type date).
pub fn columns(group: &str, kind: &str) -> Vec<Column> {
    printer(group, kind).map_or(DEFAULT, |p| p.2).to_vec()
}

/// The cells of one row for `object`, in column order: JSON strings, integers and booleans
/// exactly as upstream prints them.
pub fn cells(group: &str, kind: &str, object: &Value, now: SystemTime) -> Vec<Value> {
    let cells = printer(group, kind).map_or(default_cells as CellsFn, |p| p.3);
    cells(object, now)
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`: about two significant figures.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return match days % 365 {
            0 => format!("{years}y"),
            dy => format!("{years}y{dy}d"),
        };
    }
    format!("{years}y")
}

// ---------------------------------------------------------------------------------------------
// The printers: one table of column definitions and one cell function per kind.

type CellsFn = fn(&Value, SystemTime) -> Vec<Value>;

/// `(group, kind, columns, cells)` of one printer.
type Printer = (&'static str, &'static str, &'static [Column], CellsFn);

/// Every kind with its own printer upstream. Role, ClusterRole, LimitRange and
/// CustomResourceDefinition have none there either, so they get the default columns.
#[rustfmt::skip]
const PRINTERS: &[Printer] = &[
    ("", "Pod", POD, pod),
    ("", "PodTemplate", POD_TEMPLATE, pod_template),
    ("", "ReplicationController", REPLICATION_CONTROLLER, replication_controller),
    ("", "Service", SERVICE, service),
    ("", "Endpoints", ENDPOINTS, endpoints),
    ("", "Node", NODE, node),
    ("", "Namespace", NAMESPACE, namespace),
    ("", "Event", EVENT, core_event),
    ("", "ConfigMap", CONFIG_MAP, config_map),
    ("", "Secret", SECRET, secret),
    ("", "ServiceAccount", SERVICE_ACCOUNT, service_account),
    ("", "ResourceQuota", RESOURCE_QUOTA, resource_quota),
    ("", "PersistentVolume", PERSISTENT_VOLUME, persistent_volume),
    ("", "PersistentVolumeClaim", PERSISTENT_VOLUME_CLAIM, persistent_volume_claim),
    ("apps", "ReplicaSet", REPLICA_SET, replica_set),
    ("apps", "Deployment", DEPLOYMENT, deployment),
    ("apps", "StatefulSet", STATEFUL_SET, stateful_set),
    ("apps", "DaemonSet", DAEMON_SET, daemon_set),
    ("apps", "ControllerRevision", CONTROLLER_REVISION, controller_revision),
    ("batch", "Job", JOB, job),
    ("batch", "CronJob", CRON_JOB, cron_job),
    ("discovery.k8s.io", "EndpointSlice", ENDPOINT_SLICE, endpoint_slice),
    ("events.k8s.io", "Event", EVENT, events_event),
    ("autoscaling", "HorizontalPodAutoscaler", HPA, horizontal_pod_autoscaler),
    ("coordination.k8s.io", "Lease", LEASE, lease),
    ("rbac.authorization.k8s.io", "RoleBinding", ROLE_BINDING, role_binding),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding", CLUSTER_ROLE_BINDING, role_binding),
    ("policy", "PodDisruptionBudget", POD_DISRUPTION_BUDGET, pod_disruption_budget),
    ("networking.k8s.io", "NetworkPolicy", NETWORK_POLICY, network_policy),
    ("networking.k8s.io", "Ingress", INGRESS, ingress),
    ("networking.k8s.io", "IngressClass", INGRESS_CLASS, ingress_class),
    ("storage.k8s.io", "StorageClass", STORAGE_CLASS, storage_class),
    ("scheduling.k8s.io", "PriorityClass", PRIORITY_CLASS, priority_class),
    ("node.k8s.io", "RuntimeClass", RUNTIME_CLASS, runtime_class),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration", WEBHOOKS, webhooks),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", WEBHOOKS, webhooks),
];

fn printer(group: &str, kind: &str) -> Option<&'static Printer> {
    PRINTERS.iter().find(|(g, k, ..)| *g == group && *k == kind)
}

const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

/// A priority-1 column: kubectl shows it only with `-o wide`.
const fn wide(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        priority: 1,
        ..col(name, type_, description)
    }
}

const NAME: Column = Column {
    format: "name",
    ..col("Name", "string", docs::NAME)
};
const AGE: Column = col("Age", "string", docs::CREATION_TIMESTAMP);

const DEFAULT: &[Column] = &[NAME, col("Created At", "date", docs::CREATION_TIMESTAMP)];

/// The API server's default convertor: the name and the creation time in RFC 3339.
fn default_cells(o: &Value, _now: SystemTime) -> Vec<Value> {
    // Go formats the zero time when the timestamp is absent.
    let created = timestamp(&o["metadata"]["creationTimestamp"])
        .map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), format_rfc3339);
    vec![name(o), created.into()]
}

// ---------------------------------------------------------------------------------------------
// Pods

const POD: &[Column] = &[
    NAME,
    col("Ready", "string", docs::POD_READY),
    col("Status", "string", docs::POD_STATUS),
    col("Restarts", "string", docs::POD_RESTARTS),
    AGE,
    wide("IP", "string", docs::POD_IP),
    wide("Node", "string", docs::POD_NODE_NAME),
    wide("Nominated Node", "string", docs::POD_NOMINATED_NODE),
    wide("Readiness Gates", "string", docs::POD_READINESS_GATES),
];

/// `printPod`: READY counts running ready containers (and started sidecars) against all
/// containers plus sidecars; STATUS is the first thing that explains why the pod is not simply
/// in its phase; RESTARTS is a string with the age of the latest restart.
fn pod(o: &Value, now: SystemTime) -> Vec<Value> {
    let (spec, status) = (&o["spec"], &o["status"]);
    let init_specs = list(&spec["initContainers"]);
    let is_sidecar = |c: &Value| text(&c["restartPolicy"]) == "Always";
    // Go looks statuses up in a map by name, so the last spec of a duplicated name wins.
    let sidecar_named = |name: &str| {
        init_specs
            .iter()
            .rev()
            .find(|c| text(&c["name"]) == name)
            .is_some_and(is_sidecar)
    };
    let total =
        list(&spec["containers"]).len() + init_specs.iter().filter(|&c| is_sidecar(c)).count();
    let mut ready = 0;

    let phase = text(&status["phase"]);
    let mut reason = match text(&status["reason"]) {
        "" => phase.to_owned(),
        r => r.to_owned(),
    };
    let conditions = list(&status["conditions"]);
    if conditions
        .iter()
        .any(|c| text(&c["type"]) == "PodScheduled" && text(&c["reason"]) == "SchedulingGated")
    {
        reason = "SchedulingGated".to_owned();
    }

    let (mut restarts, mut sidecar_restarts) = (0, 0);
    let (mut last_restart, mut last_sidecar_restart) = (None, None);
    let mut initializing = false;
    for (i, c) in list(&status["initContainerStatuses"]).iter().enumerate() {
        let count = int(&c["restartCount"]);
        let finished = timestamp(&c["lastState"]["terminated"]["finishedAt"]);
        restarts += count;
        last_restart = last_restart.max(finished);
        let sidecar = sidecar_named(text(&c["name"]));
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = last_sidecar_restart.max(finished);
        }
        let (terminated, waiting) = (&c["state"]["terminated"], &c["state"]["waiting"]);
        if terminated.is_object() && int(&terminated["exitCode"]) == 0 {
            continue;
        }
        if sidecar && is_true(&c["started"]) {
            if is_true(&c["ready"]) {
                ready += 1;
            }
            continue;
        }
        reason = if terminated.is_object() {
            match text(&terminated["reason"]) {
                "" if int(&terminated["signal"]) != 0 => {
                    format!("Init:Signal:{}", int(&terminated["signal"]))
                }
                "" => format!("Init:ExitCode:{}", int(&terminated["exitCode"])),
                r => format!("Init:{r}"),
            }
        } else if waiting.is_object() && !matches!(text(&waiting["reason"]), "" | "PodInitializing")
        {
            format!("Init:{}", text(&waiting["reason"]))
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    let initialized = conditions
        .iter()
        .find(|c| text(&c["type"]) == "Initialized")
        .is_some_and(|c| text(&c["status"]) == "True");
    if !initializing || initialized {
        // Once initialised, only sidecar restarts still matter among init containers.
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in list(&status["containerStatuses"]).iter().rev() {
            restarts += int(&c["restartCount"]);
            last_restart = last_restart.max(timestamp(&c["lastState"]["terminated"]["finishedAt"]));
            let (terminated, waiting) = (&c["state"]["terminated"], &c["state"]["waiting"]);
            if waiting.is_object() && !text(&waiting["reason"]).is_empty() {
                reason = text(&waiting["reason"]).to_owned();
            } else if terminated.is_object() && !text(&terminated["reason"]).is_empty() {
                reason = text(&terminated["reason"]).to_owned();
            } else if terminated.is_object() {
                reason = match int(&terminated["signal"]) {
                    0 => format!("ExitCode:{}", int(&terminated["exitCode"])),
                    signal => format!("Signal:{signal}"),
                };
            } else if is_true(&c["ready"]) && c["state"]["running"].is_object() {
                has_running = true;
                ready += 1;
            }
        }
        // A container that exited cleanly must not hide one that is still serving.
        if reason == "Completed" && has_running {
            reason = if has_condition(conditions, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_owned();
        }
    }

    if deleting(o) && text(&status["reason"]) == "NodeLost" {
        reason = "Unknown".to_owned();
    } else if deleting(o) && !matches!(phase, "Succeeded" | "Failed") {
        reason = "Terminating".to_owned();
    }

    let restarts = match last_restart {
        Some(at) if restarts != 0 => format!("{restarts} ({} ago)", elapsed(at, now)),
        _ => restarts.to_string(),
    };

    // The internal type keeps only `podIPs`; converting v1 fills it from `podIP` when empty.
    let ip = match list(&status["podIPs"]).first() {
        Some(first) => text(&first["ip"]),
        None => text(&status["podIP"]),
    };
    let gates = list(&spec["readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let passed = gates
            .iter()
            .filter(|gate| {
                conditions
                    .iter()
                    .find(|c| text(&c["type"]) == text(&gate["conditionType"]))
                    .is_some_and(|c| text(&c["status"]) == "True")
            })
            .count();
        format!("{passed}/{}", gates.len())
    };

    vec![
        name(o),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts.into(),
        age(o, now),
        or_none(ip),
        or_none(text(&spec["nodeName"])),
        or_none(text(&status["nominatedNodeName"])),
        readiness_gates.into(),
    ]
}

const POD_TEMPLATE: &[Column] = &[
    NAME,
    col("Containers", "string", docs::CONTAINERS),
    col("Images", "string", docs::IMAGES),
    col("Pod Labels", "string", docs::POD_TEMPLATE_LABELS),
];

fn pod_template(o: &Value, _now: SystemTime) -> Vec<Value> {
    let template = &o["template"];
    let [names, images] = container_cells(&template["spec"]["containers"]);
    vec![
        name(o),
        names,
        images,
        format_labels(&template["metadata"]["labels"]).into(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Workloads

const REPLICATION_CONTROLLER: &[Column] = &[
    NAME,
    col("Desired", "integer", docs::RC_SPEC_REPLICAS),
    col("Current", "integer", docs::RC_STATUS_REPLICAS),
    col("Ready", "integer", docs::RC_READY_REPLICAS),
    AGE,
    wide("Containers", "string", docs::CONTAINERS),
    wide("Images", "string", docs::IMAGES),
    wide("Selector", "string", docs::RC_SELECTOR),
];

fn replication_controller(o: &Value, now: SystemTime) -> Vec<Value> {
    let (spec, status) = (&o["spec"], &o["status"]);
    let [names, images] = container_cells(&spec["template"]["spec"]["containers"]);
    vec![
        name(o),
        replicas(spec).into(),
        int(&status["replicas"]).into(),
        int(&status["readyReplicas"]).into(),
        age(o, now),
        names,
        images,
        format_labels(&spec["selector"]).into(),
    ]
}

const REPLICA_SET: &[Column] = &[
    NAME,
    col("Desired", "integer", docs::RS_SPEC_REPLICAS),
    col("Current", "integer", docs::RS_STATUS_REPLICAS),
    col("Ready", "integer", docs::RS_READY_REPLICAS),
    AGE,
    wide("Containers", "string", docs::CONTAINERS),
    wide("Images", "string", docs::IMAGES),
    wide("Selector", "string", docs::RS_SELECTOR),
];

fn replica_set(o: &Value, now: SystemTime) -> Vec<Value> {
    let (spec, status) = (&o["spec"], &o["status"]);
    let [names, images] = container_cells(&spec["template"]["spec"]["containers"]);
    vec![
        name(o),
        replicas(spec).into(),
        int(&status["replicas"]).into(),
        int(&status["readyReplicas"]).into(),
        age(o, now),
        names,
        images,
        format_label_selector(&spec["selector"]).into(),
    ]
}

const DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "string", docs::READY_PODS),
    col("Up-to-date", "string", docs::DEPLOY_UPDATED),
    col("Available", "string", docs::DEPLOY_AVAILABLE),
    AGE,
    wide("Containers", "string", docs::CONTAINERS),
    wide("Images", "string", docs::IMAGES),
    wide("Selector", "string", docs::DEPLOY_SELECTOR),
];

fn deployment(o: &Value, now: SystemTime) -> Vec<Value> {
    let (spec, status) = (&o["spec"], &o["status"]);
    let [names, images] = container_cells(&spec["template"]["spec"]["containers"]);
    // Unlike its siblings, the deployment printer shows an empty selector as "".
    let selector = selector_string(&spec["selector"]).unwrap_or_else(|()| "<invalid>".into());
    vec![
        name(o),
        format!("{}/{}", int(&status["readyReplicas"]), replicas(spec)).into(),
        int(&status["updatedReplicas"]).into(),
        int(&status["availableReplicas"]).into(),
        age(o, now),
        names,
        images,
        selector.into(),
    ]
}

const STATEFUL_SET: &[Column] = &[
    NAME,
    col("Ready", "string", docs::READY_PODS),
    AGE,
    wide("Containers", "string", docs::CONTAINERS),
    wide("Images", "string", docs::IMAGES),
];

fn stateful_set(o: &Value, now: SystemTime) -> Vec<Value> {
    let spec = &o["spec"];
    let [names, images] = container_cells(&spec["template"]["spec"]["containers"]);
    let ready = int(&o["status"]["readyReplicas"]);
    vec![
        name(o),
        format!("{ready}/{}", replicas(spec)).into(),
        age(o, now),
        names,
        images,
    ]
}

const DAEMON_SET: &[Column] = &[
    NAME,
    col("Desired", "integer", docs::DS_DESIRED),
    col("Current", "integer", docs::DS_CURRENT),
    col("Ready", "integer", docs::DS_READY),
    col("Up-to-date", "integer", docs::DS_UPDATED),
    col("Available", "integer", docs::DS_AVAILABLE),
    col("Node Selector", "string", docs::POD_NODE_SELECTOR),
    AGE,
    wide("Containers", "string", docs::CONTAINERS),
    wide("Images", "string", docs::IMAGES),
    wide("Selector", "string", docs::DS_SELECTOR),
];

fn daemon_set(o: &Value, now: SystemTime) -> Vec<Value> {
    let (spec, status) = (&o["spec"], &o["status"]);
    let pod_spec = &spec["template"]["spec"];
    let [names, images] = container_cells(&pod_spec["containers"]);
    vec![
        name(o),
        int(&status["desiredNumberScheduled"]).into(),
        int(&status["currentNumberScheduled"]).into(),
        int(&status["numberReady"]).into(),
        int(&status["updatedNumberScheduled"]).into(),
        int(&status["numberAvailable"]).into(),
        format_labels(&pod_spec["nodeSelector"]).into(),
        age(o, now),
        names,
        images,
        format_label_selector(&spec["selector"]).into(),
    ]
}

const CONTROLLER_REVISION: &[Column] = &[
    NAME,
    col("Controller", "string", docs::CONTROLLER_REVISION_CONTROLLER),
    col("Revision", "string", docs::CONTROLLER_REVISION_REVISION),
    AGE,
];

fn controller_revision(o: &Value, now: SystemTime) -> Vec<Value> {
    let owner = list(&o["metadata"]["ownerReferences"])
        .iter()
        .find(|r| is_true(&r["controller"]));
    let controller = owner.map_or_else(
        || "<none>".to_owned(),
        |r| {
            let kind = text(&r["kind"]);
            // The group of "apps/v1" is "apps"; of "v1", the core group "".
            let group = text(&r["apiVersion"])
                .rsplit_once('/')
                .map_or("", |(g, _)| g);
            let name = text(&r["name"]);
            match (group, kind) {
                ("", "") => name.to_owned(),
                ("", kind) => format!("{}/{name}", kind.to_lowercase()),
                (group, kind) => format!("{}.{}/{name}", kind.to_lowercase(), group.to_lowercase()),
            }
        },
    );
    vec![
        name(o),
        controller.into(),
        int(&o["revision"]).into(),
        age(o, now),
    ]
}

const JOB: &[Column] = &[
    NAME,
    col("Status", "string", docs::JOB_STATUS),
    col("Completions", "string", docs::JOB_SUCCEEDED),
    col("Duration", "string", docs::JOB_DURATION),
    AGE,
    wide("Containers", "string", docs::CONTAINERS),
    wide("Images", "string", docs::IMAGES),
    wide("Selector", "string", docs::JOB_SELECTOR),
];

fn job(o: &Value, now: SystemTime) -> Vec<Value> {
    let (spec, status) = (&o["spec"], &o["status"]);
    let succeeded = int(&status["succeeded"]);
    let completions = match spec["completions"].as_i64() {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => match int(&spec["parallelism"]) {
            parallelism if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        timestamp(&status["startTime"]),
        timestamp(&status["completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => elapsed(start, now),
        (Some(start), Some(done)) => elapsed(start, done),
    };
    let conditions = list(&status["conditions"]);
    let state = if has_condition(conditions, "Complete") {
        "Complete"
    } else if has_condition(conditions, "Failed") {
        "Failed"
    } else if deleting(o) {
        "Terminating"
    } else if has_condition(conditions, "Suspended") {
        "Suspended"
    } else if has_condition(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let [names, images] = container_cells(&spec["template"]["spec"]["containers"]);
    vec![
        name(o),
        state.into(),
        completions.into(),
        duration.into(),
        age(o, now),
        names,
        images,
        format_label_selector(&spec["selector"]).into(),
    ]
}

const CRON_JOB: &[Column] = &[
    NAME,
    col("Schedule", "string", docs::CRONJOB_SCHEDULE),
    col("Timezone", "string", docs::CRONJOB_TIME_ZONE),
    col("Suspend", "boolean", docs::CRONJOB_SUSPEND),
    col("Active", "integer", docs::CRONJOB_ACTIVE),
    col("Last Schedule", "string", docs::CRONJOB_LAST_SCHEDULE),
    AGE,
    wide("Containers", "string", docs::CONTAINERS),
    wide("Images", "string", docs::IMAGES),
    wide("Selector", "string", docs::JOB_SELECTOR),
];

fn cron_job(o: &Value, now: SystemTime) -> Vec<Value> {
    let (spec, status) = (&o["spec"], &o["status"]);
    let job_spec = &spec["jobTemplate"]["spec"];
    let last_schedule = match &status["lastScheduleTime"] {
        Value::Null => "<none>".to_owned(),
        at => since(at, now),
    };
    // printBoolPtr: "True"/"False"; defaulting makes suspend false when unset.
    let suspend = if is_true(&spec["suspend"]) {
        "True"
    } else {
        "False"
    };
    let [names, images] = container_cells(&job_spec["template"]["spec"]["containers"]);
    vec![
        name(o),
        text(&spec["schedule"]).into(),
        spec["timeZone"].as_str().unwrap_or("<none>").into(),
        suspend.into(),
        list(&status["active"]).len().into(),
        last_schedule.into(),
        age(o, now),
        names,
        images,
        format_label_selector(&job_spec["selector"]).into(),
    ]
}

const HPA: &[Column] = &[
    NAME,
    col("Reference", "string", docs::HPA_SCALE_TARGET_REF),
    col("Targets", "string", docs::HPA_METRICS),
    col("MinPods", "string", docs::HPA_MIN_REPLICAS),
    col("MaxPods", "string", docs::HPA_MAX_REPLICAS),
    col("Replicas", "string", docs::HPA_CURRENT_REPLICAS),
    AGE,
];

/// Reads autoscaling/v2 objects, and autoscaling/v1 ones through upstream's conversion of
/// `targetCPUUtilizationPercentage` into a CPU utilization metric.
fn horizontal_pod_autoscaler(o: &Value, now: SystemTime) -> Vec<Value> {
    let (spec, status) = (&o["spec"], &o["status"]);
    let target = &spec["scaleTargetRef"];
    let min_pods = spec["minReplicas"].as_i64().unwrap_or(1);
    vec![
        name(o),
        format!("{}/{}", text(&target["kind"]), text(&target["name"])).into(),
        hpa_targets(spec, status).into(),
        min_pods.to_string().into(),
        int(&spec["maxReplicas"]).into(),
        int(&status["currentReplicas"]).into(),
        age(o, now),
    ]
}

/// `formatHPAMetrics`: spec and status metrics are paired by position; at most two shown.
fn hpa_targets(spec: &Value, status: &Value) -> String {
    let synthesized_spec;
    let specs = match (
        &spec["metrics"],
        spec["targetCPUUtilizationPercentage"].as_i64(),
    ) {
        (Value::Null, percent) => {
            // v2 defaulting adds an 80% CPU target when no metric is given.
            let percent = percent.unwrap_or(80);
            synthesized_spec = [json!({"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": percent}}})];
            &synthesized_spec[..]
        }
        (metrics, _) => list(metrics),
    };
    let synthesized_status;
    let statuses = match status["currentCPUUtilizationPercentage"].as_i64() {
        Some(percent) if status["currentMetrics"].is_null() => {
            synthesized_status = [json!({"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": percent}}})];
            &synthesized_status[..]
        }
        _ => list(&status["currentMetrics"]),
    };
    if specs.is_empty() {
        return "<none>".to_owned();
    }
    let mut shown: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| hpa_metric(s, statuses.get(i)))
        .collect();
    if shown.len() > 2 {
        let more = shown.len() - 2;
        shown.truncate(2);
        return format!("{} + {more} more...", shown.join(", "));
    }
    shown.join(", ")
}

fn hpa_metric(spec: &Value, status: Option<&Value>) -> String {
    // The status of the same source kind, when the metric at this position has one.
    let current = |source: &str| status.map(|s| &s[source]).filter(|s| s.is_object());
    let unknown = || "<unknown>".to_owned();
    let percent = |v: &Value| v.as_i64().map(|p| format!("{p}%"));
    match text(&spec["type"]) {
        source @ ("External" | "Object") => {
            let key = if source == "External" {
                "external"
            } else {
                "object"
            };
            let target = &spec[key]["target"];
            if target["averageValue"].is_null() {
                let now =
                    current(key).map_or_else(unknown, |s| nil_quantity(&s["current"]["value"]));
                format!("{now}/{}", nil_quantity(&target["value"]))
            } else {
                let now = current(key)
                    .and_then(|s| quantity(&s["current"]["averageValue"]))
                    .unwrap_or_else(unknown);
                format!("{now}/{} (avg)", nil_quantity(&target["averageValue"]))
            }
        }
        "Pods" => {
            let now = current("pods")
                .map_or_else(unknown, |s| nil_quantity(&s["current"]["averageValue"]));
            format!(
                "{now}/{}",
                nil_quantity(&spec["pods"]["target"]["averageValue"])
            )
        }
        source @ ("Resource" | "ContainerResource") => {
            let key = if source == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let (resource, target) = (text(&spec[key]["name"]), &spec[key]["target"]);
            if target["averageValue"].is_null() {
                let now = current(key)
                    .and_then(|s| percent(&s["current"]["averageUtilization"]))
                    .unwrap_or_else(unknown);
                let goal =
                    percent(&target["averageUtilization"]).unwrap_or_else(|| "<auto>".into());
                format!("{resource}: {now}/{goal}")
            } else {
                let now = current(key)
                    .map_or_else(unknown, |s| nil_quantity(&s["current"]["averageValue"]));
                format!(
                    "{resource}: {now}/{}",
                    nil_quantity(&target["averageValue"])
                )
            }
        }
        _ => "<unknown type>".to_owned(),
    }
}

const POD_DISRUPTION_BUDGET: &[Column] = &[
    NAME,
    col("Min Available", "string", docs::PDB_MIN_AVAILABLE),
    col("Max Unavailable", "string", docs::PDB_MAX_UNAVAILABLE),
    col(
        "Allowed Disruptions",
        "integer",
        docs::PDB_ALLOWED_DISRUPTIONS,
    ),
    AGE,
];

fn pod_disruption_budget(o: &Value, now: SystemTime) -> Vec<Value> {
    let spec = &o["spec"];
    let bound = |v: &Value| int_or_string(v).unwrap_or_else(|| "N/A".to_owned());
    vec![
        name(o),
        bound(&spec["minAvailable"]).into(),
        bound(&spec["maxUnavailable"]).into(),
        int(&o["status"]["disruptionsAllowed"]).into(),
        age(o, now),
    ]
}

// ---------------------------------------------------------------------------------------------
// Networking

const SERVICE: &[Column] = &[
    NAME,
    col("Type", "string", docs::SVC_TYPE),
    col("Cluster-IP", "string", docs::SVC_CLUSTER_IP),
    col("External-IP", "string", docs::SVC_EXTERNAL_IPS),
    col("Port(s)", "string", docs::SVC_PORTS),
    AGE,
    wide("Selector", "string", docs::SVC_SELECTOR),
];

fn service(o: &Value, now: SystemTime) -> Vec<Value> {
    let spec = &o["spec"];
    let kind = match text(&spec["type"]) {
        "" => "ClusterIP",
        kind => kind,
    };
    // The internal type keeps only `clusterIPs`; converting v1 fills it from `clusterIP`.
    let cluster_ip = match list(&spec["clusterIPs"]).first() {
        Some(ip) => text(ip),
        None => text(&spec["clusterIP"]),
    };
    let external_ips: Vec<&str> = list(&spec["externalIPs"]).iter().map(text).collect();
    let external = match kind {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_owned(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            let balancer = load_balancer_addresses(&o["status"]["loadBalancer"]);
            match (balancer.is_empty(), external_ips.is_empty()) {
                (true, true) => "<pending>".to_owned(),
                (false, true) => balancer.join(","),
                _ => [
                    balancer,
                    external_ips.iter().map(|ip| (*ip).to_owned()).collect(),
                ]
                .concat()
                .join(","),
            }
        }
        "ExternalName" => text(&spec["externalName"]).to_owned(),
        _ => "<unknown>".to_owned(),
    };
    let ports: Vec<String> = list(&spec["ports"])
        .iter()
        .map(|p| {
            let protocol = match text(&p["protocol"]) {
                "" => "TCP",
                protocol => protocol,
            };
            match int(&p["nodePort"]) {
                node_port if node_port > 0 => {
                    format!("{}:{node_port}/{protocol}", int(&p["port"]))
                }
                _ => format!("{}/{protocol}", int(&p["port"])),
            }
        })
        .collect();
    vec![
        name(o),
        kind.into(),
        or_none(cluster_ip),
        external.into(),
        or_none(&ports.join(",")),
        age(o, now),
        format_labels(&spec["selector"]).into(),
    ]
}

/// The sorted, de-duplicated IPs (or else hostnames) of a load balancer status. The API
/// server prints wide, so upstream's 16-character clipping never applies.
fn load_balancer_addresses(status: &Value) -> Vec<String> {
    let mut addresses: Vec<String> = list(&status["ingress"])
        .iter()
        .map(|i| match text(&i["ip"]) {
            "" => text(&i["hostname"]),
            ip => ip,
        })
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

const ENDPOINTS: &[Column] = &[
    NAME,
    col("Endpoints", "string", docs::ENDPOINTS_SUBSETS),
    AGE,
];

fn endpoints(o: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(o),
        format_endpoints(list(&o["subsets"])).into(),
        age(o, now),
    ]
}

/// `formatEndpoints`: the first three `ip:port` pairs, then how many more.
fn format_endpoints(subsets: &[Value]) -> String {
    const MAX: usize = 3;
    if subsets.is_empty() {
        return "<none>".to_owned();
    }
    let (mut shown, mut count) = (Vec::new(), 0);
    for subset in subsets {
        let addresses = list(&subset["addresses"]);
        let ports = list(&subset["ports"]);
        // A headless service may have no ports: its endpoints are bare IPs.
        let port_numbers: Vec<Option<i64>> = if ports.is_empty() {
            vec![None]
        } else {
            ports.iter().map(|p| Some(int(&p["port"]))).collect()
        };
        for port in port_numbers {
            count += addresses.len();
            for address in addresses.iter().take(MAX.saturating_sub(shown.len())) {
                let ip = text(&address["ip"]);
                shown.push(match port {
                    None => ip.to_owned(),
                    Some(port) if ip.contains(':') => format!("[{ip}]:{port}"),
                    Some(port) => format!("{ip}:{port}"),
                });
            }
        }
    }
    match count.checked_sub(MAX) {
        Some(more) if more > 0 => format!("{} + {more} more...", shown.join(",")),
        _ => shown.join(","),
    }
}

const ENDPOINT_SLICE: &[Column] = &[
    NAME,
    col("AddressType", "string", docs::SLICE_ADDRESS_TYPE),
    col("Ports", "string", docs::SLICE_PORTS),
    col("Endpoints", "string", docs::SLICE_ENDPOINTS),
    AGE,
];

fn endpoint_slice(o: &Value, now: SystemTime) -> Vec<Value> {
    let ports = list(&o["ports"])
        .iter()
        .map(|p| match (&p["port"], &p["name"]) {
            (Value::Number(n), _) => n.to_string(),
            (_, Value::String(name)) => name.clone(),
            _ => "*".to_owned(),
        });
    let addresses = list(&o["endpoints"])
        .iter()
        .flat_map(|e| list(&e["addresses"]).iter().map(|a| text(a).to_owned()));
    vec![
        name(o),
        text(&o["addressType"]).into(),
        list_with_more(ports).into(),
        list_with_more(addresses).into(),
        age(o, now),
    ]
}

/// `listWithMoreString`: the first three, then how many more; `<unset>` when empty.
fn list_with_more(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.len() {
        0 => "<unset>".to_owned(),
        n if n > 3 => format!("{} + {} more...", items[..3].join(","), n - 3),
        _ => items.join(","),
    }
}

const INGRESS: &[Column] = &[
    NAME,
    col("Class", "string", docs::INGRESS_CLASS),
    col("Hosts", "string", docs::INGRESS_HOSTS),
    col("Address", "string", docs::INGRESS_ADDRESS),
    col("Ports", "string", docs::INGRESS_PORTS),
    AGE,
];

fn ingress(o: &Value, now: SystemTime) -> Vec<Value> {
    let spec = &o["spec"];
    let rules = list(&spec["rules"]);
    // formatHosts stops after three hosts and then counts every rule past the third.
    let (mut hosts, mut more) = (Vec::new(), false);
    for rule in rules {
        more |= hosts.len() == 3;
        if !more && !text(&rule["host"]).is_empty() {
            hosts.push(text(&rule["host"]));
        }
    }
    let hosts = match (hosts.is_empty(), more) {
        (true, _) => "*".to_owned(),
        (false, true) => format!("{} + {} more...", hosts.join(","), rules.len() - 3),
        (false, false) => hosts.join(","),
    };
    let ports = if list(&spec["tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(o),
        spec["ingressClassName"].as_str().unwrap_or("<none>").into(),
        hosts.into(),
        load_balancer_addresses(&o["status"]["loadBalancer"])
            .join(",")
            .into(),
        ports.into(),
        age(o, now),
    ]
}

const INGRESS_CLASS: &[Column] = &[
    NAME,
    col("Controller", "string", docs::INGRESS_CLASS_CONTROLLER),
    col("Parameters", "string", docs::INGRESS_CLASS_PARAMETERS),
    AGE,
];

fn ingress_class(o: &Value, now: SystemTime) -> Vec<Value> {
    let spec = &o["spec"];
    let parameters = match &spec["parameters"] {
        Value::Null => "<none>".to_owned(),
        p => match p["apiGroup"].as_str() {
            Some(group) => format!("{}.{group}/{}", text(&p["kind"]), text(&p["name"])),
            None => format!("{}/{}", text(&p["kind"]), text(&p["name"])),
        },
    };
    vec![
        name(o),
        text(&spec["controller"]).into(),
        parameters.into(),
        age(o, now),
    ]
}

const NETWORK_POLICY: &[Column] = &[
    NAME,
    col("Pod-Selector", "string", docs::NETPOL_POD_SELECTOR),
    AGE,
];

fn network_policy(o: &Value, now: SystemTime) -> Vec<Value> {
    let selector = format_label_selector(&o["spec"]["podSelector"]);
    vec![name(o), selector.into(), age(o, now)]
}

// ---------------------------------------------------------------------------------------------
// Cluster

const NODE: &[Column] = &[
    NAME,
    col("Status", "string", docs::NODE_STATUS),
    col("Roles", "string", docs::NODE_ROLES),
    AGE,
    col("Version", "string", docs::NODE_KUBELET_VERSION),
    wide("Internal-IP", "string", docs::NODE_ADDRESSES),
    wide("External-IP", "string", docs::NODE_ADDRESSES),
    wide("OS-Image", "string", docs::NODE_OS_IMAGE),
    wide("Kernel-Version", "string", docs::NODE_KERNEL_VERSION),
    wide("Container-Runtime", "string", docs::NODE_CONTAINER_RUNTIME),
];

fn node(o: &Value, now: SystemTime) -> Vec<Value> {
    let (spec, status) = (&o["spec"], &o["status"]);
    // Upstream indexes conditions by type, so the last Ready condition wins.
    let ready = list(&status["conditions"])
        .iter()
        .rev()
        .find(|c| text(&c["type"]) == "Ready");
    let mut state = match ready {
        Some(c) if text(&c["status"]) == "True" => "Ready".to_owned(),
        Some(_) => "NotReady".to_owned(),
        None => "Unknown".to_owned(),
    };
    if is_true(&spec["unschedulable"]) {
        state.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<&str> = o["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(
            |(key, value)| match key.strip_prefix("node-role.kubernetes.io/") {
                Some(role) => Some(role),
                None if key == "kubernetes.io/role" => value.as_str(),
                None => None,
            },
        )
        .filter(|role| !role.is_empty())
        .collect();
    roles.sort_unstable();
    roles.dedup();
    let address = |kind: &str| {
        list(&status["addresses"])
            .iter()
            .find(|a| text(&a["type"]) == kind)
            .map_or("<none>", |a| text(&a["address"]))
    };
    let info = &status["nodeInfo"];
    let or_unknown = |s: &str| {
        if s.is_empty() {
            "<unknown>".to_owned()
        } else {
            s.to_owned()
        }
    };
    vec![
        name(o),
        state.into(),
        or_none(&roles.join(",")),
        age(o, now),
        text(&info["kubeletVersion"]).into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        or_unknown(text(&info["osImage"])).into(),
        or_unknown(text(&info["kernelVersion"])).into(),
        or_unknown(text(&info["containerRuntimeVersion"])).into(),
    ]
}

const NAMESPACE: &[Column] = &[NAME, col("Status", "string", docs::NAMESPACE_STATUS), AGE];

fn namespace(o: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(o), text(&o["status"]["phase"]).into(), age(o, now)]
}

const EVENT: &[Column] = &[
    col("Last Seen", "string", docs::EVENT_LAST_TIMESTAMP),
    col("Type", "string", docs::EVENT_TYPE),
    col("Reason", "string", docs::EVENT_REASON),
    col("Object", "string", docs::EVENT_INVOLVED_OBJECT),
    wide("Subobject", "string", docs::EVENT_FIELD_PATH),
    wide("Source", "string", docs::EVENT_SOURCE),
    col("Message", "string", docs::EVENT_MESSAGE),
    wide("First Seen", "string", docs::EVENT_FIRST_TIMESTAMP),
    wide("Count", "string", docs::EVENT_COUNT),
    Column {
        priority: 1,
        ..NAME
    },
];

/// The fields of an Event that the printer reads, wherever its API version keeps them.
struct EventFields<'a> {
    object: &'a Value,
    first_timestamp: &'a Value,
    last_timestamp: &'a Value,
    event_time: &'a Value,
    series: &'a Value,
    count: &'a Value,
    involved: &'a Value,
    source: &'a Value,
    controller: &'a Value,
    instance: &'a Value,
    message: &'a Value,
}

fn core_event(o: &Value, now: SystemTime) -> Vec<Value> {
    event(
        &EventFields {
            object: o,
            first_timestamp: &o["firstTimestamp"],
            last_timestamp: &o["lastTimestamp"],
            event_time: &o["eventTime"],
            series: &o["series"],
            count: &o["count"],
            involved: &o["involvedObject"],
            source: &o["source"],
            controller: &o["reportingComponent"],
            instance: &o["reportingInstance"],
            message: &o["message"],
        },
        now,
    )
}

/// events.k8s.io/v1 is served from the core Event storage and printed by the same printer,
/// through the conversion that renames its fields.
fn events_event(o: &Value, now: SystemTime) -> Vec<Value> {
    event(
        &EventFields {
            object: o,
            first_timestamp: &o["deprecatedFirstTimestamp"],
            last_timestamp: &o["deprecatedLastTimestamp"],
            event_time: &o["eventTime"],
            series: &o["series"],
            count: &o["deprecatedCount"],
            involved: &o["regarding"],
            source: &o["deprecatedSource"],
            controller: &o["reportingController"],
            instance: &o["reportingInstance"],
            message: &o["note"],
        },
        now,
    )
}

fn event(e: &EventFields<'_>, now: SystemTime) -> Vec<Value> {
    let first_seen = match timestamp(e.first_timestamp) {
        Some(_) => since(e.first_timestamp, now),
        None => since(e.event_time, now),
    };
    let mut last_seen = match timestamp(e.last_timestamp) {
        Some(_) => since(e.last_timestamp, now),
        None => first_seen.clone(),
    };
    let mut count = int(e.count);
    if e.series.is_object() {
        last_seen = since(&e.series["lastObservedTime"], now);
        count = int(&e.series["count"]);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let kind = text(&e.involved["kind"]).to_lowercase();
    let object = match text(&e.involved["name"]) {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let component = first_non_empty(text(&e.source["component"]), text(e.controller));
    let source = match first_non_empty(text(&e.source["host"]), text(e.instance)) {
        "" => component.to_owned(),
        instance => format!("{component}, {instance}"),
    };
    let o = e.object;
    vec![
        last_seen.into(),
        text(&o["type"]).into(),
        text(&o["reason"]).into(),
        object.into(),
        text(&e.involved["fieldPath"]).into(),
        source.into(),
        text(e.message).trim().into(),
        first_seen.into(),
        count.into(),
        name(o),
    ]
}

const LEASE: &[Column] = &[NAME, col("Holder", "string", docs::LEASE_HOLDER), AGE];

fn lease(o: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(o),
        text(&o["spec"]["holderIdentity"]).into(),
        age(o, now),
    ]
}

const PRIORITY_CLASS: &[Column] = &[
    NAME,
    col("Value", "integer", docs::PC_VALUE),
    col("Global-Default", "boolean", docs::PC_GLOBAL_DEFAULT),
    AGE,
    col("PreemptionPolicy", "string", docs::PC_PREEMPTION_POLICY),
];

fn priority_class(o: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(o),
        int(&o["value"]).into(),
        is_true(&o["globalDefault"]).into(),
        age(o, now),
        text(&o["preemptionPolicy"]).into(),
    ]
}

const RUNTIME_CLASS: &[Column] = &[
    NAME,
    // Upstream looks this description up under a key ObjectMeta does not have.
    col("Handler", "string", ""),
    AGE,
];

fn runtime_class(o: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(o), text(&o["handler"]).into(), age(o, now)]
}

const WEBHOOKS: &[Column] = &[NAME, col("Webhooks", "integer", docs::WEBHOOKS), AGE];

fn webhooks(o: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(o), list(&o["webhooks"]).len().into(), age(o, now)]
}

// ---------------------------------------------------------------------------------------------
// Configuration, storage and access control

const CONFIG_MAP: &[Column] = &[NAME, col("Data", "string", docs::CONFIGMAP_DATA), AGE];

fn config_map(o: &Value, now: SystemTime) -> Vec<Value> {
    let entries = keys(&o["data"]) + keys(&o["binaryData"]);
    vec![name(o), entries.into(), age(o, now)]
}

const SECRET: &[Column] = &[
    NAME,
    col("Type", "string", docs::SECRET_TYPE),
    col("Data", "string", docs::SECRET_DATA),
    AGE,
];

fn secret(o: &Value, now: SystemTime) -> Vec<Value> {
    let kind = match text(&o["type"]) {
        "" => "Opaque",
        kind => kind,
    };
    vec![name(o), kind.into(), keys(&o["data"]).into(), age(o, now)]
}

const SERVICE_ACCOUNT: &[Column] = &[NAME, col("Secrets", "string", docs::SA_SECRETS), AGE];

fn service_account(o: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(o), list(&o["secrets"]).len().into(), age(o, now)]
}

/// Column order as in v1.32; v1.33 moved Age after Limit.
const RESOURCE_QUOTA: &[Column] = &[
    NAME,
    AGE,
    col("Request", "string", docs::QUOTA_REQUEST),
    col("Limit", "string", docs::QUOTA_LIMIT),
];

/// `used/hard` per resource, sorted by name; `limits.*` resources go to the Limit column.
fn resource_quota(o: &Value, now: SystemTime) -> Vec<Value> {
    let status = &o["status"];
    let mut resources: Vec<&String> = status["hard"]
        .as_object()
        .map(|hard| hard.keys().collect())
        .unwrap_or_default();
    resources.sort();
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    for resource in resources {
        let used = quantity(&status["used"][resource.as_str()]).unwrap_or_else(|| "0".into());
        let hard = quantity(&status["hard"][resource.as_str()]).unwrap_or_else(|| "0".into());
        let entry = format!("{resource}: {used}/{hard}");
        match resource.split_once('.') {
            Some(("limits", _)) => limits.push(entry),
            _ => requests.push(entry),
        }
    }
    vec![
        name(o),
        age(o, now),
        requests.join(", ").into(),
        limits.join(", ").into(),
    ]
}

const PERSISTENT_VOLUME: &[Column] = &[
    NAME,
    col("Capacity", "string", docs::PV_CAPACITY),
    col("Access Modes", "string", docs::PV_ACCESS_MODES),
    col("Reclaim Policy", "string", docs::PV_RECLAIM_POLICY),
    col("Status", "string", docs::PV_PHASE),
    col("Claim", "string", docs::PV_CLAIM_REF),
    col("StorageClass", "string", docs::PV_STORAGE_CLASS),
    col(
        "VolumeAttributesClass",
        "string",
        docs::PV_VOLUME_ATTRIBUTES_CLASS,
    ),
    col("Reason", "string", docs::PV_REASON),
    AGE,
    wide("VolumeMode", "string", docs::PV_VOLUME_MODE),
];

fn persistent_volume(o: &Value, now: SystemTime) -> Vec<Value> {
    let (spec, status) = (&o["spec"], &o["status"]);
    let claim = match &spec["claimRef"] {
        Value::Null => String::new(),
        claim => format!("{}/{}", text(&claim["namespace"]), text(&claim["name"])),
    };
    let phase = if deleting(o) {
        "Terminating"
    } else {
        text(&status["phase"])
    };
    vec![
        name(o),
        quantity(&spec["capacity"]["storage"])
            .unwrap_or_else(|| "0".into())
            .into(),
        access_modes(&spec["accessModes"]).into(),
        text(&spec["persistentVolumeReclaimPolicy"]).into(),
        phase.into(),
        claim.into(),
        volume_class(o).into(),
        spec["volumeAttributesClassName"]
            .as_str()
            .unwrap_or("<unset>")
            .into(),
        text(&status["reason"]).into(),
        age(o, now),
        spec["volumeMode"].as_str().unwrap_or("<unset>").into(),
    ]
}

const PERSISTENT_VOLUME_CLAIM: &[Column] = &[
    NAME,
    col("Status", "string", docs::PVC_PHASE),
    col("Volume", "string", docs::PVC_VOLUME_NAME),
    col("Capacity", "string", docs::PVC_CAPACITY),
    col("Access Modes", "string", docs::PVC_ACCESS_MODES),
    col("StorageClass", "string", docs::PVC_STORAGE_CLASS),
    col(
        "VolumeAttributesClass",
        "string",
        docs::PVC_VOLUME_ATTRIBUTES_CLASS,
    ),
    AGE,
    wide("VolumeMode", "string", docs::PVC_VOLUME_MODE),
];

fn persistent_volume_claim(o: &Value, now: SystemTime) -> Vec<Value> {
    let (spec, status) = (&o["spec"], &o["status"]);
    let phase = if deleting(o) {
        "Terminating"
    } else {
        text(&status["phase"])
    };
    let volume = text(&spec["volumeName"]);
    // Capacity and access modes are only shown once the claim is bound to a volume.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        let capacity = quantity(&status["capacity"]["storage"]).unwrap_or_else(|| "0".into());
        (capacity, access_modes(&status["accessModes"]))
    };
    vec![
        name(o),
        phase.into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        volume_class(o).into(),
        spec["volumeAttributesClassName"]
            .as_str()
            .unwrap_or("<unset>")
            .into(),
        age(o, now),
        spec["volumeMode"].as_str().unwrap_or("<unset>").into(),
    ]
}

/// The beta annotation still takes precedence over `spec.storageClassName`.
fn volume_class(o: &Value) -> &str {
    match &o["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"] {
        Value::String(class) => class,
        _ => text(&o["spec"]["storageClassName"]),
    }
}

/// `GetAccessModesAsString`: abbreviations in a fixed order, each once.
fn access_modes(modes: &Value) -> String {
    let modes: Vec<&str> = list(modes).iter().map(text).collect();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.contains(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

const STORAGE_CLASS: &[Column] = &[
    NAME,
    col("Provisioner", "string", docs::SC_PROVISIONER),
    col("ReclaimPolicy", "string", docs::SC_RECLAIM_POLICY),
    col("VolumeBindingMode", "string", docs::SC_VOLUME_BINDING_MODE),
    col("AllowVolumeExpansion", "string", docs::SC_ALLOW_EXPANSION),
    AGE,
];

fn storage_class(o: &Value, now: SystemTime) -> Vec<Value> {
    let annotations = &o["metadata"]["annotations"];
    let is_default = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|key| text(&annotations[*key]) == "true");
    let mut name = text(&o["metadata"]["name"]).to_owned();
    if is_default {
        name.push_str(" (default)");
    }
    vec![
        name.into(),
        text(&o["provisioner"]).into(),
        o["reclaimPolicy"].as_str().unwrap_or("Delete").into(),
        o["volumeBindingMode"]
            .as_str()
            .unwrap_or("Immediate")
            .into(),
        is_true(&o["allowVolumeExpansion"]).into(),
        age(o, now),
    ]
}

const ROLE_BINDING: &[Column] = &[
    NAME,
    col("Role", "string", docs::ROLE_BINDING_ROLE_REF),
    AGE,
    wide("Users", "string", docs::RB_USERS),
    wide("Groups", "string", docs::RB_GROUPS),
    wide("ServiceAccounts", "string", docs::RB_SERVICE_ACCOUNTS),
];

const CLUSTER_ROLE_BINDING: &[Column] = &[
    NAME,
    col("Role", "string", docs::CLUSTER_ROLE_BINDING_ROLE_REF),
    AGE,
    wide("Users", "string", docs::CRB_USERS),
    wide("Groups", "string", docs::CRB_GROUPS),
    wide("ServiceAccounts", "string", docs::CRB_SERVICE_ACCOUNTS),
];

/// RoleBinding and ClusterRoleBinding print alike; subjects of other kinds are not shown.
fn role_binding(o: &Value, now: SystemTime) -> Vec<Value> {
    let role = &o["roleRef"];
    let (mut users, mut groups, mut accounts) = (Vec::new(), Vec::new(), Vec::new());
    for subject in list(&o["subjects"]) {
        let name = text(&subject["name"]);
        match text(&subject["kind"]) {
            "User" => users.push(name.to_owned()),
            "Group" => groups.push(name.to_owned()),
            "ServiceAccount" => accounts.push(format!("{}/{name}", text(&subject["namespace"]))),
            _ => {}
        }
    }
    vec![
        name(o),
        format!("{}/{}", text(&role["kind"]), text(&role["name"])).into(),
        age(o, now),
        users.join(", ").into(),
        groups.join(", ").into(),
        accounts.join(", ").into(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Custom resources

/// Columns of a custom resource from one CRD version's `additionalPrinterColumns`
/// (`[{name, type, format, description, priority, jsonPath}]`), after the Name column as
/// upstream does. Without printer columns upstream serves a single Age column.
///
/// JSONPath support is a subset of kubectl's: `.a.b`, `.a[0]` (negative counts from the end),
/// `.a[*].b`, `['a.b']`, `\.` in field names, an optional `$` or surrounding `{}`. Filters,
/// slices, unions and recursive descent are not supported; such a column's cells are null.
/// As upstream, a path matching several values shows the first.
pub fn custom_columns(printer_columns: &Value) -> Vec<CustomColumn> {
    let mut columns = vec![CustomColumn {
        name: "Name".into(),
        type_: "string".into(),
        format: "name".into(),
        description: docs::NAME.into(),
        priority: 0,
        json_path: ".metadata.name".into(),
    }];
    let defined = list(printer_columns);
    if defined.is_empty() {
        columns.push(CustomColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: docs::CREATION_TIMESTAMP.into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        });
        return columns;
    }
    columns.extend(defined.iter().map(|c| {
        let json_path = text(&c["jsonPath"]).to_owned();
        let description = match text(&c["description"]) {
            "" => format!("Custom resource definition column (in JSONPath format): {json_path}"),
            d => d.to_owned(),
        };
        CustomColumn {
            name: text(&c["name"]).into(),
            type_: text(&c["type"]).into(),
            format: text(&c["format"]).into(),
            description,
            priority: i32::try_from(int(&c["priority"])).unwrap_or(0),
            json_path,
        }
    }));
    columns
}

/// The cells of one custom resource row for the columns of [`custom_columns`]. A value that is
/// missing or does not fit its column's type is null (kubectl prints `<none>`); dates are ages.
pub fn custom_cells(printer_columns: &Value, object: &Value, now: SystemTime) -> Vec<Value> {
    let columns = custom_columns(printer_columns);
    let mut cells = vec![name(object)];
    cells.extend(columns.iter().skip(1).map(|c| {
        let value = parse_json_path(&c.json_path).and_then(|steps| find_first(object, &steps));
        custom_cell(&c.type_, value, now)
    }));
    cells
}

fn custom_cell(type_: &str, value: Option<&Value>, now: SystemTime) -> Value {
    match (type_, value) {
        (_, None | Some(Value::Null)) => Value::Null,
        ("string", Some(v)) => go_print(v).into(),
        // Go truncates a fractional number towards zero.
        ("integer", Some(Value::Number(n))) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map_or(Value::Null, Value::from),
        ("number", Some(Value::Number(n))) => Value::Number(n.clone()),
        ("boolean", Some(Value::Bool(b))) => Value::Bool(*b),
        ("date", Some(Value::String(s))) => match s.as_str() {
            "" | "null" => "<unknown>".into(),
            s => parse_rfc3339(s)
                .map_or_else(|| "<invalid>".to_owned(), |t| elapsed(t, now))
                .into(),
        },
        _ => Value::Null,
    }
}

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
}

fn parse_json_path(path: &str) -> Option<Vec<Step>> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut chars = path.chars().peekable();
    let mut steps = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut field = String::new();
                while let Some(&c) = chars.peek() {
                    match c {
                        '.' | '[' => break,
                        '\\' => {
                            chars.next();
                            field.push(chars.next()?);
                        }
                        _ => {
                            field.push(c);
                            chars.next();
                        }
                    }
                }
                if field.is_empty() {
                    return None;
                }
                steps.push(Step::Field(field));
            }
            '[' => {
                let mut inner = String::new();
                loop {
                    match chars.next()? {
                        ']' => break,
                        c => inner.push(c),
                    }
                }
                let inner = inner.trim();
                let quoted = ['\'', '"'].iter().find_map(|q| {
                    inner
                        .strip_prefix(*q)
                        .and_then(|rest| rest.strip_suffix(*q))
                });
                steps.push(match (inner, quoted) {
                    (_, Some(key)) => Step::Field(key.to_owned()),
                    ("*", None) => Step::All,
                    (index, None) => Step::Index(index.parse().ok()?),
                });
            }
            _ => return None,
        }
    }
    Some(steps)
}

fn find_first<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(value);
    };
    match (step, value) {
        (Step::Field(field), Value::Object(map)) => find_first(map.get(field)?, rest),
        (Step::Index(index), Value::Array(items)) => {
            let len = i64::try_from(items.len()).ok()?;
            let index = if *index < 0 { len + index } else { *index };
            find_first(items.get(usize::try_from(index).ok()?)?, rest)
        }
        (Step::All, Value::Array(items)) => items.iter().find_map(|v| find_first(v, rest)),
        (Step::All, Value::Object(map)) => map.values().find_map(|v| find_first(v, rest)),
        _ => None,
    }
}

/// A value as kubectl's JSONPath prints it: scalars with Go's `fmt`, objects and arrays as
/// JSON with sorted keys.
fn go_print(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => go_float(f),
            _ => n.to_string(),
        },
        Value::Object(_) | Value::Array(_) => {
            let mut out = String::new();
            go_json(value, &mut out);
            out
        }
        other => other.to_string(),
    }
}

/// `fmt.Sprint(float64)`: the shortest digits, in exponent form below 1e-4 and from 1e6 up.
fn go_float(f: f64) -> String {
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..6).contains(&exponent) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{sign}{first}{dot}{rest}e{exp_sign}{:02}",
            exponent.unsigned_abs()
        );
    }
    let point = usize::try_from(exponent + 1).unwrap_or(0);
    if exponent < 0 {
        let zeros = "0".repeat(exponent.unsigned_abs() as usize - 1);
        format!("{sign}0.{zeros}{digits}")
    } else if digits.len() <= point {
        format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

/// Go's `json.Marshal` of a decoded value: sorted keys and HTML-safe strings.
fn go_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(&Value::String(key.clone()), out);
                out.push(':');
                go_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(v, out);
            }
            out.push(']');
        }
        Value::String(_) => {
            let encoded = value.to_string();
            out.push_str(
                &encoded
                    .replace('<', "\\u003c")
                    .replace('>', "\\u003e")
                    .replace('&', "\\u0026")
                    .replace('\u{2028}', "\\u2028")
                    .replace('\u{2029}', "\\u2029"),
            );
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading JSON the way Go reads it into typed structs: absent or mistyped means zero.

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn keys(v: &Value) -> usize {
    v.as_object().map_or(0, serde_json::Map::len)
}

fn is_true(v: &Value) -> bool {
    v.as_bool() == Some(true)
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

fn or_none(s: &str) -> Value {
    if s.is_empty() { "<none>" } else { s }.into()
}

fn name(o: &Value) -> Value {
    text(&o["metadata"]["name"]).into()
}

fn deleting(o: &Value) -> bool {
    !o["metadata"]["deletionTimestamp"].is_null()
}

/// `spec.replicas`, which upstream's defaulting sets to 1 when absent.
fn replicas(spec: &Value) -> i64 {
    spec["replicas"].as_i64().unwrap_or(1)
}

/// Whether the first condition of this type has status True.
fn has_condition(conditions: &[Value], kind: &str) -> bool {
    conditions
        .iter()
        .find(|c| text(&c["type"]) == kind)
        .is_some_and(|c| text(&c["status"]) == "True")
}

/// A `resource.Quantity` as stored (the API server stores the canonical form).
fn quantity(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A `*resource.Quantity`, which Go prints as `<nil>` when unset.
fn nil_quantity(v: &Value) -> String {
    quantity(v).unwrap_or_else(|| "<nil>".to_owned())
}

fn int_or_string(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn timestamp(v: &Value) -> Option<SystemTime> {
    v.as_str().and_then(parse_rfc3339)
}

/// `translateTimestampSince`: `<unknown>` for an unset time.
fn since(v: &Value, now: SystemTime) -> String {
    timestamp(v).map_or_else(|| "<unknown>".to_owned(), |t| elapsed(t, now))
}

/// `HumanDuration(to - from)`, including upstream's reading of a negative span: under two
/// seconds is clock skew ("0s"), more is `<invalid>`.
fn elapsed(from: SystemTime, to: SystemTime) -> String {
    match to.duration_since(from) {
        Ok(d) => human_duration(d),
        Err(e) if e.duration() < Duration::from_secs(2) => "0s".to_owned(),
        Err(_) => "<invalid>".to_owned(),
    }
}

fn age(o: &Value, now: SystemTime) -> Value {
    since(&o["metadata"]["creationTimestamp"], now).into()
}

/// `layoutContainerCells`: comma-joined names and images.
fn container_cells(containers: &Value) -> [Value; 2] {
    let containers = list(containers);
    let join = |field: &str| {
        containers
            .iter()
            .map(|c| text(&c[field]))
            .collect::<Vec<_>>()
            .join(",")
            .into()
    };
    [join("name"), join("image")]
}

/// `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty.
fn format_labels(map: &Value) -> String {
    let mut pairs: Vec<String> = map
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_owned()
    } else {
        pairs.join(",")
    }
}

/// `metav1.FormatLabelSelector`: `<error>` for an invalid selector, `<none>` for an empty one.
fn format_label_selector(selector: &Value) -> String {
    match selector_string(selector) {
        Err(()) => "<error>".to_owned(),
        Ok(s) if s.is_empty() => "<none>".to_owned(),
        Ok(s) => s,
    }
}

/// `metav1.LabelSelectorAsSelector(selector).String()`: requirements sorted by key, the values
/// of `in`/`notin` sorted. `Err` where upstream fails to build the selector.
fn selector_string(selector: &Value) -> Result<String, ()> {
    let mut requirements: Vec<(&str, String)> = Vec::new();
    for (key, value) in selector["matchLabels"].as_object().into_iter().flatten() {
        let value = text(value);
        if !valid_label_key(key) || !valid_label_value(value) {
            return Err(());
        }
        requirements.push((key, format!("{key}={value}")));
    }
    for expression in list(&selector["matchExpressions"]) {
        let key = text(&expression["key"]);
        let mut values: Vec<&str> = list(&expression["values"]).iter().map(text).collect();
        if !valid_label_key(key) || !values.iter().all(|v| valid_label_value(v)) {
            return Err(());
        }
        values.sort_unstable();
        let rendered = match (text(&expression["operator"]), values.is_empty()) {
            ("In", false) => format!("{key} in ({})", values.join(",")),
            ("NotIn", false) => format!("{key} notin ({})", values.join(",")),
            ("Exists", true) => key.to_owned(),
            ("DoesNotExist", true) => format!("!{key}"),
            _ => return Err(()),
        };
        requirements.push((key, rendered));
    }
    requirements.sort_by(|a, b| a.0.cmp(b.0));
    Ok(requirements
        .into_iter()
        .map(|(_, r)| r)
        .collect::<Vec<_>>()
        .join(","))
}

/// A qualified name: an optional DNS-subdomain prefix and `/`, then a name part.
fn valid_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => dns_subdomain(prefix) && name_part(name),
        None => name_part(key),
    }
}

fn valid_label_value(value: &str) -> bool {
    value.is_empty() || name_part(value)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters.
fn name_part(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A lowercase RFC 1123 subdomain of at most 253 characters.
fn dns_subdomain(s: &str) -> bool {
    let label = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    };
    s.len() <= 253 && s.split('.').all(label)
}

/// Column descriptions: upstream takes them from the generated Swagger docs of the API types
/// (k8s.io/api and k8s.io/apimachinery v0.32.0), quoted here verbatim.
mod docs {
    // Generated Swagger docs of the API types.
    pub(super) const NAME: &str = concat!(
        "Name must be unique within a namespace. Is required when creating resources, although ",
        "some resources may allow a client to request the generation of an appropriate name ",
        "automatically. Name is primarily intended for creation idempotence and configuration ",
        "definition. Cannot be updated. More info: ",
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    );
    pub(super) const CREATION_TIMESTAMP: &str = concat!(
        "CreationTimestamp is a timestamp representing the server time when this object was ",
        "created. It is not guaranteed to be set in happens-before order across separate ",
        "operations. Clients may not set this value. It is represented in RFC3339 form and is in ",
        "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: ",
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metad",
        "ata",
    );
    pub(super) const POD_IP: &str = concat!(
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not ",
        "yet allocated.",
    );
    pub(super) const POD_NODE_NAME: &str = concat!(
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a ",
        "candidate for scheduling by the scheduler defined in schedulerName. Once this field is ",
        "set, the kubelet for this node becomes responsible for the lifecycle of this pod. This ",
        "field should not be used to express a desire for the pod to be scheduled on a specific ",
        "node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
    );
    pub(super) const POD_NOMINATED_NODE: &str = concat!(
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it ",
        "cannot be scheduled right away as preemption victims receive their graceful termination ",
        "periods. This field does not guarantee that the pod will be scheduled on this node. ",
        "Scheduler may decide to place the pod elsewhere if other nodes become available sooner. ",
        "Scheduler may also decide to give the resources on this node to a higher priority pod ",
        "that is created after preemption. As a result, this field may be different than ",
        "PodSpec.nodeName when the pod is scheduled.",
    );
    pub(super) const POD_READINESS_GATES: &str = concat!(
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready ",
        "when all its containers are ready AND all conditions specified in the readiness gates ",
        "have status equal to \"True\" More info: ",
        "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
    );
    pub(super) const POD_NODE_SELECTOR: &str = concat!(
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector ",
        "which must match a node's labels for the pod to be scheduled on that node. More info: ",
        "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
    );
    pub(super) const RC_SPEC_REPLICAS: &str = concat!(
        "Replicas is the number of desired replicas. This is a pointer to distinguish between ",
        "explicit zero and unspecified. Defaults to 1. More info: ",
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a",
        "-replicationcontroller",
    );
    pub(super) const RC_STATUS_REPLICAS: &str = concat!(
        "Replicas is the most recently observed number of replicas. More info: ",
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a",
        "-replicationcontroller",
    );
    pub(super) const RC_READY_REPLICAS: &str =
        "The number of ready replicas for this replication controller.";
    pub(super) const RC_SELECTOR: &str = concat!(
        "Selector is a label query over pods that should match the Replicas count. If Selector is ",
        "empty, it is defaulted to the labels present on the Pod template. Label keys and values ",
        "that must match in order to be controlled by this replication controller, if empty ",
        "defaulted to labels on Pod template. More info: ",
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    );
    pub(super) const RS_SPEC_REPLICAS: &str = concat!(
        "Replicas is the number of desired replicas. This is a pointer to distinguish between ",
        "explicit zero and unspecified. Defaults to 1. More info: ",
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-",
        "a-replicationcontroller",
    );
    pub(super) const RS_STATUS_REPLICAS: &str = concat!(
        "Replicas is the most recently observed number of replicas. More info: ",
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-",
        "a-replicationcontroller",
    );
    pub(super) const RS_READY_REPLICAS: &str = "The number of ready replicas for this replica set.";
    pub(super) const RS_SELECTOR: &str = concat!(
        "Selector is a label query over pods that should match the replica count. If the selector ",
        "is empty, it is defaulted to the labels present on the pod template. Label keys and ",
        "values that must match in order to be controlled by this replica set. More info: ",
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    );
    pub(super) const DS_DESIRED: &str = concat!(
        "The total number of nodes that should be running the daemon pod (including nodes ",
        "correctly running the daemon pod). More info: ",
        "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    );
    pub(super) const DS_CURRENT: &str = concat!(
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the ",
        "daemon pod. More info: ",
        "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    );
    pub(super) const DS_READY: &str = concat!(
        "The number of nodes that should be running the daemon pod and have one or more of the ",
        "daemon pod running and ready.",
    );
    pub(super) const DS_UPDATED: &str =
        "The total number of nodes that are running updated daemon pod";
    pub(super) const DS_AVAILABLE: &str = concat!(
        "The number of nodes that should be running the daemon pod and have one or more of the ",
        "daemon pod running and available (ready for at least spec.minReadySeconds)",
    );
    pub(super) const DS_SELECTOR: &str = concat!(
        "A label query over pods that are managed by the daemon set. Must match in order to be ",
        "controlled. If empty, defaulted to labels on Pod template. More info: ",
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    );
    pub(super) const DEPLOY_UPDATED: &str = concat!(
        "Total number of non-terminated pods targeted by this deployment that have the desired ",
        "template spec.",
    );
    pub(super) const DEPLOY_AVAILABLE: &str = concat!(
        "Total number of available pods (ready for at least minReadySeconds) targeted by this ",
        "deployment.",
    );
    pub(super) const DEPLOY_SELECTOR: &str = concat!(
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be ",
        "the ones affected by this deployment.",
    );
    pub(super) const NETPOL_POD_SELECTOR: &str = concat!(
        "Selects the pods to which this NetworkPolicy object applies.  The array of ingress rules ",
        "is applied to any pods selected by this field. Multiple network policies can select the ",
        "same set of pods.  In this case, the ingress rules for each are combined additively. ",
        "This field is NOT optional and follows standard label selector semantics. An empty ",
        "podSelector matches all pods in this namespace.",
    );
    pub(super) const JOB_SUCCEEDED: &str = concat!(
        "The number of pods which reached phase Succeeded. The value increases monotonically for ",
        "a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
    );
    pub(super) const JOB_SELECTOR: &str = concat!(
        "A label query over pods that should match the pod count. Normally, the system sets this ",
        "field for you. More info: ",
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    );
    pub(super) const CRONJOB_SCHEDULE: &str =
        "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.";
    pub(super) const CRONJOB_TIME_ZONE: &str = concat!(
        "The time zone name for the given schedule, see ",
        "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this ",
        "will default to the time zone of the kube-controller-manager process. The set of valid ",
        "time zone names and the time zone offset is loaded from the system-wide time zone ",
        "database by the API server during CronJob validation and the controller manager during ",
        "execution. If no system-wide time zone database can be found a bundled version of the ",
        "database is used instead. If the time zone name becomes invalid during the lifetime of a ",
        "CronJob or due to a change in host configuration, the controller will stop creating new ",
        "new Jobs and will create a system event with the reason UnknownTimeZone. More ",
        "information can be found in ",
        "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones",
    );
    pub(super) const CRONJOB_SUSPEND: &str = concat!(
        "This flag tells the controller to suspend subsequent executions, it does not apply to ",
        "already started executions.  Defaults to false.",
    );
    pub(super) const CRONJOB_ACTIVE: &str = "A list of pointers to currently running jobs.";
    pub(super) const CRONJOB_LAST_SCHEDULE: &str =
        "Information when was the last time the job was successfully scheduled.";
    pub(super) const SVC_TYPE: &str = concat!(
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ",
        "ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a ",
        "cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by ",
        "the selector or if that is not specified, by manual construction of an Endpoints object ",
        "or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the ",
        "endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" ",
        "builds on ClusterIP and allocates a port on every node which routes to the same ",
        "endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external ",
        "load-balancer (if supported in the current cloud) which routes to the same endpoints as ",
        "the clusterIP. \"ExternalName\" aliases this service to the specified externalName. ",
        "Several other fields do not apply to ExternalName services. More info: ",
        "https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-serv",
        "ice-types",
    );
    pub(super) const SVC_CLUSTER_IP: &str = concat!(
        "clusterIP is the IP address of the service and is usually assigned randomly. If an ",
        "address is specified manually, is in-range (as per system configuration), and is not in ",
        "use, it will be allocated to the service; otherwise creation of the service will fail. ",
        "This field may not be changed through updates unless the type field is also being ",
        "changed to ExternalName (which requires this field to be blank) or the type field is ",
        "being changed from ExternalName (in which case this field may optionally be specified, ",
        "as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP ",
        "address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is ",
        "useful when direct endpoint connections are preferred and proxying is not required.  ",
        "Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified ",
        "when creating a Service of type ExternalName, creation will fail. This field will be ",
        "wiped when updating a Service to type ExternalName. More info: ",
        "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-",
        "proxies",
    );
    pub(super) const SVC_EXTERNAL_IPS: &str = concat!(
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept ",
        "traffic for this service.  These IPs are not managed by Kubernetes.  The user is ",
        "responsible for ensuring that traffic arrives at a node with this IP.  A common example ",
        "is external load-balancers that are not part of the Kubernetes system.",
    );
    pub(super) const SVC_PORTS: &str = concat!(
        "The list of ports that are exposed by this service. More info: ",
        "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-",
        "proxies",
    );
    pub(super) const SVC_SELECTOR: &str = concat!(
        "Route service traffic to pods with label keys and values matching this selector. If ",
        "empty or not present, the service is assumed to have an external process managing its ",
        "endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, ",
        "and LoadBalancer. Ignored if type is ExternalName. More info: ",
        "https://kubernetes.io/docs/concepts/services-networking/service/",
    );
    pub(super) const ENDPOINTS_SUBSETS: &str = concat!(
        "The set of all endpoints is the union of all subsets. Addresses are placed into subsets ",
        "according to the IPs they share. A single address with multiple ports, some of which are ",
        "ready and some of which are not (because they come from different containers) will ",
        "result in the address being displayed in different subsets for the different ports. No ",
        "address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of ",
        "addresses and ports that comprise a service.",
    );
    pub(super) const NODE_KUBELET_VERSION: &str = "Kubelet Version reported by the node.";
    pub(super) const NODE_ADDRESSES: &str = concat!(
        "List of addresses reachable to the node. Queried from cloud provider, if available. More ",
        "info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field ",
        "is declared as mergeable, but the merge key is not sufficiently unique, which can cause ",
        "data corruption when it is merged. Callers should instead use a full-replacement patch. ",
        "See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can ",
        "change during the lifetime of a Node. However, there are some exceptions where this may ",
        "not be possible, such as Pods that inherit a Node's address in its own status or ",
        "consumers of the downward API (status.hostIP).",
    );
    pub(super) const NODE_OS_IMAGE: &str =
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
    pub(super) const NODE_KERNEL_VERSION: &str =
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
    pub(super) const NODE_CONTAINER_RUNTIME: &str = concat!(
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. ",
        "containerd://1.4.2).",
    );
    pub(super) const EVENT_LAST_TIMESTAMP: &str =
        "The time at which the most recent occurrence of this event was recorded.";
    pub(super) const EVENT_TYPE: &str =
        "Type of this event (Normal, Warning), new types could be added in the future";
    pub(super) const EVENT_REASON: &str = concat!(
        "This should be a short, machine understandable string that gives the reason for the ",
        "transition into the object's current status.",
    );
    pub(super) const EVENT_INVOLVED_OBJECT: &str = "The object that this event is about.";
    pub(super) const EVENT_FIELD_PATH: &str = concat!(
        "If referring to a piece of an object instead of an entire object, this string should ",
        "contain a valid JSON/Go field access statement, such as ",
        "desiredState.manifest.containers[2]. For example, if the object reference is to a ",
        "container within a pod, this would take on a value like: \"spec.containers{name}\" ",
        "(where \"name\" refers to the name of the container that triggered the event) or if no ",
        "container name is specified \"spec.containers[2]\" (container with index 2 in this pod). ",
        "This syntax is chosen only to have some well-defined way of referencing a part of an ",
        "object.",
    );
    pub(super) const EVENT_SOURCE: &str =
        "The component reporting this event. Should be a short machine understandable string.";
    pub(super) const EVENT_MESSAGE: &str =
        "A human-readable description of the status of this operation.";
    pub(super) const EVENT_FIRST_TIMESTAMP: &str =
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
    pub(super) const EVENT_COUNT: &str = "The number of times this event has occurred.";
    pub(super) const SECRET_TYPE: &str = concat!(
        "Used to facilitate programmatic handling of secret data. More info: ",
        "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
    );
    pub(super) const SECRET_DATA: &str = concat!(
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', ",
        "'_' or '.'. The serialized form of the secret data is a base64 encoded string, ",
        "representing the arbitrary (possibly non-string) data value here. Described in ",
        "https://tools.ietf.org/html/rfc4648#section-4",
    );
    pub(super) const SA_SECRETS: &str = concat!(
        "Secrets is a list of the secrets in the same namespace that pods running using this ",
        "ServiceAccount are allowed to use. Pods are only limited to this list if this service ",
        "account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". ",
        "The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. ",
        "Prefer separate namespaces to isolate access to mounted secrets. This field should not ",
        "be used to find auto-generated service account token secrets for use outside of pods. ",
        "Instead, tokens can be requested directly using the TokenRequest API, or service account ",
        "token secrets can be manually created. More info: ",
        "https://kubernetes.io/docs/concepts/configuration/secret",
    );
    pub(super) const PV_CAPACITY: &str = concat!(
        "capacity is the description of the persistent volume's resources and capacity. More ",
        "info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity",
    );
    pub(super) const PV_ACCESS_MODES: &str = concat!(
        "accessModes contains all ways the volume can be mounted. More info: ",
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes",
    );
    pub(super) const PV_RECLAIM_POLICY: &str = concat!(
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released ",
        "from its claim. Valid options are Retain (default for manually created ",
        "PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and ",
        "Recycle (deprecated). Recycle must be supported by the volume plugin underlying this ",
        "PersistentVolume. More info: ",
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming",
    );
    pub(super) const PV_PHASE: &str = concat!(
        "phase indicates if a volume is available, bound to a claim, or released by a claim. More ",
        "info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase",
    );
    pub(super) const PV_CLAIM_REF: &str = concat!(
        "claimRef is part of a bi-directional binding between PersistentVolume and ",
        "PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the ",
        "authoritative bind between PV and PVC. More info: ",
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding",
    );
    pub(super) const PV_REASON: &str = concat!(
        "reason is a brief CamelCase string that describes any failure and is meant for machine ",
        "parsing and tidy display in the CLI.",
    );
    pub(super) const PV_VOLUME_MODE: &str = concat!(
        "volumeMode defines if a volume is intended to be used with a formatted filesystem or to ",
        "remain in raw block state. Value of Filesystem is implied when not included in spec.",
    );
    pub(super) const PVC_PHASE: &str =
        "phase represents the current phase of PersistentVolumeClaim.";
    pub(super) const PVC_VOLUME_NAME: &str =
        "volumeName is the binding reference to the PersistentVolume backing this claim.";
    pub(super) const PVC_CAPACITY: &str =
        "capacity represents the actual resources of the underlying volume.";
    pub(super) const PVC_ACCESS_MODES: &str = concat!(
        "accessModes contains the actual access modes the volume backing the PVC has. More info: ",
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1",
    );
    pub(super) const PVC_VOLUME_MODE: &str = concat!(
        "volumeMode defines what type of volume is required by the claim. Value of Filesystem is ",
        "implied when not included in claim spec.",
    );
    pub(super) const CONFIGMAP_DATA: &str = concat!(
        "Data contains the configuration data. Each key must consist of alphanumeric characters, ",
        "'-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The ",
        "keys stored in Data must not overlap with the keys in the BinaryData field, this is ",
        "enforced during validation process.",
    );
    pub(super) const HPA_SCALE_TARGET_REF: &str = concat!(
        "scaleTargetRef points to the target resource to scale, and is used to the pods for which ",
        "metrics should be collected, as well as to actually change the replica count.",
    );
    pub(super) const HPA_METRICS: &str = concat!(
        "metrics contains the specifications for which to use to calculate the desired replica ",
        "count (the maximum replica count across all metrics will be used).  The desired replica ",
        "count is calculated multiplying the ratio between the target value and the current value ",
        "by the current number of pods.  Ergo, metrics used must decrease as the pod count is ",
        "increased, and vice-versa.  See the individual metric source types for more information ",
        "about how each type of metric must respond.",
    );
    pub(super) const HPA_MIN_REPLICAS: &str = concat!(
        "minReplicas is the lower limit for the number of replicas to which the autoscaler can ",
        "scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha feature ",
        "gate HPAScaleToZero is enabled and at least one Object or External metric is configured. ",
        " Scaling is active as long as at least one metric value is available.",
    );
    pub(super) const HPA_MAX_REPLICAS: &str = concat!(
        "maxReplicas is the upper limit for the number of replicas to which the autoscaler can ",
        "scale up. It cannot be less that minReplicas.",
    );
    pub(super) const HPA_CURRENT_REPLICAS: &str = concat!(
        "currentReplicas is current number of replicas of pods managed by this autoscaler, as ",
        "last seen by the autoscaler.",
    );
    pub(super) const ROLE_BINDING_ROLE_REF: &str = concat!(
        "RoleRef can reference a Role in the current namespace or a ClusterRole in the global ",
        "namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.",
    );
    pub(super) const CLUSTER_ROLE_BINDING_ROLE_REF: &str = concat!(
        "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot ",
        "be resolved, the Authorizer must return an error.",
    );
    pub(super) const LEASE_HOLDER: &str = concat!(
        "holderIdentity contains the identity of the holder of a current lease. If Coordinated ",
        "Leader Election is used, the holder identity must be equal to the elected ",
        "LeaseCandidate.metadata.name field.",
    );
    pub(super) const SC_PROVISIONER: &str = "provisioner indicates the type of the provisioner.";
    pub(super) const SC_RECLAIM_POLICY: &str = concat!(
        "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes ",
        "of this storage class. Defaults to Delete.",
    );
    pub(super) const SC_VOLUME_BINDING_MODE: &str = concat!(
        "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  ",
        "When unset, VolumeBindingImmediate is used. This field is only honored by servers that ",
        "enable the VolumeScheduling feature.",
    );
    pub(super) const SC_ALLOW_EXPANSION: &str =
        "allowVolumeExpansion shows whether the storage class allow volume expand.";
    pub(super) const CONTROLLER_REVISION_REVISION: &str =
        "revision indicates the revision of the state represented by Data.";
    pub(super) const PC_VALUE: &str = concat!(
        "value represents the integer value of this priority class. This is the actual priority ",
        "that pods receive when they have the name of this class in their pod spec.",
    );
    pub(super) const PC_GLOBAL_DEFAULT: &str = concat!(
        "globalDefault specifies whether this PriorityClass should be considered as the default ",
        "priority for pods that do not have any priority class. Only one PriorityClass can be ",
        "marked as `globalDefault`. However, if more than one PriorityClasses exists with their ",
        "`globalDefault` field set to true, the smallest value of such global default ",
        "PriorityClasses will be used as the default priority.",
    );
    pub(super) const PC_PREEMPTION_POLICY: &str = concat!(
        "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, ",
        "PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
    );
    pub(super) const SLICE_ADDRESS_TYPE: &str = concat!(
        "addressType specifies the type of address carried by this EndpointSlice. All addresses ",
        "in this slice must be the same type. This field is immutable after creation. The ",
        "following address types are currently supported: * IPv4: Represents an IPv4 Address. * ",
        "IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.",
    );
    pub(super) const SLICE_PORTS: &str = concat!(
        "ports specifies the list of network ports exposed by each endpoint in this slice. Each ",
        "port must have a unique name. When ports is empty, it indicates that there are no ",
        "defined ports. When a port is defined with a nil port value, it indicates \"all ports\". ",
        "Each slice may include a maximum of 100 ports.",
    );
    pub(super) const SLICE_ENDPOINTS: &str = concat!(
        "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum ",
        "of 1000 endpoints.",
    );

    // Upstream's own wording, for columns not backed by a single API field.
    pub(super) const POD_READY: &str =
        "The aggregate readiness state of this pod for accepting traffic.";
    pub(super) const POD_STATUS: &str = "The aggregate status of the containers in this pod.";
    pub(super) const POD_RESTARTS: &str = concat!(
        "The number of times the containers in this pod have been restarted and when the last ",
        "container in this pod has restarted.",
    );
    pub(super) const POD_TEMPLATE_LABELS: &str = "The labels for the pod template.";
    pub(super) const CONTAINERS: &str = "Names of each container in the template.";
    pub(super) const IMAGES: &str = "Images referenced by each container in the template.";
    pub(super) const READY_PODS: &str = "Number of the pod with ready state";
    pub(super) const CONTROLLER_REVISION_CONTROLLER: &str = "Controller of the object";
    pub(super) const JOB_STATUS: &str = "Status of the job.";
    pub(super) const JOB_DURATION: &str = "Time required to complete the job.";
    pub(super) const PDB_MIN_AVAILABLE: &str = "The minimum number of pods that must be available.";
    pub(super) const PDB_MAX_UNAVAILABLE: &str =
        "The maximum number of pods that may be unavailable.";
    pub(super) const PDB_ALLOWED_DISRUPTIONS: &str =
        "Calculated number of pods that may be disrupted at this time.";
    pub(super) const INGRESS_CLASS: &str =
        "The name of the IngressClass resource that should be used for additional configuration";
    pub(super) const INGRESS_HOSTS: &str =
        "Hosts that incoming requests are matched against before the ingress rule";
    pub(super) const INGRESS_ADDRESS: &str =
        "Address is a list containing ingress points for the load-balancer";
    pub(super) const INGRESS_PORTS: &str = "Ports of TLS configurations that open";
    pub(super) const INGRESS_CLASS_CONTROLLER: &str =
        "Controller that is responsible for handling this class";
    pub(super) const INGRESS_CLASS_PARAMETERS: &str =
        "A reference to a resource with additional parameters";
    pub(super) const NODE_STATUS: &str = "The status of the node";
    pub(super) const NODE_ROLES: &str = "The roles of the node";
    pub(super) const NAMESPACE_STATUS: &str = "The status of the namespace";
    pub(super) const WEBHOOKS: &str =
        "Webhooks indicates the number of webhooks registered in this configuration";
    pub(super) const QUOTA_REQUEST: &str =
        "Request represents a minimum amount of cpu/memory that a container may consume.";
    pub(super) const QUOTA_LIMIT: &str = concat!(
        "Limits control the maximum amount of cpu/memory that a container may use independent of ",
        "contention on the node.",
    );
    pub(super) const PV_STORAGE_CLASS: &str = "StorageClass of the pv";
    pub(super) const PV_VOLUME_ATTRIBUTES_CLASS: &str = "VolumeAttributesClass of the pv";
    pub(super) const PVC_STORAGE_CLASS: &str = "StorageClass of the pvc";
    pub(super) const PVC_VOLUME_ATTRIBUTES_CLASS: &str = "VolumeAttributesClass of the pvc";
    pub(super) const RB_USERS: &str = "Users in the roleBinding";
    pub(super) const RB_GROUPS: &str = "Groups in the roleBinding";
    pub(super) const RB_SERVICE_ACCOUNTS: &str = "ServiceAccounts in the roleBinding";
    pub(super) const CRB_USERS: &str = "Users in the clusterRoleBinding";
    pub(super) const CRB_GROUPS: &str = "Groups in the clusterRoleBinding";
    pub(super) const CRB_SERVICE_ACCOUNTS: &str = "ServiceAccounts in the clusterRoleBinding";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        parse_rfc3339(s).expect("test timestamps are valid")
    }

    fn now() -> SystemTime {
        at("2026-01-01T12:00:00Z")
    }

    fn row(group: &str, kind: &str, object: Value) -> Vec<Value> {
        cells(group, kind, &object, now())
    }

    /// Metadata of an object created an hour before `now()`.
    fn meta(name: &str) -> Value {
        json!({"name": name, "namespace": "default", "creationTimestamp": "2026-01-01T11:00:00Z"})
    }

    fn names(columns: &[Column]) -> Vec<&str> {
        columns.iter().map(|c| c.name).collect()
    }

    fn pod_with(spec: Value, status: Value) -> Value {
        json!({"metadata": meta("p"), "spec": spec, "status": status})
    }

    fn pod_status(spec: Value, status: Value) -> Value {
        row("", "Pod", pod_with(spec, status))[2].clone()
    }

    #[test]
    fn human_duration_matches_upstream() {
        let h = 3600;
        let cases = [
            (1, "1s"),
            (70, "70s"),
            (190, "3m10s"),
            (70 * 60, "70m"),
            (47 * h, "47h"),
            (49 * h, "2d1h"),
            ((8 * 24 + 2) * h, "8d"),
            (367 * 24 * h, "367d"),
            ((365 * 2 * 24 + 25) * h, "2y1d"),
            ((365 * 8 * 24 + 2) * h, "8y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn human_duration_boundaries_match_upstream() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        let (m, h, d) = (60, 3600, 24 * 3600);
        let y = 365 * d;
        let cases = [
            (s(0), "0s"),
            (s(1) - ms(1), "0s"),
            (s(2 * m) - ms(1), "119s"),
            (s(2 * m), "2m"),
            (s(2 * m + 1), "2m1s"),
            (s(10 * m) - ms(1), "9m59s"),
            (s(10 * m), "10m"),
            (s(10 * m + 1), "10m"),
            (s(3 * h) - ms(1), "179m"),
            (s(3 * h), "3h"),
            (s(3 * h + m), "3h1m"),
            (s(8 * h) - ms(1), "7h59m"),
            (s(8 * h), "8h"),
            (s(8 * h + 59 * m), "8h"),
            (s(2 * d) - ms(1), "47h"),
            (s(2 * d), "2d"),
            (s(2 * d + h), "2d1h"),
            (s(8 * d) - ms(1), "7d23h"),
            (s(8 * d), "8d"),
            (s(8 * d + 23 * h), "8d"),
            (s(2 * y) - ms(1), "729d"),
            (s(2 * y), "2y"),
            (s(2 * y + 23 * h + 59 * m), "2y"),
            (s(2 * y + d) - ms(1), "2y"),
            (s(2 * y + d), "2y1d"),
            (s(3 * y), "3y"),
            (s(7 * y), "7y"),
            (s(8 * y) - ms(1), "7y364d"),
            (s(8 * y), "8y"),
            (s(8 * y + 364 * d), "8y"),
            (s(9 * y), "9y"),
        ];
        for (duration, want) in cases {
            assert_eq!(human_duration(duration), want, "{duration:?}");
        }
    }

    #[test]
    fn negative_spans_are_clock_skew_then_invalid() {
        let t = now();
        assert_eq!(elapsed(t + Duration::from_secs(2), t), "<invalid>");
        assert_eq!(
            elapsed(t + Duration::from_secs(2) - Duration::from_nanos(1), t),
            "0s"
        );
        assert_eq!(since(&json!("2026-01-01T12:00:01Z"), t), "0s");
        assert_eq!(since(&json!("2026-01-01T12:05:00Z"), t), "<invalid>");
        assert_eq!(since(&Value::Null, t), "<unknown>");
        assert_eq!(since(&json!("yesterday"), t), "<unknown>");
    }

    #[test]
    fn columns_serialize_as_table_column_definitions() {
        let name = serde_json::to_value(&columns("", "Pod")[0]).expect("serializable");
        assert_eq!(
            name,
            json!({"name": "Name", "type": "string", "format": "name",
                "description": docs::NAME, "priority": 0})
        );
        let node = serde_json::to_value(&columns("", "Pod")[6]).expect("serializable");
        assert_eq!(node["name"], "Node");
        assert_eq!(node["priority"], 1);
        assert!(docs::CREATION_TIMESTAMP.starts_with("CreationTimestamp is a timestamp"));
        assert!(docs::CREATION_TIMESTAMP.contains("UTC.\n\nPopulated by the system."));
    }

    #[test]
    fn unknown_kinds_get_the_default_table() {
        for (group, kind) in [
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("", "LimitRange"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("example.com", "Widget"),
            ("apps", "Pod"),
        ] {
            let cols = columns(group, kind);
            assert_eq!(names(&cols), ["Name", "Created At"], "{group}/{kind}");
            assert_eq!((cols[0].format, cols[1].type_), ("name", "date"));
        }
        let role = json!({"metadata": {"name": "reader",
            "creationTimestamp": "2026-01-01T11:00:00+01:00"}});
        assert_eq!(
            row("rbac.authorization.k8s.io", "Role", role),
            [json!("reader"), json!("2026-01-01T10:00:00Z")]
        );
        assert_eq!(
            row("", "LimitRange", json!({})),
            [json!(""), json!("0001-01-01T00:00:00Z")]
        );
    }

    #[test]
    fn every_printer_has_one_cell_per_column_whatever_the_input() {
        let odd_objects = [
            Value::Null,
            json!([]),
            json!({}),
            json!("pod"),
            json!({"metadata": 5, "spec": "x", "status": [], "subsets": {}, "data": [1]}),
            json!({
                "metadata": {"name": 3, "labels": [], "deletionTimestamp": "soon",
                    "ownerReferences": [{"controller": true, "apiVersion": "a/b/c"}]},
                "spec": {"containers": 7, "replicas": "x", "ports": [1, null, {"port": "80"}],
                    "initContainers": [{"restartPolicy": "Always"}], "type": "LoadBalancer",
                    "selector": {"matchExpressions": [{"operator": "In"}]},
                    "metrics": [{"type": "Resource"}, {"type": "Pods"}, {"type": "Object"},
                        {"type": "External"}, {"type": "ContainerResource"}, {}],
                    "rules": [null, {"host": 1}], "readinessGates": [{}]},
                "status": {"conditions": [null, 3], "containerStatuses": [{"state": {
                    "terminated": {}}}], "initContainerStatuses": [{"state": {"waiting": {}}}],
                    "hard": {"cpu": {}}, "loadBalancer": {"ingress": [{}]}},
                "subsets": [{"addresses": [{}], "ports": [{}]}],
                "endpoints": [{"addresses": [null]}],
                "series": {}, "subjects": [{"kind": "User"}], "roleRef": []
            }),
        ];
        for (group, kind, cols, _) in PRINTERS {
            assert_eq!(columns(group, kind).as_slice(), *cols);
            assert_eq!(
                cols[0].name,
                if *kind == "Event" {
                    "Last Seen"
                } else {
                    "Name"
                }
            );
            for object in &odd_objects {
                let cells = cells(group, kind, object, now());
                assert_eq!(cells.len(), cols.len(), "{group}/{kind} on {object}");
                assert!(
                    cells
                        .iter()
                        .all(|c| c.is_string() || c.is_i64() || c.is_boolean()),
                    "{group}/{kind} on {object}: {cells:?}"
                );
            }
        }
    }

    #[test]
    fn pod_running_with_restarts_prints_all_cells() {
        let pod = pod_with(
            json!({"nodeName": "node-1", "containers": [{"name": "a"}, {"name": "b"}]}),
            json!({
                "phase": "Running",
                "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
                "containerStatuses": [
                    {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                        "lastState": {"terminated": {"finishedAt": "2026-01-01T11:55:00Z"}}},
                    {"name": "b", "ready": false, "restartCount": 0, "state": {"running": {}}}
                ]
            }),
        );
        assert_eq!(
            row("", "Pod", pod),
            [
                json!("p"),
                json!("1/2"),
                json!("Running"),
                json!("2 (5m ago)"),
                json!("60m"),
                json!("10.0.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        assert_eq!(
            names(&columns("", "Pod")),
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
    }

    #[test]
    fn pod_without_anything_prints_zero_values() {
        assert_eq!(
            row("", "Pod", json!({})),
            [
                json!(""),
                json!("0/0"),
                json!(""),
                json!("0"),
                json!("<unknown>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn pod_container_states_explain_the_status() {
        let one = json!({"containers": [{"name": "app"}]});
        let waiting = |reason: &str| {
            json!({"phase": "Pending", "containerStatuses": [
                {"name": "app", "state": {"waiting": {"reason": reason}}}]})
        };
        assert_eq!(
            pod_status(one.clone(), waiting("ContainerCreating")),
            "ContainerCreating"
        );
        assert_eq!(
            pod_status(one.clone(), waiting("ImagePullBackOff")),
            "ImagePullBackOff"
        );
        let terminated = |state: Value| {
            json!({"phase": "Running", "containerStatuses": [
                {"name": "app", "state": {"terminated": state}}]})
        };
        assert_eq!(
            pod_status(one.clone(), terminated(json!({"reason": "OOMKilled"}))),
            "OOMKilled"
        );
        assert_eq!(
            pod_status(one.clone(), terminated(json!({"signal": 9}))),
            "Signal:9"
        );
        assert_eq!(
            pod_status(one.clone(), terminated(json!({"exitCode": 2}))),
            "ExitCode:2"
        );
        assert_eq!(
            pod_status(one.clone(), json!({"phase": "Pending"})),
            "Pending"
        );
        let evicted = json!({"phase": "Failed", "reason": "Evicted"});
        assert_eq!(pod_status(one.clone(), evicted), "Evicted");
        let gated = json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]});
        assert_eq!(pod_status(one, gated), "SchedulingGated");
    }

    #[test]
    fn pod_crash_loop_shows_restarts_with_their_age() {
        let pod = pod_with(
            json!({"containers": [{"name": "app"}]}),
            json!({"phase": "Running", "containerStatuses": [{"name": "app", "restartCount": 5,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"finishedAt": "2026-01-01T11:58:00Z"}}}]}),
        );
        let cells = row("", "Pod", pod);
        assert_eq!(
            cells[1..4],
            [json!("0/1"), json!("CrashLoopBackOff"), json!("5 (2m ago)")]
        );
    }

    #[test]
    fn pod_init_containers() {
        let spec = json!({"initContainers": [{"name": "i1"}, {"name": "i2"}],
            "containers": [{"name": "app"}]});
        let init = |second: Value| {
            json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                second]})
        };
        let running = json!({"name": "i2", "state": {"running": {}}});
        assert_eq!(pod_status(spec.clone(), init(running)), "Init:1/2");
        let initializing =
            json!({"name": "i2", "state": {"waiting": {"reason": "PodInitializing"}}});
        assert_eq!(pod_status(spec.clone(), init(initializing)), "Init:1/2");
        let crashing = json!({"name": "i2", "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"finishedAt": "2026-01-01T11:59:00Z"}}});
        let cells = row("", "Pod", pod_with(spec.clone(), init(crashing)));
        assert_eq!(
            cells[1..4],
            [
                json!("0/1"),
                json!("Init:CrashLoopBackOff"),
                json!("3 (60s ago)")
            ]
        );
        let failed = |state: Value| json!({"name": "i2", "state": {"terminated": state}});
        let error = failed(json!({"exitCode": 1, "reason": "Error"}));
        assert_eq!(pod_status(spec.clone(), init(error)), "Init:Error");
        let killed = failed(json!({"exitCode": 137, "signal": 9}));
        assert_eq!(pod_status(spec.clone(), init(killed)), "Init:Signal:9");
        let exited = failed(json!({"exitCode": 1}));
        assert_eq!(pod_status(spec.clone(), init(exited)), "Init:ExitCode:1");
        let done = failed(json!({"exitCode": 0}));
        let after_init = json!({"phase": "Running",
            "initContainerStatuses": init(done)["initContainerStatuses"],
            "containerStatuses": [{"name": "app", "ready": true, "state": {"running": {}}}]});
        assert_eq!(pod_status(spec, after_init), "Running");
    }

    #[test]
    fn pod_sidecars_count_as_containers() {
        let pod = pod_with(
            json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                "containers": [{"name": "app"}]}),
            json!({
                "phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true,
                    "restartCount": 1, "state": {"running": {}},
                    "lastState": {"terminated": {"finishedAt": "2026-01-01T11:50:00Z"}}}],
                "containerStatuses": [{"name": "app", "ready": true, "state": {"running": {}}}]
            }),
        );
        let cells = row("", "Pod", pod);
        assert_eq!(
            cells[1..4],
            [json!("2/2"), json!("Running"), json!("1 (10m ago)")]
        );
    }

    #[test]
    fn pod_completed_container_beside_a_running_one() {
        let spec = json!({"containers": [{"name": "job"}, {"name": "server"}]});
        let status = |conditions: Value| {
            json!({"phase": "Running", "conditions": conditions, "containerStatuses": [
                {"name": "job", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "server", "ready": true, "state": {"running": {}}}]})
        };
        let ready = json!([{"type": "Ready", "status": "True"}]);
        assert_eq!(pod_status(spec.clone(), status(ready)), "Running");
        assert_eq!(pod_status(spec, status(json!([]))), "NotReady");
    }

    #[test]
    fn pod_being_deleted() {
        let deleted = |status: Value| {
            let mut pod = pod_with(json!({"containers": [{"name": "app"}]}), status);
            pod["metadata"]["deletionTimestamp"] = json!("2026-01-01T11:59:00Z");
            row("", "Pod", pod)[2].clone()
        };
        assert_eq!(deleted(json!({"phase": "Running"})), "Terminating");
        assert_eq!(
            deleted(json!({"phase": "Running", "reason": "NodeLost"})),
            "Unknown"
        );
        let finished = json!({"phase": "Succeeded", "containerStatuses": [
            {"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]});
        assert_eq!(deleted(finished), "Completed");
    }

    #[test]
    fn pod_wide_columns() {
        let pod = pod_with(
            json!({"containers": [{"name": "app"}],
                "readinessGates": [{"conditionType": "g1"}, {"conditionType": "g2"}]}),
            json!({"podIP": "10.1.2.3", "nominatedNodeName": "node-2", "conditions": [
                {"type": "g1", "status": "True"}, {"type": "g2", "status": "False"}]}),
        );
        let cells = row("", "Pod", pod);
        assert_eq!(
            cells[5..],
            [
                json!("10.1.2.3"),
                json!("<none>"),
                json!("node-2"),
                json!("1/2")
            ]
        );
    }

    #[test]
    fn deployment_row() {
        let deployment = json!({
            "metadata": meta("web"),
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                "template": {"spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.26"},
                    {"name": "sidecar", "image": "envoy:1"}]}}
            },
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        });
        assert_eq!(
            row("apps", "Deployment", deployment),
            [
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("60m"),
                json!("nginx,sidecar"),
                json!("nginx:1.26,envoy:1"),
                json!("app=web,tier in (a,b)")
            ]
        );
        let cols = columns("apps", "Deployment");
        assert_eq!(
            names(&cols),
            [
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        assert_eq!(
            cols.iter().map(|c| c.priority).collect::<Vec<_>>(),
            [0, 0, 0, 0, 0, 1, 1, 1]
        );
        // Defaulted replicas, no status yet, no selector.
        let fresh = json!({"metadata": meta("new"), "spec": {}});
        assert_eq!(
            row("apps", "Deployment", fresh)[1..4],
            [json!("0/1"), json!(0), json!(0)]
        );
    }

    #[test]
    fn other_workloads() {
        let template = json!({"spec": {"containers": [{"name": "c", "image": "i"}]}});
        let rs = json!({"metadata": meta("rs"), "spec": {"replicas": 2, "template": template,
                "selector": {"matchLabels": {"app": "x"}}},
            "status": {"replicas": 2, "readyReplicas": 1}});
        assert_eq!(
            row("apps", "ReplicaSet", rs),
            [
                json!("rs"),
                json!(2),
                json!(2),
                json!(1),
                json!("60m"),
                json!("c"),
                json!("i"),
                json!("app=x")
            ]
        );
        let rc = json!({"metadata": meta("rc"), "spec": {"selector": {"b": "2", "a": "1"}}});
        assert_eq!(row("", "ReplicationController", rc)[7], "a=1,b=2");
        let sts = json!({"metadata": meta("db"), "spec": {"replicas": 3, "template": template},
            "status": {"readyReplicas": 3}});
        assert_eq!(
            row("apps", "StatefulSet", sts),
            [
                json!("db"),
                json!("3/3"),
                json!("60m"),
                json!("c"),
                json!("i")
            ]
        );
        let ds = json!({"metadata": meta("agent"),
            "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}});
        assert_eq!(
            row("apps", "DaemonSet", ds),
            [
                json!("agent"),
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux"),
                json!("60m"),
                json!(""),
                json!(""),
                json!("<none>")
            ]
        );
        let revision = json!({"metadata": {"name": "web-7d9", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                    "controller": true}]},
            "revision": 2});
        assert_eq!(
            row("apps", "ControllerRevision", revision)[1..3],
            [json!("statefulset.apps/web"), json!(2)]
        );
        let orphan = json!({"metadata": {"name": "r"}, "revision": 1});
        assert_eq!(row("apps", "ControllerRevision", orphan)[1], "<none>");
        let pod_template = json!({"metadata": meta("t"), "template": {
            "metadata": {"labels": {"app": "t"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}});
        assert_eq!(
            row("", "PodTemplate", pod_template),
            [json!("t"), json!("c"), json!("i"), json!("app=t")]
        );
    }

    #[test]
    fn jobs_and_cron_jobs() {
        let job = |spec: Value, status: Value| {
            row(
                "batch",
                "Job",
                json!({"metadata": meta("j"), "spec": spec, "status": status}),
            )
        };
        let complete = job(
            json!({"completions": 3}),
            json!({"succeeded": 3, "startTime": "2026-01-01T11:00:00Z",
                "completionTime": "2026-01-01T11:10:00Z",
                "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        assert_eq!(
            complete[1..5],
            [json!("Complete"), json!("3/3"), json!("10m"), json!("60m")]
        );
        let running = job(
            json!({"parallelism": 2}),
            json!({"succeeded": 1, "startTime": "2026-01-01T11:58:00Z"}),
        );
        assert_eq!(
            running[1..4],
            [json!("Running"), json!("1/1 of 2"), json!("2m")]
        );
        let condition = |kind: &str| json!({"conditions": [{"type": kind, "status": "True"}]});
        assert_eq!(
            job(json!({}), condition("Failed"))[1..4],
            [json!("Failed"), json!("0/1"), json!("")]
        );
        assert_eq!(job(json!({}), condition("Suspended"))[1], "Suspended");
        assert_eq!(
            job(json!({}), condition("FailureTarget"))[1],
            "FailureTarget"
        );
        let unset = json!({"conditions": [{"type": "Complete", "status": "False"}]});
        assert_eq!(job(json!({}), unset)[1], "Running");
        let mut deleted = json!({"metadata": meta("j"), "spec": {}});
        deleted["metadata"]["deletionTimestamp"] = json!("2026-01-01T11:59:00Z");
        assert_eq!(row("batch", "Job", deleted)[1], "Terminating");
        assert_eq!(
            names(&columns("batch", "Job")),
            [
                "Name",
                "Status",
                "Completions",
                "Duration",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );

        let cron = json!({"metadata": meta("c"),
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "c-1"}], "lastScheduleTime": "2026-01-01T11:55:00Z"}});
        assert_eq!(
            row("batch", "CronJob", cron),
            [
                json!("c"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("5m"),
                json!("60m"),
                json!("c"),
                json!("busybox"),
                json!("<none>")
            ]
        );
        let zoned = json!({"spec": {"timeZone": "Europe/Paris", "suspend": true}});
        assert_eq!(
            row("batch", "CronJob", zoned)[2..6],
            [
                json!("Europe/Paris"),
                json!("True"),
                json!(0),
                json!("<none>")
            ]
        );
        assert_eq!(columns("batch", "CronJob")[2].name, "Timezone");
    }

    fn service(spec: Value, status: Value) -> Vec<Value> {
        row(
            "",
            "Service",
            json!({"metadata": meta("s"), "spec": spec, "status": status}),
        )
    }

    #[test]
    fn service_of_each_type() {
        let cluster_ip = service(
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                "selector": {"app": "web"}}),
            json!({}),
        );
        assert_eq!(
            cluster_ip,
            [
                json!("s"),
                json!("ClusterIP"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80/TCP,53/UDP"),
                json!("60m"),
                json!("app=web")
            ]
        );
        let headless = service(
            json!({"clusterIP": "None", "ports": [{"port": 5432}]}),
            json!({}),
        );
        assert_eq!(
            headless[1..5],
            [
                json!("ClusterIP"),
                json!("None"),
                json!("<none>"),
                json!("5432/TCP")
            ]
        );
        let node_port = service(
            json!({"type": "NodePort", "clusterIPs": ["10.96.1.1"], "externalIPs": ["1.2.3.4"],
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
            json!({}),
        );
        assert_eq!(
            node_port[1..5],
            [
                json!("NodePort"),
                json!("10.96.1.1"),
                json!("1.2.3.4"),
                json!("80:30080/TCP")
            ]
        );
        let pending = service(
            json!({"type": "LoadBalancer", "clusterIPs": ["10.96.2.2"],
            "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]}),
            json!({}),
        );
        assert_eq!(pending[3..5], [json!("<pending>"), json!("443:31443/TCP")]);
        let ingress = json!({"loadBalancer": {"ingress": [
            {"hostname": "lb.example.com"}, {"ip": "5.6.7.8"}, {"ip": "5.6.7.8"}]}});
        let balanced = service(json!({"type": "LoadBalancer"}), ingress.clone());
        assert_eq!(balanced[3], "5.6.7.8,lb.example.com");
        let both = service(
            json!({"type": "LoadBalancer", "externalIPs": ["9.9.9.9"]}),
            ingress,
        );
        assert_eq!(both[3], "5.6.7.8,lb.example.com,9.9.9.9");
        let external = service(
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({}),
        );
        assert_eq!(
            external,
            [
                json!("s"),
                json!("ExternalName"),
                json!("<none>"),
                json!("db.example.com"),
                json!("<none>"),
                json!("60m"),
                json!("<none>")
            ]
        );
        assert_eq!(service(json!({"type": "Weird"}), json!({}))[3], "<unknown>");
        let cols = columns("", "Service");
        assert_eq!(
            names(&cols),
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector"
            ]
        );
        assert_eq!(cols[6].priority, 1);
    }

    #[test]
    fn endpoints_and_slices() {
        let endpoints = |subsets: Value| {
            row(
                "",
                "Endpoints",
                json!({"metadata": meta("e"), "subsets": subsets}),
            )[1]
            .clone()
        };
        let two_by_two = json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
            "ports": [{"port": 80}, {"port": 443}]}]);
        assert_eq!(
            endpoints(two_by_two),
            "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
        );
        assert_eq!(
            endpoints(json!([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}])),
            "[fd00::1]:80"
        );
        assert_eq!(
            endpoints(json!([{"addresses": [{"ip": "10.0.0.9"}]}])),
            "10.0.0.9"
        );
        assert_eq!(endpoints(json!([])), "<none>");
        assert_eq!(
            endpoints(json!([{"notReadyAddresses": [{"ip": "10.0.0.3"}]}])),
            ""
        );

        let slice = json!({"metadata": meta("s-abc"), "addressType": "IPv4",
            "ports": [{"port": 80}, {"name": "http"}, {}],
            "endpoints": [{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3"]},
                {"addresses": ["10.0.0.4"]}]});
        assert_eq!(
            row("discovery.k8s.io", "EndpointSlice", slice),
            [
                json!("s-abc"),
                json!("IPv4"),
                json!("80,http,*"),
                json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."),
                json!("60m")
            ]
        );
        assert_eq!(
            row("discovery.k8s.io", "EndpointSlice", json!({}))[2..4],
            [json!("<unset>"), json!("<unset>")]
        );
    }

    #[test]
    fn node_rows() {
        let node = json!({
            "metadata": {"name": "node-1", "creationTimestamp": "2025-12-30T12:00:00Z",
                "labels": {"node-role.kubernetes.io/control-plane": "",
                    "kubernetes.io/role": "worker", "node-role.kubernetes.io/": "x"}},
            "spec": {"unschedulable": true},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "Hostname", "address": "node-1"},
                    {"type": "InternalIP", "address": "192.168.1.10"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12",
                    "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.24"}
            }
        });
        assert_eq!(
            row("", "Node", node),
            [
                json!("node-1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,worker"),
                json!("2d"),
                json!("v1.32.0"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Debian GNU/Linux 12"),
                json!("6.1.0"),
                json!("containerd://1.7.24")
            ]
        );
        let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        assert_eq!(
            row("", "Node", not_ready)[1..3],
            [json!("NotReady"), json!("<none>")]
        );
        assert_eq!(
            row("", "Node", json!({"metadata": {"name": "bare"}})),
            [
                json!("bare"),
                json!("Unknown"),
                json!("<none>"),
                json!("<unknown>"),
                json!(""),
                json!("<none>"),
                json!("<none>"),
                json!("<unknown>"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );
        let cols = columns("", "Node");
        assert_eq!(cols.iter().filter(|c| c.priority == 1).count(), 5);
    }

    #[test]
    fn events_in_both_api_groups() {
        let core = json!({
            "metadata": meta("p.1"), "type": "Normal", "reason": "Pulled",
            "message": " Successfully pulled image \n",
            "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{app}"},
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2026-01-01T11:00:00Z", "lastTimestamp": "2026-01-01T11:59:00Z",
            "count": 3
        });
        assert_eq!(
            row("", "Event", core),
            [
                json!("60s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/p"),
                json!("spec.containers{app}"),
                json!("kubelet, node-1"),
                json!("Successfully pulled image"),
                json!("60m"),
                json!(3),
                json!("p.1")
            ]
        );
        let new_api = json!({
            "metadata": meta("web.1"), "type": "Normal", "reason": "ScalingReplicaSet",
            "note": "Scaled up", "regarding": {"kind": "Deployment", "name": "web"},
            "eventTime": "2026-01-01T11:58:00.000000Z",
            "reportingController": "deployment-controller", "reportingInstance": ""
        });
        assert_eq!(
            row("events.k8s.io", "Event", new_api.clone()),
            [
                json!("2m"),
                json!("Normal"),
                json!("ScalingReplicaSet"),
                json!("deployment/web"),
                json!(""),
                json!("deployment-controller"),
                json!("Scaled up"),
                json!("2m"),
                json!(1),
                json!("web.1")
            ]
        );
        let mut series = new_api;
        series["series"] = json!({"count": 5, "lastObservedTime": "2026-01-01T11:59:30.000000Z"});
        assert_eq!(
            row("events.k8s.io", "Event", series)[7..9],
            [json!("2m"), json!(5)]
        );
        let cols = columns("", "Event");
        assert_eq!(
            names(&cols),
            [
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject",
                "Source",
                "Message",
                "First Seen",
                "Count",
                "Name"
            ]
        );
        assert_eq!((cols[9].format, cols[9].priority), ("name", 1));
        assert_eq!(columns("events.k8s.io", "Event"), cols);
    }

    #[test]
    fn horizontal_pod_autoscaler_targets() {
        let hpa = |spec: Value, status: Value| {
            let mut spec = spec;
            spec["scaleTargetRef"] = json!({"kind": "Deployment", "name": "web"});
            spec["maxReplicas"] = json!(10);
            row(
                "autoscaling",
                "HorizontalPodAutoscaler",
                json!({"metadata": meta("web"), "spec": spec, "status": status}),
            )
        };
        let v2 = hpa(
            json!({"minReplicas": 2, "metrics": [
                {"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50}}},
                {"type": "Resource", "resource": {"name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
                {"type": "Pods", "pods": {"target": {"averageValue": "1k"}}}]}),
            json!({"currentReplicas": 3, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageUtilization": 180}}}]}),
        );
        assert_eq!(
            v2,
            [
                json!("web"),
                json!("Deployment/web"),
                json!("cpu: 180%/50%, memory: <unknown>/100Mi + 1 more..."),
                json!("2"),
                json!(10),
                json!(3),
                json!("60m")
            ]
        );
        let v1 = hpa(json!({"targetCPUUtilizationPercentage": 50}), json!({}));
        assert_eq!(v1[2..4], [json!("cpu: <unknown>/50%"), json!("1")]);
        let v1_measured = hpa(
            json!({"targetCPUUtilizationPercentage": 50}),
            json!({"currentCPUUtilizationPercentage": 20}),
        );
        assert_eq!(v1_measured[2], "cpu: 20%/50%");
        assert_eq!(hpa(json!({}), json!({}))[2], "cpu: <unknown>/80%");
        assert_eq!(hpa(json!({"metrics": []}), json!({}))[2], "<none>");
        let others = hpa(
            json!({"metrics": [
                {"type": "External", "external": {"target": {"averageValue": "10"}}},
                {"type": "Object", "object": {"target": {"value": "5"}}}]}),
            json!({"currentMetrics": [
                {"type": "External", "external": {"current": {"averageValue": "7"}}},
                {"type": "Object", "object": {"current": {}}}]}),
        );
        assert_eq!(others[2], "7/10 (avg), <nil>/5");
        let container = hpa(
            json!({"metrics": [{"type": "ContainerResource", "containerResource": {
                "name": "cpu", "container": "app", "target": {"type": "Utilization"}}}]}),
            json!({}),
        );
        assert_eq!(container[2], "cpu: <unknown>/<auto>");
    }

    #[test]
    fn config_and_access_control() {
        let cm =
            json!({"metadata": meta("cm"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
        assert_eq!(
            row("", "ConfigMap", cm),
            [json!("cm"), json!(3), json!("60m")]
        );
        let secret = json!({"metadata": meta("s"), "data": {"k": "dg=="}});
        assert_eq!(
            row("", "Secret", secret),
            [json!("s"), json!("Opaque"), json!(1), json!("60m")]
        );
        let tls = json!({"metadata": meta("t"), "type": "kubernetes.io/tls"});
        assert_eq!(
            row("", "Secret", tls)[1..3],
            [json!("kubernetes.io/tls"), json!(0)]
        );
        let sa = json!({"metadata": meta("default"), "secrets": [{"name": "x"}]});
        assert_eq!(
            row("", "ServiceAccount", sa),
            [json!("default"), json!(1), json!("60m")]
        );
        let ns = json!({"metadata": meta("kube-system"), "status": {"phase": "Active"}});
        assert_eq!(
            row("", "Namespace", ns),
            [json!("kube-system"), json!("Active"), json!("60m")]
        );
        let lease = json!({"metadata": meta("l"), "spec": {"holderIdentity": "node-1"}});
        assert_eq!(row("coordination.k8s.io", "Lease", lease)[1], "node-1");
        assert_eq!(row("coordination.k8s.io", "Lease", json!({}))[1], "");

        let binding = json!({"metadata": meta("rb"),
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                {"kind": "ServiceAccount", "namespace": "ci", "name": "bot"},
                {"kind": "User", "name": "bob"}]});
        assert_eq!(
            row("rbac.authorization.k8s.io", "RoleBinding", binding.clone()),
            [
                json!("rb"),
                json!("ClusterRole/view"),
                json!("60m"),
                json!("alice, bob"),
                json!("devs"),
                json!("ci/bot")
            ]
        );
        assert_eq!(
            row("rbac.authorization.k8s.io", "ClusterRoleBinding", binding).len(),
            6
        );
        assert_eq!(
            columns("rbac.authorization.k8s.io", "ClusterRoleBinding")[3].description,
            docs::CRB_USERS
        );

        let pdb = json!({"metadata": meta("pdb"), "spec": {"minAvailable": "50%"},
            "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            row("policy", "PodDisruptionBudget", pdb),
            [
                json!("pdb"),
                json!("50%"),
                json!("N/A"),
                json!(1),
                json!("60m")
            ]
        );
        let pdb = json!({"spec": {"maxUnavailable": 1}});
        assert_eq!(
            row("policy", "PodDisruptionBudget", pdb)[1..3],
            [json!("N/A"), json!("1")]
        );

        let pc = json!({"metadata": meta("high"), "value": 1000, "globalDefault": true});
        assert_eq!(
            row("scheduling.k8s.io", "PriorityClass", pc),
            [
                json!("high"),
                json!(1000),
                json!(true),
                json!("60m"),
                json!("")
            ]
        );
        let quota = json!({"metadata": meta("q"), "status": {
            "hard": {"limits.cpu": "2", "requests.cpu": "1", "pods": "10"},
            "used": {"requests.cpu": "500m", "pods": "3"}}});
        assert_eq!(
            row("", "ResourceQuota", quota),
            [
                json!("q"),
                json!("60m"),
                json!("pods: 3/10, requests.cpu: 500m/1"),
                json!("limits.cpu: 0/2")
            ]
        );
        assert_eq!(
            names(&columns("", "ResourceQuota")),
            ["Name", "Age", "Request", "Limit"]
        );
        let webhook = json!({"metadata": meta("w"), "webhooks": [{}, {}]});
        let group = "admissionregistration.k8s.io";
        assert_eq!(
            row(group, "ValidatingWebhookConfiguration", webhook),
            [json!("w"), json!(2), json!("60m")]
        );
    }

    #[test]
    fn storage_rows() {
        let pv = json!({"metadata": meta("pv-1"), "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "standard",
                "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}});
        assert_eq!(
            row("", "PersistentVolume", pv),
            [
                json!("pv-1"),
                json!("10Gi"),
                json!("RWO,RWX"),
                json!("Retain"),
                json!("Bound"),
                json!("default/data"),
                json!("standard"),
                json!("<unset>"),
                json!(""),
                json!("60m"),
                json!("Filesystem")
            ]
        );
        let pending = json!({"metadata": {"name": "data",
                "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
            "spec": {"storageClassName": "standard", "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Pending"}});
        assert_eq!(
            row("", "PersistentVolumeClaim", pending),
            [
                json!("data"),
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!("legacy"),
                json!("<unset>"),
                json!("<unknown>"),
                json!("<unset>")
            ]
        );
        let bound = json!({"spec": {"volumeName": "pv-1"},
            "status": {"phase": "Bound", "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOncePod"]}});
        assert_eq!(
            row("", "PersistentVolumeClaim", bound)[2..5],
            [json!("pv-1"), json!("10Gi"), json!("RWOP")]
        );
        let class = json!({"metadata": {"name": "standard",
                "creationTimestamp": "2026-01-01T11:00:00Z",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path"});
        assert_eq!(
            row("storage.k8s.io", "StorageClass", class),
            [
                json!("standard (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("Immediate"),
                json!(false),
                json!("60m")
            ]
        );
    }

    #[test]
    fn networking_rows() {
        let ingress = json!({"metadata": meta("web"), "spec": {
                "rules": [{"host": "a"}, {}, {"host": "b"}, {"host": "c"}, {"host": "d"}],
                "tls": [{"hosts": ["a"]}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}]}}});
        assert_eq!(
            row("networking.k8s.io", "Ingress", ingress),
            [
                json!("web"),
                json!("<none>"),
                json!("a,b,c + 2 more..."),
                json!("5.6.7.8"),
                json!("80, 443"),
                json!("60m")
            ]
        );
        let catch_all = json!({"spec": {"ingressClassName": "nginx", "rules": [{}]}});
        assert_eq!(
            row("networking.k8s.io", "Ingress", catch_all)[1..5],
            [json!("nginx"), json!("*"), json!(""), json!("80")]
        );
        let class = json!({"metadata": meta("nginx"), "spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters",
                "name": "lb"}}});
        assert_eq!(
            row("networking.k8s.io", "IngressClass", class),
            [
                json!("nginx"),
                json!("k8s.io/ingress-nginx"),
                json!("IngressParameters.k8s.example.com/lb"),
                json!("60m")
            ]
        );
        let policy = |selector: Value| {
            row(
                "networking.k8s.io",
                "NetworkPolicy",
                json!({"spec": {"podSelector": selector}}),
            )[1]
            .clone()
        };
        assert_eq!(policy(json!({})), "<none>");
        assert_eq!(policy(json!({"matchLabels": {"app": "db"}})), "app=db");
    }

    #[test]
    fn label_selectors_render_as_upstream() {
        let selector = |s: Value| format_label_selector(&s);
        assert_eq!(selector(Value::Null), "<none>");
        assert_eq!(selector(json!({"matchLabels": {}})), "<none>");
        let mixed = json!({"matchLabels": {"z": "1", "a.b/c": "2"}, "matchExpressions": [
            {"key": "env", "operator": "NotIn", "values": ["prod", "dev"]},
            {"key": "gpu", "operator": "Exists"},
            {"key": "spot", "operator": "DoesNotExist"}]});
        assert_eq!(
            selector(mixed),
            "a.b/c=2,env notin (dev,prod),gpu,!spot,z=1"
        );
        for bad in [
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
            json!({"matchLabels": {"bad key": "x"}}),
            json!({"matchLabels": {"Upper.Case/x": "y"}}),
            json!({"matchLabels": {"k": "-bad"}}),
        ] {
            assert_eq!(selector(bad.clone()), "<error>", "{bad}");
        }
        let invalid = json!({"spec": {"selector": {"matchLabels": {"k": "-bad"}}}});
        assert_eq!(row("apps", "Deployment", invalid)[7], "<invalid>");
    }

    #[test]
    fn custom_resource_columns_and_cells() {
        let printer_columns = json!([
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase",
                "description": "The phase", "priority": 1},
            {"name": "First", "type": "string", "jsonPath": ".status.items[*].name"},
            {"name": "Last", "type": "string", "jsonPath": ".status.items[-1].name"},
            {"name": "Labels", "type": "string", "jsonPath": ".metadata.labels"},
            {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
            {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            {"name": "Missing", "type": "string", "jsonPath": ".spec.nope"},
            {"name": "Host", "type": "string",
                "jsonPath": ".metadata.annotations.example\\.com/host"},
            {"name": "Bracket", "type": "string",
                "jsonPath": "{.metadata.annotations['example.com/host']}"},
            {"name": "Filtered", "type": "string",
                "jsonPath": ".status.items[?(@.name=='x')].name"},
            {"name": "Truncated", "type": "integer", "jsonPath": ".spec.ratio"},
            {"name": "Mistyped", "type": "boolean", "jsonPath": ".spec.replicas"},
        ]);
        let columns = custom_columns(&printer_columns);
        assert_eq!(columns.len(), 15);
        assert_eq!(
            (columns[0].name.as_str(), columns[0].format.as_str()),
            ("Name", "name")
        );
        assert_eq!(
            (columns[2].description.as_str(), columns[2].priority),
            ("The phase", 1)
        );
        assert_eq!(
            columns[1].description,
            "Custom resource definition column (in JSONPath format): .spec.replicas"
        );
        assert_eq!(
            serde_json::to_value(&columns[1]).expect("serializable"),
            json!({"name": "Replicas", "type": "integer", "format": "",
                "description": columns[1].description, "priority": 0})
        );
        let object = json!({
            "metadata": {"name": "w1", "creationTimestamp": "2026-01-01T11:30:00Z",
                "labels": {"b": "<2>", "a": "1"}, "annotations": {"example.com/host": "h"}},
            "spec": {"replicas": 3, "ratio": 2.5},
            "status": {"phase": "Ready", "ready": true,
                "items": [{"id": 1}, {"name": "x"}, {"name": "y"}]}
        });
        assert_eq!(
            custom_cells(&printer_columns, &object, now()),
            [
                json!("w1"),
                json!(3),
                json!("Ready"),
                json!("x"),
                json!("y"),
                json!("{\"a\":\"1\",\"b\":\"\\u003c2\\u003e\"}"),
                json!(2.5),
                json!(true),
                json!("30m"),
                Value::Null,
                json!("h"),
                json!("h"),
                Value::Null,
                json!(2),
                Value::Null
            ]
        );
        // Without printer columns upstream serves Name and Age.
        let defaults = custom_columns(&json!([]));
        assert_eq!(
            defaults.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["Name", "Age"]
        );
        assert_eq!(defaults[1].type_, "date");
        assert_eq!(
            custom_cells(&Value::Null, &object, now()),
            [json!("w1"), json!("30m")]
        );
        assert_eq!(
            custom_cells(&json!("junk"), &json!(7), now()),
            [json!(""), Value::Null]
        );
    }

    #[test]
    fn custom_cells_convert_like_upstream() {
        let t = now();
        assert_eq!(custom_cell("date", Some(&json!("")), t), "<unknown>");
        assert_eq!(
            custom_cell("date", Some(&json!("not a date")), t),
            "<invalid>"
        );
        assert_eq!(custom_cell("date", Some(&json!(5)), t), Value::Null);
        assert_eq!(custom_cell("integer", Some(&json!("5")), t), Value::Null);
        assert_eq!(custom_cell("integer", Some(&json!(-2.9)), t), json!(-2));
        assert_eq!(custom_cell("number", Some(&json!(4)), t), json!(4));
        assert_eq!(custom_cell("string", Some(&json!(false)), t), "false");
        assert_eq!(custom_cell("string", Some(&json!(42)), t), "42");
        assert_eq!(
            custom_cell("string", Some(&json!([1, "a&b"])), t),
            "[1,\"a\\u0026b\"]"
        );
        assert_eq!(custom_cell("color", Some(&json!("red")), t), Value::Null);
        for (f, want) in [
            (3.0, "3"),
            (2.5, "2.5"),
            (-0.25, "-0.25"),
            (123_456.0, "123456"),
            (1e6, "1e+06"),
            (1_234_567.0, "1.234567e+06"),
            (1e21, "1e+21"),
            (0.0001, "0.0001"),
            (0.000_015, "1.5e-05"),
            (0.0, "0"),
        ] {
            assert_eq!(go_float(f), want, "{f}");
        }
    }

    #[test]
    fn json_path_subset() {
        use Step::{All, Field, Index};
        let field = |s: &str| Field(s.to_owned());
        assert_eq!(parse_json_path(".a.b"), Some(vec![field("a"), field("b")]));
        assert_eq!(
            parse_json_path("{.a[0].b}"),
            Some(vec![field("a"), Index(0), field("b")])
        );
        assert_eq!(parse_json_path("$.a[*]"), Some(vec![field("a"), All]));
        assert_eq!(
            parse_json_path(".a[\"x.y\"]"),
            Some(vec![field("a"), field("x.y")])
        );
        assert_eq!(parse_json_path(""), Some(vec![]));
        for unsupported in ["..a", ".a[1:2]", ".a[?(@.x)]", "a", ".a[", ".a\\"] {
            assert_eq!(parse_json_path(unsupported), None, "{unsupported}");
        }
        let v = json!({"a": [{"b": 1}, {"b": 2}]});
        let find =
            |path: &str| parse_json_path(path).and_then(|steps| find_first(&v, &steps).cloned());
        assert_eq!(find(".a[*].b"), Some(json!(1)));
        assert_eq!(find(".a[-1].b"), Some(json!(2)));
        assert_eq!(find(".a[2].b"), None);
        assert_eq!(find(".a[-3].b"), None);
        assert_eq!(find(".a.b"), None);
    }
}
