//! The etcd backend: a real etcd v3 cluster, for HA. Every method is one etcd request (a
//! transaction where a compare is involved), so etcd's own guarantees carry over unchanged.
//! Keys live under an optional prefix, so several Barge clusters (or tests) can share one etcd.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, EventType, GetOptions,
    PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use tokio::sync::mpsc;

use crate::{
    Error, Event, EventKind, GetResponse, KeyValue, RangeRequest, RangeResponse, Result, Revision,
    Store, Watch, WatchItem, WatchRequest, check_value, prefix_end,
};

#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// `host:port` of each member.
    pub endpoints: Vec<String>,
    /// Prepended to every key (empty: none).
    pub prefix: String,
    pub connect_timeout: Duration,
}

impl EtcdOptions {
    pub fn new(endpoints: Vec<String>) -> Self {
        Self {
            endpoints,
            prefix: String::new(),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The etcd backend.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    prefix: String,
    leases: Arc<Mutex<HashMap<i64, Lease>>>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A lease shared by the writes that ask for the same TTL within a short window, as
/// kube-apiserver does, so that a stream of Events does not create one lease per write.
#[derive(Clone, Copy, Debug)]
struct Lease {
    id: i64,
    granted: Instant,
}

/// How long a granted lease is reused: 5 % of its TTL, at most a minute (upstream's rule).
fn lease_reuse(ttl: Duration) -> Duration {
    (ttl / 20).min(Duration::from_secs(60))
}

const COMPACTED: &str = "required revision has been compacted";
const FUTURE: &str = "required revision is a future revision";

impl EtcdStore {
    pub async fn connect(options: EtcdOptions) -> Result<Self> {
        let connect = ConnectOptions::new()
            .with_connect_timeout(options.connect_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        let client = Client::connect(&options.endpoints, Some(connect)).await?;
        let store = Self {
            client,
            prefix: options.prefix,
            leases: Arc::default(),
        };
        // Fail now, with a clear error, if no member answers.
        store.current_revision().await?;
        Ok(store)
    }

    fn full(&self, key: &str) -> Vec<u8> {
        format!("{}{key}", self.prefix).into_bytes()
    }

    /// The first key of a prefix range. etcd rejects the empty key, and "\0" is the smallest
    /// key it accepts.
    fn range_start(&self, prefix: &str) -> Vec<u8> {
        let start = self.full(prefix);
        if start.is_empty() { vec![0] } else { start }
    }

    fn kv(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue> {
        let key = std::str::from_utf8(kv.key())
            .ok()
            .and_then(|k| k.strip_prefix(self.prefix.as_str()))
            .ok_or_else(|| Error::Backend {
                backend: "etcd",
                message: format!("unexpected key {:?} outside the prefix", kv.key()),
                source: None,
            })?;
        Ok(KeyValue {
            key: key.to_owned(),
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        })
    }

    /// Maps etcd's revision errors onto the store's, for a read at `requested`.
    async fn read_error(&self, e: etcd_client::Error, requested: Revision) -> Error {
        let message = e.to_string();
        if message.contains(COMPACTED) {
            return match self.compacted_revision().await {
                Ok(compacted) => Error::Compacted {
                    requested,
                    compacted,
                },
                Err(e) => e,
            };
        }
        if message.contains(FUTURE) {
            return match self.current_revision().await {
                Ok(current) => Error::FutureRevision { requested, current },
                Err(e) => e,
            };
        }
        e.into()
    }

    async fn lease(&self, ttl: Duration) -> Result<i64> {
        let secs = i64::try_from(ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0))
            .unwrap_or(i64::MAX)
            .max(1);
        let reuse = lease_reuse(ttl);
        if let Some(l) = self
            .leases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&secs)
            && l.granted.elapsed() <= reuse
        {
            return Ok(l.id);
        }
        let granted_ttl = secs + i64::try_from(reuse.as_secs()).unwrap_or(0);
        let id = self
            .client
            .lease_client()
            .grant(granted_ttl, None)
            .await?
            .id();
        let lease = Lease {
            id,
            granted: Instant::now(),
        };
        self.leases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(secs, lease);
        Ok(id)
    }

    async fn put_options(&self, ttl: Option<Duration>) -> Result<PutOptions> {
        let options = PutOptions::new().with_prev_key();
        Ok(match ttl {
            Some(ttl) => options.with_lease(self.lease(ttl).await?),
            None => options,
        })
    }

    /// Runs `when → then, else get(key)` and returns the header revision on success, or the
    /// current value of `key` (if any) on failure.
    async fn txn(
        &self,
        key: &[u8],
        when: Compare,
        then: TxnOp,
    ) -> Result<std::result::Result<(Revision, Vec<TxnOpResponse>), Option<KeyValue>>> {
        let txn = Txn::new()
            .when([when])
            .and_then([then])
            .or_else([TxnOp::get(key, None)]);
        let response = self.client.kv_client().txn(txn).await?;
        let revision = response.header().map_or(0, |h| h.revision());
        let ops = response.op_responses();
        if response.succeeded() {
            return Ok(Ok((revision, ops)));
        }
        let current = match ops.first() {
            Some(TxnOpResponse::Get(g)) => g.kvs().first().map(|kv| self.kv(kv)).transpose()?,
            _ => None,
        };
        Ok(Err(current))
    }
}

fn prev_of(ops: &[TxnOpResponse]) -> Option<&etcd_client::KeyValue> {
    match ops.first()? {
        TxnOpResponse::Put(p) => p.prev_key(),
        TxnOpResponse::Delete(d) => d.prev_kvs().first(),
        _ => None,
    }
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn current_revision(&self) -> Result<Revision> {
        let options = GetOptions::new().with_count_only();
        let response = self
            .client
            .kv_client()
            .get(self.range_start(""), Some(options))
            .await?;
        Ok(response.header().map_or(0, |h| h.revision()))
    }

    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<KeyValue> {
        check_value(key, &value)?;
        let full = self.full(key);
        let put = TxnOp::put(
            full.clone(),
            value.to_vec(),
            Some(self.put_options(ttl).await?),
        );
        let when = Compare::create_revision(full.clone(), CompareOp::Equal, 0);
        match self.txn(&full, when, put).await? {
            Ok((revision, _)) => Ok(KeyValue {
                key: key.to_owned(),
                value,
                create_revision: revision,
                mod_revision: revision,
            }),
            Err(Some(current)) => Err(Error::KeyExists {
                current: Box::new(current),
            }),
            Err(None) => Err(Error::Backend {
                backend: "etcd",
                message: format!("create of {key:?} failed its compare but the key is absent"),
                source: None,
            }),
        }
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        ttl: Option<Duration>,
    ) -> Result<KeyValue> {
        check_value(key, &value)?;
        let full = self.full(key);
        let put = TxnOp::put(
            full.clone(),
            value.to_vec(),
            Some(self.put_options(ttl).await?),
        );
        let when = Compare::mod_revision(full.clone(), CompareOp::Equal, expected);
        match self.txn(&full, when, put).await? {
            Ok((revision, ops)) => Ok(KeyValue {
                key: key.to_owned(),
                value,
                create_revision: prev_of(&ops).map_or(revision, |p| p.create_revision()),
                mod_revision: revision,
            }),
            Err(Some(current)) => Err(Error::Conflict {
                expected,
                current: Box::new(current),
            }),
            Err(None) => Err(Error::NotFound { key: key.into() }),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        let full = self.full(key);
        let delete = TxnOp::delete(
            full.clone(),
            Some(etcd_client::DeleteOptions::new().with_prev_key()),
        );
        // Without a precondition, compare on "the key exists" so that the delete of an absent
        // key is not a write.
        let when = match expected {
            Some(rev) => Compare::mod_revision(full.clone(), CompareOp::Equal, rev),
            None => Compare::create_revision(full.clone(), CompareOp::Greater, 0),
        };
        match self.txn(&full, when, delete).await? {
            Ok((revision, ops)) => {
                let prev = prev_of(&ops).ok_or_else(|| Error::NotFound { key: key.into() })?;
                Ok((self.kv(prev)?, revision))
            }
            Err(Some(current)) => Err(Error::Conflict {
                expected: expected.unwrap_or(0),
                current: Box::new(current),
            }),
            Err(None) => Err(Error::NotFound { key: key.into() }),
        }
    }

    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResponse> {
        let options = GetOptions::new().with_revision(revision.unwrap_or(0));
        let response = match self
            .client
            .kv_client()
            .get(self.full(key), Some(options))
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.read_error(e, revision.unwrap_or(0)).await),
        };
        let kv = response.kvs().first().map(|kv| self.kv(kv)).transpose()?;
        let at = revision.unwrap_or_else(|| response.header().map_or(0, |h| h.revision()));
        Ok(GetResponse { kv, revision: at })
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let mut start = self.range_start(&request.prefix);
        if let Some(after) = &request.start_after {
            let mut next = self.full(after);
            next.push(0);
            start = start.max(next);
        }
        let end = prefix_end(&format!("{}{}", self.prefix, request.prefix));
        let limit = request.limit.filter(|l| *l > 0).unwrap_or(0);
        let options = GetOptions::new()
            .with_range(end)
            .with_limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .with_revision(request.revision.unwrap_or(0));
        let response = match self.client.kv_client().get(start, Some(options)).await {
            Ok(r) => r,
            Err(e) => return Err(self.read_error(e, request.revision.unwrap_or(0)).await),
        };
        let kvs = response
            .kvs()
            .iter()
            .map(|kv| self.kv(kv))
            .collect::<Result<Vec<_>>>()?;
        let at = request
            .revision
            .unwrap_or_else(|| response.header().map_or(0, |h| h.revision()));
        Ok(RangeResponse {
            kvs,
            revision: at,
            more: response.more(),
        })
    }

    async fn watch(&self, request: WatchRequest) -> Result<Watch> {
        let prefix = self.range_start(&request.prefix);
        let end = prefix_end(&format!("{}{}", self.prefix, request.prefix));
        let options = WatchOptions::new()
            .with_range(end)
            .with_prev_key()
            // 0 asks etcd for "from now".
            .with_start_revision(request.after.map_or(0, |a| a + 1));
        let stream = self
            .client
            .watch_client()
            .watch(prefix, Some(options))
            .await?;
        let (tx, watch) = Watch::channel();
        let forwarder = Forwarder {
            store: self.clone(),
            after: request.after.unwrap_or(0),
            // etcd answers progress requests one at a time; eager progress is a request a second.
            progress: request
                .progress_interval
                .map(|d| d.max(Duration::from_secs(1))),
            tx,
        };
        tokio::spawn(forwarder.run(stream));
        Ok(watch)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let options = CompactionOptions::new().with_physical();
        match self
            .client
            .kv_client()
            .compact(revision, Some(options))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(self.read_error(e, revision).await),
        }
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        // etcd has no call for it, but a watch from revision 1 is cancelled with it at once
        // when history has been compacted; a read at revision 1 tells whether it has.
        let probe = GetOptions::new().with_revision(1).with_count_only();
        match self
            .client
            .kv_client()
            .get(self.range_start(""), Some(probe))
            .await
        {
            Ok(_) => return Ok(0),
            Err(e) if e.to_string().contains(COMPACTED) => {}
            Err(e) => return Err(e.into()),
        }
        let options = WatchOptions::new().with_start_revision(1);
        let key = self.full("\u{1}barge-compaction-probe");
        let mut stream = self.client.watch_client().watch(key, Some(options)).await?;
        while let Some(response) = stream.message().await? {
            if response.compact_revision() > 0 {
                return Ok(response.compact_revision());
            }
        }
        Err(Error::Backend {
            backend: "etcd",
            message: "the compaction probe watch ended without an answer".into(),
            source: None,
        })
    }
}

/// Moves one etcd watch stream into a [`Watch`] channel, asking for progress when idle.
struct Forwarder {
    store: EtcdStore,
    after: Revision,
    progress: Option<Duration>,
    tx: mpsc::Sender<Result<WatchItem>>,
}

impl Forwarder {
    async fn run(self, stream: etcd_client::WatchStream) {
        let (mut requests, mut responses) = stream.split();
        loop {
            let idle = async {
                match self.progress {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let response = tokio::select! {
                r = responses.message() => r,
                () = idle => {
                    if let Err(e) = requests.request_progress().await {
                        let _ = self.tx.send(Err(e.into())).await;
                        return;
                    }
                    continue;
                }
                () = self.tx.closed() => return,
            };
            let items = match response {
                Ok(Some(r)) => self.items(&r),
                Ok(None) => Err(Error::Backend {
                    backend: "etcd",
                    message: "the watch stream ended".into(),
                    source: None,
                }),
                Err(e) => Err(e.into()),
            };
            let items = match items {
                Ok(items) => items,
                Err(e) => {
                    let _ = self.tx.send(Err(e)).await;
                    return;
                }
            };
            for item in items {
                if self.tx.send(Ok(item)).await.is_err() {
                    return;
                }
            }
        }
    }

    fn items(&self, r: &etcd_client::WatchResponse) -> Result<Vec<WatchItem>> {
        if r.canceled() {
            return Err(if r.compact_revision() > 0 {
                Error::Compacted {
                    requested: self.after,
                    compacted: r.compact_revision(),
                }
            } else {
                Error::Backend {
                    backend: "etcd",
                    message: format!("watch cancelled: {}", r.cancel_reason()),
                    source: None,
                }
            });
        }
        if r.events().is_empty() {
            if r.created() {
                return Ok(Vec::new());
            }
            let revision = r.header().map_or(0, |h| h.revision());
            return Ok(vec![WatchItem::Progress(revision)]);
        }
        r.events()
            .iter()
            .map(|e| {
                let kv = e.kv().ok_or_else(|| Error::Backend {
                    backend: "etcd",
                    message: "a watch event without a key".into(),
                    source: None,
                })?;
                let kv = self.store.kv(kv)?;
                let prev_kv = e.prev_kv().map(|p| self.store.kv(p)).transpose()?;
                let event = match e.event_type() {
                    EventType::Put => Event {
                        kind: EventKind::Put,
                        kv,
                        prev_kv,
                    },
                    EventType::Delete => Event {
                        kind: EventKind::Delete,
                        kv: KeyValue {
                            value: Bytes::new(),
                            create_revision: 0,
                            ..kv
                        },
                        prev_kv,
                    },
                };
                Ok(WatchItem::Event(event))
            })
            .collect()
    }
}
