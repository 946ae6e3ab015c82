//! Hollow nodes: thousands of simulated kubelets in one process, for testing the scheduler and
//! the controllers at scale without containers (the idea of kubemark and KWOK).
//!
//! Each hollow kubelet registers a Node (capacity, Ready, addresses, node info, the labels a
//! kubelet sets plus [`HOLLOW_LABEL`]), renews its Lease in `kube-node-lease`, posts its Ready
//! condition now and then, and runs the pods bound to it: it reports them Running and Ready
//! after [`Options::pod_start_delay`], with a pod IP from the node's `spec.podCIDR` (or a fake
//! range per node), and finishes their graceful deletion after the shorter of the grace period
//! and [`Options::termination_delay`] by deleting them with grace 0, as a kubelet does. A
//! hollow pod runs until it is deleted, whatever its restart policy.
//!
//! What keeps 5,000 nodes and 150,000 pods affordable in one process:
//! - one pod watch for the whole process (scheduled pods, filtered here by node) and one watch
//!   of the hollow Nodes, each decoding only the few fields used (`pod::SlimPod`);
//! - one task renewing leases, spread evenly over the renew interval (`wheel`), and one for
//!   the node heartbeats;
//! - every API call from one bounded pool ([`Options::max_in_flight`]): kube-rs speaks
//!   HTTP/1.1, one connection per request in flight;
//! - a few dozen bytes of state per pod, its container list dropped once it runs.
//!
//! Start reading at [`run`], then `nodes.rs` (registration, leases, heartbeats) and `pods.rs`
//! (the watch, the timer, the workers). `node.rs` and `pod.rs` build the objects and are pure.
//!
//! Node death is what tests use this for: stop the process, or set [`Options::fail_after`] to
//! have every node stop renewing and reporting while the process lives on.

mod ipam;
pub mod node;
mod nodes;
pub mod pod;
mod pods;
mod state;
mod wheel;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::task::JoinSet;
use tracing::info;

pub use ipam::MAX_NODES;
pub use node::{HOLLOW_LABEL, node_name};

/// How a set of hollow nodes behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many nodes: `name_prefix` followed by 0 to `nodes - 1`.
    pub nodes: usize,
    /// The start of every node name (default `hollow-`). Two hollow processes against one
    /// cluster need different prefixes; their fake addresses may repeat.
    pub name_prefix: String,
    /// How long after a pod is bound it is reported running. Default 0: at once, as KWOK does.
    pub pod_start_delay: Duration,
    /// How long the pods of Jobs run before they are reported Succeeded (default 1 s).
    pub job_duration: Duration,
    /// How long a graceful deletion takes at most (the pod's grace period if shorter).
    /// Default 500 ms.
    pub termination_delay: Duration,
    /// Stop renewing leases and reporting anything after this long, while the process keeps
    /// running: every node dies. Default: never.
    pub fail_after: Option<Duration>,
    /// The CPU each node offers, as a quantity (capacity and allocatable alike; default `4`).
    pub cpu: String,
    /// The memory each node offers, as a quantity (default `16Gi`).
    pub memory: String,
    /// The ephemeral storage each node offers, as a quantity (default `100Gi`).
    pub ephemeral_storage: String,
    /// The `pods` each node offers (default 110). Only reported: the scheduler enforces it.
    pub max_pods: u32,
    /// What `nodeInfo` reports.
    pub kubelet_version: String,
    /// How often each Lease is renewed (upstream: 10 s).
    pub lease_renew_interval: Duration,
    /// The Lease's `leaseDurationSeconds` (upstream: 40).
    pub lease_duration_seconds: i32,
    /// How often each node posts its conditions (upstream reports every 5 min when nothing
    /// changes; default 1 min).
    pub status_update_interval: Duration,
    /// API calls in flight at most, for the whole process.
    pub max_in_flight: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: 1,
            name_prefix: "hollow-".to_owned(),
            pod_start_delay: Duration::ZERO,
            job_duration: Duration::from_secs(1),
            termination_delay: Duration::from_millis(500),
            fail_after: None,
            cpu: "4".to_owned(),
            memory: "16Gi".to_owned(),
            ephemeral_storage: "100Gi".to_owned(),
            max_pods: 110,
            kubelet_version: "v1.32.4".to_owned(),
            lease_renew_interval: Duration::from_secs(10),
            lease_duration_seconds: 40,
            status_update_interval: Duration::from_secs(60),
            max_in_flight: 64,
        }
    }
}

impl Options {
    fn check(&self) -> anyhow::Result<()> {
        if self.nodes > MAX_NODES {
            bail!(
                "invalid value {} for nodes: at most {MAX_NODES}",
                self.nodes
            );
        }
        if self.lease_renew_interval.is_zero() || self.status_update_interval.is_zero() {
            bail!(
                "invalid intervals: the lease renew and status update intervals must be positive"
            );
        }
        Ok(())
    }
}

/// Runs the hollow nodes until `shutdown` completes, then stops at once and leaves the Nodes
/// behind, as a dead kubelet does. Returns an error only for invalid options or a task that
/// panicked; API errors are retried.
pub async fn run(
    client: kube::Client,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    options.check()?;
    let fail_after = options.fail_after;
    info!(nodes = options.nodes, prefix = %options.name_prefix, "starting hollow nodes");
    let (shared, timer) = state::Shared::new(client, options);
    let s = Arc::new(shared);
    let mut tasks = JoinSet::new();
    tasks.spawn(nodes::renew_leases(s.clone()));
    tasks.spawn(nodes::heartbeats(s.clone()));
    tasks.spawn(nodes::watch_nodes(s.clone()));
    let pods = s.clone();
    tasks.spawn(async move {
        // Pods start once every node is registered, so their addresses come from the
        // podCIDRs the registration answers carry.
        nodes::register_all(pods.clone()).await;
        tokio::join!(pods::watch(pods.clone()), pods::dispatch(pods, timer));
    });
    drop(s);

    let work = async {
        while let Some(done) = tasks.join_next().await {
            done.context("a hollow node task failed")?;
        }
        anyhow::Ok(())
    };
    let fail = async {
        match fail_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let mut shutdown = std::pin::pin!(shutdown);
    tokio::select! {
        done = work => return done,
        () = &mut shutdown => return Ok(()),
        () = fail => info!("hollow nodes failing: no more lease renewals or status updates"),
    }
    // Dropping the tasks aborts them and every call they have in flight.
    drop(tasks);
    shutdown.await;
    Ok(())
}
