"""``jspolicy serve`` settings: flags, each also settable by environment variable."""

from __future__ import annotations

import argparse
import logging
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jspolicy.resources.webhooks import SYSTEM_NAMESPACES
from jspolicy.service.certs import default_sans

log = logging.getLogger("jspolicy.config")

DEFAULT_CERT_DIR = "/tmp/k8s-webhook-server/serving-certs"  # jsPolicy's path
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may really use: its affinity, capped by a cgroup v2 CPU limit.

    ``os.cpu_count()`` counts the node's CPUs; a pod limited to 2 CPUs on a 64-core node
    would start 64 workers, each with a warm V8 pool, and be throttled.
    """
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()
        limit = math.ceil(int(quota) / int(period))
    except (OSError, ValueError):  # no cgroup v2 file, or "max": unlimited
        return count
    return max(1, min(count, limit))


class ConfigError(ValueError):
    """Settings that cannot work together."""


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class KubeConfig:
    """Cluster mode: policies come from the API server, and this replica takes part in leader election."""

    kubeconfig: str | None  # None: the pod's in-cluster service account
    namespace: str = "jspolicy"
    service_name: str = "jspolicy"
    webhook_url: str | None = None  # out-of-cluster server: webhooks call this URL, not the Service
    update_webhook: bool = True  # fill in the core ValidatingWebhookConfiguration `jspolicy`
    policy_reports: bool = False
    policy_report_max_events: int = 50
    identity: str = ""
    lease_duration: float = 60.0
    renew_deadline: float = 40.0
    retry_period: float = 15.0
    cert_secret: str = "jspolicy-webhook-cert"

    @property
    def excluded_namespaces(self) -> tuple[str, ...]:
        """Never sent to a generated webhook unless the policy opts in: jspolicy cannot lock itself out."""
        return tuple(dict.fromkeys((*SYSTEM_NAMESPACES, self.namespace)))


@dataclass(frozen=True)
class ServerConfig:
    policies: tuple[str, ...] = ()
    cluster: tuple[str, ...] = ()
    host: str = "0.0.0.0"
    port: int = 8443
    metrics_port: int = 8080
    health_port: int = 9080
    cert_dir: str = DEFAULT_CERT_DIR
    cert_sans: tuple[str, ...] = field(default_factory=lambda: tuple(default_sans()))
    workers: int = 1
    max_in_flight: int = 64
    reload_interval: float = 1.0
    cert_check_interval: float = 60.0
    log_json: bool = False
    log_level: str = "INFO"
    bench_floor: bool = False  # serve POST /floor: an AdmissionReview answered without JavaScript
    kube: KubeConfig | None = None  # None: standalone, policies from files


# flag -> (environment variable, type, default)
_OPTIONS: dict[str, tuple[str, Any, Any]] = {
    "port": ("JSPOLICY_PORT", int, 8443),
    "metrics_port": ("JSPOLICY_METRICS_PORT", int, 8080),
    "health_port": ("JSPOLICY_HEALTH_PORT", int, 9080),
    "host": ("JSPOLICY_HOST", str, "0.0.0.0"),
    "cert_dir": ("JSPOLICY_CERT_DIR", str, DEFAULT_CERT_DIR),
    "workers": ("JSPOLICY_WORKERS", int, None),
    "max_in_flight": ("JSPOLICY_MAX_IN_FLIGHT", int, 64),
    # Cheap (a file stat, or in a cluster one GET of the Secret), and how soon a replica serves a certificate
    # another replica renewed.
    "cert_check_interval": ("JSPOLICY_CERT_CHECK_INTERVAL", float, 60.0),
    "lease_duration": ("JSPOLICY_LEASE_DURATION", float, 60.0),
    "renew_deadline": ("JSPOLICY_RENEW_DEADLINE", float, 40.0),
    "retry_period": ("JSPOLICY_RETRY_PERIOD", float, 15.0),
    "policy_report_max_events": ("POLICY_REPORT_MAX_EVENTS", int, 50),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ
    for name, (variable, kind, default) in _OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        # A string default is converted by argparse when `serve` is parsed, so a bad value is a usage
        # error naming the flag, and never breaks the other commands.
        value = env.get(variable, default)
        parser.add_argument(flag, type=kind, default=value, help=f"(env {variable}, default {default})")
    parser.add_argument(
        "--policies",
        action="append",
        metavar="PATH",
        help="JsPolicy/JsPolicyBundle files or directories; replaces env JSPOLICY_POLICIES",
    )
    parser.add_argument(
        "--cluster", action="append", default=[], metavar="PATH", help="objects get()/list() see in standalone mode"
    )
    parser.add_argument(
        "--cert-san",
        action="append",
        default=_split(env.get("JSPOLICY_CERT_SANS")),
        metavar="NAME",
        help="extra DNS name or IP for the serving certificate",
    )
    parser.add_argument("--log-json", action="store_true", default=env.get("JSPOLICY_LOG_JSON") == "true")
    parser.add_argument(
        "--kubeconfig",
        help="cluster mode with this kubeconfig (else env KUBECONFIG; in a pod the service account); "
        "not with --policies",
    )
    parser.add_argument(
        "--namespace",
        default=env.get("KUBE_NAMESPACE"),
        help="jspolicy's own namespace (env KUBE_NAMESPACE; default: the pod's, else jspolicy)",
    )
    parser.add_argument("--service-name", default=env.get("JS_POLICY_SERVICE_NAME") or "jspolicy")
    parser.add_argument(
        "--webhook-url",
        default=env.get("JS_POLICY_WEBHOOK_URL") or None,
        help="base URL the API server calls instead of the Service (env JS_POLICY_WEBHOOK_URL)",
    )
    parser.add_argument("--identity", default=env.get("JSPOLICY_IDENTITY") or "", help="leader election identity")
    parser.add_argument(
        "--policy-reports",
        action="store_true",
        default=env.get("ENABLE_POLICY_REPORTS") == "true",
        help="write PolicyReports instead of JsPolicyViolations for webhook policies (env ENABLE_POLICY_REPORTS)",
    )
    parser.add_argument("--bench-floor", action="store_true", help="serve POST /floor for `jspolicy bench --webhook`")


def from_arguments(args: argparse.Namespace) -> ServerConfig:
    workers = args.workers if args.workers else available_cpus()
    policies = args.policies if args.policies is not None else _split(os.environ.get("JSPOLICY_POLICIES"))
    if policies and args.kubeconfig:
        raise ConfigError("--policies (standalone: policies from files) and --kubeconfig (cluster mode: "
                          "policies from the API server) exclude each other; give one")  # fmt: skip
    if policies and os.environ.get("KUBECONFIG"):
        log.warning("standalone mode (--policies): the exported KUBECONFIG is not used; get() and list() see "
                    "the --cluster files")  # fmt: skip
    kube = None if policies else kube_config(args)
    sans = default_sans() if kube is None else default_sans(kube.service_name, kube.namespace)
    if kube is not None and kube.webhook_url:
        sans.append(urlsplit(kube.webhook_url).hostname or "localhost")
    return ServerConfig(
        policies=tuple(policies),
        cluster=tuple(args.cluster),
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        cert_dir=args.cert_dir,
        cert_sans=tuple(dict.fromkeys([*sans, *args.cert_san])),
        workers=max(1, workers),
        max_in_flight=max(1, args.max_in_flight),
        cert_check_interval=max(1.0, args.cert_check_interval),
        log_json=args.log_json,
        log_level=args.log_level or "INFO",
        bench_floor=args.bench_floor,
        kube=kube,
    )


def kube_config(args: argparse.Namespace) -> KubeConfig | None:
    """Cluster mode when a kubeconfig is given or the process runs in a pod; None otherwise."""
    in_pod = bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_NAMESPACE.exists()
    kubeconfig = args.kubeconfig or os.environ.get("KUBECONFIG") or None
    if not kubeconfig and not in_pod:
        return None
    namespace = args.namespace or (SERVICE_ACCOUNT_NAMESPACE.read_text().strip() if in_pod else "jspolicy")
    if not args.lease_duration > args.renew_deadline > args.retry_period > 0:
        raise ConfigError(
            "leader election needs --lease-duration > --renew-deadline > --retry-period > 0, got "
            f"{args.lease_duration}, {args.renew_deadline}, {args.retry_period}"
        )
    return KubeConfig(
        kubeconfig=kubeconfig,
        namespace=namespace,
        service_name=args.service_name,
        webhook_url=args.webhook_url,
        update_webhook=os.environ.get("UPDATE_WEBHOOK", "").lower() != "false",
        policy_reports=args.policy_reports,
        policy_report_max_events=max(1, args.policy_report_max_events),
        identity=args.identity or f"{socket.gethostname()}-{os.getpid()}",
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
    )


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]
