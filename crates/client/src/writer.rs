//! The writes controllers make, behind one small trait so that tests can record them.
//!
//! Controllers read from informers and write through a [`Writer`]: [`KubeWriter`] sends the
//! calls to the API server; [`Recording`] keeps them in a list a test asserts on, and answers
//! like the server would (a create returns the object with a name, a uid and a
//! resourceVersion).

use std::sync::Mutex;

use async_trait::async_trait;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions,
    PropagationPolicy,
};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// How a delete treats the object's dependents, and which object it must be.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delete {
    /// `None`: the kind's default.
    pub propagation: Option<PropagationPolicy>,
    /// Delete only the object with this uid (not a newer one of the same name).
    pub uid: Option<String>,
    pub grace_period_seconds: Option<u32>,
}

/// What a write is about: the resource, the namespace ("" for cluster-scoped) and the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The plural resource, e.g. `pods`, `replicasets`.
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

/// The API calls a controller makes.
#[async_trait]
pub trait Writer: Send + Sync + 'static {
    /// Creates `object` (JSON with apiVersion and kind) in `namespace`; returns it as stored.
    async fn create(
        &self,
        resource: &ApiResource,
        namespace: &str,
        object: Value,
    ) -> kube::Result<Value>;

    /// Applies a JSON merge patch, to the object or to its `subresource` (`status`, `scale`).
    async fn merge_patch(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        subresource: Option<&str>,
        patch: Value,
    ) -> kube::Result<Value>;

    /// Deletes the object.
    async fn delete(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        options: &Delete,
    ) -> kube::Result<()>;

    /// Deletes every object of the resource in `namespace` (deletecollection).
    async fn delete_collection(&self, resource: &ApiResource, namespace: &str) -> kube::Result<()>;
}

impl std::fmt::Debug for dyn Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

/// Typed conveniences over any [`Writer`].
#[async_trait]
pub trait WriterExt: Writer {
    async fn create_typed<K>(&self, namespace: &str, object: &K) -> kube::Result<K>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Sync,
    {
        let value = serde_json::to_value(object).map_err(kube::Error::SerdeError)?;
        let created = self.create(&resource::<K>(), namespace, value).await?;
        serde_json::from_value(created).map_err(kube::Error::SerdeError)
    }

    async fn patch_typed<K>(
        &self,
        namespace: &str,
        name: &str,
        subresource: Option<&str>,
        patch: Value,
    ) -> kube::Result<()>
    where
        K: Resource<DynamicType = ()>,
    {
        let resource = resource::<K>();
        self.merge_patch(&resource, namespace, name, subresource, patch)
            .await
            .map(drop)
    }

    async fn delete_typed<K>(
        &self,
        namespace: &str,
        name: &str,
        options: &Delete,
    ) -> kube::Result<()>
    where
        K: Resource<DynamicType = ()>,
    {
        self.delete(&resource::<K>(), namespace, name, options)
            .await
    }
}

impl<W: Writer + ?Sized> WriterExt for W {}

/// The [`ApiResource`] of a built-in type.
pub fn resource<K: Resource<DynamicType = ()>>() -> ApiResource {
    ApiResource::erase::<K>(&())
}

/// Whether an error is the server's 404 (the object is already gone).
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether an error is the server's 409 (AlreadyExists or a stale resourceVersion).
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Sends the writes to the API server.
#[derive(Clone)]
pub struct KubeWriter {
    client: Client,
    manager: String,
}

impl std::fmt::Debug for KubeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeWriter")
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl KubeWriter {
    /// `manager` is the field manager of every write (e.g. `deployment-controller`).
    pub fn new(client: Client, manager: impl Into<String>) -> Self {
        Self {
            client,
            manager: manager.into(),
        }
    }

    fn api(&self, resource: &ApiResource, namespace: &str) -> Api<DynamicObject> {
        if namespace.is_empty() {
            Api::all_with(self.client.clone(), resource)
        } else {
            Api::namespaced_with(self.client.clone(), namespace, resource)
        }
    }
}

#[async_trait]
impl Writer for KubeWriter {
    async fn create(
        &self,
        resource: &ApiResource,
        namespace: &str,
        object: Value,
    ) -> kube::Result<Value> {
        let object: DynamicObject =
            serde_json::from_value(object).map_err(kube::Error::SerdeError)?;
        let params = PostParams {
            field_manager: Some(self.manager.clone()),
            ..Default::default()
        };
        let created = self
            .api(resource, namespace)
            .create(&params, &object)
            .await?;
        serde_json::to_value(created).map_err(kube::Error::SerdeError)
    }

    async fn merge_patch(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        subresource: Option<&str>,
        patch: Value,
    ) -> kube::Result<Value> {
        let api = self.api(resource, namespace);
        let params = PatchParams {
            field_manager: Some(self.manager.clone()),
            ..Default::default()
        };
        let patch = Patch::Merge(&patch);
        let patched = match subresource {
            None => api.patch(name, &params, &patch).await?,
            Some(sub) => api.patch_subresource(sub, name, &params, &patch).await?,
        };
        serde_json::to_value(patched).map_err(kube::Error::SerdeError)
    }

    async fn delete(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        options: &Delete,
    ) -> kube::Result<()> {
        self.api(resource, namespace)
            .delete(name, &delete_params(options))
            .await
            .map(drop)
    }

    async fn delete_collection(&self, resource: &ApiResource, namespace: &str) -> kube::Result<()> {
        self.api(resource, namespace)
            .delete_collection(&DeleteParams::background(), &Default::default())
            .await
            .map(drop)
    }
}

/// The parameters of a delete.
fn delete_params(options: &Delete) -> DeleteParams {
    DeleteParams {
        propagation_policy: options.propagation.clone(),
        preconditions: options.uid.as_ref().map(|uid| Preconditions {
            uid: Some(uid.clone()),
            resource_version: None,
        }),
        grace_period_seconds: options.grace_period_seconds,
        ..Default::default()
    }
}

/// One recorded write.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Create {
        target: Target,
        object: Value,
    },
    Patch {
        target: Target,
        subresource: Option<String>,
        patch: Value,
    },
    Delete {
        target: Target,
        options: Delete,
    },
    /// A deletecollection; the target's name is empty.
    DeleteCollection {
        target: Target,
    },
}

impl Call {
    pub fn target(&self) -> &Target {
        match self {
            Call::Create { target, .. }
            | Call::Patch { target, .. }
            | Call::Delete { target, .. }
            | Call::DeleteCollection { target } => target,
        }
    }

    /// A one-line summary, e.g. `create pods default/web-x7k2p` or
    /// `patch replicasets/status default/web-1`, for compact assertions.
    pub fn summary(&self) -> String {
        let t = self.target();
        let at = if t.namespace.is_empty() {
            t.name.clone()
        } else {
            format!("{}/{}", t.namespace, t.name)
        };
        match self {
            Call::Create { .. } => format!("create {} {at}", t.plural),
            Call::Patch {
                subresource: Some(sub),
                ..
            } => format!("patch {}/{sub} {at}", t.plural),
            Call::Patch { .. } => format!("patch {} {at}", t.plural),
            Call::Delete { .. } => format!("delete {} {at}", t.plural),
            Call::DeleteCollection { .. } => {
                format!("deletecollection {} {}", t.plural, t.namespace)
            }
        }
    }
}

/// A [`Writer`] for tests: records every call and answers as the server would.
#[derive(Debug, Default)]
pub struct Recording {
    calls: Mutex<Vec<Call>>,
}

impl Recording {
    /// The calls so far, oldest first, and forgets them.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The summaries of [`Recording::take`].
    pub fn summaries(&self) -> Vec<String> {
        self.take().iter().map(Call::summary).collect()
    }

    fn record(&self, call: Call) -> usize {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.push(call);
        calls.len()
    }
}

#[async_trait]
impl Writer for Recording {
    async fn create(
        &self,
        resource: &ApiResource,
        namespace: &str,
        mut object: Value,
    ) -> kube::Result<Value> {
        let meta = &mut object["metadata"];
        if meta["name"].as_str().is_none_or(str::is_empty) {
            // Deterministic "generated" names keep assertions simple.
            let prefix = meta["generateName"].as_str().unwrap_or_default().to_owned();
            let n = self.calls.lock().unwrap_or_else(|e| e.into_inner()).len();
            meta["name"] = json!(format!("{prefix}{n:05}"));
        }
        if !namespace.is_empty() {
            meta["namespace"] = json!(namespace);
        }
        let name = meta["name"].as_str().unwrap_or_default().to_owned();
        meta["uid"] = json!(format!("uid-{name}"));
        let n = self.record(Call::Create {
            target: Target {
                plural: resource.plural.clone(),
                namespace: namespace.to_owned(),
                name,
            },
            object: object.clone(),
        });
        object["metadata"]["resourceVersion"] = json!(n.to_string());
        Ok(object)
    }

    async fn merge_patch(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        subresource: Option<&str>,
        patch: Value,
    ) -> kube::Result<Value> {
        self.record(Call::Patch {
            target: Target {
                plural: resource.plural.clone(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
            subresource: subresource.map(str::to_owned),
            patch: patch.clone(),
        });
        Ok(patch)
    }

    async fn delete(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        options: &Delete,
    ) -> kube::Result<()> {
        self.record(Call::Delete {
            target: Target {
                plural: resource.plural.clone(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
            options: options.clone(),
        });
        Ok(())
    }

    async fn delete_collection(&self, resource: &ApiResource, namespace: &str) -> kube::Result<()> {
        self.record(Call::DeleteCollection {
            target: Target {
                plural: resource.plural.clone(),
                namespace: namespace.to_owned(),
                name: String::new(),
            },
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::ObjectMeta;

    #[tokio::test]
    async fn recording_answers_like_the_server_and_summarises() {
        let w = Recording::default();
        let pod = Pod {
            metadata: ObjectMeta {
                generate_name: Some("web-".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let created = w.create_typed("default", &pod).await.unwrap();
        assert_eq!(created.metadata.name.as_deref(), Some("web-00000"));
        assert_eq!(created.metadata.uid.as_deref(), Some("uid-web-00000"));
        w.patch_typed::<Pod>("default", "web-00000", Some("status"), json!({}))
            .await
            .unwrap();
        w.delete_typed::<Pod>("default", "web-00000", &Delete::default())
            .await
            .unwrap();
        assert_eq!(
            w.summaries(),
            [
                "create pods default/web-00000",
                "patch pods/status default/web-00000",
                "delete pods default/web-00000"
            ]
        );
        assert!(w.take().is_empty());
    }
}
