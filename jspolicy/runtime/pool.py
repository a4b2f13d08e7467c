"""A pool of warm policy contexts (jsPolicy's VM_POOL_SIZE).

Each evaluation borrows one context exclusively. A context that timed out,
hit its heap limit, was left dirty or wedged by a hostile policy is thrown away
and replaced, so one policy can never poison the next evaluation.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from jspolicy.runtime.context import ContextUnusable, Host, PolicyContext
from jspolicy.runtime.program import ErrorKind, PolicyProgram, RawResult
from jspolicy.runtime.settings import RuntimeSettings

log = logging.getLogger(__name__)

# A broken context is replaced and the run retried; more than this in a row is a bug.
RETRIES = 3


class RuntimePool:
    def __init__(self, settings: RuntimeSettings | None = None) -> None:
        self.settings = settings or RuntimeSettings.from_env()
        self.size = self.settings.pool_size
        self._slots = threading.BoundedSemaphore(self.size)
        self._idle: queue.SimpleQueue[PolicyContext] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._contexts: set[PolicyContext] = set()
        self._closed = False
        self.replaced = 0

    def warm(self) -> None:
        """Create every context now, so the first requests pay nothing."""
        with self._lock:
            missing = self.size - len(self._contexts)
        for _ in range(missing):
            self._idle.put(self._new_context())

    @property
    def warm_contexts(self) -> int:
        with self._lock:
            return len(self._contexts)

    def evaluate(self, program: PolicyProgram, request_json: str, host: Host, timeout: float) -> RawResult:
        """Run one policy; ``timeout`` bounds the whole call, pool wait included."""
        deadline = time.monotonic() + timeout
        if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return RawResult.failure(
                ErrorKind.UNAVAILABLE, f"script {program.name} timed out waiting for a free JavaScript context"
            )
        try:
            for _ in range(RETRIES):
                context = self._borrow()
                try:
                    return context.evaluate(program, request_json, host, deadline)
                except ContextUnusable as reason:
                    log.warning("replacing a JavaScript context before running %s: %s", program.name, reason)
                finally:
                    self._give_back(context)
            return RawResult.failure(ErrorKind.UNAVAILABLE, f"script {program.name} could not get a usable context")
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            contexts = list(self._contexts)
            self._contexts.clear()
        for context in contexts:
            context.close()

    def _borrow(self) -> PolicyContext:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._new_context()

    def _give_back(self, context: PolicyContext) -> None:
        if context.needs_replacement or context.closed:
            self.replaced += 1
            with self._lock:
                self._contexts.discard(context)
            context.close()
            return
        self._idle.put(context)

    def _new_context(self) -> PolicyContext:
        context = PolicyContext(self.settings)
        with self._lock:
            if self._closed:
                context.close()
                raise RuntimeError("the runtime pool is closed")
            self._contexts.add(context)
        return context
