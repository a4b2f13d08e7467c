"""A local control plane with ``jspolicy serve`` as its webhook: what ``jspolicy dev`` and
``jspolicy bench --apiserver`` stand on."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jspolicy.controlplane import binaries
from jspolicy.controlplane.plane import ControlPlane, child_environment, die_with_parent, free_port, log_tail

NAMESPACE = "jspolicy"
SERVE_READY_TIMEOUT = 120.0  # V8 pools warm up before /readyz says yes
SERVE_STOP_TIMEOUT = 30.0


class LocalClusterError(RuntimeError):
    """jspolicy serve did not come up; the message ends with its log."""


@dataclass(frozen=True)
class Ports:
    webhook: int = 0  # 0: a free one
    metrics: int = 0
    health: int = 0


@dataclass
class LocalCluster:
    plane: ControlPlane
    serve: subprocess.Popen[bytes]
    serve_log: Path


@contextmanager
def local_cluster(
    crds: Path, work: Path, *, ports: Ports = Ports(), workers: int = 1, progress: Callable[[str], None]
) -> Iterator[LocalCluster]:
    """etcd, kube-apiserver, the CRDs and ``jspolicy serve`` in cluster mode; stopped in reverse order."""
    progress("finding or building kube-apiserver, etcd and kubectl")
    found = binaries.ensure()
    progress(f"starting etcd and kube-apiserver {binaries.KUBERNETES_VERSION}")
    with ControlPlane(found) as plane:
        progress(f"kube-apiserver ready at {plane.server} in {plane.startup_seconds:.1f} s")
        plane.kubectl("create", "namespace", NAMESPACE)
        plane.kubectl("apply", "-f", str(crds))
        plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s", timeout=90)
        serve, log_path, health = _start_serve(plane, work, ports, workers)
        try:
            progress(f"jspolicy serve started (pid {serve.pid}, log {log_path}); waiting for /readyz")
            if not _wait_ready(serve, health):
                raise LocalClusterError(f"jspolicy serve did not become ready; its log ends:\n{log_tail(log_path)}")
            yield LocalCluster(plane, serve, log_path)
        finally:
            _terminate(serve)


def _start_serve(
    plane: ControlPlane, work: Path, ports: Ports, workers: int
) -> tuple[subprocess.Popen[bytes], Path, int]:
    port = ports.webhook or free_port()
    health = ports.health or free_port()
    log_path = work / "serve.log"
    command = [
        sys.executable, "-m", "jspolicy", "serve",
        "--kubeconfig", str(plane.kubeconfig),
        "--namespace", NAMESPACE,
        "--webhook-url", f"https://127.0.0.1:{port}",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--cert-dir", str(work / "certs"),
        "--metrics-port", str(ports.metrics or free_port()),
        "--health-port", str(health),
        "--workers", str(workers),
    ]  # fmt: skip
    with log_path.open("ab") as log:
        serve = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_environment(),
            start_new_session=True,  # Ctrl-C reaches only us; we stop serve before the apiserver
            preexec_fn=die_with_parent,  # noqa: PLW1509 (it only calls prctl)
        )
    return serve, log_path, health


def _wait_ready(serve: subprocess.Popen[bytes], health: int) -> bool:
    deadline = time.monotonic() + SERVE_READY_TIMEOUT
    while time.monotonic() < deadline and serve.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(SERVE_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
