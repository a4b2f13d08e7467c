"""Leader election on a ``coordination.k8s.io/v1`` Lease (jsPolicy used a ConfigMap lock).

Every replica serves webhooks; only the holder of the Lease reconciles policies and
runs controller policies. Writes use the Lease's resourceVersion, so two replicas
can never both believe they acquired it, and every call has a timeout shorter than
the renew deadline. A leader that cannot renew within the renew deadline stops its
leader work before anyone else may take over (the lease duration is longer); leader
work that dies gives the Lease up; leader work that will not stop ends the process
(as jsPolicy did), so it can never overlap with the next leader's. A leader that shuts
down releases the Lease at once. While an old jsPolicy still holds its ConfigMap lock
of the same name (a rolling upgrade), this replica does not lead.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

LEASE_NAME = "jspolicy-controller"
JSPOLICY_LOCK_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"  # client-go's ConfigMap lock record
STOP_TIMEOUT = 20.0


@dataclass(frozen=True)
class LeaseTiming:
    lease_duration: float = 60.0
    renew_deadline: float = 40.0
    retry_period: float = 15.0

    def check(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError(
                "leader election needs lease duration > renew deadline > retry period > 0, got "
                f"{self.lease_duration}, {self.renew_deadline}, {self.retry_period}"
            )

    @property
    def request_timeout(self) -> float:
        """No single call may eat the renew deadline."""
        return max(1.0, self.renew_deadline / 2)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Observed:
    """When a lock record last changed, by our own clock (as client-go: clocks of replicas may differ)."""

    def __init__(self) -> None:
        self._seen, self._since = "", 0.0

    def expired(self, record: str, duration: float) -> bool:
        if record != self._seen:
            self._seen, self._since = record, time.monotonic()
        return time.monotonic() - self._since > duration


class LeaderElector:
    def __init__(
        self, api_client: client.ApiClient, namespace: str, identity: str, timing: LeaseTiming, name: str = LEASE_NAME
    ) -> None:
        timing.check()
        self._api = client.CoordinationV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self.namespace, self.identity, self.timing, self.name = namespace, identity, timing, name
        self._lease_seen = _Observed()
        self._legacy_seen = _Observed()

    def run(self, lead: Callable[[threading.Event], None], stop: threading.Event) -> None:
        """Campaign until ``stop``; while leading, ``lead(lost)`` runs in a thread until ``lost`` is set."""
        while not stop.is_set():
            if self._try_acquire_or_renew():
                log.info("became the leader (%s/%s as %s)", self.namespace, self.name, self.identity)
                self._lead(lead, stop)
            stop.wait(self.timing.retry_period)

    def _lead(self, lead: Callable[[threading.Event], None], stop: threading.Event) -> None:
        lost = threading.Event()
        worker = threading.Thread(target=lead, args=(lost,), name="leader-work", daemon=True)
        worker.start()
        renewed = time.monotonic()
        while not stop.wait(self.timing.retry_period):
            if not worker.is_alive():
                log.error("leader work ended unexpectedly; giving the lease up")
                break
            attempt = time.monotonic()  # a slow success must not overstate how long the lease is ours
            if self._try_acquire_or_renew():
                renewed = attempt
            elif time.monotonic() - renewed > self.timing.renew_deadline:
                log.error("could not renew the leader lease within %.0fs; stopping leader work",
                          self.timing.renew_deadline)  # fmt: skip
                lost.set()
                self._join_or_exit(worker)
                return  # not released: it was not renewed, so it may already be someone else's
        lost.set()
        self._join_or_exit(worker)
        self.release()

    def _join_or_exit(self, worker: threading.Thread) -> None:
        worker.join(timeout=STOP_TIMEOUT)
        if worker.is_alive():
            log.critical("leader work did not stop within %.0fs; exiting so it cannot overlap the next leader",
                         STOP_TIMEOUT)  # fmt: skip
            logging.shutdown()
            os._exit(1)
        log.info("stopped leading")

    def _try_acquire_or_renew(self) -> bool:
        now = _now()
        timeout = self.timing.request_timeout
        try:
            if self._legacy_leader_active(timeout):
                return False
            lease = self._api.read_namespaced_lease(self.name, self.namespace, _request_timeout=timeout)
        except ApiException as error:
            if error.status != 404:
                log.warning("reading the leader lease failed: %s", error.reason)
                return False
            return self._create(now)
        except Exception as error:  # connection problems and timeouts: try again next round
            log.warning("reading the leader lease failed: %s", error)
            return False
        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        duration = float(spec.lease_duration_seconds or self.timing.lease_duration)
        if holder and holder != self.identity and not self._lease_seen.expired(f"{holder}|{spec.renew_time}", duration):
            return False
        lease.spec = client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=max(1, round(self.timing.lease_duration)),
            acquire_time=spec.acquire_time if holder == self.identity else now,
            renew_time=now,
            lease_transitions=(spec.lease_transitions or 0) + (0 if holder == self.identity else 1),
        )
        try:
            self._api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=timeout)
        except ApiException as error:
            if error.status != 409:
                log.warning("updating the leader lease failed: %s", error.reason)
            return False
        except Exception as error:
            log.warning("updating the leader lease failed: %s", error)
            return False
        return True

    def _legacy_leader_active(self, timeout: float) -> bool:
        """jsPolicy's ConfigMap lock ``jspolicy-controller`` is held and still being renewed."""
        try:
            config_map = self._core.read_namespaced_config_map(self.name, self.namespace, _request_timeout=timeout)
        except ApiException as error:
            if error.status in (403, 404):  # no jsPolicy here (or no right to look: RBAC grants it)
                return False
            raise
        record = ((config_map.metadata and config_map.metadata.annotations) or {}).get(JSPOLICY_LOCK_ANNOTATION)
        if not record:
            return False
        try:
            parsed = json.loads(record)
            holder, duration = parsed.get("holderIdentity") or "", float(parsed.get("leaseDurationSeconds") or 60)
        except (ValueError, AttributeError, TypeError):
            return False
        if not holder or self._legacy_seen.expired(record, duration):
            return False
        log.warning("jsPolicy's leader %s still holds ConfigMap %s/%s; not leading until it lets go",
                    holder, self.namespace, self.name)  # fmt: skip
        return True

    def _create(self, now: dt.datetime) -> bool:
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
            spec=client.V1LeaseSpec(
                holder_identity=self.identity,
                lease_duration_seconds=max(1, round(self.timing.lease_duration)),
                acquire_time=now,
                renew_time=now,
                lease_transitions=0,
            ),
        )
        try:
            self._api.create_namespaced_lease(self.namespace, body, _request_timeout=self.timing.request_timeout)
        except ApiException as error:
            if error.status != 409:
                log.warning("creating the leader lease failed: %s", error.reason)
            return False
        except Exception as error:
            log.warning("creating the leader lease failed: %s", error)
            return False
        return True

    def release(self) -> None:
        """Give the Lease up, so another replica takes over without waiting it out."""
        timeout = self.timing.request_timeout
        try:
            lease = self._api.read_namespaced_lease(self.name, self.namespace, _request_timeout=timeout)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = _now()
            self._api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=timeout)
            log.info("released the leader lease")
        except Exception as error:  # best effort: otherwise it expires
            log.warning("releasing the leader lease failed: %s", error)
