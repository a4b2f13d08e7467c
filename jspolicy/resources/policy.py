"""The ``JsPolicy`` resource (policy.jspolicy.com/v1beta1) with jsPolicy's effective defaults.

The CRD schema has no defaults; jsPolicy applies them in code. ``JsPolicy``
exposes the effective values so every consumer (webhook generation, matching,
the runtime) reads the same defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GROUP = "policy.jspolicy.com"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"

VALIDATING, MUTATING, CONTROLLER = "Validating", "Mutating", "Controller"
DENY, WARN, DRY = "Deny", "Warn", "Dry"
AUDIT_LOG, AUDIT_SKIP = "Log", "Skip"

DEFAULT_TIMEOUT_SECONDS = 10
DEFAULT_AUDIT_LOG_SIZE = 20
MAX_AUDIT_LOG_SIZE = 40


@dataclass(frozen=True)
class JsPolicy:
    """A JsPolicy manifest; properties return effective (defaulted) values."""

    manifest: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.manifest.get("metadata") or {}

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.manifest.get("spec") or {}

    @property
    def labels(self) -> Mapping[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.metadata.get("annotations") or {}

    @property
    def type(self) -> str:
        return self.spec.get("type") or VALIDATING

    @property
    def operations(self) -> list[str]:
        return list(self.spec.get("operations") or [])

    @property
    def resources(self) -> list[str]:
        return list(self.spec.get("resources") or [])

    @property
    def api_groups(self) -> list[str]:
        return list(self.spec.get("apiGroups") or ["*"])

    @property
    def api_versions(self) -> list[str]:
        return list(self.spec.get("apiVersions") or ["*"])

    @property
    def scope(self) -> str:
        return self.spec.get("scope") or "*"

    @property
    def namespace_selector(self) -> Mapping[str, Any]:
        return self.spec.get("namespaceSelector") or {}

    @property
    def object_selector(self) -> Mapping[str, Any]:
        return self.spec.get("objectSelector") or {}

    @property
    def match_policy(self) -> str:
        return self.spec.get("matchPolicy") or "Equivalent"

    @property
    def failure_policy(self) -> str:
        return self.spec.get("failurePolicy") or "Fail"

    @property
    def reinvocation_policy(self) -> str:
        return self.spec.get("reinvocationPolicy") or "Never"

    @property
    def timeout_seconds(self) -> int:
        value = self.spec.get("timeoutSeconds")
        return int(value) if value else DEFAULT_TIMEOUT_SECONDS

    @property
    def violation_policy(self) -> str:
        return self.spec.get("violationPolicy") or DENY

    @property
    def audit_policy(self) -> str:
        return self.spec.get("auditPolicy") or AUDIT_LOG

    @property
    def audit_log_size(self) -> int:
        """Entries kept in JsPolicyViolations. jsPolicy turned 40 into 20 (an
        off-by-one); every value validation accepts (1-40) is honoured here."""
        value = self.spec.get("auditLogSize")
        if isinstance(value, int) and 0 < value <= MAX_AUDIT_LOG_SIZE:
            return value
        return DEFAULT_AUDIT_LOG_SIZE

    @property
    def dependencies(self) -> Mapping[str, str]:
        return self.spec.get("dependencies") or {}

    @property
    def javascript(self) -> str:
        return str(self.spec.get("javascript") or "")
