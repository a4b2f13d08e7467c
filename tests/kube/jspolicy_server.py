"""``jspolicy serve`` in cluster mode against the session's real kube-apiserver, as its webhook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from jspolicy.controlplane.plane import ControlPlane, die_with_parent, free_port
from tests.kube import livecluster

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "jspolicy"
FAST = {
    "JSPOLICY_LEASE_DURATION": "4",
    "JSPOLICY_RENEW_DEADLINE": "3",
    "JSPOLICY_RETRY_PERIOD": "0.5",
    "JSPOLICY_CERT_CHECK_INTERVAL": "2",
}


def wait_for(predicate: Callable[[], T], timeout: float = 60, what: str = "condition") -> T:
    """As livecluster's, with a longer default: webhook configuration changes reach the API server async."""
    return livecluster.wait_for(predicate, timeout, what)


def install_crds(plane: ControlPlane) -> None:
    livecluster.install_crds(plane)
    if plane.kubectl("get", "ns", NAMESPACE, check=False).returncode != 0:
        plane.kubectl("create", "ns", NAMESPACE)


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    port: int
    health: str
    log: Path
    identity: str
    metrics: str

    def metrics_text(self) -> str:
        return httpx.get(f"{self.metrics}/metrics", timeout=5).text

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.health}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int | None = None) -> None:
        if self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_replica(
    plane: ControlPlane, directory: Path, identity: str, *, port: int | None = None, env: dict[str, str] | None = None
) -> Replica:
    """One replica: its own ports and certificate directory; the Secret and Lease are shared."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    health, metrics = free_port(), free_port()
    log = directory / f"{identity}.log"
    command = [
        sys.executable, "-m", "jspolicy", "serve", "--kubeconfig", str(plane.kubeconfig), "--namespace", NAMESPACE,
        "--webhook-url", f"https://127.0.0.1:{port}", "--host", "127.0.0.1", "--port", str(port),
        "--metrics-port", str(metrics), "--health-port", str(health), "--cert-dir", str(directory / "certs"),
        "--workers", "2", "--identity", identity,
    ]  # fmt: skip
    environment = {**os.environ, **FAST, "JSPOLICY_POLICIES": "", **(env or {})}
    environment.pop("KUBECONFIG", None)
    # Dies with the test process: an aborted run must not leave a server retrying a vanished API server.
    process = subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=environment,
                               preexec_fn=die_with_parent)  # noqa: PLW1509 (it only calls prctl)  # fmt: skip
    replica = Replica(process, port, f"http://127.0.0.1:{health}", log, identity, f"http://127.0.0.1:{metrics}")
    try:
        wait_for(lambda: replica.ready() or process.poll() is not None, timeout=90, what="replica ready")
    except AssertionError:
        replica.stop()
        raise AssertionError(f"replica {identity} not ready:\n{replica.log_text()[-4000:]}") from None
    if process.poll() is not None:
        raise AssertionError(f"replica {identity} exited:\n{replica.log_text()[-4000:]}")
    return replica


def lease_holder(plane: ControlPlane) -> str:
    result = plane.kubectl("get", "lease", "jspolicy-controller", "-n", NAMESPACE, "-o", "json", check=False)
    if result.returncode != 0:
        return ""
    return str(json.loads(result.stdout)["spec"].get("holderIdentity") or "")


def get_json(plane: ControlPlane, *args: str) -> dict[str, Any] | None:
    result = plane.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def remove_everything(plane: ControlPlane) -> None:
    """Leave the shared control plane as other tests expect it: no policies and no webhooks (the documented
    emergency deletion by label, which works with jspolicy down: configurations never go to webhooks)."""
    plane.kubectl("delete", "jspolicies", "--all", "--wait=false", check=False)
    plane.kubectl("delete", "validatingwebhookconfigurations,mutatingwebhookconfigurations",
                  "-l", "app.kubernetes.io/managed-by=jspolicy", "--ignore-not-found")  # fmt: skip
