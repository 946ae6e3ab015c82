//! What a pod refers to, for the node authorizer: a node may read a Secret, ConfigMap,
//! PersistentVolumeClaim or ResourceClaim, or get a token for a ServiceAccount, only when a pod
//! bound to it refers to that object (upstream's node graph, `AddPod` in
//! `plugin/pkg/auth/authorizer/node/graph.go`).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, Pod};

/// The names of the objects in the pod's namespace that the pod refers to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodReferences {
    pub secrets: BTreeSet<String>,
    pub config_maps: BTreeSet<String>,
    pub persistent_volume_claims: BTreeSet<String>,
    /// DRA claims: named ones, and those made from a template once the pod's status names them.
    pub resource_claims: BTreeSet<String>,
    /// `spec.serviceAccountName` (the deprecated `spec.serviceAccount` when that is unset).
    pub service_account: Option<String>,
}

/// What the pod refers to: Secrets (imagePullSecrets; containers', init containers' and
/// ephemeral containers' `envFrom` and `env[].valueFrom.secretKeyRef`; secret, projected,
/// CSI and the volume plugins' secretRef volumes), ConfigMaps (likewise, `configMapKeyRef` and
/// configMap / projected volumes), PVCs (persistentVolumeClaim volumes and the
/// `<pod>-<volume>` claims of ephemeral volumes), ResourceClaims and the ServiceAccount.
/// Empty names are left out, as upstream's visitors do.
pub fn pod_references(pod: &Pod) -> PodReferences {
    let mut refs = PodReferences::default();
    let Some(spec) = &pod.spec else {
        return refs;
    };
    fn add(set: &mut BTreeSet<String>, name: &str) {
        if !name.is_empty() {
            set.insert(name.to_owned());
        }
    }

    refs.service_account = [&spec.service_account_name, &spec.service_account]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .cloned();

    for r in spec.image_pull_secrets.iter().flatten() {
        add(&mut refs.secrets, &r.name);
    }

    let mut env = |env: &Option<Vec<EnvVar>>, env_from: &Option<Vec<EnvFromSource>>| {
        for from in env_from.iter().flatten() {
            if let Some(s) = &from.secret_ref {
                add(&mut refs.secrets, &s.name);
            }
            if let Some(c) = &from.config_map_ref {
                add(&mut refs.config_maps, &c.name);
            }
        }
        for var in env.iter().flatten() {
            let Some(source) = &var.value_from else {
                continue;
            };
            if let Some(s) = &source.secret_key_ref {
                add(&mut refs.secrets, &s.name);
            }
            if let Some(c) = &source.config_map_key_ref {
                add(&mut refs.config_maps, &c.name);
            }
        }
    };
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
    {
        env(&c.env, &c.env_from);
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        env(&c.env, &c.env_from);
    }

    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    for v in spec.volumes.iter().flatten() {
        if let Some(s) = &v.secret {
            add(
                &mut refs.secrets,
                s.secret_name.as_deref().unwrap_or_default(),
            );
        }
        if let Some(c) = &v.config_map {
            add(&mut refs.config_maps, &c.name);
        }
        if let Some(p) = &v.projected {
            for source in p.sources.iter().flatten() {
                if let Some(s) = &source.secret {
                    add(&mut refs.secrets, &s.name);
                }
                if let Some(c) = &source.config_map {
                    add(&mut refs.config_maps, &c.name);
                }
            }
        }
        let secret_refs = [
            v.cephfs.as_ref().and_then(|s| s.secret_ref.as_ref()),
            v.cinder.as_ref().and_then(|s| s.secret_ref.as_ref()),
            v.flex_volume.as_ref().and_then(|s| s.secret_ref.as_ref()),
            v.rbd.as_ref().and_then(|s| s.secret_ref.as_ref()),
            v.iscsi.as_ref().and_then(|s| s.secret_ref.as_ref()),
            v.storageos.as_ref().and_then(|s| s.secret_ref.as_ref()),
            v.scale_io.as_ref().map(|s| &s.secret_ref),
            v.csi
                .as_ref()
                .and_then(|s| s.node_publish_secret_ref.as_ref()),
        ];
        for r in secret_refs.into_iter().flatten() {
            add(&mut refs.secrets, &r.name);
        }
        if let Some(a) = &v.azure_file {
            add(&mut refs.secrets, &a.secret_name);
        }
        if let Some(claim) = &v.persistent_volume_claim {
            add(&mut refs.persistent_volume_claims, &claim.claim_name);
        } else if v.ephemeral.is_some() {
            // The ephemeral volume controller names the claim `<pod>-<volume>`.
            add(
                &mut refs.persistent_volume_claims,
                &format!("{pod_name}-{}", v.name),
            );
        }
    }

    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.resource_claim_statuses.as_ref());
    for claim in spec.resource_claims.iter().flatten() {
        if let Some(name) = &claim.resource_claim_name {
            add(&mut refs.resource_claims, name);
        } else if claim.resource_claim_template_name.is_some() {
            // Made from the template; its name is known once the controller wrote the status.
            let made = statuses
                .into_iter()
                .flatten()
                .find(|s| s.name == claim.name)
                .and_then(|s| s.resource_claim_name.as_deref());
            if let Some(name) = made {
                add(&mut refs.resource_claims, name);
            }
        }
    }
    refs
}
