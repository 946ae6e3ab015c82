//! Authorization: after authentication, whether the user may do what the request asks, as
//! upstream's authorizer chain `Node,RBAC` decides it (preceded by `system:masters`, which may
//! do everything).
//!
//! The request's attributes come from its method, path and query ([`request_info`]). The
//! [node authorizer](node) answers for kubelets; RBAC ([`barge_api::rbac::Policy`]) for
//! everyone. The policy is built from the Roles, ClusterRoles and their bindings in the watch
//! cache and built again whenever one of them changes: a task follows the cache's changes under
//! the RBAC storage prefix, and a write of an RBAC object through this server rebuilds it before
//! the write is answered, so that the next request sees it. The policy in force is an `Arc`
//! swapped under a lock held only for the swap.
//!
//! Impersonation (`kubectl --as`) is checked here too ([`impersonation`]).
//!
//! The same task keeps aggregated ClusterRoles (`admin`, `edit`, `view`, ...) holding the rules
//! of the roles their selectors pick, as upstream's clusterrole-aggregation controller does.

pub mod impersonation;
pub mod node;
pub mod request_info;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use barge_api::ApiError;
use barge_api::rbac::{
    Attributes, ClusterRole, ClusterRoleBinding, Decision, Policy, Role, RoleBinding, UserInfo,
};
use barge_store::{KeyValue, RangeRequest, Revision};
use serde_json::Value;

use crate::ApiServer;
use crate::authn::MASTERS_GROUP;
use crate::cache::Change;

/// Where all RBAC objects are stored (`roles/`, `clusterroles/`, `rolebindings/`,
/// `clusterrolebindings/` below it).
pub const RBAC_ROOT: &str = "/registry/rbac.authorization.k8s.io/";
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// One authorizer's answer in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow(String),
    /// Refused whatever later authorizers would say.
    Deny(String),
    /// Up to the next authorizer; the reason joins the final one if all pass.
    NoOpinion(String),
}

/// The RBAC policy in force, with the store revision it was built at.
#[derive(Debug, Default)]
pub struct Authorizer {
    current: RwLock<Arc<(Revision, Policy)>>,
}

impl Authorizer {
    /// The policy in force.
    pub fn policy(&self) -> Arc<(Revision, Policy)> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts a policy built at `revision` in force, unless a newer one already is.
    fn install(&self, revision: Revision, policy: Policy) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if revision >= current.0 {
            *current = Arc::new((revision, policy));
        }
    }
}

fn is_masters(user: &UserInfo) -> bool {
    user.groups.iter().any(|g| g == MASTERS_GROUP)
}

/// Decides a request by its attributes: `system:masters`, the node authorizer, RBAC.
pub async fn authorize(state: &ApiServer, attrs: &Attributes) -> Decision {
    if is_masters(&attrs.user) {
        return Decision::Allow(String::new());
    }
    let mut reasons = Vec::new();
    if let Some(node) = node::node_name(&attrs.user) {
        match node::authorize(state, node, attrs).await {
            Verdict::Allow(r) => return Decision::Allow(r),
            Verdict::Deny(r) => return Decision::Deny(r),
            Verdict::NoOpinion(r) if !r.is_empty() => reasons.push(r),
            Verdict::NoOpinion(_) => {}
        }
    }
    match state.authz.policy().1.authorize(attrs) {
        Decision::Allow(r) => Decision::Allow(r),
        Decision::Deny(r) => {
            if !r.is_empty() {
                reasons.push(r);
            }
            // Upstream's union authorizer joins the reasons with newlines.
            Decision::Deny(reasons.join("\n"))
        }
    }
}

/// Whether `user` may make this request; upstream's 403 if not.
pub async fn check(
    state: &ApiServer,
    user: &UserInfo,
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
) -> Result<(), ApiError> {
    // The common case (admin, in-process components) without building the attributes.
    if is_masters(user) {
        return Ok(());
    }
    let attrs = request_info::attributes(user.clone(), method, uri, headers);
    match authorize(state, &attrs).await {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(reason) => Err(barge_api::rbac::forbidden_error(&attrs, &reason)),
    }
}

/// The RBAC objects among key-values under [`RBAC_ROOT`], by kind.
#[derive(Debug, Default)]
struct Objects {
    roles: Vec<Role>,
    cluster_roles: Vec<(ClusterRole, Arc<KeyValue>)>,
    role_bindings: Vec<RoleBinding>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
}

impl Objects {
    fn parse(kvs: &[Arc<KeyValue>]) -> Self {
        fn decode<T: serde::de::DeserializeOwned>(kv: &KeyValue) -> Option<T> {
            match serde_json::from_slice(&kv.value) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "RBAC object left out of the policy");
                    None
                }
            }
        }
        let mut objects = Objects::default();
        for kv in kvs {
            let Some(rest) = kv.key.strip_prefix(RBAC_ROOT) else {
                continue;
            };
            match rest.split('/').next() {
                Some("roles") => objects.roles.extend(decode(kv)),
                Some("clusterroles") => objects
                    .cluster_roles
                    .extend(decode(kv).map(|r| (r, kv.clone()))),
                Some("rolebindings") => objects.role_bindings.extend(decode(kv)),
                Some("clusterrolebindings") => objects.cluster_role_bindings.extend(decode(kv)),
                _ => {}
            }
        }
        objects
    }

    fn policy(&self) -> Policy {
        let cluster_roles: Vec<ClusterRole> =
            self.cluster_roles.iter().map(|(r, _)| r.clone()).collect();
        Policy::new(
            &self.roles,
            &cluster_roles,
            &self.role_bindings,
            &self.cluster_role_bindings,
        )
    }
}

/// Builds the policy from the store (one consistent read) and puts it in force. Called at
/// start and after every RBAC write through this server.
pub async fn refresh(state: &ApiServer) -> Result<(), barge_store::Error> {
    let page = state.store.range(RangeRequest::prefix(RBAC_ROOT)).await?;
    let kvs: Vec<Arc<KeyValue>> = page.kvs.into_iter().map(Arc::new).collect();
    state
        .authz
        .install(page.revision, Objects::parse(&kvs).policy());
    Ok(())
}

/// Follows the RBAC objects in the watch cache for as long as the server runs: rebuilds the
/// policy after every change, and writes aggregated ClusterRoles whose rules are out of date.
pub async fn follow(state: Arc<ApiServer>) {
    loop {
        let (kvs, revision) = match state.cache.list(&state.store, RBAC_ROOT, RBAC_ROOT).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the RBAC objects; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let objects = Objects::parse(&kvs);
        state.authz.install(revision, objects.policy());
        aggregate(&state, &objects).await;
        let Some((replay, mut changes)) = state
            .cache
            .subscribe(&state.store, RBAC_ROOT, revision)
            .await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if !replay.is_empty() {
            continue;
        }
        loop {
            match changes.recv().await {
                Some(Change::Progress(_)) => {}
                Some(Change::Event(_) | Change::Reset) => break,
                None => return,
            }
        }
    }
}

/// Stores the aggregated rules of ClusterRoles with an `aggregationRule` where they differ from
/// what is stored (upstream's clusterrole-aggregation controller). A conflict is left to the
/// next round: the change that caused it brings one.
async fn aggregate(state: &ApiServer, objects: &Objects) {
    let roles: Vec<ClusterRole> = objects
        .cluster_roles
        .iter()
        .map(|(r, _)| r.clone())
        .collect();
    let aggregated = barge_api::rbac::aggregate(&roles);
    for ((stored, kv), want) in objects.cluster_roles.iter().zip(aggregated) {
        if stored.aggregation_rule.is_none() || stored.rules == want.rules {
            continue;
        }
        let Ok(mut obj) = serde_json::from_slice::<Value>(&kv.value) else {
            continue;
        };
        obj["rules"] = serde_json::to_value(&want.rules).unwrap_or(Value::Null);
        let bytes = bytes::Bytes::from(serde_json::to_vec(&obj).expect("JSON serialises"));
        match state
            .store
            .update(&kv.key, bytes, kv.mod_revision, None)
            .await
        {
            Ok(_)
            | Err(barge_store::Error::Conflict { .. } | barge_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(key = %kv.key, error = %e, "cannot store aggregated rules"),
        }
    }
}
