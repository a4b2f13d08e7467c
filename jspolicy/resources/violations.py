"""``JsPolicyViolations``: the per-policy log of requests a policy did not allow.

One object per policy, same name, entries in ``status.violations`` with the
exact fields and truncation jsPolicy writes, so existing dashboards keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MESSAGE_LIMIT = 256


def truncate_message(message: str) -> str:
    """More than 256 bytes become the first 253 bytes and ``...`` (whole characters only)."""
    data = message.encode("utf-8")
    if len(data) <= MESSAGE_LIMIT:
        return message
    return data[: MESSAGE_LIMIT - 3].decode("utf-8", "ignore") + "..."


@dataclass(frozen=True)
class PolicyViolation:
    action: str
    code: int
    reason: str
    message: str
    request_info: Mapping[str, str]
    user_info: Mapping[str, str]
    timestamp: str

    @classmethod
    def for_request(
        cls, request: Mapping[str, Any], *, action: str, code: int, reason: str, message: str
    ) -> PolicyViolation:
        kind = request.get("kind") or {}
        group, version = kind.get("group", ""), kind.get("version", "")
        user = request.get("userInfo") or {}
        return cls(
            action=action,
            code=code,
            reason=reason,
            message=truncate_message(message),
            request_info={
                "name": request.get("name", ""),
                "namespace": request.get("namespace", ""),
                "kind": kind.get("kind", ""),
                "apiVersion": f"{group}/{version}" if group else version,
                "operation": request.get("operation", ""),
            },
            user_info={"username": user.get("username", ""), "uid": user.get("uid", "")},
            timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    def to_status_entry(self) -> dict[str, Any]:
        """The ``status.violations[]`` entry, with Go's omitempty applied."""
        entry: dict[str, Any] = {
            "action": self.action,
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
            "requestInfo": {k: v for k, v in self.request_info.items() if v},
            "userInfo": {k: v for k, v in self.user_info.items() if v},
            "timestamp": self.timestamp,
        }
        return {k: v for k, v in entry.items() if v not in ("", 0, {})}
