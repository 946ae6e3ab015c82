//! The review APIs, answered from the same authenticators and authorizers as requests (never
//! stored): `authentication.k8s.io/v1` TokenReview (a token's user) and SelfSubjectReview
//! (`kubectl auth whoami`); `authorization.k8s.io/v1` SubjectAccessReview,
//! LocalSubjectAccessReview, SelfSubjectAccessReview (`kubectl auth can-i`) and
//! SelfSubjectRulesReview (`kubectl auth can-i --list`).

use std::sync::Arc;

use barge_api::rbac::{Attributes, Decision, PolicyRule, UserInfo};
use barge_api::{ApiError, Registry, Resource};
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::authn::MASTERS_GROUP;
use crate::request::{self, Format, Response};
use crate::router::Target;
use crate::{ApiServer, authn, authz};

const AUTHENTICATION: &str = "authentication.k8s.io";
const AUTHORIZATION: &str = "authorization.k8s.io";

/// (group, kind, plural, namespaced)
const REVIEWS: &[(&str, &str, &str, bool)] = &[
    (AUTHENTICATION, "TokenReview", "tokenreviews", false),
    (
        AUTHENTICATION,
        "SelfSubjectReview",
        "selfsubjectreviews",
        false,
    ),
    (
        AUTHORIZATION,
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        true,
    ),
    (
        AUTHORIZATION,
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        false,
    ),
    (
        AUTHORIZATION,
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        false,
    ),
    (
        AUTHORIZATION,
        "SubjectAccessReview",
        "subjectaccessreviews",
        false,
    ),
];

/// Adds the review resources (create only) to the registry, where it does not have them yet.
pub fn register(registry: &mut Registry) {
    for (group, kind, plural, namespaced) in REVIEWS {
        if registry.get(group, "v1", plural).is_some() {
            continue;
        }
        registry.upsert(Resource {
            group: (*group).to_owned(),
            version: "v1".to_owned(),
            kind: (*kind).to_owned(),
            plural: (*plural).to_owned(),
            singular: kind.to_lowercase(),
            namespaced: *namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            verbs: vec!["create".to_owned()],
            subresources: Vec::new(),
            storage_prefix: format!("/registry/{group}/{plural}"),
            custom: false,
            printer_columns: None,
            schema: None,
        });
    }
}

/// Whether a target is a review resource.
pub fn is_review(target: &Target) -> bool {
    let r = &target.resource;
    !r.custom
        && r.version == "v1"
        && REVIEWS
            .iter()
            .any(|(g, _, p, _)| *g == r.group && *p == r.plural)
}

fn decode(content_type: &str, body: &Bytes) -> Result<Value, ApiError> {
    if content_type == barge_api::protobuf::CONTENT_TYPE {
        barge_api::protobuf::decode(body).map_err(|e| {
            ApiError::bad_request(format!("the protobuf body could not be decoded: {e}"))
        })
    } else {
        request::decode_object(content_type, body)
    }
}

/// Answers a POST to a review resource.
pub async fn create(
    state: &ApiServer,
    user: &UserInfo,
    target: &Target,
    method: &http::Method,
    content_type: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    if *method != http::Method::POST || target.name.is_some() {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        )));
    }
    let review = decode(content_type, body)?;
    let r = &target.resource;
    let mut out = json!({
        "kind": r.kind,
        "apiVersion": r.api_version(),
        "metadata": {"creationTimestamp": null},
        "spec": review.get("spec").cloned().unwrap_or_else(|| json!({})),
    });
    if let Some(ns) = &target.namespace {
        out["metadata"]["namespace"] = json!(ns);
    }
    let spec = &review["spec"];
    out["status"] = match r.plural.as_str() {
        "tokenreviews" => token_review(state, spec).await?,
        "selfsubjectreviews" => json!({"userInfo": user_info(user)}),
        "selfsubjectaccessreviews" => access(state, user.clone(), spec, None).await?,
        "subjectaccessreviews" => access(state, subject(spec)?, spec, None).await?,
        "localsubjectaccessreviews" => {
            let ns = target.namespace.as_deref().unwrap_or_default();
            access(state, subject(spec)?, spec, Some(ns)).await?
        }
        "selfsubjectrulesreviews" => rules_review(state, user, spec)?,
        _ => return Err(ApiError::path_not_found()),
    };
    Ok(request::respond(StatusCode::CREATED, &out, Format::Json))
}

/// A user as the review APIs show it (`username`, `uid`, `groups`, `extra`; empty ones left out).
fn user_info(user: &UserInfo) -> Value {
    let mut v = json!({"username": user.name});
    if !user.uid.is_empty() {
        v["uid"] = json!(user.uid);
    }
    if !user.groups.is_empty() {
        v["groups"] = json!(user.groups);
    }
    if !user.extra.is_empty() {
        v["extra"] = json!(user.extra);
    }
    v
}

async fn token_review(state: &ApiServer, spec: &Value) -> Result<Value, ApiError> {
    let token = spec["token"].as_str().unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::bad_request(
            "token is required for TokenReview in authentication",
        ));
    }
    let audiences: Vec<String> = spec["audiences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    Ok(
        match authn::authenticate_token(state, token, &audiences).await {
            Ok((user, audiences)) => json!({
                "authenticated": true,
                "user": user_info(&user),
                "audiences": audiences,
            }),
            Err(e) => json!({"user": {}, "error": e}),
        },
    )
}

/// The subject of a (Local)SubjectAccessReview.
fn subject(spec: &Value) -> Result<UserInfo, ApiError> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let user = UserInfo {
        name: spec["user"].as_str().unwrap_or_default().to_owned(),
        uid: spec["uid"].as_str().unwrap_or_default().to_owned(),
        groups: strings(&spec["groups"]),
        extra: spec["extra"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), strings(v)))
            .collect(),
    };
    if user.name.is_empty() && user.groups.is_empty() {
        return Err(invalid(
            "SubjectAccessReview",
            vec![barge_api::Cause::invalid(
                "spec.user",
                &json!(""),
                "at least one of user or group must be specified",
            )],
        ));
    }
    Ok(user)
}

fn invalid(kind: &str, causes: Vec<barge_api::Cause>) -> ApiError {
    ApiError::invalid(AUTHORIZATION, kind, "", causes)
}

/// The status of an access review of `spec`'s attributes by `user`. `namespace` is a local
/// review's, which the attributes must agree with.
async fn access(
    state: &ApiServer,
    user: UserInfo,
    spec: &Value,
    namespace: Option<&str>,
) -> Result<Value, ApiError> {
    let resource = &spec["resourceAttributes"];
    let non_resource = &spec["nonResourceAttributes"];
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let mut attrs = match (resource.is_object(), non_resource.is_object()) {
        (true, false) => Attributes {
            user,
            verb: s(resource, "verb"),
            resource_request: true,
            namespace: s(resource, "namespace"),
            api_group: s(resource, "group"),
            resource: s(resource, "resource"),
            subresource: s(resource, "subresource"),
            name: s(resource, "name"),
            path: String::new(),
        },
        (false, true) => Attributes {
            user,
            verb: s(non_resource, "verb"),
            resource_request: false,
            path: s(non_resource, "path"),
            ..Attributes::default()
        },
        _ => {
            return Err(invalid(
                "SubjectAccessReview",
                vec![barge_api::Cause::invalid(
                    "spec.resourceAttributes",
                    &json!(""),
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                )],
            ));
        }
    };
    if let Some(ns) = namespace {
        if attrs.resource_request && attrs.namespace.is_empty() {
            attrs.namespace = ns.to_owned();
        }
        if !attrs.resource_request || attrs.namespace != ns {
            return Err(invalid(
                "LocalSubjectAccessReview",
                vec![barge_api::Cause::invalid(
                    "spec.resourceAttributes.namespace",
                    &json!(attrs.namespace),
                    "must match metadata.namespace",
                )],
            ));
        }
    }
    Ok(match authz::authorize(state, &attrs).await {
        Decision::Allow(reason) => {
            let mut v = json!({"allowed": true});
            if !reason.is_empty() {
                v["reason"] = json!(reason);
            }
            v
        }
        Decision::Deny(reason) => {
            let mut v = json!({"allowed": false});
            if !reason.is_empty() {
                v["reason"] = json!(reason);
            }
            v
        }
    })
}

/// The rules a user has in a namespace (`kubectl auth can-i --list`): everything for
/// `system:masters` (upstream's privileged-group authorizer answers so), then RBAC's.
fn rules_review(state: &ApiServer, user: &UserInfo, spec: &Value) -> Result<Value, ApiError> {
    let namespace = spec["namespace"].as_str().unwrap_or_default();
    if namespace.is_empty() {
        return Err(invalid(
            "SelfSubjectRulesReview",
            vec![barge_api::Cause::required("spec.namespace", "")],
        ));
    }
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    if user.groups.iter().any(|g| g == MASTERS_GROUP) {
        resource_rules.push(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
        non_resource_rules.push(json!({"verbs": ["*"], "nonResourceURLs": ["*"]}));
    }
    let policy: Arc<_> = state.authz.policy();
    let (resources, non_resources) = policy.1.rules_for(user, namespace);
    resource_rules.extend(resources.iter().map(resource_rule));
    non_resource_rules.extend(non_resources.iter().map(non_resource_rule));
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": false,
    });
    if authz::node::node_name(user).is_some() {
        status["incomplete"] = json!(true);
        status["evaluationError"] = json!("node authorizer does not support user rule resolution");
    }
    Ok(status)
}

fn resource_rule(rule: &PolicyRule) -> Value {
    let mut v = Map::new();
    v.insert("verbs".into(), json!(rule.verbs));
    for (key, list) in [
        ("apiGroups", &rule.api_groups),
        ("resources", &rule.resources),
        ("resourceNames", &rule.resource_names),
    ] {
        if let Some(list) = list.as_ref().filter(|l| !l.is_empty()) {
            v.insert(key.into(), json!(list));
        }
    }
    Value::Object(v)
}

fn non_resource_rule(rule: &PolicyRule) -> Value {
    json!({"verbs": rule.verbs, "nonResourceURLs": rule.non_resource_urls.clone().unwrap_or_default()})
}
