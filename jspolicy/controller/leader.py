"""Leader election on a ``coordination.k8s.io/v1`` Lease (jsPolicy used a ConfigMap lock).

Every replica serves webhooks; only the holder of the Lease reconciles policies and
runs controller policies. Writes use the Lease's resourceVersion, so two replicas
can never both believe they acquired it. A leader that cannot renew within the
renew deadline stops its leader work before anyone else may take over (the lease
duration is longer), and a leader that shuts down releases the Lease at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

LEASE_NAME = "jspolicy-controller"


@dataclass(frozen=True)
class LeaseTiming:
    lease_duration: float = 60.0
    renew_deadline: float = 40.0
    retry_period: float = 15.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LeaderElector:
    def __init__(
        self, api_client: client.ApiClient, namespace: str, identity: str, timing: LeaseTiming, name: str = LEASE_NAME
    ) -> None:
        self._api = client.CoordinationV1Api(api_client)
        self.namespace, self.identity, self.timing, self.name = namespace, identity, timing, name
        self._observed: tuple[str, float] = ("", 0.0)  # (holder + renewTime seen, monotonic time it was seen)

    def run(self, lead: Callable[[threading.Event], None], stop: threading.Event) -> None:
        """Campaign until ``stop``; while leading, ``lead(lost)`` runs in a thread until ``lost`` is set."""
        while not stop.is_set():
            if self._try_acquire_or_renew():
                log.info("became the leader (%s/%s as %s)", self.namespace, self.name, self.identity)
                self._lead(lead, stop)
            stop.wait(self.timing.retry_period)
        self.release()

    def _lead(self, lead: Callable[[threading.Event], None], stop: threading.Event) -> None:
        lost = threading.Event()
        worker = threading.Thread(target=lead, args=(lost,), name="leader-work", daemon=True)
        worker.start()
        renewed = time.monotonic()
        while not stop.is_set():
            if stop.wait(self.timing.retry_period):
                break
            if self._try_acquire_or_renew():
                renewed = time.monotonic()
            elif time.monotonic() - renewed > self.timing.renew_deadline:
                log.error("could not renew the leader lease within %.0fs; stopping leader work",
                          self.timing.renew_deadline)  # fmt: skip
                break
        lost.set()
        worker.join(timeout=30)
        if worker.is_alive():
            log.error("leader work did not stop within 30s")
        log.info("stopped leading")

    def _try_acquire_or_renew(self) -> bool:
        now = _now()
        try:
            lease = self._api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as error:
            if error.status != 404:
                log.warning("reading the leader lease failed: %s", error.reason)
                return False
            return self._create(now)
        except Exception as error:  # connection problems: try again next round
            log.warning("reading the leader lease failed: %s", error)
            return False
        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        if holder and holder != self.identity and not self._expired(spec):
            return False
        transitions = (spec.lease_transitions or 0) + (0 if holder == self.identity else 1)
        lease.spec = client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=max(1, round(self.timing.lease_duration)),
            acquire_time=spec.acquire_time if holder == self.identity else now,
            renew_time=now,
            lease_transitions=transitions,
        )
        try:
            self._api.replace_namespaced_lease(self.name, self.namespace, lease)  # carries resourceVersion
        except ApiException as error:
            if error.status != 409:
                log.warning("updating the leader lease failed: %s", error.reason)
            return False
        except Exception as error:
            log.warning("updating the leader lease failed: %s", error)
            return False
        return True

    def _expired(self, spec: client.V1LeaseSpec) -> bool:
        """Judged by our own clock since we last saw the lease change, as client-go does: clocks may differ."""
        seen = f"{spec.holder_identity}|{spec.renew_time}"
        if seen != self._observed[0]:
            self._observed = (seen, time.monotonic())
        duration = spec.lease_duration_seconds or self.timing.lease_duration
        return time.monotonic() - self._observed[1] > duration

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
            self._api.create_namespaced_lease(self.namespace, body)
        except ApiException as error:
            if error.status != 409:
                log.warning("creating the leader lease failed: %s", error.reason)
            return False
        return True

    def release(self) -> None:
        """Give the Lease up on shutdown, so another replica takes over without waiting it out."""
        try:
            lease = self._api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = _now()
            self._api.replace_namespaced_lease(self.name, self.namespace, lease)
            log.info("released the leader lease")
        except Exception as error:  # best effort: otherwise it expires
            log.warning("releasing the leader lease failed: %s", error)


def holder(api_client: client.ApiClient, namespace: str, name: str = LEASE_NAME) -> str:
    """The current holder's identity ("" when none) — for status output and tests."""
    try:
        lease = client.CoordinationV1Api(api_client).read_namespaced_lease(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return ""
        raise
    return str((lease.spec.holder_identity if lease.spec else "") or "")
