//! CrashLoopBackOff bookkeeping, as upstream's kubelet does it with client-go's
//! `flowcontrol.Backoff` (initial 10 s, doubling, at most 300 s, no jitter) in
//! `kuberuntime_manager.go` `doBackOff`:
//!
//! - when a container has exited, [`Backoff::in_backoff_since`] with its finish time says
//!   whether the restart must wait (and how long is left); if so the sync reports
//!   [`backoff_message`] as the `CrashLoopBackOff` waiting message;
//! - otherwise the restart goes ahead and [`Backoff::next`] moves the key's delay on
//!   (first restart immediate, then 10 s, 20 s, ... 300 s);
//! - a container that ran longer than `reset_after` (upstream: 2 × max = 10 minutes) before
//!   exiting starts again from the initial delay;
//! - [`Backoff::gc`] drops keys not touched for `gc_after` (upstream: 2 × max).
//!
//! Time is passed in (`Instant`), so tests are deterministic. A container's finish time from
//! CRI (wall clock) maps to an `Instant` as `now - (wall_now - finished_at)`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};

use super::names::{format_pod, go_duration};

/// The delays of a [`Backoff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The first delay (upstream's `backOffPeriod`, 10 s).
    pub initial: Duration,
    /// The largest delay (upstream's `MaxContainerBackOff`, 300 s).
    pub max: Duration,
    /// A container that exits more than this after its last (re)start resets the delay.
    pub reset_after: Duration,
    /// Keys not updated for this long are dropped by [`Backoff::gc`].
    pub gc_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self::with(Duration::from_secs(10), Duration::from_secs(300))
    }
}

impl BackoffConfig {
    /// `initial` and `max`, with reset and garbage collection after 2 × `max` as upstream.
    pub fn with(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            reset_after: max.saturating_mul(2),
            gc_after: max.saturating_mul(2),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    delay: Duration,
    last_update: Instant,
}

/// Per-key restart delays (key: [`backoff_key`]).
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    config: BackoffConfig,
    entries: HashMap<String, Entry>,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
        }
    }

    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// Whether `event_time` is so long after the key's last update that it counts as a new
    /// start (upstream's `hasExpired`).
    fn expired(&self, entry: &Entry, event_time: Instant) -> bool {
        event_time
            .checked_duration_since(entry.last_update)
            .is_some_and(|d| d > self.config.reset_after)
    }

    /// The key's current delay (zero when unknown).
    pub fn get(&self, key: &str) -> Duration {
        self.entries.get(key).map_or(Duration::ZERO, |e| e.delay)
    }

    /// Moves the key's delay on (upstream's `Next`): the initial delay for a new key or one
    /// whose `event_time` (the container's finish) is more than `reset_after` after its last
    /// update, else double the delay up to `max`. Returns the new delay.
    pub fn next(&mut self, key: &str, event_time: Instant, now: Instant) -> Duration {
        let delay = match self.entries.get(key) {
            Some(e) if !self.expired(e, event_time) => {
                e.delay.saturating_mul(2).min(self.config.max)
            }
            _ => self.config.initial.min(self.config.max),
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                delay,
                last_update: now,
            },
        );
        delay
    }

    /// [`Backoff::next`] with the event at `now`.
    pub fn next_delay(&mut self, key: &str, now: Instant) -> Duration {
        self.next(key, now, now)
    }

    /// Upstream's `IsInBackOffSince`: `Some(time left)` while less than the key's delay has
    /// passed since `event_time` (the container's finish), `None` for an unknown key, an
    /// expired one, or a delay that has passed.
    pub fn in_backoff_since(
        &self,
        key: &str,
        event_time: Instant,
        now: Instant,
    ) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        if self.expired(entry, event_time) {
            return None;
        }
        let elapsed = now.saturating_duration_since(event_time);
        entry
            .delay
            .checked_sub(elapsed)
            .filter(|left| !left.is_zero())
    }

    /// Upstream's `IsInBackOffSinceUpdate`: measured from the key's last update.
    pub fn in_backoff(&self, key: &str, now: Instant) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        let elapsed = now.saturating_duration_since(entry.last_update);
        entry
            .delay
            .checked_sub(elapsed)
            .filter(|left| !left.is_zero())
    }

    /// Forgets the key (the next restart is immediate and the delay starts over).
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Drops keys not updated for `gc_after` (upstream's `GC`).
    pub fn gc(&mut self, now: Instant) {
        let keep = self.config.gc_after;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.last_update) <= keep);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The key of a container (upstream's `getStableKey`):
/// `NAME_NAMESPACE_UID_CONTAINER_HASH`, so a changed container starts a fresh back-off.
pub fn backoff_key(pod: &Pod, container: &Container) -> String {
    let (name, ns, uid) = super::names::pod_identity(pod);
    format!(
        "{name}_{ns}_{uid}_{}_{:x}",
        container.name,
        super::container_hash(container)
    )
}

/// Upstream's waiting message:
/// `back-off 10s restarting failed container=NAME pod=POD_NAMESPACE(UID)`.
pub fn backoff_message(delay: Duration, container_name: &str, pod: &Pod) -> String {
    format!(
        "back-off {} restarting failed container={container_name} pod={}",
        go_duration(delay),
        format_pod(pod)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn delays_double_up_to_max() {
        let t0 = Instant::now();
        let mut b = Backoff::new(BackoffConfig::default());
        let mut now = t0;
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(b.next_delay("k", now).as_secs());
            now += 5 * S;
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(b.get("k"), 300 * S);
        assert_eq!(b.get("other"), Duration::ZERO);
    }

    #[test]
    fn crash_loop_cycle_as_upstream() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        // First exit: unknown key, restart at once and arm 10 s.
        assert_eq!(b.in_backoff_since("k", t0, t0), None);
        assert_eq!(b.next("k", t0, t0), 10 * S);
        // It exits again 2 s later: wait 10 s from that exit.
        let exit = t0 + 2 * S;
        assert_eq!(b.in_backoff_since("k", exit, exit + 3 * S), Some(7 * S));
        assert_eq!(b.in_backoff_since("k", exit, exit + 10 * S), None);
        assert_eq!(b.next("k", exit, exit + 10 * S), 20 * S);
        // Runs 11 minutes (longer than 2 × max) before exiting: no wait, delay back to 10 s.
        let long_exit = exit + 10 * S + 660 * S;
        assert_eq!(b.in_backoff_since("k", long_exit, long_exit + S), None);
        assert_eq!(b.next("k", long_exit, long_exit + S), 10 * S);
    }

    #[test]
    fn in_backoff_since_last_update() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        assert_eq!(b.in_backoff("k", t0), None);
        b.next_delay("k", t0);
        assert_eq!(b.in_backoff("k", t0 + 4 * S), Some(6 * S));
        assert_eq!(b.in_backoff("k", t0 + 10 * S), None);
    }

    #[test]
    fn reset_and_gc() {
        let t0 = Instant::now();
        let mut b = Backoff::new(BackoffConfig::with(S, 4 * S));
        assert_eq!(b.config().reset_after, 8 * S);
        b.next_delay("a", t0);
        b.next_delay("a", t0);
        assert_eq!(b.get("a"), 2 * S);
        b.reset("a");
        assert_eq!(b.get("a"), Duration::ZERO);
        assert_eq!(b.next_delay("a", t0), S);
        b.next_delay("b", t0 + 5 * S);
        b.gc(t0 + 8 * S);
        assert_eq!(b.len(), 2);
        b.gc(t0 + 9 * S);
        assert_eq!(b.len(), 1);
        assert_eq!(b.get("b"), S);
        b.gc(t0 + 14 * S);
        assert!(b.is_empty());
    }

    #[test]
    fn message_and_key() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "1234"},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]}
        }))
        .unwrap();
        let c = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(
            backoff_message(Duration::from_secs(10), "app", &pod),
            "back-off 10s restarting failed container=app pod=web_default(1234)"
        );
        assert_eq!(
            backoff_message(Duration::from_secs(300), "app", &pod),
            "back-off 5m0s restarting failed container=app pod=web_default(1234)"
        );
        let key = backoff_key(&pod, c);
        assert!(key.starts_with("web_default_1234_app_"), "{key}");
        let mut c2 = c.clone();
        c2.image = Some("busybox:2".into());
        assert_ne!(backoff_key(&pod, &c2), key);
    }
}
