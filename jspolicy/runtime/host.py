"""The host side of the policy helpers: what runs in Python when JS calls them.

One ``HostFunctions`` serves one evaluation. It runs on the isolate thread
while the policy waits and V8 cannot interrupt it, so slow calls are bounded
here: ``sleep`` and ``fetchSync`` by the evaluation's deadline, ``readFileSync``
by refusing anything but regular files; cluster access has its own client timeouts.
Errors policies are meant to handle come back as ``{"__throw": ...}`` and are
thrown in JS with jsPolicy's shapes (``{reason, message}`` objects, or the
string ``fetchSync: ...``).
"""

from __future__ import annotations

import logging
import math
import os
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jspolicy.cluster.access import ClusterAccess, ClusterError
from jspolicy.resources.labels import SelectorError, parse_selector
from jspolicy.runtime.fetch import FetchError, fetch
from jspolicy.runtime.settings import RuntimeSettings

policy_log = logging.getLogger("jspolicy.policy")

MAX_FILE_BYTES = 8 * 1024 * 1024


def _throw(reason: str, message: str) -> dict[str, Any]:
    return {"__throw": {"reason": reason, "message": message}}


def split_name(name: str) -> tuple[str, str]:
    """``get()``'s name: ``"ns/name"`` or ``"name"`` (jsPolicy splits on exactly one '/')."""
    parts = name.split("/")
    return (parts[0], parts[1]) if len(parts) == 2 else ("", name)


class HostFunctions:
    def __init__(
        self,
        *,
        cluster: ClusterAccess,
        settings: RuntimeSettings,
        policy: str,
        dry_run: bool = False,
    ) -> None:
        self.cluster = cluster
        self.settings = settings
        self.policy = policy
        self.dry_run = dry_run
        self.prints: list[str] = []
        self._printed = 0

    def call(self, op: str, args: list[Any], deadline: float) -> Any:
        handler = _HANDLERS.get(op)
        if handler is None:
            raise ValueError(f"unknown host call {op!r}")
        return handler(self, args, deadline)

    def print(self, line: str) -> None:
        limit = self.settings.limits.print_total
        if self._printed >= limit:
            return
        self._printed += len(line)
        if self._printed >= limit:
            line = f"{line}\n[output of {self.policy} truncated after {limit} characters]"
        self.prints.append(line)
        policy_log.info("[%s] %s", self.policy, line)

    # -- cluster -------------------------------------------------------------------------------

    def _get(self, args: list[Any], deadline: float) -> Any:
        kind, api_version, name, cached = args
        namespace, name = split_name(name)
        try:
            return self.cluster.get(kind, api_version, namespace, name, cached=bool(cached))
        except ClusterError as error:
            return _throw("RetrieveObject", error.message)

    def _list(self, args: list[Any], deadline: float) -> Any:
        kind, api_version, options = args
        try:
            selector = parse_selector(str(options.get("labelSelector") or ""))
        except SelectorError as error:
            return _throw("ParseLabelSelector", str(error))
        item_kind = kind[: -len("List")] if kind.endswith("List") and kind != "List" else kind
        try:
            return self.cluster.list(
                item_kind,
                api_version,
                namespace=str(options.get("namespace") or ""),
                selector=selector,
                cached=bool(options.get("cache", True)),
            )
        except ClusterError as error:
            return _throw("ErrorListing", error.message)

    def _write(self, verb: str, args: list[Any]) -> Any:
        (obj,) = args
        for field in ("kind", "apiVersion"):
            if not isinstance(obj.get(field), str) or not obj.get(field):
                return _throw("UnmarshalObject", f"Object '{field[0].upper()}{field[1:]}' is missing in the object")
        operation = getattr(self.cluster, verb)
        return operation(obj, dry_run=self.dry_run).to_js()

    def _create(self, args: list[Any], deadline: float) -> Any:
        return self._write("create", args)

    def _update(self, args: list[Any], deadline: float) -> Any:
        return self._write("update", args)

    def _remove(self, args: list[Any], deadline: float) -> Any:
        return self._write("remove", args)

    # -- process environment -------------------------------------------------------------------

    def _env(self, args: list[Any], deadline: float) -> str:
        (name,) = args
        allowed = self.settings.env_allowed
        if allowed is not None and name not in allowed:
            policy_log.warning("[%s] env(%r) is not in JSPOLICY_ENV_ALLOWED", self.policy, name)
            return ""
        return os.environ.get(name, "")

    def _read_file(self, args: list[Any], deadline: float) -> str | None:
        (raw,) = args
        path = Path(raw)
        allowed = self.settings.read_file_allowed_paths
        if allowed is not None and not _within(path, allowed):
            policy_log.warning("[%s] readFileSync(%r) is not in JSPOLICY_READFILE_ALLOWED_PATHS", self.policy, raw)
            return None
        if _within(path, self.settings.read_file_denied_paths):
            policy_log.warning("[%s] readFileSync(%r) refused: the server's own key material", self.policy, raw)
            return None
        try:
            if not stat.S_ISREG(path.stat().st_mode):
                return None  # a pipe or device could block the evaluation forever
            with path.open("rb") as stream:
                data = stream.read(MAX_FILE_BYTES + 1)
        except OSError:
            return None
        if len(data) > MAX_FILE_BYTES:
            return None
        return data.decode("utf-8", "replace")

    def _sleep(self, args: list[Any], deadline: float) -> None:
        (ms,) = args
        if not isinstance(ms, (int, float)) or not math.isfinite(ms) or ms <= 0:
            return
        time.sleep(max(0.0, min(min(ms, 1000) / 1000, deadline - time.monotonic())))

    def _fetch(self, args: list[Any], deadline: float) -> Any:
        url, options = args
        timeout = min(self.settings.fetch_timeout_seconds, deadline - time.monotonic())
        try:
            return fetch(
                url,
                options if isinstance(options, Mapping) else {},
                timeout=timeout,
                allowed=self.settings.fetch_allowed_hosts,
            )
        except FetchError as error:
            return {"__throw": f"fetchSync: {error}"}


_HANDLERS: dict[str, Callable[[HostFunctions, list[Any], float], Any]] = {
    "get": HostFunctions._get,
    "list": HostFunctions._list,
    "create": HostFunctions._create,
    "update": HostFunctions._update,
    "remove": HostFunctions._remove,
    "env": HostFunctions._env,
    "readFile": HostFunctions._read_file,
    "sleep": HostFunctions._sleep,
    "fetch": HostFunctions._fetch,
}


def _within(path: Path, roots: tuple[str, ...]) -> bool:
    """``path``, symlinks resolved, is one of ``roots`` or lies under one."""
    resolved = path.resolve()
    return any(resolved == root or root in resolved.parents for root in (Path(r).resolve() for r in roots))
