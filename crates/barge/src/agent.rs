//! `barge agent` (a node joining a cluster), the agent inside `barge server`, and `barge image`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use barge_kubelet::agent::Options;
use barge_kubelet::join;
use barge_kubelet::spec::BackoffConfig;
use clap::{Args, Subcommand};

use crate::node::{Network, Node};
use crate::server::{duration, shutdown_signal};

/// What a node agent is told, for `barge agent` and `barge server`.
#[derive(Debug, Args, Clone)]
pub struct AgentArgs {
    /// The node's name (default: the host name).
    #[arg(long)]
    node_name: Option<String>,
    /// The node's address (default: the address of the default route's interface).
    #[arg(long)]
    node_ip: Option<IpAddr>,
    /// Labels for the node, `key=value` (repeatable).
    #[arg(long = "node-label", value_parser = label)]
    node_labels: Vec<(String, String)>,
    /// Runtime state (sockets, containerd's state); default `/run/barge/<hash of data dir>`.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// The Linux bridge pods attach to (one per node on a machine).
    #[arg(long, default_value = "barge0")]
    cni_bridge: String,
    /// The kubelet API's port (0: any free one).
    #[arg(long, default_value_t = 10250)]
    kubelet_port: u16,
    /// The first CrashLoopBackOff delay (doubling from there).
    #[arg(long, default_value = "10s", value_parser = duration)]
    crash_loop_backoff: Duration,
    /// The longest CrashLoopBackOff delay.
    #[arg(long, default_value = "300s", value_parser = duration)]
    crash_loop_backoff_max: Duration,
    /// The cluster DNS Service's address (`kube-system/kube-dns`), the pods' name server.
    #[arg(long, default_value = "10.96.0.10")]
    pub cluster_dns: IpAddr,
    /// The nftables table of the node's service proxy (`table ip NAME`; one per node on a
    /// machine).
    #[arg(long, default_value = "barge")]
    nft_table: String,
    /// The port of the node's DNS server, on the pods' gateway address.
    #[arg(long, default_value_t = 53)]
    dns_port: u16,
    /// How often the node's CPU and memory figures (`kubectl top`, the autoscaler) are
    /// sampled; the rates are over this window.
    #[arg(long, default_value = "15s", value_parser = duration)]
    pub metric_resolution: Duration,
}

fn label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("invalid label {text:?}: expected key=value"))
}

/// The host name, the default node name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_lowercase())
        .unwrap_or_else(|_| "barge".to_owned())
}

/// The default runtime dir of an agent whose data lives in `data_dir`: short (socket paths
/// are limited to 108 bytes) and distinct per data dir (several agents on one machine).
pub fn run_dir(data_dir: &Path) -> PathBuf {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        data_dir.as_os_str().as_encoded_bytes(),
    );
    let hex: String = digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    PathBuf::from("/run/barge").join(hex)
}

impl AgentArgs {
    /// The agent's options for a node whose state lives in `<data_dir>/agent`.
    pub fn options(&self, data_dir: &Path, extra_labels: &[(&str, &str)]) -> Options {
        let agent_dir = data_dir.join("agent");
        let run = self.run_dir.clone().unwrap_or_else(|| run_dir(&agent_dir));
        let mut opts = Options::new(
            self.node_name.clone().unwrap_or_else(hostname),
            agent_dir,
            run,
        );
        opts.node_ip = self.node_ip;
        opts.cluster_dns = self.cluster_dns;
        opts.bridge = self.cni_bridge.clone();
        opts.kubelet_port = self.kubelet_port;
        opts.metric_resolution = self.metric_resolution;
        let mut labels: BTreeMap<String, String> = self.node_labels.iter().cloned().collect();
        for (k, v) in extra_labels {
            labels.insert((*k).to_owned(), (*v).to_owned());
        }
        opts.node_labels = labels;
        opts.backoff = BackoffConfig {
            initial: self.crash_loop_backoff,
            max: self.crash_loop_backoff_max,
            ..BackoffConfig::default()
        };
        opts
    }

    /// The node's network settings in a cluster whose pod network is `cluster_cidr`.
    pub fn network(&self, cluster_cidr: &str) -> Network {
        Network {
            cluster_cidr: cluster_cidr.to_owned(),
            nft_table: self.nft_table.clone(),
            dns_port: self.dns_port,
        }
    }
}

/// `barge agent`: a worker node of a cluster.
#[derive(Debug, Args)]
pub struct AgentCommand {
    /// The cluster to join: its API server, `https://HOST:6443`.
    #[arg(long, requires = "token")]
    server: Option<String>,
    /// The cluster's node token (the server's `<data-dir>/server/token`).
    #[arg(long, env = "BARGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Join with a kubeconfig instead of a token (its user becomes the node's identity).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Where the node keeps its state (containerd's images, pod volumes, logs).
    #[arg(long, default_value = "/var/lib/barge")]
    data_dir: PathBuf,
    /// The cluster's pod network (as given to the server).
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    #[command(flatten)]
    agent: AgentArgs,
}

pub async fn run(cmd: AgentCommand) -> Result<()> {
    let mut options = cmd.agent.options(&cmd.data_dir, &[]);
    let client = match (&cmd.server, &cmd.token, &cmd.kubeconfig) {
        (Some(server), Some(token), _) => {
            let ip = match options.node_ip {
                Some(ip) => ip,
                None => barge_kubelet::node::default_ip()?,
            };
            options.node_ip = Some(ip);
            let dir = join::credentials_dir(&options.data_dir);
            let credentials = match join::Credentials::load(&dir, server) {
                Some(kept) => kept,
                None => {
                    let fresh = join::join(server, token, &options.node_name, &[ip]).await?;
                    fresh.save(&dir)?;
                    eprintln!("barge: joined {server} as node {}", options.node_name);
                    fresh
                }
            };
            options.serving_tls = Some(barge_kubelet::server::Tls {
                cert_pem: credentials.serving_cert_pem.clone(),
                key_pem: credentials.serving_key_pem.clone(),
                client_ca_pem: credentials.ca_pem.clone(),
            });
            credentials.client().await?
        }
        (None, None, Some(kubeconfig)) => barge_client::connect(kubeconfig).await?,
        _ => bail!("say which cluster to join: --server URL --token TOKEN (or --kubeconfig FILE)"),
    };
    let running = Node::start(client, options, cmd.agent.network(&cmd.cluster_cidr)).await?;
    eprintln!("barge: agent running");
    shutdown_signal().await;
    eprintln!("barge: agent shutting down (containers keep running)");
    running.stop().await;
    Ok(())
}

/// `barge image`: the images of this node's containerd.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Import image tarballs (OCI layout or docker-archive) into the node's containerd.
    Import(ImageArgs),
    /// List the images the node has.
    Ls(ImageArgs),
    /// Build a small test image from Debian's static busybox (`apt-get install
    /// busybox-static`) as an OCI archive, ready for `barge image import`.
    Busybox(BusyboxArgs),
}

#[derive(Debug, Args)]
pub struct BusyboxArgs {
    /// The image's name.
    #[arg(long, default_value = "docker.io/library/busybox:barge")]
    name: String,
    /// The busybox binary to use.
    #[arg(long, default_value = barge_kubelet::image::BUSYBOX_PATH)]
    busybox: PathBuf,
    /// Where to write the archive.
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The node's data dir (as given to `barge server` or `barge agent`).
    #[arg(long, default_value = "/var/lib/barge")]
    data_dir: PathBuf,
    /// Its runtime dir, if it was given one.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Image tarballs (for import).
    files: Vec<PathBuf>,
}

impl ImageArgs {
    fn socket(&self) -> PathBuf {
        let run = self
            .run_dir
            .clone()
            .unwrap_or_else(|| run_dir(&self.data_dir.join("agent")));
        Options::new("", PathBuf::new(), run).containerd_socket()
    }
}

pub async fn image(cmd: ImageCommand) -> Result<()> {
    match cmd {
        ImageCommand::Import(args) => {
            if args.files.is_empty() {
                bail!("no image files given");
            }
            let socket = args.socket();
            for file in &args.files {
                let names = barge_kubelet::image::import(&socket, file)
                    .await
                    .with_context(|| format!("importing {}", file.display()))?;
                for name in names {
                    println!("imported {name}");
                }
            }
            Ok(())
        }
        ImageCommand::Busybox(args) => {
            let archive = barge_kubelet::image::busybox_image(&args.name, &args.busybox)?;
            std::fs::write(&args.output, archive)
                .with_context(|| format!("writing {}", args.output.display()))?;
            println!("{} written to {}", args.name, args.output.display());
            Ok(())
        }
        ImageCommand::Ls(args) => {
            let channel = barge_kubelet::containerd::channel(&args.socket()).await?;
            let images = barge_kubelet::image::list(channel).await?;
            println!("{:<60} {:<20} {:>10}", "IMAGE", "IMAGE ID", "SIZE");
            for i in images {
                for tag in i
                    .repo_tags
                    .iter()
                    .chain(i.repo_tags.is_empty().then_some(&i.id))
                {
                    let id = i.id.trim_start_matches("sha256:");
                    println!(
                        "{:<60} {:<20} {:>10}",
                        tag,
                        &id[..id.len().min(13)],
                        human_size(i.size)
                    );
                }
            }
            Ok(())
        }
    }
}

/// A size as crictl prints it (`1.23MB`).
fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < units.len() {
        size /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{size:.3}{}", units[unit])
    }
}
