//! Automatic compaction, so that no backend's history grows without bound.
//!
//! Like kube-apiserver, the compactor samples the current revision at a fixed interval and
//! compacts to the revision it saw `retention` ago; unlike it, it also caps the history at
//! `max_revisions`, so a burst of writes cannot bloat the store before the time limit is reached.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{Error, Revision, Store};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// How often the compactor looks at the store.
    pub interval: Duration,
    /// History younger than this is kept (unless `max_revisions` says otherwise).
    pub retention: Duration,
    /// At most this many revisions of history are kept.
    pub max_revisions: Revision,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            retention: Duration::from_secs(5 * 60),
            max_revisions: 100_000,
        }
    }
}

/// Runs a [`CompactionPolicy`] against a store.
#[derive(Debug)]
pub struct Compactor {
    policy: CompactionPolicy,
    /// Revisions seen, newest last, covering at least `retention`.
    samples: VecDeque<(Instant, Revision)>,
}

impl Compactor {
    pub fn new(policy: CompactionPolicy) -> Self {
        Self {
            policy,
            samples: VecDeque::new(),
        }
    }

    /// Runs the policy until the returned task is aborted.
    pub fn spawn(store: Arc<dyn Store>, policy: CompactionPolicy) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut compactor = Compactor::new(policy);
            let mut tick = tokio::time::interval(policy.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = compactor.run_once(store.as_ref()).await {
                    tracing::warn!(error = %e, "compaction failed");
                }
            }
        })
    }

    /// Records the current revision and compacts if the policy says so. Returns the revision
    /// compacted to, if any.
    pub async fn run_once(&mut self, store: &dyn Store) -> crate::Result<Option<Revision>> {
        let now = Instant::now();
        let current = store.current_revision().await?;
        self.samples.push_back((now, current));
        // Keep one sample at least `retention` old: it is the time-based target.
        while self
            .samples
            .get(1)
            .is_some_and(|(t, _)| now.duration_since(*t) >= self.policy.retention)
        {
            self.samples.pop_front();
        }
        let by_time = match self.samples.front() {
            Some((t, rev)) if now.duration_since(*t) >= self.policy.retention => *rev,
            _ => 0,
        };
        let by_count = current - self.policy.max_revisions;
        let target = by_time.max(by_count);
        if target <= store.compacted_revision().await? {
            return Ok(None);
        }
        match store.compact(target).await {
            Ok(()) => {
                tracing::debug!(revision = target, "compacted");
                Ok(Some(target))
            }
            // Another server sharing the store got there first.
            Err(Error::Compacted { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{MemoryStore, RangeRequest};

    #[tokio::test(start_paused = true)]
    async fn compacts_by_time_and_by_count_and_keeps_live_keys() {
        let store = MemoryStore::new();
        let mut c = Compactor::new(CompactionPolicy {
            interval: Duration::from_secs(1),
            retention: Duration::from_secs(10),
            max_revisions: 50,
        });
        let a = store.create("/a", Bytes::from("1"), None).await.unwrap();
        assert_eq!(
            c.run_once(&store).await.unwrap(),
            None,
            "nothing is old enough yet"
        );

        tokio::time::advance(Duration::from_secs(11)).await;
        store
            .update("/a", Bytes::from("2"), a.mod_revision, None)
            .await
            .unwrap();
        assert_eq!(
            c.run_once(&store).await.unwrap(),
            Some(1),
            "the revision seen 10 s ago"
        );

        for i in 0..60 {
            store
                .create(&format!("/k{i}"), Bytes::new(), None)
                .await
                .unwrap();
        }
        let current = store.current_revision().await.unwrap();
        assert_eq!(
            c.run_once(&store).await.unwrap(),
            Some(current - 50),
            "capped by count"
        );
        let all = store.range(RangeRequest::prefix("/")).await.unwrap();
        assert_eq!(all.kvs.len(), 61, "compaction never drops live keys");
    }
}
