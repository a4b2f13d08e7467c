"""A small HTTPS load generator for ``jspolicy bench --webhook``.

Closed loop: ``concurrency`` keep-alive TLS connections, each sending the next
request as soon as the previous answer arrived, for ``duration`` seconds. It
runs in its own process, apart from the server's processes.
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
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
    return LoadResult(path, concurrency, len(samples), sum(errors), len(samples) / elapsed,
                      cuts[49] * 1e3, cuts[94] * 1e3, cuts[98] * 1e3)  # fmt: skip


def run_load(host: str, port: int, path: str, body: bytes, concurrency: int, duration: float,
             ca_file: str) -> LoadResult:  # fmt: skip
    return asyncio.run(_run(host, port, path, body, concurrency, duration, ca_file))
