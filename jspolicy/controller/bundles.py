"""The leader's policy builds, off the reconcile loop: bounded, one per policy source, remembered.

A reconcile that needs a bundle asks for it here and moves on; the build runs on a small thread
pool (npm and esbuild are subprocesses with BUNDLE_TIMEOUT), and its end requeues the policy, whose
next reconcile writes the JsPolicyBundle or the failure. The outcome is kept per policy for the
source it was built from (its bundleHash), so a source is built once, not on every reconcile, and
only a changed source (or a new leader) builds again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from jspolicy.bundler.build import Built, Bundler, InlineSource
from jspolicy.bundler.errors import BuildError

log = logging.getLogger(__name__)

Outcome = Built | BuildError


class PolicyBuilds:
    def __init__(self, bundler: Bundler, done: Callable[[str], None]) -> None:
        self._bundler = bundler
        self._done = done
        self._lock = threading.Lock()
        self._outcomes: dict[str, tuple[str, Outcome]] = {}  # policy -> (bundleHash, outcome)
        self._running: dict[str, str] = {}  # policy -> bundleHash being built
        self._executor = ThreadPoolExecutor(max_workers=bundler.settings.concurrency, thread_name_prefix="bundle")
        self._closed = False

    def outcome(self, source: InlineSource, digest: str) -> Outcome | None:
        """The build of this source, or None while it runs (it is started if it is not)."""
        name = source.policy
        with self._lock:
            known = self._outcomes.get(name)
            if known is not None and known[0] == digest:
                return known[1]
            if self._running.get(name) != digest and not self._closed:
                self._running[name] = digest
                self._executor.submit(self._build, source, digest)
        return None

    def forget(self, name: str) -> None:
        """Drop what was kept for the policy: it is gone, its bundle is written (a later need, say the bundle
        was deleted, is a cache hit), or its failure was transient and is to be tried again."""
        with self._lock:
            self._outcomes.pop(name, None)

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
            self._outcomes[source.policy] = (digest, outcome)
        self._done(source.policy)
