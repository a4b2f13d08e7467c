"""Running a bundling tool (npm, esbuild, tsc) with a deadline and bounded output.

A tool that overruns is killed with its whole process group (npm starts children), and only the
tail of what it printed is kept: enough for the error, never a buffer without bound.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_OUTPUT_CHARS = 8000
WATCH_INTERVAL = 1.0


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
    watch: Callable[[], None] | None = None,
) -> Completed:
    """``watch`` is called about every second while the tool runs; what it raises stops the tool (with its
    process group) and is raised here."""
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
    deadline = time.monotonic() + timeout
    pending = stdin
    while True:
        left = deadline - time.monotonic()
        try:
            stdout, stderr = process.communicate(pending, timeout=max(0.0, min(left, WATCH_INTERVAL)))
            break
        except subprocess.TimeoutExpired:
            pending = None  # sent with the first call; output read so far is kept by Popen
            if left <= WATCH_INTERVAL:
                _stop(process)
                raise CommandTimeoutError(f"{Path(command[0]).name} did not finish within {timeout:g} s") from None
            if watch is not None:
                try:
                    watch()
                except BaseException:
                    _stop(process)
                    raise
    return Completed(process.returncode, stdout[-MAX_OUTPUT_CHARS * 4 :], stderr[-MAX_OUTPUT_CHARS * 4 :])


def _stop(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
