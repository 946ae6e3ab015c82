//! Container probes and lifecycle hooks, as upstream's kubelet 1.32 runs them
//! (`pkg/kubelet/prober`, `pkg/probe/{http,tcp,exec,grpc}`, `pkg/kubelet/lifecycle/handlers.go`).
//!
//! - [`probe_once`] runs one probe action (`httpGet`, `tcpSocket`, `exec`, `grpc`) against a
//!   [`Target`] and classifies it as an [`Outcome`], with upstream's messages
//!   (`HTTP probe failed with statuscode: 500`,
//!   `Get "http://10.42.0.5:8080/healthz": dial tcp 10.42.0.5:8080: connect: connection refused`).
//! - [`Manager`] runs one worker per container and probe kind with upstream's timing
//!   (initial delay, period, timeout, thresholds, startup gating liveness and readiness) and
//!   publishes results and Events as [`ProbeEvent`]s; [`Manager::update_pod_status`] fills
//!   `ready` and `started` into a pod's status.
//! - [`run_handler`] runs a `postStart` / `preStop` handler (`exec`, `httpGet`, `sleep`).
//!
//! Commands run in containers through the [`Exec`] trait (CRI `ExecSync` in the kubelet, a
//! fake in tests). Differences from upstream are named in each submodule's overview.

mod exec;
mod gofmt;
mod grpc;
mod http;
mod lifecycle;
mod manager;
mod tcp;

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvVar, Pod, Probe};

pub use lifecycle::run_handler;
pub use manager::{Manager, ManagerConfig, ProbeEvent, ProbeEventKind};

/// The version in `User-Agent: kube-probe/1.32` and `kube-lifecycle/1.32`.
pub const USER_AGENT_VERSION: &str = "1.32";

/// What a command run in a container produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The error an [`Exec`] returns when the command ran out of time (a gRPC `DeadlineExceeded`
/// status from the runtime is understood the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("command timed out")]
pub struct ExecTimeout;

/// Runs a command in a running container and waits for it (CRI `ExecSync`).
///
/// Contract: `timeout` is the command's time limit (zero: none) and the implementation (the
/// runtime) enforces it, answering [`ExecTimeout`] or a `tonic::Status` with
/// `DeadlineExceeded`; a command that ran returns `Ok` whatever its exit code. The callers add
/// two minutes of grace (upstream's runtime request timeout) and then give up on their own.
pub trait Exec: Send + Sync + 'static {
    fn exec_sync(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> impl Future<Output = anyhow::Result<ExecOutput>> + Send;
}

/// Where a probe or hook runs: the pod's address and the container it belongs to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    /// The pod's IP (the default host of `httpGet`, `tcpSocket` and `grpc`).
    pub pod_ip: String,
    /// The runtime's container ID, without the `containerd://` prefix (for [`Exec`]).
    pub container_id: String,
    /// The container's name (in hook error messages).
    pub container_name: String,
    /// The container's ports, to resolve named ports.
    pub container_ports: Vec<ContainerPort>,
    /// The container's environment, for `$(VAR)` in `exec` probe commands.
    pub container_env: Vec<EnvVar>,
    /// The pod as upstream's `format.Pod` prints it: `name_namespace(uid)`.
    pub pod: String,
}

impl Target {
    /// The target for `container` of `pod`; `container_id` may carry the runtime prefix
    /// (`containerd://…`), which is removed.
    pub fn new(pod: &Pod, container: &Container, container_id: &str, pod_ip: &str) -> Self {
        let meta = &pod.metadata;
        Self {
            pod_ip: pod_ip.to_owned(),
            container_id: strip_runtime(container_id).to_owned(),
            container_name: container.name.clone(),
            container_ports: container.ports.clone().unwrap_or_default(),
            container_env: container.env.clone().unwrap_or_default(),
            pod: format!(
                "{}_{}({})",
                meta.name.as_deref().unwrap_or_default(),
                meta.namespace.as_deref().unwrap_or_default(),
                meta.uid.as_deref().unwrap_or_default()
            ),
        }
    }
}

/// `containerd://abc` → `abc` (upstream's `ParseContainerID`).
pub fn strip_runtime(container_id: &str) -> &str {
    container_id
        .split_once("://")
        .map_or(container_id, |(_, id)| id)
}

/// What one probe run found (upstream's `probe.Result` with its output, or its error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Healthy; the output (response body, command output) is for logs only.
    Success(String),
    /// Healthy with something to say: an HTTP redirect that was not followed. Upstream records
    /// a `ProbeWarning` Event `<Kind> probe warning: <message>`.
    Warning(String),
    /// Unhealthy; the message is what the `Unhealthy` Event says after `<Kind> probe failed: `.
    Failure(String),
    /// The probe itself could not run (bad port, runtime error, unreadable body): upstream
    /// retries it up to three times, then records `<Kind> probe errored …` and ignores it.
    Unknown(String),
}

/// The kinds of probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl std::fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        })
    }
}

/// A cached probe result (upstream's `results.Result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeResult {
    /// Not known yet (a startup probe before its first verdict).
    Unknown,
    Success,
    Failure,
}

/// The probe's timeout: `timeoutSeconds`, 1 when unset or not positive (the API default).
pub fn probe_timeout(probe: &Probe) -> Duration {
    Duration::from_secs(positive_or(probe.timeout_seconds, 1))
}

pub(crate) fn positive_or(value: Option<i32>, default: u64) -> u64 {
    match value {
        Some(v) if v > 0 => v as u64,
        _ => default,
    }
}

/// Runs one probe action once, with the probe's `timeoutSeconds`.
pub async fn probe_once<E: Exec>(probe: &Probe, target: &Target, exec: &E) -> Outcome {
    run_probe(probe, target, exec, probe_timeout(probe)).await
}

/// [`probe_once`] with an explicit timeout.
pub(crate) async fn run_probe<E: Exec>(
    probe: &Probe,
    target: &Target,
    exec: &E,
    timeout: Duration,
) -> Outcome {
    let deadline = tokio::time::Instant::now() + timeout;
    if let Some(action) = &probe.exec {
        return exec::probe(
            action.command.as_deref().unwrap_or_default(),
            target,
            exec,
            timeout,
        )
        .await;
    }
    if let Some(action) = &probe.http_get {
        return match http::request_for_action(action, target, "probe") {
            Ok(req) => http::probe(&req, deadline).await,
            Err(e) => Outcome::Unknown(e),
        };
    }
    if let Some(action) = &probe.tcp_socket {
        let port = match http::resolve_port(&action.port, target) {
            Ok(p) => p,
            Err(e) => return Outcome::Unknown(e),
        };
        let host = match action.host.as_deref() {
            Some(h) if !h.is_empty() => h,
            _ => target.pod_ip.as_str(),
        };
        return tcp::probe(host, port, deadline).await;
    }
    if let Some(action) = &probe.grpc {
        let Some(port) = u16::try_from(action.port).ok().filter(|p| *p > 0) else {
            return Outcome::Unknown(format!("invalid port number: {}", action.port));
        };
        let service = action.service.as_deref().unwrap_or_default();
        return grpc::probe(&target.pod_ip, port, service, timeout).await;
    }
    Outcome::Unknown(format!(
        "missing probe handler for {}:{}",
        target.pod, target.container_name
    ))
}

#[cfg(test)]
mod tests;
