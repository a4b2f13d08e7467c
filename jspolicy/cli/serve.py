"""``jspolicy serve``: the admission webhook server."""

from __future__ import annotations

import argparse
from typing import Any

from jspolicy.server import config
from jspolicy.server.supervisor import Supervisor


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
    return Supervisor(config.from_arguments(args)).run()
