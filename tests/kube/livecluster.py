"""Helpers for tests of the live cluster backend: a Python client, fresh namespaces, the CRDs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import kubernetes.client
import kubernetes.config

from jspolicy.controlplane.plane import ControlPlane

ROOT = Path(__file__).resolve().parents[2]
CRD_FILES = (ROOT / "webhook-config" / "crds.yaml", ROOT / "webhook-config" / "policyreport-crds.yaml")

T = TypeVar("T")


def client(plane: ControlPlane) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(plane.kubeconfig))


def new_namespace(api: kubernetes.client.ApiClient, prefix: str = "live") -> str:
    """A namespace no other test uses (namespaces never finish deleting: there is no controller-manager)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kubernetes.client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


def install_crds(plane: ControlPlane) -> None:
    for path in CRD_FILES:
        plane.kubectl("apply", "--server-side", "-f", str(path))
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


def wait_for(predicate: Callable[[], T], timeout: float = 20.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.05)


def config_map(namespace: str, name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}
