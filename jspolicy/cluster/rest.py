"""Plain JSON requests to the API server over a ``kubernetes.client.ApiClient``.

The generated typed APIs cannot address arbitrary kinds and the dynamic client's
discoverer is not thread-safe, so the live backend, the informers and the
violations writer share this thin layer: the ApiClient's connection pool and
authentication, our own JSON decoding (exact big integers) and one error type
carrying the API server's ``Status`` reason and message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import kubernetes.client
import urllib3

from jspolicy import fastjson
from jspolicy.resources.kinds import KindInfo

# (connect, read) seconds for ordinary requests: jsPolicy's client had no timeout at all (docs/compatibility.md),
# which let one hung connection hold a V8 context for ever.
DEFAULT_TIMEOUT = (10.0, 30.0)

# StatusReason for an HTTP status when the body is not a Status (a proxy's 503, say).
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Gone",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """A request failed: ``status`` 0 means no HTTP answer (connection refused, timeout)."""

    def __init__(self, status: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details or {}

    @classmethod
    def from_body(cls, status: int, body: bytes | str | None) -> ApiError:
        """Reason and message from a ``Status`` body, or from the HTTP status when there is none."""
        parsed: Any = None
        if body:
            try:
                parsed = fastjson.loads(body)
            except ValueError:
                parsed = None
        if isinstance(parsed, Mapping) and parsed.get("kind") == "Status":
            return cls(
                status,
                str(parsed.get("reason") or _REASONS.get(status, "")),
                str(parsed.get("message") or ""),
                parsed.get("details") if isinstance(parsed.get("details"), Mapping) else None,
            )
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        return cls(status, _REASONS.get(status, ""), text.strip() or f"the server responded with HTTP {status}")

    @property
    def retryable(self) -> bool:
        """Worth another try: no answer, throttled, or a server-side failure."""
        return self.status in {0, 429} or self.status >= 500


def resource_path(info: KindInfo, namespace: str = "", name: str = "", subresource: str = "") -> str:
    """``/api/v1/namespaces/ns/pods/name`` and friends; ``namespace`` is ignored for cluster kinds."""
    parts = ["/api", info.version] if not info.group else ["/apis", info.group, info.version]
    if info.namespaced and namespace:
        parts += ["namespaces", namespace]
    parts.append(info.plural)
    if name:
        parts.append(name)
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


class RestClient:
    """Thread-safe: every call builds its own request on the ApiClient's pooled connections."""

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self.api_client = api_client

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> Any:
        """The decoded JSON answer; raises ApiError for anything but 2xx."""
        response = self.open(method, path, query=query, body=body, content_type=content_type, timeout=timeout)
        try:
            data = response.data
        except (urllib3.exceptions.HTTPError, OSError) as error:
            response.close()  # half read: its connection must not go back to the pool as it is
            raise ApiError(0, "", f"error reading the response to {method} {path}: {error}") from error
        finally:
            response.release_conn()
        return fastjson.loads(data) if data else None

    def open(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> urllib3.BaseHTTPResponse:
        """The unread response (a watch streams from it); raises ApiError for anything but 2xx."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            serialized = self.api_client.param_serialize(
                method,
                path,
                query_params=[(k, _query_value(v)) for k, v in query],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api_client.call_api(*serialized, _request_timeout=timeout)
        except kubernetes.client.ApiException as error:
            if not error.status:  # TLS failures arrive as a status-0 ApiException
                raise ApiError(0, "", f"error talking to the API server: {error.reason}") from error
            raise ApiError.from_body(int(error.status), error.body) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ApiError(0, "", f"error talking to the API server: {error}") from error
        raw: urllib3.BaseHTTPResponse = response.response
        if not 200 <= response.status <= 299:
            try:
                data = raw.data
            except (urllib3.exceptions.HTTPError, OSError):
                raw.close()
                data = b""
            finally:
                raw.release_conn()
            raise ApiError.from_body(int(response.status), data)
        return raw


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def iter_lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """Newline-separated chunks of a streamed body (one watch event per line)."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=True):
        buffer += chunk
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                break
            line, buffer = buffer[:end], buffer[end + 1 :]
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer
