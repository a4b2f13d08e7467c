"""The pinned TypeScript compiler for the tests, installed once per machine into the jspolicy cache.

TypeScript 7 is the native (Go) port: the npm package ``typescript`` carries a small JavaScript
launcher (``bin/tsc``) and an optional platform package (``@typescript/typescript-linux-x64`` ...)
with the compiler binary. ``python -m tests.authoring.typescript`` installs it visibly (``.ci/run``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from jspolicy.authoring.toolchain import TYPESCRIPT_VERSION
from jspolicy.controlplane.binaries import cache_root, locked

NPM_INSTALL_TIMEOUT = 600.0


class ToolchainError(Exception):
    """Node, npm or the TypeScript compiler is missing or could not be installed."""


def npm_cache_dir() -> Path:
    """A machine-wide npm cache, so repeated installs (tests, scaffolds) hit the network once."""
    return cache_root() / "npm"


def typescript_dir() -> Path:
    return cache_root() / "tools" / f"typescript-{TYPESCRIPT_VERSION}"


def require(program: str) -> str:
    """The path of ``program`` on PATH, or a ToolchainError saying what to install."""
    found = shutil.which(program)
    if found is None:
        raise ToolchainError(f"{program} is not on PATH: install Node.js 18+ (it includes npm) from https://nodejs.org")
    return found


def npm_install(directory: Path, *packages: str) -> None:
    """``npm install`` in ``directory`` (the given packages, or its package.json) with the shared cache."""
    command = [
        require("npm"),
        "install",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        "--cache",
        str(npm_cache_dir()),
        *packages,
    ]
    try:
        done = subprocess.run(
            command, cwd=directory, capture_output=True, text=True, timeout=NPM_INSTALL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise ToolchainError(f"{' '.join(command)} took longer than {NPM_INSTALL_TIMEOUT:.0f} s") from error
    if done.returncode != 0:
        raise ToolchainError(f"{' '.join(command)} failed in {directory}:\n{done.stdout}{done.stderr}")


def _launcher(directory: Path) -> Path:
    return directory / "node_modules" / "typescript" / "bin" / "tsc"


def _installed(directory: Path) -> bool:
    package = directory / "node_modules" / "typescript" / "package.json"
    try:
        version = json.loads(package.read_text("utf-8")).get("version")
    except (OSError, ValueError):
        return False
    return version == TYPESCRIPT_VERSION and _launcher(directory).is_file()


def ensure_typescript() -> list[str]:
    """The command that runs the pinned ``tsc`` (``node .../bin/tsc``), installing it on first use."""
    node = require("node")
    target = typescript_dir()
    if not _installed(target):
        with locked(target.parent):  # tools/.lock: one install at a time per machine
            if not _installed(target):  # another process may have installed it while we waited
                print(f"installing typescript@{TYPESCRIPT_VERSION} into {target} ...", file=sys.stderr, flush=True)
                target.parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
                try:
                    (staging / "package.json").write_text('{"private": true}\n', "utf-8")
                    npm_install(staging, f"typescript@{TYPESCRIPT_VERSION}")
                    shutil.rmtree(target, ignore_errors=True)
                    os.replace(staging, target)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
                print(f"installed typescript@{TYPESCRIPT_VERSION}", file=sys.stderr, flush=True)
    return [node, str(_launcher(target))]


if __name__ == "__main__":
    print(" ".join(ensure_typescript()))
