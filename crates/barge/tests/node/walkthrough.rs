//! The seed's walkthrough, step by step, as a user types it: a Deployment and its Service
//! from a manifest file, `get`, `describe`, `logs`, `exec`, `scale`, a new version from an
//! imported image with `set image`, `rollout status`/`history`/`undo`, then `delete -f`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::{IMAGE, Node, can_run};

/// The second version: the same busybox under another tag, imported with `barge image import`.
const IMAGE_V2: &str = "docker.io/library/busybox:barge-e2e-v2";

/// The Deployment (3 replicas, a TCP readiness probe) and its Service, as a user writes them.
fn manifest() -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-api
  labels: {{app: my-api}}
spec:
  replicas: 3
  selector:
    matchLabels: {{app: my-api}}
  template:
    metadata:
      labels: {{app: my-api}}
    spec:
      # busybox httpd as PID 1 ignores SIGTERM: keep the wait for SIGKILL short.
      terminationGracePeriodSeconds: 2
      containers:
      - name: my-api
        image: {IMAGE}
        command:
        - sh
        - -c
        - echo my-api up on $(hostname); mkdir -p /www; echo served-by-$(hostname) > /www/index.html; exec httpd -f -p 8080 -h /www
        ports:
        - containerPort: 8080
        readinessProbe:
          tcpSocket: {{port: 8080}}
          periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: my-api
spec:
  selector: {{app: my-api}}
  ports:
  - port: 80
    targetPort: 8080
"#
    )
}

/// A GET of `/` at `addr` from the host: the whole answer, or the error.
fn http_get(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// `name image` of the my-api pods that are not being deleted.
async fn live_pods(node: &Node) -> Vec<(String, String)> {
    node.ok(&[
        "get",
        "pods",
        "-l",
        "app=my-api",
        "--no-headers",
        "-o",
        "custom-columns=N:.metadata.name,I:.spec.containers[0].image,D:.metadata.deletionTimestamp",
    ])
    .await
    .lines()
    .filter_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.len() == 3 && w[2] == "<none>").then(|| (w[0].to_owned(), w[1].to_owned()))
    })
    .collect()
}

/// The rows of `kubectl get pods` (no filter, as the walkthrough types it) that show a pod
/// `1/1 Running`, and all rows.
async fn running_rows(node: &Node) -> (usize, String) {
    let table = node.ok(&["get", "pods"]).await;
    let running = table
        .lines()
        .filter(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() >= 3 && w[0].starts_with("my-api-") && w[1] == "1/1" && w[2] == "Running"
        })
        .count();
    (running, table)
}

/// `kubectl get deployments`: the READY, UP-TO-DATE and AVAILABLE columns of my-api.
async fn deployment_row(node: &Node) -> (String, String, String) {
    let table = node.ok(&["get", "deployments"]).await;
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header[..4],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE"],
        "{table}"
    );
    let row = lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&"my-api"))
        .unwrap_or_else(|| panic!("my-api in:\n{table}"));
    (row[1].to_owned(), row[2].to_owned(), row[3].to_owned())
}

async fn rollout_status(node: &Node) {
    let out = node
        .ok(&["rollout", "status", "deployment/my-api", "--timeout=90s"])
        .await;
    assert!(
        out.contains("deployment \"my-api\" successfully rolled out"),
        "{out}"
    );
}

/// Waits until exactly `n` my-api pods exist (none terminating) and all run `image`.
async fn settled(node: &Node, n: usize, image: &str) {
    node.eventually(
        &format!("{n} pods of {image}, none terminating"),
        Duration::from_secs(60),
        || async {
            let all = node
                .get("pods", "{range .items[*]}{.metadata.name} {end}")
                .await;
            let live = live_pods(node).await;
            all.split_whitespace().count() == n
                && live.len() == n
                && live.iter().all(|(_, i)| i == image)
        },
    )
    .await;
}

#[tokio::test]
async fn the_walkthrough_with_kubectl_on_a_real_node() {
    if !can_run() {
        return;
    }
    let node = Node::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("my-api.yaml");
    std::fs::write(&file, manifest()).expect("manifest written");
    let file = file.to_str().expect("a UTF-8 path");

    // kubectl apply -f: both objects created, the rollout completes.
    let applied = node.ok(&["apply", "-f", file]).await;
    assert_eq!(
        applied, "deployment.apps/my-api created\nservice/my-api created\n",
        "{applied}"
    );
    rollout_status(&node).await;

    // get pods / get deployments: three pods 1/1 Running, the Deployment 3/3.
    let (running, table) = running_rows(&node).await;
    assert_eq!(running, 3, "{table}");
    assert_eq!(
        deployment_row(&node).await,
        ("3/3".to_owned(), "3".to_owned(), "3".to_owned())
    );
    // Applying the same file again changes nothing.
    let again = node.ok(&["apply", "-f", file]).await;
    assert_eq!(
        again, "deployment.apps/my-api unchanged\nservice/my-api unchanged\n",
        "{again}"
    );

    // The Service: three endpoints, and its cluster IP answers from the host.
    let endpoints = node.ok(&["get", "endpoints", "my-api"]).await;
    assert_eq!(endpoints.matches(":8080").count(), 3, "{endpoints}");
    let cluster_ip = node.get("svc/my-api", "{.spec.clusterIP}").await;
    let addr: SocketAddr = format!("{cluster_ip}:80").parse().expect("a cluster IP");
    node.eventually(
        "the Service answers on its cluster IP",
        Duration::from_secs(20),
        || async { http_get(addr).is_ok_and(|a| a.contains("served-by-my-api-")) },
    )
    .await;

    // describe pod: the probe as written, the owner, the events from scheduling to start.
    let pods = live_pods(&node).await;
    let pod = pods[0].0.clone();
    let describe = node.ok(&["describe", "pod", &pod]).await;
    for line in [
        "Readiness:",
        "tcp-socket :8080",
        "period=2s",
        "Controlled By:  ReplicaSet/my-api-",
        &format!("Successfully assigned default/{pod} to {}", node.name),
        "Scheduled",
        "Pulled",
        "Created",
        "Started",
        "Started container my-api",
    ] {
        assert!(describe.contains(line), "{line:?} in:\n{describe}");
    }

    // logs, of the pod and through the Deployment.
    assert_eq!(
        node.ok(&["logs", &pod]).await,
        format!("my-api up on {pod}\n")
    );
    let through = node.ok(&["logs", "deploy/my-api"]).await;
    assert!(through.starts_with("my-api up on my-api-"), "{through}");

    // exec, in the pod and through the Deployment.
    assert_eq!(
        node.ok(&["exec", &pod, "--", "hostname"]).await,
        format!("{pod}\n")
    );
    let name = node.ok(&["exec", "deploy/my-api", "--", "hostname"]).await;
    assert!(
        pods.iter().any(|(p, _)| format!("{p}\n") == name),
        "{name:?} is one of {pods:?}"
    );

    // scale up to 5, then back to 3.
    let scaled = node
        .ok(&["scale", "deployment/my-api", "--replicas=5"])
        .await;
    assert_eq!(scaled, "deployment.apps/my-api scaled\n");
    rollout_status(&node).await;
    assert_eq!(
        deployment_row(&node).await,
        ("5/5".to_owned(), "5".to_owned(), "5".to_owned())
    );
    let (running, table) = running_rows(&node).await;
    assert_eq!(running, 5, "{table}");
    node.ok(&["scale", "deployment/my-api", "--replicas=3"])
        .await;
    rollout_status(&node).await;
    settled(&node, 3, IMAGE).await;
    assert_eq!(
        deployment_row(&node).await,
        ("3/3".to_owned(), "3".to_owned(), "3".to_owned())
    );

    // A new version: a second image tag, imported into the node, rolled out with set image.
    let tar = dir.path().join("busybox-v2.tar");
    let built = std::process::Command::new(crate::BARGE)
        .args(["image", "busybox", "--name", IMAGE_V2, "-o"])
        .arg(&tar)
        .output()
        .expect("barge image busybox");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let imported = node.barge(&["image", "import"], &[tar.as_path()]);
    assert!(
        imported.contains(&format!("imported {IMAGE_V2}")),
        "{imported}"
    );
    assert!(node.barge_image_ls().contains("barge-e2e-v2"));
    let before: Vec<String> = live_pods(&node).await.into_iter().map(|(p, _)| p).collect();
    let set = node
        .ok(&[
            "set",
            "image",
            "deployment/my-api",
            &format!("my-api={IMAGE_V2}"),
        ])
        .await;
    assert_eq!(set, "deployment.apps/my-api image updated\n");
    rollout_status(&node).await;
    settled(&node, 3, IMAGE_V2).await;
    let after = live_pods(&node).await;
    assert!(
        after.iter().all(|(p, _)| !before.contains(p)),
        "new pods: {before:?} -> {after:?}"
    );
    let ready = node
        .get(
            "pods",
            "{range .items[*]}{.status.containerStatuses[0].ready} {end}",
        )
        .await;
    assert_eq!(ready, "true true true ", "the new pods are Ready");

    // rollout history: two revisions, the second with the new image.
    let history = node.ok(&["rollout", "history", "deployment/my-api"]).await;
    let revisions: Vec<&str> = history
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");
    let second = node
        .ok(&["rollout", "history", "deployment/my-api", "--revision=2"])
        .await;
    assert!(second.contains(&format!("Image:\t{IMAGE_V2}")), "{second}");

    // rollout undo: the first image back, as revision 3.
    let undone = node.ok(&["rollout", "undo", "deployment/my-api"]).await;
    assert_eq!(undone, "deployment.apps/my-api rolled back\n");
    rollout_status(&node).await;
    settled(&node, 3, IMAGE).await;
    assert_eq!(
        node.get(
            "deployment/my-api",
            "{.spec.template.spec.containers[0].image}"
        )
        .await,
        IMAGE
    );
    let history = node.ok(&["rollout", "history", "deployment/my-api"]).await;
    let revisions: Vec<&str> = history
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["2", "3"], "{history}");
    node.eventually(
        "the Service answers after the undo",
        Duration::from_secs(20),
        || async { http_get(addr).is_ok_and(|a| a.contains("served-by-my-api-")) },
    )
    .await;

    // kubectl delete -f: both objects gone, then the ReplicaSets, the pods and their processes.
    let deleted = node.ok(&["delete", "-f", file]).await;
    assert_eq!(
        deleted, "deployment.apps \"my-api\" deleted\nservice \"my-api\" deleted\n",
        "{deleted}"
    );
    node.eventually("everything is gone", Duration::from_secs(60), || async {
        let left = node
            .ok(&["get", "deployments,replicasets,pods,services", "-o", "name"])
            .await;
        // The API server's own Service stays.
        left.trim() == "service/kubernetes"
    })
    .await;
    node.eventually(
        "no process of the pods is left",
        Duration::from_secs(30),
        || async { crate::cgroup_processes(&node.name).is_empty() },
    )
    .await;
    let gone = node.kubectl(&["get", "pods"]).await;
    assert!(gone.status.success());
    assert_eq!(
        String::from_utf8_lossy(&gone.stderr),
        "No resources found in default namespace.\n"
    );
}
