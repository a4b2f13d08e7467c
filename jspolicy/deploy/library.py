"""The guardrail library as install manifests: the chosen policies of policies/, their RBAC and the options.

Each library policy is a directory ``policies/<name>/`` (shipped as ``jspolicy.library``) holding the
JsPolicy (``policy.yaml``) and, when its code reads or writes cluster objects, ``policy.rbac.yaml``: a ClusterRole
aggregated into the engine's ``jspolicy-policy-access`` role (webhook-config/install/rbac.yaml), so the
engine's own RBAC grows by exactly what the chosen policies need. Options become the ConfigMap every library
policy reads (policies/lib/options.js): its namespace and name are fixed there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml

POLICY_FILE = "policy.yaml"
RBAC_FILE = "policy.rbac.yaml"
# policies/lib/options.js: OPTIONS_NAMESPACE and OPTIONS_CONFIGMAP.
OPTIONS_NAMESPACE = "jspolicy"
OPTIONS_CONFIGMAP = "jspolicy-guardrails"
LABELS = {"app.kubernetes.io/name": "jspolicy"}
_OPTION_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def _root() -> Traversable:
    return resources.files("jspolicy.library")


def available() -> list[str]:
    """The names of the library's policies (their directories), sorted."""
    return sorted(entry.name for entry in _root().iterdir() if entry.is_dir() and entry.joinpath(POLICY_FILE).is_file())


def policy_name(name: str) -> str:
    """The JsPolicy name of the library policy in ``policies/<name>/``."""
    return f"{name}.library.jspolicy.com"


def objects(names: Iterable[str], options: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The RBAC, then the JsPolicies, of ``names`` (in the order given, each once), after the options ConfigMap.

    Raises ValueError naming an unknown policy (and the known ones) or an invalid option key.
    """
    chosen = list(dict.fromkeys(names))
    known = available()
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise ValueError(f"no library policy named {', '.join(unknown)}; the library has: {', '.join(known)}")
    rendered: list[dict[str, Any]] = []
    if options:
        rendered.append(options_config_map(options))
    policies = []
    for name in chosen:
        directory = _root().joinpath(name)
        if directory.joinpath(RBAC_FILE).is_file():
            rendered += _documents(directory.joinpath(RBAC_FILE))
        policies += _documents(directory.joinpath(POLICY_FILE))
    return rendered + policies  # a policy's access exists before its first evaluation


def options_config_map(options: Mapping[str, str]) -> dict[str, Any]:
    """The library's options ConfigMap (``jspolicy/jspolicy-guardrails``), one data key per option."""
    for key, value in options.items():
        if not _OPTION_KEY.fullmatch(key):
            raise ValueError(f"library option {key!r} is not a valid ConfigMap key")
        if not isinstance(value, str):
            raise ValueError(f"library option {key} must be a string, got {value!r}")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": OPTIONS_CONFIGMAP, "namespace": OPTIONS_NAMESPACE, "labels": LABELS},
        "data": dict(sorted(options.items())),
    }


def _documents(file: Traversable) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(file.read_text(encoding="utf-8")) if document]
