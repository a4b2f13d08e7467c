"""A real ``jspolicy serve`` on loopback: TLS with its own CA, worker processes, health and metrics."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    health: str
    metrics: str
    cert_dir: Path
    policies: Path
    log: Path

    @property
    def ca(self) -> str:
        return str(self.cert_dir / "ca.crt")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=self.ca), timeout=30)

    def readiness(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.health}/readyz", timeout=5).json())

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.health}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout}s: {self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(
    directory: Path, policies: list[Path], *, workers: int = 2, env: dict[str, str] | None = None
) -> Server:
    policy_dir = directory / "policies"
    policy_dir.mkdir(parents=True, exist_ok=True)
    for path in policies:
        shutil.copy(path, policy_dir / path.name)
    port, metrics, health = free_port(), free_port(), free_port()
    log = directory / "server.log"
    command = [
        sys.executable, "-m", "jspolicy", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--metrics-port", str(metrics), "--health-port", str(health), "--cert-dir", str(directory / "certs"),
        "--policies", str(policy_dir), "--cluster", str(ROOT / "examples" / "cluster"), "--workers", str(workers),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    server = Server(process, f"https://localhost:{port}", f"http://127.0.0.1:{health}",
                    f"http://127.0.0.1:{metrics}", directory / "certs", policy_dir, log)  # fmt: skip
    server.wait_ready()
    return server


TEST_POLICIES = ROOT / "tests" / "server" / "policies"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    policies = sorted((ROOT / "examples" / "policies").glob("*.yaml")) + sorted(TEST_POLICIES.glob("*.yaml"))
    running = start_server(tmp_path_factory.mktemp("server"), policies)
    yield running
    running.stop()


def review(obj: dict[str, Any] | None, *, uid: str = "u-1", api_version: str = "admission.k8s.io/v1",
           operation: str = "CREATE", kind: str = "Pod", resource: str = "pods") -> dict[str, Any]:  # fmt: skip
    metadata = (obj or {}).get("metadata", {})
    return {
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": resource},
            "name": metadata.get("name", ""),
            "namespace": metadata.get("namespace", ""),
            "operation": operation,
            "userInfo": {"username": "alice"},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
        },
    }


def pod(name: str = "web", namespace: str = "shop", privileged: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "nginx:1.27"}
    if privileged:
        container["securityContext"] = {"privileged": True}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [container]}}  # fmt: skip


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})


def worker_rss(pid: int) -> int:
    """A worker process's resident memory in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")
