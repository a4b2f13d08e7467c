"""``jspolicy review``: answer an AdmissionReview exactly as the webhook will."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from jspolicy.admission.review import ReviewError, parse_review, render, response_for
from jspolicy.cli.session import CliError, OfflineSession


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "review",
        help="answer an AdmissionReview (v1 or v1beta1) as the webhook would",
        description="Print the AdmissionReview response the webhook /policy/<name> would send. Policy matching is "
        "not re-checked (the webhook trusts the API server). Exit status: 0 allowed, 1 denied, 2 bad input.",
    )
    parser.add_argument(
        "--policy",
        required=True,
        action="append",
        metavar="PATH",
        help="JsPolicy (and JsPolicyBundle) files or directories",
    )
    parser.add_argument("--request", required=True, metavar="FILE", help="an AdmissionReview as JSON ('-' = stdin)")
    parser.add_argument("--cluster", action="append", default=[], metavar="PATH", help="cluster state for get()/list()")
    parser.add_argument("--name", help="the policy to run when the files hold several")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        body = sys.stdin.buffer.read() if args.request == "-" else Path(args.request).read_bytes()
    except OSError as error:
        raise CliError(f"{args.request}: cannot read: {error}") from None
    try:
        review = parse_review(body)
    except ReviewError as error:
        raise CliError(f"{args.request}: {error}") from None
    with OfflineSession.load(args.policy, args.cluster, require_code=False) as session:
        names = sorted(session.policies.policies)
        name = args.name or (names[0] if len(names) == 1 else None)
        if name is None:
            raise CliError(f"the policy files hold {len(names)} policies ({', '.join(names)}); choose one with --name")
        if name not in session.policies.policies:
            raise CliError(f"no JsPolicy named {name!r} (found: {', '.join(names)})")
        policy = session.policies.policies[name]
        program = session.programs[name]
        outcome = session.engine.evaluate(policy, program, review.request)
    sys.stdout.buffer.write(render(review.api_version, response_for(outcome, review.uid)))
    sys.stdout.flush()
    return 0 if outcome.allowed else 1
