"""Running the pinned esbuild through its JavaScript API (jspolicy/bundler/js/bundle.mjs), with a guard on
what a bundle may be made of."""

from __future__ import annotations

import json
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from jspolicy.bundler.commands import CommandTimeoutError, run_tool
from jspolicy.bundler.errors import BuildError
from jspolicy.bundler.tools import Toolchain

# esbuild's export code assigns module.exports; webpack's commonjs target writes to `exports`.
BANNER = "var module = { exports: exports };"
DRIVER = resources.files("jspolicy.bundler").joinpath("js/bundle.mjs")


def bundle(
    tools: Toolchain,
    policy: str,
    workdir: Path,
    entry: str,
    *,
    allowed: list[Path] | None,
    timeout: float,
    max_bytes: int,
    entry_label: str | None = None,
) -> str:
    """The bundle of ``entry`` (relative to ``workdir``). ``allowed``: the only directories it may be made
    of (imports resolving elsewhere are refused before anything is read); ``entry_label`` names the entry in
    messages (``spec.javascript`` for inline code)."""
    with tempfile.TemporaryDirectory(prefix="jspolicy-out-") as out:
        outfile = Path(out) / "bundle.js"
        request = {"api": str(tools.esbuild_api), "entry": entry, "workdir": str(workdir), "outfile": str(outfile),
                   "banner": BANNER, "allowed": [str(p) for p in allowed] if allowed is not None else None}  # fmt: skip
        env = {"ESBUILD_BINARY_PATH": str(tools.esbuild), "PATH": "/usr/bin:/bin", "NODE_OPTIONS": ""}
        with resources.as_file(DRIVER) as driver:
            try:
                result = run_tool([str(tools.node), str(driver)], workdir, timeout, env, stdin=json.dumps(request))
            except CommandTimeoutError as error:
                raise BuildError(f"js policy {policy}: bundling failed: {error} (BUNDLE_TIMEOUT)") from None
        try:
            report: dict[str, Any] = json.loads(result.stdout)
        except ValueError:
            raise BuildError(f"js policy {policy}: esbuild failed: {result.output}") from None
        if report["errors"]:
            raise BuildError(
                f"js policy {policy}: " + "\n".join(_where(e, entry, entry_label) for e in report["errors"])
            )
        if outfile.stat().st_size > max_bytes:
            raise BuildError(f"js policy {policy}: the bundle is over the {max_bytes} bytes limit")
        return outfile.read_text("utf-8")


def _where(error: dict[str, Any], entry: str, entry_label: str | None) -> str:
    """``file:line:column: text`` (esbuild's columns count from 0, as its own messages do)."""
    file = str(error.get("file") or "")
    if not file:
        return str(error["text"])
    if entry_label and file == entry:
        file = entry_label
    return f"{file}:{error['line']}:{error['column']}: {error['text']}"
