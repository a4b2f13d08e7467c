"""Cluster mode: the policies a worker serves come from watching JsPolicy and JsPolicyBundle.

Every change rebuilds the policy set from the informers' stores (coalesced, so a
burst of events costs one rebuild) and installs it in the PolicyStore, which
keeps the last good version of a policy whose new code does not compile. An
invalid JsPolicy (one stored while the /crds webhook was not enforcing) is
reported and not served; the others are unaffected.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from jspolicy.cluster.informer import InformerFactory
from jspolicy.resources.policy import API_VERSION
from jspolicy.resources.policyset import PolicySet
from jspolicy.server.store import PolicyStore

log = logging.getLogger(__name__)

COALESCE_SECONDS = 0.05


class ClusterPolicySource:
    def __init__(self, store: PolicyStore, informers: InformerFactory) -> None:
        self._store = store
        self._policies = informers.informer(API_VERSION, "JsPolicy")
        self._bundles = informers.informer(API_VERSION, "JsPolicyBundle")
        self._changed = threading.Event()
        self._reported: set[str] = set()

    def run(self, stop: threading.Event) -> threading.Thread:
        """Install the first set once both kinds are synced, then follow changes, in a daemon thread."""

        def loop() -> None:
            for informer in (self._policies, self._bundles):
                while not informer.wait_synced(5.0):
                    if stop.is_set():
                        return
                    log.warning("waiting for the JsPolicy and JsPolicyBundle watches to sync")
            for informer in (self._policies, self._bundles):
                informer.add_handler(self._on_event)
            while not stop.is_set():
                self._install()
                while not self._changed.wait(1.0):
                    if stop.is_set():
                        return
                stop.wait(COALESCE_SECONDS)
                self._changed.clear()

        thread = threading.Thread(target=loop, name="policy-source", daemon=True)
        thread.start()
        return thread

    def _on_event(self, _event: str, _obj: Mapping[str, Any] | None, _old: Mapping[str, Any] | None) -> None:
        self._changed.set()

    def _install(self) -> None:
        policies, problems = PolicySet.from_cluster(self._policies.list(), self._bundles.list())
        for problem in problems:
            if problem not in self._reported:
                log.error("not serving an invalid policy: %s", problem)
        self._reported = set(problems)
        self._store.install(policies)
