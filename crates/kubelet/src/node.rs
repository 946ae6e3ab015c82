//! The kubelet's Node: what this machine offers (read from `/proc` and the data dir's file
//! system), the Node object it registers, and the loops that keep it alive: the Lease renewed
//! every 10 s and the status (conditions, addresses) posted every `status_period`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use barge_client::node::{LEASE_NAMESPACE, conditions, lease, renewal};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tracing::warn;

/// What this machine has, as the Node reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub cpus: u32,
    pub memory_bytes: u64,
    pub ephemeral_storage_bytes: u64,
    pub boot_id: String,
    pub machine_id: String,
    pub kernel_version: String,
    pub os_image: String,
}

impl Machine {
    /// Reads the machine: cpus from `/proc/cpuinfo`, memory from `/proc/meminfo`, the file
    /// system of `data_dir` for ephemeral storage.
    pub fn read(data_dir: &Path) -> Result<Self> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").context("reading /proc/cpuinfo")?;
        let meminfo = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
        let fs = nix::sys::statvfs::statvfs(data_dir)
            .with_context(|| format!("statvfs {}", data_dir.display()))?;
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        Ok(Self {
            cpus: cpuinfo
                .lines()
                .filter(|l| l.starts_with("processor"))
                .count()
                .max(1) as u32,
            memory_bytes: mem_total(&meminfo).unwrap_or(0),
            ephemeral_storage_bytes: fs.blocks() * fs.fragment_size(),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
            machine_id: read("/etc/machine-id"),
            kernel_version: read("/proc/sys/kernel/osrelease"),
            os_image: os_image(&std::fs::read_to_string("/etc/os-release").unwrap_or_default()),
        })
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `PRETTY_NAME` of `/etc/os-release`.
fn os_image(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".to_owned())
}

/// How this kubelet describes its node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub name: String,
    pub ip: IpAddr,
    pub max_pods: u32,
    pub kubelet_version: String,
    pub runtime_version: String,
    pub kubelet_port: u16,
    pub labels: BTreeMap<String, String>,
}

/// The node's resources: capacity, and allocatable (the same: nothing is reserved).
fn resources(machine: &Machine, max_pods: u32) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(machine.cpus.to_string())),
        (
            "memory".to_owned(),
            Quantity(format!("{}Ki", machine.memory_bytes / 1024)),
        ),
        (
            "ephemeral-storage".to_owned(),
            Quantity(format!("{}Ki", machine.ephemeral_storage_bytes / 1024)),
        ),
        ("pods".to_owned(), Quantity(max_pods.to_string())),
        ("hugepages-2Mi".to_owned(), Quantity("0".to_owned())),
        ("hugepages-1Gi".to_owned(), Quantity("0".to_owned())),
    ])
}

/// The node's status: resources, healthy conditions, addresses, node info.
pub fn status(config: &NodeConfig, machine: &Machine, now: &Time, since: &Time) -> NodeStatus {
    let resources = resources(machine, config.max_pods);
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(conditions(now, since)),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".to_owned(),
                address: config.ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".to_owned(),
                address: config.name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(config.kubelet_port),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: arch().to_owned(),
            boot_id: machine.boot_id.clone(),
            container_runtime_version: config.runtime_version.clone(),
            kernel_version: machine.kernel_version.clone(),
            kube_proxy_version: config.kubelet_version.clone(),
            kubelet_version: config.kubelet_version.clone(),
            machine_id: machine.machine_id.clone(),
            operating_system: "linux".to_owned(),
            os_image: machine.os_image.clone(),
            system_uuid: machine.machine_id.clone(),
        }),
        ..NodeStatus::default()
    }
}

/// The architecture as Kubernetes names it (`amd64`, `arm64`).
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The Node this kubelet registers.
pub fn node(config: &NodeConfig, machine: &Machine, now: &Time) -> Node {
    let mut labels: BTreeMap<String, String> = [
        ("kubernetes.io/hostname", config.name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", arch()),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", arch()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    labels.extend(config.labels.clone());
    Node {
        metadata: ObjectMeta {
            name: Some(config.name.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                "volumes.kubernetes.io/controller-managed-attach-detach".to_owned(),
                "true".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        spec: None,
        status: Some(status(config, machine, now, now)),
    }
}

/// Registers the Node (or, when it is there from an earlier run, posts its status and labels)
/// and returns it as stored.
pub async fn register(
    client: &kube::Client,
    config: &NodeConfig,
    machine: &Machine,
) -> Result<Node> {
    let nodes: Api<Node> = Api::all(client.clone());
    let now = Time(Timestamp::now());
    let node = node(config, machine, &now);
    match nodes.create(&PostParams::default(), &node).await {
        Ok(n) => Ok(n),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let params = PatchParams::default();
            let labels = json!({"metadata": {"labels": node.metadata.labels}});
            nodes
                .patch(&config.name, &params, &Patch::Merge(&labels))
                .await
                .context("updating the node's labels")?;
            let status = json!({"status": node.status});
            nodes
                .patch_status(&config.name, &params, &Patch::Merge(&status))
                .await
                .context("updating the node's status")
        }
        Err(e) => Err(e).context("registering the node"),
    }
}

/// Renews the node's Lease every `period` (creating it when missing) and posts the node's
/// status every `status_period`, until the task is dropped.
pub async fn heartbeat(
    client: kube::Client,
    config: NodeConfig,
    machine: Machine,
    node_uid: String,
    period: Duration,
    status_period: Duration,
) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let nodes: Api<Node> = Api::all(client);
    let since = Time(Timestamp::now());
    let duration = 40;
    let mut last_status = tokio::time::Instant::now();
    loop {
        let now = MicroTime(Timestamp::now());
        let patch = renewal(&config.name, duration, &now);
        let renewed = leases
            .patch(&config.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await;
        if let Err(kube::Error::Api(e)) = &renewed
            && e.code == 404
        {
            let fresh = lease(&config.name, &node_uid, duration, &now);
            if let Err(e) = leases.create(&PostParams::default(), &fresh).await {
                warn!(error = %e, "cannot create the node lease");
            }
        } else if let Err(e) = renewed {
            warn!(error = %e, "cannot renew the node lease");
        }
        if last_status.elapsed() >= status_period {
            last_status = tokio::time::Instant::now();
            let patch =
                json!({"status": status(&config, &machine, &Time(Timestamp::now()), &since)});
            if let Err(e) = nodes
                .patch_status(&config.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                warn!(error = %e, "cannot update the node status");
            }
        }
        tokio::time::sleep(period).await;
    }
}

/// The IPv4 address of the interface that holds the default route (the address other nodes
/// reach this one at), from `/proc/net/route` and the interface list.
pub fn default_ip() -> Result<IpAddr> {
    let routes = std::fs::read_to_string("/proc/net/route").context("reading /proc/net/route")?;
    let iface = default_interface(&routes).context("no default route")?;
    let addrs = nix::ifaddrs::getifaddrs().context("listing interface addresses")?;
    for a in addrs {
        if a.interface_name != iface {
            continue;
        }
        if let Some(v4) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) {
            return Ok(IpAddr::V4(v4.ip()));
        }
    }
    anyhow::bail!("the default route's interface {iface} has no IPv4 address")
}

/// The interface of the default route in `/proc/net/route` (destination and mask 0).
fn default_interface(routes: &str) -> Option<String> {
    routes.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 7 && f[1] == "00000000" && f[7] == "00000000").then(|| f[0].to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            cpus: 2,
            memory_bytes: 4 * 1024 * 1024 * 1024,
            ephemeral_storage_bytes: 10 * 1024 * 1024 * 1024,
            boot_id: "b".into(),
            machine_id: "m".into(),
            kernel_version: "6.1".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
        }
    }

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            mem_total("MemTotal:       24634448 kB\nMemFree: 1 kB\n"),
            Some(24634448 * 1024)
        );
        assert_eq!(
            os_image("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
        let routes = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                      kbr0\t00002A0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
                      eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n";
        assert_eq!(default_interface(routes).as_deref(), Some("eth0"));
        assert_eq!(default_interface("Iface\n"), None);
    }

    #[test]
    fn node_object_reports_the_machine() {
        let config = NodeConfig {
            name: "n1".into(),
            ip: "192.0.2.2".parse().unwrap(),
            max_pods: 110,
            kubelet_version: "v1.32.4".into(),
            runtime_version: "containerd://1.6.20".into(),
            kubelet_port: 10250,
            labels: BTreeMap::from([(
                "node-role.kubernetes.io/control-plane".into(),
                "true".into(),
            )]),
        };
        let now = Time("2026-01-02T03:04:05Z".parse().unwrap());
        let v = serde_json::to_value(node(&config, &machine(), &now)).unwrap();
        assert_eq!(v["metadata"]["labels"]["kubernetes.io/hostname"], "n1");
        assert_eq!(
            v["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
            "true"
        );
        assert_eq!(v["status"]["capacity"]["cpu"], "2");
        assert_eq!(v["status"]["capacity"]["memory"], "4194304Ki");
        assert_eq!(v["status"]["allocatable"]["pods"], "110");
        assert_eq!(
            v["status"]["addresses"][0],
            json!({"type": "InternalIP", "address": "192.0.2.2"})
        );
        assert_eq!(
            v["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"],
            10250
        );
        assert_eq!(
            v["status"]["nodeInfo"]["containerRuntimeVersion"],
            "containerd://1.6.20"
        );
        assert_eq!(
            v["status"]["nodeInfo"]["osImage"],
            "Debian GNU/Linux 12 (bookworm)"
        );
    }

    #[test]
    fn reads_this_machine() {
        let m = Machine::read(Path::new("/")).unwrap();
        assert!(m.cpus >= 1);
        assert!(m.memory_bytes > 0);
        assert!(m.ephemeral_storage_bytes > 0);
    }
}
