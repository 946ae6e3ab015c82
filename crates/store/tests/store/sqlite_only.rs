//! What only the SQLite backend promises: it compacts itself, and its state survives a reopen.

use std::time::Duration;

use barge_store::{CompactionPolicy, RangeRequest, SqliteOptions, SqliteStore, Store};
use bytes::Bytes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacts_by_itself_and_keeps_live_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SqliteOptions::new(dir.path().join("state.db"));
    options.compaction = Some(CompactionPolicy {
        interval: Duration::from_millis(50),
        retention: Duration::from_secs(3600),
        max_revisions: 10,
    });
    let store = SqliteStore::open(options).unwrap();
    for i in 0..20 {
        let kv = store
            .create(&format!("/a/{i:02}"), Bytes::from("1"), None)
            .await
            .unwrap();
        store
            .update(&kv.key, Bytes::from("2"), kv.mod_revision, None)
            .await
            .unwrap();
    }
    let current = store.current_revision().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.compacted_revision().await.unwrap() < current - 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no automatic compaction"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let live = store.range(RangeRequest::prefix("/a/")).await.unwrap().kvs;
    assert_eq!(live.len(), 20);
    assert!(live.iter().all(|kv| kv.value == "2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_revisions_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (kv, compacted) = {
        let store = SqliteStore::open(SqliteOptions::new(&path)).unwrap();
        let kv = store.create("/k", Bytes::from("v"), None).await.unwrap();
        let kv = store
            .update("/k", Bytes::from("w"), kv.mod_revision, None)
            .await
            .unwrap();
        store.delete("/gone", None).await.unwrap_err();
        store.create("/gone", Bytes::from("x"), None).await.unwrap();
        store.delete("/gone", None).await.unwrap();
        store.compact(kv.mod_revision).await.unwrap();
        let compacted = kv.mod_revision;
        (kv, compacted)
    };
    let store = SqliteStore::open(SqliteOptions::new(&path)).unwrap();
    assert_eq!(store.get("/k", None).await.unwrap().kv, Some(kv.clone()));
    assert_eq!(store.get("/gone", None).await.unwrap().kv, None);
    assert_eq!(store.compacted_revision().await.unwrap(), compacted);
    let current = store.current_revision().await.unwrap();
    assert_eq!(current, kv.mod_revision + 2);
    let next = store.create("/n", Bytes::new(), None).await.unwrap();
    assert_eq!(
        next.mod_revision,
        current + 1,
        "revisions continue where they were"
    );
}
