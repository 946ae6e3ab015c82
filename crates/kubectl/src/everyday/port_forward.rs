//! `kubectl port-forward`: local ports that reach ports of a pod (or of the pod kubectl would
//! pick for a controller or Service) through `pods/portforward`. Each accepted connection gets
//! its own WebSocket session (kube-rs's `Portforwarder`, the `v4.channel.k8s.io` protocol);
//! kubectl multiplexes them into one SPDY session instead, which nobody sees from outside.

use std::io::Write;
use std::net::SocketAddr;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use super::Session;
use super::logs::pod_for;
use crate::context::GlobalArgs;
use crate::error::{Error, Result};

const USAGE: &str = "TYPE/NAME and list of ports are required for port-forward
See 'kubectl port-forward -h' for help and examples";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// TYPE/NAME [LOCAL_PORT:]REMOTE_PORT [...[LOCAL_PORT_N:]REMOTE_PORT_N]
    words: Vec<String>,
    /// Addresses to listen on (comma separated). Only accepts IP addresses or localhost as a
    /// value. When localhost is supplied, kubectl will try to bind on both 127.0.0.1 and ::1 and
    /// will fail if neither of these addresses are available to bind.
    #[arg(long, value_delimiter = ',', default_value = "localhost")]
    address: Vec<String>,
    /// The length of time (like 5s, 2m, or 3h, higher than zero) to wait until at least one pod
    /// is running.
    #[arg(long, default_value = "1m0s")]
    pod_running_timeout: String,
}

/// One `[LOCAL:]REMOTE` argument; a remote port may be a name (of a container port, or of a
/// Service's port).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mapping {
    local: Option<u16>,
    remote: String,
}

fn parse_mapping(word: &str) -> Result<Mapping> {
    let (local, remote) = match word.split_once(':') {
        Some((l, r)) => (Some(l), r),
        None => (None, word),
    };
    let local = match local {
        None => None,
        // `:80`: a free local port.
        Some("") => Some(0),
        Some(l) => Some(l.parse::<u16>().map_err(|_| {
            Error::client(format!("Error parsing local port '{l}': invalid syntax"))
        })?),
    };
    if remote.is_empty() {
        return Err(Error::client(format!(
            "Error parsing remote port '{remote}': invalid syntax"
        )));
    }
    Ok(Mapping {
        local,
        remote: remote.to_owned(),
    })
}

/// The container port a name or number means in `pod`.
fn container_port(pod: &Value, remote: &str) -> Result<u16> {
    if let Ok(n) = remote.parse::<u16>() {
        return Ok(n);
    }
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .find(|p| p["name"] == remote)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| {
            Error::client(format!(
                "Pod '{}' does not have a named port '{remote}'",
                pod["metadata"]["name"].as_str().unwrap_or_default()
            ))
        })
}

/// A Service's port (number or name) as the pod port it targets.
fn service_target(service: &Value, remote: &str) -> Result<String> {
    let name = service["metadata"]["name"].as_str().unwrap_or_default();
    let port = service["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["name"] == remote
                || p["port"].as_u64().map(|n| n.to_string()).as_deref() == Some(remote)
        })
        .ok_or_else(|| {
            Error::client(format!(
                "Service {name} does not have a service port {remote}"
            ))
        })?;
    Ok(match &port["targetPort"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => port["port"].to_string(),
    })
}

pub async fn run(args: Args, global: &GlobalArgs) -> Result<()> {
    if args.words.len() < 2 {
        return Err(Error::client(USAGE));
    }
    let mut mappings = args.words[1..]
        .iter()
        .map(|w| parse_mapping(w))
        .collect::<Result<Vec<_>>>()?;
    let session = Session::new(global).await?;
    let ns = session.ctx.namespace.clone();
    let pods: Api<Pod> = Api::namespaced(session.ctx.client.clone(), &ns);
    let word = &args.words[0];
    if let Some((kind, name)) = word.split_once('/') {
        let resource = session.discovery.resolve(kind)?;
        if resource.kind == "Service" {
            let service = serde_json::to_value(session.api(resource, &ns).get(name).await?)?;
            for m in &mut mappings {
                m.remote = service_target(&service, &m.remote)?;
            }
        }
    }
    let pod = pod_for(&session, &pods, word).await?;
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    if phase != "Running" {
        return Err(Error::client(format!(
            "unable to forward port because pod is not running. Current status={phase}"
        )));
    }
    let pod_name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let mut listeners = Vec::new();
    for m in &mappings {
        let remote = container_port(&pod, &m.remote)?;
        let mut local = m.local.unwrap_or(remote);
        for address in addresses(&args.address)? {
            // The first listener of a `:80` mapping picks the port; the others take the same.
            let listener = match TcpListener::bind(SocketAddr::new(address, local)).await {
                Ok(l) => l,
                // kubectl only fails when neither loopback address can be bound.
                Err(_) if args.address == ["localhost"] && address.is_ipv6() => continue,
                Err(e) => {
                    return Err(Error::client(format!(
                        "unable to listen on any of the requested ports: [{{{local} {remote}}}]: {e}"
                    )));
                }
            };
            local = listener.local_addr()?.port();
            println!("Forwarding from {} -> {remote}", listener.local_addr()?);
            listeners.push((listener, remote));
        }
    }
    let _ = std::io::stdout().flush();

    let mut accepting = tokio::task::JoinSet::new();
    for (listener, remote) in listeners {
        let pods = pods.clone();
        let pod_name = pod_name.clone();
        accepting.spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    // Out of file descriptors, say: try again shortly rather than spin.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                };
                let local = listener.local_addr().map(|a| a.port()).unwrap_or_default();
                println!("Handling connection for {local}");
                let _ = std::io::stdout().flush();
                tokio::spawn(forward(pods.clone(), pod_name.clone(), conn, local, remote));
            }
        });
    }
    // Until interrupted, as kubectl.
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

/// `localhost` as both loopback addresses, else the addresses given.
fn addresses(words: &[String]) -> Result<Vec<std::net::IpAddr>> {
    let mut out = Vec::new();
    for w in words {
        if w == "localhost" {
            out.push(std::net::Ipv4Addr::LOCALHOST.into());
            out.push(std::net::Ipv6Addr::LOCALHOST.into());
        } else {
            out.push(
                w.parse()
                    .map_err(|_| Error::client(format!("{w} is not a valid IP")))?,
            );
        }
    }
    Ok(out)
}

/// One connection's bytes both ways through its own session; errors the pod's side reports
/// are printed as kubectl prints them, and the connection is closed.
async fn forward(pods: Api<Pod>, pod: String, mut conn: TcpStream, local: u16, remote: u16) {
    let failed = |e: &dyn std::fmt::Display| {
        eprintln!("error: an error occurred forwarding {local} -> {remote}: {e}");
    };
    let mut forwarder = match pods.portforward(&pod, &[remote]).await {
        Ok(f) => f,
        Err(e) => return failed(&Error::from(e).message()),
    };
    let (Some(mut upstream), Some(error)) =
        (forwarder.take_stream(remote), forwarder.take_error(remote))
    else {
        return;
    };
    let copied = tokio::io::copy_bidirectional(&mut conn, &mut upstream);
    tokio::select! {
        _ = copied => {}
        e = error => if let Some(e) = e { failed(&e) },
    }
    drop(upstream);
    let _ = forwarder.join().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mappings_parse_as_kubectl_parses_them() {
        let m = |l: Option<u16>, r: &str| Mapping {
            local: l,
            remote: r.into(),
        };
        assert_eq!(parse_mapping("80").unwrap(), m(None, "80"));
        assert_eq!(parse_mapping("8080:80").unwrap(), m(Some(8080), "80"));
        assert_eq!(parse_mapping(":http").unwrap(), m(Some(0), "http"));
        assert_eq!(
            parse_mapping("x:80").unwrap_err().to_string(),
            "error: Error parsing local port 'x': invalid syntax"
        );
    }

    #[test]
    fn named_ports_of_pods_and_services() {
        let pod = json!({"metadata": {"name": "web"}, "spec": {"containers": [
            {"ports": [{"name": "http", "containerPort": 8080}]}]}});
        assert_eq!(container_port(&pod, "http").unwrap(), 8080);
        assert_eq!(container_port(&pod, "81").unwrap(), 81);
        assert_eq!(
            container_port(&pod, "grpc").unwrap_err().to_string(),
            "error: Pod 'web' does not have a named port 'grpc'"
        );
        let svc = json!({"metadata": {"name": "web"}, "spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": "http"},
            {"port": 81, "targetPort": 9090}]}});
        assert_eq!(service_target(&svc, "80").unwrap(), "http");
        assert_eq!(service_target(&svc, "81").unwrap(), "9090");
        assert_eq!(
            service_target(&svc, "82").unwrap_err().to_string(),
            "error: Service web does not have a service port 82"
        );
    }
}
