"""One evaluation, written once, driven from a thread or from an event loop.

An evaluation mostly waits: for a free context, then for V8 to finish on its
isolate thread. The pool and the context write that sequence once, as a
generator that yields what it waits for. ``drive`` runs it on the calling
thread (the CLI, controller policies); ``drive_async`` runs it on an asyncio
loop (the webhook), so a review needs no hand-off to a worker thread: the loop
posts the task and V8's completion wakes it. Whatever could block the loop
(waiting for a busy pool, building a context) makes ``drive_async`` finish the
rest of the evaluation in a thread instead.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio

from jspolicy.runtime.v8 import Isolate

T = TypeVar("T")

# How long the event loop itself blocks for V8's answer before it awaits it instead.
# Nearly every policy answers well within this (the Pod Security baseline in ~0.1 ms),
# and a blocking wait takes the result with one futex wake instead of a loop wake-up,
# a future and a timer: 3,500 instead of 3,200 reviews/s at concurrency 16 (see
# docs/performance.md). Slower runs (sleep(), live get() calls, long loops) free the
# loop after this and are awaited.
LOOP_WAIT = 0.001


@dataclass(frozen=True)
class AwaitResult:
    """The next result of ``isolate`` (converted, or its V8Error raised), waiting at most
    ``timeout`` seconds; queue.Empty is raised into the steps when it does not come."""

    isolate: Isolate
    timeout: float | None


@dataclass(frozen=True)
class Blocking:
    """Work that may block the thread (waiting for a context, building one)."""

    work: Callable[[], Any]


Effect = AwaitResult | Blocking
Steps = Generator[Effect, Any, T]


def drive(steps: Steps[T]) -> T:
    """Run ``steps`` on this thread."""
    return _finish(steps, None)


def _finish(steps: Steps[T], pending: Effect | None) -> T:
    value: Any = None
    error: BaseException | None = None
    effect = pending
    while True:
        if effect is not None:
            value, error = None, None
            try:
                value = effect.isolate.result(effect.timeout) if isinstance(effect, AwaitResult) else effect.work()
            except Exception as failure:  # handed to the steps, as the call itself would raise it
                error = failure
        try:
            effect = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def drive_async(steps: Steps[T], limiter: anyio.CapacityLimiter | None = None) -> T:
    """Run ``steps`` on the running event loop; blocking work moves the rest to a thread.

    If the awaiting task is cancelled, the evaluation still finishes in a thread: its
    context must not go back to the pool while V8 may still be running on it.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        value, error = None, None
        if isinstance(effect, Blocking):
            return await anyio.to_thread.run_sync(_finish, steps, effect, limiter=limiter)
        try:
            value = await _await_result(effect)
        except asyncio.CancelledError:
            threading.Thread(target=_finish, args=(steps, effect), name="evaluation-finisher", daemon=True).start()
            raise
        except Exception as failure:
            error = failure


async def _await_result(effect: AwaitResult) -> Any:
    first = LOOP_WAIT if effect.timeout is None else min(LOOP_WAIT, effect.timeout)
    try:
        return effect.isolate.result(first)
    except queue.Empty:
        if effect.timeout is not None and effect.timeout <= first:
            raise
    return await effect.isolate.result_async(None if effect.timeout is None else effect.timeout - first)
