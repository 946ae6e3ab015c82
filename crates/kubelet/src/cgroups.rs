//! Pod cgroups on the host (cgroupfs, v1 hierarchies plus the v2 `unified` mount): runc makes
//! each container's cgroup under the pod's parent (`<root>/kubepods/<qos>/pod<uid>`, see
//! [`crate::spec::cgroup_parent`]) and removes only its own, so the kubelet removes the pod's
//! directories once the pod is gone, as upstream's pod container manager does.

use std::path::Path;

const CGROUP_FS: &str = "/sys/fs/cgroup";

/// Removes every empty cgroup directory of the pod `uid` under `root`, in every hierarchy and
/// whatever its QoS class was. Directories still holding processes stay (the kernel refuses).
pub fn remove_pod(root: &str, uid: &str) {
    remove_pod_in(Path::new(CGROUP_FS), root, uid);
}

fn remove_pod_in(fs: &Path, root: &str, uid: &str) {
    let Ok(hierarchies) = std::fs::read_dir(fs) else {
        return;
    };
    let root = root.trim_matches('/');
    for h in hierarchies.flatten() {
        for qos in ["", "burstable", "besteffort"] {
            let dir = h
                .path()
                .join(root)
                .join("kubepods")
                .join(qos)
                .join(format!("pod{uid}"));
            remove_tree(&dir);
        }
    }
}

/// Removes `dir` and the directories below it, deepest first, without following symlinks;
/// leaves what cannot be removed.
fn remove_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_pods_directories_in_every_hierarchy() {
        let fs = tempfile::tempdir().unwrap();
        let pod = |h: &str, qos: &str, uid: &str| {
            fs.path()
                .join(h)
                .join("barge/n1/kubepods")
                .join(qos)
                .join(format!("pod{uid}"))
        };
        std::fs::create_dir_all(pod("memory", "besteffort", "u1").join("ctr1")).unwrap();
        std::fs::create_dir_all(pod("cpu", "", "u1")).unwrap();
        std::fs::create_dir_all(pod("cpu", "burstable", "u2")).unwrap();
        remove_pod_in(fs.path(), "/barge/n1", "u1");
        assert!(!pod("memory", "besteffort", "u1").exists());
        assert!(!pod("cpu", "", "u1").exists());
        assert!(pod("cpu", "burstable", "u2").exists(), "other pods stay");
    }
}
