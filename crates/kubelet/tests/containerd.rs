//! containerd end to end (root only): start the distribution's containerd through
//! `Containerd::start` (which first stops a stale containerd left with our config), import
//! Barge's pause image and a busybox image (through the image directory watcher, also
//! gzip-compressed), list them over CRI, kill containerd and watch the supervisor bring it
//! back with the pod still running, run a container in a pod on a test bridge network, read
//! its log, remove everything and stop containerd.
//!
//! Everything it creates is unique to the test process (dirs under /tmp and /run, a bridge,
//! a cgroup parent, a 10.250.x.0/24 subnet) and is removed at the end, also when the test
//! fails (`Env`'s Drop: CRI removal, then killing by PID and cgroup, unmounting, deleting).
//! It skips with a printed reason when not root or when the runtime is not installed.

#[allow(dead_code)] // each test binary uses a part of it
mod common;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::{mounts_under, pids_in_cgroups, pids_with_cmdline_containing, remove_cgroups};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use barge_kubelet::containerd::{Config, Containerd, channel, check_installed, render_config};
use barge_kubelet::image::{
    BUSYBOX_PATH, DirWatcher, PAUSE_IMAGE, busybox_image, import_bytes, list, pause_image,
};
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatusRequest,
    CreateContainerRequest, ImageSpec, LinuxContainerConfig, LinuxContainerSecurityContext,
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, ListPodSandboxRequest, NamespaceMode,
    NamespaceOption, PodSandboxConfig, PodSandboxMetadata, PodSandboxState,
    PodSandboxStatusRequest, RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest,
    StartContainerRequest, StatusRequest, StopPodSandboxRequest, VersionRequest,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tonic::transport::Channel;

const BUSYBOX: &str = "barge.local/busybox:test";
const BUSYBOX_GZ: &str = "barge.local/busybox-gz:test";

/// What the test creates, removed on drop.
struct Env {
    root: PathBuf,
    state: PathBuf,
    bridge: String,
    subnet: u32,
    /// The top of the pods' cgroup parent, e.g. `barge-ctd-1234`.
    cgroup_top: String,
    containerd: Option<Containerd>,
}

impl Env {
    fn new() -> Env {
        let id = std::process::id();
        let name = format!("barge-ctd-{id}");
        Env {
            root: PathBuf::from(format!("/tmp/{name}")),
            state: PathBuf::from(format!("/run/{name}")),
            bridge: format!("bctd{}", id % 100_000),
            subnet: id % 250,
            cgroup_top: name,
            containerd: None,
        }
    }

    fn config(&self) -> Config {
        let mut config = Config::new(self.root.join("containerd"), self.state.join("containerd"));
        config.cni_conf_dir = self.root.join("cni");
        config
    }

    fn socket(&self) -> PathBuf {
        self.config().socket()
    }

    /// A bridge network of our own, in a conflist containerd loads at start.
    fn write_cni_config(&self) -> anyhow::Result<()> {
        let subnet = self.subnet;
        let conflist = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": self.cgroup_top,
            "plugins": [{
                "type": "bridge",
                "bridge": self.bridge,
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": format!("10.250.{subnet}.0/24"), "gateway": format!("10.250.{subnet}.1")}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": self.root.join("ipam"),
                },
            }],
        });
        let dir = self.root.join("cni");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("10-test.conflist"),
            serde_json::to_vec_pretty(&conflist)?,
        )?;
        Ok(())
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // 1. Remove every pod sandbox through CRI while containerd still runs (it is ours
        //    alone: its own root), on a thread with its own runtime (we may be unwinding).
        let socket = self.socket();
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
                    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(30), cleanup).await
                    {
                        eprintln!("cleanup: removing pods: {e:#}");
                    }
                });
            })
            .join();
        }
        // 2. Kill what is left: containerd and shims started for our state dir, and any
        //    process in our cgroups.
        for dir in [&self.root, &self.state] {
            for pid in pids_with_cmdline_containing(&dir.to_string_lossy()) {
                eprintln!("cleanup: killing leftover process {pid}");
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        for pid in pids_in_cgroups(&self.cgroup_top) {
            eprintln!("cleanup: killing leftover pod process {pid}");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // The Containerd value kills its (already killed) process and ends its supervisor.
        drop(self.containerd.take());
        std::thread::sleep(Duration::from_millis(200));
        // 3. Unmount what is left under our dirs, deepest first.
        for mount in mounts_under(&[&self.root, &self.state]) {
            eprintln!("cleanup: unmounting {}", mount.display());
            let _ = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH);
        }
        // 4. Network, cgroups, files.
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
        eprintln!("cleanup: removing pod sandbox {}", pod.id);
        let id = pod.id.clone();
        rt.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: id.clone(),
        })
        .await?;
        rt.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
            .await?;
    }
    Ok(())
}

fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            != Some("Z")
    })
}

fn skip_reason() -> Option<String> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_runs_pods_with_barge_images() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipping: {reason}");
        return;
    }
    let mut env = Env::new();
    // A leftover from an earlier run with the same pid would confuse the test.
    drop(Env::new());
    if let Err(e) = Box::pin(run(&mut env)).await {
        let log = std::fs::read_to_string(env.config().log_file).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!("{e:#}\n--- containerd log tail ---\n{}", tail.join("\n"));
    }
}

async fn run(env: &mut Env) -> anyhow::Result<()> {
    env.write_cni_config()?;
    // A containerd left running with our config by an "earlier run" (recorded in the pid
    // file): `start` must stop it first.
    let config = env.config();
    std::fs::create_dir_all(&config.root)?;
    std::fs::create_dir_all(&config.state)?;
    std::fs::write(config.config_file(), render_config(&config))?;
    let mut stale = Command::new("containerd")
        .arg("--config")
        .arg(config.config_file())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::fs::write(config.pid_file(), format!("{}\n", stale.id()))?;
    // Let it come up (or the kill could come before it even runs).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !config.socket().exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = Instant::now();
    let containerd = Containerd::start(config).await;
    let elapsed = t.elapsed();
    let stale_status = stale.try_wait()?;
    if stale_status.is_none() {
        let _ = stale.kill();
        let _ = stale.wait();
    }
    let containerd = containerd?;
    println!(
        "containerd start, stopping the stale one first -> CRI ready: {} ms",
        elapsed.as_millis()
    );
    ensure!(
        stale_status.is_some(),
        "the stale containerd was left running"
    );
    ensure!(containerd.pid() != Some(stale.id()));
    // Again with nothing stale, for the plain figure.
    let pid = containerd.pid();
    let t = Instant::now();
    containerd.stop().await;
    println!("stop: {} ms", t.elapsed().as_millis());
    ensure!(pid.is_some_and(|p| !is_alive(p)));
    let t = Instant::now();
    let containerd = Containerd::start(env.config()).await?;
    println!(
        "containerd start -> CRI ready: {} ms",
        t.elapsed().as_millis()
    );
    let socket = containerd.socket();
    env.containerd = Some(containerd);
    let ch = channel(&socket).await?;
    let mut rt = RuntimeServiceClient::new(ch.clone());
    let v = rt
        .version(VersionRequest {
            version: "v1".into(),
        })
        .await?
        .into_inner();
    println!(
        "CRI Version: {} {} api {}",
        v.runtime_name, v.runtime_version, v.runtime_api_version
    );
    ensure!(
        v.runtime_name == "containerd" && v.runtime_api_version == "v1",
        "{v:?}"
    );

    // The pause image, straight from memory.
    let t = Instant::now();
    let pause = pause_image()?;
    let built = t.elapsed();
    let t = Instant::now();
    let names = import_bytes(&socket, &pause).await?;
    println!(
        "pause image: {} bytes, built in {} us, imported in {} ms",
        pause.len(),
        built.as_micros(),
        t.elapsed().as_millis()
    );
    ensure!(names == [PAUSE_IMAGE], "imported {names:?}");

    // Busybox through the watched image directory: a plain tar and a gzip-compressed one.
    let images = env.root.join("images");
    std::fs::create_dir_all(&images)?;
    let t = Instant::now();
    let archive = busybox_image(BUSYBOX, Path::new(BUSYBOX_PATH))?;
    println!(
        "busybox image: {} bytes, built in {} ms",
        archive.len(),
        t.elapsed().as_millis()
    );
    std::fs::write(images.join("busybox.tar"), &archive)?;
    let gz = busybox_image(BUSYBOX_GZ, Path::new(BUSYBOX_PATH))?;
    std::fs::write(images.join("busybox-gz.tar"), &gz)?;
    let status = Command::new("gzip")
        .arg(images.join("busybox-gz.tar"))
        .status()?;
    ensure!(status.success(), "gzip failed");
    std::fs::write(images.join("README.txt"), "not an image")?;
    let mut watcher = DirWatcher::new(images.clone(), socket.clone());
    // Fresh files are imported on the look after they were first seen unchanged.
    let first = watcher.scan().await;
    ensure!(first.is_empty(), "fresh files imported at once: {first:?}");
    let t = Instant::now();
    let mut imported: Vec<String> = Vec::new();
    for r in watcher.scan().await {
        let names = r
            .result
            .with_context(|| format!("importing {}", r.path.display()))?;
        imported.extend(names);
    }
    imported.sort();
    println!(
        "busybox.tar + busybox-gz.tar.gz imported by the watcher in {} ms",
        t.elapsed().as_millis()
    );
    ensure!(imported == [BUSYBOX_GZ, BUSYBOX], "imported {imported:?}");
    ensure!(watcher.scan().await.is_empty(), "imported twice");

    let listed = list(ch.clone()).await?;
    for name in [PAUSE_IMAGE, BUSYBOX, BUSYBOX_GZ] {
        let Some(image) = listed
            .iter()
            .find(|i| i.repo_tags.iter().any(|t| t == name))
        else {
            bail!("{name} not in ListImages: {listed:?}");
        };
        println!("listed {name}: id {} size {}", image.id, image.size);
        ensure!(image.id.starts_with("sha256:") && image.size > 0);
    }

    // A pod on our bridge network.
    let status = rt
        .status(StatusRequest { verbose: false })
        .await?
        .into_inner();
    let conditions: Vec<_> = status.status.map(|s| s.conditions).unwrap_or_default();
    ensure!(
        conditions.iter().all(|c| c.status),
        "runtime not ready: {conditions:?}"
    );
    let uid = format!("uid-{}", std::process::id());
    let log_dir = env.root.join("pods").join(format!("default_echo_{uid}"));
    std::fs::create_dir_all(log_dir.join("echo"))?;
    let namespaces = NamespaceOption {
        network: NamespaceMode::Pod as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    };
    let sandbox_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "echo".into(),
            uid: uid.clone(),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: "echo".into(),
        log_directory: log_dir.to_string_lossy().into(),
        labels: HashMap::from([("app".to_string(), "echo".to_string())]),
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
    let t = Instant::now();
    let pod = rt
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(sandbox_config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .context("RunPodSandbox")?
        .into_inner()
        .pod_sandbox_id;
    println!("RunPodSandbox: {} ms", t.elapsed().as_millis());
    let pod_ip = |s: k8s_cri::v1::PodSandboxStatusResponse| {
        let status = s.status.unwrap_or_default();
        (
            status.state,
            status.network.map(|n| n.ip).unwrap_or_default(),
        )
    };
    let (state, ip) = pod_ip(
        rt.pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: false,
        })
        .await?
        .into_inner(),
    );
    println!("pod {pod}: ip {ip}");
    ensure!(state == PodSandboxState::SandboxReady as i32);
    ensure!(
        ip.starts_with(&format!("10.250.{}.", env.subnet)),
        "pod ip {ip:?}"
    );
    let netns_dir = env.state.join("containerd/io.containerd.grpc.v1.cri/netns");
    ensure!(
        std::fs::read_dir(&netns_dir)
            .map(|d| d.count())
            .unwrap_or(0)
            == 1,
        "the pod's netns is not under {}",
        netns_dir.display()
    );

    // kill -9 containerd: the supervisor restarts it and the pod keeps running.
    let Some(containerd) = env.containerd.as_ref() else {
        bail!("no containerd")
    };
    let old = containerd.pid().context("containerd has no pid")?;
    let t = Instant::now();
    kill(Pid::from_raw(old as i32), Signal::SIGKILL)?;
    let new = loop {
        if let Some(p) = containerd.pid().filter(|&p| p != old) {
            break p;
        }
        ensure!(
            t.elapsed() < Duration::from_secs(15),
            "containerd was not restarted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let restarted = t.elapsed();
    // The channel made before the restart reconnects by itself.
    let version = loop {
        match rt
            .version(VersionRequest {
                version: "v1".into(),
            })
            .await
        {
            Ok(v) => break v.into_inner(),
            Err(e) => ensure!(
                t.elapsed() < Duration::from_secs(15),
                "no CRI after restart: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "kill -9 {old}: restarted as {new} after {} ms, old channel answers after {} ms",
        restarted.as_millis(),
        t.elapsed().as_millis()
    );
    ensure!(version.runtime_name == "containerd" && containerd.restarts() == 1);
    ensure!(!is_alive(old) || old == new);
    let (state, ip_after) = pod_ip(
        rt.pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: false,
        })
        .await?
        .into_inner(),
    );
    ensure!(
        state == PodSandboxState::SandboxReady as i32 && ip_after == ip,
        "pod after restart"
    );

    // A busybox container in the pod.
    let container_config = ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "echo".into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: BUSYBOX.into(),
            ..Default::default()
        }),
        command: vec![
            "sh".into(),
            "-c".into(),
            "echo hello-from-barge; echo uid=$(id -u) pid=$$".into(),
        ],
        log_path: "echo/0.log".into(),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(namespaces),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let t = Instant::now();
    let container = rt
        .create_container(CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config),
            sandbox_config: Some(sandbox_config),
        })
        .await
        .context("CreateContainer")?
        .into_inner()
        .container_id;
    rt.start_container(StartContainerRequest {
        container_id: container.clone(),
    })
    .await
    .context("StartContainer")?;
    println!(
        "CreateContainer + StartContainer: {} ms",
        t.elapsed().as_millis()
    );
    let status = loop {
        let s = rt
            .container_status(ContainerStatusRequest {
                container_id: container.clone(),
                verbose: false,
            })
            .await?
            .into_inner()
            .status
            .unwrap_or_default();
        if s.state == ContainerState::ContainerExited as i32 {
            break s;
        }
        ensure!(
            t.elapsed() < Duration::from_secs(20),
            "container still {} ",
            s.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    ensure!(
        status.exit_code == 0,
        "exit code {} ({})",
        status.exit_code,
        status.reason
    );
    let log = std::fs::read_to_string(log_dir.join("echo/0.log"))?;
    print!("container log:\n{log}");
    // CRI log format: <time> <stream> <tag> <line>
    let lines: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once(" stdout F ").map(|(_, m)| m))
        .collect();
    ensure!(
        lines == ["hello-from-barge", "uid=0 pid=1"],
        "log lines {lines:?}"
    );

    // Remove everything through CRI.
    let t = Instant::now();
    rt.remove_container(RemoveContainerRequest {
        container_id: container,
    })
    .await?;
    rt.stop_pod_sandbox(StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await?;
    rt.remove_pod_sandbox(RemovePodSandboxRequest {
        pod_sandbox_id: pod,
    })
    .await?;
    println!(
        "RemoveContainer + StopPodSandbox + RemovePodSandbox: {} ms",
        t.elapsed().as_millis()
    );
    let left = rt
        .list_pod_sandbox(ListPodSandboxRequest::default())
        .await?
        .into_inner()
        .items;
    ensure!(left.is_empty(), "pods left: {left:?}");
    drop(rt);
    drop(ch);

    // Stop containerd: no process of ours may be left.
    let Some(containerd) = env.containerd.take() else {
        bail!("no containerd")
    };
    let pid = containerd.pid().context("containerd has no pid")?;
    let t = Instant::now();
    containerd.stop().await;
    println!("stop: {} ms", t.elapsed().as_millis());
    ensure!(!is_alive(pid), "containerd {pid} still running");
    let left = pids_with_cmdline_containing(&env.state.to_string_lossy());
    ensure!(left.is_empty(), "processes left: {left:?}");
    ensure!(
        pids_in_cgroups(&env.cgroup_top).is_empty(),
        "pod processes left"
    );
    ensure!(
        !env.socket().exists() || channel_fails(&env.socket()).await,
        "socket still answers"
    );
    Ok(())
}

async fn channel_fails(socket: &Path) -> bool {
    let ch: anyhow::Result<Channel> = channel(socket).await;
    ch.is_err()
}
