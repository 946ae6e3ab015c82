use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    CSIVolumeSource, ConfigMapEnvSource, ConfigMapKeySelector, ConfigMapProjection,
    ConfigMapVolumeSource, Container, EnvFromSource, EnvVar, EnvVarSource, EphemeralContainer,
    EphemeralVolumeSource, LocalObjectReference, PersistentVolumeClaimVolumeSource, PodSpec,
    ProjectedVolumeSource, SecretEnvSource, SecretKeySelector, SecretProjection,
    SecretVolumeSource, Volume, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};

use super::bootstrap::{
    cluster_binding, cluster_role, group, named, rule, service_account, urls, user,
};
use super::*;

fn person(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.to_owned(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..UserInfo::default()
    }
}

fn authenticated(name: &str) -> UserInfo {
    person(name, &[SYSTEM_AUTHENTICATED])
}

fn anonymous() -> UserInfo {
    person("system:anonymous", &[SYSTEM_UNAUTHENTICATED])
}

/// A resource request: `resource` may be `pods/log`.
fn req(
    user: &UserInfo,
    verb: &str,
    ns: &str,
    group: &str,
    resource: &str,
    name: &str,
) -> Attributes {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    Attributes {
        user: user.clone(),
        verb: verb.to_owned(),
        resource_request: true,
        namespace: ns.to_owned(),
        api_group: group.to_owned(),
        resource: resource.to_owned(),
        subresource: subresource.to_owned(),
        name: name.to_owned(),
        path: String::new(),
    }
}

fn path(user: &UserInfo, verb: &str, path: &str) -> Attributes {
    Attributes {
        user: user.clone(),
        verb: verb.to_owned(),
        path: path.to_owned(),
        ..Attributes::default()
    }
}

fn defaults() -> Policy {
    Policy::new(
        &bootstrap_roles(),
        &bootstrap_cluster_roles(),
        &bootstrap_role_bindings(),
        &bootstrap_cluster_role_bindings(),
    )
}

fn role_in(ns: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            ..ObjectMeta::default()
        },
        rules: Some(rules),
    }
}

fn binding_in(ns: &str, name: &str, kind: &str, role: &str, subjects: Vec<Subject>) -> RoleBinding {
    RoleBinding {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: kind.to_owned(),
            name: role.to_owned(),
        },
        subjects: Some(subjects),
    }
}

fn sa_subject(ns: Option<&str>, name: &str) -> Subject {
    Subject {
        kind: "ServiceAccount".to_owned(),
        name: name.to_owned(),
        namespace: ns.map(str::to_owned),
        api_group: None,
    }
}

fn allowed(p: &Policy, a: &Attributes) -> bool {
    p.authorize(a).is_allowed()
}

// ---- rule matching ----

#[test]
fn verbs_groups_and_resources_match_exactly_or_by_star() {
    let u = authenticated("u");
    let r = rule(&["get", "list"], &["apps"], &["deployments"]);
    assert!(rule_allows(
        &req(&u, "get", "ns", "apps", "deployments", "d"),
        &r
    ));
    assert!(!rule_allows(
        &req(&u, "delete", "ns", "apps", "deployments", "d"),
        &r
    ));
    assert!(!rule_allows(
        &req(&u, "get", "ns", "extensions", "deployments", "d"),
        &r
    ));
    assert!(!rule_allows(
        &req(&u, "get", "ns", "apps", "replicasets", "d"),
        &r
    ));
    // A rule for the resource does not cover its subresources.
    assert!(!rule_allows(
        &req(&u, "get", "ns", "apps", "deployments/scale", "d"),
        &r
    ));

    let all = rule(&["*"], &["*"], &["*"]);
    assert!(rule_allows(
        &req(
            &u,
            "escalate",
            "",
            "rbac.authorization.k8s.io",
            "clusterroles",
            ""
        ),
        &all
    ));
    assert!(rule_allows(
        &req(&u, "get", "ns", "", "pods/log", "p"),
        &all
    ));
    // Resource rules never match non-resource requests, nor the other way round.
    assert!(!rule_allows(&path(&u, "get", "/healthz"), &all));
    assert!(!rule_allows(
        &req(&u, "get", "", "", "pods", ""),
        &urls(&["*"], &["*"])
    ));
}

#[test]
fn subresource_forms() {
    let u = authenticated("u");
    let log = rule(&["get"], &[""], &["pods/log"]);
    assert!(rule_allows(
        &req(&u, "get", "ns", "", "pods/log", "p"),
        &log
    ));
    assert!(!rule_allows(&req(&u, "get", "ns", "", "pods", "p"), &log));
    assert!(!rule_allows(
        &req(&u, "get", "ns", "", "pods/exec", "p"),
        &log
    ));
    assert!(!rule_allows(
        &req(&u, "get", "ns", "", "nodes/log", "p"),
        &log
    ));

    let any_scale = rule(&["get"], &["*"], &["*/scale"]);
    assert!(rule_allows(
        &req(&u, "get", "ns", "apps", "deployments/scale", "d"),
        &any_scale
    ));
    assert!(rule_allows(
        &req(&u, "get", "ns", "", "replicationcontrollers/scale", "r"),
        &any_scale
    ));
    assert!(!rule_allows(
        &req(&u, "get", "ns", "apps", "deployments", "d"),
        &any_scale
    ));
    assert!(!rule_allows(
        &req(&u, "get", "ns", "apps", "deployments/status", "d"),
        &any_scale
    ));

    // As upstream, `resource/*` is no wildcard: only a subresource literally named `*`.
    let pods_star = rule(&["get"], &[""], &["pods/*"]);
    assert!(!rule_allows(
        &req(&u, "get", "ns", "", "pods/log", "p"),
        &pods_star
    ));
    assert!(!rule_allows(
        &req(&u, "get", "ns", "", "pods", "p"),
        &pods_star
    ));
    assert!(rule_allows(
        &req(&u, "get", "ns", "", "pods/*", "p"),
        &pods_star
    ));
}

#[test]
fn resource_names_limit_the_rule() {
    let u = authenticated("u");
    let r = named(&["get", "update"], &[""], &["configmaps"], &["a", "b"]);
    assert!(rule_allows(
        &req(&u, "get", "ns", "", "configmaps", "a"),
        &r
    ));
    assert!(rule_allows(
        &req(&u, "update", "ns", "", "configmaps", "b"),
        &r
    ));
    assert!(!rule_allows(
        &req(&u, "get", "ns", "", "configmaps", "c"),
        &r
    ));
    // A list has no name, so a named rule does not allow it.
    assert!(!rule_allows(
        &req(&u, "get", "ns", "", "configmaps", ""),
        &r
    ));
    let unnamed = rule(&["get"], &[""], &["configmaps"]);
    assert!(rule_allows(
        &req(&u, "get", "ns", "", "configmaps", "anything"),
        &unnamed
    ));
}

#[test]
fn non_resource_urls_exact_or_prefix() {
    let u = authenticated("u");
    let r = urls(&["get"], &["/healthz", "/api/*", "/logs*"]);
    assert!(rule_allows(&path(&u, "get", "/healthz"), &r));
    assert!(!rule_allows(&path(&u, "get", "/healthz/etcd"), &r));
    assert!(!rule_allows(&path(&u, "post", "/healthz"), &r));
    assert!(rule_allows(&path(&u, "get", "/api/v1"), &r));
    assert!(rule_allows(&path(&u, "get", "/api/"), &r));
    assert!(!rule_allows(&path(&u, "get", "/api"), &r));
    assert!(rule_allows(&path(&u, "get", "/logs"), &r));
    assert!(rule_allows(&path(&u, "get", "/logsfoo/bar"), &r));
    let all = urls(&["*"], &["*"]);
    assert!(rule_allows(&path(&u, "delete", "/anything/at/all"), &all));
}

// ---- bindings ----

#[test]
fn role_binding_to_cluster_role_applies_in_its_namespace_only() {
    let alice = authenticated("alice");
    let p = Policy::new(
        &[],
        &bootstrap_cluster_roles(),
        &[binding_in(
            "team",
            "alice-view",
            "ClusterRole",
            "view",
            vec![user("alice")],
        )],
        &[],
    );
    assert!(allowed(&p, &req(&alice, "list", "team", "", "pods", "")));
    assert!(!allowed(&p, &req(&alice, "list", "other", "", "pods", "")));
    // Not at the cluster scope, nor for cluster-scoped resources.
    assert!(!allowed(&p, &req(&alice, "list", "", "", "pods", "")));
    assert!(!allowed(&p, &req(&alice, "list", "", "", "nodes", "")));
    assert_eq!(
        p.authorize(&req(&alice, "get", "team", "", "pods", "web")),
        Decision::Allow(
            r#"RBAC: allowed by RoleBinding "alice-view/team" of ClusterRole "view" to User "alice""#
                .to_owned()
        )
    );
    // Somebody else gets nothing, and no reason.
    assert_eq!(
        p.authorize(&req(&authenticated("bob"), "list", "team", "", "pods", "")),
        Decision::Deny(String::new())
    );
}

#[test]
fn role_binding_to_role_uses_the_role_of_its_namespace() {
    let bob = authenticated("bob");
    let p = Policy::new(
        &[
            role_in("a", "reader", vec![rule(&["get"], &[""], &["secrets"])]),
            role_in("b", "reader", vec![rule(&["get"], &[""], &["configmaps"])]),
        ],
        &[],
        &[
            binding_in("a", "bob", "Role", "reader", vec![user("bob")]),
            binding_in("b", "bob", "Role", "reader", vec![user("bob")]),
        ],
        &[],
    );
    assert!(allowed(&p, &req(&bob, "get", "a", "", "secrets", "s")));
    assert!(!allowed(&p, &req(&bob, "get", "a", "", "configmaps", "c")));
    assert!(allowed(&p, &req(&bob, "get", "b", "", "configmaps", "c")));
    assert!(!allowed(&p, &req(&bob, "get", "b", "", "secrets", "s")));
}

#[test]
fn cluster_role_binding_applies_everywhere() {
    let carol = person("carol", &["ops"]);
    let p = Policy::new(
        &[],
        &[cluster_role(
            "reader",
            vec![rule(&["get", "list"], &[""], &["pods", "nodes"])],
        )],
        &[],
        &[cluster_binding("reader", vec![group("ops")])],
    );
    assert!(allowed(&p, &req(&carol, "list", "any", "", "pods", "")));
    assert!(allowed(&p, &req(&carol, "list", "", "", "pods", "")));
    assert!(allowed(&p, &req(&carol, "get", "", "", "nodes", "n1")));
    assert_eq!(
        p.authorize(&req(&carol, "get", "", "", "nodes", "n1")),
        Decision::Allow(
            r#"RBAC: allowed by ClusterRoleBinding "reader" of ClusterRole "reader" to Group "ops""#
                .to_owned()
        )
    );
    assert!(!allowed(
        &p,
        &req(&person("dave", &["dev"]), "list", "any", "", "pods", "")
    ));
}

#[test]
fn service_account_subjects() {
    let robot = authenticated("system:serviceaccount:team:robot");
    let other = authenticated("system:serviceaccount:other:robot");
    let p = Policy::new(
        &[],
        &bootstrap_cluster_roles(),
        &[
            // No namespace: the binding's.
            binding_in(
                "team",
                "local",
                "ClusterRole",
                "view",
                vec![sa_subject(None, "robot")],
            ),
            // Another namespace's account, named in full.
            binding_in(
                "shared",
                "cross",
                "ClusterRole",
                "edit",
                vec![sa_subject(Some("team"), "robot")],
            ),
        ],
        &[
            // Without a namespace in a ClusterRoleBinding it applies to nobody.
            cluster_binding("admin", vec![sa_subject(None, "robot")]),
            ClusterRoleBinding {
                metadata: ObjectMeta {
                    name: Some("robots-read-nodes".to_owned()),
                    ..ObjectMeta::default()
                },
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".to_owned(),
                    kind: "ClusterRole".to_owned(),
                    name: "system:node-proxier".to_owned(),
                },
                subjects: Some(vec![service_account("team", "robot")]),
            },
        ],
    );
    assert!(allowed(&p, &req(&robot, "list", "team", "", "pods", "")));
    assert!(!allowed(&p, &req(&robot, "create", "team", "", "pods", "")));
    assert!(allowed(
        &p,
        &req(&robot, "create", "shared", "", "pods", "")
    ));
    assert_eq!(
        p.authorize(&req(&robot, "create", "shared", "", "pods", "")),
        Decision::Allow(
            r#"RBAC: allowed by RoleBinding "cross/shared" of ClusterRole "edit" to ServiceAccount "robot/team""#
                .to_owned()
        )
    );
    assert!(allowed(&p, &req(&robot, "list", "", "", "nodes", "")));
    assert!(!allowed(
        &p,
        &req(
            &robot,
            "create",
            "",
            "rbac.authorization.k8s.io",
            "roles",
            ""
        )
    ));
    assert!(!allowed(&p, &req(&other, "list", "team", "", "pods", "")));
    assert!(!allowed(&p, &req(&other, "list", "", "", "nodes", "")));
    // A user merely named like the account's short name is not the account.
    assert!(!allowed(
        &p,
        &req(&authenticated("robot"), "list", "team", "", "pods", "")
    ));
}

#[test]
fn the_first_applicable_subject_is_named() {
    let p = Policy::new(
        &[],
        &[cluster_role("r", vec![rule(&["get"], &[""], &["pods"])])],
        &[],
        &[cluster_binding(
            "r",
            vec![user("nobody"), group("g1"), user("erin"), group("g2")],
        )],
    );
    let erin = person("erin", &["g2", "g1"]);
    assert_eq!(
        p.authorize(&req(&erin, "get", "x", "", "pods", "p")),
        Decision::Allow(
            r#"RBAC: allowed by ClusterRoleBinding "r" of ClusterRole "r" to Group "g1""#
                .to_owned()
        )
    );
}

#[test]
fn missing_roles_are_the_reason_of_a_denial() {
    let frank = authenticated("frank");
    let p = Policy::new(
        &[],
        &[],
        &[
            binding_in("ns", "a", "Role", "gone", vec![user("frank")]),
            binding_in("ns", "b", "ClusterRole", "absent", vec![user("frank")]),
            binding_in(
                "ns",
                "c",
                "ClusterRole",
                "absent",
                vec![group(SYSTEM_AUTHENTICATED)],
            ),
        ],
        &[cluster_binding("missing", vec![user("frank")])],
    );
    assert_eq!(
        p.authorize(&req(&frank, "get", "", "", "nodes", "")),
        Decision::Deny(
            r#"RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found"#.to_owned()
        )
    );
    assert_eq!(
        p.authorize(&req(&frank, "get", "ns", "", "pods", "")),
        Decision::Deny(
            r#"RBAC: [clusterrole.rbac.authorization.k8s.io "missing" not found, role.rbac.authorization.k8s.io "gone" not found, clusterrole.rbac.authorization.k8s.io "absent" not found]"#
                .to_owned()
        )
    );
    // Bindings that do not apply to the user are no reason.
    assert_eq!(
        p.authorize(&req(&person("gina", &[]), "get", "ns", "", "pods", "")),
        Decision::Deny(String::new())
    );
}

#[test]
fn system_masters_may_do_anything() {
    let root = person("kubernetes-admin", &[SYSTEM_MASTERS, SYSTEM_AUTHENTICATED]);
    let empty = Policy::default();
    assert_eq!(
        empty.authorize(&req(&root, "delete", "kube-system", "", "secrets", "x")),
        Decision::Allow(String::new())
    );
    assert!(allowed(&empty, &path(&root, "get", "/metrics")));
    // And the default binding says so too.
    let p = defaults();
    let (rules, non_resource) = p.rules_for(&root, "default");
    assert!(rules.contains(&rule(&["*"], &["*"], &["*"])));
    assert!(non_resource.contains(&urls(&["*"], &["*"])));
    let binding = bootstrap_cluster_role_bindings()
        .into_iter()
        .find(|b| b.metadata.name.as_deref() == Some("cluster-admin"))
        .unwrap();
    assert_eq!(binding.subjects.unwrap(), vec![group("system:masters")]);
}

// ---- aggregation ----

fn labelled_role(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
    let mut role = cluster_role(name, rules);
    role.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    role
}

fn rules_of<'a>(roles: &'a [ClusterRole], name: &str) -> &'a [PolicyRule] {
    roles
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(name))
        .and_then(|r| r.rules.as_deref())
        .unwrap_or_default()
}

#[test]
fn aggregation_collects_matching_roles_transitively() {
    let widgets = rule(&["get", "list", "watch"], &["example.com"], &["widgets"]);
    let mut roles = bootstrap_cluster_roles();
    roles.push(labelled_role(
        "widgets-view",
        &[("rbac.authorization.k8s.io/aggregate-to-view", "true")],
        vec![widgets.clone()],
    ));
    let out = aggregate(&roles);
    for name in ["view", "edit", "admin"] {
        assert!(rules_of(&out, name).contains(&widgets), "{name}");
    }
    assert!(!rules_of(&out, "system:aggregate-to-view").contains(&widgets));
    // view = system:aggregate-to-view, system:aggregated-metrics-reader, then widgets-view
    // (name order), nothing twice.
    let view = rules_of(&out, "view");
    let base = rules_of(&roles, "system:aggregate-to-view");
    let metrics = rules_of(&roles, "system:aggregated-metrics-reader");
    assert_eq!(&view[..base.len()], base);
    assert_eq!(&view[base.len()..base.len() + metrics.len()], metrics);
    assert_eq!(view.len(), base.len() + metrics.len() + 1);
    // admin = edit's rules (which hold view's), then system:aggregate-to-admin's.
    let admin = rules_of(&out, "admin");
    let edit = rules_of(&out, "edit");
    assert_eq!(&admin[..edit.len()], edit);
    assert!(admin.contains(&rule(
        &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ],
        &["rbac.authorization.k8s.io"],
        &["rolebindings", "roles"]
    )));
    // Idempotent, and what the roles held before does not matter.
    assert_eq!(aggregate(&out), out);

    // The Policy computes the same without being given the aggregated objects.
    let u = authenticated("u");
    let p = Policy::new(
        &[],
        &roles,
        &[binding_in(
            "ns",
            "b",
            "ClusterRole",
            "admin",
            vec![user("u")],
        )],
        &[],
    );
    assert!(allowed(
        &p,
        &req(&u, "list", "ns", "example.com", "widgets", "")
    ));
    assert!(allowed(
        &p,
        &req(
            &u,
            "create",
            "ns",
            "rbac.authorization.k8s.io",
            "rolebindings",
            ""
        )
    ));
}

#[test]
fn aggregation_selectors_and_stale_rules() {
    let a = rule(&["get"], &["a.example"], &["as"]);
    let b = rule(&["get"], &["b.example"], &["bs"]);
    let stale = rule(&["*"], &["*"], &["*"]);
    let mut agg = cluster_role("agg", vec![stale.clone()]);
    agg.aggregation_rule = Some(AggregationRule {
        cluster_role_selectors: Some(vec![
            LabelSelector {
                match_labels: Some(BTreeMap::from([("tier".to_owned(), "one".to_owned())])),
                match_expressions: None,
            },
            LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "tier".to_owned(),
                    operator: "In".to_owned(),
                    values: Some(vec!["two".to_owned()]),
                }]),
            },
        ]),
    });
    let roles = vec![
        agg,
        labelled_role("z-two", &[("tier", "two")], vec![b.clone(), a.clone()]),
        labelled_role("a-one", &[("tier", "one")], vec![a.clone()]),
        labelled_role("m-three", &[("tier", "three")], vec![stale.clone()]),
    ];
    let out = aggregate(&roles);
    assert_eq!(rules_of(&out, "agg"), &[a.clone(), b.clone()]);

    // The stored rules of an aggregated role are not used.
    let u = authenticated("u");
    let p = Policy::new(&[], &roles, &[], &[cluster_binding("agg", vec![user("u")])]);
    assert!(allowed(&p, &req(&u, "get", "", "b.example", "bs", "x")));
    assert!(!allowed(&p, &req(&u, "delete", "", "b.example", "bs", "x")));
}

// ---- the default policy ----

#[test]
fn view_edit_admin_answer_typical_questions() {
    let u = authenticated("u");
    let policy = |role: &str| {
        Policy::new(
            &[],
            &bootstrap_cluster_roles(),
            &[binding_in("dev", "b", "ClusterRole", role, vec![user("u")])],
            &[],
        )
    };
    let view = policy("view");
    assert!(allowed(&view, &req(&u, "list", "dev", "", "pods", "")));
    assert!(
        allowed(&view, &req(&u, "list", "dev", "metrics.k8s.io", "pods", "")),
        "kubectl top, through system:aggregated-metrics-reader"
    );
    assert!(allowed(
        &view,
        &req(&u, "watch", "dev", "apps", "deployments", "")
    ));
    assert!(allowed(
        &view,
        &req(&u, "get", "dev", "", "pods/log", "web")
    ));
    assert!(allowed(
        &view,
        &req(&u, "get", "dev", "", "namespaces", "dev")
    ));
    assert!(!allowed(
        &view,
        &req(&u, "get", "dev", "", "secrets", "token")
    ));
    assert!(!allowed(&view, &req(&u, "list", "dev", "", "secrets", "")));
    assert!(!allowed(&view, &req(&u, "create", "dev", "", "pods", "")));
    assert!(!allowed(
        &view,
        &req(&u, "create", "dev", "", "pods/exec", "web")
    ));

    let edit = policy("edit");
    assert!(allowed(
        &edit,
        &req(&u, "create", "dev", "apps", "deployments", "")
    ));
    assert!(allowed(
        &edit,
        &req(&u, "patch", "dev", "apps", "deployments/scale", "web")
    ));
    assert!(allowed(
        &edit,
        &req(&u, "get", "dev", "", "secrets", "token")
    ));
    assert!(allowed(
        &edit,
        &req(&u, "create", "dev", "", "pods/exec", "web")
    ));
    assert!(allowed(
        &edit,
        &req(&u, "delete", "dev", "batch", "jobs", "j")
    ));
    assert!(allowed(&edit, &req(&u, "list", "dev", "", "pods", "")));
    assert!(!allowed(
        &edit,
        &req(
            &u,
            "create",
            "dev",
            "rbac.authorization.k8s.io",
            "rolebindings",
            ""
        )
    ));
    assert!(!allowed(
        &edit,
        &req(&u, "update", "dev", "", "resourcequotas", "q")
    ));

    let admin = policy("admin");
    assert!(allowed(
        &admin,
        &req(
            &u,
            "create",
            "dev",
            "rbac.authorization.k8s.io",
            "rolebindings",
            ""
        )
    ));
    assert!(allowed(
        &admin,
        &req(&u, "create", "dev", "apps", "deployments", "")
    ));
    assert!(!allowed(
        &admin,
        &req(&u, "create", "dev", "", "namespaces", "")
    ));
    assert!(!allowed(&admin, &req(&u, "delete", "", "", "nodes", "n")));
}

#[test]
fn what_every_user_and_anonymous_may_do() {
    let p = defaults();
    let u = authenticated("someone");
    assert!(allowed(
        &p,
        &req(
            &u,
            "create",
            "",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            ""
        )
    ));
    assert!(allowed(
        &p,
        &req(
            &u,
            "create",
            "",
            "authorization.k8s.io",
            "selfsubjectrulesreviews",
            ""
        )
    ));
    assert!(allowed(
        &p,
        &req(
            &u,
            "create",
            "",
            "authentication.k8s.io",
            "selfsubjectreviews",
            ""
        )
    ));
    for p_ in [
        "/version",
        "/healthz",
        "/livez",
        "/readyz",
        "/api",
        "/api/v1",
        "/apis/apps/v1",
        "/openapi/v3",
    ] {
        assert!(allowed(&p, &path(&u, "get", p_)), "{p_}");
    }
    assert!(!allowed(&p, &path(&u, "get", "/metrics")));
    assert!(!allowed(&p, &path(&u, "post", "/api")));
    assert!(!allowed(&p, &req(&u, "list", "default", "", "pods", "")));
    assert!(!allowed(
        &p,
        &req(
            &u,
            "create",
            "",
            "authorization.k8s.io",
            "subjectaccessreviews",
            ""
        )
    ));

    let anon = anonymous();
    for p_ in ["/healthz", "/livez", "/readyz", "/version", "/version/"] {
        assert!(allowed(&p, &path(&anon, "get", p_)), "{p_}");
    }
    for p_ in [
        "/api",
        "/apis",
        "/openapi/v2",
        "/metrics",
        "/healthz/etcd",
        "/logs",
    ] {
        assert!(!allowed(&p, &path(&anon, "get", p_)), "{p_}");
    }
    assert!(!allowed(
        &p,
        &req(
            &anon,
            "create",
            "",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            ""
        )
    ));
    assert!(!allowed(&p, &req(&anon, "list", "", "", "namespaces", "")));

    let monitor = person("prometheus", &[SYSTEM_AUTHENTICATED, "system:monitoring"]);
    assert!(allowed(&p, &path(&monitor, "get", "/metrics")));
    assert!(allowed(&p, &path(&monitor, "get", "/readyz/etcd")));
}

#[test]
fn a_node_has_what_a_kubelet_needs() {
    let node = person("system:node:n1", &["system:nodes", SYSTEM_AUTHENTICATED]);
    let rules = node_rules();
    let can = |a: Attributes| rules_allow(&a, &rules);
    assert!(can(req(&node, "update", "", "", "nodes/status", "n1")));
    assert!(can(req(&node, "patch", "", "", "nodes/status", "n1")));
    assert!(can(req(&node, "create", "", "", "nodes", "")));
    assert!(can(req(
        &node,
        "update",
        "kube-node-lease",
        "coordination.k8s.io",
        "leases",
        "n1"
    )));
    assert!(can(req(&node, "watch", "", "", "pods", "")));
    assert!(can(req(
        &node,
        "patch",
        "default",
        "",
        "pods/status",
        "web"
    )));
    assert!(can(req(&node, "create", "default", "", "events", "")));
    assert!(can(req(&node, "get", "default", "", "secrets", "s")));
    assert!(can(req(&node, "get", "default", "", "configmaps", "c")));
    assert!(can(req(
        &node,
        "get",
        "default",
        "",
        "persistentvolumeclaims",
        "c"
    )));
    assert!(can(req(&node, "get", "", "", "persistentvolumes", "v")));
    assert!(can(req(&node, "list", "", "", "services", "")));
    assert!(can(req(&node, "get", "default", "", "endpoints", "e")));
    assert!(can(req(
        &node,
        "create",
        "default",
        "",
        "serviceaccounts/token",
        "default"
    )));
    assert!(can(req(
        &node,
        "create",
        "",
        "certificates.k8s.io",
        "certificatesigningrequests",
        ""
    )));
    assert!(can(req(
        &node,
        "get",
        "",
        "certificates.k8s.io",
        "certificatesigningrequests",
        "csr-1"
    )));
    assert!(!can(req(&node, "delete", "", "", "nodes", "n2")));
    assert!(!can(req(&node, "update", "default", "", "secrets", "s")));
    assert!(!can(req(
        &node,
        "create",
        "default",
        "apps",
        "deployments",
        ""
    )));

    // system:node is the same rules, bound to nobody: the node authorizer applies them.
    let roles = bootstrap_cluster_roles();
    assert_eq!(rules_of(&roles, "system:node"), rules.as_slice());
    assert!(!allowed(
        &defaults(),
        &req(&node, "update", "", "", "nodes/status", "n1")
    ));
    let binding = bootstrap_cluster_role_bindings()
        .into_iter()
        .find(|b| b.metadata.name.as_deref() == Some("system:node"))
        .unwrap();
    assert_eq!(binding.subjects, None);
}

#[test]
fn system_components() {
    let p = defaults();
    let scheduler = authenticated("system:kube-scheduler");
    assert!(allowed(
        &p,
        &req(&scheduler, "create", "default", "", "pods/binding", "web")
    ));
    assert!(allowed(&p, &req(&scheduler, "list", "", "", "nodes", "")));
    assert!(allowed(
        &p,
        &req(
            &scheduler,
            "update",
            "kube-system",
            "coordination.k8s.io",
            "leases",
            "kube-scheduler"
        )
    ));
    // Any name in kube-system (the leader-locking Role), only its own elsewhere.
    assert!(allowed(
        &p,
        &req(
            &scheduler,
            "update",
            "kube-system",
            "coordination.k8s.io",
            "leases",
            "other"
        )
    ));
    assert!(!allowed(
        &p,
        &req(
            &scheduler,
            "update",
            "default",
            "coordination.k8s.io",
            "leases",
            "other"
        )
    ));
    assert!(allowed(
        &p,
        &req(
            &scheduler,
            "patch",
            "default",
            "",
            "persistentvolumeclaims",
            "c"
        )
    ));
    assert!(!allowed(
        &p,
        &req(&scheduler, "create", "default", "", "pods", "")
    ));

    let kcm = authenticated("system:kube-controller-manager");
    assert!(allowed(&p, &req(&kcm, "create", "default", "", "pods", "")));
    assert!(allowed(
        &p,
        &req(&kcm, "create", "default", "apps", "replicasets", "")
    ));
    assert!(allowed(
        &p,
        &req(
            &kcm,
            "update",
            "default",
            "apps",
            "deployments/status",
            "web"
        )
    ));
    assert!(allowed(
        &p,
        &req(
            &kcm,
            "create",
            "default",
            "discovery.k8s.io",
            "endpointslices",
            ""
        )
    ));
    assert!(allowed(
        &p,
        &req(&kcm, "delete", "default", "example.com", "widgets", "w")
    ));
    assert!(allowed(
        &p,
        &req(&kcm, "update", "", "", "namespaces/finalize", "gone")
    ));
    assert!(allowed(
        &p,
        &req(
            &kcm,
            "update",
            "kube-system",
            "coordination.k8s.io",
            "leases",
            "kube-controller-manager"
        )
    ));
    assert!(!allowed(
        &p,
        &req(
            &kcm,
            "create",
            "",
            "rbac.authorization.k8s.io",
            "clusterroles",
            ""
        )
    ));

    let proxy = authenticated("system:kube-proxy");
    assert!(allowed(
        &p,
        &req(
            &proxy,
            "watch",
            "",
            "discovery.k8s.io",
            "endpointslices",
            ""
        )
    ));
    assert!(allowed(&p, &req(&proxy, "list", "", "", "services", "")));
    assert!(!allowed(
        &p,
        &req(&proxy, "get", "default", "", "secrets", "s")
    ));

    let dns = authenticated("system:serviceaccount:kube-system:kube-dns");
    assert!(allowed(&p, &req(&dns, "watch", "", "", "services", "")));

    let gc = authenticated("system:serviceaccount:kube-system:generic-garbage-collector");
    assert!(allowed(
        &p,
        &req(&gc, "delete", "default", "apps", "replicasets", "rs")
    ));
    assert!(!allowed(
        &p,
        &req(&gc, "create", "default", "apps", "replicasets", "")
    ));

    let bootstrapper = person(
        "system:bootstrap:abcdef",
        &["system:bootstrappers", SYSTEM_AUTHENTICATED],
    );
    assert!(allowed(
        &p,
        &req(
            &bootstrapper,
            "create",
            "",
            "certificates.k8s.io",
            "certificatesigningrequests",
            ""
        )
    ));
}

#[test]
fn default_objects_are_labelled_and_consistent() {
    let roles = bootstrap_cluster_roles();
    let bindings = bootstrap_cluster_role_bindings();
    let ns_roles = bootstrap_roles();
    let ns_bindings = bootstrap_role_bindings();
    let metas = roles
        .iter()
        .map(|r| &r.metadata)
        .chain(bindings.iter().map(|b| &b.metadata))
        .chain(ns_roles.iter().map(|r| &r.metadata))
        .chain(ns_bindings.iter().map(|b| &b.metadata));
    for m in metas {
        let name = m.name.as_deref().unwrap();
        assert_eq!(
            m.labels
                .as_ref()
                .unwrap()
                .get("kubernetes.io/bootstrapping")
                .map(String::as_str),
            Some("rbac-defaults"),
            "{name}"
        );
        assert_eq!(
            m.annotations
                .as_ref()
                .unwrap()
                .get("rbac.authorization.kubernetes.io/autoupdate")
                .map(String::as_str),
            Some("true"),
            "{name}"
        );
    }
    let role_names: std::collections::BTreeSet<&str> = roles
        .iter()
        .map(|r| r.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(role_names.len(), roles.len(), "role names are unique");
    for wanted in [
        "cluster-admin",
        "admin",
        "edit",
        "view",
        "system:aggregate-to-admin",
        "system:aggregate-to-edit",
        "system:aggregate-to-view",
        "system:discovery",
        "system:basic-user",
        "system:public-info-viewer",
        "system:monitoring",
        "system:node",
        "system:node-proxier",
        "system:kube-scheduler",
        "system:kube-controller-manager",
        "system:kube-dns",
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        "system:node-bootstrapper",
        "system:auth-delegator",
        "system:heapster",
        "system:aggregated-metrics-reader",
        "system:controller:deployment-controller",
        "system:controller:generic-garbage-collector",
    ] {
        assert!(role_names.contains(wanted), "{wanted}");
    }
    for b in &bindings {
        assert!(
            role_names.contains(b.role_ref.name.as_str()),
            "{:?}",
            b.metadata.name
        );
        assert_eq!(b.role_ref.kind, "ClusterRole");
    }
    let binding_names: std::collections::BTreeSet<&str> = bindings
        .iter()
        .map(|b| b.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        binding_names.len(),
        bindings.len(),
        "binding names are unique"
    );
    for b in &ns_bindings {
        assert!(
            ns_roles
                .iter()
                .any(|r| r.metadata.name == Some(b.role_ref.name.clone())
                    && r.metadata.namespace == b.metadata.namespace),
            "{:?}",
            b.metadata.name
        );
    }
    // The aggregated roles come with their rule and no rules, as upstream creates them.
    for name in ["admin", "edit", "view"] {
        let r = roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .unwrap();
        assert!(r.aggregation_rule.is_some() && r.rules.is_none(), "{name}");
    }
    // They serialize as upstream's objects do.
    let view = serde_json::to_value(
        roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some("view"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        view["aggregationRule"],
        serde_json::json!({"clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]})
    );
    assert_eq!(
        view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"],
        "true"
    );
    let discovery = serde_json::to_value(
        roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some("system:discovery"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(discovery["rules"][0]["verbs"], serde_json::json!(["get"]));
    assert!(discovery["rules"][0].get("apiGroups").is_none());
}

#[test]
fn leader_election_in_kube_system() {
    let p = defaults();
    let kcm = authenticated("system:kube-controller-manager");
    assert!(allowed(
        &p,
        &req(
            &kcm,
            "get",
            "kube-system",
            "",
            "configmaps",
            "extension-apiserver-authentication"
        )
    ));
    assert!(allowed(
        &p,
        &req(
            &kcm,
            "watch",
            "kube-system",
            "coordination.k8s.io",
            "leases",
            ""
        )
    ));
    let sa = authenticated("system:serviceaccount:kube-system:kube-scheduler");
    assert!(allowed(
        &p,
        &req(
            &sa,
            "update",
            "kube-system",
            "coordination.k8s.io",
            "leases",
            "kube-scheduler"
        )
    ));
    assert!(!allowed(
        &p,
        &req(
            &sa,
            "update",
            "default",
            "coordination.k8s.io",
            "leases",
            "kube-scheduler"
        )
    ));
}

// ---- rules_for ----

#[test]
fn rules_for_lists_the_applicable_rules() {
    let u = authenticated("u");
    let p = Policy::new(
        &[role_in(
            "ns",
            "r",
            vec![named(&["get"], &[""], &["configmaps"], &["c"])],
        )],
        &bootstrap_cluster_roles(),
        &[binding_in("ns", "b", "Role", "r", vec![user("u")])],
        &bootstrap_cluster_role_bindings(),
    );
    let (resources, non_resources) = p.rules_for(&u, "ns");
    assert!(resources.contains(&rule(
        &["create"],
        &["authorization.k8s.io"],
        &["selfsubjectaccessreviews", "selfsubjectrulesreviews"]
    )));
    assert_eq!(
        resources.last(),
        Some(&named(&["get"], &[""], &["configmaps"], &["c"]))
    );
    assert!(non_resources.contains(&urls(
        &["get"],
        &["/healthz", "/livez", "/readyz", "/version", "/version/"]
    )));
    assert!(resources.iter().all(|r| r.non_resource_urls.is_none()));
    assert!(
        non_resources
            .iter()
            .all(|r| r.resources.is_none() && r.api_groups.is_none())
    );
    // Elsewhere only the cluster-wide ones.
    let (elsewhere, _) = p.rules_for(&u, "other");
    assert_eq!(elsewhere.len(), resources.len() - 1);
    let (anon, anon_urls) = p.rules_for(&anonymous(), "ns");
    assert!(anon.is_empty());
    assert_eq!(anon_urls.len(), 1);
}

// ---- messages ----

#[test]
fn forbidden_messages_read_as_upstream() {
    let x = authenticated("x");
    assert_eq!(
        forbidden_message(&req(&x, "list", "default", "", "pods", ""), ""),
        r#"User "x" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    assert_eq!(
        forbidden_message(&req(&x, "get", "default", "", "pods/log", "web"), ""),
        r#"User "x" cannot get resource "pods/log" in API group "" in the namespace "default""#
    );
    assert_eq!(
        forbidden_message(&req(&x, "list", "", "", "nodes", ""), ""),
        r#"User "x" cannot list resource "nodes" in API group "" at the cluster scope"#
    );
    assert_eq!(
        forbidden_message(
            &req(
                &x,
                "create",
                "",
                "rbac.authorization.k8s.io",
                "clusterroles",
                ""
            ),
            "RBAC: clusterrole.rbac.authorization.k8s.io \"y\" not found"
        ),
        r#"User "x" cannot create resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "y" not found"#
    );
    assert_eq!(
        forbidden_message(&path(&anonymous(), "get", "/metrics"), ""),
        r#"User "system:anonymous" cannot get path "/metrics""#
    );
    assert_eq!(
        forbidden_message(&path(&x, "get", "/a<b>&c"), ""),
        r#"User "x" cannot get path "/a&lt;b&gt;&amp;c""#
    );

    let e = forbidden_error(&req(&x, "list", "default", "", "pods", ""), "");
    assert_eq!((e.code, e.reason), (403, "Forbidden"));
    assert_eq!(
        e.message,
        r#"pods is forbidden: User "x" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    assert_eq!(e.details, Some(serde_json::json!({"kind": "pods"})));
    let e = forbidden_error(
        &req(&x, "get", "default", "apps", "deployments/scale", "web"),
        "",
    );
    assert_eq!(
        e.message,
        r#"deployments.apps "web" is forbidden: User "x" cannot get resource "deployments/scale" in API group "apps" in the namespace "default""#
    );
    assert_eq!(
        e.details,
        Some(serde_json::json!({"kind": "deployments", "group": "apps", "name": "web"}))
    );
    let e = forbidden_error(&path(&x, "get", "/logs"), "");
    assert_eq!(e.message, r#"forbidden: User "x" cannot get path "/logs""#);
    assert_eq!(e.details, Some(serde_json::json!({})));
}

// ---- pod references ----

#[test]
fn pod_references_cover_every_place_a_pod_names_an_object() {
    let env = |secret: &str, cm: &str| {
        vec![
            EnvVar {
                name: "A".to_owned(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret.to_owned(),
                        key: "k".to_owned(),
                        optional: None,
                    }),
                    ..EnvVarSource::default()
                }),
                value: None,
            },
            EnvVar {
                name: "B".to_owned(),
                value_from: Some(EnvVarSource {
                    config_map_key_ref: Some(ConfigMapKeySelector {
                        name: cm.to_owned(),
                        key: "k".to_owned(),
                        optional: None,
                    }),
                    ..EnvVarSource::default()
                }),
                value: None,
            },
            EnvVar {
                name: "C".to_owned(),
                value: Some("plain".to_owned()),
                value_from: None,
            },
        ]
    };
    let env_from = |secret: &str, cm: &str| {
        vec![
            EnvFromSource {
                secret_ref: Some(SecretEnvSource {
                    name: secret.to_owned(),
                    optional: None,
                }),
                ..EnvFromSource::default()
            },
            EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: cm.to_owned(),
                    optional: None,
                }),
                ..EnvFromSource::default()
            },
        ]
    };
    let volume = |name: &str| Volume {
        name: name.to_owned(),
        ..Volume::default()
    };
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("web".to_owned()),
            namespace: Some("default".to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            service_account_name: Some("robot".to_owned()),
            image_pull_secrets: Some(vec![LocalObjectReference {
                name: "pull".to_owned(),
            }]),
            containers: vec![Container {
                name: "main".to_owned(),
                env: Some(env("env-secret", "env-cm")),
                env_from: Some(env_from("envfrom-secret", "envfrom-cm")),
                ..Container::default()
            }],
            init_containers: Some(vec![Container {
                name: "init".to_owned(),
                env: Some(env("init-secret", "init-cm")),
                ..Container::default()
            }]),
            ephemeral_containers: Some(vec![EphemeralContainer {
                name: "debug".to_owned(),
                env_from: Some(env_from("debug-secret", "debug-cm")),
                ..EphemeralContainer::default()
            }]),
            volumes: Some(vec![
                Volume {
                    secret: Some(SecretVolumeSource {
                        secret_name: Some("vol-secret".to_owned()),
                        ..SecretVolumeSource::default()
                    }),
                    ..volume("s")
                },
                Volume {
                    config_map: Some(ConfigMapVolumeSource {
                        name: "vol-cm".to_owned(),
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..volume("c")
                },
                Volume {
                    projected: Some(ProjectedVolumeSource {
                        sources: Some(vec![
                            VolumeProjection {
                                secret: Some(SecretProjection {
                                    name: "proj-secret".to_owned(),
                                    ..SecretProjection::default()
                                }),
                                ..VolumeProjection::default()
                            },
                            VolumeProjection {
                                config_map: Some(ConfigMapProjection {
                                    name: "proj-cm".to_owned(),
                                    ..ConfigMapProjection::default()
                                }),
                                ..VolumeProjection::default()
                            },
                        ]),
                        default_mode: None,
                    }),
                    ..volume("p")
                },
                Volume {
                    csi: Some(CSIVolumeSource {
                        driver: "d".to_owned(),
                        node_publish_secret_ref: Some(LocalObjectReference {
                            name: "csi-secret".to_owned(),
                        }),
                        ..CSIVolumeSource::default()
                    }),
                    ..volume("csi")
                },
                Volume {
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: "data".to_owned(),
                        read_only: None,
                    }),
                    ..volume("d")
                },
                Volume {
                    ephemeral: Some(EphemeralVolumeSource::default()),
                    ..volume("scratch")
                },
                Volume {
                    secret: Some(SecretVolumeSource::default()),
                    ..volume("unnamed")
                },
            ]),
            ..PodSpec::default()
        }),
        status: None,
    };
    let refs = pod_references(&pod);
    let set = |v: &[&str]| {
        v.iter()
            .map(|s| (*s).to_owned())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(
        refs.secrets,
        set(&[
            "pull",
            "env-secret",
            "envfrom-secret",
            "init-secret",
            "debug-secret",
            "vol-secret",
            "proj-secret",
            "csi-secret"
        ])
    );
    assert_eq!(
        refs.config_maps,
        set(&[
            "env-cm",
            "envfrom-cm",
            "init-cm",
            "debug-cm",
            "vol-cm",
            "proj-cm"
        ])
    );
    assert_eq!(refs.persistent_volume_claims, set(&["data", "web-scratch"]));
    assert_eq!(refs.service_account.as_deref(), Some("robot"));
    assert!(refs.resource_claims.is_empty());

    assert_eq!(pod_references(&Pod::default()), PodReferences::default());
}

#[test]
fn many_bindings_are_looked_up_by_subject() {
    // A few hundred users each with a binding of their own in their namespace, and groups.
    let mut rbs = Vec::new();
    let mut crbs = bootstrap_cluster_role_bindings();
    for i in 0..300 {
        rbs.push(binding_in(
            &format!("ns{i}"),
            "owner",
            "ClusterRole",
            "admin",
            vec![user(&format!("user{i}"))],
        ));
        crbs.push(cluster_binding(
            &format!("team{i}"),
            vec![group(&format!("team{i}"))],
        ));
    }
    let p = Policy::new(&bootstrap_roles(), &bootstrap_cluster_roles(), &rbs, &crbs);
    let u = person("user42", &[SYSTEM_AUTHENTICATED, "team7"]);
    assert!(allowed(
        &p,
        &req(&u, "create", "ns42", "apps", "deployments", "")
    ));
    assert!(!allowed(
        &p,
        &req(&u, "create", "ns43", "apps", "deployments", "")
    ));
    assert_eq!(
        p.cluster.candidates(&u).len(),
        4,
        "discovery, basic-user, public-info-viewer, team7"
    );
    assert_eq!(p.namespaced["ns42"].candidates(&u).len(), 1);
}
