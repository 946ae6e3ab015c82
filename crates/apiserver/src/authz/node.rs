//! The node authorizer: what a kubelet (`system:node:<name>` in `system:nodes`) may do, as
//! upstream's Node authorizer (`plugin/pkg/auth/authorizer/node`) together with the parts of
//! its NodeRestriction admission plugin that the request's URL shows, simplified:
//!
//! - Secrets, ConfigMaps and PersistentVolumeClaims: `get` only of one that a pod bound to
//!   the node refers to ([`barge_api::rbac::pod_references`]; Secrets and ConfigMaps also
//!   list/watch by `metadata.name`); ServiceAccounts likewise, and `serviceaccounts/token`
//!   for them. Upstream walks a graph kept from informers; here the
//!   pods of the namespace are read from the watch cache (rare requests: a pod's start).
//! - Its own Node: create, update, patch, and `nodes/status`; another node's → denied.
//! - Leases in `kube-node-lease` named as the node.
//! - Pods: `pods/status` and delete only of pods bound to it, evictions likewise; creating pods
//!   (mirror pods) is refused.
//! - Reading pods, nodes (and their status), services, endpoints and endpoint slices (the
//!   kubelet, the node's DNS server and service proxy run under the node's identity).
//! - Anything else: upstream's `system:node` rules ([`barge_api::rbac::node_rules`]) allow it
//!   or the authorizer has no opinion, and RBAC decides.

use std::sync::LazyLock;

use barge_api::ApiError;
use barge_api::rbac::{Attributes, PolicyRule, UserInfo, pod_references, rules_allow};
use serde_json::Value;

use super::Verdict;
use crate::ApiServer;

pub const NODES_GROUP: &str = "system:nodes";
const NODE_USER_PREFIX: &str = "system:node:";
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

static NODE_RULES: LazyLock<Vec<PolicyRule>> = LazyLock::new(barge_api::rbac::node_rules);

/// The node a user is, if it is one.
pub fn node_name(user: &UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_USER_PREFIX)?;
    (!name.is_empty() && user.groups.iter().any(|g| g == NODES_GROUP)).then_some(name)
}

fn is_read(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

/// The node authorizer's verdict on a request of `node`.
pub async fn authorize(state: &ApiServer, node: &str, attrs: &Attributes) -> Verdict {
    if !attrs.resource_request {
        return node_rules(attrs);
    }
    let verb = attrs.verb.as_str();
    let sub = attrs.subresource.as_str();
    match (attrs.api_group.as_str(), attrs.resource.as_str()) {
        ("", "secrets" | "configmaps" | "persistentvolumeclaims") if sub.is_empty() => {
            read_referenced(state, node, attrs).await
        }
        ("", "serviceaccounts") => match (verb, sub) {
            ("create", "token") | ("get", "") => read_referenced(state, node, attrs).await,
            _ => Verdict::NoOpinion(
                "can only create tokens for individual service accounts".to_owned(),
            ),
        },
        ("", "nodes") => match (verb, sub) {
            (v, "" | "status") if is_read(v) => Verdict::Allow(String::new()),
            ("create", "") if attrs.name.is_empty() => Verdict::Allow(String::new()),
            ("create" | "update" | "patch", "" | "status") => {
                if attrs.name == node {
                    Verdict::Allow(String::new())
                } else {
                    Verdict::Deny(format!(
                        "node {} is not allowed to modify node {}",
                        quote(node),
                        quote(&attrs.name)
                    ))
                }
            }
            _ => node_rules(attrs),
        },
        ("coordination.k8s.io", "leases") => lease(node, attrs),
        ("", "pods") => pod(state, node, attrs).await,
        ("", "services" | "endpoints") | ("discovery.k8s.io", "endpointslices")
            if sub.is_empty() && is_read(verb) =>
        {
            Verdict::Allow(String::new())
        }
        _ => node_rules(attrs),
    }
}

/// The create half of upstream's NodeRestriction that the URL cannot show: a node may create
/// only its own Node and its own Lease in `kube-node-lease` (their names are in the body).
pub fn restrict_create(
    user: &UserInfo,
    target: &crate::router::Target,
    content_type: &str,
    body: &[u8],
) -> Result<(), ApiError> {
    let Some(node) = node_name(user) else {
        return Ok(());
    };
    let r = &target.resource;
    let is_node = r.group.is_empty() && r.plural == "nodes";
    let is_lease = r.group == "coordination.k8s.io" && r.plural == "leases";
    if !is_node && !is_lease {
        return Ok(());
    }
    let obj = if content_type == barge_api::protobuf::CONTENT_TYPE {
        barge_api::protobuf::decode(body).unwrap_or_default()
    } else {
        crate::request::decode_object(content_type, body).unwrap_or_default()
    };
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if name == node {
        return Ok(());
    }
    let why = if is_node {
        format!(
            "node {} is not allowed to modify node {}",
            quote(node),
            quote(name)
        )
    } else {
        "can only access node lease with the same name as the requesting node".to_owned()
    };
    Err(ApiError::forbidden(&r.group_resource(), name, &why))
}

/// Upstream's `system:node` rules, for what the node authorizer does not subdivide.
fn node_rules(attrs: &Attributes) -> Verdict {
    if rules_allow(attrs, &NODE_RULES) {
        Verdict::Allow(String::new())
    } else {
        Verdict::NoOpinion(String::new())
    }
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn no_relationship(node: &str) -> Verdict {
    Verdict::NoOpinion(format!(
        "no relationship found between node '{node}' and this object"
    ))
}

/// `get` of one object that a pod bound to the node refers to.
async fn read_referenced(state: &ApiServer, node: &str, attrs: &Attributes) -> Verdict {
    let token = attrs.resource == "serviceaccounts" && attrs.subresource == "token";
    // Secrets and ConfigMaps may also be listed or watched by name (a field selector on
    // metadata.name), as upstream's kubelet watches the ones its pods use.
    let by_name = matches!(attrs.resource.as_str(), "secrets" | "configmaps");
    let read = match attrs.verb.as_str() {
        "get" => true,
        "list" | "watch" => by_name,
        _ => false,
    };
    if !token && !read {
        return Verdict::NoOpinion("can only read resources of this type".to_owned());
    }
    if attrs.namespace.is_empty() {
        return Verdict::NoOpinion("can only read namespaced object of this type".to_owned());
    }
    if attrs.name.is_empty() {
        return Verdict::NoOpinion("No Object name found".to_owned());
    }
    let referenced = pods_on(state, node, &attrs.namespace)
        .await
        .iter()
        .any(|pod| {
            let refs = pod_references(pod);
            match attrs.resource.as_str() {
                "secrets" => refs.secrets.contains(&attrs.name),
                "configmaps" => refs.config_maps.contains(&attrs.name),
                "persistentvolumeclaims" => refs.persistent_volume_claims.contains(&attrs.name),
                "serviceaccounts" => {
                    refs.service_account.as_deref().unwrap_or("default") == attrs.name
                }
                _ => false,
            }
        });
    if referenced {
        Verdict::Allow(String::new())
    } else {
        no_relationship(node)
    }
}

fn lease(node: &str, attrs: &Attributes) -> Verdict {
    let verb = attrs.verb.as_str();
    if !matches!(verb, "get" | "create" | "update" | "patch" | "delete") {
        return Verdict::NoOpinion(
            "can only get, create, update, patch, or delete a node lease".to_owned(),
        );
    }
    if attrs.namespace != NODE_LEASE_NAMESPACE {
        return Verdict::NoOpinion(format!(
            "can only access leases in the {} system namespace",
            quote(NODE_LEASE_NAMESPACE)
        ));
    }
    // A create names the lease in its body only; the router checks it (node restriction).
    if verb != "create" && attrs.name != node {
        return Verdict::NoOpinion(
            "can only access node lease with the same name as the requesting node".to_owned(),
        );
    }
    Verdict::Allow(String::new())
}

async fn pod(state: &ApiServer, node: &str, attrs: &Attributes) -> Verdict {
    let verb = attrs.verb.as_str();
    match (verb, attrs.subresource.as_str()) {
        (v, "" | "status") if is_read(v) => Verdict::Allow(String::new()),
        ("create", "") => Verdict::Deny(format!(
            "pod does not have \"kubernetes.io/config.mirror\" annotation, node {} can only create mirror pods",
            quote(node)
        )),
        ("update" | "patch", "status") | ("delete", "") | ("create", "eviction") => {
            if bound_to(state, node, &attrs.namespace, &attrs.name).await {
                Verdict::Allow(String::new())
            } else {
                let what = match (verb, attrs.subresource.as_str()) {
                    (_, "status") => "update pod status",
                    (_, "eviction") => "evict pods",
                    _ => "delete pods",
                };
                Verdict::Deny(format!(
                    "node {} can only {what} for pods with spec.nodeName set to itself",
                    quote(node)
                ))
            }
        }
        _ => node_rules(attrs),
    }
}

/// The pods of `namespace` bound to `node`, from the watch cache.
async fn pods_on(state: &ApiServer, node: &str, namespace: &str) -> Vec<barge_api::rbac::Pod> {
    let Some(resource) = pods_resource(state) else {
        return Vec::new();
    };
    let root = resource.list_prefix(None);
    let Ok((kvs, _)) = state
        .cache
        .list(&state.store, &root, &resource.list_prefix(Some(namespace)))
        .await
    else {
        return Vec::new();
    };
    // Stored JSON is compact: a pod on another node cannot hold this text.
    let needle = format!("\"nodeName\":{}", Value::from(node));
    kvs.iter()
        .filter(|kv| contains(&kv.value, needle.as_bytes()))
        .filter_map(|kv| serde_json::from_slice::<barge_api::rbac::Pod>(&kv.value).ok())
        .filter(|pod| pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .collect()
}

async fn bound_to(state: &ApiServer, node: &str, namespace: &str, name: &str) -> bool {
    let Some(resource) = pods_resource(state) else {
        return false;
    };
    let key = resource.key(Some(namespace), name);
    let bound = |value: &[u8]| {
        serde_json::from_slice::<Value>(value)
            .is_ok_and(|pod| pod["spec"]["nodeName"].as_str() == Some(node))
    };
    if let Ok((Some(kv), _)) = state
        .cache
        .get(&state.store, &resource.list_prefix(None), &key)
        .await
        && bound(&kv.value)
    {
        return true;
    }
    // The cache may be behind a bind just made.
    match state.store.get(&key, None).await {
        Ok(r) => r.kv.is_some_and(|kv| bound(&kv.value)),
        Err(_) => false,
    }
}

fn pods_resource(state: &ApiServer) -> Option<std::sync::Arc<barge_api::Resource>> {
    let registry = state.registry.read().unwrap_or_else(|p| p.into_inner());
    registry.get("", "v1", "pods").cloned()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_node_users_in_the_nodes_group_are_nodes() {
        let user = |name: &str, groups: &[&str]| UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..UserInfo::default()
        };
        assert_eq!(
            node_name(&user("system:node:n1", &["system:nodes"])),
            Some("n1")
        );
        assert_eq!(node_name(&user("system:node:n1", &["other"])), None);
        assert_eq!(node_name(&user("system:node:", &["system:nodes"])), None);
        assert_eq!(node_name(&user("alice", &["system:nodes"])), None);
    }
}
