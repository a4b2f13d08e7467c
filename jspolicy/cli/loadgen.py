"""HTTPS load for ``jspolicy bench --webhook``: wrk when installed, else a small asyncio client.

Closed loop: ``concurrency`` keep-alive TLS connections, each sending the next
request as soon as the previous answer arrived, for ``duration`` seconds, from
a process of its own. wrk (C, Debian package ``wrk``) is preferred: on a small
machine a Python client spends more CPU than the server it measures.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LoadResult:
    generator: str
    path: str
    concurrency: int
    requests: int
    errors: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def request_bytes(host: str, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _connection(
    host: str, port: int, context: ssl.SSLContext, payload: bytes, deadline: float, samples: list[float]
) -> int:
    errors = 0
    reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname="localhost")
    clock = time.perf_counter
    try:
        while clock() < deadline:
            started = clock()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200") or b'"allowed"' not in body:
                errors += 1
            samples.append(clock() - started)
    finally:
        writer.close()
    return errors


async def _run(host: str, port: int, path: str, body: bytes, concurrency: int, duration: float,
               ca_file: str) -> LoadResult:  # fmt: skip
    context = ssl.create_default_context(cafile=ca_file)
    payload = request_bytes(host, path, body)
    samples: list[float] = []
    started = time.perf_counter()
    deadline = started + duration
    errors = await asyncio.gather(
        *(_connection(host, port, context, payload, deadline, samples) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(samples, n=100) if len(samples) > 1 else [samples[0] if samples else 0.0] * 99
    return LoadResult("python", path, concurrency, len(samples), sum(errors), len(samples) / elapsed,
                      cuts[49] * 1e3, cuts[94] * 1e3, cuts[98] * 1e3)  # fmt: skip


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = io.open(os.getenv("JSPOLICY_BENCH_BODY"), "rb")
wrk.body = file:read("*a")
file:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\n{"requests":%d,"errors":%d,"duration_us":%d,"p50":%d,"p95":%d,"p99":%d}\\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _run_wrk(wrk: str, host: str, port: int, path: str, body: bytes, concurrency: int, duration: float) -> LoadResult:
    with tempfile.TemporaryDirectory() as directory:
        script, payload = Path(directory) / "post.lua", Path(directory) / "body.json"
        script.write_text(WRK_SCRIPT)
        payload.write_bytes(body)
        command = [wrk, "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "-s", str(script),
                   f"https://{host}:{port}{path}"]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, check=True,
                                env={"JSPOLICY_BENCH_BODY": str(payload), "PATH": "/usr/bin:/bin"}).stdout  # fmt: skip
    report = json.loads(output.strip().splitlines()[-1])
    seconds = report["duration_us"] / 1e6
    return LoadResult("wrk", path, concurrency, report["requests"], report["errors"], report["requests"] / seconds,
                      report["p50"] / 1e3, report["p95"] / 1e3, report["p99"] / 1e3)  # fmt: skip


def run_load(host: str, port: int, path: str, body: bytes, concurrency: int, duration: float,
             ca_file: str) -> LoadResult:  # fmt: skip
    wrk = shutil.which("wrk")
    if wrk is not None:
        return _run_wrk(wrk, host, port, path, body, concurrency, duration)
    return asyncio.run(_run(host, port, path, body, concurrency, duration, ca_file))
