//! Parity of `barge kubectl describe` with kubectl (see `parity/mod.rs`).

use std::time::Duration;

use super::Run;
use crate::Cluster;

/// Both kubectls with `args` until they agree, a few times at most, then [`Cluster::same`]
/// (which shows the difference). For output with a clock in it that the two runs can straddle:
/// a node's Lease RenewTime moves every second with the hollow nodes' 1s renewals.
async fn same_within_a_second(c: &Cluster, args: &[&str]) {
    for _ in 0..5 {
        let real = Run::of(c.command(args).output().await.expect("kubectl runs"));
        let ours = Run::of(c.barge_kubectl(args).await);
        if real == ours {
            return;
        }
    }
    c.same(args).await;
}

/// A cluster with two hollow nodes and `web` (2 replicas, exposed on port 80), running and
/// with both endpoints ready.
async fn cluster_with_web() -> Cluster {
    let c = super::cluster_with_web().await;
    c.ok(&["expose", "deployment", "web", "--port=80"]).await;
    c.eventually(
        "both endpoints of web are listed",
        Duration::from_secs(30),
        || async {
            let addresses = c
                .jsonpath(
                    &["endpointslices", "-l", "kubernetes.io/service-name=web"],
                    "{.items[*].endpoints[*].addresses[0]}",
                )
                .await;
            addresses.split_whitespace().count() == 2
        },
    )
    .await;
    c
}

#[tokio::test]
async fn describe_matches_kubectl_for_pods_workloads_services_nodes_and_namespaces() {
    let c = cluster_with_web().await;
    let pods = c
        .jsonpath(&["pods", "-l", "app=web"], "{.items[*].metadata.name}")
        .await;
    let pods: Vec<&str> = pods.split_whitespace().collect();
    assert_eq!(pods.len(), 2, "{pods:?}");
    let pod_slash = format!("pod/{}", pods[0]);

    let out = c.same(&["describe", "pod", pods[0]]).await;
    assert!(
        out.stdout.contains("Controlled By: ReplicaSet/web-"),
        "{out:?}"
    );
    c.same(&["describe", "deployment", "web"]).await;
    let out = c.same(&["describe", "rs"]).await;
    assert!(
        out.stdout
            .contains("Pods Status: 2 Running / 0 Waiting / 0 Succeeded / 0 Failed"),
        "{out:?}"
    );
    c.same(&["describe", "svc", "web"]).await;
    same_within_a_second(&c, &["describe", "node", "n-0"]).await;
    same_within_a_second(&c, &["describe", "nodes"]).await;
    c.same(&["describe", "ns", "default"]).await;
    c.same(&["describe", "namespaces"]).await;

    // Several objects, a selector, all namespaces, no events, two kinds at once.
    let out = c.same(&["describe", "pods"]).await;
    assert_eq!(out.stdout.matches("\nNamespace:").count(), 2, "{out:?}");
    c.same(&["describe", "pods", "-l", "app=web", "--show-events=false"])
        .await;
    c.same(&["describe", "po", "-A"]).await;
    c.same(&["describe", &pod_slash, "svc/web", "deploy/web"])
        .await;
    c.same(&["describe", "pods", "-l", "app=nothing"]).await;

    // A missing name is a prefix of the objects to describe, else NotFound.
    c.same(&["describe", "pods", "web"]).await;
    let out = c.same(&["describe", "pod", "nope"]).await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("(NotFound)"), "{out:?}");
    let out = c.same(&["describe", "pod", pods[0], "nope"]).await;
    assert_eq!(out.code, Some(1));

    // A new template rolls out: the deployment shows its old and new ReplicaSets.
    c.ok(&["set", "image", "deployment/web", "nginx=nginx:2"])
        .await;
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    // The controller records its last scale-down as the rollout completes; wait for it, so
    // that both runs see the same events.
    c.eventually(
        "the old ReplicaSet's scale-down is recorded",
        Duration::from_secs(30),
        || async {
            c.jsonpath(&["events"], "{.items[*].message}")
                .await
                .contains(" to 0")
        },
    )
    .await;
    let out = c.same(&["describe", "deployment", "web"]).await;
    assert!(
        out.stdout.contains("OldReplicaSets: web-")
            && out.stdout.contains("(0/0 replicas created)"),
        "{out:?}"
    );
}

/// A pod with most of what a describer prints: init containers, ports, commands, resources,
/// probes, every kind of environment variable, mounts and volumes, tolerations; a NodePort
/// Service with named ports; a namespace with a quota and limit ranges. Each LimitRange item
/// has one resource: upstream prints an item's resources in Go's random map order.
const RICH: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team, labels: {tier: backend}, annotations: {owner: platform}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute, namespace: team}
spec: {hard: {pods: "10", requests.cpu: "4"}, scopes: [NotTerminating]}
---
apiVersion: v1
kind: LimitRange
metadata: {name: limits, namespace: team}
spec:
  limits:
  - {type: Container, default: {memory: 512Mi}}
  - {type: Pod, max: {cpu: "2"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: team}
data: {mode: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: team}
stringData: {token: abc}
---
apiVersion: v1
kind: Pod
metadata:
  name: rich
  namespace: team
  labels: {app: rich, tier: backend}
  annotations:
    note: short
    long: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
spec:
  nodeSelector: {kubernetes.io/os: linux}
  tolerations:
  - {key: dedicated, operator: Equal, value: db, effect: NoSchedule}
  initContainers:
  - {name: setup, image: busybox, command: [sh, -c, "echo hi"]}
  containers:
  - name: app
    image: my-app:v1
    command: [/app]
    args: [--port=8080, --mode=fast]
    ports:
    - {containerPort: 8080, name: http}
    - {containerPort: 9090, name: metrics}
    resources:
      requests: {cpu: 250m, memory: 64Mi}
      limits: {cpu: 500m, memory: 128Mi}
    livenessProbe: {httpGet: {path: /healthz, port: 8080}, initialDelaySeconds: 3}
    readinessProbe: {exec: {command: [cat, /tmp/ready]}}
    startupProbe: {tcpSocket: {port: 8080}}
    env:
    - {name: PLAIN, value: x}
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: token}}}
    - {name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode, optional: true}}}
    - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
    - {name: MEM, valueFrom: {resourceFieldRef: {resource: requests.memory}}}
    envFrom:
    - configMapRef: {name: settings}
    - {secretRef: {name: creds}, prefix: S_}
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
    - {name: conf, mountPath: /etc/conf, readOnly: true}
    - {name: secret, mountPath: /etc/secret, subPath: token}
    - {name: host, mountPath: /host}
    - {name: info, mountPath: /info}
  - {name: sidecar, image: busybox}
  volumes:
  - {name: scratch, emptyDir: {sizeLimit: 1Gi}}
  - {name: conf, configMap: {name: settings}}
  - {name: secret, secret: {secretName: creds, optional: true}}
  - {name: host, hostPath: {path: /var/log, type: Directory}}
  - name: info
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
---
apiVersion: v1
kind: Service
metadata: {name: rich, namespace: team}
spec:
  type: NodePort
  selector: {app: rich}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9090, targetPort: 9090}
"#;

#[tokio::test]
async fn describe_matches_kubectl_for_a_pod_with_everything_and_a_namespace_with_limits() {
    let mut c = Cluster::start().await;
    c.add_nodes("n-", 2, &[]).await;
    let file = c.file("rich.yaml", RICH);
    c.ok(&["apply", "-f", &file]).await;
    c.ok(&[
        "wait",
        "-n",
        "team",
        "--for=condition=Ready",
        "pod/rich",
        "--timeout=60s",
    ])
    .await;
    c.eventually(
        "the endpoints of rich are listed",
        Duration::from_secs(30),
        || async {
            let addresses = c
                .jsonpath(
                    &[
                        "-n",
                        "team",
                        "endpointslices",
                        "-l",
                        "kubernetes.io/service-name=rich",
                    ],
                    "{.items[*].endpoints[*].addresses[0]}",
                )
                .await;
            !addresses.trim().is_empty()
        },
    )
    .await;

    let out = c.same(&["-n", "team", "describe", "pod", "rich"]).await;
    assert!(out.stdout.contains("Init Containers:"), "{out:?}");
    c.same(&["-n", "team", "describe", "svc", "rich"]).await;
    let out = c.same(&["describe", "ns", "team"]).await;
    assert!(out.stdout.contains("Resource Limits"), "{out:?}");
    let node = c
        .jsonpath(&["-n", "team", "pod", "rich"], "{.spec.nodeName}")
        .await;
    same_within_a_second(&c, &["describe", "node", node.trim()]).await;
    c.same(&["-n", "team", "describe", "pods,services"]).await;

    // ConfigMaps and Secrets of one key each: upstream prints several in random order.
    c.same(&["-n", "team", "describe", "configmap", "settings"])
        .await;
    c.same(&["-n", "team", "describe", "secret", "creds"]).await;
    c.same(&["describe", "cm", "kube-root-ca.crt"]).await;

    // Kinds this describe does not know yet fail plainly (kubectl describes them).
    let out = c
        .barge_kubectl(&["-n", "team", "describe", "serviceaccount", "default"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: describe of ServiceAccount is not supported yet by barge kubectl\n"
    );
}

/// Objects at the edges of the describers: an unschedulable pod, services without ports or
/// selector, a LoadBalancer, a Recreate deployment at zero replicas with a set-based selector,
/// and a tainted, cordoned node with a role.
const EDGES: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: pending}
spec:
  nodeSelector: {disk: ssd}
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Service
metadata: {name: headless}
spec: {clusterIP: None, selector: {app: web}}
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: example.com}
---
apiVersion: v1
kind: Service
metadata: {name: lb, annotations: {team: edge}}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 8080, targetPort: 80}]
  sessionAffinity: ClientIP
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: zero}
spec:
  replicas: 0
  strategy: {type: Recreate}
  selector: {matchExpressions: [{key: app, operator: In, values: [zero, nil]}]}
  template:
    metadata: {labels: {app: zero}, annotations: {note: "two\nlines"}}
    spec:
      serviceAccountName: default
      containers: [{name: c, image: nginx, env: [{name: A, value: "line1\nline2"}]}]
      tolerations: [{operator: Exists}]
"#;

#[tokio::test]
async fn describe_matches_kubectl_at_the_edges() {
    let c = cluster_with_web().await;
    let file = c.file("edges.yaml", EDGES);
    c.ok(&["apply", "-f", &file]).await;
    c.ok(&["taint", "node", "n-1", "dedicated=db:NoSchedule"])
        .await;
    c.ok(&["cordon", "n-1"]).await;
    c.ok(&["label", "node", "n-1", "node-role.kubernetes.io/worker="])
        .await;
    // Wait for what controllers record about these, so that both runs see the same.
    c.eventually(
        "the scheduler and the load balancer controller have spoken",
        Duration::from_secs(30),
        || async {
            let reasons = c.jsonpath(&["events"], "{.items[*].reason}").await;
            reasons.contains("FailedScheduling") && reasons.contains("EnsuredLoadBalancer")
        },
    )
    .await;
    // Give the scheduler's retry on the cordon time to be recorded too.
    tokio::time::sleep(Duration::from_secs(2)).await;

    c.same(&["describe", "pod", "pending"]).await;
    c.same(&["describe", "services"]).await;
    c.same(&["describe", "deploy", "zero"]).await;
    same_within_a_second(&c, &["describe", "node", "n-1"]).await;

    // Two arguments and one NotFound: the second is a name prefix of the first's objects.
    c.same(&["describe", "pod", "pend"]).await;
    c.same(&["describe", "svc", "nope"]).await;
    c.same(&["describe", "svc/lb", "deploy/nope"]).await;
    c.same(&["describe", "svc/nope", "svc/lb"]).await;
    c.same(&["describe", "svc", "nope", "lb"]).await;
    c.same(&["describe", "svc", "nope", "nope2"]).await;

    // Arguments kubectl refuses, and an empty namespace.
    c.same(&["describe"]).await;
    c.same(&["describe", "widgets"]).await;
    c.same(&["describe", "pods", "-n", "nope"]).await;
    c.same(&["describe", "nodes", "-l", "kubernetes.io/hostname=n-0"])
        .await;
    c.same(&["describe", "pod", "pending", "-l", "app=web"])
        .await;
    c.same(&["describe", "pod/pending", "-l", "app=web", "-A"])
        .await;
    c.same(&["describe", "pod/pending", "-A"]).await;
}

/// Events about `pod` with `count` names and `times` distinct last timestamps (many ties).
fn events(pod: &str, uid: &str, count: usize, times: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: Event\nmetadata: {{name: {pod}.e{i:03}, namespace: default}}\n\
                 involvedObject: {{kind: Pod, name: {pod}, namespace: default, uid: \"{uid}\"}}\n\
                 reason: R{i:03}\nmessage: event {i}\ntype: Normal\nsource: {{component: test}}\n\
                 count: {}\nfirstTimestamp: \"2026-01-01T00:00:00Z\"\n\
                 lastTimestamp: \"2026-01-01T00:00:{:02}Z\"\n",
                1 + i % 3,
                (i * i * 31) % times
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Events seen in the same second keep the order Go's unstable sort leaves them in, which is
/// not the order they were listed in once there are more than 12.
#[tokio::test]
async fn describe_orders_many_events_as_kubectl() {
    let c = cluster_with_web().await;
    let pods = c
        .jsonpath(&["pods", "-l", "app=web"], "{.items[*].metadata.name}")
        .await;
    let pods: Vec<&str> = pods.split_whitespace().collect();
    for (pod, count, times) in [(pods[0], 40, 4), (pods[1], 97, 5)] {
        let uid = c.jsonpath(&["pod", pod], "{.metadata.uid}").await;
        let file = c.file(&format!("{pod}.yaml"), &events(pod, &uid, count, times));
        c.ok(&["apply", "-f", &file]).await;
        let out = c.same(&["describe", "pod", pod]).await;
        assert_eq!(out.stdout.matches(" test event ").count(), count, "{out:?}");
    }
}

/// A DaemonSet with a node selector, a StatefulSet with a partition and a claim template, and
/// two Jobs (one indexed), all finished rolling out or running.
const CONTROLLERS: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, labels: {app: agent}}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      tolerations: [{operator: Exists}]
      containers: [{name: a, image: agent:v1}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 0}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: db:v1}]}
  volumeClaimTemplates:
  - metadata: {name: data, labels: {a: b, c: d}}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  completions: 2
  parallelism: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: [echo, hi]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: indexed}
spec:
  completions: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
"#;

#[tokio::test]
async fn describe_matches_kubectl_for_daemon_sets_stateful_sets_and_jobs() {
    let mut c = Cluster::start().await;
    c.add_nodes("n-", 2, &[]).await;
    let file = c.file("controllers.yaml", CONTROLLERS);
    c.ok(&["apply", "-f", &file]).await;
    c.ok(&["rollout", "status", "ds/agent", "--timeout=60s"])
        .await;
    c.ok(&["rollout", "status", "sts/db", "--timeout=60s"])
        .await;
    c.ok(&[
        "wait",
        "--for=condition=Complete",
        "job/once",
        "job/indexed",
        "--timeout=60s",
    ])
    .await;
    c.eventually(
        "both Jobs' completion is recorded",
        Duration::from_secs(30),
        || async {
            let messages = c.jsonpath(&["events"], "{.items[*].message}").await;
            messages.matches("Job completed").count() == 2
        },
    )
    .await;

    c.same(&["describe", "ds", "agent"]).await;
    c.same(&["describe", "sts", "db"]).await;
    let out = c.same(&["describe", "job", "indexed"]).await;
    assert!(out.stdout.contains("Completed Indexes: 0-2"), "{out:?}");
    c.same(&["describe", "jobs,daemonsets,statefulsets"]).await;
}
