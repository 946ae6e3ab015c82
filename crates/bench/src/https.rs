//! A minimal HTTPS client for the API benchmarks: HTTP/2 over rustls (ring), trusting the
//! kubeconfig's cluster CA and presenting its admin client certificate.
//!
//! It is deliberately thin (no pooling, no retries, no redirects): each [`Connection`] is one
//! TLS connection, so a benchmark decides exactly how many connections the server sees.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use base64::Engine;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// What the benchmark needs from a kubeconfig: the server and the admin credentials, all
/// embedded (as `barge server` writes them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kubeconfig {
    pub server: String,
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl Kubeconfig {
    /// Reads the first cluster's server and CA and the first user's client certificate and key.
    ///
    /// A line scan rather than a YAML parser: the benchmark only ever reads kubeconfigs with one
    /// cluster and one user and the `*-data` fields inline, and this keeps YAML out of the crate.
    pub fn parse(text: &str) -> Result<Self> {
        let field = |name: &str| -> Option<&str> {
            text.lines().find_map(|line| {
                let (key, value) = line.trim().trim_start_matches("- ").split_once(':')?;
                (key.trim() == name).then(|| value.trim().trim_matches(|c| c == '"' || c == '\''))
            })
        };
        let data = |name: &str| -> Result<Vec<u8>> {
            let value = field(name).with_context(|| {
                format!("the kubeconfig has no {name} (only embedded credentials are supported)")
            })?;
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .with_context(|| format!("invalid base64 in {name}"))
        };
        Ok(Self {
            server: field("server")
                .context("the kubeconfig has no cluster server")?
                .to_owned(),
            ca_pem: data("certificate-authority-data")?,
            cert_pem: data("client-certificate-data")?,
            key_pem: data("client-key-data")?,
        })
    }

    pub fn read(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }
}

/// Opens connections to one server.
#[derive(Clone)]
pub struct Client {
    tls: tokio_rustls::TlsConnector,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    base: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

impl Client {
    pub fn new(kubeconfig: &Kubeconfig) -> Result<Self> {
        let uri: Uri = kubeconfig
            .server
            .parse()
            .with_context(|| format!("invalid server URL {:?}", kubeconfig.server))?;
        if uri.scheme_str() != Some("https") {
            bail!("server URL {:?} is not https", kubeconfig.server);
        }
        let host = uri
            .host()
            .with_context(|| format!("server URL {:?} has no host", kubeconfig.server))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let server_name = ServerName::try_from(host.clone())
            .with_context(|| format!("invalid server name {host:?}"))?;

        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&kubeconfig.ca_pem) {
            roots.add(cert.context("invalid certificate-authority-data")?)?;
        }
        let certs = CertificateDer::pem_slice_iter(&kubeconfig.cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .context("invalid client-certificate-data")?;
        let key = PrivateKeyDer::from_pem_slice(&kubeconfig.key_pem)
            .context("invalid client-key-data")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec()];

        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            base: format!("https://{}", uri.authority().expect("a host was found")),
            host,
            port,
            server_name,
        })
    }

    /// One new TLS connection speaking HTTP/2; it closes when every clone of it is dropped.
    pub async fn connect(&self) -> Result<Connection> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot connect to {}", self.base))?;
        // Small requests would otherwise wait for Nagle's algorithm.
        tcp.set_nodelay(true)?;
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .with_context(|| format!("TLS handshake with {} failed", self.base))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            bail!("{} did not agree to HTTP/2", self.base);
        }
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(tls))
            .await
            .context("HTTP/2 handshake failed")?;
        tokio::spawn(async move {
            // An error here also fails the requests in flight, which report it.
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            base: self.base.clone(),
        })
    }
}

/// One HTTP/2 connection; clones share it (each request is one stream).
#[derive(Clone, Debug)]
pub struct Connection {
    sender: http2::SendRequest<Full<Bytes>>,
    base: String,
}

impl Connection {
    /// Sends a request and returns the response with its body still to be read (for watches).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response<Incoming>> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(body.unwrap_or_default()))?;
        let mut sender = self.sender.clone();
        sender.ready().await.context("the connection has closed")?;
        sender
            .send_request(request)
            .await
            .with_context(|| format!("request to {path} failed"))
    }

    /// Sends a request and reads the whole response.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes)> {
        let response = self.send(method, path, body).await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the response to {path} failed"))?
            .to_bytes();
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn reads_the_kubeconfig_barge_server_writes() {
        let text = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: barge
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: {}
users:
- name: barge-admin
  user:
    client-certificate-data: {}
    client-key-data: \"{}\"
current-context: barge
",
            b64("CA"),
            b64("CERT"),
            b64("KEY")
        );
        let k = Kubeconfig::parse(&text).unwrap();
        assert_eq!(k.server, "https://127.0.0.1:6443");
        assert_eq!(k.ca_pem, b"CA");
        assert_eq!(k.cert_pem, b"CERT");
        assert_eq!(k.key_pem, b"KEY");
    }

    #[test]
    fn names_what_the_kubeconfig_lacks() {
        let text =
            "clusters:\n- cluster:\n    server: https://h:1\n    certificate-authority: /ca.crt\n";
        let e = Kubeconfig::parse(text).unwrap_err().to_string();
        assert!(e.contains("certificate-authority-data"), "{e}");
        let e = Kubeconfig::parse("server: https://h:1\ncertificate-authority-data: !!\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "invalid base64 in certificate-authority-data");
    }
}
