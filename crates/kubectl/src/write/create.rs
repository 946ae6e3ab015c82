//! `kubectl create` (from manifests, or one of the generators: deployment, service,
//! configmap, secret generic, namespace), `kubectl run` and `kubectl expose`: the objects built
//! exactly as kubectl 1.32 builds them, and its messages.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::apply::with_last_applied;
use super::{DryRun, Session, bare, finish, manifests, prefixed};
use crate::args::{FileArgs, targets};
use crate::error::{Error, Result};
use crate::printer::go_yaml;
use crate::resources::Resource;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    what: Option<Generator>,
    #[command(flatten)]
    files: FileArgs,
    /// Must be "none", "server", or "client".
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, default_missing_value = "client", global = true)]
    dry_run: DryRun,
    /// Output format: name or yaml.
    #[arg(short = 'o', long, global = true)]
    output: Option<String>,
    /// If true, the configuration of current object will be saved in its annotation.
    #[arg(long, global = true)]
    save_config: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Generator {
    /// Create a deployment with the specified name.
    #[command(alias = "deploy")]
    Deployment(DeploymentArgs),
    /// Create a service using a specified subcommand.
    #[command(alias = "svc", subcommand)]
    Service(ServiceType),
    /// Create a config map from a local file, directory or literal value.
    #[command(alias = "cm")]
    Configmap(DataArgs),
    /// Create a secret using a specified subcommand.
    #[command(subcommand)]
    Secret(SecretType),
    /// Create a namespace with the specified name.
    #[command(alias = "ns")]
    Namespace(NameArgs),
}

#[derive(Debug, clap::Args)]
struct NameArgs {
    name: String,
}

#[derive(Debug, clap::Args)]
struct DeploymentArgs {
    name: String,
    /// Image names to run.
    #[arg(long = "image", required = true)]
    images: Vec<String>,
    /// Number of replicas to create.
    #[arg(short = 'r', long, default_value_t = 1)]
    replicas: i32,
    /// The containerPort that this deployment exposes.
    #[arg(long)]
    port: Option<i32>,
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Debug, clap::Subcommand)]
enum ServiceType {
    /// Create a ClusterIP service.
    Clusterip(ServiceArgs),
    /// Create a NodePort service.
    Nodeport(ServiceArgs),
    /// Create a LoadBalancer service.
    Loadbalancer(ServiceArgs),
}

#[derive(Debug, clap::Args)]
struct ServiceArgs {
    name: String,
    /// Port pairs can be specified as '<port>:<targetPort>'.
    #[arg(long, value_delimiter = ',')]
    tcp: Vec<String>,
    /// Assign your own ClusterIP or set to 'None' for a 'headless' service (no loadbalancing).
    #[arg(long)]
    clusterip: Option<String>,
    /// Port used to expose the service on each node in a cluster.
    #[arg(long)]
    node_port: Option<i32>,
}

#[derive(Debug, clap::Subcommand)]
enum SecretType {
    /// Create a secret from a local file, directory, or literal value.
    Generic(SecretArgs),
}

#[derive(Debug, clap::Args)]
struct SecretArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The type of secret to create.
    #[arg(long = "type")]
    kind: Option<String>,
}

#[derive(Debug, clap::Args)]
struct DataArgs {
    name: String,
    /// Specify a key and literal value to insert (i.e. mykey=somevalue).
    #[arg(long)]
    from_literal: Vec<String>,
    /// Key files can be specified using their file path, or an alternate key name.
    #[arg(long)]
    from_file: Vec<String>,
}

pub async fn run(s: &Session, args: Args) -> Result<()> {
    let dry = args.dry_run;
    let output = args.output.as_deref();
    check_output(output)?;
    let Some(what) = args.what else {
        return from_files(s, &args.files, dry, output, args.save_config).await;
    };
    if args.save_config {
        // kubectl's generators annotate the typed object's JSON, in Go struct field order,
        // which these untyped objects do not keep; refused rather than written otherwise.
        return Err(Error::client(
            "--save-config is only done for -f in barge kubectl",
        ));
    }
    let (word, obj, failure): (&str, Value, Option<String>) = match what {
        Generator::Deployment(a) if a.images.len() > 1 && !a.command.is_empty() => {
            return Err(Error::client(
                "cannot specify multiple --image options and command",
            ));
        }
        Generator::Deployment(a) => (
            "deployments.apps",
            deployment(&a),
            Some("failed to create deployment: ".into()),
        ),
        Generator::Service(t) => {
            let (ty, a) = match t {
                ServiceType::Clusterip(a) => ("ClusterIP", a),
                ServiceType::Nodeport(a) => ("NodePort", a),
                ServiceType::Loadbalancer(a) => ("LoadBalancer", a),
            };
            let obj = service(ty, &a)?;
            (
                "services",
                obj,
                Some(format!("failed to create {ty} service: ")),
            )
        }
        Generator::Configmap(a) => (
            "configmaps",
            configmap(&a)?,
            Some("failed to create configmap: ".into()),
        ),
        Generator::Secret(SecretType::Generic(a)) => (
            "secrets",
            secret(&a)?,
            Some("failed to create secret ".into()),
        ),
        Generator::Namespace(a) => (
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": a.name, "creationTimestamp": null},
                "spec": {}, "status": {}}),
            None,
        ),
    };
    let r = s.discovery.resolve(word)?;
    let (done, shown) =
        post(s, r, obj, "kubectl-create", dry)
            .await
            .map_err(|e| match failure {
                Some(prefix) => Error::client(format!("{prefix}{}", bare(&e))),
                None => e,
            })?;
    report(&done, "created", dry, output, &shown);
    Ok(())
}

/// The `-o` formats done here: kubectl's JSON of typed objects follows Go struct field order,
/// which these untyped objects do not keep, so `-o json` is refused rather than faked.
fn check_output(output: Option<&str>) -> Result<()> {
    match output {
        None | Some("name" | "yaml") => Ok(()),
        Some(other) => Err(Error::client(format!(
            "unable to match a printer suitable for the output format \"{other}\" in barge kubectl, allowed formats are: name,yaml"
        ))),
    }
}

/// Prints what a write did: `kind/name <verb>`, or the name, or the object as YAML (without
/// managedFields, as kubectl hides them).
fn report(done: &str, verb: &str, dry: DryRun, output: Option<&str>, obj: &Value) {
    match output {
        Some("name") => println!("{done}"),
        Some("yaml") => {
            let mut obj = obj.clone();
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
            print!("{}", go_yaml(&obj));
        }
        _ => println!("{done} {verb}{}", dry.suffix()),
    }
}

/// Creates a built object in the default namespace (unless cluster-scoped); `kind/name` and
/// the object to show: the server's, or for a client dry run the built one (with the
/// namespace only when `-n` named it, as kubectl's generators do).
async fn post(
    s: &Session,
    r: &Resource,
    obj: Value,
    manager: &str,
    dry: DryRun,
) -> Result<(String, Value)> {
    let mut placed = obj.clone();
    let ns = s.place(r, &mut placed)?;
    let done = format!(
        "{}/{}",
        r.qualified_singular(),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    );
    let mut query = vec![("fieldManager", manager)];
    if dry == DryRun::Server {
        query.push(("dryRun", "All"));
    }
    if dry != DryRun::Client {
        let stored = s.create(r, ns.as_deref(), &placed, &query).await?;
        return Ok((done, stored));
    }
    Ok((
        done,
        if s.ctx.explicit_namespace {
            placed
        } else {
            obj
        },
    ))
}

async fn from_files(
    s: &Session,
    files: &FileArgs,
    dry: DryRun,
    output: Option<&str>,
    save_config: bool,
) -> Result<()> {
    let mut errors = Vec::new();
    for m in manifests(files)? {
        let source = m.source;
        let created = async {
            let r = s.resource_of(&m.object, &source)?;
            let mut obj = m.object;
            if save_config {
                s.place(r, &mut obj)?;
                obj = with_last_applied(&obj);
            }
            post(s, r, obj, "kubectl-create", dry)
                .await
                .map_err(|e| prefixed(e, &format!("error when creating \"{source}\": ")))
        };
        match created.await {
            Ok((done, shown)) => report(&done, "created", dry, output, &shown),
            Err(e) => errors.push(e),
        }
    }
    finish(errors)
}

/// The container name kubectl derives from an image: its last path part without tag or
/// digest.
fn container_name(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    let name = last.split(':').next().unwrap_or(last);
    name.split('@').next().unwrap_or(name).to_owned()
}

fn deployment(a: &DeploymentArgs) -> Value {
    let labels = json!({"app": a.name});
    let mut containers: Vec<Value> = a
        .images
        .iter()
        .map(|image| json!({"name": container_name(image), "image": image, "resources": {}}))
        .collect();
    if let Some(first) = containers.first_mut() {
        if !a.command.is_empty() {
            first["command"] = json!(a.command);
        }
        if let Some(port) = a.port {
            first["ports"] = json!([{"containerPort": port}]);
        }
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": a.name, "creationTimestamp": null, "labels": labels},
        "spec": {
            "replicas": a.replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": labels},
                "spec": {"containers": containers},
            },
            "strategy": {},
        },
        "status": {},
    })
}

/// A port number or name, as `intstr.Parse` reads it.
fn int_or_string(s: &str) -> Value {
    s.parse::<i64>().map_or_else(|_| json!(s), |n| json!(n))
}

fn service(ty: &str, a: &ServiceArgs) -> Result<Value> {
    if a.tcp.is_empty() && a.clusterip.as_deref() != Some("None") {
        return Err(Error::client(
            "at least one tcp port specifier must be provided",
        ));
    }
    let mut ports = Vec::new();
    for spec in &a.tcp {
        let (port, target) = spec.split_once(':').unwrap_or((spec, spec));
        let port: i64 = port
            .parse()
            .map_err(|_| Error::client(format!("invalid port value: {spec}")))?;
        let mut p = json!({"name": spec.replace(':', "-"), "protocol": "TCP", "port": port,
            "targetPort": int_or_string(target)});
        if let Some(node_port) = a.node_port.filter(|n| *n != 0) {
            p["nodePort"] = json!(node_port);
        }
        ports.push(p);
    }
    let mut spec = Map::new();
    if !ports.is_empty() {
        spec.insert("ports".into(), json!(ports));
    }
    spec.insert("selector".into(), json!({"app": a.name}));
    if let Some(ip) = a.clusterip.as_deref().filter(|ip| !ip.is_empty()) {
        spec.insert("clusterIP".into(), json!(ip));
    }
    spec.insert("type".into(), json!(ty));
    Ok(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": a.name, "creationTimestamp": null, "labels": {"app": a.name}},
        "spec": spec,
        "status": {"loadBalancer": {}},
    }))
}

/// The keys and values of `--from-literal` and `--from-file` (a file's key is its name unless
/// given as `key=path`; a directory gives each of its files).
fn data(a: &DataArgs) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for literal in &a.from_literal {
        let (k, v) = literal.split_once('=').ok_or_else(|| {
            Error::client(format!(
                "invalid literal source {literal}, expected key=value"
            ))
        })?;
        out.insert(k.to_owned(), json!(v));
    }
    for source in &a.from_file {
        let (key, path) = match source.split_once('=') {
            Some((k, p)) => (Some(k), p),
            None => (None, source.as_str()),
        };
        let path = Path::new(path);
        let files = if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            entries
        } else {
            vec![path.to_owned()]
        };
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::client(format!("error reading {}: {e}", file.display())))?;
            let name = match key {
                Some(k) => k.to_owned(),
                None => file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            out.insert(name, json!(text));
        }
    }
    Ok(out)
}

fn configmap(a: &DataArgs) -> Result<Value> {
    let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": a.name, "creationTimestamp": null}});
    let data = data(a)?;
    if !data.is_empty() {
        obj["data"] = Value::Object(data);
    }
    Ok(obj)
}

fn secret(a: &SecretArgs) -> Result<Value> {
    let mut obj = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": a.data.name, "creationTimestamp": null}});
    let data: Map<String, Value> = data(&a.data)?
        .into_iter()
        .map(|(k, v)| (k, json!(base64(v.as_str().unwrap_or_default().as_bytes()))))
        .collect();
    if !data.is_empty() {
        obj["data"] = Value::Object(data);
    }
    if let Some(kind) = a.kind.as_deref().filter(|k| !k.is_empty()) {
        obj["type"] = json!(kind);
    }
    Ok(obj)
}

/// Standard base64 with padding, as Secret data is written.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    name: String,
    /// The image for the container to run.
    #[arg(long, required = true)]
    image: String,
    /// The restart policy for this Pod.
    #[arg(long, default_value = "Always")]
    restart: String,
    /// Comma separated labels to apply to the pod(s).
    #[arg(short = 'l', long)]
    labels: Option<String>,
    /// Environment variables to set in the container.
    #[arg(long)]
    env: Vec<String>,
    /// The port that this container exposes.
    #[arg(long)]
    port: Option<i32>,
    /// If true and extra arguments are present, use them as the 'command' field in the container.
    #[arg(long)]
    command: bool,
    /// The image pull policy for the container.
    #[arg(long)]
    image_pull_policy: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, default_missing_value = "client")]
    dry_run: DryRun,
    /// Output format: name or yaml.
    #[arg(short = 'o', long)]
    output: Option<String>,
    #[arg(last = true)]
    args: Vec<String>,
}

fn pod(a: &RunArgs) -> Result<Value> {
    let mut labels = Map::new();
    match a.labels.as_deref() {
        Some(spec) => {
            for pair in spec.split(',') {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| Error::client(format!("invalid label spec: {pair}")))?;
                labels.insert(k.to_owned(), json!(v));
            }
        }
        None => {
            labels.insert("run".into(), json!(a.name));
        }
    }
    let mut container = json!({"name": a.name, "image": a.image});
    if !a.args.is_empty() {
        container[if a.command { "command" } else { "args" }] = json!(a.args);
    }
    if let Some(port) = a.port {
        container["ports"] = json!([{"containerPort": port}]);
    }
    if !a.env.is_empty() {
        let env: Result<Vec<Value>> = a
            .env
            .iter()
            .map(|e| {
                let (k, v) = e
                    .split_once('=')
                    .ok_or_else(|| Error::client(format!("invalid env: {e}")))?;
                Ok(json!({"name": k, "value": v}))
            })
            .collect();
        container["env"] = json!(env?);
    }
    container["resources"] = json!({});
    if let Some(policy) = &a.image_pull_policy {
        container["imagePullPolicy"] = json!(policy);
    }
    Ok(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": a.name, "creationTimestamp": null, "labels": labels},
        "spec": {"containers": [container], "restartPolicy": a.restart, "dnsPolicy": "ClusterFirst"},
        "status": {},
    }))
}

/// `kubectl run NAME --image=I`: one Pod.
pub async fn run_pod(s: &Session, a: RunArgs) -> Result<()> {
    check_output(a.output.as_deref())?;
    let r = s.discovery.resolve("pods")?;
    let (done, shown) = post(s, r, pod(&a)?, "kubectl-run", a.dry_run).await?;
    report(&done, "created", a.dry_run, a.output.as_deref(), &shown);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ExposeArgs {
    /// TYPE NAME or TYPE/NAME.
    words: Vec<String>,
    /// The port that the service should serve on.
    #[arg(long)]
    port: Option<String>,
    /// Name or number for the port on the container that the service should direct traffic to.
    #[arg(long)]
    target_port: Option<String>,
    /// The network protocol for the service to be created.
    #[arg(long)]
    protocol: Option<String>,
    /// Type for this service: ClusterIP, NodePort, LoadBalancer, or ExternalName.
    #[arg(long = "type")]
    kind: Option<String>,
    /// The name for the newly created object.
    #[arg(long)]
    name: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, default_missing_value = "client")]
    dry_run: DryRun,
    /// Output format: name or yaml.
    #[arg(short = 'o', long)]
    output: Option<String>,
}

/// The selector of the object a Service exposes, or why it cannot be exposed.
fn selector_of(obj: &Value) -> Result<Value> {
    let kind = obj["kind"].as_str().unwrap_or_default();
    let selector = match kind {
        "Pod" => &obj["metadata"]["labels"],
        "Service" | "ReplicationController" => &obj["spec"]["selector"],
        "Deployment" | "ReplicaSet" => {
            let s = &obj["spec"]["selector"];
            if s["matchExpressions"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
            {
                return Err(Error::client(format!(
                    "couldn't convert expressions - \"{s}\" to map: expressions are not supported"
                )));
            }
            &s["matchLabels"]
        }
        other => {
            return Err(Error::client(format!("cannot expose a {other}")));
        }
    };
    Ok(selector.clone())
}

/// The ports of the object, as `expose` introspects them: containers' ports or a Service's.
fn ports_of(obj: &Value) -> Vec<(i64, String)> {
    let spec = match obj["kind"].as_str() {
        Some("Pod") => &obj["spec"],
        Some("Service") => {
            return obj["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP").to_owned();
                    p["port"].as_i64().map(|n| (n, proto))
                })
                .collect();
        }
        _ => &obj["spec"]["template"]["spec"],
    };
    spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .filter_map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP").to_owned();
            p["containerPort"].as_i64().map(|n| (n, proto))
        })
        .collect()
}

/// The Service `expose` makes for `obj`.
fn exposed(obj: &Value, a: &ExposeArgs) -> Result<Value> {
    let selector = selector_of(obj)?;
    let ports: Vec<(i64, String)> = match &a.port {
        Some(p) => {
            let n = p
                .parse()
                .map_err(|_| Error::client(format!("invalid port value: {p}")))?;
            vec![(n, String::new())]
        }
        None => ports_of(obj),
    };
    if ports.is_empty() {
        return Err(Error::client(
            "couldn't find port via --port flag or introspection",
        ));
    }
    let many = ports.len() > 1;
    let ports: Vec<Value> = ports
        .iter()
        .enumerate()
        .map(|(i, (port, proto))| {
            let protocol = a
                .protocol
                .clone()
                .or_else(|| Some(proto.clone()).filter(|p| !p.is_empty()))
                .unwrap_or_else(|| "TCP".into());
            let target = a
                .target_port
                .as_deref()
                .map_or_else(|| json!(port), int_or_string);
            let mut p = Map::new();
            if many {
                p.insert("name".into(), json!(format!("port-{}", i + 1)));
            }
            p.insert("protocol".into(), json!(protocol));
            p.insert("port".into(), json!(port));
            p.insert("targetPort".into(), target);
            Value::Object(p)
        })
        .collect();
    let name = a
        .name
        .clone()
        .or_else(|| obj["metadata"]["name"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut metadata = json!({"name": name, "creationTimestamp": null});
    if let Some(labels) = obj["metadata"]["labels"].as_object() {
        metadata["labels"] = json!(labels);
    }
    let mut spec = json!({"ports": ports, "selector": selector});
    if let Some(kind) = &a.kind {
        spec["type"] = json!(kind);
    }
    Ok(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec,
        "status": {"loadBalancer": {}}}),
    )
}

/// `kubectl expose TYPE NAME`: a Service selecting what the object selects.
pub async fn expose(s: &Session, a: ExposeArgs) -> Result<()> {
    check_output(a.output.as_deref())?;
    if a.words.is_empty() {
        return Err(Error::client(crate::everyday::NO_RESOURCES));
    }
    let found = targets(&s.discovery, &a.words)?;
    let mut errors = Vec::new();
    for t in found {
        let outcome = async {
            let name = t.name.as_deref().ok_or_else(|| {
                Error::client("resource(s) were provided, but no name was specified")
            })?;
            let ns = t.resource.namespaced.then_some(s.ctx.namespace.as_str());
            let obj = s.get(&t.resource, ns, name).await?;
            let svc = exposed(&obj, &a)?;
            let r = s.discovery.resolve("services")?;
            post(s, r, svc, "kubectl-expose", a.dry_run).await
        };
        match outcome.await {
            Ok((done, shown)) => report(&done, "exposed", a.dry_run, a.output.as_deref(), &shown),
            Err(e) => errors.push(e),
        }
    }
    finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_come_from_images() {
        assert_eq!(container_name("docker.io/library/busybox:1.36"), "busybox");
        assert_eq!(container_name("nginx"), "nginx");
        assert_eq!(container_name("r:5000/a/b@sha256:00"), "b");
    }

    #[test]
    fn deployments_are_built_as_kubectl_builds_them() {
        let d = deployment(&DeploymentArgs {
            name: "web".into(),
            images: vec!["nginx:1".into(), "redis".into()],
            replicas: 2,
            port: Some(80),
            command: vec!["sleep".into(), "1".into()],
        });
        assert_eq!(d["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(d["spec"]["selector"]["matchLabels"], json!({"app": "web"}));
        assert_eq!(d["spec"]["replicas"], 2);
        let cs = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            cs[0],
            json!({"name": "nginx", "image": "nginx:1", "resources": {},
                "command": ["sleep", "1"], "ports": [{"containerPort": 80}]})
        );
        assert_eq!(
            cs[1],
            json!({"name": "redis", "image": "redis", "resources": {}})
        );
    }

    #[test]
    fn services_name_their_ports_after_the_specs() {
        let a = ServiceArgs {
            name: "s".into(),
            tcp: vec!["80:8080".into(), "443".into()],
            clusterip: None,
            node_port: Some(30001),
        };
        let svc = service("NodePort", &a).unwrap();
        assert_eq!(
            svc["spec"]["ports"],
            json!([{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30001},
                {"name": "443", "protocol": "TCP", "port": 443, "targetPort": 443, "nodePort": 30001}])
        );
        assert_eq!(svc["spec"]["type"], "NodePort");
        let none = ServiceArgs { tcp: vec![], ..a };
        assert_eq!(
            service("ClusterIP", &none).unwrap_err().to_string(),
            "error: at least one tcp port specifier must be provided"
        );
    }

    #[test]
    fn secret_data_is_base64() {
        for (plain, encoded) in [
            ("", ""),
            ("b", "Yg=="),
            ("ab", "YWI="),
            ("abc", "YWJj"),
            ("abcd", "YWJjZA=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        let bad = DataArgs {
            name: "c".into(),
            from_literal: vec!["a".into()],
            from_file: vec![],
        };
        assert_eq!(
            configmap(&bad).unwrap_err().to_string(),
            "error: invalid literal source a, expected key=value"
        );
    }

    #[test]
    fn expose_takes_the_selector_and_ports_of_the_object() {
        let d = json!({"kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"spec": {"containers": [
                {"ports": [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}]}]}}}});
        let a = ExposeArgs {
            words: vec![],
            port: None,
            target_port: None,
            protocol: None,
            kind: None,
            name: None,
            dry_run: DryRun::None,
            output: None,
        };
        let svc = exposed(&d, &a).unwrap();
        assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
        assert_eq!(
            svc["spec"]["ports"],
            json!([{"name": "port-1", "protocol": "TCP", "port": 8080, "targetPort": 8080},
                {"name": "port-2", "protocol": "UDP", "port": 53, "targetPort": 53}])
        );
        let one = ExposeArgs {
            port: Some("80".into()),
            target_port: Some("http".into()),
            kind: Some("NodePort".into()),
            ..a
        };
        let svc = exposed(&d, &one).unwrap();
        assert_eq!(
            svc["spec"]["ports"],
            json!([{"protocol": "TCP", "port": 80, "targetPort": "http"}])
        );
        assert_eq!(svc["spec"]["type"], "NodePort");
    }
}
