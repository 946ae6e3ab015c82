//! OCI image-layout archives built in memory, with no registry and no external tool.
//!
//! [`Image::archive`] writes what `ctr images import` (containerd 1.6) accepts: a tar holding
//! `oci-layout`, `index.json` (one manifest, annotated with the image's full reference under
//! both `org.opencontainers.image.ref.name` and `io.containerd.image.name`, so the import
//! names it exactly that) and `blobs/sha256/<hex>` for the manifest, the config and each
//! layer. Layers are stored uncompressed (`application/vnd.oci.image.layer.v1.tar`), so a
//! layer's digest is also its `diff_id`; the images we build are small and local, and
//! containerd imports and unpacks uncompressed layers as they are.
//!
//! Everything is deterministic (ustar entries with uid/gid 0 and mtime 0, no timestamps in
//! the config), so the same image always has the same digests.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, bail};
use serde_json::json;

use super::tar::TarWriter;

pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// One entry of a layer.
#[derive(Clone, PartialEq, Eq)]
pub enum Entry {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    Symlink { target: String },
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Dir { mode } => write!(f, "Dir({mode:o})"),
            Entry::File { mode, data } => write!(f, "File({mode:o}, {} bytes)", data.len()),
            Entry::Symlink { target } => write!(f, "Symlink({target:?})"),
        }
    }
}

/// A layer: a set of paths (relative to the image root; a leading `/` is dropped). Adding a
/// path twice keeps the last entry. Missing parent directories are added (mode 0755) when
/// the layer is written, and entries are written in path order, parents first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layer {
    pub entries: BTreeMap<String, Entry>,
}

impl Layer {
    pub fn new() -> Layer {
        Layer::default()
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Layer {
        self.entries.insert(clean(path), Entry::Dir { mode });
        self
    }

    pub fn file(&mut self, path: &str, mode: u32, data: impl Into<Vec<u8>>) -> &mut Layer {
        let data = data.into();
        self.entries.insert(clean(path), Entry::File { mode, data });
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Layer {
        let target = target.to_string();
        self.entries.insert(clean(path), Entry::Symlink { target });
        self
    }

    /// The layer as an (uncompressed) tar.
    pub fn tar(&self) -> anyhow::Result<Vec<u8>> {
        let mut all: BTreeMap<&str, Option<&Entry>> = BTreeMap::new();
        for (path, entry) in &self.entries {
            if path.is_empty() {
                bail!("layer entry with an empty path");
            }
            all.insert(path, Some(entry));
            let mut parent = path.as_str();
            while let Some((p, _)) = parent.rsplit_once('/') {
                all.entry(p).or_insert(None);
                parent = p;
            }
        }
        let mut tar = TarWriter::new();
        for (path, entry) in all {
            match entry {
                None => tar.dir(path, 0o755)?,
                Some(Entry::Dir { mode }) => tar.dir(path, *mode)?,
                Some(Entry::File { mode, data }) => tar.file(path, *mode, data)?,
                Some(Entry::Symlink { target }) => tar.symlink(path, target)?,
            }
        }
        Ok(tar.finish())
    }
}

fn clean(path: &str) -> String {
    path.trim_matches('/').to_string()
}

/// The runtime settings of an image (the `config` object of the OCI image config).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `NAME=value` strings.
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
}

/// An image to write as an OCI archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The full reference the image is imported under, e.g. `barge.local/pause:3.10` or
    /// `docker.io/library/busybox:1.35`.
    pub reference: String,
    pub layers: Vec<Layer>,
    pub config: ImageConfig,
    /// The OCI architecture name (`amd64`, `arm64`, ...); [`Image::new`] takes the host's.
    pub architecture: String,
}

/// A content-addressed blob: `sha256:<hex>` and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub digest: String,
    pub size: u64,
}

/// What [`Image::build`] produced: the archive and the digests in it.
#[derive(Clone, PartialEq, Eq)]
pub struct Archive {
    pub bytes: Vec<u8>,
    pub manifest: Descriptor,
    /// The config digest: what CRI reports as the image id.
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

impl fmt::Debug for Archive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Archive")
            .field("bytes", &self.bytes.len())
            .field("manifest", &self.manifest)
            .field("config", &self.config)
            .field("layers", &self.layers)
            .finish()
    }
}

/// The OCI name of the host's architecture.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in d.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Checks that `reference` is fully qualified (`domain/path:tag`), so that an import names
/// the image exactly as given rather than inventing a name.
pub fn check_reference(reference: &str) -> anyhow::Result<()> {
    let Some((domain, rest)) = reference.split_once('/') else {
        bail!(
            "image reference {reference:?} must be fully qualified, like docker.io/library/{reference}"
        );
    };
    let is_domain = domain.contains('.') || domain.contains(':') || domain == "localhost";
    if !is_domain {
        bail!(
            "image reference {reference:?} must start with a registry domain, like docker.io/{reference}"
        );
    }
    let (path, tag) = match rest.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, tag),
        _ => bail!("image reference {reference:?} has no tag"),
    };
    let path_ok = !path.is_empty()
        && path.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !path_ok || !tag_ok {
        bail!("image reference {reference:?} is not a valid name:tag");
    }
    Ok(())
}

impl Image {
    /// An image with no layers yet, for the host's architecture.
    pub fn new(reference: &str) -> Image {
        Image {
            reference: reference.to_string(),
            layers: Vec::new(),
            config: ImageConfig::default(),
            architecture: host_architecture().to_string(),
        }
    }

    /// The OCI image-layout archive (a tar) as bytes.
    pub fn archive(&self) -> anyhow::Result<Vec<u8>> {
        Ok(self.build()?.bytes)
    }

    /// The archive and the digests in it.
    pub fn build(&self) -> anyhow::Result<Archive> {
        check_reference(&self.reference)?;
        let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut add = |data: Vec<u8>| {
            let d = Descriptor {
                digest: sha256_digest(&data),
                size: data.len() as u64,
            };
            blobs.insert(d.digest.clone(), data);
            d
        };

        let mut layers = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let tar = layer
                .tar()
                .with_context(|| format!("layer {i} of {}", self.reference))?;
            layers.push(add(tar));
        }
        // Uncompressed layers: the diff id is the layer digest.
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
        let c = &self.config;
        let mut runtime = serde_json::Map::new();
        if !c.entrypoint.is_empty() {
            runtime.insert("Entrypoint".into(), json!(c.entrypoint));
        }
        if !c.cmd.is_empty() {
            runtime.insert("Cmd".into(), json!(c.cmd));
        }
        if !c.env.is_empty() {
            runtime.insert("Env".into(), json!(c.env));
        }
        if !c.working_dir.is_empty() {
            runtime.insert("WorkingDir".into(), json!(c.working_dir));
        }
        if !c.user.is_empty() {
            runtime.insert("User".into(), json!(c.user));
        }
        let config = json!({
            "architecture": self.architecture,
            "os": "linux",
            "config": runtime,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": layers.iter().map(|_| json!({"created_by": "barge"})).collect::<Vec<_>>(),
        });
        let config = add(serde_json::to_vec(&config)?);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": {"mediaType": MEDIA_TYPE_CONFIG, "digest": config.digest, "size": config.size},
            "layers": layers.iter().map(|l| json!({
                "mediaType": MEDIA_TYPE_LAYER, "digest": l.digest, "size": l.size,
            })).collect::<Vec<_>>(),
        });
        let manifest = add(serde_json::to_vec(&manifest)?);
        let index = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [{
                "mediaType": MEDIA_TYPE_MANIFEST,
                "digest": manifest.digest,
                "size": manifest.size,
                "annotations": {
                    "org.opencontainers.image.ref.name": self.reference,
                    "io.containerd.image.name": self.reference,
                },
            }],
        });

        let mut tar = TarWriter::new();
        tar.file("oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        tar.file("index.json", 0o644, &serde_json::to_vec(&index)?)?;
        tar.dir("blobs", 0o755)?;
        tar.dir("blobs/sha256", 0o755)?;
        for (digest, data) in &blobs {
            let hex = digest.trim_start_matches("sha256:");
            tar.file(&format!("blobs/sha256/{hex}"), 0o644, data)?;
        }
        Ok(Archive {
            bytes: tar.finish(),
            manifest,
            config,
            layers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Image {
        let mut layer = Layer::new();
        layer
            .file("/bin/tool", 0o755, b"#!/bin/sh\n".to_vec())
            .symlink("bin/alias", "tool");
        let mut image = Image::new("barge.local/sample:1");
        image.layers.push(layer);
        image.config.cmd = vec!["/bin/tool".into()];
        image.config.env = vec!["PATH=/bin".into()];
        image
    }

    /// The (name, data) pairs of a tar written by [`TarWriter`].
    fn files(tar: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut at = 0;
        while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|&b| b != 0) {
            let h = &tar[at..at + 512];
            let end = h[..100].iter().position(|&c| c == 0).unwrap_or(100);
            let name = String::from_utf8(h[..end].to_vec()).unwrap();
            let size_text = String::from_utf8(h[124..135].to_vec()).unwrap();
            let size = usize::from_str_radix(&size_text, 8).unwrap();
            out.insert(name, tar[at + 512..at + 512 + size].to_vec());
            at += 512 + size.div_ceil(512) * 512;
        }
        out
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn layer_adds_parents_in_order() {
        let mut layer = Layer::new();
        layer
            .file("usr/local/bin/x", 0o755, b"x".to_vec())
            .dir("/tmp/", 0o1777);
        let names: Vec<_> = files(&layer.tar().unwrap()).into_keys().collect();
        assert_eq!(
            names,
            [
                "tmp/",
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "usr/local/bin/x"
            ]
        );
    }

    #[test]
    fn archive_is_a_consistent_oci_layout() {
        let image = sample();
        let built = image.build().unwrap();
        assert_eq!(built.bytes, image.archive().unwrap(), "deterministic");
        let all = files(&built.bytes);
        assert_eq!(all["oci-layout"], br#"{"imageLayoutVersion":"1.0.0"}"#);
        // Every blob is stored under its own digest.
        for (name, data) in &all {
            if let Some(hex) = name.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
                assert_eq!(sha256_digest(data), format!("sha256:{hex}"));
            }
        }
        let blob = |d: &str| &all[&format!("blobs/sha256/{}", d.trim_start_matches("sha256:"))];
        let index: serde_json::Value = serde_json::from_slice(&all["index.json"]).unwrap();
        let m = &index["manifests"][0];
        assert_eq!(
            m["annotations"]["org.opencontainers.image.ref.name"],
            "barge.local/sample:1"
        );
        assert_eq!(m["digest"], built.manifest.digest.as_str());
        let manifest: serde_json::Value =
            serde_json::from_slice(blob(&built.manifest.digest)).unwrap();
        assert_eq!(manifest["config"]["digest"], built.config.digest.as_str());
        assert_eq!(manifest["layers"][0]["mediaType"], MEDIA_TYPE_LAYER);
        let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
        assert_eq!(
            blob(layer_digest).len() as u64,
            manifest["layers"][0]["size"].as_u64().unwrap()
        );
        let config: serde_json::Value = serde_json::from_slice(blob(&built.config.digest)).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], layer_digest);
        assert_eq!(config["config"]["Cmd"][0], "/bin/tool");
        assert_eq!(config["config"]["Env"][0], "PATH=/bin");
        assert_eq!(config["os"], "linux");
        let layer = files(blob(layer_digest));
        assert_eq!(
            layer.keys().collect::<Vec<_>>(),
            ["bin/", "bin/alias", "bin/tool"]
        );
    }

    #[test]
    fn references_must_be_fully_qualified() {
        for good in [
            "barge.local/pause:3.10",
            "docker.io/library/busybox:1.35",
            "localhost:5000/a/b:v1",
        ] {
            check_reference(good).unwrap();
        }
        for bad in [
            "busybox",
            "busybox:1",
            "library/busybox:1",
            "docker.io/library/busybox",
            "docker.io/Upper:1",
            "localhost:5000/x",
        ] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
        let mut image = sample();
        image.reference = "sample".into();
        assert!(image.archive().is_err());
    }
}
