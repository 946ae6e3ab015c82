//! The seed's promises on hollow nodes: desired state kept, rolling updates within bounds,
//! rollback, scaling, self-healing, node death, and the other workload kinds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;

use crate::Cluster;

const MINUTE: Duration = Duration::from_secs(60);

fn deployment(name: &str, replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: app
        image: {image}
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
"
    )
}

/// The pods of `app` that are not being deleted: name → (node, ready).
async fn pods(c: &Cluster, app: &str) -> BTreeMap<String, (String, bool)> {
    let out = c
        .jsonpath(
            &["pods", "-l", &format!("app={app}")],
            r#"{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\n"}{end}"#,
        )
        .await;
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() >= 3 && f.get(3).is_none_or(|d| d.is_empty()))
                .then(|| (f[0].to_owned(), (f[1].to_owned(), f[2] == "True")))
        })
        .collect()
}

async fn ready_count(c: &Cluster, app: &str) -> usize {
    pods(c, app)
        .await
        .values()
        .filter(|(_, ready)| *ready)
        .count()
}

/// Watches the pods of `app` until `stop` fires and records, after every event, how many exist
/// (not being deleted) and how many of those are Ready.
fn observe(
    kubeconfig: PathBuf,
    app: &str,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<Vec<(usize, usize)>> {
    let selector = format!("app={app}");
    tokio::spawn(async move {
        let client = client(&kubeconfig).await;
        let api: kube::Api<Pod> = kube::Api::default_namespaced(client);
        let mut events = std::pin::pin!(watcher::watcher(
            api,
            watcher::Config::default().labels(&selector)
        ));
        let mut state: BTreeMap<String, Pod> = BTreeMap::new();
        let mut seen = Vec::new();
        let mut listed = false;
        loop {
            let event = tokio::select! {
                _ = &mut stop => break,
                event = events.next() => event,
            };
            let Some(Ok(event)) = event else { break };
            match event {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                    state.insert(p.metadata.name.clone().unwrap_or_default(), p);
                }
                watcher::Event::Delete(p) => {
                    state.remove(&p.metadata.name.clone().unwrap_or_default());
                }
                watcher::Event::Init => state.clear(),
                watcher::Event::InitDone => listed = true,
            }
            if !listed {
                continue;
            }
            let live: Vec<&Pod> = state
                .values()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            let ready = live
                .iter()
                .filter(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count();
            seen.push((live.len(), ready));
        }
        seen
    })
}

async fn client(kubeconfig: &std::path::Path) -> kube::Client {
    let file = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

#[tokio::test]
async fn a_deployment_spreads_rolls_out_within_bounds_rolls_back_and_scales() {
    let mut c = Cluster::start().await;
    c.add_nodes("node-", 3, &[]).await;
    let file = c.file("v1.yaml", &deployment("my-api", 3, "my-api:v1"));
    c.ok(&["apply", "-f", &file]).await;
    let status = c
        .ok(&["rollout", "status", "deployment/my-api", "--timeout=60s"])
        .await;
    assert!(status.contains("successfully rolled out"), "{status}");
    let running = pods(&c, "my-api").await;
    assert_eq!(running.len(), 3, "{running:?}");
    let nodes: BTreeSet<&String> = running.values().map(|(n, _)| n).collect();
    assert_eq!(nodes.len(), 3, "one pod per node: {running:?}");

    // A new image rolls out; every observed moment stays within maxSurge=1, maxUnavailable=0.
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let watch = observe(c.path("kubeconfig"), "my-api", stopped);
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.ok(&["set", "image", "deployment/my-api", "app=my-api:v2"])
        .await;
    c.ok(&["rollout", "status", "deployment/my-api", "--timeout=60s"])
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop.send(());
    let seen = watch.await.expect("the watch ran");
    assert!(seen.len() > 6, "the rollout was watched: {seen:?}");
    for (live, ready) in &seen {
        assert!(*live <= 4, "more than replicas + maxSurge pods: {seen:?}");
        assert!(
            *ready >= 3,
            "fewer than replicas - maxUnavailable ready: {seen:?}"
        );
    }
    let images = c
        .jsonpath(
            &["deployment", "my-api"],
            "{.spec.template.spec.containers[0].image}",
        )
        .await;
    assert_eq!(images, "my-api:v2");

    let history = c.ok(&["rollout", "history", "deployment/my-api"]).await;
    assert!(
        history.contains("REVISION") && history.contains("1") && history.contains("2"),
        "{history}"
    );
    c.ok(&["rollout", "undo", "deployment/my-api"]).await;
    c.ok(&["rollout", "status", "deployment/my-api", "--timeout=60s"])
        .await;
    let image = c
        .jsonpath(
            &["deployment", "my-api"],
            "{.spec.template.spec.containers[0].image}",
        )
        .await;
    assert_eq!(image, "my-api:v1");

    c.ok(&["scale", "deployment/my-api", "--replicas=5"]).await;
    c.eventually("5 pods are ready", MINUTE, || async {
        ready_count(&c, "my-api").await == 5
    })
    .await;
    c.ok(&["scale", "deployment/my-api", "--replicas=1"]).await;
    c.eventually("1 pod is left", MINUTE, || async {
        pods(&c, "my-api").await.len() == 1
    })
    .await;
}

#[tokio::test]
async fn deleted_pods_are_replaced_and_a_deleted_deployment_takes_its_pods() {
    let mut c = Cluster::start().await;
    c.add_nodes("node-", 2, &[]).await;
    c.ok(&[
        "apply",
        "-f",
        &c.file("d.yaml", &deployment("web", 3, "web:1")),
    ])
    .await;
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    let before = pods(&c, "web").await;
    let victim = before.keys().next().expect("a pod").clone();
    c.ok(&["delete", "pod", &victim]).await;
    c.eventually("a replacement is ready", MINUTE, || async {
        let now = pods(&c, "web").await;
        !now.contains_key(&victim) && now.values().filter(|(_, r)| *r).count() == 3
    })
    .await;

    c.ok(&["delete", "deployment", "web"]).await;
    c.eventually("the replica sets and pods are gone", MINUTE, || async {
        c.ok(&["get", "rs,pods", "-o", "name"])
            .await
            .trim()
            .is_empty()
    })
    .await;
}

#[tokio::test]
async fn the_pods_of_a_dead_node_move_to_the_others() {
    let mut c = Cluster::start().await;
    c.add_nodes("live-", 2, &[]).await;
    let doomed = c.add_nodes("doomed-", 1, &[]).await;
    c.ok(&[
        "apply",
        "-f",
        &c.file("d.yaml", &deployment("my-api", 3, "my-api:v1")),
    ])
    .await;
    c.ok(&["rollout", "status", "deployment/my-api", "--timeout=60s"])
        .await;
    assert!(
        pods(&c, "my-api")
            .await
            .values()
            .any(|(n, _)| n == "doomed-0"),
        "the pods spread over the three nodes"
    );

    c.kill(doomed).await;
    c.eventually("the dead node is not Ready", MINUTE, || async {
        c.jsonpath(
            &["node", "doomed-0"],
            r#"{.status.conditions[?(@.type=="Ready")].status}"#,
        )
        .await
            == "Unknown"
    })
    .await;
    let taints = c
        .jsonpath(&["node", "doomed-0"], "{.spec.taints[*].key}")
        .await;
    assert!(
        taints.contains("node.kubernetes.io/unreachable"),
        "{taints}"
    );
    c.eventually("3 pods are ready on the live nodes", MINUTE, || async {
        let now = pods(&c, "my-api").await;
        now.len() == 3 && now.values().all(|(n, r)| *r && n.starts_with("live-"))
    })
    .await;
    let available = c
        .jsonpath(&["deployment", "my-api"], "{.status.availableReplicas}")
        .await;
    assert_eq!(available, "3");
}

#[tokio::test]
async fn jobs_daemon_sets_and_stateful_sets() {
    let mut c = Cluster::start().await;
    c.add_nodes("node-", 2, &[]).await;

    c.ok(&["create", "job", "once", "--image=busybox", "--", "true"])
        .await;
    c.ok(&[
        "wait",
        "--for=condition=complete",
        "job/once",
        "--timeout=60s",
    ])
    .await;

    let ds = "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
      - name: agent
        image: agent:1
";
    c.ok(&["apply", "-f", &c.file("ds.yaml", ds)]).await;
    c.eventually("one agent pod per node", MINUTE, || async {
        let now = pods(&c, "agent").await;
        let nodes: BTreeSet<&String> = now.values().map(|(n, _)| n).collect();
        now.len() == 2 && nodes.len() == 2
    })
    .await;

    let sts = "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: web:1
";
    c.ok(&["apply", "-f", &c.file("sts.yaml", sts)]).await;
    c.ok(&["rollout", "status", "statefulset/web", "--timeout=60s"])
        .await;
    let created = c
        .jsonpath(
            &[
                "pods",
                "-l",
                "app=web",
                "--sort-by=.metadata.creationTimestamp",
            ],
            "{.items[*].metadata.name}",
        )
        .await;
    assert_eq!(created, "web-0 web-1 web-2");
}

#[tokio::test]
async fn a_pod_that_fits_nowhere_waits_until_a_node_can_take_it() {
    let mut c = Cluster::start().await;
    c.add_nodes("small-", 3, &["--cpu", "1"]).await;
    c.ok(&["run", "big", "--image=big:1", "--overrides", r#"{"spec":{"containers":[{"name":"big","image":"big:1","resources":{"requests":{"cpu":"2"}}}]}}"#])
        .await;
    c.eventually("a FailedScheduling event", MINUTE, || async {
        c.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=big",
        ])
        .await
        .contains("0/3 nodes are available: 3 Insufficient cpu.")
    })
    .await;
    let condition = c
        .jsonpath(
            &["pod", "big"],
            r#"{.status.conditions[?(@.type=="PodScheduled")].reason}"#,
        )
        .await;
    assert_eq!(condition, "Unschedulable");

    c.add_nodes("large-", 1, &["--cpu", "4"]).await;
    c.eventually("the pod runs on the new node", MINUTE, || async {
        c.jsonpath(&["pod", "big"], "{.spec.nodeName} {.status.phase}")
            .await
            == "large-0 Running"
    })
    .await;
}

#[tokio::test]
async fn deleting_a_namespace_deletes_what_it_holds_then_the_namespace() {
    let mut c = Cluster::start().await;
    c.add_nodes("node-", 1, &[]).await;
    c.ok(&["create", "namespace", "shop"]).await;
    c.ok(&[
        "-n",
        "shop",
        "create",
        "deployment",
        "cart",
        "--image=cart:1",
        "--replicas=2",
    ])
    .await;
    c.ok(&[
        "-n",
        "shop",
        "create",
        "configmap",
        "settings",
        "--from-literal=a=b",
    ])
    .await;
    c.ok(&[
        "-n",
        "shop",
        "rollout",
        "status",
        "deployment/cart",
        "--timeout=60s",
    ])
    .await;
    let sa = c
        .jsonpath(
            &["-n", "shop", "serviceaccount", "default"],
            "{.metadata.name}",
        )
        .await;
    assert_eq!(
        sa, "default",
        "every namespace gets its default ServiceAccount"
    );

    c.ok(&["delete", "namespace", "shop", "--timeout=60s"])
        .await;
    let gone = c.kubectl(&["get", "namespace", "shop"]).await;
    assert!(
        !gone.status.success(),
        "the namespace is gone once its content is"
    );
    let left = c
        .ok(&[
            "get",
            "pods,rs,deploy,configmaps",
            "-n",
            "shop",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(left.trim(), "");
}

#[tokio::test]
async fn drain_evicts_within_the_disruption_budget() {
    let mut c = Cluster::start().await;
    c.add_nodes("node-", 3, &[]).await;
    c.ok(&[
        "apply",
        "-f",
        &c.file("d.yaml", &deployment("web", 3, "web:1")),
    ])
    .await;
    c.ok(&[
        "create",
        "pdb",
        "web",
        "--selector=app=web",
        "--min-available=2",
    ])
    .await;
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    c.eventually("the budget allows one disruption", MINUTE, || async {
        c.jsonpath(&["pdb", "web"], "{.status.disruptionsAllowed}")
            .await
            == "1"
    })
    .await;

    // One pod may go: the drain evicts it and the node is cordoned.
    c.ok(&["drain", "node-0", "--ignore-daemonsets", "--timeout=60s"])
        .await;
    assert_eq!(
        c.jsonpath(&["node", "node-0"], "{.spec.unschedulable}")
            .await,
        "true"
    );
    c.eventually("3 pods are ready off node-0", MINUTE, || async {
        let now = pods(&c, "web").await;
        now.len() == 3 && now.values().all(|(n, r)| *r && n != "node-0")
    })
    .await;

    // With minAvailable 3, no pod may go: the eviction is refused and the drain gives up.
    c.ok(&[
        "patch",
        "pdb",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"minAvailable":3}}"#,
    ])
    .await;
    c.eventually("the budget allows nothing", MINUTE, || async {
        c.jsonpath(&["pdb", "web"], "{.status.disruptionsAllowed}")
            .await
            == "0"
    })
    .await;
    let out = c
        .kubectl(&["drain", "node-1", "--ignore-daemonsets", "--timeout=5s"])
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    assert_eq!(pods(&c, "web").await.len(), 3, "nothing was evicted");
}

#[tokio::test]
async fn standalone_schedulers_elect_a_leader_and_a_second_takes_over() {
    let mut c = Cluster::start_with(&["--disable-scheduler", "--disable-controller-manager"]).await;
    c.add_component("controller-manager");
    let first = c.add_component("scheduler");
    let second = c.add_component("scheduler");
    c.add_nodes("node-", 2, &[]).await;
    c.ok(&[
        "apply",
        "-f",
        &c.file("d.yaml", &deployment("web", 2, "web:1")),
    ])
    .await;
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;

    // The Lease names the leader (host_pid); kill it, and the other one schedules after the
    // Lease expires (15 s).
    let holder = c
        .jsonpath(
            &["-n", "kube-system", "lease", "kube-scheduler"],
            "{.spec.holderIdentity}",
        )
        .await;
    let (leader, follower) = if holder.ends_with(&format!("_{}", first.1)) {
        (first, second)
    } else {
        (second, first)
    };
    assert!(holder.ends_with(&format!("_{}", leader.1)), "{holder}");
    c.kill(leader.0).await;
    c.ok(&["scale", "deployment/web", "--replicas=4"]).await;
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    let holder = c
        .jsonpath(
            &["-n", "kube-system", "lease", "kube-scheduler"],
            "{.spec.holderIdentity}",
        )
        .await;
    assert!(holder.ends_with(&format!("_{}", follower.1)), "{holder}");
}
