"""A real Kubernetes control plane on loopback: etcd plus kube-apiserver, the way envtest runs them.

No controller-manager, scheduler or kubelet: objects are stored and admission
(including webhooks) runs, which is all an admission engine needs. The admin
identity is a static token in ``system:masters``; everything (CA, serving
certificate, service-account key, data, logs, kubeconfig) lives in one
temporary directory that ``stop()`` removes.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import datetime as dt
import http.client
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from jspolicy.controlplane import binaries as binaries_module
from jspolicy.controlplane.binaries import Binaries
from jspolicy.service import certs

STARTUP_TIMEOUT = 90.0  # Kubernetes' own integration tests needed 60 s on slow runners
STOP_TIMEOUT = 20.0
API_SANS = ("127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
_PR_SET_PDEATHSIG = 1
_PORT_ATTEMPTS = 3  # a free port picked here can be taken before the server binds it


class ControlPlaneError(RuntimeError):
    """etcd or kube-apiserver did not start (the message carries the log tail)."""


class KubectlError(subprocess.CalledProcessError):
    """A kubectl command failed; unlike its base class, the message says what kubectl printed."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr or ''}{self.output or ''}".rstrip()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def die_with_parent() -> None:
    """preexec_fn: SIGTERM the child when the thread that started it dies, so no etcd or apiserver outlives us."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def child_environment() -> dict[str, str]:
    """Go never proxies loopback, but a stray HTTPS_PROXY must not matter to kubectl either."""
    env = dict(os.environ)
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    return env


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ControlPlane:
    """etcd and kube-apiserver on random loopback ports, with an admin kubeconfig.

    ``with ControlPlane() as plane: plane.kubectl("get", "ns")``. The processes get
    SIGTERM if the thread that started them dies (``PR_SET_PDEATHSIG``), so start and
    stop the plane from one long-lived thread (the main thread, or pytest's).
    """

    def __init__(self, bins: Binaries | None = None, *, startup_timeout: float = STARTUP_TIMEOUT) -> None:
        self.binaries = bins if bins is not None else binaries_module.ensure()
        self.startup_timeout = startup_timeout
        self.directory = Path(tempfile.mkdtemp(prefix="jspolicy-controlplane-"))
        self.kubeconfig = self.directory / "kubeconfig"
        self.ca_file = self.directory / "ca.crt"
        self.ca_key_file = self.directory / "ca.key"
        self.etcd_log = self.directory / "etcd.log"
        self.apiserver_log = self.directory / "kube-apiserver.log"
        self.token = secrets.token_urlsafe(32)
        self.etcd_port = 0
        self.api_port = 0
        self.server = ""
        self.etcd_url = ""
        self.startup_seconds = 0.0  # time from launching kube-apiserver to a 200 from /readyz
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []
        self._stopped = False
        atexit.register(self.stop)  # the directory (and any process) goes even if nobody calls stop()

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Start etcd, then kube-apiserver, and wait until the apiserver is ready; stops everything on failure."""
        if self._stopped:
            raise ControlPlaneError("a stopped ControlPlane cannot be started again; make a new one")
        try:
            self._write_files()
            self._start_with_retries(self._start_etcd)
            self._start_with_retries(self._start_apiserver)
            self._write_kubeconfig(self.kubeconfig)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM the apiserver, then etcd (SIGKILL after STOP_TIMEOUT), and remove the directory."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        for process in (self._apiserver, self._etcd):
            if process is not None:
                _terminate(process)
        for stream in self._logs:
            stream.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def running(self) -> bool:
        return all(p is not None and p.poll() is None for p in (self._etcd, self._apiserver))

    @property
    def pids(self) -> list[int]:
        """Process ids of etcd and kube-apiserver (for checks that nothing is left behind)."""
        return [p.pid for p in (self._etcd, self._apiserver) if p is not None]

    def __enter__(self) -> ControlPlane:
        return self.start() if self._apiserver is None else self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- use ---------------------------------------------------------------------------------------------------

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this plane; with ``check``, a failure raises KubectlError."""
        command = [str(self.binaries.kubectl), "--kubeconfig", str(self.kubeconfig), *args]
        result = subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=timeout, env=child_environment(), check=False
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, command, result.stdout, result.stderr)
        return result

    def write_kubeconfig(self, path: Path) -> Path:
        """A copy of the admin kubeconfig at ``path`` (mode 0600: it holds the admin token)."""
        self._write_kubeconfig(path)
        return path

    # -- internals ---------------------------------------------------------------------------------------------

    def _write_files(self) -> None:
        now = dt.datetime.now(dt.UTC)
        ca, ca_key = certs.make_ca(now)
        leaf, leaf_key = certs.make_leaf(ca, ca_key, API_SANS, now)
        pem = serialization.Encoding.PEM
        self.ca_file.write_bytes(ca.public_bytes(pem))
        _write_private(self.ca_key_file, _key_pem(ca_key))
        (self.directory / "apiserver.crt").write_bytes(leaf.public_bytes(pem))
        _write_private(self.directory / "apiserver.key", _key_pem(leaf_key))
        sa_key = ec.generate_private_key(ec.SECP256R1())
        _write_private(self.directory / "sa.key", _key_pem(sa_key))
        # The verifying flag wants the public key: 1.36 reads no public key out of a PKCS#8 private key.
        public = sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
        (self.directory / "sa.pub").write_bytes(public)
        _write_private(self.directory / "tokens.csv", f"{self.token},admin,admin,system:masters\n".encode())

    def _start_with_retries(self, start: Callable[[], None]) -> None:
        """Run ``start`` again with new ports if the port it picked was taken meanwhile."""
        for attempt in range(_PORT_ATTEMPTS):
            try:
                start()
                return
            except _PortTakenError:
                if attempt == _PORT_ATTEMPTS - 1:
                    raise ControlPlaneError("no free loopback port after several attempts") from None

    def _launch(self, command: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
        log = log_path.open("ab")
        self._logs.append(log)
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            env=child_environment(),
            start_new_session=True,  # a terminal's Ctrl-C reaches only us, and we stop the apiserver before etcd
            preexec_fn=die_with_parent,  # noqa: PLW1509 (it only calls prctl)
        )

    def _start_etcd(self) -> None:
        self.etcd_port, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{peer}"
        command = [
            str(self.binaries.etcd),
            "--name=default",
            f"--data-dir={self.directory / 'etcd-data'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]
        self._etcd = self._launch(command, self.etcd_log)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._etcd.poll() is not None:
                self._failed("etcd", self._etcd, self.etcd_log)
            answer = _get(urllib.request.Request(f"{self.etcd_url}/health"))
            if answer is not None and b'"health":"true"' in answer[1]:
                return
            time.sleep(0.1)
        _terminate(self._etcd)
        raise ControlPlaneError(f"etcd was not healthy within {self.startup_timeout:.0f} s:\n{log_tail(self.etcd_log)}")

    def _start_apiserver(self) -> None:
        self.api_port = free_port()
        self.server = f"https://127.0.0.1:{self.api_port}"
        d = self.directory
        command = [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={d}",
            f"--tls-cert-file={d / 'apiserver.crt'}",
            f"--tls-private-key-file={d / 'apiserver.key'}",
            f"--token-auth-file={d / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount",
        ]
        launched = time.monotonic()
        self._apiserver = self._launch(command, self.apiserver_log)
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"})
        deadline = launched + self.startup_timeout
        while time.monotonic() < deadline:
            if self._apiserver.poll() is not None:
                self._failed("kube-apiserver", self._apiserver, self.apiserver_log)
            answer = _get(request, context)
            if answer is not None and answer[0] == 200:
                self.startup_seconds = time.monotonic() - launched
                return
            time.sleep(0.2)
        _terminate(self._apiserver)
        raise ControlPlaneError(
            f"kube-apiserver was not ready within {self.startup_timeout:.0f} s "
            f"(log {self.apiserver_log}):\n{log_tail(self.apiserver_log)}"
        )

    def _failed(self, name: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        tail = log_tail(log_path)
        if "address already in use" in tail:
            raise _PortTakenError
        raise ControlPlaneError(f"{name} exited with status {process.returncode} during startup:\n{tail}")

    def _write_kubeconfig(self, path: Path) -> None:
        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "jspolicy-dev",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": base64.b64encode(self.ca_file.read_bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "jspolicy-dev", "context": {"cluster": "jspolicy-dev", "user": "admin"}}],
            "current-context": "jspolicy-dev",
            "preferences": {},
        }
        _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())


class _PortTakenError(Exception):
    """The server exited because another process took its port first."""


def _get(request: urllib.request.Request, context: ssl.SSLContext | None = None) -> tuple[int, bytes] | None:
    """Status and body, or None while the server is not answering yet (refused, TLS not up, 5xx, ...)."""
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return int(response.status), bytes(response.read())
    except (OSError, ValueError, http.client.HTTPException):
        return None


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)
    os.chmod(path, 0o600)
