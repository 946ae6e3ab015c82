//! A pod's status from what the runtime says about it, as upstream's kubelet computes it
//! (`generateAPIPodStatus`, `getPhase`, the pod conditions): container states with the
//! kubelet's waiting reasons, restart counts, readiness from probes, the phase and the
//! PodReadyToStartContainers / Initialized / ContainersReady / Ready conditions. Pure.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::cri::{ContainerInfo, PodRuntime};

/// Why a container is not running, when the kubelet knows better than the runtime
/// (`ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull`, `CreateContainerConfigError`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

/// What the kubelet knows about a pod beyond the runtime's state.
#[derive(Debug, Default)]
pub struct Known<'a> {
    /// Waiting reasons by container name.
    pub waiting: HashMap<String, Waiting>,
    /// Readiness by container name, for containers with a readiness probe (absent: ready when
    /// running).
    pub ready: HashMap<String, bool>,
    /// Started by container name, for containers with a startup probe.
    pub started: HashMap<String, bool>,
    pub host_ip: Option<&'a str>,
    pub qos_class: Option<&'a str>,
}

/// CRI's nanoseconds since the epoch as an API time.
pub fn time(nanos: i64) -> Option<Time> {
    (nanos > 0)
        .then(|| Timestamp::from_nanosecond(i128::from(nanos)).ok())
        .flatten()
        .map(Time)
}

fn terminated(c: &ContainerInfo) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: c.exit_code,
        reason: Some(if c.reason.is_empty() {
            if c.exit_code == 0 {
                "Completed"
            } else {
                "Error"
            }
            .to_owned()
        } else {
            c.reason.clone()
        }),
        message: (!c.message.is_empty()).then(|| c.message.clone()),
        started_at: time(c.started_at),
        finished_at: time(c.finished_at),
        container_id: Some(format!("containerd://{}", c.id)),
        signal: None,
    }
}

fn state_of(c: &ContainerInfo) -> ContainerState {
    if c.running() {
        ContainerState {
            running: Some(ContainerStateRunning {
                started_at: time(c.started_at),
            }),
            ..ContainerState::default()
        }
    } else if c.exited() {
        ContainerState {
            terminated: Some(terminated(c)),
            ..ContainerState::default()
        }
    } else {
        ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ContainerCreating".to_owned()),
                message: None,
            }),
            ..ContainerState::default()
        }
    }
}

fn waiting_state(w: &Waiting) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(w.reason.clone()),
            message: (!w.message.is_empty()).then(|| w.message.clone()),
        }),
        ..ContainerState::default()
    }
}

/// The status of one container of the spec.
fn container_status(
    spec: &Container,
    runtime: &PodRuntime,
    known: &Known,
    default_waiting: &str,
) -> ContainerStatus {
    let latest = runtime.latest(&spec.name);
    let previous = runtime.previous(&spec.name);
    let waiting = known.waiting.get(&spec.name);
    let (state, last_state) = match (latest, waiting) {
        // The kubelet holds the container back (backoff, a failed pull, ...): waiting, and
        // the run that ended is the last state.
        (Some(c), Some(w)) if !c.running() => (
            waiting_state(w),
            c.exited().then(|| ContainerState {
                terminated: Some(terminated(c)),
                ..ContainerState::default()
            }),
        ),
        (Some(c), _) => (
            state_of(c),
            previous.filter(|p| p.exited()).map(|p| ContainerState {
                terminated: Some(terminated(p)),
                ..ContainerState::default()
            }),
        ),
        (None, Some(w)) => (waiting_state(w), None),
        (None, None) => (
            waiting_state(&Waiting {
                reason: default_waiting.to_owned(),
                message: String::new(),
            }),
            None,
        ),
    };
    let running = latest.is_some_and(ContainerInfo::running);
    let started = running && known.started.get(&spec.name).copied().unwrap_or(true);
    let ready = started && known.ready.get(&spec.name).copied().unwrap_or(true);
    ContainerStatus {
        name: spec.name.clone(),
        image: spec.image.clone().unwrap_or_default(),
        image_id: latest.map(|c| c.image_ref.clone()).unwrap_or_default(),
        container_id: latest.map(|c| format!("containerd://{}", c.id)),
        state: Some(state),
        last_state: Some(last_state.unwrap_or_default()),
        ready,
        restart_count: latest.map_or(0, |c| c.restart_count as i32),
        started: Some(started),
        ..ContainerStatus::default()
    }
}

fn succeeded(s: &ContainerStatus) -> bool {
    s.state
        .as_ref()
        .and_then(|st| st.terminated.as_ref())
        .is_some_and(|t| t.exit_code == 0)
}

fn failed(s: &ContainerStatus) -> bool {
    s.state
        .as_ref()
        .and_then(|st| st.terminated.as_ref())
        .is_some_and(|t| t.exit_code != 0)
}

/// The pod's phase from its container statuses (upstream `getPhase`).
pub fn phase(
    restart_policy: &str,
    init: &[ContainerStatus],
    containers: &[ContainerStatus],
) -> &'static str {
    let init_failed_for_good = restart_policy == "Never" && init.iter().any(failed);
    if init_failed_for_good {
        return "Failed";
    }
    if !init.iter().all(succeeded) {
        return "Pending";
    }
    let (mut running, mut waiting, mut stopped, mut ok) = (0, 0, 0, 0);
    for s in containers {
        let st = s.state.clone().unwrap_or_default();
        if st.running.is_some() {
            running += 1;
        } else if st.terminated.is_some() {
            stopped += 1;
            if succeeded(s) {
                ok += 1;
            }
        } else if s
            .last_state
            .as_ref()
            .is_some_and(|l| l.terminated.is_some())
        {
            // Waiting to be restarted after a run.
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped == 0 {
        return "Pending";
    }
    match restart_policy {
        "Always" => "Running",
        "OnFailure" if ok == stopped => "Succeeded",
        "OnFailure" => "Running",
        _ if ok == stopped => "Succeeded",
        _ => "Failed",
    }
}

fn condition(type_: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: (!ok).then(|| reason.map(str::to_owned)).flatten(),
        message: (!ok).then_some(message).flatten(),
        ..PodCondition::default()
    }
}

/// The names in upstream's "containers with unready status: [a b]" messages.
fn names(statuses: &[&ContainerStatus]) -> String {
    let names: Vec<&str> = statuses.iter().map(|s| s.name.as_str()).collect();
    format!("[{}]", names.join(" "))
}

/// The pod's status now. Conditions keep their last transition time when unchanged (from
/// the pod's current status); conditions the kubelet does not own (PodScheduled,
/// DisruptionTarget, ...) are kept as they are.
pub fn pod_status(pod: &Pod, runtime: &PodRuntime, known: &Known, now: &Time) -> PodStatus {
    let empty = Default::default();
    let spec = pod.spec.as_ref().unwrap_or(&empty);
    let old = pod.status.clone().unwrap_or_default();
    let init: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| container_status(c, runtime, known, "PodInitializing"))
        .collect();
    let init_done = init.iter().all(succeeded);
    let regular_default = if init_done {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let containers: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| container_status(c, runtime, known, regular_default))
        .collect();
    let restart_policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let phase = phase(restart_policy, &init, &containers);

    let sandbox_ready = runtime.ready_sandbox().is_some();
    let pending_init: Vec<&ContainerStatus> = init.iter().filter(|s| !succeeded(s)).collect();
    let unready: Vec<&ContainerStatus> = containers.iter().filter(|s| !s.ready).collect();
    let finished = phase == "Succeeded" || phase == "Failed";
    let containers_ready = unready.is_empty() && !finished;
    let unready_message = format!("containers with unready status: {}", names(&unready));
    let ready_reason = if finished {
        "PodCompleted"
    } else {
        "ContainersNotReady"
    };
    let mut conditions = vec![
        condition("PodReadyToStartContainers", sandbox_ready, None, None),
        condition(
            "Initialized",
            pending_init.is_empty(),
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: {}",
                names(&pending_init)
            )),
        ),
        condition(
            "Ready",
            containers_ready,
            Some(ready_reason),
            (!finished).then(|| unready_message.clone()),
        ),
        condition(
            "ContainersReady",
            containers_ready,
            Some(ready_reason),
            (!finished).then_some(unready_message),
        ),
    ];
    if init_done && phase == "Succeeded" {
        // Upstream reports Initialized True with reason PodCompleted on finished pods.
        conditions[1].reason = None;
    }
    let old_conditions = old.conditions.clone().unwrap_or_default();
    for c in &mut conditions {
        let same = old_conditions
            .iter()
            .find(|o| o.type_ == c.type_ && o.status == c.status);
        c.last_transition_time = same
            .and_then(|o| o.last_transition_time.clone())
            .or_else(|| Some(now.clone()));
        c.last_probe_time = None;
    }
    let owned = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
    ];
    let mut all: Vec<PodCondition> = old_conditions
        .into_iter()
        .filter(|c| !owned.contains(&c.type_.as_str()))
        .collect();
    all.extend(conditions);

    let pod_ip = runtime
        .sandboxes
        .first()
        .and_then(|s| s.ip.clone())
        .or_else(|| old.pod_ip.clone());
    let host_network = spec.host_network == Some(true);
    let pod_ip = if host_network {
        known.host_ip.map(str::to_owned)
    } else {
        pod_ip
    };
    PodStatus {
        phase: Some(phase.to_owned()),
        conditions: Some(all),
        host_ip: known.host_ip.map(str::to_owned),
        host_ips: known.host_ip.map(|ip| vec![HostIP { ip: ip.to_owned() }]),
        pod_ips: pod_ip.clone().map(|ip| vec![PodIP { ip }]),
        pod_ip,
        start_time: old.start_time.clone().or_else(|| Some(now.clone())),
        qos_class: known.qos_class.map(str::to_owned).or(old.qos_class),
        init_container_statuses: (!init.is_empty()).then_some(init),
        container_statuses: Some(containers),
        ..old
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cri::Sandbox;
    use k8s_cri::v1::ContainerState as Cs;
    use serde_json::json;

    fn pod(restart: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"restartPolicy": restart, "containers": [
                {"name": "a", "image": "busybox:1"}, {"name": "b", "image": "busybox:1"}
            ]},
            "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}
        }))
        .unwrap()
    }

    fn ctr(name: &str, state: Cs, exit: i32, attempt: u32, created: i64) -> ContainerInfo {
        ContainerInfo {
            id: format!("{name}-{attempt}"),
            sandbox_id: "s1".into(),
            name: name.into(),
            attempt,
            restart_count: attempt,
            state,
            created_at: created,
            started_at: created + 1_000_000_000,
            finished_at: if state == Cs::ContainerExited {
                created + 2_000_000_000
            } else {
                0
            },
            exit_code: exit,
            reason: String::new(),
            message: String::new(),
            image: "busybox:1".into(),
            image_ref: "sha256:abc".into(),
        }
    }

    fn runtime(containers: Vec<ContainerInfo>) -> PodRuntime {
        let mut r = PodRuntime {
            sandboxes: vec![Sandbox {
                id: "s1".into(),
                attempt: 0,
                ready: true,
                created_at: 1,
                ip: Some("10.42.0.5".into()),
            }],
            containers,
        };
        r.containers
            .sort_by_key(|c| std::cmp::Reverse(c.created_at));
        r
    }

    fn now() -> Time {
        Time("2026-01-02T03:04:05Z".parse().unwrap())
    }

    fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a PodCondition {
        s.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
    }

    #[test]
    fn nothing_created_yet_is_pending_container_creating() {
        let known = Known {
            host_ip: Some("192.0.2.2"),
            ..Known::default()
        };
        let s = pod_status(&pod("Always"), &PodRuntime::default(), &known, &now());
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        let a = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(
            a.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("ContainerCreating")
        );
        assert_eq!(cond(&s, "PodScheduled").status, "True");
        assert_eq!(cond(&s, "PodReadyToStartContainers").status, "False");
        let ready = cond(&s, "Ready");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [a b]")
        );
        assert_eq!(s.host_ip.as_deref(), Some("192.0.2.2"));
        assert_eq!(s.pod_ip, None);
    }

    #[test]
    fn running_containers_make_a_ready_running_pod() {
        let rt = runtime(vec![
            ctr("a", Cs::ContainerRunning, 0, 0, 10),
            ctr("b", Cs::ContainerRunning, 0, 0, 11),
        ]);
        let s = pod_status(&pod("Always"), &rt, &Known::default(), &now());
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(s.pod_ip.as_deref(), Some("10.42.0.5"));
        assert_eq!(cond(&s, "Ready").status, "True");
        assert_eq!(cond(&s, "ContainersReady").status, "True");
        assert_eq!(cond(&s, "Initialized").status, "True");
        let a = &s.container_statuses.as_ref().unwrap()[0];
        assert!(a.ready);
        assert_eq!(a.container_id.as_deref(), Some("containerd://a-0"));
        assert_eq!(a.image_id, "sha256:abc");
        assert!(a.state.as_ref().unwrap().running.is_some());
    }

    #[test]
    fn readiness_probe_failure_makes_the_pod_not_ready() {
        let rt = runtime(vec![
            ctr("a", Cs::ContainerRunning, 0, 0, 10),
            ctr("b", Cs::ContainerRunning, 0, 0, 11),
        ]);
        let known = Known {
            ready: HashMap::from([("b".to_owned(), false)]),
            ..Known::default()
        };
        let s = pod_status(&pod("Always"), &rt, &known, &now());
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&s, "Ready").status, "False");
        assert_eq!(
            cond(&s, "Ready").message.as_deref(),
            Some("containers with unready status: [b]")
        );
    }

    #[test]
    fn crash_loop_shows_waiting_with_the_last_termination() {
        let rt = runtime(vec![
            ctr("a", Cs::ContainerExited, 1, 2, 30),
            ctr("a", Cs::ContainerExited, 1, 1, 20),
            ctr("b", Cs::ContainerRunning, 0, 0, 11),
        ]);
        let known = Known {
            waiting: HashMap::from([(
                "a".to_owned(),
                Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: "back-off 20s".into(),
                },
            )]),
            ..Known::default()
        };
        let s = pod_status(&pod("Always"), &rt, &known, &now());
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let a = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(a.restart_count, 2);
        let w = a.state.as_ref().unwrap().waiting.as_ref().unwrap();
        assert_eq!(w.reason.as_deref(), Some("CrashLoopBackOff"));
        let last = a.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(last.exit_code, 1);
        assert_eq!(last.reason.as_deref(), Some("Error"));
    }

    #[test]
    fn phases_for_finished_containers() {
        let done = runtime(vec![
            ctr("a", Cs::ContainerExited, 0, 0, 10),
            ctr("b", Cs::ContainerExited, 0, 0, 11),
        ]);
        let s = pod_status(&pod("Never"), &done, &Known::default(), &now());
        assert_eq!(s.phase.as_deref(), Some("Succeeded"));
        assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodCompleted"));
        let one_failed = runtime(vec![
            ctr("a", Cs::ContainerExited, 0, 0, 10),
            ctr("b", Cs::ContainerExited, 3, 0, 11),
        ]);
        let s = pod_status(&pod("Never"), &one_failed, &Known::default(), &now());
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        let s = pod_status(&pod("OnFailure"), &one_failed, &Known::default(), &now());
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let oom = ContainerInfo {
            reason: "OOMKilled".into(),
            ..ctr("b", Cs::ContainerExited, 137, 0, 11)
        };
        let s = pod_status(
            &pod("Never"),
            &runtime(vec![ctr("a", Cs::ContainerRunning, 0, 0, 10), oom]),
            &Known::default(),
            &now(),
        );
        let b = &s.container_statuses.as_ref().unwrap()[1];
        let t = b.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
    }

    #[test]
    fn init_containers_gate_the_regular_ones() {
        let mut p = pod("Always");
        p.spec.as_mut().unwrap().init_containers = Some(vec![
            serde_json::from_value(json!({"name": "init", "image": "busybox:1"})).unwrap(),
        ]);
        let s = pod_status(
            &p,
            &runtime(vec![ctr("init", Cs::ContainerRunning, 0, 0, 5)]),
            &Known::default(),
            &now(),
        );
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        let init = cond(&s, "Initialized");
        assert_eq!(init.status, "False");
        assert_eq!(
            init.message.as_deref(),
            Some("containers with incomplete status: [init]")
        );
        let a = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(
            a.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("PodInitializing")
        );
        let s = pod_status(
            &p,
            &runtime(vec![ctr("init", Cs::ContainerExited, 1, 0, 5)]),
            &Known::default(),
            &now(),
        );
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        let mut never = p.clone();
        never.spec.as_mut().unwrap().restart_policy = Some("Never".into());
        let s = pod_status(
            &never,
            &runtime(vec![ctr("init", Cs::ContainerExited, 1, 0, 5)]),
            &Known::default(),
            &now(),
        );
        assert_eq!(s.phase.as_deref(), Some("Failed"));
    }

    #[test]
    fn transition_times_stay_while_a_condition_holds() {
        let rt = runtime(vec![
            ctr("a", Cs::ContainerRunning, 0, 0, 10),
            ctr("b", Cs::ContainerRunning, 0, 0, 11),
        ]);
        let mut p = pod("Always");
        let first = pod_status(&p, &rt, &Known::default(), &now());
        p.status = Some(first);
        let later = Time("2026-01-02T03:09:05Z".parse().unwrap());
        let second = pod_status(&p, &rt, &Known::default(), &later);
        assert_eq!(cond(&second, "Ready").last_transition_time, Some(now()));
        assert_eq!(second.start_time, Some(now()));
    }
}
