//! The store's integration tests: one conformance suite run against every backend (memory,
//! SQLite, and a real etcd started for each test), and the SQLite crash test.

mod cases;
mod crash;
mod sqlite_only;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use barge_store::{EtcdOptions, EtcdStore, MemoryStore, SqliteOptions, SqliteStore, Store};

/// A store under test and whatever must live as long as it (a temp dir, an etcd process).
#[allow(missing_debug_implementations)]
pub struct Backend {
    pub store: Arc<dyn Store>,
    /// The shortest TTL the backend honours (etcd's minimum lease TTL is about 2 s).
    pub min_ttl: Duration,
    _guard: Box<dyn Any + Send>,
}

pub async fn memory() -> Backend {
    Backend {
        store: Arc::new(MemoryStore::new()),
        min_ttl: Duration::from_millis(500),
        _guard: Box::new(()),
    }
}

pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = SqliteOptions::new(dir.path().join("state.db"));
    options.expiry_interval = Duration::from_millis(100);
    Backend {
        store: Arc::new(SqliteStore::open(options).expect("open sqlite store")),
        min_ttl: Duration::from_millis(500),
        _guard: Box::new(dir),
    }
}

pub async fn etcd() -> Backend {
    let etcd = tokio::task::spawn_blocking(barge_testkit::Etcd::start)
        .await
        .expect("etcd start task")
        .expect("start a real etcd (Debian package etcd-server)");
    let mut options = EtcdOptions::new(vec![etcd.endpoint().to_owned()]);
    options.prefix = "/barge-test".into();
    let store = EtcdStore::connect(options).await.expect("connect to etcd");
    Backend {
        store: Arc::new(store),
        min_ttl: Duration::from_secs(2),
        _guard: Box::new(etcd),
    }
}

/// Instantiates every conformance case for one backend.
macro_rules! suite {
    ($backend:ident: $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::$backend().await;
                    super::cases::$case(&backend).await;
                }
            )*
        }
    };
}

/// The list of conformance cases, instantiated for each backend.
macro_rules! conformance {
    ($($backend:ident),*) => {
        $(
            suite!($backend:
                revisions_increase_and_track_create_and_mod,
                create_only_if_absent,
                update_compares_mod_revision,
                delete_compares_mod_revision,
                concurrent_writers_lose_no_update,
                reads_at_past_revisions,
                range_by_prefix_with_limit_and_continuation,
                pagination_is_consistent_under_concurrent_writes,
                watch_is_ordered_unique_and_gap_free,
                watch_resumes_from_any_revision,
                watch_delivers_previous_values,
                compaction_drops_history_but_keeps_state,
                idle_watch_gets_progress_notifications,
                eager_progress_reports_each_caught_up_revision,
                keys_with_ttl_expire_with_a_delete_event,
                oversized_values_are_rejected_and_change_nothing,
            );
        )*
    };
}

conformance!(memory, sqlite, etcd);
