"""``jspolicy bench --apiserver``: what a policy adds to a real kube-apiserver's admission path.

A local control plane (``jspolicy dev``'s) with jspolicy in cluster mode as its webhook.
The same ~3 KB Pod is created again and again as a server-side dry run (admitted,
never stored), one request at a time from this process: first with no webhook, then
with the library's Pod Security baseline policy installed. The difference is what
the webhook costs a request end to end: TLS from the API server, the AdmissionReview,
the policy in V8, and the answer.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import kubernetes.client

import jspolicy
from jspolicy.cli.session import CliError
from jspolicy.cli.workloads import bench_pod
from jspolicy.cluster.client import api_client
from jspolicy.controlplane.local import LocalClusterError, local_cluster
from jspolicy.controlplane.plane import ControlPlane, ControlPlaneError, KubectlError

NAMESPACE = "bench"
CRDS = Path(jspolicy.__file__).resolve().parent / "deploy" / "manifests" / "crds.yaml"


def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="jspolicy-bench-"))
    try:
        with local_cluster(CRDS, work, workers=args.workers or 1, progress=_progress) as cluster:
            plane = cluster.plane
            plane.kubectl("create", "namespace", NAMESPACE)
            api = api_client(str(plane.kubeconfig))
            pods = kubernetes.client.CoreV1Api(api)
            without = _measure(pods, args.requests, args.warmup)
            _install_policy(plane)
            with_policy = _measure(pods, args.requests, args.warmup)
    except (ControlPlaneError, KubectlError, LocalClusterError) as error:
        raise CliError(str(error)) from None
    rows = {"no webhook": without, "pod-security-baseline webhook": with_policy}
    if args.output == "json":
        print(json.dumps({name: dict(zip(("p50_ms", "p95_ms", "p99_ms"), figures, strict=True))
                          for name, figures in rows.items()}, indent=2))  # fmt: skip
        return 0
    print(f"{'server-side dry-run Pod create, sequential':<46} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, (p50, p95, p99) in rows.items():
        print(f"{name:<46} {p50:>8.2f} {p95:>8.2f} {p99:>8.2f}")
    print(f"{'added by the policy':<46} {with_policy[0] - without[0]:>8.2f} {with_policy[1] - without[1]:>8.2f} "
          f"{with_policy[2] - without[2]:>8.2f}")  # fmt: skip
    return 0


def _install_policy(plane: ControlPlane) -> None:
    """The library policy, then wait until the API server calls it (configuration changes arrive async)."""
    text = resources.files("jspolicy.library").joinpath("pod-security-baseline/policy.yaml").read_text("utf-8")
    plane.kubectl("apply", "-f", "-", input=text)
    violating = _pod(0)
    violating["spec"]["hostNetwork"] = True
    deadline = time.monotonic() + 60
    while plane.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(violating),
                        check=False).returncode == 0:  # fmt: skip
        if time.monotonic() > deadline:
            raise CliError("the pod-security-baseline webhook was not called within 60 s")
        time.sleep(0.2)


def _pod(number: int) -> dict[str, Any]:
    pod = copy.deepcopy(dict(bench_pod()))
    pod["metadata"] = {**pod.get("metadata", {}), "name": f"bench-{number}", "namespace": NAMESPACE}
    return pod


def _measure(pods: Any, requests: int, warmup: int) -> tuple[float, float, float]:
    timings = []
    for number in range(warmup + requests):
        body = _pod(number)
        started = time.perf_counter()
        pods.create_namespaced_pod(NAMESPACE, body, dry_run="All")
        if number >= warmup:
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    quantiles = statistics.quantiles(timings, n=100, method="inclusive")
    return statistics.median(timings), quantiles[94], quantiles[98]


def _progress(message: str) -> None:
    print(f"jspolicy bench: {message}", file=sys.stderr, flush=True)
