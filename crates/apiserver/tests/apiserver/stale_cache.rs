//! Writes that start from the watch cache's copy of an object (patches, pod bindings) when
//! that copy is behind the store: the store's state wins, nothing written is lost, and a
//! patch that looks like a no-op against the stale copy is still written.

use std::sync::Arc;
use std::time::Duration;

use barge_store::{
    GetResponse, KeyValue, RangeRequest, RangeResponse, Result, Revision, Store, Watch,
    WatchRequest,
};
use bytes::Bytes;
use tokio::sync::watch;

use crate::Cluster;

/// A store whose watches stop delivering while `held` is true (the writes still happen), so
/// the API server's watch cache falls behind on purpose.
#[derive(Debug)]
struct Lagging {
    inner: Arc<dyn Store>,
    held: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl Store for Lagging {
    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }
    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<KeyValue> {
        self.inner.create(key, value, ttl).await
    }
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        ttl: Option<Duration>,
    ) -> Result<KeyValue> {
        self.inner.update(key, value, expected, ttl).await
    }
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        self.inner.delete(key, expected).await
    }
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResponse> {
        self.inner.get(key, revision).await
    }
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.inner.range(request).await
    }
    async fn watch(&self, request: WatchRequest) -> Result<Watch> {
        let mut inner = self.inner.watch(request).await?;
        let (tx, out) = Watch::channel();
        let mut held = self.held.subscribe();
        tokio::spawn(async move {
            while let Some(item) = inner.next().await {
                if held.wait_for(|h| !h).await.is_err() || tx.send(item).await.is_err() {
                    return;
                }
            }
        });
        Ok(out)
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await
    }
    async fn compacted_revision(&self) -> Result<Revision> {
        self.inner.compacted_revision().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_and_bindings_over_a_stale_cache_keep_the_stores_state() {
    let (held, _) = watch::channel(false);
    let store = Arc::new(Lagging {
        inner: Arc::new(barge_store::MemoryStore::new()),
        held: held.clone(),
    });
    let c = Cluster::start_with(store).await;
    let get = |what: &'static str, path: &'static str| {
        let c = &c;
        async move {
            let jsonpath = format!("jsonpath={path}");
            c.ok(&["get", what, "-o", &jsonpath]).await
        }
    };
    c.ok(&["create", "configmap", "cm", "--from-literal=x=1"])
        .await;
    c.ok(&["run", "p", "--image=busybox"]).await;
    // The first patches make the cache hold both objects, then it stops following the store.
    c.ok(&["patch", "configmap", "cm", "-p", r#"{"data":{"a":"1"}}"#])
        .await;
    c.ok(&["label", "pod", "p", "first=1"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    held.send_replace(true);

    // Each write below starts from a copy that misses the one before it.
    c.ok(&["patch", "configmap", "cm", "-p", r#"{"data":{"x":"2"}}"#])
        .await;
    c.ok(&["patch", "configmap", "cm", "-p", r#"{"data":{"y":"3"}}"#])
        .await;
    assert_eq!(
        get("configmap/cm", "{.data}").await,
        r#"{"a":"1","x":"2","y":"3"}"#
    );
    // Setting x back to 1 changes nothing in the stale copy, but does in the store.
    c.ok(&["patch", "configmap", "cm", "-p", r#"{"data":{"x":"1"}}"#])
        .await;
    assert_eq!(get("configmap/cm", "{.data.x}").await, "1");

    c.ok(&["label", "pod", "p", "second=2"]).await;
    let binding = c.file(
        "binding.json",
        r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},"target":{"kind":"Node","name":"n1"}}"#,
    );
    let bind = [
        "create",
        "--raw",
        "/api/v1/namespaces/default/pods/p/binding",
        "-f",
        binding.to_str().unwrap(),
    ];
    c.ok(&bind).await;
    assert_eq!(get("pod/p", "{.spec.nodeName}").await, "n1");
    assert_eq!(
        get("pod/p", "{.metadata.labels}").await,
        r#"{"first":"1","run":"p","second":"2"}"#
    );
    // Bound in the store, unbound in the stale copy: a second binding is refused.
    let err = c.fails(&bind).await;
    assert!(err.contains("is already assigned to node \"n1\""), "{err}");
    held.send_replace(false);
}
