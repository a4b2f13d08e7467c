"""``jspolicy build``: a policy project (JS or TS, the jspolicy-sdk layout) into JsPolicy + JsPolicyBundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from jspolicy.bundler.build import Bundler
from jspolicy.bundler.errors import BuildError
from jspolicy.bundler.project import ProjectError, TypeCheckError, build_project, write
from jspolicy.cli.session import CliError

EXIT_BUILD_FAILED = 1


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "build",
        help="build a policy project into JsPolicy and JsPolicyBundle manifests",
        description="Bundle every src/policies/<name>/index.ts|js (with its policy.yaml) of a project into "
        "<name>.yaml and <name>.bundle.yaml, as @jspolicy/webpack-plugin names them; TypeScript projects are "
        "type-checked with their own tsc first. Without --out the manifests are printed as multi-document YAML. "
        "Exit status: 0 built, 1 a type or build error, 2 bad input.",
    )
    parser.add_argument("project", nargs="?", default=".", metavar="PROJECT_DIR", help="default: the current directory")
    parser.add_argument("--out", metavar="DIR", help="write the manifests here instead of printing them")
    parser.add_argument("--no-typecheck", action="store_true", help="bundle without running tsc --noEmit")
    parser.set_defaults(run=run)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    root = Path(args.project)
    try:
        built = build_project(root, Bundler(), check_types=not args.no_typecheck, warn=_warn)
    except ProjectError as error:
        raise CliError(str(error)) from None
    except TypeCheckError as error:
        print(f"error: type errors in {root}:\n{error}", file=sys.stderr)
        return EXIT_BUILD_FAILED
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BUILD_FAILED
    if args.out:
        for path in write(built, Path(args.out)):
            print(path, file=sys.stderr)
    else:
        sys.stdout.write("".join(item.documents() for item in built))
    return 0
