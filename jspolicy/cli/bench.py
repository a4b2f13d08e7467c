"""``jspolicy bench``: in-process evaluation benchmark (no HTTP).

Six workloads (seven with ``--bundled``) through the same engine the webhook uses: a trivial allow, the
Pod Security baseline and restricted library policies on a ~3 KB Pod, the namespace-label-driven
pod-security policy (restricted by its Namespace's labels), a policy making three get() calls, and a
mutating policy. One warm context, one thread, and by
default the whole process pinned to one CPU, so the figures are per core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jspolicy.admission.evaluate import PolicyEngine
from jspolicy.admission.request import build_request
from jspolicy.bundler.build import Bundler, EntryFile
from jspolicy.bundler.origin import CodeSource, project_root, resolve_program
from jspolicy.cli import apiserver_bench, webhook_bench
from jspolicy.cli.workloads import bench_pod
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.resources.manifests import parse_yaml_documents
from jspolicy.resources.policy import API_VERSION, JsPolicy
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.program import PolicyProgram
from jspolicy.runtime.settings import RuntimeSettings
from jspolicy.runtime.v8 import installed_mini_racer_version, v8_version

THREE_GETS = """
const ns = get("Namespace", "v1", request.namespace);
const sa = get("ServiceAccount", "v1", request.namespace + "/" + request.object.spec.serviceAccountName);
const config = get("ConfigMap", "v1", request.namespace + "/checkout-config");
if (!ns || !sa || !config) deny("missing namespace, service account or config");
"""
MUTATE = """
const pod = request.object;
pod.metadata.labels = { ...pod.metadata.labels, "policy.example.com/checked": "true" };
pod.metadata.annotations = { ...pod.metadata.annotations, "policy.example.com/by": __policy };
mutate(pod);
"""


@dataclass(frozen=True)
class Figures:
    scenario: str
    evaluations: int
    per_second: float
    p50_us: float
    p95_us: float
    p99_us: float


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "bench",
        help="benchmark policy evaluation in-process",
        description="Evaluate six workloads in-process (no HTTP) and print evaluations/s and p50/p95/p99.",
    )
    parser.add_argument("--iterations", type=int, default=5000, help="timed evaluations per scenario")
    parser.add_argument("--warmup", type=int, default=500, help="untimed evaluations first")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each scenario this many times and report the run with the median p50 "
        "(virtual machines vary a lot from run to run)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    parser.add_argument(
        "--bundled",
        action="store_true",
        help="also run the baseline policy bundled from its npm package source (needs esbuild, fetched once)",
    )
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    apiserver = parser.add_argument_group("through a real kube-apiserver (--apiserver)")
    apiserver.add_argument(
        "--apiserver",
        action="store_true",
        help="latency a policy adds to a local kube-apiserver's admission (builds it the first time)",
    )
    apiserver.add_argument("--requests", type=int, default=500, help="timed requests per configuration")
    apiserver.add_argument(
        "--library",
        nargs="+",
        default=[],
        metavar="NAME",
        help="then also with these guardrail library policies installed at once ('all': every one)",
    )
    webhook = parser.add_argument_group("webhook load (--webhook)")
    webhook.add_argument("--webhook", action="store_true", help="HTTPS load on the webhook instead (see docs)")
    webhook.add_argument("--target", help="a running server's URL (default: start one)")
    webhook.add_argument("--ca", help="the running server's ca.crt, with --target")
    webhook.add_argument("--concurrency", default="1,16,64", help="comma-separated concurrency levels")
    webhook.add_argument("--duration", type=float, default=5.0, help="seconds of load per level and path")
    webhook.add_argument("--workers", type=int, default=0, help="server workers (default: CPU count)")
    webhook.add_argument(
        "--policy",
        default=webhook_bench.DEFAULT_POLICY,
        metavar="NAME",
        help="the guardrail library policy to load (a directory of policies/; default %(default)s)",
    )
    parser.set_defaults(run=run)


def _policy(name: str, javascript: str, policy_type: str = "Validating") -> JsPolicy:
    return JsPolicy(
        {
            "apiVersion": API_VERSION,
            "kind": "JsPolicy",
            "metadata": {"name": name},
            "spec": {"type": policy_type, "operations": ["CREATE"], "resources": ["pods"], "javascript": javascript},
        }
    )


def _library_policy(path: str) -> JsPolicy:
    text = resources.files("jspolicy.library").joinpath(path).read_text("utf-8")
    return JsPolicy(parse_yaml_documents(text, path)[0])


def _cluster(pod: Mapping[str, Any]) -> MemoryCluster:
    namespace = pod["metadata"]["namespace"]
    return MemoryCluster(
        [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                # The pod-security policy reads its level from these labels, as the API server's admission does.
                "metadata": {"name": namespace, "labels": {"team": "shop", **RESTRICTED_LABELS}},
            },
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "checkout", "namespace": namespace}},
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "checkout-config", "namespace": namespace},
                "data": {"LOG_LEVEL": "info", "FEATURES": "new-cart,express-checkout"},
            },
        ]
    )


Scenario = tuple[str, JsPolicy, PolicyProgram]
RESTRICTED_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def _inline(name: str, policy: JsPolicy) -> Scenario:
    return name, policy, resolve_program(CodeSource(policy), None)


def scenarios(bundled: bool = False) -> list[Scenario]:
    """The six workloads; ``bundled`` adds the baseline policy bundled from its npm package's source
    (policies/pod-security-baseline/policy.js importing policies/lib), next to the same policy inline."""
    baseline = _library_policy("pod-security-baseline/policy.yaml")
    chosen = [
        _inline("trivial allow", _policy("trivial-allow.bench.jspolicy.com", "allow();")),
        _inline("pod security baseline, 3 KB pod", baseline),
        _inline("pod security restricted", _library_policy("pod-security-restricted/policy.yaml")),
        _inline("pod security by namespace label", _library_policy("pod-security/policy.yaml")),
        _inline("three get() calls", _policy("three-gets.bench.jspolicy.com", THREE_GETS)),
        _inline("mutating (label + annotation)", _policy("mutate.bench.jspolicy.com", MUTATE, "Mutating")),
    ]
    if bundled:
        entry = Path(str(resources.files("jspolicy.library").joinpath("pod-security-baseline/policy.js")))
        built = Bundler().build(EntryFile(baseline.name, entry, project_root(entry.parent)))
        chosen.insert(
            2, ("baseline, bundled from the package", baseline, PolicyProgram.of(baseline.name, built.javascript))
        )
    return chosen


def measure(
    engine: PolicyEngine,
    name: str,
    policy: JsPolicy,
    program: PolicyProgram,
    request: Mapping[str, Any],
    iterations: int,
    warmup: int,
) -> Figures:
    for _ in range(warmup):
        outcome = engine.evaluate(policy, program, request)
    if not outcome.allowed:
        raise RuntimeError(f"bench scenario {name!r} did not allow: {outcome.message}")
    samples = []
    clock = time.perf_counter
    started = clock()
    for _ in range(iterations):
        begin = clock()
        engine.evaluate(policy, program, request)
        samples.append(clock() - begin)
    elapsed = clock() - started
    cuts = statistics.quantiles(samples, n=100)
    return Figures(name, iterations, iterations / elapsed, cuts[49] * 1e6, cuts[94] * 1e6, cuts[98] * 1e6)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(args: argparse.Namespace) -> int:
    if args.webhook:
        return webhook_bench.run(args)
    if args.apiserver:
        return apiserver_bench.run(args)
    pinned = None
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        pinned = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {pinned})
    pod = bench_pod()
    cluster = _cluster(pod)
    pool = RuntimePool(RuntimeSettings(pool_size=1, recycle_after=0))
    try:
        pool.warm()
        engine = PolicyEngine(pool, cluster)
        request = build_request(cluster.kinds, "CREATE", pod)
        results = []
        for name, policy, program in scenarios(args.bundled):
            runs = [measure(engine, name, policy, program, request, args.iterations, args.warmup)
                    for _ in range(args.repeat)]  # fmt: skip
            results.append(sorted(runs, key=lambda r: r.p50_us)[len(runs) // 2])
    finally:
        pool.close()
    machine = {
        "python": platform.python_version(),
        "v8": v8_version(),
        "mini_racer": installed_mini_racer_version(),
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "pinned_to_cpu": pinned,
        "request_bytes": len(json.dumps(request, separators=(",", ":"))),
    }
    if args.output == "json":
        print(json.dumps({"machine": machine, "results": [asdict(r) for r in results]}, indent=2))
        return 0
    where = f"pinned to CPU {pinned}" if pinned is not None else "not pinned"
    repeats = f", median of {args.repeat} runs" if args.repeat > 1 else ""
    print(f"jspolicy bench: {args.iterations} evaluations per scenario{repeats}, 1 thread, 1 warm context, {where}")
    print(
        f"{machine['cpu']}, {machine['cpus']} CPUs; Python {machine['python']}, V8 {machine['v8']} "
        f"(mini-racer {machine['mini_racer']}); AdmissionRequest {machine['request_bytes']} bytes\n"
    )
    print(f"{'SCENARIO':<34}{'EVALS/S':>10}{'P50 µs':>10}{'P95 µs':>10}{'P99 µs':>10}")
    for r in results:
        print(f"{r.scenario:<34}{r.per_second:>10.0f}{r.p50_us:>10.1f}{r.p95_us:>10.1f}{r.p99_us:>10.1f}")
    return 0
