//! Host clean-up helpers shared by the kubelet's root-only integration tests: processes by
//! command line or cgroup, cgroup directories, and mount points, so each test removes what it
//! made even when it fails.

use std::path::{Path, PathBuf};

pub fn proc_pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

pub fn pids_with_cmdline_containing(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    proc_pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

/// Every v1 hierarchy (and the unified one) that has our cgroup directory.
fn cgroup_dirs(top: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    // Only real hierarchies: `cpu` and `cpuacct` are symlinks to `cpu,cpuacct`.
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().join(top))
        .filter(|p| p.is_dir())
        .collect();
    if Path::new("/sys/fs/cgroup").join(top).is_dir() {
        dirs.push(Path::new("/sys/fs/cgroup").join(top));
    }
    dirs
}

fn walk_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk_dirs(&e.path(), out);
            }
        }
    }
}

pub fn pids_in_cgroups(top: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for dir in cgroup_dirs(top) {
        let mut all = Vec::new();
        walk_dirs(&dir, &mut all);
        for d in all {
            if let Ok(text) = std::fs::read_to_string(d.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

pub fn remove_cgroups(top: &str) {
    for dir in cgroup_dirs(top) {
        let mut all = Vec::new();
        walk_dirs(&dir, &mut all);
        // Children first.
        for d in all.iter().rev() {
            if let Err(e) = std::fs::remove_dir(d) {
                eprintln!("cleanup: removing cgroup {}: {e}", d.display());
            }
        }
    }
}

/// Mount points under any of `dirs`, deepest first.
pub fn mounts_under(dirs: &[&Path]) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut mounts: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(m.replace("\\040", " ")))
        .filter(|m| dirs.iter().any(|d| m.starts_with(d)))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    mounts.dedup();
    mounts
}
