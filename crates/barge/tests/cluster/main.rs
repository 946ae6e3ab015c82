//! The whole control plane as users run it: `barge server` (store, API server, scheduler,
//! controller manager) and `barge hollow` nodes as child processes, driven by the real kubectl.
//! Killing a hollow process is a node dying. Periods are shortened with the server's flags so
//! that the tests take seconds.

mod local;
mod parity;
mod workloads;

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

const BARGE: &str = env!("CARGO_BIN_EXE_barge");

/// A server with fast node-failure settings, in its own temporary directory.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    _server: Child,
    /// Hollow node processes and standalone components.
    children: Vec<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Cluster {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A server with extra `barge server` arguments.
    pub async fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        let port = free_port().to_string();
        let server = Command::new(BARGE)
            .args(["server", "--disable-agent", "--bind-address", "127.0.0.1"])
            .args(["--https-port", &port])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--write-kubeconfig")
            .arg(&kubeconfig)
            .args([
                "--node-monitor-grace-period",
                "4s",
                "--node-monitor-period",
                "1s",
            ])
            .args(["--default-toleration-seconds", "2"])
            .args(extra)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("barge server starts");
        let cluster = Self {
            dir,
            kubeconfig,
            _server: server,
            children: Vec::new(),
        };
        cluster
            .eventually("the server answers", Duration::from_secs(20), || async {
                cluster.kubeconfig.exists()
                    && cluster
                        .kubectl(&["get", "--raw", "/readyz"])
                        .await
                        .status
                        .success()
            })
            .await;
        cluster
    }

    /// Starts a `barge hollow` process with `count` nodes named `<prefix>0`, `<prefix>1`, ...;
    /// returns its index for [`Cluster::kill`].
    pub async fn add_nodes(&mut self, prefix: &str, count: usize, extra: &[&str]) -> usize {
        let child = Command::new(BARGE)
            .arg("hollow")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--nodes", &count.to_string(), "--name-prefix", prefix])
            .args(["--lease-renew-interval", "1s"])
            .args(extra)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("barge hollow starts");
        self.children.push(child);
        let want = count;
        let prefix = prefix.to_owned();
        let this: &Self = self;
        this.eventually(
            "the hollow nodes are Ready",
            Duration::from_secs(30),
            || {
                let prefix = prefix.clone();
                async move { this.ready_nodes(&prefix).await >= want }
            },
        )
        .await;
        self.children.len() - 1
    }

    /// Starts `barge <component> --kubeconfig K` (the scheduler or the controller manager,
    /// standalone); returns its index for [`Cluster::kill`] and its process id.
    pub fn add_component(&mut self, component: &str) -> (usize, u32) {
        let child = Command::new(BARGE)
            .arg(component)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the component starts");
        let pid = child.id().expect("a running process");
        self.children.push(child);
        (self.children.len() - 1, pid)
    }

    /// Kills a child process (a hollow process: its nodes stop renewing their Leases, as dead
    /// nodes do).
    pub async fn kill(&mut self, index: usize) {
        let _ = self.children[index].kill().await;
    }

    async fn ready_nodes(&self, prefix: &str) -> usize {
        let out = self
            .ok(&[
                "get",
                "nodes",
                "--no-headers",
                "-o",
                "custom-columns=N:.metadata.name,R:.status.conditions[?(@.type==\"Ready\")].status",
            ])
            .await;
        out.lines()
            .filter(|l| l.starts_with(prefix) && l.ends_with("True"))
            .count()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file in the test's directory and returns its path as a string.
    pub fn file(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write file");
        p.display().to_string()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("kube-cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        cmd
    }

    pub async fn kubectl(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().await.expect("kubectl runs");
        eprintln!(
            "$ kubectl {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs kubectl, expects success, returns its standard output.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(
            out.status.success(),
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Polls `check` every 200 ms until it holds; panics with `what` after `limit`.
    pub async fn eventually<F, Fut>(&self, what: &str, limit: Duration, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        while !check().await {
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting until {what}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `kubectl get <what> -o jsonpath=<path>`.
    pub async fn jsonpath(&self, what: &[&str], path: &str) -> String {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        let path = format!("jsonpath={path}");
        args.extend(["-o", &path]);
        self.ok(&args).await
    }
}
