//! `kubectl label`, `annotate` and `patch`: read the object, change it, send the difference.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{PatchKind, Session, finish};
use crate::args::{Target, targets};
use crate::error::{Error, Result};
use crate::printer::json_compact;

#[derive(Debug, clap::Args)]
pub struct LabelArgs {
    /// TYPE NAME KEY_1=VAL_1 ... KEY_N=VAL_N, or TYPE/NAME KEY=VAL, KEY- to remove.
    words: Vec<String>,
    /// If true, allow labels to be overwritten, otherwise reject label updates that overwrite existing labels.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Debug, clap::Args)]
pub struct AnnotateArgs {
    /// TYPE NAME KEY_1=VAL_1 ... KEY_N=VAL_N, or TYPE/NAME KEY=VAL, KEY- to remove.
    words: Vec<String>,
    /// If true, allow annotations to be overwritten, otherwise reject annotation updates that overwrite existing annotations.
    #[arg(long)]
    overwrite: bool,
}

/// Which map of the metadata a command edits; upstream words each one's messages apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Labels,
    Annotations,
}

impl Field {
    fn key(self) -> &'static str {
        match self {
            Field::Labels => "labels",
            Field::Annotations => "annotations",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Field::Labels => "label",
            Field::Annotations => "annotation",
        }
    }

    fn manager(self) -> &'static str {
        match self {
            Field::Labels => "kubectl-label",
            Field::Annotations => "kubectl-annotate",
        }
    }
}

/// The edits of the command line: keys to set and keys to remove.
#[derive(Debug, Default, PartialEq, Eq)]
struct Edits {
    set: BTreeMap<String, String>,
    remove: Vec<String>,
}

/// Splits the words into resources and edits (`k=v`, `k-`), as `GetResourcesAndPairs` does.
fn split_words(words: &[String], field: Field) -> Result<(Vec<String>, Edits)> {
    let mut resources = Vec::new();
    let mut pairs = Vec::new();
    for w in words {
        if w.contains('=') || w.ends_with('-') {
            pairs.push(w.clone());
        } else if pairs.is_empty() {
            resources.push(w.clone());
        } else {
            return Err(Error::client(format!(
                "all resources must be specified before {} changes: {w}",
                field.noun()
            )));
        }
    }
    let mut edits = Edits::default();
    for p in &pairs {
        if let Some((k, v)) = p.split_once('=') {
            if field == Field::Labels {
                if v.contains('=') {
                    return Err(Error::client(format!("invalid label spec: {p}")));
                }
                let errs = label_value_errors(v);
                if !errs.is_empty() {
                    return Err(Error::client(format!(
                        "invalid label value: \"{p}\": {}",
                        errs.join(";")
                    )));
                }
            } else if k.is_empty() {
                return Err(Error::client(format!("invalid annotation spec: {p}")));
            }
            edits.set.insert(k.to_owned(), v.to_owned());
        } else {
            edits.remove.push(p[..p.len() - 1].to_owned());
        }
    }
    let both: Vec<&str> = edits
        .remove
        .iter()
        .filter(|k| edits.set.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !both.is_empty() {
        return Err(Error::client(match field {
            Field::Labels => "can not both modify and remove a label in the same command".into(),
            Field::Annotations => format!(
                "can not both modify and remove the following annotation(s) in the same command: {}",
                both.join(", ")
            ),
        }));
    }
    Ok((resources, edits))
}

/// apimachinery's `IsValidLabelValue`.
fn label_value_errors(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push("must be no more than 63 characters".to_owned());
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let valid = v.is_empty()
        || (v.starts_with(alnum)
            && v.ends_with(alnum)
            && v.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.')));
    if !valid {
        errs.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_owned());
    }
    errs
}

pub async fn label(s: &Session, a: LabelArgs) -> Result<()> {
    edit(s, Field::Labels, &a.words, a.overwrite).await
}

pub async fn annotate(s: &Session, a: AnnotateArgs) -> Result<()> {
    edit(s, Field::Annotations, &a.words, a.overwrite).await
}

/// The named targets of the resource words (kubectl needs a name for these commands).
fn named(s: &Session, words: &[String]) -> Result<Vec<(Target, String)>> {
    if words.is_empty() {
        return Err(Error::client(
            "one or more resources must be specified as <resource> <name> or <resource>/<name>",
        ));
    }
    targets(&s.discovery, words)?
        .into_iter()
        .map(|t| {
            let name = t.name.clone().ok_or_else(|| {
                Error::client("resource(s) were provided, but no name was specified")
            })?;
            Ok((t, name))
        })
        .collect()
}

/// The labels or annotations after the edits; the overwrite errors as kubectl words them.
fn edited(
    field: Field,
    current: &Map<String, Value>,
    edits: &Edits,
    overwrite: bool,
) -> Result<Map<String, Value>> {
    if !overwrite {
        let clashes: Vec<String> = edits
            .set
            .iter()
            .filter_map(|(k, v)| {
                let cur = current.get(k)?.as_str().unwrap_or_default();
                (cur != v).then(|| match field {
                    Field::Labels => {
                        format!("'{k}' already has a value ({cur}), and --overwrite is false")
                    }
                    Field::Annotations => format!("'{k}' already has a value ({cur})"),
                })
            })
            .collect();
        match (field, clashes.len()) {
            (_, 0) => {}
            (Field::Labels, 1) => return Err(Error::client(&clashes[0])),
            (Field::Labels, _) => {
                return Err(Error::client(format!("[{}]", clashes.join(", "))));
            }
            (Field::Annotations, _) => {
                return Err(Error::client(format!(
                    "--overwrite is false but found the following declared annotation(s): {}",
                    clashes.join("; ")
                )));
            }
        }
    }
    let mut out = current.clone();
    for (k, v) in &edits.set {
        out.insert(k.clone(), json!(v));
    }
    for k in &edits.remove {
        out.remove(k);
    }
    Ok(out)
}

async fn edit(s: &Session, field: Field, words: &[String], overwrite: bool) -> Result<()> {
    let (resources, edits) = split_words(words, field)?;
    if resources.is_empty() {
        return Err(Error::client(
            "one or more resources must be specified as <resource> <name> or <resource>/<name>",
        ));
    }
    if edits.set.is_empty() && edits.remove.is_empty() {
        return Err(Error::client(format!(
            "at least one {} update is required",
            field.noun()
        )));
    }
    let mut errors = Vec::new();
    for (t, name) in named(s, &resources)? {
        let r = &t.resource;
        let ns = r.namespaced.then_some(s.ctx.namespace.as_str());
        let outcome = async {
            let mut obj = s.get(r, ns, &name).await?;
            let current = obj["metadata"][field.key()]
                .as_object()
                .cloned()
                .unwrap_or_default();
            if field == Field::Labels {
                for k in edits.remove.iter().filter(|k| !current.contains_key(*k)) {
                    println!("{} {k:?} not found.", field.noun());
                }
            }
            let after = edited(field, &current, &edits, overwrite)?;
            let before_json = json_compact(&obj);
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert(field.key().into(), Value::Object(after.clone()));
            }
            let after_json = json_compact(&obj);
            let mut diff = Map::new();
            for (k, v) in &after {
                if current.get(k) != Some(v) {
                    diff.insert(k.clone(), v.clone());
                }
            }
            for k in current.keys().filter(|k| !after.contains_key(*k)) {
                diff.insert(k.clone(), Value::Null);
            }
            if !diff.is_empty() {
                let patch = json!({"metadata": {field.key(): diff}});
                let query = [("fieldManager", field.manager())];
                s.patch(r, ns, &name, PatchKind::Merge, &patch, &query)
                    .await?;
            }
            let message = match field {
                Field::Annotations => "annotated",
                Field::Labels if before_json == after_json => "not labeled",
                Field::Labels if !overwrite && after_json.len() < before_json.len() => "unlabeled",
                Field::Labels => "labeled",
            };
            Ok::<_, Error>(format!("{}/{name} {message}", r.qualified_singular()))
        };
        match outcome.await {
            Ok(line) => println!("{line}"),
            Err(e) => errors.push(e),
        }
    }
    finish(errors)
}

#[derive(Debug, clap::Args)]
pub struct PatchArgs {
    /// TYPE NAME or TYPE/NAME.
    words: Vec<String>,
    /// The patch to be applied to the resource JSON file.
    #[arg(short = 'p', long)]
    patch: Option<String>,
    /// A file containing a patch to be applied to the resource.
    #[arg(long)]
    patch_file: Option<std::path::PathBuf>,
    /// The type of patch being provided; one of [json merge strategic].
    #[arg(long = "type", default_value = "strategic")]
    kind: String,
}

pub async fn patch(s: &Session, a: PatchArgs) -> Result<()> {
    let kind = match a.kind.as_str() {
        "json" => PatchKind::Json,
        "merge" => PatchKind::Merge,
        "strategic" => PatchKind::Strategic,
        other => {
            return Err(Error::client(format!(
                "--type must be one of [json merge strategic], not \"{other}\""
            )));
        }
    };
    let text = match (&a.patch, &a.patch_file) {
        (Some(p), None) => p.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)?,
        (Some(_), Some(_)) => {
            return Err(Error::client(
                "cannot specify --patch and --patch-file together",
            ));
        }
        (None, None) => {
            return Err(Error::client(
                "must specify --patch or --patch-file containing the contents of the patch",
            ));
        }
    };
    // kubectl turns YAML into JSON before sending it.
    let body: Value = serde_saphyr::from_str(&text)
        .map_err(|e| Error::client(format!("unable to parse \"{text}\": {e}")))?;
    let mut errors = Vec::new();
    for (t, name) in named(s, &a.words)? {
        let r = &t.resource;
        let ns = r.namespaced.then_some(s.ctx.namespace.as_str());
        let outcome = async {
            let before = s.get(r, ns, &name).await?;
            let after = s
                .patch(
                    r,
                    ns,
                    &name,
                    kind,
                    &body,
                    &[("fieldManager", "kubectl-patch")],
                )
                .await?;
            let note = if before == after { " (no change)" } else { "" };
            Ok::<_, Error>(format!("{}/{name} patched{note}", r.qualified_singular()))
        };
        match outcome.await {
            Ok(line) => println!("{line}"),
            Err(e) => errors.push(e),
        }
    }
    finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn words_split_into_resources_and_edits() {
        let (res, edits) =
            split_words(&words(&["deploy", "web", "a=b", "c-"]), Field::Labels).unwrap();
        assert_eq!(res, ["deploy", "web"]);
        assert_eq!(edits.set, BTreeMap::from([("a".into(), "b".into())]));
        assert_eq!(edits.remove, ["c"]);
        let err = |w: &[&str], f| split_words(&words(w), f).unwrap_err().to_string();
        assert_eq!(
            err(&["po", "a=b=c"], Field::Labels),
            "error: invalid label spec: a=b=c"
        );
        assert!(
            err(&["po", "a=x y"], Field::Labels)
                .starts_with("error: invalid label value: \"a=x y\": a valid label")
        );
        assert_eq!(
            err(&["po", "a=b", "a-"], Field::Labels),
            "error: can not both modify and remove a label in the same command"
        );
        assert_eq!(
            err(&["po", "a=b", "x"], Field::Annotations),
            "error: all resources must be specified before annotation changes: x"
        );
        let (_, edits) = split_words(&words(&["po", "a=b=c"]), Field::Annotations).unwrap();
        assert_eq!(edits.set["a"], "b=c");
    }

    #[test]
    fn overwrites_need_the_flag() {
        let current: Map<String, Value> =
            serde_json::from_value(json!({"a": "1", "b": "2"})).unwrap();
        let edits = Edits {
            set: BTreeMap::from([("a".into(), "3".into()), ("b".into(), "2".into())]),
            remove: vec![],
        };
        assert_eq!(
            edited(Field::Labels, &current, &edits, false)
                .unwrap_err()
                .to_string(),
            "error: 'a' already has a value (1), and --overwrite is false"
        );
        assert_eq!(
            edited(Field::Annotations, &current, &edits, false)
                .unwrap_err()
                .to_string(),
            "error: --overwrite is false but found the following declared annotation(s): 'a' already has a value (1)"
        );
        let after = edited(Field::Labels, &current, &edits, true).unwrap();
        assert_eq!(Value::Object(after), json!({"a": "3", "b": "2"}));
    }
}
