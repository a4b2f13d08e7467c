"""One source for the guardrail library: policies/lib/ (the npm package jspolicy-guardrails) and the YAML
policies' inline javascript, generated from it.

Each library policy with a ``policy.js`` beside its ``policy.yaml`` gets that file bundled, with the lib/
modules it imports, by the pinned esbuild into plain script code (no import, no require), which replaces
the policy's ``spec.javascript`` block; the rest of the YAML file is kept byte for byte. So users apply the
YAML without npm, and the package and the policy can never be two hand-kept copies.
``python -m tests.guardrail_sync`` rewrites the YAML; ``--check`` only says whether it is stale (a test runs
that check).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jspolicy.bundler.tools import ESBUILD_VERSION, esbuild_path

LIBRARY = Path(__file__).resolve().parent.parent / "policies"
ENTRY = "policy.js"
MANIFEST = "policy.yaml"
ESBUILD_TIMEOUT = 60.0
# ESM output of an entry without exports is a plain script: the imported modules inlined, nothing to load.
ESBUILD_FLAGS = ("--bundle", "--format=esm", "--platform=neutral", "--target=es2020", "--charset=utf8",
                 "--legal-comments=none", "--log-level=error", "--color=false")  # fmt: skip
# `  javascript: |` (a key of spec) and the block scalar under it: more-indented or blank lines.
_JAVASCRIPT_BLOCK = re.compile(r"(?m)^(?P<indent>[ ]+)javascript: \|[-+]?\n(?P<body>(?:(?P=indent)[ ]+.*\n|[ ]*\n)*)")


class SyncError(Exception):
    """A library policy whose javascript cannot be generated (the message says which and why)."""


@dataclass(frozen=True)
class Generated:
    manifest: Path
    current: str  # the file as committed
    wanted: str  # the file with the generated javascript

    @property
    def stale(self) -> bool:
        return self.current != self.wanted


def header(entry: Path, library: Path) -> str:
    source = entry.relative_to(library.parent)
    return (
        f"// Generated from {source} and policies/lib/ (the jspolicy-guardrails package) by\n"
        f"// `python -m tests.guardrail_sync` with esbuild {ESBUILD_VERSION}: edit those, not this.\n"
    )


def bundle(entry: Path, library: Path = LIBRARY) -> str:
    """The entry with its imports inlined, as script code for spec.javascript."""
    command = [str(esbuild_path()), str(entry.relative_to(library)), *ESBUILD_FLAGS]
    result = subprocess.run(command, cwd=library, capture_output=True, text=True, timeout=ESBUILD_TIMEOUT, check=False)
    if result.returncode != 0:
        raise SyncError(f"esbuild {entry}: {result.stderr.strip()}")
    code = result.stdout
    if re.search(r"(?m)^\s*(?:import|export)\b", code):
        raise SyncError(f"{entry}: the bundle still has import/export statements (does the entry export?)")
    return header(entry, library) + code


def replace_javascript(text: str, javascript: str, manifest: Path) -> str:
    found = list(_JAVASCRIPT_BLOCK.finditer(text))
    if len(found) != 1:
        raise SyncError(f"{manifest}: expected one `javascript: |` block, found {len(found)}")
    block = found[0]
    indent = block["indent"] + "  "
    body = "".join(f"{indent}{line}\n" if line else "\n" for line in javascript.rstrip("\n").split("\n"))
    updated = text[: block.start()] + f"{block['indent']}javascript: |\n{body}" + text[block.end() :]
    _check_round_trip(text, updated, javascript, manifest)
    return updated


def _check_round_trip(before: str, after: str, javascript: str, manifest: Path) -> None:
    """The rewritten file parses to the same policy with exactly the generated javascript."""
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    if new["spec"]["javascript"] != javascript.rstrip("\n") + "\n":
        raise SyncError(f"{manifest}: the generated javascript does not survive as a YAML block scalar")
    old_rest: dict[str, Any] = {**old, "spec": {k: v for k, v in old["spec"].items() if k != "javascript"}}
    new_rest: dict[str, Any] = {**new, "spec": {k: v for k, v in new["spec"].items() if k != "javascript"}}
    if old_rest != new_rest:
        raise SyncError(f"{manifest}: rewriting the javascript changed other fields")


def generate(library: Path = LIBRARY) -> list[Generated]:
    """Every library policy with a policy.js, with what its policy.yaml should be now."""
    results = []
    for entry in sorted(library.glob(f"*/{ENTRY}")):
        manifest = entry.with_name(MANIFEST)
        if not manifest.is_file():
            raise SyncError(f"{entry} has no {MANIFEST} beside it")
        current = manifest.read_text("utf-8")
        results.append(Generated(manifest, current, replace_javascript(current, bundle(entry, library), manifest)))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.guardrail_sync", description="regenerate library policies")
    parser.add_argument("--check", action="store_true", help="exit 1 if a policy.yaml is stale; write nothing")
    args = parser.parse_args(argv)
    try:
        results = generate()
    except SyncError as error:
        sys.exit(f"error: {error}")
    stale = [result for result in results if result.stale]
    for result in stale:
        if args.check:
            print(f"stale: {result.manifest} (run python -m tests.guardrail_sync)", file=sys.stderr)
        else:
            result.manifest.write_text(result.wanted, "utf-8")
            print(f"regenerated {result.manifest}", file=sys.stderr)
    if args.check and stale:
        sys.exit(1)
    if not stale:
        print(f"{len(results)} library policies up to date", file=sys.stderr)


if __name__ == "__main__":
    main()
