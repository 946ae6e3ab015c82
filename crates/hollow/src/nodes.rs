//! The node side of the hollow kubelets: registration, lease renewals spread over the renew
//! interval, the slower status heartbeats, and one watch of the hollow Nodes (for podCIDRs).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use barge_client::node::{self as objects, LEASE_NAMESPACE, lease, renewal};

use crate::node::{self, HOLLOW_LABEL};
use crate::pod::SlimNode;
use crate::state::{Calls, Shared, code};
use crate::wheel::Wheel;

/// Registers every node, a bounded number at a time, each retried until it succeeds.
pub(crate) async fn register_all(s: Arc<Shared>) {
    let started = Instant::now();
    let mut calls = Calls::new(s.limit.clone());
    for i in 0..s.names.len() {
        calls.spawn(register(s.clone(), i)).await;
    }
    calls.finish().await;
    info!(
        nodes = s.names.len(),
        elapsed = ?started.elapsed(),
        "hollow nodes registered"
    );
}

/// Registers one node as the kubelet does: create the Node with its status, or when it is
/// there already (a restarted process), report the status on it; then create its Lease.
async fn register(s: Arc<Shared>, i: usize) {
    let name = &s.names[i];
    let nodes: Api<Node> = Api::all(s.client.clone());
    let slim: Api<SlimNode> = Api::all(s.client.clone());
    let mut backoff = Duration::from_millis(200);
    loop {
        let obj = node::node(&s.opts, i, &s.since);
        let seen = match nodes.create(&PostParams::default(), &obj).await {
            Ok(n) => Ok((n.metadata.uid, n.spec.and_then(|s| s.pod_cidr))),
            Err(e) if code(&e) == Some(409) => slim
                .patch_status(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(node::status_patch(&obj)),
                )
                .await
                .map(|n| (n.metadata.uid, n.spec.pod_cidr)),
            Err(e) => Err(e),
        };
        match seen {
            Ok((uid, cidr)) => {
                s.lock().node_seen(i, uid, cidr);
                break;
            }
            Err(e) => {
                debug!(node = %name, error = %e, "registering node failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
    renew(s, i).await;
}

/// Runs `call` for every node once per `period`, spread evenly, starting after `first`.
async fn periodic<F, Fut>(s: Arc<Shared>, period: Duration, first: Duration, call: F)
where
    F: Fn(Arc<Shared>, usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let wheel = Wheel::new(s.names.len(), period);
    let mut calls = Calls::new(s.limit.clone());
    let mut ticker = tokio::time::interval_at(Instant::now() + first, wheel.tick());
    // When the API server is slow, renew late rather than in a burst.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for k in (0..wheel.ticks()).cycle() {
        ticker.tick().await;
        for i in wheel.slot(k) {
            calls.spawn(call(s.clone(), i)).await;
        }
    }
}

/// Renews every registered node's Lease once per renew interval.
pub(crate) async fn renew_leases(s: Arc<Shared>) {
    let period = s.opts.lease_renew_interval;
    periodic(s, period, period / 2, renew).await;
}

/// Reports every registered node's conditions once per status update interval.
pub(crate) async fn heartbeats(s: Arc<Shared>) {
    let period = s.opts.status_update_interval;
    periodic(s, period, period, heartbeat).await;
}

/// Renews (or creates) the Lease of node `i`.
async fn renew(s: Arc<Shared>, i: usize) {
    let name = &s.names[i];
    let (uid, exists) = {
        let inner = s.lock();
        let n = &inner.nodes[i];
        (n.uid.clone(), n.lease_exists)
    };
    let Some(uid) = uid else {
        return; // not registered (yet)
    };
    let leases: Api<Lease> = Api::namespaced(s.client.clone(), LEASE_NAMESPACE);
    let duration = s.opts.lease_duration_seconds;
    let now = MicroTime(Timestamp::now());
    let patch = |leases: Api<Lease>| async move {
        let renewal = renewal(name, duration, &now);
        leases
            .patch(name, &PatchParams::default(), &Patch::Merge(renewal))
            .await
    };
    let result = if exists {
        match patch(leases.clone()).await {
            Err(e) if code(&e) == Some(404) => {
                let lease = lease(name, &uid, duration, &MicroTime(Timestamp::now()));
                leases.create(&PostParams::default(), &lease).await
            }
            other => other,
        }
    } else {
        let lease = lease(name, &uid, duration, &MicroTime(Timestamp::now()));
        match leases.create(&PostParams::default(), &lease).await {
            Err(e) if code(&e) == Some(409) => patch(leases.clone()).await,
            other => other,
        }
    };
    match result {
        Ok(_) => s.lock().nodes[i].lease_exists = true,
        Err(e) => {
            s.lock().nodes[i].lease_exists = false;
            debug!(node = %name, error = %e, "renewing lease failed");
        }
    }
}

/// Reports node `i`'s conditions with a fresh heartbeat.
async fn heartbeat(s: Arc<Shared>, i: usize) {
    let name = &s.names[i];
    if s.lock().nodes[i].uid.is_none() {
        return;
    }
    let nodes: Api<SlimNode> = Api::all(s.client.clone());
    let patch = objects::heartbeat(&Time(Timestamp::now()), &s.since);
    match nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(n) => s.lock().node_seen(i, n.metadata.uid, n.spec.pod_cidr),
        Err(e) => debug!(node = %name, error = %e, "node status update failed"),
    }
}

/// Follows the hollow Nodes, for the podCIDRs the controller manager assigns them and for
/// their deletion (a deleted node stops renewing its lease, as the kubelet's would fail).
pub(crate) async fn watch_nodes(s: Arc<Shared>) {
    let api: Api<SlimNode> = Api::all(s.client.clone());
    let config = watcher::Config::default()
        .labels(&format!("{HOLLOW_LABEL}=true"))
        .any_semantic();
    let mut events = pin!(watcher::watcher(api, config).default_backoff());
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(n) | Event::InitApply(n)) => {
                let Some(&i) = n.metadata.name.as_ref().and_then(|n| s.index.get(n)) else {
                    continue;
                };
                s.lock().node_seen(i, n.metadata.uid, n.spec.pod_cidr);
            }
            Ok(Event::Delete(n)) => {
                let Some(&i) = n.metadata.name.as_ref().and_then(|n| s.index.get(n)) else {
                    continue;
                };
                let mut inner = s.lock();
                let state = &mut inner.nodes[i];
                if state.uid == n.metadata.uid {
                    state.uid = None;
                    state.lease_exists = false;
                }
            }
            Ok(Event::Init | Event::InitDone) => {}
            Err(e) => warn!(error = %e, "node watch failed; retrying"),
        }
    }
}
