//! The scheduling queue, as upstream's `PriorityQueue`: an active queue (highest
//! `spec.priority` first, then the oldest pod), a backoff queue for pods that failed while the
//! cluster was changing (1 s, doubling per attempt up to 10 s), and a set of unschedulable pods
//! that wait for a cluster change ([`SchedulingQueue::move_all_to_active_or_backoff`]) or for
//! 5 minutes to pass.
//!
//! Pure: every call takes the current instant, so tests drive time by hand.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::podinfo::PodInfo;

/// The queue's timings.
#[derive(Clone, Debug)]
pub struct Timing {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How long a pod may stay unschedulable before it is retried anyway.
    pub max_unschedulable: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_unschedulable: Duration::from_secs(300),
        }
    }
}

/// Where a queued pod is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Active,
    Backoff,
    Unschedulable,
    /// Popped and being scheduled.
    InFlight,
}

/// A pod in the queue.
#[derive(Debug, Clone)]
pub struct Queued {
    pub pod: Arc<PodInfo>,
    /// Scheduling attempts so far.
    pub attempts: u32,
    pub place: Place,
    /// When it last failed (backoff and the unschedulable timeout count from here).
    pub failed_at: Option<Instant>,
    /// The cycle in which it was popped last.
    pub cycle: u64,
    generation: u64,
}

#[derive(Debug, PartialEq, Eq)]
struct ActiveItem {
    priority: i32,
    /// Creation time (nanoseconds since the epoch); earlier first.
    created: i128,
    seq: u64,
    generation: u64,
    key: String,
}

impl Ord for ActiveItem {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.created.cmp(&self.created))
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for ActiveItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The three queues of pods waiting to be scheduled.
#[derive(Debug, Default)]
pub struct SchedulingQueue {
    timing: Timing,
    pods: HashMap<String, Queued>,
    active: BinaryHeap<ActiveItem>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    seq: u64,
    generation: u64,
    /// Incremented per pop.
    scheduling_cycle: u64,
    /// The cycle at the last cluster change: pods popped before it failed on stale data.
    move_request_cycle: u64,
    /// Keys of the pods in [`Place::Unschedulable`].
    unschedulable: HashSet<String>,
    /// When unschedulable pods were last checked for the 5-minute limit (every 30 s, as
    /// upstream's `flushUnschedulablePodsLeftover`).
    leftover_checked: Option<Instant>,
}

/// How often unschedulable pods are checked against the time limit.
const LEFTOVER_INTERVAL: Duration = Duration::from_secs(30);

fn created(pod: &PodInfo) -> i128 {
    pod.pod
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_nanosecond())
        .unwrap_or(0)
}

impl SchedulingQueue {
    pub fn new(timing: Timing) -> Self {
        Self {
            timing,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Queued> {
        self.pods.get(key)
    }

    /// How many pods are in each place: (active, backoff, unschedulable, in flight).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for q in self.pods.values() {
            match q.place {
                Place::Active => c.0 += 1,
                Place::Backoff => c.1 += 1,
                Place::Unschedulable => c.2 += 1,
                Place::InFlight => c.3 += 1,
            }
        }
        c
    }

    fn push_active(&mut self, key: &str) {
        let Some(q) = self.pods.get_mut(key) else {
            return;
        };
        self.generation += 1;
        self.seq += 1;
        q.place = Place::Active;
        self.unschedulable.remove(key);
        q.generation = self.generation;
        self.active.push(ActiveItem {
            priority: q.pod.priority(),
            created: created(&q.pod),
            seq: self.seq,
            generation: self.generation,
            key: key.to_owned(),
        });
    }

    fn backoff_until(&self, q: &Queued) -> Option<Instant> {
        let failed = q.failed_at?;
        let mut d = self.timing.initial_backoff;
        for _ in 1..q.attempts.max(1) {
            if d >= self.timing.max_backoff {
                break;
            }
            d = (d * 2).min(self.timing.max_backoff);
        }
        Some(failed + d.min(self.timing.max_backoff))
    }

    fn push_backoff_or_active(&mut self, key: &str, now: Instant) {
        let Some(q) = self.pods.get(key) else {
            return;
        };
        match self.backoff_until(q) {
            Some(until) if until > now => {
                self.generation += 1;
                let g = self.generation;
                if let Some(q) = self.pods.get_mut(key) {
                    q.place = Place::Backoff;
                    q.generation = g;
                }
                self.unschedulable.remove(key);
                self.backoff.push(Reverse((until, g, key.to_owned())));
            }
            _ => self.push_active(key),
        }
    }

    /// A new pod to schedule, or a new version of one already queued. An update to a pod
    /// waiting as unschedulable that changes its spec or labels gives it another try (as
    /// upstream's `isPodUpdated`); status-only updates (e.g. our own condition) do not.
    pub fn add_or_update(&mut self, pod: Arc<PodInfo>, now: Instant) {
        let key = pod.key.clone();
        match self.pods.get_mut(&key) {
            None => {
                self.pods.insert(
                    key.clone(),
                    Queued {
                        pod,
                        attempts: 0,
                        place: Place::Active,
                        failed_at: None,
                        cycle: 0,
                        generation: 0,
                    },
                );
                self.push_active(&key);
            }
            Some(q) => {
                let old = q.pod.clone();
                let changed = old.pod.spec != pod.pod.spec
                    || old.pod.metadata.labels != pod.pod.metadata.labels
                    || old.pod.metadata.annotations != pod.pod.metadata.annotations;
                let priority_changed = old.priority() != pod.priority();
                q.pod = pod;
                match q.place {
                    Place::Active if priority_changed => self.push_active(&key),
                    Place::Unschedulable if changed => self.push_backoff_or_active(&key, now),
                    _ => {}
                }
            }
        }
    }

    /// Forgets a pod (deleted, or assigned by someone else).
    pub fn delete(&mut self, key: &str) {
        self.pods.remove(key);
        self.unschedulable.remove(key);
    }

    /// Moves pods whose backoff has expired to the active queue, and pods unschedulable for
    /// longer than the limit back into play.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((until, g, key))) = self.backoff.peek().cloned() {
            if until > now {
                break;
            }
            self.backoff.pop();
            if self
                .pods
                .get(&key)
                .is_some_and(|q| q.place == Place::Backoff && q.generation == g)
            {
                self.push_active(&key);
            }
        }
        if self
            .leftover_checked
            .is_some_and(|t| now.saturating_duration_since(t) < LEFTOVER_INTERVAL)
        {
            return;
        }
        self.leftover_checked = Some(now);
        let stale: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|k| {
                self.pods.get(*k).is_some_and(|q| {
                    q.failed_at.is_some_and(|t| {
                        now.saturating_duration_since(t) >= self.timing.max_unschedulable
                    })
                })
            })
            .cloned()
            .collect();
        for key in stale {
            self.push_backoff_or_active(&key, now);
        }
    }

    /// The next pod to schedule, if any is active (call [`SchedulingQueue::flush`] first).
    pub fn pop(&mut self) -> Option<Queued> {
        while let Some(item) = self.active.pop() {
            let Some(q) = self.pods.get_mut(&item.key) else {
                continue;
            };
            if q.place != Place::Active || q.generation != item.generation {
                continue;
            }
            self.scheduling_cycle += 1;
            q.place = Place::InFlight;
            q.attempts += 1;
            q.cycle = self.scheduling_cycle;
            return Some(q.clone());
        }
        None
    }

    /// The pod was scheduled (assumed): it leaves the queue.
    pub fn done(&mut self, key: &str) {
        self.delete(key);
    }

    /// The pod did not fit. If the cluster changed since it was popped, it backs off and
    /// retries; otherwise it waits in the unschedulable set for a change.
    pub fn unschedulable(&mut self, key: &str, now: Instant) {
        let move_cycle = self.move_request_cycle;
        let Some(q) = self.pods.get_mut(key) else {
            return;
        };
        q.failed_at = Some(now);
        if move_cycle >= q.cycle {
            self.push_backoff_or_active(key, now);
        } else {
            q.place = Place::Unschedulable;
            self.unschedulable.insert(key.to_owned());
        }
    }

    /// Scheduling failed for another reason (an error, a failed binding): back off and retry.
    /// A pod no longer queued (it left when assumed) is queued again.
    pub fn error(&mut self, pod: Arc<PodInfo>, attempts: u32, now: Instant) {
        let key = pod.key.clone();
        let q = self.pods.entry(key.clone()).or_insert_with(|| Queued {
            pod,
            attempts,
            place: Place::Backoff,
            failed_at: None,
            cycle: 0,
            generation: 0,
        });
        q.failed_at = Some(now);
        self.push_backoff_or_active(&key, now);
    }

    /// The cluster changed (a node added or updated, a pod deleted, ...): every unschedulable
    /// pod gets another try, after its backoff.
    pub fn move_all_to_active_or_backoff(&mut self, now: Instant) {
        let keys: Vec<String> = self.unschedulable.drain().collect();
        for key in keys {
            self.push_backoff_or_active(&key, now);
        }
        self.move_request_cycle = self.scheduling_cycle;
    }

    /// Every queued pod's key.
    pub fn keys(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    /// When the earliest backoff ends, if any pod is backing off.
    pub fn next_backoff(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((t, _, _))| *t)
    }

    /// The backoff a pod with `attempts` failures gets.
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        let mut d = self.timing.initial_backoff;
        for _ in 1..attempts.max(1) {
            d = (d * 2).min(self.timing.max_backoff);
        }
        d.min(self.timing.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn info(name: &str, priority: i32, created_s: i64) -> Arc<PodInfo> {
        let mut p = pod(name, "", "");
        p.spec.as_mut().unwrap().priority = Some(priority);
        p.metadata.creation_timestamp = Some(Time(
            k8s_openapi::jiff::Timestamp::from_second(created_s).unwrap(),
        ));
        Arc::new(PodInfo::new(Arc::new(p)))
    }

    fn names(q: &mut SchedulingQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop().map(|p| p.pod.name.clone())).collect()
    }

    #[test]
    fn active_queue_orders_by_priority_then_age() {
        let now = Instant::now();
        let mut q = SchedulingQueue::new(Timing::default());
        q.add_or_update(info("young", 0, 200), now);
        q.add_or_update(info("old", 0, 100), now);
        q.add_or_update(info("important", 1000, 300), now);
        assert_eq!(names(&mut q), ["important", "old", "young"]);
    }

    #[test]
    fn backoff_doubles_to_the_limit() {
        let q = SchedulingQueue::new(Timing::default());
        let secs: Vec<u64> = (1..=6).map(|a| q.backoff_duration(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn a_failure_during_a_cluster_change_backs_off_then_retries() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(Timing::default());
        q.add_or_update(info("p", 0, 1), t0);
        let p = q.pop().unwrap();
        assert_eq!(p.attempts, 1);
        // A node arrives while the pod is being scheduled.
        q.move_all_to_active_or_backoff(t0);
        q.unschedulable("default/p", t0);
        assert_eq!(q.get("default/p").unwrap().place, Place::Backoff);
        q.flush(t0 + Duration::from_millis(900));
        assert!(q.pop().is_none(), "still backing off");
        q.flush(t0 + Duration::from_millis(1000));
        let p = q.pop().expect("retried after 1 s");
        assert_eq!(p.attempts, 2);
        // Second failure with a change: 2 s.
        let t1 = t0 + Duration::from_secs(5);
        q.move_all_to_active_or_backoff(t1);
        q.unschedulable("default/p", t1);
        q.flush(t1 + Duration::from_millis(1999));
        assert!(q.pop().is_none());
        q.flush(t1 + Duration::from_secs(2));
        assert!(q.pop().is_some());
    }

    #[test]
    fn unschedulable_pods_wait_for_a_node_and_then_retry() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(Timing::default());
        q.add_or_update(info("p", 0, 1), t0);
        q.pop().unwrap();
        q.unschedulable("default/p", t0);
        assert_eq!(q.get("default/p").unwrap().place, Place::Unschedulable);
        q.flush(t0 + Duration::from_secs(60));
        assert!(q.pop().is_none(), "nothing changed: it waits");
        // Our own status patch comes back as an update: no retry.
        q.add_or_update(info("p", 0, 1), t0 + Duration::from_secs(61));
        assert_eq!(q.get("default/p").unwrap().place, Place::Unschedulable);
        // A node is added: retried (its 1 s backoff is long over).
        let t1 = t0 + Duration::from_secs(120);
        q.move_all_to_active_or_backoff(t1);
        assert_eq!(q.get("default/p").unwrap().place, Place::Active);
        assert_eq!(q.pop().unwrap().attempts, 2);
    }

    #[test]
    fn unschedulable_pods_are_flushed_after_five_minutes() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(Timing::default());
        q.add_or_update(info("p", 0, 1), t0);
        q.pop().unwrap();
        q.unschedulable("default/p", t0);
        q.flush(t0 + Duration::from_secs(290));
        assert!(q.pop().is_none());
        q.flush(t0 + Duration::from_secs(310));
        assert!(q.pop().is_none(), "checked at most every 30 s");
        q.flush(t0 + Duration::from_secs(320));
        assert!(q.pop().is_some());
    }

    #[test]
    fn a_spec_update_retries_an_unschedulable_pod_and_delete_forgets_it() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(Timing::default());
        q.add_or_update(info("p", 0, 1), t0);
        q.pop().unwrap();
        q.unschedulable("default/p", t0);
        let mut changed = (*info("p", 0, 1).pod).clone();
        changed.spec.as_mut().unwrap().node_selector =
            Some([("a".to_owned(), "b".to_owned())].into());
        q.add_or_update(
            Arc::new(PodInfo::new(Arc::new(changed))),
            t0 + Duration::from_secs(3),
        );
        assert!(q.pop().is_some());
        q.delete("default/p");
        assert!(q.is_empty());
    }
}
