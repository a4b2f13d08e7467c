"""Installing a policy's npm dependencies: npm with scripts disabled, the user's registry settings, bounded.

Lifecycle scripts never run (``--ignore-scripts``, also for nested installs), and git is never replaced by a
configured command. Only registry, authentication, TLS and proxy settings are taken from a project's
``.npmrc`` (the one beside or above a policy): any other key there could make npm run a program. The install
is watched while it runs, so dependencies over the size limit are stopped, not found afterwards.
"""

from __future__ import annotations

import re
from pathlib import Path

from jspolicy.bundler.cache import tree_stats
from jspolicy.bundler.commands import CommandTimeoutError, run_tool
from jspolicy.bundler.errors import BuildError
from jspolicy.bundler.tools import npm_environment, npm_path

MAX_INSTALL_BYTES = 256 * 1024 * 1024  # node_modules of one policy
MAX_INSTALL_FILES = 50_000
_PROJECT_KEYS = re.compile(
    r"^\s*(registry|@[\w.~-]+:registry|//[^\s=]+:(_authToken|_auth|username|_password|email|always-auth|certfile|"
    r"keyfile)|always-auth|ca|cafile|strict-ssl|proxy|https-proxy|noproxy|no-proxy|fetch-retries|"
    r"fetch-retry-mintimeout|fetch-retry-maxtimeout|fetch-timeout)\s*="
)
# What npm prints when the registry or the network failed (retry later), rather than the request.
_TRANSIENT = re.compile(r"ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|ENETUNREACH|socket hang up| 5\d\d ")


def install(
    policy: str, cwd: Path, verb: str, what: str, *, cache: Path, scratch: Path, timeout: float, limited: bool = True
) -> None:
    """``npm install`` (or ``npm ci``) in ``cwd``; raises BuildError with npm's own message. ``limited``: a
    policy's dependencies, held to the size limits (a user's own project, with its devDependencies, is not)."""
    command = [str(_npm()), verb, "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    modules = cwd / "node_modules"
    downloads_before = tree_stats(cache)[1]  # npm's cache grows with what it downloads: that counts too

    def watch() -> None:
        files, installed = tree_stats(modules)
        if (
            files > MAX_INSTALL_FILES
            or installed > MAX_INSTALL_BYTES
            or tree_stats(cache)[1] - downloads_before > MAX_INSTALL_BYTES
        ):
            raise InstallTooLargeError

    try:
        result = run_tool(command, cwd, timeout, npm_environment(cache, scratch), watch=watch if limited else None)
        if limited and result.returncode == 0:
            watch()  # an install quicker than the watch's first look
    except CommandTimeoutError as error:
        raise BuildError(f"js policy {policy}: npm {verb} of {what} failed: {error} (BUNDLE_TIMEOUT)",
                         transient=True) from None  # fmt: skip
    except InstallTooLargeError:
        raise BuildError(
            f"js policy {policy}: npm {verb} of {what} stopped: the dependencies take more than "
            f"{MAX_INSTALL_BYTES} bytes or {MAX_INSTALL_FILES} files"
        ) from None
    if result.returncode != 0:
        message = _npm_message(result.output)
        raise BuildError(f"js policy {policy}: npm {verb} of {what} failed: {message}",
                         transient=bool(_TRANSIENT.search(message)))  # fmt: skip


def _npm() -> Path:
    try:
        return npm_path()
    except Exception as error:
        raise BuildError(str(error)) from None


class InstallTooLargeError(Exception):
    """node_modules grew past the limits while npm ran."""


def project_npmrc(base: Path | None) -> str:
    """The registry, authentication, TLS and proxy lines of the nearest ``.npmrc`` from the policy's directory
    up (npm reads a project's config only in the project, and the build runs elsewhere). The user's
    ``~/.npmrc`` and ``NPM_CONFIG_*`` apply anyway."""
    if base is None:
        return ""
    home = Path.home().resolve()
    for directory in [base.resolve(), *base.resolve().parents]:
        if directory == home:
            return ""  # the user config: npm reads it itself
        candidate = directory / ".npmrc"
        if candidate.is_file():
            lines = candidate.read_text("utf-8").splitlines()
            return "".join(line + "\n" for line in lines if _PROJECT_KEYS.match(line))
    return ""


def _npm_message(output: str) -> str:
    kept = [line for line in output.splitlines() if "complete log of this run" not in line and line.strip()]
    return "\n".join(kept[-30:]) or "npm failed without a message"
