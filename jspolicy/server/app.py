"""The webhook endpoints: ``POST /policy/<name>`` and ``POST /crds``.

The request pipeline of jsPolicy (§4.2): strict content type, AdmissionReview
v1 or v1beta1 answered in its own version, coded errors for bad requests and
unknown policies, never a non-200 for a well-formed request. JavaScript runs in
a worker thread, never on the event loop; at most ``max_in_flight`` requests are
evaluated or queued, the rest are refused at once with HTTP 429: overload is
the webhook being unavailable, so the API server applies the policy's
failurePolicy (an in-band denial would ignore it). For the same reason a
request that waited its whole timeout for a free JavaScript context gets an
HTTP 503, not an in-band 500.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from jspolicy.admission.evaluate import AdmissionOutcome, PolicyEngine
from jspolicy.admission.review import Review, ReviewError, error_response, parse_review, render, response_for
from jspolicy.resources.fielderrors import aggregate
from jspolicy.resources.policy import API_VERSION, JsPolicy
from jspolicy.resources.validation import DecodeError, decode_strictly, validate_policy
from jspolicy.resources.violations import PolicyViolation
from jspolicy.runtime.program import ErrorKind
from jspolicy.server.metrics import Metrics
from jspolicy.server.store import PolicyStore

log = logging.getLogger("jspolicy.webhook")

# The API server accepts request bodies up to 3 MiB; an UPDATE review carries the
# object and the old object, so twice that plus the envelope is the most a real
# AdmissionReview needs.
MAX_BODY_BYTES = 7 * 1024 * 1024
JSON = "application/json"


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


def create_app(state: WebhookState) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    slots = threading.BoundedSemaphore(state.max_in_flight)
    # anyio's default of 40 threads would queue admitted requests behind a second, hidden limit.
    threads: list[anyio.CapacityLimiter] = []  # made on the event loop, at the first request

    def thread_limiter() -> anyio.CapacityLimiter:
        if not threads:
            threads.append(anyio.CapacityLimiter(state.max_in_flight))
        return threads[0]

    async def read_body(request: Request) -> bytes:
        content_type = request.headers.get("content-type", "")
        if content_type != JSON:
            raise _RefusedError(400, f"contentType={content_type}, expected {JSON}")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _RefusedError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise _RefusedError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        if not body:
            raise _RefusedError(400, "request body is empty")
        return bytes(body)

    async def answer(webhook: str, request: Request, decide: Callable[[Review], bytes]) -> Response:
        """Shared framing: metrics, body checks, decoding, refusals as coded errors."""
        started = time.perf_counter()
        state.metrics.in_flight.labels(webhook).inc()
        status = 200
        try:
            try:
                review = parse_review(await read_body(request))
            except ReviewError as error:
                raise _RefusedError(400, str(error)) from None
            if not slots.acquire(blocking=False):
                raise _RefusedError(429, "too many admission requests in flight; try again")
            try:
                body = await anyio.to_thread.run_sync(decide, review, limiter=thread_limiter())
            finally:
                slots.release()
        except _RefusedError as refused:
            log.warning("refused %s: %s", request.url.path, refused.message)
            body = render(None, error_response(refused.code, refused.message))
            status = refused.code if refused.code in (429, 503) else 200
        except ClientDisconnect:  # the caller gave up (e.g. its own timeout); nobody reads an answer
            log.info("client disconnected before %s was answered", request.url.path)
            status, body = 499, b""
        except Exception:  # a bug must still be answered, never with a bare HTTP 500
            log.exception("internal error answering %s", request.url.path)
            body = render(None, error_response(500, "internal error in the jspolicy webhook; see its log"))
        finally:
            state.metrics.in_flight.labels(webhook).dec()
            state.metrics.latency.labels(webhook).observe(time.perf_counter() - started)
        state.metrics.requests.labels(webhook, str(status)).inc()
        return Response(body, status_code=status, media_type=JSON)

    @app.post("/policy/{name}")
    async def policy(name: str, request: Request) -> Response:
        def decide(review: Review) -> bytes:
            snapshot = state.store.snapshot
            js_policy = snapshot.policies.get(name)
            if js_policy is None:
                message = f'jspolicies.policy.jspolicy.com "{name}" not found'
                return render(review.api_version, error_response(400, message, review.uid))
            outcome: AdmissionOutcome = state.engine.evaluate(js_policy, snapshot.programs[name], review.request)
            state.metrics.observe_execution(
                js_policy.type, name, outcome.code, outcome.duration_seconds, outcome.raw.ran
            )
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

        return await answer("/policy/", request, decide)

    @app.post("/crds")
    async def crds(request: Request) -> Response:
        def decide(review: Review) -> bytes:
            return render(review.api_version, validate_review(review.request, review.uid))

        return await answer("/crds", request, decide)

    if state.bench_floor:

        @app.post("/floor")
        async def floor(request: Request) -> Response:
            """The HTTP floor for benchmarks: the same framing and decoding, no JavaScript."""

            def decide(review: Review) -> bytes:
                return render(review.api_version, {"uid": review.uid, "allowed": True,
                                                   "status": {"metadata": {}, "code": 200}})  # fmt: skip

            return await answer("/floor", request, decide)

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
    try:
        decode_strictly(obj)
    except DecodeError as error:
        return _denied(uid, "BadRequest", str(error))
    old = request.get("oldObject") if request.get("operation") == "UPDATE" else None
    errors = validate_policy(obj, old if isinstance(old, dict) else None)
    if errors:
        return _denied(uid, "Forbidden", aggregate(errors))
    return {"uid": uid, "allowed": True, "status": {"metadata": {}, "code": 200}}


def _denied(uid: str, reason: str, message: str) -> dict[str, Any]:
    return {"uid": uid, "allowed": False, "status": {"metadata": {}, "message": message, "reason": reason, "code": 403}}
