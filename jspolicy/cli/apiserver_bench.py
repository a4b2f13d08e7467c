"""``jspolicy bench --apiserver``: what a policy adds to a real kube-apiserver's admission path.

A local control plane (``jspolicy dev``'s) with jspolicy in cluster mode as its webhook.
The same ~3 KB Pod is created again and again as a server-side dry run (admitted,
never stored), one request at a time from this process: first with no webhook, then
with the library's Pod Security baseline policy installed, then (``--library``) with
many library policies installed at once. The difference is what the webhooks cost a
request end to end: TLS from the API server, the AdmissionReviews, the policies in V8,
and the answers. The bench namespace is labelled and configured (LIBRARY_OPTIONS) so
the Pod passes every library policy: a denial would be measured as its own, cheaper,
path, and is counted instead.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
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
from jspolicy.deploy import dump, library

NAMESPACE = "bench"
# What the bench Pod (jspolicy/cli/benchdata/pod.yaml) needs to pass every library policy: its namespace's
# tenant, owner and Pod Security labels, per-namespace options, and the cluster-wide options.
NAMESPACE_LABELS = {
    "guardrails.jspolicy.com/tenant": "shop",
    "team": "shop",
    "pod-security.kubernetes.io/enforce": "restricted",
}
NAMESPACE_OPTIONS = {"node-pool": "dedicated=shop", "allow-cached-images": "true"}
LIBRARY_OPTIONS = {"allowed-registries": "ghcr.io/example, docker.io/library"}
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
            rows = {"no webhook": without, "pod-security-baseline webhook": _measure(pods, args.requests, args.warmup)}
            if args.library:
                names = _install_library(plane, args.library)
                rows[f"{len(names)} library policies"] = _measure(pods, args.requests, args.warmup)
    except (ControlPlaneError, KubectlError, LocalClusterError, ValueError) as error:
        raise CliError(str(error)) from None
    if args.output == "json":
        print(json.dumps({name: asdict(timing) for name, timing in rows.items()}, indent=2))
        return 0
    print(f"{'server-side dry-run Pod create, sequential':<46} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'denied':>7}")
    for name, timing in rows.items():
        print(f"{name:<46} {timing.p50_ms:>8.2f} {timing.p95_ms:>8.2f} {timing.p99_ms:>8.2f} {timing.denied:>7}")
    for name, timing in list(rows.items())[1:]:
        added = [getattr(timing, q) - getattr(without, q) for q in ("p50_ms", "p95_ms", "p99_ms")]
        print(f"{'added by ' + name:<46} {added[0]:>8.2f} {added[1]:>8.2f} {added[2]:>8.2f}")
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


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    denied: int  # requests a policy refused: measured all the same, but a configuration that denies is wrong


def _measure(pods: Any, requests: int, warmup: int) -> Timing:
    timings = []
    denied = 0
    reported = False
    for number in range(warmup + requests):
        body = _pod(number)
        started = time.perf_counter()
        try:
            pods.create_namespaced_pod(NAMESPACE, body, dry_run="All")
        except kubernetes.client.ApiException as error:
            if error.status != 403:
                raise
            if not reported:
                _progress(f"a policy denied the bench Pod: {json.loads(error.body or '{}').get('message')}")
                reported = True
            denied += number >= warmup
        if number >= warmup:
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    quantiles = statistics.quantiles(timings, n=100, method="inclusive")
    return Timing(statistics.median(timings), quantiles[94], quantiles[98], denied)


def _install_library(plane: ControlPlane, chosen: list[str]) -> list[str]:
    """The chosen library policies (``all``: every one), configured so the bench Pod passes them, once the
    controller has synced each one into its webhook configuration."""
    names = library.available() if chosen == ["all"] else chosen
    plane.kubectl("label", "--overwrite", "namespace", NAMESPACE, *(f"{k}={v}" for k, v in NAMESPACE_LABELS.items()))
    if NAMESPACE_OPTIONS:
        plane.kubectl("annotate", "--overwrite", "namespace", NAMESPACE,
                      *(f"guardrails.jspolicy.com/{k}={v}" for k, v in NAMESPACE_OPTIONS.items()))  # fmt: skip
    plane.kubectl("apply", "-f", "-", input=dump(library.objects(names, LIBRARY_OPTIONS)))
    deadline = time.monotonic() + 120
    while True:
        listed = json.loads(plane.kubectl("get", "jspolicies", "-o", "json").stdout)["items"]
        synced = {p["metadata"]["name"] for p in listed if (p.get("status") or {}).get("phase") == "Synced"}
        if all(library.policy_name(name) in synced for name in names):
            return names
        if time.monotonic() > deadline:
            raise CliError(
                f"library policies not synced within 120 s: {sorted(set(map(library.policy_name, names)) - synced)}"
            )
        time.sleep(0.5)


def _progress(message: str) -> None:
    print(f"jspolicy bench: {message}", file=sys.stderr, flush=True)
