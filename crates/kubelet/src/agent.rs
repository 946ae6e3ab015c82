//! `barge agent` (and the agent inside `barge server`): containerd, the node, and the pods.
//!
//! Start-up, in order: check that containerd, runc and the CNI plugins are installed; start
//! containerd with a config under the data dir; import Barge's pause image and every image
//! tarball in `<data-dir>/agent/images/` (and keep watching that directory); register the
//! Node and keep its Lease and status fresh; wait for the node's `spec.podCIDR` (the node IPAM
//! controller assigns it) and write the CNI config for it; then run the pods bound to the
//! node. On shutdown containerd is stopped; containers keep running (their shims outlive
//! containerd), so restarting the agent restarts no container.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use barge_client::events::Recorder;
use barge_client::{Change, Informer, KubeWriter};
use k8s_cri::v1::VersionRequest;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::runtime::watcher;
use tracing::info;

use crate::containerd::{self, Containerd};
use crate::cri::{Cri, CriExec};
use crate::node::{Machine, NodeConfig};
use crate::pods::Kubelet;
use crate::{cni, image, pods, probe, server, spec, volumes};

/// How an agent runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub node_name: String,
    /// Persistent state: `<data-dir>/agent` (containerd's root, images, pod volumes, logs).
    pub data_dir: PathBuf,
    /// Runtime state, gone at reboot: sockets, containerd's state (`/run/barge/<node>`).
    pub run_dir: PathBuf,
    /// The node's address (default: the address of the default route's interface).
    pub node_ip: Option<IpAddr>,
    pub node_labels: BTreeMap<String, String>,
    pub cluster_dns: IpAddr,
    pub cluster_domain: String,
    pub max_pods: u32,
    pub kubelet_version: String,
    pub kubelet_port: u16,
    /// The Linux bridge pods attach to.
    pub bridge: String,
    pub backoff: spec::BackoffConfig,
    /// The kubelet API's TLS material (serving certificate for the node's names, and the CA of
    /// the API server's client certificate); without it the agent serves no logs, exec or
    /// port-forward.
    pub serving_tls: Option<server::Tls>,
    /// How often the node's CPU and memory figures are sampled (metrics-server's
    /// `--metric-resolution`, 15 s).
    pub metric_resolution: Duration,
}

impl Options {
    pub fn new(node_name: impl Into<String>, data_dir: PathBuf, run_dir: PathBuf) -> Self {
        Self {
            node_name: node_name.into(),
            data_dir,
            run_dir,
            node_ip: None,
            node_labels: BTreeMap::new(),
            cluster_dns: IpAddr::from([10, 96, 0, 10]),
            cluster_domain: "cluster.local".to_owned(),
            max_pods: 110,
            kubelet_version: "v1.32.4".to_owned(),
            kubelet_port: 10250,
            bridge: "barge0".to_owned(),
            backoff: spec::BackoffConfig::default(),
            serving_tls: None,
            metric_resolution: Duration::from_secs(15),
        }
    }

    pub fn images_dir(&self) -> PathBuf {
        self.data_dir.join("images")
    }

    pub fn containerd_socket(&self) -> PathBuf {
        containerd::Config::new(
            self.data_dir.join("containerd"),
            self.run_dir.join("containerd"),
        )
        .socket()
    }
}

/// A running agent.
#[derive(Debug)]
pub struct Agent {
    /// The node's address.
    pub node_ip: IpAddr,
    /// The node's pod CIDR; the pods' gateway (and the node's DNS server) is its first address.
    pub pod_cidr: String,
    containerd: Containerd,
    tasks: tokio::task::JoinSet<()>,
    server: Option<server::Server>,
    pub kubelet: Arc<Kubelet>,
}

impl Agent {
    /// Stops the agent's loops and containerd; containers keep running.
    pub async fn stop(mut self) {
        self.server = None;
        self.tasks.shutdown().await;
        self.containerd.stop().await;
    }
}

/// Starts an agent: returns once the node is registered and pods are being run.
pub async fn start(client: kube::Client, opts: Options) -> Result<Agent> {
    containerd::check_installed()?;
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating {}", opts.data_dir.display()))?;
    let config = containerd::Config::new(
        opts.data_dir.join("containerd"),
        opts.run_dir.join("containerd"),
    );
    let cni_conf_dir = config.cni_conf_dir.clone();
    let containerd = Containerd::start(config).await?;
    let socket = containerd.socket();
    let channel = containerd::channel(&socket).await?;
    let mut cri = Cri::new(channel);
    let version = cri
        .runtime
        .version(VersionRequest::default())
        .await
        .context("CRI Version")?
        .into_inner();
    image::import_bytes(&socket, &image::pause_image()?)
        .await
        .context("importing the pause image")?;
    let mut tasks = tokio::task::JoinSet::new();
    std::fs::create_dir_all(opts.images_dir())?;
    tasks.spawn(image::watch_dir(
        opts.images_dir(),
        containerd.socket().to_owned(),
    ));

    let machine = Machine::read(&opts.data_dir)?;
    // Port 0: a free port, chosen now so that the Node reports the port served.
    let kubelet_port = match opts.kubelet_port {
        0 => std::net::TcpListener::bind("0.0.0.0:0")
            .and_then(|l| l.local_addr())
            .context("choosing a port for the kubelet API")?
            .port(),
        port => port,
    };
    let ip = match opts.node_ip {
        Some(ip) => ip,
        None => crate::node::default_ip()?,
    };
    let node_config = NodeConfig {
        name: opts.node_name.clone(),
        ip,
        max_pods: opts.max_pods,
        kubelet_version: opts.kubelet_version.clone(),
        runtime_version: format!("{}://{}", version.runtime_name, version.runtime_version),
        kubelet_port,
        labels: opts.node_labels.clone(),
    };
    let node = crate::node::register(&client, &node_config, &machine).await?;
    info!(node = %opts.node_name, %ip, "node registered");
    tasks.spawn(crate::node::heartbeat(
        client.clone(),
        node_config,
        machine.clone(),
        node.metadata.uid.clone().unwrap_or_default(),
        Duration::from_secs(10),
        Duration::from_secs(60),
    ));

    let pod_cidr = wait_pod_cidr(&client, &opts.node_name).await?;
    cni::write(
        &cni_conf_dir,
        &opts.bridge,
        &pod_cidr,
        &opts.data_dir.join("ipam"),
    )?;
    cni::ensure_bridge(&opts.bridge, &pod_cidr).await?;
    info!(%pod_cidr, bridge = %opts.bridge, "pod network configured");

    let memory = i64::try_from(machine.memory_bytes).unwrap_or(i64::MAX);
    let node_ctx = spec::NodeContext {
        node_name: opts.node_name.clone(),
        node_ips: vec![ip],
        cluster_dns: vec![opts.cluster_dns],
        cluster_domain: opts.cluster_domain.clone(),
        host_resolv: std::fs::read_to_string("/etc/resolv.conf")
            .ok()
            .and_then(|text| spec::ResolvConf::parse(&text).ok()),
        pod_log_root: opts.data_dir.join("logs"),
        cgroup_root: format!("/barge/{}", opts.node_name),
        allocatable_cpu_millis: i64::from(machine.cpus) * 1000,
        allocatable_memory: memory,
        memory_capacity: memory,
        ..spec::NodeContext::default()
    };
    let volume_host = volumes::VolumeHost {
        cluster_domain: opts.cluster_domain.clone(),
        allocatable: node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.clone())
            .unwrap_or_default(),
        ..volumes::VolumeHost::default()
    };
    let writer = Arc::new(KubeWriter::new(client.clone(), "kubelet"));
    let recorder = Recorder::new(writer, "kubelet");
    let exec = Arc::new(CriExec(cri.clone()));
    let (probes, mut probe_events) =
        probe::Manager::new(exec.clone(), probe::ManagerConfig::default());
    let kubelet = Kubelet::new(
        client.clone(),
        cri,
        pods::Config {
            node_name: opts.node_name.clone(),
            host_ip: ip.to_string(),
            volumes_root: opts.data_dir.join("pods"),
            node: node_ctx,
            volume_host,
            backoff: opts.backoff,
            relist_period: Duration::from_secs(1),
            resync_period: Duration::from_secs(10),
        },
        probes,
        exec,
        recorder,
    );
    let server = match opts.serving_tls.clone() {
        Some(tls) => {
            let config = server::Config {
                address: std::net::SocketAddr::from(([0, 0, 0, 0], kubelet_port)),
                tls,
                metric_resolution: opts.metric_resolution,
            };
            Some(server::Server::start(config, kubelet.clone()).await?)
        }
        None => {
            tracing::warn!(
                "no TLS material for the kubelet API: logs, exec and port-forward are off"
            );
            None
        }
    };
    tasks.spawn(kubelet.clone().relist_loop());
    let for_probes = kubelet.clone();
    tasks.spawn(async move {
        while let Some(event) = probe_events.recv().await {
            for_probes.probe_event(event).await;
        }
    });
    let pods: Api<Pod> = Api::all(client.clone());
    let selector = format!("spec.nodeName={}", opts.node_name);
    let informer = Informer::builder().start(pods, watcher::Config::default().fields(&selector));
    let mut changes = informer.subscribe();
    let for_pods = kubelet.clone();
    tasks.spawn(async move {
        while let Some(change) = changes.next().await {
            match change {
                Change::Applied { new, .. } => {
                    let uid = new.metadata.uid.clone().unwrap_or_default();
                    for_pods.pod_changed(&uid, Some(new));
                }
                Change::Deleted(old) => {
                    let uid = old.metadata.uid.clone().unwrap_or_default();
                    for_pods.pod_changed(&uid, None);
                }
                // Changes were missed: every pod may have changed, and pods the kubelet runs
                // but the cache no longer has are gone.
                Change::Resynced => {
                    let pods = informer.cache().list();
                    let live: std::collections::HashSet<String> =
                        pods.iter().filter_map(|p| p.metadata.uid.clone()).collect();
                    for uid in for_pods.pod_uids() {
                        if !live.contains(&uid) {
                            for_pods.pod_changed(&uid, None);
                        }
                    }
                    for pod in pods {
                        let uid = pod.metadata.uid.clone().unwrap_or_default();
                        for_pods.pod_changed(&uid, Some(pod));
                    }
                }
            }
        }
    });
    Ok(Agent {
        node_ip: ip,
        pod_cidr,
        containerd,
        tasks,
        server,
        kubelet,
    })
}

/// Waits until the node has a pod CIDR (assigned by the node IPAM controller).
async fn wait_pod_cidr(client: &kube::Client, name: &str) -> Result<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut logged = false;
    loop {
        let node = nodes.get(name).await.context("reading the node")?;
        if let Some(cidr) = node.spec.and_then(|s| s.pod_cidr) {
            return Ok(cidr);
        }
        if !logged {
            info!("waiting for the node's pod CIDR (from the controller manager's node IPAM)");
            logged = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
