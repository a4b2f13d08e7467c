"""``jspolicy dev``: a local Kubernetes API server with ``jspolicy serve`` as its admission webhook.

Real kube-apiserver and etcd on loopback (built from the Go module proxy on first
use), the CRDs applied, and ``jspolicy serve`` in cluster mode against it. The
admin kubeconfig goes to ``--kubeconfig``; then ``ready: kubeconfig PATH`` on
stdout tells a script (or a test) it can start using kubectl. Ctrl-C or SIGTERM
stops serve, the apiserver and etcd, in that order.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

import jspolicy
from jspolicy.cli.session import CliError
from jspolicy.controlplane import binaries
from jspolicy.controlplane.plane import (
    ControlPlane,
    ControlPlaneError,
    KubectlError,
    child_environment,
    die_with_parent,
    free_port,
    log_tail,
)

NAMESPACE = "jspolicy"
DEFAULT_KUBECONFIG = Path("jspolicy-dev.kubeconfig")
# jspolicy/deploy/manifests is webhook-config/ (a symlink in the checkout, copied into the wheel).
DEFAULT_CRDS = Path(jspolicy.__file__).resolve().parent / "deploy" / "manifests" / "crds.yaml"
SERVE_READY_TIMEOUT = 120.0  # V8 pools warm up before /readyz says yes
SERVE_STOP_TIMEOUT = 30.0
EXIT_FAILED = 1


class _Stop(BaseException):
    """SIGTERM, raised in the main thread so the same cleanup as Ctrl-C runs."""


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "dev",
        help="run a local kube-apiserver with jspolicy serve as its admission webhook",
        description="Start etcd and kube-apiserver on 127.0.0.1 (built from the Go module proxy the first time, "
        "which takes a while), apply the CRDs, start `jspolicy serve` in cluster mode against them, write the "
        "admin kubeconfig and print `ready: kubeconfig PATH`. Runs until Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--kubeconfig", type=Path, default=DEFAULT_KUBECONFIG, metavar="PATH",
                        help=f"where to write the admin kubeconfig (default ./{DEFAULT_KUBECONFIG})")  # fmt: skip
    parser.add_argument("--port", type=int, default=0, help="webhook port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--metrics-port", type=int, default=0, help="default: a free one")
    parser.add_argument("--health-port", type=int, default=0, help="default: a free one")
    parser.add_argument("--workers", type=int, default=1, help="serve's worker processes (default 1)")
    parser.add_argument("--crds", type=Path, default=DEFAULT_CRDS, metavar="PATH",
                        help="CRDs to apply (default: webhook-config/crds.yaml, shipped in the package)")  # fmt: skip
    parser.set_defaults(run=run)


def _progress(message: str) -> None:
    print(f"jspolicy dev: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if not args.crds.is_file():
        raise CliError(f"no CRDs at {args.crds} (pass --crds)")

    def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    previous_term = signal.signal(signal.SIGTERM, stop_on_sigterm)
    previous_int = signal.getsignal(signal.SIGINT)
    plane: ControlPlane | None = None
    serve: subprocess.Popen[bytes] | None = None
    work = Path(tempfile.mkdtemp(prefix="jspolicy-dev-"))
    try:
        _progress("finding or building kube-apiserver, etcd and kubectl")
        found = binaries.ensure()
        _progress(f"starting etcd and kube-apiserver {binaries.KUBERNETES_VERSION}")
        plane = ControlPlane(found).start()
        _progress(f"kube-apiserver ready at {plane.server} in {plane.startup_seconds:.1f} s")
        plane.kubectl("create", "namespace", NAMESPACE)
        plane.kubectl("apply", "-f", str(args.crds))
        plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s", timeout=90)
        serve, log_path, health = _start_serve(args, plane, work)
        _progress(f"jspolicy serve started (pid {serve.pid}, log {log_path}); waiting for /readyz")
        if not _wait_ready(serve, health):
            _progress(f"jspolicy serve did not become ready; its log ends:\n{log_tail(log_path)}")
            return EXIT_FAILED
        plane.write_kubeconfig(args.kubeconfig)
        print(f"ready: kubeconfig {args.kubeconfig}", flush=True)
        while serve.poll() is None:
            time.sleep(0.5)
        _progress(f"jspolicy serve exited with status {serve.returncode}; its log ends:\n{log_tail(log_path)}")
        return EXIT_FAILED
    except (KeyboardInterrupt, _Stop):
        _progress("stopping")
        return 0
    except (ControlPlaneError, KubectlError, binaries.BuildError) as error:
        _progress(f"error: {error}")
        return EXIT_FAILED
    finally:
        # A second Ctrl-C or SIGTERM during the cleanup must not leave processes behind.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if serve is not None:
                _terminate(serve)
            if plane is not None:
                plane.stop()
            shutil.rmtree(work, ignore_errors=True)
        finally:
            signal.signal(signal.SIGTERM, previous_term)
            signal.signal(signal.SIGINT, previous_int)


def _start_serve(
    args: argparse.Namespace, plane: ControlPlane, work: Path
) -> tuple[subprocess.Popen[bytes], Path, int]:
    port = args.port or free_port()
    metrics = args.metrics_port or free_port()
    health = args.health_port or free_port()
    log_path = work / "serve.log"
    command = [
        sys.executable, "-m", "jspolicy", "serve",
        "--kubeconfig", str(plane.kubeconfig),
        "--namespace", NAMESPACE,
        "--webhook-url", f"https://127.0.0.1:{port}",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--cert-dir", str(work / "certs"),
        "--metrics-port", str(metrics),
        "--health-port", str(health),
        "--workers", str(args.workers),
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
