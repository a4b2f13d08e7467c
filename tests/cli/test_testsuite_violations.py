"""``jspolicy test``: ``expect.violation`` checks the violation a case records, so a ``violationPolicy: Dry``
policy, whose answer always allows, still has testable denials."""

from __future__ import annotations

from pathlib import Path

import pytest

from jspolicy.cli.main import main

POLICY = """
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: audit.example.com}
spec:
  operations: [CREATE]
  resources: [pods]
  violationPolicy: Dry
  javascript: |
    if (request.object.spec.hostPID) deny("hostPID is audited");
"""
POD = "{apiVersion: v1, kind: Pod, metadata: {name: p, namespace: shop}, spec: {hostPID: %s, containers: []}}"


def run_case(tmp_path: Path, capsys: pytest.CaptureFixture[str], host_pid: bool, expect: str) -> tuple[int, str]:
    (tmp_path / "policy.yaml").write_text(POLICY)
    path = tmp_path / "audit.test.yaml"
    resource = POD % ("true" if host_pid else "false")
    path.write_text(f"policies: [policy.yaml]\ncases:\n  - name: c\n    resource: {resource}\n    expect: {expect}\n")
    code = main(["test", str(path)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    ("host_pid", "expect"),
    [
        (True, "{allowed: true, violation: {action: Dry, message: hostPID is audited}}"),
        (True, "{allowed: true, violation: {messageRegex: '^hostPID'}}"),
        (False, "{allowed: true, violation: null}"),
    ],
)
def test_a_matching_violation_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host_pid: bool, expect: str
) -> None:
    code, out = run_case(tmp_path, capsys, host_pid, expect)
    assert code == 0, out


@pytest.mark.parametrize(
    ("host_pid", "expect", "failure"),
    [
        (True, "{violation: null}", 'expected no violation, got "hostPID is audited" (Dry)'),
        (False, "{violation: {action: Dry}}", "expected a violation, none was recorded"),
        (True, "{violation: {action: Deny}}", 'expected violation action="Deny", got "Dry"'),
        (True, "{violation: {message: other}}", 'expected violation message="other", got "hostPID is audited"'),
        (True, "{violation: {messageRegex: '^other'}}", "does not match /^other/"),
        (
            True,
            "{violation: {reason: x}}",
            "expect.violation must be null or a mapping of action, message, messageRegex",
        ),
    ],
)
def test_a_different_violation_fails_naming_the_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host_pid: bool, expect: str, failure: str
) -> None:
    code, out = run_case(tmp_path, capsys, host_pid, expect)
    assert code == 1
    assert failure in out
