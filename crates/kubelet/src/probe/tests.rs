//! Tests of [`probe_once`] and [`run_handler`] against real HTTP, HTTPS and TCP listeners on
//! 127.0.0.1 and a fake [`Exec`]; the fake is shared with the manager's tests.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1::{
    ContainerPort, EnvVar, ExecAction, GRPCAction, HTTPGetAction, HTTPHeader, LifecycleHandler,
    Probe, SleepAction, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;

/// What the fake runtime does for a command.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Exit(i32, &'static str, &'static str),
    Timeout,
    Error(&'static str),
}

/// A fake runtime: answers by command (joined with spaces), exit 0 by default; records calls.
#[derive(Debug, Default)]
pub(crate) struct FakeExec {
    pub calls: Mutex<Vec<(String, Vec<String>, Duration)>>,
    pub script: Mutex<HashMap<String, Reply>>,
}

impl FakeExec {
    pub(crate) fn answer(&self, cmd: &str, reply: Reply) {
        self.script.lock().unwrap().insert(cmd.to_owned(), reply);
    }

    pub(crate) fn count(&self, cmd: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, c, _)| c.join(" ") == cmd)
            .count()
    }
}

impl Exec for FakeExec {
    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> anyhow::Result<ExecOutput> {
        let joined = cmd.join(" ");
        self.calls
            .lock()
            .unwrap()
            .push((container_id.to_owned(), cmd, timeout));
        let reply = self.script.lock().unwrap().get(&joined).cloned();
        match reply.unwrap_or(Reply::Exit(0, "", "")) {
            Reply::Exit(code, out, err) => Ok(ExecOutput {
                exit_code: code,
                stdout: out.as_bytes().to_vec(),
                stderr: err.as_bytes().to_vec(),
            }),
            Reply::Timeout => Err(tonic::Status::deadline_exceeded("timeout 1s exceeded").into()),
            Reply::Error(e) => Err(anyhow::anyhow!(e)),
        }
    }
}

/// A request as the test server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    version: hyper::Version,
    headers: hyper::HeaderMap,
}

type Handler = Arc<dyn Fn(&str) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync>;

/// An HTTP (or, with a TLS config, HTTPS) server on 127.0.0.1 answering through `handler`
/// (given the path, returning status, headers and body). Paths starting `/slow` wait 5 s.
async fn serve(
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Handler,
) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (seen, handler, tls) = (seen2.clone(), handler.clone(), tls.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let (seen, handler) = (seen.clone(), handler.clone());
                    async move {
                        let path = req
                            .uri()
                            .path_and_query()
                            .map(|p| p.to_string())
                            .unwrap_or_default();
                        seen.lock().unwrap().push(Seen {
                            path: path.clone(),
                            version: req.version(),
                            headers: req.headers().clone(),
                        });
                        if path.starts_with("/slow") {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                        let (status, headers, body) = handler(&path);
                        let mut resp = hyper::Response::builder().status(status);
                        for (k, v) in headers {
                            resp = resp.header(k, v);
                        }
                        Ok::<_, Infallible>(resp.body(Full::new(Bytes::from(body))).unwrap())
                    }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(config) => {
                        let Ok(stream) =
                            tokio_rustls::TlsAcceptor::from(config).accept(stream).await
                        else {
                            return;
                        };
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            });
        }
    });
    (port, seen)
}

fn ok_handler() -> Handler {
    Arc::new(|_| (200, vec![], b"ok".to_vec()))
}

/// A TLS server config with a certificate from a CA the prober has never seen.
fn tls_config(alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    let dir = tempfile::tempdir().unwrap();
    let certs =
        barge_apiserver::tls::ClusterCerts::load_or_create(dir.path(), &["127.0.0.1".into()])
            .unwrap();
    let mut config = (*certs.server_config().unwrap()).clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn target() -> Target {
    Target {
        pod_ip: "127.0.0.1".into(),
        container_id: "abc123".into(),
        container_name: "app".into(),
        container_ports: vec![],
        container_env: vec![],
        pod: "web_default(uid-1)".into(),
    }
}

fn http_probe(port: i32, path: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            port: IntOrString::Int(port),
            path: Some(path.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn header(seen: &Seen, name: &str) -> Option<String> {
    seen.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn http_success_sends_upstream_headers() {
    let (port, seen) = serve(None, ok_handler()).await;
    let mut probe = http_probe(i32::from(port), "/healthz?full=1");
    if let Some(get) = probe.http_get.as_mut() {
        get.http_headers = Some(vec![HTTPHeader {
            name: "x-custom".into(),
            value: "a".into(),
        }]);
    }
    let out = probe_once(&probe, &target(), &FakeExec::default()).await;
    assert_eq!(out, Outcome::Success("ok".into()));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/healthz?full=1");
    assert_eq!(seen[0].version, hyper::Version::HTTP_11);
    assert_eq!(
        header(&seen[0], "user-agent").as_deref(),
        Some("kube-probe/1.32")
    );
    assert_eq!(header(&seen[0], "accept").as_deref(), Some("*/*"));
    assert_eq!(header(&seen[0], "x-custom").as_deref(), Some("a"));
    assert_eq!(header(&seen[0], "connection").as_deref(), Some("close"));
    assert_eq!(header(&seen[0], "host"), Some(format!("127.0.0.1:{port}")));
    assert_eq!(header(&seen[0], "accept-encoding"), None);
}

#[tokio::test]
async fn http_header_overrides() {
    let (port, seen) = serve(None, ok_handler()).await;
    let mut probe = http_probe(i32::from(port), "/");
    if let Some(get) = probe.http_get.as_mut() {
        get.http_headers = Some(
            [
                ("Host", "example.com"),
                ("User-Agent", "mine/1"),
                ("Accept", ""),
            ]
            .into_iter()
            .map(|(n, v)| HTTPHeader {
                name: n.into(),
                value: v.into(),
            })
            .collect(),
        );
    }
    let out = probe_once(&probe, &target(), &FakeExec::default()).await;
    assert_eq!(out, Outcome::Success("ok".into()));
    let seen = seen.lock().unwrap();
    assert_eq!(header(&seen[0], "host").as_deref(), Some("example.com"));
    assert_eq!(header(&seen[0], "user-agent").as_deref(), Some("mine/1"));
    assert_eq!(header(&seen[0], "accept"), None);
}

#[tokio::test]
async fn http_status_codes_classify_as_upstream() {
    let handler: Handler = Arc::new(|path| {
        let code = path.trim_start_matches('/').parse().unwrap_or(200);
        (code, vec![], b"body".to_vec())
    });
    let (port, _) = serve(None, handler).await;
    let t = target();
    let exec = FakeExec::default();
    let p = i32::from(port);
    assert_eq!(
        probe_once(&http_probe(p, "/200"), &t, &exec).await,
        Outcome::Success("body".into())
    );
    assert_eq!(
        probe_once(&http_probe(p, "/399"), &t, &exec).await,
        Outcome::Warning("Probe terminated redirects, Response body: body".into())
    );
    assert_eq!(
        probe_once(&http_probe(p, "/400"), &t, &exec).await,
        Outcome::Failure("HTTP probe failed with statuscode: 400".into())
    );
    assert_eq!(
        probe_once(&http_probe(p, "/500"), &t, &exec).await,
        Outcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
}

#[tokio::test]
async fn http_refused_is_worded_as_go() {
    let port = closed_port();
    let out = probe_once(
        &http_probe(i32::from(port), "/healthz"),
        &target(),
        &FakeExec::default(),
    )
    .await;
    assert_eq!(
        out,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{port}/healthz\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        ))
    );
}

#[tokio::test]
async fn http_timeout_while_awaiting_headers() {
    let (port, _) = serve(None, ok_handler()).await;
    let out = run_probe(
        &http_probe(i32::from(port), "/slow"),
        &target(),
        &FakeExec::default(),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(
        out,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{port}/slow\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ))
    );
}

#[tokio::test]
async fn http_body_is_read_up_to_10_kib() {
    let handler: Handler = Arc::new(|_| (200, vec![], vec![b'x'; 20 * 1024]));
    let (port, _) = serve(None, handler).await;
    match probe_once(
        &http_probe(i32::from(port), "/"),
        &target(),
        &FakeExec::default(),
    )
    .await
    {
        Outcome::Success(body) => assert_eq!(body.len(), 10 * 1024),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn http_follows_redirects_on_the_same_host() {
    let handler: Handler = Arc::new(|path| match path {
        "/a" => (302, vec![("location", "/b".to_owned())], vec![]),
        "/b" => (301, vec![("location", "c?x=1".to_owned())], vec![]),
        _ => (200, vec![], b"arrived".to_vec()),
    });
    let (port, seen) = serve(None, handler).await;
    let out = probe_once(
        &http_probe(i32::from(port), "/a"),
        &target(),
        &FakeExec::default(),
    )
    .await;
    assert_eq!(out, Outcome::Success("arrived".into()));
    let seen = seen.lock().unwrap();
    let paths: Vec<_> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/a", "/b", "/c?x=1"]);
    assert_eq!(
        header(&seen[2], "referer"),
        Some(format!("http://127.0.0.1:{port}/b"))
    );
    assert_eq!(
        header(&seen[2], "user-agent").as_deref(),
        Some("kube-probe/1.32")
    );
}

#[tokio::test]
async fn http_redirect_to_another_host_is_a_warning() {
    let handler: Handler = Arc::new(|path| match path {
        "/a" => (
            302,
            vec![("location", "http://localhost/elsewhere".to_owned())],
            b"moved".to_vec(),
        ),
        _ => (200, vec![], vec![]),
    });
    let (port, seen) = serve(None, handler).await;
    let out = probe_once(
        &http_probe(i32::from(port), "/a"),
        &target(),
        &FakeExec::default(),
    )
    .await;
    assert_eq!(
        out,
        Outcome::Warning("Probe terminated redirects, Response body: moved".into())
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn http_redirect_loop_stops_after_10_requests() {
    let handler: Handler = Arc::new(|_| (302, vec![("location", "/loop".to_owned())], vec![]));
    let (port, seen) = serve(None, handler).await;
    let out = probe_once(
        &http_probe(i32::from(port), "/loop"),
        &target(),
        &FakeExec::default(),
    )
    .await;
    assert_eq!(
        out,
        Outcome::Failure("Get \"/loop\": stopped after 10 redirects".into())
    );
    assert_eq!(seen.lock().unwrap().len(), 10);
}

#[tokio::test]
async fn https_skips_verification_over_http1_and_http2() {
    for (alpn, version) in [
        (&[b"http/1.1".as_slice()][..], hyper::Version::HTTP_11),
        (
            &[b"h2".as_slice(), b"http/1.1".as_slice()][..],
            hyper::Version::HTTP_2,
        ),
    ] {
        let (port, seen) = serve(Some(tls_config(alpn)), ok_handler()).await;
        let mut probe = http_probe(i32::from(port), "/secure");
        if let Some(get) = probe.http_get.as_mut() {
            get.scheme = Some("HTTPS".into());
            get.http_headers = Some(vec![HTTPHeader {
                name: "Host".into(),
                value: "svc.example".into(),
            }]);
        }
        let out = probe_once(&probe, &target(), &FakeExec::default()).await;
        assert_eq!(out, Outcome::Success("ok".into()), "{version:?}");
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].version, version);
        assert_eq!(seen[0].path, "/secure");
        assert_eq!(
            header(&seen[0], "user-agent").as_deref(),
            Some("kube-probe/1.32")
        );
        if version == hyper::Version::HTTP_11 {
            assert_eq!(header(&seen[0], "host").as_deref(), Some("svc.example"));
        }
    }
}

#[tokio::test]
async fn https_to_a_plain_http_server() {
    let (port, _) = serve(None, ok_handler()).await;
    let mut probe = http_probe(i32::from(port), "/");
    if let Some(get) = probe.http_get.as_mut() {
        get.scheme = Some("HTTPS".into());
    }
    let out = probe_once(&probe, &target(), &FakeExec::default()).await;
    assert_eq!(
        out,
        Outcome::Failure(format!(
            "Get \"https://127.0.0.1:{port}/\": http: server gave HTTP response to HTTPS client"
        ))
    );
}

#[tokio::test]
async fn named_ports_resolve_from_the_container() {
    let (port, _) = serve(None, ok_handler()).await;
    let mut t = target();
    t.container_ports = vec![ContainerPort {
        name: Some("web".into()),
        container_port: i32::from(port),
        ..Default::default()
    }];
    let exec = FakeExec::default();
    let mut probe = http_probe(0, "/");
    if let Some(get) = probe.http_get.as_mut() {
        get.port = IntOrString::String("web".into());
    }
    assert_eq!(
        probe_once(&probe, &t, &exec).await,
        Outcome::Success("ok".into())
    );
    let tcp = Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String("web".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        probe_once(&tcp, &t, &exec).await,
        Outcome::Success(String::new())
    );
    let missing = Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String("admin".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        probe_once(&missing, &t, &exec).await,
        Outcome::Unknown("port \"admin\" not found".into())
    );
    assert_eq!(
        probe_once(&http_probe(70000, "/"), &t, &exec).await,
        Outcome::Unknown("invalid port number: 70000".into())
    );
}

#[tokio::test]
async fn tcp_probe_uses_the_pod_ip_or_its_host() {
    let port = closed_port();
    let mut probe = Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(i32::from(port)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let exec = FakeExec::default();
    assert_eq!(
        probe_once(&probe, &target(), &exec).await,
        Outcome::Failure(format!(
            "dial tcp 127.0.0.1:{port}: connect: connection refused"
        ))
    );
    let mut t = target();
    t.pod_ip = "198.51.100.7".into();
    if let Some(tcp) = probe.tcp_socket.as_mut() {
        tcp.host = Some("127.0.0.1".into());
    }
    assert_eq!(
        probe_once(&probe, &t, &exec).await,
        Outcome::Failure(format!(
            "dial tcp 127.0.0.1:{port}: connect: connection refused"
        ))
    );
}

fn exec_probe(cmd: &[&str]) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(cmd.iter().map(|s| s.to_string()).collect()),
        }),
        timeout_seconds: Some(3),
        ..Default::default()
    }
}

#[tokio::test]
async fn exec_probe_outcomes() {
    let exec = FakeExec::default();
    exec.answer("true", Reply::Exit(0, "fine\n", ""));
    exec.answer(
        "cat /tmp/healthy",
        Reply::Exit(1, "", "cat: can't open '/tmp/healthy'\n"),
    );
    exec.answer("sh -c sleep 10", Reply::Timeout);
    exec.answer(
        "broken",
        Reply::Error("rpc error: code = NotFound desc = no container"),
    );
    let mut t = target();
    t.container_env = vec![EnvVar {
        name: "FILE".into(),
        value: Some("/tmp/healthy".into()),
        ..Default::default()
    }];
    assert_eq!(
        probe_once(&exec_probe(&["true"]), &t, &exec).await,
        Outcome::Success("fine\n".into())
    );
    assert_eq!(
        probe_once(&exec_probe(&["cat", "$(FILE)"]), &t, &exec).await,
        Outcome::Failure("cat: can't open '/tmp/healthy'\n".into())
    );
    assert_eq!(
        probe_once(&exec_probe(&["sh", "-c", "sleep 10"]), &t, &exec).await,
        Outcome::Failure("command \"sh -c sleep 10\" timed out".into())
    );
    assert_eq!(
        probe_once(&exec_probe(&["broken"]), &t, &exec).await,
        Outcome::Unknown("rpc error: code = NotFound desc = no container".into())
    );
    let calls = exec.calls.lock().unwrap();
    assert_eq!(
        calls[1],
        (
            "abc123".to_owned(),
            vec!["cat".to_owned(), "/tmp/healthy".to_owned()],
            Duration::from_secs(3)
        )
    );
}

#[tokio::test]
async fn exec_output_is_limited_to_10_kib() {
    #[derive(Debug)]
    struct Loud;
    impl Exec for Loud {
        async fn exec_sync(
            &self,
            _: &str,
            _: Vec<String>,
            _: Duration,
        ) -> anyhow::Result<ExecOutput> {
            Ok(ExecOutput {
                exit_code: 2,
                stdout: vec![b'o'; 8 * 1024],
                stderr: vec![b'e'; 8 * 1024],
            })
        }
    }
    match probe_once(&exec_probe(&["x"]), &target(), &Loud).await {
        Outcome::Failure(out) => {
            assert_eq!(out.len(), 10 * 1024);
            assert!(out.ends_with('e'));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn grpc_probe_targets_the_pod_ip() {
    let (port, seen) =
        super::grpc::tests::health_server(super::grpc::tests::Answer::Status(1)).await;
    let probe = Probe {
        grpc: Some(GRPCAction {
            port: i32::from(port),
            service: Some("liveness".into()),
        }),
        ..Default::default()
    };
    assert_eq!(
        probe_once(&probe, &target(), &FakeExec::default()).await,
        Outcome::Success("service healthy".into())
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_probe_without_action_is_an_error() {
    assert_eq!(
        probe_once(&Probe::default(), &target(), &FakeExec::default()).await,
        Outcome::Unknown("missing probe handler for web_default(uid-1):app".into())
    );
}

#[test]
fn targets_from_pods() {
    let pod = Pod {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("uid-1".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let container = Container {
        name: "app".into(),
        ..Default::default()
    };
    let t = Target::new(&pod, &container, "containerd://abc123", "127.0.0.1");
    assert_eq!(t, target());
}

// Lifecycle hooks.

fn exec_hook(cmd: &[&str]) -> LifecycleHandler {
    LifecycleHandler {
        exec: Some(ExecAction {
            command: Some(cmd.iter().map(|s| s.to_string()).collect()),
        }),
        ..Default::default()
    }
}

fn http_hook(scheme: &str, port: u16, path: &str) -> LifecycleHandler {
    LifecycleHandler {
        http_get: Some(HTTPGetAction {
            scheme: Some(scheme.into()),
            port: IntOrString::Int(i32::from(port)),
            path: Some(path.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn exec_hooks() {
    let exec = FakeExec::default();
    exec.answer("sh -c exit 3", Reply::Exit(3, "out\n", "bad"));
    assert_eq!(
        run_handler(&exec_hook(&["touch", "/tmp/ok"]), &target(), &exec).await,
        Ok(None)
    );
    assert_eq!(
        run_handler(&exec_hook(&["sh", "-c", "exit 3"]), &target(), &exec).await,
        Err("Exec lifecycle hook ([sh -c exit 3]) for Container \"app\" in Pod \"web_default(uid-1)\" failed - error: command 'sh -c exit 3' exited with 3: bad, message: \"out\\nbad\"".into())
    );
    // Hooks run without a time limit.
    assert_eq!(exec.calls.lock().unwrap()[0].2, Duration::ZERO);
}

#[tokio::test]
async fn http_hooks_fail_only_without_a_response() {
    let handler: Handler = Arc::new(|_| (500, vec![], b"oops".to_vec()));
    let (port, seen) = serve(None, handler).await;
    let exec = FakeExec::default();
    assert_eq!(
        run_handler(&http_hook("HTTP", port, "/stop"), &target(), &exec).await,
        Ok(None)
    );
    assert_eq!(
        header(&seen.lock().unwrap()[0], "user-agent").as_deref(),
        Some("kube-lifecycle/1.32")
    );
    let closed = closed_port();
    assert_eq!(
        run_handler(&http_hook("HTTP", closed, "/stop"), &target(), &exec).await,
        Err(format!(
            "HTTP lifecycle hook (/stop) for Container \"app\" in Pod \"web_default(uid-1)\" failed - error: Get \"http://127.0.0.1:{closed}/stop\": dial tcp 127.0.0.1:{closed}: connect: connection refused"
        ))
    );
}

#[tokio::test]
async fn https_hook_falls_back_to_http() {
    let (port, seen) = serve(None, ok_handler()).await;
    let mut hook = http_hook("HTTPS", port, "/start");
    if let Some(get) = hook.http_get.as_mut() {
        get.http_headers = Some(vec![HTTPHeader {
            name: "Authorization".into(),
            value: "Bearer x".into(),
        }]);
    }
    assert_eq!(
        run_handler(&hook, &target(), &FakeExec::default()).await,
        Ok(Some(format!(
            "request to HTTPS lifecycle hook 127.0.0.1:{port} got HTTP response, retry with HTTP succeeded"
        )))
    );
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(header(&seen[0], "authorization"), None);
    }
    // And a real HTTPS server needs no fallback.
    let (tls_port, _) = serve(Some(tls_config(&[b"http/1.1"])), ok_handler()).await;
    assert_eq!(
        run_handler(
            &http_hook("HTTPS", tls_port, "/start"),
            &target(),
            &FakeExec::default()
        )
        .await,
        Ok(None)
    );
}

#[tokio::test]
async fn sleep_and_unsupported_hooks() {
    let sleep = LifecycleHandler {
        sleep: Some(SleepAction { seconds: 1 }),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    assert_eq!(
        run_handler(&sleep, &target(), &FakeExec::default()).await,
        Ok(None)
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    let tcp = LifecycleHandler {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(8080),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        run_handler(&tcp, &target(), &FakeExec::default()).await,
        Err("Cannot run handler: invalid handler: &LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:&TCPSocketAction{Port:{0 8080 },Host:,},Sleep:nil,}".into())
    );
}
