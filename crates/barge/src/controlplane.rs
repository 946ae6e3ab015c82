//! The scheduler and the controller manager inside `barge server`: ordinary API clients
//! (kube-rs) of the server next to them, reaching it through an in-process transport, each
//! running only while it holds its Lease, so that several servers of one cluster never schedule
//! or reconcile twice.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use barge_client::KubeWriter;
use barge_client::leader::{Elector, Timing};
use barge_controllers::{Context, Informers, Manager, Settings};

/// What runs besides the API server.
#[derive(Clone, Debug)]
pub struct Options {
    pub scheduler: bool,
    pub controllers: bool,
    pub settings: Settings,
    /// This server's name in the Leases.
    pub identity: String,
}

/// A client of the API server in this process: requests go straight to its router, without
/// TLS, TCP or HTTP framing on either side, and through everything else a request meets,
/// authorization included. The transport authenticates them itself, as upstream's loopback
/// client: user `system:apiserver` in `system:masters`, which may do everything (as the admin
/// kubeconfig the standalone components use may). The in-process scheduler, controller
/// manager and node agent share this one client, so they cannot run as their own RBAC
/// identities yet.
pub fn local_client(server: &barge_apiserver::Server) -> kube::Client {
    let state = server.state.clone();
    let user = std::sync::Arc::new(barge_apiserver::authn::loopback_user());
    let service = tower::service_fn(move |mut req: http::Request<kube::client::Body>| {
        let state = state.clone();
        req.extensions_mut()
            .insert(barge_apiserver::authn::Authenticated(user.clone()));
        async move {
            let response = barge_apiserver::router::dispatch(state, req).await;
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    kube::Client::new(service, "default")
}

/// Starts the enabled components on the current runtime; they run until the process ends.
pub fn spawn(client: kube::Client, options: Options) {
    // Together in one process, the scheduler reads the controller manager's caches: each change
    // of a pod (or node, ...) is decoded and held once instead of twice.
    let shared = (options.controllers && options.scheduler).then(|| Informers::start(&client));
    if options.controllers {
        let (client, options, shared) = (client.clone(), options.clone(), shared.clone());
        tokio::spawn(elected(
            client.clone(),
            "kube-controller-manager",
            options.identity.clone(),
            move || {
                let ctx = Context {
                    informers: shared.clone().unwrap_or_else(|| Informers::start(&client)),
                    writer: Arc::new(KubeWriter::new(client.clone(), "kube-controller-manager")),
                    settings: Arc::new(options.settings.clone()),
                };
                async move {
                    Manager::run(ctx).await;
                    Ok(())
                }
            },
        ));
    }
    if options.scheduler {
        let identity = options.identity.clone();
        tokio::spawn(elected(
            client.clone(),
            "kube-scheduler",
            identity,
            move || {
                let informers = match &shared {
                    Some(s) => scheduler_informers(s),
                    None => barge_scheduler::Informers::start(&client),
                };
                barge_scheduler::run_with(
                    informers,
                    client.clone(),
                    barge_scheduler::Options::default(),
                )
            },
        ));
    }
}

/// The scheduler's view of the controller manager's informers.
fn scheduler_informers(i: &Informers) -> barge_scheduler::Informers {
    barge_scheduler::Informers {
        pods: i.pods.clone(),
        nodes: i.nodes.clone(),
        namespaces: i.namespaces.clone(),
        services: i.services.clone(),
        replica_sets: i.replica_sets.clone(),
        stateful_sets: i.stateful_sets.clone(),
        replication_controllers: i.replication_controllers.clone(),
    }
}

/// Runs what `work` makes whenever this process holds the Lease `name`, forever.
async fn elected<F, W>(client: kube::Client, name: &'static str, identity: String, work: W)
where
    W: Fn() -> F,
    F: std::future::Future<Output = Result<()>>,
{
    let elector = Elector::new(client, name, &identity, Timing::default());
    loop {
        match elector.lead(work()).await {
            Ok(Ok(())) => tracing::warn!(component = name, "stopped"),
            Ok(Err(e)) => tracing::error!(component = name, error = format!("{e:#}"), "failed"),
            Err(e) => tracing::warn!(component = name, error = %e, "lost leadership"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
