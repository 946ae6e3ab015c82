//! The objects every cluster has from its first start, as kubectl sees them: the `kube-dns`
//! Service on the cluster DNS address (which no other Service can get), and the `kubernetes`
//! Service's EndpointSlice beside its Endpoints.

use std::sync::Arc;

use barge_store::{SqliteOptions, SqliteStore};
use serde_json::{Value, json};

use crate::Cluster;

async fn get_json(c: &Cluster, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["-o", "json"]);
    serde_json::from_str(&c.ok(&args).await).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_dns_and_the_kubernetes_endpoint_slice_exist_from_the_start() {
    let c = Cluster::start().await;
    let table = c.ok(&["get", "svc", "-n", "kube-system", "kube-dns"]).await;
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row[..5],
        [
            "kube-dns",
            "ClusterIP",
            "10.96.0.10",
            "<none>",
            "53/UDP,53/TCP,9153/TCP"
        ],
        "{table}"
    );

    let dns = get_json(&c, &["get", "svc", "-n", "kube-system", "kube-dns"]).await;
    assert_eq!(
        dns["metadata"]["labels"],
        json!({
            "k8s-app": "kube-dns",
            "kubernetes.io/cluster-service": "true",
            "kubernetes.io/name": "CoreDNS",
        })
    );
    let spec = &dns["spec"];
    assert_eq!(spec["clusterIPs"], json!(["10.96.0.10"]));
    assert!(spec.get("selector").is_none(), "{spec}");
    let ports: Vec<(String, i64, String, i64)> = spec["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["port"].as_i64().unwrap(),
                p["protocol"].as_str().unwrap().to_owned(),
                p["targetPort"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            ("dns".into(), 53, "UDP".into(), 53),
            ("dns-tcp".into(), 53, "TCP".into(), 53),
            ("metrics".into(), 9153, "TCP".into(), 9153),
        ]
    );

    // The kubernetes Service's slice says what its Endpoints say.
    let endpoints = get_json(&c, &["get", "endpoints", "kubernetes"]).await;
    let address = endpoints["subsets"][0]["addresses"][0]["ip"].clone();
    assert!(address.is_string(), "{endpoints}");
    let slice = get_json(&c, &["get", "endpointslices", "kubernetes"]).await;
    assert_eq!(
        slice["metadata"]["labels"],
        json!({"kubernetes.io/service-name": "kubernetes"})
    );
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice["endpoints"],
        json!([{"addresses": [address], "conditions": {"ready": true}}])
    );
    assert_eq!(
        slice["ports"],
        json!([{"name": "https", "port": c.server.addr.port(), "protocol": "TCP"}])
    );
    let listed = c
        .ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=kubernetes",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(listed.trim(), "endpointslice.discovery.k8s.io/kubernetes");
}

const TAKES_THE_DNS_IP: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: dns2
spec:
  clusterIP: 10.96.0.10
  ports:
  - port: 53
    protocol: UDP
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_other_service_gets_the_cluster_dns_address() {
    let c = Cluster::start().await;
    let file = c.file("dns2.yaml", TAKES_THE_DNS_IP);
    let err = c.fails(&["create", "-f", file.to_str().unwrap()]).await;
    assert!(
        err.contains("The Service \"dns2\" is invalid: spec.clusterIPs: Invalid value: ")
            && err.contains("\"10.96.0.10\"")
            && err.contains("provided IP is already allocated"),
        "{err}"
    );

    // Allocation walks the range from its start and steps over the taken addresses.
    let many: Vec<String> = (0..12)
        .map(|i| format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: s{i}\nspec:\n  ports:\n  - port: 80\n"))
        .collect();
    let file = c.file("many.yaml", &many.join("---\n"));
    c.ok(&["create", "-f", file.to_str().unwrap()]).await;
    let ips = c
        .ok(&[
            "get",
            "svc",
            "-o",
            "jsonpath={range .items[*]}{.spec.clusterIP}{\"\\n\"}{end}",
        ])
        .await;
    let ips: Vec<&str> = ips.lines().collect();
    assert_eq!(ips.len(), 13, "{ips:?}"); // the 12 and kubernetes
    assert!(!ips.contains(&"10.96.0.10"), "{ips:?}");
    assert!(ips.contains(&"10.96.0.11"), "{ips:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_cluster_dns_address_of_a_service_that_took_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn barge_store::Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(dir.path().join("state.db"))).unwrap());
    let c = Cluster::start_with(store.clone()).await;
    // A cluster from before kube-dns existed: the address went to a user's Service.
    c.ok(&["delete", "svc", "-n", "kube-system", "kube-dns"])
        .await;
    let file = c.file("dns2.yaml", TAKES_THE_DNS_IP);
    c.ok(&["create", "-f", file.to_str().unwrap()]).await;
    drop(c);

    let c = Cluster::start_with(store).await;
    let err = c
        .fails(&["get", "svc", "-n", "kube-system", "kube-dns"])
        .await;
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    let ip = c
        .ok(&["get", "svc", "dns2", "-o", "jsonpath={.spec.clusterIP}"])
        .await;
    assert_eq!(ip, "10.96.0.10");
    // The rest of the bootstrap still ran: the kubernetes slice is there.
    c.ok(&["get", "endpointslices", "kubernetes"]).await;
}
