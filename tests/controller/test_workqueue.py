"""The controllers' work queue: dedup, one worker per key at a time, exponential backoff."""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry

from jspolicy.controller.workqueue import WorkQueue
from jspolicy.service.metrics import REQUEUE, SUCCESS, QueueMetrics


def test_a_key_added_twice_is_processed_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert [queue.get(0), queue.get(0), queue.get(0)] == ["a", "b", None]


def test_a_key_added_while_processing_comes_back_after_done_not_before() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert queue.get(0) == "a"
    queue.add("a")
    assert queue.get(0) is None  # never handed to a second worker while the first has it
    queue.done("a")
    assert queue.get(0) == "a"


def test_backoff_doubles_per_failure_and_forget_resets_it() -> None:
    queue: WorkQueue[str] = WorkQueue(base_delay=0.01, max_delay=0.05)
    assert [queue.add_rate_limited("a") for _ in range(5)] == [0.01, 0.02, 0.04, 0.05, 0.05]
    queue.forget("a")
    assert queue.add_rate_limited("a") == 0.01


def test_a_delayed_key_arrives_after_its_delay() -> None:
    queue: WorkQueue[str] = WorkQueue()
    started = time.monotonic()
    queue.add_after("later", 0.2)
    assert queue.get(0.05) is None
    assert queue.get(2) == "later"
    assert time.monotonic() - started >= 0.2


def test_close_wakes_a_waiting_worker() -> None:
    queue: WorkQueue[str] = WorkQueue()
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(queue.get()))
    worker.start()
    time.sleep(0.05)
    queue.close()
    worker.join(2)
    assert got == [None]


def test_a_closed_queue_hands_out_nothing_more() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in "abc":
        queue.add(key)
    assert queue.get(0) == "a"
    queue.close()
    assert queue.get(0) is None  # b and c are not run after leadership is lost


def test_serve_works_every_key_and_counts_reconciles_as_controller_runtime_does() -> None:
    registry = CollectorRegistry()
    queue: WorkQueue[str] = WorkQueue(name="demo", metrics=QueueMetrics(registry))
    failed: list[tuple[str, str]] = []

    def handle(key: str) -> str:
        if key == "broken":
            raise RuntimeError("no")
        queue.forget(key)
        return REQUEUE if key == "again" else SUCCESS

    def count(metric: str, **labels: str) -> float:
        return registry.get_sample_value(metric, {"controller": "demo", **labels}) or 0.0

    worker = threading.Thread(target=queue.serve, args=(handle, lambda key, error: failed.append((key, str(error)))))
    worker.start()
    for key in ("ok", "again", "broken"):
        queue.add(key)
    deadline = time.monotonic() + 5
    while count("controller_runtime_reconcile_time_seconds_count") < 3:
        assert time.monotonic() < deadline, "not every key was worked"
        time.sleep(0.01)
    queue.close()
    worker.join(5)
    assert not worker.is_alive()  # closing the queue ends the loop
    assert failed == [("broken", "no")]
    for result in ("success", "requeue", "error"):
        assert count("controller_runtime_reconcile_total", result=result) == 1
    assert count("controller_runtime_reconcile_errors_total") == 1
