"""Render the install manifests: webhook-config/install/*.yaml and webhook-config/crds.yaml for one namespace.

The templates are plain YAML with ``${NAMESPACE}``, ``${IMAGE}`` and ``${REPLICAS}``
placeholders, substituted in the parsed objects (never in the text, so no value can
change the YAML's structure). The Helm chart in webhook-config/chart renders the same
objects from its default values; tests/deploy checks that the two stay identical.
"""

from __future__ import annotations

import copy
import importlib.metadata
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

DEFAULT_NAMESPACE = "jspolicy"
DEFAULT_REPLICAS = 2
DEFAULT_POLICY_REPORT_MAX_EVENTS = 50  # the server's default (jsPolicy's binary default too)

# Applied in this order: the namespace and the CRDs before anything that lives in or refers to them.
TEMPLATES = (
    "install/namespace.yaml",
    "crds.yaml",
    "install/rbac.yaml",
    "install/service.yaml",
    "install/deployment.yaml",
    "install/webhook.yaml",
)
FIXED_ENV = (
    "KUBE_NAMESPACE",
    "JSPOLICY_CERT_DIR",
    "JSPOLICY_CACHE_DIR",
    "ENABLE_POLICY_REPORTS",
    "POLICY_REPORT_MAX_EVENTS",
    "NPM_CONFIG_REGISTRY",
    "JSPOLICY_NPM_TOKEN",
)
POLICY_REPORT_RULE: dict[str, Any] = {
    "apiGroups": ["wgpolicyk8s.io"],
    "resources": ["policyreports", "clusterpolicyreports"],
    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
}

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_]+)\}")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def default_image() -> str:
    """``jspolicy:<version>``: what the repository's Dockerfile builds (there is no published image yet)."""
    return f"jspolicy:{importlib.metadata.version('jspolicy')}"


def template_text(name: str) -> str:
    """One template file as shipped in the package (jspolicy/deploy/manifests is webhook-config/)."""
    return (resources.files("jspolicy.deploy") / "manifests" / name).read_text(encoding="utf-8")


def render(
    namespace: str,
    image: str,
    *,
    replicas: int = DEFAULT_REPLICAS,
    env: Mapping[str, str] | None = None,
    policy_reports: bool = False,
    policy_report_max_events: int = DEFAULT_POLICY_REPORT_MAX_EVENTS,
    npm_registry: str = "",
    npm_token_secret: str = "",
) -> list[dict[str, Any]]:
    """Every object of an install in apply order: Namespace, CRDs, RBAC, Service, Deployment, PDB, core webhook.

    A single replica gets no PodDisruptionBudget (it could never be evicted).

    ``env`` adds container environment variables (sorted by name, after the fixed ones),
    the way the chart's ``env`` map does; ``policy_reports`` sets ENABLE_POLICY_REPORTS and
    grants the wgpolicyk8s.io rule, like the chart's ``policyReports.enabled``. ``npm_registry`` and
    ``npm_token_secret`` (a Secret with key ``token``) are where the leader's bundler installs npm
    dependencies from, like the chart's ``bundler.registry`` and ``bundler.tokenSecret``.
    """
    if not _DNS_LABEL.fullmatch(namespace):
        raise ValueError(f"namespace {namespace!r} is not a DNS-1123 label")
    if not image or any(c.isspace() for c in image):
        raise ValueError(f"image {image!r} must be a non-empty reference without whitespace")
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    if policy_report_max_events < 1:
        raise ValueError(f"policy_report_max_events must be at least 1, got {policy_report_max_events}")
    extra = dict(env or {})
    for name in extra:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
        if name in FIXED_ENV:
            raise ValueError(f"{name} is set by the manifests themselves and cannot be overridden")
    values: dict[str, Any] = {"NAMESPACE": namespace, "IMAGE": image, "REPLICAS": replicas}
    objects: list[dict[str, Any]] = []
    for name in TEMPLATES:
        for document in yaml.safe_load_all(template_text(name)):
            if document:
                objects.append(_substitute(document, values))
    if replicas < 2:  # minAvailable 1 of a single replica would block every node drain
        objects.remove(_find(objects, "PodDisruptionBudget", "jspolicy"))
    container = _find(objects, "Deployment", "jspolicy")["spec"]["template"]["spec"]["containers"][0]
    if policy_reports:
        container["env"] += [
            {"name": "ENABLE_POLICY_REPORTS", "value": "true"},
            {"name": "POLICY_REPORT_MAX_EVENTS", "value": str(policy_report_max_events)},
        ]
        _find(objects, "ClusterRole", "jspolicy")["rules"].append(copy.deepcopy(POLICY_REPORT_RULE))
    if npm_registry:
        container["env"].append({"name": "NPM_CONFIG_REGISTRY", "value": npm_registry})
    if npm_token_secret:
        if not _DNS_SUBDOMAIN.fullmatch(npm_token_secret):
            raise ValueError(f"npm token Secret {npm_token_secret!r} is not a valid Secret name")
        secret = {"secretKeyRef": {"name": npm_token_secret, "key": "token"}}
        container["env"].append({"name": "JSPOLICY_NPM_TOKEN", "valueFrom": secret})
    container["env"] += [{"name": name, "value": extra[name]} for name in sorted(extra)]
    return objects


def dump(objects: list[dict[str, Any]]) -> str:
    """Multi-document YAML, without anchors (kubectl and humans read it)."""
    return yaml.dump_all(objects, Dumper=_PlainDumper, sort_keys=False, width=120)


class _PlainDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            return obj
    raise LookupError(f"the templates have no {kind} {name}")


def _substitute(node: Any, values: Mapping[str, Any]) -> Any:
    """``node`` with placeholders replaced; a string that is exactly one placeholder takes the value's type."""
    if isinstance(node, dict):
        return {key: _substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(item, values) for item in node]
    if not isinstance(node, str):
        return node
    for name in _PLACEHOLDER.findall(node):
        if name not in values:
            raise KeyError(f"unknown placeholder ${{{name}}} in the manifest templates")
    whole = _PLACEHOLDER.fullmatch(node)
    if whole:
        return values[whole.group(1)]
    return _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), node)
