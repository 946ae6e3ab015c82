//! Push-based watch fan-out for the backends that own their revision log (memory and SQLite).
//!
//! The writer publishes each committed batch of events here *before* it acknowledges the writes,
//! so a watcher learns of a write as soon as it is durable. The hub keeps the most recent events
//! in memory; a watcher that starts from an older revision, or falls behind further than the
//! in-memory window, catches up from the backend's [`History`] and then follows the window again.
//! Each watcher is one task with its own bounded channel: a slow watcher only slows itself.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::{Error, Event, Result, Revision, Watch, WatchItem, WatchRequest};

/// How many revisions a watcher handles per step (bounds lock hold times and history reads).
const STEP: usize = 1024;

/// Where watchers that fall behind the in-memory window read older events from.
#[async_trait::async_trait]
pub(crate) trait History: Send + Sync + 'static {
    /// The events under `prefix` with revisions in `(after, upto]`, in order, at most `limit` of
    /// them, and the revision up to which the result is complete. [`Error::Compacted`] if
    /// `after` is older than the compacted revision.
    async fn events(
        &self,
        prefix: &str,
        after: Revision,
        upto: Revision,
        limit: usize,
    ) -> Result<(Vec<Event>, Revision)>;
}

/// Limits of the in-memory window of recent events.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WindowLimits {
    pub events: usize,
    pub bytes: usize,
    /// Older events leave the window (an idle cluster's Lease renewals would otherwise fill it,
    /// up to `bytes`, over hours); watchers that need them read the backend's history.
    pub age: Duration,
}

impl Default for WindowLimits {
    fn default() -> Self {
        Self {
            events: 16 * 1024,
            bytes: 64 * 1024 * 1024,
            age: Duration::from_secs(150),
        }
    }
}

#[derive(Debug)]
struct Window {
    /// Events with consecutive revisions, the last one being the head.
    events: VecDeque<Event>,
    /// When each event of `events` was published.
    published: VecDeque<Instant>,
    bytes: usize,
    limits: WindowLimits,
}

#[derive(Debug)]
pub(crate) struct Hub {
    window: RwLock<Window>,
    head: watch::Sender<Revision>,
    compacted: AtomicI64,
}

fn event_size(e: &Event) -> usize {
    e.kv.key.len() + e.kv.value.len() + e.prev_kv.as_ref().map_or(0, |p| p.value.len())
}

impl Hub {
    pub fn new(head: Revision, compacted: Revision, limits: WindowLimits) -> Arc<Self> {
        Arc::new(Self {
            window: RwLock::new(Window {
                events: VecDeque::new(),
                published: VecDeque::new(),
                bytes: 0,
                limits,
            }),
            head: watch::Sender::new(head),
            compacted: AtomicI64::new(compacted),
        })
    }

    pub fn head(&self) -> Revision {
        *self.head.borrow()
    }

    pub fn compacted(&self) -> Revision {
        self.compacted.load(Ordering::Acquire)
    }

    pub fn set_compacted(&self, revision: Revision) {
        self.compacted.fetch_max(revision, Ordering::AcqRel);
    }

    /// Publishes committed events. Their revisions must follow the head without a gap.
    pub fn publish(&self, events: Vec<Event>) {
        let Some(last) = events.last().map(Event::revision) else {
            return;
        };
        {
            let mut w = self.window.write().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            for (expected, e) in (self.head() + 1..).zip(events) {
                debug_assert_eq!(
                    e.revision(),
                    expected,
                    "published revisions must be consecutive"
                );
                w.bytes += event_size(&e);
                w.events.push_back(e);
                w.published.push_back(now);
            }
            while w.events.len() > w.limits.events
                || w.bytes > w.limits.bytes
                || w.published
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > w.limits.age)
            {
                w.published.pop_front();
                match w.events.pop_front() {
                    Some(e) => w.bytes -= event_size(&e),
                    None => break,
                }
            }
        }
        self.head.send_replace(last);
    }

    /// The matching events in `(after, upto]` from the window, or `None` if the window no
    /// longer reaches back to `after + 1`.
    fn window_events(
        &self,
        prefix: &str,
        after: Revision,
        upto: Revision,
    ) -> Option<(Vec<Event>, Revision)> {
        let w = self.window.read().unwrap_or_else(|p| p.into_inner());
        let first = w.events.front()?.revision();
        if after + 1 < first {
            return None;
        }
        let start = usize::try_from(after + 1 - first).ok()?;
        let mut out = Vec::new();
        let mut reached = after;
        for e in w.events.iter().skip(start).take(STEP) {
            if e.revision() > upto {
                break;
            }
            reached = e.revision();
            if e.kv.key.starts_with(prefix) {
                out.push(e.clone());
            }
        }
        Some((out, reached))
    }

    /// Starts a watcher task for `request` and returns its stream.
    pub fn watch(
        self: &Arc<Self>,
        history: Arc<dyn History>,
        request: WatchRequest,
    ) -> Result<Watch> {
        let after = request.after.unwrap_or_else(|| self.head());
        let (tx, stream) = Watch::channel();
        let compacted = self.compacted();
        if after < compacted {
            // As with etcd, the watch is made and then cancelled with the reason.
            let _ = tx.try_send(Err(Error::Compacted {
                requested: after,
                compacted,
            }));
            return Ok(stream);
        }
        let watcher = Watcher {
            hub: self.clone(),
            history,
            prefix: request.prefix,
            last: after,
            progress: request.progress_interval,
            tx,
        };
        tokio::spawn(watcher.run());
        Ok(stream)
    }
}

struct Watcher {
    hub: Arc<Hub>,
    history: Arc<dyn History>,
    prefix: String,
    /// Every change up to this revision has been delivered.
    last: Revision,
    progress: Option<Duration>,
    tx: mpsc::Sender<Result<WatchItem>>,
}

impl Watcher {
    async fn run(mut self) {
        let mut head_rx = self.hub.head.subscribe();
        loop {
            let head = *head_rx.borrow_and_update();
            while self.last < head {
                let step = match self.hub.window_events(&self.prefix, self.last, head) {
                    Some(step) => Ok(step),
                    None => {
                        self.history
                            .events(&self.prefix, self.last, head, STEP)
                            .await
                    }
                };
                let (events, reached) = match step {
                    Ok(step) => step,
                    Err(e) => {
                        let _ = self.tx.send(Err(e)).await;
                        return;
                    }
                };
                for e in events {
                    if self.tx.send(Ok(WatchItem::Event(e))).await.is_err() {
                        return;
                    }
                }
                self.last = reached;
                if self.progress == Some(Duration::ZERO)
                    && self.last == head
                    && self
                        .tx
                        .send(Ok(WatchItem::Progress(self.last)))
                        .await
                        .is_err()
                {
                    return;
                }
            }
            let idle = async {
                match self.progress {
                    // Eager progress is sent as the watch catches up, not when idle.
                    Some(d) if !d.is_zero() => tokio::time::sleep(d).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = head_rx.changed() => if changed.is_err() { return },
                () = idle => {
                    if self.tx.send(Ok(WatchItem::Progress(self.last))).await.is_err() {
                        return;
                    }
                }
                () = self.tx.closed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventKind, KeyValue};

    fn put(revision: Revision) -> Event {
        Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key: format!("/k/{revision}"),
                value: bytes::Bytes::from_static(b"v"),
                create_revision: revision,
                mod_revision: revision,
            },
            prev_kv: None,
        }
    }

    #[test]
    fn the_window_keeps_recent_events_within_its_limits() {
        let limits = WindowLimits {
            events: 3,
            bytes: 1 << 20,
            age: Duration::from_secs(3600),
        };
        let hub = Hub::new(0, 0, limits);
        hub.publish((1..=5).map(put).collect());
        assert_eq!(hub.head(), 5);
        assert!(
            hub.window_events("/k/", 1, 5).is_none(),
            "2 left the window"
        );
        let (events, reached) = hub.window_events("/k/", 2, 5).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(reached, 5);

        // Old events leave even when the window has room.
        let hub = Hub::new(
            0,
            0,
            WindowLimits {
                age: Duration::from_millis(20),
                ..WindowLimits::default()
            },
        );
        hub.publish(vec![put(1), put(2)]);
        assert!(hub.window_events("/k/", 0, 2).is_some());
        std::thread::sleep(Duration::from_millis(40));
        hub.publish(vec![put(3)]);
        assert!(hub.window_events("/k/", 0, 3).is_none(), "1 and 2 aged out");
        assert_eq!(hub.window_events("/k/", 2, 3).unwrap().0.len(), 1);
    }
}
