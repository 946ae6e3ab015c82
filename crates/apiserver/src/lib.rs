//! The Kubernetes API server: the REST API of Kubernetes 1.32 over HTTPS, on top of a
//! [`barge_store::Store`], so that the real kubectl and client libraries work unchanged.
//!
//! A request travels: TLS ([`tls`]) → HTTP/1.1 or HTTP/2 (hyper) → [`router::dispatch`], which
//! authenticates it ([`authn`]: client certificate, ServiceAccount token), authorizes it
//! ([`authz`]: the node authorizer and RBAC) and parses the path against the
//! [`barge_api::Registry`] → a handler in [`handlers`] (CRUD, subresources, patch), [`watch`]
//! or [`reviews`] → the store. Objects are JSON values; what the server does to their metadata
//! is in [`objects`], defaults and validation in [`admission`].

pub mod admission;
pub mod authn;
pub mod authz;
mod bootstrap;
pub mod cache;
pub mod crd;
pub mod discovery;
mod eviction;
pub mod handlers;
pub mod join;
pub mod kubeconfig;
pub mod metrics;
mod namespaces;
pub mod objects;
pub mod openapi;
mod openapi_proto;
pub mod printing;
pub mod proxy;
mod raw;
pub mod request;
mod resource_metrics;
pub mod reviews;
pub mod router;
mod services;
pub mod tls;
pub mod tokens;
pub mod watch;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use barge_api::Registry;
use barge_store::Store;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The Kubernetes version this server speaks (`/version`; kubectl on these machines picks its
/// own build by the minor version it reports).
pub const KUBERNETES_VERSION: &str = "v1.32.4";

#[derive(Clone, Debug)]
pub struct Config {
    pub bind_address: IpAddr,
    /// 0 picks a free port (tests).
    pub https_port: u16,
    /// Certificates live in `<dir>/tls`.
    pub dir: PathBuf,
    /// The first address of the service CIDR is the `kubernetes` Service's ClusterIP.
    pub service_cidr: (Ipv4Addr, u8),
    /// The ClusterIP of the `kube-system/kube-dns` Service (10.96.0.10), an address of the
    /// service CIDR; the node agents' cluster DNS address (the same by default) must match.
    pub cluster_dns: Ipv4Addr,
    pub node_port_range: (u16, u16),
    /// How long new pods tolerate a not-ready or unreachable node (DefaultTolerationSeconds).
    pub default_toleration_seconds: i64,
    /// Whether the API server itself empties a deleted namespace (when no namespace
    /// controller runs, as in API-only tests).
    pub finalize_namespaces: bool,
    /// The window of the nodes' CPU rates (their agents' `--metric-resolution`), reported by
    /// the metrics API.
    pub metric_resolution: std::time::Duration,
}

impl Config {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            https_port: 6443,
            dir: dir.into(),
            service_cidr: (Ipv4Addr::new(10, 96, 0, 0), 12),
            cluster_dns: Ipv4Addr::new(10, 96, 0, 10),
            node_port_range: (30000, 32767),
            default_toleration_seconds: 300,
            finalize_namespaces: true,
            metric_resolution: std::time::Duration::from_secs(15),
        }
    }

    pub fn kubernetes_service_ip(&self) -> Ipv4Addr {
        let base = u32::from(self.service_cidr.0);
        Ipv4Addr::from(base + 1)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Tokens(#[from] tokens::TokenError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up the cluster's default objects: {0}")]
    Bootstrap(String),
}

/// The shared state every request sees.
#[derive(Debug)]
pub struct ApiServer {
    pub store: Arc<dyn Store>,
    pub registry: RwLock<Registry>,
    pub config: Config,
    pub started: SystemTime,
    /// Serialises ClusterIP and NodePort allocation.
    pub(crate) allocation: tokio::sync::Mutex<()>,
    pub metrics: metrics::Metrics,
    pub admission: admission::Chain,
    pub cache: cache::WatchCache,
    pub openapi: openapi::Documents,
    /// Signs ServiceAccount tokens.
    pub signer: tokens::Signer,
    /// The RBAC policy in force.
    pub authz: authz::Authorizer,
    /// The nodes' latest stats, for the metrics API.
    pub(crate) node_stats: resource_metrics::NodeStats,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    pub state: Arc<ApiServer>,
    pub addr: SocketAddr,
    pub certs: tls::ClusterCerts,
    task: tokio::task::JoinHandle<()>,
    /// Keeps the RBAC policy current.
    policy_task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Sets up certificates and the default objects, then serves until dropped.
    pub async fn start(config: Config, store: Arc<dyn Store>) -> Result<Self, ServerError> {
        let names = tls::serving_names(
            config.bind_address,
            IpAddr::V4(config.kubernetes_service_ip()),
            &[],
        );
        let certs = tls::ClusterCerts::load_or_create(&config.dir.join("tls"), &names)?;
        let signer = tokens::Signer::load_or_create(&config.dir.join("tls"))?;
        let acceptor = TlsAcceptor::from(certs.server_config()?);
        let addr = SocketAddr::new(config.bind_address, config.https_port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Listen { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Listen { addr, source })?;
        let mut registry = Registry::with_builtins();
        reviews::register(&mut registry);
        resource_metrics::register(&mut registry);
        let state = Arc::new(ApiServer {
            store,
            registry: RwLock::new(registry),
            config,
            started: SystemTime::now(),
            allocation: tokio::sync::Mutex::new(()),
            metrics: metrics::Metrics::default(),
            admission: admission::Chain::default(),
            cache: cache::WatchCache::default(),
            openapi: openapi::Documents::default(),
            signer,
            authz: authz::Authorizer::default(),
            node_stats: resource_metrics::NodeStats::default(),
        });
        bootstrap::run(&state, addr)
            .await
            .map_err(|e| ServerError::Bootstrap(e.message))?;
        // The policy is in force before the first request.
        authz::refresh(&state)
            .await
            .map_err(|e| ServerError::Bootstrap(format!("cannot read the RBAC policy: {e}")))?;
        let policy_task = tokio::spawn(authz::follow(state.clone()));
        let task = tokio::spawn(serve(listener, acceptor, state.clone()));
        Ok(Self {
            state,
            addr,
            certs,
            task,
            policy_task,
        })
    }

    /// The `https://host:port` clients use (loopback when listening on every address).
    pub fn url(&self) -> String {
        let ip = match self.addr.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        format!("https://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// An admin kubeconfig for this server.
    pub fn admin_kubeconfig(&self) -> String {
        kubeconfig::admin(&self.url(), &self.certs)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        self.policy_task.abort();
    }
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<ApiServer>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            // Authenticated once per connection: the verified client certificate's user.
            let user = authn::from_certificates(tls.get_ref().1.peer_certificates()).map(Arc::new);
            let service = hyper::service::service_fn(move |mut req: http::Request<_>| {
                let state = state.clone();
                // Only this connection's certificate speaks for its requests.
                let extensions = req.extensions_mut();
                extensions.remove::<authn::Authenticated>();
                if let Some(user) = &user {
                    extensions.insert(authn::Authenticated(user.clone()));
                }
                // Boxed: HTTP/2 spawns a task per stream, and the unboxed future (every
                // handler's state) is several KiB to move into it.
                let answer = Box::pin(router::dispatch(state, req));
                async move { Ok::<_, std::convert::Infallible>(answer.await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
