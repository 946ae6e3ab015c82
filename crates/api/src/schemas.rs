//! OpenAPI v3 component schemas of the built-in kinds, and the unknown-field check behind
//! `fieldValidation`.
//!
//! The schemas come from `k8s-openapi` (its `schemars` implementations), which is generated from
//! upstream's own OpenAPI document: definition names, descriptions, properties and types are the
//! ones a 1.32 API server publishes, and `$ref`s carry a property's description in
//! `allOf: [{$ref}]` form as upstream's v3 documents do. What the crate leaves out or changes
//! and kubectl reads, this module puts back: the `x-kubernetes-group-version-kind` extension on
//! each kind, the `*List` kinds, the list/map extensions (`x-kubernetes-list-type`,
//! `x-kubernetes-patch-merge-key`, ...) in `EXTENSIONS`, copied from upstream's 1.32 document,
//! and upstream's `required` lists and int-or-string shapes (`match_upstream`).
//!
//! Generating takes tens of milliseconds, so it runs once, on first use, and the result is shared.
//!
//! [`unknown_fields`] walks an object against these schemas the way the API server's strict JSON
//! decoder (`sigs.k8s.io/json`) walks it against the Go structs, and reports the same paths.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use k8s_openapi::api::{
    apps, autoscaling, batch, coordination, core, discovery, events, networking, policy, rbac,
    scheduling, storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

/// Where every `$ref` points: the OpenAPI v3 document's `components.schemas`.
const REF_PREFIX: &str = "#/components/schemas/";

/// Definitions every group version's document carries besides its kinds, because the
/// operations of any resource use them (delete bodies, errors, watch events, discovery, patch).
const COMMON_DEFINITIONS: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
];

/// Common definitions that upstream tags with the kind in every group version, so each group
/// version's document gets its own `x-kubernetes-group-version-kind` on them.
const PER_GROUP_VERSION_KINDS: &[(&str, &str)] = &[
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        "DeleteOptions",
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
        "WatchEvent",
    ),
];

/// The strict decoder stops collecting unknown fields after this many; so do we.
const MAX_REPORTED: usize = 100;

/// Deeper than any object a JSON body can hold (serde_json parses at most 128 levels); it only
/// guards the recursion against values built in memory.
const MAX_DEPTH: usize = 512;

/// A built-in kind whose schema this module serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinKind {
    /// API group; `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Upstream's definition name, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub definition: &'static str,
    /// The definition of its list kind (`io.k8s.api.apps.v1.DeploymentList`), for kinds that
    /// are listed; subresource-only kinds (Binding, Scale, Eviction) have none.
    pub list_definition: Option<&'static str>,
}

/// Declares the built-in kinds once, producing both the table and the code that generates their
/// schemas, so the two cannot drift apart.
macro_rules! declare_builtin_kinds {
    ($(
        $group:literal $version:literal $kind:literal $listed:literal => $ty:ty = $def:literal;
    )*) => {
        const KINDS: &[BuiltinKind] = &[$(
            BuiltinKind {
                group: $group,
                version: $version,
                kind: $kind,
                definition: $def,
                list_definition: if $listed { Some(concat!($def, "List")) } else { None },
            },
        )*];

        /// Adds every built-in kind's schema, and every schema it refers to, to `generator`.
        fn add_kind_schemas(generator: &mut SchemaGenerator) {
            $(let _ = generator.subschema_for::<$ty>();)*
        }

        /// Each kind's definition name as written in [`KINDS`], and the name `k8s-openapi` uses.
        #[cfg(test)]
        fn crate_schema_names() -> Vec<(&'static str, String)> {
            vec![$(($def, <$ty as schemars::JsonSchema>::schema_name().into_owned()),)*]
        }
    };
}

declare_builtin_kinds! {
    "" "v1" "Pod" true => core::v1::Pod = "io.k8s.api.core.v1.Pod";
    "" "v1" "Service" true => core::v1::Service = "io.k8s.api.core.v1.Service";
    "" "v1" "ReplicationController" true =>
        core::v1::ReplicationController = "io.k8s.api.core.v1.ReplicationController";
    "" "v1" "Namespace" true => core::v1::Namespace = "io.k8s.api.core.v1.Namespace";
    "" "v1" "Node" true => core::v1::Node = "io.k8s.api.core.v1.Node";
    "" "v1" "Endpoints" true => core::v1::Endpoints = "io.k8s.api.core.v1.Endpoints";
    "" "v1" "ConfigMap" true => core::v1::ConfigMap = "io.k8s.api.core.v1.ConfigMap";
    "" "v1" "Secret" true => core::v1::Secret = "io.k8s.api.core.v1.Secret";
    "" "v1" "ServiceAccount" true => core::v1::ServiceAccount = "io.k8s.api.core.v1.ServiceAccount";
    "" "v1" "Event" true => core::v1::Event = "io.k8s.api.core.v1.Event";
    "" "v1" "LimitRange" true => core::v1::LimitRange = "io.k8s.api.core.v1.LimitRange";
    "" "v1" "ResourceQuota" true => core::v1::ResourceQuota = "io.k8s.api.core.v1.ResourceQuota";
    "" "v1" "PersistentVolume" true =>
        core::v1::PersistentVolume = "io.k8s.api.core.v1.PersistentVolume";
    "" "v1" "PersistentVolumeClaim" true =>
        core::v1::PersistentVolumeClaim = "io.k8s.api.core.v1.PersistentVolumeClaim";
    "" "v1" "PodTemplate" true => core::v1::PodTemplate = "io.k8s.api.core.v1.PodTemplate";
    "" "v1" "Binding" false => core::v1::Binding = "io.k8s.api.core.v1.Binding";
    "apps" "v1" "Deployment" true => apps::v1::Deployment = "io.k8s.api.apps.v1.Deployment";
    "apps" "v1" "ReplicaSet" true => apps::v1::ReplicaSet = "io.k8s.api.apps.v1.ReplicaSet";
    "apps" "v1" "StatefulSet" true => apps::v1::StatefulSet = "io.k8s.api.apps.v1.StatefulSet";
    "apps" "v1" "DaemonSet" true => apps::v1::DaemonSet = "io.k8s.api.apps.v1.DaemonSet";
    "apps" "v1" "ControllerRevision" true =>
        apps::v1::ControllerRevision = "io.k8s.api.apps.v1.ControllerRevision";
    "autoscaling" "v1" "HorizontalPodAutoscaler" true => autoscaling::v1::HorizontalPodAutoscaler =
        "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler";
    "autoscaling" "v1" "Scale" false => autoscaling::v1::Scale = "io.k8s.api.autoscaling.v1.Scale";
    "autoscaling" "v2" "HorizontalPodAutoscaler" true => autoscaling::v2::HorizontalPodAutoscaler =
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler";
    "batch" "v1" "Job" true => batch::v1::Job = "io.k8s.api.batch.v1.Job";
    "batch" "v1" "CronJob" true => batch::v1::CronJob = "io.k8s.api.batch.v1.CronJob";
    "coordination.k8s.io" "v1" "Lease" true =>
        coordination::v1::Lease = "io.k8s.api.coordination.v1.Lease";
    "discovery.k8s.io" "v1" "EndpointSlice" true =>
        discovery::v1::EndpointSlice = "io.k8s.api.discovery.v1.EndpointSlice";
    "events.k8s.io" "v1" "Event" true => events::v1::Event = "io.k8s.api.events.v1.Event";
    "rbac.authorization.k8s.io" "v1" "Role" true => rbac::v1::Role = "io.k8s.api.rbac.v1.Role";
    "rbac.authorization.k8s.io" "v1" "RoleBinding" true =>
        rbac::v1::RoleBinding = "io.k8s.api.rbac.v1.RoleBinding";
    "rbac.authorization.k8s.io" "v1" "ClusterRole" true =>
        rbac::v1::ClusterRole = "io.k8s.api.rbac.v1.ClusterRole";
    "rbac.authorization.k8s.io" "v1" "ClusterRoleBinding" true =>
        rbac::v1::ClusterRoleBinding = "io.k8s.api.rbac.v1.ClusterRoleBinding";
    "policy" "v1" "PodDisruptionBudget" true =>
        policy::v1::PodDisruptionBudget = "io.k8s.api.policy.v1.PodDisruptionBudget";
    "policy" "v1" "Eviction" false => policy::v1::Eviction = "io.k8s.api.policy.v1.Eviction";
    "networking.k8s.io" "v1" "NetworkPolicy" true =>
        networking::v1::NetworkPolicy = "io.k8s.api.networking.v1.NetworkPolicy";
    "networking.k8s.io" "v1" "Ingress" true =>
        networking::v1::Ingress = "io.k8s.api.networking.v1.Ingress";
    "networking.k8s.io" "v1" "IngressClass" true =>
        networking::v1::IngressClass = "io.k8s.api.networking.v1.IngressClass";
    "storage.k8s.io" "v1" "StorageClass" true =>
        storage::v1::StorageClass = "io.k8s.api.storage.v1.StorageClass";
    "scheduling.k8s.io" "v1" "PriorityClass" true =>
        scheduling::v1::PriorityClass = "io.k8s.api.scheduling.v1.PriorityClass";
    "apiextensions.k8s.io" "v1" "CustomResourceDefinition" true =>
        apiextensions::v1::CustomResourceDefinition =
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition";
}

/// Upstream's `x-kubernetes-*` extensions on the definitions above, which `k8s-openapi` does not
/// carry, copied from the v1.32 OpenAPI document. `x-kubernetes-list-type`, `-list-map-keys`,
/// `-patch-merge-key` and `-patch-strategy` drive strategic merge patch and server-side apply;
/// `-map-type` is kept so the documents match upstream's (as are the two `-unions`, added in
/// [`build_registry`]).
///
/// Format: `[package]` starts a section; each entry is `Type` (an extension on the definition
/// `package.Type`) or `Type.property`, then `key=value` pairs, where `key` is the extension name
/// without `x-kubernetes-`; an indented line continues the entry above. `list-map-keys` is a
/// comma-separated list; every other value is a string.
const EXTENSIONS: &str = r#"
[io.k8s.api.apps.v1]
DaemonSetStatus.conditions list-type=map list-map-keys=type
    patch-merge-key=type patch-strategy=merge
DeploymentSpec.strategy patch-strategy=retainKeys
DeploymentStatus.conditions list-type=map list-map-keys=type
    patch-merge-key=type patch-strategy=merge
ReplicaSetStatus.conditions list-type=map list-map-keys=type
    patch-merge-key=type patch-strategy=merge
StatefulSetSpec.volumeClaimTemplates list-type=atomic
StatefulSetStatus.conditions list-type=map list-map-keys=type
    patch-merge-key=type patch-strategy=merge
[io.k8s.api.autoscaling.v1]
CrossVersionObjectReference map-type=atomic
[io.k8s.api.autoscaling.v2]
HPAScalingRules.policies list-type=atomic
HorizontalPodAutoscalerSpec.metrics list-type=atomic
HorizontalPodAutoscalerStatus.conditions list-type=map list-map-keys=type
    patch-merge-key=type patch-strategy=merge
HorizontalPodAutoscalerStatus.currentMetrics list-type=atomic
[io.k8s.api.batch.v1]
CronJobStatus.active list-type=atomic
JobStatus.conditions list-type=atomic patch-merge-key=type patch-strategy=merge
PodFailurePolicy.rules list-type=atomic
PodFailurePolicyOnExitCodesRequirement.values list-type=set
PodFailurePolicyRule.onPodConditions list-type=atomic
SuccessPolicy.rules list-type=atomic
UncountedTerminatedPods.failed list-type=set
UncountedTerminatedPods.succeeded list-type=set
[io.k8s.api.core.v1]
Capabilities.add list-type=atomic
Capabilities.drop list-type=atomic
CephFSPersistentVolumeSource.monitors list-type=atomic
CephFSVolumeSource.monitors list-type=atomic
ConfigMapKeySelector map-type=atomic
ConfigMapProjection.items list-type=atomic
ConfigMapVolumeSource.items list-type=atomic
Container.args list-type=atomic
Container.command list-type=atomic
Container.env list-type=map list-map-keys=name patch-merge-key=name patch-strategy=merge
Container.envFrom list-type=atomic
Container.ports list-type=map list-map-keys=containerPort,protocol
    patch-merge-key=containerPort patch-strategy=merge
Container.resizePolicy list-type=atomic
Container.volumeDevices list-type=map list-map-keys=devicePath
    patch-merge-key=devicePath patch-strategy=merge
Container.volumeMounts list-type=map list-map-keys=mountPath
    patch-merge-key=mountPath patch-strategy=merge
ContainerImage.names list-type=atomic
ContainerStatus.allocatedResourcesStatus list-type=map list-map-keys=name
    patch-merge-key=name patch-strategy=merge
ContainerStatus.volumeMounts list-type=map list-map-keys=mountPath
    patch-merge-key=mountPath patch-strategy=merge
DownwardAPIProjection.items list-type=atomic
DownwardAPIVolumeSource.items list-type=atomic
EndpointAddress map-type=atomic
EndpointPort map-type=atomic
EndpointSubset.addresses list-type=atomic
EndpointSubset.notReadyAddresses list-type=atomic
EndpointSubset.ports list-type=atomic
Endpoints.subsets list-type=atomic
EphemeralContainer.args list-type=atomic
EphemeralContainer.command list-type=atomic
EphemeralContainer.env list-type=map list-map-keys=name patch-merge-key=name patch-strategy=merge
EphemeralContainer.envFrom list-type=atomic
EphemeralContainer.ports list-type=map list-map-keys=containerPort,protocol
    patch-merge-key=containerPort patch-strategy=merge
EphemeralContainer.resizePolicy list-type=atomic
EphemeralContainer.volumeDevices list-type=map list-map-keys=devicePath
    patch-merge-key=devicePath patch-strategy=merge
EphemeralContainer.volumeMounts list-type=map list-map-keys=mountPath
    patch-merge-key=mountPath patch-strategy=merge
ExecAction.command list-type=atomic
FCVolumeSource.targetWWNs list-type=atomic
FCVolumeSource.wwids list-type=atomic
HTTPGetAction.httpHeaders list-type=atomic
HostAlias.hostnames list-type=atomic
ISCSIPersistentVolumeSource.portals list-type=atomic
ISCSIVolumeSource.portals list-type=atomic
LimitRangeSpec.limits list-type=atomic
LinuxContainerUser.supplementalGroups list-type=atomic
LoadBalancerIngress.ports list-type=atomic
LoadBalancerStatus.ingress list-type=atomic
LocalObjectReference map-type=atomic
NamespaceSpec.finalizers list-type=atomic
NamespaceStatus.conditions list-type=map list-map-keys=type
    patch-merge-key=type patch-strategy=merge
NodeAffinity.preferredDuringSchedulingIgnoredDuringExecution list-type=atomic
NodeSelector map-type=atomic
NodeSelector.nodeSelectorTerms list-type=atomic
NodeSelectorRequirement.values list-type=atomic
NodeSelectorTerm map-type=atomic
NodeSelectorTerm.matchExpressions list-type=atomic
NodeSelectorTerm.matchFields list-type=atomic
NodeSpec.podCIDRs list-type=set patch-strategy=merge
NodeSpec.taints list-type=atomic
NodeStatus.addresses list-type=map list-map-keys=type patch-merge-key=type patch-strategy=merge
NodeStatus.conditions list-type=map list-map-keys=type patch-merge-key=type patch-strategy=merge
NodeStatus.images list-type=atomic
NodeStatus.runtimeHandlers list-type=atomic
NodeStatus.volumesAttached list-type=atomic
NodeStatus.volumesInUse list-type=atomic
ObjectFieldSelector map-type=atomic
ObjectReference map-type=atomic
PersistentVolumeClaimSpec.accessModes list-type=atomic
PersistentVolumeClaimStatus.accessModes list-type=atomic
PersistentVolumeClaimStatus.allocatedResourceStatuses map-type=granular
PersistentVolumeClaimStatus.conditions list-type=map list-map-keys=type
    patch-merge-key=type patch-strategy=merge
PersistentVolumeSpec.accessModes list-type=atomic
PersistentVolumeSpec.claimRef map-type=granular
PersistentVolumeSpec.mountOptions list-type=atomic
PodAffinity.preferredDuringSchedulingIgnoredDuringExecution list-type=atomic
PodAffinity.requiredDuringSchedulingIgnoredDuringExecution list-type=atomic
PodAffinityTerm.matchLabelKeys list-type=atomic
PodAffinityTerm.mismatchLabelKeys list-type=atomic
PodAffinityTerm.namespaces list-type=atomic
PodAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution list-type=atomic
PodAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution list-type=atomic
PodDNSConfig.nameservers list-type=atomic
PodDNSConfig.options list-type=atomic
PodDNSConfig.searches list-type=atomic
PodSecurityContext.supplementalGroups list-type=atomic
PodSecurityContext.sysctls list-type=atomic
PodSpec.containers list-type=map list-map-keys=name patch-merge-key=name patch-strategy=merge
PodSpec.ephemeralContainers list-type=map list-map-keys=name
    patch-merge-key=name patch-strategy=merge
PodSpec.hostAliases list-type=map list-map-keys=ip patch-merge-key=ip patch-strategy=merge
PodSpec.imagePullSecrets list-type=map list-map-keys=name patch-merge-key=name patch-strategy=merge
PodSpec.initContainers list-type=map list-map-keys=name patch-merge-key=name patch-strategy=merge
PodSpec.nodeSelector map-type=atomic
PodSpec.readinessGates list-type=atomic
PodSpec.resourceClaims list-type=map list-map-keys=name
    patch-merge-key=name patch-strategy=merge,retainKeys
PodSpec.schedulingGates list-type=map list-map-keys=name patch-merge-key=name patch-strategy=merge
PodSpec.tolerations list-type=atomic
PodSpec.topologySpreadConstraints list-type=map list-map-keys=topologyKey,whenUnsatisfiable
    patch-merge-key=topologyKey patch-strategy=merge
PodSpec.volumes list-type=map list-map-keys=name
    patch-merge-key=name patch-strategy=merge,retainKeys
PodStatus.conditions list-type=map list-map-keys=type patch-merge-key=type patch-strategy=merge
PodStatus.containerStatuses list-type=atomic
PodStatus.ephemeralContainerStatuses list-type=atomic
PodStatus.hostIPs list-type=atomic patch-merge-key=ip patch-strategy=merge
PodStatus.initContainerStatuses list-type=atomic
PodStatus.podIPs list-type=map list-map-keys=ip patch-merge-key=ip patch-strategy=merge
PodStatus.resourceClaimStatuses list-type=map list-map-keys=name
    patch-merge-key=name patch-strategy=merge,retainKeys
ProjectedVolumeSource.sources list-type=atomic
RBDPersistentVolumeSource.monitors list-type=atomic
RBDVolumeSource.monitors list-type=atomic
ReplicationControllerSpec.selector map-type=atomic
ReplicationControllerStatus.conditions list-type=map list-map-keys=type
    patch-merge-key=type patch-strategy=merge
ResourceFieldSelector map-type=atomic
ResourceQuotaSpec.scopes list-type=atomic
ResourceRequirements.claims list-type=map list-map-keys=name
ResourceStatus.resources list-type=map list-map-keys=resourceID
ScopeSelector map-type=atomic
ScopeSelector.matchExpressions list-type=atomic
ScopedResourceSelectorRequirement.values list-type=atomic
SecretKeySelector map-type=atomic
SecretProjection.items list-type=atomic
SecretReference map-type=atomic
SecretVolumeSource.items list-type=atomic
ServiceAccount.imagePullSecrets list-type=atomic
ServiceAccount.secrets list-type=map list-map-keys=name patch-merge-key=name patch-strategy=merge
ServiceSpec.clusterIPs list-type=atomic
ServiceSpec.externalIPs list-type=atomic
ServiceSpec.ipFamilies list-type=atomic
ServiceSpec.loadBalancerSourceRanges list-type=atomic
ServiceSpec.ports list-type=map list-map-keys=port,protocol
    patch-merge-key=port patch-strategy=merge
ServiceSpec.selector map-type=atomic
ServiceStatus.conditions list-type=map list-map-keys=type patch-merge-key=type patch-strategy=merge
TopologySelectorLabelRequirement.values list-type=atomic
TopologySelectorTerm map-type=atomic
TopologySelectorTerm.matchLabelExpressions list-type=atomic
TopologySpreadConstraint.matchLabelKeys list-type=atomic
TypedLocalObjectReference map-type=atomic
[io.k8s.api.discovery.v1]
Endpoint.addresses list-type=set
EndpointHints.forZones list-type=atomic
EndpointPort map-type=atomic
EndpointSlice.endpoints list-type=atomic
EndpointSlice.ports list-type=atomic
[io.k8s.api.networking.v1]
HTTPIngressRuleValue.paths list-type=atomic
IPBlock.except list-type=atomic
IngressLoadBalancerIngress.ports list-type=atomic
IngressLoadBalancerStatus.ingress list-type=atomic
IngressSpec.rules list-type=atomic
IngressSpec.tls list-type=atomic
IngressTLS.hosts list-type=atomic
NetworkPolicyEgressRule.ports list-type=atomic
NetworkPolicyEgressRule.to list-type=atomic
NetworkPolicyIngressRule.from list-type=atomic
NetworkPolicyIngressRule.ports list-type=atomic
NetworkPolicySpec.egress list-type=atomic
NetworkPolicySpec.ingress list-type=atomic
NetworkPolicySpec.policyTypes list-type=atomic
ServiceBackendPort map-type=atomic
[io.k8s.api.policy.v1]
PodDisruptionBudgetSpec.selector patch-strategy=replace
PodDisruptionBudgetStatus.conditions list-type=map list-map-keys=type
    patch-merge-key=type patch-strategy=merge
[io.k8s.api.rbac.v1]
AggregationRule.clusterRoleSelectors list-type=atomic
ClusterRole.rules list-type=atomic
ClusterRoleBinding.subjects list-type=atomic
PolicyRule.apiGroups list-type=atomic
PolicyRule.nonResourceURLs list-type=atomic
PolicyRule.resourceNames list-type=atomic
PolicyRule.resources list-type=atomic
PolicyRule.verbs list-type=atomic
Role.rules list-type=atomic
RoleBinding.subjects list-type=atomic
RoleRef map-type=atomic
Subject map-type=atomic
[io.k8s.api.storage.v1]
StorageClass.allowedTopologies list-type=atomic
StorageClass.mountOptions list-type=atomic
[io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1]
CustomResourceDefinitionNames.categories list-type=atomic
CustomResourceDefinitionNames.shortNames list-type=atomic
CustomResourceDefinitionSpec.versions list-type=atomic
CustomResourceDefinitionStatus.conditions list-type=map list-map-keys=type
CustomResourceDefinitionStatus.storedVersions list-type=atomic
CustomResourceDefinitionVersion.additionalPrinterColumns list-type=atomic
CustomResourceDefinitionVersion.selectableFields list-type=atomic
JSONSchemaProps.allOf list-type=atomic
JSONSchemaProps.anyOf list-type=atomic
JSONSchemaProps.enum list-type=atomic
JSONSchemaProps.oneOf list-type=atomic
JSONSchemaProps.required list-type=atomic
JSONSchemaProps.x-kubernetes-list-map-keys list-type=atomic
JSONSchemaProps.x-kubernetes-validations list-type=map list-map-keys=rule
    patch-merge-key=rule patch-strategy=merge
WebhookConversion.conversionReviewVersions list-type=atomic
[io.k8s.apimachinery.pkg.apis.meta.v1]
DeleteOptions.dryRun list-type=atomic
LabelSelector map-type=atomic
LabelSelector.matchExpressions list-type=atomic
LabelSelectorRequirement.values list-type=atomic
ObjectMeta.finalizers list-type=set patch-strategy=merge
ObjectMeta.managedFields list-type=atomic
ObjectMeta.ownerReferences list-type=map list-map-keys=uid patch-merge-key=uid patch-strategy=merge
OwnerReference map-type=atomic
"#;

/// A built-in kind's definition name, e.g. `("apps", "v1", "Deployment")` gives
/// `io.k8s.api.apps.v1.Deployment`. List kinds (`DeploymentList`) are built in too.
pub fn definition_name(group: &str, version: &str, kind: &str) -> Option<&'static str> {
    let in_group_version = |k: &&BuiltinKind| k.group == group && k.version == version;
    if let Some(found) = KINDS
        .iter()
        .filter(in_group_version)
        .find(|k| k.kind == kind)
    {
        return Some(found.definition);
    }
    let item_kind = kind.strip_suffix("List")?;
    KINDS
        .iter()
        .filter(in_group_version)
        .find(|k| k.kind == item_kind)
        .and_then(|k| k.list_definition)
}

/// Every built-in kind whose schema this module serves.
pub fn builtin_kinds() -> &'static [BuiltinKind] {
    KINDS
}

/// The group versions that have built-in kinds, each once, in [`builtin_kinds()`] order.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut seen = Vec::new();
    for kind in KINDS {
        if !seen.contains(&(kind.group, kind.version)) {
            seen.push((kind.group, kind.version));
        }
    }
    seen
}

/// The component schemas for one group version of built-in kinds, keyed by upstream's definition
/// names (e.g. `io.k8s.api.apps.v1.Deployment`, `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`),
/// with every referenced definition included, `$ref`s of the form `#/components/schemas/<name>`,
/// and on each top-level kind the extension `x-kubernetes-group-version-kind`. Empty for a group
/// version with no built-in kinds.
///
/// The schemas are generated once; each call copies them, so callers serving documents should
/// build their document once and keep it.
pub fn components(group: &str, version: &str) -> Map<String, Value> {
    let registry = registry();
    let Some((_, _, names)) = registry
        .group_versions
        .iter()
        .find(|(g, v, _)| *g == group && *v == version)
    else {
        return Map::new();
    };
    let mut schemas = Map::new();
    for name in names {
        if let Some(schema) = registry.definitions.get(name) {
            schemas.insert(name.clone(), schema.clone());
        }
    }
    for (definition, kind) in PER_GROUP_VERSION_KINDS {
        if let Some(Value::Object(schema)) = schemas.get_mut(*definition) {
            schema.insert(
                "x-kubernetes-group-version-kind".into(),
                gvk(group, version, kind),
            );
        }
    }
    schemas
}

/// Field paths in `object`, an object of the given built-in kind, that its schema does not know,
/// as the API server's strict decoding reports them: `spec.foo`,
/// `spec.template.spec.containers[0].imagePullPolcy`, `metadata.labelz`. Empty for kinds that
/// are not built in.
///
/// Like the Go decoder, this descends into nested objects, list items and map values, and does
/// not look inside values the Go types keep whole or decode themselves: `RawExtension`,
/// `FieldsV1`, CRD schema `JSON` and `JSONSchemaPropsOr*`, `IntOrString`, `Quantity`, and schemas
/// marked `x-kubernetes-preserve-unknown-fields`. Values of the wrong type are not unknown
/// fields; the decoder reports those as type errors, so they are left to it.
pub fn unknown_fields(group: &str, version: &str, kind: &str, object: &Value) -> Vec<String> {
    let Some(definition) = definition_name(group, version, kind) else {
        return Vec::new();
    };
    let registry = registry();
    let Some(schema) = registry.definitions.get(definition) else {
        return Vec::new();
    };
    let mut walker = Walker {
        definitions: &registry.definitions,
        found: Vec::new(),
    };
    walker.walk(schema, object, &mut String::new(), 0);
    walker.found
}

/// The first value of `object` whose JSON type its schema does not allow, reported as Go's
/// decoder words it (`json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas
/// of type int32`), so that the API server can refuse it with upstream's message. `None` when
/// every value has its declared type (nulls are allowed everywhere, as in Go).
pub fn type_error(group: &str, version: &str, kind: &str, object: &Value) -> Option<String> {
    let definition = definition_name(group, version, kind)?;
    let registry = registry();
    let schema = registry.definitions.get(definition)?;
    let mut checker = TypeChecker {
        definitions: &registry.definitions,
    };
    checker.check(schema, object, kind, &mut String::new(), 0)
}

/// Walks a value against a schema and reports the first type mismatch.
struct TypeChecker<'a> {
    definitions: &'a Map<String, Value>,
}

impl<'a> TypeChecker<'a> {
    /// The schema behind `$ref`s and one-element `allOf`s, with the name of the definition it
    /// came from (the Go type).
    fn resolve(&self, mut schema: &'a Value) -> (Option<&'a Map<String, Value>>, Option<&'a str>) {
        let mut name = None;
        for _ in 0..8 {
            let Some(object) = schema.as_object() else {
                return (None, name);
            };
            if let Some(Value::String(target)) = object.get("$ref") {
                let Some(short) = target.strip_prefix(REF_PREFIX) else {
                    return (None, name);
                };
                name = Some(short);
                match self.definitions.get(short) {
                    Some(next) => schema = next,
                    None => return (None, name),
                }
                continue;
            }
            if let Some(Value::Array(all_of)) = object.get("allOf")
                && let [only] = all_of.as_slice()
            {
                schema = only;
                continue;
            }
            return (Some(object), name);
        }
        (None, name)
    }

    /// Go's name for the type a schema describes.
    fn go_type(&self, schema: &Map<String, Value>, name: Option<&str>) -> String {
        if let Some(name) = name {
            let mut parts = name.rsplit('.');
            let ty = parts.next().unwrap_or(name);
            let package = parts.next().unwrap_or("v1");
            return format!("{package}.{ty}");
        }
        match (
            schema.get("type").and_then(Value::as_str),
            schema.get("format").and_then(Value::as_str),
        ) {
            (Some("integer"), Some(f @ ("int32" | "int64"))) => f.to_owned(),
            (Some("integer"), _) => "int".to_owned(),
            (Some("number"), _) => "float64".to_owned(),
            (Some("boolean"), _) => "bool".to_owned(),
            (Some("string"), _) => "string".to_owned(),
            (Some("array"), _) => {
                let (item, item_name) = schema
                    .get("items")
                    .map_or((None, None), |i| self.resolve(i));
                format!(
                    "[]{}",
                    item.map_or("interface {}".to_owned(), |i| self.go_type(i, item_name))
                )
            }
            (Some("object"), _) => match schema.get("additionalProperties") {
                Some(v) => {
                    let (value, value_name) = self.resolve(v);
                    let inner =
                        value.map_or("interface {}".to_owned(), |v| self.go_type(v, value_name));
                    format!("map[string]{inner}")
                }
                None => "map[string]interface {}".to_owned(),
            },
            _ => "interface {}".to_owned(),
        }
    }

    fn check(
        &mut self,
        schema: &'a Value,
        value: &Value,
        parent: &str,
        path: &mut String,
        depth: usize,
    ) -> Option<String> {
        if depth > MAX_DEPTH || value.is_null() {
            return None;
        }
        let (schema, name) = self.resolve(schema);
        let schema = schema?;
        // Types that decode themselves from several JSON types.
        if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
            || schema.contains_key("oneOf")
            || schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        {
            return None;
        }
        let ty = schema.get("type").and_then(Value::as_str).or_else(|| {
            (schema.contains_key("properties") || schema.contains_key("additionalProperties"))
                .then_some("object")
        });
        let ok = match ty {
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("string") => value.is_string(),
            Some("boolean") => value.is_boolean(),
            Some("array") => value.is_array(),
            Some("object") => value.is_object(),
            _ => true,
        };
        if !ok {
            let found = match value {
                Value::Bool(_) => "bool".to_owned(),
                Value::Number(n) => format!("number {n}"),
                Value::String(_) => "string".to_owned(),
                Value::Array(_) => "array".to_owned(),
                Value::Object(_) => "object".to_owned(),
                Value::Null => "null".to_owned(),
            };
            let field = if path.is_empty() {
                parent.to_owned()
            } else {
                format!("{parent}.{path}")
            };
            return Some(format!(
                "json: cannot unmarshal {found} into Go struct field {field} of type {}",
                self.go_type(schema, name)
            ));
        }
        let struct_name = name.and_then(|n| n.rsplit('.').next()).unwrap_or(parent);
        match value {
            Value::Object(fields) => {
                let properties = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties").filter(|v| v.is_object());
                for (key, field) in fields {
                    let sub = match (properties.and_then(|p| p.get(key)), additional) {
                        (Some(p), _) => p,
                        (None, Some(a)) => a,
                        (None, None) => continue,
                    };
                    let len = path.len();
                    push_key(path, key);
                    // Go names the innermost struct and the path from the object's root.
                    let found = self.check(sub, field, struct_name, path, depth + 1);
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            Value::Array(items) => {
                let item_schema = schema.get("items")?;
                // Go's decoder names list fields without an index.
                items
                    .iter()
                    .find_map(|item| self.check(item_schema, item, struct_name, path, depth + 1))
            }
            _ => None,
        }
    }
}

/// The generated schemas, shared by every caller.
struct Registry {
    /// Every definition, keyed by upstream's name.
    definitions: Map<String, Value>,
    /// For each group version, the definitions its document holds: its kinds, their lists,
    /// [`COMMON_DEFINITIONS`] and everything they refer to.
    group_versions: Vec<(&'static str, &'static str, Vec<String>)>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(build_registry)
}

fn build_registry() -> Registry {
    let mut generator = SchemaSettings::openapi3().into_generator();
    add_kind_schemas(&mut generator);
    let _ = generator.subschema_for::<meta::APIResourceList>();
    let _ = generator.subschema_for::<meta::DeleteOptions>();
    let _ = generator.subschema_for::<meta::ListMeta>();
    let _ = generator.subschema_for::<meta::Patch>();
    let _ = generator.subschema_for::<meta::Status>();
    // The event's object type does not change its schema (upstream's is a RawExtension).
    let _ = generator.subschema_for::<meta::WatchEvent<()>>();
    // The transforms turn `$ref` plus siblings into `allOf: [{$ref}]` plus siblings: OpenAPI 3.0
    // ignores a `$ref`'s siblings, and the siblings hold the property descriptions.
    let mut definitions = generator.take_definitions(true);
    match_upstream(&mut definitions);

    for kind in KINDS {
        if let Some(list_definition) = kind.list_definition {
            let list = list_schema(&definitions, kind);
            definitions.insert(list_definition.into(), list);
        }
    }
    for (definition, property, key, value) in extensions() {
        if let Some(schema) = extension_target(&mut definitions, &definition, property) {
            schema.insert(format!("x-kubernetes-{key}"), value);
        }
    }
    // Both profiles carry a localhost profile name only when their `type` says so.
    for profile in ["AppArmorProfile", "SeccompProfile"] {
        let union = json!([{
            "discriminator": "type",
            "fields-to-discriminateBy": { "localhostProfile": "LocalhostProfile" },
        }]);
        let name = format!("io.k8s.api.core.v1.{profile}");
        if let Some(schema) = extension_target(&mut definitions, &name, None) {
            schema.insert("x-kubernetes-unions".into(), union);
        }
    }
    for kind in KINDS {
        set_gvk(
            &mut definitions,
            kind.definition,
            kind.group,
            kind.version,
            kind.kind,
        );
        if let Some(list_definition) = kind.list_definition {
            let list_kind = format!("{}List", kind.kind);
            set_gvk(
                &mut definitions,
                list_definition,
                kind.group,
                kind.version,
                &list_kind,
            );
        }
    }
    set_gvk(
        &mut definitions,
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        "",
        "v1",
        "Status",
    );

    let group_versions = group_versions()
        .into_iter()
        .map(|(group, version)| {
            let kinds = KINDS
                .iter()
                .filter(|k| k.group == group && k.version == version);
            let roots = kinds
                .flat_map(|k| std::iter::once(k.definition).chain(k.list_definition))
                .chain(COMMON_DEFINITIONS.iter().copied());
            (group, version, reachable(&definitions, roots))
        })
        .collect();
    Registry {
        definitions,
        group_versions,
    }
}

/// Undoes the places where `k8s-openapi`'s schemas depart from upstream's 1.32 document in ways
/// kubectl shows: `required` (the crate marks a field required whenever its Rust type is not an
/// `Option`, so every kind's `metadata` and the `name` of local object references, and follows
/// later releases for a few others) and the shapes of the int-or-string types and `JSON`.
fn match_upstream(definitions: &mut Map<String, Value>) {
    for schema in definitions.values_mut() {
        let Some(schema) = schema.as_object_mut() else {
            continue;
        };
        if let Some(Value::Array(required)) = schema.get_mut("required") {
            required.retain(|field| field != "metadata");
            if required.is_empty() {
                schema.remove("required");
            }
        }
    }
    for (name, required) in REQUIRED {
        if let Some(Value::Object(schema)) = definitions.get_mut(*name) {
            if required.is_empty() {
                schema.remove("required");
            } else {
                schema.insert("required".into(), json!(required));
            }
        }
    }
    let mut reshape = |name: &str, fields: Value| {
        if let (Some(Value::Object(schema)), Value::Object(fields)) =
            (definitions.get_mut(name), fields)
        {
            schema.remove("x-kubernetes-int-or-string");
            schema.remove("type");
            schema.extend(fields);
        }
    };
    reshape(
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        json!({
            "format": "int-or-string",
            "oneOf": [{ "type": "integer" }, { "type": "string" }],
        }),
    );
    reshape(
        "io.k8s.apimachinery.pkg.api.resource.Quantity",
        json!({ "oneOf": [{ "type": "string" }, { "type": "number" }] }),
    );
    // Any JSON value, not only objects.
    reshape(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
        json!({}),
    );
}

/// Upstream's `required` lists where, beyond `metadata`, `k8s-openapi`'s differ.
const REQUIRED: &[(&str, &[&str])] = &[
    (
        "io.k8s.api.apps.v1.StatefulSetSpec",
        &["selector", "template", "serviceName"],
    ),
    ("io.k8s.api.core.v1.ConfigMapEnvSource", &[]),
    ("io.k8s.api.core.v1.ConfigMapKeySelector", &["key"]),
    ("io.k8s.api.core.v1.ConfigMapProjection", &[]),
    ("io.k8s.api.core.v1.ConfigMapVolumeSource", &[]),
    ("io.k8s.api.core.v1.Event", &["metadata", "involvedObject"]),
    ("io.k8s.api.core.v1.LocalObjectReference", &[]),
    ("io.k8s.api.core.v1.SecretEnvSource", &[]),
    ("io.k8s.api.core.v1.SecretKeySelector", &["key"]),
    ("io.k8s.api.core.v1.SecretProjection", &[]),
    ("io.k8s.api.events.v1.Event", &["eventTime"]),
    (
        "io.k8s.api.networking.v1.NetworkPolicySpec",
        &["podSelector"],
    ),
];

/// The `x-kubernetes-group-version-kind` extension value naming one kind.
fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!([{ "group": group, "kind": kind, "version": version }])
}

fn set_gvk(
    definitions: &mut Map<String, Value>,
    name: &str,
    group: &str,
    version: &str,
    kind: &str,
) {
    if let Some(Value::Object(schema)) = definitions.get_mut(name) {
        schema.insert(
            "x-kubernetes-group-version-kind".into(),
            gvk(group, version, kind),
        );
    }
}

/// The schema of a kind's list, shaped like upstream's (`k8s-openapi` models lists with one
/// generic type that has no schema).
fn list_schema(definitions: &Map<String, Value>, kind: &BuiltinKind) -> Value {
    let item_property = |name: &str| {
        definitions
            .get(kind.definition)
            .and_then(|schema| schema.get("properties"))
            .and_then(|properties| properties.get(name))
            .cloned()
            .unwrap_or_else(|| json!({ "type": "string" }))
    };
    json!({
        "description": format!("{}List is a list of {} objects.", kind.kind, kind.kind),
        "type": "object",
        "properties": {
            "apiVersion": item_property("apiVersion"),
            "items": {
                "description": format!("Items is the list of {} objects.", kind.kind),
                "type": "array",
                "items": { "$ref": format!("{REF_PREFIX}{}", kind.definition) },
            },
            "kind": item_property("kind"),
            "metadata": {
                "description": concat!(
                    "Standard list metadata. More info: https://git.k8s.io/community/contributors/",
                    "devel/sig-architecture/api-conventions.md#metadata",
                ),
                "allOf": [{
                    "$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"),
                }],
            },
        },
        "required": ["items"],
    })
}

/// The entries of [`EXTENSIONS`]: (definition, property or `None` for the definition itself,
/// extension name without `x-kubernetes-`, value). Malformed entries are skipped.
fn extensions() -> Vec<(String, Option<&'static str>, &'static str, Value)> {
    let mut entries = Vec::new();
    let mut package = "";
    let mut target = ("", None);
    for line in EXTENSIONS.lines().filter(|line| !line.trim().is_empty()) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            package = section;
            continue;
        }
        let mut tokens = line.split_whitespace();
        if !line.starts_with(char::is_whitespace) {
            let Some(name) = tokens.next() else { continue };
            target = match name.split_once('.') {
                Some((type_name, property)) => (type_name, Some(property)),
                None => (name, None),
            };
        }
        let (type_name, property) = target;
        for token in tokens {
            let Some((key, value)) = token.split_once('=') else {
                continue;
            };
            let value = match key {
                "list-map-keys" => value.split(',').map(|k| Value::String(k.into())).collect(),
                _ => Value::String(value.into()),
            };
            entries.push((format!("{package}.{type_name}"), property, key, value));
        }
    }
    entries
}

/// The schema an [`EXTENSIONS`] entry applies to: a definition or one of its properties.
fn extension_target<'a>(
    definitions: &'a mut Map<String, Value>,
    definition: &str,
    property: Option<&str>,
) -> Option<&'a mut Map<String, Value>> {
    let schema = definitions.get_mut(definition)?;
    let schema = match property {
        Some(property) => schema.get_mut("properties")?.get_mut(property)?,
        None => schema,
    };
    schema.as_object_mut()
}

/// The names of `roots` and of every definition they refer to, directly or not, sorted.
fn reachable<'a>(
    definitions: &Map<String, Value>,
    roots: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut pending: Vec<String> = roots.map(String::from).collect();
    while let Some(name) = pending.pop() {
        let Some(schema) = definitions.get(&name) else {
            continue;
        };
        if seen.insert(name) {
            collect_refs(schema, &mut pending);
        }
    }
    seen.into_iter().collect()
}

/// Pushes the definition names of the `$ref`s in `schema`.
fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(object) => {
            for (key, value) in object {
                // A string, because JSONSchemaProps has a *property* named `$ref`.
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        if let Some(name) = target.strip_prefix(REF_PREFIX) {
                            out.push(name.to_owned());
                        }
                    }
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}

/// Walks a value against a schema, collecting unknown field paths.
struct Walker<'a> {
    definitions: &'a Map<String, Value>,
    found: Vec<String>,
}

impl<'a> Walker<'a> {
    fn walk(&mut self, schema: &'a Value, value: &Value, path: &mut String, depth: usize) {
        if depth > MAX_DEPTH || self.found.len() >= MAX_REPORTED {
            return;
        }
        let Some(schema) = self.resolve(schema) else {
            return;
        };
        match value {
            Value::Object(fields) => {
                if let Some(Value::Object(properties)) = schema.get("properties") {
                    for (key, field) in fields {
                        let len = path.len();
                        push_key(path, key);
                        match properties.get(key) {
                            Some(property) => self.walk(property, field, path, depth + 1),
                            None if self.found.len() < MAX_REPORTED => {
                                self.found.push(path.clone())
                            }
                            None => {}
                        }
                        path.truncate(len);
                    }
                } else if let Some(values @ Value::Object(_)) = schema.get("additionalProperties") {
                    for (key, field) in fields {
                        let len = path.len();
                        push_key(path, key);
                        self.walk(values, field, path, depth + 1);
                        path.truncate(len);
                    }
                }
                // Otherwise a free-form object (RawExtension, FieldsV1, JSON): the Go type keeps
                // it whole, so nothing inside is unknown.
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (index, item) in items.iter().enumerate() {
                        let len = path.len();
                        path.push('[');
                        path.push_str(&index.to_string());
                        path.push(']');
                        self.walk(item_schema, item, path, depth + 1);
                        path.truncate(len);
                    }
                }
            }
            _ => {}
        }
    }

    /// Follows `$ref`s (bare or wrapped in a one-element `allOf`) to the schema that describes
    /// the value, or `None` when the value is opaque to the strict decoder.
    fn resolve(&self, mut schema: &'a Value) -> Option<&'a Map<String, Value>> {
        // References chain at most twice (property -> allOf -> definition); the bound only
        // protects against a reference cycle.
        for _ in 0..8 {
            let object = schema.as_object()?;
            // Types that decode themselves without strictness (IntOrString, Quantity, the CRD
            // schema's JSONSchemaPropsOr*), or that keep any JSON.
            if object.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
                || object.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
                || object.contains_key("oneOf")
            {
                return None;
            }
            if let Some(Value::String(target)) = object.get("$ref") {
                schema = self.definitions.get(target.strip_prefix(REF_PREFIX)?)?;
                continue;
            }
            if let Some(Value::Array(all_of)) = object.get("allOf")
                && let [only] = all_of.as_slice()
            {
                schema = only;
                continue;
            }
            return Some(object);
        }
        None
    }
}

/// Appends a field name to a path the way the strict decoder writes it: dot-separated, with map
/// keys written like field names.
fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

#[cfg(test)]
mod type_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_are_reported_as_go_does() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"replicas": "three", "selector": {"matchLabels": {"a": "b"}}}});
        assert_eq!(
            type_error("apps", "v1", "Deployment", &d).as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
            )
        );
        let ok = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "c", "image": "i", "ports": [{"containerPort": 80}],
             "resources": {"limits": {"cpu": "500m", "memory": 1024}}}]}}}});
        assert_eq!(type_error("apps", "v1", "Deployment", &ok), None);
        let labels = json!({"metadata": {"labels": {"a": 1}}});
        assert!(
            type_error("", "v1", "Pod", &labels)
                .unwrap()
                .contains("of type string")
        );
        let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}]}});
        assert_eq!(type_error("", "v1", "Service", &svc), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema<'a>(schemas: &'a Map<String, Value>, name: &str) -> &'a Value {
        schemas
            .get(name)
            .unwrap_or_else(|| panic!("missing definition {name}"))
    }

    #[test]
    fn deployment_schema_has_descriptions_and_gvk() {
        let schemas = components("apps", "v1");
        let deployment = schema(&schemas, "io.k8s.api.apps.v1.Deployment");
        assert_eq!(
            deployment["x-kubernetes-group-version-kind"],
            json!([{ "group": "apps", "kind": "Deployment", "version": "v1" }])
        );
        assert!(
            deployment["description"]
                .as_str()
                .is_some_and(|d| d.contains("Deployment"))
        );
        let spec = &deployment["properties"]["spec"];
        assert_eq!(
            spec["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
        );
        let strategy =
            &schema(&schemas, "io.k8s.api.apps.v1.DeploymentSpec")["properties"]["strategy"];
        assert!(
            strategy["description"]
                .as_str()
                .is_some_and(|d| d.contains("strategy"))
        );
        assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
        let list = schema(&schemas, "io.k8s.api.apps.v1.DeploymentList");
        assert_eq!(
            list["x-kubernetes-group-version-kind"][0]["kind"],
            "DeploymentList"
        );
        assert!(schemas.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
        assert_eq!(
            schema(
                &schemas,
                "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
            )["x-kubernetes-group-version-kind"],
            json!([{ "group": "apps", "kind": "DeleteOptions", "version": "v1" }])
        );
    }

    #[test]
    fn every_ref_resolves_within_its_group_version() {
        for (group, version) in group_versions() {
            let schemas = components(group, version);
            let mut refs = Vec::new();
            for value in schemas.values() {
                collect_refs(value, &mut refs);
            }
            assert!(!refs.is_empty());
            for name in refs {
                assert!(
                    schemas.contains_key(&name),
                    "{group}/{version}: dangling $ref {name}"
                );
            }
            for kind in KINDS
                .iter()
                .filter(|k| k.group == group && k.version == version)
            {
                assert!(
                    schemas.contains_key(kind.definition),
                    "{} missing",
                    kind.definition
                );
            }
        }
        assert!(components("apps", "v1beta1").is_empty());
    }

    #[test]
    fn no_definition_is_left_as_a_placeholder() {
        // schemars inserts `false` while a recursive schema is being generated.
        for (name, schema) in &registry().definitions {
            assert!(schema.is_object(), "{name} is {schema}");
        }
    }

    #[test]
    fn definition_names_match_the_crate() {
        for (written, generated) in crate_schema_names() {
            assert_eq!(written, generated);
        }
        assert_eq!(
            definition_name("apps", "v1", "Deployment"),
            Some("io.k8s.api.apps.v1.Deployment")
        );
        assert_eq!(
            definition_name("", "v1", "PodList"),
            Some("io.k8s.api.core.v1.PodList")
        );
        assert_eq!(definition_name("", "v1", "BindingList"), None);
        assert_eq!(definition_name("apps", "v2", "Deployment"), None);
        assert_eq!(definition_name("", "v1", "List"), None);
    }

    #[test]
    fn every_extension_lands_on_an_existing_schema() {
        let definitions = &registry().definitions;
        let entries = extensions();
        assert!(
            entries.len() > 300,
            "table parsed to {} entries",
            entries.len()
        );
        for (definition, property, key, value) in entries {
            let schema = schema(definitions, &definition);
            let schema = match property {
                Some(property) => &schema["properties"][property],
                None => schema,
            };
            let found = schema.get(format!("x-kubernetes-{key}"));
            assert_eq!(found, Some(&value), "{definition} {property:?} {key}");
        }
    }

    #[test]
    fn schemas_match_upstream_where_the_crate_differs() {
        let core = components("", "v1");
        assert!(
            schema(&core, "io.k8s.api.core.v1.Pod")
                .get("required")
                .is_none()
        );
        let reference = schema(&core, "io.k8s.api.core.v1.LocalObjectReference");
        assert!(reference.get("required").is_none());
        assert_eq!(
            schema(&core, "io.k8s.api.core.v1.Event")["required"],
            json!(["metadata", "involvedObject"])
        );
        let int_or_string = schema(&core, "io.k8s.apimachinery.pkg.util.intstr.IntOrString");
        assert_eq!(int_or_string["format"], "int-or-string");
        assert!(int_or_string.get("x-kubernetes-int-or-string").is_none());
        let quantity = schema(&core, "io.k8s.apimachinery.pkg.api.resource.Quantity");
        assert_eq!(
            quantity["oneOf"],
            json!([{ "type": "string" }, { "type": "number" }])
        );
        let apps = components("apps", "v1");
        assert_eq!(
            schema(&apps, "io.k8s.api.apps.v1.StatefulSetSpec")["required"],
            json!(["selector", "template", "serviceName"])
        );
    }

    #[test]
    fn list_extensions_on_the_fields_kubectl_merges() {
        let core = components("", "v1");
        let props = |name: &str| schema(&core, name)["properties"].clone();
        let pod_spec = props("io.k8s.api.core.v1.PodSpec");
        for field in ["containers", "initContainers", "volumes"] {
            assert_eq!(
                pod_spec[field]["x-kubernetes-patch-merge-key"], "name",
                "{field}"
            );
            assert_eq!(pod_spec[field]["x-kubernetes-list-type"], "map", "{field}");
            assert_eq!(
                pod_spec[field]["x-kubernetes-list-map-keys"],
                json!(["name"]),
                "{field}"
            );
        }
        assert_eq!(
            pod_spec["volumes"]["x-kubernetes-patch-strategy"],
            "merge,retainKeys"
        );
        let container = props("io.k8s.api.core.v1.Container");
        assert_eq!(
            container["ports"]["x-kubernetes-patch-merge-key"],
            "containerPort"
        );
        assert_eq!(container["env"]["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(
            container["volumeMounts"]["x-kubernetes-patch-merge-key"],
            "mountPath"
        );
        let service_spec = props("io.k8s.api.core.v1.ServiceSpec");
        assert_eq!(
            service_spec["ports"]["x-kubernetes-patch-merge-key"],
            "port"
        );
        assert_eq!(
            service_spec["ports"]["x-kubernetes-list-map-keys"],
            json!(["port", "protocol"])
        );
        let apps = components("apps", "v1");
        let status = &schema(&apps, "io.k8s.api.apps.v1.DeploymentStatus")["properties"];
        assert_eq!(status["conditions"]["x-kubernetes-patch-merge-key"], "type");
        let seccomp = schema(&core, "io.k8s.api.core.v1.SeccompProfile");
        assert_eq!(seccomp["x-kubernetes-unions"][0]["discriminator"], "type");
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "labels": { "app": "web", "tier": "frontend" },
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration":
                        "{\"apiVersion\":\"apps/v1\"}",
                    "deployment.kubernetes.io/revision": "2"
                },
                "uid": "0b7c4c4e-1f5e-4d8c-9e0a-2f1c7c7f5a11",
                "resourceVersion": "1234",
                "generation": 2,
                "creationTimestamp": "2025-01-02T03:04:05Z",
                "finalizers": ["example.com/cleanup"],
                "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Namespace", "name": "default",
                    "uid": "6f1c7c7f-5a11-4d8c-9e0a-0b7c4c4e1f5e", "controller": false
                }],
                "managedFields": [{
                    "manager": "kubectl-client-side-apply",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": "2025-01-02T03:04:05Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": { "f:spec": { "f:replicas": {}, "f:template": { ".": {} } } }
                }]
            },
            "spec": {
                "replicas": 3,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "selector": {
                    "matchLabels": { "app": "web" },
                    "matchExpressions": [
                        { "key": "tier", "operator": "In", "values": ["frontend"] }
                    ]
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": 1 }
                },
                "template": {
                    "metadata": { "labels": { "app": "web", "tier": "frontend" } },
                    "spec": {
                        "containers": [{
                            "name": "nginx",
                            "image": "nginx:1.27",
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["--port", "8080"],
                            "ports": [{ "containerPort": 8080, "name": "http", "protocol": "TCP" }],
                            "env": [
                                { "name": "MODE", "value": "prod" },
                                {
                                    "name": "POD",
                                    "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } }
                                }
                            ],
                            "resources": {
                                "limits": { "cpu": "500m", "memory": "256Mi" },
                                "requests": { "cpu": 0.25, "memory": 134217728 }
                            },
                            "readinessProbe": {
                                "httpGet": { "path": "/healthz", "port": "http" },
                                "periodSeconds": 5
                            },
                            "livenessProbe": { "tcpSocket": { "port": 8080 } },
                            "volumeMounts": [
                                { "name": "config", "mountPath": "/etc/web", "readOnly": true }
                            ],
                            "securityContext": {
                                "runAsNonRoot": true,
                                "capabilities": { "drop": ["ALL"] },
                                "seccompProfile": { "type": "RuntimeDefault" }
                            }
                        }],
                        "volumes": [
                            {
                                "name": "config",
                                "configMap": { "name": "web-config", "defaultMode": 420 }
                            },
                            { "name": "scratch", "emptyDir": { "sizeLimit": "1Gi" } }
                        ],
                        "nodeSelector": { "kubernetes.io/os": "linux" },
                        "tolerations": [
                            { "key": "dedicated", "operator": "Exists", "effect": "NoSchedule" }
                        ],
                        "affinity": {
                            "podAntiAffinity": {
                                "preferredDuringSchedulingIgnoredDuringExecution": [{
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "labelSelector": { "matchLabels": { "app": "web" } },
                                        "topologyKey": "kubernetes.io/hostname"
                                    }
                                }]
                            }
                        },
                        "restartPolicy": "Always",
                        "terminationGracePeriodSeconds": 30,
                        "dnsPolicy": "ClusterFirst"
                    }
                }
            },
            "status": {
                "observedGeneration": 2,
                "replicas": 3,
                "updatedReplicas": 3,
                "readyReplicas": 3,
                "availableReplicas": 3,
                "conditions": [{
                    "type": "Available",
                    "status": "True",
                    "lastUpdateTime": "2025-01-02T03:04:05Z",
                    "lastTransitionTime": "2025-01-02T03:04:05Z",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability."
                }]
            }
        })
    }

    #[test]
    fn valid_objects_have_no_unknown_fields() {
        assert_eq!(
            unknown_fields("apps", "v1", "Deployment", &deployment()),
            Vec::<String>::new()
        );
        let service = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": { "name": "web", "labels": { "app": "web" }, "annotations": { "a": "b" } },
            "spec": {
                "type": "NodePort",
                "selector": { "app": "web" },
                "ports": [
                    {
                        "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP",
                        "nodePort": 30080
                    },
                    { "name": "metrics", "port": 9090, "targetPort": 9090 }
                ],
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "sessionAffinity": "None"
            },
            "status": { "loadBalancer": {} }
        });
        assert_eq!(
            unknown_fields("", "v1", "Service", &service),
            Vec::<String>::new()
        );
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": "web-1", "labels": { "app": "web" }, "annotations": {} },
            "spec": {
                "containers": [{
                    "name": "app",
                    "image": "busybox",
                    "command": ["sh", "-c", "sleep 3600"],
                    "resources": {
                        "requests": { "cpu": "100m", "memory": "64Mi", "nvidia.com/gpu": 1 }
                    },
                    "lifecycle": { "preStop": { "sleep": { "seconds": 5 } } }
                }],
                "initContainers": [
                    { "name": "init", "image": "busybox", "restartPolicy": "Always" }
                ],
                "nodeName": "node-1",
                "serviceAccountName": "default",
                "overhead": { "cpu": "10m" }
            },
            "status": {
                "phase": "Running",
                "podIP": "10.0.0.5",
                "podIPs": [{ "ip": "10.0.0.5" }],
                "hostIP": "192.168.1.10",
                "startTime": "2025-01-02T03:04:05Z",
                "conditions": [{ "type": "Ready", "status": "True", "lastTransitionTime": null }],
                "containerStatuses": [{
                    "name": "app", "ready": true, "restartCount": 0, "image": "busybox",
                    "imageID": "docker.io/library/busybox@sha256:abc",
                    "containerID": "containerd://1",
                    "started": true,
                    "state": { "running": { "startedAt": "2025-01-02T03:04:06Z" } },
                    "allocatedResources": { "cpu": "100m" }
                }],
                "qosClass": "Burstable"
            }
        });
        assert_eq!(unknown_fields("", "v1", "Pod", &pod), Vec::<String>::new());
    }

    #[test]
    fn unknown_fields_are_reported_with_their_paths() {
        let mut object = deployment();
        object["spec"]["foo"] = json!(1);
        object["metadata"]["labelz"] = json!({ "a": "b" });
        object["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = json!("Always");
        object["spec"]["template"]["spec"]["volumes"][1]["emptyDir"]["size"] = json!("1Gi");
        object["status"]["conditions"][0]["severity"] = json!("High");
        let mut found = unknown_fields("apps", "v1", "Deployment", &object);
        found.sort();
        assert_eq!(
            found,
            [
                "metadata.labelz",
                "spec.foo",
                "spec.template.spec.containers[0].imagePullPolcy",
                "spec.template.spec.volumes[1].emptyDir.size",
                "status.conditions[0].severity",
            ]
        );
    }

    #[test]
    fn map_values_are_checked_and_opaque_values_are_not() {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": { "name": "widgets.example.com" },
            "spec": {
                "group": "example.com",
                "names": { "plural": "widgets", "kind": "Widget" },
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": { "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "tpye": "x",
                                "x-kubernetes-preserve-unknown-fields": true
                            },
                            "list": {
                                "type": "array",
                                "items": { "type": "string", "anything": 1 }
                            }
                        },
                        "default": { "free": { "form": true } }
                    }}
                }]
            }
        });
        assert_eq!(
            unknown_fields(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                &crd
            ),
            ["spec.versions[0].schema.openAPIV3Schema.properties.spec.tpye"]
        );
        let revision = json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": { "name": "web-1" }, "revision": 1,
            "data": { "spec": { "template": { "anything": { "goes": [1, 2] } } } }
        });
        assert!(unknown_fields("apps", "v1", "ControllerRevision", &revision).is_empty());
        let list = json!({
            "apiVersion": "v1", "kind": "ConfigMapList", "metadata": { "resourceVersion": "5" },
            "items": [{ "metadata": { "name": "a" }, "data": { "k": "v" }, "bogus": true }]
        });
        assert_eq!(
            unknown_fields("", "v1", "ConfigMapList", &list),
            ["items[0].bogus"]
        );
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        assert!(unknown_fields("example.com", "v1", "Widget", &json!({ "a": 1 })).is_empty());
        for value in [
            json!(null),
            json!("x"),
            json!([1, 2]),
            json!({ "spec": "wrong type" }),
        ] {
            assert!(unknown_fields("apps", "v1", "Deployment", &value).is_empty());
        }
        let many: Map<String, Value> = (0..300).map(|i| (format!("f{i}"), json!(i))).collect();
        let found = unknown_fields("", "v1", "ConfigMap", &Value::Object(many));
        assert_eq!(found.len(), MAX_REPORTED);
        let mut deep = json!("leaf");
        for _ in 0..300 {
            deep = json!({ "properties": { "x": deep } });
        }
        let crd = json!({ "spec": { "versions": [{ "schema": { "openAPIV3Schema": deep } }] } });
        let _ = unknown_fields(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            &crd,
        );
    }

    #[test]
    fn generation_time() {
        let start = std::time::Instant::now();
        let fresh = build_registry();
        let generated = start.elapsed();
        let per_group_version: Vec<usize> = fresh
            .group_versions
            .iter()
            .map(|(_, _, names)| names.len())
            .collect();
        let _ = registry();
        let start = std::time::Instant::now();
        let core = components("", "v1");
        let copied = start.elapsed();
        let object = deployment();
        let start = std::time::Instant::now();
        let found = unknown_fields("apps", "v1", "Deployment", &object);
        let checked = start.elapsed();
        println!(
            "generated {} definitions ({per_group_version:?} per group version) in {generated:?}; \
             components(\"\", \"v1\") ({} schemas) copied in {copied:?}; \
             a Deployment checked in {checked:?}",
            fresh.definitions.len(),
            core.len(),
        );
        assert!(found.is_empty());
    }
}
