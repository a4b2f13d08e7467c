"""A pool of warm policy contexts (jsPolicy's VM_POOL_SIZE).

Each evaluation borrows one context exclusively. A context that timed out,
hit its heap limit, kept memory after a run, or was left dirty or wedged by a
hostile policy is thrown away and replaced, so one policy can never poison the
next evaluation.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable

from jspolicy.runtime.context import ContextUnusableError, Host, PolicyContext
from jspolicy.runtime.program import ErrorKind, PolicyProgram, RawResult
from jspolicy.runtime.settings import RuntimeSettings
from jspolicy.runtime.steps import Blocking, Steps, drive

log = logging.getLogger(__name__)

# A broken context is replaced and the run retried; more than this in a row is a bug.
RETRIES = 3


class RuntimePool:
    def __init__(self, settings: RuntimeSettings | None = None, on_runaway: Callable[[], None] | None = None) -> None:
        """``on_runaway`` is called (on the evaluating thread) each time a context is given up with its
        task still running: its thread keeps a CPU busy until the process exits, so the owner of the
        process decides what to do (a webhook worker hands its traffic over and is replaced)."""
        self.settings = settings or RuntimeSettings.from_env()
        self._on_runaway = on_runaway
        self.runaways = 0
        self.size = self.settings.pool_size
        # One slot per allowed concurrent evaluation: a warm context, or None where
        # one is still to be built. A C-level queue keeps borrowing cheap.
        self._slots: queue.SimpleQueue[PolicyContext | None] = queue.SimpleQueue()
        for _ in range(self.size):
            self._slots.put(None)
        self._lock = threading.Lock()
        self._contexts: set[PolicyContext] = set()
        self._closed = False
        self.replaced = 0

    def warm(self) -> None:
        """Build every context now, so the first requests pay nothing."""
        slots = [self._slots.get() for _ in range(self.size)]
        try:
            for index, slot in enumerate(slots):
                if slot is None:
                    slots[index] = self._new_context()
        finally:
            for slot in slots:
                self._slots.put(slot)

    def evaluate(self, program: PolicyProgram, request_json: str, host: Host, timeout: float) -> RawResult:
        """Run one policy on this thread; ``timeout`` bounds the whole call, pool wait included."""
        return drive(self.run(program, request_json, host, timeout))

    def run(self, program: PolicyProgram, request_json: str, host: Host, timeout: float) -> Steps[RawResult]:
        """The steps of one evaluation (see runtime/steps.py); a free warm context is taken
        without waiting, and only a busy pool or a context to build is blocking work."""
        deadline = time.monotonic() + timeout
        for _ in range(RETRIES):
            if self._closed:
                return RawResult.failure(ErrorKind.UNAVAILABLE, "the JavaScript runtime is shutting down")
            try:
                slot = self._slots.get_nowait()
            except queue.Empty:
                wait = functools.partial(self._slots.get, timeout=max(0.0, deadline - time.monotonic()))
                try:
                    slot = yield Blocking(wait)
                except queue.Empty:
                    return RawResult.failure(
                        ErrorKind.UNAVAILABLE, f"script {program.name} timed out waiting for a free JavaScript context"
                    )
            context = slot
            try:
                if context is None:
                    context = yield Blocking(self._new_context)
                return (yield from context.run(program, request_json, host, deadline))
            except ContextUnusableError as reason:
                log.warning("replacing a JavaScript context before running %s: %s", program.name, reason)
            finally:
                self._release(context)
        return RawResult.failure(ErrorKind.UNAVAILABLE, f"script {program.name} could not get a usable context")

    def compile_error(self, program: PolicyProgram, timeout: float = 10.0) -> str | None:
        """The error compiling ``program`` in V8 (a syntax error), or None; checks a new version
        before it replaces a good one, and leaves it compiled in one warm context."""
        deadline = time.monotonic() + timeout
        if self._closed:
            return None
        try:
            context = self._slots.get(timeout=timeout)
        except queue.Empty:
            return None  # busy: the first request compiles it instead
        try:
            if context is None:
                context = self._new_context()
            return context.compile(program, deadline)
        except ContextUnusableError:
            return None
        finally:
            self._release(context)

    def close(self) -> None:
        """Close idle contexts now; contexts still evaluating are closed as they come back."""
        with self._lock:
            self._closed = True
        while True:
            try:
                slot = self._slots.get_nowait()
            except queue.Empty:
                return
            if slot is not None:
                self._discard(slot)

    def _release(self, context: PolicyContext | None) -> None:
        """Give a slot back after a run. A context that must be replaced is closed, and its
        successor built, in the background: neither belongs on a review's path (nor on the
        webhook's event loop, which drives evaluations)."""
        if context is None or not (context.needs_replacement or context.closed or self._closed):
            self._slots.put(context)
            return
        self.replaced += 1
        if context.runaway:
            self.runaways += 1
            if self._on_runaway is not None:
                self._on_runaway()
        threading.Thread(target=self._replace, args=(context,), name="context-replacer", daemon=True).start()

    def _replace(self, old: PolicyContext) -> None:
        self._discard(old)
        fresh = None
        if not self._closed:
            try:
                fresh = self._new_context()
            except Exception:  # the next evaluation builds one instead
                if not self._closed:
                    log.exception("building a replacement JavaScript context failed")
        self._slots.put(fresh)

    def _discard(self, context: PolicyContext) -> None:
        with self._lock:
            self._contexts.discard(context)
        try:
            context.close()
        except Exception:  # never let a broken context take the pool slot with it
            log.exception("closing a replaced JavaScript context failed")

    def _new_context(self) -> PolicyContext:
        context = PolicyContext(self.settings)
        with self._lock:
            if self._closed:
                context.close()
                raise RuntimeError("the runtime pool is closed")
            self._contexts.add(context)
        return context
