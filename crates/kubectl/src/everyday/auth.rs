//! `kubectl auth can-i VERB RESOURCE[/NAME]` (or a non-resource URL): a
//! SelfSubjectAccessReview; `yes` and exit 0, or `no` and exit 1.

use serde_json::{Value, json};

use super::Session;
use crate::context::GlobalArgs;
use crate::error::{Error, Result};

const KNOWN_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "use",
    "bind",
    "impersonate",
    "*",
    "approve",
    "sign",
    "escalate",
    "attest",
];

#[derive(Debug, clap::Subcommand)]
pub enum Commands {
    /// Check whether an action is allowed.
    CanI(CanIArgs),
}

#[derive(Debug, clap::Args)]
pub struct CanIArgs {
    /// VERB [TYPE | TYPE/NAME | NONRESOURCEURL]
    pub words: Vec<String>,
    /// If true, check the specified action in all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// SubResource such as pod/log or deployment/scale.
    #[arg(long)]
    pub subresource: Option<String>,
    /// If true, suppress output and just return the exit code.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub async fn run(cmd: Commands, global: &GlobalArgs) -> Result<()> {
    match cmd {
        Commands::CanI(a) => can_i(a, global).await,
    }
}

async fn can_i(args: CanIArgs, global: &GlobalArgs) -> Result<()> {
    let (verb, what) = match args.words.as_slice() {
        [verb, what] => (verb.as_str(), what.as_str()),
        _ => {
            return Err(Error::client(
                "you must specify two arguments: verb resource or verb resource/resourceName.\nSee 'kubectl auth can-i -h' for help and examples.",
            ));
        }
    };
    let session = Session::new(global).await?;
    let attributes = if what.starts_with('/') {
        json!({"nonResourceAttributes": {"verb": verb, "path": what}})
    } else {
        let (word, name) = what.split_once('/').unwrap_or((what, ""));
        let (group, resource) = match session.discovery.resolve(word) {
            Ok(r) => (r.group.clone(), r.plural.clone()),
            Err(_) => {
                if !args.quiet {
                    eprintln!("Warning: the server doesn't have a resource type '{word}'\n");
                }
                let (res, group) = word.split_once('.').unwrap_or((word, ""));
                (group.to_owned(), res.to_owned())
            }
        };
        if !args.quiet && !KNOWN_VERBS.contains(&verb) {
            eprintln!("Warning: verb '{verb}' is not a known verb\n");
        }
        let namespace = if args.all_namespaces {
            String::new()
        } else {
            session.ctx.namespace.clone()
        };
        json!({"resourceAttributes": {
            "namespace": namespace, "verb": verb, "group": group, "resource": resource,
            "subresource": args.subresource.clone().unwrap_or_default(), "name": name}})
    };
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": attributes,
    });
    let req = http::Request::post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&review)?)
        .map_err(|e| Error::client(e.to_string()))?;
    let answer: Value = session.ctx.client.request(req).await?;
    let allowed = answer["status"]["allowed"] == true;
    if !args.quiet {
        println!("{}", if allowed { "yes" } else { "no" });
    }
    if !allowed {
        // kubectl says `no` and exits 1 without an error message.
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(1);
    }
    Ok(())
}
