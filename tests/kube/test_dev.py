"""``jspolicy dev`` end to end: a real apiserver with serve as its webhook, then a clean SIGTERM shutdown.

Needs cluster-mode ``jspolicy serve`` (--kubeconfig, --namespace, --webhook-url).
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from jspolicy.controlplane import binaries
from jspolicy.controlplane.plane import child_environment

READY_TIMEOUT = 300.0  # apiserver start (up to 90 s) plus serve warming its V8 pools


def _children(pid: int) -> dict[int, str]:
    """Direct children of ``pid`` by process id and command name."""
    found: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if int(rest[1]) == pid:
            found[int(stat.parent.name)] = name
    return found


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline() if ready else ""


def test_dev_runs_a_cluster_and_stops_cleanly(tmp_path: Path) -> None:
    kubectl = binaries.ensure().kubectl  # built here, not inside the timed wait below
    kubeconfig = tmp_path / "dev.kubeconfig"
    log = tmp_path / "dev.log"
    command = [sys.executable, "-m", "jspolicy", "dev", "--kubeconfig", str(kubeconfig)]
    with log.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        line = _read_line(process, READY_TIMEOUT)
        assert line == f"ready: kubeconfig {kubeconfig}\n", f"no ready line; dev's stderr:\n{log.read_text()}"
        children = {pid: name for pid, name in _children(process.pid).items() if name in ("etcd", "kube-apiserver")}
        assert sorted(children.values()) == ["etcd", "kube-apiserver"]

        get = [str(kubectl), "--kubeconfig", str(kubeconfig), "get", "ns", "jspolicy", "-o", "name"]
        got = subprocess.run(get, capture_output=True, text=True, timeout=60, env=child_environment(), check=False)
        assert got.returncode == 0, got.stderr
        assert got.stdout.strip() == "namespace/jspolicy"

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0, f"dev's stderr:\n{log.read_text()}"
        assert time.monotonic() - started < 60
        assert not [pid for pid in children if _alive(pid)]
        assert process.stdout is not None
        assert process.stdout.read() == ""  # exactly one line on stdout
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
