//! Leader election against a real in-process API server: of two candidates one leads; when it
//! stops renewing, the other takes the Lease over after its duration, and the Lease records
//! the transition.

use std::sync::Arc;
use std::time::Duration;

use barge_apiserver::{Config, Server};
use barge_client::leader::{Elector, Timing};
use barge_store::{SqliteOptions, SqliteStore};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use tokio::sync::oneshot;

async fn start() -> (Server, tempfile::TempDir, kube::Client) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("state.db"))).unwrap();
    let mut config = Config::new(dir.path().join("server"));
    config.bind_address = "127.0.0.1".parse().unwrap();
    config.https_port = 0;
    let server = Server::start(config, Arc::new(store))
        .await
        .expect("server starts");
    let kubeconfig = dir.path().join("kubeconfig");
    barge_apiserver::kubeconfig::write(&kubeconfig, &server.admin_kubeconfig()).unwrap();
    let client = barge_client::connect(&kubeconfig).await.unwrap();
    (server, dir, client)
}

fn fast() -> Timing {
    Timing {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_secs(1),
        retry: Duration::from_millis(200),
    }
}

#[tokio::test]
async fn one_candidate_leads_and_the_other_takes_over_when_it_stops() {
    let (_server, _dir, client) = start().await;
    let a = Elector::new(client.clone(), "test-component", "a", fast());
    let b = Elector::new(client.clone(), "test-component", "b", fast());

    // a leads until told to stop.
    let (stop_a, stopped_a) = oneshot::channel::<()>();
    let (a_leads, a_leading) = oneshot::channel::<()>();
    let a_task = tokio::spawn(async move {
        a.lead(async move {
            let _ = a_leads.send(());
            let _ = stopped_a.await;
        })
        .await
    });
    tokio::time::timeout(Duration::from_secs(10), a_leading)
        .await
        .expect("a leads")
        .unwrap();

    // b waits while a renews.
    let (b_leads, mut b_leading) = oneshot::channel::<()>();
    let b_task = tokio::spawn(async move {
        b.lead(async move {
            let _ = b_leads.send(());
            std::future::pending::<()>().await;
        })
        .await
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        b_leading.try_recv().is_err(),
        "b must not lead while a renews"
    );

    // a stops (its work ends, so it stops renewing); b takes over after the lease duration.
    let _ = stop_a.send(());
    a_task.await.unwrap().expect("a's work ended normally");
    tokio::time::timeout(Duration::from_secs(10), b_leading)
        .await
        .expect("b takes over")
        .unwrap();
    let lease = Api::<Lease>::namespaced(client, "kube-system")
        .get("test-component")
        .await
        .unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));
    b_task.abort();
}
