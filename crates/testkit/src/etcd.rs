use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::free_port;

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("etcd is not installed (no `etcd` on PATH): install the Debian package etcd-server")]
    NotInstalled,
    #[error("cannot start etcd: {0}")]
    Io(#[from] std::io::Error),
    #[error("etcd did not become healthy within {0:?}; its log:\n{1}")]
    Unhealthy(Duration, String),
}

/// A real single-member etcd on 127.0.0.1 with random ports and a temporary data dir. Dropping
/// it kills the process and removes the directory.
#[derive(Debug)]
pub struct Etcd {
    child: Child,
    dir: TempDir,
    endpoint: String,
}

impl Etcd {
    /// How long a fresh etcd gets to report healthy.
    const START_TIMEOUT: Duration = Duration::from_secs(20);

    /// Starts etcd with its data on the filesystem that holds the system temporary directory.
    pub fn start() -> Result<Self, EtcdError> {
        Self::start_in(&std::env::temp_dir())
    }

    /// Starts etcd with its data dir under `parent` (to compare with a store on the same disk).
    pub fn start_in(parent: &Path) -> Result<Self, EtcdError> {
        let dir = tempfile::Builder::new()
            .prefix("barge-etcd-")
            .tempdir_in(parent)?;
        let client = free_port()?;
        let peer = free_port()?;
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("etcd.log"))?;
        let child = Command::new("etcd")
            .arg("--name=barge-test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=barge-test={peer_url}"))
            // Barge's value limit is 1.5 MiB; leave room for the key and the request framing.
            .arg("--max-request-bytes=2097152")
            .arg("--logger=zap")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => EtcdError::NotInstalled,
                _ => EtcdError::Io(e),
            })?;
        let mut etcd = Etcd {
            child,
            dir,
            endpoint: format!("127.0.0.1:{client}"),
        };
        etcd.wait_healthy()?;
        Ok(etcd)
    }

    /// `host:port` of the client URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn wait_healthy(&mut self) -> Result<(), EtcdError> {
        let deadline = Instant::now() + Self::START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if self.healthy() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        Err(EtcdError::Unhealthy(Self::START_TIMEOUT, log))
    }

    fn healthy(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(&self.endpoint) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!("GET /health HTTP/1.0\r\nHost: {}\r\n\r\n", self.endpoint);
        let mut response = String::new();
        s.write_all(request.as_bytes()).is_ok()
            && s.read_to_string(&mut response).is_ok()
            && response.contains("\"health\":\"true\"")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
