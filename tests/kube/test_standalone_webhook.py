"""Out-of-cluster mode for real: a standalone ``jspolicy serve --policies`` on loopback, and the
configurations ``jspolicy webhook-config`` prints, applied to the session's kube-apiserver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from jspolicy.controlplane.plane import ControlPlane, KubectlError, die_with_parent, free_port
from tests.kube.jspolicy_server import ROOT, remove_everything, wait_for

EXAMPLES = ROOT / "examples" / "policies"


@pytest.fixture(scope="module")
def standalone(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The examples served with no cluster access at all, and their configurations in the API server."""
    directory = tmp_path_factory.mktemp("standalone")
    port, health = free_port(), free_port()
    command = [
        sys.executable, "-m", "jspolicy", "serve", "--policies", str(EXAMPLES), "--cert-dir", str(directory / "certs"),
        "--host", "127.0.0.1", "--port", str(port), "--health-port", str(health), "--metrics-port", str(free_port()),
        "--workers", "1",
    ]  # fmt: skip
    environment = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    log = directory / "serve.log"
    process = subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=environment,
                               preexec_fn=die_with_parent)  # noqa: PLW1509 (it only calls prctl)  # fmt: skip

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{health}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None

    try:
        wait_for(ready, timeout=90, what="standalone server ready")
        assert process.poll() is None, log.read_text()
        yield port, directory
    finally:
        remove_everything(control_plane)
        process.terminate()
        process.wait(timeout=30)


def configurations(directory: Path, port: int) -> str:
    args = ["webhook-config", "--url", f"https://127.0.0.1:{port}", "--policies", str(EXAMPLES)]
    args += ["--cert-dir", str(directory / "certs")]
    result = subprocess.run([sys.executable, "-m", "jspolicy", *args], capture_output=True, text=True, check=True)
    return result.stdout


def test_the_printed_configurations_are_accepted_and_route_requests(
    control_plane: ControlPlane, standalone: tuple[int, Path]
) -> None:
    port, directory = standalone
    printed = configurations(directory, port)
    documents = [d for d in yaml.safe_load_all(printed) if d]
    assert {d["kind"] for d in documents} == {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}
    control_plane.kubectl("apply", "-f", "-", input=printed)  # the API server validates every field
    for document in documents:
        stored = control_plane.kubectl("get", document["kind"].lower(), document["metadata"]["name"], "-o", "name")
        assert stored.stdout.strip()

    namespace = f"standalone-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", namespace)
    image = "registry.k8s.io/pause:3.10"

    def privileged_pod() -> subprocess.CompletedProcess[str]:
        container = {"name": "shell", "image": image, "securityContext": {"privileged": True}}
        overrides = json.dumps({"spec": {"containers": [container]}})
        return control_plane.kubectl(
            "run", "root", "-n", namespace, f"--image={image}", f"--overrides={overrides}", "--dry-run=server",
            check=False,
        )  # fmt: skip

    # The configurations reach the API server's webhook manager asynchronously.
    denied = wait_for(lambda: (r := privileged_pod()).returncode != 0 and r, what="the privileged pod denied")
    assert "Privileged containers are not allowed: shell" in denied.stderr
    assert "deny-privileged.examples.jspolicy.com" in denied.stderr

    allowed = control_plane.kubectl("run", "web", "-n", namespace, f"--image={image}", "--dry-run=server")
    # The mutating example reads the namespace with get(): a standalone server sees only --cluster manifests.
    assert f"[add-team-label.examples.jspolicy.com]: namespace {namespace} has no team label" in allowed.stderr

    with pytest.raises(KubectlError) as untrusted:
        control_plane.kubectl("run", "miner", "-n", namespace, "--image=quay.io/unknown/miner:1", "--dry-run=server")
    assert "Images from unapproved registries: quay.io/unknown/miner:1" in str(untrusted.value)
