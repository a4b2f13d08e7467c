"""Volume fuzzing of a real server: mutated AdmissionReviews at /policy/<name> and /crds.

Every answer must be a coded error or a correct admission answer, in under 2 s (a stalled body instead
gets HTTP 408 at the body deadline and its connection closed), with no worker restarted, nothing logged
as an internal error and a normal review answered after each batch. ``JSPOLICY_FUZZ_COUNT`` sets the
number of cases (CI runs the default).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from tests.server.conftest import ROOT, Server, pod, post, review, start_server

COUNT = int(os.environ.get("JSPOLICY_FUZZ_COUNT") or 5000)
BATCH = 500
CLIENTS = 4
BODY_TIMEOUT = 3  # seconds, set for this server so that stalled bodies end soon (the default is 10)
STALLED_EVERY = 1000  # one stalled body per this many cases, at least four
PATHS = ["/policy/deny-privileged.examples.jspolicy.com", "/policy/add-team-label.examples.jspolicy.com",
         "/policy/allowed-registries.examples.jspolicy.com", "/crds"]  # fmt: skip
FIELDS = ["uid", "kind", "resource", "operation", "userInfo", "object", "oldObject", "name", "namespace", "dryRun",
          "options", "subResource", "requestKind", "requestResource"]  # fmt: skip
SPEC_FIELDS = ["type", "operations", "resources", "apiGroups", "apiVersions", "scope", "namespaceSelector",
               "objectSelector", "matchPolicy", "failurePolicy", "reinvocationPolicy", "timeoutSeconds",
               "violationPolicy", "auditPolicy", "auditLogSize", "dependencies", "javascript"]  # fmt: skip
WEIRD: list[Any] = [None, True, 0, -1, 10**30, 2**31, 1e308, -1e-308, "", "\ud800", "x" * 1000, [], {}, [[[]]],
                    {"a": {}}, ["x", 1], "*", "CREATE", "UPDATE"]  # fmt: skip
# Written into the JSON text as they are: not JSON, out of a double's range, or nested past the limit.
LITERALS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "123456789012345678901234567890",
            '"\\ud800\\udc00"', '"\\udc00"', "[" * 253 + "]" * 253, '{"a":' * 260 + "1" + "}" * 260]  # fmt: skip
# Not replaced: matchExpressions of the wrong type is still an internal error of jspolicy/resources
# (labels.py iterates it unchecked); the strict xfail at the end pins that bug until it is fixed.
UNCHECKED = {"matchExpressions"}
JS_POLICIES = [document for path in sorted((ROOT / "examples").rglob("*.yaml"))
               for document in yaml.safe_load_all(path.read_text())
               if isinstance(document, dict) and document.get("kind") == "JsPolicy"]  # fmt: skip


@dataclass
class Case:
    path: str
    data: bytes
    content_type: str = "application/json"
    chunks: int = 0  # sent with Transfer-Encoding: chunked, in this many pieces


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    policies = sorted((ROOT / "examples" / "policies").glob("*.yaml"))
    running = start_server(tmp_path_factory.mktemp("fuzz"), policies, workers=2,
                           env={"JSPOLICY_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT)})  # fmt: skip
    yield running
    running.stop()


def valid(rng: random.Random) -> dict[str, Any]:
    body = review(pod(privileged=rng.random() < 0.5), uid=f"u{rng.randrange(10**6)}",
                  api_version=rng.choice(["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]))  # fmt: skip
    if rng.random() < 0.3:
        body["request"]["operation"] = "UPDATE"
        body["request"]["oldObject"] = pod()
    return body


def policy_review(rng: random.Random) -> dict[str, Any]:
    """A JsPolicy for /crds, its spec and metadata fields given values of any type."""
    body = review(copy.deepcopy(rng.choice(JS_POLICIES)), kind="JsPolicy", resource="jspolicies",
                  operation=rng.choice(["CREATE", "UPDATE"]))  # fmt: skip
    body["request"]["oldObject"] = copy.deepcopy(rng.choice(JS_POLICIES))
    for obj in (body["request"]["object"], body["request"]["oldObject"]):
        for field in rng.sample(SPEC_FIELDS, rng.randrange(4)):
            obj["spec"][field] = copy.deepcopy(rng.choice(WEIRD))
        if rng.random() < 0.2:
            obj[rng.choice(["metadata", "spec", "apiVersion"])] = copy.deepcopy(rng.choice(WEIRD))
    return body


def anywhere(rng: random.Random, body: dict[str, Any]) -> str:
    """The body as JSON text with one to three of its values, at any depth, replaced."""

    def slots(value: Any) -> Iterator[tuple[Any, Any]]:
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if key not in UNCHECKED:
                yield value, key
                yield from slots(item)

    literals = {}
    for number in range(rng.randrange(1, 4)):
        parent, key = rng.choice(list(slots(body)))
        if rng.random() < 0.3:
            marker = f"@literal{number}@"
            literals[f'"{marker}"'] = rng.choice(LITERALS)
            parent[key] = marker
        else:
            parent[key] = copy.deepcopy(rng.choice(WEIRD))
    text = json.dumps(body)
    for marker, literal in literals.items():
        text = text.replace(marker, literal)
    return text


def mutate(rng: random.Random) -> Case:
    case = _mutated(rng)
    if rng.random() < 0.1 and case.data:
        case.chunks = rng.randrange(1, 6)
    return case


def _mutated(rng: random.Random) -> Case:
    kind = rng.randrange(11)
    path = rng.choice(PATHS)
    body = policy_review(rng) if path == "/crds" and rng.random() < 0.7 else valid(rng)
    if kind == 0:  # byte flips
        data = bytearray(json.dumps(body).encode())
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return Case(path, bytes(data))
    if kind == 1:  # truncation
        data = json.dumps(body).encode()
        return Case(path, data[: rng.randrange(len(data))])
    if kind == 2:  # wrong types in the request's fields
        for field in rng.sample(FIELDS, rng.randrange(1, 4)):
            body["request"][field] = rng.choice(WEIRD)
        return Case(path, json.dumps(body).encode())
    if kind == 3:  # deep nesting
        depth = rng.choice([200, 250, 300, 900, 1100, 10_000])
        text = json.dumps(body).replace('"nginx:1.27"', "[" * depth + "]" * depth)
        text = text.replace('"pods"', "[" * depth + "]" * depth, 1) if path == "/crds" else text
        return Case(path, text.encode())
    if kind == 4:  # invalid UTF-8, or UTF-16
        data = json.dumps(body).encode()
        if rng.random() < 0.1:
            return Case(path, json.dumps(body).encode(rng.choice(["utf-16", "utf-16-le", "utf-32"])))
        cut = rng.randrange(len(data))
        return Case(path, data[:cut] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]) + data[cut:])
    if kind == 5:  # duplicate keys
        text = json.dumps(body)
        return Case(path, text.replace('"uid":', '"uid": "dup", "uid":', 1).encode())
    if kind == 6:  # huge numbers
        obj = body["request"]["object"]
        spec = obj["spec"] if isinstance(obj.get("spec"), dict) else obj
        spec["timeoutSeconds" if path == "/crds" else "priority"] = rng.choice([10**40, -(10**40), 1e308, 2**63])
        return Case(path, json.dumps(body).encode())
    if kind == 7:  # wrong content types
        content_type = rng.choice(["text/plain", "application/json; charset=utf-8", "", "application/yaml"])
        return Case(path, json.dumps(body).encode(), content_type)
    if kind in (8, 9):  # any value anywhere, and what is not JSON at all
        return Case(path, anywhere(rng, body).encode())
    return Case(path, json.dumps(rng.choice(WEIRD)).encode())


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
    if not isinstance(answer.get("allowed"), bool) or not isinstance(status.get("code"), int):
        return f"no decision: {answer}"
    return None


def send(client: httpx.Client, case: Case) -> httpx.Response:
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    if not case.chunks:
        return client.post(case.path, content=case.data, headers=headers)
    step = len(case.data) // case.chunks + 1
    pieces = [case.data[i : i + step] for i in range(0, len(case.data), step)]
    return client.post(case.path, content=iter(pieces), headers=headers)


def run_batch(server: Server, cases: list[Case]) -> list[str]:
    problems: list[str] = []
    lock = threading.Lock()

    def work(part: list[Case]) -> None:
        with server.client() as client:
            for case in part:
                started = time.monotonic()
                try:
                    response = send(client, case)
                except httpx.HTTPError as error:
                    problem: str | None = f"request failed: {error!r}"
                else:
                    problem = check(response, time.monotonic() - started)
                if problem:
                    with lock:
                        problems.append(f"{case.path} chunks={case.chunks} {case.data[:80]!r}: {problem}")

    threads = [threading.Thread(target=work, args=(cases[i::CLIENTS],)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return problems


def connect(server: Server) -> ssl.SSLSocket:
    port = int(server.url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=server.ca)
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname="localhost")


def stalled(server: Server, rng: random.Random) -> str | None:
    """Headers and part of a body (announced or chunked), then nothing: a 408 at the deadline, then closed."""
    path = rng.choice(PATHS)
    data = json.dumps(valid(rng)).encode()
    sent = data[: rng.randrange(len(data))]
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    if rng.random() < 0.5:
        request = f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + sent
    else:
        chunk = b"%x\r\n%s\r\n" % (len(sent), sent) if sent else b""  # never the last, empty chunk
        request = f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + chunk
    with connect(server) as connection:
        connection.sendall(request)
        started = time.monotonic()
        connection.settimeout(BODY_TIMEOUT + 60)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := connection.recv(65536):
                answer += chunk
        elapsed = time.monotonic() - started
    if not answer.startswith(b"HTTP/1.1 408 "):
        return f"stalled {path}: answered {answer[:100]!r}"
    if elapsed < BODY_TIMEOUT * 0.9:
        return f"stalled {path}: dropped after {elapsed:.2f}s, before the {BODY_TIMEOUT}s deadline"
    if elapsed > BODY_TIMEOUT + 60:
        return f"stalled {path}: still open after {elapsed:.2f}s"
    return None


def normal_review_answered(server: Server) -> bool:
    with server.client() as client:
        answer = post(client, PATHS[0], review(pod(privileged=True))).json()["response"]
    return bool(answer["allowed"] is False and "Privileged" in answer["status"]["message"])


def test_mutated_reviews_get_coded_answers(served: Server) -> None:
    rng = random.Random(20261202)
    pids = {w["pid"] for w in served.readiness()["workers"]}
    problems: list[str] = []
    with ThreadPoolExecutor(8) as stalls:  # stalled bodies run alongside the batches
        waiting: list[Future[str | None]] = [
            stalls.submit(stalled, served, random.Random(seed)) for seed in range(max(4, COUNT // STALLED_EVERY))
        ]
        sent = 0
        while sent < COUNT:
            size = min(BATCH, COUNT - sent)
            problems += run_batch(served, [mutate(rng) for _ in range(size)])
            sent += size
            assert normal_review_answered(served)
        problems += [problem for future in waiting if (problem := future.result())]
    assert problems[:20] == []
    assert {w["pid"] for w in served.readiness()["workers"]} == pids  # no worker restarted
    log = served.log.read_text()
    assert "internal error" not in log and "Traceback" not in log


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
    assert normal_review_answered(served)


@pytest.mark.xfail(
    strict=True, reason="jspolicy/resources: matchExpressions is not type-checked (labels.py iterates it)"
)
def test_a_selector_with_matchexpressions_of_the_wrong_type_is_a_coded_answer(served: Server) -> None:
    obj = copy.deepcopy(JS_POLICIES[0])
    obj["spec"]["objectSelector"] = {"matchExpressions": 1}
    with served.client() as client:
        answer = post(client, "/crds", review(obj, kind="JsPolicy", resource="jspolicies")).json()["response"]
    assert answer["status"]["code"] == 403 and "matchExpressions" in answer["status"]["message"]
