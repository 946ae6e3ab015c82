//! The ServiceAccounts controller (upstream `pkg/controller/serviceaccount`,
//! `serviceaccounts-controller`): every active Namespace has a ServiceAccount named `default`,
//! created when the namespace appears and recreated when it is deleted.
//!
//! One key per namespace (cluster-scoped key, name = the namespace). Namespaces being deleted
//! (phase `Terminating` or a deletion timestamp) are left alone, as upstream does.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use barge_client::writer::is_conflict;
use barge_client::{Key, WriterExt};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::ObjectMeta;

use crate::Context;
use crate::runner::{Queue, Reconciler, enqueue, own_key};

/// The service accounts every namespace gets.
pub const ENSURED: &[&str] = &["default"];

#[derive(Debug)]
pub struct ServiceAccountsController {
    ctx: Context,
}

/// Starts the controller's watches; the caller runs the returned reconciler on the queue.
pub fn start(ctx: &Context) -> (Arc<dyn Reconciler>, Queue) {
    let queue = Queue::new();
    enqueue(&ctx.informers.namespaces, &queue, own_key);
    enqueue(&ctx.informers.service_accounts, &queue, namespace_of);
    (
        Arc::new(ServiceAccountsController { ctx: ctx.clone() }),
        queue,
    )
}

/// The namespace key of an ensured service account.
fn namespace_of(sa: &ServiceAccount) -> Vec<Key> {
    let name = sa.metadata.name.as_deref().unwrap_or_default();
    if !ENSURED.contains(&name) {
        return Vec::new();
    }
    sa.metadata
        .namespace
        .iter()
        .map(|ns| Key::new("", ns.clone()))
        .collect()
}

fn is_active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}

#[async_trait]
impl Reconciler for ServiceAccountsController {
    fn name(&self) -> &'static str {
        "serviceaccount"
    }

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Option<Duration>> {
        let Some(ns) = self.ctx.informers.namespaces.cache().get("", &key.name) else {
            return Ok(None);
        };
        if !is_active(&ns) {
            return Ok(None);
        }
        for name in ENSURED {
            if self
                .ctx
                .informers
                .service_accounts
                .cache()
                .get(&key.name, name)
                .is_some()
            {
                continue;
            }
            let sa = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some((*name).to_owned()),
                    namespace: Some(key.name.clone()),
                    ..Default::default()
                },
                ..Default::default()
            };
            match self.ctx.writer.create_typed(&key.name, &sa).await {
                Ok(_) => {}
                Err(e) if is_conflict(&e) => {} // created meanwhile; the cache lags
                // The namespace began terminating after our read: nothing to do.
                Err(kube::Error::Api(s)) if s.code == 403 && s.reason == "Forbidden" => {}
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("creating serviceaccount {}/{name}", key.name)));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NamespaceStatus;

    fn namespace(name: &str, phase: &str) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            status: Some(NamespaceStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn account(ns: &str, name: &str) -> ServiceAccount {
        ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn default_service_account_is_created_when_missing_and_recreated_when_deleted() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers.namespaces.apply(namespace("team", "Active"));
        let (c, _) = start(&ctx);
        c.reconcile(&Key::new("", "team")).await.unwrap();
        assert_eq!(writer.summaries(), ["create serviceaccounts team/default"]);

        // Present: nothing to do.
        ctx.informers
            .service_accounts
            .apply(account("team", "default"));
        c.reconcile(&Key::new("", "team")).await.unwrap();
        assert!(writer.summaries().is_empty());

        // Deleted: its deletion queues the namespace, which gets it back.
        assert_eq!(
            namespace_of(&account("team", "default")),
            [Key::new("", "team")]
        );
        assert!(namespace_of(&account("team", "builder")).is_empty());
        ctx.informers
            .service_accounts
            .delete(&Key::new("team", "default"));
        c.reconcile(&Key::new("", "team")).await.unwrap();
        assert_eq!(writer.summaries(), ["create serviceaccounts team/default"]);
    }

    #[tokio::test]
    async fn terminating_and_missing_namespaces_are_left_alone() {
        let (ctx, writer) = Context::for_tests();
        ctx.informers
            .namespaces
            .apply(namespace("old", "Terminating"));
        let (c, _) = start(&ctx);
        c.reconcile(&Key::new("", "old")).await.unwrap();
        c.reconcile(&Key::new("", "gone")).await.unwrap();
        assert!(writer.summaries().is_empty());
    }
}
