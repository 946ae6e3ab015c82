//! The watch cache: per storage prefix, the current objects in memory (their stored bytes and
//! revision), kept up to date by one store watch with eager progress notifications. It serves
//! lists and gets with `resourceVersion=0` ("any recent state will do", what informers list
//! with), and consistent gets (no resourceVersion) when it has caught up with the store's latest
//! acknowledged write, which in-process stores know without I/O (`Store::local_revision`); when
//! it has not, or the store cannot tell, the read goes to the store, so every read still sees
//! every write acknowledged before it, as upstream promises.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use barge_store::{EventKind, KeyValue, RangeRequest, Revision, Store, WatchItem, WatchRequest};
use tokio::sync::OnceCell;

/// The objects under one storage prefix, as of `revision`.
#[derive(Debug, Default)]
struct Snapshot {
    objects: BTreeMap<String, Arc<KeyValue>>,
    revision: Revision,
}

#[derive(Debug, Default)]
struct Prefix {
    snapshot: RwLock<Snapshot>,
    started: OnceCell<()>,
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
                }
                Ok(WatchItem::Progress(r)) => snap.revision = snap.revision.max(r),
                Err(e) => {
                    tracing::info!(%root, error = %e, "watch cache reloads");
                    break;
                }
            }
            revision = snap.revision;
        }
        // Not a tight loop if the store is shutting down.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        match load(store.as_ref(), &root, &prefix).await {
            Ok(r) => revision = r,
            Err(e) => tracing::warn!(%root, error = %e, "watch cache cannot reload"),
        }
    }
}
