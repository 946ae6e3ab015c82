//! What one container gets mounted (upstream `makeMounts` in `pkg/kubelet/kubelet_pods.go` and
//! `makeMounts` in `pkg/kubelet/kuberuntime/kuberuntime_container.go`): its `volumeMounts` as
//! CRI mounts, the pod's `/etc/hosts`, and a fresh termination message file.
//!
//! - `subPath` / `subPathExpr` (expanded with the container's environment, `$(VAR)` as
//!   upstream's `expansion.Expand`): absolute paths and `..` are refused with upstream's
//!   messages; a missing subpath is created as a directory with the volume's mode, never
//!   through a symlink that leaves the volume.
//! - `mountPropagation`: unset and `None` → private, `HostToContainer` → rslave,
//!   `Bidirectional` → rshared.
//! - configMap, secret, downwardAPI and projected volumes are always mounted read-only.
//! - `recursiveReadOnly`: the runtime here (containerd 1.6) does not support it, so `IfPossible`
//!   means no and `Enabled` is refused, as upstream does for such runtimes.
//!
//! Subpaths are handled as upstream's `PrepareSafeSubpath` does, race-free: the missing
//! directories are made with `mkdirat` below file descriptors opened with `openat2(2)`
//! `RESOLVE_BENEATH` (so a symlink planted by a container cannot lead out of the volume), and
//! the subpath itself is opened the same way and bind-mounted through `/proc/self/fd/<n>` onto
//! `<pod>/volume-subpaths/<volume>/<container>/<index>`, which is what the runtime mounts. Only
//! when the kubelet may not mount ([`PreparedVolumes::bind_sub_paths`] off, in tests) is the
//! resolved path handed to the runtime directly, which leaves a window between the check and
//! the runtime's mount. One difference: `RESOLVE_BENEATH` refuses absolute symlinks inside the
//! volume even when they point back into it (upstream resolves them first and accepts them).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use k8s_cri::v1::{KeyValue, Mount, MountPropagation};
use k8s_openapi::api::core::v1::{Container, Pod, VolumeMount};
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag};

use super::empty_dir::{MountTable, unmount};
use super::payload::go_quote;
use super::{PreparedVolumes, VolumeError, io_message};

const ETC_HOSTS: &str = "/etc/hosts";
const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// containerd 1.6 reports no recursive read-only support.
const RUNTIME_SUPPORTS_RRO: bool = false;

pub(super) fn mounts(
    pod: &Pod,
    container: &Container,
    prepared: &PreparedVolumes,
    env: &[KeyValue],
) -> Result<Vec<Mount>, VolumeError> {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    if prepared.pod_dir.file_name().and_then(|n| n.to_str()) != Some(uid) {
        return Err(VolumeError::Container(format!(
            "volumes prepared in {} do not belong to pod {}",
            prepared.pod_dir.display(),
            go_quote(uid)
        )));
    }
    let fail = |m: String| VolumeError::Container(m);
    let env: BTreeMap<&str, &str> = env
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()))
        .collect();
    let mut out = Vec::new();
    let mut mount_hosts = prepared.etc_hosts.is_some();
    for (index, m) in container.volume_mounts.iter().flatten().enumerate() {
        mount_hosts = mount_hosts && m.mount_path != ETC_HOSTS;
        let Some(vol) = prepared.volumes.get(&m.name) else {
            return Err(fail(format!(
                "cannot find volume {} to mount into container {}",
                go_quote(&m.name),
                go_quote(&container.name)
            )));
        };
        let mut host_path = vol.host_path.clone();
        let mut sub_path = m.sub_path.clone().unwrap_or_default();
        if let Some(expr) = m.sub_path_expr.as_deref().filter(|e| !e.is_empty()) {
            sub_path = expand_sub_path(expr, &env).map_err(fail)?;
        }
        if !sub_path.is_empty() {
            if sub_path.starts_with('/') {
                return Err(fail(format!(
                    "error SubPath `{sub_path}` must not be an absolute path"
                )));
            }
            if sub_path.split('/').any(|p| p == "..") {
                return Err(fail(format!(
                    "unable to provision SubPath `{sub_path}`: must not contain '..'"
                )));
            }
            let bind_target = prepared.bind_sub_paths.then(|| {
                prepared
                    .pod_dir
                    .join("volume-subpaths")
                    .join(&m.name)
                    .join(&container.name)
                    .join(index.to_string())
            });
            host_path = prepare_sub_path(
                &vol.host_path,
                &sub_path,
                bind_target.as_deref(),
                &m.name,
                &container.name,
            )
            .map_err(fail)?;
        }
        let container_path = if m.mount_path.starts_with('/') {
            m.mount_path.clone()
        } else {
            format!("/{}", m.mount_path)
        };
        let propagation = propagation(m.mount_propagation.as_deref()).map_err(fail)?;
        let read_only = m.read_only.unwrap_or(false);
        let rro = recursive_read_only(m)
            .map_err(|e| fail(format!("failed to resolve recursive read-only mode: {e}")))?;
        if rro && !read_only {
            return Err(fail(
                "recursive read-only mount needs read-only mount".into(),
            ));
        }
        out.push(Mount {
            container_path,
            host_path: host_path.to_string_lossy().into_owned(),
            readonly: read_only || vol.read_only,
            recursive_read_only: rro,
            propagation: propagation as i32,
            ..Default::default()
        });
    }
    if mount_hosts && let Some(hosts) = &prepared.etc_hosts {
        out.push(Mount {
            container_path: ETC_HOSTS.to_string(),
            host_path: hosts.to_string_lossy().into_owned(),
            ..Default::default()
        });
    }
    let message_path = container
        .termination_message_path
        .as_deref()
        .unwrap_or(DEFAULT_TERMINATION_MESSAGE_PATH);
    if !message_path.is_empty() {
        let file = termination_log(&prepared.pod_dir, &container.name).map_err(fail)?;
        out.push(Mount {
            container_path: if message_path.starts_with('/') {
                message_path.to_string()
            } else {
                format!("/{message_path}")
            },
            host_path: file.to_string_lossy().into_owned(),
            ..Default::default()
        });
    }
    Ok(out)
}

/// Upstream `ExpandContainerVolumeMounts`: `$(VAR)` from the container's environment; a
/// variable that is missing or empty is an error.
pub(crate) fn expand_sub_path(expr: &str, env: &BTreeMap<&str, &str>) -> Result<String, String> {
    let mut missing = std::collections::BTreeSet::new();
    let expanded = expand(expr, |name| match env.get(name) {
        Some(v) if !v.is_empty() => (*v).to_string(),
        _ => {
            missing.insert(name.to_string());
            String::new()
        }
    });
    if missing.is_empty() {
        Ok(expanded)
    } else {
        Err(format!(
            "missing value for {}",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// Kubernetes' `third_party/forked/golang/expansion.Expand`: `$(NAME)` is replaced, `$$` is a
/// literal `$`, anything else (an unclosed `$(`, a lone `$`) is kept as written.
pub(crate) fn expand(input: &str, mut mapping: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let Some(next) = after.chars().next() else {
            // A `$` at the very end stays.
            out.push('$');
            rest = after;
            break;
        };
        match next {
            '$' => {
                out.push('$');
                rest = &after[1..];
            }
            '(' => match after[1..].find(')') {
                Some(close) => {
                    out.push_str(&mapping(&after[1..1 + close]));
                    rest = &after[close + 2..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            c => {
                out.push('$');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The host path the runtime mounts for `sub_path` inside the volume at `volume_path`: the
/// bind mount at `bind_target` when given, else the resolved path. A missing subpath is created
/// first as a directory with the volume's mode.
fn prepare_sub_path(
    volume_path: &Path,
    sub_path: &str,
    bind_target: Option<&Path>,
    mount_name: &str,
    container_name: &str,
) -> Result<PathBuf, String> {
    let host = volume_path.join(sub_path);
    if fs::symlink_metadata(&host).is_err() {
        let made = fs::metadata(volume_path)
            .map_err(|e| io_message("stat", volume_path, &e))
            .and_then(|m| safe_make_dir(volume_path, sub_path, m.mode() & 0o7777));
        if let Err(e) = made {
            // Upstream keeps the details (host paths) out of the pod's status.
            tracing::warn!(error = %e, volume_mount = mount_name, container = container_name,
                "failed to create subPath directory");
            return Err(format!(
                "failed to create subPath directory for volumeMount {} of container {}",
                go_quote(mount_name),
                go_quote(container_name)
            ));
        }
    }
    let prepared = match bind_target {
        Some(target) => bind_sub_path(volume_path, sub_path, target),
        None => resolve_sub_path(volume_path, sub_path),
    };
    prepared.map_err(|e| {
        tracing::warn!(error = %e, volume_mount = mount_name, container = container_name,
            "failed to prepare subPath");
        format!(
            "failed to prepare subPath for volumeMount {} of container {}",
            go_quote(mount_name),
            go_quote(container_name)
        )
    })
}

/// Opens `path` below `base`, refusing any resolution (`..`, absolute or relative symlinks)
/// that leaves it.
fn open_beneath(base: &impl AsFd, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    nix::fcntl::openat2(base, path, how)
}

fn open_dir(path: &Path) -> Result<OwnedFd, String> {
    nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| errno_message("open", path, e))
}

fn errno_message(op: &str, path: &Path, e: Errno) -> String {
    io_message(op, path, &io::Error::from_raw_os_error(e as i32))
}

/// Upstream `SafeMakeDir`: creates the missing directories of `sub_path` below `base` with
/// mode `perm` exactly (fchmod, so setgid and sticky bits survive), walking file descriptors
/// opened beneath `base` so that no symlink can redirect the creation outside it.
fn safe_make_dir(base: &Path, sub_path: &str, perm: u32) -> Result<(), String> {
    let base_fd = open_dir(base)?;
    let mode = Mode::from_bits_truncate(perm);
    let mut prefix = PathBuf::new();
    let mut parent: Option<OwnedFd> = None;
    for component in Path::new(sub_path).components() {
        let name = match component {
            Component::Normal(n) => n,
            Component::CurDir => continue,
            _ => return Err(format!("invalid subPath {sub_path}")),
        };
        prefix.push(name);
        let full = base.join(&prefix);
        match open_beneath(&base_fd, &prefix, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(fd) => {
                parent = Some(fd);
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(Errno::EXDEV | Errno::ELOOP) => {
                return Err(format!(
                    "path {} is outside of allowed base {}",
                    full.display(),
                    base.display()
                ));
            }
            Err(e) => return Err(errno_message("open", &full, e)),
        }
        let dir_fd = match &parent {
            Some(fd) => fd.as_fd(),
            None => base_fd.as_fd(),
        };
        // A dangling symlink here makes mkdirat fail with EEXIST rather than follow it.
        nix::sys::stat::mkdirat(dir_fd, name, mode)
            .map_err(|e| errno_message("mkdir", &full, e))?;
        let fd = nix::fcntl::openat(
            dir_fd,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| errno_message("open", &full, e))?;
        nix::sys::stat::fchmod(&fd, mode).map_err(|e| errno_message("chmod", &full, e))?;
        parent = Some(fd);
    }
    Ok(())
}

/// Upstream `doBindSubPath`: the subpath, opened beneath the volume, bind-mounted through its
/// file descriptor onto `target` (kept when it already holds that very file).
fn bind_sub_path(volume_path: &Path, sub_path: &str, target: &Path) -> Result<PathBuf, String> {
    let base_fd = open_dir(volume_path)?;
    let fd = open_beneath(&base_fd, Path::new(sub_path), OFlag::O_PATH)
        .map_err(|e| errno_message("open", &volume_path.join(sub_path), e))?;
    let stat = nix::sys::stat::fstat(&fd).map_err(|e| errno_message("stat", target, e))?;
    let is_dir = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    if MountTable::read()?.fs_type(target).is_some() {
        let same =
            fs::metadata(target).is_ok_and(|m| m.dev() == stat.st_dev && m.ino() == stat.st_ino);
        if same {
            return Ok(target.to_path_buf());
        }
        unmount(target)?;
    }
    if let Some(parent) = target.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(parent)
            .map_err(|e| io_message("mkdir", parent, &e))?;
    }
    let made = if is_dir {
        match fs::DirBuilder::new().mode(0o750).create(target) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    } else {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o640)
            .open(target)
            .map(drop)
    };
    made.map_err(|e| io_message("create", target, &e))?;
    let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
    nix::mount::mount(
        Some(source.as_str()),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| errno_message("bind mount", target, e))?;
    Ok(target.to_path_buf())
}

/// Without bind mounts: the subpath resolved, which must stay inside the volume.
fn resolve_sub_path(volume_path: &Path, sub_path: &str) -> Result<PathBuf, String> {
    let base = fs::canonicalize(volume_path).map_err(|e| io_message("resolve", volume_path, &e))?;
    let host = volume_path.join(sub_path);
    let resolved = fs::canonicalize(&host).map_err(|e| io_message("resolve", &host, &e))?;
    if !resolved.starts_with(&base) {
        return Err(format!(
            "subpath {} not within volume path {}",
            resolved.display(),
            base.display()
        ));
    }
    Ok(resolved)
}

/// Upstream `translateMountPropagation`.
fn propagation(mode: Option<&str>) -> Result<MountPropagation, String> {
    match mode {
        None | Some("None") => Ok(MountPropagation::PropagationPrivate),
        Some("HostToContainer") => Ok(MountPropagation::PropagationHostToContainer),
        Some("Bidirectional") => Ok(MountPropagation::PropagationBidirectional),
        Some(other) => Err(format!(
            "invalid MountPropagation mode: {}",
            go_quote(other)
        )),
    }
}

/// Upstream `resolveRecursiveReadOnly` for a runtime without recursive read-only support.
fn recursive_read_only(m: &VolumeMount) -> Result<bool, String> {
    let mode = match m.recursive_read_only.as_deref() {
        None | Some("Disabled") => return Ok(false),
        Some(mode) => mode,
    };
    if !m.read_only.unwrap_or(false) {
        return Err(format!(
            "volume {} requested recursive read-only mode, but it is not read-only",
            go_quote(&m.name)
        ));
    }
    if let Some(p) = m.mount_propagation.as_deref().filter(|p| *p != "None") {
        return Err(format!(
            "volume {} requested recursive read-only mode, but it is not compatible with propagation {}",
            go_quote(&m.name),
            go_quote(p)
        ));
    }
    match mode {
        "IfPossible" => Ok(RUNTIME_SUPPORTS_RRO),
        "Enabled" if RUNTIME_SUPPORTS_RRO => Ok(true),
        "Enabled" => Err(format!(
            "volume {} requested recursive read-only mode, but it is not supported by the runtime",
            go_quote(&m.name)
        )),
        other => Err(format!(
            "unknown RecursiveReadOnly mode {}",
            go_quote(other)
        )),
    }
}

/// Creates `<pod>/containers/<name>/<8 random hex digits>`, mode 0666, for the runtime to
/// bind-mount at the termination message path.
fn termination_log(pod_dir: &Path, container: &str) -> Result<PathBuf, String> {
    super::check_component("container name", container)?;
    let dir = pod_dir.join("containers").join(container);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(&dir)
        .map_err(|e| io_message("mkdir", &dir, &e))?;
    let mut last = None;
    for _ in 0..16 {
        let path = dir.join(format!("{:08x}", super::random_u32()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(&path)
        {
            Ok(_) => {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o666))
                    .map_err(|e| io_message("chmod", &path, &e))?;
                return Ok(path);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_message("create", &path, &e)),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists));
    Err(io_message("create", &dir, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, &'a str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn expansion_like_upstream() {
        let e = env(&[("A", "x"), ("B", "y")]);
        let m = |s: &str| expand(s, |n| e.get(n).map(|v| v.to_string()).unwrap_or_default());
        assert_eq!(m("$(A)/$(B)"), "x/y");
        assert_eq!(m("$$(A)"), "$(A)");
        assert_eq!(m("$(A"), "$(A");
        assert_eq!(m("a$b"), "a$b");
        assert_eq!(m("end$"), "end$");
        assert_eq!(m("é$(A)ü$ü"), "éxü$ü");
        assert_eq!(m("$()"), "");
    }

    #[test]
    fn sub_path_expr_needs_every_variable() {
        let e = env(&[("POD", "web-0"), ("EMPTY", "")]);
        assert_eq!(expand_sub_path("logs/$(POD)", &e).unwrap(), "logs/web-0");
        assert_eq!(
            expand_sub_path("$(Z)/$(EMPTY)/$(A)", &e).unwrap_err(),
            "missing value for A, EMPTY, Z"
        );
    }

    #[test]
    fn propagation_and_rro() {
        assert_eq!(
            propagation(None).unwrap(),
            MountPropagation::PropagationPrivate
        );
        assert_eq!(
            propagation(Some("Bidirectional")).unwrap(),
            MountPropagation::PropagationBidirectional
        );
        assert_eq!(
            propagation(Some("rshared")).unwrap_err(),
            "invalid MountPropagation mode: \"rshared\""
        );
        let vm = |ro: bool, rro: &str, prop: Option<&str>| VolumeMount {
            name: "v".into(),
            mount_path: "/m".into(),
            read_only: Some(ro),
            recursive_read_only: Some(rro.into()),
            mount_propagation: prop.map(Into::into),
            ..Default::default()
        };
        assert!(!recursive_read_only(&vm(true, "IfPossible", None)).unwrap());
        assert_eq!(
            recursive_read_only(&vm(true, "Enabled", None)).unwrap_err(),
            "volume \"v\" requested recursive read-only mode, but it is not supported by the runtime"
        );
        assert_eq!(
            recursive_read_only(&vm(false, "Enabled", None)).unwrap_err(),
            "volume \"v\" requested recursive read-only mode, but it is not read-only"
        );
        assert_eq!(
            recursive_read_only(&vm(true, "IfPossible", Some("HostToContainer"))).unwrap_err(),
            "volume \"v\" requested recursive read-only mode, but it is not compatible with propagation \"HostToContainer\""
        );
        assert!(!recursive_read_only(&vm(false, "Disabled", None)).unwrap());
    }

    #[test]
    fn sub_paths_are_created_with_the_volume_mode_and_confined() {
        let t = tempfile::tempdir().unwrap();
        let vol = t.path().join("vol");
        fs::create_dir(&vol).unwrap();
        fs::set_permissions(&vol, fs::Permissions::from_mode(0o2775)).unwrap();
        let p = prepare_sub_path(&vol, "a/b", None, "m", "c").unwrap();
        assert_eq!(p, fs::canonicalize(vol.join("a/b")).unwrap());
        assert_eq!(fs::metadata(vol.join("a")).unwrap().mode() & 0o7777, 0o2775);
        assert_eq!(
            fs::metadata(vol.join("a/b")).unwrap().mode() & 0o7777,
            0o2775
        );

        // A symlink inside the volume that points outside is refused, and nothing is created
        // through it.
        let outside = t.path().join("outside");
        fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, vol.join("esc")).unwrap();
        assert_eq!(
            prepare_sub_path(&vol, "esc/x", None, "m", "c").unwrap_err(),
            "failed to create subPath directory for volumeMount \"m\" of container \"c\""
        );
        assert!(!outside.join("x").exists());
        assert_eq!(
            prepare_sub_path(&vol, "esc", None, "m", "c").unwrap_err(),
            "failed to prepare subPath for volumeMount \"m\" of container \"c\""
        );
        // Relative symlinks that climb out are refused too.
        std::os::unix::fs::symlink("../outside", vol.join("rel")).unwrap();
        assert!(prepare_sub_path(&vol, "rel/y", None, "m", "c").is_err());
        assert!(!outside.join("y").exists());
        assert!(
            safe_make_dir(&vol, "rel/y", 0o755)
                .unwrap_err()
                .contains("is outside of allowed base")
        );
        // A dangling symlink is not followed to create its target.
        let target = t.path().join("dangling-target");
        std::os::unix::fs::symlink(&target, vol.join("dang")).unwrap();
        assert!(prepare_sub_path(&vol, "dang", None, "m", "c").is_err());
        std::os::unix::fs::symlink("nothing-here", vol.join("dang2")).unwrap();
        assert!(safe_make_dir(&vol, "dang2", 0o755).is_err());
        assert!(!target.exists() && !vol.join("nothing-here").exists());
        // A symlink that stays inside is followed; files are fine as subpaths.
        std::os::unix::fs::symlink("a", vol.join("alias")).unwrap();
        assert_eq!(
            prepare_sub_path(&vol, "alias/b", None, "m", "c").unwrap(),
            fs::canonicalize(vol.join("a/b")).unwrap()
        );
        fs::write(vol.join("file"), "x").unwrap();
        assert_eq!(
            prepare_sub_path(&vol, "file", None, "m", "c").unwrap(),
            fs::canonicalize(vol.join("file")).unwrap()
        );
    }
}
