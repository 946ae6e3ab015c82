//! The pod's volumes on this node: set up before the pod's containers are created and again on
//! every sync (so that configMap, secret, downwardAPI and projected volumes follow their
//! sources), turned into CRI mounts for each container, and removed with the pod. Upstream:
//! `pkg/volume/{emptydir,configmap,secret,downwardapi,projected,hostpath}`,
//! `pkg/volume/util/atomic_writer.go`, and the mount half of `pkg/kubelet/kubelet_pods.go`
//! (`makeMounts`, `ensureHostsFile`) and `kuberuntime_container.go` (termination message file).
//!
//! Layout under `root` (upstream `/var/lib/kubelet/pods`), as upstream:
//!
//! ```text
//! <root>/<pod-uid>/volumes/kubernetes.io~empty-dir/<name>      emptyDir (disk, tmpfs or hugetlbfs)
//! <root>/<pod-uid>/volumes/kubernetes.io~configmap/<name>      atomic writer, on disk
//! <root>/<pod-uid>/volumes/kubernetes.io~secret/<name>         atomic writer, on tmpfs
//! <root>/<pod-uid>/volumes/kubernetes.io~downward-api/<name>   atomic writer, on tmpfs
//! <root>/<pod-uid>/volumes/kubernetes.io~projected/<name>      atomic writer, on tmpfs
//! <root>/<pod-uid>/plugins/kubernetes.io~empty-dir/<name>/ready
//! <root>/<pod-uid>/etc-hosts                                   the pod's /etc/hosts
//! <root>/<pod-uid>/containers/<container>/<8 hex digits>       termination message files
//! <root>/<pod-uid>/volume-subpaths/<volume>/<container>/<index> subpath bind mounts
//! ```
//!
//! hostPath volumes are checked (and created for `DirectoryOrCreate` / `FileOrCreate`) but stay
//! where they are; the runtime bind-mounts them. Every volume is set up even when another one
//! fails, and each failure is reported with upstream's event text
//! (`MountVolume.SetUp failed for volume "v" : configmap "x" not found`).
//!
//! Differences from upstream:
//! - Volumes backed by the API (persistentVolumeClaim, csi, ephemeral, image, the network and
//!   cloud disks) are not supported: their set-up fails with a clear message.
//! - clusterTrustBundle projections are refused (no ClusterTrustBundle objects reach the node).
//! - ServiceAccount tokens are not requested here: [`token_requests`] says which ones the pod
//!   needs, the caller fetches them (TokenRequest) into [`PodObjects::tokens`].
//! - `kube-root-ca.crt` falls back to [`PodObjects::root_ca`] when the ConfigMap is not there.
//! - With [`VolumeHost::mount_filesystems`] off (tests without privileges) tmpfs and hugetlbfs
//!   volumes live on disk, and subpaths are not bind-mounted but resolved and handed to the runtime directly
//!   (`volumes/container.rs` explains both).

mod atomic_writer;
mod container;
mod empty_dir;
mod host_path;
mod hosts;
mod payload;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use k8s_cri::v1::{KeyValue, Mount};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Volume};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

pub use empty_dir::MountTable;
pub use hosts::pod_hostname_and_domain;

use crate::objects::PodObjects;
use empty_dir::Medium;
use payload::{Errors, FileProjection, Payload, go_quote};

const EMPTY_DIR: &str = "kubernetes.io~empty-dir";
const CONFIG_MAP: &str = "kubernetes.io~configmap";
const SECRET: &str = "kubernetes.io~secret";
const DOWNWARD_API: &str = "kubernetes.io~downward-api";
const PROJECTED: &str = "kubernetes.io~projected";
/// Upstream's defaults for `defaultMode` (the API server sets them too).
const DEFAULT_MODE: i32 = 0o644;
const DEFAULT_TOKEN_EXPIRATION_SECONDS: i64 = 3600;
const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// What the volume code needs to know about the node (a small part of upstream's
/// `VolumeHost`).
#[derive(Debug, Clone)]
pub struct VolumeHost {
    /// The cluster's DNS domain (kubelet `--cluster-domain`), for the pod's FQDN in /etc/hosts.
    pub cluster_domain: String,
    /// The node's allocatable resources (`Node.status.allocatable`): limits a container does not
    /// set are taken from here by downward API `resourceFieldRef`s, and memory bounds tmpfs
    /// sizes. Empty: such limits read as 0 and tmpfs get the kernel's default size.
    pub allocatable: BTreeMap<String, Quantity>,
    /// Mount tmpfs / hugetlbfs where upstream does (needs CAP_SYS_ADMIN). Off only in tests:
    /// those volumes are then plain directories.
    pub mount_filesystems: bool,
    /// The node's hosts file, copied into pods on the host network.
    pub node_hosts_file: PathBuf,
}

impl Default for VolumeHost {
    fn default() -> Self {
        Self {
            cluster_domain: DEFAULT_CLUSTER_DOMAIN.to_string(),
            allocatable: BTreeMap::new(),
            mount_filesystems: true,
            node_hosts_file: PathBuf::from("/etc/hosts"),
        }
    }
}

/// One volume, ready to be mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedVolume {
    /// The directory (or, for a hostPath, the path) the runtime bind-mounts.
    pub host_path: PathBuf,
    /// Whether every mount of it is read-only (configMap, secret, downwardAPI, projected).
    pub read_only: bool,
}

/// The pod's volumes after [`prepare`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreparedVolumes {
    /// `<root>/<pod-uid>`.
    pub pod_dir: PathBuf,
    /// By volume name.
    pub volumes: BTreeMap<String, PreparedVolume>,
    /// The kubelet-managed hosts file, once the pod has IPs (upstream mounts none before).
    pub etc_hosts: Option<PathBuf>,
    /// Subpaths are bind-mounted under `<pod>/volume-subpaths/` (from
    /// [`VolumeHost::mount_filesystems`]); off, their resolved paths are used.
    pub bind_sub_paths: bool,
}

/// One volume that could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetUpFailure {
    pub volume: String,
    /// What went wrong, as upstream's plugin says it (`configmap "x" not found`).
    pub message: String,
}

impl fmt::Display for SetUpFailure {
    /// Upstream's FailedMount event message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MountVolume.SetUp failed for volume {} : {}",
            go_quote(&self.volume),
            self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// Volumes that could not be set up (the others were); one FailedMount event each.
    #[error("{}", .0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
    SetUp(Vec<SetUpFailure>),
    /// The pod itself: no uid, a bad hostname, its directory or hosts file could not be made.
    #[error("{0}")]
    Pod(String),
    /// A container's mounts (upstream's CreateContainerConfigError messages).
    #[error("{0}")]
    Container(String),
    /// Removing a pod's directory.
    #[error("{0}")]
    Cleanup(String),
}

/// A ServiceAccount token a projected volume needs (`serviceAccountToken` source); the caller
/// requests it (TokenRequest bound to the pod) and puts the token into
/// `PodObjects::tokens[(volume, path)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequestSpec {
    pub volume: String,
    pub path: String,
    /// `None`: the API server's default audiences.
    pub audience: Option<String>,
    pub expiration_seconds: i64,
}

/// [`prepare_with`] with the default [`VolumeHost`] (no allocatable resources known).
pub fn prepare(
    root: &Path,
    pod: &Pod,
    objects: &PodObjects,
    pod_ips: &[String],
) -> Result<PreparedVolumes, VolumeError> {
    prepare_with(root, pod, objects, pod_ips, &VolumeHost::default())
}

/// Sets up (or refreshes) every volume of the pod and, when `pod_ips` is not empty, its hosts
/// file. Idempotent; call it on every sync. A file system is mounted once; configMap, secret,
/// downwardAPI and projected contents are rewritten (atomically) only when they changed.
pub fn prepare_with(
    root: &Path,
    pod: &Pod,
    objects: &PodObjects,
    pod_ips: &[String],
    host: &VolumeHost,
) -> Result<PreparedVolumes, VolumeError> {
    let uid = pod_uid(pod)?;
    let pod_dir = root.join(uid);
    for dir in [
        root.to_path_buf(),
        pod_dir.clone(),
        pod_dir.join("volumes"),
        pod_dir.join("plugins"),
    ] {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&dir)
            .map_err(|e| VolumeError::Pod(io_message("mkdir", &dir, &e)))?;
    }
    let mounts = if host.mount_filesystems {
        MountTable::read().map_err(VolumeError::Pod)?
    } else {
        MountTable::default()
    };
    let spec = pod.spec.as_ref();
    let ctx = Ctx {
        pod,
        pod_dir: &pod_dir,
        objects,
        host,
        mounts: &mounts,
        fs_group: spec
            .and_then(|s| s.security_context.as_ref())
            .and_then(|s| s.fs_group)
            .and_then(|g| u32::try_from(g).ok()),
        fs_user: fs_user_from(pod),
    };
    let mut prepared = PreparedVolumes {
        pod_dir: pod_dir.clone(),
        bind_sub_paths: host.mount_filesystems,
        ..Default::default()
    };
    let mut failures = Vec::new();
    for v in spec.and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        match ctx.set_up(v) {
            Ok(p) => {
                prepared.volumes.insert(v.name.clone(), p);
            }
            Err(message) => {
                tracing::warn!(volume = %v.name, pod_uid = uid, %message, "volume set-up failed");
                failures.push(SetUpFailure {
                    volume: v.name.clone(),
                    message,
                });
            }
        }
    }
    if !failures.is_empty() {
        return Err(VolumeError::SetUp(failures));
    }
    if !pod_ips.is_empty() {
        let path = pod_dir.join("etc-hosts");
        write_hosts(pod, pod_ips, host, &path).map_err(VolumeError::Pod)?;
        prepared.etc_hosts = Some(path);
    }
    Ok(prepared)
}

/// The ServiceAccount tokens the pod's projected volumes need.
pub fn token_requests(pod: &Pod) -> Vec<TokenRequestSpec> {
    let mut out = Vec::new();
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    for v in volumes.into_iter().flatten() {
        let sources = v.projected.as_ref().and_then(|p| p.sources.as_ref());
        for source in sources.into_iter().flatten() {
            if source.secret.is_some()
                || source.config_map.is_some()
                || source.downward_api.is_some()
            {
                continue;
            }
            if let Some(t) = &source.service_account_token {
                out.push(TokenRequestSpec {
                    volume: v.name.clone(),
                    path: t.path.clone(),
                    audience: t.audience.clone().filter(|a| !a.is_empty()),
                    expiration_seconds: t
                        .expiration_seconds
                        .unwrap_or(DEFAULT_TOKEN_EXPIRATION_SECONDS),
                });
            }
        }
    }
    out
}

/// The CRI mounts of one container (init or regular): its `volumeMounts`, then `/etc/hosts`
/// (unless the container mounts something there itself, or the pod has no IP yet), then a new
/// termination message file at `terminationMessagePath`. `env` is the container's resolved
/// environment, for `subPathExpr`.
pub fn mounts(
    pod: &Pod,
    container: &Container,
    prepared: &PreparedVolumes,
    env: &[KeyValue],
) -> Result<Vec<Mount>, VolumeError> {
    container::mounts(pod, container, prepared, env)
}

/// Unmounts every file system under `<root>/<pod-uid>` (lazily when busy), then removes that
/// directory. Symlinks are never followed, and nothing is removed while a mount remains below
/// it, so hostPath contents and anything else outside the pod's directory are safe. Removing a
/// pod that is already gone succeeds.
pub fn cleanup(root: &Path, pod_uid: &str) -> Result<(), VolumeError> {
    check_component("pod uid", pod_uid).map_err(VolumeError::Cleanup)?;
    let pod_dir = root.join(pod_uid);
    let meta = match fs::symlink_metadata(&pod_dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(VolumeError::Cleanup(io_message("lstat", &pod_dir, &e))),
    };
    if !meta.is_dir() {
        // Not ours to walk into: remove the entry itself.
        return fs::remove_file(&pod_dir)
            .map_err(|e| VolumeError::Cleanup(io_message("remove", &pod_dir, &e)));
    }
    let canonical = fs::canonicalize(&pod_dir)
        .map_err(|e| VolumeError::Cleanup(io_message("resolve", &pod_dir, &e)))?;
    let table = MountTable::read().map_err(VolumeError::Cleanup)?;
    let mut errors = Vec::new();
    for mount_point in table.below(&canonical) {
        if let Err(e) = empty_dir::unmount(&mount_point) {
            errors.push(e);
        }
    }
    let left = MountTable::read()
        .map_err(VolumeError::Cleanup)?
        .below(&canonical);
    if !left.is_empty() {
        errors.push(format!(
            "{} still has mounts below it: {}",
            pod_dir.display(),
            left.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return Err(VolumeError::Cleanup(errors.join("; ")));
    }
    match fs::remove_dir_all(&pod_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => errors.push(io_message("remove", &pod_dir, &e)),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(VolumeError::Cleanup(errors.join("; ")))
    }
}

/// The pod directories under `root` that belong to none of `live_uids` (sorted), for
/// [`cleanup`] after a restart.
pub fn orphaned_pod_dirs<I, S>(root: &Path, live_uids: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let live: BTreeSet<String> = live_uids
        .into_iter()
        .map(|s| s.as_ref().to_string())
        .collect();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(root = %root.display(), error = %e, "cannot list pod directories");
            }
            return Vec::new();
        }
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.') && !live.contains(n))
        .collect();
    out.sort();
    out
}

/// The pod's state while its volumes are set up.
struct Ctx<'a> {
    pod: &'a Pod,
    pod_dir: &'a Path,
    objects: &'a PodObjects,
    host: &'a VolumeHost,
    mounts: &'a MountTable,
    fs_group: Option<u32>,
    fs_user: Option<u32>,
}

impl Ctx<'_> {
    fn volume_dir(&self, plugin: &str, name: &str) -> PathBuf {
        self.pod_dir.join("volumes").join(plugin).join(name)
    }

    /// tmpfs where upstream uses one, sized as upstream sizes it.
    fn memory(&self, size_limit: Option<&Quantity>) -> Medium {
        if self.host.mount_filesystems {
            Medium::Memory(empty_dir::memory_size(
                &self.host.allocatable,
                self.pod,
                size_limit,
            ))
        } else {
            Medium::Disk
        }
    }

    fn set_up(&self, v: &Volume) -> Result<PreparedVolume, String> {
        check_component("volume name", &v.name)?;
        let name = v.name.as_str();
        let atomic = |host_path: PathBuf| PreparedVolume {
            host_path,
            read_only: true,
        };
        if let Some(ed) = &v.empty_dir {
            return self.empty_dir(
                name,
                ed.medium.as_deref().unwrap_or(""),
                ed.size_limit.as_ref(),
            );
        }
        if let Some(hp) = &v.host_path {
            host_path::set_up(&hp.path, hp.type_.as_deref())?;
            return Ok(PreparedVolume {
                host_path: PathBuf::from(&hp.path),
                read_only: false,
            });
        }
        if let Some(cm) = &v.config_map {
            let optional = cm.optional.unwrap_or(false);
            let object = self.config_map(&cm.name);
            if object.is_none() && !optional {
                return Err(format!("configmap {} not found", go_quote(&cm.name)));
            }
            let items = cm.items.as_deref().unwrap_or_default();
            let mode = cm.default_mode.unwrap_or(DEFAULT_MODE);
            let payload = payload::config_map(items, object.as_ref(), mode, optional)?;
            let dir = self.volume_dir(CONFIG_MAP, name);
            self.write_atomic(name, &dir, &Medium::Disk, &payload)?;
            return Ok(atomic(dir));
        }
        if let Some(s) = &v.secret {
            let optional = s.optional.unwrap_or(false);
            let secret_name = s.secret_name.as_deref().unwrap_or("");
            let object = self.objects.secrets.get(secret_name);
            if object.is_none() && !optional {
                return Err(format!("secret {} not found", go_quote(secret_name)));
            }
            let items = s.items.as_deref().unwrap_or_default();
            let mode = s.default_mode.unwrap_or(DEFAULT_MODE);
            let payload = payload::secret(items, object, mode, optional)?;
            let dir = self.volume_dir(SECRET, name);
            self.write_atomic(name, &dir, &self.memory(None), &payload)?;
            return Ok(atomic(dir));
        }
        if let Some(d) = &v.downward_api {
            let items = d.items.as_deref().unwrap_or_default();
            let mode = d.default_mode.unwrap_or(DEFAULT_MODE);
            let payload = payload::downward_api(items, self.pod, &self.host.allocatable, mode)
                .or_else(|e| e.into_result(Payload::new()))?;
            let dir = self.volume_dir(DOWNWARD_API, name);
            self.write_atomic(name, &dir, &self.memory(None), &payload)?;
            return Ok(atomic(dir));
        }
        if let Some(p) = &v.projected {
            let mode = p.default_mode.unwrap_or(DEFAULT_MODE);
            let sources = p.sources.as_deref().unwrap_or_default();
            let payload = self.projected(name, sources, mode)?;
            let dir = self.volume_dir(PROJECTED, name);
            self.write_atomic(name, &dir, &self.memory(None), &payload)?;
            return Ok(atomic(dir));
        }
        Err(unsupported(v))
    }

    fn empty_dir(
        &self,
        name: &str,
        medium: &str,
        size_limit: Option<&Quantity>,
    ) -> Result<PreparedVolume, String> {
        let medium = match medium {
            "" => Medium::Disk,
            "Memory" => self.memory(size_limit),
            m if m == "HugePages" || m.starts_with("HugePages-") => {
                let size = empty_dir::huge_page_size(m, self.pod)?;
                if self.host.mount_filesystems {
                    Medium::HugePages(size)
                } else {
                    Medium::Disk
                }
            }
            m => return Err(format!("unknown storage medium {}", go_quote(m))),
        };
        let dir = self.volume_dir(EMPTY_DIR, name);
        let meta = self.pod_dir.join("plugins").join(EMPTY_DIR).join(name);
        let prepared = PreparedVolume {
            host_path: dir.clone(),
            read_only: false,
        };
        let mounted = match &medium {
            Medium::Disk => fs::metadata(&dir).is_ok_and(|m| m.is_dir()),
            Medium::Memory(_) => self.mounts.fs_type(&dir).as_deref() == Some("tmpfs"),
            Medium::HugePages(_) => self.mounts.fs_type(&dir).as_deref() == Some("hugetlbfs"),
        };
        if empty_dir::is_ready(&meta) && mounted {
            return Ok(prepared);
        }
        empty_dir::set_up(&dir, &medium, self.mounts)?;
        empty_dir::set_ownership(&dir, self.fs_group, false)?;
        empty_dir::set_ready(&meta)?;
        Ok(prepared)
    }

    /// The ConfigMap by name, or `kube-root-ca.crt` made from the cluster CA when the object
    /// itself is not there.
    fn config_map(&self, name: &str) -> Option<ConfigMap> {
        if let Some(cm) = self.objects.config_maps.get(name) {
            return Some(cm.clone());
        }
        let ca = self
            .objects
            .root_ca
            .as_ref()
            .filter(|_| name == ROOT_CA_CONFIG_MAP)?;
        Some(ConfigMap {
            data: Some(BTreeMap::from([("ca.crt".to_string(), ca.clone())])),
            ..Default::default()
        })
    }

    /// Upstream `projected.collectData`: every source is attempted, failures aggregated.
    fn projected(
        &self,
        volume: &str,
        sources: &[k8s_openapi::api::core::v1::VolumeProjection],
        default_mode: i32,
    ) -> Result<Payload, String> {
        let mut errors = Errors::default();
        let mut payload = Payload::new();
        for source in sources {
            if let Some(s) = &source.secret {
                let optional = s.optional.unwrap_or(false);
                let object = self.objects.secrets.get(&s.name);
                if object.is_none() && !optional {
                    errors.push(format!("secret {} not found", go_quote(&s.name)));
                    continue;
                }
                let items = s.items.as_deref().unwrap_or_default();
                match payload::secret(items, object, default_mode, optional) {
                    Ok(p) => payload.extend(p),
                    Err(e) => errors.push(e),
                }
            } else if let Some(c) = &source.config_map {
                let optional = c.optional.unwrap_or(false);
                let object = self.config_map(&c.name);
                if object.is_none() && !optional {
                    errors.push(format!("configmap {} not found", go_quote(&c.name)));
                    continue;
                }
                let items = c.items.as_deref().unwrap_or_default();
                match payload::config_map(items, object.as_ref(), default_mode, optional) {
                    Ok(p) => payload.extend(p),
                    Err(e) => errors.push(e),
                }
            } else if let Some(d) = &source.downward_api {
                let items = d.items.as_deref().unwrap_or_default();
                match payload::downward_api(items, self.pod, &self.host.allocatable, default_mode) {
                    Ok(p) => payload.extend(p),
                    Err(e) => errors.extend(e),
                }
            } else if let Some(t) = &source.service_account_token {
                let key = (volume.to_string(), t.path.clone());
                let Some(token) = self.objects.tokens.get(&key) else {
                    errors.push(format!(
                        "failed to fetch token: no token was requested for path {} of volume {}",
                        go_quote(&t.path),
                        go_quote(volume)
                    ));
                    continue;
                };
                // With an fsGroup, ownership then turns 0600 into 0640 (upstream).
                let mode = if self.fs_user.is_some() || self.fs_group.is_some() {
                    0o600
                } else {
                    payload::file_mode(default_mode)
                };
                payload.insert(
                    t.path.clone(),
                    FileProjection {
                        data: token.clone().into_bytes(),
                        mode,
                        fs_user: self.fs_user,
                    },
                );
            } else if source.cluster_trust_bundle.is_some() {
                errors.push(
                    "clusterTrustBundle projections are not supported by this kubelet".to_string(),
                );
            }
        }
        errors.into_result(payload)
    }

    /// The wrapped emptyDir, nested mount points, then the atomic write (with fsGroup
    /// ownership applied to the whole volume before the new files are published).
    fn write_atomic(
        &self,
        name: &str,
        dir: &Path,
        medium: &Medium,
        payload: &Payload,
    ) -> Result<(), String> {
        empty_dir::set_up(dir, medium, self.mounts)?;
        make_nested_mountpoints(name, dir, self.pod)?;
        let fs_group = self.fs_group;
        let written = atomic_writer::write(dir, payload, &mut |_| {
            empty_dir::set_ownership(dir, fs_group, true)
        })?;
        if written {
            tracing::debug!(volume = name, dir = %dir.display(), "volume contents updated");
        }
        Ok(())
    }
}

/// Upstream `MakeNestedMountpoints`: where a container mounts another volume below this
/// (read-only) one, the mount point is created inside this volume, since the runtime cannot.
fn make_nested_mountpoints(name: &str, dir: &Path, pod: &Pod) -> Result<(), String> {
    let Some(spec) = pod.spec.as_ref() else {
        return Ok(());
    };
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| &c.volume_mounts);
    let all = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| &c.volume_mounts)
        .chain(ephemeral);
    let mut nested = Vec::new();
    for mounts in all {
        let mounts = mounts.as_deref().unwrap_or_default();
        let mut points: Vec<String> = mounts
            .iter()
            .map(|m| payload::clean_path(&m.mount_path))
            .collect();
        points.sort();
        let mine = mounts
            .iter()
            .filter(|m| m.name == name)
            .map(|m| payload::clean_path(&m.mount_path));
        for mp in mine {
            if mp.starts_with("../") {
                return Err(format!("invalid container mount point {mp}"));
            }
            let prefix = format!("{mp}/");
            let mut previous: Option<String> = None;
            for p in &points {
                let Some(rel) = p.strip_prefix(&prefix) else {
                    continue;
                };
                if previous
                    .as_ref()
                    .is_some_and(|prev| p.starts_with(prev.as_str()))
                {
                    continue;
                }
                previous = Some(format!("{p}/"));
                nested.push(rel.to_string());
            }
        }
    }
    for rel in nested {
        let path = dir.join(&rel);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&path)
            .map_err(|e| {
                format!(
                    "unable to create nested volume mountpoints: {}",
                    io_message("mkdir", &path, &e)
                )
            })?;
    }
    Ok(())
}

fn write_hosts(
    pod: &Pod,
    pod_ips: &[String],
    host: &VolumeHost,
    path: &Path,
) -> Result<(), String> {
    let spec = pod.spec.as_ref();
    let aliases = spec
        .and_then(|s| s.host_aliases.as_deref())
        .unwrap_or_default();
    let content = if spec.and_then(|s| s.host_network).unwrap_or(false) {
        hosts::host_network_content(&hosts::read_node_hosts(&host.node_hosts_file)?, aliases)
    } else {
        let (hostname, domain) = pod_hostname_and_domain(pod, &host.cluster_domain)?;
        hosts::managed_content(pod_ips, &hostname, &domain, aliases).into_bytes()
    };
    hosts::write_in_place(path, &content)
}

/// Upstream `FsUserFrom`: the one user every (init and regular) container runs as, if they
/// all name the same one.
fn fs_user_from(pod: &Pod) -> Option<u32> {
    let spec = pod.spec.as_ref()?;
    let pod_user = spec.security_context.as_ref().and_then(|s| s.run_as_user);
    let mut user = None;
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
    {
        let effective = c
            .security_context
            .as_ref()
            .and_then(|s| s.run_as_user)
            .or(pod_user)?;
        if user.is_some_and(|u| u != effective) {
            return None;
        }
        user = Some(effective);
    }
    user.and_then(|u| u32::try_from(u).ok())
}

fn unsupported(v: &Volume) -> String {
    let kind = serde_json::to_value(v).ok().and_then(|j| {
        j.as_object()
            .and_then(|o| o.keys().find(|k| *k != "name").cloned())
    });
    match kind {
        Some(k) => format!("{k} volumes are not supported by this kubelet"),
        None => "volume has no source".to_string(),
    }
}

fn pod_uid(pod: &Pod) -> Result<&str, VolumeError> {
    let uid = pod.metadata.uid.as_deref().unwrap_or("");
    check_component("pod uid", uid).map_err(VolumeError::Pod)?;
    Ok(uid)
}

/// A name used as one path component: not empty, no `/`, not `.` or `..`.
fn check_component(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        return Err(format!("invalid {what} {}", go_quote(s)));
    }
    Ok(())
}

/// `<op> <path>: <reason>`, worded like Go's `*PathError`.
fn io_message(op: &str, path: &Path, e: &io::Error) -> String {
    let reason = match e.raw_os_error() {
        Some(code) => {
            let desc = nix::errno::Errno::from_raw(code).desc();
            let mut chars = desc.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => e.to_string(),
            }
        }
        None => e.to_string(),
    };
    format!("{op} {}: {reason}", path.display())
}

fn random_u32() -> u32 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 4];
    if ring::rand::SystemRandom::new().fill(&mut b).is_ok() {
        return u32::from_le_bytes(b);
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use serde_json::json;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn base_pod(volumes: serde_json::Value, mounts: serde_json::Value) -> Pod {
        pod(json!({
            "metadata": {"name": "web-0", "namespace": "ns", "uid": "uid-1",
                         "labels": {"app": "web", "tier": "front"}},
            "spec": {
                "containers": [{"name": "c", "image": "busybox", "volumeMounts": mounts,
                    "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}],
                "volumes": volumes
            }
        }))
    }

    fn host() -> VolumeHost {
        VolumeHost {
            mount_filesystems: false,
            ..Default::default()
        }
    }

    fn config_map(name: &str, data: &[(&str, &str)]) -> ConfigMap {
        ConfigMap {
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
        .tap_name(name)
    }

    trait TapName {
        fn tap_name(self, name: &str) -> Self;
    }
    impl TapName for ConfigMap {
        fn tap_name(mut self, name: &str) -> Self {
            self.metadata.name = Some(name.to_string());
            self
        }
    }

    fn objects_with_cm(cm: ConfigMap) -> PodObjects {
        let mut o = PodObjects::default();
        o.config_maps
            .insert(cm.metadata.name.clone().unwrap_or_default(), cm);
        o
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn config_map_volume_follows_updates() {
        let root = tempfile::tempdir().unwrap();
        let p = base_pod(
            json!([{"name": "cfg", "configMap": {"name": "app", "defaultMode": 0o440,
                "items": [{"key": "a", "path": "conf/a.txt"}, {"key": "b", "path": "b", "mode": 0o600}]}}]),
            json!([{"name": "cfg", "mountPath": "/etc/cfg"}]),
        );
        let objects = objects_with_cm(config_map("app", &[("a", "1"), ("b", "2"), ("c", "3")]));
        let prepared = prepare_with(root.path(), &p, &objects, &[], &host()).unwrap();
        let dir = root
            .path()
            .join("uid-1/volumes/kubernetes.io~configmap/cfg");
        assert_eq!(
            prepared.volumes["cfg"],
            PreparedVolume {
                host_path: dir.clone(),
                read_only: true
            }
        );
        assert_eq!(mode(&dir), 0o777);
        assert_eq!(fs::read_to_string(dir.join("conf/a.txt")).unwrap(), "1");
        assert_eq!(mode(&dir.join("conf/a.txt")), 0o440);
        assert_eq!(mode(&dir.join("b")), 0o600);
        assert!(!dir.join("c").exists());
        assert_eq!(
            fs::read_link(dir.join("conf")).unwrap(),
            Path::new("..data/conf")
        );
        let first = fs::read_link(dir.join("..data")).unwrap();

        // Same objects: nothing is rewritten.
        prepare_with(root.path(), &p, &objects, &[], &host()).unwrap();
        assert_eq!(fs::read_link(dir.join("..data")).unwrap(), first);

        // Updated object: new content, swapped atomically.
        let objects = objects_with_cm(config_map("app", &[("a", "10"), ("b", "2")]));
        prepare_with(root.path(), &p, &objects, &[], &host()).unwrap();
        assert_eq!(fs::read_to_string(dir.join("conf/a.txt")).unwrap(), "10");
        assert_ne!(fs::read_link(dir.join("..data")).unwrap(), first);
        assert!(!dir.join(&first).exists());
    }

    #[test]
    fn missing_objects_and_keys_are_reported_per_volume() {
        let root = tempfile::tempdir().unwrap();
        let p = base_pod(
            json!([
                {"name": "a", "configMap": {"name": "nope"}},
                {"name": "b", "secret": {"secretName": "gone"}},
                {"name": "c", "configMap": {"name": "nope", "optional": true}},
                {"name": "d", "secret": {"secretName": "gone", "optional": true}},
                {"name": "e", "configMap": {"name": "app", "items": [{"key": "x", "path": "x"}]}},
                {"name": "f", "emptyDir": {}}
            ]),
            json!([]),
        );
        let objects = objects_with_cm(config_map("app", &[("a", "1")]));
        let err = prepare_with(root.path(), &p, &objects, &[], &host()).unwrap_err();
        let VolumeError::SetUp(failures) = &err else {
            panic!("{err}");
        };
        let texts: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            texts,
            [
                "MountVolume.SetUp failed for volume \"a\" : configmap \"nope\" not found",
                "MountVolume.SetUp failed for volume \"b\" : secret \"gone\" not found",
                "MountVolume.SetUp failed for volume \"e\" : configmap references non-existent config key: x",
            ]
        );
        // The others were set up: optional ones empty.
        let vols = root.path().join("uid-1/volumes");
        assert!(vols.join("kubernetes.io~configmap/c/..data").exists());
        assert!(vols.join("kubernetes.io~secret/d/..data").exists());
        assert!(vols.join("kubernetes.io~empty-dir/f").is_dir());
        assert!(!vols.join("kubernetes.io~configmap/a").exists());
    }

    #[test]
    fn secret_volume_contents_and_modes() {
        let root = tempfile::tempdir().unwrap();
        let p = base_pod(
            json!([{"name": "s", "secret": {"secretName": "creds", "defaultMode": 0o400}}]),
            json!([{"name": "s", "mountPath": "/creds", "readOnly": false}]),
        );
        let mut objects = PodObjects::default();
        objects.secrets.insert(
            "creds".into(),
            Secret {
                data: Some(BTreeMap::from([
                    ("user".to_string(), ByteString(b"admin".to_vec())),
                    ("key".to_string(), ByteString(vec![0, 159, 146, 150])),
                ])),
                ..Default::default()
            },
        );
        let prepared = prepare_with(root.path(), &p, &objects, &[], &host()).unwrap();
        let dir = &prepared.volumes["s"].host_path;
        assert!(dir.ends_with("uid-1/volumes/kubernetes.io~secret/s"));
        assert_eq!(fs::read(dir.join("key")).unwrap(), [0, 159, 146, 150]);
        assert_eq!(mode(&dir.join("user")), 0o400);
        // Secret mounts are read-only even when the volumeMount says otherwise.
        let c = &p.spec.as_ref().unwrap().containers[0];
        let m = mounts(&p, c, &prepared, &[]).unwrap();
        assert!(m[0].readonly);
    }

    #[test]
    fn downward_api_volume_tracks_labels() {
        let root = tempfile::tempdir().unwrap();
        let vols = json!([{"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}},
            {"path": "cpu", "resourceFieldRef": {"containerName": "c", "resource": "requests.cpu", "divisor": "1m"}}
        ]}}]);
        let mut p = base_pod(vols, json!([]));
        let prepared = prepare_with(root.path(), &p, &PodObjects::default(), &[], &host()).unwrap();
        let dir = prepared.volumes["info"].host_path.clone();
        assert!(dir.ends_with("volumes/kubernetes.io~downward-api/info"));
        assert_eq!(
            fs::read_to_string(dir.join("labels")).unwrap(),
            "app=\"web\"\ntier=\"front\""
        );
        assert_eq!(fs::read_to_string(dir.join("name")).unwrap(), "web-0");
        assert_eq!(fs::read_to_string(dir.join("mem")).unwrap(), "64");
        assert_eq!(fs::read_to_string(dir.join("cpu")).unwrap(), "0");
        assert_eq!(mode(&dir.join("name")), 0o644);

        p.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("tier".into(), "back".into());
        prepare_with(root.path(), &p, &PodObjects::default(), &[], &host()).unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("labels")).unwrap(),
            "app=\"web\"\ntier=\"back\""
        );
    }

    fn api_access_pod(extra_spec: serde_json::Value) -> Pod {
        let mut v = json!({
            "metadata": {"name": "web-0", "namespace": "ns", "uid": "uid-1"},
            "spec": {
                "containers": [{"name": "c", "volumeMounts": [
                    {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}
                ]}],
                "volumes": [{"name": "kube-api-access-x", "projected": {"defaultMode": 0o644, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]}}]
            }
        });
        if let Some(obj) = extra_spec.as_object() {
            for (k, val) in obj {
                v["spec"][k] = val.clone();
            }
        }
        pod(v)
    }

    #[test]
    fn projected_service_account_volume() {
        let p = api_access_pod(json!({}));
        assert_eq!(
            token_requests(&p),
            [TokenRequestSpec {
                volume: "kube-api-access-x".into(),
                path: "token".into(),
                audience: None,
                expiration_seconds: 3607
            }]
        );
        let root = tempfile::tempdir().unwrap();
        let mut objects = PodObjects {
            root_ca: Some("PEM".into()),
            ..Default::default()
        };
        // Without the token the volume cannot be set up.
        let err = prepare_with(root.path(), &p, &objects, &[], &host()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MountVolume.SetUp failed for volume \"kube-api-access-x\" : failed to fetch token: \
             no token was requested for path \"token\" of volume \"kube-api-access-x\""
        );
        objects
            .tokens
            .insert(("kube-api-access-x".into(), "token".into()), "jwt-1".into());
        let prepared = prepare_with(root.path(), &p, &objects, &[], &host()).unwrap();
        let dir = prepared.volumes["kube-api-access-x"].host_path.clone();
        assert!(dir.ends_with("volumes/kubernetes.io~projected/kube-api-access-x"));
        assert_eq!(fs::read_to_string(dir.join("token")).unwrap(), "jwt-1");
        assert_eq!(mode(&dir.join("token")), 0o644);
        assert_eq!(fs::read_to_string(dir.join("ca.crt")).unwrap(), "PEM");
        assert_eq!(fs::read_to_string(dir.join("namespace")).unwrap(), "ns");
        // A real kube-root-ca.crt ConfigMap wins over the fallback.
        objects.config_maps.insert(
            "kube-root-ca.crt".into(),
            config_map("kube-root-ca.crt", &[("ca.crt", "REAL")]),
        );
        // A refreshed token is projected on the next sync.
        objects
            .tokens
            .insert(("kube-api-access-x".into(), "token".into()), "jwt-2".into());
        prepare_with(root.path(), &p, &objects, &[], &host()).unwrap();
        assert_eq!(fs::read_to_string(dir.join("token")).unwrap(), "jwt-2");
        assert_eq!(fs::read_to_string(dir.join("ca.crt")).unwrap(), "REAL");
    }

    #[test]
    fn projected_token_with_fs_group_is_0640() {
        let gid = fs::metadata("/proc/self").unwrap().gid();
        let p = api_access_pod(json!({"securityContext": {"fsGroup": gid}}));
        let root = tempfile::tempdir().unwrap();
        let mut objects = PodObjects {
            root_ca: Some("PEM".into()),
            ..Default::default()
        };
        objects
            .tokens
            .insert(("kube-api-access-x".into(), "token".into()), "jwt".into());
        let prepared = prepare_with(root.path(), &p, &objects, &[], &host()).unwrap();
        let dir = prepared.volumes["kube-api-access-x"].host_path.clone();
        assert_eq!(mode(&dir.join("token")), 0o640);
        assert_eq!(mode(&dir.join("ca.crt")), 0o644);
        assert_eq!(fs::metadata(dir.join("token")).unwrap().gid(), gid);
        // The volume's directories get setgid and group access.
        assert_eq!(mode(&dir) & 0o2000, 0o2000);
    }

    #[test]
    fn projected_errors_are_aggregated() {
        let p = pod(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "uid-2"},
            "spec": {"containers": [], "volumes": [{"name": "v", "projected": {"sources": [
                {"secret": {"name": "missing"}},
                {"configMap": {"name": "missing-optional", "optional": true}},
                {"clusterTrustBundle": {"signerName": "x", "path": "b"}},
                {"downwardAPI": {"items": [{"path": "x", "fieldRef": {"fieldPath": "spec.nodeName"}}]}}
            ]}}]}
        }));
        let root = tempfile::tempdir().unwrap();
        let err = prepare_with(root.path(), &p, &PodObjects::default(), &[], &host()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MountVolume.SetUp failed for volume \"v\" : [secret \"missing\" not found, \
             clusterTrustBundle projections are not supported by this kubelet, \
             unsupported fieldPath: spec.nodeName]"
        );
    }

    #[test]
    fn token_requests_defaults() {
        let p = pod(json!({"spec": {"containers": [], "volumes": [
            {"name": "t", "projected": {"sources": [
                {"serviceAccountToken": {"path": "a", "audience": "vault"}},
                {"serviceAccountToken": {"path": "b", "audience": ""}}
            ]}},
            {"name": "other", "emptyDir": {}}
        ]}}));
        let r = token_requests(&p);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].audience.as_deref(), Some("vault"));
        assert_eq!(r[0].expiration_seconds, 3600);
        assert_eq!(r[1].audience, None);
    }

    #[test]
    fn empty_dir_and_host_path_volumes() {
        let root = tempfile::tempdir().unwrap();
        let hostdir = tempfile::tempdir().unwrap();
        let made = hostdir.path().join("made/here");
        let gid = fs::metadata("/proc/self").unwrap().gid();
        let p = pod(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "uid-3"},
            "spec": {"containers": [], "securityContext": {"fsGroup": gid}, "volumes": [
                {"name": "scratch", "emptyDir": {}},
                {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                {"name": "h", "hostPath": {"path": made, "type": "DirectoryOrCreate"}},
                {"name": "bad", "hostPath": {"path": hostdir.path().join("nofile"), "type": "File"}},
                {"name": "odd", "emptyDir": {"medium": "Disk"}},
                {"name": "pvc", "persistentVolumeClaim": {"claimName": "data"}}
            ]}
        }));
        let err = prepare_with(root.path(), &p, &PodObjects::default(), &[], &host()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "MountVolume.SetUp failed for volume \"bad\" : hostPath type check failed: {}/nofile is not a file; \
                 MountVolume.SetUp failed for volume \"odd\" : unknown storage medium \"Disk\"; \
                 MountVolume.SetUp failed for volume \"pvc\" : persistentVolumeClaim volumes are not supported by this kubelet",
                hostdir.path().display()
            )
        );
        let scratch = root
            .path()
            .join("uid-3/volumes/kubernetes.io~empty-dir/scratch");
        assert_eq!(mode(&scratch), 0o2777);
        assert!(
            root.path()
                .join("uid-3/plugins/kubernetes.io~empty-dir/scratch/ready")
                .is_file()
        );
        assert!(made.is_dir());
        // Ownership is applied once: a later chmod by the workload is left alone.
        fs::set_permissions(&scratch, fs::Permissions::from_mode(0o700)).unwrap();
        let _ = prepare_with(root.path(), &p, &PodObjects::default(), &[], &host());
        assert_eq!(mode(&scratch), 0o700);
    }

    #[test]
    fn container_mounts() {
        let root = tempfile::tempdir().unwrap();
        let hostdir = tempfile::tempdir().unwrap();
        let p = pod(json!({
            "metadata": {"name": "web-0", "namespace": "ns", "uid": "uid-4"},
            "spec": {
                "hostname": "web-0", "subdomain": "web",
                "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["db"]}],
                "containers": [{"name": "app", "terminationMessagePath": "/tmp/msg", "volumeMounts": [
                    {"name": "scratch", "mountPath": "/data", "subPath": "a/b"},
                    {"name": "scratch", "mountPath": "/logs", "subPathExpr": "logs/$(POD_NAME)", "mountPropagation": "HostToContainer"},
                    {"name": "cfg", "mountPath": "/etc/cfg"},
                    {"name": "h", "mountPath": "/host", "readOnly": true}
                ]}],
                "volumes": [
                    {"name": "scratch", "emptyDir": {}},
                    {"name": "cfg", "configMap": {"name": "app"}},
                    {"name": "h", "hostPath": {"path": hostdir.path()}}
                ]
            }
        }));
        let objects = objects_with_cm(config_map("app", &[("k", "v")]));
        let prepared = prepare_with(
            root.path(),
            &p,
            &objects,
            &["10.244.1.9".to_string()],
            &host(),
        )
        .unwrap();
        let hosts = root.path().join("uid-4/etc-hosts");
        assert_eq!(prepared.etc_hosts.as_deref(), Some(hosts.as_path()));
        let text = fs::read_to_string(&hosts).unwrap();
        assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(text.contains("10.244.1.9\tweb-0.web.ns.svc.cluster.local\tweb-0\n"));
        assert!(text.ends_with("# Entries added by HostAliases.\n10.1.2.3\tdb\n"));

        let c = &p.spec.as_ref().unwrap().containers[0];
        let env = [KeyValue {
            key: "POD_NAME".into(),
            value: "web-0".into(),
        }];
        let m = mounts(&p, c, &prepared, &env).unwrap();
        let scratch = fs::canonicalize(
            root.path()
                .join("uid-4/volumes/kubernetes.io~empty-dir/scratch"),
        )
        .unwrap();
        let summary: Vec<(String, String, bool, i32)> = m
            .iter()
            .map(|m| {
                (
                    m.container_path.clone(),
                    m.host_path.clone(),
                    m.readonly,
                    m.propagation,
                )
            })
            .collect();
        assert_eq!(summary.len(), 6);
        assert_eq!(
            summary[0],
            (
                "/data".into(),
                scratch.join("a/b").display().to_string(),
                false,
                0
            )
        );
        assert_eq!(
            summary[1],
            (
                "/logs".into(),
                scratch.join("logs/web-0").display().to_string(),
                false,
                1
            )
        );
        assert_eq!(mode(&scratch.join("logs/web-0")), 0o777);
        assert_eq!(
            summary[2],
            (
                "/etc/cfg".into(),
                root.path()
                    .join("uid-4/volumes/kubernetes.io~configmap/cfg")
                    .display()
                    .to_string(),
                true,
                0
            )
        );
        assert_eq!(
            summary[3],
            (
                "/host".into(),
                hostdir.path().display().to_string(),
                true,
                0
            )
        );
        assert_eq!(
            summary[4],
            ("/etc/hosts".into(), hosts.display().to_string(), false, 0)
        );
        assert_eq!(summary[5].0, "/tmp/msg");
        let log = PathBuf::from(&summary[5].1);
        assert_eq!(
            log.parent().unwrap(),
            root.path().join("uid-4/containers/app")
        );
        let name = log.file_name().unwrap().to_str().unwrap();
        assert!(
            name.len() == 8 && name.chars().all(|c| c.is_ascii_hexdigit()),
            "{name}"
        );
        assert_eq!(mode(&log), 0o666);
        assert_eq!(fs::read(&log).unwrap(), b"");
        // Each container start gets a fresh file.
        let again = mounts(&p, c, &prepared, &env).unwrap();
        assert_ne!(again[5].host_path, summary[5].1);

        // subPathExpr without its variable.
        assert_eq!(
            mounts(&p, c, &prepared, &[]).unwrap_err().to_string(),
            "missing value for POD_NAME"
        );
    }

    #[test]
    fn container_mount_errors() {
        let root = tempfile::tempdir().unwrap();
        let mk = |mounts: serde_json::Value| {
            pod(json!({
                "metadata": {"name": "p", "uid": "uid-5"},
                "spec": {"containers": [{"name": "c", "volumeMounts": mounts}],
                         "volumes": [{"name": "v", "emptyDir": {}}]}
            }))
        };
        let p = mk(json!([]));
        let prepared = prepare_with(root.path(), &p, &PodObjects::default(), &[], &host()).unwrap();
        let err = |mounts: serde_json::Value| {
            let p = mk(mounts);
            let c = p.spec.as_ref().unwrap().containers[0].clone();
            super::mounts(&p, &c, &prepared, &[])
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(json!([{"name": "v", "mountPath": "/m", "subPath": "/etc"}])),
            "error SubPath `/etc` must not be an absolute path"
        );
        assert_eq!(
            err(json!([{"name": "v", "mountPath": "/m", "subPath": "a/../../x"}])),
            "unable to provision SubPath `a/../../x`: must not contain '..'"
        );
        assert_eq!(
            err(json!([{"name": "nope", "mountPath": "/m"}])),
            "cannot find volume \"nope\" to mount into container \"c\""
        );
        // A symlink planted in the volume by a container does not lead out of it.
        let vol = &prepared.volumes["v"].host_path;
        std::os::unix::fs::symlink("/etc", vol.join("escape")).unwrap();
        assert_eq!(
            err(json!([{"name": "v", "mountPath": "/m", "subPath": "escape"}])),
            "failed to prepare subPath for volumeMount \"v\" of container \"c\""
        );
        // No pod IP yet: no /etc/hosts; a container mounting its own /etc/hosts gets no other.
        let p = mk(json!([{"name": "v", "mountPath": "/etc/hosts", "subPath": "hosts"}]));
        let c = &p.spec.as_ref().unwrap().containers[0];
        let m = mounts(&p, c, &prepared, &[]).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].container_path, "/dev/termination-log");
        let with_ip = prepare_with(
            root.path(),
            &p,
            &PodObjects::default(),
            &["10.0.0.1".into()],
            &host(),
        )
        .unwrap();
        let m = mounts(&p, c, &with_ip, &[]).unwrap();
        assert_eq!(
            m.iter()
                .filter(|m| m.container_path == "/etc/hosts")
                .count(),
            1
        );
        // Volumes of another pod are refused.
        let other = pod(json!({"metadata": {"uid": "uid-other"}, "spec": {"containers": []}}));
        assert!(mounts(&other, c, &prepared, &[]).is_err());
    }

    #[test]
    fn host_network_pods_get_the_node_hosts_file() {
        let root = tempfile::tempdir().unwrap();
        let node_hosts = root.path().join("node-hosts");
        fs::write(&node_hosts, "127.0.0.1 localhost\n192.0.2.2 node1\n").unwrap();
        let p = pod(json!({"metadata": {"name": "p", "uid": "uid-6"},
            "spec": {"hostNetwork": true, "containers": []}}));
        let h = VolumeHost {
            node_hosts_file: node_hosts,
            ..host()
        };
        let prepared = prepare_with(
            root.path(),
            &p,
            &PodObjects::default(),
            &["192.0.2.2".into()],
            &h,
        )
        .unwrap();
        assert_eq!(
            fs::read_to_string(prepared.etc_hosts.unwrap()).unwrap(),
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.0.2.2 node1\n"
        );
    }

    #[test]
    fn nested_mount_points_are_created_in_read_only_volumes() {
        let root = tempfile::tempdir().unwrap();
        let p = base_pod(
            json!([{"name": "cfg", "configMap": {"name": "app"}}, {"name": "data", "emptyDir": {}}]),
            json!([
                {"name": "cfg", "mountPath": "/etc/app"},
                {"name": "data", "mountPath": "/etc/app/data/"},
                {"name": "data", "mountPath": "/etc/app/data/deeper"}
            ]),
        );
        let objects = objects_with_cm(config_map("app", &[("k", "v")]));
        let prepared = prepare_with(root.path(), &p, &objects, &[], &host()).unwrap();
        let dir = &prepared.volumes["cfg"].host_path;
        assert!(dir.join("data").is_dir());
        assert!(!dir.join("data/deeper").exists());
        assert_eq!(fs::read_to_string(dir.join("k")).unwrap(), "v");
    }

    #[test]
    fn cleanup_removes_only_the_pod_dir() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("precious"), "keep").unwrap();
        let p = pod(json!({
            "metadata": {"name": "p", "uid": "uid-7"},
            "spec": {"containers": [], "volumes": [
                {"name": "h", "hostPath": {"path": outside.path(), "type": "Directory"}},
                {"name": "e", "emptyDir": {}}
            ]}
        }));
        let prepared = prepare_with(root.path(), &p, &PodObjects::default(), &[], &host()).unwrap();
        // A container planted symlinks to the host's files in its emptyDir.
        let e = &prepared.volumes["e"].host_path;
        std::os::unix::fs::symlink(outside.path(), e.join("dir-link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("precious"), e.join("file-link")).unwrap();
        assert_eq!(orphaned_pod_dirs(root.path(), ["uid-x"]), ["uid-7"]);
        assert!(orphaned_pod_dirs(root.path(), vec!["uid-7".to_string()]).is_empty());

        cleanup(root.path(), "uid-7").unwrap();
        assert!(!root.path().join("uid-7").exists());
        assert_eq!(
            fs::read_to_string(outside.path().join("precious")).unwrap(),
            "keep"
        );
        // Twice is fine; bad uids are refused.
        cleanup(root.path(), "uid-7").unwrap();
        assert!(cleanup(root.path(), "..").is_err());
        assert!(cleanup(root.path(), "a/b").is_err());
        assert!(orphaned_pod_dirs(root.path(), Vec::<String>::new()).is_empty());
        assert!(orphaned_pod_dirs(&root.path().join("none"), Vec::<String>::new()).is_empty());
    }

    #[test]
    fn pods_without_uid_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": []}}));
        assert_eq!(
            prepare_with(root.path(), &p, &PodObjects::default(), &[], &host())
                .unwrap_err()
                .to_string(),
            "invalid pod uid \"\""
        );
    }

    /// Root-only: real tmpfs mounts. Everything mounted under the temp dir is unmounted on drop,
    /// also when an assertion fails.
    struct Unmounter(PathBuf);

    impl Drop for Unmounter {
        fn drop(&mut self) {
            if let Ok(table) = MountTable::read() {
                let dir = fs::canonicalize(&self.0).unwrap_or_else(|_| self.0.clone());
                for m in table.below(&dir) {
                    let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
                }
            }
        }
    }

    fn is_root() -> bool {
        fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }

    #[test]
    fn sub_paths_are_bind_mounted_beneath_their_volume() {
        if !is_root() {
            eprintln!("skipping sub_paths_are_bind_mounted_beneath_their_volume: not root");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let _guard = Unmounter(root.path().to_path_buf());
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("precious"), "keep").unwrap();
        let mk = |mounts: serde_json::Value| {
            pod(json!({
                "metadata": {"name": "p", "uid": "uid-9"},
                "spec": {"containers": [{"name": "c", "volumeMounts": mounts}], "volumes": [
                    {"name": "v", "emptyDir": {}},
                    {"name": "h", "hostPath": {"path": outside.path()}}
                ]}
            }))
        };
        let p = mk(json!([
            {"name": "v", "mountPath": "/a", "subPath": "a/b"},
            {"name": "v", "mountPath": "/f", "subPath": "file"},
            {"name": "h", "mountPath": "/p", "subPath": "precious", "readOnly": true}
        ]));
        let prepared = prepare_with(
            root.path(),
            &p,
            &PodObjects::default(),
            &[],
            &VolumeHost::default(),
        )
        .unwrap();
        assert!(prepared.bind_sub_paths);
        let vol = prepared.volumes["v"].host_path.clone();
        fs::write(vol.join("file"), "f").unwrap();
        let c = &p.spec.as_ref().unwrap().containers[0];
        let m = mounts(&p, c, &prepared, &[]).unwrap();
        let subpaths = root.path().join("uid-9/volume-subpaths");
        assert_eq!(m[0].host_path, subpaths.join("v/c/0").display().to_string());
        assert_eq!(m[1].host_path, subpaths.join("v/c/1").display().to_string());
        assert_eq!(m[2].host_path, subpaths.join("h/c/2").display().to_string());
        assert!(m[2].readonly);
        // The bind mounts show the subpaths' contents.
        fs::write(vol.join("a/b/x"), "through").unwrap();
        assert_eq!(
            fs::read_to_string(subpaths.join("v/c/0/x")).unwrap(),
            "through"
        );
        assert_eq!(fs::read_to_string(subpaths.join("v/c/1")).unwrap(), "f");
        assert_eq!(fs::read_to_string(subpaths.join("h/c/2")).unwrap(), "keep");
        let count = || {
            let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
            let canon = fs::canonicalize(&subpaths).unwrap();
            text.lines()
                .filter(|l| l.contains(canon.to_str().unwrap()))
                .count()
        };
        assert_eq!(count(), 3);
        // A restart reuses the mounts.
        mounts(&p, c, &prepared, &[]).unwrap();
        assert_eq!(count(), 3);

        // Symlinks planted by a container cannot lead a subpath out of its volume.
        std::os::unix::fs::symlink(outside.path(), vol.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../../..", vol.join("rel")).unwrap();
        for sub in ["abs", "rel", "rel/etc", "abs/precious"] {
            let bad = mk(json!([{"name": "v", "mountPath": "/x", "subPath": sub}]));
            let c = &bad.spec.as_ref().unwrap().containers[0];
            let err = mounts(&bad, c, &prepared, &[]).unwrap_err().to_string();
            assert!(err.starts_with("failed to "), "{sub}: {err}");
        }
        assert_eq!(count(), 3);

        cleanup(root.path(), "uid-9").unwrap();
        assert!(!root.path().join("uid-9").exists());
        assert_eq!(
            fs::read_to_string(outside.path().join("precious")).unwrap(),
            "keep"
        );
    }

    #[test]
    fn tmpfs_volumes_are_mounted_once_and_cleaned_up() {
        if !is_root() {
            eprintln!("skipping tmpfs_volumes_are_mounted_once_and_cleaned_up: not root");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let _guard = Unmounter(root.path().to_path_buf());
        let p = pod(json!({
            "metadata": {"name": "p", "uid": "uid-8"},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi"}}}], "volumes": [
                {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                {"name": "mem2", "emptyDir": {"medium": "Memory"}},
                {"name": "s", "secret": {"secretName": "creds"}}
            ]}
        }));
        let mut objects = PodObjects::default();
        objects.secrets.insert(
            "creds".into(),
            Secret {
                data: Some(BTreeMap::from([(
                    "pw".to_string(),
                    ByteString(b"x".to_vec()),
                )])),
                ..Default::default()
            },
        );
        let h = VolumeHost {
            allocatable: BTreeMap::from([("memory".to_string(), Quantity("1Gi".into()))]),
            ..Default::default()
        };
        let prepared = prepare_with(root.path(), &p, &objects, &[], &h).unwrap();
        prepare_with(root.path(), &p, &objects, &[], &h).unwrap();
        let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let canon = fs::canonicalize(root.path()).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(canon.to_str().unwrap()))
            .collect();
        // One mount each, no stacking on the second sync.
        assert_eq!(lines.len(), 3, "{lines:#?}");
        let line = |vol: &str| {
            *lines
                .iter()
                .find(|l| l.contains(&format!("/{vol} ")))
                .unwrap()
        };
        assert!(
            line("mem").contains(" - tmpfs tmpfs ") && line("mem").contains("size=1024k"),
            "{}",
            line("mem")
        );
        assert!(line("mem2").contains("size=65536k"), "{}", line("mem2"));
        assert!(line("s").contains(" - tmpfs "));
        let s = &prepared.volumes["s"].host_path;
        assert_eq!(fs::read_to_string(s.join("pw")).unwrap(), "x");
        // The tmpfs root keeps its sticky 1777, as on upstream nodes.
        assert_eq!(mode(s), 0o1777);

        // A busy mount is detached lazily.
        let busy = fs::File::open(prepared.volumes["mem"].host_path.join(".")).unwrap();
        cleanup(root.path(), "uid-8").unwrap();
        drop(busy);
        assert!(!root.path().join("uid-8").exists());
        let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!text.contains(canon.to_str().unwrap()));
        cleanup(root.path(), "uid-8").unwrap();
    }
}
