"""Webhook configurations generated for policies, and ``jspolicy webhook-config``."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jspolicy.cli.main import main
from jspolicy.resources.webhooks import webhook_configuration
from jspolicy.service import certs
from tests.conftest import make_policy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LIBRARY = Path(__file__).resolve().parents[2] / "policies"
CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_validating_configuration_with_jspolicy_defaults() -> None:
    policy = make_policy("allow()", operations=["CREATE"], resources=["pods"])
    config = webhook_configuration(policy, ca_bundle=CA, url="https://host:8443/")
    assert config is not None
    assert config["kind"] == "ValidatingWebhookConfiguration"
    assert config["metadata"] == {"name": policy.name, "labels": {"app.kubernetes.io/managed-by": "jspolicy"}}
    (webhook,) = config["webhooks"]
    assert webhook["clientConfig"] == {
        "caBundle": base64.b64encode(CA).decode(),
        "url": f"https://host:8443/policy/{policy.name}",
    }
    assert webhook["rules"] == [
        {"operations": ["CREATE"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["pods"], "scope": "*"}
    ]
    assert (webhook["failurePolicy"], webhook["matchPolicy"], webhook["timeoutSeconds"]) == ("Fail", "Equivalent", 10)
    assert webhook["sideEffects"] == "NoneOnDryRun"
    assert "reinvocationPolicy" not in webhook


def test_mutating_configuration_and_knobs() -> None:
    policy = make_policy(
        "allow()", type="Mutating", reinvocationPolicy="IfNeeded", failurePolicy="Ignore", timeoutSeconds=3,
        objectSelector={"matchLabels": {"app": "web"}},
    )  # fmt: skip
    config = webhook_configuration(policy, ca_bundle=CA, service={"name": "jspolicy", "namespace": "x", "port": 443})
    assert config is not None and config["kind"] == "MutatingWebhookConfiguration"
    (webhook,) = config["webhooks"]
    assert webhook["clientConfig"]["service"] == {
        "name": "jspolicy", "namespace": "x", "port": 443, "path": f"/policy/{policy.name}"}  # fmt: skip
    assert (webhook["reinvocationPolicy"], webhook["failurePolicy"], webhook["timeoutSeconds"]) == (
        "IfNeeded", "Ignore", 3)  # fmt: skip
    assert webhook["objectSelector"] == {"matchLabels": {"app": "web"}}


def test_kube_system_is_excluded_unless_the_policy_opts_in() -> None:
    selector = {"matchLabels": {"team": "a"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    policy = make_policy("allow()", namespaceSelector=selector)
    config = webhook_configuration(policy, ca_bundle=CA, url="https://h")
    assert config is not None
    assert config["webhooks"][0]["namespaceSelector"] == {
        "matchLabels": {"team": "a"},
        "matchExpressions": [
            {"key": "tier", "operator": "Exists"},
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "kube-node-lease"]},
        ],
    }
    opted_in = make_policy("allow()", namespaceSelector=selector)
    opted_in.manifest["metadata"]["annotations"] = {"policy.jspolicy.com/include-system-namespaces": "true"}
    config = webhook_configuration(opted_in, ca_bundle=CA, url="https://h")
    assert config is not None and config["webhooks"][0]["namespaceSelector"] == selector


def test_jspolicy_resources_and_own_namespace_are_kept_out_unless_the_policy_opts_in() -> None:
    policy = make_policy("allow()", resources=["*/*"])
    (webhook,) = webhook_configuration(policy, ca_bundle=CA, url="https://h", excluded=("kube-system", "js"))[
        "webhooks"
    ]  # type: ignore[index]
    assert webhook["matchConditions"] == [
        {"name": "exclude-jspolicy-resources", "expression": "request.resource.group != 'policy.jspolicy.com'"}
    ]
    assert webhook["namespaceSelector"]["matchExpressions"][-1]["values"] == ["kube-system", "js"]
    policy.manifest["metadata"]["annotations"] = {"policy.jspolicy.com/include-system-namespaces": "true"}
    (webhook,) = webhook_configuration(policy, ca_bundle=CA, url="https://h", excluded=("kube-system", "js"))[
        "webhooks"
    ]  # type: ignore[index]
    assert "matchConditions" not in webhook and webhook["namespaceSelector"] == {}


def test_controller_policies_have_no_webhook() -> None:
    assert webhook_configuration(make_policy("allow()", type="Controller"), ca_bundle=CA, url="https://h") is None


def test_offline_matching_follows_the_kube_system_exclusion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pod = tmp_path / "pod.yaml"
    pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: kube-system}\n")
    policy = str(EXAMPLES / "policies" / "deny-privileged.yaml")
    assert main(["apply", policy, "--resource", str(pod), "-o", "json", "-v"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


def test_cli_prints_one_configuration_per_admission_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert_dir = tmp_path / "certs"
    args = ["webhook-config", "--url", "https://jspolicy.example.com:8443", "--cert-dir", str(cert_dir)]
    assert main([*args, "--policies", str(EXAMPLES / "policies")]) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert len(documents) == 5
    assert {d["kind"] for d in documents} == {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}
    ca = (cert_dir / "ca.crt").read_bytes()
    assert all(base64.b64decode(d["webhooks"][0]["clientConfig"]["caBundle"]) == ca for d in documents)
    assert main(["webhook-config", "--url", "http://insecure", "--policies", str(EXAMPLES / "policies")]) == 2


def test_the_guardrail_library_directory_is_served_as_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """policies/ keeps each policy's test suite and RBAC beside it; the directory still loads, one webhook each."""
    args = ["webhook-config", "--url", "https://h:8443", "--cert-dir", str(tmp_path), "--policies", str(LIBRARY)]
    assert main(args) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    policies = [yaml.safe_load(file.read_text()) for file in sorted(LIBRARY.glob("*/policy.yaml"))]
    admission = sorted(p["metadata"]["name"] for p in policies if p["spec"].get("type") != "Controller")
    assert len(admission) > 30
    assert sorted(d["metadata"]["name"] for d in documents) == admission
    assert all(d["metadata"]["name"].endswith(".library.jspolicy.com") for d in documents)


def test_cli_keeps_the_names_the_certificate_already_has(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert_dir = tmp_path / "certs"
    certs.ensure(cert_dir, ["served-name.example.com"])
    args = ["webhook-config", "--url", "https://[::1]:8443/", "--cert-dir", str(cert_dir)]
    assert main([*args, "--policies", str(EXAMPLES / "policies")]) == 0
    capsys.readouterr()
    assert {"served-name.example.com", "::1"} <= set(certs.current_sans(cert_dir))


def test_cli_refuses_a_url_an_external_certificate_does_not_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    certs.ensure(tmp_path, ["jspolicy.jspolicy.svc"])
    (tmp_path / certs.CA_KEY).unlink()
    policies = ["--policies", str(EXAMPLES / "policies"), "--cert-dir", str(tmp_path)]
    assert main(["webhook-config", "--url", "https://elsewhere.example.com/", *policies]) == 2
    assert "does not name elsewhere.example.com" in capsys.readouterr().err
    assert main(["webhook-config", "--url", "https://jspolicy.jspolicy.svc:443", *policies]) == 0
    assert not (tmp_path / certs.CA_KEY).exists()


@pytest.mark.parametrize("command", ["webhook-config", "serve"])
def test_an_unusable_certificate_directory_is_a_clear_error(tmp_path: Path, command: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    args = ["--policies", str(EXAMPLES / "policies"), "--cert-dir", str(blocker / "certs")]
    url = ["--url", "https://jspolicy.example.com"] if command == "webhook-config" else ["--port", "0"]
    # A separate process: serve sets up process-wide logging and metrics.
    command_line = [sys.executable, "-m", "jspolicy", command, *url, *args]
    done = subprocess.run(command_line, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 2
    assert f"cannot prepare the serving certificate in {blocker / 'certs'}" in done.stderr
