"""Running a bundling tool (npm, esbuild, tsc) with a deadline and bounded output.

A tool that overruns is killed with its whole process group (npm starts children), and only the
tail of what it printed is kept: enough for the error, never a buffer without bound.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_OUTPUT_CHARS = 8000


class CommandTimeoutError(Exception):
    """The tool did not finish in time."""


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """What the tool said, stderr first (where npm and esbuild report), trimmed to the tail."""
        text = "\n".join(part.strip() for part in (self.stderr, self.stdout) if part.strip())
        return text if len(text) <= MAX_OUTPUT_CHARS else "…" + text[-MAX_OUTPUT_CHARS:]


def run_tool(
    command: Sequence[str],
    cwd: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> Completed:
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise CommandTimeoutError(f"{Path(command[0]).name} did not finish within {timeout:g} s") from None
    return Completed(process.returncode, stdout[-MAX_OUTPUT_CHARS * 4 :], stderr[-MAX_OUTPUT_CHARS * 4 :])
