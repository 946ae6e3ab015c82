//! The DNS server over real sockets: seeded informers, queries over UDP and TCP, a fake
//! upstream for forwarding, garbage.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use barge_client::{Informer, Key};
use barge_dns::{Dns, Options, load, start_with};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use kube::api::ObjectMeta;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(5);

// ---- objects ----

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(ns.into()),
        name: Some(name.into()),
        ..Default::default()
    }
}

fn service(ns: &str, name: &str, ip: &str, ports: &[(&str, i32)]) -> Service {
    Service {
        metadata: meta(ns, name),
        spec: Some(ServiceSpec {
            cluster_ip: Some(ip.into()),
            cluster_ips: Some(vec![ip.into()]),
            ports: Some(
                ports
                    .iter()
                    .map(|(n, p)| ServicePort {
                        name: Some(n.to_string()),
                        port: *p,
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn slice(
    ns: &str,
    name: &str,
    svc: &str,
    eps: &[(&str, &str, bool)],
    port: (&str, i32),
) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            labels: Some(BTreeMap::from([(
                "kubernetes.io/service-name".to_string(),
                svc.to_string(),
            )])),
            ..meta(ns, name)
        },
        address_type: "IPv4".into(),
        endpoints: eps
            .iter()
            .map(|(ip, host, ready)| Endpoint {
                addresses: vec![ip.to_string()],
                hostname: (!host.is_empty()).then(|| host.to_string()),
                conditions: Some(EndpointConditions {
                    ready: Some(*ready),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        ports: Some(vec![EndpointPort {
            name: Some(port.0.into()),
            port: Some(port.1),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
    }
}

struct Cluster {
    services: Informer<Service>,
    slices: Informer<EndpointSlice>,
    dns: Dns,
}

fn options(upstreams: Vec<SocketAddr>) -> Options {
    Options {
        listen: "127.0.0.1:0".parse().expect("address"),
        cluster_domain: "cluster.local".into(),
        upstreams,
        ttl: 5,
    }
}

/// A server over a few Services: `web` (ClusterIP 10.96.0.10, port http/80), `pg` (headless,
/// pods pg-0 and pg-1 ready, pg-2 not), `ext` (ExternalName example.com).
async fn cluster(upstreams: Vec<SocketAddr>) -> Result<Cluster> {
    let mut pg = service("db", "pg", "None", &[("pg", 5432)]);
    pg.spec.as_mut().context("spec")?.cluster_ips = Some(vec!["None".into()]);
    let ext = Service {
        metadata: meta("default", "ext"),
        spec: Some(ServiceSpec {
            type_: Some("ExternalName".into()),
            external_name: Some("example.com".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let services = Informer::seeded([
        service("default", "web", "10.96.0.10", &[("http", 80)]),
        pg,
        ext,
    ]);
    let slices = Informer::seeded([slice(
        "db",
        "pg-x1",
        "pg",
        &[
            ("10.1.0.5", "pg-0", true),
            ("10.1.0.6", "pg-1", true),
            ("10.1.0.7", "pg-2", false),
        ],
        ("pg", 5432),
    )]);
    let dns = start_with(services.clone(), slices.clone(), options(upstreams))?;
    let started = Instant::now();
    while !dns.is_ready() {
        if started.elapsed() > WAIT {
            bail!("the index was never built");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(Cluster {
        services,
        slices,
        dns,
    })
}

// ---- clients ----

fn query(name: &str, qtype: RecordType, id: u16, edns: Option<u16>) -> Result<Vec<u8>> {
    let mut m = Message::new(0, MessageType::Query, OpCode::Query);
    m.metadata.id = id;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name)?, qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    Ok(m.to_vec()?)
}

async fn udp_bytes(server: SocketAddr, bytes: &[u8]) -> Result<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    socket.send_to(bytes, server).await?;
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .context("no UDP reply")??;
    buf.truncate(n);
    Ok(buf)
}

async fn udp(server: SocketAddr, name: &str, qtype: RecordType) -> Result<Message> {
    let reply = Message::from_vec(&udp_bytes(server, &query(name, qtype, 0x4242, None)?).await?)?;
    assert_eq!(reply.metadata.id, 0x4242);
    Ok(reply)
}

async fn tcp_send(stream: &mut TcpStream, bytes: &[u8]) -> Result<()> {
    stream
        .write_all(&u16::try_from(bytes.len())?.to_be_bytes())
        .await?;
    stream.write_all(bytes).await?;
    Ok(())
}

async fn tcp_recv(stream: &mut TcpStream) -> Result<Message> {
    let len = tokio::time::timeout(WAIT, stream.read_u16())
        .await
        .context("no TCP reply")??;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await?;
    Ok(Message::from_vec(&buf)?)
}

async fn tcp(server: SocketAddr, name: &str, qtype: RecordType) -> Result<Message> {
    let mut stream = TcpStream::connect(server).await?;
    tcp_send(&mut stream, &query(name, qtype, 0x5151, None)?).await?;
    let reply = tcp_recv(&mut stream).await?;
    assert_eq!(reply.metadata.id, 0x5151);
    Ok(reply)
}

fn rdata(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.data.to_string()).collect()
}

/// Polls `f` until it holds (informer changes reach the index asynchronously).
async fn eventually<F, Fut>(what: &str, mut f: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let started = Instant::now();
    while !f().await? {
        if started.elapsed() > WAIT {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

// ---- a fake upstream ----

/// Answers every query with A 192.0.2.1 over UDP and TCP on one port, after `delay`.
struct Upstream {
    addr: SocketAddr,
    udp: Arc<AtomicUsize>,
    tcp: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn fake_reply(bytes: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(bytes).ok()?;
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    let name = request.queries.first()?.name().clone();
    reply.queries = request.queries.clone();
    reply.add_answer(Record::from_rdata(name, 60, RData::A(A::new(192, 0, 2, 1))));
    reply.to_vec().ok()
}

async fn upstream(delay: Duration) -> Result<Upstream> {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let addr = socket.local_addr()?;
    let listener = TcpListener::bind(addr).await?;
    let (udp, tcp) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let udp_task = {
        let count = udp.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                count.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = fake_reply(&buf[..n]) {
                    let socket = socket.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = socket.send_to(&reply, peer).await;
                    });
                }
            }
        })
    };
    let tcp_task = {
        let count = tcp.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    while let Ok(len) = stream.read_u16().await {
                        let mut buf = vec![0u8; usize::from(len)];
                        if stream.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        count.fetch_add(1, Ordering::SeqCst);
                        let Some(reply) = fake_reply(&buf) else {
                            return;
                        };
                        tokio::time::sleep(delay).await;
                        let len = (reply.len() as u16).to_be_bytes();
                        if stream
                            .write_all(&[&len[..], &reply].concat())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        })
    };
    Ok(Upstream {
        addr,
        udp,
        tcp,
        tasks: vec![udp_task, tcp_task],
    })
}

/// An address where nothing listens (the port was just freed): sends there are refused.
fn dead_address() -> Result<SocketAddr> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?)
}

// ---- tests ----

#[tokio::test]
async fn answers_cluster_names_over_udp_and_tcp() -> Result<()> {
    let c = cluster(vec![]).await?;
    let addr = c.dns.local_addr();
    assert_ne!(addr.port(), 0);
    for m in [
        udp(addr, "web.default.svc.cluster.local.", RecordType::A).await?,
        tcp(addr, "web.default.svc.cluster.local.", RecordType::A).await?,
    ] {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        assert_eq!(rdata(&m.answers), ["10.96.0.10"]);
        assert_eq!(m.answers[0].ttl, 5);
    }
    let m = udp(addr, "pg.db.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(rdata(&m.answers), ["10.1.0.5", "10.1.0.6"]);
    let m = tcp(addr, "pg-1.pg.db.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(rdata(&m.answers), ["10.1.0.6"]);
    let m = udp(addr, "_pg._tcp.pg.db.svc.cluster.local.", RecordType::SRV).await?;
    assert_eq!(
        rdata(&m.answers),
        [
            "0 50 5432 pg-0.pg.db.svc.cluster.local.",
            "0 50 5432 pg-1.pg.db.svc.cluster.local."
        ]
    );
    assert_eq!(rdata(&m.additionals), ["10.1.0.5", "10.1.0.6"]);
    let m = udp(
        addr,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await?;
    assert_eq!(
        rdata(&m.answers),
        ["0 100 80 web.default.svc.cluster.local."]
    );
    assert_eq!(rdata(&m.additionals), ["10.96.0.10"]);
    let m = udp(addr, "ext.default.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(rdata(&m.answers), ["example.com."]);
    let m = udp(addr, "10-244-0-9.default.pod.cluster.local.", RecordType::A).await?;
    assert_eq!(rdata(&m.answers), ["10.244.0.9"]);
    let m = udp(addr, "10.0.96.10.in-addr.arpa.", RecordType::PTR).await?;
    assert_eq!(rdata(&m.answers), ["web.default.svc.cluster.local."]);
    let m = udp(addr, "6.0.1.10.in-addr.arpa.", RecordType::PTR).await?;
    assert_eq!(rdata(&m.answers), ["pg-1.pg.db.svc.cluster.local."]);
    let m = udp(addr, "WEB.default.SVC.Cluster.Local.", RecordType::A).await?;
    assert_eq!(rdata(&m.answers), ["10.96.0.10"]);
    Ok(())
}

#[tokio::test]
async fn nxdomain_and_nodata_carry_the_soa() -> Result<()> {
    let c = cluster(vec![]).await?;
    let addr = c.dns.local_addr();
    let m = tcp(addr, "nope.default.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities.len(), 1);
    assert!(
        rdata(&m.authorities)[0].starts_with("ns.dns.cluster.local. hostmaster.cluster.local.")
    );
    let m = udp(addr, "web.default.svc.cluster.local.", RecordType::AAAA).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    Ok(())
}

#[tokio::test]
async fn several_queries_on_one_tcp_connection() -> Result<()> {
    let c = cluster(vec![]).await?;
    let mut stream = TcpStream::connect(c.dns.local_addr()).await?;
    // Pipelined: three queries written before any reply is read.
    for (i, name) in [
        "web.default.svc.cluster.local.",
        "pg.db.svc.cluster.local.",
        "x.cluster.local.",
    ]
    .iter()
    .enumerate()
    {
        tcp_send(
            &mut stream,
            &query(name, RecordType::A, i as u16 + 1, None)?,
        )
        .await?;
    }
    let ids: Vec<(u16, ResponseCode)> = [
        tcp_recv(&mut stream).await?,
        tcp_recv(&mut stream).await?,
        tcp_recv(&mut stream).await?,
    ]
    .iter()
    .map(|m| (m.metadata.id, m.metadata.response_code))
    .collect();
    assert_eq!(
        ids,
        [
            (1, ResponseCode::NoError),
            (2, ResponseCode::NoError),
            (3, ResponseCode::NXDomain)
        ]
    );
    Ok(())
}

#[tokio::test]
async fn informer_changes_change_the_answers() -> Result<()> {
    let c = cluster(vec![]).await?;
    let addr = c.dns.local_addr();
    let a = |name: &'static str| async move {
        Ok::<_, anyhow::Error>(rdata(&udp(addr, name, RecordType::A).await?.answers))
    };

    // A new Service appears.
    c.services.apply(service("team", "api", "10.96.1.1", &[]));
    eventually("api to resolve", || async {
        Ok(a("api.team.svc.cluster.local.").await? == ["10.96.1.1"])
    })
    .await?;
    // Its IP changes.
    c.services.apply(service("team", "api", "10.96.1.2", &[]));
    eventually("api to move", || async {
        Ok(a("api.team.svc.cluster.local.").await? == ["10.96.1.2"])
    })
    .await?;
    let m = udp(addr, "2.1.96.10.in-addr.arpa.", RecordType::PTR).await?;
    assert_eq!(rdata(&m.answers), ["api.team.svc.cluster.local."]);
    // The old address is no longer ours: forwarded, and with no upstreams, SERVFAIL.
    let m = udp(addr, "1.1.96.10.in-addr.arpa.", RecordType::PTR).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);

    // pg-1 stops being ready, pg-3 arrives in a second slice.
    c.slices.apply(slice(
        "db",
        "pg-x1",
        "pg",
        &[("10.1.0.5", "pg-0", true), ("10.1.0.6", "pg-1", false)],
        ("pg", 5432),
    ));
    c.slices.apply(slice(
        "db",
        "pg-x2",
        "pg",
        &[("10.1.0.8", "pg-3", true)],
        ("pg", 5432),
    ));
    eventually("pg endpoints to change", || async {
        Ok(a("pg.db.svc.cluster.local.").await? == ["10.1.0.5", "10.1.0.8"])
    })
    .await?;
    let m = udp(addr, "pg-1.pg.db.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);

    // A slice is deleted, then the Service.
    c.slices.delete(&Key::new("db", "pg-x1"));
    eventually("pg-0 to go", || async {
        Ok(a("pg.db.svc.cluster.local.").await? == ["10.1.0.8"])
    })
    .await?;
    c.services.delete(&Key::new("db", "pg"));
    eventually("pg to go", || async {
        let m = udp(addr, "pg.db.svc.cluster.local.", RecordType::A).await?;
        Ok(m.metadata.response_code == ResponseCode::NXDomain)
    })
    .await?;
    let m = udp(addr, "pg-3.pg.db.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);

    // The Service comes back: the slice still there is picked up again.
    let mut pg = service("db", "pg", "None", &[("pg", 5432)]);
    pg.spec.as_mut().context("spec")?.cluster_ips = Some(vec!["None".into()]);
    c.services.apply(pg);
    eventually("pg to return", || async {
        Ok(a("pg-3.pg.db.svc.cluster.local.").await? == ["10.1.0.8"])
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn forwards_other_names_keeping_the_id() -> Result<()> {
    let up = upstream(Duration::ZERO).await?;
    let c = cluster(vec![up.addr]).await?;
    let addr = c.dns.local_addr();
    let reply = udp_bytes(addr, &query("example.org.", RecordType::A, 0xbeef, None)?).await?;
    let m = Message::from_vec(&reply)?;
    assert_eq!(m.metadata.id, 0xbeef);
    assert_eq!(rdata(&m.answers), ["192.0.2.1"]);
    assert_eq!(up.udp.load(Ordering::SeqCst), 1);

    // PTR for an address the cluster does not know is forwarded too.
    let m = udp(addr, "4.3.2.1.in-addr.arpa.", RecordType::PTR).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(up.udp.load(Ordering::SeqCst), 2);

    // Cluster names and search-path junk are not.
    for name in [
        "web.default.svc.cluster.local.",
        "web.default.svc.cluster.local.default.svc.cluster.local.",
        "example.org.svc.cluster.local.",
    ] {
        udp(addr, name, RecordType::A).await?;
    }
    let started = Instant::now();
    let m = udp(
        addr,
        "my-api.default.svc.cluster.local.default.svc.cluster.local.",
        RecordType::A,
    )
    .await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(up.udp.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn forwards_over_tcp_for_tcp_clients() -> Result<()> {
    let up = upstream(Duration::ZERO).await?;
    let c = cluster(vec![up.addr]).await?;
    let m = tcp(c.dns.local_addr(), "example.org.", RecordType::A).await?;
    assert_eq!(rdata(&m.answers), ["192.0.2.1"]);
    assert_eq!(
        (up.udp.load(Ordering::SeqCst), up.tcp.load(Ordering::SeqCst)),
        (0, 1)
    );
    Ok(())
}

#[tokio::test]
async fn a_dead_upstream_is_skipped() -> Result<()> {
    let up = upstream(Duration::ZERO).await?;
    let c = cluster(vec![dead_address()?, up.addr]).await?;
    let m = udp(c.dns.local_addr(), "example.org.", RecordType::A).await?;
    assert_eq!(rdata(&m.answers), ["192.0.2.1"]);
    let m = tcp(c.dns.local_addr(), "example.org.", RecordType::A).await?;
    assert_eq!(rdata(&m.answers), ["192.0.2.1"]);
    Ok(())
}

#[tokio::test]
async fn servfail_when_no_upstream_answers() -> Result<()> {
    // Refused at once.
    let c = cluster(vec![dead_address()?]).await?;
    let m = udp(c.dns.local_addr(), "example.org.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(m.queries.len(), 1, "the question is echoed");
    // Silent: after the 2 s timeout.
    let silent = UdpSocket::bind("127.0.0.1:0").await?;
    let c = cluster(vec![silent.local_addr()?]).await?;
    let started = Instant::now();
    let m = udp(c.dns.local_addr(), "example.org.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert!(started.elapsed() >= Duration::from_secs(2));
    // No upstreams at all.
    let c = cluster(vec![]).await?;
    let m = tcp(c.dns.local_addr(), "example.org.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    Ok(())
}

#[tokio::test]
async fn never_forwards_to_itself() -> Result<()> {
    let free = dead_address()?;
    let mut opts = options(vec![free]);
    opts.listen = free;
    let dns = start_with(Informer::seeded([]), Informer::seeded([]), opts)?;
    assert_eq!(dns.local_addr(), free);
    let started = Instant::now();
    let m = udp(free, "example.org.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert!(started.elapsed() < Duration::from_secs(1));
    Ok(())
}

#[tokio::test]
async fn slow_forwards_do_not_hold_up_cluster_answers() -> Result<()> {
    let up = upstream(Duration::from_millis(500)).await?;
    let c = cluster(vec![up.addr]).await?;
    let addr = c.dns.local_addr();
    let forwarded = tokio::spawn(async move { udp(addr, "slow.example.", RecordType::A).await });
    let mut locals = Vec::new();
    for i in 0..50 {
        locals.push(tokio::spawn(async move {
            let name = if i % 2 == 0 {
                "web.default.svc.cluster.local."
            } else {
                "pg.db.svc.cluster.local."
            };
            let started = Instant::now();
            let m = udp(addr, name, RecordType::A).await?;
            Ok::<_, anyhow::Error>((m.answers.len(), started.elapsed()))
        }));
    }
    for l in locals {
        let (answers, took) = l.await??;
        assert!(answers > 0);
        assert!(took < Duration::from_millis(400), "{took:?}");
    }
    let m = forwarded.await??;
    assert_eq!(rdata(&m.answers), ["192.0.2.1"]);
    Ok(())
}

#[tokio::test]
async fn big_udp_replies_are_truncated() -> Result<()> {
    let c = cluster(vec![]).await?;
    let addr = c.dns.local_addr();
    let ips: Vec<(String, String)> = (1..=100)
        .map(|i| (format!("10.3.0.{i}"), format!("w-{i}")))
        .collect();
    let eps: Vec<(&str, &str, bool)> = ips
        .iter()
        .map(|(ip, h)| (ip.as_str(), h.as_str(), true))
        .collect();
    let mut wide = service("default", "wide", "None", &[]);
    wide.spec.as_mut().context("spec")?.cluster_ips = Some(vec!["None".into()]);
    c.slices
        .apply(slice("default", "wide-1", "wide", &eps, ("p", 1)));
    c.services.apply(wide);
    let name = "wide.default.svc.cluster.local.";
    eventually("wide to resolve", || async {
        Ok(tcp(addr, name, RecordType::A).await?.answers.len() == 100)
    })
    .await?;

    let m = udp(addr, name, RecordType::A).await?;
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    let reply = udp_bytes(addr, &query(name, RecordType::A, 7, Some(4096))?).await?;
    let m = Message::from_vec(&reply)?;
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 100);
    assert!(m.edns.is_some());
    Ok(())
}

#[tokio::test]
async fn garbage_does_not_hurt() -> Result<()> {
    let c = cluster(vec![]).await?;
    let addr = c.dns.local_addr();
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    };
    let valid = query("web.default.svc.cluster.local.", RecordType::A, 9, None)?;
    for i in 0..500usize {
        let mut bytes: Vec<u8> = (0..i % 700).map(|_| next()).collect();
        if i % 3 == 0 {
            // A real query with some bytes flipped: gets past the header more often.
            bytes = valid.clone();
            for _ in 0..1 + i % 4 {
                let at = usize::from(next()) % bytes.len();
                bytes[at] = next();
            }
        }
        socket.send_to(&bytes, addr).await?;
    }
    // A header that claims a question it does not have: FORMERR with its id.
    let reply = udp_bytes(addr, &[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    let m = Message::from_vec(&reply)?;
    assert_eq!(
        (m.metadata.id, m.metadata.response_code),
        (0x1234, ResponseCode::FormErr)
    );
    // A response sent to us gets nothing back.
    let mut response = Message::from_vec(&valid)?;
    response.metadata.message_type = MessageType::Response;
    let quiet = UdpSocket::bind("127.0.0.1:0").await?;
    quiet.send_to(&response.to_vec()?, addr).await?;
    let mut buf = [0u8; 512];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), quiet.recv_from(&mut buf))
            .await
            .is_err()
    );

    // TCP: a zero-length frame, a garbage frame, a frame cut short.
    for frame in [vec![0, 0], vec![0, 5, 1, 2, 3, 4, 5], vec![0, 40, 1, 2]] {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(&frame).await?;
        stream.shutdown().await?;
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
    }
    // Still serving, on both transports.
    assert_eq!(
        rdata(
            &udp(addr, "web.default.svc.cluster.local.", RecordType::A)
                .await?
                .answers
        ),
        ["10.96.0.10"]
    );
    assert_eq!(
        rdata(
            &tcp(addr, "web.default.svc.cluster.local.", RecordType::A)
                .await?
                .answers
        ),
        ["10.96.0.10"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_generator_measures_the_server() -> Result<()> {
    let c = cluster(vec![]).await?;
    let names = vec![
        "web.default.svc.cluster.local".to_string(),
        "pg.db.svc.cluster.local".to_string(),
        "nope.default.svc.cluster.local".to_string(),
    ];
    let report = load::run(c.dns.local_addr(), names, 4, Duration::from_millis(300)).await;
    eprintln!("{report:?}");
    assert!(report.queries > 100, "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    assert!(report.per_second > 0.0);
    assert!(report.p50 <= report.p99);
    let empty = load::run(c.dns.local_addr(), vec![], 4, Duration::from_millis(10)).await;
    assert_eq!(empty.queries, 0);
    Ok(())
}

#[tokio::test]
async fn stop_frees_the_address() -> Result<()> {
    let c = cluster(vec![]).await?;
    let addr = c.dns.local_addr();
    c.dns.stop().await;
    let _udp = std::net::UdpSocket::bind(addr)?;
    let _tcp = std::net::TcpListener::bind(addr)?;
    Ok(())
}

#[tokio::test]
async fn a_bad_cluster_domain_or_address_is_an_error() -> Result<()> {
    let mut opts = options(vec![]);
    opts.cluster_domain = "not a domain".into();
    let err = start_with(Informer::seeded([]), Informer::seeded([]), opts)
        .err()
        .context("accepted")?;
    assert!(
        err.to_string().starts_with("invalid cluster domain"),
        "{err}"
    );
    let taken = UdpSocket::bind("127.0.0.1:0").await?;
    let mut opts = options(vec![]);
    opts.listen = taken.local_addr()?;
    let err = start_with(Informer::seeded([]), Informer::seeded([]), opts)
        .err()
        .context("accepted")?;
    assert!(
        err.to_string().starts_with("cannot listen for DNS on"),
        "{err}"
    );
    Ok(())
}

/// `start` against a real in-process API server: the informers list and watch through kube-rs,
/// and a Service created through the API resolves to the ClusterIP the server gave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_follows_a_real_api_server() -> Result<()> {
    use barge_apiserver::{Config, Server};
    use barge_store::{SqliteOptions, SqliteStore};
    use kube::Api;
    use kube::api::PostParams;

    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("state.db")))?;
    let mut config = Config::new(dir.path().join("server"));
    config.bind_address = "127.0.0.1".parse()?;
    config.https_port = 0;
    let _server = Server::start(config, Arc::new(store)).await?;
    let kubeconfig = dir.path().join("kubeconfig");
    barge_apiserver::kubeconfig::write(&kubeconfig, &_server.admin_kubeconfig())?;
    let client = barge_client::connect(&kubeconfig).await?;

    let dns = barge_dns::start(client.clone(), options(vec![])).await?;
    assert!(dns.is_ready());
    let addr = dns.local_addr();
    // The API server's own Service exists from the start.
    let m = udp(addr, "kubernetes.default.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(rdata(&m.answers), ["10.96.0.1"]);

    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let mut web = service("default", "web", "", &[("http", 80)]);
    if let Some(spec) = web.spec.as_mut() {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
    }
    let created = services.create(&PostParams::default(), &web).await?;
    let ip = created
        .spec
        .and_then(|s| s.cluster_ip)
        .context("no ClusterIP allocated")?;
    eventually("web to resolve", || async {
        let m = udp(addr, "web.default.svc.cluster.local.", RecordType::A).await?;
        Ok(rdata(&m.answers) == [ip.clone()])
    })
    .await?;

    let slices: Api<EndpointSlice> = Api::namespaced(client, "default");
    let mut pg = service("default", "pg", "None", &[("pg", 5432)]);
    pg.spec.as_mut().context("spec")?.cluster_ips = Some(vec!["None".into()]);
    services.create(&PostParams::default(), &pg).await?;
    let pg_slice = slice(
        "default",
        "pg-1",
        "pg",
        &[("10.1.0.5", "pg-0", true)],
        ("pg", 5432),
    );
    slices.create(&PostParams::default(), &pg_slice).await?;
    eventually("pg-0 to resolve", || async {
        let m = udp(addr, "pg-0.pg.default.svc.cluster.local.", RecordType::A).await?;
        Ok(rdata(&m.answers) == ["10.1.0.5"])
    })
    .await?;
    dns.stop().await;
    Ok(())
}
