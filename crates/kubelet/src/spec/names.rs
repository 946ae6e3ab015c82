//! Names and strings worded as upstream words them: the pod's hostname and domain
//! (`GeneratePodHostNameAndDomain`, `GetNodenameForKernel`), the apimachinery name checks whose
//! messages end up in errors, `format.Pod`, Go's `%q` and Go's `time.Duration` printing.

use k8s_openapi::api::core::v1::Pod;

use super::SpecError;

/// Upstream's `DNS1123LabelMaxLength`.
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// Upstream's `DNS1123SubdomainMaxLength`.
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// Upstream's `validation.RegexError`.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

fn is_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => alnum(f) && alnum(l) && b.iter().all(|&c| alnum(c) || c == b'-'),
        _ => false,
    }
}

fn is_subdomain_chars(s: &str) -> bool {
    s.split('.').all(is_label_chars)
}

/// Upstream's `IsDNS1123Label`: the reasons `value` is not one, empty when it is.
pub fn dns1123_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(format!(
            "must be no more than {DNS1123_LABEL_MAX_LENGTH} characters"
        ));
    }
    if !is_label_chars(value) {
        if is_subdomain_chars(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// Upstream's `IsDNS1123Subdomain`.
pub fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
        ));
    }
    if !is_subdomain_chars(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            &format!("{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*"),
            &["example.com"],
        ));
    }
    errs
}

fn is_qualified_name_chars(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Upstream's `IsQualifiedName` (label keys, annotation subscripts).
pub fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    dns1123_subdomain_errors(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_ERR,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    }
    if !is_qualified_name_chars(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// The pod's name, namespace and UID (empty strings where missing).
pub(crate) fn pod_identity(pod: &Pod) -> (&str, &str, &str) {
    let m = &pod.metadata;
    (
        m.name.as_deref().unwrap_or(""),
        m.namespace.as_deref().unwrap_or(""),
        m.uid.as_deref().unwrap_or(""),
    )
}

/// Upstream's `format.Pod`: `NAME_NAMESPACE(UID)`.
pub fn format_pod(pod: &Pod) -> String {
    let (name, ns, uid) = pod_identity(pod);
    format!("{name}_{ns}({uid})")
}

/// Go's `%q` for a string.
pub use barge_api::go::quote as go_quote;

/// Go's `time.Duration.String()`: `10s`, `1m20s`, `5m0s`, `1h0m0s`, `1.5s`, `500ms`, `0s`.
pub use barge_api::go::duration as go_duration;

/// The pod's hostname and domain as upstream's `GeneratePodHostNameAndDomain` makes them:
/// `spec.hostname` (checked to be a DNS label) or the pod's name, cut to 63 characters; the
/// domain `SUBDOMAIN.NAMESPACE.svc.CLUSTER_DOMAIN` when `spec.subdomain` is set.
pub fn hostname_and_domain(pod: &Pod, cluster_domain: &str) -> Result<(String, String), SpecError> {
    let (name, namespace, _) = pod_identity(pod);
    let spec = pod.spec.as_ref();
    let mut hostname = name.to_string();
    if let Some(h) = spec
        .and_then(|s| s.hostname.as_deref())
        .filter(|h| !h.is_empty())
    {
        let errs = dns1123_label_errors(h);
        if !errs.is_empty() {
            return Err(SpecError::Invalid(format!(
                "pod Hostname {} is not a valid DNS label: {}",
                go_quote(h),
                errs.join(";")
            )));
        }
        hostname = h.to_string();
    }
    let hostname = truncate_hostname(name, &hostname)?;
    let mut domain = String::new();
    if let Some(sub) = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
    {
        let errs = dns1123_label_errors(sub);
        if !errs.is_empty() {
            return Err(SpecError::Invalid(format!(
                "pod Subdomain {} is not a valid DNS label: {}",
                go_quote(sub),
                errs.join(";")
            )));
        }
        domain = format!("{sub}.{namespace}.svc.{cluster_domain}");
    }
    Ok((hostname, domain))
}

/// Upstream's `truncatePodHostnameIfNeeded`: at most 63 bytes, not ending in `-` or `.`.
fn truncate_hostname(pod_name: &str, hostname: &str) -> Result<String, SpecError> {
    const MAX: usize = 63;
    if hostname.len() <= MAX {
        return Ok(hostname.to_string());
    }
    let mut cut = MAX;
    while !hostname.is_char_boundary(cut) {
        cut -= 1;
    }
    let truncated = hostname[..cut].trim_end_matches(['-', '.']);
    if truncated.is_empty() {
        return Err(SpecError::Invalid(format!(
            "hostname for pod {} was invalid: {}",
            go_quote(pod_name),
            go_quote(hostname)
        )));
    }
    Ok(truncated.to_string())
}

/// Upstream's `GetNodenameForKernel`: the FQDN when `setHostnameAsFQDN` is true and there
/// is a domain (at most 64 characters), else the short hostname.
pub fn kernel_hostname(
    hostname: &str,
    domain: &str,
    set_hostname_as_fqdn: Option<bool>,
) -> Result<String, SpecError> {
    const FQDN_MAX: usize = 64;
    if !domain.is_empty() && set_hostname_as_fqdn == Some(true) {
        let fqdn = format!("{hostname}.{domain}");
        if fqdn.len() > FQDN_MAX {
            return Err(SpecError::Invalid(format!(
                "failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long ({FQDN_MAX} characters is the max, {} characters requested)",
                fqdn.len()
            )));
        }
        return Ok(fqdn);
    }
    Ok(hostname.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn go_durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_micros(2)), "2µs");
        assert_eq!(go_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("é"), "\"é\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
    }

    #[test]
    fn dns_label_messages_match_upstream() {
        assert!(dns1123_label_errors("my-name").is_empty());
        assert_eq!(dns1123_label_errors("a.b"), ["must not contain dots"]);
        assert_eq!(
            dns1123_label_errors("Bad_"),
            [
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ]
        );
        let long = "a".repeat(64);
        assert_eq!(
            dns1123_label_errors(&long),
            ["must be no more than 63 characters"]
        );
    }

    #[test]
    fn qualified_names() {
        assert!(qualified_name_errors("app").is_empty());
        assert!(qualified_name_errors("example.com/app").is_empty());
        assert_eq!(
            qualified_name_errors("/app"),
            ["prefix part must be non-empty"]
        );
        assert_eq!(qualified_name_errors("a/b/c").len(), 1);
        assert!(qualified_name_errors("-x")[0].starts_with("name part must consist"));
    }

    #[test]
    fn hostname_defaults_to_pod_name_and_domain_from_subdomain() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "web-0", "namespace": "ns"},
            "spec": {"containers": [], "subdomain": "web"}
        }));
        let (h, d) = hostname_and_domain(&p, "cluster.local").unwrap();
        assert_eq!(h, "web-0");
        assert_eq!(d, "web.ns.svc.cluster.local");
        assert_eq!(kernel_hostname(&h, &d, None).unwrap(), "web-0");
        assert_eq!(
            kernel_hostname(&h, &d, Some(true)).unwrap(),
            "web-0.web.ns.svc.cluster.local"
        );
    }

    #[test]
    fn hostname_from_spec_is_checked_and_long_names_are_cut() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [], "hostname": "Bad"}
        }));
        let err = hostname_and_domain(&p, "cluster.local").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "pod Hostname \"Bad\" is not a valid DNS label: a lowercase RFC 1123 label"
            ),
            "{err}"
        );
        let name = format!("{}-{}", "a".repeat(62), "b".repeat(10));
        let p = pod(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"containers": []}
        }));
        let (h, _) = hostname_and_domain(&p, "cluster.local").unwrap();
        assert_eq!(h, "a".repeat(62));
    }

    #[test]
    fn fqdn_longer_than_64_is_refused() {
        let err = kernel_hostname(&"h".repeat(30), &"d".repeat(40), Some(true)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "failed to construct FQDN from pod hostname and cluster domain, FQDN {}.{} is too long (64 characters is the max, 71 characters requested)",
                "h".repeat(30),
                "d".repeat(40)
            )
        );
    }

    #[test]
    fn format_pod_is_name_namespace_uid() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
        }));
        assert_eq!(format_pod(&p), "p_ns(u1)");
    }
}
