"""A work queue like client-go's: keys are deduplicated, one key is never processed by two
workers at once, and failed keys come back with per-key exponential backoff."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from jspolicy.service.metrics import ERROR, QueueMetrics

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        base_delay: float = 0.005,
        max_delay: float = 1000.0,
        *,
        name: str = "",
        metrics: QueueMetrics | None = None,
    ) -> None:
        self.base_delay, self.max_delay = base_delay, max_delay
        self._name, self._metrics = name, metrics
        self._ready: list[K] = []
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._again: set[K] = set()  # added while processing: queued when done
        self._delayed: list[tuple[float, int, K]] = []
        self._failures: dict[K, int] = {}
        self._sequence = 0
        self._closed = False
        self._condition = threading.Condition()

    def add(self, key: K) -> None:
        with self._condition:
            if self._closed or key in self._queued:
                return
            if key in self._processing:
                self._again.add(key)
                return
            self._queued.add(key)
            self._ready.append(key)
            self._condition.notify()
        self._count_add()

    def add_after(self, key: K, delay: float) -> None:
        with self._condition:
            if self._closed:
                return
            self._sequence += 1
            heapq.heappush(self._delayed, (time.monotonic() + delay, self._sequence, key))
            self._condition.notify()

    def add_rate_limited(self, key: K) -> float:
        """Back off: 5 ms, 10 ms, 20 ms ... up to ``max_delay``; returns the delay chosen."""
        with self._condition:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        delay: float = min(self.max_delay, self.base_delay * 2.0**failures)
        self.add_after(key, delay)
        if self._metrics is not None:
            self._metrics.retries.labels(self._name).inc()
        return delay

    def forget(self, key: K) -> None:
        with self._condition:
            self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        with self._condition:
            return self._failures.get(key, 0)

    def get(self, timeout: float | None = None) -> K | None:
        """The next key (mark it done with ``done``), or None on timeout or once closed (queued keys are dropped)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while True:
                if self._closed:  # leader work stops now, not after the backlog
                    return None
                self._promote_due()
                if self._ready:
                    key = self._ready.pop(0)
                    self._queued.discard(key)
                    self._processing.add(key)
                    if self._metrics is not None:
                        self._metrics.depth.labels(self._name).set(len(self._ready) + len(self._delayed))
                    return key
                now = time.monotonic()
                waits = [d for d in (deadline, self._delayed[0][0] if self._delayed else None) if d is not None]
                if deadline is not None and now >= deadline:
                    return None
                self._condition.wait(max(0.0, min(waits) - now) if waits else None)

    def done(self, key: K) -> None:
        with self._condition:
            self._processing.discard(key)
            if key in self._again:
                self._again.discard(key)
                if key not in self._queued:
                    self._queued.add(key)
                    self._ready.append(key)
                    self._condition.notify()

    def serve(self, handle: Callable[[K], str], on_error: Callable[[K, Exception], None]) -> None:
        """A controller's worker loop, as controller-runtime's: take each key until the queue
        closes, ``handle`` it (it returns the result, SUCCESS or REQUEUE, and forgets or re-adds
        the key itself), give failures to ``on_error``, and count every reconcile."""
        while True:
            key = self.get()
            if key is None:
                return
            started = time.monotonic()
            try:
                result = handle(key)
            except Exception as error:
                result = ERROR
                on_error(key, error)
            finally:
                self.done(key)
            if self._metrics is not None:
                self._metrics.observe_reconcile(self._name, result, time.monotonic() - started)

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        if self._metrics is not None:
            self._metrics.depth.labels(self._name).set(0)

    def _count_add(self) -> None:
        if self._metrics is not None:
            self._metrics.adds.labels(self._name).inc()
            with self._condition:
                depth = len(self._ready) + len(self._delayed)
            self._metrics.depth.labels(self._name).set(depth)

    def __len__(self) -> int:
        with self._condition:
            return len(self._ready) + len(self._delayed)

    def _promote_due(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            if key in self._processing:
                self._again.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._ready.append(key)
