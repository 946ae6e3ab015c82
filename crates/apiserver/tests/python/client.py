"""The official Python `kubernetes` client against Barge: create, list, watch, patch and delete
pods and deployments. Run by tests/apiserver/python.rs with KUBECONFIG set; exits non-zero on
the first failure."""

import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config()
core = client.CoreV1Api()
apps = client.AppsV1Api()
NS = "default"


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


pod = client.V1Pod(
    metadata=client.V1ObjectMeta(name="py-pod", labels={"app": "py"}),
    spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]),
)
created = core.create_namespaced_pod(NS, pod)
check(created.metadata.uid and created.status.phase == "Pending", "create pod")

pods = core.list_namespaced_pod(NS, label_selector="app=py")
check([p.metadata.name for p in pods.items] == ["py-pod"], "list pods by label")

# A watch without resourceVersion starts with the current objects.
events = []
w = watch.Watch()
for ev in w.stream(core.list_namespaced_pod, NS, timeout_seconds=2):
    events.append((ev["type"], ev["object"].metadata.name))
check(("ADDED", "py-pod") in events, "watch lists current pods first")

# A watch from the list's resourceVersion sees later changes.
rv = core.list_namespaced_pod(NS).metadata.resource_version
seen = []


def follow():
    for ev in watch.Watch().stream(core.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=3):
        seen.append((ev["type"], ev["object"].metadata.name))


t = threading.Thread(target=follow)
t.start()
core.patch_namespaced_pod("py-pod", NS, {"metadata": {"labels": {"tier": "web"}}})
t.join()
check(("MODIFIED", "py-pod") in seen, "watch sees a patch")
check(core.read_namespaced_pod("py-pod", NS).metadata.labels == {"app": "py", "tier": "web"}, "patch pod labels")

dep = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="py-deploy"),
    spec=client.V1DeploymentSpec(
        replicas=2,
        selector=client.V1LabelSelector(match_labels={"app": "py-deploy"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "py-deploy"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.27")]),
        ),
    ),
)
made = apps.create_namespaced_deployment(NS, dep)
check(made.spec.replicas == 2 and made.metadata.generation == 1, "create deployment")
apps.patch_namespaced_deployment_scale("py-deploy", NS, {"spec": {"replicas": 4}})
check(apps.read_namespaced_deployment("py-deploy", NS).spec.replicas == 4, "scale deployment")
names = [d.metadata.name for d in apps.list_namespaced_deployment(NS).items]
check("py-deploy" in names, "list deployments")

apps.delete_namespaced_deployment("py-deploy", NS)
core.delete_namespaced_pod("py-pod", NS)
try:
    core.read_namespaced_pod("py-pod", NS)
    check(False, "deleted pod is gone")
except ApiException as e:
    check(e.status == 404, "deleted pod is gone (404)")
print("all ok")
