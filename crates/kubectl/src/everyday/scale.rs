//! `kubectl scale`: a new `spec.replicas` through the `scale` subresource (a merge patch, or
//! with `--current-replicas` a read, a check and the patch), `deployment.apps/web scaled`.

use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::{NO_RESOURCES, Selection, Session, find, report};
use crate::args::FileArgs;
use crate::context::GlobalArgs;
use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// (-f FILENAME | TYPE NAME | TYPE/NAME)
    pub words: Vec<String>,
    #[command(flatten)]
    pub files: FileArgs,
    /// The new desired number of replicas. Required.
    #[arg(long)]
    pub replicas: Option<i32>,
    /// Precondition for current size. Requires that the current size of the resource match
    /// this value in order to scale. -1 (default) for no condition.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub current_replicas: i32,
    /// Precondition for resource version.
    #[arg(long)]
    pub resource_version: Option<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Select all resources in the namespace of the specified resource types.
    #[arg(long)]
    pub all: bool,
}

pub async fn run(args: Args, global: &GlobalArgs) -> Result<()> {
    let Some(replicas) = args.replicas else {
        return Err(Error::client("required flag(s) \"replicas\" not set"));
    };
    if replicas < 0 {
        return Err(Error::client(
            "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0",
        ));
    }
    if args.words.is_empty() && args.files.filenames.is_empty() {
        return Err(Error::client(NO_RESOURCES));
    }
    let session = Session::new(global).await?;
    let selection = Selection {
        words: &args.words,
        files: Some(&args.files),
        selector: args.selector.as_deref(),
        all: args.all,
        fetch_files: true,
    };
    let (found, errors) = find(&session, &selection).await?;
    if found.is_empty() {
        let cause = errors
            .last()
            .map(|e| format!(" {}", e.message()))
            .unwrap_or_default();
        return Err(Error::client(format!("no objects passed to scale{cause}")));
    }
    if args.resource_version.is_some() && found.len() > 1 {
        return Err(Error::client(
            "cannot use --resource-version with multiple resources",
        ));
    }
    let mut failures = Vec::new();
    for f in &found {
        let api = session.api(&f.resource, &f.namespace);
        let result = async {
            if args.current_replicas >= 0 || args.resource_version.is_some() {
                let scale = api.get_scale(f.name()).await?;
                let current = scale.spec.and_then(|s| s.replicas).unwrap_or_default();
                if args.current_replicas >= 0 && current != args.current_replicas {
                    return Err(Error::client(format!(
                        "Expected replicas to be {}, was {current}",
                        args.current_replicas
                    )));
                }
                if let Some(rv) = &args.resource_version {
                    let actual = scale.metadata.resource_version.unwrap_or_default();
                    if *rv != actual {
                        return Err(Error::client(format!(
                            "Expected resource version to be {rv}, was {actual}"
                        )));
                    }
                }
            }
            let patch = json!({"spec": {"replicas": replicas}});
            api.patch_scale(f.name(), &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => println!("{} scaled", f.kind_name()),
            Err(e) => failures.push(e),
        }
    }
    report(failures)
}
