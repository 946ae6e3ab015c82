//! Admission: the chain every create and update goes through after decoding and before the store,
//! as upstream's admission plugins. Mutating plugins run first, in order, then validating ones;
//! the first refusal ends the request and nothing is written.
//!
//! The chain today: NamespaceLifecycle, DefaultFields (upstream's defaulting),
//! DefaultTolerationSeconds, ServiceAccount (the default account and its token volume),
//! ServiceIPs (ClusterIP and NodePort allocation), then BuiltinValidation and
//! CustomResourceSchema. Later parts add theirs (Priority, quota, RBAC, ...).

mod builtin;
mod serviceaccount;
mod tolerations;

use barge_api::{ApiError, GroupResource, Resource};
use serde_json::Value;

use crate::ApiServer;
use crate::handlers::read;

pub use builtin::{default, validate};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

/// What a plugin knows about the request.
#[derive(Debug)]
pub struct Attributes<'a> {
    pub resource: &'a Resource,
    pub operation: Operation,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub subresource: Option<&'a str>,
    /// The stored object, for an update.
    pub old: Option<&'a Value>,
}

/// One admission plugin. Both phases default to "no opinion".
#[async_trait::async_trait]
pub trait Plugin: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;

    /// The mutating phase: may change the object.
    async fn admit(
        &self,
        _state: &ApiServer,
        _attrs: &Attributes<'_>,
        _obj: &mut Value,
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// The validating phase: may only refuse.
    async fn validate(
        &self,
        _state: &ApiServer,
        _attrs: &Attributes<'_>,
        _obj: &Value,
    ) -> Result<(), ApiError> {
        Ok(())
    }
}

/// The ordered plugins.
#[derive(Debug)]
pub struct Chain {
    plugins: Vec<Box<dyn Plugin>>,
}

impl Default for Chain {
    fn default() -> Self {
        Self {
            plugins: vec![
                Box::new(NamespaceLifecycle),
                Box::new(DefaultFields),
                Box::new(DefaultTolerationSeconds),
                Box::new(ServiceAccount),
                Box::new(ServiceIps),
                Box::new(BuiltinValidation),
                Box::new(CustomResourceSchema),
            ],
        }
    }
}

impl Chain {
    pub fn names(&self) -> Vec<&'static str> {
        self.plugins.iter().map(|p| p.name()).collect()
    }

    /// Runs every plugin's mutating phase, then every validating phase.
    pub async fn run(
        &self,
        state: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        for p in &self.plugins {
            p.admit(state, attrs, obj).await?;
        }
        for p in &self.plugins {
            p.validate(state, attrs, obj).await?;
        }
        Ok(())
    }
}

/// Adds the time-limited not-ready / unreachable tolerations to new pods.
#[derive(Debug)]
struct DefaultTolerationSeconds;

#[async_trait::async_trait]
impl Plugin for DefaultTolerationSeconds {
    fn name(&self) -> &'static str {
        "DefaultTolerationSeconds"
    }

    async fn admit(
        &self,
        state: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        let resource = attrs.resource;
        if attrs.operation == Operation::Create
            && attrs.subresource.is_none()
            && !resource.custom
            && resource.group.is_empty()
            && resource.kind == "Pod"
        {
            tolerations::add_defaults(obj, state.config.default_toleration_seconds);
        }
        Ok(())
    }
}

/// Gives new pods their ServiceAccount and, unless turned off, its token volume.
#[derive(Debug)]
struct ServiceAccount;

#[async_trait::async_trait]
impl Plugin for ServiceAccount {
    fn name(&self) -> &'static str {
        "ServiceAccount"
    }

    async fn admit(
        &self,
        state: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        let resource = attrs.resource;
        let is_pod = !resource.custom && resource.group.is_empty() && resource.kind == "Pod";
        if attrs.operation != Operation::Create || attrs.subresource.is_some() || !is_pod {
            return Ok(());
        }
        // Mirror pods (static pods of a kubelet) get no ServiceAccount, as upstream.
        if obj["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string() {
            return Ok(());
        }
        let account = serviceaccount::default_account(obj);
        let ns = attrs.namespace.unwrap_or("default");
        let key = format!("/registry/serviceaccounts/{ns}/{account}");
        let automount = state
            .cache
            .get(&state.store, "/registry/serviceaccounts/", &key)
            .await
            .ok()
            .and_then(|(kv, _)| kv)
            .and_then(|kv| crate::handlers::from_kv(&kv).ok())
            .and_then(|sa| sa["automountServiceAccountToken"].as_bool());
        if serviceaccount::wants_token(obj, automount) {
            serviceaccount::mount_token(obj, &crate::objects::name_suffix());
        }
        Ok(())
    }
}

/// Refuses new objects in a namespace that does not exist or is being deleted.
#[derive(Debug)]
struct NamespaceLifecycle;

#[async_trait::async_trait]
impl Plugin for NamespaceLifecycle {
    fn name(&self) -> &'static str {
        "NamespaceLifecycle"
    }

    async fn admit(
        &self,
        state: &ApiServer,
        attrs: &Attributes<'_>,
        _obj: &mut Value,
    ) -> Result<(), ApiError> {
        let Some(ns) = attrs.namespace.filter(|_| attrs.resource.namespaced) else {
            return Ok(());
        };
        if attrs.operation != Operation::Create {
            return Ok(());
        }
        // Like upstream's plugin, this reads the namespace from the cache (an informer there),
        // and only asks the store when the cache does not have it yet.
        let namespaces = GroupResource::new("", "namespaces");
        let key = format!("/registry/namespaces/{ns}");
        let cached = state
            .cache
            .get(&state.store, "/registry/namespaces/", &key)
            .await
            .ok()
            .and_then(|(obj, _)| obj);
        let obj = match cached {
            Some(kv) => crate::handlers::from_kv(&kv)?,
            None => read(state.store.as_ref(), &key, &namespaces, ns).await?.0,
        };
        if obj["status"]["phase"] == "Terminating" {
            return Err(ApiError::forbidden(
                &attrs.resource.group_resource(),
                attrs.name,
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            ));
        }
        Ok(())
    }
}

/// Upstream's defaulting of built-in kinds.
#[derive(Debug)]
struct DefaultFields;

#[async_trait::async_trait]
impl Plugin for DefaultFields {
    fn name(&self) -> &'static str {
        "DefaultFields"
    }

    async fn admit(
        &self,
        _state: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        default(attrs.resource, obj);
        Ok(())
    }
}

/// ClusterIPs and NodePorts for new Services.
#[derive(Debug)]
struct ServiceIps;

#[async_trait::async_trait]
impl Plugin for ServiceIps {
    fn name(&self) -> &'static str {
        "ServiceIPs"
    }

    async fn admit(
        &self,
        state: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        let r = attrs.resource;
        if attrs.operation == Operation::Create && r.group.is_empty() && r.kind == "Service" {
            crate::services::allocate(state, obj).await?;
        }
        Ok(())
    }
}

/// Upstream's validation of built-in kinds, with its messages.
#[derive(Debug)]
struct BuiltinValidation;

#[async_trait::async_trait]
impl Plugin for BuiltinValidation {
    fn name(&self) -> &'static str {
        "BuiltinValidation"
    }

    async fn validate(
        &self,
        _state: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &Value,
    ) -> Result<(), ApiError> {
        validate(attrs.resource, obj, attrs.old)
    }
}

/// Custom resources against their version's openAPIV3Schema.
#[derive(Debug)]
struct CustomResourceSchema;

#[async_trait::async_trait]
impl Plugin for CustomResourceSchema {
    fn name(&self) -> &'static str {
        "CustomResourceSchema"
    }

    async fn validate(
        &self,
        _state: &ApiServer,
        attrs: &Attributes<'_>,
        obj: &Value,
    ) -> Result<(), ApiError> {
        if attrs.resource.custom {
            crate::crd::validate_custom(attrs.resource, obj)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_runs_namespace_checks_first_and_validation_last() {
        let names = Chain::default().names();
        assert_eq!(names.first(), Some(&"NamespaceLifecycle"));
        assert_eq!(names.last(), Some(&"CustomResourceSchema"));
    }
}
