//! The proxy's scripts through the real `nft` (root only), in a network namespace of the test's
//! own, which is removed afterwards: the whole table, then updates, as the kernel sees them.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use barge_proxy::model::{Endpoint, Protocol, ServicePort};
use barge_proxy::rules::{self, Ruleset, TableConfig};

/// A network namespace removed on drop.
struct Netns(String);

impl Netns {
    fn new() -> Option<Self> {
        let name = format!("barge-proxy-test-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self(name))
    }

    fn nft(&self, script: &str) -> Result<String, String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nft runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("script written");
        let out = child.wait_with_output().expect("nft ends");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn list(&self) -> String {
        self.nft("list table ip barge-test\n")
            .expect("table listed")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

fn port(id: &str, ip: [u8; 4], protocol: Protocol, endpoints: &[u8]) -> ServicePort {
    ServicePort {
        id: id.into(),
        protocol,
        port: 80,
        cluster_ips: vec![Ipv4Addr::from(ip)],
        external_ips: vec![],
        node_port: None,
        affinity_timeout: None,
        external_local: false,
        internal_local: false,
        endpoints: endpoints
            .iter()
            .map(|last| Endpoint {
                ip: Ipv4Addr::new(10, 42, 0, *last),
                port: 8080,
                local: *last % 2 == 0,
            })
            .collect(),
    }
}

#[test]
fn the_kernel_takes_the_table_and_every_kind_of_update() {
    if !is_root() || Command::new("nft").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and nft");
        return;
    }
    let Some(ns) = Netns::new() else {
        eprintln!("skipped: cannot make a network namespace");
        return;
    };
    let config = TableConfig {
        name: "barge-test".into(),
        cluster_cidr: "10.42.0.0/16".into(),
    };
    let mut web = port(
        "default/web/tcp/http",
        [10, 96, 0, 20],
        Protocol::Tcp,
        &[5, 6],
    );
    web.node_port = Some(30080);
    web.external_ips = vec![Ipv4Addr::new(192, 0, 2, 2)];
    web.affinity_timeout = Some(600);
    let mut local = port(
        "default/local/tcp/80",
        [10, 96, 0, 21],
        Protocol::Tcp,
        &[5, 6],
    );
    local.node_port = Some(30081);
    local.external_local = true;
    local.internal_local = true;
    let dns = port(
        "kube-system/kube-dns/udp/dns",
        [10, 96, 0, 10],
        Protocol::Udp,
        &[7],
    );
    let empty = port("default/empty/tcp/80", [10, 96, 0, 30], Protocol::Tcp, &[]);
    let v1 = Ruleset::build(&[web.clone(), local, dns.clone(), empty], &config);
    ns.nft(&rules::full(&config, &v1))
        .unwrap_or_else(|e| panic!("full table refused: {e}\n{}", rules::full(&config, &v1)));
    let listed = ns.list();
    for expected in [
        "10.96.0.20 . tcp . 80 : goto svc-default/web/tcp/http",
        "dnat to 10.42.0.5:8080",
        "numgen random mod 2",
        "10.96.0.30 . tcp . 80",
        "update @aff-default/web/tcp/http/10.42.0.5/8080",
        "tcp . 30081 : goto ext-default/local/tcp/80",
        "masquerade fully-random",
    ] {
        assert!(listed.contains(expected), "{expected:?} in:\n{listed}");
    }

    // Endpoints change, a Service goes, another loses all endpoints: only the difference.
    web.endpoints.pop();
    web.affinity_timeout = None;
    let v2 = Ruleset::build(
        &[
            web.clone(),
            port("default/empty/tcp/80", [10, 96, 0, 30], Protocol::Tcp, &[9]),
        ],
        &config,
    );
    let script = rules::update(&config, &v1, &v2);
    ns.nft(&script)
        .unwrap_or_else(|e| panic!("update refused: {e}\n{script}"));
    let listed = ns.list();
    assert!(!listed.contains("10.42.0.6:8080"), "{listed}");
    assert!(!listed.contains("kube-dns"), "{listed}");
    assert!(!listed.contains("aff-"), "{listed}");
    assert!(
        listed.contains("10.96.0.30 . tcp . 80 : goto svc-default/empty/tcp/80"),
        "{listed}"
    );

    // Back to the first version, then a rebuild from scratch gives the same table.
    let script = rules::update(&config, &v2, &v1);
    ns.nft(&script)
        .unwrap_or_else(|e| panic!("update refused: {e}\n{script}"));
    let after_updates = ns.list();
    ns.nft(&rules::full(&config, &v1)).expect("rebuilt");
    assert_eq!(sorted_lines(&after_updates), sorted_lines(&ns.list()));

    // A script the kernel refuses changes nothing.
    let before = ns.list();
    assert!(
        ns.nft("add rule ip barge-test services ip daddr 10.96.0.99 goto no-such-chain\n")
            .is_err()
    );
    assert_eq!(before, ns.list());
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(|l| l.trim().to_owned()).collect();
    lines.sort();
    lines
}
