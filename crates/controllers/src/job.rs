//! The Job controller (upstream `pkg/controller/job`) and the TTL-after-finished controller
//! (upstream `pkg/controller/ttlafterfinished`), in one reconcile.
//!
//! A Job runs pods from its template until `completions` of them succeed (NonIndexed) or one
//! pod of each index `0..completions` succeeds (Indexed), at most `parallelism` at once. It
//! fails when more than `backoffLimit` pods failed (`BackoffLimitExceeded`) or when it ran
//! longer than `activeDeadlineSeconds` (`DeadlineExceeded`). As in 1.32, the interim condition
//! (`SuccessCriteriaMet` / `FailureTarget`) comes first, the active pods are deleted, and the
//! terminal one (`Complete` / `Failed`) is added once no pod of the Job is still running or
//! terminating. `suspend` deletes the active pods and adds `Suspended`; resuming resets
//! `startTime`. A finished Job with `ttlSecondsAfterFinished` is deleted (Background
//! propagation) once the TTL has passed since it finished.
//!
//! Differences from upstream:
//! - No job-tracking finalizers: `status.succeeded` / `status.failed` are recounted from the
//!   pods that exist (`uncountedTerminatedPods` stays empty). A terminated pod deleted by someone
//!   else drops out of the counts, and a pod deleted before it terminated is replaced without
//!   counting as a failure. Container restarts of `restartPolicy: OnFailure` pods do not count
//!   towards the backoff limit.
//! - No podFailurePolicy, successPolicy, backoffLimitPerIndex, pod replacement policy
//!   (pods are replaced once terminal or deleted), and no exponential delay before recreating
//!   failed pods.
//! - Orphan pods matching the selector are not adopted.
//!
//! [`Expectations`] (pending creates and deletes per owner) is shared with the DaemonSet
//! controller.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use barge_client::events::{Recorder, Type};
use barge_client::writer::{is_conflict, is_not_found};
use barge_client::{Change, Delete, Informer, Key, WriterExt};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, PropagationPolicy};
use serde_json::json;

use crate::pods::{controller_of, controller_ref, is_active, is_ready, is_scheduled, phase};
use crate::runner::{Queue, Reconciler, controller_key, enqueue, own_key};
use crate::{BY_OWNER, Context};

/// How long expectations may stay unmet before the controller acts again anyway.
const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

/// At most this many pods are created or deleted in one reconcile.
const BURST: usize = 500;

pub const LABEL_CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
pub const LABEL_JOB_NAME: &str = "batch.kubernetes.io/job-name";
pub const LEGACY_CONTROLLER_UID: &str = "controller-uid";
pub const LEGACY_JOB_NAME: &str = "job-name";
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// Upstream's ControllerExpectations, by name: the dependents an owner has created or deleted
/// and not yet seen in the cache. While any are pending (for at most five minutes), the owner's
/// reconcile must not create or delete more, since it would act on a stale view.
#[derive(Debug, Default)]
pub struct Expectations {
    pending: Mutex<HashMap<Key, Pending>>,
}

#[derive(Debug)]
struct Pending {
    creates: HashSet<String>,
    deletes: HashSet<String>,
    since: Instant,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entry<'a>(map: &'a mut HashMap<Key, Pending>, owner: &Key) -> &'a mut Pending {
        map.entry(owner.clone()).or_insert_with(|| Pending {
            creates: HashSet::new(),
            deletes: HashSet::new(),
            since: Instant::now(),
        })
    }

    /// `owner` created the dependent `name`.
    pub fn created(&self, owner: &Key, name: &str) {
        let mut map = self.lock();
        let p = Self::entry(&mut map, owner);
        p.creates.insert(name.to_owned());
        p.since = Instant::now();
    }

    /// `owner` deleted the dependent `name`.
    pub fn deleted(&self, owner: &Key, name: &str) {
        let mut map = self.lock();
        let p = Self::entry(&mut map, owner);
        p.deletes.insert(name.to_owned());
        p.since = Instant::now();
    }

    /// The cache has seen the dependent `name` of `owner` (`gone`: its deletion).
    pub fn observe(&self, owner: &Key, name: &str, gone: bool) {
        let mut map = self.lock();
        if let Some(p) = map.get_mut(owner) {
            p.creates.remove(name);
            if gone {
                p.deletes.remove(name);
            }
        }
    }

    /// Whether `owner` may act: every pending create is in the cache and every pending delete
    /// is gone from it or terminating (`state(name)`: `None` when absent, `Some(terminating)`),
    /// or the expectations timed out.
    pub fn satisfied(&self, owner: &Key, state: impl Fn(&str) -> Option<bool>) -> bool {
        let mut map = self.lock();
        let Some(p) = map.get_mut(owner) else {
            return true;
        };
        p.creates.retain(|n| state(n).is_none());
        p.deletes.retain(|n| state(n) == Some(false));
        if (p.creates.is_empty() && p.deletes.is_empty())
            || p.since.elapsed() > EXPECTATIONS_TIMEOUT
        {
            map.remove(owner);
            return true;
        }
        false
    }

    /// Drops everything pending for `owner` (it was deleted).
    pub fn forget(&self, owner: &Key) {
        self.lock().remove(owner);
    }

    /// Keeps the expectations of owners of `kind` current from the pod informer's changes, so
    /// that a dependent created and deleted between two reconciles does not hold its owner up.
    pub fn watch_pods(self: &Arc<Self>, pods: &Informer<Pod>, kind: &'static str) {
        let expectations = self.clone();
        let mut changes = pods.subscribe();
        tokio::spawn(async move {
            while let Some(change) = changes.next().await {
                let (pod, gone) = match &change {
                    Change::Applied { new, .. } => (new, false),
                    Change::Deleted(old) => (old, true),
                    Change::Resynced => continue,
                };
                if let Some(owner) = controller_key(pod.as_ref(), kind) {
                    let name = pod.metadata.name.as_deref().unwrap_or_default();
                    expectations.observe(&owner, name, gone);
                }
            }
        });
    }
}

/// The Job controller.
pub struct JobController {
    ctx: Context,
    recorder: Recorder,
    expectations: Arc<Expectations>,
}

impl std::fmt::Debug for JobController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobController").finish_non_exhaustive()
    }
}

/// Starts the Job controller's watches; returns its reconciler and queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    enqueue(&ctx.informers.jobs, &queue, own_key);
    enqueue(&ctx.informers.pods, &queue, |p| {
        controller_key(p, "Job").into_iter().collect()
    });
    let controller = JobController::new(ctx);
    controller
        .expectations
        .watch_pods(&ctx.informers.pods, "Job");
    (Arc::new(controller), queue)
}

/// The condition of `type_` with status True, if any.
pub fn true_condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// Whether the Job has finished (Complete or Failed).
pub fn is_finished(job: &Job) -> bool {
    true_condition(job, "Complete").is_some() || true_condition(job, "Failed").is_some()
}

/// When the Job finished, if it has.
fn finish_time(job: &Job) -> Option<Timestamp> {
    ["Complete", "Failed"]
        .iter()
        .find_map(|t| true_condition(job, t))
        .and_then(|c| c.last_transition_time.as_ref().map(|t| t.0))
        .or_else(|| {
            job.status
                .as_ref()
                .and_then(|s| s.completion_time.as_ref().map(|t| t.0))
        })
}

/// Sets the condition `type_` (adding it, or changing it when its status differs).
fn set_condition(
    conditions: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status != status {
            c.status = status.into();
            c.reason = Some(reason.into());
            c.message = Some(message.into());
            c.last_probe_time = Some(Time(now));
            c.last_transition_time = Some(Time(now));
        }
        return;
    }
    conditions.push(JobCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    });
}

fn has_true(conditions: &[JobCondition], type_: &str) -> Option<(String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

/// The completion index of a pod of an Indexed Job.
fn pod_index(pod: &Pod) -> Option<i32> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(COMPLETION_INDEX))
        .or_else(|| {
            pod.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(COMPLETION_INDEX))
        })
        .and_then(|v| v.parse().ok())
}

/// How long from `now` until `t` (zero when past).
pub fn until(t: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(t.duration_since(now)).unwrap_or_default()
}

/// Upstream's interval notation of a set of indexes: `1,3-5,7`.
pub fn format_indexes(indexes: &BTreeSet<i32>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last += 1;
            iter.next();
        }
        out.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
    }
    out.join(",")
}

/// How early a pod is deleted when there are too many (upstream's ActivePods order): not yet
/// scheduled, then pending, then not ready, then the newest.
fn deletion_rank(pod: &Pod) -> (bool, u8, bool, std::cmp::Reverse<Option<Timestamp>>) {
    let phase_rank = match phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    };
    (
        is_scheduled(pod),
        phase_rank,
        is_ready(pod),
        std::cmp::Reverse(pod.metadata.creation_timestamp.as_ref().map(|t| t.0)),
    )
}

/// The pod a Job creates (for `index` when it is Indexed).
pub fn pod_for(job: &Job, index: Option<i32>) -> Pod {
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    for (k, v) in [
        (LABEL_CONTROLLER_UID, &uid),
        (LABEL_JOB_NAME, &name),
        (LEGACY_CONTROLLER_UID, &uid),
        (LEGACY_JOB_NAME, &name),
    ] {
        labels.insert(k.into(), v.clone());
    }
    let mut annotations = tmeta.annotations.unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    let generate_name = match index {
        Some(i) => {
            annotations.insert(COMPLETION_INDEX.into(), i.to_string());
            labels.insert(COMPLETION_INDEX.into(), i.to_string());
            if spec.hostname.is_none() {
                spec.hostname = Some(format!("{name}-{i}"));
            }
            let env = EnvVar {
                name: "JOB_COMPLETION_INDEX".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: format!("metadata.labels['{COMPLETION_INDEX}']"),
                    }),
                    ..Default::default()
                }),
            };
            for c in spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten())
            {
                let envs = c.env.get_or_insert_with(Vec::new);
                if !envs.iter().any(|e| e.name == env.name) {
                    envs.push(env.clone());
                }
            }
            format!("{name}-{i}-")
        }
        None => format!("{name}-"),
    };
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![controller_ref(job)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

impl JobController {
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            recorder: ctx.recorder("job-controller"),
            expectations: Arc::default(),
        }
    }

    /// A finished Job: delete it once its TTL has passed.
    async fn ttl(&self, job: &Job, now: Timestamp) -> anyhow::Result<Option<Duration>> {
        let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
            return Ok(None);
        };
        let Some(finished) = finish_time(job) else {
            return Ok(None);
        };
        let expires = finished + SignedDuration::from_secs(i64::from(ttl.max(0)));
        if expires > now {
            let left = until(expires, now);
            return Ok(Some(left));
        }
        let ns = job.metadata.namespace.clone().unwrap_or_default();
        let name = job.metadata.name.clone().unwrap_or_default();
        let options = Delete {
            propagation: Some(PropagationPolicy::Background),
            uid: job.metadata.uid.clone(),
            grace_period_seconds: None,
        };
        match self
            .ctx
            .writer
            .delete_typed::<Job>(&ns, &name, &options)
            .await
        {
            Ok(()) => Ok(None),
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_pods(&self, key: &Key, job: &Job, pods: &[&Pod]) -> anyhow::Result<usize> {
        let mut deleted = 0;
        let mut error = None;
        for pod in pods.iter().take(BURST) {
            match crate::pods::delete_controlled(&self.ctx, &self.recorder, job, pod).await {
                Ok(done) => {
                    if done == crate::pods::Deleted::Now {
                        let name = pod.metadata.name.as_deref().unwrap_or_default();
                        self.expectations.deleted(key, name);
                    }
                    deleted += 1;
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        match error {
            Some(e) => Err(e.into()),
            None => Ok(deleted),
        }
    }

    async fn create_pods(
        &self,
        key: &Key,
        job: &Job,
        indexes: &[Option<i32>],
    ) -> anyhow::Result<usize> {
        let mut created = 0;
        for index in indexes.iter().take(BURST) {
            let pod = pod_for(job, *index);
            match self.ctx.writer.create_typed(&key.namespace, &pod).await {
                Ok(pod) => {
                    let name = pod.metadata.name.unwrap_or_default();
                    self.expectations.created(key, &name);
                    created += 1;
                    let msg = format!("Created pod: {name}");
                    self.recorder
                        .publish(job, Type::Normal, "SuccessfulCreate", &msg)
                        .await;
                }
                Err(e) if is_conflict(&e) => {}
                Err(e) => {
                    let msg = format!("Error creating: {e}");
                    self.recorder
                        .publish(job, Type::Warning, "FailedCreate", &msg)
                        .await;
                    return Err(e.into());
                }
            }
        }
        Ok(created)
    }

    async fn sync(&self, key: &Key, job: &Job) -> anyhow::Result<Option<Duration>> {
        let now = Timestamp::now();
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let spec = job.spec.clone().unwrap_or_default();
        let all = self.ctx.informers.pods.cache().by_index(BY_OWNER, &uid);
        let pods: Vec<&Pod> = all
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| controller_of(*p).is_some_and(|o| o.uid == uid))
            .collect();
        let satisfied = self.expectations.satisfied(key, |name| {
            pods.iter()
                .find(|p| p.metadata.name.as_deref() == Some(name))
                .map(|p| p.metadata.deletion_timestamp.is_some())
        });

        let indexed = spec.completion_mode.as_deref() == Some("Indexed");
        let parallelism = spec.parallelism.unwrap_or(1).max(0);
        let completions = spec.completions;
        let backoff_limit = spec.backoff_limit.unwrap_or(6);
        let suspended = spec.suspend == Some(true);

        let active: Vec<&Pod> = pods.iter().copied().filter(|p| is_active(p)).collect();
        let terminating = pods
            .iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_some()
                    && !matches!(phase(p), "Succeeded" | "Failed")
            })
            .count();
        let failed = pods.iter().filter(|p| phase(p) == "Failed").count();
        let succeeded_pods: Vec<&Pod> = pods
            .iter()
            .copied()
            .filter(|p| phase(p) == "Succeeded")
            .collect();
        let succeeded_indexes: BTreeSet<i32> = if indexed {
            let limit = completions.unwrap_or(0);
            succeeded_pods
                .iter()
                .filter_map(|p| pod_index(p))
                .filter(|i| (0..limit).contains(i))
                .collect()
        } else {
            BTreeSet::new()
        };
        let succeeded = if indexed {
            succeeded_indexes.len()
        } else {
            succeeded_pods.len()
        };
        let ready = active.iter().filter(|p| is_ready(p)).count();

        let old = job.status.clone().unwrap_or_default();
        let mut conditions = old.conditions.clone().unwrap_or_default();
        let mut start_time = old.start_time.clone();
        let mut completion_time = old.completion_time.clone();
        let mut events: Vec<(Type, &str, String)> = Vec::new();

        // Suspension and resumption.
        let was_suspended = has_true(&conditions, "Suspended").is_some();
        if suspended && !was_suspended {
            set_condition(
                &mut conditions,
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            );
            events.push((Type::Normal, "Suspended", "Job suspended".into()));
        } else if !suspended && was_suspended {
            set_condition(
                &mut conditions,
                "Suspended",
                "False",
                "JobResumed",
                "Job resumed",
                now,
            );
            start_time = Some(Time(now));
            events.push((Type::Normal, "Resumed", "Job resumed".into()));
        }
        if start_time.is_none() && !suspended {
            start_time = Some(Time(now));
        }

        // Has it succeeded or failed?
        let deadline = spec
            .active_deadline_seconds
            .zip(start_time.as_ref())
            .filter(|_| !suspended)
            .map(|(s, t)| t.0 + SignedDuration::from_secs(s));
        let failure = has_true(&conditions, "FailureTarget").or_else(|| {
            if failed as i64 > i64::from(backoff_limit) {
                Some((
                    "BackoffLimitExceeded".into(),
                    "Job has reached the specified backoff limit".into(),
                ))
            } else if deadline.is_some_and(|d| d <= now) {
                Some((
                    "DeadlineExceeded".into(),
                    "Job was active longer than specified deadline".into(),
                ))
            } else {
                None
            }
        });
        let success = failure.is_none()
            && (has_true(&conditions, "SuccessCriteriaMet").is_some()
                || match completions {
                    Some(c) => succeeded as i64 >= i64::from(c),
                    None => succeeded > 0 && active.is_empty(),
                });

        let mut active_after = active.len() as i64;
        let mut terminating_after = terminating as i64;
        if let Some((reason, message)) = &failure {
            set_condition(
                &mut conditions,
                "FailureTarget",
                "True",
                reason,
                message,
                now,
            );
            if satisfied && !active.is_empty() {
                let n = self.delete_pods(key, job, &active).await?;
                active_after -= n as i64;
                terminating_after += n as i64;
            }
            if active_after == 0 && terminating_after == 0 {
                set_condition(&mut conditions, "Failed", "True", reason, message, now);
                events.push((Type::Warning, reason.as_str(), message.clone()));
            }
        } else if success {
            let (reason, message) = (
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            );
            set_condition(
                &mut conditions,
                "SuccessCriteriaMet",
                "True",
                reason,
                message,
                now,
            );
            if satisfied && !active.is_empty() {
                let n = self.delete_pods(key, job, &active).await?;
                active_after -= n as i64;
                terminating_after += n as i64;
            }
            if active_after == 0 && terminating_after == 0 {
                set_condition(&mut conditions, "Complete", "True", reason, message, now);
                completion_time = Some(Time(now));
                events.push((Type::Normal, "Completed", "Job completed".into()));
            }
        } else if satisfied {
            // Run the wanted number of pods.
            let mut sorted = active.clone();
            sorted.sort_by_key(|p| deletion_rank(p));
            if suspended {
                let n = self.delete_pods(key, job, &sorted).await?;
                active_after -= n as i64;
                terminating_after += n as i64;
            } else if indexed {
                let count = completions.unwrap_or(0).max(0);
                let running: HashSet<i32> = active.iter().filter_map(|p| pod_index(p)).collect();
                // Duplicates and out-of-range indexes go first.
                let mut seen = HashSet::new();
                let extra: Vec<&Pod> = sorted
                    .iter()
                    .rev()
                    .copied()
                    .filter(|p| match pod_index(p) {
                        Some(i) if (0..count).contains(&i) && !succeeded_indexes.contains(&i) => {
                            !seen.insert(i)
                        }
                        _ => true,
                    })
                    .collect();
                if !extra.is_empty() {
                    let n = self.delete_pods(key, job, &extra).await?;
                    active_after -= n as i64;
                    terminating_after += n as i64;
                }
                let room = i64::from(parallelism) - (active.len() - extra.len()) as i64;
                let missing: Vec<Option<i32>> = (0..count)
                    .filter(|i| !succeeded_indexes.contains(i) && !running.contains(i))
                    .take(room.max(0) as usize)
                    .map(Some)
                    .collect();
                active_after += self.create_pods(key, job, &missing).await? as i64;
            } else {
                let want = match completions {
                    Some(c) => i64::from(parallelism).min(i64::from(c) - succeeded as i64),
                    // After a success, whatever runs is left to finish.
                    None if succeeded > 0 => active.len() as i64,
                    None => i64::from(parallelism),
                }
                .max(0);
                let have = active.len() as i64;
                if have > want {
                    let n = (have - want) as usize;
                    let removed = self.delete_pods(key, job, &sorted[..n]).await?;
                    active_after -= removed as i64;
                    terminating_after += removed as i64;
                } else if have < want {
                    let indexes = vec![None; (want - have) as usize];
                    active_after += self.create_pods(key, job, &indexes).await? as i64;
                }
            }
        }

        let status = JobStatus {
            active: Some(active_after.max(0) as i32),
            ready: Some(ready as i32),
            succeeded: Some(succeeded as i32),
            failed: Some(failed as i32),
            terminating: Some(terminating_after.max(0) as i32),
            start_time,
            completion_time,
            conditions: (!conditions.is_empty()).then_some(conditions),
            completed_indexes: indexed.then(|| format_indexes(&succeeded_indexes)),
            failed_indexes: old.failed_indexes.clone(),
            uncounted_terminated_pods: old.uncounted_terminated_pods.clone(),
        };
        if status != old {
            let patch = json!({
                "metadata": {"resourceVersion": job.metadata.resource_version},
                "status": status,
            });
            self.ctx
                .writer
                .patch_typed::<Job>(&key.namespace, &key.name, Some("status"), patch)
                .await?;
        }
        for (kind, reason, message) in events {
            self.recorder.publish(job, kind, reason, &message).await;
        }

        // Come back when the deadline passes.
        if failure.is_none()
            && !success
            && let Some(d) = deadline
            && d > now
        {
            return Ok(Some(until(d, now)));
        }
        Ok(None)
    }
}

#[async_trait]
impl Reconciler for JobController {
    fn name(&self) -> &'static str {
        "job"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(job) = self.ctx.informers.jobs.cache().get_key(key) else {
            self.expectations.forget(key);
            return Ok(None);
        };
        if job.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        if is_finished(&job) {
            return self.ttl(&job, Timestamp::now()).await;
        }
        self.sync(key, &job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::writer::Call;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::api::core::v1::{
        Container, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
    };
    use serde_json::Value;

    fn job(name: &str, spec: JobSpec) -> Job {
        Job {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                resource_version: Some("7".into()),
                ..Default::default()
            },
            spec: Some(JobSpec {
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("app".to_string(), name.to_string())].into()),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "main".into(),
                            image: Some("busybox".into()),
                            ..Default::default()
                        }],
                        restart_policy: Some("Never".into()),
                        ..Default::default()
                    }),
                },
                ..spec
            }),
            status: None,
        }
    }

    fn spec(parallelism: i32, completions: Option<i32>) -> JobSpec {
        JobSpec {
            parallelism: Some(parallelism),
            completions,
            backoff_limit: Some(6),
            ..Default::default()
        }
    }

    /// A pod of `job` in `phase`, ready when Running.
    fn pod(job: &Job, name: &str, phase: &str) -> Pod {
        let mut p = pod_for(job, None);
        p.metadata.name = Some(name.into());
        p.metadata.uid = Some(format!("uid-{name}"));
        p.metadata.generate_name = None;
        p.spec.as_mut().unwrap().node_name = Some("n1".into());
        p.status = Some(PodStatus {
            phase: Some(phase.into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if phase == "Running" { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        p
    }

    fn setup(j: &Job, pods: Vec<Pod>) -> (JobController, Arc<barge_client::Recording>) {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.jobs.apply(j.clone());
        for p in pods {
            ctx.informers.pods.apply(p);
        }
        (JobController::new(&ctx), writer)
    }

    fn key(name: &str) -> Key {
        Key::new("default", name)
    }

    /// The status patch among the calls.
    fn status_patch(calls: &[Call]) -> Value {
        calls
            .iter()
            .find_map(|c| match c {
                Call::Patch {
                    subresource: Some(s),
                    patch,
                    ..
                } if s == "status" => Some(patch["status"].clone()),
                _ => None,
            })
            .expect("a status patch")
    }

    fn events(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Create { target, object } if target.plural == "events" => Some(format!(
                    "{} {} {}",
                    object["type"].as_str().unwrap_or_default(),
                    object["reason"].as_str().unwrap_or_default(),
                    object["message"].as_str().unwrap_or_default()
                )),
                _ => None,
            })
            .collect()
    }

    fn created_pods(calls: &[Call]) -> Vec<Value> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Create { target, object } if target.plural == "pods" => Some(object.clone()),
                _ => None,
            })
            .collect()
    }

    fn condition_types(status: &Value) -> Vec<String> {
        status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["status"] == "True")
            .map(|c| c["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn creates_parallelism_pods_from_the_template_once() {
        let j = job("pi", spec(2, Some(5)));
        let (c, writer) = setup(&j, vec![]);
        c.reconcile(&key("pi")).await.unwrap();
        let calls = writer.take();
        let pods = created_pods(&calls);
        assert_eq!(pods.len(), 2);
        let p = &pods[0];
        assert_eq!(p["metadata"]["generateName"], "pi-");
        let labels = &p["metadata"]["labels"];
        assert_eq!(labels[LABEL_CONTROLLER_UID], "uid-pi");
        assert_eq!(labels[LABEL_JOB_NAME], "pi");
        assert_eq!(labels[LEGACY_CONTROLLER_UID], "uid-pi");
        assert_eq!(labels[LEGACY_JOB_NAME], "pi");
        assert_eq!(labels["app"], "pi");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "Job");
        assert_eq!(p["metadata"]["ownerReferences"][0]["controller"], true);
        let status = status_patch(&calls);
        assert_eq!(status["active"], 2);
        assert!(status["startTime"].is_string());
        assert_eq!(
            events(&calls),
            [
                "Normal SuccessfulCreate Created pod: pi-00000",
                "Normal SuccessfulCreate Created pod: pi-00002"
            ]
        );
        // The cache has not seen the pods yet: no more are created.
        c.reconcile(&key("pi")).await.unwrap();
        assert!(created_pods(&writer.take()).is_empty());
    }

    #[tokio::test]
    async fn replaces_failed_pods_and_stops_at_completions() {
        let j = job("pi", spec(2, Some(3)));
        let pods = vec![
            pod(&j, "pi-a", "Succeeded"),
            pod(&j, "pi-b", "Failed"),
            pod(&j, "pi-c", "Running"),
        ];
        let (c, writer) = setup(&j, pods);
        c.reconcile(&key("pi")).await.unwrap();
        let calls = writer.take();
        // 2 more completions wanted, 1 running: one more pod.
        assert_eq!(created_pods(&calls).len(), 1);
        let status = status_patch(&calls);
        assert_eq!(status["succeeded"], 1);
        assert_eq!(status["failed"], 1);
        assert_eq!(status["active"], 2);
        assert_eq!(status["ready"], 1);
    }

    #[tokio::test]
    async fn completes_with_success_criteria_met_then_complete() {
        let j = job("pi", spec(1, Some(2)));
        let pods = vec![pod(&j, "pi-a", "Succeeded"), pod(&j, "pi-b", "Succeeded")];
        let (c, writer) = setup(&j, pods);
        c.reconcile(&key("pi")).await.unwrap();
        let calls = writer.take();
        let status = status_patch(&calls);
        assert_eq!(condition_types(&status), ["SuccessCriteriaMet", "Complete"]);
        assert_eq!(status["conditions"][1]["reason"], "CompletionsReached");
        assert_eq!(
            status["conditions"][1]["message"],
            "Reached expected number of succeeded pods"
        );
        assert!(status["completionTime"].is_string());
        assert_eq!(events(&calls), ["Normal Completed Job completed"]);
    }

    #[tokio::test]
    async fn success_deletes_leftover_pods_before_complete() {
        // completions unset: the first success ends the job; the other pod is deleted.
        let j = job("pi", spec(2, None));
        let pods = vec![pod(&j, "pi-a", "Succeeded"), pod(&j, "pi-b", "Running")];
        let (c, writer) = setup(&j, pods);
        // Without completions the job waits for the active pods to finish on their own.
        c.reconcile(&key("pi")).await.unwrap();
        let calls = writer.take();
        assert!(!calls.iter().any(|c| matches!(c, Call::Delete { .. })));
        assert!(created_pods(&calls).is_empty());

        let j = job("pj", spec(2, Some(1)));
        let pods = vec![pod(&j, "pj-a", "Succeeded"), pod(&j, "pj-b", "Running")];
        let (c, writer) = setup(&j, pods);
        c.reconcile(&key("pj")).await.unwrap();
        let calls = writer.take();
        let summaries: Vec<String> = calls.iter().map(Call::summary).collect();
        assert!(summaries.contains(&"delete pods default/pj-b".to_string()));
        let status = status_patch(&calls);
        assert_eq!(condition_types(&status), ["SuccessCriteriaMet"]);
        assert_eq!(status["terminating"], 1);
    }

    #[tokio::test]
    async fn backoff_limit_fails_the_job() {
        let mut s = spec(1, Some(1));
        s.backoff_limit = Some(1);
        let mut j = job("pi", s);
        let pods = vec![
            pod(&j, "pi-a", "Failed"),
            pod(&j, "pi-b", "Failed"),
            pod(&j, "pi-c", "Running"),
        ];
        let (c, writer) = setup(&j, pods);
        c.reconcile(&key("pi")).await.unwrap();
        let calls = writer.take();
        let summaries: Vec<String> = calls.iter().map(Call::summary).collect();
        assert!(summaries.contains(&"delete pods default/pi-c".to_string()));
        let status = status_patch(&calls);
        assert_eq!(condition_types(&status), ["FailureTarget"]);
        assert_eq!(status["conditions"][0]["reason"], "BackoffLimitExceeded");

        // Once the running pod is gone, the job is Failed.
        j.status = serde_json::from_value(status).ok();
        let pods = vec![pod(&j, "pi-a", "Failed"), pod(&j, "pi-b", "Failed")];
        let (c, writer) = setup(&j, pods);
        c.reconcile(&key("pi")).await.unwrap();
        let calls = writer.take();
        let status = status_patch(&calls);
        assert_eq!(condition_types(&status), ["FailureTarget", "Failed"]);
        assert_eq!(
            status["conditions"][1]["message"],
            "Job has reached the specified backoff limit"
        );
        assert_eq!(
            events(&calls),
            ["Warning BackoffLimitExceeded Job has reached the specified backoff limit"]
        );
        assert!(created_pods(&calls).is_empty());
    }

    #[tokio::test]
    async fn active_deadline_fails_the_job_and_is_requeued_for() {
        let mut s = spec(1, Some(1));
        s.active_deadline_seconds = Some(10);
        let mut j = job("pi", s);
        j.status = Some(JobStatus {
            start_time: Some(Time(Timestamp::now() - SignedDuration::from_secs(3))),
            ..Default::default()
        });
        let (c, writer) = setup(&j, vec![pod(&j, "pi-a", "Running")]);
        let again = c.reconcile(&key("pi")).await.unwrap();
        let again = again.expect("requeued for the deadline");
        assert!(again <= Duration::from_secs(7) && again > Duration::from_secs(5));
        assert!(
            !writer
                .take()
                .iter()
                .any(|c| matches!(c, Call::Delete { .. }))
        );

        j.status = Some(JobStatus {
            start_time: Some(Time(Timestamp::now() - SignedDuration::from_secs(30))),
            ..Default::default()
        });
        let (c, writer) = setup(&j, vec![]);
        c.reconcile(&key("pi")).await.unwrap();
        let calls = writer.take();
        let status = status_patch(&calls);
        assert_eq!(condition_types(&status), ["FailureTarget", "Failed"]);
        assert_eq!(status["conditions"][1]["reason"], "DeadlineExceeded");
        assert_eq!(
            events(&calls),
            ["Warning DeadlineExceeded Job was active longer than specified deadline"]
        );
    }

    #[tokio::test]
    async fn deadline_deletes_the_active_pods() {
        let mut s = spec(1, Some(1));
        s.active_deadline_seconds = Some(10);
        let mut j = job("pi", s);
        j.status = Some(JobStatus {
            start_time: Some(Time(Timestamp::now() - SignedDuration::from_secs(30))),
            ..Default::default()
        });
        let (c, writer) = setup(&j, vec![pod(&j, "pi-a", "Running")]);
        c.reconcile(&key("pi")).await.unwrap();
        let calls = writer.take();
        let summaries: Vec<String> = calls.iter().map(Call::summary).collect();
        assert!(summaries.contains(&"delete pods default/pi-a".to_string()));
        assert_eq!(condition_types(&status_patch(&calls)), ["FailureTarget"]);
    }

    fn finished(j: &mut Job, secs_ago: i64, ttl: i32) {
        j.spec.as_mut().unwrap().ttl_seconds_after_finished = Some(ttl);
        let at = Time(Timestamp::now() - SignedDuration::from_secs(secs_ago));
        j.status = Some(JobStatus {
            conditions: Some(vec![JobCondition {
                type_: "Complete".into(),
                status: "True".into(),
                last_transition_time: Some(at.clone()),
                ..Default::default()
            }]),
            completion_time: Some(at),
            ..Default::default()
        });
    }

    #[tokio::test]
    async fn ttl_after_finished_deletes_the_job_in_the_background() {
        let mut j = job("pi", spec(1, Some(1)));
        finished(&mut j, 10, 100);
        let (c, writer) = setup(&j, vec![]);
        let again = c.reconcile(&key("pi")).await.unwrap().expect("requeued");
        assert!(again > Duration::from_secs(85) && again <= Duration::from_secs(90));
        assert!(writer.take().is_empty());

        finished(&mut j, 10, 5);
        let (c, writer) = setup(&j, vec![]);
        assert_eq!(c.reconcile(&key("pi")).await.unwrap(), None);
        let calls = writer.take();
        assert_eq!(calls.len(), 1);
        let Call::Delete { target, options } = &calls[0] else {
            panic!("{calls:?}");
        };
        assert_eq!(target.name, "pi");
        assert_eq!(options.propagation, Some(PropagationPolicy::Background));
        assert_eq!(options.uid.as_deref(), Some("uid-pi"));
    }

    #[tokio::test]
    async fn a_finished_job_without_ttl_is_left_alone() {
        let mut j = job("pi", spec(1, Some(1)));
        finished(&mut j, 10, 5);
        j.spec.as_mut().unwrap().ttl_seconds_after_finished = None;
        let (c, writer) = setup(&j, vec![pod(&j, "pi-a", "Running")]);
        assert_eq!(c.reconcile(&key("pi")).await.unwrap(), None);
        assert!(writer.take().is_empty());
    }

    #[tokio::test]
    async fn suspend_deletes_active_pods_and_resume_resets_start_time() {
        let mut s = spec(2, Some(4));
        s.suspend = Some(true);
        let mut j = job("pi", s);
        let (c, writer) = setup(
            &j,
            vec![pod(&j, "pi-a", "Running"), pod(&j, "pi-b", "Pending")],
        );
        c.reconcile(&key("pi")).await.unwrap();
        let calls = writer.take();
        let deletes = calls
            .iter()
            .filter(|c| matches!(c, Call::Delete { .. }))
            .count();
        assert_eq!(deletes, 2);
        assert!(created_pods(&calls).is_empty());
        let status = status_patch(&calls);
        assert_eq!(condition_types(&status), ["Suspended"]);
        assert_eq!(status["conditions"][0]["reason"], "JobSuspended");
        assert!(events(&calls).contains(&"Normal Suspended Job suspended".to_string()));

        // Resumed.
        let old_start = Time(Timestamp::now() - SignedDuration::from_secs(1000));
        let mut st: JobStatus = serde_json::from_value(status).unwrap();
        st.start_time = Some(old_start.clone());
        j.status = Some(st);
        j.spec.as_mut().unwrap().suspend = Some(false);
        let (c, writer) = setup(&j, vec![]);
        c.reconcile(&key("pi")).await.unwrap();
        let calls = writer.take();
        assert_eq!(created_pods(&calls).len(), 2);
        let status = status_patch(&calls);
        assert_eq!(status["conditions"][0]["status"], "False");
        assert_eq!(status["conditions"][0]["reason"], "JobResumed");
        let start: Timestamp = status["startTime"].as_str().unwrap().parse().unwrap();
        assert!(start > old_start.0);
        assert!(events(&calls).contains(&"Normal Resumed Job resumed".to_string()));
    }

    #[tokio::test]
    async fn scale_down_deletes_the_least_ready_pods_first() {
        let j = job("pi", spec(1, Some(5)));
        let pending = pod(&j, "pi-pending", "Pending");
        let (c, writer) = setup(&j, vec![pod(&j, "pi-running", "Running"), pending]);
        c.reconcile(&key("pi")).await.unwrap();
        let summaries = writer.summaries();
        assert!(summaries.contains(&"delete pods default/pi-pending".to_string()));
        assert!(!summaries.contains(&"delete pods default/pi-running".to_string()));
    }

    #[tokio::test]
    async fn indexed_jobs_create_the_missing_indexes() {
        let mut s = spec(2, Some(4));
        s.completion_mode = Some("Indexed".into());
        let j = job("ix", s);
        let mut done = pod(&j, "ix-0-a", "Succeeded");
        done.metadata
            .annotations
            .get_or_insert_default()
            .insert(COMPLETION_INDEX.into(), "0".into());
        let mut running = pod(&j, "ix-1-a", "Running");
        running
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(COMPLETION_INDEX.into(), "1".into());
        let (c, writer) = setup(&j, vec![done, running]);
        c.reconcile(&key("ix")).await.unwrap();
        let calls = writer.take();
        let pods = created_pods(&calls);
        assert_eq!(pods.len(), 1, "parallelism 2, one running");
        let p = &pods[0];
        assert_eq!(p["metadata"]["generateName"], "ix-2-");
        assert_eq!(p["metadata"]["annotations"][COMPLETION_INDEX], "2");
        assert_eq!(p["metadata"]["labels"][COMPLETION_INDEX], "2");
        assert_eq!(p["spec"]["hostname"], "ix-2");
        assert_eq!(
            p["spec"]["containers"][0]["env"][0]["name"],
            "JOB_COMPLETION_INDEX"
        );
        let status = status_patch(&calls);
        assert_eq!(status["completedIndexes"], "0");
        assert_eq!(status["succeeded"], 1);
    }

    #[test]
    fn indexes_format_as_intervals() {
        let set: BTreeSet<i32> = [0, 1, 2, 4, 6, 7].into();
        assert_eq!(format_indexes(&set), "0-2,4,6-7");
        assert_eq!(format_indexes(&BTreeSet::new()), "");
    }

    #[test]
    fn expectations_wait_for_the_cache_or_the_timeout() {
        let e = Expectations::default();
        let k = key("pi");
        e.created(&k, "pi-a");
        e.deleted(&k, "pi-b");
        // pi-a not yet seen, pi-b still there and not terminating.
        assert!(!e.satisfied(&k, |n| (n == "pi-b").then_some(false)));
        // pi-a seen, pi-b terminating.
        assert!(e.satisfied(&k, |n| Some(n == "pi-b")));
        e.created(&k, "pi-c");
        e.observe(&k, "pi-c", true);
        assert!(e.satisfied(&k, |_| None));
    }
}
