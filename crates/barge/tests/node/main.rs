//! One real node: `barge server` with its agent (containerd, runc, CNI, the kubelet), a
//! busybox test image imported the air-gap way, driven by the real kubectl. Root only: the
//! tests skip with a message otherwise, or when containerd is not installed.
//!
//! Every node gets unique names (data dir, run dir, node name, bridge, pod CIDR) and its
//! clean-up removes everything it made even when a test fails: pods (through the API, then
//! by force), containerd and its shims (by their socket path), the bridge, the cgroups and
//! the directories.

mod autoscaling;
mod durability;
mod multinode;
mod network;
mod parity;
mod pods;
mod security;
mod streaming;
mod walkthrough;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const BARGE: &str = env!("CARGO_BIN_EXE_barge");

/// The test image every test runs.
pub const IMAGE: &str = "docker.io/library/busybox:barge-e2e";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether real-container tests can run here; prints why not.
pub fn can_run() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !root {
        eprintln!("skipped: real-container tests need root");
        return false;
    }
    for bin in ["/usr/bin/containerd", "/bin/busybox"] {
        if !Path::new(bin).exists() {
            eprintln!("skipped: {bin} is not installed (scripts/install-deps.sh)");
            return false;
        }
    }
    true
}

/// A one-node cluster.
#[derive(Debug)]
pub struct Node {
    dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub name: String,
    bridge: String,
    run_dir: PathBuf,
    port: u16,
    cidr: String,
    /// The Services' network, and the cluster DNS address in it.
    pub service_cidr: String,
    pub cluster_dns: String,
    /// The service proxy's nftables table.
    pub nft_table: String,
    /// The API server's address (and the node's, when `node_ip` is set).
    pub bind_address: String,
    pub node_ip: Option<String>,
    /// More `barge server` flags.
    pub extra_args: Vec<String>,
    server: Option<std::process::Child>,
    /// Held for the node's life: its networks' second octet, which no other test node uses.
    _octet: Octet,
}

/// The second octet of a test node's networks (`10.N.0.0/16`), reserved machine-wide with a
/// file made with `create_new` (tests run in parallel processes: two nodes with one pod
/// network would share a gateway address, where each node's DNS server listens), skipping
/// networks the machine uses already; released on drop.
#[derive(Debug)]
struct Octet(u8, PathBuf);

impl Octet {
    fn reserve(seed: u32) -> Self {
        let used = std::process::Command::new("ip")
            .args(["-4", "-o", "addr"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for i in 0..150 {
            let octet = 100 + ((seed + i) % 150) as u8;
            if used.contains(&format!(" 10.{octet}.")) {
                continue;
            }
            let path = PathBuf::from(format!("/run/barge-e2e-octet-{octet}"));
            if std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .is_ok()
            {
                return Self(octet, path);
            }
        }
        panic!("no free 10.N.0.0/16 for a test node");
    }
}

impl Drop for Octet {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.1);
    }
}

impl Node {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a node after `configure` has changed its settings.
    pub async fn start_with(configure: impl FnOnce(&mut Node)) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("barge-node-")
            .tempdir()
            .expect("temp dir");
        let id = std::process::id() % 100_000;
        let unique = dir
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.trim_start_matches("barge-node-").to_lowercase())
            .unwrap_or_default();
        let name = format!(
            "e2e-{id}-{}",
            unique.replace(|c: char| !c.is_ascii_alphanumeric(), "x")
        );
        let hash = name
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        let octet = Octet::reserve(hash);
        let octet_value = octet.0;
        let mut node = Self {
            kubeconfig: dir.path().join("kubeconfig"),
            run_dir: PathBuf::from(format!("/run/barge-e2e-{id}-{unique}")),
            bridge: format!("be{}", &name[name.len().saturating_sub(11)..])
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect(),
            cidr: format!("10.{octet_value}.0.0/17"),
            service_cidr: format!("10.{octet_value}.128.0/17"),
            cluster_dns: format!("10.{octet_value}.128.10"),
            nft_table: format!("barge-{name}"),
            bind_address: "127.0.0.1".to_owned(),
            node_ip: None,
            extra_args: Vec::new(),
            name,
            port: free_port(),
            dir,
            server: None,
            _octet: octet,
        };
        // The air-gap path: an image tarball in the agent's images directory at start.
        let images = node.data_dir().join("agent").join("images");
        std::fs::create_dir_all(&images).expect("images dir");
        let out = std::process::Command::new(BARGE)
            .args(["image", "busybox", "--name", IMAGE, "-o"])
            .arg(images.join("busybox.tar"))
            .output()
            .expect("barge image busybox");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        configure(&mut node);
        node.spawn();
        node.eventually("the node is Ready", Duration::from_secs(60), || async {
            let out = node
                .kubectl(&[
                    "get",
                    "node",
                    &node.name,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
                ])
                .await;
            String::from_utf8_lossy(&out.stdout) == "True"
        })
        .await;
        node.eventually("the image is imported", Duration::from_secs(30), || async {
            let out = node.barge_image_ls();
            out.contains(
                IMAGE
                    .trim_start_matches("docker.io/library/")
                    .split(':')
                    .next()
                    .unwrap_or(""),
            ) && out.contains("barge-e2e")
        })
        .await;
        node
    }

    pub fn cluster_cidr(&self) -> &str {
        &self.cidr
    }

    /// The API server's URL, for agents joining with the node token.
    pub fn url(&self) -> String {
        format!("https://{}:{}", self.bind_address, self.port)
    }

    /// The cluster's node token.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("server").join("token"))
            .expect("the server made its node token")
            .trim()
            .to_owned()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts (or restarts) the server process.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("log file");
        let mut cmd = std::process::Command::new(BARGE);
        cmd.args(["server", "--bind-address", &self.bind_address]);
        if let Some(ip) = &self.node_ip {
            cmd.args(["--node-ip", ip]);
        }
        let child = cmd
            .args(["--https-port", &self.port.to_string()])
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--write-kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--node-name", &self.name, "--cni-bridge", &self.bridge])
            .args(["--kubelet-port", "0"])
            .arg("--run-dir")
            .arg(&self.run_dir)
            .args(["--cluster-cidr", &self.cidr])
            .args(["--service-cidr", &self.service_cidr])
            .args(["--cluster-dns", &self.cluster_dns])
            .args(["--nft-table", &self.nft_table])
            .args([
                "--crash-loop-backoff",
                "1s",
                "--crash-loop-backoff-max",
                "8s",
            ])
            .args(&self.extra_args)
            .env("RUST_LOG", "info")
            // An error ends the log in its message, not in a backtrace.
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("barge server starts");
        self.server = Some(child);
    }

    /// Stops the server process with SIGTERM (containers keep running) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server process with SIGKILL (a crash: no clean-up of any kind).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `barge <args> --data-dir D --run-dir R <files>`: its stdout.
    pub fn barge(&self, args: &[&str], files: &[&Path]) -> String {
        let out = std::process::Command::new(BARGE)
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--run-dir")
            .arg(&self.run_dir)
            .args(files)
            .output()
            .expect("barge runs");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    pub fn barge_image_ls(&self) -> String {
        let out = std::process::Command::new(BARGE)
            .args(["image", "ls", "--data-dir"])
            .arg(self.data_dir())
            .arg("--run-dir")
            .arg(&self.run_dir)
            .output()
            .expect("barge image ls");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub async fn kubectl(&self, args: &[&str]) -> Output {
        tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .await
            .expect("kubectl runs")
    }

    /// kubectl that must succeed; its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\nserver log tail:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply` of a manifest (JSON or YAML), which must succeed.
    pub async fn apply(&self, manifest: &str) {
        let file = tempfile::Builder::new()
            .prefix("barge-e2e-manifest-")
            .tempfile()
            .expect("a manifest file");
        std::fs::write(file.path(), manifest).expect("manifest written");
        self.ok(&["apply", "-f", file.path().to_str().unwrap_or_default()])
            .await;
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits until `check` holds, or fails the test after `timeout`.
    pub async fn eventually<F, Fut>(&self, what: &str, timeout: Duration, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "timed out waiting until {what}\nserver log tail:\n{}",
            self.log_tail()
        );
    }

    /// A jsonpath of one object.
    pub async fn get(&self, kind_name: &str, jsonpath: &str) -> String {
        let out = self
            .kubectl(&["get", kind_name, "-o", &format!("jsonpath={jsonpath}")])
            .await;
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn cgroup_processes(&self) -> Vec<String> {
        cgroup_processes(&self.name)
    }

    fn remove_cgroups(&self) {
        remove_cgroups(&self.name)
    }
}

/// The processes still in the pod cgroups of node `name`.
pub fn cgroup_processes(name: &str) -> Vec<String> {
    let mut pids = Vec::new();
    let mut stack = vec![PathBuf::from("/sys/fs/cgroup/pids/barge").join(name)];
    while let Some(dir) = stack.pop() {
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(procs.split_whitespace().map(str::to_owned));
        }
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    pids
}

/// Removes the cgroups the pods of node `name` had (depth first, only empty ones).
pub fn remove_cgroups(name: &str) {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for h in hierarchies.flatten() {
        let dir = h.path().join("barge").join(name);
        remove_empty_dirs(&dir);
        let _ = std::fs::remove_dir(h.path().join("barge"));
    }
}

/// Unmounts everything mounted under `root`, deepest first.
pub fn unmount_under(root: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut under: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(root.to_str().unwrap_or("/nonexistent")))
        .collect();
    under.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in under {
        let _ = std::process::Command::new("umount")
            .args(["-l", m])
            .status();
    }
}

fn remove_empty_dirs(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for Node {
    fn drop(&mut self) {
        let kubectl = |args: &[&str]| {
            std::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        };
        if self.server.is_some() {
            // Pods first, through the API, so the kubelet stops and removes them: workloads
            // (so nothing recreates pods), then the pods themselves, at once.
            let _ = kubectl(&[
                "delete",
                "deployments,replicasets,daemonsets,statefulsets,jobs",
                "--all",
                "-A",
                "--wait=false",
            ]);
            let deadline = Instant::now() + Duration::from_secs(40);
            while Instant::now() < deadline && !shims(&self.run_dir).is_empty() {
                let _ = kubectl(&[
                    "delete",
                    "pods",
                    "--all",
                    "-A",
                    "--grace-period=0",
                    "--force",
                    "--wait=false",
                ]);
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        self.stop();
        // Whatever is left (a failed test, a killed server): the containers' processes by
        // their cgroups, containerd and shims by their paths, then the network, cgroups,
        // mounts and directories.
        for pid in self.cgroup_processes() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
        for pid in shims(&self.run_dir)
            .into_iter()
            .chain(shims(self.dir.path()))
        {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
        std::thread::sleep(Duration::from_millis(300));
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &self.nft_table])
            .stderr(Stdio::null())
            .status();
        for root in [self.dir.path(), self.run_dir.as_path()] {
            unmount_under(root);
        }
        self.remove_cgroups();
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// The processes (containerd, shims) serving this node's run dir.
pub fn shims(run_dir: &Path) -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-f", run_dir.to_str().unwrap_or("/nonexistent")])
        .output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}
