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
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

import jspolicy
from jspolicy.cli.session import CliError
from jspolicy.controlplane import binaries
from jspolicy.controlplane.local import LocalClusterError, Ports, local_cluster
from jspolicy.controlplane.plane import ControlPlaneError, KubectlError, log_tail

DEFAULT_KUBECONFIG = Path("jspolicy-dev.kubeconfig")
# jspolicy/deploy/manifests is webhook-config/ (a symlink in the checkout, copied into the wheel).
DEFAULT_CRDS = Path(jspolicy.__file__).resolve().parent / "deploy" / "manifests" / "crds.yaml"
EXIT_FAILED = 1


class _Stop(BaseException):
    """Ctrl-C or SIGTERM, raised in the main thread so one cleanup path runs for both."""


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

    def stop(signum: int, frame: FrameType | None) -> None:
        # A second Ctrl-C or SIGTERM must not interrupt the cleanup and leave processes behind.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise _Stop

    previous_term = signal.signal(signal.SIGTERM, stop)
    previous_int = signal.signal(signal.SIGINT, stop)
    work = Path(tempfile.mkdtemp(prefix="jspolicy-dev-"))
    ports = Ports(args.port, args.metrics_port, args.health_port)
    try:
        with local_cluster(args.crds, work, ports=ports, workers=args.workers, progress=_progress) as cluster:
            cluster.plane.write_kubeconfig(args.kubeconfig)
            print(f"ready: kubeconfig {args.kubeconfig}", flush=True)
            while cluster.serve.poll() is None:
                time.sleep(0.5)
            _progress(f"jspolicy serve exited with status {cluster.serve.returncode}; its log ends:\n"
                      f"{log_tail(cluster.serve_log)}")  # fmt: skip
            return EXIT_FAILED
    except _Stop:
        _progress("stopping")
        return 0
    except (ControlPlaneError, KubectlError, binaries.BuildError, LocalClusterError) as error:
        _progress(f"error: {error}")
        return EXIT_FAILED
    finally:
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
