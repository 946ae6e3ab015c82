use crate::{KeyValue, Revision};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a store call failed. The first group are outcomes the caller acts on (the API server turns
/// them into 409, 404, 410, 413); `Backend` is a failure of the machinery itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("key {:?} already exists (mod revision {})", current.key, current.mod_revision)]
    KeyExists { current: Box<KeyValue> },

    #[error(
        "key {:?} has mod revision {}, not the expected {expected}",
        current.key,
        current.mod_revision
    )]
    Conflict {
        expected: Revision,
        current: Box<KeyValue>,
    },

    #[error("key {key:?} not found")]
    NotFound { key: String },

    #[error("revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },

    #[error("revision {requested} is in the future (current revision {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },

    #[error("value for key {key:?} is {size} bytes, over the limit of {limit} bytes")]
    ValueTooLarge {
        key: String,
        size: usize,
        limit: usize,
    },

    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    #[error("store {backend} failed: {message}")]
    Backend {
        backend: &'static str,
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    pub(crate) fn backend(
        backend: &'static str,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Backend {
            backend,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    pub(crate) fn closed(backend: &'static str) -> Self {
        Error::Backend {
            backend,
            message: "the store is shut down".into(),
            source: None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::backend("sqlite", e.to_string(), e)
    }
}

impl From<etcd_client::Error> for Error {
    fn from(e: etcd_client::Error) -> Self {
        Error::backend("etcd", e.to_string(), e)
    }
}
