//! The pod network of one node as a CNI config for containerd: a Linux bridge with host-local
//! addresses from the node's `spec.podCIDR` (the node is the pods' gateway, at the first
//! address) and portmap for `hostPort`. containerd brings up `lo` by itself.

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The file name containerd reads (the only file in the conf dir).
pub const CONFLIST: &str = "10-barge.conflist";

/// The pods' gateway on a pod CIDR (its first address) and the CIDR's prefix length.
fn gateway(pod_cidr: &str) -> Result<(Ipv4Addr, u8)> {
    let invalid = || format!("invalid pod CIDR {pod_cidr:?}");
    let (net, len) = pod_cidr.split_once('/').with_context(invalid)?;
    let net: Ipv4Addr = net.parse().with_context(invalid)?;
    let len: u8 = len.parse().with_context(invalid)?;
    if len > 30 {
        bail!("pod CIDR {pod_cidr} is too small");
    }
    Ok((Ipv4Addr::from(u32::from(net) + 1), len))
}

/// The conflist for a node's pod CIDR (IPv4 `a.b.c.d/len`).
pub fn conflist(bridge: &str, pod_cidr: &str, ipam_dir: &Path) -> Result<Value> {
    let (gateway, _) = gateway(pod_cidr)?;
    Ok(json!({
        "cniVersion": "1.0.0",
        "name": "barge",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr, "gateway": gateway.to_string()}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": ipam_dir,
                }
            },
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    }))
}

/// Writes the conflist into `conf_dir` (atomically: containerd watches the directory).
pub fn write(conf_dir: &Path, bridge: &str, pod_cidr: &str, ipam_dir: &Path) -> Result<()> {
    let text = serde_json::to_vec_pretty(&conflist(bridge, pod_cidr, ipam_dir)?)?;
    std::fs::create_dir_all(conf_dir)
        .with_context(|| format!("creating {}", conf_dir.display()))?;
    let tmp = conf_dir.join(".barge.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, conf_dir.join(CONFLIST))
        .with_context(|| format!("writing {}", conf_dir.join(CONFLIST).display()))
}

/// Makes the bridge with the pods' gateway address, unless it exists (the CNI bridge plugin
/// would make it at the first pod, but the node's DNS server listens on that address before any
/// pod runs). The plugin accepts a bridge that has its gateway address already.
pub async fn ensure_bridge(bridge: &str, pod_cidr: &str) -> Result<()> {
    let (gateway, len) = gateway(pod_cidr)?;
    let gateway = format!("{gateway}/{len}");
    let exists = tokio::process::Command::new("ip")
        .args(["link", "show", "dev", bridge])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if !exists {
        ip(&["link", "add", bridge, "type", "bridge"]).await?;
    }
    ip(&["addr", "replace", &gateway, "dev", bridge]).await?;
    ip(&["link", "set", bridge, "up"]).await
}

async fn ip(args: &[&str]) -> Result<()> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .output()
        .await
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_on_the_pod_cidr_with_the_node_as_gateway() {
        let c = conflist("barge0", "10.42.3.0/24", Path::new("/var/lib/x/ipam")).unwrap();
        let bridge = &c["plugins"][0];
        assert_eq!(bridge["bridge"], "barge0");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.42.3.0/24");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["gateway"], "10.42.3.1");
        assert_eq!(bridge["ipam"]["dataDir"], "/var/lib/x/ipam");
        assert_eq!(c["plugins"][1]["type"], "portmap");
        assert!(conflist("b", "10.42.3.0", Path::new("/")).is_err());
        assert!(conflist("b", "x/24", Path::new("/")).is_err());
        assert!(conflist("b", "10.0.0.0/31", Path::new("/")).is_err());
    }

    #[test]
    fn writes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "barge0", "10.42.0.0/24", Path::new("/tmp/ipam")).unwrap();
        let text = std::fs::read_to_string(dir.path().join(CONFLIST)).unwrap();
        assert!(text.contains("10.42.0.1"));
    }
}
