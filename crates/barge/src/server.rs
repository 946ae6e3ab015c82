//! `barge server`: the store and the API server in one process (the scheduler, controllers and
//! the node agent join as they are built), with the admin kubeconfig written for kubectl.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use barge_apiserver::{Config, Server};
use barge_store::{
    CompactionPolicy, Compactor, EtcdOptions, EtcdStore, SqliteOptions, SqliteStore, Store,
};
use clap::Args;

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
    if !args.disable_agent {
        tracing::warn!("the node agent is not built yet: running the control plane only");
    }
    let store = open_store(&args).await?;
    let mut config = Config::new(args.data_dir.join("server"));
    config.bind_address = args.bind_address;
    config.https_port = args.https_port;
    let server = Server::start(config, store).await?;
    barge_apiserver::kubeconfig::write(&args.write_kubeconfig, &server.admin_kubeconfig())
        .with_context(|| format!("cannot write {}", args.write_kubeconfig.display()))?;
    eprintln!("barge: API server listening on {}", server.url());
    println!("export KUBECONFIG={}", args.write_kubeconfig.display());
    shutdown_signal().await;
    eprintln!("barge: shutting down");
    drop(server);
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
