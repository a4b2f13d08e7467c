"""What would make every worker fail, checked once in the supervisor before any worker starts.

A worker that cannot start is replaced, and its replacement fails the same way: a crash loop
that serves nothing and says little. These checks turn each such mistake into one line and exit
status 2 instead (``ConfigError``, reported by ``jspolicy/cli/main.py``).
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from kubernetes.config.config_exception import ConfigException

from jspolicy.bundler.build import BuildSettings
from jspolicy.cluster.client import api_client
from jspolicy.resources.manifests import ManifestError, load_manifests
from jspolicy.runtime.settings import RuntimeSettings, SettingsError
from jspolicy.server.bodies import body_timeout_seconds
from jspolicy.server.store import load_problems
from jspolicy.service.config import ConfigError, KubeConfig, ServerConfig


def check(config: ServerConfig) -> None:
    """Raise ConfigError naming the first problem found."""
    try:
        RuntimeSettings.from_env()
        BuildSettings.from_env()
        body_timeout_seconds()
    except (SettingsError, ValueError) as error:
        raise ConfigError(str(error)) from None
    if config.kube is None:
        _check_files(config)
    else:
        _check_kubeconfig(config.kube)
    for port, what in ((config.health_port, "--health-port"), (config.metrics_port, "--metrics-port")):
        if port:
            claim_port(config.host, port, what).close()


def claim_port(host: str, port: int, flag: str = "--port") -> socket.socket:
    """A bound socket on the port, proving nobody else holds it.

    Workers share the webhook port with SO_REUSEPORT, and so would a second ``jspolicy serve``
    by the same user: the kernel would then spread connections over both servers. Binding
    without SO_REUSEPORT fails while any other socket listens there, so a second instance stops here.
    """
    try:
        return socket.create_server((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(f"{flag} {port}: the port is already in use on {host} (another server?)") from None
        raise ConfigError(f"{flag} {port}: cannot listen on {host}: {error.strerror or error}") from None


def _check_files(config: ServerConfig) -> None:
    if not config.policies:
        raise ConfigError("no policies: give --policies PATH (standalone) or a kubeconfig (cluster mode)")
    problems = load_problems(config.policies)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"--policies: {problems[0]}{more}")
    try:
        load_manifests(config.cluster)
    except (ManifestError, OSError) as error:
        raise ConfigError(f"--cluster: {error}") from None


def _check_kubeconfig(kube: KubeConfig) -> None:
    if kube.kubeconfig is None:
        return  # the pod's service account
    path = Path(kube.kubeconfig)
    if not path.is_file():
        raise ConfigError(f"kubeconfig {path}: no such file")
    try:
        api_client(kube.kubeconfig).close()  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError, TypeError, KeyError) as error:
        raise ConfigError(f"kubeconfig {path}: {error}") from None
