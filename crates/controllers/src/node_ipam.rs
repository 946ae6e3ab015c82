//! The node IPAM controller (upstream `pkg/controller/nodeipam`, the range allocator): every
//! Node without `spec.podCIDR` gets the next free `/node_cidr_mask_size` block of the
//! cluster CIDR, written to `spec.podCIDR` and `spec.podCIDRs`.
//!
//! Which blocks are taken is read from every node in the cache before the first allocation (so
//! a restart never hands out a block twice), then kept up to date as each node is reconciled:
//! a deleted node's block is free again, and a block given to a node counts as taken until the
//! cache shows it. When the range is exhausted the node gets a `CIDRNotAvailable` event and is
//! retried later; until a block is freed, finding none costs nothing.
//!
//! Differences from upstream: IPv4 only (no dual-stack, no IPv6 cluster CIDRs); one cluster
//! CIDR.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use barge_client::events::{Recorder, Type};
use barge_client::{Key, WriterExt};
use k8s_openapi::api::core::v1::Node;
use serde_json::json;

use crate::Context;
use crate::runner::{Queue, Reconciler, enqueue, own_key};

/// How long to wait before trying again when the range is exhausted.
const RETRY_EXHAUSTED: Duration = Duration::from_secs(30);

/// An IPv4 network: an address with its host bits cleared and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Cidr {
    base: u32,
    prefix: u8,
}

/// Why a CIDR string is not valid.
#[derive(Debug, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CidrError {}

impl Ipv4Cidr {
    /// The network of `addr`/`prefix` (host bits cleared); `None` if `prefix` > 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then(|| Self {
            base: u32::from(addr) & mask(prefix),
            prefix,
        })
    }

    pub fn addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `other` lies entirely inside this network.
    pub fn contains(&self, other: &Ipv4Cidr) -> bool {
        other.prefix >= self.prefix && other.base & mask(self.prefix) == self.base
    }

    /// How many `/prefix` subnets this network has; `None` if `prefix` is shorter than ours
    /// or longer than 32.
    pub fn subnet_count(&self, prefix: u8) -> Option<u64> {
        (prefix >= self.prefix && prefix <= 32).then(|| 1u64 << (prefix - self.prefix))
    }

    /// The `index`-th `/prefix` subnet of this network.
    pub fn subnet(&self, prefix: u8, index: u64) -> Option<Ipv4Cidr> {
        if index >= self.subnet_count(prefix)? {
            return None;
        }
        let step = 1u64 << (32 - u32::from(prefix));
        let base = u64::from(self.base) + index * step;
        Some(Ipv4Cidr {
            base: u32::try_from(base).ok()?,
            prefix,
        })
    }

    /// The `/prefix` subnets of this network, in address order.
    pub fn subnets(&self, prefix: u8) -> impl Iterator<Item = Ipv4Cidr> + '_ {
        let count = self.subnet_count(prefix).unwrap_or(0);
        (0..count).filter_map(move |i| self.subnet(prefix, i))
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;

    /// Parses `a.b.c.d/n`. Host bits must be zero, as Go's `net.ParseCIDR` users in the
    /// allocator expect a network address (`10.42.0.0/16`, not `10.42.1.7/16`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |why: &str| CidrError(format!("invalid CIDR address {s:?}: {why}"));
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| invalid("missing the /prefix length"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| invalid("not an IPv4 address"))?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 2 {
            return Err(invalid("the prefix length must be a number from 0 to 32"));
        }
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| invalid("the prefix length must be a number from 0 to 32"))?;
        let cidr = Ipv4Cidr::new(addr, prefix)
            .ok_or_else(|| invalid("the prefix length must be a number from 0 to 32"))?;
        if cidr.addr() != addr {
            return Err(invalid("host bits are set"));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.prefix)
    }
}

/// Picks blocks of a cluster CIDR for nodes, and knows which are taken.
#[derive(Debug)]
struct Allocator {
    cluster: Ipv4Cidr,
    mask: u8,
    /// Whether `held` has been filled from the whole node cache (done once, before the first
    /// allocation, so a restart never hands out a block a node already has).
    seeded: bool,
    /// The ranges each node holds: what the cache showed at its last reconcile, or the block
    /// this process gave it and the cache does not show yet.
    held: HashMap<String, Vec<Ipv4Cidr>>,
    /// How many nodes hold each range (two nodes may have been given the same one by hand).
    used: BTreeMap<Ipv4Cidr, u32>,
    /// No block was free at the last search and nothing was released since: every
    /// reconcile of a node waiting for a block would otherwise search the whole range.
    exhausted: bool,
}

impl Allocator {
    fn new(cluster: Ipv4Cidr, mask: u8) -> Self {
        Self {
            cluster,
            mask,
            seeded: false,
            held: HashMap::new(),
            used: BTreeMap::new(),
            exhausted: false,
        }
    }

    /// Records that `node` holds `ranges` (none: it holds nothing).
    fn set(&mut self, node: &str, ranges: Vec<Ipv4Cidr>) {
        let old = if ranges.is_empty() {
            self.held.remove(node).unwrap_or_default()
        } else {
            self.held
                .insert(node.to_owned(), ranges.clone())
                .unwrap_or_default()
        };
        for range in ranges {
            *self.used.entry(range).or_default() += 1;
        }
        for range in old {
            if let Some(count) = self.used.get_mut(&range) {
                *count -= 1;
                if *count == 0 {
                    self.used.remove(&range);
                    self.exhausted = false;
                }
            }
        }
    }

    /// Whether any held range overlaps `block`.
    fn taken(&self, block: &Ipv4Cidr) -> bool {
        // A range containing the block has the block's address under a shorter prefix...
        let around = (0..=block.prefix)
            .filter_map(|p| Ipv4Cidr::new(block.addr(), p))
            .any(|outer| self.used.contains_key(&outer));
        // ...and one inside it starts within it.
        let end = Ipv4Cidr {
            base: block.base | !mask(block.prefix),
            prefix: 32,
        };
        around || self.used.range(*block..=end).next().is_some()
    }

    /// The first free block, in address order.
    fn next_free(&mut self) -> Option<Ipv4Cidr> {
        if self.exhausted {
            return None;
        }
        let free = self.cluster.subnets(self.mask).find(|b| !self.taken(b));
        self.exhausted = free.is_none();
        free
    }
}

#[derive(Debug)]
pub struct NodeIpamController {
    ctx: Context,
    recorder: Recorder,
    allocator: Result<Mutex<Allocator>, String>,
}

/// Starts the controller's watches; the caller runs the returned reconciler on the queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    enqueue(&ctx.informers.nodes, &queue, own_key);
    (Arc::new(NodeIpamController::new(ctx)), queue)
}

impl NodeIpamController {
    pub fn new(ctx: &Context) -> Self {
        let settings = &ctx.settings;
        let allocator = settings
            .cluster_cidr
            .parse::<Ipv4Cidr>()
            .map_err(|e| e.to_string())
            .and_then(|cluster| {
                if cluster.subnet_count(settings.node_cidr_mask_size).is_none() {
                    return Err(format!(
                        "node CIDR mask size /{} does not fit the cluster CIDR {cluster}",
                        settings.node_cidr_mask_size
                    ));
                }
                Ok(Mutex::new(Allocator::new(
                    cluster,
                    settings.node_cidr_mask_size,
                )))
            });
        if let Err(e) = &allocator {
            tracing::error!(error = %e, "node IPAM disabled");
        }
        Self {
            ctx: ctx.clone(),
            recorder: ctx.recorder("node-ipam-controller"),
            allocator,
        }
    }

    /// The allocator, filled from every node in the cache on first use.
    fn lock<'a>(&self, allocator: &'a Mutex<Allocator>) -> std::sync::MutexGuard<'a, Allocator> {
        let mut alloc = allocator.lock().unwrap_or_else(|e| e.into_inner());
        if !alloc.seeded {
            for n in self.ctx.informers.nodes.cache().list() {
                let ranges = node_cidrs(&n);
                alloc.set(n.metadata.name.as_deref().unwrap_or_default(), ranges);
            }
            alloc.seeded = true;
        }
        alloc
    }
}

/// The IPv4 pod CIDRs a node has (from `podCIDRs`, else `podCIDR`); unparsable ones are
/// ignored.
fn node_cidrs(node: &Node) -> Vec<Ipv4Cidr> {
    let Some(spec) = node.spec.as_ref() else {
        return Vec::new();
    };
    let listed = spec.pod_cidrs.iter().flatten();
    let single = spec.pod_cidr.iter();
    listed
        .chain(single)
        .filter_map(|c| c.parse::<Ipv4Cidr>().ok())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn has_pod_cidr(node: &Node) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.pod_cidr.as_deref())
        .is_some_and(|c| !c.is_empty())
}

#[async_trait]
impl Reconciler for NodeIpamController {
    fn name(&self) -> &'static str {
        "node-ipam"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Ok(allocator) = &self.allocator else {
            return Ok(None);
        };
        self.ctx.informers.nodes.synced().await;
        let Some(node) = self.ctx.informers.nodes.cache().get("", &key.name) else {
            self.lock(allocator).set(&key.name, Vec::new());
            return Ok(None);
        };
        let block = {
            let mut alloc = self.lock(allocator);
            if has_pod_cidr(&node) || node.metadata.deletion_timestamp.is_some() {
                alloc.set(&key.name, node_cidrs(&node));
                return Ok(None);
            }
            // A block given earlier that the cache does not show yet is given again.
            match alloc.held.get(&key.name).and_then(|h| h.first()).copied() {
                Some(pending) => Some(pending),
                None => alloc
                    .next_free()
                    .inspect(|b| alloc.set(&key.name, vec![*b])),
            }
        };
        let Some(block) = block else {
            self.recorder
                .publish(
                    node.as_ref(),
                    Type::Normal,
                    "CIDRNotAvailable",
                    &format!("Node {} status is now: CIDRNotAvailable", key.name),
                )
                .await;
            return Ok(Some(RETRY_EXHAUSTED));
        };
        let cidr = block.to_string();
        let patch = json!({
            "metadata": {"resourceVersion": node.metadata.resource_version},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        });
        if let Err(e) = self
            .ctx
            .writer
            .patch_typed::<Node>("", &key.name, None, patch)
            .await
        {
            self.lock(allocator).set(&key.name, Vec::new());
            return Err(
                anyhow::Error::new(e).context(format!("assigning {cidr} to node {}", key.name))
            );
        }
        tracing::info!(node = %key.name, cidr, "assigned pod CIDR");
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::writer::Call;
    use k8s_openapi::api::core::v1::NodeSpec;
    use kube::api::ObjectMeta;

    #[test]
    fn parses_and_prints_cidrs() {
        let c: Ipv4Cidr = "10.42.0.0/16".parse().unwrap();
        assert_eq!(c.addr(), Ipv4Addr::new(10, 42, 0, 0));
        assert_eq!(c.prefix(), 16);
        assert_eq!(c.to_string(), "10.42.0.0/16");
        assert_eq!("0.0.0.0/0".parse::<Ipv4Cidr>().unwrap().prefix(), 0);
        assert_eq!(
            "1.2.3.4/32".parse::<Ipv4Cidr>().unwrap().to_string(),
            "1.2.3.4/32"
        );
        for bad in [
            "10.42.0.0",
            "10.42.0.0/",
            "10.42.0.0/33",
            "10.42.0.0/-1",
            "10.42.0.0/+8",
            "10.42.0/16",
            "10.42.1.7/16",
            "fd00::/64",
            "10.42.0.0/016",
            "",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn iterates_subnets_in_order() {
        let c: Ipv4Cidr = "10.42.0.0/16".parse().unwrap();
        assert_eq!(c.subnet_count(24), Some(256));
        assert_eq!(c.subnet_count(8), None);
        assert_eq!(c.subnet_count(33), None);
        let blocks: Vec<String> = c.subnets(24).map(|b| b.to_string()).collect();
        assert_eq!(blocks.len(), 256);
        assert_eq!(blocks[0], "10.42.0.0/24");
        assert_eq!(blocks[1], "10.42.1.0/24");
        assert_eq!(blocks[255], "10.42.255.0/24");
        assert_eq!(c.subnet(24, 256), None);
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert_eq!(all.subnet_count(32), Some(1 << 32));
        assert_eq!(
            all.subnet(32, (1 << 32) - 1).unwrap().to_string(),
            "255.255.255.255/32"
        );
        assert!(c.contains(&"10.42.7.0/24".parse().unwrap()));
        assert!(!c.contains(&"10.43.0.0/24".parse().unwrap()));
        assert!(!c.contains(&"10.0.0.0/8".parse().unwrap()));
    }

    fn node(name: &str, cidr: Option<&str>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                resource_version: Some("7".into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                pod_cidr: cidr.map(Into::into),
                pod_cidrs: cidr.map(|c| vec![c.into()]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The CIDRs patched onto nodes, in order.
    fn patched(calls: Vec<Call>) -> Vec<(String, String)> {
        calls
            .into_iter()
            .filter_map(|c| match c {
                Call::Patch { target, patch, .. } if target.plural == "nodes" => {
                    assert_eq!(patch["spec"]["podCIDRs"][0], patch["spec"]["podCIDR"]);
                    assert_eq!(patch["metadata"]["resourceVersion"], "7");
                    Some((target.name, patch["spec"]["podCIDR"].as_str()?.to_owned()))
                }
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn allocates_distinct_blocks_even_before_the_cache_catches_up() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.nodes.apply(node("a", Some("10.42.0.0/24")));
        ctx.informers.nodes.apply(node("b", None));
        ctx.informers.nodes.apply(node("c", None));
        let c = NodeIpamController::new(&ctx);
        c.reconcile(&Key::new("", "a")).await.unwrap();
        c.reconcile(&Key::new("", "b")).await.unwrap();
        // The cache still shows b without a CIDR: c must not get b's block.
        c.reconcile(&Key::new("", "c")).await.unwrap();
        // Reconciling b again before its patch shows gives it the same block.
        c.reconcile(&Key::new("", "b")).await.unwrap();
        assert_eq!(
            patched(writer.take()),
            [
                ("b".into(), "10.42.1.0/24".into()),
                ("c".into(), "10.42.2.0/24".into()),
                ("b".into(), "10.42.1.0/24".into()),
            ]
        );
    }

    #[tokio::test]
    async fn rebuilt_from_the_nodes_and_reuses_freed_blocks() {
        let (ctx, writer) = Context::for_tests();
        // A restart: the allocator is new, the nodes carry their blocks.
        ctx.informers.nodes.apply(node("a", Some("10.42.0.0/24")));
        ctx.informers.nodes.apply(node("b", Some("10.42.1.0/24")));
        ctx.informers.nodes.apply(node("c", Some("10.42.2.0/24")));
        ctx.informers.nodes.apply(node("d", None));
        let c = NodeIpamController::new(&ctx);
        c.reconcile(&Key::new("", "d")).await.unwrap();
        assert_eq!(
            patched(writer.take()),
            [("d".into(), "10.42.3.0/24".into())]
        );
        ctx.informers.nodes.apply(node("d", Some("10.42.3.0/24")));

        // b goes away: its block is the first free one again.
        ctx.informers.nodes.delete(&Key::new("", "b"));
        c.reconcile(&Key::new("", "b")).await.unwrap();
        ctx.informers.nodes.apply(node("e", None));
        c.reconcile(&Key::new("", "e")).await.unwrap();
        assert_eq!(
            patched(writer.take()),
            [("e".into(), "10.42.1.0/24".into())]
        );
    }

    #[tokio::test]
    async fn exhaustion_is_reported_on_the_node_and_retried() {
        let (mut ctx, writer) = Context::for_tests();
        let mut settings = (*ctx.settings).clone();
        settings.cluster_cidr = "10.42.0.0/23".into();
        ctx.settings = Arc::new(settings);
        ctx.informers.nodes.apply(node("a", Some("10.42.0.0/24")));
        ctx.informers.nodes.apply(node("b", None));
        ctx.informers.nodes.apply(node("c", None));
        let c = NodeIpamController::new(&ctx);
        assert_eq!(c.reconcile(&Key::new("", "b")).await.unwrap(), None);
        assert_eq!(
            patched(writer.take()),
            [("b".into(), "10.42.1.0/24".into())]
        );
        let again = c.reconcile(&Key::new("", "c")).await.unwrap();
        assert_eq!(again, Some(RETRY_EXHAUSTED));
        let calls = writer.take();
        assert_eq!(calls.len(), 1, "{calls:?}");
        let Call::Create { object, .. } = &calls[0] else {
            panic!("{calls:?}");
        };
        assert_eq!(object["reason"], "CIDRNotAvailable");
        assert_eq!(object["message"], "Node c status is now: CIDRNotAvailable");
        assert_eq!(object["involvedObject"]["name"], "c");

        // a goes away: c gets its block on the next try.
        ctx.informers.nodes.delete(&Key::new("", "a"));
        c.reconcile(&Key::new("", "a")).await.unwrap();
        assert_eq!(c.reconcile(&Key::new("", "c")).await.unwrap(), None);
        assert_eq!(
            patched(writer.take()),
            [("c".into(), "10.42.0.0/24".into())]
        );
    }

    #[test]
    fn ranges_of_other_sizes_take_the_blocks_they_overlap() {
        let mut a = Allocator::new("10.42.0.0/16".parse().unwrap(), 24);
        let block = |s: &str| s.parse::<Ipv4Cidr>().unwrap();
        a.set("wide", vec![block("10.42.0.0/23")]);
        a.set("narrow", vec![block("10.42.2.128/25")]);
        assert_eq!(a.next_free(), Some(block("10.42.3.0/24")));
        a.set("all", vec![block("10.42.0.0/16")]);
        assert_eq!(a.next_free(), None);
        assert!(a.exhausted);
        // Freeing a range that still leaves everything covered finds nothing, freeing the
        // one that covered everything finds the first block nobody else holds.
        a.set("narrow", Vec::new());
        assert_eq!(a.next_free(), None);
        a.set("all", Vec::new());
        assert_eq!(a.next_free(), Some(block("10.42.2.0/24")));
        // A range held twice stays taken until both holders let it go.
        a.set("twin", vec![block("10.42.0.0/23")]);
        a.set("wide", Vec::new());
        assert_eq!(a.next_free(), Some(block("10.42.2.0/24")));
        a.set("twin", Vec::new());
        assert_eq!(a.next_free(), Some(block("10.42.0.0/24")));
    }

    #[tokio::test]
    async fn a_bad_cluster_cidr_disables_allocation() {
        let (mut ctx, writer) = Context::for_tests();
        let mut settings = (*ctx.settings).clone();
        settings.cluster_cidr = "10.42.0.0/25".into(); // smaller than a /24
        ctx.settings = Arc::new(settings);
        ctx.informers.nodes.apply(node("b", None));
        let c = NodeIpamController::new(&ctx);
        c.reconcile(&Key::new("", "b")).await.unwrap();
        assert!(writer.take().is_empty());
    }
}
