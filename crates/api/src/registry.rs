//! The resource registry: what the API serves, by group, version and resource, with everything
//! discovery, routing and kubectl need (kind, scope, verbs, short names, categories,
//! subresources). Built-in resources come from one table; custom resources are added at run
//! time from CustomResourceDefinitions.

use std::sync::Arc;

use crate::status::GroupResource;

/// The verbs of a full read-write resource.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subresource {
    pub name: String,
    /// The kind the subresource answers with (`group`, `version`, `kind`).
    pub group: String,
    pub version: String,
    pub kind: String,
    pub verbs: Vec<String>,
    /// A custom resource's `scale` subresource: where its replicas and selector live
    /// (`specReplicasPath`, `statusReplicasPath`, `labelSelectorPath`, as its CRD says).
    pub scale_paths: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// The plural name used in URLs (`deployments`).
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    pub subresources: Vec<Subresource>,
    /// Where the objects live in the store, without the trailing `/` (shared by the versions
    /// of one resource).
    pub storage_prefix: String,
    /// Defined by a CustomResourceDefinition rather than built in.
    pub custom: bool,
    /// A custom resource version's additionalPrinterColumns.
    pub printer_columns: Option<serde_json::Value>,
    /// A custom resource version's openAPIV3Schema.
    pub schema: Option<serde_json::Value>,
}

impl Resource {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(self.group.clone(), self.plural.clone())
    }

    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}/{ns}/{name}", self.storage_prefix),
            _ => format!("{}/{name}", self.storage_prefix),
        }
    }

    /// The store prefix of a list (one namespace, or all of them).
    pub fn list_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}/{ns}/", self.storage_prefix),
            _ => format!("{}/", self.storage_prefix),
        }
    }
}

/// One row of the built-in table: group, version, kind, plural, namespaced, short names,
/// categories, subresources (`status`, `scale`, ...).
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

/// The built-in resources, in the order discovery lists them (which is the order
/// `kubectl get all` prints them in).
#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    ("", "v1", "Pod", "pods", true, &["po"], ALL, &["status", "binding", "eviction"]),
    ("", "v1", "Service", "services", true, &["svc"], ALL, &["status"]),
    ("", "v1", "ReplicationController", "replicationcontrollers", true, &["rc"], ALL, &["status", "scale"]),
    ("", "v1", "Namespace", "namespaces", false, &["ns"], NONE, &["status", "finalize"]),
    ("", "v1", "Node", "nodes", false, &["no"], NONE, &["status"]),
    ("", "v1", "Endpoints", "endpoints", true, &["ep"], NONE, NONE),
    ("", "v1", "ConfigMap", "configmaps", true, &["cm"], NONE, NONE),
    ("", "v1", "Secret", "secrets", true, NONE, NONE, NONE),
    ("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], NONE, &["token"]),
    ("", "v1", "Event", "events", true, &["ev"], NONE, NONE),
    ("", "v1", "LimitRange", "limitranges", true, &["limits"], NONE, NONE),
    ("", "v1", "ResourceQuota", "resourcequotas", true, &["quota"], NONE, &["status"]),
    ("", "v1", "PersistentVolume", "persistentvolumes", false, &["pv"], NONE, &["status"]),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], NONE, &["status"]),
    ("", "v1", "PodTemplate", "podtemplates", true, NONE, NONE, NONE),
    ("apps", "v1", "Deployment", "deployments", true, &["deploy"], ALL, &["status", "scale"]),
    ("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"], ALL, &["status", "scale"]),
    ("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"], ALL, &["status", "scale"]),
    ("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"], ALL, &["status"]),
    ("apps", "v1", "ControllerRevision", "controllerrevisions", true, NONE, NONE, NONE),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], ALL, &["status"]),
    ("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], NONE, &["status"]),
    ("batch", "v1", "Job", "jobs", true, NONE, ALL, &["status"]),
    ("batch", "v1", "CronJob", "cronjobs", true, &["cj"], ALL, &["status"]),
    ("coordination.k8s.io", "v1", "Lease", "leases", true, NONE, NONE, NONE),
    ("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, NONE, NONE, NONE),
    ("events.k8s.io", "v1", "Event", "events", true, &["ev"], NONE, NONE),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true, NONE, NONE, NONE),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, NONE, NONE, NONE),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, NONE, NONE, NONE),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, NONE, NONE, NONE),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, &["pdb"], NONE, &["status"]),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, &["netpol"], NONE, NONE),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true, &["ing"], NONE, &["status"]),
    ("networking.k8s.io", "v1", "IngressClass", "ingressclasses", false, NONE, NONE, NONE),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", false, &["sc"], NONE, NONE),
    ("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, &["pc"], NONE, NONE),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, &["crd", "crds"], NONE, &["status"]),
];

/// The kind and verbs a built-in subresource answers with.
fn builtin_subresource(group: &str, version: &str, kind: &str, name: &str) -> Subresource {
    let (g, v, k, verbs): (&str, &str, &str, &[&str]) = match name {
        "scale" => ("autoscaling", "v1", "Scale", &["get", "patch", "update"]),
        "binding" => ("", "v1", "Binding", &["create"]),
        "eviction" => ("policy", "v1", "Eviction", &["create"]),
        "token" => ("authentication.k8s.io", "v1", "TokenRequest", &["create"]),
        "finalize" => (group, version, kind, &["update"]),
        _ => (group, version, kind, &["get", "patch", "update"]),
    };
    Subresource {
        name: name.to_owned(),
        group: g.to_owned(),
        version: v.to_owned(),
        kind: k.to_owned(),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
        scale_paths: None,
    }
}

/// Where a built-in resource is stored. Like upstream, core and most built-in groups omit the
/// group (`/registry/pods`), the versions of one resource share one place, and events.k8s.io
/// Events are the core ones (see `convert`).
fn builtin_storage(group: &str, plural: &str) -> String {
    match group {
        ""
        | "apps"
        | "batch"
        | "autoscaling"
        | "policy"
        | "coordination.k8s.io"
        | "storage.k8s.io"
        | "scheduling.k8s.io"
        | "events.k8s.io" => {
            format!("/registry/{plural}")
        }
        _ => format!("/registry/{group}/{plural}"),
    }
}

/// The built-in resources.
pub fn builtins() -> Vec<Resource> {
    BUILTINS
        .iter()
        .map(
            |&(group, version, kind, plural, namespaced, short, categories, subs)| Resource {
                group: group.to_owned(),
                version: version.to_owned(),
                kind: kind.to_owned(),
                plural: plural.to_owned(),
                singular: kind.to_lowercase(),
                namespaced,
                short_names: short.iter().map(|s| (*s).to_owned()).collect(),
                categories: categories.iter().map(|s| (*s).to_owned()).collect(),
                verbs: ALL_VERBS.iter().map(|s| (*s).to_owned()).collect(),
                subresources: subs
                    .iter()
                    .map(|s| builtin_subresource(group, version, kind, s))
                    .collect(),
                storage_prefix: builtin_storage(group, plural),
                custom: false,
                printer_columns: None,
                schema: None,
            },
        )
        .collect()
}

/// The resources of one API, for lookups by URL parts or by kind.
/// Resources are shared (`Arc`) because every request holds the one it addresses.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    resources: Vec<Arc<Resource>>,
    /// Counts changes, so that what is derived from the registry knows when to rebuild.
    generation: u64,
}

impl Registry {
    pub fn new(resources: Vec<Resource>) -> Self {
        Self {
            resources: resources.into_iter().map(Arc::new).collect(),
            generation: 0,
        }
    }

    pub fn with_builtins() -> Self {
        Self::new(builtins())
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn resources(&self) -> &[Arc<Resource>] {
        &self.resources
    }

    /// The resource served at `/apis/{group}/{version}/{plural}` (group "" for `/api/v1`).
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<Resource>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<&Arc<Resource>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    /// The groups in discovery order, each with its versions, preferred first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for r in &self.resources {
            match groups.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) if !versions.contains(&r.version) => {
                    versions.push(r.version.clone())
                }
                Some(_) => {}
                None => groups.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        groups
    }

    /// The resources of one group version, in discovery order.
    pub fn group_version(&self, group: &str, version: &str) -> Vec<&Resource> {
        self.resources
            .iter()
            .filter(|r| r.group == group && r.version == version)
            .map(|r| r.as_ref())
            .collect()
    }

    /// Adds or replaces a resource (custom resources come and go with their definitions).
    pub fn upsert(&mut self, resource: Resource) {
        self.remove(&resource.group, &resource.version, &resource.plural);
        self.resources.push(Arc::new(resource));
        self.generation += 1;
    }

    pub fn remove(&mut self, group: &str, version: &str, plural: &str) {
        self.resources
            .retain(|r| !(r.group == group && r.version == version && r.plural == plural));
        self.generation += 1;
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_complete_and_consistent() {
        let r = Registry::with_builtins();
        let deploy = r.get("apps", "v1", "deployments").unwrap();
        assert_eq!(deploy.kind, "Deployment");
        assert_eq!(deploy.short_names, ["deploy"]);
        assert_eq!(deploy.categories, ["all"]);
        assert_eq!(deploy.subresource("scale").unwrap().kind, "Scale");
        assert_eq!(
            deploy.key(Some("default"), "web"),
            "/registry/deployments/default/web"
        );
        let ns = r.get("", "v1", "namespaces").unwrap();
        assert!(!ns.namespaced);
        assert_eq!(
            ns.key(Some("ignored"), "kube-system"),
            "/registry/namespaces/kube-system"
        );
        assert_eq!(r.by_kind("", "v1", "Pod").unwrap().plural, "pods");
        let roles = r.get("rbac.authorization.k8s.io", "v1", "roles").unwrap();
        assert_eq!(
            roles.list_prefix(None),
            "/registry/rbac.authorization.k8s.io/roles/"
        );
        // Every group lists its preferred version first.
        let groups = r.groups();
        assert_eq!(groups[0].0, "");
        let autoscaling = groups.iter().find(|(g, _)| g == "autoscaling").unwrap();
        assert_eq!(autoscaling.1, ["v2", "v1"]);
        let all: Vec<&str> = r
            .resources()
            .iter()
            .filter(|r| r.categories.iter().any(|c| c == "all"))
            .map(|r| r.plural.as_str())
            .collect();
        assert_eq!(
            all,
            [
                "pods",
                "services",
                "replicationcontrollers",
                "deployments",
                "replicasets",
                "statefulsets",
                "daemonsets",
                "horizontalpodautoscalers",
                "jobs",
                "cronjobs"
            ]
        );
    }

    #[test]
    fn api_versions_split() {
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }
}
