//! `kubectl explain RESOURCE[.FIELD...]`: a kind's or field's documentation from the server's
//! OpenAPI v3 document of its group version, written as kubectl 1.32's `plaintext` template
//! (`pkg/explain/v2/templates/plaintext.tmpl`) writes it: the same walk through `$ref`,
//! `allOf`, `items` and `additionalProperties`, the same type guesses (`<[]ContainerPort>`,
//! `<map[string]string>`), enums, and descriptions wrapped as go-wordwrap wraps them.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::context::{Context, GlobalArgs};
use crate::error::{Error, Result};
use crate::resources::Discovery;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// RESOURCE[.FIELD...]
    words: Vec<String>,
    /// Use given api-version (group/version) of the resource.
    #[arg(long, default_value = "")]
    api_version: String,
    /// Format in which to render the schema. Valid values are: (plaintext, plaintext-openapiv2).
    #[arg(short = 'o', long, default_value = "plaintext")]
    output: String,
    /// When true, print the name of all the fields recursively. Otherwise, print the available
    /// fields with their description.
    #[arg(long)]
    recursive: bool,
}

pub async fn run(args: Args, global: &GlobalArgs) -> Result<()> {
    let word = match args.words.as_slice() {
        [] => {
            return Err(Error::client(
                "You must specify the type of resource to explain. Use \"kubectl api-resources\" for a complete list of supported resources.",
            ));
        }
        [one] => one,
        _ => {
            return Err(Error::client(
                "We accept only this format: explain RESOURCE",
            ));
        }
    };
    if args.output != "plaintext" {
        return Err(Error::client(format!(
            "unsupported output format: {} (barge kubectl explains from OpenAPI v3 only)",
            args.output
        )));
    }
    let ctx = Context::new(global).await?;
    let discovery = Discovery::run(&ctx.client).await?;
    let first = word.split('.').next().unwrap_or_default();
    let resource = match discovery.resolve(first) {
        Ok(r) => r.clone(),
        Err(_) => {
            // kubectl prints the mapper's error as it is, without `error: `.
            eprintln!("the server doesn't have a resource type \"{first}\"");
            return Err(Error::Reported);
        }
    };
    // `deployments.apps.spec`: the fields follow the group, when the word names it.
    let qualified = resource.qualified_plural();
    let rest = match word.strip_prefix(&qualified) {
        Some(rest) if rest.is_empty() || rest.starts_with('.') => rest,
        _ => &word[first.len()..],
    };
    let fields: Vec<String> = rest
        .split('.')
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    let (group, version) = if args.api_version.is_empty() {
        (resource.group.clone(), resource.version.clone())
    } else {
        match args.api_version.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), args.api_version.clone()),
        }
    };
    let gvr = Gvr {
        group,
        version,
        resource: resource.plural.clone(),
    };
    let document = fetch_document(&ctx, &gvr).await?;
    let mut out = String::new();
    let result = render(&document, &gvr, &fields, args.recursive, &mut out);
    print!("{out}");
    result
}

/// A group, version and resource, as kubectl names them in errors (`apps/v1, Resource=x`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gvr {
    pub group: String,
    pub version: String,
    pub resource: String,
}

impl std::fmt::Display for Gvr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}, Resource={}",
            self.group, self.version, self.resource
        )
    }
}

async fn fetch_document(ctx: &Context, gvr: &Gvr) -> Result<Value> {
    let get = |url: String| async move {
        let req = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| Error::client(e.to_string()))?;
        Ok::<Value, Error>(ctx.client.request::<Value>(req).await?)
    };
    let index = get("/openapi/v3".to_owned()).await.map_err(|e| {
        Error::client(format!(
            "failed to fetch list of groupVersions: {}",
            e.message()
        ))
    })?;
    let path = if gvr.group.is_empty() {
        format!("api/{}", gvr.version)
    } else {
        format!("apis/{}/{}", gvr.group, gvr.version)
    };
    let Some(url) = index["paths"][&path]["serverRelativeURL"].as_str() else {
        return Err(Error::client(format!(
            "couldn't find resource for \"{gvr}\""
        )));
    };
    get(url.to_owned()).await.map_err(|e| {
        Error::client(format!(
            "failed to fetch openapi schema for {path}: {}",
            e.message()
        ))
    })
}

/// Writes the explanation of `fields` of the kind `gvr` serves into `out`; an error after what
/// kubectl would have printed before failing (`KIND:` and `VERSION:` lines come first).
pub fn render(
    doc: &Value,
    gvr: &Gvr,
    fields: &[String],
    recursive: bool,
    out: &mut String,
) -> Result<()> {
    let Some(gvk) = find_gvk(doc, gvr) else {
        return Err(Error::client(format!(
            "GVR ({gvr}) not found in OpenAPI schema"
        )));
    };
    if let Some(g) = gvk["group"].as_str().filter(|g| !g.is_empty()) {
        out.push_str(&format!("GROUP:      {g}\n"));
    }
    out.push_str(&format!(
        "KIND:       {}\nVERSION:    {}\n\n",
        gvk["kind"].as_str().unwrap_or_default(),
        gvk["version"].as_str().unwrap_or_default()
    ));
    let schemas = doc["components"]["schemas"].as_object();
    let Some(schema) = schemas.into_iter().flatten().find_map(|(_, s)| {
        s["x-kubernetes-group-version-kind"]
            .as_array()
            .is_some_and(|l| l.contains(&gvk))
            .then_some(s)
    }) else {
        return Err(Error::client(format!(
            "GVK {} not found in OpenAPI schema",
            go_map(&gvk)
        )));
    };
    let explainer = Explainer { doc, recursive };
    let text = explainer.output(schema, &BTreeSet::new(), fields);
    if text.is_empty() {
        let last = fields.last().map(String::as_str).unwrap_or_default();
        return Err(Error::client(format!("field \"{last}\" does not exist")));
    }
    out.push_str(&text);
    out.push('\n');
    Ok(())
}

/// The GVK of the list, get or write operations of the resource's paths.
fn find_gvk(doc: &Value, gvr: &Gvr) -> Option<Value> {
    let prefix = if gvr.group.is_empty() {
        "/api".to_owned()
    } else {
        format!("/apis/{}", gvr.group)
    };
    let (v, r) = (&gvr.version, &gvr.resource);
    let searched = [
        format!("{prefix}/{v}/{r}"),
        format!("{prefix}/{v}/{r}/{{name}}"),
        format!("{prefix}/{v}/namespaces/{{namespace}}/{r}"),
        format!("{prefix}/{v}/namespaces/{{namespace}}/{r}/{{name}}"),
    ];
    let mut found = None;
    for path in &searched {
        let item = &doc["paths"][path];
        for method in ["get", "post", "put", "patch", "delete"] {
            let gvk = &item[method]["x-kubernetes-group-version-kind"];
            if truthy(gvk) {
                found = Some(gvk.clone());
                break;
            }
        }
    }
    found
}

/// Go's `%v` of a small map, as the template's error shows a GVK.
fn go_map(v: &Value) -> String {
    let fields: Vec<String> = v
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}:{}", v.as_str().unwrap_or_default()))
        .collect();
    format!("map[{}]", fields.join(" "))
}

/// Go template truth: not null, false, 0, "", or an empty list or map.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A schema's `additionalProperties` when it is a schema (not `true`/`false`).
fn additional(schema: &Value) -> Option<&Value> {
    let a = &schema["additionalProperties"];
    (truthy(a) && !a.is_boolean()).then_some(a)
}

fn items(schema: &Value) -> Option<&Value> {
    let i = &schema["items"];
    truthy(i).then_some(i)
}

fn all_of(schema: &Value) -> &[Value] {
    schema["allOf"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn reference(schema: &Value) -> &str {
    schema["$ref"].as_str().unwrap_or_default()
}

struct Explainer<'a> {
    doc: &'a Value,
    recursive: bool,
}

impl<'a> Explainer<'a> {
    /// `#/components/schemas/X` in the document; `None` for anything else.
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let fragment = reference.strip_prefix('#')?;
        let mut cur = self.doc;
        for k in fragment.split('/').filter(|k| !k.is_empty()) {
            cur = cur.get(k).filter(|v| v.is_object())?;
        }
        Some(cur)
    }

    fn resolved<'s>(&self, schema: &'s Value) -> &'s Value
    where
        'a: 's,
    {
        self.resolve(reference(schema))
            .filter(|v| truthy(v))
            .unwrap_or(schema)
    }

    /// The template's `output`: follows `path`, then describes what it reached.
    fn output(&self, schema: &Value, history: &BTreeSet<String>, path: &[String]) -> String {
        let r = reference(schema);
        let mut next = history.clone();
        next.insert(r.to_owned());
        let resolved = self.resolved(schema);
        let mut out = String::new();
        if path.is_empty() {
            out.push_str("DESCRIPTION:\n");
            let mut description = String::new();
            self.description(resolved, &mut description);
            if description.is_empty() {
                description = "<empty>".into();
            }
            out.push_str(&indent(4, &wrap(76, &description)));
            out.push('\n');
            let docs = external_docs(resolved);
            if !docs.is_empty() {
                out.push('\n');
                out.push_str(&docs);
            }
            let list = self.field_list(resolved, 1, &BTreeSet::new());
            if !list.is_empty() {
                out.push_str("FIELDS:\n");
                out.push_str(&list);
            }
        } else if !r.is_empty() && history.contains(r) {
            // A cycle: nothing.
        } else if let Some(sub) = resolved["properties"].get(&path[0]).filter(|s| truthy(s)) {
            if path.len() == 1 {
                out.push_str(&format!("FIELD: {} <{}>\n", path[0], self.type_guess(sub)));
                out.push_str(&enum_text(sub, true, -1, 0));
                out.push_str("\n\n");
            }
            out.push_str(&self.output(sub, &BTreeSet::new(), &path[1..]));
        } else if let Some(i) = items(resolved) {
            out.push_str(&self.output(i, &next, path));
        } else if let Some(a) = additional(resolved) {
            out.push_str(&self.output(a, &next, path));
        } else {
            for sub in all_of(resolved) {
                let o = self.output(sub, &next, path);
                if !o.is_empty() {
                    out.push_str(&o);
                    break;
                }
            }
        }
        out
    }

    /// The template's `description`: the schema's, then its `allOf`s', items' and values'.
    fn description(&self, schema: &Value, out: &mut String) {
        let s = self.resolved(schema);
        if !truthy(s) {
            return;
        }
        if let Some(d) = s["description"].as_str().filter(|d| !d.is_empty()) {
            out.push_str(d);
            out.push('\n');
        }
        for sub in all_of(s) {
            self.description(sub, out);
        }
        if let Some(i) = items(s) {
            self.description(i, out);
        }
        if let Some(a) = additional(s) {
            self.description(a, out);
        }
    }

    /// The template's `fieldList`: each property (sorted) with its type and description, or
    /// with `--recursive` a tree of names and types.
    fn field_list(&self, schema: &Value, level: usize, history: &BTreeSet<String>) -> String {
        let r = reference(schema);
        let mut out = String::new();
        if !r.is_empty() && history.contains(r) {
            return out;
        }
        let mut next = history.clone();
        next.insert(r.to_owned());
        let resolved = self.resolved(schema);
        if let Some(props) = resolved["properties"].as_object() {
            let mut names: Vec<&String> = props.keys().collect();
            names.sort();
            for name in names {
                out.push_str(&self.field_detail(name, resolved, level));
                if self.recursive {
                    out.push_str(&self.field_list(&props[name], level + 1, &next));
                }
            }
        }
        for sub in all_of(resolved) {
            out.push_str(&self.field_list(sub, level, &next));
        }
        if let Some(i) = items(resolved) {
            out.push_str(&self.field_list(i, level, &next));
        }
        if let Some(a) = additional(resolved) {
            out.push_str(&self.field_list(a, level, &next));
        }
        out
    }

    /// The template's `fieldDetail`.
    fn field_detail(&self, name: &str, schema: &Value, level: usize) -> String {
        let pad = level * 2;
        let field = &schema["properties"][name];
        let mut out = format!("{}\t<{}>", indent(pad, name), self.type_guess(field));
        let required = schema["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|n| n == name));
        if required {
            out.push_str(" -required-");
        }
        out.push_str(&enum_text(field, false, 4, pad));
        out.push('\n');
        if self.recursive {
            return out;
        }
        let description = field["description"]
            .as_str()
            .filter(|d| !d.is_empty())
            .unwrap_or("<no description>");
        out.push_str(&indent(pad + 2, &wrap(78 - pad.min(78), description)));
        out.push('\n');
        let docs = &field["externalDocs"];
        if truthy(docs) {
            out.push('\n');
            out.push_str(&indent(pad + 2, "EXTERNAL DOCS:"));
            out.push('\n');
            if let Some(d) = docs["description"].as_str().filter(|d| !d.is_empty()) {
                out.push_str(&indent(pad + 4, &wrap(76 - pad.min(76), d)));
                out.push('\n');
            }
            if let Some(u) = docs["url"].as_str().filter(|u| !u.is_empty()) {
                out.push_str(&indent(pad + 4, &format!("URL: {u}")));
                out.push('\n');
            }
        }
        out.push('\n');
        out
    }

    /// The template's `typeGuess`: `string`, `Object`, `[]Container`, `map[string]string`, ...
    fn type_guess(&self, schema: &Value) -> String {
        if let Some(i) = items(schema) {
            return format!("[]{}", self.type_guess(i));
        }
        if let Some(a) = additional(schema) {
            return format!("map[string]{}", self.type_guess(a));
        }
        let all = all_of(schema);
        if all.len() == 1 && !truthy(&schema["properties"]) {
            return self.type_guess(&all[0]);
        }
        let r = reference(schema);
        let kind = schema["type"].as_str().filter(|t| !t.is_empty());
        if !r.is_empty() {
            let target = self.resolve(r).filter(|t| truthy(t));
            let target_type = target
                .and_then(|t| t["type"].as_str())
                .filter(|t| !t.is_empty());
            return match target_type {
                None | Some("object") => {
                    let name = r.rsplit('/').next().unwrap_or_default();
                    let short = name.rsplit('.').next().unwrap_or_default();
                    if short.is_empty() { "Object" } else { short }.to_owned()
                }
                Some(t) => t.to_owned(),
            };
        }
        match kind {
            Some("object") | None => "Object".to_owned(),
            Some(t) => t.to_owned(),
        }
    }
}

/// The template's `externalDocs` of a described schema.
fn external_docs(schema: &Value) -> String {
    let docs = &schema["externalDocs"];
    if !truthy(docs) {
        return String::new();
    }
    let mut out = "EXTERNAL DOCS:\n".to_owned();
    if let Some(d) = docs["description"].as_str().filter(|d| !d.is_empty()) {
        out.push_str(&indent(4, &wrap(76, d)));
        out.push('\n');
    }
    if let Some(u) = docs["url"].as_str().filter(|u| !u.is_empty()) {
        out.push_str(&indent(4, &format!("URL: {u}")));
        out.push('\n');
    }
    out
}

/// The template's `extractEnum`: `ENUM:` one per line in the long view, `enum: a, b, ....`
/// (at most `limit`) in field lists.
fn enum_text(schema: &Value, long: bool, limit: i64, pad: usize) -> String {
    let Some(values) = schema["enum"].as_array().filter(|e| !e.is_empty()) else {
        return String::new();
    };
    let limit = if limit == 0 { -1 } else { limit };
    let mut out = if long {
        "ENUM:".to_owned()
    } else {
        format!("\n{}enum: ", " ".repeat(pad))
    };
    for (i, v) in values.iter().enumerate() {
        if limit > -1 && i as i64 >= limit {
            out.push_str(", ....");
            break;
        }
        if long {
            out.push_str("\n    ");
        } else if i > 0 {
            out.push_str(", ");
        }
        match v {
            Value::String(s) if s.is_empty() => out.push_str("\"\""),
            Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
    }
    out
}

/// The template's `indent`: `amount` spaces before the text and after each newline.
fn indent(amount: usize, text: &str) -> String {
    let pad = " ".repeat(amount);
    format!("{pad}{}", text.replace('\n', &format!("\n{pad}")))
}

/// go-wordwrap's `WrapString` (kubectl's word-wrap writer): breaks at white space so that lines
/// stay within `limit` bytes where the words allow; existing newlines are kept; a word longer
/// than the limit stands alone.
pub fn wrap(limit: usize, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut current = 0usize;
    let mut word = String::new();
    let mut space = String::new();
    for c in text.chars() {
        if c == '\n' {
            if word.is_empty() {
                if current + space.len() <= limit {
                    out.push_str(&space);
                }
            } else {
                out.push_str(&space);
                out.push_str(&word);
                word.clear();
            }
            space.clear();
            out.push('\n');
            current = 0;
        } else if c.is_whitespace() {
            if space.is_empty() || !word.is_empty() {
                current += space.len() + word.len();
                out.push_str(&space);
                out.push_str(&word);
                space.clear();
                word.clear();
            }
            space.push(c);
        } else {
            word.push(c);
            if current + space.len() + word.len() > limit && word.len() < limit {
                out.push('\n');
                current = 0;
                space.clear();
            }
        }
    }
    if word.is_empty() {
        if current + space.len() <= limit {
            out.push_str(&space);
        }
    } else {
        out.push_str(&space);
        out.push_str(&word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_wraps_as_go_wordwrap_wraps_it() {
        assert_eq!(wrap(10, "one two three four"), "one two\nthree four");
        assert_eq!(wrap(5, "abcdefgh ij"), "abcdefgh\nij");
        assert_eq!(wrap(20, "kept\nlines\n"), "kept\nlines\n");
        assert_eq!(indent(2, "a\nb"), "  a\n  b");
    }

    fn doc() -> Value {
        json!({
            "paths": {"/apis/apps/v1/namespaces/{namespace}/deployments": {
                "get": {"x-kubernetes-group-version-kind": {"group": "apps", "kind": "Deployment", "version": "v1"}}}},
            "components": {"schemas": {
                "io.k8s.api.apps.v1.Deployment": {
                    "description": "Deployment enables declarative updates.",
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "description": "Kind is a string."},
                        "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}],
                                 "description": "Specification."}},
                    "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}]},
                "io.k8s.api.apps.v1.DeploymentSpec": {
                    "description": "DeploymentSpec is the spec.",
                    "type": "object",
                    "required": ["selector"],
                    "properties": {
                        "replicas": {"type": "integer", "format": "int32", "description": "Number of desired pods."},
                        "selector": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"}]},
                        "strategy": {"type": "string", "enum": ["", "Recreate", "RollingUpdate"]},
                        "labels": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
                        "ports": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}]}}}},
                "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector": {"type": "object", "description": "A selector."}
            }}
        })
    }

    fn gvr() -> Gvr {
        Gvr {
            group: "apps".into(),
            version: "v1".into(),
            resource: "deployments".into(),
        }
    }

    fn explain(fields: &[&str], recursive: bool) -> (String, Result<()>) {
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        let mut out = String::new();
        let r = render(&doc(), &gvr(), &fields, recursive, &mut out);
        (out, r)
    }

    #[test]
    fn a_kind_lists_its_fields_with_types() {
        let (out, r) = explain(&[], false);
        assert!(r.is_ok());
        assert_eq!(
            out,
            "GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\nDESCRIPTION:\n    Deployment enables declarative updates.\n    \nFIELDS:\n  kind\t<string>\n    Kind is a string.\n\n  spec\t<DeploymentSpec>\n    Specification.\n\n\n"
        );
    }

    #[test]
    fn a_field_is_followed_through_references() {
        let (out, _) = explain(&["spec"], false);
        assert!(out.contains("FIELD: spec <DeploymentSpec>\n\n\nDESCRIPTION:\n    Specification.\n    DeploymentSpec is the spec.\n    \nFIELDS:\n"), "{out}");
        assert!(out.contains("  labels\t<map[string]string>\n"), "{out}");
        assert!(out.contains("  ports\t<[]DeploymentSpec>\n"), "{out}");
        assert!(
            out.contains("  selector\t<LabelSelector> -required-\n"),
            "{out}"
        );
        assert!(
            out.contains("  strategy\t<string>\n  enum: \"\", Recreate, RollingUpdate\n"),
            "{out}"
        );
        let (out, _) = explain(&["spec", "strategy"], false);
        assert!(
            out.contains(
                "FIELD: strategy <string>\nENUM:\n    \"\"\n    Recreate\n    RollingUpdate\n\n"
            ),
            "{out}"
        );
        let (out, r) = explain(&["spec", "nope"], false);
        assert_eq!(
            r.unwrap_err().to_string(),
            "error: field \"nope\" does not exist"
        );
        assert!(out.ends_with("VERSION:    v1\n\n"));
    }

    #[test]
    fn recursive_lists_stop_at_cycles() {
        let (out, _) = explain(&["spec"], true);
        assert!(
            out.contains("  ports\t<[]DeploymentSpec>\n  replicas\t<integer>\n"),
            "{out}"
        );
        assert!(!out.contains("Number of desired pods"), "{out}");
    }
}
