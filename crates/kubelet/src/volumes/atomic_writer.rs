//! Atomic projection of a set of files into a directory, as upstream's
//! `pkg/volume/util/atomic_writer.go` does it, so that a process reading a configMap, secret,
//! downwardAPI or projected volume sees either the old set of files or the new one, never a mix.
//!
//! The real files live in a hidden timestamped directory (`..2024_05_01_10_00_00.123456789`);
//! `..data` is a symlink to it, and every user-visible top-level name is a symlink through
//! `..data` (`key -> ..data/key`). An update writes a new timestamped directory, points a new
//! `..data_tmp` symlink at it and renames that over `..data` (rename is atomic), then removes
//! the user-visible names that went away and the old directory. Paths starting with `..` are
//! reserved. Nothing is written when every file already has the wanted content (upstream
//! compares contents only, not modes).
//!
//! Differences from upstream: a stale `..data_tmp` left by a crash is removed rather than
//! failing every later write; a `..data` link that does not name a `..`-prefixed entry of the
//! directory is refused (never followed out of the volume).

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::Path;

use super::io_message;
use super::payload::Payload;

pub(crate) const DATA_DIR: &str = "..data";
const NEW_DATA_DIR: &str = "..data_tmp";
const MAX_FILE_NAME_LENGTH: usize = 255;
const MAX_PATH_LENGTH: usize = 4096;

/// Writes `payload` into `target` (which must exist). `set_perms` runs on the new timestamped
/// directory's name after the files are written and before they are published. Returns whether
/// a new version was published.
pub(crate) fn write(
    target: &Path,
    payload: &Payload,
    set_perms: &mut dyn FnMut(&str) -> Result<(), String>,
) -> Result<bool, String> {
    // (1) Validate and clean the paths.
    let mut clean = Payload::new();
    for (path, file) in payload {
        validate_path(path)?;
        clean.insert(super::payload::clean_path(path), file.clone());
    }

    // (2) The current timestamped directory.
    let data_dir = target.join(DATA_DIR);
    let old_ts = match fs::read_link(&data_dir) {
        Ok(link) => {
            let name = link.to_string_lossy().into_owned();
            if name.contains('/') || !name.starts_with("..") || name == ".." {
                return Err(format!(
                    "unexpected target {} of {}",
                    link.display(),
                    data_dir.display()
                ));
            }
            Some(name)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_message("readlink", &data_dir, &e)),
    };

    let mut to_remove = BTreeSet::new();
    let mut should_write = true;
    let mut remove_old = old_ts.clone();
    if let Some(old) = &old_ts {
        let old_path = target.join(old);
        // (3) Paths of the old version that the new one does not have.
        to_remove = paths_to_remove(&clean, &old_path)?;
        // (4) Is there anything new to write?
        if !payload_differs(&clean, &old_path)? && to_remove.is_empty() {
            should_write = false;
            remove_old = None;
        }
    }

    if should_write {
        // (5) A new timestamped directory.
        let (ts_dir, ts_name) = new_timestamp_dir(target)?;
        // (6) The files.
        if let Err(e) = write_payload(&clean, &ts_dir) {
            let _ = fs::remove_dir_all(&ts_dir);
            return Err(e);
        }
        // (7) Ownership and permissions, before anyone can see the files.
        if let Err(e) = set_perms(&ts_name) {
            let _ = fs::remove_dir_all(&ts_dir);
            return Err(e);
        }
        // (8) `..data_tmp` -> new directory.
        let new_data_dir = target.join(NEW_DATA_DIR);
        match fs::remove_file(&new_data_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                let _ = fs::remove_dir_all(&ts_dir);
                return Err(io_message("remove", &new_data_dir, &e));
            }
        }
        if let Err(e) = symlink(&ts_name, &new_data_dir) {
            let _ = fs::remove_dir_all(&ts_dir);
            return Err(io_message("symlink", &new_data_dir, &e));
        }
        // (9) The atomic swap.
        if let Err(e) = fs::rename(&new_data_dir, &data_dir) {
            let _ = fs::remove_file(&new_data_dir);
            let _ = fs::remove_dir_all(&ts_dir);
            return Err(io_message("rename", &new_data_dir, &e));
        }
    }

    // (10) User-visible symlinks for new top-level names.
    create_user_visible(target, &clean)?;

    // (11) User-visible names that went away (only top-level ones are links).
    let mut last_error = None;
    for p in to_remove.iter().filter(|p| !p.contains('/')) {
        let path = target.join(p);
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            last_error = Some(io_message("remove", &path, &e));
        }
    }
    if let Some(e) = last_error {
        return Err(e);
    }

    // (12) The previous version.
    if let Some(old) = remove_old {
        let old_path = target.join(old);
        if let Err(e) = fs::remove_dir_all(&old_path)
            && e.kind() != io::ErrorKind::NotFound
        {
            return Err(io_message("remove", &old_path, &e));
        }
    }
    Ok(should_write)
}

/// Upstream `validatePath`, with its messages.
pub(crate) fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("invalid path: must not be empty: \"\"".to_string());
    }
    if path.starts_with('/') {
        return Err(format!("invalid path: must be relative path: {path}"));
    }
    if path.len() > MAX_PATH_LENGTH {
        return Err(format!(
            "invalid path: must be less than or equal to {MAX_PATH_LENGTH} characters"
        ));
    }
    let items: Vec<&str> = path.split('/').collect();
    for item in &items {
        if *item == ".." {
            return Err(format!("invalid path: must not contain '..': {path}"));
        }
        if item.len() > MAX_FILE_NAME_LENGTH {
            return Err(format!(
                "invalid path: filenames must be less than or equal to {MAX_FILE_NAME_LENGTH} characters"
            ));
        }
    }
    if items[0].starts_with("..") && items[0].len() > 2 {
        return Err(format!("invalid path: must not start with '..': {path}"));
    }
    if super::payload::clean_path(path) == "." {
        return Err(format!("invalid path: must not be empty: {path:?}"));
    }
    Ok(())
}

/// Every path (files and directories) of the old version that is neither a new file nor a
/// parent directory of one.
fn paths_to_remove(payload: &Payload, old: &Path) -> Result<BTreeSet<String>, String> {
    let mut found = BTreeSet::new();
    match walk(old, "", &mut found) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(io_message("walk", old, &e)),
    }
    let mut keep = BTreeSet::new();
    for file in payload.keys() {
        let mut p = file.as_str();
        loop {
            keep.insert(p.to_string());
            match p.rsplit_once('/') {
                Some((parent, _)) => p = parent,
                None => break,
            }
        }
    }
    Ok(found.difference(&keep).cloned().collect())
}

/// Collects the relative paths below `dir`, not following symlinks.
fn walk(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        out.insert(rel.clone());
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), &rel, out)?;
        }
    }
    Ok(())
}

/// Whether any file of the payload is missing from the old version or has other content.
fn payload_differs(payload: &Payload, old: &Path) -> Result<bool, String> {
    for (path, file) in payload {
        let on_disk = old.join(path);
        match fs::symlink_metadata(&on_disk) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            _ => {}
        }
        match fs::read(&on_disk) {
            Ok(content) if content == file.data => {}
            Ok(_) => return Ok(true),
            Err(e) => return Err(io_message("open", &on_disk, &e)),
        }
    }
    Ok(false)
}

/// Creates `..YYYY_MM_DD_HH_MM_SS.<random>` with mode 0755 whatever the umask.
fn new_timestamp_dir(target: &Path) -> Result<(std::path::PathBuf, String), String> {
    let now = k8s_openapi::jiff::Timestamp::now();
    let stamp = now.strftime("..%Y_%m_%d_%H_%M_%S.").to_string();
    let mut last = None;
    for _ in 0..100 {
        let name = format!("{stamp}{}", super::random_u32());
        let path = target.join(&name);
        match fs::DirBuilder::new().mode(0o755).create(&path) {
            Ok(()) => {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                    .map_err(|e| io_message("chmod", &path, &e))?;
                return Ok((path, name));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_message("mkdir", &path, &e)),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists));
    Err(io_message("mkdir", &target.join(stamp), &e))
}

fn write_payload(payload: &Payload, dir: &Path) -> Result<(), String> {
    for (path, file) in payload {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o777)
                .create(parent)
                .map_err(|e| io_message("mkdir", parent, &e))?;
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(file.mode)
            .open(&full)
            .map_err(|e| io_message("open", &full, &e))?;
        f.write_all(&file.data)
            .map_err(|e| io_message("write", &full, &e))?;
        // The umask narrowed the mode given to open(2).
        fs::set_permissions(&full, fs::Permissions::from_mode(file.mode))
            .map_err(|e| io_message("chmod", &full, &e))?;
        if let Some(uid) = file.fs_user {
            std::os::unix::fs::chown(&full, Some(uid), None)
                .map_err(|e| io_message("chown", &full, &e))?;
        }
    }
    Ok(())
}

/// `name -> ..data/name` for every top-level name of the payload that has no link yet.
fn create_user_visible(target: &Path, payload: &Payload) -> Result<(), String> {
    let tops: BTreeSet<&str> = payload
        .keys()
        .map(|p| p.split('/').next().unwrap_or(p))
        .collect();
    for top in tops {
        let visible = target.join(top);
        match fs::read_link(&visible) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                symlink(Path::new(DATA_DIR).join(top), &visible)
                    .map_err(|e| io_message("symlink", &visible, &e))?;
            }
            // A link already there, or something that is not a link (left alone as upstream does).
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::payload::FileProjection;
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn file(data: &str, mode: u32) -> FileProjection {
        FileProjection {
            data: data.as_bytes().to_vec(),
            mode,
            fs_user: None,
        }
    }

    fn payload(files: &[(&str, &str)]) -> Payload {
        files
            .iter()
            .map(|(p, d)| (p.to_string(), file(d, 0o644)))
            .collect()
    }

    fn no_perms() -> impl FnMut(&str) -> Result<(), String> {
        |_| Ok(())
    }

    fn ts_dirs(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("..") && n != DATA_DIR)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn layout_is_symlinks_through_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = payload(&[("a", "1"), ("sub/b", "2"), ("sub/deep/c", "3")]);
        assert!(write(dir.path(), &p, &mut no_perms()).unwrap());

        let ts = fs::read_link(dir.path().join(DATA_DIR)).unwrap();
        let ts = ts.to_str().unwrap().to_string();
        assert!(ts.starts_with("..") && ts.len() > 22, "{ts}");
        assert_eq!(ts_dirs(dir.path()), [ts.as_str()]);
        assert_eq!(
            fs::metadata(dir.path().join(&ts)).unwrap().mode() & 0o7777,
            0o755
        );
        assert_eq!(
            fs::read_link(dir.path().join("a")).unwrap(),
            Path::new("..data/a")
        );
        assert_eq!(
            fs::read_link(dir.path().join("sub")).unwrap(),
            Path::new("..data/sub")
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("sub/deep/c")).unwrap(),
            "3"
        );
        assert_eq!(
            fs::metadata(dir.path().join("a")).unwrap().mode() & 0o7777,
            0o644
        );
    }

    #[test]
    fn modes_are_exact_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Payload::new();
        p.insert("x".into(), file("x", 0o777));
        p.insert("y".into(), file("y", 0o400));
        write(dir.path(), &p, &mut no_perms()).unwrap();
        assert_eq!(
            fs::metadata(dir.path().join("x")).unwrap().mode() & 0o7777,
            0o777
        );
        assert_eq!(
            fs::metadata(dir.path().join("y")).unwrap().mode() & 0o7777,
            0o400
        );
    }

    #[test]
    fn unchanged_payload_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = payload(&[("a", "1")]);
        assert!(write(dir.path(), &p, &mut no_perms()).unwrap());
        let before = fs::read_link(dir.path().join(DATA_DIR)).unwrap();
        let mut called = false;
        let mut perms = |_: &str| {
            called = true;
            Ok(())
        };
        assert!(!write(dir.path(), &p, &mut perms).unwrap());
        assert!(!called);
        assert_eq!(fs::read_link(dir.path().join(DATA_DIR)).unwrap(), before);
        // A user-visible link removed by hand comes back (upstream issue 121472).
        fs::remove_file(dir.path().join("a")).unwrap();
        assert!(!write(dir.path(), &p, &mut no_perms()).unwrap());
        assert_eq!(fs::read_to_string(dir.path().join("a")).unwrap(), "1");
    }

    #[test]
    fn update_swaps_atomically_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        write(
            &d,
            &payload(&[("keep", "old"), ("gone", "bye"), ("sub/x", "1")]),
            &mut no_perms(),
        )
        .unwrap();
        let old_ts = fs::read_link(d.join(DATA_DIR)).unwrap();
        // A reader holding the old file open keeps reading the old content.
        let held = fs::File::open(d.join("keep")).unwrap();

        let new = payload(&[("keep", "new"), ("added", "hi")]);
        let mut checked = false;
        let d2 = d.clone();
        let mut perms = |ts: &str| {
            // New files are written but not yet visible: readers still see the old version.
            assert_eq!(fs::read_to_string(d2.join(ts).join("keep")).unwrap(), "new");
            assert_eq!(fs::read_to_string(d2.join("keep")).unwrap(), "old");
            assert_eq!(fs::read_to_string(d2.join("gone")).unwrap(), "bye");
            assert!(!d2.join("added").exists());
            checked = true;
            Ok(())
        };
        assert!(write(&d, &new, &mut perms).unwrap());
        assert!(checked);

        assert_eq!(fs::read_to_string(d.join("keep")).unwrap(), "new");
        assert_eq!(fs::read_to_string(d.join("added")).unwrap(), "hi");
        assert!(fs::symlink_metadata(d.join("gone")).is_err());
        assert!(fs::symlink_metadata(d.join("sub")).is_err());
        assert!(!d.join(&old_ts).exists());
        assert_eq!(ts_dirs(&d).len(), 1);
        let mut s = String::new();
        io::Read::read_to_string(&mut &held, &mut s).unwrap();
        assert_eq!(s, "old");
    }

    #[test]
    fn failed_set_perms_publishes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &payload(&[("a", "1")]), &mut no_perms()).unwrap();
        let mut fail = |_: &str| Err("chown refused".to_string());
        assert_eq!(
            write(dir.path(), &payload(&[("a", "2")]), &mut fail).unwrap_err(),
            "chown refused"
        );
        assert_eq!(fs::read_to_string(dir.path().join("a")).unwrap(), "1");
        assert_eq!(ts_dirs(dir.path()).len(), 1);
    }

    #[test]
    fn stale_data_tmp_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        symlink("..nowhere", dir.path().join(NEW_DATA_DIR)).unwrap();
        write(dir.path(), &payload(&[("a", "1")]), &mut no_perms()).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("a")).unwrap(), "1");
    }

    #[test]
    fn data_link_pointing_elsewhere_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("precious"), "x").unwrap();
        symlink(outside.path(), dir.path().join(DATA_DIR)).unwrap();
        assert!(write(dir.path(), &payload(&[("a", "1")]), &mut no_perms()).is_err());
        assert!(outside.path().join("precious").exists());
    }

    #[test]
    fn invalid_paths_are_refused_with_upstream_messages() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(256);
        for (path, msg) in [
            ("", "invalid path: must not be empty: \"\""),
            ("/abs", "invalid path: must be relative path: /abs"),
            ("a/../b", "invalid path: must not contain '..': a/../b"),
            ("..", "invalid path: must not contain '..': .."),
            ("..data", "invalid path: must not start with '..': ..data"),
            (
                long.as_str(),
                "invalid path: filenames must be less than or equal to 255 characters",
            ),
        ] {
            let err = write(dir.path(), &payload(&[(path, "x")]), &mut no_perms()).unwrap_err();
            assert_eq!(err, msg);
        }
        assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
    }

    #[test]
    fn empty_payload_writes_an_empty_version() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &payload(&[("a", "1")]), &mut no_perms()).unwrap();
        assert!(write(dir.path(), &Payload::new(), &mut no_perms()).unwrap());
        assert!(fs::symlink_metadata(dir.path().join("a")).is_err());
        assert!(dir.path().join(DATA_DIR).exists());
    }
}
