//! `kubectl logs`: a container's log through `pods/log`, for a pod, for the pod kubectl would
//! pick of a controller or Service (`deploy/web`), or for every pod of a selector (`-l`); the
//! container defaulted as kubectl defaults it (the `kubectl.kubernetes.io/default-container`
//! annotation, else the first, said on standard error).

use std::io::Write;

use futures_util::AsyncBufReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use serde_json::Value;

use super::{Session, go_duration};
use crate::context::GlobalArgs;
use crate::error::{Error, Result};

const USAGE: &str = "expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.
POD or TYPE/NAME is a required argument for the logs command
See 'kubectl logs -h' for help and examples";

const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// (POD | TYPE/NAME) [CONTAINER]
    pub words: Vec<String>,
    /// Print the logs of this container.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Get all containers' logs in the pod(s).
    #[arg(long)]
    pub all_containers: bool,
    /// Specify if the logs should be streamed.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// If true, print the logs for the previous instance of the container in a pod if it exists.
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Lines of recent log file to display. Defaults to -1 with no selector, showing all log
    /// lines otherwise 10, if a selector is provided.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Include timestamps on each line in the log output.
    #[arg(long)]
    pub timestamps: bool,
    /// Only return logs newer than a relative duration like 5s, 2m, or 3h.
    #[arg(long)]
    pub since: Option<String>,
    /// Maximum bytes of logs to return.
    #[arg(long)]
    pub limit_bytes: Option<i64>,
    /// Prefix each log line with the log source (pod name and container name).
    #[arg(long)]
    pub prefix: bool,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

/// The names of a pod's containers as kubectl lists them: containers, then init and ephemeral
/// containers marked.
fn container_names(pod: &Value) -> Vec<String> {
    let names = |key: &str| -> Vec<String> {
        pod["spec"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    };
    let mut out = names("containers");
    out.extend(
        names("initContainers")
            .into_iter()
            .map(|n| format!("{n} (init)")),
    );
    out.extend(
        names("ephemeralContainers")
            .into_iter()
            .map(|n| format!("{n} (ephem)")),
    );
    out
}

/// The container to read: the one asked for (which must exist), else the default one; the
/// notice kubectl prints when it chose among several.
pub fn choose_container(pod: &Value, asked: Option<&str>) -> Result<(String, Option<String>)> {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let all = |key: &str| -> Vec<&str> {
        pod["spec"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect()
    };
    if let Some(c) = asked {
        let exists = ["containers", "initContainers", "ephemeralContainers"]
            .iter()
            .any(|k| all(k).contains(&c));
        if !exists {
            return Err(Error::client(format!(
                "container {c} is not valid for pod {pod_name}"
            )));
        }
        return Ok((c.to_owned(), None));
    }
    let containers = all("containers");
    if let Some(d) = pod["metadata"]["annotations"][DEFAULT_CONTAINER].as_str()
        && containers.contains(&d)
    {
        return Ok((d.to_owned(), None));
    }
    let first = containers.first().copied().unwrap_or_default().to_owned();
    let names = container_names(pod);
    let notice = (names.len() > 1).then(|| {
        format!(
            "Defaulted container \"{first}\" out of: {}",
            names.join(", ")
        )
    });
    Ok((first, notice))
}

/// kubectl's order for picking the pod to log of many (`ByLogging`): scheduled, running,
/// ready, more restarts, older.
fn logging_rank(pod: &Value) -> (bool, u8, bool, std::cmp::Reverse<i64>, String) {
    let phase = match pod["status"]["phase"].as_str() {
        Some("Running") => 0,
        Some("Unknown") => 1,
        Some("Pending") => 2,
        _ => 3,
    };
    let ready = pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    let restarts = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["restartCount"].as_i64().unwrap_or_default())
        .max()
        .unwrap_or_default();
    let created = pod["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap_or("~")
        .to_owned();
    (
        pod["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        phase,
        !ready,
        std::cmp::Reverse(restarts),
        created,
    )
}

/// A controller's or Service's pod selector as a label query.
fn pod_selector(object: &Value) -> Option<String> {
    let selector = &object["spec"]["selector"];
    let empty = serde_json::Map::new();
    let labels = match object["kind"].as_str() {
        Some("Service") => selector.as_object().unwrap_or(&empty),
        Some("ReplicationController") => selector.as_object()?,
        _ => selector["matchLabels"].as_object()?,
    };
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
    )
}

pub async fn run(args: Args, global: &GlobalArgs) -> Result<()> {
    if args.words.is_empty() && args.selector.is_none() {
        return Err(Error::client(USAGE));
    }
    if args.selector.is_some() && !args.words.is_empty() {
        return Err(Error::client(
            "only a selector (-l) or a POD name is allowed",
        ));
    }
    let session = Session::new(global).await?;
    let ns = session.ctx.namespace.clone();
    let pods: Api<Pod> = Api::namespaced(session.ctx.client.clone(), &ns);
    let not_found = |e: Error| match e {
        Error::Server { reason, message } => Error::client(format!(
            "error from server ({reason}): {message} in namespace \"{ns}\""
        )),
        other => other,
    };
    let mut container = args.container.clone();
    if let Some(selector) = &args.selector {
        let list = pods.list(&ListParams::default().labels(selector)).await?;
        if list.items.is_empty() {
            eprintln!("No resources found in {ns} namespace.");
            return Ok(());
        }
        let tail = if args.tail < 0 { 10 } else { args.tail };
        for pod in list.items {
            let pod = serde_json::to_value(pod)?;
            print_pod(
                &session,
                &pods,
                &pod,
                container.as_deref(),
                &args,
                tail,
                true,
            )
            .await?;
        }
        return Ok(());
    }
    let word = &args.words[0];
    if let Some(c) = args.words.get(1) {
        container = Some(c.clone());
    }
    let pod = pod_for(&session, &pods, word).await.map_err(not_found)?;
    print_pod(
        &session,
        &pods,
        &pod,
        container.as_deref(),
        &args,
        args.tail,
        false,
    )
    .await
}

/// The pod `word` names (`NAME` or `TYPE/NAME`): the pod itself, or the one kubectl would pick of
/// a controller's or Service's pods (said on standard error when there were several).
pub async fn pod_for(session: &Session, pods: &Api<Pod>, word: &str) -> Result<Value> {
    let ns = &session.ctx.namespace;
    Ok(match word.split_once('/') {
        None => serde_json::to_value(pods.get(word).await?)?,
        Some((kind, name)) => {
            let resource = session.discovery.resolve(kind)?.clone();
            let object = session.api(&resource, ns).get(name).await?;
            let object = serde_json::to_value(object)?;
            if resource.kind == "Pod" {
                object
            } else {
                let Some(selector) = pod_selector(&object) else {
                    return Err(Error::client(format!(
                        "cannot get the logs from {}: selector is missing",
                        resource.kind
                    )));
                };
                if resource.kind == "Service" && selector.is_empty() {
                    return Err(Error::client(format!(
                        "cannot get the logs from *v1.Service: invalid service '{name}': Service is defined without a selector"
                    )));
                }
                let mut list: Vec<Value> = pods
                    .list(&ListParams::default().labels(&selector))
                    .await?
                    .items
                    .into_iter()
                    .map(serde_json::to_value)
                    .collect::<std::result::Result<_, _>>()?;
                if list.is_empty() {
                    return Err(Error::client("timed out waiting for the condition"));
                }
                list.sort_by_key(logging_rank);
                if list.len() > 1 {
                    eprintln!(
                        "Found {} pods, using pod/{}",
                        list.len(),
                        list[0]["metadata"]["name"].as_str().unwrap_or_default()
                    );
                }
                list.swap_remove(0)
            }
        }
    })
}

async fn print_pod(
    _session: &Session,
    pods: &Api<Pod>,
    pod: &Value,
    container: Option<&str>,
    args: &Args,
    tail: i64,
    quiet_default: bool,
) -> Result<()> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let containers: Vec<String> = if args.all_containers {
        ["initContainers", "containers", "ephemeralContainers"]
            .iter()
            .flat_map(|k| pod["spec"][*k].as_array().into_iter().flatten())
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    } else {
        let (c, notice) = choose_container(pod, container)?;
        if let Some(n) = notice.filter(|_| !quiet_default) {
            eprintln!("{n}");
        }
        vec![c]
    };
    let since_seconds = match &args.since {
        Some(s) => go_duration(s)?.map(|d| d.as_secs() as i64),
        None => None,
    };
    for c in containers {
        let lp = LogParams {
            container: Some(c.clone()),
            follow: args.follow,
            previous: args.previous,
            tail_lines: (tail >= 0).then_some(tail),
            timestamps: args.timestamps,
            since_seconds,
            limit_bytes: args.limit_bytes,
            ..LogParams::default()
        };
        let prefix = if args.prefix {
            format!("[pod/{name}/{c}] ")
        } else {
            String::new()
        };
        let mut lines = pods.log_stream(name, &lp).await?.lines();
        let mut out = std::io::stdout().lock();
        while let Some(line) = futures_util::TryStreamExt::try_next(&mut lines).await? {
            writeln!(out, "{prefix}{line}")?;
            if args.follow {
                out.flush()?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "two"}, "spec": {
            "containers": [{"name": "a"}, {"name": "b"}],
            "initContainers": [{"name": "setup"}]}})
    }

    #[test]
    fn containers_default_as_kubectl_defaults_them() {
        let (c, notice) = choose_container(&pod(), None).unwrap();
        assert_eq!(c, "a");
        assert_eq!(
            notice.unwrap(),
            "Defaulted container \"a\" out of: a, b, setup (init)"
        );
        assert_eq!(choose_container(&pod(), Some("setup")).unwrap().0, "setup");
        assert_eq!(
            choose_container(&pod(), Some("zz"))
                .unwrap_err()
                .to_string(),
            "error: container zz is not valid for pod two"
        );
        let mut annotated = pod();
        annotated["metadata"]["annotations"] = json!({DEFAULT_CONTAINER: "b"});
        assert_eq!(
            choose_container(&annotated, None).unwrap(),
            ("b".into(), None)
        );
        let single = json!({"metadata": {"name": "one"}, "spec": {"containers": [{"name": "x"}]}});
        assert_eq!(choose_container(&single, None).unwrap(), ("x".into(), None));
    }

    #[test]
    fn running_ready_older_pods_are_logged_first() {
        let p = |name: &str, node: &str, phase: &str, created: &str| {
            json!({"metadata": {"name": name, "creationTimestamp": created},
                   "spec": {"nodeName": node}, "status": {"phase": phase}})
        };
        let mut pods = [
            p("pending", "", "Pending", "2026-01-01T00:00:00Z"),
            p("newer", "n", "Running", "2026-01-02T00:00:00Z"),
            p("older", "n", "Running", "2026-01-01T00:00:00Z"),
        ];
        pods.sort_by_key(logging_rank);
        let names: Vec<&str> = pods
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["older", "newer", "pending"]);
    }

    #[test]
    fn selectors_of_controllers_and_services() {
        let d =
            json!({"kind": "Deployment", "spec": {"selector": {"matchLabels": {"app": "web"}}}});
        assert_eq!(pod_selector(&d).unwrap(), "app=web");
        let s = json!({"kind": "Service", "spec": {"selector": {"app": "web"}}});
        assert_eq!(pod_selector(&s).unwrap(), "app=web");
        let bare = json!({"kind": "Service", "spec": {}});
        assert_eq!(pod_selector(&bare).unwrap(), "");
        assert_eq!(pod_selector(&json!({"kind": "Pod", "spec": {}})), None);
    }
}
