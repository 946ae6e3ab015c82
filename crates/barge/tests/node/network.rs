//! Services on a real node: cluster IPs, NodePorts and load balancer IPs through the proxy's
//! nftables table, names through the node's DNS server, reached from pods and from the host.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::{IMAGE, Node, can_run};

/// A GET of `/` at `addr` from this process (the host): the body, or the error.
fn http_get(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// `wget` of `url` from inside the client pod: the body (empty on failure).
async fn wget_from_pod(node: &Node, url: &str) -> String {
    let out = node
        .kubectl(&["exec", "client", "--", "timeout", "5", "wget", "-qO-", url])
        .await;
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn services_dns_node_ports_and_load_balancers() {
    if !can_run() {
        return;
    }
    let mut node = Node::start().await;
    let ns_ip = node
        .get(
            &format!("node/{}", node.name),
            "{.status.addresses[?(@.type==\"InternalIP\")].address}",
        )
        .await;
    node.ok(&[
        "create",
        "deployment",
        "my-api",
        "--image",
        IMAGE,
        "--replicas",
        "3",
        "--",
        "sh",
        "-c",
        "mkdir -p /www; echo served-by-$(hostname) > /www/index.html; exec httpd -f -p 8080 -h /www",
    ])
    .await;
    node.ok(&[
        "expose",
        "deployment",
        "my-api",
        "--port",
        "80",
        "--target-port",
        "8080",
    ])
    .await;
    node.ok(&[
        "run",
        "client",
        "--image",
        IMAGE,
        "--restart",
        "Never",
        "--",
        "sleep",
        "3600",
    ])
    .await;
    node.ok(&["rollout", "status", "deployment/my-api", "--timeout=60s"])
        .await;
    node.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/client",
        "--timeout=60s",
    ])
    .await;

    // A fourth pod reaches the Service by its short name (DNS search path, the cluster IP,
    // DNAT), and 30 requests reach all three backends.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let body = wget_from_pod(&node, "http://my-api").await;
        assert!(
            body.starts_with("served-by-my-api-"),
            "answer: {body:?}\n{}",
            node.log_tail()
        );
        seen.insert(body);
    }
    assert_eq!(seen.len(), 3, "every endpoint answers: {seen:?}");
    let full = wget_from_pod(&node, "http://my-api.default.svc.cluster.local").await;
    assert!(full.starts_with("served-by-my-api-"), "{full:?}");

    // A backend deleted: within 2 s it gets no more traffic, and no request fails after that.
    let victim = seen.iter().next().cloned().unwrap_or_default();
    let victim_pod = victim.trim_start_matches("served-by-").to_owned();
    node.ok(&["delete", "pod", &victim_pod, "--wait=false"])
        .await;
    let deleted = std::time::Instant::now();
    let mut after = 0;
    while deleted.elapsed() < Duration::from_secs(8) {
        let body = wget_from_pod(&node, "http://my-api").await;
        if deleted.elapsed() > Duration::from_secs(2) {
            assert!(
                body.starts_with("served-by-my-api-") && body != victim,
                "request {after} after the deletion: {body:?}"
            );
            after += 1;
        }
    }
    assert!(after >= 5, "a steady loop: {after} requests checked");
    node.ok(&[
        "wait",
        "--for=delete",
        &format!("pod/{victim_pod}"),
        "--timeout=60s",
    ])
    .await;
    node.ok(&["rollout", "status", "deployment/my-api", "--timeout=60s"])
        .await;

    // The host reaches the cluster IP too.
    let cluster_ip = node.get("svc/my-api", "{.spec.clusterIP}").await;
    let addr: SocketAddr = format!("{cluster_ip}:80").parse().expect("cluster IP");
    let body = http_get(addr).expect("host to cluster IP");
    assert!(body.contains("served-by-my-api-"), "{body}");

    // Session affinity: one client, one backend.
    node.ok(&[
        "patch",
        "svc",
        "my-api",
        "-p",
        r#"{"spec":{"sessionAffinity":"ClientIP"}}"#,
    ])
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut sticky = std::collections::BTreeSet::new();
    for _ in 0..8 {
        sticky.insert(wget_from_pod(&node, "http://my-api").await);
    }
    assert_eq!(
        sticky.len(),
        1,
        "one backend with ClientIP affinity: {sticky:?}"
    );

    // NodePort: on the node's address.
    node.ok(&[
        "expose",
        "deployment",
        "my-api",
        "--name",
        "web-np",
        "--type",
        "NodePort",
        "--port",
        "80",
        "--target-port",
        "8080",
    ])
    .await;
    let node_port = node.get("svc/web-np", "{.spec.ports[0].nodePort}").await;
    let addr: SocketAddr = format!("{ns_ip}:{node_port}").parse().expect("node port");
    node.eventually("the NodePort answers", Duration::from_secs(10), || async {
        http_get(addr).is_ok_and(|b| b.contains("served-by-my-api-"))
    })
    .await;

    // LoadBalancer: an external address from the node's own (the default pool), shown by
    // kubectl instead of <pending>, and answering.
    let lb_port = 20_000 + std::process::id() % 10_000;
    node.ok(&[
        "expose",
        "deployment",
        "my-api",
        "--name",
        "web-lb",
        "--type",
        "LoadBalancer",
        "--port",
        &lb_port.to_string(),
        "--target-port",
        "8080",
    ])
    .await;
    node.eventually(
        "the load balancer has an address",
        Duration::from_secs(10),
        || async {
            node.get("svc/web-lb", "{.status.loadBalancer.ingress[0].ip}")
                .await
                == ns_ip
        },
    )
    .await;
    let listing = node.ok(&["get", "svc", "web-lb"]).await;
    assert!(
        listing.contains(&ns_ip) && !listing.contains("<pending>"),
        "{listing}"
    );
    let addr: SocketAddr = format!("{ns_ip}:{lb_port}").parse().expect("lb address");
    node.eventually(
        "the load balancer answers",
        Duration::from_secs(10),
        || async { http_get(addr).is_ok_and(|b| b.contains("served-by-my-api-")) },
    )
    .await;

    // A Service without endpoints refuses connections at once instead of letting them hang.
    node.ok(&["create", "service", "clusterip", "nobody", "--tcp=80:80"])
        .await;
    let empty_ip = node.get("svc/nobody", "{.spec.clusterIP}").await;
    let addr: SocketAddr = format!("{empty_ip}:80").parse().expect("cluster IP");
    node.eventually(
        "the empty Service refuses",
        Duration::from_secs(10),
        || async {
            matches!(http_get(addr), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
        },
    )
    .await;

    // DNS: a headless Service's pods, an ExternalName's alias, SRV for named ports.
    node.apply(
        r#"apiVersion: v1
kind: Service
metadata: {name: web-headless}
spec:
  clusterIP: None
  selector: {app: my-api}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: docs}
spec: {type: ExternalName, externalName: docs.example.org}
"#,
    )
    .await;
    let pod_ips = node
        .ok(&[
            "get",
            "pods",
            "-l",
            "app=my-api",
            "-o",
            "jsonpath={.items[*].status.podIP}",
        ])
        .await;
    node.eventually(
        "the headless name lists the pods",
        Duration::from_secs(10),
        || async {
            let out = node
                .kubectl(&[
                    "exec",
                    "client",
                    "--",
                    "nslookup",
                    "web-headless.default.svc.cluster.local",
                ])
                .await;
            let text = String::from_utf8_lossy(&out.stdout);
            pod_ips.split_whitespace().all(|ip| text.contains(ip))
        },
    )
    .await;
    let out = node
        .kubectl(&[
            "exec",
            "client",
            "--",
            "nslookup",
            "-type=cname",
            "docs.default.svc.cluster.local",
        ])
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("docs.example.org"), "{text}");
    let out = node
        .kubectl(&[
            "exec",
            "client",
            "--",
            "nslookup",
            "-type=srv",
            "_http._tcp.web-headless.default.svc.cluster.local",
        ])
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("8080"), "{text}");
    let out = node
        .kubectl(&[
            "exec",
            "client",
            "--",
            "nslookup",
            "no-such-service.default.svc.cluster.local",
        ])
        .await;
    assert!(!out.status.success(), "unknown names fail");

    // A clean stop removes the proxy's table.
    node.stop();
    let out = std::process::Command::new("nft")
        .args(["list", "table", "ip", &node.nft_table])
        .output()
        .expect("nft runs");
    assert!(
        !out.status.success(),
        "the table is gone after a clean stop"
    );
}
