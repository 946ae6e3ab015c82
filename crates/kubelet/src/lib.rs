//! The node agent: what makes pods real processes on a machine.
//!
//! - [`containerd`] writes containerd's config under the agent's data dir, starts the
//!   distribution's `containerd`, restarts it if it dies and stops it on shutdown.
//! - [`image`] builds Barge's own pause image, writes OCI image archives and imports image
//!   tarballs into containerd (the air-gap path: `<data-dir>/agent/images/`).
//! - [`spec`] turns a Pod into CRI sandbox and container configs (env, resources, QoS, ...);
//!   [`volumes`] prepares the pod's volumes on the host; [`probe`] runs liveness, readiness
//!   and startup probes. All three are pure or local: they never call the API server.
//! - [`objects`] is what a pod refers to (ConfigMaps, Secrets, Services), fetched once per sync.

pub mod agent;
pub mod cgroups;
pub mod cni;
pub mod containerd;
pub mod cri;
pub mod image;
pub mod join;
pub mod node;
pub mod objects;
pub mod pods;
pub mod probe;
pub mod server;
pub mod spec;
pub mod status;
pub mod volumes;
