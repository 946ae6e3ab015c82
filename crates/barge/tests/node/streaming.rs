//! `kubectl logs`, `exec` (plain and with a terminal), `port-forward` (kubectl's and kube-rs's)
//! and `describe` through the API server to the kubelet, against a real container.

use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::{IMAGE, Node, can_run};

async fn client(kubeconfig: &std::path::Path) -> kube::Client {
    let file = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

#[tokio::test]
async fn logs_exec_and_port_forward_reach_the_container() {
    if !can_run() {
        return;
    }
    let node = Node::start().await;
    node.ok(&[
        "run",
        "web",
        "--image",
        IMAGE,
        "--",
        "sh",
        "-c",
        "echo first line; echo second line; exec httpd -f -p 8080",
    ])
    .await;
    node.ok(&["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"])
        .await;

    let logs = node.ok(&["logs", "web"]).await;
    assert_eq!(logs, "first line\nsecond line\n");
    let tail = node.ok(&["logs", "web", "--tail=1"]).await;
    assert_eq!(tail, "second line\n");
    let stamped = node.ok(&["logs", "web", "--timestamps"]).await;
    assert!(
        stamped.lines().all(|l| l.contains('T') && l.contains('Z')),
        "{stamped}"
    );

    // logs -f follows: a line written later arrives on the open stream.
    let mut follow = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&node.kubeconfig)
        .args(["logs", "-f", "web", "--tail=0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl logs -f");
    let mut lines = BufReader::new(follow.stdout.take().expect("stdout")).lines();
    tokio::time::sleep(Duration::from_secs(1)).await;
    node.ok(&[
        "exec",
        "web",
        "--",
        "sh",
        "-c",
        "echo later line > /proc/1/fd/1",
    ])
    .await;
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("a followed line in time")
        .expect("readable");
    assert_eq!(line.as_deref(), Some("later line"));
    let _ = follow.kill().await;

    // exec: output and exit codes pass through.
    assert_eq!(node.ok(&["exec", "web", "--", "hostname"]).await, "web\n");
    let failed = node
        .kubectl(&["exec", "web", "--", "sh", "-c", "exit 3"])
        .await;
    assert_eq!(failed.status.code(), Some(3));

    // exec -it: an interactive shell on a pseudo-terminal (through `script`).
    let script = format!(
        "(sleep 2; printf 'echo PTY-$((6*7))\\n'; sleep 1; printf 'exit 4\\n') | script -qec \"kubectl --kubeconfig {} exec -it web -- sh\" /dev/null",
        node.kubeconfig.display()
    );
    let tty = tokio::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .await
        .expect("script runs");
    let text = String::from_utf8_lossy(&tty.stdout);
    assert!(
        text.contains("PTY-42"),
        "the shell evaluated the line: {text}"
    );
    assert_eq!(tty.status.code(), Some(4), "{text}");

    // port-forward: a local port reaches the container's port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut forward = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&node.kubeconfig)
        .args(["port-forward", "pod/web", &format!("{port}:8080")])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl port-forward");
    let mut out = BufReader::new(forward.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), out.next_line()).await;
    assert!(
        matches!(ready, Ok(Ok(Some(ref l))) if l.contains("Forwarding from")),
        "{ready:?}"
    );
    let answer = std::process::Command::new("busybox")
        .args([
            "wget",
            "-q",
            "-S",
            "-O",
            "-",
            &format!("http://127.0.0.1:{port}/"),
        ])
        .output()
        .expect("wget runs");
    let answer = String::from_utf8_lossy(&answer.stderr) + String::from_utf8_lossy(&answer.stdout);
    assert!(
        answer.contains("404"),
        "httpd answered through the tunnel: {answer}"
    );
    let _ = forward.kill().await;

    // kube-rs's Portforwarder (the v4.channel.k8s.io WebSocket protocol): two ports on one
    // WebSocket, one that httpd answers on and one where nothing listens.
    let pods: kube::Api<Pod> = kube::Api::default_namespaced(client(&node.kubeconfig).await);
    let mut pf = pods
        .portforward("web", &[8080, 9999])
        .await
        .expect("a port-forward session");
    let refused = pf.take_error(9999).expect("an error future");
    let error = tokio::time::timeout(Duration::from_secs(20), refused)
        .await
        .expect("the refused port reports in time");
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("error forwarding port 9999")),
        "{error:?}"
    );
    let mut stream = pf.take_stream(8080).expect("the 8080 stream");
    stream
        .write_all(b"GET /nothing HTTP/1.0\r\n\r\n")
        .await
        .expect("request written");
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut reply))
        .await
        .expect("httpd answers and the session ends in time")
        .expect("readable");
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with("HTTP/1.") && reply.contains("404"),
        "{reply}"
    );
    pf.abort();

    let describe = node.ok(&["describe", "pod", "web"]).await;
    for line in [
        "Successfully assigned default/web to",
        "already present on machine",
        "Created container: web",
        "Started container web",
    ] {
        assert!(describe.contains(line), "{line:?} in:\n{describe}");
    }
    let missing = node.kubectl(&["logs", "web", "-c", "nope"]).await;
    assert!(!missing.status.success());
}
