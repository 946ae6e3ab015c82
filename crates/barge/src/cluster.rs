//! `barge cluster`: local multi-node clusters on one machine, for trying Barge out and for
//! testing failures (kind's job, with real network namespaces instead of containers).
//!
//! A cluster NAME of N nodes is:
//! - a host bridge `bc<tag>` on the cluster's link network `172.29.K.0/24`, where K (the
//!   cluster's *slot*, 0..16) is picked so that none of the cluster's networks overlaps
//!   another cluster's or any address or route of the machine;
//! - node 1, `barge server` (control plane and its own node) in the root network namespace,
//!   bound to `172.29.K.1` on that bridge, so that kubectl on the host and the workers reach it;
//! - nodes 2..N, one `barge agent` each in a network namespace of its own (`bc-NAME-i`) with
//!   a veth to the bridge, address `172.29.K.i`, default route through `.1`; every node has
//!   its own containerd, data dir, run dir, pod bridge and proxy table (`barge-NAME-i`);
//! - the pod network `10.(64+K).0.0/16` and the Services' `10.(80+K).0.0/16` (cluster DNS
//!   `.0.10`), apart from a plain `barge server`'s 10.42/16 and 10.96/12;
//! - a table `barge-cluster-NAME` masquerading the link network towards the rest of the
//!   world, so that the workers (and their pods, which their nodes masquerade) get out.
//!
//! The processes run detached (a session of their own, output in `<dir>/NAME/node<i>.log`);
//! `<dir>/NAME/state.json` records the plan and their pids. Deleting a cluster finds what to
//! remove by name (processes by their command lines and pod cgroups, mounts under its dirs,
//! cgroups, namespaces, links, tables, routes), so it works with or without the state and
//! with processes already dead, and a second run finds nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use barge_kubelet::volumes::MountTable;
use barge_proxy::routes::Cidr;
use base64::Engine;
use clap::{Args, Subcommand};
use kube::core::{ApiResource, DynamicObject};
use serde::{Deserialize, Serialize};

const DEFAULT_DIR: &str = "/var/lib/barge/clusters";
/// Runtime state of every local cluster (one dir each), and the lock that serializes picking
/// slots and names.
const RUN_ROOT: &str = "/run/barge-cluster";
/// Clusters on one machine: each takes a /24 of 172.29/16 and two /16s of 10/8.
const SLOTS: u8 = 16;
const MAX_NODES: i64 = 64;
const MAX_NAME: usize = 32;

/// `barge cluster`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start a cluster of N nodes on this machine: `barge server` (the control plane and
    /// node 1) and N-1 `barge agent` workers, each in a network namespace of its own; returns
    /// once every node is Ready and prints the `export KUBECONFIG=...` line. Root only.
    Create(CreateArgs),
    /// Kill a worker node as a machine failure would: its agent, containerd, shims and
    /// containers get SIGKILL; its network namespace and address stay. Root only.
    StopNode(StopNodeArgs),
    /// Remove everything the cluster made: processes, containers, mounts, cgroups, network
    /// namespaces, links, nftables tables, routes, files. Safe to run again. Root only.
    Delete(DeleteArgs),
    /// The clusters kept in --dir and how many of their nodes run.
    List(DirArgs),
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// Where clusters keep their state, one directory each.
    #[arg(long, default_value = DEFAULT_DIR)]
    dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The cluster's name: lowercase letters, digits and '-', starting with a letter, at most
    /// 32 characters.
    name: String,
    /// Nodes, the server's included.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=MAX_NODES))]
    nodes: u8,
    #[command(flatten)]
    dir: DirArgs,
    /// The API server's port on the cluster's bridge address (default: 6443, or a free port
    /// when 6443 is taken there).
    #[arg(long)]
    https_port: Option<u16>,
    /// Image tarballs (.tar, .tar.gz, .tgz; a directory of them or one file) copied into every
    /// node's images directory, imported before the command returns.
    #[arg(long)]
    images: Option<PathBuf>,
    /// Passed to the server: how long a node may go without renewing its Lease before it is
    /// NotReady (the server's default when not given).
    #[arg(long, value_parser = crate::server::duration)]
    node_monitor_grace_period: Option<Duration>,
    /// Passed to the server: how long pods stay on a not-ready or unreachable node before
    /// they are evicted (the server's default when not given).
    #[arg(long)]
    default_toleration_seconds: Option<i64>,
    /// How long to wait for every node to be Ready (and the images imported).
    #[arg(long, default_value = "180s", value_parser = crate::server::duration)]
    timeout: Duration,
}

#[derive(Debug, Args)]
pub struct StopNodeArgs {
    /// The cluster.
    name: String,
    /// The node: its name (`NAME-2`) or its number (`2`).
    node: String,
    #[command(flatten)]
    dir: DirArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The cluster.
    name: String,
    #[command(flatten)]
    dir: DirArgs,
}

pub async fn run(cmd: ClusterCommand) -> Result<()> {
    match cmd {
        ClusterCommand::Create(args) => create(args).await,
        ClusterCommand::StopNode(args) => stop_node(&args),
        ClusterCommand::Delete(args) => delete(&args),
        ClusterCommand::List(args) => list(&args),
    }
}

// ---------------------------------------------------------------------------------------------
// The plan: names and addresses, derived from the name, the slot and the node count.

/// A cluster as created, written to `<dir>/NAME/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct State {
    name: String,
    /// K: the cluster's addresses derive from it.
    slot: u8,
    dir: PathBuf,
    run_dir: PathBuf,
    link_net: String,
    bridge: String,
    cluster_cidr: String,
    service_cidr: String,
    cluster_dns: String,
    masquerade_table: String,
    https_port: u16,
    kubeconfig: PathBuf,
    nodes: Vec<NodeState>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct NodeState {
    name: String,
    index: u8,
    ip: Ipv4Addr,
    /// The worker's network namespace and the host's end of its veth (none for the server).
    netns: Option<String>,
    veth: Option<String>,
    cni_bridge: String,
    nft_table: String,
    data_dir: PathBuf,
    run_dir: PathBuf,
    log: PathBuf,
    /// The `barge server` / `barge agent` process, once started.
    pid: Option<u32>,
    /// Stopped by `barge cluster stop-node`.
    #[serde(default)]
    stopped: bool,
}

impl NodeState {
    fn is_server(&self) -> bool {
        self.index == 1
    }

    fn role(&self) -> &'static str {
        if self.is_server() { "server" } else { "agent" }
    }

    fn socket(&self) -> PathBuf {
        barge_kubelet::agent::Options::new("", PathBuf::new(), self.run_dir.clone())
            .containerd_socket()
    }
}

/// Whether `name` can name a cluster (it goes into node names, namespaces and tables).
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "invalid cluster name {name:?}: use lowercase letters, digits and '-', starting with a letter and not ending with '-', at most {MAX_NAME} characters"
        );
    }
    Ok(())
}

/// The short form of the name in link names (at most 15 bytes): the name itself up to 9
/// characters, else its first 4 and 5 hex digits of its hash. Link names built from it
/// (`bc<tag>`, `bc<tag>_<i>`, `bp<tag>_<i>`) cannot be another cluster's, as `_` never
/// appears in a tag; a hash collision is caught by the existence checks at create.
fn tag(name: &str) -> String {
    if name.len() <= 9 {
        return name.to_owned();
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let hex: String = digest.as_ref()[..3]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}{}", &name[..4], &hex[..5])
}

fn bridge_name(name: &str) -> String {
    format!("bc{}", tag(name))
}

fn netns_name(name: &str, index: u8) -> String {
    format!("bc-{name}-{index}")
}

fn node_table(name: &str, index: u8) -> String {
    format!("barge-{name}-{index}")
}

fn masquerade_table(name: &str) -> String {
    format!("barge-cluster-{name}")
}

fn node_name(name: &str, index: u8) -> String {
    format!("{name}-{index}")
}

/// The networks of slot `k`: the link network, the pod network, the Services' network.
fn slot_networks(k: u8) -> [Cidr; 3] {
    [
        Cidr {
            net: Ipv4Addr::new(172, 29, k, 0),
            len: 24,
        },
        Cidr {
            net: Ipv4Addr::new(10, 64 + k, 0, 0),
            len: 16,
        },
        Cidr {
            net: Ipv4Addr::new(10, 80 + k, 0, 0),
            len: 16,
        },
    ]
}

fn cidr_text(c: Cidr) -> String {
    format!("{}/{}", c.net, c.len)
}

/// Everything a cluster will be, before anything exists.
fn plan(name: &str, slot: u8, nodes: u8, dir: &Path, https_port: u16) -> State {
    let cluster_dir = dir.join(name);
    let run_dir = Path::new(RUN_ROOT).join(name);
    let tag = tag(name);
    let [link, pods, services] = slot_networks(slot);
    let nodes = (1..=nodes)
        .map(|i| {
            let worker = i > 1;
            NodeState {
                name: node_name(name, i),
                index: i,
                ip: Ipv4Addr::new(172, 29, slot, i),
                netns: worker.then(|| netns_name(name, i)),
                veth: worker.then(|| format!("bc{tag}_{i}")),
                cni_bridge: format!("bp{tag}_{i}"),
                nft_table: node_table(name, i),
                data_dir: cluster_dir.join(format!("node{i}")),
                run_dir: run_dir.join(i.to_string()),
                log: cluster_dir.join(format!("node{i}.log")),
                pid: None,
                stopped: false,
            }
        })
        .collect();
    State {
        name: name.to_owned(),
        slot,
        dir: cluster_dir.clone(),
        run_dir,
        link_net: cidr_text(link),
        bridge: bridge_name(name),
        cluster_cidr: cidr_text(pods),
        service_cidr: cidr_text(services),
        cluster_dns: Ipv4Addr::new(10, 80 + slot, 0, 10).to_string(),
        masquerade_table: masquerade_table(name),
        https_port,
        kubeconfig: cluster_dir.join("kubeconfig"),
        nodes,
    }
}

impl State {
    fn server_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(172, 29, self.slot, 1)
    }

    fn file(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    fn load(cluster_dir: &Path) -> Result<Option<State>> {
        let path = Self::file(cluster_dir);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let state = serde_json::from_str(&text)
            .with_context(|| format!("invalid cluster state {}", path.display()))?;
        Ok(Some(state))
    }

    /// Writes the state (a temporary file renamed over the old one).
    fn save(&self) -> Result<()> {
        let path = Self::file(&self.dir);
        let tmp = self.dir.join(".state.json.tmp");
        let text = serde_json::to_string_pretty(self)?;
        fs::write(&tmp, text + "\n").with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    fn node(&self, which: &str) -> Result<&NodeState> {
        let found = self
            .nodes
            .iter()
            .find(|n| n.name == which || which.parse::<u8>().is_ok_and(|i| i == n.index));
        found.ok_or_else(|| {
            let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
            anyhow!(
                "cluster {} has no node {which:?} (its nodes: {})",
                self.name,
                names.join(", ")
            )
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Running commands.

/// Runs `program args`; fails with its exit status and error output unless it succeeds.
fn sh(program: &str, args: &[&str]) -> Result<String> {
    run_with_input(program, args, None)
}

fn run_with_input(program: &str, args: &[&str], input: Option<&str>) -> Result<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {program} (is it installed?)"))?;
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
        stdin
            .write_all(input.as_bytes())
            .with_context(|| format!("writing to {program}"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for {program}"))?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<String> {
    sh("ip", args)
}

fn require_root(what: &str) -> Result<()> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !root {
        bail!(
            "barge cluster {what} needs root: it manages network namespaces, links, nftables and cgroups"
        );
    }
    Ok(())
}

fn require_tools(tools: &[&str]) -> Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| barge_kubelet::containerd::find_binary(t).is_none())
        .collect();
    if !missing.is_empty() {
        bail!(
            "missing programs: {} (apt-get install iproute2 nftables util-linux procps)",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The machine-wide lock of `barge cluster` (slots and names are machine-wide).
fn lock() -> Result<File> {
    fs::create_dir_all(RUN_ROOT).with_context(|| format!("cannot create {RUN_ROOT}"))?;
    let path = Path::new(RUN_ROOT).join(".lock");
    let file = File::create(&path).with_context(|| format!("cannot open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

// ---------------------------------------------------------------------------------------------
// create

async fn create(args: CreateArgs) -> Result<()> {
    check_name(&args.name)?;
    require_root("create")?;
    require_tools(&["ip", "nft", "nsenter", "setsid", "kill", "umount"])?;
    barge_kubelet::containerd::check_installed()?;
    let images = match &args.images {
        Some(path) => image_archives(path)?,
        None => Vec::new(),
    };
    let dir = std::path::absolute(&args.dir.dir)
        .with_context(|| format!("invalid --dir {}", args.dir.dir.display()))?;
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let mut state = {
        let _lock = lock()?;
        let state = allocate(&args, &dir)?;
        if let Err(e) = write_initial(&state).and_then(|()| make_network(&state)) {
            eprintln!("barge: cluster {}: removing what was made", state.name);
            let _ = teardown(&state.name, std::slice::from_ref(&state.dir));
            return Err(e.context(format!("creating the network of cluster {}", state.name)));
        }
        state
    };
    eprintln!(
        "barge: cluster {}: link network {} on bridge {}, pods {}, Services {}",
        state.name, state.link_net, state.bridge, state.cluster_cidr, state.service_cidr
    );

    let started = Instant::now();
    let outcome = tokio::select! {
        r = start(&mut state, &args, &images) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    if let Err(e) = outcome {
        eprintln!(
            "barge: cluster {} failed to start; removing what it made",
            state.name
        );
        if let Err(t) = teardown(&state.name, std::slice::from_ref(&state.dir)) {
            eprintln!("barge: {t:#}");
        }
        return Err(e.context(format!("cluster {} was not created", state.name)));
    }
    eprintln!(
        "barge: cluster {}: {} node(s) Ready in {:.1}s; API server https://{}:{}; logs in {}",
        state.name,
        state.nodes.len(),
        started.elapsed().as_secs_f64(),
        state.server_ip(),
        state.https_port,
        state.dir.display()
    );
    println!("export KUBECONFIG={}", state.kubeconfig.display());
    Ok(())
}

/// Picks the cluster's slot and checks that nothing of its names exists. Runs under [`lock`].
fn allocate(args: &CreateArgs, dir: &Path) -> Result<State> {
    let name = &args.name;
    let cluster_dir = dir.join(name);
    if State::file(&cluster_dir).exists() {
        bail!(
            "cluster {name} already exists ({}); delete it first with `barge cluster delete {name}{}`",
            State::file(&cluster_dir).display(),
            dir_flag(dir)
        );
    }
    let found = Found::scan(name);
    let run_dir = Path::new(RUN_ROOT).join(name);
    if !found.is_empty() || run_dir.exists() || cluster_dir.exists() {
        bail!(
            "leftovers of a cluster named {name} exist ({}); remove them with `barge cluster delete {name}{}`",
            found
                .describe()
                .into_iter()
                .chain(run_dir.exists().then(|| run_dir.display().to_string()))
                .chain(
                    cluster_dir
                        .exists()
                        .then(|| cluster_dir.display().to_string())
                )
                .collect::<Vec<_>>()
                .join(", "),
            dir_flag(dir)
        );
    }

    // Slots taken: by clusters recorded here, and by any address or route of the machine
    // (which covers clusters kept in other dirs: their bridges hold their link networks).
    let mut taken: BTreeSet<u8> = BTreeSet::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(Some(other)) = State::load(&entry.path()) {
            taken.insert(other.slot);
        }
    }
    let used = used_networks()?;
    let slot = (0..SLOTS)
        .find(|k| {
            !taken.contains(k)
                && slot_networks(*k)
                    .iter()
                    .all(|n| used.iter().all(|u| !overlaps(*n, *u)))
        })
        .with_context(|| {
            format!(
                "no free address range for another local cluster: all {SLOTS} (172.29.0-{}.0/24 with 10.64-{}.0.0/16 and 10.80-{}.0.0/16) are used by clusters or overlap this machine's addresses and routes",
                SLOTS - 1,
                64 + SLOTS - 1,
                80 + SLOTS - 1
            )
        })?;
    // The default port is checked once the cluster's address exists (see `start`).
    let https_port = args.https_port.unwrap_or(6443);
    Ok(plan(name, slot, args.nodes, dir, https_port))
}

/// The cluster's dirs and its state file.
fn write_initial(state: &State) -> Result<()> {
    fs::create_dir_all(&state.dir)
        .with_context(|| format!("cannot create {}", state.dir.display()))?;
    fs::create_dir_all(&state.run_dir)
        .with_context(|| format!("cannot create {}", state.run_dir.display()))?;
    // Where the cluster's files are, for a delete given another --dir.
    fs::write(
        state.run_dir.join("dir"),
        state.dir.as_os_str().as_encoded_bytes(),
    )
    .with_context(|| format!("cannot write {}", state.run_dir.display()))?;
    state.save()
}

fn dir_flag(dir: &Path) -> String {
    if dir == Path::new(DEFAULT_DIR) {
        String::new()
    } else {
        format!(" --dir {}", dir.display())
    }
}

/// 6443 on the cluster's address unless something holds it there (a `barge server` on
/// 0.0.0.0:6443 does), else a free port.
fn default_port(ip: Ipv4Addr) -> Result<u16> {
    if std::net::TcpListener::bind((ip, 6443)).is_ok() {
        return Ok(6443);
    }
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .with_context(|| format!("cannot find a free port on {ip}"))
}

fn overlaps(a: Cidr, b: Cidr) -> bool {
    a.covers(b) || b.covers(a)
}

/// The IPv4 networks of this machine's addresses and main routing table (not the default
/// route).
fn used_networks() -> Result<Vec<Cidr>> {
    let mut used = Vec::new();
    for line in ip(&["-4", "-o", "addr", "show"])?.lines() {
        let mut words = line.split_whitespace();
        if words.any(|w| w == "inet")
            && let Some(c) = words.next().and_then(parse_net)
        {
            used.push(c);
        }
    }
    for line in ip(&["-4", "route", "show"])?.lines() {
        let mut words = line.split_whitespace();
        let mut first = words.next().unwrap_or_default();
        if matches!(
            first,
            "blackhole" | "unreachable" | "prohibit" | "throw" | "unicast" | "local" | "broadcast"
        ) {
            first = words.next().unwrap_or_default();
        }
        if let Some(c) = parse_net(first) {
            used.push(c);
        }
    }
    Ok(used)
}

/// `a.b.c.d/len` (the network of an address with its prefix) or `a.b.c.d` (a host).
fn parse_net(text: &str) -> Option<Cidr> {
    if text == "default" {
        return None;
    }
    match Cidr::parse(text) {
        Some(c) => Some(c),
        None => text
            .parse::<Ipv4Addr>()
            .ok()
            .map(|net| Cidr { net, len: 32 }),
    }
}

/// The bridge, the workers' namespaces and veths, forwarding and the masquerade table.
fn make_network(state: &State) -> Result<()> {
    let bridge = state.bridge.as_str();
    let link = Cidr::parse(&state.link_net).context("link network")?;
    ip(&["link", "add", bridge, "type", "bridge"])?;
    ip(&[
        "addr",
        "add",
        &format!("{}/{}", state.server_ip(), link.len),
        "dev",
        bridge,
    ])?;
    ip(&["link", "set", bridge, "up"])?;
    for node in &state.nodes {
        let (Some(ns), Some(veth)) = (&node.netns, &node.veth) else {
            continue;
        };
        ip(&["netns", "add", ns])?;
        ip(&[
            "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ])?;
        ip(&["link", "set", veth, "master", bridge])?;
        ip(&["link", "set", veth, "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}/{}", node.ip, link.len),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            ns,
            "route",
            "add",
            "default",
            "via",
            &state.server_ip().to_string(),
        ])?;
        // A new namespace starts with forwarding off; the worker routes its pods' traffic.
        sh(
            "nsenter",
            &[
                &format!("--net=/run/netns/{ns}"),
                "sh",
                "-c",
                "echo 1 > /proc/sys/net/ipv4/ip_forward",
            ],
        )
        .with_context(|| format!("enabling forwarding in {ns}"))?;
    }
    fs::write("/proc/sys/net/ipv4/ip_forward", "1").context("cannot set net.ipv4.ip_forward=1")?;
    // The workers' traffic to the world outside the cluster leaves with the host's address;
    // between nodes and to pods it keeps its own.
    let table = &state.masquerade_table;
    let script = format!(
        "table ip {table} {{\n  chain postrouting {{\n    type nat hook postrouting priority 100; policy accept;\n    ip saddr {link} ip daddr != {{ {link}, {pods} }} oifname != \"{bridge}\" masquerade\n  }}\n}}\n",
        link = state.link_net,
        pods = state.cluster_cidr,
    );
    run_with_input("nft", &["-f", "-"], Some(&script))
        .with_context(|| format!("creating nftables table {table}"))?;
    Ok(())
}

/// Starts the processes and waits for the nodes (and images).
async fn start(state: &mut State, args: &CreateArgs, images: &[PathBuf]) -> Result<()> {
    let deadline = Instant::now() + args.timeout;
    for node in &state.nodes {
        let dir = node.data_dir.join("agent").join("images");
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for image in images {
            let file = image.file_name().context("image file name")?;
            fs::copy(image, dir.join(file))
                .with_context(|| format!("cannot copy {} to {}", image.display(), dir.display()))?;
        }
        fs::create_dir_all(&node.run_dir)
            .with_context(|| format!("cannot create {}", node.run_dir.display()))?;
    }

    if args.https_port.is_none() {
        state.https_port = default_port(state.server_ip())?;
    }
    let mut children: Vec<(usize, Child)> = Vec::new();
    let server = spawn_detached(&state.nodes[0], server_args(state, args), None)?;
    state.nodes[0].pid = Some(server.id());
    children.push((0, server));
    state.save()?;
    eprintln!(
        "barge: cluster {}: server {} starting (pid {}, log {})",
        state.name,
        state.nodes[0].name,
        children[0].1.id(),
        state.nodes[0].log.display()
    );

    let client = wait_api(state, &mut children, deadline).await?;
    let token = node_token(state).await?;
    for i in 1..state.nodes.len() {
        let child = spawn_detached(
            &state.nodes[i],
            agent_args(state, &state.nodes[i]),
            Some(&token),
        )?;
        state.nodes[i].pid = Some(child.id());
        children.push((i, child));
    }
    state.save()?;
    eprintln!(
        "barge: cluster {}: waiting for {} node(s) to be Ready",
        state.name,
        state.nodes.len()
    );
    wait_ready(state, &client, &mut children, deadline).await?;
    if !images.is_empty() {
        wait_images(state, images, &mut children, deadline).await?;
    }
    Ok(())
}

fn duration_arg(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn server_args(state: &State, args: &CreateArgs) -> Vec<OsString> {
    let node = &state.nodes[0];
    let ip = state.server_ip().to_string();
    let mut out: Vec<OsString> = vec!["server".into(), "--data-dir".into()];
    out.push(node.data_dir.clone().into());
    out.push("--write-kubeconfig".into());
    out.push(state.kubeconfig.clone().into());
    for (flag, value) in [
        ("--https-port", state.https_port.to_string()),
        ("--bind-address", ip.clone()),
        ("--node-ip", ip),
        ("--cluster-cidr", state.cluster_cidr.clone()),
        ("--service-cidr", state.service_cidr.clone()),
        ("--cluster-dns", state.cluster_dns.clone()),
    ] {
        out.push(flag.into());
        out.push(value.into());
    }
    out.extend(node_args(node));
    if let Some(d) = args.node_monitor_grace_period {
        out.push("--node-monitor-grace-period".into());
        out.push(duration_arg(d).into());
    }
    if let Some(s) = args.default_toleration_seconds {
        out.push("--default-toleration-seconds".into());
        out.push(s.to_string().into());
    }
    out
}

/// How a worker joins the cluster. The one place to change for token join: today the
/// server's admin kubeconfig.
fn join_args(state: &State) -> Vec<OsString> {
    // The token itself goes through the environment (BARGE_TOKEN), not the command line,
    // which every user of the machine can read.
    vec![
        "--server".into(),
        format!("https://{}:{}", state.server_ip(), state.https_port).into(),
    ]
}

/// The cluster's node token, which the server makes as it starts serving.
async fn node_token(state: &State) -> Result<String> {
    let path = state.nodes[0].data_dir.join("server").join("token");
    for _ in 0..100 {
        if let Ok(token) = fs::read_to_string(&path) {
            return Ok(token.trim().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server made no node token in {}", path.display())
}

fn agent_args(state: &State, node: &NodeState) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec!["agent".into()];
    out.extend(join_args(state));
    out.push("--data-dir".into());
    out.push(node.data_dir.clone().into());
    for (flag, value) in [
        ("--node-ip", node.ip.to_string()),
        ("--cluster-cidr", state.cluster_cidr.clone()),
        ("--cluster-dns", state.cluster_dns.clone()),
    ] {
        out.push(flag.into());
        out.push(value.into());
    }
    out.extend(node_args(node));
    out
}

/// What every node of a machine must have apart.
fn node_args(node: &NodeState) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for (flag, value) in [
        ("--node-name", node.name.as_str()),
        ("--cni-bridge", &node.cni_bridge),
        ("--nft-table", &node.nft_table),
        // Any free port: several kubelets share the machine (and the server node's the
        // root namespace with a plain `barge server`'s).
        ("--kubelet-port", "0"),
    ] {
        out.push(flag.into());
        out.push(value.into());
    }
    out.push("--run-dir".into());
    out.push(node.run_dir.clone().into());
    out
}

/// Starts `barge ARGS` for `node` in a session of its own (no controlling terminal), in the
/// node's network namespace if it has one, output appended to its log file.
fn spawn_detached(node: &NodeState, args: Vec<OsString>, token: Option<&str>) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find the barge executable")?;
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&node.log)
        .with_context(|| format!("cannot open {}", node.log.display()))?;
    // `setsid` calls setsid(2) and execs (a child of ours is never a process group leader,
    // so it does not fork): the pid is the barge process's.
    let mut cmd = Command::new("setsid");
    if let Some(ns) = &node.netns {
        // nsenter changes only the network namespace; `ip netns exec` would also remount
        // /sys and hide the cgroup hierarchies from containerd and runc.
        cmd.arg("nsenter").arg(format!("--net=/run/netns/{ns}"));
    }
    let level = std::env::var("BARGE_LOG").unwrap_or_else(|_| "info".to_owned());
    cmd.arg(exe)
        .args(args)
        .current_dir("/")
        .env("BARGE_LOG", level)
        // The join is what join_args says, not whatever the caller's environment holds.
        .env_remove("KUBECONFIG")
        .env_remove("BARGE_TOKEN");
    if let Some(token) = token {
        cmd.env("BARGE_TOKEN", token);
    }
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    cmd.spawn()
        .with_context(|| format!("cannot start the {} of node {}", node.role(), node.name))
}

/// Fails if a process of the cluster ended while it was starting.
fn check_children(state: &State, children: &mut [(usize, Child)]) -> Result<()> {
    for (i, child) in children.iter_mut() {
        let node = &state.nodes[*i];
        let status: Option<ExitStatus> = child
            .try_wait()
            .with_context(|| format!("waiting for the {} of {}", node.role(), node.name))?;
        if let Some(status) = status {
            bail!(
                "the {} of node {} exited ({status}) while the cluster was starting; the end of {}:\n{}",
                node.role(),
                node.name,
                node.log.display(),
                log_tail(&node.log, 20)
            );
        }
    }
    Ok(())
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

const POLL: Duration = Duration::from_millis(500);

/// Waits until the API server answers through the kubeconfig it wrote.
async fn wait_api(
    state: &State,
    children: &mut [(usize, Child)],
    deadline: Instant,
) -> Result<kube::Client> {
    let mut last = String::from("no kubeconfig yet");
    loop {
        check_children(state, children)?;
        if state.kubeconfig.exists() {
            match barge_client::connect(&state.kubeconfig).await {
                Ok(client) => match node_readiness(&client).await {
                    Ok(_) => return Ok(client),
                    Err(e) => last = format!("{e:#}"),
                },
                Err(e) => last = format!("{e:#}"),
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out waiting for the API server ({last}); the end of {}:\n{}",
                state.nodes[0].log.display(),
                log_tail(&state.nodes[0].log, 20)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Each registered node's Ready condition status (`True`, `False`, `Unknown`, or empty).
async fn node_readiness(client: &kube::Client) -> Result<BTreeMap<String, String>> {
    let resource = ApiResource {
        group: String::new(),
        version: "v1".to_owned(),
        api_version: "v1".to_owned(),
        kind: "Node".to_owned(),
        plural: "nodes".to_owned(),
    };
    let api: kube::Api<DynamicObject> = kube::Api::all_with(client.clone(), &resource);
    let list = api
        .list(&Default::default())
        .await
        .context("listing nodes")?;
    Ok(list
        .items
        .into_iter()
        .map(|n| {
            let ready = n.data["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready")
                .and_then(|c| c["status"].as_str())
                .unwrap_or_default()
                .to_owned();
            (n.metadata.name.unwrap_or_default(), ready)
        })
        .collect())
}

async fn wait_ready(
    state: &State,
    client: &kube::Client,
    children: &mut [(usize, Child)],
    deadline: Instant,
) -> Result<()> {
    loop {
        check_children(state, children)?;
        let readiness = node_readiness(client).await.unwrap_or_default();
        let waiting: Vec<&NodeState> = state
            .nodes
            .iter()
            .filter(|n| readiness.get(&n.name).map(String::as_str) != Some("True"))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let mut msg = String::from("timed out waiting for the nodes to be Ready:");
            for n in &waiting {
                let status = match readiness.get(&n.name) {
                    None => "not registered".to_owned(),
                    Some(s) => format!("Ready={s}"),
                };
                msg.push_str(&format!(
                    "\n{} ({status}); the end of {}:\n{}",
                    n.name,
                    n.log.display(),
                    log_tail(&n.log, 15)
                ));
            }
            bail!(msg);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until every node's containerd has the images of every archive (the agents import
/// them from their images directories).
async fn wait_images(
    state: &State,
    archives: &[PathBuf],
    children: &mut [(usize, Child)],
    deadline: Instant,
) -> Result<()> {
    let mut wanted: Vec<(String, &Path)> = Vec::new();
    for archive in archives {
        let names = archive_image_names(archive).unwrap_or_default();
        if names.is_empty() {
            eprintln!(
                "barge: {}: no image names found in it; not waiting for its import",
                archive.display()
            );
        }
        wanted.extend(names.into_iter().map(|n| (n, archive.as_path())));
    }
    for node in &state.nodes {
        loop {
            check_children(state, children)?;
            let tags = node_images(node).await.unwrap_or_default();
            let missing: Vec<&(String, &Path)> = wanted
                .iter()
                .filter(|(name, _)| !has_image(&tags, name))
                .collect();
            if missing.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                let (name, file) = missing[0];
                bail!(
                    "timed out waiting for node {} to import {name} from {}; the end of {}:\n{}",
                    node.name,
                    file.display(),
                    node.log.display(),
                    log_tail(&node.log, 15)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
    Ok(())
}

async fn node_images(node: &NodeState) -> Result<Vec<String>> {
    let channel = barge_kubelet::containerd::channel(&node.socket()).await?;
    let images = barge_kubelet::image::list(channel).await?;
    Ok(images.into_iter().flat_map(|i| i.repo_tags).collect())
}

/// Whether CRI's tags include `name` (`busybox:1` is `docker.io/library/busybox:1`).
fn has_image(tags: &[String], name: &str) -> bool {
    tags.iter()
        .any(|t| t == name || t.ends_with(&format!("/{name}")))
}

/// The image archives `path` names: the file itself, or those in the directory.
fn image_archives(path: &Path) -> Result<Vec<PathBuf>> {
    use barge_kubelet::image::import::is_image_archive;
    let meta = fs::metadata(path).with_context(|| format!("--images {}", path.display()))?;
    let path = std::path::absolute(path)?;
    if meta.is_file() {
        if !is_image_archive(&path) {
            bail!(
                "--images {}: not an image archive (.tar, .tar.gz, .tgz)",
                path.display()
            );
        }
        return Ok(vec![path]);
    }
    let mut out: Vec<PathBuf> = fs::read_dir(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && is_image_archive(p))
        .collect();
    out.sort();
    if out.is_empty() {
        bail!(
            "--images {}: no image archives (.tar, .tar.gz, .tgz) in it",
            path.display()
        );
    }
    Ok(out)
}

/// The image names an archive declares: an OCI layout's `index.json` annotations, a
/// docker-archive's `manifest.json` RepoTags.
fn archive_image_names(path: &Path) -> Result<Vec<String>> {
    let name = path.to_string_lossy().to_lowercase();
    if name.ends_with(".gz") || name.ends_with(".tgz") {
        let mut gzip = Command::new("gzip")
            .arg("-dc")
            .arg(path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot run gzip")?;
        let mut out = gzip.stdout.take().context("gzip has no output")?;
        let names = tar_image_names(&mut out);
        drop(out);
        let _ = gzip.kill();
        let _ = gzip.wait();
        names
    } else {
        let mut file = std::io::BufReader::new(
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        );
        tar_image_names(&mut file)
    }
}

fn tar_image_names(r: &mut dyn Read) -> Result<Vec<String>> {
    fn text(field: &[u8]) -> String {
        let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
        String::from_utf8_lossy(&field[..end]).into_owned()
    }
    fn size(field: &[u8]) -> Result<u64> {
        if field[0] & 0x80 != 0 {
            // Base-256, for sizes beyond the octal field.
            return Ok(field[1..]
                .iter()
                .fold(0u64, |n, b| (n << 8) | u64::from(*b)));
        }
        let t = text(field);
        let t = t.trim_matches(|c: char| c == ' ' || c == '\0');
        if t.is_empty() {
            return Ok(0);
        }
        u64::from_str_radix(t, 8).with_context(|| format!("invalid tar size {t:?}"))
    }
    let mut names = Vec::new();
    let mut header = [0u8; 512];
    let mut long_name: Option<String> = None;
    loop {
        match r.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e).context("reading the archive"),
        }
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let len = size(&header[124..136])?;
        let padded = len.div_ceil(512) * 512;
        let mut path = text(&header[..100]);
        if &header[257..262] == b"ustar" {
            let prefix = text(&header[345..500]);
            if !prefix.is_empty() {
                path = format!("{prefix}/{path}");
            }
        }
        if let Some(p) = long_name.take() {
            path = p;
        }
        let path = path.trim_start_matches("./").to_owned();
        let kind = header[156];
        let wanted = kind == b'x' || path == "index.json" || path == "manifest.json";
        if !wanted || len > 16 << 20 {
            let skipped = std::io::copy(&mut (&mut *r).take(padded), &mut std::io::sink())?;
            if skipped != padded {
                bail!("truncated archive");
            }
            continue;
        }
        let mut data = vec![0u8; usize::try_from(padded)?];
        r.read_exact(&mut data).context("reading the archive")?;
        data.truncate(usize::try_from(len)?);
        if kind == b'x' {
            // PAX records, `<len> key=value\n`: only a long path matters here.
            long_name = String::from_utf8_lossy(&data).lines().find_map(|l| {
                l.split_once(' ')
                    .and_then(|(_, kv)| kv.strip_prefix("path="))
                    .map(str::to_owned)
            });
            continue;
        }
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&data) else {
            continue;
        };
        if path == "index.json" {
            for m in json["manifests"].as_array().into_iter().flatten() {
                let a = &m["annotations"];
                let name = a["io.containerd.image.name"]
                    .as_str()
                    .or_else(|| {
                        a["org.opencontainers.image.ref.name"]
                            .as_str()
                            .filter(|n| n.contains(':') || n.contains('/'))
                    })
                    .map(str::to_owned);
                names.extend(name);
            }
        } else {
            for m in json.as_array().into_iter().flatten() {
                for t in m["RepoTags"].as_array().into_iter().flatten() {
                    names.extend(t.as_str().map(str::to_owned));
                }
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

// ---------------------------------------------------------------------------------------------
// Finding what a cluster left: by name, so that it works without the state.

/// Network objects of a cluster found on the machine.
#[derive(Debug, Default)]
struct Found {
    namespaces: Vec<String>,
    links: Vec<String>,
    /// `(family, name)`, in the root namespace.
    tables: Vec<(String, String)>,
}

impl Found {
    fn scan(name: &str) -> Self {
        let ns_prefix = format!("bc-{name}-");
        let namespaces = sh("ip", &["netns", "list"])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| is_numbered(n, &ns_prefix))
            .map(str::to_owned)
            .collect();
        let tag = tag(name);
        let bridge = bridge_name(name);
        let (veth, pod_bridge) = (format!("bc{tag}_"), format!("bp{tag}_"));
        let links = sh("ip", &["-o", "link", "show"])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or_default().to_owned())
            .filter(|n| *n == bridge || is_numbered(n, &veth) || is_numbered(n, &pod_bridge))
            .collect();
        let table_prefix = format!("barge-{name}-");
        let masq = masquerade_table(name);
        let tables = sh("nft", &["list", "tables"])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                match (w.next(), w.next(), w.next()) {
                    (Some("table"), Some(family), Some(table)) => {
                        Some((family.to_owned(), table.to_owned()))
                    }
                    _ => None,
                }
            })
            .filter(|(_, t)| *t == masq || is_numbered(t, &table_prefix))
            .collect();
        Self {
            namespaces,
            links,
            tables,
        }
    }

    fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.links.is_empty() && self.tables.is_empty()
    }

    fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(
            self.namespaces
                .iter()
                .map(|n| format!("network namespace {n}")),
        );
        out.extend(self.links.iter().map(|l| format!("link {l}")));
        out.extend(self.tables.iter().map(|(f, t)| format!("table {f} {t}")));
        out
    }
}

/// `<prefix><digits>`.
fn is_numbered(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// Pod cgroup directories of the cluster's nodes in every hierarchy
/// (`/sys/fs/cgroup/<h>/barge/NAME-<i>`).
fn node_cgroups(name: &str) -> Vec<PathBuf> {
    let prefix = format!("{name}-");
    let mut out = Vec::new();
    for h in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let barge = h.path().join("barge");
        for e in fs::read_dir(&barge).into_iter().flatten().flatten() {
            if e.file_name()
                .to_str()
                .is_some_and(|n| is_numbered(n, &prefix))
            {
                out.push(e.path());
            }
        }
    }
    out
}

/// The processes in the cgroup trees under `dirs`.
fn cgroup_pids(dirs: &[PathBuf]) -> BTreeSet<u32> {
    let mut pids = BTreeSet::new();
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = stack.pop() {
        if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(
                procs
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    pids
}

/// The programs a node runs by itself (the pods' processes are found by their cgroups).
/// `own` is this executable's file name (`barge`, unless renamed).
fn is_node_program(argv0: &str, own: &str) -> bool {
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    base == "barge"
        || base == own
        || base.starts_with("containerd")
        || matches!(base, "runc" | "ctr" | "nsenter" | "setsid")
}

/// Live (not zombie) processes of node programs whose command line names a path under one
/// of `roots`, and the processes whose pids the containerd pid files under them hold.
fn processes_under(roots: &[PathBuf]) -> BTreeSet<u32> {
    let me = std::process::id();
    let own = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "barge".to_owned());
    let roots: Vec<String> = roots
        .iter()
        .map(|r| r.to_string_lossy().trim_end_matches('/').to_owned())
        .collect();
    let mut pids = BTreeSet::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !args.first().is_some_and(|a| is_node_program(a, &own)) {
            continue;
        }
        let names_root = args.iter().any(|a| {
            roots
                .iter()
                .any(|r| a == r || a.contains(&format!("{r}/")) || a.ends_with(&format!("={r}")))
        });
        if names_root {
            pids.insert(pid);
        }
    }
    pids.retain(|p| !is_zombie(*p));
    pids
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// SIGKILL to whatever `find` finds, until it finds nothing; returns how many died.
fn kill_until_gone(what: &str, find: impl Fn() -> BTreeSet<u32>) -> Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut killed = BTreeSet::new();
    loop {
        let mut pids = find();
        pids.retain(|p| !is_zombie(*p));
        if pids.is_empty() {
            return Ok(killed.len());
        }
        if Instant::now() >= deadline {
            bail!(
                "{what}: processes still running after SIGKILL: {}",
                pids.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        // Some may be gone by now, which makes kill fail: the next round looks again.
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&list)
            .stderr(Stdio::null())
            .status()
            .context("cannot run kill")?;
        killed.extend(pids);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Mount points at or under one of `roots`, deepest first.
fn mounts_under(roots: &[PathBuf]) -> Vec<String> {
    let table = MountTable::read().unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for root in roots {
        let below = table.below(root).into_iter();
        let at = table.fs_type(root).map(|_| root.clone());
        out.extend(below.chain(at).map(|m| m.to_string_lossy().into_owned()));
    }
    out.sort_by_key(|m| std::cmp::Reverse(m.len()));
    out.dedup();
    out
}

/// Removes `dir` and the directories below it, deepest first (cgroup directories hold only
/// the kernel's files, which go with them).
fn remove_cgroup_tree(dir: &Path) -> std::io::Result<()> {
    for e in fs::read_dir(dir)?.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&e.path())?;
        }
    }
    fs::remove_dir(dir)
}

// ---------------------------------------------------------------------------------------------
// teardown (delete, and a failed create)

/// Removes everything of cluster `name` whose files are in `dirs` (its cluster dirs);
/// returns what it removed, or an error listing what it could not.
fn teardown(name: &str, dirs: &[PathBuf]) -> Result<Vec<String>> {
    let run_dir = Path::new(RUN_ROOT).join(name);
    let mut roots: Vec<PathBuf> = dirs.to_vec();
    if let Ok(recorded) = fs::read_to_string(run_dir.join("dir")) {
        let recorded = PathBuf::from(recorded.trim());
        if !recorded.as_os_str().is_empty() && !roots.contains(&recorded) {
            roots.push(recorded);
        }
    }
    roots.push(run_dir.clone());
    let state = roots.iter().find_map(|d| State::load(d).ok().flatten());
    let mut done = Vec::new();
    let mut failed: Vec<String> = Vec::new();

    // 1. Processes: the nodes' programs (by their paths, and containerd by its pid files)
    //    and the containers (by their cgroups).
    let cgroups = node_cgroups(name);
    let find = || {
        let mut pids = processes_under(&roots);
        pids.extend(cgroup_pids(&node_cgroups(name)));
        pids.extend(containerd_pids(&run_dir));
        pids
    };
    match kill_until_gone(&format!("cluster {name}"), find) {
        Ok(0) => {}
        Ok(n) => done.push(format!("{n} process(es) killed")),
        Err(e) => failed.push(format!("{e:#}")),
    }

    // 2. Mounts under its dirs (container root filesystems, pod network namespaces, volumes).
    let mounts = mounts_under(&roots);
    let mut unmounted = 0;
    for m in &mounts {
        // A lazy unmount when the mount is busy (or already hidden by its parent's).
        match sh("umount", &[m]).or_else(|_| sh("umount", &["-l", m])) {
            Ok(_) => unmounted += 1,
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    if unmounted > 0 {
        done.push(format!("{unmounted} mount(s) unmounted"));
    }

    // 3. The pods' cgroups.
    let mut removed_cgroups = 0;
    for dir in cgroups.iter().chain(node_cgroups(name).iter()) {
        if !dir.exists() {
            continue;
        }
        match remove_cgroup_tree(dir) {
            Ok(()) => removed_cgroups += 1,
            Err(e) => failed.push(format!("cannot remove cgroup {}: {e}", dir.display())),
        }
        if let Some(parent) = dir.parent() {
            // Only when empty: other nodes of the machine share it.
            let _ = fs::remove_dir(parent);
        }
    }
    if removed_cgroups > 0 {
        done.push(format!("{removed_cgroups} cgroup tree(s) removed"));
    }

    // 4. The network: routes into its pod network, namespaces (their links, tables and
    //    routes go with them), links and tables in the root namespace.
    if let Some(cidr) = state.as_ref().and_then(|s| Cidr::parse(&s.cluster_cidr)) {
        for line in ip(&["-4", "route", "show"]).unwrap_or_default().lines() {
            let dst = line.split_whitespace().next().unwrap_or_default();
            if parse_net(dst).is_some_and(|d| cidr.covers(d)) {
                match ip(&["route", "del", dst]) {
                    Ok(_) => done.push(format!("route {dst} removed")),
                    Err(e) => failed.push(format!("{e:#}")),
                }
            }
        }
    }
    let found = Found::scan(name);
    for ns in &found.namespaces {
        match ip(&["netns", "del", ns]) {
            Ok(_) => done.push(format!("network namespace {ns} removed")),
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    // The veths go with the namespaces, but asynchronously (the kernel cleans namespaces up
    // in the background): give them a moment, then remove what is left.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut links = Found::scan(name).links;
    while !found.namespaces.is_empty()
        && Instant::now() < deadline
        && links
            .iter()
            .any(|l| *l != bridge_name(name) && l.starts_with("bc"))
    {
        std::thread::sleep(Duration::from_millis(100));
        links = Found::scan(name).links;
    }
    for link in links {
        match ip(&["link", "del", &link]) {
            Ok(_) => done.push(format!("link {link} removed")),
            Err(e) if format!("{e:#}").contains("Cannot find device") => {}
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    for (family, table) in &found.tables {
        match sh("nft", &["delete", "table", family, table]) {
            Ok(_) => done.push(format!("nftables table {family} {table} removed")),
            Err(e) => failed.push(format!("{e:#}")),
        }
    }

    // 5. Files: what the killed shims and containers' CNI calls left in shared places (found
    //    through the dirs about to go), then the dirs.
    let shared: Vec<PathBuf> = shim_sockets(&run_dir)
        .into_iter()
        .chain(cni_cache_files(&roots))
        .collect();
    let mut removed_shared = 0;
    for file in &shared {
        match fs::remove_file(file) {
            Ok(()) => removed_shared += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => failed.push(format!("cannot remove {}: {e}", file.display())),
        }
    }
    if removed_shared > 0 {
        done.push(format!(
            "{removed_shared} shim socket(s) and CNI cache file(s) removed"
        ));
    }
    for dir in dirs.iter().chain(std::iter::once(&run_dir)) {
        if dir.exists() {
            match fs::remove_dir_all(dir) {
                Ok(()) => done.push(format!("{} removed", dir.display())),
                Err(e) => failed.push(format!("cannot remove {}: {e}", dir.display())),
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "cluster {name}: some things could not be removed:\n  {}",
            failed.join("\n  ")
        );
    }
    Ok(done)
}

/// The sockets of the shims of the tasks in the nodes' run dirs (`<run>/<i>`): containerd 1.6
/// names them `/run/containerd/s/<sha256 of "<containerd socket>/<namespace>/<task id>">`, and a
/// killed shim leaves its own behind.
fn shim_sockets(run_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for node in fs::read_dir(run_dir).into_iter().flatten().flatten() {
        let containerd = node.path().join("containerd");
        let socket = containerd.join("containerd.sock");
        let tasks = containerd.join("io.containerd.runtime.v2.task");
        for ns in fs::read_dir(&tasks).into_iter().flatten().flatten() {
            for task in fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                let key = socket.join(ns.file_name()).join(task.file_name());
                let digest =
                    ring::digest::digest(&ring::digest::SHA256, key.as_os_str().as_encoded_bytes());
                let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                let path = Path::new("/run/containerd/s").join(hex);
                if path.exists() {
                    out.push(path);
                }
            }
        }
    }
    out
}

/// libcni's cached results (`/var/lib/cni/results`, shared by every containerd) of pods of
/// the cluster: their network config names an IPAM dir under one of `roots`.
fn cni_cache_files(roots: &[PathBuf]) -> Vec<PathBuf> {
    let roots: Vec<String> = roots
        .iter()
        .map(|r| format!("{}/", r.to_string_lossy().trim_end_matches('/')))
        .collect();
    let mut out = Vec::new();
    for e in fs::read_dir("/var/lib/cni/results")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(text) = fs::read(e.path()) else {
            continue;
        };
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&text) else {
            continue;
        };
        // libcni's `config` field: the network config, standard base64.
        let config = json["config"]
            .as_str()
            .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok());
        let config = config.map(|c| String::from_utf8_lossy(&c).into_owned());
        if config.is_some_and(|c| roots.iter().any(|r| c.contains(r.as_str()))) {
            out.push(e.path());
        }
    }
    out
}

/// containerd processes by the pid files in the cluster's run dirs (for a containerd whose
/// command line names a data dir we were not told about).
fn containerd_pids(run_dir: &Path) -> BTreeSet<u32> {
    let mut pids = BTreeSet::new();
    for e in fs::read_dir(run_dir).into_iter().flatten().flatten() {
        let file = e.path().join("containerd").join("containerd.pid");
        let Some(pid) = fs::read_to_string(&file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            continue;
        };
        if process_args(pid).first().is_some_and(|a| {
            a.rsplit('/')
                .next()
                .is_some_and(|b| b.starts_with("containerd"))
        }) {
            pids.insert(pid);
        }
    }
    pids
}

fn process_args(pid: u32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            c.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn delete(args: &DeleteArgs) -> Result<()> {
    check_name(&args.name)?;
    require_root("delete")?;
    require_tools(&["ip", "nft", "kill", "umount"])?;
    let dir = std::path::absolute(&args.dir.dir)?;
    let _lock = lock()?;
    let done = teardown(&args.name, &[dir.join(&args.name)])?;
    if done.is_empty() {
        println!("cluster {}: nothing left to delete", args.name);
    } else {
        for d in &done {
            eprintln!("barge: {d}");
        }
        println!("cluster {} deleted", args.name);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// stop-node, list

fn stop_node(args: &StopNodeArgs) -> Result<()> {
    check_name(&args.name)?;
    require_root("stop-node")?;
    let dir = std::path::absolute(&args.dir.dir)?.join(&args.name);
    let mut state = State::load(&dir)?.with_context(|| {
        format!(
            "no cluster {} in {} (see `barge cluster list`)",
            args.name,
            args.dir.dir.display()
        )
    })?;
    let node = state.node(&args.node)?.clone();
    if node.is_server() {
        bail!(
            "node {} runs the control plane (`barge server`): stopping it would stop the whole cluster; stop a worker ({}) or delete the cluster with `barge cluster delete {}`",
            node.name,
            state
                .nodes
                .iter()
                .skip(1)
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            state.name
        );
    }
    let roots = [node.data_dir.clone(), node.run_dir.clone()];
    let cgroups: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join("barge").join(&node.name))
        .collect();
    // The agent first (it would restart containerd), then everything else of the node.
    let agent: BTreeSet<u32> = node
        .pid
        .filter(|p| {
            process_args(*p)
                .iter()
                .any(|a| a == &node.data_dir.to_string_lossy())
        })
        .into_iter()
        .collect();
    let mut killed = kill_until_gone(&format!("the agent of {}", node.name), || {
        agent.iter().copied().filter(|p| !is_zombie(*p)).collect()
    })?;
    killed += kill_until_gone(&format!("node {}", node.name), || {
        let mut pids = processes_under(&roots);
        pids.extend(cgroup_pids(&cgroups));
        pids.extend(containerd_pids(&state.run_dir).into_iter().filter(|p| {
            process_args(*p)
                .iter()
                .any(|a| a.contains(&format!("{}/", node.data_dir.display())))
        }));
        pids
    })?;
    if let Some(n) = state.nodes.iter_mut().find(|n| n.index == node.index) {
        n.stopped = true;
    }
    state.save()?;
    if killed == 0 {
        println!("node {} has no processes left (already stopped)", node.name);
    } else {
        println!(
            "node {} stopped ({killed} process(es) killed); its network namespace {} and address {} stay, as a dead machine's would",
            node.name,
            node.netns.as_deref().unwrap_or("-"),
            node.ip
        );
    }
    Ok(())
}

fn list(args: &DirArgs) -> Result<()> {
    let mut states: Vec<State> = Vec::new();
    for e in fs::read_dir(&args.dir).into_iter().flatten().flatten() {
        if let Ok(Some(s)) = State::load(&e.path()) {
            states.push(s);
        }
    }
    states.sort_by(|a, b| a.name.cmp(&b.name));
    if states.is_empty() {
        println!("no clusters in {}", args.dir.display());
        return Ok(());
    }
    println!(
        "{:<20} {:>5} {:>7} {:<16} {:<26} KUBECONFIG",
        "NAME", "NODES", "RUNNING", "LINK", "API SERVER"
    );
    for s in &states {
        let api = format!("https://{}:{}", s.server_ip(), s.https_port);
        let running = s
            .nodes
            .iter()
            .filter(|n| {
                n.pid.is_some_and(|p| {
                    !is_zombie(p)
                        && process_args(p)
                            .iter()
                            .any(|a| a == &n.data_dir.to_string_lossy())
                })
            })
            .count();
        println!(
            "{:<20} {:>5} {:>7} {:<16} {:<26} {}",
            s.name,
            s.nodes.len(),
            running,
            s.link_net,
            api,
            s.kubeconfig.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "a",
            "dev",
            "my-cluster-2",
            "x123456789012345678901234567890y",
        ] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Dev",
            "2nd",
            "a_b",
            "a.b",
            "trailing-",
            "x1234567890123456789012345678901y",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(tag("short"), "short");
        assert_eq!(tag("ninechars"), "ninechars");
        let long = tag("a-much-longer-name");
        assert_eq!(long.len(), 9);
        assert!(long.starts_with("a-mu"));
        assert_ne!(long, tag("a-much-longer-name-2"));
    }

    #[test]
    fn plan_gives_every_node_its_own_names_within_limits() {
        let s = plan(
            "x234567890123456789012345678901z",
            15,
            64,
            Path::new("/var/lib/barge/clusters"),
            6443,
        );
        assert_eq!(s.link_net, "172.29.15.0/24");
        assert_eq!(s.cluster_cidr, "10.79.0.0/16");
        assert_eq!(s.service_cidr, "10.95.0.0/16");
        assert_eq!(s.cluster_dns, "10.95.0.10");
        assert!(s.bridge.len() <= 15);
        let mut seen = BTreeSet::new();
        for n in &s.nodes {
            assert!(n.cni_bridge.len() <= 15, "{}", n.cni_bridge);
            assert!(n.veth.as_ref().is_none_or(|v| v.len() <= 15));
            assert!(seen.insert(n.cni_bridge.clone()));
            assert!(seen.insert(n.nft_table.clone()));
            assert!(seen.insert(n.run_dir.display().to_string()));
            // containerd's socket path must fit a sockaddr_un.
            assert!(n.socket().as_os_str().len() < 108);
        }
        assert_eq!(s.nodes[0].netns, None);
        assert_eq!(
            s.nodes[1].netns.as_deref(),
            Some("bc-x234567890123456789012345678901z-2")
        );
        assert_eq!(s.nodes[63].ip, Ipv4Addr::new(172, 29, 15, 64));
    }

    #[test]
    fn slots_stay_clear_of_a_plain_server_and_each_other() {
        let defaults = [
            Cidr::parse("10.42.0.0/16").unwrap(),
            Cidr::parse("10.96.0.0/12").unwrap(),
        ];
        for k in 0..SLOTS {
            for n in slot_networks(k) {
                assert!(defaults.iter().all(|d| !overlaps(n, *d)), "slot {k}");
                for j in (0..SLOTS).filter(|j| *j != k) {
                    assert!(slot_networks(j).iter().all(|m| !overlaps(n, *m)));
                }
            }
        }
    }

    #[test]
    fn numbered_names() {
        assert!(is_numbered("bc-x-2", "bc-x-"));
        assert!(is_numbered("barge-x-12", "barge-x-"));
        assert!(!is_numbered("bc-x-", "bc-x-"));
        assert!(!is_numbered("bc-x-y-2", "bc-x-"));
        assert!(!is_numbered("barge-x-y", "barge-x-"));
    }

    #[test]
    fn state_round_trips() {
        let s = plan("dev", 3, 2, Path::new("/tmp/c"), 6443);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&text).unwrap(), s);
        assert_eq!(s.node("2").unwrap().name, "dev-2");
        assert_eq!(s.node("dev-1").unwrap().index, 1);
        assert!(s.node("dev-3").is_err());
    }

    #[test]
    fn image_names_from_archives() {
        let oci = barge_kubelet::image::busybox_image(
            "docker.io/library/busybox:t1",
            Path::new(barge_kubelet::image::BUSYBOX_PATH),
        );
        if let Ok(archive) = oci {
            let names = tar_image_names(&mut archive.as_slice()).unwrap();
            assert_eq!(names, ["docker.io/library/busybox:t1"]);
        }
        let mut tar = barge_kubelet::image::tar::TarWriter::new();
        tar.file(
            "manifest.json",
            0o644,
            br#"[{"Config":"c.json","RepoTags":["busybox:1.35"],"Layers":[]}]"#,
        )
        .unwrap();
        let bytes = tar.finish();
        assert_eq!(
            tar_image_names(&mut bytes.as_slice()).unwrap(),
            ["busybox:1.35"]
        );
        assert!(has_image(
            &["docker.io/library/busybox:1.35".to_owned()],
            "busybox:1.35"
        ));
        assert!(!has_image(
            &["docker.io/library/busybox:1.36".to_owned()],
            "busybox:1.35"
        ));
    }

    #[test]
    fn route_and_address_networks() {
        assert_eq!(parse_net("default"), None);
        assert_eq!(parse_net("10.1.2.0/24"), Cidr::parse("10.1.2.0/24"));
        assert_eq!(parse_net("1.2.3.4"), Cidr::parse("1.2.3.4/32"));
    }
}
