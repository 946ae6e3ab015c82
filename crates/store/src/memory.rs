//! An in-memory backend for unit tests of the layers above the store. It keeps the full contract
//! (revisions, history, compaction, watch, TTL) but nothing survives the process.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::hub::{History, Hub, WindowLimits};
use crate::{
    Error, Event, EventKind, GetResponse, KeyValue, RangeRequest, RangeResponse, Result, Revision,
    Store, Watch, WatchRequest, check_value,
};

/// How often keys with a TTL are checked for expiry.
const EXPIRY_TICK: Duration = Duration::from_millis(100);

#[derive(Clone, Debug)]
struct Version {
    revision: Revision,
    create_revision: Revision,
    /// `None` for a tombstone.
    value: Option<Bytes>,
}

#[derive(Debug, Default)]
struct State {
    revision: Revision,
    compacted: Revision,
    /// The retained versions of every key, oldest first.
    versions: BTreeMap<String, Vec<Version>>,
    /// The retained events, by revision.
    log: BTreeMap<Revision, Event>,
    /// Keys with a TTL: when they expire and the version the TTL belongs to.
    expiries: BTreeMap<String, (Instant, Revision)>,
}

impl State {
    fn live(&self, key: &str) -> Option<KeyValue> {
        let v = self.versions.get(key)?.last()?;
        Some(kv(key, v.create_revision, v.revision, v.value.clone()?))
    }

    fn at(&self, key: &str, revision: Revision) -> Option<KeyValue> {
        let versions = self.versions.get(key)?;
        let v = versions.iter().rev().find(|v| v.revision <= revision)?;
        Some(kv(key, v.create_revision, v.revision, v.value.clone()?))
    }

    fn check_read_revision(&self, revision: Option<Revision>) -> Result<Revision> {
        match revision {
            None => Ok(self.revision),
            Some(r) if r > self.revision => Err(Error::FutureRevision {
                requested: r,
                current: self.revision,
            }),
            Some(r) if r < self.compacted => Err(Error::Compacted {
                requested: r,
                compacted: self.compacted,
            }),
            Some(r) => Ok(r),
        }
    }

    /// Appends a version and its event; returns the event.
    fn write(
        &mut self,
        key: &str,
        value: Option<Bytes>,
        create_revision: Revision,
        prev: Option<KeyValue>,
        ttl: Option<Duration>,
    ) -> Event {
        self.revision += 1;
        let revision = self.revision;
        self.versions
            .entry(key.to_owned())
            .or_default()
            .push(Version {
                revision,
                create_revision,
                value: value.clone(),
            });
        match ttl {
            Some(ttl) if value.is_some() => {
                self.expiries
                    .insert(key.to_owned(), (Instant::now() + ttl, revision));
            }
            _ => {
                self.expiries.remove(key);
            }
        }
        let event = match value {
            Some(value) => Event {
                kind: EventKind::Put,
                kv: kv(key, create_revision, revision, value),
                prev_kv: prev,
            },
            None => Event {
                kind: EventKind::Delete,
                kv: kv(key, 0, revision, Bytes::new()),
                prev_kv: prev,
            },
        };
        self.log.insert(revision, event.clone());
        event
    }
}

fn kv(key: &str, create_revision: Revision, mod_revision: Revision, value: Bytes) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value,
        create_revision,
        mod_revision,
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    hub: Arc<Hub>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The in-memory backend. Must be created inside a Tokio runtime (it runs a TTL task).
#[derive(Clone, Debug)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            hub: Hub::new(0, 0, WindowLimits::default()),
        });
        tokio::spawn(expire(Arc::downgrade(&shared)));
        Self { shared }
    }

    /// Runs a write under the lock and publishes its event before the lock is released, so that
    /// events reach the hub in revision order.
    fn write<T>(&self, f: impl FnOnce(&mut State) -> Result<(T, Event)>) -> Result<T> {
        let mut state = self.shared.lock();
        let (out, event) = f(&mut state)?;
        self.shared.hub.publish(vec![event]);
        Ok(out)
    }
}

async fn expire(shared: Weak<Shared>) {
    loop {
        tokio::time::sleep(EXPIRY_TICK).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        let mut state = shared.lock();
        let due: Vec<String> = state
            .expiries
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut events = Vec::new();
        for key in due {
            if let Some(prev) = state.live(&key) {
                events.push(state.write(&key, None, 0, Some(prev), None));
            }
        }
        shared.hub.publish(events);
    }
}

#[async_trait::async_trait]
impl History for Shared {
    async fn events(
        &self,
        prefix: &str,
        after: Revision,
        upto: Revision,
        limit: usize,
    ) -> Result<(Vec<Event>, Revision)> {
        let state = self.lock();
        if after < state.compacted {
            return Err(Error::Compacted {
                requested: after,
                compacted: state.compacted,
            });
        }
        let mut out = Vec::new();
        let mut reached = upto;
        for (rev, e) in state.log.range(after + 1..=upto) {
            if e.kv.key.starts_with(prefix) {
                if out.len() == limit {
                    reached = rev - 1;
                    break;
                }
                out.push(e.clone());
            }
        }
        Ok((out, reached))
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.lock().revision)
    }

    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<KeyValue> {
        check_value(key, &value)?;
        self.write(|s| {
            if let Some(current) = s.live(key) {
                return Err(Error::KeyExists {
                    current: Box::new(current),
                });
            }
            let revision = s.revision + 1;
            let e = s.write(key, Some(value), revision, None, ttl);
            Ok((e.kv.clone(), e))
        })
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        ttl: Option<Duration>,
    ) -> Result<KeyValue> {
        check_value(key, &value)?;
        self.write(|s| {
            let current = s
                .live(key)
                .ok_or_else(|| Error::NotFound { key: key.into() })?;
            if current.mod_revision != expected {
                return Err(Error::Conflict {
                    expected,
                    current: Box::new(current),
                });
            }
            let create = current.create_revision;
            let e = s.write(key, Some(value), create, Some(current), ttl);
            Ok((e.kv.clone(), e))
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        self.write(|s| {
            let current = s
                .live(key)
                .ok_or_else(|| Error::NotFound { key: key.into() })?;
            if let Some(expected) = expected.filter(|e| *e != current.mod_revision) {
                return Err(Error::Conflict {
                    expected,
                    current: Box::new(current),
                });
            }
            let e = s.write(key, None, 0, Some(current.clone()), None);
            Ok(((current, e.revision()), e))
        })
    }

    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResponse> {
        let s = self.shared.lock();
        let revision = s.check_read_revision(revision)?;
        Ok(GetResponse {
            kv: s.at(key, revision),
            revision,
        })
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let s = self.shared.lock();
        let revision = s.check_read_revision(request.revision)?;
        let lower = match &request.start_after {
            Some(after) if after.as_str() >= request.prefix.as_str() => {
                Bound::Excluded(after.clone())
            }
            _ => Bound::Included(request.prefix.clone()),
        };
        let limit = request.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut kvs = Vec::new();
        let mut more = false;
        for key in s.versions.range((lower, Bound::Unbounded)).map(|(k, _)| k) {
            if !key.starts_with(&request.prefix) {
                break;
            }
            if let Some(kv) = s.at(key, revision) {
                if kvs.len() == limit {
                    more = true;
                    break;
                }
                kvs.push(kv);
            }
        }
        Ok(RangeResponse {
            kvs,
            revision,
            more,
        })
    }

    async fn watch(&self, request: WatchRequest) -> Result<Watch> {
        self.shared.hub.watch(self.shared.clone(), request)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut s = self.shared.lock();
        s.check_read_revision(Some(revision))?;
        for versions in s.versions.values_mut() {
            // Keep the newest version at or before the compaction point (unless it is a
            // tombstone) and everything after it.
            let keep_from = versions
                .iter()
                .rposition(|v| v.revision <= revision)
                .map_or(0, |i| {
                    if versions[i].value.is_some() {
                        i
                    } else {
                        i + 1
                    }
                });
            versions.drain(..keep_from);
        }
        s.versions.retain(|_, v| !v.is_empty());
        s.log = s.log.split_off(&(revision + 1));
        s.compacted = revision;
        self.shared.hub.set_compacted(revision);
        Ok(())
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.shared.lock().compacted)
    }

    fn local_revision(&self) -> Option<Revision> {
        Some(self.shared.hub.head())
    }
}
