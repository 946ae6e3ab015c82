//! The scheduler (upstream `pkg/scheduler`), an ordinary API client.
//!
//! Pods without a node that ask for `default-scheduler` go through:
//! - [`queue`]: an active queue ordered by priority then age, a backoff queue (1 s doubling to
//!   10 s per attempt) and a set of unschedulable pods retried when the cluster changes (and
//!   every 5 minutes regardless);
//! - [`framework`]: one small trait per extension point (PreFilter, Filter, PostFilter,
//!   PreScore, Score with normalization, Reserve; Bind in [`binder`]), plugins registered by
//!   name, and a profile running them over the [`snapshot`] of the cluster — sans IO, so it is
//!   tested and benchmarked in memory ([`bench`]);
//! - [`plugins`]: the default plugins (NodeUnschedulable, NodeName, TaintToleration,
//!   NodeAffinity, NodePorts, NodeResourcesFit, PodTopologySpread with the system default
//!   constraints, InterPodAffinity, NodeResourcesBalancedAllocation);
//! - [`binder`]: binding through `pods/binding`, asynchronously with bounded concurrency, the
//!   pod assumed on its node meanwhile and forgotten if the binding fails;
//! - [`scheduler`]: the loop that feeds informer changes into the cluster view and the queue,
//!   runs cycles, and reports outcomes (the `PodScheduled` condition, `Scheduled` and
//!   `FailedScheduling` events).
//!
//! Entry point: [`run`] (the caller wraps it in leader election).

pub mod bench;
pub mod binder;
pub mod framework;
pub mod plugins;
pub mod podinfo;
pub mod queue;
pub mod resources;
pub mod scheduler;
pub mod selector;
pub mod snapshot;

pub use framework::{Outcome, Profile, ProfileConfig, Registry};
pub use scheduler::{Informers, Options, run, run_with};
pub use snapshot::{Cluster, NodeInfo};
