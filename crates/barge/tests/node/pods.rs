//! Pods in real containers: the seed's Deployment, restarts with back-off, OOM kills, probes,
//! graceful deletion, and an agent restart that restarts no container.

use std::time::Duration;

use crate::{IMAGE, Node, can_run};

/// A pod manifest running `script` in the test image.
fn pod(name: &str, restart: &str, script: &str, extra_container: &str) -> String {
    format!(
        r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "{name}"}},
  "spec": {{"restartPolicy": "{restart}", "terminationGracePeriodSeconds": 5,
    "containers": [{{"name": "c", "image": "{IMAGE}", "command": ["sh", "-c", {script:?}]{extra_container}}}]}}}}"#
    )
}

#[tokio::test]
async fn deployment_runs_in_real_containers_and_survives_an_agent_restart() {
    if !can_run() {
        return;
    }
    let mut node = Node::start().await;
    node.ok(&[
        "create",
        "deployment",
        "my-api",
        "--image",
        IMAGE,
        "--replicas",
        "3",
        "--",
        "sh",
        "-c",
        "echo started $(hostname); exec httpd -f -p 8080",
    ])
    .await;
    node.ok(&["rollout", "status", "deployment/my-api", "--timeout=60s"])
        .await;
    let ips = node
        .get("pods", "{range .items[*]}{.status.podIP} {end}")
        .await;
    let ips: Vec<&str> = ips.split_whitespace().collect();
    assert_eq!(ips.len(), 3, "three pod IPs: {ips:?}");
    let prefix = node
        .get(&format!("node/{}", node.name), "{.spec.podCIDR}")
        .await;
    let prefix = prefix
        .rsplit_once('.')
        .map(|(p, _)| p.to_owned())
        .unwrap_or_default();
    for ip in &ips {
        assert!(
            ip.starts_with(&prefix),
            "{ip} is in the node's pod CIDR {prefix}.0/24"
        );
        // A real process answers on the pod's own IP.
        let out = std::process::Command::new("busybox")
            .args(["wget", "-q", "-O", "-", &format!("http://{ip}:8080/")])
            .output()
            .expect("wget runs");
        let answer = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(answer.contains("404"), "httpd answers on {ip}: {answer}");
    }
    let ready = node
        .get("deployment/my-api", "{.status.readyReplicas}")
        .await;
    assert_eq!(ready, "3");

    // The events from scheduling to start, as kubectl describe shows them.
    let describe = node.ok(&["describe", "pods", "-l", "app=my-api"]).await;
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(describe.contains(reason), "{reason} in:\n{describe}");
    }
    assert!(
        describe.contains("already present on machine"),
        "{describe}"
    );

    // Restarting the agent (the whole server) restarts no container.
    let ids = node
        .get(
            "pods",
            "{range .items[*]}{.status.containerStatuses[0].containerID} {end}",
        )
        .await;
    node.stop();
    node.spawn();
    node.eventually("the API answers again", Duration::from_secs(30), || async {
        node.kubectl(&["get", "--raw", "/readyz"])
            .await
            .status
            .success()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = node
        .get(
            "pods",
            "{range .items[*]}{.status.containerStatuses[0].containerID} {end}",
        )
        .await;
    assert_eq!(ids, after, "the same containers");
    let restarts = node
        .get(
            "pods",
            "{range .items[*]}{.status.containerStatuses[0].restartCount}{end}",
        )
        .await;
    assert_eq!(restarts, "000");

    // Deleting a pod stops it within its grace period; the Deployment replaces it.
    let victim = node.get("pods", "{.items[0].metadata.name}").await;
    let started = std::time::Instant::now();
    node.ok(&["delete", "pod", &victim, "--grace-period=3"])
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "deleted within the grace period"
    );
    node.ok(&["rollout", "status", "deployment/my-api", "--timeout=60s"])
        .await;
}

#[tokio::test]
async fn crashes_restart_with_back_off_and_oom_kills_show() {
    if !can_run() {
        return;
    }
    let node = Node::start().await;
    node.apply(&pod("crash", "Always", "echo dying; exit 1", ""))
        .await;
    let limits = r#", "resources": {"limits": {"memory": "32Mi"}}"#;
    node.apply(&pod("hog", "Never", "tail /dev/zero", limits))
        .await;

    node.eventually(
        "crash shows CrashLoopBackOff",
        Duration::from_secs(60),
        || async {
            node.get(
                "pod/crash",
                "{.status.containerStatuses[0].state.waiting.reason}",
            )
            .await
                == "CrashLoopBackOff"
        },
    )
    .await;
    node.eventually(
        "crash restarted at least twice",
        Duration::from_secs(60),
        || async {
            let n = node
                .get("pod/crash", "{.status.containerStatuses[0].restartCount}")
                .await;
            n.parse::<u32>().unwrap_or(0) >= 2
        },
    )
    .await;
    let last = node
        .get(
            "pod/crash",
            "{.status.containerStatuses[0].lastState.terminated.exitCode}",
        )
        .await;
    assert_eq!(last, "1");
    // The back-off grows: the waiting message names a longer delay after each crash
    // (1 s, 2 s, 4 s, 8 s with the test's --crash-loop-backoff 1s and max 8s).
    let delays = std::sync::Mutex::new(std::collections::BTreeSet::new());
    node.eventually("the back-off doubles", Duration::from_secs(60), || async {
        let message = node
            .get(
                "pod/crash",
                "{.status.containerStatuses[0].state.waiting.message}",
            )
            .await;
        if let Some(delay) = message
            .strip_prefix("back-off ")
            .filter(|_| message.contains("restarting failed container=c pod=crash_default"))
            .and_then(|rest| rest.split_once('s'))
            .and_then(|(n, _)| n.parse::<u32>().ok())
        {
            delays.lock().unwrap().insert(delay);
        }
        let seen = delays.lock().unwrap();
        seen.len() >= 2
    })
    .await;
    let all = node.ok(&["get", "events", "-A"]).await;
    let events = node
        .ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=crash",
        ])
        .await;
    assert!(
        events.contains("Back-off restarting failed container c in pod crash_default"),
        "{events}\nall events:\n{all}"
    );

    node.eventually("hog is OOMKilled", Duration::from_secs(60), || async {
        node.get(
            "pod/hog",
            "{.status.containerStatuses[0].state.terminated.reason}",
        )
        .await
            == "OOMKilled"
    })
    .await;
    assert_eq!(node.get("pod/hog", "{.status.phase}").await, "Failed");
    let listed = node.ok(&["get", "pod", "hog"]).await;
    assert!(listed.contains("OOMKilled"), "{listed}");
}

#[tokio::test]
async fn probes_restart_live_containers_and_gate_readiness() {
    if !can_run() {
        return;
    }
    let node = Node::start().await;
    // Liveness: healthy while /tmp/alive exists, which the container removes after 3 s.
    let liveness = r#", "livenessProbe": {"exec": {"command": ["test", "-e", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 1}"#;
    node.apply(&pod(
        "live",
        "Always",
        "touch /tmp/alive; sleep 3; rm /tmp/alive; sleep 3600",
        liveness,
    ))
    .await;
    // Readiness: an HTTP probe on a port nothing listens on.
    let readiness =
        r#", "readinessProbe": {"httpGet": {"path": "/", "port": 9999}, "periodSeconds": 1}"#;
    node.apply(&pod(
        "unready",
        "Always",
        "exec httpd -f -p 8080",
        readiness,
    ))
    .await;

    node.eventually(
        "live is restarted by its liveness probe",
        Duration::from_secs(60),
        || async {
            let n = node
                .get("pod/live", "{.status.containerStatuses[0].restartCount}")
                .await;
            n.parse::<u32>().unwrap_or(0) >= 1
        },
    )
    .await;
    let events = node
        .ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=live",
        ])
        .await;
    assert!(events.contains("Liveness probe failed"), "{events}");
    assert!(
        events.contains("failed liveness probe, will be restarted"),
        "{events}"
    );

    node.eventually("unready runs", Duration::from_secs(60), || async {
        node.get("pod/unready", "{.status.phase}").await == "Running"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ready = node
        .get(
            "pod/unready",
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        )
        .await;
    assert_eq!(
        ready, "False",
        "a failing readiness probe keeps the pod not Ready"
    );
    let events = node
        .ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=unready",
        ])
        .await;
    assert!(events.contains("Readiness probe failed"), "{events}");
}

#[tokio::test]
async fn imported_images_config_maps_that_follow_updates_and_service_links() {
    if !can_run() {
        return;
    }
    let node = Node::start().await;
    // `barge image import`, the on-demand air-gap path, under a second name.
    let other = "docker.io/library/busybox:imported";
    let tar = std::env::temp_dir().join(format!("barge-e2e-import-{}.tar", std::process::id()));
    let built = std::process::Command::new(crate::BARGE)
        .args(["image", "busybox", "--name", other, "-o"])
        .arg(&tar)
        .output()
        .expect("barge image busybox");
    assert!(built.status.success());
    let imported = node.barge(&["image", "import"], &[tar.as_path()]);
    let _ = std::fs::remove_file(&tar);
    assert!(
        imported.contains(&format!("imported {other}")),
        "{imported}"
    );
    assert!(node.barge_image_ls().contains("busybox"));

    node.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal",
        "greeting=hello",
    ])
    .await;
    node.ok(&[
        "create",
        "service",
        "clusterip",
        "my-api",
        "--tcp",
        "80:8080",
    ])
    .await;
    let manifest = format!(
        r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "reader"}},
  "spec": {{"terminationGracePeriodSeconds": 1,
    "containers": [{{"name": "c", "image": "{other}", "command": ["sleep", "3600"],
      "env": [{{"name": "GREETING", "valueFrom": {{"configMapKeyRef": {{"name": "settings", "key": "greeting"}}}}}}],
      "volumeMounts": [{{"name": "cfg", "mountPath": "/etc/cfg"}}]}}],
    "volumes": [{{"name": "cfg", "configMap": {{"name": "settings"}}}}]}}}}"#
    );
    node.apply(&manifest).await;
    node.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/reader",
        "--timeout=60s",
    ])
    .await;
    assert_eq!(
        node.ok(&["exec", "reader", "--", "cat", "/etc/cfg/greeting"])
            .await,
        "hello"
    );
    let env = node.ok(&["exec", "reader", "--", "env"]).await;
    assert!(env.contains("GREETING=hello"), "{env}");
    assert!(env.contains("MY_API_SERVICE_HOST="), "service links: {env}");
    assert!(env.contains("MY_API_SERVICE_PORT=80"), "{env}");
    assert!(env.contains("KUBERNETES_SERVICE_HOST="), "{env}");
    // The ServiceAccount token, its CA and namespace, where in-cluster clients look.
    let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    assert_eq!(
        node.ok(&["exec", "reader", "--", "cat", &format!("{sa}/namespace")])
            .await,
        "default"
    );
    let ca = node
        .ok(&["exec", "reader", "--", "cat", &format!("{sa}/ca.crt")])
        .await;
    assert!(ca.contains("BEGIN CERTIFICATE"), "{ca}");
    let token = node
        .ok(&["exec", "reader", "--", "cat", &format!("{sa}/token")])
        .await;
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");

    // A ConfigMap update reaches the running container's files.
    node.ok(&[
        "patch",
        "configmap",
        "settings",
        "-p",
        r#"{"data": {"greeting": "updated"}}"#,
    ])
    .await;
    node.eventually(
        "the volume follows the update",
        Duration::from_secs(40),
        || async {
            node.ok(&["exec", "reader", "--", "cat", "/etc/cfg/greeting"])
                .await
                == "updated"
        },
    )
    .await;
}
