//! The pod side of the hollow kubelets: one watch of all scheduled pods for the whole process,
//! a timer that hands due pods to bounded workers, and the workers that report pods running
//! and finish graceful deletions.
//!
//! Events only update the per-pod state and set a timer; the worker re-reads the state when
//! the timer fires and decides then, so a deletion that arrives while a pod is starting wins.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::Options;
use crate::ipam;
use crate::pod::{self, SlimPod, Started};
use crate::state::{Calls, Inner, PodEntry, PodPhase, Shared, code};

/// How long before a failed call about a pod is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// How long before a pod with a call in flight is looked at again.
const BUSY_RETRY: Duration = Duration::from_millis(50);

/// Follows every scheduled pod in the cluster and keeps the state of those on our nodes.
pub(crate) async fn watch(s: Arc<Shared>) {
    let api: Api<SlimPod> = Api::all(s.client.clone());
    // Unscheduled pods are no kubelet's business; the rest are filtered here by node.
    let config = watcher::Config::default()
        .fields("spec.nodeName!=")
        .any_semantic();
    let mut events = pin!(watcher::watcher(api, config).default_backoff());
    while let Some(event) = events.next().await {
        let now = Instant::now();
        match event {
            Ok(Event::Init) => s.lock().epoch += 1,
            Ok(Event::Apply(p) | Event::InitApply(p)) => {
                let Some(node) = p.spec.node_name.as_ref().and_then(|n| s.index.get(n)) else {
                    continue;
                };
                let key = pod_key(&p);
                let due = observe(&mut s.lock(), &s.opts, &key, *node, p, now);
                if let Some(at) = due {
                    s.schedule(at, key);
                }
            }
            Ok(Event::Delete(p)) => {
                let key = pod_key(&p);
                let mut inner = s.lock();
                if inner
                    .pods
                    .get(&key)
                    .is_some_and(|e| Some(&*e.uid) == p.metadata.uid.as_deref())
                {
                    inner.remove_pod(&key);
                }
            }
            Ok(Event::InitDone) => sweep(&mut s.lock()),
            Err(e) => warn!(error = %e, "pod watch failed; retrying"),
        }
    }
}

fn pod_key(p: &SlimPod) -> Arc<str> {
    let m = &p.metadata;
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    )
    .into()
}

/// How long the simulated containers take to stop: the grace period, at most the configured
/// termination delay.
fn termination(opts: &Options, p: &SlimPod) -> Duration {
    let grace = p
        .metadata
        .deletion_grace_period_seconds
        .or(p.spec.termination_grace_period_seconds)
        .unwrap_or(30);
    Duration::from_secs(grace.max(0) as u64).min(opts.termination_delay)
}

/// Takes in what the watch says of a pod on node `node`; returns when its worker should look
/// at it, if it has something to do.
pub(crate) fn observe(
    inner: &mut Inner,
    opts: &Options,
    key: &Arc<str>,
    node: usize,
    p: SlimPod,
    now: Instant,
) -> Option<Instant> {
    let epoch = inner.epoch;
    let uid = p.metadata.uid.as_deref().unwrap_or_default();
    let deleting = p.metadata.deletion_timestamp.is_some();
    if let Some(e) = inner.pods.get_mut(&**key)
        && &*e.uid == uid
    {
        e.epoch = epoch;
        if deleting && !matches!(e.phase, PodPhase::Terminating { .. } | PodPhase::Gone) {
            let at = now + termination(opts, &p);
            e.phase = PodPhase::Terminating { at };
            return Some(at);
        }
        return None;
    }
    // A pod we did not know, or a new pod under the name of one gone.
    inner.remove_pod(key);
    let mut ip = None;
    let phase = p.status.phase.as_deref();
    let (phase, due) = if deleting {
        let at = now + termination(opts, &p);
        (PodPhase::Terminating { at }, Some(at))
    } else if matches!(phase, Some("Running" | "Succeeded" | "Failed")) {
        // Reported by an earlier hollow process (or finished by someone else): keep its
        // address taken.
        if let Some(addr) = p.status.pod_ip.as_deref().and_then(|a| a.parse().ok())
            && inner.pool(node).reserve(addr)
        {
            ip = Some(addr);
        }
        (PodPhase::Running, None)
    } else {
        let at = now + opts.pod_start_delay;
        (PodPhase::Starting { at }, Some(at))
    };
    let running = phase == PodPhase::Running;
    let completes = p.runs_to_completion();
    inner.pods.insert(
        key.clone(),
        PodEntry {
            uid: uid.into(),
            node: node as u32,
            init_containers: if running {
                Box::default()
            } else {
                p.spec.init_containers.into()
            },
            containers: if running {
                Box::default()
            } else {
                p.spec.containers.into()
            },
            host_network: p.spec.host_network.unwrap_or(false),
            completes,
            ip,
            phase,
            busy: false,
            epoch,
        },
    );
    due
}

/// After a (re)list: forgets the pods the list no longer had.
fn sweep(inner: &mut Inner) {
    let epoch = inner.epoch;
    let stale: Vec<_> = inner
        .pods
        .iter()
        .filter(|(_, e)| e.epoch != epoch)
        .map(|(k, _)| k.clone())
        .collect();
    for key in stale {
        inner.remove_pod(&key);
    }
}

/// What a worker does about a pod.
#[derive(Debug, PartialEq)]
pub(crate) enum Plan {
    Nothing,
    Later(Instant),
    /// Patch `pods/status` with this.
    Start {
        uid: Box<str>,
        patch: Value,
    },
    /// Patch `pods/status` with this completion.
    Complete {
        uid: Box<str>,
        patch: Value,
    },
    /// Delete for good (grace 0) if the uid still matches.
    Delete {
        uid: Box<str>,
    },
}

/// Decides what to do about pod `key` now, and marks it busy if that is an API call.
pub(crate) fn plan(inner: &mut Inner, key: &str, now: Instant, wall: &Time) -> Plan {
    let Some(e) = inner.pods.get(key) else {
        return Plan::Nothing;
    };
    if e.busy {
        return Plan::Later(now + BUSY_RETRY);
    }
    match e.phase {
        PodPhase::Starting { at } if at <= now => {
            let node = e.node as usize;
            let host_ip = ipam::node_ip(node);
            let pod_ip = match (e.ip, e.host_network) {
                (Some(ip), _) => ip,
                (None, true) => host_ip,
                (None, false) => match inner.pool(node).allocate() {
                    Some(ip) => {
                        inner.pods.get_mut(key).expect("present").ip = Some(ip);
                        ip
                    }
                    None => {
                        warn!(pod = key, "no free pod IP on the node; retrying");
                        return Plan::Later(now + RETRY);
                    }
                },
            };
            let e = inner.pods.get_mut(key).expect("present");
            e.busy = true;
            let mut patch = pod::start_patch(Started {
                uid: &e.uid,
                init_containers: &e.init_containers,
                containers: &e.containers,
                host_ip,
                pod_ip,
                now: wall,
            });
            // A uid in a patch is a precondition: never report on a namesake.
            patch["metadata"] = serde_json::json!({"uid": &*e.uid});
            Plan::Start {
                uid: e.uid.clone(),
                patch,
            }
        }
        PodPhase::Completing { at } if at <= now => {
            let e = inner.pods.get_mut(key).expect("present");
            e.busy = true;
            Plan::Complete {
                uid: e.uid.clone(),
                patch: pod::completed_patch(&e.uid, &e.containers, wall),
            }
        }
        PodPhase::Terminating { at } if at <= now => {
            let e = inner.pods.get_mut(key).expect("present");
            e.busy = true;
            Plan::Delete { uid: e.uid.clone() }
        }
        // Not due yet (its timer is set), or nothing left to do.
        _ => Plan::Nothing,
    }
}

/// Records how a worker's call went; returns when to try again, if it must.
pub(crate) fn settle(
    inner: &mut Inner,
    key: &str,
    uid: &str,
    result: Result<(), Option<u16>>,
    now: Instant,
    job_duration: Duration,
) -> Option<Instant> {
    let e = inner.pods.get_mut(key).filter(|e| &*e.uid == uid)?;
    e.busy = false;
    match (e.phase, result) {
        (PodPhase::Starting { .. }, Ok(())) if e.completes => {
            e.init_containers = Box::default();
            let at = now + job_duration;
            e.phase = PodPhase::Completing { at };
            Some(at)
        }
        (PodPhase::Starting { .. } | PodPhase::Completing { .. }, Ok(())) => {
            e.phase = PodPhase::Running;
            e.init_containers = Box::default();
            e.containers = Box::default();
            None
        }
        // Gone, or replaced by a namesake (a failed uid precondition): the watch will say.
        (_, Err(Some(404 | 409))) | (PodPhase::Terminating { .. }, Ok(())) => {
            e.phase = PodPhase::Gone;
            None
        }
        (PodPhase::Starting { .. }, Err(_)) => {
            let at = now + RETRY;
            e.phase = PodPhase::Starting { at };
            Some(at)
        }
        (PodPhase::Completing { .. }, Err(_)) => {
            let at = now + RETRY;
            e.phase = PodPhase::Completing { at };
            Some(at)
        }
        (PodPhase::Terminating { .. }, Err(_)) => {
            let at = now + RETRY;
            e.phase = PodPhase::Terminating { at };
            Some(at)
        }
        _ => None,
    }
}

/// Hands each pod to a worker when its timer is due, at most the call limit at once.
pub(crate) async fn dispatch(
    s: Arc<Shared>,
    mut timer: mpsc::UnboundedReceiver<(Instant, Arc<str>)>,
) {
    let mut due: BinaryHeap<Reverse<(Instant, Arc<str>)>> = BinaryHeap::new();
    let mut calls = Calls::new(s.limit.clone());
    loop {
        let now = Instant::now();
        while let Some(Reverse((at, _))) = due.peek()
            && *at <= now
        {
            let Reverse((_, key)) = due.pop().expect("peeked");
            calls.spawn(work(s.clone(), key)).await;
        }
        let next = due.peek().map(|Reverse((at, _))| *at);
        tokio::select! {
            item = timer.recv() => match item {
                Some(item) => {
                    due.push(Reverse(item));
                    while let Ok(item) = timer.try_recv() {
                        due.push(Reverse(item));
                    }
                }
                None => return,
            },
            () = tokio::time::sleep_until(next.unwrap_or(now)), if next.is_some() => {}
        }
    }
}

/// Looks at one pod and makes the call its state asks for.
async fn work(s: Arc<Shared>, key: Arc<str>) {
    let plan = plan(&mut s.lock(), &key, Instant::now(), &Time(Timestamp::now()));
    let (ns, name) = key.split_once('/').expect("keys are namespace/name");
    let api: Api<SlimPod> = Api::namespaced(s.client.clone(), ns);
    let (uid, result) = match plan {
        Plan::Nothing => return,
        Plan::Later(at) => return s.schedule(at, key),
        Plan::Start { uid, patch } | Plan::Complete { uid, patch } => {
            let r = api
                .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
                .await;
            (uid, r.map(drop))
        }
        Plan::Delete { uid } => {
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid.to_string()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            (uid, api.delete(name, &params).await.map(drop))
        }
    };
    let result = result.map_err(|e| {
        debug!(pod = %key, error = %e, "pod call failed");
        code(&e)
    });
    let again = settle(
        &mut s.lock(),
        &key,
        &uid,
        result,
        Instant::now(),
        s.opts.job_duration,
    );
    if let Some(at) = again {
        s.schedule(at, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, extra: Value) -> SlimPod {
        let mut v = json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": uid},
            "spec": {"nodeName": "hollow-1", "containers": [{"name": "c", "image": "nginx"}]},
        });
        json_patch_merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn json_patch_merge(a: &mut Value, b: Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    json_patch_merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    const JOB: Duration = Duration::from_secs(1);

    fn opts() -> Options {
        Options {
            pod_start_delay: Duration::from_secs(2),
            termination_delay: Duration::from_secs(1),
            ..Options::default()
        }
    }

    fn wall() -> Time {
        Time("2026-01-02T03:04:05Z".parse().unwrap())
    }

    #[test]
    fn the_pod_of_a_job_succeeds_after_running_for_the_job_duration() {
        let mut inner = Inner::new(1);
        let key: Arc<str> = "ns/j".into();
        let t0 = Instant::now();
        let owned = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "ju", "controller": true}
        ]}});
        observe(&mut inner, &opts(), &key, 0, pod("u1", owned), t0);
        let started = t0 + Duration::from_secs(2);
        assert!(matches!(
            plan(&mut inner, &key, started, &wall()),
            Plan::Start { .. }
        ));
        let done_at = settle(&mut inner, &key, "u1", Ok(()), started, JOB);
        assert_eq!(done_at, Some(started + JOB));
        assert_eq!(plan(&mut inner, &key, started, &wall()), Plan::Nothing);
        let Plan::Complete { patch, .. } = plan(&mut inner, &key, started + JOB, &wall()) else {
            panic!("should complete");
        };
        assert_eq!(patch["metadata"]["uid"], "u1");
        assert_eq!(patch["status"]["phase"], "Succeeded");
        let c = &patch["status"]["containerStatuses"][0];
        assert_eq!(c["state"]["terminated"]["reason"], "Completed");
        assert_eq!(c["state"]["terminated"]["exitCode"], 0);
        assert_eq!(
            settle(&mut inner, &key, "u1", Ok(()), started + JOB, JOB),
            None
        );
        assert_eq!(inner.pods[&key].phase, PodPhase::Running);
    }

    #[test]
    fn a_pod_starts_after_the_delay_with_an_address() {
        let mut inner = Inner::new(3);
        let key: Arc<str> = "ns/p".into();
        let t0 = Instant::now();
        let due = observe(&mut inner, &opts(), &key, 1, pod("u1", json!({})), t0);
        assert_eq!(due, Some(t0 + Duration::from_secs(2)));
        assert_eq!(
            plan(&mut inner, &key, t0, &wall()),
            Plan::Nothing,
            "not due yet"
        );
        let Plan::Start { uid, patch } =
            plan(&mut inner, &key, t0 + Duration::from_secs(2), &wall())
        else {
            panic!("should start");
        };
        assert_eq!(&*uid, "u1");
        assert_eq!(patch["metadata"]["uid"], "u1");
        assert_eq!(patch["status"]["phase"], "Running");
        assert_eq!(
            patch["status"]["podIP"], "10.128.1.1",
            "node 1's fake range"
        );
        assert_eq!(patch["status"]["hostIP"], "10.200.0.2");
        assert_eq!(
            patch["status"]["containerStatuses"][0]["containerID"],
            "hollow://u1-c"
        );
        // While the call is in flight, the pod waits.
        assert!(matches!(
            plan(&mut inner, &key, t0, &wall()),
            Plan::Later(_)
        ));
        assert_eq!(settle(&mut inner, &key, "u1", Ok(()), t0, JOB), None);
        let e = &inner.pods[&key];
        assert_eq!(e.phase, PodPhase::Running);
        assert!(e.containers.is_empty(), "not kept once running");
        // The watch echoing the running pod changes nothing.
        let running = pod(
            "u1",
            json!({"status": {"phase": "Running", "podIP": "10.128.1.1"}}),
        );
        assert_eq!(observe(&mut inner, &opts(), &key, 1, running, t0), None);
    }

    #[test]
    fn the_pod_cidr_is_used_when_set_and_addresses_are_reused() {
        let mut inner = Inner::new(1);
        inner.node_seen(0, Some("n".into()), Some("10.42.7.0/24".into()));
        let t0 = Instant::now();
        let o = Options::default();
        let mut ips = Vec::new();
        for i in 0..2 {
            let key: Arc<str> = format!("ns/p{i}").into();
            observe(
                &mut inner,
                &o,
                &key,
                0,
                pod(&format!("u{i}"), json!({})),
                t0,
            );
            let Plan::Start { patch, .. } = plan(&mut inner, &key, t0, &wall()) else {
                panic!()
            };
            ips.push(patch["status"]["podIP"].as_str().unwrap().to_owned());
        }
        assert_eq!(ips, ["10.42.7.1", "10.42.7.2"]);
        inner.remove_pod("ns/p0");
        assert!(inner.pool(0).reserve("10.42.7.1".parse().unwrap()), "freed");
    }

    #[test]
    fn host_network_pods_take_the_node_address() {
        let mut inner = Inner::new(1);
        let key: Arc<str> = "ns/p".into();
        let t0 = Instant::now();
        let p = pod("u1", json!({"spec": {"hostNetwork": true}}));
        observe(&mut inner, &Options::default(), &key, 0, p, t0);
        let Plan::Start { patch, .. } = plan(&mut inner, &key, t0, &wall()) else {
            panic!()
        };
        assert_eq!(patch["status"]["podIP"], "10.200.0.1");
        assert_eq!(inner.pods[&key].ip, None, "nothing to free");
    }

    #[test]
    fn deletion_waits_the_shorter_of_grace_and_delay_then_deletes() {
        let mut inner = Inner::new(3);
        let key: Arc<str> = "ns/p".into();
        let t0 = Instant::now();
        observe(&mut inner, &opts(), &key, 1, pod("u1", json!({})), t0);
        let deleting = |grace: i64| {
            pod(
                "u1",
                json!({"metadata": {"deletionTimestamp": "2026-01-02T03:04:05Z",
                                    "deletionGracePeriodSeconds": grace}}),
            )
        };
        // Deleted before it started: the start is dropped.
        let due = observe(&mut inner, &opts(), &key, 1, deleting(30), t0);
        assert_eq!(due, Some(t0 + Duration::from_secs(1)));
        assert_eq!(
            plan(&mut inner, &key, t0 + Duration::from_secs(2), &wall()),
            Plan::Delete { uid: "u1".into() }
        );
        // A failed call is retried.
        let again = settle(&mut inner, &key, "u1", Err(Some(500)), t0, JOB);
        assert_eq!(again, Some(t0 + RETRY));
        assert!(matches!(
            plan(&mut inner, &key, t0 + RETRY, &wall()),
            Plan::Delete { .. }
        ));
        assert_eq!(settle(&mut inner, &key, "u1", Ok(()), t0, JOB), None);
        assert_eq!(inner.pods[&key].phase, PodPhase::Gone);
        // The echo of the deletion schedules nothing more.
        assert_eq!(
            observe(&mut inner, &opts(), &key, 1, deleting(30), t0),
            None
        );
        // A grace period shorter than the delay wins.
        let mut inner = Inner::new(3);
        assert_eq!(
            observe(&mut inner, &opts(), &key, 1, deleting(0), t0),
            Some(t0)
        );
    }

    #[test]
    fn adopted_running_pods_keep_their_address() {
        let mut inner = Inner::new(1);
        let key: Arc<str> = "ns/p".into();
        let p = pod(
            "u1",
            json!({"status": {"phase": "Running", "podIP": "10.128.0.9"}}),
        );
        assert_eq!(
            observe(&mut inner, &Options::default(), &key, 0, p, Instant::now()),
            None
        );
        assert_eq!(inner.pods[&key].phase, PodPhase::Running);
        assert!(
            !inner.pool(0).reserve("10.128.0.9".parse().unwrap()),
            "taken"
        );
    }

    #[test]
    fn a_namesake_replaces_the_old_pod_and_relists_sweep() {
        let mut inner = Inner::new(1);
        let key: Arc<str> = "ns/p".into();
        let t0 = Instant::now();
        let o = Options::default();
        observe(&mut inner, &o, &key, 0, pod("u1", json!({})), t0);
        let _ = plan(&mut inner, &key, t0, &wall());
        settle(&mut inner, &key, "u1", Ok(()), t0, JOB);
        let ip = inner.pods[&key].ip.unwrap();
        assert_eq!(
            observe(&mut inner, &o, &key, 0, pod("u2", json!({})), t0),
            Some(t0)
        );
        assert_eq!(&*inner.pods[&key].uid, "u2");
        assert!(inner.pool(0).reserve(ip), "the old pod's address was freed");
        // A late answer about the old pod is ignored.
        assert_eq!(
            settle(&mut inner, &key, "u1", Err(Some(500)), t0, JOB),
            None
        );
        // A relist that no longer has the pod forgets it.
        inner.epoch += 1;
        sweep(&mut inner);
        assert!(inner.pods.is_empty());
    }

    #[test]
    fn termination_uses_the_grace_period_of_the_pod() {
        let o = Options {
            termination_delay: Duration::from_secs(60),
            ..Options::default()
        };
        let p = pod("u", json!({"spec": {"terminationGracePeriodSeconds": 5}}));
        assert_eq!(termination(&o, &p), Duration::from_secs(5));
        let p = pod("u", json!({"metadata": {"deletionGracePeriodSeconds": 2}}));
        assert_eq!(termination(&o, &p), Duration::from_secs(2));
        assert_eq!(
            termination(&o, &pod("u", json!({}))),
            Duration::from_secs(30)
        );
    }
}
