//! Images with no registry.
//!
//! - [`tar`]: a minimal deterministic tar writer.
//! - [`oci`]: OCI image-layout archives built in memory (layers, config, manifest, index).
//! - [`pause`]: Barge's own pause image, a hand-assembled static ELF ([`PAUSE_IMAGE`]).
//! - [`busybox`]: a test image from the host's static busybox.
//! - [`import`]: importing archives into containerd, listing CRI's images, and watching a
//!   directory for archives to import.

pub mod busybox;
pub mod import;
pub mod oci;
pub mod pause;
pub mod tar;

pub use busybox::{BUSYBOX_PATH, busybox_image};
pub use import::{DirWatcher, ImageSummary, import, import_bytes, list, watch_dir};
pub use oci::{Image, ImageConfig, Layer};
pub use pause::{PAUSE_IMAGE, pause_elf, pause_image};
