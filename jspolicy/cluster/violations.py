"""Writes violations to the cluster without holding up admission (docs/cluster.md).

``record`` only queues: a background thread batches the queue per policy (per
report with PolicyReports on), reads the object, appends, trims FIFO and writes
it back with the read resourceVersion. A 409 Conflict is retried with a fresh
read at most ``retries`` times (jsPolicy's retry recursed without bound), then
the batch is logged and dropped. The queue is bounded: beyond ``max_pending``
the oldest entries are dropped and counted, so a slow API server costs memory
only up to a limit and never latency.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes.client

from jspolicy.cluster import policyreport
from jspolicy.cluster.rest import ApiError, RestClient, resource_path
from jspolicy.resources.kinds import KindInfo
from jspolicy.resources.policy import AUDIT_SKIP, GROUP, VERSION, JsPolicy
from jspolicy.resources.violations import PolicyViolation

log = logging.getLogger(__name__)

VIOLATIONS = KindInfo(GROUP, VERSION, "JsPolicyViolations", "jspolicyviolations", False)
CONTROLLER_ACTION = "Controller"
_DROP_LOG_SECONDS = 10.0
_RETRY_PAUSE = (0.02, 0.2)  # random pause before a retry, so two writers stop colliding


@dataclass(frozen=True)
class _Entry:
    policy: JsPolicy
    violation: PolicyViolation
    resource_uid: str


class ViolationWriter:
    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        *,
        flush_interval: float = 1.0,
        max_pending: int = 10000,
        retries: int = 5,
        policy_reports: bool = False,
        max_events: int = 50,
    ) -> None:
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.retries = retries
        self.policy_reports = policy_reports
        self.max_events = max_events
        self.dropped = 0  # queued entries pushed out by max_pending
        self.failed = 0  # entries given up on after errors or retries
        self.written = 0
        self.conflicts = 0  # 409s met (and retried) while writing
        self._rest = RestClient(api_client)
        self._queue: collections.deque[_Entry] = collections.deque()
        self._cond = threading.Condition()
        self._recorded = 0  # entries ever queued
        self._finished = 0  # entries written, failed or dropped
        self._flush_requested = False
        self._closing = False
        self._last_drop_log = 0.0
        self._thread = threading.Thread(target=self._run, name="violation-writer", daemon=True)
        self._thread.start()

    def record(self, policy: JsPolicy, violation: PolicyViolation, *, resource_uid: str = "") -> None:
        """Queue one violation; returns at once. ``resource_uid`` fills PolicyReport ``resources[0].uid``."""
        if policy.audit_policy == AUDIT_SKIP:
            return
        with self._cond:
            if self._closing:
                log.warning("violation of %s recorded after close; dropped", policy.name)
                return
            self._queue.append(_Entry(policy, violation, resource_uid))
            self._recorded += 1
            if len(self._queue) > self.max_pending:
                self._queue.popleft()
                self.dropped += 1
                self._finished += 1
                now = time.monotonic()
                if now - self._last_drop_log >= _DROP_LOG_SECONDS:
                    self._last_drop_log = now
                    log.warning(
                        "more than %d violations waiting to be written; dropped the oldest (%d dropped so far)",
                        self.max_pending,
                        self.dropped,
                    )
            if len(self._queue) == 1:
                self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Write what is queued now; True when all of it was written (or given up on) within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._recorded
            self._flush_requested = True
            self._cond.notify_all()
            while self._finished < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(remaining)
            return True

    def close(self, timeout: float = 10.0) -> None:
        """Flush, then stop the writer thread."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)

    # -- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                deadline = time.monotonic() + self.flush_interval
                while not (self._flush_requested or self._closing):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch = list(self._queue)
                self._queue.clear()
                self._flush_requested = False
            try:
                self._write_batch(batch)
            except Exception:
                log.exception("writing %d violations failed", len(batch))
                self.failed += len(batch)
            with self._cond:
                self._finished += len(batch)
                self._cond.notify_all()

    def _write_batch(self, batch: list[_Entry]) -> None:
        by_policy: dict[str, list[_Entry]] = {}
        by_report: dict[tuple[KindInfo, str, str], list[_Entry]] = {}
        for entry in batch:
            if self.policy_reports and entry.violation.action != CONTROLLER_ACTION:
                by_report.setdefault(policyreport.report_target(entry.violation), []).append(entry)
            else:
                by_policy.setdefault(entry.policy.name, []).append(entry)
        for entries in by_policy.values():
            self._write_violations(entries)
        for (info, namespace, name), entries in by_report.items():
            self._write_report(info, namespace, name, entries)

    def _write_violations(self, entries: list[_Entry]) -> None:
        policy = entries[-1].policy  # the newest copy of the policy decides auditLogSize
        added = [e.violation.to_status_entry() for e in entries]

        def create() -> dict[str, Any]:
            metadata: dict[str, Any] = {"name": policy.name}
            owner = owner_reference(policy)
            if owner is not None:
                metadata["ownerReferences"] = [owner]
            return {"apiVersion": VIOLATIONS.api_version, "kind": VIOLATIONS.kind, "metadata": metadata, "spec": {}}

        def change(current: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
            status = dict(current.get("status") or {})
            status["violations"] = (list(status.get("violations") or []) + added)[-policy.audit_log_size :]
            return "status", {**current, "status": status}

        self._read_modify_write(VIOLATIONS, "", policy.name, create, change, len(entries))

    def _write_report(self, info: KindInfo, namespace: str, name: str, entries: list[_Entry]) -> None:
        results = [policyreport.build_result(e.policy, e.violation, e.resource_uid) for e in entries]

        def create() -> dict[str, Any]:
            return policyreport.new_report(info, namespace, name, owner_reference(entries[0].policy))

        def change(current: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
            return "", policyreport.append_results(current, results, self.max_events)

        self._read_modify_write(info, namespace, name, create, change, len(entries))

    def _read_modify_write(
        self,
        info: KindInfo,
        namespace: str,
        name: str,
        create: Callable[[], dict[str, Any]],
        change: Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]],
        count: int,
    ) -> None:
        """Get or create the object, apply ``change`` and write it back; retry conflicts with a fresh read."""
        path = resource_path(info, namespace, name)
        for attempt in range(self.retries + 1):
            try:
                current = self._get_or_create(info, namespace, path, create)
                subresource, body = change(current)
                self._rest.request("PUT", f"{path}/{subresource}" if subresource else path, body=body)
                self.written += count
                return
            except ApiError as error:
                if error.status == 409:
                    self.conflicts += 1
                if (error.status == 409 or error.retryable) and attempt < self.retries:
                    time.sleep(random.uniform(*_RETRY_PAUSE) * (attempt + 1))
                    continue
                self.failed += count
                log.error(
                    "dropping %d violation(s) for %s %s after %d attempt(s): %s",
                    count,
                    info.kind,
                    f"{namespace}/{name}" if namespace else name,
                    attempt + 1,
                    error.message,
                )
                return

    def _get_or_create(
        self, info: KindInfo, namespace: str, path: str, create: Callable[[], dict[str, Any]]
    ) -> Mapping[str, Any]:
        try:
            found: Mapping[str, Any] = self._rest.request("GET", path)
            return found
        except ApiError as error:
            if error.status != 404:
                raise
        try:
            created: Mapping[str, Any] = self._rest.request("POST", resource_path(info, namespace), body=create())
            return created
        except ApiError as error:
            if error.status != 409:  # AlreadyExists: another writer was first
                raise
        again: Mapping[str, Any] = self._rest.request("GET", path)
        return again


def owner_reference(policy: JsPolicy) -> dict[str, Any] | None:
    """A controller reference to the JsPolicy, or None when the manifest has no uid (not from a cluster)."""
    uid = policy.metadata.get("uid")
    if not uid:
        return None
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "JsPolicy",
        "name": policy.name,
        "uid": str(uid),
        "controller": True,
        "blockOwnerDeletion": True,
    }
