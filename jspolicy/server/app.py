"""The webhook endpoints: ``POST /policy/<name>`` and ``POST /crds``.

jsPolicy's request pipeline (docs/webhook.md): strict content type, AdmissionReview
v1 or v1beta1 answered in its own version, coded errors for bad requests and
unknown policies, never a non-200 for a well-formed request. JavaScript runs on
V8's own threads while the event loop awaits it (blocking work, such as waiting
for a free context, moves to a worker thread); at most ``max_in_flight`` requests are
evaluated or queued, the rest are refused at once with HTTP 429: overload is
the webhook being unavailable, so the API server applies the policy's
failurePolicy (an in-band denial would ignore it). For the same reason a
request that waited its whole timeout for a free JavaScript context gets an
HTTP 503, not an in-band 500.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from jspolicy.admission.evaluate import AdmissionOutcome, PolicyEngine
from jspolicy.admission.review import Review, ReviewError, error_response, parse_review, render, response_for
from jspolicy.resources.fielderrors import aggregate
from jspolicy.resources.policy import API_VERSION, JsPolicy
from jspolicy.resources.validation import DecodeError, decode_strictly, validate_policy
from jspolicy.resources.violations import PolicyViolation
from jspolicy.runtime.program import ErrorKind
from jspolicy.server.bodies import BodyBudget, BodyRefusedError, DisconnectedError, body_timeout_seconds
from jspolicy.server.store import PolicyStore
from jspolicy.service.metrics import Metrics

log = logging.getLogger("jspolicy.webhook")

JSON = "application/json"
POLICY_PREFIX = "/policy/"


@dataclass
class WebhookState:
    store: PolicyStore
    engine: PolicyEngine
    metrics: Metrics
    max_in_flight: int
    bench_floor: bool = False
    # Cluster mode: hands a violation (and the object's uid, for PolicyReports) to the writer; returns at once.
    record: Callable[[JsPolicy, PolicyViolation, str], None] | None = None


class _RefusedError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AdmissionApp:
    """The webhook's ASGI application.

    The admission endpoints are answered here, straight from ASGI: FastAPI's request
    objects, routing and dependency layers cost as much CPU per review as a Pod Security
    policy itself (see docs/performance.md). Every other path and method goes to the
    FastAPI application behind it.
    """

    def __init__(self, state: WebhookState) -> None:
        self.state = state
        self.fallback = _fallback_app()
        self._slots = threading.BoundedSemaphore(state.max_in_flight)
        self._bodies = BodyBudget(timeout=body_timeout_seconds())
        # anyio's default of 40 threads would queue admitted requests behind a second, hidden limit.
        self._threads: anyio.CapacityLimiter | None = None  # made on the event loop, at the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(POLICY_PREFIX) and "/" not in path[len(POLICY_PREFIX) :] and path != POLICY_PREFIX:
                name = path[len(POLICY_PREFIX) :]
                await self._answer("/policy/", path, scope, receive, send, functools.partial(self._decide, name))
                return
            if path == "/crds":
                await self._answer("/crds", path, scope, receive, send, self._validate)
                return
            if path == "/floor" and self.state.bench_floor:
                await self._answer("/floor", path, scope, receive, send, _floor)
                return
        await self.fallback(scope, receive, send)

    async def _answer(
        self,
        webhook: str,
        path: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        decide: Callable[[Review], Awaitable[bytes]],
    ) -> None:
        """Shared framing: metrics, body checks, decoding, refusals as coded errors."""
        metrics = self.state.metrics
        started = time.perf_counter()
        metrics.in_flight.labels(webhook).inc()
        status = 200
        close = False
        try:
            async with self._bodies.body(scope, receive) as request_body:
                try:
                    review = parse_review(request_body)
                except ReviewError as error:
                    raise _RefusedError(400, str(error)) from None
                del request_body
                if not self._slots.acquire(blocking=False):
                    raise _RefusedError(429, "too many admission requests in flight; try again")
                try:
                    body = await decide(review)
                finally:
                    self._slots.release()
        except (_RefusedError, BodyRefusedError) as refused:
            log.warning("refused %s: %s", path, refused.message)
            body = render(None, error_response(refused.code, refused.message))
            status = refused.code if refused.code in (408, 429, 503) else 200
            # A body not read to its end would be parsed as the next request: end the connection instead.
            close = isinstance(refused, BodyRefusedError) and refused.code != 400
        except DisconnectedError:  # the caller gave up (e.g. its own timeout); nobody reads an answer
            log.info("client disconnected before %s was answered", path)
            status, body = 499, b""
        except Exception:  # a bug must still be answered, never with a bare HTTP 500
            log.exception("internal error answering %s", path)
            body = render(None, error_response(500, "internal error in the jspolicy webhook; see its log"))
        finally:
            metrics.in_flight.labels(webhook).dec()
            metrics.latency.labels(webhook).observe(time.perf_counter() - started)
        metrics.requests.labels(webhook, str(status)).inc()
        headers = [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _thread_limiter(self) -> anyio.CapacityLimiter:
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(self.state.max_in_flight)
        return self._threads

    async def _validate(self, review: Review) -> bytes:
        """/crds: validation is plain Python, and a policy's source can be large: off the loop."""
        return await anyio.to_thread.run_sync(_validate, review, limiter=self._thread_limiter())

    async def _decide(self, name: str, review: Review) -> bytes:
        state = self.state
        snapshot = state.store.snapshot
        js_policy = snapshot.policies.get(name)
        if js_policy is None:
            message = f'jspolicies.policy.jspolicy.com "{name}" not found'
            return render(review.api_version, error_response(400, message, review.uid))
        outcome: AdmissionOutcome = await state.engine.evaluate_async(
            js_policy, snapshot.programs[name], review.request, self._thread_limiter(),
            request_json=review.request_json or None,
        )  # fmt: skip
        state.metrics.observe_execution(js_policy.type, name, outcome.code, outcome.duration_seconds, outcome.raw.ran)
        if outcome.raw.error_kind == ErrorKind.UNAVAILABLE:  # no context in time: let failurePolicy decide
            raise _RefusedError(503, outcome.raw.error or "the JavaScript runtime is unavailable")
        if outcome.violation is not None and state.record is not None:
            subject = review.request.get("object") or review.request.get("oldObject") or {}
            uid = (subject.get("metadata") or {}).get("uid", "") if isinstance(subject, dict) else ""
            state.record(js_policy, outcome.violation, str(uid))
        log.debug(
            "decision policy=%s uid=%s operation=%s allowed=%s code=%d",
            name,
            review.uid,
            review.request.get("operation"),
            outcome.allowed,
            outcome.code,
        )
        return render(review.api_version, response_for(outcome, review.uid))


def create_app(state: WebhookState) -> AdmissionApp:
    return AdmissionApp(state)


def _validate(review: Review) -> bytes:
    return render(review.api_version, validate_review(review.request, review.uid))


async def _floor(review: Review) -> bytes:
    """The HTTP floor for benchmarks: the same framing and decoding, no JavaScript."""
    return render(review.api_version, {"uid": review.uid, "allowed": True, "status": {"metadata": {}, "code": 200}})


def _fallback_app() -> FastAPI:
    """Every path that is not an admission endpoint: a coded "wrong request path" answer."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown(path: str) -> Response:
        body = render(None, error_response(400, f"wrong request path: /{path}"))
        return Response(body, media_type=JSON)

    return app


def validate_review(request: dict[str, Any], uid: str) -> dict[str, Any]:
    """jsPolicy's /crds webhook: only JsPolicy objects are checked; other kinds pass."""
    obj = request.get("object")
    kind = (request.get("kind") or {}).get("kind")
    if (
        not isinstance(obj, dict)
        or kind != "JsPolicy"
        or obj.get("apiVersion") != API_VERSION
        or request.get("operation") not in ("CREATE", "UPDATE")
    ):
        return {"uid": uid, "allowed": True, "status": {"metadata": {}, "code": 200}}
    old = request.get("oldObject") if request.get("operation") == "UPDATE" else None
    try:
        decode_strictly(obj)
        if old is not None:  # decoded like the new object, as jsPolicy decodes both: the rules read its spec
            try:
                decode_strictly(old)
            except DecodeError as error:
                raise DecodeError(f"oldObject: {error}") from None
    except DecodeError as error:
        return _denied(uid, "BadRequest", str(error))
    errors = validate_policy(obj, old)
    if errors:
        return _denied(uid, "Forbidden", aggregate(errors))
    return {"uid": uid, "allowed": True, "status": {"metadata": {}, "code": 200}}


def _denied(uid: str, reason: str, message: str) -> dict[str, Any]:
    return {"uid": uid, "allowed": False, "status": {"metadata": {}, "message": message, "reason": reason, "code": 403}}
