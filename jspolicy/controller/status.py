"""JsPolicy status as jsPolicy writes it: Cluster-API style conditions, phase, reason, message.

Unchanged conditions keep their lastTransitionTime, so a reconcile that finds
nothing new produces an identical status and no write (and no watch event that
would trigger another reconcile).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BUNDLE_COMPILED, WEBHOOK_READY, CONTROLLER_READY, READY = "BundleCompiled", "WebhookReady", "ControllerReady", "Ready"
COMPILE_FAILED, BUNDLE_MISSING, SYNC_FAILED, INIT_CONTROLLER = (
    "CompileFailed", "BundleMissing", "SyncFailed", "InitControllerPolicy")  # fmt: skip
SYNCED, FAILED = "Synced", "Failed"


@dataclass(frozen=True)
class Condition:
    type: str
    ok: bool
    reason: str = ""
    message: str = ""
    retry: bool = False  # a transient failure (not written): reconcile again later with backoff

    @classmethod
    def failed(cls, type_: str, reason: str, message: str) -> Condition:
        return cls(type_, False, reason, message)


def policy_status(
    previous: Mapping[str, Any],
    conditions: list[Condition],
    *,
    bundle_hash: str,
    generation: int | None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The status to write: ``conditions`` plus the Ready summary, phase, reason and message."""
    failing = next((c for c in conditions if not c.ok), None)
    summary = Condition(READY, failing is None, failing.reason if failing else "", failing.message if failing else "")
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = {c.get("type"): c for c in previous.get("conditions") or [] if isinstance(c, Mapping)}
    written = []
    for condition in sorted([*conditions, summary], key=lambda c: c.type):
        entry: dict[str, Any] = {"type": condition.type, "status": "True" if condition.ok else "False"}
        if not condition.ok:
            entry["severity"] = "Error"
        if condition.reason:
            entry["reason"] = condition.reason
        if condition.message:
            entry["message"] = condition.message
        old = before.get(condition.type) or {}
        same = all(old.get(k) == entry.get(k) for k in ("status", "severity", "reason", "message"))
        entry["lastTransitionTime"] = old.get("lastTransitionTime", stamp) if same else stamp
        written.append(entry)
    status: dict[str, Any] = {"phase": FAILED if failing else SYNCED, "conditions": written, "bundleHash": bundle_hash}
    if failing:
        status["reason"], status["message"] = failing.reason, failing.message
    if failing is None and generation is not None:
        status["observedGeneration"] = generation
    elif "observedGeneration" in previous:
        status["observedGeneration"] = previous["observedGeneration"]  # set only when reconcile succeeded
    return status
