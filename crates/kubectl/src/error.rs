//! Errors as kubectl prints them: `Error from server (NotFound): pods "x" not found` for an
//! API `Status`, `error: ...` for everything else; exit code 1 either way.

use std::fmt;

/// What a command failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An answer of the API server that is a `Status` (or an HTTP error).
    #[error("{}", server_message(.reason, .message))]
    Server { reason: String, message: String },
    /// Anything on this side: bad arguments, a missing kubeconfig, an unreachable server.
    #[error("error: {0}")]
    Client(String),
    /// A remote command (`exec`) exited with this non-zero code, which becomes ours.
    #[error("command terminated with exit code {0}")]
    Exit(i32),
    /// A failure already explained on standard error: exit code 1, nothing more printed.
    #[error("")]
    Reported,
}

fn server_message(reason: &str, message: &str) -> String {
    // Without a reason kubectl prints no parentheses.
    if reason.is_empty() {
        format!("Error from server: {message}")
    } else {
        format!("Error from server ({reason}): {message}")
    }
}

impl Error {
    pub fn client(message: impl fmt::Display) -> Self {
        Error::Client(message.to_string())
    }

    /// The message without kubectl's `Error from server (...)` or `error:` prefix.
    pub fn message(&self) -> String {
        match self {
            Error::Server { message, .. } | Error::Client(message) => message.clone(),
            Error::Exit(_) | Error::Reported => self.to_string(),
        }
    }

    /// The process's exit code after this error: 1, or the remote command's.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exit(code) => *code,
            _ => 1,
        }
    }
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(status) => Error::Server {
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            kube::Error::HyperError(e) => {
                Error::Client(format!("Unable to connect to the server: {e}"))
            }
            kube::Error::Service(e) => {
                Error::Client(format!("Unable to connect to the server: {e}"))
            }
            other => Error::Client(other.to_string()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Client(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Client(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_read_as_kubectl_prints_them() {
        let e = Error::Server {
            reason: "NotFound".into(),
            message: "pods \"x\" not found".into(),
        };
        assert_eq!(
            e.to_string(),
            "Error from server (NotFound): pods \"x\" not found"
        );
        assert_eq!(
            Error::client("unknown command").to_string(),
            "error: unknown command"
        );
    }
}
