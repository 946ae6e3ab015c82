//! `kubectl describe TYPE [NAME...]`, `TYPE/NAME`, `-l`, `-A`, `--show-events`: the objects
//! as upstream's describers print them (`k8s.io/kubectl/pkg/describe`), for pods,
//! deployments, replicasets, daemonsets, statefulsets, jobs, services, nodes, namespaces,
//! configmaps and secrets, with the events about them.
//!
//! Each describer is a pure function from the objects it reads to text, written through
//! [`tabwriter::Writer`] (upstream's `PrefixWriter` over Go's tabwriter); this module fetches
//! what each needs the way upstream does (the object, then events by `involvedObject` field
//! selector, the pods a controller owns, a node's pods and Lease, a service's EndpointSlices).
//!
//! Several objects are separated as kubectl separates them (`\n\n` before each but the
//! first). With two arguments of which one is not found (`describe pod web`), the second is a
//! name prefix, as upstream has it: the objects whose names start with it, else the NotFound.
//!
//! Other kinds fail with `error: describe of <kind> is not supported yet by barge kubectl`
//! rather than print something kubectl would not; `-f` is not supported either. Known gaps:
//! times print in UTC where kubectl prints the local zone (the same on the machines barge runs
//! on); volume sources other than emptyDir, hostPath, configMap, secret, projected,
//! persistentVolumeClaim, nfs, downwardAPI, csi and image print upstream's `<unknown>`; where
//! upstream walks a Go map (a LimitRange item's resources, a ConfigMap's or Secret's keys) its
//! order is random and here it is sorted.

mod apps;
mod config;
mod controllers;
mod gosort;
mod namespace;
mod node;
mod pod;
mod service;
mod tabwriter;
mod text;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, LimitRange, Namespace, Node, Pod, ResourceQuota, Secret, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DynamicObject, ListParams};
use serde::de::DeserializeOwned;

use crate::args::targets;
use crate::error::{Error, Result};
use crate::resources::{Discovery, Resource};
use crate::{Context, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum Commands {
    /// Show details of a specific resource or group of resources.
    Describe(DescribeArgs),
}

#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// TYPE [NAME_PREFIX...] or TYPE/NAME...
    pub args: Vec<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// List the requested objects across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Display events related to the described object.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true",
        action = clap::ArgAction::Set)]
    pub show_events: bool,
    /// Return large lists in chunks rather than all at once (accepted; lists are whole).
    #[arg(long, default_value_t = 500)]
    pub chunk_size: i64,
}

/// The kinds this module describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pod,
    Deployment,
    ReplicaSet,
    Service,
    Node,
    Namespace,
    ConfigMap,
    Secret,
    DaemonSet,
    StatefulSet,
    Job,
}

impl Kind {
    fn of(r: &Resource) -> Option<Self> {
        Some(match (r.group.as_str(), r.kind.as_str()) {
            ("", "Pod") => Kind::Pod,
            ("apps", "Deployment") => Kind::Deployment,
            ("apps", "ReplicaSet") => Kind::ReplicaSet,
            ("", "Service") => Kind::Service,
            ("", "Node") => Kind::Node,
            ("", "Namespace") => Kind::Namespace,
            ("", "ConfigMap") => Kind::ConfigMap,
            ("", "Secret") => Kind::Secret,
            ("apps", "DaemonSet") => Kind::DaemonSet,
            ("apps", "StatefulSet") => Kind::StatefulSet,
            ("batch", "Job") => Kind::Job,
            _ => return None,
        })
    }
}

pub async fn run(cmd: Commands, global: &GlobalArgs) -> Result<()> {
    let Commands::Describe(args) = cmd;
    if args.args.is_empty() {
        return Err(Error::client(
            "You must specify the type of resource to describe. Use \"kubectl api-resources\" for a complete list of supported resources.",
        ));
    }
    let ctx = Context::new(global).await?;
    let discovery = Discovery::run(&ctx.client).await?;
    let targets = targets(&discovery, &args.args)?;
    if targets.iter().any(|t| t.name.is_some()) {
        let slash = args.args.iter().any(|a| a.contains('/'));
        if args.selector.is_some() {
            return Err(Error::client(if slash {
                "selectors and the all flag cannot be used when passing resource/name arguments"
            } else {
                "name cannot be provided when a selector is specified"
            }));
        }
        if args.all_namespaces {
            return Err(Error::client(
                "a resource cannot be retrieved by name across all namespaces",
            ));
        }
    }
    let d = Describer {
        ctx: &ctx,
        show_events: args.show_events,
    };
    // Every target's objects, as (resource, namespace, name), in order.
    let mut objects: Vec<(Kind, Option<String>, String)> = Vec::new();
    let mut errors: Vec<Error> = Vec::new();
    for t in &targets {
        let Some(kind) = Kind::of(&t.resource) else {
            return Err(Error::client(format!(
                "describe of {} is not supported yet by barge kubectl",
                t.resource.kind
            )));
        };
        let namespace = t.resource.namespaced.then(|| ctx.namespace.clone());
        match &t.name {
            Some(name) => objects.push((kind, namespace, name.clone())),
            None => {
                let ns = if args.all_namespaces { None } else { namespace };
                let listed = d
                    .names(&t.resource, ns.as_deref(), args.selector.as_deref())
                    .await?;
                objects.extend(listed.into_iter().map(|(ns, n)| (kind, ns, n)));
            }
        }
    }
    let mut described = Vec::new();
    let mut failures = 0;
    for (kind, ns, name) in &objects {
        // Boxed: the describers' future holds whole objects of every kind.
        match Box::pin(d.describe(*kind, ns.as_deref(), name)).await {
            Ok(s) => described.push(s),
            Err(e) => {
                failures += 1;
                let text = e.to_string();
                if !errors.iter().any(|x| x.to_string() == text) {
                    errors.push(e);
                }
            }
        }
    }
    // Upstream's `DescribeMatchingResources`: with two arguments and one NotFound, the second
    // is a name prefix among the first's objects, and nothing else is printed.
    if args.args.len() == 2 && failures == 1 && is_not_found(&errors[0]) {
        let original = errors.remove(0);
        let (kind, ns, _) = &objects[0];
        if args.args[0].contains('/') {
            // The first names one object; no name starts with the second's `TYPE/`.
            let (_, _, name) = &objects[0];
            return Err(
                match Box::pin(d.describe(*kind, ns.as_deref(), name)).await {
                    Err(e) => e,
                    Ok(_) => original,
                },
            );
        }
        let prefix = &args.args[1];
        let matching: Vec<(Option<String>, String)> = d
            .names(&targets[0].resource, ns.as_deref(), None)
            .await?
            .into_iter()
            .filter(|(_, n)| n.starts_with(prefix.as_str()))
            .collect();
        if matching.is_empty() {
            return Err(original);
        }
        let mut out = String::new();
        for (ns, n) in matching {
            out.push_str(&Box::pin(d.describe(*kind, ns.as_deref(), &n)).await?);
            out.push('\n');
        }
        print!("{out}");
        return Ok(());
    }
    print!("{}", described.join("\n\n"));
    if objects.is_empty() && errors.is_empty() {
        if args.all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {} namespace.", ctx.namespace);
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => {
            // kubectl prints every error of the aggregate, one a line.
            let last = errors.pop().expect("several errors");
            for e in errors {
                eprintln!("{e}");
            }
            Err(last)
        }
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Server { reason, .. } if reason == "NotFound")
}

struct Describer<'a> {
    ctx: &'a Context,
    show_events: bool,
}

impl Describer<'_> {
    fn client(&self) -> kube::Client {
        self.ctx.client.clone()
    }

    fn api<K>(&self, namespace: Option<&str>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        match namespace {
            Some(ns) => Api::namespaced(self.client(), ns),
            None => Api::all(self.client()),
        }
    }

    /// The (namespace, name) of each object a list returns, in the server's order.
    async fn names(
        &self,
        r: &Resource,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> Result<Vec<(Option<String>, String)>> {
        let ar = r.api_resource();
        let api: Api<DynamicObject> = match namespace {
            Some(ns) if r.namespaced => Api::namespaced_with(self.client(), ns, &ar),
            _ => Api::all_with(self.client(), &ar),
        };
        let mut lp = ListParams::default();
        if let Some(s) = selector {
            lp = lp.labels(s);
        }
        let list = api.list(&lp).await?;
        Ok(list
            .items
            .into_iter()
            .map(|o| {
                (
                    o.metadata.namespace.clone(),
                    o.metadata.name.clone().unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Every object a list returns, in one request.
    async fn list<K>(&self, api: Api<K>, lp: ListParams) -> Result<Vec<K>>
    where
        K: Clone + DeserializeOwned + std::fmt::Debug,
    {
        Ok(api.list(&lp).await?.items)
    }

    /// `searchEvents`: the events whose involvedObject has these fields, in the object's
    /// namespace (all namespaces for a cluster-scoped object).
    async fn events(&self, namespace: Option<&str>, fields: &[(&str, &str)]) -> Option<Vec<Event>> {
        let selector = fields
            .iter()
            .map(|(k, v)| format!("involvedObject.{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let api: Api<Event> = self.api(namespace.filter(|n| !n.is_empty()));
        Some(
            self.list(api, ListParams::default().fields(&selector))
                .await
                .unwrap_or_default(),
        )
    }

    /// The events about an object of `kind` (upstream's reference: kind, name, namespace,
    /// uid), or none with `--show-events=false`.
    async fn object_events(&self, kind: &str, meta: &kube::api::ObjectMeta) -> Option<Vec<Event>> {
        if !self.show_events {
            return None;
        }
        let name = meta.name.clone().unwrap_or_default();
        let ns = meta.namespace.clone().unwrap_or_default();
        let uid = meta.uid.clone().unwrap_or_default();
        let mut fields = vec![("name", name.as_str()), ("namespace", ns.as_str())];
        if !kind.is_empty() {
            fields.push(("kind", kind));
        }
        if !uid.is_empty() {
            fields.push(("uid", uid.as_str()));
        }
        self.events(Some(&ns), &fields).await
    }

    async fn describe(&self, kind: Kind, ns: Option<&str>, name: &str) -> Result<String> {
        let ns = ns.unwrap_or(&self.ctx.namespace);
        match kind {
            Kind::Pod => {
                let pod = self.api::<Pod>(Some(ns)).get(name).await?;
                // Upstream blanks the kind of a pod's reference; a mirror pod's events are
                // about its static pod's uid.
                let mut meta = pod.metadata.clone();
                if let Some(uid) = meta
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("kubernetes.io/config.mirror"))
                {
                    meta.uid = Some(uid.clone());
                }
                let events = self.object_events("", &meta).await;
                Ok(pod::describe(&pod, events))
            }
            Kind::Deployment => {
                let dep = self.api::<Deployment>(Some(ns)).get(name).await?;
                let events = self.object_events("Deployment", &dep.metadata).await;
                let selector = text::selector(dep.spec.as_ref().map(|s| &s.selector));
                let uid = dep.metadata.uid.clone().unwrap_or_default();
                let rs = self
                    .list(
                        self.api::<ReplicaSet>(Some(ns)),
                        ListParams::default().labels(&selector),
                    )
                    .await
                    .ok()
                    .map(|list| {
                        let owned = list
                            .into_iter()
                            .filter(|rs| controlled_by(&rs.metadata, &uid))
                            .collect();
                        apps::split_replica_sets(&dep, owned)
                    });
                Ok(apps::describe_deployment(&dep, rs, events))
            }
            Kind::ReplicaSet => {
                let rs = self.api::<ReplicaSet>(Some(ns)).get(name).await?;
                let selector = text::selector(rs.spec.as_ref().map(|s| &s.selector));
                let uid = rs.metadata.uid.clone().unwrap_or_default();
                let pods = self
                    .list(
                        self.api::<Pod>(Some(ns)),
                        ListParams::default().labels(&selector),
                    )
                    .await
                    .map(|pods| apps::pod_counts(&pods, &uid))
                    .map_err(|e| e.to_string());
                let events = self.object_events("ReplicaSet", &rs.metadata).await;
                Ok(apps::describe_replica_set(&rs, pods, events))
            }
            Kind::Service => {
                let svc = self.api::<Service>(Some(ns)).get(name).await?;
                let slices = self
                    .list(
                        self.api::<EndpointSlice>(Some(ns)),
                        ListParams::default().labels(&format!("kubernetes.io/service-name={name}")),
                    )
                    .await
                    .unwrap_or_default();
                let events = self.object_events("Service", &svc.metadata).await;
                Ok(service::describe(&svc, &slices, events))
            }
            Kind::Node => {
                let node = Api::<Node>::all(self.client()).get(name).await?;
                let fields =
                    format!("spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed");
                let pods = match self
                    .list(self.api::<Pod>(None), ListParams::default().fields(&fields))
                    .await
                {
                    Ok(pods) => Some(pods),
                    Err(Error::Server { reason, .. }) if reason == "Forbidden" => None,
                    Err(e) => return Err(e),
                };
                let lease = Api::<Lease>::namespaced(self.client(), "kube-node-lease")
                    .get(name)
                    .await
                    .map_err(|e| Error::from(e).message());
                let events = if self.show_events {
                    // Controllers record node events by uid, kubelets by name.
                    let uid = node.metadata.uid.clone().unwrap_or_default();
                    let mut events = self
                        .events(
                            None,
                            &[
                                ("kind", "Node"),
                                ("name", name),
                                ("namespace", ""),
                                ("uid", &uid),
                            ],
                        )
                        .await
                        .unwrap_or_default();
                    events.extend(
                        self.events(
                            None,
                            &[
                                ("kind", "Node"),
                                ("name", name),
                                ("namespace", ""),
                                ("uid", name),
                            ],
                        )
                        .await
                        .unwrap_or_default(),
                    );
                    Some(events)
                } else {
                    None
                };
                Ok(node::describe(&node, pods.as_deref(), lease, events))
            }
            Kind::DaemonSet => {
                let ds = self.api::<DaemonSet>(Some(ns)).get(name).await?;
                let counts = self
                    .pod_counts(ns, ds.spec.as_ref().map(|s| &s.selector), &ds.metadata)
                    .await?;
                let events = self.object_events("DaemonSet", &ds.metadata).await;
                Ok(controllers::describe_daemon_set(&ds, counts, events))
            }
            Kind::StatefulSet => {
                let ss = self.api::<StatefulSet>(Some(ns)).get(name).await?;
                let counts = self
                    .pod_counts(ns, ss.spec.as_ref().map(|s| &s.selector), &ss.metadata)
                    .await?;
                let events = self.object_events("StatefulSet", &ss.metadata).await;
                Ok(controllers::describe_stateful_set(&ss, counts, events))
            }
            Kind::Job => {
                let job = self.api::<Job>(Some(ns)).get(name).await?;
                let events = self.object_events("Job", &job.metadata).await;
                Ok(controllers::describe_job(&job, events))
            }
            Kind::ConfigMap => {
                let cm = self.api::<ConfigMap>(Some(ns)).get(name).await?;
                let events = self.object_events("ConfigMap", &cm.metadata).await;
                Ok(config::describe_config_map(&cm, events))
            }
            Kind::Secret => {
                let secret = self.api::<Secret>(Some(ns)).get(name).await?;
                Ok(config::describe_secret(&secret))
            }
            Kind::Namespace => {
                let namespace = Api::<Namespace>::all(self.client()).get(name).await?;
                let quotas = self
                    .optional_list(self.api::<ResourceQuota>(Some(name)))
                    .await?;
                let limits = self
                    .optional_list(self.api::<LimitRange>(Some(name)))
                    .await?;
                Ok(namespace::describe(&namespace, quotas, limits))
            }
        }
    }

    /// `getPodStatusForController`: the pods a selector finds that the object controls, by
    /// phase.
    async fn pod_counts(
        &self,
        ns: &str,
        selector: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
        meta: &kube::api::ObjectMeta,
    ) -> Result<[usize; 4]> {
        let pods = self
            .list(
                self.api::<Pod>(Some(ns)),
                ListParams::default().labels(&text::selector(selector)),
            )
            .await?;
        Ok(apps::pod_counts(
            &pods,
            meta.uid.as_deref().unwrap_or_default(),
        ))
    }

    /// A list, or none when the server does not serve the resource (NotFound).
    async fn optional_list<K>(&self, api: Api<K>) -> Result<Option<Vec<K>>>
    where
        K: Clone + DeserializeOwned + std::fmt::Debug,
    {
        match self.list(api, ListParams::default()).await {
            Ok(list) => Ok(Some(list)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `metav1.IsControlledBy`: the controller owner reference has this uid.
fn controlled_by(meta: &kube::api::ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Commands,
    }

    #[test]
    fn flags_parse_as_kubectls() {
        let Cli {
            cmd: Commands::Describe(a),
        } = Cli::parse_from([
            "kubectl",
            "describe",
            "pods",
            "-l",
            "app=web",
            "--show-events=false",
        ]);
        assert_eq!(a.args, ["pods"]);
        assert_eq!(a.selector.as_deref(), Some("app=web"));
        assert!(!a.show_events && !a.all_namespaces);
        let Cli {
            cmd: Commands::Describe(a),
        } = Cli::parse_from(["kubectl", "describe", "-A", "po", "--show-events"]);
        assert!(a.show_events && a.all_namespaces);
    }

    #[test]
    fn the_kinds_described_are_the_issues_list() {
        let r = |group: &str, kind: &str| Resource {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            plural: String::new(),
            singular: String::new(),
            namespaced: true,
            short_names: Vec::new(),
            categories: Vec::new(),
            verbs: Vec::new(),
            preferred: true,
        };
        assert_eq!(Kind::of(&r("apps", "Deployment")), Some(Kind::Deployment));
        assert_eq!(Kind::of(&r("", "Namespace")), Some(Kind::Namespace));
        assert_eq!(Kind::of(&r("", "ConfigMap")), Some(Kind::ConfigMap));
        assert_eq!(Kind::of(&r("", "ServiceAccount")), None);
        assert_eq!(Kind::of(&r("extensions", "Deployment")), None);
    }
}
