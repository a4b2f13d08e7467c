"""Volume fuzzing of a real server: mutated AdmissionReviews at /policy/<name> and /crds.

Every answer must be a coded error or a correct admission answer, in under 2 s, with no worker
restarted and a normal review answered after each batch. ``JSPOLICY_FUZZ_COUNT`` sets the number
of cases (CI runs the default; docs/runtime.md has the figures of a 100,000-case run).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.server.conftest import ROOT, Server, pod, post, review, start_server

COUNT = int(os.environ.get("JSPOLICY_FUZZ_COUNT") or 5000)
BATCH = 500
CLIENTS = 4
PATHS = ["/policy/deny-privileged.examples.jspolicy.com", "/policy/add-team-label.examples.jspolicy.com", "/crds"]
FIELDS = ["uid", "kind", "resource", "operation", "userInfo", "object", "oldObject", "name", "namespace", "dryRun",
          "options", "subResource", "requestKind", "requestResource"]  # fmt: skip
WEIRD: list[Any] = [None, True, 0, -1, 10**30, 1e308, -1e-308, "", "\ud800", "x" * 1000, [], {}, [[[]]], {"a": {}}]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    policies = sorted((ROOT / "examples" / "policies").glob("*.yaml"))
    running = start_server(tmp_path_factory.mktemp("fuzz"), policies, workers=2)
    yield running
    running.stop()


def valid(rng: random.Random) -> dict[str, Any]:
    body = review(pod(privileged=rng.random() < 0.5), uid=f"u{rng.randrange(10**6)}")
    if rng.random() < 0.3:
        body["request"]["operation"] = "UPDATE"
        body["request"]["oldObject"] = pod()
    return body


def mutate(rng: random.Random) -> tuple[bytes, str]:
    """A body and its content type."""
    kind = rng.randrange(9)
    body = valid(rng)
    if kind == 0:  # byte flips
        data = bytearray(json.dumps(body).encode())
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data), "application/json"
    if kind == 1:  # truncation
        data = json.dumps(body).encode()
        return data[: rng.randrange(len(data))], "application/json"
    if kind == 2:  # wrong types in any field
        for field in rng.sample(FIELDS, rng.randrange(1, 4)):
            body["request"][field] = rng.choice(WEIRD)
        return json.dumps(body).encode(), "application/json"
    if kind == 3:  # deep nesting
        depth = rng.choice([200, 250, 300, 900, 1100, 10_000])
        text = json.dumps(body).replace('"nginx:1.27"', "[" * depth + "]" * depth)
        return text.encode(), "application/json"
    if kind == 4:  # invalid UTF-8
        data = json.dumps(body).encode()
        cut = rng.randrange(len(data))
        return data[:cut] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]) + data[
            cut:
        ], "application/json"
    if kind == 5:  # duplicate keys
        text = json.dumps(body)
        return text.replace('"uid":', '"uid": "dup", "uid":', 1).encode(), "application/json"
    if kind == 6:  # huge numbers
        body["request"]["object"]["spec"]["priority"] = rng.choice([10**40, -(10**40), 1e308])
        return json.dumps(body).encode(), "application/json"
    if kind == 7:  # wrong content types
        ctype = rng.choice(["text/plain", "application/json; charset=utf-8", "", "application/yaml"])
        return json.dumps(body).encode(), ctype
    return json.dumps(rng.choice(WEIRD)).encode(), "application/json"


def check(response: httpx.Response, elapsed: float) -> str | None:
    if elapsed > 2.0:
        return f"took {elapsed:.2f}s"
    if response.status_code in (408, 413, 429):
        return None
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        answer = response.json()["response"]
    except (ValueError, KeyError, TypeError):
        return f"not an AdmissionReview: {response.text[:200]}"
    status = answer.get("status") or {}
    # A policy that throws on odd input is answered 500 with its error, as in jsPolicy: a correct answer.
    # A fault of the server itself is not.
    if any(text in str(status.get("message")) for text in ("internal error", "failed in the jspolicy runtime")):
        return f"internal error: {answer}"
    if "allowed" not in answer:
        return f"no decision: {answer}"
    return None


def run_batch(server: Server, cases: list[tuple[str, bytes, str]]) -> list[str]:
    problems: list[str] = []
    lock = threading.Lock()

    def work(part: list[tuple[str, bytes, str]]) -> None:
        with server.client() as client:
            for path, data, ctype in part:
                started = time.monotonic()
                try:
                    response = client.post(path, content=data, headers={"Content-Type": ctype} if ctype else {})
                except httpx.HTTPError as error:
                    problem: str | None = f"request failed: {error!r}"
                else:
                    problem = check(response, time.monotonic() - started)
                if problem:
                    with lock:
                        problems.append(f"{path} {data[:80]!r}: {problem}")

    threads = [threading.Thread(target=work, args=(cases[i::CLIENTS],)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return problems


def normal_review_answered(server: Server) -> Callable[[], bool]:
    def ask() -> bool:
        with server.client() as client:
            answer = post(client, PATHS[0], review(pod(privileged=True))).json()["response"]
        return answer["allowed"] is False and "Privileged" in answer["status"]["message"]

    return ask


def test_mutated_reviews_get_coded_answers(served: Server) -> None:
    rng = random.Random(20261202)
    pids = {w["pid"] for w in served.readiness()["workers"]}
    problems: list[str] = []
    sent = 0
    while sent < COUNT:
        size = min(BATCH, COUNT - sent)
        cases = [(rng.choice(PATHS), *mutate(rng)) for _ in range(size)]
        problems += run_batch(served, cases)
        sent += size
        assert normal_review_answered(served)()
    assert problems[:20] == []
    assert {w["pid"] for w in served.readiness()["workers"]} == pids  # no worker restarted
    assert "internal error" not in served.log.read_text()


def test_a_50_megabyte_body_is_refused_without_reading_it(served: Server) -> None:
    with served.client() as client:
        started = time.monotonic()
        response = client.post(
            PATHS[0], content=b" " * (50 * 1024 * 1024), headers={"Content-Type": "application/json"}
        )
        assert time.monotonic() - started < 30
    assert response.status_code in (200, 413)
    if response.status_code == 200:
        assert response.json()["response"]["status"]["code"] == 413
    assert normal_review_answered(served)()
