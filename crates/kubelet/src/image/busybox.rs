//! A small general-purpose test image made from the host's static busybox (Debian's
//! `busybox-static` puts it at `/bin/busybox`): `/bin/busybox`, one symlink per applet in
//! `/bin` (what `busybox --install -s /bin` would make), `/etc/passwd` and `/etc/group`
//! with root and nobody, a world-writable `/tmp`, `cmd ["sh"]` and the usual `PATH`.
//! End-to-end tests and the docs use it in place of `docker.io/library/busybox`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use super::oci::{Image, Layer};

/// Where Debian's busybox-static installs busybox.
pub const BUSYBOX_PATH: &str = "/bin/busybox";

/// The OCI archive of a busybox image named `reference`, from the static busybox binary at
/// `busybox_path` (run once with `--list` to learn its applets).
pub fn busybox_image(reference: &str, busybox_path: &Path) -> anyhow::Result<Vec<u8>> {
    let binary = std::fs::read(busybox_path)
        .with_context(|| format!("reading {}", busybox_path.display()))?;
    check_static(&binary).with_context(|| {
        format!(
            "{} cannot run alone in an image (install Debian's busybox-static)",
            busybox_path.display()
        )
    })?;
    let out = Command::new(busybox_path)
        .arg("--list")
        .output()
        .with_context(|| format!("running {} --list", busybox_path.display()))?;
    if !out.status.success() {
        bail!(
            "{} --list failed: {}",
            busybox_path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = String::from_utf8_lossy(&out.stdout);
    let applets: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/') && *a != "." && *a != "..")
        .collect();
    if !applets.contains(&"sh") {
        bail!("{} has no sh applet", busybox_path.display());
    }

    let mut layer = Layer::new();
    layer
        .dir("bin", 0o755)
        .file("bin/busybox", 0o755, binary)
        .dir("etc", 0o755)
        .file(
            "etc/passwd",
            0o644,
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .file("etc/group", 0o644, "root:x:0:\nnobody:x:65534:\n")
        .dir("root", 0o700)
        .dir("tmp", 0o1777)
        .dir("var", 0o755)
        .dir("proc", 0o555)
        .dir("sys", 0o555)
        .dir("dev", 0o755);
    for applet in applets {
        layer.symlink(&format!("bin/{applet}"), "/bin/busybox");
    }
    let mut image = Image::new(reference);
    image.layers.push(layer);
    image.config.cmd = vec!["sh".to_string()];
    image.config.env =
        vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
    image.archive()
}

/// Fails unless `elf` is an ELF executable with no program interpreter (a static binary).
fn check_static(elf: &[u8]) -> anyhow::Result<()> {
    if elf.get(..4) != Some(b"\x7fELF") {
        bail!("not an ELF file");
    }
    // ELF64 little endian only (every architecture Barge runs on).
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        bail!("not a 64-bit little-endian ELF file");
    }
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        bail!("truncated ELF header");
    };
    for i in 0..usize::from(phnum) {
        let at = usize::try_from(phoff)? + i * usize::from(phentsize);
        let Some(kind) = elf.get(at..at + 4) else {
            bail!("truncated program headers")
        };
        if kind == 3u32.to_le_bytes() {
            bail!("it is dynamically linked (it has a program interpreter)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_check() {
        assert!(check_static(b"#!/bin/sh").is_err());
        assert!(check_static(b"\x7fELF\x02\x01").is_err(), "truncated");
        if let Ok(pause) = super::super::pause::pause_elf() {
            check_static(&pause).unwrap();
        }
        // A dynamic executable of the host, if this is a usual Linux system.
        if let Ok(ls) = std::fs::read("/bin/ls") {
            assert!(check_static(&ls).is_err());
        }
    }

    #[test]
    fn busybox_image_has_the_applets() {
        let path = Path::new(BUSYBOX_PATH);
        if check_static(&std::fs::read(path).unwrap_or_default()).is_err() {
            eprintln!("skipping: no static busybox at {BUSYBOX_PATH}");
            return;
        }
        let archive = busybox_image("barge.local/busybox:test", path).unwrap();
        assert_eq!(
            archive,
            busybox_image("barge.local/busybox:test", path).unwrap()
        );
        // The layer is stored uncompressed, so its names are in the archive's bytes.
        let text = String::from_utf8_lossy(&archive);
        for needle in [
            "bin/busybox",
            "bin/sh\0",
            "etc/passwd",
            "tmp/",
            "\"Cmd\":[\"sh\"]",
        ] {
            assert!(text.contains(needle), "{needle}");
        }
        assert!(busybox_image("busybox", path).is_err(), "short reference");
        assert!(busybox_image("barge.local/x:1", Path::new("/nonexistent/busybox")).is_err());
    }
}
