"""Pod security: the Kubernetes `restricted` profile, plus no automounted API token."""

from __future__ import annotations

from collections.abc import Iterator

from checks.finding import Severity
from checks.manifests import K8sObject
from checks.policies.rule import (
    Family,
    Hit,
    RuleContext,
    as_dict,
    as_list,
    containers,
    dicts,
    effective,
    per_object,
    pod_spec,
)

family = Family("podsecurity")


@family.rule(
    "TF-POD-001",
    Severity.HIGH,
    "Container may run as root",
    rationale="A process running as root inside the container is one kernel bug away from root on the node.",
    fix="Set `securityContext.runAsNonRoot: true` (pod or container) and a non-zero `runAsUser`.",
    references=("kube-linter run-as-non-root", "CKV_K8S_23", "CKV_K8S_40", "KSV-0012"),
)
@per_object()
def run_as_non_root(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod):
        if effective(c, pod, "runAsUser") == 0:
            yield f"{c.label} sets runAsUser: 0"
        elif effective(c, pod, "runAsNonRoot") is not True:
            yield f"{c.label} does not set runAsNonRoot: true"


@family.rule(
    "TF-POD-002",
    Severity.HIGH,
    "Container allows privilege escalation",
    rationale="setuid binaries can regain privileges the container was meant to drop.",
    fix="Set `securityContext.allowPrivilegeEscalation: false` on every container.",
    references=("CKV_K8S_20", "KSV-0001", "kube-linter privilege-escalation-container"),
)
@per_object()
def no_privilege_escalation(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod):
        if c.security.get("allowPrivilegeEscalation") is not False:
            yield f"{c.label} does not set allowPrivilegeEscalation: false"


@family.rule(
    "TF-POD-003",
    Severity.MEDIUM,
    "Root filesystem is writable",
    rationale="A read-only root filesystem stops an attacker from dropping tools or changing code in place.",
    fix="Set `readOnlyRootFilesystem: true` and mount emptyDir/PVC volumes where the app must write (/tmp, data).",
    references=("CKV_K8S_22", "KSV-0014", "kube-linter no-read-only-root-fs"),
)
@per_object()
def read_only_root(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod):
        if c.security.get("readOnlyRootFilesystem") is not True:
            yield f"{c.label} does not set readOnlyRootFilesystem: true"


@family.rule(
    "TF-POD-004",
    Severity.MEDIUM,
    "Capabilities are not dropped",
    rationale="Default capabilities (NET_RAW, CHOWN, ...) are not needed by web apps and widen the attack surface.",
    fix="Set `securityContext.capabilities.drop: [ALL]`; add back only NET_BIND_SERVICE if a low port is needed.",
    references=("KSV-0003", "CKV_K8S_28", "CKV_K8S_37", "KSV-0106"),
)
@per_object()
def drop_all_capabilities(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod):
        caps = as_dict(c.security.get("capabilities"))
        dropped = {str(x).upper() for x in as_list(caps.get("drop"))}
        added = {str(x).upper() for x in as_list(caps.get("add"))} - {"NET_BIND_SERVICE"}
        if "ALL" not in dropped:
            yield f"{c.label} does not drop ALL capabilities"
        if added:
            yield f"{c.label} adds capabilities {', '.join(sorted(added))}"


@family.rule(
    "TF-POD-005",
    Severity.MEDIUM,
    "No seccomp profile",
    rationale="Without seccomp every syscall is allowed; RuntimeDefault blocks the ones containers never need.",
    fix="Set `securityContext.seccompProfile.type: RuntimeDefault` on the pod.",
    references=("KSV-0104", "KSV-0030", "CKV_K8S_31"),
)
@per_object()
def seccomp(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod):
        profile = as_dict(effective(c, pod, "seccompProfile")).get("type")
        if profile not in ("RuntimeDefault", "Localhost"):
            yield f"{c.label} has seccompProfile {profile or 'unset'} (want RuntimeDefault)"


@family.rule(
    "TF-POD-006",
    Severity.CRITICAL,
    "Privileged container",
    rationale="A privileged container is root on the node: it sees every device and can escape trivially.",
    fix="Remove `privileged: true`; grant the single capability the workload really needs instead.",
    references=("CKV_K8S_16", "KSV-0017", "kube-linter privileged-container"),
)
@per_object()
def not_privileged(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod):
        if c.security.get("privileged") is True:
            yield f"{c.label} is privileged"


@family.rule(
    "TF-POD-007",
    Severity.HIGH,
    "hostPath volume",
    rationale="hostPath mounts expose the node's filesystem to the tenant's pods.",
    fix="Use a PersistentVolumeClaim, emptyDir, ConfigMap or Secret volume instead.",
    references=("KSV-0023", "kube-linter host-mounts"),
)
@per_object()
def no_host_path(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for volume in dicts(pod.get("volumes")):
        if "hostPath" in volume:
            path = as_dict(volume["hostPath"]).get("path", "?")
            yield f"volume {volume.get('name', '?')!r} mounts host path {path}"


@family.rule(
    "TF-POD-008",
    Severity.HIGH,
    "Pod shares host namespaces",
    rationale="hostNetwork/hostPID/hostIPC let a pod see and talk to everything else on the node.",
    fix="Remove hostNetwork, hostPID and hostIPC from the pod spec.",
    references=("KSV-0009", "KSV-0010", "KSV-0008", "CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19"),
)
@per_object()
def no_host_namespaces(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key) is True:
            yield f"pod sets {key}: true"


@family.rule(
    "TF-POD-009",
    Severity.MEDIUM,
    "Service account token is mounted automatically",
    rationale="Odoo never calls the Kubernetes API; a mounted token only helps an attacker who got code execution.",
    fix="Set `automountServiceAccountToken: false` on the pod (or its ServiceAccount); waive it where a pod needs "
    "the API.",
    references=("CKV_K8S_38", "KSV-0036"),
)
def no_automounted_token(ctx: RuleContext) -> Iterator[Hit]:
    disabled_accounts = {
        (o.namespace, o.name)
        for o in ctx.of_kind("ServiceAccount")
        if o.doc.get("automountServiceAccountToken") is False
    }
    for obj in ctx.objects:
        pod = pod_spec(obj)
        if pod is None:
            continue
        setting = pod.get("automountServiceAccountToken")
        account = str(pod.get("serviceAccountName") or "default")
        if setting is False or (setting is None and (obj.namespace, account) in disabled_accounts):
            continue
        yield Hit(obj, f"pod mounts the token of service account {account!r} (automountServiceAccountToken not false)")
