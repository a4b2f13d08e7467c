"""Connection-level abuse: oversized and never-ending headers, next to normal large requests."""

from __future__ import annotations

import socket
import ssl
import time

from jspolicy.server.protocol import HEADER_TIMEOUT_SECONDS, MAX_HEADER_BYTES
from tests.server.conftest import Server, pod, post, review
from tests.server.test_webhook import PRIVILEGED


def connect(server: Server) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=server.ca)
    port = int(server.url.rsplit(":", 1)[1])
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")


def read_all(connection: ssl.SSLSocket, timeout: float) -> bytes:
    connection.settimeout(timeout)
    data = b""
    try:
        while chunk := connection.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError, ssl.SSLError):
        pass
    return data


def test_oversized_headers_are_refused_with_431_and_the_connection_closed(server: Server) -> None:
    with connect(server) as connection:
        connection.sendall(b"POST /policy/x HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            while sent < 4 * MAX_HEADER_BYTES:
                connection.sendall(b"a" * 16384)
                sent += 16384
        except OSError:
            pass  # closed by the server while we were still sending
        answer = read_all(connection, 10)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_headers_that_never_end_are_cut_off_after_the_header_timeout(server: Server) -> None:
    with connect(server) as connection:
        connection.sendall(b"POST /policy/x HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        answer = read_all(connection, HEADER_TIMEOUT_SECONDS + 10)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert HEADER_TIMEOUT_SECONDS - 1 < elapsed < HEADER_TIMEOUT_SECONDS + 5


def test_a_large_review_with_normal_headers_is_still_answered(server: Server) -> None:
    big = pod(privileged=True)
    big["metadata"]["annotations"] = {"padding": "x" * (3 * 1024 * 1024)}  # the API server's object limit
    with server.client() as client:
        answer = post(client, f"/policy/{PRIVILEGED}", review(big)).json()["response"]
    assert answer["allowed"] is False and answer["status"]["code"] == 403
