//! Nodes (upstream's `describeNode`): conditions, addresses, capacity, its Lease, the pods
//! on it and what they request.

use std::collections::BTreeMap;

use barge_api::quantity::Quantity;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};

use super::tabwriter::Writer;
use super::text;

/// A node's Lease, or the error reading it.
pub type LeaseResult = Result<Lease, String>;

pub fn describe(
    node: &Node,
    pods: Option<&[Pod]>,
    lease: LeaseResult,
    events: Option<Vec<Event>>,
) -> String {
    let mut w = Writer::new();
    let meta = &node.metadata;
    let spec = node.spec.clone().unwrap_or_default();
    let status = node.status.clone().unwrap_or_default();
    w.write(
        0,
        &format!("Name:\t{}\n", meta.name.as_deref().unwrap_or_default()),
    );
    let roles = roles(meta.labels.as_ref());
    w.write(
        0,
        &format!(
            "Roles:\t{}\n",
            if roles.is_empty() {
                "<none>".to_owned()
            } else {
                roles.join(",")
            }
        ),
    );
    text::labels(&mut w, "Labels", meta.labels.as_ref());
    text::annotations(&mut w, "Annotations", meta.annotations.as_ref());
    w.write(
        0,
        &format!(
            "CreationTimestamp:\t{}\n",
            text::time(meta.creation_timestamp.as_ref())
        ),
    );
    text::taints(&mut w, "Taints", spec.taints.as_ref());
    w.write(
        0,
        &format!(
            "Unschedulable:\t{}\n",
            spec.unschedulable.unwrap_or_default()
        ),
    );
    match lease {
        Ok(lease) => {
            let spec = lease.spec.unwrap_or_default();
            w.write(0, "Lease:\n");
            w.write(
                1,
                &format!(
                    "HolderIdentity:\t{}\n",
                    spec.holder_identity.as_deref().unwrap_or("<unset>")
                ),
            );
            let t = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime>| {
                t.map_or_else(|| "<unset>".to_owned(), |t| text::rfc1123z(&t.0))
            };
            w.write(
                1,
                &format!("AcquireTime:\t{}\n", t(spec.acquire_time.as_ref())),
            );
            w.write(1, &format!("RenewTime:\t{}\n", t(spec.renew_time.as_ref())));
        }
        Err(e) => w.write(0, &format!("Lease:\tFailed to get lease: {e}\n")),
    }
    let conditions = status.conditions.clone().unwrap_or_default();
    if !conditions.is_empty() {
        w.write(
            0,
            "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n",
        );
        w.write(
            1,
            "----\t------\t-----------------\t------------------\t------\t-------\n",
        );
        for c in &conditions {
            w.write(
                1,
                &format!(
                    "{} \t{} \t{} \t{} \t{} \t{}\n",
                    c.type_,
                    c.status,
                    text::time(c.last_heartbeat_time.as_ref()),
                    text::time(c.last_transition_time.as_ref()),
                    c.reason.as_deref().unwrap_or_default(),
                    c.message.as_deref().unwrap_or_default()
                ),
            );
        }
    }
    w.write(0, "Addresses:\n");
    for a in status.addresses.iter().flatten() {
        w.write(1, &format!("{}:\t{}\n", a.type_, a.address));
    }
    for (title, list) in [
        ("Capacity", &status.capacity),
        ("Allocatable", &status.allocatable),
    ] {
        if let Some(list) = list.as_ref().filter(|l| !l.is_empty()) {
            w.write(0, &format!("{title}:\n"));
            for (name, q) in list {
                w.write(0, &format!("  {name}:\t{}\n", text::quantity(q)));
            }
        }
    }
    let info = status.node_info.clone().unwrap_or_default();
    w.write(0, "System Info:\n");
    for (title, value) in [
        ("Machine ID", &info.machine_id),
        ("System UUID", &info.system_uuid),
        ("Boot ID", &info.boot_id),
        ("Kernel Version", &info.kernel_version),
        ("OS Image", &info.os_image),
        ("Operating System", &info.operating_system),
        ("Architecture", &info.architecture),
        ("Container Runtime Version", &info.container_runtime_version),
        ("Kubelet Version", &info.kubelet_version),
        ("Kube-Proxy Version", &info.kube_proxy_version),
    ] {
        w.write(0, &format!("  {title}:\t{value}\n"));
    }
    if let Some(cidr) = spec.pod_cidr.as_deref().filter(|s| !s.is_empty()) {
        w.write(0, &format!("PodCIDR:\t{cidr}\n"));
    }
    if let Some(cidrs) = spec.pod_cidrs.as_ref().filter(|c| !c.is_empty()) {
        w.write(0, &format!("PodCIDRs:\t{}\n", cidrs.join(",")));
    }
    if let Some(id) = spec.provider_id.as_deref().filter(|s| !s.is_empty()) {
        w.write(0, &format!("ProviderID:\t{id}\n"));
    }
    match pods {
        Some(pods) => resources(&mut w, pods, node),
        None => w.write(0, "Pods:\tnot authorized\n"),
    }
    text::events(&mut w, events);
    w.finish()
}

/// `findNodeRoles`: `node-role.kubernetes.io/<role>` labels and `kubernetes.io/role`, sorted.
fn roles(labels: Option<&BTreeMap<String, String>>) -> Vec<String> {
    let mut roles: Vec<String> = Vec::new();
    for (k, v) in labels.into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.push(role.to_owned());
            }
        } else if k == "kubernetes.io/role" && !v.is_empty() {
            roles.push(v.clone());
        }
    }
    roles.sort();
    roles.dedup();
    roles
}

type Resources = BTreeMap<String, Quantity>;

fn add_list(into: &mut Resources, list: &Resources) {
    for (k, q) in list {
        let sum = into.get(k).map_or(*q, |v| text::add(v, q));
        into.insert(k.clone(), sum);
    }
}

fn max_list(into: &mut Resources, list: &Resources) {
    for (k, q) in list {
        if into.get(k).is_none_or(|v| q > v) {
            into.insert(k.clone(), *q);
        }
    }
}

fn list_of(
    l: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> Resources {
    l.into_iter()
        .flatten()
        .map(|(k, q)| (k.clone(), text::quantity(q)))
        .collect()
}

/// `resourcehelper.PodRequestsAndLimits`: containers summed, init containers at their
/// maximum (sidecars counted with the containers), overhead added.
pub fn requests_and_limits(pod: &Pod) -> (Resources, Resources) {
    let spec = pod.spec.clone().unwrap_or_default();
    let mut out = Vec::new();
    for limits in [false, true] {
        let pick = |c: &k8s_openapi::api::core::v1::Container| {
            let r = c.resources.clone().unwrap_or_default();
            list_of(if limits { r.limits } else { r.requests }.as_ref())
        };
        let mut total = Resources::new();
        for c in &spec.containers {
            add_list(&mut total, &pick(c));
        }
        let mut sidecars = Resources::new();
        let mut init = Resources::new();
        for c in spec.init_containers.iter().flatten() {
            let own = pick(c);
            let counted = if c.restart_policy.as_deref() == Some("Always") {
                add_list(&mut total, &own);
                add_list(&mut sidecars, &own);
                sidecars.clone()
            } else {
                let mut tmp = own;
                add_list(&mut tmp, &sidecars);
                tmp
            };
            max_list(&mut init, &counted);
        }
        max_list(&mut total, &init);
        let overhead = list_of(spec.overhead.as_ref());
        if limits {
            for (k, q) in &overhead {
                if let Some(v) = total.get(k).filter(|v| !v.is_zero()) {
                    let sum = text::add(v, q);
                    total.insert(k.clone(), sum);
                }
            }
        } else {
            add_list(&mut total, &overhead);
        }
        out.push(total);
    }
    let limits = out.pop().unwrap_or_default();
    let requests = out.pop().unwrap_or_default();
    (requests, limits)
}

/// Go's `int64(a / b * 100)` of two values as float64 (NaN and infinities as Go converts
/// them on amd64).
fn percent(a: i128, b: i128) -> i64 {
    let f = a as f64 / b as f64 * 100.0;
    if f.is_nan() || f.is_infinite() {
        i64::MIN
    } else {
        f as i64
    }
}

/// `describeNodeResource`: the non-terminated pods and their total requests and limits
/// against the node's allocatable resources.
fn resources(w: &mut Writer, pods: &[Pod], node: &Node) {
    let status = node.status.clone().unwrap_or_default();
    let allocatable = list_of(
        status
            .allocatable
            .as_ref()
            .filter(|a| !a.is_empty())
            .or(status.capacity.as_ref()),
    );
    let zero = Quantity::from_int(0);
    let get = |l: &Resources, k: &str| l.get(k).copied().unwrap_or(zero);
    let alloc_cpu = get(&allocatable, "cpu").milli_value();
    let alloc_mem = get(&allocatable, "memory").value();
    w.write(
        0,
        &format!("Non-terminated Pods:\t({} in total)\n", pods.len()),
    );
    w.write(
        1,
        "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n",
    );
    w.write(
        1,
        "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n",
    );
    let mut reqs = Resources::new();
    let mut limits = Resources::new();
    for pod in pods {
        let (r, l) = requests_and_limits(pod);
        let (cr, cl, mr, ml) = (
            get(&r, "cpu"),
            get(&l, "cpu"),
            get(&r, "memory"),
            get(&l, "memory"),
        );
        w.write(
            1,
            &format!(
                "{}\t{}\t\t{cr} ({}%)\t{cl} ({}%)\t{mr} ({}%)\t{ml} ({}%)\t{}\n",
                pod.metadata.namespace.as_deref().unwrap_or_default(),
                pod.metadata.name.as_deref().unwrap_or_default(),
                percent(cr.milli_value(), alloc_cpu),
                percent(cl.milli_value(), alloc_cpu),
                percent(mr.value(), alloc_mem),
                percent(ml.value(), alloc_mem),
                text::age(pod.metadata.creation_timestamp.as_ref().map(|t| &t.0))
            ),
        );
        add_list(&mut reqs, &r);
        add_list(&mut limits, &l);
    }
    w.write(
        0,
        "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n",
    );
    w.write(1, "Resource\tRequests\tLimits\n");
    w.write(1, "--------\t--------\t------\n");
    let fraction = |q: Quantity, of: i128, milli: bool| {
        if of == 0 {
            0
        } else if milli {
            percent(q.milli_value(), of)
        } else {
            percent(q.value(), of)
        }
    };
    let alloc_eph = get(&allocatable, "ephemeral-storage").value();
    for (name, of, milli) in [
        ("cpu", alloc_cpu, true),
        ("memory", alloc_mem, false),
        ("ephemeral-storage", alloc_eph, false),
    ] {
        let (r, l) = (get(&reqs, name), get(&limits, name));
        w.write(
            1,
            &format!(
                "{name}\t{r} ({}%)\t{l} ({}%)\n",
                fraction(r, of, milli),
                fraction(l, of, milli)
            ),
        );
    }
    for (name, alloc) in allocatable
        .iter()
        .filter(|(k, _)| k.starts_with("hugepages-"))
    {
        let (r, l) = (get(&reqs, name), get(&limits, name));
        let of = alloc.value();
        w.write(
            1,
            &format!(
                "{name}\t{r} ({}%)\t{l} ({}%)\n",
                fraction(r, of, false),
                fraction(l, of, false)
            ),
        );
    }
    for name in allocatable.keys().filter(|k| is_extended(k)) {
        w.write(
            1,
            &format!("{name}\t{}\t{}\n", get(&reqs, name), get(&limits, name)),
        );
    }
}

/// Neither a standard container resource nor `pods`: what upstream lists as extended.
fn is_extended(name: &str) -> bool {
    const STANDARD: [&str; 4] = ["cpu", "memory", "ephemeral-storage", "storage"];
    !(STANDARD.contains(&name)
        || name == "pods"
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_requests_sum_containers_and_take_the_largest_init_container() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "200m"},
                    "limits": {"memory": "1Gi"}}}],
            "initContainers": [
                {"name": "i", "resources": {"requests": {"cpu": "1"}}}]}}))
        .unwrap();
        let (r, l) = requests_and_limits(&pod);
        assert_eq!(r["cpu"].to_string(), "1");
        assert_eq!(r["memory"].to_string(), "64Mi");
        assert_eq!(l["memory"].to_string(), "1Gi");
        assert!(!l.contains_key("cpu"));
        assert_eq!(percent(500, 4000), 12);
    }

    #[test]
    fn roles_come_from_role_labels() {
        let labels = BTreeMap::from([
            (
                "node-role.kubernetes.io/control-plane".to_owned(),
                String::new(),
            ),
            ("kubernetes.io/role".to_owned(), "worker".to_owned()),
        ]);
        assert_eq!(roles(Some(&labels)), ["control-plane", "worker"]);
        assert!(roles(None).is_empty());
    }
}
