"""Server defaults follow the CPUs the process may really use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jspolicy.cli.main import parser
from jspolicy.service.config import ConfigError, ServerConfig, available_cpus, from_arguments

AFFINITY = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("50000 100000\n", 1),  # half a CPU still needs one worker
        ("100000 100000\n", 1),
        ("150000 100000\n", min(AFFINITY, 2)),
        ("max 100000\n", AFFINITY),
        ("garbage", AFFINITY),
        (None, AFFINITY),  # no cgroup v2 file
    ],
)
def test_available_cpus_is_the_affinity_capped_by_the_cgroup_limit(
    tmp_path: Path, cpu_max: str | None, expected: int
) -> None:
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    assert available_cpus(path) == expected


def test_affinity_limits_the_count() -> None:
    if AFFINITY < 2:
        pytest.skip("needs two CPUs to restrict the affinity")
    original = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(original)})
    try:
        assert available_cpus(Path("/nonexistent")) == 1
    finally:
        os.sched_setaffinity(0, original)


def serve_config(argv: list[str]) -> ServerConfig:
    return from_arguments(parser().parse_args(["serve", *argv]))


def test_policies_flags_replace_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSPOLICY_POLICIES", "/from/env/a, /from/env/b")
    assert serve_config([]).policies == ("/from/env/a", "/from/env/b")
    assert serve_config(["--policies", "x", "--policies", "y"]).policies == ("x", "y")


def test_environment_values_are_typed_and_a_bad_one_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JSPOLICY_PORT", "9443")
    assert serve_config([]).port == 9443
    assert serve_config(["--port", "7443"]).port == 7443
    monkeypatch.setenv("JSPOLICY_MAX_IN_FLIGHT", "lots")
    with pytest.raises(SystemExit):
        serve_config([])
    assert "--max-in-flight: invalid int value: 'lots'" in capsys.readouterr().err
    parser()  # building every command's parser (apply, review, ...) does not trip over serve's variable


def test_a_server_logs_at_info_unless_told_otherwise() -> None:
    assert serve_config([]).log_level == "INFO"
    assert from_arguments(parser().parse_args(["--log-level", "ERROR", "serve"])).log_level == "ERROR"


def test_leader_election_timings_must_nest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JSPOLICY_POLICIES", raising=False)
    config = serve_config(
        ["--kubeconfig", "/k", "--lease-duration", "6", "--renew-deadline", "4", "--retry-period", "1"]
    )
    assert config.kube is not None and config.kube.kubeconfig == "/k" and config.kube.lease_duration == 6
    with pytest.raises(ConfigError, match="lease-duration > --renew-deadline"):
        serve_config(["--kubeconfig", "/k", "--lease-duration", "4", "--renew-deadline", "4"])
    with pytest.raises(ConfigError, match="exclude each other"):  # files (standalone) or a cluster, not both
        serve_config(["--kubeconfig", "/k", "--policies", "p"])
    monkeypatch.setenv("KUBECONFIG", "/k")
    assert serve_config(["--policies", "p"]).kube is None  # an exported KUBECONFIG: files given, standalone
