//! Joining nodes with the cluster's node token, as k3s does: `barge agent --server URL --token
//! T` becomes a node without copying any kubeconfig.
//!
//! The token (`<data-dir>/server/token`, made at first start) is
//! `K10<sha256 of the cluster CA certificate, hex>::node:<secret>`. A joining agent
//! 1. fetches the CA certificate from [`CA_PATH`] (no credentials; the server is not trusted
//!    yet) and checks it against the hash in the token, so a server that is not this cluster
//!    cannot pass for it;
//! 2. over TLS verified with that CA, sends the token as a bearer token to [`JOIN_PATH`] with
//!    its node name and addresses, and gets its credentials: a client certificate
//!    `system:node:<name>` in `system:nodes` (what upstream's kubelets present, so the node
//!    authorizer applies) and a kubelet serving certificate for its addresses (so `kubectl
//!    logs/exec` reach it).
//!
//! The token is good for nothing else: authentication does not know it, only this handler.

use std::path::Path;

use barge_api::ApiError;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::ApiServer;
use crate::request::{self, Response};
use crate::router::RequestBody;

/// Where a joining agent fetches the cluster CA (no credentials).
pub const CA_PATH: &str = "/barge/v1/join/ca";
/// Where a joining agent gets its credentials (bearer: the node token).
pub const JOIN_PATH: &str = "/barge/v1/join";
/// The token's file in the server's state dir.
pub const TOKEN_FILE: &str = "token";

/// The hex SHA-256 of a PEM text, as the token carries the CA's.
pub fn ca_hash(ca_pem: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, ca_pem.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The node token of the server whose state is in `dir` (`<data-dir>/server`, with the CA in
/// `tls/`), made (mode 0600) if there is none yet.
pub fn load_or_create_token(dir: &Path) -> std::io::Result<String> {
    let path = dir.join(TOKEN_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(text.trim().to_owned());
    }
    let ca = std::fs::read_to_string(dir.join("tls").join("ca.crt"))?;
    let mut secret = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| std::io::Error::other("no randomness for the node token"))?;
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("K10{}::node:{secret}", ca_hash(&ca));
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(format!("{token}\n").as_bytes())?;
    Ok(token)
}

/// Whether `path` is one of the join endpoints (answered without authentication).
pub fn is_join_path(path: &str) -> bool {
    path == CA_PATH || path == JOIN_PATH
}

/// Answers [`CA_PATH`] and [`JOIN_PATH`].
pub async fn handle<B: RequestBody>(
    state: &ApiServer,
    req: http::Request<B>,
) -> Result<Response, ApiError> {
    let tls_dir = state.config.dir.join("tls");
    match (req.method(), req.uri().path()) {
        (&Method::GET, CA_PATH) => {
            let ca = std::fs::read_to_string(tls_dir.join("ca.crt")).map_err(ApiError::internal)?;
            Ok(http::Response::builder()
                .status(StatusCode::OK)
                .header(http::header::CONTENT_TYPE, "application/x-pem-file")
                .body(request::full(Bytes::from(ca)))
                .expect("a valid response"))
        }
        (&Method::POST, JOIN_PATH) => {
            let expected =
                std::fs::read_to_string(state.config.dir.join(TOKEN_FILE)).unwrap_or_default();
            let given = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if expected.trim().is_empty() || !constant_time_eq(given.trim(), expected.trim()) {
                return Err(ApiError::unauthorized());
            }
            let body = request::read_body(req.into_body()).await?;
            let body: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid join request: {e}")))?;
            let node = body["node"].as_str().unwrap_or_default();
            if !valid_node_name(node) {
                return Err(ApiError::bad_request(format!(
                    "invalid node name {node:?}: a lowercase RFC 1123 subdomain is required"
                )));
            }
            let mut names = vec![node.to_owned()];
            for a in body["addresses"].as_array().into_iter().flatten() {
                if let Some(ip) = a.as_str().filter(|s| s.parse::<std::net::IpAddr>().is_ok()) {
                    names.push(ip.to_owned());
                }
            }
            let (ca, client, serving) = crate::tls::issue_node_credentials(&tls_dir, node, &names)
                .map_err(ApiError::internal)?;
            tracing::info!(%node, "node joined with the node token");
            Ok(request::ok(
                &json!({
                    "ca": ca,
                    "clientCertificate": client.cert_pem,
                    "clientKey": client.key_pem,
                    "servingCertificate": serving.cert_pem,
                    "servingKey": serving.key_pem,
                }),
                request::Format::Json,
            ))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "{} is not supported on {}",
            req.method(),
            req.uri().path()
        ))),
    }
}

/// Compares in time that depends on the lengths only.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_made_once_and_carry_the_ca_hash() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tls")).unwrap();
        std::fs::write(dir.path().join("tls/ca.crt"), "CA PEM").unwrap();
        let token = load_or_create_token(dir.path()).unwrap();
        assert!(token.starts_with(&format!("K10{}::node:", ca_hash("CA PEM"))));
        assert_eq!(token.len(), 3 + 64 + 7 + 32);
        assert_eq!(load_or_create_token(dir.path()).unwrap(), token);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn comparisons_and_names() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(valid_node_name("worker-1.example"));
        assert!(!valid_node_name("Worker"));
        assert!(!valid_node_name("-a"));
        assert!(!valid_node_name(""));
    }
}
