//! The cluster's certificates: a CA made at first start and kept in the data dir, a serving
//! certificate for the API server (made again at each start, so its names follow the machine),
//! the admin client certificate that the admin kubeconfig carries, the client certificate the
//! API server presents to kubelets (`apiserver-kubelet-client`, as kubeadm names it), and
//! kubelet serving certificates issued on demand for a node's names and addresses.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make a certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("invalid PEM in {path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("invalid TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("invalid client CA: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// PEM texts of one certificate and its key.
#[derive(Clone)]
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The key stays out of debug output (and so out of logs).
impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Everything TLS the server needs, loaded or made under `<data-dir>/server/tls`.
#[derive(Clone, Debug)]
pub struct ClusterCerts {
    pub ca: Pair,
    pub serving: Pair,
    pub admin: Pair,
    /// What the API server presents when it calls a kubelet (logs, exec, port-forward).
    pub kubelet_client: Pair,
}

/// The files of the API server's kubelet client certificate, beside the CA in the TLS dir.
pub const KUBELET_CLIENT_CERT: &str = "apiserver-kubelet-client.crt";
pub const KUBELET_CLIENT_KEY: &str = "apiserver-kubelet-client.key";

fn write(path: &Path, text: &str, private: bool) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::write(path, text).map_err(io)?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

fn read(path: &Path) -> Result<Option<String>, TlsError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TlsError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The CA's parameters. They are rebuilt the same way at every start, so that a CA loaded
/// from disk signs with the same issuer name and key identifier as when it was made.
fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "barge-ca");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

fn leaf(
    cn: &str,
    org: Option<&str>,
    sans: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<Pair, TlsError> {
    let mut p = CertificateParams::new(sans)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(org) = org {
        dn.push(DnType::OrganizationName, org);
    }
    p.distinguished_name = dn;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![usage];
    p.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = p.signed_by(&key, issuer)?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

impl ClusterCerts {
    /// Loads the CA and the client certificates (admin, kubelet client) from `dir`, making them
    /// at first start, and makes a serving certificate for `names` (DNS names and IP addresses).
    pub fn load_or_create(dir: &Path, names: &[String]) -> Result<Self, TlsError> {
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let (ca_crt, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
        let (ca, key) = match (read(&ca_crt)?, read(&ca_key)?) {
            (Some(cert_pem), Some(key_pem)) => {
                let key = KeyPair::from_pem(&key_pem)?;
                (Pair { cert_pem, key_pem }, key)
            }
            _ => {
                let key = KeyPair::generate()?;
                let cert = ca_params().self_signed(&key)?;
                let pair = Pair {
                    cert_pem: cert.pem(),
                    key_pem: key.serialize_pem(),
                };
                write(&ca_key, &pair.key_pem, true)?;
                write(&ca_crt, &pair.cert_pem, false)?;
                (pair, key)
            }
        };
        let issuer = Issuer::new(ca_params(), key);

        let serving = leaf(
            "kube-apiserver",
            None,
            names.to_vec(),
            ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
        )?;

        let admin = load_or_make_client(
            &dir.join("admin.crt"),
            &dir.join("admin.key"),
            "system:admin",
            &issuer,
        )?;
        let kubelet_client = load_or_make_client(
            &dir.join(KUBELET_CLIENT_CERT),
            &dir.join(KUBELET_CLIENT_KEY),
            "kube-apiserver-kubelet-client",
            &issuer,
        )?;
        Ok(Self {
            ca,
            serving,
            admin,
            kubelet_client,
        })
    }

    /// A serving certificate for a kubelet (`system:node:<node>` in group `system:nodes`, as
    /// upstream's kubelet serving certificates), valid for `names`: DNS names and IP addresses,
    /// which must include the address the API server dials (the Node's InternalIP).
    pub fn issue_kubelet_serving(&self, node: &str, names: &[String]) -> Result<Pair, TlsError> {
        let key = KeyPair::from_pem(&self.ca.key_pem)?;
        let issuer = Issuer::new(ca_params(), key);
        leaf(
            &format!("system:node:{node}"),
            Some("system:nodes"),
            names.to_vec(),
            ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
        )
    }

    /// A client certificate for user `cn` (in group `org`, when given), signed by the cluster
    /// CA: what a kubeconfig for that user carries.
    pub fn issue_client(&self, cn: &str, org: Option<&str>) -> Result<Pair, TlsError> {
        let issuer = Issuer::new(ca_params(), KeyPair::from_pem(&self.ca.key_pem)?);
        leaf(
            cn,
            org,
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
        )
    }

    /// The rustls client configuration the API server calls kubelets with: it presents the
    /// kubelet client certificate and trusts kubelet serving certificates signed by the
    /// cluster CA. HTTP/1.1 only (upgrades pass through it).
    pub fn kubelet_client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        client_config(&self.ca.cert_pem, &self.kubelet_client)
    }

    /// The rustls server configuration: the serving certificate, client certificates checked
    /// against the cluster CA when offered (requests without one are told apart later, by
    /// authentication), HTTP/2 and HTTP/1.1.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in pem_certs(&self.ca.cert_pem, "ca.crt")? {
            roots.add(cert)?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.into(),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()?;
        let key = PrivateKeyDer::from_pem_slice(self.serving.key_pem.as_bytes()).map_err(|e| {
            TlsError::Pem {
                path: "serving key".into(),
                message: e.to_string(),
            }
        })?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(pem_certs(&self.serving.cert_pem, "serving cert")?, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// A joining node's credentials, signed by the CA in the TLS dir `dir`: a client certificate
/// (`system:node:<node>` in `system:nodes`, what upstream's kubelets present) and a kubelet
/// serving certificate for `names`. Returns the CA certificate too.
pub fn issue_node_credentials(
    dir: &Path,
    node: &str,
    names: &[String],
) -> Result<(String, Pair, Pair), TlsError> {
    let need = |name: &str| -> Result<String, TlsError> {
        let path = dir.join(name);
        read(&path)?.ok_or_else(|| TlsError::Io {
            path,
            source: std::io::ErrorKind::NotFound.into(),
        })
    };
    let ca_cert = need("ca.crt")?;
    let issuer = Issuer::new(ca_params(), KeyPair::from_pem(&need("ca.key")?)?);
    let cn = format!("system:node:{node}");
    let client = leaf(
        &cn,
        Some("system:nodes"),
        Vec::new(),
        ExtendedKeyUsagePurpose::ClientAuth,
        &issuer,
    )?;
    let serving = leaf(
        &cn,
        Some("system:nodes"),
        names.to_vec(),
        ExtendedKeyUsagePurpose::ServerAuth,
        &issuer,
    )?;
    Ok((ca_cert, client, serving))
}

/// The client configuration of [`ClusterCerts::kubelet_client_config`], read from the TLS dir
/// (`ca.crt` and the kubelet client pair), for callers that hold only the directory.
pub fn kubelet_client_config_from(dir: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let need = |name: &str| -> Result<String, TlsError> {
        let path = dir.join(name);
        read(&path)?.ok_or_else(|| TlsError::Io {
            path,
            source: std::io::ErrorKind::NotFound.into(),
        })
    };
    let pair = Pair {
        cert_pem: need(KUBELET_CLIENT_CERT)?,
        key_pem: need(KUBELET_CLIENT_KEY)?,
    };
    client_config(&need("ca.crt")?, &pair)
}

fn client_config(ca_pem: &str, pair: &Pair) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in pem_certs(ca_pem, "ca.crt")? {
        roots.add(cert)?;
    }
    let key =
        PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).map_err(|e| TlsError::Pem {
            path: "kubelet client key".into(),
            message: e.to_string(),
        })?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(pem_certs(&pair.cert_pem, "kubelet client cert")?, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client certificate in group `system:masters`, kept in the data dir once made.
fn load_or_make_client(
    crt: &Path,
    key: &Path,
    cn: &str,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<Pair, TlsError> {
    if let (Some(cert_pem), Some(key_pem)) = (read(crt)?, read(key)?) {
        return Ok(Pair { cert_pem, key_pem });
    }
    let pair = leaf(
        cn,
        Some("system:masters"),
        Vec::new(),
        ExtendedKeyUsagePurpose::ClientAuth,
        issuer,
    )?;
    write(key, &pair.key_pem, true)?;
    write(crt, &pair.cert_pem, false)?;
    Ok(pair)
}

fn pem_certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: what.into(),
            message: e.to_string(),
        })
}

/// The names the serving certificate must carry: the in-cluster names of the `kubernetes`
/// Service, its ClusterIP, localhost, this host's name and the address the server listens on.
pub fn serving_names(bind: IpAddr, service_ip: IpAddr, extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "127.0.0.1",
        "::1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    names.push(service_ip.to_string());
    if !bind.is_unspecified() {
        names.push(bind.to_string());
    }
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_owned());
        }
    }
    names.extend(extra.iter().cloned());
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let first = ClusterCerts::load_or_create(dir.path(), &names).unwrap();
        let second = ClusterCerts::load_or_create(dir.path(), &names).unwrap();
        assert_eq!(first.ca.cert_pem, second.ca.cert_pem);
        assert_eq!(first.admin.cert_pem, second.admin.cert_pem);
        assert_eq!(
            first.kubelet_client.cert_pem,
            second.kubelet_client.cert_pem
        );
        second.kubelet_client_config().unwrap();
        kubelet_client_config_from(dir.path()).unwrap();
        let kubelet = second
            .issue_kubelet_serving("node-1", &["127.0.0.1".to_owned()])
            .unwrap();
        assert!(kubelet.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(
            first.serving.key_pem, second.serving.key_pem,
            "serving certs are fresh"
        );
        second.server_config().unwrap();
        let mode = std::fs::metadata(dir.path().join("ca.key")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }
}
