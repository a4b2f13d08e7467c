"""Shared helpers: the pinned tsc (installed once per machine) and a runner that reports its errors."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.authoring.typescript import ensure_typescript

TSC_TIMEOUT = 300.0


@dataclass(frozen=True)
class TscResult:
    returncode: int
    output: str


@pytest.fixture(scope="session")
def tsc() -> list[str]:
    """``[node, .../typescript/bin/tsc]``; fails (never skips) when node or npm is missing."""
    return ensure_typescript()


def run_tsc(command: list[str], project: Path) -> TscResult:
    """``tsc --noEmit -p project`` with plain ``file(line,col): error`` output."""
    done = subprocess.run(
        [*command, "--noEmit", "--pretty", "false", "-p", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=TSC_TIMEOUT,
        check=False,
    )
    return TscResult(done.returncode, done.stdout + done.stderr)
