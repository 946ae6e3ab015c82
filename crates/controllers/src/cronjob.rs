//! The CronJob controller (upstream `pkg/controller/cronjob`, the v2 controller): a Job from
//! `jobTemplate` at each time of `schedule`.
//!
//! [`Schedule`] parses the standard five fields (minute, hour, day of month, month, day of
//! week) with `*`, `?`, lists, ranges, steps and month and weekday names, and the macros
//! `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly`; as in
//! robfig/cron, day of month and day of week are OR-ed when both are restricted. Times are
//! computed in `timeZone` (read from the host's zoneinfo database) or UTC.
//!
//! Each reconcile: drop finished or vanished Jobs from `status.active` (recording
//! `lastSuccessfulTime`), delete the oldest finished Jobs beyond `successfulJobsHistoryLimit`
//! (3) and `failedJobsHistoryLimit` (1), then, unless suspended, find the most recent
//! scheduled time not yet run; skip it if it is older than `startingDeadlineSeconds`; apply
//! `concurrencyPolicy` (Allow, Forbid: skip while a Job is active, Replace: delete the active
//! Jobs); create the Job `<cronjob>-<scheduled time in minutes since the epoch>`; and come back
//! at the next scheduled time.
//!
//! Differences from upstream: the missed-start count stops at 100 (reported with
//! `TooManyMissedTimes` as upstream) and the most recent time is then searched for in windows
//! of growing size back from now.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use barge_client::events::{Recorder, Type};
use barge_client::writer::{is_conflict, is_not_found};
use barge_client::{Delete, Key, WriterExt};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::civil::{Date, DateTime};
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{SignedDuration, Timestamp, ToSpan};
use kube::api::{ObjectMeta, PropagationPolicy};
use serde_json::json;

use crate::job::{is_finished, true_condition, until};
use crate::pods::{controller_of, controller_ref};
use crate::runner::{Queue, Reconciler, controller_key, enqueue, own_key};
use crate::{BY_OWNER, Context};

pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// A parsed cron schedule: the allowed values of each field as bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Day of month or week was `*` (or `?`): the two are then AND-ed, else OR-ed.
    days_star: bool,
    weekdays_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn parse_value(s: &str, names: &[&str], offset: u32) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + offset);
    }
    s.parse::<u32>().map_err(|_| {
        format!("failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax")
    })
}

/// The bits of one field (`min..=max`) and whether it was a bare `*`.
fn parse_field(
    field: &str,
    min: u32,
    max: u32,
    names: &[&str],
    offset: u32,
) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| {
                    format!(
                        "failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax"
                    )
                })?;
                if step == 0 {
                    return Err(format!("step of range should be a positive number: {part}"));
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let (start, end) = if range == "*" || range == "?" {
            if step.is_none() {
                star = true;
            }
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                parse_value(a, names, offset)?,
                parse_value(b, names, offset)?,
            )
        } else {
            let v = parse_value(range, names, offset)?;
            (v, if step.is_some() { max } else { v })
        };
        if start < min {
            return Err(format!(
                "beginning of range ({start}) below minimum ({min}): {part}"
            ));
        }
        if end > max {
            return Err(format!(
                "end of range ({end}) above maximum ({max}): {part}"
            ));
        }
        if start > end {
            return Err(format!(
                "beginning of range ({start}) beyond end of range ({end}): {part}"
            ));
        }
        let step = step.unwrap_or(1);
        let mut v = start;
        while v <= end {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

impl Schedule {
    /// Parses a standard five-field schedule or a macro.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => return Err(format!("unrecognized descriptor: {s}")),
            s => s,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {spec}",
                fields.len()
            ));
        }
        let (minutes, _) = parse_field(fields[0], 0, 59, &[], 0)?;
        let (hours, _) = parse_field(fields[1], 0, 23, &[], 0)?;
        let (days, days_star) = parse_field(fields[2], 1, 31, &[], 0)?;
        let (months, _) = parse_field(fields[3], 1, 12, &MONTHS, 1)?;
        let (weekdays, weekdays_star) = parse_field(fields[4], 0, 6, &WEEKDAYS, 0)?;
        Ok(Self {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            days_star,
            weekdays_star,
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        if self.days_star || self.weekdays_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first scheduled time strictly after `t`, in `tz`; `None` when there is none within
    /// five years (e.g. `0 0 30 2 *`).
    pub fn next_after(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = tz.to_datetime(t);
        let mut date = local.date();
        for _ in 0..(366 * 5) {
            if self.day_matches(date) {
                for hour in 0..24i8 {
                    if self.hours & (1 << hour) == 0 {
                        continue;
                    }
                    for minute in 0..60i8 {
                        if self.minutes & (1 << minute) == 0 {
                            continue;
                        }
                        let dt = DateTime::from_parts(
                            date,
                            k8s_openapi::jiff::civil::time(hour, minute, 0, 0),
                        );
                        if dt <= local {
                            continue;
                        }
                        let Ok(zoned) = tz.to_ambiguous_zoned(dt).compatible() else {
                            continue;
                        };
                        let ts = zoned.timestamp();
                        if ts > t {
                            return Some(ts);
                        }
                    }
                }
            }
            date = date.checked_add(1.day()).ok()?;
        }
        None
    }
}

/// The time zone named `name` from the host's zoneinfo database (UTC for none).
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, String> {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Ok(TimeZone::UTC);
    };
    if name == "UTC" || name == "Etc/UTC" {
        return Ok(TimeZone::UTC);
    }
    if name.contains("..") || name.starts_with('/') {
        return Err(format!("invalid time zone {name}"));
    }
    let dir = std::env::var("ZONEINFO").unwrap_or_else(|_| "/usr/share/zoneinfo".into());
    let data = std::fs::read(std::path::Path::new(&dir).join(name))
        .map_err(|_| format!("unknown time zone {name}"))?;
    TimeZone::tzif(name, &data).map_err(|e| format!("invalid time zone {name}: {e}"))
}

/// The CronJob controller.
pub struct CronJobController {
    ctx: Context,
    recorder: Recorder,
}

impl std::fmt::Debug for CronJobController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CronJobController").finish_non_exhaustive()
    }
}

/// Starts the CronJob controller's watches; returns its reconciler and queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    enqueue(&ctx.informers.cron_jobs, &queue, own_key);
    enqueue(&ctx.informers.jobs, &queue, |j| {
        controller_key(j, "CronJob").into_iter().collect()
    });
    (Arc::new(CronJobController::new(ctx)), queue)
}

/// The name of the Job for the time `scheduled`.
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// The Job of `cj` for the time `scheduled`.
pub fn job_for(cj: &CronJob, scheduled: Timestamp) -> Job {
    let name = cj.metadata.name.clone().unwrap_or_default();
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), scheduled.to_string());
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&name, scheduled)),
            namespace: cj.metadata.namespace.clone(),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(cj)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// The most recent scheduled time in `(earliest, now]`, and whether more than 100 were
/// missed.
fn most_recent(
    schedule: &Schedule,
    tz: &TimeZone,
    earliest: Timestamp,
    now: Timestamp,
) -> (Option<Timestamp>, bool) {
    let mut t = earliest;
    let mut last = None;
    for _ in 0..=100 {
        match schedule.next_after(t, tz) {
            Some(next) if next <= now => {
                last = Some(next);
                t = next;
            }
            _ => return (last, false),
        }
    }
    // Too many: search back from now in growing windows.
    for hours in [1i64, 24, 24 * 32, 24 * 366, 24 * 366 * 5] {
        let from = (now - SignedDuration::from_hours(hours)).max(t);
        let mut cursor = from;
        let mut found = None;
        while let Some(next) = schedule.next_after(cursor, tz).filter(|n| *n <= now) {
            found = Some(next);
            cursor = next;
        }
        if found.is_some() {
            return (found, true);
        }
    }
    (last, true)
}

impl CronJobController {
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: ctx.clone(),
            recorder: ctx.recorder("cronjob-controller"),
        }
    }

    async fn delete_job(&self, cj: &CronJob, job: &Job) -> anyhow::Result<()> {
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
            Ok(()) => {
                let msg = format!("Deleted job {name}");
                self.recorder
                    .publish(cj, Type::Normal, "SuccessfulDelete", &msg)
                    .await;
                Ok(())
            }
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
            Err(e) => {
                let msg = format!("Deleted job: {e}");
                self.recorder
                    .publish(cj, Type::Warning, "FailedDelete", &msg)
                    .await;
                Err(e.into())
            }
        }
    }
}

#[async_trait]
impl Reconciler for CronJobController {
    fn name(&self) -> &'static str {
        "cronjob"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(cj) = self.ctx.informers.cron_jobs.cache().get_key(key) else {
            return Ok(None);
        };
        let now = Timestamp::now();
        let spec = cj.spec.clone().unwrap_or_default();
        let uid = cj.metadata.uid.clone().unwrap_or_default();
        let mut jobs: Vec<Arc<Job>> = self
            .ctx
            .informers
            .jobs
            .cache()
            .by_index(BY_OWNER, &uid)
            .into_iter()
            .filter(|j| controller_of(j.as_ref()).is_some_and(|o| o.uid == uid))
            .collect();
        jobs.sort_by_key(|j| {
            (
                j.status
                    .as_ref()
                    .and_then(|s| s.start_time.as_ref().map(|t| t.0)),
                j.metadata.creation_timestamp.as_ref().map(|t| t.0),
                j.metadata.name.clone(),
            )
        });
        let old = cj.status.clone().unwrap_or_default();
        let mut status = old.clone();
        let mut active: Vec<ObjectReference> = old.active.clone().unwrap_or_default();

        // Active list: finished or vanished Jobs out, running owned Jobs in.
        let mut still = Vec::new();
        for r in active.drain(..) {
            match jobs.iter().find(|j| j.metadata.uid == r.uid) {
                Some(j) if is_finished(j) => {
                    let condition = if true_condition(j, "Complete").is_some() {
                        "Complete"
                    } else {
                        "Failed"
                    };
                    let msg = format!(
                        "Saw completed job: {}, condition: {condition}",
                        j.metadata.name.as_deref().unwrap_or_default()
                    );
                    self.recorder
                        .publish(cj.as_ref(), Type::Normal, "SawCompletedJob", &msg)
                        .await;
                }
                Some(_) => still.push(r),
                None => {
                    let msg = format!(
                        "Saw a job that the controller did not create or forgot: {}",
                        r.name.as_deref().unwrap_or_default()
                    );
                    if self
                        .ctx
                        .informers
                        .jobs
                        .cache()
                        .get(&key.namespace, r.name.as_deref().unwrap_or_default())
                        .is_some_and(|j| j.metadata.uid == r.uid)
                    {
                        self.recorder
                            .publish(cj.as_ref(), Type::Warning, "UnexpectedJob", &msg)
                            .await;
                        still.push(r);
                    }
                }
            }
        }
        active = still;
        for j in &jobs {
            if !is_finished(j) && !active.iter().any(|r| r.uid == j.metadata.uid) {
                active.push(job_ref(j));
            }
            if let Some(done) = true_condition(j, "Complete") {
                let at = j
                    .status
                    .as_ref()
                    .and_then(|s| s.completion_time.clone())
                    .or_else(|| done.last_transition_time.clone());
                if let Some(at) = at
                    && status
                        .last_successful_time
                        .as_ref()
                        .is_none_or(|t| t.0 < at.0)
                {
                    status.last_successful_time = Some(at);
                }
            }
        }

        // History limits: the oldest finished Jobs beyond them go.
        for (kind, limit) in [
            ("Complete", spec.successful_jobs_history_limit.unwrap_or(3)),
            ("Failed", spec.failed_jobs_history_limit.unwrap_or(1)),
        ] {
            let finished: Vec<&Arc<Job>> = jobs
                .iter()
                .filter(|j| true_condition(j, kind).is_some())
                .collect();
            let extra = finished.len().saturating_sub(limit.max(0) as usize);
            for j in &finished[..extra] {
                self.delete_job(&cj, j).await?;
            }
        }

        let mut requeue = None;
        let mut created: Option<(Job, Timestamp)> = None;
        if cj.metadata.deletion_timestamp.is_none() && spec.suspend != Some(true) {
            let tz = match time_zone(spec.time_zone.as_deref()) {
                Ok(tz) => Some(tz),
                Err(_) => {
                    let msg = format!(
                        "invalid timeZone: {:?}: unknown time zone {}",
                        spec.time_zone.as_deref().unwrap_or_default(),
                        spec.time_zone.as_deref().unwrap_or_default()
                    );
                    self.recorder
                        .publish(cj.as_ref(), Type::Warning, "UnknownTimeZone", &msg)
                        .await;
                    None
                }
            };
            let schedule = match Schedule::parse(&spec.schedule) {
                Ok(s) => Some(s),
                Err(e) => {
                    let msg = format!("unparseable schedule: {:?} : {e}", spec.schedule);
                    self.recorder
                        .publish(cj.as_ref(), Type::Warning, "UnparseableSchedule", &msg)
                        .await;
                    None
                }
            };
            if let (Some(tz), Some(schedule)) = (tz, schedule) {
                let mut earliest = old
                    .last_schedule_time
                    .as_ref()
                    .map(|t| t.0)
                    .or_else(|| cj.metadata.creation_timestamp.as_ref().map(|t| t.0))
                    .unwrap_or(now);
                if let Some(sds) = spec.starting_deadline_seconds {
                    earliest = earliest.max(now - SignedDuration::from_secs(sds));
                }
                let (scheduled, too_many) = most_recent(&schedule, &tz, earliest, now);
                if too_many {
                    self.recorder
                        .publish(
                            cj.as_ref(),
                            Type::Warning,
                            "TooManyMissedTimes",
                            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
                        )
                        .await;
                }
                requeue = schedule
                    .next_after(now, &tz)
                    .map(|n| until(n, now) + Duration::from_millis(100));
                if let Some(scheduled) = scheduled {
                    let name = job_name(&key.name, scheduled);
                    let too_late = spec
                        .starting_deadline_seconds
                        .is_some_and(|s| scheduled + SignedDuration::from_secs(s) < now);
                    let exists = jobs
                        .iter()
                        .any(|j| j.metadata.name.as_deref() == Some(&name))
                        || active.iter().any(|r| r.name.as_deref() == Some(&name));
                    let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
                    if too_late {
                        let msg = format!("Missed scheduled time to start a job: {scheduled}");
                        self.recorder
                            .publish(cj.as_ref(), Type::Warning, "MissSchedule", &msg)
                            .await;
                    } else if exists {
                        // Already run.
                    } else if policy == "Forbid" && !active.is_empty() {
                        self.recorder
                            .publish(
                                cj.as_ref(),
                                Type::Normal,
                                "JobAlreadyActive",
                                "Not starting job because prior execution is running and concurrency policy is Forbid",
                            )
                            .await;
                    } else {
                        if policy == "Replace" {
                            for r in std::mem::take(&mut active) {
                                if let Some(j) = jobs.iter().find(|j| j.metadata.uid == r.uid) {
                                    self.delete_job(&cj, j).await?;
                                }
                            }
                        }
                        let job = job_for(&cj, scheduled);
                        match self.ctx.writer.create_typed(&key.namespace, &job).await {
                            Ok(job) => created = Some((job, scheduled)),
                            Err(e) if is_conflict(&e) => {
                                // Made by an earlier reconcile: it counts as run.
                                status.last_schedule_time = Some(Time(scheduled));
                            }
                            Err(e) => {
                                let msg = format!("Error creating job: {e}");
                                self.recorder
                                    .publish(cj.as_ref(), Type::Warning, "FailedCreate", &msg)
                                    .await;
                                return Err(e.into());
                            }
                        }
                    }
                }
            }
        }
        if let Some((job, scheduled)) = &created {
            let msg = format!(
                "Created job {}",
                job.metadata.name.as_deref().unwrap_or_default()
            );
            self.recorder
                .publish(cj.as_ref(), Type::Normal, "SuccessfulCreate", &msg)
                .await;
            active.push(job_ref(job));
            status.last_schedule_time = Some(Time(*scheduled));
        }
        status.active = (!active.is_empty()).then_some(active);
        if status != old {
            let mut value = serde_json::to_value(&status)?;
            if status.active.is_none() {
                value["active"] = serde_json::Value::Null; // clear the list
            }
            let patch = json!({
                "metadata": {"resourceVersion": cj.metadata.resource_version},
                "status": value,
            });
            self.ctx
                .writer
                .patch_typed::<CronJob>(&key.namespace, &key.name, Some("status"), patch)
                .await?;
        }
        Ok(requeue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use barge_client::writer::Call;
    use k8s_openapi::api::batch::v1::{
        CronJobSpec, CronJobStatus, JobCondition, JobSpec, JobStatus, JobTemplateSpec,
    };
    use serde_json::Value;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(spec: &str, after: &str) -> String {
        Schedule::parse(spec)
            .unwrap()
            .next_after(ts(after), &TimeZone::UTC)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn parses_fields_ranges_steps_lists_and_names() {
        assert_eq!(
            next("*/15 * * * *", "2025-01-01T10:07:00Z"),
            "2025-01-01T10:15:00Z"
        );
        assert_eq!(
            next("5 4 * * *", "2025-01-01T04:05:00Z"),
            "2025-01-02T04:05:00Z"
        );
        assert_eq!(
            next("0 9-17/4 * * *", "2025-01-01T09:00:00Z"),
            "2025-01-01T13:00:00Z"
        );
        assert_eq!(
            next("0,30 1 * * *", "2025-01-01T01:10:00Z"),
            "2025-01-01T01:30:00Z"
        );
        assert_eq!(
            next("0 0 1 jun *", "2025-01-01T00:00:00Z"),
            "2025-06-01T00:00:00Z"
        );
        // 2025-01-01 is a Wednesday.
        assert_eq!(
            next("0 0 * * MON-FRI", "2025-01-03T12:00:00Z"),
            "2025-01-06T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * sun", "2025-01-01T00:00:00Z"),
            "2025-01-05T00:00:00Z"
        );
        // Day of month OR day of week when both are restricted.
        assert_eq!(
            next("0 0 13 * fri", "2025-01-01T00:00:00Z"),
            "2025-01-03T00:00:00Z"
        );
        assert_eq!(
            next("0 0 10/5 * *", "2025-01-11T00:00:00Z"),
            "2025-01-15T00:00:00Z"
        );
        assert_eq!(next("0 0 30 2 *", "2025-01-01T00:00:00Z"), "");
    }

    #[test]
    fn macros_and_errors() {
        assert_eq!(
            next("@hourly", "2025-01-01T10:07:00Z"),
            "2025-01-01T11:00:00Z"
        );
        assert_eq!(
            next("@daily", "2025-01-01T10:07:00Z"),
            "2025-01-02T00:00:00Z"
        );
        assert_eq!(
            next("@weekly", "2025-01-01T10:07:00Z"),
            "2025-01-05T00:00:00Z"
        );
        assert_eq!(
            next("@monthly", "2025-01-01T10:07:00Z"),
            "2025-02-01T00:00:00Z"
        );
        assert_eq!(
            next("@yearly", "2025-01-01T10:07:00Z"),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(Schedule::parse("@annually"), Schedule::parse("0 0 1 1 *"));
        assert!(Schedule::parse("* * * *").is_err());
        assert!(Schedule::parse("60 * * * *").is_err());
        assert!(Schedule::parse("5-1 * * * *").is_err());
        assert!(Schedule::parse("*/0 * * * *").is_err());
        assert!(Schedule::parse("* * * * foo").is_err());
        assert!(Schedule::parse("@sometimes").is_err());
    }

    #[test]
    fn time_zones_shift_the_schedule() {
        let Ok(tz) = time_zone(Some("America/New_York")) else {
            return; // no zoneinfo on this host
        };
        let s = Schedule::parse("0 9 * * *").unwrap();
        // 09:00 EST is 14:00 UTC in January.
        let n = s.next_after(ts("2025-01-01T00:00:00Z"), &tz).unwrap();
        assert_eq!(n.to_string(), "2025-01-01T14:00:00Z");
        assert!(time_zone(Some("Nowhere/Atlantis")).is_err());
        assert!(time_zone(Some("../etc/passwd")).is_err());
    }

    fn cronjob(schedule: &str, last: Option<Timestamp>) -> CronJob {
        CronJob {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some("hello".into()),
                uid: Some("uid-hello".into()),
                resource_version: Some("3".into()),
                creation_timestamp: Some(Time(Timestamp::now() - SignedDuration::from_hours(2))),
                ..Default::default()
            },
            spec: Some(CronJobSpec {
                schedule: schedule.into(),
                job_template: JobTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("app".to_string(), "hello".to_string())].into()),
                        ..Default::default()
                    }),
                    spec: Some(JobSpec::default()),
                },
                ..Default::default()
            }),
            status: Some(CronJobStatus {
                last_schedule_time: last.map(Time),
                ..Default::default()
            }),
        }
    }

    fn owned_job(cj: &CronJob, name: &str, finished: Option<&str>, age_mins: i64) -> Job {
        let mut j = job_for(cj, Timestamp::now());
        j.metadata.name = Some(name.into());
        j.metadata.uid = Some(format!("uid-{name}"));
        let start = Time(Timestamp::now() - SignedDuration::from_mins(age_mins));
        j.status = Some(JobStatus {
            start_time: Some(start.clone()),
            completion_time: (finished == Some("Complete")).then(|| start.clone()),
            conditions: finished.map(|c| {
                vec![JobCondition {
                    type_: c.into(),
                    status: "True".into(),
                    last_transition_time: Some(start.clone()),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        });
        j
    }

    fn setup(cj: &CronJob, jobs: Vec<Job>) -> (CronJobController, Arc<barge_client::Recording>) {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.cron_jobs.apply(cj.clone());
        for j in jobs {
            ctx.informers.jobs.apply(j);
        }
        (CronJobController::new(&ctx), writer)
    }

    fn key() -> Key {
        Key::new("default", "hello")
    }

    fn writes(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter(|c| c.target().plural != "events")
            .map(Call::summary)
            .collect()
    }

    fn reasons(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Create { target, object } if target.plural == "events" => {
                    Some(object["reason"].as_str()?.to_owned())
                }
                _ => None,
            })
            .collect()
    }

    fn status(calls: &[Call]) -> Value {
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

    /// The last whole minute at or before now.
    fn this_minute() -> Timestamp {
        let now = Timestamp::now().as_second();
        Timestamp::from_second(now - now.rem_euclid(60)).unwrap()
    }

    #[tokio::test]
    async fn creates_the_job_of_the_most_recent_time_and_requeues_for_the_next() {
        let cj = cronjob(
            "* * * * *",
            Some(this_minute() - SignedDuration::from_mins(5)),
        );
        let (c, writer) = setup(&cj, vec![]);
        let again = c.reconcile(&key()).await.unwrap().expect("requeued");
        assert!(again <= Duration::from_secs(61));
        let calls = writer.take();
        let name = job_name("hello", this_minute());
        assert_eq!(
            writes(&calls),
            [
                format!("create jobs default/{name}"),
                "patch cronjobs/status default/hello".to_string()
            ]
        );
        let job = match &calls[0] {
            Call::Create { object, .. } => object.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(job["metadata"]["labels"]["app"], "hello");
        assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
        assert_eq!(
            job["metadata"]["annotations"][SCHEDULED_TIMESTAMP],
            this_minute().to_string()
        );
        let st = status(&calls);
        assert_eq!(st["active"][0]["name"], name);
        assert_eq!(st["lastScheduleTime"], this_minute().to_string());
        assert!(reasons(&calls).contains(&"SuccessfulCreate".to_string()));
    }

    #[tokio::test]
    async fn nothing_before_the_first_scheduled_time() {
        // Yearly, last run this minute: nothing is due.
        let cj = cronjob("@yearly", Some(Timestamp::now()));
        let (c, writer) = setup(&cj, vec![]);
        assert!(c.reconcile(&key()).await.unwrap().is_some());
        assert!(writes(&writer.take()).is_empty());
    }

    #[tokio::test]
    async fn suspend_creates_nothing() {
        let mut cj = cronjob(
            "* * * * *",
            Some(this_minute() - SignedDuration::from_mins(5)),
        );
        cj.spec.as_mut().unwrap().suspend = Some(true);
        let (c, writer) = setup(&cj, vec![]);
        assert_eq!(c.reconcile(&key()).await.unwrap(), None);
        assert!(writes(&writer.take()).is_empty());
    }

    #[tokio::test]
    async fn starting_deadline_skips_late_starts() {
        // Hourly at minute 0 of some hour that is mostly over: pick a schedule two minutes ago.
        let due = this_minute() - SignedDuration::from_mins(2);
        let minute = (due.as_second().div_euclid(60)).rem_euclid(60);
        let mut cj = cronjob(
            &format!("{minute} * * * *"),
            Some(due - SignedDuration::from_mins(60)),
        );
        cj.spec.as_mut().unwrap().starting_deadline_seconds = Some(30);
        let (c, writer) = setup(&cj, vec![]);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert!(!writes(&calls).iter().any(|w| w.starts_with("create jobs")));

        cj.spec.as_mut().unwrap().starting_deadline_seconds = Some(300);
        let (c, writer) = setup(&cj, vec![]);
        c.reconcile(&key()).await.unwrap();
        let w = writes(&writer.take());
        assert!(w.contains(&format!("create jobs default/{}", job_name("hello", due))));
    }

    #[tokio::test]
    async fn forbid_skips_while_a_job_runs_and_replace_deletes_it() {
        let mut cj = cronjob(
            "* * * * *",
            Some(this_minute() - SignedDuration::from_mins(1)),
        );
        cj.spec.as_mut().unwrap().concurrency_policy = Some("Forbid".into());
        let running = owned_job(&cj, "hello-1", None, 1);
        let (c, writer) = setup(&cj, vec![running.clone()]);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert!(!writes(&calls).iter().any(|w| w.starts_with("create jobs")));
        assert!(reasons(&calls).contains(&"JobAlreadyActive".to_string()));
        // The running job was put in the active list.
        assert_eq!(status(&calls)["active"][0]["name"], "hello-1");

        cj.spec.as_mut().unwrap().concurrency_policy = Some("Replace".into());
        let (c, writer) = setup(&cj, vec![running.clone()]);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        let w = writes(&calls);
        assert_eq!(w[0], "delete jobs default/hello-1");
        assert_eq!(
            w[1],
            format!("create jobs default/{}", job_name("hello", this_minute()))
        );
        let st = status(&calls);
        assert_eq!(st["active"].as_array().unwrap().len(), 1);

        cj.spec.as_mut().unwrap().concurrency_policy = Some("Allow".into());
        let (c, writer) = setup(&cj, vec![running]);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        assert_eq!(status(&calls)["active"].as_array().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn history_limits_delete_the_oldest_finished_jobs() {
        let mut cj = cronjob("@yearly", Some(Timestamp::now()));
        let jobs = vec![
            owned_job(&cj, "hello-1", Some("Complete"), 50),
            owned_job(&cj, "hello-2", Some("Complete"), 40),
            owned_job(&cj, "hello-3", Some("Complete"), 30),
            owned_job(&cj, "hello-4", Some("Complete"), 20),
            owned_job(&cj, "hello-5", Some("Failed"), 15),
            owned_job(&cj, "hello-6", Some("Failed"), 10),
        ];
        cj.status.as_mut().unwrap().active = Some(vec![job_ref(&jobs[3])]);
        let (c, writer) = setup(&cj, jobs);
        c.reconcile(&key()).await.unwrap();
        let calls = writer.take();
        let w = writes(&calls);
        assert!(w.contains(&"delete jobs default/hello-1".to_string()));
        assert!(w.contains(&"delete jobs default/hello-5".to_string()));
        assert_eq!(w.iter().filter(|w| w.starts_with("delete")).count(), 2);
        let st = status(&calls);
        // The finished job left the active list, and its completion is the last success.
        assert!(st["active"].is_null());
        assert!(st["lastSuccessfulTime"].is_string());
        assert!(reasons(&calls).contains(&"SawCompletedJob".to_string()));
    }

    #[tokio::test]
    async fn an_unparseable_schedule_is_an_event() {
        let cj = cronjob("not a schedule", None);
        let (c, writer) = setup(&cj, vec![]);
        assert_eq!(c.reconcile(&key()).await.unwrap(), None);
        assert_eq!(reasons(&writer.take()), ["UnparseableSchedule"]);
    }

    #[test]
    fn too_many_missed_times_still_finds_the_most_recent() {
        let s = Schedule::parse("* * * * *").unwrap();
        let now = ts("2025-01-01T12:00:30Z");
        let (t, too_many) = most_recent(&s, &TimeZone::UTC, ts("2024-12-01T00:00:00Z"), now);
        assert!(too_many);
        assert_eq!(t.unwrap().to_string(), "2025-01-01T12:00:00Z");
        let (t, too_many) = most_recent(&s, &TimeZone::UTC, ts("2025-01-01T11:58:00Z"), now);
        assert!(!too_many);
        assert_eq!(t.unwrap().to_string(), "2025-01-01T12:00:00Z");
        assert_eq!(
            job_name("hello", ts("2025-01-01T12:00:00Z")),
            "hello-28928880"
        );
    }
}
