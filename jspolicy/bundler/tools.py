"""The tools bundling needs, found or fetched once per machine: esbuild (pinned), npm and Node.

They are needed only where bundling happens (the CLI's machine, the controller's leader), never in
the webhook's request path. esbuild comes from its npm package ``@esbuild/<platform>``, fetched with
``npm pack`` and checked against the integrity pinned here, into the same cache as the control-plane
binaries (``jspolicy/controlplane/binaries.py``). ``JSPOLICY_ESBUILD`` names an existing binary instead
(an image that ships one); ``JSPOLICY_NPM`` an npm other than the one on PATH.
"""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from jspolicy.controlplane.binaries import cache_root, locked

ESBUILD_VERSION = "0.28.2"
# dist.integrity of @esbuild/<platform>@0.28.2 on the npm registry.
ESBUILD_INTEGRITY = {
    "linux-x64": "sha512-4xTZr1FUmSoQW4XIWmit3tzQrUTZM+N3P0XV8xROKYF50XfI7xeO90+1bZvNwxIufQ9hDQVRJH5YhgPVF8A/HQ==",
    "linux-arm64": "sha512-pW4AC0P3it8c7do9MVM4p51FzHzdM/TZrerurgRcHJ2WTa1VQ1CIq18xncfpBJw4ojkiZZrKW2yIBWBP92j6Ug==",
}
_MACHINES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
_INSTALL_NODE = "install Node.js 18+ with npm (e.g. `apt-get install nodejs npm`, or https://nodejs.org)"


class ToolError(RuntimeError):
    """A tool bundling needs is missing or broken; the message says what to install."""


@dataclass(frozen=True)
class Toolchain:
    esbuild: Path
    npm: Path


def npm_path() -> Path:
    """npm (with the Node.js it runs on), from JSPOLICY_NPM or PATH."""
    configured = os.environ.get("JSPOLICY_NPM")
    found = configured or shutil.which("npm")
    if not found or not Path(found).exists():
        where = f"JSPOLICY_NPM={configured} does not exist" if configured else "npm is not on PATH"
        raise ToolError(f"bundling policies with imports or npm dependencies needs npm: {where}; {_INSTALL_NODE}")
    if shutil.which("node") is None and not configured:
        raise ToolError(f"npm is on PATH but node is not; {_INSTALL_NODE}")
    return Path(found)


def registry_token_line(env: Mapping[str, str]) -> str:
    """``//host/path/:_authToken=${JSPOLICY_NPM_TOKEN}`` for the configured registry when the token is set
    (the cluster's token Secret); npm expands the variable, so the token is never written to disk."""
    if not env.get("JSPOLICY_NPM_TOKEN"):
        return ""
    registry = env.get("NPM_CONFIG_REGISTRY") or env.get("npm_config_registry") or "https://registry.npmjs.org/"
    parts = urlsplit(registry)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"//{parts.netloc}{path}:_authToken=${{JSPOLICY_NPM_TOKEN}}\n"


# npm retries a failed fetch twice, backing off 10-60 s: an unreachable registry would use up BUNDLE_TIMEOUT and
# hide npm's own error (ECONNREFUSED, ENOTFOUND). One quick retry, unless the user configured them.
_QUICK_RETRIES = {"npm_config_fetch_retries": "1", "npm_config_fetch_retry_mintimeout": "1000",
                  "npm_config_fetch_retry_maxtimeout": "5000"}  # fmt: skip


def npm_environment(cwd: Path, cache: Path) -> dict[str, str]:
    """The environment npm runs with here: the user's configuration, scripts never run, quick retries, a cache
    of ours unless one is configured, and the registry token (JSPOLICY_NPM_TOKEN) in ``cwd``'s .npmrc."""
    configured = {key.lower() for key in os.environ}
    env = {**os.environ, "npm_config_ignore_scripts": "true", "npm_config_update_notifier": "false",
           "npm_config_fund": "false", "npm_config_audit": "false"}  # fmt: skip
    env.update({key: value for key, value in _QUICK_RETRIES.items() if key not in configured})
    if "npm_config_cache" not in configured:
        env["npm_config_cache"] = str(cache)
    token_line = registry_token_line(env)
    if token_line:
        npmrc = cwd / ".npmrc"
        existing = npmrc.read_text("utf-8") if npmrc.is_file() else ""
        if token_line not in existing:
            npmrc.write_text(existing + ("\n" if existing and not existing.endswith("\n") else "") + token_line)
    return env


def esbuild_platform() -> str:
    system = platform.system().lower()
    machine = _MACHINES.get(platform.machine().lower(), platform.machine().lower())
    return f"{system}-{machine}"


def esbuild_path(log: bool = True) -> Path:
    """The pinned esbuild binary: JSPOLICY_ESBUILD, else the cache, else fetched into the cache (seconds)."""
    configured = os.environ.get("JSPOLICY_ESBUILD")
    if configured:
        if not Path(configured).is_file():
            raise ToolError(f"JSPOLICY_ESBUILD={configured} does not exist")
        return Path(configured)
    directory = cache_root() / "esbuild" / ESBUILD_VERSION
    target = directory / "esbuild"
    if target.is_file():
        return target
    with locked(directory):
        if not target.is_file():  # another process may have fetched it while we waited
            _fetch_esbuild(target, log)
    return target


def _fetch_esbuild(target: Path, log: bool) -> None:
    name = esbuild_platform()
    integrity = ESBUILD_INTEGRITY.get(name)
    if integrity is None:
        raise ToolError(
            f"no pinned esbuild for {name}: set JSPOLICY_ESBUILD to an esbuild {ESBUILD_VERSION} binary "
            f"(supported here: {', '.join(sorted(ESBUILD_INTEGRITY))})"
        )
    package = f"@esbuild/{name}@{ESBUILD_VERSION}"
    if log:
        print(f"fetching esbuild {ESBUILD_VERSION} ({package}) with npm, once per machine", file=sys.stderr)
    npm = npm_path()
    with tempfile.TemporaryDirectory(prefix="jspolicy-esbuild-") as work:
        result = subprocess.run(
            [str(npm), "pack", package, "--silent"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=npm_environment(Path(work), cache_root() / "npm"),
        )
        tarballs = list(Path(work).glob("*.tgz"))
        if result.returncode != 0 or len(tarballs) != 1:
            raise ToolError(f"fetching {package} with npm failed: {(result.stderr or result.stdout).strip()[-2000:]}")
        data = tarballs[0].read_bytes()
        digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
        if digest != integrity:
            raise ToolError(f"{package} does not match its pinned integrity (got {digest}, expected {integrity})")
        with tarfile.open(tarballs[0]) as archive:
            member = archive.extractfile("package/bin/esbuild")
            if member is None:
                raise ToolError(f"{package} has no bin/esbuild")
            binary = member.read()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)  # a half-written binary never looks finished


def toolchain(log: bool = True) -> Toolchain:
    return Toolchain(esbuild=esbuild_path(log), npm=npm_path())


def main() -> None:
    """``python -m jspolicy.bundler.tools``: fetch (or find) the bundling tools and print where they are."""
    try:
        tools = toolchain()
    except ToolError as error:
        sys.exit(f"error: {error}")
    print(tools.esbuild)
    print(tools.npm)


if __name__ == "__main__":
    main()
