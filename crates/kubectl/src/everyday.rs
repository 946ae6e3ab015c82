//! The everyday commands that act on objects that already exist: `delete`, `scale`, `rollout`,
//! `logs`, `wait`, `top` and `auth can-i`, worded as kubectl 1.32 words them.
//!
//! Each command has a module; what they share lives here: the objects the arguments name
//! (fetched once, as kubectl's resource builder does), the `kind.group/name` and
//! `resource/name` forms of messages, Go durations (`--timeout=30s`) and errors of several
//! objects (all printed, the last one returned).

pub mod auth;
pub mod delete;
pub mod exec;
pub mod logs;
pub mod port_forward;
pub mod rollout;
pub mod scale;
pub mod template;
pub mod top;
pub mod wait;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use crate::args::{self, FileArgs, Target};
use crate::context::{Context, GlobalArgs};
use crate::error::{Error, Result};
use crate::resources::{Discovery, Resource};

#[derive(Debug, clap::Subcommand)]
pub enum Commands {
    /// Delete resources by file names, stdin, resources and names, or by resources and label selector.
    Delete(delete::Args),
    /// Set a new size for a deployment, replica set, replication controller, or stateful set.
    Scale(scale::Args),
    /// Manage the rollout of a resource.
    #[command(subcommand)]
    Rollout(rollout::Commands),
    /// Print the logs for a container in a pod.
    Logs(logs::Args),
    /// Execute a command in a container.
    Exec(exec::Args),
    /// Forward one or more local ports to a pod.
    PortForward(port_forward::Args),
    /// Experimental: Wait for a specific condition on one or many resources.
    Wait(wait::Args),
    /// Display resource (CPU/memory) usage.
    #[command(subcommand)]
    Top(top::Commands),
    /// Inspect authorization.
    #[command(subcommand)]
    Auth(auth::Commands),
}

pub async fn run(cmd: Commands, global: &GlobalArgs) -> Result<()> {
    match cmd {
        Commands::Delete(a) => delete::run(a, global).await,
        Commands::Scale(a) => scale::run(a, global).await,
        Commands::Rollout(c) => rollout::run(c, global).await,
        Commands::Logs(a) => logs::run(a, global).await,
        Commands::Exec(a) => exec::run(a, global).await,
        Commands::PortForward(a) => port_forward::run(a, global).await,
        Commands::Wait(a) => wait::run(a, global).await,
        Commands::Top(c) => top::run(c, global).await,
        Commands::Auth(c) => auth::run(c, global).await,
    }
}

/// What kubectl says when a command that needs objects got none.
pub const NO_RESOURCES: &str = "You must provide one or more resources by argument or filename.
Example resource specifications include:
   '-f rsrc.yaml'
   '--filename=rsrc.json'
   '<resource> <name>'
   '<resource>'";

/// A client, its namespace and the server's resources.
#[derive(Debug)]
pub struct Session {
    pub ctx: Context,
    pub discovery: Discovery,
}

impl Session {
    pub async fn new(global: &GlobalArgs) -> Result<Self> {
        let ctx = Context::new(global).await?;
        let discovery = Discovery::run(&ctx.client).await?;
        Ok(Self { ctx, discovery })
    }

    /// The API of `resource` in `namespace` (ignored for cluster-scoped resources).
    pub fn api(&self, resource: &Resource, namespace: &str) -> Api<DynamicObject> {
        let ar = resource.api_resource();
        if resource.namespaced {
            Api::namespaced_with(self.ctx.client.clone(), namespace, &ar)
        } else {
            Api::all_with(self.ctx.client.clone(), &ar)
        }
    }

    /// The resource of a manifest's `apiVersion` and `kind`.
    pub fn resource_of(&self, object: &Value) -> Result<&Resource> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let matching =
            |r: &&Resource| r.kind == kind && r.group == group && !r.plural.contains('/');
        self.discovery
            .resources
            .iter()
            .filter(matching)
            .find(|r| r.version == version)
            .or_else(|| self.discovery.resources.iter().find(matching))
            .ok_or_else(|| {
                Error::client(format!(
                    "resource mapping not found for name: \"{}\" namespace: \"{}\" from \"\": no matches for kind \"{kind}\" in version \"{api_version}\"\nensure CRDs are installed first",
                    object["metadata"]["name"].as_str().unwrap_or_default(),
                    object["metadata"]["namespace"].as_str().unwrap_or_default(),
                ))
            })
    }
}

/// One object a command acts on, as fetched.
#[derive(Clone, Debug)]
pub struct Found {
    pub resource: Resource,
    pub namespace: String,
    /// The object as read from the server, or as the manifest has it when not fetched.
    pub object: DynamicObject,
    /// The file it was named in (kubectl names it in errors: `error when deleting "x.yaml"`).
    pub source: Option<String>,
}

impl Found {
    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }

    /// `deployment.apps/web`: how kubectl's name printer names it.
    pub fn kind_name(&self) -> String {
        format!("{}/{}", kind_group(&self.resource), self.name())
    }
}

/// `deployment.apps`, `pod`: the lower-case kind and the group, as kubectl's messages name a
/// kind.
pub fn kind_group(resource: &Resource) -> String {
    let kind = resource.kind.to_lowercase();
    if resource.group.is_empty() {
        kind
    } else {
        format!("{kind}.{}", resource.group)
    }
}

/// What the arguments select: resources and names, or resources and a selector.
#[derive(Debug, Default, Clone)]
pub struct Selection<'a> {
    pub words: &'a [String],
    pub files: Option<&'a FileArgs>,
    pub selector: Option<&'a str>,
    pub all: bool,
    /// Whether the objects of `-f` files are read from the server (else taken as written).
    pub fetch_files: bool,
}

/// The objects the arguments name, in order, and the errors met on the way (kubectl goes on
/// past a missing object and reports it at the end).
pub async fn find(session: &Session, sel: &Selection<'_>) -> Result<(Vec<Found>, Vec<Error>)> {
    let ns = session.ctx.namespace.clone();
    let mut found = Vec::new();
    let mut errors = Vec::new();
    if let Some(files) = sel.files.filter(|f| !f.filenames.is_empty()) {
        for path in files
            .filenames
            .iter()
            .flat_map(|p| expand(p, files.recursive, true))
        {
            let source = path.display().to_string();
            let one = FileArgs {
                filenames: vec![path],
                recursive: false,
            };
            for manifest in args::manifests(&one)? {
                let resource = session.resource_of(&manifest)?.clone();
                let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
                let namespace = manifest["metadata"]["namespace"]
                    .as_str()
                    .map_or_else(|| ns.clone(), str::to_owned);
                let object = if sel.fetch_files {
                    match session.api(&resource, &namespace).get(name).await {
                        Ok(object) => object,
                        Err(e) => {
                            errors.push(e.into());
                            continue;
                        }
                    }
                } else {
                    serde_json::from_value(manifest.clone())?
                };
                found.push(Found {
                    resource,
                    namespace,
                    object,
                    source: Some(source.clone()),
                });
            }
        }
        return Ok((found, errors));
    }
    let targets = args::targets(&session.discovery, sel.words)?;
    let named = targets.iter().any(|t| t.name.is_some());
    if named && (sel.selector.is_some() || sel.all) {
        return Err(Error::client(
            "selectors and the all flag cannot be used when passing resource/name arguments",
        ));
    }
    if !named && sel.selector.is_none() && !sel.all {
        return Err(Error::client(
            "resource(s) were provided, but no name was specified",
        ));
    }
    for Target { resource, name } in targets {
        let api = session.api(&resource, &ns);
        match name {
            Some(name) => match api.get(&name).await {
                Ok(object) => found.push(Found {
                    resource,
                    namespace: ns.clone(),
                    object,
                    source: None,
                }),
                Err(e) => errors.push(e.into()),
            },
            None => {
                let mut lp = ListParams::default();
                if let Some(s) = sel.selector {
                    lp = lp.labels(s);
                }
                for object in api.list(&lp).await?.items {
                    found.push(Found {
                        resource: resource.clone(),
                        namespace: ns.clone(),
                        object,
                        source: None,
                    });
                }
            }
        }
    }
    Ok((found, errors))
}

/// The files a `-f` path names, each on its own (kubectl names the file in errors): a file, or
/// a directory's `.json`, `.yaml` and `.yml` files by name (its subdirectories' with `-R`).
/// What cannot be read is passed on for [`args::manifests`] to report.
fn expand(path: &Path, recursive: bool, top: bool) -> Vec<PathBuf> {
    if path.as_os_str() == "-" || !path.is_dir() {
        return if top {
            vec![path.to_owned()]
        } else {
            Vec::new()
        };
    }
    if !top && !recursive {
        return Vec::new();
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            out.extend(expand(&entry, recursive, false));
        } else if entry
            .extension()
            .is_some_and(|e| e == "json" || e == "yaml" || e == "yml")
        {
            out.push(entry);
        }
    }
    out
}

/// Prints every error but the last and returns the last: kubectl prints each on its line and
/// exits 1.
pub fn report(mut errors: Vec<Error>) -> Result<()> {
    let Some(last) = errors.pop() else {
        return Ok(());
    };
    for e in errors {
        eprintln!("{e}");
    }
    Err(last)
}

/// A Go duration (`30s`, `1m30s`, `500ms`, `0`, `-1s`); `None` for a negative one.
pub fn go_duration(text: &str) -> Result<Option<Duration>> {
    let bad = || {
        Error::client(format!(
            "invalid argument \"{text}\" for \"--timeout\" flag: time: invalid duration \"{text}\""
        ))
    };
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(Some(Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    if negative {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs_f64(total)))
}

/// The value at a simple JSONPath (`.status.replicas`, `.spec.containers[0].name`, with or
/// without braces).
pub fn json_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let mut current = value;
    for part in path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        let (key, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            current = current.get(key)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let i: usize = index.trim_end_matches(']').parse().ok()?;
            current = current.get(i)?;
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations_parse_as_go_parses_them() {
        assert_eq!(go_duration("30s").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(go_duration("1m30s").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(
            go_duration("500ms").unwrap(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(go_duration("0").unwrap(), Some(Duration::ZERO));
        assert_eq!(
            go_duration("1.5h").unwrap(),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(go_duration("-1s").unwrap(), None);
        assert!(go_duration("10").is_err());
        assert!(go_duration("3x").is_err());
        assert!(go_duration("").is_err());
    }

    #[test]
    fn json_paths_reach_fields_and_items() {
        let v = json!({"status": {"replicas": 3}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(json_path(&v, "{.status.replicas}"), Some(&json!(3)));
        assert_eq!(json_path(&v, ".spec.containers[1].name"), Some(&json!("b")));
        assert_eq!(json_path(&v, "{.status.missing}"), None);
        assert_eq!(json_path(&v, "{.spec.containers[5]}"), None);
    }

    #[test]
    fn directories_expand_to_their_manifests() {
        let dir = std::env::temp_dir().join(format!("barge-expand-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for f in ["b.yaml", "a.json", "notes.txt", "sub/c.yml"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let names = |recursive| -> Vec<String> {
            expand(&dir, recursive, true)
                .iter()
                .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(names(false), ["a.json", "b.yaml"]);
        assert_eq!(names(true), ["a.json", "b.yaml", "sub/c.yml"]);
        assert_eq!(expand(Path::new("-"), false, true), [PathBuf::from("-")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kinds_are_named_with_their_group() {
        let mut r = Resource {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            plural: "deployments".into(),
            singular: "deployment".into(),
            namespaced: true,
            short_names: vec![],
            categories: vec![],
            verbs: vec![],
            preferred: true,
        };
        assert_eq!(kind_group(&r), "deployment.apps");
        r.group = String::new();
        r.kind = "Pod".into();
        assert_eq!(kind_group(&r), "pod");
    }
}
