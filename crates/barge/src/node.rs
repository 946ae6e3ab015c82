//! A whole node, as `barge agent` and `barge server` run it: the kubelet agent (containerd and
//! the pods), the node's DNS server on the pods' gateway address, and the service proxy, which
//! sends the cluster DNS Service's traffic to that server.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result};
use barge_kubelet::agent::{self, Agent};
use barge_proxy::routes::Cidr;
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
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let dns = barge_dns::start(
            client.clone(),
            barge_dns::Options {
                listen: SocketAddr::new(IpAddr::V4(gateway), network.dns_port),
                cluster_domain,
                upstreams: barge_dns::upstreams_from_resolv_conf(&resolv),
                ttl: 5,
            },
        )
        .await
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
        let proxy = barge_proxy::start(client, proxy)?;
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
