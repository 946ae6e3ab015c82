//! The Endpoints and EndpointSlice controllers (upstream `pkg/controller/endpoint` and
//! `pkg/controller/endpointslice`): for every Service with a selector, the pods it selects
//! become an Endpoints object of the Service's name and EndpointSlices labelled
//! `kubernetes.io/service-name` and owned by the Service.
//!
//! Both controllers key on the Service (`namespace/name`); pod changes queue the services whose
//! selectors match the pod before or after the change. Services without a selector are left
//! alone (their Endpoints are someone else's, e.g. the API server's `default/kubernetes`).
//!
//! - **Endpoints**: pods with an IP that have not terminated (and, unless the service
//!   publishes not-ready addresses, are not being deleted) are listed as ready `addresses` or
//!   `notReadyAddresses`, with their IP, nodeName, hostname (when the pod's subdomain is the
//!   service) and a targetRef; ports come from each service port's targetPort (a number, or a
//!   named container port of the same protocol; a pod without the named port is left out of
//!   that port). Addresses with the same ports share a subset (upstream's RepackSubsets). When
//!   the service is deleted its Endpoints are deleted. Differences: no
//!   `last-change-trigger-time` annotation, no truncation beyond 1,000 addresses.
//! - **EndpointSlices** (IPv4 only): one endpoint per pod with an IP that has not terminated,
//!   with conditions ready (`publishNotReadyAddresses`, or Ready and not terminating), serving
//!   (Ready) and terminating, nodeName, zone, hostname and targetRef. Pods with the same
//!   resolved ports share slices of at most 100 endpoints; a service with no endpoints gets one
//!   empty placeholder slice, as upstream. Existing slices are reused (patched only when their
//!   content differs), surplus ones deleted. Upstream's packing that minimises churn is
//!   simplified to "refill in order"; topology hints are not set.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use barge_client::informer::{Change, Informer};
use barge_client::writer::{is_conflict, is_not_found};
use barge_client::{Delete, Key, WriterExt};
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::api::discovery::v1::{self as discovery, EndpointConditions, EndpointSlice};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use kube::api::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::runner::{Queue, Reconciler, enqueue};
use crate::{Context, pods};

/// The label naming a slice's service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming who manages a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// Set on the Endpoints and slices of headless services.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// Endpoints used as leader-election locks; never deleted as leftovers.
const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";
/// The most endpoints one slice holds.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// How long to wait for the cache to show our slice creations and deletions.
const EXPECTATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How soon to look again while the cache lags behind our writes.
const CACHE_LAG_RETRY: Duration = Duration::from_secs(1);

/// Like [`crate::runner::enqueue`], telling `map` whether the object comes from a (re)list.
fn watch<K, F>(informer: &Informer<K>, queue: &Queue, map: F)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    F: Fn(&K, bool) -> Vec<Key> + Send + Sync + 'static,
{
    let (informer, queue) = (informer.clone(), queue.clone());
    let mut changes = informer.subscribe();
    tokio::spawn(async move {
        informer.synced().await;
        // `true`: the object comes from a (re)list, not a live change.
        for object in informer.cache().list() {
            map(&object, true).into_iter().for_each(|k| queue.add(k));
        }
        while let Some(change) = changes.next().await {
            match change {
                Change::Applied { old, new } => {
                    for object in old.iter().chain([&new]) {
                        map(object, false).into_iter().for_each(|k| queue.add(k));
                    }
                }
                Change::Deleted(object) => {
                    map(&object, false).into_iter().for_each(|k| queue.add(k))
                }
                Change::Resynced => {
                    for object in informer.cache().list() {
                        map(&object, true).into_iter().for_each(|k| queue.add(k));
                    }
                }
            }
        }
    });
}

/// The service's selector, `None` when it has none (an empty selector counts as none, as it
/// does once the API server has stored it).
fn selector(service: &Service) -> Option<&BTreeMap<String, String>> {
    service
        .spec
        .as_ref()?
        .selector
        .as_ref()
        .filter(|s| !s.is_empty())
}

fn selects(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The keys of the services in the pod's namespace that select it.
fn services_of(services: &Informer<Service>, pod: &Pod) -> Vec<Key> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    services
        .cache()
        .list_namespace(ns)
        .iter()
        .filter(|s| selector(s).is_some_and(|sel| selects(sel, pod)))
        .map(|s| Key::of(s.as_ref()))
        .collect()
}

/// Pods the service selects.
fn selected_pods(ctx: &Context, service: &Service) -> Vec<Arc<Pod>> {
    let Some(sel) = selector(service) else {
        return Vec::new();
    };
    let ns = service.metadata.namespace.as_deref().unwrap_or_default();
    let mut pods: Vec<Arc<Pod>> = ctx
        .informers
        .pods
        .cache()
        .list_namespace(ns)
        .into_iter()
        .filter(|p| selects(sel, p))
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods
}

/// Upstream's ShouldPodBeInEndpoints.
fn in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    !matches!(pods::phase(pod), "Succeeded" | "Failed")
        && pod_ipv4(pod).is_some()
        && (include_terminating || pod.metadata.deletion_timestamp.is_none())
}

/// The pod's IPv4 address.
fn pod_ipv4(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let listed = status.pod_ips.iter().flatten().map(|ip| ip.ip.as_str());
    status
        .pod_ip
        .as_deref()
        .into_iter()
        .chain(listed)
        .find(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok())
        .map(str::to_owned)
}

fn is_headless(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

fn publishes_not_ready(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        == Some(true)
}

fn service_ports(service: &Service) -> &[ServicePort] {
    service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default()
}

/// The pod's port for a service port (upstream's FindPort): the targetPort number, or the
/// container port of that name and protocol (sidecar init containers included).
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// Upstream's ShouldSetHostname.
fn hostname_for(pod: &Pod, service: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == service.metadata.name.as_deref()
        && pod.metadata.namespace == service.metadata.namespace)
        .then(|| hostname.to_owned())
}

fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// The labels of the service's Endpoints: the service's, plus the headless marker.
fn endpoints_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone().unwrap_or_default();
    labels.remove(HEADLESS_LABEL);
    if is_headless(service) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}

/// A merge patch of `labels` from `current` to `desired` (nulls remove).
fn labels_patch(
    current: Option<&BTreeMap<String, String>>,
    desired: &BTreeMap<String, String>,
) -> Value {
    let mut patch = serde_json::Map::new();
    for k in current.into_iter().flatten().map(|(k, _)| k) {
        if !desired.contains_key(k) {
            patch.insert(k.clone(), Value::Null);
        }
    }
    for (k, v) in desired {
        patch.insert(k.clone(), json!(v));
    }
    Value::Object(patch)
}

// ---------------------------------------------------------------------------------------
// Endpoints

/// The subsets of the service's Endpoints, repacked and sorted.
pub fn desired_subsets(service: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let tolerate_unready = publishes_not_ready(service);
    let ports = service_ports(service);
    // (ready, ip, uid) → (address, its ports)
    let mut addresses: BTreeMap<(bool, String, String), (EndpointAddress, Vec<EndpointPort>)> =
        BTreeMap::new();
    for pod in pods {
        if !in_endpoints(pod, tolerate_unready) {
            continue;
        }
        let Some(ip) = pod_ipv4(pod) else { continue };
        let address = EndpointAddress {
            ip: ip.clone(),
            hostname: hostname_for(pod, service),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(pod_reference(pod)),
        };
        let ready = tolerate_unready || pods::is_ready(pod);
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let resolved: Vec<EndpointPort> = ports
            .iter()
            .filter_map(|sp| {
                Some(EndpointPort {
                    name: sp.name.clone().filter(|n| !n.is_empty()),
                    port: find_port(pod, sp)?,
                    protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        if resolved.is_empty() && !(ports.is_empty() && is_headless(service)) {
            continue; // no port of the service resolves on this pod
        }
        addresses.insert((ready, ip, uid), (address, resolved));
    }
    // Group addresses by their port set (RepackSubsets).
    let mut subsets: BTreeMap<String, EndpointSubset> = BTreeMap::new();
    for ((ready, _, _), (address, mut ports)) in addresses {
        ports.sort_by(|a, b| (&a.name, a.port, &a.protocol).cmp(&(&b.name, b.port, &b.protocol)));
        let group = serde_json::to_string(&ports).unwrap_or_default();
        let subset = subsets.entry(group).or_insert_with(|| EndpointSubset {
            addresses: None,
            not_ready_addresses: None,
            ports: (!ports.is_empty()).then_some(ports),
        });
        let list = if ready {
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        list.get_or_insert_with(Vec::new).push(address);
    }
    subsets.into_values().collect()
}

#[derive(Debug)]
pub struct EndpointsController {
    ctx: Context,
}

/// Starts the Endpoints controller's watches; the caller runs the reconciler on the queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    enqueue(&ctx.informers.services, &queue, |s: &Service| {
        vec![Key::of(s)]
    });
    let services = ctx.informers.services.clone();
    enqueue(&ctx.informers.pods, &queue, move |p: &Pod| {
        services_of(&services, p)
    });
    // Endpoints: a deleted one is recreated; at start, leftovers of deleted services are
    // cleaned up (upstream's checkLeftoverEndpoints). Live creations of Endpoints without a
    // service are not touched: they may precede their selectorless service.
    let services = ctx.informers.services.clone();
    watch(
        &ctx.informers.endpoints,
        &queue,
        move |e: &Endpoints, listed| {
            let key = Key::of(e);
            let service = services.cache().get_key(&key);
            if listed || service.is_some_and(|s| selector(&s).is_some()) {
                vec![key]
            } else {
                Vec::new()
            }
        },
    );
    (Arc::new(EndpointsController { ctx: ctx.clone() }), queue)
}

#[async_trait]
impl Reconciler for EndpointsController {
    fn name(&self) -> &'static str {
        "endpoints"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let existing = self.ctx.informers.endpoints.cache().get_key(key);
        let Some(service) = self.ctx.informers.services.cache().get_key(key) else {
            let Some(existing) = existing else {
                return Ok(None);
            };
            let leader = existing
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(LEADER_ANNOTATION));
            if leader {
                return Ok(None);
            }
            let options = Delete {
                uid: existing.metadata.uid.clone(),
                ..Default::default()
            };
            return match self
                .ctx
                .writer
                .delete_typed::<Endpoints>(&key.namespace, &key.name, &options)
                .await
            {
                Ok(()) => Ok(None),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(anyhow::Error::new(e).context(format!("deleting endpoints {key}"))),
            };
        };
        if selector(&service).is_none() || service.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let pods = selected_pods(&self.ctx, &service);
        let subsets = desired_subsets(&service, &pods);
        let labels = endpoints_labels(&service);
        match existing {
            Some(current) => {
                let same_subsets = current.subsets.clone().unwrap_or_default() == subsets;
                let same_labels = current.metadata.labels.clone().unwrap_or_default() == labels;
                if same_subsets && same_labels {
                    return Ok(None);
                }
                let patch = json!({
                    "metadata": {
                        "resourceVersion": current.metadata.resource_version,
                        "labels": labels_patch(current.metadata.labels.as_ref(), &labels),
                    },
                    "subsets": subsets,
                });
                self.ctx
                    .writer
                    .patch_typed::<Endpoints>(&key.namespace, &key.name, None, patch)
                    .await
                    .map_err(|e| {
                        anyhow::Error::new(e).context(format!("updating endpoints {key}"))
                    })?;
            }
            None => {
                let endpoints = Endpoints {
                    metadata: ObjectMeta {
                        name: Some(key.name.clone()),
                        namespace: Some(key.namespace.clone()),
                        labels: Some(labels),
                        ..Default::default()
                    },
                    subsets: Some(subsets),
                };
                match self
                    .ctx
                    .writer
                    .create_typed(&key.namespace, &endpoints)
                    .await
                {
                    Ok(_) => {}
                    // Created meanwhile and not in the cache yet: look again soon.
                    Err(e) if is_conflict(&e) => return Ok(Some(CACHE_LAG_RETRY)),
                    Err(e) => {
                        return Err(
                            anyhow::Error::new(e).context(format!("creating endpoints {key}"))
                        );
                    }
                }
            }
        }
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------
// EndpointSlices

/// What one slice should hold.
#[derive(Clone, Debug, PartialEq)]
struct SliceContent {
    ports: Vec<discovery::EndpointPort>,
    endpoints: Vec<discovery::Endpoint>,
}

fn slice_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone().unwrap_or_default();
    for k in [SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL] {
        labels.remove(k);
    }
    labels.insert(
        SERVICE_NAME_LABEL.into(),
        service.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    if is_headless(service) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}

/// The slices the service should have, in a stable order.
fn desired_slices(ctx: &Context, service: &Service, pods: &[Arc<Pod>]) -> Vec<SliceContent> {
    let publish = publishes_not_ready(service);
    let mut groups: BTreeMap<String, SliceContent> = BTreeMap::new();
    for pod in pods {
        if !in_endpoints(pod, true) {
            continue;
        }
        let Some(ip) = pod_ipv4(pod) else { continue };
        let ports: Vec<discovery::EndpointPort> = service_ports(service)
            .iter()
            .filter_map(|sp| {
                Some(discovery::EndpointPort {
                    name: Some(sp.name.clone().unwrap_or_default()),
                    port: Some(find_port(pod, sp)?),
                    protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        let serving = pods::is_ready(pod);
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty());
        let zone = node_name
            .as_deref()
            .and_then(|n| ctx.informers.nodes.cache().get("", n))
            .and_then(|n| {
                n.metadata
                    .labels
                    .as_ref()?
                    .get("topology.kubernetes.io/zone")
                    .cloned()
            })
            .filter(|z| !z.is_empty());
        let endpoint = discovery::Endpoint {
            addresses: vec![ip],
            conditions: Some(EndpointConditions {
                ready: Some(publish || (serving && !terminating)),
                serving: Some(serving),
                terminating: Some(terminating),
            }),
            hostname: hostname_for(pod, service),
            node_name,
            target_ref: Some(pod_reference(pod)),
            zone,
            ..Default::default()
        };
        let group = serde_json::to_string(&ports).unwrap_or_default();
        groups
            .entry(group)
            .or_insert_with(|| SliceContent {
                ports,
                endpoints: Vec::new(),
            })
            .endpoints
            .push(endpoint);
    }
    let mut slices = Vec::new();
    for group in groups.into_values() {
        for chunk in group.endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            slices.push(SliceContent {
                ports: group.ports.clone(),
                endpoints: chunk.to_vec(),
            });
        }
    }
    if slices.is_empty() {
        // Upstream's placeholder: the service exists and has no endpoints.
        slices.push(SliceContent {
            ports: Vec::new(),
            endpoints: Vec::new(),
        });
    }
    slices
}

/// Slice creations and deletions the cache has not shown yet, per service.
#[derive(Debug)]
struct Pending {
    created: Vec<String>,
    deleted: Vec<String>,
    since: Instant,
}

#[derive(Debug)]
pub struct EndpointSliceController {
    ctx: Context,
    pending: Mutex<HashMap<Key, Pending>>,
}

/// Starts the EndpointSlice controller's watches; the caller runs the reconciler on the queue.
pub fn start_slices(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    enqueue(&ctx.informers.services, &queue, |s: &Service| {
        vec![Key::of(s)]
    });
    let services = ctx.informers.services.clone();
    enqueue(&ctx.informers.pods, &queue, move |p: &Pod| {
        services_of(&services, p)
    });
    watch(
        &ctx.informers.endpoint_slices,
        &queue,
        |s: &EndpointSlice, _| slice_service(s).into_iter().collect(),
    );
    (Arc::new(EndpointSliceController::new(ctx)), queue)
}

/// The service of a slice this controller manages.
fn slice_service(slice: &EndpointSlice) -> Option<Key> {
    let labels = slice.metadata.labels.as_ref()?;
    if labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(MANAGED_BY) {
        return None;
    }
    let service = labels.get(SERVICE_NAME_LABEL)?;
    Some(Key::new(
        slice.metadata.namespace.clone().unwrap_or_default(),
        service.clone(),
    ))
}

impl EndpointSliceController {
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            pending: Mutex::default(),
        }
    }

    /// Whether the cache shows every slice creation and deletion made for `key`.
    fn cache_caught_up(&self, key: &Key) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let Some(p) = pending.get(key) else {
            return true;
        };
        let cache = self.ctx.informers.endpoint_slices.cache();
        let shown = p
            .created
            .iter()
            .all(|n| cache.get(&key.namespace, n).is_some())
            && p.deleted
                .iter()
                .all(|n| cache.get(&key.namespace, n).is_none());
        if shown || p.since.elapsed() >= EXPECTATION_TIMEOUT {
            pending.remove(key);
            return true;
        }
        false
    }

    fn expect(&self, key: &Key, created: Vec<String>, deleted: Vec<String>) {
        if created.is_empty() && deleted.is_empty() {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.insert(
            key.clone(),
            Pending {
                created,
                deleted,
                since: Instant::now(),
            },
        );
    }

    async fn delete_slice(&self, slice: &EndpointSlice) -> anyhow::Result<()> {
        let ns = slice.metadata.namespace.as_deref().unwrap_or_default();
        let name = slice.metadata.name.as_deref().unwrap_or_default();
        let options = Delete {
            uid: slice.metadata.uid.clone(),
            ..Default::default()
        };
        match self
            .ctx
            .writer
            .delete_typed::<EndpointSlice>(ns, name, &options)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => {
                Err(anyhow::Error::new(e).context(format!("deleting endpointslice {ns}/{name}")))
            }
        }
    }

    fn managed_slices(&self, key: &Key) -> Vec<Arc<EndpointSlice>> {
        let mut slices: Vec<Arc<EndpointSlice>> = self
            .ctx
            .informers
            .endpoint_slices
            .cache()
            .list_namespace(&key.namespace)
            .into_iter()
            .filter(|s| slice_service(s).as_ref() == Some(key))
            .collect();
        slices.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        slices
    }
}

#[async_trait]
impl Reconciler for EndpointSliceController {
    fn name(&self) -> &'static str {
        "endpointslice"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        if !self.cache_caught_up(key) {
            return Ok(Some(CACHE_LAG_RETRY));
        }
        let existing = self.managed_slices(key);
        let Some(service) = self.ctx.informers.services.cache().get_key(key) else {
            // The garbage collector would delete them through their owner reference; doing
            // it here is quicker and independent of it.
            let mut deleted = Vec::new();
            for slice in &existing {
                self.delete_slice(slice).await?;
                deleted.extend(slice.metadata.name.clone());
            }
            self.expect(key, Vec::new(), deleted);
            return Ok(None);
        };
        if selector(&service).is_none() || service.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let uid = service.metadata.uid.clone().unwrap_or_default();
        let owner = pods::controller_ref(service.as_ref());
        let labels = slice_labels(&service);
        let pods = selected_pods(&self.ctx, &service);
        let desired = desired_slices(&self.ctx, &service, &pods);

        // Slices of another service of the same name, or of another address type, go.
        let (mut reusable, stale): (Vec<Arc<EndpointSlice>>, Vec<Arc<EndpointSlice>>) =
            existing.into_iter().partition(|s| {
                s.address_type == "IPv4"
                    && pods::controller_of(s.as_ref()).is_some_and(|o| o.uid == uid)
            });
        let mut created = Vec::new();
        let mut deleted = Vec::new();
        let mut result = Ok(());

        // First keep the slices that already hold exactly a desired content.
        let mut todo: Vec<SliceContent> = Vec::new();
        let mut keep: Vec<(Arc<EndpointSlice>, SliceContent)> = Vec::new();
        for content in desired {
            let found = reusable.iter().position(|s| {
                s.endpoints == content.endpoints
                    && s.ports.clone().unwrap_or_default() == content.ports
            });
            match found {
                Some(i) => keep.push((reusable.remove(i), content)),
                None => todo.push(content),
            }
        }
        // Then refill the others, preferring slices with the same ports.
        let mut updates: Vec<(Arc<EndpointSlice>, SliceContent)> = Vec::new();
        let mut creates: Vec<SliceContent> = Vec::new();
        for content in todo {
            let same_ports = reusable
                .iter()
                .position(|s| s.ports.clone().unwrap_or_default() == content.ports);
            match same_ports.or((!reusable.is_empty()).then_some(0)) {
                Some(i) => updates.push((reusable.remove(i), content)),
                None => creates.push(content),
            }
        }
        // Kept slices may still need their labels brought up to date.
        for (slice, content) in keep {
            if slice.metadata.labels.as_ref() != Some(&labels) {
                updates.push((slice, content));
            }
        }

        for (slice, content) in updates {
            let name = slice.metadata.name.clone().unwrap_or_default();
            let patch = json!({
                "metadata": {
                    "resourceVersion": slice.metadata.resource_version,
                    "labels": labels_patch(slice.metadata.labels.as_ref(), &labels),
                },
                "ports": content.ports,
                "endpoints": content.endpoints,
            });
            if let Err(e) = self
                .ctx
                .writer
                .patch_typed::<EndpointSlice>(&key.namespace, &name, None, patch)
                .await
            {
                result = Err(anyhow::Error::new(e)
                    .context(format!("updating endpointslice {}/{name}", key.namespace)));
            }
        }
        for content in creates {
            let slice = EndpointSlice {
                metadata: ObjectMeta {
                    generate_name: Some(format!("{}-", key.name)),
                    namespace: Some(key.namespace.clone()),
                    labels: Some(labels.clone()),
                    owner_references: Some(vec![owner.clone()]),
                    ..Default::default()
                },
                address_type: "IPv4".into(),
                endpoints: content.endpoints,
                ports: Some(content.ports),
            };
            match self.ctx.writer.create_typed(&key.namespace, &slice).await {
                Ok(made) => created.extend(made.metadata.name),
                Err(e) => {
                    result = Err(anyhow::Error::new(e)
                        .context(format!("creating an endpointslice for service {key}")));
                }
            }
        }
        for slice in reusable.iter().chain(&stale) {
            match self.delete_slice(slice).await {
                Ok(()) => deleted.extend(slice.metadata.name.clone()),
                Err(e) => result = Err(e),
            }
        }
        self.expect(key, created, deleted);
        result.map(|()| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::writer::Call;
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, PodCondition, PodSpec, PodStatus, ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn service(name: &str, selector: Option<&[(&str, &str)]>, ports: Vec<ServicePort>) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                labels: Some([("team".to_owned(), "a".to_owned())].into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: selector.map(|s| {
                    s.iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect()
                }),
                ports: Some(ports),
                cluster_ip: Some("10.96.0.10".into()),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn port(name: &str, port: i32, target: IntOrString) -> ServicePort {
        ServicePort {
            name: Some(name.into()),
            port,
            target_port: Some(target),
            protocol: Some("TCP".into()),
            ..Default::default()
        }
    }

    fn pod(name: &str, ip: Option<&str>, ready: bool, http_port: i32) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                labels: Some([("app".to_owned(), "web".to_owned())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                containers: vec![Container {
                    name: "c".into(),
                    ports: Some(vec![ContainerPort {
                        name: Some("http".into()),
                        container_port: http_port,
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: ip.map(Into::into),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn web_service() -> Service {
        service(
            "web",
            Some(&[("app", "web")]),
            vec![
                port("http", 80, IntOrString::String("http".into())),
                port("metrics", 9090, IntOrString::Int(9090)),
            ],
        )
    }

    fn created(calls: &[Call], plural: &str) -> Vec<Value> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Create { target, object } if target.plural == plural => Some(object.clone()),
                _ => None,
            })
            .collect()
    }

    fn ips(addresses: &Value) -> Vec<&str> {
        addresses
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["ip"].as_str()).collect())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn endpoints_list_ready_and_not_ready_pods_with_named_ports() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.services.apply(web_service());
        ctx.informers
            .pods
            .apply(pod("a", Some("10.42.0.5"), true, 8080));
        ctx.informers
            .pods
            .apply(pod("b", Some("10.42.0.6"), false, 8080));
        ctx.informers.pods.apply(pod("c", None, true, 8080)); // no IP yet
        ctx.informers
            .pods
            .apply(pod("d", Some("10.42.0.8"), true, 8081)); // other port
        let mut other = pod("e", Some("10.42.0.9"), true, 8080);
        other.metadata.labels = Some([("app".to_owned(), "db".to_owned())].into());
        ctx.informers.pods.apply(other);
        let mut gone = pod("f", Some("10.42.0.10"), true, 8080);
        gone.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        ctx.informers.pods.apply(gone);
        let mut done = pod("g", Some("10.42.0.11"), false, 8080);
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        ctx.informers.pods.apply(done);

        let (c, _) = start(&ctx);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert_eq!(calls.len(), 1, "{calls:?}");
        let ep = &created(&calls, "endpoints")[0];
        assert_eq!(ep["metadata"]["name"], "web");
        assert_eq!(ep["metadata"]["labels"]["team"], "a");
        let subsets = ep["subsets"].as_array().unwrap();
        assert_eq!(subsets.len(), 2, "{subsets:?}");
        // Pods resolving http to 8080 share a subset; d (8081) has its own.
        let s8080 = subsets
            .iter()
            .find(|s| {
                s["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["port"] == 8080)
            })
            .unwrap();
        assert_eq!(ips(&s8080["addresses"]), ["10.42.0.5"]);
        assert_eq!(ips(&s8080["notReadyAddresses"]), ["10.42.0.6"]);
        assert_eq!(
            s8080["ports"],
            json!([
                {"name": "http", "port": 8080, "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "protocol": "TCP"},
            ])
        );
        let a = &s8080["addresses"][0];
        assert_eq!(a["nodeName"], "n1");
        assert_eq!(
            a["targetRef"],
            json!({"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"})
        );
        let s8081 = subsets
            .iter()
            .find(|s| {
                s["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["port"] == 8081)
            })
            .unwrap();
        assert_eq!(ips(&s8081["addresses"]), ["10.42.0.8"]);
    }

    fn key() -> Key {
        Key::new("default", "web")
    }

    #[tokio::test]
    async fn endpoints_are_updated_only_when_they_change() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.services.apply(web_service());
        ctx.informers
            .pods
            .apply(pod("a", Some("10.42.0.5"), false, 8080));
        let (c, _) = start(&ctx);
        c.reconcile(&key()).await.unwrap();
        let object = created(&writer.take(), "endpoints").remove(0);
        let mut stored: Endpoints = serde_json::from_value(object).unwrap();
        stored.metadata.resource_version = Some("3".into());
        ctx.informers.endpoints.apply(stored);

        // Nothing changed: no write.
        c.reconcile(&key()).await.unwrap();
        assert!(writer.take().is_empty());

        // The pod becomes ready: its address moves to `addresses`.
        ctx.informers
            .pods
            .apply(pod("a", Some("10.42.0.5"), true, 8080));
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert_eq!(
            calls.iter().map(Call::summary).collect::<Vec<_>>(),
            ["patch endpoints default/web"]
        );
        let Call::Patch { patch, .. } = &calls[0] else {
            panic!()
        };
        assert_eq!(patch["metadata"]["resourceVersion"], "3");
        assert_eq!(ips(&patch["subsets"][0]["addresses"]), ["10.42.0.5"]);
        assert!(patch["subsets"][0].get("notReadyAddresses").is_none());
    }

    #[tokio::test]
    async fn publish_not_ready_addresses_and_headless_services_without_ports() {
        let (ctx, writer) = Context::for_tests();
        let mut svc = service("web", Some(&[("app", "web")]), vec![]);
        let spec = svc.spec.as_mut().unwrap();
        spec.cluster_ip = Some("None".into());
        spec.publish_not_ready_addresses = Some(true);
        ctx.informers.services.apply(svc);
        let mut p = pod("a", Some("10.42.0.5"), false, 8080);
        p.spec.as_mut().unwrap().hostname = Some("a".into());
        p.spec.as_mut().unwrap().subdomain = Some("web".into());
        ctx.informers.pods.apply(p);
        let (c, _) = start(&ctx);
        c.reconcile(&key()).await.unwrap();
        let ep = created(&writer.take(), "endpoints").remove(0);
        assert_eq!(ep["metadata"]["labels"][HEADLESS_LABEL], "");
        assert_eq!(ips(&ep["subsets"][0]["addresses"]), ["10.42.0.5"]);
        assert_eq!(ep["subsets"][0]["addresses"][0]["hostname"], "a");
        assert!(ep["subsets"][0].get("ports").is_none());

        let (s, _) = start_slices(&ctx);
        s.reconcile(&key()).await.unwrap();
        let slice = created(&writer.take(), "endpointslices").remove(0);
        assert_eq!(slice["endpoints"][0]["conditions"]["ready"], true);
        assert_eq!(slice["endpoints"][0]["conditions"]["serving"], false);
        assert_eq!(slice["ports"], json!([]));
        assert_eq!(slice["metadata"]["labels"][HEADLESS_LABEL], "");
    }

    #[tokio::test]
    async fn selectorless_services_are_left_alone_and_deleted_services_lose_their_endpoints() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers
            .services
            .apply(service("kubernetes", None, vec![]));
        ctx.informers.endpoints.apply(Endpoints {
            metadata: ObjectMeta {
                name: Some("kubernetes".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            subsets: None,
        });
        let (c, _) = start(&ctx);
        let (s, _) = start_slices(&ctx);
        let k = Key::new("default", "kubernetes");
        c.reconcile(&k).await.unwrap();
        s.reconcile(&k).await.unwrap();
        assert!(writer.take().is_empty());

        // A deleted selector service: its Endpoints go.
        ctx.informers.endpoints.apply(Endpoints {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("uid-ep".into()),
                ..Default::default()
            },
            subsets: None,
        });
        c.reconcile(&key()).await.unwrap();
        assert_eq!(writer.summaries(), ["delete endpoints default/web"]);
    }

    fn stored_slice(object: Value, rv: &str) -> EndpointSlice {
        let mut slice: EndpointSlice = serde_json::from_value(object).unwrap();
        slice.metadata.resource_version = Some(rv.into());
        slice
    }

    #[tokio::test]
    async fn endpoint_slices_follow_readiness_and_termination() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.services.apply(web_service());
        ctx.informers
            .pods
            .apply(pod("a", Some("10.42.0.5"), true, 8080));
        ctx.informers
            .pods
            .apply(pod("b", Some("10.42.0.6"), false, 8080));
        ctx.informers.pods.apply(pod("c", None, true, 8080));
        let mut term = pod("t", Some("10.42.0.7"), true, 8080);
        term.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        ctx.informers.pods.apply(term);
        let (s, _) = start_slices(&ctx);
        s.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert_eq!(
            calls.iter().map(Call::summary).collect::<Vec<_>>(),
            ["create endpointslices default/web-00000"]
        );
        let slice = created(&calls, "endpointslices").remove(0);
        assert_eq!(slice["metadata"]["generateName"], "web-");
        assert_eq!(slice["metadata"]["labels"][SERVICE_NAME_LABEL], "web");
        assert_eq!(slice["metadata"]["labels"][MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(slice["metadata"]["labels"]["team"], "a");
        let owner = &slice["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "Service");
        assert_eq!(owner["uid"], "uid-web");
        assert_eq!(owner["controller"], true);
        assert_eq!(slice["addressType"], "IPv4");
        assert_eq!(
            slice["ports"],
            json!([
                {"name": "http", "port": 8080, "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "protocol": "TCP"},
            ])
        );
        let eps = slice["endpoints"].as_array().unwrap();
        let conds: Vec<(&str, &Value)> = eps
            .iter()
            .map(|e| (e["targetRef"]["name"].as_str().unwrap(), &e["conditions"]))
            .collect();
        assert_eq!(
            conds,
            [
                (
                    "a",
                    &json!({"ready": true, "serving": true, "terminating": false})
                ),
                (
                    "b",
                    &json!({"ready": false, "serving": false, "terminating": false})
                ),
                (
                    "t",
                    &json!({"ready": false, "serving": true, "terminating": true})
                ),
            ]
        );
        assert_eq!(eps[0]["addresses"], json!(["10.42.0.5"]));
        assert_eq!(eps[0]["nodeName"], "n1");

        // Stored; a second reconcile before any change writes nothing.
        ctx.informers
            .endpoint_slices
            .apply(stored_slice(slice, "4"));
        s.reconcile(&key()).await.unwrap();
        assert!(writer.take().is_empty());

        // b becomes ready: the slice is patched in place.
        ctx.informers
            .pods
            .apply(pod("b", Some("10.42.0.6"), true, 8080));
        s.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert_eq!(
            calls.iter().map(Call::summary).collect::<Vec<_>>(),
            ["patch endpointslices default/web-00000"]
        );
        let Call::Patch { patch, .. } = &calls[0] else {
            panic!()
        };
        assert_eq!(patch["metadata"]["resourceVersion"], "4");
        assert_eq!(patch["endpoints"][1]["conditions"]["ready"], true);
    }

    #[tokio::test]
    async fn slices_split_by_ports_and_size_and_stale_ones_go() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.services.apply(web_service());
        for i in 0..150 {
            ctx.informers.pods.apply(pod(
                &format!("p{i:03}"),
                Some(&format!("10.42.{}.{}", i / 200, i % 200 + 1)),
                true,
                8080,
            ));
        }
        ctx.informers
            .pods
            .apply(pod("odd", Some("10.42.9.9"), true, 9999));
        // A slice of an earlier service of the same name.
        ctx.informers.endpoint_slices.apply(EndpointSlice {
            metadata: ObjectMeta {
                name: Some("web-old".into()),
                namespace: Some("default".into()),
                labels: Some(
                    [
                        (SERVICE_NAME_LABEL.to_owned(), "web".to_owned()),
                        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                    ]
                    .into(),
                ),
                owner_references: Some(vec![
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                        api_version: "v1".into(),
                        kind: "Service".into(),
                        name: "web".into(),
                        uid: "uid-previous".into(),
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                    },
                ]),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints: vec![],
            ports: None,
        });
        let (s, _) = start_slices(&ctx);
        s.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        let slices = created(&calls, "endpointslices");
        let sizes: Vec<(i64, usize)> = slices
            .iter()
            .map(|s| {
                (
                    s["ports"][0]["port"].as_i64().unwrap(),
                    s["endpoints"].as_array().unwrap().len(),
                )
            })
            .collect();
        assert_eq!(sizes, [(8080, 100), (8080, 50), (9999, 1)]);
        assert!(
            calls
                .iter()
                .any(|c| c.summary() == "delete endpointslices default/web-old")
        );

        // Until the cache shows the new slices, nothing more is created.
        s.reconcile(&key()).await.unwrap();
        assert!(writer.take().is_empty());
    }

    #[tokio::test]
    async fn slices_of_a_deleted_service_are_deleted_and_empty_services_get_a_placeholder() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.services.apply(web_service());
        let (s, _) = start_slices(&ctx);
        s.reconcile(&key()).await.unwrap();
        let slice = created(&writer.take(), "endpointslices").remove(0);
        assert_eq!(slice["endpoints"], json!([]));
        assert_eq!(slice["ports"], json!([]));
        ctx.informers
            .endpoint_slices
            .apply(stored_slice(slice, "2"));

        ctx.informers.services.delete(&key());
        s.reconcile(&key()).await.unwrap();
        assert_eq!(
            writer.summaries(),
            ["delete endpointslices default/web-00000"]
        );
    }

    #[tokio::test]
    async fn pods_map_to_the_services_selecting_them() {
        let (ctx, _) = Context::for_tests();
        ctx.informers.services.apply(web_service());
        ctx.informers.services.apply(service("all", None, vec![]));
        let p = pod("a", Some("10.42.0.5"), true, 8080);
        assert_eq!(services_of(&ctx.informers.services, &p), [key()]);
        let mut other = p.clone();
        other.metadata.namespace = Some("prod".into());
        assert!(services_of(&ctx.informers.services, &other).is_empty());
    }
}
