"""Overload: beyond --max-in-flight a worker refuses at once with HTTP 429 (failurePolicy then applies)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from jspolicy.admission.evaluate import PolicyEngine
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.settings import RuntimeSettings
from jspolicy.server.app import WebhookState, create_app
from jspolicy.server.store import PolicyStore
from jspolicy.service.metrics import Metrics
from tests.server.conftest import pod, review

SLOW = """apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: slow.test.jspolicy.com}
spec:
  operations: ["*"]
  resources: ["*"]
  javascript: "sleep(400); deny('slow answer')"
"""


def test_requests_beyond_the_in_flight_limit_are_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "slow.yaml").write_text(SLOW)
    store = PolicyStore([str(tmp_path)])
    assert store.reload()
    pool = RuntimePool(RuntimeSettings(pool_size=1))
    state = WebhookState(store, PolicyEngine(pool, MemoryCluster()), Metrics(), max_in_flight=1)
    body = json.dumps(review(pod())).encode()

    async def scenario() -> list[tuple[int, float, dict[str, object]]]:
        transport = httpx.ASGITransport(app=create_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:

            async def one() -> tuple[int, float, dict[str, object]]:
                started = time.monotonic()
                response = await client.post(
                    "/policy/slow.test.jspolicy.com", content=body, headers={"Content-Type": "application/json"}
                )
                return response.status_code, time.monotonic() - started, response.json()

            return list(await asyncio.gather(*(one() for _ in range(4))))

    try:
        results = asyncio.run(scenario())
    finally:
        pool.close()
    answered = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 429]
    assert len(answered) == 1 and len(refused) == 3
    assert answered[0][2]["response"]["status"]["message"] == "slow answer"  # type: ignore[index]
    for _, elapsed, answer in refused:
        assert elapsed < 0.3
        assert answer["response"]["status"]["code"] == 429  # type: ignore[index]
        assert "too many admission requests" in answer["response"]["status"]["message"]  # type: ignore[index]


HOLDER_AND_HURRIED = """apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: holder.test.jspolicy.com}
spec:
  operations: ["*"]
  resources: ["*"]
  timeoutSeconds: 5
  javascript: "sleep(1000); sleep(1000); allow()"
---
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: hurried.test.jspolicy.com}
spec:
  operations: ["*"]
  resources: ["*"]
  timeoutSeconds: 1
  javascript: "deny('never reached')"
"""


def test_no_free_context_within_the_timeout_is_an_http_503_not_an_in_band_denial(tmp_path: Path) -> None:
    (tmp_path / "policies.yaml").write_text(HOLDER_AND_HURRIED)
    store = PolicyStore([str(tmp_path)])
    assert store.reload()
    pool = RuntimePool(RuntimeSettings(pool_size=1))
    state = WebhookState(store, PolicyEngine(pool, MemoryCluster()), Metrics(), max_in_flight=8)
    body = json.dumps(review(pod())).encode()

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="https://webhook", timeout=30) as client:

            async def send(policy: str, delay: float) -> httpx.Response:
                await asyncio.sleep(delay)
                headers = {"Content-Type": "application/json"}
                return await client.post(f"/policy/{policy}", content=body, headers=headers)

            return list(
                await asyncio.gather(send("holder.test.jspolicy.com", 0), send("hurried.test.jspolicy.com", 0.2))
            )

    try:
        holder, hurried = asyncio.run(scenario())
    finally:
        pool.close()
    assert holder.status_code == 200 and holder.json()["response"]["allowed"] is True
    assert hurried.status_code == 503
    status = hurried.json()["response"]["status"]
    assert status["code"] == 503 and "waiting for a free JavaScript context" in status["message"]
