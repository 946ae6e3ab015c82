//! In-cluster clients: from a pod's network namespace, the API server at the `kubernetes`
//! Service's address (through the service proxy) with the pod's mounted ServiceAccount token
//! and CA, allowed exactly what RBAC grants the account. (The client is the real kubectl run
//! with `nsenter --net` into the pod: busybox's TLS cannot talk to rustls.)

use crate::{IMAGE, Node, can_run};

/// This machine's address towards its default route (the API server listens there, so that
/// pods reach it through the `kubernetes` Service).
fn host_ip() -> String {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("a UDP socket");
    // No packet is sent: connecting a UDP socket only picks the route and source address.
    socket.connect("198.51.100.1:9").expect("a route");
    socket.local_addr().expect("an address").ip().to_string()
}

/// The host pid of the pod's `sleep` (to enter the pod's network namespace).
fn sleeper_pid(node: &str) -> String {
    crate::cgroup_processes(node)
        .into_iter()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"sleep\x003600\x00")
        })
        .expect("the pod's sleep process")
}

/// kubectl run inside the pod's network namespace, with the kubeconfig a pod would build from
/// its mounted ServiceAccount files (`with_token`) or without credentials: (success, output).
async fn kubectl_in_pod(
    node: &Node,
    kubeconfig: &std::path::Path,
    args: &[&str],
) -> (bool, String) {
    let pid = sleeper_pid(&node.name);
    let out = tokio::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .arg("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .await
        .expect("nsenter runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn a_pod_uses_the_api_as_rbac_allows_its_service_account() {
    if !can_run() {
        return;
    }
    let ip = host_ip();
    let node = Node::start_with(|n| n.bind_address = ip).await;
    node.ok(&["create", "serviceaccount", "reader"]).await;
    node.ok(&[
        "run",
        "reader",
        "--image",
        IMAGE,
        "--restart",
        "Never",
        "--overrides",
        r#"{"spec": {"serviceAccountName": "reader"}}"#,
        "--",
        "sleep",
        "3600",
    ])
    .await;
    node.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/reader",
        "--timeout=60s",
    ])
    .await;

    // What an in-cluster client has: the Service's address, the mounted token and CA.
    let cluster_ip = node.get("svc/kubernetes", "{.spec.clusterIP}").await;
    let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    let token = node
        .ok(&["exec", "reader", "--", "cat", &format!("{sa}/token")])
        .await;
    let ca = node
        .ok(&["exec", "reader", "--", "cat", &format!("{sa}/ca.crt")])
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("ca.crt"), &ca).expect("CA written");
    let kubeconfig = |name: &str, user: &str| {
        let path = dir.path().join(name);
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"https://{cluster_ip}\", certificate-authority: {}}}}}]\nusers: [{{name: u, user: {user}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\n",
            dir.path().join("ca.crt").display()
        );
        std::fs::write(&path, text).expect("kubeconfig written");
        path
    };
    // (An empty user would make kubectl prompt for a password; a token that is not one is
    // refused the same way: 401.)
    let stranger = kubeconfig("stranger", "{token: not-a-service-account-token}");
    let account = kubeconfig("account", &format!("{{token: {}}}", token.trim()));

    // Without a valid token: refused.
    let (ok, out) = kubectl_in_pod(&node, &stranger, &["get", "pods"]).await;
    assert!(
        !ok && out.contains("You must be logged in to the server"),
        "a stranger: {out}"
    );
    // With its token but no grant: authenticated, forbidden, in upstream's words.
    let (ok, out) = kubectl_in_pod(&node, &account, &["get", "pods"]).await;
    assert!(
        !ok && out.contains(
            "User \"system:serviceaccount:default:reader\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        ),
        "no grant yet: {out}"
    );

    node.ok(&[
        "create",
        "rolebinding",
        "reader-view",
        "--clusterrole=view",
        "--serviceaccount=default:reader",
    ])
    .await;
    let (ok, out) = kubectl_in_pod(&node, &account, &["get", "pods"]).await;
    assert!(ok && out.contains("reader"), "granted: {out}");
    // Only where it was granted, and only reading.
    let (ok, out) = kubectl_in_pod(&node, &account, &["get", "pods", "-n", "kube-system"]).await;
    assert!(!ok && out.contains("Forbidden"), "another namespace: {out}");
    let (ok, out) = kubectl_in_pod(&node, &account, &["get", "secrets"]).await;
    assert!(
        !ok && out.contains("Forbidden"),
        "view reads no secrets: {out}"
    );
    let can_i = |verb: &'static str| {
        let node = &node;
        async move {
            let out = node
                .kubectl(&[
                    "auth",
                    "can-i",
                    verb,
                    "secrets",
                    "--as=system:serviceaccount:default:reader",
                ])
                .await;
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
    };
    assert_eq!(can_i("list").await, "no");
    // A Role for secrets, bound to the account: now it may list them, and kubectl says so.
    node.ok(&[
        "create",
        "role",
        "secret-reader",
        "--verb=get,list",
        "--resource=secrets",
    ])
    .await;
    node.ok(&[
        "create",
        "rolebinding",
        "reader-secrets",
        "--role=secret-reader",
        "--serviceaccount=default:reader",
    ])
    .await;
    let (ok, out) = kubectl_in_pod(&node, &account, &["get", "secrets"]).await;
    assert!(ok, "granted secrets: {out}");
    assert_eq!(can_i("list").await, "yes");
    assert_eq!(can_i("delete").await, "no");
    let (ok, out) = kubectl_in_pod(
        &node,
        &account,
        &["delete", "pod", "reader", "--wait=false"],
    )
    .await;
    assert!(
        !ok && out.contains("Forbidden"),
        "view deletes nothing: {out}"
    );
}
