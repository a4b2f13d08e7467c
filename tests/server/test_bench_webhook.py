"""``jspolicy bench --webhook``: real HTTPS load on a server it starts, and checks on a --target."""

from __future__ import annotations

import json

import pytest

from jspolicy.cli.main import main
from tests.server.conftest import Server


def test_bench_webhook_loads_the_policy_and_the_floor(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "--webhook", "--concurrency", "2", "--duration", "0.5", "--workers", "1", "-o", "json"]
    assert main(args) == 0
    (level,) = json.loads(capsys.readouterr().out)
    for path, result in (("/policy/pod-security-baseline.library.jspolicy.com", level["policy"]),
                         ("/floor", level["floor"])):  # fmt: skip
        assert result["path"] == path and result["concurrency"] == 2
        assert result["requests"] > 0 and result["errors"] == 0 and result["per_second"] > 0


def test_a_target_without_the_floor_or_the_policy_is_refused(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    # The shared test server runs neither --bench-floor nor the library policy: its answers are coded errors.
    assert main(["bench", "--webhook", "--target", server.url, "--ca", server.ca, "--duration", "0.2"]) == 2
    assert "--bench-floor" in capsys.readouterr().err
    assert main(["bench", "--webhook", "--target", "http://127.0.0.1:1", "--ca", server.ca]) == 2
    assert "must be an https:// URL" in capsys.readouterr().err
