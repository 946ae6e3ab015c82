//! The API server driven by the real kubectl (v1.32, on the PATH): an in-process server on a
//! random port with a SQLite store in a temporary directory, one per test.

mod auth;
mod bootstrap;
mod kubectl;
mod python;
mod stale_cache;
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

    /// A kubeconfig for this server (trusting its CA) whose user entry holds `user` (YAML
    /// lines, indented for the `user:` map; empty for none: anonymous).
    pub fn kubeconfig_with(&self, name: &str, user: &str) -> PathBuf {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.server.certs.ca.cert_pem);
        let user = if user.is_empty() { " {}" } else { user };
        let text = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: barge
  cluster:
    server: {url}
    certificate-authority-data: {ca}
users:
- name: {name}
  user:{user}
contexts:
- name: barge
  context:
    cluster: barge
    user: {name}
current-context: barge
",
            url = self.server.url(),
        );
        self.file(&format!("{name}.kubeconfig"), &text)
    }

    /// A kubeconfig with a client certificate from the cluster CA for `cn` in group `org`.
    pub fn cert_kubeconfig(&self, name: &str, cn: &str, org: Option<&str>) -> PathBuf {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let pair = self.server.certs.issue_client(cn, org).unwrap();
        self.kubeconfig_with(
            name,
            &format!(
                "\n    client-certificate-data: {}\n    client-key-data: {}",
                b64(&pair.cert_pem),
                b64(&pair.key_pem)
            ),
        )
    }

    /// A kubeconfig with a bearer token.
    pub fn token_kubeconfig(&self, name: &str, token: &str) -> PathBuf {
        self.kubeconfig_with(name, &format!("\n    token: {}", token.trim()))
    }

    /// Runs kubectl with another kubeconfig (and a discovery cache of its own).
    pub async fn kubectl_as(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        let cache = kubeconfig.with_extension("cache");
        let out = tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(cache)
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true)
            .output()
            .await
            .expect("kubectl runs");
        eprintln!(
            "$ kubectl [{}] {}\n{}{}",
            kubeconfig.file_name().unwrap_or_default().to_string_lossy(),
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}
