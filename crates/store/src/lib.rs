//! The cluster store: a revisioned key-value store with the etcd v3 semantics that Kubernetes
//! relies on, behind one trait ([`Store`]) and three backends.
//!
//! - [`SqliteStore`]: the embedded default. One SQLite file (WAL, `synchronous=FULL`), a revision
//!   log in the spirit of kine, one writer thread that batches concurrent writes into one commit,
//!   push-based watch (no polling), TTL expiry and automatic compaction.
//! - [`EtcdStore`]: a real etcd v3 cluster, for HA.
//! - [`MemoryStore`]: for unit tests of the layers above.
//!
//! The contract every backend keeps (checked by one conformance suite, `tests/store.rs`):
//! - every successful write gets a new revision, strictly greater than every earlier one; each key
//!   carries the revision that created it and the one that last modified it;
//! - a failed write (a compare that does not hold, a value that is too large, an I/O error)
//!   changes nothing;
//! - reads at a past revision see exactly the state at that revision, until it is compacted;
//! - a watch delivers every change to its prefix after its start revision, in revision order, each
//!   once, with the previous value, and says so with [`Error::Compacted`] when that history is gone.
//!
//! Nothing here knows about Kubernetes objects: keys are strings and values are bytes.

mod compactor;
mod error;
mod etcd;
mod hub;
mod memory;
mod sqlite;

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

pub use compactor::{CompactionPolicy, Compactor};
pub use error::{Error, Result};
pub use etcd::{EtcdOptions, EtcdStore};
pub use memory::MemoryStore;
pub use sqlite::{SqliteOptions, SqliteStore};

/// A cluster revision. Revision 0 is "before the first write"; every write makes a new one.
pub type Revision = i64;

/// The largest value a key may hold: 1.5 MiB, etcd's default request limit.
pub const MAX_VALUE_SIZE: usize = 3 * 512 * 1024;

/// One version of one key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// The revision of the write that created this incarnation of the key.
    pub create_revision: Revision,
    /// The revision of the write that produced this version.
    pub mod_revision: Revision,
}

impl fmt::Debug for KeyValue {
    // Values can be large (and may be Secrets): print their size, never their bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValue")
            .field("key", &self.key)
            .field("value_len", &self.value.len())
            .field("create_revision", &self.create_revision)
            .field("mod_revision", &self.mod_revision)
            .finish()
    }
}

/// The answer to a single-key read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetResponse {
    pub kv: Option<KeyValue>,
    /// The revision the read was served at.
    pub revision: Revision,
}

/// A read of the keys under a prefix, in key order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// Every key that starts with this string (the empty prefix selects every key).
    pub prefix: String,
    /// Only keys strictly greater than this one: the continuation of an earlier page.
    pub start_after: Option<String>,
    /// Read the state at this revision (`None`: the current revision). A continuation must pass
    /// the revision of its first page so that all pages show one consistent snapshot.
    pub revision: Option<Revision>,
    /// At most this many keys (`None` or `Some(0)`: no limit).
    pub limit: Option<usize>,
}

impl RangeRequest {
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            ..Self::default()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// The revision the read was served at (pass it back with the next page).
    pub revision: Revision,
    /// Whether keys beyond the limit remain.
    pub more: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change. For a delete, `kv` holds the key and the deleting revision with an empty value;
/// `prev_kv` holds what was deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    pub prev_kv: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// What a watch yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchItem {
    Event(Event),
    /// Progress notification: every change up to this revision has been delivered.
    Progress(Revision),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchRequest {
    pub prefix: String,
    /// Deliver the changes made after this revision (`None`: after the current one).
    pub after: Option<Revision>,
    /// Send a [`WatchItem::Progress`] when the watch has been idle this long.
    /// `Some(Duration::ZERO)` asks for one as soon as the watch has caught up with each new
    /// revision, so that a follower knows at once how current it is; backends that cannot do
    /// that (etcd) send one per second instead.
    pub progress_interval: Option<Duration>,
}

impl WatchRequest {
    /// Watches the keys under `prefix` from now on.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            ..Self::default()
        }
    }
}

/// A stream of changes. Dropping it cancels the watch. After an error the stream ends; a watch
/// from a compacted revision yields [`Error::Compacted`] as its first item.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::Receiver<Result<WatchItem>>,
}

impl Watch {
    /// How many items a watcher may have in flight before its producer waits for it.
    pub(crate) const BUFFER: usize = 256;

    /// A watch and the sender that feeds it (for stores built on other stores, such as the
    /// wrappers tests use).
    pub fn channel() -> (mpsc::Sender<Result<WatchItem>>, Watch) {
        let (tx, rx) = mpsc::channel(Self::BUFFER);
        (tx, Watch { rx })
    }

    /// The next item, or `None` once the watch has ended.
    pub async fn next(&mut self) -> Option<Result<WatchItem>> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for Watch {
    type Item = Result<WatchItem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// The store the API server uses. All methods are cancel-safe in the sense that matters: a
/// write whose future is dropped may or may not have happened, exactly as with etcd.
#[async_trait::async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// The revision of the latest write.
    async fn current_revision(&self) -> Result<Revision>;

    /// Creates `key` if it does not exist; [`Error::KeyExists`] (with the current value) if it
    /// does. With a `ttl` the key deletes itself after that long (a delete event is emitted).
    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<KeyValue>;

    /// Replaces the value of `key` if its mod revision is `expected`: [`Error::Conflict`] (with
    /// the current value) if it is not, [`Error::NotFound`] if the key does not exist.
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        ttl: Option<Duration>,
    ) -> Result<KeyValue>;

    /// Deletes `key`, if its mod revision is `expected` when given. Returns the deleted version
    /// and the revision of the delete.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)>;

    /// Reads one key at the current revision or at a past one.
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResponse>;

    /// Reads the keys under a prefix, in key order, with a limit and a continuation.
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse>;

    /// Watches the keys under a prefix from a revision.
    async fn watch(&self, request: WatchRequest) -> Result<Watch>;

    /// Forgets the history before `revision`: reads before it and watches from before it fail
    /// with [`Error::Compacted`]; the state at `revision` and every change after it are kept.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The revision of the latest compaction (0 if none).
    async fn compacted_revision(&self) -> Result<Revision>;

    /// The revision of the latest acknowledged write, when the backend knows it without I/O
    /// (in-process backends); `None` otherwise. A reader holding a copy that has caught up with
    /// this revision may answer a consistent read from the copy.
    fn local_revision(&self) -> Option<Revision> {
        None
    }
}

/// Rejects values over [`MAX_VALUE_SIZE`] before they reach a backend.
pub(crate) fn check_value(key: &str, value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_SIZE {
        return Err(Error::ValueTooLarge {
            key: key.to_owned(),
            size: value.len(),
            limit: MAX_VALUE_SIZE,
        });
    }
    if key.is_empty() {
        return Err(Error::InvalidKey {
            key: key.to_owned(),
            reason: "a key must not be empty",
        });
    }
    Ok(())
}

/// The smallest byte string greater than every key that starts with `prefix`. Keys are UTF-8,
/// which never contains the byte 0xFF, so `[0xFF]` bounds every key.
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xFF]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end("/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(""), vec![0xFF]);
        assert!(b"/a/zzz".as_slice() < prefix_end("/a/").as_slice());
        assert!(b"/a0".as_slice() >= prefix_end("/a/").as_slice());
    }

    #[test]
    fn values_over_the_limit_are_rejected() {
        assert!(check_value("k", &vec![0; MAX_VALUE_SIZE]).is_ok());
        let err = check_value("k", &vec![0; MAX_VALUE_SIZE + 1]).unwrap_err();
        assert!(matches!(err, Error::ValueTooLarge { size, .. } if size == MAX_VALUE_SIZE + 1));
        assert!(matches!(
            check_value("", b"v"),
            Err(Error::InvalidKey { .. })
        ));
    }
}
