"""Shared fixtures: real V8 contexts, the real engine, an in-memory cluster."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from jspolicy.admission.evaluate import AdmissionOutcome, PolicyEngine
from jspolicy.admission.request import UserInfo, build_request
from jspolicy.bundler.tools import ToolError
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.resources.policy import API_VERSION, JsPolicy
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.program import PolicyProgram
from jspolicy.runtime.settings import RuntimeSettings
from tests.npmregistry import NpmRegistry, RegistryError

pytest_plugins = ["tests.controlplane"]

GUARDRAILS = Path(__file__).resolve().parents[1] / "policies"  # the guardrail library, also an npm package
POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
}


def make_policy(javascript: str, name: str = "test.policies.jspolicy.com", **spec: Any) -> JsPolicy:
    """A JsPolicy for ``javascript``; ``spec`` overrides fields (operations, type, violationPolicy, ...)."""
    body: dict[str, Any] = {"operations": ["*"], "resources": ["*"], "javascript": javascript}
    body.update(spec)
    return JsPolicy({"apiVersion": API_VERSION, "kind": "JsPolicy", "metadata": {"name": name}, "spec": body})


def pod(**overrides: Any) -> dict[str, Any]:
    obj = copy.deepcopy(POD)
    obj.update(overrides)
    return obj


@pytest.fixture(scope="session")
def pool() -> Iterator[RuntimePool]:
    runtime = RuntimePool(RuntimeSettings(pool_size=2))
    yield runtime
    runtime.close()


Evaluate = Callable[..., AdmissionOutcome]


def evaluator(pool: RuntimePool) -> Evaluate:
    """evaluate(js_or_policy, obj=POD, *, operation="CREATE", old=None, cluster=(), user=None, **spec) on ``pool``."""

    def run(
        policy: str | JsPolicy,
        obj: Mapping[str, Any] | None = None,
        *,
        operation: str = "CREATE",
        old: Mapping[str, Any] | None = None,
        cluster: list[Mapping[str, Any]] | tuple[Mapping[str, Any], ...] = (),
        user: UserInfo | None = None,
        dry_run: bool = False,
        **spec: Any,
    ) -> AdmissionOutcome:
        js_policy = policy if isinstance(policy, JsPolicy) else make_policy(policy, **spec)
        memory = MemoryCluster(cluster)
        subject = POD if obj is None and old is None else obj
        request = build_request(memory.kinds, operation, subject, old, user=user, dry_run=dry_run)
        # The runtime as it is: code reaches it unchecked (a syntax error is refused earlier, in bundler/origin.py).
        program = PolicyProgram.of(js_policy.name, js_policy.javascript)
        return PolicyEngine(pool, memory).evaluate(js_policy, program, request)

    return run


@pytest.fixture
def evaluate(pool: RuntimePool) -> Evaluate:
    """The evaluator on the shared session pool."""
    return evaluator(pool)


@pytest.fixture(scope="session")
def npm_registry() -> Iterator[NpmRegistry]:
    """A loopback npm registry (verdaccio, no uplinks) anyone may read; publish with ``npm_registry.publish``."""
    with _started_registry(private=False) as registry:
        yield registry


@pytest.fixture(scope="session")
def guardrails_registry(npm_registry: NpmRegistry) -> NpmRegistry:
    """``npm_registry`` with the guardrail library (policies/, the npm package jspolicy-guardrails) published
    once for the session, as a platform team publishes it."""
    manifest = json.loads((GUARDRAILS / "package.json").read_text("utf-8"))
    output = npm_registry.publish(GUARDRAILS)
    assert f"+ {manifest['name']}@{manifest['version']}" in output, output
    return npm_registry


@pytest.fixture(scope="session")
def private_npm_registry() -> Iterator[NpmRegistry]:
    """A loopback npm registry that serves packages only with ``private_npm_registry.token``."""
    with _started_registry(private=True) as registry:
        yield registry


@contextlib.contextmanager
def _started_registry(*, private: bool) -> Iterator[NpmRegistry]:
    registry = NpmRegistry(private=private)
    try:
        registry.start()
    except (RegistryError, ToolError) as error:
        registry.close()
        pytest.fail(f"cannot start the loopback npm registry: {error}", pytrace=False)
    try:
        yield registry
    finally:
        registry.close()
