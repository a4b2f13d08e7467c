"""``jspolicy webhook-config``: the webhook configurations that point a cluster at a jspolicy server."""

from __future__ import annotations

import argparse
import os
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from jspolicy.cli.session import CliError, load_programs
from jspolicy.resources.manifests import load_manifests
from jspolicy.resources.policyset import PolicySet
from jspolicy.resources.webhooks import webhook_configuration
from jspolicy.service import certs
from jspolicy.service.config import DEFAULT_CERT_DIR


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "webhook-config",
        help="print the webhook configurations for a standalone server",
        description="Print one Validating/MutatingWebhookConfiguration per policy, calling URL/policy/<name> and "
        "trusting the server's CA. Use the same --cert-dir as `jspolicy serve` (created when missing).",
    )
    parser.add_argument("--url", required=True, help="the server's base URL, e.g. https://jspolicy.example.com:8443")
    parser.add_argument("--policies", action="append", required=True, metavar="PATH")
    parser.add_argument("--cert-dir", default=os.environ.get("JSPOLICY_CERT_DIR", DEFAULT_CERT_DIR))
    parser.add_argument(
        "--cert-san",
        action="append",
        default=[],
        metavar="NAME",
        help="extra names for the serving certificate if it has to be created",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.url.startswith("https://"):
        raise CliError(f"--url must be an https:// URL (the API server only calls webhooks over TLS), got {args.url}")
    policies = PolicySet.from_manifests(load_manifests(args.policies))
    load_programs(policies, require_code=False)  # a policy that does not build gets no webhook: bad input
    host = urllib.parse.urlsplit(args.url).hostname or ""
    cert_dir = Path(args.cert_dir)
    # Keep the names the serving certificate already has (e.g. serve's --cert-san), add the URL's host.
    if certs.externally_managed(cert_dir) and host not in certs.current_sans(cert_dir):
        raise CliError(
            f"the serving certificate in {cert_dir} does not name {host}, and it is managed outside jspolicy "
            "(no ca.key): add the name where it is issued, or use a --url it names"
        )
    bundle = certs.ensure(cert_dir, [*certs.default_sans(), *certs.current_sans(cert_dir), host, *args.cert_san])
    documents = []
    for name in sorted(policies.policies):
        configuration = webhook_configuration(policies.policies[name], ca_bundle=bundle.ca_pem, url=args.url)
        if configuration is not None:
            documents.append(configuration)
    print(yaml.safe_dump_all(documents, sort_keys=False), end="")
    return 0
