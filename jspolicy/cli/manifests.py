"""``jspolicy manifests``: everything a cluster install needs, as YAML for ``kubectl apply -f -``."""

from __future__ import annotations

import argparse
from typing import Any

from jspolicy.cli.session import CliError
from jspolicy.deploy import library, renderer


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "manifests",
        help="print the install manifests (CRDs, RBAC, Deployment, Service, ...) for kubectl apply",
        description="Print the Namespace, CRDs, ServiceAccount, least-privilege RBAC, Deployment, Service, "
        "PodDisruptionBudget and the (empty) core ValidatingWebhookConfiguration, as multi-document YAML. "
        "The Helm chart in webhook-config/chart renders the same objects from its default values. "
        "Usage: jspolicy manifests --image REGISTRY/jspolicy:TAG | kubectl apply -f -",
    )
    parser.add_argument("--namespace", default=renderer.DEFAULT_NAMESPACE, help="default: %(default)s")
    parser.add_argument(
        "--image",
        default=renderer.default_image(),
        help="container image; default %(default)s, what the repository's Dockerfile builds (none is published)",
    )
    parser.add_argument("--replicas", type=int, default=renderer.DEFAULT_REPLICAS, help="default: %(default)s")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra container environment variable, e.g. VM_POOL_SIZE=8 (repeatable)",
    )
    parser.add_argument(
        "--policy-reports",
        action="store_true",
        help="write PolicyReports (wgpolicyk8s.io, CRDs not included) instead of JsPolicyViolations",
    )
    parser.add_argument(
        "--policy-report-max-events",
        type=int,
        default=renderer.DEFAULT_POLICY_REPORT_MAX_EVENTS,
        help="results kept per report (default %(default)s)",
    )
    parser.add_argument(
        "--npm-registry",
        default="",
        metavar="URL",
        help="the registry the leader installs policies' npm dependencies from (NPM_CONFIG_REGISTRY)",
    )
    parser.add_argument(
        "--npm-token-secret",
        default="",
        metavar="SECRET",
        help="a Secret in the namespace whose key 'token' authenticates to that registry",
    )
    parser.add_argument(
        "--library",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="add these policies of the guardrail library (directories of policies/, e.g. pod-security "
        "allowed-registries) with the RBAC they need; docs/policies.md lists them",
    )
    parser.add_argument(
        "--library-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a library option, written to the ConfigMap jspolicy/jspolicy-guardrails the policies read (repeatable)",
    )
    parser.add_argument(
        "--library-only",
        action="store_true",
        help="print only the library's objects (for an engine already installed)",
    )
    parser.set_defaults(run=run)


def _pairs(flag: str, items: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator:
            raise CliError(f"{flag} takes NAME=VALUE, got {item!r}")
        pairs[name] = value
    return pairs


def run(args: argparse.Namespace) -> int:
    env = _pairs("--env", args.env)
    options = _pairs("--library-option", args.library_option)
    if (options or args.library_only) and not args.library:
        raise CliError("--library-option and --library-only need --library NAME...")
    try:
        chosen = library.objects(args.library, options)
        if args.library_only:
            print(renderer.dump(chosen), end="")
            return 0
        objects = renderer.render(
            args.namespace,
            args.image,
            replicas=args.replicas,
            env=env,
            policy_reports=args.policy_reports,
            policy_report_max_events=args.policy_report_max_events,
            npm_registry=args.npm_registry,
            npm_token_secret=args.npm_token_secret,
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    print(renderer.dump(objects + chosen), end="")
    return 0
