//! Two real nodes on one machine: `barge server` in the test's network namespace and a
//! `barge agent` in a network namespace of its own, joined by a veth pair (the layout `barge
//! cluster` will use), plus a third namespace standing for the world outside the cluster. Pods
//! talk across nodes without NAT (host-gw routes), reach Services whose endpoints are on the
//! other node, and reach the outside through their node's masquerade.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{BARGE, IMAGE, Node, can_run};

/// Runs `ip` with `args`; panics with its error output on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The test's namespaces and links, removed on drop: the worker node's namespace (`node`,
/// reached at `.2` of `link_net` through the host's `.1`) and the outside world's (`outside`,
/// `.2` of `outside_net`, with no route to any pod network).
struct Net {
    node_ns: String,
    outside_ns: String,
    octet: u32,
}

impl Net {
    fn new() -> Self {
        let id = std::process::id();
        let octet = 10 + id % 240;
        let net = Net {
            node_ns: format!("bn-{id}"),
            outside_ns: format!("bo-{id}"),
            octet,
        };
        for (ns, link, prefix) in [
            (&net.node_ns, format!("vbn{id}"), "172.31"),
            (&net.outside_ns, format!("vbo{id}"), "172.30"),
        ] {
            ip(&["netns", "add", ns]);
            ip(&[
                "link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ]);
            ip(&[
                "addr",
                "add",
                &format!("{prefix}.{octet}.1/24"),
                "dev",
                &link,
            ]);
            ip(&["link", "set", &link, "up"]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{prefix}.{octet}.2/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // The worker reaches everything through the host; the outside only its own subnet.
        ip(&[
            "-n",
            &net.node_ns,
            "route",
            "add",
            "default",
            "via",
            &format!("172.31.{octet}.1"),
        ]);
        net
    }

    /// The host's address towards the worker: the server's and first node's address.
    fn host_ip(&self) -> String {
        format!("172.31.{}.1", self.octet)
    }

    fn worker_ip(&self) -> String {
        format!("172.31.{}.2", self.octet)
    }

    fn outside_ip(&self) -> String {
        format!("172.30.{}.2", self.octet)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.node_ns, &self.outside_ns] {
            // Deleting a namespace removes its links, and with them the host's ends.
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A process in `ns` (by `nsenter --net`, which keeps the cgroup mounts), killed on drop.
struct InNetns(std::process::Child);

impl InNetns {
    fn spawn(ns: &str, program: &str, args: &[&str], log: &Path) -> Self {
        let log = std::fs::File::create(log).expect("log file");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{ns}"))
            .arg(program)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nsenter runs");
        Self(child)
    }

    /// SIGTERM, then SIGKILL after 20 s.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for InNetns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The worker node: `barge agent --server URL --token T` in the node namespace, with
/// everything it made removed on drop (containers by their cgroups, containerd and shims, mounts, cgroups, directories).
struct Worker {
    name: String,
    dir: tempfile::TempDir,
    run_dir: PathBuf,
    agent: Option<InNetns>,
}

impl Worker {
    fn start(net: &Net, server: &Node) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("barge-node-")
            .tempdir()
            .expect("temp dir");
        let name = format!("{}-w", server.name);
        let run_dir = PathBuf::from(format!("/run/barge-e2e-{}-w", std::process::id()));
        let images = dir.path().join("data").join("agent").join("images");
        std::fs::create_dir_all(&images).expect("images dir");
        let out = Command::new(BARGE)
            .args(["image", "busybox", "--name", IMAGE, "-o"])
            .arg(images.join("busybox.tar"))
            .output()
            .expect("barge image busybox");
        assert!(out.status.success());
        let data = dir.path().join("data");
        let worker_ip = net.worker_ip();
        let agent = InNetns::spawn(
            &net.node_ns,
            BARGE,
            &[
                "agent",
                "--server",
                &server.url(),
                "--token",
                &server.token(),
                "--data-dir",
                data.to_str().unwrap_or_default(),
                "--run-dir",
                run_dir.to_str().unwrap_or_default(),
                "--node-name",
                &name,
                "--node-ip",
                &worker_ip,
                "--cluster-cidr",
                server.cluster_cidr(),
                "--cluster-dns",
                &server.cluster_dns,
                "--kubelet-port",
                "0",
            ],
            &dir.path().join("agent.log"),
        );
        Self {
            name,
            dir,
            run_dir,
            agent: Some(agent),
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            agent.stop();
        }
        for pid in crate::cgroup_processes(&self.name)
            .into_iter()
            .chain(crate::shims(&self.run_dir))
            .chain(crate::shims(self.dir.path()))
        {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        std::thread::sleep(Duration::from_millis(300));
        for root in [self.dir.path(), self.run_dir.as_path()] {
            crate::unmount_under(root);
        }
        crate::remove_cgroups(&self.name);
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// A pod pinned to `node` serving its caller's address at `/cgi-bin/ip` on port 8080.
fn echo_pod(name: &str, node: &str) -> String {
    let script = "mkdir -p /www/cgi-bin; printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho from $REMOTE_ADDR\\n' > /www/cgi-bin/ip; chmod +x /www/cgi-bin/ip; exec httpd -f -p 8080 -h /www";
    format!(
        r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "{name}", "labels": {{"app": "{name}"}}}},
  "spec": {{"nodeName": "{node}", "terminationGracePeriodSeconds": 1,
    "containers": [{{"name": "c", "image": "{IMAGE}", "command": ["sh", "-c", {script:?}]}}]}}}}"#
    )
}

#[tokio::test]
async fn pods_talk_across_nodes_and_reach_the_outside() {
    if !can_run() {
        return;
    }
    let net = Net::new();
    let host_ip = net.host_ip();
    let node = Node::start_with(|n| {
        n.bind_address = host_ip.clone();
        n.node_ip = Some(host_ip.clone());
    })
    .await;
    let worker = Worker::start(&net, &node);
    node.eventually(
        "the worker node is Ready",
        Duration::from_secs(60),
        || async {
            let out = node
                .kubectl(&[
                    "get",
                    "node",
                    &worker.name,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
                ])
                .await;
            String::from_utf8_lossy(&out.stdout) == "True"
        },
    )
    .await;

    // The world outside: a web server that only knows its own subnet.
    let www = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(www.path().join("cgi-bin")).expect("cgi dir");
    let cgi = www.path().join("cgi-bin").join("ip");
    std::fs::write(
        &cgi,
        "#!/bin/sh\necho Content-Type: text/plain\necho\necho from $REMOTE_ADDR\n",
    )
    .expect("cgi written");
    Command::new("chmod")
        .arg("+x")
        .arg(&cgi)
        .status()
        .expect("chmod");
    let _outside = InNetns::spawn(
        &net.outside_ns,
        "busybox",
        &[
            "httpd",
            "-f",
            "-p",
            "8080",
            "-h",
            www.path().to_str().unwrap_or_default(),
        ],
        &www.path().join("httpd.log"),
    );

    node.apply(&echo_pod("echo-w", &worker.name)).await;
    node.apply(&echo_pod("client", &node.name)).await;
    for pod in ["echo-w", "client"] {
        node.ok(&[
            "expose",
            "pod",
            pod,
            "--port",
            "80",
            "--target-port",
            "8080",
        ])
        .await;
    }
    for pod in ["echo-w", "client"] {
        let out = node
            .kubectl(&[
                "wait",
                "--for=condition=Ready",
                &format!("pod/{pod}"),
                "--timeout=90s",
            ])
            .await;
        assert!(
            out.status.success(),
            "{pod} Ready: {}\nworker log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            worker.log_tail()
        );
    }
    let client_ip = node.get("pod/client", "{.status.podIP}").await;
    // The worker joined with the node token, as system:node:<name>, and serves the kubelet
    // API with the certificate it got: logs and exec reach its pods.
    let exec = node.ok(&["exec", "echo-w", "--", "hostname"]).await;
    assert_eq!(exec.trim(), "echo-w");
    node.ok(&["logs", "echo-w"]).await;
    let echo_ip = node.get("pod/echo-w", "{.status.podIP}").await;
    let wget = |url: String| {
        let node = &node;
        async move {
            let out = node
                .kubectl(&["exec", "client", "--", "timeout", "5", "wget", "-qO-", &url])
                .await;
            // busybox httpd reports IPv4 clients as IPv4-mapped IPv6 ("[::ffff:a.b.c.d]").
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .replace("[::ffff:", "")
                .replace(']', "")
        }
    };

    // Pod to pod across nodes, without NAT: the other pod sees the client's own address.
    let mut answer = String::new();
    for _ in 0..50 {
        answer = wget(format!("http://{echo_ip}:8080/cgi-bin/ip")).await;
        if !answer.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        answer,
        format!("from {client_ip}"),
        "worker log:\n{}",
        worker.log_tail()
    );

    // A Service whose endpoint is on the other node, by name.
    let answer = wget("http://echo-w/cgi-bin/ip".to_owned()).await;
    assert_eq!(answer, format!("from {client_ip}"));

    // The outside world answers a pod, which it sees as the node (masquerade).
    let answer = wget(format!("http://{}:8080/cgi-bin/ip", net.outside_ip())).await;
    assert_eq!(answer, format!("from 172.30.{}.1", net.octet));

    // The other direction, through the worker's own DNS server and proxy: a pod there reaches
    // the server node's pod by its address and by its Service's name (it succeeds only if
    // both answer with its own address).
    let script = format!(
        "me=$(hostname -i); for i in $(seq 30); do \
           a=$(timeout 3 wget -qO- http://{client_ip}:8080/cgi-bin/ip); \
           b=$(timeout 3 wget -qO- http://client.default.svc.cluster.local/cgi-bin/ip); \
           case \"$a $b\" in *\"$me\"*\"$me\"*) exit 0;; esac; sleep 0.5; done; exit 1"
    );
    node.apply(&format!(
        r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "probe-w"}},
  "spec": {{"nodeName": "{}", "restartPolicy": "Never",
    "containers": [{{"name": "c", "image": "{IMAGE}", "command": ["sh", "-c", {script:?}]}}]}}}}"#,
        worker.name
    ))
    .await;
    node.eventually(
        "the worker's pod reached the other node",
        Duration::from_secs(60),
        || async {
            let phase = node.get("pod/probe-w", "{.status.phase}").await;
            assert_ne!(phase, "Failed", "worker log:\n{}", worker.log_tail());
            phase == "Succeeded"
        },
    )
    .await;

    // The route to the worker's pods goes with a clean stop of the server's node.
    let worker_cidr = node
        .get(&format!("node/{}", worker.name), "{.spec.podCIDR}")
        .await;
    let routes = Command::new("ip")
        .args(["route", "show", &worker_cidr])
        .output()
        .expect("ip route");
    assert!(
        String::from_utf8_lossy(&routes.stdout).contains(&net.worker_ip()),
        "route to the worker's pods via its address"
    );
    drop(worker);
    let mut node = node;
    node.stop();
    // (Polled briefly: CI once still saw it right after the stop; the message shows what.)
    let mut left = String::new();
    for _ in 0..25 {
        let routes = Command::new("ip")
            .args(["route", "show", &worker_cidr])
            .output()
            .expect("ip route");
        left = String::from_utf8_lossy(&routes.stdout).trim().to_owned();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(left.is_empty(), "no route left: {left}");
}
