//! `kubectl get` and its neighbours: `api-resources`, `api-versions`, `cluster-info` and
//! `config view|current-context|get-contexts|use-context`.
//!
//! `get` asks the server for `Table`s, as kubectl does, and prints them with kubectl's
//! human-readable printer ([`crate::printer`]); `-o json|yaml|name|jsonpath=` print the objects
//! themselves, one object when a single `TYPE NAME` was asked for and a `v1` `List` otherwise
//! (kubectl's `printGeneric`).

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};

use futures_util::TryStreamExt;
use serde_json::{Value, json};

use crate::args::{Target, targets};
use crate::context::{Context, GlobalArgs};
use crate::error::{Error, Result};
use crate::printer::{self, HumanPrinter, PrintOptions, TabWriter, Table, jsonpath::Template};
use crate::resources::{Discovery, Resource};

const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// kubectl's list chunk size (`--chunk-size`).
const CHUNK: usize = 500;

#[derive(Debug, clap::Subcommand)]
pub enum Commands {
    /// Display one or many resources.
    Get(GetArgs),
    /// Print the supported API resources on the server.
    ApiResources(ApiResourcesArgs),
    /// Print the supported API versions on the server, in the form of "group/version".
    ApiVersions,
    /// Display cluster information.
    ClusterInfo,
    /// Modify kubeconfig files.
    Config(ConfigCommand),
}

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// TYPE[.VERSION][.GROUP] [NAME ...] | TYPE[.VERSION][.GROUP]/NAME ...
    pub resources: Vec<String>,
    /// Output format: json, yaml, name, wide, jsonpath=...
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Selector (field query) to filter on.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// List the requested object(s) across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// When printing, show all labels as the last column.
    #[arg(long)]
    pub show_labels: bool,
    /// When using the default or custom-column output format, don't print headers.
    #[arg(long)]
    pub no_headers: bool,
    /// Accepts a comma separated list of labels that are going to be presented as columns.
    #[arg(short = 'L', long = "label-columns", value_delimiter = ',')]
    pub label_columns: Vec<String>,
    /// After listing/getting the requested object, watch for changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Sort list types using this field specification (a JSONPath expression).
    #[arg(long)]
    pub sort_by: Option<String>,
    /// Watch for changes to the requested object(s), without listing/getting first.
    #[arg(long)]
    pub watch_only: bool,
    /// If the requested object does not exist the command will return exit code 0.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// Raw URI to request from the server.
    #[arg(long)]
    pub raw: Option<String>,
    /// If true, keep the managedFields when printing objects in JSON or YAML format.
    #[arg(long)]
    pub show_managed_fields: bool,
}

#[derive(Debug, clap::Args)]
pub struct ApiResourcesArgs {
    /// Output format: wide or name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// If false, non-namespaced resources will be returned, otherwise namespaced ones.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub namespaced: Option<bool>,
    /// Limit to resources in the specified API group.
    #[arg(long)]
    pub api_group: Option<String>,
    /// Limit to resources that support the specified verbs.
    #[arg(long, value_delimiter = ',')]
    pub verbs: Vec<String>,
    /// When using the default or custom-column output format, don't print headers.
    #[arg(long)]
    pub no_headers: bool,
    /// If non-empty, sort list of resources using specified field: name or kind.
    #[arg(long)]
    pub sort_by: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ConfigCommand {
    #[command(subcommand)]
    pub command: ConfigSub,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigSub {
    /// Display merged kubeconfig settings or a specified kubeconfig file.
    View(ConfigViewArgs),
    /// Display the current-context.
    CurrentContext,
    /// Describe one or many contexts.
    GetContexts(GetContextsArgs),
    /// Set the current-context in a kubeconfig file.
    UseContext { name: String },
}

#[derive(Debug, clap::Args)]
pub struct ConfigViewArgs {
    /// Display raw byte data and sensitive data.
    #[arg(long)]
    pub raw: bool,
    /// Remove all information not used by current-context from the output.
    #[arg(long)]
    pub minify: bool,
    /// Output format: yaml or json.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct GetContextsArgs {
    pub names: Vec<String>,
    /// Output format: name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// When using the default output format, don't print headers.
    #[arg(long)]
    pub no_headers: bool,
}

pub async fn run(cmd: Commands, global: &GlobalArgs) -> Result<()> {
    match cmd {
        Commands::Get(args) => get(args, global).await,
        Commands::ApiResources(args) => api_resources(args, global).await,
        Commands::ApiVersions => api_versions(global).await,
        Commands::ClusterInfo => cluster_info(global).await,
        Commands::Config(c) => config(c.command, global),
    }
}

fn out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// How `-o` prints.
#[derive(Debug, PartialEq)]
enum Output {
    Table {
        wide: bool,
    },
    Json,
    Yaml,
    Name,
    JsonPath(Template),
    /// `custom-columns=HEADER:PATH,...`
    CustomColumns(Vec<(String, Template)>),
}

fn output_format(o: Option<&str>) -> Result<Output> {
    Ok(match o.unwrap_or("") {
        "" => Output::Table { wide: false },
        "wide" => Output::Table { wide: true },
        "json" => Output::Json,
        "yaml" => Output::Yaml,
        "name" => Output::Name,
        other if other.starts_with("custom-columns=") => {
            let spec = &other["custom-columns=".len()..];
            let mut columns = Vec::new();
            for part in spec.split(',') {
                let Some((header, expr)) = part.split_once(':') else {
                    return Err(Error::client(format!(
                        "unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>"
                    )));
                };
                let t = Template::relaxed(expr).map_err(Error::client)?;
                columns.push((header.to_owned(), t));
            }
            Output::CustomColumns(columns)
        }
        other => match other.strip_prefix("jsonpath=") {
            Some(t) => Output::JsonPath(
                Template::parse(t)
                    .map_err(|e| Error::client(format!("error parsing jsonpath {t}, {e}")))?,
            ),
            None => {
                return Err(Error::client(format!(
                    "unable to match a printer suitable for the output format \"{other}\", allowed formats are: custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml"
                )));
            }
        },
    })
}

/// The request path of a resource (and name) in a namespace (or all of them: `None`).
pub fn path(r: &Resource, namespace: Option<&str>, name: Option<&str>) -> String {
    let mut p = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    if let (true, Some(ns)) = (r.namespaced, namespace) {
        p.push_str(&format!("/namespaces/{ns}"));
    }
    p.push('/');
    p.push_str(&r.plural);
    if let Some(n) = name {
        p.push('/');
        p.push_str(n);
    }
    p
}

/// A query string value, percent-encoded.
fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn fetch(client: &kube::Client, url: &str, accept: &str) -> Result<Value> {
    let req = http::Request::get(url)
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .map_err(|e| Error::client(e.to_string()))?;
    Ok(client.request(req).await?)
}

/// What one target answered: a Table or objects.
struct Info {
    resource: Resource,
    body: Value,
}

impl GetArgs {
    fn query(&self, extra: &[(&str, String)]) -> String {
        let mut q: Vec<String> = Vec::new();
        if let Some(l) = &self.selector {
            q.push(format!("labelSelector={}", encode(l)));
        }
        if let Some(f) = &self.field_selector {
            q.push(format!("fieldSelector={}", encode(f)));
        }
        q.extend(extra.iter().map(|(k, v)| format!("{k}={}", encode(v))));
        if q.is_empty() {
            String::new()
        } else {
            format!("?{}", q.join("&"))
        }
    }
}

/// Gets one target: the object, or every page of the list merged into one.
async fn get_target(ctx: &Context, args: &GetArgs, target: &Target, accept: &str) -> Result<Value> {
    let namespace = (!args.all_namespaces).then_some(ctx.namespace.as_str());
    let base = path(&target.resource, namespace, target.name.as_deref());
    // Sorting reads the rows' objects (kubectl's `transformRequests`).
    let mut object = Vec::new();
    if accept == TABLE_ACCEPT && args.sort_by.is_some() {
        object.push(("includeObject", "Object".to_owned()));
    }
    if target.name.is_some() {
        return fetch(
            &ctx.client,
            &format!("{base}{}", args.query(&object)),
            accept,
        )
        .await;
    }
    let mut merged: Option<Value> = None;
    let mut cont = String::new();
    loop {
        let mut extra = object.clone();
        extra.push(("limit", CHUNK.to_string()));
        if !cont.is_empty() {
            extra.push(("continue", cont.clone()));
        }
        let page = fetch(
            &ctx.client,
            &format!("{base}{}", args.query(&extra)),
            accept,
        )
        .await?;
        cont = page["metadata"]["continue"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let key = if page["kind"] == "Table" {
            "rows"
        } else {
            "items"
        };
        match &mut merged {
            None => merged = Some(page),
            Some(m) => {
                let more = page[key].as_array().cloned().unwrap_or_default();
                if let Some(a) = m[key].as_array_mut() {
                    a.extend(more);
                }
            }
        }
        if cont.is_empty() {
            break;
        }
    }
    Ok(merged.unwrap_or(Value::Null))
}

/// Infos in target order and the errors, as kubectl's builder with `ContinueOnError`.
async fn collect(
    ctx: &Context,
    args: &GetArgs,
    targets: &[Target],
    accept: &str,
) -> (Vec<Info>, Vec<Error>) {
    let mut infos = Vec::new();
    let mut errors = Vec::new();
    for t in targets {
        match get_target(ctx, args, t, accept).await {
            Ok(body) => infos.push(Info {
                resource: t.resource.clone(),
                body,
            }),
            Err(Error::Server { reason, .. }) if reason == "NotFound" && args.ignore_not_found => {}
            Err(e) => errors.push(e),
        }
    }
    (infos, errors)
}

/// Prints every error but the last and returns the last (kubectl prints an aggregate one per
/// line and exits 1).
fn finish(mut errors: Vec<Error>) -> Result<()> {
    let Some(last) = errors.pop() else {
        return Ok(());
    };
    for e in errors {
        eprintln!("{e}");
    }
    Err(last)
}

async fn get(args: GetArgs, global: &GlobalArgs) -> Result<()> {
    let ctx = Context::new(global).await?;
    if let Some(raw) = &args.raw {
        let req = http::Request::get(raw.as_str())
            .body(Vec::new())
            .map_err(|e| Error::client(e.to_string()))?;
        let text = ctx.client.request_text(req).await?;
        return out(&text);
    }
    let output = output_format(args.output.as_deref())?;
    if args.resources.is_empty() {
        eprintln!(
            "You must specify the type of resource to get. Use \"kubectl api-resources\" for a complete list of supported resources.\n"
        );
        return Err(Error::client(
            "Required resource not specified.\nUse \"kubectl explain <resource>\" for a detailed description of that resource (e.g. kubectl explain pods).\nSee 'kubectl get -h' for help and examples",
        ));
    }
    let discovery = Discovery::run(&ctx.client).await?;
    let targets = targets(&discovery, &args.resources)?;
    if args.watch || args.watch_only {
        return watch(&ctx, &args, &targets, output).await;
    }
    match output {
        Output::Table { wide } => table(&ctx, &args, &targets, wide).await,
        other => generic(&ctx, &args, &targets, other).await,
    }
}

fn print_options(args: &GetArgs, r: &Resource, wide: bool, kind: bool) -> PrintOptions {
    PrintOptions {
        no_headers: args.no_headers,
        wide,
        with_namespace: args.all_namespaces && r.namespaced,
        show_labels: args.show_labels,
        label_columns: args.label_columns.clone(),
        kind: kind.then(|| {
            let k = r.kind.to_lowercase();
            if r.group.is_empty() {
                k
            } else {
                format!("{k}.{}", r.group)
            }
        }),
    }
}

/// The human-readable path of `get.go`'s `Run`.
async fn table(ctx: &Context, args: &GetArgs, targets: &[Target], wide: bool) -> Result<()> {
    let sort_by = sort_template(args)?;
    let (infos, errors) = collect(ctx, args, targets, TABLE_ACCEPT).await;
    // kubectl 1.32 sorts the rows of one table, but several tables are sorted as objects,
    // where the field is never found: an error, and nothing printed.
    if sort_by.is_some() && infos.len() > 1 {
        return Err(sort_error(args));
    }
    let kinds: BTreeSet<(&str, &str)> = infos
        .iter()
        .map(|i| (i.resource.group.as_str(), i.resource.kind.as_str()))
        .collect();
    let with_kind = kinds.len() > 1;
    let mut text = String::new();
    let mut groups: Vec<(&Resource, Vec<&Info>)> = Vec::new();
    for info in &infos {
        match groups.last_mut() {
            Some((r, members)) if *r == &info.resource => members.push(info),
            _ => groups.push((&info.resource, vec![info])),
        }
    }
    for (resource, members) in groups {
        let mut printer = HumanPrinter::new(print_options(args, resource, wide, with_kind));
        let mut lines = String::new();
        for info in members {
            let mut table = Table::from_json(&info.body);
            if let Some(field) = &sort_by {
                // A field no row has leaves nothing to print (kubectl 1.32 prints no rows).
                if sort_by_field(&mut table.rows, field, |r| &r.object).is_err() {
                    table.rows.clear();
                }
            }
            lines.push_str(&printer.print(table));
        }
        let formatted = TabWriter::new().format(&lines);
        if !formatted.is_empty() {
            if !text.is_empty() && !args.no_headers {
                text.push('\n');
            }
            text.push_str(&formatted);
        }
    }
    out(&text)?;
    if text.is_empty() && errors.is_empty() && !args.ignore_not_found {
        let namespaced = !args.all_namespaces && infos.iter().all(|i| i.resource.namespaced);
        if namespaced {
            eprintln!("No resources found in {} namespace.", ctx.namespace);
        } else {
            eprintln!("No resources found");
        }
    }
    finish(errors)
}

/// `--sort-by`'s expression, relaxed as kubectl relaxes it (`.metadata.name`, `{.a}`).
fn sort_template(args: &GetArgs) -> Result<Option<Template>> {
    args.sort_by
        .as_deref()
        .map(|f| Template::relaxed(f).map_err(Error::client))
        .transpose()
}

/// kubectl's error for a `--sort-by` field none of the objects has.
fn sort_error(args: &GetArgs) -> Error {
    let expr = args.sort_by.as_deref().unwrap_or_default();
    let inner = expr.strip_prefix('{').unwrap_or(expr);
    let inner = inner.strip_suffix('}').unwrap_or(inner);
    let dotted = if inner.starts_with('.') {
        inner.to_owned()
    } else {
        format!(".{inner}")
    };
    Error::client(format!(
        "couldn't find any field with path \"{{{dotted}}}\" in the list of objects"
    ))
}

/// Sorts (stably) by the first value `field` selects in each element's object, as kubectl's
/// sorters compare them: numbers as numbers, strings in natural order (`a2` before `a10`);
/// a field no element has is an error.
fn sort_by_field<T: Clone>(
    rows: &mut [T],
    field: &Template,
    object: impl Fn(&T) -> &Value,
) -> Result<()> {
    let keys: Vec<Option<Value>> = rows
        .iter()
        .map(|r| field.values(object(r)).first().map(|v| (*v).clone()))
        .collect();
    if !rows.is_empty() && keys.iter().all(Option::is_none) {
        return Err(Error::client(
            "couldn't find any field with the --sort-by path in the list of objects",
        ));
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| compare_values(keys[a].as_ref(), keys[b].as_ref()));
    let sorted: Vec<T> = order.iter().map(|&i| rows[i].clone()).collect();
    rows.clone_from_slice(&sorted);
    Ok(())
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => natural(x, y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(x), Some(y)) => natural(&x.to_string(), &y.to_string()),
    }
}

/// `sortorder.NaturalLess` as an ordering: runs of digits compare as numbers, digits before
/// other bytes.
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        let (dx, dy) = (x[i].is_ascii_digit(), y[j].is_ascii_digit());
        if dx != dy {
            return if dx {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !dx {
            if x[i] != y[j] {
                return x[i].cmp(&y[j]);
            }
            i += 1;
            j += 1;
            continue;
        }
        while i < x.len() && x[i] == b'0' {
            i += 1;
        }
        while j < y.len() && y[j] == b'0' {
            j += 1;
        }
        let (nz_x, nz_y) = (i, j);
        while i < x.len() && x[i].is_ascii_digit() {
            i += 1;
        }
        while j < y.len() && y[j].is_ascii_digit() {
            j += 1;
        }
        let by_len = (i - nz_x).cmp(&(j - nz_y));
        if by_len != Ordering::Equal {
            return by_len;
        }
        let by_digits = x[nz_x..i].cmp(&y[nz_y..j]);
        if by_digits != Ordering::Equal {
            return by_digits;
        }
        if nz_x != nz_y {
            return nz_x.cmp(&nz_y);
        }
    }
    x.len().cmp(&y.len())
}

/// The objects of an answer: the object itself, or a list's items with their kind.
fn objects(info: &Info) -> Vec<Value> {
    let body = &info.body;
    let Some(items) = body.get("items").and_then(Value::as_array) else {
        return vec![body.clone()];
    };
    let api_version = info.resource.api_resource().api_version;
    items
        .iter()
        .map(|item| {
            let mut item = item.clone();
            if let Some(m) = item.as_object_mut() {
                m.entry("apiVersion").or_insert(json!(api_version));
                m.entry("kind").or_insert(json!(info.resource.kind));
            }
            item
        })
        .collect()
}

/// `kind.group/name` as kubectl's name printer writes an object.
fn object_name(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or_default().to_lowercase();
    let group = obj["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/'))
        .map(|(g, _)| g)
        .unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if group.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}.{group}/{name}")
    }
}

/// YAML as kubectl writes it ([`printer::go_yaml`]).
pub fn to_yaml(v: &Value) -> Result<String> {
    Ok(printer::go_yaml(v))
}

/// `printGeneric`: json, yaml, name and jsonpath.
async fn generic(ctx: &Context, args: &GetArgs, targets: &[Target], output: Output) -> Result<()> {
    let single = targets.len() == 1 && targets[0].name.is_some();
    let (infos, mut errors) = collect(ctx, args, targets, "application/json").await;
    if single && let Some(e) = errors.pop() {
        return Err(e);
    }
    let mut items: Vec<Value> = infos.iter().flat_map(objects).collect();
    if let Some(field) = sort_template(args)? {
        sort_by_field(&mut items, &field, |v| v).map_err(|_| sort_error(args))?;
    }
    if !args.show_managed_fields {
        for item in &mut items {
            if let Some(meta) = item["metadata"].as_object_mut() {
                meta.remove("managedFields");
            }
        }
    }
    let obj = if single && items.len() == 1 {
        items[0].clone()
    } else {
        json!({"apiVersion": "v1", "kind": "List", "items": items,
               "metadata": {"resourceVersion": ""}})
    };
    let text = match output {
        Output::Json => format!("{}\n", printer::json_indent(&obj)),
        Output::Yaml => to_yaml(&obj)?,
        Output::Name => items
            .iter()
            .map(|o| format!("{}\n", object_name(o)))
            .collect(),
        Output::JsonPath(t) => t.execute(&obj),
        Output::CustomColumns(columns) => {
            TabWriter::new().format(&custom_columns(&columns, &items, args.no_headers))
        }
        Output::Table { .. } => String::new(),
    };
    out(&text)?;
    finish(errors)
}

/// kubectl's custom-columns printer: a header row (as written), then per object each
/// column's values joined by `,` (`<none>` when there are none); tab-separated lines.
fn custom_columns(columns: &[(String, Template)], items: &[Value], no_headers: bool) -> String {
    let mut lines = String::new();
    if !no_headers {
        let headers: Vec<&str> = columns.iter().map(|(h, _)| h.as_str()).collect();
        lines.push_str(&headers.join("\t"));
        lines.push('\n');
    }
    for item in items {
        let cells: Vec<String> = columns
            .iter()
            .map(|(_, t)| {
                let values = t.values(item);
                if values.is_empty() {
                    "<none>".to_owned()
                } else {
                    values
                        .into_iter()
                        .map(printer::go_sprint)
                        .collect::<Vec<_>>()
                        .join(",")
                }
            })
            .collect();
        lines.push_str(&cells.join("\t"));
        lines.push('\n');
    }
    lines
}

/// How `get -w` prints each object it is told about: a table row, or the object itself
/// (YAML documents separated by `---`, as kubectl's YAML printer does after the first).
struct WatchPrinter {
    output: Output,
    table: HumanPrinter,
    writer: TabWriter,
    printed: usize,
    show_managed_fields: bool,
    no_headers: bool,
}

impl WatchPrinter {
    fn print(&mut self, mut obj: Value) -> String {
        if let Output::Table { .. } = self.output {
            return self
                .writer
                .format(&self.table.print(Table::from_json(&obj)));
        }
        if !self.show_managed_fields
            && let Some(meta) = obj["metadata"].as_object_mut()
        {
            meta.remove("managedFields");
        }
        self.printed += 1;
        match &self.output {
            Output::Json => format!("{}\n", printer::json_indent(&obj)),
            Output::Yaml if self.printed > 1 => format!("---\n{}", printer::go_yaml(&obj)),
            Output::Yaml => printer::go_yaml(&obj),
            Output::Name => format!("{}\n", object_name(&obj)),
            Output::JsonPath(t) => t.execute(&obj),
            Output::CustomColumns(c) => {
                let headers = self.no_headers || self.printed > 1;
                let lines = custom_columns(c, std::slice::from_ref(&obj), headers);
                self.writer.format(&lines)
            }
            Output::Table { .. } => String::new(),
        }
    }
}

/// `get -w`: what is there now (unless `--watch-only`), then every change.
async fn watch(ctx: &Context, args: &GetArgs, targets: &[Target], output: Output) -> Result<()> {
    let kinds: BTreeSet<&str> = targets.iter().map(|t| t.resource.plural.as_str()).collect();
    if kinds.len() > 1 {
        return Err(Error::client("you may only specify a single resource type"));
    }
    let Some(target) = targets.first() else {
        return Ok(());
    };
    let accept = match output {
        Output::Table { .. } => TABLE_ACCEPT,
        _ => "application/json",
    };
    let wide = matches!(output, Output::Table { wide: true });
    let mut printer = WatchPrinter {
        table: HumanPrinter::new(print_options(args, &target.resource, wide, false)),
        output,
        writer: TabWriter::new(),
        printed: 0,
        show_managed_fields: args.show_managed_fields,
        no_headers: args.no_headers,
    };
    let body = get_target(ctx, args, target, accept).await?;
    let list_version = body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !args.watch_only {
        let text = if accept == TABLE_ACCEPT {
            printer.print(body)
        } else {
            let info = Info {
                resource: target.resource.clone(),
                body,
            };
            objects(&info)
                .into_iter()
                .map(|o| printer.print(o))
                .collect()
        };
        out(&text)?;
    }
    let namespace = (!args.all_namespaces).then_some(ctx.namespace.as_str());
    // A list's version is "now"; one object is watched from "0", which starts with a
    // synthetic ADDED for what was just printed.
    let rv = if target.name.is_some() {
        "0".to_owned()
    } else {
        list_version
    };
    let extra = vec![("watch", "1".to_owned()), ("resourceVersion", rv)];
    let base = path(&target.resource, namespace, None);
    let mut query = args.query(&extra);
    if let Some(name) = &target.name {
        query.push_str(&format!(
            "&fieldSelector={}",
            encode(&format!("metadata.name={name}"))
        ));
    }
    let req = http::Request::get(format!("{base}{query}"))
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .map_err(|e| Error::client(e.to_string()))?;
    let events = ctx.client.request_events::<Value>(req).await?;
    futures_util::pin_mut!(events);
    let mut skip = target.name.is_some() && !args.watch_only;
    while let Some(event) = events.try_next().await? {
        let obj = match event {
            kube::core::WatchEvent::Added(o)
            | kube::core::WatchEvent::Modified(o)
            | kube::core::WatchEvent::Deleted(o) => o,
            kube::core::WatchEvent::Bookmark(_) => continue,
            kube::core::WatchEvent::Error(e) => {
                return Err(Error::Server {
                    reason: e.reason,
                    message: e.message,
                });
            }
        };
        if std::mem::take(&mut skip) {
            continue;
        }
        out(&printer.print(obj))?;
    }
    Ok(())
}

/// The preferred version of every resource (`ServerPreferredResources`): per group, the
/// first version that serves it; subresources left out.
fn preferred(discovery: &Discovery) -> Vec<&Resource> {
    let mut seen = BTreeSet::new();
    discovery
        .resources
        .iter()
        .filter(|r| !r.plural.contains('/'))
        .filter(|r| seen.insert((r.group.clone(), r.plural.clone())))
        .collect()
}

async fn api_resources(args: ApiResourcesArgs, global: &GlobalArgs) -> Result<()> {
    let output = args.output.as_deref().unwrap_or("");
    if !matches!(output, "" | "wide" | "name") {
        return Err(Error::client(format!("--output {output} is not available")));
    }
    let ctx = Context::new(global).await?;
    let discovery = Discovery::run(&ctx.client).await?;
    let mut resources: Vec<&Resource> = preferred(&discovery)
        .into_iter()
        .filter(|r| args.namespaced.is_none_or(|n| n == r.namespaced))
        .filter(|r| args.api_group.as_ref().is_none_or(|g| g == &r.group))
        .filter(|r| args.verbs.iter().all(|v| r.verbs.contains(v)))
        .collect();
    let key = |r: &Resource| -> String {
        match args.sort_by.as_deref() {
            Some("name") => r.plural.clone(),
            Some("kind") => r.kind.clone(),
            _ => r.group.clone(),
        }
    };
    resources.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.plural.cmp(&b.plural)));
    let mut lines = String::new();
    if output == "name" {
        for r in resources {
            lines.push_str(&r.qualified_plural());
            lines.push('\n');
        }
        return out(&lines);
    }
    if !args.no_headers {
        lines.push_str("NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND");
        lines.push_str(if output == "wide" {
            "\tVERBS\tCATEGORIES\n"
        } else {
            "\n"
        });
    }
    for r in resources {
        let api_version = r.api_resource().api_version;
        lines.push_str(&format!(
            "{}\t{}\t{api_version}\t{}\t{}",
            r.plural,
            r.short_names.join(","),
            r.namespaced,
            r.kind
        ));
        if output == "wide" {
            let mut verbs = r.verbs.clone();
            verbs.sort();
            lines.push_str(&format!(
                "\t{}\t{}",
                verbs.join(","),
                r.categories.join(",")
            ));
        }
        lines.push('\n');
    }
    out(&TabWriter::new().format(&lines))
}

async fn api_versions(global: &GlobalArgs) -> Result<()> {
    let ctx = Context::new(global).await?;
    let discovery = Discovery::run(&ctx.client).await?;
    let versions: BTreeSet<String> = discovery
        .resources
        .iter()
        .map(|r| r.api_resource().api_version)
        .collect();
    out(&versions.into_iter().map(|v| v + "\n").collect::<String>())
}

/// `cluster-info`: the control plane's address and the cluster services' proxy links, green
/// and yellow on a terminal.
async fn cluster_info(global: &GlobalArgs) -> Result<()> {
    let config = KubeconfigDoc::load(global)?;
    let server = config.server(global.context.as_deref());
    let ctx = Context::new(global).await?;
    let namespace = global.namespace.as_deref().unwrap_or("kube-system");
    let url = format!(
        "/api/v1/namespaces/{namespace}/services?labelSelector={}",
        encode("kubernetes.io/cluster-service=true")
    );
    let list = fetch(&ctx.client, &url, "application/json").await?;
    let color = std::io::stdout().is_terminal();
    let line = |name: &str, link: &str| {
        if color {
            format!("\x1b[0;32m{name}\x1b[0m is running at \x1b[0;33m{link}\x1b[0m\n")
        } else {
            format!("{name} is running at {link}\n")
        }
    };
    let mut text = line("Kubernetes control plane", &server);
    for svc in list["items"].as_array().into_iter().flatten() {
        text.push_str(&line(&service_name(svc), &service_link(svc, &server)));
    }
    text.push_str(
        "\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n",
    );
    out(&text)
}

fn service_name(svc: &Value) -> String {
    let meta = &svc["metadata"];
    meta["labels"]["kubernetes.io/name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .or(meta["name"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The link kubectl prints for a cluster service: its load balancer's ports, else the API
/// server's service proxy (`https:name:port` when the first port looks like HTTPS).
fn service_link(svc: &Value, server: &str) -> String {
    let ports: Vec<&Value> = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if let Some(ingress) = svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .and_then(|a| a.first())
    {
        let ip = ingress["ip"]
            .as_str()
            .filter(|s| !s.is_empty())
            .or(ingress["hostname"].as_str())
            .unwrap_or_default();
        return ports
            .iter()
            .map(|p| format!("http://{ip}:{} ", p["port"]))
            .collect();
    }
    let name = svc["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = svc["metadata"]["namespace"].as_str().unwrap_or_default();
    let mut target = name.to_owned();
    if let Some(port) = ports.first() {
        let port_name = port["name"].as_str().unwrap_or_default();
        let scheme = if port_name == "https" || port["port"] == 443 {
            "https"
        } else {
            ""
        };
        // utilnet.JoinSchemeNamePort
        target = match (scheme.is_empty(), port_name.is_empty()) {
            (true, true) => name.to_owned(),
            (true, false) => format!("{name}:{port_name}"),
            (false, true) => format!("{scheme}:{name}"),
            (false, false) => format!("{scheme}:{name}:{port_name}"),
        };
    }
    format!("{server}/api/v1/namespaces/{namespace}/services/{target}/proxy")
}

/// The kubeconfig files kubectl reads, in order: `--kubeconfig`, else `KUBECONFIG`'s list,
/// else `~/.kube/config`.
fn kubeconfig_paths(global: &GlobalArgs) -> Vec<std::path::PathBuf> {
    if let Some(p) = &global.kubeconfig {
        return vec![p.clone()];
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list).collect();
    }
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    vec![home.join(".kube").join("config")]
}

/// The kubeconfig as kubectl's `config` commands see it: the files merged (the first file to
/// name a cluster, user or context wins; the first current-context set wins), and the file
/// that `use-context` writes.
#[derive(Debug)]
pub struct KubeconfigDoc {
    pub merged: Value,
    /// The file a change is written to, and its contents.
    pub file: std::path::PathBuf,
    pub file_doc: Value,
}

impl KubeconfigDoc {
    pub fn load(global: &GlobalArgs) -> Result<Self> {
        let paths = kubeconfig_paths(global);
        let mut merged = json!({"clusters": [], "contexts": [], "users": [],
                                "current-context": ""});
        let mut first: Option<(std::path::PathBuf, Value)> = None;
        for p in &paths {
            if !p.exists() {
                continue;
            }
            let text = std::fs::read_to_string(p)?;
            let doc: Value = if text.trim().is_empty() {
                json!({})
            } else {
                serde_saphyr::from_str(&text)
                    .map_err(|e| Error::client(format!("{}: {e}", p.display())))?
            };
            for key in ["clusters", "contexts", "users"] {
                for entry in doc[key].as_array().into_iter().flatten() {
                    let name = &entry["name"];
                    let list = merged[key].as_array_mut().expect("a list");
                    if !list.iter().any(|e| &e["name"] == name) {
                        list.push(entry.clone());
                    }
                }
            }
            if merged["current-context"] == ""
                && let Some(c) = doc["current-context"].as_str()
            {
                merged["current-context"] = json!(c);
            }
            if first.is_none() {
                first = Some((p.clone(), doc));
            }
        }
        let (file, file_doc) = first.unwrap_or_else(|| {
            (
                paths.first().cloned().unwrap_or_default(),
                json!({"apiVersion": "v1", "kind": "Config"}),
            )
        });
        Ok(Self {
            merged,
            file,
            file_doc,
        })
    }

    fn named<'a>(&'a self, key: &str, name: &str) -> Option<&'a Value> {
        self.merged[key]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == name)
    }

    fn current(&self, context: Option<&str>) -> String {
        context.map(str::to_owned).unwrap_or_else(|| {
            self.merged["current-context"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
    }

    /// The current context's server URL.
    pub fn server(&self, context: Option<&str>) -> String {
        let ctx = self.named("contexts", &self.current(context));
        let cluster = ctx
            .and_then(|c| c["context"]["cluster"].as_str())
            .unwrap_or("");
        self.named("clusters", cluster)
            .and_then(|c| c["cluster"]["server"].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// The merged config in kubectl's v1 shape: entries sorted by name, empty fields left out,
    /// secrets shortened unless `raw`, only the current context's entries when `minify`.
    pub fn view(&self, raw: bool, minify: bool, context: Option<&str>) -> Result<Value> {
        let current = self.current(context);
        let mut doc = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "current-context": if minify { current.clone() } else {
                self.merged["current-context"].as_str().unwrap_or("").to_owned() },
        });
        let (mut keep_cluster, mut keep_user) = (None, None);
        if minify {
            let ctx = self
                .named("contexts", &current)
                .ok_or_else(|| Error::client(format!("cannot locate context {current}")))?;
            keep_cluster = ctx["context"]["cluster"].as_str().map(str::to_owned);
            keep_user = ctx["context"]["user"].as_str().map(str::to_owned);
        }
        for (key, inner) in [
            ("clusters", "cluster"),
            ("contexts", "context"),
            ("users", "user"),
        ] {
            let keep = match key {
                "clusters" => keep_cluster.clone(),
                "users" => keep_user.clone(),
                _ => minify.then(|| current.clone()),
            };
            let mut entries: Vec<Value> = self.merged[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| keep.as_ref().is_none_or(|k| e["name"] == k.as_str()))
                .map(|e| {
                    let mut body = prune(&e[inner]).unwrap_or(json!({}));
                    if !raw {
                        shorten(&mut body);
                    }
                    if key == "contexts" {
                        for required in ["cluster", "user"] {
                            body.as_object_mut()
                                .map(|m| m.entry(required).or_insert(json!("")));
                        }
                    }
                    if key == "clusters" {
                        body.as_object_mut()
                            .map(|m| m.entry("server").or_insert(json!("")));
                    }
                    json!({"name": e["name"], inner: body})
                })
                .collect();
            entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            doc[key] = if entries.is_empty() {
                Value::Null
            } else {
                Value::Array(entries)
            };
        }
        Ok(doc)
    }
}

/// The value without nulls, empty strings and empty collections (Go's `omitempty`).
fn prune(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Object(m) => {
            let kept: serde_json::Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| prune(v).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(a) if a.is_empty() => None,
        other => Some(other.clone()),
    }
}

/// The field order of client-go's v1 `Config` structs, which `config view -o json` keeps.
fn config_rank(key: &str) -> usize {
    const FIELDS: &[&str] = &[
        "kind",
        "apiVersion",
        "preferences",
        "name",
        "server",
        "tls-server-name",
        "insecure-skip-tls-verify",
        "certificate-authority",
        "certificate-authority-data",
        "proxy-url",
        "disable-compression",
        "client-certificate",
        "client-certificate-data",
        "client-key",
        "client-key-data",
        "token",
        "tokenFile",
        "as",
        "as-uid",
        "as-groups",
        "as-user-extra",
        "username",
        "password",
        "auth-provider",
        "exec",
        "cluster",
        "user",
        "namespace",
        "clusters",
        "users",
        "contexts",
        "current-context",
        "extensions",
    ];
    FIELDS
        .iter()
        .position(|f| *f == key)
        .unwrap_or(FIELDS.len())
}

/// `clientcmdapi.ShortenConfig` (and the password, which kubectl 1.32 redacts as well).
fn shorten(body: &mut Value) {
    let Some(m) = body.as_object_mut() else {
        return;
    };
    for key in [
        "client-certificate-data",
        "client-key-data",
        "certificate-authority-data",
    ] {
        if let Some(v) = m.get_mut(key) {
            *v = json!("DATA+OMITTED");
        }
    }
    for key in ["token", "password"] {
        if let Some(v) = m.get_mut(key) {
            *v = json!("REDACTED");
        }
    }
}

fn config(cmd: ConfigSub, global: &GlobalArgs) -> Result<()> {
    let doc = KubeconfigDoc::load(global)?;
    match cmd {
        ConfigSub::View(a) => {
            let view = doc.view(a.raw, a.minify, global.context.as_deref())?;
            match a.output.as_deref().unwrap_or("yaml") {
                "yaml" => out(&to_yaml(&view)?),
                "json" => out(&format!(
                    "{}\n",
                    printer::json_indent_by(&view, &|a, b| config_rank(a)
                        .cmp(&config_rank(b))
                        .then(a.cmp(b)))
                )),
                other => Err(Error::client(format!(
                    "unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,yaml"
                ))),
            }
        }
        ConfigSub::CurrentContext => match doc.merged["current-context"].as_str() {
            Some(c) if !c.is_empty() => out(&format!("{c}\n")),
            _ => Err(Error::client("current-context is not set")),
        },
        ConfigSub::GetContexts(a) => get_contexts(&doc, &a),
        ConfigSub::UseContext { name } => {
            if doc.named("contexts", &name).is_none() {
                return Err(Error::client(format!(
                    "no context exists with the name: \"{name}\""
                )));
            }
            // kubectl rewrites the whole file in its own form (ModifyConfig): only this file's
            // entries, sorted, secrets kept.
            let mut single = KubeconfigDoc {
                merged: doc.file_doc.clone(),
                file: doc.file.clone(),
                file_doc: Value::Null,
            };
            single.merged["current-context"] = json!(name);
            std::fs::write(&doc.file, to_yaml(&single.view(true, false, None)?)?)?;
            out(&format!("Switched to context \"{name}\".\n"))
        }
    }
}

fn get_contexts(doc: &KubeconfigDoc, a: &GetContextsArgs) -> Result<()> {
    let current = doc.merged["current-context"].as_str().unwrap_or("");
    let mut contexts: Vec<&Value> = doc.merged["contexts"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    contexts.sort_by(|x, y| x["name"].as_str().cmp(&y["name"].as_str()));
    let mut errors = Vec::new();
    if !a.names.is_empty() {
        for n in &a.names {
            if !contexts.iter().any(|c| c["name"] == n.as_str()) {
                errors.push(Error::client(format!("context {n} not found")));
            }
        }
        contexts.retain(|c| a.names.iter().any(|n| c["name"] == n.as_str()));
    }
    let mut lines = String::new();
    if a.output.as_deref() == Some("name") {
        for c in contexts {
            lines.push_str(c["name"].as_str().unwrap_or_default());
            lines.push('\n');
        }
        out(&lines)?;
        return finish(errors);
    }
    if !a.no_headers {
        lines.push_str("CURRENT\tNAME\tCLUSTER\tAUTHINFO\tNAMESPACE\n");
    }
    for c in contexts {
        let name = c["name"].as_str().unwrap_or_default();
        let field = |k: &str| c["context"][k].as_str().unwrap_or_default().to_owned();
        lines.push_str(&format!(
            "{}\t{name}\t{}\t{}\t{}\n",
            if name == current { "*" } else { "" },
            field("cluster"),
            field("user"),
            field("namespace")
        ));
    }
    out(&TabWriter::new().format(&lines))?;
    finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(group: &str, namespaced: bool) -> Resource {
        Resource {
            group: group.into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            plural: "deployments".into(),
            singular: "deployment".into(),
            namespaced,
            short_names: vec![],
            categories: vec![],
            verbs: vec![],
            preferred: true,
        }
    }

    #[test]
    fn paths_name_the_resource_namespace_and_name() {
        assert_eq!(
            path(&resource("apps", true), Some("prod"), Some("web")),
            "/apis/apps/v1/namespaces/prod/deployments/web"
        );
        assert_eq!(path(&resource("", true), None, None), "/api/v1/deployments");
        assert_eq!(
            path(&resource("", false), Some("x"), None),
            "/api/v1/deployments"
        );
        assert_eq!(encode("app in (a,b)"), "app%20in%20%28a%2Cb%29");
    }

    #[test]
    fn output_formats_are_kubectls() {
        assert_eq!(
            output_format(Some("wide")).unwrap(),
            Output::Table { wide: true }
        );
        assert!(matches!(
            output_format(Some("jsonpath={.a}")),
            Ok(Output::JsonPath(_))
        ));
        let e = output_format(Some("xml")).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "error: unable to match a printer suitable for the output format \"xml\""
            ),
            "{e}"
        );
    }

    #[test]
    fn objects_print_their_kind_and_group_with_the_name_printer() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        assert_eq!(object_name(&d), "deployment.apps/web");
        let p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}});
        assert_eq!(object_name(&p), "pod/a");
        let info = Info {
            resource: resource("apps", true),
            body: json!({"kind": "DeploymentList", "items": [{"metadata": {"name": "web"}}]}),
        };
        assert_eq!(objects(&info)[0]["apiVersion"], "apps/v1");
        assert_eq!(objects(&info)[0]["kind"], "Deployment");
    }

    #[test]
    fn sorting_compares_numbers_and_natural_strings() {
        let mut names = vec!["a10", "a9", "b", "a09", "10", "9"];
        names.sort_by(|a, b| natural(a, b));
        assert_eq!(names, ["9", "10", "a9", "a09", "a10", "b"]);
        let mut items = vec![
            json!({"n": "x", "r": 10}),
            json!({"n": "y", "r": 9}),
            json!({"n": "z"}),
            json!({"n": "w", "r": 9}),
        ];
        let field = Template::relaxed(".r").unwrap();
        sort_by_field(&mut items, &field, |v| v).unwrap();
        let order: Vec<&str> = items.iter().map(|i| i["n"].as_str().unwrap()).collect();
        assert_eq!(order, ["z", "y", "w", "x"], "stable, missing first");
        let missing = Template::relaxed(".nope").unwrap();
        assert!(sort_by_field(&mut items, &missing, |v| v).is_err());
    }

    #[test]
    fn cluster_services_link_through_the_proxy() {
        let svc = json!({"metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"kubernetes.io/name": "CoreDNS"}},
                         "spec": {"ports": [{"name": "dns", "port": 53}]}});
        assert_eq!(service_name(&svc), "CoreDNS");
        assert_eq!(
            service_link(&svc, "https://h:6443"),
            "https://h:6443/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy"
        );
        let lb = json!({"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}, {"port": 81}]},
                        "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}});
        assert_eq!(
            service_link(&lb, ""),
            "http://1.2.3.4:80 http://1.2.3.4:81 "
        );
    }

    #[test]
    fn config_view_sorts_prunes_and_shortens() {
        let doc = KubeconfigDoc {
            merged: json!({
                "current-context": "b",
                "clusters": [{"name": "z", "cluster": {"server": "https://z", "certificate-authority-data": "AAAA"}},
                             {"name": "a", "cluster": {"server": "https://a", "extensions": null}}],
                "contexts": [{"name": "b", "context": {"cluster": "a", "user": "u", "namespace": ""}}],
                "users": [{"name": "u", "user": {"token": "secret", "password": "pw", "client-key-data": "KEY"}}]}),
            file: Default::default(),
            file_doc: json!({}),
        };
        let v = doc.view(false, false, None).unwrap();
        assert_eq!(v["clusters"][0]["name"], "a");
        assert_eq!(v["clusters"][0]["cluster"], json!({"server": "https://a"}));
        assert_eq!(
            v["clusters"][1]["cluster"]["certificate-authority-data"],
            "DATA+OMITTED"
        );
        assert_eq!(
            v["contexts"][0]["context"],
            json!({"cluster": "a", "user": "u"})
        );
        assert_eq!(v["users"][0]["user"]["token"], "REDACTED");
        assert_eq!(v["users"][0]["user"]["password"], "REDACTED");
        assert_eq!(v["users"][0]["user"]["client-key-data"], "DATA+OMITTED");
        let raw = doc.view(true, true, None).unwrap();
        assert_eq!(raw["users"][0]["user"]["token"], "secret");
        assert_eq!(raw["clusters"].as_array().unwrap().len(), 1, "minified");
        assert_eq!(doc.server(None), "https://a");
    }
}
