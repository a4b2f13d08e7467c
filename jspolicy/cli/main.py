"""The ``jspolicy`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from jspolicy.admission.request import RequestError
from jspolicy.cli import apply, bench, build, dev, init, manifests, review, serve, testsuite, webhook_config
from jspolicy.cli.session import CliError
from jspolicy.resources.manifests import ManifestError
from jspolicy.runtime.settings import SettingsError
from jspolicy.service.certs import CertificateError
from jspolicy.service.config import ConfigError

EXIT_BAD_INPUT = 2


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="jspolicy",
        description="Kubernetes admission policies in JavaScript, run in V8 (drop-in for jsPolicy).",
    )
    root.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="default: INFO for servers (serve), WARNING for the other commands",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (apply, review, testsuite, bench, serve, webhook_config, dev, manifests, init, build):
        module.add_parser(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level or "WARNING", format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        return int(args.run(args))
    except (CliError, ManifestError, RequestError, SettingsError, CertificateError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def entry_point() -> None:
    sys.exit(main())
