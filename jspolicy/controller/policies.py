"""Controller policies (docs/cluster.md): informer-driven, one queue and one worker per policy, leader only.

Events for the policy's kinds pass its selectors and are queued by object key;
the worker reads the object from the informer and runs the policy through the
same engine as the webhooks. A vanished object is a DELETE without object, one
with a deletionTimestamp a DELETE with it, anything else a CREATE — except that a
policy which lists ``UPDATE`` in its operations gets real UPDATE events with the
old object (jsPolicy never sent UPDATE; policies that do not ask keep its
behaviour). ``requeue()`` re-queues the key with exponential backoff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jspolicy.admission.evaluate import PolicyEngine
from jspolicy.admission.matching import controller_selects
from jspolicy.admission.request import controller_request
from jspolicy.cluster.informer import InformerFactory
from jspolicy.controller.workqueue import WorkQueue
from jspolicy.resources.policy import AUDIT_SKIP, JsPolicy
from jspolicy.resources.violations import PolicyViolation
from jspolicy.runtime.program import PolicyProgram
from jspolicy.service.metrics import REQUEUE, SUCCESS, Metrics

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str]  # apiVersion, kind, namespace, name
CONTROLLER_ACTION = "Controller"
Record = Callable[[JsPolicy, PolicyViolation], None]


@dataclass(frozen=True)
class _Identity:
    """What makes a running controller policy out of date (jsPolicy hashes the same)."""

    program: str
    kinds: tuple[tuple[str, str], ...]


class ControllerPolicyManager:
    def __init__(
        self, informers: InformerFactory, engine: PolicyEngine, record: Record | None, metrics: Metrics | None = None
    ) -> None:
        self._informers = informers
        self._engine = engine
        self._record = record
        self._metrics = metrics
        self._running: dict[str, _Runner] = {}
        self._lock = threading.Lock()

    def update(self, policy: JsPolicy, program: PolicyProgram) -> None:
        """Start the policy, or restart it when its code or kinds changed (every object is then re-run)."""
        kinds: list[tuple[str, str]] = []
        for resource in policy.resources:
            kinds += self._informers.kinds_for(resource, policy.api_groups, policy.api_versions)
        if not kinds:
            raise ValueError(f"no kind matches resources {policy.resources} in the API server's discovery")
        identity = _Identity(program.key, tuple(dict.fromkeys(kinds)))
        with self._lock:
            running = self._running.get(policy.name)
            if running is not None and running.identity == identity:
                running.policy = policy  # selectors, operations, timeout: read at each event
                return
            if running is not None:
                running.stop()
            runner = _Runner(policy, program, identity, self._informers, self._engine, self._record, self._metrics)
            self._running[policy.name] = runner
        try:
            runner.start()
        except Exception:
            self.stop(policy.name)  # retried by the reconciler (ControllerReady=False meanwhile)
            raise
        log.info("controller policy %s started on %s", policy.name, ", ".join(f"{k} ({v})" for v, k in kinds))

    def stop(self, name: str) -> None:
        with self._lock:
            runner = self._running.pop(name, None)
        if runner is not None:
            runner.stop()
            log.info("controller policy %s stopped", name)

    def close(self) -> None:
        """Stop every policy at once (leadership lost or shutdown); each finishes at most its current object."""
        with self._lock:
            runners, self._running = list(self._running.values()), {}
        for runner in runners:
            runner.close()
        for runner in runners:
            runner.join()

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._running)


class _Runner:
    def __init__(
        self,
        policy: JsPolicy,
        program: PolicyProgram,
        identity: _Identity,
        informers: InformerFactory,
        engine: PolicyEngine,
        record: Record | None,
        metrics: Metrics | None,
    ) -> None:
        self.policy, self.program, self.identity = policy, program, identity
        self._informers, self._engine, self._record, self._metrics = informers, engine, record, metrics
        # 5 ms doubling up to 1000 s, as client-go's default; named after the policy, as jsPolicy's
        self.queue: WorkQueue[Key] = WorkQueue(name=policy.name, metrics=metrics.queues if metrics else None)
        self._old: dict[Key, Mapping[str, Any]] = {}  # first old object since the key was last processed
        self._old_lock = threading.Lock()
        self._removers: list[Callable[[], None]] = []
        self._namespaces = informers.informer("v1", "Namespace")
        self._thread = threading.Thread(target=self._work, name=f"controller-{policy.name}", daemon=True)

    def start(self, sync_timeout: float = 30.0) -> None:
        # A handler keeps the Namespace cache from being collected as idle while this policy needs it.
        self._removers.append(self._namespaces.add_handler(_ignore))
        informers = [(self._informers.informer(v, k), v, k) for v, k in self.identity.kinds]
        # Selectors need the namespaces before the first event: an object checked against an empty cache
        # would be skipped and never come back.
        for informer, _, kind in [(self._namespaces, "v1", "Namespace"), *informers]:
            if not informer.wait_synced(sync_timeout):
                raise TimeoutError(f"the watch of {kind} did not sync within {sync_timeout:.0f}s")
        self._thread.start()
        for informer, api_version, kind in informers:
            self._removers.append(informer.add_handler(self._handler(api_version, kind)))  # replays: each runs

    def stop(self) -> None:
        self.close()
        self.join()

    def close(self) -> None:
        for remove in self._removers:
            remove()
        self.queue.close()

    def join(self) -> None:
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=self.policy.timeout_seconds + 5.0)

    def _handler(
        self, api_version: str, kind: str
    ) -> Callable[[str, Mapping[str, Any] | None, Mapping[str, Any] | None], None]:
        def handle(event: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> None:
            subject = obj if obj is not None else old
            if subject is None or not self._selected(subject):
                return
            metadata = subject.get("metadata") or {}
            key = (api_version, kind, str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
            if event == "MODIFIED" and old is not None and _version(old) != _version(subject):  # not a resync
                with self._old_lock:
                    self._old.setdefault(key, old)
            self.queue.add(key)

        return handle

    def _selected(self, obj: Mapping[str, Any]) -> bool:
        """The one rule ``jspolicy test`` also applies (admission.matching.controller_selects)."""
        return controller_selects(self.policy, obj, self._namespace_labels).called

    def _namespace_labels(self, name: str) -> Mapping[str, str] | None:
        """A Namespace's labels from the watch cache; None when it is not (yet) there."""
        found = self._namespaces.get("", name)
        if found is None:
            return None
        return (found.get("metadata") or {}).get("labels") or {}

    def _work(self) -> None:
        self.queue.serve(self._process, self._dropped)

    def _dropped(self, key: Key, error: Exception) -> None:
        # Like jsPolicy: logged and dropped, the next event tries again.
        log.error("controller policy %s failed on %s", self.policy.name, "/".join(key), exc_info=error)
        self.queue.forget(key)

    def _process(self, key: Key) -> str:
        policy = self.policy
        api_version, kind, namespace, name = key
        obj = self._informers.informer(api_version, kind).get(namespace, name)
        with self._old_lock:
            old = self._old.pop(key, None)
        if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            operation = "DELETE"
        elif old is not None and "UPDATE" in policy.operations:
            operation = "UPDATE"
        else:
            operation = "CREATE"
        if operation not in policy.operations and "*" not in policy.operations:
            self.queue.forget(key)
            return SUCCESS
        request = controller_request(operation, obj, key=key, old=old)
        outcome = self._engine.evaluate(policy, self.program, request)
        verdict = outcome.verdict  # the code, reason and message the webhook would answer, from one place
        if self._metrics is not None:
            self._metrics.observe_execution(
                policy.type, policy.name, verdict.code, outcome.duration_seconds, outcome.raw.ran
            )
        for line in outcome.raw.prints:
            log.info("[%s] %s", policy.name, line)
        for warning in outcome.warnings:
            log.warning("controller policy warning: %s", warning)
        if not verdict.allowed:
            log.info("controller policy %s on %s: %s", policy.name, "/".join(key), verdict.message)
            if self._record is not None and policy.audit_policy != AUDIT_SKIP:
                violation = PolicyViolation.for_request(
                    request, action=CONTROLLER_ACTION, code=verdict.code, reason=verdict.reason, message=verdict.message
                )
                self._record(policy, violation)
        if outcome.raw.reschedule:
            delay = self.queue.add_rate_limited(key)
            log.debug("controller policy %s requeued %s in %.3fs", policy.name, "/".join(key), delay)
            return REQUEUE
        self.queue.forget(key)
        return SUCCESS


def _ignore(_event: str, _obj: Mapping[str, Any] | None, _old: Mapping[str, Any] | None) -> None:
    """Registered only to keep an informer in use."""


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))
