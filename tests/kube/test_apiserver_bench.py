"""``jspolicy bench --apiserver`` runs end to end: its own control plane, every configuration measured."""

from __future__ import annotations

import json
import subprocess
import sys

from jspolicy.deploy import library


def test_the_apiserver_benchmark_measures_without_with_one_and_with_every_library_policy() -> None:
    command = ["bench", "--apiserver", "--requests", "30", "--warmup", "5", "--library", "all", "-o", "json"]
    result = subprocess.run([sys.executable, "-m", "jspolicy", *command], capture_output=True, text=True,
                            timeout=600, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    everything = f"{len(library.available())} library policies"
    assert set(figures) == {"no webhook", "pod-security-baseline webhook", everything}
    for row in figures.values():
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["denied"] == 0  # the bench Pod passes every policy: each one ran its whole check
