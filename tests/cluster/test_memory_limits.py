"""The in-memory cluster refuses what the API server refuses, and what one process may store is bounded."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from jspolicy.cluster.memory import MemoryCluster
from jspolicy.resources.labels import EVERYTHING
from jspolicy.runtime.settings import ClusterQuota, RuntimeSettings, SettingsError

MIB = 1024 * 1024


def config_map(name: str, size: int, kind: str = "ConfigMap") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "default"},
            "data": {"a": "x" * size}}  # fmt: skip


def test_an_object_over_the_api_servers_request_limit_is_refused() -> None:
    cluster = MemoryCluster()
    result = cluster.create({**config_map("big", 10), "spec": {"x": "y" * (4 * MIB)}}, dry_run=False)
    assert (result.ok, result.reason) == (False, "RequestEntityTooLarge")
    assert result.message == "Request entity too large: limit is 3145728"
    assert cluster.get("ConfigMap", "v1", "default", "big", cached=True) is None


def test_config_map_data_over_one_mebibyte_is_invalid() -> None:
    cluster = MemoryCluster()
    result = cluster.create(config_map("cm", MIB + 1), dry_run=False)
    assert (result.ok, result.reason) == (False, "Invalid")
    assert result.message == 'ConfigMap "cm" is invalid: []: Too long: must have at most 1048576 bytes'
    assert cluster.create(config_map("cm", MIB), dry_run=False).ok
    grown = {**config_map("cm", MIB), "metadata": {"name": "cm", "namespace": "default"}, "binaryData": {"b": "eA=="}}
    assert cluster.update(grown, dry_run=False).reason == "Invalid"  # one decoded byte too many


def test_data_is_measured_as_the_api_server_measures_it() -> None:
    """UTF-8 bytes of data, decoded bytes of base64 values; a Secret's stringData counts as data."""
    cluster = MemoryCluster()
    assert (
        cluster.create({**config_map("utf8", 0), "data": {"a": "é" * (MIB // 2 + 1)}}, dry_run=False).reason
        == "Invalid"
    )
    secret = base64.b64encode(b"x" * (MIB - 10)).decode()  # 1.33 MiB of base64, 1 MiB - 10 decoded
    assert cluster.create({**config_map("s", 0, "Secret"), "data": {"a": secret}}, dry_run=False).ok
    over = {**config_map("s2", 0, "Secret"), "data": {"a": secret}, "stringData": {"b": "y" * 11}}
    refused = cluster.create(over, dry_run=False)
    assert refused.message == 'Secret "s2" is invalid: data: Too long: must have at most 1048576 bytes'
    assert cluster.create({**over, "stringData": {"a": "y" * 11}}, dry_run=False).ok  # replaces data's "a"
    assert cluster.create({**config_map("odd", 0), "data": ["not", "a", "map"]}, dry_run=False).ok


def test_the_stored_count_is_bounded_and_dry_runs_are_checked_but_not_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSPOLICY_MEMORY_CLUSTER_MAX_OBJECTS", "3")
    cluster = MemoryCluster()
    assert cluster.create(config_map("c0", 10), dry_run=True).ok
    assert all(cluster.create(config_map(f"c{i}", 10), dry_run=False).ok for i in range(3))
    assert cluster.create(config_map("c9", 10), dry_run=True).reason == "Forbidden"
    refused = cluster.create(config_map("c3", 10), dry_run=False)
    assert (refused.ok, refused.reason) == (False, "Forbidden")
    assert refused.message.startswith("exceeded quota of the in-memory cluster: at most 3 objects")
    assert cluster.update(config_map("c0", 20), dry_run=False).ok  # replacing does not add
    assert cluster.remove(config_map("c1", 0), dry_run=False).ok
    assert cluster.create(config_map("c3", 10), dry_run=False).ok  # room again after a removal


def test_stored_bytes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSPOLICY_MEMORY_CLUSTER_MAX_MB", "3")
    cluster = MemoryCluster()
    for name in "abc":
        assert cluster.create(config_map(name, 900_000), dry_run=False).ok
    assert cluster.create(config_map("d", 900_000), dry_run=False).reason == "Forbidden"
    assert cluster.update(config_map("a", 1000), dry_run=False).ok  # shrinking frees room
    assert cluster.create(config_map("d", 800_000), dry_run=False).ok


def test_loaded_manifests_count_but_always_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSPOLICY_MEMORY_CLUSTER_MAX_OBJECTS", "2")
    cluster = MemoryCluster([config_map(f"m{i}", 10) for i in range(3)])
    assert len(cluster.list("ConfigMap", "v1", namespace="", selector=EVERYTHING, cached=True)) == 3
    assert cluster.create(config_map("new", 10), dry_run=False).reason == "Forbidden"
    assert cluster.remove(config_map("m0", 0), dry_run=False).ok
    assert cluster.remove(config_map("m1", 0), dry_run=False).ok
    assert cluster.create(config_map("new", 10), dry_run=False).ok


@pytest.mark.parametrize("value", ["many", "-1"])
def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("JSPOLICY_MEMORY_CLUSTER_MAX_MB", value)
    with pytest.raises(SettingsError, match="JSPOLICY_MEMORY_CLUSTER_MAX_MB"):
        MemoryCluster()
    # The runtime settings read it too, so jspolicy serve's start-up check stops before any worker starts.
    with pytest.raises(SettingsError, match="JSPOLICY_MEMORY_CLUSTER_MAX_MB"):
        RuntimeSettings.from_env()


def test_a_given_quota_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSPOLICY_MEMORY_CLUSTER_MAX_OBJECTS", "0")
    cluster = MemoryCluster(quota=ClusterQuota(max_objects=1))
    assert cluster.create(config_map("one", 10), dry_run=False).ok
    assert cluster.create(config_map("two", 10), dry_run=False).reason == "Forbidden"
