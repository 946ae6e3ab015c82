//! What the commands share in their arguments: resource words (`pods`, `pod/web`,
//! `pods,services`, `deploy web api`) and manifests (`-f` files, directories, `-`,
//! multi-document YAML or JSON, `-R`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::resources::{Discovery, Resource};

/// One thing a command acts on: a resource, and a name unless it means all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub resource: Resource,
    pub name: Option<String>,
}

/// `kubectl get pods web api`, `kubectl get pod/web svc/web`, `kubectl get pods,services`,
/// `kubectl get all`: the targets, in order.
pub fn targets(discovery: &Discovery, words: &[String]) -> Result<Vec<Target>> {
    let Some(first) = words.first() else {
        return Err(Error::client(
            "You must specify the type of resource to get. Use \"kubectl api-resources\" for a complete list of supported resources.",
        ));
    };
    let expand = |word: &str| -> Result<Vec<Resource>> {
        let categorised = discovery.category(word);
        if !categorised.is_empty() && discovery.resolve(word).is_err() {
            return Ok(categorised.into_iter().cloned().collect());
        }
        Ok(vec![discovery.resolve(word)?.clone()])
    };
    if words.iter().any(|w| w.contains('/')) {
        return words
            .iter()
            .map(|w| {
                let (kind, name) = w.split_once('/').ok_or_else(|| {
                    Error::client(
                        "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'",
                    )
                })?;
                Ok(Target {
                    resource: discovery.resolve(kind)?.clone(),
                    name: Some(name.to_owned()),
                })
            })
            .collect();
    }
    let mut resources = Vec::new();
    for word in first.split(',').filter(|w| !w.is_empty()) {
        resources.extend(expand(word)?);
    }
    let names = &words[1..];
    if names.is_empty() {
        return Ok(resources
            .into_iter()
            .map(|resource| Target {
                resource,
                name: None,
            })
            .collect());
    }
    Ok(resources
        .iter()
        .flat_map(|r| {
            names.iter().map(|n| Target {
                resource: r.clone(),
                name: Some(n.clone()),
            })
        })
        .collect())
}

/// `-f` and `-R` of the commands that read manifests.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FileArgs {
    /// Filename, directory, or URL to files to use.
    #[arg(short = 'f', long = "filename")]
    pub filenames: Vec<PathBuf>,
    /// Process the directory used in -f, --filename recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// The objects of the manifests, in order: each file's documents (YAML or JSON; `List`s
/// unpacked), a directory's `.json`, `.yaml` and `.yml` files by name, `-` standard input.
pub fn manifests(args: &FileArgs) -> Result<Vec<Value>> {
    let mut objects = Vec::new();
    for path in &args.filenames {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            objects.extend(documents(&text, "STDIN")?);
        } else {
            for file in files(path, args.recursive)? {
                let text = std::fs::read_to_string(&file).map_err(|e| {
                    Error::client(format!(
                        "the path \"{}\" does not exist: {e}",
                        file.display()
                    ))
                })?;
                objects.extend(documents(&text, &file.display().to_string())?);
            }
        }
    }
    Ok(objects)
}

/// The manifest files a path names: itself, or a directory's `.json`, `.yaml` and `.yml`
/// files by name (its subdirectories' too with `recursive`).
pub fn files(path: &Path, recursive: bool) -> Result<Vec<PathBuf>> {
    walk(path, recursive, true)
}

fn walk(path: &Path, recursive: bool, top: bool) -> Result<Vec<PathBuf>> {
    if !path.exists() {
        return Err(Error::client(format!(
            "the path \"{}\" does not exist",
            path.display()
        )));
    }
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    if !top && !recursive {
        return Ok(Vec::new());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            out.extend(walk(&entry, recursive, false)?);
        } else if entry
            .extension()
            .is_some_and(|e| e == "json" || e == "yaml" || e == "yml")
        {
            out.push(entry);
        }
    }
    Ok(out)
}

/// The objects of one file's text: YAML documents (JSON is YAML), empty ones skipped, `List`
/// items unpacked.
pub fn documents(text: &str, source: &str) -> Result<Vec<Value>> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| Error::client(format!("error parsing {source}: {e}")))?;
    let mut out = Vec::new();
    for doc in docs {
        match doc {
            Value::Null => {}
            Value::Object(ref m)
                if m.get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && m.get("items").is_some_and(Value::is_array) =>
            {
                out.extend(m["items"].as_array().into_iter().flatten().cloned());
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_and_lists_unpacked() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{\"kind\": \"Pod\"}, {\"kind\": \"Service\"}]}\n";
        let docs = documents(text, "x").unwrap();
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["ConfigMap", "Pod", "Service"]);
        assert!(documents("a: [", "bad.yaml").is_err());
    }
}
