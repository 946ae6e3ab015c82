//! Authentication: who a request comes from, as upstream's authenticators decide it, in
//! upstream's order.
//!
//! 1. **A client certificate** signed by the cluster CA (TLS verified it, [`crate::tls`]):
//!    user = CN, groups = the O values. Worked out once per connection ([`from_certificates`])
//!    and handed to every request of it as the [`Authenticated`] extension.
//! 2. **A bearer token**: a ServiceAccount JWT this server issued ([`crate::tokens`]), checked
//!    for signature, expiry, not-before, issuer and audience, and — as upstream's bound token
//!    validator — that its ServiceAccount, and the pod, secret or node it is bound to, still
//!    exist with the uid it names.
//! 3. No credentials: anonymous, which only the [public paths](is_public) accept; everything
//!    else, and any request whose token does not authenticate, is 401 `Unauthorized`.
//!
//! Every authenticated user is also in `system:authenticated`. In-process clients (the
//! scheduler, controller manager and node agent inside `barge server`) are not on the network:
//! their transport inserts [`Authenticated`] with [`loopback_user`] itself. A network client
//! cannot set a request extension, and the connection loop (`serve` in `lib.rs`) removes any
//! before inserting the connection's.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use barge_api::rbac::UserInfo;
use http::{HeaderMap, header};
use serde_json::Value;

use crate::ApiServer;
use crate::tokens::ISSUER;

/// The authenticated user of a request, as a request extension.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Arc<UserInfo>);

pub use barge_api::rbac::{
    SYSTEM_AUTHENTICATED as AUTHENTICATED_GROUP, SYSTEM_MASTERS as MASTERS_GROUP,
    SYSTEM_UNAUTHENTICATED as UNAUTHENTICATED_GROUP,
};
pub const ANONYMOUS_USER: &str = "system:anonymous";

/// Extra keys upstream sets for ServiceAccount tokens.
pub const EXTRA_POD_NAME: &str = "authentication.kubernetes.io/pod-name";
pub const EXTRA_POD_UID: &str = "authentication.kubernetes.io/pod-uid";
pub const EXTRA_NODE_NAME: &str = "authentication.kubernetes.io/node-name";
pub const EXTRA_NODE_UID: &str = "authentication.kubernetes.io/node-uid";
pub const EXTRA_CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

/// The audiences this server accepts tokens for (upstream's `--api-audiences`, which default
/// to the issuer).
pub const API_AUDIENCES: &[&str] = &[ISSUER];

/// How far in the future a token's `nbf` may be (clock skew), as upstream's leeway.
const NOT_BEFORE_LEEWAY_SECS: u64 = 60;

fn user(name: impl Into<String>, uid: impl Into<String>, groups: Vec<String>) -> UserInfo {
    UserInfo {
        name: name.into(),
        uid: uid.into(),
        groups,
        extra: Default::default(),
    }
}

/// Adds `system:authenticated` unless the user has it, as upstream's group adder.
fn with_authenticated_group(mut u: UserInfo) -> UserInfo {
    if !u.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        u.groups.push(AUTHENTICATED_GROUP.to_owned());
    }
    u
}

/// The identity of in-process clients: upstream's loopback user (`system:apiserver` in
/// `system:masters`). The components inside `barge server` run as it; standalone they use the
/// admin kubeconfig, whose certificate is in `system:masters` too.
pub fn loopback_user() -> UserInfo {
    user(
        "system:apiserver",
        "",
        vec![MASTERS_GROUP.to_owned(), AUTHENTICATED_GROUP.to_owned()],
    )
}

/// The user of requests without credentials.
pub fn anonymous() -> UserInfo {
    user(ANONYMOUS_USER, "", vec![UNAUTHENTICATED_GROUP.to_owned()])
}

/// Whether anonymous requests may have `path`: health (with sub-paths such as
/// `/readyz/ping`) and `/version`, what upstream's `system:public-info-viewer` gives everyone.
/// (The node join endpoints are answered before authentication.)
pub fn is_public(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    if path == "/version" {
        return true;
    }
    ["/healthz", "/livez", "/readyz"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|s| s.starts_with('/')))
}

/// The user of a TLS connection's verified client certificate chain: its leaf's CN and O
/// values, or `None` without a certificate or with an empty CN (upstream then tries the other
/// authenticators).
pub fn from_certificates(
    chain: Option<&[rustls::pki_types::CertificateDer<'_>]>,
) -> Option<UserInfo> {
    let leaf = chain?.first()?;
    let (cn, orgs) = der::subject_names(leaf.as_ref())?;
    if cn.is_empty() {
        return None;
    }
    Some(with_authenticated_group(user(cn, "", orgs)))
}

/// The token of an `Authorization: Bearer <token>` header, as upstream reads it.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let mut parts = value.split(' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// What authentication made of a request.
#[derive(Debug)]
pub enum Outcome {
    User(Arc<UserInfo>),
    /// No credentials at all.
    Anonymous,
    /// Credentials that did not authenticate (an invalid or expired token): 401 everywhere.
    Failed,
}

/// Authenticates a request: the connection's (or in-process transport's) user, else its bearer
/// token.
pub async fn authenticate(
    state: &ApiServer,
    extensions: &http::Extensions,
    headers: &HeaderMap,
) -> Outcome {
    if let Some(Authenticated(user)) = extensions.get::<Authenticated>() {
        return Outcome::User(user.clone());
    }
    match bearer_token(headers) {
        Some(token) => match authenticate_token(state, token, &[]).await {
            Ok((user, _)) => Outcome::User(Arc::new(user)),
            Err(_) => Outcome::Failed,
        },
        None => Outcome::Anonymous,
    }
}

/// Authenticates a ServiceAccount token for `audiences` (the API's when empty): the user and
/// the audiences of the token that matched, or upstream's error text.
pub async fn authenticate_token(
    state: &ApiServer,
    token: &str,
    audiences: &[String],
) -> Result<(UserInfo, Vec<String>), String> {
    let invalid = |why: &str| format!("[invalid bearer token, {why}]");
    let now = SystemTime::now();
    // Cheap shape check before the signature: three base64url parts.
    if token.split('.').count() != 3 {
        return Err(invalid("token lookup failed"));
    }
    let claims = state
        .signer
        .verify(token, now)
        .ok_or_else(|| invalid("token is invalid, expired or not signed by this cluster"))?;
    if claims["iss"].as_str() != Some(ISSUER) {
        return Err(invalid("token issuer is not this cluster's"));
    }
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if let Some(nbf) = claims["nbf"].as_u64()
        && nbf > secs + NOT_BEFORE_LEEWAY_SECS
    {
        return Err(invalid("token is not valid yet (nbf)"));
    }
    let token_audiences: Vec<&str> = match &claims["aud"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let wanted: Vec<&str> = if audiences.is_empty() {
        API_AUDIENCES.to_vec()
    } else {
        audiences.iter().map(String::as_str).collect()
    };
    let matched: Vec<String> = wanted
        .iter()
        .filter(|a| token_audiences.contains(a))
        .map(|a| (*a).to_owned())
        .collect();
    if matched.is_empty() {
        return Err(invalid("token audiences do not match"));
    }
    let private = &claims["kubernetes.io"];
    let namespace = private["namespace"].as_str().unwrap_or_default();
    let sa = &private["serviceaccount"];
    let sa_name = sa["name"].as_str().unwrap_or_default();
    let sa_uid = sa["uid"].as_str().unwrap_or_default();
    if namespace.is_empty() || sa_name.is_empty() {
        return Err(invalid("token has no service account"));
    }
    let invalidated = || invalid("service account token has been invalidated");
    live(state, "serviceaccounts", Some(namespace), sa_name, sa_uid)
        .await
        .ok_or_else(invalidated)?;

    let mut extra = std::collections::BTreeMap::new();
    let pod = &private["pod"];
    if let Some(pod_name) = pod["name"].as_str() {
        let pod_uid = pod["uid"].as_str().unwrap_or_default();
        let obj = live(state, "pods", Some(namespace), pod_name, pod_uid)
            .await
            .ok_or_else(invalidated)?;
        // A pod whose deletion time has passed no longer vouches for its tokens.
        if let Some(when) = obj["metadata"]["deletionTimestamp"].as_str()
            && barge_api::time::parse_rfc3339(when).is_some_and(|t| t < now)
        {
            return Err(invalidated());
        }
        extra.insert(EXTRA_POD_NAME.to_owned(), vec![pod_name.to_owned()]);
        extra.insert(EXTRA_POD_UID.to_owned(), vec![pod_uid.to_owned()]);
    }
    let secret = &private["secret"];
    if let Some(secret_name) = secret["name"].as_str() {
        let uid = secret["uid"].as_str().unwrap_or_default();
        live(state, "secrets", Some(namespace), secret_name, uid)
            .await
            .ok_or_else(invalidated)?;
    }
    let node = &private["node"];
    if let Some(node_name) = node["name"].as_str() {
        let uid = node["uid"].as_str().unwrap_or_default();
        // Only a token bound to the node itself depends on it (a pod's node is informational).
        if pod["name"].is_null() {
            live(state, "nodes", None, node_name, uid)
                .await
                .ok_or_else(invalidated)?;
        }
        extra.insert(EXTRA_NODE_NAME.to_owned(), vec![node_name.to_owned()]);
        extra.insert(EXTRA_NODE_UID.to_owned(), vec![uid.to_owned()]);
    }
    if let Some(jti) = claims["jti"].as_str() {
        extra.insert(EXTRA_CREDENTIAL_ID.to_owned(), vec![format!("JTI={jti}")]);
    }
    let user = UserInfo {
        name: barge_api::rbac::service_account_user(namespace, sa_name),
        uid: sa_uid.to_owned(),
        groups: vec![
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{namespace}"),
            AUTHENTICATED_GROUP.to_owned(),
        ],
        extra,
    };
    Ok((user, matched))
}

/// An object of a core resource if it exists with `uid` (any uid when empty): from the watch
/// cache, or from the store when the cache does not have it that way (it may not have caught
/// up with a write just made).
async fn live(
    state: &ApiServer,
    plural: &str,
    namespace: Option<&str>,
    name: &str,
    uid: &str,
) -> Option<Value> {
    let resource = {
        let registry = state.registry.read().unwrap_or_else(|p| p.into_inner());
        registry.get("", "v1", plural)?.clone()
    };
    let key = resource.key(namespace, name);
    let matches = |v: &Value| uid.is_empty() || v["metadata"]["uid"].as_str() == Some(uid);
    let root = resource.list_prefix(None);
    if let Ok((Some(kv), _)) = state.cache.get(&state.store, &root, &key).await
        && let Ok(v) = serde_json::from_slice::<Value>(&kv.value)
        && matches(&v)
    {
        return Some(v);
    }
    let kv = state.store.get(&key, None).await.ok()?.kv?;
    let v: Value = serde_json::from_slice(&kv.value).ok()?;
    matches(&v).then_some(v)
}

/// A minimal DER reader for the one thing authentication needs from a certificate that TLS
/// has already verified: its subject's CN and O values.
mod der {
    /// One element: tag, contents and what follows.
    fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }

    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;
    const VERSION: u8 = 0xa0;
    const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
    const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

    /// The contents of the certificate's subject Name.
    fn subject(cert: &[u8]) -> Option<&[u8]> {
        let (SEQUENCE, cert, _) = element(cert)? else {
            return None;
        };
        let (SEQUENCE, tbs, _) = element(cert)? else {
            return None;
        };
        let mut rest = tbs;
        let (tag, _, after) = element(rest)?;
        if tag == VERSION {
            rest = after;
        }
        // serialNumber, signature, issuer, validity
        for _ in 0..4 {
            rest = element(rest)?.2;
        }
        match element(rest)? {
            (SEQUENCE, subject, _) => Some(subject),
            _ => None,
        }
    }

    fn string(tag: u8, bytes: &[u8]) -> Option<String> {
        match tag {
            // UTF8String, PrintableString, IA5String, TeletexString, VisibleString
            0x0c | 0x13 | 0x16 | 0x14 | 0x1a => Some(String::from_utf8_lossy(bytes).into_owned()),
            // BMPString: UTF-16BE
            0x1e => {
                let units: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                Some(String::from_utf16_lossy(&units))
            }
            _ => None,
        }
    }

    /// The subject's common name (empty when it has none) and organizations, in order.
    pub fn subject_names(cert: &[u8]) -> Option<(String, Vec<String>)> {
        let mut rdns = subject(cert)?;
        let mut cn = String::new();
        let mut orgs = Vec::new();
        while !rdns.is_empty() {
            let (tag, set, rest) = element(rdns)?;
            rdns = rest;
            if tag != SET {
                return None;
            }
            let mut attrs = set;
            while !attrs.is_empty() {
                let (SEQUENCE, attr, rest) = element(attrs)? else {
                    return None;
                };
                attrs = rest;
                let (OID, oid, value) = element(attr)? else {
                    return None;
                };
                let (tag, value, _) = element(value)?;
                match oid {
                    COMMON_NAME => cn = string(tag, value).unwrap_or_default(),
                    ORGANIZATION => orgs.extend(string(tag, value)),
                    _ => {}
                }
            }
        }
        Some((cn, orgs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn cert(cn: Option<&str>, orgs: &[&str]) -> Vec<u8> {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        if let Some(cn) = cn {
            dn.push(DnType::CommonName, cn);
        }
        // rcgen keeps one value per attribute type: the second O goes in under its OID.
        for (i, o) in orgs.iter().enumerate() {
            let ty = match i {
                0 => DnType::OrganizationName,
                _ => DnType::CustomDnType(vec![2, 5, 4, 10]),
            };
            dn.push(ty, *o);
        }
        p.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn certificates_name_the_user_and_groups() {
        let der = rustls::pki_types::CertificateDer::from(cert(
            Some("system:node:n1"),
            &["system:nodes", "extra"],
        ));
        let u = from_certificates(Some(std::slice::from_ref(&der))).unwrap();
        assert_eq!(u.name, "system:node:n1");
        assert_eq!(u.groups, ["system:nodes", "extra", "system:authenticated"]);
        let none = rustls::pki_types::CertificateDer::from(cert(None, &["x"]));
        assert!(from_certificates(Some(std::slice::from_ref(&none))).is_none());
        assert!(from_certificates(None).is_none());
        assert!(
            der::subject_names(b"\x30\x03\x02\x01").is_none(),
            "truncated"
        );
    }

    #[test]
    fn bearer_tokens_and_public_paths() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc.def".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc.def"));
        h.insert(header::AUTHORIZATION, "bearer ".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        for p in [
            "/healthz",
            "/livez/",
            "/readyz/ping",
            "/version",
            "/version/",
        ] {
            assert!(is_public(p), "{p}");
        }
        for p in [
            "/api",
            "/apis/apps/v1",
            "/healthzx",
            "/metrics",
            "/",
            "/versions",
        ] {
            assert!(!is_public(p), "{p}");
        }
    }
}
