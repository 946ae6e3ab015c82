//! The seed's commands that need real containers, through the real kubectl and `barge kubectl`
//! with the same arguments against one live node (issue 9's parity suite; the commands that
//! hollow nodes can answer are in the cluster suite): `logs`, `exec` (exit codes, errors, an
//! interactive shell on a pseudo-terminal), `port-forward` and `describe pod` of a running
//! container.

use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{BARGE, IMAGE, Node, can_run};

#[path = "../support/parity.rs"]
mod support;
use support::Run;

impl Node {
    fn barge_kubectl(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(BARGE);
        cmd.arg("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env_remove("KUBECONFIG");
        cmd
    }

    fn real_kubectl(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }

    /// Both kubectls with `args`; panics, showing both, when they differ.
    async fn same(&self, args: &[&str]) -> Run {
        let output = |mut cmd: tokio::process::Command| async move {
            let out: Output = cmd.args(args).output().await.expect("kubectl runs");
            Run::of(out)
        };
        let real = output(self.real_kubectl()).await;
        let ours = output(self.barge_kubectl()).await;
        assert_eq!(
            real,
            ours,
            "kubectl {} differs (left: kubectl, right: barge kubectl)",
            args.join(" ")
        );
        real
    }
}

/// An interactive `exec -it … -- sh` driven through a pseudo-terminal (`script`): the shell
/// evaluates a line typed into it and exits with the code typed; its transcript and exit code.
async fn interactive_shell(kubectl: &str, node: &Node, pod: &str) -> (String, Option<i32>) {
    let script = format!(
        "(sleep 2; printf 'echo PTY-$((6*7))\\n'; sleep 1; printf 'exit 4\\n') | script -qec \"{kubectl} --kubeconfig {} exec -it {pod} -- sh\" /dev/null",
        node.kubeconfig.display()
    );
    let out = tokio::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .await
        .expect("script runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

/// `port-forward` to the pod's httpd: the lines printed before the first connection, and
/// whether an HTTP request through the local port got httpd's answer.
async fn forward_once(mut cmd: tokio::process::Command, pod: &str) -> (Vec<String>, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut child = cmd
        .args([
            "port-forward",
            pod,
            &format!("{port}:8080"),
            "--address=127.0.0.1",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("port-forward runs");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut lines = Vec::new();
    let first = tokio::time::timeout(Duration::from_secs(20), out.next_line()).await;
    if let Ok(Ok(Some(l))) = first {
        lines.push(l.replace(&port.to_string(), "<port>"));
    }
    let answer = std::process::Command::new("busybox")
        .args(["wget", "-q", "-S", "-O", "-"])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("wget runs");
    let answer = String::from_utf8_lossy(&answer.stderr) + String::from_utf8_lossy(&answer.stdout);
    if let Ok(Ok(Some(l))) = tokio::time::timeout(Duration::from_secs(10), out.next_line()).await {
        lines.push(l.replace(&port.to_string(), "<port>"));
    }
    let _ = child.kill().await;
    (lines, answer.into_owned())
}

#[tokio::test]
async fn the_seeds_commands_on_real_containers_match_kubectl() {
    if !can_run() {
        return;
    }
    let node = Node::start().await;
    node.ok(&[
        "create",
        "deployment",
        "web",
        "--image",
        IMAGE,
        "--",
        "sh",
        "-c",
        "echo first line; echo second line; exec httpd -f -p 8080",
    ])
    .await;
    node.ok(&["rollout", "status", "deployment/web", "--timeout=90s"])
        .await;
    let pod = node
        .ok(&["get", "pods", "-l", "app=web", "-o", "name"])
        .await
        .trim()
        .to_owned();
    let name = pod.trim_start_matches("pod/");

    node.same(&["get", "pods"]).await;
    node.same(&["get", "deployments"]).await;
    node.same(&["describe", "pod", name]).await;
    let logs = node.same(&["logs", name]).await;
    assert_eq!(logs.stdout, "first line\nsecond line");
    node.same(&["logs", "deploy/web", "--tail=1"]).await;
    node.same(&["logs", name, "-c", "nope"]).await;

    let hostname = node.same(&["exec", name, "--", "hostname"]).await;
    assert_eq!(hostname.stdout, name);
    let failed = node
        .same(&[
            "exec",
            name,
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ])
        .await;
    assert_eq!((failed.code, failed.stdout.as_str()), (Some(3), "out"));
    node.same(&["exec", "deploy/web", "--", "hostname"]).await;
    node.same(&["exec", "nope", "--", "true"]).await;
    node.same(&["exec", name, "-c", "nope", "--", "true"]).await;
    node.same(&["exec", name]).await;

    // -i with a pipe: stdin reaches the command and its end closes it.
    let mut piped = node
        .barge_kubectl()
        .args(["exec", "-i", name, "--", "wc", "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("barge kubectl exec -i");
    if let Some(mut stdin) = piped.stdin.take() {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(b"one\ntwo\nthree\n").await.expect("stdin");
    }
    let counted = tokio::time::timeout(Duration::from_secs(30), piped.wait_with_output())
        .await
        .expect("exec -i ends when its input does")
        .expect("output");
    assert_eq!(String::from_utf8_lossy(&counted.stdout).trim(), "3");

    for kubectl in ["kubectl", &format!("{BARGE} kubectl")] {
        let (text, code) = interactive_shell(kubectl, &node, name).await;
        assert!(
            text.contains("PTY-42"),
            "{kubectl}: the shell evaluated the line: {text}"
        );
        assert_eq!(code, Some(4), "{kubectl}: {text}");
    }

    let (real_lines, real_answer) = forward_once(node.real_kubectl(), &pod).await;
    let (our_lines, our_answer) = forward_once(node.barge_kubectl(), &pod).await;
    assert!(
        real_answer.contains("404"),
        "kubectl's tunnel: {real_answer}"
    );
    assert!(
        our_answer.contains("404"),
        "barge kubectl's tunnel: {our_answer}"
    );
    assert_eq!(real_lines, our_lines);
}
