//! Images from files: importing OCI-layout and docker-archive tarballs into containerd's
//! `k8s.io` namespace (where CRI sees them at once), listing what CRI sees, and watching a
//! directory for tarballs to import (the air-gap path, like k3s's `agent/images/`).
//!
//! The import shells out to `ctr images import`, which Debian's containerd package ships:
//! containerd 1.6 has no CRI call for loading an archive. ctr reads plain tars only, so a
//! `.tar.gz` / `.tgz` is decompressed by `gzip -dc` on the way in. ctr unpacks into the
//! snapshotter the config selects, so the first container start does not have to.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use k8s_cri::v1::ListImagesRequest;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tonic::transport::Channel;
use tracing::{info, warn};

use crate::containerd::{CRI_NAMESPACE, SNAPSHOTTER, find_binary};

/// How often [`watch_dir`] looks at its directory.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// An import that fails is retried after this, doubling up to [`MAX_RETRY`], or at once if
/// the file changes.
const FIRST_RETRY: Duration = Duration::from_secs(10);
const MAX_RETRY: Duration = Duration::from_secs(300);

/// An image as CRI `ListImages` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSummary {
    /// The image id (`sha256:` of its config).
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// Bytes (containerd reports the compressed size of the layers).
    pub size: u64,
}

/// What the archive is, judged by its name.
fn is_gzip(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// Whether [`watch_dir`] imports a file with this name.
pub fn is_image_archive(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    !name.starts_with('.') && (name.ends_with(".tar") || is_gzip(path))
}

/// Fails at once when there is no socket (ctr would try to connect for seconds).
fn check_socket(socket: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(socket) {
        Ok(m) if m.file_type().is_socket() => Ok(()),
        Ok(_) => bail!("{} is not a socket", socket.display()),
        Err(e) => bail!("containerd socket {}: {e}", socket.display()),
    }
}

fn ctr_command(socket: &Path) -> anyhow::Result<Command> {
    let Some(ctr) = find_binary("ctr") else {
        bail!(
            "ctr not found on PATH, /usr/sbin or /usr/bin; install it with `apt-get install containerd`"
        );
    };
    let mut cmd = Command::new(ctr);
    cmd.arg("--address")
        .arg(socket)
        .args(["--namespace", CRI_NAMESPACE, "--connect-timeout", "5s"])
        .args(["images", "import", "--snapshotter", SNAPSHOTTER])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    Ok(cmd)
}

/// Imports the OCI-layout or docker-archive tarball at `archive` (`.tar`, or gzip-compressed
/// `.tar.gz` / `.tgz`) into containerd's `k8s.io` namespace. Returns the names imported.
pub async fn import(socket: &Path, archive: &Path) -> anyhow::Result<Vec<String>> {
    let what = archive.display().to_string();
    check_socket(socket)?;
    let mut cmd = ctr_command(socket)?;
    if is_gzip(archive) {
        let file = std::fs::File::open(archive).with_context(|| format!("opening {what}"))?;
        let mut gzip = Command::new("gzip")
            .arg("-dc")
            .stdin(file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("running gzip -dc (install gzip to import .tar.gz files)")?;
        let Some(out) = gzip.stdout.take() else {
            bail!("gzip has no stdout")
        };
        let out: Stdio = out.try_into().context("passing gzip's output to ctr")?;
        cmd.arg("-").stdin(out);
        let result = run_ctr(cmd, None, &what).await;
        let gz = gzip.wait_with_output().await.context("waiting for gzip")?;
        if !gz.status.success() {
            bail!(
                "decompressing {what} failed ({}): {}",
                gz.status,
                String::from_utf8_lossy(&gz.stderr).trim()
            );
        }
        result
    } else {
        if !archive.is_file() {
            bail!("{what} is not a file");
        }
        cmd.arg(archive).stdin(Stdio::null());
        run_ctr(cmd, None, &what).await
    }
}

/// Imports an archive held in memory (see [`import`]; plain tar only).
pub async fn import_bytes(socket: &Path, archive: &[u8]) -> anyhow::Result<Vec<String>> {
    check_socket(socket)?;
    let mut cmd = ctr_command(socket)?;
    cmd.arg("-").stdin(Stdio::piped());
    run_ctr(cmd, Some(archive), "an image archive").await
}

async fn run_ctr(
    mut cmd: Command,
    input: Option<&[u8]>,
    what: &str,
) -> anyhow::Result<Vec<String>> {
    let mut child = cmd.spawn().context("running ctr images import")?;
    let stdin = child.stdin.take();
    // Feed stdin while reading ctr's output, so neither side can block the other.
    let feed = async move {
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            // If ctr fails early it closes its stdin; its own error (below) says why.
            if let Err(e) = stdin.write_all(input).await {
                warn!("writing the archive to ctr: {e}");
            }
        }
    };
    let ((), out) = tokio::join!(feed, child.wait_with_output());
    let out = out.context("waiting for ctr images import")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!(
            "importing {what} failed ({}): {}",
            out.status,
            stderr.trim()
        );
    }
    let names = parse_import_output(&stdout);
    if names.is_empty() {
        bail!(
            "importing {what}: ctr imported no named image (output: {:?})",
            stdout.trim()
        );
    }
    Ok(names)
}

/// The names in ctr's `unpacking <name> (sha256:...)...done` lines.
fn parse_import_output(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("unpacking "))
        .filter_map(|rest| rest.split_once(" (").map(|(name, _)| name.to_string()))
        .filter(|name| !name.is_empty())
        .collect()
}

/// The images CRI knows (`ListImages`).
pub async fn list(channel: Channel) -> anyhow::Result<Vec<ImageSummary>> {
    let mut client = ImageServiceClient::new(channel);
    let response = client
        .list_images(ListImagesRequest { filter: None })
        .await
        .context("CRI ListImages")?
        .into_inner();
    Ok(response
        .images
        .into_iter()
        .map(|i| ImageSummary {
            id: i.id,
            repo_tags: i.repo_tags,
            repo_digests: i.repo_digests,
            size: i.size,
        })
        .collect())
}

/// A file's identity for the watcher: name, size and mtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: SystemTime,
}

#[derive(Debug)]
enum FileState {
    /// Seen once with this stamp and still recent: maybe being written, look again.
    Settling(Stamp),
    Imported(Stamp),
    Failed {
        stamp: Stamp,
        retry_at: Instant,
        backoff: Duration,
    },
}

/// Imports the image archives in a directory, each once (again only if it changes).
pub struct DirWatcher {
    dir: PathBuf,
    socket: PathBuf,
    files: HashMap<PathBuf, FileState>,
}

impl fmt::Debug for DirWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirWatcher")
            .field("dir", &self.dir)
            .field("socket", &self.socket)
            .field("files", &self.files.len())
            .finish()
    }
}

/// The outcome of importing one file in [`DirWatcher::scan`].
#[derive(Debug)]
pub struct Imported {
    pub path: PathBuf,
    pub result: anyhow::Result<Vec<String>>,
}

impl DirWatcher {
    pub fn new(dir: PathBuf, socket: PathBuf) -> DirWatcher {
        DirWatcher {
            dir,
            socket,
            files: HashMap::new(),
        }
    }

    /// Looks at the directory once and imports what is new or changed. A file modified in
    /// the last [`WATCH_INTERVAL`] is imported only once two looks saw it unchanged, so a
    /// file still being copied in is not read half-written. A missing directory is empty.
    pub async fn scan(&mut self) -> Vec<Imported> {
        let mut results = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return results,
            Err(e) => {
                warn!("reading image directory {}: {e}", self.dir.display());
                return results;
            }
        };
        let mut present = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if !is_image_archive(&path) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            present.push(path.clone());
            let stamp = Stamp {
                size: meta.len(),
                mtime: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            };
            let now = Instant::now();
            let ready = match self.files.get(&path) {
                Some(FileState::Imported(s)) if *s == stamp => false,
                Some(FileState::Failed {
                    stamp: s, retry_at, ..
                }) if *s == stamp => now >= *retry_at,
                Some(FileState::Settling(s)) if *s == stamp => true,
                _ => {
                    let age = SystemTime::now()
                        .duration_since(stamp.mtime)
                        .unwrap_or_default();
                    age >= WATCH_INTERVAL
                }
            };
            if !ready {
                let settled = matches!(
                    self.files.get(&path),
                    Some(FileState::Imported(s) | FileState::Failed { stamp: s, .. }) if *s == stamp
                );
                if !settled {
                    self.files.insert(path.clone(), FileState::Settling(stamp));
                }
                continue;
            }
            let started = Instant::now();
            let result = import(&self.socket, &path).await;
            match &result {
                Ok(names) => {
                    info!(
                        file = %path.display(),
                        "imported {} in {} ms",
                        names.join(", "),
                        started.elapsed().as_millis()
                    );
                    self.files.insert(path.clone(), FileState::Imported(stamp));
                }
                Err(e) => {
                    let backoff = match self.files.get(&path) {
                        Some(FileState::Failed {
                            stamp: s, backoff, ..
                        }) if *s == stamp => (*backoff * 2).min(MAX_RETRY),
                        _ => FIRST_RETRY,
                    };
                    warn!(
                        "importing {}: {e:#}; retrying in {backoff:?}",
                        path.display()
                    );
                    let retry_at = Instant::now() + backoff;
                    self.files.insert(
                        path.clone(),
                        FileState::Failed {
                            stamp,
                            retry_at,
                            backoff,
                        },
                    );
                }
            }
            results.push(Imported { path, result });
        }
        // Forget files that went away, so a file put back is imported again.
        self.files.retain(|p, _| present.contains(p));
        results
    }

    /// Scans every [`WATCH_INTERVAL`], forever.
    pub async fn run(mut self) {
        loop {
            self.scan().await;
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    }
}

/// Imports every image archive put into `dir`, now and while running (see [`DirWatcher`]).
/// Errors are logged; the task never ends.
pub async fn watch_dir(dir: PathBuf, socket: PathBuf) {
    DirWatcher::new(dir, socket).run().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ctr_output() {
        let out = "unpacking barge.local/pause:3.10 (sha256:aea4f8)...done\n\
                   unpacking docker.io/library/busybox:1.35 (sha256:1097)...done\n";
        assert_eq!(
            parse_import_output(out),
            ["barge.local/pause:3.10", "docker.io/library/busybox:1.35"]
        );
        assert!(parse_import_output("").is_empty());
        assert!(parse_import_output("unpacking \n").is_empty());
    }

    #[test]
    fn archive_names() {
        for yes in ["a.tar", "b.TAR", "c.tar.gz", "d.tgz"] {
            assert!(is_image_archive(Path::new(yes)), "{yes}");
        }
        for no in ["a.tar.zst", "notes.txt", ".partial.tar", "tar"] {
            assert!(!is_image_archive(Path::new(no)), "{no}");
        }
    }

    #[tokio::test]
    async fn watcher_waits_for_a_fresh_file_to_settle_and_remembers_failures() {
        let dir = tempfile::tempdir().unwrap();
        // No containerd on this socket: every import fails, which is what we look at.
        let socket = dir.path().join("none.sock");
        let mut w = DirWatcher::new(dir.path().to_path_buf(), socket);
        assert!(w.scan().await.is_empty(), "empty dir");
        std::fs::write(dir.path().join("x.tar"), b"not a tar").unwrap();
        std::fs::write(dir.path().join("ignored.txt"), b"").unwrap();
        // Just written: not yet.
        assert!(w.scan().await.is_empty());
        // Unchanged on the next look: imported (and fails: no containerd).
        let r = w.scan().await;
        assert_eq!(r.len(), 1);
        assert!(r[0].result.is_err());
        // A failure is not retried at once...
        assert!(w.scan().await.is_empty());
        // ...but a changed file is looked at again (once it settles).
        std::fs::write(dir.path().join("x.tar"), b"still not a tar").unwrap();
        assert!(w.scan().await.is_empty());
        assert_eq!(w.scan().await.len(), 1);
        // A missing directory is no error.
        let mut w = DirWatcher::new(dir.path().join("missing"), dir.path().join("s"));
        assert!(w.scan().await.is_empty());
    }
}
