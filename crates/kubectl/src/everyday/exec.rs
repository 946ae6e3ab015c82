//! `kubectl exec`: a command in a container through `pods/exec` (a WebSocket with the
//! `v5.channel.k8s.io` protocol, through kube-rs), with standard input (`-i`), a terminal (`-t`:
//! ours in raw mode, window size changes followed) and the command's exit code as ours
//! (`command terminated with exit code 3`, exit status 3), as kubectl 1.32 does.

use std::io::IsTerminal;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, TerminalSize};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::Session;
use super::logs::pod_for;
use crate::context::GlobalArgs;
use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// (POD | TYPE/NAME)
    words: Vec<String>,
    /// COMMAND [args...], after `--`.
    #[arg(last = true)]
    command: Vec<String>,
    /// Container name. If omitted, use the kubectl.kubernetes.io/default-container annotation
    /// for selecting the container to be attached or the first container in the pod will be chosen.
    #[arg(short = 'c', long)]
    container: Option<String>,
    /// Pass stdin to the container.
    #[arg(short = 'i', long)]
    stdin: bool,
    /// Stdin is a TTY.
    #[arg(short = 't', long)]
    tty: bool,
    /// Only print output from the remote session.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// The length of time (like 5s, 2m, or 3h, higher than zero) to wait until at least one pod
    /// is running.
    #[arg(long, default_value = "1m0s")]
    pod_running_timeout: String,
}

const SEE_HELP: &str = "See 'kubectl exec -h' for help and examples";

pub async fn run(args: Args, global: &GlobalArgs) -> Result<()> {
    if args.words.len() > 1 {
        return Err(Error::client(format!(
            "exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead\n{SEE_HELP}"
        )));
    }
    let Some(word) = args.words.first() else {
        return Err(Error::client(
            "pod, type/name or --filename must be specified",
        ));
    };
    if args.command.is_empty() {
        return Err(Error::client(
            "you must specify at least one command for the container",
        ));
    }
    let session = Session::new(global).await?;
    let pods: Api<Pod> = Api::namespaced(session.ctx.client.clone(), &session.ctx.namespace);
    let pod = pod_for(&session, &pods, word).await?;
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    if phase == "Succeeded" || phase == "Failed" {
        return Err(Error::client(format!(
            "cannot exec into a container in a completed pod; current phase is {phase}"
        )));
    }
    let container = container_to_run(&pod, args.container.as_deref(), args.quiet)?;

    // As kubectl: a terminal only with stdin, and only when stdin is one.
    let tty = args.stdin && args.tty && {
        let terminal = std::io::stdin().is_terminal();
        if !terminal && !args.quiet {
            eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
        }
        terminal
    };
    let params = AttachParams {
        container: Some(container),
        stdin: args.stdin,
        stdout: true,
        stderr: !tty,
        tty,
        ..AttachParams::default()
    };
    let mut process = match pods.exec(name, args.command.clone(), &params).await {
        Ok(p) => p,
        Err(kube::Error::UpgradeConnection(_)) => {
            return Err(refusal(&session, &pods, name, &args.command, &params).await);
        }
        Err(e) => return Err(e.into()),
    };

    let _raw = if tty { Some(RawMode::enter()?) } else { None };
    if let Some(sizes) = process.terminal_size() {
        tokio::spawn(follow_window_size(sizes));
    }
    if let Some(stdin) = process.stdin() {
        tokio::spawn(forward_stdin(stdin));
    }
    let stdout = process
        .stdout()
        .map(|r| tokio::spawn(copy(r, tokio::io::stdout())));
    let stderr = process
        .stderr()
        .map(|r| tokio::spawn(copy(r, tokio::io::stderr())));
    let status = match process.take_status() {
        Some(status) => status.await,
        None => None,
    };
    // The output still buffered arrives before the session's end is reported.
    for task in [stdout, stderr].into_iter().flatten() {
        let _ = task.await;
    }
    let _ = process.join().await;
    match status {
        None => Ok(()),
        Some(s) if s.status.as_deref() == Some("Success") => Ok(()),
        Some(s) => Err(exit_error(&s)),
    }
}

/// The container to run in: the one asked for (the server checks it), else the default one
/// (said on standard error, unless quiet, when there were several).
fn container_to_run(pod: &Value, asked: Option<&str>, quiet: bool) -> Result<String> {
    if let Some(c) = asked {
        return Ok(c.to_owned());
    }
    let (c, notice) = super::logs::choose_container(pod, None)?;
    if let Some(n) = notice.filter(|_| !quiet) {
        eprintln!("{n}");
    }
    Ok(c)
}

/// The error of a session that ended with a failure `Status`: the command's exit code when it
/// exited non-zero (`NonZeroExitCode`, the code in a cause of reason `ExitCode`).
fn exit_error(s: &Status) -> Error {
    let code = (s.reason.as_deref() == Some("NonZeroExitCode"))
        .then(|| s.details.as_ref()?.causes.as_ref())
        .flatten()
        .and_then(|causes| {
            causes
                .iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
        })
        .and_then(|c| c.message.as_deref()?.parse::<i32>().ok());
    match code {
        Some(code) => Error::Exit(code),
        None => Error::client(s.message.as_deref().unwrap_or("the command failed")),
    }
}

/// Why the server refused the upgrade: the same request without one answers with the `Status`
/// that says (`container nope is not valid for pod web`), printed as kubectl prints it.
async fn refusal(
    session: &Session,
    pods: &Api<Pod>,
    name: &str,
    command: &[String],
    params: &AttachParams,
) -> Error {
    let request = kube::core::Request::new(pods.resource_url()).exec(name, command, params);
    match request {
        Ok(r) => match session.ctx.client.request_text(r).await {
            Err(e) => e.into(),
            Ok(_) => Error::client("unable to upgrade connection"),
        },
        Err(e) => Error::client(e),
    }
}

async fn copy(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin) {
    let mut buf = vec![0u8; 8192];
    loop {
        match tokio::io::AsyncReadExt::read(&mut from, &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                // Written as it comes: a terminal session is interactive.
                if to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Copies our standard input to the container's, then closes it (the container sees end of file).
async fn forward_stdin(mut to: impl AsyncWrite + Unpin) {
    copy(tokio::io::stdin(), &mut to).await;
    let _ = to.shutdown().await;
}

/// Sends the terminal's size now and after each `SIGWINCH`.
async fn follow_window_size(mut sizes: impl futures_util::Sink<TerminalSize> + Unpin) {
    use futures_util::SinkExt;
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut changes) = signal(SignalKind::window_change()) else {
        return;
    };
    loop {
        if let Ok(w) = rustix::termios::tcgetwinsize(std::io::stdin()) {
            let size = TerminalSize {
                width: w.ws_col,
                height: w.ws_row,
            };
            if sizes.send(size).await.is_err() {
                return;
            }
        }
        if changes.recv().await.is_none() {
            return;
        }
    }
}

/// Our terminal in raw mode (keys go to the remote shell as typed) until dropped.
struct RawMode(rustix::termios::Termios);

impl RawMode {
    fn enter() -> Result<Self> {
        use rustix::termios::{OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).map_err(std::io::Error::from)?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(&stdin, OptionalActions::Now, &raw).map_err(std::io::Error::from)?;
        Ok(Self(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_container_is_chosen_as_kubectl_chooses_it() {
        let pod = json!({"metadata": {"name": "two"}, "spec": {
            "containers": [{"name": "a"}, {"name": "b"}],
            "initContainers": [{"name": "setup"}]}});
        assert_eq!(
            container_to_run(&pod, Some("setup"), false).unwrap(),
            "setup"
        );
        assert_eq!(container_to_run(&pod, None, true).unwrap(), "a");
    }

    #[test]
    fn a_non_zero_exit_becomes_our_exit_code() {
        let status: Status = serde_json::from_value(json!({
            "status": "Failure", "reason": "NonZeroExitCode",
            "message": "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3",
            "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}))
        .unwrap();
        let e = exit_error(&status);
        assert_eq!(e.exit_code(), 3);
        assert_eq!(e.to_string(), "command terminated with exit code 3");
        let other: Status = serde_json::from_value(json!({
            "status": "Failure", "reason": "InternalError", "message": "boom"}))
        .unwrap();
        assert_eq!(exit_error(&other).to_string(), "error: boom");
    }
}
