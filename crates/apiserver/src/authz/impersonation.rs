//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): the `Impersonate-*` headers
//! replace the request's user when the authenticated user may `impersonate` each of the named
//! user (or ServiceAccount), groups, uid and extra values, as upstream's impersonation filter
//! (`k8s.io/apiserver/pkg/endpoints/filters/impersonation.go`).

use std::collections::BTreeMap;
use std::sync::Arc;

use barge_api::ApiError;
use barge_api::rbac::{Attributes, Decision, SERVICE_ACCOUNT_PREFIX, UserInfo};
use http::HeaderMap;

use crate::ApiServer;
use crate::authn::{ANONYMOUS_USER, AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP};

const USER: &str = "impersonate-user";
const UID: &str = "impersonate-uid";
const GROUP: &str = "impersonate-group";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// Whether a request asks to impersonate (cheap: one header look-up in the common case).
pub fn requested(headers: &HeaderMap) -> bool {
    headers.contains_key(USER)
        || headers.contains_key(GROUP)
        || headers.contains_key(UID)
        || headers.keys().any(|k| k.as_str().starts_with(EXTRA_PREFIX))
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// The user `requester` impersonates, if allowed; upstream's 403 for the first thing it may not
/// impersonate, 400 for groups, uid or extras without a user.
pub async fn impersonate(
    state: &ApiServer,
    requester: &UserInfo,
    headers: &HeaderMap,
) -> Result<Arc<UserInfo>, ApiError> {
    let name = values(headers, USER).first().copied().unwrap_or_default();
    let groups: Vec<String> = values(headers, GROUP)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let uid = values(headers, UID).first().copied().unwrap_or_default();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in headers {
        if let Some(k) = key.as_str().strip_prefix(EXTRA_PREFIX)
            && let Ok(v) = value.to_str()
        {
            // Upstream unescapes the key (percent-encoded, as header names are lowercased).
            let k = form_urlencoded::parse(format!("k={k}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| k.to_owned());
            extra.entry(k).or_default().push(v.to_owned());
        }
    }
    if name.is_empty() {
        return Err(ApiError::bad_request(format!(
            "requested {:?} without impersonating a user",
            [
                (!groups.is_empty()).then_some("groups"),
                (!uid.is_empty()).then_some("uid"),
                (!extra.is_empty()).then_some("extra"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
        )));
    }

    let check =
        |resource: &str, group: &str, namespace: &str, sub: &str, target: &str| Attributes {
            user: requester.clone(),
            verb: "impersonate".to_owned(),
            resource_request: true,
            namespace: namespace.to_owned(),
            api_group: group.to_owned(),
            resource: resource.to_owned(),
            subresource: sub.to_owned(),
            name: target.to_owned(),
            path: String::new(),
        };
    let mut asks = Vec::new();
    let mut new_groups = Vec::new();
    match name
        .strip_prefix(SERVICE_ACCOUNT_PREFIX)
        .and_then(|rest| rest.split_once(':'))
    {
        Some((ns, sa)) => {
            asks.push(check("serviceaccounts", "", ns, "", sa));
            if groups.is_empty() {
                new_groups.push("system:serviceaccounts".to_owned());
                new_groups.push(format!("system:serviceaccounts:{ns}"));
            }
        }
        None => asks.push(check("users", "", "", "", name)),
    }
    for g in &groups {
        asks.push(check("groups", "", "", "", g));
    }
    if !uid.is_empty() {
        asks.push(check("uids", "authentication.k8s.io", "", "", uid));
    }
    for (k, vs) in &extra {
        for v in vs {
            asks.push(check("userextras", "authentication.k8s.io", "", k, v));
        }
    }
    for attrs in &asks {
        if let Decision::Deny(reason) = super::authorize(state, attrs).await {
            return Err(barge_api::rbac::forbidden_error(attrs, &reason));
        }
    }
    new_groups.extend(groups);
    let implied = if name == ANONYMOUS_USER {
        UNAUTHENTICATED_GROUP
    } else {
        AUTHENTICATED_GROUP
    };
    let has_either = new_groups
        .iter()
        .any(|g| g == implied || g == UNAUTHENTICATED_GROUP);
    if !has_either {
        new_groups.push(implied.to_owned());
    }
    Ok(Arc::new(UserInfo {
        name: name.to_owned(),
        uid: uid.to_owned(),
        groups: new_groups,
        extra,
    }))
}
