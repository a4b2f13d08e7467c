"""What crosses from V8 into Python is bounded, and the in-memory cluster refuses what the API server refuses."""

from __future__ import annotations

from typing import Any

import pytest

from jspolicy.cluster import memory
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.runtime.channel import MAX_REQUEST_UNITS
from tests.conftest import Evaluate


def config_map(name: str, size: int, kind: str = "ConfigMap") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "default"},
            "data": {"a": "x" * size}}  # fmt: skip


def test_an_object_over_the_api_servers_request_limit_is_refused() -> None:
    cluster = MemoryCluster()
    result = cluster.create({**config_map("big", 10), "spec": {"x": "y" * (4 * 1024 * 1024)}}, dry_run=False)
    assert (result.ok, result.reason) == (False, "RequestEntityTooLarge")
    assert result.message == "Request entity too large: limit is 3145728"
    assert cluster.get("ConfigMap", "v1", "default", "big", cached=True) is None


def test_config_map_data_over_one_mebibyte_is_invalid() -> None:
    result = MemoryCluster().create(config_map("cm", 1024 * 1024 + 1), dry_run=False)
    assert (result.ok, result.reason) == (False, "Invalid")
    assert "Too long: must have at most 1048576 bytes" in result.message
    assert MemoryCluster().create(config_map("cm", 1000), dry_run=False).ok


def test_the_stored_count_and_bytes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "MAX_OBJECTS", 3)
    cluster = MemoryCluster()
    assert all(cluster.create(config_map(f"c{i}", 10), dry_run=False).ok for i in range(3))
    assert cluster.create(config_map("c9", 10), dry_run=True).reason == "Forbidden"  # checked, not counted
    refused = cluster.create(config_map("c3", 10), dry_run=False)
    assert (refused.ok, refused.reason) == (False, "Forbidden") and "quota" in refused.message
    assert cluster.update({**config_map("c0", 20)}, dry_run=False).ok  # replacing does not add
    assert cluster.remove(config_map("c1", 0), dry_run=False).ok
    assert cluster.create(config_map("c3", 10), dry_run=False).ok  # room again after a removal


def test_stored_bytes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "MAX_STORED_BYTES", 3 * 1024 * 1024)
    cluster = MemoryCluster()
    assert cluster.create(config_map("a", 900_000), dry_run=False).ok
    assert cluster.create(config_map("b", 900_000), dry_run=False).ok
    assert cluster.create(config_map("c", 900_000), dry_run=False).ok
    assert cluster.create(config_map("d", 900_000), dry_run=False).reason == "Forbidden"


def test_a_host_call_over_the_cap_throws_and_the_context_keeps_working(evaluate: Evaluate) -> None:
    size = MAX_REQUEST_UNITS + 1024
    big = (f"{{apiVersion: 'v1', kind: 'ConfigMap', metadata: {{name: 'x', namespace: 'default'}}, "
           f"data: {{a: 'x'.repeat({size})}}}}")  # fmt: skip
    outcome = evaluate(f"try {{ create({big}) }} catch (e) {{ deny('caught ' + e.message) }}", timeoutSeconds=30)
    assert outcome.allowed is False and f"at most {MAX_REQUEST_UNITS} characters" in outcome.message
    assert evaluate("deny('still ' + 'fine')").message == "still fine"
