//! `kubectl edit`: the objects as YAML in `$KUBE_EDITOR` / `$EDITOR` (else `vi`), then each
//! changed one patched with the difference (a strategic merge patch for built-in kinds, a JSON
//! merge patch for custom resources), as kubectl 1.32's `editoptions.go` does: the same header,
//! `edited` / `skipped` lines, cancellations, and the file reopened with the server's reasons
//! when an object was invalid.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use super::patch3::{Schema, three_way};
use super::{PatchKind, Session};
use crate::args::{FileArgs, targets};
use crate::error::{Error, Result};
use crate::printer::go_yaml;
use crate::resources::Resource;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// (RESOURCE/NAME | RESOURCE NAME)
    words: Vec<String>,
    #[command(flatten)]
    files: FileArgs,
    /// Name of the manager used to track field ownership.
    #[arg(long, default_value = "kubectl-edit")]
    field_manager: String,
    /// If true, keep the managedFields when printing objects in JSON or YAML format.
    #[arg(long)]
    show_managed_fields: bool,
    /// Must be one of: strict (or true), warn, ignore (or false). The server validates what is
    /// sent either way.
    #[arg(long, default_value = "strict", num_args = 0..=1, default_missing_value = "strict")]
    validate: String,
}

const HEADER: &str = "# Please edit the object below. Lines beginning with a '#' will be ignored,
# and an empty file will abort the edit. If an error occurs while saving this file will be
# reopened with the relevant failures.
#
";

/// Why the file is reopened: a line, and the causes under it.
#[derive(Debug, Default)]
struct Reason {
    head: String,
    causes: Vec<String>,
}

fn header(reasons: &[Reason]) -> String {
    let mut out = HEADER.to_owned();
    for r in reasons {
        let colon = if r.causes.is_empty() { "" } else { ":" };
        out.push_str(&format!("# {}{colon}\n", comment(&r.head)));
        for c in &r.causes {
            out.push_str(&format!("# * {}\n", comment(c)));
        }
        out.push_str("#\n");
    }
    out
}

/// Continuation lines of a reason stay comments (`hashOnLineBreak`).
fn comment(text: &str) -> String {
    text.replace('\n', "\n# ")
}

/// The file without its comment lines, as kubectl compares and parses it (`StripComments`).
fn strip_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// One object being edited: where it lives and what it was.
struct Editing {
    resource: Resource,
    namespace: Option<String>,
    name: String,
    original: Value,
}

impl Editing {
    /// `deployments.apps "web"`, as kubectl names an object in edit errors.
    fn quoted(&self) -> String {
        format!("{} \"{}\"", self.resource.qualified_plural(), self.name)
    }
}

pub async fn run(s: &Session, args: Args) -> Result<()> {
    let mut objects = load(s, &args).await?;
    if objects.is_empty() {
        return Err(Error::client("edit cancelled, no objects found"));
    }
    for o in &mut objects {
        if !args.show_managed_fields
            && let Some(meta) = o.original["metadata"].as_object_mut()
        {
            meta.remove("managedFields");
        }
    }
    let shown = if let [one] = objects.as_slice() {
        one.original.clone()
    } else {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {},
            "items": objects.iter().map(|o| o.original.clone()).collect::<Vec<_>>(),
        })
    };
    let original = go_yaml(&shown);
    let file = tempfile::Builder::new()
        .prefix("kubectl-edit-")
        .suffix(".yaml")
        .tempfile()?
        .into_temp_path()
        .keep()
        .map_err(|e| Error::client(e.to_string()))?;
    let mut reasons: Vec<Reason> = Vec::new();
    let mut body = original.clone();
    let mut failed_edit: Option<String> = None;
    loop {
        std::fs::write(&file, format!("{}{body}", header(&reasons)))?;
        launch_editor(&file)?;
        let edited = std::fs::read_to_string(&file)?;
        let stripped = strip_comments(&edited);
        if failed_edit.as_deref() == Some(stripped.as_str()) {
            return Err(preserved(
                &file,
                Error::client("Edit cancelled, no valid changes were saved."),
            ));
        }
        if stripped == strip_comments(&original) {
            let _ = std::fs::remove_file(&file);
            eprintln!("Edit cancelled, no changes made.");
            return Ok(());
        }
        if stripped.trim().is_empty() {
            let _ = std::fs::remove_file(&file);
            eprintln!("Edit cancelled, saved file was empty.");
            return Ok(());
        }
        reasons.clear();
        let updated = match parse(&stripped, objects.len()) {
            Ok(u) => u,
            Err(e) => {
                reasons.push(Reason {
                    head: format!("The edited file had a syntax error: {e}"),
                    causes: Vec::new(),
                });
                body = stripped.clone();
                failed_edit = Some(stripped);
                continue;
            }
        };
        let mut retryable = false;
        for (editing, new) in objects.iter().zip(&updated) {
            match save(s, editing, new, &args.field_manager).await {
                Ok(line) => println!("{line}"),
                Err(Error::Server { reason, message }) if reason == "Invalid" => {
                    eprintln!("error: {} is invalid", editing.quoted());
                    reasons.push(Reason {
                        head: format!("{} was not valid", editing.quoted()),
                        causes: invalid_causes(&message),
                    });
                }
                Err(e) => {
                    eprintln!(
                        "error: {} could not be patched: {}",
                        editing.quoted(),
                        e.message()
                    );
                    retryable = true;
                }
            }
        }
        if retryable {
            eprintln!(
                "You can run `kubectl replace -f {}` to try this update again.",
                file.display()
            );
            return Err(Error::Reported);
        }
        if reasons.is_empty() {
            let _ = std::fs::remove_file(&file);
            return Ok(());
        }
        body = stripped.clone();
        failed_edit = Some(stripped);
    }
}

/// The objects the arguments name, fetched.
async fn load(s: &Session, args: &Args) -> Result<Vec<Editing>> {
    let mut out = Vec::new();
    for manifest in crate::args::manifests(&args.files)? {
        let resource = s.resource_of(&manifest, "")?.clone();
        let mut manifest = manifest;
        let namespace = s.place(&resource, &mut manifest)?;
        let name = manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let original = s.get(&resource, namespace.as_deref(), &name).await?;
        out.push(Editing {
            resource,
            namespace,
            name,
            original,
        });
    }
    if args.words.is_empty() {
        if out.is_empty() {
            return Err(Error::client(crate::everyday::NO_RESOURCES));
        }
        return Ok(out);
    }
    for target in targets(&s.discovery, &args.words)? {
        let namespace = target.resource.namespaced.then(|| s.ctx.namespace.clone());
        let names = match &target.name {
            Some(n) => vec![n.clone()],
            None => {
                let list = s
                    .send(
                        http::Method::GET,
                        &super::url(&target.resource, namespace.as_deref(), None, &[]),
                        "application/json",
                        None,
                    )
                    .await?;
                list["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_owned))
                    .collect()
            }
        };
        for name in names {
            let mut original = s.get(&target.resource, namespace.as_deref(), &name).await?;
            // Fetched objects of a namespaced kind carry kind and apiVersion (lists do not).
            if original["kind"].is_null() {
                original["kind"] = target.resource.kind.clone().into();
                original["apiVersion"] = target.resource.api_version().into();
            }
            out.push(Editing {
                resource: target.resource.clone(),
                namespace: namespace.clone(),
                name,
                original,
            });
        }
    }
    Ok(out)
}

/// The edited objects, one per object edited (a `List` when there were several).
fn parse(text: &str, count: usize) -> std::result::Result<Vec<Value>, String> {
    let value: Value = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    let items = if count == 1 {
        vec![value]
    } else {
        value["items"].as_array().cloned().unwrap_or_default()
    };
    if items.len() != count || items.iter().any(|i| !i.is_object()) {
        return Err(format!(
            "expected {count} object(s) in the edited file, found {}",
            items.len()
        ));
    }
    Ok(items)
}

/// Patches one object with what changed; kubectl's line for it.
async fn save(s: &Session, editing: &Editing, new: &Value, manager: &str) -> Result<String> {
    let what = format!("{}/{}", editing.resource.qualified_singular(), editing.name);
    let identity = |v: &Value| {
        (
            v["apiVersion"].clone(),
            v["kind"].clone(),
            v["metadata"]["name"].clone(),
        )
    };
    if identity(new) != identity(&editing.original) {
        return Err(Error::client(
            "At least one of apiVersion, kind and name was changed",
        ));
    }
    let r = &editing.resource;
    let builtin = barge_api::merge::is_builtin(&r.group, &r.kind);
    let schema = Schema {
        strategic: builtin.then_some((r.group.as_str(), r.kind.as_str())),
    };
    let patch = three_way(schema, &editing.original, new, &editing.original);
    if patch.is_empty() {
        return Ok(format!("{what} skipped"));
    }
    let kind = if builtin {
        PatchKind::Strategic
    } else {
        PatchKind::Merge
    };
    s.patch(
        r,
        editing.namespace.as_deref(),
        &editing.name,
        kind,
        &Value::Object(patch),
        &[("fieldManager", manager)],
    )
    .await?;
    Ok(format!("{what} edited"))
}

/// The causes of an `Invalid` answer, one per field (`spec.replicas: Invalid value: -1: ...`),
/// from the message the server words (`Deployment.apps "web" is invalid: [a, b]` or `...: a`).
fn invalid_causes(message: &str) -> Vec<String> {
    let Some((_, rest)) = message.split_once(" is invalid: ") else {
        return Vec::new();
    };
    let rest = rest.trim();
    match rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(list) => list.split(", ").map(str::to_owned).collect(),
        None => vec![rest.to_owned()],
    }
}

/// The editor kubectl would start: `KUBE_EDITOR`, `EDITOR`, else `vi`; one with arguments
/// runs through the shell, the file's path quoted after them.
fn editor_command(path: &Path) -> std::process::Command {
    let editor = ["KUBE_EDITOR", "EDITOR"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "vi".to_owned());
    if editor.contains(' ') {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("{editor} {:?}", path.display().to_string()));
        cmd
    } else {
        let mut cmd = std::process::Command::new(editor);
        cmd.arg(path);
        cmd
    }
}

fn launch_editor(path: &Path) -> Result<()> {
    let _ = std::io::stdout().flush();
    let mut cmd = editor_command(path);
    let status = cmd.status().map_err(|e| {
        Error::client(format!(
            "unable to launch the editor {:?}: {e}",
            cmd.get_program()
        ))
    })?;
    if !status.success() {
        return Err(Error::client(format!(
            "there was a problem with the editor {:?}",
            cmd.get_program()
        )));
    }
    Ok(())
}

/// kubectl's note of where the changes were kept, then the error.
fn preserved(file: &Path, e: Error) -> Error {
    eprintln!(
        "A copy of your changes has been stored to {:?}",
        file.display().to_string()
    );
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_lists_the_reasons_as_comments() {
        let text = header(&[Reason {
            head: "deployments.apps \"web\" was not valid".into(),
            causes: vec!["spec.replicas: Invalid value: -1: must be\ngreater".into()],
        }]);
        assert!(text.starts_with(HEADER));
        assert!(text.ends_with(
            "# deployments.apps \"web\" was not valid:\n# * spec.replicas: Invalid value: -1: must be\n# greater\n#\n"
        ));
        assert_eq!(
            strip_comments(&format!("{text}a: 1\n  # x\nb: 2\n")),
            "a: 1\nb: 2\n"
        );
    }

    #[test]
    fn invalid_messages_split_into_causes() {
        assert_eq!(
            invalid_causes(
                "Deployment.apps \"web\" is invalid: [spec.replicas: Invalid value: -1: x, metadata.name: Required value]"
            ),
            [
                "spec.replicas: Invalid value: -1: x",
                "metadata.name: Required value"
            ]
        );
        assert_eq!(
            invalid_causes(
                "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: x"
            ),
            ["spec.replicas: Invalid value: -1: x"]
        );
        assert!(invalid_causes("boom").is_empty());
    }

    #[test]
    fn several_objects_come_back_as_a_list() {
        let one = parse("kind: Pod\nmetadata:\n  name: a\n", 1).unwrap();
        assert_eq!(one[0]["metadata"]["name"], "a");
        let two = parse("kind: List\nitems:\n- kind: Pod\n- kind: Service\n", 2).unwrap();
        assert_eq!(two[1]["kind"], "Service");
        assert!(parse("a: [", 1).is_err());
        assert!(parse("kind: List\nitems: []\n", 2).is_err());
    }
}
