//! hostPath volumes (upstream `pkg/volume/hostpath`, 1.32): nothing is mounted by the kubelet
//! (the runtime bind-mounts the path itself); set-up only refuses `..` in the path and checks
//! (or creates) the path according to `type`, with upstream's messages:
//!
//! - `""` (unset): no check.
//! - `DirectoryOrCreate`: a missing path is created with mode 0755 (and missing parents), then
//!   it must be a directory; `Directory`: it must be one.
//! - `FileOrCreate`: a missing file is created empty with mode 0644 (its parent must exist),
//!   then it must be a regular file; `File`: it must be one.
//! - `Socket`, `CharDevice`, `BlockDevice`: it must be one.
//!
//! The checks follow symlinks, as upstream's `os.Stat` does.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::io_message;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileType {
    Directory,
    File,
    Socket,
    CharDevice,
    BlockDevice,
}

/// Upstream `hostPathMounter.SetUp`.
pub(crate) fn set_up(path: &str, type_: Option<&str>) -> Result<(), String> {
    if path.split('/').any(|p| p == "..") {
        return Err(format!("invalid HostPath `{path}`: must not contain '..'"));
    }
    let type_ = type_.unwrap_or("");
    let p = Path::new(path);
    let failed = |what: &str| format!("hostPath type check failed: {path} is not a {what}");
    match type_ {
        "" => Ok(()),
        "DirectoryOrCreate" | "Directory" => {
            if type_ == "DirectoryOrCreate" && !exists(p) {
                return make_dir(p);
            }
            is(p, FileType::Directory).ok_or_else(|| failed("directory"))
        }
        "FileOrCreate" | "File" => {
            if type_ == "FileOrCreate" && !exists(p) {
                return make_file(p);
            }
            is(p, FileType::File).ok_or_else(|| failed("file"))
        }
        "Socket" => is(p, FileType::Socket).ok_or_else(|| failed("socket file")),
        "CharDevice" => is(p, FileType::CharDevice).ok_or_else(|| failed("character device")),
        "BlockDevice" => is(p, FileType::BlockDevice).ok_or_else(|| failed("block device")),
        other => Err(format!("{other} is an invalid volume type")),
    }
}

fn exists(p: &Path) -> bool {
    fs::metadata(p).is_ok()
}

/// `Some(())` when `p` (symlinks followed) is of type `want`.
fn is(p: &Path, want: FileType) -> Option<()> {
    let t = fs::metadata(p).ok()?.file_type();
    let got = if t.is_dir() {
        FileType::Directory
    } else if t.is_file() {
        FileType::File
    } else if t.is_socket() {
        FileType::Socket
    } else if t.is_char_device() {
        FileType::CharDevice
    } else if t.is_block_device() {
        FileType::BlockDevice
    } else {
        return None;
    };
    (got == want).then_some(())
}

fn make_dir(p: &Path) -> Result<(), String> {
    match fs::DirBuilder::new().recursive(true).mode(0o755).create(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_message("mkdir", p, &e)),
    }
}

fn make_file(p: &Path) -> Result<(), String> {
    match fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(p)
    {
        Ok(_) => Ok(()),
        // An existing directory: upstream's O_CREAT without O_WRONLY succeeds there and the
        // type check of a later sync reports it.
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => Ok(()),
        Err(e) => Err(io_message("open", p, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn unset_type_checks_nothing_but_backsteps() {
        assert!(set_up("/does/not/exist", None).is_ok());
        assert!(set_up("/does/not/exist", Some("")).is_ok());
        assert_eq!(
            set_up("/var/../etc", None).unwrap_err(),
            "invalid HostPath `/var/../etc`: must not contain '..'"
        );
    }

    #[test]
    fn directory_types() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/b");
        let s = dir.to_str().unwrap();
        assert_eq!(
            set_up(s, Some("Directory")).unwrap_err(),
            format!("hostPath type check failed: {s} is not a directory")
        );
        set_up(s, Some("DirectoryOrCreate")).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        // 0755 narrowed only by the umask, as upstream.
        assert_eq!(mode & !0o755, 0, "{mode:o}");
        set_up(s, Some("Directory")).unwrap();
        set_up(s, Some("DirectoryOrCreate")).unwrap();

        let file = t.path().join("f");
        fs::write(&file, "x").unwrap();
        let f = file.to_str().unwrap();
        assert_eq!(
            set_up(f, Some("DirectoryOrCreate")).unwrap_err(),
            format!("hostPath type check failed: {f} is not a directory")
        );
        // A symlink to a directory counts as a directory.
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        set_up(link.to_str().unwrap(), Some("Directory")).unwrap();
    }

    #[test]
    fn file_types() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("new");
        let f = file.to_str().unwrap();
        assert_eq!(
            set_up(f, Some("File")).unwrap_err(),
            format!("hostPath type check failed: {f} is not a file")
        );
        set_up(f, Some("FileOrCreate")).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"");
        fs::write(&file, "keep").unwrap();
        set_up(f, Some("FileOrCreate")).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"keep");
        set_up(f, Some("File")).unwrap();
        // FileOrCreate does not create the parent directory.
        let nested = t.path().join("no/such");
        assert!(
            set_up(nested.to_str().unwrap(), Some("FileOrCreate"))
                .unwrap_err()
                .contains("no such file or directory")
        );
        let d = t.path().to_str().unwrap();
        assert_eq!(
            set_up(d, Some("File")).unwrap_err(),
            format!("hostPath type check failed: {d} is not a file")
        );
    }

    #[test]
    fn special_files() {
        let t = tempfile::tempdir().unwrap();
        let sock = t.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let s = sock.to_str().unwrap();
        set_up(s, Some("Socket")).unwrap();
        assert_eq!(
            set_up(s, Some("File")).unwrap_err(),
            format!("hostPath type check failed: {s} is not a file")
        );
        set_up("/dev/null", Some("CharDevice")).unwrap();
        assert_eq!(
            set_up("/dev/null", Some("BlockDevice")).unwrap_err(),
            "hostPath type check failed: /dev/null is not a block device"
        );
        assert_eq!(
            set_up(t.path().to_str().unwrap(), Some("CharDevice")).unwrap_err(),
            format!(
                "hostPath type check failed: {} is not a character device",
                t.path().display()
            )
        );
        assert_eq!(
            set_up("/dev/null", Some("Socket")).unwrap_err(),
            "hostPath type check failed: /dev/null is not a socket file"
        );
        assert_eq!(
            set_up("/x", Some("Pipe")).unwrap_err(),
            "Pipe is an invalid volume type"
        );
    }
}
