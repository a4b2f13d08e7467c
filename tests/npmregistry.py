"""A real npm registry on loopback for tests: verdaccio, with no uplink, so nothing reaches the internet.

Tests publish packages with a real ``npm publish`` and build policies against it, exactly as users do
against their private registry. verdaccio is installed once per machine into
``<cache_root()>/tools/verdaccio-<version>`` (``python -m tests.npmregistry --install`` does it visibly
in CI). The server runs from a temp directory (config, storage, htpasswd, log) and dies with the
process that started it.

``NpmRegistry(private=True)`` refuses to serve packages without a token (``access: $authenticated``),
for testing private-registry auth.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from jspolicy.bundler.tools import ToolError, npm_path
from jspolicy.controlplane.binaries import cache_root, locked
from jspolicy.controlplane.plane import die_with_parent, free_port, log_tail

# 6.9+ require Node 22; 6.8.0 is the newest that runs on Node 20 (engines: node >=20).
VERDACCIO_VERSION = "6.8.0"
INSTALL_TIMEOUT = 600.0
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 120.0
USER = "jspolicy-tests"
PASSWORD = "loopback-only-password"  # a throwaway account in a throwaway registry
_PORT_ATTEMPTS = 3  # a free port picked here can be taken before verdaccio binds it


class RegistryError(RuntimeError):
    """verdaccio could not be installed, started or used (the message carries npm's or verdaccio's words)."""


def install_dir() -> Path:
    return cache_root() / "tools" / f"verdaccio-{VERDACCIO_VERSION}"


def _entry(directory: Path) -> Path:
    return directory / "node_modules" / "verdaccio" / "bin" / "verdaccio"


def ensure_verdaccio(log: bool = True) -> Path:
    """verdaccio's bin script, installed on first use (about 10 s, 60 MB). No install scripts run: verdaccio
    and its dependencies have none it needs (checked: none declare install/preinstall/postinstall)."""
    directory = install_dir()
    if _entry(directory).is_file():
        return _entry(directory)
    try:
        npm = npm_path()
    except ToolError as error:
        raise RegistryError(f"installing verdaccio for the registry tests needs npm: {error}") from None
    with locked(directory.parent / f".verdaccio-{VERDACCIO_VERSION}"):
        if _entry(directory).is_file():  # installed by another process while we waited
            return _entry(directory)
        if log:
            print(f"installing verdaccio {VERDACCIO_VERSION} with npm into {directory}, once per machine",
                  file=sys.stderr)  # fmt: skip
        started = time.monotonic()
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".verdaccio-{VERDACCIO_VERSION}-", dir=directory.parent))
        try:
            (staging / "package.json").write_text('{"name": "verdaccio-install", "private": true}\n', "utf-8")
            result = subprocess.run(
                [str(npm), "install", f"verdaccio@{VERDACCIO_VERSION}", "--ignore-scripts", "--no-audit",
                 "--no-fund", "--loglevel=error", "--no-save"],
                cwd=staging, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
                env={**os.environ, "npm_config_update_notifier": "false"},
            )  # fmt: skip
            if result.returncode != 0 or not _entry(staging).is_file():
                raise RegistryError(
                    f"npm install verdaccio@{VERDACCIO_VERSION} failed: {(result.stderr or result.stdout)[-3000:]}"
                )
            shutil.rmtree(directory, ignore_errors=True)
            staging.replace(directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if log:
            print(f"installed verdaccio in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return _entry(directory)


def _config(storage: Path, htpasswd: Path, log: Path, *, private: bool) -> str:
    """verdaccio's config: no uplinks (a package it does not hold is a 404, never a trip to npmjs.org)."""
    access = "$authenticated" if private else "$all"
    return "\n".join([
        f"storage: {json.dumps(str(storage))}",
        "auth:",
        "  htpasswd:",
        f"    file: {json.dumps(str(htpasswd))}",
        "    max_users: 10",
        "uplinks: {}",
        "packages:",
        "  '**':",
        f"    access: {access}",
        "    publish: $authenticated",
        "    unpublish: $authenticated",
        "max_body_size: 20mb",
        "web: {enable: false}",
        f"log: {{type: file, path: {json.dumps(str(log))}, level: warn}}",
        "",
    ])  # fmt: skip


class NpmRegistry:
    """verdaccio on a free 127.0.0.1 port: ``with NpmRegistry() as registry: registry.publish(dir)``.

    ``url`` ends with a slash; ``token`` belongs to a user created at start (htpasswd auth via npm's
    login API); ``env()`` is what an npm client needs to install from it. The process gets SIGTERM if the
    thread that started it dies (``PR_SET_PDEATHSIG``): start it from a long-lived thread.
    """

    def __init__(self, *, private: bool = False, startup_timeout: float = STARTUP_TIMEOUT) -> None:
        self.private = private
        self.startup_timeout = startup_timeout
        self.directory = Path(tempfile.mkdtemp(prefix="jspolicy-npm-registry-"))
        self.log = self.directory / "verdaccio.log"
        self.port = 0
        self.token = ""
        self._process: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def host(self) -> str:
        """The registry as npm keys its auth settings: ``//127.0.0.1:<port>/``."""
        return f"//127.0.0.1:{self.port}/"

    def __enter__(self) -> NpmRegistry:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        entry = ensure_verdaccio()
        node = shutil.which("node")
        if node is None:
            raise RegistryError("the npm registry tests need node on PATH (Node.js 20+)")
        config = self.directory / "config.yaml"
        config.write_text(_config(self.directory / "storage", self.directory / "htpasswd", self.log,
                                  private=self.private), "utf-8")  # fmt: skip
        started = time.monotonic()
        for attempt in range(_PORT_ATTEMPTS):
            self.port = free_port()
            output = (self.directory / "stdout.log").open("ab")
            # Its own process group, so close() stops whatever it started; and it dies with us.
            self._process = subprocess.Popen(
                [node, str(entry), "--config", str(config), "--listen", f"127.0.0.1:{self.port}"],
                cwd=self.directory, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent,  # noqa: PLW1509 (it only calls prctl)
            )  # fmt: skip
            output.close()
            if self._wait_ready():
                break
            self._stop_process()
            if attempt == _PORT_ATTEMPTS - 1:
                raise RegistryError(f"verdaccio did not start on 127.0.0.1:{self.port}:\n{self.log_text()}")
        self.startup_seconds = time.monotonic() - started
        self.token = self._create_user()
        self._write_npmrc()

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "-/ping", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        return False

    def _create_user(self) -> str:
        """A user and its token through npm's login API (``PUT /-/user/org.couchdb.user:<name>``)."""
        body = json.dumps({"name": USER, "password": PASSWORD, "type": "user"}).encode("utf-8")
        request = urllib.request.Request(
            f"{self.url}-/user/org.couchdb.user:{USER}", data=body, method="PUT",
            headers={"content-type": "application/json", "accept": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise RegistryError(f"creating the registry user failed: {error.code} {error.read()[:500]!r}") from None
        token = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"verdaccio created no token: {answer!r}")
        return token

    def _write_npmrc(self) -> None:
        # Client configs of our own: the machine's ~/.npmrc never decides what a test installs.
        (self.directory / "anonymous.npmrc").write_text("", "utf-8")
        (self.directory / "authenticated.npmrc").write_text(f"{self.host}:_authToken={self.token}\n", "utf-8")

    def npmrc(self, *, auth: bool) -> Path:
        """A user config (``NPM_CONFIG_USERCONFIG``) with the token, or an empty one."""
        return self.directory / ("authenticated.npmrc" if auth else "anonymous.npmrc")

    def env(self, *, auth: bool | None = None) -> dict[str, str]:
        """Environment variables (to add to os.environ) for an npm client installing from this registry:
        the registry, and the token in a user config when ``auth`` (default: when the registry is private)."""
        with_token = self.private if auth is None else auth
        return {
            "NPM_CONFIG_REGISTRY": self.url,
            "NPM_CONFIG_USERCONFIG": str(self.npmrc(auth=with_token)),
            "npm_config_update_notifier": "false",
        }

    def publish(self, package_dir: Path, *, timeout: float = COMMAND_TIMEOUT) -> str:
        """``npm publish`` of a package directory (scripts not run); returns npm's output."""
        npm = npm_path()
        env = {
            **without_npm_config(os.environ),
            **self.env(auth=True),
            "npm_config_cache": str(self.directory / "npm-cache"),
        }
        result = subprocess.run(
            [str(npm), "publish", "--registry", self.url, "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=package_dir, capture_output=True, text=True, timeout=timeout, check=False, env=env,
        )  # fmt: skip
        if result.returncode != 0:
            raise RegistryError(f"npm publish {package_dir} failed:\n{result.stderr[-3000:]}{result.stdout[-2000:]}")
        return result.stdout + result.stderr

    def log_text(self) -> str:
        return "\n".join(part for part in (log_tail(self.directory / "stdout.log"), log_tail(self.log)) if part)

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
        except ProcessLookupError:
            process.wait(timeout=STOP_TIMEOUT)

    def close(self) -> None:
        self._stop_process()
        shutil.rmtree(self.directory, ignore_errors=True)


def without_npm_config(env: Mapping[str, str]) -> dict[str, str]:
    """The environment without the caller's npm settings (a registry or userconfig of the machine)."""
    return {k: v for k, v in env.items() if not k.lower().startswith("npm_config_")}


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.npmregistry --install``: install verdaccio (once per machine) and print its path."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.npmregistry", description="verdaccio for the npm registry tests"
    )
    parser.add_argument("--install", action="store_true", help="install verdaccio and print where it is")
    args = parser.parse_args(argv)
    if not args.install:
        parser.print_help()
        return
    try:
        print(ensure_verdaccio())
    except RegistryError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
