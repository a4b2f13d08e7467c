"""The leader's policy builds, off the reconcile loop: bounded, one per policy source, remembered.

A reconcile that needs a bundle asks for it here and moves on; the build runs on a small thread
pool (npm and esbuild are subprocesses with BUNDLE_TIMEOUT), and its end requeues the policy, whose
next reconcile writes the JsPolicyBundle or the failure. The outcome is kept per policy for the
source it was built from (its bundleHash), so a source is built once, not on every reconcile, and
only a changed source, a new leader, or a transient failure's retry builds again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from jspolicy.bundler.build import Built, Bundler, InlineSource
from jspolicy.bundler.errors import BuildError

log = logging.getLogger(__name__)

Outcome = Built | BuildError
# A failure of the registry or the network is built again after 15 s, doubling to 10 min; the reconciler's
# own status writes and the queue's retries meanwhile get the kept failure, not a new build.
RETRY_BASE, RETRY_MAX = 15.0, 600.0


class PolicyBuilds:
    def __init__(
        self, bundler: Bundler, done: Callable[[str], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._bundler = bundler
        self._done = done
        self._clock = clock
        self._lock = threading.Lock()
        self._outcomes: dict[str, tuple[str, Outcome, float]] = {}  # policy -> (bundleHash, outcome, retry at)
        self._running: dict[str, str] = {}  # policy -> bundleHash being built
        self._failures: dict[str, tuple[str, int]] = {}  # policy -> (bundleHash, transient failures in a row)
        self._executor = ThreadPoolExecutor(max_workers=bundler.settings.concurrency, thread_name_prefix="bundle")
        self._closed = False

    def outcome(self, source: InlineSource, digest: str) -> Outcome | None:
        """The build of this source, or None while it runs (it is started if it is not)."""
        name = source.policy
        with self._lock:
            known = self._outcomes.get(name)
            if known is not None and known[0] == digest and self._clock() < known[2]:
                return known[1]  # a transient failure is kept until its retry is due, whatever asks for it
            if self._running.get(name) != digest and not self._closed:
                self._running[name] = digest
                self._executor.submit(self._build, source, digest)
        return None

    def forget(self, name: str) -> None:
        """Drop what was kept for the policy: it is gone, or its bundle is written (a later need, say the
        bundle was deleted, is a cache hit)."""
        with self._lock:
            self._outcomes.pop(name, None)
            self._failures.pop(name, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _build(self, source: InlineSource, digest: str) -> None:
        with self._lock:
            if self._running.get(source.policy) != digest:
                return  # the policy changed while this build waited: only its newest source is built
        outcome: Outcome
        try:
            built = self._bundler.build(source)
            log.info("bundled policy %s (%d bytes%s)", source.policy, len(built.javascript),
                     ", from the cache" if built.cached else "")  # fmt: skip
            outcome = built
        except BuildError as error:
            outcome = error
            log.warning("bundling policy %s failed: %s", source.policy, error)
        except Exception as error:  # a bug must not leave the policy waiting for ever
            log.exception("bundling policy %s failed unexpectedly", source.policy)
            outcome = BuildError(f"js policy {source.policy}: bundling failed unexpectedly: {error}")
        with self._lock:
            if self._running.get(source.policy) == digest:
                del self._running[source.policy]
            retry_at = math.inf
            if isinstance(outcome, BuildError) and outcome.transient:
                previous = self._failures.get(source.policy)
                count = previous[1] + 1 if previous is not None and previous[0] == digest else 1
                self._failures[source.policy] = (digest, count)
                retry_at = self._clock() + min(RETRY_MAX, RETRY_BASE * 2 ** (count - 1))
            else:
                self._failures.pop(source.policy, None)
            self._outcomes[source.policy] = (digest, outcome, retry_at)
        self._done(source.policy)
