//! The commands that write objects: `apply`, `create`, `label`, `annotate`, `patch`, `run` and
//! `expose`, each printing kubectl 1.32's one-line messages (`deployment.apps/web created`,
//! `configured`, `unchanged`, `labeled`, `patched (no change)`, `exposed`) and its errors.
//!
//! Objects travel as JSON values (`serde_json::Value`) in raw requests, as kubectl's unstructured
//! client sends them, so that custom resources and built-in kinds take the same path. Each
//! command sends the field manager kubectl sends (`kubectl-client-side-apply`, `kubectl-create`,
//! ...), so that the objects' `managedFields` read as kubectl's would.

mod apply;
mod create;
mod edit;
mod editor;
mod patch3;

use serde_json::Value;

use crate::args::{self, FileArgs};
use crate::context::{Context, GlobalArgs};
use crate::error::{Error, Result};
use crate::resources::{Discovery, Resource};

/// The writing commands.
#[derive(Debug, clap::Subcommand)]
pub enum Commands {
    /// Apply a configuration to a resource by file name or stdin.
    Apply(apply::Args),
    /// Create a resource from a file or from stdin.
    Create(create::Args),
    /// Update the labels on a resource.
    Label(edit::LabelArgs),
    /// Update the annotations on a resource.
    Annotate(edit::AnnotateArgs),
    /// Update fields of a resource.
    Patch(edit::PatchArgs),
    /// Edit a resource on the server.
    Edit(editor::Args),
    /// Run a particular image on the cluster.
    Run(create::RunArgs),
    /// Take a replication controller, service, deployment or pod and expose it as a new Kubernetes service.
    Expose(create::ExposeArgs),
}

pub async fn run(cmd: Commands, global: &GlobalArgs) -> Result<()> {
    let session = Session::new(global).await?;
    match cmd {
        Commands::Apply(a) => apply::run(&session, a).await,
        Commands::Create(a) => create::run(&session, a).await,
        Commands::Label(a) => edit::label(&session, a).await,
        Commands::Annotate(a) => edit::annotate(&session, a).await,
        Commands::Patch(a) => edit::patch(&session, a).await,
        Commands::Edit(a) => editor::run(&session, a).await,
        Commands::Run(a) => create::run_pod(&session, a).await,
        Commands::Expose(a) => create::expose(&session, a).await,
    }
}

/// A client, the default namespace and the server's resources.
pub(crate) struct Session {
    pub ctx: Context,
    pub discovery: Discovery,
}

impl Session {
    async fn new(global: &GlobalArgs) -> Result<Self> {
        let ctx = Context::new(global).await?;
        let discovery = Discovery::run(&ctx.client).await?;
        Ok(Self { ctx, discovery })
    }

    /// The resource of a manifest, by its apiVersion and kind.
    pub fn resource_of(&self, obj: &Value, source: &str) -> Result<&Resource> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.discovery
            .resources
            .iter()
            .find(|r| {
                !r.plural.contains('/') && r.group == group && r.version == version && r.kind == kind
            })
            .ok_or_else(|| {
                Error::client(format!(
                    "resource mapping not found for name: \"{}\" namespace: \"{}\" from \"{source}\": no matches for kind \"{kind}\" in version \"{api_version}\"\nensure CRDs are installed first",
                    obj["metadata"]["name"].as_str().unwrap_or_default(),
                    obj["metadata"]["namespace"].as_str().unwrap_or_default(),
                ))
            })
    }

    /// The namespace a manifest's object goes to (None when cluster-scoped), written into
    /// the object as kubectl's builder does; refused when it contradicts an explicit `-n`.
    pub fn place(&self, r: &Resource, obj: &mut Value) -> Result<Option<String>> {
        if !r.namespaced {
            return Ok(None);
        }
        let given = obj["metadata"]["namespace"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let ns = match given {
            Some(ns) if self.ctx.explicit_namespace && ns != self.ctx.namespace => {
                return Err(Error::client(format!(
                    "the namespace from the provided object \"{ns}\" does not match the namespace \"{}\". You must pass '--namespace={ns}' to perform this operation.",
                    self.ctx.namespace
                )));
            }
            Some(ns) => ns,
            None => self.ctx.namespace.clone(),
        };
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("namespace".into(), Value::String(ns.clone()));
        }
        Ok(Some(ns))
    }

    /// Sends one request; the server's answer, or its `Status` as an [`Error::Server`].
    pub async fn send(
        &self,
        method: http::Method,
        url: &str,
        content_type: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let req = http::Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::ACCEPT, "application/json")
            .body(bytes)
            .map_err(|e| Error::client(e.to_string()))?;
        Ok(self.ctx.client.request::<Value>(req).await?)
    }

    pub async fn get(&self, r: &Resource, ns: Option<&str>, name: &str) -> Result<Value> {
        self.send(http::Method::GET, &url(r, ns, Some(name), &[]), JSON, None)
            .await
    }

    /// Creates `obj`; the stored object.
    pub async fn create(
        &self,
        r: &Resource,
        ns: Option<&str>,
        obj: &Value,
        query: &[(&str, &str)],
    ) -> Result<Value> {
        self.send(
            http::Method::POST,
            &url(r, ns, None, query),
            JSON,
            Some(obj),
        )
        .await
    }

    pub async fn patch(
        &self,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        kind: PatchKind,
        patch: &Value,
        query: &[(&str, &str)],
    ) -> Result<Value> {
        let url = url(r, ns, Some(name), query);
        self.send(http::Method::PATCH, &url, kind.content_type(), Some(patch))
            .await
    }
}

const JSON: &str = "application/json";

/// The patch types of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Strategic,
    Merge,
    Json,
    Apply,
}

impl PatchKind {
    fn content_type(self) -> &'static str {
        match self {
            PatchKind::Strategic => "application/strategic-merge-patch+json",
            PatchKind::Merge => "application/merge-patch+json",
            PatchKind::Json => "application/json-patch+json",
            PatchKind::Apply => "application/apply-patch+yaml",
        }
    }
}

/// The path of a resource's collection or of one object, with a query.
pub fn url(r: &Resource, ns: Option<&str>, name: Option<&str>, query: &[(&str, &str)]) -> String {
    let mut url = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    if let Some(ns) = ns {
        url.push_str(&format!("/namespaces/{ns}"));
    }
    url.push('/');
    url.push_str(&r.plural);
    if let Some(name) = name {
        url.push('/');
        url.push_str(name);
    }
    for (i, (k, v)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&format!("{k}={v}"));
    }
    url
}

/// `--dry-run`: none, client or server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRun {
    #[default]
    None,
    Client,
    Server,
}

impl DryRun {
    /// The suffix kubectl adds to its messages.
    pub fn suffix(self) -> &'static str {
        match self {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }
}

/// One object of the manifests and the file it came from (kubectl names it in errors).
pub(crate) struct Manifest {
    pub object: Value,
    pub source: String,
}

/// The manifests of `-f`, with their sources; `error: must specify one of -f and -k` without.
pub(crate) fn manifests(files: &FileArgs) -> Result<Vec<Manifest>> {
    if files.filenames.is_empty() {
        return Err(Error::client("must specify one of -f and -k"));
    }
    let mut out = Vec::new();
    for path in &files.filenames {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            push_documents(&mut out, &text, "STDIN")?;
            continue;
        }
        for file in args::files(path, files.recursive)? {
            let source = file.display().to_string();
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::client(format!("error reading \"{source}\": {e}")))?;
            push_documents(&mut out, &text, &source)?;
        }
    }
    Ok(out)
}

fn push_documents(out: &mut Vec<Manifest>, text: &str, source: &str) -> Result<()> {
    out.extend(
        args::documents(text, source)?
            .into_iter()
            .map(|object| Manifest {
                object,
                source: source.to_owned(),
            }),
    );
    Ok(())
}

/// Runs every step, printing each failure but the last as kubectl does (it goes on after an
/// object fails and prints the errors at the end); the last failure is the command's.
pub(crate) fn finish(errors: Vec<Error>) -> Result<()> {
    let mut errors = errors.into_iter();
    let Some(mut last) = errors.next() else {
        return Ok(());
    };
    for next in errors {
        eprintln!("{last}");
        last = next;
    }
    Err(last)
}

/// A server error reworded with a prefix (`error when creating "f.yaml": ...`).
pub(crate) fn prefixed(e: Error, prefix: &str) -> Error {
    match e {
        Error::Server { reason, message } => Error::Server {
            reason,
            message: format!("{prefix}{message}"),
        },
        Error::Client(m) => Error::Client(format!("{prefix}{m}")),
        other @ (Error::Exit(_) | Error::Reported) => other,
    }
}

/// The message of a server error without kubectl's `Error from server (...)` (kubectl's
/// `create deployment` and friends print `error: failed to create deployment: <message>`).
pub(crate) fn bare(e: &Error) -> String {
    e.message()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(group: &str, plural: &str) -> Resource {
        Resource {
            group: group.into(),
            version: "v1".into(),
            kind: String::new(),
            plural: plural.into(),
            singular: String::new(),
            namespaced: true,
            short_names: vec![],
            categories: vec![],
            verbs: vec![],
            preferred: true,
        }
    }

    #[test]
    fn urls_name_collections_and_objects() {
        assert_eq!(
            url(
                &resource("", "pods"),
                Some("ns"),
                None,
                &[("fieldManager", "kubectl-create")]
            ),
            "/api/v1/namespaces/ns/pods?fieldManager=kubectl-create"
        );
        assert_eq!(
            url(
                &resource("apps", "deployments"),
                Some("d"),
                Some("web"),
                &[("a", "1"), ("b", "2")]
            ),
            "/apis/apps/v1/namespaces/d/deployments/web?a=1&b=2"
        );
        assert_eq!(
            url(&resource("", "nodes"), None, Some("n"), &[]),
            "/api/v1/nodes/n"
        );
    }

    #[test]
    fn errors_are_prefixed_and_bared() {
        let e = Error::Server {
            reason: "AlreadyExists".into(),
            message: "pods \"p\" already exists".into(),
        };
        assert_eq!(bare(&e), "pods \"p\" already exists");
        assert_eq!(
            prefixed(e, "error when creating \"f.yaml\": ").to_string(),
            "Error from server (AlreadyExists): error when creating \"f.yaml\": pods \"p\" already exists"
        );
        assert!(finish(vec![]).is_ok());
        assert_eq!(
            finish(vec![Error::client("a"), Error::client("b")])
                .unwrap_err()
                .to_string(),
            "error: b"
        );
    }
}
