"""Contexts built on short-lived threads (request threads, anyio workers) can be closed anywhere later.

mini-racer creates the V8 isolate on the calling thread and V8 ties per-thread heap
state to it; freeing it after that thread exited used to crash the process.
"""

from __future__ import annotations

import asyncio
import threading
import time

import anyio.to_thread

from jspolicy.cluster.memory import MemoryCluster
from jspolicy.runtime.host import HostFunctions
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.program import PolicyProgram
from jspolicy.runtime.settings import RuntimeSettings

PROGRAM = PolicyProgram.of("built.elsewhere.jspolicy.com", "sleep(20); deny('made on another thread')")


def evaluate_on(pool: RuntimePool) -> str:
    host = HostFunctions(cluster=MemoryCluster(), settings=pool.settings, policy=PROGRAM.name)
    return str(pool.evaluate(PROGRAM, "{}", host, timeout=5).message)


def test_a_context_built_on_a_finished_thread_closes_cleanly() -> None:
    pool = RuntimePool(RuntimeSettings(pool_size=1))
    answers: list[str] = []
    worker = threading.Thread(target=lambda: answers.append(evaluate_on(pool)))
    worker.start()
    worker.join()
    time.sleep(0.05)  # the thread is gone
    pool.close()
    assert answers == ["made on another thread"]


def test_a_context_built_on_an_anyio_worker_closes_cleanly() -> None:
    pool = RuntimePool(RuntimeSettings(pool_size=1))

    async def main() -> str:
        return await anyio.to_thread.run_sync(evaluate_on, pool)

    assert asyncio.run(main()) == "made on another thread"
    pool.close()


def test_recycled_contexts_are_replaced_in_the_background_and_keep_answering() -> None:
    """JSPOLICY_RECYCLE_AFTER: a worn context is closed and its successor built off the evaluation's
    path; the pool never holds more contexts than its size."""
    pool = RuntimePool(RuntimeSettings(pool_size=1, recycle_after=2))
    try:
        answers = [evaluate_on(pool) for _ in range(5)]
        assert answers == ["made on another thread"] * 5
        assert pool.replaced == 2  # after the 2nd and the 4th evaluation
        assert len(pool._contexts) <= 1
    finally:
        pool.close()
