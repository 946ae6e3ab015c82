//! `kubectl wait`: until each object has a condition (`--for=condition=Ready`, optionally
//! `=False`), a field value (`--for=jsonpath='{.status.phase}'=Running`), exists
//! (`--for=create`) or is gone (`--for=delete`); `pod/x condition met` for each, `timed out
//! waiting for the condition on pods/x` past `--timeout`.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{
    Found, NO_RESOURCES, Selection, Session, find, go_duration, json_path, kind_group, report,
};
use crate::args::FileArgs;
use crate::context::GlobalArgs;
use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// ([-f FILENAME] | resource.group/resource.name | resource.group [(-l label | --all)])
    pub words: Vec<String>,
    #[command(flatten)]
    pub files: FileArgs,
    /// The condition to wait on: [create|delete|condition=condition-name[=condition-value]|jsonpath='{JSONPath expression}'=[JSONPath value]].
    #[arg(long = "for", default_value = "")]
    pub for_: String,
    /// The length of time to wait before giving up. Zero means check once and don't wait,
    /// negative means wait for a week.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Select all resources in the namespace of the specified resource types.
    #[arg(long)]
    pub all: bool,
}

/// What to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum For {
    Create,
    Delete,
    /// A condition type and the status it must have.
    Condition(String, String),
    /// A JSONPath and the value it must print (any non-empty value without one).
    JsonPath(String, Option<String>),
}

pub fn parse_for(text: &str) -> Result<For> {
    let lower = text.to_lowercase();
    if lower == "delete" {
        return Ok(For::Delete);
    }
    if lower == "create" {
        return Ok(For::Create);
    }
    if let Some(rest) = text.strip_prefix("condition=") {
        let (name, value) = rest.split_once('=').unwrap_or((rest, "true"));
        return Ok(For::Condition(name.to_owned(), value.to_owned()));
    }
    if let Some(rest) = text.strip_prefix("jsonpath=") {
        // The expression ends at its closing brace; what follows `=` is the value.
        let (path, value) = match rest.rfind('}') {
            Some(i) => {
                let tail = &rest[i + 1..];
                (&rest[..=i], tail.strip_prefix('=').map(str::to_owned))
            }
            None => match rest.split_once('=') {
                Some((p, v)) => (p, Some(v.to_owned())),
                None => (rest, None),
            },
        };
        if path.is_empty() {
            return Err(Error::client("jsonpath expression cannot be empty"));
        }
        return Ok(For::JsonPath(path.to_owned(), value));
    }
    Err(Error::client(format!("unrecognized condition: {text:?}")))
}

/// A JSON value as JSONPath prints it.
fn printed(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether the object satisfies a condition or JSONPath test.
pub fn satisfied(cond: &For, obj: &Value) -> bool {
    match cond {
        For::Create => true,
        For::Delete => false,
        For::Condition(name, want) => {
            let generation = obj["metadata"]["generation"].as_i64();
            obj["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| {
                    c["type"]
                        .as_str()
                        .is_some_and(|t| t.eq_ignore_ascii_case(name))
                })
                .any(|c| {
                    let fresh = match (c["observedGeneration"].as_i64(), generation) {
                        (Some(seen), Some(g)) => seen >= g,
                        _ => true,
                    };
                    fresh
                        && c["status"]
                            .as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case(want))
                })
        }
        For::JsonPath(path, want) => match (json_path(obj, path), want) {
            (Some(v), Some(want)) => printed(v) == *want,
            (Some(v), None) => !printed(v).is_empty(),
            (None, _) => false,
        },
    }
}

pub async fn run(args: Args, global: &GlobalArgs) -> Result<()> {
    let cond = parse_for(&args.for_)?;
    let timeout = go_duration(&args.timeout)?.unwrap_or(Duration::from_secs(168 * 3600));
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
    let (found, lookup_errors) = find(&session, &selection).await?;
    let mut errors = Vec::new();
    for e in lookup_errors {
        let missing = matches!(&e, Error::Server { reason, .. } if reason == "NotFound");
        // A missing object is already deleted.
        if !(missing && cond == For::Delete) {
            errors.push(e);
        }
    }
    if found.is_empty() && errors.is_empty() && cond != For::Delete {
        return Err(Error::client("no matching resources found"));
    }
    for f in &found {
        match wait_one(&session, f, &cond, timeout).await {
            Ok(()) => println!("{}/{} condition met", kind_group(&f.resource), f.name()),
            Err(e) => errors.push(e),
        }
    }
    report(errors)
}

async fn wait_one(session: &Session, f: &Found, cond: &For, timeout: Duration) -> Result<()> {
    let api = session.api(&f.resource, &f.namespace);
    let deadline = Instant::now() + timeout;
    let uid = f.object.metadata.uid.clone();
    let mut current = Some(f.object.clone());
    loop {
        let met = match &current {
            None => *cond == For::Delete,
            Some(o) if *cond == For::Delete => o.metadata.uid != uid,
            Some(o) => satisfied(cond, &serde_json::to_value(o)?),
        };
        if met {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::client(format!(
                "timed out waiting for the condition on {}/{}",
                f.resource.plural,
                f.name()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200).min(deadline - Instant::now())).await;
        current = match api.get_opt(f.name()).await? {
            None if *cond != For::Delete => {
                return Err(Error::client(format!(
                    "{} {:?} not found",
                    f.resource.qualified_plural(),
                    f.name()
                )));
            }
            other => other,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_parse_as_kubectl_parses_them() {
        assert_eq!(parse_for("delete").unwrap(), For::Delete);
        assert_eq!(
            parse_for("condition=Ready").unwrap(),
            For::Condition("Ready".into(), "true".into())
        );
        assert_eq!(
            parse_for("condition=Available=false").unwrap(),
            For::Condition("Available".into(), "false".into())
        );
        assert_eq!(
            parse_for("jsonpath={.status.phase}=Running").unwrap(),
            For::JsonPath("{.status.phase}".into(), Some("Running".into()))
        );
        assert_eq!(
            parse_for("jsonpath={.status.loadBalancer}").unwrap(),
            For::JsonPath("{.status.loadBalancer}".into(), None)
        );
        assert_eq!(
            parse_for("").unwrap_err().to_string(),
            "error: unrecognized condition: \"\""
        );
    }

    #[test]
    fn conditions_and_paths_are_checked() {
        let obj = json!({"metadata": {"generation": 2}, "status": {"phase": "Running", "replicas": 3,
            "conditions": [{"type": "Available", "status": "True"},
                           {"type": "Stale", "status": "True", "observedGeneration": 1}]}});
        assert!(satisfied(&parse_for("condition=available").unwrap(), &obj));
        assert!(!satisfied(
            &parse_for("condition=Available=False").unwrap(),
            &obj
        ));
        assert!(
            !satisfied(&parse_for("condition=Stale").unwrap(), &obj),
            "an old generation's"
        );
        assert!(!satisfied(&parse_for("condition=Ready").unwrap(), &obj));
        assert!(satisfied(
            &parse_for("jsonpath={.status.replicas}=3").unwrap(),
            &obj
        ));
        assert!(!satisfied(
            &parse_for("jsonpath={.status.phase}=Pending").unwrap(),
            &obj
        ));
        assert!(satisfied(
            &parse_for("jsonpath={.status.phase}").unwrap(),
            &obj
        ));
    }
}
