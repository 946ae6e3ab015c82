//! Resource arithmetic as the scheduler counts it: a pod's requests (upstream's
//! `resourcehelper.PodRequests`: the sum of its containers, the largest init container, sidecars
//! added up, plus the overhead) and a node's allocatable, in CPU millis and whole units.

use std::collections::BTreeMap;

use barge_api::quantity::Quantity as Parsed;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The CPU a container without a CPU request counts as when scoring (upstream's
/// `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The memory a container without a memory request counts as when scoring (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// An amount of every resource the scheduler tracks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// How many pods (meaningful in a node's allocatable only).
    pub allowed_pods: i64,
    /// Extended resources, hugepages and the like, by name.
    pub scalar: BTreeMap<String, i64>,
}

/// Whether a resource name is one the scheduler counts as a scalar (extended resources such as
/// `example.com/gpu`, `hugepages-2Mi`, `attachable-volumes-*`).
pub fn is_scalar(name: &str) -> bool {
    (name.contains('/') && !name.starts_with("requests."))
        || name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
}

fn clamp(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A quantity in thousandths (CPU); 0 if it does not parse.
pub fn milli_value(q: &Quantity) -> i64 {
    Parsed::parse(&q.0)
        .map(|p| clamp(p.milli_value()))
        .unwrap_or(0)
}

/// A quantity rounded up to a whole number; 0 if it does not parse.
pub fn value(q: &Quantity) -> i64 {
    Parsed::parse(&q.0).map(|p| clamp(p.value())).unwrap_or(0)
}

impl Resource {
    /// The resources of a resource list (node allocatable, container requests).
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Self {
        let mut r = Self::default();
        r.add_list(list);
        r
    }

    fn add_list(&mut self, list: Option<&BTreeMap<String, Quantity>>) {
        for (name, q) in list.into_iter().flatten() {
            match name.as_str() {
                "cpu" => self.milli_cpu = self.milli_cpu.saturating_add(milli_value(q)),
                "memory" => self.memory = self.memory.saturating_add(value(q)),
                "ephemeral-storage" => {
                    self.ephemeral_storage = self.ephemeral_storage.saturating_add(value(q))
                }
                "pods" => self.allowed_pods = self.allowed_pods.saturating_add(value(q)),
                n if is_scalar(n) => {
                    let e = self.scalar.entry(n.to_owned()).or_default();
                    *e = e.saturating_add(value(q));
                }
                _ => {}
            }
        }
    }

    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        self.allowed_pods = self.allowed_pods.saturating_add(other.allowed_pods);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = e.saturating_add(*v);
        }
    }

    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        self.allowed_pods = self.allowed_pods.saturating_sub(other.allowed_pods);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = e.saturating_sub(*v);
        }
        self.scalar.retain(|_, v| *v != 0);
    }

    fn max(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }

    /// A node's allocatable.
    pub fn allocatable(node: &k8s_openapi::api::core::v1::Node) -> Self {
        Self::from_list(node.status.as_ref().and_then(|s| s.allocatable.as_ref()))
    }
}

fn container_requests(c: &Container, non_zero: bool) -> Resource {
    let list = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    let mut r = Resource::from_list(list);
    if non_zero {
        let has = |n: &str| list.is_some_and(|l| l.contains_key(n));
        if !has("cpu") {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !has("memory") {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

/// A pod's requests as upstream computes them for scheduling. With `non_zero`, a container
/// without a CPU or memory request counts the defaults (used for scoring, not for fitting).
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resource {
    let Some(spec) = pod.spec.as_ref() else {
        return Resource::default();
    };
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&container_requests(c, non_zero));
    }
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let own = container_requests(c, non_zero);
        let effective = if c.restart_policy.as_deref() == Some("Always") {
            reqs.add(&own);
            sidecars.add(&own);
            sidecars.clone()
        } else {
            let mut t = own;
            t.add(&sidecars);
            t
        };
        init_max.max(&effective);
    }
    reqs.max(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        let mut o = Resource::from_list(Some(overhead));
        o.allowed_pods = 0;
        reqs.add(&o);
    }
    reqs.allowed_pods = 0;
    reqs
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

    fn container(cpu: &str, mem: &str, sidecar: bool) -> Container {
        let mut req = BTreeMap::new();
        if !cpu.is_empty() {
            req.insert("cpu".to_owned(), Quantity(cpu.into()));
        }
        if !mem.is_empty() {
            req.insert("memory".to_owned(), Quantity(mem.into()));
        }
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: Some(req),
                ..Default::default()
            }),
            restart_policy: sidecar.then(|| "Always".to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn requests_take_the_largest_init_container_and_add_sidecars_and_overhead() {
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![
                    container("500m", "1Gi", false),
                    container("250m", "", false),
                ],
                init_containers: Some(vec![
                    container("2", "100Mi", false),
                    container("100m", "64Mi", true),
                    container("1", "3Gi", false),
                ]),
                overhead: Some(BTreeMap::from([("cpu".to_owned(), Quantity("10m".into()))])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = pod_requests(&pod, false);
        // containers 750m + sidecar 100m = 850m; first init 2000m; max 2000m; + overhead 10m.
        assert_eq!(r.milli_cpu, 2010);
        // containers 1Gi + sidecar 64Mi; last init 3Gi + 64Mi sidecar → max is 3Gi+64Mi.
        assert_eq!(r.memory, 3 * 1024 * 1024 * 1024 + 64 * 1024 * 1024);
        let nz = pod_requests(&pod, true);
        // the second container has no memory request: counts 200Mi for scoring.
        assert_eq!(
            nz.memory,
            3 * 1024 * 1024 * 1024 + 64 * 1024 * 1024,
            "init max still dominates"
        );
        let bare = Pod {
            spec: Some(PodSpec {
                containers: vec![container("", "", false)],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(pod_requests(&bare, false).is_zero());
        let nz = pod_requests(&bare, true);
        assert_eq!((nz.milli_cpu, nz.memory), (100, DEFAULT_MEMORY_REQUEST));
    }
}
