//! Shared informers: one watch per resource kept in an in-memory cache that every component
//! of a process reads, with secondary indexes and a broadcast of changes.
//!
//! An [`Informer`] runs kube-rs's `watcher` (list, then watch, relisting after errors) and
//! applies each event to its [`Cache`]. Subscribers get a [`Change`] per applied event; after a
//! relist, the differences from the previous state are sent as ordinary changes, so a
//! subscriber never has to tell a relist from live events. A subscriber that falls behind gets
//! [`Change::Resynced`] and should requeue everything it cares about. Cached objects are kept
//! without their managedFields.
//!
//! Each subscriber has a queue of its own that holds only what it has not read yet (a
//! broadcast ring of [`CHANGES`] slots would be allocated whole for every informer: about 1 MiB
//! each, most of an idle control plane's memory).

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures_util::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};

/// How many changes a slow subscriber may fall behind before it gets [`Change::Resynced`].
const CHANGES: usize = 16_384;

/// The name of an object in a cache: its namespace ("" for cluster-scoped) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub fn of<K: Resource>(object: &K) -> Self {
        Self::new(
            object.meta().namespace.clone().unwrap_or_default(),
            object.meta().name.clone().unwrap_or_default(),
        )
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// What happened to one object of an informer's cache.
#[derive(Debug)]
pub enum Change<K> {
    /// Created (no `old`) or updated.
    Applied { old: Option<Arc<K>>, new: Arc<K> },
    /// Deleted; the last state the cache had.
    Deleted(Arc<K>),
    /// The subscriber missed changes: everything may have changed.
    Resynced,
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Change::Applied { old, new } => Change::Applied {
                old: old.clone(),
                new: new.clone(),
            },
            Change::Deleted(k) => Change::Deleted(k.clone()),
            Change::Resynced => Change::Resynced,
        }
    }
}

impl<K> Change<K> {
    /// The object the change is about (the new state, or the deleted one).
    pub fn object(&self) -> Option<&Arc<K>> {
        match self {
            Change::Applied { new, .. } => Some(new),
            Change::Deleted(k) => Some(k),
            Change::Resynced => None,
        }
    }
}

/// A secondary index: the values an object is filed under (e.g. a pod's node name).
pub type IndexFn<K> = fn(&K) -> Vec<String>;

/// The in-memory objects of one resource, with the namespace index and any secondary indexes.
pub struct Cache<K> {
    state: RwLock<State<K>>,
    indexers: Vec<(&'static str, IndexFn<K>)>,
}

impl<K: Resource> Debug for Cache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

struct State<K> {
    objects: HashMap<Key, Arc<K>>,
    /// Index name → value → keys; the namespace index is named "".
    indexes: HashMap<&'static str, HashMap<String, HashSet<Key>>>,
}

const NAMESPACE: &str = "";

impl<K: Resource> Cache<K> {
    fn new(indexers: Vec<(&'static str, IndexFn<K>)>) -> Self {
        Self {
            state: RwLock::new(State {
                objects: HashMap::new(),
                indexes: HashMap::new(),
            }),
            indexers,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State<K>> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State<K>> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.read().objects.get(&Key::new(namespace, name)).cloned()
    }

    pub fn get_key(&self, key: &Key) -> Option<Arc<K>> {
        self.read().objects.get(key).cloned()
    }

    /// Every object, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().objects.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The objects of one namespace.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.by_index(NAMESPACE, namespace)
    }

    /// The objects filed under `value` by the index named `index`.
    pub fn by_index(&self, index: &str, value: &str) -> Vec<Arc<K>> {
        let state = self.read();
        let Some(keys) = state.indexes.get(index).and_then(|i| i.get(value)) else {
            return Vec::new();
        };
        keys.iter()
            .filter_map(|k| state.objects.get(k).cloned())
            .collect()
    }

    fn index_values(&self, object: &K) -> Vec<(&'static str, String)> {
        let mut values = vec![(
            NAMESPACE,
            object.meta().namespace.clone().unwrap_or_default(),
        )];
        for (name, f) in &self.indexers {
            values.extend(f(object).into_iter().map(|v| (*name, v)));
        }
        values
    }

    /// Stores `object`; returns the state it replaced.
    fn apply(&self, object: Arc<K>) -> Option<Arc<K>> {
        let key = Key::of(object.as_ref());
        let added = self.index_values(&object);
        let mut state = self.write();
        let old = state.objects.insert(key.clone(), object);
        if let Some(old) = &old {
            for (index, value) in self.index_values(old) {
                unindex(&mut state, index, &value, &key);
            }
        }
        for (index, value) in added {
            state
                .indexes
                .entry(index)
                .or_default()
                .entry(value)
                .or_default()
                .insert(key.clone());
        }
        old
    }

    fn remove(&self, key: &Key) -> Option<Arc<K>> {
        let mut state = self.write();
        let old = state.objects.remove(key)?;
        for (index, value) in self.index_values(&old) {
            unindex(&mut state, index, &value, key);
        }
        Some(old)
    }
}

fn unindex<K>(state: &mut State<K>, index: &'static str, value: &str, key: &Key) {
    if let Some(values) = state.indexes.get_mut(index)
        && let Some(keys) = values.get_mut(value)
    {
        keys.remove(key);
        if keys.is_empty() {
            values.remove(value);
        }
    }
}

/// One resource's cache, kept current by a watch, and its change broadcast.
pub struct Informer<K> {
    cache: Arc<Cache<K>>,
    changes: Arc<Fanout<K>>,
    synced: watch::Receiver<bool>,
}

/// The subscribers' queues.
struct Fanout<K> {
    subscribers: Mutex<Vec<Subscriber<K>>>,
}

struct Subscriber<K> {
    queue: mpsc::UnboundedSender<Change<K>>,
    backlog: Arc<Backlog>,
}

/// What a subscriber has not read yet, and whether it fell [`CHANGES`] behind (then nothing
/// more is queued until it has read [`Change::Resynced`]).
#[derive(Default)]
struct Backlog {
    queued: AtomicUsize,
    lagged: AtomicBool,
}

impl<K: Clone> Fanout<K> {
    fn new() -> Self {
        Self {
            subscribers: Mutex::new(Vec::new()),
        }
    }

    fn send(&self, change: Change<K>) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subscribers.retain(|s| !s.queue.is_closed());
        for s in subscribers.iter() {
            if s.backlog.lagged.load(Ordering::Acquire) {
                continue;
            }
            if s.backlog.queued.load(Ordering::Acquire) >= CHANGES {
                s.backlog.lagged.store(true, Ordering::Release);
                continue;
            }
            s.backlog.queued.fetch_add(1, Ordering::AcqRel);
            let _ = s.queue.send(change.clone());
        }
    }

    fn subscribe(&self) -> Subscription<K> {
        let (queue, changes) = mpsc::unbounded_channel();
        let backlog = Arc::<Backlog>::default();
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Subscriber {
                queue,
                backlog: backlog.clone(),
            });
        Subscription { changes, backlog }
    }

    fn receiver_count(&self) -> usize {
        let subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subscribers.iter().filter(|s| !s.queue.is_closed()).count()
    }
}

impl<K> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
            changes: self.changes.clone(),
            synced: self.synced.clone(),
        }
    }
}

impl<K> Debug for Informer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Informer")
            .field("synced", &*self.synced.borrow())
            .finish_non_exhaustive()
    }
}

/// Builds an [`Informer`], optionally with secondary indexes.
#[derive(Debug)]
pub struct Builder<K> {
    indexers: Vec<(&'static str, IndexFn<K>)>,
}

impl<K> Default for Builder<K> {
    fn default() -> Self {
        Self {
            indexers: Vec::new(),
        }
    }
}

impl<K> Builder<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// Files every object under the values `f` returns, looked up with [`Cache::by_index`].
    pub fn index(mut self, name: &'static str, f: IndexFn<K>) -> Self {
        assert_ne!(name, NAMESPACE, "the unnamed index is the namespace index");
        self.indexers.push((name, f));
        self
    }

    /// Starts watching `api` on the current runtime.
    pub fn start(self, api: Api<K>, config: watcher::Config) -> Informer<K> {
        let (informer, synced) = self.build();
        let handle = informer.clone();
        tokio::spawn(async move {
            // managedFields are the API server's bookkeeping; no component reads them, and
            // they are about half of an object's size.
            let events = watcher::watcher(api, config)
                .default_backoff()
                .modify(|o| o.meta_mut().managed_fields = None);
            let mut events = std::pin::pin!(events);
            let mut relist = Vec::new();
            while let Some(event) = events.next().await {
                match event {
                    Ok(event) => handle.handle(event, &mut relist, &synced),
                    Err(e) => tracing::debug!(error = %e, "watch failed; retrying with backoff"),
                }
                if handle.changes.receiver_count() == 0 && Arc::strong_count(&handle.cache) == 1 {
                    break; // every other handle is gone
                }
            }
        });
        informer
    }

    /// A cache filled with `objects` and no watch behind it, for tests.
    pub fn seeded(self, objects: impl IntoIterator<Item = K>) -> Informer<K> {
        let (informer, synced) = self.build();
        for object in objects {
            informer.cache.apply(Arc::new(object));
        }
        let _ = synced.send(true);
        informer
    }

    fn build(self) -> (Informer<K>, watch::Sender<bool>) {
        let (synced_tx, synced) = watch::channel(false);
        let informer = Informer {
            cache: Arc::new(Cache::new(self.indexers)),
            changes: Arc::new(Fanout::new()),
            synced,
        };
        (informer, synced_tx)
    }
}

impl<K> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    pub fn builder() -> Builder<K> {
        Builder::default()
    }

    /// Starts watching `api` (all objects it covers) with no secondary indexes.
    pub fn start(api: Api<K>) -> Self {
        Builder::default().start(api, watcher::Config::default().any_semantic())
    }

    /// A cache filled with `objects` and no watch behind it, for tests.
    pub fn seeded(objects: impl IntoIterator<Item = K>) -> Self {
        Builder::default().seeded(objects)
    }

    pub fn cache(&self) -> &Cache<K> {
        &self.cache
    }

    pub fn subscribe(&self) -> Subscription<K> {
        self.changes.subscribe()
    }

    /// Waits until the first full list is in the cache.
    pub async fn synced(&self) {
        let mut synced = self.synced.clone();
        let _ = synced.wait_for(|s| *s).await;
    }

    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Applies an object to the cache as if it had been watched (tests, and writers that want
    /// their own writes visible before the watch delivers them).
    pub fn apply(&self, object: K) {
        let new = Arc::new(object);
        let old = self.cache.apply(new.clone());
        self.changes.send(Change::Applied { old, new });
    }

    /// Removes an object from the cache as if its deletion had been watched.
    pub fn delete(&self, key: &Key) {
        if let Some(old) = self.cache.remove(key) {
            self.changes.send(Change::Deleted(old));
        }
    }

    fn handle(&self, event: Event<K>, relist: &mut Vec<K>, synced: &watch::Sender<bool>) {
        match event {
            Event::Apply(object) => self.apply(object),
            Event::Delete(object) => self.delete(&Key::of(&object)),
            Event::Init => relist.clear(),
            Event::InitApply(object) => relist.push(object),
            Event::InitDone => {
                let listed: HashSet<Key> = relist.iter().map(Key::of).collect();
                for old in self.cache.list() {
                    let key = Key::of(old.as_ref());
                    if !listed.contains(&key) {
                        self.delete(&key);
                    }
                }
                for object in relist.drain(..) {
                    let unchanged = self
                        .cache
                        .get_key(&Key::of(&object))
                        .is_some_and(|old| old.resource_version() == object.resource_version());
                    if !unchanged {
                        self.apply(object);
                    }
                }
                let _ = synced.send(true);
            }
        }
    }
}

/// A subscriber's view of an informer's changes.
pub struct Subscription<K> {
    changes: mpsc::UnboundedReceiver<Change<K>>,
    backlog: Arc<Backlog>,
}

impl<K> Debug for Subscription<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("queued", &self.backlog.queued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<K: Clone> Subscription<K> {
    /// The next change; [`Change::Resynced`] if some were missed; `None` once the informer is
    /// gone.
    pub async fn next(&mut self) -> Option<Change<K>> {
        if self.backlog.lagged.load(Ordering::Acquire) {
            // What is still queued was applied to the cache before it was sent: the resync,
            // which reads the cache, covers it.
            while self.changes.try_recv().is_ok() {
                self.backlog.queued.fetch_sub(1, Ordering::AcqRel);
            }
            self.backlog.lagged.store(false, Ordering::Release);
            return Some(Change::Resynced);
        }
        let change = self.changes.recv().await?;
        self.backlog.queued.fetch_sub(1, Ordering::AcqRel);
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::ObjectMeta;

    fn pod(ns: &str, name: &str, node: &str, rv: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            spec: Some(k8s_openapi::api::core::v1::PodSpec {
                node_name: (!node.is_empty()).then(|| node.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn by_node(p: &Pod) -> Vec<String> {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .into_iter()
            .collect()
    }

    fn names(mut pods: Vec<Arc<Pod>>) -> Vec<String> {
        pods.sort_by_key(|p| p.name_any());
        pods.iter().map(|p| p.name_any()).collect()
    }

    #[tokio::test]
    async fn indexes_follow_updates_and_deletes() {
        let informer = Informer::builder()
            .index("node", by_node)
            .seeded([pod("a", "p1", "n1", "1"), pod("b", "p2", "n1", "2")]);
        let cache = informer.cache();
        assert_eq!(names(cache.by_index("node", "n1")), ["p1", "p2"]);
        assert_eq!(names(cache.list_namespace("a")), ["p1"]);

        let mut changes = informer.subscribe();
        informer.apply(pod("a", "p1", "n2", "3"));
        assert_eq!(names(cache.by_index("node", "n1")), ["p2"]);
        assert_eq!(names(cache.by_index("node", "n2")), ["p1"]);
        match changes.next().await {
            Some(Change::Applied {
                old: Some(old),
                new,
            }) => {
                assert_eq!(old.resource_version().as_deref(), Some("1"));
                assert_eq!(new.resource_version().as_deref(), Some("3"));
            }
            other => panic!("unexpected {other:?}"),
        }

        informer.delete(&Key::new("b", "p2"));
        assert!(cache.by_index("node", "n1").is_empty());
        assert!(cache.list_namespace("b").is_empty());
        assert!(matches!(changes.next().await, Some(Change::Deleted(_))));
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn a_relist_sends_only_the_differences() {
        let informer = Informer::seeded([pod("a", "keep", "", "1"), pod("a", "gone", "", "1")]);
        let mut changes = informer.subscribe();
        let (synced, _) = watch::channel(false);
        let mut relist = Vec::new();
        for event in [
            Event::Init,
            Event::InitApply(pod("a", "keep", "", "1")),
            Event::InitApply(pod("a", "new", "", "5")),
            Event::InitDone,
        ] {
            informer.handle(event, &mut relist, &synced);
        }
        let mut seen = Vec::new();
        for _ in 0..2 {
            match changes.next().await.unwrap() {
                Change::Deleted(p) => seen.push(format!("deleted {}", p.name_any())),
                Change::Applied { new, .. } => seen.push(format!("applied {}", new.name_any())),
                Change::Resynced => seen.push("resynced".into()),
            }
        }
        assert_eq!(seen, ["deleted gone", "applied new"]);
        assert_eq!(names(informer.cache().list()), ["keep", "new"]);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_to_resync() {
        let informer = Informer::<Pod>::seeded([]);
        let mut changes = informer.subscribe();
        for i in 0..CHANGES + 1 {
            informer.apply(pod("a", &format!("p{i}"), "", "1"));
        }
        assert!(matches!(changes.next().await, Some(Change::Resynced)));
        // After the resync, changes flow again, and an idle subscriber holds nothing.
        informer.apply(pod("a", "after", "", "1"));
        match changes.next().await {
            Some(Change::Applied { new, .. }) => assert_eq!(new.name_any(), "after"),
            other => panic!("{other:?}"),
        }
        assert_eq!(changes.backlog.queued.load(Ordering::Relaxed), 0);
        drop(informer);
        assert!(changes.next().await.is_none(), "the informer is gone");
    }
}
