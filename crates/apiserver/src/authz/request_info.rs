//! What a request asks to do, in the terms authorizers decide on: upstream's `RequestInfo`
//! (`k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`), worked out from the method, the
//! path and the query alone, before routing.
//!
//! `/api/v1/...` and `/apis/{group}/{version}/...` with a resource are resource requests: the
//! verb comes from the method (`GET` with a name is `get`, without one `list`, or `watch` with
//! `watch=true`; `DELETE` without a name is `deletecollection`), the namespace from
//! `namespaces/{ns}/`, then resource, name and subresource. A list or watch with the field
//! selector `metadata.name=x` names `x`, as upstream (kubectl's `get pod x -w`, the kubelet's
//! watch of its own Node). Everything else is a non-resource request: the lowercased method on
//! the path.

use barge_api::rbac::{Attributes, UserInfo};
use http::{HeaderMap, Method, Uri, header};

/// Upstream's `specialVerbs`: `/api/v1/watch/pods`, `/api/v1/proxy/...` (the old forms).
const SPECIAL_VERBS: &[&str] = &["proxy", "watch"];
/// Subresources of a namespace (`/api/v1/namespaces/{ns}/status`).
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// The authorization attributes of a request by `user`.
pub fn attributes(user: UserInfo, method: &Method, uri: &Uri, headers: &HeaderMap) -> Attributes {
    let path = uri.path();
    let mut attrs = Attributes {
        user,
        verb: method.as_str().to_ascii_lowercase(),
        resource_request: false,
        namespace: String::new(),
        api_group: String::new(),
        resource: String::new(),
        subresource: String::new(),
        name: String::new(),
        path: path.to_owned(),
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut rest: &[&str] = match parts.as_slice() {
        ["api", _version, rest @ ..] if !rest.is_empty() => rest,
        ["apis", group, _version, rest @ ..] if !rest.is_empty() => {
            attrs.api_group = (*group).to_owned();
            rest
        }
        _ => return attrs,
    };
    attrs.resource_request = true;
    let mut special = false;
    if SPECIAL_VERBS.contains(&rest[0]) {
        if rest.len() < 2 {
            // Upstream refuses the request; nothing an authorizer would allow.
            attrs.verb = rest[0].to_owned();
            return attrs;
        }
        attrs.verb = rest[0].to_owned();
        rest = &rest[1..];
        special = true;
    } else {
        attrs.verb = match *method {
            Method::POST => "create",
            Method::GET | Method::HEAD => "get",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "",
        }
        .to_owned();
    }
    if rest[0] == "namespaces" && rest.len() > 1 {
        attrs.namespace = rest[1].to_owned();
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    if rest.len() >= 3 && attrs.verb != "proxy" {
        attrs.subresource = rest[2].to_owned();
    }
    if rest.len() >= 2 {
        attrs.name = rest[1].to_owned();
    }
    attrs.resource = rest[0].to_owned();

    if attrs.name.is_empty() && attrs.verb == "get" {
        let query = uri.query().unwrap_or_default();
        let mut watch = false;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "watch" => watch = matches!(v.as_ref(), "true" | "1" | "True"),
                "fieldSelector" => {
                    if let Some(name) = exact_name(&v) {
                        attrs.name = name;
                    }
                }
                _ => {}
            }
        }
        attrs.verb = if watch { "watch" } else { "list" }.to_owned();
    }
    if attrs.name.is_empty() && attrs.verb == "delete" {
        attrs.verb = "deletecollection".to_owned();
    }
    // The websocket forms of exec, attach and port-forward are GETs; since 1.31 upstream
    // also requires `create` on them (AuthorizePodWebsocketUpgradeCreatePermission), which is
    // what the SPDY forms (POST) ask for anyway.
    if !special
        && attrs.verb == "get"
        && attrs.resource == "pods"
        && matches!(
            attrs.subresource.as_str(),
            "exec" | "attach" | "portforward"
        )
        && is_upgrade(headers)
    {
        attrs.verb = "create".to_owned();
    }
    attrs
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("websocket"))
}

/// The name a field selector requires exactly (`metadata.name=x` or `metadata.name==x`, alone
/// or among other terms), if it is a valid path segment.
fn exact_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let term = term.trim();
        let value = term
            .strip_prefix("metadata.name==")
            .or_else(|| term.strip_prefix("metadata.name="))?;
        let valid = !value.is_empty()
            && value != "."
            && value != ".."
            && !value.contains('/')
            && !value.contains('%');
        valid.then(|| value.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserInfo {
        UserInfo {
            name: "u".into(),
            uid: String::new(),
            groups: Vec::new(),
            extra: Default::default(),
        }
    }

    fn info(method: Method, uri: &str) -> Attributes {
        attributes(user(), &method, &uri.parse().unwrap(), &HeaderMap::new())
    }

    /// (verb, namespace, group, resource, subresource, name, resource request)
    fn parts(a: &Attributes) -> (&str, &str, &str, &str, &str, &str, bool) {
        (
            &a.verb,
            &a.namespace,
            &a.api_group,
            &a.resource,
            &a.subresource,
            &a.name,
            a.resource_request,
        )
    }

    #[test]
    fn resource_requests_as_upstream() {
        let cases = [
            (
                Method::GET,
                "/api/v1/namespaces/ns/pods",
                ("list", "ns", "", "pods", "", ""),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns/pods?watch=true&resourceVersion=1",
                ("watch", "ns", "", "pods", "", ""),
            ),
            (
                Method::GET,
                "/api/v1/pods",
                ("list", "", "", "pods", "", ""),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns/pods/p",
                ("get", "ns", "", "pods", "", "p"),
            ),
            (
                Method::PATCH,
                "/api/v1/namespaces/ns/pods/p/status",
                ("patch", "ns", "", "pods", "status", "p"),
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/ns/pods",
                ("deletecollection", "ns", "", "pods", "", ""),
            ),
            (
                Method::POST,
                "/apis/apps/v1/namespaces/ns/deployments",
                ("create", "ns", "apps", "deployments", "", ""),
            ),
            (
                Method::PUT,
                "/apis/apps/v1/namespaces/ns/deployments/d/scale",
                ("update", "ns", "apps", "deployments", "scale", "d"),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns",
                ("get", "ns", "", "namespaces", "", "ns"),
            ),
            (
                Method::PUT,
                "/api/v1/namespaces/ns/finalize",
                ("update", "ns", "", "namespaces", "finalize", "ns"),
            ),
            (
                Method::GET,
                "/api/v1/namespaces",
                ("list", "", "", "namespaces", "", ""),
            ),
            (
                Method::GET,
                "/api/v1/nodes?fieldSelector=metadata.name%3Dn1&watch=1",
                ("watch", "", "", "nodes", "", "n1"),
            ),
            (
                Method::GET,
                "/api/v1/nodes/n1/proxy/stats/summary",
                ("get", "", "", "nodes", "proxy", "n1"),
            ),
            (
                Method::GET,
                "/api/v1/watch/namespaces/ns/pods/p",
                ("watch", "ns", "", "pods", "", "p"),
            ),
            (
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                (
                    "create",
                    "",
                    "authorization.k8s.io",
                    "selfsubjectaccessreviews",
                    "",
                    "",
                ),
            ),
        ];
        for (method, uri, want) in cases {
            let a = info(method, uri);
            let got = parts(&a);
            assert_eq!(
                got,
                (want.0, want.1, want.2, want.3, want.4, want.5, true),
                "{uri}"
            );
        }
    }

    #[test]
    fn other_paths_are_non_resource_requests() {
        for (method, uri, verb) in [
            (Method::GET, "/api", "get"),
            (Method::GET, "/api/v1", "get"),
            (Method::GET, "/apis/apps/v1", "get"),
            (Method::GET, "/apis/apps", "get"),
            (Method::GET, "/healthz/etcd", "get"),
            (Method::POST, "/metrics", "post"),
            (Method::GET, "/openapi/v3/api/v1", "get"),
        ] {
            let a = info(method, uri);
            assert!(!a.resource_request, "{uri}");
            assert_eq!(a.verb, verb, "{uri}");
            assert_eq!(a.path, uri.split('?').next().unwrap());
        }
    }

    #[test]
    fn websocket_exec_needs_create() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, "websocket".parse().unwrap());
        let a = attributes(
            user(),
            &Method::GET,
            &"/api/v1/namespaces/ns/pods/p/exec?command=ls"
                .parse()
                .unwrap(),
            &headers,
        );
        assert_eq!(
            (a.verb.as_str(), a.subresource.as_str()),
            ("create", "exec")
        );
        let log = info(Method::GET, "/api/v1/namespaces/ns/pods/p/log");
        assert_eq!(
            (log.verb.as_str(), log.subresource.as_str()),
            ("get", "log")
        );
    }
}
