//! A container's environment, as upstream's `makeEnvironmentVariables`
//! (`pkg/kubelet/kubelet_pods.go`) and `pkg/kubelet/envvars` make it: the Service link
//! variables, then `envFrom`, then `env` with `$(VAR)` expansion and `valueFrom`
//! (`fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef`).
//!
//! Precedence is upstream's: `env` over `envFrom` over Service variables (a Service variable
//! is dropped when the container defines the name). Upstream emits the list in Go map order,
//! i.e. randomly; here the order is fixed: Service variables (by Service name), then the
//! container's variables in the order they were first defined.
//!
//! Differs from upstream:
//! - `envFrom` keys are passed through as upstream 1.32 passes them (it stopped skipping keys
//!   that are not C identifiers; see kubernetes/kubernetes#130099);
//! - a missing `enableServiceLinks` counts as true (the API server always defaults it;
//!   upstream refuses a pod without it);
//! - Secret values that are not UTF-8 are converted lossily (CRI strings must be UTF-8).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use barge_api::quantity::Quantity as Q;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ObjectFieldSelector, Pod, ResourceFieldSelector, Secret, Service,
};

use super::expand::expand;
use super::names::{go_quote, qualified_name_errors};
use super::{NodeContext, SpecError};
use crate::objects::PodObjects;

/// Upstream's `makeEnvVariableName`: upper case, `-` → `_`.
fn env_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

fn cluster_ip(svc: &Service) -> Option<&str> {
    svc.spec
        .as_ref()?
        .cluster_ip
        .as_deref()
        .filter(|ip| !ip.is_empty() && *ip != "None")
}

/// The variables of one Service (`pkg/kubelet/envvars.FromServices`):
/// `FOO_SERVICE_HOST`, `FOO_SERVICE_PORT`, `FOO_SERVICE_PORT_<NAME>` for named ports, and the
/// Docker link variables `FOO_PORT`, `FOO_PORT_80_TCP`, `..._PROTO`, `..._PORT`, `..._ADDR`.
fn service_vars(svc: &Service, out: &mut Vec<(String, String)>) {
    let Some(ip) = cluster_ip(svc) else {
        return;
    };
    let prefix = env_name(svc.metadata.name.as_deref().unwrap_or(""));
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or(&[]);
    out.push((format!("{prefix}_SERVICE_HOST"), ip.to_string()));
    let port_var = format!("{prefix}_SERVICE_PORT");
    if let Some(first) = ports.first() {
        out.push((port_var.clone(), first.port.to_string()));
    }
    for p in ports {
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            out.push((format!("{port_var}_{}", env_name(name)), p.port.to_string()));
        }
    }
    let host = match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{ip}]"),
        _ => ip.to_string(),
    };
    for (i, p) in ports.iter().enumerate() {
        let protocol = p
            .protocol
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or("TCP");
        let lower = protocol.to_lowercase();
        let url = format!("{lower}://{host}:{}", p.port);
        if i == 0 {
            out.push((format!("{prefix}_PORT"), url.clone()));
        }
        let pp = format!("{prefix}_PORT_{}_{}", p.port, protocol.to_uppercase());
        out.push((pp.clone(), url));
        out.push((format!("{pp}_PROTO"), lower));
        out.push((format!("{pp}_PORT"), p.port.to_string()));
        out.push((format!("{pp}_ADDR"), ip.to_string()));
    }
}

/// The Service variables a pod in `namespace` sees (upstream's `getServiceEnvVarMap`): the
/// `kubernetes` Service of `default` always, the Services of the pod's namespace when
/// `enable_service_links`; a Service of the pod's namespace wins over `default/kubernetes`
/// of the same name. Services without a cluster IP are skipped.
pub fn service_env(
    namespace: &str,
    enable_service_links: bool,
    services: &[Service],
) -> Vec<(String, String)> {
    let mut chosen: BTreeMap<&str, &Service> = BTreeMap::new();
    for svc in services {
        if cluster_ip(svc).is_none() {
            continue;
        }
        let name = svc.metadata.name.as_deref().unwrap_or("");
        let ns = svc.metadata.namespace.as_deref().unwrap_or("");
        if ns == "default" && name == "kubernetes" {
            chosen.entry(name).or_insert(svc);
        } else if ns == namespace && enable_service_links {
            chosen.insert(name, svc);
        }
    }
    let mut out = Vec::new();
    for svc in chosen.values() {
        service_vars(svc, &mut out);
    }
    out
}

/// Names in the order first defined, each with its latest value.
#[derive(Default)]
struct Ordered {
    entries: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Ordered {
    fn set(&mut self, key: String, value: String) {
        match self.index.get(&key) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.index.get(key).map(|&i| self.entries[i].1.as_str())
    }
}

fn config_map<'a>(
    objects: &'a PodObjects,
    name: &str,
    optional: bool,
) -> Result<Option<&'a ConfigMap>, SpecError> {
    match objects.config_maps.get(name) {
        Some(cm) => Ok(Some(cm)),
        None if optional => Ok(None),
        None => Err(SpecError::ConfigMapNotFound(name.to_string())),
    }
}

fn secret<'a>(
    objects: &'a PodObjects,
    name: &str,
    optional: bool,
) -> Result<Option<&'a Secret>, SpecError> {
    match objects.secrets.get(name) {
        Some(s) => Ok(Some(s)),
        None if optional => Ok(None),
        None => Err(SpecError::SecretNotFound(name.to_string())),
    }
}

/// The container's environment in the order described in the module docs.
pub fn make_environment(
    pod: &Pod,
    container: &Container,
    objects: &PodObjects,
    node: &NodeContext,
    pod_ips: &[String],
) -> Result<Vec<(String, String)>, SpecError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let service = service_env(namespace, links, &objects.services);
    let service_map: HashMap<&str, &str> = service
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    let mut env = Ordered::default();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or("");
        if let Some(r) = &from.config_map_ref {
            let optional = r.optional.unwrap_or(false);
            if let Some(cm) = config_map(objects, &r.name, optional)? {
                for (k, v) in cm.data.iter().flatten() {
                    env.set(format!("{prefix}{k}"), v.clone());
                }
            }
        } else if let Some(r) = &from.secret_ref {
            let optional = r.optional.unwrap_or(false);
            if let Some(s) = secret(objects, &r.name, optional)? {
                for (k, v) in s.data.iter().flatten() {
                    env.set(
                        format!("{prefix}{k}"),
                        String::from_utf8_lossy(&v.0).into_owned(),
                    );
                }
            }
        }
    }

    for var in container.env.iter().flatten() {
        let value = var.value.as_deref().unwrap_or("");
        let resolved = if !value.is_empty() {
            expand(value, |name| {
                env.get(name).or_else(|| service_map.get(name).copied())
            })
        } else if let Some(from) = &var.value_from {
            if let Some(fs) = &from.field_ref {
                field_value(fs, pod, node, pod_ips)?
            } else if let Some(rs) = &from.resource_field_ref {
                resource_value(rs, pod, container, node)?
            } else if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional.unwrap_or(false);
                let Some(cm) = config_map(objects, &r.name, optional)? else {
                    continue;
                };
                match cm.data.as_ref().and_then(|d| d.get(&r.key)) {
                    Some(v) => v.clone(),
                    None if optional => continue,
                    None => {
                        return Err(SpecError::ConfigMapKeyNotFound {
                            key: r.key.clone(),
                            namespace: namespace.to_string(),
                            name: r.name.clone(),
                        });
                    }
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional.unwrap_or(false);
                let Some(s) = secret(objects, &r.name, optional)? else {
                    continue;
                };
                match s.data.as_ref().and_then(|d| d.get(&r.key)) {
                    Some(v) => String::from_utf8_lossy(&v.0).into_owned(),
                    None if optional => continue,
                    None => {
                        return Err(SpecError::SecretKeyNotFound {
                            key: r.key.clone(),
                            namespace: namespace.to_string(),
                            name: r.name.clone(),
                        });
                    }
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        env.set(var.name.clone(), resolved);
    }

    let mut out: Vec<(String, String)> = service
        .into_iter()
        .filter(|(k, _)| env.get(k).is_none())
        .collect();
    out.extend(env.entries);
    Ok(out)
}

/// Upstream's `SplitMaybeSubscriptedPath`: `metadata.labels['k']` → (`metadata.labels`, `k`).
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let s = path.strip_suffix("']")?;
    let (head, key) = s.split_once("['")?;
    (!head.is_empty()).then_some((head, key))
}

/// Upstream's `FormatMap`: sorted `key="value"` lines.
fn format_map(m: Option<&BTreeMap<String, String>>) -> String {
    m.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The pod IPs ordered as upstream's `sortPodIPs` orders them: at most one of the node's
/// primary IP family first, then at most one of the other family.
fn sort_pod_ips(pod_ips: &[String], node_ips: &[IpAddr]) -> Vec<String> {
    let v6_first = node_ips.first().is_some_and(IpAddr::is_ipv6);
    let family = |want_v6: bool| {
        pod_ips
            .iter()
            .find(|ip| ip.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6() == want_v6))
            .cloned()
    };
    family(v6_first)
        .into_iter()
        .chain(family(!v6_first))
        .collect()
}

/// The value of a `fieldRef` (upstream's `podFieldSelectorRuntimeValue`).
pub fn field_value(
    fs: &ObjectFieldSelector,
    pod: &Pod,
    node: &NodeContext,
    pod_ips: &[String],
) -> Result<String, SpecError> {
    let version = fs.api_version.as_deref().unwrap_or("v1");
    if version != "v1" && !version.is_empty() {
        return Err(SpecError::Invalid(format!(
            "unsupported pod version: {version}"
        )));
    }
    let path = fs.field_path.as_str();
    let meta = &pod.metadata;
    if let Some((head, key)) = split_subscript(path) {
        let (map, check) = match head {
            "metadata.annotations" => (meta.annotations.as_ref(), key.to_lowercase()),
            "metadata.labels" => (meta.labels.as_ref(), key.to_string()),
            _ => {
                return Err(SpecError::Invalid(format!(
                    "field label does not support subscript: {path}"
                )));
            }
        };
        let errs = qualified_name_errors(&check);
        if !errs.is_empty() {
            return Err(SpecError::Invalid(format!(
                "invalid key subscript in {path}: {}",
                errs.join(";")
            )));
        }
        return Ok(map.and_then(|m| m.get(key)).cloned().unwrap_or_default());
    }
    let spec = pod.spec.as_ref();
    let ips = sort_pod_ips(pod_ips, &node.node_ips);
    let value = match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "spec.nodeName" | "spec.host" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "spec.terminationGracePeriodSeconds" => spec
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30)
            .to_string(),
        "status.hostIP" => match node.node_ips.first() {
            Some(ip) => ip.to_string(),
            None => {
                return Err(SpecError::Invalid(
                    "host IP unknown; known addresses: []".into(),
                ));
            }
        },
        "status.hostIPs" => {
            if node.node_ips.is_empty() {
                return Err(SpecError::Invalid(
                    "host IP unknown; known addresses: []".into(),
                ));
            }
            node.node_ips
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
        "status.podIP" => ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => ips.join(","),
        "spec.restartPolicy" | "spec.schedulerName" | "status.phase" => {
            return Err(SpecError::Invalid(format!("unsupported fieldPath: {path}")));
        }
        _ => {
            return Err(SpecError::Invalid(format!(
                "field label not supported: {path}"
            )));
        }
    };
    Ok(value)
}

/// Ceiling of `a / b` (upstream divides as floats and rounds up).
fn ceil_div(a: i128, b: i128) -> Option<i128> {
    if b == 0 {
        return None;
    }
    let q = a / b;
    Some(if a % b != 0 && ((a > 0) == (b > 0)) {
        q + 1
    } else {
        q
    })
}

fn quantity_of(c: &Container, limits: bool, name: &str) -> Option<Q> {
    let r = c.resources.as_ref()?;
    let list = if limits {
        r.limits.as_ref()
    } else {
        r.requests.as_ref()
    }?;
    Q::parse(&list.get(name)?.0).ok()
}

/// The value of a `resourceFieldRef` (upstream's `containerResourceRuntimeValue` after
/// `defaultPodLimitsForDownwardAPI`): limits of CPU, memory and ephemeral storage that are
/// missing or zero are the node's allocatable; CPU in units of the divisor rounded up.
pub fn resource_value(
    fs: &ResourceFieldSelector,
    pod: &Pod,
    container: &Container,
    node: &NodeContext,
) -> Result<String, SpecError> {
    // Which container, and whether the node's allocatable fills in its limits (upstream
    // defaults the pod's regular containers and the container itself, not other init
    // containers).
    let (target, defaulted) = match fs.container_name.as_deref().filter(|n| !n.is_empty()) {
        None => (container, true),
        Some(name) => {
            let spec = pod.spec.as_ref();
            if let Some(c) = spec.and_then(|s| s.containers.iter().find(|c| c.name == name)) {
                (c, true)
            } else if let Some(c) =
                spec.and_then(|s| s.init_containers.iter().flatten().find(|c| c.name == name))
            {
                (c, false)
            } else {
                return Err(SpecError::Invalid(format!("container {name} not found")));
            }
        }
    };
    let divisor = match &fs.divisor {
        Some(d) => Q::parse(&d.0).map_err(|e| {
            SpecError::Invalid(format!("invalid divisor {} for {}: {e}", d.0, fs.resource))
        })?,
        None => Q::from_int(1),
    };
    let divisor = if divisor.is_zero() {
        Q::from_int(1)
    } else {
        divisor
    };
    let (is_limit, name) = match fs.resource.split_once('.') {
        Some(("limits", n)) => (true, n),
        Some(("requests", n)) => (false, n),
        _ => return Err(unsupported_resource(&fs.resource)),
    };
    if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !name.starts_with("hugepages-") {
        return Err(unsupported_resource(&fs.resource));
    }
    let mut amount = quantity_of(target, is_limit, name);
    if is_limit && defaulted && amount.as_ref().is_none_or(Q::is_zero) {
        let allocatable = match name {
            "cpu" => Some(Q::parse(&format!("{}m", node.allocatable_cpu_millis)).ok()),
            "memory" => Some(Some(Q::from_int(node.allocatable_memory))),
            "ephemeral-storage" => Some(node.allocatable_ephemeral_storage.map(Q::from_int)),
            _ => None,
        };
        if let Some(Some(a)) = allocatable {
            amount = Some(a);
        }
    }
    let amount = amount.unwrap_or(Q::from_int(0));
    let value = if name == "cpu" {
        ceil_div(amount.milli_value(), divisor.milli_value())
    } else {
        ceil_div(amount.value(), divisor.value())
    }
    .ok_or_else(|| SpecError::Invalid(format!("invalid divisor for {}", fs.resource)))?;
    Ok(value.to_string())
}

fn unsupported_resource(resource: &str) -> SpecError {
    SpecError::Invalid(format!("unsupported container resource : {resource}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports}
        }))
        .unwrap()
    }

    fn lookup<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn service_link_variables() {
        let services = vec![
            svc(
                "default",
                "kubernetes",
                "10.96.0.1",
                serde_json::json!([{"name": "https", "port": 443}]),
            ),
            svc(
                "ns",
                "my-db",
                "10.96.0.20",
                serde_json::json!([
                    {"port": 5432},
                    {"name": "metrics", "port": 9187, "protocol": "UDP"}
                ]),
            ),
            svc("ns", "headless", "None", serde_json::json!([{"port": 80}])),
            svc(
                "other",
                "web",
                "10.96.0.30",
                serde_json::json!([{"port": 80}]),
            ),
        ];
        let env = service_env("ns", true, &services);
        let get = |k| lookup(&env, k);
        assert_eq!(get("KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT"), Some("443"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
        assert_eq!(get("KUBERNETES_PORT"), Some("tcp://10.96.0.1:443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP"), Some("tcp://10.96.0.1:443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP_PROTO"), Some("tcp"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP_PORT"), Some("443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP_ADDR"), Some("10.96.0.1"));
        assert_eq!(get("MY_DB_SERVICE_HOST"), Some("10.96.0.20"));
        assert_eq!(get("MY_DB_SERVICE_PORT"), Some("5432"));
        assert_eq!(get("MY_DB_SERVICE_PORT_METRICS"), Some("9187"));
        assert_eq!(get("MY_DB_PORT"), Some("tcp://10.96.0.20:5432"));
        assert_eq!(get("MY_DB_PORT_9187_UDP"), Some("udp://10.96.0.20:9187"));
        assert_eq!(get("MY_DB_PORT_9187_UDP_PROTO"), Some("udp"));
        assert_eq!(get("HEADLESS_SERVICE_HOST"), None);
        assert_eq!(get("WEB_SERVICE_HOST"), None);
        assert_eq!(env.len(), 8 + 12);
        // Without service links only the kubernetes Service remains.
        let env = service_env("ns", false, &services);
        assert_eq!(env.len(), 8);
        assert!(env.iter().all(|(k, _)| k.starts_with("KUBERNETES_")));
        // IPv6 addresses are bracketed in URLs.
        let env = service_env(
            "ns",
            true,
            &[svc(
                "ns",
                "v6",
                "fd00::1",
                serde_json::json!([{"port": 80}]),
            )],
        );
        assert_eq!(lookup(&env, "V6_PORT"), Some("tcp://[fd00::1]:80"));
        assert_eq!(lookup(&env, "V6_PORT_80_TCP_ADDR"), Some("fd00::1"));
    }

    #[test]
    fn namespace_service_named_kubernetes_wins() {
        let services = vec![
            svc(
                "ns",
                "kubernetes",
                "10.96.9.9",
                serde_json::json!([{"port": 1}]),
            ),
            svc(
                "default",
                "kubernetes",
                "10.96.0.1",
                serde_json::json!([{"port": 443}]),
            ),
        ];
        let env = service_env("ns", true, &services);
        assert_eq!(lookup(&env, "KUBERNETES_SERVICE_HOST"), Some("10.96.9.9"));
        let env = service_env("ns", true, &[services[1].clone(), services[0].clone()]);
        assert_eq!(lookup(&env, "KUBERNETES_SERVICE_HOST"), Some("10.96.9.9"));
    }

    #[test]
    fn pod_ip_order_follows_node_family() {
        let ips = vec![
            "fd00::5".to_string(),
            "10.244.1.5".to_string(),
            "10.244.1.6".to_string(),
        ];
        let v4: Vec<IpAddr> = vec!["192.0.2.2".parse().unwrap()];
        assert_eq!(sort_pod_ips(&ips, &v4), ["10.244.1.5", "fd00::5"]);
        let v6: Vec<IpAddr> = vec!["2001:db8::2".parse().unwrap()];
        assert_eq!(sort_pod_ips(&ips, &v6), ["fd00::5", "10.244.1.5"]);
        assert_eq!(sort_pod_ips(&ips, &[]), ["10.244.1.5", "fd00::5"]);
    }

    #[test]
    fn ceil_division() {
        assert_eq!(ceil_div(7, 2), Some(4));
        assert_eq!(ceil_div(6, 2), Some(3));
        assert_eq!(ceil_div(-7, 2), Some(-3));
        assert_eq!(ceil_div(1, 0), None);
    }
}
