//! Tests of [`sandbox_config`] and [`container_config`] on whole pods, and of the
//! environment (envFrom, env, downward API, ConfigMap and Secret references).

use std::collections::BTreeMap;

use k8s_cri::v1::{NamespaceMode, Protocol, security_profile::ProfileType};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};

use super::*;

fn node() -> NodeContext {
    NodeContext {
        node_name: "node-1".into(),
        node_ips: vec!["192.0.2.2".parse().unwrap()],
        cluster_dns: vec!["10.96.0.10".parse().unwrap()],
        host_resolv: Some(
            ResolvConf::parse("nameserver 192.0.2.53\nsearch corp.example\n").unwrap(),
        ),
        pod_log_root: "/var/log/barge/pods".into(),
        cgroup_root: "/barge".into(),
        allocatable_cpu_millis: 2000,
        allocatable_memory: 8 << 30,
        allocatable_ephemeral_storage: Some(50 << 30),
        memory_capacity: 8 << 30,
        ..NodeContext::default()
    }
}

fn objects() -> PodObjects {
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "app-config", "namespace": "shop"},
        "data": {"LOG_LEVEL": "debug", "MODE": "fast", "index.html": "<p>"}
    }))
    .unwrap();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "db", "namespace": "shop"},
        "data": {"password": "czNjcjN0", "user": "YWRtaW4="}
    }))
    .unwrap();
    let services: Vec<Service> = vec![
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443}]}
        }))
        .unwrap(),
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cart", "namespace": "shop"},
            "spec": {"clusterIP": "10.96.0.40", "ports": [{"port": 8080}]}
        }))
        .unwrap(),
    ];
    PodObjects {
        config_maps: BTreeMap::from([("app-config".to_string(), cm)]),
        secrets: BTreeMap::from([("db".to_string(), secret)]),
        services,
        ..PodObjects::default()
    }
}

/// A pod with an init container, a sidecar and two regular containers.
fn shop_pod() -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": "shop-0", "namespace": "shop", "uid": "5f1c-uid",
            "labels": {"app": "shop", "io.kubernetes.pod.name": "spoofed"},
            "annotations": {"team": "web"}
        },
        "spec": {
            "nodeName": "node-1",
            "serviceAccountName": "shop-sa",
            "hostname": "shop-0",
            "subdomain": "shop",
            "terminationGracePeriodSeconds": 45,
            "securityContext": {
                "runAsUser": 1000, "fsGroup": 2000,
                "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
            },
            "initContainers": [
                {"name": "migrate", "image": "shop/migrate:1", "command": ["/migrate", "--db=$(DB_HOST)"],
                 "env": [{"name": "DB_HOST", "value": "db.shop"}]},
                {"name": "proxy", "image": "shop/proxy:1", "restartPolicy": "Always",
                 "resources": {"requests": {"memory": "32Mi"}}}
            ],
            "containers": [
                {
                    "name": "web",
                    "image": "shop/web:2",
                    "command": ["/bin/web"],
                    "args": ["--port=$(PORT)", "--mode=$(MODE)", "--missing=$(NOPE)", "$$(PORT)"],
                    "workingDir": "/srv",
                    "ports": [
                        {"name": "http", "containerPort": 8080, "hostPort": 30080, "protocol": "TCP"},
                        {"name": "dns", "containerPort": 53, "protocol": "UDP"}
                    ],
                    "envFrom": [
                        {"configMapRef": {"name": "app-config"}},
                        {"prefix": "DB_", "secretRef": {"name": "db"}}
                    ],
                    "env": [
                        {"name": "PORT", "value": "8080"},
                        {"name": "MODE", "value": "slow"},
                        {"name": "URL", "value": "http://$(CART_SERVICE_HOST):$(PORT)/"},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                        {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                        {"name": "MEM_REQ_MI", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory", "divisor": "1Mi"}}},
                        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "LOG_LEVEL"}}},
                        {"name": "OPTIONAL", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": true}}},
                        {"name": "CART_SERVICE_PORT", "value": "override"}
                    ],
                    "resources": {
                        "requests": {"cpu": "500m", "memory": "256Mi"},
                        "limits": {"cpu": "1500m", "memory": "512Mi"}
                    },
                    "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "lifecycle": {"preStop": {"exec": {"command": ["/bin/drain"]}}},
                    "stdin": true, "tty": true
                },
                {
                    "name": "worker",
                    "image": "shop/worker:2",
                    "env": [{"name": "MEM_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}}],
                    "ports": [
                        {"containerPort": 9000, "hostPort": 39000, "hostIP": "192.0.2.2"},
                        {"containerPort": 9000, "hostPort": 39000, "hostIP": "192.0.2.2"}
                    ]
                }
            ]
        }
    }))
    .unwrap()
}

fn env_of(config: &ContainerConfig) -> Vec<(&str, &str)> {
    config
        .envs
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()))
        .collect()
}

fn get<'a>(env: &'a [(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn run_info() -> RunInfo {
    RunInfo {
        pod_ips: vec!["10.244.1.7".into()],
        image_ref: "sha256:abc".into(),
        image_user: ImageUser::Uid(0),
    }
}

#[test]
fn sandbox_config_of_a_whole_pod() {
    let pod = shop_pod();
    let c = sandbox_config(&pod, &node(), 2).unwrap();
    let meta = c.metadata.as_ref().unwrap();
    assert_eq!(
        (
            meta.name.as_str(),
            meta.namespace.as_str(),
            meta.uid.as_str(),
            meta.attempt
        ),
        ("shop-0", "shop", "5f1c-uid", 2)
    );
    assert_eq!(c.hostname, "shop-0");
    assert_eq!(c.log_directory, "/var/log/barge/pods/shop_shop-0_5f1c-uid");
    let dns = c.dns_config.as_ref().unwrap();
    assert_eq!(dns.servers, ["10.96.0.10"]);
    assert_eq!(
        dns.searches,
        [
            "shop.svc.cluster.local",
            "svc.cluster.local",
            "cluster.local",
            "corp.example"
        ]
    );
    assert_eq!(dns.options, ["ndots:5"]);
    assert_eq!(c.labels["app"], "shop");
    assert_eq!(c.labels[POD_NAME_LABEL], "shop-0");
    assert_eq!(c.labels[POD_NAMESPACE_LABEL], "shop");
    assert_eq!(c.labels[POD_UID_LABEL], "5f1c-uid");
    assert_eq!(c.annotations["team"], "web");
    // Every declared port of the regular containers; the repeated one once.
    let ports: Vec<(i32, i32, i32, &str)> = c
        .port_mappings
        .iter()
        .map(|p| {
            (
                p.protocol,
                p.container_port,
                p.host_port,
                p.host_ip.as_str(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            (Protocol::Tcp as i32, 8080, 30080, ""),
            (Protocol::Udp as i32, 53, 0, ""),
            (Protocol::Tcp as i32, 9000, 39000, "192.0.2.2"),
        ]
    );
    let linux = c.linux.as_ref().unwrap();
    assert_eq!(linux.cgroup_parent, "/barge/kubepods/burstable/pod5f1c-uid");
    assert_eq!(linux.sysctls["net.ipv4.ip_unprivileged_port_start"], "0");
    let sc = linux.security_context.as_ref().unwrap();
    let ns = sc.namespace_options.as_ref().unwrap();
    assert_eq!(
        (ns.network, ns.pid, ns.ipc),
        (
            NamespaceMode::Pod as i32,
            NamespaceMode::Container as i32,
            NamespaceMode::Pod as i32
        )
    );
    assert_eq!(sc.run_as_user.unwrap().value, 1000);
    assert_eq!(sc.supplemental_groups, [2000]);
    assert!(!sc.privileged);
    let r = linux.resources.as_ref().unwrap();
    assert_eq!(r.cpu_shares, 512);
    assert_eq!(r.cpu_quota, 150_000);
    assert_eq!(r.memory_limit_in_bytes, 512 << 20);
    assert_eq!(r.oom_score_adj, 0);
}

#[test]
fn sandbox_hostname_fqdn_and_host_network() {
    let mut pod = shop_pod();
    pod.spec.as_mut().unwrap().set_hostname_as_fqdn = Some(true);
    let c = sandbox_config(&pod, &node(), 0).unwrap();
    assert_eq!(c.hostname, "shop-0.shop.shop.svc.cluster.local");
    let spec = pod.spec.as_mut().unwrap();
    spec.host_network = Some(true);
    spec.host_pid = Some(true);
    let c = sandbox_config(&pod, &node(), 0).unwrap();
    assert_eq!(c.hostname, "");
    // ClusterFirst on the host network: the host's resolver.
    assert_eq!(c.dns_config.as_ref().unwrap().servers, ["192.0.2.53"]);
    let ns = c
        .linux
        .unwrap()
        .security_context
        .unwrap()
        .namespace_options
        .unwrap();
    assert_eq!(
        (ns.network, ns.pid),
        (NamespaceMode::Node as i32, NamespaceMode::Node as i32)
    );
}

#[test]
fn container_config_of_the_main_container() {
    let pod = shop_pod();
    let web = &pod.spec.as_ref().unwrap().containers[0];
    let mounts = vec![Mount {
        container_path: "/data".into(),
        host_path: "/var/lib/barge/pods/5f1c-uid/volumes/data".into(),
        ..Default::default()
    }];
    let c = container_config(
        &pod,
        web,
        &objects(),
        &node(),
        mounts.clone(),
        3,
        &run_info(),
    )
    .unwrap();
    let meta = c.metadata.as_ref().unwrap();
    assert_eq!((meta.name.as_str(), meta.attempt), ("web", 3));
    let image = c.image.as_ref().unwrap();
    assert_eq!(
        (image.image.as_str(), image.user_specified_image.as_str()),
        ("sha256:abc", "shop/web:2")
    );
    assert_eq!(c.command, ["/bin/web"]);
    assert_eq!(
        c.args,
        ["--port=8080", "--mode=slow", "--missing=$(NOPE)", "$(PORT)"]
    );
    assert_eq!(c.working_dir, "/srv");
    assert_eq!(c.mounts, mounts);
    assert_eq!(c.log_path, "web/3.log");
    assert!(c.stdin && c.tty && !c.stdin_once);

    let env = env_of(&c);
    // Service variables come first, except those the container defines itself.
    assert_eq!(env[0], ("CART_SERVICE_HOST", "10.96.0.40"));
    assert_eq!(get(&env, "KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
    assert_eq!(get(&env, "CART_SERVICE_PORT"), Some("override"));
    assert_eq!(
        env.iter()
            .filter(|(k, _)| *k == "CART_SERVICE_PORT")
            .count(),
        1
    );
    // envFrom: ConfigMap keys as they are (also ones that are not C identifiers), Secret
    // keys with the prefix; env overrides envFrom in place.
    assert_eq!(get(&env, "LOG_LEVEL"), Some("debug"));
    assert_eq!(get(&env, "index.html"), Some("<p>"));
    assert_eq!(get(&env, "MODE"), Some("slow"));
    assert_eq!(get(&env, "DB_password"), Some("s3cr3t"));
    assert_eq!(get(&env, "DB_user"), Some("admin"));
    // env: expansion sees earlier env and Service variables.
    assert_eq!(get(&env, "URL"), Some("http://10.96.0.40:8080/"));
    assert_eq!(get(&env, "POD_NAME"), Some("shop-0"));
    assert_eq!(get(&env, "POD_IP"), Some("10.244.1.7"));
    assert_eq!(get(&env, "APP"), Some("shop"));
    assert_eq!(get(&env, "CPU_LIMIT"), Some("2"));
    assert_eq!(get(&env, "MEM_REQ_MI"), Some("256"));
    assert_eq!(get(&env, "PASSWORD"), Some("s3cr3t"));
    assert_eq!(get(&env, "LEVEL"), Some("debug"));
    assert_eq!(get(&env, "OPTIONAL"), None);
    // Order: services, then envFrom keys, then env in declaration order.
    let pos = |k: &str| env.iter().position(|(n, _)| *n == k).unwrap();
    assert!(pos("KUBERNETES_PORT") < pos("LOG_LEVEL"));
    assert!(pos("LOG_LEVEL") < pos("MODE"));
    assert!(pos("MODE") < pos("DB_password"));
    assert!(pos("DB_user") < pos("PORT"));
    assert!(pos("PORT") < pos("URL") && pos("URL") < pos("POD_NAME"));

    assert_eq!(c.labels[CONTAINER_NAME_LABEL], "web");
    assert_eq!(c.labels[POD_UID_LABEL], "5f1c-uid");
    assert_eq!(c.labels.len(), 4);
    let a = &c.annotations;
    assert_eq!(a[CONTAINER_RESTART_COUNT_ANNOTATION], "3");
    assert_eq!(
        a[TERMINATION_MESSAGE_PATH_ANNOTATION],
        "/dev/termination-log"
    );
    assert_eq!(a[TERMINATION_MESSAGE_POLICY_ANNOTATION], "File");
    assert_eq!(a[POD_TERMINATION_GRACE_PERIOD_ANNOTATION], "45");
    assert_eq!(a[CONTAINER_TYPE_ANNOTATION], "container");
    assert_eq!(
        a[CONTAINER_HASH_ANNOTATION],
        format!("{:x}", container_hash(web))
    );
    assert_eq!(
        a[PRESTOP_HANDLER_ANNOTATION],
        r#"{"exec":{"command":["/bin/drain"]}}"#
    );
    assert!(a[CONTAINER_PORTS_ANNOTATION].starts_with(r#"[{"containerPort":8080"#));

    let linux = c.linux.as_ref().unwrap();
    let r = linux.resources.as_ref().unwrap();
    assert_eq!(
        (r.cpu_shares, r.cpu_quota, r.cpu_period),
        (512, 150_000, 100_000)
    );
    assert_eq!(r.memory_limit_in_bytes, 512 << 20);
    // Burstable: 1000 - 1000 × 256Mi / 8Gi.
    assert_eq!(r.oom_score_adj, 969);
    let sc = linux.security_context.as_ref().unwrap();
    assert_eq!(
        sc.namespace_options.as_ref().unwrap().pid,
        NamespaceMode::Container as i32
    );
    assert_eq!(sc.run_as_user.unwrap().value, 1000);
    assert!(sc.no_new_privs);
    assert_eq!(sc.capabilities.as_ref().unwrap().drop_capabilities, ["ALL"]);
    assert_eq!(sc.supplemental_groups, [2000]);
    assert_eq!(
        sc.seccomp.as_ref().unwrap().profile_type,
        ProfileType::Unconfined as i32
    );
}

#[test]
fn container_config_of_other_containers() {
    let pod = shop_pod();
    let spec = pod.spec.as_ref().unwrap();
    let objs = objects();
    let n = node();
    // No limit: the node's allocatable memory.
    let worker = container_config(
        &pod,
        &spec.containers[1],
        &objs,
        &n,
        vec![],
        0,
        &RunInfo::default(),
    )
    .unwrap();
    assert_eq!(get(&env_of(&worker), "MEM_LIMIT"), Some("8589934592"));
    assert_eq!(worker.image.as_ref().unwrap().image, "shop/worker:2");
    assert_eq!(worker.log_path, "worker/0.log");
    let r = worker.linux.as_ref().unwrap().resources.as_ref().unwrap();
    assert_eq!(
        (r.cpu_shares, r.cpu_quota, r.memory_limit_in_bytes),
        (2, 0, 0)
    );
    assert_eq!(r.oom_score_adj, 999);

    let init = &spec.init_containers.as_ref().unwrap()[0];
    let migrate = container_config(&pod, init, &objs, &n, vec![], 1, &RunInfo::default()).unwrap();
    assert_eq!(migrate.command, ["/migrate", "--db=db.shop"]);
    assert_eq!(migrate.annotations[CONTAINER_TYPE_ANNOTATION], "init");
    assert_eq!(migrate.labels[CONTAINER_NAME_LABEL], "migrate");

    let proxy = &spec.init_containers.as_ref().unwrap()[1];
    let sidecar = container_config(&pod, proxy, &objs, &n, vec![], 0, &RunInfo::default()).unwrap();
    // Sidecar: smallest request among web (256Mi), worker (none → 200Mi) and itself (32Mi).
    let r = sidecar.linux.as_ref().unwrap().resources.as_ref().unwrap();
    // 1000 - 1000 × 32Mi / 8Gi = 997, plus one as its request is the smallest.
    assert_eq!(r.oom_score_adj, 998);
}

#[test]
fn share_process_namespace_reaches_containers() {
    let mut pod = shop_pod();
    pod.spec.as_mut().unwrap().share_process_namespace = Some(true);
    let web = pod.spec.as_ref().unwrap().containers[0].clone();
    let c = container_config(&pod, &web, &objects(), &node(), vec![], 0, &run_info()).unwrap();
    let ns = c
        .linux
        .unwrap()
        .security_context
        .unwrap()
        .namespace_options
        .unwrap();
    assert_eq!(ns.pid, NamespaceMode::Pod as i32);
}

#[test]
fn guaranteed_pod_goes_under_kubepods_with_no_negative_oom_score() {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "g", "namespace": "default", "uid": "g-uid"},
        "spec": {"containers": [{"name": "a", "image": "x",
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]}
    }))
    .unwrap();
    let s = sandbox_config(&pod, &node(), 0).unwrap();
    assert_eq!(
        s.linux.as_ref().unwrap().cgroup_parent,
        "/barge/kubepods/podg-uid"
    );
    let c = container_config(
        &pod,
        &pod.spec.as_ref().unwrap().containers[0],
        &objects(),
        &node(),
        vec![],
        0,
        &RunInfo::default(),
    )
    .unwrap();
    let r = c.linux.unwrap().resources.unwrap();
    assert_eq!(r.oom_score_adj, 0);
    assert_eq!((r.cpu_shares, r.cpu_quota), (1024, 100_000));
}

fn pod_with_env(env: serde_json::Value, env_from: serde_json::Value) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p", "namespace": "shop", "uid": "u",
                     "labels": {"b": "2", "a": "1"}, "annotations": {"note": "say \"hi\""}},
        "spec": {"containers": [{"name": "c", "image": "x", "env": env, "envFrom": env_from}],
                 "enableServiceLinks": false}
    }))
    .unwrap()
}

fn config_error(pod: &Pod) -> String {
    let c = &pod.spec.as_ref().unwrap().containers[0];
    container_config(pod, c, &objects(), &node(), vec![], 0, &run_info())
        .unwrap_err()
        .to_string()
}

fn config_env(pod: &Pod) -> Vec<(String, String)> {
    let c = &pod.spec.as_ref().unwrap().containers[0];
    container_config(pod, c, &objects(), &node(), vec![], 0, &run_info())
        .unwrap()
        .envs
        .into_iter()
        .map(|kv| (kv.key, kv.value))
        .collect()
}

#[test]
fn missing_config_maps_secrets_and_keys_are_upstreams_errors() {
    let p = pod_with_env(
        serde_json::json!([]),
        serde_json::json!([{"configMapRef": {"name": "x"}}]),
    );
    assert_eq!(config_error(&p), "configmap \"x\" not found");
    let p = pod_with_env(
        serde_json::json!([]),
        serde_json::json!([{"secretRef": {"name": "x"}}]),
    );
    assert_eq!(config_error(&p), "secret \"x\" not found");
    let p = pod_with_env(
        serde_json::json!([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "k"}}}]),
        serde_json::json!([]),
    );
    assert_eq!(
        config_error(&p),
        "couldn't find key k in ConfigMap shop/app-config"
    );
    let p = pod_with_env(
        serde_json::json!([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "k"}}}]),
        serde_json::json!([]),
    );
    assert_eq!(config_error(&p), "couldn't find key k in Secret shop/db");
    let p = pod_with_env(
        serde_json::json!([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]),
        serde_json::json!([]),
    );
    assert_eq!(config_error(&p), "secret \"nope\" not found");
    let p = pod_with_env(
        serde_json::json!([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]),
        serde_json::json!([]),
    );
    assert_eq!(config_error(&p), "configmap \"nope\" not found");
}

#[test]
fn optional_references_are_skipped() {
    let p = pod_with_env(
        serde_json::json!([
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "k", "optional": true}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": true}}},
            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "db", "key": "k", "optional": true}}},
            {"name": "D", "value": "d"}
        ]),
        serde_json::json!([
            {"configMapRef": {"name": "nope", "optional": true}},
            {"secretRef": {"name": "nope", "optional": true}}
        ]),
    );
    let env: Vec<_> = config_env(&p)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("KUBERNETES_"))
        .collect();
    assert_eq!(env, [("D".to_string(), "d".to_string())]);
}

#[test]
fn downward_api_fields() {
    let p = pod_with_env(
        serde_json::json!([
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "UID", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.uid"}}},
            {"name": "LABELS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}},
            {"name": "NOTE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
            {"name": "ANNOS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations"}}},
            {"name": "MISSING", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['zzz']"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": "HOST_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIPs"}}},
            {"name": "POD_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}}
        ]),
        serde_json::json!([]),
    );
    let mut n = node();
    n.node_ips.push("2001:db8::2".parse().unwrap());
    let run = RunInfo {
        pod_ips: vec!["fd00::7".into(), "10.244.1.7".into()],
        ..RunInfo::default()
    };
    let c = &p.spec.as_ref().unwrap().containers[0];
    let config = container_config(&p, c, &objects(), &n, vec![], 0, &run).unwrap();
    let env = env_of(&config);
    assert_eq!(get(&env, "NS"), Some("shop"));
    assert_eq!(get(&env, "UID"), Some("u"));
    assert_eq!(get(&env, "LABELS"), Some("a=\"1\"\nb=\"2\""));
    assert_eq!(get(&env, "NOTE"), Some("say \"hi\""));
    assert_eq!(get(&env, "ANNOS"), Some("note=\"say \\\"hi\\\"\""));
    assert_eq!(get(&env, "MISSING"), Some(""));
    assert_eq!(get(&env, "NODE"), Some(""));
    assert_eq!(get(&env, "SA"), Some(""));
    assert_eq!(get(&env, "HOST_IP"), Some("192.0.2.2"));
    assert_eq!(get(&env, "HOST_IPS"), Some("192.0.2.2,2001:db8::2"));
    assert_eq!(get(&env, "POD_IPS"), Some("10.244.1.7,fd00::7"));
    // No service links: not even the namespace's Services (only default/kubernetes).
    assert_eq!(get(&env, "CART_SERVICE_HOST"), None);
    assert_eq!(get(&env, "KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
}

#[test]
fn downward_api_errors() {
    let field = |path: &str, version: &str| {
        pod_with_env(
            serde_json::json!([{"name": "A", "valueFrom": {"fieldRef": {"apiVersion": version, "fieldPath": path}}}]),
            serde_json::json!([]),
        )
    };
    assert_eq!(
        config_error(&field("metadata.name", "v2")),
        "unsupported pod version: v2"
    );
    assert_eq!(
        config_error(&field("spec.foo", "v1")),
        "field label not supported: spec.foo"
    );
    assert_eq!(
        config_error(&field("metadata.name['x']", "v1")),
        "field label does not support subscript: metadata.name['x']"
    );
    assert_eq!(
        config_error(&field("status.phase", "v1")),
        "unsupported fieldPath: status.phase"
    );
    assert!(
        config_error(&field("metadata.labels['-bad']", "v1")).starts_with(
            "invalid key subscript in metadata.labels['-bad']: name part must consist"
        )
    );
    let mut n = node();
    n.node_ips.clear();
    let p = field("status.hostIP", "v1");
    let c = &p.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        container_config(&p, c, &objects(), &n, vec![], 0, &run_info())
            .unwrap_err()
            .to_string(),
        "host IP unknown; known addresses: []"
    );
}

#[test]
fn resource_field_refs() {
    let p: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p", "namespace": "shop", "uid": "u"},
        "spec": {
            "initContainers": [{"name": "i", "image": "x", "resources": {"requests": {"cpu": "300m"}}}],
            "containers": [
                {"name": "c", "image": "x",
                 "resources": {"requests": {"cpu": "250m", "memory": "100Mi", "ephemeral-storage": "1Gi"},
                               "limits": {"cpu": "0", "hugepages-2Mi": "8Mi"}},
                 "env": [
                    {"name": "CPU_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
                    {"name": "CPU_REQ_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                    {"name": "CPU_LIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
                    {"name": "MEM_REQ_K", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory", "divisor": "1k"}}},
                    {"name": "EPH_LIM_GI", "valueFrom": {"resourceFieldRef": {"resource": "limits.ephemeral-storage", "divisor": "1Gi"}}},
                    {"name": "EPH_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.ephemeral-storage", "divisor": "0"}}},
                    {"name": "HP", "valueFrom": {"resourceFieldRef": {"resource": "limits.hugepages-2Mi", "divisor": "1Mi"}}},
                    {"name": "OTHER", "valueFrom": {"resourceFieldRef": {"containerName": "d", "resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "INIT", "valueFrom": {"resourceFieldRef": {"containerName": "i", "resource": "limits.cpu"}}},
                    {"name": "INIT_REQ", "valueFrom": {"resourceFieldRef": {"containerName": "i", "resource": "requests.cpu", "divisor": "1m"}}}
                 ]},
                {"name": "d", "image": "x", "resources": {"limits": {"memory": "64Mi"}}}
            ]
        }
    }))
    .unwrap();
    let env = config_env(&p);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("CPU_REQ"), Some("1"));
    assert_eq!(get("CPU_REQ_M"), Some("250"));
    // A zero limit counts as none: the node's 2000m.
    assert_eq!(get("CPU_LIM"), Some("2000"));
    assert_eq!(get("MEM_REQ_K"), Some("104858"));
    assert_eq!(get("EPH_LIM_GI"), Some("50"));
    assert_eq!(get("EPH_REQ"), Some("1073741824"));
    assert_eq!(get("HP"), Some("8"));
    assert_eq!(get("OTHER"), Some("64"));
    // Another init container gets no defaults (as upstream): no limit → 0.
    assert_eq!(get("INIT"), Some("0"));
    assert_eq!(get("INIT_REQ"), Some("300"));

    let bad = |resource: &str, container: &str| {
        pod_with_env(
            serde_json::json!([{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": resource, "containerName": container}}}]),
            serde_json::json!([]),
        )
    };
    assert_eq!(
        config_error(&bad("limits.gpu", "")),
        "unsupported container resource : limits.gpu"
    );
    assert_eq!(
        config_error(&bad("limits.cpu", "zzz")),
        "container zzz not found"
    );
}

#[test]
fn expansion_in_env_uses_only_earlier_definitions() {
    let p = pod_with_env(
        serde_json::json!([
            {"name": "B", "value": "$(A)-b"},
            {"name": "A", "value": "a"},
            {"name": "C", "value": "$(A)-$(B)-$$(A)"}
        ]),
        serde_json::json!([]),
    );
    let env = config_env(&p);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("B"), Some("$(A)-b"));
    assert_eq!(get("C"), Some("a-$(A)-b-$(A)"));
}

#[test]
fn run_as_non_root_with_image_user() {
    let mut pod = pod_with_env(serde_json::json!([]), serde_json::json!([]));
    pod.spec.as_mut().unwrap().security_context =
        Some(serde_json::from_value(serde_json::json!({"runAsNonRoot": true})).unwrap());
    let c = &pod.spec.as_ref().unwrap().containers[0];
    let root = RunInfo::default();
    assert_eq!(
        container_config(&pod, c, &objects(), &node(), vec![], 0, &root)
            .unwrap_err()
            .to_string(),
        "container has runAsNonRoot and image will run as root (pod: \"p_shop(u)\", container: c)"
    );
    let user = RunInfo {
        image_user: ImageUser::Uid(1000),
        ..RunInfo::default()
    };
    let config = container_config(&pod, c, &objects(), &node(), vec![], 0, &user).unwrap();
    let sc = config.linux.unwrap().security_context.unwrap();
    assert_eq!(sc.run_as_user.unwrap().value, 1000);
}

#[test]
fn image_user_from_cri_image() {
    let mut image = k8s_cri::v1::Image::default();
    assert_eq!(ImageUser::from_image(&image), ImageUser::Uid(0));
    image.username = "www".into();
    assert_eq!(ImageUser::from_image(&image), ImageUser::Name("www".into()));
    image.uid = Some(k8s_cri::v1::Int64Value { value: 33 });
    assert_eq!(ImageUser::from_image(&image), ImageUser::Uid(33));
}

#[test]
fn pod_without_spec_is_refused() {
    let pod: Pod = serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
    assert_eq!(
        sandbox_config(&pod, &node(), 0).unwrap_err(),
        SpecError::NoSpec
    );
}

#[test]
fn container_hash_depends_on_name_and_image_only() {
    let pod = shop_pod();
    let web = pod.spec.as_ref().unwrap().containers[0].clone();
    let mut changed = web.clone();
    changed.args = None;
    assert_eq!(container_hash(&web), container_hash(&changed));
    changed.image = Some("shop/web:3".into());
    assert_ne!(container_hash(&web), container_hash(&changed));
    // FNV-1a of `{"image":"","name":""}`.
    let empty: Container = serde_json::from_value(serde_json::json!({"name": ""})).unwrap();
    let mut h: u32 = 0x811c_9dc5;
    for b in br#"{"image":"","name":""}"# {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    assert_eq!(container_hash(&empty), u64::from(h));
}
