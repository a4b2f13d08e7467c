"""Request bodies, bounded in size, in time and in what all of them together may hold.

One client could otherwise announce many large bodies and send them slowly, or not at all:
each would be held until it arrived. The API server sends a whole review at once (a few KiB,
at most twice its 3 MiB object limit), so the limits below are far from anything real.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from starlette.types import Receive, Scope

from jspolicy.runtime.settings import env_float

# The API server accepts request bodies up to 3 MiB; an UPDATE review carries the
# object and the old object, so twice that plus the envelope is the most a real
# AdmissionReview needs.
MAX_BODY_BYTES = 7 * 1024 * 1024
# What all bodies being received by one worker may hold together: nine bodies of the largest size.
MAX_BODIES_IN_FLIGHT_BYTES = 64 * 1024 * 1024
# A body must be complete this long after its headers (loopback and in-cluster networks take milliseconds).
BODY_TIMEOUT_SECONDS = 10.0
JSON = "application/json"


def body_timeout_seconds(env: Mapping[str, str] = os.environ) -> float:
    """JSPOLICY_BODY_TIMEOUT_SECONDS, or the default; a bad value is a SettingsError (checked at start-up)."""
    return env_float(env, "JSPOLICY_BODY_TIMEOUT_SECONDS", BODY_TIMEOUT_SECONDS)


class BodyRefusedError(Exception):
    """The body cannot be taken: answered with ``code`` (HTTP 408, 413, 429 or a coded 400)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DisconnectedError(Exception):
    """The client went away before its whole body arrived."""


class BodyBudget:
    """The bytes held by the bodies one worker is receiving, under a cap.

    A body reserves its declared Content-Length before the first byte is read (a chunked body
    reserves as it grows), and gives it back when its request is answered.
    """

    def __init__(self, limit: int = MAX_BODIES_IN_FLIGHT_BYTES, timeout: float = BODY_TIMEOUT_SECONDS) -> None:
        self.limit = limit
        self.timeout = timeout
        self.held = 0
        self._peak_since_trim = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self.held + size > self.limit:
                return False
            self.held += size
            self._peak_since_trim = max(self._peak_since_trim, self.held)
            return True

    def give_back(self, size: int) -> None:
        with self._lock:
            self.held -= size
            trim = self.held == 0 and self._peak_since_trim >= TRIM_AFTER_BYTES
            if trim:
                self._peak_since_trim = 0
        if trim:
            return_freed_memory()

    @asynccontextmanager
    async def body(self, scope: Scope, receive: Receive) -> AsyncIterator[bytes]:
        """The request's whole body, held under the budget until the block ends."""
        content_type = header(scope, b"content-type")
        if content_type != JSON:
            raise BodyRefusedError(400, f"contentType={content_type}, expected {JSON}")
        declared = header(scope, b"content-length")
        reserved = int(declared) if declared.isdigit() else 0
        if reserved > MAX_BODY_BYTES:
            raise BodyRefusedError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        if not self.take(reserved):
            raise BodyRefusedError(429, "too many request bytes in flight; try again")
        try:
            chunks: list[bytes] = []
            size = 0
            try:
                async with asyncio.timeout(self.timeout):
                    while True:
                        message = await receive()
                        if message["type"] == "http.disconnect":
                            raise DisconnectedError
                        chunk: bytes = message.get("body", b"")
                        size += len(chunk)
                        if size > MAX_BODY_BYTES:
                            raise BodyRefusedError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
                        if size > reserved:
                            if not self.take(size - reserved):
                                raise BodyRefusedError(429, "too many request bytes in flight; try again")
                            reserved = size
                        if chunk:
                            chunks.append(chunk)
                        if not message.get("more_body", False):
                            break
            except TimeoutError:
                raise BodyRefusedError(408, f"request body not complete within {self.timeout:g}s") from None
            if not size:
                raise BodyRefusedError(400, "request body is empty")
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            del chunks
            yield body
        finally:
            self.give_back(reserved)


def header(scope: Scope, name: bytes) -> str:
    """The first value of a header, as Starlette reads it (latin-1), or ''."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


# After bodies this large were held, the allocator's free lists are handed back to the system.
TRIM_AFTER_BYTES = 16 * 1024 * 1024
_LIBC = ctypes.util.find_library("c")


def return_freed_memory() -> None:
    """glibc keeps freed small blocks (a body arrives in many) in its heap; ``malloc_trim`` returns them,
    so memory held by bodies that are gone does not stay with the worker. A no-op without glibc."""
    try:
        trim = ctypes.CDLL(_LIBC).malloc_trim if _LIBC else None
    except (OSError, AttributeError):
        trim = None
    if trim is not None:
        trim(0)
