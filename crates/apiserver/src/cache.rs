//! The watch cache: per storage prefix, the current objects in memory (their stored bytes and
//! revision), kept up to date by one store watch with eager progress notifications. It serves
//! lists and gets with `resourceVersion=0` ("any recent state will do", what informers list
//! with), and consistent gets (no resourceVersion) when it has caught up with the store's latest
//! acknowledged write, which in-process stores know without I/O (`Store::local_revision`); when
//! it has not, or the store cannot tell, the read goes to the store, so every read still sees
//! every write acknowledged before it, as upstream promises.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use barge_store::{
    Event, EventKind, KeyValue, RangeRequest, Revision, Store, WatchItem, WatchRequest,
};
use tokio::sync::{OnceCell, mpsc};

/// How many recent changes a prefix keeps for watches that start a little in the past, and
/// how far a watcher may fall behind before its watch is ended.
const RECENT: usize = 4096;
/// How long a change is kept for watches that start in the past (upstream's cacher keeps
/// about 75 s): an idle cluster's Lease and Node updates do not pile up.
const RECENT_FOR: Duration = Duration::from_secs(150);

/// The objects under one storage prefix, as of `revision`, and its latest changes.
#[derive(Debug, Default)]
struct Snapshot {
    objects: BTreeMap<String, Arc<KeyValue>>,
    revision: Revision,
    /// The latest changes, oldest first, with when they came.
    recent: VecDeque<(Instant, Arc<Event>)>,
    /// Every change after this revision is in `recent`.
    complete_after: Revision,
}

/// What a cache watcher receives.
#[derive(Clone, Debug)]
pub enum Change {
    Event(Arc<Event>),
    /// Every change up to this revision has been sent.
    Progress(Revision),
    /// The cache reloaded (its store watch failed): watchers must start again.
    Reset,
}

#[derive(Debug, Default)]
struct Prefix {
    snapshot: RwLock<Snapshot>,
    started: OnceCell<()>,
    /// Sent while the snapshot's write lock is held, so that a subscriber that took the read
    /// lock sees each change exactly once: in the snapshot's `recent` or on its queue.
    changes: Watchers,
}

/// One queue per watcher, holding only what it has not read yet (a broadcast ring would be
/// allocated whole for every prefix). A watcher [`RECENT`] changes behind gets
/// [`Change::Reset`] and no more.
#[derive(Debug, Default)]
struct Watchers(Mutex<Vec<(mpsc::UnboundedSender<Change>, Arc<AtomicUsize>)>>);

impl Watchers {
    fn send(&self, change: Change) {
        let mut watchers = self.0.lock().unwrap_or_else(|p| p.into_inner());
        watchers.retain(|(queue, queued)| {
            if queued.fetch_add(1, Ordering::AcqRel) >= RECENT {
                let _ = queue.send(Change::Reset);
                return false;
            }
            queue.send(change.clone()).is_ok()
        });
    }

    fn subscribe(&self) -> Subscription {
        let (queue, changes) = mpsc::unbounded_channel();
        let queued = Arc::<AtomicUsize>::default();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((queue, queued.clone()));
        Subscription { changes, queued }
    }
}

/// A watcher's queue of changes.
#[derive(Debug)]
pub struct Subscription {
    changes: mpsc::UnboundedReceiver<Change>,
    queued: Arc<AtomicUsize>,
}

impl Subscription {
    /// The next change; `None` once the cache is gone.
    pub async fn recv(&mut self) -> Option<Change> {
        let change = self.changes.recv().await?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Some(change)
    }
}

#[derive(Debug, Default)]
pub struct WatchCache {
    prefixes: Mutex<HashMap<String, Arc<Prefix>>>,
}

impl WatchCache {
    /// The objects whose keys start with `key_prefix` (within the storage `root`), and the
    /// revision they are at. The first call for a root fills it from the store and starts its
    /// watch.
    pub async fn list(
        &self,
        store: &Arc<dyn Store>,
        root: &str,
        key_prefix: &str,
    ) -> Result<(Vec<Arc<KeyValue>>, Revision), barge_store::Error> {
        let prefix = self.prefix(store, root).await?;
        let snap = prefix.snapshot.read().unwrap_or_else(|p| p.into_inner());
        let objects = snap
            .objects
            .range(key_prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(key_prefix))
            .map(|(_, v)| v.clone())
            .collect();
        Ok((objects, snap.revision))
    }

    /// One object, if the cache has it.
    pub async fn get(
        &self,
        store: &Arc<dyn Store>,
        root: &str,
        key: &str,
    ) -> Result<(Option<Arc<KeyValue>>, Revision), barge_store::Error> {
        let prefix = self.prefix(store, root).await?;
        let snap = prefix.snapshot.read().unwrap_or_else(|p| p.into_inner());
        Ok((snap.objects.get(key).cloned(), snap.revision))
    }

    /// Follows the changes under `root` after revision `after`: the recent changes since then
    /// and a channel for the next ones. `None` when the cache cannot serve that revision (it is
    /// older than the changes the cache kept, or newer than the cache), and the store must.
    pub async fn subscribe(
        &self,
        store: &Arc<dyn Store>,
        root: &str,
        after: Revision,
    ) -> Option<(Vec<Arc<Event>>, Subscription)> {
        let prefix = self.prefix(store, root).await.ok()?;
        let snap = prefix.snapshot.read().unwrap_or_else(|p| p.into_inner());
        if after < snap.complete_after || after > snap.revision {
            return None;
        }
        let replay = snap
            .recent
            .iter()
            .map(|(_, e)| e)
            .filter(|e| e.revision() > after)
            .cloned()
            .collect();
        Some((replay, prefix.changes.subscribe()))
    }

    async fn prefix(
        &self,
        store: &Arc<dyn Store>,
        root: &str,
    ) -> Result<Arc<Prefix>, barge_store::Error> {
        let prefix = {
            let mut prefixes = self.prefixes.lock().unwrap_or_else(|p| p.into_inner());
            match prefixes.get(root) {
                Some(p) => p.clone(),
                None => prefixes.entry(root.to_owned()).or_default().clone(),
            }
        };
        prefix
            .started
            .get_or_try_init(|| fill(store.clone(), root.to_owned(), prefix.clone()))
            .await?;
        Ok(prefix)
    }
}

/// Loads a prefix and starts the task that follows it.
async fn fill(
    store: Arc<dyn Store>,
    root: String,
    prefix: Arc<Prefix>,
) -> Result<(), barge_store::Error> {
    let revision = load(store.as_ref(), &root, &prefix).await?;
    tokio::spawn(follow(store, root, prefix, revision));
    Ok(())
}

async fn load(
    store: &dyn Store,
    root: &str,
    prefix: &Prefix,
) -> Result<Revision, barge_store::Error> {
    let page = store.range(RangeRequest::prefix(root)).await?;
    let objects = page
        .kvs
        .into_iter()
        .map(|kv| (kv.key.clone(), Arc::new(kv)))
        .collect();
    *prefix.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Snapshot {
        objects,
        revision: page.revision,
        recent: VecDeque::new(),
        complete_after: page.revision,
    };
    Ok(page.revision)
}

/// Applies the store's changes to the snapshot, for as long as the server runs. If the watch
/// ends (its history was compacted away under a slow consumer), the prefix is loaded again.
async fn follow(store: Arc<dyn Store>, root: String, prefix: Arc<Prefix>, mut revision: Revision) {
    loop {
        let request = WatchRequest {
            prefix: root.clone(),
            after: Some(revision),
            progress_interval: Some(std::time::Duration::ZERO),
        };
        let mut watch = match store.watch(request).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(%root, error = %e, "watch cache cannot watch; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(item) = watch.next().await {
            let mut snap = prefix.snapshot.write().unwrap_or_else(|p| p.into_inner());
            match item {
                Ok(WatchItem::Event(e)) => {
                    match e.kind {
                        EventKind::Put => {
                            snap.objects
                                .insert(e.kv.key.clone(), Arc::new(e.kv.clone()));
                        }
                        EventKind::Delete => {
                            snap.objects.remove(&e.kv.key);
                        }
                    }
                    snap.revision = e.revision();
                    let e = Arc::new(e);
                    let now = Instant::now();
                    snap.recent.push_back((now, e.clone()));
                    while snap.recent.front().is_some_and(|(at, _)| {
                        snap.recent.len() > RECENT || now.duration_since(*at) > RECENT_FOR
                    }) {
                        if let Some((_, old)) = snap.recent.pop_front() {
                            snap.complete_after = old.revision();
                        }
                    }
                    prefix.changes.send(Change::Event(e));
                }
                Ok(WatchItem::Progress(r)) => {
                    snap.revision = snap.revision.max(r);
                    prefix.changes.send(Change::Progress(snap.revision));
                }
                Err(e) => {
                    tracing::info!(%root, error = %e, "watch cache reloads");
                    break;
                }
            }
            revision = snap.revision;
        }
        // The changes between here and the reload are not sent: watchers must start again.
        prefix.changes.send(Change::Reset);
        // Not a tight loop if the store is shutting down.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        match load(store.as_ref(), &root, &prefix).await {
            Ok(r) => revision = r,
            Err(e) => tracing::warn!(%root, error = %e, "watch cache cannot reload"),
        }
    }
}
