//! The replica count one metric proposes, as upstream's `replica_calculator.go` computes it:
//! pure functions of the target's pods (from the informer) and their samples.
//!
//! The pods are grouped first: deleted or Failed pods are ignored, Pending pods are unready,
//! pods without a sample are missing, and for cpu a pod whose sample may still include its
//! start-up (within the cpu initialization period and not yet Ready, or sampled before a
//! window passed since it turned Ready; after the period, never Ready since the initial
//! readiness delay) is unready too. The ratio of usage to target over the ready pods decides;
//! when pods are missing or (scaling up) unready it is computed again with the missing pods
//! at 100% of their request on a scale-down and 0 on a scale-up, the unready ones at 0, and
//! the count stays when the ratio is within the tolerance or the second ratio would reverse
//! the direction.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::metrics::{Sample, Samples, milli};
use crate::pods::{condition, phase};

/// The settings of a calculation and the time it runs at.
#[derive(Clone, Copy, Debug)]
pub struct Calculator {
    /// How far the ratio may be from 1.0 without a change (0.1).
    pub tolerance: f64,
    /// How long after a pod starts its cpu samples may still be skewed by its start-up (5 min).
    pub cpu_initialization_period: SignedDuration,
    /// How long after start a pod that is not Ready counts as not yet started (30 s).
    pub initial_readiness_delay: SignedDuration,
    pub now: Timestamp,
}

/// A proposal from a utilization target (percentage of the pods' requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utilization {
    pub replicas: i32,
    /// The current utilization, in percent of the requests.
    pub utilization: i32,
    /// The average usage per pod, in milli-units.
    pub raw_average: i64,
}

/// A proposal from an average value target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub replicas: i32,
    /// The average usage per pod, in milli-units.
    pub usage: i64,
}

#[derive(Debug, Default)]
struct Groups {
    ready: usize,
    unready: BTreeSet<String>,
    missing: BTreeSet<String>,
    ignored: BTreeSet<String>,
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn ceil(x: f64) -> i32 {
    x.ceil() as i32
}

impl Calculator {
    /// Upstream's `groupPods`.
    fn group(&self, pods: &[&Pod], samples: &Samples, resource: &str) -> Groups {
        let mut g = Groups::default();
        for pod in pods {
            let name = name(pod);
            if pod.metadata.deletion_timestamp.is_some() || phase(pod) == "Failed" {
                g.ignored.insert(name);
                continue;
            }
            if phase(pod) == "Pending" {
                g.unready.insert(name);
                continue;
            }
            let Some(sample) = samples.get(&name) else {
                g.missing.insert(name);
                continue;
            };
            if resource == "cpu" && self.cpu_unready(pod, sample) {
                g.unready.insert(name);
                continue;
            }
            g.ready += 1;
        }
        g
    }

    fn cpu_unready(&self, pod: &Pod, sample: &Sample) -> bool {
        let ready = condition(pod, "Ready");
        let start = pod.status.as_ref().and_then(|s| s.start_time.as_ref());
        let (Some(ready), Some(start)) = (ready, start) else {
            return true;
        };
        let transition = ready
            .last_transition_time
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0);
        if start.0 + self.cpu_initialization_period > self.now {
            // Still possibly starting: skip the sample if not Ready, or if a whole window has
            // not passed since the last transition.
            ready.status == "False" || sample.timestamp < transition + sample.window
        } else {
            // Skip it if the pod is not Ready and has never been since it started.
            ready.status == "False" && start.0 + self.initial_readiness_delay > transition
        }
    }

    /// The replicas for a utilization target of `target` percent of the pods' requests of
    /// `resource` (only those of `container` when it is not empty), upstream's
    /// `GetResourceReplicas` after the fetch.
    pub fn resource_replicas(
        &self,
        current: i32,
        target: i32,
        resource: &str,
        container: &str,
        pods: &[&Pod],
        mut samples: Samples,
    ) -> Result<Utilization, String> {
        if pods.is_empty() {
            return Err("no pods returned by selector while calculating replica count".into());
        }
        let g = self.group(pods, &samples, resource);
        samples.retain(|pod, _| !g.ignored.contains(pod) && !g.unready.contains(pod));
        if samples.is_empty() {
            return Err("did not receive metrics for targeted pods (pods might be unready)".into());
        }
        let requests = pod_requests(pods, container, resource)?;
        let (ratio, utilization, raw_average) = utilization_ratio(&samples, &requests, target)?;
        let proposal = |replicas| Utilization {
            replicas,
            utilization,
            raw_average,
        };

        let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && g.missing.is_empty() {
            if (1.0 - ratio).abs() <= self.tolerance {
                return Ok(proposal(current));
            }
            return Ok(proposal(ceil(ratio * g.ready as f64)));
        }
        if ratio < 1.0 {
            // Scaling down: a missing pod counts at 100% of its request (or at the target, for
            // targets above 100%).
            let fallback = i64::from(target.max(100));
            for pod in &g.missing {
                let request = requests.get(pod).copied().unwrap_or_default();
                samples.insert(pod.clone(), zero_sample(request * fallback / 100));
            }
        } else if ratio > 1.0 {
            for pod in &g.missing {
                samples.insert(pod.clone(), zero_sample(0));
            }
        }
        if scale_up_with_unready {
            for pod in &g.unready {
                samples.insert(pod.clone(), zero_sample(0));
            }
        }
        let (new_ratio, _, _) = utilization_ratio(&samples, &requests, target)?;
        Ok(proposal(self.rebalanced(
            current,
            ratio,
            new_ratio,
            samples.len(),
        )))
    }

    /// The replicas for an average value target of `target` milli-units per pod of
    /// `resource` (upstream's `GetRawResourceReplicas` after the fetch, `calcPlainMetricReplicas`).
    pub fn plain_replicas(
        &self,
        current: i32,
        target: i64,
        resource: &str,
        pods: &[&Pod],
        mut samples: Samples,
    ) -> Result<Usage, String> {
        if pods.is_empty() {
            return Err("no pods returned by selector while calculating replica count".into());
        }
        let g = self.group(pods, &samples, resource);
        samples.retain(|pod, _| !g.ignored.contains(pod) && !g.unready.contains(pod));
        if samples.is_empty() {
            return Err("did not receive metrics for targeted pods (pods might be unready)".into());
        }
        let (ratio, usage) = usage_ratio(&samples, target);
        let proposal = |replicas| Usage { replicas, usage };

        let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && g.missing.is_empty() {
            if (1.0 - ratio).abs() <= self.tolerance {
                return Ok(proposal(current));
            }
            return Ok(proposal(ceil(ratio * g.ready as f64)));
        }
        if ratio < 1.0 {
            // Scaling down: a missing pod counts as using exactly the target.
            for pod in &g.missing {
                samples.insert(pod.clone(), zero_sample(target));
            }
        } else if ratio > 1.0 {
            for pod in &g.missing {
                samples.insert(pod.clone(), zero_sample(0));
            }
        }
        if scale_up_with_unready {
            for pod in &g.unready {
                samples.insert(pod.clone(), zero_sample(0));
            }
        }
        let (new_ratio, _) = usage_ratio(&samples, target);
        Ok(proposal(self.rebalanced(
            current,
            ratio,
            new_ratio,
            samples.len(),
        )))
    }

    /// The count after missing and unready pods were filled in: the current one when the new
    /// ratio is within the tolerance or would reverse the direction of the first, or when the
    /// new count would.
    fn rebalanced(&self, current: i32, ratio: f64, new_ratio: f64, pods: usize) -> i32 {
        if (1.0 - new_ratio).abs() <= self.tolerance
            || (ratio < 1.0 && new_ratio > 1.0)
            || (ratio > 1.0 && new_ratio < 1.0)
        {
            return current;
        }
        let replicas = ceil(new_ratio * pods as f64);
        if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
            return current;
        }
        replicas
    }
}

/// A filled-in sample (only its value counts).
fn zero_sample(value: i64) -> Sample {
    Sample {
        value,
        timestamp: Timestamp::UNIX_EPOCH,
        window: SignedDuration::ZERO,
    }
}

/// Each pod's request of `resource` in milli-units, summed over its containers and restartable
/// (sidecar) init containers, or only over `container` when it is not empty; an error names the
/// first container without one (upstream's `calculatePodRequests`).
pub fn pod_requests(
    pods: &[&Pod],
    container: &str,
    resource: &str,
) -> Result<std::collections::BTreeMap<String, i64>, String> {
    let mut requests = std::collections::BTreeMap::new();
    for pod in pods {
        let spec = pod.spec.as_ref();
        let sidecars = spec
            .and_then(|s| s.init_containers.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"));
        let containers = spec.map(|s| s.containers.iter()).into_iter().flatten();
        let mut sum = 0i64;
        for c in containers.chain(sidecars) {
            if !container.is_empty() && c.name != container {
                continue;
            }
            let request = c
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get(resource))
                .and_then(milli);
            let Some(request) = request else {
                return Err(format!(
                    "missing request for {resource} in container {} of Pod {}",
                    c.name,
                    name(pod)
                ));
            };
            sum = sum.saturating_add(request);
        }
        requests.insert(name(pod), sum);
    }
    Ok(requests)
}

/// The ratio of utilization to `target` percent, the utilization in percent and the average
/// usage, over the samples of pods with a known request (upstream's
/// `GetResourceUtilizationRatio`).
pub fn utilization_ratio(
    samples: &Samples,
    requests: &std::collections::BTreeMap<String, i64>,
    target: i32,
) -> Result<(f64, i32, i64), String> {
    let (mut used, mut requested, mut n) = (0i128, 0i128, 0i128);
    for (pod, sample) in samples {
        let Some(request) = requests.get(pod) else {
            continue; // extraneous metrics: missing requests are checked elsewhere
        };
        used += i128::from(sample.value);
        requested += i128::from(*request);
        n += 1;
    }
    if requested == 0 {
        return Err("no metrics returned matched known pods".into());
    }
    let utilization = (used * 100 / requested).clamp(i128::from(i32::MIN), i128::from(i32::MAX));
    let utilization = utilization as i32;
    let average = (used / n) as i64;
    Ok((
        f64::from(utilization) / f64::from(target),
        utilization,
        average,
    ))
}

/// The ratio of the average usage to `target` and that average (upstream's
/// `GetMetricUsageRatio`).
pub fn usage_ratio(samples: &Samples, target: i64) -> (f64, i64) {
    let total: i128 = samples.values().map(|s| i128::from(s.value)).sum();
    let usage = (total / samples.len().max(1) as i128) as i64;
    (usage as f64 / target as f64, usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, PodCondition, PodSpec, PodStatus, ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kube::api::ObjectMeta;

    const NOW: &str = "2026-12-07T10:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    fn calc() -> Calculator {
        Calculator {
            tolerance: 0.1,
            cpu_initialization_period: SignedDuration::from_mins(5),
            initial_readiness_delay: SignedDuration::from_secs(30),
            now: now(),
        }
    }

    fn ago(secs: i64) -> Time {
        Time(now() - SignedDuration::from_secs(secs))
    }

    /// A running pod of two containers each requesting `request` of `resource`, started ten
    /// minutes ago and Ready (or not) since then.
    fn pod(i: usize, resource: &str, request: Option<&str>, ready: bool) -> Pod {
        let container = |n: &str| Container {
            name: n.into(),
            resources: request.map(|r| ResourceRequirements {
                requests: Some([(resource.to_string(), Quantity(r.into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        Pod {
            metadata: ObjectMeta {
                name: Some(format!("p{i}")),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![container("a"), container("b")],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                start_time: Some(ago(600)),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    last_transition_time: Some(ago(600)),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    /// Samples of two containers at `level` milli-units each, per pod, as upstream's tests.
    fn samples(levels: &[i64]) -> Samples {
        levels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                (
                    format!("p{i}"),
                    Sample {
                        value: 2 * l,
                        timestamp: now() - SignedDuration::from_secs(5),
                        window: SignedDuration::from_secs(15),
                    },
                )
            })
            .collect()
    }

    fn cpu_pods(ready: &[bool]) -> Vec<Pod> {
        ready
            .iter()
            .enumerate()
            .map(|(i, r)| pod(i, "cpu", Some("1"), *r))
            .collect()
    }

    fn cpu(current: i32, target: i32, pods: &[Pod], levels: &[i64]) -> Result<Utilization, String> {
        let pods: Vec<&Pod> = pods.iter().collect();
        calc().resource_replicas(current, target, "cpu", "", &pods, samples(levels))
    }

    #[test]
    fn scale_up_and_down_on_cpu_utilization() {
        // TestReplicaCalcScaleUp.
        let u = cpu(3, 30, &cpu_pods(&[true; 3]), &[300, 500, 700]).unwrap();
        assert_eq!(
            u,
            Utilization {
                replicas: 5,
                utilization: 50,
                raw_average: 1000
            }
        );
        // TestReplicaCalcScaleDown.
        let u = cpu(5, 50, &cpu_pods(&[true; 5]), &[100, 300, 500, 250, 250]).unwrap();
        assert_eq!((u.replicas, u.utilization, u.raw_average), (3, 28, 560));
    }

    #[test]
    fn within_tolerance_keeps_the_count() {
        // TestReplicaCalcTolerance: requests 0.9, 1.0, 1.1 and 102% used.
        let pods: Vec<Pod> = ["900m", "1", "1100m"]
            .iter()
            .enumerate()
            .map(|(i, r)| pod(i, "cpu", Some(r), true))
            .collect();
        let u = cpu(3, 100, &pods, &[1010, 1030, 1020]).unwrap();
        assert_eq!((u.replicas, u.utilization), (3, 102));
        // A larger tolerance keeps a larger change too.
        let wide = Calculator {
            tolerance: 0.5,
            ..calc()
        };
        let refs: Vec<&Pod> = pods.iter().collect();
        let u = wide
            .resource_replicas(3, 100, "cpu", "", &refs, samples(&[1400, 1400, 1400]))
            .unwrap();
        assert_eq!(u.replicas, 3);
        let u = cpu(3, 100, &pods, &[1400, 1400, 1400]).unwrap();
        assert_eq!(u.replicas, 5);
    }

    #[test]
    fn unready_pods_do_not_count_and_damp_a_scale_up() {
        // TestReplicaCalcScaleUpUnreadyLessScale: the unready pod counts at 0 → 4, not 5.
        let u = cpu(3, 30, &cpu_pods(&[false, true, true]), &[300, 500, 700]).unwrap();
        assert_eq!((u.replicas, u.utilization, u.raw_average), (4, 60, 1200));
        // TestReplicaCalcScaleUpUnreadyNoScale: with the unready ones at 0 it would scale down.
        let u = cpu(3, 30, &cpu_pods(&[true, false, false]), &[400, 500, 700]).unwrap();
        assert_eq!((u.replicas, u.utilization), (3, 40));
        // TestReplicaCalcScaleDownIgnoresUnreadyPods.
        let pods = cpu_pods(&[true, true, true, false, false]);
        let u = cpu(5, 50, &pods, &[100, 300, 500, 250, 250]).unwrap();
        assert_eq!((u.replicas, u.utilization), (2, 30));
    }

    #[test]
    fn cpu_samples_within_the_initialization_period_are_unready() {
        // Started a minute ago and Ready for 2 s, sampled over 15 s: the sample may include
        // the start-up, so the pod is unready.
        let mut pods = cpu_pods(&[true; 3]);
        let status = pods[0].status.as_mut().unwrap();
        status.start_time = Some(ago(60));
        status.conditions.as_mut().unwrap()[0].last_transition_time = Some(ago(2));
        let u = cpu(3, 30, &pods, &[300, 500, 700]).unwrap();
        assert_eq!((u.replicas, u.utilization), (4, 60));
        // Past the period, a pod that turned unready after being Ready counts.
        let mut pods = cpu_pods(&[true, true, false]);
        pods[2]
            .status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()[0]
            .last_transition_time = Some(ago(60));
        let u = cpu(3, 30, &pods, &[300, 500, 700]).unwrap();
        assert_eq!((u.replicas, u.utilization), (5, 50));
        // Memory ignores readiness.
        let pods: Vec<Pod> = (0..3)
            .map(|i| pod(i, "memory", Some("1"), i != 0))
            .collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let u = calc()
            .resource_replicas(3, 30, "memory", "", &refs, samples(&[300, 500, 700]))
            .unwrap();
        assert_eq!(u.replicas, 5);
    }

    #[test]
    fn missing_metrics_count_as_full_on_scale_down_and_zero_on_scale_up() {
        // TestReplicaCalcMissingMetrics: 24% over the 2 reporting pods, 62% with the 2
        // missing ones at 100%.
        let u = cpu(4, 100, &cpu_pods(&[true; 4]), &[400, 95]).unwrap();
        assert_eq!((u.replicas, u.utilization, u.raw_average), (3, 24, 495));
        // TestReplicaCalcMissingMetricsNoChangeGt: 190% → 95% with the missing pod at 0.
        let u = cpu(2, 100, &cpu_pods(&[true; 2]), &[1900]).unwrap();
        assert_eq!((u.replicas, u.utilization), (2, 190));
        // TestReplicaCalcMissingMetricsNoChangeLt: 60% → 80% with the missing pod at 100%.
        let u = cpu(2, 100, &cpu_pods(&[true; 2]), &[600]).unwrap();
        assert_eq!((u.replicas, u.utilization), (2, 60));
        // TestReplicaCalcMissingMetricsUnreadyScaleUp.
        let u = cpu(3, 50, &cpu_pods(&[false, true, true]), &[100, 2000]).unwrap();
        assert_eq!((u.replicas, u.utilization), (4, 200));
        // TestReplicaCalcMissingMetricsUnreadyScaleDown.
        let u = cpu(
            4,
            50,
            &cpu_pods(&[false, true, true, true]),
            &[100, 100, 100],
        )
        .unwrap();
        assert_eq!((u.replicas, u.utilization), (3, 10));
    }

    #[test]
    fn ignored_pods_and_errors() {
        // Deleted and Failed pods are ignored; their samples too.
        let mut pods = cpu_pods(&[true; 4]);
        pods[2].metadata.deletion_timestamp = Some(ago(1));
        pods[3].status.as_mut().unwrap().phase = Some("Failed".into());
        let u = cpu(4, 50, &pods, &[250, 250, 5000, 5000]).unwrap();
        assert_eq!((u.replicas, u.utilization), (1, 25));

        // TestReplicaCalcEmptyCPURequest.
        let pods = vec![pod(0, "cpu", None, true)];
        assert_eq!(
            cpu(1, 100, &pods, &[200]).unwrap_err(),
            "missing request for cpu in container a of Pod p0"
        );
        // TestReplicaCalcDisjointResourcesMetrics.
        let mut s = samples(&[100]);
        let sample = s.remove("p0").unwrap();
        s.insert("an-older-pod-name".into(), sample);
        let p = cpu_pods(&[true]);
        let refs: Vec<&Pod> = p.iter().collect();
        let e = calc()
            .resource_replicas(1, 100, "cpu", "", &refs, s)
            .unwrap_err();
        assert_eq!(e, "no metrics returned matched known pods");
        assert!(cpu(1, 100, &[], &[100]).unwrap_err().contains("no pods"));
        // Only unready pods: nothing to go on.
        let e = cpu(2, 50, &cpu_pods(&[false, false]), &[100, 100]).unwrap_err();
        assert!(e.contains("pods might be unready"), "{e}");
    }

    #[test]
    fn container_requests_count_only_that_container_and_sidecars_count() {
        let mut p = pod(0, "cpu", Some("500m"), true);
        let spec = p.spec.as_mut().unwrap();
        spec.containers[1].resources = None;
        let mut sidecar = spec.containers[0].clone();
        sidecar.name = "side".into();
        sidecar.restart_policy = Some("Always".into());
        let mut init = spec.containers[1].clone();
        init.name = "init".into();
        spec.init_containers = Some(vec![sidecar, init]);
        let r = pod_requests(&[&p], "a", "cpu").unwrap();
        assert_eq!(r["p0"], 500);
        let r = pod_requests(&[&p], "side", "cpu").unwrap();
        assert_eq!(r["p0"], 500);
        let e = pod_requests(&[&p], "", "cpu").unwrap_err();
        assert_eq!(e, "missing request for cpu in container b of Pod p0");
    }

    #[test]
    fn memory_average_value() {
        let pods: Vec<Pod> = (0..3)
            .map(|i| pod(i, "memory", Some("1Gi"), true))
            .collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let mib = 1024 * 1024 * 1000; // milli-units of one MiB
        // 2×100Mi per pod against a 100Mi target: double.
        let s = samples(&[100 * mib, 100 * mib, 100 * mib]);
        let u = calc()
            .plain_replicas(3, 100 * mib, "memory", &refs, s)
            .unwrap();
        assert_eq!(
            u,
            Usage {
                replicas: 6,
                usage: 200 * mib
            }
        );
        // A missing pod on a scale-down counts at the target: (60+60+100)/3 → 73% → 3.
        let s = samples(&[30 * mib, 30 * mib]);
        let u = calc()
            .plain_replicas(3, 100 * mib, "memory", &refs, s)
            .unwrap();
        assert_eq!(u.replicas, 3);
        assert_eq!(u.usage, 60 * mib);
        // Within the tolerance.
        let s = samples(&[52 * mib, 52 * mib, 52 * mib]);
        let u = calc()
            .plain_replicas(3, 100 * mib, "memory", &refs, s)
            .unwrap();
        assert_eq!(u.replicas, 3);
    }
}
