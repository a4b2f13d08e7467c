"""``jspolicy init DIR``: start a TypeScript policy project (loft-sh/jspolicy-sdk's layout)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from jspolicy.authoring.scaffold import ScaffoldError, scaffold
from jspolicy.cli.session import CliError


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "init",
        help="create a TypeScript policy project (src/policies/<name>/{index.ts,policy.yaml})",
        description="Write a TypeScript policy project into DIR (created when missing; it must be empty): "
        "package.json, tsconfig.json, the @jspolicy/types declarations in types/, a validating and a mutating "
        "example policy sharing helpers in src/lib/, a test suite and a README.",
    )
    parser.add_argument("directory", metavar="DIR", type=Path, help="the project directory (new or empty)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    try:
        written = scaffold(directory)
    except ScaffoldError as error:
        raise CliError(str(error)) from error
    except OSError as error:
        raise CliError(f"cannot write {directory}: {error}") from error
    print(f"created a jspolicy TypeScript project in {directory} ({len(written)} files)")
    print("next steps:")
    print(f"  cd {directory}")
    print("  npm install          # the TypeScript compiler and the @jspolicy/types declarations")
    print("  npm run typecheck    # tsc --noEmit")
    print("  npm test             # jspolicy test . (tests/*.test.yaml)")
    print("  npm run build        # jspolicy build --out policies")
    print("  kubectl apply -f policies/")
    return 0
