//! Kubernetes API machinery without I/O, the bottom of Barge's stack (the role kube-core plays
//! in kube-rs): the resource registry, `Status` errors, timestamps, and (as they land) label and
//! field selectors, strategic merge patch, protobuf request decoding and Table printing.
//!
//! Objects are `serde_json::Value`s throughout: the API server stores and serves what clients
//! send (built-in kinds and custom resources alike) and applies Kubernetes semantics on top.

pub mod apply;
pub mod convert;
pub mod go;
pub mod merge;
pub mod protobuf;
pub mod quantity;
pub mod rbac;
pub mod registry;
pub mod schemas;
pub mod selector;
pub mod status;
pub mod table;
pub mod time;

pub use registry::{Registry, Resource, Subresource};
pub use status::{ApiError, Cause, GroupResource};
