"""Runtime test helpers: private pools with custom settings, JS value extraction, a local HTTP server."""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.settings import RuntimeSettings
from tests.conftest import Evaluate, evaluator


class _Undefined:
    """Marks a JS ``undefined`` (as opposed to ``null``) returned by ``js_value``."""

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


def js_value(run: Evaluate, expression: str, *, setup: str = "", **kwargs: Any) -> Any:
    """Evaluate a JS expression inside a policy and return it as Python (``UNDEFINED`` for undefined).

    The value travels as ``deny(JSON.stringify({v: <expression>}), 'Value')``, so a policy
    failure (500) or an unexpected decision makes the helper fail loudly.
    """
    outcome = run(f"{setup}\ndeny(JSON.stringify({{ v: ({expression}) }}), 'Value');", **kwargs)
    assert (outcome.allowed, outcome.code, outcome.reason) == (False, 403, "Value"), outcome.message
    decoded = json.loads(outcome.message)
    return decoded.get("v", UNDEFINED)


def assert_healthy(run: Evaluate) -> None:
    """A normal deny and a normal allow still get the right answers."""
    denied = run("deny('still serving', 'Healthy', 418)", name="health.check")
    assert (denied.allowed, denied.code, denied.reason, denied.message) == (False, 418, "Healthy", "still serving")
    allowed = run(
        "warn('fine'); if (request.object.metadata.name !== 'web') deny('wrong request')", name="health.check"
    )
    assert allowed.allowed, allowed.message
    assert allowed.warnings == ["[health.check]: fine"]


PoolFactory = Callable[..., RuntimePool]


@pytest.fixture
def make_pool() -> Iterator[PoolFactory]:
    """Build private pools (``pool_size`` defaults to 1); all are closed after the test."""
    pools: list[RuntimePool] = []

    def build(**settings: Any) -> RuntimePool:
        settings.setdefault("pool_size", 1)
        runtime = RuntimePool(RuntimeSettings(**settings))
        pools.append(runtime)
        return runtime

    yield build
    for runtime in pools:
        runtime.close()


@pytest.fixture
def solo(make_pool: PoolFactory) -> RuntimePool:
    """A pool with exactly one context, so consecutive evaluations share it."""
    return make_pool(pool_size=1)


@pytest.fixture
def solo_evaluate(solo: RuntimePool) -> Evaluate:
    return evaluator(solo)


# ---- a local HTTP server for fetchSync ---------------------------------------------------------------------


@dataclass
class HttpServer:
    url: str
    hits: list[str] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "jspolicy-test"
    hits: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._route("GET", b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._route("POST", self.rfile.read(length))

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._route("PUT", self.rfile.read(length))

    def _route(self, method: str, body: bytes) -> None:
        parsed = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        self.hits.append(f"{method} {parsed.path}")
        if parsed.path == "/json":
            payload = {"path": self.path, "xTest": self.headers.get("X-Test")}
            headers = [
                ("content-type", "application/json"),
                ("x-custom-thing", "custom"),
                ("X-Multi", "first"),
                ("X-Multi", "second"),
            ]
            self._send(200, json.dumps(payload).encode(), headers)
        elif parsed.path == "/echo":
            payload = {
                "method": method,
                "body": body.decode("utf-8"),
                "xTest": self.headers.get("X-Test"),
                "contentType": self.headers.get("Content-Type"),
            }
            self._send(201, json.dumps(payload).encode(), [("Content-Type", "application/json")])
        elif parsed.path == "/slow":
            time.sleep(float(query.get("seconds", "1.5")))
            self._send(200, b"late", [])
        elif parsed.path == "/redirect":
            self._send(302, b"", [("Location", query["to"])])
        else:
            self._send(404, "nothing here: é".encode(), [("Content-Type", "text/plain; charset=utf-8")])


@pytest.fixture(scope="module")
def http_server() -> Iterator[HttpServer]:
    hits: list[str] = []
    handler = type("Handler", (_Handler,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-http-server", daemon=True)
    thread.start()
    try:
        yield HttpServer(url=f"http://127.0.0.1:{server.server_address[1]}", hits=hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
