//! A whole node, as `barge agent` and `barge server` run it: the kubelet agent (containerd and
//! the pods), the node's DNS server on the pods' gateway address, and the service proxy, which
//! sends the cluster DNS Service's traffic to that server.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result};
use barge_client::Informer;
use barge_kubelet::agent::{self, Agent};
use barge_proxy::routes::Cidr;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::watcher;
use tracing::info;

/// The Service every node answers itself.
pub const DNS_SERVICE: (&str, &str) = ("kube-system", "kube-dns");

/// A node's network settings.
#[derive(Debug, Clone)]
pub struct Network {
    /// The cluster's pod network.
    pub cluster_cidr: String,
    /// The nftables table of the service proxy.
    pub nft_table: String,
    /// The port of the node's DNS server.
    pub dns_port: u16,
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    agent: Agent,
    dns: barge_dns::Dns,
    proxy: barge_proxy::Proxy,
}

impl Node {
    pub async fn start(
        client: kube::Client,
        opts: agent::Options,
        network: Network,
    ) -> Result<Self> {
        let node_name = opts.node_name.clone();
        let cluster_domain = opts.cluster_domain.clone();
        let agent = agent::start(client.clone(), opts).await?;
        let gateway = Cidr::parse(&agent.pod_cidr)
            .with_context(|| format!("invalid pod CIDR {:?}", agent.pod_cidr))?
            .gateway();
        // One watch of Services and EndpointSlices for both the DNS server and the proxy.
        let config = || watcher::Config::default().any_semantic();
        let services = Informer::builder().start(Api::<Service>::all(client.clone()), config());
        let slices = Informer::builder().start(Api::<EndpointSlice>::all(client.clone()), config());
        let nodes = Informer::builder().start(
            Api::<k8s_openapi::api::core::v1::Node>::all(client.clone()),
            config(),
        );
        // As CoreDNS does, wait a little for the first lists before answering.
        let listed = async {
            services.synced().await;
            slices.synced().await;
        };
        if tokio::time::timeout(Duration::from_secs(5), listed)
            .await
            .is_err()
        {
            tracing::warn!("Services and EndpointSlices not listed yet; serving anyway");
        }
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let dns = barge_dns::start_with(
            services.clone(),
            slices.clone(),
            barge_dns::Options {
                listen: SocketAddr::new(IpAddr::V4(gateway), network.dns_port),
                cluster_domain,
                upstreams: barge_dns::upstreams_from_resolv_conf(&resolv),
                ttl: 5,
            },
        )
        .context("starting the node's DNS server")?;
        info!(address = %dns.local_addr(), "cluster DNS served");
        let mut proxy = barge_proxy::Options::new(node_name);
        proxy.table = network.nft_table;
        proxy.cluster_cidr = network.cluster_cidr;
        proxy.dns = Some((
            DNS_SERVICE.0.to_owned(),
            DNS_SERVICE.1.to_owned(),
            dns.local_addr(),
        ));
        let proxy = barge_proxy::start_with(services, slices, Some(nodes), proxy)?;
        Ok(Self { agent, dns, proxy })
    }

    /// Stops the node: the proxy removes its table and routes, the DNS server stops, the
    /// agent stops containerd (containers keep running).
    pub async fn stop(self) {
        self.proxy.stop().await;
        self.dns.stop().await;
        self.agent.stop().await;
    }
}
