"""The host-call channel: a SharedArrayBuffer shared by Python and one isolate.

JS cannot receive a return value from the C callback, and Python cannot touch
the isolate while JS is paused inside that callback, so requests and replies
travel through shared memory instead: a 32-byte header of int32 slots, then a
UTF-16LE payload (bare V8 has no TextEncoder). Messages larger than the buffer
travel in chunks. The same buffer carries each evaluation's input and the
start/abort tokens that let the pool detect a wedged context without a hop.
"""

from __future__ import annotations

import struct

HEADER_BYTES = 32
_REQUEST_LENGTH, _STATUS, _REPLY_LENGTH, _INPUT_LENGTH = 0, 4, 8, 12
_TOKEN, _STARTED, _ABORT, _MORE = 16, 20, 24, 28

STATUS_DONE, STATUS_ERROR, STATUS_SEND_MORE, STATUS_MORE_REPLY = 0, 1, 2, 3

# The most one host call (a create() of an object, a print line) may hand to Python: more than the
# API server takes in one request (3 MiB), so no real call comes near it.
MAX_REQUEST_UNITS = 8 * 1024 * 1024

_INT = struct.Struct("<i")
_PAIR = struct.Struct("<ii")
_CODEC = "utf-16-le"
_ERRORS = "surrogatepass"


class HostChannel:
    """Python's end of the channel. Only one evaluation uses it at a time."""

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._capacity = (len(view) - HEADER_BYTES) // 2
        self._request_parts: list[str] = []
        self._pending_reply = b""
        self.pending_input = ""

    @property
    def capacity(self) -> int:
        """Payload capacity in UTF-16 code units."""
        return self._capacity

    # -- evaluation bookkeeping (caller thread, while JS is idle) ------------------------

    def begin(self, token: int, input_text: str) -> None:
        """Place the evaluation's input and token before the task is posted."""
        data = input_text.encode(_CODEC, _ERRORS)
        units = len(data) // 2
        if units <= self._capacity:
            self._view[HEADER_BYTES : HEADER_BYTES + len(data)] = data
            _INT.pack_into(self._view, _INPUT_LENGTH, units)
            self.pending_input = ""
        else:
            _INT.pack_into(self._view, _INPUT_LENGTH, -1)
            self.pending_input = input_text
        self._request_parts.clear()
        _INT.pack_into(self._view, _TOKEN, token)

    def started(self, token: int) -> bool:
        """Whether JS has begun the evaluation that carries ``token``."""
        started: int = _INT.unpack_from(self._view, _STARTED)[0]
        return started == token

    def abort(self, token: int) -> None:
        """Ask JS to skip the evaluation with ``token`` if it has not begun yet."""
        _INT.pack_into(self._view, _ABORT, token)

    # -- host calls (isolate thread, while JS waits) ---------------------------------------

    def receive(self) -> tuple[str, str] | None:
        """The complete request (op, payload), or None when a chunk was handled."""
        view = self._view
        length = _INT.unpack_from(view, _REQUEST_LENGTH)[0]
        if length == -1:
            self._send_reply_chunk()
            return None
        # Lone surrogates (possible in print() text) become U+FFFD, as in V8's UTF-8.
        if sum(map(len, self._request_parts)) + length > MAX_REQUEST_UNITS:
            # Stop collecting: JS stops sending when it sees the error (runtime.js hostText) and throws it.
            self._request_parts.clear()
            self.error(f"a host call may carry at most {MAX_REQUEST_UNITS} characters")
            return None
        chunk = bytes(view[HEADER_BYTES : HEADER_BYTES + 2 * length]).decode(_CODEC, "replace")
        if _INT.unpack_from(view, _MORE)[0]:
            self._request_parts.append(chunk)
            _PAIR.pack_into(view, _STATUS, STATUS_SEND_MORE, 0)
            return None
        if self._request_parts:
            self._request_parts.append(chunk)
            chunk = "".join(self._request_parts)
            self._request_parts.clear()
        op, _, payload = chunk.partition("\x00")
        return op, payload

    def reply(self, text: str) -> None:
        self._pending_reply = text.encode(_CODEC, _ERRORS)
        self._send_reply_chunk()

    def error(self, message: str) -> None:
        data = message.encode(_CODEC, _ERRORS)[: 2 * self._capacity]
        self._write(STATUS_ERROR, data[: len(data) - len(data) % 2])

    def _send_reply_chunk(self) -> None:
        data = self._pending_reply
        limit = 2 * self._capacity
        if len(data) <= limit:
            self._pending_reply = b""
            self._write(STATUS_DONE, data)
            return
        last_unit = data[limit - 2] | data[limit - 1] << 8
        cut = limit - 2 if 0xD800 <= last_unit <= 0xDBFF else limit  # keep surrogate pairs whole
        self._pending_reply = data[cut:]
        self._write(STATUS_MORE_REPLY, data[:cut])

    def _write(self, status: int, data: bytes) -> None:
        self._view[HEADER_BYTES : HEADER_BYTES + len(data)] = data
        _PAIR.pack_into(self._view, _STATUS, status, len(data) // 2)
