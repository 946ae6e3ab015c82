//! Security settings of the sandbox and of each container, as upstream's
//! `kuberuntime/security_context.go`, `kuberuntime_sandbox.go`, `kuberuntime/util`
//! (namespaces), `pkg/securitycontext` and `kuberuntime_security_profile.go` form them.
//!
//! Differs from upstream: no user namespaces (the feature is off by default in 1.32; a pod
//! with `hostUsers: false` is refused as upstream refuses it with the gate off), no SELinux
//! relabelling or extra supplemental groups from volume GID annotations, and AppArmor is
//! passed through without checking the host supports it.

use k8s_cri::v1::{
    Capability, Int64Value, LinuxContainerSecurityContext, LinuxSandboxSecurityContext,
    NamespaceMode, NamespaceOption, SeLinuxOption, SecurityProfile, SupplementalGroupsPolicy,
    security_profile::ProfileType,
};
use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, Container, Pod, PodSecurityContext, SELinuxOptions,
    SeccompProfile, SecurityContext,
};

use super::names::{format_pod, go_quote};
use super::{ImageUser, NodeContext, SpecError};

/// Upstream's default masked and read-only paths (`pkg/securitycontext/util.go`, 1.32).
const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Upstream's `PidNamespaceForPod`: NODE for hostPID, POD for shareProcessNamespace, else
/// CONTAINER (the CRI default would be POD, so it is always set explicitly).
pub fn pid_namespace(pod: &Pod) -> NamespaceMode {
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.host_pid).unwrap_or(false) {
        NamespaceMode::Node
    } else if spec
        .and_then(|s| s.share_process_namespace)
        .unwrap_or(false)
    {
        NamespaceMode::Pod
    } else {
        NamespaceMode::Container
    }
}

/// Upstream's `NamespacesForPod`: network and IPC are the pod's unless host ones are asked
/// for; PID as [`pid_namespace`].
pub fn namespace_options(pod: &Pod) -> Result<NamespaceOption, SpecError> {
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.host_users) == Some(false) {
        return Err(SpecError::Invalid(
            "the feature gate \"UserNamespacesSupport\" is disabled: can't set spec.HostUsers"
                .to_string(),
        ));
    }
    let mode = |host: Option<bool>| {
        if host.unwrap_or(false) {
            NamespaceMode::Node
        } else {
            NamespaceMode::Pod
        }
    };
    Ok(NamespaceOption {
        network: mode(spec.and_then(|s| s.host_network)) as i32,
        pid: pid_namespace(pod) as i32,
        ipc: mode(spec.and_then(|s| s.host_ipc)) as i32,
        target_id: String::new(),
        userns_options: None,
    })
}

fn selinux(o: &SELinuxOptions) -> SeLinuxOption {
    SeLinuxOption {
        user: o.user.clone().unwrap_or_default(),
        role: o.role.clone().unwrap_or_default(),
        r#type: o.type_.clone().unwrap_or_default(),
        level: o.level.clone().unwrap_or_default(),
    }
}

fn pod_security(pod: &Pod) -> Option<&PodSecurityContext> {
    pod.spec.as_ref()?.security_context.as_ref()
}

fn supplemental_groups_policy(sc: &PodSecurityContext) -> Result<i32, SpecError> {
    match sc.supplemental_groups_policy.as_deref() {
        None => Ok(SupplementalGroupsPolicy::Merge as i32),
        Some(p) => SupplementalGroupsPolicy::from_str_name(p)
            .map(|p| p as i32)
            .ok_or_else(|| {
                SpecError::Invalid(format!("unsupported supplementalGroupsPolicy: {p}"))
            }),
    }
}

/// fsGroup first, then the pod's supplemental groups (upstream's order).
fn supplemental_groups(sc: &PodSecurityContext) -> Vec<i64> {
    sc.fs_group
        .into_iter()
        .chain(sc.supplemental_groups.iter().flatten().copied())
        .collect()
}

/// Whether any container (init, regular, ephemeral) asks to be privileged.
fn has_privileged_container(pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else {
        return false;
    };
    let privileged = |sc: Option<&SecurityContext>| sc.and_then(|s| s.privileged).unwrap_or(false);
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| privileged(c.security_context.as_ref()))
        || spec
            .ephemeral_containers
            .iter()
            .flatten()
            .any(|c| privileged(c.security_context.as_ref()))
}

/// The sandbox's security context (upstream's `generatePodSandboxLinuxConfig`): the
/// runtime's default seccomp profile, privileged when any container is, the pod's user,
/// group, namespaces, groups and SELinux options.
pub fn sandbox_security(pod: &Pod) -> Result<LinuxSandboxSecurityContext, SpecError> {
    let mut sc = LinuxSandboxSecurityContext {
        privileged: has_privileged_container(pod),
        seccomp: Some(SecurityProfile {
            profile_type: ProfileType::RuntimeDefault as i32,
            localhost_ref: String::new(),
        }),
        namespace_options: Some(namespace_options(pod)?),
        ..Default::default()
    };
    if let Some(psc) = pod_security(pod) {
        sc.run_as_user = psc.run_as_user.map(|value| Int64Value { value });
        sc.run_as_group = psc.run_as_group.map(|value| Int64Value { value });
        sc.supplemental_groups = supplemental_groups(psc);
        sc.supplemental_groups_policy = supplemental_groups_policy(psc)?;
        sc.selinux_options = psc.se_linux_options.as_ref().map(selinux);
    }
    Ok(sc)
}

/// Upstream's `DetermineEffectiveSecurityContext`: the container's settings over the pod's
/// SELinux options, user, group and runAsNonRoot.
#[derive(Debug, Default, Clone)]
pub(crate) struct Effective {
    se_linux: Option<SELinuxOptions>,
    capabilities: Option<Capabilities>,
    privileged: Option<bool>,
    run_as_user: Option<i64>,
    run_as_group: Option<i64>,
    run_as_non_root: Option<bool>,
    read_only_root_filesystem: Option<bool>,
    allow_privilege_escalation: Option<bool>,
    proc_mount: Option<String>,
}

pub(crate) fn effective(pod: &Pod, container: &Container) -> Effective {
    let mut e = Effective::default();
    if let Some(p) = pod_security(pod) {
        e.se_linux = p.se_linux_options.clone();
        e.run_as_user = p.run_as_user;
        e.run_as_group = p.run_as_group;
        e.run_as_non_root = p.run_as_non_root;
    }
    if let Some(c) = &container.security_context {
        if c.se_linux_options.is_some() {
            e.se_linux = c.se_linux_options.clone();
        }
        if c.capabilities.is_some() {
            e.capabilities = c.capabilities.clone();
        }
        e.privileged = c.privileged.or(e.privileged);
        e.run_as_user = c.run_as_user.or(e.run_as_user);
        e.run_as_group = c.run_as_group.or(e.run_as_group);
        e.run_as_non_root = c.run_as_non_root.or(e.run_as_non_root);
        e.read_only_root_filesystem = c.read_only_root_filesystem;
        e.allow_privilege_escalation = c.allow_privilege_escalation;
        e.proc_mount = c.proc_mount.clone();
    }
    e
}

/// Upstream's `verifyRunAsNonRoot`: with `runAsNonRoot`, refuse UID 0, an image user that
/// is a name (it cannot be checked) or an image UID outside 0..=2147483647.
pub fn verify_run_as_non_root(
    pod: &Pod,
    container: &Container,
    image_user: &ImageUser,
) -> Result<(), SpecError> {
    let e = effective(pod, container);
    if e.run_as_non_root != Some(true) {
        return Ok(());
    }
    let who = format!(
        "(pod: {}, container: {})",
        go_quote(&format_pod(pod)),
        container.name
    );
    if let Some(uid) = e.run_as_user {
        if uid == 0 {
            return Err(SpecError::Invalid(format!(
                "container's runAsUser breaks non-root policy {who}"
            )));
        }
        return Ok(());
    }
    match image_user {
        ImageUser::Name(name) => Err(SpecError::Invalid(format!(
            "container has runAsNonRoot and image has non-numeric user ({name}), cannot verify user is non-root {who}"
        ))),
        ImageUser::Uid(0) => Err(SpecError::Invalid(format!(
            "container has runAsNonRoot and image will run as root {who}"
        ))),
        ImageUser::Uid(uid) if !(0..=i64::from(i32::MAX)).contains(uid) => {
            Err(SpecError::Invalid(format!(
                "container has runAsNonRoot and image has an invalid user id ({uid}). (Must be 1-({})): must be between 0 and 2147483647, inclusive {who}",
                i32::MAX
            )))
        }
        ImageUser::Uid(_) => Ok(()),
    }
}

/// Upstream's `fieldSeccompProfile`.
fn seccomp_profile(
    profile: Option<&SeccompProfile>,
    node: &NodeContext,
) -> Result<SecurityProfile, SpecError> {
    let of = |t: ProfileType| SecurityProfile {
        profile_type: t as i32,
        localhost_ref: String::new(),
    };
    let Some(profile) = profile else {
        return Ok(of(if node.seccomp_default {
            ProfileType::RuntimeDefault
        } else {
            ProfileType::Unconfined
        }));
    };
    match profile.type_.as_str() {
        "RuntimeDefault" => Ok(of(ProfileType::RuntimeDefault)),
        "Localhost" => match profile
            .localhost_profile
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            Some(p) => Ok(SecurityProfile {
                profile_type: ProfileType::Localhost as i32,
                localhost_ref: node
                    .seccomp_profile_root
                    .join(p)
                    .to_string_lossy()
                    .into_owned(),
            }),
            None => Err(SpecError::Invalid(
                "localhostProfile must be set if seccompProfile type is Localhost.".to_string(),
            )),
        },
        _ => Ok(of(ProfileType::Unconfined)),
    }
}

/// Upstream's `getAppArmorProfile`: the container's field, else its beta annotation, else
/// the pod's field; the profile and its deprecated string form.
fn apparmor_profile(
    pod: &Pod,
    container: &Container,
) -> Result<(Option<SecurityProfile>, String), SpecError> {
    let from_annotation = || {
        let key = format!(
            "container.apparmor.security.beta.kubernetes.io/{}",
            container.name
        );
        let value = pod.metadata.annotations.as_ref()?.get(&key)?;
        Some(match value.as_str() {
            "runtime/default" => AppArmorProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            },
            "unconfined" => AppArmorProfile {
                type_: "Unconfined".into(),
                localhost_profile: None,
            },
            other => AppArmorProfile {
                type_: "Localhost".into(),
                localhost_profile: other.strip_prefix("localhost/").map(str::to_string),
            },
        })
    };
    let profile = container
        .security_context
        .as_ref()
        .and_then(|s| s.app_armor_profile.clone())
        .or_else(from_annotation)
        .or_else(|| pod_security(pod).and_then(|s| s.app_armor_profile.clone()));
    let Some(profile) = profile else {
        return Ok((None, String::new()));
    };
    let (t, localhost, deprecated) = match profile.type_.as_str() {
        "RuntimeDefault" => (
            ProfileType::RuntimeDefault,
            String::new(),
            "runtime/default".to_string(),
        ),
        "Unconfined" => (
            ProfileType::Unconfined,
            String::new(),
            "unconfined".to_string(),
        ),
        "Localhost" => match profile.localhost_profile.filter(|p| !p.is_empty()) {
            Some(p) => (ProfileType::Localhost, p.clone(), format!("localhost/{p}")),
            None => {
                return Err(SpecError::Invalid(
                    "missing localhost apparmor profile name".to_string(),
                ));
            }
        },
        other => {
            return Err(SpecError::Invalid(format!(
                "unknown apparmor profile type: {}",
                go_quote(other)
            )));
        }
    };
    Ok((
        Some(SecurityProfile {
            profile_type: t as i32,
            localhost_ref: localhost,
        }),
        deprecated,
    ))
}

/// The container's security context (upstream's `determineEffectiveSecurityContext`).
pub fn container_security(
    pod: &Pod,
    container: &Container,
    node: &NodeContext,
    image_user: &ImageUser,
) -> Result<LinuxContainerSecurityContext, SpecError> {
    let e = effective(pod, container);
    let unmasked = e.proc_mount.as_deref() == Some("Unmasked");
    let paths = |list: &[&str]| {
        if unmasked {
            Vec::new()
        } else {
            list.iter().map(|s| s.to_string()).collect()
        }
    };
    let mut sc = LinuxContainerSecurityContext {
        capabilities: e.capabilities.as_ref().map(|c| Capability {
            add_capabilities: c.add.clone().unwrap_or_default(),
            drop_capabilities: c.drop.clone().unwrap_or_default(),
            add_ambient_capabilities: Vec::new(),
        }),
        privileged: e.privileged.unwrap_or(false),
        selinux_options: e.se_linux.as_ref().map(selinux),
        run_as_user: e.run_as_user.map(|value| Int64Value { value }),
        run_as_group: e.run_as_group.map(|value| Int64Value { value }),
        readonly_rootfs: e.read_only_root_filesystem.unwrap_or(false),
        no_new_privs: e.allow_privilege_escalation == Some(false),
        masked_paths: paths(DEFAULT_MASKED_PATHS),
        readonly_paths: paths(DEFAULT_READONLY_PATHS),
        namespace_options: Some(namespace_options(pod)?),
        ..Default::default()
    };
    let container_seccomp = container
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref());
    sc.seccomp = Some(seccomp_profile(
        container_seccomp.or_else(|| pod_security(pod).and_then(|s| s.seccomp_profile.as_ref())),
        node,
    )?);
    let (apparmor, deprecated) = apparmor_profile(pod, container)?;
    sc.apparmor = apparmor;
    #[allow(deprecated)]
    {
        sc.apparmor_profile = deprecated;
    }
    if sc.run_as_user.is_none() {
        match image_user {
            ImageUser::Uid(uid) => sc.run_as_user = Some(Int64Value { value: *uid }),
            ImageUser::Name(name) => sc.run_as_username = name.clone(),
        }
    }
    if let Some(psc) = pod_security(pod) {
        sc.supplemental_groups = supplemental_groups(psc);
        sc.supplemental_groups_policy = supplemental_groups_policy(psc)?;
    }
    Ok(sc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u",
                         "annotations": {"container.apparmor.security.beta.kubernetes.io/b": "localhost/prof"}},
            "spec": spec
        }))
        .unwrap()
    }

    fn c(p: &Pod, i: usize) -> &Container {
        &p.spec.as_ref().unwrap().containers[i]
    }

    #[test]
    fn namespaces() {
        let p = pod(serde_json::json!({"containers": [{"name": "a"}]}));
        let ns = namespace_options(&p).unwrap();
        assert_eq!(
            (ns.network, ns.pid, ns.ipc),
            (
                NamespaceMode::Pod as i32,
                NamespaceMode::Container as i32,
                NamespaceMode::Pod as i32
            )
        );
        let p =
            pod(serde_json::json!({"containers": [{"name": "a"}], "shareProcessNamespace": true}));
        assert_eq!(
            namespace_options(&p).unwrap().pid,
            NamespaceMode::Pod as i32
        );
        let p = pod(
            serde_json::json!({"containers": [{"name": "a"}], "shareProcessNamespace": true,
            "hostPID": true, "hostNetwork": true, "hostIPC": true}),
        );
        let ns = namespace_options(&p).unwrap();
        assert_eq!(
            (ns.network, ns.pid, ns.ipc),
            (
                NamespaceMode::Node as i32,
                NamespaceMode::Node as i32,
                NamespaceMode::Node as i32
            )
        );
        let p = pod(serde_json::json!({"containers": [{"name": "a"}], "hostUsers": false}));
        assert!(
            namespace_options(&p)
                .unwrap_err()
                .to_string()
                .contains("UserNamespacesSupport")
        );
    }

    #[test]
    fn sandbox_security_context() {
        let p = pod(serde_json::json!({
            "containers": [{"name": "a"}],
            "initContainers": [{"name": "i", "securityContext": {"privileged": true}}],
            "securityContext": {"runAsUser": 1000, "runAsGroup": 2000, "fsGroup": 3000,
                                "supplementalGroups": [4000, 5000], "supplementalGroupsPolicy": "Strict",
                                "seLinuxOptions": {"level": "s0:c1"}}
        }));
        let sc = sandbox_security(&p).unwrap();
        assert!(sc.privileged);
        assert_eq!(sc.run_as_user, Some(Int64Value { value: 1000 }));
        assert_eq!(sc.run_as_group, Some(Int64Value { value: 2000 }));
        assert_eq!(sc.supplemental_groups, [3000, 4000, 5000]);
        assert_eq!(
            sc.supplemental_groups_policy,
            SupplementalGroupsPolicy::Strict as i32
        );
        assert_eq!(
            sc.seccomp.unwrap().profile_type,
            ProfileType::RuntimeDefault as i32
        );
        assert_eq!(sc.selinux_options.unwrap().level, "s0:c1");
        let p = pod(serde_json::json!({"containers": [{"name": "a"}],
            "securityContext": {"supplementalGroupsPolicy": "Loose"}}));
        assert_eq!(
            sandbox_security(&p).unwrap_err().to_string(),
            "unsupported supplementalGroupsPolicy: Loose"
        );
    }

    #[test]
    fn container_security_context_merges_pod_and_container() {
        let p = pod(serde_json::json!({
            "containers": [
                {"name": "a", "securityContext": {
                    "runAsUser": 1001, "privileged": true, "readOnlyRootFilesystem": true,
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"}}},
                {"name": "b", "securityContext": {"procMount": "Unmasked"}},
                {"name": "c", "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"},
                                                   "appArmorProfile": {"type": "RuntimeDefault"}}}
            ],
            "securityContext": {"runAsUser": 1000, "runAsGroup": 2000, "fsGroup": 3000, "supplementalGroups": [4000]}
        }));
        let node = NodeContext::default();
        let a = container_security(&p, c(&p, 0), &node, &ImageUser::Uid(0)).unwrap();
        assert_eq!(a.run_as_user, Some(Int64Value { value: 1001 }));
        assert_eq!(a.run_as_group, Some(Int64Value { value: 2000 }));
        assert!(a.privileged && a.readonly_rootfs && a.no_new_privs);
        let caps = a.capabilities.unwrap();
        assert_eq!(caps.add_capabilities, ["NET_ADMIN"]);
        assert_eq!(caps.drop_capabilities, ["ALL"]);
        assert_eq!(a.supplemental_groups, [3000, 4000]);
        assert_eq!(
            a.namespace_options.unwrap().pid,
            NamespaceMode::Container as i32
        );
        assert_eq!(a.masked_paths.len(), DEFAULT_MASKED_PATHS.len());
        assert_eq!(a.readonly_paths, DEFAULT_READONLY_PATHS);
        assert_eq!(
            a.seccomp.unwrap().profile_type,
            ProfileType::RuntimeDefault as i32
        );
        assert!(a.apparmor.is_none());

        let b = container_security(&p, c(&p, 1), &node, &ImageUser::Uid(0)).unwrap();
        assert!(b.masked_paths.is_empty() && b.readonly_paths.is_empty());
        assert!(!b.privileged && !b.no_new_privs);
        assert_eq!(b.run_as_user, Some(Int64Value { value: 1000 }));
        // Unset seccomp without seccompDefault: Unconfined.
        assert_eq!(
            b.seccomp.unwrap().profile_type,
            ProfileType::Unconfined as i32
        );
        let ap = b.apparmor.unwrap();
        assert_eq!(
            (ap.profile_type, ap.localhost_ref.as_str()),
            (ProfileType::Localhost as i32, "prof")
        );
        #[allow(deprecated)]
        let deprecated = b.apparmor_profile.clone();
        assert_eq!(deprecated, "localhost/prof");

        let n2 = NodeContext {
            seccomp_profile_root: "/var/lib/barge/seccomp".into(),
            ..NodeContext::default()
        };
        let cc = container_security(&p, c(&p, 2), &n2, &ImageUser::Uid(0)).unwrap();
        let s = cc.seccomp.unwrap();
        assert_eq!(s.profile_type, ProfileType::Localhost as i32);
        assert_eq!(s.localhost_ref, "/var/lib/barge/seccomp/p.json");
        assert_eq!(
            cc.apparmor.unwrap().profile_type,
            ProfileType::RuntimeDefault as i32
        );
    }

    #[test]
    fn image_user_fills_in_when_no_run_as_user() {
        let p = pod(serde_json::json!({"containers": [{"name": "a"}]}));
        let node = NodeContext::default();
        let sc = container_security(&p, c(&p, 0), &node, &ImageUser::Uid(33)).unwrap();
        assert_eq!(sc.run_as_user, Some(Int64Value { value: 33 }));
        let sc = container_security(&p, c(&p, 0), &node, &ImageUser::Name("www".into())).unwrap();
        assert_eq!(sc.run_as_user, None);
        assert_eq!(sc.run_as_username, "www");
        assert_eq!(sc.supplemental_groups_policy, 0);
        let node = NodeContext {
            seccomp_default: true,
            ..NodeContext::default()
        };
        let sc = container_security(&p, c(&p, 0), &node, &ImageUser::Uid(0)).unwrap();
        assert_eq!(
            sc.seccomp.unwrap().profile_type,
            ProfileType::RuntimeDefault as i32
        );
    }

    #[test]
    fn run_as_non_root() {
        let p = pod(serde_json::json!({
            "containers": [
                {"name": "a"},
                {"name": "b", "securityContext": {"runAsUser": 0}},
                {"name": "c", "securityContext": {"runAsUser": 5}},
                {"name": "d", "securityContext": {"runAsNonRoot": false}}
            ],
            "securityContext": {"runAsNonRoot": true}
        }));
        assert_eq!(
            verify_run_as_non_root(&p, c(&p, 0), &ImageUser::Uid(0))
                .unwrap_err()
                .to_string(),
            "container has runAsNonRoot and image will run as root (pod: \"p_ns(u)\", container: a)"
        );
        assert_eq!(
            verify_run_as_non_root(&p, c(&p, 0), &ImageUser::Name("web".into()))
                .unwrap_err()
                .to_string(),
            "container has runAsNonRoot and image has non-numeric user (web), cannot verify user is non-root (pod: \"p_ns(u)\", container: a)"
        );
        assert!(verify_run_as_non_root(&p, c(&p, 0), &ImageUser::Uid(1000)).is_ok());
        assert!(
            verify_run_as_non_root(&p, c(&p, 0), &ImageUser::Uid(-1))
                .unwrap_err()
                .to_string()
                .contains("invalid user id (-1)")
        );
        assert_eq!(
            verify_run_as_non_root(&p, c(&p, 1), &ImageUser::Uid(1000))
                .unwrap_err()
                .to_string(),
            "container's runAsUser breaks non-root policy (pod: \"p_ns(u)\", container: b)"
        );
        assert!(verify_run_as_non_root(&p, c(&p, 2), &ImageUser::Uid(0)).is_ok());
        assert!(verify_run_as_non_root(&p, c(&p, 3), &ImageUser::Uid(0)).is_ok());
    }
}
