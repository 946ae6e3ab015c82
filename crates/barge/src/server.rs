//! `barge server`: the store, the API server, the scheduler, the controller manager and the
//! node agent (unless `--disable-agent`) in one process, with the admin kubeconfig written for
//! kubectl.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use barge_apiserver::{Config, Server};
use barge_controllers::Settings;
use barge_store::{
    CompactionPolicy, Compactor, EtcdOptions, EtcdStore, SqliteOptions, SqliteStore, Store,
};
use clap::Args;

use crate::agent::AgentArgs;
use crate::controlplane;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Where the cluster keeps its state (store, certificates).
    #[arg(long, default_value = "/var/lib/barge")]
    data_dir: PathBuf,
    /// The API server's HTTPS port.
    #[arg(long, default_value_t = 6443)]
    https_port: u16,
    /// The address the API server listens on.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// The Services' virtual IPs (`kubernetes` gets the first, `kube-dns` the --cluster-dns
    /// address, which must lie inside).
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cidr: String,
    /// The store: empty for the embedded SQLite file in the data dir, or
    /// `etcd://host:port[,host:port...]` for an etcd cluster.
    #[arg(long, default_value = "")]
    datastore_endpoint: String,
    /// Where to write the admin kubeconfig.
    #[arg(long, default_value = "/etc/barge/barge.yaml")]
    write_kubeconfig: PathBuf,
    /// Run the control plane only, with no node agent on this machine.
    #[arg(long)]
    disable_agent: bool,
    /// Do not run the scheduler in this process.
    #[arg(long)]
    disable_scheduler: bool,
    /// Do not run the controller manager in this process.
    #[arg(long)]
    disable_controller_manager: bool,
    /// How long pods stay on a not-ready or unreachable node before they are evicted, unless
    /// they say otherwise (the tolerationSeconds added to every pod).
    #[arg(long, default_value_t = 300)]
    default_toleration_seconds: i64,
    #[command(flatten)]
    controllers: ControllerArgs,
    #[command(flatten)]
    agent: AgentArgs,
}

/// The controller manager's settings, for `barge server` and `barge controller-manager`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// How long a node may go without renewing its Lease before it is NotReady (e.g. 40s).
    #[arg(long, default_value = "40s", value_parser = duration)]
    node_monitor_grace_period: Duration,
    /// How often node health is checked.
    #[arg(long, default_value = "5s", value_parser = duration)]
    node_monitor_period: Duration,
    /// The pod network; each node gets a /24 of it.
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    /// The addresses LoadBalancer Services get (comma-separated); by default every Service
    /// gets the addresses of the Ready nodes, as k3s's ServiceLB does.
    #[arg(long, value_delimiter = ',')]
    servicelb_pool: Vec<IpAddr>,
    /// How often each HorizontalPodAutoscaler is reconciled.
    #[arg(long, default_value = "15s", value_parser = duration)]
    horizontal_pod_autoscaler_sync_period: Duration,
    /// How long a scale-down waits for every recommendation of the window to agree.
    #[arg(long, default_value = "5m", value_parser = duration)]
    horizontal_pod_autoscaler_downscale_stabilization: Duration,
    /// How far the ratio of usage to target may be from 1.0 without a rescale.
    #[arg(long, default_value_t = 0.1)]
    horizontal_pod_autoscaler_tolerance: f64,
    /// How long after a pod starts its cpu samples may still include its start-up.
    #[arg(long, default_value = "5m", value_parser = duration)]
    horizontal_pod_autoscaler_cpu_initialization_period: Duration,
    /// How long after start a pod that is not Ready counts as not yet started.
    #[arg(long, default_value = "30s", value_parser = duration)]
    horizontal_pod_autoscaler_initial_readiness_delay: Duration,
}

impl ControllerArgs {
    pub fn settings(&self) -> Settings {
        Settings {
            node_monitor_grace_period: self.node_monitor_grace_period,
            node_monitor_period: self.node_monitor_period,
            cluster_cidr: self.cluster_cidr.clone(),
            load_balancer_pool: self.servicelb_pool.clone(),
            hpa_sync_period: self.horizontal_pod_autoscaler_sync_period,
            hpa_downscale_stabilization: self.horizontal_pod_autoscaler_downscale_stabilization,
            hpa_tolerance: self.horizontal_pod_autoscaler_tolerance,
            hpa_cpu_initialization_period: self.horizontal_pod_autoscaler_cpu_initialization_period,
            hpa_initial_readiness_delay: self.horizontal_pod_autoscaler_initial_readiness_delay,
            ..Settings::default()
        }
    }
}

/// A duration such as `40s`, `5m`, `500ms` or `1h` (a bare number is seconds).
pub fn duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 40s, 5m, 500ms"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!(
            "invalid duration {text:?}: the unit must be ms, s, m or h"
        )),
    }
}

async fn open_store(args: &ServerArgs) -> Result<Arc<dyn Store>> {
    if args.datastore_endpoint.is_empty() {
        let dir = args.data_dir.join("server").join("db");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let store = SqliteStore::open(SqliteOptions::new(dir.join("state.db")))?;
        return Ok(Arc::new(store));
    }
    let Some(endpoints) = args.datastore_endpoint.strip_prefix("etcd://") else {
        bail!(
            "unsupported --datastore-endpoint {:?}: use etcd://host:port[,host:port...] or leave it empty for the embedded store",
            args.datastore_endpoint
        );
    };
    let endpoints = endpoints.split(',').map(str::to_owned).collect();
    let store: Arc<dyn Store> = Arc::new(EtcdStore::connect(EtcdOptions::new(endpoints)).await?);
    // The embedded store compacts itself; etcd's history is the API server's to compact, as
    // upstream's is (every server of an HA set may run it: compactions are idempotent).
    Compactor::spawn(store.clone(), CompactionPolicy::default());
    Ok(store)
}

pub async fn run(args: ServerArgs) -> Result<()> {
    let store = open_store(&args).await?;
    let mut config = Config::new(args.data_dir.join("server"));
    config.bind_address = args.bind_address;
    let service_cidr = barge_proxy::routes::Cidr::parse(&args.service_cidr)
        .with_context(|| format!("invalid --service-cidr {:?}", args.service_cidr))?;
    config.service_cidr = (service_cidr.net, service_cidr.len);
    match args.agent.cluster_dns {
        IpAddr::V4(ip) if service_cidr.contains(ip) => config.cluster_dns = ip,
        ip => bail!(
            "--cluster-dns {ip} is not inside --service-cidr {}",
            args.service_cidr
        ),
    }
    config.https_port = args.https_port;
    config.default_toleration_seconds = args.default_toleration_seconds;
    config.metric_resolution = args.agent.metric_resolution;
    // The namespace controller empties deleted namespaces, unless it does not run here.
    config.finalize_namespaces = args.disable_controller_manager;
    let server = Server::start(config, store).await?;
    let token_dir = args.data_dir.join("server");
    barge_apiserver::join::load_or_create_token(&token_dir)
        .with_context(|| format!("cannot make the node token in {}", token_dir.display()))?;
    let kubeconfig = server.admin_kubeconfig();
    barge_apiserver::kubeconfig::write(&args.write_kubeconfig, &kubeconfig)
        .with_context(|| format!("cannot write {}", args.write_kubeconfig.display()))?;
    let mut settings = args.controllers.settings();
    settings.root_ca = Some(server.certs.ca.cert_pem.clone());
    let client = controlplane::local_client(&server);
    controlplane::spawn(
        client.clone(),
        controlplane::Options {
            scheduler: !args.disable_scheduler,
            controllers: !args.disable_controller_manager,
            settings,
            identity: identity(),
        },
    );
    eprintln!("barge: API server listening on {}", server.url());
    let agent = if args.disable_agent {
        None
    } else {
        let labels = [("node-role.kubernetes.io/control-plane", "true")];
        let mut options = args.agent.options(&args.data_dir, &labels);
        // The kubelet API's certificate, from the cluster CA, for the names the API server
        // dials (the node's address) and the node's name.
        let ip = match options.node_ip {
            Some(ip) => ip,
            None => barge_kubelet::node::default_ip()?,
        };
        options.node_ip = Some(ip);
        let names = [
            options.node_name.clone(),
            ip.to_string(),
            "127.0.0.1".to_owned(),
        ];
        let pair = server
            .certs
            .issue_kubelet_serving(&options.node_name, &names)?;
        options.serving_tls = Some(barge_kubelet::server::Tls {
            cert_pem: pair.cert_pem,
            key_pem: pair.key_pem,
            client_ca_pem: server.certs.ca.cert_pem.clone(),
        });
        let network = args.agent.network(&args.controllers.cluster_cidr);
        Some(crate::node::Node::start(client, options, network).await?)
    };
    let join_ip = match args.bind_address {
        ip if ip.is_unspecified() => barge_kubelet::node::default_ip().unwrap_or(ip),
        ip => ip,
    };
    eprintln!(
        "barge: join other machines with: barge agent --server https://{} --token \"$(cat {})\"",
        std::net::SocketAddr::new(join_ip, server.addr.port()),
        token_dir.join(barge_apiserver::join::TOKEN_FILE).display()
    );
    println!("export KUBECONFIG={}", args.write_kubeconfig.display());
    shutdown_signal().await;
    eprintln!("barge: shutting down");
    if let Some(agent) = agent {
        agent.stop().await;
    }
    drop(server);
    Ok(())
}

/// This server's name in leader election: the host name and the process id.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}_{}", host.trim(), std::process::id())
}

pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
