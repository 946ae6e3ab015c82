//! The watch cache: per storage prefix, the current objects in memory (their stored bytes and
//! revision), kept up to date by one store watch with eager progress notifications. It serves
//! lists and gets with `resourceVersion=0` ("any recent state will do", what informers list
//! with), and consistent gets (no resourceVersion) when it has caught up with the store's latest
//! acknowledged write, which in-process stores know without I/O (`Store::local_revision`); when
//! it has not, or the store cannot tell, the read goes to the store, so every read still sees
//! every write acknowledged before it, as upstream promises.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use barge_store::{
    Event, EventKind, KeyValue, RangeRequest, Revision, Store, WatchItem, WatchRequest,
};
use tokio::sync::{OnceCell, broadcast};

/// How many recent changes a prefix keeps for watches that start a little in the past.
const RECENT: usize = 4096;

/// The objects under one storage prefix, as of `revision`, and its latest changes.
#[derive(Debug, Default)]
struct Snapshot {
    objects: BTreeMap<String, Arc<KeyValue>>,
    revision: Revision,
    /// The latest changes, oldest first.
    recent: VecDeque<Arc<Event>>,
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

#[derive(Debug)]
struct Prefix {
    snapshot: RwLock<Snapshot>,
    started: OnceCell<()>,
    /// Sent while the snapshot's write lock is held, so that a subscriber that took the read
    /// lock sees each change exactly once: in the snapshot's `recent` or on the channel.
    changes: broadcast::Sender<Change>,
}

impl Default for Prefix {
    fn default() -> Self {
        Self {
            snapshot: RwLock::default(),
            started: OnceCell::new(),
            changes: broadcast::Sender::new(RECENT),
        }
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
    ) -> Option<(Vec<Arc<Event>>, broadcast::Receiver<Change>)> {
        let prefix = self.prefix(store, root).await.ok()?;
        let snap = prefix.snapshot.read().unwrap_or_else(|p| p.into_inner());
        if after < snap.complete_after || after > snap.revision {
            return None;
        }
        let replay = snap
            .recent
            .iter()
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
                    snap.recent.push_back(e.clone());
                    if snap.recent.len() > RECENT
                        && let Some(old) = snap.recent.pop_front()
                    {
                        snap.complete_after = old.revision();
                    }
                    let _ = prefix.changes.send(Change::Event(e));
                }
                Ok(WatchItem::Progress(r)) => {
                    snap.revision = snap.revision.max(r);
                    let _ = prefix.changes.send(Change::Progress(snap.revision));
                }
                Err(e) => {
                    tracing::info!(%root, error = %e, "watch cache reloads");
                    break;
                }
            }
            revision = snap.revision;
        }
        // The changes between here and the reload are not sent: watchers must start again.
        let _ = prefix.changes.send(Change::Reset);
        // Not a tight loop if the store is shutting down.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        match load(store.as_ref(), &root, &prefix).await {
            Ok(r) => revision = r,
            Err(e) => tracing::warn!(%root, error = %e, "watch cache cannot reload"),
        }
    }
}
