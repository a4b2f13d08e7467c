"""The real control plane: kubectl talks to it, versions match what was built, and stop() leaves nothing behind."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from jspolicy.controlplane import binaries
from jspolicy.controlplane.plane import ControlPlane


def test_kubectl_lists_the_system_namespaces(control_plane: ControlPlane) -> None:
    names = control_plane.kubectl("get", "ns", "-o", "name").stdout.split()
    assert "namespace/kube-system" in names
    assert "namespace/default" in names


def test_client_and_server_are_the_built_release(control_plane: ControlPlane) -> None:
    version = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["minor"] == "36"
    assert version["serverVersion"]["gitVersion"] == binaries.KUBERNETES_VERSION
    assert version["clientVersion"]["minor"] == "36"


def test_a_config_map_round_trips(control_plane: ControlPlane) -> None:
    namespace = f"cm-{uuid.uuid4().hex[:8]}"  # namespaces never finish deleting without a controller-manager
    control_plane.kubectl("create", "namespace", namespace)
    manifest = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": {"greeting": "hello", "unicode": "ünïcødé"},
        }
    )
    control_plane.kubectl("apply", "-f", "-", input=manifest)
    stored = json.loads(control_plane.kubectl("get", "configmap", "settings", "-n", namespace, "-o", "json").stdout)
    assert stored["data"] == {"greeting": "hello", "unicode": "ünïcødé"}
    failed = control_plane.kubectl("get", "configmap", "missing", "-n", namespace, check=False)
    assert failed.returncode != 0
    assert "NotFound" in failed.stderr


def test_the_kubeconfig_is_standard(control_plane: ControlPlane) -> None:
    """Other tools (the Python client, helm) read it: a CA-verified cluster and a token user."""
    text = control_plane.kubeconfig.read_text()
    assert control_plane.server in text
    assert control_plane.token in text
    assert control_plane.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert oct(control_plane.kubeconfig.stat().st_mode & 0o777) == "0o600"


def _alive(pid: int) -> bool:
    """Running, not a zombie (a reaped child has no /proc entry at all)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def test_stop_leaves_no_process_or_directory(control_plane: ControlPlane) -> None:
    """A second plane, started alongside the session's, is gone entirely after stop()."""
    plane = ControlPlane(binaries.ensure()).start()
    pids, directory = plane.pids, plane.directory
    assert len(pids) == 2
    assert all(_alive(pid) for pid in pids)
    assert plane.kubectl("get", "ns", "kube-system").returncode == 0
    plane.stop()
    assert not any(_alive(pid) for pid in pids)
    assert not directory.exists()
    assert not plane.running
    plane.stop()  # idempotent
    assert control_plane.running  # the session's plane is untouched


def test_kubebuilder_assets_points_at_existing_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The envtest convention: a directory with kube-apiserver and etcd is used as it is, never built into."""
    built = binaries.ensure()
    (tmp_path / "kube-apiserver").symlink_to(built.kube_apiserver)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    with pytest.raises(binaries.BuildError, match="lacks"):
        binaries.ensure()
    (tmp_path / "etcd").symlink_to(built.etcd)
    found = binaries.ensure()
    assert (found.kube_apiserver, found.etcd) == (tmp_path / "kube-apiserver", tmp_path / "etcd")
    assert found.kubectl == built.kubectl  # envtest's assets have no kubectl: ours from the cache
