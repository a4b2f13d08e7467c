"""Which kinds exist, their resource names and scope: what a RESTMapper knows.

The CLI needs this to build the AdmissionRequest the apiserver would send
(``resource``, ``scope``) and the in-memory cluster needs it for get/list. The
built-in table covers the kinds of a current Kubernetes release; CRDs found in
``--cluster`` manifests add theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KindInfo:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (``apps``, ``v1``); ``v1`` -> (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version


# (group, version, kind, plural, namespaced)
_BUILTIN: tuple[tuple[str, str, str, str, bool], ...] = (
    ("", "v1", "Binding", "bindings", True),
    ("", "v1", "ComponentStatus", "componentstatuses", False),
    ("", "v1", "ConfigMap", "configmaps", True),
    ("", "v1", "Endpoints", "endpoints", True),
    ("", "v1", "Event", "events", True),
    ("", "v1", "LimitRange", "limitranges", True),
    ("", "v1", "Namespace", "namespaces", False),
    ("", "v1", "Node", "nodes", False),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    ("", "v1", "PersistentVolume", "persistentvolumes", False),
    ("", "v1", "Pod", "pods", True),
    ("", "v1", "PodTemplate", "podtemplates", True),
    ("", "v1", "ReplicationController", "replicationcontrollers", True),
    ("", "v1", "ResourceQuota", "resourcequotas", True),
    ("", "v1", "Secret", "secrets", True),
    ("", "v1", "ServiceAccount", "serviceaccounts", True),
    ("", "v1", "Service", "services", True),
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False),
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", False),
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", False),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        False,
    ),
    ("admissionregistration.k8s.io", "v1", "MutatingAdmissionPolicy", "mutatingadmissionpolicies", False),
    ("admissionregistration.k8s.io", "v1", "MutatingAdmissionPolicyBinding", "mutatingadmissionpolicybindings", False),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False),
    ("apiregistration.k8s.io", "v1", "APIService", "apiservices", False),
    ("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    ("apps", "v1", "DaemonSet", "daemonsets", True),
    ("apps", "v1", "Deployment", "deployments", True),
    ("apps", "v1", "ReplicaSet", "replicasets", True),
    ("apps", "v1", "StatefulSet", "statefulsets", True),
    ("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False),
    ("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False),
    ("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True),
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False),
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False),
    ("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    ("batch", "v1", "CronJob", "cronjobs", True),
    ("batch", "v1", "Job", "jobs", True),
    ("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", False),
    ("coordination.k8s.io", "v1", "Lease", "leases", True),
    ("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    ("events.k8s.io", "v1", "Event", "events", True),
    ("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema", "flowschemas", False),
    ("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration", "prioritylevelconfigurations", False),
    ("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", True),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True),
    ("networking.k8s.io", "v1", "IPAddress", "ipaddresses", False),
    ("networking.k8s.io", "v1", "ServiceCIDR", "servicecidrs", False),
    ("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", False),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ("resource.k8s.io", "v1", "DeviceClass", "deviceclasses", False),
    ("resource.k8s.io", "v1", "ResourceClaim", "resourceclaims", True),
    ("resource.k8s.io", "v1", "ResourceClaimTemplate", "resourceclaimtemplates", True),
    ("resource.k8s.io", "v1", "ResourceSlice", "resourceslices", False),
    ("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False),
    ("storage.k8s.io", "v1", "CSIDriver", "csidrivers", False),
    ("storage.k8s.io", "v1", "CSINode", "csinodes", False),
    ("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities", True),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", False),
    ("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", False),
    ("storage.k8s.io", "v1", "VolumeAttributesClass", "volumeattributesclasses", False),
    ("policy.jspolicy.com", "v1beta1", "JsPolicy", "jspolicies", False),
    ("policy.jspolicy.com", "v1beta1", "JsPolicyBundle", "jspolicybundles", False),
    ("policy.jspolicy.com", "v1beta1", "JsPolicyViolations", "jspolicyviolations", False),
    ("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports", True),
    ("wgpolicyk8s.io", "v1alpha2", "ClusterPolicyReport", "clusterpolicyreports", False),
)


# Older versions still served for a kind; matchPolicy Equivalent can match them.
_EXTRA_VERSIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("autoscaling", "horizontalpodautoscalers"): ("v1",),
    ("flowcontrol.apiserver.k8s.io", "flowschemas"): ("v1beta3",),
    ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"): ("v1beta3",),
    ("resource.k8s.io", "deviceclasses"): ("v1beta2", "v1beta1"),
    ("resource.k8s.io", "resourceclaims"): ("v1beta2", "v1beta1"),
    ("resource.k8s.io", "resourceclaimtemplates"): ("v1beta2", "v1beta1"),
    ("resource.k8s.io", "resourceslices"): ("v1beta2", "v1beta1"),
}


class KindRegistry:
    """Kinds by (group, kind), at any version (the API server converts between versions)."""

    def __init__(self, kinds: Iterable[KindInfo] = ()) -> None:
        self._by_kind: dict[tuple[str, str], KindInfo] = {}
        self._served: dict[tuple[str, str], set[str]] = {}  # (group, plural) -> versions
        for info in kinds:
            self.add(info)

    @classmethod
    def builtin(cls) -> KindRegistry:
        registry = cls(KindInfo(*row) for row in _BUILTIN)
        for key, versions in _EXTRA_VERSIONS.items():
            registry._served[key].update(versions)
        return registry

    def add(self, info: KindInfo) -> None:
        self._by_kind.setdefault((info.group, info.kind), info)
        self._served.setdefault((info.group, info.plural), set()).add(info.version)

    def add_crd(self, crd: Mapping[str, Any]) -> KindInfo:
        """Register the kind of a CustomResourceDefinition manifest."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group, kind, plural = spec.get("group"), names.get("kind"), names.get("plural")
        if not (isinstance(group, str) and isinstance(kind, str) and isinstance(plural, str)):
            raise ValueError("a CustomResourceDefinition needs spec.group, spec.names.kind and spec.names.plural")
        served = [v.get("name") for v in spec.get("versions") or [] if isinstance(v, Mapping) and v.get("served", True)]
        versions = [v for v in served if isinstance(v, str)] or [str(spec.get("version") or "v1")]
        namespaced = spec.get("scope", "Namespaced") == "Namespaced"
        first = KindInfo(group, versions[0], kind, plural, namespaced)
        for version in versions:
            self.add(KindInfo(group, version, kind, plural, namespaced))
        return first

    def lookup(self, api_version: str, kind: str) -> KindInfo | None:
        """The kind at ``api_version``, or None when the group does not have it."""
        group, version = split_api_version(api_version)
        info = self._by_kind.get((group, kind))
        if info is None:
            return None
        if version != info.version:
            info = KindInfo(group, version, kind, info.plural, info.namespaced)
        return info

    def served_versions(self, group: str, plural: str) -> set[str]:
        """The versions the API server serves a resource at (empty when unknown)."""
        return set(self._served.get((group, plural), ()))
