//! A crash of the whole server (`kill -9`) during a stream of creates: after a restart every
//! object kubectl saw created is there, and the running container was not restarted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{IMAGE, Node, can_run};

/// The pod's container id and restart count.
async fn container(node: &Node) -> (String, String) {
    let out = node
        .ok(&[
            "get",
            "pods",
            "-l",
            "app=keep",
            "-o",
            "jsonpath={.items[0].status.containerStatuses[0].containerID} {.items[0].status.containerStatuses[0].restartCount}",
        ])
        .await;
    let (id, count) = out.split_once(' ').unwrap_or_default();
    (id.to_owned(), count.to_owned())
}

#[tokio::test]
async fn a_killed_server_keeps_every_acknowledged_create_and_its_containers() {
    if !can_run() {
        return;
    }
    let node = Node::start().await;
    node.ok(&[
        "create",
        "deployment",
        "keep",
        "--image",
        IMAGE,
        "--",
        "sleep",
        "3600",
    ])
    .await;
    node.ok(&["rollout", "status", "deployment/keep", "--timeout=60s"])
        .await;
    let (id_before, restarts) = container(&node).await;
    assert!(id_before.starts_with("containerd://"), "{id_before}");
    assert_eq!(restarts, "0");

    // 200 creates by 4 kubectl loops; the server is killed once 100 have been acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let node = Arc::new(tokio::sync::Mutex::new(node));
    let kubeconfig = node.lock().await.kubeconfig.clone();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (acknowledged, kubeconfig) = (acknowledged.clone(), kubeconfig.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..50 {
                let name = format!("cm-{w}-{i}");
                let out = tokio::process::Command::new("kubectl")
                    .arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .args(["create", "configmap", &name, "--from-literal=k=v"])
                    .args(["--request-timeout=5s"])
                    .output()
                    .await
                    .expect("kubectl runs");
                if out.status.success() {
                    acknowledged.lock().expect("lock").push(name);
                }
            }
        }));
    }
    let killer = {
        let (node, acknowledged) = (node.clone(), acknowledged.clone());
        tokio::spawn(async move {
            while acknowledged.lock().expect("lock").len() < 100 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            node.lock().await.kill();
        })
    };
    killer.await.expect("the server was killed");
    for w in writers {
        w.await.expect("a writer");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        (100..200).contains(&acknowledged.len()),
        "the kill came in the middle: {} acknowledged",
        acknowledged.len()
    );

    let mut node = Arc::into_inner(node).expect("one owner").into_inner();
    node.spawn();
    node.eventually("the API answers again", Duration::from_secs(30), || async {
        node.kubectl(&["get", "--raw", "/readyz"])
            .await
            .status
            .success()
    })
    .await;
    let names = node
        .ok(&[
            "get",
            "configmaps",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
        .await;
    let stored: std::collections::BTreeSet<&str> = names.split_whitespace().collect();
    for name in &acknowledged {
        assert!(
            stored.contains(name.as_str()),
            "{name} was acknowledged, then lost"
        );
    }
    // The kubelet adopted the running container: same id, no restart.
    node.eventually(
        "the pod is Ready again",
        Duration::from_secs(30),
        || async { node.get("deployment/keep", "{.status.readyReplicas}").await == "1" },
    )
    .await;
    assert_eq!(container(&node).await, (id_before, "0".to_owned()));
}
