//! Built-in validation through the real kubectl: upstream's messages, and nothing stored when
//! an object is refused.

use crate::Cluster;

/// Creates from a manifest, expects kubectl to fail, and returns its standard error.
async fn create_fails(c: &Cluster, name: &str, manifest: &str) -> String {
    let path = c.file(name, manifest);
    c.fails(&["create", "-f", path.to_str().unwrap()]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_with_zero_duration_is_refused_and_not_stored() {
    let c = Cluster::start().await;
    let err = create_fails(
        &c,
        "lease.yaml",
        "apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: leader
spec:
  holderIdentity: a
  leaseDurationSeconds: 0
",
    )
    .await;
    assert!(
        err.contains("The Lease \"leader\" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"),
        "{err}"
    );
    let err = c.fails(&["get", "lease", "leader"]).await;
    assert!(
        err.contains("leases.coordination.k8s.io \"leader\" not found"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_ranges_and_quotas_get_upstream_errors() {
    let c = Cluster::start().await;
    let limit_range = |limit: &str| {
        format!(
            "apiVersion: v1
kind: LimitRange
metadata:
  name: limits
spec:
  limits:
  - type: Container
{limit}"
        )
    };
    let err = create_fails(
        &c,
        "lr.yaml",
        &limit_range("    min:\n      cpu: \"2\"\n    max:\n      cpu: \"1\"\n"),
    )
    .await;
    assert!(
        err.contains("The LimitRange \"limits\" is invalid: spec.limits[0].min[cpu]: Invalid value: 2: min value 2 is greater than max value 1"),
        "{err}"
    );
    let err = create_fails(
        &c,
        "bad-q.yaml",
        &limit_range("    max:\n      cpu: lots\n"),
    )
    .await;
    assert!(
        err.contains("LimitRange in version \"v1\" cannot be handled as a LimitRange: quantities must match the regular expression"),
        "{err}"
    );
    let err = create_fails(
        &c,
        "rq.yaml",
        "apiVersion: v1
kind: ResourceQuota
metadata:
  name: quota
spec:
  hard:
    pods: \"-1\"
",
    )
    .await;
    assert!(
        err.contains("The ResourceQuota \"quota\" is invalid: spec.hard[pods]: Invalid value: \"-1\": must be greater than or equal to 0"),
        "{err}"
    );
    let listed = c.kubectl(&["get", "limitranges,resourcequotas"]).await;
    assert_eq!(
        String::from_utf8_lossy(&listed.stderr).trim(),
        "No resources found in default namespace."
    );
    c.ok(&["create", "quota", "ok", "--hard=pods=10,requests.cpu=4"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_endpoints_and_labels_get_upstream_errors() {
    let c = Cluster::start().await;
    let err = create_fails(
        &c,
        "node.yaml",
        "apiVersion: v1
kind: Node
metadata:
  name: n1
spec:
  taints:
  - key: dedicated
    effect: Sometimes
",
    )
    .await;
    assert!(
        err.contains("The Node \"n1\" is invalid: metadata.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""),
        "{err}"
    );
    let err = create_fails(
        &c,
        "ep.yaml",
        "apiVersion: v1
kind: Endpoints
metadata:
  name: web
subsets:
- addresses:
  - ip: 10.0.0.7
  ports:
  - port: 70000
",
    )
    .await;
    assert!(
        err.contains("The Endpoints \"web\" is invalid: subsets[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"),
        "{err}"
    );
    let err = create_fails(
        &c,
        "cm.yaml",
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  labels:
    a/b/c: x
",
    )
    .await;
    assert!(
        err.contains("The ConfigMap \"cfg\" is invalid: metadata.labels: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters"),
        "{err}"
    );
    // A valid Node with pod CIDRs is stored, and its CIDRs cannot then change.
    let node = c.file(
        "good-node.yaml",
        "apiVersion: v1
kind: Node
metadata:
  name: n2
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs: [10.244.1.0/24]
",
    );
    c.ok(&["create", "-f", node.to_str().unwrap()]).await;
    let err = c
        .fails(&[
            "patch",
            "node",
            "n2",
            "--type=merge",
            "-p",
            r#"{"spec":{"podCIDR":"10.244.2.0/24","podCIDRs":["10.244.2.0/24"]}}"#,
        ])
        .await;
    assert!(
        err.contains("spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid"),
        "{err}"
    );
}
