//! The server's resources (aggregated discovery: `/api` and `/apis`, two requests) and how a
//! command-line word names one, as kubectl's REST mapper does: plural, singular, short name or
//! kind, case-insensitive, optionally qualified by group (`deployments.apps`) or version and
//! group (`deployments.v1.apps`); the preferred version of the group wins. Categories (`all`)
//! expand to their members.

use kube::api::ApiResource;
use serde_json::Value;

use crate::error::{Error, Result};

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// One resource of one group version, as discovery describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    /// Whether its version is the group's preferred one (listed first).
    pub preferred: bool,
}

impl Resource {
    pub fn api_resource(&self) -> ApiResource {
        let api_version = if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version,
            kind: self.kind.clone(),
            plural: self.plural.clone(),
        }
    }

    /// `deployments.apps`, or `pods` for the core group: how kubectl names the resource in
    /// messages (`deployment.apps/web`).
    pub fn qualified_singular(&self) -> String {
        let singular = if self.singular.is_empty() {
            self.kind.to_lowercase()
        } else {
            self.singular.clone()
        };
        if self.group.is_empty() {
            singular
        } else {
            format!("{singular}.{}", self.group)
        }
    }

    /// `pods`, `deployments.apps`: the group-qualified plural.
    /// `v1`, `apps/v1`: the `apiVersion` of this resource's objects.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// Everything the server serves.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    pub resources: Vec<Resource>,
}

impl Discovery {
    pub async fn run(client: &kube::Client) -> Result<Self> {
        let mut resources = Vec::new();
        for path in ["/api", "/apis"] {
            let req = http::Request::get(path)
                .header(http::header::ACCEPT, AGGREGATED)
                .body(Vec::new())
                .map_err(|e| Error::client(e.to_string()))?;
            let doc: Value = client.request(req).await?;
            resources.extend(parse(&doc));
        }
        Ok(Self { resources })
    }

    /// The resource a word names (`po`, `deployments.apps`, `Deployment`), preferring the
    /// group's preferred version.
    pub fn resolve(&self, word: &str) -> Result<&Resource> {
        let lower = word.to_lowercase();
        let candidates: Vec<&Resource> = self
            .resources
            .iter()
            .filter(|r| !r.plural.contains('/'))
            .filter(|r| names(r, &lower))
            .collect();
        candidates
            .iter()
            .find(|r| r.preferred)
            .or_else(|| candidates.first())
            .copied()
            .ok_or_else(|| {
                Error::client(format!(
                    "the server doesn't have a resource type \"{word}\""
                ))
            })
    }

    /// The preferred resources in a category (`all`), in discovery order.
    pub fn category(&self, category: &str) -> Vec<&Resource> {
        self.resources
            .iter()
            .filter(|r| r.preferred && r.categories.iter().any(|c| c == category))
            .collect()
    }
}

/// Whether `word` (lower case) names `r`: its plural, singular, a short name or its kind,
/// bare or followed by `.group` or `.version.group`.
fn names(r: &Resource, word: &str) -> bool {
    let (name, qualifier) = match word.split_once('.') {
        Some((n, q)) => (n, Some(q)),
        None => (word, None),
    };
    let name_matches = name == r.plural
        || name == r.singular
        || name == r.kind.to_lowercase()
        || r.short_names.iter().any(|s| s == name);
    let qualifier_matches = match qualifier {
        None => true,
        Some(q) => {
            q == r.group
                || q == format!("{}.{}", r.version, r.group)
                || (r.group.is_empty() && q == r.version)
        }
    };
    name_matches && qualifier_matches
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// The resources of an `APIGroupDiscoveryList`.
fn parse(doc: &Value) -> Vec<Resource> {
    let mut out = Vec::new();
    for group in doc["items"].as_array().into_iter().flatten() {
        let name = group["metadata"]["name"].as_str().unwrap_or_default();
        for (i, version) in group["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let v = version["version"].as_str().unwrap_or_default();
            for r in version["resources"].as_array().into_iter().flatten() {
                let plural = r["resource"].as_str().unwrap_or_default().to_owned();
                let kind = r["responseKind"]["kind"].as_str().unwrap_or_default();
                out.push(Resource {
                    group: name.to_owned(),
                    version: v.to_owned(),
                    kind: kind.to_owned(),
                    singular: r["singularResource"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map_or_else(|| kind.to_lowercase(), str::to_owned),
                    plural,
                    namespaced: r["scope"] == "Namespaced",
                    short_names: strings(&r["shortNames"]),
                    categories: strings(&r["categories"]),
                    verbs: strings(&r["verbs"]),
                    preferred: i == 0,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn discovery() -> Discovery {
        let core = json!({"items": [{"metadata": {}, "versions": [{"version": "v1", "resources": [
            {"resource": "pods", "responseKind": {"kind": "Pod"}, "scope": "Namespaced",
             "singularResource": "pod", "shortNames": ["po"], "categories": ["all"],
             "verbs": ["get", "list"]},
            {"resource": "nodes", "responseKind": {"kind": "Node"}, "scope": "Cluster",
             "singularResource": "node", "shortNames": ["no"], "verbs": ["get"]}]}]}]});
        let apis = json!({"items": [
            {"metadata": {"name": "apps"}, "versions": [{"version": "v1", "resources": [
                {"resource": "deployments", "responseKind": {"kind": "Deployment"},
                 "scope": "Namespaced", "singularResource": "deployment",
                 "shortNames": ["deploy"], "categories": ["all"], "verbs": ["get"]}]}]},
            {"metadata": {"name": "autoscaling"}, "versions": [
                {"version": "v2", "resources": [{"resource": "horizontalpodautoscalers",
                    "responseKind": {"kind": "HorizontalPodAutoscaler"}, "scope": "Namespaced",
                    "singularResource": "horizontalpodautoscaler", "shortNames": ["hpa"]}]},
                {"version": "v1", "resources": [{"resource": "horizontalpodautoscalers",
                    "responseKind": {"kind": "HorizontalPodAutoscaler"}, "scope": "Namespaced",
                    "singularResource": "horizontalpodautoscaler", "shortNames": ["hpa"]}]}]}]});
        let mut resources = parse(&core);
        resources.extend(parse(&apis));
        Discovery { resources }
    }

    #[test]
    fn words_name_resources_as_kubectl_maps_them() {
        let d = discovery();
        for word in ["pods", "pod", "po", "Pod", "pods.v1", "PODS"] {
            assert_eq!(d.resolve(word).unwrap().plural, "pods", "{word}");
        }
        for word in [
            "deploy",
            "deployments.apps",
            "deployment.v1.apps",
            "Deployment",
        ] {
            assert_eq!(d.resolve(word).unwrap().group, "apps", "{word}");
        }
        assert_eq!(
            d.resolve("hpa").unwrap().version,
            "v2",
            "the preferred version"
        );
        assert_eq!(
            d.resolve("horizontalpodautoscalers.v1.autoscaling")
                .unwrap()
                .version,
            "v1"
        );
        assert!(!d.resolve("no").unwrap().namespaced);
        assert_eq!(
            d.resolve("widgets").unwrap_err().to_string(),
            "error: the server doesn't have a resource type \"widgets\""
        );
        assert!(d.resolve("deployments.batch").is_err());
        let all: Vec<&str> = d
            .category("all")
            .iter()
            .map(|r| r.plural.as_str())
            .collect();
        assert_eq!(all, ["pods", "deployments"]);
        assert_eq!(
            d.resolve("deploy").unwrap().qualified_singular(),
            "deployment.apps"
        );
    }
}
