//! Resource metrics and the HorizontalPodAutoscaler on a real node: `kubectl top` shows what
//! busy and idle containers use, and a Deployment with an HPA at 50% cpu scales up when its
//! pods burn cpu and back down after the stabilization window when they stop.

use std::time::{Duration, Instant};

use super::{IMAGE, Node, can_run};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// `250m` or `1` (cores) in millicores.
fn millicores(text: &str) -> Option<u64> {
    match text.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => text.parse::<u64>().ok().map(|c| c * 1000),
    }
}

/// The columns of the line of `kubectl top ... --no-headers` that starts with `name`.
async fn top_line(node: &Node, args: &[&str], name: &str) -> Option<Vec<String>> {
    let out = node.kubectl(args).await;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let cols: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
        (cols.first().map(String::as_str) == Some(name)).then_some(cols)
    })
}

fn pod(name: &str, command: &str, cpu_limit: &str, volume: Option<&str>) -> String {
    let volume_json = volume.map_or_else(String::new, |dir| {
        format!(
            r#","volumes":[{{"name":"load","hostPath":{{"path":"{dir}","type":"Directory"}}}}]"#
        )
    });
    let mount = if volume.is_some() {
        r#","volumeMounts":[{"name":"load","mountPath":"/load"}]"#
    } else {
        ""
    };
    format!(
        r#"{{"metadata":{{"name":"{name}","labels":{{"app":"{name}"}}}},"spec":{{"terminationGracePeriodSeconds":1,
        "containers":[{{"name":"{name}","image":"{IMAGE}","command":["sh","-c","{command}"],
        "resources":{{"requests":{{"cpu":"100m","memory":"16Mi"}},"limits":{{"cpu":"{cpu_limit}"}}}}{mount}}}]{volume_json}}}}}"#
    )
}

#[tokio::test]
async fn kubectl_top_shows_what_containers_use() {
    if !can_run() {
        return;
    }
    let node = Node::start_with(|n| n.extra_args = args(&["--metric-resolution", "2s"])).await;
    for (name, command) in [("burn", "while :; do :; done"), ("idle", "exec sleep 3600")] {
        let spec = pod(name, command, "1", None);
        node.apply(&format!(
            r#"{{"apiVersion":"v1","kind":"Pod",{}"#,
            &spec[1..]
        ))
        .await;
    }
    node.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/burn",
        "pod/idle",
        "--timeout=60s",
    ])
    .await;

    // A busy loop limited to one core shows about one core (CI may share the cores).
    let burn = std::cell::Cell::new(0);
    node.eventually(
        "kubectl top shows the busy pod",
        Duration::from_secs(60),
        || async {
            let cols = top_line(&node, &["top", "pod", "burn", "--no-headers"], "burn").await;
            burn.set(
                cols.and_then(|c| c.get(1).and_then(|cpu| millicores(cpu)))
                    .unwrap_or(0),
            );
            burn.get() >= 400
        },
    )
    .await;
    let burn = burn.get();
    println!("busy pod: {burn}m");
    assert!(burn <= 1100, "limited to one core, shows {burn}m");
    let idle = top_line(&node, &["top", "pod", "idle", "--no-headers"], "idle")
        .await
        .expect("the idle pod has metrics");
    println!("idle pod: {idle:?}");
    assert!(millicores(&idle[1]).unwrap() < 50, "{idle:?}");
    assert!(
        idle[2].ends_with("Mi") || idle[2].ends_with("Ki"),
        "{idle:?}"
    );

    // Upstream's columns, --containers and -A.
    let table = node.ok(&["top", "pods"]).await;
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("CPU(cores)") && table.contains("MEMORY(bytes)"),
        "{table}"
    );
    let containers = top_line(
        &node,
        &["top", "pod", "burn", "--containers", "--no-headers"],
        "burn",
    )
    .await
    .expect("a line per container");
    assert_eq!(containers[1], "burn", "POD NAME CPU MEMORY: {containers:?}");
    let all = node.ok(&["top", "pods", "-A", "--no-headers"]).await;
    assert!(
        all.lines()
            .any(|l| l.starts_with("default") && l.contains("burn")),
        "{all}"
    );
    let selected = node
        .ok(&["top", "pods", "-l", "app=idle", "--no-headers"])
        .await;
    assert!(
        selected.contains("idle") && !selected.contains("burn"),
        "{selected}"
    );

    // The node: its cpu includes the busy pod's, and percentages of its allocatable.
    let cols = top_line(&node, &["top", "node", "--no-headers"], &node.name)
        .await
        .expect("the node has metrics");
    println!("node: {cols:?}");
    assert!(millicores(&cols[1]).unwrap() >= 300, "{cols:?}");
    assert!(cols[2].ends_with('%') && cols[4].ends_with('%'), "{cols:?}");

    // The API itself.
    let raw = node
        .ok(&[
            "get",
            "--raw",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burn",
        ])
        .await;
    let metrics: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(metrics["kind"], "PodMetrics", "{raw}");
    assert_eq!(metrics["window"], "2s", "{raw}");
    assert_eq!(metrics["metadata"]["labels"]["app"], "burn", "{raw}");
    let get = node.ok(&["get", "pods.metrics.k8s.io"]).await;
    assert!(get.contains("burn") && get.contains("WINDOW"), "{get}");

    // Errors as upstream's.
    let missing = node.kubectl(&["top", "pod", "nope"]).await;
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains(r#"Error from server (NotFound): pods "nope" not found"#),
        "{stderr}"
    );
    let write = node
        .kubectl(&["delete", "pods.metrics.k8s.io", "burn"])
        .await;
    assert!(!write.status.success());
    // Who may read them: `view` includes them, as metrics-server's aggregated role does.
    let can = node
        .kubectl(&[
            "auth",
            "can-i",
            "list",
            "pods.metrics.k8s.io",
            "--as=system:serviceaccount:default:default",
        ])
        .await;
    assert_eq!(String::from_utf8_lossy(&can.stdout).trim(), "no");
    node.ok(&[
        "create",
        "rolebinding",
        "viewers",
        "--clusterrole=view",
        "--serviceaccount=default:default",
    ])
    .await;
    node.eventually(
        "view lets the account read metrics",
        Duration::from_secs(10),
        || async {
            let can = node
                .kubectl(&[
                    "auth",
                    "can-i",
                    "list",
                    "pods.metrics.k8s.io",
                    "--as=system:serviceaccount:default:default",
                ])
                .await;
            String::from_utf8_lossy(&can.stdout).trim() == "yes"
        },
    )
    .await;
}

#[tokio::test]
async fn the_autoscaler_follows_the_load() {
    if !can_run() {
        return;
    }
    let load = tempfile::Builder::new()
        .prefix("barge-e2e-load-")
        .tempdir()
        .expect("a load dir");
    let node = Node::start_with(|n| {
        n.extra_args = args(&[
            "--metric-resolution",
            "2s",
            "--horizontal-pod-autoscaler-sync-period",
            "2s",
            "--horizontal-pod-autoscaler-downscale-stabilization",
            "15s",
            "--horizontal-pod-autoscaler-cpu-initialization-period",
            "5s",
            "--horizontal-pod-autoscaler-initial-readiness-delay",
            "5s",
        ]);
    })
    .await;
    // Each pod burns (up to its 200m limit: twice its request) while /load/on exists.
    let template = pod(
        "burner",
        "while :; do if [ -e /load/on ]; then :; else sleep 0.2; fi; done",
        "200m",
        load.path().to_str(),
    );
    node.apply(&format!(
        r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"burner"}},
        "spec":{{"replicas":1,"selector":{{"matchLabels":{{"app":"burner"}}}},"template":{template}}}}}"#
    ))
    .await;
    node.ok(&["rollout", "status", "deployment/burner", "--timeout=60s"])
        .await;
    node.ok(&[
        "autoscale",
        "deployment",
        "burner",
        "--cpu-percent=50",
        "--min=1",
        "--max=3",
    ])
    .await;
    let targets = || async {
        node.ok(&["get", "hpa", "burner", "--no-headers"])
            .await
            .split_whitespace()
            .nth(3)
            .unwrap_or_default()
            .to_owned()
    };
    node.eventually(
        "the HPA measures the idle pods",
        Duration::from_secs(60),
        || async {
            let t = targets().await;
            t.ends_with("%/50%") && !t.contains("unknown")
        },
    )
    .await;
    println!("idle: {}", node.ok(&["get", "hpa", "burner"]).await);
    let replicas = || async { node.get("deployment/burner", "{.spec.replicas}").await };
    assert_eq!(replicas().await, "1");

    std::fs::write(load.path().join("on"), "").expect("load on");
    let started = Instant::now();
    node.eventually(
        "the HPA scales up to its max",
        Duration::from_secs(60),
        || async { replicas().await == "3" },
    )
    .await;
    println!(
        "scaled up to 3 in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        node.ok(&["get", "hpa", "burner"]).await
    );
    node.ok(&["rollout", "status", "deployment/burner", "--timeout=60s"])
        .await;

    std::fs::remove_file(load.path().join("on")).expect("load off");
    let stopped = Instant::now();
    node.eventually(
        "the HPA scales back down",
        Duration::from_secs(90),
        || async { replicas().await == "1" },
    )
    .await;
    let down = stopped.elapsed();
    println!("scaled down to 1 in {:.1} s", down.as_secs_f64());
    assert!(
        down >= Duration::from_secs(12),
        "not before the 15 s stabilization window: {down:?}"
    );

    let describe = node.ok(&["describe", "hpa", "burner"]).await;
    println!("{describe}");
    for needle in [
        "SuccessfulRescale",
        "New size: 3; reason: cpu resource utilization (percentage of request) above target",
        "New size: 1; reason: All metrics below target",
        "ScalingActive",
    ] {
        assert!(describe.contains(needle), "{needle:?} in:\n{describe}");
    }
}
