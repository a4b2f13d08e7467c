"""What the runtime executes: a policy's JavaScript, and what one run returned."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


class ProgramError(Exception):
    """A policy has no runnable code (missing or broken bundle, a build or syntax error); the webhook
    answers these with a 500, like jsPolicy."""


@dataclass(frozen=True)
class PolicyProgram:
    """A policy's source, identified by content so each context compiles it once."""

    name: str
    source: str
    digest: str

    @classmethod
    def of(cls, name: str, source: str) -> PolicyProgram:
        return cls(name, source, hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest())

    @property
    def key(self) -> str:
        return f"{self.digest[:40]}/{self.name}"


class ErrorKind:
    """Why a run produced no decision; all of them answer 500 like jsPolicy."""

    EXCEPTION = "exception"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    UNAVAILABLE = "unavailable"


@dataclass
class RawResult:
    """One run's outcome, before any admission semantics are applied."""

    deny: bool = False
    reason: str | None = None
    message: str | None = None
    code: int | None = None
    warnings: list[str] = field(default_factory=list)
    reschedule: bool = False
    patched: str | None = None  # the object passed to mutate(), as JSON text
    error: str | None = None
    error_kind: str | None = None
    ran: bool = False  # the script started (metrics observe only real runs)
    prints: list[str] = field(default_factory=list)

    @classmethod
    def failure(cls, kind: str, message: str, *, ran: bool = False) -> RawResult:
        return cls(error=message, error_kind=kind, ran=ran)

    @property
    def allowed(self) -> bool:
        return self.error is None and not self.deny
