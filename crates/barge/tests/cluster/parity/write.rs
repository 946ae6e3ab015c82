//! Parity of `barge kubectl` apply, create, label, annotate, patch, run, expose with kubectl (see `parity/mod.rs`).
//!
//! Both kubectls act on one cluster, so each write runs twice on twins: kubectl in the
//! namespace [`REAL`], barge kubectl in [`OURS`], with the same arguments otherwise. Their
//! messages and exit codes must match, and so must the objects they leave (read back with the
//! real kubectl), apart from what differs between any two objects: uids, resource versions,
//! timestamps, cluster IPs and node ports, status.
//!
//! Left out, because the two runs cannot print the same: the errors of missing required flags
//! (kubectl logs them through klog with a timestamp and its process id), and kubectl's
//! `The request is invalid` rendering of a failed JSON patch.

use serde_json::Value;

use super::super::Cluster;
use super::Run;

const REAL: &str = "kubectl-side";
const OURS: &str = "barge-side";

/// Runs `args` with kubectl in [`REAL`] and barge kubectl in [`OURS`]; panics when their
/// outputs differ.
async fn twins(c: &Cluster, args: &[&str]) -> Run {
    twins_with(c, &[], args).await
}

/// [`twins`] with environment variables set for both.
async fn twins_with(c: &Cluster, env: &[(&str, &str)], args: &[&str]) -> Run {
    let with_ns = |ns: &'static str| {
        let mut a = vec!["-n", ns];
        a.extend_from_slice(args);
        a
    };
    let mut real = c.command(&with_ns(REAL));
    let mut ours = c.barge_kubectl_command(&with_ns(OURS));
    for (k, v) in env {
        real.env(k, v);
        ours.env(k, v);
    }
    let real = Run::of(real.output().await.expect("kubectl runs"));
    let ours = Run::of(ours.output().await.expect("barge kubectl runs"));
    assert_eq!(
        real,
        ours,
        "kubectl {} differs (left: kubectl, right: barge kubectl)",
        args.join(" ")
    );
    real
}

/// The objects `what` of a namespace as JSON, with what differs between twins removed.
async fn twin_objects(c: &Cluster, ns: &str, what: &str) -> Value {
    let text = c
        .ok(&["-n", ns, "get", what, "-o", "json", "--show-managed-fields"])
        .await;
    // The namespace also sits inside the last-applied annotation's text.
    let text = without_suffixes(&text.replace(ns, "NS"), "kube-api-access-", 5);
    let mut v: Value = serde_json::from_str(&text).expect("json");
    let items = match v.get_mut("items") {
        Some(Value::Array(items)) => items,
        _ => return normalized(v),
    };
    Value::Array(items.drain(..).map(normalized).collect())
}

/// Panics unless the twins' objects `what` are equal.
async fn same_objects(c: &Cluster, what: &str) {
    let real = twin_objects(c, REAL, what).await;
    let ours = twin_objects(c, OURS, what).await;
    assert!(
        !real.is_null() && real != Value::Array(vec![]),
        "no {what} to compare"
    );
    assert_eq!(
        real, ours,
        "{what} differ (left: kubectl's, right: barge kubectl's)"
    );
}

async fn twin_namespaces(c: &Cluster) {
    c.ok(&["create", "namespace", REAL]).await;
    c.ok(&["create", "namespace", OURS]).await;
}

/// The text with the random suffix of every name starting with `prefix` masked.
fn without_suffixes(text: &str, prefix: &str, len: usize) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let end = at + prefix.len();
        out.push_str(&rest[..end]);
        out.push_str(&"x".repeat(len));
        rest = rest.get(end + len..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

fn normalized(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["uid", "resourceVersion", "creationTimestamp"] {
            meta.remove(k);
        }
        // Written by the Deployment controller, whenever it gets to it.
        if let Some(Value::Object(a)) = meta.get_mut("annotations") {
            a.remove("deployment.kubernetes.io/revision");
        }
        // The controllers' entries come and go with their timing; the kubectls' must match.
        if let Some(Value::Array(fields)) = meta.get_mut("managedFields") {
            fields.retain(|m| {
                m["manager"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("kubectl"))
            });
            for m in fields.iter_mut() {
                m.as_object_mut().map(|m| m.remove("time"));
            }
            fields.sort_by_key(|m| m["manager"].to_string());
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        for p in spec
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            p.as_object_mut().map(|p| p.remove("nodePort"));
        }
    }
    v
}

const V1: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels: {tier: web, team: a}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: main
        image: nginx:1
        env: [{name: A, value: "1"}]
      - name: side
        image: busybox
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "<b>&", gone: "soon"}
"#;

// Fields removed (the env, a label, a container, a key, spec.replicas), one changed, one
// container added before the others (`$setElementOrder` puts it first).
const V2: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels: {tier: web}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: extra
        image: redis
      - name: main
        image: nginx:2
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "changed"}
"#;

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

const WIDGET: &str = "apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  size: 3
  gone: true
  items: [{name: a}, {name: b}]
";

#[tokio::test(flavor = "multi_thread")]
async fn apply_creates_configures_and_leaves_unchanged() {
    let c = Cluster::start().await;
    twin_namespaces(&c).await;
    let v1 = c.file("v1.yaml", V1);
    let v2 = c.file("v2.yaml", V2);

    let created = twins(&c, &["apply", "-f", &v1]).await;
    assert_eq!(
        created.stdout,
        "deployment.apps/app created\nconfigmap/settings created"
    );
    same_objects(&c, "deployment/app").await;
    same_objects(&c, "configmap/settings").await;

    let unchanged = twins(&c, &["apply", "-f", &v1]).await;
    assert!(unchanged.stdout.contains("deployment.apps/app unchanged"));

    let configured = twins(&c, &["apply", "-f", &v2]).await;
    assert!(configured.stdout.contains("configmap/settings configured"));
    same_objects(&c, "deployment/app").await;
    same_objects(&c, "configmap/settings").await;
    let ours = twin_objects(&c, OURS, "deployment/app").await;
    let containers = &ours["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["env"], Value::Null, "the env was removed");
    assert_eq!(ours["metadata"]["labels"]["team"], Value::Null);
    let names: Vec<&str> = containers
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["extra", "main"]);

    // And back: what was removed comes back, the added container goes.
    twins(&c, &["apply", "-f", &v1]).await;
    same_objects(&c, "deployment/app").await;
    same_objects(&c, "configmap/settings").await;

    // Objects made without apply: the warning, then the annotation is added.
    c.ok(&["-n", REAL, "create", "deployment", "plain", "--image=nginx"])
        .await;
    c.ok(&["-n", OURS, "create", "deployment", "plain", "--image=nginx"])
        .await;
    let plain_text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: plain}\nspec:\n  selector: {matchLabels: {app: plain}}\n  template:\n    metadata: {labels: {app: plain}}\n    spec: {containers: [{name: nginx, image: nginx}]}\n";
    let plain = c.file("plain.yaml", plain_text);
    let warned = twins(&c, &["apply", "-f", &plain]).await;
    assert!(warned.stderr.contains("missing the kubectl.kubernetes.io"));
    same_objects(&c, "deployment/plain").await;

    // `create --save-config` writes the annotation apply reads: no warning, unchanged.
    let saved = c.file("saved.yaml", &plain_text.replace("plain", "saved"));
    twins(&c, &["create", "--save-config", "-f", &saved]).await;
    same_objects(&c, "deployment/saved").await;
    let again = twins(&c, &["apply", "-f", &saved]).await;
    assert_eq!(
        (again.stdout.as_str(), again.stderr.as_str()),
        ("deployment.apps/saved unchanged", "")
    );

    // Server-side apply, twice (idempotent), and a dry run.
    let ssa = c.file("ssa.yaml", &V1.replace("name: app", "name: ssa"));
    let ssa2 = c.file(
        "ssa2.yaml",
        &V1.replace("name: app", "name: ssa")
            .replace("nginx:1", "nginx:3"),
    );
    for _ in 0..2 {
        let run = twins(&c, &["apply", "--server-side", "-f", &ssa]).await;
        assert!(
            run.stdout
                .contains("deployment.apps/ssa serverside-applied")
        );
    }
    same_objects(&c, "deployment/ssa").await;
    twins(
        &c,
        &["apply", "--server-side", "--dry-run=server", "-f", &ssa2],
    )
    .await;
    twins(&c, &["apply", "--dry-run=client", "-f", &v2]).await;
    same_objects(&c, "deployment/app").await;

    // A directory, recursively.
    std::fs::create_dir_all(c.path("dir/sub")).unwrap();
    c.file(
        "dir/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    );
    c.file(
        "dir/sub/b.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}"#,
    );
    let dir = c.path("dir").display().to_string();
    let run = twins(&c, &["apply", "-R", "-f", &dir]).await;
    assert_eq!(run.stdout, "configmap/a created\nconfigmap/b created");
    same_objects(&c, "configmaps").await;

    // A custom resource: a JSON merge patch, lists replaced whole.
    let crd = c.file("crd.yaml", CRD);
    c.ok(&["apply", "-f", &crd]).await;
    c.eventually(
        "widgets are served",
        std::time::Duration::from_secs(20),
        || async {
            c.kubectl(&["get", "widgets", "-n", REAL])
                .await
                .status
                .success()
        },
    )
    .await;
    let w1 = c.file("w1.yaml", WIDGET);
    let w2 = c.file(
        "w2.yaml",
        &WIDGET
            .replace("  gone: true\n", "")
            .replace("[{name: a}, {name: b}]", "[{name: c}]"),
    );
    for (file, message) in [
        (&w1, "widget.example.com/w created"),
        (&w1, "widget.example.com/w unchanged"),
        (&w2, "widget.example.com/w configured"),
    ] {
        assert_eq!(twins(&c, &["apply", "-f", file]).await.stdout, message);
        same_objects(&c, "widgets/w").await;
    }
    let ours = twin_objects(&c, OURS, "widgets/w").await;
    assert_eq!(ours["spec"]["gone"], Value::Null);
    assert_eq!(ours["spec"]["items"], serde_json::json!([{"name": "c"}]));

    // A patch the server refuses: both fail alike on one object, with kubectl's account of
    // the patch, the object and the file.
    let good = c.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typed}\ndata: {a: x}\n",
    );
    c.ok(&["apply", "-f", &good]).await;
    let bad = c.file(
        "cm-bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typed}\ndata: {a: true}\n",
    );
    let refused = c.same(&["apply", "-f", &bad]).await;
    assert!(
        refused.stderr.contains("error when applying patch"),
        "{refused:?}"
    );

    let missing = c.path("missing.yaml").display().to_string();
    assert_eq!(twins(&c, &["apply", "-f", &missing]).await.code, Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn create_run_and_expose_build_objects_as_kubectl() {
    let c = Cluster::start().await;
    twin_namespaces(&c).await;
    let v1 = c.file("v1.yaml", V1);
    twins(&c, &["create", "-f", &v1]).await;
    let twice = twins(&c, &["create", "-f", &v1]).await;
    assert!(
        twice
            .stderr
            .contains("(AlreadyExists): error when creating")
    );
    assert_eq!(twice.code, Some(1));
    same_objects(&c, "deployment/app").await;

    let two_images = [
        "create",
        "deployment",
        "web",
        "--image=docker.io/library/nginx:1.27",
        "--image=redis",
        "--replicas=2",
        "--port=8080",
    ];
    assert_eq!(
        twins(&c, &two_images).await.stdout,
        "deployment.apps/web created"
    );
    same_objects(&c, "deployment/web").await;
    assert!(
        twins(&c, &two_images)
            .await
            .stderr
            .contains("failed to create")
    );
    let command = [
        "create",
        "deployment",
        "cmd",
        "--image=busybox",
        "--",
        "sleep",
        "10",
    ];
    twins(&c, &command).await;
    same_objects(&c, "deployment/cmd").await;
    let both = [
        "create",
        "deploy",
        "x",
        "--image=a",
        "--image=b",
        "--",
        "sleep",
        "1",
    ];
    assert_eq!(twins(&c, &both).await.code, Some(1));

    for args in [
        &["create", "service", "clusterip", "cip", "--tcp=80:8080,443"][..],
        &[
            "create",
            "service",
            "clusterip",
            "headless",
            "--clusterip=None",
        ],
        &["create", "service", "nodeport", "np", "--tcp=80:http"],
        &["create", "service", "loadbalancer", "lb", "--tcp=80"],
        &["create", "service", "clusterip", "cip", "--tcp=80"],
        &["create", "service", "clusterip", "noport"],
        &[
            "create",
            "configmap",
            "cm",
            "--from-literal=a=b",
            "--from-literal=c=d=e",
        ],
        &["create", "configmap", "cm", "--from-literal=a=b"],
        &["create", "configmap", "bad", "--from-literal=a"],
        &[
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=user=admin",
        ],
        &[
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=user=admin",
        ],
        &[
            "run",
            "p",
            "--image=busybox",
            "--restart=Never",
            "--labels=a=b,c=d",
            "--env=X=1",
            "--port=80",
            "--",
            "sleep",
            "5",
        ],
        &[
            "run",
            "q",
            "--image=busybox",
            "--command",
            "--",
            "sleep",
            "5",
        ],
        &["run", "q", "--image=busybox"],
        &[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=8080",
        ],
        &["expose", "deployment", "web", "--port=80"],
        &[
            "expose",
            "deployment/web",
            "--name=byport",
            "--type=NodePort",
        ],
        &["expose", "pod", "p", "--port=81", "--name=pod-svc"],
        &["expose", "deployment", "nope", "--port=80"],
        &["expose"],
    ] {
        twins(&c, args).await;
    }
    let file = c.file("data.txt", "line\n");
    twins(
        &c,
        &[
            "create",
            "configmap",
            "files",
            &format!("--from-file={file}"),
            &format!("--from-file=other={file}"),
        ],
    )
    .await;
    for what in [
        "services/cip",
        "services/headless",
        "services/np",
        "services/lb",
        "configmap/cm",
        "configmap/files",
        "secret/s",
        "pod/p",
        "pod/q",
        "services/web",
        "services/byport",
        "services/pod-svc",
    ] {
        same_objects(&c, what).await;
    }

    // Client dry runs write nothing, so both run on the same namespace; the built objects
    // print as kubectl's (YAML keys sorted, the namespace only when -n names it).
    for args in [
        &[
            "create",
            "deployment",
            "d",
            "--image=nginx:1",
            "--port=80",
            "--dry-run=client",
            "-o",
            "yaml",
            "--",
            "sleep",
            "1",
        ][..],
        &[
            "-n",
            REAL,
            "create",
            "deployment",
            "d",
            "--image=nginx",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "-n",
            REAL,
            "run",
            "r",
            "--image=nginx",
            "--labels=a=1",
            "--env=A=b",
            "--restart=Never",
            "--dry-run=client",
            "-o",
            "yaml",
            "--",
            "x",
            "y",
        ],
        &[
            "-n",
            REAL,
            "expose",
            "deploy",
            "web",
            "--port=1",
            "--target-port=http",
            "--type=NodePort",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "create",
            "configmap",
            "c",
            "--from-literal=a=b",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=a=b",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &[
            "create",
            "service",
            "nodeport",
            "n",
            "--tcp=1:2",
            "--node-port=30000",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &["create", "namespace", "q", "--dry-run=client", "-o", "yaml"],
        &["create", "namespace", "q", "--dry-run=server", "-o", "name"],
        &["create", "-f", &v1, "--dry-run=client", "-o", "name"],
        &["create", "-f", &v1, "--dry-run=client"],
    ] {
        // Byte for byte: `same` collapses whitespace, which would hide YAML's indentation.
        let real = c.command(args).output().await.expect("kubectl runs");
        let ours = c.barge_kubectl(args).await;
        assert_eq!(
            (
                real.status.code(),
                String::from_utf8_lossy(&real.stdout),
                String::from_utf8_lossy(&real.stderr)
            ),
            (
                ours.status.code(),
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&ours.stderr)
            ),
            "kubectl {} differs (left: kubectl, right: barge kubectl)",
            args.join(" ")
        );
    }

    // Namespaces have no twin namespace: the same name, once each way.
    c.same(&["create", "namespace", REAL]).await;
    let real = c.kubectl(&["create", "namespace", "ns-real"]).await;
    let ours = c.barge_kubectl(&["create", "namespace", "ns-ours"]).await;
    assert_eq!(
        String::from_utf8_lossy(&real.stdout).replace("ns-real", "X"),
        String::from_utf8_lossy(&ours.stdout).replace("ns-ours", "X")
    );
    assert!(ours.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn label_annotate_and_patch_say_what_they_did() {
    let c = Cluster::start().await;
    twin_namespaces(&c).await;
    for ns in [REAL, OURS] {
        c.ok(&["-n", ns, "create", "deployment", "web", "--image=nginx"])
            .await;
    }
    let steps: &[&[&str]] = &[
        &["label", "deploy", "web", "a=b", "c=d"],
        &["label", "deploy", "web", "a=b"],
        &["label", "deploy", "web", "a=x"],
        &["label", "deploy", "web", "a=x", "--overwrite"],
        &["label", "deploy", "web", "a=x", "--overwrite"],
        &["label", "deployment.apps/web", "c-"],
        &["label", "deploy", "web", "c-", "gone-"],
        &["label", "deploy", "web", "e=1", "a-", "--overwrite"],
        &["label", "deploy", "web", "a=b=c"],
        &["label", "deploy", "web", "a=x y"],
        &["label", "deploy", "web", "a=b", "a-"],
        &["label", "deploy", "web"],
        &["label", "deploy", "nope", "a=b"],
        &["annotate", "deploy", "web", "note=hello world", "x=1"],
        &["annotate", "deploy", "web", "note=changed"],
        &["annotate", "deploy", "web", "note=changed", "--overwrite"],
        &["annotate", "deploy", "web", "x-", "missing-"],
        &["annotate", "deploy", "web", "a=1", "a-"],
        &["annotate", "deploy", "web"],
        &["patch", "deploy", "web", "-p", r#"{"spec":{"replicas":3}}"#],
        &["patch", "deploy", "web", "-p", r#"{"spec":{"replicas":3}}"#],
        &[
            "patch",
            "deploy",
            "web",
            "--type=merge",
            "-p",
            "metadata: {labels: {m: n}}",
        ],
        &[
            "patch",
            "deploy",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#,
        ],
        &[
            "patch",
            "deploy",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:2"}]}}}}"#,
        ],
        &[
            "patch",
            "deploy",
            "web",
            "-p",
            r#"{"spec":{"replicas":"x"}}"#,
        ],
        &["patch", "deploy", "web", "-p", "nojson"],
        &["patch", "deploy", "web", "--type=bad", "-p", "{}"],
        &["patch", "deploy", "web"],
        &["patch", "deploy", "nope", "-p", "{}"],
    ];
    for args in steps {
        twins(&c, args).await;
    }
    same_objects(&c, "deployment/web").await;
    let ours = twin_objects(&c, OURS, "deployment/web").await;
    assert_eq!(ours["spec"]["replicas"], 2);
    assert_eq!(ours["metadata"]["labels"]["e"], "1");
    assert_eq!(ours["metadata"]["annotations"]["note"], "changed");
}

/// An editor for `kubectl edit`: a script that runs `sed -i EXPR` on the file it is given.
fn sed_editor(c: &Cluster, name: &str, expr: &str) -> String {
    let path = c.file(name, &format!("#!/bin/sh\nsed -i '{expr}' \"$1\"\n"));
    let mut perms = std::fs::metadata(&path).expect("editor").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).expect("editor made executable");
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn edit_patches_what_the_editor_changed() {
    let c = Cluster::start().await;
    twin_namespaces(&c).await;
    for ns in [REAL, OURS] {
        c.ok(&[
            "-n",
            ns,
            "create",
            "configmap",
            "settings",
            "--from-literal=a=1",
        ])
        .await;
        c.ok(&["-n", ns, "create", "deployment", "app", "--image=nginx"])
            .await;
    }
    let change = sed_editor(&c, "change.sh", r#"s/^  a: "1"$/  a: "2"/"#);
    let edited = twins_with(
        &c,
        &[("KUBE_EDITOR", &change)],
        &["edit", "configmap/settings"],
    )
    .await;
    assert_eq!(edited.stdout, "configmap/settings edited");
    same_objects(&c, "configmap/settings").await;
    assert_eq!(
        twin_objects(&c, OURS, "configmap/settings").await["data"]["a"],
        "2"
    );

    // Nothing changed (the editor changes nothing now), and an editor given through EDITOR.
    let again = twins_with(&c, &[("EDITOR", &change)], &["edit", "cm", "settings"]).await;
    assert_eq!(again.stderr, "Edit cancelled, no changes made.");
    twins_with(
        &c,
        &[("KUBE_EDITOR", "true")],
        &["edit", "configmap", "nope"],
    )
    .await;
    twins_with(&c, &[("KUBE_EDITOR", "true")], &["edit"]).await;

    // Both objects at once: a List (which kubectl validates against /openapi/v2 in protobuf),
    // each patched or skipped.
    let both = twins_with(
        &c,
        &[(
            "KUBE_EDITOR",
            &sed_editor(&c, "both.sh", r#"s/^    a: "2"$/    a: "3"/"#),
        )],
        &["edit", "configmap/settings", "deployment/app"],
    )
    .await;
    assert_eq!(
        both.stdout,
        "configmap/settings edited\ndeployment.apps/app skipped"
    );
    same_objects(&c, "configmap/settings").await;

    // An invalid edit: the file is reopened with the reasons, and unchanged again it is kept.
    let invalid = sed_editor(&c, "invalid.sh", "s/^  replicas: 1$/  replicas: -1/");
    let mut real = c.command(&["-n", REAL, "edit", "deployment/app"]);
    let mut ours = c.barge_kubectl_command(&["-n", OURS, "edit", "deployment/app"]);
    real.env("KUBE_EDITOR", &invalid);
    ours.env("KUBE_EDITOR", &invalid);
    let masked = |out: std::process::Output| {
        let mut run = Run::of(out);
        run.stderr = run
            .stderr
            .split_whitespace()
            .map(|w| {
                if w.contains("kubectl-edit-") {
                    "<file>"
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        run
    };
    let real = masked(real.output().await.expect("kubectl runs"));
    let ours = masked(ours.output().await.expect("barge kubectl runs"));
    assert_eq!(real, ours, "edit of an invalid object (left: kubectl)");
    assert_eq!(real.code, Some(1));
    assert!(real.stderr.contains("is invalid"), "{}", real.stderr);
    same_objects(&c, "deployment/app").await;
}
