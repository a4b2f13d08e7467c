"""Host-side memory outside the V8 heap stays bounded: policies cannot store the worker full through create()."""

from __future__ import annotations

from pathlib import Path

from tests.server.conftest import pod, post, review, start_server, worker_rss

POLICY = """apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: hoard.hostile.jspolicy.com}
spec:
  operations: ["*"]
  resources: ["*"]
  timeoutSeconds: 30
  javascript: |
    const r = create({apiVersion: 'v1', kind: 'ConfigMap',
                      metadata: {name: 'x' + Math.random(), namespace: 'default'}, data: {a: 'x'.repeat(20e6)}});
    deny(r.ok ? 'stored' : r.reason);
"""
MIB = 1024 * 1024


def test_twenty_megabyte_creates_are_refused_and_do_not_grow_the_worker(tmp_path: Path) -> None:
    source = tmp_path / "hoard.yaml"
    source.write_text(POLICY)
    server = start_server(tmp_path, [source], workers=1)
    try:
        (worker,) = server.readiness()["workers"]
        baseline = worker_rss(worker["pid"])
        with server.client() as client:
            answers = [post(client, "/policy/hoard.hostile.jspolicy.com", review(pod(), uid=f"u{i}")).json()
                       for i in range(10)]  # fmt: skip
        grown = worker_rss(worker["pid"]) - baseline
    finally:
        server.stop()
    messages = {a["response"]["status"]["message"] for a in answers}
    assert len(messages) == 1 and "at most" in next(iter(messages)), messages  # every request: a coded answer
    # Before: 255 MB -> 2.3 GB. The V8 heap limit (with its garbage allowance) and one host call's cap bound it.
    assert grown < 320 * MIB, grown // MIB
