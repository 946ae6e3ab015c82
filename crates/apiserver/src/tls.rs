//! The cluster's certificates: a CA made at first start and kept in the data dir, a serving
//! certificate for the API server (made again at each start, so its names follow the machine),
//! and the admin client certificate that the admin kubeconfig carries.

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
#[derive(Clone, Debug)]
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Everything TLS the server needs, loaded or made under `<data-dir>/server/tls`.
#[derive(Clone, Debug)]
pub struct ClusterCerts {
    pub ca: Pair,
    pub serving: Pair,
    pub admin: Pair,
}

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
    /// Loads the CA and admin certificate from `dir` (making them at first start) and makes a
    /// serving certificate for `names` (DNS names and IP addresses).
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

        let (admin_crt, admin_key) = (dir.join("admin.crt"), dir.join("admin.key"));
        let admin = match (read(&admin_crt)?, read(&admin_key)?) {
            (Some(cert_pem), Some(key_pem)) => Pair { cert_pem, key_pem },
            _ => {
                let pair = leaf(
                    "system:admin",
                    Some("system:masters"),
                    Vec::new(),
                    ExtendedKeyUsagePurpose::ClientAuth,
                    &issuer,
                )?;
                write(&admin_key, &pair.key_pem, true)?;
                write(&admin_crt, &pair.cert_pem, false)?;
                pair
            }
        };
        Ok(Self { ca, serving, admin })
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
