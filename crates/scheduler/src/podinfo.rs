//! What the scheduler derives from a pod once (its requests, host ports, parsed affinity
//! terms), so that no scheduling cycle parses a pod again.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};

use crate::resources::{Resource, pod_requests};
use crate::selector::{Labels, Selector, pod_labels};

/// The namespaces an affinity term (or a counter) applies to: listed names, or those whose
/// labels match a namespace selector.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NamespaceScope {
    /// Sorted.
    pub names: Vec<String>,
    pub selector: Option<Selector>,
}

impl NamespaceScope {
    pub fn one(namespace: &str) -> Self {
        Self {
            names: vec![namespace.to_owned()],
            selector: None,
        }
    }

    /// `labels_of` gives a namespace's labels (from the namespace informer).
    pub fn matches<'a>(
        &self,
        namespace: &str,
        labels_of: &dyn Fn(&str) -> Option<&'a Labels>,
    ) -> bool {
        if self.names.iter().any(|n| n == namespace) {
            return true;
        }
        match &self.selector {
            None => false,
            Some(s) => s.is_empty() || labels_of(namespace).is_some_and(|l| s.matches(l)),
        }
    }
}

/// A pod (anti-)affinity term, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityTerm {
    pub scope: NamespaceScope,
    pub selector: Selector,
    pub topology_key: String,
}

impl AffinityTerm {
    fn parse(pod_namespace: &str, t: &PodAffinityTerm) -> Self {
        let names = t.namespaces.clone().unwrap_or_default();
        let scope = if names.is_empty() && t.namespace_selector.is_none() {
            NamespaceScope::one(pod_namespace)
        } else {
            let mut names = names;
            names.sort();
            NamespaceScope {
                names,
                selector: t
                    .namespace_selector
                    .as_ref()
                    .map(|s| Selector::from_label_selector(Some(s))),
            }
        };
        Self {
            scope,
            selector: Selector::from_label_selector(t.label_selector.as_ref()),
            topology_key: t.topology_key.clone(),
        }
    }

    /// Whether the term selects `pod`.
    pub fn matches<'a>(
        &self,
        pod: &PodInfo,
        labels_of: &dyn Fn(&str) -> Option<&'a Labels>,
    ) -> bool {
        self.scope.matches(&pod.namespace, labels_of) && self.selector.matches(pod.labels())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedTerm {
    pub term: AffinityTerm,
    pub weight: i64,
}

/// A host port a pod uses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    /// Upstream's `HostPortInfo.CheckConflict`: same protocol and port, and the same address or
    /// either one the wildcard.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// A pod and what scheduling needs from it.
#[derive(Debug)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    /// `namespace/name`.
    pub key: String,
    pub namespace: String,
    pub name: String,
    pub requests: Resource,
    /// The requests with the defaults for containers without CPU or memory requests.
    pub non_zero: Resource,
    pub host_ports: Vec<HostPort>,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedTerm>,
    pub preferred_anti_affinity: Vec<WeightedTerm>,
    /// Being deleted (a deletionTimestamp is set).
    pub terminating: bool,
}

/// `namespace/name` of a pod.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> Self {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.as_ref();
        let mut host_ports = Vec::new();
        for c in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
            for p in c.ports.iter().flatten() {
                if let Some(hp) = p.host_port.filter(|p| *p > 0) {
                    host_ports.push(HostPort {
                        ip: p
                            .host_ip
                            .clone()
                            .filter(|ip| !ip.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".into()),
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        port: hp,
                    });
                }
            }
        }
        let affinity = spec.and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| AffinityTerm::parse(&namespace, t))
                .collect()
        };
        let preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>| -> Vec<WeightedTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| WeightedTerm {
                    term: AffinityTerm::parse(&namespace, &t.pod_affinity_term),
                    weight: i64::from(t.weight),
                })
                .collect()
        };
        Self {
            key: format!("{namespace}/{name}"),
            requests: pod_requests(&pod, false),
            non_zero: pod_requests(&pod, true),
            host_ports,
            required_affinity: required(pa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti_affinity: required(paa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_affinity: preferred(pa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_anti_affinity: preferred(paa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            namespace,
            name,
            pod,
        }
    }

    pub fn labels(&self) -> &Labels {
        pod_labels(&self.pod)
    }

    /// Upstream's `PodsWithAffinity`: the pod declares pod affinity or anti-affinity.
    pub fn has_affinity(&self) -> bool {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
    }

    pub fn node_name(&self) -> Option<&str> {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
    }

    pub fn priority(&self) -> i32 {
        self.pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
    }
}
