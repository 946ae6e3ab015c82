//! Joining a cluster with its node token (`barge agent --server URL --token T`): the agent
//! fetches the cluster CA, checks it against the hash the token carries, and trades the token
//! for its node credentials (the server side is `barge_apiserver::join`). The credentials are
//! kept in `<data-dir>/credentials/` (keys mode 0600) and reused at the next start.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;
use serde_json::{Value, json};

/// Where the CA is fetched from, and where the token is traded (as the server serves them).
const CA_PATH: &str = "/barge/v1/join/ca";
const JOIN_PATH: &str = "/barge/v1/join";

/// A node's credentials.
#[derive(Clone)]
pub struct Credentials {
    pub server: String,
    pub ca_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
}

impl std::fmt::Debug for Credentials {
    // Keys never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

const FILES: [&str; 6] = [
    "server",
    "ca.crt",
    "client.crt",
    "client.key",
    "serving.crt",
    "serving.key",
];

impl Credentials {
    /// The credentials kept in `dir` by an earlier join to `server`, if any.
    pub fn load(dir: &Path, server: &str) -> Option<Self> {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        let kept: Vec<String> = FILES.iter().map(|f| read(f)).collect::<Option<_>>()?;
        if kept[0].trim() != server {
            return None;
        }
        Some(Self {
            server: server.to_owned(),
            ca_pem: kept[1].clone(),
            client_cert_pem: kept[2].clone(),
            client_key_pem: kept[3].clone(),
            serving_cert_pem: kept[4].clone(),
            serving_key_pem: kept[5].clone(),
        })
    }

    /// Keeps the credentials in `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let values = [
            &self.server,
            &self.ca_pem,
            &self.client_cert_pem,
            &self.client_key_pem,
            &self.serving_cert_pem,
            &self.serving_key_pem,
        ];
        for (name, value) in FILES.iter().zip(values) {
            let path = dir.join(name);
            let _ = std::fs::remove_file(&path);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(if name.ends_with(".key") { 0o600 } else { 0o644 })
                .open(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            file.write_all(value.as_bytes())?;
        }
        Ok(())
    }

    /// A kubeconfig for the node's client certificate.
    pub fn kubeconfig(&self) -> String {
        kubeconfig(
            &self.server,
            Some(&self.ca_pem),
            json!({
                "client-certificate-data": b64(&self.client_cert_pem),
                "client-key-data": b64(&self.client_key_pem),
            }),
        )
    }

    /// A client of the cluster as this node.
    pub async fn client(&self) -> Result<kube::Client> {
        client_for(&self.kubeconfig()).await
    }
}

/// The directory an agent keeps its credentials in.
pub fn credentials_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("credentials")
}

/// The parts of a node token: the CA's hash and the whole token.
fn parse_token(token: &str) -> Result<String> {
    let rest = token
        .trim()
        .strip_prefix("K10")
        .context("invalid node token: it starts with K10 (see <data-dir>/server/token)")?;
    let (hash, _) = rest
        .split_once("::node:")
        .context("invalid node token: no ::node: part")?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("invalid node token: the CA hash is not 64 hex digits");
    }
    Ok(hash.to_ascii_lowercase())
}

/// Joins the cluster at `server` (`https://host:port`) as node `node`, reached at `addresses`.
pub async fn join(
    server: &str,
    token: &str,
    node: &str,
    addresses: &[IpAddr],
) -> Result<Credentials> {
    let hash = parse_token(token)?;
    // 1. The CA, from a server not trusted yet; the token says which CA is the right one.
    let insecure = client_for(&kubeconfig(server, None, json!({}))).await?;
    let ca_pem = insecure
        .request_text(http::Request::get(CA_PATH).body(Vec::new())?)
        .await
        .with_context(|| format!("fetching the cluster CA from {server}"))?;
    let got = ring::digest::digest(&ring::digest::SHA256, ca_pem.as_bytes());
    let got: String = got.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    if got != hash {
        bail!("the server at {server} is not the cluster of this token (its CA does not match)");
    }
    // 2. The token for credentials, over TLS checked against that CA.
    let trusted = client_for(&kubeconfig(
        server,
        Some(&ca_pem),
        json!({"token": token.trim()}),
    ))
    .await?;
    let body = json!({
        "node": node,
        "addresses": addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    });
    let answer = trusted
        .request_text(
            http::Request::post(JOIN_PATH)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(&body)?)?,
        )
        .await
        .context("joining with the node token (is it this cluster's token?)")?;
    let answer: Value = serde_json::from_str(&answer).context("the join answer")?;
    let field = |name: &str| -> Result<String> {
        answer[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the join answer has no {name}"))
    };
    Ok(Credentials {
        server: server.to_owned(),
        ca_pem,
        client_cert_pem: field("clientCertificate")?,
        client_key_pem: field("clientKey")?,
        serving_cert_pem: field("servingCertificate")?,
        serving_key_pem: field("servingKey")?,
    })
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A one-context kubeconfig (JSON, which is YAML) for `server`: trusting `ca`, or any server
/// when `None`; `user` is the user entry.
fn kubeconfig(server: &str, ca: Option<&str>, user: Value) -> String {
    let mut cluster = json!({"server": server});
    match ca {
        Some(ca) => cluster["certificate-authority-data"] = json!(b64(ca)),
        None => cluster["insecure-skip-tls-verify"] = json!(true),
    }
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "barge", "cluster": cluster}],
        "users": [{"name": "node", "user": user}],
        "contexts": [{"name": "barge", "context": {"cluster": "barge", "user": "node"}}],
        "current-context": "barge",
    })
    .to_string()
}

async fn client_for(kubeconfig: &str) -> Result<kube::Client> {
    let file = kube::config::Kubeconfig::from_yaml(kubeconfig).context("a node kubeconfig")?;
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .context("a node kubeconfig")?;
    kube::Client::try_from(config).context("a client for the cluster")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_before_anything_is_sent() {
        let hash = "ab".repeat(32);
        assert_eq!(
            parse_token(&format!("K10{hash}::node:secret\n")).unwrap(),
            hash
        );
        assert!(parse_token("secret").is_err());
        assert!(parse_token("K10abc::node:secret").is_err());
        assert!(parse_token(&format!("K10{hash}secret")).is_err());
    }

    #[test]
    fn credentials_round_trip_with_private_keys() {
        let dir = tempfile::tempdir().unwrap();
        let c = Credentials {
            server: "https://10.0.0.1:6443".into(),
            ca_pem: "ca".into(),
            client_cert_pem: "cc".into(),
            client_key_pem: "ck".into(),
            serving_cert_pem: "sc".into(),
            serving_key_pem: "sk".into(),
        };
        c.save(dir.path()).unwrap();
        let back = Credentials::load(dir.path(), "https://10.0.0.1:6443").unwrap();
        assert_eq!(back.serving_key_pem, "sk");
        assert!(Credentials::load(dir.path(), "https://10.0.0.2:6443").is_none());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("client.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!format!("{c:?}").contains("ck"));
        let kc = c.kubeconfig();
        assert!(kc.contains("client-key-data") && kc.contains("certificate-authority-data"));
    }
}
