//! The root CA publisher (upstream `pkg/controller/certificates/rootcacertpublisher`,
//! `root-ca-cert-publisher`): every active namespace gets the ConfigMap `kube-root-ca.crt`
//! holding the cluster CA (`ca.crt`), which the `kube-api-access-*` volumes project into pods
//! so that in-cluster clients can verify the API server.
//!
//! Differs from upstream: it watches namespaces only (no ConfigMap informer), so a ConfigMap
//! edited by hand is not put back until its namespace changes; a deleted one is recreated then.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use barge_client::writer::is_conflict;
use barge_client::{Key, WriterExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ObjectMeta;

use crate::Context;
use crate::runner::{Queue, Reconciler, enqueue, own_key};

/// The ConfigMap's name in every namespace.
pub const NAME: &str = "kube-root-ca.crt";

#[derive(Debug)]
pub struct RootCaPublisher {
    ctx: Context,
}

/// Starts the controller's watches; the caller runs the returned reconciler on the queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    enqueue(&ctx.informers.namespaces, &queue, own_key);
    (Arc::new(RootCaPublisher { ctx: ctx.clone() }), queue)
}

/// The ConfigMap for a namespace.
pub fn config_map(namespace: &str, ca: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(NAME.to_owned()),
            namespace: Some(namespace.to_owned()),
            annotations: Some(BTreeMap::from([(
                "kubernetes.io/description".to_owned(),
                "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.".to_owned(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("ca.crt".to_owned(), ca.to_owned())])),
        ..Default::default()
    }
}

#[async_trait]
impl Reconciler for RootCaPublisher {
    fn name(&self) -> &'static str {
        "root-ca-cert-publisher"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(ca) = self.ctx.settings.root_ca.as_deref() else {
            return Ok(None);
        };
        let Some(ns) = self.ctx.informers.namespaces.cache().get("", &key.name) else {
            return Ok(None);
        };
        if ns.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        match self
            .ctx
            .writer
            .create_typed(&key.name, &config_map(&key.name, ca))
            .await
        {
            Ok(_) => Ok(None),
            Err(e) if is_conflict(&e) => Ok(None),
            // The namespace began terminating after our read: nothing to do.
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            Err(e) => {
                Err(anyhow::Error::new(e)
                    .context(format!("creating configmap {}/{NAME}", key.name)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;
    use k8s_openapi::api::core::v1::Namespace;

    fn namespace(name: &str) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn publishes_the_ca_in_every_namespace_when_known() {
        let (mut ctx, writer) = Context::for_tests();
        ctx.informers.namespaces.apply(namespace("team-a"));
        let controller = RootCaPublisher { ctx: ctx.clone() };
        controller.reconcile(&Key::new("", "team-a")).await.unwrap();
        assert!(writer.summaries().is_empty(), "no CA configured: nothing");

        ctx.settings = Arc::new(Settings {
            root_ca: Some("PEM".into()),
            ..Settings::default()
        });
        let controller = RootCaPublisher { ctx };
        controller.reconcile(&Key::new("", "team-a")).await.unwrap();
        controller.reconcile(&Key::new("", "gone")).await.unwrap();
        let calls = writer.take();
        let summaries: Vec<String> = calls.iter().map(|c| c.summary()).collect();
        assert_eq!(summaries, ["create configmaps team-a/kube-root-ca.crt"]);
        let barge_client::writer::Call::Create { object, .. } = &calls[0] else {
            panic!("a create");
        };
        assert_eq!(object["data"]["ca.crt"], "PEM");
    }
}
