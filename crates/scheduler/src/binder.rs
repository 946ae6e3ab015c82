//! The Bind extension point: telling the API server which node a pod runs on, through the
//! `pods/binding` subresource (upstream's DefaultBinder). The scheduling loop calls it from
//! spawned tasks, a bounded number at a time, with the pod assumed on the node meanwhile.

use std::sync::Mutex;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use kube::api::{Api, ObjectMeta, PostParams};

/// Binds pods to nodes.
#[async_trait]
pub trait Bind: Send + Sync + 'static {
    /// Binds `namespace/name` (with `uid`, so that a newer pod of the same name is not bound
    /// by mistake) to `node`.
    async fn bind(&self, namespace: &str, name: &str, uid: &str, node: &str) -> Result<(), String>;
}

impl std::fmt::Debug for dyn Bind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bind")
    }
}

/// The Binding object upstream's DefaultBinder posts.
pub fn binding(namespace: &str, name: &str, uid: &str, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            namespace: Some(namespace.to_owned()),
            name: Some(name.to_owned()),
            uid: (!uid.is_empty()).then(|| uid.to_owned()),
            ..Default::default()
        },
        target: ObjectReference {
            kind: Some("Node".into()),
            name: Some(node.to_owned()),
            ..Default::default()
        },
    }
}

/// Binds through the API server.
#[derive(Clone)]
pub struct KubeBinder {
    client: kube::Client,
}

impl std::fmt::Debug for KubeBinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubeBinder")
    }
}

impl KubeBinder {
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Bind for KubeBinder {
    async fn bind(&self, namespace: &str, name: &str, uid: &str, node: &str) -> Result<(), String> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let body = binding(namespace, name, uid, node);
        api.create_subresource::<_, serde_json::Value>(
            "binding",
            name,
            &PostParams::default(),
            &body,
        )
        .await
        .map(drop)
        .map_err(|e| match e {
            kube::Error::Api(s) => s.message,
            e => e.to_string(),
        })
    }
}

/// Records bindings in memory (tests and the benchmark); fails for pods listed in `reject`.
#[derive(Debug, Default)]
pub struct RecordingBinder {
    pub bound: Mutex<Vec<(String, String)>>,
    pub reject: Mutex<Vec<String>>,
}

#[async_trait]
impl Bind for RecordingBinder {
    async fn bind(
        &self,
        namespace: &str,
        name: &str,
        _uid: &str,
        node: &str,
    ) -> Result<(), String> {
        let key = format!("{namespace}/{name}");
        if self
            .reject
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return Err(format!("pods \"{name}\" not found"));
        }
        self.bound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((key, node.to_owned()));
        Ok(())
    }
}
