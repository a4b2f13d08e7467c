"""``fetchSync``: synchronous HTTP for policies, bounded in time, size and reach.

jsPolicy's fetchSync had no timeout, so a hung server pinned a VM past the
policy timeout. Here every call ends by the earlier of the fetch timeout and the
evaluation deadline, the body is capped, and an optional host allow-list is
checked on the first request and on every redirect, as is the scheme (http or https only).
"""

from __future__ import annotations

import contextlib
import fnmatch
import http.client
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_REDIRECTS = 10
SCHEMES = ("http", "https")  # on the first request and on every redirect


class FetchError(Exception):
    """Becomes the string ``fetchSync: <message>`` thrown in JavaScript."""


def host_allowed(url: str, allowed: tuple[str, ...] | None) -> bool:
    """``allowed`` holds host patterns (``api.example.com``, ``*.corp``, ``host:8443``)."""
    if allowed is None:
        return True
    parsed = urllib.parse.urlparse(url)
    host = (parsed.hostname or "").lower()
    with_port = f"{host}:{parsed.port}" if parsed.port else host
    return any(fnmatch.fnmatchcase(host, p.lower()) or fnmatch.fnmatchcase(with_port, p.lower()) for p in allowed)


class _RedirectGuard(urllib.request.HTTPRedirectHandler):
    def __init__(self, allowed: tuple[str, ...] | None) -> None:
        self.allowed = allowed

    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any) -> Any:
        """Refuse a redirect to any scheme but http and https before urllib decides (it follows ftp://,
        and answers others with the redirect itself)."""
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urllib.parse.urljoin(req.full_url, location)
            scheme = urllib.parse.urlparse(target).scheme.lower()
            if scheme not in SCHEMES:
                raise FetchError(f'redirect to "{target}": unsupported protocol scheme "{scheme}"')
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if not host_allowed(newurl, self.allowed):
            raise FetchError(f"redirect to {newurl} is not allowed (JSPOLICY_FETCH_ALLOWED_HOSTS)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, options: Mapping[str, Any], *, timeout: float, allowed: tuple[str, ...] | None) -> dict[str, Any]:
    """Perform the request; returns {status, statusText, headers, body} or raises FetchError.

    The whole call, DNS and a server that drips bytes included, ends within ``timeout``:
    it runs in a helper thread, and at the deadline its connections are shut down."""
    if timeout <= 0:
        raise FetchError("the policy's time is up")
    if urllib.parse.urlparse(url).scheme.lower() not in SCHEMES:
        raise FetchError(f'unsupported protocol scheme in "{url}"')
    if not host_allowed(url, allowed):
        raise FetchError(f"host of {url} is not allowed (JSPOLICY_FETCH_ALLOWED_HOSTS)")
    method = str(options.get("method") or "GET").upper()
    connections: list[http.client.HTTPConnection] = []
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = _perform(url, method, options, time.monotonic() + timeout, allowed, connections)
        except BaseException as error:  # handed to the waiting thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name="fetchSync", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        for connection in list(connections):
            if connection.sock is not None:
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)
        raise FetchError(f"{method} {url}: timed out after {timeout:.1f}s")
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, FetchError):
            raise error
        reason = getattr(error, "reason", error)
        raise FetchError(f"{method} {url}: {reason}")
    return dict(outcome["result"])


def _perform(
    url: str,
    method: str,
    options: Mapping[str, Any],
    deadline: float,
    allowed: tuple[str, ...] | None,
    connections: list[http.client.HTTPConnection],
) -> dict[str, Any]:
    body = options.get("body")
    request = urllib.request.Request(
        url,
        data=body.encode("utf-8") if isinstance(body, str) else None,
        method=method,
        headers=dict(options.get("headers") or {}),
    )
    context = ssl.create_default_context()
    if options.get("insecure"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(*_tracked_handlers(context, connections), _RedirectGuard(allowed))
    try:
        response = opener.open(request, timeout=max(0.001, deadline - time.monotonic()))
    except urllib.error.HTTPError as error:
        response = error  # a non-2xx answer is a response, not a failure
    with response:
        data = _read_body(response, deadline)
        headers: dict[str, str] = {}
        for key, value in response.headers.items():
            headers.setdefault(_canonical(key), value)
        status = int(response.status)
        return {
            "status": status,
            "statusText": f"{status} {response.reason}",
            "headers": headers,
            "body": data.decode("utf-8", "replace"),
        }


def _tracked_handlers(
    context: ssl.SSLContext, connections: list[http.client.HTTPConnection]
) -> tuple[urllib.request.BaseHandler, ...]:
    """urllib handlers whose connections are recorded, so a timed-out call can be cut off."""

    class TrackedHTTP(http.client.HTTPConnection):
        def connect(self) -> None:
            connections.append(self)
            super().connect()

    class TrackedHTTPS(http.client.HTTPSConnection):
        def connect(self) -> None:
            connections.append(self)
            super().connect()

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(TrackedHTTP, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(TrackedHTTPS, req, context=context)

    return HTTPHandler(), HTTPSHandler(context=context)


def _read_body(response: Any, deadline: float) -> bytes:
    """Read at most MAX_BODY_BYTES, one socket read at a time, until the deadline."""
    sock = _socket_of(response)
    read = getattr(response, "read1", None) or response.read
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError("timed out reading the response body")
        if sock is not None:
            sock.settimeout(remaining)
        chunk = read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise FetchError(f"response body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)


def _socket_of(response: Any) -> Any:
    """The socket under an http.client response (also when wrapped in an HTTPError)."""
    layer = response
    for _ in range(5):
        if hasattr(layer, "settimeout"):
            return layer
        layer = getattr(layer, "fp", None) or getattr(layer, "raw", None) or getattr(layer, "_sock", None)
        if layer is None:
            return None
    return None


def _canonical(header: str) -> str:
    """Go's CanonicalMIMEHeaderKey: ``content-type`` -> ``Content-Type``."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in header.split("-"))
