//! The server a benchmark drives: one started for the run (this same binary's `barge server`,
//! its data in a temporary directory, killed and removed on every way out) or one already
//! running, named by its kubeconfig.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::https::Kubeconfig;

/// The server under test; a server started for the run is killed and its data removed when
/// this is dropped.
pub(crate) struct Target {
    pub(crate) kubeconfig: Kubeconfig,
    /// Where the kubeconfig is, for child processes that connect to the server too.
    pub(crate) kubeconfig_path: PathBuf,
    /// The process whose memory to report, when known.
    pub(crate) pid: Option<u32>,
    /// Held for its `Drop`.
    pub(crate) _started: Option<Started>,
}

impl Target {
    /// The already-running server of this kubeconfig.
    pub(crate) fn existing(path: &Path, pid: Option<u32>) -> Result<Self> {
        Ok(Self {
            kubeconfig: Kubeconfig::read(path)?,
            kubeconfig_path: path.to_owned(),
            pid,
            _started: None,
        })
    }
}

pub(crate) struct Started {
    child: std::process::Child,
    // Dropped after `Drop::drop` has killed the server, so the files are no longer in use.
    dir: tempfile::TempDir,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `barge server` with its data in a new directory `barge-bench-<name>-*` inside
/// `parent`, listening on a free local port, with `extra_args` after the usual ones; returns
/// once it serves.
pub(crate) async fn start_server(parent: &Path, name: &str, extra_args: &[&str]) -> Result<Target> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("barge-bench-{name}-"))
        .tempdir_in(parent)
        .with_context(|| format!("cannot make a directory in {}", parent.display()))?;
    let kubeconfig = dir.path().join("kubeconfig");
    let port = free_port()?;
    let exe = std::env::current_exe().context("cannot find the barge binary")?;
    let mut child = std::process::Command::new(&exe)
        .arg("server")
        .arg("--disable-agent")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--https-port", &port.to_string()])
        .args(["--bind-address", "127.0.0.1"])
        .arg("--write-kubeconfig")
        .arg(&kubeconfig)
        .args(extra_args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {} server", exe.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let pid = child.id();
    let mut started = Started { child, dir };

    // The server prints the export line once it serves; reading on until EOF keeps the pipe
    // open, so a later write by the server never fails.
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut ready_tx = Some(ready_tx);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("export KUBECONFIG=")
                && let Some(tx) = ready_tx.take()
            {
                let _ = tx.send(());
            }
        }
    });
    match tokio::time::timeout(Duration::from_secs(60), ready_rx).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            let status = started.child.wait()?;
            bail!("barge server exited before it was ready ({status})");
        }
        Err(_) => bail!("barge server was not ready within 60 s"),
    }
    eprintln!(
        "barge server: pid {pid}, https://127.0.0.1:{port}, data in {}",
        started.dir.path().display()
    );
    Ok(Target {
        kubeconfig: Kubeconfig::read(&kubeconfig)?,
        kubeconfig_path: kubeconfig,
        pid: Some(pid),
        _started: Some(started),
    })
}

/// A port nobody listens on now (the server binds it a moment later; a clash is unlikely and
/// shows as a failed start).
pub(crate) fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
