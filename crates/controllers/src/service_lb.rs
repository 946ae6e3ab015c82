//! LoadBalancer Services without a cloud (k3s's ServiceLB, but in the controller manager):
//! every Service of `type: LoadBalancer` without `spec.loadBalancerClass` (a class means
//! another implementation owns it) gets `status.loadBalancer.ingress` written through the
//! `services/status` subresource, each address as `{"ip": ..., "ipMode": "VIP"}`. The node
//! agents' service proxies then answer on those addresses.
//!
//! Where the addresses come from ([`Settings::load_balancer_pool`](crate::Settings)):
//! - **Nodes** (the pool is empty, the default): every Ready node's InternalIP addresses, sorted
//!   (by the Service's `ipFamilies` order, as k3s does), kept current as nodes come, go and
//!   change readiness. Every Service gets all of them: each node answers for every port.
//! - **An explicit pool**: each Service gets ONE address, the lowest that no other
//!   LoadBalancer Service uses for a conflicting port (same port and protocol), so Services
//!   with disjoint ports share an address. A Service keeps the address it has while it is
//!   still valid; when two Services hold one address for a conflicting port (ports changed,
//!   or two managers raced) the one created first keeps it and the other moves. Which
//!   addresses are taken is rebuilt from the cache on every allocation, plus the allocations
//!   this process made that the cache does not show yet (as [`crate::node_ipam`] does).
//!
//! In both modes `spec.loadBalancerIP` is honoured when it is in the pool (the Service gets
//! exactly that address) and fails otherwise. A failure leaves the status empty and records a
//! Warning `AllocationFailed` event (once per distinct message); setting the ingress records
//! upstream's Normal `EnsuredLoadBalancer`. A Service that stops being a LoadBalancer has its
//! ingress cleared (`DeletedLoadBalancer`). Nothing is written when the status is right.
//!
//! Differences from upstream's service controller: there is no cloud to call, so no
//! `service.kubernetes.io/load-balancer-cleanup` finalizer (nothing outlives the Service);
//! `externalTrafficPolicy` and `loadBalancerSourceRanges` are the service proxy's business.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use barge_client::events::{Recorder, Type};
use barge_client::informer::Informer;
use barge_client::writer::is_not_found;
use barge_client::{Key, WriterExt};
use k8s_openapi::api::core::v1::{LoadBalancerIngress, Node, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

use crate::Context;
use crate::runner::{Queue, Reconciler, enqueue};

/// The `ipMode` of every ingress address: traffic to it is delivered with the address as its
/// destination, and the service proxy handles it like the ClusterIP.
pub const IP_MODE_VIP: &str = "VIP";
/// The reason of the Warning event when a Service gets no address.
pub const ALLOCATION_FAILED: &str = "AllocationFailed";
/// The reason (and message) of the Normal event when the ingress is set, as upstream.
pub const ENSURED: (&str, &str) = ("EnsuredLoadBalancer", "Ensured load balancer");
/// The reason (and message) of the Normal event when the ingress is cleared, as upstream.
pub const DELETED: (&str, &str) = ("DeletedLoadBalancer", "Deleted load balancer");
/// The event source.
const COMPONENT: &str = "service-controller";
/// How many pool addresses an event message lists.
const LISTED: usize = 8;

/// Whether this controller provides `service`'s load balancer: `type: LoadBalancer` and no
/// `loadBalancerClass`.
pub fn is_ours(service: &Service) -> bool {
    let Some(spec) = service.spec.as_ref() else {
        return false;
    };
    spec.type_.as_deref() == Some("LoadBalancer")
        && spec
            .load_balancer_class
            .as_deref()
            .is_none_or(str::is_empty)
}

fn has_class(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.load_balancer_class.as_deref())
        .is_some_and(|c| !c.is_empty())
}

/// The addresses of `status.loadBalancer.ingress` (hostnames and unparsable entries left out).
fn ingress_ips(service: &Service) -> Vec<IpAddr> {
    ingress(service)
        .iter()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect()
}

fn ingress(service: &Service) -> &[LoadBalancerIngress] {
    service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default()
}

/// A (port, protocol) pair of a Service; two Services conflict on an address when they share
/// one.
type Port = (i32, String);

fn ports(service: &Service) -> BTreeSet<Port> {
    service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .map(|p| (p.port, p.protocol.clone().unwrap_or_else(|| "TCP".into())))
        .collect()
}

fn show_ports<'a>(ports: impl IntoIterator<Item = &'a Port>) -> String {
    let shown: Vec<String> = ports
        .into_iter()
        .map(|(port, protocol)| format!("{port}/{protocol}"))
        .collect();
    shown.join(", ")
}

fn show_pool(pool: &[IpAddr]) -> String {
    let mut shown: Vec<String> = pool.iter().take(LISTED).map(IpAddr::to_string).collect();
    if pool.len() > LISTED {
        shown.push(format!("and {} more", pool.len() - LISTED));
    }
    shown.join(", ")
}

/// The IP families a Service accepts, in its order of preference (`spec.ipFamilies`; both,
/// IPv4 first, when it names none).
fn families(service: &Service) -> Vec<bool> {
    let named: Vec<bool> = service
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|f| match f.as_str() {
            "IPv4" => Some(true),
            "IPv6" => Some(false),
            _ => None,
        })
        .collect();
    if named.is_empty() {
        vec![true, false]
    } else {
        named
    }
}

/// `pool` restricted to `service`'s IP families, in their order, each family sorted.
fn for_families(pool: &[IpAddr], service: &Service) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for v4 in families(service) {
        let mut of_family: Vec<IpAddr> =
            pool.iter().copied().filter(|a| a.is_ipv4() == v4).collect();
        of_family.sort();
        of_family.dedup();
        out.extend(of_family);
    }
    out
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The default pool: the InternalIP addresses of every Ready node that is not being deleted,
/// sorted and without repeats.
pub fn node_pool(nodes: &[Arc<Node>]) -> Vec<IpAddr> {
    let pool: BTreeSet<IpAddr> = nodes
        .iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none() && is_ready(n))
        .filter_map(|n| n.status.as_ref()?.addresses.as_ref())
        .flatten()
        .filter(|a| a.type_ == "InternalIP")
        .filter_map(|a| a.address.parse().ok())
        .collect();
    pool.into_iter().collect()
}

/// What comes first when two Services hold one address for a conflicting port.
type Rank = (Option<Time>, Key);

fn rank(service: &Service) -> Rank {
    (
        service.metadata.creation_timestamp.clone(),
        Key::of(service),
    )
}

/// Another Service holding an address of the pool.
#[derive(Debug)]
struct Holder {
    key: Key,
    rank: Rank,
    ports: BTreeSet<Port>,
}

/// Pool address → the other Services holding it.
type Claims = BTreeMap<IpAddr, Vec<Holder>>;

/// The first holder of `ip` that uses one of `ports`, with the shared port; with `before`,
/// only holders ranked before it count.
fn blocker<'a>(
    claims: &'a Claims,
    ip: IpAddr,
    ports: &BTreeSet<Port>,
    before: Option<&Rank>,
) -> Option<(&'a Holder, &'a Port)> {
    claims.get(&ip)?.iter().find_map(|h| {
        if before.is_some_and(|r| h.rank >= *r) {
            return None;
        }
        h.ports.iter().find(|p| ports.contains(*p)).map(|p| (h, p))
    })
}

/// The address(es) a Service should have, or why it gets none (the event's message).
type Desired = Result<Vec<IpAddr>, String>;

#[derive(Debug)]
pub struct ServiceLbController {
    ctx: Context,
    recorder: Recorder,
    /// Addresses given by this process that the cache may not show yet: Service → address.
    pending: Mutex<HashMap<Key, IpAddr>>,
    /// The last AllocationFailed message recorded per Service, so that reconciles that change
    /// nothing do not repeat it.
    warned: Mutex<HashMap<Key, String>>,
}

/// Starts the controller's watches; the caller runs the returned reconciler on the queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    let explicit = !ctx.settings.load_balancer_pool.is_empty();
    let services = ctx.informers.services.clone();
    enqueue(&ctx.informers.services, &queue, move |svc| {
        affected(&services, svc, explicit)
    });
    if !explicit {
        // The pool is the nodes': any node change may change every Service's addresses.
        let services = ctx.informers.services.clone();
        enqueue(&ctx.informers.nodes, &queue, move |_| provided(&services));
    }
    (Arc::new(ServiceLbController::new(ctx)), queue)
}

/// The keys of every Service this controller provides for.
fn provided(services: &Informer<Service>) -> Vec<Key> {
    services
        .cache()
        .list()
        .iter()
        .filter(|s| is_ours(s))
        .map(|s| Key::of(s.as_ref()))
        .collect()
}

/// The Service itself and, with an explicit pool when it holds addresses (so its change may
/// free one), the Services that wait for an address or share one with it.
fn affected(services: &Informer<Service>, svc: &Service, explicit: bool) -> Vec<Key> {
    let own = Key::of(svc);
    let held = ingress_ips(svc);
    let mut keys = vec![own.clone()];
    if !explicit || held.is_empty() {
        return keys;
    }
    for other in services.cache().list() {
        if !is_ours(&other) {
            continue;
        }
        let key = Key::of(other.as_ref());
        let theirs = ingress_ips(&other);
        if key != own && (theirs.is_empty() || theirs.iter().any(|ip| held.contains(ip))) {
            keys.push(key);
        }
    }
    keys
}

impl ServiceLbController {
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            recorder: ctx.recorder(COMPONENT),
            pending: Mutex::default(),
            warned: Mutex::default(),
        }
    }

    fn forget(&self, key: &Key) {
        lock(&self.pending).remove(key);
        lock(&self.warned).remove(key);
    }

    /// The addresses from the nodes' pool.
    fn desired_from_nodes(&self, svc: &Service) -> Desired {
        let nodes = self.ctx.informers.nodes.cache().list();
        let all = node_pool(&nodes);
        let pool = for_families(&all, svc);
        if let Some(requested) = requested(svc)? {
            return check_requested(requested, &all, &pool).map(|ip| vec![ip]);
        }
        if pool.is_empty() {
            return Err(if all.is_empty() {
                "No Ready node has an InternalIP address to serve the load balancer".into()
            } else {
                "No Ready node has an InternalIP address of the Service's IP families".into()
            });
        }
        Ok(pool)
    }

    /// One address of the explicit pool, remembered as pending until the cache shows it.
    fn desired_from_pool(&self, svc: &Service) -> Desired {
        let key = Key::of(svc);
        let all: Vec<IpAddr> = self
            .ctx
            .settings
            .load_balancer_pool
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let pool = for_families(&all, svc);
        let mut pending = lock(&self.pending);
        let claims = self.claims(&mut pending, &all, &key);
        let chosen = choose(svc, &all, &pool, &claims, pending.get(&key).copied());
        match chosen {
            Ok(ip) if ingress_ips(svc) != [ip] => {
                pending.insert(key, ip);
            }
            // Shown by the cache already, or nothing to hold on to.
            Ok(_) | Err(_) => {
                pending.remove(&key);
            }
        }
        chosen.map(|ip| vec![ip])
    }

    /// Which pool addresses the other Services hold, from the cache and `pending` (whose
    /// entries the cache now shows, or whose Services are gone, are dropped).
    fn claims(&self, pending: &mut HashMap<Key, IpAddr>, pool: &[IpAddr], me: &Key) -> Claims {
        let cache = self.ctx.informers.services.cache();
        pending.retain(|key, ip| {
            cache
                .get_key(key)
                .is_some_and(|s| is_ours(&s) && !ingress_ips(&s).contains(ip))
        });
        let mut claims = Claims::new();
        let mut hold = |svc: &Service, ip: IpAddr| {
            if pool.contains(&ip) {
                claims.entry(ip).or_default().push(Holder {
                    key: Key::of(svc),
                    rank: rank(svc),
                    ports: ports(svc),
                });
            }
        };
        for svc in cache.list() {
            let key = Key::of(svc.as_ref());
            if key == *me || !is_ours(&svc) || svc.metadata.deletion_timestamp.is_some() {
                continue;
            }
            for ip in ingress_ips(&svc) {
                hold(&svc, ip);
            }
            if let Some(ip) = pending.get(&key) {
                hold(&svc, *ip);
            }
        }
        // The cache's order is arbitrary; messages name the earliest holder.
        for holders in claims.values_mut() {
            holders.sort_by(|a, b| a.rank.cmp(&b.rank));
        }
        claims
    }

    /// Writes `ips` (none: clears) as the Service's ingress, with a resourceVersion
    /// precondition so a write based on a stale cache fails and is retried.
    async fn write(&self, svc: &Service, ips: &[IpAddr]) -> anyhow::Result<bool> {
        let key = Key::of(svc);
        let ingress = if ips.is_empty() {
            Value::Null
        } else {
            json!(
                ips.iter()
                    .map(|ip| json!({"ip": ip.to_string(), "ipMode": IP_MODE_VIP}))
                    .collect::<Vec<_>>()
            )
        };
        let patch = json!({
            "metadata": {"resourceVersion": svc.metadata.resource_version},
            "status": {"loadBalancer": {"ingress": ingress}},
        });
        match self
            .ctx
            .writer
            .patch_typed::<Service>(&key.namespace, &key.name, Some("status"), patch)
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => {
                self.forget(&key);
                Ok(false)
            }
            Err(e) => {
                lock(&self.pending).remove(&key);
                Err(anyhow::Error::new(e).context(format!("writing the ingress of service {key}")))
            }
        }
    }
}

/// The one address of the explicit pool `all` for `svc` (`pool`: the addresses of its
/// families), given the other Services' `claims` and the address this process gave it that the
/// cache may not show yet (`pending`).
fn choose(
    svc: &Service,
    all: &[IpAddr],
    pool: &[IpAddr],
    claims: &Claims,
    pending: Option<IpAddr>,
) -> Result<IpAddr, String> {
    let mine = ports(svc);
    let my_rank = rank(svc);
    let current = ingress_ips(svc);
    if let Some(requested) = requested(svc)? {
        let ip = check_requested(requested, all, pool)?;
        // Holding it already: only Services created earlier take it away.
        let before = (current == [ip] || pending == Some(ip)).then_some(&my_rank);
        return match blocker(claims, ip, &mine, before) {
            None => Ok(ip),
            Some((holder, port)) => Err(format!(
                "Requested loadBalancerIP {ip} is used by Service {} for port {}",
                holder.key,
                show_ports([port])
            )),
        };
    }
    // The address it has (or is being given) while no earlier Service contests it, else the
    // lowest free one.
    let kept = pending.or(match current[..] {
        [ip] => Some(ip),
        _ => None,
    });
    let kept = kept
        .filter(|ip| pool.contains(ip) && blocker(claims, *ip, &mine, Some(&my_rank)).is_none());
    let free = || {
        pool.iter()
            .copied()
            .find(|ip| blocker(claims, *ip, &mine, None).is_none())
    };
    if let Some(ip) = kept.or_else(free) {
        return Ok(ip);
    }
    if pool.is_empty() {
        return Err(format!(
            "The load balancer pool ({}) has no address of the Service's IP families",
            show_pool(all)
        ));
    }
    let word = if mine.len() == 1 { "port" } else { "ports" };
    Err(format!(
        "No address of the load balancer pool ({}) is free for {word} {}: \
         each is used by another LoadBalancer Service for a conflicting port",
        show_pool(pool),
        show_ports(&mine)
    ))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The Service's `spec.loadBalancerIP`, if it asks for one.
fn requested(svc: &Service) -> Result<Option<IpAddr>, String> {
    match svc
        .spec
        .as_ref()
        .and_then(|s| s.load_balancer_ip.as_deref())
    {
        None | Some("") => Ok(None),
        Some(ip) => ip
            .parse()
            .map(Some)
            .map_err(|_| format!("Requested loadBalancerIP {ip:?} is not a valid IP address")),
    }
}

/// `requested` if it is in `pool` (the addresses of the Service's families).
fn check_requested(requested: IpAddr, all: &[IpAddr], pool: &[IpAddr]) -> Result<IpAddr, String> {
    if pool.contains(&requested) {
        Ok(requested)
    } else if all.contains(&requested) {
        Err(format!(
            "Requested loadBalancerIP {requested} is not of the Service's IP families"
        ))
    } else {
        Err(format!(
            "Requested loadBalancerIP {requested} is not in the load balancer pool ({})",
            show_pool(all)
        ))
    }
}

/// The ingress entries this controller writes for `ips`.
fn entries(ips: &[IpAddr]) -> Vec<LoadBalancerIngress> {
    ips.iter()
        .map(|ip| LoadBalancerIngress {
            ip: Some(ip.to_string()),
            ip_mode: Some(IP_MODE_VIP.into()),
            ..Default::default()
        })
        .collect()
}

#[async_trait]
impl Reconciler for ServiceLbController {
    fn name(&self) -> &'static str {
        "service-lb"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(svc) = self.ctx.informers.services.cache().get_key(key) else {
            self.forget(key);
            return Ok(None);
        };
        if svc.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        if has_class(&svc) {
            // Another implementation's: its status is not ours to write.
            self.forget(key);
            return Ok(None);
        }
        if !is_ours(&svc) {
            self.forget(key);
            if !ingress(&svc).is_empty() && self.write(&svc, &[]).await? {
                let (reason, message) = DELETED;
                self.recorder
                    .publish(svc.as_ref(), Type::Normal, reason, message)
                    .await;
            }
            return Ok(None);
        }
        let desired = if self.ctx.settings.load_balancer_pool.is_empty() {
            self.desired_from_nodes(&svc)
        } else {
            self.desired_from_pool(&svc)
        };
        match desired {
            Ok(ips) => {
                lock(&self.warned).remove(key);
                if ingress(&svc) == entries(&ips).as_slice() {
                    return Ok(None);
                }
                if self.write(&svc, &ips).await? {
                    tracing::info!(service = %key, ?ips, "load balancer ingress set");
                    let (reason, message) = ENSURED;
                    self.recorder
                        .publish(svc.as_ref(), Type::Normal, reason, message)
                        .await;
                }
            }
            Err(message) => {
                if !ingress(&svc).is_empty() && !self.write(&svc, &[]).await? {
                    return Ok(None);
                }
                let repeat = lock(&self.warned).get(key) == Some(&message);
                if !repeat {
                    tracing::info!(service = %key, message, "no load balancer address");
                    self.recorder
                        .publish(svc.as_ref(), Type::Warning, ALLOCATION_FAILED, &message)
                        .await;
                    lock(&self.warned).insert(key.clone(), message);
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;
    use barge_client::writer::Call;
    use k8s_openapi::api::core::v1::{
        LoadBalancerStatus, NodeAddress, NodeCondition, NodeStatus, ServicePort, ServiceSpec,
        ServiceStatus,
    };
    use k8s_openapi::jiff::Timestamp;
    use kube::api::ObjectMeta;

    fn node(name: &str, ready: bool, addresses: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                addresses: Some(
                    addresses
                        .iter()
                        .map(|(t, a)| NodeAddress {
                            type_: (*t).into(),
                            address: (*a).into(),
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A LoadBalancer Service `default/<name>` with TCP `ports`, created `age` seconds after
    /// the epoch.
    fn lb(name: &str, ports: &[i32], age: i64) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                resource_version: Some("5".into()),
                creation_timestamp: Some(Time(Timestamp::from_second(age).unwrap())),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                ports: Some(
                    ports
                        .iter()
                        .map(|p| ServicePort {
                            port: *p,
                            protocol: Some("TCP".into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn with_ingress(mut svc: Service, ips: &[&str]) -> Service {
        let ips: Vec<IpAddr> = ips.iter().map(|ip| ip.parse().unwrap()).collect();
        svc.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(entries(&ips)),
            }),
            ..Default::default()
        });
        svc
    }

    fn with_pool(pool: &[&str]) -> (Context, Arc<barge_client::Recording>) {
        let (mut ctx, writer) = Context::for_tests();
        ctx.settings = Arc::new(Settings {
            load_balancer_pool: pool.iter().map(|ip| ip.parse().unwrap()).collect(),
            ..Settings::default()
        });
        (ctx, writer)
    }

    /// The status patches (service name → ingress IPs; `None`: cleared) and events (reason,
    /// message) recorded, in order.
    #[derive(Debug, Default, PartialEq)]
    struct Written {
        status: Vec<(String, Option<Vec<String>>)>,
        events: Vec<(String, String)>,
    }

    fn written(calls: Vec<Call>) -> Written {
        let mut out = Written::default();
        for call in calls {
            match call {
                Call::Patch {
                    target,
                    subresource,
                    patch,
                } if target.plural == "services" => {
                    assert_eq!(subresource.as_deref(), Some("status"), "{patch}");
                    assert_eq!(patch["metadata"]["resourceVersion"], "5");
                    let ingress = &patch["status"]["loadBalancer"]["ingress"];
                    let ips = ingress.as_array().map(|list| {
                        list.iter()
                            .map(|i| {
                                assert_eq!(i["ipMode"], "VIP");
                                i["ip"].as_str().unwrap().to_owned()
                            })
                            .collect()
                    });
                    assert!(ips.is_some() || ingress.is_null(), "{patch}");
                    out.status.push((target.name, ips));
                }
                Call::Create { target, object } if target.plural == "events" => {
                    assert_eq!(object["involvedObject"]["kind"], "Service");
                    let reason = object["reason"].as_str().unwrap().to_owned();
                    let kind = if reason == ALLOCATION_FAILED {
                        "Warning"
                    } else {
                        "Normal"
                    };
                    assert_eq!(object["type"], kind);
                    out.events
                        .push((reason, object["message"].as_str().unwrap().to_owned()));
                }
                // A repeated event folded into the earlier one (its count goes up).
                Call::Patch { target, .. } if target.plural == "events" => {
                    out.events.push(("repeat".into(), String::new()));
                }
                other => panic!("unexpected call {other:?}"),
            }
        }
        out
    }

    fn set(name: &str, ips: &[&str]) -> (String, Option<Vec<String>>) {
        (
            name.into(),
            Some(ips.iter().map(|ip| (*ip).to_owned()).collect()),
        )
    }

    fn ensured() -> (String, String) {
        (ENSURED.0.into(), ENSURED.1.into())
    }

    async fn run(c: &ServiceLbController, name: &str) {
        c.reconcile(&Key::new("default", name)).await.unwrap();
    }

    #[tokio::test]
    async fn the_default_pool_is_every_ready_nodes_internal_ips_and_follows_the_nodes() {
        let (ctx, writer) = Context::for_tests();
        let nodes = &ctx.informers.nodes;
        nodes.apply(node("b", true, &[("InternalIP", "192.168.1.12")]));
        nodes.apply(node(
            "a",
            true,
            &[
                ("InternalIP", "192.168.1.11"),
                ("ExternalIP", "203.0.113.7"),
                ("Hostname", "a"),
            ],
        ));
        nodes.apply(node("down", false, &[("InternalIP", "192.168.1.13")]));
        ctx.informers.services.apply(lb("web", &[80], 1));
        let c = ServiceLbController::new(&ctx);
        run(&c, "web").await;
        assert_eq!(
            written(writer.take()),
            Written {
                status: vec![set("web", &["192.168.1.11", "192.168.1.12"])],
                events: vec![ensured()],
            }
        );

        // The status shows it: nothing more to do.
        ctx.informers.services.apply(with_ingress(
            lb("web", &[80], 1),
            &["192.168.1.11", "192.168.1.12"],
        ));
        run(&c, "web").await;
        assert!(writer.take().is_empty());

        // A node becomes Ready, another goes away.
        nodes.apply(node("down", true, &[("InternalIP", "192.168.1.13")]));
        nodes.delete(&Key::new("", "a"));
        run(&c, "web").await;
        let w = written(writer.take());
        assert_eq!(w.status, [set("web", &["192.168.1.12", "192.168.1.13"])]);

        // No Ready node: no address, and a warning.
        nodes.apply(node("b", false, &[("InternalIP", "192.168.1.12")]));
        nodes.apply(node("down", false, &[("InternalIP", "192.168.1.13")]));
        ctx.informers.services.apply(with_ingress(
            lb("web", &[80], 1),
            &["192.168.1.12", "192.168.1.13"],
        ));
        run(&c, "web").await;
        let w = written(writer.take());
        assert_eq!(w.status, [("web".to_owned(), None)]);
        assert_eq!(w.events.len(), 1);
        assert_eq!(w.events[0].0, ALLOCATION_FAILED);
        assert!(w.events[0].1.contains("No Ready node"), "{w:?}");
    }

    #[tokio::test]
    async fn the_default_pool_honours_load_balancer_ip_and_ip_families() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.nodes.apply(node(
            "a",
            true,
            &[("InternalIP", "192.168.1.11"), ("InternalIP", "fd00::11")],
        ));
        ctx.informers
            .nodes
            .apply(node("b", true, &[("InternalIP", "192.168.1.12")]));
        let mut pinned = lb("pinned", &[80], 1);
        pinned.spec.as_mut().unwrap().load_balancer_ip = Some("192.168.1.12".into());
        let mut v6 = lb("v6", &[80], 1);
        v6.spec.as_mut().unwrap().ip_families = Some(vec!["IPv6".into()]);
        let mut dual = lb("dual", &[80], 1);
        dual.spec.as_mut().unwrap().ip_families = Some(vec!["IPv6".into(), "IPv4".into()]);
        let mut elsewhere = lb("elsewhere", &[80], 1);
        elsewhere.spec.as_mut().unwrap().load_balancer_ip = Some("10.0.0.1".into());
        for s in [pinned, v6, dual, elsewhere] {
            ctx.informers.services.apply(s);
        }
        let c = ServiceLbController::new(&ctx);
        for name in ["pinned", "v6", "dual", "elsewhere"] {
            run(&c, name).await;
        }
        let w = written(writer.take());
        assert_eq!(
            w.status,
            [
                set("pinned", &["192.168.1.12"]),
                set("v6", &["fd00::11"]),
                set("dual", &["fd00::11", "192.168.1.11", "192.168.1.12"]),
            ]
        );
        assert_eq!(
            w.events.last().unwrap(),
            &(
                ALLOCATION_FAILED.to_owned(),
                "Requested loadBalancerIP 10.0.0.1 is not in the load balancer pool \
                 (192.168.1.11, 192.168.1.12, fd00::11)"
                    .to_owned()
            )
        );
    }

    #[tokio::test]
    async fn an_explicit_pool_gives_one_free_address_per_conflicting_port() {
        let (ctx, writer) = with_pool(&["192.168.1.241", "192.168.1.240", "192.168.1.242"]);
        let services = &ctx.informers.services;
        services.apply(lb("a", &[80, 443], 1));
        services.apply(lb("b", &[443], 2));
        services.apply(lb("c", &[22], 3));
        let mut udp = lb("dns", &[80], 4);
        udp.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].protocol = Some("UDP".into());
        services.apply(udp);
        let c = ServiceLbController::new(&ctx);
        // None of these writes shows in the cache yet: the pending ones must count.
        for name in ["a", "b", "c", "dns"] {
            run(&c, name).await;
        }
        // Reconciling again before the cache catches up gives the same address.
        run(&c, "b").await;
        let w = written(writer.take());
        assert_eq!(
            w.status,
            [
                set("a", &["192.168.1.240"]),
                set("b", &["192.168.1.241"]),
                set("c", &["192.168.1.240"]),
                set("dns", &["192.168.1.240"]),
                set("b", &["192.168.1.241"]),
            ]
        );
        let mut events = vec![ensured(); 4];
        events.push(("repeat".into(), String::new()));
        assert_eq!(w.events, events);
    }

    #[tokio::test]
    async fn an_exhausted_pool_leaves_the_status_empty_and_warns_once() {
        let (ctx, writer) = with_pool(&["192.168.1.240"]);
        let services = &ctx.informers.services;
        services.apply(with_ingress(lb("a", &[80], 1), &["192.168.1.240"]));
        services.apply(lb("b", &[80, 8080], 2));
        let c = ServiceLbController::new(&ctx);
        run(&c, "a").await;
        run(&c, "b").await;
        run(&c, "b").await;
        assert_eq!(
            written(writer.take()),
            Written {
                status: vec![],
                events: vec![(
                    ALLOCATION_FAILED.into(),
                    "No address of the load balancer pool (192.168.1.240) is free for ports \
                     80/TCP, 8080/TCP: each is used by another LoadBalancer Service for a \
                     conflicting port"
                        .into()
                )],
            }
        );

        // a's going frees the address: its deletion queues b, which gets it.
        let gone = with_ingress(lb("a", &[80], 1), &["192.168.1.240"]);
        assert!(affected(&ctx.informers.services, &gone, true).contains(&Key::new("default", "b")));
        services.delete(&Key::new("default", "a"));
        run(&c, "a").await;
        run(&c, "b").await;
        assert_eq!(
            written(writer.take()),
            Written {
                status: vec![set("b", &["192.168.1.240"])],
                events: vec![ensured()],
            }
        );
    }

    #[tokio::test]
    async fn an_explicit_pool_honours_load_balancer_ip() {
        let (ctx, writer) = with_pool(&["192.168.1.240", "192.168.1.241"]);
        let services = &ctx.informers.services;
        services.apply(with_ingress(lb("a", &[80], 1), &["192.168.1.240"]));
        let pin = |name: &str, ip: &str, port: i32| {
            let mut s = lb(name, &[port], 2);
            s.spec.as_mut().unwrap().load_balancer_ip = Some(ip.into());
            s
        };
        services.apply(pin("second", "192.168.1.241", 80));
        services.apply(pin("shared", "192.168.1.240", 9000));
        services.apply(pin("taken", "192.168.1.240", 80));
        services.apply(pin("outside", "10.1.2.3", 80));
        let c = ServiceLbController::new(&ctx);
        for name in ["second", "shared", "taken", "outside"] {
            run(&c, name).await;
        }
        let w = written(writer.take());
        assert_eq!(
            w.status,
            [
                set("second", &["192.168.1.241"]),
                set("shared", &["192.168.1.240"])
            ]
        );
        assert_eq!(
            w.events,
            [
                ensured(),
                ensured(),
                (
                    ALLOCATION_FAILED.into(),
                    "Requested loadBalancerIP 192.168.1.240 is used by Service default/a for \
                     port 80/TCP"
                        .into()
                ),
                (
                    ALLOCATION_FAILED.into(),
                    "Requested loadBalancerIP 10.1.2.3 is not in the load balancer pool \
                     (192.168.1.240, 192.168.1.241)"
                        .into()
                ),
            ]
        );
    }

    #[tokio::test]
    async fn a_failed_service_no_longer_holds_the_address_it_was_being_given() {
        let (ctx, writer) = with_pool(&["192.168.1.240"]);
        let services = &ctx.informers.services;
        services.apply(lb("a", &[80], 1));
        services.apply(lb("b", &[80], 2));
        let c = ServiceLbController::new(&ctx);
        run(&c, "a").await; // .240, not yet in the cache
        // a now asks for an address outside the pool before its write shows.
        let mut moved = lb("a", &[80], 1);
        moved.spec.as_mut().unwrap().load_balancer_ip = Some("10.0.0.1".into());
        services.apply(moved);
        run(&c, "a").await;
        run(&c, "b").await;
        let w = written(writer.take());
        assert_eq!(
            w.status,
            [set("a", &["192.168.1.240"]), set("b", &["192.168.1.240"])]
        );
        assert_eq!(w.events[1].0, ALLOCATION_FAILED);
    }

    #[tokio::test]
    async fn the_older_service_keeps_a_contested_address_and_the_newer_moves() {
        let (ctx, writer) = with_pool(&["192.168.1.240", "192.168.1.241"]);
        let services = &ctx.informers.services;
        // Both hold .240 for port 80 (b's ports changed, or two managers raced).
        services.apply(with_ingress(lb("b", &[80], 2), &["192.168.1.240"]));
        services.apply(with_ingress(lb("a", &[80], 1), &["192.168.1.240"]));
        // c holds an address outside the pool (the pool changed).
        services.apply(with_ingress(lb("c", &[80], 3), &["10.9.9.9"]));
        let c = ServiceLbController::new(&ctx);
        for name in ["a", "b", "c"] {
            run(&c, name).await;
        }
        // a keeps .240, b moves to .241; c finds nothing free and loses its stale address.
        let w = written(writer.take());
        assert_eq!(w.status, [set("b", &["192.168.1.241"]), ("c".into(), None)]);
        assert_eq!(w.events[0], ensured());
        assert_eq!(w.events[1].0, ALLOCATION_FAILED);
        assert!(
            w.events[1].1.contains("(192.168.1.240, 192.168.1.241)"),
            "{w:?}"
        );
        assert_eq!(w.events.len(), 2);

        // Once the cache shows c cleared, reconciling it again writes nothing and does not
        // repeat the warning.
        services.apply(lb("c", &[80], 3));
        run(&c, "c").await;
        assert!(writer.take().is_empty());

        // With room in the pool, an address outside it is replaced by the lowest free one.
        let (ctx, writer) = with_pool(&["192.168.1.240", "192.168.1.241"]);
        ctx.informers
            .services
            .apply(with_ingress(lb("c", &[80], 3), &["10.9.9.9"]));
        let c = ServiceLbController::new(&ctx);
        run(&c, "c").await;
        assert_eq!(
            written(writer.take()).status,
            [set("c", &["192.168.1.240"])]
        );
    }

    #[tokio::test]
    async fn a_service_that_stops_being_a_load_balancer_loses_its_ingress() {
        let (ctx, writer) = with_pool(&["192.168.1.240"]);
        let mut svc = with_ingress(lb("web", &[80], 1), &["192.168.1.240"]);
        svc.spec.as_mut().unwrap().type_ = Some("ClusterIP".into());
        ctx.informers.services.apply(svc.clone());
        let c = ServiceLbController::new(&ctx);
        run(&c, "web").await;
        assert_eq!(
            written(writer.take()),
            Written {
                status: vec![("web".into(), None)],
                events: vec![(DELETED.0.into(), DELETED.1.into())],
            }
        );
        // Cleared: nothing more. A plain ClusterIP Service is never written either.
        svc.status = None;
        ctx.informers.services.apply(svc);
        run(&c, "web").await;
        assert!(writer.take().is_empty());
    }

    #[tokio::test]
    async fn nothing_is_written_when_the_status_is_right_or_the_service_is_not_ours() {
        let (ctx, writer) = with_pool(&["192.168.1.240"]);
        let services = &ctx.informers.services;
        services.apply(with_ingress(lb("right", &[80], 1), &["192.168.1.240"]));
        let mut classed = with_ingress(lb("classed", &[80], 1), &["203.0.113.9"]);
        classed.spec.as_mut().unwrap().load_balancer_class = Some("example.com/lb".into());
        services.apply(classed.clone());
        let mut classed_bare = lb("classed-bare", &[80], 1);
        classed_bare.spec.as_mut().unwrap().load_balancer_class = Some("example.com/lb".into());
        services.apply(classed_bare);
        let c = ServiceLbController::new(&ctx);
        for name in ["right", "classed", "classed-bare", "missing"] {
            run(&c, name).await;
        }
        assert!(writer.take().is_empty());
        assert!(!is_ours(&classed));

        // An entry without ipMode is not right: it is rewritten.
        let mut old = with_ingress(lb("right", &[80], 1), &["192.168.1.240"]);
        old.status
            .as_mut()
            .unwrap()
            .load_balancer
            .as_mut()
            .unwrap()
            .ingress
            .as_mut()
            .unwrap()[0]
            .ip_mode = None;
        services.apply(old);
        run(&c, "right").await;
        assert_eq!(
            written(writer.take()).status,
            [set("right", &["192.168.1.240"])]
        );
    }

    #[test]
    fn only_changes_that_may_free_an_address_queue_other_services() {
        let services = Informer::seeded([
            with_ingress(lb("a", &[80], 1), &["192.168.1.240"]),
            with_ingress(lb("b", &[443], 2), &["192.168.1.240"]),
            with_ingress(lb("c", &[80], 3), &["192.168.1.241"]),
            lb("waiting", &[80], 4),
        ]);
        let a = with_ingress(lb("a", &[80], 1), &["192.168.1.240"]);
        let keys = |names: &[&str]| -> Vec<Key> {
            names.iter().map(|n| Key::new("default", *n)).collect()
        };
        let mut got = affected(&services, &a, true);
        assert_eq!(got[0], Key::new("default", "a"), "its own key first");
        got.sort();
        assert_eq!(got, keys(&["a", "b", "waiting"]));
        assert_eq!(affected(&services, &a, false), keys(&["a"]));
        assert_eq!(
            affected(&services, &lb("waiting", &[80], 4), true),
            keys(&["waiting"])
        );
    }
}
