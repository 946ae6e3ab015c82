//! The admin kubeconfig: the cluster CA, the server URL and the admin client certificate, all
//! embedded, so that kubectl uses it as is.

use base64::Engine;

use crate::tls::ClusterCerts;

fn b64(pem: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(pem)
}

/// A kubeconfig with one cluster, user and context, all named `barge`.
pub fn admin(server_url: &str, certs: &ClusterCerts) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: barge
  cluster:
    server: {server_url}
    certificate-authority-data: {ca}
users:
- name: barge-admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: barge
  context:
    cluster: barge
    user: barge-admin
current-context: barge
preferences: {{}}
",
        ca = b64(&certs.ca.cert_pem),
        cert = b64(&certs.admin.cert_pem),
        key = b64(&certs.admin.key_pem),
    )
}

/// Writes the kubeconfig readable by its owner only (it holds the admin key).
pub fn write(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}
