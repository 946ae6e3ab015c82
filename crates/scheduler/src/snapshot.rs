//! The scheduler's view of the cluster, kept incrementally from the informers: one
//! [`NodeInfo`] per node (its pods, requested resources, used host ports, how many of its pods
//! declare affinity), the namespaces' labels, the selectors of the objects that own pods, and
//! cached pod counters.
//!
//! A scheduling cycle reads the [`Cluster`] by shared reference (the cheap per-cycle view);
//! changes are applied between cycles. Upstream copies a `Snapshot` out of its cache each cycle;
//! here the scheduling loop owns the cluster, so the view is the cluster itself.
//!
//! Counting the pods a selector matches, per node, is what topology spreading and inter-pod
//! affinity need; doing it by walking every pod would cost O(all pods) per scheduled pod. A
//! [`Counter`] is computed once per (namespaces, selector) and then kept current as pods come
//! and go, indexed by one label pair its selector requires so that adding a pod only checks the
//! counters that could match it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::podinfo::{HostPort, NamespaceScope, PodInfo};
use crate::resources::Resource;
use crate::selector::{Labels, Selector, node_labels};

/// A small, fast hasher for integer and short string keys (FxHash's multiply-rotate), used
/// by the maps a cycle consults per node; not resistant to crafted collisions, which is
/// fine for keys the scheduler makes itself (slots, label values).
#[derive(Clone, Copy, Debug, Default)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(b));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map with [`FxHasher`].
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// One node and the pods assigned (or assumed) to it.
#[derive(Debug, Default)]
pub struct NodeInfo {
    /// The node's index in the cluster (stable while the node exists).
    pub slot: usize,
    pub name: String,
    /// `None` for a placeholder: pods name a node the scheduler has not seen (or that was
    /// deleted while pods remained).
    pub node: Option<Arc<Node>>,
    pub pods: Vec<Arc<PodInfo>>,
    pub requested: Resource,
    pub non_zero_requested: Resource,
    pub allocatable: Resource,
    pub used_ports: Vec<HostPort>,
    pub pods_with_affinity: usize,
    pub pods_with_required_anti_affinity: usize,
}

impl NodeInfo {
    pub fn labels(&self) -> &Labels {
        static EMPTY: Labels = Labels::new();
        self.node.as_deref().map(node_labels).unwrap_or(&EMPTY)
    }

    pub fn taints(&self) -> &[Taint] {
        self.node
            .as_deref()
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.taints.as_deref())
            .unwrap_or_default()
    }

    pub fn unschedulable(&self) -> bool {
        self.node
            .as_deref()
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
    }

    fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.milli_cpu += pod.non_zero.milli_cpu;
        self.non_zero_requested.memory += pod.non_zero.memory;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity() {
            self.pods_with_affinity += 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(pod);
    }

    fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.key == key)?;
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod.requests);
        self.non_zero_requested.milli_cpu -= pod.non_zero.milli_cpu;
        self.non_zero_requested.memory -= pod.non_zero.memory;
        for hp in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(j);
            }
        }
        if pod.has_affinity() {
            self.pods_with_affinity -= 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity -= 1;
        }
        Some(pod)
    }
}

/// Which pods a counter counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodQuery {
    pub scope: NamespaceScope,
    pub selector: Selector,
    /// Whether pods being deleted count (topology spreading leaves them out; affinity does not).
    pub include_terminating: bool,
}

/// How many pods a [`PodQuery`] matches on each node (by slot), nodes without any left out.
#[derive(Clone, Debug, Default)]
pub struct Counter {
    pub per_node: FastMap<usize, u32>,
    pub total: u64,
}

impl Counter {
    pub fn on(&self, slot: usize) -> u32 {
        self.per_node.get(&slot).copied().unwrap_or(0)
    }
}

/// Counters beyond this many are all dropped (and recomputed on demand).
const MAX_COUNTERS: usize = 4096;

#[derive(Debug, Default)]
struct Counters {
    slab: Vec<(PodQuery, Arc<Counter>)>,
    by_query: HashMap<PodQuery, usize>,
    /// label key → value → counters whose selector requires that pair.
    anchored: HashMap<String, HashMap<String, Vec<usize>>>,
    unanchored: Vec<usize>,
}

impl Counters {
    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// The selectors of the objects that own or select pods, for the default spreading
/// constraints (upstream's `DefaultSelector`).
#[derive(Debug, Default)]
pub struct Owners {
    /// namespace → service name → selector.
    pub services: HashMap<String, HashMap<String, Labels>>,
    /// (namespace, name) → selector.
    pub replica_sets: HashMap<(String, String), Selector>,
    pub stateful_sets: HashMap<(String, String), Selector>,
    pub replication_controllers: HashMap<(String, String), Labels>,
}

impl Owners {
    /// The selector that finds the pods spread together with `pod`: the merged selectors of the
    /// services selecting it, plus its controller's (ReplicationController, ReplicaSet or
    /// StatefulSet). Empty when there is none.
    pub fn default_selector(&self, pod: &PodInfo) -> Selector {
        let labels = pod.labels();
        let mut set = Labels::new();
        for selector in self
            .services
            .get(&pod.namespace)
            .into_iter()
            .flat_map(|s| s.values())
        {
            if selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                set.extend(selector.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let owner = pod
            .pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true));
        let Some(owner) = owner else {
            return Selector::from_map(&set);
        };
        let key = (pod.namespace.clone(), owner.name.clone());
        let group = owner
            .api_version
            .split_once('/')
            .map(|(g, _)| g)
            .unwrap_or("");
        match (group, owner.kind.as_str()) {
            ("", "ReplicationController") => {
                if let Some(rc) = self.replication_controllers.get(&key) {
                    set.extend(rc.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                Selector::from_map(&set)
            }
            ("apps", "ReplicaSet") | ("apps", "StatefulSet") => {
                let mut selector = Selector::from_map(&set);
                let owner_selector = if owner.kind == "ReplicaSet" {
                    self.replica_sets.get(&key)
                } else {
                    self.stateful_sets.get(&key)
                };
                if let Some(s) = owner_selector.filter(|s| !s.nothing) {
                    for r in &s.requirements {
                        selector.add(r.clone());
                    }
                }
                selector
            }
            _ => Selector::from_map(&set),
        }
    }
}

/// Every node and assigned pod the scheduler knows, kept current from the informers.
#[derive(Debug, Default)]
pub struct Cluster {
    nodes: Vec<NodeInfo>,
    by_name: HashMap<String, usize>,
    free: Vec<usize>,
    /// Slots holding a real node, in the order nodes arrived (the order filters visit them).
    order: Vec<usize>,
    /// Assigned and assumed pods: key → slot.
    pods: HashMap<String, (usize, Arc<PodInfo>)>,
    assumed: HashSet<String>,
    /// Slots with pods that declare affinity / required anti-affinity.
    affinity_slots: HashSet<usize>,
    anti_affinity_slots: HashSet<usize>,
    namespaces: HashMap<String, Labels>,
    /// Assigned pods by label pair, so that a new counter only examines candidates.
    by_label: HashMap<(String, String), HashSet<String>>,
    pub owners: Owners,
    counters: Mutex<Counters>,
}

impl Cluster {
    pub fn new() -> Self {
        Self::default()
    }

    fn slot_for(&mut self, name: &str) -> usize {
        if let Some(s) = self.by_name.get(name) {
            return *s;
        }
        let slot = self.free.pop().unwrap_or(self.nodes.len());
        let info = NodeInfo {
            slot,
            name: name.to_owned(),
            ..Default::default()
        };
        if slot == self.nodes.len() {
            self.nodes.push(info);
        } else {
            self.nodes[slot] = info;
        }
        self.by_name.insert(name.to_owned(), slot);
        slot
    }

    /// Adds or replaces a node.
    pub fn set_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let slot = self.slot_for(&name);
        let info = &mut self.nodes[slot];
        if info.node.is_none() {
            self.order.push(slot);
        }
        info.allocatable = Resource::allocatable(&node);
        info.node = Some(node);
    }

    /// Removes a node; its pods keep a placeholder until they go.
    pub fn remove_node(&mut self, name: &str) {
        let Some(&slot) = self.by_name.get(name) else {
            return;
        };
        self.order.retain(|s| *s != slot);
        let info = &mut self.nodes[slot];
        info.node = None;
        info.allocatable = Resource::default();
        if info.pods.is_empty() {
            self.release(slot);
        }
    }

    fn release(&mut self, slot: usize) {
        let name = std::mem::take(&mut self.nodes[slot].name);
        self.by_name.remove(&name);
        self.nodes[slot] = NodeInfo {
            slot,
            ..Default::default()
        };
        self.free.push(slot);
        self.counters
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Adds or replaces an assigned pod (confirming it if it was assumed).
    pub fn set_pod(&mut self, pod: Arc<PodInfo>) {
        let Some(node) = pod.node_name().map(str::to_owned) else {
            return;
        };
        self.remove_pod(&pod.key);
        let slot = self.slot_for(&node);
        self.insert_pod(slot, pod);
    }

    fn insert_pod(&mut self, slot: usize, pod: Arc<PodInfo>) {
        self.count_pod(&pod, slot, 1);
        for (k, v) in pod.labels() {
            self.by_label
                .entry((k.clone(), v.clone()))
                .or_default()
                .insert(pod.key.clone());
        }
        let info = &mut self.nodes[slot];
        info.add_pod(pod.clone());
        if info.pods_with_affinity > 0 {
            self.affinity_slots.insert(slot);
        }
        if info.pods_with_required_anti_affinity > 0 {
            self.anti_affinity_slots.insert(slot);
        }
        self.pods.insert(pod.key.clone(), (slot, pod));
    }

    /// Removes an assigned or assumed pod.
    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let (slot, _) = self.pods.remove(key)?;
        self.assumed.remove(key);
        let info = &mut self.nodes[slot];
        let pod = info.remove_pod(key)?;
        if info.pods_with_affinity == 0 {
            self.affinity_slots.remove(&slot);
        }
        if info.pods_with_required_anti_affinity == 0 {
            self.anti_affinity_slots.remove(&slot);
        }
        let placeholder_done = info.node.is_none() && info.pods.is_empty();
        self.count_pod(&pod, slot, -1);
        for (k, v) in pod.labels() {
            let pair = (k.clone(), v.clone());
            if let Some(keys) = self.by_label.get_mut(&pair) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_label.remove(&pair);
                }
            }
        }
        if placeholder_done {
            self.release(slot);
        }
        Some(pod)
    }

    /// Puts a pod on a node before its binding is confirmed (upstream's assume).
    pub fn assume(&mut self, pod: Arc<PodInfo>, slot: usize) {
        self.remove_pod(&pod.key);
        self.assumed.insert(pod.key.clone());
        self.insert_pod(slot, pod);
    }

    /// Takes back an assumed pod whose binding failed (upstream's forget).
    pub fn forget(&mut self, key: &str) {
        if self.assumed.contains(key) {
            self.remove_pod(key);
        }
    }

    pub fn is_assumed(&self, key: &str) -> bool {
        self.assumed.contains(key)
    }

    pub fn pod(&self, key: &str) -> Option<&Arc<PodInfo>> {
        self.pods.get(key).map(|(_, p)| p)
    }

    /// Every assigned or assumed pod's key.
    pub fn pod_keys(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    /// Every node's name.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes().map(|n| n.name.clone()).collect()
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// The nodes to schedule on, in a stable order.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &NodeInfo> + '_ {
        self.order.iter().map(|s| &self.nodes[*s])
    }

    pub fn node_count(&self) -> usize {
        self.order.len()
    }

    /// The `i`-th node of [`Cluster::nodes`].
    pub fn nth_node(&self, i: usize) -> Option<&NodeInfo> {
        self.order.get(i).map(|s| &self.nodes[*s])
    }

    pub fn node(&self, slot: usize) -> &NodeInfo {
        &self.nodes[slot]
    }

    pub fn node_by_name(&self, name: &str) -> Option<&NodeInfo> {
        self.by_name
            .get(name)
            .map(|s| &self.nodes[*s])
            .filter(|n| n.node.is_some())
    }

    /// Nodes with pods that declare pod affinity or anti-affinity.
    pub fn nodes_with_affinity(&self) -> impl Iterator<Item = &NodeInfo> + '_ {
        self.affinity_slots
            .iter()
            .map(|s| &self.nodes[*s])
            .filter(|n| n.node.is_some())
    }

    /// Nodes with pods that declare required anti-affinity.
    pub fn nodes_with_required_anti_affinity(&self) -> impl Iterator<Item = &NodeInfo> + '_ {
        self.anti_affinity_slots
            .iter()
            .map(|s| &self.nodes[*s])
            .filter(|n| n.node.is_some())
    }

    pub fn set_namespace(&mut self, name: &str, labels: Labels) {
        if self.namespaces.get(name) != Some(&labels) {
            self.namespaces.insert(name.to_owned(), labels);
            self.clear_counters();
        }
    }

    pub fn remove_namespace(&mut self, name: &str) {
        if self.namespaces.remove(name).is_some() {
            self.clear_counters();
        }
    }

    pub fn namespace_labels(&self, name: &str) -> Option<&Labels> {
        self.namespaces.get(name)
    }

    fn clear_counters(&mut self) {
        self.counters
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn query_matches(q: &PodQuery, pod: &PodInfo, namespaces: &HashMap<String, Labels>) -> bool {
        (q.include_terminating || !pod.terminating)
            && q.scope.matches(&pod.namespace, &|ns| namespaces.get(ns))
            && q.selector.matches(pod.labels())
    }

    fn count_pod(&mut self, pod: &PodInfo, slot: usize, delta: i64) {
        let counters = self.counters.get_mut().unwrap_or_else(|e| e.into_inner());
        if counters.slab.is_empty() {
            return;
        }
        let mut candidates: Vec<usize> = counters.unanchored.clone();
        for (k, v) in pod.labels() {
            if let Some(ids) = counters.anchored.get(k).and_then(|m| m.get(v)) {
                candidates.extend_from_slice(ids);
            }
        }
        for id in candidates {
            let (q, counter) = &mut counters.slab[id];
            if Self::query_matches(q, pod, &self.namespaces) {
                let c = Arc::make_mut(counter);
                let e = c.per_node.entry(slot).or_default();
                if delta > 0 {
                    *e += 1;
                    c.total += 1;
                } else {
                    *e = e.saturating_sub(1);
                    c.total = c.total.saturating_sub(1);
                    if *e == 0 {
                        c.per_node.remove(&slot);
                    }
                }
            }
        }
    }

    /// How many pods `query` matches on each node; computed on first use, then kept current.
    pub fn count(&self, query: &PodQuery) -> Arc<Counter> {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = counters.by_query.get(query) {
            return counters.slab[*id].1.clone();
        }
        if counters.slab.len() >= MAX_COUNTERS {
            counters.clear();
        }
        let mut counter = Counter::default();
        let mut consider = |slot: usize, pod: &PodInfo| {
            if Self::query_matches(query, pod, &self.namespaces) {
                *counter.per_node.entry(slot).or_default() += 1;
                counter.total += 1;
            }
        };
        match query.selector.anchor() {
            _ if query.selector.nothing => {}
            Some((k, v)) => {
                let pair = (k.to_owned(), v.to_owned());
                for key in self.by_label.get(&pair).into_iter().flatten() {
                    if let Some((slot, pod)) = self.pods.get(key) {
                        consider(*slot, pod);
                    }
                }
            }
            None => {
                for (slot, pod) in self.pods.values() {
                    consider(*slot, pod);
                }
            }
        }
        let counter = Arc::new(counter);
        let id = counters.slab.len();
        counters.slab.push((query.clone(), counter.clone()));
        counters.by_query.insert(query.clone(), id);
        if !query.selector.nothing {
            match query.selector.anchor() {
                Some((k, v)) => counters
                    .anchored
                    .entry(k.to_owned())
                    .or_default()
                    .entry(v.to_owned())
                    .or_default()
                    .push(id),
                None => counters.unanchored.push(id),
            }
        }
        counter
    }
}
