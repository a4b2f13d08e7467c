"""The tools bundling needs, found or fetched once per machine: esbuild (pinned), npm and Node.

They are needed only where bundling happens (the CLI's machine, the controller's leader), never in
the webhook's request path. esbuild comes from its npm packages (the binary ``@esbuild/<platform>`` and the
JavaScript API ``esbuild``), fetched with ``npm pack`` and checked against the integrities pinned here, into
the same cache as the control-plane binaries (``jspolicy/controlplane/binaries.py``). ``JSPOLICY_ESBUILD``
and ``JSPOLICY_ESBUILD_API`` name existing ones instead (an image that ships them); ``JSPOLICY_NPM`` an npm
other than the one on PATH.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import platform
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from jspolicy.bundler.commands import CommandTimeoutError, run_tool
from jspolicy.controlplane.binaries import cache_root, locked

ESBUILD_VERSION = "0.28.2"
# dist.integrity of esbuild@0.28.2 (the JavaScript API) and of @esbuild/<platform>@0.28.2 on the npm registry.
ESBUILD_API_INTEGRITY = (
    "sha512-HKVLS8dvII+xoKW9kmqxbRKrnWEXfJJr/FZhhJmiqIB0e053QNYFqOBouTMO/k5sID4MvCiUCvv8b9M4h32wIA=="
)
ESBUILD_INTEGRITY = {
    "linux-x64": "sha512-4xTZr1FUmSoQW4XIWmit3tzQrUTZM+N3P0XV8xROKYF50XfI7xeO90+1bZvNwxIufQ9hDQVRJH5YhgPVF8A/HQ==",
    "linux-arm64": "sha512-pW4AC0P3it8c7do9MVM4p51FzHzdM/TZrerurgRcHJ2WTa1VQ1CIq18xncfpBJw4ojkiZZrKW2yIBWBP92j6Ug==",
}
PACK_TIMEOUT = 300.0  # one download of a few MB, once per machine
_MACHINES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
_INSTALL_NODE = "install Node.js 18+ with npm (e.g. `apt-get install nodejs npm`, or https://nodejs.org)"


class ToolError(RuntimeError):
    """A tool bundling needs is missing or broken; the message says what to install."""


@dataclass(frozen=True)
class Toolchain:
    node: Path
    esbuild: Path  # the binary
    esbuild_api: Path  # its JavaScript API, lib/main.js


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


def npm_environment(cache: Path, scratch: Path | None = None) -> dict[str, str]:
    """The environment npm runs with here: the user's configuration, with scripts never run, git disabled
    (a git dependency, even a transitive one, fails instead of cloning), quick retries, a cache
    of ours unless one is configured, and, when JSPOLICY_NPM_TOKEN is set, a user config in ``scratch`` that
    adds the token line to the user's own."""
    configured = {key.lower() for key in os.environ}
    # The environment outranks every .npmrc, a nested npm's too (a git dependency's clone runs one with the
    # repository's own config): no scripts, no git at all, never a global install over the machine's tools.
    env = {**os.environ, "npm_config_ignore_scripts": "true", "npm_config_update_notifier": "false",
           "npm_config_fund": "false", "npm_config_audit": "false", "npm_config_git": "/bin/false",
           "npm_config_global": "false", "npm_config_install_links": "false"}  # fmt: skip
    env.update({key: value for key, value in _QUICK_RETRIES.items() if key not in configured})
    if "npm_config_cache" not in configured:
        env["npm_config_cache"] = str(cache)
    token_line = registry_token_line(env)
    if token_line and scratch is not None:
        user = Path(env.get("NPM_CONFIG_USERCONFIG") or env.get("npm_config_userconfig") or Path.home() / ".npmrc")
        existing = user.read_text("utf-8") if user.is_file() else ""
        config = scratch / "user.npmrc"
        config.write_text(existing + ("\n" if existing and not existing.endswith("\n") else "") + token_line, "utf-8")
        env.pop("npm_config_userconfig", None)
        env["NPM_CONFIG_USERCONFIG"] = str(config)
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
    name = esbuild_platform()
    integrity = ESBUILD_INTEGRITY.get(name)
    if integrity is None:
        raise ToolError(
            f"no pinned esbuild for {name}: set JSPOLICY_ESBUILD to an esbuild {ESBUILD_VERSION} binary "
            f"(supported here: {', '.join(sorted(ESBUILD_INTEGRITY))})"
        )
    return _fetched(f"@esbuild/{name}@{ESBUILD_VERSION}", integrity, "binary", log) / "bin" / "esbuild"


def esbuild_api_path(log: bool = True) -> Path:
    """The pinned esbuild JavaScript API (``lib/main.js``, which drives the binary with jspolicy's resolve
    guard: jspolicy/bundler/js/bundle.mjs): JSPOLICY_ESBUILD_API, else the cache, else fetched into it."""
    configured = os.environ.get("JSPOLICY_ESBUILD_API")
    if configured:
        if not Path(configured).is_file():
            raise ToolError(f"JSPOLICY_ESBUILD_API={configured} does not exist")
        return Path(configured)
    return _fetched(f"esbuild@{ESBUILD_VERSION}", ESBUILD_API_INTEGRITY, "api", log) / "lib" / "main.js"


def _fetched(package: str, integrity: str, name: str, log: bool) -> Path:
    """An npm package's files, fetched once per machine with ``npm pack`` and checked against ``integrity``."""
    directory = cache_root() / "esbuild" / ESBUILD_VERSION
    target = directory / name
    if (target / "package.json").is_file():
        return target
    with locked(directory):
        if not (target / "package.json").is_file():  # another process may have fetched it while we waited
            if log:
                print(f"fetching {package} with npm, once per machine", file=sys.stderr)
            _unpack(_pack(package, integrity), target)
    return target


def _pack(package: str, integrity: str) -> bytes:
    npm = npm_path()
    with tempfile.TemporaryDirectory(prefix="jspolicy-pack-") as work:
        command = [str(npm), "pack", package, "--loglevel=error"]
        try:
            result = run_tool(command, Path(work), PACK_TIMEOUT, npm_environment(cache_root() / "npm", Path(work)))
        except CommandTimeoutError as error:
            raise ToolError(f"fetching {package} with npm failed: {error}") from None
        tarballs = list(Path(work).glob("*.tgz"))
        if result.returncode != 0 or len(tarballs) != 1:
            raise ToolError(f"fetching {package} with npm failed: {result.output}")
        data = tarballs[0].read_bytes()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    if digest != integrity:
        raise ToolError(f"{package} does not match its pinned integrity (got {digest}, expected {integrity})")
    return data


def _unpack(tarball: bytes, target: Path) -> None:
    """The files under ``package/`` (regular files only), moved into place whole."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
            for member in archive.getmembers():
                relative = Path(member.name).relative_to("package") if member.name.startswith("package/") else None
                if not member.isfile() or relative is None or ".." in relative.parts:
                    continue
                source = archive.extractfile(member)
                assert source is not None
                destination = staging / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(source.read())
                destination.chmod(0o755 if member.mode & 0o111 else 0o644)
        shutil.rmtree(target, ignore_errors=True)
        staging.replace(target)  # a half-unpacked package never looks finished
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def node_path() -> Path:
    found = shutil.which("node")
    if found is None:
        raise ToolError(
            f"bundling policies with imports, npm dependencies or TypeScript needs Node.js; {_INSTALL_NODE}"
        )
    return Path(found)


def toolchain(log: bool = True) -> Toolchain:
    """What bundling needs (npm itself only when there are dependencies to install: ``npm_path``)."""
    return Toolchain(node=node_path(), esbuild=esbuild_path(log), esbuild_api=esbuild_api_path(log))


def main() -> None:
    """``python -m jspolicy.bundler.tools``: fetch (or find) the bundling tools and print where they are."""
    try:
        tools = toolchain()
        npm = npm_path()
    except ToolError as error:
        sys.exit(f"error: {error}")
    print(tools.esbuild)
    print(tools.esbuild_api)
    print(npm)


if __name__ == "__main__":
    main()
