//! The reconcile runner every controller shares: a keyed work queue with client-go's
//! semantics and a pool of workers.
//!
//! - A key added while queued is queued once; a key added while being reconciled is queued
//!   again when that reconcile ends, so one key is never reconciled twice at once.
//! - A failed reconcile is retried after a per-key exponential backoff (5 ms doubling up to
//!   `max_backoff`), reset by the next success.
//! - A reconcile may ask to be run again after a delay (e.g. a deadline to check).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use barge_client::informer::{Change, Informer, Key, Subscription};
use kube::Resource;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

/// One controller's reconcile function.
#[async_trait]
pub trait Reconciler: Send + Sync + 'static {
    /// The controller's name, for logs (e.g. `deployment`).
    fn name(&self) -> &'static str;

    /// Brings the object named `key` to its desired state. `Ok(Some(d))` asks to be run
    /// again after `d` even if nothing changes.
    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>>;
}

#[derive(Default)]
struct State {
    queue: VecDeque<Key>,
    /// Queued or waiting for its reconcile to end.
    dirty: HashSet<Key>,
    processing: HashSet<Key>,
    failures: HashMap<Key, u32>,
    shut_down: bool,
}

/// A keyed work queue; clones share it.
#[derive(Clone, Default)]
pub struct Queue {
    state: Arc<Mutex<State>>,
    ready: Arc<Notify>,
    max_backoff: Option<Duration>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Queue")
            .field("queued", &state.queue.len())
            .field("processing", &state.processing.len())
            .finish()
    }
}

const BASE_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1000);

impl Queue {
    pub fn new() -> Self {
        Self::default()
    }

    /// A queue whose retry backoff stops growing at `max` (tests use a small one).
    pub fn with_max_backoff(max: Duration) -> Self {
        Self {
            max_backoff: Some(max),
            ..Self::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `key` unless it is queued already.
    pub fn add(&self, key: Key) {
        let mut state = self.lock();
        if state.shut_down || !state.dirty.insert(key.clone()) {
            return;
        }
        if !state.processing.contains(&key) {
            state.queue.push_back(key);
            drop(state);
            self.ready.notify_one();
        }
    }

    /// Queues `key` after `delay`.
    pub fn add_after(&self, key: Key, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(key);
        });
    }

    /// Queues `key` again after its backoff, which doubles with each failure.
    pub fn add_rate_limited(&self, key: Key) {
        let failures = {
            let mut state = self.lock();
            let n = state.failures.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        let max = self.max_backoff.unwrap_or(MAX_BACKOFF);
        let delay = BASE_BACKOFF
            .checked_mul(1 << (failures - 1).min(30))
            .unwrap_or(max)
            .min(max);
        self.add_after(key, delay);
    }

    /// Resets `key`'s backoff.
    pub fn forget(&self, key: &Key) {
        self.lock().failures.remove(key);
    }

    /// How many times `key` has failed in a row.
    pub fn failures(&self, key: &Key) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// The next key to reconcile; `None` once the queue is shut down.
    pub async fn next(&self) -> Option<Key> {
        loop {
            let notified = self.ready.notified();
            {
                let mut state = self.lock();
                if state.shut_down {
                    return None;
                }
                if let Some(key) = state.queue.pop_front() {
                    state.dirty.remove(&key);
                    state.processing.insert(key.clone());
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// Marks `key`'s reconcile as ended, queueing it again if it was added meanwhile.
    pub fn done(&self, key: &Key) {
        let mut state = self.lock();
        state.processing.remove(key);
        if state.dirty.contains(key) {
            state.queue.push_back(key.clone());
            drop(state);
            self.ready.notify_one();
        }
    }

    /// Stops handing out keys.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.ready.notify_waiters();
    }

    /// How many keys wait (not counting those being reconciled).
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Runs `reconciler` on the keys of `queue` with `workers` concurrent reconciles, until the
/// queue is shut down.
pub async fn run(reconciler: Arc<dyn Reconciler>, queue: Queue, workers: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let (reconciler, queue) = (reconciler.clone(), queue.clone());
        tasks.spawn(async move {
            while let Some(key) = queue.next().await {
                match reconciler.reconcile(&key).await {
                    Ok(again) => {
                        queue.forget(&key);
                        if let Some(delay) = again {
                            queue.add_after(key.clone(), delay);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(
                            controller = reconciler.name(),
                            %key,
                            error = format!("{e:#}"),
                            "reconcile failed; retrying"
                        );
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Queues the keys `map` derives from every change of `informer` (from the old and the new
/// state of an update); after a missed change, the keys of everything in the cache. `map` may
/// read other caches (e.g. the services selecting a pod).
pub fn enqueue<K>(
    informer: &Informer<K>,
    queue: &Queue,
    map: impl Fn(&K) -> Vec<Key> + Send + Sync + 'static,
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    follow(informer, queue, map, false);
}

/// Like [`enqueue`], for deletions only (e.g. a Recreate rollout waits for old pods to go).
pub fn enqueue_deleted<K>(
    informer: &Informer<K>,
    queue: &Queue,
    map: impl Fn(&K) -> Vec<Key> + Send + Sync + 'static,
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    follow(informer, queue, map, true);
}

fn follow<K>(
    informer: &Informer<K>,
    queue: &Queue,
    map: impl Fn(&K) -> Vec<Key> + Send + Sync + 'static,
    deletions_only: bool,
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (informer, queue) = (informer.clone(), queue.clone());
    let mut changes: Subscription<K> = informer.subscribe();
    let add = move |object: &K| map(object).into_iter().for_each(|k| queue.add(k));
    tokio::spawn(async move {
        // The objects already cached when the subscription started.
        informer.synced().await;
        if !deletions_only {
            informer.cache().list().iter().for_each(|o| add(o));
        }
        while let Some(change) = changes.next().await {
            match change {
                Change::Applied { old, new } if !deletions_only => {
                    old.iter().chain([&new]).for_each(|o| add(o));
                }
                Change::Deleted(object) => add(&object),
                Change::Resynced if !deletions_only => {
                    informer.cache().list().iter().for_each(|o| add(o));
                }
                Change::Applied { .. } | Change::Resynced => {}
            }
        }
    });
}

/// The key of the object itself, for [`enqueue`] on a controller's own resource.
pub fn own_key<K: Resource>(object: &K) -> Vec<Key> {
    vec![Key::of(object)]
}

/// The keys of an object's controller owner of kind `kind` (e.g. a pod's ReplicaSet), in the
/// object's namespace.
pub fn controller_key<K: Resource>(object: &K, kind: &str) -> Option<Key> {
    let meta = object.meta();
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == kind)
        .map(|o| Key::new(meta.namespace.clone().unwrap_or_default(), o.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_key_is_queued_once_and_never_reconciled_twice_at_once() {
        let q = Queue::new();
        q.add(Key::new("a", "x"));
        q.add(Key::new("a", "x"));
        q.add(Key::new("a", "y"));
        assert_eq!(q.len(), 2);
        let x = q.next().await.unwrap();
        // Added again while being reconciled: not handed out until done.
        q.add(x.clone());
        assert_eq!(q.next().await.unwrap(), Key::new("a", "y"));
        assert!(q.is_empty());
        q.done(&x);
        assert_eq!(q.next().await.unwrap(), x);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_exponentially_and_success_resets() {
        let q = Queue::new();
        let k = Key::new("", "n");
        for _ in 0..3 {
            q.add_rate_limited(k.clone());
        }
        assert_eq!(q.failures(&k), 3);
        q.forget(&k);
        assert_eq!(q.failures(&k), 0);
    }

    struct Flaky {
        calls: AtomicUsize,
        queue: Queue,
    }

    #[async_trait]
    impl Reconciler for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        async fn reconcile(&self, _key: &Key) -> anyhow::Result<Option<Duration>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < 2 {
                anyhow::bail!("not yet");
            }
            self.queue.shut_down();
            Ok(None)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_runner_retries_until_success() {
        let queue = Queue::new();
        let flaky = Arc::new(Flaky {
            calls: AtomicUsize::new(0),
            queue: queue.clone(),
        });
        queue.add(Key::new("", "k"));
        run(flaky.clone(), queue, 2).await;
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);
    }
}
