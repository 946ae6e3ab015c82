//! Hollow nodes against an in-process API server (SQLite store in a temporary directory), read
//! back through kube-rs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use barge_apiserver::{Config, Server};
use barge_hollow::{HOLLOW_LABEL, Options};
use barge_store::{SqliteOptions, SqliteStore};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server on an embedded SQLite store, and an admin client for it.
struct Cluster {
    _server: Server,
    _dir: tempfile::TempDir,
    client: Client,
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(SqliteOptions::new(dir.path().join("state.db"))).unwrap();
        let mut config = Config::new(dir.path().join("server"));
        config.bind_address = "127.0.0.1".parse().unwrap();
        config.https_port = 0;
        let server = Server::start(config, Arc::new(store))
            .await
            .expect("server starts");
        let kubeconfig = Kubeconfig::from_yaml(&server.admin_kubeconfig()).unwrap();
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .unwrap();
        Self {
            _server: server,
            _dir: dir,
            client: Client::try_from(config).unwrap(),
        }
    }

    /// Starts hollow nodes; they stop when the sender is dropped.
    fn hollow(&self, options: Options) -> (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>) {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(barge_hollow::run(self.client.clone(), options, async {
            let _ = stopped.await;
        }));
        (stop, task)
    }
}

/// Polls `check` until it gives a value, for at most 20 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod_ready(p: &Pod) -> bool {
    let s = p.status.as_ref();
    s.and_then(|s| s.phase.as_deref()) == Some("Running")
        && s.and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        && s.and_then(|s| s.pod_ip.as_ref()).is_some()
}

fn pod(name: &str, node: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "initContainers": [{"name": "setup", "image": "busybox"}],
            "containers": [{"name": "app", "image": "nginx:1.27"}],
        },
    }))
    .unwrap()
}

async fn renew_time(leases: &Api<Lease>, name: &str) -> String {
    let lease = leases.get(name).await.unwrap();
    serde_json::to_value(lease.spec.unwrap().renew_time)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_register_renew_leases_and_run_pods() {
    let cluster = Cluster::start().await;
    let options = Options {
        nodes: 3,
        name_prefix: "t-".into(),
        lease_renew_interval: Duration::from_millis(300),
        status_update_interval: Duration::from_secs(1),
        termination_delay: Duration::from_millis(200),
        ..Options::default()
    };
    let (stop, task) = cluster.hollow(options);
    let client = cluster.client.clone();

    // Three nodes register and are Ready.
    let nodes: Api<Node> = Api::all(client.clone());
    let list = eventually("3 Ready nodes", || async {
        let list = nodes
            .list(&ListParams::default().labels(&format!("{HOLLOW_LABEL}=true")))
            .await
            .unwrap();
        (list.items.len() == 3 && list.items.iter().all(ready)).then_some(list.items)
    })
    .await;
    let mut ips: Vec<_> = list
        .iter()
        .map(|n| {
            let s = n.status.as_ref().unwrap();
            assert_eq!(s.node_info.as_ref().unwrap().kubelet_version, "v1.32.4");
            assert_eq!(s.allocatable.as_ref().unwrap()["pods"].0, "110");
            let labels = n.metadata.labels.as_ref().unwrap();
            assert_eq!(
                labels["kubernetes.io/hostname"],
                *n.metadata.name.as_ref().unwrap()
            );
            let addrs = s.addresses.as_ref().unwrap();
            addrs
                .iter()
                .find(|a| a.type_ == "InternalIP")
                .unwrap()
                .address
                .clone()
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "unique InternalIPs");

    // Each node's lease is held by it, owned by its Node, and renewed.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = leases.get("t-0").await.unwrap();
    let spec = lease.spec.as_ref().unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("t-0"));
    assert_eq!(spec.lease_duration_seconds, Some(40));
    let owner = &lease.metadata.owner_references.as_ref().unwrap()[0];
    let node0 = nodes.get("t-0").await.unwrap();
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Node", "t-0"));
    assert_eq!(Some(&owner.uid), node0.metadata.uid.as_ref());
    let first = renew_time(&leases, "t-0").await;
    eventually("a lease renewal", || async {
        (renew_time(&leases, "t-0").await > first).then_some(())
    })
    .await;

    // A pod bound to a hollow node runs; one bound to a node of no hollow process does not.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("web", "t-1"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("stray", "elsewhere"))
        .await
        .unwrap();
    let web = eventually("a running pod", || async {
        let p = pods.get("web").await.unwrap();
        pod_ready(&p).then_some(p)
    })
    .await;
    let status = web.status.unwrap();
    assert_eq!(status.host_ip.as_deref(), Some("10.200.0.2"));
    assert!(status.pod_ip.as_deref().unwrap().starts_with("10.128.1."));
    let app = &status.container_statuses.unwrap()[0];
    assert!(app.ready && app.started == Some(true));
    assert!(app.state.as_ref().unwrap().running.is_some());
    let uid = web.metadata.uid.unwrap();
    assert_eq!(
        app.container_id.as_deref(),
        Some(&*format!("hollow://{uid}-app"))
    );
    let setup = &status.init_container_statuses.unwrap()[0];
    assert_eq!(
        setup
            .state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        0
    );
    let stray = pods.get("stray").await.unwrap();
    assert_ne!(
        stray.status.and_then(|s| s.phase).as_deref(),
        Some("Running")
    );

    // With a podCIDR on the node, pod IPs come from it.
    let node_patch = json!({"spec": {"podCIDR": "10.42.5.0/24", "podCIDRs": ["10.42.5.0/24"]}});
    nodes
        .patch("t-2", &PatchParams::default(), &Patch::Merge(&node_patch))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    pods.create(&PostParams::default(), &pod("api", "t-2"))
        .await
        .unwrap();
    let api = eventually("a pod on the podCIDR", || async {
        let p = pods.get("api").await.unwrap();
        pod_ready(&p).then_some(p)
    })
    .await;
    let ip = api.status.unwrap().pod_ip.unwrap();
    assert!(ip.starts_with("10.42.5."), "{ip}");

    // A graceful deletion: the server marks the pod, the hollow kubelet finishes it.
    let marked = pods
        .delete(
            "web",
            &DeleteParams {
                grace_period_seconds: Some(30),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    let marked = marked
        .left()
        .expect("a pod on a node is deleted gracefully");
    assert!(marked.metadata.deletion_timestamp.is_some());
    eventually("the pod gone", || async {
        pods.get_opt("web").await.unwrap().is_none().then_some(())
    })
    .await;

    // Stopping leaves the Nodes behind, as a dead kubelet does.
    drop(stop);
    task.await.unwrap().unwrap();
    assert!(nodes.get_opt("t-0").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_after_stops_every_renewal() {
    let cluster = Cluster::start().await;
    let options = Options {
        nodes: 2,
        name_prefix: "dying-".into(),
        lease_renew_interval: Duration::from_millis(200),
        fail_after: Some(Duration::from_secs(1)),
        ..Options::default()
    };
    let (_stop, task) = cluster.hollow(options);
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), "kube-node-lease");
    eventually("the leases", || async {
        leases.get_opt("dying-1").await.unwrap().map(drop)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = renew_time(&leases, "dying-1").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        renew_time(&leases, "dying-1").await,
        before,
        "no renewal after failing"
    );
    assert!(!task.is_finished(), "the process lives on");
}

/// Prints how long 1,000 nodes take to register and 5,000 pods to run (dev profile, the API
/// server in the same process): `cargo nextest run -p barge-hollow --run-ignored only`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
async fn scale_figures() {
    use futures_util::StreamExt;
    const NODES: usize = 1_000;
    const PODS: usize = 5_000;
    let cluster = Cluster::start().await;
    let started = tokio::time::Instant::now();
    let (_stop, _task) = cluster.hollow(Options {
        nodes: NODES,
        name_prefix: "s-".into(),
        ..Options::default()
    });
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    eventually("all nodes", || async {
        let n = nodes
            .list_metadata(&ListParams::default())
            .await
            .unwrap()
            .items
            .len();
        (n == NODES).then_some(())
    })
    .await;
    eprintln!("{NODES} nodes registered in {:?}", started.elapsed());

    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let started = tokio::time::Instant::now();
    futures_util::stream::iter(0..PODS)
        .for_each_concurrent(32, |i| {
            let pods = pods.clone();
            async move {
                let p = pod(&format!("p-{i}"), &format!("s-{}", i % NODES));
                pods.create(&PostParams::default(), &p).await.unwrap();
            }
        })
        .await;
    eprintln!("{PODS} pods created in {:?}", started.elapsed());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let running = pods
            .list_metadata(&ListParams::default().fields("status.phase=Running"))
            .await
            .unwrap()
            .items
            .len();
        if running == PODS || tokio::time::Instant::now() > deadline {
            eprintln!(
                "{running} pods running {:?} after the first create",
                started.elapsed()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
