//! The API server driven by the real kubectl (v1.32, on the PATH): an in-process server on a
//! random port with a SQLite store in a temporary directory, one per test.

mod bootstrap;
mod kubectl;
mod python;
mod validation;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use barge_apiserver::{Config, Server};
use barge_store::{SqliteOptions, SqliteStore};

/// A running server and a kubectl set up for it (own kubeconfig and discovery cache).
#[derive(Debug)]
pub struct Cluster {
    pub server: Server,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Cluster {
    /// A server on an embedded SQLite store in the test's directory.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(SqliteOptions::new(dir.path().join("state.db"))).unwrap();
        Self::start_in(dir, Arc::new(store)).await
    }

    /// A server on the given store.
    pub async fn start_with(store: Arc<dyn barge_store::Store>) -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir"), store).await
    }

    async fn start_in(dir: tempfile::TempDir, store: Arc<dyn barge_store::Store>) -> Self {
        let mut config = Config::new(dir.path().join("server"));
        config.bind_address = "127.0.0.1".parse().unwrap();
        config.https_port = 0;
        let server = Server::start(config, store).await.expect("server starts");
        let kubeconfig = dir.path().join("kubeconfig");
        barge_apiserver::kubeconfig::write(&kubeconfig, &server.admin_kubeconfig()).unwrap();
        Self {
            server,
            dir,
            kubeconfig,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file in the test's directory and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("kube-cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        cmd
    }

    /// Runs kubectl and returns its output.
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

    /// Runs kubectl, expects success, and returns its standard output.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(
            out.status.success(),
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs kubectl, expects failure with exit code 1, and returns its standard error.
    pub async fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "kubectl {} should fail",
            args.join(" ")
        );
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }
}
