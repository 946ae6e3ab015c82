//! `kubectl delete`: objects by name, `TYPE/NAME`, `-f`, `-l` or `--all`; each deleted with
//! the grace period and propagation asked for (`pod "web" deleted`), then, unless
//! `--wait=false`, waited for until it is gone.

use std::time::Duration;

use kube::api::{DeleteParams, PropagationPolicy};

use super::{Found, NO_RESOURCES, Selection, Session, find, go_duration, kind_group, report};
use crate::args::FileArgs;
use crate::context::GlobalArgs;
use crate::error::{Error, Result};

const FORCE_WARNING: &str = "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// TYPE NAME..., TYPE/NAME..., or TYPE with -l or --all.
    pub words: Vec<String>,
    #[command(flatten)]
    pub files: FileArgs,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Delete all resources, in the namespace of the specified resource types.
    #[arg(long)]
    pub all: bool,
    /// Treat "resource not found" as a successful delete.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// Period of time in seconds given to the resource to terminate gracefully; -1 for the
    /// resource's default.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// If true, resources are signaled for immediate shutdown (same as --grace-period=1).
    #[arg(long)]
    pub now: bool,
    /// If true, immediately remove resources from API and bypass graceful deletion.
    #[arg(long)]
    pub force: bool,
    /// If true, wait for resources to be gone before returning.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub wait: bool,
    /// The length of time to wait before giving up on a delete, zero means forever.
    #[arg(long, default_value = "0s")]
    pub timeout: String,
    /// "background", "orphan" or "foreground".
    #[arg(long, default_value = "background", num_args = 0..=1, default_missing_value = "background", require_equals = true)]
    pub cascade: String,
    /// Output mode: "name" prints resource/name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

/// The grace period to send (`None`: the resource's default) after `--now`, `--force` and
/// `--grace-period=0` (which without `--force` means 1), as kubectl settles them.
fn grace_period(args: &Args) -> Result<i64> {
    let mut grace = args.grace_period;
    if args.now {
        if grace != -1 {
            return Err(Error::client(
                "--now and --grace-period cannot be specified together",
            ));
        }
        grace = 1;
    }
    if grace == 0 && !args.force {
        grace = 1;
    }
    if args.force && grace < 0 {
        grace = 0;
    }
    Ok(grace)
}

fn propagation(cascade: &str) -> Result<PropagationPolicy> {
    match cascade {
        "background" | "true" => Ok(PropagationPolicy::Background),
        "orphan" | "false" => Ok(PropagationPolicy::Orphan),
        "foreground" => Ok(PropagationPolicy::Foreground),
        other => Err(Error::client(format!(
            "invalid cascade value ({other}). Must be \"background\", \"foreground\", or \"orphan\""
        ))),
    }
}

pub async fn run(args: Args, global: &GlobalArgs) -> Result<()> {
    if args.words.is_empty() && args.files.filenames.is_empty() {
        return Err(Error::client(NO_RESOURCES));
    }
    if args.all && args.selector.is_some() {
        return Err(Error::client(
            "setting 'all' parameter but found a non empty selector. ",
        ));
    }
    if let Some(o) = args.output.as_deref().filter(|o| *o != "name") {
        return Err(Error::client(format!(
            "unexpected -o output mode: {o}. We only support '-o name'"
        )));
    }
    let grace = grace_period(&args)?;
    let policy = propagation(&args.cascade)?;
    let timeout = go_duration(&args.timeout)?
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(168 * 3600));
    if grace == 0 {
        eprintln!("{FORCE_WARNING}");
    }
    let session = Session::new(global).await?;
    let selection = Selection {
        words: &args.words,
        files: Some(&args.files),
        selector: args.selector.as_deref(),
        all: args.all,
        fetch_files: false,
    };
    let (found, mut errors) = find(&session, &selection).await?;
    if args.ignore_not_found {
        errors.retain(|e| !is_not_found(e));
    }
    let params = DeleteParams {
        grace_period_seconds: u32::try_from(grace).ok(),
        propagation_policy: Some(policy),
        ..DeleteParams::default()
    };
    let operation = if grace == 0 {
        "force deleted"
    } else {
        "deleted"
    };
    let mut deleted: Vec<(Found, Option<String>)> = Vec::new();
    for f in found {
        let api = session.api(&f.resource, &f.namespace);
        match api.delete(f.name(), &params).await {
            Ok(answer) => {
                if args.output.is_some() {
                    println!("{}", f.kind_name());
                } else {
                    println!("{} \"{}\" {operation}", kind_group(&f.resource), f.name());
                }
                let uid = answer.either(|o| o.metadata.uid, |s| s.details.map(|d| d.uid));
                deleted.push((f, uid));
            }
            Err(e) => {
                let e = with_source(Error::from(e), f.source.as_deref());
                if !(args.ignore_not_found && is_not_found(&e)) {
                    errors.push(e);
                }
            }
        }
    }
    if !errors.is_empty() {
        return report(errors);
    }
    if deleted.is_empty() {
        if !args.ignore_not_found {
            println!("No resources found");
        }
        return Ok(());
    }
    if !args.wait {
        return Ok(());
    }
    let gone = async {
        for (f, uid) in &deleted {
            wait_gone(&session, f, uid.as_deref()).await?;
        }
        Ok::<(), Error>(())
    };
    match tokio::time::timeout(timeout, gone).await {
        Ok(r) => r,
        Err(_) => {
            let pending = &deleted[0].0;
            Err(Error::client(format!(
                "timed out waiting for the condition on {}/{}",
                pending.resource.plural,
                pending.name()
            )))
        }
    }
}

/// kubectl names the file of a failed delete in the server's message.
fn with_source(e: Error, source: Option<&str>) -> Error {
    match (e, source) {
        (Error::Server { reason, message }, Some(source)) => Error::Server {
            reason,
            message: format!("error when deleting \"{source}\": {message}"),
        },
        (e, _) => e,
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Server { reason, .. } if reason == "NotFound")
}

/// Polls until the object is gone or replaced by another of the same name.
pub async fn wait_gone(session: &Session, f: &Found, uid: Option<&str>) -> Result<()> {
    let api = session.api(&f.resource, &f.namespace);
    loop {
        match api.get_opt(f.name()).await {
            Ok(None) => return Ok(()),
            Ok(Some(o)) if uid.is_some() && o.metadata.uid.as_deref() != uid => return Ok(()),
            Ok(Some(_)) => {}
            Err(kube::Error::Api(s))
                if s.reason == "Forbidden" || s.reason == "MethodNotAllowed" =>
            {
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("delete").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn grace_periods_settle_as_kubectl_settles_them() {
        assert_eq!(grace_period(&parse(&["pod", "x"])).unwrap(), -1);
        assert_eq!(grace_period(&parse(&["pod", "x", "--now"])).unwrap(), 1);
        assert_eq!(
            grace_period(&parse(&["pod", "x", "--grace-period=0"])).unwrap(),
            1
        );
        assert_eq!(grace_period(&parse(&["pod", "x", "--force"])).unwrap(), 0);
        assert_eq!(
            grace_period(&parse(&["pod", "x", "--force", "--grace-period=5"])).unwrap(),
            5
        );
        assert!(grace_period(&parse(&["pod", "x", "--now", "--grace-period=3"])).is_err());
        assert!(!parse(&["pod", "x", "--wait=false"]).wait);
        assert!(parse(&["pod", "x"]).wait);
    }

    #[test]
    fn cascade_names_a_propagation_policy() {
        assert!(matches!(
            propagation("background"),
            Ok(PropagationPolicy::Background)
        ));
        assert!(matches!(
            propagation("false"),
            Ok(PropagationPolicy::Orphan)
        ));
        assert!(matches!(
            propagation("foreground"),
            Ok(PropagationPolicy::Foreground)
        ));
        assert!(propagation("sideways").is_err());
    }
}
