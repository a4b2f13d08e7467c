"""``jspolicy test`` suites (examples, library, failures, suite errors) and ``jspolicy bench``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jspolicy.cli.main import main

ROOT = Path(__file__).resolve().parents[2]

POLICY = """
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: no-latest.example.jspolicy.com}
spec:
  operations: [CREATE]
  resources: [pods]
  javascript: |
    for (const c of request.object.spec.containers) {
      if (c.image.endsWith(":latest")) deny(`container ${c.name} uses :latest`);
    }
    warn("checked " + request.object.spec.containers.length + " containers");
"""


def suite(tmp_path: Path, cases: str) -> str:
    (tmp_path / "policy.yaml").write_text(POLICY)
    path = tmp_path / "no-latest.test.yaml"
    path.write_text("policies: [policy.yaml]\ncases:\n" + cases)
    return str(path)


def pod_case(name: str, image: str, expect: str) -> str:
    return (
        f"  - name: {name}\n"
        f"    resource: {{apiVersion: v1, kind: Pod, metadata: {{name: p, namespace: a}}, "
        f"spec: {{containers: [{{name: c, image: '{image}'}}]}}}}\n"
        f"    expect: {expect}\n"
    )


def test_examples_and_library_suites_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(ROOT / "examples"), str(ROOT / "policies")]) == 0
    lines = capsys.readouterr().out.splitlines()
    passed = sum(1 for line in lines if line.startswith("PASS"))
    assert passed >= 20
    assert lines[-1] == f"{passed} passed, 0 failed"


def test_failures_are_reported_and_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = suite(
        tmp_path,
        pod_case("latest is denied", "nginx:latest", "{allowed: false, messageRegex: 'uses :latest$'}")
        + pod_case("wrong expectation", "nginx:1.27", "{allowed: false}")
        + pod_case(
            "warning text", "nginx:1.27", "{warnings: ['[no-latest.example.jspolicy.com]: checked 1 containers']}"
        )
        + pod_case("wrong message", "nginx:latest", "{message: 'something else'}"),
    )
    assert main(["test", path]) == 1
    out = capsys.readouterr().out
    assert f"PASS  {path}: latest is denied" in out
    assert f"PASS  {path}: warning text" in out
    assert f"FAIL  {path}: wrong expectation" in out and "expected allowed=false, got allowed=true" in out
    assert 'expected message="something else", got message="container c uses :latest"' in out
    assert out.splitlines()[-1] == "2 passed, 2 failed"


@pytest.mark.parametrize(
    ("cases", "expected"),
    [
        ("  - name: typo\n    resorce: x.yaml\n    expect: {allowed: true}\n", "unknown keys ['resorce']"),
        ("  - name: missing file\n    resource: nope.yaml\n    expect: {allowed: true}\n", "nope.yaml"),
        (
            "  - name: no expectation\n    resource: {apiVersion: v1, kind: Pod, metadata: {name: p}}\n",
            "'expect' must be a mapping",
        ),
        (
            "  - name: bad expectation\n    resource: {apiVersion: v1, kind: Pod, metadata: {name: p}}\n"
            "    expect: {alowed: true}\n",
            "unknown expectations ['alowed']",
        ),
    ],
)
def test_suite_errors_point_at_file_and_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cases: str, expected: str
) -> None:
    path = suite(tmp_path, cases)
    assert main(["test", path]) == 1
    out = capsys.readouterr().out
    error = next(line for line in out.splitlines() if line.startswith("ERROR"))
    assert path in error
    assert expected in out
    assert out.splitlines()[-1] == "0 passed, 1 failed"


def test_no_suites_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(tmp_path)]) == 2
    assert "no test suites" in capsys.readouterr().err


def test_bench_reports_six_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--iterations", "40", "--warmup", "5", "-o", "json", "--no-pin"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = [r["scenario"] for r in report["results"]]
    assert names == [
        "trivial allow",
        "pod security baseline, 3 KB pod",
        "pod security restricted",
        "pod security by namespace label",
        "three get() calls",
        "mutating (label + annotation)",
    ]
    for result in report["results"]:
        assert result["evaluations"] == 40
        assert result["per_second"] > 0
        assert 0 < result["p50_us"] <= result["p95_us"] <= result["p99_us"]
    assert report["machine"]["mini_racer"] == "0.14.1"
    assert 2500 < report["machine"]["request_bytes"] < 5000


def test_bench_bundled_adds_the_baseline_bundled_from_its_package_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--bundled", "--iterations", "40", "--warmup", "5", "-o", "json", "--no-pin"]) == 0
    names = [r["scenario"] for r in json.loads(capsys.readouterr().out)["results"]]
    assert names[1:3] == ["pod security baseline, 3 KB pod", "baseline, bundled from the package"]
