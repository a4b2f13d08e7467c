"""Runtime settings, read from the environment like jsPolicy's own.

jsPolicy's ``VM_POOL_SIZE`` and ``GLOBAL_CONTEXT`` keep their meaning; the
``JSPOLICY_*`` variables are limits jsPolicy did not have. Unset allow-lists
mean "everything", as in jsPolicy, so existing policies keep working.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

DEFAULT_POOL_SIZE = 4
MAX_OBJECTS_VARIABLE, MAX_MB_VARIABLE = "JSPOLICY_MEMORY_CLUSTER_MAX_OBJECTS", "JSPOLICY_MEMORY_CLUSTER_MAX_MB"

_N = TypeVar("_N", int, float)


class SettingsError(ValueError):
    """An environment variable holds a value the runtime cannot use."""


@dataclass(frozen=True)
class Limits:
    """Caps on what one evaluation may hand back, so hostile output stays small."""

    message: int = 64 * 1024
    reason: int = 1024
    warning: int = 4096
    warnings: int = 100
    patched: int = 3 * 1024 * 1024
    print_line: int = 16 * 1024
    print_total: int = 256 * 1024
    # Longest array the guarded builtins accept; V8 aborts on huge sparse arrays.
    array_length: int = 1 << 22
    # Longest string the guarded string methods accept (measured as documented in runtime.js).
    string_length: int = 1 << 26
    # Most UTF-16 code units one host call (op and JSON payload) may hand to Python: over the API server's
    # 3 MiB request limit, and over the largest result a terminal call can send with the limits above (9.2
    # million units: the patched object is escaped once more, to twice its size when it is all quotes, and
    # warnings of control characters grow sixfold), so a result never fails on the channel.
    host_request: int = 10 * 1024 * 1024

    def as_js(self) -> dict[str, int]:
        return {
            "message": self.message,
            "reason": self.reason,
            "warning": self.warning,
            "warnings": self.warnings,
            "patched": self.patched,
            "printLine": self.print_line,
            "arrayLength": self.array_length,
            "stringLength": self.string_length,
        }


@dataclass(frozen=True)
class ClusterQuota:
    """What the in-memory cluster (standalone ``jspolicy serve``, the CLI) keeps, as an API server's quotas
    and etcd's size limit do: objects policies create() must not fill the process."""

    max_objects: int = 10_000
    max_bytes: int = 256 * 1024 * 1024  # of the stored objects' JSON

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClusterQuota:
        env = os.environ if env is None else env
        return cls(
            max_objects=env_int(env, MAX_OBJECTS_VARIABLE, cls.max_objects, minimum=0),
            max_bytes=env_int(env, MAX_MB_VARIABLE, cls.max_bytes // 2**20, minimum=0) * 2**20,
        )


@dataclass(frozen=True)
class RuntimeSettings:
    pool_size: int = DEFAULT_POOL_SIZE
    global_context: str = ""
    heap_limit_mb: int = 128
    fetch_timeout_seconds: float = 10.0
    fetch_allowed_hosts: tuple[str, ...] | None = None
    read_file_allowed_paths: tuple[str, ...] | None = None
    read_file_denied_paths: tuple[str, ...] = ()  # always refused, e.g. the webhook's TLS keys
    env_allowed: tuple[str, ...] | None = None
    recycle_after: int = 10_000
    channel_bytes: int = 16 * 1024 * 1024
    limits: Limits = field(default_factory=Limits)
    cluster_quota: ClusterQuota = field(default_factory=ClusterQuota)

    @property
    def heap_limit_bytes(self) -> int:
        return self.heap_limit_mb * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuntimeSettings:
        env = os.environ if env is None else env
        return cls(
            pool_size=env_int(env, "VM_POOL_SIZE", DEFAULT_POOL_SIZE, minimum=1),
            global_context=env.get("GLOBAL_CONTEXT", ""),
            heap_limit_mb=env_int(env, "JSPOLICY_HEAP_LIMIT_MB", 128, minimum=16),
            fetch_timeout_seconds=env_float(env, "JSPOLICY_FETCH_TIMEOUT_SECONDS", 10.0),
            fetch_allowed_hosts=_list(env, "JSPOLICY_FETCH_ALLOWED_HOSTS"),
            read_file_allowed_paths=_list(env, "JSPOLICY_READFILE_ALLOWED_PATHS"),
            env_allowed=_list(env, "JSPOLICY_ENV_ALLOWED"),
            recycle_after=env_int(env, "JSPOLICY_RECYCLE_AFTER", 10_000, minimum=0),
            cluster_quota=ClusterQuota.from_env(env),
        )


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    """An integer setting; a bad value is a SettingsError naming the variable, not a traceback."""
    value = _number(env, name, default, int, "an integer")
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number setting; a bad value is a SettingsError naming the variable."""
    value = _number(env, name, default, float, "a number")
    if not value > 0:
        raise SettingsError(f"{name}={value} must be greater than 0")
    return value


def _number(env: Mapping[str, str], name: str, default: _N, convert: Callable[[str], _N], kind: str) -> _N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return convert(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not {kind}") from None


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    if name not in env:
        return None
    return tuple(item.strip() for item in env[name].split(",") if item.strip())
