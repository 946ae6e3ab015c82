//! `postStart` and `preStop` handlers, as upstream's `lifecycle.handlerRunner.Run`:
//!
//! - `exec` runs the command through [`Exec`] with no time limit (upstream passes timeout 0);
//!   a non-zero exit fails the hook with `command '<cmd>' exited with <code>: <stderr>`.
//! - `httpGet` sends the request the probes send (with `User-Agent: kube-lifecycle/1.32`, no
//!   certificate verification, redirects on the same host only) and no timeout. Only a failure
//!   to get a response fails the hook; the status code does not matter, as upstream. When an
//!   HTTPS request meets a plain HTTP server it is retried over HTTP (without
//!   `Authorization`), and the caller should record upstream's `LifecycleHTTPFallback` Event.
//! - `sleep` waits `seconds`; dropping the future ends it early.
//! - `tcpSocket` is deprecated and not run: it fails as upstream's "invalid handler" does.
//!
//! Upstream bounds neither hook by a timeout here: the caller bounds `preStop` by the grace
//! period, by dropping the future.

use std::time::Duration;

use k8s_openapi::api::core::v1::LifecycleHandler;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Exec, Target, exec, gofmt, http};

/// Runs `handler` for the container of `target`.
///
/// `Ok(None)`: the hook succeeded. `Ok(Some(message))`: it succeeded over HTTP after HTTPS met
/// a plain HTTP server; record a Warning Event `LifecycleHTTPFallback` with `message` on the
/// pod. `Err(message)`: it failed, worded as upstream (`Exec lifecycle hook ([sh -c exit 3])
/// for Container "app" in Pod "web_default(uid)" failed - error: …, message: "…"`).
pub async fn run_handler<E: Exec>(
    handler: &LifecycleHandler,
    target: &Target,
    exec: &E,
) -> Result<Option<String>, String> {
    let container = gofmt::quote(&target.container_name);
    let pod = gofmt::quote(&target.pod);
    if let Some(action) = &handler.exec {
        let command = action.command.clone().unwrap_or_default();
        let failed = |error: String, output: &[u8]| {
            format!(
                "Exec lifecycle hook ({}) for Container {container} in Pod {pod} failed - error: {error}, message: {}",
                gofmt::string_slice(&command),
                gofmt::quote_bytes(output)
            )
        };
        return match exec::run(exec, &target.container_id, command.clone(), Duration::ZERO).await {
            Ok(out) => {
                let mut output = out.stdout.clone();
                output.extend_from_slice(&out.stderr);
                if out.exit_code == 0 {
                    Ok(None)
                } else {
                    Err(failed(
                        format!(
                            "command '{}' exited with {}: {}",
                            command.join(" "),
                            out.exit_code,
                            String::from_utf8_lossy(&out.stderr)
                        ),
                        &output,
                    ))
                }
            }
            Err(e) if exec::is_timeout(&e) => Err(failed(exec::timeout_message(&command), b"")),
            Err(e) => Err(failed(format!("{e:#}"), b"")),
        };
    }
    if let Some(action) = &handler.http_get {
        let failed = |error: String| {
            format!(
                "HTTP lifecycle hook ({}) for Container {container} in Pod {pod} failed - error: {error}",
                action.path.as_deref().unwrap_or_default()
            )
        };
        let has_host = action.host.as_deref().is_some_and(|h| !h.is_empty());
        if !has_host && target.pod_ip.is_empty() {
            return Err(failed(
                "failed to find networking container: the pod has no IP".to_owned(),
            ));
        }
        let req = http::request_for_action(action, target, "lifecycle").map_err(&failed)?;
        return match http::get(&req, None).await {
            Ok(_) => Ok(None),
            Err(http::DoError::Body(_)) => Ok(None),
            Err(http::DoError::Transport(e)) if e.ends_with(http::HTTP_TO_HTTPS) => {
                let mut plain = req.clone();
                plain.url.scheme = "http".to_owned();
                plain.headers.retain(|(name, _)| name != "Authorization");
                match http::get(&plain, None).await {
                    Ok(_) | Err(http::DoError::Body(_)) => Ok(Some(format!(
                        "request to HTTPS lifecycle hook {} got HTTP response, retry with HTTP succeeded",
                        plain.url.authority
                    ))),
                    // Upstream reports the first (HTTPS) error when the fallback fails too.
                    Err(http::DoError::Transport(_)) => Err(failed(e)),
                }
            }
            Err(http::DoError::Transport(e)) => Err(failed(e)),
        };
    }
    if let Some(action) = &handler.sleep {
        let seconds = action.seconds.max(0) as u64;
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        return Ok(None);
    }
    Err(format!(
        "Cannot run handler: invalid handler: {}",
        go_handler(handler)
    ))
}

/// Go's `%v` of a `*LifecycleHandler` that has no runnable action (empty, or `tcpSocket`).
fn go_handler(handler: &LifecycleHandler) -> String {
    let tcp = match &handler.tcp_socket {
        None => "nil".to_owned(),
        Some(t) => {
            let port = match &t.port {
                IntOrString::Int(n) => format!("{{0 {n} }}"),
                IntOrString::String(s) => format!("{{1 0 {s}}}"),
            };
            format!(
                "&TCPSocketAction{{Port:{port},Host:{},}}",
                t.host.as_deref().unwrap_or_default()
            )
        }
    };
    format!("&LifecycleHandler{{Exec:nil,HTTPGet:nil,TCPSocket:{tcp},Sleep:nil,}}")
}
