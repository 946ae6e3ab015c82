//! emptyDir volumes (upstream `pkg/volume/emptydir`) and what the other volume types borrow from
//! them: a directory with mode 0777, on disk or on a tmpfs (`medium: Memory`, and the secret,
//! downwardAPI and projected volumes) or a hugetlbfs (`medium: HugePages[-<size>]`); fsGroup
//! ownership (upstream `SetVolumeOwnership`); the mount table.
//!
//! A tmpfs is sized as upstream sizes it (`SizeMemoryBackedVolumes`): node allocatable memory,
//! lowered to the pod's memory limit when every container has one, lowered to the volume's
//! `sizeLimit`. A mount is made once: a directory that already is a mount point of the wanted
//! type is left as it is. A `ready` marker under `<pod>/plugins/kubernetes.io~empty-dir/<name>`
//! records a finished emptyDir set-up, so that fsGroup ownership is applied once, as upstream.
//!
//! Differences from upstream: no project quotas (`LocalStorageCapacityIsolationFSQuotaMonitoring`);
//! mount state comes from `/proc/self/mountinfo` rather than statfs.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use barge_api::quantity::Quantity as Parsed;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use nix::mount::{MntFlags, MsFlags};

use super::io_message;

const DIR_MODE: u32 = 0o777;

/// What backs a directory-based volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Medium {
    Disk,
    /// A tmpfs with this size in bytes (none: the kernel's default, half of RAM).
    Memory(Option<i128>),
    /// A hugetlbfs with this `pagesize=` option value.
    HugePages(String),
}

/// Creates the directory with mode 0777 (upstream `setupDir`), then mounts what the medium
/// needs unless it is mounted already.
pub(crate) fn set_up(dir: &Path, medium: &Medium, mounts: &MountTable) -> Result<(), String> {
    setup_dir(dir)?;
    match medium {
        Medium::Disk => Ok(()),
        Medium::Memory(size) => {
            if mounts.fs_type(dir).as_deref() == Some("tmpfs") {
                return Ok(());
            }
            let options = size.filter(|s| *s > 0).map(|s| format!("size={s}"));
            mount("tmpfs", dir, "tmpfs", options.as_deref())
        }
        Medium::HugePages(page_size) => {
            if mounts.fs_type(dir).as_deref() == Some("hugetlbfs") {
                return Ok(());
            }
            let option = format!("pagesize={page_size}");
            mount("nodev", dir, "hugetlbfs", Some(&option))
        }
    }
}

fn mount(source: &str, dir: &Path, fs_type: &str, data: Option<&str>) -> Result<(), String> {
    nix::mount::mount(Some(source), dir, Some(fs_type), MsFlags::empty(), data).map_err(|e| {
        format!(
            "mount failed: {} (mount -t {fs_type}{} {source} {})",
            errno_text(e),
            data.map(|d| format!(" -o {d}")).unwrap_or_default(),
            dir.display()
        )
    })
}

fn errno_text(e: nix::errno::Errno) -> String {
    let desc = e.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => desc.to_string(),
    }
}

/// Upstream `setupDir`: create with 0777 and fix the mode when the umask narrowed it.
pub(crate) fn setup_dir(dir: &Path) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| io_message("mkdir", dir, &e))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| io_message("lstat", dir, &e))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if meta.mode() & 0o777 != DIR_MODE {
        let mode = (meta.mode() & 0o7000) | DIR_MODE;
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .map_err(|e| io_message("chmod", dir, &e))?;
    }
    Ok(())
}

/// Whether `<meta_dir>/ready` exists (upstream `volumeutil.IsReady`).
pub(crate) fn is_ready(meta_dir: &Path) -> bool {
    fs::symlink_metadata(meta_dir.join("ready")).is_ok_and(|m| m.is_file())
}

/// Creates `<meta_dir>/ready` (upstream `volumeutil.SetReady`).
pub(crate) fn set_ready(meta_dir: &Path) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(meta_dir)
        .map_err(|e| io_message("mkdir", meta_dir, &e))?;
    let ready = meta_dir.join("ready");
    fs::write(&ready, b"").map_err(|e| io_message("create", &ready, &e))
}

/// Upstream `SetVolumeOwnership` with no `fsGroupChangePolicy`: every entry below `dir`
/// (symlinks not followed) gets group `fs_group`; files gain `rw-rw----` (`r--r-----` for
/// read-only volumes), directories also `g+s` and `ug+x`. Symlinks are not chmodded.
pub(crate) fn set_ownership(
    dir: &Path,
    fs_group: Option<u32>,
    read_only: bool,
) -> Result<(), String> {
    let Some(gid) = fs_group else {
        return Ok(());
    };
    let mask = if read_only { 0o440 } else { 0o660 };
    change(dir, gid, mask).map_err(|e| io_message("set ownership of", dir, &e))
}

fn change(path: &Path, gid: u32, mask: u32) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    // Upstream only logs chown and chmod failures.
    if let Err(e) = std::os::unix::fs::lchown(path, None, Some(gid)) {
        tracing::warn!(path = %path.display(), error = %e, "lchown failed");
    }
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mut mode = (meta.mode() & 0o7777) | mask;
    if meta.is_dir() {
        mode |= 0o2000 | 0o110;
    }
    if let Err(e) = fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
        tracing::warn!(path = %path.display(), error = %e, "chmod failed");
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            change(&entry?.path(), gid, mask)?;
        }
    }
    Ok(())
}

/// Upstream `calculateEmptyDirMemorySize`: node allocatable memory, lowered to the pod's memory
/// limit and then to the volume's size limit (each only when above zero and not larger).
pub(crate) fn memory_size(
    allocatable: &BTreeMap<String, Quantity>,
    pod: &Pod,
    size_limit: Option<&Quantity>,
) -> Option<i128> {
    let mut size = allocatable
        .get("memory")
        .and_then(|q| Parsed::parse(&q.0).ok())
        .map(|q| q.value());
    let lower = |size: Option<i128>, candidate: i128| match size {
        _ if candidate <= 0 => size,
        Some(s) if candidate > s => size,
        _ => Some(candidate),
    };
    if let Some(limit) = pod_memory_limit(pod) {
        size = lower(size, limit);
    }
    if let Some(q) = size_limit.and_then(|q| Parsed::parse(&q.0).ok()) {
        size = lower(size, q.value());
    }
    size
}

fn memory_limit(c: &Container) -> Option<i128> {
    c.resources
        .as_ref()?
        .limits
        .as_ref()?
        .get("memory")
        .and_then(|q| Parsed::parse(&q.0).ok())
        .map(|q| q.value())
}

/// The pod's memory limit as its cgroup gets it (upstream `ResourceConfigForPod`): only when
/// every container declares one; regular containers and sidecars add up, a plain init container
/// counts alone (with the sidecars started before it); plus the pod overhead.
fn pod_memory_limit(pod: &Pod) -> Option<i128> {
    let spec = pod.spec.as_ref()?;
    let mut sidecars = 0i128;
    let mut init_max = 0i128;
    for c in spec.init_containers.iter().flatten() {
        let limit = memory_limit(c)?;
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars += limit;
            init_max = init_max.max(sidecars);
        } else {
            init_max = init_max.max(sidecars + limit);
        }
    }
    let mut regular = 0i128;
    for c in &spec.containers {
        regular += memory_limit(c)?;
    }
    let overhead = spec
        .overhead
        .as_ref()
        .and_then(|o| o.get("memory"))
        .and_then(|q| Parsed::parse(&q.0).ok())
        .map_or(0, |q| q.value());
    Some((regular + sidecars).max(init_max) + overhead)
}

/// Upstream `getPageSizeMountOption`: the huge page size of `medium` (`HugePages` or
/// `HugePages-<size>`), which the pod's containers must request.
pub(crate) fn huge_page_size(medium: &str, pod: &Pod) -> Result<String, String> {
    let wanted = match medium.strip_prefix("HugePages-") {
        Some(size) => Some(
            Parsed::parse(size)
                .map_err(|_| format!("invalid huge page size in medium {medium}"))?,
        ),
        None => None,
    };
    let mut found: Option<Parsed> = None;
    let Some(spec) = pod.spec.as_ref() else {
        return Err(no_huge_pages(medium));
    };
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        for name in requests.into_iter().flat_map(|r| r.keys()) {
            let Some(size) = name.strip_prefix("hugepages-") else {
                continue;
            };
            let size = Parsed::parse(size)
                .map_err(|_| format!("invalid huge page resource name {name}"))?;
            match &wanted {
                None => {
                    if found.as_ref().is_some_and(|f| *f != size) {
                        return Err(format!(
                            "medium: {medium} can't be used if container requests multiple huge page sizes"
                        ));
                    }
                    found = Some(size);
                }
                Some(w) if *w == size => found = Some(size),
                Some(_) => {}
            }
        }
    }
    found
        .map(|s| s.to_string())
        .ok_or_else(|| no_huge_pages(medium))
}

fn no_huge_pages(medium: &str) -> String {
    format!(
        "medium {medium}: hugePages storage requested, but there is no resource request for huge pages"
    )
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fs_type: String,
}

/// The mount table, read once per operation.
#[derive(Debug, Clone, Default)]
pub struct MountTable(Vec<MountEntry>);

impl MountTable {
    pub fn read() -> Result<Self, String> {
        let path = Path::new("/proc/self/mountinfo");
        let text = fs::read_to_string(path).map_err(|e| io_message("open", path, &e))?;
        Ok(Self::parse(&text))
    }

    pub fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(sep) = fields.iter().position(|f| *f == "-") else {
                continue;
            };
            let (Some(mount_point), Some(fs_type)) = (fields.get(4), fields.get(sep + 1)) else {
                continue;
            };
            entries.push(MountEntry {
                mount_point: PathBuf::from(unescape(mount_point)),
                fs_type: (*fs_type).to_string(),
            });
        }
        Self(entries)
    }

    /// The type of the file system mounted at `dir` (the last mount there), if `dir` is a
    /// mount point.
    pub fn fs_type(&self, dir: &Path) -> Option<String> {
        let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        self.0
            .iter()
            .rev()
            .find(|e| e.mount_point == dir)
            .map(|e| e.fs_type.clone())
    }

    /// Mount points strictly below `dir` (already canonical), deepest first.
    pub fn below(&self, dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self
            .0
            .iter()
            .filter(|e| e.mount_point != dir && e.mount_point.starts_with(dir))
            .map(|e| e.mount_point.clone())
            .collect();
        v.sort_by(|a, b| {
            let depth = |p: &PathBuf| p.components().count();
            depth(b).cmp(&depth(a)).then_with(|| a.cmp(b))
        });
        v.dedup();
        v
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts `dir`, lazily (MNT_DETACH) when it is busy.
pub(crate) fn unmount(dir: &Path) -> Result<(), String> {
    match nix::mount::umount2(dir, MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => nix::mount::umount2(dir, MntFlags::MNT_DETACH)
            .map_err(|e| format!("unmount {}: {}", dir.display(), errno_text(e))),
        Err(nix::errno::Errno::EINVAL) => Ok(()), // not a mount point (any more)
        Err(e) => Err(format!("unmount {}: {}", dir.display(), errno_text(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn setup_dir_is_0777_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b");
        setup_dir(&d).unwrap();
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o7777, 0o777);
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        setup_dir(&d).unwrap();
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o7777, 0o777);
        fs::write(dir.path().join("f"), "").unwrap();
        assert!(setup_dir(&dir.path().join("f")).is_err());
    }

    #[test]
    fn ownership_masks_files_and_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir(d.join("sub")).unwrap();
        fs::set_permissions(d.join("sub"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(d.join("sub/f"), "x").unwrap();
        fs::set_permissions(d.join("sub/f"), fs::Permissions::from_mode(0o400)).unwrap();
        fs::write(d.join("target"), "t").unwrap();
        fs::set_permissions(d.join("target"), fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink("target", d.join("link")).unwrap();
        let gid = fs::metadata(d).unwrap().gid();
        set_ownership(d, Some(gid), true).unwrap();
        assert_eq!(fs::metadata(d.join("sub")).unwrap().mode() & 0o7777, 0o2750);
        assert_eq!(
            fs::metadata(d.join("sub/f")).unwrap().mode() & 0o7777,
            0o440
        );
        // The link was not chmodded through; its target got the file mask on its own.
        assert_eq!(
            fs::metadata(d.join("target")).unwrap().mode() & 0o7777,
            0o640
        );
        set_ownership(d, Some(gid), false).unwrap();
        assert_eq!(
            fs::metadata(d.join("sub/f")).unwrap().mode() & 0o7777,
            0o660
        );
        // No fsGroup: nothing changes.
        fs::set_permissions(d.join("sub/f"), fs::Permissions::from_mode(0o400)).unwrap();
        set_ownership(d, None, false).unwrap();
        assert_eq!(
            fs::metadata(d.join("sub/f")).unwrap().mode() & 0o7777,
            0o400
        );
    }

    #[test]
    fn memory_size_takes_the_smallest_positive_bound() {
        let alloc = BTreeMap::from([("memory".to_string(), Quantity("1Gi".into()))]);
        let limited = pod(json!({"spec": {
            "initContainers": [
                {"name": "i", "resources": {"limits": {"memory": "300Mi"}}},
                {"name": "s", "restartPolicy": "Always", "resources": {"limits": {"memory": "10Mi"}}}
            ],
            "containers": [
                {"name": "a", "resources": {"limits": {"memory": "100Mi"}}},
                {"name": "b", "resources": {"limits": {"memory": "50Mi"}}}
            ],
            "overhead": {"memory": "1Mi"}
        }}));
        let mi = 1024 * 1024;
        assert_eq!(memory_size(&alloc, &limited, None), Some(301 * mi));
        let unlimited = pod(json!({"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"memory": "100Mi"}}},
            {"name": "b"}
        ]}}));
        assert_eq!(memory_size(&alloc, &unlimited, None), Some(1024 * mi));
        assert_eq!(
            memory_size(&alloc, &unlimited, Some(&Quantity("64Mi".into()))),
            Some(64 * mi)
        );
        assert_eq!(
            memory_size(&alloc, &unlimited, Some(&Quantity("2Gi".into()))),
            Some(1024 * mi)
        );
        assert_eq!(memory_size(&BTreeMap::new(), &unlimited, None), None);
        assert_eq!(
            memory_size(&BTreeMap::new(), &unlimited, Some(&Quantity("0".into()))),
            None
        );
    }

    #[test]
    fn huge_page_sizes_come_from_requests() {
        let p = pod(json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"hugepages-2Mi": "4Mi", "memory": "1Mi"}}}
        ]}}));
        assert_eq!(huge_page_size("HugePages", &p).unwrap(), "2Mi");
        assert_eq!(huge_page_size("HugePages-2Mi", &p).unwrap(), "2Mi");
        assert_eq!(
            huge_page_size("HugePages-1Gi", &p).unwrap_err(),
            "medium HugePages-1Gi: hugePages storage requested, but there is no resource request for huge pages"
        );
        let two = pod(json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"hugepages-2Mi": "4Mi", "hugepages-1Gi": "1Gi"}}}
        ]}}));
        assert_eq!(
            huge_page_size("HugePages", &two).unwrap_err(),
            "medium: HugePages can't be used if container requests multiple huge page sizes"
        );
    }

    #[test]
    fn mountinfo_parsing() {
        let t = MountTable::parse(
            "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
             90 30 0:50 / /var/lib/k/pods/u/volumes/kubernetes.io~secret/s rw shared:1 - tmpfs tmpfs rw,size=1k\n\
             91 90 0:51 / /var/lib/k/pods/u/volumes/kubernetes.io~empty-dir/with\\040space rw - tmpfs tmpfs rw\n\
             garbage\n",
        );
        let pods = Path::new("/var/lib/k/pods/u");
        assert_eq!(
            t.below(pods),
            [
                PathBuf::from("/var/lib/k/pods/u/volumes/kubernetes.io~empty-dir/with space"),
                PathBuf::from("/var/lib/k/pods/u/volumes/kubernetes.io~secret/s"),
            ]
        );
        assert_eq!(t.fs_type(Path::new("/proc")).as_deref(), Some("proc"));
        assert!(
            t.below(Path::new(
                "/var/lib/k/pods/u/volumes/kubernetes.io~secret/s"
            ))
            .is_empty()
        );
    }
}
