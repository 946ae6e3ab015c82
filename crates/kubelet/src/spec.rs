//! Turning a Pod into CRI v1 configs, without I/O: [`sandbox_config`] for `RunPodSandbox`
//! and [`container_config`] for `CreateContainer`, as upstream's kubelet 1.32 builds them
//! (`pkg/kubelet/kuberuntime/kuberuntime_sandbox.go`, `kuberuntime_container.go`,
//! `kuberuntime_container_linux.go`, `labels.go`, `pkg/kubelet/kubelet_pods.go`).
//!
//! The pieces live in submodules: [`dns`] (dnsPolicy and resolv.conf), [`env`] (Service
//! links, envFrom, env, downward API), [`expand`] (`$(VAR)`), [`resources`] (QoS, cgroup
//! parent, shares/quota/memory, OOM score), [`security`] (namespaces, users, capabilities,
//! seccomp, AppArmor), [`names`] (hostname and upstream's string formats) and [`backoff`]
//! (CrashLoopBackOff delays).
//!
//! What the node knows (cluster DNS, log root, cgroup root, allocatable, ...) comes in a
//! [`NodeContext`]; what the pod refers to comes in [`PodObjects`]; what only the runtime
//! knows (pod IPs, the pulled image and its user) comes in [`RunInfo`].
//!
//! Differs from upstream:
//! - `oom_score_adj` is never negative (this machine lacks CAP_SYS_RESOURCE): Guaranteed and
//!   node-critical containers get 0 instead of -997, still below every Burstable container;
//! - `io.kubernetes.container.hash` is FNV-1a (32 bit) of `{"image":..,"name":..}` JSON,
//!   the same fields as upstream's hash but not byte-identical to Go's spew-based one;
//! - the termination-message mount, `/etc/hosts` and volume mounts are not made here: the
//!   caller passes every mount in;
//! - namespace options are set on the sandbox even when the pod has no `securityContext`
//!   (upstream skips them then; pods from the API server always have one);
//! - device plugins, CDI, user namespaces, Windows and ephemeral containers are not handled.

pub mod backoff;
pub mod dns;
pub mod env;
pub mod expand;
pub mod names;
pub mod resources;
pub mod security;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ImageSpec, KeyValue, LinuxContainerConfig,
    LinuxPodSandboxConfig, Mount, PodSandboxConfig, PodSandboxMetadata, PortMapping, Protocol,
};
use k8s_openapi::api::core::v1::{Container, Pod};

pub use backoff::{Backoff, BackoffConfig, backoff_key, backoff_message};
pub use dns::{DnsWarning, ResolvConf, pod_dns};
pub use names::format_pod;
pub use resources::{cgroup_parent, compute_qos_class, qos_class};

use crate::objects::PodObjects;

/// Labels the kubelet puts on sandboxes and containers.
pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";

/// Annotations the kubelet puts on containers (upstream's `labels.go`).
pub const CONTAINER_HASH_ANNOTATION: &str = "io.kubernetes.container.hash";
pub const CONTAINER_RESTART_COUNT_ANNOTATION: &str = "io.kubernetes.container.restartCount";
pub const TERMINATION_MESSAGE_PATH_ANNOTATION: &str =
    "io.kubernetes.container.terminationMessagePath";
pub const TERMINATION_MESSAGE_POLICY_ANNOTATION: &str =
    "io.kubernetes.container.terminationMessagePolicy";
pub const PRESTOP_HANDLER_ANNOTATION: &str = "io.kubernetes.container.preStopHandler";
pub const CONTAINER_PORTS_ANNOTATION: &str = "io.kubernetes.container.ports";
pub const CONTAINER_TYPE_ANNOTATION: &str = "io.kubernetes.container.type";
pub const POD_DELETION_GRACE_PERIOD_ANNOTATION: &str = "io.kubernetes.pod.deletionGracePeriod";
pub const POD_TERMINATION_GRACE_PERIOD_ANNOTATION: &str =
    "io.kubernetes.pod.terminationGracePeriod";

/// What the node knows that the configs depend on.
#[derive(Debug, Clone)]
pub struct NodeContext {
    pub node_name: String,
    /// The node's IPs, primary first (`status.hostIP(s)`, the pod IP family order).
    pub node_ips: Vec<IpAddr>,
    /// The cluster DNS servers (kubelet `--cluster-dns`); empty makes ClusterFirst fall back
    /// to the host's settings.
    pub cluster_dns: Vec<IpAddr>,
    /// The cluster domain (kubelet `--cluster-domain`, usually `cluster.local`).
    pub cluster_domain: String,
    /// The host's resolv.conf, parsed with [`ResolvConf::parse`]; `None` is kubelet
    /// `--resolv-conf=""` (pods of the Default policy get a loopback nameserver).
    pub host_resolv: Option<ResolvConf>,
    /// Where pod log directories go (`/var/log/pods` upstream).
    pub pod_log_root: PathBuf,
    /// The cgroup root under which `kubepods` lives (e.g. `/barge`).
    pub cgroup_root: String,
    /// Node allocatable, used for `resourceFieldRef` limits a container does not set.
    pub allocatable_cpu_millis: i64,
    pub allocatable_memory: i64,
    pub allocatable_ephemeral_storage: Option<i64>,
    /// The machine's memory in bytes (the Burstable OOM score heuristic).
    pub memory_capacity: i64,
    /// Enforce CPU limits with CFS quota (kubelet `--cpu-cfs-quota`, default true).
    pub cpu_cfs_quota: bool,
    /// The host's huge page sizes as CRI names them (`2MB`, `1GB`); each container gets a
    /// limit per size (0 unless it asks for that size).
    pub hugepage_sizes: Vec<String>,
    /// cgroup v1 with swap accounting (`memory.memsw.*`): set memory+swap equal to the
    /// memory limit so containers do not swap (upstream's NoSwap on v1).
    pub memory_swap_accounting: bool,
    /// Use the runtime's default seccomp profile when a pod sets none (kubelet
    /// `--seccomp-default`, default false: Unconfined).
    pub seccomp_default: bool,
    /// Where `Localhost` seccomp profiles are (`<root-dir>/seccomp`).
    pub seccomp_profile_root: PathBuf,
}

impl Default for NodeContext {
    fn default() -> Self {
        Self {
            node_name: String::new(),
            node_ips: Vec::new(),
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".to_string(),
            host_resolv: Some(ResolvConf::default()),
            pod_log_root: PathBuf::from("/var/log/pods"),
            cgroup_root: "/".to_string(),
            allocatable_cpu_millis: 0,
            allocatable_memory: 0,
            allocatable_ephemeral_storage: None,
            memory_capacity: 0,
            cpu_cfs_quota: true,
            hugepage_sizes: Vec::new(),
            memory_swap_accounting: false,
            seccomp_default: false,
            seccomp_profile_root: PathBuf::from("/var/lib/kubelet/seccomp"),
        }
    }
}

/// The user an image runs as, from CRI `ImageStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageUser {
    Uid(i64),
    /// A user name the runtime resolves inside the image (cannot be checked for root).
    Name(String),
}

impl Default for ImageUser {
    /// An image without a user runs as root.
    fn default() -> Self {
        ImageUser::Uid(0)
    }
}

impl ImageUser {
    /// As upstream's `getImageUser`: the UID if given, else the user name, else root.
    pub fn from_image(image: &k8s_cri::v1::Image) -> Self {
        match (&image.uid, image.username.as_str()) {
            (Some(uid), _) => ImageUser::Uid(uid.value),
            (None, "") => ImageUser::Uid(0),
            (None, name) => ImageUser::Name(name.to_string()),
        }
    }
}

/// What only the runtime knows when a container is created.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The sandbox's IPs (CRI `PodSandboxStatus`), for `status.podIP(s)`.
    pub pod_ips: Vec<String>,
    /// The image reference `PullImage` returned; empty means the container's `image`.
    pub image_ref: String,
    /// The image's user.
    pub image_user: ImageUser,
}

/// Why a config could not be made. The text is upstream's; it becomes the message of a
/// `CreateContainerConfigError` (or of the sandbox failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("pod has no spec")]
    NoSpec,
    /// Anything else upstream refuses, with its message.
    #[error("{0}")]
    Invalid(String),
}

/// `<pod_log_root>/<namespace>_<name>_<uid>` (upstream's `BuildPodLogsDirectory`).
pub fn pod_log_directory(pod: &Pod, node: &NodeContext) -> PathBuf {
    let (name, ns, uid) = names::pod_identity(pod);
    node.pod_log_root.join(format!("{ns}_{name}_{uid}"))
}

/// `<container>/<restart_count>.log`, relative to the pod's log directory.
pub fn container_log_path(container_name: &str, restart_count: u32) -> String {
    format!("{container_name}/{restart_count}.log")
}

/// The sandbox's labels: the pod's, then the kubelet's own three.
pub fn pod_labels(pod: &Pod) -> HashMap<String, String> {
    let (name, ns, uid) = names::pod_identity(pod);
    let mut labels: HashMap<String, String> = pod
        .metadata
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(POD_NAME_LABEL.into(), name.into());
    labels.insert(POD_NAMESPACE_LABEL.into(), ns.into());
    labels.insert(POD_UID_LABEL.into(), uid.into());
    labels
}

/// A container's labels: the pod's name, namespace and UID and the container's name.
pub fn container_labels(pod: &Pod, container: &Container) -> HashMap<String, String> {
    let (name, ns, uid) = names::pod_identity(pod);
    HashMap::from([
        (POD_NAME_LABEL.to_string(), name.to_string()),
        (POD_NAMESPACE_LABEL.to_string(), ns.to_string()),
        (POD_UID_LABEL.to_string(), uid.to_string()),
        (CONTAINER_NAME_LABEL.to_string(), container.name.clone()),
    ])
}

/// The hash that tells a changed container spec (name and image, as upstream 1.32 hashes).
pub fn container_hash(container: &Container) -> u64 {
    let json = serde_json::json!({
        "image": container.image.as_deref().unwrap_or(""),
        "name": container.name,
    })
    .to_string();
    let mut h: u32 = 0x811c_9dc5;
    for b in json.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    u64::from(h)
}

/// A container's annotations (upstream's `newContainerAnnotations`).
pub fn container_annotations(
    pod: &Pod,
    container: &Container,
    restart_count: u32,
) -> HashMap<String, String> {
    let mut a = HashMap::new();
    a.insert(
        CONTAINER_HASH_ANNOTATION.to_string(),
        format!("{:x}", container_hash(container)),
    );
    a.insert(
        CONTAINER_RESTART_COUNT_ANNOTATION.to_string(),
        restart_count.to_string(),
    );
    a.insert(
        TERMINATION_MESSAGE_PATH_ANNOTATION.to_string(),
        container
            .termination_message_path
            .clone()
            .unwrap_or_default(),
    );
    a.insert(
        TERMINATION_MESSAGE_POLICY_ANNOTATION.to_string(),
        container
            .termination_message_policy
            .clone()
            .unwrap_or_default(),
    );
    if let Some(g) = pod.metadata.deletion_grace_period_seconds {
        a.insert(
            POD_DELETION_GRACE_PERIOD_ANNOTATION.to_string(),
            g.to_string(),
        );
    }
    if let Some(g) = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
    {
        a.insert(
            POD_TERMINATION_GRACE_PERIOD_ANNOTATION.to_string(),
            g.to_string(),
        );
    }
    let pre_stop = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref());
    if let Some(Ok(json)) = pre_stop.map(serde_json::to_string) {
        a.insert(PRESTOP_HANDLER_ANNOTATION.to_string(), json);
    }
    let ports = container.ports.as_ref().filter(|p| !p.is_empty());
    if let Some(Ok(json)) = ports.map(serde_json::to_string) {
        a.insert(CONTAINER_PORTS_ANNOTATION.to_string(), json);
    }
    let spec = pod.spec.as_ref();
    let kind = if spec.is_some_and(|s| {
        s.init_containers
            .iter()
            .flatten()
            .any(|c| c.name == container.name)
    }) {
        Some("init")
    } else if spec.is_some_and(|s| s.containers.iter().any(|c| c.name == container.name)) {
        Some("container")
    } else {
        None
    };
    if let Some(kind) = kind {
        a.insert(CONTAINER_TYPE_ANNOTATION.to_string(), kind.to_string());
    }
    a
}

/// The sandbox's port mappings (upstream's `MakePortMappings` over the regular
/// containers): every declared port (the runtime ignores those without a host port), a
/// port name or protocol/address/ports combination used twice in a container kept once.
pub fn port_mappings(pod: &Pod) -> Vec<PortMapping> {
    let mut out = Vec::new();
    for c in pod.spec.iter().flat_map(|s| &s.containers) {
        let mut names = std::collections::HashSet::new();
        for p in c.ports.iter().flatten() {
            let protocol = p.protocol.as_deref().unwrap_or("TCP");
            let host_ip = p.host_ip.as_deref().unwrap_or("");
            let host_port = p.host_port.unwrap_or(0);
            let name = match p.name.as_deref().filter(|n| !n.is_empty()) {
                Some(n) => n.to_string(),
                None => {
                    let family = match host_ip.parse::<IpAddr>() {
                        _ if host_ip.is_empty() => "any",
                        Ok(IpAddr::V6(_)) => "v6",
                        _ => "v4",
                    };
                    format!(
                        "{family}-{protocol}-{host_ip}:{}:{host_port}",
                        p.container_port
                    )
                }
            };
            if !names.insert(name) {
                continue;
            }
            out.push(PortMapping {
                protocol: Protocol::from_str_name(protocol).unwrap_or(Protocol::Tcp) as i32,
                container_port: p.container_port,
                host_port,
                host_ip: host_ip.to_string(),
            });
        }
    }
    out
}

/// The `RunPodSandbox` config of `pod`'s `attempt`-th sandbox.
pub fn sandbox_config(
    pod: &Pod,
    node: &NodeContext,
    attempt: u32,
) -> Result<PodSandboxConfig, SpecError> {
    let spec = pod.spec.as_ref().ok_or(SpecError::NoSpec)?;
    let (name, ns, uid) = names::pod_identity(pod);
    let (dns_config, _warnings) = dns::pod_dns(pod, node)?;
    let hostname = if spec.host_network.unwrap_or(false) {
        String::new()
    } else {
        let (hostname, domain) = names::hostname_and_domain(pod, &node.cluster_domain)?;
        names::kernel_hostname(&hostname, &domain, spec.set_hostname_as_fqdn)?
    };
    let (resources, overhead) = resources::sandbox_resources(pod, node);
    let sysctls = spec
        .security_context
        .iter()
        .flat_map(|s| s.sysctls.iter().flatten())
        .map(|s| (s.name.clone(), s.value.clone()))
        .collect();
    Ok(PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.to_string(),
            uid: uid.to_string(),
            namespace: ns.to_string(),
            attempt,
        }),
        hostname,
        log_directory: pod_log_directory(pod, node).to_string_lossy().into_owned(),
        dns_config: Some(dns_config),
        port_mappings: port_mappings(pod),
        labels: pod_labels(pod),
        annotations: pod
            .metadata
            .annotations
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: resources::cgroup_parent(pod, &node.cgroup_root),
            security_context: Some(security::sandbox_security(pod)?),
            sysctls,
            overhead: Some(overhead),
            resources: Some(resources),
        }),
        windows: None,
    })
}

/// The `CreateContainer` config of `container` (a regular or init container of `pod`) on
/// its `restart_count`-th run, with the `mounts` the caller prepared.
pub fn container_config(
    pod: &Pod,
    container: &Container,
    objects: &PodObjects,
    node: &NodeContext,
    mounts: Vec<Mount>,
    restart_count: u32,
    run: &RunInfo,
) -> Result<ContainerConfig, SpecError> {
    if pod.spec.is_none() {
        return Err(SpecError::NoSpec);
    }
    // Upstream makes the run options (hostname, environment) before checking the user.
    names::hostname_and_domain(pod, &node.cluster_domain)?;
    let envs = env::make_environment(pod, container, objects, node, &run.pod_ips)?;
    security::verify_run_as_non_root(pod, container, &run.image_user)?;
    let env_map: HashMap<&str, &str> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let expand_all = |list: &Option<Vec<String>>| -> Vec<String> {
        list.iter()
            .flatten()
            .map(|s| expand::expand(s, |n| env_map.get(n).copied()))
            .collect()
    };
    let command = expand_all(&container.command);
    let args = expand_all(&container.args);
    let user_image = container.image.clone().unwrap_or_default();
    let image = if run.image_ref.is_empty() {
        user_image.clone()
    } else {
        run.image_ref.clone()
    };
    let linux = LinuxContainerConfig {
        resources: Some(resources::linux_container_resources(pod, container, node)),
        security_context: Some(security::container_security(
            pod,
            container,
            node,
            &run.image_user,
        )?),
    };
    Ok(ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: container.name.clone(),
            attempt: restart_count,
        }),
        image: Some(ImageSpec {
            image,
            user_specified_image: user_image,
            ..Default::default()
        }),
        command,
        args,
        working_dir: container.working_dir.clone().unwrap_or_default(),
        envs: envs
            .into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect(),
        mounts,
        devices: Vec::new(),
        labels: container_labels(pod, container),
        annotations: container_annotations(pod, container, restart_count),
        log_path: container_log_path(&container.name, restart_count),
        stdin: container.stdin.unwrap_or(false),
        stdin_once: container.stdin_once.unwrap_or(false),
        tty: container.tty.unwrap_or(false),
        linux: Some(linux),
        windows: None,
        cdi_devices: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
