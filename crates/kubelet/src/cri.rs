//! The kubelet's view of the container runtime: the CRI clients, and the runtime state of
//! every pod, relisted from containerd (upstream's "generic PLEG": containerd 1.6 has no
//! container events, so the kubelet polls `ListPodSandbox` / `ListContainers` and asks for the
//! status of what changed).

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context, Result};
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerState, ContainerStatusRequest, ListContainersRequest, ListPodSandboxRequest,
    PodSandboxState, PodSandboxStatusRequest,
};
use tonic::transport::Channel;

/// The label on sandboxes and containers naming their pod's uid (set by [`crate::spec`]).
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
/// The label on containers naming their container in the pod spec.
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";
/// The annotation on containers holding their restart count.
pub const RESTART_COUNT_ANNOTATION: &str = "io.kubernetes.container.restartCount";

/// The CRI services of one containerd.
#[derive(Debug, Clone)]
pub struct Cri {
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
}

impl Cri {
    pub fn new(channel: Channel) -> Self {
        Self {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        }
    }
}

/// One pod sandbox as the kubelet tracks it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sandbox {
    pub id: String,
    pub attempt: u32,
    pub ready: bool,
    pub created_at: i64,
    pub ip: Option<String>,
}

/// One container as the kubelet tracks it (from `ContainerStatus`).
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerInfo {
    pub id: String,
    pub sandbox_id: String,
    pub name: String,
    pub attempt: u32,
    pub restart_count: u32,
    pub state: ContainerState,
    pub created_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub exit_code: i32,
    pub reason: String,
    pub message: String,
    pub image: String,
    pub image_ref: String,
}

impl ContainerInfo {
    pub fn running(&self) -> bool {
        self.state == ContainerState::ContainerRunning
    }

    pub fn exited(&self) -> bool {
        self.state == ContainerState::ContainerExited
    }
}

/// The runtime state of one pod: its sandboxes (newest first) and containers (newest first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodRuntime {
    pub sandboxes: Vec<Sandbox>,
    pub containers: Vec<ContainerInfo>,
}

impl PodRuntime {
    /// The newest sandbox, if it is ready.
    pub fn ready_sandbox(&self) -> Option<&Sandbox> {
        self.sandboxes.first().filter(|s| s.ready)
    }

    /// The newest container of this name.
    pub fn latest(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// The container of this name before the newest one (for `lastState`).
    pub fn previous(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers.iter().filter(|c| c.name == name).nth(1)
    }

    pub fn running(&self) -> impl Iterator<Item = &ContainerInfo> {
        self.containers.iter().filter(|c| c.running())
    }
}

/// What the relister remembers between rounds, so it only asks for the status of what changed.
#[derive(Debug, Default)]
pub struct Relister {
    containers: HashMap<String, ContainerInfo>,
    sandboxes: HashMap<String, (Sandbox, String)>,
    pods: BTreeMap<String, PodRuntime>,
}

impl Relister {
    /// Lists the runtime and returns the uids of the pods whose runtime state changed.
    pub async fn relist(&mut self, cri: &mut Cri) -> Result<HashSet<String>> {
        let sandboxes = cri
            .runtime
            .list_pod_sandbox(ListPodSandboxRequest::default())
            .await
            .context("ListPodSandbox")?
            .into_inner()
            .items;
        let containers = cri
            .runtime
            .list_containers(ListContainersRequest::default())
            .await
            .context("ListContainers")?
            .into_inner()
            .containers;

        let mut next_sandboxes = HashMap::new();
        for s in sandboxes {
            let Some(uid) = s.labels.get(POD_UID_LABEL).cloned() else {
                continue;
            };
            let ready = s.state == PodSandboxState::SandboxReady as i32;
            let known = self
                .sandboxes
                .get(&s.id)
                .filter(|(known, _)| known.ready == ready);
            let sandbox = match known {
                Some((known, _)) => known.clone(),
                None => {
                    let ip = if ready {
                        let status = cri
                            .runtime
                            .pod_sandbox_status(PodSandboxStatusRequest {
                                pod_sandbox_id: s.id.clone(),
                                verbose: false,
                            })
                            .await
                            .ok()
                            .and_then(|r| r.into_inner().status);
                        status
                            .and_then(|s| s.network)
                            .map(|n| n.ip)
                            .filter(|ip| !ip.is_empty())
                    } else {
                        self.sandboxes.get(&s.id).and_then(|(k, _)| k.ip.clone())
                    };
                    Sandbox {
                        id: s.id.clone(),
                        attempt: s.metadata.as_ref().map_or(0, |m| m.attempt),
                        ready,
                        created_at: s.created_at,
                        ip,
                    }
                }
            };
            next_sandboxes.insert(s.id, (sandbox, uid));
        }

        let mut next_containers = HashMap::new();
        let mut container_pods = HashMap::new();
        for c in containers {
            let Some(uid) = c.labels.get(POD_UID_LABEL).cloned() else {
                continue;
            };
            let state =
                ContainerState::try_from(c.state).unwrap_or(ContainerState::ContainerUnknown);
            let info = match self.containers.get(&c.id).filter(|k| k.state == state) {
                Some(known) => known.clone(),
                None => match container_status(cri, &c.id).await {
                    Ok(info) => ContainerInfo {
                        sandbox_id: c.pod_sandbox_id.clone(),
                        ..info
                    },
                    // Removed between the list and the status: it shows up gone next round.
                    Err(_) => continue,
                },
            };
            container_pods.insert(c.id.clone(), uid);
            next_containers.insert(c.id, info);
        }

        let mut pods: BTreeMap<String, PodRuntime> = BTreeMap::new();
        for (sandbox, uid) in next_sandboxes.values() {
            pods.entry(uid.clone())
                .or_default()
                .sandboxes
                .push(sandbox.clone());
        }
        for (id, info) in &next_containers {
            if let Some(uid) = container_pods.get(id) {
                pods.entry(uid.clone())
                    .or_default()
                    .containers
                    .push(info.clone());
            }
        }
        for pod in pods.values_mut() {
            pod.sandboxes
                .sort_by_key(|s| std::cmp::Reverse((s.created_at, s.attempt)));
            pod.containers
                .sort_by_key(|c| std::cmp::Reverse((c.created_at, c.attempt)));
        }
        let mut changed: HashSet<String> = HashSet::new();
        for (uid, pod) in &pods {
            if self.pods.get(uid) != Some(pod) {
                changed.insert(uid.clone());
            }
        }
        changed.extend(self.pods.keys().filter(|u| !pods.contains_key(*u)).cloned());
        self.sandboxes = next_sandboxes;
        self.containers = next_containers;
        self.pods = pods;
        Ok(changed)
    }

    /// The runtime state of a pod as of the last relist (empty if it has nothing running).
    pub fn pod(&self, uid: &str) -> PodRuntime {
        self.pods.get(uid).cloned().unwrap_or_default()
    }

    /// The uids of every pod with something in the runtime.
    pub fn uids(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }
}

/// The status of one container.
pub async fn container_status(cri: &mut Cri, id: &str) -> Result<ContainerInfo> {
    let status = cri
        .runtime
        .container_status(ContainerStatusRequest {
            container_id: id.to_owned(),
            verbose: false,
        })
        .await
        .with_context(|| format!("ContainerStatus {id}"))?
        .into_inner()
        .status
        .with_context(|| format!("ContainerStatus {id}: no status"))?;
    let restart_count = status
        .annotations
        .get(RESTART_COUNT_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| status.metadata.as_ref().map_or(0, |m| m.attempt));
    Ok(ContainerInfo {
        id: status.id,
        sandbox_id: String::new(),
        name: status
            .labels
            .get(CONTAINER_NAME_LABEL)
            .cloned()
            .or_else(|| status.metadata.as_ref().map(|m| m.name.clone()))
            .unwrap_or_default(),
        attempt: status.metadata.as_ref().map_or(0, |m| m.attempt),
        restart_count,
        state: ContainerState::try_from(status.state).unwrap_or(ContainerState::ContainerUnknown),
        created_at: status.created_at,
        started_at: status.started_at,
        finished_at: status.finished_at,
        exit_code: status.exit_code,
        reason: status.reason,
        message: status.message,
        image: status.image.map(|i| i.image).unwrap_or_default(),
        image_ref: status.image_ref,
    })
}

/// Commands in containers through CRI `ExecSync`, for probes and lifecycle hooks.
#[derive(Debug, Clone)]
pub struct CriExec(pub Cri);

impl crate::probe::Exec for CriExec {
    fn exec_sync(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        timeout: std::time::Duration,
    ) -> impl std::future::Future<Output = Result<crate::probe::ExecOutput>> + Send {
        let mut cri = self.0.clone();
        let request = k8s_cri::v1::ExecSyncRequest {
            container_id: container_id.to_owned(),
            cmd,
            timeout: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        };
        async move {
            let response = cri.runtime.exec_sync(request).await?.into_inner();
            Ok(crate::probe::ExecOutput {
                exit_code: response.exit_code,
                stdout: response.stdout,
                stderr: response.stderr,
            })
        }
    }
}
