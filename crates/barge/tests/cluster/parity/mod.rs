//! The parity suite of `barge kubectl` (issue 9): the real kubectl and `barge kubectl` run with
//! the same arguments against one cluster, and their exit codes, standard output and standard
//! error must match, with ages masked (the two runs are moments apart). Each command family
//! has a module of its own.

mod describe;
mod everyday;
mod get;
mod write;

use std::process::Output;

use super::{BARGE, Cluster};

#[path = "../../support/parity.rs"]
mod support;
pub use support::{Run, mask};

/// Two hollow nodes and `web` (2 replicas) rolled out: what most parity tests start from.
pub async fn cluster_with_web() -> Cluster {
    let mut c = Cluster::start().await;
    c.add_nodes("n-", 2, &[]).await;
    c.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
    ])
    .await;
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    c
}

impl Cluster {
    /// `barge kubectl <args>` with this cluster's kubeconfig, to run.
    pub fn barge_kubectl_command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(BARGE);
        cmd.arg("kubectl")
            .arg("--kubeconfig")
            .arg(self.path("kubeconfig"))
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        cmd
    }

    /// `barge kubectl <args>` with this cluster's kubeconfig.
    pub async fn barge_kubectl(&self, args: &[&str]) -> Output {
        self.barge_kubectl_command(args)
            .output()
            .await
            .expect("barge kubectl runs")
    }

    /// Both kubectls with `args`; panics, showing both, when they differ.
    pub async fn same(&self, args: &[&str]) -> Run {
        let real = Run::of(self.command(args).output().await.expect("kubectl runs"));
        let ours = Run::of(self.barge_kubectl(args).await);
        assert_eq!(
            real,
            ours,
            "kubectl {} differs (left: kubectl, right: barge kubectl)",
            args.join(" ")
        );
        real
    }
}
