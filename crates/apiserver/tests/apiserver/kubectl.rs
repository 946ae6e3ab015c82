//! The real kubectl against the server: the seed's manifests and commands, the typed commands
//! that send protobuf, errors, watch, pagination and custom resources.

use std::time::Duration;

use crate::Cluster;

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: my-api
spec:
  containers:
  - name: api
    image: myapp:latest
    ports:
    - containerPort: 3000
";

fn deployment(replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-api
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: my-api
  template:
    metadata:
      labels:
        app: my-api
    spec:
      containers:
      - name: api
        image: {image}
        ports:
        - containerPort: 3000
        resources:
          requests:
            memory: \"128Mi\"
            cpu: \"250m\"
          limits:
            memory: \"256Mi\"
            cpu: \"500m\"
"
    )
}

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: my-api
spec:
  selector:
    app: my-api # routes to pods with this label
  ports:
  - port: 80
    targetPort: 3000
  type: ClusterIP # internal only (use LoadBalancer to expose externally)
";

fn header(out: &str) -> Vec<&str> {
    out.lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_discovery_and_default_namespaces() {
    let c = Cluster::start().await;
    let version = c.ok(&["version", "-o", "json"]).await;
    assert!(version.contains("\"gitVersion\": \"v1.32.4\""), "{version}");
    let resources = c.ok(&["api-resources"]).await;
    let deploy = resources
        .lines()
        .find(|l| l.starts_with("deployments "))
        .unwrap();
    assert_eq!(
        deploy.split_whitespace().collect::<Vec<_>>(),
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    let ns = c.ok(&["get", "namespaces"]).await;
    assert_eq!(header(&ns), ["NAME", "STATUS", "AGE"]);
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            ns.lines()
                .any(|l| l.starts_with(name) && l.contains("Active")),
            "{ns}"
        );
    }
    let svc = c.ok(&["get", "svc", "kubernetes"]).await;
    assert!(
        svc.contains("10.96.0.1") && svc.contains("443/TCP"),
        "{svc}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_manifests_apply_reapply_and_delete() {
    let c = Cluster::start().await;
    let pod = c.file("pod.yaml", POD);
    let deploy = c.file("deployment.yaml", &deployment(3, "myapp:v2.1.0"));
    let svc = c.file("service.yaml", SERVICE);
    let files = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let (pod, deploy, svc) = (files(&pod), files(&deploy), files(&svc));

    assert_eq!(
        c.ok(&["apply", "-f", &pod]).await.trim(),
        "pod/my-api created"
    );
    assert_eq!(
        c.ok(&["apply", "-f", &deploy]).await.trim(),
        "deployment.apps/my-api created"
    );
    assert_eq!(
        c.ok(&["apply", "-f", &svc]).await.trim(),
        "service/my-api created"
    );
    assert_eq!(
        c.ok(&["apply", "-f", &deploy]).await.trim(),
        "deployment.apps/my-api unchanged"
    );
    assert_eq!(
        c.ok(&["apply", "-f", &svc]).await.trim(),
        "service/my-api unchanged"
    );

    c.file("deployment.yaml", &deployment(5, "myapp:v2.2.0"));
    assert_eq!(
        c.ok(&["apply", "-f", &deploy]).await.trim(),
        "deployment.apps/my-api configured"
    );
    let replicas = c
        .ok(&[
            "get",
            "deploy",
            "my-api",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.generation}",
        ])
        .await;
    assert_eq!(replicas, "5 2");

    let deployments = c.ok(&["get", "deployments"]).await;
    assert_eq!(
        header(&deployments),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert!(
        deployments.lines().nth(1).unwrap().starts_with("my-api"),
        "{deployments}"
    );
    let pods = c.ok(&["get", "pods", "-o", "wide"]).await;
    assert_eq!(
        header(&pods),
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES"
        ]
    );
    assert!(pods.contains("Pending"), "{pods}");
    let services = c.ok(&["get", "svc", "my-api"]).await;
    assert_eq!(
        header(&services),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert!(
        services.contains("ClusterIP") && services.contains("80/TCP"),
        "{services}"
    );

    let ssa = c.ok(&["apply", "--server-side", "-f", &svc]).await;
    assert_eq!(ssa.trim(), "service/my-api serverside-applied");

    assert_eq!(
        c.ok(&["delete", "-f", &deploy]).await.trim(),
        "deployment.apps \"my-api\" deleted"
    );
    let err = c.fails(&["get", "deployment", "my-api"]).await;
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): deployments.apps \"my-api\" not found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_create_commands_send_protobuf() {
    let c = Cluster::start().await;
    let out = c
        .ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "--port=80",
        ])
        .await;
    assert_eq!(out.trim(), "deployment.apps/web created");
    let spec = c
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(spec, "2 nginx:1.27");
    assert_eq!(
        c.ok(&["create", "namespace", "team-a"]).await.trim(),
        "namespace/team-a created"
    );
    let cm = c
        .ok(&[
            "create",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "--from-literal=mode=fast",
        ])
        .await;
    assert_eq!(cm.trim(), "configmap/settings created");
    let secret = c
        .ok(&[
            "create",
            "secret",
            "generic",
            "token",
            "--from-literal=key=s3cr3t",
        ])
        .await;
    assert_eq!(secret.trim(), "secret/token created");
    let data = c
        .ok(&["get", "secret", "token", "-o", "jsonpath={.data.key}"])
        .await;
    assert_eq!(data, "czNjcjN0");
    let svc = c
        .ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"])
        .await;
    assert_eq!(svc.trim(), "service/web created");
    let job = c
        .ok(&["create", "job", "once", "--image=busybox", "--", "true"])
        .await;
    assert_eq!(job.trim(), "job.batch/once created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_annotate_patch_scale_and_delete() {
    let c = Cluster::start().await;
    c.ok(&["create", "deployment", "web", "--image=nginx:1.27"])
        .await;
    assert_eq!(
        c.ok(&["label", "deploy", "web", "tier=front"]).await.trim(),
        "deployment.apps/web labeled"
    );
    assert_eq!(
        c.ok(&["annotate", "deploy", "web", "owner=me"])
            .await
            .trim(),
        "deployment.apps/web annotated"
    );
    let listed = c
        .ok(&["get", "deploy", "-l", "tier=front", "-o", "name"])
        .await;
    assert_eq!(listed.trim(), "deployment.apps/web");
    assert_eq!(
        c.ok(&["get", "deploy", "-l", "tier!=front", "-o", "name"])
            .await
            .trim(),
        ""
    );
    let patched = c.ok(&["patch", "deploy", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}"#]).await;
    assert_eq!(patched.trim(), "deployment.apps/web patched");
    let image = c
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].image}",
        ])
        .await;
    assert_eq!(image, "nginx:1.28", "strategic merge by container name");
    assert_eq!(
        c.ok(&["scale", "deploy", "web", "--replicas=4"])
            .await
            .trim(),
        "deployment.apps/web scaled"
    );
    assert_eq!(
        c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
            .await,
        "4"
    );
    let json = c
        .ok(&[
            "patch",
            "deploy",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#,
        ])
        .await;
    assert_eq!(json.trim(), "deployment.apps/web patched");
    let merge = c
        .ok(&[
            "patch",
            "deploy",
            "web",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"tier":null}}}"#,
        ])
        .await;
    assert_eq!(merge.trim(), "deployment.apps/web patched");
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas}{.metadata.labels}"
        ])
        .await,
        "2{\"app\":\"web\"}"
    );
    assert_eq!(
        c.ok(&["delete", "deploy", "web"]).await.trim(),
        "deployment.apps \"web\" deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_upstream_errors_and_stores_nothing() {
    let c = Cluster::start().await;
    let bad_name = c.file(
        "bad.yaml",
        &deployment(1, "x").replace("name: my-api\nspec", "name: My_Api\nspec"),
    );
    let err = c.fails(&["apply", "-f", bad_name.to_str().unwrap()]).await;
    assert!(err.contains("The Deployment \"My_Api\" is invalid: metadata.name: Invalid value: \"My_Api\": a lowercase RFC 1123 subdomain"), "{err}");

    let negative = c.file(
        "neg.yaml",
        &deployment(1, "x").replace("replicas: 1", "replicas: -1"),
    );
    let err = c.fails(&["create", "-f", negative.to_str().unwrap()]).await;
    assert!(
        err.contains("spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
        "{err}"
    );

    let mismatch = c.file(
        "mismatch.yaml",
        &deployment(1, "x").replacen("app: my-api", "app: other", 1),
    );
    let err = c.fails(&["create", "-f", mismatch.to_str().unwrap()]).await;
    assert!(
        err.contains("`selector` does not match template `labels`"),
        "{err}"
    );

    let elsewhere = c.file(
        "ns.yaml",
        &POD.replace("name: my-api\n", "name: my-api\n  namespace: team-c\n"),
    );
    let err = c
        .fails(&["create", "-f", elsewhere.to_str().unwrap()])
        .await;
    assert!(err.contains("namespaces \"team-c\" not found"), "{err}");

    // A stale resourceVersion is refused with 409.
    c.ok(&["create", "configmap", "cfg", "--from-literal=a=1"])
        .await;
    let live = c.ok(&["get", "cm", "cfg", "-o", "json"]).await;
    c.ok(&["label", "cm", "cfg", "x=y"]).await;
    let stale = c.file("stale.json", &live);
    let err = c.fails(&["replace", "-f", stale.to_str().unwrap()]).await;
    assert!(err.contains("the object has been modified; please apply your changes to the latest version and try again"), "{err}");

    let pods = c.kubectl(&["get", "pods"]).await;
    assert!(pods.status.success());
    assert_eq!(
        String::from_utf8_lossy(&pods.stderr).trim(),
        "No resources found in default namespace."
    );
    let deploys = c.ok(&["get", "deploy", "-o", "name"]).await;
    assert_eq!(deploys.trim(), "", "nothing invalid was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_changes_as_table_rows() {
    let c = Cluster::start().await;
    c.ok(&["create", "configmap", "first", "--from-literal=a=1"])
        .await;
    let mut watch = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .args(["get", "configmaps", "-w", "--request-timeout=0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.ok(&["create", "configmap", "second", "--from-literal=b=2"])
        .await;
    c.ok(&["delete", "configmap", "first"]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    watch.start_kill().unwrap();
    let out = watch.wait_with_output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["NAME", "first", "second", "first"], "{text}");

    // The watch-list protocol: initial ADDED events, then a bookmark marking their end.
    let raw = c
        .ok(&[
            "get",
            "--raw",
            "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
        ])
        .await;
    let events: Vec<serde_json::Value> = raw
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "second");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_come_in_chunks_and_select_by_field() {
    let c = Cluster::start().await;
    for i in 0..7 {
        c.ok(&[
            "create",
            "configmap",
            &format!("cm-{i}"),
            "--from-literal=a=1",
        ])
        .await;
    }
    let all = c.ok(&["get", "cm", "--chunk-size=2", "-o", "name"]).await;
    let names: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with("configmap/cm-"))
        .collect();
    assert_eq!(names.len(), 7, "{all}");
    let one = c
        .ok(&[
            "get",
            "cm",
            "--field-selector=metadata.name=cm-3",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(one.trim(), "configmap/cm-3");
    let err = c
        .fails(&["get", "cm", "--field-selector=spec.nope=x"])
        .await;
    assert!(
        err.contains("\"spec.nope\" is not a known field selector"),
        "{err}"
    );
    let pods = c
        .fails(&["get", "pods", "--field-selector=status.nope=x"])
        .await;
    assert!(
        pods.contains("field label not supported: status.nope"),
        "{pods}"
    );
    c.ok(&["get", "pods", "--field-selector=status.phase=Running"])
        .await;
}

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              replicas: {type: integer}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_resource_definition_is_served_at_once() {
    let c = Cluster::start().await;
    let crd = c.file("crd.yaml", CRD);
    assert_eq!(
        c.ok(&["apply", "-f", crd.to_str().unwrap()]).await.trim(),
        "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created"
    );
    let cr = c.file("cr.yaml", "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: nightly\nspec:\n  cronSpec: \"0 3 * * *\"\n  replicas: 1\n");
    assert_eq!(
        c.ok(&["apply", "-f", cr.to_str().unwrap()]).await.trim(),
        "crontab.stable.example.com/nightly created"
    );
    let listed = c.ok(&["get", "ct"]).await;
    assert_eq!(header(&listed), ["NAME", "SPEC", "AGE"]);
    assert!(
        listed.contains("nightly") && listed.contains("0 3 * * *"),
        "{listed}"
    );
    let extra = c.file("extra-cr.yaml", "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: extra\nspec:\n  cronSpec: x\n  color: blue\n");
    let err = c.fails(&["apply", "-f", extra.to_str().unwrap()]).await;
    assert!(
        err.contains("strict decoding error: unknown field \"spec.color\""),
        "{err}"
    );
    c.ok(&["apply", "--validate=false", "-f", extra.to_str().unwrap()])
        .await;
    assert_eq!(
        c.ok(&["get", "ct", "extra", "-o", "jsonpath={.spec}"])
            .await,
        "{\"cronSpec\":\"x\"}",
        "pruned"
    );
    let bad = c.file("bad-cr.yaml", "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: bad\nspec:\n  replicas: many\n");
    let err = c.fails(&["apply", "-f", bad.to_str().unwrap()]).await;
    assert!(err.contains("spec.replicas"), "{err}");
    assert_eq!(
        c.ok(&["delete", "crontab", "nightly"]).await.trim(),
        "crontab.stable.example.com \"nightly\" deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_resource_scales_at_the_paths_its_definition_names() {
    let c = Cluster::start().await;
    let crd = c.file(
        "crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: fleets.ships.example.com
spec:
  group: ships.example.com
  scope: Namespaced
  names: {plural: fleets, singular: fleet, kind: Fleet}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      scale: {specReplicasPath: .spec.size, statusReplicasPath: .status.count, labelSelectorPath: .status.selector}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
",
    );
    c.ok(&["apply", "-f", crd.to_str().unwrap()]).await;
    let fleet = c.file(
        "fleet.yaml",
        "apiVersion: ships.example.com/v1\nkind: Fleet\nmetadata:\n  name: blue\nspec:\n  size: 2\nstatus:\n  count: 2\n  selector: app=blue\n",
    );
    c.ok(&["apply", "-f", fleet.to_str().unwrap()]).await;
    let raw = c
        .ok(&[
            "get",
            "--raw",
            "/apis/ships.example.com/v1/namespaces/default/fleets/blue/scale",
        ])
        .await;
    let scale: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(scale["spec"]["replicas"], 2, "{raw}");
    assert_eq!(scale["status"]["replicas"], 2, "{raw}");
    assert_eq!(scale["status"]["selector"], "app=blue", "{raw}");
    assert_eq!(
        c.ok(&["scale", "fleet/blue", "--replicas=5"]).await.trim(),
        "fleet.ships.example.com/blue scaled"
    );
    assert_eq!(
        c.ok(&["get", "fleet", "blue", "-o", "jsonpath={.spec.size}"])
            .await,
        "5"
    );
}

const NODE: &str = "apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels:
    node-role.kubernetes.io/control-plane: \"\"
status:
  conditions:
  - type: Ready
    status: \"True\"
    reason: KubeletReady
    message: kubelet is posting ready status
  nodeInfo:
    kubeletVersion: v1.32.4
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_output_formats() {
    let c = Cluster::start().await;
    let node = c.file("node.yaml", NODE);
    c.ok(&["apply", "-f", node.to_str().unwrap()]).await;
    c.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--port=80",
    ])
    .await;
    c.ok(&[
        "expose",
        "deployment",
        "web",
        "--port=80",
        "--target-port=8080",
    ])
    .await;
    c.ok(&[
        "run",
        "tmp",
        "--image=busybox",
        "--restart=Never",
        "--",
        "sleep",
        "3600",
    ])
    .await;

    let nodes = c.ok(&["get", "nodes"]).await;
    assert_eq!(
        header(&nodes),
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    );
    assert!(
        nodes.contains("node-1") && nodes.contains("control-plane") && nodes.contains("v1.32.4"),
        "{nodes}"
    );
    for (kind, name, expect) in [
        ("pod", "tmp", "Status:           Pending"),
        ("deployment", "web", "Replicas:               1 desired"),
        (
            "service",
            "web",
            "Port:                     <unset>  80/TCP",
        ),
        ("namespace", "default", "Status:       Active"),
        ("node", "node-1", "Roles:              control-plane"),
    ] {
        let out = c.ok(&["describe", kind, name]).await;
        assert!(out.contains(expect), "describe {kind}: {out}");
    }
    let all = c.ok(&["get", "pods", "-A", "-o", "wide"]).await;
    assert_eq!(header(&all)[0..2], ["NAMESPACE", "NAME"]);
    let yaml = c.ok(&["get", "svc", "web", "-o", "yaml"]).await;
    assert!(
        yaml.contains("clusterIP: 10.96.") && yaml.contains("targetPort: 8080"),
        "{yaml}"
    );
    let labels = c.ok(&["get", "pods", "--show-labels"]).await;
    assert!(labels.contains("run=tmp"), "{labels}");
    let every = c.ok(&["get", "all"]).await;
    assert!(
        every.contains("pod/tmp")
            && every.contains("service/web")
            && every.contains("deployment.apps/web"),
        "{every}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_that_share_storage_are_converted() {
    let c = Cluster::start().await;
    c.ok(&["create", "deployment", "web", "--image=nginx:1.27"])
        .await;
    let hpa = c
        .ok(&[
            "autoscale",
            "deployment",
            "web",
            "--cpu-percent=50",
            "--min=1",
            "--max=5",
        ])
        .await;
    assert_eq!(
        hpa.trim(),
        "horizontalpodautoscaler.autoscaling/web autoscaled"
    );
    let listed = c.ok(&["get", "hpa"]).await;
    assert_eq!(
        header(&listed),
        [
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE"
        ]
    );
    assert!(listed.contains("cpu: <unknown>/50%"), "{listed}");
    let v1 = c
        .ok(&[
            "get",
            "--raw",
            "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web",
        ])
        .await;
    assert!(v1.contains("\"targetCPUUtilizationPercentage\":50"), "{v1}");

    let uid = c
        .ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.uid}"])
        .await;
    let event = c.file("event.yaml", &format!("apiVersion: events.k8s.io/v1\nkind: Event\nmetadata:\n  name: web.1\neventTime: \"2026-11-25T10:00:00.000000Z\"\nreportingController: deployment-controller\nreportingInstance: barge\naction: Scaling\nreason: ScalingReplicaSet\nnote: Scaled up replica set web-1 to 1\ntype: Normal\nregarding:\n  apiVersion: apps/v1\n  kind: Deployment\n  name: web\n  namespace: default\n  uid: {uid}\n"));
    c.ok(&["create", "-f", event.to_str().unwrap()]).await;
    let core = c
        .ok(&[
            "get",
            "events",
            "-o",
            "jsonpath={.items[0].message}|{.items[0].involvedObject.name}",
        ])
        .await;
    assert_eq!(core, "Scaled up replica set web-1 to 1|web");
    let described = c.ok(&["describe", "deployment", "web"]).await;
    assert!(
        described.contains("ScalingReplicaSet")
            && described.contains("Scaled up replica set web-1 to 1"),
        "{described}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_tracks_owners_and_conflicts() {
    let c = Cluster::start().await;
    let manifest = deployment(2, "nginx:1.27").replace(
        "  name: my-api\n",
        "  name: my-api\n  labels:\n    team: a\n",
    );
    let file = c.file("ssa.yaml", &manifest);
    let path = file.to_str().unwrap();
    assert_eq!(
        c.ok(&["apply", "--server-side", "-f", path]).await.trim(),
        "deployment.apps/my-api serverside-applied"
    );
    let managers = c
        .ok(&[
            "get",
            "deploy",
            "my-api",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .await;
    assert_eq!(managers, "kubectl");
    let operation = c
        .ok(&[
            "get",
            "deploy",
            "my-api",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].operation}",
        ])
        .await;
    assert_eq!(operation, "Apply", "a create by apply is recorded as Apply");
    // The same manager changes its own field without a conflict.
    let rescaled = c.file(
        "ssa-3.yaml",
        &manifest.replace("replicas: 2", "replicas: 3"),
    );
    assert_eq!(
        c.ok(&["apply", "--server-side", "-f", rescaled.to_str().unwrap()])
            .await
            .trim(),
        "deployment.apps/my-api serverside-applied"
    );
    c.ok(&["apply", "--server-side", "-f", path]).await;
    c.ok(&["label", "deploy", "my-api", "team=b", "--overwrite"])
        .await;
    let err = c.fails(&["apply", "--server-side", "-f", path]).await;
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl-label\""),
        "{err}"
    );
    assert!(err.contains(".metadata.labels.team"), "{err}");
    let forced = c
        .ok(&["apply", "--server-side", "--force-conflicts", "-f", path])
        .await;
    assert_eq!(forced.trim(), "deployment.apps/my-api serverside-applied");
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "my-api",
            "-o",
            "jsonpath={.metadata.labels.team}"
        ])
        .await,
        "a"
    );
    // Dropping a field from the applied configuration removes it.
    let smaller = c.file(
        "ssa.yaml",
        &manifest.replace("  labels:\n    team: a\n", ""),
    );
    c.ok(&["apply", "--server-side", "-f", smaller.to_str().unwrap()])
        .await;
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "my-api",
            "-o",
            "jsonpath={.metadata.labels}"
        ])
        .await,
        ""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_and_edit_work() {
    let c = Cluster::start().await;
    let file = c.file("deployment.yaml", &deployment(2, "nginx:1.27"));
    let path = file.to_str().unwrap();
    c.ok(&["apply", "-f", path]).await;
    let same = c.kubectl(&["diff", "-f", path]).await;
    assert_eq!(
        same.status.code(),
        Some(0),
        "no difference: {}",
        String::from_utf8_lossy(&same.stdout)
    );
    c.file("deployment.yaml", &deployment(4, "nginx:1.28"));
    let changed = c.kubectl(&["diff", "-f", path]).await;
    assert_eq!(
        changed.status.code(),
        Some(1),
        "kubectl diff exits 1 on a difference"
    );
    let text = String::from_utf8_lossy(&changed.stdout);
    assert!(
        text.contains("-  replicas: 2") && text.contains("+  replicas: 4"),
        "{text}"
    );
    assert!(text.contains("+      - image: nginx:1.28"), "{text}");
    assert_eq!(
        c.ok(&["get", "deploy", "my-api", "-o", "jsonpath={.spec.replicas}"])
            .await,
        "2",
        "diff changes nothing"
    );

    let edited = c
        .command(&["edit", "deploy", "my-api"])
        .env("EDITOR", "sed -i s/replicas:\\ 2/replicas:\\ 3/")
        .output()
        .await
        .unwrap();
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&edited.stdout).trim(),
        "deployment.apps/my-api edited"
    );
    assert_eq!(
        c.ok(&["get", "deploy", "my-api", "-o", "jsonpath={.spec.replicas}"])
            .await,
        "3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_tokens_are_issued() {
    use base64::Engine;
    let c = Cluster::start().await;
    c.ok(&["create", "serviceaccount", "robot"]).await;
    let token = c.ok(&["create", "token", "robot", "--duration=20m"]).await;
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "system:serviceaccount:default:robot");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        1200
    );
    let state = &c.server.state;
    assert!(
        state
            .signer
            .verify(token.trim(), std::time::SystemTime::now())
            .is_some()
    );
    let err = c.fails(&["create", "token", "nobody"]).await;
    assert!(
        err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_on_a_real_etcd() {
    let etcd = tokio::task::spawn_blocking(barge_testkit::Etcd::start)
        .await
        .unwrap()
        .expect("a real etcd (Debian package etcd-server)");
    let options = barge_store::EtcdOptions::new(vec![etcd.endpoint().to_owned()]);
    let store = barge_store::EtcdStore::connect(options).await.unwrap();
    let c = Cluster::start_with(std::sync::Arc::new(store)).await;
    let file = c.file("deployment.yaml", &deployment(2, "nginx:1.27"));
    let path = file.to_str().unwrap();
    assert_eq!(
        c.ok(&["apply", "-f", path]).await.trim(),
        "deployment.apps/my-api created"
    );
    assert_eq!(
        c.ok(&["apply", "-f", path]).await.trim(),
        "deployment.apps/my-api unchanged"
    );
    let listed = c.ok(&["get", "deploy", "-o", "name"]).await;
    assert_eq!(listed.trim(), "deployment.apps/my-api");
    assert_eq!(
        c.ok(&["delete", "-f", path]).await.trim(),
        "deployment.apps \"my-api\" deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_kinds_print_upstream_columns() {
    let c = Cluster::start().await;
    for args in [
        &["create", "configmap", "cm", "--from-literal=a=1"][..],
        &["create", "secret", "generic", "s", "--from-literal=a=1"],
        &["create", "serviceaccount", "robot"],
        &["create", "job", "once", "--image=busybox"],
        &[
            "create",
            "cronjob",
            "nightly",
            "--image=busybox",
            "--schedule=0 3 * * *",
        ],
        &["create", "role", "reader", "--verb=get", "--resource=pods"],
        &[
            "create",
            "rolebinding",
            "reads",
            "--role=reader",
            "--serviceaccount=default:robot",
        ],
        &["create", "quota", "q", "--hard=pods=10"],
        &["create", "ingress", "web", "--rule=example.com/=web:80"],
    ] {
        c.ok(args).await;
    }
    for (kind, columns) in [
        ("configmaps", &["NAME", "DATA", "AGE"][..]),
        ("secrets", &["NAME", "TYPE", "DATA", "AGE"]),
        ("serviceaccounts", &["NAME", "SECRETS", "AGE"]),
        (
            "jobs",
            &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        ),
        (
            "cronjobs",
            &[
                "NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE",
            ],
        ),
        ("roles", &["NAME", "CREATED", "AT"]),
        ("rolebindings", &["NAME", "ROLE", "AGE"]),
        ("resourcequotas", &["NAME", "AGE", "REQUEST", "LIMIT"]),
        (
            "ingresses",
            &["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        ),
    ] {
        let out = c.ok(&["get", kind]).await;
        assert_eq!(header(&out), columns, "{kind}: {out}");
    }
    let cm = c.ok(&["get", "cm", "cm"]).await;
    assert!(
        cm.lines().nth(1).unwrap().split_whitespace().nth(1) == Some("1"),
        "{cm}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_resume_from_a_list_revision() {
    async fn watch_from(c: &Cluster, rv: &str) -> String {
        let path = format!(
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1"
        );
        c.ok(&["get", "--raw", &path]).await
    }
    let c = Cluster::start().await;
    c.ok(&["create", "configmap", "a", "--from-literal=x=1"])
        .await;
    let rv = c
        .ok(&[
            "get",
            "cm",
            "a",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .await;
    // The first watch fills the watch cache; later ones are served from it.
    assert_eq!(
        watch_from(&c, &rv).await.trim(),
        "",
        "nothing after the object"
    );
    c.ok(&["create", "configmap", "b", "--from-literal=x=1"])
        .await;
    c.ok(&["label", "configmap", "a", "k=v"]).await;
    c.ok(&["delete", "configmap", "b"]).await;
    for _ in 0..2 {
        let seen: Vec<(String, String)> = watch_from(&c, &rv)
            .await
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|e| {
                let kind = e["type"].as_str().unwrap().to_owned();
                (
                    kind,
                    e["object"]["metadata"]["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected = [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")];
        assert_eq!(seen, expected.map(|(t, n)| (t.to_owned(), n.to_owned())));
    }

    // A selector: an object that starts matching is ADDED, one that stops is DELETED (its
    // stored bytes are sent as they are, with the selector reading only the labels).
    c.ok(&["label", "configmap", "a", "k-"]).await;
    c.ok(&["label", "configmap", "a", "k=v"]).await;
    let path = format!(
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1&labelSelector=k%3Dv"
    );
    let seen: Vec<(String, String)> = c
        .ok(&["get", "--raw", &path])
        .await
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["object"]["metadata"]["labels"]["k"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned(),
            )
        })
        .collect();
    let expected = [("ADDED", "v"), ("DELETED", "-"), ("ADDED", "v")];
    assert_eq!(seen, expected.map(|(t, n)| (t.to_owned(), n.to_owned())));
}

/// `--cascade=orphan|foreground` leave the object with the garbage collector's finalizer and a
/// deletionTimestamp; removing the finalizer completes the delete.
#[tokio::test]
async fn cascading_deletes_leave_the_garbage_collectors_finalizer() {
    let c = Cluster::start().await;
    for (name, cascade, finalizer) in [
        ("a", "orphan", "orphan"),
        ("b", "foreground", "foregroundDeletion"),
    ] {
        c.ok(&["create", "configmap", name, "--from-literal=x=1"])
            .await;
        c.ok(&[
            "delete",
            "configmap",
            name,
            &format!("--cascade={cascade}"),
            "--wait=false",
        ])
        .await;
        let left = c
            .ok(&[
                "get",
                "configmap",
                name,
                "-o",
                "jsonpath={.metadata.finalizers} {.metadata.deletionTimestamp}",
            ])
            .await;
        let (finalizers, deleted_at) = left.split_once(' ').unwrap();
        assert_eq!(finalizers, format!("[\"{finalizer}\"]"));
        assert!(!deleted_at.is_empty(), "{left}");
        c.ok(&[
            "patch",
            "configmap",
            name,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .await;
        let gone = c.fails(&["get", "configmap", name]).await;
        assert!(gone.contains("NotFound"), "{gone}");
    }
    let bad = c
        .fails(&[
            "delete",
            "configmap",
            "x",
            "--raw",
            "/api/v1/namespaces/default/configmaps/x?propagationPolicy=Sideways",
        ])
        .await;
    assert!(bad.contains("Unsupported value: \"Sideways\""), "{bad}");
}

/// A `kind: List` file: kubectl validates its items itself, against the protobuf Swagger 2.0
/// document, before it sends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_files_are_validated_against_openapi_v2_and_applied() {
    let c = Cluster::start().await;
    let list = c.file(
        "list.yaml",
        &format!(
            "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {{name: first}}
  data: {{a: \"1\"}}
- {}",
            deployment(1, "myapp:v1").replace('\n', "\n  ").trim_end()
        ),
    );
    let list = list.to_str().unwrap().to_owned();
    assert_eq!(
        c.ok(&["apply", "-f", &list]).await.trim(),
        "configmap/first created\ndeployment.apps/my-api created"
    );
    assert_eq!(
        c.ok(&["apply", "-f", &list]).await.trim(),
        "configmap/first unchanged\ndeployment.apps/my-api unchanged"
    );
    c.ok(&["delete", "-f", &list]).await;
    assert_eq!(
        c.ok(&["create", "-f", &list]).await.trim(),
        "configmap/first created\ndeployment.apps/my-api created"
    );

    // An unknown field deep in an item is found on the client side, as upstream's kubectl finds it.
    let bad = c.file(
        "bad.yaml",
        "apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: bad}
  spec:
    selector: {matchLabels: {app: bad}}
    template:
      metadata: {labels: {app: bad}}
      spec:
        containers: [{name: c, image: i, bogus: 1}]
",
    );
    let out = c.kubectl(&["apply", "-f", bad.to_str().unwrap()]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("unknown field \"bogus\"")
            && stderr.contains("io.k8s.api.core.v1.Container"),
        "{stderr}"
    );
    assert!(
        !c.ok(&["get", "deployments", "-o", "name"])
            .await
            .contains("bad"),
        "nothing was sent"
    );
    // JSON clients still get the JSON document.
    let json = c.ok(&["get", "--raw", "/openapi/v2"]).await;
    assert!(json.starts_with('{') && json.contains("\"swagger\":\"2.0\""));
}
