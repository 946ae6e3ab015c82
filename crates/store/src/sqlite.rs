//! The embedded backend: one SQLite file holding a revision log.
//!
//! Layout (kine's idea, with push-based watch):
//! - `log`: one row per write, keyed by revision: the key, the revision that created it, the
//!   revision of the version it replaced (`prev_rev`, 0 for a create), a tombstone flag, the
//!   value and an optional expiry time. Reads at a past revision and watch catch-up read it.
//! - `current`: key → revision of its live version, for reads at the current revision.
//! - `meta`: the current and the compacted revision, updated in the same transaction as the
//!   writes they describe.
//!
//! Writes go to one writer thread that takes every request waiting in its queue, applies them in
//! one transaction (each against the state left by the one before), commits with an fsync
//! (`synchronous=FULL` in WAL mode), publishes the events to the watch hub and only then replies.
//! Reads use a small pool of read-only connections; WAL lets them run beside the writer.
//! Expired keys are deleted and history is compacted by background tasks that end with the store.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{Semaphore, oneshot};

use crate::hub::{History, Hub, WindowLimits};
use crate::{CompactionPolicy, Compactor};
use crate::{
    Error, Event, EventKind, GetResponse, KeyValue, RangeRequest, RangeResponse, Result, Revision,
    Store, Watch, WatchRequest, check_value, prefix_end,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    rev        INTEGER PRIMARY KEY,
    key        BLOB    NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev   INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    value      BLOB    NOT NULL,
    expires    INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS log_key_rev ON log (key, rev);
CREATE TABLE IF NOT EXISTS current (
    key     BLOB PRIMARY KEY,
    rev     INTEGER NOT NULL,
    expires INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS current_expires ON current (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0);
";

/// How many revisions one watch catch-up query scans at most.
const HISTORY_SCAN: Revision = 16 * 1024;

#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// The database file (created if missing).
    pub path: PathBuf,
    /// The most writes committed in one transaction.
    pub max_batch: usize,
    /// Read connections (reads beyond this many wait for one).
    pub read_connections: usize,
    /// How often keys with a TTL are checked for expiry.
    pub expiry_interval: Duration,
    /// Automatic compaction (`None`: only when asked).
    pub compaction: Option<CompactionPolicy>,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_batch: 512,
            read_connections: 8,
            expiry_interval: Duration::from_secs(1),
            compaction: Some(CompactionPolicy::default()),
        }
    }
}

/// The embedded SQLite backend. Must be opened inside a Tokio runtime (it runs a TTL task).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    readers: Readers,
    hub: Arc<Hub>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue stops the writer once it has committed what it holds.
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[derive(Debug)]
enum Op {
    Create {
        key: String,
        value: Bytes,
        ttl: Option<Duration>,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
        ttl: Option<Duration>,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

#[derive(Debug)]
enum Done {
    Written(KeyValue),
    Deleted(KeyValue, Revision),
    Compacted,
}

#[derive(Debug)]
struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Done>>,
}

impl SqliteStore {
    pub fn open(options: SqliteOptions) -> Result<Self> {
        let conn = Connection::open(&options.path).map_err(|e| {
            Error::backend(
                "sqlite",
                format!("cannot open {}", options.path.display()),
                e,
            )
        })?;
        // auto_vacuum only takes effect before the first table is created.
        conn.execute_batch(
            "PRAGMA auto_vacuum = INCREMENTAL;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 10000;",
        )?;
        conn.execute_batch(SCHEMA)?;
        let (revision, compacted) = read_meta(&conn)?;
        let hub = Hub::new(revision, compacted, WindowLimits::default());
        let readers = Readers {
            path: options.path.as_path().into(),
            idle: Arc::default(),
            permits: Arc::new(Semaphore::new(options.read_connections.max(1))),
        };
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            conn,
            revision,
            compacted,
            max_batch: options.max_batch.max(1),
            hub: hub.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("barge-sqlite-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::backend("sqlite", "cannot start the writer thread", e))?;
        let inner = Arc::new(Inner {
            requests: Some(tx),
            writer: Some(writer),
            readers,
            hub,
        });
        tokio::spawn(expire(Arc::downgrade(&inner), options.expiry_interval));
        if let Some(policy) = options.compaction {
            tokio::spawn(compact(Arc::downgrade(&inner), policy));
        }
        Ok(Self { inner })
    }

    /// Runs `PRAGMA integrity_check` and returns its verdict (`"ok"` when sound).
    pub async fn integrity_check(&self) -> Result<String> {
        self.inner
            .readers
            .run(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
            .await
    }

    async fn submit(&self, op: Op) -> Result<Done> {
        submit(&self.inner, op).await
    }
}

async fn submit(inner: &Inner, op: Op) -> Result<Done> {
    let (reply, rx) = oneshot::channel();
    inner
        .requests
        .as_ref()
        .ok_or(Error::closed("sqlite"))?
        .send(Request { op, reply })
        .map_err(|_| Error::closed("sqlite"))?;
    rx.await.map_err(|_| Error::closed("sqlite"))?
}

/// Deletes expired keys through the writer, so that the deletes are ordinary revisions with
/// events. A key rewritten since it was found expired is left alone (the delete's compare fails).
async fn expire(inner: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let now = unix_millis(SystemTime::now());
        let due = inner
            .readers
            .run(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT key, rev FROM current WHERE expires IS NOT NULL AND expires <= ?1
                     LIMIT 1000",
                )?;
                let rows = stmt.query_map([now], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<Vec<(Vec<u8>, Revision)>>>()?)
            })
            .await;
        let due = match due {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read expired keys");
                continue;
            }
        };
        for (key, rev) in due {
            let key = String::from_utf8_lossy(&key).into_owned();
            let op = Op::Delete {
                key,
                expected: Some(rev),
            };
            match submit(&inner, op).await {
                Ok(_) | Err(Error::Conflict { .. } | Error::NotFound { .. }) => {}
                Err(e) => tracing::warn!(error = %e, "cannot delete an expired key"),
            }
        }
    }
}

/// Runs the compaction policy for as long as the store is open.
async fn compact(inner: Weak<Inner>, policy: CompactionPolicy) {
    let mut compactor = Compactor::new(policy);
    let mut tick = tokio::time::interval(policy.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if let Err(e) = compactor.run_once(&SqliteStore { inner }).await {
            tracing::warn!(error = %e, "compaction failed");
        }
    }
}

fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn read_meta(conn: &Connection) -> rusqlite::Result<(Revision, Revision)> {
    let mut stmt = conn
        .prepare_cached("SELECT name, value FROM meta WHERE name IN ('revision', 'compacted')")?;
    let mut revision = 0;
    let mut compacted = 0;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        match row? {
            (name, v) if name == "revision" => revision = v,
            (_, v) => compacted = v,
        }
    }
    Ok((revision, compacted))
}

fn key_string(bytes: Vec<u8>) -> rusqlite::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

/// The live version of `key`.
fn live(conn: &Connection, key: &str) -> rusqlite::Result<Option<KeyValue>> {
    conn.prepare_cached(
        "SELECT l.create_rev, l.rev, l.value FROM current c JOIN log l ON l.rev = c.rev
         WHERE c.key = ?1",
    )?
    .query_row([key.as_bytes()], |r| {
        Ok(KeyValue {
            key: key.to_owned(),
            create_revision: r.get(0)?,
            mod_revision: r.get(1)?,
            value: Bytes::from(r.get::<_, Vec<u8>>(2)?),
        })
    })
    .optional()
}

/// Checks a read revision against the snapshot's current and compacted revisions.
fn read_revision(conn: &Connection, requested: Option<Revision>) -> Result<Revision> {
    let (current, compacted) = read_meta(conn)?;
    match requested {
        None => Ok(current),
        Some(r) if r > current => Err(Error::FutureRevision {
            requested: r,
            current,
        }),
        Some(r) if r < compacted => Err(Error::Compacted {
            requested: r,
            compacted,
        }),
        Some(r) => Ok(r),
    }
}

struct Writer {
    conn: Connection,
    revision: Revision,
    compacted: Revision,
    max_batch: usize,
    hub: Arc<Hub>,
}

/// The state one batch builds up before it commits.
struct Batch {
    revision: Revision,
    compacted: Revision,
    events: Vec<Event>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Request>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
        // A clean shutdown folds the WAL back into the database file.
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }

    fn commit(&mut self, requests: Vec<Request>) {
        let conn = &mut self.conn;
        let mut batch = Batch {
            revision: self.revision,
            compacted: self.compacted,
            events: Vec::new(),
        };
        let mut results = Vec::with_capacity(requests.len());
        let outcome = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for r in &requests {
                results.push(apply(&tx, &r.op, &mut batch)?);
            }
            if batch.revision != self.revision {
                tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'revision'")?
                    .execute([batch.revision])?;
            }
            if batch.compacted != self.compacted {
                tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'compacted'")?
                    .execute([batch.compacted])?;
            }
            tx.commit()
        })();
        if let Err(e) = outcome {
            // The transaction rolled back: nothing of this batch happened.
            tracing::error!(error = %e, writes = requests.len(), "sqlite commit failed");
            for r in requests {
                let _ = r.reply.send(Err(Error::Backend {
                    backend: "sqlite",
                    message: format!("commit failed: {e}"),
                    source: None,
                }));
            }
            return;
        }
        self.revision = batch.revision;
        self.hub.publish(batch.events);
        if batch.compacted != self.compacted {
            self.compacted = batch.compacted;
            self.hub.set_compacted(batch.compacted);
            if let Err(e) = conn.execute_batch("PRAGMA incremental_vacuum;") {
                tracing::warn!(error = %e, "incremental vacuum failed");
            }
        }
        for (r, result) in requests.into_iter().zip(results) {
            let _ = r.reply.send(result);
        }
    }
}

/// Applies one operation inside the batch's transaction. The outer error is an SQLite failure
/// (the whole batch rolls back); the inner one is this operation's own outcome.
fn apply(tx: &Connection, op: &Op, b: &mut Batch) -> rusqlite::Result<Result<Done>> {
    let expires = |ttl: Option<Duration>| ttl.map(|t| unix_millis(SystemTime::now() + t));
    match op {
        Op::Create { key, value, ttl } => {
            if let Some(current) = live(tx, key)? {
                return Ok(Err(Error::KeyExists {
                    current: Box::new(current),
                }));
            }
            let rev = b.revision + 1;
            write(tx, b, key, Some(value), rev, None, expires(*ttl))
        }
        Op::Update {
            key,
            value,
            expected,
            ttl,
        } => {
            let Some(current) = live(tx, key)? else {
                return Ok(Err(Error::NotFound { key: key.clone() }));
            };
            if current.mod_revision != *expected {
                return Ok(Err(Error::Conflict {
                    expected: *expected,
                    current: Box::new(current),
                }));
            }
            let create = current.create_revision;
            write(
                tx,
                b,
                key,
                Some(value),
                create,
                Some(current),
                expires(*ttl),
            )
        }
        Op::Delete { key, expected } => {
            let Some(current) = live(tx, key)? else {
                return Ok(Err(Error::NotFound { key: key.clone() }));
            };
            if let Some(expected) = expected.filter(|e| *e != current.mod_revision) {
                return Ok(Err(Error::Conflict {
                    expected,
                    current: Box::new(current),
                }));
            }
            let create = current.create_revision;
            write(tx, b, key, None, create, Some(current), None)
        }
        Op::Compact { revision } => {
            let revision = *revision;
            if revision > b.revision {
                return Ok(Err(Error::FutureRevision {
                    requested: revision,
                    current: b.revision,
                }));
            }
            if revision < b.compacted {
                return Ok(Err(Error::Compacted {
                    requested: revision,
                    compacted: b.compacted,
                }));
            }
            // A version is superseded exactly when a later write names it as its prev_rev, and
            // the superseding writes up to the earlier compaction have been handled already.
            tx.prepare_cached(
                "DELETE FROM log WHERE rev IN
                   (SELECT prev_rev FROM log WHERE rev > ?1 AND rev <= ?2 AND prev_rev > 0)",
            )?
            .execute([b.compacted, revision])?;
            tx.prepare_cached("DELETE FROM log WHERE rev > ?1 AND rev <= ?2 AND deleted = 1")?
                .execute([b.compacted, revision])?;
            b.compacted = revision;
            Ok(Ok(Done::Compacted))
        }
    }
}

/// Appends one version (a tombstone when `value` is `None`) and records its event.
fn write(
    tx: &Connection,
    b: &mut Batch,
    key: &str,
    value: Option<&Bytes>,
    create_rev: Revision,
    prev: Option<KeyValue>,
    expires: Option<i64>,
) -> rusqlite::Result<Result<Done>> {
    let rev = b.revision + 1;
    let prev_rev = prev.as_ref().map_or(0, |p| p.mod_revision);
    let stored: &[u8] = value.map_or(&[], |v| v.as_ref());
    tx.prepare_cached(
        "INSERT INTO log (rev, key, create_rev, prev_rev, deleted, value, expires)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        rev,
        key.as_bytes(),
        create_rev,
        prev_rev,
        value.is_none(),
        stored,
        expires
    ])?;
    if value.is_some() {
        tx.prepare_cached(
            "INSERT INTO current (key, rev, expires) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET rev = excluded.rev, expires = excluded.expires",
        )?
        .execute(params![key.as_bytes(), rev, expires])?;
    } else {
        tx.prepare_cached("DELETE FROM current WHERE key = ?1")?
            .execute([key.as_bytes()])?;
    }
    b.revision = rev;
    let (event, done) = match value {
        Some(v) => {
            let kv = KeyValue {
                key: key.to_owned(),
                value: v.clone(),
                create_revision: create_rev,
                mod_revision: rev,
            };
            let event = Event {
                kind: EventKind::Put,
                kv: kv.clone(),
                prev_kv: prev,
            };
            (event, Done::Written(kv))
        }
        None => {
            let deleted = prev
                .clone()
                .expect("a delete always has a previous version");
            let event = Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: key.to_owned(),
                    value: Bytes::new(),
                    create_revision: 0,
                    mod_revision: rev,
                },
                prev_kv: prev,
            };
            (event, Done::Deleted(deleted, rev))
        }
    };
    b.events.push(event);
    Ok(Ok(done))
}

/// A pool of read-only connections; reads run on Tokio's blocking threads, at most one per
/// connection at a time (opening a connection costs far more than waiting for one).
#[derive(Clone, Debug)]
struct Readers {
    path: Arc<Path>,
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    fn open(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA busy_timeout = 10000;")?;
        Ok(conn)
    }

    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let this = self.clone();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::closed("sqlite"))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = this.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match conn {
                Some(c) => c,
                None => Self::open(&this.path)?,
            };
            // One read transaction: every statement in `f` sees the same snapshot.
            conn.execute_batch("BEGIN")?;
            let out = f(&conn);
            let end = conn.execute_batch("COMMIT");
            if end.is_ok() {
                this.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(conn);
            }
            let out = out?;
            end?;
            Ok(out)
        })
        .await
        .map_err(|e| Error::backend("sqlite", "a read task failed", e))?
    }
}

#[async_trait::async_trait]
impl History for Readers {
    async fn events(
        &self,
        prefix: &str,
        after: Revision,
        upto: Revision,
        limit: usize,
    ) -> Result<(Vec<Event>, Revision)> {
        let upto = upto.min(after + HISTORY_SCAN);
        let prefix = prefix.to_owned();
        self.run(move |c| {
            let (_, compacted) = read_meta(c)?;
            if after < compacted {
                return Err(Error::Compacted {
                    requested: after,
                    compacted,
                });
            }
            let mut stmt = c.prepare_cached(
                "SELECT l.rev, l.key, l.create_rev, l.deleted, l.value,
                        p.rev, p.create_rev, p.value
                 FROM log l LEFT JOIN log p ON l.prev_rev > 0 AND p.rev = l.prev_rev
                 WHERE l.rev > ?1 AND l.rev <= ?2 AND +l.key >= ?3 AND +l.key < ?4
                 ORDER BY l.rev LIMIT ?5",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = stmt.query_map(
                params![after, upto, prefix.as_bytes(), prefix_end(&prefix), limit],
                |r| {
                    let rev: Revision = r.get(0)?;
                    let key = key_string(r.get(1)?)?;
                    let deleted: bool = r.get(3)?;
                    let prev_kv = match r.get::<_, Option<Revision>>(5)? {
                        Some(prev_rev) => Some(KeyValue {
                            key: key.clone(),
                            value: Bytes::from(r.get::<_, Vec<u8>>(7)?),
                            create_revision: r.get(6)?,
                            mod_revision: prev_rev,
                        }),
                        None => None,
                    };
                    let kv = KeyValue {
                        key,
                        value: if deleted {
                            Bytes::new()
                        } else {
                            Bytes::from(r.get::<_, Vec<u8>>(4)?)
                        },
                        create_revision: if deleted { 0 } else { r.get(2)? },
                        mod_revision: rev,
                    };
                    let kind = if deleted {
                        EventKind::Delete
                    } else {
                        EventKind::Put
                    };
                    Ok(Event { kind, kv, prev_kv })
                },
            )?;
            let events = rows.collect::<rusqlite::Result<Vec<Event>>>()?;
            let full = usize::try_from(limit).is_ok_and(|l| events.len() >= l);
            let reached = match events.last() {
                Some(last) if full => last.revision(),
                _ => upto,
            };
            Ok((events, reached))
        })
        .await
    }
}

fn read_kv(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: key_string(r.get(0)?)?,
        create_revision: r.get(1)?,
        mod_revision: r.get(2)?,
        value: Bytes::from(r.get::<_, Vec<u8>>(3)?),
    })
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.inner.hub.head())
    }

    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<KeyValue> {
        check_value(key, &value)?;
        let key = key.to_owned();
        match self.submit(Op::Create { key, value, ttl }).await? {
            Done::Written(kv) => Ok(kv),
            other => unreachable!("create answered {other:?}"),
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
        let key = key.to_owned();
        let op = Op::Update {
            key,
            value,
            expected,
            ttl,
        };
        match self.submit(op).await? {
            Done::Written(kv) => Ok(kv),
            other => unreachable!("update answered {other:?}"),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        let key = key.to_owned();
        match self.submit(Op::Delete { key, expected }).await? {
            Done::Deleted(kv, rev) => Ok((kv, rev)),
            other => unreachable!("delete answered {other:?}"),
        }
    }

    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResponse> {
        let key = key.to_owned();
        self.inner
            .readers
            .run(move |c| {
                let at = read_revision(c, revision)?;
                let kv = if revision.is_none() {
                    live(c, &key)?
                } else {
                    c.prepare_cached(
                        "SELECT key, create_rev, rev, value, deleted FROM log
                         WHERE key = ?1 AND rev <= ?2 ORDER BY rev DESC LIMIT 1",
                    )?
                    .query_row(params![key.as_bytes(), at], |r| {
                        Ok(if r.get::<_, bool>(4)? {
                            None
                        } else {
                            Some(read_kv(r)?)
                        })
                    })
                    .optional()?
                    .flatten()
                };
                Ok(GetResponse { kv, revision: at })
            })
            .await
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.inner
            .readers
            .run(move |c| {
                let at = read_revision(c, request.revision)?;
                let mut lower = request.prefix.as_bytes().to_vec();
                if let Some(after) = &request.start_after {
                    // The smallest key greater than `after` is `after` followed by a NUL byte.
                    let mut next = after.as_bytes().to_vec();
                    next.push(0);
                    lower = lower.max(next);
                }
                let upper = prefix_end(&request.prefix);
                let limit = request.limit.filter(|l| *l > 0);
                let sql_limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX - 1) + 1);
                let mut kvs = if request.revision.is_none() {
                    c.prepare_cached(
                        "SELECT c.key, l.create_rev, l.rev, l.value
                         FROM current c JOIN log l ON l.rev = c.rev
                         WHERE c.key >= ?1 AND c.key < ?2 ORDER BY c.key LIMIT ?3",
                    )?
                    .query_map(params![lower, upper, sql_limit], read_kv)?
                    .collect::<rusqlite::Result<Vec<_>>>()?
                } else {
                    c.prepare_cached(
                        "SELECT l.key, l.create_rev, l.rev, l.value FROM log l
                         WHERE l.key >= ?1 AND l.key < ?2 AND l.rev <= ?3 AND l.deleted = 0
                           AND NOT EXISTS (SELECT 1 FROM log n
                                           WHERE n.key = l.key AND n.rev > l.rev AND n.rev <= ?3)
                         ORDER BY l.key LIMIT ?4",
                    )?
                    .query_map(params![lower, upper, at, sql_limit], read_kv)?
                    .collect::<rusqlite::Result<Vec<_>>>()?
                };
                let more = limit.is_some_and(|l| kvs.len() > l);
                if let Some(l) = limit {
                    kvs.truncate(l);
                }
                Ok(RangeResponse {
                    kvs,
                    revision: at,
                    more,
                })
            })
            .await
    }

    async fn watch(&self, request: WatchRequest) -> Result<Watch> {
        self.inner
            .hub
            .watch(Arc::new(self.inner.readers.clone()), request)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        match self.submit(Op::Compact { revision }).await? {
            Done::Compacted => Ok(()),
            other => unreachable!("compact answered {other:?}"),
        }
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.inner.hub.compacted())
    }

    fn local_revision(&self) -> Option<Revision> {
        Some(self.inner.hub.head())
    }
}
