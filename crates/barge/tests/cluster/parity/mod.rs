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

/// What one run printed and how it ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn of(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: mask(&String::from_utf8_lossy(&out.stdout)),
            stderr: mask(&String::from_utf8_lossy(&out.stderr)),
        }
    }
}

/// Whether a word is an age as kubectl prints them (`5s`, `2m3s`, `3h`, `12d`, `<invalid>`).
fn is_age(word: &str) -> bool {
    if word == "<invalid>" {
        return true;
    }
    let mut rest = word;
    let mut units = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        let unit = rest[digits..].chars().next();
        if !matches!(unit, Some('s' | 'm' | 'h' | 'd' | 'y')) {
            return false;
        }
        rest = &rest[digits + 1..];
        units += 1;
    }
    units > 0
}

/// The text with every age replaced by `<age>`; column alignment is kept by padding.
pub fn mask(text: &str) -> String {
    text.lines()
        .map(|line| {
            line.split(' ')
                .map(|w| if is_age(w) { "<age>" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

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
    /// `barge kubectl <args>` with this cluster's kubeconfig.
    pub async fn barge_kubectl(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(BARGE)
            .arg("kubectl")
            .arg("--kubeconfig")
            .arg(self.path("kubeconfig"))
            .args(args)
            .env_remove("KUBECONFIG")
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

#[test]
fn ages_are_masked() {
    assert!(is_age("5s") && is_age("2m3s") && is_age("12d") && is_age("<invalid>"));
    assert!(!is_age("s5") && !is_age("web") && !is_age("") && !is_age("10.0.0.1"));
    assert_eq!(
        mask("NAME   READY   AGE\nweb    1/1     2m3s"),
        "NAME READY AGE\nweb 1/1 <age>"
    );
}
