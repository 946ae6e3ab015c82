//! Streaming end to end with the real kubectl (v1.32 on the PATH): kubectl → the API server
//! (in process, HTTPS) → the kubelet's server (HTTPS, client certificate required) → the
//! runtime.
//!
//! - Without root: the runtime is a fake CRI server (gRPC on loopback) whose containers log to
//!   files the test writes, and whose exec URLs point at a fake stream server speaking
//!   containerd's side of the SPDY `v4.channel.k8s.io` protocol. Covers `kubectl logs` (`-f`,
//!   `--tail`, `--timestamps`, `--since`, `--limit-bytes`, `--previous`, `-c`, errors),
//!   `kubectl exec` (output, stderr, exit codes, stdin closed by v5's CLOSE signal, errors),
//!   `nodes/proxy` to `/stats/summary`, and the kubelet refusing callers without a client
//!   certificate.
//! - As root with containerd installed: a real pod (Barge's pause image and a busybox image)
//!   in the test's own containerd; `logs`, `exec`, `exec -i`, `exec -it` through a
//!   pseudo-terminal (`script`), `attach`, `port-forward`, `cp` both ways and the stats
//!   summary. It skips with a printed reason otherwise, and removes everything it made.

#[allow(dead_code)] // each test binary uses a part of it
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use barge_apiserver::Server as ApiServer;
use barge_kubelet::server::spdy::{self, FLAG_FIN, Frame, HeaderReader, HeaderWriter};
use barge_kubelet::server::{Config as KubeletConfig, Host, Server as KubeletServer, Tls};
use barge_store::{SqliteOptions, SqliteStore};
use bytes::Bytes;
use futures_util::Stream;
use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::runtime_service_server::{RuntimeService, RuntimeServiceServer};
use k8s_cri::v1::*;
use k8s_openapi::api::core::v1::{
    ContainerState as State, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus as PodContainerStatus, Node, Pod, PodStatus,
};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

const NODE: &str = "node-1";

// ---------------------------------------------------------------------------------------
// The kubelet's host: pods with the status the test gives them, and a runtime channel.

#[derive(Debug)]
struct TestHost {
    pods: Mutex<HashMap<(String, String), Pod>>,
    channel: Channel,
}

impl Host for TestHost {
    fn node_name(&self) -> String {
        NODE.to_owned()
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        let pods = self.pods.lock().unwrap();
        pods.get(&(namespace.to_owned(), name.to_owned())).cloned()
    }

    fn runtime(&self) -> RuntimeServiceClient<Channel> {
        RuntimeServiceClient::new(self.channel.clone())
    }
}

/// An API server, a kubelet server for [`NODE`] registered with it, and a kubectl for both.
struct Cluster {
    dir: tempfile::TempDir,
    _api: ApiServer,
    kubelet: KubeletServer,
    host: Arc<TestHost>,
    client: kube::Client,
    kubeconfig: PathBuf,
}

impl Cluster {
    async fn start(channel: Channel) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path().join("state.db"))).unwrap();
        let mut config = barge_apiserver::Config::new(dir.path().join("server"));
        config.bind_address = "127.0.0.1".parse().unwrap();
        config.https_port = 0;
        let api = ApiServer::start(config, Arc::new(store)).await.unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        barge_apiserver::kubeconfig::write(&kubeconfig, &api.admin_kubeconfig()).unwrap();

        let serving = api
            .certs
            .issue_kubelet_serving(NODE, &["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
        let host = Arc::new(TestHost {
            pods: Mutex::new(HashMap::new()),
            channel,
        });
        let kubelet = KubeletServer::start(
            KubeletConfig {
                address: "127.0.0.1:0".parse().unwrap(),
                tls: Tls {
                    cert_pem: serving.cert_pem,
                    key_pem: serving.key_pem,
                    client_ca_pem: api.certs.ca.cert_pem.clone(),
                },
                metric_resolution: std::time::Duration::from_millis(200),
            },
            host.clone(),
        )
        .await
        .unwrap();

        let kc = kube::config::Kubeconfig::from_yaml(&api.admin_kubeconfig()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let cluster = Cluster {
            dir,
            _api: api,
            kubelet,
            host,
            client,
            kubeconfig,
        };
        cluster.register_node().await;
        cluster
    }

    async fn register_node(&self) {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
        }))
        .unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        let status = json!({"status": {
            "addresses": [
                {"type": "Hostname", "address": NODE},
                {"type": "InternalIP", "address": "127.0.0.1"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet.addr().port()}},
        }});
        nodes
            .patch_status(NODE, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }

    /// Creates a pod bound to [`NODE`] in the API, and gives the kubelet the same pod with
    /// `status`.
    async fn pod(&self, name: &str, containers: &[&str], status: PodStatus) -> Pod {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        let spec_containers: Vec<_> = containers
            .iter()
            .map(|c| json!({"name": c, "image": "busybox"}))
            .collect();
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": NODE, "containers": spec_containers},
        }))
        .unwrap();
        let mut pod = pods.create(&PostParams::default(), &pod).await.unwrap();
        if let Some(phase) = &status.phase {
            // kubectl port-forward and exec read the phase from the API.
            let patch = json!({"status": {"phase": phase}});
            pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        }
        pod.status = Some(status);
        self.host
            .pods
            .lock()
            .unwrap()
            .insert(("default".to_owned(), name.to_owned()), pod.clone());
        pod
    }

    fn kubectl_command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("kube-cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        cmd
    }

    async fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, None).await
    }

    async fn kubectl_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = self.kubectl_command(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs");
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data).await.unwrap();
            drop(pipe);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("kubectl finishes within a minute")
            .unwrap();
        eprintln!(
            "$ kubectl {} -> {:?}\n{}{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn running(id: &str, name: &str) -> PodContainerStatus {
    PodContainerStatus {
        name: name.into(),
        container_id: Some(format!("containerd://{id}")),
        ready: true,
        state: Some(State {
            running: Some(ContainerStateRunning::default()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn with_containers(statuses: Vec<PodContainerStatus>) -> PodStatus {
    PodStatus {
        phase: Some("Running".into()),
        container_statuses: Some(statuses),
        ..Default::default()
    }
}

fn kubectl_missing() -> bool {
    let found = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping: kubectl is not installed");
    }
    !found
}

// ---------------------------------------------------------------------------------------
// A fake CRI runtime service.

#[derive(Debug, Clone)]
struct FakeContainer {
    id: String,
    pod: String,
    pod_uid: String,
    name: String,
    log_path: PathBuf,
    running: bool,
}

#[derive(Debug, Default)]
struct FakeState {
    containers: Vec<FakeContainer>,
    /// The stream server's base URL (`http://127.0.0.1:port`).
    stream_base: String,
    /// Exec requests by token.
    execs: HashMap<String, ExecRequest>,
    next_token: u32,
}

#[derive(Debug, Default)]
struct FakeRuntime {
    state: Mutex<FakeState>,
}

impl FakeRuntime {
    fn add(&self, c: FakeContainer) {
        self.state.lock().unwrap().containers.push(c);
    }

    fn set_running(&self, id: &str, running: bool) {
        let mut s = self.state.lock().unwrap();
        for c in s.containers.iter_mut().filter(|c| c.id == id) {
            c.running = running;
        }
    }

    fn exec_request(&self, token: &str) -> Option<ExecRequest> {
        self.state.lock().unwrap().execs.get(token).cloned()
    }
}

fn state_of(c: &FakeContainer) -> i32 {
    if c.running {
        ContainerState::ContainerRunning as i32
    } else {
        ContainerState::ContainerExited as i32
    }
}

fn stats(id: &str, name: &str, uid: &str, usage: u64, memory: u64) -> ContainerStats {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    ContainerStats {
        attributes: Some(ContainerAttributes {
            id: id.into(),
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            labels: [("io.kubernetes.pod.uid".to_owned(), uid.to_owned())].into(),
            annotations: HashMap::new(),
        }),
        cpu: Some(CpuUsage {
            timestamp: now,
            usage_core_nano_seconds: Some(UInt64Value { value: usage }),
            usage_nano_cores: Some(UInt64Value { value: 5_000_000 }),
        }),
        memory: Some(MemoryUsage {
            timestamp: now,
            working_set_bytes: Some(UInt64Value { value: memory }),
            usage_bytes: Some(UInt64Value { value: memory * 2 }),
            ..Default::default()
        }),
        writable_layer: None,
        swap: None,
    }
}

type FakeResult<T> = Result<Response<T>, Status>;

/// The RPCs the fake does not answer, with the signature `#[async_trait]` gives them.
macro_rules! unimplemented_rpcs {
    ($($name:ident($req:ty) -> $resp:ty;)*) => {$(
        fn $name<'life0, 'async_trait>(
            &'life0 self,
            _request: Request<$req>,
        ) -> Pin<Box<dyn std::future::Future<Output = FakeResult<$resp>> + Send + 'async_trait>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            Box::pin(async { Err(Status::unimplemented(stringify!($name))) })
        }
    )*};
}

#[tonic::async_trait]
impl RuntimeService for FakeRuntime {
    type GetContainerEventsStream =
        Pin<Box<dyn Stream<Item = Result<ContainerEventResponse, Status>> + Send + 'static>>;

    unimplemented_rpcs! {
        version(VersionRequest) -> VersionResponse;
        run_pod_sandbox(RunPodSandboxRequest) -> RunPodSandboxResponse;
        stop_pod_sandbox(StopPodSandboxRequest) -> StopPodSandboxResponse;
        remove_pod_sandbox(RemovePodSandboxRequest) -> RemovePodSandboxResponse;
        pod_sandbox_status(PodSandboxStatusRequest) -> PodSandboxStatusResponse;
        list_pod_sandbox(ListPodSandboxRequest) -> ListPodSandboxResponse;
        create_container(CreateContainerRequest) -> CreateContainerResponse;
        start_container(StartContainerRequest) -> StartContainerResponse;
        stop_container(StopContainerRequest) -> StopContainerResponse;
        remove_container(RemoveContainerRequest) -> RemoveContainerResponse;
        update_container_resources(UpdateContainerResourcesRequest) -> UpdateContainerResourcesResponse;
        reopen_container_log(ReopenContainerLogRequest) -> ReopenContainerLogResponse;
        exec_sync(ExecSyncRequest) -> ExecSyncResponse;
        attach(AttachRequest) -> AttachResponse;
        port_forward(PortForwardRequest) -> PortForwardResponse;
        container_stats(ContainerStatsRequest) -> ContainerStatsResponse;
        pod_sandbox_stats(PodSandboxStatsRequest) -> PodSandboxStatsResponse;
        update_runtime_config(UpdateRuntimeConfigRequest) -> UpdateRuntimeConfigResponse;
        status(StatusRequest) -> StatusResponse;
        checkpoint_container(CheckpointContainerRequest) -> CheckpointContainerResponse;
        get_container_events(GetEventsRequest) -> Self::GetContainerEventsStream;
        list_metric_descriptors(ListMetricDescriptorsRequest) -> ListMetricDescriptorsResponse;
        list_pod_sandbox_metrics(ListPodSandboxMetricsRequest) -> ListPodSandboxMetricsResponse;
        runtime_config(RuntimeConfigRequest) -> RuntimeConfigResponse;
    }

    async fn list_containers(
        &self,
        request: Request<ListContainersRequest>,
    ) -> FakeResult<ListContainersResponse> {
        let filter = request.into_inner().filter.unwrap_or_default();
        let s = self.state.lock().unwrap();
        let containers = s
            .containers
            .iter()
            .filter(|c| {
                let labels: HashMap<String, String> = [
                    ("io.kubernetes.pod.uid".to_owned(), c.pod_uid.clone()),
                    ("io.kubernetes.container.name".to_owned(), c.name.clone()),
                ]
                .into();
                filter
                    .label_selector
                    .iter()
                    .all(|(k, v)| labels.get(k) == Some(v))
                    && filter.state.is_none_or(|st| st.state == state_of(c))
            })
            .map(|c| Container {
                id: c.id.clone(),
                state: state_of(c),
                ..Default::default()
            })
            .collect();
        Ok(Response::new(ListContainersResponse { containers }))
    }

    async fn container_status(
        &self,
        request: Request<ContainerStatusRequest>,
    ) -> FakeResult<ContainerStatusResponse> {
        let id = request.into_inner().container_id;
        let s = self.state.lock().unwrap();
        let c = s
            .containers
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Status::not_found(format!("container {id} not found")))?;
        Ok(Response::new(ContainerStatusResponse {
            status: Some(ContainerStatus {
                id: c.id.clone(),
                state: state_of(c),
                log_path: c.log_path.to_string_lossy().into_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn exec(&self, request: Request<ExecRequest>) -> FakeResult<ExecResponse> {
        let req = request.into_inner();
        let mut s = self.state.lock().unwrap();
        if !s.containers.iter().any(|c| c.id == req.container_id) {
            return Err(Status::not_found("no such container"));
        }
        s.next_token += 1;
        let token = format!("tok{}", s.next_token);
        s.execs.insert(token.clone(), req);
        Ok(Response::new(ExecResponse {
            url: format!("{}/exec/{token}", s.stream_base),
        }))
    }

    async fn list_container_stats(
        &self,
        _request: Request<ListContainerStatsRequest>,
    ) -> FakeResult<ListContainerStatsResponse> {
        let s = self.state.lock().unwrap();
        let stats = s
            .containers
            .iter()
            .filter(|c| c.running)
            .map(|c| stats(&c.id, &c.name, &c.pod_uid, 1_000_000_000, 4 << 20))
            .collect();
        Ok(Response::new(ListContainerStatsResponse { stats }))
    }

    async fn list_pod_sandbox_stats(
        &self,
        _request: Request<ListPodSandboxStatsRequest>,
    ) -> FakeResult<ListPodSandboxStatsResponse> {
        let s = self.state.lock().unwrap();
        let mut stats: Vec<PodSandboxStats> = Vec::new();
        for c in s.containers.iter().filter(|c| c.running) {
            let id = format!("sandbox-{}", c.pod_uid);
            if stats
                .iter()
                .any(|p| p.attributes.as_ref().is_some_and(|a| a.id == id))
            {
                continue;
            }
            stats.push(PodSandboxStats {
                attributes: Some(PodSandboxAttributes {
                    id,
                    metadata: Some(PodSandboxMetadata {
                        name: c.pod.clone(),
                        uid: c.pod_uid.clone(),
                        namespace: "default".into(),
                        attempt: 0,
                    }),
                    ..Default::default()
                }),
                // No pod figures of its own: the kubelet sums the containers'.
                linux: None,
                windows: None,
            });
        }
        Ok(Response::new(ListPodSandboxStatsResponse { stats }))
    }
}

/// Serves `fake` on loopback; the channel to it and the server task.
async fn serve_fake(fake: Arc<FakeRuntime>) -> (Channel, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = futures_util::stream::unfold(listener, |l| async move {
        let next = l.accept().await.map(|(s, _)| s);
        Some((next, l))
    });
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(RuntimeServiceServer::from_arc(fake))
            .serve_with_incoming(incoming)
            .await;
    });
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    (channel, task)
}

// ---------------------------------------------------------------------------------------
// A fake of containerd's stream server: the SPDY side of `v4.channel.k8s.io`, running three
// pretend commands: `echo ARGS...`, `cat` (stdin to stdout until stdin closes) and
// `fail CODE` (a line on stderr, then the exit code).

async fn serve_fake_streams(fake: Arc<FakeRuntime>) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    fake.state.lock().unwrap().stream_base = format!("http://{addr}");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let fake = fake.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |mut req| {
                    let fake = fake.clone();
                    async move {
                        let token = req.uri().path().rsplit('/').next().unwrap_or("").to_owned();
                        let protocol = req
                            .headers()
                            .get("x-stream-protocol-version")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let exec = fake.exec_request(&token);
                        let mut resp = http::Response::new(http_body_util::Full::new(Bytes::new()));
                        let Some(exec) = exec.filter(|_| protocol.contains("v4.channel.k8s.io"))
                        else {
                            *resp.status_mut() = http::StatusCode::NOT_FOUND;
                            return Ok::<_, std::convert::Infallible>(resp);
                        };
                        let upgrade = hyper::upgrade::on(&mut req);
                        tokio::spawn(async move {
                            if let Ok(io) = upgrade.await {
                                fake_session(io, exec).await;
                            }
                        });
                        *resp.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
                        let h = resp.headers_mut();
                        h.insert("connection", "Upgrade".parse().unwrap());
                        h.insert("upgrade", "SPDY/3.1".parse().unwrap());
                        h.insert(
                            "x-stream-protocol-version",
                            "v4.channel.k8s.io".parse().unwrap(),
                        );
                        Ok(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    })
}

async fn fake_session(io: hyper::upgrade::Upgraded, exec: ExecRequest) {
    let (mut r, mut w) = tokio::io::split(TokioIo::new(io));
    let mut reader = HeaderReader::default();
    let mut writer = HeaderWriter::default();
    let expected = 1
        + usize::from(exec.stdin)
        + usize::from(exec.stdout)
        + usize::from(exec.stderr)
        + usize::from(exec.tty);
    let mut ids: HashMap<String, u32> = HashMap::new();
    while ids.len() < expected {
        let Ok(Some(frame)) = spdy::read_frame(&mut r).await else {
            return;
        };
        if let Frame::SynStream {
            stream, headers, ..
        } = frame
        {
            let headers = reader.read(&headers).unwrap();
            let kind = headers
                .iter()
                .find(|(k, _)| k == "streamtype")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            ids.insert(kind, stream);
            let reply = Frame::SynReply {
                stream,
                flags: 0,
                headers: writer.block(&[]),
            };
            w.write_all(&reply.encode()).await.unwrap();
        }
    }
    let data = |stream: u32, flags: u8, data: &[u8]| {
        Frame::Data {
            stream,
            flags,
            data: data.to_vec(),
        }
        .encode()
    };
    let (out, err) = (ids.get("stdout").copied(), ids.get("stderr").copied());
    let mut code = 0;
    match exec.cmd.first().map(String::as_str) {
        Some("echo") => {
            if let Some(out) = out {
                let text = format!("{}\n", exec.cmd[1..].join(" "));
                w.write_all(&data(out, 0, text.as_bytes())).await.unwrap();
            }
        }
        Some("cat") => {
            let stdin = ids.get("stdin").copied();
            loop {
                match spdy::read_frame(&mut r).await {
                    Ok(Some(Frame::Data {
                        stream,
                        flags,
                        data: d,
                    })) if Some(stream) == stdin => {
                        if let (Some(out), false) = (out, d.is_empty()) {
                            w.write_all(&data(out, 0, &d)).await.unwrap();
                        }
                        if flags & FLAG_FIN != 0 {
                            break;
                        }
                    }
                    Ok(Some(_)) => {}
                    _ => return,
                }
            }
        }
        Some("fail") => {
            if let Some(err) = err {
                w.write_all(&data(err, 0, b"failing\n")).await.unwrap();
            }
            code = exec.cmd.get(1).and_then(|c| c.parse().ok()).unwrap_or(1);
        }
        _ => code = 127,
    }
    let status = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command {:?}, exit code {code}", exec.cmd),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        })
    };
    let error = ids["error"];
    w.write_all(&data(
        error,
        FLAG_FIN,
        &serde_json::to_vec(&status).unwrap(),
    ))
    .await
    .unwrap();
    let _ = w.shutdown().await;
}

// ---------------------------------------------------------------------------------------

async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .ok()?
        .ok()?
}

fn log_line(time: &str, stream: &str, tag: &str, text: &str) -> String {
    format!("{time} {stream} {tag} {text}\n")
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_through_the_api_server_with_kubectl() {
    if kubectl_missing() {
        return;
    }
    let fake = Arc::new(FakeRuntime::default());
    let (channel, _cri) = serve_fake(fake.clone()).await;
    let cluster = Cluster::start(channel).await;
    let logs = cluster.dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();

    // web: running container c-web (three records, one split in two parts), and a previous
    // one c-web-old.
    let recent = now_rfc3339();
    let current = logs.join("app-1.log");
    std::fs::write(
        &current,
        [
            log_line("2020-01-01T00:00:00.5Z", "stdout", "F", "old line"),
            log_line(&recent, "stderr", "F", "an error line"),
            log_line(&recent, "stdout", "P", "split "),
            log_line(&recent, "stdout", "F", "line"),
        ]
        .concat(),
    )
    .unwrap();
    let previous = logs.join("app-0.log");
    std::fs::write(
        &previous,
        log_line(
            "2026-11-25T09:45:53.81Z",
            "stdout",
            "F",
            "from the first run",
        ),
    )
    .unwrap();
    let pod = cluster
        .pod(
            "web",
            &["app"],
            with_containers(vec![PodContainerStatus {
                last_state: Some(State {
                    terminated: Some(ContainerStateTerminated {
                        container_id: Some("containerd://c-web-old".into()),
                        exit_code: 1,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                restart_count: 1,
                ..running("c-web", "app")
            }]),
        )
        .await;
    let uid = pod.metadata.uid.clone().unwrap();
    for (id, path, running) in [("c-web", &current, true), ("c-web-old", &previous, false)] {
        fake.add(FakeContainer {
            id: id.into(),
            pod: "web".into(),
            pod_uid: uid.clone(),
            name: "app".into(),
            log_path: path.clone(),
            running,
        });
    }

    let out = cluster.kubectl(&["logs", "web"]).await;
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "old line\nan error line\nsplit line\n",
        "both streams, partial records joined"
    );
    let out = cluster
        .kubectl(&["logs", "web", "-c", "app", "--tail=2"])
        .await;
    assert_eq!(stdout(&out), "split line\n", "the last two file lines");
    let out = cluster.kubectl(&["logs", "web", "--tail=1"]).await;
    assert_eq!(stdout(&out), "line\n");
    let out = cluster.kubectl(&["logs", "web", "--since=1h"]).await;
    assert_eq!(stdout(&out), "an error line\nsplit line\n");
    let out = cluster.kubectl(&["logs", "web", "--limit-bytes=12"]).await;
    assert_eq!(stdout(&out), "old line\nan ");
    let out = cluster
        .kubectl(&["logs", "web", "--timestamps", "--tail=3"])
        .await;
    let text = stdout(&out);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.ends_with(" an error line") && first.len() > 31,
        "timestamped: {text:?}"
    );
    let out = cluster
        .kubectl(&["logs", "web", "--timestamps", "--tail=4"])
        .await;
    let text = stdout(&out);
    assert!(
        text.starts_with("2020-01-01T00:00:00.500000000Z old line\n"),
        "nine fractional digits: {text:?}"
    );
    assert!(
        text.ends_with(" split line\n") && text.matches('Z').count() == 3,
        "one time per line: {text:?}"
    );
    let out = cluster.kubectl(&["logs", "web", "--previous"]).await;
    assert_eq!(stdout(&out), "from the first run\n");

    // Errors, worded as upstream.
    let out = cluster.kubectl(&["logs", "web", "-c", "nope"]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("container nope is not valid for pod web"),
        "{}",
        stderr(&out)
    );
    cluster
        .pod(
            "fresh",
            &["app"],
            with_containers(vec![PodContainerStatus {
                name: "app".into(),
                state: Some(State {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some("ContainerCreating".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
        )
        .await;
    let out = cluster.kubectl(&["logs", "fresh"]).await;
    assert!(
        stderr(&out).contains(
            r#"Error from server (BadRequest): container "app" in pod "fresh" is waiting to start: ContainerCreating"#
        ),
        "{}",
        stderr(&out)
    );
    let out = cluster.kubectl(&["logs", "fresh", "--previous"]).await;
    assert!(
        stderr(&out).contains(
            r#"Error from server (BadRequest): previous terminated container "app" in pod "fresh" not found"#
        ),
        "{}",
        stderr(&out)
    );

    // -f: what is there, then what is appended, until the container stops.
    let mut follow = cluster.kubectl_command(&["logs", "-f", "web", "--tail=1"]);
    follow.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = follow.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("line"));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&current)
        .unwrap();
    use std::io::Write as _;
    f.write_all(log_line(&now_rfc3339(), "stdout", "F", "appended").as_bytes())
        .unwrap();
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("appended"));
    let t = Instant::now();
    f.write_all(log_line(&now_rfc3339(), "stdout", "F", "last words").as_bytes())
        .unwrap();
    fake.set_running("c-web", false);
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("last words"));
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("logs -f ends when the container stops")
        .unwrap();
    assert!(status.success());
    println!(
        "logs -f ended {} ms after the container stopped",
        t.elapsed().as_millis()
    );
    fake.set_running("c-web", true);

    // nodes/proxy reaches the kubelet's other endpoints; the stats are sampled every 200 ms.
    let mut summary = serde_json::Value::Null;
    for _ in 0..50 {
        let out = cluster
            .kubectl(&[
                "get",
                "--raw",
                &format!("/api/v1/nodes/{NODE}/proxy/stats/summary"),
            ])
            .await;
        assert!(out.status.success());
        summary = serde_json::from_slice(&out.stdout).unwrap();
        if summary["pods"].as_array().is_some_and(|p| !p.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(summary["node"]["nodeName"], NODE);
    assert!(
        summary["node"]["memory"]["workingSetBytes"]
            .as_u64()
            .unwrap()
            > 0
    );
    let pods = summary["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 1, "{summary}");
    assert_eq!(pods[0]["podRef"]["name"], "web");
    assert_eq!(pods[0]["containers"][0]["name"], "app");
    assert_eq!(pods[0]["memory"]["workingSetBytes"], 4 << 20);
    assert_eq!(pods[0]["cpu"]["usageNanoCores"], 5_000_000);

    // The kubelet serves only callers with a client certificate from the cluster CA.
    let refused = std::process::Command::new("curl")
        .args(["-sk", "--max-time", "5"])
        .arg(format!("https://{}/healthz", cluster.kubelet.addr()))
        .output();
    if let Ok(refused) = refused {
        assert!(
            !refused.status.success() && refused.stdout.is_empty(),
            "no client certificate: {refused:?}"
        );
    }
    let tls = cluster.dir.path().join("server/tls");
    let allowed = std::process::Command::new("curl")
        .args(["-s", "--max-time", "5", "--cacert"])
        .arg(tls.join("ca.crt"))
        .arg("--cert")
        .arg(tls.join("apiserver-kubelet-client.crt"))
        .arg("--key")
        .arg(tls.join("apiserver-kubelet-client.key"))
        .arg(format!("https://{}/healthz", cluster.kubelet.addr()))
        .output();
    if let Ok(allowed) = allowed {
        assert_eq!(String::from_utf8_lossy(&allowed.stdout), "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_through_the_api_server_with_kubectl() {
    if kubectl_missing() {
        return;
    }
    let fake = Arc::new(FakeRuntime::default());
    let (channel, _cri) = serve_fake(fake.clone()).await;
    let _streams = serve_fake_streams(fake.clone()).await;
    let cluster = Cluster::start(channel).await;
    let pod = cluster
        .pod(
            "shell",
            &["app"],
            with_containers(vec![running("c-sh", "app")]),
        )
        .await;
    fake.add(FakeContainer {
        id: "c-sh".into(),
        pod: "shell".into(),
        pod_uid: pod.metadata.uid.clone().unwrap(),
        name: "app".into(),
        log_path: cluster.dir.path().join("none.log"),
        running: true,
    });

    let out = cluster
        .kubectl(&["exec", "shell", "--", "echo", "hello", "world"])
        .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "hello world\n");

    let out = cluster.kubectl(&["exec", "shell", "--", "fail", "3"]).await;
    assert_eq!(out.status.code(), Some(3), "the exit code passes through");
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("failing\n"));
    assert!(
        stderr(&out).contains("command terminated with exit code 3"),
        "{}",
        stderr(&out)
    );

    // stdin is closed by v5's CLOSE signal, which ends `cat`.
    let data = b"some input\nmore input\n";
    let out = cluster
        .kubectl_stdin(&["exec", "-i", "shell", "--", "cat"], Some(data))
        .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, data);

    // Errors.
    let out = cluster
        .kubectl(&["exec", "shell", "-c", "nope", "--", "echo"])
        .await;
    assert!(
        stderr(&out).contains("container nope is not valid for pod shell"),
        "{}",
        stderr(&out)
    );
    fake.set_running("c-sh", false);
    let out = cluster.kubectl(&["exec", "shell", "--", "echo", "x"]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(r#"container not found ("app")"#),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------------------
// A real pod in the test's own containerd (root only).

mod real {
    use std::collections::HashMap;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use anyhow::{Context, ensure};
    use barge_kubelet::containerd::{Config, Containerd, channel, check_installed};
    use barge_kubelet::image::{BUSYBOX_PATH, busybox_image, import_bytes, pause_image};
    use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
    use k8s_cri::v1::*;
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    use super::{Cluster, next_line, running, stderr, stdout, with_containers};
    use crate::common::{
        mounts_under, pids_in_cgroups, pids_with_cmdline_containing, remove_cgroups,
    };

    const BUSYBOX: &str = "barge.local/busybox:streaming";

    /// What the test creates, removed on drop (also when it fails).
    pub struct Env {
        root: PathBuf,
        state: PathBuf,
        bridge: String,
        subnet: u32,
        cgroup_top: String,
        pub containerd: Option<Containerd>,
    }

    impl Env {
        pub fn new() -> Env {
            let id = std::process::id();
            let name = format!("barge-stream-{id}");
            Env {
                root: PathBuf::from(format!("/tmp/{name}")),
                state: PathBuf::from(format!("/run/{name}")),
                bridge: format!("bstr{}", id % 100_000),
                subnet: id % 250,
                cgroup_top: name,
                containerd: None,
            }
        }

        pub fn config(&self) -> Config {
            let mut config =
                Config::new(self.root.join("containerd"), self.state.join("containerd"));
            config.cni_conf_dir = self.root.join("cni");
            config
        }

        fn write_cni_config(&self) -> anyhow::Result<()> {
            let subnet = self.subnet;
            let conflist = serde_json::json!({
                "cniVersion": "1.0.0",
                "name": self.cgroup_top,
                "plugins": [{
                    "type": "bridge", "bridge": self.bridge, "isGateway": true, "ipMasq": false,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": format!("10.251.{subnet}.0/24"), "gateway": format!("10.251.{subnet}.1")}]],
                        "dataDir": self.root.join("ipam"),
                    },
                }],
            });
            std::fs::create_dir_all(self.root.join("cni"))?;
            std::fs::write(
                self.root.join("cni/10-test.conflist"),
                serde_json::to_vec(&conflist)?,
            )?;
            Ok(())
        }
    }

    impl Drop for Env {
        fn drop(&mut self) {
            let socket = self.config().socket();
            if socket.exists() {
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async {
                        let cleanup = remove_all_pods(&socket);
                        if let Ok(Err(e)) =
                            tokio::time::timeout(Duration::from_secs(30), cleanup).await
                        {
                            eprintln!("cleanup: removing pods: {e:#}");
                        }
                    });
                })
                .join();
            }
            let ours = self.state.to_string_lossy().to_string();
            for pid in pids_with_cmdline_containing(&ours) {
                eprintln!("cleanup: killing leftover process {pid}");
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            for pid in pids_in_cgroups(&self.cgroup_top) {
                eprintln!("cleanup: killing leftover pod process {pid}");
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            drop(self.containerd.take());
            std::thread::sleep(Duration::from_millis(200));
            for mount in mounts_under(&[&self.root, &self.state]) {
                let _ = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH);
            }
            if Path::new(&format!("/sys/class/net/{}", self.bridge)).exists() {
                let _ = Command::new("ip")
                    .args(["link", "del", &self.bridge])
                    .status();
            }
            remove_cgroups(&self.cgroup_top);
            for dir in [&self.root, &self.state] {
                if let Err(e) = std::fs::remove_dir_all(dir)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    eprintln!("cleanup: removing {}: {e}", dir.display());
                }
            }
        }
    }

    async fn remove_all_pods(socket: &Path) -> anyhow::Result<()> {
        let mut rt = RuntimeServiceClient::new(channel(socket).await?);
        let pods = rt
            .list_pod_sandbox(ListPodSandboxRequest::default())
            .await?
            .into_inner()
            .items;
        for pod in pods {
            rt.stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            })
            .await?;
            rt.remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: pod.id,
            })
            .await?;
        }
        Ok(())
    }

    pub fn skip_reason() -> Option<String> {
        if std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
            != 0
        {
            return Some("needs root".into());
        }
        if let Err(e) = check_installed() {
            return Some(e.to_string());
        }
        if !Path::new(BUSYBOX_PATH).exists() {
            return Some(format!(
                "no {BUSYBOX_PATH} (apt-get install busybox-static)"
            ));
        }
        if std::env::consts::ARCH != "x86_64" {
            return Some("the built-in pause image is x86_64 only".into());
        }
        None
    }

    /// Drives `kubectl exec -it` through a pseudo-terminal of 40x132, resizes it to 50x100
    /// half-way, and prints what the terminal showed; exits with kubectl's code.
    const PTY_DRIVER: &str = r#"
import os, pty, sys, struct, fcntl, termios, time, select
def size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
pid, fd = pty.fork()
if pid == 0:
    size(0, 40, 132)
    os.execvp(sys.argv[1], sys.argv[1:])
out = b''
def until(token, timeout=30):
    global out
    end = time.time() + timeout
    while token not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            if not data:
                return
            out += data
until(b'# ')
os.write(fd, b'stty size; echo mark-$((6*7))\n')
until(b'mark-42')
size(fd, 50, 100)
time.sleep(1)
os.write(fd, b'stty size; exit 5\n')
until(b'never printed')
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

    pub async fn run(env: &mut Env) -> anyhow::Result<()> {
        env.write_cni_config()?;
        let containerd = Containerd::start(env.config()).await?;
        let socket = containerd.socket();
        env.containerd = Some(containerd);
        let ch = channel(&socket).await?;
        let mut rt = RuntimeServiceClient::new(ch.clone());
        let names = import_bytes(&socket, &pause_image()?).await?;
        ensure!(names.len() == 1, "pause import: {names:?}");
        import_bytes(&socket, &busybox_image(BUSYBOX, Path::new(BUSYBOX_PATH))?).await?;

        let cluster = Cluster::start(ch.clone()).await;
        // The API pod first, for its uid.
        let api_pod = cluster
            .pod(
                "real",
                &["app", "ticker"],
                k8s_openapi::api::core::v1::PodStatus {
                    phase: Some("Running".into()),
                    ..Default::default()
                },
            )
            .await;
        let uid = api_pod.metadata.uid.clone().context("uid")?;
        let log_dir = env.root.join(format!("pods/default_real_{uid}"));
        let namespaces = NamespaceOption {
            network: NamespaceMode::Pod as i32,
            pid: NamespaceMode::Container as i32,
            ipc: NamespaceMode::Pod as i32,
            ..Default::default()
        };
        let labels = |container: Option<&str>| {
            let mut l: HashMap<String, String> = HashMap::from([
                ("io.kubernetes.pod.uid".to_string(), uid.clone()),
                ("io.kubernetes.pod.name".to_string(), "real".to_string()),
                (
                    "io.kubernetes.pod.namespace".to_string(),
                    "default".to_string(),
                ),
            ]);
            if let Some(c) = container {
                l.insert("io.kubernetes.container.name".into(), c.into());
            }
            l
        };
        let sandbox_config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: "real".into(),
                uid: uid.clone(),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: "real".into(),
            log_directory: log_dir.to_string_lossy().into(),
            labels: labels(None),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: format!("/{}/pod{uid}", env.cgroup_top),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(namespaces.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sandbox = rt
            .run_pod_sandbox(RunPodSandboxRequest {
                config: Some(sandbox_config.clone()),
                runtime_handler: String::new(),
            })
            .await
            .context("RunPodSandbox")?
            .into_inner()
            .pod_sandbox_id;
        let mut ids = HashMap::new();
        for (name, script) in [
            (
                "app",
                "echo started; mkdir -p /www; echo hello-from-pod > /www/index.html; exec httpd -f -p 8080 -h /www",
            ),
            (
                "ticker",
                "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
            ),
        ] {
            let config = ContainerConfig {
                metadata: Some(ContainerMetadata {
                    name: name.into(),
                    attempt: 0,
                }),
                image: Some(ImageSpec {
                    image: BUSYBOX.into(),
                    ..Default::default()
                }),
                command: vec!["sh".into(), "-c".into(), script.into()],
                log_path: format!("{name}/0.log"),
                labels: labels(Some(name)),
                linux: Some(LinuxContainerConfig {
                    security_context: Some(LinuxContainerSecurityContext {
                        namespace_options: Some(namespaces.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let id = rt
                .create_container(CreateContainerRequest {
                    pod_sandbox_id: sandbox.clone(),
                    config: Some(config),
                    sandbox_config: Some(sandbox_config.clone()),
                })
                .await
                .context("CreateContainer")?
                .into_inner()
                .container_id;
            rt.start_container(StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .context("StartContainer")?;
            ids.insert(name, id);
        }
        // The kubelet's view: both containers running.
        {
            let mut pods = cluster.host.pods.lock().unwrap();
            let pod = pods
                .get_mut(&("default".to_string(), "real".to_string()))
                .context("pod")?;
            pod.status = Some(with_containers(vec![
                running(&ids["app"], "app"),
                running(&ids["ticker"], "ticker"),
            ]));
        }
        // Wait for httpd (the log says "started" first).
        let t = Instant::now();
        loop {
            let out = cluster.kubectl(&["logs", "real", "-c", "app"]).await;
            if stdout(&out) == "started\n" {
                break;
            }
            ensure!(t.elapsed() < Duration::from_secs(20), "no log: {out:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        let out = cluster
            .kubectl(&["logs", "real", "--all-containers", "--prefix", "--tail=1"])
            .await;
        let all = stdout(&out);
        ensure!(
            all.contains("[pod/real/app] started\n") && all.contains("[pod/real/ticker] tick "),
            "--all-containers: {out:?}"
        );

        // exec, as kubectl 1.32 does it: WebSocket v5 to the kubelet, SPDY to containerd.
        let out = cluster
            .kubectl(&["exec", "real", "-c", "app", "--", "hostname"])
            .await;
        ensure!(
            out.status.success() && stdout(&out) == "real\n",
            "hostname: {out:?}"
        );
        let out = cluster
            .kubectl(&[
                "exec",
                "real",
                "-c",
                "app",
                "--",
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ])
            .await;
        ensure!(out.status.code() == Some(3), "exit code: {out:?}");
        ensure!(stdout(&out) == "out\n", "stdout: {out:?}");
        ensure!(
            stderr(&out).contains("err\n")
                && stderr(&out).contains("command terminated with exit code 3"),
            "stderr: {out:?}"
        );
        let input = b"line one\nline two\n".repeat(1000);
        let out = cluster
            .kubectl_stdin(
                &["exec", "-i", "real", "-c", "app", "--", "wc", "-c"],
                Some(&input),
            )
            .await;
        ensure!(
            out.status.success() && stdout(&out).trim() == input.len().to_string(),
            "exec -i: {out:?}"
        );

        // kubectl's SPDY fallback, passed through to containerd unchanged.
        let mut spdy = cluster.kubectl_command(&[
            "exec",
            "-i",
            "real",
            "-c",
            "app",
            "--",
            "sh",
            "-c",
            "cat; exit 4",
        ]);
        spdy.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spdy.spawn()?;
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(b"over spdy\n").await?;
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .context("exec over SPDY timed out")??;
        ensure!(
            out.status.code() == Some(4) && stdout(&out) == "over spdy\n",
            "exec over SPDY: {out:?}"
        );

        // exec -it through a pseudo-terminal, with a resize.
        if Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            let mut args = vec![
                "-c".to_string(),
                PTY_DRIVER.to_string(),
                "kubectl".to_string(),
            ];
            let kubeconfig = cluster.kubeconfig.to_string_lossy().to_string();
            let cache = cluster
                .dir
                .path()
                .join("kube-cache")
                .to_string_lossy()
                .to_string();
            for a in [
                "--kubeconfig",
                &kubeconfig,
                "--cache-dir",
                &cache,
                "exec",
                "-it",
                "real",
                "-c",
                "app",
                "--",
                "sh",
            ] {
                args.push(a.to_string());
            }
            let out = tokio::time::timeout(
                Duration::from_secs(90),
                tokio::process::Command::new("python3")
                    .args(&args)
                    .env_remove("KUBECONFIG")
                    .kill_on_drop(true)
                    .output(),
            )
            .await
            .context("exec -it timed out")??;
            let screen = String::from_utf8_lossy(&out.stdout);
            println!("exec -it screen:\n{screen}");
            ensure!(
                screen.contains("40 132"),
                "initial terminal size: {screen:?}"
            );
            ensure!(screen.contains("mark-42"), "command output: {screen:?}");
            ensure!(screen.contains("50 100"), "resized terminal: {screen:?}");
            ensure!(out.status.code() == Some(5), "exit code: {:?}", out.status);
        } else {
            println!("python3 not found: skipping exec -it");
        }

        // attach: the ticker's output as it comes.
        let mut attach = cluster.kubectl_command(&["attach", "real", "-c", "ticker"]);
        attach.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = attach.spawn()?;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut ticks = 0;
        while ticks < 3 {
            let line = next_line(&mut lines).await.context("attach output")?;
            if line.starts_with("tick ") {
                ticks += 1;
            }
        }
        child.kill().await?;

        // port-forward: kubectl's SPDY tunnelled in a WebSocket, to httpd in the pod.
        let mut forward = cluster.kubectl_command(&["port-forward", "pod/real", ":8080"]);
        forward.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = forward.spawn()?;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
        let Some(first) = next_line(&mut lines).await else {
            let _ = child.kill().await;
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err).await;
            }
            anyhow::bail!("port-forward printed nothing: {err}");
        };
        let port: u16 = first
            .strip_prefix("Forwarding from 127.0.0.1:")
            .and_then(|r| r.split(' ').next())
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("port-forward said {first:?}"))?;
        for round in 0..3 {
            let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            tcp.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
                .await?;
            let mut reply = Vec::new();
            tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut reply))
                .await
                .context("port-forward reply timed out")??;
            let reply = String::from_utf8_lossy(&reply);
            ensure!(
                reply.starts_with("HTTP/1.1 200") && reply.contains("hello-from-pod"),
                "round {round}: {reply:?}"
            );
        }
        child.kill().await?;
        // The same over plain SPDY (kubectl's fallback).
        let mut forward = cluster.kubectl_command(&["port-forward", "pod/real", ":8080"]);
        forward
            .env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = forward.spawn()?;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
        let first = next_line(&mut lines)
            .await
            .context("port-forward over SPDY")?;
        let port: u16 = first
            .strip_prefix("Forwarding from 127.0.0.1:")
            .and_then(|r| r.split(' ').next())
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("port-forward said {first:?}"))?;
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
            .await?;
        let mut reply = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut reply))
            .await
            .context("port-forward over SPDY timed out")??;
        ensure!(
            String::from_utf8_lossy(&reply).contains("hello-from-pod"),
            "port-forward over SPDY: {:?}",
            String::from_utf8_lossy(&reply)
        );
        child.kill().await?;

        // cp both ways (exec + tar).
        let local = cluster.dir.path().join("payload.txt");
        let payload = "copied through tar\n".repeat(500);
        std::fs::write(&local, &payload)?;
        let local_arg = local.to_string_lossy().to_string();
        let out = cluster
            .kubectl(&[
                "cp",
                &local_arg,
                "default/real:/tmp/payload.txt",
                "-c",
                "app",
            ])
            .await;
        ensure!(out.status.success(), "cp to the pod: {out:?}");
        let out = cluster
            .kubectl(&[
                "exec",
                "real",
                "-c",
                "app",
                "--",
                "md5sum",
                "/tmp/payload.txt",
            ])
            .await;
        ensure!(
            stdout(&out).starts_with(&format!("{:x}", md5(payload.as_bytes()))),
            "copied contents: {out:?}"
        );
        let back = cluster.dir.path().join("back.txt");
        let back_arg = back.to_string_lossy().to_string();
        let out = cluster
            .kubectl(&[
                "cp",
                "default/real:/tmp/payload.txt",
                &back_arg,
                "-c",
                "app",
            ])
            .await;
        ensure!(out.status.success(), "cp from the pod: {out:?}");
        ensure!(std::fs::read_to_string(&back)? == payload, "copied back");

        // Stats from containerd's cgroups.
        let out = cluster
            .kubectl(&[
                "get",
                "--raw",
                &format!("/api/v1/nodes/{}/proxy/stats/summary", super::NODE),
            ])
            .await;
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let pod = &summary["pods"][0];
        ensure!(pod["podRef"]["name"] == "real", "summary: {summary}");
        ensure!(
            pod["containers"].as_array().map(Vec::len) == Some(2),
            "containers: {summary}"
        );
        for c in pod["containers"].as_array().into_iter().flatten() {
            ensure!(
                c["memory"]["workingSetBytes"].as_u64().unwrap_or(0) > 0
                    && c["cpu"]["usageCoreNanoSeconds"].as_u64().unwrap_or(0) > 0,
                "container stats: {c}"
            );
        }
        ensure!(
            pod["memory"]["workingSetBytes"].as_u64().unwrap_or(0) > 0,
            "pod memory: {pod}"
        );

        // Logs of a stopped container end a follow.
        let mut follow = cluster.kubectl_command(&["logs", "-f", "real", "-c", "ticker"]);
        follow.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = follow.spawn()?;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
        next_line(&mut lines).await.context("logs -f output")?;
        rt.stop_container(StopContainerRequest {
            container_id: ids["ticker"].clone(),
            timeout: 1,
        })
        .await?;
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .context("logs -f did not end after the container stopped")??;
        ensure!(status.success(), "logs -f: {status:?}");
        drop(cluster);
        Ok(())
    }

    /// MD5, for comparing a file with `md5sum` in the pod (RFC 1321).
    fn md5(data: &[u8]) -> u128 {
        let s: [u32; 64] = [
            7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20,
            5, 9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
            6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
        ];
        let k: Vec<u32> = (0..64)
            .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
            .collect();
        let mut msg = data.to_vec();
        let bits = (data.len() as u64).wrapping_mul(8);
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&bits.to_le_bytes());
        let (mut a0, mut b0, mut c0, mut d0) =
            (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
        for chunk in msg.chunks(64) {
            let m: Vec<u32> = chunk
                .chunks(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
                a = d;
                d = c;
                c = b;
                b = b.wrapping_add(f.rotate_left(s[i]));
            }
            a0 = a0.wrapping_add(a);
            b0 = b0.wrapping_add(b);
            c0 = c0.wrapping_add(c);
            d0 = d0.wrapping_add(d);
        }
        let mut out = [0u8; 16];
        for (i, v) in [a0, b0, c0, d0].iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        u128::from_be_bytes(out)
    }

    #[test]
    fn md5_matches_the_rfc() {
        assert_eq!(
            format!("{:032x}", md5(b"")),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            format!("{:032x}", md5(b"message digest")),
            "f96b697d7cb7938d525a2f31aaf161d0"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_pod_in_containerd() {
    if kubectl_missing() {
        return;
    }
    if let Some(reason) = real::skip_reason() {
        eprintln!("skipping: {reason}");
        return;
    }
    let mut env = real::Env::new();
    drop(real::Env::new());
    if let Err(e) = Box::pin(real::run(&mut env)).await {
        let log = std::fs::read_to_string(env.config().log_file).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!("{e:#}\n--- containerd log tail ---\n{}", tail.join("\n"));
    }
}
