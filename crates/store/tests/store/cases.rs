//! The conformance cases: each takes a fresh backend and checks one part of the contract.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use barge_store::{
    Error, EventKind, KeyValue, MAX_VALUE_SIZE, RangeRequest, Revision, Store, Watch, WatchItem,
    WatchRequest,
};
use bytes::Bytes;
use tokio::time::timeout;

use crate::Backend;

const WAIT: Duration = Duration::from_secs(20);

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn value_of(s: &dyn Store, key: &str) -> Option<Bytes> {
    s.get(key, None).await.unwrap().kv.map(|kv| kv.value)
}

async fn keys(s: &dyn Store, prefix: &str, revision: Option<Revision>) -> Vec<(String, Bytes)> {
    let request = RangeRequest {
        revision,
        ..RangeRequest::prefix(prefix)
    };
    let r = s.range(request).await.unwrap();
    r.kvs.into_iter().map(|kv| (kv.key, kv.value)).collect()
}

async fn next_item(w: &mut Watch) -> WatchItem {
    timeout(WAIT, w.next())
        .await
        .expect("watch item within the deadline")
        .expect("watch still open")
        .expect("watch item, not an error")
}

/// The next event, skipping progress notifications.
async fn next_event(w: &mut Watch) -> barge_store::Event {
    loop {
        if let WatchItem::Event(e) = next_item(w).await {
            return e;
        }
    }
}

pub async fn revisions_increase_and_track_create_and_mod(be: &Backend) {
    let s = be.store.as_ref();
    let r0 = s.current_revision().await.unwrap();
    let a = s.create("/t/a", b("1"), None).await.unwrap();
    assert!(a.mod_revision > r0);
    assert_eq!(a.create_revision, a.mod_revision);
    let a2 = s
        .update("/t/a", b("2"), a.mod_revision, None)
        .await
        .unwrap();
    assert!(a2.mod_revision > a.mod_revision);
    assert_eq!(a2.create_revision, a.create_revision);
    let bb = s.create("/t/b", b("x"), None).await.unwrap();
    assert!(bb.mod_revision > a2.mod_revision);
    let (deleted, at) = s.delete("/t/a", None).await.unwrap();
    assert_eq!(deleted, a2);
    assert!(at > bb.mod_revision);
    let a3 = s.create("/t/a", b("3"), None).await.unwrap();
    assert!(a3.mod_revision > at);
    assert_eq!(a3.create_revision, a3.mod_revision, "a new incarnation");
    assert_eq!(s.current_revision().await.unwrap(), a3.mod_revision);
    let got = s.get("/t/a", None).await.unwrap();
    assert_eq!(got.kv, Some(a3.clone()));
    assert_eq!(got.revision, a3.mod_revision);
}

pub async fn create_only_if_absent(be: &Backend) {
    let s = be.store.as_ref();
    let first = s.create("/c/k", b("first"), None).await.unwrap();
    let rev = s.current_revision().await.unwrap();
    match s.create("/c/k", b("second"), None).await {
        Err(Error::KeyExists { current }) => assert_eq!(*current, first),
        other => panic!("expected KeyExists, got {other:?}"),
    }
    assert_eq!(
        s.current_revision().await.unwrap(),
        rev,
        "a failed create is not a write"
    );
    assert_eq!(value_of(s, "/c/k").await, Some(b("first")));
}

pub async fn update_compares_mod_revision(be: &Backend) {
    let s = be.store.as_ref();
    let v1 = s.create("/u/k", b("1"), None).await.unwrap();
    let v2 = s
        .update("/u/k", b("2"), v1.mod_revision, None)
        .await
        .unwrap();
    let rev = s.current_revision().await.unwrap();
    match s.update("/u/k", b("stale"), v1.mod_revision, None).await {
        Err(Error::Conflict { expected, current }) => {
            assert_eq!(expected, v1.mod_revision);
            assert_eq!(
                current.mod_revision, v2.mod_revision,
                "says which revision it found"
            );
            assert_eq!(current.value, b("2"));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    match s.update("/u/absent", b("x"), 1, None).await {
        Err(Error::NotFound { key }) => assert_eq!(key, "/u/absent"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(
        s.current_revision().await.unwrap(),
        rev,
        "failed updates are not writes"
    );
    assert_eq!(value_of(s, "/u/k").await, Some(b("2")));
    assert_eq!(value_of(s, "/u/absent").await, None);
}

pub async fn delete_compares_mod_revision(be: &Backend) {
    let s = be.store.as_ref();
    let v1 = s.create("/d/k", b("1"), None).await.unwrap();
    let v2 = s
        .update("/d/k", b("2"), v1.mod_revision, None)
        .await
        .unwrap();
    let rev = s.current_revision().await.unwrap();
    match s.delete("/d/k", Some(v1.mod_revision)).await {
        Err(Error::Conflict { current, .. }) => assert_eq!(*current, v2),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(matches!(
        s.delete("/d/absent", None).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.delete("/d/absent", Some(3)).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        s.current_revision().await.unwrap(),
        rev,
        "failed deletes are not writes"
    );
    assert_eq!(value_of(s, "/d/k").await, Some(b("2")));
    let (deleted, at) = s.delete("/d/k", Some(v2.mod_revision)).await.unwrap();
    assert_eq!(deleted, v2);
    assert!(at > rev);
    assert_eq!(value_of(s, "/d/k").await, None);
}

pub async fn concurrent_writers_lose_no_update(be: &Backend) {
    const WRITERS: usize = 8;
    const INCREMENTS: usize = 25;
    be.store.create("/n/counter", b("0"), None).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let s = be.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..INCREMENTS {
                loop {
                    let kv = s.get("/n/counter", None).await.unwrap().kv.unwrap();
                    let n: usize = std::str::from_utf8(&kv.value).unwrap().parse().unwrap();
                    let next = Bytes::from((n + 1).to_string());
                    match s.update("/n/counter", next, kv.mod_revision, None).await {
                        Ok(_) => break,
                        Err(Error::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = (WRITERS * INCREMENTS).to_string();
    assert_eq!(
        value_of(be.store.as_ref(), "/n/counter").await,
        Some(b(&total))
    );
}

pub async fn reads_at_past_revisions(be: &Backend) {
    let s = be.store.as_ref();
    let a1 = s.create("/h/a", b("1"), None).await.unwrap();
    let a2 = s
        .update("/h/a", b("2"), a1.mod_revision, None)
        .await
        .unwrap();
    let b1 = s.create("/h/b", b("x"), None).await.unwrap();
    let (_, r4) = s.delete("/h/a", None).await.unwrap();

    let at = |r| async move { s.get("/h/a", Some(r)).await.unwrap() };
    assert_eq!(at(a1.mod_revision).await.kv, Some(a1.clone()));
    assert_eq!(at(a1.mod_revision).await.revision, a1.mod_revision);
    assert_eq!(at(a2.mod_revision).await.kv, Some(a2.clone()));
    assert_eq!(at(b1.mod_revision).await.kv, Some(a2.clone()));
    assert_eq!(at(r4).await.kv, None);
    assert_eq!(s.get("/h/a", None).await.unwrap().kv, None);

    assert_eq!(
        keys(s, "/h/", Some(a1.mod_revision)).await,
        vec![("/h/a".into(), b("1"))]
    );
    assert_eq!(
        keys(s, "/h/", Some(b1.mod_revision)).await,
        vec![("/h/a".into(), b("2")), ("/h/b".into(), b("x"))]
    );
    assert_eq!(
        keys(s, "/h/", Some(r4)).await,
        vec![("/h/b".into(), b("x"))]
    );

    let future = r4 + 1000;
    match s.get("/h/a", Some(future)).await {
        Err(Error::FutureRevision { requested, .. }) => assert_eq!(requested, future),
        other => panic!("expected FutureRevision, got {other:?}"),
    }
    let request = RangeRequest {
        revision: Some(future),
        ..RangeRequest::prefix("/h/")
    };
    assert!(matches!(
        s.range(request).await,
        Err(Error::FutureRevision { .. })
    ));
}

pub async fn range_by_prefix_with_limit_and_continuation(be: &Backend) {
    let s = be.store.as_ref();
    for i in 0..10 {
        s.create(&format!("/r/a/{i}"), b(&i.to_string()), None)
            .await
            .unwrap();
    }
    s.create("/r/ab", b("ab"), None).await.unwrap();
    s.create("/r/b/x", b("bx"), None).await.unwrap();
    s.create("/s", b("outside"), None).await.unwrap();

    let all = keys(s, "/r/a/", None).await;
    let expected: Vec<_> = (0..10)
        .map(|i| (format!("/r/a/{i}"), b(&i.to_string())))
        .collect();
    assert_eq!(all, expected, "only the prefix, in key order");
    assert_eq!(
        keys(s, "/r/a", None).await.len(),
        11,
        "a prefix is a plain string prefix"
    );
    assert_eq!(keys(s, "/r/", None).await.len(), 12);
    assert!(keys(s, "/r/zz", None).await.is_empty());

    let mut pages = Vec::new();
    let mut request = RangeRequest {
        limit: Some(3),
        ..RangeRequest::prefix("/r/a/")
    };
    loop {
        let page = s.range(request.clone()).await.unwrap();
        assert!(page.kvs.len() <= 3);
        pages.push(page.kvs.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>());
        if !page.more {
            break;
        }
        request.start_after = page.kvs.last().map(|kv| kv.key.clone());
        request.revision = Some(page.revision);
    }
    assert_eq!(pages.len(), 4, "10 keys in pages of 3: {pages:?}");
    let joined: Vec<String> = pages.concat();
    let expected: Vec<String> = expected.into_iter().map(|(k, _)| k).collect();
    assert_eq!(joined, expected);

    let exact = RangeRequest {
        limit: Some(10),
        ..RangeRequest::prefix("/r/a/")
    };
    assert!(
        !s.range(exact).await.unwrap().more,
        "no more keys when the limit is exactly met"
    );
}

pub async fn pagination_is_consistent_under_concurrent_writes(be: &Backend) {
    for i in 0..60 {
        be.store
            .create(&format!("/p/{i:02}"), b("v0"), None)
            .await
            .unwrap();
    }
    // The writer starts once the first page is read, so its writes land between the pages
    // (however the runtime schedules the two tasks).
    let (first_page_read, start_writing) = tokio::sync::oneshot::channel::<()>();
    let writer = {
        let s = be.store.clone();
        tokio::spawn(async move {
            let _ = start_writing.await;
            for round in 0..200u32 {
                let key = format!("/p/{:02}", (round * 7) % 70);
                let value = Bytes::from(format!("v{round}"));
                match s.get(&key, None).await.unwrap().kv {
                    Some(kv) if round % 3 == 0 => {
                        let _ = s.delete(&key, Some(kv.mod_revision)).await;
                    }
                    Some(kv) => {
                        let _ = s.update(&key, value, kv.mod_revision, None).await;
                    }
                    None => {
                        let _ = s.create(&key, value, None).await;
                    }
                }
            }
        })
    };
    let mut request = RangeRequest {
        limit: Some(7),
        ..RangeRequest::prefix("/p/")
    };
    let mut seen = Vec::new();
    let mut snapshot = None;
    let mut first_page_read = Some(first_page_read);
    loop {
        let page = be.store.range(request.clone()).await.unwrap();
        if let Some(signal) = first_page_read.take() {
            let _ = signal.send(());
        }
        let at = *snapshot.get_or_insert(page.revision);
        assert_eq!(
            page.revision, at,
            "every page is served at the first page's revision"
        );
        seen.extend(page.kvs.iter().cloned());
        if !page.more {
            break;
        }
        request.start_after = page.kvs.last().map(|kv| kv.key.clone());
        request.revision = Some(at);
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    let at = snapshot.unwrap();
    let whole = RangeRequest {
        revision: Some(at),
        ..RangeRequest::prefix("/p/")
    };
    assert_eq!(seen, be.store.range(whole).await.unwrap().kvs);
    assert!(
        be.store.current_revision().await.unwrap() > at,
        "writes happened meanwhile"
    );
}

pub async fn watch_is_ordered_unique_and_gap_free(be: &Backend) {
    const TASKS: usize = 4;
    const WRITES: usize = 50;
    let start = be.store.current_revision().await.unwrap();
    let mut watch = be
        .store
        .watch(WatchRequest {
            prefix: "/w/".into(),
            after: Some(start),
            progress_interval: None,
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let s = be.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::new();
            let key = format!("/w/{t}");
            for i in 0..WRITES {
                // Noise outside the prefix, which the watch must not see.
                s.create(&format!("/x/{t}/{i}"), b("noise"), None)
                    .await
                    .unwrap();
                let revision = match s.get(&key, None).await.unwrap().kv {
                    None => s.create(&key, b("new"), None).await.unwrap().mod_revision,
                    Some(kv) if i % 5 == 4 => {
                        s.delete(&key, Some(kv.mod_revision)).await.unwrap().1
                    }
                    Some(kv) => {
                        let value = Bytes::from(i.to_string());
                        s.update(&key, value, kv.mod_revision, None)
                            .await
                            .unwrap()
                            .mod_revision
                    }
                };
                revisions.push(revision);
            }
            revisions
        }));
    }
    let mut written = BTreeSet::new();
    for t in tasks {
        written.extend(t.await.unwrap());
    }
    let mut received = Vec::new();
    let mut last_by_key: BTreeMap<String, Revision> = BTreeMap::new();
    while received.len() < written.len() {
        let e = next_event(&mut watch).await;
        assert!(
            e.kv.key.starts_with("/w/"),
            "event outside the prefix: {e:?}"
        );
        if let Some(prev) = &e.prev_kv {
            assert_eq!(
                Some(&prev.mod_revision),
                last_by_key.get(&e.kv.key),
                "prev_kv is the previous version"
            );
        }
        match e.kind {
            EventKind::Put => last_by_key.insert(e.kv.key.clone(), e.revision()),
            EventKind::Delete => last_by_key.remove(&e.kv.key),
        };
        received.push(e.revision());
    }
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {received:?}"
    );
    let received: BTreeSet<_> = received.into_iter().collect();
    assert_eq!(received, written, "every write exactly once, nothing else");
    // Nothing more is pending.
    let extra = timeout(Duration::from_millis(300), watch.next()).await;
    assert!(
        !matches!(extra, Ok(Some(Ok(WatchItem::Event(_))))),
        "unexpected extra event: {extra:?}"
    );
}

pub async fn watch_resumes_from_any_revision(be: &Backend) {
    let s = be.store.as_ref();
    let mut revisions = Vec::new();
    let mut kv = s.create("/m/k", b("0"), None).await.unwrap();
    revisions.push(kv.mod_revision);
    for i in 1..10 {
        kv = s
            .update("/m/k", b(&i.to_string()), kv.mod_revision, None)
            .await
            .unwrap();
        revisions.push(kv.mod_revision);
    }
    for from in [0, 3, 8] {
        let mut watch = s
            .watch(WatchRequest {
                prefix: "/m/".into(),
                after: Some(revisions[from]),
                progress_interval: None,
            })
            .await
            .unwrap();
        for (i, expected) in revisions.iter().enumerate().skip(from + 1) {
            let e = next_event(&mut watch).await;
            assert_eq!(e.revision(), *expected);
            assert_eq!(e.kv.value, b(&i.to_string()));
        }
    }
    // "From now" sees only what comes next.
    let mut watch = s.watch(WatchRequest::prefix("/m/")).await.unwrap();
    let next = s
        .update("/m/k", b("later"), kv.mod_revision, None)
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.revision(), next.mod_revision);
}

pub async fn watch_delivers_previous_values(be: &Backend) {
    let s = be.store.as_ref();
    let mut watch = s.watch(WatchRequest::prefix("/v/")).await.unwrap();
    let v1 = s.create("/v/k", b("one"), None).await.unwrap();
    let v2 = s
        .update("/v/k", b("two"), v1.mod_revision, None)
        .await
        .unwrap();
    let (_, deleted_at) = s.delete("/v/k", None).await.unwrap();

    let created = next_event(&mut watch).await;
    assert_eq!(
        (created.kind, &created.kv, &created.prev_kv),
        (EventKind::Put, &v1, &None)
    );
    let updated = next_event(&mut watch).await;
    assert_eq!((updated.kind, &updated.kv), (EventKind::Put, &v2));
    assert_eq!(updated.prev_kv, Some(v1));
    let deleted = next_event(&mut watch).await;
    assert_eq!(deleted.kind, EventKind::Delete);
    assert_eq!(deleted.kv.key, "/v/k");
    assert_eq!(deleted.revision(), deleted_at);
    assert!(deleted.kv.value.is_empty());
    assert_eq!(deleted.prev_kv, Some(v2));
}

pub async fn compaction_drops_history_but_keeps_state(be: &Backend) {
    let s = be.store.as_ref();
    for i in 0..20 {
        let kv = s.create(&format!("/k/{i:02}"), b("a"), None).await.unwrap();
        if i % 2 == 0 {
            s.update(&kv.key, b("b"), kv.mod_revision, None)
                .await
                .unwrap();
        }
        if i % 5 == 0 {
            s.delete(&kv.key, None).await.unwrap();
        }
    }
    let before = keys(s, "/k/", None).await;
    assert_eq!(before.len(), 16);
    let compact_at = s.current_revision().await.unwrap();
    s.compact(compact_at).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), compact_at);
    assert_eq!(
        keys(s, "/k/", None).await,
        before,
        "compaction never drops live keys"
    );
    assert_eq!(
        keys(s, "/k/", Some(compact_at)).await,
        before,
        "the compacted revision stays readable"
    );

    match s.get("/k/01", Some(compact_at - 1)).await {
        Err(Error::Compacted { compacted, .. }) => assert_eq!(compacted, compact_at),
        other => panic!("expected Compacted, got {other:?}"),
    }
    let old = RangeRequest {
        revision: Some(compact_at - 1),
        ..RangeRequest::prefix("/k/")
    };
    assert!(matches!(s.range(old).await, Err(Error::Compacted { .. })));
    assert!(matches!(
        s.compact(compact_at - 1).await,
        Err(Error::Compacted { .. })
    ));

    // A watch must start after the compacted revision. (etcd also serves "after C - 1", from
    // the compacted revision itself; the contract promises neither way for that one.)
    let mut stale = s
        .watch(WatchRequest {
            prefix: "/k/".into(),
            after: Some(compact_at - 2),
            progress_interval: None,
        })
        .await
        .unwrap();
    match timeout(WAIT, stale.next()).await.unwrap() {
        Some(Err(Error::Compacted { compacted, .. })) => assert_eq!(compacted, compact_at),
        other => panic!("expected a Compacted error, got {other:?}"),
    }

    let mut watch = s
        .watch(WatchRequest {
            prefix: "/k/".into(),
            after: Some(compact_at),
            progress_interval: None,
        })
        .await
        .unwrap();
    // Write over the compacted versions, compact again, and check state and watch.
    let mut live = BTreeMap::new();
    for (key, _) in &before {
        let kv = s.get(key, None).await.unwrap().kv.unwrap();
        let kv = s.update(key, b("c"), kv.mod_revision, None).await.unwrap();
        assert_eq!(next_event(&mut watch).await.kv, kv);
        live.insert(kv.key.clone(), kv);
    }
    let (_, deleted_at) = s.delete("/k/01", None).await.unwrap();
    assert_eq!(next_event(&mut watch).await.revision(), deleted_at);
    live.remove("/k/01");
    let again = s.current_revision().await.unwrap();
    s.compact(again).await.unwrap();
    let after: Vec<KeyValue> = s.range(RangeRequest::prefix("/k/")).await.unwrap().kvs;
    assert_eq!(after, live.into_values().collect::<Vec<_>>());
    assert_eq!(s.compacted_revision().await.unwrap(), again);
}

pub async fn idle_watch_gets_progress_notifications(be: &Backend) {
    let s = be.store.as_ref();
    let mut watch = s
        .watch(WatchRequest {
            prefix: "/g/".into(),
            after: None,
            progress_interval: Some(Duration::from_millis(200)),
        })
        .await
        .unwrap();
    let kv = s.create("/g/k", b("v"), None).await.unwrap();
    // Writes elsewhere move the revision without an event for this watch.
    let other = s.create("/other", b("v"), None).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv, kv);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress notification"
        );
        match next_item(&mut watch).await {
            WatchItem::Progress(r) if r >= other.mod_revision => break,
            WatchItem::Progress(_) => {}
            WatchItem::Event(e) => panic!("unexpected event {e:?}"),
        }
    }
}

pub async fn eager_progress_reports_each_caught_up_revision(be: &Backend) {
    let s = be.store.as_ref();
    let mut watch = s
        .watch(WatchRequest {
            prefix: "/e/".into(),
            after: None,
            progress_interval: Some(Duration::ZERO),
        })
        .await
        .unwrap();
    for i in 0..3 {
        let other = s
            .create(&format!("/elsewhere/{i}"), b("v"), None)
            .await
            .unwrap();
        loop {
            match next_item(&mut watch).await {
                WatchItem::Progress(r) if r >= other.mod_revision => break,
                WatchItem::Progress(_) => {}
                WatchItem::Event(e) => panic!("unexpected event {e:?}"),
            }
        }
    }
    if let Some(local) = s.local_revision() {
        assert_eq!(local, s.current_revision().await.unwrap());
    }
}

pub async fn keys_with_ttl_expire_with_a_delete_event(be: &Backend) {
    let s = be.store.as_ref();
    let ttl = be.min_ttl;
    let mut watch = s.watch(WatchRequest::prefix("/ttl/")).await.unwrap();
    let short = s.create("/ttl/short", b("v"), Some(ttl)).await.unwrap();
    let kept = s.create("/ttl/kept", b("v"), Some(ttl)).await.unwrap();
    // Rewriting a key without a TTL makes it permanent.
    s.update("/ttl/kept", b("w"), kept.mod_revision, None)
        .await
        .unwrap();
    s.create("/ttl/plain", b("v"), None).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        let e = next_event(&mut watch).await;
        if e.kind == EventKind::Delete {
            assert_eq!(e.kv.key, "/ttl/short");
            assert_eq!(e.prev_kv, Some(short.clone()));
            break;
        }
    }
    assert!(
        started.elapsed() >= ttl / 2,
        "expired too early: {:?}",
        started.elapsed()
    );
    assert_eq!(value_of(s, "/ttl/short").await, None);
    tokio::time::sleep(ttl + Duration::from_millis(500)).await;
    assert_eq!(value_of(s, "/ttl/kept").await, Some(b("w")));
    assert_eq!(value_of(s, "/ttl/plain").await, Some(b("v")));
}

pub async fn oversized_values_are_rejected_and_change_nothing(be: &Backend) {
    let s = be.store.as_ref();
    let max = Bytes::from(vec![7u8; MAX_VALUE_SIZE]);
    let kv = s.create("/big/k", max.clone(), None).await.unwrap();
    assert_eq!(
        value_of(s, "/big/k").await.map(|v| v.len()),
        Some(MAX_VALUE_SIZE)
    );
    let rev = s.current_revision().await.unwrap();
    let over = Bytes::from(vec![7u8; MAX_VALUE_SIZE + 1]);
    match s.create("/big/other", over.clone(), None).await {
        Err(Error::ValueTooLarge { size, limit, .. }) => {
            assert_eq!((size, limit), (MAX_VALUE_SIZE + 1, MAX_VALUE_SIZE));
        }
        other => panic!("expected ValueTooLarge, got {other:?}"),
    }
    assert!(matches!(
        s.update("/big/k", over, kv.mod_revision, None).await,
        Err(Error::ValueTooLarge { .. })
    ));
    assert_eq!(s.current_revision().await.unwrap(), rev);
    assert_eq!(value_of(s, "/big/k").await, Some(max));
    assert_eq!(value_of(s, "/big/other").await, None);
}
