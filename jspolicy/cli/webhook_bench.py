"""``jspolicy bench --webhook``: HTTPS load on a running webhook, against its HTTP floor.

Starts ``jspolicy serve`` (or targets ``--target``), then drives the Pod Security
baseline policy with a ~3 KB Pod at each concurrency, and the same load on
``/floor``, which decodes and answers the AdmissionReview without JavaScript.
The ratio of the two is what running the policy costs on top of HTTP and TLS.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import asdict
from importlib import resources
from pathlib import Path

from jspolicy.admission.request import build_request
from jspolicy.cli.loadgen import LoadResult, run_load
from jspolicy.cli.session import CliError
from jspolicy.cli.workloads import bench_pod
from jspolicy.deploy import library
from jspolicy.resources.kinds import KindRegistry
from jspolicy.service.config import available_cpus

DEFAULT_POLICY = "pod-security-baseline"  # a directory of the guardrail library (policies/)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(directory: Path, workers: int, library_policy: str) -> tuple[subprocess.Popen[bytes], int]:
    policies = directory / "policies"
    policies.mkdir()
    source = resources.files("jspolicy.library").joinpath(f"{library_policy}/policy.yaml")
    if not source.is_file():
        raise CliError(f"--policy: the guardrail library has no policy {library_policy}")
    (policies / "policy.yaml").write_text(source.read_text("utf-8"))
    port, health = _free_port(), _free_port()
    command = [
        sys.executable, "-m", "jspolicy", "--log-level", "WARNING", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--health-port", str(health), "--metrics-port", str(_free_port()), "--cert-dir", str(directory / "certs"),
        "--policies", str(policies), "--workers", str(workers), "--bench-floor",
    ]  # fmt: skip
    log = (directory / "server.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CliError(f"the server exited: {(directory / 'server.log').read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return process, port
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise CliError("the server did not become ready")


def _target(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise CliError(f"--target must be an https:// URL, got {url}")
    return parts.hostname, parts.port or 443


def _check_target(host: str, port: int, ca: str, body: bytes, policy: str) -> None:
    """Both measured paths must really answer: a server without --bench-floor or the
    library policy would answer every request with a coded error, and look fast."""
    context = ssl.create_default_context(cafile=ca)
    for path in (f"/policy/{policy}", "/floor"):
        request = urllib.request.Request(f"https://{host}:{port}{path}", data=body,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                status = json.loads(response.read())["response"]["status"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CliError(f"--target does not answer {path}: {error}") from None
        if status.get("code") not in (200, 403):
            raise CliError(
                f"--target answers {path} with {status.get('code')} ({status.get('message')}); serve it with "
                f"--bench-floor and the library's {policy} policy"
            )


def run(args: argparse.Namespace) -> int:
    levels = [int(c) for c in args.concurrency.split(",")]
    request = build_request(KindRegistry.builtin(), "CREATE", bench_pod())
    body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()
    workers = args.workers or available_cpus()
    policy = library.policy_name(args.policy)
    directory = Path(tempfile.mkdtemp(prefix="jspolicy-bench-"))
    process = None
    try:
        if args.target:
            host, port, ca = *_target(args.target), args.ca
            if not ca:
                raise CliError("--target needs --ca (the server's ca.crt)")
            _check_target(host, port, ca, body, policy)
        else:
            process, port = _start_server(directory, workers, args.policy)
            host, ca = "127.0.0.1", str(directory / "certs" / "ca.crt")
        results: list[tuple[LoadResult, LoadResult]] = []
        for level in levels:
            run_load(host, port, f"/policy/{policy}", body, level, 1.0, ca)  # warm up
            loaded = run_load(host, port, f"/policy/{policy}", body, level, args.duration, ca)
            floor = run_load(host, port, "/floor", body, level, args.duration, ca)
            results.append((loaded, floor))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)
    if args.output == "json":
        print(json.dumps([{"policy": asdict(p), "floor": asdict(f)} for p, f in results], indent=2))
        return 0
    where = args.target or f"jspolicy serve, {workers} workers"
    generator = "wrk" if results[0][0].generator == "wrk" else "a Python asyncio client (install wrk for less load)"
    print(f"jspolicy bench --webhook: {policy} on a {len(body)}-byte AdmissionReview, {where}, "
          f"{args.duration:g} s per level, load from {generator} in a separate process\n")  # fmt: skip
    print(f"{'CONCURRENCY':<12}{'PATH':<8}{'REQ/S':>9}{'P50 ms':>9}{'P95 ms':>9}{'P99 ms':>9}{'ERRORS':>8}")
    for loaded, floor in results:
        for label, r in (("policy", loaded), ("floor", floor)):
            print(f"{r.concurrency:<12}{label:<8}{r.per_second:>9.0f}{r.p50_ms:>9.2f}{r.p95_ms:>9.2f}"
                  f"{r.p99_ms:>9.2f}{r.errors:>8}")  # fmt: skip
    print()
    for loaded, floor in results:
        ratio = floor.per_second / loaded.per_second if loaded.per_second else float("inf")
        print(f"concurrency {loaded.concurrency}: the floor serves {ratio:.2f}x the policy's requests/s")
    return 0
