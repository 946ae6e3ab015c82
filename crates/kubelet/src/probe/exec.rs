//! `exec` probes: the command runs in the container through [`Exec`] (CRI `ExecSync`), as
//! upstream's `pkg/probe/exec` with `RunInContainer`: exit 0 is success, any other exit is a
//! failure whose message is the command's output (stdout then stderr, at most 10 KiB), a
//! timeout is a failure `command "<cmd>" timed out` (the `ExecProbeTimeout` behaviour, on by
//! default), and any other error is an error of the probe (retried, then thrown away).
//!
//! `$(VAR)` references in the command are expanded from the container's `env` values, as
//! upstream's `ExpandContainerCommandOnlyStatic` (values from `valueFrom` count as empty).

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::EnvVar;

use super::{Exec, ExecOutput, ExecTimeout, Outcome, Target, gofmt};

/// Upstream's `maxReadLength` for exec probe output.
const MAX_OUTPUT: usize = 10 * 1024;

/// How long past its own timeout a runtime gets to answer (upstream's runtime request timeout,
/// added to the exec timeout for the gRPC deadline).
pub(crate) const RUNTIME_GRACE: Duration = Duration::from_secs(120);

/// `third_party/forked/golang/expansion.Expand` with upstream's `MappingFuncFor`: `$(NAME)` is
/// replaced by the variable's value (left as written when the variable is unknown), `$$` is a
/// literal `$`, and a `$` before anything else stays.
pub(crate) fn expand(input: &str, vars: &HashMap<&str, &str>) -> String {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.extend_from_slice(&bytes[checkpoint..cursor]);
            let rest = &bytes[cursor + 1..];
            let advance = match rest[0] {
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match rest.iter().position(|&b| b == b')') {
                    Some(close) => {
                        let name = String::from_utf8_lossy(&rest[1..close]);
                        match vars.get(name.as_ref()) {
                            Some(value) => out.extend_from_slice(value.as_bytes()),
                            None => {
                                out.extend_from_slice(b"$(");
                                out.extend_from_slice(&rest[1..close]);
                                out.push(b')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                other => {
                    out.push(b'$');
                    out.push(other);
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&bytes[checkpoint.min(bytes.len())..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// Upstream's `ExpandContainerCommandOnlyStatic`.
pub(crate) fn expand_command(command: &[String], env: &[EnvVar]) -> Vec<String> {
    let vars: HashMap<&str, &str> = env
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or_default()))
        .collect();
    command.iter().map(|c| expand(c, &vars)).collect()
}

/// Whether an error from [`Exec`] means the command timed out: an [`ExecTimeout`], or a gRPC
/// `DeadlineExceeded` from the runtime.
pub(crate) fn is_timeout(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<ExecTimeout>().is_some()
            || e.downcast_ref::<tonic::Status>()
                .is_some_and(|s| s.code() == tonic::Code::DeadlineExceeded)
    })
}

/// Upstream's timeout error text: `command "sh -c sleep 5" timed out`.
pub(crate) fn timeout_message(cmd: &[String]) -> String {
    format!("command {} timed out", gofmt::quote(&cmd.join(" ")))
}

/// Runs `cmd` through `exec`, bounded by `timeout` plus [`RUNTIME_GRACE`] in case the runtime
/// does not enforce the timeout itself. A zero timeout means none, as in CRI.
pub(crate) async fn run<E: Exec>(
    exec: &E,
    container_id: &str,
    cmd: Vec<String>,
    timeout: Duration,
) -> anyhow::Result<ExecOutput> {
    let call = exec.exec_sync(container_id, cmd, timeout);
    if timeout.is_zero() {
        return call.await;
    }
    match tokio::time::timeout(timeout + RUNTIME_GRACE, call).await {
        Ok(result) => result,
        Err(_) => Err(anyhow::Error::new(ExecTimeout)),
    }
}

/// The `exec` probe.
pub(crate) async fn probe<E: Exec>(
    command: &[String],
    target: &Target,
    exec: &E,
    timeout: Duration,
) -> Outcome {
    let cmd = expand_command(command, &target.container_env);
    match run(exec, &target.container_id, cmd.clone(), timeout).await {
        Ok(out) => {
            let mut data = out.stdout;
            data.extend_from_slice(&out.stderr);
            data.truncate(MAX_OUTPUT);
            let text = String::from_utf8_lossy(&data).into_owned();
            if out.exit_code == 0 {
                Outcome::Success(text)
            } else {
                Outcome::Failure(text)
            }
        }
        Err(e) if is_timeout(&e) => Outcome::Failure(timeout_message(&cmd)),
        Err(e) => Outcome::Unknown(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_upstream() {
        let vars: HashMap<&str, &str> = [("PORT", "8080"), ("EMPTY", "")].into_iter().collect();
        assert_eq!(expand("port=$(PORT)", &vars), "port=8080");
        assert_eq!(expand("$(EMPTY)x", &vars), "x");
        assert_eq!(expand("$(MISSING)", &vars), "$(MISSING)");
        assert_eq!(expand("$$(PORT)", &vars), "$(PORT)");
        assert_eq!(expand("$(PORT", &vars), "$(PORT");
        assert_eq!(expand("cost $5 é$", &vars), "cost $5 é$");
        assert_eq!(expand("$", &vars), "$");
        assert_eq!(expand("a$$", &vars), "a$");
        assert_eq!(expand("$(PORT)$(PORT)", &vars), "80808080");
    }

    #[test]
    fn expands_commands_from_static_env() {
        let env = vec![
            EnvVar {
                name: "F".into(),
                value: Some("/tmp/healthy".into()),
                ..Default::default()
            },
            EnvVar {
                name: "FROM".into(),
                value_from: Some(Default::default()),
                ..Default::default()
            },
        ];
        assert_eq!(
            expand_command(&["cat".into(), "$(F)".into(), "[$(FROM)]".into()], &env),
            vec!["cat", "/tmp/healthy", "[]"]
        );
    }

    #[test]
    fn recognises_timeouts() {
        assert!(is_timeout(&anyhow::Error::new(ExecTimeout)));
        assert!(is_timeout(&anyhow::Error::new(
            tonic::Status::deadline_exceeded("x")
        )));
        assert!(!is_timeout(&anyhow::Error::new(
            tonic::Status::unavailable("x")
        )));
        assert_eq!(
            timeout_message(&["sh".into(), "-c".into(), "sleep 5".into()]),
            r#"command "sh -c sleep 5" timed out"#
        );
    }
}
