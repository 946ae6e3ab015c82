//! The `/etc/hosts` file the kubelet writes for a pod and bind-mounts into every container
//! (upstream `ensureHostsFile`, `managedHostsFileContent`, `nodeHostsFileContent` and
//! `GeneratePodHostNameAndDomain` in `pkg/kubelet/kubelet_pods.go`).
//!
//! A pod on the pod network gets localhost lines, one line per pod IP with the pod's hostname
//! (and its FQDN `<hostname>.<subdomain>.<namespace>.svc.<cluster-domain>` when it has a
//! subdomain), then its `hostAliases`. A pod on the host network gets the node's own hosts file
//! under a header, then its `hostAliases`. The file is rewritten in place (it is bind-mounted
//! into running containers, so it must keep its inode), and only when its content changes.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use k8s_openapi::api::core::v1::{HostAlias, Pod};

use super::io_message;
use super::payload::go_quote;

const MANAGED_HEADER: &str = "# Kubernetes-managed hosts file.\n";
const MANAGED_HEADER_HOST_NETWORK: &str = "# Kubernetes-managed hosts file (host network).\n";
const HOSTNAME_MAX_LEN: usize = 63;

/// The pod's hostname and domain (upstream `GeneratePodHostNameAndDomain`): `spec.hostname` or
/// the pod name, cut to 63 characters; the domain is `<subdomain>.<namespace>.svc.<cluster
/// domain>` when `spec.subdomain` is set, else empty.
pub fn pod_hostname_and_domain(
    pod: &Pod,
    cluster_domain: &str,
) -> Result<(String, String), String> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let mut hostname = name.clone();
    if let Some(h) = spec
        .and_then(|s| s.hostname.as_deref())
        .filter(|h| !h.is_empty())
    {
        if let Some(msg) = dns1123_label_error(h) {
            return Err(format!(
                "pod Hostname {} is not a valid DNS label: {msg}",
                go_quote(h)
            ));
        }
        hostname = h.to_string();
    }
    if hostname.len() > HOSTNAME_MAX_LEN {
        let mut cut = HOSTNAME_MAX_LEN;
        while !hostname.is_char_boundary(cut) {
            cut -= 1;
        }
        let truncated = hostname[..cut].trim_end_matches(['-', '.']).to_string();
        if truncated.is_empty() {
            return Err(format!(
                "hostname for pod {} was invalid: {}",
                go_quote(&name),
                go_quote(&hostname)
            ));
        }
        hostname = truncated;
    }
    let mut domain = String::new();
    if let Some(sub) = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
    {
        if let Some(msg) = dns1123_label_error(sub) {
            return Err(format!(
                "pod Subdomain {} is not a valid DNS label: {msg}",
                go_quote(sub)
            ));
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        domain = format!("{sub}.{ns}.svc.{cluster_domain}");
    }
    Ok((hostname, domain))
}

/// Upstream `IsDNS1123Label`'s messages, joined with `;` as the callers join them.
fn dns1123_label_error(s: &str) -> Option<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    let b = s.as_bytes();
    let ok_inner = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    let alnum = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !ok_inner || !alnum(b.first()) || !alnum(b.last()) {
        errs.push(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
             and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', \
             regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                .to_string(),
        );
    }
    (!errs.is_empty()).then(|| errs.join(";"))
}

/// The hosts file of a pod on the pod network.
pub(crate) fn managed_content(
    ips: &[String],
    hostname: &str,
    domain: &str,
    aliases: &[HostAlias],
) -> String {
    let mut s = String::from(MANAGED_HEADER);
    s.push_str("127.0.0.1\tlocalhost\n");
    s.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    s.push_str("fe00::0\tip6-localnet\n");
    s.push_str("fe00::0\tip6-mcastprefix\n");
    s.push_str("fe00::1\tip6-allnodes\n");
    s.push_str("fe00::2\tip6-allrouters\n");
    for ip in ips {
        if domain.is_empty() {
            s.push_str(&format!("{ip}\t{hostname}\n"));
        } else {
            s.push_str(&format!("{ip}\t{hostname}.{domain}\t{hostname}\n"));
        }
    }
    s.push_str(&alias_entries(aliases));
    s
}

/// The hosts file of a pod on the host network: the node's file under a header.
pub(crate) fn host_network_content(node_hosts: &[u8], aliases: &[HostAlias]) -> Vec<u8> {
    let mut v = MANAGED_HEADER_HOST_NETWORK.as_bytes().to_vec();
    v.extend_from_slice(node_hosts);
    v.extend_from_slice(alias_entries(aliases).as_bytes());
    v
}

fn alias_entries(aliases: &[HostAlias]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n# Entries added by HostAliases.\n");
    for a in aliases {
        let names = a.hostnames.as_deref().unwrap_or_default().join("\t");
        s.push_str(&format!("{}\t{names}\n", a.ip));
    }
    s
}

/// Writes `content` to `path` with mode 0644, in place, unless it already holds exactly that.
pub(crate) fn write_in_place(path: &Path, content: &[u8]) -> Result<(), String> {
    if fs::read(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| io_message("open", path, &e))?;
    f.write_all(content)
        .map_err(|e| io_message("write", path, &e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
        .map_err(|e| io_message("chmod", path, &e))
}

/// Reads the node's hosts file.
pub(crate) fn read_node_hosts(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e: io::Error| io_message("open", path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn hostname_and_domain() {
        let p = pod(json!({"metadata": {"name": "web-0", "namespace": "ns"},
            "spec": {"containers": [], "hostname": "h", "subdomain": "svc"}}));
        assert_eq!(
            pod_hostname_and_domain(&p, "cluster.local").unwrap(),
            ("h".to_string(), "svc.ns.svc.cluster.local".to_string())
        );
        let long = format!("{}-{}", "a".repeat(62), "b".repeat(10));
        let p = pod(json!({"metadata": {"name": long}, "spec": {"containers": []}}));
        assert_eq!(
            pod_hostname_and_domain(&p, "cluster.local").unwrap(),
            ("a".repeat(62), String::new())
        );
        let p = pod(
            json!({"metadata": {"name": "x"}, "spec": {"containers": [], "hostname": "Bad_Name"}}),
        );
        assert!(pod_hostname_and_domain(&p, "c").unwrap_err().starts_with(
            "pod Hostname \"Bad_Name\" is not a valid DNS label: a lowercase RFC 1123 label"
        ));
    }

    #[test]
    fn managed_file_matches_upstream() {
        let aliases: Vec<HostAlias> = serde_json::from_value(json!([
            {"ip": "10.0.0.1", "hostnames": ["foo.local", "bar.local"]},
            {"ip": "10.0.0.2", "hostnames": ["baz"]}
        ]))
        .unwrap();
        let with_domain = managed_content(
            &["10.244.1.5".into(), "fd00::5".into()],
            "web-0",
            "svc.ns.svc.cluster.local",
            &aliases,
        );
        assert_eq!(
            with_domain,
            "# Kubernetes-managed hosts file.\n\
             127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             fe00::0\tip6-mcastprefix\n\
             fe00::1\tip6-allnodes\n\
             fe00::2\tip6-allrouters\n\
             10.244.1.5\tweb-0.svc.ns.svc.cluster.local\tweb-0\n\
             fd00::5\tweb-0.svc.ns.svc.cluster.local\tweb-0\n\
             \n\
             # Entries added by HostAliases.\n\
             10.0.0.1\tfoo.local\tbar.local\n\
             10.0.0.2\tbaz\n"
        );
        let plain = managed_content(&["10.244.1.5".into()], "web", "", &[]);
        assert!(plain.ends_with("fe00::2\tip6-allrouters\n10.244.1.5\tweb\n"));
        let host = host_network_content(b"127.0.0.1 localhost\n", &aliases[1..]);
        assert_eq!(
            String::from_utf8(host).unwrap(),
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n\n# Entries added by HostAliases.\n10.0.0.2\tbaz\n"
        );
    }

    #[test]
    fn rewrites_in_place() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("etc-hosts");
        write_in_place(&p, b"one\n").unwrap();
        let ino = fs::metadata(&p).unwrap().ino();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
        write_in_place(&p, b"two\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two\n");
        assert_eq!(fs::metadata(&p).unwrap().ino(), ino);
    }
}
