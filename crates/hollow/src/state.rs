//! What the hollow process keeps in memory, shared by its tasks: its nodes, the pods bound to
//! them (a few fields each), and the bounded pool of API calls in flight.

use std::collections::HashMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::Options;
use crate::ipam::{self, Ipv4Pool};
use crate::pod::SlimContainer;

/// Everything the tasks share. The mutex is held only for map updates, never across an await.
pub(crate) struct Shared {
    pub client: Client,
    pub opts: Options,
    /// Node names by index.
    pub names: Vec<String>,
    /// Node indexes by name: the nodes this process owns.
    pub index: HashMap<String, usize>,
    /// API calls in flight, shared by every task.
    pub limit: Arc<Semaphore>,
    /// When the conditions last changed: the start of this process.
    pub since: Time,
    inner: Mutex<Inner>,
    timer: mpsc::UnboundedSender<(Instant, Arc<str>)>,
}

impl Shared {
    /// The shared state, and the receiving end of the pod timer.
    pub fn new(
        client: Client,
        opts: Options,
    ) -> (Self, mpsc::UnboundedReceiver<(Instant, Arc<str>)>) {
        let names: Vec<_> = (0..opts.nodes)
            .map(|i| crate::node_name(&opts.name_prefix, i))
            .collect();
        let index = names.iter().cloned().zip(0..).collect();
        let (timer, rx) = mpsc::unbounded_channel();
        let shared = Self {
            client,
            limit: Arc::new(Semaphore::new(opts.max_in_flight.max(1))),
            since: Time(k8s_openapi::jiff::Timestamp::now()),
            inner: Mutex::new(Inner::new(opts.nodes)),
            names,
            index,
            opts,
            timer,
        };
        (shared, rx)
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; carry on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for pod `key` to be looked at again at `at`.
    pub fn schedule(&self, at: Instant, key: Arc<str>) {
        // Fails only when the dispatcher is gone, that is when the process is stopping.
        let _ = self.timer.send((at, key));
    }
}

/// The mutable part of the state.
#[derive(Debug)]
pub(crate) struct Inner {
    pub nodes: Vec<NodeState>,
    /// Pods bound to our nodes, by `namespace/name`.
    pub pods: HashMap<Arc<str>, PodEntry>,
    /// Bumped at each (re)list of the pod watch, so a list can drop the pods it no longer has.
    pub epoch: u32,
}

impl Inner {
    pub fn new(nodes: usize) -> Self {
        Self {
            nodes: (0..nodes).map(|_| NodeState::default()).collect(),
            pods: HashMap::new(),
            epoch: 0,
        }
    }

    /// The pod IP pool of a node: its podCIDR's, or its fake range while it has none.
    pub fn pool(&mut self, node: usize) -> &mut Ipv4Pool {
        let n = &mut self.nodes[node];
        let cidr = n.pod_cidr.as_deref();
        n.pool.get_or_insert_with(|| {
            cidr.and_then(Ipv4Pool::new).unwrap_or_else(|| {
                Ipv4Pool::new(&ipam::fake_pod_cidr(node)).expect("fake ranges are valid")
            })
        })
    }

    /// Records a node's uid and podCIDR as the API server reports them.
    pub fn node_seen(&mut self, node: usize, uid: Option<String>, pod_cidr: Option<String>) {
        let n = &mut self.nodes[node];
        if uid.is_some() {
            n.uid = uid;
        }
        let pod_cidr = pod_cidr.filter(|c| !c.is_empty());
        if pod_cidr.is_some() && pod_cidr != n.pod_cidr {
            // New pods get addresses from the new range; the running ones keep theirs.
            n.pod_cidr = pod_cidr;
            n.pool = None;
        }
    }

    /// Forgets a pod and frees its address.
    pub fn remove_pod(&mut self, key: &str) {
        if let Some(e) = self.pods.remove(key)
            && let Some(ip) = e.ip
        {
            self.pool(e.node as usize).release(ip);
        }
    }
}

/// What the process knows of one of its nodes.
#[derive(Debug, Default)]
pub(crate) struct NodeState {
    /// Set once the Node is registered (the Lease's owner reference needs it).
    pub uid: Option<String>,
    pub pod_cidr: Option<String>,
    /// Built on first use, from `pod_cidr` or the fake range.
    pub pool: Option<Ipv4Pool>,
    /// Whether the Lease is known to exist (renew by patch) or not (create it).
    pub lease_exists: bool,
}

/// A pod bound to one of our nodes: just enough to report its status and finish its deletion.
#[derive(Debug)]
pub(crate) struct PodEntry {
    pub uid: Box<str>,
    pub node: u32,
    /// Emptied once the pod is reported running (or completed, for one that runs to
    /// completion): nothing needs them after.
    pub init_containers: Box<[SlimContainer]>,
    pub containers: Box<[SlimContainer]>,
    pub host_network: bool,
    /// Completes after [`crate::Options::job_duration`] of running (a Job's pod).
    pub completes: bool,
    /// The pod IP, when it came from the node's pool (to be freed).
    pub ip: Option<Ipv4Addr>,
    pub phase: PodPhase,
    /// An API call about this pod is in flight.
    pub busy: bool,
    /// The pod watch's list epoch the pod was last seen in.
    pub epoch: u32,
}

/// Where a pod is in the hollow kubelet's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PodPhase {
    /// To be reported running at `at`.
    Starting { at: Instant },
    /// Reported running; to be reported completed at `at`.
    Completing { at: Instant },
    /// Reported running or completed (or found so); nothing to do until it is deleted.
    Running,
    /// Being deleted gracefully: to be deleted for good at `at`.
    Terminating { at: Instant },
    /// Deleted; waiting for the watch to say so.
    Gone,
}

/// API calls run in their own tasks, at most the semaphore's permits at once. Dropping it
/// aborts the calls in flight.
#[derive(Debug)]
pub(crate) struct Calls {
    set: JoinSet<()>,
    limit: Arc<Semaphore>,
}

impl Calls {
    pub fn new(limit: Arc<Semaphore>) -> Self {
        Self {
            set: JoinSet::new(),
            limit,
        }
    }

    /// Waits for a free slot, then starts the call.
    pub async fn spawn(&mut self, call: impl Future<Output = ()> + Send + 'static) {
        let permit = self
            .limit
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        while let Some(done) = self.set.try_join_next() {
            if let Err(e) = done
                && e.is_panic()
            {
                tracing::error!(error = %e, "hollow API call panicked");
            }
        }
        self.set.spawn(async move {
            call.await;
            drop(permit);
        });
    }

    /// Waits for every call started.
    pub async fn finish(&mut self) {
        while self.set.join_next().await.is_some() {}
    }
}

/// The HTTP status of an API error, if it is one.
pub(crate) fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}
