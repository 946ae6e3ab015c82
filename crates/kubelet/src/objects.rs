//! The API objects a pod refers to, fetched before each sync so that turning the pod into CRI
//! configs and volume files ([`crate::spec`], [`crate::volumes`]) is pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};

/// What a pod refers to, keyed by name within the pod's namespace. A name that is missing
/// here was not found (the callers decide whether that is an error: `optional`).
#[derive(Debug, Clone, Default)]
pub struct PodObjects {
    pub config_maps: BTreeMap<String, ConfigMap>,
    pub secrets: BTreeMap<String, Secret>,
    /// The Services of the pod's namespace, for the `{SVC}_SERVICE_HOST` variables (only
    /// when `enableServiceLinks` is not false), plus the `kubernetes` Service of `default`.
    pub services: Vec<Service>,
    /// ServiceAccount tokens requested for projected volumes, by volume name and path.
    pub tokens: BTreeMap<(String, String), String>,
    /// The cluster CA bundle (PEM) for `kube-root-ca.crt`-style projections, if known.
    pub root_ca: Option<String>,
}

/// The names of the ConfigMaps and Secrets a pod refers to, from env, envFrom and volumes
/// (projected ones included), sorted and deduplicated.
pub fn referenced(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let mut config_maps = Vec::new();
    let mut secrets = Vec::new();
    let Some(spec) = &pod.spec else {
        return (config_maps, secrets);
    };
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers);
    for c in containers {
        for env in c.env.iter().flatten() {
            if let Some(from) = &env.value_from {
                if let Some(r) = &from.config_map_key_ref {
                    config_maps.push(r.name.clone());
                }
                if let Some(r) = &from.secret_key_ref {
                    secrets.push(r.name.clone());
                }
            }
        }
        for from in c.env_from.iter().flatten() {
            if let Some(r) = &from.config_map_ref {
                config_maps.push(r.name.clone());
            }
            if let Some(r) = &from.secret_ref {
                secrets.push(r.name.clone());
            }
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            config_maps.push(cm.name.clone());
        }
        if let Some(s) = &v.secret {
            secrets.extend(s.secret_name.clone());
        }
        for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &p.config_map {
                config_maps.push(cm.name.clone());
            }
            if let Some(s) = &p.secret {
                secrets.push(s.name.clone());
            }
        }
    }
    for list in [&mut config_maps, &mut secrets] {
        list.sort();
        list.dedup();
    }
    (config_maps, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_collects_env_env_from_and_volumes() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "s1"}}]}],
                "containers": [{"name": "c", "env": [
                    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm1", "key": "k"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s2", "key": "k"}}}
                ]}],
                "volumes": [
                    {"name": "v1", "configMap": {"name": "cm1"}},
                    {"name": "v2", "secret": {"secretName": "s3"}},
                    {"name": "v3", "projected": {"sources": [{"configMap": {"name": "cm2"}}]}}
                ]
            }
        }))
        .unwrap();
        let (cms, secrets) = referenced(&pod);
        assert_eq!(cms, ["cm1", "cm2"]);
        assert_eq!(secrets, ["s1", "s2", "s3"]);
    }
}
