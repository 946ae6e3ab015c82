//! What every Barge component that talks to the API server shares.
//!
//! The scheduler, the controllers and the hollow nodes are ordinary API clients (kube-rs); this
//! crate gives them:
//! - [`informer`]: shared informers, one watch per resource feeding an indexed in-memory cache
//!   and a broadcast of changes;
//! - [`writer`]: the writes a controller makes behind the small [`Writer`] trait, with a
//!   recording implementation for tests;
//! - [`events`]: an Event recorder that folds repeats as client-go's does;
//! - [`leader`]: leader election through a Lease;
//! - [`node`]: the heartbeat objects a kubelet writes (conditions, Lease);
//! - [`connect`]: a client from a kubeconfig file.

pub mod events;
pub mod informer;
pub mod leader;
pub mod node;
pub mod writer;

use std::path::Path;

use anyhow::{Context, Result};

pub use informer::{Cache, Change, Informer, Key};
pub use writer::{Delete, KubeWriter, Recording, Writer, WriterExt};

/// A client for the cluster of a kubeconfig file (its current context).
pub async fn connect(kubeconfig: &Path) -> Result<kube::Client> {
    let file = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("cannot read the kubeconfig {}", kubeconfig.display()))?;
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .with_context(|| format!("invalid kubeconfig {}", kubeconfig.display()))?;
    kube::Client::try_from(config).context("cannot build a client")
}
