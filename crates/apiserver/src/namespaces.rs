//! Namespace deletion: once a Namespace is marked Terminating, everything in it is deleted and
//! then the Namespace itself. Upstream's namespace controller does this in the controller
//! manager; until Barge has one, the API server does it as a background task.

use std::collections::BTreeSet;
use std::sync::Arc;

use barge_store::RangeRequest;

use crate::ApiServer;

pub async fn finalize(state: Arc<ApiServer>, namespace: String) {
    let prefixes: BTreeSet<String> = state
        .registry
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .resources()
        .iter()
        .filter(|r| r.namespaced)
        .map(|r| r.list_prefix(Some(&namespace)))
        .collect();
    for prefix in prefixes {
        let Ok(page) = state
            .store
            .range(RangeRequest::prefix(prefix.clone()))
            .await
        else {
            tracing::warn!(%namespace, %prefix, "cannot list namespace content for deletion");
            return;
        };
        for kv in page.kvs {
            // Content is removed outright: there are no controllers or kubelets yet to run
            // finalizers or graceful termination for it.
            if let Err(e) = state.store.delete(&kv.key, Some(kv.mod_revision)).await {
                tracing::debug!(key = %kv.key, error = %e, "namespace content changed while deleting");
            }
        }
    }
    let key = format!("/registry/namespaces/{namespace}");
    if let Err(e) = state.store.delete(&key, None).await {
        tracing::warn!(%namespace, error = %e, "cannot remove the namespace");
    }
}
