//! Authentication and authorization, driven by the real kubectl with other users' kubeconfigs
//! (client certificates from the cluster CA, ServiceAccount tokens, none) and by a raw HTTPS
//! client where the exact answer matters.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use barge_apiserver::tls::Pair;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};

use crate::Cluster;

/// Credentials for [`raw`].
enum Creds<'a> {
    None,
    Cert(&'a Pair),
    Token(&'a str),
}

/// One HTTPS request to the server; the status and the body.
async fn raw(c: &Cluster, creds: Creds<'_>, method: &str, path: &str) -> (u16, String) {
    raw_with(c, creds, method, path, &[]).await
}

/// [`raw`] with more headers.
async fn raw_with(
    c: &Cluster,
    creds: Creds<'_>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(c.server.certs.ca.cert_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match &creds {
        Creds::Cert(pair) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        _ => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let addr = std::net::SocketAddr::new([127, 0, 0, 1].into(), c.server.addr.port());
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if let Creds::Token(t) = creds {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const UNAUTHORIZED: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_reach_only_health_and_version() {
    let c = Cluster::start().await;
    for path in ["/healthz", "/livez", "/readyz", "/readyz/ping", "/version"] {
        let (code, body) = raw(&c, Creds::None, "GET", path).await;
        assert_eq!(code, 200, "{path}: {body}");
    }
    for path in [
        "/api",
        "/apis",
        "/api/v1/namespaces/default/pods",
        "/apis/apps/v1/namespaces/default/deployments",
        "/metrics",
        "/openapi/v3",
    ] {
        let (code, body) = raw(&c, Creds::None, "GET", path).await;
        assert_eq!(code, 401, "{path}");
        let got: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(got, serde_json::from_str::<Value>(UNAUTHORIZED).unwrap());
    }

    // Tokens that do not authenticate: garbage, expired, for another audience.
    let signer = &c.server.state.signer;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |exp: u64, aud: &str| {
        json!({"iss": barge_apiserver::tokens::ISSUER, "aud": [aud], "exp": exp, "iat": now - 7200,
               "sub": "system:serviceaccount:default:default",
               "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "default"}}})
    };
    let expired = signer.sign(&claims(now - 60, barge_apiserver::tokens::ISSUER));
    let elsewhere = signer.sign(&claims(now + 600, "vault"));
    for token in ["garbage", expired.as_str(), elsewhere.as_str()] {
        let (code, body) = raw(&c, Creds::Token(token), "GET", "/api").await;
        assert_eq!(code, 401);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            serde_json::from_str::<Value>(UNAUTHORIZED).unwrap()
        );
    }
    // An invalid token is refused even where anonymous requests are welcome.
    let (code, _) = raw(&c, Creds::Token("garbage"), "GET", "/healthz").await;
    assert_eq!(code, 401);
    // A token of this server for the API's audience works.
    c.ok(&["create", "serviceaccount", "probe"]).await;
    let token = c.ok(&["create", "token", "probe"]).await;
    let (code, _) = raw(&c, Creds::Token(token.trim()), "GET", "/api").await;
    assert_eq!(code, 200, "a valid token reaches discovery");

    // (kubectl without credentials asks for a password before any request: the raw client
    // above is the anonymous one.) With a bad token kubectl says why it failed.
    let bad = c.token_kubeconfig("bad", "not.a.token");
    let out = c.kubectl_as(&bad, &["get", "pods"]).await;
    assert!(
        stderr(&out).contains("You must be logged in to the server"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_certificate_is_forbidden_until_a_role_binding_grants_it() {
    let c = Cluster::start().await;
    c.ok(&["create", "namespace", "team"]).await;
    let alice = c.cert_kubeconfig("alice", "alice", Some("devs"));

    let out = c.kubectl_as(&alice, &["get", "pods", "-n", "team"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        r#"Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team""#
    );
    let pair = c.server.certs.issue_client("alice", Some("devs")).unwrap();
    let (code, body) = raw(
        &c,
        Creds::Cert(&pair),
        "GET",
        "/apis/apps/v1/namespaces/team/deployments/web",
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "deployments.apps \"web\" is forbidden: User \"alice\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"team\"",
               "reason": "Forbidden", "details": {"name": "web", "group": "apps", "kind": "deployments"},
               "code": 403})
    );
    let (code, body) = raw(&c, Creds::Cert(&pair), "GET", "/logs").await;
    assert_eq!(code, 403);
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status["message"],
        "forbidden: User \"alice\" cannot get path \"/logs\""
    );
    // Discovery and health are every authenticated user's (system:discovery,
    // system:public-info-viewer).
    let (code, _) = raw(&c, Creds::Cert(&pair), "GET", "/apis").await;
    assert_eq!(code, 200);

    c.ok(&[
        "create",
        "rolebinding",
        "alice-view",
        "--clusterrole=view",
        "--user=alice",
        "-n",
        "team",
    ])
    .await;
    let out = c
        .kubectl_as(&alice, &["auth", "can-i", "list", "pods", "-n", "team"])
        .await;
    assert_eq!(stdout(&out).trim(), "yes");
    let out = c
        .kubectl_as(&alice, &["auth", "can-i", "delete", "pods", "-n", "team"])
        .await;
    assert_eq!((stdout(&out).trim(), out.status.code()), ("no", Some(1)));
    let out = c
        .kubectl_as(&alice, &["auth", "can-i", "list", "pods", "-n", "default"])
        .await;
    assert_eq!(stdout(&out).trim(), "no");

    let out = c.kubectl_as(&alice, &["get", "pods", "-n", "team"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("No resources found in team namespace."));
    let out = c
        .kubectl_as(&alice, &["get", "pods", "-n", "default"])
        .await;
    assert!(
        stderr(&out).contains(
            r#"User "alice" cannot list resource "pods" in API group "" in the namespace "default""#
        ),
        "{}",
        stderr(&out)
    );
    let out = c
        .kubectl_as(&alice, &["create", "configmap", "x", "-n", "team"])
        .await;
    assert!(
        stderr(&out).contains(
            r#"configmaps is forbidden: User "alice" cannot create resource "configmaps""#
        ),
        "{}",
        stderr(&out)
    );

    // kubectl auth can-i --list: the view role's rules in the namespace.
    let out = c
        .kubectl_as(&alice, &["auth", "can-i", "--list", "-n", "team"])
        .await;
    let list = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let pods = list
        .lines()
        .find(|l| l.starts_with("pods "))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(pods.contains("[get list watch]"), "{pods}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("selfsubjectaccessreviews.authorization.k8s.io")),
        "{list}"
    );

    let out = c
        .kubectl_as(&alice, &["auth", "whoami", "-o", "json"])
        .await;
    let who: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(who["kind"], "SelfSubjectReview");
    assert_eq!(who["status"]["userInfo"]["username"], "alice");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        json!(["devs", "system:authenticated"])
    );

    // A binding to the group counts too.
    c.ok(&[
        "create",
        "rolebinding",
        "devs-edit",
        "--clusterrole=edit",
        "--group=devs",
        "-n",
        "team",
    ])
    .await;
    let out = c
        .kubectl_as(&alice, &["create", "configmap", "x", "-n", "team"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    // Removing the bindings takes the rights away again.
    c.ok(&[
        "delete",
        "rolebinding",
        "devs-edit",
        "alice-view",
        "-n",
        "team",
    ])
    .await;
    let out = c
        .kubectl_as(&alice, &["get", "configmaps", "-n", "team"])
        .await;
    assert!(stderr(&out).contains("Forbidden"), "{}", stderr(&out));

    // The admin may do everything, and says so.
    let out = c.ok(&["auth", "can-i", "--list"]).await;
    assert!(
        out.lines()
            .any(|l| l.starts_with("*.*") && l.contains("[*]")),
        "{out}"
    );
    assert_eq!(
        c.ok(&["auth", "can-i", "delete", "nodes"]).await.trim(),
        "yes"
    );
    let who = c.ok(&["auth", "whoami"]).await;
    assert!(
        who.contains("system:admin") && who.contains("system:masters"),
        "{who}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_token_works_per_rbac_until_the_account_is_deleted() {
    let c = Cluster::start().await;
    c.ok(&["create", "namespace", "team"]).await;
    c.ok(&["create", "serviceaccount", "robot", "-n", "team"])
        .await;
    let token = c.ok(&["create", "token", "robot", "-n", "team"]).await;
    let robot = c.token_kubeconfig("robot", &token);

    let out = c
        .kubectl_as(&robot, &["get", "configmaps", "-n", "team"])
        .await;
    assert!(
        stderr(&out).contains(
            r#"User "system:serviceaccount:team:robot" cannot list resource "configmaps""#
        ),
        "{}",
        stderr(&out)
    );
    c.ok(&[
        "create",
        "rolebinding",
        "robot-edit",
        "--clusterrole=edit",
        "--serviceaccount=team:robot",
        "-n",
        "team",
    ])
    .await;
    let out = c
        .kubectl_as(
            &robot,
            &["create", "configmap", "made-by-robot", "-n", "team"],
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = c
        .kubectl_as(&robot, &["get", "configmaps", "-n", "team"])
        .await;
    assert!(stdout(&out).contains("made-by-robot"));
    let out = c
        .kubectl_as(&robot, &["get", "pods", "-n", "default"])
        .await;
    assert!(stderr(&out).contains("Forbidden"), "{}", stderr(&out));

    let out = c
        .kubectl_as(&robot, &["auth", "whoami", "-o", "json"])
        .await;
    let who: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let info = &who["status"]["userInfo"];
    assert_eq!(info["username"], "system:serviceaccount:team:robot");
    assert_eq!(
        info["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:team",
            "system:authenticated"
        ])
    );
    let sa_uid = c
        .ok(&[
            "get",
            "sa",
            "robot",
            "-n",
            "team",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .await;
    assert_eq!(info["uid"], sa_uid.as_str());
    let credential = info["extra"]["authentication.kubernetes.io/credential-id"][0]
        .as_str()
        .unwrap();
    assert!(credential.starts_with("JTI="), "{credential}");

    // TokenReview answers with the authenticator's result.
    let review = |token: &str| {
        format!(
            "apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: {}\n",
            token.trim()
        )
    };
    let file = c.file("review.yaml", &review(&token));
    let out = c
        .ok(&["create", "-f", file.to_str().unwrap(), "-o", "json"])
        .await;
    let status = &serde_json::from_str::<Value>(&out).unwrap()["status"];
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(
        status["user"]["username"],
        "system:serviceaccount:team:robot"
    );
    assert_eq!(
        status["audiences"],
        json!([barge_apiserver::tokens::ISSUER])
    );
    let file = c.file("bad-review.yaml", &review("not.a.token"));
    let out = c
        .ok(&["create", "-f", file.to_str().unwrap(), "-o", "json"])
        .await;
    let status = &serde_json::from_str::<Value>(&out).unwrap()["status"];
    assert!(status["authenticated"].is_null(), "{status}");
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("invalid bearer token")
    );
    // Reviews are not stored.
    let (code, _) = raw(
        &c,
        Creds::Token(token.trim()),
        "GET",
        "/apis/authentication.k8s.io/v1/tokenreviews",
    )
    .await;
    assert_ne!(code, 200);

    // The account's deletion ends its tokens.
    c.ok(&["delete", "serviceaccount", "robot", "-n", "team"])
        .await;
    let mut last = String::new();
    for _ in 0..50 {
        let out = c
            .kubectl_as(&robot, &["get", "configmaps", "-n", "team"])
            .await;
        last = stderr(&out);
        if last.contains("Unauthorized") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        last.contains("You must be logged in to the server"),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_updates_only_its_own_node_and_reads_only_its_pods_secrets() {
    let c = Cluster::start().await;
    for node in ["n1", "n2"] {
        let f = c.file(
            &format!("{node}.yaml"),
            &format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {node}\n"),
        );
        c.ok(&["create", "-f", f.to_str().unwrap()]).await;
    }
    c.ok(&["create", "secret", "generic", "s1", "--from-literal=k=v"])
        .await;
    let n1 = c.cert_kubeconfig("n1", "system:node:n1", Some("system:nodes"));

    let status = r#"{"status":{"capacity":{"pods":"11"}}}"#;
    let patch = |node: &'static str| {
        [
            "patch",
            "node",
            node,
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ]
    };
    let out = c.kubectl_as(&n1, &patch("n1")).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = c.kubectl_as(&n1, &patch("n2")).await;
    assert!(
        stderr(&out).contains(r#"nodes "n2" is forbidden: User "system:node:n1" cannot patch resource "nodes/status" in API group "" at the cluster scope: node "n1" is not allowed to modify node "n2""#),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        c.ok(&[
            "get",
            "node",
            "n2",
            "-o",
            "jsonpath={.status.capacity.pods}"
        ])
        .await,
        ""
    );
    let out = c.kubectl_as(&n1, &["get", "nodes"]).await;
    assert!(stdout(&out).contains("n2"), "nodes are readable");

    // Its Lease, not another's.
    let lease = |name: &str| {
        format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: {name}\n  namespace: kube-node-lease\nspec:\n  holderIdentity: {name}\n"
        )
    };
    let f = c.file("lease1.yaml", &lease("n1"));
    let out = c
        .kubectl_as(&n1, &["create", "-f", f.to_str().unwrap()])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let f = c.file("lease2.yaml", &lease("n2"));
    let out = c
        .kubectl_as(&n1, &["create", "-f", f.to_str().unwrap()])
        .await;
    assert!(stderr(&out).contains("Forbidden"), "{}", stderr(&out));

    // A secret only once a pod bound to the node uses it.
    let no_relationship = "no relationship found between node 'n1' and this object";
    let out = c.kubectl_as(&n1, &["get", "secret", "s1"]).await;
    assert!(
        stderr(&out).contains(&format!(
            r#"secrets "s1" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": {no_relationship}"#
        )),
        "{}",
        stderr(&out)
    );
    let pod = |name: &str, node: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: {node}\n  containers:\n  - name: c\n    image: busybox\n    env:\n    - name: K\n      valueFrom:\n        secretKeyRef:\n          name: s1\n          key: k\n"
        )
    };
    let f = c.file("elsewhere.yaml", &pod("elsewhere", "n2"));
    c.ok(&["create", "-f", f.to_str().unwrap()]).await;
    let out = c.kubectl_as(&n1, &["get", "secret", "s1"]).await;
    assert!(stderr(&out).contains(no_relationship), "{}", stderr(&out));
    let out = c.kubectl_as(&n1, &["delete", "pod", "elsewhere"]).await;
    assert!(
        stderr(&out).contains(r#"node "n1" can only delete pods"#),
        "{}",
        stderr(&out)
    );

    let f = c.file("here.yaml", &pod("here", "n1"));
    c.ok(&["create", "-f", f.to_str().unwrap()]).await;
    let mut out = c
        .kubectl_as(&n1, &["get", "secret", "s1", "-o", "name"])
        .await;
    for _ in 0..20 {
        if out.status.success() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        out = c
            .kubectl_as(&n1, &["get", "secret", "s1", "-o", "name"])
            .await;
    }
    assert_eq!(stdout(&out).trim(), "secret/s1", "{}", stderr(&out));
    let out = c.kubectl_as(&n1, &["get", "secrets"]).await;
    assert!(stderr(&out).contains("Forbidden"), "no listing secrets");
    let out = c
        .kubectl_as(
            &n1,
            &[
                "patch",
                "pod",
                "here",
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"phase":"Running"}}"#,
            ],
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = c
        .kubectl_as(
            &n1,
            &[
                "patch",
                "pod",
                "elsewhere",
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"phase":"Running"}}"#,
            ],
        )
        .await;
    assert!(stderr(&out).contains("Forbidden"), "{}", stderr(&out));
    let out = c
        .kubectl_as(&n1, &["delete", "pod", "here", "--wait=false"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_policy_is_stored_and_aggregated_roles_follow_new_roles() {
    let c = Cluster::start().await;
    let admin: Value =
        serde_json::from_str(&c.ok(&["get", "clusterrole", "admin", "-o", "json"]).await).unwrap();
    assert!(admin["aggregationRule"].is_object(), "{admin}");
    let rules = admin["rules"].as_array().expect("aggregated rules stored");
    assert!(
        rules.iter().any(|r| r["resources"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("deployments")))),
        "{admin}"
    );
    let binding = c
        .ok(&["get", "clusterrolebinding", "cluster-admin", "-o", "json"])
        .await;
    assert!(binding.contains("system:masters"), "{binding}");

    // A new role labelled for aggregation into view shows up in view's rules, and in what a
    // viewer may do (view alone may not read secrets).
    let role = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: secrets-view
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: \"true\"
rules:
- apiGroups: [\"\"]
  resources: [\"secrets\"]
  resourceNames: [\"shared\"]
  verbs: [\"get\"]
";
    let f = c.file("widgets.yaml", role);
    c.ok(&["create", "-f", f.to_str().unwrap()]).await;
    let mut view = String::new();
    for _ in 0..50 {
        view = c.ok(&["get", "clusterrole", "view", "-o", "json"]).await;
        if view.contains("\"shared\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(view.contains("\"shared\""), "{view}");
    c.ok(&[
        "create",
        "clusterrolebinding",
        "bob-view",
        "--clusterrole=view",
        "--user=bob",
    ])
    .await;
    let can = |what: &'static str| ["auth", "can-i", "get", what, "--as=bob", "-n", "default"];
    assert_eq!(c.ok(&can("secret/shared")).await.trim(), "yes");
    let out = c.kubectl(&can("secret/other")).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    // Impersonating needs the right to.
    let alice = c.server.certs.issue_client("alice", None).unwrap();
    let (code, body) = raw_with(
        &c,
        Creds::Cert(&alice),
        "GET",
        "/api/v1/namespaces/default/pods",
        &[("impersonate-user", "bob")],
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["message"],
        r#"users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope"#
    );
}
