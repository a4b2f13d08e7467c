"""``jspolicy bench --apiserver`` runs end to end: its own control plane, both configurations measured."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_apiserver_benchmark_measures_with_and_without_the_policy() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jspolicy", "bench", "--apiserver", "--requests", "30", "--warmup", "5", "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    assert set(figures) == {"no webhook", "pod-security-baseline webhook"}
    for row in figures.values():
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
