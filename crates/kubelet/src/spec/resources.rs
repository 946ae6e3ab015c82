//! QoS class, pod cgroup parent and Linux resources, as upstream computes them
//! (`pkg/apis/core/v1/helper/qos`, `pkg/kubelet/cm` pod container names and
//! `MilliCPUToShares`/`MilliCPUToQuota`, `pkg/kubelet/qos` OOM score adjustment,
//! `kuberuntime_container_linux.go`, `kuberuntime_sandbox_linux.go`).
//!
//! Differs from upstream:
//! - quantities are summed in milli units (CPU) and whole units (memory), each rounded up as
//!   upstream's `MilliValue`/`Value` round; a quantity that does not parse counts as absent
//!   (upstream cannot hold one: it fails to decode the pod);
//! - [`container_oom_score_adj`] is upstream's value, but the configs carry it clamped at 0,
//!   because this machine cannot lower `oom_score_adj` (no CAP_SYS_RESOURCE);
//! - no MemoryQoS (cgroup v2 `memory.min`/`memory.high`), pod-level resources or exclusive
//!   CPUs: all are off by default in 1.32 or need a CPU manager.

use std::collections::BTreeMap;

use barge_api::quantity::Quantity as Q;
use k8s_cri::v1::{HugepageLimit, LinuxContainerResources};
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::NodeContext;

pub const GUARANTEED: &str = "Guaranteed";
pub const BURSTABLE: &str = "Burstable";
pub const BEST_EFFORT: &str = "BestEffort";

/// Upstream's `MinShares`, `MaxShares`, `SharesPerCPU`.
pub const MIN_SHARES: i64 = 2;
pub const MAX_SHARES: i64 = 262_144;
pub const SHARES_PER_CPU: i64 = 1024;
/// The CFS period, 100 ms in microseconds (`QuotaPeriod`), and the smallest quota.
pub const QUOTA_PERIOD: i64 = 100_000;
pub const MIN_QUOTA_PERIOD: i64 = 1000;

/// Upstream's OOM score adjustments.
const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
const BEST_EFFORT_OOM_SCORE_ADJ: i64 = 1000;

/// What a container without a request counts as in the sidecar OOM heuristic
/// (`schedulerutil.DefaultMilliCPURequest`, `DefaultMemoryRequest`).
const DEFAULT_MEMORY_REQUEST: i128 = 200 * 1024 * 1024;

fn parse(q: &Quantity) -> Option<Q> {
    Q::parse(&q.0).ok()
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A resource of a list, in milli units for `cpu` and whole units otherwise; `None` when
/// the list does not name it.
fn amount(list: Option<&BTreeMap<String, Quantity>>, name: &str) -> Option<i128> {
    let q = parse(list?.get(name)?)?;
    Some(if name == "cpu" {
        q.milli_value()
    } else {
        q.value()
    })
}

fn requests(c: &Container) -> Option<&BTreeMap<String, Quantity>> {
    c.resources.as_ref()?.requests.as_ref()
}

fn limits(c: &Container) -> Option<&BTreeMap<String, Quantity>> {
    c.resources.as_ref()?.limits.as_ref()
}

fn is_restartable_init(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Upstream's `MilliCPUToShares`: 1024 per CPU, at least 2 (also for no request), at most
/// 262144.
pub fn milli_cpu_to_shares(milli_cpu: i64) -> i64 {
    if milli_cpu == 0 {
        return MIN_SHARES;
    }
    let shares = milli_cpu.saturating_mul(SHARES_PER_CPU) / 1000;
    shares.clamp(MIN_SHARES, MAX_SHARES)
}

/// Upstream's `milliCPUToQuota`: 0 (no limit) for 0, else the share of `period`, at least
/// 1000 µs.
pub fn milli_cpu_to_quota(milli_cpu: i64, period: i64) -> i64 {
    if milli_cpu == 0 {
        return 0;
    }
    (milli_cpu.saturating_mul(period) / 1000).max(MIN_QUOTA_PERIOD)
}

/// The pod's QoS class: `status.qosClass` when set (upstream's `GetPodQOS`), else computed.
pub fn qos_class(pod: &Pod) -> &'static str {
    match pod.status.as_ref().and_then(|s| s.qos_class.as_deref()) {
        Some(GUARANTEED) => GUARANTEED,
        Some(BURSTABLE) => BURSTABLE,
        Some(BEST_EFFORT) => BEST_EFFORT,
        _ => compute_qos_class(pod),
    }
}

/// Upstream's `ComputePodQOS`: over containers and init containers, only CPU and memory;
/// BestEffort without any positive request or limit; Guaranteed when every container has
/// positive CPU and memory limits and the summed requests equal the summed limits.
pub fn compute_qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = &pod.spec else {
        return BEST_EFFORT;
    };
    let mut reqs: BTreeMap<&str, i128> = BTreeMap::new();
    let mut lims: BTreeMap<&str, i128> = BTreeMap::new();
    let mut guaranteed = true;
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for name in ["cpu", "memory"] {
            if let Some(v) = amount(requests(c), name).filter(|v| *v > 0) {
                *reqs.entry(name).or_default() += v;
            }
        }
        let mut found = 0;
        for name in ["cpu", "memory"] {
            if let Some(v) = amount(limits(c), name).filter(|v| *v > 0) {
                *lims.entry(name).or_default() += v;
                found += 1;
            }
        }
        if found < 2 {
            guaranteed = false;
        }
    }
    if reqs.is_empty() && lims.is_empty() {
        return BEST_EFFORT;
    }
    if guaranteed && reqs.iter().any(|(name, req)| lims.get(name) != Some(req)) {
        guaranteed = false;
    }
    if guaranteed && reqs.len() == lims.len() {
        GUARANTEED
    } else {
        BURSTABLE
    }
}

/// The pod's cgroup (cgroupfs driver) under `cgroup_root`: `ROOT/kubepods/pod<uid>` for
/// Guaranteed, `ROOT/kubepods/burstable/pod<uid>`, `ROOT/kubepods/besteffort/pod<uid>`.
pub fn cgroup_parent(pod: &Pod, cgroup_root: &str) -> String {
    let mut parts: Vec<&str> = cgroup_root.split('/').filter(|p| !p.is_empty()).collect();
    parts.push("kubepods");
    match qos_class(pod) {
        BURSTABLE => parts.push("burstable"),
        BEST_EFFORT => parts.push("besteffort"),
        _ => {}
    }
    let uid = format!("pod{}", pod.metadata.uid.as_deref().unwrap_or(""));
    parts.push(&uid);
    format!("/{}", parts.join("/"))
}

/// Upstream's `IsNodeCriticalPod`: a critical pod (static, mirror, or priority at least
/// 2000000000) of priority class `system-node-critical`.
fn is_node_critical(pod: &Pod) -> bool {
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.priority_class_name.as_deref()) != Some("system-node-critical") {
        return false;
    }
    let annotations = pod.metadata.annotations.as_ref();
    let is_static = annotations
        .and_then(|a| a.get("kubernetes.io/config.source"))
        .is_some_and(|s| s != "api");
    let is_mirror = annotations.is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    let priority = spec.and_then(|s| s.priority).unwrap_or(0);
    is_static || is_mirror || priority >= 2_000_000_000
}

/// Upstream's `GetContainerOOMScoreAdjust` (may be negative: Guaranteed and node-critical
/// pods get -997). `memory_capacity` is the machine's memory in bytes.
pub fn container_oom_score_adj(pod: &Pod, container: &Container, memory_capacity: i64) -> i64 {
    if is_node_critical(pod) {
        return GUARANTEED_OOM_SCORE_ADJ;
    }
    match qos_class(pod) {
        GUARANTEED => return GUARANTEED_OOM_SCORE_ADJ,
        BEST_EFFORT => return BEST_EFFORT_OOM_SCORE_ADJ,
        _ => {}
    }
    let capacity = i128::from(memory_capacity.max(1));
    let own = amount(requests(container), "memory").unwrap_or(0);
    let mut adj = 1000 - (1000 * own) / capacity;
    let sidecar = pod.spec.as_ref().is_some_and(|s| {
        s.init_containers
            .iter()
            .flatten()
            .any(|c| c.name == container.name && is_restartable_init(c))
    });
    if sidecar {
        // A sidecar scores from the smallest memory request among the regular containers
        // and itself (missing requests count as 200Mi), and one point higher when that
        // smallest request is not above its own.
        let defaulted =
            |c: &Container| amount(requests(c), "memory").unwrap_or(DEFAULT_MEMORY_REQUEST);
        let regular_min = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.iter().map(defaulted).min());
        let min = regular_min.map_or(defaulted(container), |m| m.min(defaulted(container)));
        adj = 1000 - (1000 * min) / capacity;
        if min <= own {
            adj += 1;
        }
    }
    if adj < i128::from(1000 + GUARANTEED_OOM_SCORE_ADJ) {
        return 1000 + GUARANTEED_OOM_SCORE_ADJ;
    }
    if adj == i128::from(BEST_EFFORT_OOM_SCORE_ADJ) {
        return clamp_i64(adj - 1);
    }
    clamp_i64(adj)
}

/// Upstream's `calculateLinuxResources`: shares from the CPU request (from the limit when no
/// request is given), quota from the CPU limit, the memory limit.
fn calculate(
    cpu_request: Option<i64>,
    cpu_limit: i64,
    memory_limit: i64,
    node: &NodeContext,
) -> LinuxContainerResources {
    let mut r = LinuxContainerResources {
        cpu_shares: milli_cpu_to_shares(cpu_request.unwrap_or(cpu_limit)),
        memory_limit_in_bytes: memory_limit,
        ..Default::default()
    };
    if node.cpu_cfs_quota {
        r.cpu_period = QUOTA_PERIOD;
        r.cpu_quota = milli_cpu_to_quota(cpu_limit, QUOTA_PERIOD);
    }
    r
}

/// The container's Linux resources: shares, quota and period, memory limit, OOM score
/// adjustment (never negative here), hugepage limits for the node's page sizes, and on cgroup
/// v1 with swap accounting a memory+swap limit equal to the memory limit (no swap).
pub fn linux_container_resources(
    pod: &Pod,
    container: &Container,
    node: &NodeContext,
) -> LinuxContainerResources {
    let cpu_request = amount(requests(container), "cpu").map(clamp_i64);
    let cpu_limit = amount(limits(container), "cpu").map_or(0, clamp_i64);
    let memory_limit = amount(limits(container), "memory").map_or(0, clamp_i64);
    let mut r = calculate(cpu_request, cpu_limit, memory_limit, node);
    r.oom_score_adj = container_oom_score_adj(pod, container, node.memory_capacity).max(0);
    r.hugepage_limits = hugepage_limits(container, &node.hugepage_sizes);
    if node.memory_swap_accounting {
        r.memory_swap_limit_in_bytes = r.memory_limit_in_bytes;
    }
    r
}

/// Upstream's `HugePageUnitSizeFromByteSize`: `2097152` → `2MB`.
fn hugepage_unit_size(mut size: i128) -> Option<String> {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    if size <= 0 {
        return None;
    }
    let mut idx = 0;
    while size % 1024 == 0 && idx < UNITS.len() - 1 {
        size /= 1024;
        idx += 1;
    }
    if size > 1024 && idx < UNITS.len() - 1 {
        return None;
    }
    Some(format!("{size}{}", UNITS[idx]))
}

/// Upstream's `GetHugepageLimitsFromResources`: one entry per page size of the node, 0
/// unless the container limits `hugepages-<size>`.
pub fn hugepage_limits(container: &Container, page_sizes: &[String]) -> Vec<HugepageLimit> {
    let mut wanted: BTreeMap<String, u64> = BTreeMap::new();
    for (name, q) in limits(container).into_iter().flatten() {
        let Some(size) = name.strip_prefix("hugepages-") else {
            continue;
        };
        let (Some(size), Some(amount)) = (Q::parse(size).ok(), parse(q)) else {
            continue;
        };
        if let Some(unit) = hugepage_unit_size(size.value()) {
            wanted.insert(unit, u64::try_from(amount.value()).unwrap_or(0));
        }
    }
    page_sizes
        .iter()
        .map(|size| HugepageLimit {
            page_size: size.clone(),
            limit: wanted.get(size).copied().unwrap_or(0),
        })
        .collect()
}

/// Requests or limits summed over the pod as upstream's `PodRequests`/`PodLimits` sum them
/// (without overhead): regular and restartable init containers add up, and the pod needs at
/// least what each init container needs next to the sidecars started before it. `None` for a
/// resource no container names.
fn pod_totals(
    pod: &Pod,
    list: fn(&Container) -> Option<&BTreeMap<String, Quantity>>,
    name: &str,
) -> Option<i128> {
    let spec = pod.spec.as_ref()?;
    let mut total: Option<i128> = None;
    let add = |acc: &mut Option<i128>, v: Option<i128>| {
        if let Some(v) = v {
            *acc = Some(acc.unwrap_or(0) + v);
        }
    };
    for c in &spec.containers {
        add(&mut total, amount(list(c), name));
    }
    let mut sidecars: Option<i128> = None;
    let mut init_max: Option<i128> = None;
    for c in spec.init_containers.iter().flatten() {
        let own = amount(list(c), name);
        let need = if is_restartable_init(c) {
            add(&mut total, own);
            add(&mut sidecars, own);
            sidecars
        } else {
            let mut need = None;
            add(&mut need, own);
            add(&mut need, sidecars);
            need
        };
        if let Some(n) = need {
            init_max = Some(init_max.map_or(n, |m| m.max(n)));
        }
    }
    if let Some(m) = init_max {
        total = Some(total.map_or(m, |t| t.max(m)));
    }
    total
}

/// The sandbox's `resources` (the pod's summed requests and limits) and `overhead`, as
/// upstream's `applySandboxResources` sets them.
pub fn sandbox_resources(
    pod: &Pod,
    node: &NodeContext,
) -> (LinuxContainerResources, LinuxContainerResources) {
    let cpu_request = pod_totals(pod, requests, "cpu").map(clamp_i64);
    let cpu_limit = pod_totals(pod, limits, "cpu").map_or(0, clamp_i64);
    let memory_limit = pod_totals(pod, limits, "memory").map_or(0, clamp_i64);
    let resources = calculate(cpu_request, cpu_limit, memory_limit, node);
    let overhead = match pod.spec.as_ref().and_then(|s| s.overhead.as_ref()) {
        Some(o) => {
            let cpu = amount(Some(o), "cpu").map_or(0, clamp_i64);
            let memory = amount(Some(o), "memory").map_or(0, clamp_i64);
            calculate(Some(cpu), cpu, memory, node)
        }
        None => LinuxContainerResources::default(),
    };
    (resources, overhead)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn with_containers(containers: serde_json::Value, init: serde_json::Value) -> Pod {
        pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": containers, "initContainers": init}
        }))
    }

    fn res(req: serde_json::Value, lim: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"requests": req, "limits": lim})
    }

    #[test]
    fn shares_and_quota_follow_upstream() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(100), 102);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_shares(1_000_000), MAX_SHARES);
        assert_eq!(milli_cpu_to_quota(0, QUOTA_PERIOD), 0);
        assert_eq!(milli_cpu_to_quota(5, QUOTA_PERIOD), 1000);
        assert_eq!(milli_cpu_to_quota(250, QUOTA_PERIOD), 25_000);
        assert_eq!(milli_cpu_to_quota(2000, QUOTA_PERIOD), 200_000);
    }

    #[test]
    fn qos_classes() {
        let be = with_containers(serde_json::json!([{"name": "a"}]), serde_json::json!([]));
        assert_eq!(qos_class(&be), BEST_EFFORT);
        let g = with_containers(
            serde_json::json!([{"name": "a", "resources": res(
                serde_json::json!({"cpu": "500m", "memory": "64Mi"}),
                serde_json::json!({"cpu": "0.5", "memory": "64Mi"}))}]),
            serde_json::json!([]),
        );
        assert_eq!(qos_class(&g), GUARANTEED);
        // Limits only, requests not defaulted from them (the API server would): upstream
        // counts the unequal number of requests and limits as Burstable.
        let b0 = with_containers(
            serde_json::json!([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]),
            serde_json::json!([]),
        );
        assert_eq!(qos_class(&b0), BURSTABLE);
        let b = with_containers(
            serde_json::json!([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]),
            serde_json::json!([]),
        );
        assert_eq!(qos_class(&b), BURSTABLE);
        // An init container without limits makes a Guaranteed-looking pod Burstable.
        let b2 = with_containers(
            serde_json::json!([{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]),
            serde_json::json!([{"name": "i", "resources": {"requests": {"cpu": "1"}}}]),
        );
        assert_eq!(qos_class(&b2), BURSTABLE);
        // Requests unequal to limits.
        let b3 = with_containers(
            serde_json::json!([{"name": "a", "resources": res(
                serde_json::json!({"cpu": "100m", "memory": "64Mi"}),
                serde_json::json!({"cpu": "200m", "memory": "64Mi"}))}]),
            serde_json::json!([]),
        );
        assert_eq!(qos_class(&b3), BURSTABLE);
        // Other resources do not count; zero requests do not count.
        let be2 = with_containers(
            serde_json::json!([{"name": "a", "resources": {"requests": {"cpu": "0", "ephemeral-storage": "1Gi"}}}]),
            serde_json::json!([]),
        );
        assert_eq!(qos_class(&be2), BEST_EFFORT);
        // The status wins.
        let mut s = be.clone();
        s.status =
            Some(serde_json::from_value(serde_json::json!({"qosClass": "Burstable"})).unwrap());
        assert_eq!(qos_class(&s), BURSTABLE);
        assert_eq!(compute_qos_class(&s), BEST_EFFORT);
    }

    #[test]
    fn cgroup_parents_per_qos() {
        let be = with_containers(serde_json::json!([{"name": "a"}]), serde_json::json!([]));
        assert_eq!(
            cgroup_parent(&be, "/barge"),
            "/barge/kubepods/besteffort/podu1"
        );
        assert_eq!(cgroup_parent(&be, "/"), "/kubepods/besteffort/podu1");
        let b = with_containers(
            serde_json::json!([{"name": "a", "resources": {"requests": {"memory": "1Mi"}}}]),
            serde_json::json!([]),
        );
        assert_eq!(
            cgroup_parent(&b, "/barge/"),
            "/barge/kubepods/burstable/podu1"
        );
        let g = with_containers(
            serde_json::json!([{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]),
            serde_json::json!([]),
        );
        assert_eq!(cgroup_parent(&g, "barge"), "/barge/kubepods/podu1");
    }

    #[test]
    fn oom_score_adj() {
        const GIB: i64 = 1 << 30;
        let g = with_containers(
            serde_json::json!([{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]),
            serde_json::json!([]),
        );
        assert_eq!(
            container_oom_score_adj(&g, &g.spec.as_ref().unwrap().containers[0], GIB),
            -997
        );
        let be = with_containers(serde_json::json!([{"name": "a"}]), serde_json::json!([]));
        assert_eq!(
            container_oom_score_adj(&be, &be.spec.as_ref().unwrap().containers[0], GIB),
            1000
        );
        let b = with_containers(
            serde_json::json!([
                {"name": "a", "resources": {"requests": {"memory": "256Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "1"}}},
                {"name": "c", "resources": {"requests": {"memory": "2Gi"}}}
            ]),
            serde_json::json!([]),
        );
        let cs = &b.spec.as_ref().unwrap().containers;
        assert_eq!(container_oom_score_adj(&b, &cs[0], 4 * GIB), 938);
        // No memory request: 1000 becomes 999 (above BestEffort's victims).
        assert_eq!(container_oom_score_adj(&b, &cs[1], 4 * GIB), 999);
        // Requesting more than the machine: at least 3.
        assert_eq!(container_oom_score_adj(&b, &cs[2], GIB), 3);
    }

    #[test]
    fn sidecar_oom_score_follows_smallest_regular_container() {
        const GIB: i64 = 1 << 30;
        let p = with_containers(
            serde_json::json!([{"name": "a", "resources": {"requests": {"memory": "512Mi"}}}]),
            serde_json::json!([{"name": "side", "restartPolicy": "Always", "resources": {"requests": {"memory": "1Gi"}}}]),
        );
        let side = &p.spec.as_ref().unwrap().init_containers.as_ref().unwrap()[0];
        // min(512Mi, 1Gi) = 512Mi → 1000 - 125 = 875, +1 since 512Mi <= 1Gi.
        assert_eq!(container_oom_score_adj(&p, side, 4 * GIB), 876);
    }

    #[test]
    fn node_critical_pods_get_guaranteed_score() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"priorityClassName": "system-node-critical", "priority": 2000001000,
                     "containers": [{"name": "a"}]}
        }));
        assert_eq!(
            container_oom_score_adj(&p, &p.spec.as_ref().unwrap().containers[0], 1 << 30),
            -997
        );
    }

    #[test]
    fn container_resources() {
        let node = NodeContext {
            memory_capacity: 1 << 32,
            hugepage_sizes: vec!["2MB".into(), "1GB".into()],
            ..NodeContext::default()
        };
        let p = with_containers(
            serde_json::json!([
                {"name": "a", "resources": res(
                    serde_json::json!({"cpu": "250m", "memory": "64Mi"}),
                    serde_json::json!({"cpu": "500m", "memory": "128Mi", "hugepages-2Mi": "4Mi"}))},
                {"name": "b", "resources": {"limits": {"cpu": "2"}}},
                {"name": "c"}
            ]),
            serde_json::json!([]),
        );
        let cs = &p.spec.as_ref().unwrap().containers;
        let a = linux_container_resources(&p, &cs[0], &node);
        assert_eq!(a.cpu_shares, 256);
        assert_eq!(a.cpu_quota, 50_000);
        assert_eq!(a.cpu_period, 100_000);
        assert_eq!(a.memory_limit_in_bytes, 128 << 20);
        assert_eq!(a.oom_score_adj, 985);
        assert_eq!(
            a.hugepage_limits,
            [
                HugepageLimit {
                    page_size: "2MB".into(),
                    limit: 4 << 20
                },
                HugepageLimit {
                    page_size: "1GB".into(),
                    limit: 0
                }
            ]
        );
        assert_eq!(a.memory_swap_limit_in_bytes, 0);
        // No request but a limit: shares from the limit.
        let b = linux_container_resources(&p, &cs[1], &node);
        assert_eq!(b.cpu_shares, 2048);
        assert_eq!(b.cpu_quota, 200_000);
        assert_eq!(b.memory_limit_in_bytes, 0);
        // Nothing: the minimum shares, no quota.
        let c = linux_container_resources(&p, &cs[2], &node);
        assert_eq!(c.cpu_shares, 2);
        assert_eq!(c.cpu_quota, 0);
        assert_eq!(c.cpu_period, 100_000);
        // Without CFS quota: no period either; with swap accounting: memsw = limit.
        let node2 = NodeContext {
            cpu_cfs_quota: false,
            memory_swap_accounting: true,
            ..node.clone()
        };
        let a2 = linux_container_resources(&p, &cs[0], &node2);
        assert_eq!((a2.cpu_quota, a2.cpu_period), (0, 0));
        assert_eq!(a2.memory_swap_limit_in_bytes, 128 << 20);
    }

    #[test]
    fn guaranteed_containers_never_get_a_negative_oom_score() {
        let p = with_containers(
            serde_json::json!([{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]),
            serde_json::json!([]),
        );
        let r = linux_container_resources(
            &p,
            &p.spec.as_ref().unwrap().containers[0],
            &NodeContext::default(),
        );
        assert_eq!(r.oom_score_adj, 0);
        assert_eq!(r.cpu_shares, 1024);
    }

    #[test]
    fn best_effort_gets_two_shares() {
        let p = with_containers(serde_json::json!([{"name": "a"}]), serde_json::json!([]));
        let r = linux_container_resources(
            &p,
            &p.spec.as_ref().unwrap().containers[0],
            &NodeContext::default(),
        );
        assert_eq!(r.cpu_shares, 2);
        assert_eq!(r.oom_score_adj, 1000);
    }

    #[test]
    fn hugepage_unit_sizes() {
        assert_eq!(hugepage_unit_size(2 << 20).as_deref(), Some("2MB"));
        assert_eq!(hugepage_unit_size(1 << 30).as_deref(), Some("1GB"));
        assert_eq!(hugepage_unit_size(64 << 10).as_deref(), Some("64KB"));
        assert_eq!(hugepage_unit_size(0), None);
    }

    #[test]
    fn sandbox_resources_sum_containers_and_init_containers() {
        let node = NodeContext::default();
        let p = pod(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": res(serde_json::json!({"cpu": "100m"}), serde_json::json!({"cpu": "200m", "memory": "100Mi"}))},
                    {"name": "b", "resources": res(serde_json::json!({"cpu": "100m"}), serde_json::json!({"cpu": "300m", "memory": "50Mi"}))}
                ],
                "initContainers": [
                    {"name": "side", "restartPolicy": "Always", "resources": res(serde_json::json!({"cpu": "50m"}), serde_json::json!({"memory": "10Mi"}))},
                    {"name": "big", "resources": res(serde_json::json!({"cpu": "2"}), serde_json::json!({"cpu": "3"}))}
                ],
                "overhead": {"cpu": "250m", "memory": "120Mi"}
            }
        }));
        let (r, o) = sandbox_resources(&p, &node);
        // requests: regular 200m + sidecar 50m = 250m; init "big" needs 2000m + 50m → 2050m.
        assert_eq!(r.cpu_shares, milli_cpu_to_shares(2050));
        // limits: 500m regular; init needs 3000m → 3000m.
        assert_eq!(r.cpu_quota, 300_000);
        // memory: 150Mi + 10Mi sidecar.
        assert_eq!(r.memory_limit_in_bytes, 160 << 20);
        assert_eq!(o.cpu_shares, 256);
        assert_eq!(o.cpu_quota, 25_000);
        assert_eq!(o.memory_limit_in_bytes, 120 << 20);
        let be = with_containers(serde_json::json!([{"name": "a"}]), serde_json::json!([]));
        let (r, o) = sandbox_resources(&be, &node);
        assert_eq!(
            (r.cpu_shares, r.cpu_quota, r.memory_limit_in_bytes),
            (2, 0, 0)
        );
        assert_eq!(o, LinuxContainerResources::default());
    }
}
