//! `barge cluster` as users run it (root only: the test skips with a message otherwise):
//! `create` with three real nodes (the server and two agents in network namespaces of their
//! own), a Deployment spread over them behind a NodePort Service that answers from every
//! node, a worker killed with `stop-node` and its pods replaced elsewhere while the Service
//! keeps answering from the other nodes, then `delete` twice and a check that nothing of the
//! cluster is left.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::BARGE;

const IMAGE: &str = "docker.io/library/busybox:barge-cluster";

fn can_run() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !root {
        eprintln!("skipped: local clusters need root");
        return false;
    }
    for bin in ["/usr/bin/containerd", "/bin/busybox", "/usr/bin/nsenter"] {
        if !Path::new(bin).exists() {
            eprintln!("skipped: {bin} is not installed (scripts/install-deps.sh)");
            return false;
        }
    }
    true
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A cluster under a temporary `--dir`, deleted on drop whatever happened.
struct Local {
    name: String,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Local {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("barge-cluster-")
            .tempdir()
            .expect("temp dir");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        // Short enough (<= 9) to be used as is in link names.
        let name = format!("ct{:05x}", (std::process::id() ^ nanos) & 0xfffff);
        let kubeconfig = dir.path().join(&name).join("kubeconfig");
        Self {
            name,
            dir,
            kubeconfig,
        }
    }

    fn cluster_dir(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }

    fn run_dir(&self) -> PathBuf {
        PathBuf::from("/run/barge-cluster").join(&self.name)
    }

    fn node(&self, i: usize) -> String {
        format!("{}-{i}", self.name)
    }

    /// `barge cluster <args> --dir D`.
    fn barge(&self, args: &[&str]) -> Output {
        let out = Command::new(BARGE)
            .arg("cluster")
            .args(args)
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            // Errors are part of what is checked: without backtraces.
            .env("RUST_LIB_BACKTRACE", "0")
            .output()
            .expect("barge runs");
        eprintln!("$ barge cluster {}\n{}", args.join(" "), text(&out));
        out
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG")
            .output()
            .expect("kubectl runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {} failed: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn apply(&self, manifest: &str) {
        let path = self.dir.path().join("manifest.json");
        std::fs::write(&path, manifest).expect("manifest written");
        self.ok(&["apply", "-f", path.to_str().unwrap_or_default()]);
    }

    /// The end of every node's log.
    fn logs(&self) -> String {
        let mut out = String::new();
        for i in 1..=3 {
            let log = self.cluster_dir().join(format!("node{i}.log"));
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out += &format!(
                "--- {}:\n{}\n",
                log.display(),
                lines[lines.len().saturating_sub(15)..].join("\n")
            );
        }
        out
    }

    fn eventually(&self, what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while !check() {
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting until {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// `name node` of the pods of app=web that are not being deleted.
    fn web_pods(&self) -> Vec<(String, String, String)> {
        self.ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "--no-headers",
            "-o",
            "custom-columns=N:.metadata.name,NODE:.spec.nodeName,IP:.status.podIP,D:.metadata.deletionTimestamp",
        ])
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() == 4 && w[3] == "<none>")
                .then(|| (w[0].to_owned(), w[1].to_owned(), w[2].to_owned()))
        })
        .collect()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = Command::new(BARGE)
            .args(["cluster", "delete", &self.name, "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A network namespace standing for the world outside the machine's networks (it knows
/// only its own subnet) with a web server, removed on drop.
struct Outside {
    ns: String,
    ip: String,
    server: std::process::Child,
    _www: tempfile::TempDir,
}

impl Outside {
    fn start() -> Self {
        let id = std::process::id();
        let ns = format!("bo-c{id}");
        let link = format!("vbc{id}");
        let octet = id % 250;
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip runs");
            assert!(out.status.success(), "ip {args:?}: {}", text(&out));
        };
        ip(&["netns", "add", &ns]);
        ip(&[
            "link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        ip(&["addr", "add", &format!("172.28.{octet}.1/24"), "dev", &link]);
        ip(&["link", "set", &link, "up"]);
        let addr = format!("172.28.{octet}.2");
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        let www = tempfile::tempdir().expect("temp dir");
        std::fs::write(www.path().join("index.html"), "outside\n").expect("index");
        let server = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{ns}"))
            .args(["busybox", "httpd", "-f", "-p", "8080", "-h"])
            .arg(www.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("httpd starts");
        Self {
            ns,
            ip: addr,
            server,
            _www: www,
        }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// `GET /` from the host at `ip:port` (a pod's address, or a node's NodePort).
fn http_get(ip: &str, port: u16) -> Option<String> {
    let addr: SocketAddr = format!("{ip}:{port}").parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// The value of `"key": "..."` in the state file (enough for this test).
fn state_value(state: &str, key: &str) -> String {
    let pattern = format!("\"{key}\": \"");
    let start = state.find(&pattern).expect("key in state") + pattern.len();
    state[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

const DEPLOYMENT: &str = r#"{"apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "web"},
  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
    "template": {"metadata": {"labels": {"app": "web"}},
      "spec": {"terminationGracePeriodSeconds": 1,
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
          "whenUnsatisfiable": "DoNotSchedule", "nodeTaintsPolicy": "Honor",
          "labelSelector": {"matchLabels": {"app": "web"}}}],
        "containers": [{"name": "httpd", "image": "IMAGE",
          "command": ["sh", "-c", "mkdir -p /www && echo served-by-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www"]}]}}}}"#;

/// The Deployment's pods behind a NodePort on every node.
const SERVICE: &str = r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
  "spec": {"type": "NodePort", "selector": {"app": "web"},
    "ports": [{"port": 80, "targetPort": 8080}]}}"#;

/// The pod that answered a GET (`served-by-<pod>` in the body).
fn served_by(answer: &str) -> Option<String> {
    let start = answer.find("served-by-")? + "served-by-".len();
    answer[start..].split_whitespace().next().map(str::to_owned)
}

#[test]
fn create_survive_a_node_failure_and_delete_without_leftovers() {
    if !can_run() {
        return;
    }
    let cluster = Local::new();
    let name = cluster.name.clone();
    let images = cluster.dir.path().join("images");
    std::fs::create_dir_all(&images).expect("images dir");
    let out = Command::new(BARGE)
        .args(["image", "busybox", "--name", IMAGE, "-o"])
        .arg(images.join("busybox.tar"))
        .output()
        .expect("barge image busybox");
    assert!(out.status.success(), "{}", text(&out));

    // create: returns once the three nodes are Ready and the image is on each of them.
    let out = cluster.barge(&[
        "create",
        &name,
        "--nodes",
        "3",
        "--images",
        images.to_str().unwrap_or_default(),
        "--node-monitor-grace-period",
        "20s",
        "--default-toleration-seconds",
        "5",
    ]);
    assert!(out.status.success(), "create failed: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(
            "export KUBECONFIG={}",
            cluster.kubeconfig.display()
        )),
        "{}",
        text(&out)
    );
    let nodes = cluster.ok(&[
        "get",
        "nodes",
        "--no-headers",
        "-o",
        "custom-columns=N:.metadata.name,R:.status.conditions[?(@.type==\"Ready\")].status",
    ]);
    let mut ready: Vec<&str> = nodes
        .lines()
        .filter(|l| l.ends_with("True"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    ready.sort();
    assert_eq!(
        ready,
        [cluster.node(1), cluster.node(2), cluster.node(3)],
        "{nodes}"
    );
    let state =
        std::fs::read_to_string(cluster.cluster_dir().join("state.json")).expect("state file");
    let link_net = state_value(&state, "link_net");
    let cluster_cidr = state_value(&state, "cluster_cidr");
    let bridge = state_value(&state, "bridge");
    assert_eq!(bridge, format!("bc{name}"));
    let list = cluster.barge(&["list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .any(|l| l.starts_with(&name) && l.contains(&link_net)),
        "{}",
        text(&list)
    );

    // The server's node is not stopped: that would be the control plane.
    let out = cluster.barge(&["stop-node", &name, &cluster.node(1)]);
    assert!(!out.status.success());
    assert!(text(&out).contains("control plane"), "{}", text(&out));

    // A Deployment spread over the three nodes, each pod reachable from the host.
    cluster.apply(&DEPLOYMENT.replace("IMAGE", IMAGE));
    let out = cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    assert!(
        out.status.success(),
        "rollout: {}\n{}",
        text(&out),
        cluster.logs()
    );
    let pods = cluster.web_pods();
    let mut on: Vec<&str> = pods.iter().map(|(_, node, _)| node.as_str()).collect();
    on.sort();
    assert_eq!(
        on,
        [cluster.node(1), cluster.node(2), cluster.node(3)],
        "{pods:?}"
    );
    for (pod, node, ip) in &pods {
        cluster.eventually(
            &format!("the host reaches {pod} on {node} at {ip}"),
            Duration::from_secs(30),
            || http_get(ip, 8080).is_some_and(|a| a.contains(&format!("served-by-{pod}\n"))),
        );
    }

    // The Service answers from every node: each node's NodePort reaches all three pods
    // (those on the other nodes too).
    cluster.apply(SERVICE);
    let node_port: u16 = cluster
        .ok(&[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .parse()
        .expect("a NodePort");
    let addresses = cluster.ok(&[
        "get",
        "nodes",
        "--no-headers",
        "-o",
        "custom-columns=N:.metadata.name,IP:.status.addresses[?(@.type==\"InternalIP\")].address",
    ]);
    let node_ip = |node: &str| -> String {
        addresses
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.len() == 2 && w[0] == node)
            .map(|w| w[1].to_owned())
            .unwrap_or_else(|| panic!("{node}'s InternalIP in:\n{addresses}"))
    };
    let pod_names: std::collections::BTreeSet<String> =
        pods.iter().map(|(p, _, _)| p.clone()).collect();
    for i in 1..=3 {
        let ip = node_ip(&cluster.node(i));
        eprintln!("asking the NodePort at {ip}:{node_port}");
        let mut seen = std::collections::BTreeSet::new();
        cluster.eventually(
            &format!("{ip}:{node_port} reaches all three pods"),
            Duration::from_secs(60),
            || {
                for _ in 0..10 {
                    if let Some(pod) = http_get(&ip, node_port).as_deref().and_then(served_by) {
                        seen.insert(pod);
                    }
                }
                seen == pod_names
            },
        );
    }

    // A worker's pod reaches the world outside: through its node's masquerade, then the
    // host's (the outside knows no route to the cluster's networks).
    let outside = Outside::start();
    let script = format!(
        "for i in $(seq 30); do timeout 3 wget -qO- http://{}:8080/ | grep -q outside && exit 0; sleep 1; done; exit 1",
        outside.ip
    );
    cluster.apply(&format!(
        r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "probe"}},
  "spec": {{"nodeName": "{}", "restartPolicy": "Never",
    "containers": [{{"name": "c", "image": "{IMAGE}", "command": ["sh", "-c", {script:?}]}}]}}}}"#,
        cluster.node(3)
    ));
    cluster.eventually(
        "a worker's pod reaches the outside",
        Duration::from_secs(90),
        || {
            let phase = String::from_utf8_lossy(
                &cluster
                    .kubectl(&["get", "pod", "probe", "-o", "jsonpath={.status.phase}"])
                    .stdout,
            )
            .into_owned();
            assert_ne!(phase, "Failed", "the probe pod could not reach the outside");
            phase == "Succeeded"
        },
    );
    drop(outside);

    // stop-node: the worker dies as a machine does; its namespace and address stay.
    let victim = cluster.node(2);
    let data_dir = cluster.cluster_dir().join("node2");
    let out = cluster.barge(&["stop-node", &name, &victim]);
    assert!(out.status.success(), "stop-node: {}", text(&out));
    // The agent names the dir itself (`--data-dir D`), containerd and the shims paths below.
    let left = output("pgrep", &["-f", &format!("{}(/| |$)", data_dir.display())]);
    assert!(left.trim().is_empty(), "node 2's processes left: {left}");
    let cgroup = Path::new("/sys/fs/cgroup/pids/barge").join(&victim);
    let procs = std::fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
    assert!(procs.trim().is_empty(), "node 2's pods still run: {procs}");
    assert!(output("ip", &["netns", "list"]).contains(&format!("bc-{name}-2")));
    // Meanwhile the Service is asked on the other two nodes. Until the dead pod leaves its
    // endpoints a connection may still land on it (as with kube-proxy); from then on every
    // request must be answered.
    let survivors = [node_ip(&cluster.node(1)), node_ip(&cluster.node(3))];
    let mut answered = [0usize; 2];
    let mut asked = 0usize;
    let mut ask_survivors = |answered: &mut [usize; 2]| {
        asked += 1;
        for (count, ip) in answered.iter_mut().zip(&survivors) {
            if http_get(ip, node_port)
                .as_deref()
                .and_then(served_by)
                .is_some()
            {
                *count += 1;
            }
        }
    };
    cluster.eventually(
        "the stopped node is no longer Ready",
        Duration::from_secs(90),
        || {
            ask_survivors(&mut answered);
            let out = cluster.kubectl(&[
                "get",
                "node",
                &victim,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ]);
            let status = String::from_utf8_lossy(&out.stdout).into_owned();
            status == "Unknown" || status == "False"
        },
    );
    cluster.eventually(
        "the Service has no ready endpoint on the stopped node",
        Duration::from_secs(60),
        || {
            ask_survivors(&mut answered);
            let endpoints = cluster.ok(&[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
                "-o",
                "jsonpath={range .items[*].endpoints[*]}{.nodeName}={.conditions.ready} {end}",
            ]);
            !endpoints.contains(&format!("{victim}=true"))
        },
    );
    let tries = asked;
    assert!(
        answered.iter().all(|&n| n > 0),
        "each remaining node answered while the stopped node's pod was still an endpoint: \
         {answered:?} of {tries} requests to {survivors:?}"
    );
    eprintln!("answers while the dead pod was an endpoint: {answered:?} of {tries}");
    // The proxies follow the endpoints within moments.
    let mut in_a_row = 0;
    cluster.eventually(
        "both remaining nodes answer 5 times in a row",
        Duration::from_secs(20),
        || {
            let all = survivors.iter().all(|ip| {
                http_get(ip, node_port)
                    .as_deref()
                    .and_then(served_by)
                    .is_some()
            });
            in_a_row = if all { in_a_row + 1 } else { 0 };
            in_a_row >= 5
        },
    );
    let strict = std::cell::Cell::new(0usize);
    let must_answer = |ip: &str| -> String {
        strict.set(strict.get() + 1);
        let answer = http_get(ip, node_port);
        answer
            .as_deref()
            .and_then(served_by)
            .unwrap_or_else(|| panic!("{ip}:{node_port} did not answer: {answer:?}"))
    };
    cluster.eventually(
        "the Deployment is back to 3 available pods, none on the stopped node",
        Duration::from_secs(120),
        || {
            for ip in &survivors {
                must_answer(ip);
            }
            let available = String::from_utf8_lossy(
                &cluster
                    .kubectl(&[
                        "get",
                        "deployment",
                        "web",
                        "-o",
                        "jsonpath={.status.availableReplicas}",
                    ])
                    .stdout,
            )
            .into_owned();
            let pods = cluster.web_pods();
            available == "3" && pods.len() == 3 && pods.iter().all(|(_, n, _)| *n != victim)
        },
    );
    // ...and the replacement serves too: each remaining node reaches the three pods now.
    let pod_names: std::collections::BTreeSet<String> =
        cluster.web_pods().into_iter().map(|(p, _, _)| p).collect();
    for ip in &survivors {
        let mut seen = std::collections::BTreeSet::new();
        cluster.eventually(
            &format!("{ip}:{node_port} reaches the three pods after the failure"),
            Duration::from_secs(30),
            || {
                for _ in 0..10 {
                    seen.insert(must_answer(ip));
                }
                seen.is_superset(&pod_names)
            },
        );
    }
    eprintln!(
        "every one of {} requests to {survivors:?} answered once the endpoint left",
        strict.get()
    );

    // delete, twice: the second finds nothing.
    let out = cluster.barge(&["delete", &name]);
    assert!(out.status.success(), "delete: {}", text(&out));
    let out = cluster.barge(&["delete", &name]);
    assert!(out.status.success(), "second delete: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing left"),
        "{}",
        text(&out)
    );

    // Nothing of the cluster is left.
    let namespaces = output("ip", &["netns", "list"]);
    assert!(
        !namespaces.contains(&format!("bc-{name}-")),
        "namespaces left: {namespaces}"
    );
    let links = output("ip", &["-o", "link", "show"]);
    for prefix in [format!("bc{name}"), format!("bp{name}")] {
        assert!(!links.contains(&prefix), "links left: {links}");
    }
    let tables = output("nft", &["list", "tables"]);
    assert!(
        !tables.contains(&format!("barge-{name}-"))
            && !tables.contains(&format!("barge-cluster-{name}")),
        "tables left: {tables}"
    );
    let routes = output("ip", &["-4", "route", "show"]);
    let link_prefix = link_net.trim_end_matches("0/24");
    let pods_prefix = cluster_cidr.trim_end_matches("0.0/16");
    for line in routes.lines() {
        assert!(
            !line.contains(link_prefix) && !line.starts_with(pods_prefix),
            "route left: {line}"
        );
    }
    for root in [cluster.cluster_dir(), cluster.run_dir()] {
        let pattern = format!("{}/", root.display());
        let left = output("pgrep", &["-f", &pattern]);
        assert!(
            left.trim().is_empty(),
            "processes left under {pattern}: {left}"
        );
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        assert!(
            !mounts.contains(&pattern),
            "mounts left under {pattern}: {mounts}"
        );
        assert!(!root.exists(), "{} left", root.display());
    }
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for i in 1..=3 {
            let dir = h.path().join("barge").join(cluster.node(i));
            assert!(!dir.exists(), "cgroup left: {}", dir.display());
        }
    }
}
