//! A minimal HTTPS client for the API benchmarks: HTTP/2 (as client-go and kubectl speak) or
//! HTTP/1.1 (as kube-rs and the Python client speak) over rustls (ring), trusting the
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
use hyper::client::conn::{http1, http2};
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

/// The HTTP version a [`Connection`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Many concurrent streams on one connection.
    Http2,
    /// One request at a time on one connection (kept alive).
    Http1,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Http2 => "HTTP/2",
            Protocol::Http1 => "HTTP/1.1",
        })
    }
}

/// Opens connections to one server.
#[derive(Clone)]
pub struct Client {
    /// Offers `h2` by ALPN.
    h2: tokio_rustls::TlsConnector,
    /// Offers `http/1.1` by ALPN.
    h1: tokio_rustls::TlsConnector,
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
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)?;
        let connector = |alpn: &[u8]| {
            let mut config = config.clone();
            config.alpn_protocols = vec![alpn.to_vec()];
            tokio_rustls::TlsConnector::from(Arc::new(config))
        };

        Ok(Self {
            h2: connector(b"h2"),
            h1: connector(b"http/1.1"),
            base: format!("https://{}", uri.authority().expect("a host was found")),
            host,
            port,
            server_name,
        })
    }

    /// One new TLS connection speaking `protocol`; it closes when every clone of it is dropped.
    pub async fn connect(&self, protocol: Protocol) -> Result<Connection> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot connect to {}", self.base))?;
        // Small requests would otherwise wait for Nagle's algorithm.
        tcp.set_nodelay(true)?;
        let connector = match protocol {
            Protocol::Http2 => &self.h2,
            Protocol::Http1 => &self.h1,
        };
        let tls = connector
            .connect(self.server_name.clone(), tcp)
            .await
            .with_context(|| format!("TLS handshake with {} failed", self.base))?;
        let io = TokioIo::new(tls);
        // An error in a connection task also fails the requests in flight, which report it.
        let sender = match protocol {
            Protocol::Http2 => {
                let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                    .handshake(io)
                    .await
                    .context("HTTP/2 handshake failed")?;
                tokio::spawn(connection);
                Sender::Http2(sender)
            }
            Protocol::Http1 => {
                let (sender, connection) = http1::handshake(io)
                    .await
                    .context("HTTP/1.1 handshake failed")?;
                tokio::spawn(connection);
                Sender::Http1(Arc::new(tokio::sync::Mutex::new(sender)))
            }
        };
        Ok(Connection {
            sender,
            base: self.base.clone(),
        })
    }
}

#[derive(Clone, Debug)]
enum Sender {
    Http2(http2::SendRequest<Full<Bytes>>),
    /// HTTP/1.1 sends one request at a time: clones take turns.
    Http1(Arc<tokio::sync::Mutex<http1::SendRequest<Full<Bytes>>>>),
}

/// One connection; clones share it (with HTTP/2, each request is one stream).
#[derive(Clone, Debug)]
pub struct Connection {
    sender: Sender,
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
        let response = match &self.sender {
            Sender::Http2(sender) => {
                let mut sender = sender.clone();
                sender.ready().await.context("the connection has closed")?;
                sender.send_request(request).await
            }
            Sender::Http1(sender) => {
                let mut sender = sender.lock().await;
                sender.ready().await.context("the connection has closed")?;
                sender.send_request(request).await
            }
        };
        response.with_context(|| format!("request to {path} failed"))
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
