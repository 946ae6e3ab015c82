//! `GET /stats/summary`: upstream's Summary API (`stats/v1alpha1.Summary`) with CPU and memory
//! for the node, each pod and each container (what `kubectl top` needs through the metrics
//! API), and each container's writable layer as `rootfs`.
//!
//! The node's figures come from `/proc` (`stat`, `meminfo`, `vmstat`), with upstream's
//! definitions: usage = total - free, working set = usage - inactive file pages, available =
//! total - working set. Pods and containers come from CRI `ListPodSandboxStats` and
//! `ListContainerStats` (containerd reads their cgroups); a pod's figures are the sum of its
//! containers' when the runtime gives none. `usageNanoCores` is the rate since the previous
//! request when the runtime does not compute it (the first request of a node waits 100 ms for
//! a second sample). Not reported (upstream has them): network, volumes, file systems of the
//! node, system containers, process counts.
//!
//! A [`Sampler`] takes the summary every metric resolution (`barge agent --metric-resolution`,
//! 15 s as metrics-server's) and the API answers with the latest one, so every reader (the
//! metrics API behind `kubectl top` and the autoscaler) sees rates over the same window however
//! often it asks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_cri::v1::{
    ContainerStats, CpuUsage, ListContainerStatsRequest, ListPodSandboxStatsRequest, MemoryUsage,
};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::Host;
use super::streams::POD_UID_LABEL;

/// Previous CPU samples (time in ns, cumulative core-ns, the summary that saw them), to
/// compute rates between requests.
#[derive(Debug, Default)]
pub struct Rates {
    inner: Mutex<RatesInner>,
}

#[derive(Debug, Default)]
struct RatesInner {
    summary: u64,
    samples: HashMap<String, (i64, u64, u64)>,
}

impl Rates {
    /// Starts a summary: forgets what the previous two did not see (containers gone).
    fn next_summary(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.summary += 1;
        let keep_from = inner.summary.saturating_sub(2);
        inner.samples.retain(|_, s| s.2 >= keep_from);
    }

    /// The rate in nano-cores since the previous sample of `key`, recording this one.
    fn rate(&self, key: &str, time_ns: i64, usage: u64) -> Option<u64> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let summary = inner.summary;
        let previous = inner
            .samples
            .insert(key.to_owned(), (time_ns, usage, summary));
        let (t0, u0, _) = previous?;
        let dt = time_ns.checked_sub(t0).filter(|d| *d > 0)?;
        let du = usage.checked_sub(u0)?;
        Some(((u128::from(du) * 1_000_000_000) / dt as u128) as u64)
    }
}

/// The latest summary, taken every resolution.
#[derive(Debug, Default)]
pub struct Sampler {
    latest: Mutex<Option<Arc<Value>>>,
    rates: Rates,
}

impl Sampler {
    /// Takes a summary now and keeps it as the latest.
    pub async fn take<H: Host>(&self, host: &H) -> Result<Arc<Value>, String> {
        let summary = Arc::new(summary(host, &self.rates).await?);
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(summary.clone());
        Ok(summary)
    }

    /// The latest summary, or one taken now when there is none yet.
    pub async fn latest<H: Host>(&self, host: &H) -> Result<Arc<Value>, String> {
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match latest {
            Some(summary) => Ok(summary),
            None => self.take(host).await,
        }
    }

    /// Takes a summary every `resolution`, until the task is dropped.
    pub async fn run<H: Host>(&self, host: &H, resolution: Duration) {
        let mut tick = tokio::time::interval(resolution);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.take(host).await {
                tracing::debug!(error = %e, "no stats sample this time");
            }
        }
    }
}

fn rfc3339(ns: i64) -> Value {
    match Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(t) => json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        Err(_) => Value::Null,
    }
}

fn now_ns() -> i64 {
    i64::try_from(Timestamp::now().as_nanosecond()).unwrap_or(0)
}

/// `/proc/stat`: the time used by all CPUs (everything but idle and iowait), in core-ns, and the
/// boot time in seconds.
fn proc_cpu() -> Option<(u64, i64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let mut used = None;
    let mut boot = 0;
    for line in stat.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
                let total: u64 = v.iter().take(8).sum();
                let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
                // USER_HZ is 100 on Linux: one tick is 10 ms.
                used = Some(total.saturating_sub(idle) * 10_000_000);
            }
            Some("btime") => boot = fields.next().and_then(|b| b.parse().ok()).unwrap_or(0),
            _ => {}
        }
    }
    Some((used?, boot))
}

fn kv_file(path: &str, unit: u64) -> HashMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, rest) = l.split_once([':', ' '])?;
            let n = rest.split_whitespace().next()?.parse::<u64>().ok()?;
            Some((k.trim().to_owned(), n * unit))
        })
        .collect()
}

async fn node_stats(node_name: &str, rates: &Rates) -> Value {
    let mut node = Map::new();
    node.insert("nodeName".into(), json!(node_name));
    let time = now_ns();
    if let Some((used, boot)) = proc_cpu() {
        node.insert("startTime".into(), rfc3339(boot * 1_000_000_000));
        let rate = match rates.rate("node", time, used) {
            Some(r) => Some(r),
            None => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                proc_cpu().and_then(|(u, _)| rates.rate("node", now_ns(), u))
            }
        };
        let mut cpu = json!({"time": rfc3339(time), "usageCoreNanoSeconds": used});
        if let Some(r) = rate {
            cpu["usageNanoCores"] = json!(r);
        }
        node.insert("cpu".into(), cpu);
    }
    let mem = kv_file("/proc/meminfo", 1024);
    if let Some(total) = mem.get("MemTotal").copied() {
        let free = mem.get("MemFree").copied().unwrap_or(0);
        let usage = total.saturating_sub(free);
        let inactive = mem.get("Inactive(file)").copied().unwrap_or(0);
        let working_set = usage.saturating_sub(inactive);
        let vm = kv_file("/proc/vmstat", 1);
        node.insert(
            "memory".into(),
            json!({
                "time": rfc3339(time),
                "availableBytes": total.saturating_sub(working_set),
                "usageBytes": usage,
                "workingSetBytes": working_set,
                "rssBytes": mem.get("AnonPages").copied().unwrap_or(0),
                "pageFaults": vm.get("pgfault").copied().unwrap_or(0),
                "majorPageFaults": vm.get("pgmajfault").copied().unwrap_or(0),
            }),
        );
    }
    Value::Object(node)
}

fn cpu_json(key: &str, cpu: &CpuUsage, rates: &Rates) -> Value {
    let mut out = json!({"time": rfc3339(cpu.timestamp)});
    let usage = cpu.usage_core_nano_seconds.map(|v| v.value);
    if let Some(u) = usage {
        out["usageCoreNanoSeconds"] = json!(u);
    }
    // containerd computes the rate between its own samples and says 0 at the first one; ours,
    // between this kubelet's requests, stands in then.
    let ours = usage.and_then(|u| rates.rate(key, cpu.timestamp, u));
    let rate = match (cpu.usage_nano_cores.map(|r| r.value), ours) {
        (Some(r), _) if r > 0 => Some(r),
        (theirs, ours) => ours.or(theirs),
    };
    if let Some(r) = rate {
        out["usageNanoCores"] = json!(r);
    }
    out
}

fn memory_json(m: &MemoryUsage) -> Value {
    let mut out = json!({"time": rfc3339(m.timestamp)});
    if let Some(v) = m.available_bytes.filter(|v| v.value > 0) {
        // 0 is what containerd says for a container without a memory limit.
        out["availableBytes"] = json!(v.value);
    }
    for (field, v) in [
        ("usageBytes", m.usage_bytes),
        ("workingSetBytes", m.working_set_bytes),
        ("rssBytes", m.rss_bytes),
        ("pageFaults", m.page_faults),
        ("majorPageFaults", m.major_page_faults),
    ] {
        if let Some(v) = v {
            out[field] = json!(v.value);
        }
    }
    out
}

/// The sum of some containers' figures, for a pod the runtime gives no figures of its own.
fn summed(containers: &[&ContainerStats], rates: &Rates, key: &str) -> (Value, Value) {
    let time = containers
        .iter()
        .filter_map(|c| c.cpu.map(|u| u.timestamp))
        .max()
        .unwrap_or_else(now_ns);
    let sum = |f: &dyn Fn(&ContainerStats) -> Option<u64>| -> Option<u64> {
        let values: Vec<u64> = containers.iter().filter_map(|c| f(c)).collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    let usage = sum(&|c| {
        c.cpu
            .and_then(|u| u.usage_core_nano_seconds)
            .map(|v| v.value)
    });
    let cpu = CpuUsage {
        timestamp: time,
        usage_core_nano_seconds: usage.map(|value| k8s_cri::v1::UInt64Value { value }),
        usage_nano_cores: sum(&|c| c.cpu.and_then(|u| u.usage_nano_cores).map(|v| v.value))
            .map(|value| k8s_cri::v1::UInt64Value { value }),
    };
    let value = |n: Option<u64>| n.map(|value| k8s_cri::v1::UInt64Value { value });
    let memory = MemoryUsage {
        timestamp: time,
        working_set_bytes: value(sum(&|c| {
            c.memory.and_then(|m| m.working_set_bytes).map(|v| v.value)
        })),
        available_bytes: None,
        usage_bytes: value(sum(&|c| {
            c.memory.and_then(|m| m.usage_bytes).map(|v| v.value)
        })),
        rss_bytes: value(sum(&|c| {
            c.memory.and_then(|m| m.rss_bytes).map(|v| v.value)
        })),
        page_faults: value(sum(&|c| {
            c.memory.and_then(|m| m.page_faults).map(|v| v.value)
        })),
        major_page_faults: value(sum(&|c| {
            c.memory.and_then(|m| m.major_page_faults).map(|v| v.value)
        })),
    };
    (cpu_json(key, &cpu, rates), memory_json(&memory))
}

/// The summary, or the message of a 500.
pub async fn summary<H: Host>(host: &H, rates: &Rates) -> Result<Value, String> {
    rates.next_summary();
    let mut runtime = host.runtime();
    let containers = runtime
        .list_container_stats(ListContainerStatsRequest { filter: None })
        .await
        .map_err(|e| format!("failed to list container stats: {}", e.message()))?
        .into_inner()
        .stats;
    // containerd 1.6 answers this; a runtime that does not gets its pods summed.
    let sandboxes = runtime
        .list_pod_sandbox_stats(ListPodSandboxStatsRequest { filter: None })
        .await
        .map(|r| r.into_inner().stats)
        .unwrap_or_default();

    let mut by_pod: HashMap<String, Vec<&ContainerStats>> = HashMap::new();
    for c in &containers {
        if let Some(uid) = c
            .attributes
            .as_ref()
            .and_then(|a| a.labels.get(POD_UID_LABEL))
        {
            by_pod.entry(uid.clone()).or_default().push(c);
        }
    }
    let mut pods = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for sandbox in &sandboxes {
        let Some(meta) = sandbox
            .attributes
            .as_ref()
            .and_then(|a| a.metadata.as_ref())
        else {
            continue;
        };
        let Some(pod) = host.pod(&meta.namespace, &meta.name) else {
            continue;
        };
        if pod.metadata.uid.as_deref() != Some(meta.uid.as_str()) || !seen.insert(meta.uid.clone())
        {
            continue;
        }
        let members = by_pod.get(&meta.uid).cloned().unwrap_or_default();
        let status = pod.status.as_ref();
        let mut entry = json!({
            "podRef": {"name": meta.name, "namespace": meta.namespace, "uid": meta.uid},
        });
        if let Some(t) = status.and_then(|s| s.start_time.as_ref()) {
            entry["startTime"] = json!(t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        let mut list = Vec::new();
        for c in &members {
            let Some(attrs) = c.attributes.as_ref() else {
                continue;
            };
            let name = attrs
                .metadata
                .as_ref()
                .map(|m| m.name.clone())
                .unwrap_or_default();
            let mut out = json!({"name": name});
            let started = status
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|l| l.iter().find(|s| s.name == name))
                .and_then(|s| s.state.as_ref())
                .and_then(|s| s.running.as_ref())
                .and_then(|r| r.started_at.as_ref());
            if let Some(t) = started {
                out["startTime"] = json!(t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
            }
            if let Some(cpu) = &c.cpu {
                out["cpu"] = cpu_json(&attrs.id, cpu, rates);
            }
            if let Some(m) = &c.memory {
                out["memory"] = memory_json(m);
            }
            if let Some(fs) = c.writable_layer.as_ref().filter(|fs| fs.timestamp > 0) {
                let mut rootfs = json!({"time": rfc3339(fs.timestamp)});
                if let Some(u) = fs.used_bytes {
                    rootfs["usedBytes"] = json!(u.value);
                }
                if let Some(i) = fs.inodes_used {
                    rootfs["inodesUsed"] = json!(i.value);
                }
                out["rootfs"] = rootfs;
            }
            list.push(out);
        }
        list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        entry["containers"] = Value::Array(list);
        let linux = sandbox.linux.as_ref();
        let key = format!("pod/{}", meta.uid);
        let (sum_cpu, sum_memory) = summed(&members, rates, &format!("{key}/sum"));
        entry["cpu"] = match linux.and_then(|l| l.cpu.as_ref()) {
            Some(cpu) if cpu.usage_core_nano_seconds.is_some() => cpu_json(&key, cpu, rates),
            _ => sum_cpu,
        };
        entry["memory"] = match linux.and_then(|l| l.memory.as_ref()) {
            Some(m) if m.working_set_bytes.is_some() => memory_json(m),
            _ => sum_memory,
        };
        pods.push(entry);
    }
    pods.sort_by(|a, b| {
        let key = |v: &Value| {
            (
                v["podRef"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                v["podRef"]["name"].as_str().unwrap_or_default().to_owned(),
            )
        };
        key(a).cmp(&key(b))
    });
    Ok(json!({
        "node": node_stats(&host.node_name(), rates).await,
        "pods": pods,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_two_samples() {
        let r = Rates::default();
        assert_eq!(r.rate("c", 1_000_000_000, 100), None);
        // 0.5 s of CPU over 1 s: half a core.
        assert_eq!(r.rate("c", 2_000_000_000, 500_000_100), Some(500_000_000));
        assert_eq!(
            r.rate("c", 2_000_000_000, 600_000_000),
            None,
            "no time passed"
        );
        r.next_summary();
        r.next_summary();
        r.next_summary();
        assert_eq!(r.rate("c", 3_000_000_000, 600_000_000), None, "forgotten");
    }

    #[test]
    fn a_zero_rate_from_the_runtime_gives_way_to_ours() {
        let r = Rates::default();
        let sample = |t: i64, usage: u64, theirs: u64| CpuUsage {
            timestamp: t,
            usage_core_nano_seconds: Some(k8s_cri::v1::UInt64Value { value: usage }),
            usage_nano_cores: Some(k8s_cri::v1::UInt64Value { value: theirs }),
        };
        assert_eq!(
            cpu_json("c", &sample(1_000_000_000, 0, 0), &r)["usageNanoCores"],
            0
        );
        let second = cpu_json("c", &sample(2_000_000_000, 250_000_000, 0), &r);
        assert_eq!(second["usageNanoCores"], 250_000_000);
        let third = cpu_json("c", &sample(3_000_000_000, 300_000_000, 7), &r);
        assert_eq!(
            third["usageNanoCores"], 7,
            "the runtime's own rate when it has one"
        );
    }

    #[tokio::test]
    async fn the_node_reads_proc() {
        let node = node_stats("n1", &Rates::default()).await;
        assert_eq!(node["nodeName"], "n1");
        assert!(node["cpu"]["usageCoreNanoSeconds"].as_u64().unwrap() > 0);
        assert!(node["cpu"]["usageNanoCores"].is_u64());
        let mem = &node["memory"];
        assert!(mem["workingSetBytes"].as_u64().unwrap() > 0);
        assert!(mem["availableBytes"].as_u64().unwrap() > 0);
    }
}
