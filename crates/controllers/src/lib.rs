//! The controller manager: the loops that keep the cluster's actual state at its desired one.
//!
//! Every controller is one module with one type implementing [`runner::Reconciler`] (reconcile
//! one object, named by its [`Key`]) and a `watch` function saying which changes queue which
//! keys. They share:
//! - the [`runner`]: a keyed queue (one reconcile in flight per key, per-key backoff) and
//!   workers;
//! - one set of [`Informers`]: one watch per resource for the whole process, with indexes (pods
//!   by node, objects by owner);
//! - a [`Writer`] for every API call, so that tests seed the informers, run one reconcile and
//!   assert on the calls recorded by [`barge_client::Recording`].
//!
//! [`Manager`] starts them all (`barge server` runs it under leader election).

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod gc;
pub mod hpa;
pub mod job;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod podgc;
pub mod pods;
pub mod replicaset;
pub mod root_ca;
pub mod runner;
pub mod service_lb;
pub mod serviceaccount;
pub mod statefulset;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use barge_client::events::Recorder;
use barge_client::informer::Builder;
use barge_client::{Informer, Writer};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    Endpoints, Namespace, Node, PersistentVolumeClaim, Pod, ReplicationController, Service,
    ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

pub use runner::{Queue, Reconciler};

/// Periods and sizes of the controllers, configurable so tests take seconds.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a node's Lease may go unrenewed before the node is NotReady/Unknown (40 s).
    pub node_monitor_grace_period: Duration,
    /// How often node health is checked (5 s).
    pub node_monitor_period: Duration,
    /// The cluster's pod network; every node gets a `node_cidr_mask_size` block of it.
    pub cluster_cidr: String,
    pub node_cidr_mask_size: u8,
    /// Terminated pods kept before the oldest are deleted (12,500).
    pub terminated_pod_gc_threshold: usize,
    /// Concurrent reconciles per controller.
    pub workers: usize,
    /// The cluster CA (PEM) published in every namespace as `kube-root-ca.crt`.
    pub root_ca: Option<String>,
    /// The addresses LoadBalancer Services get ([`service_lb`]): each Service one of them,
    /// free for its ports. Empty (the default): every Ready node's InternalIP addresses, all
    /// of them for every Service, as k3s's ServiceLB.
    pub load_balancer_pool: Vec<IpAddr>,
    /// How often each HorizontalPodAutoscaler is reconciled ([`hpa`], 15 s).
    pub hpa_sync_period: Duration,
    /// How long a scale-down waits for every recommendation of the window to agree, without
    /// `spec.behavior` (and the scale-down window a behavior leaves unset), 5 min.
    pub hpa_downscale_stabilization: Duration,
    /// How far the ratio of usage to target may be from 1.0 without a rescale (0.1).
    pub hpa_tolerance: f64,
    /// How long after a pod starts its cpu samples may still include its start-up (5 min).
    pub hpa_cpu_initialization_period: Duration,
    /// How long after start a pod that is not Ready counts as not yet started (30 s).
    pub hpa_initial_readiness_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            node_monitor_grace_period: Duration::from_secs(40),
            node_monitor_period: Duration::from_secs(5),
            cluster_cidr: "10.42.0.0/16".into(),
            node_cidr_mask_size: 24,
            terminated_pod_gc_threshold: 12_500,
            workers: 4,
            root_ca: None,
            load_balancer_pool: Vec::new(),
            hpa_sync_period: Duration::from_secs(15),
            hpa_downscale_stabilization: Duration::from_secs(300),
            hpa_tolerance: 0.1,
            hpa_cpu_initialization_period: Duration::from_secs(300),
            hpa_initial_readiness_delay: Duration::from_secs(30),
        }
    }
}

/// The shared informers of the controller manager.
#[derive(Clone, Debug)]
pub struct Informers {
    pub pods: Informer<Pod>,
    pub nodes: Informer<Node>,
    pub namespaces: Informer<Namespace>,
    pub services: Informer<Service>,
    pub endpoints: Informer<Endpoints>,
    pub endpoint_slices: Informer<EndpointSlice>,
    pub service_accounts: Informer<ServiceAccount>,
    pub node_leases: Informer<Lease>,
    pub deployments: Informer<Deployment>,
    pub replica_sets: Informer<ReplicaSet>,
    pub replication_controllers: Informer<ReplicationController>,
    pub stateful_sets: Informer<StatefulSet>,
    pub daemon_sets: Informer<DaemonSet>,
    pub controller_revisions: Informer<ControllerRevision>,
    pub jobs: Informer<Job>,
    pub cron_jobs: Informer<CronJob>,
    pub persistent_volume_claims: Informer<PersistentVolumeClaim>,
    pub pod_disruption_budgets: Informer<PodDisruptionBudget>,
    pub horizontal_pod_autoscalers: Informer<HorizontalPodAutoscaler>,
    /// The client the informers watch through, for the reads no cache holds (the HPA
    /// controller's scale subresources, pod metrics and discovery); `None` when seeded.
    pub client: Option<ApiClient>,
}

/// A [`Client`] that prints as a name (kube's does not implement `Debug`).
#[derive(Clone)]
pub struct ApiClient(pub Client);

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiClient")
    }
}

/// Index name: pods by `spec.nodeName`.
pub const BY_NODE: &str = "node";
/// Index name: objects by the uid of each of their owners.
pub const BY_OWNER: &str = "owner";

fn pod_node(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .into_iter()
        .collect()
}

fn owners<K: Resource>(object: &K) -> Vec<String> {
    object
        .meta()
        .owner_references
        .iter()
        .flatten()
        .map(|o| o.uid.clone())
        .collect()
}

/// An informer on `api`, listed from the watch cache (`resourceVersion=0`).
fn watch<K>(api: Api<K>, builder: Builder<K>) -> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    builder.start(api, watcher::Config::default().any_semantic())
}

/// [`watch`] with objects indexed by their owners' uids.
fn watch_by_owner<K>(api: Api<K>) -> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    watch(api, Builder::default().index(BY_OWNER, owners))
}

impl Informers {
    /// Starts one watch per resource.
    pub fn start(client: &Client) -> Self {
        let c = client;
        Self {
            pods: watch(
                Api::all(c.clone()),
                Builder::default()
                    .index(BY_NODE, pod_node)
                    .index(BY_OWNER, owners),
            ),
            nodes: watch(Api::all(c.clone()), Builder::default()),
            namespaces: watch(Api::all(c.clone()), Builder::default()),
            services: watch(Api::all(c.clone()), Builder::default()),
            endpoints: watch(Api::all(c.clone()), Builder::default()),
            endpoint_slices: watch_by_owner(Api::all(c.clone())),
            service_accounts: watch(Api::all(c.clone()), Builder::default()),
            node_leases: watch(
                Api::namespaced(c.clone(), "kube-node-lease"),
                Builder::default(),
            ),
            deployments: watch(Api::all(c.clone()), Builder::default()),
            replica_sets: watch_by_owner(Api::all(c.clone())),
            replication_controllers: watch(Api::all(c.clone()), Builder::default()),
            stateful_sets: watch(Api::all(c.clone()), Builder::default()),
            daemon_sets: watch(Api::all(c.clone()), Builder::default()),
            controller_revisions: watch_by_owner(Api::all(c.clone())),
            jobs: watch_by_owner(Api::all(c.clone())),
            cron_jobs: watch(Api::all(c.clone()), Builder::default()),
            persistent_volume_claims: watch(Api::all(c.clone()), Builder::default()),
            pod_disruption_budgets: watch(Api::all(c.clone()), Builder::default()),
            horizontal_pod_autoscalers: watch(Api::all(c.clone()), Builder::default()),
            client: Some(ApiClient(c.clone())),
        }
    }

    /// Empty caches with no watch behind them, for tests to seed with `apply`.
    pub fn seeded() -> Self {
        Self {
            pods: Builder::default()
                .index(BY_NODE, pod_node)
                .index(BY_OWNER, owners)
                .seeded([]),
            nodes: Informer::seeded([]),
            namespaces: Informer::seeded([]),
            services: Informer::seeded([]),
            endpoints: Informer::seeded([]),
            endpoint_slices: Builder::default().index(BY_OWNER, owners).seeded([]),
            service_accounts: Informer::seeded([]),
            node_leases: Informer::seeded([]),
            deployments: Informer::seeded([]),
            replica_sets: Builder::default().index(BY_OWNER, owners).seeded([]),
            replication_controllers: Informer::seeded([]),
            stateful_sets: Informer::seeded([]),
            daemon_sets: Informer::seeded([]),
            controller_revisions: Builder::default().index(BY_OWNER, owners).seeded([]),
            jobs: Builder::default().index(BY_OWNER, owners).seeded([]),
            cron_jobs: Informer::seeded([]),
            persistent_volume_claims: Informer::seeded([]),
            pod_disruption_budgets: Informer::seeded([]),
            horizontal_pod_autoscalers: Informer::seeded([]),
            client: None,
        }
    }

    /// Waits until every cache has its first full list.
    pub async fn synced(&self) {
        self.pods.synced().await;
        self.nodes.synced().await;
        self.namespaces.synced().await;
        self.services.synced().await;
        self.endpoints.synced().await;
        self.endpoint_slices.synced().await;
        self.service_accounts.synced().await;
        self.node_leases.synced().await;
        self.deployments.synced().await;
        self.replica_sets.synced().await;
        self.replication_controllers.synced().await;
        self.stateful_sets.synced().await;
        self.daemon_sets.synced().await;
        self.controller_revisions.synced().await;
        self.jobs.synced().await;
        self.cron_jobs.synced().await;
        self.persistent_volume_claims.synced().await;
        self.pod_disruption_budgets.synced().await;
        self.horizontal_pod_autoscalers.synced().await;
    }
}

/// What a controller works with.
#[derive(Clone, Debug)]
pub struct Context {
    pub informers: Informers,
    pub writer: Arc<dyn Writer>,
    pub settings: Arc<Settings>,
}

impl Context {
    /// An event recorder for the controller named `component` (e.g. `deployment-controller`).
    pub fn recorder(&self, component: &str) -> Recorder {
        Recorder::new(self.writer.clone(), component)
    }

    /// A context over empty seeded informers that records its writes, for tests.
    pub fn for_tests() -> (Self, Arc<barge_client::Recording>) {
        let writer = Arc::new(barge_client::Recording::default());
        let ctx = Self {
            informers: Informers::seeded(),
            writer: writer.clone(),
            settings: Arc::new(Settings::default()),
        };
        (ctx, writer)
    }
}

/// How a controller module starts: its reconciler and its queue, fed by its watches.
pub type Start = fn(&Context) -> (Arc<dyn Reconciler>, Queue);

/// Starts every controller; returns when they have all stopped (never, in practice).
#[derive(Debug)]
pub struct Manager;

impl Manager {
    /// Runs all controllers on `ctx` until the returned future is dropped.
    pub async fn run(ctx: Context) {
        ctx.informers.synced().await;
        tracing::info!("controller manager: caches synced, starting controllers");
        let mut tasks = tokio::task::JoinSet::new();
        let workers = ctx.settings.workers;
        let starts: &[Start] = &[
            deployment::start,
            replicaset::start,
            replicaset::start_rc,
            gc::start,
            node_lifecycle::start,
            node_ipam::start,
            endpoints::start,
            endpoints::start_slices,
            service_lb::start,
            serviceaccount::start,
            root_ca::start,
            podgc::start,
            job::start,
            daemonset::start,
            statefulset::start,
            namespace::start,
            cronjob::start,
            disruption::start,
            hpa::start,
        ];
        for start in starts {
            let (reconciler, queue) = start(&ctx);
            tasks.spawn(runner::run(reconciler, queue, workers));
        }
        while tasks.join_next().await.is_some() {}
    }
}
