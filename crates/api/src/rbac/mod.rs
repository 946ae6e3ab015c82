//! Kubernetes authorization without I/O: upstream's RBAC authorizer
//! (`plugin/pkg/auth/authorizer/rbac`), its bootstrap policy (the default ClusterRoles, Roles
//! and bindings of `bootstrappolicy`), ClusterRole aggregation (what upstream's
//! clusterrole-aggregation controller writes), the 403 texts of upstream's API server, and the
//! pod references the node authorizer asks about.
//!
//! The API server builds a [`Policy`] from the RBAC objects it stores (again whenever one of
//! them changes) and asks [`Policy::authorize`] for every request. Bindings are indexed by
//! subject (user name, service account user name, group) and every binding's role is resolved
//! when the policy is built, so a question costs a few hash look-ups and a walk over the rules
//! of the bindings that name the user or one of its groups.
//!
//! Differences from upstream are deliberate and few:
//! - `system:masters` is allowed everything before any binding is looked at, as upstream's
//!   kube-apiserver does with its privileged-group authorizer in front of RBAC (the
//!   `cluster-admin` binding to `system:masters` is still among the defaults).
//! - Bindings are visited in the order they were given (upstream: informer cache order), so
//!   the binding named in an "allowed by" reason is deterministic.
//! - `system:kube-controller-manager` holds, besides upstream's rules, the rules of every
//!   `system:controller:*` role: Barge runs all controllers under that one identity where
//!   upstream gives each controller a service account (`--use-service-account-credentials`).

mod aggregate;
mod bootstrap;
mod controller_roles;
mod pod_refs;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

pub use k8s_openapi::api::core::v1::Pod;
pub use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};

pub use aggregate::aggregate;
pub use bootstrap::{
    bootstrap_cluster_role_bindings, bootstrap_cluster_roles, bootstrap_role_bindings,
    bootstrap_roles, node_rules,
};
pub use pod_refs::{PodReferences, pod_references};
pub use rules::{rule_allows, rules_allow};

use crate::status::{ApiError, GroupResource};

/// The group whose members may do everything (upstream's `user.SystemPrivilegedGroup`).
pub const SYSTEM_MASTERS: &str = "system:masters";
/// The group every authenticated user is in.
pub const SYSTEM_AUTHENTICATED: &str = "system:authenticated";
/// The group of requests without credentials (user `system:anonymous`).
pub const SYSTEM_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The prefix of a service account's user name: `system:serviceaccount:<namespace>:<name>`.
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// Who makes a request, as the authenticator found it (upstream's `user.Info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// What a request asks to do (upstream's `authorizer.Attributes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    /// For resource requests the API verb (`get list watch create update patch delete
    /// deletecollection`, or `proxy`, `impersonate`, `bind`, `escalate`, `approve`, ...); for
    /// non-resource requests the lowercased HTTP method (`get`, `post`, `put`, ...).
    pub verb: String,
    pub resource_request: bool,
    /// `""` for cluster-scoped resources and for non-resource requests.
    pub namespace: String,
    /// `""` for the core group.
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The request path, for non-resource requests.
    pub path: String,
}

/// The authorizer's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, with upstream's reason (`RBAC: allowed by ClusterRoleBinding "x" of ClusterRole
    /// "y" to User "z"`; `""` for `system:masters`).
    Allow(String),
    /// Not allowed. The reason is `""` when no rule applies (upstream's "no opinion"), or
    /// `RBAC: ...` naming the roles that applicable bindings refer to and that do not exist.
    Deny(String),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

/// The RBAC objects of a cluster, resolved and indexed for [`Policy::authorize`].
///
/// Build it again when a Role, ClusterRole, RoleBinding or ClusterRoleBinding changes; the
/// rules of each binding's role are resolved once, here.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    cluster: BindingIndex,
    namespaced: HashMap<String, BindingIndex>,
}

/// The bindings of one scope (all ClusterRoleBindings, or one namespace's RoleBindings) and
/// which of them name each user and group.
#[derive(Clone, Debug, Default)]
struct BindingIndex {
    bindings: Vec<Binding>,
    /// By user name, service accounts' included (`system:serviceaccount:<ns>:<name>`).
    by_user: HashMap<String, Vec<u32>>,
    by_group: HashMap<String, Vec<u32>>,
}

#[derive(Clone, Debug)]
struct Binding {
    /// `""` for a ClusterRoleBinding.
    namespace: String,
    name: String,
    role_kind: String,
    role_name: String,
    subjects: Vec<BoundSubject>,
    /// The role's rules, or upstream's error for a role that does not exist.
    rules: Result<Arc<[PolicyRule]>, String>,
}

#[derive(Clone, Debug)]
enum BoundSubject {
    User(String),
    Group(String),
    /// The service account's user name, and `name/namespace` as upstream describes it.
    ServiceAccount {
        user: String,
        described: String,
    },
    /// A kind upstream does not know, or a service account without a namespace in a
    /// ClusterRoleBinding: applies to nobody.
    Nobody,
}

impl BoundSubject {
    fn compile(subject: &Subject, binding_namespace: &str) -> Self {
        match subject.kind.as_str() {
            "User" => BoundSubject::User(subject.name.clone()),
            "Group" => BoundSubject::Group(subject.name.clone()),
            "ServiceAccount" => {
                // Upstream defaults the namespace to the binding's, so a RoleBinding may name
                // a service account of its own namespace without one.
                let ns = match subject.namespace.as_deref() {
                    Some(ns) if !ns.is_empty() => ns,
                    _ => binding_namespace,
                };
                if ns.is_empty() {
                    return BoundSubject::Nobody;
                }
                BoundSubject::ServiceAccount {
                    user: service_account_user(ns, &subject.name),
                    described: format!("{}/{ns}", subject.name),
                }
            }
            _ => BoundSubject::Nobody,
        }
    }

    fn applies_to(&self, user: &UserInfo) -> bool {
        match self {
            BoundSubject::User(name) => *name == user.name,
            BoundSubject::Group(group) => user.groups.iter().any(|g| g == group),
            BoundSubject::ServiceAccount { user: name, .. } => *name == user.name,
            BoundSubject::Nobody => false,
        }
    }

    /// Upstream's `describeSubject`: `User "alice"`, `ServiceAccount "robot/team"`.
    fn describe(&self) -> String {
        let q = crate::go::quote;
        match self {
            BoundSubject::User(name) => format!("User {}", q(name)),
            BoundSubject::Group(name) => format!("Group {}", q(name)),
            BoundSubject::ServiceAccount { described, .. } => {
                format!("ServiceAccount {}", q(described))
            }
            BoundSubject::Nobody => String::new(),
        }
    }
}

/// The user name a service account authenticates as: `system:serviceaccount:<ns>:<name>`.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
}

impl Binding {
    /// Upstream's binding describers, as they appear in an "allowed by" reason.
    fn describe(&self, subject: &BoundSubject) -> String {
        let q = crate::go::quote;
        if self.namespace.is_empty() {
            format!(
                "ClusterRoleBinding {} of {} {} to {}",
                q(&self.name),
                self.role_kind,
                q(&self.role_name),
                subject.describe()
            )
        } else {
            format!(
                "RoleBinding {} of {} {} to {}",
                q(&format!("{}/{}", self.name, self.namespace)),
                self.role_kind,
                q(&self.role_name),
                subject.describe()
            )
        }
    }

    fn first_subject_for(&self, user: &UserInfo) -> Option<&BoundSubject> {
        self.subjects.iter().find(|s| s.applies_to(user))
    }
}

impl BindingIndex {
    fn push(&mut self, binding: Binding) {
        let at = u32::try_from(self.bindings.len()).expect("fewer than 2^32 bindings");
        for subject in &binding.subjects {
            let list = match subject {
                BoundSubject::User(name) | BoundSubject::ServiceAccount { user: name, .. } => {
                    self.by_user.entry(name.clone()).or_default()
                }
                BoundSubject::Group(name) => self.by_group.entry(name.clone()).or_default(),
                BoundSubject::Nobody => continue,
            };
            if list.last() != Some(&at) {
                list.push(at);
            }
        }
        self.bindings.push(binding);
    }

    /// The bindings naming the user or one of its groups, in the order they were given.
    fn candidates(&self, user: &UserInfo) -> Vec<u32> {
        let mut found: Vec<u32> = Vec::new();
        if let Some(list) = self.by_user.get(user.name.as_str()) {
            found.extend_from_slice(list);
        }
        for group in &user.groups {
            if let Some(list) = self.by_group.get(group.as_str()) {
                found.extend_from_slice(list);
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Calls `visit` with each binding that applies to `user`, its first applicable subject
    /// (upstream's `appliesTo`), until `visit` breaks.
    fn visit<'a>(
        &'a self,
        user: &UserInfo,
        visit: &mut impl FnMut(&'a Binding, &'a BoundSubject) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        for at in self.candidates(user) {
            let binding = &self.bindings[at as usize];
            if let Some(subject) = binding.first_subject_for(user) {
                visit(binding, subject)?;
            }
        }
        ControlFlow::Continue(())
    }
}

impl Policy {
    /// Resolves and indexes the RBAC objects. ClusterRoles with an `aggregationRule` get the
    /// rules [`aggregate`] computes, whatever their stored `rules` say.
    pub fn new(
        roles: &[Role],
        cluster_roles: &[ClusterRole],
        role_bindings: &[RoleBinding],
        cluster_role_bindings: &[ClusterRoleBinding],
    ) -> Self {
        let mut cluster_rules: HashMap<&str, Arc<[PolicyRule]>> = HashMap::new();
        let aggregated = aggregate::aggregated_rules(cluster_roles);
        for (role, rules) in cluster_roles.iter().zip(aggregated) {
            let name = role.metadata.name.as_deref().unwrap_or_default();
            cluster_rules.entry(name).or_insert_with(|| rules.into());
        }
        let mut role_rules: HashMap<(&str, &str), Arc<[PolicyRule]>> = HashMap::new();
        for role in roles {
            let ns = role.metadata.namespace.as_deref().unwrap_or_default();
            let name = role.metadata.name.as_deref().unwrap_or_default();
            role_rules
                .entry((ns, name))
                .or_insert_with(|| role.rules.clone().unwrap_or_default().into());
        }

        // Upstream's GetRoleReferenceRules, with the lister's NotFound texts.
        let resolve = |role_ref: &RoleRef, namespace: &str| match role_ref.kind.as_str() {
            "Role" => role_rules
                .get(&(namespace, role_ref.name.as_str()))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "role.rbac.authorization.k8s.io {} not found",
                        crate::go::quote(&role_ref.name)
                    )
                }),
            "ClusterRole" => cluster_rules
                .get(role_ref.name.as_str())
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "clusterrole.rbac.authorization.k8s.io {} not found",
                        crate::go::quote(&role_ref.name)
                    )
                }),
            other => Err(format!(
                "unsupported role reference kind: {}",
                crate::go::quote(other)
            )),
        };

        let mut policy = Policy::default();
        for crb in cluster_role_bindings {
            policy.cluster.push(Binding {
                namespace: String::new(),
                name: crb.metadata.name.clone().unwrap_or_default(),
                role_kind: crb.role_ref.kind.clone(),
                role_name: crb.role_ref.name.clone(),
                subjects: crb
                    .subjects
                    .iter()
                    .flatten()
                    .map(|s| BoundSubject::compile(s, ""))
                    .collect(),
                rules: resolve(&crb.role_ref, ""),
            });
        }
        for rb in role_bindings {
            let ns = rb.metadata.namespace.clone().unwrap_or_default();
            if ns.is_empty() {
                continue;
            }
            let binding = Binding {
                name: rb.metadata.name.clone().unwrap_or_default(),
                role_kind: rb.role_ref.kind.clone(),
                role_name: rb.role_ref.name.clone(),
                subjects: rb
                    .subjects
                    .iter()
                    .flatten()
                    .map(|s| BoundSubject::compile(s, &ns))
                    .collect(),
                rules: resolve(&rb.role_ref, &ns),
                namespace: ns.clone(),
            };
            policy.namespaced.entry(ns).or_default().push(binding);
        }
        policy
    }

    /// Visits the bindings that apply to `user` in `namespace`: every ClusterRoleBinding, then
    /// the RoleBindings of the namespace (none for `""`), as upstream's `VisitRulesFor`.
    fn visit<'a>(
        &'a self,
        user: &UserInfo,
        namespace: &str,
        mut visit: impl FnMut(&'a Binding, &'a BoundSubject) -> ControlFlow<()>,
    ) {
        if self.cluster.visit(user, &mut visit).is_break() || namespace.is_empty() {
            return;
        }
        if let Some(index) = self.namespaced.get(namespace) {
            let _ = index.visit(user, &mut visit);
        }
    }

    /// Upstream's RBAC authorizer (preceded by its `system:masters` authorizer): allowed when a
    /// rule of a role bound to the user, one of its groups or its service account matches.
    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        if attrs.user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
            return Decision::Allow(String::new());
        }
        let mut allowed = None;
        let mut errors: Vec<&str> = Vec::new();
        self.visit(&attrs.user, &attrs.namespace, |binding, subject| {
            match &binding.rules {
                Ok(rules) => {
                    if rules_allow(attrs, rules) {
                        allowed = Some((binding, subject));
                        return ControlFlow::Break(());
                    }
                }
                Err(e) => {
                    if !errors.contains(&e.as_str()) {
                        errors.push(e);
                    }
                }
            }
            ControlFlow::Continue(())
        });
        if let Some((binding, subject)) = allowed {
            return Decision::Allow(format!("RBAC: allowed by {}", binding.describe(subject)));
        }
        // utilerrors.NewAggregate: one message as is, several (deduplicated) in brackets.
        Decision::Deny(match errors.as_slice() {
            [] => String::new(),
            [one] => format!("RBAC: {one}"),
            many => format!("RBAC: [{}]", many.join(", ")),
        })
    }

    /// The rules that apply to `user` in `namespace` (all of them for `""`: the cluster-wide
    /// ones), as upstream's SelfSubjectRulesReview gets them from RBAC: resource rules (verbs,
    /// apiGroups, resources, resourceNames) and non-resource rules (verbs, nonResourceURLs), in
    /// binding order, not deduplicated. Bindings to roles that do not exist add nothing.
    pub fn rules_for(
        &self,
        user: &UserInfo,
        namespace: &str,
    ) -> (Vec<PolicyRule>, Vec<PolicyRule>) {
        let mut resource_rules = Vec::new();
        let mut non_resource_rules = Vec::new();
        self.visit(user, namespace, |binding, _| {
            for rule in binding.rules.as_deref().unwrap_or_default() {
                if rule.resources.as_ref().is_some_and(|r| !r.is_empty()) {
                    resource_rules.push(PolicyRule {
                        verbs: rule.verbs.clone(),
                        api_groups: rule.api_groups.clone(),
                        resources: rule.resources.clone(),
                        resource_names: rule.resource_names.clone(),
                        non_resource_urls: None,
                    });
                }
                if rule
                    .non_resource_urls
                    .as_ref()
                    .is_some_and(|u| !u.is_empty())
                {
                    non_resource_rules.push(PolicyRule {
                        verbs: rule.verbs.clone(),
                        non_resource_urls: rule.non_resource_urls.clone(),
                        ..PolicyRule::default()
                    });
                }
            }
            ControlFlow::Continue(())
        });
        (resource_rules, non_resource_rules)
    }
}

/// The text of upstream's 403 (`responsewriters.Forbidden`): `User "x" cannot list resource
/// "pods" in API group "" in the namespace "default"`, `... at the cluster scope`, `User "x"
/// cannot get path "/logs"`, with `: <reason>` after it when the authorizer gave a reason.
///
/// This is what follows `pods is forbidden: ` in the Status message; [`forbidden_error`] makes
/// the whole Status.
pub fn forbidden_message(attrs: &Attributes, reason: &str) -> String {
    let q = crate::go::quote;
    let user = q(&attrs.user.name);
    let text = if !attrs.resource_request {
        format!("User {user} cannot {} path {}", attrs.verb, q(&attrs.path))
    } else {
        let resource = if attrs.subresource.is_empty() {
            q(&attrs.resource)
        } else {
            q(&format!("{}/{}", attrs.resource, attrs.subresource))
        };
        let group = q(&attrs.api_group);
        if attrs.namespace.is_empty() {
            format!(
                "User {user} cannot {} resource {resource} in API group {group} at the cluster scope",
                attrs.verb
            )
        } else {
            format!(
                "User {user} cannot {} resource {resource} in API group {group} in the namespace {}",
                attrs.verb,
                q(&attrs.namespace)
            )
        }
    };
    // Upstream escapes HTML in its part of the message (not in the reason).
    let text = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    if reason.is_empty() {
        text
    } else {
        format!("{text}: {reason}")
    }
}

/// Upstream's whole 403 answer for a denied request (`apierrors.NewForbidden`): `pods is
/// forbidden: User ...`, `pods "web" is forbidden: ...`, `deployments.apps is forbidden: ...`;
/// `forbidden: User "x" cannot get path "/logs"` for non-resource requests. The details carry
/// the group, the resource as `kind` and the name, each only when not empty, as upstream's.
pub fn forbidden_error(attrs: &Attributes, reason: &str) -> ApiError {
    let why = forbidden_message(attrs, reason);
    let mut details = serde_json::Map::new();
    let message = if !attrs.resource_request {
        format!("forbidden: {why}")
    } else {
        let gr = GroupResource::new(attrs.api_group.clone(), attrs.resource.clone());
        if !attrs.name.is_empty() {
            details.insert("name".into(), attrs.name.clone().into());
        }
        if !attrs.api_group.is_empty() {
            details.insert("group".into(), attrs.api_group.clone().into());
        }
        details.insert("kind".into(), attrs.resource.clone().into());
        if attrs.name.is_empty() {
            format!("{gr} is forbidden: {why}")
        } else {
            format!("{gr} {} is forbidden: {why}", crate::go::quote(&attrs.name))
        }
    };
    ApiError {
        code: 403,
        reason: "Forbidden",
        message,
        details: Some(serde_json::Value::Object(details)),
    }
}
