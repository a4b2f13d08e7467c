"""Operator mistakes stop ``jspolicy serve`` at once: exit status 2 and one line naming the problem.

Before, each of these started workers that failed and were replaced forever, served with
readiness failing, ended in a traceback, or shared the port with another server.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.server.conftest import ROOT, Server, free_port, start_server

POLICIES = str(ROOT / "examples" / "policies")


def serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "jspolicy", "serve", "--host", "127.0.0.1", "--port", str(port or free_port()),
               "--health-port", str(free_port()), "--metrics-port", str(free_port()),
               "--cert-dir", str(tmp_path / "certs"), "--workers", "1", *args]  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "JSPOLICY_POLICIES")}
    return subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=120, env={**environment, **(env or {})}
    )


def assert_refused(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_missing_policies_path(tmp_path: Path) -> None:
    assert_refused(serve(tmp_path, "--policies", str(tmp_path / "nope")), "nope", "no such file")


def test_missing_cluster_path(tmp_path: Path) -> None:
    assert_refused(serve(tmp_path, "--policies", POLICIES, "--cluster", str(tmp_path / "nope")), "--cluster", "nope")


def test_an_invalid_policy_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: [unclosed")
    assert_refused(serve(tmp_path, "--policies", str(tmp_path / "bad.yaml")), "bad.yaml")


def test_kubeconfig_naming_a_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.kubeconfig")
    assert_refused(serve(tmp_path, env={"KUBECONFIG": missing}), "missing.kubeconfig", "no such file")
    assert_refused(serve(tmp_path, "--kubeconfig", missing), "missing.kubeconfig")


def test_kubeconfig_that_is_not_one(tmp_path: Path) -> None:
    broken = tmp_path / "broken.kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    assert_refused(serve(tmp_path, "--kubeconfig", str(broken)), "broken.kubeconfig")


def test_kubeconfig_flag_and_policies_exclude_each_other(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "k"
    kubeconfig.write_text("")
    assert_refused(
        serve(tmp_path, "--policies", POLICIES, "--kubeconfig", str(kubeconfig)), "--policies", "--kubeconfig"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("VM_POOL_SIZE", "many"), ("JSPOLICY_BODY_TIMEOUT_SECONDS", "0"), ("JSPOLICY_BODY_TIMEOUT_SECONDS", "10s")],
)
def test_an_invalid_setting(tmp_path: Path, name: str, value: str) -> None:
    assert_refused(serve(tmp_path, "--policies", POLICIES, env={name: value}), name)


def test_a_port_another_server_holds(tmp_path: Path) -> None:
    """SO_REUSEPORT would let a second server share the port; the kernel would split connections between them."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        assert_refused(serve(tmp_path, "--policies", POLICIES, port=port), str(port), "in use")


def test_a_second_jspolicy_serve_on_the_same_port(tmp_path: Path) -> None:
    first = start_server(tmp_path / "first", [], workers=1)
    try:
        port = int(first.url.rsplit(":", 1)[1])
        assert_refused(serve(tmp_path, "--policies", POLICIES, port=port), "in use")
        assert first.process.poll() is None
    finally:
        first.stop()


def test_an_exported_kubeconfig_is_not_used_silently_with_policies(tmp_path: Path) -> None:
    server = start_server(tmp_path, [], workers=1, env={"KUBECONFIG": str(tmp_path / "whatever")})
    try:
        assert "KUBECONFIG is not used" in server.log.read_text()
    finally:
        server.stop()


def test_listening_is_logged_when_a_worker_really_listens(tmp_path: Path) -> None:
    server = start_launch(tmp_path)
    try:
        deadline = time.monotonic() + 90
        while "webhook listening" not in server.log.read_text():
            assert server.process.poll() is None and time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.02)
        port = int(server.url.rsplit(":", 1)[1])
        context = ssl.create_default_context(cafile=server.ca)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.version() is not None
    finally:
        server.stop()


def start_launch(tmp_path: Path) -> Server:
    """A server started without waiting for readiness (the log line is what is checked)."""
    port, health, metrics = free_port(), free_port(), free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "jspolicy", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--health-port", str(health), "--metrics-port", str(metrics), "--cert-dir", str(tmp_path / "certs"),
               "--policies", POLICIES, "--workers", "2"]  # fmt: skip
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    return Server(process, f"https://localhost:{port}", f"http://127.0.0.1:{health}",
                  f"http://127.0.0.1:{metrics}", tmp_path / "certs", Path(POLICIES), log)  # fmt: skip


@pytest.fixture(autouse=True)
def _no_inherited_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
