//! Pods (upstream's `describePod`) and what workloads share with them: containers, volumes and
//! the pod template (`DescribePodTemplate`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStatus, Event, Pod, PodTemplateSpec, Probe, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::tabwriter::Writer;
use super::text;

/// `printController`: `Kind/name` of the controlling owner.
pub fn controller(meta: &ObjectMeta) -> Option<String> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| format!("{}/{}", o.kind, o.name))
}

pub fn describe(pod: &Pod, events: Option<Vec<Event>>) -> String {
    let mut w = Writer::new();
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
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
    if let Some(p) = spec.priority {
        w.write(0, &format!("Priority:\t{p}\n"));
    }
    if let Some(p) = spec
        .priority_class_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        w.write(0, &format!("Priority Class Name:\t{p}\n"));
    }
    if let Some(r) = spec.runtime_class_name.as_deref().filter(|s| !s.is_empty()) {
        w.write(0, &format!("Runtime Class Name:\t{r}\n"));
    }
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        w.write(0, &format!("Service Account:\t{sa}\n"));
    }
    match spec.node_name.as_deref().filter(|s| !s.is_empty()) {
        None => w.write(0, "Node:\t<none>\n"),
        Some(node) => w.write(
            0,
            &format!(
                "Node:\t{node}/{}\n",
                status.host_ip.as_deref().unwrap_or_default()
            ),
        ),
    }
    if let Some(t) = &status.start_time {
        w.write(0, &format!("Start Time:\t{}\n", text::rfc1123z(&t.0)));
    }
    text::labels(&mut w, "Labels", meta.labels.as_ref());
    text::annotations(&mut w, "Annotations", meta.annotations.as_ref());
    let phase = status.phase.as_deref().unwrap_or_default();
    match &meta.deletion_timestamp {
        Some(t) if phase != "Failed" && phase != "Succeeded" => {
            w.write(
                0,
                &format!("Status:\tTerminating (lasts {})\n", text::age(Some(&t.0))),
            );
            w.write(
                0,
                &format!(
                    "Termination Grace Period:\t{}s\n",
                    meta.deletion_grace_period_seconds.unwrap_or_default()
                ),
            );
        }
        _ => w.write(0, &format!("Status:\t{phase}\n")),
    }
    if let Some(r) = status.reason.as_deref().filter(|s| !s.is_empty()) {
        w.write(0, &format!("Reason:\t{r}\n"));
    }
    if let Some(m) = status.message.as_deref().filter(|s| !s.is_empty()) {
        w.write(0, &format!("Message:\t{m}\n"));
    }
    if let Some(sp) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
    {
        w.write(0, &format!("SeccompProfile:\t{}\n", sp.type_));
        if sp.type_ == "Localhost" {
            w.write(
                0,
                &format!(
                    "LocalhostProfile:\t{}\n",
                    sp.localhost_profile.as_deref().unwrap_or_default()
                ),
            );
        }
    }
    w.write(
        0,
        &format!("IP:\t{}\n", status.pod_ip.as_deref().unwrap_or_default()),
    );
    let ips: Vec<&str> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|ip| ip.ip.as_str())
        .collect();
    if ips.is_empty() {
        w.write(0, "IPs:\t<none>\n");
    } else {
        w.write(0, "IPs:\n");
        for ip in ips {
            w.write(1, &format!("IP:\t{ip}\n"));
        }
    }
    if let Some(c) = controller(meta) {
        w.write(0, &format!("Controlled By:\t{c}\n"));
    }
    if let Some(n) = status
        .nominated_node_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        w.write(0, &format!("NominatedNodeName:\t{n}\n"));
    }
    if let Some(r) = &spec.resources {
        w.write(0, "Resources:\n");
        text::resources(&mut w, Some(r), 1);
    }
    let json = serde_json::to_value(pod).unwrap_or_default();
    let resolve = |path: &str| field_path(&json, path);
    if let Some(init) = spec.init_containers.as_ref().filter(|c| !c.is_empty()) {
        containers(
            &mut w,
            "Init Containers",
            init,
            status.init_container_statuses.as_deref(),
            Some(&resolve),
            "",
        );
    }
    containers(
        &mut w,
        "Containers",
        &spec.containers,
        status.container_statuses.as_deref(),
        Some(&resolve),
        "",
    );
    if let Some(eph) = spec.ephemeral_containers.as_ref().filter(|c| !c.is_empty()) {
        let list: Vec<Container> = eph
            .iter()
            .map(|e| serde_json::from_value(serde_json::to_value(e).unwrap_or_default()))
            .filter_map(Result::ok)
            .collect();
        containers(
            &mut w,
            "Ephemeral Containers",
            &list,
            status.ephemeral_container_statuses.as_deref(),
            Some(&resolve),
            "",
        );
    }
    let conditions = status.conditions.clone().unwrap_or_default();
    if let Some(gates) = spec.readiness_gates.as_ref().filter(|g| !g.is_empty()) {
        w.write(0, "Readiness Gates:\n  Type\tStatus\n");
        for g in gates {
            let status = conditions
                .iter()
                .find(|c| c.type_ == g.condition_type)
                .map_or("<none>", |c| c.status.as_str());
            w.write(1, &format!("{} \t{status} \n", g.condition_type));
        }
    }
    if !conditions.is_empty() {
        w.write(0, "Conditions:\n  Type\tStatus\n");
        for c in &conditions {
            w.write(1, &format!("{} \t{} \n", c.type_, c.status));
        }
    }
    volumes(&mut w, spec.volumes.as_deref(), "");
    let qos = status
        .qos_class
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| qos_class(&spec).to_owned());
    w.write(0, &format!("QoS Class:\t{qos}\n"));
    text::labels(&mut w, "Node-Selectors", spec.node_selector.as_ref());
    text::tolerations(&mut w, "Tolerations", spec.tolerations.as_ref());
    topology_spread(&mut w, &spec, "");
    text::events(&mut w, events);
    w.finish()
}

fn topology_spread(w: &mut Writer, spec: &k8s_openapi::api::core::v1::PodSpec, space: &str) {
    let mut list = spec.topology_spread_constraints.clone().unwrap_or_default();
    if list.is_empty() {
        return;
    }
    super::gosort::sort(&mut list, |a, b| a.topology_key < b.topology_key);
    w.write(0, &format!("{space}Topology Spread Constraints:\t"));
    for (i, t) in list.iter().enumerate() {
        if i != 0 {
            w.write(0, &format!("{space}\t"));
        }
        let mut s = format!(
            "{}:{} when max skew {} is exceeded",
            t.topology_key, t.when_unsatisfiable, t.max_skew
        );
        if let Some(sel) = &t.label_selector {
            s.push_str(&format!(
                " for selector {}",
                text::format_selector(Some(sel))
            ));
        }
        w.write(0, &format!("{s}\n"));
    }
}

/// `qos.ComputePodQOS`, for a pod whose status does not say.
fn qos_class(spec: &k8s_openapi::api::core::v1::PodSpec) -> &'static str {
    let mut requests: BTreeMap<String, barge_api::quantity::Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<String, barge_api::quantity::Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    let all = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let mut lists = Vec::new();
    if let Some(r) = &spec.resources {
        lists.push((r.requests.clone(), r.limits.clone()));
    } else {
        for c in all {
            let r = c.resources.clone().unwrap_or_default();
            lists.push((r.requests, r.limits));
        }
    }
    for (req, lim) in lists {
        let mut limited = 0;
        for (into, list, is_limit) in [(&mut requests, req, false), (&mut limits, lim, true)] {
            for (name, q) in list.iter().flatten() {
                if name != "cpu" && name != "memory" {
                    continue;
                }
                let q = text::quantity(q);
                if q.is_zero() || q.is_negative() {
                    continue;
                }
                if is_limit {
                    limited += 1;
                }
                let sum = into.get(name).map_or(q, |v| text::add(&q, v));
                into.insert(name.clone(), sum);
            }
        }
        if limited < 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed
        && requests.iter().all(|(k, v)| limits.get(k) == Some(v))
        && requests.len() == limits.len()
    {
        return "Guaranteed";
    }
    "Burstable"
}

/// A pod's field as kubectl's `EnvValueRetriever` reads it: its scheme converts only the
/// field labels every kind has, so `metadata.name` and `metadata.namespace` resolve and
/// everything else prints empty.
fn field_path(pod: &Value, path: &str) -> String {
    match path {
        "metadata.name" | "metadata.namespace" => pod["metadata"][&path[9..]]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

type Resolver<'a> = &'a dyn Fn(&str) -> String;

/// `describeContainers`: each container with its state when a status is known.
pub fn containers(
    w: &mut Writer,
    label: &str,
    list: &[Container],
    statuses: Option<&[ContainerStatus]>,
    resolve: Option<Resolver<'_>>,
    space: &str,
) {
    let none = if list.is_empty() { " <none>" } else { "" };
    w.write(0, &format!("{space}{label}:{none}\n"));
    let name_indent = if space.is_empty() { "" } else { " " };
    for c in list {
        // Upstream keys statuses by name: the last one of a name wins.
        let status = statuses.into_iter().flatten().rfind(|s| s.name == c.name);
        w.write(1, &format!("{name_indent}{}:\n", c.name));
        if let Some(s) = status {
            w.write(
                2,
                &format!(
                    "Container ID:\t{}\n",
                    s.container_id.as_deref().unwrap_or_default()
                ),
            );
        }
        w.write(
            2,
            &format!("Image:\t{}\n", c.image.as_deref().unwrap_or_default()),
        );
        if let Some(s) = status {
            w.write(2, &format!("Image ID:\t{}\n", s.image_id));
        }
        let ports = c.ports.clone().unwrap_or_default();
        let proto =
            |p: &k8s_openapi::api::core::v1::ContainerPort| p.protocol.clone().unwrap_or_default();
        let port_string = ports
            .iter()
            .map(|p| format!("{}/{}", p.container_port, proto(p)))
            .collect::<Vec<_>>()
            .join(", ");
        if port_string.contains(',') {
            w.write(2, &format!("Ports:\t{port_string}\n"));
        } else {
            w.write(2, &format!("Port:\t{}\n", or_none(&port_string)));
        }
        let host_ports = ports
            .iter()
            .map(|p| format!("{}/{}", p.host_port.unwrap_or_default(), proto(p)))
            .collect::<Vec<_>>()
            .join(", ");
        if host_ports.contains(',') {
            w.write(2, &format!("Host Ports:\t{host_ports}\n"));
        } else {
            w.write(2, &format!("Host Port:\t{}\n", or_none(&host_ports)));
        }
        if let Some(sp) = c
            .security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.as_ref())
        {
            w.write(2, &format!("SeccompProfile:\t{}\n", sp.type_));
            if sp.type_ == "Localhost" {
                w.write(
                    3,
                    &format!(
                        "LocalhostProfile:\t{}\n",
                        sp.localhost_profile.as_deref().unwrap_or_default()
                    ),
                );
            }
        }
        for (title, lines) in [("Command", &c.command), ("Args", &c.args)] {
            let Some(lines) = lines.as_ref().filter(|l| !l.is_empty()) else {
                continue;
            };
            w.write(2, &format!("{title}:\n"));
            for l in lines {
                for s in l.split('\n') {
                    w.write(3, &format!("{s}\n"));
                }
            }
        }
        if let Some(s) = status {
            state(w, "State", s.state.as_ref());
            if let Some(last) = s.last_state.as_ref().filter(|l| l.terminated.is_some()) {
                state(w, "Last State", Some(last));
            }
            w.write(
                2,
                &format!("Ready:\t{}\n", if s.ready { "True" } else { "False" }),
            );
            w.write(2, &format!("Restart Count:\t{}\n", s.restart_count));
        }
        text::resources(w, c.resources.as_ref(), 2);
        for (title, probe) in [
            ("Liveness", &c.liveness_probe),
            ("Readiness", &c.readiness_probe),
            ("Startup", &c.startup_probe),
        ] {
            if let Some(p) = probe {
                w.write(2, &format!("{title}:\t{}\n", describe_probe(p)));
            }
        }
        if let Some(from) = c.env_from.as_ref().filter(|e| !e.is_empty()) {
            w.write(2, "Environment Variables from:\n");
            for e in from {
                let (kind, name, optional) = if let Some(r) = &e.config_map_ref {
                    ("ConfigMap", r.name.clone(), r.optional.unwrap_or_default())
                } else if let Some(r) = &e.secret_ref {
                    ("Secret", r.name.clone(), r.optional.unwrap_or_default())
                } else {
                    ("", String::new(), false)
                };
                match e.prefix.as_deref().filter(|p| !p.is_empty()) {
                    None => w.write(3, &format!("{name}\t{kind}\tOptional: {optional}\n")),
                    Some(p) => w.write(
                        3,
                        &format!("{name}\t{kind} with prefix '{p}'\tOptional: {optional}\n"),
                    ),
                }
            }
        }
        env(w, c, resolve);
        mounts(w, c);
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

fn env(w: &mut Writer, c: &Container, resolve: Option<Resolver<'_>>) {
    let list = c.env.clone().unwrap_or_default();
    let none = if list.is_empty() { "\t<none>" } else { "" };
    w.write(2, &format!("Environment:{none}\n"));
    for e in &list {
        let Some(from) = &e.value_from else {
            for (i, s) in e
                .value
                .as_deref()
                .unwrap_or_default()
                .split('\n')
                .enumerate()
            {
                if i == 0 {
                    w.write(3, &format!("{}:\t{s}\n", e.name));
                } else {
                    w.write(3, &format!("\t{s}\n"));
                }
            }
            continue;
        };
        if let Some(f) = &from.field_ref {
            let value = resolve.map(|r| r(&f.field_path)).unwrap_or_default();
            w.write(
                3,
                &format!(
                    "{}:\t{value} ({}:{})\n",
                    e.name,
                    f.api_version.as_deref().unwrap_or_default(),
                    f.field_path
                ),
            );
        } else if let Some(r) = &from.resource_field_ref {
            let mut value = resource_value(c, &r.resource, r.divisor.as_ref());
            if value == "0" && (r.resource == "limits.cpu" || r.resource == "limits.memory") {
                value = "node allocatable".to_owned();
            }
            w.write(3, &format!("{}:\t{value} ({})\n", e.name, r.resource));
        } else if let Some(s) = &from.secret_key_ref {
            w.write(
                3,
                &format!(
                    "{}:\t<set to the key '{}' in secret '{}'>\tOptional: {}\n",
                    e.name,
                    s.key,
                    s.name,
                    s.optional.unwrap_or_default()
                ),
            );
        } else if let Some(s) = &from.config_map_key_ref {
            w.write(
                3,
                &format!(
                    "{}:\t<set to the key '{}' of config map '{}'>\tOptional: {}\n",
                    e.name,
                    s.key,
                    s.name,
                    s.optional.unwrap_or_default()
                ),
            );
        }
    }
}

/// `ExtractContainerResourceValue`: the container's request or limit in units of the
/// divisor, rounded up.
fn resource_value(
    c: &Container,
    resource: &str,
    divisor: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
) -> String {
    let Some((kind, name)) = resource.split_once('.') else {
        return String::new();
    };
    let r = c.resources.clone().unwrap_or_default();
    let list = if kind == "limits" {
        r.limits
    } else {
        r.requests
    };
    let q = list
        .as_ref()
        .and_then(|l| l.get(name))
        .map(text::quantity)
        .unwrap_or_else(|| barge_api::quantity::Quantity::from_int(0));
    let d = divisor
        .map(text::quantity)
        .filter(|d| !d.is_zero())
        .unwrap_or_else(|| barge_api::quantity::Quantity::from_int(1));
    let (n, m) = if name == "cpu" {
        (q.milli_value(), d.milli_value())
    } else {
        (q.value(), d.value())
    };
    if m == 0 {
        return String::new();
    }
    (n / m + i128::from(n % m != 0)).to_string()
}

fn mounts(w: &mut Writer, c: &Container) {
    let mut list = c.volume_mounts.clone().unwrap_or_default();
    let none = if list.is_empty() { "\t<none>" } else { "" };
    w.write(2, &format!("Mounts:{none}\n"));
    list.sort_by(|a, b| a.mount_path.cmp(&b.mount_path));
    for m in &list {
        let mut flags = vec![
            if m.read_only == Some(true) {
                "ro"
            } else {
                "rw"
            }
            .to_owned(),
        ];
        if let Some(p) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            flags.push(format!("path={}", go_quote(p)));
        }
        w.write(
            3,
            &format!("{} from {} ({})\n", m.mount_path, m.name, flags.join(",")),
        );
    }
    let mut devices = c.volume_devices.clone().unwrap_or_default();
    if !devices.is_empty() {
        w.write(2, &format!("Devices:{none}\n"));
        devices.sort_by(|a, b| a.device_path.cmp(&b.device_path));
        for d in &devices {
            w.write(3, &format!("{} from {}\n", d.device_path, d.name));
        }
    }
}

/// Go's `%q` for plain text.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn state(w: &mut Writer, name: &str, state: Option<&ContainerState>) {
    let state = state.cloned().unwrap_or_default();
    if let Some(r) = &state.running {
        w.write(2, &format!("{name}:\tRunning\n"));
        w.write(
            3,
            &format!("Started:\t{}\n", text::time(r.started_at.as_ref())),
        );
    } else if let Some(wt) = &state.waiting {
        w.write(2, &format!("{name}:\tWaiting\n"));
        if let Some(r) = wt.reason.as_deref().filter(|s| !s.is_empty()) {
            w.write(3, &format!("Reason:\t{r}\n"));
        }
    } else if let Some(t) = &state.terminated {
        w.write(2, &format!("{name}:\tTerminated\n"));
        if let Some(r) = t.reason.as_deref().filter(|s| !s.is_empty()) {
            w.write(3, &format!("Reason:\t{r}\n"));
        }
        if let Some(m) = t.message.as_deref().filter(|s| !s.is_empty()) {
            w.write(3, &format!("Message:\t{m}\n"));
        }
        w.write(3, &format!("Exit Code:\t{}\n", t.exit_code));
        if let Some(s) = t.signal.filter(|s| *s > 0) {
            w.write(3, &format!("Signal:\t{s}\n"));
        }
        w.write(
            3,
            &format!("Started:\t{}\n", text::time(t.started_at.as_ref())),
        );
        w.write(
            3,
            &format!("Finished:\t{}\n", text::time(t.finished_at.as_ref())),
        );
    } else {
        w.write(2, &format!("{name}:\tWaiting\n"));
    }
}

fn int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// `DescribeProbe`.
fn describe_probe(p: &Probe) -> String {
    let attrs = format!(
        "delay={}s timeout={}s period={}s #success={} #failure={}",
        p.initial_delay_seconds.unwrap_or_default(),
        p.timeout_seconds.unwrap_or_default(),
        p.period_seconds.unwrap_or_default(),
        p.success_threshold.unwrap_or_default(),
        p.failure_threshold.unwrap_or_default()
    );
    if let Some(e) = &p.exec {
        return format!(
            "exec [{}] {attrs}",
            e.command.clone().unwrap_or_default().join(" ")
        );
    }
    if let Some(h) = &p.http_get {
        let scheme = h.scheme.as_deref().unwrap_or_default().to_lowercase();
        let host = h.host.as_deref().unwrap_or_default();
        let port = int_or_string(&h.port);
        let host = if port.is_empty() {
            host.to_owned()
        } else if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let path = h.path.as_deref().unwrap_or_default();
        let slash = if !path.is_empty() && !path.starts_with('/') {
            "/"
        } else {
            ""
        };
        let url = format!("{scheme}://{host}{slash}{path}");
        return format!("http-get {url} {attrs}");
    }
    if let Some(t) = &p.tcp_socket {
        return format!(
            "tcp-socket {}:{} {attrs}",
            t.host.as_deref().unwrap_or_default(),
            int_or_string(&t.port)
        );
    }
    if let Some(g) = &p.grpc {
        return format!(
            "grpc <pod>:{} {} {attrs}",
            g.port,
            g.service.as_deref().unwrap_or_default()
        );
    }
    format!("unknown {attrs}")
}

/// `describeVolumes`: the common volume types; others print upstream's `<unknown>`.
pub fn volumes(w: &mut Writer, list: Option<&[Volume]>, space: &str) {
    let list = list.unwrap_or_default();
    if list.is_empty() {
        w.write(0, &format!("{space}Volumes:\t<none>\n"));
        return;
    }
    w.write(0, &format!("{space}Volumes:\n"));
    let name_indent = if space.is_empty() { "" } else { " " };
    for v in list {
        w.write(1, &format!("{name_indent}{}:\n", v.name));
        if let Some(h) = &v.host_path {
            w.write(
                2,
                &format!(
                    "Type:\tHostPath (bare host directory volume)\n    Path:\t{}\n    HostPathType:\t{}\n",
                    h.path,
                    h.type_.as_deref().unwrap_or("<none>")
                ),
            );
        } else if let Some(e) = &v.empty_dir {
            let size = e
                .size_limit
                .as_ref()
                .map(text::quantity)
                .filter(|q| !q.is_zero() && !q.is_negative())
                .map_or_else(|| "<unset>".to_owned(), |q| q.to_string());
            w.write(
                2,
                &format!(
                    "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t{}\n    SizeLimit:\t{size}\n",
                    e.medium.as_deref().unwrap_or_default()
                ),
            );
        } else if let Some(s) = &v.secret {
            w.write(
                2,
                &format!(
                    "Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{}\n    Optional:\t{}\n",
                    s.secret_name.as_deref().unwrap_or_default(),
                    s.optional.unwrap_or_default()
                ),
            );
        } else if let Some(c) = &v.config_map {
            w.write(
                2,
                &format!(
                    "Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{}\n    Optional:\t{}\n",
                    c.name,
                    c.optional.unwrap_or_default()
                ),
            );
        } else if let Some(c) = &v.persistent_volume_claim {
            w.write(
                2,
                &format!(
                    "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n    ClaimName:\t{}\n    ReadOnly:\t{}\n",
                    c.claim_name,
                    c.read_only.unwrap_or_default()
                ),
            );
        } else if let Some(n) = &v.nfs {
            w.write(
                2,
                &format!(
                    "Type:\tNFS (an NFS mount that lasts the lifetime of a pod)\n    Server:\t{}\n    Path:\t{}\n    ReadOnly:\t{}\n",
                    n.server,
                    n.path,
                    n.read_only.unwrap_or_default()
                ),
            );
        } else if let Some(d) = &v.downward_api {
            w.write(
                2,
                "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n",
            );
            for item in d.items.iter().flatten() {
                if let Some(f) = &item.field_ref {
                    w.write(3, &format!("{} -> {}\n", f.field_path, item.path));
                }
                if let Some(r) = &item.resource_field_ref {
                    w.write(3, &format!("{} -> {}\n", r.resource, item.path));
                }
            }
        } else if let Some(p) = &v.projected {
            w.write(
                2,
                "Type:\tProjected (a volume that contains injected data from multiple sources)\n",
            );
            for s in p.sources.iter().flatten() {
                if let Some(sec) = &s.secret {
                    w.write(
                        2,
                        &format!(
                            "SecretName:\t{}\n    SecretOptionalName:\t{}\n",
                            sec.name,
                            text::bool_ptr(sec.optional)
                        ),
                    );
                } else if s.downward_api.is_some() {
                    w.write(2, "DownwardAPI:\ttrue\n");
                } else if let Some(c) = &s.config_map {
                    w.write(
                        2,
                        &format!(
                            "ConfigMapName:\t{}\n    ConfigMapOptional:\t{}\n",
                            c.name,
                            text::bool_ptr(c.optional)
                        ),
                    );
                } else if let Some(t) = &s.service_account_token {
                    w.write(
                        2,
                        &format!(
                            "TokenExpirationSeconds:\t{}\n",
                            t.expiration_seconds.unwrap_or_default()
                        ),
                    );
                }
            }
        } else if let Some(c) = &v.csi {
            w.write(
                2,
                &format!(
                    "Type:\tCSI (a Container Storage Interface (CSI) volume source)\n    Driver:\t{}\n    FSType:\t{}\n    ReadOnly:\t{}\n",
                    c.driver,
                    c.fs_type.as_deref().unwrap_or_default(),
                    c.read_only.unwrap_or_default()
                ),
            );
            csi_attributes(w, c.volume_attributes.as_ref());
        } else if let Some(i) = &v.image {
            w.write(
                2,
                &format!(
                    "Type:\tImage (a container image or OCI artifact)\n    Reference:\t{}\n    PullPolicy:\t{}\n",
                    i.reference.as_deref().unwrap_or_default(),
                    i.pull_policy.as_deref().unwrap_or_default()
                ),
            );
        } else {
            w.write(1, "<unknown>\n");
        }
    }
}

/// `printCSIPersistentVolumeAttributesMultiline` for a CSI volume's attributes.
fn csi_attributes(w: &mut Writer, attrs: Option<&BTreeMap<String, String>>) {
    w.write(0, "    VolumeAttributes:\t");
    let Some(attrs) = attrs.filter(|a| !a.is_empty()) else {
        w.line("<none>");
        return;
    };
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i != 0 {
            w.write(0, "    \t");
        }
        w.write(0, &format!("     {k}={v}\n"));
    }
}

/// `DescribePodTemplate`.
pub fn template(w: &mut Writer, t: &PodTemplateSpec) {
    w.write(0, "Pod Template:\n");
    let meta = t.metadata.clone().unwrap_or_default();
    let spec = t.spec.clone().unwrap_or_default();
    text::labels(w, "  Labels", meta.labels.as_ref());
    if meta.annotations.as_ref().is_some_and(|a| !a.is_empty()) {
        text::annotations(w, "  Annotations", meta.annotations.as_ref());
    }
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        w.write(1, &format!("Service Account:\t{sa}\n"));
    }
    if let Some(init) = spec.init_containers.as_ref().filter(|c| !c.is_empty()) {
        containers(w, "Init Containers", init, None, None, "  ");
    }
    containers(w, "Containers", &spec.containers, None, None, "  ");
    volumes(w, spec.volumes.as_deref(), "  ");
    topology_spread(w, &spec, "  ");
    if let Some(p) = spec
        .priority_class_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        w.write(1, &format!("Priority Class Name:\t{p}\n"));
    }
    text::labels(w, "  Node-Selectors", spec.node_selector.as_ref());
    text::tolerations(w, "  Tolerations", spec.tolerations.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_paths_read_the_pod() {
        let pod = json!({"metadata": {"name": "web", "namespace": "team",
            "labels": {"app": "web"}}, "spec": {"nodeName": "n-0"}});
        assert_eq!(field_path(&pod, "metadata.name"), "web");
        assert_eq!(field_path(&pod, "metadata.namespace"), "team");
        assert_eq!(field_path(&pod, "metadata.labels['app']"), "");
        assert_eq!(field_path(&pod, "spec.nodeName"), "");
    }

    #[test]
    fn probes_print_as_upstream() {
        let p: Probe = serde_json::from_value(json!({"httpGet": {"path": "/healthz",
            "port": 8080, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10,
            "successThreshold": 1, "failureThreshold": 3}))
        .unwrap();
        assert_eq!(
            describe_probe(&p),
            "http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3"
        );
        let p: Probe =
            serde_json::from_value(json!({"exec": {"command": ["cat", "/tmp/x"]}})).unwrap();
        assert!(describe_probe(&p).starts_with("exec [cat /tmp/x] delay=0s"));
    }

    #[test]
    fn a_pod_without_requests_is_best_effort() {
        let mut pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p",
            "namespace": "default"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}))
        .unwrap();
        let spec = pod.spec.clone().unwrap();
        assert_eq!(qos_class(&spec), "BestEffort");
        let out = describe(&pod, Some(Vec::new()));
        assert!(out.contains("Node:         <none>\n"), "{out}");
        let last = out.lines().last().unwrap();
        assert!(
            last.starts_with("Events:") && last.ends_with(" <none>"),
            "{out}"
        );
        pod.spec.as_mut().unwrap().containers[0].resources = Some(
            serde_json::from_value(json!({"limits": {"cpu": "1", "memory": "1Gi"},
                "requests": {"cpu": "1000m", "memory": "1Gi"}}))
            .unwrap(),
        );
        assert_eq!(qos_class(pod.spec.as_ref().unwrap()), "Guaranteed");
    }
}
