//! `kubectl rollout`: `status` (the status viewers of kubectl's `polymorphichelpers`, printed
//! on every change until done), `history` (revisions from the ReplicaSets or
//! ControllerRevisions the object controls), `undo` (done client-side, as kubectl 1.32 does:
//! the old revision's template patched back into the object), `restart` (the
//! `kubectl.kubernetes.io/restartedAt` template annotation), `pause` and `resume`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::{Map, Value, json};

use super::{Found, Selection, Session, find, go_duration, report};
use crate::context::GlobalArgs;
use crate::error::{Error, Result};

const REVISION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
const HASH_LABEL: &str = "pod-template-hash";
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Annotations a rollback keeps from the Deployment rather than copying from the ReplicaSet.
const KEPT_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

#[derive(Debug, clap::Subcommand)]
pub enum Commands {
    /// Show the status of the rollout.
    Status(StatusArgs),
    /// View rollout history.
    History(HistoryArgs),
    /// Undo a previous rollout.
    Undo(UndoArgs),
    /// Restart a resource.
    Restart(Target),
    /// Mark the provided resource as paused.
    Pause(Target),
    /// Resume a paused resource.
    Resume(Target),
}

/// The objects a rollout command acts on.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// (TYPE NAME | TYPE/NAME)
    pub words: Vec<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
    /// Watch the status of the rollout until it's done.
    #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub watch: bool,
    /// The length of time to wait before ending watch, zero means never.
    #[arg(long, default_value = "0s")]
    pub timeout: String,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub target: Target,
    /// See the details, including podTemplate of the revision specified.
    #[arg(long, default_value_t = 0)]
    pub revision: i64,
}

#[derive(Debug, clap::Args)]
pub struct UndoArgs {
    #[command(flatten)]
    pub target: Target,
    /// The revision to rollback to. Default to 0 (last revision).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub to_revision: i64,
}

pub async fn run(cmd: Commands, global: &GlobalArgs) -> Result<()> {
    let session = Session::new(global).await?;
    match cmd {
        Commands::Status(a) => status(&session, &a).await,
        Commands::History(a) => {
            each(&session, &a.target, |f| history(&session, f, a.revision)).await
        }
        Commands::Undo(a) => each(&session, &a.target, |f| undo(&session, f, a.to_revision)).await,
        Commands::Restart(t) => each(&session, &t, |f| restart(&session, f)).await,
        Commands::Pause(t) => each(&session, &t, |f| pause(&session, f, true)).await,
        Commands::Resume(t) => each(&session, &t, |f| pause(&session, f, false)).await,
    }
}

/// Runs `action` on every object the target names; errors are reported at the end.
async fn each<'a, F, Fut>(session: &'a Session, target: &'a Target, mut action: F) -> Result<()>
where
    F: FnMut(Found) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let (found, mut errors) = find_target(session, target).await?;
    for f in found {
        if let Err(e) = action(f).await {
            errors.push(e);
        }
    }
    report(errors)
}

async fn find_target(session: &Session, target: &Target) -> Result<(Vec<Found>, Vec<Error>)> {
    if target.words.is_empty() {
        return Err(Error::client("required resource not specified"));
    }
    find(
        session,
        &Selection {
            words: &target.words,
            files: None,
            selector: target.selector.as_deref(),
            // A type alone means all of its objects.
            all: target.words.len() == 1 && !target.words[0].contains('/'),
            fetch_files: true,
        },
    )
    .await
}

/// How kubectl names a group and kind in these messages: `Pod`, `ReplicaSet.apps`.
fn group_kind(f: &Found) -> String {
    if f.resource.group.is_empty() {
        f.resource.kind.clone()
    } else {
        format!("{}.{}", f.resource.kind, f.resource.group)
    }
}

fn is_apps(f: &Found, kinds: &[&str]) -> bool {
    f.resource.group == "apps" && kinds.contains(&f.resource.kind.as_str())
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or_default()
}

/// The status line of a rollout and whether it is done, as kubectl's status viewers word it.
pub fn rollout_status(kind: &str, obj: &Value) -> Result<(String, bool)> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let generation = int(&obj["metadata"]["generation"]);
    let status = &obj["status"];
    let spec = &obj["spec"];
    match kind {
        "Deployment" => {
            if generation > int(&status["observedGeneration"]) {
                return Ok((
                    "Waiting for deployment spec update to be observed...\n".into(),
                    false,
                ));
            }
            let progressing = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Progressing");
            if progressing.is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded") {
                return Err(Error::client(format!(
                    "deployment {name:?} exceeded its progress deadline"
                )));
            }
            let updated = int(&status["updatedReplicas"]);
            let replicas = int(&status["replicas"]);
            let available = int(&status["availableReplicas"]);
            if let Some(want) = spec["replicas"].as_i64()
                && updated < want
            {
                return Ok((
                    format!(
                        "Waiting for deployment {name:?} rollout to finish: {updated} out of {want} new replicas have been updated...\n"
                    ),
                    false,
                ));
            }
            if replicas > updated {
                return Ok((
                    format!(
                        "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...\n",
                        replicas - updated
                    ),
                    false,
                ));
            }
            if available < updated {
                return Ok((
                    format!(
                        "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available...\n"
                    ),
                    false,
                ));
            }
            Ok((
                format!("deployment {name:?} successfully rolled out\n"),
                true,
            ))
        }
        "DaemonSet" => {
            if spec["updateStrategy"]["type"] != "RollingUpdate" {
                return Err(Error::client(
                    "rollout status is only available for RollingUpdate strategy type",
                ));
            }
            if generation > int(&status["observedGeneration"]) {
                return Ok((
                    "Waiting for daemon set spec update to be observed...\n".into(),
                    false,
                ));
            }
            let desired = int(&status["desiredNumberScheduled"]);
            let updated = int(&status["updatedNumberScheduled"]);
            let available = int(&status["numberAvailable"]);
            if updated < desired {
                return Ok((
                    format!(
                        "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated...\n"
                    ),
                    false,
                ));
            }
            if available < desired {
                return Ok((
                    format!(
                        "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available...\n"
                    ),
                    false,
                ));
            }
            Ok((
                format!("daemon set {name:?} successfully rolled out\n"),
                true,
            ))
        }
        "StatefulSet" => {
            if spec["updateStrategy"]["type"] != "RollingUpdate" {
                return Err(Error::client(
                    "rollout status is only available for RollingUpdate strategy type",
                ));
            }
            let observed = int(&status["observedGeneration"]);
            if observed == 0 || generation > observed {
                return Ok((
                    "Waiting for statefulset spec update to be observed...\n".into(),
                    false,
                ));
            }
            let want = spec["replicas"].as_i64();
            let ready = int(&status["readyReplicas"]);
            if let Some(want) = want
                && ready < want
            {
                return Ok((
                    format!("Waiting for {} pods to be ready...\n", want - ready),
                    false,
                ));
            }
            let updated = int(&status["updatedReplicas"]);
            let rolling = &spec["updateStrategy"]["rollingUpdate"];
            if !rolling.is_null() {
                if let (Some(want), Some(partition)) = (want, rolling["partition"].as_i64())
                    && updated < want - partition
                {
                    return Ok((
                        format!(
                            "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...\n",
                            want - partition
                        ),
                        false,
                    ));
                }
                return Ok((
                    format!(
                        "partitioned roll out complete: {updated} new pods have been updated...\n"
                    ),
                    true,
                ));
            }
            let update_revision = status["updateRevision"].as_str().unwrap_or_default();
            let current_revision = status["currentRevision"].as_str().unwrap_or_default();
            if update_revision != current_revision {
                return Ok((
                    format!(
                        "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}...\n"
                    ),
                    false,
                ));
            }
            Ok((
                format!(
                    "statefulset rolling update complete {} pods at revision {current_revision}...\n",
                    int(&status["currentReplicas"])
                ),
                true,
            ))
        }
        other => Err(Error::client(format!(
            "no status viewer has been implemented for {other}"
        ))),
    }
}

async fn status(session: &Session, args: &StatusArgs) -> Result<()> {
    let (found, errors) = find_target(session, &args.target).await?;
    if !errors.is_empty() {
        return report(errors);
    }
    if found.is_empty() {
        eprintln!("No resources found in {} namespace.", session.ctx.namespace);
        return Ok(());
    }
    let timeout = go_duration(&args.timeout)?.filter(|d| !d.is_zero());
    for f in found {
        status_one(session, &f, args.watch, timeout).await?;
    }
    Ok(())
}

async fn status_one(
    session: &Session,
    f: &Found,
    watch: bool,
    timeout: Option<std::time::Duration>,
) -> Result<()> {
    if !is_apps(f, &["Deployment", "DaemonSet", "StatefulSet"]) {
        return Err(Error::client(format!(
            "no status viewer has been implemented for {}",
            group_kind(f)
        )));
    }
    let follow = watch_status(session, f, watch);
    match timeout {
        None => follow.await,
        Some(t) => tokio::time::timeout(t, follow)
            .await
            .unwrap_or_else(|_| Err(Error::client("timed out waiting for the condition"))),
    }
}

/// Prints the status of the object and of every change to it until the rollout is done (or
/// once, without `--watch`).
async fn watch_status(session: &Session, f: &Found, watch: bool) -> Result<()> {
    let api = session.api(&f.resource, &f.namespace);
    let terminal = watch && std::io::stdout().is_terminal();
    let print = |obj: &DynamicObject| -> Result<bool> {
        let obj = serde_json::to_value(obj)?;
        let (line, done) = rollout_status(&f.resource.kind, &obj)?;
        if terminal {
            // The bar stays on the last line, redrawn under each message, gone at the end.
            print!("{CLEAR_LINE}{line}");
            if let Some(p) = progress(&f.resource.kind, &obj).filter(|_| !done) {
                print!("{}", progress_bar(p));
            }
            let _ = std::io::stdout().flush();
        } else {
            print!("{line}");
        }
        Ok(done || !watch)
    };
    let mut version = f
        .object
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    if print(&f.object)? {
        return Ok(());
    }
    let wp = WatchParams::default().fields(&format!("metadata.name={}", f.name()));
    loop {
        let mut stream = api.watch(&wp, &version).await?.boxed();
        while let Some(event) = stream.try_next().await? {
            match event {
                WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                    version = o.metadata.resource_version.clone().unwrap_or_default();
                    if print(&o)? {
                        return Ok(());
                    }
                }
                WatchEvent::Deleted(_) => {
                    return Err(Error::client("object has been deleted"));
                }
                WatchEvent::Bookmark(b) => version = b.metadata.resource_version,
                WatchEvent::Error(e) if e.code == 410 => {
                    // Too old: start again from the current object.
                    let o = api.get(f.name()).await?;
                    version = o.metadata.resource_version.clone().unwrap_or_default();
                    if print(&o)? {
                        return Ok(());
                    }
                    break;
                }
                WatchEvent::Error(e) => return Err(kube::Error::Api(e).into()),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Carriage return and erase line: where the progress bar was.
const CLEAR_LINE: &str = "\r\x1b[2K";

/// How far a rollout is: pods updated, pods available (ready for stateful sets), pods wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub updated: i64,
    pub available: i64,
    pub wanted: i64,
}

fn progress(kind: &str, obj: &Value) -> Option<Progress> {
    let s = &obj["status"];
    let (updated, available, wanted) = match kind {
        "Deployment" => (
            int(&s["updatedReplicas"]),
            int(&s["availableReplicas"]),
            obj["spec"]["replicas"].as_i64().unwrap_or(1),
        ),
        "DaemonSet" => (
            int(&s["updatedNumberScheduled"]),
            int(&s["numberAvailable"]),
            int(&s["desiredNumberScheduled"]),
        ),
        "StatefulSet" => (
            int(&s["updatedReplicas"]),
            int(&s["readyReplicas"]),
            obj["spec"]["replicas"].as_i64().unwrap_or(1),
        ),
        _ => return None,
    };
    (wanted > 0).then_some(Progress {
        updated,
        available,
        wanted,
    })
}

/// `[##########----------] 1/2 updated, 0/2 available`: updated and available pods count
/// half each toward the bar's 20 cells.
pub fn progress_bar(p: Progress) -> String {
    const CELLS: i64 = 20;
    let done =
        (p.updated.clamp(0, p.wanted) + p.available.clamp(0, p.wanted)) * CELLS / (2 * p.wanted);
    format!(
        "[{}{}] {}/{} updated, {}/{} available",
        "#".repeat(done as usize),
        "-".repeat((CELLS - done) as usize),
        p.updated,
        p.wanted,
        p.available,
        p.wanted
    )
}

/// A `matchLabels`/`matchExpressions` selector as a label selector string.
fn selector_string(selector: &Value) -> String {
    let mut parts: Vec<String> = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            _ => format!("!{key}"),
        });
    }
    parts.join(",")
}

/// The objects of `plural` (apps/v1) the object controls, found through its selector.
async fn controlled(session: &Session, f: &Found, plural: &str) -> Result<Vec<Value>> {
    let resource = session
        .discovery
        .resources
        .iter()
        .find(|r| r.group == "apps" && r.version == "v1" && r.plural == plural)
        .ok_or_else(|| {
            Error::client(format!(
                "the server doesn't have a resource type \"{plural}\""
            ))
        })?;
    let selector = selector_string(&f.object.data["spec"]["selector"]);
    let list = session
        .api(resource, &f.namespace)
        .list(&ListParams::default().labels(&selector))
        .await?;
    let uid = f.object.metadata.uid.clone().unwrap_or_default();
    let mut out = Vec::new();
    for item in list.items {
        let owned = item
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && o.uid == uid);
        if owned {
            out.push(serde_json::to_value(item)?);
        }
    }
    Ok(out)
}

/// One revision of an object: its number, change cause and what it restores.
#[derive(Debug, Clone)]
struct Revision {
    number: i64,
    change_cause: String,
    /// The ReplicaSet's template, or the ControllerRevision's data.
    state: Value,
}

async fn revisions(session: &Session, f: &Found) -> Result<Vec<Revision>> {
    let mut out = Vec::new();
    if f.resource.kind == "Deployment" {
        for rs in controlled(session, f, "replicasets").await? {
            let Some(number) = rs["metadata"]["annotations"][REVISION]
                .as_str()
                .and_then(|r| r.parse().ok())
            else {
                continue;
            };
            out.push(Revision {
                number,
                change_cause: rs["metadata"]["annotations"][CHANGE_CAUSE]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                state: rs,
            });
        }
    } else {
        for cr in controlled(session, f, "controllerrevisions").await? {
            out.push(Revision {
                number: int(&cr["revision"]),
                change_cause: cr["metadata"]["annotations"][CHANGE_CAUSE]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                state: cr,
            });
        }
    }
    out.sort_by_key(|r| r.number);
    // One line per revision number, as kubectl's map of them keeps one.
    out.dedup_by_key(|r| r.number);
    Ok(out)
}

/// Go's tabwriter with kubectl's settings (padding 2, spaces): every column but the last
/// padded to its widest cell plus two.
pub fn tabbed(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                out.push_str(&format!("{cell:<width$}", width = widths[i] + 2));
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

/// The history table of a rollout: `REVISION  CHANGE-CAUSE`.
fn history_table(revisions: &[Revision]) -> String {
    let mut rows = vec![vec!["REVISION".to_owned(), "CHANGE-CAUSE".to_owned()]];
    for r in revisions {
        let cause = if r.change_cause.is_empty() {
            "<none>".to_owned()
        } else {
            r.change_cause.clone()
        };
        rows.push(vec![r.number.to_string(), cause]);
    }
    tabbed(&rows)
}

async fn history(session: &Session, f: Found, revision: i64) -> Result<()> {
    if !is_apps(&f, &["Deployment", "DaemonSet", "StatefulSet"]) {
        return Err(Error::client(format!(
            "no history viewer has been implemented for {:?}",
            group_kind(&f)
        )));
    }
    let revisions = revisions(session, &f).await?;
    if revisions.is_empty() {
        println!("{} No rollout history found.", f.kind_name());
        return Ok(());
    }
    if revision > 0 {
        let Some(r) = revisions.iter().find(|r| r.number == revision) else {
            return Err(Error::client("unable to find the specified revision"));
        };
        let template = revision_template(&f, r)?;
        println!(
            "{} with revision #{revision}\n{}",
            f.kind_name(),
            super::template::describe(&template)?
        );
        return Ok(());
    }
    println!("{} \n{}", f.kind_name(), history_table(&revisions));
    Ok(())
}

/// The pod template of a revision: the ReplicaSet's, or the one a ControllerRevision's patch
/// sets (its `$patch: replace` template).
fn revision_template(f: &Found, r: &Revision) -> Result<Value> {
    if f.resource.kind == "Deployment" {
        return Ok(r.state["spec"]["template"].clone());
    }
    let mut template = r.state["data"]["spec"]["template"].clone();
    if let Some(t) = template.as_object_mut() {
        t.remove("$patch");
    }
    if template.is_null() {
        return Err(Error::client(format!(
            "unable to parse history {}",
            r.state["metadata"]["name"].as_str().unwrap_or_default()
        )));
    }
    Ok(template)
}

/// A template without the `pod-template-hash` label, for comparing and restoring.
fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    t
}

/// The revision `to` (0: the one before the latest), as kubectl picks it.
fn pick(revisions: &[Revision], to: i64, name: &str, kind: &str) -> Result<Revision> {
    if to < 0 {
        return Err(Error::client(format!(
            "unable to find specified revision {to} in history"
        )));
    }
    if to > 0 {
        return revisions
            .iter()
            .find(|r| r.number == to)
            .cloned()
            .ok_or_else(|| {
                Error::client(format!("unable to find specified revision {to} in history"))
            });
    }
    if revisions.len() < 2 {
        return Err(Error::client(if kind == "Deployment" {
            format!("no rollout history found for deployment {name:?}")
        } else {
            "no last revision to roll back to".to_owned()
        }));
    }
    Ok(revisions[revisions.len() - 2].clone())
}

/// The JSON patch that restores a Deployment to a ReplicaSet's template and annotations.
fn deployment_rollback_patch(deployment: &Value, rs: &Value) -> Value {
    let mut annotations = Map::new();
    let current = &deployment["metadata"]["annotations"];
    for key in KEPT_ANNOTATIONS {
        if let Some(v) = current.get(*key) {
            annotations.insert((*key).to_owned(), v.clone());
        }
    }
    for (k, v) in rs["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if !KEPT_ANNOTATIONS.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    json!([
        {"op": "replace", "path": "/spec/template", "value": without_hash(&rs["spec"]["template"])},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ])
}

async fn undo(session: &Session, f: Found, to: i64) -> Result<()> {
    if !is_apps(&f, &["Deployment", "DaemonSet", "StatefulSet"]) {
        return Err(Error::client(format!(
            "no rollbacker has been implemented for {:?}",
            group_kind(&f)
        )));
    }
    let revisions = revisions(session, &f).await?;
    let target = pick(&revisions, to, f.name(), &f.resource.kind)?;
    let current = serde_json::to_value(&f.object)?;
    let api = session.api(&f.resource, &f.namespace);
    let skipped = |n: i64| {
        println!(
            "{} skipped rollback (current template already matches revision {n})",
            f.kind_name()
        );
        Ok(())
    };
    if f.resource.kind == "Deployment" {
        if current["spec"]["paused"] == true {
            return Err(Error::client(
                "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again",
            ));
        }
        if without_hash(&target.state["spec"]["template"])
            == without_hash(&current["spec"]["template"])
        {
            return skipped(to);
        }
        let patch = deployment_rollback_patch(&current, &target.state);
        let req = http::Request::patch(format!("{}/{}", api.resource_url(), f.name()))
            .header(http::header::CONTENT_TYPE, "application/json-patch+json")
            .body(serde_json::to_vec(&patch)?)
            .map_err(|e| Error::client(e.to_string()))?;
        session
            .ctx
            .client
            .request::<Value>(req)
            .await
            .map_err(|e| rollback_failed(to, e))?;
    } else {
        // kubectl compares bytes: the revision's data with Go's encoding of the current
        // template. Against upstream's controllers (which store that same encoding) this is
        // the comparison below; Barge's controllers store the same content with other key
        // order, so the real kubectl never skips there and says `rolled back` instead.
        let data = &target.state["data"];
        let mut template = current["spec"]["template"].clone();
        template["$patch"] = json!("replace");
        if *data == json!({"spec": {"template": template}}) {
            return skipped(to);
        }
        api.patch(f.name(), &PatchParams::default(), &Patch::Strategic(data))
            .await
            .map_err(|e| rollback_failed(to, e))?;
    }
    println!("{} rolled back", f.kind_name());
    Ok(())
}

fn rollback_failed(to: i64, e: kube::Error) -> Error {
    let inner = Error::from(e);
    Error::client(format!("failed restoring revision {to}: {inner}"))
}

async fn restart(session: &Session, f: Found) -> Result<()> {
    if !is_apps(&f, &["Deployment", "DaemonSet", "StatefulSet"]) {
        return Err(Error::client(format!(
            "{} {:?} restarting is not supported",
            f.resource.qualified_plural(),
            f.name()
        )));
    }
    if f.object.data["spec"]["paused"] == true {
        return Err(Error::client(format!(
            "{} {:?} can't restart paused deployment (run rollout resume first)",
            f.resource.qualified_plural(),
            f.name()
        )));
    }
    let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}});
    session
        .api(&f.resource, &f.namespace)
        .patch(f.name(), &PatchParams::default(), &Patch::Strategic(&patch))
        .await?;
    println!("{} restarted", f.kind_name());
    Ok(())
}

async fn pause(session: &Session, f: Found, paused: bool) -> Result<()> {
    let verb = if paused { "pausing" } else { "resuming" };
    if !is_apps(&f, &["Deployment"]) {
        return Err(Error::client(format!(
            "{} {:?} {verb} is not supported",
            f.resource.qualified_plural(),
            f.name()
        )));
    }
    let now = f.object.data["spec"]["paused"] == true;
    if now == paused {
        let state = if paused {
            "already paused"
        } else {
            "not paused"
        };
        return Err(Error::client(format!(
            "{} {:?} is {state}",
            f.resource.qualified_plural(),
            f.name()
        )));
    }
    let patch = json!({"spec": {"paused": paused}});
    session
        .api(&f.resource, &f.namespace)
        .patch(f.name(), &PatchParams::default(), &Patch::Strategic(&patch))
        .await?;
    println!(
        "{} {}",
        f.kind_name(),
        if paused { "paused" } else { "resumed" }
    );
    Ok(())
}

/// Revision numbers → change causes, for tests.
#[cfg(test)]
fn causes(revisions: &[Revision]) -> std::collections::BTreeMap<i64, String> {
    revisions
        .iter()
        .map(|r| (r.number, r.change_cause.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_bar_counts_updated_and_available_pods() {
        let p = |updated, available, wanted| Progress {
            updated,
            available,
            wanted,
        };
        assert_eq!(
            progress_bar(p(1, 0, 2)),
            "[#####---------------] 1/2 updated, 0/2 available"
        );
        assert_eq!(
            progress_bar(p(3, 3, 3)),
            "[####################] 3/3 updated, 3/3 available"
        );
        // Surge pods beyond the wanted count do not overflow the bar.
        assert_eq!(
            progress_bar(p(4, 0, 3)),
            "[##########----------] 4/3 updated, 0/3 available"
        );
        let deployment = serde_json::json!({"spec": {"replicas": 2},
            "status": {"updatedReplicas": 1, "availableReplicas": 1}});
        assert_eq!(progress("Deployment", &deployment), Some(p(1, 1, 2)));
        assert_eq!(progress("Job", &deployment), None);
    }

    fn deployment(spec_replicas: i64, status: Value) -> Value {
        json!({"metadata": {"name": "web", "generation": 2},
               "spec": {"replicas": spec_replicas}, "status": status})
    }

    #[test]
    fn deployment_status_reads_as_kubectl_words_it() {
        let s = |st| rollout_status("Deployment", &deployment(3, st)).unwrap();
        assert_eq!(
            s(json!({"observedGeneration": 1})),
            (
                "Waiting for deployment spec update to be observed...\n".into(),
                false
            )
        );
        assert_eq!(
            s(json!({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 3})).0,
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n"
        );
        assert_eq!(
            s(json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 4})).0,
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...\n"
        );
        assert_eq!(
            s(json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 1})).0,
            "Waiting for deployment \"web\" rollout to finish: 1 of 3 updated replicas are available...\n"
        );
        assert_eq!(
            s(
                json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3})
            ),
            ("deployment \"web\" successfully rolled out\n".into(), true)
        );
        let stuck = deployment(
            3,
            json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert_eq!(
            rollout_status("Deployment", &stuck)
                .unwrap_err()
                .to_string(),
            "error: deployment \"web\" exceeded its progress deadline"
        );
    }

    #[test]
    fn statefulset_and_daemonset_status() {
        let sts = json!({"metadata": {"name": "db", "generation": 1},
            "spec": {"replicas": 2, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}},
            "status": {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 2}});
        assert_eq!(
            rollout_status("StatefulSet", &sts).unwrap(),
            (
                "partitioned roll out complete: 2 new pods have been updated...\n".into(),
                true
            )
        );
        let ds = json!({"metadata": {"name": "agent", "generation": 1},
            "spec": {"updateStrategy": {"type": "OnDelete"}}, "status": {}});
        assert!(rollout_status("DaemonSet", &ds).is_err());
        let ds = json!({"metadata": {"name": "agent", "generation": 1},
            "spec": {"updateStrategy": {"type": "RollingUpdate"}},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1}});
        assert_eq!(
            rollout_status("DaemonSet", &ds).unwrap().0,
            "Waiting for daemon set \"agent\" rollout to finish: 1 of 2 updated pods are available...\n"
        );
    }

    fn rev(number: i64, cause: &str) -> Revision {
        Revision {
            number,
            change_cause: cause.into(),
            state: Value::Null,
        }
    }

    #[test]
    fn history_is_a_tabbed_table() {
        let revs = [rev(1, ""), rev(12, "kubectl set image")];
        assert_eq!(
            history_table(&revs),
            "REVISION  CHANGE-CAUSE\n1         <none>\n12        kubectl set image\n"
        );
        assert_eq!(causes(&revs)[&12], "kubectl set image");
    }

    #[test]
    fn undo_picks_the_previous_or_the_named_revision() {
        let revs = [rev(1, ""), rev(2, ""), rev(3, "")];
        assert_eq!(pick(&revs, 0, "web", "Deployment").unwrap().number, 2);
        assert_eq!(pick(&revs, 1, "web", "Deployment").unwrap().number, 1);
        assert_eq!(
            pick(&revs, 9, "web", "Deployment").unwrap_err().to_string(),
            "error: unable to find specified revision 9 in history"
        );
        assert_eq!(
            pick(&revs[..1], 0, "web", "Deployment")
                .unwrap_err()
                .to_string(),
            "error: no rollout history found for deployment \"web\""
        );
    }

    #[test]
    fn rollback_patch_restores_template_and_keeps_deployment_annotations() {
        let deploy = json!({"metadata": {"annotations": {REVISION: "3", "team": "a"}}});
        let rs = json!({"metadata": {"annotations": {REVISION: "1", CHANGE_CAUSE: "first"}},
            "spec": {"template": {"metadata": {"labels": {"app": "web", HASH_LABEL: "abc"}}}}});
        let patch = deployment_rollback_patch(&deploy, &rs);
        assert_eq!(
            patch[0]["value"]["metadata"]["labels"],
            json!({"app": "web"})
        );
        assert_eq!(
            patch[1]["value"],
            json!({REVISION: "3", CHANGE_CAUSE: "first"})
        );
    }

    #[test]
    fn selectors_become_label_queries() {
        let s = json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]});
        assert_eq!(selector_string(&s), "app=web,tier in (a,b)");
    }
}
