"""Running ``jspolicy`` as a subprocess against a loopback registry, with a clean npm environment.

A subprocess, so each run has exactly the environment given: no npm setting of the machine (a registry,
a token, ``~/.npmrc``) leaks into what a test builds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jspolicy.bundler.tools import esbuild_api_path, esbuild_path
from tests.npmregistry import without_npm_config

RUN_TIMEOUT = 300.0
_MACHINE_SETTINGS = (
    "JSPOLICY_NPM_TOKEN",
    "JSPOLICY_BUNDLE_CACHE",
    "JSPOLICY_CACHE_DIR",
    "JSPOLICY_ESBUILD",
    "JSPOLICY_ESBUILD_API",
)


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    def results(self) -> list[dict[str, Any]]:
        """``-o json`` output, one entry per evaluation."""
        parsed = json.loads(self.stdout)
        assert isinstance(parsed, list), self.stdout
        return parsed


def clean_environment(extra: Mapping[str, str], bundle_cache: Path) -> dict[str, str]:
    """os.environ without npm or jspolicy build settings, a fresh bundle cache, and the pinned esbuild.

    esbuild (binary and API) is resolved here, with the machine's npm config: the subprocess's registry is
    the loopback one, which does not hold esbuild's packages."""
    env = {k: v for k, v in without_npm_config(os.environ).items() if k not in _MACHINE_SETTINGS}
    env.update({"JSPOLICY_ESBUILD": str(esbuild_path()), "JSPOLICY_ESBUILD_API": str(esbuild_api_path()),
                "JSPOLICY_BUNDLE_CACHE": str(bundle_cache)})  # fmt: skip
    env.update(extra)
    return env


def jspolicy(args: list[str], env: Mapping[str, str], cwd: Path) -> Run:
    result = subprocess.run([sys.executable, "-m", "jspolicy", *args], cwd=cwd, env=dict(env), capture_output=True,
                            text=True, timeout=RUN_TIMEOUT, check=False)  # fmt: skip
    return Run(result.returncode, result.stdout, result.stderr)
