"""``jspolicy serve``: the admission webhook server."""

from __future__ import annotations

import argparse
from typing import Any

from jspolicy.cli.session import load_programs
from jspolicy.resources.manifests import load_manifests
from jspolicy.resources.policyset import PolicySet
from jspolicy.service import config
from jspolicy.supervisor.supervisor import Supervisor


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run the admission webhook (TLS), health and metrics servers",
        description="Serve POST /policy/<name> and /crds over TLS, /healthz and /readyz on the health port and "
        "/metrics on the metrics port. --policies loads JsPolicies from files and reloads them when they change.",
    )
    config.add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = config.from_arguments(args)
    supervisor = Supervisor(settings)
    supervisor.preflight()  # configuration mistakes: exit 2 before anything is built or started
    if settings.policies:
        # A policy that does not build (syntax error, npm or esbuild failure) is bad input at start, as in
        # `apply`; this also fills the build cache the workers then read. Later edits that break a policy
        # keep its last good version serving (server/store.py).
        load_programs(PolicySet.from_manifests(load_manifests(settings.policies)), require_code=False)
    return supervisor.run()
