"""Request bodies are bounded in time and, all together, in size: stalled uploads cannot fill a worker."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from jspolicy.server.bodies import MAX_BODIES_IN_FLIGHT_BYTES
from tests.server.conftest import ROOT, Server, pod, post, review, start_server, worker_rss

BODY_TIMEOUT = 4  # seconds, set for this server; the default is 10
ANNOUNCED = 7 * 1000 * 1000
SENT = 6 * 1000 * 1000
MIB = 1024 * 1024
JSON = "application/json"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("bodies"), sorted((ROOT / "examples" / "policies").glob("*.yaml")),
                           workers=1, env={"JSPOLICY_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT)})  # fmt: skip
    yield running
    running.stop()


def rss(server: Server) -> int:
    (worker,) = server.readiness()["workers"]
    return worker_rss(int(worker["pid"]))


def stalled_upload(server: Server) -> ssl.SSLSocket:
    """A connection that announces a 7 MB review, sends 6 MB of it and then nothing more."""
    port = int(server.url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=server.ca)
    connection = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                                     server_hostname="localhost")  # fmt: skip
    connection.sendall(f"POST /policy/deny-privileged.examples.jspolicy.com HTTP/1.1\r\nHost: localhost\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {ANNOUNCED}\r\n\r\n".encode())  # fmt: skip
    with contextlib.suppress(OSError):  # refused at once and closed: fine, the answer is read below
        connection.sendall(b" " * SENT)
    return connection


def answer_status(connection: ssl.SSLSocket, timeout: float) -> int:
    connection.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = connection.recv(4096)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, OSError):
        return 0
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def test_stalled_uploads_are_capped_then_dropped_and_their_memory_given_back(served: Server) -> None:
    baseline = rss(served)
    connections = [stalled_upload(served) for _ in range(40)]
    try:
        held = rss(served)
        # The bodies held together stay under the cap (plus buffers and allocator slack), not 40 x 6 MB.
        assert held - baseline < MAX_BODIES_IN_FLIGHT_BYTES + 96 * MIB, (baseline, held)
        with served.client() as client:  # a normal review is answered meanwhile
            answer = post(client, "/policy/deny-privileged.examples.jspolicy.com", review(pod(privileged=True))).json()
        assert answer["response"]["allowed"] is False and "Privileged" in answer["response"]["status"]["message"]
        statuses = [answer_status(c, BODY_TIMEOUT * 3 + 30) for c in connections]
    finally:
        for connection in connections:
            connection.close()
    assert statuses.count(429) >= 40 - MAX_BODIES_IN_FLIGHT_BYTES // ANNOUNCED  # over the cap: refused at once
    assert statuses.count(408) >= 1 and set(statuses) <= {408, 429}  # the others: dropped at the deadline
    deadline = time.monotonic() + 30
    while rss(served) - baseline > 48 * MIB and time.monotonic() < deadline:
        time.sleep(0.5)
    assert rss(served) - baseline <= 48 * MIB, (baseline, rss(served))


def test_a_body_that_stops_arriving_gets_408_and_the_connection_closes(served: Server) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=served.ca)
    with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                             server_hostname="localhost") as connection:  # fmt: skip
        body = json.dumps(review(pod())).encode()
        connection.sendall(b"POST /policy/deny-privileged.examples.jspolicy.com HTTP/1.1\r\nHost: localhost\r\n"
                           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                           + body[:10])  # fmt: skip
        started = time.monotonic()
        assert answer_status(connection, BODY_TIMEOUT * 3 + 30) == 408
        assert time.monotonic() - started >= BODY_TIMEOUT * 0.9
        connection.settimeout(30)
        rest = b""
        while chunk := connection.recv(65536):
            rest += chunk
        assert connection.recv(1) == b""  # closed by the server


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose stalled bodies outlive the test: only closing them gives their bytes back."""
    running = start_server(tmp_path_factory.mktemp("patient"), sorted((ROOT / "examples" / "policies").glob("*.yaml")),
                           workers=1, env={"JSPOLICY_BODY_TIMEOUT_SECONDS": "600"})  # fmt: skip
    yield running
    running.stop()


def chunked(server: Server, size: int) -> int:
    """A review of about ``size`` bytes sent without a Content-Length: nothing can be reserved up front."""
    document = review(pod())
    document["request"]["object"]["metadata"]["annotations"] = {"filler": "x" * size}
    data = json.dumps(document).encode()
    with server.client() as client:
        response = client.post("/policy/deny-privileged.examples.jspolicy.com", headers={"Content-Type": JSON},
                               content=iter([data[i : i + 65536] for i in range(0, len(data), 65536)]))  # fmt: skip
    if response.status_code == 200:
        assert response.json()["response"]["allowed"] is True
    return response.status_code


def test_chunked_bodies_are_charged_as_they_grow_and_closed_uploads_give_theirs_back(patient: Server) -> None:
    held = MAX_BODIES_IN_FLIGHT_BYTES // ANNOUNCED  # 9 reservations of 7 MB leave 4.1 MiB of the 64 MiB
    left = MAX_BODIES_IN_FLIGHT_BYTES - held * ANNOUNCED
    connections = [stalled_upload(patient) for _ in range(held)]
    try:
        extra = stalled_upload(patient)
        assert answer_status(extra, 60) == 429  # the cap is full: the reservations above are held
        extra.close()
        assert chunked(patient, left + MIB) == 429  # refused once it grew past what is left
        assert chunked(patient, left - MIB) == 200  # what fits is answered
    finally:
        for connection in connections:
            connection.close()
    deadline = time.monotonic() + 60  # the server sees the closes on its own time
    while chunked(patient, ANNOUNCED - MIB) != 200:  # more than was left while they were held
        assert time.monotonic() < deadline, "the closed uploads' bytes were not given back"
        time.sleep(0.5)
