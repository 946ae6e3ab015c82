//! Parity of `barge kubectl` logs, scale, delete, rollout, wait, top and auth with kubectl (see `parity/mod.rs`).
//!
//! A command that changes the cluster cannot run twice on the same state, so those are compared
//! with [`twice`]: kubectl runs it, the change is put back, `barge kubectl` runs it, and the two
//! runs must match.
//!
//! Not compared: the `Waiting for deployment ...` lines of a rollout in progress (kubectl
//! prints one per watch event, so their number depends on timing; the wording is unit-tested
//! in `rollout.rs`); logs with content (hollow pods have no containers: only the errors are
//! compared); `scale` without `--replicas` (kubectl reports it through klog, with a time and
//! a process id in the line).

use std::time::Duration;

use super::{Run, cluster_with_web};
use crate::Cluster;

/// Waits until `web`'s rollout is over (through the real kubectl).
async fn settle(c: &Cluster) {
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
}

/// `args` through kubectl, then `restore` (through kubectl), then `args` through barge kubectl
/// (then `restore` again): a change compared by what each printed doing it.
async fn twice(c: &Cluster, args: &[&str], restore: &[&[&str]]) -> Run {
    let real = Run::of(c.command(args).output().await.expect("kubectl runs"));
    for r in restore {
        c.ok(r).await;
    }
    let ours = Run::of(c.barge_kubectl(args).await);
    for r in restore {
        c.ok(r).await;
    }
    assert_eq!(
        real,
        ours,
        "kubectl {} differs (left: kubectl, right: barge kubectl)",
        args.join(" ")
    );
    real
}

/// The revision numbers `rollout history` lists.
async fn revisions(c: &Cluster) -> Vec<String> {
    c.ok(&["rollout", "history", "deployment/web"])
        .await
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_and_rollout_match_kubectl() {
    let c = cluster_with_web().await;

    // scale: to the same size (so both runs do the same), a precondition, a missing object.
    c.same(&["scale", "deployment/web", "--replicas=2"]).await;
    c.same(&[
        "scale",
        "deployment",
        "web",
        "--replicas=2",
        "--current-replicas=2",
    ])
    .await;
    let failed = c
        .same(&[
            "scale",
            "deploy/web",
            "--replicas=3",
            "--current-replicas=5",
        ])
        .await;
    assert_eq!(failed.code, Some(1));
    c.same(&["scale", "deployment/nope", "--replicas=1"]).await;
    settle(&c).await;

    // status and history of a finished rollout, and of things without one.
    c.same(&["rollout", "status", "deployment/web"]).await;
    c.same(&["rollout", "status", "deployment/web", "--watch=false"])
        .await;
    c.same(&["rollout", "status", "deployment/nope"]).await;
    c.same(&["rollout", "status", "deployment"]).await;
    c.same(&["rollout", "status", "deployment", "-l", "app=none"])
        .await;
    c.same(&["rollout", "history", "deployment/web", "-l", "app=web"])
        .await;
    c.ok(&["run", "solo", "--image=nginx"]).await;
    for sub in ["status", "history", "undo", "restart"] {
        c.same(&["rollout", sub, "pod/solo"]).await;
    }
    c.same(&["rollout", "history", "deployment/web"]).await;
    c.same(&["rollout", "undo", "deployment/web"]).await;

    // A second revision, then undo through each kubectl: both roll back (to each other's
    // template), then the same revision is asked for again and both skip it.
    c.ok(&["set", "image", "deployment/web", "nginx=nginx:1.27"])
        .await;
    settle(&c).await;
    c.same(&["rollout", "history", "deployment/web"]).await;
    for r in revisions(&c).await {
        c.same(&[
            "rollout",
            "history",
            "deployment/web",
            &format!("--revision={r}"),
        ])
        .await;
    }
    c.same(&["rollout", "history", "deployment/web", "--revision=42"])
        .await;
    let undone = c.same(&["rollout", "undo", "deployment/web"]).await;
    assert_eq!(undone.code, Some(0), "{undone:?}");
    settle(&c).await;
    let latest = revisions(&c).await.last().cloned().expect("a revision");
    c.same(&[
        "rollout",
        "undo",
        "deployment/web",
        &format!("--to-revision={latest}"),
    ])
    .await;
    c.same(&["rollout", "undo", "deployment/web", "--to-revision=99"])
        .await;
    settle(&c).await;
    c.same(&["rollout", "history", "deployment/web"]).await;

    // restart, and pause/resume, each put back before the other kubectl runs it.
    c.same(&["rollout", "restart", "deployment/web"]).await;
    settle(&c).await;
    let resume: &[&str] = &["rollout", "resume", "deployment/web"];
    let pause: &[&str] = &["rollout", "pause", "deployment/web"];
    twice(&c, pause, &[resume]).await;
    c.ok(pause).await;
    c.same(pause).await;
    c.same(&["rollout", "restart", "deployment/web"]).await;
    c.same(&["rollout", "undo", "deployment/web"]).await;
    // A paused rollout waited for until the timeout: one status line, then the error.
    c.ok(&["set", "image", "deployment/web", "nginx=nginx:1.28"])
        .await;
    c.eventually(
        "the paused deployment's new template is observed",
        Duration::from_secs(20),
        || async {
            c.ok(&["rollout", "status", "deployment/web", "--watch=false"])
                .await
                .contains("new replicas have been updated")
        },
    )
    .await;
    let stuck = c
        .same(&["rollout", "status", "deployment/web", "--timeout=3s"])
        .await;
    assert_eq!(stuck.code, Some(1), "{stuck:?}");
    twice(&c, resume, &[pause]).await;
    c.ok(resume).await;
    c.same(resume).await;
    settle(&c).await;
    c.same(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;

    // DaemonSets and StatefulSets: status, history (with a revision's template), undo and
    // restart. Not compared: undo to the revision already current, which kubectl decides by
    // comparing bytes with Go's encoding of the template (see `rollout.rs`).
    let sets = c.file(
        "sets.yaml",
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec: {containers: [{name: a, image: busybox}]}\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  replicas: 2\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: d, image: busybox}]}\n",
    );
    c.ok(&["create", "-f", &sets]).await;
    for set in ["daemonset/agent", "statefulset/db"] {
        c.ok(&["rollout", "status", set, "--timeout=60s"]).await;
        c.same(&["rollout", "status", set]).await;
        c.same(&["rollout", "history", set]).await;
        c.same(&["rollout", "history", set, "--revision=1"]).await;
        c.same(&["rollout", "undo", set]).await;
        c.same(&["rollout", "pause", set]).await;
    }
    c.ok(&["set", "image", "daemonset/agent", "a=busybox:2"])
        .await;
    c.ok(&["set", "image", "statefulset/db", "d=busybox:2"])
        .await;
    for set in ["daemonset/agent", "statefulset/db"] {
        c.ok(&["rollout", "status", set, "--timeout=60s"]).await;
        c.same(&["rollout", "history", set, "--revision=2"]).await;
        c.same(&["rollout", "undo", set, "--to-revision=7"]).await;
        // Each kubectl rolls back to the revision before the current one, once the controller
        // has recorded the other's. Not for the StatefulSet: Barge's StatefulSet controller
        // keeps the number of a revision it returns to (upstream's bumps it to the newest), so
        // the revision before the newest is the current template, which kubectl's byte
        // comparison does not see.
        if set == "daemonset/agent" {
            twice(
                &c,
                &["rollout", "undo", set],
                &[&["rollout", "status", set, "--timeout=60s"]],
            )
            .await;
        }
        c.ok(&["rollout", "status", set, "--timeout=60s"]).await;
        c.same(&["rollout", "history", set]).await;
        c.same(&["rollout", "restart", set]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_wait_logs_and_auth_match_kubectl() {
    let c = cluster_with_web().await;
    let ready = |name: &'static str| {
        let c = &c;
        async move {
            c.ok(&[
                "wait",
                "--for=condition=Ready",
                &format!("pod/{name}"),
                "--timeout=30s",
            ])
            .await;
        }
    };
    let run_a = &["run", "a", "--image=nginx", "--labels=app=a"][..];
    let run_b = &["run", "b", "--image=nginx", "--labels=app=a"][..];
    let ready_a = &["wait", "--for=condition=Ready", "pod/a", "--timeout=30s"][..];
    let ready_b = &["wait", "--for=condition=Ready", "pod/b", "--timeout=30s"][..];

    // wait: conditions met, a condition that never comes, a missing object, jsonpath. Waits
    // that time out last 3 s: kubectl warns (through klog, with a time) of a watch that ends
    // within its first second.
    c.same(&["wait", "--for=condition=Available", "deploy/web"])
        .await;
    c.same(&[
        "wait",
        "--for=condition=Available=false",
        "deployment/web",
        "--timeout=3s",
    ])
    .await;
    c.same(&[
        "wait",
        "--for=condition=Available",
        "deploy/nope",
        "--timeout=1s",
    ])
    .await;
    c.same(&["wait", "--for=delete", "pod/nope", "--timeout=1s"])
        .await;
    c.same(&["wait", "--for=jsonpath={.spec.replicas}=2", "deploy/web"])
        .await;
    c.same(&["wait", "deploy/web"]).await;
    c.same(&["wait", "--for=condition=Ready"]).await;

    // delete by name, by TYPE/NAME, by selector; recreated in between.
    c.ok(run_a).await;
    ready("a").await;
    // Deleted only once Ready: a pod deleted before its node has seen it may stay Terminating.
    let recreate_a: &[&[&str]] = &[run_a, ready_a];
    twice(&c, &["delete", "pod", "a"], recreate_a).await;
    twice(&c, &["delete", "pod/a", "--now"], recreate_a).await;
    c.ok(run_b).await;
    ready("b").await;
    let both: &[&[&str]] = &[run_a, run_b, ready_a, ready_b];
    twice(&c, &["delete", "pods", "-l", "app=a"], both).await;
    c.same(&["wait", "--for=condition=Ready", "pods", "-l", "app=a"])
        .await;
    c.same(&["wait", "--for=delete", "pod/a", "--timeout=3s"])
        .await;
    // Errors: missing objects (one of two), no name, no arguments, --all with a selector.
    c.same(&["delete", "pod", "nope", "--ignore-not-found"])
        .await;
    c.same(&["delete", "pod", "nope"]).await;
    c.same(&["delete", "deploy/nope", "pod/nope2"]).await;
    c.same(&["delete", "pod"]).await;
    c.same(&["delete"]).await;
    c.same(&["delete", "pods", "--all", "-l", "app=a"]).await;
    c.same(&["delete", "pods", "-l", "app=none"]).await;
    c.same(&["delete", "pod", "a", "--now", "--grace-period=3"])
        .await;
    let manifest = c.file(
        "gone.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\n",
    );
    c.same(&["delete", "-f", &manifest]).await;
    c.same(&["delete", "-f", &c.path("").display().to_string()])
        .await;
    c.ok(&["create", "-f", &manifest]).await;
    twice(
        &c,
        &["delete", "-f", &manifest],
        &[&["create", "-f", &manifest]],
    )
    .await;

    // logs: what can be compared without container output.
    let two = c.file(
        "two.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: two\nspec:\n  containers:\n  - {name: a, image: nginx}\n  - {name: b, image: nginx}\n",
    );
    c.ok(&["create", "-f", &two]).await;
    ready("two").await;
    c.same(&["logs"]).await;
    c.same(&["logs", "nope"]).await;
    c.same(&["logs", "deploy/nope"]).await;
    c.same(&["logs", "two", "-c", "zz"]).await;
    c.same(&["logs", "two"]).await;
    c.same(&["logs", "svc/kubernetes"]).await;

    // top: hollow nodes report no usage, so only what kubectl says without metrics (the pods
    // are younger than two minutes; older ones are named with their age in nanoseconds).
    c.same(&["top", "nodes"]).await;
    c.same(&["top", "pods"]).await;
    c.same(&["top", "pod", "nope"]).await;
    c.same(&["top", "pods", "-l", "app=none"]).await;

    // auth can-i.
    c.same(&["auth", "can-i", "get", "pods"]).await;
    c.same(&["auth", "can-i", "get"]).await;
    c.same(&["auth", "can-i", "delete", "deployments.apps"])
        .await;

    // delete waits until the object is gone.
    c.ok(&["scale", "deployment/web", "--replicas=0"]).await;
    let r = twice(
        &c,
        &["delete", "deployment", "web"],
        &[&[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--replicas=0",
        ]],
    )
    .await;
    assert_eq!(r.code, Some(0), "{r:?}");
}
