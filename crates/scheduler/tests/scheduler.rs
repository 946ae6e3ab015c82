//! The scheduler against a real in-process API server: pods get bound through
//! `pods/binding`, and a pod that fits nowhere gets the upstream condition.

use std::sync::Arc;
use std::time::Duration;

use barge_apiserver::{Config, Server};
use barge_store::{SqliteOptions, SqliteStore};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

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

async fn node(client: &kube::Client, name: &str, cpu: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let n: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
    }))
    .unwrap();
    nodes.create(&PostParams::default(), &n).await.unwrap();
    let status = json!({"status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                                   "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

async fn pod(client: &kube::Client, name: &str, cpu: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let p: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox",
                                 "resources": {"requests": {"cpu": cpu}}}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &p).await.unwrap();
}

async fn wait_for(client: &kube::Client, name: &str, what: impl Fn(&Pod) -> bool) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for _ in 0..200 {
        if let Ok(p) = pods.get(name).await
            && what(&p)
        {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "pod {name} never reached the expected state: {:?}",
        pods.get(name).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_bound_or_marked_unschedulable() {
    let (_server, _dir, client) = start().await;
    node(&client, "small", "1").await;
    node(&client, "big", "4").await;
    let scheduler = tokio::spawn(barge_scheduler::run(client.clone(), Default::default()));

    pod(&client, "fits", "2").await;
    let p = wait_for(&client, "fits", |p| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some()
    })
    .await;
    assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("big"));

    pod(&client, "too-big", "16").await;
    let p = wait_for(&client, "too-big", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "PodScheduled"))
    })
    .await;
    let cond = p.status.unwrap().conditions.unwrap();
    let cond = cond.iter().find(|c| c.type_ == "PodScheduled").unwrap();
    assert_eq!(cond.status, "False");
    assert_eq!(cond.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(
        cond.message.as_deref(),
        Some("0/2 nodes are available: 2 Insufficient cpu.")
    );

    // A node large enough arrives: the waiting pod is retried and bound to it.
    node(&client, "huge", "32").await;
    let p = wait_for(&client, "too-big", |p| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some()
    })
    .await;
    assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("huge"));
    scheduler.abort();
}
