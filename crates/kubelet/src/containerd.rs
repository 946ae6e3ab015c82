//! The node's container runtime: the distribution's containerd, supervised by the agent.
//!
//! Like k3s, the agent runs its own containerd rather than the system's: it writes a config
//! ([`render_config`]) with its own root, state directory and sockets, starts `containerd
//! --config <root>/config.toml` with its output in a log file, waits until the socket
//! answers CRI `Version`, and restarts containerd with a short backoff if it exits.
//! [`Containerd::stop`] stops only containerd: the shims (and so the containers) survive, as
//! they do when k3s restarts.
//!
//! The config carries what this project's machines need (see the runtime notes): the
//! cgroupfs driver (no systemd), `restrict_oom_score_adj` (no CAP_SYS_RESOURCE, so negative
//! OOM scores fail), pod network namespaces under containerd's state dir (so `ip netns add`
//! cannot shadow them), runc state under our state dir (so two nodes on one machine do not
//! share it), the overlayfs snapshotter, and the CRI stream server on 127.0.0.1 with a
//! kernel-chosen port. Snapshotters and tracing plugins that can never work here are
//! disabled to keep start-up quiet.
//!
//! [`channel`] is the tonic channel over the unix socket that all CRI clients use.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{VersionRequest, VersionResponse};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint, Uri};
use tracing::{error, info, warn};

/// The snapshotter the config selects (image imports must unpack into the same one).
pub const SNAPSHOTTER: &str = "overlayfs";
/// The containerd namespace the CRI plugin keeps its images and containers in.
pub const CRI_NAMESPACE: &str = "k8s.io";
/// The CRI API version we speak.
pub const CRI_API_VERSION: &str = "v1";
/// The CNI plugins a node's pod network uses.
pub const CNI_PLUGINS: [&str; 4] = ["bridge", "host-local", "loopback", "portmap"];
/// Where distributions install CNI plugins: Debian's `containernetworking-plugins` uses the
/// first, upstream's release tarballs the second.
pub const CNI_BIN_DIRS: [&str; 2] = ["/usr/lib/cni", "/opt/cni/bin"];
/// The binaries the runtime needs, with the Debian package that has each.
const BINARIES: [(&str, &str); 4] = [
    ("containerd", "containerd"),
    ("containerd-shim-runc-v2", "containerd"),
    ("ctr", "containerd"),
    ("runc", "runc"),
];
/// Looked in after `$PATH` (root's daemons live in sbin, which a user's PATH may lack).
const EXTRA_BIN_DIRS: [&str; 4] = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A containerd that ran at least this long before exiting restarts after the first backoff.
const STABLE_RUN: Duration = Duration::from_secs(60);
/// How long `stop` (and the clean-up of a stale containerd) waits after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Lines of the log quoted when containerd fails to start.
const LOG_TAIL_LINES: usize = 20;

/// What is missing for the node to run containers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct MissingError {
    /// Binaries not found on `$PATH`, /usr/sbin or /usr/bin.
    pub binaries: Vec<String>,
    /// CNI plugins not found in /usr/lib/cni or /opt/cni/bin.
    pub cni_plugins: Vec<String>,
    /// The Debian packages that provide them.
    pub packages: Vec<String>,
}

impl MissingError {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.binaries.is_empty() {
            parts.push(format!(
                "{} not found on PATH, /usr/sbin or /usr/bin",
                self.binaries.join(", ")
            ));
        }
        if !self.cni_plugins.is_empty() {
            parts.push(format!(
                "CNI plugins {} not found in {}",
                self.cni_plugins.join(", "),
                CNI_BIN_DIRS.join(" or ")
            ));
        }
        format!(
            "the container runtime is not installed: {}; install it with `apt-get install {}`",
            parts.join("; "),
            self.packages.join(" ")
        )
    }
}

/// Checks that containerd, its runc shim, ctr, runc and the CNI plugins are installed.
pub fn check_installed() -> Result<(), MissingError> {
    let mut missing = MissingError {
        binaries: Vec::new(),
        cni_plugins: Vec::new(),
        packages: Vec::new(),
    };
    for (binary, package) in BINARIES {
        if find_binary(binary).is_none() {
            missing.binaries.push(binary.to_string());
            if !missing.packages.iter().any(|p| p == package) {
                missing.packages.push(package.to_string());
            }
        }
    }
    if find_cni_bin_dir().is_none() {
        // Name what is missing from the directory that has the most plugins.
        let dir = CNI_BIN_DIRS
            .iter()
            .max_by_key(|d| {
                CNI_PLUGINS
                    .iter()
                    .filter(|p| is_executable(&Path::new(d).join(p)))
                    .count()
            })
            .copied()
            .unwrap_or(CNI_BIN_DIRS[0]);
        missing.cni_plugins = CNI_PLUGINS
            .iter()
            .filter(|p| !is_executable(&Path::new(dir).join(p)))
            .map(|p| p.to_string())
            .collect();
        missing
            .packages
            .push("containernetworking-plugins".to_string());
    }
    if missing.binaries.is_empty() && missing.cni_plugins.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

/// The path of an executable named `name` on `$PATH`, /usr/sbin, /usr/bin, /sbin or /bin.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_BIN_DIRS.iter().map(PathBuf::from))
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// The first of [`CNI_BIN_DIRS`] that has all of [`CNI_PLUGINS`].
pub fn find_cni_bin_dir() -> Option<PathBuf> {
    CNI_BIN_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|dir| CNI_PLUGINS.iter().all(|p| is_executable(&dir.join(p))))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where containerd keeps its data and how it is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Persistent data (images, snapshots, container metadata), e.g.
    /// `<data-dir>/agent/containerd`. The rendered config is written here as `config.toml`.
    pub root: PathBuf,
    /// Run-time state (sockets, runc state, pod network namespaces, the pid file), e.g.
    /// `/run/barge/<node>/containerd`. The socket path must stay under 108 bytes.
    pub state: PathBuf,
    /// The pause image every pod sandbox runs.
    pub sandbox_image: String,
    pub cni_bin_dir: PathBuf,
    /// Where the node writes its CNI conflist (containerd loads the first one).
    pub cni_conf_dir: PathBuf,
    /// Registry host configs (`<registry>/hosts.toml`), containerd's `config_path`.
    pub registry_config_dir: PathBuf,
    /// containerd's stdout and stderr, appended to.
    pub log_file: PathBuf,
    /// How long containerd may take to answer CRI `Version` after it is started.
    pub ready_timeout: Duration,
}

impl Config {
    /// A config with the usual layout: `<root>/cni/net.d`, `<root>/certs.d`,
    /// `<root>/containerd.log`, the CNI plugins where [`find_cni_bin_dir`] finds them
    /// (else /usr/lib/cni), and Barge's pause image.
    pub fn new(root: impl Into<PathBuf>, state: impl Into<PathBuf>) -> Config {
        let root = root.into();
        Config {
            sandbox_image: crate::image::PAUSE_IMAGE.to_string(),
            cni_bin_dir: find_cni_bin_dir().unwrap_or_else(|| PathBuf::from(CNI_BIN_DIRS[0])),
            cni_conf_dir: root.join("cni").join("net.d"),
            registry_config_dir: root.join("certs.d"),
            log_file: root.join("containerd.log"),
            ready_timeout: Duration::from_secs(30),
            state: state.into(),
            root,
        }
    }

    /// The containerd gRPC socket (CRI and containerd's own API).
    pub fn socket(&self) -> PathBuf {
        self.state.join("containerd.sock")
    }

    /// containerd's ttrpc socket (for shims).
    pub fn ttrpc_socket(&self) -> PathBuf {
        self.state.join("containerd.sock.ttrpc")
    }

    /// Where [`render_config`]'s output is written.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// The pid of the running containerd, so the next start can stop a leftover one.
    pub fn pid_file(&self) -> PathBuf {
        self.state.join("containerd.pid")
    }

    /// runc's state root (`--root`), apart from any other containerd's on the machine.
    pub fn runc_root(&self) -> PathBuf {
        self.state.join("runc")
    }

    /// containerd's `opt` plugin directory.
    pub fn opt_dir(&self) -> PathBuf {
        self.root.join("opt")
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_path(p: &Path) -> String {
    toml_str(&p.to_string_lossy())
}

/// containerd's config (version 2, as containerd 1.6 reads it).
pub fn render_config(config: &Config) -> String {
    const CRI: &str = r#"plugins."io.containerd.grpc.v1.cri""#;
    let disabled = [
        // Snapshotters that cannot work here (no aufs, btrfs or zfs; devmapper needs a pool).
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.snapshotter.v1.zfs",
        // OpenTelemetry export, never configured.
        "io.containerd.tracing.processor.v1.otlp",
        "io.containerd.internal.v1.tracing",
    ];
    let disabled: Vec<String> = disabled.iter().map(|p| toml_str(p)).collect();
    format!(
        r#"# Written by Barge at every start; edits are lost.
version = 2
root = {root}
state = {state}
disabled_plugins = [{disabled}]

[grpc]
  address = {socket}

[ttrpc]
  address = {ttrpc}

[plugins]
  [{CRI}]
    sandbox_image = {sandbox_image}
    # Lowering oom_score_adj needs CAP_SYS_RESOURCE, which some machines (and most
    # containers) lack: clamp to the agent's own score instead of failing.
    restrict_oom_score_adj = true
    # Pod network namespaces under the state dir, where `ip netns` cannot shadow them.
    netns_mounts_under_state_dir = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    [{CRI}.containerd]
      snapshotter = {snapshotter}
      default_runtime_name = "runc"
      [{CRI}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [{CRI}.containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = {runc_root}
    [{CRI}.cni]
      bin_dir = {cni_bin}
      conf_dir = {cni_conf}
      max_conf_num = 1
    [{CRI}.registry]
      config_path = {registry}

  [plugins."io.containerd.internal.v1.opt"]
    path = {opt}
"#,
        root = toml_path(&config.root),
        state = toml_path(&config.state),
        disabled = disabled.join(", "),
        socket = toml_path(&config.socket()),
        ttrpc = toml_path(&config.ttrpc_socket()),
        sandbox_image = toml_str(&config.sandbox_image),
        snapshotter = toml_str(SNAPSHOTTER),
        runc_root = toml_path(&config.runc_root()),
        cni_bin = toml_path(&config.cni_bin_dir),
        cni_conf = toml_path(&config.cni_conf_dir),
        registry = toml_path(&config.registry_config_dir),
        opt = toml_path(&config.opt_dir()),
    )
}

/// A tonic channel to a CRI (or any gRPC) server on a unix socket. The channel reconnects
/// by itself after the server restarts (the first call after that may fail).
pub async fn channel(socket: &Path) -> anyhow::Result<Channel> {
    let path = socket.to_path_buf();
    // The URI is required by tonic but never used: the connector dials the socket.
    Endpoint::try_from("http://[::]:50051")?
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .with_context(|| format!("connecting to {}", socket.display()))
}

/// Asks the CRI server on `socket` for its version.
pub async fn cri_version(socket: &Path) -> anyhow::Result<VersionResponse> {
    let mut client = RuntimeServiceClient::new(channel(socket).await?);
    let request = VersionRequest {
        version: CRI_API_VERSION.to_string(),
    };
    Ok(client
        .version(request)
        .await
        .context("CRI Version")?
        .into_inner())
}

/// The containerd the agent runs, supervised: restarted if it exits.
pub struct Containerd {
    config: Config,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
    stop_tx: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for Containerd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Containerd")
            .field("socket", &self.config.socket())
            .field("pid", &self.pid())
            .field("restarts", &self.restarts())
            .finish()
    }
}

impl Containerd {
    /// Writes the config, stops a containerd left running with this config by an earlier
    /// run, starts containerd, waits until it answers CRI `Version` and supervises it.
    pub async fn start(config: Config) -> anyhow::Result<Containerd> {
        let socket = config.socket();
        // sun_path holds 108 bytes including the terminating NUL.
        if socket.as_os_str().len() > 107 {
            bail!(
                "containerd socket path {} is longer than 107 bytes",
                socket.display()
            );
        }
        let Some(binary) = find_binary("containerd") else {
            bail!(
                "containerd not found on PATH, /usr/sbin or /usr/bin; install it with `apt-get install containerd runc containernetworking-plugins`"
            );
        };
        for dir in [
            &config.root,
            &config.state,
            &config.cni_conf_dir,
            &config.registry_config_dir,
        ] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        if let Some(parent) = config.log_file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let file = config.config_file();
        let tmp = file.with_extension("toml.tmp");
        std::fs::write(&tmp, render_config(&config))
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &file).with_context(|| format!("writing {}", file.display()))?;

        stop_stale(&config).await;
        let started = Instant::now();
        let child = spawn_ready(&config, &binary).await?;
        info!(
            pid = child.id(),
            socket = %socket.display(),
            "containerd ready in {} ms",
            started.elapsed().as_millis()
        );
        let pid = Arc::new(AtomicU32::new(child.id().unwrap_or(0)));
        let restarts = Arc::new(AtomicU32::new(0));
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(supervise(
            config.clone(),
            binary,
            child,
            pid.clone(),
            restarts.clone(),
            stop_rx,
        ));
        Ok(Containerd {
            config,
            pid,
            restarts,
            stop_tx,
            task: Some(task),
        })
    }

    /// The gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.config.socket()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The running containerd's pid; `None` while it is being restarted.
    pub fn pid(&self) -> Option<u32> {
        Some(self.pid.load(Ordering::SeqCst)).filter(|&p| p != 0)
    }

    /// How many times containerd has been restarted after exiting.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::SeqCst)
    }

    /// Stops containerd: SIGTERM, then SIGKILL if it has not exited after a few seconds.
    /// Running containers keep running (their shims are not containerd's children).
    pub async fn stop(mut self) {
        let _ = self.stop_tx.send(true);
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            error!("containerd supervisor failed: {e}");
        }
    }
}

impl Drop for Containerd {
    /// Without [`Containerd::stop`], containerd is killed (SIGKILL) with the supervisor.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts containerd and waits until it answers CRI `Version`.
async fn spawn_ready(config: &Config, binary: &Path) -> anyhow::Result<Child> {
    let log_path = &config.log_file;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config.config_file())
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("duplicating the log file handle")?)
        .stderr(log)
        // Its own process group: a terminal's Ctrl-C goes to the agent, which stops
        // containerd itself.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id().unwrap_or(0);
    if let Err(e) = std::fs::write(config.pid_file(), format!("{pid}\n")) {
        warn!("writing {}: {e}", config.pid_file().display());
    }

    let socket = config.socket();
    let deadline = Instant::now() + config.ready_timeout;
    let mut last_error = String::from("socket not created yet");
    loop {
        if let Some(status) = child.try_wait().context("waiting for containerd")? {
            bail!(
                "containerd exited ({status}) before answering on {}; last lines of {}:\n{}",
                socket.display(),
                log_path.display(),
                log_tail(log_path, log_start)
            );
        }
        if socket.exists() {
            match tokio::time::timeout(Duration::from_secs(2), cri_version(&socket)).await {
                Ok(Ok(_)) => return Ok(child),
                Ok(Err(e)) => last_error = format!("{e:#}"),
                Err(_) => last_error = "CRI Version timed out".to_string(),
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill().await;
            bail!(
                "containerd did not answer CRI Version on {} within {:?} ({last_error}); last lines of {}:\n{}",
                socket.display(),
                config.ready_timeout,
                log_path.display(),
                log_tail(log_path, log_start)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Keeps containerd running until told to stop.
async fn supervise(
    config: Config,
    binary: PathBuf,
    first: Child,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
    mut stop: watch::Receiver<bool>,
) {
    let mut child = Some(first);
    let mut started = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    loop {
        if let Some(mut running) = child.take() {
            tokio::select! {
                _ = stop.changed() => {
                    terminate(&mut running).await;
                    break;
                }
                status = running.wait() => {
                    pid.store(0, Ordering::SeqCst);
                    if started.elapsed() >= STABLE_RUN {
                        backoff = FIRST_BACKOFF;
                    }
                    match status {
                        Ok(s) => warn!("containerd exited ({s}); restarting in {backoff:?}"),
                        Err(e) => warn!("waiting for containerd: {e}; restarting in {backoff:?}"),
                    }
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        let attempt = Instant::now();
        tokio::select! {
            _ = stop.changed() => break,
            spawned = spawn_ready(&config, &binary) => match spawned {
                Ok(c) => {
                    pid.store(c.id().unwrap_or(0), Ordering::SeqCst);
                    restarts.fetch_add(1, Ordering::SeqCst);
                    info!(pid = c.id(), "containerd restarted, ready in {} ms", attempt.elapsed().as_millis());
                    started = Instant::now();
                    child = Some(c);
                }
                Err(e) => error!("restarting containerd: {e:#}"),
            },
        }
    }
    pid.store(0, Ordering::SeqCst);
    let _ = std::fs::remove_file(config.pid_file());
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE`].
async fn terminate(child: &mut Child) {
    if let Some(id) = child.id()
        && let Ok(raw) = i32::try_from(id)
    {
        let _ = kill(Pid::from_raw(raw), Signal::SIGTERM);
    }
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(Ok(status)) => info!("containerd stopped ({status})"),
        Ok(Err(e)) => warn!("waiting for containerd to stop: {e}"),
        Err(_) => {
            warn!("containerd did not stop within {STOP_GRACE:?} of SIGTERM; killing it");
            let _ = child.kill().await;
        }
    }
}

/// Stops a containerd running with our config file that an earlier run of the agent left
/// behind (found through the pid file, and by scanning /proc in case the pid file is gone).
async fn stop_stale(config: &Config) {
    let config_file = config.config_file();
    let mut pids = Vec::new();
    if let Ok(text) = std::fs::read_to_string(config.pid_file())
        && let Ok(pid) = text.trim().parse::<i32>()
        && is_our_containerd(pid, &config_file)
    {
        pids.push(pid);
    }
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
                && !pids.contains(&pid)
                && is_our_containerd(pid, &config_file)
            {
                pids.push(pid);
            }
        }
    }
    for pid in pids {
        warn!(pid, "stopping a containerd left running by an earlier run");
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while is_alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if is_alive(pid) {
            warn!(pid, "the old containerd ignored SIGTERM; killing it");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(2);
            while is_alive(pid) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let _ = std::fs::remove_file(config.pid_file());
}

/// Whether `pid` is a live `containerd` started with `--config <config_file>`.
fn is_our_containerd(pid: i32, config_file: &Path) -> bool {
    if pid <= 0 || pid == std::process::id() as i32 || !is_alive(pid) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    cmdline_matches(&cmdline, config_file)
}

fn cmdline_matches(cmdline: &[u8], config_file: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let Some(argv0) = args.first() else {
        return false;
    };
    if Path::new(std::ffi::OsStr::from_bytes(argv0)).file_name() != Some("containerd".as_ref()) {
        return false;
    }
    let want = config_file.as_os_str().as_bytes();
    args.windows(2)
        .any(|w| (w[0] == b"--config" || w[0] == b"-c") && w[1] == want)
        || args
            .iter()
            .any(|a| a.strip_prefix(b"--config=") == Some(want))
}

/// Whether `pid` exists and is not a zombie.
fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

/// The last lines written to the log since `from`.
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = Vec::new();
    let read = std::fs::File::open(path).and_then(|mut f| {
        let len = f.metadata()?.len();
        // At most the last 16 KiB of this run's output.
        f.seek(SeekFrom::Start(from.max(len.saturating_sub(16 * 1024))))?;
        f.read_to_end(&mut text)
    });
    if let Err(e) = read {
        return format!("(cannot read the log: {e})");
    }
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    if tail.is_empty() {
        "(nothing)".to_string()
    } else {
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Config {
        let mut c = Config::new(
            "/var/lib/barge/agent/containerd",
            "/run/barge/n1/containerd",
        );
        c.cni_bin_dir = PathBuf::from("/usr/lib/cni");
        c
    }

    #[test]
    fn config_has_the_settings_this_machine_needs() {
        let text = render_config(&sample());
        for line in [
            "version = 2",
            r#"root = "/var/lib/barge/agent/containerd""#,
            r#"state = "/run/barge/n1/containerd""#,
            r#"address = "/run/barge/n1/containerd/containerd.sock""#,
            r#"address = "/run/barge/n1/containerd/containerd.sock.ttrpc""#,
            r#"sandbox_image = "barge.local/pause:3.10""#,
            "restrict_oom_score_adj = true",
            "netns_mounts_under_state_dir = true",
            r#"stream_server_address = "127.0.0.1""#,
            r#"stream_server_port = "0""#,
            r#"snapshotter = "overlayfs""#,
            "SystemdCgroup = false",
            r#"Root = "/run/barge/n1/containerd/runc""#,
            r#"bin_dir = "/usr/lib/cni""#,
            r#"conf_dir = "/var/lib/barge/agent/containerd/cni/net.d""#,
            "max_conf_num = 1",
            r#"config_path = "/var/lib/barge/agent/containerd/certs.d""#,
            r#"path = "/var/lib/barge/agent/containerd/opt""#,
        ] {
            assert!(
                text.lines().any(|l| l.trim() == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(
            !text.contains("io.containerd.runtime.v1.linux"),
            "needed by the tasks service"
        );
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(toml_str(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(toml_str("x\ny\u{1}"), r#""x\ny\u0001""#);
        let mut c = sample();
        c.sandbox_image = "evil\"\nversion = 3".into();
        let text = render_config(&c);
        assert!(text.contains(r#"sandbox_image = "evil\"\nversion = 3""#));
        assert_eq!(text.lines().filter(|l| l.starts_with("version")).count(), 1);
    }

    #[test]
    fn recognises_our_containerd_only() {
        let cfg = Path::new("/var/lib/x/config.toml");
        assert!(cmdline_matches(
            b"/usr/bin/containerd\0--config\0/var/lib/x/config.toml\0",
            cfg
        ));
        assert!(cmdline_matches(
            b"containerd\0--config=/var/lib/x/config.toml\0",
            cfg
        ));
        assert!(!cmdline_matches(
            b"/usr/bin/containerd\0--config\0/var/lib/y/config.toml\0",
            cfg
        ));
        assert!(!cmdline_matches(b"/usr/bin/containerd\0", cfg));
        assert!(!cmdline_matches(
            b"/bin/sleep\0--config\0/var/lib/x/config.toml\0",
            cfg
        ));
        assert!(!cmdline_matches(b"", cfg));
        assert!(!is_our_containerd(std::process::id() as i32, cfg));
        assert!(!is_our_containerd(-1, cfg));
    }

    #[test]
    fn missing_error_names_binaries_and_packages() {
        let e = MissingError {
            binaries: vec!["runc".into()],
            cni_plugins: vec!["portmap".into()],
            packages: vec!["runc".into(), "containernetworking-plugins".into()],
        };
        let text = e.to_string();
        assert!(text.contains("runc not found on PATH"), "{text}");
        assert!(
            text.contains("CNI plugins portmap not found in /usr/lib/cni or /opt/cni/bin"),
            "{text}"
        );
        assert!(
            text.ends_with("`apt-get install runc containernetworking-plugins`"),
            "{text}"
        );
    }

    #[test]
    fn finds_binaries() {
        assert!(find_binary("sh").is_some());
        assert!(find_binary("no-such-binary-barge").is_none());
    }

    #[test]
    fn log_tail_reads_only_this_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "old run\n").unwrap();
        let from = std::fs::metadata(&path).unwrap().len();
        let lines: String = (0..30).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, format!("old run\n{lines}")).unwrap();
        let tail = log_tail(&path, from);
        assert!(!tail.contains("old run"));
        assert!(
            tail.starts_with("line 10\n") && tail.ends_with("line 29"),
            "{tail}"
        );
        assert_eq!(log_tail(&path, 10_000), "(nothing)");
    }
}
