//! `?watch=true`: a chunked stream of `{"type": ..., "object": ...}` lines, one per change, from
//! the store's watch. Selectors are applied to both sides of a change, so an object that stops
//! matching is reported DELETED and one that starts matching ADDED, as upstream does. Without
//! a resourceVersion (or with "0") the stream starts with ADDED for every current object.

use std::convert::Infallible;
use std::time::Duration;

use barge_api::ApiError;
use barge_store::{EventKind, KeyValue, RangeRequest, WatchItem, WatchRequest};
use bytes::Bytes;
use http::header;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use std::sync::Arc;

use barge_store::Event;

use crate::cache::Change;
use crate::handlers::{Call, Filter, from_kv, store_error};
use crate::objects::meta_mut;
use crate::printing::Include;
use crate::request::{Format, Response};

/// How long a watch without `timeoutSeconds` stays open.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often an idle watch that allows bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

struct Stream {
    tx: mpsc::Sender<Bytes>,
    call: Call,
    sent_columns: bool,
}

impl Stream {
    /// Sends one event; false when the client has gone.
    async fn send(&mut self, kind: &str, object: &Value) -> bool {
        let object = if self.call.format == Format::Table && kind != "ERROR" && kind != "BOOKMARK" {
            let rv = object["metadata"]["resourceVersion"].clone();
            let include = Include::from_query(self.call.query.include_object.as_deref());
            let first = !self.sent_columns;
            self.sent_columns = true;
            self.call.printer().table(
                std::slice::from_ref(object),
                json!({"resourceVersion": rv}),
                include,
                first,
            )
        } else {
            object.clone()
        };
        let mut line = serde_json::to_vec(&json!({"type": kind, "object": object}))
            .expect("a JSON value serialises");
        line.push(b'\n');
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    /// Sends one event of a stored object as stored, with `revision` spliced in (see `raw`);
    /// false when the client has gone or the object cannot be spliced.
    async fn send_raw(&mut self, kind: &str, kv: &KeyValue, revision: i64) -> bool {
        let mut line = Vec::with_capacity(kv.value.len() + 64);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(kind.as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        if !crate::raw::append_with_revision(&kv.value, revision, &mut line) {
            return false;
        }
        line.extend_from_slice(b"}\n");
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    async fn error(&mut self, e: &ApiError) {
        let _ = self.send("ERROR", &e.status()).await;
    }
}

fn parse_revision(rv: &str) -> Result<i64, ApiError> {
    rv.parse::<i64>().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid resource version {rv:?}: must be an integer"
        ))
    })
}

pub async fn serve(call: Call) -> Result<Response, ApiError> {
    let filter = Filter::new(call.resource(), &call.query)?;
    let prefix = call.resource().list_prefix(call.namespace());
    let from_now = matches!(call.query.resource_version.as_deref(), None | Some("0"));
    let (initial, after) = if from_now || call.query.send_initial_events {
        let revision = match call.query.resource_version.as_deref() {
            Some(rv) if rv != "0" => Some(parse_revision(rv)?),
            _ => None,
        };
        let page = call
            .state
            .store
            .range(RangeRequest {
                revision,
                ..RangeRequest::prefix(prefix.clone())
            })
            .await
            .map_err(|e| store_error(e, &call.gr(), ""))?;
        let objects: Vec<Value> = page
            .kvs
            .iter()
            .map(from_kv)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|o| call.served(o))
            .filter(|o| filter.matches(o))
            .collect();
        (objects, page.revision)
    } else {
        (
            Vec::new(),
            parse_revision(call.query.resource_version.as_deref().unwrap_or("0"))?,
        )
    };
    let bookmarks = call.query.allow_watch_bookmarks || call.query.send_initial_events;
    // From the watch cache when it can serve this revision (one store watch for all the
    // watchers of a resource), else a store watch of its own.
    let root = call.resource().list_prefix(None);
    let watch: Changes = match call
        .state
        .cache
        .subscribe(&call.state.store, &root, after)
        .await
    {
        Some((replay, rx)) => Box::pin(ReceiverStream::new(from_cache(replay, rx, prefix))),
        None => Box::pin(
            call.state
                .store
                .watch(WatchRequest {
                    prefix,
                    after: Some(after),
                    progress_interval: bookmarks.then_some(BOOKMARK_INTERVAL),
                })
                .await
                .map_err(|e| store_error(e, &call.gr(), ""))?,
        ),
    };
    let timeout = call
        .query
        .timeout_seconds
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);

    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let stream = Stream {
        tx,
        call,
        sent_columns: false,
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(timeout, run(stream, watch, filter, initial, after)).await;
    });
    let body =
        StreamBody::new(ReceiverStream::new(rx).map(|b| Ok::<_, Infallible>(Frame::data(b))))
            .boxed();
    Ok(http::Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .expect("a valid response"))
}

fn object_at(call: &Call, kv: &KeyValue, revision: i64) -> Option<Value> {
    let mut obj = call.served(from_kv(kv).ok()?);
    meta_mut(&mut obj).insert("resourceVersion".into(), json!(revision.to_string()));
    Some(obj)
}

/// The changes a watch follows, from the store or the watch cache.
type Changes = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<WatchItem, barge_store::Error>> + Send>,
>;

/// The changes under `prefix` from the watch cache: the recent ones, then the live ones. A
/// watcher too slow for the cache's channel, or a cache that reloads, ends the watch with 410,
/// as upstream's cacher does; the client lists and watches again.
fn from_cache(
    replay: Vec<Arc<Event>>,
    mut rx: crate::cache::Subscription,
    prefix: String,
) -> mpsc::Receiver<Result<WatchItem, barge_store::Error>> {
    let (tx, out) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut last = 0;
        for e in replay {
            last = e.revision();
            if e.kv.key.starts_with(&prefix)
                && tx.send(Ok(WatchItem::Event((*e).clone()))).await.is_err()
            {
                return;
            }
        }
        loop {
            let item = match rx.recv().await {
                Some(Change::Event(e)) => {
                    last = e.revision();
                    if !e.kv.key.starts_with(&prefix) {
                        continue;
                    }
                    Ok(WatchItem::Event((*e).clone()))
                }
                Some(Change::Progress(r)) => Ok(WatchItem::Progress(r)),
                Some(Change::Reset) => Err(barge_store::Error::Compacted {
                    requested: last,
                    compacted: last + 1,
                }),
                None => return,
            };
            let end = item.is_err();
            if tx.send(item).await.is_err() || end {
                return;
            }
        }
    });
    out
}

async fn run(
    mut stream: Stream,
    mut watch: Changes,
    filter: Filter,
    initial: Vec<Value>,
    start: i64,
) {
    for obj in &initial {
        if !stream.send("ADDED", obj).await {
            return;
        }
    }
    if stream.call.query.send_initial_events {
        let bookmark = bookmark(&stream.call, start, true);
        if !stream.send("BOOKMARK", &bookmark).await {
            return;
        }
    }
    let mut last_bookmark = tokio::time::Instant::now();
    // Without a conversion or a Table, events go out as stored: no decoding (a selector reads
    // only the fields it needs).
    let raw = {
        let r = stream.call.resource();
        stream.call.format == Format::Json
            && barge_api::convert::storage_version(&r.group, &r.kind).is_none()
    };
    while let Some(item) = watch.next().await {
        let event = match item {
            Ok(WatchItem::Event(e)) => e,
            Ok(WatchItem::Progress(rev)) => {
                // The cache reports progress at every revision; clients want a bookmark now
                // and then.
                if stream.call.query.allow_watch_bookmarks
                    && last_bookmark.elapsed() >= BOOKMARK_INTERVAL
                {
                    last_bookmark = tokio::time::Instant::now();
                    if !stream
                        .send("BOOKMARK", &bookmark(&stream.call, rev, false))
                        .await
                    {
                        return;
                    }
                }
                continue;
            }
            Err(e) => {
                let gr = stream.call.gr();
                stream.error(&store_error(e, &gr, "")).await;
                return;
            }
        };
        let rev = event.revision();
        if raw {
            // As below: an object that stops matching is DELETED for this watch.
            let before = event
                .prev_kv
                .as_ref()
                .filter(|p| filter.matches_stored(&p.value));
            let sent = match (&event.kind, before) {
                (EventKind::Put, before) => {
                    match put_kind(before.is_some(), filter.matches_stored(&event.kv.value)) {
                        Some(kind) => stream.send_raw(kind, &event.kv, rev).await,
                        None => true,
                    }
                }
                (EventKind::Delete, Some(prev)) => stream.send_raw("DELETED", prev, rev).await,
                (EventKind::Delete, None) => true,
            };
            if !sent {
                return;
            }
            continue;
        }
        let before = event
            .prev_kv
            .as_ref()
            .and_then(|p| object_at(&stream.call, p, p.mod_revision))
            .filter(|o| filter.matches(o));
        let (kind, object) = match event.kind {
            EventKind::Put => {
                let Some(now) = object_at(&stream.call, &event.kv, rev) else {
                    continue;
                };
                match put_kind(before.is_some(), filter.matches(&now)) {
                    Some(kind) => (kind, now),
                    None => continue,
                }
            }
            EventKind::Delete => {
                let Some(prev) = event
                    .prev_kv
                    .as_ref()
                    .and_then(|p| object_at(&stream.call, p, rev))
                else {
                    continue;
                };
                if before.is_none() {
                    continue;
                }
                ("DELETED", prev)
            }
        };
        if !stream.send(kind, &object).await {
            return;
        }
    }
}

/// What a write is to a watch with selectors, from whether the object matched before and
/// matches now: one that stops matching is DELETED, one that starts ADDED; none if it never did.
fn put_kind(before: bool, now: bool) -> Option<&'static str> {
    match (before, now) {
        (false, true) => Some("ADDED"),
        (true, true) => Some("MODIFIED"),
        (true, false) => Some("DELETED"),
        (false, false) => None,
    }
}

fn bookmark(call: &Call, revision: i64, initial_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string(), "creationTimestamp": null});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": call.resource().kind, "apiVersion": call.resource().api_version(), "metadata": metadata})
}
