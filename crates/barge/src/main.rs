//! `barge`: Kubernetes in one small binary. This crate is wiring only: it parses the command
//! line and hands each subcommand to the crate that implements it (see ARCHITECTURE.md).

mod agent;
mod cluster;
mod controlplane;
mod node;
mod server;

/// mimalloc returns memory to the system and keeps per-thread caches small, where glibc's
/// malloc grows one arena per thread and keeps what a burst (a 100,000-object list) took.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "barge", version, about = "Kubernetes in one small binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole cluster on this machine: store, API server, scheduler, controller manager
    /// and the node agent (kubelet + containerd).
    Server(server::ServerArgs),
    /// Run a node: containerd and the kubelet, joined to a cluster.
    Agent(agent::AgentCommand),
    /// The images of this node's containerd: import tarballs, list.
    #[command(subcommand)]
    Image(agent::ImageCommand),
    /// Run only the scheduler, against a cluster (several may run: one leads at a time).
    Scheduler(StandaloneArgs),
    /// Run only the controller manager, against a cluster (several may run: one leads).
    ControllerManager(ControllerManagerArgs),
    /// Print the version of Barge and of the Kubernetes API it serves.
    Version,
    /// Simulated nodes: N kubelets in one process that register Nodes, renew their Leases and
    /// report the pods bound to them Running without running anything (for tests and scale).
    Hollow(HollowArgs),
    /// Measure a part of Barge against its reference, side by side.
    #[command(subcommand)]
    Bench(Bench),
    /// Local multi-node clusters: `barge server` and worker agents on this machine, each
    /// worker in a network namespace of its own (create, stop-node, delete, list).
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// kubectl's everyday commands (`barge kubectl get pods`); the same as this binary run
    /// through a symlink named `kubectl`.
    Kubectl {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Debug, Args)]
struct StandaloneArgs {
    /// The cluster to work for.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
}

#[derive(Debug, Args)]
struct ControllerManagerArgs {
    #[command(flatten)]
    cluster: StandaloneArgs,
    #[command(flatten)]
    controllers: server::ControllerArgs,
}

#[derive(Debug, Args)]
struct HollowArgs {
    /// The cluster to join.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// How many nodes.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Node names are this prefix and a number.
    #[arg(long, default_value = "hollow-")]
    name_prefix: String,
    /// How long after binding a pod is reported Running.
    #[arg(long, default_value = "0s", value_parser = server::duration)]
    pod_start_delay: std::time::Duration,
    /// Stop reporting anything after this long (the nodes die; the process stays).
    #[arg(long, value_parser = server::duration)]
    fail_after: Option<std::time::Duration>,
    /// The CPU each node offers.
    #[arg(long, default_value = "4")]
    cpu: String,
    /// The memory each node offers.
    #[arg(long, default_value = "16Gi")]
    memory: String,
    /// How long the pods of Jobs run before they succeed.
    #[arg(long, default_value = "1s", value_parser = server::duration)]
    job_duration: std::time::Duration,
    /// How often each node renews its Lease.
    #[arg(long, default_value = "10s", value_parser = server::duration)]
    lease_renew_interval: std::time::Duration,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// The SQLite store against a real etcd (started for the run; needs etcd-server).
    Store(StoreBench),
    /// The API server over HTTPS: pod creates and gets, lists, watch fan-out, memory (starts
    /// a server for the run unless --kubeconfig is given).
    Api(ApiBench),
    /// The scheduler end to end: hollow nodes, batches of pods created through the API server,
    /// pods bound per second and the time each took (starts a server for the run unless
    /// --kubeconfig is given).
    Scheduler(SchedulerBench),
    /// Pod startup on one real node (root only): `barge server` with its agent and containerd,
    /// pods created at fixed rates, creation→Running latency, CPU and memory.
    Pods(PodsBench),
    /// The service proxy and cluster DNS at scale (root only): Services and endpoints, the
    /// time to program a change and the table's size, DNS lookups from a pod network namespace.
    Network(NetworkBench),
}

#[derive(Debug, Args)]
struct NetworkBench {
    /// Where the server keeps its data during the run (a temporary directory is made inside).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// ClusterIP Services, one EndpointSlice each.
    #[arg(long, default_value_t = 1_000)]
    services: usize,
    /// Ready endpoints per Service.
    #[arg(long, default_value_t = 10)]
    endpoints_per_service: usize,
    /// Endpoint changes timed one after the other (API write → rules in the kernel).
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// How long the DNS load runs, in seconds.
    #[arg(long, default_value_t = 5)]
    dns_seconds: u64,
    /// Concurrent DNS clients in the pod.
    #[arg(long, default_value_t = 8)]
    dns_clients: usize,
}

#[derive(Debug, Args)]
struct PodsBench {
    /// Where the node keeps its data during the run (a temporary directory is made inside).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Pods created at each rate.
    #[arg(long, default_value_t = 100)]
    pods: usize,
    /// Creation rates in pods per second, one round each (pods deleted between rounds).
    #[arg(long, value_delimiter = ',', default_values_t = [10.0, 50.0])]
    rates: Vec<f64>,
}

#[derive(Debug, Args)]
struct SchedulerBench {
    /// Benchmark the already-running server of this kubeconfig instead of starting one.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// With --kubeconfig: the server's process id, to report its memory.
    #[arg(long, requires = "kubeconfig")]
    pid: Option<u32>,
    /// Where a server started for the run keeps its data.
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Hollow nodes (one `barge hollow` process started for the run).
    #[arg(long, default_value_t = 5_000)]
    nodes: usize,
    /// Batches of pods, created and scheduled one after the other (they add up).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000, 50_000])]
    pods: Vec<usize>,
    /// Concurrent clients creating the pods, one connection each.
    #[arg(long, default_value_t = 32)]
    clients: usize,
}

#[derive(Debug, Args)]
struct ApiBench {
    /// Benchmark the already-running server of this kubeconfig instead of starting one.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// With --kubeconfig: the server's process id, to report its memory.
    #[arg(long, requires = "kubeconfig")]
    pid: Option<u32>,
    /// Where a server started for the run keeps its data.
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Concurrent clients, one connection each.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Pod creates from one client.
    #[arg(long, default_value_t = 1_000)]
    sequential_creates: usize,
    /// Pod creates spread over the clients.
    #[arg(long, default_value_t = 8_000)]
    creates: usize,
    /// Pod gets from one client.
    #[arg(long, default_value_t = 2_000)]
    sequential_gets: usize,
    /// Pod gets spread over the clients.
    #[arg(long, default_value_t = 50_000)]
    gets: usize,
    /// Namespace sizes at which full lists are timed.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000, 100_000])]
    pods: Vec<usize>,
    /// Full lists timed at each size.
    #[arg(long, default_value_t = 5)]
    list_repetitions: usize,
    /// Watchers in the fan-out run.
    #[arg(long, default_value_t = 1_000)]
    watchers: usize,
    /// Pods created while the watchers watch.
    #[arg(long, default_value_t = 200)]
    watch_events: usize,
}

#[derive(Debug, Args)]
struct StoreBench {
    /// Where both stores keep their data during the run.
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Sequential creates.
    #[arg(long, default_value_t = 2000)]
    sequential: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Watchers in the fan-out run.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
}

fn main() -> Result<()> {
    // kubectl parses its own flags (`-n` anywhere): hand it the arguments as they are.
    let mut args = std::env::args_os();
    let program = args.next().map(PathBuf::from).unwrap_or_default();
    if program.file_stem().is_some_and(|n| n == "kubectl") {
        std::process::exit(barge_kubectl::main(args));
    }
    let mut rest = args.peekable();
    if rest.peek().is_some_and(|a| a == "kubectl") {
        rest.next();
        std::process::exit(barge_kubectl::main(rest));
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BARGE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Kubectl { args } => std::process::exit(barge_kubectl::main(args)),
        Command::Server(args) => runtime()?.block_on(server::run(args)),
        Command::Agent(args) => runtime()?.block_on(agent::run(args)),
        Command::Image(cmd) => runtime()?.block_on(agent::image(cmd)),
        Command::Cluster(cmd) => runtime()?.block_on(cluster::run(cmd)),
        Command::Scheduler(args) => runtime()?.block_on(standalone(
            &args.kubeconfig,
            true,
            barge_controllers::Settings::default(),
        )),
        Command::ControllerManager(args) => runtime()?.block_on(standalone(
            &args.cluster.kubeconfig,
            false,
            args.controllers.settings(),
        )),
        Command::Hollow(args) => runtime()?.block_on(async {
            let client = barge_client::connect(&args.kubeconfig).await?;
            let options = barge_hollow::Options {
                nodes: args.nodes,
                name_prefix: args.name_prefix,
                pod_start_delay: args.pod_start_delay,
                job_duration: args.job_duration,
                fail_after: args.fail_after,
                cpu: args.cpu,
                memory: args.memory,
                lease_renew_interval: args.lease_renew_interval,
                ..Default::default()
            };
            barge_hollow::run(client, options, server::shutdown_signal()).await
        }),
        Command::Version => {
            println!("barge v{}", env!("CARGO_PKG_VERSION"));
            println!("kubernetes {}", barge_apiserver::KUBERNETES_VERSION);
            Ok(())
        }
        Command::Bench(Bench::Store(b)) => {
            let options = barge_bench::store::Options {
                dir: b.dir,
                sequential: b.sequential,
                writers: b.writers,
                watchers: b.watchers,
                value_size: b.value_size,
                ..Default::default()
            };
            runtime()?.block_on(barge_bench::store::run(options))
        }
        Command::Bench(Bench::Api(b)) => {
            let options = barge_bench::api::Options {
                kubeconfig: b.kubeconfig,
                pid: b.pid,
                dir: b.dir,
                clients: b.clients,
                sequential_creates: b.sequential_creates,
                creates: b.creates,
                sequential_gets: b.sequential_gets,
                gets: b.gets,
                pods: b.pods,
                list_repetitions: b.list_repetitions,
                watchers: b.watchers,
                watch_events: b.watch_events,
                ..Default::default()
            };
            runtime()?.block_on(barge_bench::api::run(options))
        }
        Command::Bench(Bench::Scheduler(b)) => {
            let options = barge_bench::scheduler::Options {
                kubeconfig: b.kubeconfig,
                pid: b.pid,
                dir: b.dir,
                nodes: b.nodes,
                pods: b.pods,
                clients: b.clients,
            };
            runtime()?.block_on(barge_bench::scheduler::run(options))
        }
        Command::Bench(Bench::Pods(b)) => {
            let options = barge_bench::pods::Options {
                dir: b.dir,
                pods: b.pods,
                rates: b.rates,
            };
            runtime()?.block_on(barge_bench::pods::run(options))
        }
        Command::Bench(Bench::Network(b)) => {
            let options = barge_bench::network::Options {
                dir: b.dir,
                services: b.services,
                endpoints_per_service: b.endpoints_per_service,
                changes: b.changes,
                dns_duration: std::time::Duration::from_secs(b.dns_seconds),
                dns_clients: b.dns_clients,
            };
            runtime()?.block_on(barge_bench::network::run(options))
        }
    }
}

/// The scheduler or the controller manager alone, over HTTPS, until SIGTERM or Ctrl-C.
async fn standalone(
    kubeconfig: &std::path::Path,
    scheduler: bool,
    settings: barge_controllers::Settings,
) -> Result<()> {
    let client = barge_client::connect(kubeconfig).await?;
    controlplane::spawn(
        client,
        controlplane::Options {
            scheduler,
            controllers: !scheduler,
            settings,
            identity: server::identity(),
        },
    );
    server::shutdown_signal().await;
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
